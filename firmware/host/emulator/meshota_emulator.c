/*
 * meshota_emulator: runs many meshota nodes (the real meshota_core) in one process.
 *
 * Each node has its own state directory (<dir>/<addr as 4 hex digits>/: two flash slot files,
 * kv/, boot.bin) and a virtual clock that only moves on the "advance" command, so runs are
 * deterministic. A client drives the nodes over one TCP loopback connection with
 * length-prefixed frames; docs/firmware.md "Node emulator" is the reference:
 *
 *   frame  = u32 LE length of what follows | u16 LE node | u8 kind | u16 LE peer | payload
 *
 * kinds: 1 MESH (payload: 6-bit opcode then parameters), 2 ESPNOW (payload: DataFrame),
 * 3 TCP_DATA, 4 TCP_OPEN (node -> client, payload "host:port"), 5 TCP_CONNECTED (client ->
 * node), 6 TCP_CLOSE, 7 STREAM_OPEN (node -> client, "<offset> <url>"), 8 STREAM_DATA (client ->
 * node, image bytes), 9 STREAM_END (client -> node, empty or an error text), 10 STREAM_CLOSE
 * (node -> client), 11 ESPNOW_BEGIN (node -> client, channel u8 then the peer's 6-byte MAC or
 * nothing for any), 12 ESPNOW_END (node -> client), 16 COMMAND (client -> emulator, text),
 * 17 REPLY (text), 18 EVENT (text), 19 CLOCK (emulator -> client, u64 LE ms: when the node
 * frames that follow were sent).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <psa/crypto.h>

#include "meshota_core/meshota_node.h"
#include "meshota_host_net/meshota_host_http.h"
#include "meshota_host_net/meshota_host_net_node.h"
#include "meshota_host_port.h"
#include "meshota_testlib.h"

enum {
    KIND_MESH = 1,
    KIND_ESPNOW = 2,
    KIND_TCP_DATA = 3,
    KIND_TCP_OPEN = 4,
    KIND_TCP_CONNECTED = 5,
    KIND_TCP_CLOSE = 6,
    KIND_STREAM_OPEN = 7,
    KIND_STREAM_DATA = 8,
    KIND_STREAM_END = 9,
    KIND_STREAM_CLOSE = 10,
    KIND_ESPNOW_BEGIN = 11,
    KIND_ESPNOW_END = 12,
    KIND_COMMAND = 16,
    KIND_REPLY = 17,
    KIND_EVENT = 18,
    KIND_CLOCK = 19,
};

#define MAX_NODES 1024
#define MAX_PAYLOAD 4096
#define STEP_MS 10u

typedef struct {
    uint16_t addr;
    bool on;              /* powered */
    uint64_t skew_ms;     /* this node's clock runs ahead of the emulator's by this much */
    uint8_t key[65];
    meshota_host_t host;
    meshota_node_config_t cfg;
    meshota_node_t node;
    double espnow_busy_ms;     /* the node's radio sends its queued ESP-NOW frames until then */
    bool espnow_on;            /* between espnow_begin and espnow_end or the power going */
    struct {
        uint16_t id;           /* number of the current stream (peer of its frames) */
        bool open;
        bool ended;            /* STREAM_END came: reads end once the buffer is empty */
        meshota_err_t error;   /* what the stream ended with (MESHOTA_OK: the image's end) */
        uint8_t *buf;          /* bytes received and not yet read, from `at` to `len` */
        size_t at, len, cap;
    } stream;                  /* net=client: the image stream the client serves */
    bool posix_net;            /* net=posix: real TCP and HTTP over the host's sockets */
    meshota_host_net_t net;    /* net=posix: the node's TCP connection */
    meshota_host_http_t http;  /* net=posix: the node's HTTP image stream */
} emu_node_t;

typedef struct {
    char dir[160];
    int client;
    uint64_t now_ms;
    uint64_t clock_sent_ms; /* time of the last CLOCK frame; UINT64_MAX: none yet */
    uint8_t key[65];      /* default key for new nodes */
    int log_level;
    /* The ESP-NOW radio of every node: bit/s on air (0: unlimited, every send succeeds at
     * once), bytes of overhead per frame, frames queued before a send is refused. */
    uint32_t espnow_rate;
    uint32_t espnow_overhead;
    uint32_t espnow_queue;
    size_t n;
    emu_node_t *nodes[MAX_NODES];
} emu_t;

static emu_t s_emu; /* the process: one emulator; nodes themselves share nothing */

/* ---- output ------------------------------------------------------------------------------- */

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0 && fd >= 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return;
        }
        p += w;
        len -= (size_t)w;
    }
}

static void emit(uint16_t node, uint8_t kind, uint16_t peer, const uint8_t *payload, size_t len)
{
    if (node != 0 && s_emu.clock_sent_ms != s_emu.now_ms) {
        /* Node frames of a new instant: tell the client when they were sent. */
        uint8_t t[8];
        for (int i = 0; i < 8; i++) {
            t[i] = (uint8_t)(s_emu.now_ms >> (8 * i));
        }
        s_emu.clock_sent_ms = s_emu.now_ms;
        emit(0, KIND_CLOCK, 0, t, sizeof(t));
    }
    uint8_t hdr[9];
    uint32_t total = (uint32_t)(5 + len);
    put16(hdr, total);
    put16(hdr + 2, total >> 16);
    put16(hdr + 4, node);
    hdr[6] = kind;
    put16(hdr + 7, peer);
    write_all(s_emu.client, hdr, sizeof(hdr));
    write_all(s_emu.client, payload, len);
}

static void emit_text(uint8_t kind, const char *fmt, ...)
{
    char buf[MAX_PAYLOAD];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0) {
        n = 0;
    }
    if ((size_t)n >= sizeof(buf)) {
        n = sizeof(buf) - 1;
    }
    emit(0, kind, 0, (const uint8_t *)buf, (size_t)n);
}

/* ---- node ports ----------------------------------------------------------------------------- */

/* The node's radio takes one ESP-NOW frame of @p len bytes into its transmit queue, or refuses it
 * when the queue is full (esp_now_send's ESP_ERR_ESPNOW_NO_MEM). Frames go on air one after
 * another at espnow_rate; the queue is full when what waits would take longer than espnow_queue
 * frames of this size (the same rule as @meshota/sim's EspNowMedium, in the same arithmetic). */
static bool espnow_queue_take(emu_node_t *e, size_t len)
{
    if (s_emu.espnow_rate == 0) {
        return true;
    }
    double now = (double)s_emu.now_ms; /* the air's time, not the node's own (skewed) clock */
    double air = ((double)(len + s_emu.espnow_overhead) * 8 * 1000) / s_emu.espnow_rate;
    if (e->espnow_busy_ms - now > air * s_emu.espnow_queue) {
        return false;
    }
    e->espnow_busy_ms = (e->espnow_busy_ms > now ? e->espnow_busy_ms : now) + air;
    return true;
}

static meshota_err_t node_send(void *ctx, meshota_bearer_t bearer, const meshota_peer_t *to,
                               const uint8_t *payload, size_t len)
{
    meshota_host_t *h = ctx;
    emu_node_t *e = h->user;
    if (h->dead) {
        return MESHOTA_ERR_POWER_LOSS;
    }
    if (bearer == MESHOTA_BEARER_ESPNOW && !espnow_queue_take(e, len)) {
        return MESHOTA_ERR_WOULD_BLOCK;
    }
    uint16_t peer = to->mesh_addr;
    if (bearer == MESHOTA_BEARER_ESPNOW && to->has_mac) {
        /* Emulated MACs are 02:00:00:00:hi:lo of the mesh address; ff.. is broadcast. */
        peer = to->mac[0] == 0xFF ? 0xFFFF : (uint16_t)((to->mac[4] << 8) | to->mac[5]);
    }
    emit(e->addr, bearer == MESHOTA_BEARER_MESH ? KIND_MESH : KIND_ESPNOW, peer, payload, len);
    return MESHOTA_OK;
}

static meshota_err_t node_net_open(void *ctx, const char *host, uint16_t port,
                                   const meshota_wifi_creds_t *creds)
{
    meshota_host_t *h = ctx;
    emu_node_t *e = h->user;
    (void)creds; /* The emulated network needs no join; credentials are never forwarded. */
    char text[96];
    int n = snprintf(text, sizeof(text), "%s:%u", host, (unsigned)port);
    emit(e->addr, KIND_TCP_OPEN, 0, (const uint8_t *)text, (size_t)n);
    return MESHOTA_OK;
}

static meshota_err_t node_net_send(void *ctx, const uint8_t *data, size_t len)
{
    meshota_host_t *h = ctx;
    emu_node_t *e = h->user;
    emit(e->addr, KIND_TCP_DATA, 0, data, len);
    return MESHOTA_OK;
}

static void node_net_close(void *ctx)
{
    meshota_host_t *h = ctx;
    emu_node_t *e = h->user;
    emit(e->addr, KIND_TCP_CLOSE, 0, NULL, 0);
}

/* The stream source port over the client (net=client): the node asks for the image from an
 * offset with STREAM_OPEN, and the client sends STREAM_DATA, then STREAM_END, tagged with the
 * stream's number; frames of an earlier stream are dropped. The URL goes to the client, the
 * credentials and the certificate pin never do. */
static void stream_reset(emu_node_t *e)
{
    e->stream.open = false;
    e->stream.ended = false;
    e->stream.error = MESHOTA_OK;
    e->stream.at = e->stream.len = 0;
}

static meshota_err_t node_stream_open(void *ctx, const char *url, const uint8_t *cert,
                                      const meshota_wifi_creds_t *creds, uint32_t offset)
{
    emu_node_t *e = ((meshota_host_t *)ctx)->user;
    (void)cert; /* The emulated network has no TLS. */
    (void)creds;
    char text[MAX_PAYLOAD];
    int n = snprintf(text, sizeof(text), "%u %s", (unsigned)offset, url);
    if (n < 0 || (size_t)n >= sizeof(text)) {
        return MESHOTA_ERR_INVALID_ARG;
    }
    stream_reset(e);
    e->stream.open = true;
    e->stream.id++;
    emit(e->addr, KIND_STREAM_OPEN, e->stream.id, (const uint8_t *)text, (size_t)n);
    return MESHOTA_OK;
}

static int32_t node_stream_read(void *ctx, uint8_t *buf, size_t len)
{
    emu_node_t *e = ((meshota_host_t *)ctx)->user;
    size_t have = e->stream.len - e->stream.at;
    if (!e->stream.open) {
        return -(int32_t)MESHOTA_ERR_NET;
    }
    if (have == 0) {
        if (!e->stream.ended) {
            return -(int32_t)MESHOTA_ERR_WOULD_BLOCK;
        }
        return e->stream.error == MESHOTA_OK ? 0 : -(int32_t)e->stream.error;
    }
    size_t k = have < len ? have : len;
    if (k > INT32_MAX) {
        k = INT32_MAX;
    }
    memcpy(buf, e->stream.buf + e->stream.at, k);
    e->stream.at += k;
    return (int32_t)k;
}

static void node_stream_close(void *ctx)
{
    emu_node_t *e = ((meshota_host_t *)ctx)->user;
    if (e->stream.open) {
        emit(e->addr, KIND_STREAM_CLOSE, e->stream.id, NULL, 0);
    }
    stream_reset(e);
}

/* Whether a STREAM_DATA/STREAM_END tagged @p id belongs to the stream the node still reads. */
static bool stream_current(const emu_node_t *e, uint16_t id)
{
    return e->stream.open && !e->stream.ended && id == e->stream.id;
}

/* STREAM_DATA for the current stream: keep the bytes until the node reads them. */
static void stream_data(emu_node_t *e, uint16_t id, const uint8_t *p, size_t len)
{
    if (!stream_current(e, id)) {
        return;
    }
    if (e->stream.at > 0) {
        memmove(e->stream.buf, e->stream.buf + e->stream.at, e->stream.len - e->stream.at);
        e->stream.len -= e->stream.at;
        e->stream.at = 0;
    }
    if (e->stream.len + len > e->stream.cap) {
        size_t cap = e->stream.cap == 0 ? 2 * MAX_PAYLOAD : e->stream.cap;
        while (cap < e->stream.len + len) {
            cap *= 2;
        }
        uint8_t *b = realloc(e->stream.buf, cap);
        if (b == NULL) {
            e->stream.ended = true; /* Out of memory: the read fails like a dropped link. */
            e->stream.error = MESHOTA_ERR_NO_MEM;
            return;
        }
        e->stream.buf = b;
        e->stream.cap = cap;
    }
    memcpy(e->stream.buf + e->stream.len, p, len);
    e->stream.len += len;
}

/* STREAM_END for the current stream: empty, the image's end; else why the stream failed. */
static void stream_end(emu_node_t *e, uint16_t id, const uint8_t *p, size_t len)
{
    if (!stream_current(e, id)) {
        return;
    }
    e->stream.ended = true;
    e->stream.error = len == 0 ? MESHOTA_OK : MESHOTA_ERR_NET;
    if (len > 0 && e->host.log_level >= MESHOTA_LOG_WARN) {
        fprintf(stderr, "node %04x: stream %u failed: %.*s\n", e->addr, e->stream.id, (int)len,
                (const char *)p);
    }
}

/* net=posix: the node's own sockets (firmware/host/net) instead of frames to the client. */
static meshota_err_t posix_net_open(void *ctx, const char *host, uint16_t port,
                                    const meshota_wifi_creds_t *creds)
{
    emu_node_t *e = ((meshota_host_t *)ctx)->user;
    return meshota_host_net_open(&e->net, host, port, creds);
}

static meshota_err_t posix_net_send(void *ctx, const uint8_t *data, size_t len)
{
    emu_node_t *e = ((meshota_host_t *)ctx)->user;
    return meshota_host_net_send(&e->net, data, len);
}

static void posix_net_close(void *ctx)
{
    emu_node_t *e = ((meshota_host_t *)ctx)->user;
    meshota_host_net_close(&e->net);
}

static meshota_err_t posix_stream_open(void *ctx, const char *url, const uint8_t *cert,
                                       const meshota_wifi_creds_t *creds, uint32_t offset)
{
    emu_node_t *e = ((meshota_host_t *)ctx)->user;
    return meshota_host_http_open(&e->http, url, cert, creds, offset);
}

static int32_t posix_stream_read(void *ctx, uint8_t *buf, size_t len)
{
    emu_node_t *e = ((meshota_host_t *)ctx)->user;
    return meshota_host_http_read(&e->http, buf, len);
}

static void posix_stream_close(void *ctx)
{
    emu_node_t *e = ((meshota_host_t *)ctx)->user;
    meshota_host_http_close(&e->http);
}

/* The client tunes the node's ESP-NOW station to the channel: it hears every sender there (the
 * peer only joins the peer list, as on the device), and nothing once ESP-NOW has ended, as
 * esp_now_deinit leaves a radio. */
static meshota_err_t node_espnow_begin(void *ctx, uint8_t channel, const uint8_t *peer)
{
    emu_node_t *e = ((meshota_host_t *)ctx)->user;
    uint8_t p[7] = {channel};
    if (peer != NULL) {
        memcpy(p + 1, peer, 6);
    }
    e->espnow_on = true;
    emit(e->addr, KIND_ESPNOW_BEGIN, 0, p, peer != NULL ? 7 : 1);
    return MESHOTA_OK;
}

static void espnow_off(emu_node_t *e)
{
    if (e->espnow_on) {
        e->espnow_on = false;
        emit(e->addr, KIND_ESPNOW_END, 0, NULL, 0);
    }
}

static void node_espnow_end(void *ctx)
{
    espnow_off(((meshota_host_t *)ctx)->user);
}

/* ---- node lifecycle ------------------------------------------------------------------------- */

static emu_node_t *find(uint16_t addr)
{
    for (size_t i = 0; i < s_emu.n; i++) {
        if (s_emu.nodes[i]->addr == addr) {
            return s_emu.nodes[i];
        }
    }
    return NULL;
}

static meshota_err_t power_on(emu_node_t *e)
{
    stream_reset(e); /* A restarted device has no stream; its old frames are dropped. */
    espnow_off(e);   /* ... nor ESP-NOW until the core begins it again. */
    if (e->posix_net) {
        /* A restarted device has no open connections. */
        meshota_host_net_close(&e->net);
        meshota_host_http_close(&e->http);
    }
    meshota_host_reboot(&e->host);
    e->host.clock_ms = s_emu.now_ms + e->skew_ms;
    e->espnow_busy_ms = 0; /* The radio's queue is gone with the power. */
    e->cfg.public_key = e->key;
    meshota_err_t err = meshota_node_init(&e->node, &e->host.port, &e->cfg);
    e->on = err == MESHOTA_OK;
    return err;
}

static const char *arg(const char *args, const char *name, char *out, size_t size)
{
    size_t n = strlen(name);
    for (const char *p = args; p != NULL && *p != '\0';) {
        while (*p == ' ') {
            p++;
        }
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            p += n + 1;
            size_t k = strcspn(p, " ");
            if (k >= size) {
                k = size - 1;
            }
            memcpy(out, p, k);
            out[k] = '\0';
            return out;
        }
        p = strchr(p, ' ');
    }
    return NULL;
}

static uint32_t arg_u32(const char *args, const char *name, uint32_t def)
{
    char v[32];
    return arg(args, name, v, sizeof(v)) != NULL ? (uint32_t)strtoul(v, NULL, 0) : def;
}

static void cmd_add(uint16_t addr, const char *args)
{
    if (find(addr) != NULL) {
        emit_text(KIND_REPLY, "error node %04x exists", addr);
        return;
    }
    if (s_emu.key[0] != 0x04) {
        emit_text(KIND_REPLY, "error set a key first (key * <hex>)");
        return;
    }
    if (s_emu.n == MAX_NODES) {
        emit_text(KIND_REPLY, "error too many nodes (%d)", MAX_NODES);
        return;
    }
    emu_node_t *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        emit_text(KIND_REPLY, "error out of memory");
        return;
    }
    char path[256];
    char version[32] = "1.0.0";
    char project[32] = "demo";
    char methods[64] = "mesh,espnow,tcp";
    arg(args, "version", version, sizeof(version));
    arg(args, "project", project, sizeof(project));
    arg(args, "methods", methods, sizeof(methods));
    snprintf(path, sizeof(path), "%s/%04x", s_emu.dir, addr);
    struct stat st;
    bool fresh = stat(path, &st) != 0;
    meshota_host_config_t hc = {
        .dir = path,
        .slot_size = arg_u32(args, "slot", 1024 * 1024),
        .chip_id = arg_u32(args, "chip", 5),
        .chip_revision = arg_u32(args, "rev", 3),
        .seed = addr + 1u,
    };
    if (meshota_host_open(&e->host, &hc) != MESHOTA_OK) {
        emit_text(KIND_REPLY, "error cannot open state of node %04x", addr);
        free(e);
        return;
    }
    e->addr = addr;
    memcpy(e->key, s_emu.key, sizeof(e->key));
    e->host.user = e;
    e->host.log_level = s_emu.log_level;
    e->host.port.send = node_send;
    e->host.port.net_open = node_net_open;
    e->host.port.net_send = node_net_send;
    e->host.port.net_close = node_net_close;
    e->host.port.espnow_begin = node_espnow_begin;
    e->host.port.espnow_end = node_espnow_end;
    e->host.port.stream_open = node_stream_open;
    e->host.port.stream_read = node_stream_read;
    e->host.port.stream_close = node_stream_close;
    e->cfg.max_chunk_size = (uint16_t)arg_u32(args, "maxchunk", 1024);
    e->cfg.wifi_mac[0] = 0x02;
    e->cfg.wifi_mac[4] = (uint8_t)(addr >> 8);
    e->cfg.wifi_mac[5] = (uint8_t)addr;
    static const struct {
        const char *name;
        meshota_v1_Method method;
    } k_methods[] = {{"mesh", meshota_v1_Method_METHOD_MESH},
                     {"espnow", meshota_v1_Method_METHOD_ESPNOW},
                     {"tcp", meshota_v1_Method_METHOD_TCP},
                     {"wifi", meshota_v1_Method_METHOD_WIFI}};
    for (size_t i = 0; i < sizeof(k_methods) / sizeof(k_methods[0]); i++) {
        if (strstr(methods, k_methods[i].name) != NULL) {
            e->cfg.methods |= MESHOTA_METHOD_BIT(k_methods[i].method);
        }
    }
    char net[16] = "client";
    arg(args, "net", net, sizeof(net));
    if (strcmp(net, "posix") == 0) {
        e->posix_net = true;
        meshota_host_net_init_for_node(&e->net, &e->node);
        meshota_host_http_init(&e->http);
        e->host.port.net_open = posix_net_open;
        e->host.port.net_send = posix_net_send;
        e->host.port.net_close = posix_net_close;
        e->host.port.stream_open = posix_stream_open;
        e->host.port.stream_read = posix_stream_read;
        e->host.port.stream_close = posix_stream_close;
    }
    if (fresh) {
        /* Factory image: a valid app image with the requested identity. */
        static uint8_t img[16384];
        mt_image_params_t p = mt_image_defaults();
        p.chip_id = hc.chip_id;
        p.version = version;
        p.project = project;
        p.secure_version = arg_u32(args, "secure", 0);
        p.size = 4096;
        size_t len = mt_image_build(&p, img, sizeof(img));
        if (len == 0 || meshota_host_install(&e->host, img, len) != MESHOTA_OK) {
            emit_text(KIND_REPLY, "error cannot install factory image on %04x", addr);
            meshota_host_close(&e->host);
            free(e);
            return;
        }
    }
    s_emu.nodes[s_emu.n++] = e;
    meshota_err_t err = power_on(e);
    if (err != MESHOTA_OK) {
        emit_text(KIND_REPLY, "error node %04x init failed 0x%x", addr, (unsigned)err);
        return;
    }
    emit_text(KIND_REPLY, "ok");
}

static bool parse_hex(const char *s, uint8_t *out, size_t len)
{
    if (strlen(s) != 2 * len) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) {
            return false;
        }
        out[i] = (uint8_t)v;
    }
    return true;
}

static void cmd_status(emu_node_t *e)
{
    const meshota_node_t *n = &e->node;
    if (!e->on || e->host.dead) {
        emit_text(KIND_REPLY, "ok addr=%04x power=off", e->addr);
        return;
    }
    emit_text(KIND_REPLY,
              "ok addr=%04x power=on phase=%d error=%d bytes=%u version=%s project=%s "
              "secure=%u slot=%u boot=%u relay=%d",
              e->addr, meshota_node_phase(n), meshota_node_error(n),
              (unsigned)meshota_node_bytes_done(n), meshota_node_running(n)->version,
              meshota_node_running(n)->project_name,
              (unsigned)meshota_node_running(n)->secure_version, e->host.boot.running,
              e->host.boot.state, meshota_node_relay_phase(n));
}

static void cmd_sha(emu_node_t *e, const char *which, uint32_t len)
{
    static uint8_t buf[4096];
    int slot = strcmp(which, "running") == 0 ? e->host.boot.running : 1 - e->host.boot.running;
    if (len > e->host.cfg.slot_size) {
        emit_text(KIND_REPLY, "error length past the slot");
        return;
    }
    psa_crypto_init();
    psa_hash_operation_t op = PSA_HASH_OPERATION_INIT;
    psa_hash_setup(&op, PSA_ALG_SHA_256);
    for (uint32_t at = 0; at < len;) {
        uint32_t k = len - at < sizeof(buf) ? len - at : (uint32_t)sizeof(buf);
        meshota_host_read_slot(&e->host, slot, at, buf, k);
        psa_hash_update(&op, buf, k);
        at += k;
    }
    uint8_t d[32];
    size_t dl = 0;
    psa_hash_finish(&op, d, sizeof(d), &dl);
    char hex[65];
    for (int i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    }
    emit_text(KIND_REPLY, "ok %s", hex);
}

/* Restart nodes that asked for it (apply, rollback); a node whose power failed during a write
 * (powercut after=) has lost its radio. */
static void handle_restarts(void)
{
    for (size_t i = 0; i < s_emu.n; i++) {
        emu_node_t *e = s_emu.nodes[i];
        if (e->host.dead) {
            espnow_off(e);
        }
        if (e->on && e->host.restart_requested) {
            power_on(e);
            emit_text(KIND_EVENT, "restarted %04x phase=%d", e->addr, meshota_node_phase(&e->node));
        }
    }
}

static void cmd_advance(uint64_t ms)
{
    uint64_t end = s_emu.now_ms + ms;
    while (s_emu.now_ms < end) {
        uint64_t step = end - s_emu.now_ms < STEP_MS ? end - s_emu.now_ms : STEP_MS;
        s_emu.now_ms += step;
        for (size_t i = 0; i < s_emu.n; i++) {
            emu_node_t *e = s_emu.nodes[i];
            e->host.clock_ms = s_emu.now_ms + e->skew_ms;
            if (e->on && !e->host.dead) {
                if (e->posix_net) {
                    (void)meshota_host_net_poll(&e->net, 0);
                }
                meshota_node_poll(&e->node);
            }
        }
        handle_restarts();
    }
    emit_text(KIND_REPLY, "ok %llu", (unsigned long long)s_emu.now_ms);
}

/* espnow rate=<bit/s> [overhead=<bytes>] [queue=<frames>]: the radio of every node; rate=0
 * makes sends succeed at once again. Options not given keep their value. */
static void cmd_espnow(const char *args)
{
    uint32_t rate = arg_u32(args, "rate", s_emu.espnow_rate);
    uint32_t overhead = arg_u32(args, "overhead", s_emu.espnow_overhead);
    uint32_t queue = arg_u32(args, "queue", s_emu.espnow_queue);
    if (rate > 100000000u || overhead > 1000u || queue < 1u || queue > 100000u) {
        emit_text(KIND_REPLY, "error usage: espnow rate=<0-100000000 bit/s, 0 = unlimited> "
                              "overhead=<0-1000 bytes> queue=<1-100000 frames>");
        return;
    }
    s_emu.espnow_rate = rate;
    s_emu.espnow_overhead = overhead;
    s_emu.espnow_queue = queue;
    emit_text(KIND_REPLY, "ok rate=%u overhead=%u queue=%u", (unsigned)rate, (unsigned)overhead,
              (unsigned)queue);
}

static void command(const char *line)
{
    char verb[16] = "";
    unsigned addr = 0;
    int used = 0;
    sscanf(line, "%15s%n", verb, &used);
    const char *rest = line + used;
    if (strcmp(verb, "key") == 0) {
        char hex[140] = "";
        char who[8] = "";
        if (sscanf(rest, " %7s %139s", who, hex) != 2 || !parse_hex(hex, s_emu.key, 65) ||
            s_emu.key[0] != 0x04) {
            emit_text(KIND_REPLY, "error usage: key <addr|*> <130 hex digits of 04||X||Y>");
            return;
        }
        for (size_t i = 0; i < s_emu.n; i++) {
            if (strcmp(who, "*") == 0 || strtoul(who, NULL, 16) == s_emu.nodes[i]->addr) {
                memcpy(s_emu.nodes[i]->key, s_emu.key, 65);
            }
        }
        emit_text(KIND_REPLY, "ok");
        return;
    }
    if (strcmp(verb, "list") == 0) {
        char out[MAX_PAYLOAD] = "ok";
        size_t k = 2;
        for (size_t i = 0; i < s_emu.n && k + 6 < sizeof(out); i++) {
            k += (size_t)snprintf(out + k, sizeof(out) - k, " %04x", s_emu.nodes[i]->addr);
        }
        emit_text(KIND_REPLY, "%s", out);
        return;
    }
    if (strcmp(verb, "advance") == 0) {
        unsigned long long ms = 0;
        if (sscanf(rest, " %llu", &ms) != 1 || ms > 24ull * 3600 * 1000) {
            emit_text(KIND_REPLY, "error usage: advance <ms>");
            return;
        }
        cmd_advance(ms);
        return;
    }
    if (strcmp(verb, "espnow") == 0) {
        cmd_espnow(rest);
        return;
    }
    if (strcmp(verb, "log") == 0) {
        s_emu.log_level = atoi(rest);
        for (size_t i = 0; i < s_emu.n; i++) {
            s_emu.nodes[i]->host.log_level = s_emu.log_level;
        }
        emit_text(KIND_REPLY, "ok");
        return;
    }
    if (sscanf(rest, " %x%n", &addr, &used) != 1 || addr == 0 || addr > 0x7FFF) {
        emit_text(KIND_REPLY, "error usage: %s <unicast address in hex> ...", verb);
        return;
    }
    rest += used;
    if (strcmp(verb, "add") == 0) {
        cmd_add((uint16_t)addr, rest);
        return;
    }
    emu_node_t *e = find((uint16_t)addr);
    if (e == NULL) {
        emit_text(KIND_REPLY, "error no node %04x", addr);
        return;
    }
    if (strcmp(verb, "status") == 0) {
        cmd_status(e);
    } else if (strcmp(verb, "powercut") == 0) {
        char v[24];
        if (arg(rest, "after", v, sizeof(v)) != NULL) {
            meshota_host_cut_after(&e->host, strtoll(v, NULL, 0));
        } else {
            e->on = false; /* RAM is gone; flash and store keep what was written */
            espnow_off(e);
        }
        emit_text(KIND_REPLY, "ok");
    } else if (strcmp(verb, "restart") == 0) {
        meshota_err_t err = power_on(e);
        if (err != MESHOTA_OK) {
            emit_text(KIND_REPLY, "error init failed 0x%x", (unsigned)err);
            return;
        }
        cmd_status(e);
    } else if (strcmp(verb, "skew") == 0) {
        unsigned long long ms = 0;
        if (sscanf(rest, " %llu", &ms) != 1 || ms > 24ull * 3600 * 1000) {
            emit_text(KIND_REPLY, "error usage: skew <addr> <ms>");
            return;
        }
        /* Only this node's clock jumps ahead (a stalled device, a long erase); it is polled once. */
        e->skew_ms += ms;
        e->host.clock_ms = s_emu.now_ms + e->skew_ms;
        if (e->on && !e->host.dead) {
            meshota_node_poll(&e->node);
        }
        handle_restarts();
        emit_text(KIND_REPLY, "ok %llu", (unsigned long long)e->host.clock_ms);
    } else if (strcmp(verb, "set") == 0) {
        e->host.cfg.chip_id = arg_u32(rest, "chip", e->host.cfg.chip_id);
        e->host.cfg.chip_revision = arg_u32(rest, "rev", e->host.cfg.chip_revision);
        emit_text(KIND_REPLY, "ok (takes effect at the next restart)");
    } else if (strcmp(verb, "sha") == 0) {
        char which[16] = "";
        unsigned len = 0;
        if (sscanf(rest, " %15s %u", which, &len) != 2) {
            emit_text(KIND_REPLY, "error usage: sha <addr> <running|passive> <length>");
            return;
        }
        cmd_sha(e, which, len);
    } else {
        emit_text(KIND_REPLY, "error unknown command %s", verb);
    }
}

/* ---- input ---------------------------------------------------------------------------------- */

static void deliver(uint16_t node, uint8_t kind, uint16_t peer, const uint8_t *p, size_t len)
{
    if (kind == KIND_COMMAND) {
        char line[MAX_PAYLOAD + 1];
        memcpy(line, p, len);
        line[len] = '\0';
        command(line);
        return;
    }
    emu_node_t *e = find(node);
    if (e == NULL || !e->on || e->host.dead) {
        return; /* Powered off or absent: the radio hears nothing. */
    }
    meshota_peer_t from = {.mesh_addr = peer, .has_mac = true,
                           .mac = {0x02, 0, 0, 0, (uint8_t)(peer >> 8), (uint8_t)peer}};
    switch (kind) {
    case KIND_MESH:
        if (len >= 1) {
            meshota_node_on_control(&e->node, &from, p[0], p + 1, len - 1);
        }
        break;
    case KIND_ESPNOW:
        meshota_node_on_data(&e->node, MESHOTA_BEARER_ESPNOW, &from, p, len);
        break;
    case KIND_TCP_CONNECTED:
        meshota_node_net_connected(&e->node);
        break;
    case KIND_TCP_DATA:
        meshota_node_net_recv(&e->node, p, len);
        break;
    case KIND_TCP_CLOSE:
        meshota_node_net_closed(&e->node, MESHOTA_OK);
        break;
    case KIND_STREAM_DATA:
        stream_data(e, peer, p, len);
        break;
    case KIND_STREAM_END:
        stream_end(e, peer, p, len);
        break;
    default:
        break;
    }
    if (!e->host.dead) {
        meshota_node_poll(&e->node);
    }
    handle_restarts();
}

static void serve(int fd)
{
    static uint8_t buf[MAX_PAYLOAD + 16];
    size_t have = 0;
    s_emu.client = fd;
    s_emu.clock_sent_ms = UINT64_MAX;
    for (;;) {
        ssize_t r = read(fd, buf + have, sizeof(buf) - have);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        have += (size_t)r;
        for (;;) {
            if (have < 4) {
                break;
            }
            uint32_t len = (uint32_t)buf[0] | ((uint32_t)buf[1] << 8) | ((uint32_t)buf[2] << 16) |
                           ((uint32_t)buf[3] << 24);
            if (len < 5 || len > MAX_PAYLOAD + 5) {
                fprintf(stderr, "meshota_emulator: bad frame length %u; closing\n", len);
                close(fd);
                s_emu.client = -1;
                return;
            }
            if (have < 4 + len) {
                break;
            }
            uint16_t node = (uint16_t)(buf[4] | (buf[5] << 8));
            uint8_t kind = buf[6];
            uint16_t peer = (uint16_t)(buf[7] | (buf[8] << 8));
            deliver(node, kind, peer, buf + 9, len - 5);
            memmove(buf, buf + 4 + len, have - 4 - len);
            have -= 4 + len;
        }
    }
    close(fd);
    s_emu.client = -1;
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    unsigned port = 0;
    int exit_with_parent = 0;
    pid_t parent = getppid();
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--log") == 0 && i + 1 < argc) {
            s_emu.log_level = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--exit-with-parent") == 0) {
            exit_with_parent = 1;
        } else {
            fprintf(stderr,
                    "usage: %s --dir <state dir> [--port <tcp port, 0 = any>] [--log 0-4] "
                    "[--exit-with-parent]\n",
                    argv[0]);
            return 2;
        }
    }
    if (dir == NULL) {
        fprintf(stderr, "meshota_emulator: --dir is required\n");
        return 2;
    }
#ifdef __linux__
    /* A client killed without closing us must not leave the emulator running. */
    if (exit_with_parent &&
        (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)) {
        return 1;
    }
#else
    (void)exit_with_parent;
    (void)parent;
#endif
    /* A client that leaves before reading its replies must end its connection, not the process:
     * writes to it fail with EPIPE instead of raising SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    snprintf(s_emu.dir, sizeof(s_emu.dir), "%s", dir);
    mkdir(s_emu.dir, 0755);
    s_emu.client = -1;
    s_emu.espnow_overhead = 40;
    s_emu.espnow_queue = 32;
    /* Two slot files per node: raise the descriptor limit to what the system allows. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(ls, 1) != 0 ||
        getsockname(ls, (struct sockaddr *)&sa, &sl) != 0) {
        perror("meshota_emulator: listen");
        return 1;
    }
    printf("LISTENING %u\n", (unsigned)ntohs(sa.sin_port));
    fflush(stdout);
    for (;;) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR) {
                continue;
            }
            perror("meshota_emulator: accept");
            return 1;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        serve(fd);
    }
}
