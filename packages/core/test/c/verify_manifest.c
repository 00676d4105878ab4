/* Independent C check of manifest signatures, built with mbedTLS PSA as the firmware is.
 * Builds the 124 signing bytes from the manifest fields itself (docs/protocol.md, "Manifest
 * signature") and verifies an ECDSA P-256 r||s signature with a 65-byte public key.
 *
 * usage: verify_manifest PUBKEY_HEX SIG_HEX IMAGE_SIZE SECURE_VERSION CHIP_ID MIN_REV MAX_REV
 *                        SHA256_HEX VERSION PROJECT_NAME
 * exit: 0 valid, 1 invalid, 2 bad arguments, 3 PSA failure
 */
#include <psa/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_hex(const char *hex, uint8_t *out, size_t len)
{
    if (strlen(hex) != len * 2) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned int b;
        if (sscanf(hex + 2 * i, "%2x", &b) != 1) {
            return -1;
        }
        out[i] = (uint8_t)b;
    }
    return 0;
}

static void put_u32le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static int put_text(uint8_t *p, const char *s)
{
    size_t n = strlen(s);
    if (n > 31) {
        return -1;
    }
    memset(p, 0, 32);
    memcpy(p, s, n);
    return 0;
}

int main(int argc, char **argv)
{
    uint8_t pub[65], sig[64], msg[124], hash[32];
    size_t hash_len = 0;

    if (argc != 11 || parse_hex(argv[1], pub, sizeof pub) || parse_hex(argv[2], sig, sizeof sig)) {
        return 2;
    }
    memcpy(msg, "MOTAMAN1", 8);
    for (int i = 0; i < 5; i++) {
        put_u32le(msg + 8 + 4 * i, (uint32_t)strtoul(argv[3 + i], NULL, 10));
    }
    if (parse_hex(argv[8], msg + 28, 32) || put_text(msg + 60, argv[9]) || put_text(msg + 92, argv[10])) {
        return 2;
    }

    if (psa_crypto_init() != PSA_SUCCESS) {
        return 3;
    }
    psa_key_attributes_t attr = PSA_KEY_ATTRIBUTES_INIT;
    psa_set_key_type(&attr, PSA_KEY_TYPE_ECC_PUBLIC_KEY(PSA_ECC_FAMILY_SECP_R1));
    psa_set_key_bits(&attr, 256);
    psa_set_key_usage_flags(&attr, PSA_KEY_USAGE_VERIFY_HASH);
    psa_set_key_algorithm(&attr, PSA_ALG_ECDSA(PSA_ALG_SHA_256));
    psa_key_id_t key = 0;
    if (psa_import_key(&attr, pub, sizeof pub, &key) != PSA_SUCCESS) {
        return 3;
    }
    if (psa_hash_compute(PSA_ALG_SHA_256, msg, sizeof msg, hash, sizeof hash, &hash_len) != PSA_SUCCESS) {
        return 3;
    }
    psa_status_t st = psa_verify_hash(key, PSA_ALG_ECDSA(PSA_ALG_SHA_256), hash, hash_len, sig, sizeof sig);
    psa_destroy_key(key);
    mbedtls_psa_crypto_free();
    return st == PSA_SUCCESS ? 0 : 1;
}
