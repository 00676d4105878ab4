#pragma once
#include "esp_ble_mesh_defs.h"
typedef void (*esp_ble_mesh_prov_cb_t)(esp_ble_mesh_prov_cb_event_t event, esp_ble_mesh_prov_cb_param_t *param);
esp_err_t esp_ble_mesh_register_prov_callback(esp_ble_mesh_prov_cb_t callback);
bool esp_ble_mesh_node_is_provisioned(void);
esp_err_t esp_ble_mesh_node_prov_enable(esp_ble_mesh_prov_bearer_t bearers);
esp_err_t esp_ble_mesh_set_unprovisioned_device_name(const char *name);
