/**
 * @file meshota_host_net_node.h
 * @brief Connects a meshota_host_net_t to a meshota_node_t: its events go to
 *        meshota_node_net_connected/net_recv/net_closed.
 *
 * Header only, so meshota_host_net does not depend on the core library; the program that
 * includes it links meshota_core. A platform's port functions then forward to the client, for
 * example with `struct emu_node { meshota_node_t node; meshota_host_net_t net; ... }` as ctx:
 *
 *     static meshota_err_t emu_net_open(void *ctx, const char *host, uint16_t port,
 *                                       const meshota_wifi_creds_t *creds)
 *     {
 *         return meshota_host_net_open(&((struct emu_node *)ctx)->net, host, port, creds);
 *     }
 *
 * and likewise net_send -> meshota_host_net_send, net_close -> meshota_host_net_close,
 * stream_open/read/close -> meshota_host_http_open/read/close; the node's driving loop calls
 * meshota_host_net_poll(&emu->net, 0) (or poll() over many nodes) next to meshota_node_poll().
 */
#ifndef MESHOTA_HOST_NET_NODE_H
#define MESHOTA_HOST_NET_NODE_H

#include "meshota_core/meshota_node.h"
#include "meshota_host_net/meshota_host_net.h"

#ifdef __cplusplus
extern "C" {
#endif

static inline void meshota_host_net_node_connected_(void *arg)
{
    meshota_node_net_connected((meshota_node_t *)arg);
}

static inline void meshota_host_net_node_recv_(void *arg, const uint8_t *data, size_t len)
{
    meshota_node_net_recv((meshota_node_t *)arg, data, len);
}

static inline void meshota_host_net_node_closed_(void *arg, meshota_err_t reason)
{
    meshota_node_net_closed((meshota_node_t *)arg, reason);
}

/** Prepare @p net so that its events reach @p node. */
static inline void meshota_host_net_init_for_node(meshota_host_net_t *net, meshota_node_t *node)
{
    const meshota_host_net_events_t ev = {
        .connected = meshota_host_net_node_connected_,
        .recv = meshota_host_net_node_recv_,
        .closed = meshota_host_net_node_closed_,
        .arg = node,
    };
    meshota_host_net_init(net, &ev);
}

#ifdef __cplusplus
}
#endif

#endif /* MESHOTA_HOST_NET_NODE_H */
