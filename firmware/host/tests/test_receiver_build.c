/* The core built without TCP, Wi-Fi and relay (MESHOTA_WITH_* = 0, the smallest configuration):
 * those requests are refused with UNSUPPORTED_METHOD and a mesh update still works end to end. */
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

_Static_assert(!MESHOTA_WITH_TCP && !MESHOTA_WITH_WIFI && !MESHOTA_WITH_RELAY,
               "this test checks the build without TCP, Wi-Fi and relay");

static meshota_err_t any_open(void *ctx, const char *host, uint16_t port,
                              const meshota_wifi_creds_t *creds)
{
    (void)ctx;
    (void)host;
    (void)port;
    (void)creds;
    fail_msg("net_open called in a build without TCP");
    return MESHOTA_OK;
}

static meshota_err_t any_send(void *ctx, const uint8_t *d, size_t len)
{
    (void)ctx;
    (void)d;
    (void)len;
    return MESHOTA_OK;
}

static void any_close(void *ctx)
{
    (void)ctx;
}

static void test_receiver_build_refuses_tcp_wifi_and_relay_and_updates_over_mesh(void **state)
{
    (void)state;
    mt_node_t *t = calloc(1, sizeof(*t));
    mt_node_open(t, 64 * 1024, 4);
    t->host.port.net_open = any_open;
    t->host.port.net_send = any_send;
    t->host.port.net_close = any_close;
    mt_node_reboot(t);
    mt_image_params_t p = mt_image_defaults();
    static uint8_t img[32768];
    size_t len = mt_image_build(&p, img, sizeof(img));
    meshota_v1_UpdateStart u;

    mt_start_for(&p, img, len, 0x10, 400, &u);
    u.which_method = meshota_v1_UpdateStart_tcp_tag;
    snprintf(u.method.tcp.host, sizeof(u.method.tcp.host), "10.0.0.1");
    u.method.tcp.port = 7420;
    mt_control(t, MESHOTA_OP_UPDATE_START, &u);
    meshota_v1_UpdateStatus st = mt_last_status(t);
    assert_int_equal(st.phase, PH(FAILED));
    assert_int_equal(st.error, EC(UNSUPPORTED_METHOD));

    u.which_method = meshota_v1_UpdateStart_wifi_tag;
    snprintf(u.method.wifi.url, sizeof(u.method.wifi.url), "http://10.0.0.1/fw.bin");
    mt_control(t, MESHOTA_OP_UPDATE_START, &u);
    assert_int_equal(mt_last_status(t).error, EC(UNSUPPORTED_METHOD));

    mt_start_for(&p, img, len, 0x11, 400, &u);
    mt_control(t, MESHOTA_OP_UPDATE_START, &u);
    assert_int_equal(mt_last_status(t).phase, PH(STARTING));
    for (uint32_t i = 0; i < (len + 399) / 400; i++) {
        mt_send_chunk(t, 0x11, img, len, 400, i);
    }
    mt_poll_verify(t);
    assert_int_equal(meshota_node_phase(&t->node), PH(VERIFIED));

    meshota_v1_RelayStart rs = meshota_v1_RelayStart_init_zero;
    rs.session_id = 0x11;
    rs.targets_count = 1;
    rs.targets[0] = 0x20;
    rs.which_method = meshota_v1_RelayStart_espnow_tag;
    rs.method.espnow.channel = 1;
    rs.method.espnow.payload_size = 200;
    mt_control(t, MESHOTA_OP_RELAY_START, &rs);
    const mt_sent_t *s = mt_last(t);
    meshota_v1_RelayStatus rst;
    assert_int_equal(s->data[0], MESHOTA_OP_RELAY_STATUS);
    assert_true(meshota_decode(meshota_v1_RelayStatus_fields, &rst, s->data + 1, s->len - 1, NULL));
    assert_int_equal(rst.phase, meshota_v1_RelayPhase_RELAY_PHASE_FAILED);
    assert_int_equal(rst.error, EC(UNSUPPORTED_METHOD));
    assert_true(mt_running_intact(t));
    mt_node_close(t);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_receiver_build_refuses_tcp_wifi_and_relay_and_updates_over_mesh),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
