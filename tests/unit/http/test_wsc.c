/*
 * The blocking WebSocket client: against the module's own server (handshake, headers,
 * subprotocol, echo, the server's close and pings) and against a raw socket server that sends
 * what ours never does (fragments, a wrong Sec-WebSocket-Accept).
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../test.h"

#include "http/http-int.h"

/* ---------------------------------------------------------------- our server */

static char seen_auth[128];

static void echo_open(void *arg, struct http_ws *ws)
{
    (void)arg;
    (void)ws;
}

static void echo_message(void *arg, struct http_ws *ws, bool text, struct slice data)
{
    (void)arg;
    if (slice_eq_cstr(data, "bye")) {
        http_ws_close(ws, 4400, "asked to go");
        return;
    }
    if (slice_eq_cstr(data, "auth"))
        data = slice_from_cstr(seen_auth);
    if (http_ws_send(ws, text, data) < 0)
        return; /* the server closes a slow client itself */
}

static void echo_close(void *arg, struct http_ws *ws, int code, struct slice reason)
{
    (void)arg;
    (void)ws;
    (void)code;
    (void)reason;
}

static const struct http_ws_handler echo = {echo_open, echo_message, echo_close};

static void h_ws(void *arg, struct http_req *req)
{
    static const struct http_ws_opts opts = {.subprotocol = "graphql-transport-ws",
                                             .ping_interval_ms = 50};
    struct slice auth = http_req_header(req, "Authorization");

    (void)arg;
    snprintf(seen_auth, sizeof(seen_auth), SLICE_FMT, SLICE_ARG(auth));
    (void)http_respond_ws(req, &opts, &echo, NULL);
}

struct fixture {
    struct pool *pool;
    struct http_router *router;
    struct http_server *srv;
    char url[128];
};

static void fixture_start(struct fixture *f)
{
    struct http_cfg cfg = {.bind = "127.0.0.1",
                           .loops = 1,
                           .max_connections = 64,
                           .max_url_bytes = 4096,
                           .max_header_bytes = 16384,
                           .max_body_bytes = 1 << 20,
                           .header_timeout_ms = 10000,
                           .idle_timeout_ms = 10000,
                           .shutdown_grace_ms = 1000,
                           .cors_origin = ""};
    struct err err = {0};

    f->pool = pool_new("test-workers", 1);
    f->router = http_router_new();
    ASSERT(http_router_add(f->router, HTTP_GET, "/ws", h_ws, NULL, NULL, &err) == 0);
    ASSERT(http_server_start(&cfg, f->router, &(struct http_server_deps){NULL, f->pool}, &f->srv,
                             &err) == 0);
    snprintf(f->url, sizeof(f->url), "ws://127.0.0.1:%d/ws", http_server_port(f->srv));
}

static void fixture_stop(struct fixture *f)
{
    (void)http_server_drain(f->srv);
    pool_free(f->pool);
    http_server_stop(f->srv);
    http_router_free(f->router);
}

static const char *const auth_headers[] = {"Authorization: Bearer t0k", NULL};

TEST(wsc_talks_to_our_server)
{
    struct fixture f;
    struct http_wsc *c = NULL;
    struct sbuf msg = SBUF_INIT(1 << 20);
    struct err err = {0};
    char big[70000];

    fixture_start(&f);
    OK(http_wsc_connect(
        f.url,
        &(struct http_wsc_opts){.headers = auth_headers, .subprotocol = "graphql-transport-ws"}, &c,
        &err));
    OK(http_wsc_send(c, SLICE("hello"), &err));
    OK(http_wsc_recv(c, &msg, 5000, &err));
    CHECK_STR_EQ(msg.buf, "hello");
    OK(http_wsc_send(c, SLICE("auth"), &err));
    OK(http_wsc_recv(c, &msg, 5000, &err));
    CHECK_STR_EQ(msg.buf, "Bearer t0k");
    /* A 64-bit length, and the server's pings (every 50 ms) answered while we wait. */
    memset(big, 'x', sizeof(big));
    OK(http_wsc_send(c, (struct slice){big, sizeof(big)}, &err));
    OK(http_wsc_recv(c, &msg, 5000, &err));
    CHECK_UINT_EQ(msg.len, sizeof(big));
    CHECK_INT_EQ(http_wsc_recv(c, &msg, 300, &err), ERR_TIMEOUT);
    OK(http_wsc_send(c, SLICE("still here"), &err));
    OK(http_wsc_recv(c, &msg, 5000, &err));
    CHECK_STR_EQ(msg.buf, "still here");
    /* The server closes. */
    OK(http_wsc_send(c, SLICE("bye"), &err));
    CHECK_INT_EQ(http_wsc_recv(c, &msg, 5000, &err), ERR_UNAVAILABLE);
    CHECK_CONTAINS(err.msg, "4400");
    CHECK_CONTAINS(err.msg, "asked to go");
    CHECK_INT_EQ(http_wsc_recv(c, &msg, 100, &err), ERR_UNAVAILABLE);
    http_wsc_free(c);
    sbuf_release(&msg);
    fixture_stop(&f);
}

TEST(wsc_refusals_are_clear)
{
    struct fixture f;
    struct http_wsc *c = NULL;
    struct err err = {0};
    char url[160];

    fixture_start(&f);
    /* The server requires a subprotocol we did not offer: 400. */
    CHECK_INT_EQ(http_wsc_connect(f.url, NULL, &c, &err), ERR_UNAVAILABLE);
    CHECK_CONTAINS(err.msg, "400");
    snprintf(url, sizeof(url), "%s-nothing-here", f.url);
    CHECK_INT_EQ(http_wsc_connect(url, &(struct http_wsc_opts){.subprotocol = "x"}, &c, &err),
                 ERR_UNAVAILABLE);
    CHECK_CONTAINS(err.msg, "404");
    CHECK_INT_EQ(http_wsc_connect("http://127.0.0.1/", NULL, &c, &err), ERR_INVALID);
    CHECK_INT_EQ(http_wsc_connect("ws://:80/", NULL, &c, &err), ERR_INVALID);
    fixture_stop(&f);
    CHECK_INT_EQ(http_wsc_connect(f.url, NULL, &c, &err), ERR_UNAVAILABLE); /* nobody listens */
    CHECK(c == NULL);
}

/* ---------------------------------------------------------------- a raw server */

struct raw {
    int lfd, port;
    bool bad_accept;
    pthread_t th;
    char got_pong[32]; /* payload of the pong the client sent */
    int close_code;    /* of the client's close frame */
};

static void raw_send(int fd, struct sbuf *b)
{
    ASSERT(file_write_all(fd, b->buf, b->len) == 0);
    sbuf_reset(b);
}

/* Reads client frames until <want> comes, recording pongs and the close code. */
static void raw_expect(struct raw *r, int fd, struct ws_parser *p, enum ws_event_type want)
{
    char buf[1024];
    struct ws_event ev = {0};

    while (ev.type != want) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            return;
        for (size_t off = 0; off < (size_t)n;) {
            off += ws_parser_feed(p, buf + off, (size_t)n - off, &ev);
            if (ev.type == WS_EV_PONG)
                snprintf(r->got_pong, sizeof(r->got_pong), SLICE_FMT, SLICE_ARG(ev.data));
            if (ev.type == WS_EV_CLOSE)
                r->close_code = ev.code;
            if (ev.type == want)
                break;
        }
    }
}

static void *raw_serve(void *arg)
{
    struct raw *r = arg;
    struct sbuf b = SBUF_INIT(1 << 16);
    struct ws_parser p;
    char head[4096] = {0}, accept[29];
    size_t got = 0;
    int fd = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC), status;
    struct err err = {0};

    ASSERT(fd >= 0);
    while (strstr(head, "\r\n\r\n") == NULL && got < sizeof(head) - 1) {
        ssize_t n = read(fd, head + got, sizeof(head) - 1 - got);
        ASSERT(n > 0);
        got += (size_t)n;
    }
    const char *k = strstr(head, "Sec-WebSocket-Key: ");
    ASSERT(k != NULL);
    struct ws_handshake hs = {.method = HTTP_GET,
                              .upgrade = SLICE("websocket"),
                              .connection = SLICE("Upgrade"),
                              .version = SLICE("13"),
                              .key = {k + 19, strcspn(k + 19, "\r")}};
    ASSERT(ws_handshake_check(&hs, &(struct http_ws_opts){0}, accept, &status, &err) == 0);
    if (r->bad_accept)
        accept[0] = accept[0] == 'A' ? 'B' : 'A';
    sbuf_printf(&b,
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                accept);
    /* In the same write as the head: a ping, then one message in three fragments. */
    ws_frame_write(&b, WS_OP_PING, true, SLICE("p1"), NULL);
    ws_frame_write(&b, WS_OP_TEXT, false, SLICE("frag"), NULL);
    ws_frame_write(&b, WS_OP_CONT, false, SLICE("men"), NULL);
    ws_frame_write(&b, WS_OP_CONT, true, SLICE("ted"), NULL);
    raw_send(fd, &b);
    ws_parser_init(&p, 0, true);
    if (!r->bad_accept) {
        raw_expect(r, fd, &p, WS_EV_PONG);
        raw_expect(r, fd, &p, WS_EV_MESSAGE); /* the client's reply: then we close */
        uint8_t payload[WS_MAX_CONTROL];
        ws_frame_write(
            &b, WS_OP_CLOSE, true,
            (struct slice){(const char *)payload, ws_close_payload(payload, 1001, SLICE("going"))},
            NULL);
        raw_send(fd, &b);
        raw_expect(r, fd, &p, WS_EV_CLOSE);
    }
    ws_parser_release(&p);
    sbuf_release(&b);
    close(fd);
    return NULL;
}

static void raw_start(struct raw *r)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);

    r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT(r->lfd >= 0 && bind(r->lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    ASSERT(listen(r->lfd, 4) == 0 && getsockname(r->lfd, (struct sockaddr *)&sa, &len) == 0);
    r->port = ntohs(sa.sin_port);
    ASSERT(pthread_create(&r->th, NULL, raw_serve, r) == 0);
}

static void raw_stop(struct raw *r)
{
    pthread_join(r->th, NULL);
    close(r->lfd);
}

TEST(wsc_joins_fragments_answers_pings_and_closes)
{
    struct raw r = {0};
    struct http_wsc *c = NULL;
    struct sbuf msg = SBUF_INIT(1024);
    struct err err = {0};
    char url[64];

    raw_start(&r);
    snprintf(url, sizeof(url), "ws://localhost:%d", r.port); /* a name, and no path */
    OK(http_wsc_connect(url, NULL, &c, &err));
    OK(http_wsc_recv(c, &msg, 5000, &err));
    CHECK_STR_EQ(msg.buf, "fragmented");
    OK(http_wsc_send(c, SLICE("thanks"), &err));
    CHECK_INT_EQ(http_wsc_recv(c, &msg, 5000, &err), ERR_UNAVAILABLE);
    CHECK_CONTAINS(err.msg, "1001");
    http_wsc_free(c);
    raw_stop(&r);
    CHECK_STR_EQ(r.got_pong, "p1");
    CHECK_INT_EQ(r.close_code, 1001); /* the client echoed the server's close code */
    sbuf_release(&msg);
}

TEST(wsc_checks_the_accept_value)
{
    struct raw r = {.bad_accept = true};
    struct http_wsc *c = NULL;
    struct err err = {0};
    char url[64];

    raw_start(&r);
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/x", r.port);
    CHECK_INT_EQ(http_wsc_connect(url, NULL, &c, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "Sec-WebSocket-Accept");
    raw_stop(&r);
}
