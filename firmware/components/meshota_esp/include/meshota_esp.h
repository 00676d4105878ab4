/**
 * @file meshota_esp.h
 * @brief meshota on ESP-IDF: the BLE Mesh vendor models, the side channels and the task that
 * drives meshota_core.
 *
 * A node application calls meshota_esp_node_start() once from app_main(). It brings up NVS,
 * the Bluetooth controller and Bluedroid, ESP-BLE-MESH with the meshota vendor server model,
 * Wi-Fi in station mode (not connected until a session asks for it) and one task that owns
 * the meshota_core node: every mesh message, ESP-NOW frame, TCP byte and HTTP byte is handed
 * to that task, so the core only ever runs on one thread.
 *
 * A gateway application calls meshota_esp_gateway_start(): the same stack with the meshota
 * vendor client model, plus the gateway link (meshota_gwlink.h) on a TCP port for the host
 * tools.
 *
 * The mesh keeps running while a side channel transfers the image (Wi-Fi and Bluetooth
 * software coexistence), so progress reports keep flowing; see docs/porting.md.
 */
#ifndef MESHOTA_ESP_H
#define MESHOTA_ESP_H

#include <stdbool.h>
#include <stdint.h>

#include "esp_err.h"
#include "meshota_core/meshota_node.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Application self-test of a freshly updated firmware.
 *
 * Called on the first boot of a new image (boot state pending verify) once the mesh is up,
 * and again right before the image is confirmed. Return true when the application works
 * (sensors answer, peripherals initialise, ...). Returning false rolls back to the previous
 * firmware at once. Runs on the meshota task: keep it short (well under a second).
 */
typedef bool (*meshota_esp_self_test_t)(void *arg);

/** Node settings. Zero-initialise and set what you need; the rest comes from Kconfig. */
typedef struct {
    /** Optional application self-test; NULL runs only the built-in checks (mesh provisioned,
     *  free heap above CONFIG_MESHOTA_SELF_TEST_MIN_HEAP). */
    meshota_esp_self_test_t self_test;
    void *self_test_arg;
    /** Name advertised while unprovisioned (at most 29 bytes); NULL keeps the stack default. */
    const char *device_name;
} meshota_esp_node_config_t;

/** Gateway settings. */
typedef struct {
    /** Wi-Fi network the gateway joins to reach the host tools. Never logged. */
    const char *wifi_ssid;
    const char *wifi_password;
    /** TCP port of the gateway link; 0 means CONFIG_MESHOTA_GATEWAY_PORT. */
    uint16_t port;
    /** Name advertised while unprovisioned; NULL keeps the stack default. */
    const char *device_name;
} meshota_esp_gateway_config_t;

/**
 * @brief Start a meshota node (vendor server model, all methods enabled in Kconfig).
 * @return ESP_OK; ESP_ERR_INVALID_ARG when no valid manifest key is configured (see
 *         CONFIG_MESHOTA_PUBLIC_KEY_SOURCE); ESP_ERR_INVALID_STATE when called twice; ESP_ERR_NO_MEM
 *         when a queue or the task cannot be created; or the error of the failing ESP-IDF call
 *         (NVS, Bluetooth, mesh, Wi-Fi).
 */
esp_err_t meshota_esp_node_start(const meshota_esp_node_config_t *cfg);

/**
 * @brief Start a meshota gateway (vendor client model and the gateway link).
 * @return ESP_OK, ESP_ERR_INVALID_ARG (missing SSID), ESP_ERR_INVALID_STATE, ESP_ERR_NO_MEM,
 *         or the error of the failing ESP-IDF call.
 */
esp_err_t meshota_esp_gateway_start(const meshota_esp_gateway_config_t *cfg);

/** @return the phase of the node's session (meshota_v1_Phase); NONE before the node started. */
meshota_v1_Phase meshota_esp_node_phase(void);

/** @return true once the device is provisioned into a mesh network. */
bool meshota_esp_provisioned(void);

#ifdef __cplusplus
}
#endif

#endif /* MESHOTA_ESP_H */
