/* Every phase transition of the node, driven over the mesh method. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "meshota_codec.h"
#include "meshota_testlib.h"

#define SESSION 0x1234u
#define CHUNK 512u
#define FIXTURE_SEED 7

#include "node_fixture.h"

static void start_and_receive_all(void)
{
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    expect_status(PH(STARTING), EC(NONE));
    assert_int_equal(meshota_node_phase(&t->node), PH(STARTING));
    mt_advance(t, 10);
    assert_int_equal(meshota_node_phase(&t->node), PH(RECEIVING));
    for (uint32_t i = chunk_count(); i-- > 0;) { /* reverse order */
        mt_send_chunk(t, SESSION, img, img_len, CHUNK, i);
    }
    assert_int_equal(meshota_node_phase(&t->node), PH(VERIFYING));
    expect_status(PH(VERIFYING), EC(NONE));
    mt_poll_verify(t);
}

static void get_status(void)
{
    meshota_v1_UpdateGet g = meshota_v1_UpdateGet_init_zero;
    mt_control(t, MESHOTA_OP_UPDATE_GET, &g);
}

static void test_full_update_reaches_confirmed_with_new_version(void **state)
{
    (void)state;
    start_and_receive_all();
    assert_int_equal(meshota_node_phase(&t->node), PH(VERIFIED));
    expect_status(PH(VERIFIED), EC(NONE));
    meshota_v1_UpdateStatus st = mt_last_status(t);
    assert_int_equal(st.bytes_done, img_len);
    assert_int_equal(st.percent, 100);
    /* The passive slot holds the image byte for byte; the running one is untouched. */
    static uint8_t got[32768];
    assert_int_equal(meshota_host_read_slot(&t->host, 1, 0, got, img_len), MESHOTA_OK);
    assert_memory_equal(got, img, img_len);
    assert_true(mt_running_intact(t));

    meshota_v1_UpdateApply a = {.session_id = SESSION};
    mt_control(t, MESHOTA_OP_UPDATE_APPLY, &a);
    expect_status(PH(APPLYING), EC(NONE));
    assert_true(t->host.restart_requested);

    mt_node_reboot(t);
    assert_int_equal(meshota_node_phase(&t->node), PH(PENDING_CONFIRM));
    assert_string_equal(meshota_node_running(&t->node)->version, "1.1.0");
    get_status();
    expect_status(PH(PENDING_CONFIRM), EC(NONE));

    meshota_v1_UpdateConfirm c = {.session_id = SESSION};
    mt_control(t, MESHOTA_OP_UPDATE_CONFIRM, &c);
    expect_status(PH(CONFIRMED), EC(NONE));
    assert_int_equal(t->host.boot.state, MESHOTA_BOOT_NORMAL);

    /* Confirmed survives another restart, and InfoStatus shows the new firmware. */
    mt_node_reboot(t);
    assert_int_equal(meshota_node_phase(&t->node), PH(CONFIRMED));
    meshota_v1_InfoGet ig = meshota_v1_InfoGet_init_zero;
    mt_control(t, MESHOTA_OP_INFO_GET, &ig);
    const mt_sent_t *s = mt_last(t);
    assert_int_equal(s->data[0], MESHOTA_OP_INFO_STATUS);
    meshota_v1_InfoStatus info;
    assert_true(meshota_decode(meshota_v1_InfoStatus_fields, &info, s->data + 1, s->len - 1, NULL));
    assert_string_equal(info.version, "1.1.0");
    assert_string_equal(info.project_name, "demo");
    assert_int_equal(info.chip_id, 5);
    assert_int_equal(info.chip_revision, 3);
    assert_int_equal(info.ota_partition_size, 64 * 1024);
    assert_int_equal(info.methods_count, 4);
    assert_int_equal(info.max_chunk_size, 1024);
    assert_int_equal(info.phase, PH(CONFIRMED));
    assert_true(info.can_relay);
}

static void test_unconfirmed_image_rolls_back_after_second_restart(void **state)
{
    (void)state;
    start_and_receive_all();
    meshota_v1_UpdateApply a = {.session_id = SESSION};
    mt_control(t, MESHOTA_OP_UPDATE_APPLY, &a);
    mt_node_reboot(t);
    assert_int_equal(meshota_node_phase(&t->node), PH(PENDING_CONFIRM));
    mt_node_reboot(t); /* reset before confirming */
    assert_int_equal(meshota_node_phase(&t->node), PH(ROLLED_BACK));
    assert_int_equal(meshota_node_error(&t->node), EC(ROLLED_BACK));
    assert_string_equal(meshota_node_running(&t->node)->version, "1.0.0");
    assert_true(mt_running_intact(t));
    get_status();
    expect_status(PH(ROLLED_BACK), EC(ROLLED_BACK));
}

static void test_cancel_in_pending_confirm_rolls_back(void **state)
{
    (void)state;
    start_and_receive_all();
    meshota_v1_UpdateApply a = {.session_id = SESSION};
    mt_control(t, MESHOTA_OP_UPDATE_APPLY, &a);
    mt_node_reboot(t);
    meshota_v1_UpdateCancel c = {.session_id = SESSION};
    mt_control(t, MESHOTA_OP_UPDATE_CANCEL, &c);
    expect_status(PH(ROLLED_BACK), EC(NONE));
    assert_true(t->host.restart_requested);
    mt_node_reboot(t);
    assert_int_equal(meshota_node_phase(&t->node), PH(ROLLED_BACK));
    assert_string_equal(meshota_node_running(&t->node)->version, "1.0.0");
}

static void test_cancel_from_starting_receiving_verified_and_failed(void **state)
{
    (void)state;
    meshota_v1_UpdateCancel c = {.session_id = SESSION};
    /* STARTING */
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    mt_control(t, MESHOTA_OP_UPDATE_CANCEL, &c);
    expect_status(PH(CANCELLED), EC(CANCELLED));
    /* RECEIVING, then a new session is accepted after the cancel. */
    start.session_id = SESSION + 1;
    mt_start_for(&params, img, img_len, SESSION + 1, CHUNK, &start);
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    expect_status(PH(STARTING), EC(NONE));
    mt_send_chunk(t, SESSION + 1, img, img_len, CHUNK, 0);
    assert_int_equal(meshota_node_phase(&t->node), PH(RECEIVING));
    c.session_id = 0; /* 0 cancels whatever the node holds */
    mt_control(t, MESHOTA_OP_UPDATE_CANCEL, &c);
    expect_status(PH(CANCELLED), EC(CANCELLED));
    assert_int_equal(meshota_node_bytes_done(&t->node), 0);
    /* VERIFIED */
    mt_start_for(&params, img, img_len, SESSION + 2, CHUNK, &start);
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    for (uint32_t i = 0; i < chunk_count(); i++) {
        mt_send_chunk(t, SESSION + 2, img, img_len, CHUNK, i);
    }
    mt_poll_verify(t);
    assert_int_equal(meshota_node_phase(&t->node), PH(VERIFIED));
    mt_control(t, MESHOTA_OP_UPDATE_CANCEL, &c);
    expect_status(PH(CANCELLED), EC(CANCELLED));
    /* Nothing was applied at any point. */
    assert_int_equal(t->host.boot.next, 0xFF);
    assert_true(mt_running_intact(t));
    mt_node_reboot(t);
    assert_int_equal(meshota_node_phase(&t->node), PH(CANCELLED));
}

static void test_cancel_without_session_or_with_other_session(void **state)
{
    (void)state;
    meshota_v1_UpdateCancel c = {.session_id = 0};
    mt_control(t, MESHOTA_OP_UPDATE_CANCEL, &c);
    expect_status(PH(NONE), EC(WRONG_STATE));
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    c.session_id = 99;
    mt_control(t, MESHOTA_OP_UPDATE_CANCEL, &c);
    expect_status(PH(STARTING), EC(SESSION_MISMATCH));
}

static void test_repeated_start_is_idempotent_and_other_session_is_busy(void **state)
{
    (void)state;
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    mt_advance(t, 10);
    mt_send_chunk(t, SESSION, img, img_len, CHUNK, 3);
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    expect_status(PH(RECEIVING), EC(NONE));
    assert_int_equal(meshota_node_bytes_done(&t->node), CHUNK);
    meshota_v1_UpdateStart other;
    mt_start_for(&params, img, img_len, SESSION + 5, CHUNK, &other);
    mt_control(t, MESHOTA_OP_UPDATE_START, &other);
    expect_status(PH(RECEIVING), EC(BUSY));
    assert_int_equal(meshota_node_bytes_done(&t->node), CHUNK);
}

static void test_duplicate_chunks_are_idempotent(void **state)
{
    (void)state;
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    for (int k = 0; k < 3; k++) {
        mt_send_chunk(t, SESSION, img, img_len, CHUNK, 1);
    }
    assert_int_equal(meshota_node_bytes_done(&t->node), CHUNK);
    for (uint32_t i = 0; i < chunk_count(); i++) {
        mt_send_chunk(t, SESSION, img, img_len, CHUNK, i);
        mt_send_chunk(t, SESSION, img, img_len, CHUNK, i);
    }
    mt_poll_verify(t);
    assert_int_equal(meshota_node_phase(&t->node), PH(VERIFIED));
}

static void test_progress_is_reported_at_a_bounded_rate(void **state)
{
    (void)state;
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    mt_advance(t, 10);
    size_t before = t->n_sent;
    for (uint32_t i = 0; i < 10; i++) {
        mt_send_chunk(t, SESSION, img, img_len, CHUNK, i);
        mt_advance(t, 100);
    }
    /* 1 s elapsed in 100 ms steps: no report yet (interval 2 s). */
    assert_int_equal(t->n_sent, before);
    mt_advance(t, 1100);
    assert_int_equal(t->n_sent, before + 1);
    meshota_v1_UpdateStatus st = mt_last_status(t);
    assert_int_equal(st.phase, PH(RECEIVING));
    assert_int_equal(st.bytes_done, 10 * CHUNK);
    assert_int_equal(st.percent, (10 * CHUNK * 100) / img_len);
    assert_int_equal(mt_last(t)->to.mesh_addr, 0x0001);
    mt_advance(t, 5000); /* no new chunk: no new report */
    assert_int_equal(t->n_sent, before + 1);
}

static void test_missing_chunks_report_lists_gaps(void **state)
{
    (void)state;
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    for (uint32_t i = 0; i < chunk_count(); i++) {
        if (i != 2 && i != 5 && i != 6) {
            mt_send_chunk(t, SESSION, img, img_len, CHUNK, i);
        }
    }
    meshota_v1_DataFrame f = meshota_v1_DataFrame_init_zero;
    f.which_body = meshota_v1_DataFrame_info_tag;
    f.body.info.session_id = SESSION;
    f.body.info.image_size = (uint32_t)img_len;
    f.body.info.chunk_size = CHUNK;
    f.body.info.chunk_count = chunk_count();
    f.body.info.round = 1;
    meshota_peer_t from = {.mesh_addr = 0x0001};
    mt_data(t, MESHOTA_BEARER_MESH, &from, &f);
    const mt_sent_t *s = mt_last(t);
    assert_int_equal(s->data[0], MESHOTA_OP_DATA_FRAME);
    meshota_v1_DataFrame r;
    assert_true(meshota_decode(meshota_v1_DataFrame_fields, &r, s->data + 1, s->len - 1, NULL));
    assert_int_equal(r.which_body, meshota_v1_DataFrame_missing_tag);
    assert_int_equal(r.body.missing.missing_total, 3);
    /* Bitmap window from chunk 2: bits 0, 3, 4 (one byte) is shorter than two ranges. */
    assert_int_equal(r.body.missing.base_index, 2);
    assert_int_equal(r.body.missing.bitmap.size, 1);
    assert_int_equal(r.body.missing.bitmap.bytes[0], 0x19);
    assert_int_equal(r.body.missing.ranges_count, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fixture_setup, fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_full_update_reaches_confirmed_with_new_version),
        T(test_unconfirmed_image_rolls_back_after_second_restart),
        T(test_cancel_in_pending_confirm_rolls_back),
        T(test_cancel_from_starting_receiving_verified_and_failed),
        T(test_cancel_without_session_or_with_other_session),
        T(test_repeated_start_is_idempotent_and_other_session_is_busy),
        T(test_duplicate_chunks_are_idempotent),
        T(test_progress_is_reported_at_a_bounded_rate),
        T(test_missing_chunks_report_lists_gaps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
