/*
 * A blocking WebSocket client (RFC 6455) for tools such as the CLI: one socket, no event
 * loop. Frames go through the same parser and writer as the server's (ws-frame.c); the
 * expected Sec-WebSocket-Accept comes from the server's own handshake check.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "http/http-int.h"

#define WSC_HEAD_MAX  16384 /* the server's handshake answer */
#define WSC_READ_SIZE 16384

struct http_wsc {
    int fd;
    bool sent_close; /* our close frame went out: no more frames from us */
    bool closed;     /* the peer's close came (or it vanished) */
    struct ws_parser parser;
    char in[WSC_READ_SIZE]; /* bytes read but not fed yet: in[off..len) */
    size_t off, len;
};

/* ---------------------------------------------------------------- socket */

/* Waits until <fd> is readable (POLLIN) or writable, at most until <deadline> (time_mono_ms).
 * 0, or ERR_TIMEOUT. */
static int wait_fd(int fd, short events, uint64_t deadline, struct err *err)
{
    struct pollfd p = {.fd = fd, .events = events};

    for (;;) {
        uint64_t now = time_mono_ms();
        int rc;

        if (now >= deadline)
            return err_set(err, ERR_TIMEOUT, "websocket: timed out");
        rc = poll(&p, 1, (int)(deadline - now > 60000 ? 60000 : deadline - now));
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR)
            return err_set(err, ERR_IO, "websocket: poll: %s", strerror(errno));
    }
}

static int send_all(struct http_wsc *c, const void *data, size_t len, struct err *err)
{
    uint64_t deadline = time_mono_ms() + 10000;
    const char *p = data;

    while (len > 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (wait_fd(c->fd, POLLOUT, deadline, err) < 0)
                return err->code;
        } else {
            return err_set(err, ERR_UNAVAILABLE, "websocket: send: %s", strerror(errno));
        }
    }
    return 0;
}

/* "ws://host[:port][/path]" split into <host>, <port> and <path> (at least "/"). */
static int parse_url(const char *url, char *host, size_t hcap, char *port, size_t pcap,
                     const char **path, struct err *err)
{
    static const char scheme[] = "ws://";
    const char *h, *end, *colon;

    if (strncmp(url, scheme, sizeof(scheme) - 1) != 0)
        return err_set(err, ERR_INVALID, "websocket: %s: only ws:// URLs are supported", url);
    h = url + sizeof(scheme) - 1;
    end = h + strcspn(h, "/?");
    colon = memchr(h, ':', (size_t)(end - h));
    if ((colon ? colon : end) == h || (size_t)((colon ? colon : end) - h) >= hcap)
        return err_set(err, ERR_INVALID, "websocket: %s: no host", url);
    snprintf(host, hcap, "%.*s", (int)((colon ? colon : end) - h), h);
    if (colon != NULL && (end - colon - 1 <= 0 || (size_t)(end - colon - 1) >= pcap))
        return err_set(err, ERR_INVALID, "websocket: %s: bad port", url);
    snprintf(port, pcap, "%.*s", colon ? (int)(end - colon - 1) : 2, colon ? colon + 1 : "80");
    *path = *end ? end : "/";
    return 0;
}

static int dial(const char *host, const char *port, uint64_t deadline, int *out, struct err *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    int rc = getaddrinfo(host, port, &hints, &res), fd = -1, soerr = 0;
    socklen_t len = sizeof(soerr);

    if (rc != 0)
        return err_set(err, ERR_UNAVAILABLE, "websocket: %s: %s", host, gai_strerror(rc));
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
            (errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline, err) == 0 &&
             getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0))
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return err_set(err, err->code == ERR_TIMEOUT ? ERR_TIMEOUT : ERR_UNAVAILABLE,
                       "websocket: cannot connect to %s:%s: %s", host, port,
                       soerr ? strerror(soerr) : "refused or timed out");
    *out = fd;
    return 0;
}

/* ---------------------------------------------------------------- handshake */

/* The value of header <name> in the response head <head> (after the status line). */
static struct slice head_value(struct slice head, const char *name)
{
    struct slice line, rest = head;

    while (rest.len > 0) {
        const char *nl = memchr(rest.ptr, '\n', rest.len);
        line = (struct slice){rest.ptr, nl ? (size_t)(nl - rest.ptr) : rest.len};
        rest = nl ? (struct slice){nl + 1, rest.len - line.len - 1} : (struct slice){0};
        if (line.len > 0 && line.ptr[line.len - 1] == '\r')
            line.len--;
        const char *colon = memchr(line.ptr, ':', line.len);
        if (colon && slice_case_eq_cstr((struct slice){line.ptr, (size_t)(colon - line.ptr)}, name))
            return slice_trim((struct slice){colon + 1, line.len - (size_t)(colon + 1 - line.ptr)});
    }
    return SLICE_NULL;
}

/* A fresh Sec-WebSocket-Key (base64 of 16 random bytes) and the answer it asks for, which
 * the server code computes (ws_handshake_check()). */
static int make_key(char key[25], char accept[29], struct err *err)
{
    unsigned char raw[16];
    struct ws_handshake hs;
    int status;

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return err_set(err, ERR_INTERNAL, "websocket: no random bytes");
    EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
    hs = (struct ws_handshake){.method = HTTP_GET,
                               .upgrade = SLICE("websocket"),
                               .connection = SLICE("Upgrade"),
                               .version = SLICE("13"),
                               .key = slice_from_cstr(key)};
    return ws_handshake_check(&hs, &(struct http_ws_opts){0}, accept, &status, err);
}

static void write_request(struct sbuf *req, const char *host, const char *port, const char *path,
                          const char *key, const struct http_wsc_opts *o)
{
    sbuf_printf(req,
                "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n",
                path, host, port, key);
    if (o->subprotocol != NULL)
        sbuf_printf(req, "Sec-WebSocket-Protocol: %s\r\n", o->subprotocol);
    for (const char *const *h = o->headers; h != NULL && *h != NULL; h++)
        if (strpbrk(*h, "\r\n") == NULL) /* a header line must stay one line */
            sbuf_printf(req, "%s\r\n", *h);
    sbuf_puts(req, "\r\n");
}

/* Reads the answer's head into <head>; bytes after it stay in c->in for the parser. */
static int read_head(struct http_wsc *c, struct sbuf *head, uint64_t deadline, struct err *err)
{
    for (;;) {
        const char *end = strstr(head->buf, "\r\n\r\n");
        if (end != NULL) {
            size_t used = (size_t)(end + 4 - head->buf), extra = head->len - used;
            memcpy(c->in, end + 4, extra); /* head->max < sizeof(c->in) */
            c->len = extra;
            head->len = used;
            head->buf[used] = '\0';
            return 0;
        }
        if (head->len >= head->max)
            return err_set(err, ERR_INVALID, "websocket: handshake answer over %zu bytes",
                           head->max);
        if (wait_fd(c->fd, POLLIN, deadline, err) < 0)
            return err->code;
        char *p = sbuf_reserve(head, 1024);
        ssize_t n =
            p ? recv(c->fd, p, head->max - head->len < 1024 ? head->max - head->len : 1024, 0) : -1;
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
            return err_set(err, ERR_UNAVAILABLE,
                           "websocket: the server closed the connection "
                           "during the handshake");
        if (n > 0)
            sbuf_commit(head, (size_t)n);
    }
}

static int check_head(struct slice head, const char *accept, const char *subprotocol,
                      struct err *err)
{
    struct slice status = {head.ptr, strcspn(head.ptr, "\r\n")};
    struct slice proto = head_value(head, "Sec-WebSocket-Protocol");

    if (!slice_starts_with(status, SLICE("HTTP/1.1 101")))
        return err_set(err, ERR_UNAVAILABLE, "websocket: the server answered \"" SLICE_FMT "\"",
                       SLICE_ARG(status));
    if (!slice_case_eq_cstr(head_value(head, "Upgrade"), "websocket"))
        return err_set(err, ERR_INVALID, "websocket: the answer has no Upgrade: websocket");
    if (!slice_eq_cstr(head_value(head, "Sec-WebSocket-Accept"), accept))
        return err_set(err, ERR_INVALID, "websocket: wrong Sec-WebSocket-Accept");
    if (subprotocol != NULL && !slice_eq_cstr(proto, subprotocol))
        return err_set(err, ERR_INVALID, "websocket: the server did not accept subprotocol %s",
                       subprotocol);
    if (subprotocol == NULL && proto.ptr != NULL)
        return err_set(err, ERR_INVALID, "websocket: the server chose a subprotocol unasked");
    return 0;
}

int http_wsc_connect(const char *url, const struct http_wsc_opts *opts, struct http_wsc **out,
                     struct err *err)
{
    static const struct http_wsc_opts none = {0};
    const struct http_wsc_opts *o = opts ? opts : &none;
    uint64_t deadline = time_mono_ms() + (o->connect_timeout_ms ? o->connect_timeout_ms : 5000);
    struct sbuf req = SBUF_INIT(WSC_HEAD_MAX), head = SBUF_INIT(WSC_HEAD_MAX);
    char host[256], port[8], key[25], accept[29];
    const char *path = "/";
    struct http_wsc *c;
    int rc;

    if ((rc = parse_url(url, host, sizeof(host), port, sizeof(port), &path, err)) < 0 ||
        (rc = make_key(key, accept, err)) < 0)
        return rc;
    c = xcalloc(1, sizeof(*c));
    ws_parser_init(&c->parser, o->max_message, false);
    rc = dial(host, port, deadline, &c->fd, err);
    if (rc < 0) {
        c->fd = -1;
        goto fail;
    }
    write_request(&req, host, port, path, key, o);
    if (req.err != 0) {
        rc = err_set(err, ERR_LIMIT, "websocket: request headers over %d bytes", WSC_HEAD_MAX);
        goto fail;
    }
    if ((rc = send_all(c, req.buf, req.len, err)) < 0 ||
        (rc = read_head(c, &head, deadline, err)) < 0 ||
        (rc = check_head(sbuf_slice(&head), accept, o->subprotocol, err)) < 0)
        goto fail;
    sbuf_release(&req);
    sbuf_release(&head);
    *out = c;
    return 0;

fail:
    sbuf_release(&req);
    sbuf_release(&head);
    c->sent_close = c->closed = true; /* nothing to say goodbye to */
    http_wsc_free(c);
    return rc;
}

/* ---------------------------------------------------------------- frames */

static int send_frame(struct http_wsc *c, enum ws_opcode op, struct slice payload, struct err *err)
{
    struct sbuf frame = SBUF_INIT(payload.len + WS_FRAME_HEADER_MAX + 1);
    uint8_t mask[4];
    int rc;

    if (c->sent_close)
        return err_set(err, ERR_UNAVAILABLE, "websocket: the connection is closing");
    if (getrandom(mask, sizeof(mask), 0) != (ssize_t)sizeof(mask))
        return err_set(err, ERR_INTERNAL, "websocket: no random bytes");
    ws_frame_write(&frame, op, true, payload, mask); /* a client masks every frame */
    rc = frame.err ? err_set(err, frame.err, "websocket: frame too large")
                   : send_all(c, frame.buf, frame.len, err);
    if (op == WS_OP_CLOSE)
        c->sent_close = true;
    sbuf_release(&frame);
    return rc;
}

int http_wsc_send(struct http_wsc *c, struct slice text, struct err *err)
{
    return send_frame(c, WS_OP_TEXT, text, err);
}

static void send_close(struct http_wsc *c, int code, struct slice reason)
{
    uint8_t payload[WS_MAX_CONTROL];
    struct err ignored = {0};

    if (!c->sent_close)
        (void)send_frame(
            c, WS_OP_CLOSE,
            (struct slice){(const char *)payload, ws_close_payload(payload, code, reason)},
            &ignored);
}

/* Acts on one parser event: 1 when a message is in <out>, 0 to read on, or an error. */
static int on_event(struct http_wsc *c, const struct ws_event *ev, struct sbuf *out,
                    struct err *err)
{
    struct err ignored = {0};

    switch (ev->type) {
    case WS_EV_MESSAGE:
        sbuf_put_slice(out, ev->data);
        return out->err ? err_set(err, out->err, "websocket: message over the buffer's limit") : 1;
    case WS_EV_PING:
        if (!c->sent_close)
            (void)send_frame(c, WS_OP_PONG, ev->data, &ignored);
        return 0;
    case WS_EV_CLOSE:
        c->closed = true;
        send_close(c, ev->code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL : ev->code, SLICE_NULL);
        return err_set(err, ERR_UNAVAILABLE, "websocket: closed by the server (%d" SLICE_FMT ")",
                       ev->code, SLICE_ARG(ev->data.len ? ev->data : SLICE("")));
    case WS_EV_ERROR:
        send_close(c, ev->code, ev->data);
        c->closed = true;
        return err_set(err, ERR_INVALID, "websocket: the server broke the protocol: " SLICE_FMT,
                       SLICE_ARG(ev->data));
    default:
        return 0;
    }
}

int http_wsc_recv(struct http_wsc *c, struct sbuf *out, uint64_t timeout_ms, struct err *err)
{
    uint64_t deadline = time_mono_ms() + timeout_ms;
    struct ws_event ev;
    int rc;

    sbuf_reset(out);
    if (c->closed)
        return err_set(err, ERR_UNAVAILABLE, "websocket: the connection is closed");
    for (;;) {
        while (c->off < c->len) {
            c->off += ws_parser_feed(&c->parser, c->in + c->off, c->len - c->off, &ev);
            if ((rc = on_event(c, &ev, out, err)) != 0)
                return rc < 0 ? rc : 0;
        }
        c->off = c->len = 0;
        if (wait_fd(c->fd, POLLIN, deadline, err) < 0)
            return err->code; /* ERR_TIMEOUT: the connection stays usable */
        ssize_t n = recv(c->fd, c->in, sizeof(c->in), 0);
        if (n > 0) {
            c->len = (size_t)n;
        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
            c->closed = true;
            return err_set(err, ERR_UNAVAILABLE, "websocket: the server went away (%s)",
                           n == 0 ? "connection closed" : strerror(errno));
        }
    }
}

void http_wsc_free(struct http_wsc *c)
{
    struct sbuf drain = SBUF_INIT(1u << 20);
    struct err ignored = {0};

    if (c == NULL)
        return;
    if (c->fd >= 0 && !c->closed) {
        send_close(c, WS_CLOSE_NORMAL, SLICE_NULL);
        /* The peer answers our close with its own; wait a little for it so the server sees a
         * clean closing handshake, not a vanished client. */
        while (http_wsc_recv(c, &drain, 1000, &ignored) == 0)
            ;
    }
    sbuf_release(&drain);
    if (c->fd >= 0)
        close(c->fd);
    ws_parser_release(&c->parser);
    free(c);
}
