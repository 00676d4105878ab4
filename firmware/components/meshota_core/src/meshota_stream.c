/* Stream framing: [u16 LE length][DataFrame][u32 LE CRC-32], reassembled from any split. */
#include "meshota_core/meshota_stream.h"

#include <string.h>

uint32_t meshota_crc32(uint32_t crc, const uint8_t *data, size_t len)
{
    /* Bitwise CRC-32 (reflected polynomial 0xEDB88320): no table, a few bytes of code. Frames
     * are at most 1458 bytes, so the speed of a table is not needed. */
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        for (int b = 0; b < 8; b++) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}

void meshota_stream_reset(meshota_stream_rx_t *rx)
{
    rx->have = 0;
    rx->need = 0;
    rx->status = MESHOTA_STREAM_OK;
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

meshota_err_t meshota_stream_feed(meshota_stream_rx_t *rx, const uint8_t *data, size_t len,
                                  meshota_stream_frame_cb cb, void *arg)
{
    if (rx == NULL || cb == NULL || (data == NULL && len > 0)) {
        return MESHOTA_ERR_INVALID_ARG;
    }
    if (rx->status != MESHOTA_STREAM_OK) {
        return MESHOTA_ERR_FRAME;
    }
    while (len > 0) {
        /* Until the 2-byte length is in, the frame size is unknown. */
        size_t want = rx->need != 0 ? rx->need : 2;
        size_t take = want - rx->have;
        if (take > len) {
            take = len;
        }
        memcpy(&rx->buf[rx->have], data, take);
        rx->have += take;
        data += take;
        len -= take;
        if (rx->have < want) {
            break;
        }
        if (rx->need == 0) {
            size_t payload = (size_t)rx->buf[0] | ((size_t)rx->buf[1] << 8);
            if (payload == 0 || payload > MESHOTA_STREAM_MAX_PAYLOAD) {
                rx->status = MESHOTA_STREAM_BAD_LENGTH;
                return MESHOTA_ERR_FRAME;
            }
            rx->need = payload + MESHOTA_STREAM_OVERHEAD;
            continue;
        }
        size_t payload = rx->need - MESHOTA_STREAM_OVERHEAD;
        if (meshota_crc32(0, &rx->buf[2], payload) != get_le32(&rx->buf[2 + payload])) {
            rx->status = MESHOTA_STREAM_BAD_CRC;
            return MESHOTA_ERR_FRAME;
        }
        rx->have = 0;
        rx->need = 0;
        if (cb(arg, &rx->buf[2], payload) != 0) {
            return MESHOTA_OK;
        }
    }
    return MESHOTA_OK;
}

size_t meshota_stream_encode(const uint8_t *frame, size_t len, uint8_t *out, size_t out_size)
{
    if (len == 0 || len > MESHOTA_STREAM_MAX_PAYLOAD || out_size < len + MESHOTA_STREAM_OVERHEAD) {
        return 0;
    }
    uint32_t crc = meshota_crc32(0, frame, len);
    out[0] = (uint8_t)len;
    out[1] = (uint8_t)(len >> 8);
    memmove(&out[2], frame, len);
    for (int i = 0; i < 4; i++) {
        out[2 + len + (size_t)i] = (uint8_t)(crc >> (8 * i));
    }
    return len + MESHOTA_STREAM_OVERHEAD;
}
