/* Relay (distributor) role: serve the node's verified image to targets over ESP-NOW in rounds.
 *
 * Round r starts with a broadcast TransferInfo(round r). Round 0 then carries every chunk. From
 * round 1 on, TransferInfo asks the targets for a report: each answers MissingChunks (or
 * TransferDone once it holds the image); after a report window the relay re-sends the union of
 * the missing chunks and asks again. A target silent for MESHOTA_RELAY_SILENT_ROUNDS rounds in a
 * row, or still incomplete after MESHOTA_RELAY_MAX_ROUNDS, is given up on (ERROR_CODE_TIMEOUT).
 *
 * The radio paces the relay: a send answered with MESHOTA_ERR_WOULD_BLOCK (the driver's transmit
 * queue is full) ends the poll, and the same frame is offered first at the next poll, so a
 * relay faster than the air loses nothing. Any other send failure is left to the repair rounds.
 * A queue that takes nothing for RADIO_STUCK_MS (a driver that stopped sending) ends the relay
 * with ERROR_CODE_NETWORK: a relay left RUNNING would refuse every new session with BUSY.
 */
#include <string.h>

#include "meshota_codec.h"
#include "meshota_node_priv.h"

#define ERR(x) meshota_v1_ErrorCode_ERROR_CODE_##x
#define RELAY(x) meshota_v1_RelayPhase_RELAY_PHASE_##x

enum { TARGET_PENDING = 0, TARGET_DONE = 1, TARGET_FAILED = 2 };

/* A report window (the relay sends nothing then) and as long again as a target may stay silent
 * before it is given up on. */
#define RADIO_STUCK_MS                                                                             \
    ((MESHOTA_RELAY_SILENT_ROUNDS + 1u) * (uint32_t)MESHOTA_RELAY_REPORT_WINDOW_MS)

/* RelayStatus with @p phase and @p error, counting the first @p n_targets targets. */
static void relay_status(meshota_node_t *n, uint16_t to, meshota_v1_RelayPhase phase,
                         meshota_v1_ErrorCode error, uint8_t n_targets)
{
    const meshota_relay_t *r = &n->relay;
    meshota_v1_RelayStatus st = meshota_v1_RelayStatus_init_zero;
    st.phase = phase;
    st.error = error;
    for (uint8_t i = 0; i < n_targets; i++) {
        st.targets_done += r->targets[i].state == TARGET_DONE;
        st.targets_failed += r->targets[i].state == TARGET_FAILED;
    }
    (void)mo_send_control(n, to, MESHOTA_OP_RELAY_STATUS, meshota_v1_RelayStatus_fields, &st);
}

void mo_send_relay_status(meshota_node_t *n, uint16_t to, meshota_v1_ErrorCode error)
{
    relay_status(n, to, (meshota_v1_RelayPhase)n->relay.phase, error, n->relay.n_targets);
}

/* A refused RelayStart: the relay state is left as it was. */
static void relay_refusal(meshota_node_t *n, uint16_t to, meshota_v1_ErrorCode error)
{
    relay_status(n, to, RELAY(FAILED), error, 0);
}

#if MESHOTA_WITH_RELAY

static const meshota_peer_t s_broadcast = {
    .mesh_addr = 0xFFFF, .has_mac = true, .mac = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}};

static meshota_v1_ErrorCode check_relay_start(meshota_node_t *n, const meshota_v1_RelayStart *rs)
{
    /* A MESHOTA_MAX_RELAY_TARGETS below what the schema allows bounds the list here (with the
     * default, the second test is constant false and compiled out). */
    if (rs->session_id == 0 || rs->targets_count == 0 ||
        (sizeof(rs->targets) / sizeof(rs->targets[0]) > MESHOTA_MAX_RELAY_TARGETS &&
         rs->targets_count > MESHOTA_MAX_RELAY_TARGETS)) {
        return ERR(MALFORMED);
    }
    if (rs->which_method != meshota_v1_RelayStart_espnow_tag ||
        (n->cfg.methods & MESHOTA_METHOD_BIT(meshota_v1_Method_METHOD_ESPNOW)) == 0) {
        /* TODO: serve TCP from the SoftAP once the net port has a listening socket. */
        return ERR(UNSUPPORTED_METHOD);
    }
    const meshota_session_t *s = &n->s;
    bool held = s->session_id == rs->session_id &&
                (s->phase == meshota_v1_Phase_PHASE_VERIFIED ||
                 s->phase == meshota_v1_Phase_PHASE_CONFIRMED);
    if (!held) {
        return ERR(NO_IMAGE);
    }
    const meshota_v1_EspNowMethod *e = &rs->method.espnow;
    if (e->channel < 1 || e->channel > 14 || e->payload_size == 0) {
        return ERR(MALFORMED);
    }
    if (e->payload_size > n->cfg.max_chunk_size) {
        return ERR(CHUNK_TOO_LARGE);
    }
    if ((s->image_size + e->payload_size - 1u) / e->payload_size > MESHOTA_MAX_CHUNKS) {
        return ERR(IMAGE_TOO_LARGE);
    }
    return ERR(NONE);
}

void mo_relay_start(meshota_node_t *n, uint16_t from)
{
    const meshota_v1_RelayStart *rs = &n->msg.relay_start;
    meshota_relay_t *r = &n->relay;
    if (r->phase == RELAY(RUNNING)) {
        mo_send_relay_status(n, from, rs->session_id == r->session_id ? ERR(NONE) : ERR(BUSY));
        return;
    }
    meshota_v1_ErrorCode e = check_relay_start(n, rs);
    if (e == ERR(NONE) && n->port->espnow_begin != NULL &&
        n->port->espnow_begin(n->port->ctx, (uint8_t)rs->method.espnow.channel, NULL) !=
            MESHOTA_OK) {
        e = ERR(NETWORK);
    }
    if (e != ERR(NONE)) {
        mo_log(n, MESHOTA_LOG_WARN, "relay start refused: error %d", e);
        relay_refusal(n, from, e);
        return;
    }
    memset(r, 0, sizeof(*r));
    r->phase = RELAY(RUNNING);
    r->region = n->s.phase == meshota_v1_Phase_PHASE_CONFIRMED ? MESHOTA_REGION_RUNNING
                                                                : MESHOTA_REGION_PASSIVE;
    r->session_id = rs->session_id;
    r->controller = from;
    r->image_size = n->s.image_size;
    r->chunk_size = (uint16_t)rs->method.espnow.payload_size;
    r->chunk_count = (r->image_size + r->chunk_size - 1u) / r->chunk_size;
    r->n_targets = (uint8_t)rs->targets_count;
    for (uint8_t i = 0; i < r->n_targets; i++) {
        r->targets[i].peer.mesh_addr = (uint16_t)rs->targets[i];
    }
    memset(r->want, 0xFF, (r->chunk_count + 7u) / 8u);
    r->sending = 1;
    r->info_due = 1;
    r->taken_ms = (uint32_t)n->port->now_ms(n->port->ctx);
    mo_log(n, MESHOTA_LOG_INFO, "relaying session %08x to %u targets, %u chunks",
           (unsigned)r->session_id, r->n_targets, (unsigned)r->chunk_count);
    mo_send_relay_status(n, from, ERR(NONE));
}

void mo_relay_get(meshota_node_t *n, uint16_t from)
{
    mo_send_relay_status(n, from, (meshota_v1_ErrorCode)n->relay.error);
}

/* The target @p from is: by mesh address first, then by a MAC already bound, then (an ESP-NOW
 * port that knows only MACs) the next pending target with no MAC yet. A known MAC is bound to the
 * target found. */
static meshota_relay_target_t *find_target(meshota_relay_t *r, const meshota_peer_t *from)
{
    meshota_relay_target_t *t = NULL;
    meshota_relay_target_t *by_mac = NULL;
    meshota_relay_target_t *unbound = NULL;
    for (uint8_t i = 0; i < r->n_targets && t == NULL; i++) {
        meshota_relay_target_t *c = &r->targets[i];
        if (from->mesh_addr != 0 && c->peer.mesh_addr == from->mesh_addr) {
            t = c;
        } else if (!from->has_mac) {
            continue;
        } else if (c->peer.has_mac) {
            if (by_mac == NULL && memcmp(c->peer.mac, from->mac, 6) == 0) {
                by_mac = c;
            }
        } else if (unbound == NULL && c->state == TARGET_PENDING) {
            unbound = c;
        }
    }
    if (t == NULL) {
        t = by_mac != NULL ? by_mac : unbound;
    }
    if (t != NULL && from->has_mac) {
        t->peer.has_mac = true;
        memcpy(t->peer.mac, from->mac, 6);
    }
    return t;
}

static void want_range(meshota_relay_t *r, uint32_t first, uint32_t count)
{
    if (first >= r->chunk_count) {
        return;
    }
    if (count > r->chunk_count - first) {
        count = r->chunk_count - first;
    }
    for (uint32_t i = first; i < first + count; i++) {
        mo_bit_set(r->want, i);
    }
}

void mo_relay_on_frame(meshota_node_t *n, const meshota_peer_t *from)
{
    meshota_relay_t *r = &n->relay;
    const meshota_v1_DataFrame *f = &n->msg.frame;
    if (r->phase != RELAY(RUNNING)) {
        return;
    }
    uint32_t session = f->which_body == meshota_v1_DataFrame_missing_tag
                           ? f->body.missing.session_id
                           : f->body.done.session_id;
    meshota_relay_target_t *t = session == r->session_id ? find_target(r, from) : NULL;
    if (t == NULL || t->state != TARGET_PENDING) {
        return;
    }
    t->reported = 1;
    t->silent_rounds = 0;
    if (f->which_body == meshota_v1_DataFrame_done_tag) {
        t->state = f->body.done.error == ERR(NONE) ? TARGET_DONE : TARGET_FAILED;
        mo_log(n, MESHOTA_LOG_INFO, "target 0x%04x finished: error %d", t->peer.mesh_addr,
               f->body.done.error);
        return;
    }
    const meshota_v1_MissingChunks *mc = &f->body.missing;
    for (uint32_t k = 0; k < 8u * mc->bitmap.size; k++) {
        uint32_t i = mc->base_index + k;
        if (mo_bit_get(mc->bitmap.bytes, k) && i >= mc->base_index) {
            want_range(r, i, 1);
        }
    }
    for (pb_size_t i = 0; i < mc->ranges_count; i++) {
        want_range(r, mc->ranges[i].first, mc->ranges[i].count);
    }
}

static meshota_err_t send_info(meshota_node_t *n)
{
    meshota_relay_t *r = &n->relay;
    meshota_v1_TransferInfo *ti = mo_frame_begin(n, meshota_v1_DataFrame_info_tag);
    ti->session_id = r->session_id;
    ti->image_size = r->image_size;
    ti->chunk_size = r->chunk_size;
    ti->chunk_count = r->chunk_count;
    ti->round = r->round;
    return mo_send_frame(n, MESHOTA_BEARER_ESPNOW, &s_broadcast);
}

/* MESHOTA_ERR_FLASH when the chunk cannot be read, else what the radio answered. */
static meshota_err_t send_chunk(meshota_node_t *n, uint32_t index)
{
    meshota_relay_t *r = &n->relay;
    meshota_v1_Chunk *c = mo_frame_begin(n, meshota_v1_DataFrame_chunk_tag);
    uint32_t off = index * r->chunk_size;
    uint32_t len = r->image_size - off < r->chunk_size ? r->image_size - off : r->chunk_size;
    c->session_id = r->session_id;
    c->index = index;
    c->data.size = (pb_size_t)len;
    if (n->port->flash_read(n->port->ctx, (meshota_region_t)r->region, off, c->data.bytes, len) !=
        MESHOTA_OK) {
        return MESHOTA_ERR_FLASH;
    }
    return mo_send_frame(n, MESHOTA_BEARER_ESPNOW, &s_broadcast);
}

static void finish(meshota_node_t *n, meshota_v1_ErrorCode error);

/* true when the radio's queue was full (@p e is MESHOTA_ERR_WOULD_BLOCK): the poll ends, and
 * the relay too once the queue has taken nothing for RADIO_STUCK_MS. */
static bool radio_full(meshota_node_t *n, meshota_err_t e, uint64_t now)
{
    meshota_relay_t *r = &n->relay;
    if (e != MESHOTA_ERR_WOULD_BLOCK) {
        r->taken_ms = (uint32_t)now;
        return false;
    }
    if ((uint32_t)now - r->taken_ms >= RADIO_STUCK_MS) { /* 32 bits wrap safely here */
        finish(n, ERR(NETWORK));
    }
    return true;
}

/* Sends the round's TransferInfo if it is due. false while the radio's transmit queue is full:
 * it is offered again at the next poll, and the report window starts once it is out. Any other
 * failure counts as sent (the round goes on; a target that missed it stays silent). */
static bool info_out(meshota_node_t *n, uint64_t now)
{
    meshota_relay_t *r = &n->relay;
    if (r->info_due) {
        if (radio_full(n, send_info(n), now)) {
            return false;
        }
        r->info_due = 0;
        r->window_end_ms = now + MESHOTA_RELAY_REPORT_WINDOW_MS;
    }
    return true;
}

/* The next poll sends TransferInfo(round + 1): a request for reports. */
static void ask_for_reports(meshota_node_t *n)
{
    meshota_relay_t *r = &n->relay;
    r->round++;
    for (uint8_t i = 0; i < r->n_targets; i++) {
        r->targets[i].reported = 0;
    }
    memset(r->want, 0, sizeof(r->want));
    r->info_due = 1;
}

static void finish(meshota_node_t *n, meshota_v1_ErrorCode error)
{
    meshota_relay_t *r = &n->relay;
    r->phase = error == ERR(NONE) || error == ERR(TIMEOUT) ? RELAY(DONE) : RELAY(FAILED);
    r->error = (uint8_t)error;
    mo_log(n, MESHOTA_LOG_INFO, "relay of session %08x finished after %u rounds: error %d",
           (unsigned)r->session_id, (unsigned)r->round, error);
    if (n->port->espnow_end != NULL) {
        n->port->espnow_end(n->port->ctx);
    }
    mo_send_relay_status(n, r->controller, error);
}

void mo_relay_poll(meshota_node_t *n, uint64_t now)
{
    meshota_relay_t *r = &n->relay;
    if (r->phase != RELAY(RUNNING) || !info_out(n, now)) {
        return;
    }
    if (r->sending) {
        for (int k = 0; k < MESHOTA_RELAY_CHUNKS_PER_POLL && r->cursor < r->chunk_count;) {
            uint32_t i = r->cursor;
            if (mo_bit_get(r->want, i)) {
                meshota_err_t e = send_chunk(n, i);
                if (radio_full(n, e, now)) {
                    return; /* This chunk goes first next poll. */
                }
                if (e == MESHOTA_ERR_FLASH) {
                    finish(n, ERR(FLASH));
                    return;
                }
                k++; /* Any other failure leaves the chunk to the repair round. */
            }
            r->cursor++;
        }
        if (r->cursor >= r->chunk_count) {
            r->sending = 0;
            ask_for_reports(n);
        }
        return;
    }
    if (now < r->window_end_ms) {
        return;
    }
    /* After the last round every target still pending is given up on. */
    bool last = r->round >= MESHOTA_RELAY_MAX_ROUNDS;
    uint8_t pending = 0;
    for (uint8_t i = 0; i < r->n_targets; i++) {
        meshota_relay_target_t *t = &r->targets[i];
        if (t->state != TARGET_PENDING) {
            continue;
        }
        if (!t->reported && ++t->silent_rounds >= MESHOTA_RELAY_SILENT_ROUNDS) {
            mo_log(n, MESHOTA_LOG_WARN, "target 0x%04x silent for %u rounds: given up",
                   t->peer.mesh_addr, t->silent_rounds);
            t->state = TARGET_FAILED;
            r->error = ERR(TIMEOUT);
            continue;
        }
        if (last) {
            t->state = TARGET_FAILED;
        }
        pending++;
    }
    if (pending == 0 || last) {
        finish(n, pending == 0 ? (meshota_v1_ErrorCode)r->error : ERR(TIMEOUT));
        return;
    }
    bool any = false;
    for (uint32_t i = 0; i < (r->chunk_count + 7u) / 8u && !any; i++) {
        any = r->want[i] != 0;
    }
    if (any) {
        r->sending = 1;
        r->cursor = 0;
    } else {
        ask_for_reports(n);
    }
}

#else /* MESHOTA_WITH_RELAY */

void mo_relay_start(meshota_node_t *n, uint16_t from)
{
    relay_refusal(n, from, ERR(UNSUPPORTED_METHOD));
}

void mo_relay_get(meshota_node_t *n, uint16_t from)
{
    mo_send_relay_status(n, from, ERR(NONE));
}

void mo_relay_on_frame(meshota_node_t *n, const meshota_peer_t *from)
{
    (void)n;
    (void)from;
}

void mo_relay_poll(meshota_node_t *n, uint64_t now)
{
    (void)n;
    (void)now;
}

#endif /* MESHOTA_WITH_RELAY */
