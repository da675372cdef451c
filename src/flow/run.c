/*
 * Running one workflow: load what its earlier runs recorded, call its function, answer each
 * flow_* call from the record while there is one (the replay) and for real after it, then
 * record how the run ended: the final state, or the wait it suspended on. The calls are in
 * step.c, how their writes reach the store in write.c.
 *
 * A run stops early, stickily, when it is cancelled (ERR_CANCELLED), its deadline passes
 * (ERR_TIMEOUT), it calls steps in another order than recorded (non-determinism), it waits
 * (FLOW_SUSPENDED), or its claim is lost or the engine stops (FLOW_SUSPENDED, with nothing
 * recorded: the next run carries on).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "flow/flow-int.h"

/* ---------------------------------------------------------------- sticky stops */

static int stop_with(struct flow_ctx *ctx, int code, struct err *err)
{
    if (err != NULL)
        *err = ctx->stop_err;
    return code;
}

int flow_ctx_stop(struct flow_ctx *ctx, int code, struct err *err, const char *fmt, ...)
{
    va_list ap;

    if (ctx->stop == 0) {
        ctx->stop = code;
        va_start(ap, fmt);
        err_setv(&ctx->stop_err, code, fmt, ap);
        va_end(ap);
    }
    return stop_with(ctx, ctx->stop, err);
}

int flow_ctx_suspend(struct flow_ctx *ctx, enum flow_wait_kind kind, int64_t wake, const char *key,
                     struct err *err)
{
    ctx->wait = kind;
    ctx->wake_ms = ctx->deadline > 0 && ctx->deadline < wake ? ctx->deadline : wake;
    snprintf(ctx->wait_key, sizeof(ctx->wait_key), "%s", key ? key : "");
    return flow_ctx_stop(ctx, FLOW_SUSPENDED, err, "waiting");
}

int flow_ctx_release(struct flow_ctx *ctx, struct err *err)
{
    ctx->release = true;
    return flow_ctx_stop(ctx, FLOW_SUSPENDED, err, "the engine stops or lost the claim");
}

static const char renew_sql[] =
    "UPDATE flow_wf SET lease_ms = ? WHERE id = ? AND owner = ? AND runs = ? AND status = 1";

static void lease_fresh(struct flow_ctx *ctx, uint64_t t0)
{
    atomic_store(&ctx->run->lease_mono, t0 + ctx->f->opts.lease_ms * 3 / 4);
}

/* PostgreSQL: renews the claim now. 0, 1 when it is no longer ours, or an error. */
static int renew(struct flow_ctx *ctx, struct err *err)
{
    uint64_t t0 = time_mono_ms();
    int64_t n = 0;
    int rc = store_exec1(ctx->f->store, renew_sql,
                         (struct store_val[]){SV_INT(time_wall_ms() + ctx->f->opts.lease_ms),
                                              SV_CSTR(ctx->id), SV_CSTR(ctx->f->owner),
                                              SV_INT(ctx->run->epoch)},
                         4, &n, err);

    if (rc < 0)
        return rc;
    if (n == 0)
        return 1;
    lease_fresh(ctx, t0);
    return 0;
}

/* PostgreSQL: a run whose claim may have expired (it was not renewed for 3/4 of a lease, as
 * after a stall) renews it before acting, and stops when it was taken over. */
static bool claim_doubtful(struct flow_ctx *ctx)
{
    struct err e = {0};

    if (!ctx->f->pg || time_mono_ms() < atomic_load(&ctx->run->lease_mono))
        return false;
    if (renew(ctx, &e) == 0)
        return false;
    atomic_store(&ctx->run->lost, true);
    return true;
}

/* Checks what may stop the run before a call does something for real. */
int flow_ctx_check_live(struct flow_ctx *ctx, struct err *err)
{
    if (ctx->stop != 0)
        return stop_with(ctx, ctx->stop, err);
    if (atomic_load(&ctx->run->cancelled))
        return flow_ctx_stop(ctx, ERR_CANCELLED, err, "workflow %s was cancelled", ctx->id);
    if (atomic_load(&ctx->run->lost) || claim_doubtful(ctx))
        return flow_ctx_release(ctx, err);
    if (ctx->deadline > 0 && (int64_t)time_wall_ms() >= ctx->deadline)
        return flow_ctx_stop(ctx, ERR_TIMEOUT, err, "workflow %s passed its deadline", ctx->id);
    return 0;
}

/* The record at the next position, checked against <name>; NULL when there is none (the
 * call is new). */
const struct flow_rec *flow_ctx_next_rec(struct flow_ctx *ctx, const char *name, unsigned *seq,
                                         struct err *err, int *rc)
{
    const struct flow_rec *r;

    *rc = 0;
    if (ctx->stop != 0) {
        *rc = stop_with(ctx, ctx->stop, err);
        return NULL;
    }
    *seq = ctx->seq++;
    if (*seq >= ctx->nrec || !ctx->rec[*seq].set)
        return NULL;
    r = &ctx->rec[*seq];
    if (!slice_eq_cstr(r->name, name))
        *rc = flow_ctx_stop(
            ctx, ERR_INTERNAL, err,
            "non-determinism: step %u is recorded as \"%.*s\" but the workflow now calls "
            "\"%.60s\" there",
            *seq, (int)(r->name.len < 60 ? r->name.len : 60), r->name.ptr, name);
    return r;
}

int flow_rec_result(const struct flow_rec *r, struct slice *out, struct err *err)
{
    if (r->status == FLOW_STEP_FAILED)
        return err_set(err, r->err_code < 0 ? r->err_code : ERR_INTERNAL, "%.*s",
                       SLICE_ARG(r->err_msg));
    if (out != NULL)
        *out = r->output;
    return 0;
}

/* ---------------------------------------------------------------- accessors and logs */

void *flow_udata(const struct flow_ctx *ctx)
{
    return ctx->def->udata;
}

const char *flow_id(const struct flow_ctx *ctx)
{
    return ctx->id;
}

struct arena *flow_arena(struct flow_ctx *ctx)
{
    return ctx->a;
}

void *flow_call_udata(const struct flow_call *call)
{
    return call->ctx->def->udata;
}

unsigned flow_call_attempt(const struct flow_call *call)
{
    return call->attempt;
}

bool flow_call_cancelled(const struct flow_call *call)
{
    return atomic_load(&call->fired);
}

bool flow_call_wait(struct flow_call *call, uint64_t ms)
{
    struct flow *f = call->ctx->f;
    uint64_t end =
        time_mono_ns() + (ms < UINT64_MAX / 2000000u ? ms : UINT64_MAX / 2000000u) * 1000000u;

    pthread_mutex_lock(&f->lock);
    while (!atomic_load(&call->fired))
        if (cond_wait_until(&f->call_cv, &f->lock, end) != 0)
            break;
    pthread_mutex_unlock(&f->lock);
    return atomic_load(&call->fired);
}

void flow_call_kill_group(struct flow_call *call, int pgid)
{
    struct flow *f = call->ctx->f;

    pthread_mutex_lock(&f->lock);
    call->pgid = pgid;
    if (pgid > 0 && atomic_load(&call->fired))
        kill(-pgid, SIGKILL);
    pthread_mutex_unlock(&f->lock);
}

/* Lines written while the run replays recorded steps were written by an earlier run. */
static bool replaying(const struct flow_ctx *ctx)
{
    return ctx->seq < ctx->nrec;
}

static void log_vline(struct flow_ctx *ctx, const char *fmt, va_list ap) APP_PRINTF(2, 0);
static void log_vline(struct flow_ctx *ctx, const char *fmt, va_list ap)
{
    char line[4096];
    int n = vsnprintf(line, sizeof(line), fmt, ap);

    if (n < 0)
        return;
    flow_logs_append(ctx->f->logs, ctx->id,
                     (struct slice){line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1});
}

void flow_log(struct flow_ctx *ctx, const char *fmt, ...)
{
    va_list ap;

    if (replaying(ctx))
        return;
    va_start(ap, fmt);
    log_vline(ctx, fmt, ap);
    va_end(ap);
}

void flow_call_log(struct flow_call *call, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vline(call->ctx, fmt, ap);
    va_end(ap);
}

void flow_call_log_line(struct flow_call *call, struct slice line)
{
    flow_logs_append(call->ctx->f->logs, call->ctx->id, line);
}

int flow_log_follow(struct flow *f, struct slice id, uint64_t from, uint64_t timeout_ms,
                    struct err *err)
{
    return flow_logs_follow(f->logs, id, from, timeout_ms, err);
}

/* ---------------------------------------------------------------- one run */

static int load_steps(struct flow_ctx *ctx, struct err *err)
{
    struct store_rows *r;
    size_t i, n = 0;
    int rc = store_read1(ctx->f->store, ctx->a,
                         "SELECT seq, name, status, output, err_code, err_msg, wake_ms "
                         "FROM flow_step WHERE wf_id = ? ORDER BY seq",
                         (struct store_val[]){SV_CSTR(ctx->id)}, 1, &r, err);

    if (rc < 0)
        return rc;
    if (r->nrows > 0)
        n = (size_t)store_cell(r, r->nrows - 1, 0)->i + 1;
    if (n > 100u * 1000 * 1000)
        return err_set(err, ERR_LIMIT, "workflow %s: step %zu", ctx->id, n);
    ctx->rec = n ? arena_alloc(ctx->a, n * sizeof(*ctx->rec)) : NULL;
    if (n > 0 && ctx->rec == NULL)
        return err_set(err, ERR_LIMIT, "workflow %s: its steps need more than %u bytes", ctx->id,
                       FLOW_RUN_ARENA);
    if (n > 0)
        memset(ctx->rec, 0, n * sizeof(*ctx->rec));
    ctx->nrec = n;
    for (i = 0; i < r->nrows; i++) {
        struct flow_rec *x = &ctx->rec[store_cell(r, i, 0)->i];

        *x = (struct flow_rec){.set = true,
                               .name = store_cell(r, i, 1)->s,
                               .status = (int)store_cell(r, i, 2)->i,
                               .output = store_cell(r, i, 3)->s,
                               .err_code = (int)store_cell(r, i, 4)->i,
                               .err_msg = store_cell(r, i, 5)->s,
                               .wake_ms = store_cell(r, i, 6)->i};
    }
    return 0;
}

/* What the run needs of its workflow row: from <row> when the scheduler read it, else read
 * now; 1 when this engine does not hold the workflow (any more). */
static int load_wf(struct flow_ctx *ctx, const struct flow_wfrow *row, struct slice *input,
                   bool *cancel, struct err *err)
{
    struct store_rows *r;
    int rc;

    if (row != NULL) {
        ctx->def = row->def;
        *input = (struct slice){row->input, row->input_len};
        *cancel = row->cancel;
        ctx->deadline = row->deadline;
        memcpy(ctx->parent, row->parent, sizeof(ctx->parent));
        return 0;
    }
    rc = store_read1(ctx->f->store, ctx->a,
                     "SELECT name, input, status, owner, cancel, deadline_ms, parent, runs "
                     "FROM flow_wf WHERE id = ?",
                     (struct store_val[]){SV_CSTR(ctx->id)}, 1, &r, err);

    if (rc < 0)
        return rc;
    if (r->nrows == 0 || store_cell(r, 0, 2)->i != FLOW_RUNNING ||
        !slice_eq_cstr(store_cell(r, 0, 3)->s, ctx->f->owner) ||
        store_cell(r, 0, 7)->i != ctx->run->epoch)
        return 1;
    ctx->def = flow_def_find(ctx->f, store_cell(r, 0, 0)->s);
    *input = store_cell(r, 0, 1)->s;
    *cancel = store_cell(r, 0, 4)->i != 0;
    ctx->deadline = store_cell(r, 0, 5)->i;
    if (store_cell(r, 0, 6)->s.len == 36)
        memcpy(ctx->parent, store_cell(r, 0, 6)->s.ptr, 36);
    return 0;
}

static int end_tx(struct store_tx *tx, void *arg, struct err *err)
{
    struct flow_end *x = arg;
    struct flow_ctx *ctx = x->ctx;
    struct sbuf msg = SBUF_INIT(1024);
    int64_t now = (int64_t)time_wall_ms();
    char payload[64];
    int rc;

    if (x->e != NULL)
        sbuf_put_utf8(&msg, slice_from_cstr(x->e->msg));
    rc = store_exec(
        tx,
        "UPDATE flow_wf SET status = ?, result = ?, err_code = ?, err_msg = ?, "
        "owner = NULL, lease_ms = NULL, updated_ms = ? WHERE id = ? AND owner = ? AND runs = ?",
        (struct store_val[]){
            SV_INT(x->status), x->status == FLOW_SUCCEEDED ? SV_TEXT(x->result) : SV_NULL,
            x->e ? SV_INT(x->e->code) : SV_NULL,
            x->e ? SV_TEXT(((struct slice){msg.buf, msg.len})) : SV_NULL, SV_INT(now),
            SV_CSTR(ctx->id), SV_CSTR(ctx->f->owner), SV_INT(ctx->run->epoch)},
        8, &x->changes, err);
    sbuf_release(&msg);
    if (rc == 0 && x->changes == 1 && ctx->parent[0] != '\0') {
        rc = store_exec(tx, "UPDATE flow_wf SET wake_ms = ? WHERE id = ? AND status = 2",
                        (struct store_val[]){SV_INT(now), SV_CSTR(ctx->parent)}, 2, NULL, err);
        if (rc == 0)
            rc = flow_notify(ctx->f, tx, "wake", err);
    }
    if (rc == 0 && x->changes == 1 && x->status == FLOW_CANCELLED)
        rc = flow_cancel_tree(ctx->f, tx, ctx->id, err);
    if (rc == 0 && x->changes == 1) {
        snprintf(payload, sizeof(payload), "end:%s", ctx->id);
        rc = flow_notify(ctx->f, tx, payload, err);
    }
    return rc;
}

/* Whether <xs> fit one PostgreSQL UPDATE. */
static bool ends_fit(struct flow_end *const *xs, size_t n)
{
    size_t bytes = 0;

    for (size_t i = 0; i < n; i++)
        bytes += xs[i]->result.len + 256;
    return xs[0]->ctx->f->pg && bytes <= FLOW_ENDS_BULK_BYTES;
}

/* Whether one of <xs> wakes a parent or cancels children. */
static bool ends_reach_others(struct flow_end *const *xs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (xs[i]->ctx->parent[0] != '\0' || xs[i]->status == FLOW_CANCELLED)
            return true;
    return false;
}

/* PostgreSQL: the ends of a batch in one UPDATE (each column an array, as in insert_pg) that
 * also notifies, unless one of them wakes a parent or cancels children: then those follow for
 * the ends that need them, with one notification for all. SQLite, where statements cost no
 * round trip, runs end_tx for each. */
static int ends_bulk(struct store_tx *tx, void *const *args, size_t n, struct err *err)
{
    struct flow_end *const *xs = (struct flow_end *const *)args;
    bool others;
    int rc = 0;

    if (!ends_fit(xs, n)) {
        for (size_t i = 0; rc == 0 && i < n; i++)
            rc = end_tx(tx, xs[i], err);
        return rc;
    }
    others = ends_reach_others(xs, n);
    rc = flow_ends_update_pg(tx, xs, n, !others, err);
    return rc < 0 || !others ? rc : flow_ends_after_pg(tx, xs, n, err);
}

static bool ends_one_statement(void *const *args, size_t n)
{
    struct flow_end *const *xs = (struct flow_end *const *)args;

    return ends_fit(xs, n) && !ends_reach_others(xs, n);
}

static const struct flow_bulk ends_kind = {ends_bulk, ends_one_statement};

struct park_ctx {
    struct flow_ctx *ctx;
    int64_t wake;
};

/* The run waits (or is handed back): status WAITING (PENDING when released) with its wake
 * time, then whatever it waits for that is already there makes it due at once. */
static int park_tx(struct store_tx *tx, void *arg, struct err *err)
{
    struct park_ctx *p = arg;
    struct flow_ctx *ctx = p->ctx;
    int64_t now = (int64_t)time_wall_ms();
    const char *sql;
    int64_t n = 0;
    int rc;

    rc = store_exec(tx,
                    "UPDATE flow_wf SET status = ?, owner = NULL, lease_ms = NULL, wake_ms = ?, "
                    "updated_ms = ? WHERE id = ? AND owner = ? AND runs = ?",
                    (struct store_val[]){SV_INT(ctx->release ? FLOW_PENDING : FLOW_WAITING),
                                         SV_INT(p->wake), SV_INT(now), SV_CSTR(ctx->id),
                                         SV_CSTR(ctx->f->owner), SV_INT(ctx->run->epoch)},
                    6, &n, err);
    if (rc < 0 || ctx->release || n == 0)
        return rc;
    switch (ctx->wait) {
    case FLOW_WAIT_RECV:
        sql = "UPDATE flow_wf SET wake_ms = ? WHERE id = ? AND (cancel = 1 OR EXISTS (SELECT 1 "
              "FROM flow_msg WHERE wf_id = ? AND topic = ? AND taken_seq IS NULL))";
        break;
    case FLOW_WAIT_CHILD:
        sql = "UPDATE flow_wf SET wake_ms = ? WHERE id = ? AND (cancel = 1 OR EXISTS (SELECT 1 "
              "FROM flow_wf c WHERE c.id = ? AND c.status >= 3 AND c.id <> ?))";
        break;
    default:
        sql = "UPDATE flow_wf SET wake_ms = ? WHERE id = ? AND cancel = 1 AND ? <> ?";
        break;
    }
    rc = store_exec(
        tx, sql,
        (struct store_val[]){SV_INT(now), SV_CSTR(ctx->id),
                             SV_CSTR(ctx->wait == FLOW_WAIT_RECV ? ctx->id : ctx->wait_key),
                             SV_CSTR(ctx->wait == FLOW_WAIT_RECV ? ctx->wait_key : ctx->id)},
        4, NULL, err);
    return rc;
}

/* Ends the run: records the final state, or parks it. */
static void run_end(struct flow_ctx *ctx, int rc, struct sbuf *result, const struct err *e)
{
    struct err err = {0};
    struct flow_end x = {.ctx = ctx};

    if (ctx->stop == FLOW_SUSPENDED) {
        struct park_ctx p = {ctx, ctx->release ? (int64_t)time_wall_ms() : ctx->wake_ms};

        /* A lost claim is parked too: the update only applies while this engine is still
         * the owner, so it hands back a claim wrongly thought lost and leaves a taken-over
         * one alone. */
        if (flow_commit_run(ctx->f->commit, park_tx, &p, &err) < 0)
            LOG_WARN(&ctx->f->log, "flow.park_failed", LF_STR("workflow", ctx->id),
                     LF_STR("error", err.msg));
        if (p.wake <= (int64_t)time_wall_ms() + (int64_t)ctx->f->opts.poll_ms)
            flow_kick(ctx->f);
        return;
    }
    if (ctx->stop == ERR_CANCELLED || atomic_load(&ctx->run->cancelled)) {
        x.status = FLOW_CANCELLED;
        x.e = ctx->stop == ERR_CANCELLED ? &ctx->stop_err : NULL;
    } else if (ctx->stop != 0) {
        x.status = FLOW_FAILED;
        x.e = &ctx->stop_err;
    } else if (rc < 0) {
        x.status = FLOW_FAILED;
        x.e = e;
    } else {
        x.status = FLOW_SUCCEEDED;
        x.result = result->len ? (struct slice){result->buf, result->len} : SLICE("null");
    }
    flow_logs_flush(ctx->f->logs, ctx->id);
    if (flow_commit_bulk(ctx->f->commit, &ends_kind, &x, &err) < 0) {
        LOG_WARN(&ctx->f->log, "flow.end_failed", LF_STR("workflow", ctx->id),
                 LF_STR("error", err.msg));
        return;
    }
    if (x.changes == 1) {
        LOG_INFO(&ctx->f->log, "flow.ended", LF_STR("workflow", ctx->id),
                 LF_STR("name", ctx->def ? ctx->def->name : "?"),
                 LF_STR("status", flow_status_name(x.status)));
        flow_ended_local(ctx->f, ctx->id);
        if (ctx->parent[0] != '\0')
            flow_kick(ctx->f);
    }
}

void flow_run_start_locked(struct flow *f, const struct flow_claimed *c, struct flow_run *run)
{
    *run = (struct flow_run){
        .f = f, .epoch = c->epoch, .lease_mono = c->t0 + f->opts.lease_ms * 3 / 4};
    memcpy(run->id, c->id, 37);
    run->next = f->runs;
    if (f->runs != NULL)
        f->runs->prev = run;
    f->runs = run;
    if (f->stopping)
        atomic_store(&run->lost, true);
    if (c->cancel)
        atomic_store(&run->cancelled, true);
}

static void run_unregister(struct flow *f, struct flow_run *run)
{
    pthread_mutex_lock(&f->lock);
    if (run->prev != NULL)
        run->prev->next = run->next;
    else
        f->runs = run->next;
    if (run->next != NULL)
        run->next->prev = run->prev;
    pthread_mutex_unlock(&f->lock);
}

static void run_body(struct flow_ctx *ctx, const struct flow_wfrow *row)
{
    struct sbuf result = SBUF_INIT(FLOW_MAX_INPUT);
    struct err err = {0};
    struct slice input;
    bool cancel = false;
    int rc = load_wf(ctx, row, &input, &cancel, &err);

    if (rc == 1)
        return; /* no longer ours */
    /* Only a claim records steps (and attempts), and each claim adds one to the epoch: the
     * first claim of a workflow has nothing to replay. */
    ctx->fresh = ctx->run->epoch == 1;
    if (rc == 0 && !ctx->fresh)
        rc = load_steps(ctx, &err);
    if (rc < 0) {
        LOG_WARN(&ctx->f->log, "flow.load_failed", LF_STR("workflow", ctx->id),
                 LF_STR("error", err.msg));
        flow_ctx_release(ctx, NULL);
        run_end(ctx, rc, &result, &err);
        return;
    }
    if (cancel)
        atomic_store(&ctx->run->cancelled, true);
    if (ctx->def == NULL)
        rc = flow_ctx_stop(ctx, ERR_NOTFOUND, &err,
                           "workflow %s: no workflow of its name is registered", ctx->id);
    if (rc == 0)
        rc = flow_ctx_check_live(ctx, &err);
    if (rc == 0) {
        rc = ctx->def->fn(ctx, input, &result, &err);
        if (rc == 0 && result.err != 0)
            rc = err_set(&err, ERR_LIMIT, "result longer than %u bytes", FLOW_MAX_INPUT);
    }
    if (rc < 0 && err.code == 0)
        err_set(&err, rc, "workflow returned %s without a message", err_name(rc));
    run_end(ctx, rc, &result, &err);
    sbuf_release(&result);
}

void flow_run_claimed(struct flow *f, struct flow_claimed *c, struct flow_run *run)
{
    struct flow_ctx ctx = {.f = f, .run = run};

    memcpy(ctx.id, c->id, 37);
    ctx.a = arena_new(&(struct arena_opts){.chunk = 64 << 10, .budget = FLOW_RUN_ARENA});
    run_body(&ctx, c->row);
    run_unregister(f, run);
    arena_free(ctx.a);
    free(c->row);
    c->row = NULL;
}

/* ---------------------------------------------------------------- heartbeat */

/* Renews the lease of each workflow this engine runs, one row per statement (a statement
 * holding one row lock cannot deadlock with a group commit holding others); a row no longer
 * ours means the claim was lost. Then learns which of them another process cancelled. */
void flow_heartbeat(struct flow *f)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 4 << 20});
    int64_t lease = (int64_t)time_wall_ms() + (int64_t)f->opts.lease_ms, n;
    struct flow_claimed *ids = NULL;
    struct store_rows *r;
    struct flow_run *run;
    struct err err = {0};
    size_t i, nids = 0;

    pthread_mutex_lock(&f->lock);
    for (run = f->runs; run != NULL; run = run->next)
        nids++;
    ids = nids ? xcalloc(nids, sizeof(*ids)) : NULL;
    for (i = 0, run = f->runs; run != NULL; run = run->next, i++) {
        memcpy(ids[i].id, run->id, 37);
        ids[i].epoch = run->epoch;
    }
    pthread_mutex_unlock(&f->lock);
    for (i = 0; i < nids; i++) {
        uint64_t t0 = time_mono_ms();

        n = 1;
        if (store_exec1(f->store, renew_sql,
                        (struct store_val[]){SV_INT(lease), SV_CSTR(ids[i].id), SV_CSTR(f->owner),
                                             SV_INT(ids[i].epoch)},
                        4, &n, &err) < 0)
            LOG_WARN(&f->log, "flow.heartbeat_failed", LF_STR("error", err.msg));
        else if (n == 0)
            flow_lost_local(f, &ids[i]);
        else
            flow_renewed_local(f, &ids[i], t0);
    }
    free(ids);
    if (store_read1(f->store, a,
                    "SELECT id FROM flow_wf WHERE owner = ? AND status = 1 AND cancel = 1",
                    (struct store_val[]){SV_CSTR(f->owner)}, 1, &r, &err) == 0)
        for (i = 0; i < r->nrows; i++) {
            char id[37];

            if (store_cell(r, i, 0)->s.len != 36)
                continue;
            memcpy(id, store_cell(r, i, 0)->s.ptr, 36);
            id[36] = '\0';
            flow_cancel_local(f, id);
        }
    arena_free(a);
}
