/**
 * @file meshota_port_esp_idf.h
 * @brief ESP-IDF (v5.x, v6) half of meshota_port_t: the passive OTA slot through
 * esp_ota_ops/esp_partition, boot control with app rollback, an NVS key-value store (namespace
 * "meshota"), PSA crypto, esp_timer, esp_fill_random and ESP_LOG.
 *
 * The bearers (send, ESP-NOW, TCP client, HTTP stream source) belong to the application glue
 * (components/meshota_esp), which sets those members after calling meshota_port_esp_idf_init().
 */
#ifndef MESHOTA_PORT_ESP_IDF_H
#define MESHOTA_PORT_ESP_IDF_H

#include "meshota_core/meshota_port.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Fill @p port with the ESP-IDF device functions. nvs_flash_init() must have run.
 * @return MESHOTA_OK; MESHOTA_ERR_FLASH when there is no OTA partition to update into;
 *         MESHOTA_ERR_STORAGE when the NVS namespace cannot be opened.
 */
meshota_err_t meshota_port_esp_idf_init(meshota_port_t *port);

#ifdef __cplusplus
}
#endif

#endif /* MESHOTA_PORT_ESP_IDF_H */
