/*
 * Host tests of the BLE Mesh glue (src/meshota_esp_mesh.c) against fakes of the ESP-BLE-MESH
 * calls it makes, declared in esp_api/. The source file is included so its tables and state
 * can be inspected; every ESP-IDF function it calls is recorded below.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/meshota_esp_mesh.c"

#include "meshota_codec.h"

/* ---- Fakes of the ESP-IDF calls ------------------------------------------------------------ */

static struct {
    esp_ble_mesh_model_cb_t model_cb;
    esp_ble_mesh_prov_cb_t prov_cb;
    esp_ble_mesh_cfg_server_cb_t cfg_cb;
    esp_ble_mesh_comp_t *comp;
    esp_ble_mesh_prov_t *prov;
    esp_ble_mesh_model_t *client_init_model;
    bool provisioned;
    uint16_t primary_addr;
    int prov_enable_calls;
    esp_ble_mesh_prov_bearer_t prov_bearers;
    const char *device_name;
    /* Last send through either model API. */
    int sends;
    bool client_api;
    esp_ble_mesh_model_t *send_model;
    esp_ble_mesh_msg_ctx_t send_ctx;
    uint32_t send_opcode;
    uint16_t send_len;
    uint8_t send_data[400];
    int32_t send_timeout;
    bool send_need_rsp;
    esp_ble_mesh_dev_role_t send_role;
    /* What the glue reported upwards. */
    int rx_calls;
    uint16_t rx_src, rx_dst;
    int8_t rx_rssi;
    uint8_t rx_op;
    uint8_t rx_params[400];
    size_t rx_len;
    int sent_calls;
    int sent_err;
} f;

const char *esp_err_to_name(esp_err_t code)
{
    return code == ESP_OK ? "ESP_OK" : "error";
}

void esp_log_write_stub(const char *tag, const char *fmt, ...)
{
    (void)tag;
    (void)fmt;
}

esp_err_t esp_read_mac(uint8_t *mac, esp_mac_type_t type)
{
    static const uint8_t bt[6] = {0x24, 0x0A, 0xC4, 0x11, 0x22, 0x33};
    assert_int_equal(type, ESP_MAC_BT);
    memcpy(mac, bt, 6);
    return ESP_OK;
}

esp_err_t esp_bt_controller_mem_release(esp_bt_mode_t mode)
{
    assert_int_equal(mode, ESP_BT_MODE_CLASSIC_BT);
    return ESP_OK;
}
esp_err_t esp_bt_controller_init(esp_bt_controller_config_t *cfg)
{
    (void)cfg;
    return ESP_OK;
}
esp_err_t esp_bt_controller_enable(esp_bt_mode_t mode)
{
    assert_int_equal(mode, ESP_BT_MODE_BLE);
    return ESP_OK;
}
esp_err_t esp_bluedroid_init(void)
{
    return ESP_OK;
}
esp_err_t esp_bluedroid_enable(void)
{
    return ESP_OK;
}

esp_err_t esp_ble_mesh_register_prov_callback(esp_ble_mesh_prov_cb_t cb)
{
    f.prov_cb = cb;
    return ESP_OK;
}
esp_err_t esp_ble_mesh_register_config_server_callback(esp_ble_mesh_cfg_server_cb_t cb)
{
    f.cfg_cb = cb;
    return ESP_OK;
}
esp_err_t esp_ble_mesh_register_custom_model_callback(esp_ble_mesh_model_cb_t cb)
{
    f.model_cb = cb;
    return ESP_OK;
}
esp_err_t esp_ble_mesh_init(esp_ble_mesh_prov_t *prov, esp_ble_mesh_comp_t *comp)
{
    f.prov = prov;
    f.comp = comp;
    return ESP_OK;
}
esp_err_t esp_ble_mesh_client_model_init(esp_ble_mesh_model_t *model)
{
    f.client_init_model = model;
    return ESP_OK;
}
esp_err_t esp_ble_mesh_set_unprovisioned_device_name(const char *name)
{
    f.device_name = name;
    return ESP_OK;
}
bool esp_ble_mesh_node_is_provisioned(void)
{
    return f.provisioned;
}
uint16_t esp_ble_mesh_get_primary_element_address(void)
{
    return f.primary_addr;
}
esp_err_t esp_ble_mesh_node_prov_enable(esp_ble_mesh_prov_bearer_t bearers)
{
    f.prov_enable_calls++;
    f.prov_bearers = bearers;
    return ESP_OK;
}

static void record_send(esp_ble_mesh_model_t *model, esp_ble_mesh_msg_ctx_t *ctx, uint32_t opcode,
                        uint16_t length, const uint8_t *data)
{
    f.sends++;
    f.send_model = model;
    f.send_ctx = *ctx;
    f.send_opcode = opcode;
    f.send_len = length;
    if (length > 0) {
        memcpy(f.send_data, data, length);
    }
}

esp_err_t esp_ble_mesh_server_model_send_msg(esp_ble_mesh_model_t *model,
                                             esp_ble_mesh_msg_ctx_t *ctx, uint32_t opcode,
                                             uint16_t length, uint8_t *data)
{
    f.client_api = false;
    record_send(model, ctx, opcode, length, data);
    return ESP_OK;
}

esp_err_t esp_ble_mesh_client_model_send_msg(esp_ble_mesh_model_t *model,
                                             esp_ble_mesh_msg_ctx_t *ctx, uint32_t opcode,
                                             uint16_t length, uint8_t *data, int32_t msg_timeout,
                                             bool need_rsp, esp_ble_mesh_dev_role_t device_role)
{
    f.client_api = true;
    f.send_timeout = msg_timeout;
    f.send_need_rsp = need_rsp;
    f.send_role = device_role;
    record_send(model, ctx, opcode, length, data);
    return ESP_OK;
}

static void on_rx(uint16_t src, uint16_t dst, int8_t rssi, uint8_t op6, const uint8_t *params,
                  size_t len)
{
    f.rx_calls++;
    f.rx_src = src;
    f.rx_dst = dst;
    f.rx_rssi = rssi;
    f.rx_op = op6;
    f.rx_len = len;
    memcpy(f.rx_params, params, len);
}

static void on_sent(int err_code)
{
    f.sent_calls++;
    f.sent_err = err_code;
}

/* ---- Test utilities ------------------------------------------------------------------------ */

static int reset(void **state)
{
    (void)state;
    memset(&f, 0, sizeof(f));
    memset((void *)&s_mesh, 0, sizeof(s_mesh));
    s_server_model[0].keys[0] = ESP_BLE_MESH_KEY_UNUSED;
    s_client_model[0].keys[0] = ESP_BLE_MESH_KEY_UNUSED;
    return 0;
}

static uint32_t vendor_op(uint8_t op6)
{
    return 0xC00000u | ((uint32_t)op6 << 16) | 0x02E5u;
}

/* Deliver a received message the way ESP-BLE-MESH does, through the custom model callback. */
static void deliver(esp_ble_mesh_model_cb_event_t event, esp_ble_mesh_model_t *model,
                    uint32_t opcode, uint16_t src, uint16_t net_idx, uint16_t app_idx,
                    const uint8_t *msg, uint16_t len)
{
    static uint8_t buf[400];
    esp_ble_mesh_msg_ctx_t ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.net_idx = net_idx;
    ctx.app_idx = app_idx;
    ctx.addr = src;
    ctx.recv_dst = 0x0042;
    ctx.recv_rssi = -57;
    ctx.recv_op = opcode;
    memcpy(buf, msg, len);
    esp_ble_mesh_model_cb_param_t p;
    memset(&p, 0, sizeof(p));
    if (event == ESP_BLE_MESH_MODEL_OPERATION_EVT) {
        p.model_operation.opcode = opcode;
        p.model_operation.model = model;
        p.model_operation.ctx = &ctx;
        p.model_operation.length = len;
        p.model_operation.msg = buf;
    } else {
        p.client_recv_publish_msg.opcode = opcode;
        p.client_recv_publish_msg.model = model;
        p.client_recv_publish_msg.ctx = &ctx;
        p.client_recv_publish_msg.length = len;
        p.client_recv_publish_msg.msg = buf;
    }
    f.model_cb(event, &p);
}

/* ---- Tables -------------------------------------------------------------------------------- */

static void op_tables_list_every_vendor_message_with_its_3_octet_opcode(void **state)
{
    (void)state;
    const esp_ble_mesh_model_op_t *tables[] = {s_server_ops, s_client_ops};
    for (size_t t = 0; t < 2; t++) {
        size_t i = 0;
        for (; tables[t][i].opcode != 0; i++) {
            const meshota_vendor_msg_t *m = meshota_vendor_at(i);
            assert_non_null(m);
            assert_int_equal(tables[t][i].opcode, vendor_op(m->opcode));
            assert_int_equal(tables[t][i].min_len, 0);
        }
        assert_int_equal(i, meshota_vendor_count());
        assert_int_equal(i, 13);
    }
    /* UpdateStatus for company 0x02E5 starts C5 E5 02 on air (docs/protocol.md). */
    assert_int_equal(ESP_BLE_MESH_MODEL_OP_3(MESHOTA_OP_UPDATE_STATUS, 0x02E5), 0xC502E5);
}

static void client_op_pairs_map_each_request_to_its_answer(void **state)
{
    (void)state;
    static const uint8_t expected[][2] = {
        {MESHOTA_OP_INFO_GET, MESHOTA_OP_INFO_STATUS},
        {MESHOTA_OP_CREDENTIALS_SET, MESHOTA_OP_UPDATE_STATUS},
        {MESHOTA_OP_UPDATE_START, MESHOTA_OP_UPDATE_STATUS},
        {MESHOTA_OP_UPDATE_GET, MESHOTA_OP_UPDATE_STATUS},
        {MESHOTA_OP_UPDATE_CANCEL, MESHOTA_OP_UPDATE_STATUS},
        {MESHOTA_OP_UPDATE_APPLY, MESHOTA_OP_UPDATE_STATUS},
        {MESHOTA_OP_UPDATE_CONFIRM, MESHOTA_OP_UPDATE_STATUS},
        {MESHOTA_OP_RELAY_START, MESHOTA_OP_RELAY_STATUS},
        {MESHOTA_OP_RELAY_GET, MESHOTA_OP_RELAY_STATUS},
    };
    assert_int_equal(s_client.op_pair_size, 9);
    assert_ptr_equal(s_client.op_pair, s_op_pairs);
    for (size_t i = 0; i < 9; i++) {
        assert_int_equal(s_op_pairs[i].cli_op, vendor_op(expected[i][0]));
        assert_int_equal(s_op_pairs[i].status_op, vendor_op(expected[i][1]));
    }
}

/* ---- Start-up ------------------------------------------------------------------------------ */

static void unprovisioned_node_enables_both_provisioning_bearers(void **state)
{
    (void)state;
    assert_int_equal(mota_mesh_start(MOTA_ROLE_NODE, "meshota-node", on_rx, NULL), ESP_OK);
    assert_int_equal(f.prov_enable_calls, 1);
    assert_int_equal(f.prov_bearers, ESP_BLE_MESH_PROV_ADV | ESP_BLE_MESH_PROV_GATT);
    assert_string_equal(f.device_name, "meshota-node");
    assert_int_equal(mota_mesh_addr(), 0);
    /* UUID: "MO", the Bluetooth MAC, zeros. */
    static const uint8_t uuid[16] = {'M', 'O', 0x24, 0x0A, 0xC4, 0x11, 0x22, 0x33};
    assert_memory_equal(f.prov->uuid, uuid, 16);
    /* One element: Configuration Server and the meshota server model. */
    assert_ptr_equal(f.comp->elements, s_node_elements);
    assert_int_equal(f.comp->element_count, 1);
    assert_int_equal(f.comp->cid, 0x02E5);
    assert_int_equal(s_node_elements[0].sig_model_count, 1);
    assert_int_equal(s_node_elements[0].vnd_model_count, 1);
    assert_int_equal(s_node_elements[0].vnd_models[0].vnd.company_id, 0x02E5);
    assert_int_equal(s_node_elements[0].vnd_models[0].vnd.model_id, 0x0A51);
    assert_ptr_equal(s_node_elements[0].vnd_models[0].op, s_server_ops);
    assert_null(f.client_init_model);
    /* Started once only. */
    assert_int_equal(mota_mesh_start(MOTA_ROLE_NODE, NULL, on_rx, NULL), ESP_ERR_INVALID_STATE);
}

static void provisioned_node_takes_its_address_from_the_stack(void **state)
{
    (void)state;
    f.provisioned = true;
    f.primary_addr = 0x0042;
    assert_int_equal(mota_mesh_start(MOTA_ROLE_NODE, NULL, on_rx, NULL), ESP_OK);
    assert_int_equal(f.prov_enable_calls, 0);
    assert_null(f.device_name);
    assert_int_equal(mota_mesh_addr(), 0x0042);
    assert_false(mota_mesh_ready()); /* No AppKey bound yet. */
    s_server_model[0].keys[0] = 0x0001;
    assert_true(mota_mesh_ready());
}

static void gateway_registers_and_initialises_the_client_model(void **state)
{
    (void)state;
    assert_int_equal(mota_mesh_start(MOTA_ROLE_GATEWAY, NULL, on_rx, on_sent), ESP_OK);
    assert_ptr_equal(f.client_init_model, &s_client_model[0]);
    assert_ptr_equal(f.comp->elements, s_gw_elements);
    assert_int_equal(s_gw_elements[0].vnd_models[0].vnd.model_id, 0x0A50);
    assert_ptr_equal(s_gw_elements[0].vnd_models[0].user_data, &s_client);
    assert_ptr_equal(s_gw_elements[0].vnd_models[0].op, s_client_ops);
}

/* ---- Receiving ----------------------------------------------------------------------------- */

static void our_vendor_message_reaches_the_core_with_its_context(void **state)
{
    (void)state;
    assert_int_equal(mota_mesh_start(MOTA_ROLE_NODE, NULL, on_rx, NULL), ESP_OK);
    static const uint8_t params[] = {0x08, 0x96, 0x01};
    deliver(ESP_BLE_MESH_MODEL_OPERATION_EVT, &s_server_model[0],
            vendor_op(MESHOTA_OP_UPDATE_START), 0x0001, 0x000, 0x003, params, sizeof(params));
    assert_int_equal(f.rx_calls, 1);
    assert_int_equal(f.rx_src, 0x0001);
    assert_int_equal(f.rx_dst, 0x0042);
    assert_int_equal(f.rx_rssi, -57);
    assert_int_equal(f.rx_op, MESHOTA_OP_UPDATE_START);
    assert_int_equal(f.rx_len, sizeof(params));
    assert_memory_equal(f.rx_params, params, sizeof(params));
}

static void messages_of_other_companies_models_or_sig_opcodes_are_dropped(void **state)
{
    (void)state;
    assert_int_equal(mota_mesh_start(MOTA_ROLE_NODE, NULL, on_rx, NULL), ESP_OK);
    static const uint8_t p[] = {1};
    deliver(ESP_BLE_MESH_MODEL_OPERATION_EVT, &s_server_model[0], 0xC30059u, 1, 0, 3, p, 1);
    deliver(ESP_BLE_MESH_MODEL_OPERATION_EVT, &s_server_model[0], 0x8201u, 1, 0, 3, p, 1);
    deliver(ESP_BLE_MESH_MODEL_OPERATION_EVT, &s_client_model[0],
            vendor_op(MESHOTA_OP_INFO_GET), 1, 0, 3, p, 1);
    assert_int_equal(f.rx_calls, 0);
}

static void gateway_receives_answers_as_published_messages(void **state)
{
    (void)state;
    assert_int_equal(mota_mesh_start(MOTA_ROLE_GATEWAY, NULL, on_rx, on_sent), ESP_OK);
    static const uint8_t status[] = {0x08, 0x02};
    deliver(ESP_BLE_MESH_CLIENT_MODEL_RECV_PUBLISH_MSG_EVT, &s_client_model[0],
            vendor_op(MESHOTA_OP_UPDATE_STATUS), 0x0007, 0, 1, status, sizeof(status));
    assert_int_equal(f.rx_calls, 1);
    assert_int_equal(f.rx_src, 0x0007);
    assert_int_equal(f.rx_op, MESHOTA_OP_UPDATE_STATUS);
    assert_memory_equal(f.rx_params, status, sizeof(status));
}

static void send_complete_of_our_model_reports_the_error_code(void **state)
{
    (void)state;
    assert_int_equal(mota_mesh_start(MOTA_ROLE_GATEWAY, NULL, on_rx, on_sent), ESP_OK);
    esp_ble_mesh_model_cb_param_t p;
    memset(&p, 0, sizeof(p));
    p.model_send_comp.model = &s_client_model[0];
    p.model_send_comp.err_code = -16;
    f.model_cb(ESP_BLE_MESH_MODEL_SEND_COMP_EVT, &p);
    assert_int_equal(f.sent_calls, 1);
    assert_int_equal(f.sent_err, -16);
    p.model_send_comp.model = &s_server_model[0]; /* not the gateway's model */
    f.model_cb(ESP_BLE_MESH_MODEL_SEND_COMP_EVT, &p);
    assert_int_equal(f.sent_calls, 1);
}

/* ---- Sending ------------------------------------------------------------------------------- */

static void node_replies_with_the_keys_the_request_came_with(void **state)
{
    (void)state;
    f.provisioned = true;
    f.primary_addr = 0x0042;
    assert_int_equal(mota_mesh_start(MOTA_ROLE_NODE, NULL, on_rx, NULL), ESP_OK);
    s_server_model[0].keys[0] = 0x0001;
    static const uint8_t q[] = {0};
    deliver(ESP_BLE_MESH_MODEL_OPERATION_EVT, &s_server_model[0],
            vendor_op(MESHOTA_OP_UPDATE_GET), 0x0009, 0x002, 0x005, q, 0);

    static const uint8_t status[] = {0x08, 0x02, 0x18, 0x40};
    assert_int_equal(mota_mesh_server_send(0x0009, MESHOTA_OP_UPDATE_STATUS, status,
                                           sizeof(status)),
                     ESP_OK);
    assert_int_equal(f.sends, 1);
    assert_false(f.client_api);
    assert_ptr_equal(f.send_model, &s_server_model[0]);
    assert_int_equal(f.send_ctx.net_idx, 0x002);
    assert_int_equal(f.send_ctx.app_idx, 0x005);
    assert_int_equal(f.send_ctx.addr, 0x0009);
    assert_int_equal(f.send_ctx.send_ttl, ESP_BLE_MESH_TTL_DEFAULT);
    assert_int_equal(f.send_ctx.send_rel, 0);
    assert_int_equal(f.send_opcode, 0xC502E5);
    assert_int_equal(f.send_len, sizeof(status));
    assert_memory_equal(f.send_data, status, sizeof(status));
}

static void node_reports_before_any_request_use_the_bound_appkey(void **state)
{
    (void)state;
    f.provisioned = true;
    f.primary_addr = 0x0042;
    assert_int_equal(mota_mesh_start(MOTA_ROLE_NODE, NULL, on_rx, NULL), ESP_OK);
    static const uint8_t p[] = {0x08, 0x06};
    /* No AppKey bound: nothing can be sent. */
    assert_int_equal(mota_mesh_server_send(0x0001, MESHOTA_OP_UPDATE_STATUS, p, 2),
                     ESP_ERR_INVALID_STATE);
    assert_int_equal(f.sends, 0);
    s_server_model[0].keys[0] = 0x0004;
    assert_int_equal(mota_mesh_server_send(0x0001, MESHOTA_OP_UPDATE_STATUS, p, 2), ESP_OK);
    assert_int_equal(f.send_ctx.net_idx, ESP_BLE_MESH_NET_PRIMARY);
    assert_int_equal(f.send_ctx.app_idx, 0x0004);
}

static void sends_outside_the_protocol_are_refused(void **state)
{
    (void)state;
    f.provisioned = true;
    f.primary_addr = 0x0042;
    assert_int_equal(mota_mesh_start(MOTA_ROLE_NODE, NULL, on_rx, NULL), ESP_OK);
    s_server_model[0].keys[0] = 0x0001;
    static uint8_t big[MESHOTA_SEGMENTED_PARAMS_MAX + 1];
    assert_int_equal(mota_mesh_server_send(0x0001, 0x40, big, 1), ESP_ERR_INVALID_ARG);
    assert_int_equal(mota_mesh_server_send(0x0001, MESHOTA_OP_DATA_FRAME, big, sizeof(big)),
                     ESP_ERR_INVALID_ARG);
    assert_int_equal(mota_mesh_server_send(0x0000, MESHOTA_OP_UPDATE_STATUS, big, 1),
                     ESP_ERR_INVALID_ARG);
    assert_int_equal(f.sends, 0);
    assert_int_equal(mota_mesh_server_send(0x0001, MESHOTA_OP_DATA_FRAME, big, sizeof(big) - 1),
                     ESP_OK);
    assert_int_equal(f.send_len, MESHOTA_SEGMENTED_PARAMS_MAX);
    /* The node has no client model. */
    assert_int_equal(mota_mesh_client_send(0x0001, 0xFF, MESHOTA_OP_INFO_GET, NULL, 0),
                     ESP_ERR_INVALID_STATE);
}

static void gateway_sends_unacknowledged_at_the_model_layer_with_the_asked_ttl(void **state)
{
    (void)state;
    f.provisioned = true;
    f.primary_addr = 0x0001;
    assert_int_equal(mota_mesh_start(MOTA_ROLE_GATEWAY, NULL, on_rx, on_sent), ESP_OK);
    assert_int_equal(mota_mesh_client_send(0x0042, 0xFF, MESHOTA_OP_INFO_GET, NULL, 0),
                     ESP_ERR_INVALID_STATE); /* no AppKey bound yet */
    s_client_model[0].keys[0] = 0x0002;
    assert_int_equal(mota_mesh_client_send(0x0042, 0xFF, MESHOTA_OP_INFO_GET, NULL, 0), ESP_OK);
    assert_true(f.client_api);
    assert_ptr_equal(f.send_model, &s_client_model[0]);
    assert_int_equal(f.send_opcode, 0xC002E5);
    assert_int_equal(f.send_ctx.send_ttl, ESP_BLE_MESH_TTL_DEFAULT);
    assert_int_equal(f.send_ctx.app_idx, 0x0002);
    assert_false(f.send_need_rsp);
    assert_int_equal(f.send_timeout, 0);
    assert_int_equal(f.send_role, ROLE_NODE);
    assert_int_equal(mota_mesh_client_send(0xC000, 3, MESHOTA_OP_UPDATE_GET, NULL, 0), ESP_OK);
    assert_int_equal(f.send_ctx.send_ttl, 3);
    assert_int_equal(f.send_ctx.addr, 0xC000);
    /* The gateway has no server model. */
    assert_int_equal(mota_mesh_server_send(0x0042, MESHOTA_OP_UPDATE_STATUS, NULL, 0),
                     ESP_ERR_INVALID_STATE);
}

/* ---- Provisioning events ------------------------------------------------------------------- */

static void provisioning_and_reset_events_track_the_address(void **state)
{
    (void)state;
    assert_int_equal(mota_mesh_start(MOTA_ROLE_NODE, NULL, on_rx, NULL), ESP_OK);
    esp_ble_mesh_prov_cb_param_t p;
    memset(&p, 0, sizeof(p));
    p.node_prov_complete.addr = 0x0123;
    f.prov_cb(ESP_BLE_MESH_NODE_PROV_COMPLETE_EVT, &p);
    assert_int_equal(mota_mesh_addr(), 0x0123);
    int before = f.prov_enable_calls;
    f.prov_cb(ESP_BLE_MESH_NODE_PROV_RESET_EVT, &p);
    assert_int_equal(mota_mesh_addr(), 0);
    assert_int_equal(f.prov_enable_calls, before + 1);
    assert_false(mota_mesh_ready());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(op_tables_list_every_vendor_message_with_its_3_octet_opcode, reset),
        cmocka_unit_test_setup(client_op_pairs_map_each_request_to_its_answer, reset),
        cmocka_unit_test_setup(unprovisioned_node_enables_both_provisioning_bearers, reset),
        cmocka_unit_test_setup(provisioned_node_takes_its_address_from_the_stack, reset),
        cmocka_unit_test_setup(gateway_registers_and_initialises_the_client_model, reset),
        cmocka_unit_test_setup(our_vendor_message_reaches_the_core_with_its_context, reset),
        cmocka_unit_test_setup(messages_of_other_companies_models_or_sig_opcodes_are_dropped,
                               reset),
        cmocka_unit_test_setup(gateway_receives_answers_as_published_messages, reset),
        cmocka_unit_test_setup(send_complete_of_our_model_reports_the_error_code, reset),
        cmocka_unit_test_setup(node_replies_with_the_keys_the_request_came_with, reset),
        cmocka_unit_test_setup(node_reports_before_any_request_use_the_bound_appkey, reset),
        cmocka_unit_test_setup(sends_outside_the_protocol_are_refused, reset),
        cmocka_unit_test_setup(gateway_sends_unacknowledged_at_the_model_layer_with_the_asked_ttl,
                               reset),
        cmocka_unit_test_setup(provisioning_and_reset_events_track_the_address, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
