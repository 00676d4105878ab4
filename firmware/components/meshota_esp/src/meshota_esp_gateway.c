/*
 * The gateway link (meshota_gwlink.h) on a TCP port: the host tools connect, send vendor
 * messages to mesh addresses and receive every meshota message the client model hears.
 *
 * One task ("meshota_gw") owns the sockets and is their only writer. Mesh events arrive on the
 * BTC task; they are framed there and queued in a message buffer (single writer: the BTC task)
 * that the gateway task forwards to the host. One host at a time: a new connection replaces
 * the previous one.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "esp_log.h"
#include "freertos/FreeRTOS.h"
#include "freertos/message_buffer.h"
#include "freertos/task.h"
#include "lwip/sockets.h"
#include "sdkconfig.h"

#include "meshota_core/meshota_stream.h"
#include "meshota_esp_priv.h"
#include "meshota_gwlink.h"

static const char *TAG = "meshota_gw";

static struct {
    TaskHandle_t task;
    uint16_t port;
    MessageBufferHandle_t out; /* BTC task -> gateway task, framed link messages. */
    portMUX_TYPE lock;
    meshota_gwlink_fifo_t fifo; /* Tags of sends waiting for ESP_BLE_MESH_MODEL_SEND_COMP_EVT. */
    uint8_t stale_results;      /* Results still due for a previous host: dropped. */
    volatile bool connected;
    volatile uint32_t dropped;
    uint32_t unknown; /* Well-framed host messages of an unknown type (ignored). */
    int client;
    meshota_stream_rx_t rx;
} s_gw = {.lock = portMUX_INITIALIZER_UNLOCKED, .client = -1};

static void queue_out(const uint8_t *frame, size_t n)
{
    if (n == 0 || !s_gw.connected) {
        return;
    }
    if (xMessageBufferSend(s_gw.out, frame, n, 0) == 0) {
        s_gw.dropped++;
    }
}

/* BTC task. */
void mota_gateway_on_mesh_rx(uint16_t src, uint16_t dst, int8_t rssi, uint8_t op6,
                             const uint8_t *params, size_t len)
{
    static uint8_t frame[MESHOTA_GWLINK_MAX_FRAME];
    queue_out(frame, meshota_gwlink_recv(frame, sizeof(frame), src, dst, rssi, op6, params, len));
}

/* BTC task: one event per send through the client model, in the order of the sends. */
void mota_gateway_on_mesh_sent(int err_code)
{
    static uint8_t frame[16];
    uint16_t tag = 0;
    bool have;
    taskENTER_CRITICAL(&s_gw.lock);
    if (s_gw.stale_results > 0) {
        s_gw.stale_results--;
        have = false;
    } else {
        have = meshota_gwlink_fifo_pop(&s_gw.fifo, &tag);
    }
    taskEXIT_CRITICAL(&s_gw.lock);
    if (have) {
        queue_out(frame, meshota_gwlink_send_result(frame, sizeof(frame), tag,
                                                    err_code == 0 ? MESHOTA_GWLINK_OK
                                                                  : MESHOTA_GWLINK_MESH_ERROR));
    }
}

static bool write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        int w = send(fd, p, n, 0);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static void answer(int fd, uint16_t tag, meshota_gwlink_status_t status)
{
    uint8_t frame[16];
    size_t n = meshota_gwlink_send_result(frame, sizeof(frame), tag, status);
    (void)write_all(fd, frame, n);
}

/* One SEND from the host: refuse at once, or hand it to the mesh and await its result. */
static int on_link_frame(void *arg, const uint8_t *payload, size_t len)
{
    int fd = *(int *)arg;
    if (len == 0 || payload[0] != MESHOTA_GWLINK_SEND) {
        /* docs/protocol.md: a well-framed message of an unknown type is ignored and counted. */
        s_gw.unknown++;
        ESP_LOGW(TAG, "link message of unknown type 0x%02x ignored (%lu so far)",
                 len > 0 ? payload[0] : 0, (unsigned long)s_gw.unknown);
        return 0;
    }
    meshota_gwlink_send_t snd;
    meshota_gwlink_status_t st = meshota_gwlink_parse_send(payload, len, &snd);
    if (st != MESHOTA_GWLINK_OK) {
        ESP_LOGW(TAG, "SEND refused (%u bytes)", (unsigned)len);
        answer(fd, snd.tag, st);
        return 0;
    }
    if (!mota_mesh_ready()) {
        answer(fd, snd.tag, MESHOTA_GWLINK_NOT_READY);
        return 0;
    }
    taskENTER_CRITICAL(&s_gw.lock);
    bool queued = meshota_gwlink_fifo_push(&s_gw.fifo, snd.tag);
    taskEXIT_CRITICAL(&s_gw.lock);
    if (!queued) {
        answer(fd, snd.tag, MESHOTA_GWLINK_BUSY);
        return 0;
    }
    /* Queued before sending: the send-complete event may come before this call returns. */
    esp_err_t err = mota_mesh_client_send(snd.dst, snd.ttl, snd.opcode, snd.params, snd.len);
    if (err != ESP_OK) {
        uint16_t tag;
        taskENTER_CRITICAL(&s_gw.lock);
        (void)meshota_gwlink_fifo_unpush(&s_gw.fifo, &tag);
        taskEXIT_CRITICAL(&s_gw.lock);
        ESP_LOGW(TAG, "send to 0x%04x refused by the mesh stack: %s", snd.dst,
                 esp_err_to_name(err));
        answer(fd, snd.tag, err == ESP_ERR_INVALID_STATE ? MESHOTA_GWLINK_NOT_READY
                                                         : MESHOTA_GWLINK_MESH_ERROR);
    }
    return 0;
}

static void drop_client(void)
{
    if (s_gw.client >= 0) {
        close(s_gw.client);
        s_gw.client = -1;
    }
    s_gw.connected = false;
    taskENTER_CRITICAL(&s_gw.lock);
    s_gw.stale_results = (uint8_t)(s_gw.stale_results + s_gw.fifo.count);
    meshota_gwlink_fifo_reset(&s_gw.fifo);
    taskEXIT_CRITICAL(&s_gw.lock);
}

static int open_listener(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (fd < 0) {
        return -1;
    }
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 1) != 0) {
        ESP_LOGE(TAG, "cannot listen on port %u: errno %d", (unsigned)port, errno);
        close(fd);
        return -1;
    }
    return fd;
}

static void gateway_task(void *arg)
{
    (void)arg;
    static uint8_t buf[512];
    static uint8_t out[MESHOTA_GWLINK_MAX_FRAME];
    int lfd = -1;
    uint32_t dropped_logged = 0;
    for (;;) {
        if (!mota_wifi_wait_up(1000)) {
            if (mota_wifi_state() == MOTA_WIFI_FAILED) {
                ESP_LOGW(TAG, "network unreachable; the gateway keeps trying");
                vTaskDelay(pdMS_TO_TICKS(5000));
            }
            continue;
        }
        if (lfd < 0 && (lfd = open_listener(s_gw.port)) < 0) {
            vTaskDelay(pdMS_TO_TICKS(2000));
            continue;
        }
        fd_set rfds;
        FD_ZERO(&rfds);
        FD_SET(lfd, &rfds);
        int maxfd = lfd;
        if (s_gw.client >= 0) {
            FD_SET(s_gw.client, &rfds);
            maxfd = s_gw.client > lfd ? s_gw.client : lfd;
        }
        struct timeval tv = {.tv_sec = 0, .tv_usec = 20 * 1000};
        int n = select(maxfd + 1, &rfds, NULL, NULL, &tv);
        if (n < 0) {
            ESP_LOGW(TAG, "select failed: errno %d; reopening", errno);
            drop_client();
            close(lfd);
            lfd = -1;
            continue;
        }
        if (n > 0 && FD_ISSET(lfd, &rfds)) {
            int c = accept(lfd, NULL, NULL);
            if (c >= 0) {
                if (s_gw.client >= 0) {
                    ESP_LOGW(TAG, "new host connection replaces the previous one");
                    drop_client();
                }
                struct timeval to = {.tv_sec = 2, .tv_usec = 0};
                (void)setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &to, sizeof(to));
                s_gw.client = c;
                meshota_stream_reset(&s_gw.rx);
                /* Forget what was queued for the previous host (this task is the reader). */
                while (xMessageBufferReceive(s_gw.out, out, sizeof(out), 0) > 0) {
                }
                s_gw.connected = true;
                size_t hn = meshota_gwlink_hello(out, sizeof(out), CONFIG_MESHOTA_COMPANY_ID,
                                                 mota_mesh_addr());
                if (!write_all(c, out, hn)) {
                    drop_client();
                } else {
                    ESP_LOGI(TAG, "host connected");
                }
            }
        }
        if (s_gw.client >= 0 && n > 0 && FD_ISSET(s_gw.client, &rfds)) {
            int r = recv(s_gw.client, buf, sizeof(buf), 0);
            if (r <= 0) {
                ESP_LOGI(TAG, "host disconnected");
                drop_client();
            } else if (meshota_stream_feed(&s_gw.rx, buf, (size_t)r, on_link_frame,
                                           &s_gw.client) != MESHOTA_OK) {
                ESP_LOGW(TAG, "bad link frame (%s); closing",
                         s_gw.rx.status == MESHOTA_STREAM_BAD_CRC ? "crc" : "length");
                drop_client();
            }
        }
        size_t m;
        while (s_gw.client >= 0 &&
               (m = xMessageBufferReceive(s_gw.out, out, sizeof(out), 0)) > 0) {
            if (!write_all(s_gw.client, out, m)) {
                ESP_LOGW(TAG, "host not reading; closing");
                drop_client();
            }
        }
        uint32_t dropped = s_gw.dropped;
        if (dropped != dropped_logged) {
            ESP_LOGW(TAG, "%lu link messages dropped: host too slow",
                     (unsigned long)(dropped - dropped_logged));
            dropped_logged = dropped;
        }
    }
}

esp_err_t mota_gateway_start(uint16_t port)
{
    if (s_gw.task != NULL) {
        return ESP_ERR_INVALID_STATE;
    }
    s_gw.port = port;
    meshota_gwlink_fifo_reset(&s_gw.fifo);
    s_gw.out = xMessageBufferCreate(CONFIG_MESHOTA_GATEWAY_OUT_BUFFER_SIZE);
    if (s_gw.out == NULL) {
        return ESP_ERR_NO_MEM;
    }
    if (xTaskCreate(gateway_task, "meshota_gw", CONFIG_MESHOTA_GATEWAY_TASK_STACK_SIZE, NULL,
                    CONFIG_MESHOTA_TASK_PRIORITY, &s_gw.task) != pdPASS) {
        return ESP_ERR_NO_MEM;
    }
    ESP_LOGI(TAG, "gateway link on TCP port %u", (unsigned)port);
    return ESP_OK;
}
