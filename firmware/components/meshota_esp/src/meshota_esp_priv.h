/* Internal interfaces between the files of meshota_esp (ESP-IDF only). */
#ifndef MESHOTA_ESP_PRIV_H
#define MESHOTA_ESP_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "esp_err.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "meshota_core/meshota_node.h"
#include "meshota_core/meshota_port.h"

/** Which vendor model this device carries. */
typedef enum {
    MOTA_ROLE_NODE = 0,    /**< meshota server model; meshota_core drives it. */
    MOTA_ROLE_GATEWAY = 1, /**< meshota client model; the gateway link drives it. */
} mota_role_t;

/* ---- System (meshota_esp.c) ------------------------------------------------------------------ */

/** NVS, default event loop, netif, Wi-Fi station, Bluetooth; once per boot. */
esp_err_t mota_system_init(void);
/** Wake the meshota task (any task; not from an ISR). */
void mota_wake(void);

/* ---- BLE Mesh (meshota_esp_mesh.c) ----------------------------------------------------------- */

/** A meshota vendor message received by the local model. Called on the BTC task. */
typedef void (*mota_mesh_rx_fn)(uint16_t src, uint16_t dst, int8_t rssi, uint8_t op6,
                                const uint8_t *params, size_t len);
/** Result of a send through the client model (in the order of the sends). BTC task. */
typedef void (*mota_mesh_sent_fn)(int err_code);

/** Register the models for @p role and start ESP-BLE-MESH (provisioning enabled if needed). */
esp_err_t mota_mesh_start(mota_role_t role, const char *device_name, mota_mesh_rx_fn rx,
                          mota_mesh_sent_fn sent);
/** @return the primary element address, 0 while unprovisioned. */
uint16_t mota_mesh_addr(void);
/** @return true when provisioned and the local vendor model has an AppKey bound. */
bool mota_mesh_ready(void);
/** Send from the server model (node). @p op6 is the 6-bit meshota opcode. */
esp_err_t mota_mesh_server_send(uint16_t dst, uint8_t op6, const uint8_t *params, size_t len);
/** Send from the client model (gateway), unacknowledged at the model layer. */
esp_err_t mota_mesh_client_send(uint16_t dst, uint8_t ttl, uint8_t op6, const uint8_t *params,
                                size_t len);

/* ---- Wi-Fi station (meshota_esp_wifi.c) ------------------------------------------------------ */

typedef enum {
    MOTA_WIFI_IDLE = 0,       /**< Started, not associated. */
    MOTA_WIFI_CONNECTING = 1, /**< Associating or waiting for an address. */
    MOTA_WIFI_UP = 2,         /**< Got an IPv4 address. */
    MOTA_WIFI_FAILED = 3,     /**< Gave up after CONFIG_MESHOTA_WIFI_RETRIES attempts. */
} mota_wifi_state_t;

esp_err_t mota_wifi_init(void);
/** Join @p ssid (never logged). Joining the network already up is a no-op. */
esp_err_t mota_wifi_join(const char *ssid, const char *password);
/** Wait until up or failed, at most @p timeout_ms. @return true when up. */
bool mota_wifi_wait_up(uint32_t timeout_ms);
mota_wifi_state_t mota_wifi_state(void);
/** Leave the network and forget the credentials. */
void mota_wifi_leave(void);

/* ---- Port functions (node role) -------------------------------------------------------------- */

/* meshota_esp_net.c: TCP client for METHOD_TCP. */
esp_err_t mota_net_init(void);
meshota_err_t mota_net_open(void *ctx, const char *host, uint16_t port,
                            const meshota_wifi_creds_t *creds);
meshota_err_t mota_net_send(void *ctx, const uint8_t *data, size_t len);
void mota_net_close(void *ctx);
/** On the meshota task: deliver connection events and received bytes to @p node. */
void mota_net_service(meshota_node_t *node);

/* meshota_esp_http.c: HTTP(S) stream source for METHOD_WIFI. */
esp_err_t mota_http_init(void);
meshota_err_t mota_http_open(void *ctx, const char *url, const uint8_t *cert_sha256,
                             const meshota_wifi_creds_t *creds, uint32_t offset);
int32_t mota_http_read(void *ctx, uint8_t *buf, size_t len);
void mota_http_close(void *ctx);

/* meshota_esp_espnow.c: ESP-NOW bearer. */
esp_err_t mota_espnow_init(void);
meshota_err_t mota_espnow_begin(void *ctx, uint8_t channel, const uint8_t *peer_mac);
void mota_espnow_end(void *ctx);
meshota_err_t mota_espnow_send(const meshota_peer_t *to, const uint8_t *frame, size_t len);
/** On the meshota task: hand received frames to @p node. */
void mota_espnow_service(meshota_node_t *node);

/* meshota_esp_gateway.c */
esp_err_t mota_gateway_start(uint16_t port);
void mota_gateway_on_mesh_rx(uint16_t src, uint16_t dst, int8_t rssi, uint8_t op6,
                             const uint8_t *params, size_t len);
void mota_gateway_on_mesh_sent(int err_code);

#endif /* MESHOTA_ESP_PRIV_H */
