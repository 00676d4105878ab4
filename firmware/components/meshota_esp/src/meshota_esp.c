/*
 * meshota on ESP-IDF: start-up, the meshota task that owns the node, the port table and the
 * confirm/rollback flow of a freshly updated firmware.
 *
 * The port table is assembled from two halves:
 * - meshota_core/port/esp_idf (flash through esp_ota_ops/esp_partition, boot control, NVS
 *   key-value store, PSA crypto, esp_timer, ESP_LOG, esp_random),
 * - this component (mesh and ESP-NOW send, TCP client, HTTP stream source, ESP-NOW listen),
 * and boot_confirm is wrapped so that an image is confirmed only after its self-test passes.
 */
#include <string.h>

#include "esp_check.h"
#include "esp_heap_caps.h"
#include "esp_log.h"
#include "esp_mac.h"
#include "esp_system.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/message_buffer.h"
#include "freertos/task.h"
#include "nvs_flash.h"
#include "sdkconfig.h"

#include "meshota_core/meshota_config.h"
#include "meshota_esp.h"
#include "meshota_esp_priv.h"
#include "meshota_esp_util.h"
#include "meshota_opcodes.h"
#include "meshota_port_esp_idf.h"

static const char *TAG = "meshota";

_Static_assert(CONFIG_MESHOTA_MAX_CHUNK_SIZE <= MESHOTA_MAX_CHUNK_SIZE,
               "CONFIG_MESHOTA_MAX_CHUNK_SIZE exceeds the core's chunk buffer "
               "(MESHOTA_MAX_CHUNK_SIZE)");

#define METHODS_NEED_WIFI \
    (CONFIG_MESHOTA_METHOD_WIFI || CONFIG_MESHOTA_METHOD_TCP || CONFIG_MESHOTA_METHOD_ESPNOW)

/* Header of a queued mesh message; the parameters follow. */
typedef struct {
    uint16_t src;
    uint16_t dst;
    uint8_t op6;
} mesh_item_t;

static struct {
    bool started;
    mota_role_t role;
    TaskHandle_t task;
    MessageBufferHandle_t mesh_rx;
    volatile uint32_t mesh_dropped;
    uint32_t mesh_dropped_logged;
    meshota_port_t port;
    meshota_node_config_t cfg;
    uint8_t pubkey[65];
    meshota_esp_self_test_t self_test;
    void *self_test_arg;
    meshota_err_t (*core_boot_confirm)(void *ctx);
    volatile meshota_v1_Phase phase;
    int64_t pending_since_ms;
    bool self_tested;
    int64_t rollback_at_ms; /* A failed confirm schedules a rollback; 0 when none. */
    bool rollback_refused;  /* The bootloader state allows no rollback. */
    bool confirm_locally;   /* Pending verification without a meshota session to confirm it. */
} s;

static meshota_node_t s_node; /* Several KB: kept out of every stack and off the heap. */

void mota_wake(void)
{
    if (s.task != NULL) {
        xTaskNotifyGive(s.task);
    }
}

#if CONFIG_MESHOTA_PUBLIC_KEY_FROM_HEADER
#include MESHOTA_PUBKEY_HEADER /* static const uint8_t meshota_pubkey[65], from meshota keygen */
_Static_assert(sizeof(meshota_pubkey) == 65, "the key header must hold a 65-byte P-256 point");
#endif

/* The manifest key configured in Kconfig, as the uncompressed point the core expects. */
static bool load_public_key(uint8_t out[65])
{
#if CONFIG_MESHOTA_PUBLIC_KEY_FROM_HEADER
    if (meshota_pubkey[0] != 0x04) {
        ESP_LOGE(TAG, "the key in CONFIG_MESHOTA_PUBLIC_KEY_HEADER is not an uncompressed point");
        return false;
    }
    memcpy(out, meshota_pubkey, 65);
    return true;
#elif CONFIG_MESHOTA_PUBLIC_KEY_FROM_HEX
    if (!meshota_esp_parse_pubkey_hex(CONFIG_MESHOTA_PUBLIC_KEY, out)) {
        ESP_LOGE(TAG, "CONFIG_MESHOTA_PUBLIC_KEY must be 130 hex digits: an uncompressed P-256 "
                      "key starting 04");
        return false;
    }
    return true;
#else
    (void)out;
    ESP_LOGE(TAG, "no manifest key configured (CONFIG_MESHOTA_PUBLIC_KEY_NONE): a node needs one");
    return false;
#endif
}

static int64_t now_ms(void)
{
    return esp_timer_get_time() / 1000;
}

esp_err_t mota_system_init(void)
{
    esp_err_t err = nvs_flash_init();
    if (err == ESP_ERR_NVS_NO_FREE_PAGES || err == ESP_ERR_NVS_NEW_VERSION_FOUND) {
        /* Unusable NVS partition: start over (mesh provisioning and resume state are lost). */
        ESP_LOGW(TAG, "NVS partition unusable (%s): erasing it", esp_err_to_name(err));
        ESP_RETURN_ON_ERROR(nvs_flash_erase(), TAG, "nvs erase");
        err = nvs_flash_init();
    }
    ESP_RETURN_ON_ERROR(err, TAG, "nvs init");
    return ESP_OK;
}

/* ---- Self-test and confirmation --------------------------------------------------------------- */

static bool self_test(void)
{
    if (!mota_mesh_ready()) {
        ESP_LOGE(TAG, "self-test: mesh not provisioned or no AppKey bound");
        return false;
    }
    size_t heap = esp_get_free_heap_size();
    if (heap < CONFIG_MESHOTA_SELF_TEST_MIN_HEAP) {
        ESP_LOGE(TAG, "self-test: %u bytes of heap free, below %u", (unsigned)heap,
                 (unsigned)CONFIG_MESHOTA_SELF_TEST_MIN_HEAP);
        return false;
    }
    if (s.self_test != NULL && !s.self_test(s.self_test_arg)) {
        ESP_LOGE(TAG, "self-test: application check failed");
        return false;
    }
    return true;
}

static void roll_back(const char *why)
{
    if (s.rollback_refused) {
        return;
    }
    ESP_LOGE(TAG, "rolling back to the previous firmware: %s", why);
    /* Reboots on success. It fails when no other valid image exists: then this firmware keeps
     * running (still unconfirmed) rather than restarting in a loop. */
    if (s.port.boot_rollback(s.port.ctx) != MESHOTA_OK) {
        s.rollback_refused = true;
        ESP_LOGE(TAG, "rollback impossible: no other valid firmware; staying on this one");
    }
}

/* Wraps the core port's boot_confirm: the controller's UpdateConfirm proves the control path;
 * the self-test proves the application. Both are needed. */
static meshota_err_t confirm_after_self_test(void *ctx)
{
    if (!self_test()) {
        /* Let the core answer UpdateStatus(error) over the mesh first, then roll back. */
        s.rollback_at_ms = now_ms() + 1500;
        return MESHOTA_ERR_FLASH;
    }
    ESP_LOGI(TAG, "self-test passed: confirming this firmware");
    return s.core_boot_confirm(ctx);
}

static void watch_pending_confirm(void)
{
    int64_t now = now_ms();
    if (s.rollback_at_ms != 0 && now >= s.rollback_at_ms) {
        s.rollback_at_ms = 0;
        roll_back("self-test failed at confirmation");
        return;
    }
    if (s.confirm_locally) {
        /* The image came another way (serial flash, another OTA path): no controller will
         * send UpdateConfirm, so the self-test alone decides once the mesh is up. */
        if (s.pending_since_ms == 0) {
            s.pending_since_ms = now;
        }
        if (mota_mesh_ready()) {
            s.confirm_locally = false;
            s.pending_since_ms = 0;
            if (self_test() && s.core_boot_confirm(s.port.ctx) == MESHOTA_OK) {
                ESP_LOGI(TAG, "firmware without a meshota session confirmed after its self-test");
            } else {
                roll_back("self-test of a firmware without a meshota session failed");
            }
        }
#if CONFIG_MESHOTA_CONFIRM_TIMEOUT_S > 0
        else if (now - s.pending_since_ms > (int64_t)CONFIG_MESHOTA_CONFIRM_TIMEOUT_S * 1000) {
            roll_back("mesh not up within CONFIG_MESHOTA_CONFIRM_TIMEOUT_S");
        }
#endif
        return;
    }
    if (s.phase != meshota_v1_Phase_PHASE_PENDING_CONFIRM) {
        s.pending_since_ms = 0;
        return;
    }
    if (s.pending_since_ms == 0) {
        s.pending_since_ms = now;
        ESP_LOGI(TAG, "new firmware running unconfirmed; waiting for the mesh and UpdateConfirm");
    }
    if (!s.self_tested && mota_mesh_ready()) {
        s.self_tested = true;
        if (!self_test()) {
            roll_back("self-test failed on first boot");
            return;
        }
        ESP_LOGI(TAG, "first-boot self-test passed");
    }
#if CONFIG_MESHOTA_CONFIRM_TIMEOUT_S > 0
    if (now - s.pending_since_ms > (int64_t)CONFIG_MESHOTA_CONFIRM_TIMEOUT_S * 1000) {
        roll_back("not confirmed within CONFIG_MESHOTA_CONFIRM_TIMEOUT_S");
    }
#endif
}

/* ---- Mesh receive (BTC task) and the meshota task ------------------------------------------ */

static void node_mesh_rx(uint16_t src, uint16_t dst, int8_t rssi, uint8_t op6,
                         const uint8_t *params, size_t len)
{
    (void)rssi;
    static uint8_t item[sizeof(mesh_item_t) + MESHOTA_SEGMENTED_PARAMS_MAX]; /* BTC task only. */
    if (len > MESHOTA_SEGMENTED_PARAMS_MAX) {
        s.mesh_dropped++;
        return;
    }
    mesh_item_t h = {.src = src, .dst = dst, .op6 = op6};
    memcpy(item, &h, sizeof(h));
    if (len > 0) {
        memcpy(&item[sizeof(h)], params, len);
    }
    if (xMessageBufferSend(s.mesh_rx, item, sizeof(h) + len, 0) == 0) {
        s.mesh_dropped++; /* The controller retries: every request is answered or repeated. */
        return;
    }
    mota_wake();
}

static void drain_mesh(void)
{
    static uint8_t item[sizeof(mesh_item_t) + MESHOTA_SEGMENTED_PARAMS_MAX];
    size_t n;
    while ((n = xMessageBufferReceive(s.mesh_rx, item, sizeof(item), 0)) >= sizeof(mesh_item_t)) {
        mesh_item_t h;
        memcpy(&h, item, sizeof(h));
        meshota_peer_t from;
        memset(&from, 0, sizeof(from));
        from.mesh_addr = h.src;
        meshota_node_on_control(&s_node, &from, h.op6, &item[sizeof(h)], n - sizeof(h));
    }
    uint32_t dropped = s.mesh_dropped;
    if (dropped != s.mesh_dropped_logged) {
        ESP_LOGW(TAG, "%lu mesh messages dropped: queue full",
                 (unsigned long)(dropped - s.mesh_dropped_logged));
        s.mesh_dropped_logged = dropped;
    }
}

/* A network joined for a session is left once the session no longer transfers, so the radio
 * goes back to the mesh alone and the credentials are forgotten. */
static void release_session_network(void)
{
#if CONFIG_MESHOTA_METHOD_WIFI || CONFIG_MESHOTA_METHOD_TCP
    if (s.phase != meshota_v1_Phase_PHASE_STARTING && s.phase != meshota_v1_Phase_PHASE_RECEIVING &&
        mota_wifi_state() != MOTA_WIFI_IDLE) {
        ESP_LOGI(TAG, "transfer over: leaving the session network");
        mota_wifi_leave();
    }
#endif
}

static void node_task(void *arg)
{
    (void)arg;
    for (;;) {
        (void)ulTaskNotifyTake(pdTRUE, pdMS_TO_TICKS(CONFIG_MESHOTA_POLL_INTERVAL_MS));
        drain_mesh();
#if CONFIG_MESHOTA_METHOD_ESPNOW
        mota_espnow_service(&s_node);
#endif
#if CONFIG_MESHOTA_METHOD_TCP
        mota_net_service(&s_node);
#endif
        meshota_node_poll(&s_node);
        s.phase = meshota_node_phase(&s_node);
        release_session_network();
        watch_pending_confirm();
    }
}

/* ---- Port: bearers ------------------------------------------------------------------------ */

static meshota_err_t port_send(void *ctx, meshota_bearer_t bearer, const meshota_peer_t *to,
                               const uint8_t *payload, size_t len)
{
    (void)ctx;
    if (to == NULL || payload == NULL || len == 0) {
        return MESHOTA_ERR_INVALID_ARG;
    }
    switch (bearer) {
    case MESHOTA_BEARER_MESH: {
        esp_err_t err = mota_mesh_server_send(to->mesh_addr, payload[0], &payload[1], len - 1);
        if (err == ESP_ERR_INVALID_ARG) {
            return MESHOTA_ERR_INVALID_ARG;
        }
        if (err == ESP_ERR_NO_MEM) {
            return MESHOTA_ERR_NO_MEM;
        }
        if (err != ESP_OK) {
            ESP_LOGW(TAG, "mesh send of opcode 0x%02x to 0x%04x failed: %s", payload[0],
                     to->mesh_addr, esp_err_to_name(err));
            return MESHOTA_ERR_NET;
        }
        return MESHOTA_OK;
    }
    case MESHOTA_BEARER_ESPNOW:
#if CONFIG_MESHOTA_METHOD_ESPNOW
        return mota_espnow_send(to, payload, len);
#else
        return MESHOTA_ERR_UNSUPPORTED;
#endif
    default:
        return MESHOTA_ERR_INVALID_ARG;
    }
}

static esp_err_t build_port(void)
{
    /* Flash, boot control, key-value store, crypto, clock, random and log. */
    meshota_err_t perr = meshota_port_esp_idf_init(&s.port);
    if (perr != MESHOTA_OK) {
        ESP_LOGE(TAG, "ESP-IDF port init failed (0x%x)", (unsigned)perr);
        return ESP_FAIL;
    }
    s.core_boot_confirm = s.port.boot_confirm;
    s.port.boot_confirm = confirm_after_self_test;
    s.port.send = port_send;
#if CONFIG_MESHOTA_METHOD_ESPNOW
    ESP_RETURN_ON_ERROR(mota_espnow_init(), TAG, "espnow");
    s.port.espnow_begin = mota_espnow_begin;
    s.port.espnow_end = mota_espnow_end;
#endif
#if CONFIG_MESHOTA_METHOD_TCP
    ESP_RETURN_ON_ERROR(mota_net_init(), TAG, "tcp");
    s.port.net_open = mota_net_open;
    s.port.net_send = mota_net_send;
    s.port.net_close = mota_net_close;
#endif
#if CONFIG_MESHOTA_METHOD_WIFI
    ESP_RETURN_ON_ERROR(mota_http_init(), TAG, "http");
    s.port.stream_open = mota_http_open;
    s.port.stream_read = mota_http_read;
    s.port.stream_close = mota_http_close;
#endif
    return ESP_OK;
}

static uint32_t configured_methods(void)
{
    uint32_t m = 0;
#if CONFIG_MESHOTA_METHOD_WIFI
    m |= MESHOTA_METHOD_BIT(meshota_v1_Method_METHOD_WIFI);
#endif
#if CONFIG_MESHOTA_METHOD_TCP
    m |= MESHOTA_METHOD_BIT(meshota_v1_Method_METHOD_TCP);
#endif
#if CONFIG_MESHOTA_METHOD_ESPNOW
    m |= MESHOTA_METHOD_BIT(meshota_v1_Method_METHOD_ESPNOW);
#endif
#if CONFIG_MESHOTA_METHOD_MESH
    m |= MESHOTA_METHOD_BIT(meshota_v1_Method_METHOD_MESH);
#endif
    return m;
}

esp_err_t meshota_esp_node_start(const meshota_esp_node_config_t *cfg)
{
    if (s.started) {
        return ESP_ERR_INVALID_STATE;
    }
    if (!load_public_key(s.pubkey)) {
        return ESP_ERR_INVALID_ARG;
    }
    ESP_RETURN_ON_ERROR(mota_system_init(), TAG, "system");
#if METHODS_NEED_WIFI
    ESP_RETURN_ON_ERROR(mota_wifi_init(), TAG, "wifi");
#endif
    s.role = MOTA_ROLE_NODE;
    if (cfg != NULL) {
        s.self_test = cfg->self_test;
        s.self_test_arg = cfg->self_test_arg;
    }
    ESP_RETURN_ON_ERROR(build_port(), TAG, "port");

    s.cfg.public_key = s.pubkey;
    s.cfg.methods = configured_methods();
    s.cfg.max_chunk_size = CONFIG_MESHOTA_MAX_CHUNK_SIZE;
    ESP_RETURN_ON_ERROR(esp_read_mac(s.cfg.wifi_mac, ESP_MAC_WIFI_STA), TAG, "wifi mac");

    s.mesh_rx = xMessageBufferCreate(CONFIG_MESHOTA_MESH_RX_BUFFER_SIZE);
    if (s.mesh_rx == NULL) {
        return ESP_ERR_NO_MEM;
    }
    meshota_err_t perr = meshota_node_init(&s_node, &s.port, &s.cfg);
    if (perr != MESHOTA_OK) {
        ESP_LOGE(TAG, "node init failed (0x%x)", (unsigned)perr);
        return ESP_FAIL;
    }
    s.phase = meshota_node_phase(&s_node);
    s.confirm_locally = s.port.boot_state(s.port.ctx) == MESHOTA_BOOT_PENDING_VERIFY &&
                        s.phase != meshota_v1_Phase_PHASE_PENDING_CONFIRM;
    ESP_LOGI(TAG, "node: %s %s, session phase %d", meshota_node_running(&s_node)->project_name,
             meshota_node_running(&s_node)->version, (int)s.phase);

    /* The task exists before the mesh delivers its first message. */
    if (xTaskCreate(node_task, "meshota", CONFIG_MESHOTA_TASK_STACK_SIZE, NULL,
                    CONFIG_MESHOTA_TASK_PRIORITY, &s.task) != pdPASS) {
        return ESP_ERR_NO_MEM;
    }
    s.started = true;
    esp_err_t err = mota_mesh_start(MOTA_ROLE_NODE, cfg != NULL ? cfg->device_name : NULL,
                                    node_mesh_rx, NULL);
    /* The figures docs/porting.md asks to measure on each target. */
    ESP_LOGI(TAG, "heap after start: %u bytes free, largest block %u",
             (unsigned)heap_caps_get_free_size(MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT),
             (unsigned)heap_caps_get_largest_free_block(MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT));
    return err;
}

esp_err_t meshota_esp_gateway_start(const meshota_esp_gateway_config_t *cfg)
{
    if (s.started) {
        return ESP_ERR_INVALID_STATE;
    }
    if (cfg == NULL || cfg->wifi_ssid == NULL || cfg->wifi_ssid[0] == '\0') {
        return ESP_ERR_INVALID_ARG;
    }
    ESP_RETURN_ON_ERROR(mota_system_init(), TAG, "system");
    ESP_RETURN_ON_ERROR(mota_wifi_init(), TAG, "wifi");
    s.role = MOTA_ROLE_GATEWAY;
    s.started = true;
    ESP_RETURN_ON_ERROR(mota_mesh_start(MOTA_ROLE_GATEWAY, cfg->device_name,
                                        mota_gateway_on_mesh_rx, mota_gateway_on_mesh_sent),
                        TAG, "mesh");
    ESP_RETURN_ON_ERROR(mota_wifi_join(cfg->wifi_ssid, cfg->wifi_password), TAG, "wifi join");
    return mota_gateway_start(cfg->port != 0 ? cfg->port : CONFIG_MESHOTA_GATEWAY_PORT);
}

meshota_v1_Phase meshota_esp_node_phase(void)
{
    return s.role == MOTA_ROLE_NODE && s.started ? s.phase : meshota_v1_Phase_PHASE_NONE;
}

bool meshota_esp_provisioned(void)
{
    return mota_mesh_addr() != 0;
}
