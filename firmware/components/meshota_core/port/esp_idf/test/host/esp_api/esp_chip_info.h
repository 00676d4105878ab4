/* From components/esp_hw_support/include/esp_chip_info.h (ESP-IDF v5.x). */
#pragma once
#include <stdint.h>
typedef enum { CHIP_ESP32 = 1, CHIP_ESP32S3 = 9, CHIP_ESP32C3 = 5 } esp_chip_model_t;
typedef struct {
    esp_chip_model_t model;
    uint32_t features;
    uint16_t revision; /* major * 100 + minor */
    uint8_t cores;
} esp_chip_info_t;
void esp_chip_info(esp_chip_info_t *out_info);
