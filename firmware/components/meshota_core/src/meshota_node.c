/* The node update state machine: checks, transfer over every method, resume, verification. */
#include <stddef.h>
#include <string.h>

#include "meshota_codec.h"
#include "meshota_core/meshota_image.h"
#include "meshota_node_priv.h"

#define SESSION_MAGIC 0x4D4F5332u /* "MOS2": bump when meshota_session_t changes. */
#define KEY_SESSION "ota.sess"
#define KEY_BITMAP "ota.bmap"

#define PHASE(x) meshota_v1_Phase_PHASE_##x
#define ERR(x) meshota_v1_ErrorCode_ERROR_CODE_##x
#define METHOD(x) meshota_v1_Method_METHOD_##x

typedef meshota_v1_ErrorCode ecode_t;

_Static_assert(sizeof(((meshota_node_t *)0)->buf) >=
                   meshota_v1_DataFrame_size + MESHOTA_STREAM_OVERHEAD,
               "node buffer cannot hold one framed DataFrame");
_Static_assert(sizeof(((meshota_node_t *)0)->buf) >= 1 + meshota_v1_InfoStatus_size,
               "node buffer cannot hold InfoStatus");
/* The SSID and password are copied and wiped as one run of bytes. */
_Static_assert(offsetof(meshota_session_t, password) ==
                       offsetof(meshota_session_t, ssid) + sizeof(((meshota_session_t *)0)->ssid) &&
                   offsetof(meshota_node_t, pend_password) ==
                       offsetof(meshota_node_t, pend_ssid) + sizeof(((meshota_node_t *)0)->pend_ssid),
               "ssid and password must be adjacent");
_Static_assert(MESHOTA_READ_BLOCK <= MESHOTA_MAX_CHUNK_SIZE, "read block exceeds the buffer");
_Static_assert(MESHOTA_APP_DESC_SIZE <= MESHOTA_MAX_CHUNK_SIZE, "app desc exceeds the buffer");

/* ------------------------------------------------------------------------------------------ */
/* Utilities                                                                                  */

void mo_log_impl(const meshota_node_t *n, meshota_log_level_t level, const char *fmt, ...)
{
    if (n->port->log == NULL) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    n->port->log(n->port->ctx, level, MESHOTA_TAG, fmt, ap);
    va_end(ap);
}

static uint64_t now_ms(const meshota_node_t *n)
{
    return n->port->now_ms(n->port->ctx);
}

/* Out of line: inlined at its seven callers it costs about 120 bytes of code. */
static MO_NOINLINE bool is_receiving(const meshota_node_t *n)
{
    return n->s.phase == PHASE(STARTING) || n->s.phase == PHASE(RECEIVING);
}

/* A session that still holds the node: another session must wait for a cancel. */
static bool is_active(const meshota_node_t *n)
{
    return n->s.session_id != 0 && n->s.phase >= PHASE(STARTING) &&
           n->s.phase <= PHASE(PENDING_CONFIRM);
}

static uint32_t image_bytes_done(const meshota_node_t *n)
{
    const meshota_session_t *s = &n->s;
    if (s->phase >= PHASE(VERIFYING) && s->phase <= PHASE(CONFIRMED)) {
        return s->image_size;
    }
    if (s->chunk_size == 0 || s->chunk_count == 0) {
        return 0;
    }
    uint64_t b = (uint64_t)n->chunks_done * s->chunk_size;
    if (mo_bit_get(BITMAP(n), s->chunk_count - 1)) {
        b -= (uint64_t)s->chunk_count * s->chunk_size - s->image_size;
    }
    return (uint32_t)b;
}

static uint32_t first_missing(const meshota_node_t *n)
{
    for (uint32_t i = 0; i < n->s.chunk_count; i++) {
        if (!mo_bit_get(BITMAP(n), i)) {
            return i;
        }
    }
    return n->s.chunk_count;
}

/* ------------------------------------------------------------------------------------------ */
/* Sending                                                                                    */

void *mo_frame_begin(meshota_node_t *n, pb_size_t which)
{
    memset(&n->msg.frame, 0, sizeof(n->msg.frame));
    n->msg.frame.which_body = which;
    return &n->msg.frame.body;
}

/* n->msg.frame := TransferDone for this node's session with @p error. */
static void frame_done(meshota_node_t *n, ecode_t error)
{
    meshota_v1_TransferDone *d = mo_frame_begin(n, meshota_v1_DataFrame_done_tag);
    d->session_id = n->s.session_id;
    d->error = error;
}

/* Encode @p msg into n->buf, after the one-byte @p opcode on the mesh, and send it. */
static meshota_err_t send_msg(meshota_node_t *n, meshota_bearer_t bearer, const meshota_peer_t *to,
                              uint8_t opcode, const pb_msgdesc_t *fields, const void *msg)
{
    size_t len = 0;
    size_t at = bearer == MESHOTA_BEARER_MESH ? 1 : 0;
    n->buf[0] = opcode;
    if (!meshota_encode(fields, msg, &n->buf[at], sizeof(n->buf) - at, &len, NULL)) {
        mo_log(n, MESHOTA_LOG_ERROR, "encode of opcode 0x%02x failed", opcode);
        return MESHOTA_ERR_NO_MEM;
    }
    return n->port->send(n->port->ctx, bearer, to, n->buf, len + at);
}

meshota_err_t mo_send_control(meshota_node_t *n, uint16_t addr, uint8_t opcode,
                              const pb_msgdesc_t *fields, const void *msg)
{
    if (addr == 0) {
        return MESHOTA_OK; /* No controller known yet: nobody to tell. */
    }
    meshota_peer_t to = {.mesh_addr = addr};
    return send_msg(n, MESHOTA_BEARER_MESH, &to, opcode, fields, msg);
}

meshota_err_t mo_send_frame(meshota_node_t *n, meshota_bearer_t bearer, const meshota_peer_t *to)
{
    return send_msg(n, bearer, to, MESHOTA_OP_DATA_FRAME, meshota_v1_DataFrame_fields,
                    &n->msg.frame);
}

/* TCP: the DataFrame in n->msg.frame, stream-framed, on the open connection. */
static meshota_err_t net_send_frame(meshota_node_t *n)
{
    size_t len = 0;
    if (!meshota_encode(meshota_v1_DataFrame_fields, &n->msg.frame, &n->buf[2],
                        sizeof(n->buf) - 2 - 4, &len, NULL)) {
        return MESHOTA_ERR_NO_MEM;
    }
    size_t total = meshota_stream_encode(&n->buf[2], len, n->buf, sizeof(n->buf));
    if (total == 0) {
        return MESHOTA_ERR_NO_MEM;
    }
    return n->port->net_send(n->port->ctx, n->buf, total);
}

static void send_status(meshota_node_t *n, uint16_t to, ecode_t error)
{
    meshota_v1_UpdateStatus st = meshota_v1_UpdateStatus_init_zero;
    st.phase = (meshota_v1_Phase)n->s.phase;
    st.error = error;
    st.bytes_done = image_bytes_done(n);
    st.percent = n->s.image_size == 0 ? 0
                                      : (uint32_t)((uint64_t)st.bytes_done * 100u / n->s.image_size);
    (void)mo_send_control(n, to, MESHOTA_OP_UPDATE_STATUS, meshota_v1_UpdateStatus_fields, &st);
}

/* Status of a refused request that did not change the node's session. */
static void send_refusal(meshota_node_t *n, uint16_t to, meshota_v1_Phase phase, ecode_t error)
{
    meshota_v1_UpdateStatus st = meshota_v1_UpdateStatus_init_zero;
    st.phase = phase;
    st.error = error;
    (void)mo_send_control(n, to, MESHOTA_OP_UPDATE_STATUS, meshota_v1_UpdateStatus_fields, &st);
}

static void notify_controller(meshota_node_t *n)
{
    send_status(n, n->s.controller, (ecode_t)n->s.error);
    n->last_progress_ms = now_ms(n);
    n->last_progress_done = n->chunks_done;
}

/* ------------------------------------------------------------------------------------------ */
/* Persistence                                                                                */

static meshota_err_t persist_session(meshota_node_t *n)
{
    n->s.magic = SESSION_MAGIC;
    return n->port->kv_set(n->port->ctx, KEY_SESSION, &n->s, sizeof(n->s));
}

static size_t bitmap_bytes(const meshota_node_t *n)
{
    return (n->s.chunk_count + 7u) / 8u;
}

/* Save the bitmap when it holds chunks the saved one lacks. Every set bit is a chunk already
 * written, so the saved bitmap can lack chunks but never claim one. */
static meshota_err_t save_bitmap(meshota_node_t *n)
{
    if (n->unsaved_chunks == 0) {
        return MESHOTA_OK;
    }
    uint32_t id = n->s.session_id;
    for (int i = 0; i < 4; i++) {
        n->bmap_rec[i] = (uint8_t)(id >> (8 * i));
    }
    meshota_err_t err = n->port->kv_set(n->port->ctx, KEY_BITMAP, n->bmap_rec, 4 + bitmap_bytes(n));
    if (err == MESHOTA_OK) {
        n->unsaved_chunks = 0;
    }
    return err;
}

static void clear_bitmap(meshota_node_t *n)
{
    memset(n->bmap_rec, 0, sizeof(n->bmap_rec));
    n->chunks_done = 0;
    n->unsaved_chunks = 0;
}

static void load_bitmap(meshota_node_t *n)
{
    size_t len = 0;
    clear_bitmap(n);
    if (n->s.chunk_count == 0 ||
        n->port->kv_get(n->port->ctx, KEY_BITMAP, n->bmap_rec, sizeof(n->bmap_rec), &len) !=
            MESHOTA_OK) {
        clear_bitmap(n);
        return;
    }
    uint32_t id = (uint32_t)n->bmap_rec[0] | ((uint32_t)n->bmap_rec[1] << 8) |
                  ((uint32_t)n->bmap_rec[2] << 16) | ((uint32_t)n->bmap_rec[3] << 24);
    if (id != n->s.session_id || len != 4 + bitmap_bytes(n)) {
        /* A bitmap left by another session or chunk geometry: it says nothing about this one. */
        clear_bitmap(n);
        return;
    }
    uint32_t end = 0;
    for (uint32_t i = 0; i < n->s.chunk_count; i++) {
        if (mo_bit_get(BITMAP(n), i)) {
            n->chunks_done++;
            end = (i + 1u) * n->s.chunk_size;
        }
    }
    /* Bits past chunk_count are never set by this code; ignore any that are. */
    /* Erase progress is not saved as it goes: the slot is erased forward from 0 before each
     * write, so every sector up to the last held chunk's was erased, and above it lie only
     * chunks the bitmap lacks, which are fetched again. (Past the image end nothing is
     * written, so rounding a short last chunk up to a whole one is harmless.) */
    n->s.erased_upto = (end + MESHOTA_SECTOR_SIZE - 1u) / MESHOTA_SECTOR_SIZE * MESHOTA_SECTOR_SIZE;
}

static void set_phase(meshota_node_t *n, meshota_v1_Phase phase)
{
    mo_log(n, MESHOTA_LOG_DEBUG, "session %08x phase %d -> %d", (unsigned)n->s.session_id,
           n->s.phase, phase);
    n->s.phase = (uint8_t)phase;
    /* Chunks first. Only a failure leaves RECEIVING with chunks unsaved (the last chunk saves
     * them), and then they are kept for the status report after a restart. */
    (void)save_bitmap(n);
    if (persist_session(n) != MESHOTA_OK) {
        mo_log(n, MESHOTA_LOG_ERROR, "persisting phase %d failed", phase);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Transport control                                                                          */

static void stop_transport(meshota_node_t *n, ecode_t why)
{
    const meshota_port_t *p = n->port;
    if (MESHOTA_WITH_TCP && n->net_state != 0) {
        if (n->net_state == 2) {
            frame_done(n, why);
            (void)net_send_frame(n);
        }
        p->net_close(p->ctx);
        n->net_state = 0;
    }
    if (n->transport_up && n->s.method == METHOD(WIFI) && p->stream_close != NULL) {
        p->stream_close(p->ctx);
    }
    if (n->transport_up && n->s.method == METHOD(ESPNOW) && p->espnow_end != NULL &&
        n->relay.phase != meshota_v1_RelayPhase_RELAY_PHASE_RUNNING) {
        p->espnow_end(p->ctx);
    }
    n->transport_up = 0;
}

/* Tell an ESP-NOW distributor that this node is finished (complete or given up). */
static void espnow_send_done(meshota_node_t *n, ecode_t error)
{
    if (n->s.method != METHOD(ESPNOW) || n->s.m.espnow.distributor_mac.size != 6) {
        return;
    }
    meshota_peer_t to = {.has_mac = true};
    memcpy(to.mac, n->s.m.espnow.distributor_mac.bytes, 6);
    frame_done(n, error);
    (void)mo_send_frame(n, MESHOTA_BEARER_ESPNOW, &to);
}

/* The transfer is over (@p error: why, ERROR_CODE_NONE when complete): tell an ESP-NOW
 * distributor, then close the side channel (after espnow_end the radio sends nothing). */
static void end_transfer(meshota_node_t *n, ecode_t error)
{
    meshota_session_t *s = &n->s;
    espnow_send_done(n, error);
    stop_transport(n, error);
    /* No side channel is opened again: its secrets leave RAM now and flash with the record that
     * every caller persists next. */
    memset(s->ssid, 0, sizeof(s->ssid) + sizeof(s->password));
    s->has_creds = 0;
    if (s->method == METHOD(TCP)) {
        memset(&s->m.tcp.token, 0, sizeof(s->m.tcp.token));
    }
}

static void fail(meshota_node_t *n, ecode_t error)
{
    mo_log(n, MESHOTA_LOG_WARN, "session %08x failed in phase %d: error %d",
           (unsigned)n->s.session_id, n->s.phase, error);
    end_transfer(n, error);
    n->s.error = (uint8_t)error;
    set_phase(n, PHASE(FAILED));
    notify_controller(n);
}

/* Verification from the start of the image; false (and the session failed) when the hash cannot
 * start. */
static bool restart_verify(meshota_node_t *n)
{
    n->verify_off = 0;
    n->verify_stage = 0;
    if (n->port->sha256_start(n->port->ctx, &n->sha) != MESHOTA_OK) {
        fail(n, ERR(INTERNAL));
        return false;
    }
    return true;
}

static void enter_verifying(meshota_node_t *n)
{
    /* Tell the sender it can stop; verification needs no more data. */
    end_transfer(n, ERR(NONE));
    if (restart_verify(n)) {
        set_phase(n, PHASE(VERIFYING));
        notify_controller(n);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Writing                                                                                    */

static ecode_t ensure_erased(meshota_node_t *n, uint32_t end)
{
    if (end <= n->s.erased_upto) {
        return ERR(NONE);
    }
    uint32_t slot = n->port->flash_size(n->port->ctx);
    uint32_t to = (end + MESHOTA_SECTOR_SIZE - 1u) / MESHOTA_SECTOR_SIZE * MESHOTA_SECTOR_SIZE;
    if (to > slot) {
        to = slot;
    }
    /* Erase forward only: every written byte lies below erased_upto, so nothing held is lost. */
    if (n->port->flash_erase(n->port->ctx, n->s.erased_upto, to - n->s.erased_upto) !=
        MESHOTA_OK) {
        return ERR(FLASH);
    }
    n->s.erased_upto = to; /* Not saved: load_bitmap derives it after a restart. */
    return ERR(NONE);
}

static ecode_t write_at(meshota_node_t *n, uint32_t off, const uint8_t *data, size_t len)
{
    ecode_t e = ensure_erased(n, off + (uint32_t)len);
    if (e != ERR(NONE)) {
        return e;
    }
    return n->port->flash_write(n->port->ctx, off, data, len) == MESHOTA_OK ? ERR(NONE)
                                                                            : ERR(FLASH);
}

/* Mark the written chunk @p index held; the bitmap is saved every MESHOTA_PERSIST_EVERY_CHUNKS
 * chunks and with the last one, before the sender is told the image is complete (an ESP-NOW
 * distributor sends nothing more to a node that said so). */
static ecode_t mark_held(meshota_node_t *n, uint32_t index)
{
    mo_bit_set(BITMAP(n), index);
    n->chunks_done++;
    n->net_failures = 0;
    if ((++n->unsaved_chunks >= MESHOTA_PERSIST_EVERY_CHUNKS ||
         n->chunks_done == n->s.chunk_count) &&
        save_bitmap(n) != MESHOTA_OK) {
        return ERR(STORAGE);
    }
    return ERR(NONE);
}

static ecode_t store_chunk(meshota_node_t *n, uint32_t session, uint32_t index,
                           const uint8_t *data, size_t len)
{
    meshota_session_t *s = &n->s;
    if (session != s->session_id || s->session_id == 0) {
        return ERR(SESSION_MISMATCH);
    }
    if (!is_receiving(n)) {
        return ERR(WRONG_STATE);
    }
    if (s->chunk_size == 0) {
        return ERR(WRONG_STATE); /* TCP: the geometry comes first, in TransferInfo. */
    }
    if (index >= s->chunk_count) {
        return ERR(CHUNK_OUT_OF_RANGE);
    }
    if (len > s->chunk_size) {
        return ERR(CHUNK_TOO_LARGE);
    }
    uint32_t off = index * s->chunk_size;
    uint32_t expect = s->image_size - off < s->chunk_size ? s->image_size - off : s->chunk_size;
    if (len != expect) {
        return ERR(MALFORMED);
    }
    n->last_rx_ms = now_ms(n);
    n->heard = 1;
    if (s->phase == PHASE(STARTING)) {
        set_phase(n, PHASE(RECEIVING));
    }
    if (mo_bit_get(BITMAP(n), index)) {
        return ERR(NONE); /* Duplicate: already written. */
    }
    ecode_t e = write_at(n, off, data, len);
    if (e == ERR(NONE)) {
        e = mark_held(n, index);
    }
    if (e != ERR(NONE)) {
        fail(n, e);
        return e;
    }
    if (n->chunks_done == s->chunk_count) {
        enter_verifying(n);
    }
    return ERR(NONE);
}

/* ------------------------------------------------------------------------------------------ */
/* Verification                                                                               */

/* The running chip lies outside [@p min, @p max]; a max of 0 or 0xFFFF sets no upper bound, as
 * the ESP-IDF bootloader reads an image header's max_chip_rev_full. */
static MO_NOINLINE bool rev_outside(const meshota_node_t *n, uint32_t min, uint32_t max)
{
    uint32_t rev = n->running.chip_revision;
    return rev < min || (max != 0 && max != 0xFFFFu && rev > max);
}

static meshota_err_t read_passive(void *arg, uint32_t offset, uint8_t *buf, size_t len)
{
    meshota_node_t *n = arg;
    return n->port->flash_read(n->port->ctx, MESHOTA_REGION_PASSIVE, offset, buf, len);
}

static void verify_step(meshota_node_t *n)
{
    const meshota_port_t *p = n->port;
    meshota_session_t *s = &n->s;
    ecode_t e = ERR(NONE);
    if (n->verify_stage == 0) {
        uint32_t stop = s->image_size - n->verify_off > MESHOTA_VERIFY_BYTES_PER_POLL
                            ? n->verify_off + MESHOTA_VERIFY_BYTES_PER_POLL
                            : s->image_size;
        while (n->verify_off < stop) {
            uint32_t k = stop - n->verify_off < MESHOTA_READ_BLOCK ? stop - n->verify_off
                                                                   : MESHOTA_READ_BLOCK;
            if (read_passive(n, n->verify_off, n->buf, k) != MESHOTA_OK) {
                e = ERR(FLASH);
                goto out;
            }
            if (p->sha256_update(p->ctx, &n->sha, n->buf, k) != MESHOTA_OK) {
                e = ERR(INTERNAL);
                goto out;
            }
            n->verify_off += k;
        }
        if (n->verify_off < s->image_size) {
            return;
        }
        uint8_t digest[32];
        if (p->sha256_finish(p->ctx, &n->sha, digest) != MESHOTA_OK) {
            e = ERR(INTERNAL);
        } else if (memcmp(digest, s->image_sha256, 32) != 0) {
            e = ERR(HASH_MISMATCH);
        } else {
            n->verify_stage = 1;
            return;
        }
        goto out;
    }
    meshota_image_info_t info;
    meshota_image_status_t st = meshota_image_check(p, &n->sha, read_passive, n, s->image_size,
                                                    n->buf, MESHOTA_READ_BLOCK, &info);
    if (st == MESHOTA_IMAGE_READ_FAILED) {
        e = ERR(FLASH);
    } else if (st != MESHOTA_IMAGE_OK) {
        mo_log(n, MESHOTA_LOG_WARN, "image refused: check %d", st);
        e = ERR(BAD_IMAGE);
    } else if (rev_outside(n, info.min_chip_rev, info.max_chip_rev)) {
        e = ERR(CHIP_REVISION); /* the bootloader would refuse to start it */
    } else if (info.chip_id != s->chip_id || info.secure_version != s->secure_version ||
               strcmp(info.version, s->version) != 0 ||
               strcmp(info.project_name, s->project_name) != 0) {
        /* The image header or app description disagrees with the signed manifest. */
        e = ERR(MANIFEST_MISMATCH);
    } else {
        set_phase(n, PHASE(VERIFIED));
        notify_controller(n);
        return;
    }
out:
    fail(n, e); /* logs the error */
}

/* ------------------------------------------------------------------------------------------ */
/* Control messages                                                                           */

/* UpdateStart's method oneof tags (10 wifi ... 13 mesh) follow the Method numbers (1 ... 4). */
_Static_assert(meshota_v1_UpdateStart_wifi_tag - 9 == METHOD(WIFI) &&
                   meshota_v1_UpdateStart_tcp_tag - 9 == METHOD(TCP) &&
                   meshota_v1_UpdateStart_espnow_tag - 9 == METHOD(ESPNOW) &&
                   meshota_v1_UpdateStart_mesh_tag - 9 == METHOD(MESH),
               "UpdateStart method tags no longer follow the Method enum");
/* The session keeps the method parameters as UpdateStart carries them. */
_Static_assert(sizeof(((meshota_session_t *)0)->m) == sizeof(((meshota_v1_UpdateStart *)0)->method),
               "meshota_session_t.m differs from UpdateStart.method");

static meshota_v1_Method method_of(pb_size_t which_method)
{
    return (meshota_v1_Method)(which_method - 9);
}

/* The session takes the credentials held for it (n->pend_*). */
static void take_credentials(meshota_node_t *n)
{
    memcpy(n->s.ssid, n->pend_ssid, sizeof(n->s.ssid) + sizeof(n->s.password));
    memset(n->pend_ssid, 0, sizeof(n->pend_ssid) + sizeof(n->pend_password));
    n->s.has_creds = 1;
}

static ecode_t check_start(meshota_node_t *n, const meshota_v1_UpdateStart *u, uint16_t *chunk)
{
    const meshota_v1_Manifest *m = &u->manifest;
    const meshota_running_t *r = &n->running;
    const meshota_port_t *p = n->port;

    if (u->session_id == 0 || !u->has_manifest || m->image_size == 0 ||
        m->image_sha256.size != 32 || u->which_method == 0) {
        return ERR(MALFORMED);
    }
    if (u->signature.size != 64) {
        return ERR(BAD_SIGNATURE);
    }
    /* The signature comes first: nothing unsigned steers the node any further. */
    uint8_t signing[124];
    uint8_t digest[32];
    meshota_manifest_signing_bytes(m, signing);
    if (p->sha256_start(p->ctx, &n->sha) != MESHOTA_OK ||
        p->sha256_update(p->ctx, &n->sha, signing, sizeof(signing)) != MESHOTA_OK ||
        p->sha256_finish(p->ctx, &n->sha, digest) != MESHOTA_OK) {
        return ERR(INTERNAL);
    }
    meshota_err_t v = p->ecdsa_p256_verify(p->ctx, n->cfg.public_key, digest, u->signature.bytes);
    if (v != MESHOTA_OK) {
        if (v != MESHOTA_ERR_BAD_SIGNATURE) {
            mo_log(n, MESHOTA_LOG_ERROR, "signature check failed: 0x%x", (unsigned)v);
        }
        return ERR(BAD_SIGNATURE);
    }
    if (m->chip_id != r->chip_id) {
        return ERR(WRONG_CHIP);
    }
    if (rev_outside(n, m->min_chip_rev, m->max_chip_rev)) {
        return ERR(CHIP_REVISION);
    }
    if (m->image_size > p->flash_size(p->ctx)) {
        return ERR(IMAGE_TOO_LARGE);
    }
    if (m->secure_version < r->secure_version) {
        return ERR(DOWNGRADE);
    }
    if (!u->allow_same_version && strcmp(m->version, r->version) == 0) {
        return ERR(SAME_VERSION);
    }
    if (!u->allow_other_project && strcmp(m->project_name, r->project_name) != 0) {
        return ERR(PROJECT_MISMATCH);
    }

    if (u->which_method < meshota_v1_UpdateStart_wifi_tag ||
        u->which_method > meshota_v1_UpdateStart_mesh_tag) {
        return ERR(MALFORMED);
    }
    meshota_v1_Method method = method_of(u->which_method);
    uint32_t size = 0;
    switch (method) {
    case METHOD(WIFI):
        size = MESHOTA_STREAM_UNIT;
        if (!MESHOTA_WITH_WIFI || p->stream_open == NULL || p->stream_read == NULL) {
            return ERR(UNSUPPORTED_METHOD);
        }
        break;
    case METHOD(TCP):
        if (!MESHOTA_WITH_TCP || p->net_open == NULL || p->net_send == NULL ||
            p->net_close == NULL) {
            return ERR(UNSUPPORTED_METHOD);
        }
        if (u->method.tcp.port == 0 || u->method.tcp.port > 0xFFFFu ||
            u->method.tcp.host[0] == '\0') {
            return ERR(MALFORMED);
        }
        break;
    case METHOD(ESPNOW):
        size = u->method.espnow.payload_size;
        if (u->method.espnow.channel < 1 || u->method.espnow.channel > 14) {
            return ERR(MALFORMED);
        }
        break;
    default:
        size = u->method.mesh.chunk_size;
        break;
    }
    if ((n->cfg.methods & MESHOTA_METHOD_BIT(method)) == 0) {
        return ERR(UNSUPPORTED_METHOD);
    }
    if (method != METHOD(TCP)) {
        if (size == 0) {
            return ERR(MALFORMED);
        }
        if (size > n->cfg.max_chunk_size) {
            return ERR(CHUNK_TOO_LARGE);
        }
        if ((m->image_size + size - 1u) / size > MESHOTA_MAX_CHUNKS) {
            return ERR(IMAGE_TOO_LARGE);
        }
    }
    *chunk = (uint16_t)size;
    return ERR(NONE);
}

static void handle_update_start(meshota_node_t *n, uint16_t from)
{
    meshota_v1_UpdateStart *u = &n->msg.start;
    meshota_session_t *s = &n->s;

    /* A running relay reads the image a new session would erase (and holds the radio). */
    if (is_active(n) || n->relay.phase == meshota_v1_RelayPhase_RELAY_PHASE_RUNNING) {
        if (u->session_id == s->session_id) {
            /* The same start again (a lost reply): answer with where the session is. */
            s->controller = from;
            send_status(n, from, ERR(NONE));
        } else {
            send_refusal(n, from, (meshota_v1_Phase)s->phase, ERR(BUSY));
        }
        return;
    }
    if (n->port->boot_state(n->port->ctx) == MESHOTA_BOOT_PENDING_VERIFY) {
        /* The running image is not confirmed: the passive slot holds the only way back. */
        send_refusal(n, from, (meshota_v1_Phase)s->phase, ERR(WRONG_STATE));
        return;
    }
    uint16_t chunk = 0;
    ecode_t e = check_start(n, u, &chunk);
    if (e != ERR(NONE)) {
        mo_log(n, MESHOTA_LOG_WARN, "update start %08x refused: error %d",
               (unsigned)u->session_id, e);
        send_refusal(n, from, PHASE(FAILED), e);
        return;
    }

    /* Discard the previous session: bitmap first, so a power cut in between can never pair an
     * old bitmap with the new session (the bitmap also carries its session id). */
    stop_transport(n, ERR(CANCELLED));
    if (n->port->kv_erase(n->port->ctx, KEY_BITMAP) != MESHOTA_OK) {
        send_refusal(n, from, PHASE(FAILED), ERR(STORAGE));
        return;
    }
    clear_bitmap(n);
    memset(s, 0, sizeof(*s));
    const meshota_v1_Manifest *m = &u->manifest;
    s->session_id = u->session_id;
    s->phase = PHASE(STARTING);
    s->controller = from;
    s->image_size = m->image_size;
    s->secure_version = m->secure_version;
    s->chip_id = m->chip_id;
    memcpy(s->image_sha256, m->image_sha256.bytes, 32);
    memcpy(s->version, m->version, sizeof(s->version));
    memcpy(s->project_name, m->project_name, sizeof(s->project_name));
    memcpy(s->prev_version, n->running.version, sizeof(s->prev_version));
    s->chunk_size = chunk;
    s->chunk_count = chunk == 0 ? 0 : (m->image_size + chunk - 1u) / chunk;
    s->method = (uint8_t)method_of(u->which_method);
    /* The active member only: the rest of the decode buffer may hold an earlier message. */
    static const uint16_t method_size[] = {
        sizeof(u->method.wifi), sizeof(u->method.tcp), sizeof(u->method.espnow),
        sizeof(u->method.mesh)};
    memcpy(&s->m, &u->method, method_size[s->method - 1]);
    if (n->pend_session == u->session_id) {
        take_credentials(n);
    }
    n->transport_up = 0;
    n->heard = 0;
    n->net_failures = 0;
    n->net_retry_at_ms = 0;
    n->last_rx_ms = now_ms(n);
    if (persist_session(n) != MESHOTA_OK) {
        memset(s, 0, sizeof(*s));
        send_refusal(n, from, PHASE(FAILED), ERR(STORAGE));
        return;
    }
    mo_log(n, MESHOTA_LOG_INFO, "session %08x accepted: %u bytes, version %s, method %d",
           (unsigned)s->session_id, (unsigned)s->image_size, s->version, s->method);
    send_status(n, from, ERR(NONE));
}

static void handle_credentials(meshota_node_t *n, uint16_t from)
{
    const meshota_v1_CredentialsSet *c = &n->msg.creds;
    size_t plen = strlen(c->password);
    if (c->session_id == 0 || c->ssid[0] == '\0' || (plen != 0 && plen < 8)) {
        send_status(n, from, ERR(MALFORMED));
        return;
    }
    n->pend_session = c->session_id;
    memcpy(n->pend_ssid, c->ssid, sizeof(n->pend_ssid));
    memcpy(n->pend_password, c->password, sizeof(n->pend_password));
    if (is_active(n) && n->s.session_id == c->session_id) {
        take_credentials(n);
        if (persist_session(n) != MESHOTA_OK) {
            send_status(n, from, ERR(STORAGE));
            return;
        }
    }
    /* The SSID is not secret but is kept out of the log with the rest. */
    mo_log(n, MESHOTA_LOG_INFO, "credentials stored for session %08x", (unsigned)c->session_id);
    send_status(n, from, ERR(NONE));
}

static void handle_cancel(meshota_node_t *n, uint16_t from, uint32_t session)
{
    meshota_session_t *s = &n->s;
    if (s->session_id == 0 || s->phase == PHASE(NONE)) {
        send_status(n, from, ERR(WRONG_STATE));
        return;
    }
    if (session != 0 && session != s->session_id) {
        send_status(n, from, ERR(SESSION_MISMATCH));
        return;
    }
    switch (s->phase) {
    case PHASE(APPLYING):
    case PHASE(CONFIRMED):
    case PHASE(ROLLED_BACK):
        send_status(n, from, ERR(WRONG_STATE));
        return;
    case PHASE(PENDING_CONFIRM):
        /* Refuse the new firmware: the bootloader returns to the previous one. */
        s->error = ERR(CANCELLED);
        set_phase(n, PHASE(ROLLED_BACK));
        send_status(n, from, ERR(NONE));
        if (n->port->boot_rollback(n->port->ctx) != MESHOTA_OK) {
            mo_log(n, MESHOTA_LOG_ERROR, "rollback request failed");
        }
        return;
    default:
        break;
    }
    end_transfer(n, ERR(CANCELLED));
    clear_bitmap(n);
    (void)n->port->kv_erase(n->port->ctx, KEY_BITMAP);
    s->error = ERR(CANCELLED);
    set_phase(n, PHASE(CANCELLED));
    send_status(n, from, ERR(CANCELLED));
}

static void handle_apply(meshota_node_t *n, uint16_t from, uint32_t session)
{
    meshota_session_t *s = &n->s;
    if (s->session_id == 0 || session != s->session_id) {
        send_status(n, from, s->session_id == 0 ? ERR(WRONG_STATE) : ERR(SESSION_MISMATCH));
        return;
    }
    if (s->phase == PHASE(APPLYING)) {
        send_status(n, from, ERR(NONE));
        return;
    }
    if (s->phase != PHASE(VERIFIED)) {
        send_status(n, from, ERR(WRONG_STATE));
        return;
    }
    s->controller = from;
    memcpy(s->prev_version, n->running.version, sizeof(s->prev_version));
    if (n->port->boot_set_next(n->port->ctx, s->image_size) != MESHOTA_OK) {
        fail(n, ERR(FLASH));
        return;
    }
    set_phase(n, PHASE(APPLYING));
    send_status(n, from, ERR(NONE));
    n->port->restart(n->port->ctx);
}

static void handle_confirm(meshota_node_t *n, uint16_t from, uint32_t session)
{
    meshota_session_t *s = &n->s;
    if (s->session_id == 0 || session != s->session_id) {
        send_status(n, from, s->session_id == 0 ? ERR(WRONG_STATE) : ERR(SESSION_MISMATCH));
        return;
    }
    if (s->phase == PHASE(CONFIRMED)) {
        send_status(n, from, ERR(NONE));
        return;
    }
    if (s->phase != PHASE(PENDING_CONFIRM)) {
        send_status(n, from, ERR(WRONG_STATE));
        return;
    }
    if (n->port->boot_confirm(n->port->ctx) != MESHOTA_OK) {
        send_status(n, from, ERR(FLASH));
        return;
    }
    set_phase(n, PHASE(CONFIRMED));
    send_status(n, from, ERR(NONE));
}

static void handle_info_get(meshota_node_t *n, uint16_t from)
{
    meshota_v1_InfoStatus *i = &n->msg.info;
    const meshota_running_t *r = &n->running;
    memset(i, 0, sizeof(*i));
    memcpy(i->project_name, r->project_name, sizeof(i->project_name));
    memcpy(i->version, r->version, sizeof(i->version));
    memcpy(i->idf_version, r->idf_version, sizeof(i->idf_version));
    i->secure_version = r->secure_version;
    i->chip_id = r->chip_id;
    i->chip_revision = r->chip_revision;
    i->ota_partition_size = n->port->flash_size(n->port->ctx);
    for (int m = METHOD(WIFI); m <= METHOD(MESH); m++) {
        if (n->cfg.methods & MESHOTA_METHOD_BIT(m)) {
            i->methods[i->methods_count++] = (meshota_v1_Method)m;
        }
    }
    i->max_chunk_size = n->cfg.max_chunk_size;
    i->wifi_mac.size = 6;
    memcpy(i->wifi_mac.bytes, n->cfg.wifi_mac, 6);
    i->phase = (meshota_v1_Phase)n->s.phase;
    i->can_relay = n->s.session_id != 0 &&
                   (n->s.phase == PHASE(VERIFIED) || n->s.phase == PHASE(CONFIRMED));
    (void)mo_send_control(n, from, MESHOTA_OP_INFO_STATUS, meshota_v1_InfoStatus_fields, i);
}

void meshota_node_on_control(meshota_node_t *n, const meshota_peer_t *from, uint8_t opcode,
                             const uint8_t *params, size_t len)
{
    if (n == NULL || from == NULL || (params == NULL && len > 0)) {
        return;
    }
    uint16_t addr = from->mesh_addr;
    if (opcode == MESHOTA_OP_DATA_FRAME) {
        meshota_node_on_data(n, MESHOTA_BEARER_MESH, from, params, len);
        return;
    }
    const meshota_vendor_msg_t *m = meshota_vendor_by_opcode(opcode);
    /* Once m != NULL the opcode is a 6-bit meshota opcode: one mask test for the three. */
    if (m == NULL || ((1ull << opcode) & ((1ull << MESHOTA_OP_INFO_STATUS) |
                                          (1ull << MESHOTA_OP_UPDATE_STATUS) |
                                          (1ull << MESHOTA_OP_RELAY_STATUS))) != 0) {
        /* Status messages are for controllers; unknown opcodes belong to other models. */
        return;
    }
    const char *why = "?"; /* meshota_decode names the reason when it fails */
    if (!meshota_decode(m->fields, &n->msg, params, len, &why)) {
        mo_log(n, MESHOTA_LOG_WARN, "malformed %s from 0x%04x: %s", m->name, addr, why);
        if (opcode == MESHOTA_OP_RELAY_START || opcode == MESHOTA_OP_RELAY_GET) {
            mo_send_relay_status(n, addr, ERR(MALFORMED));
        } else {
            send_status(n, addr, ERR(MALFORMED));
        }
        return;
    }
    switch (opcode) {
    case MESHOTA_OP_INFO_GET:
        handle_info_get(n, addr);
        break;
    case MESHOTA_OP_CREDENTIALS_SET:
        handle_credentials(n, addr);
        break;
    case MESHOTA_OP_UPDATE_START:
        handle_update_start(n, addr);
        break;
    case MESHOTA_OP_UPDATE_GET:
        send_status(n, addr, (ecode_t)n->s.error);
        break;
    case MESHOTA_OP_UPDATE_CANCEL:
        handle_cancel(n, addr, n->msg.cancel.session_id);
        break;
    case MESHOTA_OP_UPDATE_APPLY:
        handle_apply(n, addr, n->msg.apply.session_id);
        break;
    case MESHOTA_OP_UPDATE_CONFIRM:
        handle_confirm(n, addr, n->msg.confirm.session_id);
        break;
    case MESHOTA_OP_RELAY_START:
        mo_relay_start(n, addr);
        break;
    case MESHOTA_OP_RELAY_GET:
        mo_relay_get(n, addr);
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Data plane                                                                                 */

static MO_NOINLINE size_t varint_len(uint32_t v)
{
    size_t n = 1;
    while (v >= 0x80u) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Fill n->msg.frame with a MissingChunks report: a bitmap window or up to 16 ranges, whichever
 * covers more missing chunks, and the shorter encoding when both cover the same. */
static void build_missing(meshota_node_t *n)
{
    const meshota_session_t *s = &n->s;
    const uint8_t *bm = BITMAP(n);
    meshota_v1_MissingChunks *mc = mo_frame_begin(n, meshota_v1_DataFrame_missing_tag);
    mc->session_id = s->session_id;
    mc->missing_total = s->chunk_count - n->chunks_done;
    uint32_t first = first_missing(n);
    if (first >= s->chunk_count) {
        return;
    }
    /* Both encodings are built in place; the unused one is left out by a zero count or size (the
     * encoder writes neither an empty repeated field nor empty bytes). Ranges first. */
    uint32_t r_cover = 0;
    size_t r_cost = 0;
    pb_size_t runs = 0;
    const pb_size_t max_runs = sizeof(mc->ranges) / sizeof(mc->ranges[0]);
    for (uint32_t i = first; i < s->chunk_count && runs < max_runs;) {
        if (mo_bit_get(bm, i)) {
            i++;
            continue;
        }
        uint32_t start = i;
        while (i < s->chunk_count && !mo_bit_get(bm, i)) {
            i++;
        }
        mc->ranges[runs].first = start;
        mc->ranges[runs].count = i - start;
        r_cover += i - start;
        r_cost += 2 + 2 + varint_len(start) + varint_len(i - start);
        runs++;
    }
    /* Bitmap window from the first missing chunk. */
    uint32_t window = s->chunk_count - first;
    if (window > 8u * sizeof(mc->bitmap.bytes)) {
        window = 8u * sizeof(mc->bitmap.bytes);
    }
    uint32_t b_cover = 0;
    uint32_t last = 0; /* relative to first; chunk `first` itself is missing */
    for (uint32_t k = 0; k < window; k++) {
        if (!mo_bit_get(bm, first + k)) {
            mo_bit_set(mc->bitmap.bytes, k);
            b_cover++;
            last = k;
        }
    }
    size_t b_bytes = last / 8u + 1u;
    size_t b_cost = 2 + b_bytes + 1 + varint_len(first);
    if (r_cover > b_cover || (r_cover == b_cover && r_cost <= b_cost)) {
        mc->ranges_count = runs;
    } else {
        mc->base_index = first;
        mc->bitmap.size = (pb_size_t)b_bytes;
    }
}

/* TransferInfo: fix the chunk geometry. Returns the error to refuse it with. */
static ecode_t accept_info(meshota_node_t *n, const meshota_v1_TransferInfo *ti)
{
    meshota_session_t *s = &n->s;
    if (ti->session_id != s->session_id || s->session_id == 0) {
        return ERR(SESSION_MISMATCH);
    }
    if (ti->image_size != s->image_size || ti->chunk_size == 0 ||
        ti->chunk_count != (s->image_size + ti->chunk_size - 1u) / ti->chunk_size) {
        return ERR(MALFORMED);
    }
    if (ti->chunk_size > n->cfg.max_chunk_size) {
        return ERR(CHUNK_TOO_LARGE);
    }
    if (ti->chunk_count > MESHOTA_MAX_CHUNKS) {
        return ERR(IMAGE_TOO_LARGE);
    }
    n->heard = 1;
    n->last_rx_ms = now_ms(n);
    if (ti->chunk_size == s->chunk_size) {
        return ERR(NONE);
    }
    if (n->chunks_done != 0 || !is_receiving(n)) {
        /* Chunks already held were cut at another size; a new geometry would lose them. */
        return ERR(MALFORMED);
    }
    s->chunk_size = (uint16_t)ti->chunk_size;
    s->chunk_count = ti->chunk_count;
    clear_bitmap(n);
    return persist_session(n) == MESHOTA_OK ? ERR(NONE) : ERR(STORAGE);
}

/* Answer a distributor's report request (TransferInfo round > 0) on @p bearer. */
static void answer_round(meshota_node_t *n, meshota_bearer_t bearer, const meshota_peer_t *to)
{
    const meshota_session_t *s = &n->s;
    if (s->phase == PHASE(FAILED)) {
        frame_done(n, (ecode_t)s->error);
    } else if (s->chunk_count != 0 && n->chunks_done == s->chunk_count) {
        frame_done(n, ERR(NONE));
    } else {
        build_missing(n);
    }
    (void)mo_send_frame(n, bearer, to);
}

static bool from_distributor(const meshota_node_t *n, const meshota_peer_t *from)
{
    const meshota_v1_EspNowMethod *e = &n->s.m.espnow;
    if (e->distributor_mac.size != 6 || !from->has_mac) {
        return true;
    }
    return memcmp(e->distributor_mac.bytes, from->mac, 6) == 0;
}

void meshota_node_on_data(meshota_node_t *n, meshota_bearer_t bearer, const meshota_peer_t *from,
                          const uint8_t *frame, size_t len)
{
    if (n == NULL || from == NULL || (frame == NULL && len > 0)) {
        return;
    }
    const char *why = "-"; /* set by meshota_decode when it fails */
    meshota_v1_DataFrame *f = &n->msg.frame;
    meshota_v1_Method want = bearer == MESHOTA_BEARER_MESH ? METHOD(MESH) : METHOD(ESPNOW);
    ecode_t e = ERR(MALFORMED);
    if (!meshota_decode(meshota_v1_DataFrame_fields, f, frame, len, &why)) {
        /* e stays MALFORMED; why says what nanopb found. */
    } else if (f->which_body == meshota_v1_DataFrame_missing_tag ||
               f->which_body == meshota_v1_DataFrame_done_tag) {
        mo_relay_on_frame(n, from);
        return;
    } else if (n->s.session_id == 0) {
        e = ERR(WRONG_STATE);
    } else if (n->s.method != want) {
        e = ERR(UNSUPPORTED_METHOD);
    } else if (bearer == MESHOTA_BEARER_ESPNOW && !from_distributor(n, from)) {
        return; /* Another distributor's broadcast. */
    } else if (f->which_body == meshota_v1_DataFrame_info_tag) {
        uint32_t round = f->body.info.round;
        e = accept_info(n, &f->body.info);
        if (e == ERR(NONE) && round > 0) {
            answer_round(n, bearer, from);
        }
    } else if (f->which_body == meshota_v1_DataFrame_chunk_tag) {
        const meshota_v1_Chunk *c = &f->body.chunk;
        e = store_chunk(n, c->session_id, c->index, c->data.bytes, c->data.size);
    }
    if (e != ERR(NONE)) {
        mo_log(n, MESHOTA_LOG_WARN, "data frame refused on bearer %d: error %d (%s)", bearer, e,
               why);
        /* Chunks sent to a group reach every member, and members that are done or elsewhere
         * would each answer every one: one refusal per interval tells the sender enough. */
        uint64_t now = n->port->now_ms(n->port->ctx);
        if (bearer == MESHOTA_BEARER_MESH && now >= n->refusal_due_ms) {
            n->refusal_due_ms = now + MESHOTA_REFUSAL_INTERVAL_MS;
            send_status(n, from->mesh_addr, e);
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* TCP client                                                                                 */

static void net_drop(meshota_node_t *n, ecode_t why)
{
    stop_transport(n, why);
    /* A pause of unknown length: keep what came in. */
    (void)save_bitmap(n);
    n->net_failures++;
    n->net_retry_at_ms = now_ms(n) + (uint64_t)MESHOTA_NET_BACKOFF_MS * n->net_failures;
    if (n->net_failures > MESHOTA_NET_MAX_RETRIES && is_receiving(n)) {
        fail(n, ERR(NETWORK));
    }
}

#if MESHOTA_WITH_TCP
void meshota_node_net_connected(meshota_node_t *n)
{
    if (n == NULL || n->net_state != 1) {
        return;
    }
    n->net_state = 2;
    meshota_stream_reset(&n->rx);
    meshota_v1_FetchRequest *fr = mo_frame_begin(n, meshota_v1_DataFrame_fetch_tag);
    fr->session_id = n->s.session_id;
    fr->token.size = n->s.m.tcp.token.size;
    memcpy(fr->token.bytes, n->s.m.tcp.token.bytes, sizeof(fr->token.bytes));
    fr->next_index = first_missing(n);
    fr->max_chunk_size = n->cfg.max_chunk_size;
    mo_log(n, MESHOTA_LOG_INFO, "connected; fetching from chunk %u", (unsigned)fr->next_index);
    if (net_send_frame(n) != MESHOTA_OK) {
        net_drop(n, ERR(NETWORK));
    }
}

static int on_tcp_frame(void *arg, const uint8_t *frame, size_t len)
{
    meshota_node_t *n = arg;
    const char *why = "-"; /* set by meshota_decode when it fails */
    meshota_v1_DataFrame *f = &n->msg.frame;
    ecode_t e = ERR(MALFORMED);
    if (!meshota_decode(meshota_v1_DataFrame_fields, f, frame, len, &why)) {
        goto refuse;
    }
    switch (f->which_body) {
    case meshota_v1_DataFrame_info_tag:
        e = accept_info(n, &f->body.info);
        if (e == ERR(NONE) && n->s.phase == PHASE(STARTING)) {
            set_phase(n, PHASE(RECEIVING));
        }
        break;
    case meshota_v1_DataFrame_chunk_tag:
        e = store_chunk(n, f->body.chunk.session_id, f->body.chunk.index, f->body.chunk.data.bytes,
                        f->body.chunk.data.size);
        break;
    case meshota_v1_DataFrame_done_tag:
        e = f->body.done.error;
        if (e == ERR(AUTH) || e == ERR(SESSION_MISMATCH) || e == ERR(NO_IMAGE)) {
            fail(n, e); /* The server refused the transfer (fail logs the error). */
        } else {
            /* The server stopped with chunks still missing: fetch again from the first gap. */
            net_drop(n, ERR(NONE));
        }
        return 1;
    default:
        break;
    }
    if (n->net_state == 0 || !is_receiving(n)) {
        return 1; /* The session moved on (complete or failed) and closed the connection. */
    }
    if (e == ERR(NONE)) {
        return 0;
    }
refuse:
    mo_log(n, MESHOTA_LOG_WARN, "server frame refused: error %d (%s)", e, why);
    net_drop(n, e);
    return 1;
}

void meshota_node_net_recv(meshota_node_t *n, const uint8_t *data, size_t len)
{
    if (n == NULL || n->net_state != 2) {
        return;
    }
    if (meshota_stream_feed(&n->rx, data, len, on_tcp_frame, n) != MESHOTA_OK) {
        mo_log(n, MESHOTA_LOG_WARN, "bad stream frame (meshota_stream_status_t %d); closing",
               n->rx.status);
        net_drop(n, ERR(MALFORMED));
    }
}

void meshota_node_net_closed(meshota_node_t *n, meshota_err_t reason)
{
    if (n == NULL || n->net_state == 0) {
        return;
    }
    mo_log(n, MESHOTA_LOG_INFO, "connection closed (0x%x)", (unsigned)reason);
    n->net_state = 0; /* Already closed: no TransferDone, no net_close. */
    n->transport_up = 0;
    net_drop(n, ERR(NETWORK));
}

#else /* MESHOTA_WITH_TCP */

void meshota_node_net_connected(meshota_node_t *n)
{
    (void)n;
}

void meshota_node_net_recv(meshota_node_t *n, const uint8_t *data, size_t len)
{
    (void)n;
    (void)data;
    (void)len;
}

void meshota_node_net_closed(meshota_node_t *n, meshota_err_t reason)
{
    (void)n;
    (void)reason;
}

#endif /* MESHOTA_WITH_TCP */

/* ------------------------------------------------------------------------------------------ */
/* Stream source (Wi-Fi/HTTP)                                                                 */

static void stream_pump(meshota_node_t *n)
{
    meshota_session_t *s = &n->s;
    const meshota_port_t *p = n->port;
    while (is_receiving(n) && n->transport_up && n->stream_pos < s->image_size) {
        size_t want = s->image_size - n->stream_pos;
        if (want > MESHOTA_READ_BLOCK) {
            want = MESHOTA_READ_BLOCK;
        }
        int32_t got = p->stream_read(p->ctx, n->buf, want);
        if (got == -MESHOTA_ERR_WOULD_BLOCK) {
            return;
        }
        if (got <= 0) {
            mo_log(n, MESHOTA_LOG_WARN, "stream ended at %u of %u", (unsigned)n->stream_pos,
                   (unsigned)s->image_size);
            net_drop(n, ERR(NETWORK));
            return;
        }
        if ((size_t)got > want) {
            net_drop(n, ERR(MALFORMED));
            return;
        }
        n->last_rx_ms = now_ms(n); /* start_transport has moved the session to RECEIVING. */
        ecode_t e = write_at(n, n->stream_pos, n->buf, (size_t)got);
        uint32_t end = n->stream_pos + (uint32_t)got;
        /* Every unit the stream has now passed completely is held. */
        for (uint32_t u = n->stream_pos / s->chunk_size; e == ERR(NONE) && u < s->chunk_count;
             u++) {
            uint32_t u_end = (u + 1u) * s->chunk_size;
            if (u_end > s->image_size) {
                u_end = s->image_size;
            }
            if (u_end > end) {
                break;
            }
            if (!mo_bit_get(BITMAP(n), u)) {
                e = mark_held(n, u);
            }
        }
        n->stream_pos = end;
        if (e != ERR(NONE)) {
            fail(n, e);
            return;
        }
        if (n->chunks_done == s->chunk_count) {
            enter_verifying(n);
            return;
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Poll                                                                                       */

static void start_transport(meshota_node_t *n, uint64_t now)
{
    meshota_session_t *s = &n->s;
    const meshota_port_t *p = n->port;
    const meshota_wifi_creds_t creds = {s->ssid, s->password};
    const meshota_wifi_creds_t *c = s->has_creds ? &creds : NULL;
    switch (s->method) {
    case METHOD(MESH):
        n->transport_up = 1;
        break;
    case METHOD(ESPNOW):
        if (p->espnow_begin != NULL &&
            p->espnow_begin(p->ctx, (uint8_t)s->m.espnow.channel,
                            s->m.espnow.distributor_mac.size == 6
                                ? s->m.espnow.distributor_mac.bytes
                                : NULL) != MESHOTA_OK) {
            fail(n, ERR(NETWORK));
            return;
        }
        n->transport_up = 1;
        break;
    case METHOD(TCP):
        if (!MESHOTA_WITH_TCP || n->net_state != 0 || now < n->net_retry_at_ms) {
            return;
        }
        n->net_state = 1;
        n->transport_up = 1;
        if (p->net_open(p->ctx, s->m.tcp.host, (uint16_t)s->m.tcp.port, c) != MESHOTA_OK) {
            n->net_state = 0;
            n->transport_up = 0;
            net_drop(n, ERR(NETWORK));
        }
        return;
    case METHOD(WIFI): {
        if (!MESHOTA_WITH_WIFI || now < n->net_retry_at_ms) {
            return;
        }
        n->stream_pos = first_missing(n) * s->chunk_size;
        const uint8_t *pin = s->m.wifi.server_cert_sha256.size == 32
                                 ? s->m.wifi.server_cert_sha256.bytes
                                 : NULL;
        if (p->stream_open(p->ctx, s->m.wifi.url, pin, c, n->stream_pos) != MESHOTA_OK) {
            net_drop(n, ERR(NETWORK));
            return;
        }
        n->transport_up = 1;
        break;
    }
    default:
        fail(n, ERR(INTERNAL));
        return;
    }
    if (s->phase == PHASE(STARTING) && s->method != METHOD(TCP)) {
        set_phase(n, PHASE(RECEIVING));
    }
    n->last_rx_ms = now;
}

void meshota_node_poll(meshota_node_t *n)
{
    if (n == NULL || n->port == NULL) {
        return;
    }
    uint64_t now = now_ms(n);
    if (is_receiving(n)) {
        if (!n->transport_up) {
            start_transport(n, now);
        }
        if (MESHOTA_WITH_WIFI && n->transport_up && n->s.method == METHOD(WIFI)) {
            stream_pump(n);
        }
    }
    if (is_receiving(n) && now - n->last_rx_ms > MESHOTA_RECEIVE_TIMEOUT_MS) {
        if (n->s.method == METHOD(TCP) || n->s.method == METHOD(WIFI)) {
            net_drop(n, ERR(TIMEOUT));
            n->last_rx_ms = now;
        } else {
            fail(n, n->s.method == METHOD(ESPNOW) && !n->heard ? ERR(WRONG_CHANNEL)
                                                                : ERR(TIMEOUT));
        }
    }
    if (n->s.phase == PHASE(RECEIVING) && n->chunks_done != n->last_progress_done &&
        now - n->last_progress_ms >= MESHOTA_PROGRESS_INTERVAL_MS) {
        notify_controller(n);
    }
    if (n->s.phase == PHASE(VERIFYING)) {
        verify_step(n);
    }
    mo_relay_poll(n, now);
}

/* ------------------------------------------------------------------------------------------ */
/* Init and getters                                                                           */

static void resume_after_restart(meshota_node_t *n)
{
    meshota_session_t *s = &n->s;
    meshota_boot_state_t boot = n->port->boot_state(n->port->ctx);
    bool new_runs = strcmp(n->running.version, s->version) == 0;
    switch (s->phase) {
    case PHASE(STARTING):
    case PHASE(RECEIVING):
        if (s->chunk_count != 0 && n->chunks_done == s->chunk_count) {
            enter_verifying(n); /* Cut after the last chunk was persisted. */
        }
        break;
    case PHASE(VERIFYING):
        /* The hash state was in RAM: hash again from the start. */
        (void)restart_verify(n);
        break;
    case PHASE(VERIFIED):
        if (boot != MESHOTA_BOOT_PENDING_VERIFY || !new_runs) {
            break;
        }
        /* Cut after the boot switch, before the APPLYING record: the new image runs. */
        /* fall through */
    case PHASE(APPLYING):
    case PHASE(PENDING_CONFIRM):
        if (boot == MESHOTA_BOOT_PENDING_VERIFY && new_runs) {
            set_phase(n, PHASE(PENDING_CONFIRM));
        } else if (boot == MESHOTA_BOOT_NORMAL && new_runs &&
                   strcmp(s->prev_version, s->version) != 0) {
            /* The new image runs and stays: rollback disabled in the bootloader, or (from
             * PENDING_CONFIRM) a cut after the confirmation, before the CONFIRMED record. */
            set_phase(n, PHASE(CONFIRMED));
        } else {
            s->error = ERR(ROLLED_BACK);
            set_phase(n, PHASE(ROLLED_BACK));
        }
        break;
    default:
        break;
    }
}

typedef void (*any_fn_t)(void);

/* The required callbacks are the run flash_size ... random (one loop, not 19 tests) and send. */
_Static_assert(offsetof(meshota_port_t, random) - offsetof(meshota_port_t, flash_size) ==
                   18 * sizeof(any_fn_t),
               "meshota_port_t: required callbacks flash_size ... random must be contiguous");

static bool port_complete(const meshota_port_t *p)
{
    for (const char *at = (const char *)&p->flash_size; at <= (const char *)&p->random;
         at += sizeof(any_fn_t)) {
        any_fn_t f;
        memcpy(&f, at, sizeof(f));
        if (f == NULL) {
            return false;
        }
    }
    return p->send != NULL;
}

meshota_err_t meshota_node_init(meshota_node_t *n, const meshota_port_t *port,
                                const meshota_node_config_t *cfg)
{
    if (n == NULL || port == NULL || cfg == NULL || cfg->public_key == NULL ||
        cfg->public_key[0] != 0x04 || !port_complete(port)) {
        return MESHOTA_ERR_INVALID_ARG;
    }
    memset(n, 0, sizeof(*n));
    n->port = port;
    n->cfg = *cfg;
    if (n->cfg.max_chunk_size == 0 || n->cfg.max_chunk_size > MESHOTA_MAX_CHUNK_SIZE) {
        n->cfg.max_chunk_size = MESHOTA_MAX_CHUNK_SIZE;
    }
    meshota_err_t err = port->running_info(port->ctx, &n->running);
    if (err != MESHOTA_OK) {
        return err;
    }
    n->running.project_name[31] = '\0';
    n->running.version[31] = '\0';
    n->running.idf_version[31] = '\0';
    size_t len = 0;
    if (port->kv_get(port->ctx, KEY_SESSION, &n->s, sizeof(n->s), &len) != MESHOTA_OK ||
        len != sizeof(n->s) || n->s.magic != SESSION_MAGIC || n->s.phase > PHASE(CANCELLED) ||
        n->s.chunk_count > MESHOTA_MAX_CHUNKS || n->s.chunk_size > MESHOTA_MAX_CHUNK_SIZE) {
        memset(&n->s, 0, sizeof(n->s));
    }
    n->s.version[31] = '\0';
    n->s.project_name[31] = '\0';
    n->s.prev_version[31] = '\0';
    load_bitmap(n);
    n->last_rx_ms = now_ms(n);
    n->last_progress_ms = n->last_rx_ms;
    n->last_progress_done = n->chunks_done;
    if (n->s.session_id != 0) {
        mo_log(n, MESHOTA_LOG_INFO, "resuming session %08x in phase %d with %u of %u chunks",
               (unsigned)n->s.session_id, n->s.phase, (unsigned)n->chunks_done,
               (unsigned)n->s.chunk_count);
        resume_after_restart(n);
    }
    return MESHOTA_OK;
}

meshota_v1_Phase meshota_node_phase(const meshota_node_t *n)
{
    return (meshota_v1_Phase)n->s.phase;
}

meshota_v1_ErrorCode meshota_node_error(const meshota_node_t *n)
{
    return (meshota_v1_ErrorCode)n->s.error;
}

uint32_t meshota_node_bytes_done(const meshota_node_t *n)
{
    return image_bytes_done(n);
}

const meshota_running_t *meshota_node_running(const meshota_node_t *n)
{
    return &n->running;
}

meshota_v1_RelayPhase meshota_node_relay_phase(const meshota_node_t *n)
{
    return (meshota_v1_RelayPhase)n->relay.phase;
}

void meshota_manifest_signing_bytes(const meshota_v1_Manifest *m, uint8_t out[124])
{
    memset(out, 0, 124);
    memcpy(out, "MOTAMAN1", 8);
    const uint32_t words[5] = {m->image_size, m->secure_version, m->chip_id, m->min_chip_rev,
                               m->max_chip_rev};
    for (size_t i = 0; i < 20; i++) {
        out[8 + i] = (uint8_t)(words[i / 4] >> (8 * (i % 4))); /* little-endian */
    }
    memcpy(out + 28, m->image_sha256.bytes, m->image_sha256.size <= 32 ? m->image_sha256.size : 32);
    /* version at 60, project_name at 92: at most 31 bytes each, up to the NUL, zero padded. */
    const char *str[2] = {m->version, m->project_name};
    for (size_t k = 0; k < 2; k++) {
        for (size_t i = 0; i < 31 && str[k][i] != '\0'; i++) {
            out[60 + 32 * k + i] = (uint8_t)str[k][i];
        }
    }
}
