/* The gateway link as the device builds and parses it (meshota_esp's portable
 * meshota_gwlink.c), against the byte vectors the host side (@meshota/transport-tcp,
 * control-link.test.ts) and docs/protocol.md "TCP control link" use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "meshota_core/meshota_stream.h"
#include "meshota_gwlink.h"

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = strlen(s) / 2;
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        assert_int_equal(sscanf(&s[2 * i], "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

/* Strip the stream framing: check length and CRC, return the payload. */
static const uint8_t *unframe(const uint8_t *frame, size_t n, size_t *len)
{
    assert_true(n >= MESHOTA_STREAM_OVERHEAD);
    *len = (size_t)frame[0] | ((size_t)frame[1] << 8);
    assert_int_equal(*len + MESHOTA_STREAM_OVERHEAD, n);
    uint32_t crc = (uint32_t)frame[2 + *len] | ((uint32_t)frame[3 + *len] << 8) |
                   ((uint32_t)frame[4 + *len] << 16) | ((uint32_t)frame[5 + *len] << 24);
    assert_int_equal(meshota_crc32(0, &frame[2], *len), crc);
    return &frame[2];
}

static void expect_payload(const uint8_t *frame, size_t n, const char *hex)
{
    uint8_t want[512];
    size_t want_len = unhex(hex, want, sizeof(want));
    size_t len = 0;
    const uint8_t *p = unframe(frame, n, &len);
    assert_int_equal(len, want_len);
    assert_memory_equal(p, want, len);
}

static void test_hello_matches_host_vector(void **state)
{
    (void)state;
    uint8_t out[64];
    size_t n = meshota_gwlink_hello(out, sizeof(out), 0x02E5, 0x0005);
    expect_payload(out, n, "0101e50205007901");
}

static void test_send_result_matches_host_vector(void **state)
{
    (void)state;
    uint8_t out[64];
    size_t n = meshota_gwlink_send_result(out, sizeof(out), 0xBEEF, MESHOTA_GWLINK_BUSY);
    expect_payload(out, n, "03efbe04");
}

static void test_recv_matches_host_vector(void **state)
{
    (void)state;
    uint8_t out[64];
    const uint8_t params[2] = {1, 2};
    size_t n = meshota_gwlink_recv(out, sizeof(out), 0x0042, 0x0001, -60, 0x10, params, 2);
    expect_payload(out, n, "0442000100c4100102");
}

static void test_host_send_vectors_parse(void **state)
{
    (void)state;
    uint8_t p[512];
    meshota_gwlink_send_t s;
    /* UpdateGet (0x04) with tag 1 to 0x0042 at the default TTL: the docs example. */
    size_t n = unhex("0201004200ff04", p, sizeof(p));
    assert_int_equal(meshota_gwlink_parse_send(p, n, &s), MESHOTA_GWLINK_OK);
    assert_int_equal(s.tag, 1);
    assert_int_equal(s.dst, 0x0042);
    assert_int_equal(s.ttl, 0xFF);
    assert_int_equal(s.opcode, 0x04);
    assert_int_equal(s.len, 0);
    /* The framed form in docs/protocol.md, CRC included. */
    uint8_t framed[64];
    size_t fn = unhex("070002010042" "00ff04" "2fb4fb64", framed, sizeof(framed));
    size_t len = 0;
    const uint8_t *inner = unframe(framed, fn, &len);
    assert_int_equal(len, n);
    assert_memory_equal(inner, p, n);
    /* Tag 0x1234 to group 0xC000, opcode 0x01 (InfoStatus), one parameter byte. */
    n = unhex("02341200c0ff01aa", p, sizeof(p));
    assert_int_equal(meshota_gwlink_parse_send(p, n, &s), MESHOTA_GWLINK_OK);
    assert_int_equal(s.tag, 0x1234);
    assert_int_equal(s.dst, 0xC000);
    assert_int_equal(s.len, 1);
    assert_int_equal(s.params[0], 0xAA);
    /* Refused: destination 0 (tag still read), TTL 0x80, 378 parameter bytes. */
    n = unhex("02070000000104", p, sizeof(p));
    assert_int_equal(meshota_gwlink_parse_send(p, n, &s), MESHOTA_GWLINK_REFUSED);
    assert_int_equal(s.tag, 7);
    n = unhex("0201004200800" "4", p, sizeof(p));
    assert_int_equal(meshota_gwlink_parse_send(p, n, &s), MESHOTA_GWLINK_REFUSED);
    memset(p, 0, sizeof(p));
    p[0] = 0x02;
    p[3] = 0x42;
    p[5] = 0xFF;
    p[6] = 0x04;
    assert_int_equal(meshota_gwlink_parse_send(p, MESHOTA_GWLINK_SEND_HEADER + 378, &s),
                     MESHOTA_GWLINK_REFUSED);
    assert_int_equal(meshota_gwlink_parse_send(p, MESHOTA_GWLINK_SEND_HEADER + 377, &s),
                     MESHOTA_GWLINK_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_matches_host_vector),
        cmocka_unit_test(test_send_result_matches_host_vector),
        cmocka_unit_test(test_recv_matches_host_vector),
        cmocka_unit_test(test_host_send_vectors_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
