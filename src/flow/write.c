/*
 * How a run's writes reach the store: each is fenced by the run's claim (PostgreSQL) and goes
 * through the group commit; step rows of many runs go in bulk (multi-row INSERTs on SQLite,
 * columns as arrays in one prepared statement on PostgreSQL), and on PostgreSQL so do the
 * ends of many runs.
 */
#include <stdlib.h>

#include "flow/flow-int.h"

/* ---------------------------------------------------------------- recording */

#define STEP_COLS 11

/* The parameters of <s> into <v> (STEP_COLS of them); <msg> is its error message made fit
 * for a TEXT column (step_msg()). */
static void step_vals(const struct flow_step_row *s, struct slice msg, struct store_val *v)
{
    v[0] = SV_CSTR(s->wf);
    v[1] = SV_INT(s->seq);
    v[2] = SV_CSTR(s->name);
    v[3] = SV_INT(s->status);
    v[4] = s->status == FLOW_STEP_DONE ? SV_BLOB(s->output) : SV_NULL;
    v[5] = s->status == FLOW_STEP_FAILED ? SV_INT(s->err->code) : SV_NULL;
    v[6] = s->status == FLOW_STEP_FAILED ? SV_TEXT(msg) : SV_NULL;
    v[7] = SV_INT(s->attempts);
    v[8] = SV_INT(s->started);
    v[9] = s->ended ? SV_INT(s->ended) : SV_NULL;
    v[10] = s->wake ? SV_INT(s->wake) : SV_NULL;
}

/* <s>'s error message made valid UTF-8, in <buf>. */
static struct slice step_msg(const struct flow_step_row *s, struct sbuf *buf)
{
    if (s->status != FLOW_STEP_FAILED)
        return SLICE_NULL;
    sbuf_put_utf8(buf, slice_from_cstr(s->err->msg));
    return (struct slice){buf->buf, buf->len};
}

/* One row: a statement of constant text, prepared once per connection. On SQLite, where a
 * statement costs no round trip, a batch is one of these per row. */
static int insert_row(struct store_tx *tx, struct flow_step_row *row, struct err *err)
{
    struct store_val v[STEP_COLS];
    struct sbuf msg = SBUF_INIT(1024);
    int rc;

    step_vals(row, step_msg(row, &msg), v);
    rc = store_exec(tx,
                    "INSERT INTO flow_step (wf_id, seq, name, status, output, err_code, err_msg, "
                    "attempts, started_ms, ended_ms, wake_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
                    "?, ?) ON CONFLICT (wf_id, seq) DO NOTHING",
                    v, STEP_COLS, &row->changes, err);
    sbuf_release(&msg);
    return rc;
}

int flow_step_row_tx(struct store_tx *tx, void *arg, struct err *err)
{
    return insert_row(tx, arg, err);
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

/* The fence: marks <x> lost when its claim (owner and epoch) is gone. */
static int fence(struct store_tx *tx, struct fenced *x, struct err *err)
{
    struct arena *a = arena_new(&(struct arena_opts){.chunk = 4096});
    struct store_rows *r;
    int rc = store_query(tx, a,
                         "SELECT runs FROM flow_wf WHERE id = ? AND owner = ? AND status = 1 "
                         "FOR SHARE",
                         (struct store_val[]){SV_CSTR(x->ctx->id), SV_CSTR(x->ctx->f->owner)}, 2,
                         &r, err);

    x->lost = rc == 0 && (r->nrows != 1 || store_cell(r, 0, 0)->i != x->ctx->run->epoch);
    arena_free(a);
    return rc;
}

static int fenced_tx(struct store_tx *tx, void *arg, struct err *err)
{
    struct fenced *x = arg;
    int rc;

    x->lost = false;
    if (x->ctx->f->pg) {
        rc = fence(tx, x, err);
        if (rc < 0 || x->lost)
            return rc;
    }
    return x->fn(tx, x->arg, err);
}

/* Commits <fn>(<arg>) for the run: 0, 1 when the run no longer holds its workflow (nothing was
 * written), or an error. */
int flow_ctx_commit(struct flow_ctx *ctx, flow_apply_fn *fn, void *arg, struct err *err)
{
    struct fenced x = {ctx, fn, arg, false};
    int rc = flow_commit_run(ctx->f->commit, fenced_tx, &x, err);

    if (rc == 0 && x.lost) {
        atomic_store(&ctx->run->lost, true);
        return 1;
    }
    return rc;
}

size_t flow_find_id(struct slice id, const void *items, size_t n, flow_id_of_fn *id_of, size_t *at)
{
    for (size_t j = 0; j < n; j++) {
        size_t i = (*at + j) % n;

        if (slice_eq_cstr(id, id_of(items, i))) {
            *at = (i + 1) % n;
            return i;
        }
    }
    return n;
}

static const char *fenced_id(const void *items, size_t i)
{
    return ((struct fenced *const *)items)[i]->ctx->id;
}

static const char *end_id(const void *items, size_t i)
{
    return ((struct flow_end *const *)items)[i]->ctx->id;
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
    sbuf_put_i64(b, v);
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

/* Writes the STEP_COLS columns of the rows of <xs> as array literals into <cols>, and the
 * epochs of their runs' claims into cols[STEP_COLS]. */
static void step_arrays(struct fenced *const *xs, size_t n, struct sbuf *cols)
{
    struct sbuf msg = SBUF_INIT(1024);

    for (size_t c = 0; c <= STEP_COLS; c++)
        sbuf_putc(&cols[c], '{');
    for (size_t i = 0; i < n; i++) {
        const struct flow_step_row *s = xs[i]->arg;
        bool failed = s->status == FLOW_STEP_FAILED;

        arr_text(&cols[0], slice_from_cstr(s->wf));
        arr_int(&cols[1], s->seq);
        arr_text(&cols[2], slice_from_cstr(s->name));
        arr_int(&cols[3], s->status);
        if (s->status == FLOW_STEP_DONE)
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
        arr_int(&cols[STEP_COLS], xs[i]->ctx->run->epoch);
    }
    for (size_t c = 0; c <= STEP_COLS; c++)
        sbuf_putc(&cols[c], '}');
    sbuf_release(&msg);
}

/* The rows of <xs> in one statement, fenced: it share-locks the workflow rows of the batch
 * (as fence() does for one; a takeover's update waits for this commit) and writes a row only
 * where its workflow is still RUNNING, held by this engine with the run's epoch. Runs whose
 * row was not written lost their claim. The batch is a materialized CTE joined to flow_wf by
 * id: a prepared statement's plan is made for ten rows whatever the batch holds, and this
 * shape leaves it only linear choices (a hash of the batch over a small table, primary key
 * probes in a large one); comparing each running row with an array of ids was quadratic.
 * There is no ON CONFLICT: a position recorded already (which only another executor can have
 * done, and then this one lost the claim) fails the statement, and the group commit then
 * writes each row alone. */
static int insert_pg(struct store_tx *tx, struct fenced *const *xs, size_t n, struct err *err)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 8u << 20});
    struct sbuf cols[STEP_COLS + 1];
    struct store_val v[STEP_COLS + 2];
    struct store_rows *r;
    int rc = 0;

    for (size_t c = 0; c <= STEP_COLS; c++)
        sbuf_init(&cols[c], 3 * PG_CHUNK_BYTES);
    step_arrays(xs, n, cols);
    for (size_t c = 0; c <= STEP_COLS; c++) {
        if (cols[c].err)
            rc = err_set(err, ERR_LIMIT, "step rows: over %u bytes", 3 * PG_CHUNK_BYTES);
        v[c] = SV_TEXT(((struct slice){cols[c].buf, cols[c].len}));
    }
    v[STEP_COLS + 1] = SV_CSTR(xs[0]->ctx->f->owner);
    for (size_t i = 0; i < n; i++)
        xs[i]->lost = true;
    if (rc == 0)
        rc = store_query(
            tx, a,
            "WITH u AS MATERIALIZED (SELECT * FROM unnest(CAST(? AS TEXT[]), "
            "CAST(? AS BIGINT[]), CAST(? AS TEXT[]), CAST(? AS BIGINT[]), CAST(? AS TEXT[]), "
            "CAST(? AS BIGINT[]), CAST(? AS TEXT[]), CAST(? AS BIGINT[]), CAST(? AS BIGINT[]), "
            "CAST(? AS BIGINT[]), CAST(? AS BIGINT[]), CAST(? AS BIGINT[])) "
            "AS u(w, s, n, st, o, ec, em, at, sm, en, wm, ep)), "
            "f AS (SELECT id, runs, owner, status FROM flow_wf WHERE id IN (SELECT w FROM u) "
            "FOR SHARE) "
            "INSERT INTO flow_step (wf_id, seq, name, status, output, err_code, err_msg, "
            "attempts, started_ms, ended_ms, wake_ms) SELECT w, s, n, st, decode(o, 'hex'), ec, "
            "em, at, sm, en, wm FROM u JOIN f ON f.id = u.w AND f.runs = u.ep "
            "WHERE f.owner = ? AND f.status = 1 RETURNING wf_id",
            v, STEP_COLS + 2, &r, err);
    for (size_t k = 0, at = 0, i; rc == 0 && k < r->nrows; k++)
        if ((i = flow_find_id(store_cell(r, k, 0)->s, xs, n, fenced_id, &at)) < n) {
            xs[i]->lost = false;
            ((struct flow_step_row *)xs[i]->arg)->changes = 1;
        }
    for (size_t c = 0; c <= STEP_COLS; c++)
        sbuf_release(&cols[c]);
    arena_free(a);
    return rc;
}

/* How many of <xs> go in the next PostgreSQL statement. */
static size_t chunk_of(struct fenced *const *xs, size_t n)
{
    size_t k, bytes = 0;

    for (k = 0; k < n && k < PG_CHUNK_ROWS; k++) {
        bytes += ((struct flow_step_row *)xs[k]->arg)->output.len * 2 + 256;
        if (k > 0 && bytes > PG_CHUNK_BYTES)
            break;
    }
    return k;
}

/* The bulk of step records: on PostgreSQL fenced statements of up to a chunk of rows each,
 * on SQLite one statement per row. */
static int steps_bulk(struct store_tx *tx, void *const *args, size_t n, struct err *err)
{
    struct fenced *const *xs = (struct fenced *const *)args;
    size_t done, k;
    int rc = 0;

    for (size_t i = 0; i < n; i++)
        xs[i]->lost = false;
    for (done = 0; rc == 0 && done < n; done += k) {
        k = xs[0]->ctx->f->pg ? chunk_of(xs + done, n - done) : 1;
        rc = xs[0]->ctx->f->pg ? insert_pg(tx, xs + done, k, err)
                               : insert_row(tx, xs[done]->arg, err);
    }
    return rc;
}

/* PostgreSQL: rows that fit in one chunk go in one statement. */
static bool steps_one_statement(void *const *args, size_t n)
{
    struct fenced *const *xs = (struct fenced *const *)args;

    return xs[0]->ctx->f->pg && chunk_of(xs, n) == n;
}

static const struct flow_bulk steps_kind = {steps_bulk, steps_one_statement};

/* Records a step row. When another executor recorded that position first, its record wins:
 * 1 is returned and the caller gives up the run (the other one carries on); 1 too when the run
 * no longer holds its claim (nothing was written). */
int flow_ctx_record(struct flow_ctx *ctx, struct flow_step_row *row, struct err *err)
{
    struct fenced x = {ctx, NULL, row, false};
    int rc;

    row->wf = ctx->id;
    row->changes = 0;
    rc = flow_commit_bulk(ctx->f->commit, &steps_kind, &x, err);
    if (rc == ERR_CONFLICT)
        return 1;
    if (rc < 0)
        return rc;
    if (x.lost) {
        atomic_store(&ctx->run->lost, true);
        return 1;
    }
    return row->changes == 0;
}

/* Gives up the run after a failed or lost record. */
int flow_ctx_record_failed(struct flow_ctx *ctx, int rc, struct err *err)
{
    if (rc < 0)
        LOG_WARN(&ctx->f->log, "flow.record_failed", LF_STR("workflow", ctx->id),
                 LF_STR("error", err->msg));
    return flow_ctx_release(ctx, err);
}

/* ---------------------------------------------------------------- waits */

/* Records that position <seq> started waiting until <wake>. */
int flow_ctx_record_waiting(struct flow_ctx *ctx, unsigned seq, const char *name, int64_t wake,
                            struct err *err)
{
    struct flow_step_row row = {.seq = seq,
                                .name = name,
                                .status = FLOW_STEP_WAITING,
                                .started = (int64_t)time_wall_ms(),
                                .wake = wake};
    int rc = flow_ctx_record(ctx, &row, err);

    return rc != 0 ? flow_ctx_record_failed(ctx, rc, err) : 0;
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

int flow_ctx_settle(struct flow_ctx *ctx, unsigned seq, struct slice output, const struct err *e,
                    struct err *err)
{
    struct settle_ctx s = {ctx->id, seq, e ? FLOW_STEP_FAILED : FLOW_STEP_DONE, output, e};
    int rc = flow_ctx_commit(ctx, settle_tx, &s, err);

    return rc != 0 ? flow_ctx_record_failed(ctx, rc, err) : 0;
}

/* ---------------------------------------------------------------- ends in bulk */

/* PostgreSQL: the ends of a batch (ends_bulk in run.c) in one UPDATE, each column an array. */
#define ENDS_UPDATE_SQL                                                                            \
    "UPDATE flow_wf SET status = u.st, result = u.res, err_code = u.ec, err_msg = u.em, "          \
    "owner = NULL, lease_ms = NULL, updated_ms = ? FROM unnest(CAST(? AS TEXT[]), "                \
    "CAST(? AS BIGINT[]), CAST(? AS BIGINT[]), CAST(? AS TEXT[]), CAST(? AS BIGINT[]), "           \
    "CAST(? AS TEXT[])) AS u(id, runs, st, res, ec, em) WHERE flow_wf.id = u.id AND "              \
    "flow_wf.runs = u.runs AND flow_wf.owner = ? RETURNING flow_wf.id"

int flow_ends_update_pg(struct store_tx *tx, struct flow_end *const *xs, size_t n, bool notify,
                        struct err *err)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 4u << 20});
    struct sbuf cols[6], msg = SBUF_INIT(1024);
    struct store_val v[8];
    struct store_rows *r;
    int rc = 0;

    for (size_t c = 0; c < 6; c++) {
        sbuf_init(&cols[c], 2 * FLOW_ENDS_BULK_BYTES);
        sbuf_putc(&cols[c], '{');
    }
    for (size_t i = 0; i < n; i++) {
        const struct flow_end *x = xs[i];

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
            rc = err_set(err, ERR_LIMIT, "ends: over %u bytes", 2 * FLOW_ENDS_BULK_BYTES);
        v[1 + c] = SV_TEXT(((struct slice){cols[c].buf, cols[c].len}));
    }
    v[7] = SV_CSTR(xs[0]->ctx->f->owner);
    if (rc == 0)
        rc = store_query(tx, a,
                         notify ? "WITH e AS (" ENDS_UPDATE_SQL ") SELECT id, "
                                  "CAST(pg_notify('slipway_flow', 'end:' || id) AS TEXT) FROM e"
                                : ENDS_UPDATE_SQL,
                         v, 8, &r, err);
    for (size_t i = 0; i < n; i++)
        xs[i]->changes = 0;
    for (size_t k = 0, at = 0, i; rc == 0 && k < r->nrows; k++)
        if ((i = flow_find_id(store_cell(r, k, 0)->s, xs, n, end_id, &at)) < n)
            xs[i]->changes = 1;
    for (size_t c = 0; c < 6; c++)
        sbuf_release(&cols[c]);
    sbuf_release(&msg);
    arena_free(a);
    return rc;
}

/* After the bulk update: parents, cancelled children and one notification for all. */
int flow_ends_after_pg(struct store_tx *tx, struct flow_end *const *xs, size_t n, struct err *err)
{
    struct sbuf ids = SBUF_INIT(1u << 20);
    int64_t now = (int64_t)time_wall_ms();
    bool woke = false;
    int rc = 0;

    sbuf_putc(&ids, '{');
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct flow_ctx *ctx = xs[i]->ctx;

        if (xs[i]->changes != 1)
            continue;
        arr_text(&ids, slice_from_cstr(ctx->id));
        if (ctx->parent[0] != '\0') {
            rc = store_exec(tx, "UPDATE flow_wf SET wake_ms = ? WHERE id = ? AND status = 2",
                            (struct store_val[]){SV_INT(now), SV_CSTR(ctx->parent)}, 2, NULL, err);
            woke = true;
        }
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
    if (rc == 0 && woke)
        rc = flow_notify(xs[0]->ctx->f, tx, "wake", err);
    sbuf_release(&ids);
    return rc;
}
