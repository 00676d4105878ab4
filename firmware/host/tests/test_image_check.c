/* ESP32 app image checks: a valid image passes, each defect gets its own verdict. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "meshota_core/meshota_image.h"
#include "meshota_testlib.h"

static uint8_t img[32768];
static size_t img_len;
static meshota_host_t host;
static meshota_sha256_t sha;
static uint8_t block[256];

static meshota_err_t read_img(void *arg, uint32_t off, uint8_t *buf, size_t len)
{
    (void)arg;
    if (off > img_len || len > img_len - off) {
        return MESHOTA_ERR_FLASH;
    }
    memcpy(buf, img + off, len);
    return MESHOTA_OK;
}

static meshota_image_status_t check(uint32_t size, meshota_image_info_t *info)
{
    return meshota_image_check(&host.port, &sha, read_img, NULL, size, block, sizeof(block), info);
}

static int setup(void **state)
{
    (void)state;
    meshota_host_config_t hc = {.slot_size = 4096, .chip_id = 5};
    assert_int_equal(meshota_host_open(&host, &hc), MESHOTA_OK);
    mt_image_params_t p = mt_image_defaults();
    img_len = mt_image_build(&p, img, sizeof(img));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    meshota_host_close(&host);
    return 0;
}

static void test_valid_image_passes_with_its_identity(void **state)
{
    (void)state;
    meshota_image_info_t info;
    assert_int_equal(check((uint32_t)img_len, &info), MESHOTA_IMAGE_OK);
    assert_int_equal(info.chip_id, 5);
    assert_int_equal(info.min_chip_rev, 0);
    assert_int_equal(info.max_chip_rev, 399);
    assert_int_equal(info.secure_version, 1);
    assert_string_equal(info.version, "1.1.0");
    assert_string_equal(info.project_name, "demo");
    assert_string_equal(info.idf_version, "v5.3.1");
    assert_int_equal(info.end, img_len);
}

static void test_image_without_appended_hash_passes(void **state)
{
    (void)state;
    mt_image_params_t p = mt_image_defaults();
    p.hash_appended = false;
    img_len = mt_image_build(&p, img, sizeof(img));
    meshota_image_info_t info;
    assert_int_equal(check((uint32_t)img_len, &info), MESHOTA_IMAGE_OK);
    assert_int_equal(info.end, img_len);
}

static void test_bad_magic_is_refused(void **state)
{
    (void)state;
    img[0] = 0xE8;
    assert_int_equal(check((uint32_t)img_len, NULL), MESHOTA_IMAGE_BAD_MAGIC);
}

static void test_segment_count_zero_or_over_16_is_refused(void **state)
{
    (void)state;
    img[1] = 0;
    assert_int_equal(check((uint32_t)img_len, NULL), MESHOTA_IMAGE_BAD_SEGMENTS);
    img[1] = 17;
    assert_int_equal(check((uint32_t)img_len, NULL), MESHOTA_IMAGE_BAD_SEGMENTS);
}

static void test_segment_past_the_end_is_refused(void **state)
{
    (void)state;
    /* Second segment length: header 24 + seg0 hdr 8 + 288 data, then its header at 320. */
    uint32_t at = 24 + 8 + 288 + 4;
    img[at + 3] = 0x7F;
    assert_int_equal(check((uint32_t)img_len, NULL), MESHOTA_IMAGE_SEGMENT_BOUNDS);
}

static void test_image_truncated_is_refused(void **state)
{
    (void)state;
    assert_int_equal(check((uint32_t)img_len - 40, NULL), MESHOTA_IMAGE_SEGMENT_BOUNDS);
    assert_int_equal(check(200, NULL), MESHOTA_IMAGE_TOO_SMALL);
}

static void test_checksum_mismatch_is_refused(void **state)
{
    (void)state;
    img[1000] ^= 0x40; /* a data byte of segment 1 */
    assert_int_equal(check((uint32_t)img_len, NULL), MESHOTA_IMAGE_BAD_CHECKSUM);
}

static void test_appended_hash_mismatch_is_refused(void **state)
{
    (void)state;
    img[img_len - 1] ^= 0x01;
    assert_int_equal(check((uint32_t)img_len, NULL), MESHOTA_IMAGE_BAD_HASH);
}

static void test_missing_app_desc_magic_is_refused(void **state)
{
    (void)state;
    img[0x20] = 0x00;
    assert_int_equal(check((uint32_t)img_len, NULL), MESHOTA_IMAGE_BAD_APP_DESC);
}

static void test_first_segment_smaller_than_app_desc_is_refused(void **state)
{
    (void)state;
    img[24 + 4] = 0x10;
    img[24 + 5] = 0x00;
    assert_int_equal(check((uint32_t)img_len, NULL), MESHOTA_IMAGE_BAD_APP_DESC);
}

static void test_any_nonzero_hash_flag_requires_the_appended_hash(void **state)
{
    (void)state;
    /* The ESP-IDF bootloader reads hash_appended as a boolean: 2 asks for the hash as 1 does. */
    mt_image_params_t p = mt_image_defaults();
    p.hash_appended = false;
    img_len = mt_image_build(&p, img, sizeof(img));
    img[0x17] = 2;
    assert_int_equal(check((uint32_t)img_len, NULL), MESHOTA_IMAGE_SEGMENT_BOUNDS);
    p.hash_appended = true;
    img_len = mt_image_build(&p, img, sizeof(img));
    img[0x17] = 0x80;
    assert_int_equal(check((uint32_t)img_len, NULL), MESHOTA_IMAGE_BAD_HASH);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_valid_image_passes_with_its_identity),
        T(test_image_without_appended_hash_passes),
        T(test_bad_magic_is_refused),
        T(test_segment_count_zero_or_over_16_is_refused),
        T(test_segment_past_the_end_is_refused),
        T(test_image_truncated_is_refused),
        T(test_checksum_mismatch_is_refused),
        T(test_appended_hash_mismatch_is_refused),
        T(test_missing_app_desc_magic_is_refused),
        T(test_first_segment_smaller_than_app_desc_is_refused),
        T(test_any_nonzero_hash_flag_requires_the_appended_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
