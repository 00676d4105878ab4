/* Tests of the HTTP/1.1 stream source port against scripted loopback servers. */
#include "net_test_server.h"

#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "meshota_host_net/meshota_host_http.h"

#define IMAGE_SIZE 200000u
static uint8_t g_image[IMAGE_SIZE];

typedef enum {
    SERVE_RANGES,          /* 206 for a Range, 200 otherwise */
    SERVE_IGNORE_RANGE,    /* always 200 with the whole image */
    SERVE_WRONG_START,     /* 206 whose Content-Range starts one byte late */
    SERVE_404,
    SERVE_416,
    SERVE_CHUNKED,
    SERVE_SHORT_BODY,      /* Content-Length of the whole image, half of it, then close */
    SERVE_DRIBBLE,         /* headers one byte per write, then the body */
    SERVE_NO_LENGTH,       /* 200 without Content-Length, body ended by close */
    SERVE_SHORT_200,       /* 200 whose Content-Length is below the requested offset */
} mode_t_;

static void serve_http(test_server_t *s, int fd)
{
    mode_t_ mode = (mode_t_)(intptr_t)s->arg;
    test_read_until(s, fd, "\r\n\r\n");
    unsigned long start = 0;
    const char *r = strstr(s->request, "Range: bytes=");
    if (r != NULL) {
        start = strtoul(r + 13, NULL, 10);
    }
    char head[512];
    int n = 0;
    const uint8_t *body = g_image;
    size_t body_len = IMAGE_SIZE;
    switch (mode) {
    case SERVE_RANGES:
    case SERVE_WRONG_START:
        if (r != NULL) {
            unsigned long shown = mode == SERVE_WRONG_START ? start + 1 : start;
            n = snprintf(head, sizeof(head),
                         "HTTP/1.1 206 Partial Content\r\nContent-Length: %lu\r\n"
                         "Content-Range: bytes %lu-%u/%u\r\nAccept-Ranges: bytes\r\n\r\n",
                         IMAGE_SIZE - start, shown, IMAGE_SIZE - 1, IMAGE_SIZE);
            body += start;
            body_len -= start;
            break;
        }
        /* fall through */
    case SERVE_IGNORE_RANGE:
    case SERVE_DRIBBLE:
        n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n"
                     "Content-Type: application/octet-stream\r\n\r\n", IMAGE_SIZE);
        break;
    case SERVE_404:
        n = snprintf(head, sizeof(head), "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        body_len = 0;
        break;
    case SERVE_416:
        n = snprintf(head, sizeof(head), "HTTP/1.1 416 Range Not Satisfiable\r\n"
                     "Content-Range: bytes */%u\r\nContent-Length: 0\r\n\r\n", IMAGE_SIZE);
        body_len = 0;
        break;
    case SERVE_CHUNKED:
        n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "10\r\n0123456789abcdef\r\n0\r\n\r\n");
        body_len = 0;
        break;
    case SERVE_SHORT_BODY:
        n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n",
                     IMAGE_SIZE);
        body_len = IMAGE_SIZE / 2;
        break;
    case SERVE_NO_LENGTH:
        n = snprintf(head, sizeof(head), "HTTP/1.0 200 OK\r\nConnection: close\r\n\r\n");
        break;
    case SERVE_SHORT_200:
        n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
        body_len = 1000;
        break;
    }
    if (mode == SERVE_DRIBBLE) {
        for (int i = 0; i < n; i++) {
            test_write_all(fd, &head[i], 1);
            if (i % 8 == 0) {
                test_sleep_ms(1);
            }
        }
    } else {
        test_write_all(fd, head, (size_t)n);
    }
    test_write_all(fd, body, body_len);
}

static meshota_host_http_t g_h;
static uint8_t g_out[IMAGE_SIZE + 16];

/* Read until 0 or an error (bounded); returns the final result, bytes in *got. */
static int32_t read_all(size_t *got, size_t piece)
{
    *got = 0;
    for (int i = 0; i < 200000; i++) {
        size_t want = piece;
        if (want > sizeof(g_out) - *got) {
            want = sizeof(g_out) - *got;
        }
        int32_t r = meshota_host_http_read(&g_h, &g_out[*got], want);
        if (r > 0) {
            *got += (size_t)r;
            continue;
        }
        if (r == -(int32_t)MESHOTA_ERR_WOULD_BLOCK) {
            short ev = 0;
            int fd = meshota_host_http_fd(&g_h, &ev);
            struct pollfd p = {.fd = fd, .events = ev, .revents = 0};
            (void)poll(&p, 1, 5);
            continue;
        }
        return r;
    }
    return 1; /* did not finish */
}

static int32_t fetch(mode_t_ mode, uint32_t offset, size_t *got, size_t piece, test_server_t *srv)
{
    meshota_host_http_init(&g_h);
    assert_int_equal(test_server_start(srv, serve_http, (void *)(intptr_t)mode), 0);
    char url[96];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/fw/app.bin", (unsigned)srv->port);
    assert_int_equal(meshota_host_http_open(&g_h, url, NULL, NULL, offset), MESHOTA_OK);
    int32_t r = read_all(got, piece);
    if (r < 0) {
        /* A failed stream stays failed: it never restarts by itself. */
        assert_int_equal(meshota_host_http_read(&g_h, g_out, 1), r);
        assert_int_equal(g_h.state, MESHOTA_HOST_HTTP_FAILED);
    }
    meshota_host_http_close(&g_h);
    test_server_join(srv);
    return r;
}

static void test_whole_image_from_zero(void **state)
{
    (void)state;
    test_server_t srv;
    size_t got = 0;
    assert_int_equal(fetch(SERVE_RANGES, 0, &got, 256, &srv), 0);
    assert_int_equal(got, IMAGE_SIZE);
    assert_memory_equal(g_out, g_image, IMAGE_SIZE);
    assert_non_null(strstr(srv.request, "GET /fw/app.bin HTTP/1.1\r\n"));
    assert_non_null(strstr(srv.request, "\r\nHost: 127.0.0.1:"));
    assert_null(strstr(srv.request, "Range:"));
    assert_int_equal(g_h.status, 200);
    assert_int_equal(g_h.skipped, 0);
}

static void test_resume_sends_range_and_reads_from_offset(void **state)
{
    (void)state;
    test_server_t srv;
    size_t got = 0;
    assert_int_equal(fetch(SERVE_RANGES, 123457, &got, 1000, &srv), 0);
    assert_non_null(strstr(srv.request, "\r\nRange: bytes=123457-\r\n"));
    assert_int_equal(g_h.status, 206);
    assert_int_equal(got, IMAGE_SIZE - 123457);
    assert_memory_equal(g_out, &g_image[123457], IMAGE_SIZE - 123457);
}

static void test_resume_after_server_ignores_range(void **state)
{
    (void)state;
    /* The server answers 200 with the whole image: the first 100000 bytes are skipped, so the
     * node gets exactly bytes 100000.. and never more than the image. */
    test_server_t srv;
    size_t got = 0;
    assert_int_equal(fetch(SERVE_IGNORE_RANGE, 100000, &got, 256, &srv), 0);
    assert_non_null(strstr(srv.request, "\r\nRange: bytes=100000-\r\n"));
    assert_int_equal(g_h.status, 200);
    assert_int_equal(got, IMAGE_SIZE - 100000);
    assert_memory_equal(g_out, &g_image[100000], IMAGE_SIZE - 100000);
    assert_int_equal(g_h.skipped, 100000);
}

static void test_200_shorter_than_offset_fails(void **state)
{
    (void)state;
    test_server_t srv;
    size_t got = 0;
    assert_int_equal(fetch(SERVE_SHORT_200, 5000, &got, 256, &srv), -(int32_t)MESHOTA_ERR_NET);
    assert_int_equal(got, 0);
}

static void test_206_at_another_offset_fails(void **state)
{
    (void)state;
    test_server_t srv;
    size_t got = 0;
    assert_int_equal(fetch(SERVE_WRONG_START, 4096, &got, 256, &srv), -(int32_t)MESHOTA_ERR_NET);
    assert_int_equal(got, 0);
    assert_int_equal(g_h.status, 206);
}

static void test_error_statuses_fail(void **state)
{
    (void)state;
    test_server_t srv;
    size_t got = 0;
    assert_int_equal(fetch(SERVE_404, 0, &got, 256, &srv), -(int32_t)MESHOTA_ERR_NET);
    assert_int_equal(g_h.status, 404);
    assert_int_equal(fetch(SERVE_416, 300000, &got, 256, &srv), -(int32_t)MESHOTA_ERR_NET);
    assert_int_equal(g_h.status, 416);
    assert_int_equal(fetch(SERVE_CHUNKED, 0, &got, 256, &srv), -(int32_t)MESHOTA_ERR_UNSUPPORTED);
    assert_int_equal(got, 0);
}

static void test_body_cut_short_fails_after_delivering_what_came(void **state)
{
    (void)state;
    test_server_t srv;
    size_t got = 0;
    assert_int_equal(fetch(SERVE_SHORT_BODY, 0, &got, 4096, &srv), -(int32_t)MESHOTA_ERR_NET);
    assert_int_equal(got, IMAGE_SIZE / 2);
    assert_memory_equal(g_out, g_image, IMAGE_SIZE / 2);
}

static void test_headers_in_single_bytes(void **state)
{
    (void)state;
    test_server_t srv;
    size_t got = 0;
    assert_int_equal(fetch(SERVE_DRIBBLE, 0, &got, 777, &srv), 0);
    assert_int_equal(got, IMAGE_SIZE);
    assert_memory_equal(g_out, g_image, IMAGE_SIZE);
}

static void test_body_ended_by_close(void **state)
{
    (void)state;
    test_server_t srv;
    size_t got = 0;
    assert_int_equal(fetch(SERVE_NO_LENGTH, 0, &got, 4096, &srv), 0);
    assert_int_equal(got, IMAGE_SIZE);
    assert_memory_equal(g_out, g_image, IMAGE_SIZE);
}

static void test_urls(void **state)
{
    (void)state;
    meshota_host_http_init(&g_h);
    static const uint8_t pin[32] = {1};
    assert_int_equal(meshota_host_http_open(&g_h, "https://127.0.0.1/fw", pin, NULL, 0),
                     MESHOTA_ERR_UNSUPPORTED);
    assert_int_equal(meshota_host_http_open(&g_h, "ftp://127.0.0.1/fw", NULL, NULL, 0),
                     MESHOTA_ERR_UNSUPPORTED);
    assert_int_equal(meshota_host_http_open(&g_h, "127.0.0.1/fw", NULL, NULL, 0),
                     MESHOTA_ERR_INVALID_ARG);
    assert_int_equal(meshota_host_http_open(&g_h, "http://", NULL, NULL, 0),
                     MESHOTA_ERR_INVALID_ARG);
    assert_int_equal(meshota_host_http_open(&g_h, "http://127.0.0.1:0/", NULL, NULL, 0),
                     MESHOTA_ERR_INVALID_ARG);
    assert_int_equal(meshota_host_http_open(&g_h, "http://127.0.0.1:65536/", NULL, NULL, 0),
                     MESHOTA_ERR_INVALID_ARG);
    assert_int_equal(meshota_host_http_open(&g_h, "http://127.0.0.1:80x/", NULL, NULL, 0),
                     MESHOTA_ERR_INVALID_ARG);
    assert_int_equal(meshota_host_http_open(&g_h, "http://127.0.0.1/a b", NULL, NULL, 0),
                     MESHOTA_ERR_INVALID_ARG);
    assert_int_equal(meshota_host_http_read(&g_h, g_out, 10), -(int32_t)MESHOTA_ERR_INVALID_ARG);
    /* Nothing listens: the connect fails, at once or on the first read. */
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)test_free_port());
    meshota_err_t e = meshota_host_http_open(&g_h, url, NULL, NULL, 0);
    if (e == MESHOTA_OK) {
        size_t got = 0;
        assert_int_equal(read_all(&got, 16), -(int32_t)MESHOTA_ERR_NET);
    } else {
        assert_int_equal(e, MESHOTA_ERR_NET);
    }
    meshota_host_http_close(&g_h);
}

int main(void)
{
    uint32_t x = 0x12345678u;
    for (size_t i = 0; i < IMAGE_SIZE; i++) {
        x = x * 1664525u + 1013904223u;
        g_image[i] = (uint8_t)(x >> 24);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_image_from_zero),
        cmocka_unit_test(test_resume_sends_range_and_reads_from_offset),
        cmocka_unit_test(test_resume_after_server_ignores_range),
        cmocka_unit_test(test_200_shorter_than_offset_fails),
        cmocka_unit_test(test_206_at_another_offset_fails),
        cmocka_unit_test(test_error_statuses_fail),
        cmocka_unit_test(test_body_cut_short_fails_after_delivering_what_came),
        cmocka_unit_test(test_headers_in_single_bytes),
        cmocka_unit_test(test_body_ended_by_close),
        cmocka_unit_test(test_urls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
