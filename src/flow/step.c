/*
 * What a workflow calls: steps (with their retries, backoff and attempts), sleeps, messages,
 * events and child workflows. Each call answers from the record while the run replays, and
 * otherwise checks that the run may act, does its work and records the result before it
 * returns it (run.c has the run, write.c the writes).
 */
#include <stdio.h>

#include "flow/flow-int.h"

/* ---------------------------------------------------------------- attempts */

struct attempt_row {
    const char *wf;
    unsigned seq, attempt;
    const struct err *e;
    int64_t started, ended;
};

static int attempt_tx(struct store_tx *tx, void *arg, struct err *err)
{
    struct attempt_row *a = arg;
    struct sbuf msg = SBUF_INIT(1024);
    int rc;

    sbuf_put_utf8(&msg, slice_from_cstr(a->e->msg));
    rc = store_exec(tx,
                    "INSERT INTO flow_attempt (wf_id, seq, attempt, err_code, err_msg, "
                    "started_ms, ended_ms) VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (wf_id, seq, attempt) DO NOTHING",
                    (struct store_val[]){SV_CSTR(a->wf), SV_INT(a->seq), SV_INT(a->attempt),
                                         SV_INT(a->e->code),
                                         SV_TEXT(((struct slice){msg.buf, msg.len})),
                                         SV_INT(a->started), SV_INT(a->ended)},
                    7, NULL, err);
    sbuf_release(&msg);
    return rc;
}

/* The attempts an earlier run made of step <seq> before it crashed. */
static unsigned attempts_before(struct flow_ctx *ctx, unsigned seq)
{
    struct store_rows *r;
    struct err err = {0};

    if (ctx->fresh)
        return 0;
    if (store_read1(ctx->f->store, ctx->a,
                    "SELECT CAST(COUNT(*) AS BIGINT) FROM flow_attempt WHERE wf_id = ? AND seq = ?",
                    (struct store_val[]){SV_CSTR(ctx->id), SV_INT(seq)}, 2, &r, &err) < 0 ||
        r->nrows != 1)
        return 0;
    return (unsigned)store_cell(r, 0, 0)->i;
}

/* ---------------------------------------------------------------- steps */

static const int default_no_retry[] = {ERR_INVALID,         ERR_NOTFOUND,  ERR_FORBIDDEN,
                                       ERR_UNAUTHENTICATED, ERR_CANCELLED, 0};

static bool retryable(const struct flow_retry *p, int code)
{
    const int *no = p->no_retry ? p->no_retry : default_no_retry;

    for (; *no != 0; no++)
        if (*no == code)
            return false;
    return true;
}

static uint64_t backoff_ms(const struct flow_retry *p, unsigned attempt)
{
    double ms = p->initial_ms ? (double)p->initial_ms : 1000.0;
    double factor = p->factor > 0 ? p->factor : 2.0;
    double max = p->max_ms ? (double)p->max_ms : 60000.0;

    for (unsigned i = 1; i < attempt && ms < max; i++)
        ms *= factor;
    return (uint64_t)(ms < max ? ms : max);
}

static void call_enter(struct flow_ctx *ctx, struct flow_call *call, const struct flow_retry *p)
{
    uint64_t now = time_mono_ms(), wall = time_wall_ms();

    call->deadline_mono = p->timeout_ms ? now + p->timeout_ms : 0;
    if (ctx->deadline > 0) {
        uint64_t left = (uint64_t)ctx->deadline > wall ? (uint64_t)ctx->deadline - wall : 0;

        if (call->deadline_mono == 0 || now + left < call->deadline_mono)
            call->deadline_mono = now + left;
    }
    pthread_mutex_lock(&ctx->f->lock);
    ctx->run->call = call;
    pthread_mutex_unlock(&ctx->f->lock);
}

static void call_leave(struct flow_ctx *ctx)
{
    pthread_mutex_lock(&ctx->f->lock);
    ctx->run->call = NULL;
    pthread_mutex_unlock(&ctx->f->lock);
}

/* One attempt: runs <fn>, turning an overrun into ERR_TIMEOUT. */
static int attempt_run(struct flow_ctx *ctx, struct flow_call *call, const char *name,
                       flow_step_fn *fn, struct slice input, const struct flow_retry *p,
                       struct sbuf *out, struct err *e)
{
    int rc;

    call_enter(ctx, call, p);
    rc = fn(call, input, out, e);
    call_leave(ctx);
    if (rc == 0 && out->err != 0)
        rc = err_set(e, ERR_LIMIT, "step %s: output longer than %u bytes", name, FLOW_MAX_INPUT);
    if (rc < 0 && atomic_load(&call->fired) && call->deadline_mono != 0 &&
        time_mono_ms() >= call->deadline_mono && !atomic_load(&ctx->run->cancelled))
        rc = err_set(e, ERR_TIMEOUT, "step %s: attempt %u ran out of time", name, call->attempt);
    return rc;
}

/* Waits <ms> before the next attempt, or until the run is cancelled or released. */
static void backoff_wait(struct flow_ctx *ctx, uint64_t ms)
{
    struct flow_call pause = {.ctx = ctx};

    call_enter(ctx, &pause, &(struct flow_retry){0});
    flow_call_wait(&pause, ms);
    call_leave(ctx);
}

int flow_step_retry(struct flow_ctx *ctx, const char *name, flow_step_fn *fn, struct slice input,
                    const struct flow_retry *p, struct slice *output, struct err *err)
{
    static const struct flow_retry once = {0};
    const struct flow_rec *r;
    struct sbuf out = SBUF_INIT(FLOW_MAX_INPUT);
    struct flow_call call = {.ctx = ctx};
    struct flow_step_row row = {.name = name};
    struct err e = {0};
    unsigned seq, max;
    int rc;

    r = flow_ctx_next_rec(ctx, name, &seq, err, &rc);
    if (rc < 0)
        return rc;
    if (r != NULL)
        return flow_rec_result(r, output, err);
    rc = flow_ctx_check_live(ctx, err);
    if (rc < 0)
        return rc;
    p = p ? p : &once;
    max = p->attempts ? p->attempts : 1;
    call.attempt = max > 1 ? attempts_before(ctx, seq) + 1 : 1;
    ctx->fresh = true;
    row.started = (int64_t)time_wall_ms();
    for (;; call.attempt++) {
        e = (struct err){0};
        sbuf_reset(&out);
        atomic_store(&call.fired, false);
        int64_t began = (int64_t)time_wall_ms();
        rc = attempt_run(ctx, &call, name, fn, input, p, &out, &e);
        rc = rc < 0 ? rc : 0;
        if (atomic_load(&ctx->run->cancelled) || atomic_load(&ctx->run->lost)) {
            sbuf_release(&out);
            return flow_ctx_check_live(ctx, err);
        }
        if (rc == 0 || call.attempt >= max || !retryable(p, rc)) {
            row = (struct flow_step_row){.name = name,
                                         .seq = seq,
                                         .started = row.started,
                                         .status = rc == 0 ? FLOW_STEP_DONE : FLOW_STEP_FAILED,
                                         .output = {out.buf, out.len},
                                         .err = &e,
                                         .attempts = call.attempt,
                                         .ended = (int64_t)time_wall_ms()};
            break;
        }
        struct attempt_row ar = {ctx->id, seq, call.attempt, &e, began, (int64_t)time_wall_ms()};
        if (flow_commit_run(ctx->f->commit, attempt_tx, &ar, NULL) < 0)
            LOG_WARN(&ctx->f->log, "flow.attempt_not_recorded", LF_STR("workflow", ctx->id),
                     LF_INT("step", seq));
        backoff_wait(ctx, backoff_ms(p, call.attempt));
        rc = flow_ctx_check_live(ctx, err);
        if (rc < 0) {
            sbuf_release(&out);
            return rc;
        }
    }
    rc = flow_ctx_record(ctx, &row, err);
    if (rc != 0) {
        sbuf_release(&out);
        return flow_ctx_record_failed(ctx, rc, err);
    }
    if (row.status == FLOW_STEP_FAILED) {
        sbuf_release(&out);
        *err = *row.err;
        return row.err->code;
    }
    if (output != NULL) {
        char *copy = arena_alloc(ctx->a, out.len + 1);

        if (copy == NULL) {
            sbuf_release(&out);
            return flow_ctx_stop(ctx, ERR_LIMIT, err, "workflow %s: outputs over %u bytes", ctx->id,
                                 FLOW_RUN_ARENA);
        }
        memcpy(copy, out.buf, out.len);
        copy[out.len] = '\0';
        *output = (struct slice){copy, out.len};
    }
    sbuf_release(&out);
    return 0;
}

int flow_step(struct flow_ctx *ctx, const char *name, flow_step_fn *fn, struct slice input,
              struct slice *output, struct err *err)
{
    return flow_step_retry(ctx, name, fn, input, NULL, output, err);
}

/* ---------------------------------------------------------------- waits */

int flow_sleep(struct flow_ctx *ctx, uint64_t ms, struct err *err)
{
    const struct flow_rec *r;
    unsigned seq;
    int64_t wake;
    int rc;

    r = flow_ctx_next_rec(ctx, "sleep", &seq, err, &rc);
    if (rc < 0)
        return rc;
    if (r != NULL) {
        wake = r->wake_ms;
    } else {
        rc = flow_ctx_check_live(ctx, err);
        if (rc < 0)
            return rc;
        wake = (int64_t)(time_wall_ms() +
                         (ms > (uint64_t)FLOW_NEVER / 2 ? (uint64_t)FLOW_NEVER / 2 : ms));
        rc = flow_ctx_record_waiting(ctx, seq, "sleep", wake, err);
        if (rc < 0)
            return rc;
    }
    if ((int64_t)time_wall_ms() >= wake)
        return 0;
    rc = flow_ctx_check_live(ctx, err);
    return rc < 0 ? rc : flow_ctx_suspend(ctx, FLOW_WAIT_TIMER, wake, NULL, err);
}

struct take_ctx {
    const char *wf;
    unsigned seq;
    const char *topic;
    struct arena *a;
    bool got;
    struct slice msg;
};

/* Takes the oldest message on the topic for step <seq>, in one transaction with the step's
 * result, so a message is received exactly once. */
static int take_tx(struct store_tx *tx, void *arg, struct err *err)
{
    struct take_ctx *t = arg;
    struct store_rows *r;
    int64_t now = (int64_t)time_wall_ms();
    int rc;

    t->got = false;
    rc = store_query(tx, t->a,
                     "SELECT id, payload FROM flow_msg WHERE wf_id = ? AND topic = ? AND "
                     "taken_seq IS NULL ORDER BY id LIMIT 1",
                     (struct store_val[]){SV_CSTR(t->wf), SV_CSTR(t->topic)}, 2, &r, err);
    if (rc < 0 || r->nrows == 0)
        return rc;
    rc = store_exec(tx, "UPDATE flow_msg SET taken_seq = ? WHERE id = ?",
                    (struct store_val[]){SV_INT(t->seq), SV_INT(store_cell(r, 0, 0)->i)}, 2, NULL,
                    err);
    if (rc == 0)
        rc = store_exec(tx,
                        "UPDATE flow_step SET status = 0, output = ?, ended_ms = ? "
                        "WHERE wf_id = ? AND seq = ?",
                        (struct store_val[]){SV_BLOB(store_cell(r, 0, 1)->s), SV_INT(now),
                                             SV_CSTR(t->wf), SV_INT(t->seq)},
                        4, NULL, err);
    t->got = rc == 0;
    t->msg = store_cell(r, 0, 1)->s;
    return rc;
}

int flow_recv(struct flow_ctx *ctx, const char *topic, uint64_t timeout_ms, struct slice *msg,
              struct err *err)
{
    struct take_ctx t = {.wf = ctx->id, .topic = topic, .a = ctx->a};
    const struct flow_rec *r;
    char name[160];
    int64_t deadline;
    int rc;

    if (topic == NULL || topic[0] == '\0' || strlen(topic) > 128)
        return flow_ctx_stop(ctx, ERR_INVALID, err, "flow_recv: topic must be 1 to 128 bytes");
    snprintf(name, sizeof(name), "recv:%s", topic);
    r = flow_ctx_next_rec(ctx, name, &t.seq, err, &rc);
    if (rc < 0)
        return rc;
    if (r != NULL && r->status != FLOW_STEP_WAITING)
        return flow_rec_result(r, msg, err);
    rc = flow_ctx_check_live(ctx, err);
    if (rc < 0)
        return rc;
    if (r != NULL) {
        deadline = r->wake_ms;
    } else {
        deadline = timeout_ms >= (uint64_t)FLOW_NEVER / 2 ? FLOW_NEVER
                                                          : (int64_t)(time_wall_ms() + timeout_ms);
        rc = flow_ctx_record_waiting(ctx, t.seq, name, deadline, err);
        if (rc < 0)
            return rc;
    }
    rc = flow_ctx_commit(ctx, take_tx, &t, err);
    if (rc != 0)
        return flow_ctx_record_failed(ctx, rc, err);
    if (t.got) {
        if (msg != NULL)
            *msg = t.msg;
        return 0;
    }
    if ((int64_t)time_wall_ms() >= deadline) {
        struct err e = {0};

        err_set(&e, ERR_TIMEOUT, "no message on \"%.100s\" within %" PRIu64 " ms", topic,
                timeout_ms);
        rc = flow_ctx_settle(ctx, t.seq, SLICE_NULL, &e, err);
        if (rc < 0)
            return rc;
        *err = e;
        return ERR_TIMEOUT;
    }
    return flow_ctx_suspend(ctx, FLOW_WAIT_RECV, deadline, topic, err);
}

/* ---------------------------------------------------------------- events and children */

struct event_ctx {
    const char *wf;
    unsigned seq;
    const char *key, *name;
    struct slice value;
};

static int event_tx(struct store_tx *tx, void *arg, struct err *err)
{
    struct event_ctx *ev = arg;
    int64_t now = (int64_t)time_wall_ms();
    struct flow_step_row row = {.wf = ev->wf,
                                .seq = ev->seq,
                                .name = ev->name,
                                .status = FLOW_STEP_DONE,
                                .attempts = 1,
                                .started = now,
                                .ended = now};
    int rc = store_exec(
        tx,
        "INSERT INTO flow_event (wf_id, key, value, updated_ms) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (wf_id, key) DO UPDATE SET value = excluded.value, "
        "updated_ms = excluded.updated_ms",
        (struct store_val[]){SV_CSTR(ev->wf), SV_CSTR(ev->key), SV_BLOB(ev->value), SV_INT(now)}, 4,
        NULL, err);

    return rc < 0 ? rc : flow_step_row_tx(tx, &row, err);
}

int flow_set_event(struct flow_ctx *ctx, const char *key, struct slice value, struct err *err)
{
    struct event_ctx ev = {.wf = ctx->id, .key = key, .value = value};
    const struct flow_rec *r;
    char name[160];
    int rc;

    if (key == NULL || key[0] == '\0' || strlen(key) > 128)
        return flow_ctx_stop(ctx, ERR_INVALID, err, "flow_set_event: key must be 1 to 128 bytes");
    if (value.len > FLOW_MAX_INPUT)
        return flow_ctx_stop(ctx, ERR_LIMIT, err, "flow_set_event: value longer than %u bytes",
                             FLOW_MAX_INPUT);
    snprintf(name, sizeof(name), "event:%s", key);
    ev.name = name;
    r = flow_ctx_next_rec(ctx, name, &ev.seq, err, &rc);
    if (rc < 0 || r != NULL)
        return rc;
    rc = flow_ctx_check_live(ctx, err);
    if (rc < 0)
        return rc;
    rc = flow_ctx_commit(ctx, event_tx, &ev, err);
    if (rc != 0)
        return flow_ctx_record_failed(ctx, rc, err);
    ctx->fresh = true;
    return 0;
}

struct child_ctx {
    struct flow *f;
    struct flow_new_wf w;
    char key[64];
    char id[37];
    struct flow_step_row row;
};

static int child_tx(struct store_tx *tx, void *arg, struct err *err)
{
    struct child_ctx *c = arg;
    int rc = flow_insert(tx, &c->w, c->id, err);

    if (rc < 0)
        return rc;
    c->row.output = slice_from_cstr(c->id);
    rc = flow_step_row_tx(tx, &c->row, err);
    return rc < 0 ? rc : flow_notify(c->f, tx, "wake", err);
}

int flow_child_start(struct flow_ctx *ctx, const char *wf, struct slice input, char id_out[37],
                     struct err *err)
{
    const struct flow_def *d = flow_def_find(ctx->f, slice_from_cstr(wf ? wf : ""));
    struct child_ctx c = {.f = ctx->f};
    const struct flow_rec *r;
    char name[80];
    int rc;

    if (d == NULL)
        return flow_ctx_stop(ctx, ERR_NOTFOUND, err, "child workflow \"%.64s\" is not registered",
                             wf ? wf : "");
    snprintf(name, sizeof(name), "child:%s", d->name);
    r = flow_ctx_next_rec(ctx, name, &c.row.seq, err, &rc);
    if (rc < 0)
        return rc;
    if (r != NULL) {
        if (r->output.len != 36)
            return flow_ctx_stop(ctx, ERR_INTERNAL, err, "step %u: a child id is not 36 bytes",
                                 c.row.seq);
        memcpy(id_out, r->output.ptr, 36);
        id_out[36] = '\0';
        return 0;
    }
    rc = flow_ctx_check_live(ctx, err);
    if (rc < 0)
        return rc;
    snprintf(c.key, sizeof(c.key), "%s:%u", ctx->id, c.row.seq);
    c.w = (struct flow_new_wf){.name = d->name,
                               .input = input.len ? input : SLICE("null"),
                               .key = slice_from_cstr(c.key),
                               .parent = slice_from_cstr(ctx->id),
                               .queue = d->queue};
    c.row = (struct flow_step_row){.wf = ctx->id,
                                   .seq = c.row.seq,
                                   .name = name,
                                   .status = FLOW_STEP_DONE,
                                   .attempts = 1,
                                   .started = (int64_t)time_wall_ms(),
                                   .ended = (int64_t)time_wall_ms()};
    rc = flow_ctx_commit(ctx, child_tx, &c, err);
    if (rc != 0)
        return flow_ctx_record_failed(ctx, rc, err);
    ctx->fresh = true;
    memcpy(id_out, c.id, 37);
    flow_kick(ctx->f);
    return 0;
}

int flow_child_wait(struct flow_ctx *ctx, const char *child_id, struct slice *result,
                    struct err *err)
{
    struct flow_outcome o;
    struct err e = {0};
    const struct flow_rec *r;
    unsigned seq;
    int rc;

    r = flow_ctx_next_rec(ctx, "join", &seq, err, &rc);
    if (rc < 0)
        return rc;
    if (r != NULL)
        return flow_rec_result(r, result, err);
    rc = flow_ctx_check_live(ctx, err);
    if (rc < 0)
        return rc;
    rc = flow_wait(ctx->f, ctx->a, slice_from_cstr(child_id), 0, &o, err);
    if (rc == ERR_TIMEOUT) {
        /* Not ended: wait without a thread; the child's end wakes this workflow. */
        return flow_ctx_suspend(ctx, FLOW_WAIT_CHILD, FLOW_NEVER, child_id, err);
    }
    if (rc < 0)
        return flow_ctx_stop(ctx, rc, err, "join: %s", err->msg);
    if (o.status != FLOW_SUCCEEDED)
        err_set(&e,
                o.status == FLOW_CANCELLED ? ERR_CANCELLED
                                           : (o.err_code < 0 ? o.err_code : ERR_INTERNAL),
                "child %s %s: %.*s", child_id,
                o.status == FLOW_CANCELLED ? "was cancelled" : "failed", SLICE_ARG(o.err_msg));
    struct flow_step_row row = {.seq = seq,
                                .name = "join",
                                .status = e.code ? FLOW_STEP_FAILED : FLOW_STEP_DONE,
                                .output = o.result,
                                .err = &e,
                                .attempts = 1,
                                .started = (int64_t)time_wall_ms(),
                                .ended = (int64_t)time_wall_ms()};
    rc = flow_ctx_record(ctx, &row, err);
    if (rc != 0)
        return flow_ctx_record_failed(ctx, rc, err);
    ctx->fresh = true;
    if (e.code != 0) {
        *err = e;
        return e.code;
    }
    if (result != NULL)
        *result = o.result;
    return 0;
}
