/* POSIX TCP client for meshota_port_t.net_*: non-blocking connect, reads delivered as they come. */
#define _POSIX_C_SOURCE 200809L

#include "meshota_host_net/meshota_host_net.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#ifdef MSG_NOSIGNAL
#define SEND_FLAGS MSG_NOSIGNAL
#else
#define SEND_FLAGS 0
#endif

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void meshota_host_net_init(meshota_host_net_t *net, const meshota_host_net_events_t *ev)
{
    memset(net, 0, sizeof(*net));
    net->fd = -1;
    if (ev != NULL) {
        net->ev = *ev;
    }
}

static void drop(meshota_host_net_t *net)
{
    if (net->fd >= 0) {
        close(net->fd);
    }
    net->fd = -1;
    net->state = MESHOTA_HOST_NET_CLOSED;
    net->generation++;
}

/* The connection ended on its own: close and tell the owner. */
static void ended(meshota_host_net_t *net, meshota_err_t reason)
{
    drop(net);
    if (net->ev.closed != NULL) {
        net->ev.closed(net->ev.arg, reason);
    }
}

meshota_err_t meshota_host_net_open(meshota_host_net_t *net, const char *host, uint16_t port,
                                    const meshota_wifi_creds_t *creds)
{
    (void)creds; /* No Wi-Fi on the host; the credentials are neither used nor kept. */
    if (net == NULL || host == NULL || host[0] == '\0' || port == 0 ||
        net->state != MESHOTA_HOST_NET_CLOSED) {
        return MESHOTA_ERR_INVALID_ARG;
    }
    char service[8];
    snprintf(service, sizeof(service), "%u", (unsigned)port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, service, &hints, &res) != 0 || res == NULL) {
        return MESHOTA_ERR_NET;
    }
    meshota_err_t err = MESHOTA_ERR_NET;
    int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd < 0) {
        goto out;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
#ifdef SO_NOSIGPIPE
    (void)setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#endif
    int flags = fcntl(fd, F_GETFL, 0);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        close(fd);
        goto out;
    }
    net->generation++;
    net->opens++;
    if (connect(fd, res->ai_addr, res->ai_addrlen) != 0 && errno != EINPROGRESS) {
        /* Refused at once (nothing listens on loopback): the outcome is known now, so it is
         * delivered now, from inside open, as meshota_port_t allows. */
        close(fd);
        freeaddrinfo(res);
        if (net->ev.closed != NULL) {
            net->ev.closed(net->ev.arg, MESHOTA_ERR_NET);
        }
        return MESHOTA_OK;
    }
    net->fd = fd;
    net->state = MESHOTA_HOST_NET_CONNECTING;
    err = MESHOTA_OK;
out:
    freeaddrinfo(res);
    return err;
}

meshota_err_t meshota_host_net_send(meshota_host_net_t *net, const uint8_t *data, size_t len)
{
    if (net == NULL || (data == NULL && len > 0)) {
        return MESHOTA_ERR_INVALID_ARG;
    }
    if (net->state != MESHOTA_HOST_NET_CONNECTED || net->fd < 0) {
        return MESHOTA_ERR_NET;
    }
    uint64_t deadline = mono_ms() + MESHOTA_HOST_NET_SEND_TIMEOUT_MS;
    while (len > 0) {
        ssize_t n = send(net->fd, data, len, SEND_FLAGS);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            net->bytes_out += (uint64_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            uint64_t now = mono_ms();
            if (now >= deadline) {
                return MESHOTA_ERR_NET;
            }
            struct pollfd p = {.fd = net->fd, .events = POLLOUT, .revents = 0};
            (void)poll(&p, 1, (int)(deadline - now));
            continue;
        }
        return MESHOTA_ERR_NET;
    }
    return MESHOTA_OK;
}

void meshota_host_net_close(meshota_host_net_t *net)
{
    if (net != NULL) {
        drop(net);
    }
}

int meshota_host_net_fd(const meshota_host_net_t *net)
{
    return net != NULL ? net->fd : -1;
}

short meshota_host_net_events(const meshota_host_net_t *net)
{
    if (net == NULL || net->fd < 0) {
        return 0;
    }
    return net->state == MESHOTA_HOST_NET_CONNECTING ? POLLOUT : POLLIN;
}

meshota_host_net_state_t meshota_host_net_state(const meshota_host_net_t *net)
{
    return net != NULL ? (meshota_host_net_state_t)net->state : MESHOTA_HOST_NET_CLOSED;
}

int meshota_host_net_service(meshota_host_net_t *net, short revents)
{
    if (net == NULL || net->state == MESHOTA_HOST_NET_CLOSED) {
        return 0;
    }
    if (net->state == MESHOTA_HOST_NET_CONNECTING) {
        if ((revents & (POLLOUT | POLLERR | POLLHUP)) == 0) {
            return 0;
        }
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (getsockopt(net->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
            ended(net, MESHOTA_ERR_NET);
            return 1;
        }
        net->state = MESHOTA_HOST_NET_CONNECTED;
        if (net->ev.connected != NULL) {
            net->ev.connected(net->ev.arg);
        }
        return 1;
    }
    if ((revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
        return 0;
    }
    int calls = 0;
    uint32_t gen = net->generation;
    for (int i = 0; i < MESHOTA_HOST_NET_READS_PER_SERVICE; i++) {
        ssize_t n = recv(net->fd, net->rx, sizeof(net->rx), 0);
        if (n > 0) {
            net->bytes_in += (uint64_t)n;
            calls++;
            if (net->ev.recv != NULL) {
                net->ev.recv(net->ev.arg, net->rx, (size_t)n);
            }
            if (net->generation != gen) {
                break; /* The callback closed (or reopened) the connection. */
            }
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        }
        ended(net, n == 0 ? MESHOTA_OK : MESHOTA_ERR_NET);
        calls++;
        break;
    }
    return calls;
}

int meshota_host_net_poll(meshota_host_net_t *net, int timeout_ms)
{
    if (net == NULL || net->state == MESHOTA_HOST_NET_CLOSED) {
        return 0;
    }
    struct pollfd p = {.fd = net->fd, .events = meshota_host_net_events(net), .revents = 0};
    int r = poll(&p, 1, timeout_ms);
    if (r <= 0) {
        return 0;
    }
    return meshota_host_net_service(net, p.revents);
}
