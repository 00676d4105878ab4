/*
 * Host tests of the HTTP(S) stream source (src/meshota_esp_http.c) against a fake
 * esp_http_client serving an in-memory image: resume with ranges, a server that ignores Range,
 * answers at the wrong offset, connections that end early, the TLS heap guard, certificate
 * pinning and the stream_read() contract. Built twice: one open-ended request
 * (TEST_HTTP_REQUEST_SIZE 0) and ranged requests of 4096 bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sdkconfig.h"
#undef CONFIG_MESHOTA_HTTP_REQUEST_SIZE
#define CONFIG_MESHOTA_HTTP_REQUEST_SIZE TEST_HTTP_REQUEST_SIZE

#include "../../src/meshota_esp_http.c"

#define IMAGE_SIZE 10000u

/* ---- Fakes: FreeRTOS, heap, log ------------------------------------------------------------ */

static uint8_t s_image[IMAGE_SIZE];
static uint8_t s_got[2 * IMAGE_SIZE]; /* what the meshota task read */
static size_t s_got_len;

struct StreamBufferDef_t {
    uint8_t data[1500]; /* small: the producer has to wait for the reader */
    size_t len;
};
static struct StreamBufferDef_t s_sb;

StreamBufferHandle_t xStreamBufferCreate(size_t size, size_t trigger)
{
    (void)size, (void)trigger;
    s_sb.len = 0;
    return &s_sb;
}
size_t xStreamBufferSend(StreamBufferHandle_t b, const void *d, size_t n, TickType_t t)
{
    (void)t;
    size_t room = sizeof(b->data) - b->len;
    size_t k = n < room ? n : room;
    memcpy(&b->data[b->len], d, k);
    b->len += k;
    return k;
}
size_t xStreamBufferReceive(StreamBufferHandle_t b, void *d, size_t n, TickType_t t)
{
    (void)t;
    size_t k = n < b->len ? n : b->len;
    memcpy(d, b->data, k);
    memmove(b->data, &b->data[k], b->len - k);
    b->len -= k;
    return k;
}
size_t xStreamBufferSpacesAvailable(StreamBufferHandle_t b)
{
    return sizeof(b->data) - b->len;
}
size_t xStreamBufferBytesAvailable(StreamBufferHandle_t b)
{
    return b->len;
}
BaseType_t xStreamBufferReset(StreamBufferHandle_t b)
{
    b->len = 0;
    return pdPASS;
}
BaseType_t xStreamBufferIsEmpty(StreamBufferHandle_t b)
{
    return b->len == 0 ? pdTRUE : pdFALSE;
}

/* The meshota task reading: whatever the producer waits for is taken here. */
static void drain(void)
{
    int32_t n;
    while ((n = mota_http_read(NULL, &s_got[s_got_len], sizeof(s_got) - s_got_len)) > 0) {
        s_got_len += (size_t)n;
    }
}
void vTaskDelay(TickType_t t)
{
    (void)t;
    drain();
}
void taskENTER_CRITICAL(portMUX_TYPE *m)
{
    (void)m;
}
void taskEXIT_CRITICAL(portMUX_TYPE *m)
{
    (void)m;
}
BaseType_t xTaskCreate(TaskFunction_t fn, const char *name, uint32_t stack, void *arg,
                       UBaseType_t prio, TaskHandle_t *h)
{
    (void)fn, (void)name, (void)stack, (void)arg, (void)prio, (void)h;
    return pdPASS;
}
BaseType_t xTaskNotifyGive(TaskHandle_t h)
{
    (void)h;
    return pdPASS;
}
uint32_t ulTaskNotifyTake(BaseType_t clear, TickType_t ticks)
{
    (void)clear, (void)ticks;
    return 0;
}
static size_t s_heap_free = 100000, s_heap_largest = 60000;
size_t heap_caps_get_free_size(uint32_t caps)
{
    (void)caps;
    return s_heap_free;
}
size_t heap_caps_get_largest_free_block(uint32_t caps)
{
    (void)caps;
    return s_heap_largest;
}
const char *esp_err_to_name(esp_err_t code)
{
    return code == ESP_OK ? "ESP_OK" : "error";
}
void esp_log_write_stub(const char *tag, const char *fmt, ...)
{
    (void)tag, (void)fmt;
}
int s_wakes;
void mota_wake(void)
{
    s_wakes++;
}
esp_err_t mota_wifi_join(const char *ssid, const char *password)
{
    (void)ssid, (void)password;
    return ESP_OK;
}
bool mota_wifi_wait_up(uint32_t timeout_ms)
{
    (void)timeout_ms;
    return true;
}
mota_wifi_state_t mota_wifi_state(void)
{
    return MOTA_WIFI_UP;
}
esp_err_t esp_crt_bundle_attach(void *conf)
{
    (void)conf;
    return ESP_OK;
}

/* ---- Fake esp_http_client: one image, a few server behaviours ----------------------------- */

typedef enum { SERVER_HONOURS_RANGE, SERVER_IGNORES_RANGE, SERVER_WRONG_OFFSET } server_mode_t;

struct esp_http_client {
    esp_http_client_config_t cfg;
};
static struct esp_http_client s_client;
static struct {
    server_mode_t mode;
    int opens;
    char ranges[8][40];
    uint32_t cursor, end; /* bytes [cursor, end) of the current response are left */
    int status;
    uint32_t cut_after;   /* end the connection after this many body bytes (0: never) */
    uint32_t served;
    bool init_called;
} srv;

esp_http_client_handle_t esp_http_client_init(const esp_http_client_config_t *config)
{
    s_client.cfg = *config;
    srv.init_called = true;
    return &s_client;
}
esp_err_t esp_http_client_set_header(esp_http_client_handle_t c, const char *key,
                                     const char *value)
{
    (void)c;
    assert_string_equal(key, "Range");
    assert_true(srv.opens < 8);
    snprintf(srv.ranges[srv.opens], sizeof(srv.ranges[0]), "%s", value);
    return ESP_OK;
}
esp_err_t esp_http_client_open(esp_http_client_handle_t c, int write_len)
{
    (void)c;
    assert_int_equal(write_len, 0);
    srv.opens++;
    return ESP_OK;
}
int64_t esp_http_client_fetch_headers(esp_http_client_handle_t c)
{
    unsigned long first = 0, last = 0;
    assert_true(srv.opens >= 1 && srv.opens <= 8);
    const char *r = srv.ranges[srv.opens - 1];
    int n = sscanf(r, "bytes=%lu-%lu", &first, &last);
    assert_true(n >= 1);
    if (n == 1 || last >= IMAGE_SIZE) {
        last = IMAGE_SIZE - 1;
    }
    if (srv.mode == SERVER_IGNORES_RANGE) {
        srv.status = 200;
        srv.cursor = 0;
        srv.end = IMAGE_SIZE;
        return IMAGE_SIZE;
    }
    if (srv.mode == SERVER_WRONG_OFFSET) {
        first = first >= 100 ? first - 100 : first + 100;
    }
    char cr[64];
    snprintf(cr, sizeof(cr), "bytes %lu-%lu/%u", first, last, IMAGE_SIZE);
    esp_http_client_event_t ev = {.event_id = HTTP_EVENT_ON_HEADER,
                                  .client = c,
                                  .header_key = "Content-Range",
                                  .header_value = cr};
    assert_int_equal(c->cfg.event_handler(&ev), ESP_OK);
    srv.status = 206;
    srv.cursor = (uint32_t)first;
    srv.end = (uint32_t)last + 1;
    return (int64_t)(last - first + 1);
}
bool esp_http_client_is_chunked_response(esp_http_client_handle_t c)
{
    (void)c;
    return false;
}
int esp_http_client_get_status_code(esp_http_client_handle_t c)
{
    (void)c;
    return srv.status;
}
int esp_http_client_read(esp_http_client_handle_t c, char *buf, int len)
{
    (void)c;
    uint32_t left = srv.end - srv.cursor;
    if (srv.cut_after != 0 && srv.served >= srv.cut_after) {
        return 0; /* the peer closed early */
    }
    uint32_t n = (uint32_t)len < left ? (uint32_t)len : left;
    if (srv.cut_after != 0 && srv.served + n > srv.cut_after) {
        n = srv.cut_after - srv.served;
    }
    memcpy(buf, &s_image[srv.cursor], n);
    srv.cursor += n;
    srv.served += n;
    return (int)n;
}
bool esp_http_client_is_complete_data_received(esp_http_client_handle_t c)
{
    (void)c;
    return srv.cursor == srv.end;
}
esp_err_t esp_http_client_close(esp_http_client_handle_t c)
{
    (void)c;
    return ESP_OK;
}
esp_err_t esp_http_client_cleanup(esp_http_client_handle_t c)
{
    (void)c;
    return ESP_OK;
}

/* ---- Test utilities ------------------------------------------------------------------------ */

static int setup(void **state)
{
    (void)state;
    for (uint32_t i = 0; i < IMAGE_SIZE; i++) {
        s_image[i] = (uint8_t)(i * 31u + (i >> 8));
    }
    memset(&srv, 0, sizeof(srv));
    memset(&s_client, 0, sizeof(s_client));
    s_got_len = 0;
    s_heap_free = 100000;
    s_heap_largest = 60000;
    s_http.rx = xStreamBufferCreate(0, 1);
    assert_int_equal(psa_crypto_init(), PSA_SUCCESS);
    return 0;
}

/* Open as the core does and run the request on this thread, as the http task would. */
static uint32_t open_and_run(const char *url, const uint8_t *pin, uint32_t offset)
{
    s_got_len = 0;
    srv.opens = 0;
    srv.served = 0;
    memset(srv.ranges, 0, sizeof(srv.ranges));
    assert_int_equal(mota_http_open(NULL, url, pin, NULL, offset), MESHOTA_OK);
    uint32_t gen = s_http.gen;
    memcpy(s_http.active_pin, s_http.pin, sizeof(s_http.active_pin));
    s_http.open_req = false;
    (void)xStreamBufferReset(s_http.rx);
    s_http.ready_gen = gen;
    run_stream(gen, s_http.url, s_http.has_pin, offset);
    drain();
    return gen;
}

static void expect_ranges(const char *const *want, int n)
{
    assert_int_equal(srv.opens, n);
    for (int i = 0; i < n; i++) {
        assert_string_equal(srv.ranges[i], want[i]);
    }
}

/* ---- Tests --------------------------------------------------------------------------------- */

static void resume_delivers_exactly_the_missing_bytes(void **state)
{
    (void)state;
    srv.mode = SERVER_HONOURS_RANGE;
    uint32_t gen = open_and_run("http://10.0.0.2:8080/fw.bin", NULL, 4096);
    assert_int_equal(s_http.end_gen, gen);
    assert_int_equal(s_got_len, IMAGE_SIZE - 4096);
    assert_memory_equal(s_got, &s_image[4096], IMAGE_SIZE - 4096);
#if TEST_HTTP_REQUEST_SIZE == 0
    static const char *const ranges[] = {"bytes=4096-"};
    expect_ranges(ranges, 1);
#else
    static const char *const ranges[] = {"bytes=4096-8191", "bytes=8192-9999"};
    expect_ranges(ranges, 2);
#endif
    /* The end is reported once every byte was read. */
    uint8_t b[4];
    assert_int_equal(mota_http_read(NULL, b, sizeof(b)), 0);
}

static void whole_image_from_the_start(void **state)
{
    (void)state;
    srv.mode = SERVER_HONOURS_RANGE;
    uint32_t gen = open_and_run("http://10.0.0.2/fw.bin", NULL, 0);
    assert_int_equal(s_http.end_gen, gen);
    assert_int_equal(s_got_len, IMAGE_SIZE);
    assert_memory_equal(s_got, s_image, IMAGE_SIZE);
#if TEST_HTTP_REQUEST_SIZE == 0
    static const char *const ranges[] = {"bytes=0-"};
    expect_ranges(ranges, 1);
#else
    static const char *const ranges[] = {"bytes=0-4095", "bytes=4096-8191", "bytes=8192-9999"};
    expect_ranges(ranges, 3);
#endif
}

static void resume_after_server_ignores_range_never_counts_bytes_twice(void **state)
{
    (void)state;
    srv.mode = SERVER_IGNORES_RANGE;
    uint32_t gen = open_and_run("http://10.0.0.2/fw.bin", NULL, 3000);
    assert_int_equal(s_http.end_gen, gen);
    /* Exactly the bytes from 3000 on: the first 3000 of the 200 response were skipped. */
    assert_int_equal(s_got_len, IMAGE_SIZE - 3000);
    assert_memory_equal(s_got, &s_image[3000], IMAGE_SIZE - 3000);
    assert_int_equal(srv.opens, 1); /* a 200 carries everything */
}

static void partial_content_at_another_offset_fails_without_data(void **state)
{
    (void)state;
    srv.mode = SERVER_WRONG_OFFSET;
    uint32_t gen = open_and_run("http://10.0.0.2/fw.bin", NULL, 2048);
    assert_int_equal(s_http.err_gen, gen);
    assert_int_not_equal(s_http.end_gen, gen);
    assert_int_equal(s_got_len, 0);
    uint8_t b[4];
    assert_int_equal(mota_http_read(NULL, b, sizeof(b)), -MESHOTA_ERR_NET);
}

static void connection_ending_early_reports_an_error_after_the_bytes_it_carried(void **state)
{
    (void)state;
    srv.mode = SERVER_HONOURS_RANGE;
    srv.cut_after = 2500;
    uint32_t gen = open_and_run("http://10.0.0.2/fw.bin", NULL, 1000);
    assert_int_equal(s_http.err_gen, gen);
    /* 2500 bytes carried; the last 4 are not a whole 16-byte piece and come again on resume. */
    assert_int_equal(s_got_len, 2496);
    assert_memory_equal(s_got, &s_image[1000], 2496);
}

static void https_is_not_started_without_heap_for_tls(void **state)
{
    (void)state;
    s_heap_largest = 12000; /* a 16 KB record buffer cannot be allocated */
    uint32_t gen = open_and_run("https://10.0.0.2/fw.bin", NULL, 0);
    assert_int_equal(s_http.err_gen, gen);
    assert_false(srv.init_called);
    assert_int_equal(srv.opens, 0);
    /* Plain HTTP needs no TLS heap. */
    gen = open_and_run("http://10.0.0.2/fw.bin", NULL, 0);
    assert_int_equal(s_http.end_gen, gen);
}

static void https_verifies_with_the_pin_or_the_certificate_bundle(void **state)
{
    (void)state;
    static const uint8_t pin[32] = {1, 2, 3};
    (void)open_and_run("https://10.0.0.2/fw.bin", pin, 0);
    assert_ptr_equal(s_client.cfg.crt_bundle_attach, pin_attach);
    (void)open_and_run("https://updates.example.com/fw.bin", NULL, 0);
    assert_ptr_equal(s_client.cfg.crt_bundle_attach, esp_crt_bundle_attach);
    (void)open_and_run("http://10.0.0.2/fw.bin", NULL, 0);
    assert_null(s_client.cfg.crt_bundle_attach);
}

static void pin_accepts_only_the_pinned_leaf_certificate(void **state)
{
    (void)state;
    static uint8_t der[300];
    for (size_t i = 0; i < sizeof(der); i++) {
        der[i] = (uint8_t)(i ^ 0x5A);
    }
    mbedtls_x509_crt crt;
    memset(&crt, 0, sizeof(crt));
    crt.raw.p = der;
    crt.raw.len = sizeof(der);
    size_t hl = 0;
    assert_int_equal(psa_hash_compute(PSA_ALG_SHA_256, der, sizeof(der), s_http.active_pin, 32,
                                      &hl),
                     PSA_SUCCESS);
    /* The pinned leaf: every verification failure is forgiven (self-signed, host name). */
    uint32_t flags = MBEDTLS_X509_BADCERT_NOT_TRUSTED | MBEDTLS_X509_BADCERT_CN_MISMATCH;
    assert_int_equal(pin_verify(NULL, &crt, 0, &flags), 0);
    assert_int_equal(flags, 0);
    /* Another leaf: not trusted. */
    der[7] ^= 1;
    flags = 0;
    assert_int_equal(pin_verify(NULL, &crt, 0, &flags), 0);
    assert_true((flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED) != 0);
    /* Certificates above the leaf do not decide. */
    flags = MBEDTLS_X509_BADCERT_NOT_TRUSTED;
    assert_int_equal(pin_verify(NULL, &crt, 1, &flags), 0);
    assert_int_equal(flags, 0);
}

static void read_waits_for_the_new_connection_and_ignores_closed_ones(void **state)
{
    (void)state;
    uint8_t b[16];
    assert_int_equal(mota_http_open(NULL, "http://10.0.0.2/fw.bin", NULL, NULL, 0), MESHOTA_OK);
    /* Bytes left from an older connection are never handed out before the new one is ready. */
    s_sb.len = 4;
    assert_int_equal(mota_http_read(NULL, b, sizeof(b)), -MESHOTA_ERR_WOULD_BLOCK);
    s_http.ready_gen = s_http.gen;
    s_sb.len = 0;
    assert_int_equal(mota_http_read(NULL, b, sizeof(b)), -MESHOTA_ERR_WOULD_BLOCK);
    /* After close, the end of the old generation does not count. */
    uint32_t old = s_http.gen;
    mota_http_close(NULL);
    s_http.end_gen = old;
    assert_int_equal(mota_http_read(NULL, b, sizeof(b)), -MESHOTA_ERR_WOULD_BLOCK);
}

static void read_hands_out_16_byte_multiples_until_the_end(void **state)
{
    (void)state;
    uint8_t b[256];
    assert_int_equal(mota_http_open(NULL, "http://10.0.0.2/fw.bin", NULL, NULL, 0), MESHOTA_OK);
    s_http.ready_gen = s_http.gen;
    for (size_t i = 0; i < 100; i++) {
        s_sb.data[i] = (uint8_t)i;
    }
    s_sb.len = 100;
    /* 100 bytes there, 256 asked: 96, so that the next write starts 16-byte aligned. */
    assert_int_equal(mota_http_read(NULL, b, sizeof(b)), 96);
    assert_int_equal(b[95], 95);
    /* 4 left and the stream goes on: wait for more rather than hand out 4. */
    assert_int_equal(mota_http_read(NULL, b, sizeof(b)), -MESHOTA_ERR_WOULD_BLOCK);
    /* The core asks for exactly what is left of the image: that is handed out as it is. */
    assert_int_equal(mota_http_read(NULL, b, 4), 4);
    assert_int_equal(b[0], 96);
    /* At the end of the stream the last bytes go out whatever their number. */
    s_sb.len = 5;
    s_http.end_gen = s_http.gen;
    assert_int_equal(mota_http_read(NULL, b, sizeof(b)), 5);
    assert_int_equal(mota_http_read(NULL, b, sizeof(b)), 0);
}

static void read_after_an_error_keeps_the_unaligned_rest_for_the_resume(void **state)
{
    (void)state;
    uint8_t b[256];
    assert_int_equal(mota_http_open(NULL, "http://10.0.0.2/fw.bin", NULL, NULL, 0), MESHOTA_OK);
    s_http.ready_gen = s_http.gen;
    s_sb.len = 37;
    s_http.err_gen = s_http.gen;
    /* 32 of 37 bytes; the 5 others would leave a padded block that the resume writes again. */
    assert_int_equal(mota_http_read(NULL, b, sizeof(b)), 32);
    assert_int_equal(mota_http_read(NULL, b, sizeof(b)), -MESHOTA_ERR_NET);
}

static void open_refuses_bad_urls_and_oversize_credentials(void **state)
{
    (void)state;
    static char long_url[200];
    memset(long_url, 'a', sizeof(long_url) - 1);
    memcpy(long_url, "http://", 7);
    assert_int_equal(mota_http_open(NULL, long_url, NULL, NULL, 0), MESHOTA_ERR_INVALID_ARG);
    assert_int_equal(mota_http_open(NULL, "ftp://10.0.0.2/fw.bin", NULL, NULL, 0),
                     MESHOTA_ERR_INVALID_ARG);
    meshota_wifi_creds_t creds = {.ssid = "0123456789012345678901234567890123", .password = ""};
    assert_int_equal(mota_http_open(NULL, "http://10.0.0.2/fw.bin", NULL, &creds, 0),
                     MESHOTA_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(resume_delivers_exactly_the_missing_bytes, setup),
        cmocka_unit_test_setup(whole_image_from_the_start, setup),
        cmocka_unit_test_setup(resume_after_server_ignores_range_never_counts_bytes_twice, setup),
        cmocka_unit_test_setup(partial_content_at_another_offset_fails_without_data, setup),
        cmocka_unit_test_setup(
            connection_ending_early_reports_an_error_after_the_bytes_it_carried, setup),
        cmocka_unit_test_setup(https_is_not_started_without_heap_for_tls, setup),
        cmocka_unit_test_setup(https_verifies_with_the_pin_or_the_certificate_bundle, setup),
        cmocka_unit_test_setup(pin_accepts_only_the_pinned_leaf_certificate, setup),
        cmocka_unit_test_setup(read_waits_for_the_new_connection_and_ignores_closed_ones, setup),
        cmocka_unit_test_setup(read_hands_out_16_byte_multiples_until_the_end, setup),
        cmocka_unit_test_setup(read_after_an_error_keeps_the_unaligned_rest_for_the_resume, setup),
        cmocka_unit_test_setup(open_refuses_bad_urls_and_oversize_credentials, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
