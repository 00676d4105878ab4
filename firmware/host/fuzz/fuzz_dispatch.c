/* libFuzzer harness: decode + dispatch of everything a node receives.
 *
 * Input: a flags byte, then records [u8 channel][u16 LE length][bytes]. Flags bit 0 starts a
 * valid signed session (mesh method) first, so chunk, info, cancel and apply paths are
 * reachable. Channels: 0 control message (first byte: opcode), 1 mesh DataFrame, 2 ESP-NOW
 * DataFrame, 3 TCP stream bytes, 4 poll after 1 s, 5 power cycle (empty) or a power cut after
 * as many mutating operations as its first byte says. After each input the factory image must be
 * byte-identical while it runs, and whenever the other slot is to boot or boots, it must hold
 * the signed image byte for byte. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <psa/crypto.h>

#include "meshota_codec.h"
#include "meshota_testlib.h"

static mt_node_t *t;
static uint8_t start_msg[400];
static size_t start_len;
static uint8_t img[4096];
static size_t img_len;

static meshota_err_t f_open(void *ctx, const char *host, uint16_t port,
                            const meshota_wifi_creds_t *creds)
{
    (void)host;
    (void)port;
    (void)creds;
    meshota_host_t *h = ctx;
    meshota_node_net_connected(&((mt_node_t *)h->user)->node);
    return MESHOTA_OK;
}

static meshota_err_t f_send(void *ctx, const uint8_t *d, size_t len)
{
    (void)ctx;
    (void)d;
    (void)len;
    return MESHOTA_OK;
}

static void f_close(void *ctx)
{
    (void)ctx;
}

/* The real ECDSA check costs milliseconds per input; the harness accepts exactly the one
 * signature and digest prepared below (what the real check accepts for this start), so the
 * fuzzer spends its time on decoding and dispatch. test_node_errors covers the real check. */
static uint8_t good_sig[64];
static uint8_t good_hash[32];

static meshota_err_t f_verify(void *ctx, const uint8_t pubkey[65], const uint8_t hash[32],
                              const uint8_t sig[64])
{
    (void)ctx;
    (void)pubkey;
    return memcmp(sig, good_sig, 64) == 0 && memcmp(hash, good_hash, 32) == 0
               ? MESHOTA_OK
               : MESHOTA_ERR_BAD_SIGNATURE;
}

/* A seed input that runs a whole valid transfer and an apply, written on request so the
 * corpus starts deep in the state machine. */
static void write_seed(const char *path)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        return;
    }
    fputc(1, f);
    static meshota_v1_DataFrame df;
    uint8_t buf[200];
    for (uint32_t i = 0; i * 64 < img_len; i++) {
        memset(&df, 0, sizeof(df));
        df.which_body = meshota_v1_DataFrame_chunk_tag;
        df.body.chunk.session_id = 0x42;
        df.body.chunk.index = i;
        size_t n = img_len - i * 64 < 64 ? img_len - i * 64 : 64;
        memcpy(df.body.chunk.data.bytes, img + i * 64, n);
        df.body.chunk.data.size = (pb_size_t)n;
        size_t len = 0;
        meshota_encode(meshota_v1_DataFrame_fields, &df, buf, sizeof(buf), &len, NULL);
        uint8_t hdr[3] = {1, (uint8_t)len, (uint8_t)(len >> 8)};
        fwrite(hdr, 1, 3, f);
        fwrite(buf, 1, len, f);
    }
    const uint8_t tail[] = {4, 0, 0,                   /* advance */
                            0, 3, 0, 0x07, 0x08, 0x42}; /* UpdateApply{session_id: 0x42} */
    fwrite(tail, 1, sizeof(tail), f);
    fclose(f);
}

static void prepare(void)
{
    mt_image_params_t p = mt_image_defaults();
    p.size = 3000;
    img_len = mt_image_build(&p, img, sizeof(img));
    static meshota_v1_UpdateStart u;
    mt_start_for(&p, img, img_len, 0x42, 64, &u);
    memcpy(good_sig, u.signature.bytes, 64);
    uint8_t signing[124];
    meshota_manifest_signing_bytes(&u.manifest, signing);
    size_t hl = 0;
    psa_hash_compute(PSA_ALG_SHA_256, signing, sizeof(signing), good_hash, 32, &hl);
    meshota_encode(meshota_v1_UpdateStart_fields, &u, start_msg, sizeof(start_msg), &start_len,
                   NULL);
    t = calloc(1, sizeof(*t));
    const char *seed_out = getenv("MESHOTA_FUZZ_SEED_OUT");
    if (seed_out != NULL) {
        write_seed(seed_out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (t == NULL) {
        prepare();
    }
    mt_node_open(t, 16 * 1024, 1);
    t->host.port.net_open = f_open;
    t->host.port.net_send = f_send;
    t->host.port.net_close = f_close;
    t->host.port.ecdsa_p256_verify = f_verify;
    mt_node_reboot(t);
    meshota_peer_t from = {.mesh_addr = 1, .has_mac = true, .mac = {2, 0, 0, 0, 0, 1}};
    if (size > 0 && (data[0] & 1)) {
        meshota_node_on_control(&t->node, &from, MESHOTA_OP_UPDATE_START, start_msg, start_len);
    }
    size_t at = size > 0 ? 1 : 0;
    while (at + 3 <= size) {
        uint8_t ch = data[at];
        size_t len = (size_t)data[at + 1] | ((size_t)data[at + 2] << 8);
        at += 3;
        if (len > size - at) {
            len = size - at;
        }
        const uint8_t *p = data + at;
        at += len;
        switch (ch % 6) {
        case 0:
            if (len > 0) {
                meshota_node_on_control(&t->node, &from, p[0], p + 1, len - 1);
            }
            break;
        case 1:
            meshota_node_on_data(&t->node, MESHOTA_BEARER_MESH, &from, p, len);
            break;
        case 2:
            meshota_node_on_data(&t->node, MESHOTA_BEARER_ESPNOW, &from, p, len);
            break;
        case 3:
            meshota_node_net_recv(&t->node, p, len);
            break;
        case 4:
            mt_advance(t, 1000);
            break;
        default:
            if (len > 0) {
                meshota_host_cut_after(&t->host, p[0]);
            } else {
                mt_node_reboot(t);
            }
            break;
        }
    }
    mt_poll_verify(t);
    if (t->host.boot.running == 0 && !mt_running_intact(t)) {
        abort();
    }
    if (t->host.boot.next == 1 || t->host.boot.running == 1) {
        static uint8_t slot[sizeof(img)];
        if (meshota_host_read_slot(&t->host, 1, 0, slot, img_len) != MESHOTA_OK ||
            memcmp(slot, img, img_len) != 0) {
            abort(); /* something other than the signed image was applied */
        }
    }
    mt_node_close(t);
    return 0;
}
