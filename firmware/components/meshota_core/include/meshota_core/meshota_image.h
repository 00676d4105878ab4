/**
 * @file meshota_image.h
 * @brief Check an ESP32 app image in place, reading it through a callback in small blocks.
 *
 * Layout (esp-idf esp_app_format.h, esptool "Firmware Image Format"): a 24-byte header (magic
 * 0xE9, segment count <= 16, chip id at 0x0C, min/max full chip revision at 0x0F/0x11,
 * hash-appended flag at 0x17), then segments of [load address u32][length u32][data]; padding so
 * the checksum byte (0xEF XOR every segment data byte) ends a 16-byte block; then, when flagged,
 * the SHA-256 of everything before it. esp_app_desc_t sits at 0x20, inside the first segment.
 */
#ifndef MESHOTA_IMAGE_H
#define MESHOTA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "meshota_core/meshota_err.h"
#include "meshota_core/meshota_port.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MESHOTA_IMAGE_MAGIC 0xE9u            /**< First byte of an app image. */
#define MESHOTA_IMAGE_MAX_SEGMENTS 16u       /**< ESP_IMAGE_MAX_SEGMENTS. */
#define MESHOTA_IMAGE_HEADER_SIZE 24u        /**< esp_image_header_t. */
#define MESHOTA_IMAGE_SEGMENT_HEADER_SIZE 8u /**< esp_image_segment_header_t. */
#define MESHOTA_APP_DESC_OFFSET 0x20u        /**< esp_app_desc_t in the file. */
#define MESHOTA_APP_DESC_SIZE 256u           /**< sizeof(esp_app_desc_t). */
#define MESHOTA_APP_DESC_MAGIC 0xABCD5432u   /**< ESP_APP_DESC_MAGIC_WORD. */
#define MESHOTA_IMAGE_CHECKSUM_SEED 0xEFu    /**< ESP_ROM_CHECKSUM_INITIAL. */

/** Why an image was refused (for logs and tests; peers get ERROR_CODE_BAD_IMAGE). */
typedef enum {
    MESHOTA_IMAGE_OK = 0,
    MESHOTA_IMAGE_TOO_SMALL,      /**< Shorter than header + app description. */
    MESHOTA_IMAGE_BAD_MAGIC,      /**< First byte is not 0xE9. */
    MESHOTA_IMAGE_BAD_SEGMENTS,   /**< Segment count 0 or above 16. */
    MESHOTA_IMAGE_SEGMENT_BOUNDS, /**< A segment runs past the end of the image. */
    MESHOTA_IMAGE_BAD_CHECKSUM,   /**< Checksum byte does not match. */
    MESHOTA_IMAGE_BAD_HASH,       /**< Appended SHA-256 does not match. */
    MESHOTA_IMAGE_BAD_APP_DESC,   /**< esp_app_desc_t magic missing or outside segment 0. */
    MESHOTA_IMAGE_READ_FAILED,    /**< The read callback failed. */
} meshota_image_status_t;

/** What the image says about itself. */
typedef struct {
    uint32_t chip_id;        /**< Header chip id (u16 at 0x0C). */
    uint32_t min_chip_rev;   /**< Header min_chip_rev_full. */
    uint32_t max_chip_rev;   /**< Header max_chip_rev_full. */
    uint32_t secure_version; /**< esp_app_desc_t.secure_version. */
    char version[32];        /**< esp_app_desc_t.version, NUL-terminated. */
    char project_name[32];   /**< esp_app_desc_t.project_name, NUL-terminated. */
    char idf_version[32];    /**< esp_app_desc_t.idf_ver, NUL-terminated. */
    uint32_t end;            /**< Bytes covered by header, segments, checksum and hash. */
} meshota_image_info_t;

/** Read callback: @p len bytes at @p offset of the image into @p buf. */
typedef meshota_err_t (*meshota_image_read_fn)(void *arg, uint32_t offset, uint8_t *buf,
                                               size_t len);

/**
 * @brief Validate the app image of @p size bytes read through @p read.
 * @param port   supplies SHA-256 for the appended hash.
 * @param sha    scratch hash state.
 * @param block  scratch buffer of @p block_size (>= MESHOTA_APP_DESC_SIZE) bytes.
 * @param out    filled when MESHOTA_IMAGE_OK is returned (may be NULL).
 */
meshota_image_status_t meshota_image_check(const meshota_port_t *port, meshota_sha256_t *sha,
                                           meshota_image_read_fn read, void *arg, uint32_t size,
                                           uint8_t *block, size_t block_size,
                                           meshota_image_info_t *out);

/** Parse esp_app_desc_t (@p desc: MESHOTA_APP_DESC_SIZE bytes) into @p out; false on bad magic. */
int meshota_app_desc_parse(const uint8_t *desc, meshota_image_info_t *out);

#ifdef __cplusplus
}
#endif

#endif /* MESHOTA_IMAGE_H */
