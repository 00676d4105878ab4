#pragma once
#include <stdint.h>
void esp_restart(void) __attribute__((noreturn));
uint32_t esp_get_free_heap_size(void);
