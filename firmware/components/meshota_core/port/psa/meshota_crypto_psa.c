/* Crypto port on the PSA Crypto API: one file for the host (mbedtls 2.28) and ESP-IDF. */
#include "meshota_crypto_psa.h"

#include <string.h>

#ifdef ESP_PLATFORM
#include "esp_idf_version.h"
/* ESP-IDF before v5.1 is not supported (idf_component.yml); v4.x ships Mbed TLS 2.x without a
 * usable PSA Crypto API. */
#if ESP_IDF_VERSION < ESP_IDF_VERSION_VAL(5, 1, 0)
#error "meshota_core needs ESP-IDF v5.1 or later"
#endif
#endif

#include <psa/crypto.h>

/* psa/crypto.h brings in the library's configuration. Mbed TLS 2.28/3.x build the PSA Crypto
 * core when MBEDTLS_PSA_CRYPTO_C is set (upstream default of both; ESP-IDF v5's mbedtls Kconfig
 * has no switch for it); Mbed TLS 4 / TF-PSA-Crypto (ESP-IDF v6) always provide the API.
 * MBEDTLS_PSA_CRYPTO_CLIENT alone means the API is served by another image (a TEE). */
#if !defined(MBEDTLS_PSA_CRYPTO_C) && !defined(MBEDTLS_PSA_CRYPTO_CLIENT)
#error "meshota_core needs the PSA Crypto API: this Mbed TLS configuration leaves out MBEDTLS_PSA_CRYPTO_C (docs/porting.md, PSA Crypto)"
#endif

_Static_assert(sizeof(psa_hash_operation_t) <= MESHOTA_SHA256_STATE_SIZE,
               "MESHOTA_SHA256_STATE_SIZE is too small for psa_hash_operation_t");

static psa_hash_operation_t *op_of(meshota_sha256_t *st)
{
    return (psa_hash_operation_t *)(void *)st->u.bytes;
}

meshota_err_t meshota_psa_sha256_start(void *ctx, meshota_sha256_t *st)
{
    (void)ctx;
    if (psa_crypto_init() != PSA_SUCCESS) {
        return MESHOTA_ERR_CRYPTO;
    }
    psa_hash_operation_t *op = op_of(st);
    /* A state may be reused after finish or after an abandoned computation. */
    *op = psa_hash_operation_init();
    return psa_hash_setup(op, PSA_ALG_SHA_256) == PSA_SUCCESS ? MESHOTA_OK : MESHOTA_ERR_CRYPTO;
}

meshota_err_t meshota_psa_sha256_update(void *ctx, meshota_sha256_t *st, const uint8_t *data,
                                        size_t len)
{
    (void)ctx;
    return psa_hash_update(op_of(st), data, len) == PSA_SUCCESS ? MESHOTA_OK : MESHOTA_ERR_CRYPTO;
}

meshota_err_t meshota_psa_sha256_finish(void *ctx, meshota_sha256_t *st, uint8_t out[32])
{
    (void)ctx;
    size_t len = 0;
    psa_status_t rc = psa_hash_finish(op_of(st), out, 32, &len);
    if (rc != PSA_SUCCESS || len != 32) {
        psa_hash_abort(op_of(st));
        return MESHOTA_ERR_CRYPTO;
    }
    return MESHOTA_OK;
}

meshota_err_t meshota_psa_ecdsa_p256_verify(void *ctx, const uint8_t pubkey[65],
                                            const uint8_t hash[32], const uint8_t sig[64])
{
    (void)ctx;
    if (psa_crypto_init() != PSA_SUCCESS) {
        return MESHOTA_ERR_CRYPTO;
    }
    psa_key_attributes_t attr = PSA_KEY_ATTRIBUTES_INIT;
    psa_set_key_type(&attr, PSA_KEY_TYPE_ECC_PUBLIC_KEY(PSA_ECC_FAMILY_SECP_R1));
    psa_set_key_bits(&attr, 256);
    psa_set_key_usage_flags(&attr, PSA_KEY_USAGE_VERIFY_HASH);
    psa_set_key_algorithm(&attr, PSA_ALG_ECDSA(PSA_ALG_SHA_256));
    psa_key_id_t key = 0;
    /* A key that is not a point on the curve fails the import: treated as a bad signature
     * source, but reported as a crypto failure so a broken build key is visible. */
    if (psa_import_key(&attr, pubkey, 65, &key) != PSA_SUCCESS) {
        return MESHOTA_ERR_CRYPTO;
    }
    psa_status_t rc = psa_verify_hash(key, PSA_ALG_ECDSA(PSA_ALG_SHA_256), hash, 32, sig, 64);
    psa_destroy_key(key);
    if (rc == PSA_SUCCESS) {
        return MESHOTA_OK;
    }
    return rc == PSA_ERROR_INVALID_SIGNATURE || rc == PSA_ERROR_INVALID_ARGUMENT
               ? MESHOTA_ERR_BAD_SIGNATURE
               : MESHOTA_ERR_CRYPTO;
}

void meshota_psa_fill_port(meshota_port_t *port)
{
    port->sha256_start = meshota_psa_sha256_start;
    port->sha256_update = meshota_psa_sha256_update;
    port->sha256_finish = meshota_psa_sha256_finish;
    port->ecdsa_p256_verify = meshota_psa_ecdsa_p256_verify;
}
