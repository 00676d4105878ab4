/*
 * One emulated node and one signed image, shared by the node tests. Define SESSION, CHUNK and
 * FIXTURE_SEED before including; every test starts from a fresh node (fixture_setup) and
 * ends with fixture_teardown.
 */
#ifndef MESHOTA_NODE_FIXTURE_H
#define MESHOTA_NODE_FIXTURE_H

#include <stdlib.h>

#include "meshota_testlib.h"

#define PH(x) meshota_v1_Phase_PHASE_##x
#define EC(x) meshota_v1_ErrorCode_ERROR_CODE_##x

static mt_node_t *t;
static uint8_t img[32768];
static size_t img_len;
static mt_image_params_t params;
static meshota_v1_UpdateStart start;

static int fixture_setup(void **state)
{
    (void)state;
    t = calloc(1, sizeof(*t));
    mt_node_open(t, 64 * 1024, FIXTURE_SEED);
    params = mt_image_defaults();
    img_len = mt_image_build(&params, img, sizeof(img));
    mt_start_for(&params, img, img_len, SESSION, CHUNK, &start);
    return 0;
}

static int fixture_teardown(void **state)
{
    (void)state;
    mt_node_close(t);
    free(t);
    return 0;
}

static uint32_t chunk_count(void)
{
    return (uint32_t)((img_len + CHUNK - 1) / CHUNK);
}

/* The last message the node sent is an UpdateStatus with this phase and error. */
static void expect_status(meshota_v1_Phase phase, meshota_v1_ErrorCode error)
{
    meshota_v1_UpdateStatus st = mt_last_status(t);
    assert_int_equal(st.phase, phase);
    assert_int_equal(st.error, error);
}

#endif /* MESHOTA_NODE_FIXTURE_H */
