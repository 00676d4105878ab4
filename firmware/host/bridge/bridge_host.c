/* The bridge core over a pty (UART) and UDP (air); see bridge_host.h. */
#define _DEFAULT_SOURCE
#include "bridge_host.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

static void uart_write(void *ctx, const uint8_t *data, size_t len)
{
    bridge_host_t *h = ctx;
    while (len > 0) {
        ssize_t n = write(h->uart_fd, data, len);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                struct pollfd p = {.fd = h->uart_fd, .events = POLLOUT};
                (void)poll(&p, 1, 100);
                continue;
            }
            return; /* The host side is gone; frames are lost as on a cut UART. */
        }
        data += n;
        len -= (size_t)n;
    }
}

static bool radio_send(void *ctx, const uint8_t mac[6], const uint8_t *data, size_t len)
{
    bridge_host_t *h = ctx;
    uint8_t dgram[13 + MESHOTA_BRIDGE_PAYLOAD_MAX];
    if (len > MESHOTA_BRIDGE_PAYLOAD_MAX) {
        return false;
    }
    dgram[0] = h->channel;
    memcpy(dgram + 1, mac, 6);
    memcpy(dgram + 7, h->bridge.cfg.mac, 6);
    memcpy(dgram + 13, data, len);
    if (sendto(h->air_fd, dgram, 13 + len, 0, (const struct sockaddr *)&h->air_peer,
               sizeof(h->air_peer)) < 0) {
        return false;
    }
    h->pending_sent++;
    return true;
}

static bool radio_set_channel(void *ctx, uint8_t channel)
{
    bridge_host_t *h = ctx;
    h->channel = channel;
    return true;
}

int bridge_host_open(bridge_host_t *h, const meshota_bridge_config_t *cfg, uint16_t peer_port)
{
    memset(h, 0, sizeof(*h));
    h->uart_fd = h->slave_fd = h->air_fd = -1;
    if (openpty(&h->uart_fd, &h->slave_fd, h->slave_path, NULL, NULL) != 0) {
        return -1;
    }
    struct termios t;
    if (tcgetattr(h->slave_fd, &t) == 0) {
        cfmakeraw(&t);
        (void)tcsetattr(h->slave_fd, TCSANOW, &t);
    }
    (void)fcntl(h->uart_fd, F_SETFL, fcntl(h->uart_fd, F_GETFL) | O_NONBLOCK);
    h->air_fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (h->air_fd < 0) {
        goto fail;
    }
    struct sockaddr_in local = {.sin_family = AF_INET};
    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(local);
    if (bind(h->air_fd, (struct sockaddr *)&local, sizeof(local)) != 0 ||
        getsockname(h->air_fd, (struct sockaddr *)&local, &sl) != 0) {
        goto fail;
    }
    h->air_port = ntohs(local.sin_port);
    h->air_peer.sin_family = AF_INET;
    h->air_peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    h->air_peer.sin_port = htons(peer_port);
    h->channel = cfg->channel;
    h->port = (meshota_bridge_port_t){.ctx = h,
                                      .uart_write = uart_write,
                                      .radio_send = radio_send,
                                      .radio_set_channel = radio_set_channel};
    if (!meshota_bridge_init(&h->bridge, &h->port, cfg)) {
        errno = EINVAL;
        goto fail;
    }
    return 0;
fail:
    bridge_host_close(h);
    return -1;
}

int bridge_host_step(bridge_host_t *h, int timeout_ms)
{
    while (h->pending_sent > 0) {
        h->pending_sent--;
        meshota_bridge_on_sent(&h->bridge, MESHOTA_BRIDGE_SENT_OK);
    }
    struct pollfd p[2] = {{.fd = h->uart_fd, .events = POLLIN}, {.fd = h->air_fd, .events = POLLIN}};
    int n = poll(p, 2, h->pending_sent > 0 ? 0 : timeout_ms);
    if (n < 0) {
        return errno == EINTR ? 0 : -1;
    }
    if (p[0].revents & POLLIN) {
        uint8_t buf[4096];
        ssize_t r = read(h->uart_fd, buf, sizeof(buf));
        if (r > 0) {
            meshota_bridge_uart_rx(&h->bridge, buf, (size_t)r);
        }
    }
    if (p[1].revents & POLLIN) {
        uint8_t dgram[13 + MESHOTA_BRIDGE_PAYLOAD_MAX + 1];
        ssize_t r = recv(h->air_fd, dgram, sizeof(dgram), 0);
        static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
        if (r > 13 && dgram[0] == h->channel &&
            (memcmp(dgram + 1, h->bridge.cfg.mac, 6) == 0 || memcmp(dgram + 1, bcast, 6) == 0)) {
            meshota_bridge_on_recv(&h->bridge, dgram + 7, -40, dgram + 13, (size_t)r - 13);
        }
    }
    return 0;
}

void bridge_host_restart(bridge_host_t *h, const meshota_bridge_config_t *cfg)
{
    h->pending_sent = 0;
    h->channel = cfg->channel;
    (void)meshota_bridge_init(&h->bridge, &h->port, cfg); /* cfg was accepted at open. */
}

void bridge_host_close(bridge_host_t *h)
{
    if (h->uart_fd >= 0) {
        close(h->uart_fd);
    }
    if (h->slave_fd >= 0) {
        close(h->slave_fd);
    }
    if (h->air_fd >= 0) {
        close(h->air_fd);
    }
    h->uart_fd = h->slave_fd = h->air_fd = -1;
}
