/**
 * @file meshota_err.h
 * @brief Internal error codes of meshota_core.
 *
 * These never travel on air: peers receive meshota_v1_ErrorCode. Like ESP-IDF components the
 * codes are a component base plus offsets, so they do not collide with esp_err_t values.
 */
#ifndef MESHOTA_ERR_H
#define MESHOTA_ERR_H

#ifdef __cplusplus
extern "C" {
#endif

/** Result of a meshota function or port call: MESHOTA_OK or one of MESHOTA_ERR_*. */
typedef int meshota_err_t;

#define MESHOTA_OK 0                                 /*!< Success. */
#define MESHOTA_ERR_BASE 0x7A00                      /*!< Base of meshota_core error codes. */
#define MESHOTA_ERR_INVALID_ARG (MESHOTA_ERR_BASE + 1)  /*!< A NULL pointer or an out-of-range argument. */
#define MESHOTA_ERR_FLASH (MESHOTA_ERR_BASE + 2)     /*!< Flash erase, write or read failed. */
#define MESHOTA_ERR_STORAGE (MESHOTA_ERR_BASE + 3)   /*!< Key-value store failed. */
#define MESHOTA_ERR_NOT_FOUND (MESHOTA_ERR_BASE + 4) /*!< Key-value entry absent. */
#define MESHOTA_ERR_CRYPTO (MESHOTA_ERR_BASE + 5)    /*!< Hash or key import failed. */
#define MESHOTA_ERR_BAD_SIGNATURE (MESHOTA_ERR_BASE + 6) /*!< ECDSA verification failed. */
#define MESHOTA_ERR_NET (MESHOTA_ERR_BASE + 7)       /*!< Network connect/send/receive failed. */
#define MESHOTA_ERR_NO_MEM (MESHOTA_ERR_BASE + 8)    /*!< A fixed buffer is too small. */
#define MESHOTA_ERR_UNSUPPORTED (MESHOTA_ERR_BASE + 9) /*!< The port does not provide this function. */
#define MESHOTA_ERR_WOULD_BLOCK (MESHOTA_ERR_BASE + 10) /*!< No data now; call again later. */
#define MESHOTA_ERR_BAD_IMAGE (MESHOTA_ERR_BASE + 11) /*!< The ESP32 app image is malformed. */
#define MESHOTA_ERR_FRAME (MESHOTA_ERR_BASE + 12)    /*!< Stream frame with bad length or CRC. */
#define MESHOTA_ERR_POWER_LOSS (MESHOTA_ERR_BASE + 13) /*!< Host test ports: simulated power cut. */

#if defined(__GNUC__) || defined(__clang__)
/** Callers must look at the result (like nanopb's checkreturn). */
#define MESHOTA_MUST_CHECK __attribute__((warn_unused_result))
#else
#define MESHOTA_MUST_CHECK
#endif

#ifdef __cplusplus
}
#endif

#endif /* MESHOTA_ERR_H */
