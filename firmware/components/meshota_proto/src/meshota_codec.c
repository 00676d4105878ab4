/* Table lookup and strict encode/decode for meshota messages. */
#include "meshota_codec.h"

#include <string.h>

#include <pb_common.h>
#include <pb_decode.h>
#include <pb_encode.h>

#define VENDOR_ENTRY(op, NAME, type, desc, budget_class) \
    {(op), #NAME, desc, sizeof(type), type##_size, (budget_class)},

static const meshota_vendor_msg_t s_vendor_table[] = {
    MESHOTA_FOR_EACH_VENDOR_MESSAGE(VENDOR_ENTRY)
};

#undef VENDOR_ENTRY

size_t meshota_vendor_count(void)
{
    return sizeof(s_vendor_table) / sizeof(s_vendor_table[0]);
}

const meshota_vendor_msg_t *meshota_vendor_at(size_t i)
{
    return i < meshota_vendor_count() ? &s_vendor_table[i] : NULL;
}

const meshota_vendor_msg_t *meshota_vendor_by_opcode(uint8_t opcode)
{
    for (size_t i = 0; i < meshota_vendor_count(); i++) {
        if (s_vendor_table[i].opcode == opcode) {
            return &s_vendor_table[i];
        }
    }
    return NULL;
}

/* Table names are macro names ("UPDATE_START"); "UpdateStart" is turned into that form. */
static void to_macro_name(const char *name, char *out, size_t out_size)
{
    size_t n = 0;
    for (size_t i = 0; name[i] != '\0' && n + 2 < out_size; i++) {
        char c = name[i];
        if (c >= 'A' && c <= 'Z' && i > 0 && name[i - 1] >= 'a' && name[i - 1] <= 'z') {
            out[n++] = '_';
        }
        out[n++] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
    }
    out[n] = '\0';
}

const meshota_vendor_msg_t *meshota_vendor_by_name(const char *name)
{
    char macro[48];
    to_macro_name(name, macro, sizeof(macro));
    for (size_t i = 0; i < meshota_vendor_count(); i++) {
        if (strcmp(s_vendor_table[i].name, macro) == 0) {
            return &s_vendor_table[i];
        }
    }
    return NULL;
}

bool meshota_utf8_valid(const char *s)
{
    const uint8_t *p = (const uint8_t *)s;
    while (*p != 0) {
        uint8_t b = *p;
        size_t extra;
        uint32_t cp;
        if (b < 0x80) {
            p++;
            continue;
        } else if ((b & 0xE0) == 0xC0) {
            extra = 1;
            cp = b & 0x1F;
        } else if ((b & 0xF0) == 0xE0) {
            extra = 2;
            cp = b & 0x0F;
        } else if ((b & 0xF8) == 0xF0) {
            extra = 3;
            cp = b & 0x07;
        } else {
            return false;
        }
        for (size_t i = 1; i <= extra; i++) {
            if ((p[i] & 0xC0) != 0x80) {
                return false; /* also stops at the terminating NUL */
            }
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        static const uint32_t min_for_len[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_for_len[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        p += extra + 1;
    }
    return true;
}

/* Walks every present string of a decoded struct, into sub-messages. */
static bool strings_valid(const pb_msgdesc_t *fields, const void *msg, int depth)
{
    pb_field_iter_t iter;
    if (depth > 8 || !pb_field_iter_begin_const(&iter, fields, msg)) {
        return depth <= 8;
    }
    do {
        pb_type_t htype = PB_HTYPE(iter.type);
        pb_type_t ltype = PB_LTYPE(iter.type);
        size_t count = 1;
        if (htype == PB_HTYPE_ONEOF && *(const pb_size_t *)iter.pSize != iter.tag) {
            continue;
        }
        if (htype == PB_HTYPE_OPTIONAL && iter.pSize != NULL && !*(const bool *)iter.pSize) {
            continue;
        }
        if (htype == PB_HTYPE_REPEATED) {
            count = *(const pb_size_t *)iter.pSize;
        }
        for (size_t i = 0; i < count; i++) {
            const char *item = (const char *)iter.pData + i * iter.data_size;
            if (ltype == PB_LTYPE_STRING && !meshota_utf8_valid(item)) {
                return false;
            }
            if (PB_LTYPE_IS_SUBMSG(ltype) && !strings_valid(iter.submsg_desc, item, depth + 1)) {
                return false;
            }
        }
    } while (pb_field_iter_next(&iter));
    return true;
}

bool meshota_decode(const pb_msgdesc_t *fields, void *dest, const uint8_t *buf, size_t len,
                    const char **error)
{
    pb_istream_t stream = pb_istream_from_buffer(buf, len);
    if (!pb_decode(&stream, fields, dest)) {
        if (error != NULL) {
            *error = PB_GET_ERROR(&stream);
        }
        return false;
    }
    if (stream.bytes_left != 0) {
        if (error != NULL) {
            *error = "trailing bytes after the message";
        }
        return false;
    }
    if (!strings_valid(fields, dest, 0)) {
        if (error != NULL) {
            *error = "string is not valid UTF-8";
        }
        return false;
    }
    return true;
}

bool meshota_encode(const pb_msgdesc_t *fields, const void *src, uint8_t *buf, size_t buf_size,
                    size_t *out_len, const char **error)
{
    pb_ostream_t stream = pb_ostream_from_buffer(buf, buf_size);
    if (!pb_encode(&stream, fields, src)) {
        if (error != NULL) {
            *error = PB_GET_ERROR(&stream);
        }
        return false;
    }
    *out_len = stream.bytes_written;
    return true;
}

void meshota_vendor_opcode_bytes(uint8_t opcode, uint16_t company_id, uint8_t out[3])
{
    out[0] = (uint8_t)(0xC0 | (opcode & 0x3F));
    out[1] = (uint8_t)(company_id & 0xFF);
    out[2] = (uint8_t)(company_id >> 8);
}
