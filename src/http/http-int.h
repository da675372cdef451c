/*
 * Private to the http module and its tests: the pieces the server, router, WebSocket layer and
 * their tests share. Nothing outside src/http and tests/unit/http includes this.
 */
#ifndef SLIPWAY_HTTP_INT_H
#define SLIPWAY_HTTP_INT_H

#include "http/http.h"

/* ------------------------------------------------------------ router (router.c) */

#define HTTP_MAX_SEGMENTS 64
/* Splits the raw <path> at '/' and percent-decodes each segment into the arena (so "%2F"
 * stays inside its segment). Rules: absolute; at most HTTP_MAX_SEGMENTS segments; no NUL, no
 * bad escape, no "." or ".." segment (decoded), no empty segment except after a trailing
 * slash, which is dropped. ERR_INVALID names the rule; ERR_LIMIT when the arena is spent. */
int http_path_split(struct arena *a, struct slice path, struct slice *segs, size_t *nsegs,
                    struct err *err) APP_MUST_CHECK;

/* The handler and options of <route>, for the server. */
void http_route_get(const struct http_route *route, http_handler_fn **fn, void **arg,
                    const struct http_route_opts **opts);

/* ------------------------------------------------------------ WebSocket (ws.c) */

/* What the server read of an opening handshake: the method and the raw header values
 * (SLICE_NULL when a header is absent). */
struct ws_handshake {
    unsigned method;
    struct slice upgrade, connection, version, key, protocol;
};
/* RFC 6455 §4.2: checks <hs> (GET, Upgrade: websocket, Connection containing the token
 * "upgrade", Sec-WebSocket-Version: 13, a Sec-WebSocket-Key that is base64 of 16 bytes, and
 * opts->subprotocol among the offered Sec-WebSocket-Protocol tokens when it is set). On success
 * fills <accept> with the Sec-WebSocket-Accept value (28 chars + NUL). On failure sets *status
 * (400; 426 for a missing or wrong version) and <err> naming the header and the rule. */
int ws_handshake_check(const struct ws_handshake *hs, const struct http_ws_opts *opts,
                       char accept[29], int *status, struct err *err) APP_MUST_CHECK;

/* Frames (ws-frame.c): a pure, socket-independent parser and writer, reached by the
 * connection code, the unit tests and the fuzzer. */
enum ws_opcode {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA,
};
/* The close codes the server itself uses (RFC 6455 §7.4.1). */
enum ws_close_code {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL = 1002,
    WS_CLOSE_NO_STATUS = 1005, /* reported only: the peer's close frame had no code */
    WS_CLOSE_ABNORMAL = 1006,  /* reported only: the peer vanished without a close frame */
    WS_CLOSE_BAD_DATA = 1007,
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL = 1011,
};
#define WS_MAX_CONTROL      125 /* payload bytes of a control frame */
#define WS_MAX_REASON       123 /* bytes of a close reason, after the 2-byte code */
#define WS_FRAME_HEADER_MAX 14

enum ws_event_type { WS_EV_NONE, WS_EV_MESSAGE, WS_EV_PING, WS_EV_PONG, WS_EV_CLOSE, WS_EV_ERROR };
/* What ws_parser_feed() found. <data> is valid until the next feed or release:
 *   MESSAGE  a whole message (fragments joined), <text> says which kind
 *   PING, PONG  the control payload
 *   CLOSE    <code> (WS_CLOSE_NO_STATUS when the payload was empty) and <data> the reason
 *   ERROR    <code> is the close code to send, <data> says which rule the peer broke */
struct ws_event {
    enum ws_event_type type;
    bool text;
    int code;
    struct slice data;
};

/* An incremental parser for one direction of a connection. Bytes may arrive in any chunks,
 * down to one at a time. Errors are sticky: once ERROR is returned, every later feed returns
 * it again and consumes nothing. */
struct ws_parser {
    size_t max_message; /* data bytes of one message, fragments joined */
    bool client;        /* frames come from a client: they must be masked */
    bool failed;
    bool in_message; /* a fragmented message is open */
    bool msg_text;
    bool msg_delivered; /* msg was handed out; clear it on the next feed */
    uint8_t head[WS_FRAME_HEADER_MAX];
    size_t head_len; /* header bytes read so far */
    uint8_t mask[4];
    uint64_t len, got;           /* payload length of the current frame and bytes read */
    struct sbuf msg;             /* data of the open message */
    uint8_t ctl[WS_MAX_CONTROL]; /* payload of the current control frame */
    struct ws_event err;
    char errmsg[96];
};
/* <max_message> 0 means 1 MiB. <client> true: frames must be masked (what a server reads);
 * false: frames must not be masked (what a client reads). */
void ws_parser_init(struct ws_parser *p, size_t max_message, bool client);
void ws_parser_release(struct ws_parser *p);
/* Consumes bytes of <data> up to and including the first frame that completes an event,
 * fills <ev> (WS_EV_NONE when all of <data> was consumed without one) and returns the
 * number of bytes consumed. Call again with the rest. */
size_t ws_parser_feed(struct ws_parser *p, const void *data, size_t len, struct ws_event *ev);

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF, nothing cut. */
bool ws_utf8_valid(struct slice s);
/* May a close frame carry <code>? 1000-1003, 1007-1011 and 3000-4999. */
bool ws_close_code_valid(int code);
/* Writes a frame header for a payload of <len> bytes into <out> and returns its size. <mask>
 * is NULL for server frames; clients (tests) pass 4 bytes. */
size_t ws_frame_header(uint8_t out[WS_FRAME_HEADER_MAX], enum ws_opcode op, bool fin, uint64_t len,
                       const uint8_t *mask);
/* Appends a whole frame (header and payload, masked when <mask> is set) to <out>. */
void ws_frame_write(struct sbuf *out, enum ws_opcode op, bool fin, struct slice payload,
                    const uint8_t *mask);
/* Fills a close payload: <code> in network order, then <reason> cut to WS_MAX_REASON bytes
 * at a UTF-8 character boundary. Returns its length (0 when <code> is 0). */
size_t ws_close_payload(uint8_t out[WS_MAX_CONTROL], int code, struct slice reason);

/* The connection (ws.c). How long a close we started waits for the peer's, and how long a
 * closing connection may take to send what is queued, before it ends anyway. */
#define WS_CLOSE_TIMEOUT_MS 2000
typedef void ws_done_fn(void *arg);
/* Takes over an upgraded connection on <loop> (the calling loop). <extra> holds bytes the
 * server read past the handshake. When the connection has ended (after h->on_close), calls
 * done(done_arg) once on <loop>; the fd then belongs to the server again, which closes it. */
struct http_ws *ws_conn_start(struct ev *loop, int fd, struct slice extra,
                              const struct http_ws_opts *opts, const struct http_ws_handler *h,
                              void *arg, ws_done_fn *done, void *done_arg);
/* Server shutdown: close with 1001 "server shutting down"; on_close and done follow. */
void ws_conn_shutdown(struct http_ws *ws);
/* Server stop: ends the connection without waiting for the peer; on_close (1001 unless a
 * close was under way) and done still follow, from a callback posted to the loop. */
void ws_conn_abort(struct http_ws *ws);

#endif
