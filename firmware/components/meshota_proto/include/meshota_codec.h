/**
 * @file meshota_codec.h
 * @brief Encode and decode meshota messages with the same verdicts as @meshota/proto.
 *
 * nanopb alone accepts strings that are not UTF-8; the TypeScript decoder rejects them.
 * meshota_decode() adds that check so both sides refuse the same bytes.
 */
#ifndef MESHOTA_CODEC_H
#define MESHOTA_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pb.h>

#include "meshota_opcodes.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One vendor message of the meshota model. */
typedef struct {
    uint8_t opcode;            /**< 6-bit vendor opcode. */
    const char *name;          /**< Message name, such as "UpdateStart". */
    const pb_msgdesc_t *fields; /**< nanopb descriptor. */
    size_t struct_size;        /**< sizeof the nanopb struct. */
    size_t max_size;           /**< nanopb worst-case encoded size. */
    uint8_t budget;            /**< MESHOTA_BUDGET_*. */
} meshota_vendor_msg_t;

/** @return the table entry of @p opcode, or NULL when it is not a meshota message. */
const meshota_vendor_msg_t *meshota_vendor_by_opcode(uint8_t opcode);

/** @return the table entry named @p name ("UpdateStart"), or NULL. */
const meshota_vendor_msg_t *meshota_vendor_by_name(const char *name);

/** @return number of entries in the vendor table; entries are meshota_vendor_at(0..n-1). */
size_t meshota_vendor_count(void);

/** @return entry @p i of the vendor table (ordered by opcode), or NULL past the end. */
const meshota_vendor_msg_t *meshota_vendor_at(size_t i);

/**
 * @brief Decode @p len bytes into @p dest (a nanopb struct of @p fields).
 *
 * @return true on success. false when the bytes are malformed, a field is over its bound,
 *         or a string is not valid UTF-8; @p error (may be NULL) then names the reason.
 */
bool meshota_decode(const pb_msgdesc_t *fields, void *dest, const uint8_t *buf, size_t len,
                    const char **error);

/**
 * @brief Encode @p src (a nanopb struct of @p fields) into @p buf.
 *
 * @return true on success with the length in @p out_len; false when @p buf is too small
 *         or a field is out of bounds, with the reason in @p error (may be NULL).
 */
bool meshota_encode(const pb_msgdesc_t *fields, const void *src, uint8_t *buf, size_t buf_size,
                    size_t *out_len, const char **error);

/** @return true when @p s (NUL-terminated) is well-formed UTF-8 (no overlongs, no surrogates). */
bool meshota_utf8_valid(const char *s);

/**
 * @brief Write the 3-octet vendor opcode of @p opcode for @p company_id into @p out.
 * On air: 0xC0 | opcode, company ID low byte, company ID high byte.
 */
void meshota_vendor_opcode_bytes(uint8_t opcode, uint16_t company_id, uint8_t out[3]);

#ifdef __cplusplus
}
#endif

#endif /* MESHOTA_CODEC_H */
