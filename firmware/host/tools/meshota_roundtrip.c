/*
 * meshota_roundtrip: the C side of the cross-language tests.
 *
 * Reads lines "<MessageName> <hex>" on stdin. For each, decodes the bytes with the firmware's
 * decoder, encodes the result again and prints "ok <hex>", or "err <reason>" when the bytes
 * are refused. An empty hex field stands for an empty message ("UpdateGet -").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meshota_codec.h"

#define MAX_MESSAGE 2048

static int hex_value(char c)
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

/* Returns the number of bytes, or -1 when @p hex is not an even run of hex digits. */
static long parse_hex(const char *hex, uint8_t *out, size_t out_size)
{
    size_t n = strlen(hex);
    if (n == 1 && hex[0] == '-') {
        return 0;
    }
    if (n % 2 != 0 || n / 2 > out_size) {
        return -1;
    }
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_value(hex[2 * i]);
        int lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return -1;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return (long)(n / 2);
}

int main(void)
{
    static char line[2 * MAX_MESSAGE + 128];
    static uint8_t in[MAX_MESSAGE];
    static uint8_t out[MAX_MESSAGE];
    /* Large enough and aligned for any meshota nanopb struct. */
    static union {
        long double align;
        uint8_t bytes[8192];
    } msg;

    while (fgets(line, sizeof(line), stdin) != NULL) {
        char *name = strtok(line, " \t\r\n");
        char *hex = strtok(NULL, " \t\r\n");
        if (name == NULL || hex == NULL) {
            printf("err usage: <MessageName> <hex>\n");
            fflush(stdout);
            continue;
        }
        const meshota_vendor_msg_t *entry = meshota_vendor_by_name(name);
        long len = parse_hex(hex, in, sizeof(in));
        const char *error = NULL;
        size_t out_len = 0;
        if (entry == NULL) {
            printf("err unknown message %s\n", name);
        } else if (len < 0) {
            printf("err bad hex\n");
        } else if (entry->struct_size > sizeof(msg.bytes)) {
            printf("err struct too large\n");
        } else if (memset(msg.bytes, 0, entry->struct_size),
                   !meshota_decode(entry->fields, msg.bytes, in, (size_t)len, &error)) {
            printf("err %s\n", error);
        } else if (!meshota_encode(entry->fields, msg.bytes, out, sizeof(out), &out_len, &error)) {
            printf("err encode: %s\n", error);
        } else {
            printf("ok ");
            for (size_t i = 0; i < out_len; i++) {
                printf("%02x", out[i]);
            }
            printf(out_len == 0 ? "-\n" : "\n");
        }
        fflush(stdout);
    }
    return 0;
}
