/*
 * gateway: GraphQL over WebSocket, the graphql-transport-ws protocol (docs/graphql.md,
 * "WebSocket").
 *
 * A connection waits for connection_init (gateway.graphql_ws_init_timeout, else 4408). Its
 * payload carries the credential ({"authorization": "Bearer …"} or {"token": …}) and may name
 * the active workspace ({"workspace": …}); the credential is checked like a request's
 * (gw_authn_token on the loop, gw_caller_load on the pool) and a refusal closes with 4403.
 * Then connection_ack, and subscribe messages: each runs the same check again (live session,
 * membership now), so a member removed meanwhile gets an error message for it. A query or a
 * mutation answers with next and complete; a subscription starts a stream whose events each
 * become a next message, until the client completes it, the connection goes, or the source
 * ends it with an error (the subscriber lost the workspace or the role it needs).
 *
 * Protocol faults close the connection: a second connection_init 4429, subscribe before the
 * ack 4401, an id in use 4409, anything unreadable or unexpected 4400. Outgoing messages wait
 * in the http layer's send buffer (gateway.graphql_ws_send_buffer); a client that lets it
 * fill up is closed with 1008 rather than skipped silently.
 *
 * Everything here runs on the connection's loop except the checks (and the execution of a
 * blocking query or mutation), which run on the pool with a reference on the connection;
 * a connection is freed when it has closed and no work of it is out.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "gateway/gw-int.h"
#include "gql/gql.h"
#include "http/http.h"

#define SUBPROTOCOL     "graphql-transport-ws"
#define MSG_DEPTH       64
#define RESPONSE_MAX    (16u << 20)
#define OP_ARENA_BUDGET (8u << 20)
#define ID_MAX          256 /* bytes of an operation id */
#define PING_MS         30000

enum conn_state { C_WAIT_INIT, C_CHECKING, C_READY };
enum op_state { OP_CHECKING, OP_STREAMING };

struct op;

struct conn {
    struct gw *g;
    struct http_ws *ws; /* NULL once closed */
    struct ev *loop;
    unsigned refs; /* the socket's, and one per piece of work on the pool */
    enum conn_state state;
    bool init_seen, send_failed;
    struct ev_timer *init_timer, *recheck_timer;
    struct gw_authn who; /* from connection_init */
    char workspace[GW_ID_MAX + 1];
    bool has_workspace;
    struct op *ops; /* checking and streaming, by id */
    size_t nops;
    /* the check of the credential and workspace on the pool (connection_init, rechecks) */
    struct arena *check_arena;
    int check_rc;
    struct err check_err;
};

struct op {
    struct op *next;
    struct conn *c;
    struct arena *a; /* the operation's memory */
    char *id;
    enum op_state state;
    bool linked;    /* in c->ops */
    bool cancelled; /* completed by the client (or the connection went) while checking */
    struct gw_gql_request in;
    struct gql_doc_ref *doc;
    enum gql_op kind;
    bool blocking, executed;
    struct gw_caller caller;
    struct gql_exec x;
    int rc; /* of the check */
    struct err err;
    int exec_rc;
    struct sbuf out;
    void (*cancel)(void *state);
    void *cancel_state;
};

static const struct log_ctx ws_log = {.svc = "gateway"};

/* ---------------------------------------------------------------- connection life */

static void conn_unref(struct conn *c)
{
    if (--c->refs > 0)
        return;
    DASSERT(c->ops == NULL);
    explicit_bzero(&c->who, sizeof(c->who));
    free(c);
}

static void close_with(struct conn *c, int code, const char *reason)
{
    if (c->ws != NULL)
        http_ws_close(c->ws, code, reason);
}

/* ---------------------------------------------------------------- sending */

static void send_buf(struct conn *c, struct sbuf *b)
{
    if (c->ws == NULL || c->send_failed)
        return;
    if (b->err != 0) {
        close_with(c, 4500, "Internal error: a message did not fit in memory");
        return;
    }
    /* ERR_LIMIT: the reader is too slow; the http layer is closing it with 1008 and why. */
    if (http_ws_send(c->ws, true, sbuf_slice(b)) < 0) {
        c->send_failed = true;
        LOG_INFO(&ws_log, "gateway.graphql_ws_slow_consumer",
                 LF_INT("send_buffer", c->g->cfg.ws_send_buffer));
    }
}

static void send_simple(struct conn *c, const char *type)
{
    struct sbuf b = SBUF_INIT(256);

    sbuf_printf(&b, "{\"type\":\"%s\"}", type);
    send_buf(c, &b);
    sbuf_release(&b);
}

/* {"id":…,"type":<type>,"payload":<payload>} (no payload when <payload> is NULL). */
static void send_op(struct conn *c, const char *id, const char *type, const struct sbuf *payload)
{
    struct sbuf b = SBUF_INIT(RESPONSE_MAX + 1024);

    sbuf_puts(&b, "{\"id\":");
    json_escape(&b, slice_from_cstr(id));
    sbuf_printf(&b, ",\"type\":\"%s\"", type);
    if (payload != NULL) {
        sbuf_puts(&b, ",\"payload\":");
        sbuf_put_slice(&b, sbuf_slice(payload));
    }
    sbuf_putc(&b, '}');
    send_buf(c, &b);
    sbuf_release(&b);
}

/* An error message for operation <id>: one error with <msg> and the code of <code>. */
static void send_error(struct conn *c, const char *id, int code, const char *msg)
{
    struct sbuf p = SBUF_INIT(16u << 10);
    struct jw w;

    jw_init(&w, &p);
    jw_arr_begin(&w);
    gw_gql_error_write(&w, code, msg);
    jw_arr_end(&w);
    send_op(c, id, "error", &p);
    sbuf_release(&p);
}

/* An error message for <id> carrying <errs> (parse and validation errors). */
static void send_errors(struct conn *c, const char *id, const struct gql_error *errs)
{
    struct sbuf p = SBUF_INIT(RESPONSE_MAX);
    struct jw w;

    jw_init(&w, &p);
    jw_arr_begin(&w);
    gql_errors_write(&w, errs);
    jw_arr_end(&w);
    send_op(c, id, "error", &p);
    sbuf_release(&p);
}

/* An error message for <id> with the "errors" of a whole response <resp> (a request error). */
static void send_response_errors(struct conn *c, const char *id, const struct sbuf *resp)
{
    json_t *r = json_loadb(resp->buf, resp->len, 0, NULL);
    json_t *errs = r ? json_object_get(r, "errors") : NULL;
    struct sbuf p = SBUF_INIT(RESPONSE_MAX);
    char *text = errs && json_is_array(errs) ? json_dumps(errs, JSON_COMPACT) : NULL;

    if (text != NULL) {
        sbuf_puts(&p, text);
        send_op(c, id, "error", &p);
    } else {
        send_error(c, id, ERR_INVALID, "the operation could not start");
    }
    free(text);
    sbuf_release(&p);
    json_decref(r);
}

/* ---------------------------------------------------------------- operations */

static struct op *op_find(struct conn *c, const char *id)
{
    for (struct op *o = c->ops; o != NULL; o = o->next)
        if (strcmp(o->id, id) == 0)
            return o;
    return NULL;
}

static void op_unlink(struct op *op)
{
    struct op **p = &op->c->ops;

    if (!op->linked)
        return;
    while (*p != op)
        p = &(*p)->next;
    *p = op->next;
    op->linked = false;
    op->c->nops--;
}

static void op_free(struct op *op)
{
    op_unlink(op);
    sbuf_release(&op->out);
    if (op->doc != NULL)
        gql_doc_ref_put(op->doc);
    json_decref(op->in.variables);
    arena_free(op->a);
    free(op);
}

/* Stops a running stream: no emit after this. */
static void op_end_stream(struct op *op)
{
    void (*cancel)(void *) = op->cancel;

    op->cancel = NULL;
    if (cancel != NULL)
        cancel(op->cancel_state);
    op_free(op);
}

/* The source of a stream ends it: with <err> (the subscriber lost its right to it), or, with
 * NULL, because it has nothing more to give (a deploy's log once the deploy ended). */
static void op_stream_end(void *owner, const struct err *err)
{
    struct op *op = owner;

    if (op->state != OP_STREAMING || op->cancel == NULL)
        return;
    if (err != NULL)
        send_error(op->c, op->id, err->code, err->msg);
    else
        send_op(op->c, op->id, "complete", NULL);
    op_end_stream(op);
}

/* One event of a stream: the selection set executed on it, as a next message. */
static void op_emit(void *sink, const struct gql_val *event)
{
    struct op *op = sink;
    struct conn *c = op->c;
    struct arena *a;
    struct gql_exec x;
    struct sbuf out;
    int rc;

    if (op->state != OP_STREAMING || c->ws == NULL || c->send_failed)
        return;
    a = arena_new(&(struct arena_opts){.budget = OP_ARENA_BUDGET});
    x = op->x;
    x.a = a;
    out = SBUF_INIT(RESPONSE_MAX);
    rc = gql_execute_event(&x, event, &out);
    if (rc == ERR_LIMIT)
        close_with(c, 4500, "Internal error: an event's response did not fit in memory");
    else
        send_op(c, op->id, "next", &out);
    sbuf_release(&out);
    arena_free(a);
}

static void op_execute(struct op *op)
{
    op->exec_rc = gql_execute(&op->x, &op->out);
    op->executed = true;
}

/* A query or mutation: next with its result, then complete. */
static void op_answer(struct op *op)
{
    struct conn *c = op->c;

    if (!op->executed)
        op_execute(op);
    if (op->exec_rc == ERR_INVALID) {
        send_response_errors(c, op->id, &op->out);
    } else if (op->exec_rc == ERR_LIMIT) {
        send_error(c, op->id, ERR_LIMIT, "the response does not fit in its memory");
    } else {
        send_op(c, op->id, "next", &op->out);
        send_op(c, op->id, "complete", NULL);
    }
    op_free(op);
}

static void op_start_stream(struct op *op)
{
    int rc;

    op->state = OP_STREAMING;
    rc = gql_subscribe(&op->x, op_emit, op, &op->cancel, &op->cancel_state, &op->out);
    if (rc < 0) {
        op->cancel = NULL;
        send_response_errors(op->c, op->id, &op->out);
        op_free(op);
    }
}

/* On the pool: the caller's right to run it now, and a blocking query or mutation itself. */
static void op_check_work(void *arg)
{
    struct op *op = arg;
    struct conn *c = op->c;
    struct slice ws = c->has_workspace ? slice_from_cstr(c->workspace) : SLICE_NULL;

    op->rc = gw_caller_load(&op->caller, op->a, ws, &op->err);
    if (op->rc == 0 && op->kind != GQL_OP_SUBSCRIPTION && op->blocking)
        op_execute(op);
}

static void op_check_done(void *arg)
{
    struct op *op = arg;
    struct conn *c = op->c;

    if (op->cancelled || c->ws == NULL) {
        op_free(op);
    } else if (op->rc < 0) {
        bool session_over = op->rc == ERR_UNAUTHENTICATED;

        send_error(c, op->id, op->rc, op->err.msg);
        op_free(op);
        if (session_over) /* logged out, token revoked: the connection goes too */
            close_with(c, 4403, "Forbidden");
    } else if (op->kind == GQL_OP_SUBSCRIPTION) {
        op_start_stream(op);
    } else {
        op_answer(op);
    }
    conn_unref(c);
}

static struct op *op_new(struct conn *c, struct slice id)
{
    struct op *op = xcalloc(1, sizeof(*op));

    op->c = c;
    op->a = arena_new(&(struct arena_opts){.budget = OP_ARENA_BUDGET});
    op->id = arena_strndup(op->a, id.ptr, id.len);
    op->out = SBUF_INIT(RESPONSE_MAX);
    op->caller = (struct gw_caller){
        .g = c->g, .who = c->who, .stream_end = op_stream_end, .stream_owner = op};
    op->next = c->ops;
    c->ops = op;
    op->linked = true;
    c->nops++;
    return op;
}

/* Prepares the document of <op>; 0 when it may run, else the client has its error message. */
static int op_prepare(struct op *op)
{
    struct conn *c = op->c;
    struct gql_error *errs = NULL;
    struct err err = {0};

    if (gw_gql_prepare(c->g, op->a, op->in.query, &op->doc, &errs) < 0) {
        if (errs != NULL)
            send_errors(c, op->id, errs);
        else
            send_error(c, op->id, ERR_INVALID, "the document could not be prepared");
        return -1;
    }
    if (gql_doc_operation(op->doc, op->in.operation_name, &op->kind, &op->blocking, &err) < 0) {
        send_error(c, op->id, err.code, err.msg);
        return -1;
    }
    op->x = (struct gql_exec){.schema = c->g->schema,
                              .doc = op->doc,
                              .operation_name = op->in.operation_name,
                              .variables = op->in.variables,
                              .context = &op->caller,
                              .a = op->a};
    return 0;
}

/* ---------------------------------------------------------------- messages */

/* The string member <name> of <o>: NULL when absent, *bad when present and not a string (or
 * a string holding a NUL byte, which C strings would cut short). */
static const char *str_member(const json_t *o, const char *name, bool *bad)
{
    const json_t *v = json_object_get(o, name);

    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
        *bad = true;
        return NULL;
    }
    return json_string_value(v);
}

static void check_work(void *arg)
{
    struct conn *c = arg;
    struct gw_caller caller = {.g = c->g, .who = c->who};
    struct slice ws = c->has_workspace ? slice_from_cstr(c->workspace) : SLICE_NULL;

    c->check_rc = gw_caller_load(&caller, c->check_arena, ws, &c->check_err);
    explicit_bzero(&caller.who, sizeof(caller.who));
}

/* Checks the connection's credential and workspace on the pool, then runs <done>. */
static void check_start(struct conn *c, pool_done_fn *done)
{
    c->check_arena = arena_new(&(struct arena_opts){.budget = 1u << 20});
    c->refs++;
    pool_run(c->g->workers, check_work, done, c);
}

static void check_end(struct conn *c)
{
    arena_free(c->check_arena);
    c->check_arena = NULL;
}

static void recheck_fire(void *arg);

static void recheck_schedule(struct conn *c)
{
    c->recheck_timer = ev_timer_add(c->loop, (uint64_t)c->g->cfg.ws_recheck_ms, recheck_fire, c);
}

/* Every stream of the connection ends with <err>. */
static void end_streams(struct conn *c, const struct err *err)
{
    struct op *op = c->ops, *next;

    for (; op != NULL; op = next) {
        next = op->next;
        if (op->state == OP_STREAMING)
            op_stream_end(op, err);
    }
}

/* A periodic check of a connection with running streams: a session that ended (logout,
 * revoked token) closes it; a membership that went ends its streams. Events tell the loop of
 * removals made by this process at once; this catches the rest (another process, the
 * database edited by hand). */
static void recheck_done(void *arg)
{
    struct conn *c = arg;

    check_end(c);
    if (c->ws != NULL && c->check_rc == ERR_UNAUTHENTICATED) {
        LOG_INFO(&ws_log, "gateway.graphql_ws_session_ended", LF_STR("why", c->check_err.msg));
        close_with(c, 4403, "Forbidden");
    } else if (c->ws != NULL) {
        if (c->check_rc == ERR_FORBIDDEN)
            end_streams(c, &c->check_err);
        recheck_schedule(c);
    }
    conn_unref(c);
}

static void recheck_fire(void *arg)
{
    struct conn *c = arg;
    bool streaming = false;

    c->recheck_timer = NULL;
    for (struct op *op = c->ops; op != NULL && !streaming; op = op->next)
        streaming = op->state == OP_STREAMING;
    if (streaming)
        check_start(c, recheck_done);
    else
        recheck_schedule(c);
}

static void init_done(void *arg)
{
    struct conn *c = arg;

    check_end(c);
    if (c->ws != NULL && c->check_rc < 0) {
        LOG_INFO(&ws_log, "gateway.graphql_ws_refused", LF_STR("why", c->check_err.msg));
        close_with(c, 4403, "Forbidden");
    } else if (c->ws != NULL) {
        c->state = C_READY;
        send_simple(c, "connection_ack");
        recheck_schedule(c);
    }
    conn_unref(c);
}

/* The credential and workspace of connection_init's payload; 0, or the close code to use. */
static int init_read(struct conn *c, const json_t *payload, struct slice *token)
{
    bool bad = false;
    const char *auth, *tok, *ws;

    *token = SLICE_NULL;
    if (payload == NULL || json_is_null(payload))
        return 4403;
    if (!json_is_object(payload))
        return 4400;
    auth = str_member(payload, "authorization", &bad);
    tok = str_member(payload, "token", &bad);
    ws = str_member(payload, "workspace", &bad);
    if (bad)
        return 4400;
    if (auth != NULL)
        *token = gw_bearer_token(slice_from_cstr(auth));
    else if (tok != NULL)
        *token = slice_from_cstr(tok);
    if (ws != NULL) {
        if (gw_db_check_text("workspace", slice_from_cstr(ws), GW_ID_MAX, false, NULL) < 0)
            return 4403;
        snprintf(c->workspace, sizeof(c->workspace), "%s", ws);
        c->has_workspace = true;
    }
    return token->ptr == NULL ? 4403 : 0;
}

static void on_init(struct conn *c, const json_t *msg)
{
    struct slice token;
    struct err err = {0};
    int code;

    if (c->init_seen) {
        close_with(c, 4429, "Too many initialisation requests");
        return;
    }
    c->init_seen = true;
    if (c->init_timer != NULL) {
        ev_timer_cancel(c->loop, c->init_timer);
        c->init_timer = NULL;
    }
    code = init_read(c, json_object_get(msg, "payload"), &token);
    if (code == 0 && gw_authn_token(c->g, token, &c->who, &err) < 0)
        code = 4403;
    if (code != 0) {
        close_with(c, code,
                   code == 4400 ? "Invalid message: bad connection_init payload" : "Forbidden");
        return;
    }
    c->state = C_CHECKING;
    check_start(c, init_done);
}

static void on_subscribe(struct conn *c, const json_t *msg)
{
    bool bad = false;
    const char *id = str_member(msg, "id", &bad);
    const json_t *payload = json_object_get(msg, "payload");
    char reason[ID_MAX + 64];
    struct err err = {0};
    struct op *op;

    if (bad || id == NULL || id[0] == '\0' || strlen(id) > ID_MAX || payload == NULL ||
        !json_is_object(payload)) {
        close_with(c, 4400, "Invalid message: subscribe needs an id and a payload object");
        return;
    }
    if (c->state != C_READY) {
        close_with(c, 4401, "Unauthorized");
        return;
    }
    if (op_find(c, id) != NULL) {
        snprintf(reason, sizeof(reason), "Subscriber for %s already exists", id);
        close_with(c, 4409, reason);
        return;
    }
    if (c->nops >= (size_t)c->g->cfg.ws_max_operations) {
        snprintf(reason, sizeof(reason), "a connection may run %" PRId64 " operations at once",
                 c->g->cfg.ws_max_operations);
        send_error(c, id, ERR_LIMIT, reason);
        return;
    }
    op = op_new(c, slice_from_cstr(id));
    if (gw_gql_request_from_json(payload, op->a, &op->in, &err) < 0) {
        op_free(op);
        close_with(c, 4400, "Invalid message: subscribe payload needs a query");
        return;
    }
    if (op_prepare(op) < 0) {
        op_free(op);
        return;
    }
    c->refs++;
    pool_run(c->g->workers, op_check_work, op_check_done, op);
}

static void on_complete(struct conn *c, const json_t *msg)
{
    bool bad = false;
    const char *id = str_member(msg, "id", &bad);
    struct op *op;

    if (bad || id == NULL) {
        close_with(c, 4400, "Invalid message: complete needs an id");
        return;
    }
    if ((op = op_find(c, id)) == NULL) /* finished already, or never was: nothing to do */
        return;
    if (op->state == OP_CHECKING) {
        op->cancelled = true; /* freed when its check comes back */
        op_unlink(op);
        return;
    }
    op_end_stream(op);
}

static void on_message(void *arg, struct http_ws *ws, bool text, struct slice data)
{
    struct conn *c = arg;
    json_t *msg = NULL;
    const char *type;
    bool bad = false;
    struct err err = {0};

    (void)ws;
    if (!text ||
        json_read_object(data, (size_t)c->g->cfg.gql_max_body, MSG_DEPTH, &msg, &err) < 0) {
        close_with(c, 4400,
                   text ? "Invalid message: not a JSON object"
                        : "Invalid message: binary frames are not used");
        return;
    }
    type = str_member(msg, "type", &bad);
    if (type == NULL)
        close_with(c, 4400, "Invalid message: no type");
    else if (strcmp(type, "connection_init") == 0)
        on_init(c, msg);
    else if (strcmp(type, "ping") == 0)
        send_simple(c, "pong");
    else if (strcmp(type, "pong") == 0)
        ; /* an answer to nothing we need */
    else if (strcmp(type, "subscribe") == 0)
        on_subscribe(c, msg);
    else if (strcmp(type, "complete") == 0)
        on_complete(c, msg);
    else
        close_with(c, 4400, "Invalid message: unexpected type");
    json_decref(msg);
}

/* ---------------------------------------------------------------- the socket */

static void init_timeout(void *arg)
{
    struct conn *c = arg;

    c->init_timer = NULL;
    if (!c->init_seen)
        close_with(c, 4408, "Connection initialisation timeout");
}

static void on_open(void *arg, struct http_ws *ws)
{
    struct conn *c = arg;

    c->ws = ws;
    c->loop = http_ws_loop(ws);
    c->init_timer = ev_timer_add(c->loop, (uint64_t)c->g->cfg.ws_init_timeout_ms, init_timeout, c);
}

static void on_close(void *arg, struct http_ws *ws, int code, struct slice reason)
{
    struct conn *c = arg;

    (void)ws, (void)code, (void)reason;
    c->ws = NULL;
    if (c->init_timer != NULL) {
        ev_timer_cancel(c->loop, c->init_timer);
        c->init_timer = NULL;
    }
    if (c->recheck_timer != NULL) {
        ev_timer_cancel(c->loop, c->recheck_timer);
        c->recheck_timer = NULL;
    }
    while (c->ops != NULL) {
        struct op *op = c->ops;

        if (op->state == OP_CHECKING) {
            op->cancelled = true;
            op_unlink(op);
        } else {
            op_end_stream(op);
        }
    }
    conn_unref(c);
}

static const struct http_ws_handler handler = {on_open, on_message, on_close};

void gw_graphql_ws_accept(struct gw *g, struct http_req *req)
{
    struct http_ws_opts opts = {.subprotocol = SUBPROTOCOL,
                                .max_message = (size_t)g->cfg.gql_max_body,
                                .max_send_buffer = (size_t)g->cfg.ws_send_buffer,
                                .ping_interval_ms = PING_MS};
    struct conn *c = xcalloc(1, sizeof(*c));

    c->g = g;
    c->refs = 1;
    if (http_respond_ws(req, &opts, &handler, c) < 0)
        free(c); /* answered with 400 or 426 */
}
