/*
 * TCP client of METHOD_TCP on lwIP sockets.
 *
 * One task ("meshota_net") owns the socket: it joins Wi-Fi when the session brought
 * credentials, resolves and connects without blocking for longer than
 * CONFIG_MESHOTA_NET_CONNECT_TIMEOUT_MS, then moves bytes between the socket and two stream
 * buffers with select(). The meshota task reads the receive buffer and reports connection
 * events to the core (mota_net_service), so the core runs on one thread only. Every
 * connection has a generation number: net_close() bumps it, and everything the socket task
 * still reports for an older generation is dropped, so no callback follows net_close().
 * When the receive buffer is full the task stops reading, and TCP flow control slows the
 * server down to the speed of the flash.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "esp_log.h"
#include "freertos/FreeRTOS.h"
#include "freertos/stream_buffer.h"
#include "freertos/task.h"
#include "lwip/netdb.h"
#include "lwip/sockets.h"
#include "sdkconfig.h"

#include "meshota/v1/control.pb.h"
#include "meshota_core/meshota_node.h"
#include "meshota_esp_priv.h"

static const char *TAG = "meshota_net";

#define HOST_MAX sizeof(((meshota_v1_TcpMethod *)0)->host)
#define IO_CHUNK 512

typedef enum { NODE_CLOSED = 0, NODE_OPENING = 1, NODE_CONNECTED = 2 } node_state_t;

static struct {
    TaskHandle_t task;
    StreamBufferHandle_t rx; /* socket task -> meshota task */
    StreamBufferHandle_t tx; /* meshota task -> socket task */
    portMUX_TYPE lock;
    /* Request, written by the meshota task under lock. */
    uint32_t gen;
    bool open_req;
    char host[HOST_MAX];
    uint16_t port;
    bool has_creds;
    char ssid[33];     /* Never logged. */
    char password[65]; /* Never logged. */
    /* Events, written by the socket task under lock. */
    uint32_t connected_gen;
    uint32_t closed_gen;
    meshota_err_t closed_reason;
    /* Meshota task only. */
    node_state_t node_state;
} s_net = {.lock = portMUX_INITIALIZER_UNLOCKED};

static bool cancelled(uint32_t gen)
{
    taskENTER_CRITICAL(&s_net.lock);
    bool c = s_net.gen != gen;
    taskEXIT_CRITICAL(&s_net.lock);
    return c;
}

static void post_connected(uint32_t gen)
{
    taskENTER_CRITICAL(&s_net.lock);
    s_net.connected_gen = gen;
    taskEXIT_CRITICAL(&s_net.lock);
    mota_wake();
}

static void post_closed(uint32_t gen, meshota_err_t reason)
{
    taskENTER_CRITICAL(&s_net.lock);
    s_net.closed_gen = gen;
    s_net.closed_reason = reason;
    taskEXIT_CRITICAL(&s_net.lock);
    mota_wake();
}

/* Wait for the network in short steps so that a close is noticed quickly. */
static bool network_up(uint32_t gen)
{
    uint32_t waited = 0;
    while (waited < CONFIG_MESHOTA_NET_CONNECT_TIMEOUT_MS) {
        if (mota_wifi_wait_up(100)) {
            return true;
        }
        if (cancelled(gen) || mota_wifi_state() == MOTA_WIFI_FAILED ||
            mota_wifi_state() == MOTA_WIFI_IDLE) {
            return false;
        }
        waited += 100;
    }
    return false;
}

static int connect_to(uint32_t gen, const char *host, uint16_t port)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo *res = NULL;
    char port_s[6];
    snprintf(port_s, sizeof(port_s), "%u", (unsigned)port);
    int gai = getaddrinfo(host, port_s, &hints, &res);
    if (gai != 0 || res == NULL) {
        ESP_LOGW(TAG, "cannot resolve the firmware server (%d)", gai);
        return -1;
    }
    int sock = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (sock < 0) {
        ESP_LOGE(TAG, "socket() failed: errno %d", errno);
        freeaddrinfo(res);
        return -1;
    }
    int flags = fcntl(sock, F_GETFL, 0);
    (void)fcntl(sock, F_SETFL, flags | O_NONBLOCK);
    int r = connect(sock, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (r != 0 && errno != EINPROGRESS) {
        ESP_LOGW(TAG, "connect failed: errno %d", errno);
        close(sock);
        return -1;
    }
    uint32_t waited = 0;
    while (r != 0) {
        fd_set wfds;
        FD_ZERO(&wfds);
        FD_SET(sock, &wfds);
        struct timeval tv = {.tv_sec = 0, .tv_usec = 100 * 1000};
        int n = select(sock + 1, NULL, &wfds, NULL, &tv);
        if (n > 0) {
            int soerr = 0;
            socklen_t l = sizeof(soerr);
            if (getsockopt(sock, SOL_SOCKET, SO_ERROR, &soerr, &l) != 0 || soerr != 0) {
                ESP_LOGW(TAG, "connect failed: errno %d", soerr);
                close(sock);
                return -1;
            }
            break;
        }
        waited += 100;
        if (n < 0 || cancelled(gen) || waited >= CONFIG_MESHOTA_NET_CONNECT_TIMEOUT_MS) {
            ESP_LOGW(TAG, "connect %s", n < 0 ? "failed" : "timed out or cancelled");
            close(sock);
            return -1;
        }
    }
    int one = 1;
    (void)setsockopt(sock, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    (void)setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return sock;
}

/* Move bytes until the peer closes, an error occurs, or the meshota task closes. */
static meshota_err_t pump(uint32_t gen, int sock)
{
    static uint8_t rbuf[IO_CHUNK];
    static uint8_t tbuf[IO_CHUNK];
    size_t tlen = 0;
    size_t toff = 0;
    for (;;) {
        if (cancelled(gen)) {
            return MESHOTA_OK;
        }
        if (tlen == toff) {
            tlen = xStreamBufferReceive(s_net.tx, tbuf, sizeof(tbuf), 0);
            toff = 0;
        }
        size_t space = xStreamBufferSpacesAvailable(s_net.rx);
        fd_set rfds;
        fd_set wfds;
        FD_ZERO(&rfds);
        FD_ZERO(&wfds);
        if (space > 0) {
            FD_SET(sock, &rfds);
        }
        if (tlen > toff) {
            FD_SET(sock, &wfds);
        }
        struct timeval tv = {.tv_sec = 0, .tv_usec = 20 * 1000};
        int n = select(sock + 1, &rfds, &wfds, NULL, &tv);
        if (n < 0) {
            ESP_LOGW(TAG, "select failed: errno %d", errno);
            return MESHOTA_ERR_NET;
        }
        if (n == 0) {
            continue;
        }
        if (FD_ISSET(sock, &wfds)) {
            int w = send(sock, &tbuf[toff], tlen - toff, 0);
            if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                ESP_LOGW(TAG, "send failed: errno %d", errno);
                return MESHOTA_ERR_NET;
            }
            if (w > 0) {
                toff += (size_t)w;
            }
        }
        if (FD_ISSET(sock, &rfds)) {
            size_t want = space < sizeof(rbuf) ? space : sizeof(rbuf);
            int r = recv(sock, rbuf, want, 0);
            if (r == 0) {
                ESP_LOGI(TAG, "server closed the connection");
                return MESHOTA_OK;
            }
            if (r < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    continue;
                }
                ESP_LOGW(TAG, "recv failed: errno %d", errno);
                return MESHOTA_ERR_NET;
            }
            /* Single writer, and `space` was checked: this never blocks or truncates. */
            (void)xStreamBufferSend(s_net.rx, rbuf, (size_t)r, 0);
            mota_wake();
        }
    }
}

static void net_task(void *arg)
{
    (void)arg;
    char host[HOST_MAX];
    char ssid[33];
    char password[65];
    for (;;) {
        (void)ulTaskNotifyTake(pdTRUE, portMAX_DELAY);
        taskENTER_CRITICAL(&s_net.lock);
        bool req = s_net.open_req;
        uint32_t gen = s_net.gen;
        uint16_t port = s_net.port;
        bool creds = s_net.has_creds;
        s_net.open_req = false;
        if (req) {
            memcpy(host, s_net.host, sizeof(host));
            memcpy(ssid, s_net.ssid, sizeof(ssid));
            memcpy(password, s_net.password, sizeof(password));
            memset(s_net.password, 0, sizeof(s_net.password));
        }
        taskEXIT_CRITICAL(&s_net.lock);
        if (!req) {
            continue;
        }
        /* Nobody reads or writes the buffers while no connection is current (see service). */
        (void)xStreamBufferReset(s_net.rx);
        (void)xStreamBufferReset(s_net.tx);
        meshota_err_t reason = MESHOTA_ERR_NET;
        int sock = -1;
        if (creds && mota_wifi_join(ssid, password) != ESP_OK) {
            ESP_LOGW(TAG, "session network credentials refused");
        }
        memset(password, 0, sizeof(password));
        if (!network_up(gen)) {
            if (!cancelled(gen)) {
                ESP_LOGW(TAG, "no network for the firmware server");
            }
        } else if ((sock = connect_to(gen, host, port)) >= 0 && !cancelled(gen)) {
            ESP_LOGI(TAG, "connected to the firmware server");
            post_connected(gen);
            reason = pump(gen, sock);
        }
        if (sock >= 0) {
            shutdown(sock, SHUT_RDWR);
            close(sock);
        }
        if (!cancelled(gen)) {
            post_closed(gen, reason);
        }
    }
}

esp_err_t mota_net_init(void)
{
    if (s_net.task != NULL) {
        return ESP_OK;
    }
    s_net.rx = xStreamBufferCreate(CONFIG_MESHOTA_NET_RX_BUFFER_SIZE, 1);
    s_net.tx = xStreamBufferCreate(CONFIG_MESHOTA_NET_TX_BUFFER_SIZE, 1);
    if (s_net.rx == NULL || s_net.tx == NULL) {
        return ESP_ERR_NO_MEM;
    }
    if (xTaskCreate(net_task, "meshota_net", CONFIG_MESHOTA_NET_TASK_STACK_SIZE, NULL,
                    CONFIG_MESHOTA_TASK_PRIORITY, &s_net.task) != pdPASS) {
        return ESP_ERR_NO_MEM;
    }
    return ESP_OK;
}

meshota_err_t mota_net_open(void *ctx, const char *host, uint16_t port,
                            const meshota_wifi_creds_t *creds)
{
    (void)ctx;
    if (host == NULL || host[0] == '\0' || strlen(host) >= HOST_MAX || port == 0) {
        return MESHOTA_ERR_INVALID_ARG;
    }
    if (creds != NULL && (creds->ssid == NULL || strlen(creds->ssid) > 32 ||
                          (creds->password != NULL && strlen(creds->password) > 64))) {
        return MESHOTA_ERR_INVALID_ARG;
    }
    taskENTER_CRITICAL(&s_net.lock);
    s_net.gen++;
    s_net.open_req = true;
    strcpy(s_net.host, host); /* Length checked above. */
    s_net.port = port;
    s_net.has_creds = creds != NULL;
    memset(s_net.ssid, 0, sizeof(s_net.ssid));
    memset(s_net.password, 0, sizeof(s_net.password));
    if (creds != NULL) {
        strcpy(s_net.ssid, creds->ssid);
        if (creds->password != NULL) {
            strcpy(s_net.password, creds->password);
        }
    }
    taskEXIT_CRITICAL(&s_net.lock);
    s_net.node_state = NODE_OPENING;
    xTaskNotifyGive(s_net.task);
    return MESHOTA_OK;
}

meshota_err_t mota_net_send(void *ctx, const uint8_t *data, size_t len)
{
    (void)ctx;
    if (s_net.node_state != NODE_CONNECTED) {
        return MESHOTA_ERR_NET;
    }
    if (len > CONFIG_MESHOTA_NET_TX_BUFFER_SIZE) {
        return MESHOTA_ERR_INVALID_ARG;
    }
    /* The socket task drains this buffer every 20 ms at most; a second is a dead link. Polling
     * instead of blocking keeps the buffer resettable by the socket task at any time. */
    for (int i = 0; i < 100 && xStreamBufferSpacesAvailable(s_net.tx) < len; i++) {
        vTaskDelay(pdMS_TO_TICKS(10));
    }
    if (xStreamBufferSpacesAvailable(s_net.tx) < len) {
        ESP_LOGW(TAG, "send stalled: %u bytes not taken", (unsigned)len);
        return MESHOTA_ERR_NET;
    }
    (void)xStreamBufferSend(s_net.tx, data, len, 0);
    return MESHOTA_OK;
}

void mota_net_close(void *ctx)
{
    (void)ctx;
    taskENTER_CRITICAL(&s_net.lock);
    s_net.gen++;
    s_net.open_req = false;
    memset(s_net.password, 0, sizeof(s_net.password));
    taskEXIT_CRITICAL(&s_net.lock);
    s_net.node_state = NODE_CLOSED;
}

void mota_net_service(meshota_node_t *node)
{
    static uint8_t buf[IO_CHUNK];
    if (s_net.node_state == NODE_CLOSED) {
        return;
    }
    taskENTER_CRITICAL(&s_net.lock);
    uint32_t gen = s_net.gen;
    bool connected = s_net.connected_gen == gen;
    bool closed = s_net.closed_gen == gen;
    meshota_err_t reason = s_net.closed_reason;
    taskEXIT_CRITICAL(&s_net.lock);

    if (s_net.node_state == NODE_OPENING && connected) {
        s_net.node_state = NODE_CONNECTED;
        meshota_node_net_connected(node); /* May call net_send or net_close. */
    }
    if (s_net.node_state == NODE_CONNECTED) {
        size_t n;
        while ((n = xStreamBufferReceive(s_net.rx, buf, sizeof(buf), 0)) > 0) {
            meshota_node_net_recv(node, buf, n);
            if (s_net.node_state != NODE_CONNECTED || cancelled(gen)) {
                return; /* The core closed the connection. */
            }
        }
    }
    /* Report the close only once every byte before it was delivered. */
    if (closed && s_net.node_state != NODE_CLOSED && xStreamBufferIsEmpty(s_net.rx) == pdTRUE) {
        s_net.node_state = NODE_CLOSED;
        meshota_node_net_closed(node, reason);
    }
}
