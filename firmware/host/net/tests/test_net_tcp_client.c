/* Tests of the POSIX TCP client port against scripted loopback servers. */
#include "net_test_server.h"

#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "meshota/v1/data.pb.h"
#include "meshota_core/meshota_stream.h"
#include "meshota_host_net/meshota_host_net.h"
#include "pb_encode.h"

/* What the client's callbacks saw. */
typedef struct {
    meshota_host_net_t *net;
    int connected;
    int closed;
    meshota_err_t reason;
    int recv_calls;
    size_t got;
    uint8_t data[300000];
    int close_on_first_recv;
    meshota_stream_rx_t rx;
    int frames;
    uint32_t frame_bytes;
    int feed_stream;
} seen_t;

static void on_connected(void *arg)
{
    ((seen_t *)arg)->connected++;
}

static int on_frame(void *arg, const uint8_t *frame, size_t len)
{
    seen_t *s = arg;
    s->frames++;
    s->frame_bytes += (uint32_t)len;
    (void)frame;
    return 0;
}

static void on_recv(void *arg, const uint8_t *data, size_t len)
{
    seen_t *s = arg;
    s->recv_calls++;
    if (s->got + len <= sizeof(s->data)) {
        memcpy(&s->data[s->got], data, len);
    }
    s->got += len;
    if (s->feed_stream) {
        assert_int_equal(meshota_stream_feed(&s->rx, data, len, on_frame, s), MESHOTA_OK);
    }
    if (s->close_on_first_recv) {
        meshota_host_net_close(s->net);
    }
}

static void on_closed(void *arg, meshota_err_t reason)
{
    seen_t *s = arg;
    s->closed++;
    s->reason = reason;
}

static seen_t g_seen;

static void setup_client(meshota_host_net_t *net)
{
    memset(&g_seen, 0, sizeof(g_seen));
    g_seen.net = net;
    meshota_stream_reset(&g_seen.rx);
    const meshota_host_net_events_t ev = {on_connected, on_recv, on_closed, &g_seen};
    meshota_host_net_init(net, &ev);
}

/* Poll (bounded: 2000 rounds of at most 5 ms) until @p done says so. */
static void pump_until(meshota_host_net_t *net, int (*done)(void))
{
    for (int i = 0; i < 2000 && !done(); i++) {
        (void)meshota_host_net_poll(net, 5);
    }
}

static int is_connected(void)
{
    return g_seen.connected > 0 || g_seen.closed > 0;
}

static int is_closed(void)
{
    return g_seen.closed > 0;
}

static uint8_t pattern(size_t i)
{
    return (uint8_t)((i * 2654435761u) >> 13);
}

/* Server: read "hello", answer 250000 pattern bytes in uneven writes, then close. */
static void serve_hello(test_server_t *s, int fd)
{
    test_read_until(s, fd, "hello");
    static uint8_t buf[250000];
    for (size_t i = 0; i < sizeof(buf); i++) {
        buf[i] = pattern(i);
    }
    size_t at = 0, step = 1;
    while (at < sizeof(buf)) {
        size_t n = step < sizeof(buf) - at ? step : sizeof(buf) - at;
        test_write_all(fd, &buf[at], n);
        at += n;
        step = step * 3 + 7;
    }
}

static void test_connect_send_receive_and_orderly_close(void **state)
{
    (void)state;
    static meshota_host_net_t net;
    setup_client(&net);
    test_server_t srv;
    assert_int_equal(test_server_start(&srv, serve_hello, NULL), 0);
    assert_int_equal(meshota_host_net_open(&net, "127.0.0.1", srv.port, NULL), MESHOTA_OK);
    assert_int_equal(meshota_host_net_state(&net), MESHOTA_HOST_NET_CONNECTING);
    assert_int_equal(meshota_host_net_events(&net), POLLOUT);
    pump_until(&net, is_connected);
    assert_int_equal(g_seen.connected, 1);
    assert_int_equal(meshota_host_net_state(&net), MESHOTA_HOST_NET_CONNECTED);
    assert_int_equal(meshota_host_net_events(&net), POLLIN);
    assert_int_equal(meshota_host_net_send(&net, (const uint8_t *)"hello", 5), MESHOTA_OK);
    pump_until(&net, is_closed);
    test_server_join(&srv);
    assert_string_equal(srv.request, "hello");
    assert_int_equal(g_seen.closed, 1);
    assert_int_equal(g_seen.reason, MESHOTA_OK);
    assert_int_equal(g_seen.got, 250000);
    for (size_t i = 0; i < 250000; i++) {
        if (g_seen.data[i] != pattern(i)) {
            fail_msg("byte %zu differs", i);
        }
    }
    assert_true(g_seen.recv_calls >= 2);
    assert_int_equal(meshota_host_net_state(&net), MESHOTA_HOST_NET_CLOSED);
    assert_int_equal(meshota_host_net_fd(&net), -1);
    assert_int_equal(net.bytes_in, 250000);
    assert_int_equal(net.bytes_out, 5);
}

static void test_refused_connect_reports_closed_net(void **state)
{
    (void)state;
    static meshota_host_net_t net;
    setup_client(&net);
    assert_int_equal(meshota_host_net_open(&net, "127.0.0.1", test_free_port(), NULL), MESHOTA_OK);
    pump_until(&net, is_closed);
    assert_int_equal(g_seen.connected, 0);
    assert_int_equal(g_seen.closed, 1);
    assert_int_equal(g_seen.reason, MESHOTA_ERR_NET);
    assert_int_equal(meshota_host_net_state(&net), MESHOTA_HOST_NET_CLOSED);
    /* Closed again: a new open is allowed. */
    assert_int_equal(meshota_host_net_open(&net, "127.0.0.1", test_free_port(), NULL), MESHOTA_OK);
    pump_until(&net, is_closed);
    meshota_host_net_close(&net);
}

/* Server: send 64 KB at once and wait for the client to go away. */
static void serve_burst(test_server_t *s, int fd)
{
    (void)s;
    static uint8_t buf[65536];
    memset(buf, 0xA5, sizeof(buf));
    test_write_all(fd, buf, sizeof(buf));
    char c;
    while (recv(fd, &c, 1, 0) > 0) {
    }
}

static void test_close_inside_recv_stops_delivery(void **state)
{
    (void)state;
    static meshota_host_net_t net;
    setup_client(&net);
    g_seen.close_on_first_recv = 1;
    test_server_t srv;
    assert_int_equal(test_server_start(&srv, serve_burst, NULL), 0);
    assert_int_equal(meshota_host_net_open(&net, "127.0.0.1", srv.port, NULL), MESHOTA_OK);
    for (int i = 0; i < 2000 && g_seen.recv_calls == 0; i++) {
        (void)meshota_host_net_poll(&net, 5);
    }
    assert_int_equal(g_seen.recv_calls, 1);
    assert_int_equal(g_seen.closed, 0); /* close() is not followed by closed() */
    assert_int_equal(meshota_host_net_state(&net), MESHOTA_HOST_NET_CLOSED);
    assert_int_equal(meshota_host_net_poll(&net, 0), 0);
    test_server_join(&srv);
}

/* Server: accept and reset the connection (SO_LINGER 0). */
static void serve_reset(test_server_t *s, int fd)
{
    (void)s;
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    test_sleep_ms(20);
}

static void test_reset_reports_closed_net(void **state)
{
    (void)state;
    static meshota_host_net_t net;
    setup_client(&net);
    test_server_t srv;
    assert_int_equal(test_server_start(&srv, serve_reset, NULL), 0);
    assert_int_equal(meshota_host_net_open(&net, "127.0.0.1", srv.port, NULL), MESHOTA_OK);
    pump_until(&net, is_closed);
    test_server_join(&srv);
    assert_int_equal(g_seen.connected, 1);
    assert_int_equal(g_seen.closed, 1);
    assert_int_equal(g_seen.reason, MESHOTA_ERR_NET);
}

/* Server: read the request, then send stream frames of DataFrames one byte per write for the
 * first frames and coalesced in one write for the rest, then close. */
static size_t frame_chunk(uint8_t *out, size_t out_size, uint32_t index, size_t data_len)
{
    meshota_v1_DataFrame f = meshota_v1_DataFrame_init_zero;
    f.which_body = meshota_v1_DataFrame_chunk_tag;
    f.body.chunk.session_id = 7;
    f.body.chunk.index = index;
    f.body.chunk.data.size = (pb_size_t)data_len;
    memset(f.body.chunk.data.bytes, (int)index, data_len);
    uint8_t pb[meshota_v1_DataFrame_size];
    pb_ostream_t os = pb_ostream_from_buffer(pb, sizeof(pb));
    if (!pb_encode(&os, meshota_v1_DataFrame_fields, &f)) {
        return 0;
    }
    return meshota_stream_encode(pb, os.bytes_written, out, out_size);
}

static void serve_frames(test_server_t *s, int fd)
{
    test_read_until(s, fd, "go");
    static uint8_t buf[40 * 1500];
    size_t at = 0;
    for (uint32_t i = 0; i < 40; i++) {
        at += frame_chunk(&buf[at], sizeof(buf) - at, i, i == 39 ? 17 : 1440);
    }
    size_t first3 = 3 * (1440 + 18 + 6);
    for (size_t i = 0; i < first3; i++) {
        test_write_all(fd, &buf[i], 1);
    }
    test_write_all(fd, &buf[first3], at - first3);
}

static void test_frames_split_and_coalesced_reassemble(void **state)
{
    (void)state;
    static meshota_host_net_t net;
    setup_client(&net);
    g_seen.feed_stream = 1;
    test_server_t srv;
    assert_int_equal(test_server_start(&srv, serve_frames, NULL), 0);
    assert_int_equal(meshota_host_net_open(&net, "127.0.0.1", srv.port, NULL), MESHOTA_OK);
    pump_until(&net, is_connected);
    assert_int_equal(meshota_host_net_send(&net, (const uint8_t *)"go", 2), MESHOTA_OK);
    pump_until(&net, is_closed);
    test_server_join(&srv);
    assert_int_equal(g_seen.reason, MESHOTA_OK);
    assert_int_equal(g_seen.frames, 40);
    /* DataFrame sizes: chunk 0 (index 0 is not encoded) 1448 bytes, chunks 1..38 1450 bytes,
     * chunk 39 with 17 data bytes 25 bytes. */
    assert_int_equal(g_seen.frame_bytes, 1448 + 38 * 1450 + 25);
    assert_int_equal(g_seen.rx.have, 0);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    static meshota_host_net_t net;
    setup_client(&net);
    assert_int_equal(meshota_host_net_open(&net, "", 80, NULL), MESHOTA_ERR_INVALID_ARG);
    assert_int_equal(meshota_host_net_open(&net, NULL, 80, NULL), MESHOTA_ERR_INVALID_ARG);
    assert_int_equal(meshota_host_net_open(&net, "127.0.0.1", 0, NULL), MESHOTA_ERR_INVALID_ARG);
    assert_int_equal(meshota_host_net_send(&net, (const uint8_t *)"x", 1), MESHOTA_ERR_NET);
    assert_int_equal(meshota_host_net_send(&net, NULL, 1), MESHOTA_ERR_INVALID_ARG);
    test_server_t srv;
    assert_int_equal(test_server_start(&srv, serve_reset, NULL), 0);
    const meshota_wifi_creds_t creds = {"lab", "s3cret-pass"};
    assert_int_equal(meshota_host_net_open(&net, "127.0.0.1", srv.port, &creds), MESHOTA_OK);
    assert_int_equal(meshota_host_net_open(&net, "127.0.0.1", srv.port, NULL),
                     MESHOTA_ERR_INVALID_ARG);
    meshota_host_net_close(&net);
    meshota_host_net_close(&net);
    assert_int_equal(meshota_host_net_state(&net), MESHOTA_HOST_NET_CLOSED);
    test_server_join(&srv);
    assert_int_equal(g_seen.closed, 0);
    assert_int_equal(g_seen.connected, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_send_receive_and_orderly_close),
        cmocka_unit_test(test_refused_connect_reports_closed_net),
        cmocka_unit_test(test_close_inside_recv_stops_delivery),
        cmocka_unit_test(test_reset_reports_closed_net),
        cmocka_unit_test(test_frames_split_and_coalesced_reassemble),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
