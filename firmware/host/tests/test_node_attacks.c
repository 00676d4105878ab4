/* Inputs and power cuts aimed at the edges of the state machine: each ends in a clear state and a
 * clear error code, and nothing unsigned or unverified is ever applied. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <psa/crypto.h>

#include "meshota_codec.h"
#include "meshota_testlib.h"

#define SESSION 0x7A7Au
#define CHUNK 512u
#define FIXTURE_SEED 23

#include "node_fixture.h"

static void receive_all(void)
{
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    expect_status(PH(STARTING), EC(NONE));
    mt_advance(t, 10);
    for (uint32_t i = 0; i < chunk_count(); i++) {
        mt_send_chunk(t, SESSION, img, img_len, CHUNK, i);
    }
    mt_poll_verify(t);
}

static meshota_err_t lost_kv_set(void *ctx, const char *key, const void *buf, size_t len)
{
    meshota_host_t *h = ctx;
    (void)key;
    (void)buf;
    (void)len;
    h->dead = true; /* power fails before the record lands */
    return MESHOTA_ERR_POWER_LOSS;
}

static void test_power_cut_between_boot_switch_and_applying_record_still_confirms(void **state)
{
    (void)state;
    receive_all();
    assert_int_equal(meshota_node_phase(&t->node), PH(VERIFIED));
    /* The boot switch is written; power fails before the APPLYING record is. */
    meshota_err_t (*kv_set)(void *, const char *, const void *, size_t) = t->host.port.kv_set;
    t->host.port.kv_set = lost_kv_set;
    meshota_v1_UpdateApply a = {.session_id = SESSION};
    mt_control(t, MESHOTA_OP_UPDATE_APPLY, &a);
    t->host.port.kv_set = kv_set;
    assert_int_equal(t->host.boot.next, 1);
    mt_node_reboot(t);
    /* The new image runs unconfirmed: the node must say so, not VERIFIED. */
    assert_string_equal(meshota_node_running(&t->node)->version, "1.1.0");
    assert_int_equal(meshota_node_phase(&t->node), PH(PENDING_CONFIRM));
    meshota_v1_UpdateConfirm c = {.session_id = SESSION};
    mt_control(t, MESHOTA_OP_UPDATE_CONFIRM, &c);
    expect_status(PH(CONFIRMED), EC(NONE));
    assert_int_equal(t->host.boot.state, MESHOTA_BOOT_NORMAL);
    assert_int_equal(t->host.boot.running, 1);
}

static void test_power_cut_between_boot_confirm_and_confirmed_record_stays_confirmed(void **state)
{
    (void)state;
    receive_all();
    meshota_v1_UpdateApply a = {.session_id = SESSION};
    mt_control(t, MESHOTA_OP_UPDATE_APPLY, &a);
    mt_node_reboot(t);
    assert_int_equal(meshota_node_phase(&t->node), PH(PENDING_CONFIRM));
    /* The bootloader records the confirmation; power fails before the CONFIRMED record lands. */
    meshota_err_t (*kv_set)(void *, const char *, const void *, size_t) = t->host.port.kv_set;
    t->host.port.kv_set = lost_kv_set;
    meshota_v1_UpdateConfirm c = {.session_id = SESSION};
    mt_control(t, MESHOTA_OP_UPDATE_CONFIRM, &c);
    t->host.port.kv_set = kv_set;
    assert_int_equal(t->host.boot.state, MESHOTA_BOOT_NORMAL);
    mt_node_reboot(t);
    /* The new image runs, confirmed: that is CONFIRMED, not a rollback. */
    assert_string_equal(meshota_node_running(&t->node)->version, "1.1.0");
    assert_int_equal(meshota_node_phase(&t->node), PH(CONFIRMED));
    assert_int_equal(meshota_node_error(&t->node), EC(NONE));
    mt_control(t, MESHOTA_OP_UPDATE_CONFIRM, &c);
    expect_status(PH(CONFIRMED), EC(NONE));
}

static void test_power_cut_at_boot_switch_keeps_verified_image(void **state)
{
    (void)state;
    receive_all();
    meshota_host_cut_after(&t->host, 0); /* the boot switch itself fails */
    meshota_v1_UpdateApply a = {.session_id = SESSION};
    mt_control(t, MESHOTA_OP_UPDATE_APPLY, &a);
    mt_node_reboot(t);
    assert_string_equal(meshota_node_running(&t->node)->version, "1.0.0");
    assert_int_equal(meshota_node_phase(&t->node), PH(VERIFIED));
    assert_true(mt_running_intact(t));
    mt_control(t, MESHOTA_OP_UPDATE_APPLY, &a);
    expect_status(PH(APPLYING), EC(NONE));
    mt_node_reboot(t);
    assert_int_equal(meshota_node_phase(&t->node), PH(PENDING_CONFIRM));
}

/* Signed manifest says the chip fits; the image header says the bootloader will refuse it. */
static void check_header_revisions(uint32_t min, uint32_t max, meshota_v1_ErrorCode want)
{
    params.min_rev = min;
    params.max_rev = max;
    img_len = mt_image_build(&params, img, sizeof(img));
    mt_start_for(&params, img, img_len, SESSION, CHUNK, &start);
    start.manifest.min_chip_rev = 0;
    start.manifest.max_chip_rev = 0xFFFF;
    assert_true(mt_sign_manifest(&start.manifest, start.signature.bytes));
    receive_all();
    assert_int_equal(meshota_node_error(&t->node), want);
    expect_status(want == EC(NONE) ? PH(VERIFIED) : PH(FAILED), want);
    meshota_v1_UpdateCancel c = {.session_id = SESSION};
    mt_control(t, MESHOTA_OP_UPDATE_CANCEL, &c);
    assert_int_equal(t->host.boot.next, 0xFF);
    assert_true(mt_running_intact(t));
}

static void test_image_header_revision_range_outside_the_chip_gets_chip_revision(void **state)
{
    (void)state;
    assert_int_equal(meshota_node_running(&t->node)->chip_revision, 3);
    check_header_revisions(4, 399, EC(CHIP_REVISION));
    check_header_revisions(0, 2, EC(CHIP_REVISION));
    /* 0 and 0xFFFF set no upper bound; the exact bounds are inside. */
    check_header_revisions(3, 0xFFFF, EC(NONE));
    check_header_revisions(0, 0, EC(NONE));
    check_header_revisions(3, 3, EC(NONE));
}

static void test_new_session_while_relaying_is_busy(void **state)
{
    (void)state;
    receive_all();
    meshota_v1_RelayStart rs = meshota_v1_RelayStart_init_zero;
    rs.session_id = SESSION;
    rs.targets_count = 1;
    rs.targets[0] = 0x0042;
    rs.which_method = meshota_v1_RelayStart_espnow_tag;
    rs.method.espnow.channel = 6;
    rs.method.espnow.payload_size = 200;
    mt_control(t, MESHOTA_OP_RELAY_START, &rs);
    assert_int_equal(meshota_node_relay_phase(&t->node), meshota_v1_RelayPhase_RELAY_PHASE_RUNNING);
    /* The session is cancelled, but the relay still serves the passive slot: a new session would
     * erase it under the relay. */
    meshota_v1_UpdateCancel c = {.session_id = SESSION};
    mt_control(t, MESHOTA_OP_UPDATE_CANCEL, &c);
    expect_status(PH(CANCELLED), EC(CANCELLED));
    start.session_id = SESSION + 1; /* the session id is not part of the signed bytes */
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    expect_status(PH(CANCELLED), EC(BUSY));
    assert_int_equal(meshota_node_phase(&t->node), PH(CANCELLED));
    static uint8_t got[32768];
    assert_int_equal(meshota_host_read_slot(&t->host, 1, 0, got, img_len), MESHOTA_OK);
    assert_memory_equal(got, img, img_len);
    /* Once the relay gives up on its silent target, the new session is accepted. */
    for (int i = 0; i < 600 && meshota_node_relay_phase(&t->node) ==
                                   meshota_v1_RelayPhase_RELAY_PHASE_RUNNING; i++) {
        mt_advance(t, 1000);
    }
    assert_int_equal(meshota_node_relay_phase(&t->node), meshota_v1_RelayPhase_RELAY_PHASE_DONE);
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    expect_status(PH(STARTING), EC(NONE));
}

static void send_info(uint32_t session, uint32_t size, uint32_t chunk, uint32_t count)
{
    meshota_v1_DataFrame f = meshota_v1_DataFrame_init_zero;
    f.which_body = meshota_v1_DataFrame_info_tag;
    f.body.info.session_id = session;
    f.body.info.image_size = size;
    f.body.info.chunk_size = chunk;
    f.body.info.chunk_count = count;
    meshota_peer_t from = {.mesh_addr = 0x0001};
    mt_advance(t, MESHOTA_REFUSAL_INTERVAL_MS); /* so each refusal is answered */
    mt_data(t, MESHOTA_BEARER_MESH, &from, &f);
}

static void test_transfer_info_cannot_change_geometry_under_held_chunks(void **state)
{
    (void)state;
    uint32_t size = (uint32_t)img_len;
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    mt_advance(t, 10);
    mt_send_chunk(t, SESSION, img, img_len, CHUNK, 0);
    assert_int_equal(meshota_node_bytes_done(&t->node), CHUNK);
    send_info(SESSION, size, 256, (size + 255) / 256);
    expect_status(PH(RECEIVING), EC(MALFORMED));
    send_info(SESSION, size, 0, 0);
    expect_status(PH(RECEIVING), EC(MALFORMED));
    send_info(SESSION, size, CHUNK, chunk_count() + 1);
    expect_status(PH(RECEIVING), EC(MALFORMED));
    send_info(SESSION, size + 1, CHUNK, chunk_count());
    expect_status(PH(RECEIVING), EC(MALFORMED));
    send_info(SESSION, size, 2048, (size + 2047) / 2048);
    expect_status(PH(RECEIVING), EC(CHUNK_TOO_LARGE));
    send_info(SESSION, size, 0xFFFFFFFFu, 0);
    expect_status(PH(RECEIVING), EC(CHUNK_TOO_LARGE));
    send_info(SESSION + 1, size, CHUNK, chunk_count());
    expect_status(PH(RECEIVING), EC(SESSION_MISMATCH));
    /* Nothing held was lost; the transfer completes at its own geometry. */
    assert_int_equal(meshota_node_bytes_done(&t->node), CHUNK);
    for (uint32_t i = 1; i < chunk_count(); i++) {
        mt_send_chunk(t, SESSION, img, img_len, CHUNK, i);
    }
    mt_poll_verify(t);
    assert_int_equal(meshota_node_phase(&t->node), PH(VERIFIED));
}

static void test_transfer_info_before_any_chunk_sets_the_geometry(void **state)
{
    (void)state;
    uint32_t size = (uint32_t)img_len;
    uint32_t count = (size + 255) / 256;
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    mt_advance(t, 10);
    send_info(SESSION, size, 256, count);
    mt_send_chunk(t, SESSION, img, img_len, CHUNK, 0); /* cut at the old size: too large now */
    expect_status(PH(RECEIVING), EC(CHUNK_TOO_LARGE));
    mt_node_reboot(t); /* the new geometry is persisted */
    for (uint32_t i = 0; i < count; i++) {
        mt_send_chunk(t, SESSION, img, img_len, 256, i);
    }
    mt_poll_verify(t);
    assert_int_equal(meshota_node_phase(&t->node), PH(VERIFIED));
}

static void espnow_chunk(const meshota_peer_t *from, uint32_t index, uint8_t flip)
{
    static meshota_v1_DataFrame f;
    memset(&f, 0, sizeof(f));
    f.which_body = meshota_v1_DataFrame_chunk_tag;
    f.body.chunk.session_id = SESSION;
    f.body.chunk.index = index;
    size_t off = (size_t)index * 200u;
    size_t n = img_len - off < 200u ? img_len - off : 200u;
    memcpy(f.body.chunk.data.bytes, img + off, n);
    f.body.chunk.data.bytes[0] ^= flip;
    f.body.chunk.data.size = (pb_size_t)n;
    mt_data(t, MESHOTA_BEARER_ESPNOW, from, &f);
}

static void start_espnow(bool with_distributor)
{
    start.which_method = meshota_v1_UpdateStart_espnow_tag;
    memset(&start.method, 0, sizeof(start.method));
    start.method.espnow.channel = 6;
    start.method.espnow.payload_size = 200;
    if (with_distributor) {
        start.method.espnow.distributor_mac.size = 6;
        memcpy(start.method.espnow.distributor_mac.bytes, "\x02\0\0\0\0\x01", 6);
    }
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    expect_status(PH(STARTING), EC(NONE));
    mt_advance(t, 10);
}

static void test_espnow_frames_from_another_mac_are_ignored(void **state)
{
    (void)state;
    const meshota_peer_t real = {.has_mac = true, .mac = {0x02, 0, 0, 0, 0, 0x01}};
    const meshota_peer_t spoof = {.has_mac = true, .mac = {0x02, 0, 0, 0, 0, 0x66}};
    start_espnow(true);
    size_t before = t->n_sent;
    for (uint32_t i = 0; i < (img_len + 199) / 200; i++) {
        espnow_chunk(&spoof, i, 0x5A);
    }
    assert_int_equal(meshota_node_bytes_done(&t->node), 0);
    assert_int_equal(t->n_sent, before); /* not even an answer */
    for (uint32_t i = 0; i < (img_len + 199) / 200; i++) {
        espnow_chunk(&real, i, 0);
    }
    mt_poll_verify(t);
    assert_int_equal(meshota_node_phase(&t->node), PH(VERIFIED));
}

static void test_espnow_spoofed_chunk_without_distributor_fails_the_hash_and_applies_nothing(
    void **state)
{
    (void)state;
    const meshota_peer_t real = {.has_mac = true, .mac = {0x02, 0, 0, 0, 0, 0x01}};
    const meshota_peer_t spoof = {.has_mac = true, .mac = {0x02, 0, 0, 0, 0, 0x66}};
    start_espnow(false);
    espnow_chunk(&spoof, 3, 0x5A); /* first writer wins: the real chunk 3 is a duplicate */
    for (uint32_t i = 0; i < (img_len + 199) / 200; i++) {
        espnow_chunk(&real, i, 0);
    }
    mt_poll_verify(t);
    assert_int_equal(meshota_node_phase(&t->node), PH(FAILED));
    assert_int_equal(meshota_node_error(&t->node), EC(HASH_MISMATCH));
    meshota_v1_UpdateApply a = {.session_id = SESSION};
    mt_control(t, MESHOTA_OP_UPDATE_APPLY, &a);
    expect_status(PH(FAILED), EC(WRONG_STATE));
    assert_int_equal(t->host.boot.next, 0xFF);
    assert_true(mt_running_intact(t));
}

static void test_image_sizes_at_the_edges(void **state)
{
    (void)state;
    /* Exactly the OTA partition: accepted; one byte more: IMAGE_TOO_LARGE. */
    start.manifest.image_size = 64 * 1024;
    assert_true(mt_sign_manifest(&start.manifest, start.signature.bytes));
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    expect_status(PH(STARTING), EC(NONE));
    meshota_v1_UpdateCancel c = {.session_id = SESSION};
    mt_control(t, MESHOTA_OP_UPDATE_CANCEL, &c);
    start.manifest.image_size = 64 * 1024 + 1;
    assert_true(mt_sign_manifest(&start.manifest, start.signature.bytes));
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    expect_status(PH(FAILED), EC(IMAGE_TOO_LARGE));
    /* One signed byte: it is received and hashed, then refused as no app image. */
    uint8_t one = img[0];
    start.session_id = SESSION + 1;
    start.manifest.image_size = 1;
    uint8_t digest[32];
    size_t dl = 0;
    assert_int_equal(psa_hash_compute(PSA_ALG_SHA_256, &one, 1, digest, 32, &dl), PSA_SUCCESS);
    memcpy(start.manifest.image_sha256.bytes, digest, 32);
    assert_true(mt_sign_manifest(&start.manifest, start.signature.bytes));
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    expect_status(PH(STARTING), EC(NONE));
    mt_advance(t, 10);
    mt_send_chunk(t, SESSION + 1, img, 1, CHUNK, 0);
    mt_poll_verify(t);
    assert_int_equal(meshota_node_error(&t->node), EC(BAD_IMAGE));
    assert_int_equal(t->host.boot.next, 0xFF);
    assert_true(mt_running_intact(t));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fixture_setup, fixture_teardown)
    const struct CMUnitTest tests[] = {
        T(test_power_cut_between_boot_switch_and_applying_record_still_confirms),
        T(test_power_cut_at_boot_switch_keeps_verified_image),
        T(test_power_cut_between_boot_confirm_and_confirmed_record_stays_confirmed),
        T(test_image_header_revision_range_outside_the_chip_gets_chip_revision),
        T(test_new_session_while_relaying_is_busy),
        T(test_transfer_info_cannot_change_geometry_under_held_chunks),
        T(test_transfer_info_before_any_chunk_sets_the_geometry),
        T(test_espnow_frames_from_another_mac_are_ignored),
        T(test_espnow_spoofed_chunk_without_distributor_fails_the_hash_and_applies_nothing),
        T(test_image_sizes_at_the_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
