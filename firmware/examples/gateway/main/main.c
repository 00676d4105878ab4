/*
 * meshota gateway example: the meshota client model on the mesh and the gateway link on TCP,
 * so the host tools reach every node through this device.
 */
#include "esp_err.h"
#include "esp_log.h"
#include "esp_ota_ops.h"
#include "sdkconfig.h"

#include "meshota_esp.h"

static const char *TAG = "gateway";

void app_main(void)
{
    if (CONFIG_GATEWAY_WIFI_SSID[0] == '\0') {
        ESP_LOGE(TAG, "set CONFIG_GATEWAY_WIFI_SSID (see README.md)");
        return;
    }
    meshota_esp_gateway_config_t cfg = {
        .wifi_ssid = CONFIG_GATEWAY_WIFI_SSID,
        .wifi_password = CONFIG_GATEWAY_WIFI_PASSWORD,
        .port = 0, /* CONFIG_MESHOTA_GATEWAY_PORT */
        .device_name = "meshota-gateway",
    };
    ESP_ERROR_CHECK(meshota_esp_gateway_start(&cfg));

    /* The gateway updates like any ESP-IDF app (flashed or with esp_https_ota); with rollback
     * enabled a new image must be confirmed. Its self-test: the mesh stack and the link are
     * up (an error above aborts and the bootloader goes back to the previous image). */
    esp_ota_img_states_t state;
    const esp_partition_t *running = esp_ota_get_running_partition();
    if (esp_ota_get_state_partition(running, &state) == ESP_OK &&
        state == ESP_OTA_IMG_PENDING_VERIFY) {
        ESP_LOGI(TAG, "new gateway firmware started: confirming it");
        ESP_ERROR_CHECK(esp_ota_mark_app_valid_cancel_rollback());
    }
}
