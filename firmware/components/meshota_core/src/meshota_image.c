/* ESP32 app image checks, reading the image in blocks (no copy of the image in RAM). */
#include "meshota_core/meshota_image.h"

#include <string.h>

static uint32_t le16(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
    return le16(p) | (le16(p + 2) << 16);
}

static void copy_str(char dst[32], const uint8_t *src)
{
    memcpy(dst, src, 31);
    dst[31] = '\0';
}

int meshota_app_desc_parse(const uint8_t *desc, meshota_image_info_t *out)
{
    if (le32(desc) != MESHOTA_APP_DESC_MAGIC) {
        return 0;
    }
    out->secure_version = le32(desc + 4);
    copy_str(out->version, desc + 0x10);
    copy_str(out->project_name, desc + 0x30);
    copy_str(out->idf_version, desc + 0x70);
    return 1;
}

meshota_image_status_t meshota_image_check(const meshota_port_t *port, meshota_sha256_t *sha,
                                           meshota_image_read_fn read, void *arg, uint32_t size,
                                           uint8_t *block, size_t block_size,
                                           meshota_image_info_t *out)
{
    meshota_image_info_t info;
    memset(&info, 0, sizeof(info));
    if (block_size < MESHOTA_APP_DESC_SIZE || block_size < 32) {
        return MESHOTA_IMAGE_READ_FAILED;
    }
    if (size < MESHOTA_APP_DESC_OFFSET + MESHOTA_APP_DESC_SIZE) {
        return MESHOTA_IMAGE_TOO_SMALL;
    }
    if (read(arg, 0, block, MESHOTA_IMAGE_HEADER_SIZE + MESHOTA_IMAGE_SEGMENT_HEADER_SIZE) !=
        MESHOTA_OK) {
        return MESHOTA_IMAGE_READ_FAILED;
    }
    if (block[0] != MESHOTA_IMAGE_MAGIC) {
        return MESHOTA_IMAGE_BAD_MAGIC;
    }
    uint32_t segments = block[1];
    if (segments == 0 || segments > MESHOTA_IMAGE_MAX_SEGMENTS) {
        return MESHOTA_IMAGE_BAD_SEGMENTS;
    }
    info.chip_id = le16(block + 0x0C);
    info.min_chip_rev = le16(block + 0x0F);
    info.max_chip_rev = le16(block + 0x11);
    uint8_t hash_appended = block[0x17];
    /* The app description is the start of segment 0's data and must lie inside it. */
    if (le32(block + MESHOTA_IMAGE_HEADER_SIZE + 4) < MESHOTA_APP_DESC_SIZE) {
        return MESHOTA_IMAGE_BAD_APP_DESC;
    }
    if (read(arg, MESHOTA_APP_DESC_OFFSET, block, MESHOTA_APP_DESC_SIZE) != MESHOTA_OK) {
        return MESHOTA_IMAGE_READ_FAILED;
    }
    if (!meshota_app_desc_parse(block, &info)) {
        return MESHOTA_IMAGE_BAD_APP_DESC;
    }

    uint8_t checksum = MESHOTA_IMAGE_CHECKSUM_SEED;
    uint32_t off = MESHOTA_IMAGE_HEADER_SIZE;
    for (uint32_t i = 0; i < segments; i++) {
        if (size - off < MESHOTA_IMAGE_SEGMENT_HEADER_SIZE) {
            return MESHOTA_IMAGE_SEGMENT_BOUNDS;
        }
        if (read(arg, off, block, MESHOTA_IMAGE_SEGMENT_HEADER_SIZE) != MESHOTA_OK) {
            return MESHOTA_IMAGE_READ_FAILED;
        }
        uint32_t len = le32(block + 4);
        off += MESHOTA_IMAGE_SEGMENT_HEADER_SIZE;
        /* off <= size holds here, so size - off cannot wrap. */
        if (len > size - off) {
            return MESHOTA_IMAGE_SEGMENT_BOUNDS;
        }
        while (len > 0) {
            size_t n = len < block_size ? len : block_size;
            if (read(arg, off, block, n) != MESHOTA_OK) {
                return MESHOTA_IMAGE_READ_FAILED;
            }
            for (size_t k = 0; k < n; k++) {
                checksum ^= block[k];
            }
            off += (uint32_t)n;
            len -= (uint32_t)n;
        }
    }
    /* Pad so that the checksum byte is the last byte of a 16-byte block. */
    uint32_t checksum_at = off + (15u - (off % 16u));
    if (checksum_at >= size) {
        return MESHOTA_IMAGE_SEGMENT_BOUNDS;
    }
    if (read(arg, checksum_at, block, 1) != MESHOTA_OK) {
        return MESHOTA_IMAGE_READ_FAILED;
    }
    if (block[0] != checksum) {
        return MESHOTA_IMAGE_BAD_CHECKSUM;
    }
    info.end = checksum_at + 1;
    if (hash_appended != 0) { /* the bootloader reads the flag as a boolean */
        if (size - info.end < 32) {
            return MESHOTA_IMAGE_SEGMENT_BOUNDS;
        }
        if (port->sha256_start(port->ctx, sha) != MESHOTA_OK) {
            return MESHOTA_IMAGE_READ_FAILED;
        }
        for (uint32_t pos = 0; pos < info.end;) {
            uint32_t left = info.end - pos;
            size_t n = left < block_size ? left : block_size;
            if (read(arg, pos, block, n) != MESHOTA_OK ||
                port->sha256_update(port->ctx, sha, block, n) != MESHOTA_OK) {
                return MESHOTA_IMAGE_READ_FAILED;
            }
            pos += (uint32_t)n;
        }
        uint8_t digest[32];
        if (port->sha256_finish(port->ctx, sha, digest) != MESHOTA_OK ||
            read(arg, info.end, block, 32) != MESHOTA_OK) {
            return MESHOTA_IMAGE_READ_FAILED;
        }
        if (memcmp(digest, block, 32) != 0) {
            return MESHOTA_IMAGE_BAD_HASH;
        }
        info.end += 32;
    }
    if (out != NULL) {
        *out = info;
    }
    return MESHOTA_IMAGE_OK;
}
