#pragma once
/* Transcribed for a compile check from ESP-IDF v5.x esp_ble_mesh_defs.h (fields used here). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "esp_err.h"
#include "sdkconfig.h"
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ESP_BLE_MESH_SDU_MAX_LEN 384
#define ESP_BLE_MESH_TTL_DEFAULT 0xFF
#define ESP_BLE_MESH_ADDR_UNASSIGNED 0x0000
#define ESP_BLE_MESH_KEY_UNUSED 0xFFFF
#define ESP_BLE_MESH_NET_PRIMARY 0x000
#define ESP_BLE_MESH_RELAY_DISABLED 0x00
#define ESP_BLE_MESH_RELAY_ENABLED 0x01
#define ESP_BLE_MESH_RELAY_NOT_SUPPORTED 0x02
#define ESP_BLE_MESH_BEACON_ENABLED 0x01
#define ESP_BLE_MESH_GATT_PROXY_ENABLED 0x01
#define ESP_BLE_MESH_GATT_PROXY_NOT_SUPPORTED 0x02
#define ESP_BLE_MESH_FRIEND_ENABLED 0x01
#define ESP_BLE_MESH_FRIEND_NOT_SUPPORTED 0x02
#define ESP_BLE_MESH_TRANSMIT(count, int_ms) ((count) | (((int_ms / 10) - 1) << 3))
typedef uint32_t esp_ble_mesh_cb_t;
typedef enum { ESP_BLE_MESH_PROV_ADV = (1 << 0), ESP_BLE_MESH_PROV_GATT = (1 << 1) } esp_ble_mesh_prov_bearer_t;
#define ESP_BLE_MESH_MODEL_OP_1(b0) (b0)
#define ESP_BLE_MESH_MODEL_OP_3(b0, cid) ((((b0) << 16) | 0xC00000) | (cid))
#define ESP_BLE_MESH_VENDOR_MODEL(_company, _id, _op, _pub, _user_data) \
{ .vnd = { .company_id = (_company), .model_id = (_id), }, .pub = _pub, .keys = {0xFFFF,0xFFFF,0xFFFF}, .groups = {0}, .op = _op, .user_data = _user_data, }
#define ESP_BLE_MESH_SIG_MODEL(_id, _op, _pub, _user_data) \
{ .model_id = (_id), .pub = _pub, .keys = {0xFFFF,0xFFFF,0xFFFF}, .groups = {0}, .op = _op, .user_data = _user_data, }
#define ESP_BLE_MESH_ELEMENT(_loc, _mods, _vnd_mods) \
{ .location = (_loc), .sig_model_count = ARRAY_SIZE(_mods), .vnd_model_count = ARRAY_SIZE(_vnd_mods), .sig_models = (_mods), .vnd_models = (_vnd_mods), }
typedef struct esp_ble_mesh_model esp_ble_mesh_model_t;
typedef struct { uint16_t element_addr; const uint16_t location; const uint8_t sig_model_count; const uint8_t vnd_model_count; esp_ble_mesh_model_t *sig_models; esp_ble_mesh_model_t *vnd_models; } esp_ble_mesh_elem_t;
typedef struct { esp_ble_mesh_model_t *model; uint16_t publish_addr; } esp_ble_mesh_model_pub_t;
#define ESP_BLE_MESH_MODEL_OP(_opcode, _min_len) { .opcode = _opcode, .min_len = _min_len, .param_cb = 0, }
typedef struct { const uint32_t opcode; const size_t min_len; esp_ble_mesh_cb_t param_cb; } esp_ble_mesh_model_op_t;
#define ESP_BLE_MESH_MODEL_OP_END {0, 0, 0}
typedef struct { esp_ble_mesh_cb_t init_cb; } esp_ble_mesh_model_cbs_t;
struct esp_ble_mesh_model {
    union { const uint16_t model_id; struct { uint16_t company_id; uint16_t model_id; } vnd; };
    uint8_t element_idx; uint8_t model_idx; uint16_t flags;
    esp_ble_mesh_elem_t *element;
    esp_ble_mesh_model_pub_t *const pub;
    uint16_t keys[CONFIG_BLE_MESH_MODEL_KEY_COUNT];
    uint16_t groups[CONFIG_BLE_MESH_MODEL_GROUP_COUNT];
    esp_ble_mesh_model_op_t *op;
    esp_ble_mesh_model_cbs_t *cb;
    void *user_data;
};
typedef struct { uint16_t net_idx; uint16_t app_idx; uint16_t addr; uint16_t recv_dst; int8_t recv_rssi; uint8_t recv_ttl: 7; uint8_t send_rel: 1; uint8_t send_ttl; uint32_t recv_op; esp_ble_mesh_model_t *model; bool srv_send; } esp_ble_mesh_msg_ctx_t;
typedef struct { const uint8_t *uuid; const char *uri; } esp_ble_mesh_prov_t;
typedef struct { uint16_t cid; uint16_t pid; uint16_t vid; size_t element_count; esp_ble_mesh_elem_t *elements; } esp_ble_mesh_comp_t;
typedef enum { ROLE_NODE = 0, ROLE_PROVISIONER, ROLE_FAST_PROV } esp_ble_mesh_dev_role_t;
typedef enum { ESP_BLE_MESH_PROV_REGISTER_COMP_EVT, ESP_BLE_MESH_NODE_PROV_COMPLETE_EVT, ESP_BLE_MESH_NODE_PROV_RESET_EVT } esp_ble_mesh_prov_cb_event_t;
typedef union {
    struct { int err_code; } prov_register_comp;
    struct { uint16_t net_idx; uint8_t device_key[16]; uint16_t addr; uint8_t flags; uint32_t iv_index; } node_prov_complete;
} esp_ble_mesh_prov_cb_param_t;
typedef enum { ESP_BLE_MESH_MODEL_OPERATION_EVT, ESP_BLE_MESH_MODEL_SEND_COMP_EVT, ESP_BLE_MESH_MODEL_PUBLISH_COMP_EVT, ESP_BLE_MESH_CLIENT_MODEL_RECV_PUBLISH_MSG_EVT, ESP_BLE_MESH_CLIENT_MODEL_SEND_TIMEOUT_EVT, ESP_BLE_MESH_MODEL_PUBLISH_UPDATE_EVT, ESP_BLE_MESH_MODEL_EVT_MAX } esp_ble_mesh_model_cb_event_t;
typedef union {
    struct ble_mesh_model_operation_evt_param { uint32_t opcode; esp_ble_mesh_model_t *model; esp_ble_mesh_msg_ctx_t *ctx; uint16_t length; uint8_t *msg; } model_operation;
    struct ble_mesh_model_send_comp_param { int err_code; uint32_t opcode; esp_ble_mesh_model_t *model; esp_ble_mesh_msg_ctx_t *ctx; } model_send_comp;
    struct ble_mesh_mod_recv_publish_msg_param { uint32_t opcode; esp_ble_mesh_model_t *model; esp_ble_mesh_msg_ctx_t *ctx; uint16_t length; uint8_t *msg; } client_recv_publish_msg;
    struct ble_mesh_client_model_send_timeout_param { uint32_t opcode; esp_ble_mesh_model_t *model; esp_ble_mesh_msg_ctx_t *ctx; } client_send_timeout;
} esp_ble_mesh_model_cb_param_t;
typedef struct { uint32_t cli_op; uint32_t status_op; } esp_ble_mesh_client_op_pair_t;
typedef struct { esp_ble_mesh_model_t *model; int op_pair_size; const esp_ble_mesh_client_op_pair_t *op_pair; uint32_t publish_status; void *internal_data; uint8_t msg_role; } esp_ble_mesh_client_t;
