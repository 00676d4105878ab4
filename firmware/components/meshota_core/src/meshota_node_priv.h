/* Internal functions shared by the node state machine and the relay. */
#ifndef MESHOTA_NODE_PRIV_H
#define MESHOTA_NODE_PRIV_H

#include "meshota_core/meshota_node.h"

#define MESHOTA_TAG "meshota"

#define BITMAP(n) (&(n)->bmap_rec[4])

static inline int mo_bit_get(const uint8_t *bm, uint32_t i)
{
    return (bm[i >> 3] >> (i & 7u)) & 1u;
}

static inline void mo_bit_set(uint8_t *bm, uint32_t i)
{
    bm[i >> 3] = (uint8_t)(bm[i >> 3] | (1u << (i & 7u)));
}

/* Keeps a small function out of line where inlining it at every caller costs code (measured with
 * tools/size/size.sh). */
#if defined(__GNUC__) || defined(__clang__)
#define MO_NOINLINE __attribute__((noinline))
#else
#define MO_NOINLINE
#endif

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 3, 4)))
#endif
void mo_log_impl(const meshota_node_t *n, meshota_log_level_t level, const char *fmt, ...);

/* Messages above MESHOTA_LOG_LEVEL are compiled out (their strings and calls too). */
#define mo_log(n, level, ...)                           \
    do {                                                \
        if ((int)(level) <= MESHOTA_LOG_LEVEL) {        \
            mo_log_impl((n), (level), __VA_ARGS__);     \
        }                                               \
    } while (0)

/** Clear n->msg.frame, select its body @p which (a meshota_v1_DataFrame_*_tag) and return it. */
void *mo_frame_begin(meshota_node_t *n, pb_size_t which);

/** Encode n->msg.frame and send it on @p bearer to @p to (MESH: as vendor opcode 0x10). */
meshota_err_t mo_send_frame(meshota_node_t *n, meshota_bearer_t bearer, const meshota_peer_t *to);

/** Send a control message (@p fields / @p msg) with @p opcode to mesh address @p addr. */
meshota_err_t mo_send_control(meshota_node_t *n, uint16_t addr, uint8_t opcode,
                              const pb_msgdesc_t *fields, const void *msg);

/** Relay handlers (meshota_relay.c). */
void mo_relay_start(meshota_node_t *n, uint16_t from);
void mo_relay_get(meshota_node_t *n, uint16_t from);
void mo_relay_on_frame(meshota_node_t *n, const meshota_peer_t *from);
void mo_relay_poll(meshota_node_t *n, uint64_t now);
void mo_send_relay_status(meshota_node_t *n, uint16_t to, meshota_v1_ErrorCode error);

#endif /* MESHOTA_NODE_PRIV_H */
