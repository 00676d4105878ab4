#pragma once
#include "esp_ble_mesh_defs.h"
uint16_t esp_ble_mesh_get_primary_element_address(void);
