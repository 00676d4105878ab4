/* HTTP/1.1 image source for meshota_port_t.stream_*: GET with Range, resumable, non-blocking. */
#define _POSIX_C_SOURCE 200809L

#include "meshota_host_net/meshota_host_http.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#ifdef MSG_NOSIGNAL
#define SEND_FLAGS MSG_NOSIGNAL
#else
#define SEND_FLAGS 0
#endif

#define HOST_MAX 63

void meshota_host_http_init(meshota_host_http_t *h)
{
    memset(h, 0, sizeof(*h));
    h->fd = -1;
}

static void drop_socket(meshota_host_http_t *h)
{
    if (h->fd >= 0) {
        close(h->fd);
    }
    h->fd = -1;
}

static int32_t fail(meshota_host_http_t *h, meshota_err_t err)
{
    drop_socket(h);
    h->state = MESHOTA_HOST_HTTP_FAILED;
    h->error = err;
    return -(int32_t)err;
}

void meshota_host_http_close(meshota_host_http_t *h)
{
    if (h == NULL) {
        return;
    }
    drop_socket(h);
    h->state = MESHOTA_HOST_HTTP_IDLE;
}

int meshota_host_http_fd(const meshota_host_http_t *h, short *events)
{
    short ev = 0;
    int fd = -1;
    if (h != NULL && h->fd >= 0) {
        fd = h->fd;
        ev = h->state == MESHOTA_HOST_HTTP_CONNECTING || h->state == MESHOTA_HOST_HTTP_REQUEST
                 ? POLLOUT
                 : POLLIN;
    }
    if (events != NULL) {
        *events = ev;
    }
    return fd;
}

/* Splits "http://host[:port][/path]" into its parts. */
static meshota_err_t parse_url(const char *url, char host[HOST_MAX + 1], uint16_t *port,
                               const char **path)
{
    static const char scheme[] = "http://";
    if (strncasecmp(url, scheme, sizeof(scheme) - 1) != 0) {
        return strncasecmp(url, "https://", 8) == 0 || strstr(url, "://") != NULL
                   ? MESHOTA_ERR_UNSUPPORTED
                   : MESHOTA_ERR_INVALID_ARG;
    }
    const char *p = url + sizeof(scheme) - 1;
    size_t n = strcspn(p, ":/?#");
    if (n == 0 || n > HOST_MAX) {
        return MESHOTA_ERR_INVALID_ARG;
    }
    memcpy(host, p, n);
    host[n] = '\0';
    p += n;
    *port = 80;
    if (*p == ':') {
        p++;
        unsigned long v = 0;
        size_t digits = 0;
        while (p[digits] >= '0' && p[digits] <= '9' && digits < 6) {
            v = v * 10u + (unsigned long)(p[digits] - '0');
            digits++;
        }
        if (digits == 0 || v == 0 || v > 65535u) {
            return MESHOTA_ERR_INVALID_ARG;
        }
        *port = (uint16_t)v;
        p += digits;
    }
    if (*p != '\0' && *p != '/') {
        return MESHOTA_ERR_INVALID_ARG;
    }
    *path = *p == '/' ? p : "/";
    for (const char *c = *path; *c != '\0'; c++) {
        if ((unsigned char)*c <= ' ' || *c == 0x7f) {
            return MESHOTA_ERR_INVALID_ARG; /* No spaces or controls in a request line. */
        }
    }
    return MESHOTA_OK;
}

meshota_err_t meshota_host_http_open(meshota_host_http_t *h, const char *url,
                                     const uint8_t *cert_sha256,
                                     const meshota_wifi_creds_t *creds, uint32_t offset)
{
    (void)cert_sha256; /* Plain HTTP has no certificate; TLS is esp_https_ota's on the device. */
    (void)creds;       /* No Wi-Fi on the host; the credentials are neither used nor kept. */
    if (h == NULL || url == NULL) {
        return MESHOTA_ERR_INVALID_ARG;
    }
    meshota_host_http_close(h);
    char host[HOST_MAX + 1];
    uint16_t port = 0;
    const char *path = NULL;
    meshota_err_t err = parse_url(url, host, &port, &path);
    if (err != MESHOTA_OK) {
        return err;
    }
    int w;
    if (offset > 0) {
        w = snprintf(h->req, sizeof(h->req),
                     "GET %s HTTP/1.1\r\nHost: %s:%u\r\nUser-Agent: meshota-host\r\n"
                     "Range: bytes=%lu-\r\nConnection: close\r\n\r\n",
                     path, host, (unsigned)port, (unsigned long)offset);
    } else {
        w = snprintf(h->req, sizeof(h->req),
                     "GET %s HTTP/1.1\r\nHost: %s:%u\r\nUser-Agent: meshota-host\r\n"
                     "Connection: close\r\n\r\n",
                     path, host, (unsigned)port);
    }
    if (w < 0 || (size_t)w >= sizeof(h->req)) {
        return MESHOTA_ERR_INVALID_ARG;
    }
    char service[8];
    snprintf(service, sizeof(service), "%u", (unsigned)port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, service, &hints, &res) != 0 || res == NULL) {
        return MESHOTA_ERR_NET;
    }
    err = MESHOTA_ERR_NET;
    int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd < 0) {
        goto out;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
#ifdef SO_NOSIGPIPE
    (void)setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#endif
    int flags = fcntl(fd, F_GETFL, 0);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
        (connect(fd, res->ai_addr, res->ai_addrlen) != 0 && errno != EINPROGRESS)) {
        close(fd);
        goto out;
    }
    h->fd = fd;
    h->state = MESHOTA_HOST_HTTP_CONNECTING;
    h->error = MESHOTA_OK;
    h->status = 0;
    h->offset = offset;
    h->skip = 0;
    h->has_length = false;
    h->remaining = 0;
    h->req_len = (size_t)w;
    h->req_sent = 0;
    h->hdr_len = 0;
    h->body_at = 0;
    h->opens++;
    err = MESHOTA_OK;
out:
    freeaddrinfo(res);
    return err;
}

/* Strict unsigned decimal, at most 15 digits; @p end gets the first byte after it. */
static bool parse_u64(const char *s, uint64_t *out, const char **end)
{
    uint64_t v = 0;
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9') {
        if (n == 15) {
            return false;
        }
        v = v * 10u + (uint64_t)(s[n] - '0');
        n++;
    }
    if (n == 0) {
        return false;
    }
    *out = v;
    *end = s + n;
    return true;
}

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    return s;
}

/* Parses the NUL-terminated header block; sets status, length and what to skip. */
static meshota_err_t parse_headers(meshota_host_http_t *h)
{
    const char *line = h->hdr;
    unsigned major = 0, minor = 0, status = 0;
    int used = 0;
    if (sscanf(line, "HTTP/%1u.%1u %3u%n", &major, &minor, &status, &used) != 3 || used < 12 ||
        major != 1) {
        return MESHOTA_ERR_NET;
    }
    h->status = (uint16_t)status;
    bool has_range = false;
    uint64_t range_start = 0;
    bool chunked = false;
    for (line = strstr(line, "\r\n"); line != NULL; line = strstr(line, "\r\n")) {
        line += 2;
        const char *colon = strchr(line, ':');
        const char *eol = strstr(line, "\r\n");
        if (colon == NULL || (eol != NULL && colon > eol)) {
            continue;
        }
        size_t name_len = (size_t)(colon - line);
        const char *value = skip_ws(colon + 1);
        const char *end = NULL;
        if (name_len == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
            if (!parse_u64(value, &h->remaining, &end)) {
                return MESHOTA_ERR_NET;
            }
            h->has_length = true;
        } else if (name_len == 13 && strncasecmp(line, "Content-Range", 13) == 0) {
            if (strncasecmp(value, "bytes ", 6) != 0 ||
                !parse_u64(skip_ws(value + 6), &range_start, &end) || *end != '-') {
                return MESHOTA_ERR_NET;
            }
            has_range = true;
        } else if (name_len == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
            size_t vlen = eol != NULL ? (size_t)(eol - value) : strlen(value);
            for (size_t i = 0; i + 7 <= vlen; i++) {
                if (strncasecmp(value + i, "chunked", 7) == 0) {
                    chunked = true;
                }
            }
        }
    }
    if (chunked) {
        return MESHOTA_ERR_UNSUPPORTED;
    }
    if (status == 206) {
        /* The body must start exactly where the image is to continue. */
        return has_range && range_start == h->offset ? MESHOTA_OK : MESHOTA_ERR_NET;
    }
    if (status == 200) {
        /* The server ignored the range and sends the image from byte 0: drop what is held. */
        if (h->has_length && h->remaining < h->offset) {
            return MESHOTA_ERR_NET;
        }
        h->skip = h->offset;
        return MESHOTA_OK;
    }
    return MESHOTA_ERR_NET;
}

static size_t find_header_end(const char *buf, size_t len)
{
    for (size_t i = 0; i + 4 <= len; i++) {
        if (memcmp(&buf[i], "\r\n\r\n", 4) == 0) {
            return i;
        }
    }
    return SIZE_MAX;
}

#define WOULD_BLOCK (-(int32_t)MESHOTA_ERR_WOULD_BLOCK)

static bool again(void)
{
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/* Connect, send the request, read and parse the headers. MESHOTA_OK once the body starts. */
static int32_t advance(meshota_host_http_t *h)
{
    if (h->state == MESHOTA_HOST_HTTP_CONNECTING) {
        struct pollfd p = {.fd = h->fd, .events = POLLOUT, .revents = 0};
        if (poll(&p, 1, 0) <= 0) {
            return WOULD_BLOCK;
        }
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
            return fail(h, MESHOTA_ERR_NET);
        }
        h->state = MESHOTA_HOST_HTTP_REQUEST;
    }
    while (h->state == MESHOTA_HOST_HTTP_REQUEST) {
        ssize_t n = send(h->fd, h->req + h->req_sent, h->req_len - h->req_sent, SEND_FLAGS);
        if (n < 0) {
            return again() ? WOULD_BLOCK : fail(h, MESHOTA_ERR_NET);
        }
        h->req_sent += (size_t)n;
        if (h->req_sent == h->req_len) {
            h->state = MESHOTA_HOST_HTTP_HEADERS;
        }
    }
    while (h->state == MESHOTA_HOST_HTTP_HEADERS) {
        size_t room = sizeof(h->hdr) - 1 - h->hdr_len;
        if (room == 0) {
            return fail(h, MESHOTA_ERR_NET); /* Header block too large. */
        }
        ssize_t n = recv(h->fd, h->hdr + h->hdr_len, room, 0);
        if (n < 0) {
            return again() ? WOULD_BLOCK : fail(h, MESHOTA_ERR_NET);
        }
        if (n == 0) {
            return fail(h, MESHOTA_ERR_NET); /* Closed before the headers ended. */
        }
        /* Look again from a little before the new bytes: the marker may straddle reads. */
        size_t from = h->hdr_len > 3 ? h->hdr_len - 3 : 0;
        h->hdr_len += (size_t)n;
        size_t end = find_header_end(h->hdr + from, h->hdr_len - from);
        if (end == SIZE_MAX) {
            continue;
        }
        end += from;
        h->hdr[end] = '\0';
        meshota_err_t err = parse_headers(h);
        if (err != MESHOTA_OK) {
            return fail(h, err);
        }
        h->body_at = end + 4;
        h->state = MESHOTA_HOST_HTTP_BODY;
    }
    return MESHOTA_OK;
}

int32_t meshota_host_http_read(meshota_host_http_t *h, uint8_t *buf, size_t len)
{
    if (h == NULL || buf == NULL || len == 0 || len > INT32_MAX) {
        return -(int32_t)MESHOTA_ERR_INVALID_ARG;
    }
    if (h->state == MESHOTA_HOST_HTTP_IDLE) {
        return -(int32_t)MESHOTA_ERR_INVALID_ARG;
    }
    if (h->state == MESHOTA_HOST_HTTP_FAILED) {
        return -(int32_t)h->error;
    }
    int32_t r = advance(h);
    if (r != MESHOTA_OK) {
        return r;
    }
    for (;;) {
        if (h->has_length && h->remaining == 0) {
            /* The end of the body; a 200 body that ended inside the skipped part is short. */
            return h->skip > 0 ? fail(h, MESHOTA_ERR_NET) : 0;
        }
        uint64_t cap = h->has_length ? h->remaining : UINT64_MAX;
        if (h->body_at < h->hdr_len) {
            /* Body bytes that came in with the headers, or a skip buffer being drained. */
            size_t avail = h->hdr_len - h->body_at;
            if (avail > cap) {
                avail = (size_t)cap;
            }
            if (h->skip > 0) {
                size_t d = avail < h->skip ? avail : h->skip;
                h->skip -= (uint32_t)d;
                h->skipped += d;
                h->body_at += d;
                if (h->has_length) {
                    h->remaining -= d;
                }
                continue;
            }
            size_t n = avail < len ? avail : len;
            memcpy(buf, h->hdr + h->body_at, n);
            h->body_at += n;
            if (h->has_length) {
                h->remaining -= n;
            }
            return (int32_t)n;
        }
        ssize_t n;
        if (h->skip > 0) {
            /* Read what is to be dropped into the header buffer, then drain it above. */
            size_t want = sizeof(h->hdr);
            if (want > h->skip) {
                want = h->skip;
            }
            n = recv(h->fd, h->hdr, want, 0);
            if (n > 0) {
                h->hdr_len = (size_t)n;
                h->body_at = 0;
                continue;
            }
        } else {
            size_t want = len;
            if ((uint64_t)want > cap) {
                want = (size_t)cap;
            }
            n = recv(h->fd, buf, want, 0);
            if (n > 0) {
                if (h->has_length) {
                    h->remaining -= (uint64_t)n;
                }
                return (int32_t)n;
            }
        }
        if (n < 0) {
            return again() ? WOULD_BLOCK : fail(h, MESHOTA_ERR_NET);
        }
        /* End of stream: complete only when no length was announced and nothing is skipped. */
        if (h->has_length || h->skip > 0) {
            return fail(h, MESHOTA_ERR_NET);
        }
        drop_socket(h);
        h->has_length = true;
        h->remaining = 0;
        return 0;
    }
}
