/* Every refusal and failure has its own error code, and none of them applies anything. */
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

#define SESSION 0x5151u
#define CHUNK 512u
#define FIXTURE_SEED 11

#include "node_fixture.h"

static int teardown(void **state)
{
    (void)state;
    /* Whatever happened, nothing was applied and the running image is intact. */
    assert_int_equal(t->host.boot.next, 0xFF);
    assert_int_equal(t->host.boot.running, 0);
    assert_true(mt_running_intact(t));
    return fixture_teardown(state);
}

/* Re-sign after editing the manifest, so only the intended check can fail. */
static void resign(void)
{
    assert_true(mt_sign_manifest(&start.manifest, start.signature.bytes));
}

static void expect_refused(meshota_v1_ErrorCode error)
{
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    expect_status(PH(FAILED), error);
    assert_int_equal(meshota_node_phase(&t->node), PH(NONE));
}

static void send_all(uint32_t session)
{
    for (uint32_t i = 0; i < chunk_count(); i++) {
        mt_send_chunk(t, session, img, img_len, CHUNK, i);
    }
}

static void test_malformed_message_gets_malformed(void **state)
{
    (void)state;
    const uint8_t junk[] = {0x0A, 0xFF, 0xFF};
    meshota_peer_t from = {.mesh_addr = 1};
    meshota_node_on_control(&t->node, &from, MESHOTA_OP_UPDATE_START, junk, sizeof(junk));
    expect_status(PH(NONE), EC(MALFORMED));
    start.session_id = 0;
    expect_refused(EC(MALFORMED));
}

static void test_apply_or_confirm_in_wrong_phase_gets_wrong_state(void **state)
{
    (void)state;
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    meshota_v1_UpdateApply a = {.session_id = SESSION};
    mt_control(t, MESHOTA_OP_UPDATE_APPLY, &a);
    expect_status(PH(STARTING), EC(WRONG_STATE));
    meshota_v1_UpdateConfirm c = {.session_id = SESSION};
    mt_control(t, MESHOTA_OP_UPDATE_CONFIRM, &c);
    expect_status(PH(STARTING), EC(WRONG_STATE));
    a.session_id = 77;
    mt_control(t, MESHOTA_OP_UPDATE_APPLY, &a);
    expect_status(PH(STARTING), EC(SESSION_MISMATCH));
}

static void test_method_not_supported_gets_unsupported_method(void **state)
{
    (void)state;
    t->node.cfg.methods = MESHOTA_METHOD_BIT(meshota_v1_Method_METHOD_TCP);
    expect_refused(EC(UNSUPPORTED_METHOD));
}

static void test_wrong_chip_gets_wrong_chip(void **state)
{
    (void)state;
    start.manifest.chip_id = 9;
    resign();
    expect_refused(EC(WRONG_CHIP));
}

static void test_chip_revision_outside_range_gets_chip_revision(void **state)
{
    (void)state;
    start.manifest.min_chip_rev = 100; /* node is rev 3 (v0.3) */
    resign();
    expect_refused(EC(CHIP_REVISION));
    start.manifest.min_chip_rev = 0;
    start.manifest.max_chip_rev = 2;
    resign();
    expect_refused(EC(CHIP_REVISION));
    start.manifest.max_chip_rev = 0xFFFF; /* unset */
    resign();
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    expect_status(PH(STARTING), EC(NONE));
}

static void test_oversize_image_gets_image_too_large(void **state)
{
    (void)state;
    start.manifest.image_size = 64 * 1024 + 1;
    resign();
    expect_refused(EC(IMAGE_TOO_LARGE));
}

static void test_lower_secure_version_gets_downgrade(void **state)
{
    (void)state;
    start.manifest.secure_version = 0; /* running image has 1 */
    resign();
    expect_refused(EC(DOWNGRADE));
}

static void test_same_version_refused_unless_allowed(void **state)
{
    (void)state;
    snprintf(start.manifest.version, sizeof(start.manifest.version), "1.0.0");
    resign();
    expect_refused(EC(SAME_VERSION));
    start.allow_same_version = true;
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    expect_status(PH(STARTING), EC(NONE));
}

static void test_other_project_refused_unless_allowed(void **state)
{
    (void)state;
    snprintf(start.manifest.project_name, sizeof(start.manifest.project_name), "other");
    resign();
    expect_refused(EC(PROJECT_MISMATCH));
    start.allow_other_project = true;
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    expect_status(PH(STARTING), EC(NONE));
}

static void test_tampered_manifest_gets_bad_signature(void **state)
{
    (void)state;
    start.manifest.image_sha256.bytes[0] ^= 1; /* signed bytes changed, signature kept */
    expect_refused(EC(BAD_SIGNATURE));
    mt_start_for(&params, img, img_len, SESSION, CHUNK, &start);
    start.signature.bytes[40] ^= 0x80;
    expect_refused(EC(BAD_SIGNATURE));
    start.signature.size = 10;
    expect_refused(EC(BAD_SIGNATURE));
    /* A signature by another key. */
    mt_start_for(&params, img, img_len, SESSION, CHUNK, &start);
    static const uint8_t other_key[65] = {
        0x04, 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63,
        0xa4, 0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39,
        0x45, 0xd8, 0x98, 0xc2, 0x96, 0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e,
        0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e,
        0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5}; /* the P-256 base point G */
    t->node.cfg.public_key = other_key;
    expect_refused(EC(BAD_SIGNATURE));
}

/* Refused mesh data frames are answered at most once per MESHOTA_REFUSAL_INTERVAL_MS. */
static void next_refusal(void)
{
    mt_advance(t, MESHOTA_REFUSAL_INTERVAL_MS);
}

static void test_chunk_errors_have_their_codes_and_write_nothing(void **state)
{
    (void)state;
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    mt_send_chunk(t, SESSION + 1, img, img_len, CHUNK, 0);
    expect_status(PH(STARTING), EC(SESSION_MISMATCH));
    next_refusal();
    mt_send_chunk(t, SESSION, img, img_len, CHUNK, chunk_count());
    expect_status(meshota_node_phase(&t->node), EC(CHUNK_OUT_OF_RANGE));
    /* A chunk larger than the session's chunk size. */
    static meshota_v1_DataFrame f;
    memset(&f, 0, sizeof(f));
    f.which_body = meshota_v1_DataFrame_chunk_tag;
    f.body.chunk.session_id = SESSION;
    f.body.chunk.index = 0;
    f.body.chunk.data.size = CHUNK + 1;
    meshota_peer_t from = {.mesh_addr = 1};
    next_refusal();
    mt_data(t, MESHOTA_BEARER_MESH, &from, &f);
    expect_status(meshota_node_phase(&t->node), EC(CHUNK_TOO_LARGE));
    /* A short chunk that is not the last one. */
    f.body.chunk.data.size = CHUNK - 1;
    next_refusal();
    mt_data(t, MESHOTA_BEARER_MESH, &from, &f);
    expect_status(meshota_node_phase(&t->node), EC(MALFORMED));
    assert_int_equal(meshota_node_bytes_done(&t->node), 0);
    /* Data over 1440 bytes fails the decode itself. */
    uint8_t raw[1500] = {0x1A, 0xA8, 0x0B, 0x12, 0xA5, 0x0B};
    next_refusal();
    meshota_node_on_data(&t->node, MESHOTA_BEARER_MESH, &from, raw, sizeof(raw));
    expect_status(meshota_node_phase(&t->node), EC(MALFORMED));
    /* Refused chunks leave the session waiting for good ones. */
    assert_true(meshota_node_phase(&t->node) == PH(STARTING) ||
                meshota_node_phase(&t->node) == PH(RECEIVING));
}

/* Even when its session record is lost, an unconfirmed image keeps the old one as the way back. */
static void test_start_while_running_image_unconfirmed_gets_wrong_state(void **state)
{
    (void)state;
    assert_int_equal(t->host.port.kv_erase(t->host.port.ctx, "ota.sess"), MESHOTA_OK);
    t->host.boot.state = MESHOTA_BOOT_PENDING_VERIFY;
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    expect_status(PH(NONE), EC(WRONG_STATE));
    assert_int_equal(meshota_node_bytes_done(&t->node), 0);
    t->host.boot.state = MESHOTA_BOOT_NORMAL;
}

/* Chunks sent to a group reach members that are elsewhere: they must not answer every one. */
static void test_refused_group_chunks_get_one_answer_per_interval(void **state)
{
    (void)state;
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    size_t before = t->n_sent;
    for (uint32_t i = 0; i < 20; i++) {
        mt_send_chunk(t, SESSION + 1, img, img_len, CHUNK, i);
    }
    assert_int_equal(t->n_sent - before, 1);
    expect_status(PH(STARTING), EC(SESSION_MISMATCH));
    next_refusal();
    mt_send_chunk(t, SESSION + 1, img, img_len, CHUNK, 0);
    assert_int_equal(t->n_sent - before, 2);
    assert_int_equal(meshota_node_bytes_done(&t->node), 0);
}

static void test_corrupted_chunk_gets_hash_mismatch(void **state)
{
    (void)state;
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    img[3000] ^= 0x20; /* the bytes sent differ from what the manifest hashes */
    send_all(SESSION);
    img[3000] ^= 0x20;
    mt_poll_verify(t);
    assert_int_equal(meshota_node_phase(&t->node), PH(FAILED));
    assert_int_equal(meshota_node_error(&t->node), EC(HASH_MISMATCH));
    expect_status(PH(FAILED), EC(HASH_MISMATCH));
    meshota_v1_UpdateApply a = {.session_id = SESSION};
    mt_control(t, MESHOTA_OP_UPDATE_APPLY, &a);
    expect_status(PH(FAILED), EC(WRONG_STATE));
    /* A failed session can be cancelled, then replaced. */
    meshota_v1_UpdateCancel c = {.session_id = SESSION};
    mt_control(t, MESHOTA_OP_UPDATE_CANCEL, &c);
    expect_status(PH(CANCELLED), EC(CANCELLED));
}

static void test_signed_but_malformed_image_gets_bad_image(void **state)
{
    (void)state;
    img[0] = 0xE8; /* the manifest hashes the bad bytes: only the format check can catch it */
    mt_start_for(&params, img, img_len, SESSION, CHUNK, &start);
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    send_all(SESSION);
    mt_poll_verify(t);
    assert_int_equal(meshota_node_error(&t->node), EC(BAD_IMAGE));
    expect_status(PH(FAILED), EC(BAD_IMAGE));
}

static void test_image_disagreeing_with_manifest_gets_manifest_mismatch(void **state)
{
    (void)state;
    snprintf(start.manifest.version, sizeof(start.manifest.version), "9.9.9");
    resign();
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    send_all(SESSION);
    mt_poll_verify(t);
    expect_status(PH(FAILED), EC(MANIFEST_MISMATCH));
}

static meshota_err_t failing_write(void *ctx, uint32_t off, const uint8_t *d, size_t len)
{
    (void)ctx;
    (void)off;
    (void)d;
    (void)len;
    return MESHOTA_ERR_FLASH;
}

static void test_flash_write_failure_gets_flash(void **state)
{
    (void)state;
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    t->host.port.flash_write = failing_write;
    mt_send_chunk(t, SESSION, img, img_len, CHUNK, 0);
    expect_status(PH(FAILED), EC(FLASH));
}

static int kv_fail_after;
static meshota_err_t (*real_kv_set)(void *, const char *, const void *, size_t);

static meshota_err_t flaky_kv_set(void *ctx, const char *key, const void *buf, size_t len)
{
    if (kv_fail_after-- <= 0) {
        return MESHOTA_ERR_STORAGE;
    }
    return real_kv_set(ctx, key, buf, len);
}

static void test_store_failure_gets_storage(void **state)
{
    (void)state;
    real_kv_set = t->host.port.kv_set;
    t->host.port.kv_set = flaky_kv_set;
    kv_fail_after = 0;
    expect_refused(EC(STORAGE));
    kv_fail_after = 2; /* the session record at the start and on the first chunk */
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    expect_status(PH(STARTING), EC(NONE));
    for (uint32_t i = 0; i + 1 < MESHOTA_PERSIST_EVERY_CHUNKS; i++) {
        mt_send_chunk(t, SESSION, img, img_len, CHUNK, i);
    }
    assert_int_equal(meshota_node_phase(&t->node), PH(RECEIVING));
    /* The first save of the bitmap fails. */
    mt_send_chunk(t, SESSION, img, img_len, CHUNK, MESHOTA_PERSIST_EVERY_CHUNKS - 1);
    expect_status(PH(FAILED), EC(STORAGE));
    t->host.port.kv_set = real_kv_set;
}

/* The last chunk's save comes before the node says it is complete: when it fails, the node fails
 * instead of telling the sender it needs nothing more. */
static void test_store_failure_at_the_last_chunk_gets_storage(void **state)
{
    (void)state;
    assert_true(chunk_count() > MESHOTA_PERSIST_EVERY_CHUNKS);
    assert_true(chunk_count() % MESHOTA_PERSIST_EVERY_CHUNKS != 0);
    real_kv_set = t->host.port.kv_set;
    t->host.port.kv_set = flaky_kv_set;
    kv_fail_after = 3; /* two session records and the periodic save, then the last one */
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    for (uint32_t i = 0; i + 1 < chunk_count(); i++) {
        mt_send_chunk(t, SESSION, img, img_len, CHUNK, i);
    }
    assert_int_equal(meshota_node_phase(&t->node), PH(RECEIVING));
    mt_send_chunk(t, SESSION, img, img_len, CHUNK, chunk_count() - 1);
    expect_status(PH(FAILED), EC(STORAGE));
    t->host.port.kv_set = real_kv_set;
}

static meshota_err_t failing_sha_start(void *ctx, meshota_sha256_t *st)
{
    (void)ctx;
    (void)st;
    return MESHOTA_ERR_CRYPTO;
}

static void test_crypto_failure_gets_internal(void **state)
{
    (void)state;
    t->host.port.sha256_start = failing_sha_start;
    expect_refused(EC(INTERNAL));
}

static void test_silent_sender_gets_timeout_and_silent_distributor_wrong_channel(void **state)
{
    (void)state;
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    mt_send_chunk(t, SESSION, img, img_len, CHUNK, 0);
    mt_advance(t, MESHOTA_RECEIVE_TIMEOUT_MS + 100);
    expect_status(PH(FAILED), EC(TIMEOUT));

    mt_start_for(&params, img, img_len, SESSION + 1, CHUNK, &start);
    start.which_method = meshota_v1_UpdateStart_espnow_tag;
    start.method.espnow.channel = 6;
    start.method.espnow.payload_size = 200;
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    expect_status(PH(STARTING), EC(NONE));
    mt_advance(t, MESHOTA_RECEIVE_TIMEOUT_MS + 100);
    expect_status(PH(FAILED), EC(WRONG_CHANNEL));
}

static void test_relay_without_image_gets_no_image(void **state)
{
    (void)state;
    meshota_v1_RelayStart rs = meshota_v1_RelayStart_init_zero;
    rs.session_id = SESSION;
    rs.targets_count = 1;
    rs.targets[0] = 0x0010;
    rs.which_method = meshota_v1_RelayStart_espnow_tag;
    rs.method.espnow.channel = 1;
    rs.method.espnow.payload_size = 200;
    mt_control(t, MESHOTA_OP_RELAY_START, &rs);
    const mt_sent_t *s = mt_last(t);
    assert_int_equal(s->data[0], MESHOTA_OP_RELAY_STATUS);
    meshota_v1_RelayStatus st;
    assert_true(meshota_decode(meshota_v1_RelayStatus_fields, &st, s->data + 1, s->len - 1, NULL));
    assert_int_equal(st.phase, meshota_v1_RelayPhase_RELAY_PHASE_FAILED);
    assert_int_equal(st.error, EC(NO_IMAGE));
    rs.which_method = meshota_v1_RelayStart_tcp_tag;
    mt_control(t, MESHOTA_OP_RELAY_START, &rs);
    s = mt_last(t);
    assert_true(meshota_decode(meshota_v1_RelayStatus_fields, &st, s->data + 1, s->len - 1, NULL));
    assert_int_equal(st.error, EC(UNSUPPORTED_METHOD));
}

#define T(f) cmocka_unit_test_setup_teardown(f, fixture_setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_malformed_message_gets_malformed),
        T(test_apply_or_confirm_in_wrong_phase_gets_wrong_state),
        T(test_method_not_supported_gets_unsupported_method),
        T(test_wrong_chip_gets_wrong_chip),
        T(test_chip_revision_outside_range_gets_chip_revision),
        T(test_oversize_image_gets_image_too_large),
        T(test_lower_secure_version_gets_downgrade),
        T(test_same_version_refused_unless_allowed),
        T(test_other_project_refused_unless_allowed),
        T(test_tampered_manifest_gets_bad_signature),
        T(test_chunk_errors_have_their_codes_and_write_nothing),
        T(test_refused_group_chunks_get_one_answer_per_interval),
        T(test_start_while_running_image_unconfirmed_gets_wrong_state),
        T(test_corrupted_chunk_gets_hash_mismatch),
        T(test_signed_but_malformed_image_gets_bad_image),
        T(test_image_disagreeing_with_manifest_gets_manifest_mismatch),
        T(test_flash_write_failure_gets_flash),
        T(test_store_failure_gets_storage),
        T(test_store_failure_at_the_last_chunk_gets_storage),
        T(test_crypto_failure_gets_internal),
        T(test_silent_sender_gets_timeout_and_silent_distributor_wrong_channel),
        T(test_relay_without_image_gets_no_image),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
