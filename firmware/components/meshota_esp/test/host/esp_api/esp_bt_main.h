#pragma once
#include "esp_err.h"
esp_err_t esp_bluedroid_init(void);
esp_err_t esp_bluedroid_enable(void);
