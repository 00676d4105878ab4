/**
 * @file meshota_port.h
 * @brief Everything meshota_core needs from the device, as one table of functions.
 *
 * The core has no global state: each node is a meshota_node_t that holds a pointer to a
 * meshota_port_t, and every port function receives the port's @c ctx first. One host process
 * can therefore run hundreds of nodes, each with its own flash, store and clock.
 *
 * Ports shipped with meshota:
 * - port/psa/meshota_crypto_psa.c: SHA-256 and ECDSA P-256 through the PSA Crypto API
 *   (Mbed TLS 2.28 on the host, 3.x in ESP-IDF v5, 4.x in ESP-IDF v6).
 * - port/esp_idf/: flash (esp_ota_ops, esp_partition), NVS, esp_timer, ESP_LOG, esp_random.
 * - firmware/host/port/: file- or RAM-backed flash, a directory key-value store, a virtual
 *   clock, used by the tests and the node emulator.
 *
 * Unless stated otherwise a function returns MESHOTA_OK or a MESHOTA_ERR_* code. Optional
 * functions may be NULL; the core then refuses the feature that needs them with a clear error
 * (for example ERROR_CODE_UNSUPPORTED_METHOD when net_open is NULL).
 *
 * Secrets: Wi-Fi passwords and access tokens reach the port only as arguments of
 * net_open/stream_open. A port must never log them; the core never does.
 */
#ifndef MESHOTA_PORT_H
#define MESHOTA_PORT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meshota_core/meshota_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Bearers a node sends on through meshota_port_t.send. */
typedef enum {
    /** BLE Mesh vendor message: payload[0] is the 6-bit vendor opcode, then the parameters.
     *  The port adds the 3-octet opcode (0xC0 | op, company ID little-endian). */
    MESHOTA_BEARER_MESH = 0,
    /** ESP-NOW: payload is one encoded DataFrame. */
    MESHOTA_BEARER_ESPNOW = 1,
} meshota_bearer_t;

/** A peer: its mesh unicast address and, on ESP-NOW, its MAC address. */
typedef struct {
    uint16_t mesh_addr; /**< Mesh unicast address; 0 when unknown. */
    bool has_mac;       /**< mac is valid. */
    uint8_t mac[6];     /**< Wi-Fi MAC (ESP-NOW peer); ff:ff:ff:ff:ff:ff is broadcast. */
} meshota_peer_t;

/** Flash regions the core reads. It writes and erases only MESHOTA_REGION_PASSIVE. */
typedef enum {
    MESHOTA_REGION_PASSIVE = 0, /**< The OTA slot that receives the new image. */
    MESHOTA_REGION_RUNNING = 1, /**< The slot the firmware runs from (read only, for relaying). */
} meshota_region_t;

/** Boot state of the running firmware, as the bootloader left it. */
typedef enum {
    MESHOTA_BOOT_NORMAL = 0,         /**< Confirmed firmware (or rollback disabled). */
    MESHOTA_BOOT_PENDING_VERIFY = 1, /**< First boot of a new image; confirm or it rolls back. */
    MESHOTA_BOOT_ROLLED_BACK = 2,    /**< The bootloader went back from an unconfirmed image. */
} meshota_boot_state_t;

/** Identity of the running firmware (from its esp_app_desc_t) and of the chip. */
typedef struct {
    char project_name[32];   /**< NUL-terminated, at most 31 bytes. */
    char version[32];        /**< NUL-terminated, at most 31 bytes. */
    char idf_version[32];    /**< NUL-terminated, at most 31 bytes. */
    uint32_t secure_version; /**< Anti-rollback counter of the running app. */
    uint32_t chip_id;        /**< Image-header chip id: 0 ESP32, 5 C3, 9 S3, 13 C6, ... */
    uint32_t chip_revision;  /**< major * 100 + minor. */
} meshota_running_t;

/** Log levels (same order as ESP_LOG). */
typedef enum {
    MESHOTA_LOG_ERROR = 1,
    MESHOTA_LOG_WARN = 2,
    MESHOTA_LOG_INFO = 3,
    MESHOTA_LOG_DEBUG = 4,
} meshota_log_level_t;

/** Wi-Fi credentials for a session; never logged. */
typedef struct {
    const char *ssid;     /**< NUL-terminated SSID. */
    const char *password; /**< NUL-terminated passphrase; "" for an open network. */
} meshota_wifi_creds_t;

/** Opaque storage for one SHA-256 computation, owned by the caller (no heap). */
#ifndef MESHOTA_SHA256_STATE_SIZE
#define MESHOTA_SHA256_STATE_SIZE 512
#endif
typedef struct {
    union {
        uint64_t align_;
        unsigned char bytes[MESHOTA_SHA256_STATE_SIZE];
    } u;
} meshota_sha256_t;

/** Longest key name the core uses, without the NUL. */
#define MESHOTA_KV_KEY_MAX 15

/**
 * @brief The device functions of one node. Filled once by the platform and kept alive for the
 * lifetime of the node(s) using it.
 */
typedef struct meshota_port {
    void *ctx; /**< Passed as the first argument of every function below. */

    /* ---- Flash (required) ----------------------------------------------------------------- */
    /** Size in bytes of the passive OTA slot. */
    uint32_t (*flash_size)(void *ctx);
    /** Erase [offset, offset + len) of the passive slot; both multiples of the sector size. */
    meshota_err_t (*flash_erase)(void *ctx, uint32_t offset, uint32_t len);
    /** Write into the passive slot (erased before). Writing identical bytes again is allowed. */
    meshota_err_t (*flash_write)(void *ctx, uint32_t offset, const uint8_t *data, size_t len);
    /** Read from @p region. */
    meshota_err_t (*flash_read)(void *ctx, meshota_region_t region, uint32_t offset, uint8_t *data,
                                size_t len);

    /* ---- Boot control (required) ---------------------------------------------------------- */
    /** Make the passive slot (holding a verified image of @p size bytes) boot next, pending
     *  verification (esp_ota_end + esp_ota_set_boot_partition). */
    meshota_err_t (*boot_set_next)(void *ctx, uint32_t size);
    /** Keep the running firmware (esp_ota_mark_app_valid_cancel_rollback). */
    meshota_err_t (*boot_confirm)(void *ctx);
    /** Reject the running unconfirmed firmware and reboot into the previous one; may return. */
    meshota_err_t (*boot_rollback)(void *ctx);
    /** State of the running firmware. */
    meshota_boot_state_t (*boot_state)(void *ctx);
    /** Identity of the running firmware and chip. */
    meshota_err_t (*running_info)(void *ctx, meshota_running_t *out);
    /** Restart the device soon (after the current call returns). */
    void (*restart)(void *ctx);

    /* ---- Key-value store (required): small records that survive power loss ------------------ */
    /** Read @p key into @p buf; MESHOTA_ERR_NOT_FOUND when absent. @p out_len gets its size. */
    meshota_err_t (*kv_get)(void *ctx, const char *key, void *buf, size_t buf_size,
                            size_t *out_len);
    /** Replace @p key atomically: after a power cut the old or the new value is there. */
    meshota_err_t (*kv_set)(void *ctx, const char *key, const void *buf, size_t len);
    /** Delete @p key; deleting an absent key succeeds. */
    meshota_err_t (*kv_erase)(void *ctx, const char *key);

    /* ---- Crypto (required): port/psa/meshota_crypto_psa.c provides all three --------------- */
    meshota_err_t (*sha256_start)(void *ctx, meshota_sha256_t *st);
    meshota_err_t (*sha256_update)(void *ctx, meshota_sha256_t *st, const uint8_t *data,
                                   size_t len);
    /** Finish into @p out; @p st may be started again afterwards. */
    meshota_err_t (*sha256_finish)(void *ctx, meshota_sha256_t *st, uint8_t out[32]);
    /** Verify raw r||s @p sig over @p hash with the uncompressed SEC1 P-256 key @p pubkey.
     *  MESHOTA_OK when valid, MESHOTA_ERR_BAD_SIGNATURE when not. */
    meshota_err_t (*ecdsa_p256_verify)(void *ctx, const uint8_t pubkey[65], const uint8_t hash[32],
                                       const uint8_t sig[64]);

    /* ---- Clock, random, log (required) ---------------------------------------------------- */
    /** Monotonic milliseconds (esp_timer on the device, a virtual clock in the emulator). */
    uint64_t (*now_ms)(void *ctx);
    /** Fill @p buf with random bytes (esp_fill_random). */
    void (*random)(void *ctx, uint8_t *buf, size_t len);
    /** Log one message; @p tag names the module. May be NULL to log nothing. */
    void (*log)(void *ctx, meshota_log_level_t level, const char *tag, const char *fmt,
                va_list args);

    /* ---- Bearers ----------------------------------------------------------------------------- */
    /** Send @p payload to @p to on @p bearer (see meshota_bearer_t for the payload format).
     *  MESHOTA_ERR_WOULD_BLOCK when the radio's transmit queue is full (esp_now_send's
     *  ESP_ERR_ESPNOW_NO_MEM): nothing was sent, and the relay offers the frame again later. */
    meshota_err_t (*send)(void *ctx, meshota_bearer_t bearer, const meshota_peer_t *to,
                          const uint8_t *payload, size_t len);
    /** Optional: listen for ESP-NOW on @p channel (1-14) from @p peer_mac (or any when NULL). */
    meshota_err_t (*espnow_begin)(void *ctx, uint8_t channel, const uint8_t *peer_mac);
    /** Optional: stop ESP-NOW. */
    void (*espnow_end)(void *ctx);

    /* ---- TCP client (optional; METHOD_TCP) ---------------------------------------------------
     * One connection per node. net_open starts connecting (after joining Wi-Fi with @p creds
     * when not NULL) and returns at once; the platform then calls meshota_node_net_connected(),
     * meshota_node_net_recv() for every received piece of the byte stream (any split), and
     * meshota_node_net_closed() when the connection ends or fails. Any of these may be called
     * from inside net_open/net_send, on the thread that drives the node. */
    meshota_err_t (*net_open)(void *ctx, const char *host, uint16_t port,
                              const meshota_wifi_creds_t *creds);
    /** Send all of @p data on the open connection. */
    meshota_err_t (*net_send)(void *ctx, const uint8_t *data, size_t len);
    /** Close the connection; no meshota_node_net_closed() callback follows. */
    void (*net_close)(void *ctx);

    /* ---- Stream source (optional; METHOD_WIFI): the image as bytes, resumable at an offset --
     * stream_open starts fetching @p url from byte @p offset (an HTTP Range request on the
     * device; esp_https_ota/esp_http_client there). @p cert_sha256 pins the server certificate
     * when not NULL. */
    meshota_err_t (*stream_open)(void *ctx, const char *url, const uint8_t *cert_sha256,
                                 const meshota_wifi_creds_t *creds, uint32_t offset);
    /** Read up to @p len bytes: > 0 bytes read, 0 at the end of the image,
     *  -MESHOTA_ERR_WOULD_BLOCK when nothing is available yet, another negated code on error.
     *  A source that cannot start at the requested offset fails (it must not restart at 0). */
    int32_t (*stream_read)(void *ctx, uint8_t *buf, size_t len);
    /** Close the stream. */
    void (*stream_close)(void *ctx);
} meshota_port_t;

#ifdef __cplusplus
}
#endif

#endif /* MESHOTA_PORT_H */
