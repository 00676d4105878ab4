/*
 * Wi-Fi station for the side channels. Started at boot (ESP-NOW needs a started driver), joined
 * only when a session brings credentials or the gateway is configured. The driver keeps its
 * configuration in RAM only (WIFI_STORAGE_RAM): session credentials never reach flash, and they
 * are never logged.
 */
#include <string.h>

#include "esp_check.h"
#include "esp_event.h"
#include "esp_log.h"
#include "esp_netif.h"
#include "esp_wifi.h"
#include "freertos/FreeRTOS.h"
#include "freertos/event_groups.h"
#include "sdkconfig.h"

#include "meshota_esp_priv.h"

static const char *TAG = "meshota_wifi";

#define BIT_UP (1u << 0)
#define BIT_FAILED (1u << 1)

static struct {
    EventGroupHandle_t ev;
    esp_netif_t *netif;
    volatile mota_wifi_state_t state;
    volatile bool want;   /* Stay associated: reconnect after a loss. */
    volatile int retries;
    char ssid[33];        /* Never logged. */
    char password[65];    /* Never logged. */
} s_wifi;

static void on_event(void *arg, esp_event_base_t base, int32_t id, void *data)
{
    (void)arg;
    if (base == WIFI_EVENT && id == WIFI_EVENT_STA_DISCONNECTED) {
        const wifi_event_sta_disconnected_t *d = data;
        xEventGroupClearBits(s_wifi.ev, BIT_UP);
        if (!s_wifi.want) {
            s_wifi.state = MOTA_WIFI_IDLE;
            return;
        }
        if (s_wifi.retries < CONFIG_MESHOTA_WIFI_RETRIES) {
            s_wifi.retries++;
            s_wifi.state = MOTA_WIFI_CONNECTING;
            ESP_LOGW(TAG, "not associated (reason %d); attempt %d of %d", (int)d->reason,
                     s_wifi.retries, CONFIG_MESHOTA_WIFI_RETRIES);
            (void)esp_wifi_connect();
        } else {
            s_wifi.state = MOTA_WIFI_FAILED;
            xEventGroupSetBits(s_wifi.ev, BIT_FAILED);
            ESP_LOGW(TAG, "giving up on the network (reason %d)", (int)d->reason);
        }
    } else if (base == IP_EVENT && id == IP_EVENT_STA_GOT_IP) {
        const ip_event_got_ip_t *e = data;
        s_wifi.retries = 0;
        s_wifi.state = MOTA_WIFI_UP;
        xEventGroupSetBits(s_wifi.ev, BIT_UP);
        ESP_LOGI(TAG, "station address " IPSTR, IP2STR(&e->ip_info.ip));
    }
}

esp_err_t mota_wifi_init(void)
{
    if (s_wifi.ev != NULL) {
        return ESP_OK;
    }
    s_wifi.ev = xEventGroupCreate();
    if (s_wifi.ev == NULL) {
        return ESP_ERR_NO_MEM;
    }
    ESP_RETURN_ON_ERROR(esp_netif_init(), TAG, "netif init");
    esp_err_t err = esp_event_loop_create_default();
    if (err != ESP_OK && err != ESP_ERR_INVALID_STATE) { /* INVALID_STATE: the app made it. */
        return err;
    }
    s_wifi.netif = esp_netif_create_default_wifi_sta();
    if (s_wifi.netif == NULL) {
        return ESP_FAIL;
    }
    wifi_init_config_t cfg = WIFI_INIT_CONFIG_DEFAULT();
    ESP_RETURN_ON_ERROR(esp_wifi_init(&cfg), TAG, "wifi init");
    ESP_RETURN_ON_ERROR(esp_wifi_set_storage(WIFI_STORAGE_RAM), TAG, "wifi storage");
    ESP_RETURN_ON_ERROR(esp_event_handler_instance_register(WIFI_EVENT, WIFI_EVENT_STA_DISCONNECTED,
                                                            on_event, NULL, NULL),
                        TAG, "wifi handler");
    ESP_RETURN_ON_ERROR(esp_event_handler_instance_register(IP_EVENT, IP_EVENT_STA_GOT_IP, on_event,
                                                            NULL, NULL),
                        TAG, "ip handler");
    ESP_RETURN_ON_ERROR(esp_wifi_set_mode(WIFI_MODE_STA), TAG, "wifi mode");
    ESP_RETURN_ON_ERROR(esp_wifi_start(), TAG, "wifi start");
    s_wifi.state = MOTA_WIFI_IDLE;
    return ESP_OK;
}

esp_err_t mota_wifi_join(const char *ssid, const char *password)
{
    if (ssid == NULL) {
        return s_wifi.state == MOTA_WIFI_UP ? ESP_OK : ESP_ERR_INVALID_STATE;
    }
    if (password == NULL) {
        password = "";
    }
    size_t sl = strlen(ssid);
    size_t pl = strlen(password);
    if (sl == 0 || sl > 32 || pl > 64 || (pl > 0 && pl < 8)) {
        return ESP_ERR_INVALID_ARG;
    }
    if (s_wifi.want && s_wifi.state != MOTA_WIFI_FAILED && strcmp(s_wifi.ssid, ssid) == 0 &&
        strcmp(s_wifi.password, password) == 0) {
        return ESP_OK; /* Same network, already joined or joining. */
    }
    s_wifi.want = false; /* The disconnect below must not trigger a reconnect. */
    if (s_wifi.state != MOTA_WIFI_IDLE) {
        (void)esp_wifi_disconnect();
    }
    wifi_config_t wc;
    memset(&wc, 0, sizeof(wc));
    memcpy(wc.sta.ssid, ssid, sl);
    memcpy(wc.sta.password, password, pl);
    wc.sta.threshold.authmode = pl > 0 ? WIFI_AUTH_WPA2_PSK : WIFI_AUTH_OPEN;
    esp_err_t err = esp_wifi_set_config(WIFI_IF_STA, &wc);
    memset(&wc, 0, sizeof(wc));
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "station config refused: %s", esp_err_to_name(err));
        return err;
    }
    memcpy(s_wifi.ssid, ssid, sl + 1);
    memcpy(s_wifi.password, password, pl + 1);
    xEventGroupClearBits(s_wifi.ev, BIT_UP | BIT_FAILED);
    s_wifi.retries = 0;
    s_wifi.state = MOTA_WIFI_CONNECTING;
    s_wifi.want = true;
    ESP_LOGI(TAG, "joining the session network");
    err = esp_wifi_connect();
    if (err != ESP_OK) {
        s_wifi.want = false;
        s_wifi.state = MOTA_WIFI_FAILED;
        ESP_LOGE(TAG, "esp_wifi_connect failed: %s", esp_err_to_name(err));
    }
    return err;
}

bool mota_wifi_wait_up(uint32_t timeout_ms)
{
    EventBits_t bits = xEventGroupWaitBits(s_wifi.ev, BIT_UP | BIT_FAILED, pdFALSE, pdFALSE,
                                           pdMS_TO_TICKS(timeout_ms));
    return (bits & BIT_UP) != 0;
}

mota_wifi_state_t mota_wifi_state(void)
{
    return s_wifi.state;
}

void mota_wifi_leave(void)
{
    s_wifi.want = false;
    if (s_wifi.state != MOTA_WIFI_IDLE) {
        (void)esp_wifi_disconnect();
    }
    wifi_config_t wc;
    memset(&wc, 0, sizeof(wc));
    (void)esp_wifi_set_config(WIFI_IF_STA, &wc);
    memset(s_wifi.ssid, 0, sizeof(s_wifi.ssid));
    memset(s_wifi.password, 0, sizeof(s_wifi.password));
    xEventGroupClearBits(s_wifi.ev, BIT_UP | BIT_FAILED);
    s_wifi.state = MOTA_WIFI_IDLE;
}
