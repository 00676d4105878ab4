/* Portable decisions of the ESP-IDF glue (see meshota_esp_util.h). */
#include "meshota_esp_util.h"

#include <stdio.h>
#include <string.h>

bool meshota_esp_vendor_op_split(uint32_t op, uint16_t company_id, uint8_t *op6)
{
    if (op > 0xFFFFFFu || (op >> 22) != 0x3u || (op & 0xFFFFu) != company_id) {
        return false;
    }
    *op6 = (uint8_t)((op >> 16) & 0x3Fu);
    return true;
}

/* Parse a decimal number of at most 10 digits that fits uint32_t; advance *p past it. */
static bool parse_u32(const char **p, uint32_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    int digits = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10u + (uint64_t)(*s - '0');
        if (++digits > 10 || v > UINT32_MAX) {
            return false;
        }
        s++;
    }
    if (digits == 0) {
        return false;
    }
    *out = (uint32_t)v;
    *p = s;
    return true;
}

bool meshota_esp_parse_content_range(const char *value, meshota_esp_range_t *out)
{
    if (value == NULL || out == NULL) {
        return false;
    }
    const char *p = value;
    while (*p == ' ') {
        p++;
    }
    if (strncmp(p, "bytes ", 6) != 0) {
        return false;
    }
    p += 6;
    meshota_esp_range_t r = {0};
    if (!parse_u32(&p, &r.first) || *p++ != '-' || !parse_u32(&p, &r.last) || *p++ != '/') {
        return false;
    }
    if (*p == '*') {
        p++;
        r.total = 0;
    } else if (!parse_u32(&p, &r.total) || r.last >= r.total) {
        return false;
    }
    while (*p == ' ') {
        p++;
    }
    if (*p != '\0' || r.first > r.last) {
        return false;
    }
    *out = r;
    return true;
}

size_t meshota_esp_range_header(char *buf, size_t cap, uint32_t first, uint32_t last)
{
    int n = last == 0 ? snprintf(buf, cap, "bytes=%lu-", (unsigned long)first)
                      : snprintf(buf, cap, "bytes=%lu-%lu", (unsigned long)first,
                                 (unsigned long)last);
    if (n < 0 || (size_t)n >= cap) {
        return 0;
    }
    return (size_t)n;
}

meshota_esp_http_verdict_t meshota_esp_http_check(int status, const char *content_range,
                                                  int64_t content_length, uint32_t requested)
{
    meshota_esp_http_verdict_t v = {MESHOTA_ESP_HTTP_FAIL, 0, 0};
    if (status == 206) {
        meshota_esp_range_t r;
        if (meshota_esp_parse_content_range(content_range, &r) && r.first == requested) {
            v.action = MESHOTA_ESP_HTTP_ACCEPT;
            v.total = r.total;
        }
        return v;
    }
    if (status == 200) {
        if (content_length >= 0) {
            if ((uint64_t)content_length > UINT32_MAX || (uint64_t)content_length < requested) {
                return v; /* Smaller than what we already hold: not our image. */
            }
            v.total = (uint32_t)content_length;
        }
        v.action = requested == 0 ? MESHOTA_ESP_HTTP_ACCEPT : MESHOTA_ESP_HTTP_SKIP;
        v.skip = requested;
    }
    return v;
}

static int hex_nibble(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

bool meshota_esp_parse_pubkey_hex(const char *hex, uint8_t out[65])
{
    uint8_t key[65];
    if (hex == NULL || strlen(hex) != 2 * sizeof(key)) {
        return false;
    }
    for (size_t i = 0; i < sizeof(key); i++) {
        int hi = hex_nibble(hex[2 * i]);
        int lo = hex_nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        key[i] = (uint8_t)((hi << 4) | lo);
    }
    if (key[0] != 0x04) {
        return false; /* Compressed or hybrid encodings are not accepted by the core. */
    }
    memcpy(out, key, sizeof(key));
    return true;
}
