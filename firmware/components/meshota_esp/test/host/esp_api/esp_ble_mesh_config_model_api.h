#pragma once
#include "esp_ble_mesh_defs.h"
#define ESP_BLE_MESH_MODEL_ID_CONFIG_SRV 0x0000
#define ESP_BLE_MESH_MODEL_CFG_SRV(srv_data) ESP_BLE_MESH_SIG_MODEL(ESP_BLE_MESH_MODEL_ID_CONFIG_SRV, NULL, NULL, srv_data)
#define ESP_BLE_MESH_MODEL_OP_APP_KEY_ADD ESP_BLE_MESH_MODEL_OP_1(0x00)
#define ESP_BLE_MESH_MODEL_OP_MODEL_APP_BIND 0x803D
typedef struct { esp_ble_mesh_model_t *model; uint8_t net_transmit; uint8_t relay; uint8_t relay_retransmit; uint8_t beacon; uint8_t gatt_proxy; uint8_t friend_state; uint8_t default_ttl; } esp_ble_mesh_cfg_srv_t;
typedef enum { ESP_BLE_MESH_CFG_SERVER_STATE_CHANGE_EVT = 0 } esp_ble_mesh_cfg_server_cb_event_t;
typedef struct {
    struct { uint32_t recv_op; } ctx;
    struct { struct {
        struct { uint16_t net_idx; uint16_t app_idx; uint8_t app_key[16]; } appkey_add;
        struct { uint16_t element_addr; uint16_t app_idx; uint16_t company_id; uint16_t model_id; } mod_app_bind;
    } state_change; } value;
} esp_ble_mesh_cfg_server_cb_param_t;
typedef void (*esp_ble_mesh_cfg_server_cb_t)(esp_ble_mesh_cfg_server_cb_event_t event, esp_ble_mesh_cfg_server_cb_param_t *param);
esp_err_t esp_ble_mesh_register_config_server_callback(esp_ble_mesh_cfg_server_cb_t callback);
