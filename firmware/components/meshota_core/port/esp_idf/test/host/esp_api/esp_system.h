/* From components/esp_system/include/esp_system.h (ESP-IDF v5.x). */
#pragma once
void esp_restart(void) __attribute__((noreturn));
