/**
 * @file meshota_bridge.h
 * @brief The UART <-> ESP-NOW bridge dongle: the portable protocol core.
 *
 * The host (the @meshota/transport-espnow distributor) talks to the dongle over a UART with the
 * ESP-NOW bridge protocol, version 1 (docs/protocol.md, "ESP-NOW bridge protocol"): COBS frames
 * ended by 0x00, a CRC-16/CCITT-FALSE on each, sequence numbers with acknowledgement and
 * duplicate suppression, credit-based flow control (free transmit slots in every ACK and SENT)
 * and a HELLO handshake announcing the protocol version, ESP-NOW version and payload size.
 *
 * The core has no global state and no heap: a meshota_bridge_t holds the receive buffer and the
 * transmit queue. The platform drives it from one thread:
 * - meshota_bridge_uart_rx() with bytes from the UART (any split),
 * - meshota_bridge_on_recv() for every ESP-NOW frame received,
 * - meshota_bridge_on_sent() when the radio finished the frame handed to radio_send.
 * Calls from radio callbacks must be moved to that thread first (see port/esp_idf).
 */
#ifndef MESHOTA_BRIDGE_H
#define MESHOTA_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Protocol version spoken by this core. */
#define MESHOTA_BRIDGE_PROTOCOL_VERSION 1

/** Transmit queue depth: frames accepted from the host and not yet finished by the radio. */
#ifndef MESHOTA_BRIDGE_TX_SLOTS
#define MESHOTA_BRIDGE_TX_SLOTS 8
#endif

/** Largest ESP-NOW payload (ESP-NOW v2). */
#define MESHOTA_BRIDGE_PAYLOAD_MAX 1470
/** Largest frame body, CRC included (same bound as the host). */
#define MESHOTA_BRIDGE_BODY_MAX 1500
/** Largest COBS encoding of a body, delimiter excluded. */
#define MESHOTA_BRIDGE_ENCODED_MAX (MESHOTA_BRIDGE_BODY_MAX + (MESHOTA_BRIDGE_BODY_MAX + 253) / 254 + 1)

#ifndef __cplusplus
_Static_assert(2 + 6 + 1 + MESHOTA_BRIDGE_PAYLOAD_MAX + 2 <= MESHOTA_BRIDGE_BODY_MAX,
               "a RECV of the largest payload must fit one frame");
_Static_assert(MESHOTA_BRIDGE_TX_SLOTS >= 1 && MESHOTA_BRIDGE_TX_SLOTS <= 64,
               "the transmit queue holds 1-64 frames");
#endif /* __cplusplus */

/** Message types (host -> dongle 0x01-0x7F, dongle -> host 0x80-0xFF). */
enum {
    MESHOTA_BRIDGE_HELLO = 0x01,       /**< version u8 */
    MESHOTA_BRIDGE_SET_CHANNEL = 0x02, /**< channel u8 */
    MESHOTA_BRIDGE_SEND = 0x03,        /**< dst mac[6] | payload */
    MESHOTA_BRIDGE_HELLO_ACK = 0x81,   /**< version | espnow_version | max_payload u16 | mac[6] |
                                            channel | tx_slots | acked_seq */
    MESHOTA_BRIDGE_ACK = 0x82,         /**< acked_seq | status | free_slots */
    MESHOTA_BRIDGE_SENT = 0x83,        /**< send_seq | outcome | free_slots */
    MESHOTA_BRIDGE_RECV = 0x84,        /**< src mac[6] | rssi i8 | payload */
};

/** ACK status codes. */
typedef enum {
    MESHOTA_BRIDGE_ACK_OK = 0,          /**< Done (SEND: queued). */
    MESHOTA_BRIDGE_ACK_BUSY = 1,        /**< Transmit queue full. */
    MESHOTA_BRIDGE_ACK_BAD_LENGTH = 2,  /**< Payload empty or over max_payload. */
    MESHOTA_BRIDGE_ACK_BAD_CHANNEL = 3, /**< Channel outside 1-14 or refused by the radio. */
    MESHOTA_BRIDGE_ACK_UNKNOWN = 4,     /**< Unknown type, or fields too short. */
    MESHOTA_BRIDGE_ACK_NO_SESSION = 5,  /**< No HELLO since start-up (the dongle restarted):
                                             nothing was done; HELLO, set the channel again,
                                             then repeat the command. */
} meshota_bridge_ack_t;

/** What became of a frame handed to the radio. */
typedef enum {
    MESHOTA_BRIDGE_SENT_OK = 0,     /**< Broadcast on air, or unicast acknowledged. */
    MESHOTA_BRIDGE_SENT_NO_ACK = 1, /**< Unicast not acknowledged by the peer. */
    MESHOTA_BRIDGE_SENT_FAILED = 2, /**< The radio refused it. */
} meshota_bridge_sent_t;

/** What the core needs from the platform. */
typedef struct {
    void *ctx; /**< First argument of every function below. */
    /** Write all of @p data to the UART. */
    void (*uart_write)(void *ctx, const uint8_t *data, size_t len);
    /**
     * Start sending @p len bytes to @p mac (ff:ff:ff:ff:ff:ff broadcasts). Return true when the
     * radio took the frame: meshota_bridge_on_sent() follows, possibly from inside this call.
     * Return false when it refused it at once (no callback follows).
     */
    bool (*radio_send)(void *ctx, const uint8_t mac[6], const uint8_t *data, size_t len);
    /** Tune the radio to @p channel (1-14); false when refused. */
    bool (*radio_set_channel)(void *ctx, uint8_t channel);
} meshota_bridge_port_t;

/** Static facts announced in HELLO_ACK. */
typedef struct {
    uint8_t mac[6];        /**< The dongle's station MAC. */
    uint8_t channel;       /**< Channel at start (1-14). */
    uint8_t espnow_version; /**< 1 or 2. */
    uint16_t max_payload;  /**< 250 for v1, up to 1470 for v2. */
} meshota_bridge_config_t;

/** Counters, for logs and tests. */
typedef struct {
    uint32_t crc_errors;   /**< Frames dropped for a bad CRC. */
    uint32_t malformed;    /**< Frames dropped: bad COBS, too short, too long. */
    uint32_t duplicates;   /**< Commands seen again (re-acknowledged, not executed). */
    uint32_t tx_ok;        /**< Frames the radio sent (SENT_OK). */
    uint32_t tx_failed;    /**< Frames the radio refused or that were not acknowledged. */
    uint32_t rx_frames;    /**< ESP-NOW frames passed to the host. */
    uint32_t rx_dropped;   /**< ESP-NOW frames too large to pass on. */
} meshota_bridge_stats_t;

/** One queued transmit frame. @private */
typedef struct {
    uint8_t seq;
    uint8_t mac[6];
    uint16_t len;
    uint8_t data[MESHOTA_BRIDGE_PAYLOAD_MAX];
} meshota_bridge_slot_t;

/** The bridge. All fields are private. About 16.5 KB with the default 8 slots; declare it
 *  statically. */
typedef struct {
    const meshota_bridge_port_t *port;
    meshota_bridge_config_t cfg;
    meshota_bridge_stats_t stats;
    uint8_t rx[MESHOTA_BRIDGE_ENCODED_MAX];
    size_t rx_len;
    bool rx_overflow;
    bool session;          /**< A HELLO came since start-up. */
    bool have_last;        /**< A command was executed since HELLO. */
    uint8_t last_seq;      /**< Sequence number of that command. */
    uint8_t last_reply[16]; /**< Fields of its reply, sent again for a duplicate. */
    uint8_t last_reply_type;
    uint8_t last_reply_len;
    uint8_t tx_seq;        /**< Next sequence number of a dongle frame. */
    uint8_t q_head;
    uint8_t q_count;
    bool in_flight;        /**< The head slot is with the radio. */
    meshota_bridge_slot_t q[MESHOTA_BRIDGE_TX_SLOTS];
    uint8_t out[MESHOTA_BRIDGE_ENCODED_MAX + 2];
    uint8_t body[MESHOTA_BRIDGE_BODY_MAX];
} meshota_bridge_t;

/**
 * @brief Initialise @p b. @p port and the config are copied or kept by pointer (port: kept).
 * @return true, or false when an argument is invalid (NULL function, channel outside 1-14,
 *         max_payload outside 1-1470, espnow_version not 1 or 2).
 */
bool meshota_bridge_init(meshota_bridge_t *b, const meshota_bridge_port_t *port,
                         const meshota_bridge_config_t *cfg);

/** Feed bytes received on the UART. */
void meshota_bridge_uart_rx(meshota_bridge_t *b, const uint8_t *data, size_t len);

/** An ESP-NOW frame arrived from @p mac with @p rssi (dBm). */
void meshota_bridge_on_recv(meshota_bridge_t *b, const uint8_t mac[6], int8_t rssi,
                            const uint8_t *data, size_t len);

/** The radio finished the frame of the last radio_send() with @p outcome. */
void meshota_bridge_on_sent(meshota_bridge_t *b, meshota_bridge_sent_t outcome);

/** @return the counters. */
const meshota_bridge_stats_t *meshota_bridge_stats(const meshota_bridge_t *b);

/** CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF); "123456789" gives 0x29B1. */
uint16_t meshota_bridge_crc16(const uint8_t *data, size_t len);

/**
 * COBS-encode @p len bytes into @p out (room for len + len / 254 + 1 bytes).
 * @return the encoded length (no delimiter is written).
 */
size_t meshota_bridge_cobs_encode(const uint8_t *data, size_t len, uint8_t *out);

/**
 * Decode one COBS block (no delimiter) into @p out (room for @p len bytes).
 * @return the decoded length, or -1 when the block is not valid COBS.
 */
int meshota_bridge_cobs_decode(const uint8_t *data, size_t len, uint8_t *out);

#ifdef __cplusplus
}
#endif

#endif /* MESHOTA_BRIDGE_H */
