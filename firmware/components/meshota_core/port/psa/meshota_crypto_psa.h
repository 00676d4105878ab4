/**
 * @file meshota_crypto_psa.h
 * @brief SHA-256 and ECDSA P-256 verification for meshota_port_t through the PSA Crypto API.
 *
 * Builds against mbedtls 2.28 (Debian, -lmbedcrypto) and the mbedtls 3.x of ESP-IDF v5/v6.
 * Assign the four functions to the port's sha256_start/update/finish and ecdsa_p256_verify.
 */
#ifndef MESHOTA_CRYPTO_PSA_H
#define MESHOTA_CRYPTO_PSA_H

#include "meshota_core/meshota_port.h"

#ifdef __cplusplus
extern "C" {
#endif

meshota_err_t meshota_psa_sha256_start(void *ctx, meshota_sha256_t *st);
meshota_err_t meshota_psa_sha256_update(void *ctx, meshota_sha256_t *st, const uint8_t *data,
                                        size_t len);
meshota_err_t meshota_psa_sha256_finish(void *ctx, meshota_sha256_t *st, uint8_t out[32]);
meshota_err_t meshota_psa_ecdsa_p256_verify(void *ctx, const uint8_t pubkey[65],
                                            const uint8_t hash[32], const uint8_t sig[64]);

/** Set the crypto members of @p port to the functions above. */
void meshota_psa_fill_port(meshota_port_t *port);

#ifdef __cplusplus
}
#endif

#endif /* MESHOTA_CRYPTO_PSA_H */
