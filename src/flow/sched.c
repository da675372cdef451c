/*
 * The scheduler thread. Each round it claims as many ready workflows as this engine has room
 * for: first those no queue limit applies to (no limited queue, already started, or
 * cancelled), then, per limited queue, as many never-started ones as its concurrency,
 * per-key and rate limits allow. A claim sets status RUNNING, the owner and the lease in one
 * transaction; on PostgreSQL rows are taken FOR UPDATE SKIP LOCKED so engines in several
 * processes never claim the same workflow, and claims whose lease expired (a dead executor)
 * go back to PENDING first. The same thread starts due cron ticks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "flow/flow-int.h"

#define CLAIM_ARENA     (4u << 20)
#define BLOCKED_POLL_MS 100

struct claim {
    struct flow *f;
    struct arena *a;
    uint64_t now;
    unsigned cap;             /* room left */
    uint64_t t0;              /* time_mono_ms() before the claim's transaction began */
    struct flow_claimed *ids; /* claimed, [cap] */
    unsigned n;
    bool blocked; /* a queue limit held a ready workflow back */
};

static const char *lock_suffix(const struct flow *f)
{
    return f->pg ? " FOR UPDATE SKIP LOCKED" : "";
}

static const char claim_sql[] =
    "UPDATE flow_wf SET status = 1, owner = ?, lease_ms = ?, started_ms = COALESCE(started_ms, ?), "
    "deadline_ms = COALESCE(deadline_ms, ?), runs = runs + 1, updated_ms = ? WHERE ";

/* Claims the row <id> (named <name>) in <tx>: at once when its workflow has a deadline to
 * set, else with the others in claims_write(). */
static int claim_one(struct claim *c, struct store_tx *tx, struct slice id, struct slice name,
                     int64_t runs, struct err *err)
{
    const struct flow_def *d = flow_def_find(c->f, name);
    struct flow_claimed *k = &c->ids[c->n];
    char sql[sizeof(claim_sql) + 16];
    int rc = 0;

    if (NEVER(id.len != 36))
        return 0;
    memcpy(k->id, id.ptr, 36);
    k->id[36] = '\0';
    k->epoch = runs + 1;
    k->t0 = c->t0;
    k->pending = d == NULL || d->deadline_ms == 0;
    if (!k->pending) {
        snprintf(sql, sizeof(sql), "%sid = ?", claim_sql);
        rc = store_exec(tx, sql,
                        (struct store_val[]){SV_CSTR(c->f->owner),
                                             SV_INT(c->now + c->f->opts.lease_ms), SV_INT(c->now),
                                             SV_INT(c->now + d->deadline_ms), SV_INT(c->now),
                                             SV_CSTR(k->id)},
                        6, NULL, err);
    }
    if (rc < 0)
        return rc;
    c->n++;
    c->cap--;
    return 0;
}

/* Writes the claims claim_one() left pending: on PostgreSQL in one statement (the ids as an
 * array), on SQLite one statement each (no round trips there). */
static int claims_write(struct claim *c, struct store_tx *tx, struct err *err)
{
    struct sbuf sql = SBUF_INIT(512), ids = SBUF_INIT(64u << 10);
    struct store_val v[6] = {SV_CSTR(c->f->owner), SV_INT(c->now + c->f->opts.lease_ms),
                             SV_INT(c->now),       SV_NULL,
                             SV_INT(c->now),       SV_NULL};
    size_t i, npending = 0;
    int rc = 0;

    sbuf_puts(&sql, claim_sql);
    sbuf_puts(&sql, c->f->pg ? "id = ANY(CAST(? AS TEXT[]))" : "id = ?");
    sbuf_putc(&ids, '{');
    for (i = 0; rc == 0 && i < c->n; i++) {
        if (!c->ids[i].pending)
            continue;
        c->ids[i].pending = false;
        npending++;
        if (c->f->pg) {
            sbuf_printf(&ids, "%s%s", npending > 1 ? "," : "", c->ids[i].id);
            continue;
        }
        v[5] = SV_CSTR(c->ids[i].id);
        rc = store_exec(tx, sql.buf, v, 6, NULL, err);
    }
    sbuf_putc(&ids, '}');
    if (rc == 0 && c->f->pg && npending > 0) {
        v[5] = SV_TEXT(((struct slice){ids.buf, ids.len}));
        rc = ids.err ? err_set(err, ERR_LIMIT, "claim: too many ids")
                     : store_exec(tx, sql.buf, v, 6, NULL, err);
    }
    sbuf_release(&sql);
    sbuf_release(&ids);
    return rc;
}

/* " AND name IN (…)": an engine claims only the workflows it knows, so processes running two
 * versions side by side never fail each other's new workflows. Names are checked at
 * registration (letters, digits, '_', '.', '-'), so they are written as literals. */
static void names_in(const struct flow *f, struct sbuf *sql)
{
    sbuf_puts(sql, " AND name IN (");
    for (size_t i = 0; i < f->ndefs; i++)
        sbuf_printf(sql, "%s'%s'", i ? ", " : "", f->defs[i].name);
    sbuf_puts(sql, f->ndefs ? ")" : "'')");
}

/* Claims the ready workflows no queue limit applies to. */
static int claim_free(struct claim *c, struct store_tx *tx, struct err *err)
{
    struct store_val args[64];
    struct store_rows *r;
    struct sbuf sql = SBUF_INIT(8192);
    size_t i, nargs = 0, nlimited = 0;
    int rc;

    sbuf_puts(&sql, "SELECT id, name, part, runs FROM flow_wf WHERE status IN (0, 2) AND "
                    "wake_ms <= ?");
    args[nargs++] = SV_INT(c->now);
    names_in(c->f, &sql);
    for (i = 0; i < c->f->nqueues && nargs < ARRAY_LEN(args) - 1; i++) {
        const struct flow_qdef *q = &c->f->queues[i];

        if (q->concurrency == 0 && q->per_key == 0 && q->rate == 0)
            continue;
        sbuf_puts(&sql, nlimited++ == 0 ? " AND (queue IS NULL OR started_ms IS NOT NULL OR "
                                          "cancel = 1 OR queue NOT IN (?"
                                        : ", ?");
        args[nargs++] = SV_CSTR(q->name);
    }
    if (nlimited > 0)
        sbuf_puts(&sql, "))");
    sbuf_printf(&sql, " ORDER BY priority, wake_ms LIMIT ?%s", lock_suffix(c->f));
    args[nargs++] = SV_INT(c->cap);
    rc = sql.err ? err_set(err, ERR_INTERNAL, "claim query too long") : 0;
    if (rc == 0)
        rc = store_query(tx, c->a, sql.buf, args, nargs, &r, err);
    for (i = 0; rc == 0 && i < r->nrows; i++)
        rc = claim_one(c, tx, store_cell(r, i, 0)->s, store_cell(r, i, 1)->s,
                       store_cell(r, i, 3)->i, err);
    sbuf_release(&sql);
    return rc;
}

static int count_of(struct claim *c, struct store_tx *tx, const char *sql,
                    const struct store_val *args, size_t nargs, int64_t *out, struct err *err)
{
    struct store_rows *r;
    int rc = store_query(tx, c->a, sql, args, nargs, &r, err);

    if (rc == 0)
        *out =
            r->nrows == 1 && store_cell(r, 0, 0)->type == STORE_T_INT ? store_cell(r, 0, 0)->i : 0;
    return rc;
}

/* How many never-started workflows queue <q> may start now. */
static int queue_room(struct claim *c, struct store_tx *tx, const struct flow_qdef *q,
                      int64_t *room, struct err *err)
{
    int64_t active = 0, recent = 0;
    int rc = 0;

    *room = c->cap;
    if (c->f->pg)
        rc = store_exec(tx, "SELECT pg_advisory_xact_lock(hashtext(?))",
                        (struct store_val[]){SV_CSTR(q->name)}, 1, NULL, err);
    if (rc == 0 && q->concurrency > 0)
        rc = count_of(c, tx,
                      "SELECT CAST(COUNT(*) AS BIGINT) FROM flow_wf WHERE queue = ? AND "
                      "started_ms IS NOT NULL AND status < 3",
                      (struct store_val[]){SV_CSTR(q->name)}, 1, &active, err);
    if (rc == 0 && q->concurrency > 0 && q->concurrency - active < *room)
        *room = q->concurrency - active;
    if (rc == 0 && q->rate > 0)
        rc = count_of(c, tx,
                      "SELECT CAST(COUNT(*) AS BIGINT) FROM flow_wf WHERE queue = ? AND "
                      "started_ms >= ?",
                      (struct store_val[]){SV_CSTR(q->name), SV_INT(c->now - q->period_ms)}, 2,
                      &recent, err);
    if (rc == 0 && q->rate > 0 && q->rate - recent < *room)
        *room = q->rate - recent;
    return rc;
}

/* Counts per partition among <r>'s rows claimed so far, to keep a batch within per_key. */
static bool part_full(const struct store_rows *r, size_t upto, const bool *taken, struct slice part,
                      unsigned per_key, int64_t base)
{
    int64_t n = base;

    for (size_t i = 0; i < upto; i++)
        if (taken[i] && slice_eq(store_cell(r, i, 2)->s, part))
            n++;
    return n >= per_key;
}

static int claim_queue(struct claim *c, struct store_tx *tx, const struct flow_qdef *q,
                       struct err *err)
{
    struct sbuf sql = SBUF_INIT(8192);
    struct store_rows *r, *held;
    int64_t room, base;
    bool *taken;
    size_t i, j;
    int rc = queue_room(c, tx, q, &room, err);

    if (rc < 0 || room <= 0) {
        sbuf_release(&sql);
        return rc;
    }
    sbuf_puts(&sql, "SELECT id, name, part, runs FROM flow_wf WHERE queue = ? AND status IN (0, 2) "
                    "AND started_ms IS NULL AND wake_ms <= ?");
    names_in(c->f, &sql);
    sbuf_printf(&sql, " ORDER BY priority, wake_ms LIMIT ?%s", lock_suffix(c->f));
    rc = sql.err ? err_set(err, ERR_INTERNAL, "claim query too long") : 0;
    if (rc == 0)
        rc = store_query(tx, c->a, sql.buf,
                         (struct store_val[]){SV_CSTR(q->name), SV_INT(c->now),
                                              SV_INT(q->per_key == 0 ? room : room * 8 + 64)},
                         3, &r, err);
    sbuf_release(&sql);
    if (rc < 0 || r->nrows == 0)
        return rc;
    held = NULL;
    if (q->per_key > 0)
        rc = store_query(tx, c->a,
                         "SELECT part, CAST(COUNT(*) AS BIGINT) FROM flow_wf WHERE queue = ? AND "
                         "started_ms IS NOT NULL AND status < 3 AND part IS NOT NULL GROUP BY part",
                         (struct store_val[]){SV_CSTR(q->name)}, 1, &held, err);
    taken = arena_alloc(c->a, r->nrows * sizeof(*taken) + 1);
    if (rc == 0 && taken == NULL)
        rc = err_set(err, ERR_LIMIT, "claim: out of memory");
    for (i = 0; rc == 0 && i < r->nrows && room > 0; i++) {
        struct slice part = store_cell(r, i, 2)->s;

        taken[i] = false;
        if (q->per_key > 0 && store_cell(r, i, 2)->type == STORE_T_TEXT) {
            for (base = 0, j = 0; j < held->nrows; j++)
                if (slice_eq(store_cell(held, j, 0)->s, part))
                    base = store_cell(held, j, 1)->i;
            if (part_full(r, i, taken, part, q->per_key, base)) {
                c->blocked = true;
                continue;
            }
        }
        rc = claim_one(c, tx, store_cell(r, i, 0)->s, store_cell(r, i, 1)->s,
                       store_cell(r, i, 3)->i, err);
        taken[i] = rc == 0;
        room--;
    }
    if (i < r->nrows)
        c->blocked = true;
    return rc;
}

/* PostgreSQL: claims whose lease passed belong to a dead (or stuck) executor. */
static int reclaim_expired(struct claim *c, struct store_tx *tx, struct err *err)
{
    int64_t n = 0;
    int rc = store_exec(tx,
                        "UPDATE flow_wf SET status = 0, owner = NULL, wake_ms = ?, updated_ms = ? "
                        "WHERE status = 1 AND lease_ms < ?",
                        (struct store_val[]){SV_INT(c->now), SV_INT(c->now), SV_INT(c->now)}, 3, &n,
                        err);

    if (rc == 0 && n > 0)
        LOG_WARN(&c->f->log, "flow.taken_over", LF_INT("workflows", n),
                 LF_STR("why", "their executor's lease expired"));
    return rc;
}

static int claim_tx(struct claim *c, struct err *err)
{
    struct store_tx *tx;
    size_t i;
    int rc = store_begin(c->f->store, &tx, err);

    if (rc < 0)
        return rc;
    if (c->f->pg)
        rc = reclaim_expired(c, tx, err);
    if (rc == 0)
        rc = claim_free(c, tx, err);
    for (i = 0; rc == 0 && i < c->f->nqueues && c->cap > 0; i++) {
        const struct flow_qdef *q = &c->f->queues[i];

        if (q->concurrency > 0 || q->per_key > 0 || q->rate > 0)
            rc = claim_queue(c, tx, q, err);
    }
    if (rc == 0)
        rc = claims_write(c, tx, err);
    if (rc < 0) {
        store_rollback(tx);
        c->n = 0;
        return rc;
    }
    return store_commit(tx, err);
}

/* A row of prefetch()'s query as a flow_wfrow; NULL when the run must read it (its input is
 * too long to be read with the others). */
static struct flow_wfrow *wfrow_of(struct flow *f, const struct store_rows *r, size_t i)
{
    struct slice input = store_cell(r, i, 2)->s, parent = store_cell(r, i, 6)->s;
    struct flow_wfrow *row;

    if (store_cell(r, i, 3)->i == 0)
        return NULL;
    row = xcalloc(1, sizeof(*row) + input.len + 1);
    row->def = flow_def_find(f, store_cell(r, i, 1)->s);
    row->cancel = store_cell(r, i, 4)->i != 0;
    row->deadline = store_cell(r, i, 5)->i;
    if (parent.len == 36)
        memcpy(row->parent, parent.ptr, 36);
    row->input_len = input.len;
    memcpy(row->input, input.ptr, input.len);
    return row;
}

static const char *claimed_id(const void *items, size_t i)
{
    return ((const struct flow_claimed *)items)[i].id;
}

/* PostgreSQL: reads what the runs of the <n> claims <ids> need of their rows, in one
 * statement after the claims were committed (one round trip instead of one per run). On
 * failure the runs read their rows themselves. */
static void prefetch(struct flow *f, struct flow_claimed *ids, unsigned n)
{
    /* room for every row at its longest (max_running rows at most) */
    size_t budget = (size_t)n * (FLOW_PREFETCH_INPUT + 4096) + (1u << 20);
    struct arena *a = arena_new(&(struct arena_opts){.budget = budget});
    struct sbuf arr = SBUF_INIT(1u << 20);
    struct store_rows *r;
    struct err err = {0};

    sbuf_putc(&arr, '{');
    for (unsigned i = 0; i < n; i++)
        sbuf_printf(&arr, "%s%s", i ? "," : "", ids[i].id);
    sbuf_putc(&arr, '}');
    if (arr.err == 0 &&
        store_read1(f->store, a,
                    "SELECT id, name, CASE WHEN octet_length(input) <= ? THEN input END, "
                    "CAST(octet_length(input) <= ? AS INTEGER), cancel, deadline_ms, parent "
                    "FROM flow_wf WHERE id = ANY(CAST(? AS TEXT[]))",
                    (struct store_val[]){SV_INT(FLOW_PREFETCH_INPUT), SV_INT(FLOW_PREFETCH_INPUT),
                                         SV_TEXT(((struct slice){arr.buf, arr.len}))},
                    3, &r, &err) == 0)
        for (size_t k = 0, at = 0, i; k < r->nrows; k++) {
            if ((i = flow_find_id(store_cell(r, k, 0)->s, ids, n, claimed_id, &at)) < n)
                ids[i].row = wfrow_of(f, r, k);
        }
    else
        LOG_WARN(&f->log, "flow.prefetch_failed", LF_STR("error", err.msg));
    sbuf_release(&arr);
    arena_free(a);
}

/* One round: claims and hands out. Returns how many were claimed. */
static unsigned claim_round(struct flow *f, unsigned cap, bool *blocked)
{
    struct claim c = {.f = f, .now = time_wall_ms(), .cap = cap, .t0 = time_mono_ms()};
    struct err err = {0};
    unsigned i;

    c.a = arena_new(&(struct arena_opts){.budget = CLAIM_ARENA});
    c.ids = xcalloc(cap, sizeof(*c.ids));
    if (claim_tx(&c, &err) < 0) {
        LOG_WARN(&f->log, "flow.claim_failed", LF_STR("error", err.msg));
        c.n = 0;
    }
    if (f->pg && c.n > 0)
        prefetch(f, c.ids, c.n);
    pthread_mutex_lock(&f->lock);
    for (i = 0; i < c.n; i++) {
        f->nrunning++;
        flow_exec_push_locked(f, &c.ids[i]);
    }
    pthread_mutex_unlock(&f->lock);
    *blocked = c.blocked;
    free(c.ids);
    arena_free(c.a);
    return c.n;
}

/* When the next waiting workflow is due (wall ms), or 0 when nothing waits. */
static uint64_t next_due(struct flow *f)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 64 << 10});
    struct store_rows *r;
    struct err err = {0};
    uint64_t due = 0;

    if (store_read1(f->store, a,
                    "SELECT MIN(wake_ms) FROM flow_wf WHERE status IN (0, 2) AND wake_ms < ?",
                    (struct store_val[]){SV_INT(FLOW_NEVER)}, 1, &r, &err) == 0 &&
        r->nrows == 1 && store_cell(r, 0, 0)->type == STORE_T_INT)
        due = (uint64_t)store_cell(r, 0, 0)->i;
    arena_free(a);
    return due;
}

/* SQLite: one process owns the file, so whatever a previous process had claimed is ours. */
static void adopt_unfinished(struct flow *f)
{
    struct err err = {0};
    int64_t n = 0;
    uint64_t now = time_wall_ms();

    if (f->pg)
        return;
    if (store_exec1(f->store,
                    "UPDATE flow_wf SET status = 0, owner = NULL, wake_ms = ?, updated_ms = ? "
                    "WHERE status = 1",
                    (struct store_val[]){SV_INT(now), SV_INT(now)}, 2, &n, &err) < 0)
        LOG_ERROR(&f->log, "flow.adopt_failed", LF_STR("error", err.msg));
    else if (n > 0)
        LOG_INFO(&f->log, "flow.resumed", LF_INT("workflows", n),
                 LF_STR("why", "unfinished when the engine last stopped"));
}

static void wait_until(struct flow *f, uint64_t seen, uint64_t wall_due)
{
    uint64_t now = time_wall_ms(), ms = wall_due > now ? wall_due - now : 0;

    if (ms == 0)
        return;
    pthread_mutex_lock(&f->lock);
    if (f->kicks == seen && !f->stopping)
        cond_wait_until(&f->sched_cv, &f->lock, time_mono_ns() + ms * 1000000u);
    pthread_mutex_unlock(&f->lock);
}

/* ---------------------------------------------------------------- cron */

static bool cron_last(struct flow *f, const char *name, uint64_t *last)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 64 << 10});
    struct store_rows *r;
    struct err err = {0};
    bool found = false;

    if (store_read1(f->store, a, "SELECT last_tick_ms FROM flow_cron WHERE name = ?",
                    (struct store_val[]){SV_CSTR(name)}, 1, &r, &err) == 0 &&
        r->nrows == 1) {
        *last = (uint64_t)store_cell(r, 0, 0)->i;
        found = true;
    }
    arena_free(a);
    return found;
}

/* The latest tick at or before <now>, counting from the due tick <first>. */
static uint64_t latest_tick(const struct flow_cron_spec *spec, uint64_t first, uint64_t now)
{
    uint64_t t = first, n;

    for (int i = 0; i < 1000000; i++) {
        n = flow_cron_next(spec, t);
        if (n == 0 || n > now)
            break;
        t = n;
    }
    return t;
}

struct cron_fire {
    struct flow *f;
    const struct flow_crondef *c;
    uint64_t tick;
};

static int cron_fire_tx(struct store_tx *tx, void *arg, struct err *err)
{
    struct cron_fire *cf = arg;
    char key[128], id[37];
    int rc;

    snprintf(key, sizeof(key), "cron:%s:%" PRIu64, cf->c->name, cf->tick);
    rc = flow_insert(tx,
                     &(struct flow_new_wf){.name = cf->c->wf,
                                           .input = slice_from_cstr(cf->c->input),
                                           .key = slice_from_cstr(key)},
                     id, err);
    if (rc >= 0)
        rc = store_exec(tx,
                        "INSERT INTO flow_cron (name, last_tick_ms) VALUES (?, ?) "
                        "ON CONFLICT (name) DO UPDATE SET last_tick_ms = excluded.last_tick_ms "
                        "WHERE excluded.last_tick_ms > flow_cron.last_tick_ms",
                        (struct store_val[]){SV_CSTR(cf->c->name), SV_INT(cf->tick)}, 2, NULL, err);
    if (rc >= 0)
        rc = flow_notify(cf->f, tx, "wake", err);
    return rc < 0 ? rc : 0;
}

static uint64_t next_or_never(const struct flow_cron_spec *spec, uint64_t after)
{
    uint64_t n = flow_cron_next(spec, after);

    return n == 0 ? UINT64_MAX : n;
}

/* Starts the due ticks of every cron schedule; lowers *due to the next one. */
static void flow_cron_round(struct flow *f, uint64_t *due)
{
    uint64_t now = time_wall_ms(), last;
    struct err err = {0};

    for (size_t i = 0; i < f->ncrons; i++) {
        struct flow_crondef *c = &f->crons[i];

        if (c->next_ms == 0)
            c->next_ms = cron_last(f, c->name, &last) ? next_or_never(&c->spec, last)
                                                      : next_or_never(&c->spec, now);
        if (c->next_ms <= now) {
            struct cron_fire cf = {f, c, latest_tick(&c->spec, c->next_ms, now)};

            if (flow_commit_run(f->commit, cron_fire_tx, &cf, &err) < 0) {
                LOG_WARN(&f->log, "flow.cron_failed", LF_STR("cron", c->name),
                         LF_STR("error", err.msg));
                continue;
            }
            c->next_ms = next_or_never(&c->spec, cf.tick);
            flow_kick(f);
        }
        if (c->next_ms < *due)
            *due = c->next_ms;
    }
}

void *flow_sched_main(void *arg)
{
    struct flow *f = arg;
    uint64_t seen, due, now;
    unsigned cap, got;
    bool blocked, stop;

    adopt_unfinished(f);
    for (;;) {
        pthread_mutex_lock(&f->lock);
        stop = f->stopping;
        seen = f->kicks;
        cap = f->opts.max_running - f->nrunning;
        pthread_mutex_unlock(&f->lock);
        if (stop)
            break;
        got = 0;
        blocked = false;
        if (cap > 0)
            got = claim_round(f, cap, &blocked);
        pthread_mutex_lock(&f->lock);
        f->full = got == cap || blocked; /* then an end frees room for what is left */
        pthread_mutex_unlock(&f->lock);
        if (cap > 0 && got == cap)
            continue; /* there may be more */
        now = time_wall_ms();
        due = now + f->opts.poll_ms;
        if (cap > 0) {
            uint64_t d = next_due(f);

            if (d > now && d < due)
                due = d;
        }
        if (blocked && due > now + BLOCKED_POLL_MS)
            due = now + BLOCKED_POLL_MS;
        flow_cron_round(f, &due);
        wait_until(f, seen, due);
    }
    return NULL;
}
