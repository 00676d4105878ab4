/* A real meshota node (testlib, host port) whose net_* and stream_* ports are meshota_host_net,
 * and which records every progress report it sends. */
#ifndef NET_NODE_GLUE_H
#define NET_NODE_GLUE_H

#include <poll.h>

#include "meshota_codec.h"
#include "meshota_host_net/meshota_host_http.h"
#include "meshota_host_net/meshota_host_net_node.h"
#include "meshota_opcodes.h"
#include "meshota_testlib.h"

typedef struct {
    mt_node_t *t;
    meshota_host_net_t net;
    meshota_host_http_t http;
    meshota_err_t (*inner_send)(void *ctx, meshota_bearer_t bearer, const meshota_peer_t *to,
                                const uint8_t *payload, size_t len);
    uint32_t reports;          /* UpdateStatus messages sent */
    uint32_t max_bytes_done;   /* largest bytes_done reported */
    uint32_t max_percent;      /* largest percent reported */
    int net_opens;
    int stream_opens;
    uint32_t stream_offsets[64];
} glue_t;

static glue_t g_glue;

static meshota_err_t glue_send(void *ctx, meshota_bearer_t bearer, const meshota_peer_t *to,
                               const uint8_t *payload, size_t len)
{
    if (bearer == MESHOTA_BEARER_MESH && len >= 1 && payload[0] == MESHOTA_OP_UPDATE_STATUS) {
        meshota_v1_UpdateStatus st = meshota_v1_UpdateStatus_init_zero;
        if (meshota_decode(meshota_v1_UpdateStatus_fields, &st, payload + 1, len - 1, NULL)) {
            g_glue.reports++;
            if (st.bytes_done > g_glue.max_bytes_done) {
                g_glue.max_bytes_done = st.bytes_done;
            }
            if (st.percent > g_glue.max_percent) {
                g_glue.max_percent = st.percent;
            }
        }
    }
    return g_glue.inner_send(ctx, bearer, to, payload, len);
}

static meshota_err_t glue_net_open(void *ctx, const char *host, uint16_t port,
                                   const meshota_wifi_creds_t *creds)
{
    (void)ctx;
    g_glue.net_opens++;
    return meshota_host_net_open(&g_glue.net, host, port, creds);
}

static meshota_err_t glue_net_send(void *ctx, const uint8_t *data, size_t len)
{
    (void)ctx;
    return meshota_host_net_send(&g_glue.net, data, len);
}

static void glue_net_close(void *ctx)
{
    (void)ctx;
    meshota_host_net_close(&g_glue.net);
}

static meshota_err_t glue_stream_open(void *ctx, const char *url, const uint8_t *cert,
                                      const meshota_wifi_creds_t *creds, uint32_t offset)
{
    (void)ctx;
    if (g_glue.stream_opens < 64) {
        g_glue.stream_offsets[g_glue.stream_opens] = offset;
    }
    g_glue.stream_opens++;
    return meshota_host_http_open(&g_glue.http, url, cert, creds, offset);
}

static int32_t glue_stream_read(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    return meshota_host_http_read(&g_glue.http, buf, len);
}

static void glue_stream_close(void *ctx)
{
    (void)ctx;
    meshota_host_http_close(&g_glue.http);
}

/** Install the ports on @p t (after mt_node_open) and restart the node with them. */
static inline void glue_attach(mt_node_t *t)
{
    memset(&g_glue, 0, sizeof(g_glue));
    g_glue.t = t;
    meshota_host_net_init_for_node(&g_glue.net, &t->node);
    meshota_host_http_init(&g_glue.http);
    g_glue.inner_send = t->host.port.send;
    t->host.port.send = glue_send;
    t->host.port.net_open = glue_net_open;
    t->host.port.net_send = glue_net_send;
    t->host.port.net_close = glue_net_close;
    t->host.port.stream_open = glue_stream_open;
    t->host.port.stream_read = glue_stream_read;
    t->host.port.stream_close = glue_stream_close;
    mt_node_reboot(t);
    /* The node struct was re-initialised: point the client's callbacks at it again. */
    meshota_host_net_init_for_node(&g_glue.net, &t->node);
}

/** Run the node against real sockets until it leaves RECEIVING/STARTING (bounded: each step
 *  waits at most 2 ms of real time for network activity and moves the virtual clock 10 ms). */
static inline void glue_run(mt_node_t *t, int max_steps)
{
    for (int i = 0; i < max_steps; i++) {
        meshota_v1_Phase ph = meshota_node_phase(&t->node);
        if (ph != meshota_v1_Phase_PHASE_STARTING && ph != meshota_v1_Phase_PHASE_RECEIVING) {
            break;
        }
        struct pollfd p[2];
        int n = 0;
        if (meshota_host_net_fd(&g_glue.net) >= 0) {
            p[n].fd = meshota_host_net_fd(&g_glue.net);
            p[n].events = meshota_host_net_events(&g_glue.net);
            p[n].revents = 0;
            n++;
        }
        short ev = 0;
        int hfd = meshota_host_http_fd(&g_glue.http, &ev);
        if (hfd >= 0) {
            p[n].fd = hfd;
            p[n].events = ev;
            p[n].revents = 0;
            n++;
        }
        if (n > 0) {
            (void)poll(p, (nfds_t)n, 2);
        }
        (void)meshota_host_net_poll(&g_glue.net, 0);
        mt_advance(t, 10);
    }
    mt_poll_verify(t);
}

#endif
