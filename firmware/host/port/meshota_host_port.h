/**
 * @file meshota_host_port.h
 * @brief Host implementation of meshota_port_t: file- or RAM-backed flash with NOR semantics,
 * a simulated bootloader (two OTA slots, pending verify, rollback), a key-value store, a
 * virtual clock, and power-cut injection for tests.
 *
 * The embedder (a test or the emulator) sets meshota_host_t.port.send and, when needed,
 * net_open/net_send/net_close and stream_* to its own functions; their ctx is the
 * meshota_host_t, whose @c user field is free for the embedder.
 *
 * Flash files store every byte inverted, so a fresh sparse file reads as erased (0xFF) and
 * 500 nodes with megabyte slots cost almost no disk.
 */
#ifndef MESHOTA_HOST_PORT_H
#define MESHOTA_HOST_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meshota_core/meshota_port.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MESHOTA_HOST_KV_MAX 8 /**< Keys of the RAM store. */

/** Settings of one emulated device. */
typedef struct {
    const char *dir;        /**< State directory (flash files, kv/, boot.bin); NULL: RAM only. */
    uint32_t slot_size;     /**< Bytes per OTA slot (multiple of 4096). */
    uint32_t chip_id;       /**< Chip id reported by running_info. */
    uint32_t chip_revision; /**< major * 100 + minor. */
    uint64_t seed;          /**< Seed of random() and of torn-write lengths. */
} meshota_host_config_t;

/** One emulated device. Plain struct; no global state. */
typedef struct meshota_host {
    meshota_port_t port; /**< ctx == this struct. */
    void *user;          /**< Free for the embedder's port functions. */
    meshota_host_config_t cfg;
    char dir[200];
    uint8_t *ram[2];     /**< RAM slots (NULL when file-backed). */
    int fd[2];           /**< Slot files (-1 when RAM-backed). */
    struct {
        char key[MESHOTA_KV_KEY_MAX + 1];
        uint8_t *val;
        size_t len;
    } kv[MESHOTA_HOST_KV_MAX];
    struct {
        uint8_t running; /**< Slot the firmware runs from. */
        uint8_t next;    /**< Slot to boot next, 0xFF for none. */
        uint8_t prev;    /**< Slot to fall back to. */
        uint8_t state;   /**< meshota_boot_state_t. */
    } boot;
    uint64_t clock_ms;         /**< Virtual clock. */
    uint64_t rng;              /**< xorshift64 state. */
    int64_t ops_until_cut;     /**< Mutating operations before a power cut; < 0: never. */
    bool dead;                 /**< Power is cut: every operation fails until reboot. */
    bool restart_requested;    /**< restart() was called. */
    uint32_t ops;              /**< Mutating operations so far (for picking cut points). */
    int log_level;             /**< Print messages up to this level to stderr (0: none). */
    void (*log_hook)(void *user, meshota_log_level_t level, const char *line);
} meshota_host_t;

/** Open (or create) the device. */
meshota_err_t meshota_host_open(meshota_host_t *h, const meshota_host_config_t *cfg);
/** Release files and memory. */
void meshota_host_close(meshota_host_t *h);
/** Write @p img into the running slot as the factory image (erasing the slot first). */
meshota_err_t meshota_host_install(meshota_host_t *h, const uint8_t *img, size_t len);
/** Simulated bootloader after a reset or power cut: switch slots, pending verify, rollback. */
void meshota_host_reboot(meshota_host_t *h);
/** Read raw bytes of slot @p slot (0 or 1) for inspection. */
meshota_err_t meshota_host_read_slot(meshota_host_t *h, int slot, uint32_t off, uint8_t *buf,
                                     size_t len);
/** Cut power after @p ops more mutating operations (flash write/erase, kv set/erase). */
void meshota_host_cut_after(meshota_host_t *h, int64_t ops);

#ifdef __cplusplus
}
#endif

#endif /* MESHOTA_HOST_PORT_H */
