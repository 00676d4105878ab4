/**
 * @file meshota_config.h
 * @brief Compile-time limits of meshota_core. Every buffer of the core is sized here; the core
 * never allocates. Override any of them with -D on the compiler command line (or from Kconfig).
 */
#ifndef MESHOTA_CONFIG_H
#define MESHOTA_CONFIG_H

/** Most chunks one image may have: the received-chunk bitmap holds MESHOTA_MAX_CHUNKS bits. */
#ifndef MESHOTA_MAX_CHUNKS
#define MESHOTA_MAX_CHUNKS 16384
#endif

/** Largest chunk payload accepted on any data plane (Chunk.data bound in data.options). */
#ifndef MESHOTA_MAX_CHUNK_SIZE
#define MESHOTA_MAX_CHUNK_SIZE 1440
#endif

/** Block size used to read the image back from flash while hashing and validating it. */
#ifndef MESHOTA_READ_BLOCK
#define MESHOTA_READ_BLOCK 256
#endif

/** Bytes hashed per meshota_node_poll() call in the verifying phase (bounds one step's time). */
#ifndef MESHOTA_VERIFY_BYTES_PER_POLL
#define MESHOTA_VERIFY_BYTES_PER_POLL 16384
#endif

/** Flash erase sector size; the passive slot is erased sector by sector, ahead of the writes. */
#ifndef MESHOTA_SECTOR_SIZE
#define MESHOTA_SECTOR_SIZE 4096
#endif

/** Bookkeeping unit of stream methods (Wi-Fi/HTTP): the stream's chunk, counted and persisted
 *  like any other chunk. */
#ifndef MESHOTA_STREAM_UNIT
#define MESHOTA_STREAM_UNIT 1024
#endif

/** Chunks written between two saves of the received-chunk bitmap to the key-value store.
 *  It is also saved when the last chunk is in, when the connection of a TCP or stream session
 *  drops, and on every phase change (failure included). A power cut loses at most this many
 *  chunks: they are fetched and written again (with the same bytes; re-programming identical
 *  data is harmless on NOR flash, and with flash encryption it gives the same ciphertext).
 *  1 saves after every chunk, as a wear-free store would allow. */
#ifndef MESHOTA_PERSIST_EVERY_CHUNKS
#define MESHOTA_PERSIST_EVERY_CHUNKS 32
#endif

/** Most relay targets (RelayStart.targets bound in control.options); a lower value refuses longer
 * lists with ERROR_CODE_MALFORMED. */
#ifndef MESHOTA_MAX_RELAY_TARGETS
#define MESHOTA_MAX_RELAY_TARGETS 32
#endif

/** Shortest gap between two unsolicited progress UpdateStatus messages. */
#ifndef MESHOTA_PROGRESS_INTERVAL_MS
#define MESHOTA_PROGRESS_INTERVAL_MS 2000
#endif

/** Least time between two answers to refused data frames over the mesh (group sends). */
#ifndef MESHOTA_REFUSAL_INTERVAL_MS
#define MESHOTA_REFUSAL_INTERVAL_MS 1000
#endif

/** Session gives up with ERROR_CODE_TIMEOUT when no data arrives for this long. */
#ifndef MESHOTA_RECEIVE_TIMEOUT_MS
#define MESHOTA_RECEIVE_TIMEOUT_MS 60000
#endif

/** TCP/stream methods: consecutive failed connections (without progress) before giving up. */
#ifndef MESHOTA_NET_MAX_RETRIES
#define MESHOTA_NET_MAX_RETRIES 5
#endif

/** TCP/stream methods: wait before reconnecting, multiplied by the failure count. */
#ifndef MESHOTA_NET_BACKOFF_MS
#define MESHOTA_NET_BACKOFF_MS 1000
#endif

/** Relay: most chunks sent per meshota_node_poll() call; a full transmit queue (the port's send
 *  answering MESHOTA_ERR_WOULD_BLOCK) ends the poll sooner. */
#ifndef MESHOTA_RELAY_CHUNKS_PER_POLL
#define MESHOTA_RELAY_CHUNKS_PER_POLL 8
#endif

/** Relay: how long to collect MissingChunks reports after a round. */
#ifndef MESHOTA_RELAY_REPORT_WINDOW_MS
#define MESHOTA_RELAY_REPORT_WINDOW_MS 1000
#endif

/** Relay: a target silent for this many consecutive rounds is given up on. */
#ifndef MESHOTA_RELAY_SILENT_ROUNDS
#define MESHOTA_RELAY_SILENT_ROUNDS 5
#endif

/** Relay: most repair rounds before the remaining targets are given up on. */
#ifndef MESHOTA_RELAY_MAX_ROUNDS
#define MESHOTA_RELAY_MAX_ROUNDS 50
#endif

/** Build the TCP client method (METHOD_TCP). 0 leaves it out; UpdateStart for it is then
 *  refused with ERROR_CODE_UNSUPPORTED_METHOD. */
#ifndef MESHOTA_WITH_TCP
#define MESHOTA_WITH_TCP 1
#endif

/** Build the Wi-Fi/HTTP stream method (METHOD_WIFI). */
#ifndef MESHOTA_WITH_WIFI
#define MESHOTA_WITH_WIFI 1
#endif

/** Build the relay (distributor) role; without it RelayStart gets UNSUPPORTED_METHOD. */
#ifndef MESHOTA_WITH_RELAY
#define MESHOTA_WITH_RELAY 1
#endif

/** Highest meshota_log_level_t compiled in: 1 errors ... 4 debug. Lower it to save code.
 *  Device builds (ESP-IDF defines ESP_PLATFORM) keep errors and warnings: the 16 KB code budget
 *  checked by tools/size/size.sh --check counts on it. Host builds keep every message. */
#ifndef MESHOTA_LOG_LEVEL
#ifdef ESP_PLATFORM
#define MESHOTA_LOG_LEVEL 2
#else
#define MESHOTA_LOG_LEVEL 4
#endif
#endif

#if MESHOTA_MAX_CHUNK_SIZE > 1440
#error "MESHOTA_MAX_CHUNK_SIZE cannot exceed the Chunk.data bound of 1440 bytes"
#endif
#if MESHOTA_MAX_CHUNKS % 8 != 0
#error "MESHOTA_MAX_CHUNKS must be a multiple of 8"
#endif
#if MESHOTA_PERSIST_EVERY_CHUNKS < 1 || MESHOTA_PERSIST_EVERY_CHUNKS > 65535
#error "MESHOTA_PERSIST_EVERY_CHUNKS must be 1 ... 65535"
#endif
#if MESHOTA_STREAM_UNIT > MESHOTA_MAX_CHUNK_SIZE
#error "MESHOTA_STREAM_UNIT must fit the chunk buffer"
#endif

#endif /* MESHOTA_CONFIG_H */
