/* Stream framing: CRC-32 vector, any split, coalesced frames, bad length and CRC. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "meshota_core/meshota_stream.h"

typedef struct {
    size_t count;
    size_t lens[16];
    uint8_t first[16];
    int stop_after;
} sink_t;

static int on_frame(void *arg, const uint8_t *frame, size_t len)
{
    sink_t *s = arg;
    s->lens[s->count] = len;
    s->first[s->count] = frame[0];
    s->count++;
    return s->stop_after != 0 && (int)s->count >= s->stop_after;
}

static meshota_stream_rx_t rx;

static void test_crc32_matches_zlib_check_value(void **state)
{
    (void)state;
    /* CRC-32/ISO-HDLC check value (as zlib.crc32(b"123456789")). */
    assert_int_equal(meshota_crc32(0, (const uint8_t *)"123456789", 9), 0xCBF43926u);
    uint32_t part = meshota_crc32(0, (const uint8_t *)"1234", 4);
    assert_int_equal(meshota_crc32(part, (const uint8_t *)"56789", 5), 0xCBF43926u);
    assert_int_equal(meshota_crc32(0, NULL, 0), 0u);
}

static size_t make_frames(uint8_t *out, size_t cap)
{
    uint8_t a[3] = {0x11, 0x22, 0x33};
    static uint8_t b[MESHOTA_STREAM_MAX_PAYLOAD];
    memset(b, 0x5A, sizeof(b));
    size_t n = meshota_stream_encode(a, sizeof(a), out, cap);
    n += meshota_stream_encode(b, sizeof(b), out + n, cap - n);
    n += meshota_stream_encode(a, 1, out + n, cap - n);
    return n;
}

static void test_stream_reassembles_any_split(void **state)
{
    (void)state;
    static uint8_t wire[2 * MESHOTA_STREAM_MAX_PAYLOAD];
    size_t n = make_frames(wire, sizeof(wire));
    assert_int_equal(n, 3 + 6 + MESHOTA_STREAM_MAX_PAYLOAD + 6 + 1 + 6);
    const size_t steps[] = {1, 2, 3, 7, 100, 1459, n};
    for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
        sink_t s = {0};
        meshota_stream_reset(&rx);
        for (size_t at = 0; at < n; at += steps[k]) {
            size_t len = n - at < steps[k] ? n - at : steps[k];
            assert_int_equal(meshota_stream_feed(&rx, wire + at, len, on_frame, &s), MESHOTA_OK);
        }
        assert_int_equal(s.count, 3);
        assert_int_equal(s.lens[0], 3);
        assert_int_equal(s.first[0], 0x11);
        assert_int_equal(s.lens[1], MESHOTA_STREAM_MAX_PAYLOAD);
        assert_int_equal(s.first[1], 0x5A);
        assert_int_equal(s.lens[2], 1);
    }
}

static void test_stream_callback_can_stop_feeding(void **state)
{
    (void)state;
    static uint8_t wire[2 * MESHOTA_STREAM_MAX_PAYLOAD];
    size_t n = make_frames(wire, sizeof(wire));
    sink_t s = {.stop_after = 1};
    meshota_stream_reset(&rx);
    assert_int_equal(meshota_stream_feed(&rx, wire, n, on_frame, &s), MESHOTA_OK);
    assert_int_equal(s.count, 1);
}

static void test_stream_rejects_zero_and_oversize_length(void **state)
{
    (void)state;
    sink_t s = {0};
    const uint8_t zero[] = {0, 0, 1, 2, 3, 4};
    meshota_stream_reset(&rx);
    assert_int_equal(meshota_stream_feed(&rx, zero, sizeof(zero), on_frame, &s), MESHOTA_ERR_FRAME);
    assert_int_equal(rx.status, MESHOTA_STREAM_BAD_LENGTH);
    uint8_t big[2] = {(uint8_t)(MESHOTA_STREAM_MAX_PAYLOAD + 1),
                      (uint8_t)((MESHOTA_STREAM_MAX_PAYLOAD + 1) >> 8)};
    meshota_stream_reset(&rx);
    assert_int_equal(meshota_stream_feed(&rx, big, 1, on_frame, &s), MESHOTA_OK);
    assert_int_equal(meshota_stream_feed(&rx, big + 1, 1, on_frame, &s), MESHOTA_ERR_FRAME);
    assert_int_equal(rx.status, MESHOTA_STREAM_BAD_LENGTH);
    /* The failure sticks: the connection must be closed. */
    uint8_t ok[16];
    size_t n = meshota_stream_encode((const uint8_t *)"x", 1, ok, sizeof(ok));
    assert_int_equal(meshota_stream_feed(&rx, ok, n, on_frame, &s), MESHOTA_ERR_FRAME);
    assert_int_equal(s.count, 0);
}

static void test_stream_rejects_bad_crc(void **state)
{
    (void)state;
    sink_t s = {0};
    uint8_t wire[32];
    size_t n = meshota_stream_encode((const uint8_t *)"abcd", 4, wire, sizeof(wire));
    assert_int_equal(n, 10);
    wire[3] ^= 0x01; /* flip one payload bit */
    meshota_stream_reset(&rx);
    assert_int_equal(meshota_stream_feed(&rx, wire, n, on_frame, &s), MESHOTA_ERR_FRAME);
    assert_int_equal(rx.status, MESHOTA_STREAM_BAD_CRC);
    assert_int_equal(s.count, 0);
}

static void test_stream_encode_refuses_bad_sizes(void **state)
{
    (void)state;
    uint8_t out[16];
    assert_int_equal(meshota_stream_encode((const uint8_t *)"a", 0, out, sizeof(out)), 0);
    assert_int_equal(meshota_stream_encode((const uint8_t *)"abcdefghijk", 11, out, sizeof(out)),
                     0);
    size_t n = meshota_stream_encode((const uint8_t *)"abc", 3, out, sizeof(out));
    assert_int_equal(n, 9);
    assert_int_equal(out[0], 3);
    assert_int_equal(out[1], 0);
    uint32_t crc = meshota_crc32(0, (const uint8_t *)"abc", 3);
    assert_int_equal(crc, 0x352441C2u); /* zlib.crc32(b"abc") */
    assert_int_equal(out[5], 0xC2);
    assert_int_equal(out[8], 0x35);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32_matches_zlib_check_value),
        cmocka_unit_test(test_stream_reassembles_any_split),
        cmocka_unit_test(test_stream_callback_can_stop_feeding),
        cmocka_unit_test(test_stream_rejects_zero_and_oversize_length),
        cmocka_unit_test(test_stream_rejects_bad_crc),
        cmocka_unit_test(test_stream_encode_refuses_bad_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
