/*
 * meshota node example: joins the BLE Mesh network as a meshota server and takes firmware
 * updates over Wi-Fi/HTTPS, TCP, ESP-NOW or the mesh, as the controller chooses.
 */
#include <stdbool.h>

#include "esp_err.h"
#include "esp_log.h"
#include "esp_ota_ops.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

#include "meshota_esp.h"

static const char *TAG = "node";

/*
 * Application self-test of a new firmware, run before it is confirmed. Put the checks of your
 * product here (sensors answer, actuators initialise, ...). This example checks what every
 * meshota node needs to keep updating: a partition to receive the next image.
 */
static bool self_test(void *arg)
{
    (void)arg;
    const esp_partition_t *next = esp_ota_get_next_update_partition(NULL);
    if (next == NULL) {
        ESP_LOGE(TAG, "no OTA partition for the next update");
        return false;
    }
    return true;
}

void app_main(void)
{
    const esp_app_desc_t *app = esp_app_get_description();
    ESP_LOGI(TAG, "%s %s starting", app->project_name, app->version);

    meshota_esp_node_config_t cfg = {
        .self_test = self_test,
        .self_test_arg = NULL,
        .device_name = "meshota-node",
    };
    ESP_ERROR_CHECK(meshota_esp_node_start(&cfg));

    /* The application goes on here; meshota runs in its own task. */
    meshota_v1_Phase last = meshota_v1_Phase_PHASE_NONE;
    for (;;) {
        meshota_v1_Phase phase = meshota_esp_node_phase();
        if (phase != last) {
            ESP_LOGI(TAG, "update phase %d", (int)phase);
            last = phase;
        }
        vTaskDelay(pdMS_TO_TICKS(1000));
    }
}
