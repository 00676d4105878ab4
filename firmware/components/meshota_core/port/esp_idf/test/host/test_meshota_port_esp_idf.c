/* The ESP-IDF port run on the host against fakes of the ESP-IDF calls it makes (declared in
 * esp_api/). The port's source is included so that a test can reboot it (reset its state). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../meshota_port_esp_idf.c"

/* ---- fake flash: two 1 MB OTA slots ----------------------------------------------------- */

#define SLOT_SIZE (1024u * 1024u)
#define SECTOR 4096u

static esp_partition_t s_ota0 = {.type = ESP_PARTITION_TYPE_APP,
                                 .subtype = ESP_PARTITION_SUBTYPE_APP_OTA_0,
                                 .address = 0x20000,
                                 .size = SLOT_SIZE,
                                 .erase_size = SECTOR,
                                 .label = "ota_0"};
static esp_partition_t s_ota1 = {.type = ESP_PARTITION_TYPE_APP,
                                 .subtype = ESP_PARTITION_SUBTYPE_APP_OTA_1,
                                 .address = 0x120000,
                                 .size = SLOT_SIZE,
                                 .erase_size = SECTOR,
                                 .label = "ota_1"};
static uint8_t s_mem[2][SLOT_SIZE];

static int slot_of(const esp_partition_t *p)
{
    return p == &s_ota0 ? 0 : 1;
}

/* What happened, in order: "E<offset>" per erase call, "D<ticks>" per vTaskDelay,
 * "W<offset>+<len>" per write. */
static char s_events[64][24];
static int s_n_events;
static int s_erase_fail_at = -1; /* erase call index that fails, -1 for none */
static int s_erase_calls;
static unsigned s_delayed_ticks;
static esp_ota_img_states_t s_state[2];
static bool s_has_state[2];
static int s_state_queries;
static const esp_partition_t *s_running;
static esp_err_t s_set_boot_result;
static const esp_partition_t *s_boot_set;
static char s_last_error[256];

static void event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void event(const char *fmt, ...)
{
    if (s_n_events >= 64) {
        s_n_events++; /* counted, not kept: assert_events then fails on the count */
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s_events[s_n_events++], sizeof(s_events[0]), fmt, ap);
    va_end(ap);
}

esp_err_t esp_partition_erase_range(const esp_partition_t *p, size_t offset, size_t size)
{
    event("E%zx", offset);
    if (s_erase_calls++ == s_erase_fail_at) {
        return ESP_FAIL;
    }
    /* esp_partition.h: offset and size aligned to erase_size, inside the partition. */
    if (offset % p->erase_size != 0 || size % p->erase_size != 0 || offset + size > p->size) {
        return ESP_ERR_INVALID_ARG;
    }
    memset(&s_mem[slot_of(p)][offset], 0xFF, size);
    return ESP_OK;
}

esp_err_t esp_partition_write(const esp_partition_t *p, size_t offset, const void *src,
                              size_t size)
{
    event("W%zx+%zu", offset, size);
    if (offset + size > p->size) {
        return ESP_ERR_INVALID_SIZE;
    }
    /* esp_flash_write_encrypted(): 16-byte aligned address and length, or an error. */
    if (p->encrypted && (offset % 16 != 0 || size % 16 != 0)) {
        return offset % 16 != 0 ? ESP_ERR_INVALID_ARG : ESP_ERR_INVALID_SIZE;
    }
    /* NOR flash: programming only clears bits. */
    const uint8_t *b = src;
    for (size_t i = 0; i < size; i++) {
        s_mem[slot_of(p)][offset + i] &= b[i];
    }
    return ESP_OK;
}

esp_err_t esp_partition_read(const esp_partition_t *p, size_t offset, void *dst, size_t size)
{
    if (offset + size > p->size) {
        return ESP_ERR_INVALID_SIZE;
    }
    memcpy(dst, &s_mem[slot_of(p)][offset], size);
    return ESP_OK;
}

void vTaskDelay(const TickType_t ticks)
{
    s_delayed_ticks += ticks;
    event("D%u", (unsigned)ticks);
}

/* ---- fake otadata ------------------------------------------------------------------------- */

const esp_partition_t *esp_ota_get_running_partition(void)
{
    return s_running;
}

const esp_partition_t *esp_ota_get_next_update_partition(const esp_partition_t *start_from)
{
    assert_null(start_from);
    return s_running == &s_ota0 ? &s_ota1 : &s_ota0;
}

esp_err_t esp_ota_get_state_partition(const esp_partition_t *p, esp_ota_img_states_t *state)
{
    s_state_queries++;
    if (!s_has_state[slot_of(p)]) {
        return ESP_ERR_NOT_FOUND;
    }
    *state = s_state[slot_of(p)];
    return ESP_OK;
}

static void set_state(const esp_partition_t *p, esp_ota_img_states_t state)
{
    s_has_state[slot_of(p)] = true;
    s_state[slot_of(p)] = state;
}

esp_err_t esp_ota_set_boot_partition(const esp_partition_t *p)
{
    if (s_set_boot_result == ESP_OK) {
        s_boot_set = p;
        set_state(p, ESP_OTA_IMG_NEW);
    }
    return s_set_boot_result;
}

esp_err_t esp_ota_mark_app_valid_cancel_rollback(void)
{
    set_state(s_running, ESP_OTA_IMG_VALID);
    return ESP_OK;
}

esp_err_t esp_ota_mark_app_invalid_rollback_and_reboot(void)
{
    return ESP_ERR_OTA_ROLLBACK_FAILED;
}

/* ---- fake NVS: a handful of blobs ----------------------------------------------------------- */

static struct {
    char key[16];
    uint8_t value[64];
    size_t len;
    bool used;
} s_nvs[8];
static esp_err_t s_nvs_set_result;

esp_err_t nvs_open(const char *ns, nvs_open_mode_t mode, nvs_handle_t *out)
{
    assert_string_equal(ns, "meshota");
    assert_int_equal(mode, NVS_READWRITE);
    *out = 1;
    return ESP_OK;
}

static int nvs_find(const char *key)
{
    for (int i = 0; i < 8; i++) {
        if (s_nvs[i].used && strcmp(s_nvs[i].key, key) == 0) {
            return i;
        }
    }
    return -1;
}

esp_err_t nvs_get_blob(nvs_handle_t h, const char *key, void *out, size_t *len)
{
    (void)h;
    int i = nvs_find(key);
    if (i < 0) {
        return ESP_ERR_NVS_NOT_FOUND;
    }
    if (*len < s_nvs[i].len) {
        return ESP_ERR_NVS_INVALID_LENGTH;
    }
    memcpy(out, s_nvs[i].value, s_nvs[i].len);
    *len = s_nvs[i].len;
    return ESP_OK;
}

esp_err_t nvs_set_blob(nvs_handle_t h, const char *key, const void *value, size_t len)
{
    (void)h;
    assert_true(strlen(key) <= 15); /* NVS_KEY_NAME_MAX_SIZE - 1 */
    assert_true(len <= sizeof(s_nvs[0].value));
    if (s_nvs_set_result != ESP_OK) {
        return s_nvs_set_result;
    }
    int i = nvs_find(key);
    for (int k = 0; i < 0 && k < 8; k++) {
        if (!s_nvs[k].used) {
            i = k;
        }
    }
    assert_true(i >= 0);
    snprintf(s_nvs[i].key, sizeof(s_nvs[i].key), "%s", key);
    memcpy(s_nvs[i].value, value, len);
    s_nvs[i].len = len;
    s_nvs[i].used = true;
    return ESP_OK;
}

esp_err_t nvs_erase_key(nvs_handle_t h, const char *key)
{
    (void)h;
    int i = nvs_find(key);
    if (i < 0) {
        return ESP_ERR_NVS_NOT_FOUND;
    }
    s_nvs[i].used = false;
    return ESP_OK;
}

esp_err_t nvs_commit(nvs_handle_t h)
{
    (void)h;
    return ESP_OK;
}

/* ---- the rest of what the port calls ------------------------------------------------------ */

static esp_app_desc_t s_desc = {.version = "1.2.0", .project_name = "node", .idf_ver = "v5.3"};

const esp_app_desc_t *esp_app_get_description(void)
{
    return &s_desc;
}

void esp_chip_info(esp_chip_info_t *out)
{
    memset(out, 0, sizeof(*out));
    out->model = CHIP_ESP32C3;
    out->revision = 4;
}

void esp_fill_random(void *buf, size_t len)
{
    memset(buf, 0x5A, len);
}

void esp_restart(void)
{
    fail_msg("esp_restart called");
    abort();
}

static int s_timer;

esp_err_t esp_timer_create(const esp_timer_create_args_t *args, esp_timer_handle_t *out)
{
    assert_non_null(args->callback);
    *out = (esp_timer_handle_t)(void *)&s_timer;
    return ESP_OK;
}

esp_err_t esp_timer_start_once(esp_timer_handle_t timer, uint64_t timeout_us)
{
    (void)timer;
    (void)timeout_us;
    return ESP_OK;
}

int64_t esp_timer_get_time(void)
{
    return 7000;
}

const char *esp_err_to_name(esp_err_t code)
{
    return code == ESP_OK ? "ESP_OK" : "ESP_FAIL";
}

esp_log_level_t esp_log_level_get(const char *tag)
{
    (void)tag;
    return ESP_LOG_INFO;
}

void esp_log_host(esp_log_level_t level, const char *tag, const char *fmt, ...)
{
    (void)tag;
    if (level == ESP_LOG_ERROR) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s_last_error, sizeof(s_last_error), fmt, ap);
        va_end(ap);
    }
}

/* ---- helpers ------------------------------------------------------------------------------ */

static meshota_port_t s_p;

/* A reset of the device: RAM state gone, flash, otadata and NVS kept. */
static void boot(const esp_partition_t *running)
{
    memset(&s_port, 0, sizeof(s_port));
    s_running = running;
    s_n_events = 0;
    s_erase_calls = 0;
    s_delayed_ticks = 0;
    s_state_queries = 0;
    s_last_error[0] = '\0';
    assert_int_equal(meshota_port_esp_idf_init(&s_p), MESHOTA_OK);
}

static int setup(void **state)
{
    (void)state;
    memset(s_nvs, 0, sizeof(s_nvs));
    memset(s_has_state, 0, sizeof(s_has_state));
    memset(s_mem, 0, sizeof(s_mem));
    s_ota0.encrypted = false;
    s_ota1.encrypted = false;
    s_erase_fail_at = -1;
    s_set_boot_result = ESP_OK;
    s_nvs_set_result = ESP_OK;
    s_boot_set = NULL;
    set_state(&s_ota0, ESP_OTA_IMG_VALID);
    boot(&s_ota0);
    return 0;
}

static void assert_events(const char *const *want, int n)
{
    assert_int_equal(s_n_events, n);
    for (int i = 0; i < n; i++) {
        assert_string_equal(s_events[i], want[i]);
    }
}

/* ---- erase -------------------------------------------------------------------------------- */

static void erase_far_ahead_goes_sector_by_sector_with_a_tick_between(void **state)
{
    (void)state;
    assert_int_equal(s_p.flash_erase(s_p.ctx, 0x3000, 4 * SECTOR), MESHOTA_OK);
    static const char *const want[] = {"E3000", "D1", "E4000", "D1", "E5000", "D1", "E6000"};
    assert_events(want, 7);
    for (uint32_t i = 0x3000; i < 0x7000; i++) {
        assert_int_equal(s_mem[1][i], 0xFF);
    }
    assert_int_equal(s_mem[1][0x2FFF], 0x00);
    assert_int_equal(s_mem[1][0x7000], 0x00);
}

static void erase_of_one_sector_does_not_wait(void **state)
{
    (void)state;
    assert_int_equal(s_p.flash_erase(s_p.ctx, 0, SECTOR), MESHOTA_OK);
    static const char *const want[] = {"E0"};
    assert_events(want, 1);
}

static void erase_in_256_sectors_yields_255_times(void **state)
{
    (void)state;
    /* A chunk 1 MB into the image: one core call, 256 separate sector erases. */
    assert_int_equal(s_p.flash_erase(s_p.ctx, 0, SLOT_SIZE), MESHOTA_OK);
    assert_int_equal(s_erase_calls, 256);
    assert_int_equal(s_delayed_ticks, 255);
    assert_string_equal(s_events[62], "E1f000"); /* the 32nd erase, after 31 waits */
    assert_string_equal(s_events[63], "D1");
}

static void erase_of_partial_sectors_or_past_the_slot_is_refused(void **state)
{
    (void)state;
    assert_int_equal(s_p.flash_erase(s_p.ctx, 0x800, SECTOR), MESHOTA_ERR_INVALID_ARG);
    assert_int_equal(s_p.flash_erase(s_p.ctx, 0, 100), MESHOTA_ERR_INVALID_ARG);
    assert_int_equal(s_p.flash_erase(s_p.ctx, SLOT_SIZE - SECTOR, 2 * SECTOR),
                     MESHOTA_ERR_INVALID_ARG);
    assert_int_equal(s_p.flash_erase(s_p.ctx, SLOT_SIZE + SECTOR, SECTOR),
                     MESHOTA_ERR_INVALID_ARG);
    assert_int_equal(s_n_events, 0);
    assert_non_null(strstr(s_last_error, "not whole 4096-byte sectors"));
}

static void erase_stops_at_the_first_failing_sector(void **state)
{
    (void)state;
    s_erase_fail_at = 1;
    assert_int_equal(s_p.flash_erase(s_p.ctx, 0, 3 * SECTOR), MESHOTA_ERR_FLASH);
    static const char *const want[] = {"E0", "D1", "E1000"};
    assert_events(want, 3);
    assert_non_null(strstr(s_last_error, "erase at 0x1000"));
}

/* ---- guard while the running app is unconfirmed ------------------------------------------- */

static void writes_wait_until_the_running_app_is_confirmed(void **state)
{
    (void)state;
    /* First boot of a new image in ota_1: ota_0 is the only way back. */
    set_state(&s_ota1, ESP_OTA_IMG_PENDING_VERIFY);
    boot(&s_ota1);
    uint8_t data[16] = {1, 2, 3};
    assert_int_equal(s_p.flash_erase(s_p.ctx, 0, SECTOR), MESHOTA_ERR_ESP_UNCONFIRMED);
    assert_int_equal(s_p.flash_write(s_p.ctx, 0, data, sizeof(data)),
                     MESHOTA_ERR_ESP_UNCONFIRMED);
    assert_int_equal(s_n_events, 0);
    assert_non_null(strstr(s_last_error, "pending verification"));

    assert_int_equal(s_p.boot_confirm(s_p.ctx), MESHOTA_OK);
    int queries = s_state_queries;
    assert_int_equal(s_p.flash_erase(s_p.ctx, 0, SECTOR), MESHOTA_OK);
    assert_int_equal(s_p.flash_write(s_p.ctx, 0, data, sizeof(data)), MESHOTA_OK);
    assert_int_equal(s_mem[0][2], 3);
    /* Confirmed cannot turn pending again before a reboot: no more otadata reads. */
    assert_int_equal(s_state_queries, queries);
}

static void confirmed_or_stateless_running_app_may_write(void **state)
{
    (void)state;
    /* Rollback disabled or a factory app: otadata has no state for the running slot. */
    s_has_state[0] = false;
    boot(&s_ota0);
    memset(s_mem[1], 0xFF, SECTOR);
    uint8_t data[4] = {9, 8, 7, 6};
    assert_int_equal(s_p.flash_write(s_p.ctx, 0x100, data, 4), MESHOTA_OK);
    assert_int_equal(s_mem[1][0x103], 6);
}

/* ---- flash encryption --------------------------------------------------------------------- */

static void plain_slot_takes_chunks_at_any_offset(void **state)
{
    (void)state;
    uint8_t chunk[232];
    memset(chunk, 0x42, sizeof(chunk));
    assert_int_equal(s_p.flash_write(s_p.ctx, 232, chunk, sizeof(chunk)), MESHOTA_OK);
    static const char *const want[] = {"We8+232"};
    assert_events(want, 1);
}

static void encrypted_slot_takes_16_multiple_chunks_in_any_order(void **state)
{
    (void)state;
    s_ota1.encrypted = true;
    boot(&s_ota0);
    memset(s_mem[1], 0xFF, 8192);
    uint8_t chunk[1440];
    for (size_t i = 0; i < sizeof(chunk); i++) {
        chunk[i] = (uint8_t)i;
    }
    assert_int_equal(s_p.flash_write(s_p.ctx, 1440 * 3, chunk, sizeof(chunk)), MESHOTA_OK);
    assert_int_equal(s_p.flash_write(s_p.ctx, 0, chunk, sizeof(chunk)), MESHOTA_OK);
    static const char *const want[] = {"W10e0+1440", "W0+1440"};
    assert_events(want, 2);
    assert_memory_equal(&s_mem[1][1440 * 3], chunk, sizeof(chunk));
}

static void encrypted_slot_refuses_a_chunk_at_an_unaligned_offset(void **state)
{
    (void)state;
    s_ota1.encrypted = true;
    boot(&s_ota0);
    uint8_t chunk[232] = {0};
    /* ESP-NOW v1 chunk 1 of 232 bytes: offset 232 = 14 * 16 + 8. */
    assert_int_equal(s_p.flash_write(s_p.ctx, 232, chunk, sizeof(chunk)),
                     MESHOTA_ERR_ESP_UNALIGNED);
    assert_int_equal(s_n_events, 0);
    assert_non_null(strstr(s_last_error, "0xe8 is not 16-byte aligned"));
    assert_non_null(strstr(s_last_error, "multiples of 16"));
}

static void encrypted_slot_pads_the_last_block_of_the_image(void **state)
{
    (void)state;
    s_ota1.encrypted = true;
    boot(&s_ota0);
    memset(s_mem[1], 0xFF, 8192);
    /* Last chunk of an image whose size is not a multiple of 16: 1440 * 2 + 100 bytes. */
    uint8_t tail[100];
    memset(tail, 0x11, sizeof(tail));
    assert_int_equal(s_p.flash_write(s_p.ctx, 2880, tail, sizeof(tail)), MESHOTA_OK);
    static const char *const want[] = {"Wb40+96", "Wba0+16"};
    assert_events(want, 2);
    assert_memory_equal(&s_mem[1][2880], tail, sizeof(tail));
    static const uint8_t pad[12] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    assert_memory_equal(&s_mem[1][2980], pad, sizeof(pad));
}

static void encrypted_slot_writes_a_short_image_as_one_padded_block(void **state)
{
    (void)state;
    s_ota1.encrypted = true;
    boot(&s_ota0);
    uint8_t tail[5] = {1, 2, 3, 4, 5};
    assert_int_equal(s_p.flash_write(s_p.ctx, 0x40, tail, sizeof(tail)), MESHOTA_OK);
    static const char *const want[] = {"W40+16"};
    assert_events(want, 1);
}

/* After a power cut the core writes again the chunks it wrote but had not yet recorded. The port
 * hands the same bytes to the same addresses, the padded last block included, and keeps no
 * record of written blocks that would refuse them: NOR flash programmed with the bits it holds
 * stays as it is, and flash encryption turns the same plaintext at the same address into the
 * same ciphertext. */
static void chunks_written_again_leave_the_slot_as_it_was(void **state)
{
    (void)state;
    s_ota1.encrypted = true;
    boot(&s_ota0);
    memset(s_mem[1], 0xFF, 8192);
    uint8_t chunk[1440];
    for (size_t i = 0; i < sizeof(chunk); i++) {
        chunk[i] = (uint8_t)(i * 7u);
    }
    uint8_t tail[100];
    memset(tail, 0x5C, sizeof(tail));
    static uint8_t first[8192];
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(s_p.flash_write(s_p.ctx, 0, chunk, sizeof(chunk)), MESHOTA_OK);
        assert_int_equal(s_p.flash_write(s_p.ctx, 1440, tail, sizeof(tail)), MESHOTA_OK);
        if (pass == 0) {
            memcpy(first, s_mem[1], sizeof(first));
        }
    }
    static const char *const want[] = {"W0+1440", "W5a0+96", "W600+16",
                                       "W0+1440", "W5a0+96", "W600+16"};
    assert_events(want, 6);
    assert_memory_equal(s_mem[1], first, sizeof(first));
    assert_memory_equal(&s_mem[1][1440], tail, sizeof(tail));
}

/* ---- rollback reported once -------------------------------------------------------------- */

static void rollback_is_reported_on_the_one_boot_after_it(void **state)
{
    (void)state;
    assert_int_equal(s_p.boot_state(s_p.ctx), MESHOTA_BOOT_NORMAL);
    assert_int_equal(s_p.boot_set_next(s_p.ctx, 4096), MESHOTA_OK);
    assert_ptr_equal(s_boot_set, &s_ota1);

    /* The new image boots pending verification... */
    set_state(&s_ota1, ESP_OTA_IMG_PENDING_VERIFY);
    boot(&s_ota1);
    assert_int_equal(s_p.boot_state(s_p.ctx), MESHOTA_BOOT_PENDING_VERIFY);

    /* ...is reset before confirming: the bootloader marks it aborted and goes back. */
    set_state(&s_ota1, ESP_OTA_IMG_ABORTED);
    boot(&s_ota0);
    assert_int_equal(s_p.boot_state(s_p.ctx), MESHOTA_BOOT_ROLLED_BACK);
    assert_int_equal(s_p.boot_state(s_p.ctx), MESHOTA_BOOT_ROLLED_BACK);
    assert_int_equal(nvs_find(KEY_APPLIED), -1);

    /* ota_1 stays marked aborted in otadata, but this boot is an ordinary one. */
    boot(&s_ota0);
    assert_int_equal(s_p.boot_state(s_p.ctx), MESHOTA_BOOT_NORMAL);
}

static void self_rejected_image_is_reported_as_rolled_back(void **state)
{
    (void)state;
    assert_int_equal(s_p.boot_set_next(s_p.ctx, 4096), MESHOTA_OK);
    set_state(&s_ota1, ESP_OTA_IMG_PENDING_VERIFY);
    boot(&s_ota1);
    /* The app fails its self-test: esp_ota_mark_app_invalid_rollback_and_reboot(). */
    set_state(&s_ota1, ESP_OTA_IMG_INVALID);
    boot(&s_ota0);
    assert_int_equal(s_p.boot_state(s_p.ctx), MESHOTA_BOOT_ROLLED_BACK);
}

static void confirmed_update_is_never_reported_as_rolled_back(void **state)
{
    (void)state;
    assert_int_equal(s_p.boot_set_next(s_p.ctx, 4096), MESHOTA_OK);
    set_state(&s_ota1, ESP_OTA_IMG_PENDING_VERIFY);
    boot(&s_ota1);
    assert_int_equal(s_p.boot_confirm(s_p.ctx), MESHOTA_OK);
    assert_int_equal(s_p.boot_state(s_p.ctx), MESHOTA_BOOT_NORMAL);
    assert_int_equal(nvs_find(KEY_APPLIED), -1);
    /* A later, unrelated invalid mark on ota_0 (older history) changes nothing. */
    set_state(&s_ota0, ESP_OTA_IMG_INVALID);
    boot(&s_ota1);
    assert_int_equal(s_p.boot_state(s_p.ctx), MESHOTA_BOOT_NORMAL);
}

static void stale_invalid_slot_without_an_applied_image_is_normal(void **state)
{
    (void)state;
    set_state(&s_ota1, ESP_OTA_IMG_INVALID);
    boot(&s_ota0);
    assert_int_equal(s_p.boot_state(s_p.ctx), MESHOTA_BOOT_NORMAL);
}

static void failed_rollback_keeps_the_record_for_the_next_boot(void **state)
{
    (void)state;
    assert_int_equal(s_p.boot_set_next(s_p.ctx, 4096), MESHOTA_OK);
    set_state(&s_ota1, ESP_OTA_IMG_PENDING_VERIFY);
    boot(&s_ota1);
    /* No app to go back to: the call returns (it reboots when it succeeds). */
    assert_int_equal(s_p.boot_rollback(s_p.ctx), MESHOTA_ERR_FLASH);
    assert_int_equal(s_p.boot_state(s_p.ctx), MESHOTA_BOOT_PENDING_VERIFY);
    assert_true(nvs_find(KEY_APPLIED) >= 0);
}

static void failed_set_boot_records_nothing(void **state)
{
    (void)state;
    s_set_boot_result = ESP_ERR_OTA_VALIDATE_FAILED;
    set_state(&s_ota1, ESP_OTA_IMG_INVALID);
    assert_int_equal(s_p.boot_set_next(s_p.ctx, 4096), MESHOTA_ERR_FLASH);
    assert_int_equal(nvs_find(KEY_APPLIED), -1);
    boot(&s_ota0);
    assert_int_equal(s_p.boot_state(s_p.ctx), MESHOTA_BOOT_NORMAL);
}

static void applied_image_survives_an_nvs_failure(void **state)
{
    (void)state;
    s_nvs_set_result = ESP_ERR_NO_MEM;
    /* The slot is set: the apply succeeded even if its record could not be stored. */
    assert_int_equal(s_p.boot_set_next(s_p.ctx, 4096), MESHOTA_OK);
    assert_ptr_equal(s_boot_set, &s_ota1);
}

/* ---- the rest ------------------------------------------------------------------------------ */

static void running_info_comes_from_the_app_description(void **state)
{
    (void)state;
    meshota_running_t r;
    assert_int_equal(s_p.running_info(s_p.ctx, &r), MESHOTA_OK);
    assert_string_equal(r.version, "1.2.0");
    assert_string_equal(r.project_name, "node");
    assert_int_equal(r.chip_id, 5);
    assert_int_equal(r.chip_revision, 4);
    assert_int_equal(s_p.flash_size(s_p.ctx), SLOT_SIZE);
}

static void running_info_keeps_a_full_field_within_its_bounds(void **state)
{
    (void)state;
    esp_app_desc_t saved = s_desc;
    /* A 32-byte name with no NUL, followed by the version field. */
    memset(s_desc.project_name, 'p', sizeof(s_desc.project_name));
    meshota_running_t r;
    assert_int_equal(s_p.running_info(s_p.ctx, &r), MESHOTA_OK);
    assert_int_equal(strlen(r.project_name), sizeof(r.project_name) - 1);
    assert_int_equal(r.project_name[0], 'p');
    assert_string_equal(r.version, "1.2.0");
    s_desc = saved;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(erase_far_ahead_goes_sector_by_sector_with_a_tick_between, setup),
        cmocka_unit_test_setup(erase_of_one_sector_does_not_wait, setup),
        cmocka_unit_test_setup(erase_in_256_sectors_yields_255_times, setup),
        cmocka_unit_test_setup(erase_of_partial_sectors_or_past_the_slot_is_refused, setup),
        cmocka_unit_test_setup(erase_stops_at_the_first_failing_sector, setup),
        cmocka_unit_test_setup(writes_wait_until_the_running_app_is_confirmed, setup),
        cmocka_unit_test_setup(confirmed_or_stateless_running_app_may_write, setup),
        cmocka_unit_test_setup(plain_slot_takes_chunks_at_any_offset, setup),
        cmocka_unit_test_setup(encrypted_slot_takes_16_multiple_chunks_in_any_order, setup),
        cmocka_unit_test_setup(encrypted_slot_refuses_a_chunk_at_an_unaligned_offset, setup),
        cmocka_unit_test_setup(encrypted_slot_pads_the_last_block_of_the_image, setup),
        cmocka_unit_test_setup(encrypted_slot_writes_a_short_image_as_one_padded_block, setup),
        cmocka_unit_test_setup(chunks_written_again_leave_the_slot_as_it_was, setup),
        cmocka_unit_test_setup(rollback_is_reported_on_the_one_boot_after_it, setup),
        cmocka_unit_test_setup(self_rejected_image_is_reported_as_rolled_back, setup),
        cmocka_unit_test_setup(confirmed_update_is_never_reported_as_rolled_back, setup),
        cmocka_unit_test_setup(stale_invalid_slot_without_an_applied_image_is_normal, setup),
        cmocka_unit_test_setup(failed_rollback_keeps_the_record_for_the_next_boot, setup),
        cmocka_unit_test_setup(failed_set_boot_records_nothing, setup),
        cmocka_unit_test_setup(applied_image_survives_an_nvs_failure, setup),
        cmocka_unit_test_setup(running_info_comes_from_the_app_description, setup),
        cmocka_unit_test_setup(running_info_keeps_a_full_field_within_its_bounds, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
