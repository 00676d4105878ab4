/**
 * @file meshota_host_net.h
 * @brief POSIX TCP client behind meshota_port_t.net_open/net_send/net_close, for the host build
 *        and the node emulator: a node downloads over real (loopback) TCP.
 *
 * Non-blocking sockets, no threads and no heap: one meshota_host_net_t per node, driven from
 * the thread that drives the node. The platform either calls meshota_host_net_poll() for each
 * node, or waits on many nodes at once with poll() (meshota_host_net_fd() and
 * meshota_host_net_events()) and hands each result to meshota_host_net_service().
 *
 * Events reach the node through the callbacks of meshota_host_net_events_t, which
 * meshota_host_net_node.h fills with meshota_node_net_connected/net_recv/net_closed. A callback
 * may call meshota_host_net_close() (or send); delivery then stops at once.
 *
 * The host has no Wi-Fi: credentials given to open are ignored, and like every secret they are
 * never logged or copied.
 */
#ifndef MESHOTA_HOST_NET_H
#define MESHOTA_HOST_NET_H

#include <stddef.h>
#include <stdint.h>

#include "meshota_core/meshota_err.h"
#include "meshota_core/meshota_port.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Bytes read from the socket per receive call (each becomes one recv callback at most). */
#ifndef MESHOTA_HOST_NET_RX_SIZE
#define MESHOTA_HOST_NET_RX_SIZE 2048
#endif

/** Receive calls per service call, so that one busy connection cannot starve the others. */
#ifndef MESHOTA_HOST_NET_READS_PER_SERVICE
#define MESHOTA_HOST_NET_READS_PER_SERVICE 16
#endif

/** How long meshota_host_net_send() waits for room in the socket buffer before it fails. */
#ifndef MESHOTA_HOST_NET_SEND_TIMEOUT_MS
#define MESHOTA_HOST_NET_SEND_TIMEOUT_MS 5000
#endif

/** Connection state. */
typedef enum {
    MESHOTA_HOST_NET_CLOSED = 0,     /**< No socket. */
    MESHOTA_HOST_NET_CONNECTING = 1, /**< connect() in progress. */
    MESHOTA_HOST_NET_CONNECTED = 2,  /**< Established; data flows. */
} meshota_host_net_state_t;

/** Where the connection's events go (meshota_node_net_* for a node). */
typedef struct {
    /** The connection is established. */
    void (*connected)(void *arg);
    /** Bytes received, any split of the stream. */
    void (*recv)(void *arg, const uint8_t *data, size_t len);
    /** The connection ended: MESHOTA_OK for an orderly close by the peer, MESHOTA_ERR_NET for a
     *  failed connect, a reset or a receive error. Not called after meshota_host_net_close(). */
    void (*closed)(void *arg, meshota_err_t reason);
    /** Passed to every callback. */
    void *arg;
} meshota_host_net_events_t;

/** One TCP client connection. Fields are private. */
typedef struct {
    int fd;                          /**< Socket, -1 when closed. */
    uint8_t state;                   /**< meshota_host_net_state_t. */
    uint32_t generation;             /**< Bumped by open and close. */
    meshota_host_net_events_t ev;
    uint64_t bytes_in;               /**< Bytes received on all connections. */
    uint64_t bytes_out;              /**< Bytes sent on all connections. */
    uint32_t opens;                  /**< Successful meshota_host_net_open() calls. */
    uint8_t rx[MESHOTA_HOST_NET_RX_SIZE];
} meshota_host_net_t;

/** Prepare @p net (closed) with the callbacks @p ev (copied). */
void meshota_host_net_init(meshota_host_net_t *net, const meshota_host_net_events_t *ev);

/**
 * @brief Start connecting to @p host (IPv4 address or host name) : @p port. Returns at once;
 *        the outcome arrives as connected() or closed(MESHOTA_ERR_NET) from a later service
 *        call, or as closed(MESHOTA_ERR_NET) from inside this call when the connect is refused
 *        at once.
 * @return MESHOTA_OK; MESHOTA_ERR_INVALID_ARG (NULL, empty host, port 0, or already open);
 *         MESHOTA_ERR_NET when the name does not resolve or no socket can be made.
 */
meshota_err_t meshota_host_net_open(meshota_host_net_t *net, const char *host, uint16_t port,
                                    const meshota_wifi_creds_t *creds) MESHOTA_MUST_CHECK;

/**
 * @brief Send all of @p data, waiting up to MESHOTA_HOST_NET_SEND_TIMEOUT_MS for room.
 * @return MESHOTA_OK; MESHOTA_ERR_NET when not connected, on a send error or a timeout (the
 *         caller closes); MESHOTA_ERR_INVALID_ARG for NULL data with a length.
 */
meshota_err_t meshota_host_net_send(meshota_host_net_t *net, const uint8_t *data,
                                    size_t len) MESHOTA_MUST_CHECK;

/** Close the connection, if any; no closed() callback follows. */
void meshota_host_net_close(meshota_host_net_t *net);

/** @return the socket to wait on, -1 when closed. */
int meshota_host_net_fd(const meshota_host_net_t *net);

/** @return the poll() events to wait for: POLLOUT while connecting, POLLIN when connected. */
short meshota_host_net_events(const meshota_host_net_t *net);

/**
 * @brief Handle what poll() reported (@p revents) for meshota_host_net_fd(): finish a connect,
 *        read and deliver data, report the end of the connection.
 * @return the number of callbacks made.
 */
int meshota_host_net_service(meshota_host_net_t *net, short revents);

/** Wait up to @p timeout_ms (0: do not wait) for this connection and service it.
 *  @return the number of callbacks made. */
int meshota_host_net_poll(meshota_host_net_t *net, int timeout_ms);

/** @return the connection state (meshota_host_net_state_t). */
meshota_host_net_state_t meshota_host_net_state(const meshota_host_net_t *net);

#ifdef __cplusplus
}
#endif

#endif /* MESHOTA_HOST_NET_H */
