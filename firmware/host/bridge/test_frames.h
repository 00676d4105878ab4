/* Test helpers: build host frames and parse dongle frames the way the host end does. */
#ifndef TEST_FRAMES_H
#define TEST_FRAMES_H

#include <stdint.h>
#include <string.h>

#include "meshota_bridge/meshota_bridge.h"

/* Wire bytes of a host frame; returns their length. */
static inline size_t host_wire(uint8_t type, uint8_t seq, const uint8_t *fields, size_t n,
                               uint8_t *out)
{
    uint8_t body[MESHOTA_BRIDGE_BODY_MAX];
    body[0] = type;
    body[1] = seq;
    if (n > 0) {
        memcpy(body + 2, fields, n);
    }
    uint16_t crc = meshota_bridge_crc16(body, 2 + n);
    body[2 + n] = (uint8_t)(crc & 0xff);
    body[3 + n] = (uint8_t)(crc >> 8);
    size_t len = meshota_bridge_cobs_encode(body, 4 + n, out);
    out[len++] = 0;
    return len;
}

/* Split @p wire into frame bodies (CRC checked and removed). Returns the count, or -1. */
typedef struct {
    uint8_t body[MESHOTA_BRIDGE_BODY_MAX];
    size_t len;
} test_frame_t;

static inline int parse_wire(const uint8_t *wire, size_t len, test_frame_t *frames, int max)
{
    int count = 0;
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (wire[i] != 0) {
            continue;
        }
        if (i > start) {
            if (count >= max) {
                return -1;
            }
            int dl = meshota_bridge_cobs_decode(wire + start, i - start, frames[count].body);
            if (dl < 4) {
                return -1;
            }
            uint16_t crc = (uint16_t)(frames[count].body[dl - 2] | (frames[count].body[dl - 1] << 8));
            if (meshota_bridge_crc16(frames[count].body, (size_t)dl - 2) != crc) {
                return -1;
            }
            frames[count].len = (size_t)dl - 2;
            count++;
        }
        start = i + 1;
    }
    return count;
}

#endif /* TEST_FRAMES_H */
