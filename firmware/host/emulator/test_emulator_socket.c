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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
