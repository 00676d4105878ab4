/* Host port: emulated flash, bootloader, key-value store, clock and power cuts. */
#define _GNU_SOURCE
#include "meshota_host_port.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meshota_core/meshota_image.h"
#include "meshota_crypto_psa.h"

#define SECTOR 4096u
#define NO_SLOT 0xFFu

static uint64_t next_rand(meshota_host_t *h)
{
    uint64_t x = h->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    h->rng = x;
    return x;
}

/* Count one mutating operation. Returns true when power fails during this one. */
static bool cut_now(meshota_host_t *h)
{
    h->ops++;
    if (h->ops_until_cut < 0) {
        return false;
    }
    if (h->ops_until_cut == 0) {
        h->dead = true;
        h->ops_until_cut = -1;
        return true;
    }
    h->ops_until_cut--;
    return false;
}

/* ---- raw slot access (bytes stored inverted in files) ----------------------------------- */

static int slot_read(meshota_host_t *h, int slot, uint32_t off, uint8_t *buf, size_t len)
{
    if (h->ram[slot] != NULL) {
        memcpy(buf, h->ram[slot] + off, len);
        return 0;
    }
    ssize_t got = pread(h->fd[slot], buf, len, off);
    if (got < 0) {
        return -1;
    }
    memset(buf + got, 0, len - (size_t)got); /* Past the end of a sparse file: erased. */
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)~buf[i];
    }
    return 0;
}

static int slot_store(meshota_host_t *h, int slot, uint32_t off, const uint8_t *buf, size_t len)
{
    if (h->ram[slot] != NULL) {
        memcpy(h->ram[slot] + off, buf, len);
        return 0;
    }
    uint8_t tmp[4096];
    while (len > 0) {
        size_t n = len < sizeof(tmp) ? len : sizeof(tmp);
        for (size_t i = 0; i < n; i++) {
            tmp[i] = (uint8_t)~buf[i];
        }
        if (pwrite(h->fd[slot], tmp, n, off) != (ssize_t)n) {
            return -1;
        }
        off += (uint32_t)n;
        buf += n;
        len -= n;
    }
    return 0;
}

/* NOR programming: bits only go from 1 to 0. */
static int slot_program(meshota_host_t *h, int slot, uint32_t off, const uint8_t *data, size_t len)
{
    uint8_t cur[512];
    while (len > 0) {
        size_t n = len < sizeof(cur) ? len : sizeof(cur);
        if (slot_read(h, slot, off, cur, n) != 0) {
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            cur[i] &= data[i];
        }
        if (slot_store(h, slot, off, cur, n) != 0) {
            return -1;
        }
        off += (uint32_t)n;
        data += n;
        len -= n;
    }
    return 0;
}

static int slot_erase(meshota_host_t *h, int slot, uint32_t off, uint32_t len)
{
    static const uint8_t ff[SECTOR] = {[0 ... SECTOR - 1] = 0xFF};
    for (uint32_t at = off; at < off + len; at += SECTOR) {
        if (slot_store(h, slot, at, ff, SECTOR) != 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- boot record -------------------------------------------------------------------------- */

static void boot_save(meshota_host_t *h)
{
    if (h->dir[0] == '\0') {
        return;
    }
    char path[256];
    char tmp[264];
    snprintf(path, sizeof(path), "%s/boot.bin", h->dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (f != NULL) {
        fwrite(&h->boot, sizeof(h->boot), 1, f);
        fclose(f);
        rename(tmp, path);
    }
}

static void boot_load(meshota_host_t *h)
{
    h->boot.running = 0;
    h->boot.next = NO_SLOT;
    h->boot.prev = 0;
    h->boot.state = MESHOTA_BOOT_NORMAL;
    if (h->dir[0] == '\0') {
        return;
    }
    char path[256];
    snprintf(path, sizeof(path), "%s/boot.bin", h->dir);
    FILE *f = fopen(path, "rb");
    if (f != NULL) {
        if (fread(&h->boot, sizeof(h->boot), 1, f) != 1) {
            h->boot.running = 0;
            h->boot.next = NO_SLOT;
        }
        fclose(f);
    }
}

/* ---- port functions ----------------------------------------------------------------------- */

static int passive(const meshota_host_t *h)
{
    return 1 - h->boot.running;
}

static uint32_t p_flash_size(void *ctx)
{
    return ((meshota_host_t *)ctx)->cfg.slot_size;
}

static meshota_err_t p_flash_erase(void *ctx, uint32_t off, uint32_t len)
{
    meshota_host_t *h = ctx;
    if (h->dead) {
        return MESHOTA_ERR_POWER_LOSS;
    }
    if (off % SECTOR != 0 || len % SECTOR != 0 || off > h->cfg.slot_size ||
        len > h->cfg.slot_size - off) {
        return MESHOTA_ERR_INVALID_ARG;
    }
    if (cut_now(h)) {
        /* Power fails part way: a prefix of the sectors is erased. */
        uint32_t sectors = (uint32_t)(next_rand(h) % (len / SECTOR + 1u));
        (void)slot_erase(h, passive(h), off, sectors * SECTOR);
        return MESHOTA_ERR_POWER_LOSS;
    }
    return slot_erase(h, passive(h), off, len) == 0 ? MESHOTA_OK : MESHOTA_ERR_FLASH;
}

static meshota_err_t p_flash_write(void *ctx, uint32_t off, const uint8_t *data, size_t len)
{
    meshota_host_t *h = ctx;
    if (h->dead) {
        return MESHOTA_ERR_POWER_LOSS;
    }
    if (off > h->cfg.slot_size || len > h->cfg.slot_size - off) {
        return MESHOTA_ERR_INVALID_ARG;
    }
    if (cut_now(h)) {
        /* Power fails part way: a prefix of the bytes is programmed. */
        size_t part = (size_t)(next_rand(h) % (len + 1u));
        (void)slot_program(h, passive(h), off, data, part);
        return MESHOTA_ERR_POWER_LOSS;
    }
    return slot_program(h, passive(h), off, data, len) == 0 ? MESHOTA_OK : MESHOTA_ERR_FLASH;
}

static meshota_err_t p_flash_read(void *ctx, meshota_region_t region, uint32_t off, uint8_t *data,
                                  size_t len)
{
    meshota_host_t *h = ctx;
    if (h->dead) {
        return MESHOTA_ERR_POWER_LOSS;
    }
    if (off > h->cfg.slot_size || len > h->cfg.slot_size - off) {
        return MESHOTA_ERR_INVALID_ARG;
    }
    int slot = region == MESHOTA_REGION_RUNNING ? h->boot.running : passive(h);
    return slot_read(h, slot, off, data, len) == 0 ? MESHOTA_OK : MESHOTA_ERR_FLASH;
}

static meshota_err_t p_boot_set_next(void *ctx, uint32_t size)
{
    meshota_host_t *h = ctx;
    (void)size;
    if (h->dead || cut_now(h)) { /* the boot record is a flash write too */
        return MESHOTA_ERR_POWER_LOSS;
    }
    h->boot.next = (uint8_t)passive(h);
    boot_save(h);
    return MESHOTA_OK;
}

static meshota_err_t p_boot_confirm(void *ctx)
{
    meshota_host_t *h = ctx;
    if (h->dead || cut_now(h)) { /* the boot record is a flash write too */
        return MESHOTA_ERR_POWER_LOSS;
    }
    h->boot.state = MESHOTA_BOOT_NORMAL;
    boot_save(h);
    return MESHOTA_OK;
}

static meshota_err_t p_boot_rollback(void *ctx)
{
    meshota_host_t *h = ctx;
    if (h->dead || cut_now(h)) { /* the boot record is a flash write too */
        return MESHOTA_ERR_POWER_LOSS;
    }
    if (h->boot.state == MESHOTA_BOOT_PENDING_VERIFY) {
        h->boot.running = h->boot.prev;
        h->boot.state = MESHOTA_BOOT_ROLLED_BACK;
        h->boot.next = NO_SLOT;
        boot_save(h);
    }
    h->restart_requested = true;
    return MESHOTA_OK;
}

static meshota_boot_state_t p_boot_state(void *ctx)
{
    return (meshota_boot_state_t)((meshota_host_t *)ctx)->boot.state;
}

static meshota_err_t p_running_info(void *ctx, meshota_running_t *out)
{
    meshota_host_t *h = ctx;
    uint8_t desc[MESHOTA_APP_DESC_SIZE];
    meshota_image_info_t info;
    memset(out, 0, sizeof(*out));
    memset(&info, 0, sizeof(info));
    if (slot_read(h, h->boot.running, MESHOTA_APP_DESC_OFFSET, desc, sizeof(desc)) == 0 &&
        meshota_app_desc_parse(desc, &info)) {
        memcpy(out->project_name, info.project_name, 32);
        memcpy(out->version, info.version, 32);
        memcpy(out->idf_version, info.idf_version, 32);
        out->secure_version = info.secure_version;
    }
    out->chip_id = h->cfg.chip_id;
    out->chip_revision = h->cfg.chip_revision;
    return MESHOTA_OK;
}

static void p_restart(void *ctx)
{
    ((meshota_host_t *)ctx)->restart_requested = true;
}

static int kv_find(meshota_host_t *h, const char *key)
{
    for (int i = 0; i < MESHOTA_HOST_KV_MAX; i++) {
        if (h->kv[i].val != NULL && strcmp(h->kv[i].key, key) == 0) {
            return i;
        }
    }
    return -1;
}

static void kv_path(const meshota_host_t *h, const char *key, char *out, size_t size)
{
    snprintf(out, size, "%s/kv/%s", h->dir, key);
}

static meshota_err_t p_kv_get(void *ctx, const char *key, void *buf, size_t size, size_t *out_len)
{
    meshota_host_t *h = ctx;
    if (h->dead) {
        return MESHOTA_ERR_POWER_LOSS;
    }
    if (strlen(key) > MESHOTA_KV_KEY_MAX) {
        return MESHOTA_ERR_INVALID_ARG;
    }
    if (h->dir[0] == '\0') {
        int i = kv_find(h, key);
        if (i < 0) {
            return MESHOTA_ERR_NOT_FOUND;
        }
        if (h->kv[i].len > size) {
            return MESHOTA_ERR_NO_MEM;
        }
        memcpy(buf, h->kv[i].val, h->kv[i].len);
        *out_len = h->kv[i].len;
        return MESHOTA_OK;
    }
    char path[256];
    kv_path(h, key, path, sizeof(path));
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        return errno == ENOENT ? MESHOTA_ERR_NOT_FOUND : MESHOTA_ERR_STORAGE;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size > size) {
        close(fd);
        return MESHOTA_ERR_NO_MEM;
    }
    ssize_t got = read(fd, buf, (size_t)st.st_size);
    close(fd);
    if (got != st.st_size) {
        return MESHOTA_ERR_STORAGE;
    }
    *out_len = (size_t)got;
    return MESHOTA_OK;
}

static meshota_err_t kv_store(meshota_host_t *h, const char *key, const void *buf, size_t len,
                              bool erase)
{
    if (h->dir[0] == '\0') {
        int i = kv_find(h, key);
        if (erase) {
            if (i >= 0) {
                free(h->kv[i].val);
                h->kv[i].val = NULL;
            }
            return MESHOTA_OK;
        }
        if (i < 0) {
            for (i = 0; i < MESHOTA_HOST_KV_MAX && h->kv[i].val != NULL; i++) {
            }
            if (i == MESHOTA_HOST_KV_MAX) {
                return MESHOTA_ERR_NO_MEM;
            }
        }
        uint8_t *copy = malloc(len > 0 ? len : 1);
        if (copy == NULL) {
            return MESHOTA_ERR_NO_MEM;
        }
        memcpy(copy, buf, len);
        free(h->kv[i].val);
        snprintf(h->kv[i].key, sizeof(h->kv[i].key), "%s", key);
        h->kv[i].val = copy;
        h->kv[i].len = len;
        return MESHOTA_OK;
    }
    char path[256];
    char tmp[264];
    kv_path(h, key, path, sizeof(path));
    if (erase) {
        return unlink(path) == 0 || errno == ENOENT ? MESHOTA_OK : MESHOTA_ERR_STORAGE;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        return MESHOTA_ERR_STORAGE;
    }
    bool ok = write(fd, buf, len) == (ssize_t)len;
    close(fd);
    /* rename() replaces atomically: after a crash the old or the new value is there. */
    return ok && rename(tmp, path) == 0 ? MESHOTA_OK : MESHOTA_ERR_STORAGE;
}

static meshota_err_t p_kv_set(void *ctx, const char *key, const void *buf, size_t len)
{
    meshota_host_t *h = ctx;
    if (h->dead) {
        return MESHOTA_ERR_POWER_LOSS;
    }
    if (strlen(key) > MESHOTA_KV_KEY_MAX) {
        return MESHOTA_ERR_INVALID_ARG;
    }
    if (cut_now(h)) {
        /* Atomic store: the new value landed or it did not. */
        if (next_rand(h) & 1u) {
            (void)kv_store(h, key, buf, len, false);
        }
        return MESHOTA_ERR_POWER_LOSS;
    }
    return kv_store(h, key, buf, len, false);
}

static meshota_err_t p_kv_erase(void *ctx, const char *key)
{
    meshota_host_t *h = ctx;
    if (h->dead) {
        return MESHOTA_ERR_POWER_LOSS;
    }
    if (cut_now(h)) {
        if (next_rand(h) & 1u) {
            (void)kv_store(h, key, NULL, 0, true);
        }
        return MESHOTA_ERR_POWER_LOSS;
    }
    return kv_store(h, key, NULL, 0, true);
}

static uint64_t p_now_ms(void *ctx)
{
    return ((meshota_host_t *)ctx)->clock_ms;
}

static void p_random(void *ctx, uint8_t *buf, size_t len)
{
    meshota_host_t *h = ctx;
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)next_rand(h);
    }
}

static void p_log(void *ctx, meshota_log_level_t level, const char *tag, const char *fmt,
                  va_list args)
{
    meshota_host_t *h = ctx;
    if (h->log_hook == NULL && (int)level > h->log_level) {
        return;
    }
    char line[256];
    int n = snprintf(line, sizeof(line), "%s: ", tag);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, args);
    if (h->log_hook != NULL) {
        h->log_hook(h->user, level, line);
    }
    if ((int)level <= h->log_level) {
        fprintf(stderr, "[%llu] %s\n", (unsigned long long)h->clock_ms, line);
    }
}

static meshota_err_t p_send_nowhere(void *ctx, meshota_bearer_t bearer, const meshota_peer_t *to,
                                    const uint8_t *payload, size_t len)
{
    (void)ctx;
    (void)bearer;
    (void)to;
    (void)payload;
    (void)len;
    return MESHOTA_OK;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

meshota_err_t meshota_host_open(meshota_host_t *h, const meshota_host_config_t *cfg)
{
    memset(h, 0, sizeof(*h));
    h->cfg = *cfg;
    h->fd[0] = h->fd[1] = -1;
    h->rng = cfg->seed != 0 ? cfg->seed : 0x9E3779B97F4A7C15ull;
    h->ops_until_cut = -1;
    if (cfg->slot_size == 0 || cfg->slot_size % SECTOR != 0) {
        return MESHOTA_ERR_INVALID_ARG;
    }
    if (cfg->dir != NULL) {
        snprintf(h->dir, sizeof(h->dir), "%s", cfg->dir);
        char path[256];
        mkdir(h->dir, 0755);
        snprintf(path, sizeof(path), "%s/kv", h->dir);
        mkdir(path, 0755);
        for (int s = 0; s < 2; s++) {
            snprintf(path, sizeof(path), "%s/slot%d.bin", h->dir, s);
            h->fd[s] = open(path, O_RDWR | O_CREAT, 0644);
            if (h->fd[s] < 0 || ftruncate(h->fd[s], cfg->slot_size) != 0) {
                meshota_host_close(h);
                return MESHOTA_ERR_FLASH;
            }
        }
    } else {
        for (int s = 0; s < 2; s++) {
            h->ram[s] = malloc(cfg->slot_size);
            if (h->ram[s] == NULL) {
                meshota_host_close(h);
                return MESHOTA_ERR_NO_MEM;
            }
            memset(h->ram[s], 0xFF, cfg->slot_size);
        }
    }
    boot_load(h);

    meshota_port_t *p = &h->port;
    p->ctx = h;
    p->flash_size = p_flash_size;
    p->flash_erase = p_flash_erase;
    p->flash_write = p_flash_write;
    p->flash_read = p_flash_read;
    p->boot_set_next = p_boot_set_next;
    p->boot_confirm = p_boot_confirm;
    p->boot_rollback = p_boot_rollback;
    p->boot_state = p_boot_state;
    p->running_info = p_running_info;
    p->restart = p_restart;
    p->kv_get = p_kv_get;
    p->kv_set = p_kv_set;
    p->kv_erase = p_kv_erase;
    meshota_psa_fill_port(p);
    p->now_ms = p_now_ms;
    p->random = p_random;
    p->log = p_log;
    p->send = p_send_nowhere;
    return MESHOTA_OK;
}

void meshota_host_close(meshota_host_t *h)
{
    for (int s = 0; s < 2; s++) {
        free(h->ram[s]);
        h->ram[s] = NULL;
        if (h->fd[s] >= 0) {
            close(h->fd[s]);
            h->fd[s] = -1;
        }
    }
    for (int i = 0; i < MESHOTA_HOST_KV_MAX; i++) {
        free(h->kv[i].val);
        h->kv[i].val = NULL;
    }
}

meshota_err_t meshota_host_install(meshota_host_t *h, const uint8_t *img, size_t len)
{
    int slot = h->boot.running;
    if (len > h->cfg.slot_size || slot_erase(h, slot, 0, h->cfg.slot_size) != 0 ||
        slot_program(h, slot, 0, img, len) != 0) {
        return MESHOTA_ERR_FLASH;
    }
    return MESHOTA_OK;
}

void meshota_host_reboot(meshota_host_t *h)
{
    h->dead = false;
    h->ops_until_cut = -1;
    h->restart_requested = false;
    if (h->boot.next != NO_SLOT) {
        h->boot.prev = h->boot.running;
        h->boot.running = h->boot.next;
        h->boot.next = NO_SLOT;
        h->boot.state = MESHOTA_BOOT_PENDING_VERIFY;
    } else if (h->boot.state == MESHOTA_BOOT_PENDING_VERIFY) {
        /* Reset before the new image confirmed itself: back to the previous one. */
        h->boot.running = h->boot.prev;
        h->boot.state = MESHOTA_BOOT_ROLLED_BACK;
    }
    boot_save(h);
}

meshota_err_t meshota_host_read_slot(meshota_host_t *h, int slot, uint32_t off, uint8_t *buf,
                                     size_t len)
{
    if (slot < 0 || slot > 1 || off > h->cfg.slot_size || len > h->cfg.slot_size - off) {
        return MESHOTA_ERR_INVALID_ARG;
    }
    return slot_read(h, slot, off, buf, len) == 0 ? MESHOTA_OK : MESHOTA_ERR_FLASH;
}

void meshota_host_cut_after(meshota_host_t *h, int64_t ops)
{
    h->ops_until_cut = ops;
}
