/*
 * ESP-NOW bearer: METHOD_ESPNOW targets and relays (meshota_core decides what to send).
 *
 * Frames are received on the Wi-Fi task and copied into a message buffer; the meshota task
 * hands them to the core (mota_espnow_service). ESP-NOW is initialised only while a session or
 * relay needs it (espnow_begin .. espnow_end) and de-initialised afterwards to give its memory
 * back. A station associated to an access point transmits on that AP's channel, so listening
 * on another channel leaves the AP first (a wrong channel is the classic silent ESP-NOW
 * failure). Image authenticity comes from the signed manifest and the image hash, not from
 * ESP-NOW encryption (broadcast frames cannot be encrypted), so peers are added unencrypted.
 *
 * Checked against ESP-IDF v5.x components/esp_wifi/include/esp_now.h: the receive callback
 * takes esp_now_recv_info_t (v5.0+), the send callback esp_now_send_info_t from v5.5 (a MAC
 * before); ESP_NOW_MAX_DATA_LEN_V2 exists from v5.4.
 *
 * esp_now_send() only queues a frame. espnow_end waits for the frames still queued before it
 * de-initialises ESP-NOW, or a target's last TransferDone would never reach its relay.
 */
#include <string.h>

#include "esp_idf_version.h"
#include "esp_log.h"
#include "esp_now.h"
#include "esp_wifi.h"
#include "freertos/FreeRTOS.h"
#include "freertos/message_buffer.h"
#include "freertos/task.h"
#include "sdkconfig.h"

#include "meshota_core/meshota_node.h"
#include "meshota_esp_priv.h"

static const char *TAG = "meshota_espnow";

#ifdef ESP_NOW_MAX_DATA_LEN_V2
#define MOTA_ESPNOW_MAX ESP_NOW_MAX_DATA_LEN_V2
#else
#define MOTA_ESPNOW_MAX ESP_NOW_MAX_DATA_LEN
#endif

static struct {
    MessageBufferHandle_t rx;
    volatile bool inited;
    volatile bool active;
    volatile uint32_t dropped;
    uint32_t dropped_logged;
    uint8_t peers[ESP_NOW_MAX_TOTAL_PEER_NUM][6];
    uint8_t n_peers;
    uint8_t evict;
    uint32_t queued; /* frames esp_now_send() took whose send callback has not come yet */
} s_en;

/* How long espnow_end waits for queued frames to leave (each takes about 1-10 ms on air). */
#define MOTA_ESPNOW_DRAIN_MS 100

/* Wi-Fi task: copy and leave. No logging here. */
static void on_recv(const esp_now_recv_info_t *info, const uint8_t *data, int len)
{
    static uint8_t item[6 + MOTA_ESPNOW_MAX]; /* Only the Wi-Fi task writes it. */
    if (!s_en.active || info == NULL || info->src_addr == NULL || data == NULL || len <= 0 ||
        len > MOTA_ESPNOW_MAX) {
        return;
    }
    memcpy(item, info->src_addr, 6);
    memcpy(&item[6], data, (size_t)len);
    if (xMessageBufferSend(s_en.rx, item, 6 + (size_t)len, 0) == 0) {
        s_en.dropped++;
        return;
    }
    mota_wake();
}

/* Wi-Fi task: one queued frame has been sent (or has failed for good). */
#if ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(5, 5, 0)
static void on_sent(const esp_now_send_info_t *info, esp_now_send_status_t status)
#else
static void on_sent(const uint8_t *mac, esp_now_send_status_t status)
#endif
{
#if ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(5, 5, 0)
    (void)info;
#else
    (void)mac;
#endif
    (void)status;
    uint32_t n = __atomic_load_n(&s_en.queued, __ATOMIC_RELAXED);
    while (n > 0 && !__atomic_compare_exchange_n(&s_en.queued, &n, n - 1, false, __ATOMIC_RELAXED,
                                                 __ATOMIC_RELAXED)) {
    }
}

static esp_err_t add_peer(const uint8_t mac[6])
{
    if (esp_now_is_peer_exist(mac)) {
        return ESP_OK;
    }
    esp_now_peer_info_t p;
    memset(&p, 0, sizeof(p));
    memcpy(p.peer_addr, mac, 6);
    p.channel = 0; /* The channel the station is on (set by espnow_begin). */
    p.ifidx = WIFI_IF_STA;
    p.encrypt = false;
    esp_err_t err = esp_now_add_peer(&p);
    if (err == ESP_ERR_ESPNOW_FULL && s_en.n_peers > 0) {
        /* Evict the peer added longest ago (round robin). */
        (void)esp_now_del_peer(s_en.peers[s_en.evict]);
        memcpy(s_en.peers[s_en.evict], mac, 6);
        s_en.evict = (uint8_t)((s_en.evict + 1u) % s_en.n_peers);
        return esp_now_add_peer(&p);
    }
    if (err == ESP_OK && s_en.n_peers < ESP_NOW_MAX_TOTAL_PEER_NUM) {
        memcpy(s_en.peers[s_en.n_peers++], mac, 6);
    }
    return err;
}

esp_err_t mota_espnow_init(void)
{
    if (s_en.rx != NULL) {
        return ESP_OK;
    }
    s_en.rx = xMessageBufferCreate(CONFIG_MESHOTA_ESPNOW_RX_BUFFER_SIZE);
    return s_en.rx != NULL ? ESP_OK : ESP_ERR_NO_MEM;
}

meshota_err_t mota_espnow_begin(void *ctx, uint8_t channel, const uint8_t *peer_mac)
{
    (void)ctx;
    if (channel < 1 || channel > 14) {
        return MESHOTA_ERR_INVALID_ARG;
    }
    uint8_t primary = 0;
    wifi_second_chan_t second = WIFI_SECOND_CHAN_NONE;
    if (esp_wifi_get_channel(&primary, &second) == ESP_OK && primary != channel &&
        mota_wifi_state() != MOTA_WIFI_IDLE) {
        ESP_LOGW(TAG, "leaving the access point on channel %u to listen on channel %u",
                 (unsigned)primary, (unsigned)channel);
        mota_wifi_leave();
    }
    if (primary != channel) {
        esp_err_t err = esp_wifi_set_channel(channel, WIFI_SECOND_CHAN_NONE);
        if (err != ESP_OK) {
            ESP_LOGE(TAG, "cannot tune to channel %u: %s", (unsigned)channel,
                     esp_err_to_name(err));
            return MESHOTA_ERR_NET;
        }
    }
    if (!s_en.inited) {
        esp_err_t err = esp_now_init();
        if (err == ESP_OK) {
            err = esp_now_register_recv_cb(on_recv);
        }
        if (err == ESP_OK) {
            err = esp_now_register_send_cb(on_sent);
        }
        if (err != ESP_OK) {
            ESP_LOGE(TAG, "ESP-NOW start failed: %s", esp_err_to_name(err));
            (void)esp_now_deinit();
            return MESHOTA_ERR_NET;
        }
        s_en.inited = true;
        __atomic_store_n(&s_en.queued, 0, __ATOMIC_RELAXED);
        s_en.n_peers = 0;
        s_en.evict = 0;
    }
    if (peer_mac != NULL) {
        esp_err_t err = add_peer(peer_mac);
        if (err != ESP_OK) {
            ESP_LOGW(TAG, "distributor not added as a peer: %s", esp_err_to_name(err));
        }
    }
    s_en.active = true;
    ESP_LOGI(TAG, "listening on channel %u", (unsigned)channel);
    return MESHOTA_OK;
}

void mota_espnow_end(void *ctx)
{
    (void)ctx;
    s_en.active = false;
    if (s_en.inited) {
        for (int waited = 0; __atomic_load_n(&s_en.queued, __ATOMIC_RELAXED) > 0 &&
                             waited < MOTA_ESPNOW_DRAIN_MS;
             waited += 5) {
            vTaskDelay(pdMS_TO_TICKS(5));
        }
        __atomic_store_n(&s_en.queued, 0, __ATOMIC_RELAXED);
        (void)esp_now_unregister_send_cb();
        (void)esp_now_unregister_recv_cb();
        (void)esp_now_deinit();
        s_en.inited = false;
        s_en.n_peers = 0;
    }
}

meshota_err_t mota_espnow_send(const meshota_peer_t *to, const uint8_t *frame, size_t len)
{
    if (to == NULL || !to->has_mac || frame == NULL || len == 0 || len > MOTA_ESPNOW_MAX) {
        return MESHOTA_ERR_INVALID_ARG;
    }
    if (!s_en.inited) {
        return MESHOTA_ERR_NET;
    }
    esp_err_t err = add_peer(to->mac);
    if (err != ESP_OK) {
        ESP_LOGW(TAG, "peer not added: %s", esp_err_to_name(err));
        return MESHOTA_ERR_NET;
    }
    /* NO_MEM means the driver's transmit queue is full: give it a moment, a few times. */
    for (int attempt = 0; attempt < 5; attempt++) {
        err = esp_now_send(to->mac, frame, len);
        if (err != ESP_ERR_ESPNOW_NO_MEM) {
            break;
        }
        vTaskDelay(pdMS_TO_TICKS(2));
    }
    if (err == ESP_ERR_ESPNOW_NO_MEM) {
        return MESHOTA_ERR_WOULD_BLOCK;
    }
    if (err == ESP_OK) {
        __atomic_add_fetch(&s_en.queued, 1, __ATOMIC_RELAXED);
    }
    return err == ESP_OK ? MESHOTA_OK : MESHOTA_ERR_NET;
}

void mota_espnow_service(meshota_node_t *node)
{
    static uint8_t item[6 + MOTA_ESPNOW_MAX];
    if (s_en.rx == NULL) {
        return;
    }
    size_t n;
    while ((n = xMessageBufferReceive(s_en.rx, item, sizeof(item), 0)) > 6) {
        meshota_peer_t from;
        memset(&from, 0, sizeof(from));
        from.has_mac = true;
        memcpy(from.mac, item, 6);
        meshota_node_on_data(node, MESHOTA_BEARER_ESPNOW, &from, &item[6], n - 6);
    }
    uint32_t dropped = s_en.dropped;
    if (dropped != s_en.dropped_logged) {
        ESP_LOGW(TAG, "%lu frames dropped: receive buffer full",
                 (unsigned long)(dropped - s_en.dropped_logged));
        s_en.dropped_logged = dropped;
    }
}
