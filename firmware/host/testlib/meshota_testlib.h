/**
 * @file meshota_testlib.h
 * @brief Test support: valid ESP32 app images, manifest signing, and a node on the host port
 * with captured replies.
 */
#ifndef MESHOTA_TESTLIB_H
#define MESHOTA_TESTLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meshota_core/meshota_node.h"
#include "meshota_host_port.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What the image builder puts in the header and esp_app_desc_t. */
typedef struct {
    uint32_t chip_id;
    uint32_t min_rev;
    uint32_t max_rev;
    uint32_t secure_version;
    const char *version;
    const char *project;
    uint32_t size;      /**< Approximate total size (>= 512); segment data is filled to reach it. */
    bool hash_appended; /**< Append the SHA-256 of the image. */
    uint32_t seed;      /**< Seed of the filler bytes. */
} mt_image_params_t;

/** Default parameters: ESP32-C3 (chip 5), rev 0..399, version "1.1.0", project "demo". */
mt_image_params_t mt_image_defaults(void);

/** Build an image into @p buf; @return its size, 0 when it does not fit @p cap. */
size_t mt_image_build(const mt_image_params_t *p, uint8_t *buf, size_t cap);

/** The fixed test signing key's public half (65 bytes, uncompressed SEC1). */
const uint8_t *mt_public_key(void);

/** Sign @p m with the test key into @p sig (r||s). @return true on success. */
bool mt_sign_manifest(const meshota_v1_Manifest *m, uint8_t sig[64]);

/** Manifest describing @p img built from @p p. */
void mt_manifest_for(const mt_image_params_t *p, const uint8_t *img, size_t len,
                     meshota_v1_Manifest *m);

/** A message the node sent. */
typedef struct {
    meshota_bearer_t bearer;
    meshota_peer_t to;
    uint8_t data[1500];
    size_t len;
} mt_sent_t;

#define MT_SENT_MAX 512

/** One node under test on the host port, RAM- or file-backed. */
typedef struct {
    meshota_host_t host;
    meshota_node_t node;
    meshota_node_config_t cfg;
    mt_sent_t *sent; /**< Ring of the last MT_SENT_MAX messages. */
    size_t n_sent;   /**< Total sent since open. */
    uint8_t factory[65536];
    size_t factory_len;
} mt_node_t;

/** Open a RAM-backed node with a factory image (version "1.0.0", project "demo", C3). */
void mt_node_open(mt_node_t *t, uint32_t slot_size, uint64_t seed);
/** Free it. */
void mt_node_close(mt_node_t *t);
/** Power cycle: simulated bootloader, then meshota_node_init on a fresh node struct. */
void mt_node_reboot(mt_node_t *t);

/** Send a control message struct from the controller (mesh address 0x0001). */
void mt_control(mt_node_t *t, uint8_t opcode, const void *msg);
/** Send a DataFrame on @p bearer from @p from. */
void mt_data(mt_node_t *t, meshota_bearer_t bearer, const meshota_peer_t *from,
             const meshota_v1_DataFrame *f);

/** The last UpdateStatus the node sent (asserts that the last message was one). */
meshota_v1_UpdateStatus mt_last_status(mt_node_t *t);
/** The last message sent, or NULL. */
const mt_sent_t *mt_last(mt_node_t *t);

/** Build a signed UpdateStart for @p img with the mesh method and @p chunk size. */
void mt_start_for(const mt_image_params_t *p, const uint8_t *img, size_t len, uint32_t session,
                  uint32_t chunk, meshota_v1_UpdateStart *u);

/** Send chunk @p index of @p img (chunk size @p chunk) over the mesh bearer. */
void mt_send_chunk(mt_node_t *t, uint32_t session, const uint8_t *img, size_t len, uint32_t chunk,
                   uint32_t index);

/** Advance the clock by @p ms in 10 ms steps, polling the node. */
void mt_advance(mt_node_t *t, uint64_t ms);

/** Poll until the phase leaves VERIFYING (bounded). */
void mt_poll_verify(mt_node_t *t);

/** true when the running slot still holds the factory image byte for byte. */
bool mt_running_intact(mt_node_t *t);

#ifdef __cplusplus
}
#endif

#endif /* MESHOTA_TESTLIB_H */
