/**
 * @file meshota_host_http.h
 * @brief HTTP/1.1 image source behind meshota_port_t.stream_open/stream_read/stream_close for
 *        the host build and the node emulator (METHOD_WIFI over real loopback TCP).
 *
 * Plain http:// only. On the device, HTTPS and the certificate pin belong to esp_https_ota and
 * esp_http_client; here an https:// URL is refused with MESHOTA_ERR_UNSUPPORTED and the pin is
 * not used (a plain connection has no certificate to check).
 *
 * Resume: a stream opened at offset N > 0 sends `Range: bytes=N-`.
 * - 206 must carry `Content-Range: bytes N-...`; any other start fails the stream.
 * - 200 (a server that ignores Range) is accepted by **skipping the first N bytes of the body**,
 *   so reads still start at byte N and the image is neither restarted nor overrun. The body must
 *   be at least N bytes long (Content-Length), else the stream fails. Skipped bytes are counted
 *   in meshota_host_http_t.skipped.
 * - Any other status (404, 416, 5xx ...) fails the stream; `Transfer-Encoding: chunked` is not
 *   supported and fails it too (MESHOTA_ERR_UNSUPPORTED).
 * A failed stream returns its negated error from every read until closed; it never restarts
 * at 0 by itself (meshota_port.h: "A source that cannot start at the requested offset fails").
 *
 * Non-blocking and heap-free: the connect, the request and the headers progress inside
 * meshota_host_http_read(), which returns -MESHOTA_ERR_WOULD_BLOCK until body bytes are there.
 * Credentials are ignored (no Wi-Fi on the host) and never logged.
 */
#ifndef MESHOTA_HOST_HTTP_H
#define MESHOTA_HOST_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meshota_core/meshota_err.h"
#include "meshota_core/meshota_port.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest response header block accepted. */
#ifndef MESHOTA_HOST_HTTP_HEADER_MAX
#define MESHOTA_HOST_HTTP_HEADER_MAX 4096
#endif

/** Stream state. */
typedef enum {
    MESHOTA_HOST_HTTP_IDLE = 0,       /**< Not opened (or closed). */
    MESHOTA_HOST_HTTP_CONNECTING = 1, /**< TCP connect in progress. */
    MESHOTA_HOST_HTTP_REQUEST = 2,    /**< Sending the request. */
    MESHOTA_HOST_HTTP_HEADERS = 3,    /**< Reading the response headers. */
    MESHOTA_HOST_HTTP_BODY = 4,       /**< Reading the body. */
    MESHOTA_HOST_HTTP_FAILED = 5,     /**< Failed; see error. */
} meshota_host_http_state_t;

/** One HTTP stream. Fields are private except the counters. */
typedef struct {
    int fd;
    uint8_t state;              /**< meshota_host_http_state_t. */
    meshota_err_t error;        /**< Why the stream failed. */
    uint16_t status;            /**< HTTP status of the response, 0 until known. */
    uint32_t offset;            /**< First image byte wanted. */
    uint32_t skip;              /**< Body bytes still to drop (200 answer to a range). */
    bool has_length;            /**< The response has a Content-Length. */
    uint64_t remaining;         /**< Body bytes still to come when has_length. */
    size_t req_len;
    size_t req_sent;
    size_t hdr_len;             /**< Bytes in hdr. */
    size_t body_at;             /**< Start of unread body bytes in hdr (after the headers). */
    uint64_t skipped;           /**< Body bytes dropped to honour the offset, all streams. */
    uint32_t opens;             /**< Streams opened. */
    char req[320];
    char hdr[MESHOTA_HOST_HTTP_HEADER_MAX];
} meshota_host_http_t;

/** Prepare @p h (idle). */
void meshota_host_http_init(meshota_host_http_t *h);

/**
 * @brief Start fetching @p url from byte @p offset (see the file comment for resume rules).
 * @param url "http://host[:port]/path", host an IPv4 address or a name (no IPv6 literal).
 * @param cert_sha256 unused on plain HTTP.
 * @return MESHOTA_OK; MESHOTA_ERR_UNSUPPORTED for https:// or another scheme;
 *         MESHOTA_ERR_INVALID_ARG for a malformed URL or one too long for the request buffer;
 *         MESHOTA_ERR_NET when the host does not resolve or the connect fails at once.
 */
meshota_err_t meshota_host_http_open(meshota_host_http_t *h, const char *url,
                                     const uint8_t *cert_sha256,
                                     const meshota_wifi_creds_t *creds,
                                     uint32_t offset) MESHOTA_MUST_CHECK;

/**
 * @brief Read up to @p len image bytes (meshota_port_t.stream_read).
 * @return > 0 bytes read; 0 at the end of the body; -MESHOTA_ERR_WOULD_BLOCK when nothing is
 *         there yet; -MESHOTA_ERR_NET for a connection failure, a bad status, a Content-Range
 *         that does not start at the offset, a body shorter than announced, or a 200 body
 *         shorter than the offset; -MESHOTA_ERR_UNSUPPORTED for a chunked body;
 *         -MESHOTA_ERR_INVALID_ARG when not opened.
 */
int32_t meshota_host_http_read(meshota_host_http_t *h, uint8_t *buf, size_t len);

/** Close the stream (any state). */
void meshota_host_http_close(meshota_host_http_t *h);

/** @return the socket to wait on (-1 when none) and, in @p events, the poll() events wanted. */
int meshota_host_http_fd(const meshota_host_http_t *h, short *events);

#ifdef __cplusplus
}
#endif

#endif /* MESHOTA_HOST_HTTP_H */
