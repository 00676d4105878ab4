/* A node built with MESHOTA_MAX_RELAY_TARGETS below the schema's 32 refuses longer target lists
 * (MALFORMED) instead of writing past its target table, and serves lists that fit. */
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

#define EC(x) meshota_v1_ErrorCode_ERROR_CODE_##x
#define RELAY(x) meshota_v1_RelayPhase_RELAY_PHASE_##x

_Static_assert(MESHOTA_MAX_RELAY_TARGETS == 2, "this test checks a build with 2 relay targets");

static meshota_v1_RelayStatus relay_start(mt_node_t *t, pb_size_t n_targets)
{
    meshota_v1_RelayStart rs = meshota_v1_RelayStart_init_zero;
    rs.session_id = 0x33;
    rs.targets_count = n_targets;
    for (pb_size_t i = 0; i < n_targets; i++) {
        rs.targets[i] = 0x0100u + i;
    }
    rs.which_method = meshota_v1_RelayStart_espnow_tag;
    rs.method.espnow.channel = 6;
    rs.method.espnow.payload_size = 200;
    mt_control(t, MESHOTA_OP_RELAY_START, &rs);
    const mt_sent_t *s = mt_last(t);
    assert_int_equal(s->data[0], MESHOTA_OP_RELAY_STATUS);
    meshota_v1_RelayStatus st;
    assert_true(meshota_decode(meshota_v1_RelayStatus_fields, &st, s->data + 1, s->len - 1, NULL));
    return st;
}

static void test_target_list_longer_than_the_table_is_malformed(void **state)
{
    (void)state;
    mt_node_t *t = calloc(1, sizeof(*t));
    mt_node_open(t, 64 * 1024, 5);
    mt_image_params_t p = mt_image_defaults();
    static uint8_t img[32768];
    size_t len = mt_image_build(&p, img, sizeof(img));
    meshota_v1_UpdateStart u;
    mt_start_for(&p, img, len, 0x33, 400, &u);
    mt_control(t, MESHOTA_OP_UPDATE_START, &u);
    mt_advance(t, 10);
    for (uint32_t i = 0; i < (len + 399) / 400; i++) {
        mt_send_chunk(t, 0x33, img, len, 400, i);
    }
    mt_poll_verify(t);
    assert_int_equal(meshota_node_phase(&t->node), meshota_v1_Phase_PHASE_VERIFIED);

    meshota_v1_RelayStatus st = relay_start(t, 32);
    assert_int_equal(st.phase, RELAY(FAILED));
    assert_int_equal(st.error, EC(MALFORMED));
    st = relay_start(t, 3);
    assert_int_equal(st.error, EC(MALFORMED));
    assert_int_equal(meshota_node_relay_phase(&t->node), RELAY(NONE));
    st = relay_start(t, 2);
    assert_int_equal(st.phase, RELAY(RUNNING));
    assert_int_equal(st.error, EC(NONE));
    mt_node_close(t);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_target_list_longer_than_the_table_is_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
