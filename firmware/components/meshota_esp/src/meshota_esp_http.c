/*
 * Stream source of METHOD_WIFI: the image fetched over HTTP(S) with esp_http_client, from any
 * byte offset, with ranged requests.
 *
 * Why esp_http_client and not esp_https_ota: esp_https_ota writes the OTA slot itself
 * (esp_ota_begin/esp_ota_write). In meshota the core is the only writer of the passive slot: it
 * checks the signed manifest before the first byte, erases sector by sector ahead of the
 * writes, persists which units are held, and hashes the image before it can be applied. So the
 * Wi-Fi method uses the HTTP client underneath esp_https_ota with the same partial-download
 * scheme (ranged GETs of at most CONFIG_MESHOTA_HTTP_REQUEST_SIZE bytes, like
 * esp_https_ota_config_t.max_http_request_size with partial_http_download) and hands the bytes
 * to the core. See docs/porting.md.
 *
 * A task ("meshota_http") runs the requests and fills a stream buffer; stream_read() on the
 * meshota task only takes what is there (-MESHOTA_ERR_WOULD_BLOCK otherwise). Resume rules
 * (206 at the requested offset, 200 skipped up to it, anything else fails) are in
 * meshota_esp_util.c and tested on the host.
 *
 * The server certificate is pinned when the session gives WifiMethod.server_cert_sha256: the
 * SHA-256 of the leaf certificate's DER encoding must match, and no CA is consulted (the
 * `meshota serve` certificate is self-signed). Without a pin, HTTPS uses the ESP-IDF
 * certificate bundle.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "esp_crt_bundle.h"
#include "esp_heap_caps.h"
#include "esp_http_client.h"
#include "esp_log.h"
#include "freertos/FreeRTOS.h"
#include "freertos/stream_buffer.h"
#include "freertos/task.h"
#include "mbedtls/ssl.h"
#include "mbedtls/x509_crt.h"
#include "psa/crypto.h"
#include "sdkconfig.h"

#include "meshota/v1/control.pb.h"
#include "meshota_esp_priv.h"
#include "meshota_esp_util.h"

static const char *TAG = "meshota_http";

#define URL_MAX sizeof(((meshota_v1_WifiMethod *)0)->url)
#define IO_CHUNK 1024

static struct {
    TaskHandle_t task;
    StreamBufferHandle_t rx;
    portMUX_TYPE lock;
    /* Request (meshota task, under lock). */
    uint32_t gen;
    bool open_req;
    char url[URL_MAX];
    bool has_pin;
    uint8_t pin[32];
    bool has_creds;
    char ssid[33];     /* Never logged. */
    char password[65]; /* Never logged. */
    uint32_t offset;
    /* Events (http task, under lock). */
    uint32_t ready_gen; /* The buffer was emptied for this generation: reading may start. */
    uint32_t end_gen;
    uint32_t err_gen;
    /* Http task only. */
    uint8_t active_pin[32];
    char content_range[64];
    bool have_content_range;
} s_http = {.lock = portMUX_INITIALIZER_UNLOCKED};

static bool cancelled(uint32_t gen)
{
    taskENTER_CRITICAL(&s_http.lock);
    bool c = s_http.gen != gen;
    taskEXIT_CRITICAL(&s_http.lock);
    return c;
}

static void post_end(uint32_t gen, bool ok)
{
    taskENTER_CRITICAL(&s_http.lock);
    if (ok) {
        s_http.end_gen = gen;
    } else {
        s_http.err_gen = gen;
    }
    taskEXIT_CRITICAL(&s_http.lock);
    mota_wake();
}

#if CONFIG_MBEDTLS_CERTIFICATE_BUNDLE
/* mbedTLS verify callback: called for every certificate of the chain, the leaf last. */
static int pin_verify(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    (void)ctx;
    if (depth != 0) {
        *flags = 0; /* Trust comes from the pinned leaf alone. */
        return 0;
    }
    uint8_t h[32];
    size_t hl = 0;
    if (psa_hash_compute(PSA_ALG_SHA_256, crt->raw.p, crt->raw.len, h, sizeof(h), &hl) !=
            PSA_SUCCESS ||
        hl != sizeof(h) || memcmp(h, s_http.active_pin, sizeof(h)) != 0) {
        ESP_LOGW(TAG, "server certificate does not match the session's pin");
        *flags |= MBEDTLS_X509_BADCERT_NOT_TRUSTED;
        return 0;
    }
    *flags = 0; /* Pinned: self-signed and host-name mismatches do not matter. */
    return 0;
}

/* Installed through esp_http_client_config_t.crt_bundle_attach: esp-tls calls it with the
 * mbedtls_ssl_config after setting MBEDTLS_SSL_VERIFY_REQUIRED. */
static esp_err_t pin_attach(void *conf)
{
    mbedtls_ssl_conf_verify((mbedtls_ssl_config *)conf, pin_verify, NULL);
    return ESP_OK;
}
#endif /* CONFIG_MBEDTLS_CERTIFICATE_BUNDLE */

static esp_err_t on_http_event(esp_http_client_event_t *evt)
{
    if (evt->event_id == HTTP_EVENT_ON_HEADER && evt->header_key != NULL &&
        evt->header_value != NULL && strcasecmp(evt->header_key, "Content-Range") == 0) {
        size_t n = strlen(evt->header_value);
        if (n < sizeof(s_http.content_range)) {
            memcpy(s_http.content_range, evt->header_value, n + 1);
            s_http.have_content_range = true;
        }
    }
    return ESP_OK;
}

static bool tls_heap_ok(void)
{
    const uint32_t caps = MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT;
    size_t free_b = heap_caps_get_free_size(caps);
    size_t largest = heap_caps_get_largest_free_block(caps);
    if (free_b < CONFIG_MESHOTA_TLS_MIN_FREE_HEAP || largest < CONFIG_MESHOTA_TLS_MIN_LARGEST_BLOCK) {
        ESP_LOGW(TAG, "not enough heap for TLS: %u free, largest block %u (need %u and %u)",
                 (unsigned)free_b, (unsigned)largest, (unsigned)CONFIG_MESHOTA_TLS_MIN_FREE_HEAP,
                 (unsigned)CONFIG_MESHOTA_TLS_MIN_LARGEST_BLOCK);
        return false;
    }
    return true;
}

/* Push @p n bytes to the meshota task, waiting while its buffer is full. */
static bool deliver(uint32_t gen, const uint8_t *buf, size_t n)
{
    while (n > 0) {
        if (cancelled(gen)) {
            return false;
        }
        size_t put = xStreamBufferSend(s_http.rx, buf, n, 0);
        if (put == 0) {
            vTaskDelay(pdMS_TO_TICKS(10));
            continue;
        }
        buf += put;
        n -= put;
        mota_wake();
    }
    return true;
}

/* One GET from @p *pos. @return true when the image is complete or the request succeeded. */
static bool one_request(uint32_t gen, esp_http_client_handle_t client, uint32_t *pos,
                        uint32_t *total, bool *done)
{
    static uint8_t buf[IO_CHUNK];
    char range[40];
    uint32_t last = 0;
    if (CONFIG_MESHOTA_HTTP_REQUEST_SIZE > 0) {
        last = *pos + CONFIG_MESHOTA_HTTP_REQUEST_SIZE - 1;
        if (*total != 0 && last >= *total) {
            last = *total - 1;
        }
    }
    if (meshota_esp_range_header(range, sizeof(range), *pos, last) == 0 ||
        esp_http_client_set_header(client, "Range", range) != ESP_OK) {
        return false;
    }
    s_http.have_content_range = false;
    esp_err_t err = esp_http_client_open(client, 0);
    if (err != ESP_OK) {
        ESP_LOGW(TAG, "request failed: %s", esp_err_to_name(err));
        return false;
    }
    int64_t length = esp_http_client_fetch_headers(client);
    if (length < 0) {
        ESP_LOGW(TAG, "no response headers");
        esp_http_client_close(client);
        return false;
    }
    if (esp_http_client_is_chunked_response(client)) {
        length = -1;
    }
    int status = esp_http_client_get_status_code(client);
    meshota_esp_http_verdict_t v = meshota_esp_http_check(
        status, s_http.have_content_range ? s_http.content_range : NULL, length, *pos);
    if (v.action == MESHOTA_ESP_HTTP_FAIL) {
        ESP_LOGW(TAG, "server answered %d to a request from byte %lu", status, (unsigned long)*pos);
        esp_http_client_close(client);
        return false;
    }
    if (v.total != 0) {
        *total = v.total;
    }
    uint32_t skip = v.action == MESHOTA_ESP_HTTP_SKIP ? v.skip : 0;
    if (skip > 0) {
        ESP_LOGW(TAG, "server ignored the range: skipping %lu bytes already held",
                 (unsigned long)skip);
    }
    bool ok = true;
    for (;;) {
        if (cancelled(gen)) {
            ok = false;
            break;
        }
        size_t space = xStreamBufferSpacesAvailable(s_http.rx);
        if (skip == 0 && space == 0) {
            vTaskDelay(pdMS_TO_TICKS(10));
            continue;
        }
        size_t want = sizeof(buf);
        if (skip > 0 && skip < want) {
            want = skip;
        } else if (skip == 0 && space < want) {
            want = space;
        }
        int n = esp_http_client_read(client, (char *)buf, (int)want);
        if (n < 0) {
            ESP_LOGW(TAG, "read failed at byte %lu", (unsigned long)*pos);
            ok = false;
            break;
        }
        if (n == 0) {
            ok = esp_http_client_is_complete_data_received(client);
            if (!ok) {
                ESP_LOGW(TAG, "connection ended early at byte %lu", (unsigned long)*pos);
            }
            break;
        }
        if (skip > 0) {
            skip -= (uint32_t)n;
            continue;
        }
        if (!deliver(gen, buf, (size_t)n)) {
            ok = false;
            break;
        }
        *pos += (uint32_t)n;
    }
    esp_http_client_close(client);
    if (ok && skip > 0) {
        ok = false; /* The whole image was shorter than what we already hold. */
    }
    /* A 200 carried the whole image; an open-ended range carried the rest; a bounded range is
     * done when it reached the announced total (or the server sent less than asked). */
    *done = ok && (status == 200 || last == 0 || (*total != 0 && *pos >= *total) ||
                   *pos <= last);
    return ok;
}

static void run_stream(uint32_t gen, const char *url, bool has_pin, uint32_t offset)
{
    bool https = strncasecmp(url, "https://", 8) == 0;
    if (https && !tls_heap_ok()) {
        post_end(gen, false);
        return;
    }
    esp_http_client_config_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.url = url;
    cfg.event_handler = on_http_event;
    cfg.timeout_ms = CONFIG_MESHOTA_HTTP_TIMEOUT_MS;
    cfg.buffer_size = IO_CHUNK;
    cfg.keep_alive_enable = true;
    if (https) {
#if CONFIG_MBEDTLS_CERTIFICATE_BUNDLE
        cfg.crt_bundle_attach = has_pin ? pin_attach : esp_crt_bundle_attach;
#else
        /* esp-tls only calls crt_bundle_attach with the certificate bundle enabled. */
        (void)has_pin;
        ESP_LOGE(TAG, "HTTPS needs CONFIG_MBEDTLS_CERTIFICATE_BUNDLE=y");
        post_end(gen, false);
        return;
#endif
    }
    esp_http_client_handle_t client = esp_http_client_init(&cfg);
    if (client == NULL) {
        ESP_LOGE(TAG, "esp_http_client_init failed");
        post_end(gen, false);
        return;
    }
    uint32_t pos = offset;
    uint32_t total = 0;
    bool done = false;
    bool ok = true;
    while (ok && !done) {
        ok = one_request(gen, client, &pos, &total, &done);
    }
    esp_http_client_cleanup(client);
    if (!cancelled(gen)) {
        if (ok) {
            ESP_LOGI(TAG, "image received up to byte %lu", (unsigned long)pos);
        }
        post_end(gen, ok);
    }
}

static void http_task(void *arg)
{
    (void)arg;
    static char url[URL_MAX];
    char ssid[33];
    char password[65];
    for (;;) {
        (void)ulTaskNotifyTake(pdTRUE, portMAX_DELAY);
        taskENTER_CRITICAL(&s_http.lock);
        bool req = s_http.open_req;
        uint32_t gen = s_http.gen;
        bool has_pin = s_http.has_pin;
        bool creds = s_http.has_creds;
        uint32_t offset = s_http.offset;
        s_http.open_req = false;
        if (req) {
            memcpy(url, s_http.url, sizeof(url));
            memcpy(s_http.active_pin, s_http.pin, sizeof(s_http.active_pin));
            memcpy(ssid, s_http.ssid, sizeof(ssid));
            memcpy(password, s_http.password, sizeof(password));
            memset(s_http.password, 0, sizeof(s_http.password));
        }
        taskEXIT_CRITICAL(&s_http.lock);
        if (!req) {
            continue;
        }
        /* The meshota task does not read until ready_gen names this generation. */
        (void)xStreamBufferReset(s_http.rx);
        taskENTER_CRITICAL(&s_http.lock);
        s_http.ready_gen = gen;
        taskEXIT_CRITICAL(&s_http.lock);
        if (creds && mota_wifi_join(ssid, password) != ESP_OK) {
            ESP_LOGW(TAG, "session network credentials refused");
        }
        memset(password, 0, sizeof(password));
        bool up = false;
        for (uint32_t waited = 0; waited < CONFIG_MESHOTA_NET_CONNECT_TIMEOUT_MS && !up;
             waited += 100) {
            up = mota_wifi_wait_up(100);
            if (cancelled(gen) || mota_wifi_state() == MOTA_WIFI_FAILED ||
                mota_wifi_state() == MOTA_WIFI_IDLE) {
                break;
            }
        }
        if (!up) {
            if (!cancelled(gen)) {
                ESP_LOGW(TAG, "no network for the image server");
                post_end(gen, false);
            }
            continue;
        }
        run_stream(gen, url, has_pin, offset);
    }
}

esp_err_t mota_http_init(void)
{
    if (s_http.task != NULL) {
        return ESP_OK;
    }
    if (psa_crypto_init() != PSA_SUCCESS) {
        return ESP_FAIL;
    }
    s_http.rx = xStreamBufferCreate(CONFIG_MESHOTA_NET_RX_BUFFER_SIZE, 1);
    if (s_http.rx == NULL) {
        return ESP_ERR_NO_MEM;
    }
    if (xTaskCreate(http_task, "meshota_http", CONFIG_MESHOTA_HTTP_TASK_STACK_SIZE, NULL,
                    CONFIG_MESHOTA_TASK_PRIORITY, &s_http.task) != pdPASS) {
        return ESP_ERR_NO_MEM;
    }
    return ESP_OK;
}

meshota_err_t mota_http_open(void *ctx, const char *url, const uint8_t *cert_sha256,
                             const meshota_wifi_creds_t *creds, uint32_t offset)
{
    (void)ctx;
    if (url == NULL || strlen(url) >= URL_MAX ||
        (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)) {
        return MESHOTA_ERR_INVALID_ARG;
    }
    if (creds != NULL && (creds->ssid == NULL || strlen(creds->ssid) > 32 ||
                          (creds->password != NULL && strlen(creds->password) > 64))) {
        return MESHOTA_ERR_INVALID_ARG;
    }
    taskENTER_CRITICAL(&s_http.lock);
    s_http.gen++;
    s_http.open_req = true;
    strcpy(s_http.url, url); /* Length checked above. */
    s_http.has_pin = cert_sha256 != NULL;
    memset(s_http.pin, 0, sizeof(s_http.pin));
    if (cert_sha256 != NULL) {
        memcpy(s_http.pin, cert_sha256, sizeof(s_http.pin));
    }
    s_http.has_creds = creds != NULL;
    memset(s_http.ssid, 0, sizeof(s_http.ssid));
    memset(s_http.password, 0, sizeof(s_http.password));
    if (creds != NULL) {
        strcpy(s_http.ssid, creds->ssid);
        if (creds->password != NULL) {
            strcpy(s_http.password, creds->password);
        }
    }
    s_http.offset = offset;
    taskEXIT_CRITICAL(&s_http.lock);
    xTaskNotifyGive(s_http.task);
    return MESHOTA_OK;
}

int32_t mota_http_read(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    taskENTER_CRITICAL(&s_http.lock);
    bool ready = s_http.ready_gen == s_http.gen;
    taskEXIT_CRITICAL(&s_http.lock);
    if (!ready) {
        return -MESHOTA_ERR_WOULD_BLOCK;
    }
    /* Pieces of 16-byte multiples, or all @p len bytes (the core asks for less than its read
     * block only at the image's end): every write to an encrypted OTA slot must start 16-byte
     * aligned (docs/porting.md, "Flash encryption"). The last few bytes go out with the end. */
    size_t avail = xStreamBufferBytesAvailable(s_http.rx);
    size_t take = avail >= len ? len : avail - avail % 16u;
    size_t n = take > 0 ? xStreamBufferReceive(s_http.rx, buf, take, 0) : 0;
    if (n > 0) {
        return (int32_t)n;
    }
    taskENTER_CRITICAL(&s_http.lock);
    bool end = s_http.end_gen == s_http.gen;
    bool err = s_http.err_gen == s_http.gen;
    taskEXIT_CRITICAL(&s_http.lock);
    if (end || err) {
        /* Every byte was pushed before the end was posted: take what arrived meanwhile. After
         * an error, whole 16-byte pieces only: the rest comes again when the stream resumes. */
        avail = xStreamBufferBytesAvailable(s_http.rx);
        take = end || avail >= len ? len : avail - avail % 16u;
        n = take > 0 ? xStreamBufferReceive(s_http.rx, buf, take, 0) : 0;
        if (n > 0) {
            return (int32_t)n;
        }
        return end ? 0 : -MESHOTA_ERR_NET;
    }
    return -MESHOTA_ERR_WOULD_BLOCK;
}

void mota_http_close(void *ctx)
{
    (void)ctx;
    taskENTER_CRITICAL(&s_http.lock);
    s_http.gen++;
    s_http.open_req = false;
    memset(s_http.password, 0, sizeof(s_http.password));
    taskEXIT_CRITICAL(&s_http.lock);
}
