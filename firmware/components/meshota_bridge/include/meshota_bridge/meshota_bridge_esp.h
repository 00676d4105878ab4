/**
 * @file meshota_bridge_esp.h
 * @brief Run the bridge dongle on an ESP32 under ESP-IDF v5.x/v6.x.
 *
 * The application initialises NVS, the default event loop and Wi-Fi in station mode
 * (esp_wifi_init, esp_wifi_set_mode(WIFI_MODE_STA), esp_wifi_start) and then calls
 * meshota_bridge_esp_start() once. The bridge owns ESP-NOW and the given UART from then on.
 *
 * @code
 * void app_main(void)
 * {
 *     ESP_ERROR_CHECK(nvs_flash_init());
 *     ESP_ERROR_CHECK(esp_event_loop_create_default());
 *     wifi_init_config_t wcfg = WIFI_INIT_CONFIG_DEFAULT();
 *     ESP_ERROR_CHECK(esp_wifi_init(&wcfg));
 *     ESP_ERROR_CHECK(esp_wifi_set_storage(WIFI_STORAGE_RAM));
 *     ESP_ERROR_CHECK(esp_wifi_set_mode(WIFI_MODE_STA));
 *     ESP_ERROR_CHECK(esp_wifi_start());
 *     const meshota_bridge_esp_config_t cfg = {
 *         .uart_num = UART_NUM_0, .tx_pin = -1, .rx_pin = -1, .baud_rate = 921600, .channel = 1,
 *     };
 *     ESP_ERROR_CHECK(meshota_bridge_esp_start(&cfg));
 * }
 * @endcode
 * Logging goes to the console UART: when the bridge uses that UART too, set the log level to
 * none (CONFIG_LOG_DEFAULT_LEVEL_NONE) or move the console, or log lines corrupt frames (the
 * host drops them by CRC and retries, at a cost).
 */
#ifndef MESHOTA_BRIDGE_ESP_H
#define MESHOTA_BRIDGE_ESP_H

#include <stdint.h>

#include "esp_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Where the bridge talks to the host. */
typedef struct {
    int uart_num;      /**< UART port number (UART_NUM_0 is the USB-serial console on most boards). */
    int tx_pin;        /**< GPIO, or -1 (UART_PIN_NO_CHANGE) to keep the default. */
    int rx_pin;        /**< GPIO, or -1 to keep the default. */
    int baud_rate;     /**< 921600 is what the host uses by default. */
    uint8_t channel;   /**< Wi-Fi channel at start, 1-14. */
    uint32_t task_stack; /**< Stack of the bridge task in bytes; 0 for the default (4096). */
    int task_priority; /**< Priority of the bridge task; 0 for the default (5). */
} meshota_bridge_esp_config_t;

/**
 * @brief Start ESP-NOW, the UART driver and the bridge task.
 * @return ESP_OK; ESP_ERR_INVALID_STATE when already started; ESP_ERR_INVALID_ARG for a bad
 *         channel; ESP_ERR_NO_MEM when the queue or task cannot be created; or the error of
 *         uart_driver_install, esp_now_init, esp_wifi_set_channel or esp_now_add_peer.
 */
esp_err_t meshota_bridge_esp_start(const meshota_bridge_esp_config_t *cfg);

#ifdef __cplusplus
}
#endif

#endif /* MESHOTA_BRIDGE_ESP_H */
