/* TCP method: FetchRequest from the first missing chunk, stream framing over any split,
 * reconnects, refused tokens, unreachable servers, and secrets kept out of the log. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "meshota_codec.h"
#include "meshota_core/meshota_stream.h"
#include "meshota_testlib.h"

#define PH(x) meshota_v1_Phase_PHASE_##x
#define EC(x) meshota_v1_ErrorCode_ERROR_CODE_##x
#define SESSION 0x7C9u
#define CHUNK 1000u
#define TOKEN "tok-5ecret-0042"
#define SSID "plant-floor-3"
#define PASSWORD "hunter2-very-secret"

static mt_node_t *t;
static uint8_t img[32768];
static size_t img_len;
static mt_image_params_t params;
static meshota_v1_UpdateStart start;

/* Fake net port. */
static int opens;
static int closes;
static bool open_fails;
static char open_host[64];
static uint16_t open_port;
static char open_password[65];
static meshota_stream_rx_t from_node;
static meshota_v1_DataFrame last_from_node;
static int frames_from_node;
static char log_all[65536];
static size_t log_len;

static meshota_err_t f_open(void *ctx, const char *host, uint16_t port,
                            const meshota_wifi_creds_t *creds)
{
    (void)ctx;
    opens++;
    snprintf(open_host, sizeof(open_host), "%s", host);
    open_port = port;
    snprintf(open_password, sizeof(open_password), "%s", creds != NULL ? creds->password : "");
    meshota_stream_reset(&from_node);
    return open_fails ? MESHOTA_ERR_NET : MESHOTA_OK;
}

static int on_node_frame(void *arg, const uint8_t *frame, size_t len)
{
    (void)arg;
    assert_true(meshota_decode(meshota_v1_DataFrame_fields, &last_from_node, frame, len, NULL));
    frames_from_node++;
    return 0;
}

static meshota_err_t f_send(void *ctx, const uint8_t *data, size_t len)
{
    (void)ctx;
    assert_int_equal(meshota_stream_feed(&from_node, data, len, on_node_frame, NULL), MESHOTA_OK);
    return MESHOTA_OK;
}

static void f_close(void *ctx)
{
    (void)ctx;
    closes++;
}

static void capture_log(void *user, meshota_log_level_t level, const char *line)
{
    (void)user;
    (void)level;
    size_t n = strlen(line);
    if (log_len + n + 2 < sizeof(log_all)) {
        memcpy(log_all + log_len, line, n);
        log_len += n;
        log_all[log_len++] = '\n';
        log_all[log_len] = '\0';
    }
}

static int setup(void **state)
{
    (void)state;
    opens = closes = frames_from_node = 0;
    open_fails = false;
    log_len = 0;
    log_all[0] = '\0';
    t = calloc(1, sizeof(*t));
    mt_node_open(t, 64 * 1024, 3);
    t->host.port.net_open = f_open;
    t->host.port.net_send = f_send;
    t->host.port.net_close = f_close;
    t->host.log_hook = capture_log;
    mt_node_reboot(t); /* re-init so the node sees the net functions */
    params = mt_image_defaults();
    img_len = mt_image_build(&params, img, sizeof(img));
    mt_start_for(&params, img, img_len, SESSION, CHUNK, &start);
    start.which_method = meshota_v1_UpdateStart_tcp_tag;
    snprintf(start.method.tcp.host, sizeof(start.method.tcp.host), "192.168.4.1");
    start.method.tcp.port = 7420;
    start.method.tcp.token.size = (pb_size_t)strlen(TOKEN);
    memcpy(start.method.tcp.token.bytes, TOKEN, strlen(TOKEN));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_true(mt_running_intact(t));
    /* No secret ever reaches the log, at any level (and the log did record the session). */
    assert_true(log_len > 0);
    assert_null(strstr(log_all, PASSWORD));
    assert_null(strstr(log_all, TOKEN));
    assert_null(strstr(log_all, SSID));
    mt_node_close(t);
    free(t);
    return 0;
}

static uint32_t n_chunks(void)
{
    return (uint32_t)((img_len + CHUNK - 1) / CHUNK);
}

/* Server side: frame @p f and deliver it in pieces of 1..97 bytes. */
static void server_send(const meshota_v1_DataFrame *f, uint32_t *rng)
{
    static uint8_t enc[1600];
    static uint8_t wire[1600];
    size_t len = 0;
    assert_true(meshota_encode(meshota_v1_DataFrame_fields, f, enc, sizeof(enc), &len, NULL));
    size_t n = meshota_stream_encode(enc, len, wire, sizeof(wire));
    assert_true(n > 0);
    for (size_t at = 0; at < n;) {
        *rng = *rng * 1103515245u + 12345u;
        size_t k = 1 + (*rng >> 16) % 97;
        if (k > n - at) {
            k = n - at;
        }
        meshota_node_net_recv(&t->node, wire + at, k);
        at += k;
    }
}

static void server_info(uint32_t *rng)
{
    meshota_v1_DataFrame f = meshota_v1_DataFrame_init_zero;
    f.which_body = meshota_v1_DataFrame_info_tag;
    f.body.info.session_id = SESSION;
    f.body.info.image_size = (uint32_t)img_len;
    f.body.info.chunk_size = CHUNK;
    f.body.info.chunk_count = n_chunks();
    server_send(&f, rng);
}

static void server_chunk(uint32_t index, uint32_t *rng)
{
    static meshota_v1_DataFrame f;
    memset(&f, 0, sizeof(f));
    f.which_body = meshota_v1_DataFrame_chunk_tag;
    f.body.chunk.session_id = SESSION;
    f.body.chunk.index = index;
    size_t off = (size_t)index * CHUNK;
    size_t len = img_len - off < CHUNK ? img_len - off : CHUNK;
    memcpy(f.body.chunk.data.bytes, img + off, len);
    f.body.chunk.data.size = (pb_size_t)len;
    server_send(&f, rng);
}

static void connect_and_expect_fetch(uint32_t next_index)
{
    int before = opens;
    mt_advance(t, 10 * 1000);
    assert_int_equal(opens, before + 1);
    assert_string_equal(open_host, "192.168.4.1");
    assert_int_equal(open_port, 7420);
    meshota_node_net_connected(&t->node);
    assert_int_equal(last_from_node.which_body, meshota_v1_DataFrame_fetch_tag);
    assert_int_equal(last_from_node.body.fetch.session_id, SESSION);
    assert_int_equal(last_from_node.body.fetch.next_index, next_index);
    assert_int_equal(last_from_node.body.fetch.max_chunk_size, 1024);
    assert_int_equal(last_from_node.body.fetch.token.size, strlen(TOKEN));
    assert_memory_equal(last_from_node.body.fetch.token.bytes, TOKEN, strlen(TOKEN));
}

static bool holds(const void *mem, size_t len, const char *secret)
{
    return memmem(mem, len, secret, strlen(secret)) != NULL;
}

static void test_tcp_fetch_streams_and_verifies(void **state)
{
    (void)state;
    uint32_t rng = 1;
    meshota_v1_CredentialsSet cs = meshota_v1_CredentialsSet_init_zero;
    cs.session_id = SESSION;
    snprintf(cs.ssid, sizeof(cs.ssid), SSID);
    snprintf(cs.password, sizeof(cs.password), PASSWORD);
    mt_control(t, MESHOTA_OP_CREDENTIALS_SET, &cs);
    assert_int_equal(mt_last_status(t).error, EC(NONE));
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    assert_int_equal(mt_last_status(t).phase, PH(STARTING));
    connect_and_expect_fetch(0);
    assert_string_equal(open_password, PASSWORD); /* credentials reach the port, not the log */
    server_info(&rng);
    assert_int_equal(meshota_node_phase(&t->node), PH(RECEIVING));
    for (uint32_t i = 0; i < n_chunks(); i++) {
        server_chunk(i, &rng);
    }
    /* Complete: the node says so and closes. */
    assert_int_equal(last_from_node.which_body, meshota_v1_DataFrame_done_tag);
    assert_int_equal(last_from_node.body.done.error, EC(NONE));
    assert_int_equal(closes, 1);
    mt_poll_verify(t);
    assert_int_equal(meshota_node_phase(&t->node), PH(VERIFIED));
    /* The side channel is done with: the Wi-Fi password and SSID are gone from RAM and flash. */
    assert_false(holds(&t->node, sizeof(t->node), PASSWORD));
    assert_false(holds(&t->node, sizeof(t->node), SSID));
    assert_false(holds(&t->node.s, sizeof(t->node.s), TOKEN)); /* the session keeps no token */
    bool record = false;
    for (int i = 0; i < MESHOTA_HOST_KV_MAX; i++) {
        if (t->host.kv[i].val != NULL) {
            record |= strcmp(t->host.kv[i].key, "ota.sess") == 0;
            assert_false(holds(t->host.kv[i].val, t->host.kv[i].len, PASSWORD));
            assert_false(holds(t->host.kv[i].val, t->host.kv[i].len, SSID));
            assert_false(holds(t->host.kv[i].val, t->host.kv[i].len, TOKEN));
        }
    }
    assert_true(record);
}

static void test_tcp_resume_fetches_from_first_missing_chunk(void **state)
{
    (void)state;
    uint32_t rng = 2;
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    connect_and_expect_fetch(0);
    server_info(&rng);
    for (uint32_t i = 0; i < 7; i++) {
        server_chunk(i, &rng);
    }
    meshota_node_net_closed(&t->node, MESHOTA_ERR_NET);
    connect_and_expect_fetch(7);
    server_info(&rng);
    server_chunk(7, &rng);
    server_chunk(9, &rng);
    /* The drop saves the bitmap: after a power cut the node asks for chunk 8 first. */
    meshota_node_net_closed(&t->node, MESHOTA_ERR_NET);
    connect_and_expect_fetch(8);
    server_info(&rng);
    server_chunk(8, &rng);
    server_chunk(10, &rng);
    /* Chunks 8 and 10 came after the last save: after the cut they are fetched again. */
    mt_node_reboot(t);
    connect_and_expect_fetch(8);
    server_info(&rng);
    for (uint32_t i = 8; i < n_chunks(); i++) {
        server_chunk(i, &rng);
    }
    mt_poll_verify(t);
    assert_int_equal(meshota_node_phase(&t->node), PH(VERIFIED));
    static uint8_t got[32768];
    assert_int_equal(meshota_host_read_slot(&t->host, 1, 0, got, img_len), MESHOTA_OK);
    assert_memory_equal(got, img, img_len);
}

static void test_tcp_bad_crc_closes_and_reconnects(void **state)
{
    (void)state;
    uint32_t rng = 3;
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    connect_and_expect_fetch(0);
    server_info(&rng);
    server_chunk(0, &rng);
    uint8_t wire[16];
    size_t n = meshota_stream_encode((const uint8_t *)"\x2a\x00", 2, wire, sizeof(wire));
    wire[n - 1] ^= 0xFF;
    meshota_node_net_recv(&t->node, wire, n);
    assert_int_equal(closes, 1);
    assert_int_equal(meshota_node_phase(&t->node), PH(RECEIVING));
    connect_and_expect_fetch(1);
    /* An oversize length closes it too. */
    const uint8_t huge[2] = {0xFF, 0xFF};
    meshota_node_net_recv(&t->node, huge, 2);
    assert_int_equal(closes, 2);
}

static void test_tcp_refused_token_gets_auth(void **state)
{
    (void)state;
    uint32_t rng = 4;
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    connect_and_expect_fetch(0);
    meshota_v1_DataFrame f = meshota_v1_DataFrame_init_zero;
    f.which_body = meshota_v1_DataFrame_done_tag;
    f.body.done.session_id = SESSION;
    f.body.done.error = EC(AUTH);
    server_send(&f, &rng);
    assert_int_equal(meshota_node_phase(&t->node), PH(FAILED));
    assert_int_equal(meshota_node_error(&t->node), EC(AUTH));
    meshota_v1_UpdateStatus st = mt_last_status(t);
    assert_int_equal(st.phase, PH(FAILED));
    assert_int_equal(st.error, EC(AUTH));
}

static void test_tcp_unreachable_server_gets_network(void **state)
{
    (void)state;
    open_fails = true;
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    mt_advance(t, 60 * 1000);
    assert_int_equal(opens, MESHOTA_NET_MAX_RETRIES + 1);
    assert_int_equal(meshota_node_phase(&t->node), PH(FAILED));
    assert_int_equal(meshota_node_error(&t->node), EC(NETWORK));
}

static void test_credentials_of_one_session_never_reach_another(void **state)
{
    (void)state;
    meshota_v1_CredentialsSet cs = meshota_v1_CredentialsSet_init_zero;
    cs.session_id = SESSION + 7;
    snprintf(cs.ssid, sizeof(cs.ssid), SSID);
    snprintf(cs.password, sizeof(cs.password), PASSWORD);
    mt_control(t, MESHOTA_OP_CREDENTIALS_SET, &cs);
    assert_int_equal(mt_last_status(t).error, EC(NONE));
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    connect_and_expect_fetch(0);
    assert_string_equal(open_password, ""); /* session SESSION + 7's password is not used */
    /* Credentials sent for the running session are taken at once and survive a restart. */
    cs.session_id = SESSION;
    mt_control(t, MESHOTA_OP_CREDENTIALS_SET, &cs);
    assert_int_equal(mt_last_status(t).error, EC(NONE));
    mt_node_reboot(t);
    connect_and_expect_fetch(0);
    assert_string_equal(open_password, PASSWORD);
}

static void test_tcp_chunk_size_above_node_maximum_is_refused(void **state)
{
    (void)state;
    uint32_t rng = 5;
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    connect_and_expect_fetch(0);
    meshota_v1_DataFrame f = meshota_v1_DataFrame_init_zero;
    f.which_body = meshota_v1_DataFrame_info_tag;
    f.body.info.session_id = SESSION;
    f.body.info.image_size = (uint32_t)img_len;
    f.body.info.chunk_size = 1400; /* node accepts 1024 */
    f.body.info.chunk_count = (uint32_t)((img_len + 1399) / 1400);
    server_send(&f, &rng);
    assert_int_equal(last_from_node.which_body, meshota_v1_DataFrame_done_tag);
    assert_int_equal(last_from_node.body.done.error, EC(CHUNK_TOO_LARGE));
    assert_int_equal(closes, 1);
    assert_int_equal(meshota_node_bytes_done(&t->node), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_tcp_fetch_streams_and_verifies),
        T(test_tcp_resume_fetches_from_first_missing_chunk),
        T(test_tcp_bad_crc_closes_and_reconnects),
        T(test_tcp_refused_token_gets_auth),
        T(test_tcp_unreachable_server_gets_network),
        T(test_tcp_chunk_size_above_node_maximum_is_refused),
        T(test_credentials_of_one_session_never_reach_another),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
