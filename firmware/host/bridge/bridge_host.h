/**
 * @file bridge_host.h
 * @brief The bridge core on a POSIX host: the UART is a pseudo-terminal, the ESP-NOW air is UDP
 * on the loopback interface.
 *
 * Air datagrams are: channel u8 | dst mac[6] | src mac[6] | payload. The host bridge sends
 * every radio frame to the peer port, and passes on received datagrams whose channel is its
 * own and whose destination is its MAC or broadcast. Radio completions are reported on the
 * next step (asynchronously, like esp_now's send callback); unicast is always reported
 * acknowledged, since UDP has no link-level ack.
 */
#ifndef BRIDGE_HOST_H
#define BRIDGE_HOST_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

#include "meshota_bridge/meshota_bridge.h"

typedef struct {
    meshota_bridge_t bridge;
    meshota_bridge_port_t port;
    int uart_fd;            /**< pty master (the dongle's end of the UART). */
    int slave_fd;           /**< pty slave, kept open so the master never sees a hang-up. */
    char slave_path[64];    /**< What the host opens as its serial port. */
    int air_fd;             /**< UDP socket bound to 127.0.0.1, ephemeral port. */
    uint16_t air_port;      /**< Its port. */
    struct sockaddr_in air_peer; /**< Where radio frames go. */
    uint8_t channel;
    unsigned pending_sent;  /**< Completions to report on the next step. */
} bridge_host_t;

/**
 * @brief Open a pty pair and a UDP socket and start the bridge core.
 * @param peer_port UDP port on 127.0.0.1 that radio frames are sent to.
 * @return 0, or -1 with errno set.
 */
int bridge_host_open(bridge_host_t *h, const meshota_bridge_config_t *cfg, uint16_t peer_port);

/** Wait up to @p timeout_ms for UART bytes or air datagrams and process them. -1 on error. */
int bridge_host_step(bridge_host_t *h, int timeout_ms);

/**
 * @brief Restart the dongle as a power cycle would, the UART staying open: the core starts
 * afresh from @p cfg (no host session, empty queue, start-up channel) and completions the radio
 * still owed are lost.
 */
void bridge_host_restart(bridge_host_t *h, const meshota_bridge_config_t *cfg);

/** Close every descriptor. */
void bridge_host_close(bridge_host_t *h);

#endif /* BRIDGE_HOST_H */
