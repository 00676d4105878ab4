/* A real meshota node downloading over the TCP method through the POSIX TCP client port, from a
 * loopback firmware server that cuts every connection after 100 KB, corrupts a frame, or
 * refuses the token. */
#include "net_test_server.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "net_node_glue.h"

#define PH(x) meshota_v1_Phase_PHASE_##x
#define EC(x) meshota_v1_ErrorCode_ERROR_CODE_##x
#define SESSION 0x7C01u
#define CUT_CHUNKS 100u /* 100 chunks of 1024 bytes: 100 KB per connection */
#define IMG_CAP 320000u
static const uint8_t TOKEN[16] = {0x9e, 0x11, 0x42, 0x07, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

static mt_node_t *t;
static uint8_t img[IMG_CAP];
static size_t img_len;
static mt_image_params_t params;
static meshota_v1_UpdateStart start;

/* Server behaviour and what it saw. */
static int corrupt_on_conn;        /* 1-based connection whose 5th chunk frame gets a bad CRC */
static bool server_token_differs;
static uint32_t fetch_index[32];
static int fetches;
static int bad_tokens;

typedef struct {
    meshota_v1_DataFrame f;
    int have;
} rx_ctx_t;

static int on_frame(void *arg, const uint8_t *frame, size_t len)
{
    rx_ctx_t *c = arg;
    if (!meshota_decode(meshota_v1_DataFrame_fields, &c->f, frame, len, NULL)) {
        return 1;
    }
    c->have = 1;
    return 1;
}

static void send_frame(int fd, meshota_v1_DataFrame *f, bool corrupt)
{
    static uint8_t pb[meshota_v1_DataFrame_size];
    static uint8_t out[meshota_v1_DataFrame_size + MESHOTA_STREAM_OVERHEAD];
    size_t len = 0;
    assert_true(meshota_encode(meshota_v1_DataFrame_fields, f, pb, sizeof(pb), &len, NULL));
    size_t n = meshota_stream_encode(pb, len, out, sizeof(out));
    assert_true(n > 0);
    if (corrupt) {
        out[n - 1] ^= 0x5A;
    }
    test_write_all(fd, out, n);
}

static void serve(test_server_t *s, int fd)
{
    static meshota_stream_rx_t rx;
    static rx_ctx_t c;
    meshota_stream_reset(&rx);
    memset(&c, 0, sizeof(c));
    uint8_t buf[512];
    for (int i = 0; i < 200 && !c.have; i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
        if (poll(&p, 1, 20) <= 0) {
            continue;
        }
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0 || meshota_stream_feed(&rx, buf, (size_t)n, on_frame, &c) != MESHOTA_OK) {
            return;
        }
    }
    if (!c.have || c.f.which_body != meshota_v1_DataFrame_fetch_tag) {
        return;
    }
    meshota_v1_FetchRequest req = c.f.body.fetch;
    if (fetches < 32) {
        fetch_index[fetches] = req.next_index;
    }
    fetches++;
    static meshota_v1_DataFrame f;
    memset(&f, 0, sizeof(f));
    bool token_ok = req.token.size == sizeof(TOKEN) && memcmp(req.token.bytes, TOKEN, 16) == 0 &&
                    !server_token_differs;
    if (!token_ok) {
        bad_tokens++;
        f.which_body = meshota_v1_DataFrame_done_tag;
        f.body.done.session_id = req.session_id;
        f.body.done.error = EC(AUTH);
        send_frame(fd, &f, false);
        return;
    }
    uint32_t chunk = req.max_chunk_size < 1440 ? req.max_chunk_size : 1440;
    uint32_t count = (uint32_t)((img_len + chunk - 1) / chunk);
    f.which_body = meshota_v1_DataFrame_info_tag;
    f.body.info.session_id = SESSION;
    f.body.info.image_size = (uint32_t)img_len;
    f.body.info.chunk_size = chunk;
    f.body.info.chunk_count = count;
    send_frame(fd, &f, false);
    uint32_t end = req.next_index + CUT_CHUNKS < count ? req.next_index + CUT_CHUNKS : count;
    for (uint32_t i = req.next_index; i < end; i++) {
        memset(&f, 0, sizeof(f));
        f.which_body = meshota_v1_DataFrame_chunk_tag;
        f.body.chunk.session_id = SESSION;
        f.body.chunk.index = i;
        size_t off = (size_t)i * chunk;
        size_t n = img_len - off < chunk ? img_len - off : chunk;
        f.body.chunk.data.size = (pb_size_t)n;
        memcpy(f.body.chunk.data.bytes, img + off, n);
        bool corrupt = s->conns == corrupt_on_conn && i == req.next_index + 4;
        send_frame(fd, &f, corrupt);
        if (corrupt) {
            break;
        }
    }
    if (end == count) {
        memset(&f, 0, sizeof(f));
        f.which_body = meshota_v1_DataFrame_done_tag;
        f.body.done.session_id = SESSION;
        send_frame(fd, &f, false);
    }
    /* Let the node close first (it has what it needs or drops a bad stream). */
    for (int i = 0; i < 100; i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
        if (poll(&p, 1, 20) > 0 && recv(fd, buf, sizeof(buf), 0) <= 0) {
            break;
        }
        if (end < count) {
            break; /* the cut */
        }
    }
}

static int setup(void **state)
{
    (void)state;
    fetches = 0;
    bad_tokens = 0;
    corrupt_on_conn = 0;
    server_token_differs = false;
    t = calloc(1, sizeof(*t));
    mt_node_open(t, 512 * 1024, 78);
    glue_attach(t);
    params = mt_image_defaults();
    params.size = 300000;
    params.seed = 6;
    img_len = mt_image_build(&params, img, sizeof(img));
    assert_true(img_len > 250000 && img_len <= IMG_CAP);
    mt_start_for(&params, img, img_len, SESSION, 1, &start);
    start.which_method = meshota_v1_UpdateStart_tcp_tag;
    snprintf(start.method.tcp.host, sizeof(start.method.tcp.host), "127.0.0.1");
    start.method.tcp.token.size = sizeof(TOKEN);
    memcpy(start.method.tcp.token.bytes, TOKEN, sizeof(TOKEN));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    meshota_host_net_close(&g_glue.net);
    assert_true(mt_running_intact(t));
    mt_node_close(t);
    free(t);
    return 0;
}

static void run_download(void)
{
    test_server_t srv;
    assert_int_equal(test_server_start_multi(&srv, serve, NULL, 16), 0);
    start.method.tcp.port = srv.port;
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    glue_run(t, 20000);
    test_server_stop(&srv);
}

static void expect_verified_image(void)
{
    static uint8_t got[IMG_CAP];
    assert_int_equal(meshota_node_phase(&t->node), PH(VERIFIED));
    assert_int_equal(meshota_node_bytes_done(&t->node), img_len);
    assert_int_equal(meshota_host_read_slot(&t->host, 1, 0, got, img_len), MESHOTA_OK);
    assert_memory_equal(got, img, img_len);
    assert_true(g_glue.max_percent <= 100);
    assert_true(g_glue.max_bytes_done <= img_len);
}

static void test_node_fetches_over_tcp_resuming_after_cuts_every_100k(void **state)
{
    (void)state;
    run_download();
    expect_verified_image();
    /* 293 chunks of 1024 bytes in three connections, each resuming at the first missing. */
    assert_int_equal(fetches, 3);
    assert_int_equal(fetch_index[0], 0);
    assert_int_equal(fetch_index[1], 100);
    assert_int_equal(fetch_index[2], 200);
    assert_int_equal(g_glue.net_opens, 3);
}

static void test_node_drops_a_corrupted_frame_and_resumes_from_it(void **state)
{
    (void)state;
    corrupt_on_conn = 2; /* the 5th chunk of the second connection, chunk 104, has a bad CRC */
    run_download();
    expect_verified_image();
    assert_int_equal(fetches, 4);
    assert_int_equal(fetch_index[1], 100);
    assert_int_equal(fetch_index[2], 104);
    assert_int_equal(fetch_index[3], 204);
}

static void test_node_fails_with_auth_on_a_wrong_token(void **state)
{
    (void)state;
    server_token_differs = true;
    run_download();
    assert_int_equal(meshota_node_phase(&t->node), PH(FAILED));
    assert_int_equal(meshota_node_error(&t->node), EC(AUTH));
    assert_int_equal(bad_tokens, 1);
    assert_int_equal(g_glue.net_opens, 1); /* a refused token is final: no retry */
    assert_int_equal(meshota_node_bytes_done(&t->node), 0);
}

static void test_node_retries_then_fails_when_nothing_listens(void **state)
{
    (void)state;
    start.method.tcp.port = test_free_port();
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    glue_run(t, 20000);
    assert_int_equal(meshota_node_phase(&t->node), PH(FAILED));
    assert_int_equal(meshota_node_error(&t->node), EC(NETWORK));
    assert_int_equal(g_glue.net_opens, MESHOTA_NET_MAX_RETRIES + 1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_node_fetches_over_tcp_resuming_after_cuts_every_100k),
        T(test_node_drops_a_corrupted_frame_and_resumes_from_it),
        T(test_node_fails_with_auth_on_a_wrong_token),
        T(test_node_retries_then_fails_when_nothing_listens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
