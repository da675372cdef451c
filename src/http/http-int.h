/*
 * Private to the http module and its tests: the pieces the server, router, WebSocket layer and
 * their tests share. Nothing outside src/http and tests/unit/http includes this.
 */
#ifndef SLIPWAY_HTTP_INT_H
#define SLIPWAY_HTTP_INT_H

#include "http/http.h"

/* ------------------------------------------------------------ router (router.c) */

/* Percent-decodes <path> into the arena and checks it: absolute, no NUL, no "." or ".."
 * segments, no empty segment except a trailing slash. ERR_INVALID names the rule. */
int http_path_decode(struct arena *a, struct slice path, struct slice *out,
                     struct err *err) APP_MUST_CHECK;

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

typedef void ws_done_fn(void *arg);
/* Takes over an upgraded connection on <loop> (the calling loop). <extra> holds bytes the
 * server read past the handshake. When the connection has ended (after h->on_close), calls
 * done(done_arg) once on <loop>; the fd then belongs to the server again, which closes it. */
struct http_ws *ws_conn_start(struct ev *loop, int fd, struct slice extra,
                              const struct http_ws_opts *opts, const struct http_ws_handler *h,
                              void *arg, ws_done_fn *done, void *done_arg);
/* Server shutdown: close with 1001 "server shutting down"; on_close and done follow. */
void ws_conn_shutdown(struct http_ws *ws);

#endif
