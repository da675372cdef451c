/*
 * The HTTP server: one libmicrohttpd daemon per event loop, all on one port (SO_REUSEPORT),
 * driven from our epoll loop in MHD's external-epoll mode. Each request gets an arena, an id
 * and a deadline; limits answer with JSON errors; handlers may answer later (the connection is
 * suspended meanwhile).
 *
 * libmicrohttpd 0.9.75 turns keep-alive off when a response is queued on the first call of
 * the access handler for a request without a body, so we answer on the second call.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http-int.h"

#define HDR_TIMEOUT_SWEEP_MS 250
#define ARENA_CACHE          32
#define REQ_ARENA_BUDGET     (8u << 20)
#define SERIES_CACHE         64

/* One cached http_requests_total series of a loop. */
struct series_slot {
    const struct http_route *route;
    unsigned method;
    int status;
    struct metric *series;
};

struct srv_loop;

/* One TCP connection. */
struct http_conn {
    struct srv_loop *loop;
    struct MHD_Connection *mhd;
    int fd;
    uint64_t wait_since; /* ms: since when we wait for a request's headers */
    bool kept_alive;     /* a request was served before on this connection */
    bool in_request;     /* its headers are complete */
    bool dropped;        /* we ended it (header timeout) */
    struct http_conn *prev, *next;
};

struct hdr {
    struct hdr *next;
    const char *name, *value;
};

/* One request; pub first so a struct http_req * converts back. */
struct srv_req {
    struct http_req pub;
    struct srv_loop *loop;
    struct MHD_Connection *mhd;
    struct slice uri; /* raw request target */
    uint64_t start_ns;
    bool started, handled, suspended, finished;
    int status;
    struct MHD_Response *resp; /* built by http_respond*, queued by the access handler */
    bool resp_shared;          /* a canned response: queue it, never destroy it */
    struct hdr *hdrs;
    struct sbuf body;
    int64_t max_body;
    bool body_over;
    size_t resp_bytes;
    http_handler_fn *fn;
    void *fn_arg;
    bool no_log;
    /* WebSocket upgrade */
    const struct http_ws_handler *ws_h;
    void *ws_arg;
    struct http_ws_opts ws_opts;
    bool upgraded;
    struct srv_req *susp_prev, *susp_next; /* in loop->suspended while suspended */
    /* A streamed body (http_req_stream): pieces of it go to <chunk_fn> on a worker */
    bool stream;     /* the route streams its body */
    bool flushing;   /* a piece is with a worker; the connection is suspended */
    bool orphaned;   /* the request ended while a piece was with a worker */
    bool ended;      /* end_fn ran */
    bool stream_bad; /* a piece failed (or the body is too long): drop the rest */
    uint64_t streamed;
    http_chunk_fn *chunk_fn;
    http_end_fn *end_fn;
    void *stream_arg;
    struct err stream_err;
};

/* A connection we accepted whose first request line is not complete yet. */
struct pending {
    struct srv_loop *loop;
    int fd;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    uint64_t since;
    struct pending *prev, *next;
};

struct ws_link {
    struct ws_link *prev, *next;
    struct http_ws *ws;
    struct MHD_UpgradeResponseHandle *urh;
    struct srv_loop *loop;
};

struct srv_loop {
    struct http_server *srv;
    struct ev *ev;
    pthread_t thread;
    int listen_fd;
    struct MHD_Daemon *mhd;
    int mhd_fd;
    struct ev_timer *mhd_timer, *sweep_timer;
    uint64_t mhd_due;
    struct http_conn *conns;
    size_t nconns;
    struct pending *pending;
    size_t npending;
    uint64_t adding_since; /* when the connection being handed to MHD was accepted */
    struct ws_link *wss;
    struct srv_req *suspended;        /* requests waiting for their handler's answer */
    struct arena *spare[ARENA_CACHE]; /* reset arenas for the next requests */
    size_t nspare;
    struct series_slot series[SERIES_CACHE]; /* request counters by route, method, status */
    pthread_mutex_t ready_lock;
    pthread_cond_t ready_cond;
    bool ready;
};

struct http_server {
    struct http_cfg cfg; /* strings borrowed from the caller's cfg */
    const struct http_router *router;
    struct http_server_deps deps;
    int port;
    unsigned nloops;
    struct srv_loop *loops;
    _Atomic size_t inflight;
    _Atomic bool draining;
    struct metric *m_requests, *m_duration, *m_inflight, *m_conns;
    struct metric *_Atomic *duration_by_route; /* [route index], the last for unmatched */
};

struct http_canned {
    struct MHD_Response *resp;
    int status;
    char *ctype;
    char *body;
    size_t len;
};

static const char *const json_ct = "application/json";

/* ------------------------------------------------------------ responses */

static struct srv_req *req_of(struct http_req *r)
{
    return (struct srv_req *)r;
}

int http_add_header(struct http_req *r, const char *name, const char *value)
{
    struct srv_req *req = req_of(r);
    struct hdr *h = arena_alloc(r->arena, sizeof(*h));

    if (h == NULL)
        return ERR_LIMIT;
    h->name = arena_strndup(r->arena, name, strlen(name));
    h->value = arena_strndup(r->arena, value, strlen(value));
    if (h->name == NULL || h->value == NULL)
        return ERR_LIMIT;
    h->next = req->hdrs;
    req->hdrs = h;
    return 0;
}

static void add_cors(struct srv_req *req, struct MHD_Response *resp)
{
    const char *origin = MHD_lookup_connection_value(req->mhd, MHD_HEADER_KIND, "Origin");
    const char *allowed = req->loop->srv->cfg.cors_origin;

    if (origin == NULL || allowed == NULL || allowed[0] == '\0' || strcmp(origin, allowed) != 0)
        return;
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
    MHD_add_response_header(resp, "Access-Control-Allow-Credentials", "true");
    MHD_add_response_header(resp, "Vary", "Origin");
}

/* The headers every response carries, whoever asked. */
static void add_static_headers(struct MHD_Response *resp, const char *ctype, bool has_cc,
                               bool has_csp)
{
    if (ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    if (!has_cc)
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (!has_csp)
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'none'; frame-ancestors 'none'");
}

static void add_headers(struct srv_req *req, struct MHD_Response *resp, const char *ctype)
{
    bool has_cc = false, has_csp = false;

    for (struct hdr *h = req->hdrs; h; h = h->next) {
        MHD_add_response_header(resp, h->name, h->value);
        has_cc |= strcasecmp(h->name, "Cache-Control") == 0;
        has_csp |= strcasecmp(h->name, "Content-Security-Policy") == 0;
    }
    add_static_headers(resp, ctype, has_cc, has_csp);
    MHD_add_response_header(resp, "X-Request-Id", req->pub.id);
    add_cors(req, resp);
    if (atomic_load(&req->loop->srv->draining))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
}

/* Queues the built response when the access handler may (it is running for this request). */
static void queue_response(struct srv_req *req)
{
    if (req->resp == NULL)
        return;
    MHD_queue_response(req->mhd, (unsigned)req->status, req->resp);
    if (!req->resp_shared)
        MHD_destroy_response(req->resp);
    req->resp = NULL;
}

static void kick_mhd(struct srv_loop *l);

static void link_suspended(struct srv_req *req)
{
    req->susp_next = req->loop->suspended;
    if (req->susp_next)
        req->susp_next->susp_prev = req;
    req->loop->suspended = req;
}

static void unlink_suspended(struct srv_req *req)
{
    if (req->susp_prev)
        req->susp_prev->susp_next = req->susp_next;
    else
        req->loop->suspended = req->susp_next;
    if (req->susp_next)
        req->susp_next->susp_prev = req->susp_prev;
    req->susp_prev = req->susp_next = NULL;
}

static void set_response(struct srv_req *req, int status, struct MHD_Response *resp,
                         const char *ctype, size_t len)
{
    if (NEVER(req->handled && req->status != 0)) { /* answered twice: keep the first */
        if (!req->resp_shared)
            MHD_destroy_response(resp);
        return;
    }
    if (!req->resp_shared)
        add_headers(req, resp, ctype);
    req->status = status;
    req->resp = resp;
    req->resp_bytes = len;
    req->handled = true;
    if (req->suspended) {
        req->suspended = false;
        unlink_suspended(req);
        MHD_resume_connection(req->mhd); /* the access handler runs again and queues it */
        kick_mhd(req->loop);             /* MHD acts on a resume only when it next runs */
    }
}

void http_respond(struct http_req *r, int status, const char *content_type, struct slice body)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(body.len, (void *)body.ptr, MHD_RESPMEM_MUST_COPY);

    ASSERT(resp != NULL);
    set_response(req_of(r), status, resp, content_type, body.len);
}

void http_respond_take(struct http_req *r, int status, const char *content_type, char *body,
                       size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);

    ASSERT(resp != NULL);
    set_response(req_of(r), status, resp, content_type, len);
}

void http_respond_fd(struct http_req *r, int status, const char *content_type, int fd,
                     uint64_t offset, uint64_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_fd_at_offset64(len, fd, offset);

    ASSERT(resp != NULL);
    set_response(req_of(r), status, resp, content_type, len);
}

struct http_canned *http_canned_new(int status, const char *content_type, struct slice body)
{
    struct http_canned *c = xcalloc(1, sizeof(*c));

    c->status = status;
    c->ctype = content_type ? xstrdup(content_type) : NULL;
    c->body = xmalloc(body.len + 1);
    memcpy(c->body, body.ptr ? body.ptr : "", body.len);
    c->len = body.len;
    c->resp = MHD_create_response_from_buffer(c->len, c->body, MHD_RESPMEM_PERSISTENT);
    ASSERT(c->resp != NULL);
    add_static_headers(c->resp, c->ctype, false, false);
    return c;
}

void http_canned_free(struct http_canned *c)
{
    if (c == NULL)
        return;
    MHD_destroy_response(c->resp);
    free(c->ctype);
    free(c->body);
    free(c);
}

/* Whether the answer to <req> must carry headers of its own. */
static bool needs_own_headers(struct srv_req *req)
{
    const char *cors = req->loop->srv->cfg.cors_origin;

    return req->hdrs != NULL || atomic_load(&req->loop->srv->draining) ||
           (cors && cors[0] &&
            MHD_lookup_connection_value(req->mhd, MHD_HEADER_KIND, "Origin") != NULL);
}

void http_respond_canned(struct http_req *r, const struct http_canned *c)
{
    struct srv_req *req = req_of(r);

    if (needs_own_headers(req)) {
        http_respond(r, c->status, c->ctype, (struct slice){c->body, c->len});
        return;
    }
    req->resp_shared = true;
    set_response(req, c->status, c->resp, c->ctype, c->len);
}

void http_respond_sbuf(struct http_req *r, int status, const char *content_type, struct sbuf *b)
{
    char *body;
    size_t len;

    if (b->err) {
        sbuf_release(b);
        http_respond_error(r, 500, "internal", "response over its size limit");
        return;
    }
    body = sbuf_take(b, &len);
    http_respond_take(r, status, content_type, body, len);
}

void http_respond_error(struct http_req *r, int status, const char *code, const char *msg)
{
    struct sbuf b = SBUF_INIT(4096);
    struct jw w;

    jw_init(&w, &b);
    jw_obj_begin(&w);
    jw_key(&w, "error");
    jw_obj_begin(&w);
    jw_key(&w, "code");
    jw_str(&w, code);
    jw_key(&w, "message");
    jw_str(&w, msg);
    jw_key(&w, "requestId");
    jw_str(&w, r->id);
    jw_obj_end(&w);
    jw_obj_end(&w);
    sbuf_putc(&b, '\n');
    http_respond_sbuf(r, status, json_ct, &b); /* 4 KiB fits any message of ours */
}

void http_respond_err(struct http_req *r, const struct err *err)
{
    http_respond_error(r, err_http_status(err->code), err_name(err->code), err->msg);
}

/* ------------------------------------------------------------ request accessors */

struct slice http_req_header(struct http_req *r, const char *name)
{
    const char *v = MHD_lookup_connection_value(req_of(r)->mhd, MHD_HEADER_KIND, name);

    return slice_from_cstr(v);
}

struct slice http_req_param(const struct http_req *r, const char *name)
{
    for (size_t i = 0; i < r->match.nparams; i++)
        if (slice_eq_cstr(r->match.names[i], name))
            return r->match.values[i];
    return SLICE_NULL;
}

/* Form-decodes <s> ('+' is a space) into the arena; SLICE_NULL on a bad escape. */
static struct slice form_decode(struct arena *a, struct slice s)
{
    struct slice out;

    return slice_percent_decode(a, s, true, &out) == 0 ? out : SLICE_NULL;
}

struct slice http_req_query(struct http_req *r, const char *name)
{
    struct slice rest = r->query, pair, key;

    while (rest.len > 0) {
        slice_split(&rest, '&', &pair);
        slice_split(&pair, '=', &key);
        key = form_decode(r->arena, key);
        if (key.ptr && slice_eq_cstr(key, name))
            return form_decode(r->arena, pair);
    }
    return SLICE_NULL;
}

const char *http_req_peer(struct http_req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req_of(r)->mhd, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char buf[INET6_ADDRSTRLEN] = "unknown";
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;

    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, sizeof(buf));
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, sizeof(buf));
    return arena_strndup(r->arena, buf, strlen(buf));
}

/* ------------------------------------------------------------ request lifecycle */

static struct http_conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci ? ci->socket_context : NULL;
}

/* MHD calls this first, with the raw request target; what it returns becomes the request's
 * context, so every request has its arena and id from the start. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct srv_loop *l = cls;
    struct arena *a =
        l->nspare ? l->spare[--l->nspare]
                  : arena_new(&(struct arena_opts){.chunk = 4096, .budget = REQ_ARENA_BUDGET});
    struct srv_req *req = arena_zalloc(a, sizeof(*req));

    ASSERT(req != NULL); /* the first small allocation of a fresh arena */
    req->pub.arena = a;
    req->loop = l;
    req->mhd = c;
    req->start_ns = time_mono_ns();
    req->uri = slice_dup(a, slice_from_cstr(uri));
    req->body = SBUF_INIT(0);
    id_new(req->pub.id);
    req->pub.log = (struct log_ctx){.svc = "http", .req = req->pub.id};
    atomic_fetch_add(&l->srv->inflight, 1);
    metric_add(l->srv->m_inflight, 1);
    return req;
}

struct hdr_sum {
    size_t bytes;
};

static enum MHD_Result sum_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    struct hdr_sum *s = cls;

    (void)kind;
    s->bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

/* Length the client declared, or -1 when it sent none (or chunked). */
static int64_t content_length(struct srv_req *req)
{
    const char *cl = MHD_lookup_connection_value(req->mhd, MHD_HEADER_KIND, "Content-Length");
    uint64_t n;

    if (cl == NULL || slice_to_u64(slice_from_cstr(cl), &n) < 0 || n > INT64_MAX)
        return -1;
    return (int64_t)n;
}

static bool has_body(struct srv_req *req)
{
    return content_length(req) > 0 ||
           MHD_lookup_connection_value(req->mhd, MHD_HEADER_KIND, "Transfer-Encoding") != NULL;
}

/* No route for this method: 404, 405 with Allow, or the answer to OPTIONS (CORS preflight). */
static bool refuse_unrouted(struct srv_req *req)
{
    struct http_req *r = &req->pub;
    struct sbuf allow = SBUF_INIT(128);

    if (r->match.allowed == 0) {
        http_respond_error(r, 404, "not_found", "no such path");
        return false;
    }
    for (unsigned m = 1; m <= HTTP_OPTIONS; m <<= 1)
        if ((r->match.allowed | HTTP_OPTIONS) & m)
            sbuf_printf(&allow, "%s%s", allow.len ? ", " : "", http_method_name(m));
    /* a header that does not fit the request's memory is left out; the answer still goes */
    (void)!http_add_header(r, "Allow", allow.buf);
    if (r->method == HTTP_OPTIONS) {
        (void)!(http_add_header(r, "Access-Control-Allow-Methods", allow.buf) == 0 &&
                http_add_header(r, "Access-Control-Allow-Headers",
                                "Authorization, Content-Type, X-Slipway-Workspace") == 0 &&
                http_add_header(r, "Access-Control-Max-Age", "600") == 0);
        http_respond(r, 204, NULL, SLICE_NULL);
    } else {
        http_respond_error(r, 405, "method_not_allowed", "method not allowed on this path");
    }
    sbuf_release(&allow);
    return false;
}

/* The head's own limits and rules, before routing: 414, 431, 400 without Host. */
static bool head_acceptable(struct srv_req *req, const char *version)
{
    const struct http_cfg *cfg = &req->loop->srv->cfg;
    struct http_req *r = &req->pub;
    struct hdr_sum sum = {0};
    char msg[160];

    if (req->uri.len > (size_t)cfg->max_url_bytes) {
        snprintf(msg, sizeof(msg), "request target is over %" PRId64 " bytes", cfg->max_url_bytes);
        http_respond_error(r, 414, "uri_too_long", msg);
        return false;
    }
    MHD_get_connection_values(req->mhd, MHD_HEADER_KIND, sum_header, &sum);
    if (sum.bytes > (size_t)cfg->max_header_bytes) {
        snprintf(msg, sizeof(msg), "request headers are over %" PRId64 " bytes",
                 cfg->max_header_bytes);
        http_respond_error(r, 431, "headers_too_large", msg);
        return false;
    }
    if (strcmp(version, "HTTP/1.1") == 0 &&
        MHD_lookup_connection_value(req->mhd, MHD_HEADER_KIND, "Host") == NULL) {
        http_respond_error(r, 400, "invalid", "Host: required in HTTP/1.1 requests");
        return false;
    }
    return true;
}

/* Checks the limits and routes the request, once its headers are in. Returns false with an
 * error response set when the request is refused. */
static bool admit(struct srv_req *req, const char *method, const char *version)
{
    const struct http_cfg *cfg = &req->loop->srv->cfg;
    struct http_req *r = &req->pub;
    struct slice path = req->uri;
    const struct http_route_opts *ropts;
    struct err err = {0};
    char msg[160];

    if (!head_acceptable(req, version))
        return false;
    r->method = http_method_parse(slice_from_cstr(method));
    if (r->method == 0) {
        http_respond_error(r, 501, "not_implemented", "method not implemented");
        return false;
    }
    slice_split(&path, '?', &r->path);
    r->query = path;
    if (http_router_match(req->loop->srv->router, r->arena, r->method, r->path, &r->match, &err) <
        0) {
        http_respond_err(r, &err);
        return false;
    }
    if (r->match.route == NULL)
        return refuse_unrouted(req);
    http_route_get(r->match.route, &req->fn, &req->fn_arg, &ropts);
    req->no_log = ropts->no_access_log;
    req->max_body = ropts->max_body_bytes ? ropts->max_body_bytes : cfg->max_body_bytes;
    if (content_length(req) > req->max_body) {
        snprintf(msg, sizeof(msg), "request body is over %" PRId64 " bytes", req->max_body);
        http_respond_error(r, 413, "body_too_large", msg);
        return false;
    }
    req->stream = ropts->stream_body;
    req->body = SBUF_INIT(req->stream ? HTTP_STREAM_CHUNK : (size_t)req->max_body);
    return true;
}

/* The body arrives in pieces; a chunked body over the limit ends the connection (a response
 * cannot be queued while MHD is reading a body). */
static enum MHD_Result take_body(struct srv_req *req, const char *data, size_t *size)
{
    if (!req->handled) {
        sbuf_put(&req->body, data, *size);
        if (req->body.err) {
            req->body_over = true;
            LOG_WARN(&req->pub.log, "http.body_too_large", LF_INT("max_bytes", req->max_body));
            return MHD_NO;
        }
    }
    *size = 0;
    return MHD_YES;
}

static void dispatch(struct srv_req *req)
{
    req->pub.body = sbuf_slice(&req->body);
    req->fn(req->fn_arg, &req->pub);
    if (!req->handled) {
        req->suspended = true;
        link_suspended(req);
        MHD_suspend_connection(req->mhd);
    }
}

/* ------------------------------------------------------------ streamed bodies */

void http_req_stream(struct http_req *r, http_chunk_fn *chunk, http_end_fn *end, void *arg)
{
    struct srv_req *req = req_of(r);

    ASSERT(req->stream && req->chunk_fn == NULL);
    req->chunk_fn = chunk;
    req->end_fn = end;
    req->stream_arg = arg;
}

uint64_t http_req_streamed(const struct http_req *r)
{
    return ((const struct srv_req *)r)->streamed;
}

/* One piece of a body on its way to a worker; it owns its bytes. */
struct flush_job {
    struct srv_req *req;
    char *data;
    size_t len;
    int rc;
    struct err err;
};

static void flush_work(void *arg)
{
    struct flush_job *j = arg;
    struct srv_req *req = j->req;

    j->rc = req->chunk_fn(req->stream_arg, (struct slice){j->data, j->len}, &j->err);
}

static void req_release(struct srv_req *req);

static void flush_done(void *arg)
{
    struct flush_job *j = arg;
    struct srv_req *req = j->req;

    free(j->data);
    req->flushing = false;
    if (req->orphaned) { /* the request ended meanwhile: its memory waited for this piece */
        req_release(req);
        free(j);
        return;
    }
    if (j->rc < 0) {
        req->stream_bad = true;
        req->stream_err = j->err;
        req->stream_err.code = j->rc;
    }
    free(j);
    if (req->suspended) { /* not answered meanwhile (a shutdown answers and resumes) */
        req->suspended = false;
        unlink_suspended(req);
        MHD_resume_connection(req->mhd);
        kick_mhd(req->loop);
    }
}

/* Hands the buffered piece to a worker and suspends the connection until it is written. */
static void flush_piece(struct srv_req *req)
{
    struct flush_job *j = xcalloc(1, sizeof(*j));

    j->req = req;
    j->data = sbuf_take(&req->body, &j->len);
    req->flushing = true;
    req->suspended = true;
    link_suspended(req);
    MHD_suspend_connection(req->mhd);
    if (req->loop->srv->deps.workers == NULL) { /* tests without a pool */
        flush_work(j);
        flush_done(j);
        return;
    }
    pool_run(req->loop->srv->deps.workers, flush_work, flush_done, j);
}

static void stream_fail(struct srv_req *req, int code, const char *msg)
{
    req->stream_bad = true;
    err_set(&req->stream_err, code, "%s", msg);
    sbuf_reset(&req->body);
}

/* The access handler of a streamed body: the route's handler once, then the pieces, then
 * end_fn once the whole body has been written. */
static enum MHD_Result stream_access(struct srv_req *req, const char *data, size_t *size)
{
    http_handler_fn *fn = req->fn;
    size_t room, n;

    if (fn != NULL) {
        req->fn = NULL;
        fn(req->fn_arg, &req->pub);
        if (NEVER(!req->handled && req->end_fn == NULL))
            http_respond_error(&req->pub, 500, "internal", "handler neither answered nor read");
    }
    if (req->handled && !req->ended) {
        /* refused: read and drop the body, then answer (an answer queued mid-body makes
         * MHD close the connection under a client that is still sending) */
        if (*size == 0)
            queue_response(req);
        *size = 0;
        return MHD_YES;
    }
    if (*size > 0) {
        n = *size;
        if (!req->stream_bad) {
            room = HTTP_STREAM_CHUNK - req->body.len;
            n = n < room ? n : room;
            sbuf_put(&req->body, data, n);
            req->streamed += n;
            if ((int64_t)req->streamed > req->max_body)
                stream_fail(req, ERR_LIMIT, "request body is over the route's limit");
            else if (req->body.len == HTTP_STREAM_CHUNK)
                flush_piece(req);
        }
        *size -= n;
        return MHD_YES;
    }
    if (req->body.len > 0 && !req->stream_bad) {
        flush_piece(req); /* the last piece; MHD calls again once it is written */
        return MHD_YES;
    }
    if (!req->ended) {
        req->ended = true;
        req->end_fn(req->stream_arg, &req->pub, req->stream_bad ? &req->stream_err : NULL);
        if (!req->handled) {
            req->suspended = true;
            link_suspended(req);
            MHD_suspend_connection(req->mhd);
        }
    }
    queue_response(req);
    return MHD_YES;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **req_cls)
{
    struct srv_req *req = *req_cls;
    struct http_conn *conn;

    (void)cls, (void)url;
    if (NEVER(req == NULL))
        return MHD_NO;
    if (!req->started) {
        req->started = true;
        conn = conn_of(c);
        req->pub.conn = conn;
        if (conn)
            conn->in_request = true;
        if (!admit(req, method, version) && has_body(req))
            queue_response(req); /* refused before the body: answer now, then close */
        return MHD_YES;
    }
    if (req->stream)
        return stream_access(req, upload_data, upload_data_size);
    if (*upload_data_size > 0)
        return take_body(req, upload_data, upload_data_size);
    if (!req->handled && !req->suspended && req->fn) {
        dispatch(req);
        req->fn = NULL;
    }
    queue_response(req);
    return MHD_YES;
}

static void log_request(struct srv_req *req, enum MHD_RequestTerminationCode toe, double secs)
{
    if (!req->loop->srv->cfg.access_log || req->no_log)
        return;
    LOG_INFO(&req->pub.log, "http.request", LF_STR("method", http_method_name(req->pub.method)),
             LF_SLICE("path", req->pub.path.ptr ? req->pub.path : req->uri),
             LF_INT("status", req->status), LF_DBL("ms", secs * 1000.0),
             LF_UINT("bytes", req->resp_bytes), LF_STR("peer", http_req_peer(&req->pub)),
             LF_BOOL("completed", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK));
}

/* The duration histogram of a route, created on first use and then read without a lock. */
static struct metric *duration_series(struct http_server *s, const struct http_route *rt,
                                      const char *route)
{
    size_t i = rt ? http_route_index(rt) : http_router_count(s->router);
    struct metric *m = atomic_load_explicit(&s->duration_by_route[i], memory_order_acquire);

    if (m == NULL) { /* two loops may race here: metric_series returns the same series */
        m = metric_series(s->m_duration, (const char *[]){route});
        atomic_store_explicit(&s->duration_by_route[i], m, memory_order_release);
    }
    return m;
}

static const char *status_label(int status, char buf[8])
{
    if (status < 100 || status > 999)
        return "499"; /* the client left before an answer */
    buf[0] = (char)('0' + status / 100);
    buf[1] = (char)('0' + status / 10 % 10);
    buf[2] = (char)('0' + status % 10);
    buf[3] = '\0';
    return buf;
}

/* The http_requests_total series for this request, from the loop's cache when it is there. */
static struct metric *requests_series(struct srv_req *req, const char *route)
{
    struct srv_loop *l = req->loop;
    const struct http_route *rt = req->pub.match.route;
    size_t h =
        ((uintptr_t)rt / 16 + req->pub.method * 31u + (unsigned)req->status * 7u) % SERIES_CACHE;
    struct series_slot *slot = &l->series[h];
    char buf[8];

    if (slot->series && slot->route == rt && slot->method == req->pub.method &&
        slot->status == req->status)
        return slot->series;
    *slot = (struct series_slot){rt, req->pub.method, req->status, NULL};
    slot->series =
        metric_series(l->srv->m_requests, (const char *[]){route, http_method_name(req->pub.method),
                                                           status_label(req->status, buf)});
    return slot->series;
}

static void record_request(struct srv_req *req, enum MHD_RequestTerminationCode toe)
{
    struct http_server *s = req->loop->srv;
    double secs = (double)(time_mono_ns() - req->start_ns) / 1e9;
    const char *route =
        req->pub.match.route ? http_route_pattern(req->pub.match.route) : "unmatched";

    if (s->m_requests) {
        metric_add(requests_series(req, route), 1);
        metric_observe(duration_series(s, req->pub.match.route, route), secs);
        metric_add(s->m_inflight, -1);
    }
    log_request(req, toe, secs);
}

/* Keeps the arena for a later request on this loop, or frees it when enough are kept. */
static void put_arena(struct srv_loop *l, struct arena *a)
{
    if (l->nspare == ARENA_CACHE) {
        arena_free(a);
        return;
    }
    arena_reset(a);
    l->spare[l->nspare++] = a;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct srv_req *req = *req_cls;
    struct http_conn *conn = conn_of(c);

    (void)cls;
    if (req == NULL)
        return;
    record_request(req, toe);
    if (req->ws_h && !req->upgraded) /* a 101 that never became a connection */
        req->ws_h->on_close(req->ws_arg, NULL, 1006, SLICE_NULL);
    if (conn) {
        conn->in_request = false;
        conn->kept_alive = true;
        conn->wait_since = ev_now_ms(req->loop->ev);
    }
    if (req->resp && !req->resp_shared)
        MHD_destroy_response(req->resp);
    req->resp = NULL;
    *req_cls = NULL;
    if (req->flushing) { /* a worker still writes a piece with the handler's state */
        req->orphaned = true;
        if (req->suspended) {
            req->suspended = false;
            unlink_suspended(req);
        }
        return;
    }
    req_release(req);
}

/* The end of a request's memory: after its response, and after any piece a worker had. */
static void req_release(struct srv_req *req)
{
    sbuf_release(&req->body);
    atomic_fetch_sub(&req->loop->srv->inflight, 1);
    put_arena(req->loop, req->pub.arena);
}

/* ------------------------------------------------------------ connections */

/* Writes a whole small response straight to the socket, best effort: MHD is not writing on
 * this connection (it waits for a request's head, or is closing it). */
static void send_raw_error(int fd, int status, const char *reason, const char *code,
                           const char *msg)
{
    char body[256], resp[512];
    int nb = snprintf(body, sizeof(body), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}\n",
                      code, msg);
    int n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                     "Connection: close\r\nContent-Length: %d\r\n\r\n%s",
                     status, reason, nb, body);

    if (n > 0 && (size_t)n < sizeof(resp))
        (void)!send(fd, resp, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void on_conn(void *cls, struct MHD_Connection *c, void **socket_context,
                    enum MHD_ConnectionNotificationCode code)
{
    struct srv_loop *l = cls;
    struct http_conn *conn = *socket_context;
    const union MHD_ConnectionInfo *ci;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        conn = xcalloc(1, sizeof(*conn));
        ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn->fd = ci ? ci->connect_fd : -1;
        conn->loop = l;
        conn->mhd = c;
        conn->wait_since = l->adding_since ? l->adding_since : ev_now_ms(l->ev);
        conn->next = l->conns;
        if (l->conns)
            l->conns->prev = conn;
        l->conns = conn;
        *socket_context = conn;
        l->nconns++;
        metric_add(l->srv->m_conns, 1);
        return;
    }
    if (conn == NULL)
        return;
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        l->conns = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    free(conn);
    *socket_context = NULL;
    l->nconns--;
    metric_add(l->srv->m_conns, -1);
}

/* Ends a connection that did not send a request's headers in time: a 408 for a first
 * request (best effort, straight to the socket: MHD is only reading now), then shutdown(),
 * which MHD sees as the peer closing. */
static void drop_slow(struct http_conn *conn)
{
    if (!conn->kept_alive)
        send_raw_error(conn->fd, 408, "Request Timeout", "timeout",
                       "request headers not received in time");
    shutdown(conn->fd, SHUT_RDWR);
    conn->in_request = conn->dropped = true; /* once */
    LOG_INFO(&(struct log_ctx){.svc = "http"}, "http.header_timeout",
             LF_BOOL("keep_alive", conn->kept_alive));
}

static void pending_sweep(struct srv_loop *l, uint64_t now);

static void sweep(void *arg)
{
    struct srv_loop *l = arg;
    const struct http_cfg *cfg = &l->srv->cfg;
    uint64_t now = ev_now_ms(l->ev);

    pending_sweep(l, now);
    for (struct http_conn *c = l->conns; c; c = c->next) {
        uint64_t limit = (uint64_t)(c->kept_alive ? cfg->idle_timeout_ms : cfg->header_timeout_ms);

        if (!c->in_request && c->fd >= 0 && now - c->wait_since >= limit)
            drop_slow(c);
    }
    l->sweep_timer = ev_timer_add(l->ev, HDR_TIMEOUT_SWEEP_MS, sweep, l);
}

/* ------------------------------------------------------------ accepting */

/* slipway accepts connections itself and hands each to MHD once its first request line is
 * in: a line that cannot start a request gets a JSON 400 here, where MHD 0.9.75 would close
 * the connection without a word. */

static void pending_unlink(struct pending *p)
{
    struct srv_loop *l = p->loop;

    ev_io_del(l->ev, p->fd);
    if (p->prev)
        p->prev->next = p->next;
    else
        l->pending = p->next;
    if (p->next)
        p->next->prev = p->prev;
    l->npending--;
}

/* Answers <p> with an error and closes it. What the client sent is read first, so the close
 * is a FIN behind the answer, not a reset in front of it. */
static void pending_refuse(struct pending *p, int status, const char *reason, const char *code,
                           const char *msg)
{
    char sink[4096];

    pending_unlink(p);
    for (int i = 0; i < 16 && recv(p->fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
        ;
    send_raw_error(p->fd, status, reason, code, msg);
    close(p->fd);
    free(p);
}

static void pending_close(struct pending *p)
{
    pending_unlink(p);
    close(p->fd);
    free(p);
}

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

enum line_verdict { LINE_MORE, LINE_OK, LINE_BAD };

/* Judges the first request line in <buf> (after optional empty lines, RFC 9112 §2.2): a
 * method token, a space, then anything MHD can judge. */
static enum line_verdict first_line(const char *buf, size_t n)
{
    size_t i = 0, m;

    while (i < n && (buf[i] == '\r' || buf[i] == '\n'))
        i++;
    for (m = i; m < n && is_tchar((unsigned char)buf[m]); m++)
        ;
    if (m < n && buf[m] == ' ' && m > i)
        return LINE_OK;
    if (m < n || (m - i) > 32) /* a byte no method has, or no method is this long */
        return LINE_BAD;
    return LINE_MORE;
}

static void pending_handover(struct pending *p)
{
    struct srv_loop *l = p->loop;

    pending_unlink(p);
    l->adding_since = p->since;
    if (MHD_add_connection(l->mhd, p->fd, (const struct sockaddr *)&p->addr, p->addrlen) !=
        MHD_YES) /* MHD closed it */
        LOG_WARN(&(struct log_ctx){.svc = "http"}, "http.add_connection_failed",
                 LF_STR("error", strerror(errno)));
    l->adding_since = 0;
    free(p);
    kick_mhd(l);
}

static void on_pending(void *arg, uint32_t events)
{
    struct pending *p = arg;
    char buf[64];
    ssize_t n = recv(p->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);

    (void)events;
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        pending_close(p);
        return;
    }
    if (n < 0)
        return;
    switch (first_line(buf, (size_t)n)) {
    case LINE_OK:
        pending_handover(p);
        break;
    case LINE_BAD:
        pending_refuse(p, 400, "Bad Request", "invalid", "malformed request line");
        break;
    case LINE_MORE:
        break; /* edge-triggered: the next bytes wake us again */
    }
}

static void pending_add(struct srv_loop *l, int fd, const struct sockaddr_storage *addr,
                        socklen_t addrlen)
{
    struct pending *p = xcalloc(1, sizeof(*p));

    *p = (struct pending){.loop = l,
                          .fd = fd,
                          .addr = *addr,
                          .addrlen = addrlen,
                          .since = ev_now_ms(l->ev),
                          .next = l->pending};
    if (l->pending)
        l->pending->prev = p;
    l->pending = p;
    l->npending++;
    if (ev_io_add(l->ev, fd, EPOLLIN | EPOLLRDHUP | EPOLLET, on_pending, p) < 0) {
        pending_close(p);
        return;
    }
    on_pending(p, EPOLLIN); /* the request often came with the connection */
}

static void on_accept(void *arg, uint32_t events)
{
    struct srv_loop *l = arg;
    size_t limit = (size_t)l->srv->cfg.max_connections / l->srv->nloops + 1;

    (void)events;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage addr;
        socklen_t len = sizeof(addr);
        int fd =
            accept4(l->listen_fd, (struct sockaddr *)&addr, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN)
                LOG_WARN(&(struct log_ctx){.svc = "http"}, "http.accept_failed",
                         LF_STR("error", strerror(errno)));
            return;
        }
        if (l->nconns + l->npending >= limit) { /* http.max_connections */
            close(fd);
            continue;
        }
        pending_add(l, fd, &addr, len);
    }
}

static void pending_sweep(struct srv_loop *l, uint64_t now)
{
    struct pending *p = l->pending, *next;

    for (; p; p = next) {
        next = p->next;
        if (now - p->since >= (uint64_t)l->srv->cfg.header_timeout_ms)
            pending_refuse(p, 408, "Request Timeout", "timeout",
                           "request headers not received in time");
    }
}

static void close_listener(struct srv_loop *l)
{
    if (l->listen_fd < 0)
        return;
    ev_io_del(l->ev, l->listen_fd);
    close(l->listen_fd);
    l->listen_fd = -1;
    while (l->pending)
        pending_close(l->pending);
}

/* ------------------------------------------------------------ driving MHD from the loop */

static void run_mhd(struct srv_loop *l);

static void mhd_timer_fired(void *arg)
{
    struct srv_loop *l = arg;

    l->mhd_timer = NULL;
    run_mhd(l);
}

/* MHD says when it next needs to run without socket activity (its own timeouts, or 0 when it
 * holds work already); keep one timer at the earliest such moment. */
static void arm_mhd(struct srv_loop *l)
{
    MHD_UNSIGNED_LONG_LONG t;
    uint64_t due;

    if (MHD_get_timeout(l->mhd, &t) != MHD_YES)
        return;
    due = ev_now_ms(l->ev) + t;
    if (l->mhd_timer && l->mhd_due <= due)
        return;
    ev_timer_cancel(l->ev, l->mhd_timer);
    l->mhd_timer = ev_timer_add(l->ev, t, mhd_timer_fired, l);
    l->mhd_due = due;
}

/* Runs MHD on the next loop iteration (after a resume, which MHD only notes). */
static void kick_mhd(struct srv_loop *l)
{
    uint64_t now = ev_now_ms(l->ev);

    if (l->mhd_timer && l->mhd_due <= now)
        return;
    ev_timer_cancel(l->ev, l->mhd_timer);
    l->mhd_timer = ev_timer_add(l->ev, 0, mhd_timer_fired, l);
    l->mhd_due = now;
}

static void run_mhd(struct srv_loop *l)
{
    if (l->mhd == NULL)
        return;
    MHD_run(l->mhd);
    arm_mhd(l);
}

static void mhd_readable(void *arg, uint32_t events)
{
    (void)events;
    run_mhd(arg);
}

APP_PRINTF(2, 0) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[256];

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    LOG_WARN(&(struct log_ctx){.svc = "http"}, "http.mhd", LF_STR("msg", msg));
}

/* ------------------------------------------------------------ WebSocket upgrade */

static void ws_unlink(void *arg)
{
    struct ws_link *k = arg;

    if (k->prev)
        k->prev->next = k->next;
    else
        k->loop->wss = k->next;
    if (k->next)
        k->next->prev = k->prev;
    MHD_upgrade_action(k->urh, MHD_UPGRADE_ACTION_CLOSE);
    kick_mhd(k->loop); /* MHD completes the upgraded request only when it next runs */
    free(k);
}

static void on_upgrade(void *cls, struct MHD_Connection *c, void *req_cls, const char *extra,
                       size_t extra_len, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    struct srv_req *req = req_cls;
    struct ws_link *k = xcalloc(1, sizeof(*k));

    (void)cls, (void)c;
    req->upgraded = true;
    k->loop = req->loop;
    k->urh = urh;
    k->next = k->loop->wss;
    if (k->next)
        k->next->prev = k;
    k->loop->wss = k;
    k->ws = ws_conn_start(k->loop->ev, sock, (struct slice){extra, extra_len}, &req->ws_opts,
                          req->ws_h, req->ws_arg, ws_unlink, k);
}

int http_respond_ws(struct http_req *r, const struct http_ws_opts *opts,
                    const struct http_ws_handler *h, void *arg)
{
    struct srv_req *req = req_of(r);
    struct ws_handshake hs = {
        .method = r->method,
        .upgrade = http_req_header(r, "Upgrade"),
        .connection = http_req_header(r, "Connection"),
        .version = http_req_header(r, "Sec-WebSocket-Version"),
        .key = http_req_header(r, "Sec-WebSocket-Key"),
        .protocol = http_req_header(r, "Sec-WebSocket-Protocol"),
    };
    struct MHD_Response *resp;
    struct err err = {0};
    char accept[29];
    int status = 400;

    if (ws_handshake_check(&hs, opts, accept, &status, &err) < 0) {
        if (status == 426 && http_add_header(r, "Sec-WebSocket-Version", "13") < 0)
            status = 400; /* out of request memory: the plain error still goes out */
        http_respond_error(r, status, "bad_handshake", err.msg);
        return ERR_INVALID;
    }
    req->ws_h = h;
    req->ws_arg = arg;
    req->ws_opts = *opts;
    resp = MHD_create_response_for_upgrade(on_upgrade, req);
    ASSERT(resp != NULL);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
    MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
    if (opts->subprotocol)
        MHD_add_response_header(resp, "Sec-WebSocket-Protocol", opts->subprotocol);
    set_response(req, 101, resp, NULL, 0);
    return 0;
}

/* ------------------------------------------------------------ start and stop */

static int listen_socket(const struct http_cfg *cfg, int *port, struct err *err)
{
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
    struct sockaddr_in a4 = {.sin_family = AF_INET};
    struct sockaddr *sa = (struct sockaddr *)&a4;
    socklen_t salen = sizeof(a4);
    int one = 1, fd;

    if (inet_pton(AF_INET, cfg->bind, &a4.sin_addr) == 1) {
        a4.sin_port = htons((uint16_t)*port);
    } else if (inet_pton(AF_INET6, cfg->bind, &a6.sin6_addr) == 1) {
        a6.sin6_port = htons((uint16_t)*port);
        sa = (struct sockaddr *)&a6;
        salen = sizeof(a6);
    } else {
        return err_set(err, ERR_INVALID, "http.bind: \"%s\" is not an IPv4 or IPv6 address",
                       cfg->bind);
    }
    fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_set(err, err_from_errno(errno), "socket: %s", strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (bind(fd, sa, salen) != 0 || listen(fd, 1024) != 0) {
        int e = errno;

        close(fd);
        return err_set(err, e == EADDRINUSE ? ERR_CONFLICT : err_from_errno(e),
                       "http.port: cannot listen on %s:%d: %s", cfg->bind, *port, strerror(e));
    }
    if (getsockname(fd, sa, &salen) == 0)
        *port = ntohs(sa->sa_family == AF_INET ? a4.sin_port : a6.sin6_port);
    return fd;
}

/* Any URL escaping is ours to do, per path segment: MHD must leave the bytes alone. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls, (void)c;
    return strlen(s);
}

static struct MHD_Daemon *start_mhd(struct srv_loop *l)
{
    const struct http_cfg *cfg = &l->srv->cfg;
    /* MHD keeps a request's head in this pool and zeroes all of it for every request, so it
     * is sized to our limits (plus room for its bookkeeping), not generously. Past it MHD
     * answers 414/431 itself, with its own short HTML body. */
    size_t mem = (size_t)(cfg->max_url_bytes + cfg->max_header_bytes) + (4u << 10);
    unsigned per_loop = (unsigned)(cfg->max_connections / l->srv->nloops) + 1;
    unsigned idle_s = (unsigned)((cfg->idle_timeout_ms + 999) / 1000) + 1;

    return MHD_start_daemon(
        MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME |
            MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG,
        0, NULL, NULL, on_access, l, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, l,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem, MHD_OPTION_CONNECTION_LIMIT, per_loop,
        MHD_OPTION_CONNECTION_TIMEOUT, idle_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, l,
        MHD_OPTION_NOTIFY_CONNECTION, on_conn, l, MHD_OPTION_URI_LOG_CALLBACK, on_uri, l,
        MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, l, MHD_OPTION_END);
}

static void signal_ready(struct srv_loop *l)
{
    pthread_mutex_lock(&l->ready_lock);
    l->ready = true;
    pthread_cond_signal(&l->ready_cond);
    pthread_mutex_unlock(&l->ready_lock);
}

static void *loop_main(void *arg)
{
    struct srv_loop *l = arg;
    const union MHD_DaemonInfo *di;

    l->mhd = start_mhd(l);
    di = l->mhd ? MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    if (di == NULL || ev_io_add(l->ev, di->epoll_fd, EPOLLIN, mhd_readable, l) < 0) {
        if (l->mhd)
            MHD_stop_daemon(l->mhd);
        l->mhd = NULL;
        signal_ready(l);
        return NULL;
    }
    l->mhd_fd = di->epoll_fd;
    if (ev_io_add(l->ev, l->listen_fd, EPOLLIN, on_accept, l) < 0) {
        MHD_stop_daemon(l->mhd);
        l->mhd = NULL;
        signal_ready(l);
        return NULL;
    }
    l->sweep_timer = ev_timer_add(l->ev, HDR_TIMEOUT_SWEEP_MS, sweep, l);
    signal_ready(l);
    ev_run(l->ev);
    return NULL;
}

static void make_metrics(struct http_server *s)
{
    static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                     0.1,    0.25,  0.5,    1,     2.5,  5,     10};
    struct metrics *m = s->deps.metrics;

    if (m == NULL)
        return;
    s->m_requests = metrics_family(m, METRIC_COUNTER, "http_requests_total",
                                   "HTTP requests answered, by route pattern, method and status.",
                                   (const char *[]){"route", "method", "status", NULL}, NULL, 0);
    s->m_duration = metrics_family(m, METRIC_HISTOGRAM, "http_request_duration_seconds",
                                   "Time from the request line to the end of the response.",
                                   (const char *[]){"route", NULL}, buckets, ARRAY_LEN(buckets));
    s->m_inflight =
        metric_series(metrics_family(m, METRIC_GAUGE, "http_requests_in_flight",
                                     "Requests received and not yet answered.", NULL, NULL, 0),
                      NULL);
    s->duration_by_route = xcalloc(http_router_count(s->router) + 1, sizeof(*s->duration_by_route));
    s->m_conns = metric_series(metrics_family(m, METRIC_GAUGE, "http_connections_open",
                                              "Open client connections.", NULL, NULL, 0),
                               NULL);
}

static int start_loop(struct http_server *s, struct srv_loop *l, struct err *err)
{
    char name[32];

    snprintf(name, sizeof(name), "http-%u", (unsigned)(l - s->loops));
    l->srv = s;
    l->ev = ev_new(name);
    pthread_mutex_init(&l->ready_lock, NULL);
    pthread_cond_init(&l->ready_cond, NULL);
    ASSERT(pthread_create(&l->thread, NULL, loop_main, l) == 0);
    pthread_mutex_lock(&l->ready_lock);
    while (!l->ready)
        pthread_cond_wait(&l->ready_cond, &l->ready_lock);
    pthread_mutex_unlock(&l->ready_lock);
    if (l->mhd == NULL) {
        pthread_join(l->thread, NULL);
        return err_set(err, ERR_UNAVAILABLE, "http: the HTTP daemon did not start");
    }
    return 0;
}

int http_server_start(const struct http_cfg *cfg, const struct http_router *router,
                      const struct http_server_deps *deps, struct http_server **out,
                      struct err *err)
{
    struct http_server *s = xcalloc(1, sizeof(*s));
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int port = (int)cfg->port;

    s->cfg = *cfg;
    s->router = router;
    s->deps = *deps;
    s->nloops = cfg->loops > 0 ? (unsigned)cfg->loops : (unsigned)(ncpu > 0 ? ncpu : 1);
    s->loops = xcalloc(s->nloops, sizeof(*s->loops));
    make_metrics(s);
    for (unsigned i = 0; i < s->nloops; i++) {
        s->loops[i].listen_fd = listen_socket(cfg, &port, err);
        if (s->loops[i].listen_fd < 0 || start_loop(s, &s->loops[i], err) < 0) {
            if (s->loops[i].listen_fd >= 0)
                close(s->loops[i].listen_fd);
            if (s->loops[i].ev)
                ev_free(s->loops[i].ev);
            s->nloops = i;
            http_server_stop(s);
            return err->code;
        }
    }
    s->port = port;
    *out = s;
    return 0;
}

int http_server_port(const struct http_server *s)
{
    return s->port;
}

size_t http_server_inflight(const struct http_server *s)
{
    return atomic_load(&s->inflight);
}

static void loop_quiesce(void *arg)
{
    struct srv_loop *l = arg;

    close_listener(l);
    for (struct ws_link *k = l->wss; k; k = k->next)
        ws_conn_shutdown(k->ws);
}

size_t http_server_drain(struct http_server *s)
{
    uint64_t deadline = time_mono_ms() + (uint64_t)s->cfg.shutdown_grace_ms;

    atomic_store(&s->draining, true);
    for (unsigned i = 0; i < s->nloops; i++)
        ev_post(s->loops[i].ev, loop_quiesce, &s->loops[i]);
    while (atomic_load(&s->inflight) > 0 && time_mono_ms() < deadline)
        usleep(10000);
    return atomic_load(&s->inflight);
}

static void loop_shutdown_mhd(void *arg);

/* On the loop: WebSockets still open get no more time; their teardown (on_close, then the
 * upgrade handle's release) is posted, so MHD stops in a second step after it. */
static void loop_shutdown(void *arg)
{
    struct srv_loop *l = arg;

    for (struct ws_link *k = l->wss; k; k = k->next)
        ws_conn_abort(k->ws);
    while (l->suspended) /* their handlers never answered: MHD cannot stop with them */
        http_respond_error(&l->suspended->pub, 503, "unavailable", "server shutting down");
    ev_post(l->ev, loop_shutdown_mhd, l);
}

/* Then every connection and the daemon, then the loop itself. */
static void loop_shutdown_mhd(void *arg)
{
    struct srv_loop *l = arg;

    ASSERT(l->wss == NULL);
    close_listener(l);
    for (struct http_conn *c = l->conns; c; c = c->next)
        if (c->fd >= 0)
            shutdown(c->fd, SHUT_RDWR);
    MHD_run(l->mhd);
    MHD_stop_daemon(l->mhd);
    l->mhd = NULL;
    ev_timer_cancel(l->ev, l->mhd_timer);
    ev_timer_cancel(l->ev, l->sweep_timer);
    l->mhd_timer = l->sweep_timer = NULL;
    while (l->nspare > 0)
        arena_free(l->spare[--l->nspare]);
    ev_stop(l->ev);
}

void http_server_stop(struct http_server *s)
{
    for (unsigned i = 0; i < s->nloops; i++)
        ev_post(s->loops[i].ev, loop_shutdown, &s->loops[i]);
    for (unsigned i = 0; i < s->nloops; i++) {
        pthread_join(s->loops[i].thread, NULL);
        ev_free(s->loops[i].ev);
        pthread_mutex_destroy(&s->loops[i].ready_lock);
        pthread_cond_destroy(&s->loops[i].ready_cond);
    }
    free(s->loops);
    free(s->duration_by_route);
    free(s);
}
