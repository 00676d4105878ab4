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

/* Errors of this port's flash functions, above the core's codes (meshota_err.h). The core
 * treats them as any failed flash call; they tell the log and the tests why. */
/** flash_erase/flash_write while the running app is pending verification: the other slot holds
 *  the only rollback target (what esp_ota_begin() refuses with
 *  ESP_ERR_OTA_ROLLBACK_INVALID_STATE). */
#define MESHOTA_ERR_ESP_UNCONFIRMED (MESHOTA_ERR_BASE + 0x80)
/** flash_write to an encrypted slot at an offset that is not a multiple of 16. */
#define MESHOTA_ERR_ESP_UNALIGNED (MESHOTA_ERR_BASE + 0x81)

/**
 * @brief Fill @p port with the ESP-IDF device functions. nvs_flash_init() must have run.
 * Flash functions:
 * - flash_erase erases one sector at a time and waits one tick between sectors, so that a
 *   long erase does not starve the radio, the idle task or the task watchdog.
 * - flash_erase and flash_write return MESHOTA_ERR_ESP_UNCONFIRMED while the running app is
 *   pending verification.
 * - On an encrypted OTA slot (flash encryption on), flash_write needs offsets that are
 *   multiples of 16 (else MESHOTA_ERR_ESP_UNALIGNED); a length that is not a multiple of 16
 *   must end the image, whose last block is completed with 0xFF. Chunk sizes must therefore be
 *   multiples of 16 (docs/porting.md, "Flash encryption").
 *
 * boot_state reports MESHOTA_BOOT_ROLLED_BACK during the one boot that follows the bootloader
 * going back from the image boot_set_next applied (the slot is recorded in NVS until the image
 * is confirmed or rejected), and MESHOTA_BOOT_NORMAL on later boots.
 *
 * @return MESHOTA_OK; MESHOTA_ERR_FLASH when there is no OTA partition to update into;
 *         MESHOTA_ERR_STORAGE when the NVS namespace cannot be opened.
 */
meshota_err_t meshota_port_esp_idf_init(meshota_port_t *port);

#ifdef __cplusplus
}
#endif

#endif /* MESHOTA_PORT_ESP_IDF_H */
