/* A real meshota node downloading over the Wi-Fi method through the POSIX HTTP stream port,
 * from a loopback server that cuts every connection after 100 KB, with and without Range
 * support. Progress must never pass 100 % and the image must verify. */
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
#define SESSION 0x51A7u
#define CUT (100u * 1024u)
#define IMG_CAP 320000u

static mt_node_t *t;
static uint8_t img[IMG_CAP];
static size_t img_len;
static mt_image_params_t params;
static meshota_v1_UpdateStart start;

typedef enum { HONOUR_RANGE, IGNORE_RANGE, NOT_FOUND } http_mode_t;
static http_mode_t mode;
static unsigned long range_starts[32];
static int requests;

/* One HTTP exchange; the connection is cut after CUT new bytes. */
static void serve(test_server_t *s, int fd)
{
    test_read_until(s, fd, "\r\n\r\n");
    unsigned long from = 0;
    const char *r = strstr(s->request, "\r\nRange: bytes=");
    if (r != NULL) {
        from = strtoul(r + 15, NULL, 10);
    }
    if (requests < 32) {
        range_starts[requests] = r != NULL ? from : (unsigned long)-1;
    }
    requests++;
    char head[256];
    int n;
    if (mode == NOT_FOUND) {
        n = snprintf(head, sizeof(head), "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        test_write_all(fd, head, (size_t)n);
        return;
    }
    size_t body_from = 0;
    if (mode == HONOUR_RANGE && r != NULL) {
        n = snprintf(head, sizeof(head),
                     "HTTP/1.1 206 Partial Content\r\nContent-Length: %zu\r\n"
                     "Content-Range: bytes %lu-%zu/%zu\r\n\r\n",
                     img_len - from, from, img_len - 1, img_len);
        body_from = from;
    } else {
        n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", img_len);
    }
    test_write_all(fd, head, (size_t)n);
    size_t end = from + CUT < img_len ? from + CUT : img_len;
    test_write_all(fd, img + body_from, end - body_from);
    /* Wait for the node to hang up (it has read what it needs) before closing. */
    struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
    char c[64];
    for (int i = 0; i < 100 && end == img_len; i++) {
        if (poll(&p, 1, 20) > 0 && recv(fd, c, sizeof(c), 0) <= 0) {
            break;
        }
    }
}

static int setup(void **state)
{
    (void)state;
    requests = 0;
    memset(range_starts, 0, sizeof(range_starts));
    t = calloc(1, sizeof(*t));
    mt_node_open(t, 512 * 1024, 77);
    glue_attach(t);
    params = mt_image_defaults();
    params.size = 300000;
    params.seed = 5;
    img_len = mt_image_build(&params, img, sizeof(img));
    assert_true(img_len > 250000 && img_len <= IMG_CAP);
    mt_start_for(&params, img, img_len, SESSION, 1, &start);
    start.which_method = meshota_v1_UpdateStart_wifi_tag;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    meshota_host_http_close(&g_glue.http);
    assert_true(mt_running_intact(t));
    mt_node_close(t);
    free(t);
    return 0;
}

static void run_download(test_server_t *srv)
{
    snprintf(start.method.wifi.url, sizeof(start.method.wifi.url), "http://127.0.0.1:%u/fw.bin",
             (unsigned)srv->port);
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    glue_run(t, 20000);
    test_server_stop(srv);
}

static void expect_verified_image(void)
{
    static uint8_t got[IMG_CAP];
    assert_int_equal(meshota_node_phase(&t->node), PH(VERIFIED));
    assert_int_equal(meshota_node_bytes_done(&t->node), img_len);
    assert_int_equal(meshota_host_read_slot(&t->host, 1, 0, got, img_len), MESHOTA_OK);
    assert_memory_equal(got, img, img_len);
    assert_true(g_glue.reports > 0);
    assert_true(g_glue.max_percent <= 100);
    assert_true(g_glue.max_bytes_done <= img_len);
}

static void test_node_resumes_with_range_after_cuts_every_100k(void **state)
{
    (void)state;
    mode = HONOUR_RANGE;
    test_server_t srv;
    assert_int_equal(test_server_start_multi(&srv, serve, NULL, 16), 0);
    run_download(&srv);
    expect_verified_image();
    /* 300 KB in three connections; each resumes exactly where the previous one was cut. */
    assert_int_equal(requests, 3);
    assert_int_equal(range_starts[0], (unsigned long)-1);
    assert_int_equal(range_starts[1], CUT);
    assert_int_equal(range_starts[2], 2 * CUT);
    assert_int_equal(g_glue.http.skipped, 0);
}

static void test_node_survives_a_server_that_ignores_range(void **state)
{
    (void)state;
    mode = IGNORE_RANGE;
    test_server_t srv;
    assert_int_equal(test_server_start_multi(&srv, serve, NULL, 16), 0);
    run_download(&srv);
    expect_verified_image();
    assert_int_equal(requests, 3);
    assert_int_equal(range_starts[1], CUT);
    assert_int_equal(range_starts[2], 2 * CUT);
    /* Each 200 answer started at byte 0: what the node held was skipped, not written again. */
    assert_int_equal(g_glue.http.skipped, CUT + 2 * CUT);
}

static void test_node_fails_with_network_error_on_404(void **state)
{
    (void)state;
    mode = NOT_FOUND;
    test_server_t srv;
    assert_int_equal(test_server_start_multi(&srv, serve, NULL, 16), 0);
    run_download(&srv);
    assert_int_equal(meshota_node_phase(&t->node), PH(FAILED));
    assert_int_equal(meshota_node_error(&t->node), EC(NETWORK));
    assert_int_equal(meshota_node_bytes_done(&t->node), 0);
    assert_true(requests >= 2);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_node_resumes_with_range_after_cuts_every_100k),
        T(test_node_survives_a_server_that_ignores_range),
        T(test_node_fails_with_network_error_on_404),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
