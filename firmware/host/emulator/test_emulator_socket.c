/* The emulator's socket protocol under hostile or careless clients: it answers what it can,
 * refuses the rest, and keeps serving the next client. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <psa/crypto.h>

#include "meshota_codec.h"
#include "meshota_testlib.h"

static pid_t s_pid;
static unsigned s_port;

static int start(void **state)
{
    (void)state;
    char dir[] = "/tmp/meshota-emu-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    int out[2];
    assert_int_equal(pipe(out), 0);
    s_pid = fork();
    assert_true(s_pid >= 0);
    if (s_pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        execl(MESHOTA_EMULATOR, MESHOTA_EMULATOR, "--dir", dir, "--port", "0", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char line[64] = "";
    FILE *f = fdopen(out[0], "r");
    assert_non_null(fgets(line, sizeof(line), f));
    assert_int_equal(sscanf(line, "LISTENING %u", &s_port), 1);
    fclose(f);
    return 0;
}

static int stop(void **state)
{
    (void)state;
    kill(s_pid, SIGKILL);
    waitpid(s_pid, NULL, 0);
    return 0;
}

static bool alive(void)
{
    return waitpid(s_pid, NULL, WNOHANG) == 0;
}

static int connect_emu(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void send_frame(int fd, uint16_t node, uint8_t kind, const void *p, size_t len)
{
    uint8_t hdr[9];
    uint32_t total = (uint32_t)(5 + len);
    memcpy(hdr, &total, 4); /* little-endian host */
    hdr[4] = (uint8_t)node;
    hdr[5] = (uint8_t)(node >> 8);
    hdr[6] = kind;
    hdr[7] = 1;
    hdr[8] = 0;
    assert_int_equal(send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL), (ssize_t)sizeof(hdr));
    if (len > 0) {
        assert_int_equal(send(fd, p, len, MSG_NOSIGNAL), (ssize_t)len);
    }
}

static void read_full(int fd, uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t r = recv(fd, p, len, 0);
        assert_true(r > 0);
        p += r;
        len -= (size_t)r;
    }
}

/* The next REPLY's text (EVENT frames and node traffic are skipped). */
static void reply(int fd, char *out, size_t cap)
{
    for (;;) {
        uint8_t hdr[9];
        read_full(fd, hdr, 9);
        uint32_t len = (uint32_t)hdr[0] | ((uint32_t)hdr[1] << 8) | ((uint32_t)hdr[2] << 16) |
                       ((uint32_t)hdr[3] << 24);
        assert_true(len >= 5 && len - 5 < cap);
        read_full(fd, (uint8_t *)out, len - 5);
        out[len - 5] = '\0';
        if (hdr[6] == 17) {
            return;
        }
    }
}

static void command(int fd, const char *text, const char *want_prefix)
{
    char got[4200];
    send_frame(fd, 0, 16, text, strlen(text));
    reply(fd, got, sizeof(got));
    if (strncmp(got, want_prefix, strlen(want_prefix)) != 0) {
        fail_msg("%s: got \"%s\", want \"%s...\"", text, got, want_prefix);
    }
}

static void test_client_gone_before_its_replies_does_not_stop_the_emulator(void **state)
{
    (void)state;
    for (int round = 0; round < 3; round++) {
        int fd = connect_emu();
        struct linger lg = {.l_onoff = 1, .l_linger = 0}; /* close with a reset */
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        for (int i = 0; i < 50; i++) {
            send_frame(fd, 0, 16, "list", 4);
        }
        close(fd);
        usleep(100 * 1000);
        assert_true(alive());
    }
    int fd = connect_emu();
    command(fd, "list", "ok");
    close(fd);
}

static void test_malformed_commands_and_frames_get_errors(void **state)
{
    (void)state;
    int fd = connect_emu();
    command(fd, "", "error");
    command(fd, "add", "error usage");
    command(fd, "add 0", "error usage");
    command(fd, "add 8000", "error usage");
    command(fd, "status 1234", "error no node 1234");
    command(fd, "key * 04", "error usage");
    command(fd, "advance x", "error usage");
    command(fd, "add 0001", "error set a key first");
    command(fd, "key * 04" "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
                "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5", "ok");
    command(fd, "add 0001 slot=4097", "error cannot open state");
    command(fd, "add 0001 slot=0", "error cannot open state");
    command(fd, "add 0001 slot=65536", "ok");
    command(fd, "sha 0001 passive 4294967295", "error length past the slot");
    static char big[4096];
    memset(big, 'x', sizeof(big));
    send_frame(fd, 0, 16, big, sizeof(big));
    char got[4200];
    reply(fd, got, sizeof(got));
    assert_string_equal(got, "error usage: xxxxxxxxxxxxxxx <unicast address in hex> ...");
    /* Frames for nodes that do not exist, unknown kinds, empty mesh payloads: no answer. */
    send_frame(fd, 0x1234, 1, "\x01", 1);
    send_frame(fd, 0x0001, 99, "abc", 3);
    send_frame(fd, 0x0001, 1, NULL, 0);
    send_frame(fd, 0x0001, 2, "\xff\xff\xff", 3);
    command(fd, "status 0001", "ok addr=0001 power=on phase=0 error=0");
    /* A zero length prefix is not a frame: the emulator drops the client, then serves the next. */
    uint32_t zero = 0;
    assert_int_equal(send(fd, &zero, 4, MSG_NOSIGNAL), 4);
    uint8_t b;
    assert_true(recv(fd, &b, 1, 0) <= 0);
    close(fd);
    assert_true(alive());
    fd = connect_emu();
    uint32_t huge = 0xFFFFFFFFu;
    assert_int_equal(send(fd, &huge, 4, MSG_NOSIGNAL), 4);
    assert_true(recv(fd, &b, 1, 0) <= 0);
    close(fd);
    assert_true(alive());
    fd = connect_emu();
    command(fd, "list", "ok 0001");
    close(fd);
}

/* The next frame of a node (CLOCK frames and replies skipped); its payload NUL-terminated. */
static uint8_t next_node_frame(int fd, uint16_t *peer, uint8_t *payload, size_t cap, size_t *len)
{
    for (;;) {
        uint8_t hdr[9];
        read_full(fd, hdr, 9);
        uint32_t n = (uint32_t)hdr[0] | ((uint32_t)hdr[1] << 8) | ((uint32_t)hdr[2] << 16) |
                     ((uint32_t)hdr[3] << 24);
        assert_true(n >= 5 && n - 5 < cap);
        read_full(fd, payload, n - 5);
        payload[n - 5] = '\0';
        if (hdr[4] == 0 && hdr[5] == 0) {
            continue; /* CLOCK, REPLY, EVENT */
        }
        *peer = (uint16_t)(hdr[7] | (hdr[8] << 8));
        *len = n - 5;
        return hdr[6];
    }
}

static void send_node_frame(int fd, uint16_t node, uint8_t kind, uint16_t peer, const void *p,
                            size_t len)
{
    uint8_t hdr[9];
    uint32_t total = (uint32_t)(5 + len);
    memcpy(hdr, &total, 4);
    hdr[4] = (uint8_t)node;
    hdr[5] = (uint8_t)(node >> 8);
    hdr[6] = kind;
    hdr[7] = (uint8_t)peer;
    hdr[8] = (uint8_t)(peer >> 8);
    assert_int_equal(send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL), (ssize_t)sizeof(hdr));
    if (len > 0) {
        assert_int_equal(send(fd, p, len, MSG_NOSIGNAL), (ssize_t)len);
    }
}

static void send_control(int fd, uint8_t opcode, const pb_msgdesc_t *fields, const void *msg)
{
    static uint8_t buf[1 + 1024];
    size_t len = 0;
    buf[0] = opcode;
    assert_true(meshota_encode(fields, msg, buf + 1, sizeof(buf) - 1, &len, NULL));
    send_node_frame(fd, 1, 1, 0x0001, buf, len + 1);
}

/* Sends bytes [from, to) of @p img on stream @p id, in frames of at most 4096 bytes. */
static void stream_bytes(int fd, uint16_t id, const uint8_t *img, size_t from, size_t to)
{
    for (size_t at = from; at < to;) {
        size_t k = to - at < 4096 ? to - at : 4096;
        send_node_frame(fd, 1, 8, id, img + at, k);
        at += k;
    }
}

static void test_stream_frames_carry_the_image_and_resume_at_the_unit_it_broke_in(void **state)
{
    (void)state;
    static uint8_t img[32768];
    static uint8_t payload[4200];
    mt_image_params_t params = mt_image_defaults();
    size_t img_len = mt_image_build(&params, img, sizeof(img));
    int fd = connect_emu();
    char cmd[200] = "key * ";
    for (int i = 0; i < 65; i++) {
        snprintf(cmd + 6 + 2 * i, 3, "%02x", mt_public_key()[i]);
    }
    command(fd, cmd, "ok");
    command(fd, "add 0001 methods=mesh,wifi", "ok");
    meshota_v1_CredentialsSet cs = meshota_v1_CredentialsSet_init_zero;
    cs.session_id = 0x5151;
    snprintf(cs.ssid, sizeof(cs.ssid), "lab-ssid-7");
    snprintf(cs.password, sizeof(cs.password), "lab-passphrase-7");
    send_control(fd, 0x02, meshota_v1_CredentialsSet_fields, &cs);
    static meshota_v1_UpdateStart start;
    mt_start_for(&params, img, img_len, 0x5151, 1, &start);
    start.which_method = meshota_v1_UpdateStart_wifi_tag;
    snprintf(start.method.wifi.url, sizeof(start.method.wifi.url), "http://img.local/a.bin");
    send_control(fd, 0x03, meshota_v1_UpdateStart_fields, &start);

    /* STREAM_OPEN from byte 0, with the URL and nothing of the credentials. */
    uint16_t peer = 0;
    size_t len = 0;
    uint8_t kind;
    while ((kind = next_node_frame(fd, &peer, payload, sizeof(payload), &len)) == 1) {
    }
    assert_int_equal(kind, 7);
    assert_string_equal((char *)payload, "0 http://img.local/a.bin");
    uint16_t first = peer;

    /* 5000 bytes, then the link fails: the node closes the stream. */
    stream_bytes(fd, first, img, 0, 5000);
    send_node_frame(fd, 1, 9, first, "connection reset", 16);
    while ((kind = next_node_frame(fd, &peer, payload, sizeof(payload), &len)) == 1) {
    }
    assert_int_equal(kind, 10);
    assert_int_equal(peer, first);

    /* After the backoff it asks again from the start of the unit it broke in. */
    send_node_frame(fd, 0, 16, 0, "advance 1500", 12);
    while ((kind = next_node_frame(fd, &peer, payload, sizeof(payload), &len)) == 1) {
    }
    assert_int_equal(kind, 7);
    assert_int_not_equal(peer, first);
    char want[64];
    snprintf(want, sizeof(want), "%u http://img.local/a.bin", 5000u / 1024u * 1024u);
    assert_string_equal((char *)payload, want);
    reply(fd, (char *)payload, sizeof(payload)); /* of the advance */
    /* Bytes still tagged with the first stream are dropped; the rest completes the image. */
    stream_bytes(fd, first, img, 0, 3000);
    stream_bytes(fd, peer, img, 5000 / 1024 * 1024, img_len);
    send_node_frame(fd, 1, 9, peer, NULL, 0);
    command(fd, "advance 100", "ok");
    command(fd, "status 0001", "ok addr=0001 power=on phase=4 error=0");
    char sha[80] = "ok ";
    uint8_t d[32];
    psa_crypto_init();
    size_t dl = 0;
    assert_int_equal(psa_hash_compute(PSA_ALG_SHA_256, img, img_len, d, sizeof(d), &dl), 0);
    for (int i = 0; i < 32; i++) {
        snprintf(sha + 3 + 2 * i, 3, "%02x", d[i]);
    }
    snprintf(cmd, sizeof(cmd), "sha 0001 passive %u", (unsigned)img_len);
    command(fd, cmd, sha);
    close(fd);
}

static void test_espnow_radio_command_sets_and_reports_the_queue_model(void **state)
{
    (void)state;
    int fd = connect_emu();
    command(fd, "espnow", "ok rate=0 overhead=40 queue=32");
    command(fd, "espnow rate=214000 queue=0", "error usage: espnow");
    command(fd, "espnow rate=100000001", "error usage: espnow");
    command(fd, "espnow overhead=1001", "error usage: espnow");
    command(fd, "espnow rate=214000", "ok rate=214000 overhead=40 queue=32");
    command(fd, "espnow queue=4 overhead=30", "ok rate=214000 overhead=30 queue=4");
    command(fd, "espnow rate=0", "ok rate=0 overhead=30 queue=4");
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_client_gone_before_its_replies_does_not_stop_the_emulator, start, stop),
        cmocka_unit_test_setup_teardown(test_malformed_commands_and_frames_get_errors, start,
                                        stop),
        cmocka_unit_test_setup_teardown(
            test_espnow_radio_command_sets_and_reports_the_queue_model, start, stop),
        cmocka_unit_test_setup_teardown(
            test_stream_frames_carry_the_image_and_resume_at_the_unit_it_broke_in, start, stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
