/* A scripted loopback TCP server on its own thread, for the port tests. */
#ifndef NET_TEST_SERVER_H
#define NET_TEST_SERVER_H

#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct test_server test_server_t;
/** Runs on the server thread with the accepted connection; closes nothing itself. */
typedef void (*test_server_fn)(test_server_t *s, int fd);

struct test_server {
    int listen_fd;
    int max_conns;          /* connections to serve one after the other (multi servers) */
    int conns;              /* connections served so far */
    volatile int stop;      /* set by the test to end a multi server */
    uint16_t port;
    pthread_t thread;
    test_server_fn fn;
    void *arg;
    char request[2048]; /* what the handler read, NUL-terminated (HTTP tests) */
};

static inline void *test_server_main(void *p)
{
    test_server_t *s = p;
    int fd = accept(s->listen_fd, NULL, NULL);
    if (fd >= 0) {
        s->fn(s, fd);
        close(fd);
    }
    return NULL;
}

static inline void *test_server_multi_main(void *p)
{
    test_server_t *s = p;
    while (!s->stop && s->conns < s->max_conns) {
        struct pollfd pf = {.fd = s->listen_fd, .events = POLLIN, .revents = 0};
        if (poll(&pf, 1, 20) <= 0) {
            continue;
        }
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0) {
            continue;
        }
        s->conns++;
        s->fn(s, fd);
        close(fd);
    }
    return NULL;
}

static inline int test_server_listen(test_server_t *s, test_server_fn fn, void *arg);

/** Serve up to @p max_conns connections one after the other until s->stop is set. */
static inline int test_server_start_multi(test_server_t *s, test_server_fn fn, void *arg, int max_conns)
{
    if (test_server_listen(s, fn, arg) != 0) {
        return -1;
    }
    s->max_conns = max_conns;
    return pthread_create(&s->thread, NULL, test_server_multi_main, s);
}

/** Stop a multi server and wait for it. */
static inline void test_server_stop(test_server_t *s)
{
    s->stop = 1;
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
}

/** Listen on 127.0.0.1 (any port) and serve one connection with @p fn. 0 on success. */
static inline int test_server_start(test_server_t *s, test_server_fn fn, void *arg)
{
    if (test_server_listen(s, fn, arg) != 0) {
        return -1;
    }
    return pthread_create(&s->thread, NULL, test_server_main, s);
}

static inline int test_server_listen(test_server_t *s, test_server_fn fn, void *arg)
{
    memset(s, 0, sizeof(*s));
    s->fn = fn;
    s->arg = arg;
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(s->listen_fd, 4) != 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&a, &al) != 0) {
        return -1;
    }
    s->port = ntohs(a.sin_port);
    return 0;
}

static inline void test_server_join(test_server_t *s)
{
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
}

/** A port on 127.0.0.1 where nothing listens (bound, then released). */
static inline uint16_t test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    (void)bind(fd, (struct sockaddr *)&a, sizeof(a));
    (void)getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    return ntohs(a.sin_port);
}

static inline void test_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

static inline void test_write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0) {
            return;
        }
        p += n;
        len -= (size_t)n;
    }
}

/** Read until @p marker was seen (or EOF / the buffer is full) into s->request. */
static inline void test_read_until(test_server_t *s, int fd, const char *marker)
{
    size_t have = 0;
    while (have + 1 < sizeof(s->request)) {
        ssize_t n = recv(fd, s->request + have, sizeof(s->request) - 1 - have, 0);
        if (n <= 0) {
            break;
        }
        have += (size_t)n;
        s->request[have] = '\0';
        if (strstr(s->request, marker) != NULL) {
            break;
        }
    }
    s->request[have] = '\0';
}

#endif
