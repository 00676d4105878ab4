/* ESP-IDF device functions of meshota_port_t (written against the ESP-IDF v5.x API). */
#include "meshota_port_esp_idf.h"

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
#include "nvs.h"
#include "sdkconfig.h"

#include "meshota_crypto_psa.h"

#define NVS_NAMESPACE "meshota"
#define RESTART_DELAY_US (500 * 1000) /* lets the last status leave the radio queue */

/* One device, one port: the partitions and handles live for the life of the firmware. */
static struct {
    const esp_partition_t *passive;
    const esp_partition_t *running;
    nvs_handle_t nvs;
    esp_timer_handle_t restart_timer;
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

static meshota_err_t p_flash_erase(void *ctx, uint32_t offset, uint32_t len)
{
    (void)ctx;
    /* Erased in the core's steps of whole sectors; each call is short enough not to starve BLE. */
    return from_esp(esp_partition_erase_range(s_port.passive, offset, len), MESHOTA_ERR_FLASH);
}

static meshota_err_t p_flash_write(void *ctx, uint32_t offset, const uint8_t *data, size_t len)
{
    (void)ctx;
    return from_esp(esp_partition_write(s_port.passive, offset, data, len), MESHOTA_ERR_FLASH);
}

static meshota_err_t p_flash_read(void *ctx, meshota_region_t region, uint32_t offset,
                                  uint8_t *data, size_t len)
{
    (void)ctx;
    const esp_partition_t *part = region == MESHOTA_REGION_RUNNING ? s_port.running
                                                                   : s_port.passive;
    return from_esp(esp_partition_read(part, offset, data, len), MESHOTA_ERR_FLASH);
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
        ESP_LOGE("meshota", "esp_ota_set_boot_partition: %s", esp_err_to_name(err));
        return MESHOTA_ERR_FLASH;
    }
    return MESHOTA_OK;
}

static meshota_err_t p_boot_confirm(void *ctx)
{
    (void)ctx;
    return from_esp(esp_ota_mark_app_valid_cancel_rollback(), MESHOTA_ERR_FLASH);
}

static meshota_err_t p_boot_rollback(void *ctx)
{
    (void)ctx;
    /* Reboots into the previous app when it succeeds; returns only on failure. */
    return from_esp(esp_ota_mark_app_invalid_rollback_and_reboot(), MESHOTA_ERR_FLASH);
}

static meshota_boot_state_t p_boot_state(void *ctx)
{
    (void)ctx;
    esp_ota_img_states_t state;
    if (esp_ota_get_state_partition(s_port.running, &state) == ESP_OK &&
        state == ESP_OTA_IMG_PENDING_VERIFY) {
        return MESHOTA_BOOT_PENDING_VERIFY;
    }
    if (esp_ota_get_last_invalid_partition() != NULL) {
        return MESHOTA_BOOT_ROLLED_BACK;
    }
    return MESHOTA_BOOT_NORMAL;
}

static meshota_err_t p_running_info(void *ctx, meshota_running_t *out)
{
    (void)ctx;
    const esp_app_desc_t *d = esp_app_get_description();
    esp_chip_info_t chip;
    memset(out, 0, sizeof(*out));
    snprintf(out->project_name, sizeof(out->project_name), "%s", d->project_name);
    snprintf(out->version, sizeof(out->version), "%s", d->version);
    snprintf(out->idf_version, sizeof(out->idf_version), "%s", d->idf_ver);
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
        ESP_LOGE("meshota", "no OTA partition to update into (partition table needs ota_0/ota_1)");
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
