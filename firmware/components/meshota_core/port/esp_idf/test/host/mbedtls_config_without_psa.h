/* The host's Mbed TLS configuration with the PSA Crypto core left out, for the test that the
 * PSA port refuses to build against it. */
#include "mbedtls/config.h"
#undef MBEDTLS_PSA_CRYPTO_C
#undef MBEDTLS_PSA_CRYPTO_CLIENT
