/**
 * @file meshota_stream.h
 * @brief Stream framing of DataFrames on byte streams (TCP; docs/protocol.md "Stream framing").
 *
 * Each frame is [u16 LE length][DataFrame bytes][u32 LE CRC-32 of the DataFrame bytes], with
 * 1 <= length <= meshota_v1_DataFrame_size and CRC-32 as in zlib (IEEE, reflected, 0xEDB88320).
 * The reassembler takes bytes as they arrive, split or coalesced in any way, and hands out whole
 * frames. A bad length or CRC is fatal for the connection: the reassembler stays failed.
 */
#ifndef MESHOTA_STREAM_H
#define MESHOTA_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "meshota/v1/data.pb.h"
#include "meshota_core/meshota_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Bytes a frame adds around the DataFrame: length prefix and CRC trailer. */
#define MESHOTA_STREAM_OVERHEAD 6
/** Largest DataFrame a stream frame may carry. */
#define MESHOTA_STREAM_MAX_PAYLOAD meshota_v1_DataFrame_size

/** Why a stream failed. */
typedef enum {
    MESHOTA_STREAM_OK = 0,
    MESHOTA_STREAM_BAD_LENGTH = 1, /**< Length 0 or above MESHOTA_STREAM_MAX_PAYLOAD. */
    MESHOTA_STREAM_BAD_CRC = 2,    /**< CRC trailer does not match the DataFrame bytes. */
} meshota_stream_status_t;

/** Reassembler state; zero it with meshota_stream_reset(). */
typedef struct {
    uint8_t buf[MESHOTA_STREAM_MAX_PAYLOAD + MESHOTA_STREAM_OVERHEAD];
    size_t have;                    /**< Bytes buffered of the current frame. */
    size_t need;                    /**< Total bytes of the current frame, 0 until known. */
    meshota_stream_status_t status; /**< Sticky failure. */
} meshota_stream_rx_t;

/** Called once per whole frame with its DataFrame bytes; return non-zero to stop feeding. */
typedef int (*meshota_stream_frame_cb)(void *arg, const uint8_t *frame, size_t len);

/** Forget any partial frame and clear a failure. */
void meshota_stream_reset(meshota_stream_rx_t *rx);

/**
 * @brief Feed @p len received bytes; @p cb gets each completed frame in order.
 * @return MESHOTA_OK; MESHOTA_ERR_FRAME when the stream has a bad length or CRC (see
 *         rx->status; the connection must be closed); or MESHOTA_ERR_INVALID_ARG. When @p cb
 *         returns non-zero the remaining bytes are dropped and MESHOTA_OK is returned.
 */
meshota_err_t meshota_stream_feed(meshota_stream_rx_t *rx, const uint8_t *data, size_t len,
                                  meshota_stream_frame_cb cb, void *arg) MESHOTA_MUST_CHECK;

/**
 * @brief Frame @p len DataFrame bytes into @p out (at least len + MESHOTA_STREAM_OVERHEAD).
 * @return bytes written, or 0 when @p len is 0, too large, or @p out_size too small.
 */
size_t meshota_stream_encode(const uint8_t *frame, size_t len, uint8_t *out, size_t out_size);

/** CRC-32 (IEEE 802.3, as zlib's crc32()) of @p len bytes, continuing from @p crc (0 to start). */
uint32_t meshota_crc32(uint32_t crc, const uint8_t *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* MESHOTA_STREAM_H */
