/* Power cut at 100 points of a transfer: every run resumes to a byte-exact image, re-receives
 * only what was not persisted, and never touches the running image. How often the received-chunk
 * bitmap is saved, and what a cut between two saves costs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "meshota_codec.h"
#include "meshota_testlib.h"

#define PH(x) meshota_v1_Phase_PHASE_##x
#define CHUNK 200u

/* Fixed seeds (drawn once from Python's random.Random(20261203)) so that every failure
 * reproduces: each picks the chunk order and the operation at which power fails. */
static const uint32_t k_seeds[100] = {
    1890943014u, 269615469u, 96021312u, 1923281528u, 375507090u, 666337475u, 582036426u, 664278448u,
    183805356u, 1167090755u, 1924456640u, 780969184u, 280636687u, 1824040353u, 200692611u, 1360321450u,
    1151780403u, 913439660u, 1949885862u, 947190421u, 1481688110u, 1591321730u, 1462085714u, 323049741u,
    1610372545u, 908373805u, 659366307u, 375638126u, 1197238681u, 578253410u, 1207181776u, 947044655u,
    1127817824u, 282113721u, 1377097620u, 845881145u, 75500935u, 846775805u, 1640998146u, 1111289552u,
    991175151u, 81044682u, 2131086029u, 967134659u, 3982820u, 1969180486u, 1887687311u, 1236584401u,
    945391567u, 357665643u, 639900948u, 635486497u, 1704662082u, 1240354937u, 540325021u, 591912339u,
    1865242469u, 707936030u, 1964862846u, 562585401u, 895908326u, 149230660u, 258929209u, 1829268956u,
    923617699u, 395496627u, 235922298u, 1609706034u, 641627620u, 1624538050u, 198521029u, 1282310713u,
    699702547u, 1916876803u, 345797147u, 629817534u, 1577277839u, 606149433u, 1653525007u, 1282740917u,
    992535696u, 1310883882u, 1920937363u, 89100126u, 162506919u, 1214719560u, 1753136659u, 2117935611u,
    46605736u, 1046497466u, 898021490u, 238113488u, 176855490u, 1397624745u, 7432927u, 472438941u,
    1271845400u, 846699612u, 1059277859u, 1739495128u
};

static mt_node_t *t;
static uint8_t img[32768];
static size_t img_len;
static mt_image_params_t params;
static meshota_v1_UpdateStart start;
static uint32_t order[256];

static uint32_t rnd(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static uint32_t n_chunks(void)
{
    return (uint32_t)((img_len + CHUNK - 1) / CHUNK);
}

static void shuffle(uint32_t *rng)
{
    for (uint32_t i = 0; i < n_chunks(); i++) {
        order[i] = i;
    }
    for (uint32_t i = n_chunks(); i > 1; i--) {
        uint32_t j = rnd(rng) % i;
        uint32_t tmp = order[i - 1];
        order[i - 1] = order[j];
        order[j] = tmp;
    }
}

/* Start, send every chunk in @p rng's order, verify; stops early when power is cut. */
static void run_until_cut(uint32_t *rng)
{
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    shuffle(rng);
    for (uint32_t i = 0; i < n_chunks() && !t->host.dead; i++) {
        mt_send_chunk(t, start.session_id, img, img_len, CHUNK, order[i]);
    }
    for (int i = 0; i < 100 && !t->host.dead; i++) {
        meshota_node_poll(&t->node);
    }
}

/* Ask the node what it misses (TransferInfo round 1) and send exactly that. */
static uint32_t repair(void)
{
    meshota_v1_DataFrame f = meshota_v1_DataFrame_init_zero;
    f.which_body = meshota_v1_DataFrame_info_tag;
    f.body.info.session_id = start.session_id;
    f.body.info.image_size = (uint32_t)img_len;
    f.body.info.chunk_size = CHUNK;
    f.body.info.chunk_count = n_chunks();
    f.body.info.round = 1;
    meshota_peer_t from = {.mesh_addr = 0x0001};
    size_t before = t->n_sent;
    mt_data(t, MESHOTA_BEARER_MESH, &from, &f);
    assert_int_equal(t->n_sent, before + 1);
    const mt_sent_t *s = mt_last(t);
    assert_int_equal(s->data[0], MESHOTA_OP_DATA_FRAME);
    static meshota_v1_DataFrame r;
    assert_true(meshota_decode(meshota_v1_DataFrame_fields, &r, s->data + 1, s->len - 1, NULL));
    if (r.which_body == meshota_v1_DataFrame_done_tag) {
        return 0;
    }
    assert_int_equal(r.which_body, meshota_v1_DataFrame_missing_tag);
    const meshota_v1_MissingChunks *mc = &r.body.missing;
    uint32_t sent = 0;
    static uint32_t want[256];
    uint32_t n_want = 0;
    for (uint32_t k = 0; k < 8u * mc->bitmap.size; k++) {
        if ((mc->bitmap.bytes[k / 8] >> (k % 8)) & 1) {
            want[n_want++] = mc->base_index + k;
        }
    }
    for (pb_size_t i = 0; i < mc->ranges_count; i++) {
        for (uint32_t k = 0; k < mc->ranges[i].count; k++) {
            want[n_want++] = mc->ranges[i].first + k;
        }
    }
    assert_int_equal(n_want, mc->missing_total);
    for (uint32_t i = 0; i < n_want; i++) {
        mt_send_chunk(t, start.session_id, img, img_len, CHUNK, want[i]);
        sent++;
    }
    return sent;
}

static void test_power_cut_resumes_byte_exact(void **state)
{
    (void)state;
    t = calloc(1, sizeof(*t));
    params = mt_image_defaults();
    img_len = mt_image_build(&params, img, sizeof(img));
    assert_int_equal(n_chunks(), 100);

    static uint8_t got[32768];
    for (int k = 0; k < 100; k++) {
        /* A dry run with the same chunk order counts the mutating operations (the number of
         * erases depends on the order), then power fails at one of them. */
        uint32_t rng = k_seeds[k];
        mt_node_open(t, 64 * 1024, k_seeds[k]);
        mt_start_for(&params, img, img_len, 0xC0DE0000u + (uint32_t)k, CHUNK, &start);
        run_until_cut(&rng);
        assert_int_equal(meshota_node_phase(&t->node), PH(VERIFIED));
        uint32_t total_ops = t->host.ops;
        mt_node_close(t);

        rng = k_seeds[k];
        mt_node_open(t, 64 * 1024, k_seeds[k]);
        uint32_t cut = k_seeds[k] % total_ops;
        meshota_host_cut_after(&t->host, cut);
        run_until_cut(&rng);
        assert_true(t->host.dead);
        uint32_t held_in_ram = t->node.chunks_done;

        mt_node_reboot(t);
        assert_true(mt_running_intact(t));
        assert_int_equal(t->host.boot.next, 0xFF);
        meshota_v1_Phase ph = meshota_node_phase(&t->node);
        if (getenv("MESHOTA_CUT_TRACE") != NULL) {
            printf("seed %u cut %u/%u phase %d held %u\n", (unsigned)k_seeds[k], (unsigned)cut,
                   (unsigned)total_ops, ph, (unsigned)t->node.chunks_done);
        }
        if (ph == PH(NONE)) {
            /* Power failed before the session was persisted: the controller starts again. */
            mt_control(t, MESHOTA_OP_UPDATE_START, &start);
            assert_int_equal(mt_last_status(t).phase, PH(STARTING));
        } else {
            /* The bitmap is saved every MESHOTA_PERSIST_EVERY_CHUNKS chunks and with the last:
             * the cut loses the chunks since the last save, never claims one more. */
            assert_true(t->node.chunks_done <= held_in_ram);
            assert_true(held_in_ram - t->node.chunks_done <= MESHOTA_PERSIST_EVERY_CHUNKS);
            assert_true(t->node.chunks_done % MESHOTA_PERSIST_EVERY_CHUNKS == 0 ||
                        t->node.chunks_done == n_chunks());
        }
        uint32_t held = t->node.chunks_done;
        uint32_t resent = 0;
        for (int round = 0; round < 3 && (meshota_node_phase(&t->node) == PH(STARTING) ||
                                          meshota_node_phase(&t->node) == PH(RECEIVING));
             round++) {
            resent += repair();
        }
        /* Nothing that was written and persisted is sent again. */
        assert_int_equal(resent, n_chunks() - held);
        mt_poll_verify(t);
        if (meshota_node_phase(&t->node) != PH(VERIFIED)) {
            fail_msg("seed %u (cut at op %u): phase %d error %d", (unsigned)k_seeds[k],
                     (unsigned)cut, meshota_node_phase(&t->node), meshota_node_error(&t->node));
        }
        assert_int_equal(meshota_host_read_slot(&t->host, 1, 0, got, img_len), MESHOTA_OK);
        assert_memory_equal(got, img, img_len);
        assert_true(mt_running_intact(t));
        assert_int_equal(t->host.boot.next, 0xFF);
        mt_node_close(t);
    }
    free(t);
}

static void test_new_session_after_power_cut_discards_old_progress(void **state)
{
    (void)state;
    t = calloc(1, sizeof(*t));
    params = mt_image_defaults();
    img_len = mt_image_build(&params, img, sizeof(img));
    mt_node_open(t, 64 * 1024, 5);
    mt_start_for(&params, img, img_len, 0xAAAA, CHUNK, &start);
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    for (uint32_t i = 0; i < 40; i++) {
        mt_send_chunk(t, 0xAAAA, img, img_len, CHUNK, i);
    }
    mt_node_reboot(t);
    /* The bitmap was last saved at chunk MESHOTA_PERSIST_EVERY_CHUNKS. */
    assert_int_equal(meshota_node_bytes_done(&t->node), MESHOTA_PERSIST_EVERY_CHUNKS * CHUNK);
    meshota_v1_UpdateCancel c = {.session_id = 0xAAAA};
    mt_control(t, MESHOTA_OP_UPDATE_CANCEL, &c);
    /* Another image, another session: no chunk of the old one counts. */
    mt_image_params_t p2 = params;
    p2.version = "1.2.0";
    p2.seed = 77;
    static uint8_t img2[32768];
    size_t len2 = mt_image_build(&p2, img2, sizeof(img2));
    mt_start_for(&p2, img2, len2, 0xBBBB, CHUNK, &start);
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    assert_int_equal(mt_last_status(t).phase, PH(STARTING));
    mt_node_reboot(t);
    assert_int_equal(meshota_node_bytes_done(&t->node), 0);
    for (uint32_t i = 0; i < (len2 + CHUNK - 1) / CHUNK; i++) {
        mt_send_chunk(t, 0xBBBB, img2, len2, CHUNK, i);
    }
    mt_poll_verify(t);
    assert_int_equal(meshota_node_phase(&t->node), PH(VERIFIED));
    static uint8_t got[32768];
    assert_int_equal(meshota_host_read_slot(&t->host, 1, 0, got, len2), MESHOTA_OK);
    assert_memory_equal(got, img2, len2);
    assert_true(mt_running_intact(t));
    mt_node_close(t);
    free(t);
}

/* Chunks 0 ... 40 are written, power fails: the bitmap saved at chunk 32 holds 0 ... 31, so the
 * node asks for 32 ... 40 again (and the rest), writes them over their own bytes, and the image
 * verifies. */
static void test_power_cut_after_chunk_40_fetches_32_to_40_again(void **state)
{
    (void)state;
    _Static_assert(MESHOTA_PERSIST_EVERY_CHUNKS == 32, "the chunk numbers assume the default");
    t = calloc(1, sizeof(*t));
    params = mt_image_defaults();
    img_len = mt_image_build(&params, img, sizeof(img));
    mt_node_open(t, 64 * 1024, 7);
    mt_start_for(&params, img, img_len, 0x4040, CHUNK, &start);
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    for (uint32_t i = 0; i <= 40; i++) {
        mt_send_chunk(t, 0x4040, img, img_len, CHUNK, i);
    }
    assert_int_equal(meshota_node_bytes_done(&t->node), 41 * CHUNK);
    mt_node_reboot(t);
    assert_int_equal(meshota_node_phase(&t->node), PH(RECEIVING));
    assert_int_equal(meshota_node_bytes_done(&t->node), 32 * CHUNK);
    /* Chunks 32 ... 40 are in flash already, only not recorded. */
    static uint8_t got[32768];
    assert_int_equal(meshota_host_read_slot(&t->host, 1, 32 * CHUNK, got, 9 * CHUNK), MESHOTA_OK);
    assert_memory_equal(got, img + 32 * CHUNK, 9 * CHUNK);

    /* The node reports 32 ... 99 missing; repair() sends exactly those. */
    size_t before = t->n_sent;
    assert_int_equal(repair(), n_chunks() - 32);
    static meshota_v1_DataFrame r;
    const mt_sent_t *report = &t->sent[before % MT_SENT_MAX];
    assert_true(meshota_decode(meshota_v1_DataFrame_fields, &r, report->data + 1, report->len - 1,
                               NULL));
    assert_int_equal(r.which_body, meshota_v1_DataFrame_missing_tag);
    assert_int_equal(r.body.missing.missing_total, n_chunks() - 32);
    if (r.body.missing.ranges_count > 0) {
        assert_int_equal(r.body.missing.ranges[0].first, 32);
    } else {
        assert_int_equal(r.body.missing.base_index, 32);
    }
    mt_poll_verify(t);
    assert_int_equal(meshota_node_phase(&t->node), PH(VERIFIED));
    assert_int_equal(meshota_host_read_slot(&t->host, 1, 0, got, img_len), MESHOTA_OK);
    assert_memory_equal(got, img, img_len);
    assert_true(mt_running_intact(t));
    mt_node_close(t);
    free(t);
}

/* The passive slot as a device has it: an older image, not erased. Programs a pattern (most
 * bits 0) over the whole slot, so a chunk written where the session did not erase reads back
 * wrong. */
static void fill_passive_slot(void)
{
    static uint8_t old[4096];
    for (size_t i = 0; i < sizeof(old); i++) {
        old[i] = (uint8_t)(0x5A ^ (i * 7u));
    }
    for (uint32_t off = 0; off < 64u * 1024u; off += sizeof(old)) {
        assert_int_equal(t->host.port.flash_write(t->host.port.ctx, off, old, sizeof(old)),
                         MESHOTA_OK);
    }
}

/* Chunks in order (@p reverse: last first, so the whole image is erased before chunk 0). */
static void run_in_order_until_cut(bool reverse)
{
    mt_control(t, MESHOTA_OP_UPDATE_START, &start);
    for (uint32_t i = 0; i < n_chunks() && !t->host.dead; i++) {
        mt_send_chunk(t, start.session_id, img, img_len, CHUNK, reverse ? n_chunks() - 1 - i : i);
    }
    for (int i = 0; i < 100 && !t->host.dead; i++) {
        meshota_node_poll(&t->node);
    }
}

/* Power fails at every flash and key-value operation of a transfer in turn (the erases, the
 * chunk writes around each bitmap save at chunks 32, 64, 96, the last chunk, the phase
 * records), over a slot that held an older image: each resumes to a byte-exact image, with the
 * chunks since the last save asked for again and nothing saved asked for twice, so the erase
 * progress derived from the saved bitmap at boot never skips a sector that still needs it. In
 * reverse order the saved bitmap holds the image's end first, and the derived progress covers
 * sectors that hold unsaved chunks. */
static void test_power_cut_at_every_operation_in_order_and_reversed(void **state)
{
    (void)state;
    t = calloc(1, sizeof(*t));
    params = mt_image_defaults();
    img_len = mt_image_build(&params, img, sizeof(img));
    static uint8_t got[32768];
    for (int reverse = 0; reverse < 2; reverse++) {
        mt_node_open(t, 64 * 1024, 11);
        fill_passive_slot();
        uint32_t base = t->host.ops;
        mt_start_for(&params, img, img_len, 0xD0D0, CHUNK, &start);
        run_in_order_until_cut(reverse);
        assert_int_equal(meshota_node_phase(&t->node), PH(VERIFIED));
        uint32_t total_ops = t->host.ops - base;
        mt_node_close(t);
        for (uint32_t cut = 0; cut < total_ops; cut++) {
            mt_node_open(t, 64 * 1024, 11);
            fill_passive_slot();
            meshota_host_cut_after(&t->host, cut);
            run_in_order_until_cut(reverse);
            assert_true(t->host.dead);
            uint32_t held_in_ram = t->node.chunks_done;
            mt_node_reboot(t);
            assert_true(mt_running_intact(t));
            if (meshota_node_phase(&t->node) == PH(NONE)) {
                mt_control(t, MESHOTA_OP_UPDATE_START, &start);
                assert_int_equal(mt_last_status(t).phase, PH(STARTING));
            }
            uint32_t held = t->node.chunks_done;
            assert_true(held <= held_in_ram);
            assert_true(held_in_ram - held <= MESHOTA_PERSIST_EVERY_CHUNKS);
            /* What the node claims is in flash. */
            for (uint32_t i = 0; i < n_chunks(); i++) {
                if ((t->node.bmap_rec[4 + i / 8] >> (i % 8)) & 1u) {
                    size_t len = i + 1 == n_chunks() ? img_len - i * CHUNK : CHUNK;
                    assert_int_equal(meshota_host_read_slot(&t->host, 1, i * CHUNK, got, len),
                                     MESHOTA_OK);
                    if (memcmp(got, img + i * CHUNK, len) != 0) {
                        fail_msg("reverse %d cut %u: chunk %u claimed but not in flash", reverse,
                                 (unsigned)cut, (unsigned)i);
                    }
                }
            }
            uint32_t resent = 0;
            for (int round = 0; round < 3 && (meshota_node_phase(&t->node) == PH(STARTING) ||
                                              meshota_node_phase(&t->node) == PH(RECEIVING));
                 round++) {
                resent += repair();
            }
            assert_int_equal(resent, n_chunks() - held);
            mt_poll_verify(t);
            if (meshota_node_phase(&t->node) != PH(VERIFIED)) {
                fail_msg("reverse %d cut %u of %u: phase %d error %d", reverse, (unsigned)cut,
                         (unsigned)total_ops, meshota_node_phase(&t->node),
                         meshota_node_error(&t->node));
            }
            assert_int_equal(meshota_host_read_slot(&t->host, 1, 0, got, img_len), MESHOTA_OK);
            assert_memory_equal(got, img, img_len);
            mt_node_close(t);
        }
    }
    free(t);
}

/* Key-value writes of one transfer, counted at the port. */
static unsigned kv_session_sets;
static unsigned kv_bitmap_sets;
static meshota_err_t (*real_kv_set)(void *, const char *, const void *, size_t);

static meshota_err_t counting_kv_set(void *ctx, const char *key, const void *buf, size_t len)
{
    if (strcmp(key, "ota.bmap") == 0) {
        kv_bitmap_sets++;
    } else {
        assert_string_equal(key, "ota.sess");
        kv_session_sets++;
    }
    return real_kv_set(ctx, key, buf, len);
}

/* A whole transfer writes the session record four times (start, first chunk, verifying,
 * verified) and the bitmap every MESHOTA_PERSIST_EVERY_CHUNKS chunks and with the last chunk:
 * nothing per chunk or per erased sector. */
static void test_transfer_saves_the_bitmap_every_32_chunks(void **state)
{
    (void)state;
    _Static_assert(MESHOTA_PERSIST_EVERY_CHUNKS == 32, "the table assumes the default");
    static const struct {
        uint32_t image_size;
        uint32_t chunk;
        uint32_t chunks;
        unsigned bitmap_sets;
    } cases[] = {
        {20000, 200, 100, 4},       /* at 32, 64, 96 and the last */
        {20000, 625, 32, 1},        /* the 32nd is the last */
        {20000, 1000, 20, 1},       /* the last only */
        {1572864, 1024, 1536, 48},  /* 1.5 MB in stream-unit chunks */
    };
    static uint8_t big[1572864];
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        uint32_t chunk = cases[c].chunk;
        mt_image_params_t p = mt_image_defaults();
        p.size = cases[c].image_size;
        size_t len = mt_image_build(&p, big, sizeof(big));
        assert_int_equal(len, cases[c].image_size);
        assert_int_equal((len + chunk - 1) / chunk, cases[c].chunks);
        t = calloc(1, sizeof(*t));
        mt_node_open(t, 1600 * 1024, 9);
        real_kv_set = t->host.port.kv_set;
        t->host.port.kv_set = counting_kv_set;
        kv_session_sets = kv_bitmap_sets = 0;
        mt_start_for(&p, big, len, 0x5000 + (uint32_t)c, chunk, &start);
        mt_control(t, MESHOTA_OP_UPDATE_START, &start);
        for (uint32_t i = 0; i < cases[c].chunks; i++) {
            mt_send_chunk(t, start.session_id, big, len, chunk, i);
        }
        mt_poll_verify(t);
        assert_int_equal(meshota_node_phase(&t->node), PH(VERIFIED));
        assert_int_equal(kv_session_sets, 4);
        assert_int_equal(kv_bitmap_sets, cases[c].bitmap_sets);
        mt_node_close(t);
        free(t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_power_cut_resumes_byte_exact),
        cmocka_unit_test(test_new_session_after_power_cut_discards_old_progress),
        cmocka_unit_test(test_power_cut_after_chunk_40_fetches_32_to_40_again),
        cmocka_unit_test(test_transfer_saves_the_bitmap_every_32_chunks),
        cmocka_unit_test(test_power_cut_at_every_operation_in_order_and_reversed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
