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

/* RFC 6455 §4.2: checks the handshake of <req> (GET, Upgrade: websocket, Connection: upgrade,
 * Sec-WebSocket-Version: 13, a 16-byte base64 Sec-WebSocket-Key, the subprotocol when
 * opts->subprotocol is set). On success fills <accept> with Sec-WebSocket-Accept. On failure
 * sets *status (400, or 426 for a wrong version) and <err> naming the header. */
int ws_handshake_check(struct http_req *req, const struct http_ws_opts *opts, char accept[29],
                       int *status, struct err *err) APP_MUST_CHECK;

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
