/*
 * The C core builds the same 124 manifest signing bytes as TypeScript: every vector of
 * proto/testdata/manifest-signing.jsonl (an encoded Manifest and its signing bytes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "meshota_codec.h"
#include "meshota_core/meshota_node.h"

static size_t hex_field(const char *line, const char *key, uint8_t *out, size_t cap)
{
    char pattern[32];
    snprintf(pattern, sizeof(pattern), "\"%s\":\"", key);
    const char *p = strstr(line, pattern);
    assert_non_null(p);
    p += strlen(pattern);
    size_t n = 0;
    while (p[0] != '"') {
        unsigned int byte;
        assert_true(n < cap);
        assert_int_equal(sscanf(p, "%2x", &byte), 1);
        out[n++] = (uint8_t)byte;
        p += 2;
    }
    return n;
}

static void test_signing_bytes_match_the_shared_vectors(void **state)
{
    (void)state;
    FILE *f = fopen(MESHOTA_TESTDATA "/manifest-signing.jsonl", "r");
    assert_non_null(f);
    static char line[4096];
    int vectors = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        uint8_t encoded[256];
        uint8_t want[124];
        size_t len = hex_field(line, "manifest_hex", encoded, sizeof(encoded));
        assert_int_equal(hex_field(line, "signing_hex", want, sizeof(want)), sizeof(want));
        meshota_v1_Manifest m = meshota_v1_Manifest_init_zero;
        assert_true(meshota_decode(meshota_v1_Manifest_fields, &m, encoded, len, NULL));
        uint8_t got[124];
        meshota_manifest_signing_bytes(&m, got);
        assert_memory_equal(got, want, sizeof(want));
        vectors++;
    }
    fclose(f);
    assert_int_equal(vectors, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signing_bytes_match_the_shared_vectors),
    };
    return cmocka_run_group_tests_name("manifest_signing", tests, NULL, NULL);
}
