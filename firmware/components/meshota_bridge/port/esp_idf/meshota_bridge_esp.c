/*
 * ESP-IDF glue of the bridge dongle: UART driver, esp_now and one task that drives the
 * portable core (src/meshota_bridge.c). The ESP-NOW callbacks run in the Wi-Fi task; they only
 * copy what they got into a queue that the bridge task drains.
 *
 * Written against ESP-IDF v5.1+ (esp_now.h, driver/uart.h). The send callback changed its first
 * parameter from the peer MAC to a wifi_tx_info_t pointer in v5.5 (kept in v6); only the
 * signature differs, the bridge needs neither argument's address.
 */
#include "meshota_bridge/meshota_bridge_esp.h"

#include <string.h>

#include "driver/uart.h"
#include "esp_idf_version.h"
#include "esp_log.h"
#include "esp_now.h"
#include "esp_wifi.h"
#include "freertos/FreeRTOS.h"
#include "freertos/queue.h"
#include "freertos/task.h"
#include "meshota_bridge/meshota_bridge.h"

static const char *TAG = "meshota_bridge";

#define RADIO_QUEUE_DEPTH 8
#define UART_READ_CHUNK 512

typedef struct {
    int8_t rssi;
    uint8_t mac[6];
    uint16_t len;
    uint8_t data[MESHOTA_BRIDGE_PAYLOAD_MAX];
} radio_event_t;

static meshota_bridge_t s_bridge;
static meshota_bridge_port_t s_port;
static QueueHandle_t s_events; /* radio_event_t: received frames. */
static QueueHandle_t s_sent;   /* uint8_t meshota_bridge_sent_t: one frame is in flight at most. */
static int s_uart = -1;
static uint8_t s_peers[ESP_NOW_MAX_TOTAL_PEER_NUM - 1][6]; /* Unicast peers we added, oldest first. */
static int s_peer_count;
static radio_event_t s_rx_scratch; /* Used by the Wi-Fi task only. */
static radio_event_t s_task_scratch; /* Used by the bridge task only. */

static void on_recv(const esp_now_recv_info_t *info, const uint8_t *data, int len)
{
    if (info == NULL || data == NULL || len <= 0 || len > MESHOTA_BRIDGE_PAYLOAD_MAX) {
        return;
    }
    radio_event_t *ev = &s_rx_scratch;
    ev->rssi = info->rx_ctrl != NULL ? (int8_t)info->rx_ctrl->rssi : 0;
    memcpy(ev->mac, info->src_addr, 6);
    ev->len = (uint16_t)len;
    memcpy(ev->data, data, (size_t)len);
    /* A full queue drops the frame, as a busy receiver would; the distributor repairs it. */
    (void)xQueueSend(s_events, ev, 0);
}

static void post_sent(esp_now_send_status_t status)
{
    uint8_t outcome = status == ESP_NOW_SEND_SUCCESS ? MESHOTA_BRIDGE_SENT_OK
                                                     : MESHOTA_BRIDGE_SENT_NO_ACK;
    /* The core hands the radio one frame at a time, so this queue never fills. */
    (void)xQueueSend(s_sent, &outcome, 0);
}

#if ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(5, 5, 0)
static void on_sent(const wifi_tx_info_t *tx_info, esp_now_send_status_t status)
{
    (void)tx_info;
    post_sent(status);
}
#else
static void on_sent(const uint8_t *mac_addr, esp_now_send_status_t status)
{
    (void)mac_addr;
    post_sent(status);
}
#endif

static void uart_write(void *ctx, const uint8_t *data, size_t len)
{
    (void)ctx;
    (void)uart_write_bytes(s_uart, data, len);
}

static bool ensure_peer(const uint8_t mac[6])
{
    if (esp_now_is_peer_exist(mac)) {
        return true;
    }
    esp_now_peer_info_t peer = {0};
    memcpy(peer.peer_addr, mac, 6);
    peer.channel = 0; /* The current channel. */
    peer.ifidx = WIFI_IF_STA;
    peer.encrypt = false;
    esp_err_t err = esp_now_add_peer(&peer);
    if (err == ESP_ERR_ESPNOW_FULL && s_peer_count > 0) {
        /* Forget the peer added first; it is added again when needed. */
        (void)esp_now_del_peer(s_peers[0]);
        memmove(s_peers[0], s_peers[1], (size_t)(s_peer_count - 1) * 6);
        s_peer_count--;
        err = esp_now_add_peer(&peer);
    }
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "esp_now_add_peer failed: %s", esp_err_to_name(err));
        return false;
    }
    if (s_peer_count < (int)(sizeof(s_peers) / sizeof(s_peers[0]))) {
        memcpy(s_peers[s_peer_count++], mac, 6);
    }
    return true;
}

static bool radio_send(void *ctx, const uint8_t mac[6], const uint8_t *data, size_t len)
{
    (void)ctx;
    if (!ensure_peer(mac)) {
        return false;
    }
    esp_err_t err = esp_now_send(mac, data, len);
    if (err != ESP_OK) {
        ESP_LOGW(TAG, "esp_now_send of %u bytes refused: %s", (unsigned)len, esp_err_to_name(err));
        return false;
    }
    return true;
}

static bool radio_set_channel(void *ctx, uint8_t channel)
{
    (void)ctx;
    esp_err_t err = esp_wifi_set_channel(channel, WIFI_SECOND_CHAN_NONE);
    if (err != ESP_OK) {
        ESP_LOGW(TAG, "esp_wifi_set_channel(%u) failed: %s", channel, esp_err_to_name(err));
        return false;
    }
    return true;
}

static void bridge_task(void *arg)
{
    (void)arg;
    static uint8_t buf[UART_READ_CHUNK];
    for (;;) {
        int n = uart_read_bytes(s_uart, buf, sizeof(buf), pdMS_TO_TICKS(5));
        if (n > 0) {
            meshota_bridge_uart_rx(&s_bridge, buf, (size_t)n);
        }
        while (xQueueReceive(s_events, &s_task_scratch, 0) == pdTRUE) {
            radio_event_t *ev = &s_task_scratch;
            meshota_bridge_on_recv(&s_bridge, ev->mac, ev->rssi, ev->data, ev->len);
        }
        uint8_t outcome;
        while (xQueueReceive(s_sent, &outcome, 0) == pdTRUE) {
            meshota_bridge_on_sent(&s_bridge, (meshota_bridge_sent_t)outcome);
        }
    }
}

static uint16_t espnow_payload_max(uint8_t *version)
{
    *version = 1;
#ifdef ESP_NOW_MAX_DATA_LEN_V2
    uint32_t v = 1;
    if (esp_now_get_version(&v) == ESP_OK && v >= 2) {
        *version = 2;
        return ESP_NOW_MAX_DATA_LEN_V2 < MESHOTA_BRIDGE_PAYLOAD_MAX ? ESP_NOW_MAX_DATA_LEN_V2
                                                                   : MESHOTA_BRIDGE_PAYLOAD_MAX;
    }
#endif
    return ESP_NOW_MAX_DATA_LEN;
}

esp_err_t meshota_bridge_esp_start(const meshota_bridge_esp_config_t *cfg)
{
    if (s_uart >= 0) {
        return ESP_ERR_INVALID_STATE;
    }
    if (cfg == NULL || cfg->channel < 1 || cfg->channel > 14) {
        return ESP_ERR_INVALID_ARG;
    }
    esp_err_t err;
    const uart_config_t uc = {
        .baud_rate = cfg->baud_rate,
        .data_bits = UART_DATA_8_BITS,
        .parity = UART_PARITY_DISABLE,
        .stop_bits = UART_STOP_BITS_1,
        .flow_ctrl = UART_HW_FLOWCTRL_DISABLE,
        .source_clk = UART_SCLK_DEFAULT,
    };
    if ((err = uart_driver_install(cfg->uart_num, 4096, 4096, 0, NULL, 0)) != ESP_OK ||
        (err = uart_param_config(cfg->uart_num, &uc)) != ESP_OK ||
        (err = uart_set_pin(cfg->uart_num, cfg->tx_pin, cfg->rx_pin, UART_PIN_NO_CHANGE,
                            UART_PIN_NO_CHANGE)) != ESP_OK) {
        ESP_LOGE(TAG, "UART %d setup failed: %s", cfg->uart_num, esp_err_to_name(err));
        return err;
    }
    if ((err = esp_wifi_set_channel(cfg->channel, WIFI_SECOND_CHAN_NONE)) != ESP_OK) {
        ESP_LOGE(TAG, "esp_wifi_set_channel(%u) failed: %s", cfg->channel, esp_err_to_name(err));
        return err;
    }
    s_events = xQueueCreate(RADIO_QUEUE_DEPTH, sizeof(radio_event_t));
    s_sent = xQueueCreate(4, sizeof(uint8_t));
    if (s_events == NULL || s_sent == NULL) {
        return ESP_ERR_NO_MEM;
    }
    if ((err = esp_now_init()) != ESP_OK ||
        (err = esp_now_register_recv_cb(on_recv)) != ESP_OK ||
        (err = esp_now_register_send_cb(on_sent)) != ESP_OK) {
        ESP_LOGE(TAG, "ESP-NOW setup failed: %s", esp_err_to_name(err));
        return err;
    }
    meshota_bridge_config_t bc = {.channel = cfg->channel};
    if ((err = esp_wifi_get_mac(WIFI_IF_STA, bc.mac)) != ESP_OK) {
        return err;
    }
    bc.max_payload = espnow_payload_max(&bc.espnow_version);
    s_port = (meshota_bridge_port_t){.ctx = NULL,
                                     .uart_write = uart_write,
                                     .radio_send = radio_send,
                                     .radio_set_channel = radio_set_channel};
    if (!meshota_bridge_init(&s_bridge, &s_port, &bc)) {
        return ESP_ERR_INVALID_ARG;
    }
    const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    esp_now_peer_info_t peer = {0};
    memcpy(peer.peer_addr, broadcast, 6);
    peer.ifidx = WIFI_IF_STA;
    if ((err = esp_now_add_peer(&peer)) != ESP_OK && err != ESP_ERR_ESPNOW_EXIST) {
        ESP_LOGE(TAG, "adding the broadcast peer failed: %s", esp_err_to_name(err));
        return err;
    }
    s_uart = cfg->uart_num;
    if (xTaskCreate(bridge_task, "meshota_bridge", cfg->task_stack ? cfg->task_stack : 4096, NULL,
                    cfg->task_priority ? cfg->task_priority : 5, NULL) != pdPASS) {
        s_uart = -1;
        return ESP_ERR_NO_MEM;
    }
    ESP_LOGI(TAG, "bridge on UART %d, channel %u, ESP-NOW v%u, %u-byte payloads", cfg->uart_num,
             cfg->channel, bc.espnow_version, bc.max_payload);
    return ESP_OK;
}
