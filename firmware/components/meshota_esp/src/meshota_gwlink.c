/* Gateway link messages (see meshota_gwlink.h). Portable: built for the device and the host. */
#include "meshota_gwlink.h"

#include <string.h>

#include "meshota_codec.h"
#include "meshota_core/meshota_stream.h"
#include "meshota_opcodes.h"

_Static_assert(MESHOTA_GWLINK_RECV_HEADER + MESHOTA_SEGMENTED_PARAMS_MAX <=
                   MESHOTA_STREAM_MAX_PAYLOAD,
               "a RECV with the largest parameter block must fit one stream frame");
_Static_assert(MESHOTA_GWLINK_MAX_FRAME ==
                   MESHOTA_STREAM_OVERHEAD + MESHOTA_GWLINK_RECV_HEADER +
                       MESHOTA_SEGMENTED_PARAMS_MAX,
               "MESHOTA_GWLINK_MAX_FRAME must follow the segmented parameter limit");

static uint16_t get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}

meshota_gwlink_status_t meshota_gwlink_parse_send(const uint8_t *payload, size_t len,
                                                  meshota_gwlink_send_t *out)
{
    if (out == NULL) {
        return MESHOTA_GWLINK_REFUSED;
    }
    memset(out, 0, sizeof(*out));
    if (payload == NULL || len < 1 || payload[0] != MESHOTA_GWLINK_SEND) {
        return MESHOTA_GWLINK_REFUSED;
    }
    if (len >= 3) {
        out->tag = get_le16(&payload[1]);
    }
    if (len < MESHOTA_GWLINK_SEND_HEADER) {
        return MESHOTA_GWLINK_REFUSED;
    }
    out->dst = get_le16(&payload[3]);
    out->ttl = payload[5];
    out->opcode = payload[6];
    out->len = len - MESHOTA_GWLINK_SEND_HEADER;
    out->params = out->len > 0 ? &payload[MESHOTA_GWLINK_SEND_HEADER] : NULL;
    if (out->dst == 0x0000 || (out->ttl > 0x7F && out->ttl != 0xFF) ||
        out->len > MESHOTA_SEGMENTED_PARAMS_MAX || meshota_vendor_by_opcode(out->opcode) == NULL) {
        return MESHOTA_GWLINK_REFUSED;
    }
    return MESHOTA_GWLINK_OK;
}

static size_t frame(uint8_t *out, size_t cap, const uint8_t *payload, size_t len)
{
    return out == NULL ? 0 : meshota_stream_encode(payload, len, out, cap);
}

size_t meshota_gwlink_hello(uint8_t *out, size_t cap, uint16_t company_id, uint16_t own_addr)
{
    uint8_t p[8];
    p[0] = MESHOTA_GWLINK_HELLO;
    p[1] = MESHOTA_GWLINK_VERSION;
    put_le16(&p[2], company_id);
    put_le16(&p[4], own_addr);
    put_le16(&p[6], MESHOTA_SEGMENTED_PARAMS_MAX);
    return frame(out, cap, p, sizeof(p));
}

size_t meshota_gwlink_send_result(uint8_t *out, size_t cap, uint16_t tag,
                                  meshota_gwlink_status_t status)
{
    uint8_t p[4];
    p[0] = MESHOTA_GWLINK_SEND_RESULT;
    put_le16(&p[1], tag);
    p[3] = (uint8_t)status;
    return frame(out, cap, p, sizeof(p));
}

size_t meshota_gwlink_recv(uint8_t *out, size_t cap, uint16_t src, uint16_t dst, int8_t rssi,
                           uint8_t opcode, const uint8_t *params, size_t len)
{
    uint8_t p[MESHOTA_GWLINK_RECV_HEADER + MESHOTA_SEGMENTED_PARAMS_MAX];
    if (len > MESHOTA_SEGMENTED_PARAMS_MAX || (params == NULL && len > 0)) {
        return 0;
    }
    p[0] = MESHOTA_GWLINK_RECV;
    put_le16(&p[1], src);
    put_le16(&p[3], dst);
    p[5] = (uint8_t)rssi;
    p[6] = opcode;
    if (len > 0) {
        memcpy(&p[MESHOTA_GWLINK_RECV_HEADER], params, len);
    }
    return frame(out, cap, p, MESHOTA_GWLINK_RECV_HEADER + len);
}

void meshota_gwlink_fifo_reset(meshota_gwlink_fifo_t *f)
{
    f->head = 0;
    f->count = 0;
}

bool meshota_gwlink_fifo_push(meshota_gwlink_fifo_t *f, uint16_t tag)
{
    if (f->count >= MESHOTA_GWLINK_FIFO_DEPTH) {
        return false;
    }
    f->tags[(f->head + f->count) % MESHOTA_GWLINK_FIFO_DEPTH] = tag;
    f->count++;
    return true;
}

bool meshota_gwlink_fifo_pop(meshota_gwlink_fifo_t *f, uint16_t *tag)
{
    if (f->count == 0) {
        return false;
    }
    *tag = f->tags[f->head];
    f->head = (uint8_t)((f->head + 1u) % MESHOTA_GWLINK_FIFO_DEPTH);
    f->count--;
    return true;
}

bool meshota_gwlink_fifo_unpush(meshota_gwlink_fifo_t *f, uint16_t *tag)
{
    if (f->count == 0) {
        return false;
    }
    f->count--;
    *tag = f->tags[(f->head + f->count) % MESHOTA_GWLINK_FIFO_DEPTH];
    return true;
}
