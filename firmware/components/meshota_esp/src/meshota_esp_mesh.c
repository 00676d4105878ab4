/*
 * ESP-BLE-MESH glue: Bluetooth bring-up, the meshota vendor server model (node) and client
 * model (gateway), and the translation between ESP-BLE-MESH events and meshota messages.
 *
 * Checked against ESP-IDF v5.x components/bt/esp_ble_mesh/api (esp_ble_mesh_defs.h,
 * esp_ble_mesh_networking_api.h/.c, esp_ble_mesh_provisioning_api.h,
 * esp_ble_mesh_local_data_operation_api.h) and btc_ble_mesh_prov.c for which event carries
 * received client messages.
 */
#include <string.h>

#include "esp_ble_mesh_common_api.h"
#include "esp_ble_mesh_config_model_api.h"
#include "esp_ble_mesh_defs.h"
#include "esp_ble_mesh_local_data_operation_api.h"
#include "esp_ble_mesh_networking_api.h"
#include "esp_ble_mesh_provisioning_api.h"
#include "esp_bt.h"
#include "esp_bt_main.h"
#include "esp_check.h"
#include "esp_log.h"
#include "esp_mac.h"
#include "sdkconfig.h"

#include "meshota_esp_priv.h"
#include "meshota_esp_util.h"
#include "meshota_opcodes.h"

static const char *TAG = "meshota_mesh";

#define MOTA_CID CONFIG_MESHOTA_COMPANY_ID

#if !CONFIG_BT_BLUEDROID_ENABLED
#error "meshota_esp brings up Bluetooth with the Bluedroid host: set CONFIG_BT_BLUEDROID_ENABLED=y"
#endif
#if !CONFIG_BLE_MESH || !CONFIG_BLE_MESH_NODE
#error "meshota_esp needs ESP-BLE-MESH as a node: set CONFIG_BLE_MESH=y and CONFIG_BLE_MESH_NODE=y"
#endif
/* A segmented access message of 3 + 377 + 4 bytes is 32 segments of 12 bytes. ESP-BLE-MESH
 * sends at most (CONFIG_BLE_MESH_ADV_BUF_COUNT - 3) * 12 bytes (esp_ble_mesh_networking_api.c)
 * and CONFIG_BLE_MESH_TX_SEG_MAX * 12 bytes; it receives at most CONFIG_BLE_MESH_RX_SDU_MAX. */
#if CONFIG_BLE_MESH_ADV_BUF_COUNT < 35
#error "CONFIG_BLE_MESH_ADV_BUF_COUNT must be at least 35 to send 384-byte meshota messages"
#endif
#if CONFIG_BLE_MESH_TX_SEG_MAX < 32
#error "CONFIG_BLE_MESH_TX_SEG_MAX must be 32 to send 377 parameter bytes"
#endif
#if CONFIG_BLE_MESH_RX_SDU_MAX < 384
#error "CONFIG_BLE_MESH_RX_SDU_MAX must be 384 to receive 377 parameter bytes"
#endif
#if MOTA_CID < 0 || MOTA_CID > 0xFFFE
#error "CONFIG_MESHOTA_COMPANY_ID must be a 16-bit company identifier other than 0xFFFF"
#endif

/* One operation entry per meshota vendor message, straight from the generated table: no opcode
 * is written by hand. Minimum length 0: InfoGet, UpdateGet and RelayGet have no parameters,
 * and the core checks every length itself. The tables are writable: the stack fills param_cb. */
#define MOTA_OP_ENTRY(op, name, type, fields, budget) \
    ESP_BLE_MESH_MODEL_OP(ESP_BLE_MESH_MODEL_OP_3((op), MOTA_CID), 0),

static esp_ble_mesh_model_op_t s_server_ops[] = {
    MESHOTA_FOR_EACH_VENDOR_MESSAGE(MOTA_OP_ENTRY)
    ESP_BLE_MESH_MODEL_OP_END,
};

static esp_ble_mesh_model_op_t s_client_ops[] = {
    MESHOTA_FOR_EACH_VENDOR_MESSAGE(MOTA_OP_ENTRY)
    ESP_BLE_MESH_MODEL_OP_END,
};

/* Request -> answer pairs. The client sends with need_rsp = false (the host tools keep their
 * own timeouts and may have requests to several nodes in flight), so ESP-BLE-MESH never waits
 * on this table, but esp_ble_mesh_client_model_init() requires one. */
#define MOTA_PAIR(req, rsp) \
    {ESP_BLE_MESH_MODEL_OP_3(MESHOTA_OP_##req, MOTA_CID), \
     ESP_BLE_MESH_MODEL_OP_3(MESHOTA_OP_##rsp, MOTA_CID)}
static const esp_ble_mesh_client_op_pair_t s_op_pairs[] = {
    MOTA_PAIR(INFO_GET, INFO_STATUS),
    MOTA_PAIR(CREDENTIALS_SET, UPDATE_STATUS),
    MOTA_PAIR(UPDATE_START, UPDATE_STATUS),
    MOTA_PAIR(UPDATE_GET, UPDATE_STATUS),
    MOTA_PAIR(UPDATE_CANCEL, UPDATE_STATUS),
    MOTA_PAIR(UPDATE_APPLY, UPDATE_STATUS),
    MOTA_PAIR(UPDATE_CONFIRM, UPDATE_STATUS),
    MOTA_PAIR(RELAY_START, RELAY_STATUS),
    MOTA_PAIR(RELAY_GET, RELAY_STATUS),
};

static esp_ble_mesh_client_t s_client = {
    .op_pair_size = (int)(sizeof(s_op_pairs) / sizeof(s_op_pairs[0])),
    .op_pair = s_op_pairs,
};

static esp_ble_mesh_cfg_srv_t s_cfg_srv = {
#if CONFIG_BLE_MESH_RELAY
    .relay = ESP_BLE_MESH_RELAY_ENABLED,
#else
    .relay = ESP_BLE_MESH_RELAY_NOT_SUPPORTED,
#endif
    .beacon = ESP_BLE_MESH_BEACON_ENABLED,
#if CONFIG_BLE_MESH_FRIEND
    .friend_state = ESP_BLE_MESH_FRIEND_ENABLED,
#else
    .friend_state = ESP_BLE_MESH_FRIEND_NOT_SUPPORTED,
#endif
#if CONFIG_BLE_MESH_GATT_PROXY_SERVER
    .gatt_proxy = ESP_BLE_MESH_GATT_PROXY_ENABLED,
#else
    .gatt_proxy = ESP_BLE_MESH_GATT_PROXY_NOT_SUPPORTED,
#endif
    .default_ttl = 7,
    /* Three transmissions 20 ms apart, for own and relayed network PDUs. */
    .net_transmit = ESP_BLE_MESH_TRANSMIT(2, 20),
    .relay_retransmit = ESP_BLE_MESH_TRANSMIT(2, 20),
};

/* Each role has its own element (a model array can belong to one element only). */
static esp_ble_mesh_model_t s_node_root[] = {ESP_BLE_MESH_MODEL_CFG_SRV(&s_cfg_srv)};
static esp_ble_mesh_model_t s_gw_root[] = {ESP_BLE_MESH_MODEL_CFG_SRV(&s_cfg_srv)};

static esp_ble_mesh_model_t s_server_model[] = {
    ESP_BLE_MESH_VENDOR_MODEL(MOTA_CID, CONFIG_MESHOTA_SERVER_MODEL_ID, s_server_ops, NULL, NULL),
};
static esp_ble_mesh_model_t s_client_model[] = {
    ESP_BLE_MESH_VENDOR_MODEL(MOTA_CID, CONFIG_MESHOTA_CLIENT_MODEL_ID, s_client_ops, NULL,
                              &s_client),
};

static esp_ble_mesh_elem_t s_node_elements[] = {
    ESP_BLE_MESH_ELEMENT(0, s_node_root, s_server_model),
};
static esp_ble_mesh_elem_t s_gw_elements[] = {
    ESP_BLE_MESH_ELEMENT(0, s_gw_root, s_client_model),
};

static esp_ble_mesh_comp_t s_comp = {
    .cid = MOTA_CID,
};

static uint8_t s_uuid[16];
static esp_ble_mesh_prov_t s_prov = {
    .uuid = s_uuid,
};

static struct {
    mota_role_t role;
    esp_ble_mesh_model_t *model;
    mota_mesh_rx_fn rx;
    mota_mesh_sent_fn sent;
    volatile uint16_t addr;
    /* Keys of the last message received: replies and reports use the same subnet and AppKey. */
    volatile uint16_t net_idx;
    volatile uint16_t app_idx;
    volatile bool have_rx_keys;
} s_mesh;

uint16_t mota_mesh_addr(void)
{
    return s_mesh.addr;
}

bool mota_mesh_ready(void)
{
    return s_mesh.model != NULL && s_mesh.addr != ESP_BLE_MESH_ADDR_UNASSIGNED &&
           s_mesh.model->keys[0] != ESP_BLE_MESH_KEY_UNUSED;
}

static void send_ctx(esp_ble_mesh_msg_ctx_t *ctx, uint16_t dst, uint8_t ttl)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->net_idx = s_mesh.have_rx_keys ? s_mesh.net_idx : ESP_BLE_MESH_NET_PRIMARY;
    ctx->app_idx = s_mesh.have_rx_keys ? s_mesh.app_idx : s_mesh.model->keys[0];
    ctx->addr = dst;
    ctx->send_ttl = ttl;
    /* send_rel stays 0: a reliable send would use the 8-byte TransMIC, and 3 + 377 + 8 bytes
     * exceed ESP_BLE_MESH_SDU_MAX_LEN. Unicast segmented messages are acknowledged anyway. */
}

esp_err_t mota_mesh_server_send(uint16_t dst, uint8_t op6, const uint8_t *params, size_t len)
{
    if (s_mesh.role != MOTA_ROLE_NODE || s_mesh.model == NULL) {
        return ESP_ERR_INVALID_STATE;
    }
    if (op6 > 0x3F || len > MESHOTA_SEGMENTED_PARAMS_MAX || dst == ESP_BLE_MESH_ADDR_UNASSIGNED) {
        return ESP_ERR_INVALID_ARG;
    }
    if (!mota_mesh_ready()) {
        return ESP_ERR_INVALID_STATE;
    }
    esp_ble_mesh_msg_ctx_t ctx;
    send_ctx(&ctx, dst, ESP_BLE_MESH_TTL_DEFAULT);
    /* The API takes uint8_t * but copies the parameters before it returns. */
    return esp_ble_mesh_server_model_send_msg(s_mesh.model, &ctx,
                                              ESP_BLE_MESH_MODEL_OP_3(op6, MOTA_CID),
                                              (uint16_t)len, (uint8_t *)params);
}

esp_err_t mota_mesh_client_send(uint16_t dst, uint8_t ttl, uint8_t op6, const uint8_t *params,
                                size_t len)
{
    if (s_mesh.role != MOTA_ROLE_GATEWAY || s_mesh.model == NULL) {
        return ESP_ERR_INVALID_STATE;
    }
    if (op6 > 0x3F || len > MESHOTA_SEGMENTED_PARAMS_MAX || dst == ESP_BLE_MESH_ADDR_UNASSIGNED) {
        return ESP_ERR_INVALID_ARG;
    }
    if (!mota_mesh_ready()) {
        return ESP_ERR_INVALID_STATE;
    }
    esp_ble_mesh_msg_ctx_t ctx;
    send_ctx(&ctx, dst, ttl == 0xFF ? ESP_BLE_MESH_TTL_DEFAULT : ttl);
    return esp_ble_mesh_client_model_send_msg(s_mesh.model, &ctx,
                                              ESP_BLE_MESH_MODEL_OP_3(op6, MOTA_CID),
                                              (uint16_t)len, (uint8_t *)params, 0, false,
                                              ROLE_NODE);
}

/* Runs on the BTC task for both events that carry a received message: MODEL_OPERATION (server,
 * or a client answer matching a pending request) and CLIENT_MODEL_RECV_PUBLISH_MSG (client,
 * every message when nothing is pending). */
static void on_message(esp_ble_mesh_model_t *model, esp_ble_mesh_msg_ctx_t *ctx, uint32_t opcode,
                       const uint8_t *msg, size_t len)
{
    uint8_t op6;
    if (model != s_mesh.model || ctx == NULL || s_mesh.rx == NULL) {
        return;
    }
    if (!meshota_esp_vendor_op_split(opcode, MOTA_CID, &op6)) {
        ESP_LOGD(TAG, "opcode 0x%06lx from 0x%04x is not ours", (unsigned long)opcode, ctx->addr);
        return;
    }
    s_mesh.net_idx = ctx->net_idx;
    s_mesh.app_idx = ctx->app_idx;
    s_mesh.have_rx_keys = true;
    s_mesh.rx(ctx->addr, ctx->recv_dst, ctx->recv_rssi, op6, msg, len);
}

static void model_cb(esp_ble_mesh_model_cb_event_t event, esp_ble_mesh_model_cb_param_t *param)
{
    switch (event) {
    case ESP_BLE_MESH_MODEL_OPERATION_EVT:
        on_message(param->model_operation.model, param->model_operation.ctx,
                   param->model_operation.opcode, param->model_operation.msg,
                   param->model_operation.length);
        break;
    case ESP_BLE_MESH_CLIENT_MODEL_RECV_PUBLISH_MSG_EVT:
        on_message(param->client_recv_publish_msg.model, param->client_recv_publish_msg.ctx,
                   param->client_recv_publish_msg.opcode, param->client_recv_publish_msg.msg,
                   param->client_recv_publish_msg.length);
        break;
    case ESP_BLE_MESH_MODEL_SEND_COMP_EVT:
        if (param->model_send_comp.model != s_mesh.model) {
            break;
        }
        if (param->model_send_comp.err_code != 0) {
            ESP_LOGW(TAG, "send of 0x%06lx failed (%d)", (unsigned long)param->model_send_comp.opcode,
                     param->model_send_comp.err_code);
        }
        if (s_mesh.sent != NULL) {
            s_mesh.sent(param->model_send_comp.err_code);
        }
        break;
    case ESP_BLE_MESH_CLIENT_MODEL_SEND_TIMEOUT_EVT:
        /* Only for need_rsp sends, which meshota does not use. */
        ESP_LOGD(TAG, "client timeout for 0x%06lx", (unsigned long)param->client_send_timeout.opcode);
        break;
    default:
        break;
    }
}

static void prov_cb(esp_ble_mesh_prov_cb_event_t event, esp_ble_mesh_prov_cb_param_t *param)
{
    switch (event) {
    case ESP_BLE_MESH_PROV_REGISTER_COMP_EVT:
        if (param->prov_register_comp.err_code != 0) {
            ESP_LOGE(TAG, "mesh registration failed (%d)", param->prov_register_comp.err_code);
        }
        break;
    case ESP_BLE_MESH_NODE_PROV_COMPLETE_EVT:
        s_mesh.addr = param->node_prov_complete.addr;
        ESP_LOGI(TAG, "provisioned: address 0x%04x, net_idx 0x%03x", param->node_prov_complete.addr,
                 param->node_prov_complete.net_idx);
        break;
    case ESP_BLE_MESH_NODE_PROV_RESET_EVT:
        s_mesh.addr = ESP_BLE_MESH_ADDR_UNASSIGNED;
        s_mesh.have_rx_keys = false;
        ESP_LOGW(TAG, "node reset by the network; waiting to be provisioned again");
        (void)esp_ble_mesh_node_prov_enable(
            (esp_ble_mesh_prov_bearer_t)(ESP_BLE_MESH_PROV_ADV | ESP_BLE_MESH_PROV_GATT));
        break;
    default:
        break;
    }
}

static void cfg_srv_cb(esp_ble_mesh_cfg_server_cb_event_t event,
                       esp_ble_mesh_cfg_server_cb_param_t *param)
{
    if (event != ESP_BLE_MESH_CFG_SERVER_STATE_CHANGE_EVT) {
        return;
    }
    /* Key indexes only: key material is never logged. */
    switch (param->ctx.recv_op) {
    case ESP_BLE_MESH_MODEL_OP_APP_KEY_ADD:
        ESP_LOGI(TAG, "AppKey added: net_idx 0x%03x, app_idx 0x%03x",
                 param->value.state_change.appkey_add.net_idx,
                 param->value.state_change.appkey_add.app_idx);
        break;
    case ESP_BLE_MESH_MODEL_OP_MODEL_APP_BIND:
        if (param->value.state_change.mod_app_bind.company_id == MOTA_CID) {
            ESP_LOGI(TAG, "AppKey 0x%03x bound to vendor model 0x%04x",
                     param->value.state_change.mod_app_bind.app_idx,
                     param->value.state_change.mod_app_bind.model_id);
        }
        break;
    default:
        break;
    }
}

static esp_err_t bluetooth_up(void)
{
    /* Classic Bluetooth memory is never needed: give it back to the heap (TLS needs it). */
    esp_err_t err = esp_bt_controller_mem_release(ESP_BT_MODE_CLASSIC_BT);
    if (err != ESP_OK && err != ESP_ERR_INVALID_STATE) {
        ESP_LOGW(TAG, "releasing Classic BT memory failed: %s", esp_err_to_name(err));
    }
    esp_bt_controller_config_t bt_cfg = BT_CONTROLLER_INIT_CONFIG_DEFAULT();
    ESP_RETURN_ON_ERROR(esp_bt_controller_init(&bt_cfg), TAG, "controller init");
    ESP_RETURN_ON_ERROR(esp_bt_controller_enable(ESP_BT_MODE_BLE), TAG, "controller enable");
    ESP_RETURN_ON_ERROR(esp_bluedroid_init(), TAG, "bluedroid init");
    ESP_RETURN_ON_ERROR(esp_bluedroid_enable(), TAG, "bluedroid enable");
    return ESP_OK;
}

esp_err_t mota_mesh_start(mota_role_t role, const char *device_name, mota_mesh_rx_fn rx,
                          mota_mesh_sent_fn sent)
{
    if (s_mesh.model != NULL) {
        return ESP_ERR_INVALID_STATE;
    }
    ESP_RETURN_ON_ERROR(bluetooth_up(), TAG, "bluetooth");

    /* Device UUID: "MO" then the Bluetooth MAC, so a provisioner can filter meshota devices and
     * every device is distinct. */
    uint8_t mac[6];
    ESP_RETURN_ON_ERROR(esp_read_mac(mac, ESP_MAC_BT), TAG, "read BT MAC");
    memset(s_uuid, 0, sizeof(s_uuid));
    s_uuid[0] = 'M';
    s_uuid[1] = 'O';
    memcpy(&s_uuid[2], mac, sizeof(mac));

    s_mesh.role = role;
    s_mesh.rx = rx;
    s_mesh.sent = sent;
    if (role == MOTA_ROLE_NODE) {
        s_comp.elements = s_node_elements;
        s_comp.element_count = sizeof(s_node_elements) / sizeof(s_node_elements[0]);
        s_mesh.model = &s_server_model[0];
    } else {
        s_comp.elements = s_gw_elements;
        s_comp.element_count = sizeof(s_gw_elements) / sizeof(s_gw_elements[0]);
        s_mesh.model = &s_client_model[0];
    }

    ESP_RETURN_ON_ERROR(esp_ble_mesh_register_prov_callback(prov_cb), TAG, "prov callback");
    ESP_RETURN_ON_ERROR(esp_ble_mesh_register_config_server_callback(cfg_srv_cb), TAG,
                        "config server callback");
    ESP_RETURN_ON_ERROR(esp_ble_mesh_register_custom_model_callback(model_cb), TAG,
                        "model callback");
    esp_err_t err = esp_ble_mesh_init(&s_prov, &s_comp);
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "esp_ble_mesh_init failed: %s", esp_err_to_name(err));
        s_mesh.model = NULL;
        return err;
    }
    if (role == MOTA_ROLE_GATEWAY) {
        ESP_RETURN_ON_ERROR(esp_ble_mesh_client_model_init(&s_client_model[0]), TAG,
                            "client model init");
    }
    if (device_name != NULL) {
        err = esp_ble_mesh_set_unprovisioned_device_name(device_name);
        if (err != ESP_OK) {
            ESP_LOGW(TAG, "device name not set: %s", esp_err_to_name(err));
        }
    }
    if (esp_ble_mesh_node_is_provisioned()) {
        /* Provisioning data came back from NVS (CONFIG_BLE_MESH_SETTINGS). */
        s_mesh.addr = esp_ble_mesh_get_primary_element_address();
        ESP_LOGI(TAG, "mesh up: address 0x%04x", s_mesh.addr);
        return ESP_OK;
    }
    ESP_RETURN_ON_ERROR(esp_ble_mesh_node_prov_enable((esp_ble_mesh_prov_bearer_t)(
                            ESP_BLE_MESH_PROV_ADV | ESP_BLE_MESH_PROV_GATT)),
                        TAG, "enable provisioning");
    ESP_LOGI(TAG, "waiting to be provisioned (UUID starts 4d 4f)");
    return ESP_OK;
}
