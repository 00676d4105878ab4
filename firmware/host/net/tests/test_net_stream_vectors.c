/* The C stream reassembler against proto/testdata/stream-framing.jsonl, the vectors the
 * TypeScript decoder of @meshota/transport-tcp is tested with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "meshota_core/meshota_stream.h"

#define MAX_BYTES 8192
#define MAX_FRAMES 8

typedef struct {
    char name[128];
    int is_crc;
    uint8_t input[MAX_BYTES];
    size_t input_len;
    uint32_t crc;
    size_t n_frames;
    uint8_t frames[MAX_FRAMES][MESHOTA_STREAM_MAX_PAYLOAD];
    size_t frame_len[MAX_FRAMES];
    meshota_stream_status_t error;
    size_t pending;
} vector_t;

static size_t unhex(const char *s, size_t n, uint8_t *out, size_t cap)
{
    size_t len = n / 2;
    assert_true(n % 2 == 0 && len <= cap);
    for (size_t i = 0; i < len; i++) {
        unsigned v = 0;
        assert_int_equal(sscanf(&s[2 * i], "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return len;
}

/* Pointer to the value after "key": in @p line, or NULL. */
static const char *field(const char *line, const char *key)
{
    char pat[40];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(line, pat);
    return p != NULL ? p + strlen(pat) : NULL;
}

/* The quoted string at @p p: start in *s, length returned. */
static size_t quoted(const char *p, const char **s)
{
    assert_true(*p == '"');
    *s = p + 1;
    const char *e = strchr(*s, '"');
    assert_non_null(e);
    return (size_t)(e - *s);
}

static void parse(const char *line, vector_t *v)
{
    memset(v, 0, sizeof(*v));
    const char *s;
    size_t n = quoted(field(line, "name"), &s);
    memcpy(v->name, s, n < sizeof(v->name) - 1 ? n : sizeof(v->name) - 1);
    n = quoted(field(line, "kind"), &s);
    v->is_crc = n == 5 && memcmp(s, "crc32", 5) == 0;
    if (v->is_crc) {
        n = quoted(field(line, "input"), &s);
        v->input_len = unhex(s, n, v->input, sizeof(v->input));
        n = quoted(field(line, "crc32"), &s);
        v->crc = (uint32_t)strtoul(s, NULL, 16);
        return;
    }
    n = quoted(field(line, "stream"), &s);
    v->input_len = unhex(s, n, v->input, sizeof(v->input));
    const char *f = field(line, "frames");
    assert_true(*f == '[');
    f++;
    while (*f == '"') {
        assert_true(v->n_frames < MAX_FRAMES);
        n = quoted(f, &s);
        v->frame_len[v->n_frames] =
            unhex(s, n, v->frames[v->n_frames], sizeof(v->frames[v->n_frames]));
        v->n_frames++;
        f = s + n + 1;
        if (*f == ',') {
            f++;
        }
    }
    const char *e = field(line, "error");
    v->error = strncmp(e, "null", 4) == 0              ? MESHOTA_STREAM_OK
               : strncmp(e, "\"bad-length\"", 12) == 0 ? MESHOTA_STREAM_BAD_LENGTH
                                                       : MESHOTA_STREAM_BAD_CRC;
    v->pending = (size_t)strtoul(field(line, "pending"), NULL, 10);
}

typedef struct {
    const vector_t *v;
    size_t seen;
} check_t;

static int on_frame(void *arg, const uint8_t *frame, size_t len)
{
    check_t *c = arg;
    if (c->seen >= c->v->n_frames) {
        fail_msg("%s: unexpected frame %zu", c->v->name, c->seen);
    }
    assert_int_equal(len, c->v->frame_len[c->seen]);
    assert_memory_equal(frame, c->v->frames[c->seen], len);
    c->seen++;
    return 0;
}

/* Feed the stream in pieces of @p step bytes (0: all at once). */
static void run(const vector_t *v, size_t step)
{
    static meshota_stream_rx_t rx;
    meshota_stream_reset(&rx);
    check_t c = {v, 0};
    meshota_err_t last = MESHOTA_OK;
    size_t at = 0;
    while (at < v->input_len && last == MESHOTA_OK) {
        size_t n = step == 0 ? v->input_len : step;
        if (n > v->input_len - at) {
            n = v->input_len - at;
        }
        last = meshota_stream_feed(&rx, &v->input[at], n, on_frame, &c);
        at += n;
    }
    if (c.seen != v->n_frames) {
        fail_msg("%s (step %zu): %zu frames, expected %zu", v->name, step, c.seen, v->n_frames);
    }
    assert_int_equal(last, v->error == MESHOTA_STREAM_OK ? MESHOTA_OK : MESHOTA_ERR_FRAME);
    assert_int_equal(rx.status, v->error);
    if (v->error == MESHOTA_STREAM_OK) {
        assert_int_equal(rx.have, v->pending);
    }
}

static void test_stream_framing_vectors(void **state)
{
    (void)state;
    FILE *f = fopen(MESHOTA_TESTDATA "/stream-framing.jsonl", "r");
    assert_non_null(f);
    static char line[2 * MAX_BYTES + 4096];
    static vector_t v;
    int crcs = 0, streams = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (line[0] != '{') {
            continue;
        }
        parse(line, &v);
        if (v.is_crc) {
            assert_int_equal(meshota_crc32(0, v.input, v.input_len), v.crc);
            crcs++;
            continue;
        }
        run(&v, 0);
        run(&v, 1);
        run(&v, 7);
        if (v.error == MESHOTA_STREAM_OK && v.pending == 0) {
            /* The encoder reproduces the stream frame by frame. */
            static uint8_t out[MAX_BYTES];
            size_t at = 0;
            for (size_t i = 0; i < v.n_frames; i++) {
                size_t n = meshota_stream_encode(v.frames[i], v.frame_len[i], &out[at],
                                                 sizeof(out) - at);
                assert_int_equal(n, v.frame_len[i] + MESHOTA_STREAM_OVERHEAD);
                at += n;
            }
            assert_int_equal(at, v.input_len);
            assert_memory_equal(out, v.input, at);
        }
        streams++;
    }
    fclose(f);
    assert_int_equal(crcs, 3);
    assert_int_equal(streams, 17);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_framing_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
