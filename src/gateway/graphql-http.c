/*
 * gateway: GraphQL over HTTP at /graphql (docs/graphql.md, "HTTP").
 *
 * POST takes {query, operationName, variables, extensions} as application/json; GET takes the
 * same as query parameters and runs queries only (a mutation gets 405 with Allow: POST). GET
 * with Upgrade: websocket goes to graphql-ws.c.
 *
 * The answer is application/graphql-response+json when the client accepts it, with 400 for a
 * request that cannot execute (parse, validation and request errors) and 200 otherwise; else
 * application/json, 200 for every well-formed request. A malformed request (body, query,
 * variables) is 400 either way, with a GraphQL-shaped error.
 *
 * Each request is authenticated the way the REST routes are (gw_authn_begin on the loop,
 * gw_caller_load on the pool: live session, membership of the active workspace, or the same
 * from the loop's caller cache when nothing was written since it was read); a request that
 * fails it fails whole with 401 or 403. Only a document that is nothing but introspection may
 * come without a credential. The document is prepared on the loop (its cache); it then
 * executes on the worker right after the authentication when a field it may reach blocks,
 * else on the loop once the authentication is back. A cached caller with a document that
 * does not block is answered on the loop at once.
 */
#include <jansson.h>
#include <stdlib.h>

#include "base/base.h"
#include "gateway/gw-int.h"
#include "gql/gql.h"
#include "http/http.h"

#define RESPONSE_MAX (16u << 20)
#define BODY_DEPTH   64 /* JSON nesting a request body may have */

struct gqh {
    struct gw *g;
    struct http_req *req;
    enum gw_media media;
    struct gw_caller caller;
    struct slice ws; /* X-Slipway-Workspace */
    struct gw_gql_request in;
    struct gql_doc_ref *doc;
    bool blocking, executed;
    int rc; /* of the authentication on the pool */
    struct err err;
    int exec_rc;
    struct sbuf out;
};

static void gqh_release(void *arg)
{
    struct gqh *st = arg;

    sbuf_release(&st->out);
    if (st->doc != NULL)
        gql_doc_ref_put(st->doc);
    json_decref(st->in.variables);
}

static const char *content_type(enum gw_media m)
{
    return m == GW_MEDIA_GRAPHQL_JSON ? "application/graphql-response+json; charset=utf-8"
                                      : "application/json; charset=utf-8";
}

/* The whole request fails: {"errors":[{message, extensions.code}]} with <status>. */
static void respond_error(struct gqh *st, int status, int code, const char *msg)
{
    struct sbuf b = SBUF_INIT(16u << 10);
    struct jw w;

    jw_init(&w, &b);
    jw_obj_begin(&w);
    jw_key(&w, "errors");
    jw_arr_begin(&w);
    gw_gql_error_write(&w, code, msg);
    jw_arr_end(&w);
    jw_obj_end(&w);
    sbuf_putc(&b, '\n');
    if (code == ERR_UNAUTHENTICATED &&
        http_add_header(st->req, "WWW-Authenticate", "Bearer realm=\"slipway\"") < 0) {
        sbuf_release(&b);
        http_respond_error(st->req, 503, "limit", "out of request memory");
        return;
    }
    http_respond_sbuf(st->req, status, content_type(st->media), &b);
}

/* A failure of the caller's authentication or membership, or of the store behind them. */
static void respond_caller_error(struct gqh *st, const struct err *err)
{
    if (err->code != ERR_UNAUTHENTICATED && err->code != ERR_FORBIDDEN && err->code != ERR_INVALID)
        LOG_ERROR(&st->req->log, "gateway.graphql_auth_failed", LF_STR("error", err->msg),
                  LF_INT("code", err->code));
    respond_error(st, err_http_status(err->code), err->code, err->msg);
}

/* Errors that stop a document before execution: 400 with graphql-response+json, else 200. */
static void respond_request_errors(struct gqh *st, const struct gql_error *errs)
{
    struct sbuf b = SBUF_INIT(RESPONSE_MAX);

    gw_gql_errors_response(&b, errs);
    sbuf_putc(&b, '\n');
    http_respond_sbuf(st->req, st->media == GW_MEDIA_GRAPHQL_JSON ? 400 : 200,
                      content_type(st->media), &b);
}

static void respond_request_error(struct gqh *st, int code, const char *msg)
{
    respond_error(st, st->media == GW_MEDIA_GRAPHQL_JSON ? 400 : 200, code, msg);
}

/* ---------------------------------------------------------------- reading the request */

static int read_post(struct gqh *st, int *status, struct err *err)
{
    struct http_req *req = st->req;
    json_t *o = NULL;
    int rc;

    if (!gw_gql_content_is_json(http_req_header(req, "Content-Type"))) {
        *status = 415;
        return err_set(err, ERR_INVALID, "Content-Type: must be application/json");
    }
    rc = json_read_object(req->body, (size_t)st->g->cfg.gql_max_body, BODY_DEPTH, &o, err);
    if (rc == 0)
        rc = gw_gql_request_from_json(o, req->arena, &st->in, err);
    json_decref(o);
    return rc;
}

static int read_get(struct gqh *st, struct err *err)
{
    struct http_req *req = st->req;
    struct slice q = http_req_query(req, "query");
    struct slice name = http_req_query(req, "operationName");

    if (q.ptr == NULL || q.len == 0)
        return err_set(err, ERR_INVALID, "query: required (the GraphQL document)");
    st->in.query = q;
    st->in.operation_name = name.len > 0 ? name : SLICE_NULL;
    return gw_gql_variables_parse(http_req_query(req, "variables"), (size_t)st->g->cfg.gql_max_body,
                                  &st->in.variables, err);
}

/* ---------------------------------------------------------------- executing */

static void execute(struct gqh *st)
{
    struct gql_exec x = {.schema = st->g->schema,
                         .doc = st->doc,
                         .operation_name = st->in.operation_name,
                         .variables = st->in.variables,
                         .context = &st->caller,
                         .a = st->req->arena};

    st->exec_rc = gql_execute(&x, &st->out);
    st->executed = true;
}

static void respond_result(struct gqh *st)
{
    if (st->exec_rc == ERR_LIMIT) {
        sbuf_reset(&st->out);
        respond_error(st, 500, ERR_LIMIT,
                      "the response does not fit in its memory: select fewer fields");
        return;
    }
    sbuf_putc(&st->out, '\n');
    http_respond_sbuf(st->req,
                      st->exec_rc == ERR_INVALID && st->media == GW_MEDIA_GRAPHQL_JSON ? 400 : 200,
                      content_type(st->media), &st->out);
}

/* On the pool: who is calling (unless the loop's cache knew), and the execution too when the
 * document blocks. */
static void gqh_work(void *arg)
{
    struct gqh *st = arg;

    if (!st->caller.cached)
        st->rc = gw_caller_load(&st->caller, st->req->arena, st->ws, &st->err);
    if (st->rc == 0 && st->blocking)
        execute(st);
}

static void gqh_done(void *arg)
{
    struct gqh *st = arg;

    if (st->rc == 0)
        gw_ccache_put(st->g, &st->caller);
    if (st->rc < 0) {
        respond_caller_error(st, &st->err);
        return;
    }
    if (!st->executed)
        execute(st);
    respond_result(st);
}

/* The document and its operation; 0 when it may execute, else answered already. */
static int prepare(struct gqh *st)
{
    struct http_req *req = st->req;
    struct gql_error *errs = NULL;
    enum gql_op op;
    struct err err = {0};

    if (gw_gql_prepare(st->g, req->arena, st->in.query, &st->doc, &errs) < 0) {
        if (errs == NULL)
            respond_request_error(st, ERR_INVALID, "the document could not be prepared");
        else
            respond_request_errors(st, errs);
        return -1;
    }
    if (gql_doc_operation(st->doc, st->in.operation_name, &op, &st->blocking, &err) < 0) {
        respond_request_error(st, ERR_INVALID, err.msg);
        return -1;
    }
    if (op == GQL_OP_MUTATION && req->method != HTTP_POST) {
        if (http_add_header(req, "Allow", "POST") < 0)
            http_respond_error(req, 503, "limit", "out of request memory");
        else
            respond_error(st, 405, ERR_INVALID, "mutations need POST");
        return -1;
    }
    if (op == GQL_OP_SUBSCRIPTION) {
        respond_request_error(
            st, ERR_INVALID, "subscriptions run over WebSocket (graphql-transport-ws) at /graphql");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- the route */

static bool wants_websocket(struct http_req *req)
{
    return req->method == HTTP_GET && http_req_header(req, "Upgrade").ptr != NULL;
}

static struct gqh *gqh_new(struct gw *g, struct http_req *req)
{
    struct gqh *st = arena_zalloc(req->arena, sizeof(*st));

    if (st == NULL)
        return NULL;
    st->g = g;
    st->req = req;
    st->out = SBUF_INIT(RESPONSE_MAX);
    st->caller.g = g;
    if (arena_on_free(req->arena, gqh_release, st) < 0)
        return NULL;
    return st;
}

/* Reads, authenticates on the loop and prepares; 0 when the request goes on. */
static int begin(struct gqh *st, bool *authed)
{
    struct http_req *req = st->req;
    struct err err = {0};
    int status = 400;

    if ((req->method == HTTP_POST ? read_post(st, &status, &err) : read_get(st, &err)) < 0 ||
        gw_workspace_header(req, &st->ws, &err) < 0) {
        respond_error(st, status, err.code, err.msg);
        return -1;
    }
    *authed = gw_authn_present(req);
    if (*authed && gw_authn_begin(st->g, req, &st->caller.who, &err) < 0) {
        respond_error(st, 401, ERR_UNAUTHENTICATED, err.msg);
        return -1;
    }
    /* A document that is not GraphQL, breaks a rule or a limit is answered as such whoever
     * sends it (the schema is public through introspection anyway); only then does running
     * it need a caller. */
    if (prepare(st) < 0)
        return -1;
    if (!*authed && !gw_gql_introspection_only(req->arena, st->in.query, st->in.operation_name,
                                               &st->g->limits)) {
        respond_error(st, 401, ERR_UNAUTHENTICATED,
                      "authentication required: send Authorization: Bearer <token> or log in "
                      "(only introspection is open)");
        return -1;
    }
    return 0;
}

static void graphql_handler(void *arg, struct http_req *req)
{
    struct gw *g = arg;
    struct gqh *st;
    bool authed = false;

    if (wants_websocket(req)) {
        gw_graphql_ws_accept(g, req);
        return;
    }
    if ((st = gqh_new(g, req)) == NULL) {
        http_respond_error(req, 503, "limit", "out of request memory");
        return;
    }
    st->media = gw_gql_accept(http_req_header(req, "Accept"));
    if (st->media == GW_MEDIA_NONE) {
        st->media = GW_MEDIA_JSON;
        respond_error(st, 406, ERR_INVALID,
                      "Accept: must allow application/graphql-response+json or application/json");
        return;
    }
    if (begin(st, &authed) < 0)
        return;
    if (!authed) { /* introspection only: nothing to check, nothing that blocks */
        execute(st);
        respond_result(st);
        return;
    }
    /* A caller this loop knows, and nothing to read from the store: no trip to the pool. */
    if (gw_ccache_load(g, &st->caller, req->arena, st->ws, &st->rc, &st->err) &&
        (st->rc < 0 || !st->blocking)) {
        gqh_done(st);
        return;
    }
    pool_run(g->workers, gqh_work, gqh_done, st);
}

int gw_graphql_routes_add(struct gw *g, struct http_router *r, struct err *err)
{
    struct http_route_opts opts = {.max_body_bytes = g->cfg.gql_max_body};

    return http_router_add(r, HTTP_GET | HTTP_POST, "/graphql", graphql_handler, g, &opts, err);
}
