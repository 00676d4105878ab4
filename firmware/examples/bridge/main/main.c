/*
 * meshota ESP-NOW bridge example: the host tools (@meshota/transport-espnow) distribute images
 * to the nodes over ESP-NOW through this dongle, speaking the bridge protocol on the UART.
 * Everything protocol-related is in the meshota_bridge component; this app only starts Wi-Fi
 * (ESP-NOW needs a started station) and the bridge.
 */
#include "esp_err.h"
#include "esp_event.h"
#include "esp_netif.h"
#include "esp_ota_ops.h"
#include "esp_wifi.h"
#include "nvs_flash.h"
#include "sdkconfig.h"

#include "meshota_bridge/meshota_bridge_esp.h"

static void wifi_station_start(void)
{
    esp_err_t err = nvs_flash_init();
    if (err == ESP_ERR_NVS_NO_FREE_PAGES || err == ESP_ERR_NVS_NEW_VERSION_FOUND) {
        ESP_ERROR_CHECK(nvs_flash_erase());
        err = nvs_flash_init();
    }
    ESP_ERROR_CHECK(err);
    ESP_ERROR_CHECK(esp_netif_init());
    ESP_ERROR_CHECK(esp_event_loop_create_default());
    wifi_init_config_t cfg = WIFI_INIT_CONFIG_DEFAULT();
    ESP_ERROR_CHECK(esp_wifi_init(&cfg));
    ESP_ERROR_CHECK(esp_wifi_set_storage(WIFI_STORAGE_RAM));
    ESP_ERROR_CHECK(esp_wifi_set_mode(WIFI_MODE_STA));
    ESP_ERROR_CHECK(esp_wifi_start());
}

void app_main(void)
{
    wifi_station_start();

    const meshota_bridge_esp_config_t cfg = {
        .uart_num = CONFIG_BRIDGE_UART_NUM,
        .tx_pin = CONFIG_BRIDGE_TX_PIN,
        .rx_pin = CONFIG_BRIDGE_RX_PIN,
        .baud_rate = CONFIG_BRIDGE_BAUD_RATE,
        .channel = CONFIG_BRIDGE_CHANNEL,
        .task_stack = 0,    /* default */
        .task_priority = 0, /* default */
    };
    ESP_ERROR_CHECK(meshota_bridge_esp_start(&cfg));

    /* With rollback enabled a new bridge image must be confirmed: it is, once the UART and
     * ESP-NOW are up (an error above restarts the device and the bootloader goes back). */
    esp_ota_img_states_t state;
    if (esp_ota_get_state_partition(esp_ota_get_running_partition(), &state) == ESP_OK &&
        state == ESP_OTA_IMG_PENDING_VERIFY) {
        ESP_ERROR_CHECK(esp_ota_mark_app_valid_cancel_rollback());
    }
}
