/*
 * The bridge protocol core: framing, handshake, acknowledgement, duplicate suppression and the
 * transmit queue with its credits. docs/protocol.md ("ESP-NOW bridge protocol") is the
 * reference; packages/transport-espnow/src/bridge is the host end.
 */
#include "meshota_bridge/meshota_bridge.h"

#include <string.h>


uint16_t meshota_bridge_crc16(const uint8_t *data, size_t len)
{
    uint16_t crc = 0xffff;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (int bit = 0; bit < 8; bit++) {
            crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
        }
    }
    return crc;
}

size_t meshota_bridge_cobs_encode(const uint8_t *data, size_t len, uint8_t *out)
{
    size_t code_at = 0;
    size_t o = 1;
    uint8_t code = 1;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == 0) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
            continue;
        }
        out[o++] = data[i];
        code++;
        if (code == 0xff) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
        }
    }
    out[code_at] = code;
    return o;
}

int meshota_bridge_cobs_decode(const uint8_t *data, size_t len, uint8_t *out)
{
    size_t i = 0;
    size_t o = 0;
    while (i < len) {
        uint8_t code = data[i];
        if (code == 0 || i + code > len) {
            return -1;
        }
        for (uint8_t k = 1; k < code; k++) {
            if (data[i + k] == 0) {
                return -1;
            }
            out[o++] = data[i + k];
        }
        i += code;
        if (code != 0xff && i < len) {
            out[o++] = 0;
        }
    }
    return (int)o;
}

/* Send one dongle frame: body[0..len) gets the CRC, COBS and the delimiter. */
static void emit(meshota_bridge_t *b, uint8_t type, const uint8_t *f1, size_t n1, const uint8_t *f2,
                 size_t n2)
{
    uint8_t *body = b->body;
    size_t len = 2 + n1 + n2;
    if (len + 2 > sizeof(b->body)) {
        return; /* Callers bound their fields; kept as a last guard. */
    }
    body[0] = type;
    body[1] = b->tx_seq++;
    if (n1 > 0) {
        memcpy(body + 2, f1, n1);
    }
    if (n2 > 0) {
        memcpy(body + 2 + n1, f2, n2);
    }
    uint16_t crc = meshota_bridge_crc16(body, len);
    body[len++] = (uint8_t)(crc & 0xff);
    body[len++] = (uint8_t)(crc >> 8);
    /* A delimiter before the frame as well: bytes that are not ours on the line (a console log
     * line, noise at power-up) then end in a block of their own and cannot spoil this frame. */
    b->out[0] = 0;
    size_t n = 1 + meshota_bridge_cobs_encode(body, len, b->out + 1);
    b->out[n++] = 0;
    b->port->uart_write(b->port->ctx, b->out, n);
}

static uint8_t free_slots(const meshota_bridge_t *b)
{
    return (uint8_t)(MESHOTA_BRIDGE_TX_SLOTS - b->q_count);
}

/* Reply to the command with sequence @p seq and remember the reply for a duplicate. */
static void reply(meshota_bridge_t *b, uint8_t seq, uint8_t type, const uint8_t *fields, uint8_t n)
{
    b->have_last = true;
    b->last_seq = seq;
    b->last_reply_type = type;
    b->last_reply_len = n;
    memcpy(b->last_reply, fields, n);
    emit(b, type, fields, n, NULL, 0);
}

static void ack(meshota_bridge_t *b, uint8_t seq, meshota_bridge_ack_t status)
{
    uint8_t f[3] = {seq, (uint8_t)status, free_slots(b)};
    reply(b, seq, MESHOTA_BRIDGE_ACK, f, sizeof(f));
}

/* Hand the head of the queue to the radio when it is idle. */
static void kick(meshota_bridge_t *b)
{
    while (!b->in_flight && b->q_count > 0) {
        meshota_bridge_slot_t *s = &b->q[b->q_head];
        b->in_flight = true;
        if (b->port->radio_send(b->port->ctx, s->mac, s->data, s->len)) {
            return; /* meshota_bridge_on_sent() follows (it may already have run). */
        }
        b->in_flight = false;
        meshota_bridge_on_sent(b, MESHOTA_BRIDGE_SENT_FAILED);
    }
}

void meshota_bridge_on_sent(meshota_bridge_t *b, meshota_bridge_sent_t outcome)
{
    if (b == NULL || b->q_count == 0) {
        return; /* A completion nobody waits for. */
    }
    b->in_flight = false;
    meshota_bridge_slot_t *s = &b->q[b->q_head];
    uint8_t seq = s->seq;
    b->q_head = (uint8_t)((b->q_head + 1) % MESHOTA_BRIDGE_TX_SLOTS);
    b->q_count--;
    if (outcome == MESHOTA_BRIDGE_SENT_OK) {
        b->stats.tx_ok++;
    } else {
        b->stats.tx_failed++;
    }
    uint8_t f[3] = {seq, (uint8_t)outcome, free_slots(b)};
    emit(b, MESHOTA_BRIDGE_SENT, f, sizeof(f), NULL, 0);
    kick(b);
}

static void on_hello(meshota_bridge_t *b, uint8_t seq)
{
    /* A new host session: forget the old one's queue. A frame already with the radio stays
     * there; its completion is still reported (the host ignores an unknown sequence). */
    b->q_count = b->in_flight ? 1 : 0;
    b->session = true;
    const meshota_bridge_config_t *c = &b->cfg;
    uint8_t f[13];
    f[0] = MESHOTA_BRIDGE_PROTOCOL_VERSION;
    f[1] = c->espnow_version;
    f[2] = (uint8_t)(c->max_payload & 0xff);
    f[3] = (uint8_t)(c->max_payload >> 8);
    memcpy(f + 4, c->mac, 6);
    f[10] = c->channel;
    f[11] = MESHOTA_BRIDGE_TX_SLOTS;
    f[12] = seq;
    reply(b, seq, MESHOTA_BRIDGE_HELLO_ACK, f, sizeof(f));
}

static void on_send(meshota_bridge_t *b, uint8_t seq, const uint8_t *f, size_t n)
{
    if (n < 6) {
        ack(b, seq, MESHOTA_BRIDGE_ACK_UNKNOWN);
        return;
    }
    size_t plen = n - 6;
    if (plen == 0 || plen > b->cfg.max_payload) {
        ack(b, seq, MESHOTA_BRIDGE_ACK_BAD_LENGTH);
        return;
    }
    if (b->q_count >= MESHOTA_BRIDGE_TX_SLOTS) {
        ack(b, seq, MESHOTA_BRIDGE_ACK_BUSY);
        return;
    }
    meshota_bridge_slot_t *s = &b->q[(b->q_head + b->q_count) % MESHOTA_BRIDGE_TX_SLOTS];
    s->seq = seq;
    memcpy(s->mac, f, 6);
    s->len = (uint16_t)plen;
    memcpy(s->data, f + 6, plen);
    b->q_count++;
    /* The ACK goes out before the radio can complete, so the host sees ACK before SENT. */
    ack(b, seq, MESHOTA_BRIDGE_ACK_OK);
    kick(b);
}

static void on_frame(meshota_bridge_t *b, const uint8_t *body, size_t len)
{
    uint8_t type = body[0];
    uint8_t seq = body[1];
    const uint8_t *f = body + 2;
    size_t n = len - 2;
    if (type == MESHOTA_BRIDGE_HELLO) {
        on_hello(b, seq);
        return;
    }
    if (b->have_last && seq == b->last_seq) {
        /* The host did not get our answer and sent the command again: answer, do not redo.
         * free_slots is of now, not of the first answer: slots freed since then were reported
         * in SENT frames the host may already have read, and a stale count would have it wait
         * for a SENT that never comes. */
        b->stats.duplicates++;
        if (b->last_reply_type == MESHOTA_BRIDGE_ACK) {
            b->last_reply[2] = free_slots(b);
        }
        emit(b, b->last_reply_type, b->last_reply, b->last_reply_len, NULL, 0);
        return;
    }
    if (!b->session) {
        /* Commands of a host that spoke to this dongle before it restarted: its channel and
         * queue are gone, so executing them would put frames on the start-up channel unseen.
         * Refuse them until the host says HELLO again. */
        ack(b, seq, MESHOTA_BRIDGE_ACK_NO_SESSION);
        return;
    }
    switch (type) {
    case MESHOTA_BRIDGE_SET_CHANNEL:
        if (n < 1 || f[0] < 1 || f[0] > 14 ||
            !b->port->radio_set_channel(b->port->ctx, f[0])) {
            ack(b, seq, n < 1 ? MESHOTA_BRIDGE_ACK_UNKNOWN : MESHOTA_BRIDGE_ACK_BAD_CHANNEL);
            return;
        }
        b->cfg.channel = f[0];
        ack(b, seq, MESHOTA_BRIDGE_ACK_OK);
        return;
    case MESHOTA_BRIDGE_SEND:
        on_send(b, seq, f, n);
        return;
    default:
        ack(b, seq, MESHOTA_BRIDGE_ACK_UNKNOWN);
        return;
    }
}

void meshota_bridge_uart_rx(meshota_bridge_t *b, const uint8_t *data, size_t len)
{
    if (b == NULL || (data == NULL && len > 0)) {
        return;
    }
    for (size_t i = 0; i < len; i++) {
        uint8_t byte = data[i];
        if (byte != 0) {
            if (b->rx_len < sizeof(b->rx)) {
                b->rx[b->rx_len++] = byte;
            } else {
                b->rx_overflow = true;
            }
            continue;
        }
        size_t n = b->rx_len;
        bool overflow = b->rx_overflow;
        b->rx_len = 0;
        b->rx_overflow = false;
        if (n == 0) {
            continue; /* Idle delimiters. */
        }
        if (overflow) {
            b->stats.malformed++;
            continue;
        }
        /* Decode in place: COBS output is never longer than its input. */
        int dl = meshota_bridge_cobs_decode(b->rx, n, b->rx);
        if (dl < 4 || (size_t)dl > MESHOTA_BRIDGE_BODY_MAX) {
            b->stats.malformed++;
            continue;
        }
        size_t body_len = (size_t)dl - 2;
        uint16_t crc = (uint16_t)(b->rx[body_len] | (b->rx[body_len + 1] << 8));
        if (meshota_bridge_crc16(b->rx, body_len) != crc) {
            b->stats.crc_errors++;
            continue;
        }
        on_frame(b, b->rx, body_len);
    }
}

void meshota_bridge_on_recv(meshota_bridge_t *b, const uint8_t mac[6], int8_t rssi,
                            const uint8_t *data, size_t len)
{
    if (b == NULL || mac == NULL || data == NULL || len == 0) {
        return;
    }
    if (len > MESHOTA_BRIDGE_PAYLOAD_MAX) {
        b->stats.rx_dropped++;
        return;
    }
    uint8_t head[7];
    memcpy(head, mac, 6);
    head[6] = (uint8_t)rssi;
    b->stats.rx_frames++;
    emit(b, MESHOTA_BRIDGE_RECV, head, sizeof(head), data, len);
}

bool meshota_bridge_init(meshota_bridge_t *b, const meshota_bridge_port_t *port,
                         const meshota_bridge_config_t *cfg)
{
    if (b == NULL || port == NULL || cfg == NULL || port->uart_write == NULL ||
        port->radio_send == NULL || port->radio_set_channel == NULL || cfg->channel < 1 ||
        cfg->channel > 14 || cfg->max_payload < 1 ||
        cfg->max_payload > MESHOTA_BRIDGE_PAYLOAD_MAX ||
        (cfg->espnow_version != 1 && cfg->espnow_version != 2)) {
        return false;
    }
    memset(b, 0, sizeof(*b));
    b->port = port;
    b->cfg = *cfg;
    return true;
}

const meshota_bridge_stats_t *meshota_bridge_stats(const meshota_bridge_t *b)
{
    return &b->stats;
}
