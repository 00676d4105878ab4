/* From components/freertos (ESP-IDF v5.x): the tick type. */
#pragma once
#include <stdint.h>
typedef uint32_t TickType_t;
