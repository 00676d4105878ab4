/*
 * Decisions of the ESP-IDF glue that need no ESP-IDF header: vendor opcode matching and the
 * HTTP resume rules. Portable C, compiled and tested on the host (test/host).
 */
#ifndef MESHOTA_ESP_UTIL_H
#define MESHOTA_ESP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Split a received ESP-BLE-MESH opcode (ctx->recv_op: 0xC0 | op in bits 16..23, the
 * company ID in bits 0..15, as ESP_BLE_MESH_MODEL_OP_3 builds it) into its 6-bit opcode.
 * @return true when @p op is a 3-octet vendor opcode of @p company_id.
 */
bool meshota_esp_vendor_op_split(uint32_t op, uint16_t company_id, uint8_t *op6);

/** A parsed "Content-Range: bytes first-last/total" response header. */
typedef struct {
    uint32_t first;
    uint32_t last;      /**< Inclusive. */
    uint32_t total;     /**< Size of the whole resource; 0 when the server sent "*". */
} meshota_esp_range_t;

/** @return true when @p value is "bytes F-L/T" (or an asterisk for T) with F <= L (< T). */
bool meshota_esp_parse_content_range(const char *value, meshota_esp_range_t *out);

/**
 * @brief Write the Range request header value for bytes [first, last] ("bytes=F-L"), or
 * from @p first to the end when @p last is 0 ("bytes=F-").
 * @return length written (without the NUL), 0 when @p cap is too small.
 */
size_t meshota_esp_range_header(char *buf, size_t cap, uint32_t first, uint32_t last);

/** What to do with an HTTP response to a ranged GET. */
typedef enum {
    MESHOTA_ESP_HTTP_ACCEPT = 0, /**< Body starts at the requested offset. */
    MESHOTA_ESP_HTTP_SKIP = 1,   /**< Server ignored Range (200): discard @c skip bytes first. */
    MESHOTA_ESP_HTTP_FAIL = 2,   /**< Unusable answer: close and count a network failure. */
} meshota_esp_http_action_t;

typedef struct {
    meshota_esp_http_action_t action;
    uint32_t skip;  /**< Bytes to discard before the requested offset (SKIP only). */
    uint32_t total; /**< Image size announced by the server; 0 when unknown. */
} meshota_esp_http_verdict_t;

/**
 * @brief Decide how to use the response to a GET that asked for bytes from @p requested.
 *
 * 206 with a Content-Range starting exactly at @p requested is accepted; 206 starting
 * anywhere else, or without a readable Content-Range, fails (the node must never write bytes
 * at the wrong offset). 200 is the whole image: accepted from 0, otherwise the bytes before
 * @p requested are skipped rather than restarting the count (a server that ignores Range must
 * not drive progress past 100 %). Every other status fails. @p content_length is the
 * Content-Length of the response (< 0 when absent) and gives the total for a 200.
 */
meshota_esp_http_verdict_t meshota_esp_http_check(int status, const char *content_range,
                                                  int64_t content_length, uint32_t requested);

/**
 * @brief Parse the manifest signing key from Kconfig: exactly 130 hex digits (either case)
 * encoding an uncompressed SEC1 P-256 point, 04 || X || Y.
 * @return true with the 65 bytes in @p out; false (and @p out untouched) otherwise.
 */
bool meshota_esp_parse_pubkey_hex(const char *hex, uint8_t out[65]);

#ifdef __cplusplus
}
#endif

#endif /* MESHOTA_ESP_UTIL_H */
