/* From components/freertos/FreeRTOS-Kernel/include/freertos/task.h (ESP-IDF v5.x). */
#pragma once
#include "freertos/FreeRTOS.h"
void vTaskDelay(const TickType_t xTicksToDelay);
