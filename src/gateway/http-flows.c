/*
 * gateway, HTTP side: the workflow engine seen and steered by platform operators
 * (docs/operations-flows.md).
 *
 *   GET  /api/flows?name=&status=&key=&since=&until=&limit=&before=   a page of workflows
 *   GET  /api/flows/{id}                                               one, with its steps
 *   GET  /api/flows/{id}/log?from=&limit=&wait=                        its log (long poll)
 *   POST /api/flows/{id}/cancel, POST /api/flows/{id}/retry            steering
 *
 * Workflows belong to the platform, not to a workspace, so every route is for operators
 * (users.operator) only. A handler reads the credential and the parameters on the loop, then
 * on the pool loads the caller from the store (never from the loop's caller cache: the
 * operator flag is read there), refuses a non-operator before saying anything about its
 * parameters, and does the engine's work, building the whole body; the completion sends it.
 * A log read that waits holds a worker for up to WAIT_MAX_S, so at most half of the workers
 * wait at once; past that a read answers at once and the client asks again.
 */
#include <jansson.h>
#include <stdlib.h>
#include <time.h>

#include "base/base.h"
#include "flow/flow.h"
#include "gateway/gw-int.h"
#include "http/http.h"

#define LIST_LIMIT_DEFAULT 100
#define LIST_LIMIT_MAX     1000 /* what flow_list_json() gives at most */
#define LOG_LIMIT_DEFAULT  500
#define LOG_LIMIT_MAX      1000 /* lines are at most 16 KiB: 16 MiB of text */
#define WAIT_MAX_S         30
#define NAME_MAX_BYTES     64 /* workflow names: ^[a-z][a-z0-9_.-]{0,62}$ */
#define KEY_MAX_BYTES      256
#define BODY_MAX           (64u << 20) /* a shown workflow carries its steps' outputs */
#define LOG_ARENA          (24u << 20)

static const char json_ct[] = "application/json";

enum flow_op { OP_LIST, OP_SHOW, OP_LOG, OP_CANCEL, OP_RETRY };

/* One request's state, in its arena; only the worker touches it while the work runs. */
struct flow_req {
    struct gw *g;
    struct http_req *req;
    enum flow_op op;
    struct gw_caller caller;
    int parse_rc; /* what the loop found wrong with the parameters, told to operators only */
    struct err parse_err;
    struct slice id; /* {id}, checked */
    struct flow_filter filter;
    uint64_t from, wait_ms;
    size_t limit;
    int rc;
    struct err err;
    struct sbuf body;
};

/* ---------------------------------------------------------------- parameters */

/* Query parameter <name>, SLICE_NULL when absent or empty. */
static struct slice param(struct http_req *req, const char *name)
{
    struct slice v = http_req_query(req, name);

    return v.len > 0 ? v : SLICE_NULL;
}

static int param_text(struct http_req *req, const char *name, size_t max, struct slice *out,
                      struct err *err)
{
    *out = param(req, name);
    return out->ptr ? gw_db_check_text(name, *out, max, false, err) : 0;
}

/* A whole number <lo>..<hi>; <def> when absent. */
static int param_uint(struct http_req *req, const char *name, uint64_t lo, uint64_t hi,
                      uint64_t def, uint64_t *out, struct err *err)
{
    struct slice v = param(req, name);

    *out = def;
    if (v.ptr == NULL)
        return 0;
    if (slice_to_u64(v, out) < 0 || *out < lo || *out > hi)
        return err_set(err, ERR_INVALID, "%s: must be a whole number from %" PRIu64 " to %" PRIu64,
                       name, lo, hi);
    return 0;
}

/* RFC 3339 or Unix milliseconds; 0 when absent. */
static int param_time(struct http_req *req, const char *name, uint64_t *out, struct err *err)
{
    struct slice v = param(req, name);

    *out = 0;
    if (v.ptr == NULL)
        return 0;
    if (parse_time_ms(v, out) == 0)
        return 0;
    return err_set(err, ERR_INVALID,
                   "%s: must be an RFC 3339 date-time with a zone (2026-01-05T10:00:00Z) or "
                   "Unix milliseconds",
                   name);
}

static int param_status(struct http_req *req, int *out, struct err *err)
{
    struct slice v = param(req, "status");
    enum flow_status st;

    *out = -1;
    if (v.ptr == NULL)
        return 0;
    if (!flow_status_parse(v, &st))
        return err_set(err, ERR_INVALID,
                       "status: must be PENDING, RUNNING, WAITING, SUCCEEDED, FAILED or CANCELLED");
    *out = (int)st;
    return 0;
}

static int parse_list(struct flow_req *f, struct err *err)
{
    struct http_req *req = f->req;
    struct flow_filter *flt = &f->filter;
    struct slice name;
    uint64_t limit;
    int rc;

    if ((rc = param_text(req, "name", NAME_MAX_BYTES, &name, err)) < 0 ||
        (rc = param_status(req, &flt->status, err)) < 0 ||
        (rc = param_text(req, "key", KEY_MAX_BYTES, &flt->key, err)) < 0 ||
        (rc = param_time(req, "since", &flt->since_ms, err)) < 0 ||
        (rc = param_time(req, "until", &flt->until_ms, err)) < 0 ||
        (rc = param_uint(req, "limit", 1, LIST_LIMIT_MAX, LIST_LIMIT_DEFAULT, &limit, err)) < 0)
        return rc;
    flt->name = name.ptr; /* http_req_query() NUL-terminates */
    flt->limit = f->limit = (size_t)limit;
    flt->before = param(req, "before");
    if (flt->before.ptr != NULL && !id_valid(flt->before))
        return err_set(err, ERR_INVALID, "before: must be a workflow id (a page's \"next\")");
    return 0;
}

static int parse_log(struct flow_req *f, struct err *err)
{
    uint64_t limit, wait_s;
    int rc;

    if ((rc = param_uint(f->req, "from", 0, INT64_MAX, 0, &f->from, err)) < 0 ||
        (rc = param_uint(f->req, "limit", 1, LOG_LIMIT_MAX, LOG_LIMIT_DEFAULT, &limit, err)) < 0 ||
        (rc = param_uint(f->req, "wait", 0, WAIT_MAX_S, 0, &wait_s, err)) < 0)
        return rc;
    f->limit = (size_t)limit;
    f->wait_ms = wait_s * 1000;
    return 0;
}

static int parse(struct flow_req *f, struct err *err)
{
    if (f->op == OP_LIST)
        return parse_list(f, err);
    f->id = http_req_param(f->req, "id");
    if (!id_valid(f->id))
        return err_set(err, ERR_INVALID, "id: not a workflow id");
    return f->op == OP_LOG ? parse_log(f, err) : 0;
}

/* ---------------------------------------------------------------- the work */

/* The JSON array flow_list_json() wrote at <arr> holds <limit> workflows: its last id into
 * <next> (a page follows). */
static void page_next(struct slice arr, size_t limit, char next[37])
{
    json_t *v = json_loadb(arr.ptr, arr.len, 0, NULL);
    const char *id = json_string_value(json_object_get(json_array_get(v, limit - 1), "id"));

    next[0] = '\0';
    if (json_array_size(v) == limit && id != NULL)
        snprintf(next, 37, "%s", id);
    json_decref(v);
}

static int op_list(struct flow_req *f, struct jw *w, struct err *err)
{
    char next[37];
    size_t start;
    int rc;

    jw_obj_begin(w);
    jw_key(w, "workflows");
    start = f->body.len;
    if ((rc = flow_list_json(f->g->store, &f->filter, w, err)) < 0)
        return rc;
    page_next((struct slice){f->body.buf + start, f->body.len - start}, f->limit, next);
    jw_key(w, "next");
    if (next[0])
        jw_str(w, next);
    else
        jw_null(w);
    jw_obj_end(w);
    return 0;
}

/* A worker for a long wait, when fewer than half of them wait already. */
static bool waiter_take(struct gw *g)
{
    unsigned cap = pool_threads(g->workers) / 2;

    if (atomic_fetch_add(&g->flow_waiters, 1) < (cap > 0 ? cap : 1))
        return true;
    atomic_fetch_sub(&g->flow_waiters, 1);
    return false;
}

struct log_page {
    struct flow_log_line *lines;
    size_t n;
    uint64_t skipped, next;
    bool ended;
};

/* Reads from p->next, adding to what p holds (nothing, or lines dropped before p->next). */
static int log_read(struct flow_req *f, struct arena *a, struct log_page *p, struct err *err)
{
    uint64_t skipped = 0;
    int rc =
        flow_log_read(f->g->store, a, f->id, p->next, f->limit, &p->lines, &p->n, &skipped, err);

    if (rc < 0)
        return rc;
    p->skipped += skipped;
    p->next = p->n > 0 ? p->lines[p->n - 1].n + 1 : p->next + skipped;
    return 0;
}

/* Reads a page; when it is empty and the workflow goes on, waits for a line first (if
 * asked and a worker may wait). p->ended: final, and nothing after this page. */
static int log_page(struct flow_req *f, struct arena *a, struct log_page *p, struct err *err)
{
    struct flow *flow = f->g->flow;
    bool waited = false;
    int rc = log_read(f, a, p, err);

    while (rc == 0) {
        /* 1: more to read, 0: final and all read, ERR_TIMEOUT: none yet, ERR_NOTFOUND */
        rc = flow_log_follow(flow, f->id, p->next, 0, err);
        p->ended = rc == 0;
        if (rc < 0 && rc != ERR_TIMEOUT)
            return rc;
        rc = 0;
        if (p->n > 0 || p->ended || f->wait_ms == 0 || waited || !waiter_take(f->g))
            break;
        waited = true;
        rc = flow_log_follow(flow, f->id, p->next, f->wait_ms, err);
        atomic_fetch_sub(&f->g->flow_waiters, 1);
        if (rc == 1)
            rc = log_read(f, a, p, err);
        else if (rc == 0 || rc == ERR_TIMEOUT)
            rc = 0;
    }
    return rc;
}

static int op_log(struct flow_req *f, struct jw *w, struct err *err)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = LOG_ARENA});
    struct log_page p = {.next = f->from};
    char ts[32];
    int rc = log_page(f, a, &p, err);

    if (rc == 0) {
        jw_obj_begin(w);
        jw_key(w, "lines");
        jw_arr_begin(w);
        for (size_t i = 0; i < p.n; i++) {
            jw_obj_begin(w);
            jw_key(w, "n");
            jw_uint(w, p.lines[i].n);
            time_rfc3339_ms(p.lines[i].ts_ms, ts);
            jw_key(w, "ts");
            jw_str(w, ts);
            jw_key(w, "text");
            jw_slice(w, p.lines[i].text);
            jw_obj_end(w);
        }
        jw_arr_end(w);
        jw_key(w, "skipped");
        jw_uint(w, p.skipped);
        jw_key(w, "next");
        jw_uint(w, p.next);
        jw_key(w, "ended");
        jw_bool(w, p.ended);
        jw_obj_end(w);
    }
    arena_free(a);
    return rc;
}

/* Cancel or retry, audited; answers with the status the workflow has now. */
static int op_steer(struct flow_req *f, struct jw *w, struct err *err)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 1u << 20});
    bool cancel = f->op == OP_CANCEL;
    struct flow_outcome out = {0};
    struct err werr = {0};
    int rc = cancel ? flow_cancel(f->g->flow, f->id, err) : flow_retry(f->g->flow, f->id, err);

    gw_audit(f->g, slice_from_cstr(f->caller.user.id), cancel ? "flow.cancel" : "flow.retry", f->id,
             rc == 0 ? GW_OUTCOME_OK : GW_OUTCOME_ERROR, NULL);
    if (rc == 0) {
        /* timeout 0: the status now, final or not (ERR_TIMEOUT says it is not final) */
        rc = flow_wait(f->g->flow, a, f->id, 0, &out, &werr);
        if (rc == ERR_TIMEOUT)
            rc = 0;
        else if (rc < 0)
            *err = werr;
    }
    if (rc == 0) {
        jw_obj_begin(w);
        jw_key(w, "id");
        jw_slice(w, f->id);
        jw_key(w, "status");
        jw_str(w, flow_status_name(out.status));
        jw_obj_end(w);
    }
    arena_free(a);
    return rc;
}

/* The caller must be a platform operator. */
static int authorize(struct flow_req *f, struct err *err)
{
    int rc = gw_caller_load(&f->caller, f->req->arena, SLICE_NULL, err);

    if (rc < 0)
        return rc;
    if (!f->caller.user.is_operator) {
        if (f->op == OP_CANCEL || f->op == OP_RETRY)
            gw_audit(f->g, slice_from_cstr(f->caller.user.id),
                     f->op == OP_CANCEL ? "flow.cancel" : "flow.retry", f->id, GW_OUTCOME_DENIED,
                     NULL);
        return err_set(err, ERR_FORBIDDEN,
                       "workflows belong to the platform: only a platform operator may see or "
                       "steer them");
    }
    if (f->g->flow == NULL)
        return err_set(err, ERR_UNAVAILABLE, "no workflow engine runs in this process");
    if (f->parse_rc < 0) {
        *err = f->parse_err;
        return f->parse_rc;
    }
    return 0;
}

static void flow_work(void *arg)
{
    struct flow_req *f = arg;
    struct jw w;
    int rc;

    if ((rc = authorize(f, &f->err)) < 0) {
        f->rc = rc;
        return;
    }
    sbuf_init(&f->body, BODY_MAX);
    jw_init(&w, &f->body);
    switch (f->op) {
    case OP_LIST:
        rc = op_list(f, &w, &f->err);
        break;
    case OP_SHOW:
        rc = flow_show_json(f->g->store, f->id, &w, &f->err);
        break;
    case OP_LOG:
        rc = op_log(f, &w, &f->err);
        break;
    default:
        rc = op_steer(f, &w, &f->err);
        break;
    }
    sbuf_putc(&f->body, '\n');
    if (rc == 0 && f->body.err)
        rc = err_set(&f->err, ERR_LIMIT, "response: over %u MiB", BODY_MAX >> 20);
    f->rc = rc;
}

static void flow_done(void *arg)
{
    struct flow_req *f = arg;

    if (f->rc == 0) {
        http_respond_sbuf(f->req, 200, json_ct, &f->body);
        return;
    }
    sbuf_release(&f->body);
    if (f->rc == ERR_UNAUTHENTICATED) {
        gw_respond_unauthenticated(f->req, &f->err);
        return;
    }
    if (f->rc != ERR_INVALID && f->rc != ERR_NOTFOUND && f->rc != ERR_CONFLICT &&
        f->rc != ERR_FORBIDDEN && f->rc != ERR_LIMIT && f->rc != ERR_UNAVAILABLE)
        LOG_ERROR(&f->req->log, "gateway.flow_request_failed", LF_STR("error", f->err.msg),
                  LF_INT("code", f->rc));
    http_respond_err(f->req, &f->err);
}

static void flow_begin(void *arg, struct http_req *req, enum flow_op op)
{
    struct flow_req *f = arena_zalloc(req->arena, sizeof(*f));
    struct err err = {0};

    if (f == NULL) {
        http_respond_error(req, 503, "limit", "out of request memory");
        return;
    }
    f->g = arg;
    f->req = req;
    f->op = op;
    f->caller.g = f->g;
    f->body = SBUF_INIT(0);
    if (gw_authn_begin(f->g, req, &f->caller.who, &err) < 0) {
        gw_respond_unauthenticated(req, &err);
        return;
    }
    f->parse_rc = parse(f, &f->parse_err);
    pool_run(f->g->workers, flow_work, flow_done, f);
}

static void list_handler(void *arg, struct http_req *req)
{
    flow_begin(arg, req, OP_LIST);
}

static void show_handler(void *arg, struct http_req *req)
{
    flow_begin(arg, req, OP_SHOW);
}

static void log_handler(void *arg, struct http_req *req)
{
    flow_begin(arg, req, OP_LOG);
}

static void cancel_handler(void *arg, struct http_req *req)
{
    flow_begin(arg, req, OP_CANCEL);
}

static void retry_handler(void *arg, struct http_req *req)
{
    flow_begin(arg, req, OP_RETRY);
}

int gw_flow_routes_add(struct gw *g, struct http_router *r, struct err *err)
{
    static const struct http_route_opts small = {.max_body_bytes = 1024};

    if (http_router_add(r, HTTP_GET, "/api/flows", list_handler, g, &small, err) < 0 ||
        http_router_add(r, HTTP_GET, "/api/flows/{id}", show_handler, g, &small, err) < 0 ||
        http_router_add(r, HTTP_GET, "/api/flows/{id}/log", log_handler, g, &small, err) < 0 ||
        http_router_add(r, HTTP_POST, "/api/flows/{id}/cancel", cancel_handler, g, &small, err) <
            0 ||
        http_router_add(r, HTTP_POST, "/api/flows/{id}/retry", retry_handler, g, &small, err) < 0)
        return err->code;
    return 0;
}
