/* Host tests of the portable parts of meshota_esp: gateway link, opcode matching, HTTP resume. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "meshota_core/meshota_stream.h"
#include "meshota_esp_util.h"
#include "meshota_gwlink.h"
#include "meshota_opcodes.h"

/* ---- Gateway link: SEND parsing ------------------------------------------------------------ */

static size_t make_send(uint8_t *p, uint16_t tag, uint16_t dst, uint8_t ttl, uint8_t op,
                        size_t nparams)
{
    p[0] = MESHOTA_GWLINK_SEND;
    p[1] = (uint8_t)tag;
    p[2] = (uint8_t)(tag >> 8);
    p[3] = (uint8_t)dst;
    p[4] = (uint8_t)(dst >> 8);
    p[5] = ttl;
    p[6] = op;
    for (size_t i = 0; i < nparams; i++) {
        p[7 + i] = (uint8_t)(i * 7u + 1u);
    }
    return 7 + nparams;
}

static void send_with_parameters_is_parsed_field_by_field(void **state)
{
    (void)state;
    uint8_t p[64];
    size_t n = make_send(p, 0xBEEF, 0x0102, 5, MESHOTA_OP_UPDATE_GET, 3);
    meshota_gwlink_send_t s;
    assert_int_equal(meshota_gwlink_parse_send(p, n, &s), MESHOTA_GWLINK_OK);
    assert_int_equal(s.tag, 0xBEEF);
    assert_int_equal(s.dst, 0x0102);
    assert_int_equal(s.ttl, 5);
    assert_int_equal(s.opcode, MESHOTA_OP_UPDATE_GET);
    assert_int_equal(s.len, 3);
    assert_ptr_equal(s.params, &p[7]);
    assert_int_equal(s.params[0], 1);
    assert_int_equal(s.params[2], 15);
}

static void send_without_parameters_has_null_params(void **state)
{
    (void)state;
    uint8_t p[8];
    size_t n = make_send(p, 1, 0xC000, 0xFF, MESHOTA_OP_INFO_GET, 0);
    meshota_gwlink_send_t s;
    assert_int_equal(meshota_gwlink_parse_send(p, n, &s), MESHOTA_GWLINK_OK);
    assert_int_equal(s.len, 0);
    assert_null(s.params);
    assert_int_equal(s.ttl, 0xFF);
}

static void send_of_largest_segmented_message_is_accepted_one_more_byte_refused(void **state)
{
    (void)state;
    static uint8_t p[7 + MESHOTA_SEGMENTED_PARAMS_MAX + 1];
    meshota_gwlink_send_t s;
    size_t n = make_send(p, 9, 0x0005, 0xFF, MESHOTA_OP_DATA_FRAME, MESHOTA_SEGMENTED_PARAMS_MAX);
    assert_int_equal(meshota_gwlink_parse_send(p, n, &s), MESHOTA_GWLINK_OK);
    assert_int_equal(s.len, 377);
    n = make_send(p, 9, 0x0005, 0xFF, MESHOTA_OP_DATA_FRAME, MESHOTA_SEGMENTED_PARAMS_MAX + 1);
    assert_int_equal(meshota_gwlink_parse_send(p, n, &s), MESHOTA_GWLINK_REFUSED);
    assert_int_equal(s.tag, 9);
}

static void send_refusals_keep_the_tag_for_the_answer(void **state)
{
    (void)state;
    uint8_t p[16];
    meshota_gwlink_send_t s;

    /* Unassigned destination. */
    size_t n = make_send(p, 0x0A0B, 0x0000, 0xFF, MESHOTA_OP_INFO_GET, 0);
    assert_int_equal(meshota_gwlink_parse_send(p, n, &s), MESHOTA_GWLINK_REFUSED);
    assert_int_equal(s.tag, 0x0A0B);

    /* TTL above 127 other than the "default" marker 0xFF. */
    n = make_send(p, 2, 0x0001, 0x80, MESHOTA_OP_INFO_GET, 0);
    assert_int_equal(meshota_gwlink_parse_send(p, n, &s), MESHOTA_GWLINK_REFUSED);
    n = make_send(p, 2, 0x0001, 0xFE, MESHOTA_OP_INFO_GET, 0);
    assert_int_equal(meshota_gwlink_parse_send(p, n, &s), MESHOTA_GWLINK_REFUSED);
    n = make_send(p, 2, 0x0001, 0x7F, MESHOTA_OP_INFO_GET, 0);
    assert_int_equal(meshota_gwlink_parse_send(p, n, &s), MESHOTA_GWLINK_OK);

    /* 0x0C..0x0F and 0x11..0x3F are not meshota messages. */
    n = make_send(p, 3, 0x0001, 0xFF, 0x0C, 0);
    assert_int_equal(meshota_gwlink_parse_send(p, n, &s), MESHOTA_GWLINK_REFUSED);
    n = make_send(p, 3, 0x0001, 0xFF, 0x3F, 0);
    assert_int_equal(meshota_gwlink_parse_send(p, n, &s), MESHOTA_GWLINK_REFUSED);

    /* Truncated header: the tag is still read when present. */
    n = make_send(p, 0x1234, 0x0001, 0xFF, MESHOTA_OP_INFO_GET, 0);
    assert_int_equal(meshota_gwlink_parse_send(p, 6, &s), MESHOTA_GWLINK_REFUSED);
    assert_int_equal(s.tag, 0x1234);
    assert_int_equal(meshota_gwlink_parse_send(p, 2, &s), MESHOTA_GWLINK_REFUSED);
    assert_int_equal(s.tag, 0);

    /* Another message type. */
    p[0] = MESHOTA_GWLINK_RECV;
    assert_int_equal(meshota_gwlink_parse_send(p, n, &s), MESHOTA_GWLINK_REFUSED);
    assert_int_equal(meshota_gwlink_parse_send(NULL, 0, &s), MESHOTA_GWLINK_REFUSED);
}

/* ---- Gateway link: framed output -------------------------------------------------------------- */

static void hello_frame_matches_the_documented_bytes(void **state)
{
    (void)state;
    uint8_t out[32];
    /* Payload 01 01 E5 02 34 12 79 01; CRC-32 (zlib) 0xDAA7E7D3, little-endian. */
    static const uint8_t expected[] = {0x08, 0x00, 0x01, 0x01, 0xE5, 0x02, 0x34, 0x12,
                                       0x79, 0x01, 0xD3, 0xE7, 0xA7, 0xDA};
    size_t n = meshota_gwlink_hello(out, sizeof(out), 0x02E5, 0x1234);
    assert_int_equal(n, sizeof(expected));
    assert_memory_equal(out, expected, sizeof(expected));
    assert_int_equal(meshota_gwlink_hello(out, sizeof(expected) - 1, 0x02E5, 0x1234), 0);
}

static void send_result_frame_matches_the_documented_bytes(void **state)
{
    (void)state;
    uint8_t out[16];
    static const uint8_t expected[] = {0x04, 0x00, 0x03, 0x34, 0x12, 0x04,
                                       0x74, 0x89, 0x0A, 0x6F};
    size_t n = meshota_gwlink_send_result(out, sizeof(out), 0x1234, MESHOTA_GWLINK_BUSY);
    assert_int_equal(n, sizeof(expected));
    assert_memory_equal(out, expected, sizeof(expected));
}

typedef struct {
    uint8_t payload[512];
    size_t len;
    int frames;
} collected_t;

static int collect(void *arg, const uint8_t *frame, size_t len)
{
    collected_t *c = arg;
    memcpy(c->payload, frame, len);
    c->len = len;
    c->frames++;
    return 0;
}

/* The example of docs/protocol.md, "TCP control link". */
static void protocol_doc_example_hello_and_send(void **state)
{
    (void)state;
    uint8_t out[32];
    static const uint8_t hello[] = {0x08, 0x00, 0x01, 0x01, 0xE5, 0x02, 0x05, 0x00,
                                    0x79, 0x01, 0x09, 0x0F, 0x92, 0x8D};
    assert_int_equal(meshota_gwlink_hello(out, sizeof(out), 0x02E5, 0x0005), sizeof(hello));
    assert_memory_equal(out, hello, sizeof(hello));

    static const uint8_t framed_send[] = {0x07, 0x00, 0x02, 0x01, 0x00, 0x42, 0x00,
                                          0xFF, 0x04, 0x2F, 0xB4, 0xFB, 0x64};
    static meshota_stream_rx_t rx;
    meshota_stream_reset(&rx);
    collected_t c = {0};
    assert_int_equal(meshota_stream_feed(&rx, framed_send, sizeof(framed_send), collect, &c),
                     MESHOTA_OK);
    assert_int_equal(c.frames, 1);
    meshota_gwlink_send_t snd;
    assert_int_equal(meshota_gwlink_parse_send(c.payload, c.len, &snd), MESHOTA_GWLINK_OK);
    assert_int_equal(snd.tag, 1);
    assert_int_equal(snd.dst, 0x0042);
    assert_int_equal(snd.ttl, 0xFF);
    assert_int_equal(snd.opcode, MESHOTA_OP_UPDATE_GET);
    assert_int_equal(snd.len, 0);
}

static void recv_frame_survives_byte_by_byte_reassembly(void **state)
{
    (void)state;
    static uint8_t params[MESHOTA_SEGMENTED_PARAMS_MAX];
    for (size_t i = 0; i < sizeof(params); i++) {
        params[i] = (uint8_t)(255u - i);
    }
    static uint8_t out[MESHOTA_GWLINK_MAX_FRAME];
    size_t n = meshota_gwlink_recv(out, sizeof(out), 0x0007, 0xC001, -61, MESHOTA_OP_INFO_STATUS,
                                   params, sizeof(params));
    assert_int_equal(n, MESHOTA_GWLINK_MAX_FRAME);

    static meshota_stream_rx_t rx;
    meshota_stream_reset(&rx);
    collected_t c = {0};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(meshota_stream_feed(&rx, &out[i], 1, collect, &c), MESHOTA_OK);
    }
    assert_int_equal(c.frames, 1);
    assert_int_equal(c.len, MESHOTA_GWLINK_RECV_HEADER + sizeof(params));
    assert_int_equal(c.payload[0], MESHOTA_GWLINK_RECV);
    assert_int_equal(c.payload[1] | (c.payload[2] << 8), 0x0007);
    assert_int_equal(c.payload[3] | (c.payload[4] << 8), 0xC001);
    assert_int_equal((int8_t)c.payload[5], -61);
    assert_int_equal(c.payload[6], MESHOTA_OP_INFO_STATUS);
    assert_memory_equal(&c.payload[7], params, sizeof(params));
}

static void recv_refuses_oversize_parameters(void **state)
{
    (void)state;
    static uint8_t params[MESHOTA_SEGMENTED_PARAMS_MAX + 1];
    static uint8_t out[MESHOTA_GWLINK_MAX_FRAME + 16];
    assert_int_equal(meshota_gwlink_recv(out, sizeof(out), 1, 2, 0, MESHOTA_OP_DATA_FRAME, params,
                                         sizeof(params)),
                     0);
    assert_int_equal(meshota_gwlink_recv(out, sizeof(out), 1, 2, 0, MESHOTA_OP_DATA_FRAME, NULL, 4),
                     0);
    assert_int_equal(meshota_gwlink_recv(out, 12, 1, 2, 0, MESHOTA_OP_DATA_FRAME, params, 4), 0);
}

static void fifo_returns_tags_in_order_and_refuses_a_ninth(void **state)
{
    (void)state;
    meshota_gwlink_fifo_t f;
    meshota_gwlink_fifo_reset(&f);
    uint16_t tag = 0;
    assert_false(meshota_gwlink_fifo_pop(&f, &tag));
    /* Wrap around the ring twice. */
    for (uint16_t round = 0; round < 3; round++) {
        for (uint16_t i = 0; i < MESHOTA_GWLINK_FIFO_DEPTH; i++) {
            assert_true(meshota_gwlink_fifo_push(&f, (uint16_t)(round * 100u + i)));
        }
        assert_false(meshota_gwlink_fifo_push(&f, 999));
        for (uint16_t i = 0; i < 3; i++) {
            assert_true(meshota_gwlink_fifo_pop(&f, &tag));
            assert_int_equal(tag, round * 100u + i);
        }
        assert_true(meshota_gwlink_fifo_push(&f, 7));
        for (uint16_t i = 3; i < MESHOTA_GWLINK_FIFO_DEPTH; i++) {
            assert_true(meshota_gwlink_fifo_pop(&f, &tag));
            assert_int_equal(tag, round * 100u + i);
        }
        assert_true(meshota_gwlink_fifo_pop(&f, &tag));
        assert_int_equal(tag, 7);
        assert_false(meshota_gwlink_fifo_pop(&f, &tag));
    }
}

static void fifo_unpush_takes_back_the_newest_tag(void **state)
{
    (void)state;
    meshota_gwlink_fifo_t f;
    meshota_gwlink_fifo_reset(&f);
    uint16_t tag = 0;
    assert_false(meshota_gwlink_fifo_unpush(&f, &tag));
    /* Start near the end of the ring so the newest entry wraps. */
    for (uint16_t i = 0; i < 6; i++) {
        assert_true(meshota_gwlink_fifo_push(&f, i));
    }
    for (uint16_t i = 0; i < 6; i++) {
        assert_true(meshota_gwlink_fifo_pop(&f, &tag));
    }
    assert_true(meshota_gwlink_fifo_push(&f, 10));
    assert_true(meshota_gwlink_fifo_push(&f, 11));
    assert_true(meshota_gwlink_fifo_push(&f, 12));
    assert_true(meshota_gwlink_fifo_unpush(&f, &tag));
    assert_int_equal(tag, 12);
    assert_true(meshota_gwlink_fifo_pop(&f, &tag));
    assert_int_equal(tag, 10);
    assert_true(meshota_gwlink_fifo_pop(&f, &tag));
    assert_int_equal(tag, 11);
    assert_false(meshota_gwlink_fifo_pop(&f, &tag));
}

/* ---- Vendor opcodes as ESP-BLE-MESH reports them --------------------------------------------- */

static void vendor_opcode_of_our_company_is_split(void **state)
{
    (void)state;
    uint8_t op = 0xAA;
    /* ESP_BLE_MESH_MODEL_OP_3(0x05, 0x02E5) == 0xC502E5 (UpdateStatus). */
    assert_true(meshota_esp_vendor_op_split(0xC502E5u, 0x02E5, &op));
    assert_int_equal(op, MESHOTA_OP_UPDATE_STATUS);
    assert_true(meshota_esp_vendor_op_split(0xD002E5u, 0x02E5, &op));
    assert_int_equal(op, MESHOTA_OP_DATA_FRAME);
    assert_true(meshota_esp_vendor_op_split(0xFF1234u, 0x1234, &op));
    assert_int_equal(op, 0x3F);
}

static void other_companies_and_sig_opcodes_are_not_ours(void **state)
{
    (void)state;
    uint8_t op = 0xAA;
    assert_false(meshota_esp_vendor_op_split(0xC50059u, 0x02E5, &op)); /* Nordic's company */
    assert_false(meshota_esp_vendor_op_split(0x8201u, 0x02E5, &op));   /* 2-octet SIG opcode */
    assert_false(meshota_esp_vendor_op_split(0x04u, 0x02E5, &op));     /* 1-octet SIG opcode */
    assert_false(meshota_esp_vendor_op_split(0x8502E5u, 0x02E5, &op)); /* 0b10 prefix */
    assert_false(meshota_esp_vendor_op_split(0x1C502E5u, 0x02E5, &op));
    assert_int_equal(op, 0xAA);
}

/* ---- HTTP ranges ------------------------------------------------------------------------------ */

static void content_range_values_are_parsed_exactly(void **state)
{
    (void)state;
    meshota_esp_range_t r;
    assert_true(meshota_esp_parse_content_range("bytes 1024-2047/4096", &r));
    assert_int_equal(r.first, 1024);
    assert_int_equal(r.last, 2047);
    assert_int_equal(r.total, 4096);
    assert_true(meshota_esp_parse_content_range("bytes 0-0/1", &r));
    assert_int_equal(r.total, 1);
    assert_true(meshota_esp_parse_content_range("bytes 10-19/*", &r));
    assert_int_equal(r.first, 10);
    assert_int_equal(r.total, 0);
    assert_true(meshota_esp_parse_content_range("bytes 0-4294967294/4294967295", &r));
    assert_int_equal(r.last, 4294967294u);
}

static void malformed_content_ranges_are_rejected(void **state)
{
    (void)state;
    meshota_esp_range_t r;
    static const char *bad[] = {
        "bytes 5-4/10",        /* first after last */
        "bytes 0-10/10",       /* last beyond the resource */
        "bytes */10",          /* unsatisfied-range form */
        "bytes 0-1/4294967296", /* total overflows 32 bits */
        "bytes 99999999999-1/2",
        "items 0-1/2",
        "bytes 0-1/2x",
        "bytes -1/2",
        "bytes 0-/2",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(meshota_esp_parse_content_range(bad[i], &r));
    }
    assert_false(meshota_esp_parse_content_range(NULL, &r));
}

static void range_request_headers_are_formatted(void **state)
{
    (void)state;
    char b[32];
    assert_int_equal(meshota_esp_range_header(b, sizeof(b), 1024, 0), 11);
    assert_string_equal(b, "bytes=1024-");
    assert_int_equal(meshota_esp_range_header(b, sizeof(b), 0, 4095), 12);
    assert_string_equal(b, "bytes=0-4095");
    assert_int_equal(meshota_esp_range_header(b, 11, 1024, 0), 0);
}

static void partial_content_at_the_requested_offset_is_accepted(void **state)
{
    (void)state;
    meshota_esp_http_verdict_t v = meshota_esp_http_check(206, "bytes 4096-8191/100000", 4096, 4096);
    assert_int_equal(v.action, MESHOTA_ESP_HTTP_ACCEPT);
    assert_int_equal(v.total, 100000);
    assert_int_equal(v.skip, 0);
}

static void partial_content_at_another_offset_fails(void **state)
{
    (void)state;
    meshota_esp_http_verdict_t v = meshota_esp_http_check(206, "bytes 0-8191/100000", 8192, 4096);
    assert_int_equal(v.action, MESHOTA_ESP_HTTP_FAIL);
    v = meshota_esp_http_check(206, NULL, 8192, 4096);
    assert_int_equal(v.action, MESHOTA_ESP_HTTP_FAIL);
}

static void resume_after_server_ignores_range_skips_what_is_held(void **state)
{
    (void)state;
    meshota_esp_http_verdict_t v = meshota_esp_http_check(200, NULL, 100000, 40960);
    assert_int_equal(v.action, MESHOTA_ESP_HTTP_SKIP);
    assert_int_equal(v.skip, 40960);
    assert_int_equal(v.total, 100000);
    /* From the start a 200 is simply the image. */
    v = meshota_esp_http_check(200, NULL, 100000, 0);
    assert_int_equal(v.action, MESHOTA_ESP_HTTP_ACCEPT);
    assert_int_equal(v.total, 100000);
    /* Chunked (no length): total unknown, still skipped. */
    v = meshota_esp_http_check(200, NULL, -1, 512);
    assert_int_equal(v.action, MESHOTA_ESP_HTTP_SKIP);
    assert_int_equal(v.total, 0);
}

static void whole_resource_smaller_than_what_is_held_fails(void **state)
{
    (void)state;
    meshota_esp_http_verdict_t v = meshota_esp_http_check(200, NULL, 1000, 4096);
    assert_int_equal(v.action, MESHOTA_ESP_HTTP_FAIL);
}

static void other_statuses_fail(void **state)
{
    (void)state;
    static const int statuses[] = {0, 204, 301, 404, 416, 500, 503};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        assert_int_equal(meshota_esp_http_check(statuses[i], "bytes 0-1/2", 2, 0).action,
                         MESHOTA_ESP_HTTP_FAIL);
    }
}

/* ---- Public key from Kconfig ----------------------------------------------------------------- */

static void public_key_hex_is_decoded_to_65_bytes(void **state)
{
    (void)state;
    char hex[131];
    hex[0] = '0';
    hex[1] = '4';
    for (int i = 1; i < 65; i++) {
        static const char digits[] = "0123456789abcDEF";
        hex[2 * i] = digits[i % 16];
        hex[2 * i + 1] = digits[(i * 3) % 16];
    }
    hex[130] = '\0';
    uint8_t key[65];
    assert_true(meshota_esp_parse_pubkey_hex(hex, key));
    assert_int_equal(key[0], 0x04);
    assert_int_equal(key[1], 0x13);  /* digits[1], digits[3] */
    assert_int_equal(key[5], 0x5F);  /* digits[5], digits[15] */
    assert_int_equal(key[63], 0xFD); /* digits[15], digits[189 % 16 = 13] */
    assert_int_equal(key[64], 0x00); /* digits[0], digits[192 % 16 = 0] */
}

static void malformed_public_keys_are_rejected_and_output_untouched(void **state)
{
    (void)state;
    char hex[132];
    memset(hex, 'a', sizeof(hex));
    hex[0] = '0';
    hex[1] = '4';
    hex[130] = '\0';
    uint8_t key[65];
    memset(key, 0x5A, sizeof(key));
    assert_true(meshota_esp_parse_pubkey_hex(hex, key));

    memset(key, 0x5A, sizeof(key));
    hex[1] = '2'; /* compressed point prefix */
    assert_false(meshota_esp_parse_pubkey_hex(hex, key));
    hex[1] = '4';
    hex[77] = 'g'; /* not a hex digit */
    assert_false(meshota_esp_parse_pubkey_hex(hex, key));
    hex[77] = 'a';
    hex[129] = '\0'; /* 129 digits */
    assert_false(meshota_esp_parse_pubkey_hex(hex, key));
    hex[129] = 'a';
    hex[130] = 'a';
    hex[131] = '\0'; /* 131 digits */
    assert_false(meshota_esp_parse_pubkey_hex(hex, key));
    assert_false(meshota_esp_parse_pubkey_hex("", key));
    assert_false(meshota_esp_parse_pubkey_hex(NULL, key));
    for (size_t i = 0; i < sizeof(key); i++) {
        assert_int_equal(key[i], 0x5A);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(send_with_parameters_is_parsed_field_by_field),
        cmocka_unit_test(send_without_parameters_has_null_params),
        cmocka_unit_test(send_of_largest_segmented_message_is_accepted_one_more_byte_refused),
        cmocka_unit_test(send_refusals_keep_the_tag_for_the_answer),
        cmocka_unit_test(hello_frame_matches_the_documented_bytes),
        cmocka_unit_test(send_result_frame_matches_the_documented_bytes),
        cmocka_unit_test(protocol_doc_example_hello_and_send),
        cmocka_unit_test(recv_frame_survives_byte_by_byte_reassembly),
        cmocka_unit_test(recv_refuses_oversize_parameters),
        cmocka_unit_test(fifo_returns_tags_in_order_and_refuses_a_ninth),
        cmocka_unit_test(fifo_unpush_takes_back_the_newest_tag),
        cmocka_unit_test(vendor_opcode_of_our_company_is_split),
        cmocka_unit_test(other_companies_and_sig_opcodes_are_not_ours),
        cmocka_unit_test(content_range_values_are_parsed_exactly),
        cmocka_unit_test(malformed_content_ranges_are_rejected),
        cmocka_unit_test(range_request_headers_are_formatted),
        cmocka_unit_test(partial_content_at_the_requested_offset_is_accepted),
        cmocka_unit_test(partial_content_at_another_offset_fails),
        cmocka_unit_test(resume_after_server_ignores_range_skips_what_is_held),
        cmocka_unit_test(whole_resource_smaller_than_what_is_held_fails),
        cmocka_unit_test(other_statuses_fail),
        cmocka_unit_test(public_key_hex_is_decoded_to_65_bytes),
        cmocka_unit_test(malformed_public_keys_are_rejected_and_output_untouched),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
