/* cmocka test of the host bridge over a real pseudo-terminal pair and UDP air. */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <cmocka.h>

#include "bridge_host.h"
#include "test_frames.h"

static bridge_host_t H;
static atomic_bool STOP;
static int AIR; /* The test's end of the air. */
static int TTY; /* The host's end of the UART. */

static void *loop(void *arg)
{
    (void)arg;
    while (!atomic_load(&STOP)) {
        if (bridge_host_step(&H, 10) != 0) {
            break;
        }
    }
    return NULL;
}

/* Read from the tty until @p want frames arrived or 2 s passed. */
static int read_frames(test_frame_t *out, int want)
{
    static uint8_t buf[16384];
    size_t len = 0;
    for (int waited = 0; waited < 2000; waited += 20) {
        struct pollfd p = {.fd = TTY, .events = POLLIN};
        if (poll(&p, 1, 20) > 0) {
            ssize_t n = read(TTY, buf + len, sizeof(buf) - len);
            if (n > 0) {
                len += (size_t)n;
            }
        }
        int count = parse_wire(buf, len, out, 16);
        if (count >= want && len > 0 && buf[len - 1] == 0) {
            return count;
        }
    }
    return parse_wire(buf, len, out, 16);
}

static void write_all(const uint8_t *data, size_t len)
{
    assert_int_equal(write(TTY, data, len), (ssize_t)len);
}

static test_frame_t OUT[16];

static void hello_send_and_receive_over_a_pty(void **state)
{
    (void)state;
    uint8_t wire[MESHOTA_BRIDGE_ENCODED_MAX + 1];
    const uint8_t v = 1;
    write_all(wire, host_wire(MESHOTA_BRIDGE_HELLO, 0, &v, 1, wire));
    assert_int_equal(read_frames(OUT, 1), 1);
    assert_int_equal(OUT[0].body[0], MESHOTA_BRIDGE_HELLO_ACK);
    assert_int_equal(OUT[0].body[2], MESHOTA_BRIDGE_PROTOCOL_VERSION);
    assert_int_equal(OUT[0].body[12], 3); /* channel */

    /* A broadcast SEND reaches the air, then ACK and SENT come back. */
    uint8_t f[6 + 250];
    memset(f, 0xff, 6);
    for (int i = 0; i < 250; i++) {
        f[6 + i] = (uint8_t)i;
    }
    write_all(wire, host_wire(MESHOTA_BRIDGE_SEND, 1, f, sizeof(f), wire));
    uint8_t dgram[2000];
    struct pollfd p = {.fd = AIR, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 2000), 1);
    ssize_t n = recv(AIR, dgram, sizeof(dgram), 0);
    assert_int_equal(n, 13 + 250);
    assert_int_equal(dgram[0], 3);
    assert_memory_equal(dgram + 1, f, 6);
    assert_memory_equal(dgram + 7, H.bridge.cfg.mac, 6);
    assert_memory_equal(dgram + 13, f + 6, 250);
    assert_int_equal(read_frames(OUT, 2), 2);
    assert_int_equal(OUT[0].body[0], MESHOTA_BRIDGE_ACK);
    assert_int_equal(OUT[1].body[0], MESHOTA_BRIDGE_SENT);
    assert_int_equal(OUT[1].body[2], 1);
    assert_int_equal(OUT[1].body[3], MESHOTA_BRIDGE_SENT_OK);

    /* A frame on the air for us arrives as RECV; one on another channel does not. */
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(H.air_port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    uint8_t in[13 + 5] = {11, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 9, 1, 0, 2, 0, 3};
    assert_true(sendto(AIR, in, sizeof(in), 0, (struct sockaddr *)&to, sizeof(to)) > 0);
    in[0] = 3;
    assert_true(sendto(AIR, in, sizeof(in), 0, (struct sockaddr *)&to, sizeof(to)) > 0);
    assert_int_equal(read_frames(OUT, 1), 1);
    assert_int_equal(OUT[0].body[0], MESHOTA_BRIDGE_RECV);
    assert_int_equal(OUT[0].len, 2 + 7 + 5);
    assert_memory_equal(OUT[0].body + 2, in + 7, 6);
    assert_memory_equal(OUT[0].body + 9, in + 13, 5);
}

int main(void)
{
    AIR = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    if (AIR < 0 || bind(AIR, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(AIR, (struct sockaddr *)&a, &al) != 0) {
        return 1;
    }
    meshota_bridge_config_t cfg = {.mac = {0x02, 0, 0, 0, 0, 1}, .channel = 3, .espnow_version = 1,
                                   .max_payload = 250};
    if (bridge_host_open(&H, &cfg, ntohs(a.sin_port)) != 0) {
        return 1;
    }
    TTY = open(H.slave_path, O_RDWR | O_NOCTTY);
    if (TTY < 0) {
        return 1;
    }
    struct termios t;
    tcgetattr(TTY, &t);
    cfmakeraw(&t);
    tcsetattr(TTY, TCSANOW, &t);
    pthread_t th;
    pthread_create(&th, NULL, loop, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hello_send_and_receive_over_a_pty),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    atomic_store(&STOP, true);
    pthread_join(th, NULL);
    close(TTY);
    bridge_host_close(&H);
    close(AIR);
    return rc;
}
