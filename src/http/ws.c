/*
 * WebSocket connections (RFC 6455), server side: the opening handshake check and the
 * connection that runs on one event loop after the upgrade. Frames are in ws-frame.c.
 *
 * Lifetime. A connection is OPEN, then CLOSE_SENT (we sent a close and wait for the peer's)
 * or FLUSHING (we sent our last frame and only write out what is queued), then DONE. Every
 * way of ending goes through finish(), which stops the fd watch and the timers at once and
 * posts finalize() to the loop; finalize() alone calls on_close, then done, then frees. So no
 * callback of ours runs after the free, and a handler that calls http_ws_send() or
 * http_ws_close() from on_message (or from anywhere else on the loop) never sees the struct
 * vanish under it: it stays valid until on_close returns.
 *
 * Close rules.
 *  - The peer sends close: we echo its code (1000 when it sent none), write out the queue and
 *    end; on_close gets the peer's code (1005 when none) and reason.
 *  - http_ws_close(), ws_conn_shutdown() (1001) and a too-slow reader (1008): we send close
 *    and wait up to WS_CLOSE_TIMEOUT_MS for the peer's close; on_close gets our code.
 *  - The peer breaks the protocol (1002, 1007, 1009) or misses a pong (1011): we send close
 *    with that code, write out the queue and end without waiting for an answer.
 *  - The peer vanishes (EOF, reset) while open: on_close gets 1006.
 *  A closing connection ends after WS_CLOSE_TIMEOUT_MS whatever happens.
 *
 * Pings. With ping_interval_ms set, a ping goes out every interval; when the next interval
 * comes and no pong has arrived since the last ping, the connection closes with 1011
 * "no pong within N ms". Any pong counts.
 *
 * Send buffer. Unsent bytes wait in a queue of frames. http_ws_send() refuses a frame (ERR_LIMIT)
 * when bytes are already waiting and the frame would take them past max_send_buffer; a single
 * frame is always accepted into an empty queue, so a message larger than the buffer can
 * still go to a reader that keeps up. On refusal the unsent frames are dropped (a frame
 * already partly written is finished) and close 1008 goes out right behind, so the client
 * learns why at once instead of after the backlog.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "http/http-int.h"

#define WS_GUID                "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_KEY_LEN             24 /* base64 of 16 bytes */
#define WS_DEFAULT_SEND_BUFFER ((size_t)1 << 20)
#define WS_READ_CHUNK          16384
#define WS_READS_PER_WAKE      4 /* then other connections get a turn */
#define WS_IOV_MAX             16

/* ------------------------------------------------------------------ handshake */

/* Does the comma-separated <list> hold <token>? */
static bool list_has(struct slice list, const char *token, bool any_case)
{
    struct slice item;
    bool more = true;

    while (more) {
        more = slice_split(&list, ',', &item);
        item = slice_trim(item);
        if (any_case ? slice_case_eq_cstr(item, token) : slice_eq_cstr(item, token))
            return true;
    }
    return false;
}

static bool is_base64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* 16 bytes in base64 are 22 characters and "==". */
static bool key_valid(struct slice key)
{
    if (key.len != WS_KEY_LEN || key.ptr[22] != '=' || key.ptr[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++)
        if (!is_base64_char(key.ptr[i]))
            return false;
    return true;
}

static int make_accept(struct slice key, char accept[29], int *status, struct err *err)
{
    unsigned char in[WS_KEY_LEN + sizeof(WS_GUID) - 1];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    memcpy(in, key.ptr, WS_KEY_LEN);
    memcpy(in + WS_KEY_LEN, WS_GUID, sizeof(WS_GUID) - 1);
    if (EVP_Digest(in, sizeof(in), md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20) {
        *status = 500;
        return err_set(err, ERR_INTERNAL, "Sec-WebSocket-Accept: SHA-1 failed");
    }
    if (EVP_EncodeBlock((unsigned char *)accept, md, 20) != 28) {
        *status = 500;
        return err_set(err, ERR_INTERNAL, "Sec-WebSocket-Accept: base64 failed");
    }
    return 0;
}

static int reject(int *status, int code, struct err *err, const char *msg)
{
    *status = code;
    return err_set(err, ERR_INVALID, "%s", msg);
}

int ws_handshake_check(const struct ws_handshake *hs, const struct http_ws_opts *opts,
                       char accept[29], int *status, struct err *err)
{
    struct slice key = slice_trim(hs->key);
    const char *proto = opts ? opts->subprotocol : NULL;

    if (hs->method != HTTP_GET)
        return reject(status, 400, err, "method: must be GET");
    if (hs->upgrade.ptr == NULL)
        return reject(status, 400, err, "Upgrade: missing, must be websocket");
    if (!list_has(hs->upgrade, "websocket", true))
        return reject(status, 400, err, "Upgrade: must be websocket");
    if (!list_has(hs->connection, "upgrade", true))
        return reject(status, 400, err, "Connection: must contain the token upgrade");
    if (!slice_eq_cstr(slice_trim(hs->version), "13"))
        return reject(status, 426, err, "Sec-WebSocket-Version: must be 13");
    if (hs->key.ptr == NULL)
        return reject(status, 400, err, "Sec-WebSocket-Key: missing");
    if (!key_valid(key))
        return reject(status, 400, err, "Sec-WebSocket-Key: must be base64 of 16 bytes");
    if (proto && *proto && !list_has(hs->protocol, proto, false)) {
        *status = 400;
        return err_set(err, ERR_INVALID, "Sec-WebSocket-Protocol: must offer %s", proto);
    }
    return make_accept(key, accept, status, err);
}

/* ------------------------------------------------------------------ connection */

enum ws_state { WS_OPEN, WS_CLOSE_SENT, WS_FLUSHING, WS_DONE };

/* One frame waiting to be written; <off> bytes of it are out. */
struct ws_out {
    struct ws_out *next;
    size_t len, off;
    uint8_t data[];
};

struct http_ws {
    struct ev *loop;
    int fd;
    enum ws_state state;
    struct http_ws_handler h;
    void *arg;
    ws_done_fn *done;
    void *done_arg;
    size_t max_send;
    uint64_t ping_ms;
    bool watching;   /* the fd is registered with the loop */
    uint32_t events; /* what it is registered for */
    bool awaiting_pong;
    struct ev_timer *ping_timer, *close_timer;
    struct ws_out *out_head, *out_tail;
    size_t out_bytes; /* unsent bytes in the queue */
    int code;         /* for on_close */
    size_t reason_len;
    char reason[WS_MAX_REASON + 1];
    struct ws_parser parser;
    uint8_t rbuf[WS_READ_CHUNK];
};

static void start_close(struct http_ws *ws, int code, struct slice reason, bool wait_peer);

static void set_result(struct http_ws *ws, int code, struct slice reason)
{
    uint8_t tmp[WS_MAX_CONTROL];
    size_t n = ws_close_payload(tmp, 1000, reason) - 2; /* cuts at a character boundary */

    ws->code = code;
    memcpy(ws->reason, reason.ptr ? reason.ptr : "", n);
    ws->reason[n] = '\0';
    ws->reason_len = n;
}

static void out_free_all(struct ws_out *o)
{
    while (o) {
        struct ws_out *next = o->next;

        free(o);
        o = next;
    }
}

static void finalize(void *arg)
{
    struct http_ws *ws = arg;
    ws_done_fn *done = ws->done;
    void *done_arg = ws->done_arg;

    if (ws->h.on_close)
        ws->h.on_close(ws->arg, ws, ws->code, (struct slice){ws->reason, ws->reason_len});
    out_free_all(ws->out_head);
    ws_parser_release(&ws->parser);
    free(ws);
    if (done)
        done(done_arg);
}

/* Ends the connection: nothing of ours runs for it any more except finalize(). */
static void finish(struct http_ws *ws)
{
    if (ws->state == WS_DONE)
        return;
    ws->state = WS_DONE;
    if (ws->watching)
        ev_io_del(ws->loop, ws->fd);
    ws->watching = false;
    ev_timer_cancel(ws->loop, ws->ping_timer);
    ev_timer_cancel(ws->loop, ws->close_timer);
    ws->ping_timer = ws->close_timer = NULL;
    ev_post(ws->loop, finalize, ws);
}

/* The peer is gone (EOF, reset, broken pipe). */
static void lost(struct http_ws *ws)
{
    if (ws->state == WS_OPEN)
        set_result(ws, WS_CLOSE_ABNORMAL, SLICE_NULL);
    finish(ws);
}

static void update_events(struct http_ws *ws)
{
    uint32_t want = 0;

    if (ws->state == WS_OPEN || ws->state == WS_CLOSE_SENT)
        want |= EPOLLIN;
    if (ws->out_bytes > 0)
        want |= EPOLLOUT;
    if (!ws->watching || want == ws->events)
        return;
    if (ev_io_mod(ws->loop, ws->fd, want) < 0) {
        lost(ws);
        return;
    }
    ws->events = want;
}

/* Drops written frames from the queue head after <n> more bytes went out. */
static void out_advance(struct http_ws *ws, size_t n)
{
    ws->out_bytes -= n;
    while (n > 0) {
        struct ws_out *o = ws->out_head;
        size_t part = o->len - o->off < n ? o->len - o->off : n;

        o->off += part;
        n -= part;
        if (o->off == o->len) {
            ws->out_head = o->next;
            if (ws->out_head == NULL)
                ws->out_tail = NULL;
            free(o);
        }
    }
}

/* Writes what the socket takes. May end the connection (write error, or FLUSHING done). */
static void flush(struct http_ws *ws)
{
    while (ws->out_head && ws->state != WS_DONE) {
        struct iovec iov[WS_IOV_MAX];
        struct msghdr msg = {.msg_iov = iov};
        ssize_t n;

        for (struct ws_out *o = ws->out_head; o && msg.msg_iovlen < WS_IOV_MAX; o = o->next)
            iov[msg.msg_iovlen++] = (struct iovec){o->data + o->off, o->len - o->off};
        n = sendmsg(ws->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0) {
            lost(ws);
            return;
        }
        out_advance(ws, (size_t)n);
    }
    if (ws->state == WS_FLUSHING && ws->out_head == NULL)
        finish(ws);
    else
        update_events(ws);
}

/* Queues one frame. Control frames go in whatever the queue holds; the caller checks the
 * send buffer for data. ERR_LIMIT when no memory is left for it. */
static int queue_frame(struct http_ws *ws, enum ws_opcode op, struct slice payload)
{
    uint8_t head[WS_FRAME_HEADER_MAX];
    size_t hlen = ws_frame_header(head, op, true, payload.len, NULL);
    struct ws_out *o;

    if (payload.len > SIZE_MAX - sizeof(*o) - hlen)
        return ERR_LIMIT;
    o = malloc(sizeof(*o) + hlen + payload.len);
    if (o == NULL)
        return ERR_LIMIT;
    o->next = NULL;
    o->len = hlen + payload.len;
    o->off = 0;
    memcpy(o->data, head, hlen);
    if (payload.len)
        memcpy(o->data + hlen, payload.ptr, payload.len);
    if (ws->out_tail)
        ws->out_tail->next = o;
    else
        ws->out_head = o;
    ws->out_tail = o;
    ws->out_bytes += o->len;
    return 0;
}

/* Would a frame of <len> payload bytes take the queue past max_send_buffer? Never when the
 * queue is empty (see the top of the file). */
static bool over_limit(const struct http_ws *ws, size_t len)
{
    size_t head = len < 126 ? 2 : len <= 0xFFFF ? 4 : 10;
    size_t room;

    if (ws->out_bytes == 0)
        return false;
    if (ws->out_bytes >= ws->max_send)
        return true;
    room = ws->max_send - ws->out_bytes;
    return len > room || room - len < head;
}

/* Drops the frames not started yet; one partly written stays, or the stream would break. */
static void drop_unsent(struct http_ws *ws)
{
    struct ws_out *keep = ws->out_head;

    if (keep == NULL)
        return;
    if (keep->off == 0) {
        out_free_all(keep);
        ws->out_head = ws->out_tail = NULL;
        ws->out_bytes = 0;
        return;
    }
    out_free_all(keep->next);
    keep->next = NULL;
    ws->out_tail = keep;
    ws->out_bytes = keep->len - keep->off;
}

/* The peer reads too slowly to keep the queue under max_send_buffer. */
static void too_slow(struct http_ws *ws)
{
    char reason[WS_MAX_REASON + 1];
    int n = snprintf(reason, sizeof(reason), "send buffer over %zu bytes: client too slow",
                     ws->max_send);

    drop_unsent(ws);
    start_close(ws, WS_CLOSE_POLICY, (struct slice){reason, n > 0 ? (size_t)n : 0}, true);
}

static void on_close_timer(void *arg)
{
    struct http_ws *ws = arg;

    ws->close_timer = NULL; /* the loop frees a timer that fired */
    finish(ws);
}

/* Leaves OPEN for <state> (CLOSE_SENT or FLUSHING) with a close frame carrying <code> queued,
 * and bounds how long that may take. */
static void send_close(struct http_ws *ws, enum ws_state state, int code, struct slice reason)
{
    uint8_t payload[WS_MAX_CONTROL];
    size_t n = ws_close_payload(payload, code, reason);

    ws->state = state;
    ev_timer_cancel(ws->loop, ws->ping_timer);
    ws->ping_timer = NULL;
    ws->close_timer = ev_timer_add(ws->loop, WS_CLOSE_TIMEOUT_MS, on_close_timer, ws);
    if (queue_frame(ws, WS_OP_CLOSE, (struct slice){(const char *)payload, n}) < 0)
        finish(ws);
    else
        flush(ws);
}

/* Our close, with <code> and <reason> for on_close too. <wait_peer>: wait for the peer's
 * close (CLOSE_SENT), else end once the queue is out (FLUSHING). */
static void start_close(struct http_ws *ws, int code, struct slice reason, bool wait_peer)
{
    if (ws->state != WS_OPEN)
        return;
    set_result(ws, code, reason);
    send_close(ws, wait_peer ? WS_CLOSE_SENT : WS_FLUSHING, code, reason);
}

int http_ws_send(struct http_ws *ws, bool text, struct slice data)
{
    if (ws->state != WS_OPEN)
        return ERR_CONFLICT;
    DASSERT(ev_current() == ws->loop);
    if (over_limit(ws, data.len)) {
        too_slow(ws);
        return ERR_LIMIT;
    }
    if (queue_frame(ws, text ? WS_OP_TEXT : WS_OP_BINARY, data) < 0) {
        start_close(ws, WS_CLOSE_INTERNAL, SLICE("out of memory"), false);
        return ERR_LIMIT;
    }
    flush(ws);
    return 0;
}

void http_ws_close(struct http_ws *ws, int code, const char *reason)
{
    if (ws->state != WS_OPEN)
        return;
    DASSERT(ev_current() == ws->loop);
    if (!ws_close_code_valid(code))
        code = WS_CLOSE_NORMAL; /* 1005, 1006 and the like may not go on the wire */
    start_close(ws, code, slice_from_cstr(reason), true);
}

void ws_conn_shutdown(struct http_ws *ws)
{
    http_ws_close(ws, WS_CLOSE_GOING_AWAY, "server shutting down");
}

void ws_conn_abort(struct http_ws *ws)
{
    if (ws->state == WS_DONE)
        return;
    if (ws->state == WS_OPEN)
        set_result(ws, WS_CLOSE_GOING_AWAY, SLICE("server shutting down"));
    finish(ws);
}

struct ev *http_ws_loop(const struct http_ws *ws)
{
    return ws->loop;
}

/* The peer's close: echo its code, write out the queue, end. In CLOSE_SENT it answers ours. */
static void on_close_frame(struct http_ws *ws, const struct ws_event *ev)
{
    int echo = ev->code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL : ev->code;

    if (ws->state != WS_OPEN) {
        finish(ws);
        return;
    }
    set_result(ws, ev->code, ev->data);
    send_close(ws, WS_FLUSHING, echo, SLICE_NULL);
}

static void on_ping(struct http_ws *ws, struct slice data)
{
    if (ws->state != WS_OPEN)
        return; /* nothing goes out after our close */
    if (over_limit(ws, data.len))
        too_slow(ws);
    else if (queue_frame(ws, WS_OP_PONG, data) < 0)
        start_close(ws, WS_CLOSE_INTERNAL, SLICE("out of memory"), false);
    else
        flush(ws);
}

static void on_event(struct http_ws *ws, const struct ws_event *ev)
{
    switch (ev->type) {
    case WS_EV_MESSAGE:
        if (ws->state == WS_OPEN && ws->h.on_message)
            ws->h.on_message(ws->arg, ws, ev->text, ev->data);
        break;
    case WS_EV_PING:
        on_ping(ws, ev->data);
        break;
    case WS_EV_PONG:
        ws->awaiting_pong = false;
        break;
    case WS_EV_CLOSE:
        on_close_frame(ws, ev);
        break;
    case WS_EV_ERROR:
        if (ws->state == WS_OPEN)
            start_close(ws, ev->code, ev->data, false);
        else
            finish(ws);
        break;
    case WS_EV_NONE:
        break;
    }
}

static bool reading(const struct http_ws *ws)
{
    return ws->state == WS_OPEN || ws->state == WS_CLOSE_SENT;
}

/* Parses <len> bytes and acts on each event, as long as the state wants input. */
static void feed(struct http_ws *ws, const uint8_t *data, size_t len)
{
    while (len > 0 && reading(ws)) {
        struct ws_event ev;
        size_t used = ws_parser_feed(&ws->parser, data, len, &ev);

        data += used;
        len -= used;
        on_event(ws, &ev);
        if (ev.type == WS_EV_NONE || ev.type == WS_EV_ERROR)
            break;
    }
}

static void read_some(struct http_ws *ws)
{
    for (int i = 0; i < WS_READS_PER_WAKE && reading(ws); i++) {
        ssize_t n = read(ws->fd, ws->rbuf, sizeof(ws->rbuf));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            lost(ws);
            return;
        }
        feed(ws, ws->rbuf, (size_t)n);
        if ((size_t)n < sizeof(ws->rbuf))
            return; /* drained for now; the loop reports more */
    }
}

static void on_io(void *arg, uint32_t events)
{
    struct http_ws *ws = arg;

    if (events & EPOLLOUT)
        flush(ws);
    if (reading(ws) && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        read_some(ws);
    else if (ws->state == WS_FLUSHING && (events & (EPOLLHUP | EPOLLERR)))
        finish(ws);
}

static void on_ping_timer(void *arg)
{
    struct http_ws *ws = arg;
    char reason[64];
    int n;

    ws->ping_timer = NULL;
    if (ws->state != WS_OPEN)
        return;
    if (ws->awaiting_pong) {
        n = snprintf(reason, sizeof(reason), "no pong within %" PRIu64 " ms", ws->ping_ms);
        start_close(ws, WS_CLOSE_INTERNAL, (struct slice){reason, n > 0 ? (size_t)n : 0}, false);
        return;
    }
    if (queue_frame(ws, WS_OP_PING, SLICE_NULL) < 0) {
        start_close(ws, WS_CLOSE_INTERNAL, SLICE("out of memory"), false);
        return;
    }
    ws->awaiting_pong = true;
    ws->ping_timer = ev_timer_add(ws->loop, ws->ping_ms, on_ping_timer, ws);
    flush(ws);
}

static int watch(struct http_ws *ws)
{
    int flags = fcntl(ws->fd, F_GETFL);

    if (flags < 0 || fcntl(ws->fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return err_from_errno(errno);
    if (ev_io_add(ws->loop, ws->fd, EPOLLIN, on_io, ws) < 0)
        return ERR_IO;
    ws->watching = true;
    ws->events = EPOLLIN;
    return 0;
}

struct http_ws *ws_conn_start(struct ev *loop, int fd, struct slice extra,
                              const struct http_ws_opts *opts, const struct http_ws_handler *h,
                              void *arg, ws_done_fn *done, void *done_arg)
{
    struct http_ws *ws = xcalloc(1, sizeof(*ws));
    bool ok;

    DASSERT(ev_current() == loop);
    ws->loop = loop;
    ws->fd = fd;
    ws->h = *h;
    ws->arg = arg;
    ws->done = done;
    ws->done_arg = done_arg;
    ws->max_send = opts && opts->max_send_buffer ? opts->max_send_buffer : WS_DEFAULT_SEND_BUFFER;
    ws->ping_ms = opts ? opts->ping_interval_ms : 0;
    ws_parser_init(&ws->parser, opts ? opts->max_message : 0, true);
    ok = watch(ws) == 0;
    if (ws->h.on_open)
        ws->h.on_open(ws->arg, ws);
    if (!ok) {
        set_result(ws, WS_CLOSE_ABNORMAL, SLICE("cannot watch the socket"));
        finish(ws);
        return ws;
    }
    if (ws->ping_ms && ws->state == WS_OPEN)
        ws->ping_timer = ev_timer_add(loop, ws->ping_ms, on_ping_timer, ws);
    feed(ws, (const uint8_t *)extra.ptr, extra.len);
    return ws;
}
