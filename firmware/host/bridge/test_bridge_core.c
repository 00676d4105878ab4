/* cmocka tests of the bridge protocol core with a fake UART and radio. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "meshota_bridge/meshota_bridge.h"
#include "test_frames.h"

typedef struct {
    uint8_t uart[65536];
    size_t uart_len;
    int sends;
    uint8_t last_mac[6];
    uint8_t last_data[MESHOTA_BRIDGE_PAYLOAD_MAX];
    size_t last_len;
    bool refuse_send;
    bool complete_inline;
    uint8_t channel;
    meshota_bridge_t *b;
} fake_t;

static fake_t F;
static meshota_bridge_t B;

static void f_uart_write(void *ctx, const uint8_t *data, size_t len)
{
    fake_t *f = ctx;
    assert_true(f->uart_len + len <= sizeof(f->uart));
    memcpy(f->uart + f->uart_len, data, len);
    f->uart_len += len;
}

static bool f_radio_send(void *ctx, const uint8_t mac[6], const uint8_t *data, size_t len)
{
    fake_t *f = ctx;
    if (f->refuse_send) {
        return false;
    }
    f->sends++;
    memcpy(f->last_mac, mac, 6);
    memcpy(f->last_data, data, len);
    f->last_len = len;
    if (f->complete_inline) {
        meshota_bridge_on_sent(f->b, MESHOTA_BRIDGE_SENT_OK);
    }
    return true;
}

static bool f_set_channel(void *ctx, uint8_t channel)
{
    fake_t *f = ctx;
    if (channel == 13) {
        return false; /* A region where 13 is not allowed. */
    }
    f->channel = channel;
    return true;
}

static const meshota_bridge_port_t PORT = {
    .ctx = &F, .uart_write = f_uart_write, .radio_send = f_radio_send, .radio_set_channel = f_set_channel};
static const meshota_bridge_config_t CFG = {
    .mac = {0x24, 0x6f, 0x28, 0x01, 0x02, 0x03}, .channel = 6, .espnow_version = 1, .max_payload = 250};

static int setup(void **state)
{
    (void)state;
    memset(&F, 0, sizeof(F));
    F.b = &B;
    assert_true(meshota_bridge_init(&B, &PORT, &CFG));
    return 0;
}

static test_frame_t OUT[64];

static int feed(uint8_t type, uint8_t seq, const uint8_t *fields, size_t n);

/* A fresh bridge with a host session open (HELLO with seq 0xF0, its answer discarded). */
static int setup_session(void **state)
{
    setup(state);
    const uint8_t v = MESHOTA_BRIDGE_PROTOCOL_VERSION;
    assert_int_equal(feed(MESHOTA_BRIDGE_HELLO, 0xF0, &v, 1), 1);
    F.uart_len = 0;
    return 0;
}

/* Feed one host frame; return the dongle frames it produced. */
static int feed(uint8_t type, uint8_t seq, const uint8_t *fields, size_t n)
{
    uint8_t wire[MESHOTA_BRIDGE_ENCODED_MAX + 1];
    size_t len = host_wire(type, seq, fields, n, wire);
    F.uart_len = 0;
    meshota_bridge_uart_rx(&B, wire, len);
    return parse_wire(F.uart, F.uart_len, OUT, 64);
}

static int feed_send(uint8_t seq, size_t payload_len)
{
    uint8_t f[6 + MESHOTA_BRIDGE_PAYLOAD_MAX + 1];
    memset(f, 0xff, 6);
    for (size_t i = 0; i < payload_len; i++) {
        f[6 + i] = (uint8_t)(i * 7 + seq);
    }
    return feed(MESHOTA_BRIDGE_SEND, seq, f, 6 + payload_len);
}

static void crc16_matches_the_catalogue_check_value(void **state)
{
    (void)state;
    assert_int_equal(meshota_bridge_crc16((const uint8_t *)"123456789", 9), 0x29B1);
    assert_int_equal(meshota_bridge_crc16(NULL, 0), 0xFFFF);
}

static void cobs_known_vectors_and_round_trip(void **state)
{
    (void)state;
    /* Vectors from the COBS paper's examples (Cheshire and Baker, 1999). */
    const uint8_t a[] = {0x00};
    const uint8_t a_enc[] = {0x01, 0x01};
    const uint8_t b[] = {0x11, 0x22, 0x00, 0x33};
    const uint8_t b_enc[] = {0x03, 0x11, 0x22, 0x02, 0x33};
    uint8_t out[600];
    uint8_t back[600];
    assert_int_equal(meshota_bridge_cobs_encode(a, sizeof(a), out), sizeof(a_enc));
    assert_memory_equal(out, a_enc, sizeof(a_enc));
    assert_int_equal(meshota_bridge_cobs_encode(b, sizeof(b), out), sizeof(b_enc));
    assert_memory_equal(out, b_enc, sizeof(b_enc));
    /* 254 non-zero bytes then more: the 0xFF code path. */
    uint8_t big[520];
    for (size_t i = 0; i < sizeof(big); i++) {
        big[i] = (uint8_t)(i % 255 + 1);
    }
    big[300] = 0;
    size_t n = meshota_bridge_cobs_encode(big, sizeof(big), out);
    assert_true(n <= sizeof(big) + sizeof(big) / 254 + 1);
    assert_null(memchr(out, 0, n));
    assert_int_equal(meshota_bridge_cobs_decode(out, n, back), (int)sizeof(big));
    assert_memory_equal(back, big, sizeof(big));
    /* A code byte that runs past the block is refused. */
    const uint8_t bad[] = {0x05, 0x11, 0x22};
    assert_int_equal(meshota_bridge_cobs_decode(bad, sizeof(bad), back), -1);
}

static void documented_wire_examples(void **state)
{
    (void)state;
    /* docs/protocol.md, "ESP-NOW bridge protocol". */
    const uint8_t hello_fields[] = {0x01};
    const uint8_t hello_wire[] = {0x02, 0x01, 0x04, 0x01, 0x8D, 0xEB, 0x00};
    const uint8_t send_fields[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1a, 0x00, 0x2a};
    const uint8_t send_wire[] = {0x0A, 0x03, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                 0xFF, 0x1A, 0x04, 0x2A, 0x8A, 0x3A, 0x00};
    uint8_t wire[64];
    assert_int_equal(host_wire(MESHOTA_BRIDGE_HELLO, 0, hello_fields, 1, wire), sizeof(hello_wire));
    assert_memory_equal(wire, hello_wire, sizeof(hello_wire));
    assert_int_equal(host_wire(MESHOTA_BRIDGE_SEND, 1, send_fields, sizeof(send_fields), wire),
                     sizeof(send_wire));
    assert_memory_equal(wire, send_wire, sizeof(send_wire));
}

static void hello_announces_version_payload_mac_channel_and_slots(void **state)
{
    (void)state;
    const uint8_t v = 1;
    assert_int_equal(feed(MESHOTA_BRIDGE_HELLO, 9, &v, 1), 1);
    const uint8_t expect[] = {MESHOTA_BRIDGE_HELLO_ACK, 0, 1, 1, 250, 0, 0x24, 0x6f, 0x28, 0x01,
                              0x02, 0x03, 6, MESHOTA_BRIDGE_TX_SLOTS, 9};
    assert_int_equal(OUT[0].len, sizeof(expect));
    assert_memory_equal(OUT[0].body, expect, sizeof(expect));
}

static void send_is_acked_then_reported_sent_with_credits(void **state)
{
    (void)state;
    assert_int_equal(feed_send(1, 200), 1);
    /* Dongle frame 0 was the HELLO_ACK of the session. */
    const uint8_t ack[] = {MESHOTA_BRIDGE_ACK, 1, 1, MESHOTA_BRIDGE_ACK_OK, MESHOTA_BRIDGE_TX_SLOTS - 1};
    assert_memory_equal(OUT[0].body, ack, sizeof(ack));
    assert_int_equal(F.sends, 1);
    assert_int_equal(F.last_len, 200);
    assert_int_equal(F.last_data[5], (uint8_t)(5 * 7 + 1));
    F.uart_len = 0;
    meshota_bridge_on_sent(&B, MESHOTA_BRIDGE_SENT_OK);
    assert_int_equal(parse_wire(F.uart, F.uart_len, OUT, 64), 1);
    const uint8_t sent[] = {MESHOTA_BRIDGE_SENT, 2, 1, MESHOTA_BRIDGE_SENT_OK, MESHOTA_BRIDGE_TX_SLOTS};
    assert_memory_equal(OUT[0].body, sent, sizeof(sent));
    assert_int_equal(meshota_bridge_stats(&B)->tx_ok, 1);
}

static void repeated_sequence_is_reacked_not_sent_twice(void **state)
{
    (void)state;
    assert_int_equal(feed_send(4, 10), 1);
    assert_int_equal(F.sends, 1);
    /* The ACK was lost on the UART: the host sends the same frame again. */
    assert_int_equal(feed_send(4, 10), 1);
    assert_int_equal(OUT[0].body[0], MESHOTA_BRIDGE_ACK);
    assert_int_equal(OUT[0].body[2], 4);
    assert_int_equal(OUT[0].body[3], MESHOTA_BRIDGE_ACK_OK);
    assert_int_equal(F.sends, 1);
    assert_int_equal(meshota_bridge_stats(&B)->duplicates, 1);
}

static void repeated_ack_carries_the_free_slots_of_now(void **state)
{
    (void)state;
    /* Fill every slot: the ACK of the last SEND says no slot is free. */
    for (int i = 0; i < MESHOTA_BRIDGE_TX_SLOTS; i++) {
        assert_int_equal(feed_send((uint8_t)(20 + i), 10), 1);
    }
    const uint8_t last = (uint8_t)(20 + MESHOTA_BRIDGE_TX_SLOTS - 1);
    assert_int_equal(OUT[0].body[4], 0);
    /* That ACK is lost on the UART; meanwhile the radio empties the queue. */
    for (int i = 0; i < MESHOTA_BRIDGE_TX_SLOTS; i++) {
        meshota_bridge_on_sent(&B, MESHOTA_BRIDGE_SENT_OK);
    }
    /* The host sends the last SEND again: the answer is the same ACK, not executed twice, but
     * with the slots free now. A stale 0 would leave the host waiting for a SENT that never
     * comes, with an empty queue. */
    assert_int_equal(feed_send(last, 10), 1);
    assert_int_equal(OUT[0].body[0], MESHOTA_BRIDGE_ACK);
    assert_int_equal(OUT[0].body[2], last);
    assert_int_equal(OUT[0].body[3], MESHOTA_BRIDGE_ACK_OK);
    assert_int_equal(OUT[0].body[4], MESHOTA_BRIDGE_TX_SLOTS);
    assert_int_equal(F.sends, MESHOTA_BRIDGE_TX_SLOTS);
    assert_int_equal(meshota_bridge_stats(&B)->duplicates, 1);
}

static void full_queue_answers_busy_until_a_slot_frees(void **state)
{
    (void)state;
    for (int i = 0; i < MESHOTA_BRIDGE_TX_SLOTS; i++) {
        assert_int_equal(feed_send((uint8_t)(10 + i), 20), 1);
        assert_int_equal(OUT[0].body[3], MESHOTA_BRIDGE_ACK_OK);
        assert_int_equal(OUT[0].body[4], MESHOTA_BRIDGE_TX_SLOTS - 1 - i);
    }
    assert_int_equal(F.sends, 1); /* One frame with the radio at a time. */
    assert_int_equal(feed_send(40, 20), 1);
    assert_int_equal(OUT[0].body[3], MESHOTA_BRIDGE_ACK_BUSY);
    assert_int_equal(OUT[0].body[4], 0);
    F.uart_len = 0;
    meshota_bridge_on_sent(&B, MESHOTA_BRIDGE_SENT_NO_ACK);
    assert_int_equal(parse_wire(F.uart, F.uart_len, OUT, 64), 1);
    assert_int_equal(OUT[0].body[2], 10);
    assert_int_equal(OUT[0].body[3], MESHOTA_BRIDGE_SENT_NO_ACK);
    assert_int_equal(OUT[0].body[4], 1);
    assert_int_equal(F.sends, 2); /* The next frame went to the radio. */
    assert_int_equal(feed_send(41, 20), 1);
    assert_int_equal(OUT[0].body[3], MESHOTA_BRIDGE_ACK_OK);
}

static void radio_refusal_and_inline_completion_report_sent(void **state)
{
    (void)state;
    F.refuse_send = true;
    assert_int_equal(feed_send(2, 8), 2);
    assert_int_equal(OUT[0].body[0], MESHOTA_BRIDGE_ACK);
    assert_int_equal(OUT[1].body[0], MESHOTA_BRIDGE_SENT);
    assert_int_equal(OUT[1].body[3], MESHOTA_BRIDGE_SENT_FAILED);
    assert_int_equal(OUT[1].body[4], MESHOTA_BRIDGE_TX_SLOTS);
    F.refuse_send = false;
    F.complete_inline = true;
    assert_int_equal(feed_send(3, 8), 2);
    assert_int_equal(OUT[0].body[0], MESHOTA_BRIDGE_ACK); /* ACK always before SENT. */
    assert_int_equal(OUT[1].body[0], MESHOTA_BRIDGE_SENT);
    assert_int_equal(OUT[1].body[3], MESHOTA_BRIDGE_SENT_OK);
}

static void bad_lengths_and_channels_are_refused(void **state)
{
    (void)state;
    assert_int_equal(feed_send(1, 251), 1);
    assert_int_equal(OUT[0].body[3], MESHOTA_BRIDGE_ACK_BAD_LENGTH);
    assert_int_equal(feed_send(2, 0), 1);
    assert_int_equal(OUT[0].body[3], MESHOTA_BRIDGE_ACK_BAD_LENGTH);
    uint8_t ch = 15;
    assert_int_equal(feed(MESHOTA_BRIDGE_SET_CHANNEL, 3, &ch, 1), 1);
    assert_int_equal(OUT[0].body[3], MESHOTA_BRIDGE_ACK_BAD_CHANNEL);
    ch = 13;
    assert_int_equal(feed(MESHOTA_BRIDGE_SET_CHANNEL, 4, &ch, 1), 1);
    assert_int_equal(OUT[0].body[3], MESHOTA_BRIDGE_ACK_BAD_CHANNEL);
    ch = 11;
    assert_int_equal(feed(MESHOTA_BRIDGE_SET_CHANNEL, 5, &ch, 1), 1);
    assert_int_equal(OUT[0].body[3], MESHOTA_BRIDGE_ACK_OK);
    assert_int_equal(F.channel, 11);
    assert_int_equal(feed(0x55, 6, NULL, 0), 1);
    assert_int_equal(OUT[0].body[3], MESHOTA_BRIDGE_ACK_UNKNOWN);
    assert_int_equal(F.sends, 0);
}

static void v2_takes_1470_byte_payloads_and_refuses_1471(void **state)
{
    (void)state;
    const meshota_bridge_config_t v2 = {
        .mac = {0x24, 0x6f, 0x28, 0x01, 0x02, 0x03}, .channel = 6, .espnow_version = 2, .max_payload = 1470};
    assert_true(meshota_bridge_init(&B, &PORT, &v2));
    const uint8_t v = MESHOTA_BRIDGE_PROTOCOL_VERSION;
    assert_int_equal(feed(MESHOTA_BRIDGE_HELLO, 0xF0, &v, 1), 1);
    assert_int_equal(OUT[0].body[3], 2);                 /* espnow_version */
    assert_int_equal(OUT[0].body[4] | (OUT[0].body[5] << 8), 1470);
    assert_int_equal(feed_send(0xFF, 1471), 1);
    assert_int_equal(OUT[0].body[3], MESHOTA_BRIDGE_ACK_BAD_LENGTH);
    assert_int_equal(F.sends, 0);
    /* Sequence numbers wrap: 0 after 255 is a new command, not a repeat. */
    assert_int_equal(feed_send(0x00, 1470), 1);
    assert_int_equal(OUT[0].body[2], 0x00);
    assert_int_equal(OUT[0].body[3], MESHOTA_BRIDGE_ACK_OK);
    assert_int_equal(F.sends, 1);
    assert_int_equal(F.last_len, 1470);
    assert_int_equal(F.last_data[1469], (uint8_t)(1469 * 7));
    assert_int_equal(meshota_bridge_stats(&B)->duplicates, 0);
}

static void corrupted_and_oversized_frames_are_dropped_and_counted(void **state)
{
    (void)state;
    uint8_t f[6 + 10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3};
    uint8_t wire[64];
    size_t len = host_wire(MESHOTA_BRIDGE_SEND, 1, f, sizeof(f), wire);
    wire[5] ^= 0x40; /* One flipped bit. */
    F.uart_len = 0;
    meshota_bridge_uart_rx(&B, wire, len);
    assert_int_equal(F.uart_len, 0);
    assert_int_equal(meshota_bridge_stats(&B)->crc_errors, 1);
    /* A run of garbage longer than any frame, then a good frame in the same buffer. */
    static uint8_t junk[MESHOTA_BRIDGE_ENCODED_MAX + 100];
    memset(junk, 0x41, sizeof(junk));
    junk[sizeof(junk) - 1] = 0;
    meshota_bridge_uart_rx(&B, junk, sizeof(junk));
    assert_int_equal(meshota_bridge_stats(&B)->malformed, 1);
    len = host_wire(MESHOTA_BRIDGE_SEND, 2, f, sizeof(f), wire);
    /* Byte by byte: any split must work. */
    for (size_t i = 0; i < len; i++) {
        meshota_bridge_uart_rx(&B, wire + i, 1);
    }
    assert_int_equal(parse_wire(F.uart, F.uart_len, OUT, 64), 1);
    assert_int_equal(OUT[0].body[3], MESHOTA_BRIDGE_ACK_OK);
    assert_int_equal(F.sends, 1);
}

static void received_frames_go_to_the_host_with_mac_and_rssi(void **state)
{
    (void)state;
    uint8_t payload[1470];
    for (size_t i = 0; i < sizeof(payload); i++) {
        payload[i] = (uint8_t)i; /* Zeros included: COBS must carry them. */
    }
    const uint8_t mac[6] = {2, 0, 0, 0, 0, 7};
    F.uart_len = 0;
    meshota_bridge_on_recv(&B, mac, -67, payload, sizeof(payload));
    assert_int_equal(parse_wire(F.uart, F.uart_len, OUT, 64), 1);
    assert_int_equal(OUT[0].len, 2 + 7 + sizeof(payload));
    assert_int_equal(OUT[0].body[0], MESHOTA_BRIDGE_RECV);
    assert_memory_equal(OUT[0].body + 2, mac, 6);
    assert_int_equal((int8_t)OUT[0].body[8], -67);
    assert_memory_equal(OUT[0].body + 9, payload, sizeof(payload));
    meshota_bridge_on_recv(&B, mac, -67, payload, 0);
    assert_int_equal(meshota_bridge_stats(&B)->rx_frames, 1);
}

static void dongle_frames_start_and_end_with_a_delimiter(void **state)
{
    (void)state;
    const uint8_t v = 1;
    assert_int_equal(feed(MESHOTA_BRIDGE_HELLO, 0, &v, 1), 1);
    assert_int_equal(F.uart[0], 0);
    assert_int_equal(F.uart[F.uart_len - 1], 0);
    assert_null(memchr(F.uart + 1, 0, F.uart_len - 2));
}

static void dongle_sequence_numbers_increase_per_frame(void **state)
{
    (void)state;
    const uint8_t v = 1;
    feed(MESHOTA_BRIDGE_HELLO, 0, &v, 1);
    uint8_t s0 = OUT[0].body[1];
    feed_send(1, 5);
    assert_int_equal(OUT[0].body[1], (uint8_t)(s0 + 1));
    F.uart_len = 0;
    meshota_bridge_on_sent(&B, MESHOTA_BRIDGE_SENT_OK);
    parse_wire(F.uart, F.uart_len, OUT, 64);
    assert_int_equal(OUT[0].body[1], (uint8_t)(s0 + 2));
}

static void hello_drops_the_queue_of_the_previous_host_session(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++) {
        feed_send((uint8_t)(20 + i), 5);
    }
    const uint8_t v = 1;
    feed(MESHOTA_BRIDGE_HELLO, 0, &v, 1);
    /* The frame with the radio completes; the two queued ones are gone. */
    F.uart_len = 0;
    meshota_bridge_on_sent(&B, MESHOTA_BRIDGE_SENT_OK);
    assert_int_equal(parse_wire(F.uart, F.uart_len, OUT, 64), 1);
    assert_int_equal(OUT[0].body[2], 20);
    assert_int_equal(OUT[0].body[4], MESHOTA_BRIDGE_TX_SLOTS);
    assert_int_equal(F.sends, 1);
}

static void commands_before_hello_are_refused_as_no_session(void **state)
{
    (void)state;
    /* The dongle restarted under a host that keeps talking: its channel is the start-up one
     * and its queue is gone, so nothing may be executed before a new HELLO. */
    const uint8_t ch = 11;
    assert_int_equal(feed(MESHOTA_BRIDGE_SET_CHANNEL, 7, &ch, 1), 1);
    assert_int_equal(OUT[0].body[0], MESHOTA_BRIDGE_ACK);
    assert_int_equal(OUT[0].body[2], 7);
    assert_int_equal(OUT[0].body[3], MESHOTA_BRIDGE_ACK_NO_SESSION);
    assert_int_equal(F.channel, 0);
    assert_int_equal(feed_send(8, 10), 1);
    assert_int_equal(OUT[0].body[3], MESHOTA_BRIDGE_ACK_NO_SESSION);
    assert_int_equal(OUT[0].body[4], MESHOTA_BRIDGE_TX_SLOTS);
    assert_int_equal(F.sends, 0);
    /* A repeat of the refused command gets the same refusal, still not executed. */
    assert_int_equal(feed_send(8, 10), 1);
    assert_int_equal(OUT[0].body[3], MESHOTA_BRIDGE_ACK_NO_SESSION);
    assert_int_equal(F.sends, 0);
    const uint8_t v = MESHOTA_BRIDGE_PROTOCOL_VERSION;
    assert_int_equal(feed(MESHOTA_BRIDGE_HELLO, 9, &v, 1), 1);
    assert_int_equal(OUT[0].body[0], MESHOTA_BRIDGE_HELLO_ACK);
    assert_int_equal(feed(MESHOTA_BRIDGE_SET_CHANNEL, 10, &ch, 1), 1);
    assert_int_equal(OUT[0].body[3], MESHOTA_BRIDGE_ACK_OK);
    assert_int_equal(F.channel, 11);
    assert_int_equal(feed_send(11, 10), 1);
    assert_int_equal(OUT[0].body[3], MESHOTA_BRIDGE_ACK_OK);
    assert_int_equal(F.sends, 1);
}

static void init_rejects_bad_configuration(void **state)
{
    (void)state;
    meshota_bridge_t b;
    meshota_bridge_config_t c = CFG;
    c.channel = 0;
    assert_false(meshota_bridge_init(&b, &PORT, &c));
    c = CFG;
    c.max_payload = 1471;
    assert_false(meshota_bridge_init(&b, &PORT, &c));
    c = CFG;
    c.espnow_version = 3;
    assert_false(meshota_bridge_init(&b, &PORT, &c));
    meshota_bridge_port_t p = PORT;
    p.radio_send = NULL;
    assert_false(meshota_bridge_init(&b, &p, &CFG));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(crc16_matches_the_catalogue_check_value, setup),
        cmocka_unit_test_setup(cobs_known_vectors_and_round_trip, setup),
        cmocka_unit_test_setup(documented_wire_examples, setup),
        cmocka_unit_test_setup(hello_announces_version_payload_mac_channel_and_slots, setup),
        cmocka_unit_test_setup(send_is_acked_then_reported_sent_with_credits, setup_session),
        cmocka_unit_test_setup(repeated_sequence_is_reacked_not_sent_twice, setup_session),
        cmocka_unit_test_setup(repeated_ack_carries_the_free_slots_of_now, setup_session),
        cmocka_unit_test_setup(full_queue_answers_busy_until_a_slot_frees, setup_session),
        cmocka_unit_test_setup(radio_refusal_and_inline_completion_report_sent, setup_session),
        cmocka_unit_test_setup(bad_lengths_and_channels_are_refused, setup_session),
        cmocka_unit_test_setup(v2_takes_1470_byte_payloads_and_refuses_1471, setup),
        cmocka_unit_test_setup(corrupted_and_oversized_frames_are_dropped_and_counted, setup_session),
        cmocka_unit_test_setup(received_frames_go_to_the_host_with_mac_and_rssi, setup),
        cmocka_unit_test_setup(dongle_frames_start_and_end_with_a_delimiter, setup),
        cmocka_unit_test_setup(dongle_sequence_numbers_increase_per_frame, setup),
        cmocka_unit_test_setup(hello_drops_the_queue_of_the_previous_host_session, setup_session),
        cmocka_unit_test_setup(commands_before_hello_are_refused_as_no_session, setup),
        cmocka_unit_test_setup(init_rejects_bad_configuration, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
