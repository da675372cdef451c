/*
 * http: the HTTP/1.1 server (libmicrohttpd driven by our event loops), its router, WebSocket
 * connections (RFC 6455), and an HTTP client (libcurl) with timeouts and size limits.
 *
 * Threads: the server runs <loops> event-loop threads, each with its own libmicrohttpd daemon
 * on the shared port. A request lives on one loop from start to end; its handler runs there
 * and must not block (use pool_run() and answer from the completion).
 */
#ifndef SLIPWAY_HTTP_H
#define SLIPWAY_HTTP_H

#include "base/base.h"

/* ---------------------------------------------------------------- configuration */

struct http_cfg {
    char *bind;    /* address to listen on */
    int64_t port;  /* 0 picks a free port */
    int64_t loops; /* event-loop threads, 0 = one per core */
    int64_t max_connections;
    int64_t max_url_bytes;     /* request target, with the query string */
    int64_t max_header_bytes;  /* all header names and values together */
    int64_t max_body_bytes;    /* default for routes that do not set their own */
    int64_t header_timeout_ms; /* from connection (or previous response) to complete headers */
    int64_t idle_timeout_ms;   /* a connection with no traffic for this long is closed */
    int64_t shutdown_grace_ms; /* how long in-flight requests may finish after SIGTERM */
    char *cors_origin;         /* the dashboard origin allowed cross-origin requests, or "" */
    bool access_log;           /* one log line per request */
};
/* The http.* keys (bounds, defaults, docs) filling <target>. */
struct cfg_section http_cfg_section(struct http_cfg *target);

/* ---------------------------------------------------------------- requests and routing */

enum http_method {
    HTTP_GET = 1u << 0,
    HTTP_HEAD = 1u << 1,
    HTTP_POST = 1u << 2,
    HTTP_PUT = 1u << 3,
    HTTP_PATCH = 1u << 4,
    HTTP_DELETE = 1u << 5,
    HTTP_OPTIONS = 1u << 6,
};
#define HTTP_ANY 0x7fu
/* HTTP_GET for "GET", …; 0 for a method slipway does not serve. */
unsigned http_method_parse(struct slice s);
const char *http_method_name(unsigned m);

struct http_req;
struct http_route;
struct http_conn;
typedef void http_handler_fn(void *arg, struct http_req *req);

struct http_route_opts {
    int64_t max_body_bytes; /* 0 = the server's http.max_body_bytes */
    bool no_access_log;     /* health probes and scrapes would drown the log */
    bool stream_body;       /* the body is not buffered: see http_req_stream() */
    bool fallback;          /* only for paths no other route matches, for its own methods
                               (the dashboard's "/{path...}"); never a 405 for other ones */
};

/* A router maps method + path to a handler. Patterns are absolute paths whose segments are
 * literals, "{name}" (one segment) or, last, "{name...}" (the rest, possibly empty).
 * Build it before the server starts; it is read-only afterwards and shared by all loops. */
struct http_router;
struct http_router *http_router_new(void);
void http_router_free(struct http_router *r);
/* ERR_INVALID when <pattern> is malformed or clashes with an existing route. */
int http_router_add(struct http_router *r, unsigned methods, const char *pattern,
                    http_handler_fn *fn, void *arg, const struct http_route_opts *opts,
                    struct err *err) APP_MUST_CHECK;

#define HTTP_MAX_PARAMS 8
struct http_match {
    const struct http_route *route;
    unsigned allowed; /* methods of the routes whose path matched, for 405's Allow */
    size_t nparams;
    struct slice names[HTTP_MAX_PARAMS];
    struct slice values[HTTP_MAX_PARAMS]; /* percent-decoded, in the arena */
};
/* Decodes and checks <path> (percent-encoding, no NUL, no "." or ".." segments, no empty
 * segments inside) and looks it up. Returns 0 and fills <m> (m->route NULL: no match for that
 * method; m->allowed 0: no path matched), or ERR_INVALID naming the rule the path breaks. */
int http_router_match(const struct http_router *r, struct arena *a, unsigned method,
                      struct slice path, struct http_match *m, struct err *err) APP_MUST_CHECK;
/* The pattern of a route, e.g. "/api/eject/{project}": what metrics label it with. */
const char *http_route_pattern(const struct http_route *route);
/* A small integer per route, in order of http_router_add(), for per-route tables. */
size_t http_route_index(const struct http_route *route);
size_t http_router_count(const struct http_router *r);

/* What a handler sees. Everything is valid until the response has been sent; longer-lived
 * data must be copied out of req->arena. */
struct http_req {
    struct arena *arena; /* freed when the request ends */
    unsigned method;
    struct slice path;       /* raw, without the query string */
    struct slice query;      /* raw, without the '?' */
    struct slice body;       /* the whole body, read before the handler runs */
    struct http_match match; /* route and path parameters */
    struct log_ctx log;      /* svc "http", req = the request id */
    char id[37];             /* request id, also sent as X-Request-Id */
    struct http_conn *conn;  /* private */
};
/* A request header (case-insensitive name); SLICE_NULL when absent. */
struct slice http_req_header(struct http_req *req, const char *name);
/* A path parameter by name, or SLICE_NULL. */
struct slice http_req_param(const struct http_req *req, const char *name);
/* A decoded query parameter, or SLICE_NULL. */
struct slice http_req_query(struct http_req *req, const char *name);
/* The client's address as text ("127.0.0.1"). */
const char *http_req_peer(struct http_req *req);

/* Answering. Exactly one respond call per request, from the request's loop, either inside the
 * handler or later (asynchronously). <body> is copied. Headers added before the respond call
 * go with the response. */
int http_add_header(struct http_req *req, const char *name, const char *value) APP_MUST_CHECK;
void http_respond(struct http_req *req, int status, const char *content_type, struct slice body);
/* Takes ownership of the malloc()ed <body> (from sbuf_take), avoiding a copy. */
void http_respond_take(struct http_req *req, int status, const char *content_type, char *body,
                       size_t len);
/* Sends what <b> holds and releases it; a 500 instead when <b> failed (over its limit). */
void http_respond_sbuf(struct http_req *req, int status, const char *content_type, struct sbuf *b);
/* A response whose bytes never change (health probes, static files): built once, then sent
 * by any loop without building or copying anything. It carries the usual security headers
 * but no X-Request-Id; a request that needs headers of its own (CORS, headers added with
 * http_add_header, a draining server) gets a fresh copy instead. Free it after the server. */
struct http_canned;
struct http_canned *http_canned_new(int status, const char *content_type, struct slice body);
void http_canned_free(struct http_canned *c);
void http_respond_canned(struct http_req *req, const struct http_canned *c);
/* Answers with <len> bytes of the regular file <fd> from <offset>, which the server sends
 * itself (no copy in memory) and closes when the response is done; <fd> belongs to the
 * server from this call on. A HEAD request gets the Content-Length and no body. */
void http_respond_fd(struct http_req *req, int status, const char *content_type, int fd,
                     uint64_t offset, uint64_t len);

/* Streaming request bodies (blobs of hundreds of MB). The handler of a route with
 * opts.stream_body runs as soon as the head is in, before any of the body is read (req->body
 * stays empty). It answers at once (a refusal: the body is then read and dropped) or calls
 * http_req_stream() before it returns. The body then goes to chunk(arg, …) on the worker pool,
 * in pieces of at most HTTP_STREAM_CHUNK bytes, in order, one at a time, while the connection
 * waits; after the last piece end(arg, req, NULL) runs on the request's loop and must answer
 * (now or later). A chunk() failure, or a body over the route's max_body_bytes (ERR_LIMIT),
 * drops the rest of the body and passes that error to end() instead. When the client leaves
 * first, end() never runs: release what <arg> holds with arena_on_free(req->arena, …). */
#define HTTP_STREAM_CHUNK (1u << 20)
typedef int http_chunk_fn(void *arg, struct slice chunk, struct err *err);
typedef void http_end_fn(void *arg, struct http_req *req, const struct err *err);
void http_req_stream(struct http_req *req, http_chunk_fn *chunk, http_end_fn *end, void *arg);
/* Body bytes a streamed request has delivered so far. */
uint64_t http_req_streamed(const struct http_req *req);

/* {"error":{"code":"invalid","message":"…"}} with the status err_http_status(code). */
void http_respond_err(struct http_req *req, const struct err *err);
void http_respond_error(struct http_req *req, int status, const char *code, const char *msg);

/* ---------------------------------------------------------------- WebSocket */

struct http_ws;
struct http_ws_handler {
    /* The connection is open; <ws> is valid until on_close returns. */
    void (*on_open)(void *arg, struct http_ws *ws);
    /* A whole message (fragments joined); <data> is valid during the call. */
    void (*on_message)(void *arg, struct http_ws *ws, bool text, struct slice data);
    /* The connection is gone: the peer's close <code> (1005 when it sent none, 1006 when it
     * vanished) or ours. Free <arg> here. */
    void (*on_close)(void *arg, struct http_ws *ws, int code, struct slice reason);
};
struct http_ws_opts {
    const char *subprotocol;   /* required from the client when set (graphql-transport-ws) */
    size_t max_message;        /* a larger message closes with 1009; 0 = 1 MiB */
    size_t max_send_buffer;    /* queued outgoing bytes before the peer counts as too slow */
    uint64_t ping_interval_ms; /* 0 = no pings from the server */
};
/* Answers the request with 101 Switching Protocols when it is a valid RFC 6455 handshake,
 * then hands the connection to <h> on this loop, and returns 0: <arg> now belongs to the
 * handler, which gets on_close exactly once (code 1006 with a NULL <ws> when the client left
 * before the connection opened). Otherwise answers 400/426 with a JSON error naming the
 * header and returns ERR_INVALID: <arg> stays the caller's. */
int http_respond_ws(struct http_req *req, const struct http_ws_opts *opts,
                    const struct http_ws_handler *h, void *arg);
/* Queues a message. ERR_LIMIT when the send buffer is over max_send_buffer: the connection is
 * then closed with 1008 and <reason> "send buffer over N bytes: client too slow". */
int http_ws_send(struct http_ws *ws, bool text, struct slice data) APP_MUST_CHECK;
/* Starts the closing handshake; on_close follows. */
void http_ws_close(struct http_ws *ws, int code, const char *reason);
struct ev *http_ws_loop(const struct http_ws *ws);

/* ---------------------------------------------------------------- server */

struct http_server;
struct http_server_deps {
    struct metrics *metrics; /* NULL: no metrics */
    struct pool *workers;
};
/* Binds and starts the loops. On success *out runs until http_server_stop(). */
int http_server_start(const struct http_cfg *cfg, const struct http_router *router,
                      const struct http_server_deps *deps, struct http_server **out,
                      struct err *err) APP_MUST_CHECK;
int http_server_port(const struct http_server *s);
/* Stops accepting, closes WebSockets with 1001, asks keep-alive clients to close, and waits
 * up to cfg->shutdown_grace_ms for in-flight requests to finish. Returns how many are left.
 * The loops keep running, so asynchronous handlers can still answer (free the worker pool
 * after this and before http_server_stop()). Call from the thread that started the server. */
size_t http_server_drain(struct http_server *s);
/* Answers what is still in flight with 503, closes every connection, joins the loops and
 * frees the server. */
void http_server_stop(struct http_server *s);
size_t http_server_inflight(const struct http_server *s);

/* ---------------------------------------------------------------- client */

struct http_client_req {
    const char *method; /* "GET" when NULL */
    const char *url;
    const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
    struct slice body;
    uint64_t connect_timeout_ms; /* 0 = 5 s */
    uint64_t timeout_ms;         /* whole request, 0 = 30 s */
    size_t max_response_bytes;   /* 0 = 8 MiB */
};
struct http_client_res {
    int status;
    struct sbuf body;    /* caller releases */
    struct sbuf headers; /* raw response header lines, caller releases */
};
/* Blocking: call from a worker thread. ERR_TIMEOUT, ERR_LIMIT (response too large),
 * ERR_UNAVAILABLE (could not connect), ERR_INVALID (bad URL). The body so far is kept. */
int http_client_do(const struct http_client_req *req, struct http_client_res *res,
                   struct err *err) APP_MUST_CHECK;
void http_client_res_release(struct http_client_res *res);
/* A header of the response (case-insensitive), or SLICE_NULL. */
struct slice http_client_res_header(const struct http_client_res *res, const char *name);

/* ---------------------------------------------------------------- WebSocket client */

/* A blocking RFC 6455 client for tools (the CLI): one connection, used by one thread at a
 * time, any thread but never an event loop's. */
struct http_wsc;
struct http_wsc_opts {
    const char *const *headers;  /* NULL-terminated "Name: value" lines (Authorization), or NULL */
    const char *subprotocol;     /* offered, and the server must choose it; or NULL */
    uint64_t connect_timeout_ms; /* connection and handshake, 0 = 5 s */
    size_t max_message;          /* of a received message, fragments joined; 0 = 1 MiB */
};
/* Connects to "ws://host[:port][/path]" and completes the opening handshake (the server's
 * Sec-WebSocket-Accept and subprotocol are checked). On success *out belongs to the caller
 * (http_wsc_free()). ERR_INVALID for a bad URL or a server breaking the handshake rules,
 * ERR_UNAVAILABLE when it could not connect or answered other than 101 (the message quotes
 * its status line), ERR_TIMEOUT. <opts> may be NULL. */
int http_wsc_connect(const char *url, const struct http_wsc_opts *opts, struct http_wsc **out,
                     struct err *err) APP_MUST_CHECK;
/* Sends <text> as one text message (a masked frame). ERR_UNAVAILABLE once closing. */
int http_wsc_send(struct http_wsc *c, struct slice text, struct err *err) APP_MUST_CHECK;
/* Waits up to <timeout_ms> for the next whole message and puts it in <out> (reset first),
 * answering pings meanwhile. ERR_TIMEOUT when none came (the connection stays usable);
 * ERR_UNAVAILABLE when the server closed (its code and reason in the message; our close
 * answer is sent) or went away; ERR_INVALID when it broke the protocol (closed with the
 * code that says why); ERR_LIMIT when the message passes <out>'s max. */
int http_wsc_recv(struct http_wsc *c, struct sbuf *out, uint64_t timeout_ms,
                  struct err *err) APP_MUST_CHECK;
/* Closes (1000, waiting up to 1 s for the server's answer) and frees. NULL is fine. */
void http_wsc_free(struct http_wsc *c);

#endif
