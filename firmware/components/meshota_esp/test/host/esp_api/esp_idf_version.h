#pragma once
/* esp_idf_version.h: the version macros. The compile check builds the glue as v5.3 and, for
 * the ESP-NOW callbacks that changed in v5.5, once more with ESP_IDF_VERSION_MINOR=5. */
#define ESP_IDF_VERSION_MAJOR 5
#ifndef ESP_IDF_VERSION_MINOR
#define ESP_IDF_VERSION_MINOR 3
#endif
#define ESP_IDF_VERSION_PATCH 0
#define ESP_IDF_VERSION_VAL(major, minor, patch) (((major) << 16) | ((minor) << 8) | (patch))
#define ESP_IDF_VERSION \
    ESP_IDF_VERSION_VAL(ESP_IDF_VERSION_MAJOR, ESP_IDF_VERSION_MINOR, ESP_IDF_VERSION_PATCH)
