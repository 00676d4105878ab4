/*
 * Host tests of the gateway link glue (src/meshota_esp_gateway.c): how SENDs from the host are
 * answered, how mesh send results are matched to their tags, and what reaches the host from the
 * mesh. The host end is a socketpair; the mesh side and the FreeRTOS message buffer are fakes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/meshota_esp_gateway.c"

#include "meshota_opcodes.h"

/* ---- Fakes ------------------------------------------------------------------------------------ */

static struct {
    bool ready;
    esp_err_t send_result;
    int sends;
    uint16_t dst;
    uint8_t ttl;
    uint8_t op;
    uint8_t params[400];
    size_t len;
} m;

const char *esp_err_to_name(esp_err_t code)
{
    return code == ESP_OK ? "ESP_OK" : "error";
}
void esp_log_write_stub(const char *tag, const char *fmt, ...)
{
    (void)tag;
    (void)fmt;
}
void taskENTER_CRITICAL(portMUX_TYPE *mux)
{
    (void)mux;
}
void taskEXIT_CRITICAL(portMUX_TYPE *mux)
{
    (void)mux;
}
void vTaskDelay(TickType_t t)
{
    (void)t;
}
BaseType_t xTaskCreate(TaskFunction_t fn, const char *name, uint32_t stack, void *arg,
                       UBaseType_t prio, TaskHandle_t *h)
{
    (void)fn, (void)name, (void)stack, (void)arg, (void)prio, (void)h;
    return pdPASS;
}

/* A FIFO of whole messages, enough for one writer and one reader in one thread. */
struct MessageBufferDef_t {
    uint8_t data[8192];
    size_t lens[64];
    size_t head, count, used;
};
static struct MessageBufferDef_t s_mb;

MessageBufferHandle_t xMessageBufferCreate(size_t size)
{
    (void)size;
    memset(&s_mb, 0, sizeof(s_mb));
    return &s_mb;
}
size_t xMessageBufferSend(MessageBufferHandle_t b, const void *d, size_t n, TickType_t t)
{
    (void)t;
    if (b->count == 64 || b->used + n > sizeof(b->data)) {
        return 0;
    }
    size_t at = 0;
    for (size_t i = 0; i < b->count; i++) {
        at += b->lens[(b->head + i) % 64];
    }
    memcpy(&b->data[at], d, n);
    b->lens[(b->head + b->count) % 64] = n;
    b->count++;
    b->used += n;
    return n;
}
size_t xMessageBufferReceive(MessageBufferHandle_t b, void *d, size_t n, TickType_t t)
{
    (void)t;
    if (b->count == 0) {
        return 0;
    }
    size_t len = b->lens[b->head];
    assert_true(len <= n);
    memcpy(d, b->data, len);
    memmove(b->data, &b->data[len], b->used - len);
    b->used -= len;
    b->head = (b->head + 1) % 64;
    b->count--;
    return len;
}

bool mota_mesh_ready(void)
{
    return m.ready;
}
uint16_t mota_mesh_addr(void)
{
    return 0x0005;
}
esp_err_t mota_mesh_client_send(uint16_t dst, uint8_t ttl, uint8_t op6, const uint8_t *params,
                                size_t len)
{
    m.sends++;
    m.dst = dst;
    m.ttl = ttl;
    m.op = op6;
    m.len = len;
    if (len > 0) {
        memcpy(m.params, params, len);
    }
    return m.send_result;
}
bool mota_wifi_wait_up(uint32_t timeout_ms)
{
    (void)timeout_ms;
    return true;
}
mota_wifi_state_t mota_wifi_state(void)
{
    return MOTA_WIFI_UP;
}

/* ---- Test utilities ------------------------------------------------------------------------ */

static int host_fd = -1; /* the test's end of the link */

static int setup(void **state)
{
    (void)state;
    memset(&m, 0, sizeof(m));
    m.ready = true;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    host_fd = sv[0];
    s_gw.client = sv[1];
    s_gw.connected = true;
    s_gw.stale_results = 0;
    s_gw.unknown = 0;
    s_gw.dropped = 0;
    s_gw.out = xMessageBufferCreate(4096);
    meshota_gwlink_fifo_reset(&s_gw.fifo);
    meshota_stream_reset(&s_gw.rx);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (s_gw.client >= 0) {
        close(s_gw.client);
        s_gw.client = -1;
    }
    close(host_fd);
    return 0;
}

/* Frame and feed one host message to the gateway, as the gateway task does. */
static void host_sends(const uint8_t *payload, size_t len)
{
    uint8_t frame[512];
    size_t n = meshota_stream_encode(payload, len, frame, sizeof(frame));
    assert_true(n > 0);
    assert_int_equal(meshota_stream_feed(&s_gw.rx, frame, n, on_link_frame, &s_gw.client),
                     MESHOTA_OK);
}

static size_t make_send(uint8_t *p, uint16_t tag, uint16_t dst, uint8_t ttl, uint8_t op,
                        const uint8_t *params, size_t n)
{
    p[0] = MESHOTA_GWLINK_SEND;
    p[1] = (uint8_t)tag;
    p[2] = (uint8_t)(tag >> 8);
    p[3] = (uint8_t)dst;
    p[4] = (uint8_t)(dst >> 8);
    p[5] = ttl;
    p[6] = op;
    if (n > 0) {
        memcpy(&p[7], params, n);
    }
    return 7 + n;
}

/* The next SEND_RESULT the host can read directly from the socket (refusals). */
static void expect_direct_result(uint16_t tag, meshota_gwlink_status_t status)
{
    uint8_t want[16];
    size_t n = meshota_gwlink_send_result(want, sizeof(want), tag, status);
    uint8_t got[16];
    assert_int_equal(recv(host_fd, got, n, MSG_DONTWAIT), (ssize_t)n);
    assert_memory_equal(got, want, n);
}

static void expect_nothing_on_the_socket(void)
{
    uint8_t b;
    assert_int_equal(recv(host_fd, &b, 1, MSG_DONTWAIT), -1);
}

/* The next message queued for the host by the BTC-side callbacks. */
static void expect_queued_result(uint16_t tag, meshota_gwlink_status_t status)
{
    uint8_t want[16];
    size_t n = meshota_gwlink_send_result(want, sizeof(want), tag, status);
    uint8_t got[MESHOTA_GWLINK_MAX_FRAME];
    assert_int_equal(xMessageBufferReceive(s_gw.out, got, sizeof(got), 0), n);
    assert_memory_equal(got, want, n);
}

/* ---- Tests --------------------------------------------------------------------------------- */

static void accepted_send_reaches_the_mesh_and_its_result_carries_the_tag(void **state)
{
    (void)state;
    uint8_t p[32];
    static const uint8_t params[] = {0x08, 0x2A};
    host_sends(p, make_send(p, 0x0102, 0x0042, 0xFF, MESHOTA_OP_UPDATE_CANCEL, params, 2));
    assert_int_equal(m.sends, 1);
    assert_int_equal(m.dst, 0x0042);
    assert_int_equal(m.ttl, 0xFF);
    assert_int_equal(m.op, MESHOTA_OP_UPDATE_CANCEL);
    assert_int_equal(m.len, 2);
    assert_memory_equal(m.params, params, 2);
    expect_nothing_on_the_socket(); /* The result waits for the mesh stack. */
    mota_gateway_on_mesh_sent(0);
    expect_queued_result(0x0102, MESHOTA_GWLINK_OK);
}

static void results_follow_the_order_of_the_sends(void **state)
{
    (void)state;
    uint8_t p[16];
    for (uint16_t tag = 1; tag <= 3; tag++) {
        host_sends(p, make_send(p, tag, 0x0042, 0xFF, MESHOTA_OP_INFO_GET, NULL, 0));
    }
    mota_gateway_on_mesh_sent(0);
    mota_gateway_on_mesh_sent(-11);
    mota_gateway_on_mesh_sent(0);
    expect_queued_result(1, MESHOTA_GWLINK_OK);
    expect_queued_result(2, MESHOTA_GWLINK_MESH_ERROR);
    expect_queued_result(3, MESHOTA_GWLINK_OK);
    /* A send-complete nobody waits for is ignored. */
    mota_gateway_on_mesh_sent(0);
    uint8_t b[16];
    assert_int_equal(xMessageBufferReceive(s_gw.out, b, sizeof(b), 0), 0);
}

static void refused_and_unready_sends_are_answered_at_once(void **state)
{
    (void)state;
    uint8_t p[16];
    /* Unknown opcode 0x0C. */
    host_sends(p, make_send(p, 7, 0x0042, 0xFF, 0x0C, NULL, 0));
    expect_direct_result(7, MESHOTA_GWLINK_REFUSED);
    /* Not provisioned or no AppKey. */
    m.ready = false;
    host_sends(p, make_send(p, 8, 0x0042, 0xFF, MESHOTA_OP_INFO_GET, NULL, 0));
    expect_direct_result(8, MESHOTA_GWLINK_NOT_READY);
    assert_int_equal(m.sends, 0);
    assert_int_equal(s_gw.fifo.count, 0);
}

static void a_ninth_pending_send_is_busy(void **state)
{
    (void)state;
    uint8_t p[16];
    for (uint16_t tag = 0; tag < MESHOTA_GWLINK_FIFO_DEPTH; tag++) {
        host_sends(p, make_send(p, tag, 0x0042, 0xFF, MESHOTA_OP_INFO_GET, NULL, 0));
    }
    expect_nothing_on_the_socket();
    host_sends(p, make_send(p, 99, 0x0042, 0xFF, MESHOTA_OP_INFO_GET, NULL, 0));
    expect_direct_result(99, MESHOTA_GWLINK_BUSY);
    assert_int_equal(m.sends, MESHOTA_GWLINK_FIFO_DEPTH);
}

static void send_refused_by_the_mesh_stack_does_not_shift_later_results(void **state)
{
    (void)state;
    uint8_t p[16];
    host_sends(p, make_send(p, 1, 0x0042, 0xFF, MESHOTA_OP_INFO_GET, NULL, 0));
    m.send_result = ESP_ERR_NO_MEM;
    host_sends(p, make_send(p, 2, 0x0042, 0xFF, MESHOTA_OP_INFO_GET, NULL, 0));
    expect_direct_result(2, MESHOTA_GWLINK_MESH_ERROR);
    m.send_result = ESP_ERR_INVALID_STATE;
    host_sends(p, make_send(p, 3, 0x0042, 0xFF, MESHOTA_OP_INFO_GET, NULL, 0));
    expect_direct_result(3, MESHOTA_GWLINK_NOT_READY);
    m.send_result = ESP_OK;
    host_sends(p, make_send(p, 4, 0x0042, 0xFF, MESHOTA_OP_INFO_GET, NULL, 0));
    mota_gateway_on_mesh_sent(0);
    mota_gateway_on_mesh_sent(0);
    expect_queued_result(1, MESHOTA_GWLINK_OK);
    expect_queued_result(4, MESHOTA_GWLINK_OK);
}

static void unknown_message_types_are_ignored(void **state)
{
    (void)state;
    static const uint8_t hello_from_host[] = {MESHOTA_GWLINK_HELLO, 1, 0xE5, 0x02};
    static const uint8_t type_0x7f[] = {0x7F, 0x01, 0x00};
    host_sends(hello_from_host, sizeof(hello_from_host));
    host_sends(type_0x7f, sizeof(type_0x7f));
    expect_nothing_on_the_socket();
    assert_int_equal(s_gw.unknown, 2);
    assert_int_equal(m.sends, 0);
}

static void results_due_to_a_previous_host_never_reach_the_next_one(void **state)
{
    (void)state;
    uint8_t p[16];
    host_sends(p, make_send(p, 1, 0x0042, 0xFF, MESHOTA_OP_INFO_GET, NULL, 0));
    host_sends(p, make_send(p, 2, 0x0042, 0xFF, MESHOTA_OP_INFO_GET, NULL, 0));
    drop_client(); /* the host went away with two results pending */
    assert_false(s_gw.connected);
    /* A new host connects and sends tag 1 again. */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(host_fd);
    host_fd = sv[0];
    s_gw.client = sv[1];
    s_gw.connected = true;
    host_sends(p, make_send(p, 1, 0x0043, 0xFF, MESHOTA_OP_INFO_GET, NULL, 0));
    mota_gateway_on_mesh_sent(-5); /* old tag 1 */
    mota_gateway_on_mesh_sent(-5); /* old tag 2 */
    mota_gateway_on_mesh_sent(0);  /* the new host's tag 1 */
    expect_queued_result(1, MESHOTA_GWLINK_OK);
    uint8_t b[16];
    assert_int_equal(xMessageBufferReceive(s_gw.out, b, sizeof(b), 0), 0);
}

static void mesh_messages_are_forwarded_as_recv(void **state)
{
    (void)state;
    static const uint8_t status[] = {0x08, 0x02, 0x18, 0x40};
    mota_gateway_on_mesh_rx(0x0042, 0x0005, -61, MESHOTA_OP_UPDATE_STATUS, status,
                            sizeof(status));
    uint8_t want[MESHOTA_GWLINK_MAX_FRAME];
    size_t n = meshota_gwlink_recv(want, sizeof(want), 0x0042, 0x0005, -61,
                                   MESHOTA_OP_UPDATE_STATUS, status, sizeof(status));
    uint8_t got[MESHOTA_GWLINK_MAX_FRAME];
    assert_int_equal(xMessageBufferReceive(s_gw.out, got, sizeof(got), 0), n);
    assert_memory_equal(got, want, n);
    /* Without a host nothing is queued. */
    s_gw.connected = false;
    mota_gateway_on_mesh_rx(0x0042, 0x0005, -61, MESHOTA_OP_UPDATE_STATUS, status,
                            sizeof(status));
    assert_int_equal(xMessageBufferReceive(s_gw.out, got, sizeof(got), 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            accepted_send_reaches_the_mesh_and_its_result_carries_the_tag, setup, teardown),
        cmocka_unit_test_setup_teardown(results_follow_the_order_of_the_sends, setup, teardown),
        cmocka_unit_test_setup_teardown(refused_and_unready_sends_are_answered_at_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_ninth_pending_send_is_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(
            send_refused_by_the_mesh_stack_does_not_shift_later_results, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_message_types_are_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(
            results_due_to_a_previous_host_never_reach_the_next_one, setup, teardown),
        cmocka_unit_test_setup_teardown(mesh_messages_are_forwarded_as_recv, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
