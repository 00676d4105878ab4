/*
 * libFuzzer harness of the bridge core: arbitrary UART bytes, interleaved with radio
 * completions and receptions chosen by the input. Every byte the core writes must parse as
 * valid frames, and the queue accounting must stay within its bounds.
 * Build: CC=clang cmake -DMESHOTA_FUZZ=ON -DMESHOTA_SANITIZE=ON, target fuzz_bridge.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "meshota_bridge/meshota_bridge.h"

static meshota_bridge_t B;
static int s_in_flight;

static void check_output(const uint8_t *data, size_t len)
{
    static uint8_t body[MESHOTA_BRIDGE_ENCODED_MAX];
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (data[i] != 0) {
            continue;
        }
        if (i == start) {
            start = i + 1; /* The leading delimiter. */
            continue;
        }
        int dl = meshota_bridge_cobs_decode(data + start, i - start, body);
        if (dl < 4 || dl > MESHOTA_BRIDGE_BODY_MAX) {
            abort();
        }
        uint16_t crc = (uint16_t)(body[dl - 2] | (body[dl - 1] << 8));
        if (meshota_bridge_crc16(body, (size_t)dl - 2) != crc || body[0] < 0x81 || body[0] > 0x84) {
            abort();
        }
        start = i + 1;
    }
    if (start != len) {
        abort(); /* Every write is whole frames. */
    }
}

static void f_uart_write(void *ctx, const uint8_t *data, size_t len)
{
    (void)ctx;
    check_output(data, len);
}

static bool f_radio_send(void *ctx, const uint8_t mac[6], const uint8_t *data, size_t len)
{
    (void)ctx;
    (void)mac;
    if (len == 0 || len > B.cfg.max_payload || s_in_flight != 0) {
        abort(); /* One frame at a time, within the announced size. */
    }
    (void)data;
    s_in_flight = 1;
    return true;
}

static bool f_set_channel(void *ctx, uint8_t channel)
{
    (void)ctx;
    return channel != 13;
}

static const meshota_bridge_port_t PORT = {
    .uart_write = f_uart_write, .radio_send = f_radio_send, .radio_set_channel = f_set_channel};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const meshota_bridge_config_t cfg = {
        .mac = {2, 0, 0, 0, 0, 1}, .channel = 1, .espnow_version = 1, .max_payload = 250};
    if (!meshota_bridge_init(&B, &PORT, &cfg)) {
        abort();
    }
    s_in_flight = 0;
    /* Input: chunks of [op u8][len u8][bytes]; op picks UART bytes, a completion or a reception. */
    size_t i = 0;
    while (i + 2 <= size) {
        uint8_t op = data[i];
        size_t n = data[i + 1];
        i += 2;
        if (n > size - i) {
            n = size - i;
        }
        switch (op % 5) {
        case 0:
            meshota_bridge_uart_rx(&B, data + i, n);
            break;
        case 1: {
            /* The bytes as a well-formed frame body, so commands get executed. */
            static uint8_t body[260];
            static uint8_t wire[270];
            memcpy(body, data + i, n);
            uint16_t crc = meshota_bridge_crc16(body, n);
            body[n] = (uint8_t)(crc & 0xff);
            body[n + 1] = (uint8_t)(crc >> 8);
            size_t w = meshota_bridge_cobs_encode(body, n + 2, wire);
            wire[w++] = 0;
            meshota_bridge_uart_rx(&B, wire, w);
            break;
        }
        case 2:
            if (s_in_flight) {
                s_in_flight = 0;
                meshota_bridge_on_sent(&B, (meshota_bridge_sent_t)(op >> 2) % 3);
            }
            break;
        case 3:
        case 4:
            if (n >= 6) {
                meshota_bridge_on_recv(&B, data + i, (int8_t)op, data + i + 6 - (n == 6), n - 6 + (n == 6));
            }
            break;
        }
        if (B.q_count > MESHOTA_BRIDGE_TX_SLOTS) {
            abort();
        }
        i += n;
    }
    return 0;
}
