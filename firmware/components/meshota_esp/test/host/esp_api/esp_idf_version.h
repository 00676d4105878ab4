#pragma once
/* One transcription of esp_idf_version.h serves both compile checks; the version is set per
 * build with -DTEST_IDF_MAJOR=... -DTEST_IDF_MINOR=... (the ESP-NOW glue is checked as v5.5
 * too, where its send callback changed). */
#include "../../../../meshota_core/port/esp_idf/test/host/esp_api/esp_idf_version.h"
