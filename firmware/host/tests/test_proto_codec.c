/*
 * The firmware's side of the shared wire vectors (proto/testdata): every golden vector decodes
 * and re-encodes to the same bytes, every malformed one is refused, and every control message
 * fits its size budget.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "meshota_codec.h"

#define MAX_VECTORS 64
#define MAX_BYTES 2048

typedef struct {
    char name[32];
    char label[48];
    uint8_t bytes[MAX_BYTES];
    size_t len;
} vector_t;

static vector_t s_golden[MAX_VECTORS];
static size_t s_golden_count;
static vector_t s_malformed[MAX_VECTORS];
static size_t s_malformed_count;

static union {
    long double align;
    uint8_t bytes[8192];
} s_msg;

/* Copies the string value of "key" from a one-line JSON object. */
static int json_string(const char *line, const char *key, char *out, size_t out_size)
{
    char pattern[32];
    snprintf(pattern, sizeof(pattern), "\"%s\":\"", key);
    const char *start = strstr(line, pattern);
    if (start == NULL) {
        return -1;
    }
    start += strlen(pattern);
    const char *end = strchr(start, '"');
    if (end == NULL || (size_t)(end - start) >= out_size) {
        return -1;
    }
    memcpy(out, start, (size_t)(end - start));
    out[end - start] = '\0';
    return 0;
}

static size_t load_vectors(const char *file, vector_t *vectors, const char *label_key)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", MESHOTA_TESTDATA, file);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fail_msg("cannot open %s", path);
    }
    static char line[8192];
    static char hex[2 * MAX_BYTES + 1];
    size_t count = 0;
    while (fgets(line, sizeof(line), f) != NULL && count < MAX_VECTORS) {
        vector_t *v = &vectors[count];
        assert_int_equal(json_string(line, "name", v->name, sizeof(v->name)), 0);
        assert_int_equal(json_string(line, "hex", hex, sizeof(hex)), 0);
        if (json_string(line, label_key, v->label, sizeof(v->label)) != 0) {
            snprintf(v->label, sizeof(v->label), "%s", v->name);
        }
        v->len = strlen(hex) / 2;
        for (size_t i = 0; i < v->len; i++) {
            unsigned int byte;
            assert_int_equal(sscanf(&hex[2 * i], "%2x", &byte), 1);
            v->bytes[i] = (uint8_t)byte;
        }
        count++;
    }
    fclose(f);
    return count;
}

static int setup(void **state)
{
    (void)state;
    s_golden_count = load_vectors("golden.jsonl", s_golden, "case");
    s_malformed_count = load_vectors("malformed.jsonl", s_malformed, "why");
    return 0;
}

static const vector_t *golden(const char *label)
{
    for (size_t i = 0; i < s_golden_count; i++) {
        if (strcmp(s_golden[i].label, label) == 0) {
            return &s_golden[i];
        }
    }
    fail_msg("no golden vector %s", label);
    return NULL;
}

static void *decode_golden(const char *label, const pb_msgdesc_t *fields)
{
    const vector_t *v = golden(label);
    const char *error = NULL;
    memset(&s_msg, 0, sizeof(s_msg));
    if (!meshota_decode(fields, s_msg.bytes, v->bytes, v->len, &error)) {
        fail_msg("%s: %s", label, error);
    }
    return s_msg.bytes;
}

static void test_golden_vectors_reencode_byte_exact(void **state)
{
    (void)state;
    assert_true(s_golden_count >= 30);
    for (size_t i = 0; i < s_golden_count; i++) {
        const vector_t *v = &s_golden[i];
        const meshota_vendor_msg_t *entry = meshota_vendor_by_name(v->name);
        assert_non_null(entry);
        const char *error = NULL;
        uint8_t out[MAX_BYTES];
        size_t out_len = 0;
        memset(&s_msg, 0, sizeof(s_msg));
        if (!meshota_decode(entry->fields, s_msg.bytes, v->bytes, v->len, &error)) {
            fail_msg("%s: %s", v->label, error);
        }
        assert_true(meshota_encode(entry->fields, s_msg.bytes, out, sizeof(out), &out_len, &error));
        assert_int_equal(out_len, v->len);
        assert_memory_equal(out, v->bytes, v->len);
    }
}

static void test_golden_values_decode_to_the_right_fields(void **state)
{
    (void)state;
    const meshota_v1_UpdateStatus *status = decode_golden("UpdateStatus#1", meshota_v1_UpdateStatus_fields);
    assert_int_equal(status->phase, meshota_v1_Phase_PHASE_RECEIVING);
    assert_int_equal(status->bytes_done, 786432);
    assert_int_equal(status->percent, 50);
    assert_int_equal(status->error, meshota_v1_ErrorCode_ERROR_CODE_NONE);

    const meshota_v1_InfoStatus *info = decode_golden("InfoStatus#2", meshota_v1_InfoStatus_fields);
    assert_string_equal(info->project_name, "c\xc5\x93ur-\xce\xa9-\xe7\xaf\x80\xe7\x82\xb9");

    const meshota_v1_UpdateStart *start = decode_golden("UpdateStart#1", meshota_v1_UpdateStart_fields);
    assert_int_equal(start->session_id, 305419896);
    assert_true(start->has_manifest);
    assert_int_equal(start->manifest.image_size, 1572864);
    assert_int_equal(start->manifest.image_sha256.size, 32);
    assert_int_equal(start->manifest.image_sha256.bytes[0], 0xDE);
    assert_string_equal(start->manifest.project_name, "greenhouse-node");
    assert_int_equal(start->signature.size, 64);
    assert_int_equal(start->which_method, meshota_v1_UpdateStart_wifi_tag);
    assert_string_equal(start->method.wifi.url, "https://10.0.0.2:8443/fw/greenhouse-1.5.0.bin");

    /* A oneof member whose fields are all zero is still present. */
    start = decode_golden("UpdateStart#4", meshota_v1_UpdateStart_fields);
    assert_int_equal(start->which_method, meshota_v1_UpdateStart_mesh_tag);
    assert_int_equal(start->method.mesh.chunk_size, 0);
    start = decode_golden("UpdateStart#5", meshota_v1_UpdateStart_fields);
    assert_int_equal(start->which_method, meshota_v1_UpdateStart_wifi_tag);

    const meshota_v1_DataFrame *frame = decode_golden("DataFrame#7", meshota_v1_DataFrame_fields);
    assert_int_equal(frame->which_body, meshota_v1_DataFrame_done_tag);
    assert_int_equal(frame->body.done.session_id, 0);

    frame = decode_golden("DataFrame#5", meshota_v1_DataFrame_fields);
    assert_int_equal(frame->which_body, meshota_v1_DataFrame_missing_tag);
    assert_int_equal(frame->body.missing.ranges_count, 2);
    assert_int_equal(frame->body.missing.ranges[1].first, 1000);
    assert_int_equal(frame->body.missing.bitmap.size, 8);

    const meshota_v1_RelayStart *relay = decode_golden("RelayStart#1", meshota_v1_RelayStart_fields);
    assert_int_equal(relay->targets_count, 5);
    assert_int_equal(relay->targets[4], 32767);
}

static void test_malformed_vectors_are_refused(void **state)
{
    (void)state;
    assert_true(s_malformed_count >= 20);
    for (size_t i = 0; i < s_malformed_count; i++) {
        const vector_t *v = &s_malformed[i];
        const meshota_vendor_msg_t *entry = meshota_vendor_by_name(v->name);
        assert_non_null(entry);
        const char *error = NULL;
        memset(&s_msg, 0, sizeof(s_msg));
        if (meshota_decode(entry->fields, s_msg.bytes, v->bytes, v->len, &error)) {
            fail_msg("accepted malformed %s: %s", v->name, v->label);
        }
        assert_non_null(error);
    }
}

static void test_control_messages_fit_one_segmented_payload(void **state)
{
    (void)state;
    size_t checked = 0;
    for (size_t i = 0; i < meshota_vendor_count(); i++) {
        const meshota_vendor_msg_t *entry = meshota_vendor_at(i);
        if (entry->budget == MESHOTA_BUDGET_NONE) {
            continue;
        }
        if (entry->max_size > MESHOTA_SEGMENTED_PARAMS_MAX) {
            fail_msg("%s worst case is %zu bytes", entry->name, entry->max_size);
        }
        checked++;
    }
    assert_int_equal(checked, 12);
    assert_int_equal(MESHOTA_SEGMENTED_PARAMS_MAX, 377);
    assert_int_equal(MESHOTA_UNSEGMENTED_PARAMS_MAX, 8);
}

/* The generator's worst-case sizes (shared with TypeScript) equal nanopb's own. */
#define CHECK_GENERATED_SIZE(op, NAME, type, desc, budget) \
    assert_int_equal(MESHOTA_MAX_SIZE_##NAME, type##_size);

static void test_generated_sizes_match_nanopb(void **state)
{
    (void)state;
    MESHOTA_FOR_EACH_VENDOR_MESSAGE(CHECK_GENERATED_SIZE)
}

static size_t encoded_size(const pb_msgdesc_t *fields, const void *msg)
{
    uint8_t out[MAX_BYTES];
    size_t len = 0;
    assert_true(meshota_encode(fields, msg, out, sizeof(out), &len, NULL));
    return len;
}

static void test_status_messages_travel_unsegmented_in_the_common_case(void **state)
{
    (void)state;
    /* Progress of a 1.5 MB image, near its end. */
    meshota_v1_UpdateStatus status = meshota_v1_UpdateStatus_init_zero;
    status.phase = meshota_v1_Phase_PHASE_RECEIVING;
    status.bytes_done = 1572000;
    status.percent = 99;
    assert_true(encoded_size(meshota_v1_UpdateStatus_fields, &status) <= MESHOTA_UNSEGMENTED_PARAMS_MAX);

    meshota_v1_RelayStatus relay = meshota_v1_RelayStatus_init_zero;
    relay.phase = meshota_v1_RelayPhase_RELAY_PHASE_RUNNING;
    relay.targets_done = 31;
    relay.targets_failed = 1;
    assert_true(encoded_size(meshota_v1_RelayStatus_fields, &relay) <= MESHOTA_UNSEGMENTED_PARAMS_MAX);

    meshota_v1_UpdateApply apply = {.session_id = 0xFFFFFFFFu};
    assert_true(encoded_size(meshota_v1_UpdateApply_fields, &apply) <= MESHOTA_UNSEGMENTED_PARAMS_MAX);
}

static void test_vendor_table_lookup(void **state)
{
    (void)state;
    const meshota_vendor_msg_t *entry = meshota_vendor_by_opcode(MESHOTA_OP_UPDATE_START);
    assert_non_null(entry);
    assert_ptr_equal(entry->fields, &meshota_v1_UpdateStart_msg);
    assert_ptr_equal(meshota_vendor_by_name("UpdateStart"), entry);
    assert_ptr_equal(meshota_vendor_by_name("UPDATE_START"), entry);
    assert_null(meshota_vendor_by_opcode(0x3F));
    assert_null(meshota_vendor_by_name("NoSuchMessage"));

    uint8_t op[3];
    meshota_vendor_opcode_bytes(MESHOTA_OP_UPDATE_STATUS, MESHOTA_COMPANY_ID_ESPRESSIF, op);
    assert_int_equal(op[0], 0xC5);
    assert_int_equal(op[1], 0xE5);
    assert_int_equal(op[2], 0x02);
}

static void test_utf8_validation(void **state)
{
    (void)state;
    assert_true(meshota_utf8_valid("plain"));
    assert_true(meshota_utf8_valid("\xe7\xaf\x80\xf0\x9f\x98\x80"));
    assert_false(meshota_utf8_valid("\xc3\x28"));
    assert_false(meshota_utf8_valid("\xc0\xaf"));         /* overlong '/' */
    assert_false(meshota_utf8_valid("\xed\xa0\x80"));     /* surrogate */
    assert_false(meshota_utf8_valid("\xf4\x90\x80\x80")); /* past U+10FFFF */
    assert_false(meshota_utf8_valid("\xe7\xaf"));         /* cut short */
}

static void test_encode_refuses_too_small_buffer(void **state)
{
    (void)state;
    meshota_v1_UpdateStatus status = {.phase = meshota_v1_Phase_PHASE_RECEIVING, .bytes_done = 1000};
    uint8_t out[3];
    size_t len = 0;
    const char *error = NULL;
    assert_false(meshota_encode(meshota_v1_UpdateStatus_fields, &status, out, sizeof(out), &len, &error));
    assert_non_null(error);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_vectors_reencode_byte_exact),
        cmocka_unit_test(test_golden_values_decode_to_the_right_fields),
        cmocka_unit_test(test_malformed_vectors_are_refused),
        cmocka_unit_test(test_control_messages_fit_one_segmented_payload),
        cmocka_unit_test(test_generated_sizes_match_nanopb),
        cmocka_unit_test(test_status_messages_travel_unsegmented_in_the_common_case),
        cmocka_unit_test(test_vendor_table_lookup),
        cmocka_unit_test(test_utf8_validation),
        cmocka_unit_test(test_encode_refuses_too_small_buffer),
    };
    return cmocka_run_group_tests_name("proto_codec", tests, setup, NULL);
}
