/**
 * @file meshota_node.h
 * @brief The meshota node: update state machine, checks, transfer, resume and relay.
 *
 * A node is driven by the platform from one thread:
 * - meshota_node_on_control() for every meshota vendor message from the mesh,
 * - meshota_node_on_data() for every DataFrame from a data-plane bearer (ESP-NOW, mesh),
 * - meshota_node_net_*() for the TCP client connection (see meshota_port_t.net_open),
 * - meshota_node_poll() regularly (every 10-100 ms): timers, stream reads, verification steps.
 *
 * Phases (meshota_v1_Phase): NONE -> STARTING (UpdateStart checked and accepted) -> RECEIVING ->
 * VERIFYING -> VERIFIED -> APPLYING -> (restart) PENDING_CONFIRM -> CONFIRMED, or ROLLED_BACK
 * when the new image is not confirmed. FAILED and CANCELLED can be reached from every phase
 * before APPLYING. Every control message is answered (UpdateStatus, InfoStatus or RelayStatus)
 * with the phase and a specific meshota_v1_ErrorCode.
 *
 * The node is a plain struct: declare it statically (or one per emulated node). It holds no
 * pointer to heap memory and the core never allocates.
 */
#ifndef MESHOTA_NODE_H
#define MESHOTA_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meshota/v1/control.pb.h"
#include "meshota/v1/data.pb.h"
#include "meshota_core/meshota_config.h"
#include "meshota_core/meshota_err.h"
#include "meshota_core/meshota_port.h"
#include "meshota_core/meshota_stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Bit of meshota_node_config_t.methods for a meshota_v1_Method. */
#define MESHOTA_METHOD_BIT(m) (1u << (unsigned)(m))

/** Static configuration of a node. */
typedef struct {
    /** Manifest signing key: uncompressed SEC1 P-256 point (0x04 || X || Y), compiled in. */
    const uint8_t *public_key;
    /** Methods this node supports, MESHOTA_METHOD_BIT(meshota_v1_Method_METHOD_TCP) | ... */
    uint32_t methods;
    /** Largest chunk payload accepted (at most MESHOTA_MAX_CHUNK_SIZE). */
    uint16_t max_chunk_size;
    /** Wi-Fi station MAC, reported in InfoStatus. */
    uint8_t wifi_mac[6];
} meshota_node_config_t;

/** Session record persisted in the key-value store (key "ota.sess"). @private */
typedef struct {
    uint32_t magic;                 /**< MESHOTA_SESSION_MAGIC when valid. */
    uint32_t session_id;            /**< Non-zero while a session exists. */
    uint8_t phase;                  /**< meshota_v1_Phase. */
    uint8_t error;                  /**< meshota_v1_ErrorCode of a failed session. */
    uint8_t method;                 /**< meshota_v1_Method. */
    uint8_t has_creds;              /**< Wi-Fi credentials were given for this session. */
    uint16_t controller;            /**< Mesh address progress reports go to. */
    uint16_t chunk_size;            /**< 0 until known (TCP: from TransferInfo). */
    uint32_t chunk_count;           /**< 0 until chunk_size is known. */
    uint32_t erased_upto;           /**< Passive slot erased in [0, erased_upto). */
    uint32_t image_size;            /**< From the manifest. */
    uint32_t secure_version;        /**< From the manifest. */
    uint32_t chip_id;               /**< From the manifest. */
    uint8_t image_sha256[32];       /**< From the manifest. */
    char version[32];               /**< From the manifest. */
    char project_name[32];          /**< From the manifest. */
    char prev_version[32];          /**< Version that ran when the image was applied. */
    union {
        meshota_v1_WifiMethod wifi;
        meshota_v1_TcpMethod tcp;
        meshota_v1_EspNowMethod espnow;
        meshota_v1_MeshMethod mesh;
    } m;                            /**< Method parameters. */
    char ssid[33];                  /**< Session Wi-Fi SSID (never logged). */
    char password[65];              /**< Session Wi-Fi passphrase (never logged). */
} meshota_session_t;

/** State of one relay target. @private */
typedef struct {
    meshota_peer_t peer;   /**< mesh_addr from RelayStart; mac learned from its first report. */
    uint8_t state;         /**< 0 pending, 1 done, 2 failed. */
    uint8_t silent_rounds; /**< Rounds without a report. */
    uint8_t reported;      /**< Reported in the current round. */
} meshota_relay_target_t;

/** Relay (distributor) state. @private */
typedef struct {
    uint8_t phase;                  /**< meshota_v1_RelayPhase. */
    uint8_t error;                  /**< meshota_v1_ErrorCode when failed. */
    uint8_t region;                 /**< meshota_region_t holding the image. */
    uint8_t sending;                /**< Chunks of the round are being sent. */
    uint8_t info_due;               /**< The round's TransferInfo waits for room on the radio. */
    uint16_t chunk_size;
    uint16_t controller;
    uint32_t session_id;
    uint32_t image_size;
    uint32_t chunk_count;
    uint32_t round;
    uint32_t cursor;                /**< Next chunk index to examine in the round. */
    uint64_t window_end_ms;         /**< End of the report window of the round. */
    uint32_t taken_ms;              /**< Last send the radio did not refuse as full (or the start). */
    uint8_t n_targets;
    meshota_relay_target_t targets[MESHOTA_MAX_RELAY_TARGETS];
    uint8_t want[MESHOTA_MAX_CHUNKS / 8]; /**< Union of missing chunks for the next round. */
} meshota_relay_t;

/** One node. All fields are private; use the functions below. */
typedef struct meshota_node {
    const meshota_port_t *port;
    meshota_node_config_t cfg;
    meshota_running_t running;
    meshota_session_t s;
    uint32_t chunks_done;
    uint16_t unsaved_chunks;        /**< Chunks held in RAM that the saved bitmap lacks. */
    uint8_t transport_up;           /**< The side channel of the session was started. */
    uint8_t heard;                  /**< Anything was heard from the distributor. */
    uint8_t net_failures;           /**< Consecutive connection failures without progress. */
    uint64_t net_retry_at_ms;       /**< Next connection attempt. */
    uint32_t pend_session;          /**< Session of credentials received before UpdateStart. */
    char pend_ssid[33];             /**< Never logged. */
    char pend_password[65];         /**< Never logged. */
    uint8_t have_confirmed_image;   /**< The running image came from a confirmed session. */
    uint8_t net_state;              /**< 0 closed, 1 connecting, 2 connected. */
    uint8_t verify_stage;           /**< 0 hashing, 1 format check done. */
    uint32_t verify_off;
    uint32_t stream_pos;            /**< Next byte expected from the stream source. */
    uint64_t last_rx_ms;
    uint64_t last_progress_ms;
    uint32_t last_progress_done;
    meshota_peer_t distributor;     /**< Where MissingChunks/TransferDone go (ESP-NOW). */
    uint64_t refusal_due_ms;        /**< Earliest time to answer a refused mesh data frame. */
    /* Large members last: small fields stay within short load/store offsets on RISC-V. */
    /** Persisted as is: session id (u32 LE) then the bitmap (bit set: chunk written). */
    uint8_t bmap_rec[4 + MESHOTA_MAX_CHUNKS / 8];
    meshota_sha256_t sha;
    meshota_stream_rx_t rx;
    meshota_relay_t relay;
    union {
        meshota_v1_UpdateStart start;
        meshota_v1_RelayStart relay_start;
        meshota_v1_CredentialsSet creds;
        meshota_v1_DataFrame frame;
        meshota_v1_InfoStatus info;
        meshota_v1_UpdateCancel cancel;
        meshota_v1_UpdateApply apply;
        meshota_v1_UpdateConfirm confirm;
    } msg;                          /**< Decode/encode scratch (kept off the stack). */
    uint8_t buf[MESHOTA_MAX_CHUNK_SIZE + 32]; /**< Encode and stream scratch. */
} meshota_node_t;

/**
 * @brief Initialise @p node and resume its persisted session, if any.
 *
 * After a restart in the applying phase the boot state decides: PENDING_VERIFY gives
 * PENDING_CONFIRM, ROLLED_BACK (or the old image still running) gives ROLLED_BACK.
 * @return MESHOTA_OK, MESHOTA_ERR_INVALID_ARG (missing required port function or key), or
 *         the error of running_info.
 */
meshota_err_t meshota_node_init(meshota_node_t *node, const meshota_port_t *port,
                                const meshota_node_config_t *cfg) MESHOTA_MUST_CHECK;

/** Handle one meshota vendor message (6-bit @p opcode and its parameters) from @p from. */
void meshota_node_on_control(meshota_node_t *node, const meshota_peer_t *from, uint8_t opcode,
                             const uint8_t *params, size_t len);

/** Handle one encoded DataFrame received on @p bearer from @p from. */
void meshota_node_on_data(meshota_node_t *node, meshota_bearer_t bearer,
                          const meshota_peer_t *from, const uint8_t *frame, size_t len);

/** The TCP connection opened by net_open is up. */
void meshota_node_net_connected(meshota_node_t *node);
/** Bytes received on the TCP connection (any split). */
void meshota_node_net_recv(meshota_node_t *node, const uint8_t *data, size_t len);
/** The TCP connection closed or failed (@p reason MESHOTA_OK for an orderly close). */
void meshota_node_net_closed(meshota_node_t *node, meshota_err_t reason);

/** Run timers, stream reads, verification and relay rounds. Call every 10-100 ms. */
void meshota_node_poll(meshota_node_t *node);

/** @return the phase of the current session (meshota_v1_Phase). */
meshota_v1_Phase meshota_node_phase(const meshota_node_t *node);
/** @return the error of the current session, ERROR_CODE_NONE when none. */
meshota_v1_ErrorCode meshota_node_error(const meshota_node_t *node);
/** @return image bytes written. After a power cut it falls back to what was persisted: at most
 *  MESHOTA_PERSIST_EVERY_CHUNKS chunks less. */
uint32_t meshota_node_bytes_done(const meshota_node_t *node);
/** @return the running firmware identity as read at init. */
const meshota_running_t *meshota_node_running(const meshota_node_t *node);
/** @return the relay phase (meshota_v1_RelayPhase). */
meshota_v1_RelayPhase meshota_node_relay_phase(const meshota_node_t *node);

/** Build the 124 manifest signing bytes (docs/protocol.md "Manifest signature"). */
void meshota_manifest_signing_bytes(const meshota_v1_Manifest *m, uint8_t out[124]);

#ifdef __cplusplus
}
#endif

#endif /* MESHOTA_NODE_H */
