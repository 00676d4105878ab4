/* ESP-NOW: a verified node relays its image to targets in broadcast rounds over a lossy
 * medium; a silent target is given up on with a clear reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "meshota_codec.h"
#include "meshota_testlib.h"

#define PH(x) meshota_v1_Phase_PHASE_##x
#define EC(x) meshota_v1_ErrorCode_ERROR_CODE_##x
#define SESSION 0xE5E5u
#define N 4 /* node 0 relays to nodes 1..3 */

static mt_node_t *nodes[N];
static size_t cursor[N];
/* The targets' ESP-NOW, as on the device: on from espnow_begin to espnow_end, and while it is
 * off a send fails (mota_espnow_send) and nothing is heard. */
static bool espnow_on[N];
static int espnow_ends[N];
static meshota_err_t (*capture_send)(void *ctx, meshota_bearer_t bearer, const meshota_peer_t *to,
                                     const uint8_t *payload, size_t len);
static uint8_t img[32768];
static size_t img_len;
static mt_image_params_t params;
static uint32_t rng;

static meshota_peer_t peer_of(int i)
{
    meshota_peer_t p = {.mesh_addr = (uint16_t)(0x10 + i), .has_mac = true,
                        .mac = {0x02, 0, 0, 0, 0, (uint8_t)(0x10 + i)}};
    return p;
}

static int index_of(void *ctx)
{
    for (int i = 0; i < N; i++) {
        if (&nodes[i]->host == ctx) {
            return i;
        }
    }
    fail();
    return -1;
}

static meshota_err_t target_espnow_begin(void *ctx, uint8_t channel, const uint8_t *peer_mac)
{
    (void)channel;
    (void)peer_mac;
    espnow_on[index_of(ctx)] = true;
    return MESHOTA_OK;
}

static void target_espnow_end(void *ctx)
{
    int i = index_of(ctx);
    espnow_on[i] = false;
    espnow_ends[i]++;
}

static meshota_err_t target_send(void *ctx, meshota_bearer_t bearer, const meshota_peer_t *to,
                                 const uint8_t *payload, size_t len)
{
    if (bearer == MESHOTA_BEARER_ESPNOW && !espnow_on[index_of(ctx)]) {
        return MESHOTA_ERR_NET;
    }
    return capture_send(ctx, bearer, to, payload, len);
}

static int setup(void **state)
{
    (void)state;
    params = mt_image_defaults();
    img_len = mt_image_build(&params, img, sizeof(img));
    rng = 12345;
    for (int i = 0; i < N; i++) {
        nodes[i] = calloc(1, sizeof(mt_node_t));
        mt_node_open(nodes[i], 64 * 1024, (uint64_t)(i + 1));
        cursor[i] = 0;
        espnow_on[i] = false;
        espnow_ends[i] = 0;
    }
    capture_send = nodes[0]->host.port.send;
    for (int i = 1; i < N; i++) {
        nodes[i]->host.port.espnow_begin = target_espnow_begin;
        nodes[i]->host.port.espnow_end = target_espnow_end;
        nodes[i]->host.port.send = target_send;
    }
    /* The relay gets the image over the mesh method and verifies it. */
    meshota_v1_UpdateStart u;
    mt_start_for(&params, img, img_len, SESSION, 400, &u);
    mt_control(nodes[0], MESHOTA_OP_UPDATE_START, &u);
    for (uint32_t i = 0; i < (img_len + 399) / 400; i++) {
        mt_send_chunk(nodes[0], SESSION, img, img_len, 400, i);
    }
    mt_poll_verify(nodes[0]);
    assert_int_equal(meshota_node_phase(&nodes[0]->node), PH(VERIFIED));
    /* The targets are told to expect ESP-NOW from the relay. */
    meshota_peer_t relay = peer_of(0);
    for (int i = 1; i < N; i++) {
        mt_start_for(&params, img, img_len, SESSION, 200, &u);
        u.which_method = meshota_v1_UpdateStart_espnow_tag;
        u.method.espnow.channel = 6;
        u.method.espnow.payload_size = 200;
        u.method.espnow.distributor_mac.size = 6;
        memcpy(u.method.espnow.distributor_mac.bytes, relay.mac, 6);
        mt_control(nodes[i], MESHOTA_OP_UPDATE_START, &u);
        assert_int_equal(mt_last_status(nodes[i]).phase, PH(STARTING));
    }
    for (int i = 0; i < N; i++) {
        cursor[i] = nodes[i]->n_sent;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < N; i++) {
        assert_true(mt_running_intact(nodes[i]));
        mt_node_close(nodes[i]);
        free(nodes[i]);
    }
    return 0;
}

static bool lost(int loss_percent)
{
    rng = rng * 1103515245u + 12345u;
    return (int)((rng >> 16) % 100) < loss_percent;
}

/* Deliver every ESP-NOW frame sent since the last call. Node @p off hears and says nothing. */
static void route(int loss_percent, int off)
{
    for (int i = 0; i < N; i++) {
        while (cursor[i] < nodes[i]->n_sent) {
            const mt_sent_t *s = &nodes[i]->sent[cursor[i]++ % MT_SENT_MAX];
            if (s->bearer != MESHOTA_BEARER_ESPNOW || i == off) {
                continue;
            }
            meshota_peer_t from = peer_of(i);
            for (int j = 0; j < N; j++) {
                meshota_peer_t pj = peer_of(j);
                bool to_j = memcmp(s->to.mac, "\xff\xff\xff\xff\xff\xff", 6) == 0 ||
                            memcmp(s->to.mac, pj.mac, 6) == 0;
                bool hears = j == 0 || espnow_on[j];
                if (j == i || j == off || !to_j || !hears) {
                    continue;
                }
                /* The radio acknowledges unicast frames and sends them again up to 3 times
                 * (as @meshota/sim's medium); broadcast frames get one try. */
                bool unicast = memcmp(s->to.mac, "\xff\xff\xff\xff\xff\xff", 6) != 0;
                bool delivered = !lost(loss_percent);
                for (int retry = 0; unicast && !delivered && retry < 3; retry++) {
                    delivered = !lost(loss_percent);
                }
                if (!delivered) {
                    continue;
                }
                meshota_node_on_data(&nodes[j]->node, MESHOTA_BEARER_ESPNOW, &from, s->data,
                                     s->len);
            }
        }
    }
}

static void start_relay(void)
{
    meshota_v1_RelayStart rs = meshota_v1_RelayStart_init_zero;
    rs.session_id = SESSION;
    rs.targets_count = N - 1;
    for (int i = 1; i < N; i++) {
        rs.targets[i - 1] = peer_of(i).mesh_addr;
    }
    rs.which_method = meshota_v1_RelayStart_espnow_tag;
    rs.method.espnow.channel = 6;
    rs.method.espnow.payload_size = 200;
    mt_control(nodes[0], MESHOTA_OP_RELAY_START, &rs);
    cursor[0] = nodes[0]->n_sent;
}

/* The relay's radio: each 10 ms poll it takes `room` frames, then answers `busy` (the driver's
 * queue is full: WOULD_BLOCK; or a failure: NET) until the next poll. Every frame it takes is
 * recorded: chunk index, or -1 - round for a TransferInfo. */
static struct {
    meshota_err_t (*send)(void *ctx, meshota_bearer_t bearer, const meshota_peer_t *to,
                          const uint8_t *payload, size_t len);
    int per_poll; /* frames it takes each poll (run_relay refills `room`) */
    int room;
    meshota_err_t busy;
    int refused;
    int32_t taken[4096];
    size_t n_taken;
} radio;

static meshota_err_t busy_radio_send(void *ctx, meshota_bearer_t bearer, const meshota_peer_t *to,
                                     const uint8_t *payload, size_t len)
{
    if (bearer != MESHOTA_BEARER_ESPNOW) {
        return radio.send(ctx, bearer, to, payload, len);
    }
    if (radio.room == 0) {
        radio.refused++;
        return radio.busy;
    }
    radio.room--;
    meshota_v1_DataFrame f = meshota_v1_DataFrame_init_zero;
    assert_true(meshota_decode(meshota_v1_DataFrame_fields, &f, payload, len, NULL));
    assert_true(radio.n_taken < sizeof(radio.taken) / sizeof(radio.taken[0]));
    radio.taken[radio.n_taken++] = f.which_body == meshota_v1_DataFrame_chunk_tag
                                       ? (int32_t)f.body.chunk.index
                                       : -1 - (int32_t)f.body.info.round;
    return radio.send(ctx, bearer, to, payload, len);
}

static meshota_v1_RelayStatus run_relay(int loss_percent, int off)
{
    meshota_v1_RelayStatus st = meshota_v1_RelayStatus_init_zero;
    for (int step = 0; step < 20000; step++) {
        radio.room = radio.per_poll;
        for (int i = 0; i < N; i++) {
            nodes[i]->host.clock_ms += 10;
            meshota_node_poll(&nodes[i]->node);
        }
        /* The relay's final RelayStatus goes to the controller on the mesh. */
        for (size_t k = cursor[0]; k < nodes[0]->n_sent; k++) {
            const mt_sent_t *s = &nodes[0]->sent[k % MT_SENT_MAX];
            if (s->bearer == MESHOTA_BEARER_MESH && s->data[0] == MESHOTA_OP_RELAY_STATUS) {
                assert_true(meshota_decode(meshota_v1_RelayStatus_fields, &st, s->data + 1,
                                           s->len - 1, NULL));
            }
        }
        route(loss_percent, off);
        if (meshota_node_relay_phase(&nodes[0]->node) != meshota_v1_RelayPhase_RELAY_PHASE_RUNNING) {
            break;
        }
    }
    return st;
}

static void test_relay_spreads_image_over_lossy_espnow(void **state)
{
    (void)state;
    start_relay();
    meshota_v1_RelayStatus st = run_relay(25, -1);
    /* A complete target sends one TransferDone (unicast, so retried by the radio) and turns its
     * ESP-NOW off; all three reach the relay. Were all four tries of one lost, the relay would
     * give that target up as silent (TIMEOUT) though it holds the image; the controller still
     * learns the truth over the mesh. */
    assert_int_equal(st.phase, meshota_v1_RelayPhase_RELAY_PHASE_DONE);
    assert_int_equal(st.targets_done, 3);
    assert_int_equal(st.targets_failed, 0);
    assert_int_equal(st.error, EC(NONE));
    static uint8_t got[32768];
    for (int i = 1; i < N; i++) {
        mt_poll_verify(nodes[i]);
        assert_int_equal(meshota_node_phase(&nodes[i]->node), PH(VERIFIED));
        assert_int_equal(meshota_host_read_slot(&nodes[i]->host, 1, 0, got, img_len), MESHOTA_OK);
        assert_memory_equal(got, img, img_len);
    }
    /* More than one round was needed at 25 % loss. */
    assert_true(nodes[0]->node.relay.round > 1);
}

static void test_target_says_done_before_its_espnow_ends(void **state)
{
    (void)state;
    /* A complete target tells the relay so while its ESP-NOW is still on: sent after
     * espnow_end, the TransferDone would fail, and the relay would ask again for reports until
     * it gave the silent targets up. */
    for (int i = 1; i < N; i++) {
        nodes[i]->host.clock_ms += 10;
        meshota_node_poll(&nodes[i]->node);
        assert_true(espnow_on[i]);
    }
    start_relay();
    meshota_v1_RelayStatus st = run_relay(0, -1);
    assert_int_equal(st.phase, meshota_v1_RelayPhase_RELAY_PHASE_DONE);
    assert_int_equal(st.targets_done, 3);
    assert_int_equal(st.targets_failed, 0);
    assert_int_equal(st.error, EC(NONE));
    assert_int_equal(nodes[0]->node.relay.round, 1);
    for (int i = 1; i < N; i++) {
        assert_false(espnow_on[i]);
        assert_int_equal(espnow_ends[i], 1);
        mt_poll_verify(nodes[i]);
        assert_int_equal(meshota_node_phase(&nodes[i]->node), PH(VERIFIED));
    }
}

static void test_relay_gives_up_on_silent_target_with_timeout(void **state)
{
    (void)state;
    start_relay();
    meshota_v1_RelayStatus st = run_relay(10, 3);
    assert_int_equal(st.phase, meshota_v1_RelayPhase_RELAY_PHASE_DONE);
    assert_int_equal(st.targets_done, 2);
    assert_int_equal(st.targets_failed, 1);
    assert_int_equal(st.error, EC(TIMEOUT));
    assert_int_equal(nodes[0]->node.relay.targets[2].state, 2);
    for (int i = 1; i < 3; i++) {
        mt_poll_verify(nodes[i]);
        assert_int_equal(meshota_node_phase(&nodes[i]->node), PH(VERIFIED));
    }
    assert_int_equal(meshota_node_bytes_done(&nodes[3]->node), 0);
}

static void test_relay_start_while_running_is_busy_or_idempotent(void **state)
{
    (void)state;
    start_relay();
    start_relay();
    meshota_v1_RelayStatus st;
    const mt_sent_t *s = mt_last(nodes[0]);
    assert_true(meshota_decode(meshota_v1_RelayStatus_fields, &st, s->data + 1, s->len - 1, NULL));
    assert_int_equal(st.phase, meshota_v1_RelayPhase_RELAY_PHASE_RUNNING);
    assert_int_equal(st.error, EC(NONE));
    meshota_v1_RelayStart rs = meshota_v1_RelayStart_init_zero;
    rs.session_id = SESSION + 1;
    rs.targets_count = 1;
    rs.which_method = meshota_v1_RelayStart_espnow_tag;
    rs.method.espnow.channel = 6;
    rs.method.espnow.payload_size = 200;
    mt_control(nodes[0], MESHOTA_OP_RELAY_START, &rs);
    s = mt_last(nodes[0]);
    assert_true(meshota_decode(meshota_v1_RelayStatus_fields, &st, s->data + 1, s->len - 1, NULL));
    assert_int_equal(st.error, EC(BUSY));
}

/* Runs a relay whose radio takes @p per_poll frames a poll, with no loss. */
static meshota_v1_RelayStatus run_paced_relay(int per_poll, meshota_err_t busy)
{
    memset(&radio, 0, sizeof(radio));
    radio.send = nodes[0]->host.port.send;
    radio.per_poll = per_poll;
    radio.busy = busy;
    nodes[0]->host.port.send = busy_radio_send;
    start_relay();
    return run_relay(0, -1);
}

static void test_relay_full_radio_queue_delays_chunks_in_order_none_skipped(void **state)
{
    (void)state;
    /* 3 frames a poll against the relay's 8: most polls end on a full queue. */
    meshota_v1_RelayStatus st = run_paced_relay(3, MESHOTA_ERR_WOULD_BLOCK);
    assert_int_equal(st.phase, meshota_v1_RelayPhase_RELAY_PHASE_DONE);
    assert_int_equal(st.targets_done, 3);
    assert_int_equal(st.error, EC(NONE));
    /* Round 0 is TransferInfo(0) and every chunk once, in order; then the one request for
     * reports (round 1), which every target answers with TransferDone: no repair round. */
    uint32_t count = (uint32_t)((img_len + 199) / 200);
    /* Each poll but the last of round 0 takes 3 of its frames and refuses the next. */
    assert_int_equal(radio.refused, (int)(count + 1) / 3);
    assert_int_equal(radio.n_taken, count + 2);
    assert_int_equal(radio.taken[0], -1);
    for (uint32_t i = 0; i < count; i++) {
        assert_int_equal(radio.taken[1 + i], (int32_t)i);
    }
    assert_int_equal(radio.taken[count + 1], -2);
    assert_int_equal(nodes[0]->node.relay.round, 1);
    for (int i = 1; i < N; i++) {
        mt_poll_verify(nodes[i]);
        assert_int_equal(meshota_node_phase(&nodes[i]->node), PH(VERIFIED));
    }
}

static void test_relay_failed_send_leaves_chunk_to_repair_round(void **state)
{
    (void)state;
    /* A radio that fails outright (not a full queue) after 3 frames a poll: the relay goes on
     * past the failed chunks, and the repair rounds send them. */
    meshota_v1_RelayStatus st = run_paced_relay(3, MESHOTA_ERR_NET);
    assert_int_equal(st.phase, meshota_v1_RelayPhase_RELAY_PHASE_DONE);
    assert_int_equal(st.targets_done, 3);
    assert_int_equal(st.error, EC(NONE));
    assert_true(nodes[0]->node.relay.round > 1);
    /* Round 0 took chunks 0, 1 (after TransferInfo(0)), then 8, 9, 10 ...: the failed ones
     * were passed over. */
    assert_int_equal(radio.taken[0], -1);
    assert_int_equal(radio.taken[1], 0);
    assert_int_equal(radio.taken[2], 1);
    assert_int_equal(radio.taken[3], 8);
    for (int i = 1; i < N; i++) {
        mt_poll_verify(nodes[i]);
        assert_int_equal(meshota_node_phase(&nodes[i]->node), PH(VERIFIED));
    }
}

static void test_relay_whose_radio_never_takes_a_frame_ends_with_network(void **state)
{
    (void)state;
    /* The driver's queue stays full (it no longer sends): the relay cannot go on, and must not
     * stay RUNNING, which refuses every new session on the node with BUSY. */
    uint64_t started = nodes[0]->host.clock_ms;
    meshota_v1_RelayStatus st = run_paced_relay(0, MESHOTA_ERR_WOULD_BLOCK);
    assert_int_equal(meshota_node_relay_phase(&nodes[0]->node),
                     meshota_v1_RelayPhase_RELAY_PHASE_FAILED);
    assert_int_equal(st.phase, meshota_v1_RelayPhase_RELAY_PHASE_FAILED);
    assert_int_equal(st.error, EC(NETWORK));
    assert_int_equal(radio.n_taken, 0);
    /* Given up once nothing was taken for SILENT_ROUNDS + 1 report windows (6 s), not sooner. */
    uint64_t stuck = (MESHOTA_RELAY_SILENT_ROUNDS + 1u) * (uint64_t)MESHOTA_RELAY_REPORT_WINDOW_MS;
    uint64_t took = nodes[0]->host.clock_ms - started;
    assert_true(took >= stuck);
    assert_true(took <= stuck + 20);
    /* The node can relay again (a radio that works now serves every target). */
    nodes[0]->host.port.send = radio.send;
    start_relay();
    assert_int_equal(meshota_node_relay_phase(&nodes[0]->node),
                     meshota_v1_RelayPhase_RELAY_PHASE_RUNNING);
    st = run_relay(0, -1);
    assert_int_equal(st.phase, meshota_v1_RelayPhase_RELAY_PHASE_DONE);
    assert_int_equal(st.targets_done, 3);
}

static void test_relay_slow_radio_is_not_given_up(void **state)
{
    (void)state;
    /* One frame every 30 polls (300 ms): slow, but it goes on: the relay keeps sending. */
    memset(&radio, 0, sizeof(radio));
    radio.send = nodes[0]->host.port.send;
    radio.busy = MESHOTA_ERR_WOULD_BLOCK;
    nodes[0]->host.port.send = busy_radio_send;
    start_relay();
    for (int step = 0; step < 200000; step++) {
        radio.room = step % 30 == 0 ? 1 : 0;
        for (int i = 0; i < N; i++) {
            nodes[i]->host.clock_ms += 10;
            meshota_node_poll(&nodes[i]->node);
        }
        route(0, -1);
        if (meshota_node_relay_phase(&nodes[0]->node) !=
            meshota_v1_RelayPhase_RELAY_PHASE_RUNNING) {
            break;
        }
    }
    assert_int_equal(meshota_node_relay_phase(&nodes[0]->node),
                     meshota_v1_RelayPhase_RELAY_PHASE_DONE);
    assert_int_equal(nodes[0]->node.relay.error, EC(NONE));
    for (int i = 1; i < N; i++) {
        mt_poll_verify(nodes[i]);
        assert_int_equal(meshota_node_phase(&nodes[i]->node), PH(VERIFIED));
    }
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_relay_spreads_image_over_lossy_espnow),
        T(test_target_says_done_before_its_espnow_ends),
        T(test_relay_gives_up_on_silent_target_with_timeout),
        T(test_relay_start_while_running_is_busy_or_idempotent),
        T(test_relay_full_radio_queue_delays_chunks_in_order_none_skipped),
        T(test_relay_failed_send_leaves_chunk_to_repair_round),
        T(test_relay_whose_radio_never_takes_a_frame_ends_with_network),
        T(test_relay_slow_radio_is_not_given_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
