/**
 * @file meshota_gwlink.h
 * @brief The gateway link: host tools <-> meshota gateway over one TCP connection.
 *
 * The gateway carries meshota vendor messages between the host tools (@meshota/transport-tcp)
 * and the mesh, through its meshota client model. Every link message travels in the stream
 * framing of meshota_stream.h ([u16 LE length][payload][u32 LE CRC-32]); the payload starts
 * with a type byte. All integers are little-endian.
 *
 * | type | direction | payload after the type byte |
 * |---|---|---|
 * | 0x01 HELLO | gateway -> host | u8 link version (1), u16 company ID, u16 own primary address (0 while unprovisioned), u16 largest parameter block (377) |
 * | 0x02 SEND | host -> gateway | u16 tag, u16 destination, u8 TTL (0xFF: the node's default), u8 6-bit opcode, parameters |
 * | 0x03 SEND_RESULT | gateway -> host | u16 tag, u8 status (meshota_gwlink_status_t) |
 * | 0x04 RECV | gateway -> host | u16 source, u16 destination, i8 RSSI, u8 6-bit opcode, parameters |
 *
 * The gateway sends HELLO once per connection, then answers every SEND with exactly one
 * SEND_RESULT carrying the same tag. Results of accepted SENDs come in the order of the SENDs;
 * a refused SEND is answered at once and may overtake them, so match results by tag. RECV is
 * sent for every meshota vendor message the client model receives. A frame with a bad length
 * or CRC closes the connection; a well-framed message of an unknown type is ignored. The same
 * rules, with a framed example, are in docs/protocol.md ("TCP control link").
 *
 * This file is portable C (no ESP-IDF headers): it is compiled and tested on the host.
 */
#ifndef MESHOTA_GWLINK_H
#define MESHOTA_GWLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Version carried in HELLO; bumped on any incompatible change. */
#define MESHOTA_GWLINK_VERSION 1

/** Link message types (first payload byte). */
typedef enum {
    MESHOTA_GWLINK_HELLO = 0x01,
    MESHOTA_GWLINK_SEND = 0x02,
    MESHOTA_GWLINK_SEND_RESULT = 0x03,
    MESHOTA_GWLINK_RECV = 0x04,
} meshota_gwlink_type_t;

/** Status of one SEND. */
typedef enum {
    MESHOTA_GWLINK_OK = 0,         /**< The mesh stack accepted and sent the message. */
    MESHOTA_GWLINK_REFUSED = 1,    /**< Malformed SEND, unknown opcode, oversize parameters,
                                        or an unassigned destination. */
    MESHOTA_GWLINK_MESH_ERROR = 2, /**< The mesh stack refused or failed the send. */
    MESHOTA_GWLINK_NOT_READY = 3,  /**< The gateway is not provisioned or has no AppKey bound
                                        to its client model. */
    MESHOTA_GWLINK_BUSY = 4,       /**< Too many sends are waiting for their result. */
} meshota_gwlink_status_t;

/** Bytes of a SEND payload before the parameters (type, tag, dst, ttl, opcode). */
#define MESHOTA_GWLINK_SEND_HEADER 7
/** Bytes of a RECV payload before the parameters (type, src, dst, rssi, opcode). */
#define MESHOTA_GWLINK_RECV_HEADER 7
/** Largest framed link message the gateway writes (a RECV with 377 parameter bytes). */
#define MESHOTA_GWLINK_MAX_FRAME (6 + MESHOTA_GWLINK_RECV_HEADER + 377)

/** A parsed SEND. @c params points into the parsed payload. */
typedef struct {
    uint16_t tag;          /**< Echoed in SEND_RESULT. */
    uint16_t dst;          /**< Mesh destination: unicast, group or virtual. */
    uint8_t ttl;           /**< 0..127, or 0xFF for the default TTL. */
    uint8_t opcode;        /**< 6-bit meshota opcode. */
    const uint8_t *params; /**< Parameters (may be NULL when len is 0). */
    size_t len;            /**< Parameter bytes. */
} meshota_gwlink_send_t;

/**
 * @brief Parse and check one SEND payload (the bytes inside one stream frame).
 *
 * The tag is filled whenever at least 3 bytes are present, so a refused SEND can still be
 * answered with its own tag.
 * @return MESHOTA_GWLINK_OK, or MESHOTA_GWLINK_REFUSED when the payload is not a SEND, is
 *         shorter than its header, names an opcode that is not a meshota message, carries
 *         more than 377 parameter bytes, has destination 0x0000, or a TTL in 0x80..0xFE.
 */
meshota_gwlink_status_t meshota_gwlink_parse_send(const uint8_t *payload, size_t len,
                                                  meshota_gwlink_send_t *out);

/** Frame a HELLO into @p out. @return framed bytes, 0 when @p cap is too small. */
size_t meshota_gwlink_hello(uint8_t *out, size_t cap, uint16_t company_id, uint16_t own_addr);

/** Frame a SEND_RESULT into @p out. @return framed bytes, 0 when @p cap is too small. */
size_t meshota_gwlink_send_result(uint8_t *out, size_t cap, uint16_t tag,
                                  meshota_gwlink_status_t status);

/**
 * @brief Frame a RECV into @p out.
 * @return framed bytes; 0 when @p len exceeds 377 or @p cap is too small.
 */
size_t meshota_gwlink_recv(uint8_t *out, size_t cap, uint16_t src, uint16_t dst, int8_t rssi,
                           uint8_t opcode, const uint8_t *params, size_t len);

/** Sends waiting for their SEND_RESULT, in the order the mesh stack reports them. */
#define MESHOTA_GWLINK_FIFO_DEPTH 8
typedef struct {
    uint16_t tags[MESHOTA_GWLINK_FIFO_DEPTH];
    uint8_t head;  /**< Index of the oldest tag. */
    uint8_t count; /**< Tags held. */
} meshota_gwlink_fifo_t;

/** Empty @p f. */
void meshota_gwlink_fifo_reset(meshota_gwlink_fifo_t *f);
/** Append @p tag. @return false when the FIFO is full (answer MESHOTA_GWLINK_BUSY). */
bool meshota_gwlink_fifo_push(meshota_gwlink_fifo_t *f, uint16_t tag);
/** Take the oldest tag into @p tag. @return false when empty. */
bool meshota_gwlink_fifo_pop(meshota_gwlink_fifo_t *f, uint16_t *tag);
/** Take back the newest tag (its send failed before reaching the mesh stack).
 *  @return false when empty. */
bool meshota_gwlink_fifo_unpush(meshota_gwlink_fifo_t *f, uint16_t *tag);

#ifdef __cplusplus
}
#endif

#endif /* MESHOTA_GWLINK_H */
