/* Wi-Fi/HTTP method through the stream-source port: reads of any size, resume at the first
 * byte not yet held after a drop or a power cut. */
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
#define SESSION 0x3A3Au

static mt_node_t *t;
static uint8_t img[49152];
static size_t img_len;
static mt_image_params_t params;
static meshota_v1_UpdateStart start;

/* RAM stream source. */
static uint32_t pos;
static uint32_t drop_at;   /* fail once the position reaches this (0: never) */
static uint32_t broke_at;  /* position at which it failed */
static uint32_t offsets[16];
static int n_opens;
static uint32_t rng;
static bool pinned;

static meshota_err_t s_open(void *ctx, const char *url, const uint8_t *cert,
                            const meshota_wifi_creds_t *creds, uint32_t offset)
{
    (void)ctx;
    (void)creds;
    assert_string_equal(url, "https://fw.example/demo.bin");
    pinned = cert != NULL && cert[0] == 0xAB;
    offsets[n_opens++] = offset;
    pos = offset;
    return MESHOTA_OK;
}

static int32_t s_read(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    if (drop_at != 0 && pos >= drop_at) {
        drop_at = 0;
        broke_at = pos;
        return -MESHOTA_ERR_NET;
    }
    rng = rng * 1103515245u + 12345u;
    if ((rng >> 16) % 5 == 0) {
        return -MESHOTA_ERR_WOULD_BLOCK;
    }
    size_t n = 1 + (rng >> 8) % 300;
    if (n > len) {
        n = len;
    }
    if (n > img_len - pos) {
        n = img_len - pos;
    }
    memcpy(buf, img + pos, n);
    pos += (uint32_t)n;
    return (int32_t)n;
}

static void s_close(void *ctx)
{
    (void)ctx;
}

static int setup(void **state)
{
    (void)state;
    n_opens = 0;
    drop_at = 0;
    rng = 9;
    t = calloc(1, sizeof(*t));
    mt_node_open(t, 64 * 1024, 21);
    t->host.port.stream_open = s_open;
    t->host.port.stream_read = s_read;
    t->host.port.stream_close = s_close;
    mt_node_reboot(t);
    params = mt_image_defaults();
    params.size = 48000; /* more stream units than MESHOTA_PERSIST_EVERY_CHUNKS */
    img_len = mt_image_build(&params, img, sizeof(img));
    mt_start_for(&params, img, img_len, SESSION, 1, &start);
    start.which_method = meshota_v1_UpdateStart_wifi_tag;
    snprintf(start.method.wifi.url, sizeof(start.method.wifi.url), "https://fw.example/demo.bin");
    start.method.wifi.server_cert_sha256.size = 32;
    memset(start.method.wifi.server_cert_sha256.bytes, 0xAB, 32);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_true(mt_running_intact(t));
    mt_node_close(t);
    free(t);
    return 0;
}

static void expect_image(void)
{
    static uint8_t got[sizeof(img)];
    mt_poll_verify(t);
    assert_int_equal(meshota_node_phase(&t->node), PH(VERIFIED));
    assert_int_equal(meshota_host_read_slot(&t->host, 1, 0, got, img_len), MESHOTA_OK);
    assert_memory_equal(got, img, img_len);
}

static void test_wifi_stream_downloads_and_verifies(void **state)
{
    (void)state;
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    mt_advance(t, 5000);
    assert_int_equal(n_opens, 1);
    assert_int_equal(offsets[0], 0);
    assert_true(pinned);
    expect_image();
}

static void test_wifi_stream_resumes_at_first_missing_unit(void **state)
{
    (void)state;
    drop_at = 5000;
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    mt_advance(t, 100);
    assert_int_equal(meshota_node_phase(&t->node), PH(RECEIVING));
    mt_advance(t, 5000);
    assert_true(n_opens >= 2);
    /* Progress is kept in units of MESHOTA_STREAM_UNIT bytes: the second request starts at
     * the start of the unit in which the first one broke. */
    assert_true(broke_at >= 5000);
    assert_int_equal(offsets[1], broke_at / MESHOTA_STREAM_UNIT * MESHOTA_STREAM_UNIT);
    expect_image();
}

static void test_wifi_stream_resumes_after_power_cut(void **state)
{
    (void)state;
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    uint32_t saved = MESHOTA_PERSIST_EVERY_CHUNKS * MESHOTA_STREAM_UNIT;
    for (int i = 0; i < 300 && meshota_node_bytes_done(&t->node) < saved + 4000; i++) {
        mt_advance(t, 10);
    }
    uint32_t done = meshota_node_bytes_done(&t->node);
    assert_true(done >= saved + 4000 && done < img_len);
    assert_int_equal(n_opens, 1);
    /* The bitmap was last saved at unit MESHOTA_PERSIST_EVERY_CHUNKS: the stream starts there
     * again, and the units after it are written over their own bytes. */
    mt_node_reboot(t);
    assert_int_equal(meshota_node_bytes_done(&t->node), saved);
    mt_advance(t, 5000);
    assert_int_equal(offsets[n_opens - 1], saved);
    expect_image();
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_wifi_stream_downloads_and_verifies),
        T(test_wifi_stream_resumes_at_first_missing_unit),
        T(test_wifi_stream_resumes_after_power_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
