/*
 * Running one workflow: load what its earlier runs recorded, call its function, answer each
 * flow_* call from the record while there is one (the replay) and for real after it, then
 * record how the run ended: the final state, or the wait it suspended on.
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

#define RUN_ARENA (256u << 20)

enum step_status { STEP_DONE = 0, STEP_FAILED = 1, STEP_WAITING = 2 };
enum wait_kind { WAIT_NONE, WAIT_TIMER, WAIT_RECV, WAIT_CHILD };

struct flow_rec {
    bool set;
    struct slice name;
    int status;
    struct slice output;
    int err_code;
    struct slice err_msg;
    int64_t wake_ms;
};

struct flow_ctx {
    struct flow *f;
    struct flow_run *run;
    const struct flow_def *def;
    struct arena *a;
    char id[37];
    char parent[37];
    struct flow_rec *rec;
    size_t nrec;
    unsigned seq;     /* the next step position */
    bool fresh;       /* a step ran for real in this run: no earlier attempts to count */
    int64_t deadline; /* wall ms, 0 = none */
    int stop;         /* sticky; see above */
    struct err stop_err;
    bool release; /* stopped because the claim was lost or the engine stops */
    enum wait_kind wait;
    int64_t wake_ms;
    char wait_key[160]; /* the topic, or the child's id */
};

/* ---------------------------------------------------------------- sticky stops */

static int stop_with(struct flow_ctx *ctx, int code, struct err *err)
{
    if (err != NULL)
        *err = ctx->stop_err;
    return code;
}

static int stop(struct flow_ctx *ctx, int code, struct err *err, const char *fmt, ...)
    APP_PRINTF(4, 5);
static int stop(struct flow_ctx *ctx, int code, struct err *err, const char *fmt, ...)
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

static int suspend(struct flow_ctx *ctx, enum wait_kind kind, int64_t wake, const char *key,
                   struct err *err)
{
    ctx->wait = kind;
    ctx->wake_ms = ctx->deadline > 0 && ctx->deadline < wake ? ctx->deadline : wake;
    snprintf(ctx->wait_key, sizeof(ctx->wait_key), "%s", key ? key : "");
    return stop(ctx, FLOW_SUSPENDED, err, "waiting");
}

static int release(struct flow_ctx *ctx, struct err *err)
{
    ctx->release = true;
    return stop(ctx, FLOW_SUSPENDED, err, "the engine stops or lost the claim");
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
static int check_live(struct flow_ctx *ctx, struct err *err)
{
    if (ctx->stop != 0)
        return stop_with(ctx, ctx->stop, err);
    if (atomic_load(&ctx->run->cancelled))
        return stop(ctx, ERR_CANCELLED, err, "workflow %s was cancelled", ctx->id);
    if (atomic_load(&ctx->run->lost) || claim_doubtful(ctx))
        return release(ctx, err);
    if (ctx->deadline > 0 && (int64_t)time_wall_ms() >= ctx->deadline)
        return stop(ctx, ERR_TIMEOUT, err, "workflow %s passed its deadline", ctx->id);
    return 0;
}

/* The record at the next position, checked against <name>; NULL when there is none (the
 * call is new). */
static const struct flow_rec *next_rec(struct flow_ctx *ctx, const char *name, unsigned *seq,
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
        *rc = stop(ctx, ERR_INTERNAL, err,
                   "non-determinism: step %u is recorded as \"%.*s\" but the workflow now calls "
                   "\"%.60s\" there",
                   *seq, (int)(r->name.len < 60 ? r->name.len : 60), r->name.ptr, name);
    return r;
}

static int rec_result(const struct flow_rec *r, struct slice *out, struct err *err)
{
    if (r->status == STEP_FAILED)
        return err_set(err, r->err_code < 0 ? r->err_code : ERR_INTERNAL, "%.*s",
                       SLICE_ARG(r->err_msg));
    if (out != NULL)
        *out = r->output;
    return 0;
}

/* ---------------------------------------------------------------- recording */

struct step_row {
    const char *wf;
    unsigned seq;
    const char *name;
    int status;
    struct slice output;
    struct err *err; /* FAILED: the error */
    unsigned attempts;
    int64_t started, ended, wake;
    int64_t changes;
};

#define ROWS_MAX  128 /* rows per multi-row statement; 11 parameters each */
#define STEP_COLS 11

/* The parameters of <s> into <v> (STEP_COLS of them); its error message made fit for a TEXT
 * column in <a>. */
static void step_vals(const struct step_row *s, struct arena *a, struct store_val *v)
{
    struct slice msg = SLICE_NULL;

    if (s->status == STEP_FAILED) {
        struct sbuf b = SBUF_INIT(1024);

        sbuf_put_utf8(&b, slice_from_cstr(s->err->msg));
        char *copy = arena_alloc(a, b.len + 1);
        if (copy != NULL) {
            memcpy(copy, b.buf ? b.buf : "", b.len);
            msg = (struct slice){copy, b.len};
        }
        sbuf_release(&b);
    }
    v[0] = SV_CSTR(s->wf);
    v[1] = SV_INT(s->seq);
    v[2] = SV_CSTR(s->name);
    v[3] = SV_INT(s->status);
    v[4] = s->status == STEP_DONE ? SV_BLOB(s->output) : SV_NULL;
    v[5] = s->status == STEP_FAILED ? SV_INT(s->err->code) : SV_NULL;
    v[6] = s->status == STEP_FAILED ? SV_TEXT(msg) : SV_NULL;
    v[7] = SV_INT(s->attempts);
    v[8] = SV_INT(s->started);
    v[9] = s->ended ? SV_INT(s->ended) : SV_NULL;
    v[10] = s->wake ? SV_INT(s->wake) : SV_NULL;
}

/* Appends "(?, ?, …), (…)" for <n> rows of <cols> values. */
static void sql_tuples(struct sbuf *sql, size_t n, size_t cols)
{
    for (size_t i = 0; i < n; i++) {
        sbuf_puts(sql, i ? ", (" : "(");
        for (size_t j = 0; j < cols; j++)
            sbuf_puts(sql, j ? ", ?" : "?");
        sbuf_putc(sql, ')');
    }
}

/* Inserts <n> (at most ROWS_MAX) step rows in one statement; each row's changes says whether
 * it was inserted (0: that position was recorded already). */
static int insert_rows(struct store_tx *tx, struct step_row *const *rows, size_t n, struct err *err)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 16u << 20});
    struct store_val v[ROWS_MAX * STEP_COLS];
    struct sbuf sql = SBUF_INIT(16384);
    struct store_rows *r;
    int rc;

    sbuf_puts(&sql, "INSERT INTO flow_step (wf_id, seq, name, status, output, err_code, err_msg, "
                    "attempts, started_ms, ended_ms, wake_ms) VALUES ");
    sql_tuples(&sql, n, STEP_COLS);
    sbuf_puts(&sql, " ON CONFLICT (wf_id, seq) DO NOTHING RETURNING wf_id, seq");
    for (size_t i = 0; i < n; i++) {
        step_vals(rows[i], a, &v[i * STEP_COLS]);
        rows[i]->changes = 0;
    }
    rc = sql.err ? err_set(err, ERR_INTERNAL, "step insert too long") : 0;
    if (rc == 0)
        rc = store_query(tx, a, sql.buf, v, n * STEP_COLS, &r, err);
    for (size_t k = 0; rc == 0 && k < r->nrows; k++)
        for (size_t i = 0; i < n; i++)
            if (slice_eq_cstr(store_cell(r, k, 0)->s, rows[i]->wf) &&
                store_cell(r, k, 1)->i == (int64_t)rows[i]->seq)
                rows[i]->changes = 1;
    sbuf_release(&sql);
    arena_free(a);
    return rc;
}

static int step_row_tx(struct store_tx *tx, void *arg, struct err *err)
{
    struct step_row *row = arg;

    return insert_rows(tx, &row, 1, err);
}

/* PostgreSQL: what a run writes is fenced by its claim. In the same transaction the write
 * first share-locks its workflow's row where this engine still owns it with the run's epoch:
 * when another engine has taken the workflow over (this one stalled past its lease), nothing
 * is written; a takeover that starts meanwhile waits for this commit (its UPDATE needs the
 * row), so it replays what was just recorded. Leases are renewed by the heartbeat, not here.
 * SQLite has one process, whose claims nobody takes. */
struct fenced {
    struct flow_ctx *ctx;
    flow_apply_fn *fn;
    void *arg;
    bool lost;
};

static int fence_all(struct store_tx *tx, struct fenced *const *xs, size_t n, struct err *err);

static int fenced_tx(struct store_tx *tx, void *arg, struct err *err)
{
    struct fenced *x = arg;
    int rc;

    x->lost = false;
    if (x->ctx->f->pg) {
        rc = fence_all(tx, &x, 1, err);
        if (rc < 0 || x->lost)
            return rc;
    }
    return x->fn(tx, x->arg, err);
}

/* Commits <fn>(<arg>) for the run: 0, 1 when the run no longer holds its workflow (nothing was
 * written), or an error. */
static int ctx_commit(struct flow_ctx *ctx, flow_apply_fn *fn, void *arg, struct err *err)
{
    struct fenced x = {ctx, fn, arg, false};
    int rc = flow_commit_run(ctx->f->commit, fenced_tx, &x, err);

    if (rc == 0 && x.lost) {
        atomic_store(&ctx->run->lost, true);
        return 1;
    }
    return rc;
}

/* ---- PostgreSQL: many rows in one statement of constant text (prepared once per connection,
 * so never planned again) by passing each column as an array literal. */

#define PG_CHUNK_ROWS  512
#define PG_CHUNK_BYTES (4u << 20)

static void arr_sep(struct sbuf *b)
{
    if (b->len > 0 && b->buf[b->len - 1] != '{')
        sbuf_putc(b, ',');
}

static void arr_int(struct sbuf *b, int64_t v)
{
    arr_sep(b);
    sbuf_printf(b, "%" PRId64, v);
}

static void arr_null(struct sbuf *b)
{
    arr_sep(b);
    sbuf_puts(b, "NULL");
}

/* <s> (valid UTF-8) quoted as an array element. */
static void arr_text(struct sbuf *b, struct slice s)
{
    arr_sep(b);
    sbuf_putc(b, '"');
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] == '"' || s.ptr[i] == '\\')
            sbuf_putc(b, '\\');
        sbuf_putc(b, s.ptr[i]);
    }
    sbuf_putc(b, '"');
}

/* <s>'s bytes in hexadecimal, for decode(…, 'hex'). */
static void arr_hex(struct sbuf *b, struct slice s)
{
    static const char hex[] = "0123456789abcdef";

    arr_sep(b);
    sbuf_putc(b, '"');
    for (size_t i = 0; i < s.len; i++) {
        sbuf_putc(b, hex[(unsigned char)s.ptr[i] >> 4]);
        sbuf_putc(b, hex[(unsigned char)s.ptr[i] & 15]);
    }
    sbuf_putc(b, '"');
}

/* The fence of fenced_tx for all of <xs> in one statement; runs whose claim (owner and epoch)
 * is gone are marked lost. */
static int fence_all(struct store_tx *tx, struct fenced *const *xs, size_t n, struct err *err)
{
    struct flow *f = xs[0]->ctx->f;
    struct arena *a = arena_new(&(struct arena_opts){.budget = 4u << 20});
    struct sbuf ids = SBUF_INIT(64u << 20);
    struct store_rows *r;
    int rc;

    sbuf_putc(&ids, '{');
    for (size_t i = 0; i < n; i++) {
        arr_text(&ids, slice_from_cstr(xs[i]->ctx->id));
        xs[i]->lost = true;
    }
    sbuf_putc(&ids, '}');
    rc = ids.err ? err_set(err, ERR_LIMIT, "fence: too many runs") : 0;
    if (rc == 0)
        rc = store_query(
            tx, a,
            "SELECT id, runs FROM flow_wf WHERE id = ANY(CAST(? AS TEXT[])) AND "
            "owner = ? AND status = 1 FOR SHARE",
            (struct store_val[]){SV_TEXT(((struct slice){ids.buf, ids.len})), SV_CSTR(f->owner)}, 2,
            &r, err);
    for (size_t k = 0; rc == 0 && k < r->nrows; k++)
        for (size_t i = 0; i < n; i++)
            if (slice_eq_cstr(store_cell(r, k, 0)->s, xs[i]->ctx->id) &&
                store_cell(r, k, 1)->i == xs[i]->ctx->run->epoch)
                xs[i]->lost = false;
    sbuf_release(&ids);
    arena_free(a);
    return rc;
}

/* Writes the STEP_COLS columns of <rows> as array literals into <cols>. */
static void step_arrays(struct step_row *const *rows, size_t n, struct sbuf *cols)
{
    struct sbuf msg = SBUF_INIT(1024);

    for (size_t c = 0; c < STEP_COLS; c++)
        sbuf_putc(&cols[c], '{');
    for (size_t i = 0; i < n; i++) {
        const struct step_row *s = rows[i];
        bool failed = s->status == STEP_FAILED;

        arr_text(&cols[0], slice_from_cstr(s->wf));
        arr_int(&cols[1], s->seq);
        arr_text(&cols[2], slice_from_cstr(s->name));
        arr_int(&cols[3], s->status);
        if (s->status == STEP_DONE)
            arr_hex(&cols[4], s->output);
        else
            arr_null(&cols[4]);
        sbuf_reset(&msg);
        if (failed)
            sbuf_put_utf8(&msg, slice_from_cstr(s->err->msg));
        failed ? arr_int(&cols[5], s->err->code) : arr_null(&cols[5]);
        failed ? arr_text(&cols[6], (struct slice){msg.buf, msg.len}) : arr_null(&cols[6]);
        arr_int(&cols[7], s->attempts);
        arr_int(&cols[8], s->started);
        s->ended ? arr_int(&cols[9], s->ended) : arr_null(&cols[9]);
        s->wake ? arr_int(&cols[10], s->wake) : arr_null(&cols[10]);
    }
    for (size_t c = 0; c < STEP_COLS; c++)
        sbuf_putc(&cols[c], '}');
    sbuf_release(&msg);
}

static int insert_pg(struct store_tx *tx, struct step_row *const *rows, size_t n, struct err *err)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 8u << 20});
    struct sbuf cols[STEP_COLS];
    struct store_val v[STEP_COLS];
    struct store_rows *r;
    int rc = 0;

    for (size_t c = 0; c < STEP_COLS; c++)
        sbuf_init(&cols[c], 3 * PG_CHUNK_BYTES);
    step_arrays(rows, n, cols);
    for (size_t c = 0; c < STEP_COLS; c++) {
        if (cols[c].err)
            rc = err_set(err, ERR_LIMIT, "step rows: over %u bytes", 3 * PG_CHUNK_BYTES);
        v[c] = SV_TEXT(((struct slice){cols[c].buf, cols[c].len}));
    }
    for (size_t i = 0; i < n; i++)
        rows[i]->changes = 0;
    if (rc == 0)
        rc = store_query(
            tx, a,
            "INSERT INTO flow_step (wf_id, seq, name, status, output, err_code, err_msg, "
            "attempts, started_ms, ended_ms, wake_ms) SELECT w, s, n, st, decode(o, 'hex'), ec, "
            "em, at, sm, en, wm FROM unnest(CAST(? AS TEXT[]), CAST(? AS BIGINT[]), "
            "CAST(? AS TEXT[]), CAST(? AS BIGINT[]), CAST(? AS TEXT[]), CAST(? AS BIGINT[]), "
            "CAST(? AS TEXT[]), CAST(? AS BIGINT[]), CAST(? AS BIGINT[]), CAST(? AS BIGINT[]), "
            "CAST(? AS BIGINT[])) AS u(w, s, n, st, o, ec, em, at, sm, en, wm) "
            "ON CONFLICT (wf_id, seq) DO NOTHING RETURNING wf_id, seq",
            v, STEP_COLS, &r, err);
    for (size_t k = 0; rc == 0 && k < r->nrows; k++)
        for (size_t i = 0; i < n; i++)
            if (store_cell(r, k, 1)->i == (int64_t)rows[i]->seq &&
                slice_eq_cstr(store_cell(r, k, 0)->s, rows[i]->wf))
                rows[i]->changes = 1;
    for (size_t c = 0; c < STEP_COLS; c++)
        sbuf_release(&cols[c]);
    arena_free(a);
    return rc;
}

/* How many of <rows> go in the next statement. */
static size_t chunk_of(struct step_row *const *rows, size_t n, bool pg)
{
    size_t k, bytes = 0;

    if (!pg) {
        for (k = ROWS_MAX; k > n; k /= 2) /* 128, 64, … 1: few distinct statements */
            ;
        return k;
    }
    for (k = 0; k < n && k < PG_CHUNK_ROWS; k++) {
        bytes += rows[k]->output.len * 2 + 256;
        if (k > 0 && bytes > PG_CHUNK_BYTES)
            break;
    }
    return k;
}

/* The bulk of step records: the fences of all in one statement (PostgreSQL), then the rows of
 * those still holding their claim. */
static int steps_bulk(struct store_tx *tx, void *const *args, size_t n, struct err *err)
{
    struct fenced *const *xs = (struct fenced *const *)args;
    bool pg = xs[0]->ctx->f->pg;
    struct step_row **rows = xcalloc(n, sizeof(*rows));
    size_t m = 0, done, k;
    int rc = 0;

    for (size_t i = 0; i < n; i++)
        xs[i]->lost = false;
    if (pg)
        rc = fence_all(tx, xs, n, err);
    for (size_t i = 0; i < n; i++)
        if (!xs[i]->lost)
            rows[m++] = xs[i]->arg;
    for (done = 0; rc == 0 && done < m; done += k) {
        k = chunk_of(rows + done, m - done, pg);
        rc = pg ? insert_pg(tx, rows + done, k, err) : insert_rows(tx, rows + done, k, err);
    }
    free(rows);
    return rc;
}

/* Records a step row. When another executor recorded that position first, its record wins:
 * 1 is returned and the caller gives up the run (the other one carries on); 1 too when the run
 * no longer holds its claim (nothing was written). */
static int record(struct flow_ctx *ctx, struct step_row *row, struct err *err)
{
    struct fenced x = {ctx, NULL, row, false};
    int rc;

    row->wf = ctx->id;
    rc = flow_commit_bulk(ctx->f->commit, steps_bulk, &x, err);
    if (rc < 0)
        return rc;
    if (x.lost) {
        atomic_store(&ctx->run->lost, true);
        return 1;
    }
    return row->changes == 0;
}

/* Gives up the run after a failed or lost record. */
static int record_failed(struct flow_ctx *ctx, int rc, struct err *err)
{
    if (rc < 0)
        LOG_WARN(&ctx->f->log, "flow.record_failed", LF_STR("workflow", ctx->id),
                 LF_STR("error", err->msg));
    return release(ctx, err);
}

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
    struct step_row row = {.name = name};
    struct err e = {0};
    unsigned seq, max;
    int rc;

    r = next_rec(ctx, name, &seq, err, &rc);
    if (rc < 0)
        return rc;
    if (r != NULL)
        return rec_result(r, output, err);
    rc = check_live(ctx, err);
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
            return check_live(ctx, err);
        }
        if (rc == 0 || call.attempt >= max || !retryable(p, rc)) {
            row = (struct step_row){.name = name,
                                    .seq = seq,
                                    .started = row.started,
                                    .status = rc == 0 ? STEP_DONE : STEP_FAILED,
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
        rc = check_live(ctx, err);
        if (rc < 0) {
            sbuf_release(&out);
            return rc;
        }
    }
    rc = record(ctx, &row, err);
    if (rc != 0) {
        sbuf_release(&out);
        return record_failed(ctx, rc, err);
    }
    if (row.status == STEP_FAILED) {
        sbuf_release(&out);
        *err = *row.err;
        return row.err->code;
    }
    if (output != NULL) {
        char *copy = arena_alloc(ctx->a, out.len + 1);

        if (copy == NULL) {
            sbuf_release(&out);
            return stop(ctx, ERR_LIMIT, err, "workflow %s: outputs over %u bytes", ctx->id,
                        RUN_ARENA);
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

/* Records that position <seq> started waiting until <wake>. */
static int record_waiting(struct flow_ctx *ctx, unsigned seq, const char *name, int64_t wake,
                          struct err *err)
{
    struct step_row row = {.seq = seq,
                           .name = name,
                           .status = STEP_WAITING,
                           .started = (int64_t)time_wall_ms(),
                           .wake = wake};
    int rc = record(ctx, &row, err);

    return rc != 0 ? record_failed(ctx, rc, err) : 0;
}

int flow_sleep(struct flow_ctx *ctx, uint64_t ms, struct err *err)
{
    const struct flow_rec *r;
    unsigned seq;
    int64_t wake;
    int rc;

    r = next_rec(ctx, "sleep", &seq, err, &rc);
    if (rc < 0)
        return rc;
    if (r != NULL) {
        wake = r->wake_ms;
    } else {
        rc = check_live(ctx, err);
        if (rc < 0)
            return rc;
        wake = (int64_t)(time_wall_ms() +
                         (ms > (uint64_t)FLOW_NEVER / 2 ? (uint64_t)FLOW_NEVER / 2 : ms));
        rc = record_waiting(ctx, seq, "sleep", wake, err);
        if (rc < 0)
            return rc;
    }
    if ((int64_t)time_wall_ms() >= wake)
        return 0;
    rc = check_live(ctx, err);
    return rc < 0 ? rc : suspend(ctx, WAIT_TIMER, wake, NULL, err);
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

struct settle_ctx {
    const char *wf;
    unsigned seq;
    int status;
    struct slice output;
    const struct err *e;
};

/* Turns a waiting position into its result. */
static int settle_tx(struct store_tx *tx, void *arg, struct err *err)
{
    struct settle_ctx *s = arg;
    struct sbuf msg = SBUF_INIT(1024);
    int rc;

    if (s->e != NULL)
        sbuf_put_utf8(&msg, slice_from_cstr(s->e->msg));
    rc = store_exec(
        tx,
        "UPDATE flow_step SET status = ?, output = ?, err_code = ?, err_msg = ?, "
        "ended_ms = ? WHERE wf_id = ? AND seq = ?",
        (struct store_val[]){SV_INT(s->status), s->e ? SV_NULL : SV_BLOB(s->output),
                             s->e ? SV_INT(s->e->code) : SV_NULL,
                             s->e ? SV_TEXT(((struct slice){msg.buf, msg.len})) : SV_NULL,
                             SV_INT(time_wall_ms()), SV_CSTR(s->wf), SV_INT(s->seq)},
        7, NULL, err);
    sbuf_release(&msg);
    return rc;
}

static int settle(struct flow_ctx *ctx, unsigned seq, struct slice output, const struct err *e,
                  struct err *err)
{
    struct settle_ctx s = {ctx->id, seq, e ? STEP_FAILED : STEP_DONE, output, e};
    int rc = ctx_commit(ctx, settle_tx, &s, err);

    return rc != 0 ? record_failed(ctx, rc, err) : 0;
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
        return stop(ctx, ERR_INVALID, err, "flow_recv: topic must be 1 to 128 bytes");
    snprintf(name, sizeof(name), "recv:%s", topic);
    r = next_rec(ctx, name, &t.seq, err, &rc);
    if (rc < 0)
        return rc;
    if (r != NULL && r->status != STEP_WAITING)
        return rec_result(r, msg, err);
    rc = check_live(ctx, err);
    if (rc < 0)
        return rc;
    if (r != NULL) {
        deadline = r->wake_ms;
    } else {
        deadline = timeout_ms >= (uint64_t)FLOW_NEVER / 2 ? FLOW_NEVER
                                                          : (int64_t)(time_wall_ms() + timeout_ms);
        rc = record_waiting(ctx, t.seq, name, deadline, err);
        if (rc < 0)
            return rc;
    }
    rc = ctx_commit(ctx, take_tx, &t, err);
    if (rc != 0)
        return record_failed(ctx, rc, err);
    if (t.got) {
        if (msg != NULL)
            *msg = t.msg;
        return 0;
    }
    if ((int64_t)time_wall_ms() >= deadline) {
        struct err e = {0};

        err_set(&e, ERR_TIMEOUT, "no message on \"%.100s\" within %" PRIu64 " ms", topic,
                timeout_ms);
        rc = settle(ctx, t.seq, SLICE_NULL, &e, err);
        if (rc < 0)
            return rc;
        *err = e;
        return ERR_TIMEOUT;
    }
    return suspend(ctx, WAIT_RECV, deadline, topic, err);
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
    struct step_row row = {.wf = ev->wf,
                           .seq = ev->seq,
                           .name = ev->name,
                           .status = STEP_DONE,
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

    return rc < 0 ? rc : step_row_tx(tx, &row, err);
}

int flow_set_event(struct flow_ctx *ctx, const char *key, struct slice value, struct err *err)
{
    struct event_ctx ev = {.wf = ctx->id, .key = key, .value = value};
    const struct flow_rec *r;
    char name[160];
    int rc;

    if (key == NULL || key[0] == '\0' || strlen(key) > 128)
        return stop(ctx, ERR_INVALID, err, "flow_set_event: key must be 1 to 128 bytes");
    if (value.len > FLOW_MAX_INPUT)
        return stop(ctx, ERR_LIMIT, err, "flow_set_event: value longer than %u bytes",
                    FLOW_MAX_INPUT);
    snprintf(name, sizeof(name), "event:%s", key);
    ev.name = name;
    r = next_rec(ctx, name, &ev.seq, err, &rc);
    if (rc < 0 || r != NULL)
        return rc;
    rc = check_live(ctx, err);
    if (rc < 0)
        return rc;
    rc = ctx_commit(ctx, event_tx, &ev, err);
    if (rc != 0)
        return record_failed(ctx, rc, err);
    ctx->fresh = true;
    return 0;
}

struct child_ctx {
    struct flow *f;
    struct flow_new_wf w;
    char key[64];
    char id[37];
    struct step_row row;
};

static int child_tx(struct store_tx *tx, void *arg, struct err *err)
{
    struct child_ctx *c = arg;
    int rc = flow_insert(tx, &c->w, c->id, err);

    if (rc < 0)
        return rc;
    c->row.output = slice_from_cstr(c->id);
    rc = step_row_tx(tx, &c->row, err);
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
        return stop(ctx, ERR_NOTFOUND, err, "child workflow \"%.64s\" is not registered",
                    wf ? wf : "");
    snprintf(name, sizeof(name), "child:%s", d->name);
    r = next_rec(ctx, name, &c.row.seq, err, &rc);
    if (rc < 0)
        return rc;
    if (r != NULL) {
        if (r->output.len != 36)
            return stop(ctx, ERR_INTERNAL, err, "step %u: a child id is not 36 bytes", c.row.seq);
        memcpy(id_out, r->output.ptr, 36);
        id_out[36] = '\0';
        return 0;
    }
    rc = check_live(ctx, err);
    if (rc < 0)
        return rc;
    snprintf(c.key, sizeof(c.key), "%s:%u", ctx->id, c.row.seq);
    c.w = (struct flow_new_wf){.name = d->name,
                               .input = input.len ? input : SLICE("null"),
                               .key = slice_from_cstr(c.key),
                               .parent = slice_from_cstr(ctx->id),
                               .queue = d->queue};
    c.row = (struct step_row){.wf = ctx->id,
                              .seq = c.row.seq,
                              .name = name,
                              .status = STEP_DONE,
                              .attempts = 1,
                              .started = (int64_t)time_wall_ms(),
                              .ended = (int64_t)time_wall_ms()};
    rc = ctx_commit(ctx, child_tx, &c, err);
    if (rc != 0)
        return record_failed(ctx, rc, err);
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

    r = next_rec(ctx, "join", &seq, err, &rc);
    if (rc < 0)
        return rc;
    if (r != NULL)
        return rec_result(r, result, err);
    rc = check_live(ctx, err);
    if (rc < 0)
        return rc;
    rc = flow_wait(ctx->f, ctx->a, slice_from_cstr(child_id), 0, &o, err);
    if (rc == ERR_TIMEOUT) {
        /* Not ended: wait without a thread; the child's end wakes this workflow. */
        return suspend(ctx, WAIT_CHILD, FLOW_NEVER, child_id, err);
    }
    if (rc < 0)
        return stop(ctx, rc, err, "join: %s", err->msg);
    if (o.status != FLOW_SUCCEEDED)
        err_set(&e,
                o.status == FLOW_CANCELLED ? ERR_CANCELLED
                                           : (o.err_code < 0 ? o.err_code : ERR_INTERNAL),
                "child %s %s: %.*s", child_id,
                o.status == FLOW_CANCELLED ? "was cancelled" : "failed", SLICE_ARG(o.err_msg));
    struct step_row row = {.seq = seq,
                           .name = "join",
                           .status = e.code ? STEP_FAILED : STEP_DONE,
                           .output = o.result,
                           .err = &e,
                           .attempts = 1,
                           .started = (int64_t)time_wall_ms(),
                           .ended = (int64_t)time_wall_ms()};
    rc = record(ctx, &row, err);
    if (rc != 0)
        return record_failed(ctx, rc, err);
    ctx->fresh = true;
    if (e.code != 0) {
        *err = e;
        return e.code;
    }
    if (result != NULL)
        *result = o.result;
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
    uint64_t end = time_mono_ms() + ms;
    struct timespec ts;

    pthread_mutex_lock(&f->lock);
    while (!atomic_load(&call->fired)) {
        uint64_t now = time_mono_ms(), step;

        if (now >= end)
            break;
        step = end - now < 1000 ? end - now : 1000;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)(step / 1000);
        ts.tv_nsec += (long)(step % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&f->call_cv, &f->lock, &ts);
    }
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
                       RUN_ARENA);
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

/* Reads the workflow row; 1 when this engine does not hold it (any more). */
static int load_wf(struct flow_ctx *ctx, struct slice *input, bool *cancel, struct err *err)
{
    struct store_rows *r;
    int rc = store_read1(ctx->f->store, ctx->a,
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

struct end_ctx {
    struct flow_ctx *ctx;
    enum flow_status status;
    struct slice result;
    const struct err *e;
    int64_t changes;
};

static int end_tx(struct store_tx *tx, void *arg, struct err *err)
{
    struct end_ctx *x = arg;
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
    if (rc == 0 && x->changes == 1 && ctx->parent[0] != '\0')
        rc = store_exec(tx, "UPDATE flow_wf SET wake_ms = ? WHERE id = ? AND status = 2",
                        (struct store_val[]){SV_INT(now), SV_CSTR(ctx->parent)}, 2, NULL, err);
    if (rc == 0 && x->changes == 1 && x->status == FLOW_CANCELLED)
        rc = flow_cancel_tree(ctx->f, tx, ctx->id, err);
    if (rc == 0 && x->changes == 1) {
        snprintf(payload, sizeof(payload), "end:%s", ctx->id);
        rc = flow_notify(ctx->f, tx, payload, err);
    }
    return rc;
}

/* PostgreSQL: the ends of a batch in one UPDATE (each column an array, as in insert_pg) and one
 * notification statement; what only some ends need (waking a parent, cancelling children) is
 * done for those. SQLite, where statements cost no round trip, runs end_tx for each. */
#define ENDS_BULK_BYTES (4u << 20)

static int ends_update_pg(struct store_tx *tx, struct end_ctx *const *xs, size_t n, struct err *err)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 4u << 20});
    struct sbuf cols[6], msg = SBUF_INIT(1024);
    struct store_val v[8];
    struct store_rows *r;
    int rc = 0;

    for (size_t c = 0; c < 6; c++) {
        sbuf_init(&cols[c], 2 * ENDS_BULK_BYTES);
        sbuf_putc(&cols[c], '{');
    }
    for (size_t i = 0; i < n; i++) {
        const struct end_ctx *x = xs[i];

        arr_text(&cols[0], slice_from_cstr(x->ctx->id));
        arr_int(&cols[1], x->ctx->run->epoch);
        arr_int(&cols[2], x->status);
        x->status == FLOW_SUCCEEDED ? arr_text(&cols[3], x->result) : arr_null(&cols[3]);
        sbuf_reset(&msg);
        if (x->e != NULL)
            sbuf_put_utf8(&msg, slice_from_cstr(x->e->msg));
        x->e ? arr_int(&cols[4], x->e->code) : arr_null(&cols[4]);
        x->e ? arr_text(&cols[5], (struct slice){msg.buf, msg.len}) : arr_null(&cols[5]);
    }
    v[0] = SV_INT(time_wall_ms());
    for (size_t c = 0; c < 6; c++) {
        sbuf_putc(&cols[c], '}');
        if (cols[c].err)
            rc = err_set(err, ERR_LIMIT, "ends: over %u bytes", 2 * ENDS_BULK_BYTES);
        v[1 + c] = SV_TEXT(((struct slice){cols[c].buf, cols[c].len}));
    }
    v[7] = SV_CSTR(xs[0]->ctx->f->owner);
    if (rc == 0)
        rc = store_query(tx, a,
                         "UPDATE flow_wf SET status = u.st, result = u.res, err_code = u.ec, "
                         "err_msg = u.em, owner = NULL, lease_ms = NULL, updated_ms = ? "
                         "FROM unnest(CAST(? AS TEXT[]), CAST(? AS BIGINT[]), CAST(? AS BIGINT[]), "
                         "CAST(? AS TEXT[]), CAST(? AS BIGINT[]), CAST(? AS TEXT[])) "
                         "AS u(id, runs, st, res, ec, em) WHERE flow_wf.id = u.id AND "
                         "flow_wf.runs = u.runs AND flow_wf.owner = ? RETURNING flow_wf.id",
                         v, 8, &r, err);
    for (size_t i = 0; i < n; i++)
        xs[i]->changes = 0;
    for (size_t k = 0; rc == 0 && k < r->nrows; k++)
        for (size_t i = 0; i < n; i++)
            if (slice_eq_cstr(store_cell(r, k, 0)->s, xs[i]->ctx->id))
                xs[i]->changes = 1;
    for (size_t c = 0; c < 6; c++)
        sbuf_release(&cols[c]);
    sbuf_release(&msg);
    arena_free(a);
    return rc;
}

/* After the bulk update: parents, cancelled children and one notification for all. */
static int ends_after_pg(struct store_tx *tx, struct end_ctx *const *xs, size_t n, struct err *err)
{
    struct sbuf ids = SBUF_INIT(1u << 20);
    int64_t now = (int64_t)time_wall_ms();
    int rc = 0;

    sbuf_putc(&ids, '{');
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct flow_ctx *ctx = xs[i]->ctx;

        if (xs[i]->changes != 1)
            continue;
        arr_text(&ids, slice_from_cstr(ctx->id));
        if (ctx->parent[0] != '\0')
            rc = store_exec(tx, "UPDATE flow_wf SET wake_ms = ? WHERE id = ? AND status = 2",
                            (struct store_val[]){SV_INT(now), SV_CSTR(ctx->parent)}, 2, NULL, err);
        if (rc == 0 && xs[i]->status == FLOW_CANCELLED)
            rc = flow_cancel_tree(ctx->f, tx, ctx->id, err);
    }
    sbuf_putc(&ids, '}');
    if (rc == 0 && ids.len > 2)
        rc = store_exec(tx,
                        "SELECT pg_notify('slipway_flow', 'end:' || i) "
                        "FROM unnest(CAST(? AS TEXT[])) AS i",
                        (struct store_val[]){SV_TEXT(((struct slice){ids.buf, ids.len}))}, 1, NULL,
                        err);
    sbuf_release(&ids);
    return rc;
}

static int ends_bulk(struct store_tx *tx, void *const *args, size_t n, struct err *err)
{
    struct end_ctx *const *xs = (struct end_ctx *const *)args;
    size_t bytes = 0;
    int rc = 0;

    for (size_t i = 0; i < n; i++)
        bytes += xs[i]->result.len + 256;
    if (!xs[0]->ctx->f->pg || n == 1 || bytes > ENDS_BULK_BYTES) {
        for (size_t i = 0; rc == 0 && i < n; i++)
            rc = end_tx(tx, xs[i], err);
        return rc;
    }
    rc = ends_update_pg(tx, xs, n, err);
    return rc < 0 ? rc : ends_after_pg(tx, xs, n, err);
}

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
    case WAIT_RECV:
        sql = "UPDATE flow_wf SET wake_ms = ? WHERE id = ? AND (cancel = 1 OR EXISTS (SELECT 1 "
              "FROM flow_msg WHERE wf_id = ? AND topic = ? AND taken_seq IS NULL))";
        break;
    case WAIT_CHILD:
        sql = "UPDATE flow_wf SET wake_ms = ? WHERE id = ? AND (cancel = 1 OR EXISTS (SELECT 1 "
              "FROM flow_wf c WHERE c.id = ? AND c.status >= 3 AND c.id <> ?))";
        break;
    default:
        sql = "UPDATE flow_wf SET wake_ms = ? WHERE id = ? AND cancel = 1 AND ? <> ?";
        break;
    }
    rc = store_exec(tx, sql,
                    (struct store_val[]){SV_INT(now), SV_CSTR(ctx->id),
                                         SV_CSTR(ctx->wait == WAIT_RECV ? ctx->id : ctx->wait_key),
                                         SV_CSTR(ctx->wait == WAIT_RECV ? ctx->wait_key : ctx->id)},
                    4, NULL, err);
    return rc;
}

/* Ends the run: records the final state, or parks it. */
static void run_end(struct flow_ctx *ctx, int rc, struct sbuf *result, const struct err *e)
{
    struct err err = {0};
    struct end_ctx x = {.ctx = ctx};

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
    if (flow_commit_bulk(ctx->f->commit, ends_bulk, &x, &err) < 0) {
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

static void run_register(struct flow *f, struct flow_run *run)
{
    pthread_mutex_lock(&f->lock);
    run->next = f->runs;
    if (f->runs != NULL)
        f->runs->prev = run;
    f->runs = run;
    if (f->stopping)
        atomic_store(&run->lost, true);
    pthread_mutex_unlock(&f->lock);
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

static void run_body(struct flow_ctx *ctx)
{
    struct sbuf result = SBUF_INIT(FLOW_MAX_INPUT);
    struct err err = {0};
    struct slice input;
    bool cancel = false;
    int rc = load_wf(ctx, &input, &cancel, &err);

    if (rc == 1)
        return; /* no longer ours */
    if (rc == 0)
        rc = load_steps(ctx, &err);
    if (rc < 0) {
        LOG_WARN(&ctx->f->log, "flow.load_failed", LF_STR("workflow", ctx->id),
                 LF_STR("error", err.msg));
        release(ctx, NULL);
        run_end(ctx, rc, &result, &err);
        return;
    }
    if (cancel)
        atomic_store(&ctx->run->cancelled, true);
    if (ctx->def == NULL)
        rc = stop(ctx, ERR_NOTFOUND, &err, "workflow %s: no workflow of its name is registered",
                  ctx->id);
    if (rc == 0)
        rc = check_live(ctx, &err);
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

void flow_run_claimed(struct flow *f, const struct flow_claimed *c)
{
    struct flow_run run = {
        .f = f, .epoch = c->epoch, .lease_mono = c->t0 + f->opts.lease_ms * 3 / 4};
    struct flow_ctx ctx = {.f = f, .run = &run};

    memcpy(run.id, c->id, 37);
    memcpy(ctx.id, c->id, 37);
    ctx.a = arena_new(&(struct arena_opts){.chunk = 64 << 10, .budget = RUN_ARENA});
    run_register(f, &run);
    run_body(&ctx);
    run_unregister(f, &run);
    arena_free(ctx.a);
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
