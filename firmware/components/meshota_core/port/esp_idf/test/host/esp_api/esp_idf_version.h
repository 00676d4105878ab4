/* From components/esp_common/include/esp_idf_version.h; the version is set per build with
 * -DTEST_IDF_MAJOR=... -DTEST_IDF_MINOR=... (default v5.1). */
#pragma once
#ifndef TEST_IDF_MAJOR
#define TEST_IDF_MAJOR 5
#endif
#ifndef TEST_IDF_MINOR
#define TEST_IDF_MINOR 1
#endif
#define ESP_IDF_VERSION_MAJOR TEST_IDF_MAJOR
#define ESP_IDF_VERSION_MINOR TEST_IDF_MINOR
#define ESP_IDF_VERSION_PATCH 0
#define ESP_IDF_VERSION_VAL(major, minor, patch) (((major) << 16) | ((minor) << 8) | (patch))
#define ESP_IDF_VERSION                                                                        \
    ESP_IDF_VERSION_VAL(ESP_IDF_VERSION_MAJOR, ESP_IDF_VERSION_MINOR, ESP_IDF_VERSION_PATCH)
