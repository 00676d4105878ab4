/* ESP-IDF device functions of meshota_port_t (written against the ESP-IDF v5.x API). */
#include "meshota_port_esp_idf.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "esp_app_desc.h"
#include "esp_chip_info.h"
#include "esp_log.h"
#include "esp_ota_ops.h"
#include "esp_partition.h"
#include "esp_random.h"
#include "esp_system.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "nvs.h"
#include "sdkconfig.h"

#include "meshota_crypto_psa.h"

#define TAG "meshota"
#define NVS_NAMESPACE "meshota"
#define RESTART_DELAY_US (500 * 1000) /* lets the last status leave the radio queue */

/* Address of the slot boot_set_next() made bootable, kept until that image is confirmed or
 * the bootloader has gone back from it. The core's keys are "ota.*": no clash. */
#define KEY_APPLIED "port.applied"

/* Flash encryption (AES-XTS) programs whole 16-byte blocks: esp_partition_write() to an
 * encrypted partition needs offset and length multiples of 16 (esp_partition.h). */
#define ENC_BLOCK 16u

/* Sector size when a partition does not state its erase_size (SPI_FLASH_SEC_SIZE of
 * spi_flash_mmap.h, not included: spi_flash is not a requirement of this component). */
#define SECTOR_SIZE_DEFAULT 4096u

/* Ticks given away between two sector erases (see p_flash_erase). */
#define ERASE_YIELD_TICKS 1

/* One device, one port: the partitions and handles live for the life of the firmware. */
static struct {
    const esp_partition_t *passive;
    const esp_partition_t *running;
    nvs_handle_t nvs;
    esp_timer_handle_t restart_timer;
    bool running_confirmed; /* latched once the running app is seen not pending verification */
    bool rolled_back;       /* this boot follows a rollback from the image boot_set_next applied */
} s_port;

static meshota_err_t from_esp(esp_err_t err, meshota_err_t fail)
{
    return err == ESP_OK ? MESHOTA_OK : fail;
}

static uint32_t p_flash_size(void *ctx)
{
    (void)ctx;
    return (uint32_t)s_port.passive->size;
}

/* esp_ota_begin() refuses to start while the running app is pending verification
 * (ESP_ERR_OTA_ROLLBACK_INVALID_STATE): the other slot then holds the only image to roll back
 * to. Writing it directly bypasses that check, so it is done here. A running app that is not
 * pending cannot become pending before the next reboot, so that answer is latched. */
static meshota_err_t refuse_while_unconfirmed(void)
{
    if (s_port.running_confirmed) {
        return MESHOTA_OK;
    }
    esp_ota_img_states_t state;
    if (esp_ota_get_state_partition(s_port.running, &state) == ESP_OK &&
        state == ESP_OTA_IMG_PENDING_VERIFY) {
        ESP_LOGE(TAG, "running app is pending verification: confirm it (or roll back) before "
                      "writing the other slot, which holds the only rollback target");
        return MESHOTA_ERR_ESP_UNCONFIRMED;
    }
    s_port.running_confirmed = true;
    return MESHOTA_OK;
}

/* The core erases ahead of the writes, and an out-of-order chunk far into the image makes
 * that one call cover hundreds of sectors. esp_partition_erase_range() over such a range runs
 * for seconds (64 KB block erases, each with the flash cache off), long enough to drop BLE
 * links and trip the task watchdog. So the range is erased one sector at a time with
 * vTaskDelay(ERASE_YIELD_TICKS) between sectors. vTaskDelay rather than taskYIELD: taskYIELD
 * hands the CPU only to ready tasks of the same or higher priority, while the idle task (task
 * watchdog) and lower-priority application tasks need it too; one tick per 4 KB sector costs
 * at most 1 tick per ~45 ms of erase. */
static meshota_err_t p_flash_erase(void *ctx, uint32_t offset, uint32_t len)
{
    (void)ctx;
    const esp_partition_t *part = s_port.passive;
    uint32_t sector = part->erase_size != 0 ? part->erase_size : SECTOR_SIZE_DEFAULT;
    if (offset % sector != 0 || len % sector != 0 || offset > part->size ||
        len > part->size - offset) {
        ESP_LOGE(TAG, "erase 0x%" PRIx32 "+0x%" PRIx32 ": not whole %" PRIu32 "-byte sectors "
                      "of the slot",
                 offset, len, sector);
        return MESHOTA_ERR_INVALID_ARG;
    }
    meshota_err_t guard = refuse_while_unconfirmed();
    if (guard != MESHOTA_OK) {
        return guard;
    }
    for (uint32_t done = 0; done < len; done += sector) {
        if (done != 0) {
            vTaskDelay(ERASE_YIELD_TICKS);
        }
        esp_err_t err = esp_partition_erase_range(part, offset + done, sector);
        if (err != ESP_OK) {
            ESP_LOGE(TAG, "erase at 0x%" PRIx32 ": %s", offset + done, esp_err_to_name(err));
            return MESHOTA_ERR_FLASH;
        }
    }
    return MESHOTA_OK;
}

static meshota_err_t write_plain(uint32_t offset, const void *data, size_t len)
{
    esp_err_t err = esp_partition_write(s_port.passive, offset, data, len);
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "write at 0x%" PRIx32 ": %s", offset, esp_err_to_name(err));
        return MESHOTA_ERR_FLASH;
    }
    return MESHOTA_OK;
}

/* Contract on an encrypted slot (docs/porting.md, "Flash encryption"):
 * - every write starts at a multiple of 16, or it is refused with MESHOTA_ERR_ESP_UNALIGNED;
 * - a length that is not a multiple of 16 ends the image: its last block is completed with
 *   0xFF and written at once (as esp_ota_end() does with its last partial block). Nothing may
 *   be written into that block later: an encrypted block can only be programmed once, so a
 *   read-modify-write of it is impossible.
 * Chunked transfers therefore need chunk sizes that are multiples of 16 (then only the image's
 * last chunk can be short), and stream sources must hand over pieces of 16-byte multiples. */
static meshota_err_t write_encrypted(uint32_t offset, const uint8_t *data, size_t len)
{
    if (offset % ENC_BLOCK != 0) {
        ESP_LOGE(TAG, "flash encryption: write at 0x%" PRIx32 " is not 16-byte aligned (chunk "
                      "sizes must be multiples of 16)",
                 offset);
        return MESHOTA_ERR_ESP_UNALIGNED;
    }
    size_t body = len - len % ENC_BLOCK;
    size_t tail = len - body;
    if (tail != 0 && ENC_BLOCK - tail > s_port.passive->size - offset - len) {
        return MESHOTA_ERR_INVALID_ARG; /* the padded block would leave the slot */
    }
    if (body != 0) {
        meshota_err_t err = write_plain(offset, data, body);
        if (err != MESHOTA_OK) {
            return err;
        }
    }
    if (tail == 0) {
        return MESHOTA_OK;
    }
    uint8_t block[ENC_BLOCK];
    memset(block, 0xFF, sizeof(block));
    memcpy(block, data + body, tail);
    return write_plain(offset + (uint32_t)body, block, sizeof(block));
}

static meshota_err_t p_flash_write(void *ctx, uint32_t offset, const uint8_t *data, size_t len)
{
    (void)ctx;
    if (offset > s_port.passive->size || len > s_port.passive->size - offset) {
        return MESHOTA_ERR_INVALID_ARG;
    }
    meshota_err_t guard = refuse_while_unconfirmed();
    if (guard != MESHOTA_OK) {
        return guard;
    }
    if (s_port.passive->encrypted) {
        return write_encrypted(offset, data, len);
    }
    return write_plain(offset, data, len);
}

static meshota_err_t p_flash_read(void *ctx, meshota_region_t region, uint32_t offset,
                                  uint8_t *data, size_t len)
{
    (void)ctx;
    /* Decrypts transparently on an encrypted slot, at any offset and length. */
    const esp_partition_t *part = region == MESHOTA_REGION_RUNNING ? s_port.running
                                                                   : s_port.passive;
    return from_esp(esp_partition_read(part, offset, data, len), MESHOTA_ERR_FLASH);
}

static void forget_applied(void)
{
    esp_err_t err = nvs_erase_key(s_port.nvs, KEY_APPLIED);
    if (err == ESP_OK) {
        err = nvs_commit(s_port.nvs);
    }
    if (err != ESP_OK && err != ESP_ERR_NVS_NOT_FOUND) {
        ESP_LOGW(TAG, "clearing the applied-image record: %s", esp_err_to_name(err));
    }
}

static meshota_err_t p_boot_set_next(void *ctx, uint32_t size)
{
    (void)ctx;
    (void)size;
    /* The image was written with esp_partition_write, not esp_ota_write, so there is no OTA
     * handle to end: esp_ota_set_boot_partition() verifies the image itself (esp_image_verify,
     * Secure Boot and anti-rollback included) and, with CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE,
     * marks it ESP_OTA_IMG_NEW so that it boots as pending verification. */
    esp_err_t err = esp_ota_set_boot_partition(s_port.passive);
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "esp_ota_set_boot_partition: %s", esp_err_to_name(err));
        return MESHOTA_ERR_FLASH;
    }
    /* Recorded after the slot is set: a cut in between loses only the rollback report (the
     * core still sees the old version running), never reports one that did not happen. */
    uint32_t addr = s_port.passive->address;
    err = nvs_set_blob(s_port.nvs, KEY_APPLIED, &addr, sizeof(addr));
    if (err == ESP_OK) {
        err = nvs_commit(s_port.nvs);
    }
    if (err != ESP_OK) {
        ESP_LOGW(TAG, "recording the applied image: %s (a rollback from it will not be "
                      "reported as such)",
                 esp_err_to_name(err));
    }
    return MESHOTA_OK;
}

static meshota_err_t p_boot_confirm(void *ctx)
{
    (void)ctx;
    esp_err_t err = esp_ota_mark_app_valid_cancel_rollback();
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "esp_ota_mark_app_valid_cancel_rollback: %s", esp_err_to_name(err));
        return MESHOTA_ERR_FLASH;
    }
    s_port.running_confirmed = true;
    forget_applied();
    return MESHOTA_OK;
}

static meshota_err_t p_boot_rollback(void *ctx)
{
    (void)ctx;
    /* Reboots into the previous app when it succeeds; returns only on failure. The applied
     * record stays: the next boot reports the rollback. */
    return from_esp(esp_ota_mark_app_invalid_rollback_and_reboot(), MESHOTA_ERR_FLASH);
}

/* Decides, once per boot, whether this boot follows a rollback from the image that
 * boot_set_next() applied. esp_ota_get_last_invalid_partition() alone cannot tell: it keeps
 * naming the rejected slot until that slot is written and applied again, boots later. */
static void settle_applied(void)
{
    uint32_t addr = 0;
    size_t len = sizeof(addr);
    s_port.rolled_back = false;
    if (nvs_get_blob(s_port.nvs, KEY_APPLIED, &addr, &len) != ESP_OK || len != sizeof(addr)) {
        return;
    }
    esp_ota_img_states_t state;
    if (addr == s_port.running->address) {
        /* The applied image runs. Until it is confirmed it can still be rolled back. */
        if (esp_ota_get_state_partition(s_port.running, &state) == ESP_OK &&
            state == ESP_OTA_IMG_PENDING_VERIFY) {
            return;
        }
    } else if (addr == s_port.passive->address &&
               esp_ota_get_state_partition(s_port.passive, &state) == ESP_OK &&
               (state == ESP_OTA_IMG_INVALID || state == ESP_OTA_IMG_ABORTED)) {
        /* INVALID: the app rejected itself; ABORTED: it was reset before confirming. */
        s_port.rolled_back = true;
        ESP_LOGW(TAG, "the bootloader went back from the image in slot 0x%" PRIx32, addr);
    }
    forget_applied();
}

static meshota_boot_state_t p_boot_state(void *ctx)
{
    (void)ctx;
    esp_ota_img_states_t state;
    if (esp_ota_get_state_partition(s_port.running, &state) == ESP_OK &&
        state == ESP_OTA_IMG_PENDING_VERIFY) {
        return MESHOTA_BOOT_PENDING_VERIFY;
    }
    return s_port.rolled_back ? MESHOTA_BOOT_ROLLED_BACK : MESHOTA_BOOT_NORMAL;
}

/* esp_app_desc_t strings are char[32] fields; copy at most what fits, never past the field. */
static void copy_field(char *dst, size_t dst_size, const char *src, size_t src_size)
{
    size_t n = strnlen(src, src_size);
    if (n >= dst_size) {
        n = dst_size - 1;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static meshota_err_t p_running_info(void *ctx, meshota_running_t *out)
{
    (void)ctx;
    const esp_app_desc_t *d = esp_app_get_description();
    esp_chip_info_t chip;
    memset(out, 0, sizeof(*out));
    copy_field(out->project_name, sizeof(out->project_name), d->project_name,
               sizeof(d->project_name));
    copy_field(out->version, sizeof(out->version), d->version, sizeof(d->version));
    copy_field(out->idf_version, sizeof(out->idf_version), d->idf_ver, sizeof(d->idf_ver));
    out->secure_version = d->secure_version;
    /* The image-header chip id this firmware was built for (ESP_CHIP_ID_*). */
    out->chip_id = CONFIG_IDF_FIRMWARE_CHIP_ID;
    esp_chip_info(&chip);
    out->chip_revision = chip.revision; /* major * 100 + minor since ESP-IDF v5.0 */
    return MESHOTA_OK;
}

static void restart_cb(void *arg)
{
    (void)arg;
    esp_restart();
}

static void p_restart(void *ctx)
{
    (void)ctx;
    if (s_port.restart_timer == NULL ||
        esp_timer_start_once(s_port.restart_timer, RESTART_DELAY_US) != ESP_OK) {
        esp_restart();
    }
}

static meshota_err_t p_kv_get(void *ctx, const char *key, void *buf, size_t buf_size,
                              size_t *out_len)
{
    (void)ctx;
    size_t len = buf_size;
    esp_err_t err = nvs_get_blob(s_port.nvs, key, buf, &len);
    if (err == ESP_ERR_NVS_NOT_FOUND) {
        return MESHOTA_ERR_NOT_FOUND;
    }
    if (err == ESP_ERR_NVS_INVALID_LENGTH) {
        return MESHOTA_ERR_NO_MEM;
    }
    if (err != ESP_OK) {
        return MESHOTA_ERR_STORAGE;
    }
    *out_len = len;
    return MESHOTA_OK;
}

static meshota_err_t p_kv_set(void *ctx, const char *key, const void *buf, size_t len)
{
    (void)ctx;
    /* NVS writes each entry atomically: after a power cut the old or the new blob is there. */
    esp_err_t err = nvs_set_blob(s_port.nvs, key, buf, len);
    if (err == ESP_OK) {
        err = nvs_commit(s_port.nvs);
    }
    return from_esp(err, MESHOTA_ERR_STORAGE);
}

static meshota_err_t p_kv_erase(void *ctx, const char *key)
{
    (void)ctx;
    esp_err_t err = nvs_erase_key(s_port.nvs, key);
    if (err == ESP_ERR_NVS_NOT_FOUND) {
        return MESHOTA_OK;
    }
    if (err == ESP_OK) {
        err = nvs_commit(s_port.nvs);
    }
    return from_esp(err, MESHOTA_ERR_STORAGE);
}

static uint64_t p_now_ms(void *ctx)
{
    (void)ctx;
    return (uint64_t)esp_timer_get_time() / 1000u;
}

static void p_random(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    esp_fill_random(buf, len);
}

static void p_log(void *ctx, meshota_log_level_t level, const char *tag, const char *fmt,
                  va_list args)
{
    (void)ctx;
    static const esp_log_level_t map[] = {ESP_LOG_NONE, ESP_LOG_ERROR, ESP_LOG_WARN,
                                          ESP_LOG_INFO, ESP_LOG_DEBUG};
    esp_log_level_t l = (unsigned)level < sizeof(map) / sizeof(map[0]) ? map[level]
                                                                       : ESP_LOG_VERBOSE;
    if (esp_log_level_get(tag) < l) {
        return;
    }
    char line[160];
    vsnprintf(line, sizeof(line), fmt, args);
    ESP_LOG_LEVEL(l, tag, "%s", line);
}

meshota_err_t meshota_port_esp_idf_init(meshota_port_t *port)
{
    if (port == NULL) {
        return MESHOTA_ERR_INVALID_ARG;
    }
    memset(port, 0, sizeof(*port));
    s_port.running = esp_ota_get_running_partition();
    s_port.passive = esp_ota_get_next_update_partition(NULL);
    if (s_port.running == NULL || s_port.passive == NULL) {
        ESP_LOGE(TAG, "no OTA partition to update into (partition table needs ota_0/ota_1)");
        return MESHOTA_ERR_FLASH;
    }
    if (s_port.nvs == 0 && nvs_open(NVS_NAMESPACE, NVS_READWRITE, &s_port.nvs) != ESP_OK) {
        return MESHOTA_ERR_STORAGE;
    }
    if (s_port.restart_timer == NULL) {
        const esp_timer_create_args_t args = {.callback = restart_cb, .name = "meshota_rst"};
        if (esp_timer_create(&args, &s_port.restart_timer) != ESP_OK) {
            s_port.restart_timer = NULL;
        }
    }
    settle_applied();
    if (s_port.passive->encrypted) {
        ESP_LOGI(TAG, "OTA slot is encrypted: writes must be 16-byte aligned");
    }
    port->flash_size = p_flash_size;
    port->flash_erase = p_flash_erase;
    port->flash_write = p_flash_write;
    port->flash_read = p_flash_read;
    port->boot_set_next = p_boot_set_next;
    port->boot_confirm = p_boot_confirm;
    port->boot_rollback = p_boot_rollback;
    port->boot_state = p_boot_state;
    port->running_info = p_running_info;
    port->restart = p_restart;
    port->kv_get = p_kv_get;
    port->kv_set = p_kv_set;
    port->kv_erase = p_kv_erase;
    meshota_psa_fill_port(port);
    port->now_ms = p_now_ms;
    port->random = p_random;
    port->log = p_log;
    return MESHOTA_OK;
}
