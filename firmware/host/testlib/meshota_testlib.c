/* Test support: image builder, signing with a fixed key, a node with captured replies. */
#include "meshota_testlib.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <psa/crypto.h>

#include "meshota_codec.h"
#include "meshota_core/meshota_image.h"

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v);
    put16(p + 2, v >> 16);
}

mt_image_params_t mt_image_defaults(void)
{
    mt_image_params_t p = {
        .chip_id = 5,
        .min_rev = 0,
        .max_rev = 399,
        .secure_version = 1,
        .version = "1.1.0",
        .project = "demo",
        .size = 20000,
        .hash_appended = true,
        .seed = 1,
    };
    return p;
}

size_t mt_image_build(const mt_image_params_t *p, uint8_t *buf, size_t cap)
{
    uint32_t l0 = MESHOTA_APP_DESC_SIZE + 32;
    uint32_t fixed = MESHOTA_IMAGE_HEADER_SIZE + 8 + l0 + 8 + 16 + (p->hash_appended ? 32 : 0);
    uint32_t l1 = p->size > fixed + 4 ? (p->size - fixed) & ~3u : 4;
    size_t total = fixed + l1;
    if (total > cap) {
        return 0;
    }
    memset(buf, 0, cap);
    buf[0] = MESHOTA_IMAGE_MAGIC;
    buf[1] = 2;    /* segments */
    buf[2] = 2;    /* SPI mode DIO */
    buf[3] = 0x1F; /* 80 MHz, 2 MB */
    put32(buf + 4, 0x40380080);
    buf[8] = 0xEE;
    put16(buf + 0x0C, p->chip_id);
    put16(buf + 0x0F, p->min_rev);
    put16(buf + 0x11, p->max_rev);
    buf[0x17] = p->hash_appended ? 1 : 0;
    uint32_t off = MESHOTA_IMAGE_HEADER_SIZE;
    put32(buf + off, 0x3C000020);
    put32(buf + off + 4, l0);
    off += 8;
    uint8_t *desc = buf + off;
    put32(desc, MESHOTA_APP_DESC_MAGIC);
    put32(desc + 4, p->secure_version);
    snprintf((char *)desc + 0x10, 32, "%s", p->version);
    snprintf((char *)desc + 0x30, 32, "%s", p->project);
    snprintf((char *)desc + 0x50, 16, "12:00:00");
    snprintf((char *)desc + 0x60, 16, "Jan  1 2026");
    snprintf((char *)desc + 0x70, 32, "v5.3.1");
    uint32_t x = p->seed * 2654435761u + 1u;
    for (uint32_t i = MESHOTA_APP_DESC_SIZE; i < l0; i++) {
        x = x * 1103515245u + 12345u;
        desc[i] = (uint8_t)(x >> 16);
    }
    off += l0;
    put32(buf + off, 0x40380000);
    put32(buf + off + 4, l1);
    off += 8;
    for (uint32_t i = 0; i < l1; i++) {
        x = x * 1103515245u + 12345u;
        buf[off + i] = (uint8_t)(x >> 16);
    }
    off += l1;
    uint8_t checksum = MESHOTA_IMAGE_CHECKSUM_SEED;
    for (uint32_t i = 0; i < l0; i++) {
        checksum ^= desc[i];
    }
    for (uint32_t i = 0; i < l1; i++) {
        checksum ^= buf[off - l1 + i];
    }
    off += 15u - (off % 16u);
    buf[off++] = checksum;
    if (p->hash_appended) {
        size_t hl = 0;
        psa_crypto_init();
        psa_hash_compute(PSA_ALG_SHA_256, buf, off, buf + off, 32, &hl);
        off += 32;
    }
    return off;
}

/* Fixed private scalar of the test key (any value below the P-256 group order). */
static const uint8_t s_priv[32] = {
    0x1a, 0x2b, 0x3c, 0x4d, 0x5e, 0x6f, 0x70, 0x81, 0x92, 0xa3, 0xb4, 0xc5, 0xd6, 0xe7, 0xf8, 0x09,
    0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87, 0x98, 0xa9, 0xba, 0xcb, 0xdc, 0xed, 0xfe, 0x0f};
static uint8_t s_pub[65];
static psa_key_id_t s_key;

static void key_init(void)
{
    if (s_key != 0) {
        return;
    }
    psa_crypto_init();
    psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
    psa_set_key_type(&a, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
    psa_set_key_bits(&a, 256);
    psa_set_key_usage_flags(&a, PSA_KEY_USAGE_SIGN_HASH | PSA_KEY_USAGE_VERIFY_HASH);
    psa_set_key_algorithm(&a, PSA_ALG_ECDSA(PSA_ALG_SHA_256));
    psa_status_t rc = psa_import_key(&a, s_priv, sizeof(s_priv), &s_key);
    assert(rc == PSA_SUCCESS);
    size_t len = 0;
    rc = psa_export_public_key(s_key, s_pub, sizeof(s_pub), &len);
    assert(rc == PSA_SUCCESS && len == 65);
    (void)rc;
}

const uint8_t *mt_public_key(void)
{
    key_init();
    return s_pub;
}

bool mt_sign_manifest(const meshota_v1_Manifest *m, uint8_t sig[64])
{
    key_init();
    uint8_t bytes[124];
    uint8_t hash[32];
    size_t len = 0;
    meshota_manifest_signing_bytes(m, bytes);
    if (psa_hash_compute(PSA_ALG_SHA_256, bytes, sizeof(bytes), hash, 32, &len) != PSA_SUCCESS) {
        return false;
    }
    return psa_sign_hash(s_key, PSA_ALG_ECDSA(PSA_ALG_SHA_256), hash, 32, sig, 64, &len) ==
               PSA_SUCCESS &&
           len == 64;
}

void mt_manifest_for(const mt_image_params_t *p, const uint8_t *img, size_t len,
                     meshota_v1_Manifest *m)
{
    size_t hl = 0;
    memset(m, 0, sizeof(*m));
    m->image_size = (uint32_t)len;
    m->image_sha256.size = 32;
    psa_crypto_init();
    psa_hash_compute(PSA_ALG_SHA_256, img, len, m->image_sha256.bytes, 32, &hl);
    snprintf(m->version, sizeof(m->version), "%s", p->version);
    snprintf(m->project_name, sizeof(m->project_name), "%s", p->project);
    m->secure_version = p->secure_version;
    m->chip_id = p->chip_id;
    m->min_chip_rev = p->min_rev;
    m->max_chip_rev = p->max_rev;
}

void mt_start_for(const mt_image_params_t *p, const uint8_t *img, size_t len, uint32_t session,
                  uint32_t chunk, meshota_v1_UpdateStart *u)
{
    memset(u, 0, sizeof(*u));
    u->session_id = session;
    u->has_manifest = true;
    mt_manifest_for(p, img, len, &u->manifest);
    u->signature.size = 64;
    bool ok = mt_sign_manifest(&u->manifest, u->signature.bytes);
    assert(ok);
    (void)ok;
    u->which_method = meshota_v1_UpdateStart_mesh_tag;
    u->method.mesh.chunk_size = chunk;
}

static meshota_err_t capture_send(void *ctx, meshota_bearer_t bearer, const meshota_peer_t *to,
                                  const uint8_t *payload, size_t len)
{
    meshota_host_t *h = ctx;
    mt_node_t *t = h->user;
    if (h->dead) {
        return MESHOTA_ERR_POWER_LOSS;
    }
    mt_sent_t *s = &t->sent[t->n_sent % MT_SENT_MAX];
    s->bearer = bearer;
    s->to = *to;
    assert(len <= sizeof(s->data));
    memcpy(s->data, payload, len);
    s->len = len;
    t->n_sent++;
    return MESHOTA_OK;
}

static void node_init(mt_node_t *t)
{
    meshota_err_t err = meshota_node_init(&t->node, &t->host.port, &t->cfg);
    assert(err == MESHOTA_OK);
    (void)err;
}

void mt_node_open(mt_node_t *t, uint32_t slot_size, uint64_t seed)
{
    memset(t, 0, sizeof(*t));
    t->sent = calloc(MT_SENT_MAX, sizeof(mt_sent_t));
    meshota_host_config_t hc = {
        .dir = NULL, .slot_size = slot_size, .chip_id = 5, .chip_revision = 3, .seed = seed};
    meshota_err_t err = meshota_host_open(&t->host, &hc);
    assert(err == MESHOTA_OK);
    t->host.user = t;
    t->host.port.send = capture_send;
    const char *lvl = getenv("MESHOTA_LOG");
    t->host.log_level = lvl != NULL ? atoi(lvl) : 0;
    mt_image_params_t f = mt_image_defaults();
    f.version = "1.0.0";
    f.size = 8000;
    f.seed = 99;
    t->factory_len = mt_image_build(&f, t->factory, sizeof(t->factory));
    err = meshota_host_install(&t->host, t->factory, t->factory_len);
    assert(err == MESHOTA_OK);
    (void)err;
    t->cfg.public_key = mt_public_key();
    t->cfg.methods = MESHOTA_METHOD_BIT(meshota_v1_Method_METHOD_MESH) |
                     MESHOTA_METHOD_BIT(meshota_v1_Method_METHOD_ESPNOW) |
                     MESHOTA_METHOD_BIT(meshota_v1_Method_METHOD_TCP) |
                     MESHOTA_METHOD_BIT(meshota_v1_Method_METHOD_WIFI);
    t->cfg.max_chunk_size = 1024;
    for (int i = 0; i < 6; i++) {
        t->cfg.wifi_mac[i] = (uint8_t)(0x10 + i);
    }
    node_init(t);
}

void mt_node_close(mt_node_t *t)
{
    meshota_host_close(&t->host);
    free(t->sent);
    t->sent = NULL;
}

void mt_node_reboot(mt_node_t *t)
{
    meshota_host_reboot(&t->host);
    memset(&t->node, 0xA5, sizeof(t->node)); /* RAM is lost: no field may survive. */
    node_init(t);
}

void mt_control(mt_node_t *t, uint8_t opcode, const void *msg)
{
    const meshota_vendor_msg_t *m = meshota_vendor_by_opcode(opcode);
    assert(m != NULL);
    uint8_t buf[400];
    size_t len = 0;
    bool ok = meshota_encode(m->fields, msg, buf, sizeof(buf), &len, NULL);
    assert(ok);
    (void)ok;
    meshota_peer_t from = {.mesh_addr = 0x0001};
    meshota_node_on_control(&t->node, &from, opcode, buf, len);
}

void mt_data(mt_node_t *t, meshota_bearer_t bearer, const meshota_peer_t *from,
             const meshota_v1_DataFrame *f)
{
    uint8_t buf[1600];
    size_t len = 0;
    bool ok = meshota_encode(meshota_v1_DataFrame_fields, f, buf, sizeof(buf), &len, NULL);
    assert(ok);
    (void)ok;
    meshota_node_on_data(&t->node, bearer, from, buf, len);
}

const mt_sent_t *mt_last(mt_node_t *t)
{
    return t->n_sent == 0 ? NULL : &t->sent[(t->n_sent - 1) % MT_SENT_MAX];
}

meshota_v1_UpdateStatus mt_last_status(mt_node_t *t)
{
    meshota_v1_UpdateStatus st = meshota_v1_UpdateStatus_init_zero;
    const mt_sent_t *s = mt_last(t);
    assert(s != NULL && s->bearer == MESHOTA_BEARER_MESH && s->data[0] == MESHOTA_OP_UPDATE_STATUS);
    bool ok = meshota_decode(meshota_v1_UpdateStatus_fields, &st, s->data + 1, s->len - 1, NULL);
    assert(ok);
    (void)ok;
    return st;
}

void mt_send_chunk(mt_node_t *t, uint32_t session, const uint8_t *img, size_t len, uint32_t chunk,
                   uint32_t index)
{
    static meshota_v1_DataFrame f;
    memset(&f, 0, sizeof(f));
    f.which_body = meshota_v1_DataFrame_chunk_tag;
    f.body.chunk.session_id = session;
    f.body.chunk.index = index;
    size_t off = (size_t)index * chunk;
    size_t n = off < len ? (len - off < chunk ? len - off : chunk) : 0;
    memcpy(f.body.chunk.data.bytes, img + off, n);
    f.body.chunk.data.size = (pb_size_t)n;
    meshota_peer_t from = {.mesh_addr = 0x0001};
    mt_data(t, MESHOTA_BEARER_MESH, &from, &f);
}

void mt_advance(mt_node_t *t, uint64_t ms)
{
    for (uint64_t done = 0; done < ms; done += 10) {
        t->host.clock_ms += 10;
        meshota_node_poll(&t->node);
    }
}

void mt_poll_verify(mt_node_t *t)
{
    for (int i = 0; i < 10000 && meshota_node_phase(&t->node) == meshota_v1_Phase_PHASE_VERIFYING;
         i++) {
        meshota_node_poll(&t->node);
    }
}

bool mt_running_intact(mt_node_t *t)
{
    static uint8_t buf[65536];
    /* The factory image sits in slot 0; nothing before an apply may change it. */
    if (meshota_host_read_slot(&t->host, 0, 0, buf, t->factory_len) != MESHOTA_OK) {
        return false;
    }
    return memcmp(buf, t->factory, t->factory_len) == 0;
}
