/*
 * Workflow log streams. Each workflow has an append-only log in the store: flow_log holds its
 * lines numbered from 0 (every line ever written counts, so a number never changes meaning),
 * flow_log_head the next number to give, the first one still kept and the bytes kept.
 *
 * Writers never wait: flow_logs_append() puts the line in a bounded in-memory queue and a
 * thread of its own writes the queue in batches, one transaction each, taking numbers from
 * flow_log_head inside that transaction (on PostgreSQL several processes may write one
 * workflow's log, e.g. after a takeover; the upsert's row lock orders them). A line that does
 * not fit in the queue is counted, and the count is written as a line of its own before the
 * next line that fits (or at the next flush), so a loss is never silent. Readers read only
 * committed rows and never wait for the writer thread, nor it for them beyond one short
 * transaction (on SQLite every store transaction, a read too, takes the write lock); the
 * appenders wait for neither.
 *
 * Locking: one mutex guards the queue and the per-workflow entries; the writer thread holds
 * it only to take a batch and to settle one, never across the database.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "flow/flow-int.h"

#define LINE_MAX_BYTES  (16u << 10) /* a longer line is cut, suffix included */
#define CUT_RESERVE     40u         /* room for the "… [cut N bytes]" suffix */
#define QUEUE_MAX_BYTES (4u << 20)  /* queued and in-flight lines, overhead included */
#define MARK_COST       128u        /* what a dropped-lines marker may take of the queue */
#define BATCH_BYTES     (64u << 10) /* write at once past this much */
#define BATCH_DELAY_MS  50u         /* else this long after the oldest queued line */
#define FOLLOW_POLL_MS  250u        /* followers look at the database at least this often */
#define ID_MAX          128u
#define ROWS_MAX        64u /* rows per INSERT statement: 64, 32, … 1 (7 statements) */
#define NSQL            7u
#define RETRY_MIN_MS    50u
#define RETRY_MAX_MS    2000u
#define GIVE_UP_MS      30000u /* a batch failing this long is dropped (and counted) */
#define STOP_ATTEMPTS   3u     /* at flow_logs_free(), tries before a batch is dropped */
#define NBUCKETS        256u
#define DEFAULT_MAX     (8ull << 20)

const char flow_logs_ddl[] =
    /* BYTEA: PostgreSQL has no BLOB, and SQLite takes any type name (BYTEA gets NUMERIC
     * affinity, which stores a bound blob unchanged), so one text serves both. */
    "CREATE TABLE flow_log (wf_id TEXT NOT NULL, n BIGINT NOT NULL, ts_ms BIGINT NOT NULL,"
    " line BYTEA NOT NULL, PRIMARY KEY (wf_id, n));"
    "CREATE TABLE flow_log_head (wf_id TEXT PRIMARY KEY, first_n BIGINT NOT NULL,"
    " next_n BIGINT NOT NULL, bytes BIGINT NOT NULL)";

/* One queued line: a line appended, or a marker reporting <marks> lines dropped. */
struct qline {
    struct qline *next;
    struct stream *st;
    uint64_t ts_ms;
    uint64_t marks;
    size_t len;
    char text[];
};

/* What this process knows of one workflow's log. Kept while it has lines not yet settled,
 * drops not yet reported, or users (followers, flushers); forgotten after. */
struct stream {
    struct stream *next; /* hash chain */
    uint64_t appended;   /* lines queued by this process, markers included */
    uint64_t settled;    /* of those, committed or given up (in order: the queue is FIFO) */
    uint64_t dropped;    /* lines refused since the last one queued, not yet in a marker */
    uint64_t version;    /* bumped by each commit of its lines and by each kick */
    unsigned users;
    /* the writer thread's, during one batch: */
    uint64_t b_lines, b_bytes, b_next_n;
    struct slice id;
    char idbuf[];
};

struct flow_logs {
    struct store *store;
    char *service;
    struct log_ctx log;
    uint64_t max_bytes;
    char *ins_sql[NSQL]; /* ins_sql[k]: an INSERT of 2^k rows */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;              /* the writer: lines, a flush or the stop */
    pthread_cond_t changed;           /* followers and flushers: a commit, a kick */
    struct qline *head, *tail;        /* guarded by lock: queued, not yet taken */
    size_t held;                      /* guarded by lock: bytes queued or in flight */
    size_t fresh;                     /* guarded by lock: bytes queued, not yet taken */
    uint64_t oldest_ms;               /* guarded by lock: when head was queued (monotonic) */
    bool flush_now, stopping;         /* guarded by lock */
    struct stream *buckets[NBUCKETS]; /* guarded by lock */
};

/* ---------------------------------------------------------------- streams */

static size_t id_hash(struct slice id)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (size_t i = 0; i < id.len; i++)
        h = (h ^ (unsigned char)id.ptr[i]) * 16777619u;
    return h % NBUCKETS;
}

/* Lock held. */
static struct stream *stream_find(struct flow_logs *l, struct slice id)
{
    struct stream *st = l->buckets[id_hash(id)];

    while (st != NULL && !slice_eq(st->id, id))
        st = st->next;
    return st;
}

/* Lock held. The entry of <id>, made when there is none. */
static struct stream *stream_get(struct flow_logs *l, struct slice id)
{
    struct stream *st = stream_find(l, id);
    size_t b = id_hash(id);

    if (st != NULL)
        return st;
    st = xcalloc(1, sizeof(*st) + id.len + 1);
    memcpy(st->idbuf, id.ptr, id.len);
    st->id = (struct slice){st->idbuf, id.len};
    st->next = l->buckets[b];
    l->buckets[b] = st;
    return st;
}

/* Lock held. Frees <st> when nothing needs it any more. */
static void stream_release_if_idle(struct flow_logs *l, struct stream *st)
{
    struct stream **p = &l->buckets[id_hash(st->id)];

    if (st->appended != st->settled || st->dropped != 0 || st->users != 0)
        return;
    while (*p != st)
        p = &(*p)->next;
    *p = st->next;
    free(st);
}

/* ---------------------------------------------------------------- queue */

static size_t qline_cost(const struct qline *q)
{
    return sizeof(*q) + q->len;
}

/* Where to cut a line of <len> bytes: before LINE_MAX_BYTES with room for the suffix, and not
 * inside a UTF-8 sequence (at most 3 continuation bytes are stepped back over). */
static size_t cut_at(const char *p, size_t len)
{
    size_t keep = LINE_MAX_BYTES - CUT_RESERVE;

    for (int i = 0; i < 3 && keep < len && ((unsigned char)p[keep] & 0xC0) == 0x80; i++)
        keep--;
    return keep;
}

/* A queued copy of <line>, cut with a visible suffix when it is longer than LINE_MAX_BYTES. */
static struct qline *qline_new(struct slice line, uint64_t marks)
{
    size_t keep = line.len;
    char suffix[48];
    int slen = 0;
    struct qline *q;

    if (line.len > LINE_MAX_BYTES) {
        keep = cut_at(line.ptr, line.len);
        slen = snprintf(suffix, sizeof(suffix), "\xE2\x80\xA6 [cut %zu bytes]", line.len - keep);
    }
    q = xmalloc(sizeof(*q) + keep + (size_t)slen);
    if (keep > 0)
        memcpy(q->text, line.ptr, keep);
    memcpy(q->text + keep, suffix, (size_t)slen);
    q->next = NULL;
    q->st = NULL;
    q->ts_ms = time_wall_ms();
    q->marks = marks;
    q->len = keep + (size_t)slen;
    return q;
}

static struct qline *marker_new(uint64_t dropped)
{
    char text[MARK_COST - sizeof(struct qline)];
    int n = snprintf(text, sizeof(text),
                     "[slipway: %" PRIu64 " log line%s dropped: the log writer fell behind]",
                     dropped, dropped == 1 ? "" : "s");

    return qline_new((struct slice){text, (size_t)n}, dropped);
}

/* Lock held. Queues <q> for <st> and wakes the writer when it has a reason to write. */
static void enqueue(struct flow_logs *l, struct stream *st, struct qline *q)
{
    size_t cost = qline_cost(q);
    bool was_empty = l->head == NULL;

    q->st = st;
    if (was_empty) {
        l->head = q;
        l->oldest_ms = time_mono_ms();
    } else {
        l->tail->next = q;
    }
    l->tail = q;
    st->appended++;
    l->held += cost;
    l->fresh += cost;
    if (was_empty || (l->fresh >= BATCH_BYTES && l->fresh - cost < BATCH_BYTES))
        pthread_cond_signal(&l->wake);
}

/* Lock held. Reports <st>'s dropped lines with a marker, whatever room the queue has left:
 * a marker is small and there is at most one per workflow and flush. */
static void enqueue_marker(struct flow_logs *l, struct stream *st)
{
    if (st->dropped == 0)
        return;
    enqueue(l, st, marker_new(st->dropped));
    st->dropped = 0;
}

void flow_logs_append(struct flow_logs *l, const char *wf_id, struct slice line)
{
    struct slice id = slice_from_cstr(wf_id);
    struct qline *q;
    struct stream *st;
    size_t need;

    /* the engine passes ids it made: anything else is a bug */
    if (NEVER(l == NULL || id.len == 0 || id.len > ID_MAX))
        return;
    /* copied outside the lock: other appenders need not wait for this malloc */
    q = qline_new(line, 0);
    pthread_mutex_lock(&l->lock);
    st = stream_get(l, id);
    need = qline_cost(q) + (st->dropped > 0 ? MARK_COST : 0);
    if (l->held + need > QUEUE_MAX_BYTES) {
        st->dropped++;
        pthread_mutex_unlock(&l->lock);
        free(q);
        return;
    }
    enqueue_marker(l, st);
    enqueue(l, st, q);
    pthread_mutex_unlock(&l->lock);
}

/* ---------------------------------------------------------------- writing a batch */

/* Compares streams by id: head rows are locked in this order by every process, so two
 * processes writing the same workflows cannot deadlock. */
static int stream_cmp(const void *a, const void *b)
{
    const struct stream *x = *(const struct stream *const *)a;
    const struct stream *y = *(const struct stream *const *)b;
    size_t n = x->id.len < y->id.len ? x->id.len : y->id.len;
    int c = memcmp(x->id.ptr, y->id.ptr, n);

    return c != 0 ? c : (x->id.len > y->id.len) - (x->id.len < y->id.len);
}

/* The distinct streams of <batch>, sorted, with their line and byte counts (b_lines,
 * b_bytes). NULL when <a> is spent. */
static struct stream **batch_streams(struct arena *a, struct qline *batch, size_t *n)
{
    struct stream **v;
    size_t len = 0;

    for (struct qline *q = batch; q != NULL; q = q->next)
        len++;
    *n = 0;
    v = arena_alloc(a, len * sizeof(*v));
    if (v == NULL)
        return NULL;
    for (struct qline *q = batch; q != NULL; q = q->next) {
        if (q->st->b_lines++ == 0)
            v[(*n)++] = q->st;
        q->st->b_bytes += q->len;
    }
    qsort(v, *n, sizeof(*v), stream_cmp);
    return v;
}

static int int_cell(const struct store_rows *r, size_t row, size_t col, uint64_t *out,
                    struct err *err)
{
    const struct store_val *v = store_cell(r, row, col);

    if (v->type != STORE_T_INT || v->i < 0)
        return err_set(err, ERR_INTERNAL, "flow log: column %s is not a count", r->names[col]);
    *out = (uint64_t)v->i;
    return 0;
}

/* Takes b_lines numbers for <st> from its head row (made when missing), locking the row until
 * the transaction ends. *first_n and *bytes get the head's values after this batch. */
static int head_take(struct store_tx *tx, struct arena *a, struct stream *st, uint64_t *first_n,
                     uint64_t *bytes, struct err *err)
{
    struct store_rows *r;
    uint64_t next_n = 0;
    int rc;

    rc =
        store_query(tx, a,
                    "INSERT INTO flow_log_head (wf_id, first_n, next_n, bytes) VALUES (?, 0, ?, ?)"
                    " ON CONFLICT (wf_id) DO UPDATE SET"
                    " next_n = flow_log_head.next_n + excluded.next_n,"
                    " bytes = flow_log_head.bytes + excluded.bytes"
                    " RETURNING first_n, next_n, bytes",
                    (struct store_val[]){SV_TEXT(st->id), SV_INT(st->b_lines), SV_INT(st->b_bytes)},
                    3, &r, err);
    if (rc == 0 && r->nrows != 1)
        rc = err_set(err, ERR_INTERNAL, "flow log: the head upsert returned %zu rows", r->nrows);
    if (rc == 0)
        rc = int_cell(r, 0, 0, first_n, err);
    if (rc == 0)
        rc = int_cell(r, 0, 1, &next_n, err);
    if (rc == 0)
        rc = int_cell(r, 0, 2, bytes, err);
    if (rc == 0 && next_n < st->b_lines)
        rc = err_set(err, ERR_INTERNAL, "flow log: head of %.*s went backwards", SLICE_ARG(st->id));
    if (rc == 0)
        st->b_next_n = next_n - st->b_lines;
    return rc;
}

/* Inserts <nrows> rows of <args> with the statements of 64, 32, … 1 rows. */
static int rows_insert(struct flow_logs *l, struct store_tx *tx, const struct store_val *args,
                       size_t nrows, struct err *err)
{
    int rc = 0;

    for (unsigned k = NSQL; k-- > 0 && rc == 0;)
        while (rc == 0 && nrows >= (1u << k)) {
            rc = store_exec(tx, l->ins_sql[k], args, (size_t)4 << k, NULL, err);
            args += (size_t)4 << k;
            nrows -= 1u << k;
        }
    return rc;
}

/* Inserts every line of <batch>, numbered on from each stream's b_next_n. */
static int lines_insert(struct flow_logs *l, struct store_tx *tx, struct qline *batch,
                        struct err *err)
{
    struct store_val args[ROWS_MAX * 4];
    size_t nrows = 0;
    int rc = 0;

    for (struct qline *q = batch; q != NULL && rc == 0; q = q->next) {
        struct store_val *row = &args[nrows * 4];

        row[0] = SV_TEXT(q->st->id);
        row[1] = SV_INT(q->st->b_next_n++);
        row[2] = SV_INT(q->ts_ms);
        row[3] = SV_BLOB(((struct slice){q->text, q->len}));
        if (++nrows == ROWS_MAX) {
            rc = rows_insert(l, tx, args, nrows, err);
            nrows = 0;
        }
    }
    return rc == 0 ? rows_insert(l, tx, args, nrows, err) : rc;
}

/* How many of <st>'s oldest lines, from <first_n>, hold at least <excess> of its <bytes>:
 * *cut gets the first number kept and *removed their bytes. When the lines run out first
 * (the head counted more than the rows hold), all of them go and the head's count with them. */
static int trim_measure(struct store_tx *tx, struct stream *st, uint64_t first_n, uint64_t bytes,
                        uint64_t excess, uint64_t *cut, uint64_t *removed, struct err *err)
{
    int rc = 0;

    *cut = first_n;
    *removed = 0;
    while (rc == 0 && *removed < excess) {
        struct arena *a = arena_new(&(struct arena_opts){.chunk = 64 << 10});
        struct store_rows *r;
        uint64_t n = 0, len = 0;

        rc = store_query(tx, a,
                         "SELECT n, LENGTH(line) FROM flow_log WHERE wf_id = ? AND n >= ?"
                         " ORDER BY n LIMIT 1024",
                         (struct store_val[]){SV_TEXT(st->id), SV_INT(*cut)}, 2, &r, err);
        for (size_t i = 0; rc == 0 && i < r->nrows && *removed < excess; i++) {
            rc = int_cell(r, i, 0, &n, err);
            if (rc == 0)
                rc = int_cell(r, i, 1, &len, err);
            *removed += len;
            *cut = n + 1;
        }
        if (rc == 0 && r->nrows == 0)
            *removed = excess = bytes;
        arena_free(a);
    }
    return rc;
}

/* Deletes <st>'s oldest lines, once it holds more than max_bytes, until it holds at most 7/8
 * of that: a log at its bound is then trimmed once per max_bytes/8 written, not in every
 * batch. */
static int trim(struct flow_logs *l, struct store_tx *tx, struct stream *st, uint64_t first_n,
                uint64_t bytes, struct err *err)
{
    uint64_t target = l->max_bytes - l->max_bytes / 8, cut, removed;
    int rc;

    if (bytes <= l->max_bytes)
        return 0;
    rc = trim_measure(tx, st, first_n, bytes, bytes - target, &cut, &removed, err);
    if (rc == 0)
        rc = store_exec(tx, "DELETE FROM flow_log WHERE wf_id = ? AND n < ?",
                        (struct store_val[]){SV_TEXT(st->id), SV_INT(cut)}, 2, NULL, err);
    if (rc == 0)
        rc = store_exec(
            tx, "UPDATE flow_log_head SET first_n = ?, bytes = bytes - ? WHERE wf_id = ?",
            (struct store_val[]){SV_INT(cut), SV_INT(removed), SV_TEXT(st->id)}, 3, NULL, err);
    return rc;
}

/* One transaction: numbers for every stream of <batch>, its lines, trimming. */
static int batch_tx(struct flow_logs *l, struct qline *batch, struct stream **v, size_t n,
                    struct err *err)
{
    struct arena *a = arena_new(&(struct arena_opts){.chunk = 16 << 10});
    uint64_t *first = arena_alloc(a, n * sizeof(*first));
    uint64_t *bytes = arena_alloc(a, n * sizeof(*bytes));
    struct store_tx *tx = NULL;
    int rc;

    if (first == NULL || bytes == NULL)
        rc = err_set(err, ERR_LIMIT, "flow log: out of memory");
    else
        rc = store_begin(l->store, &tx, err);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = head_take(tx, a, v[i], &first[i], &bytes[i], err);
    if (rc == 0)
        rc = lines_insert(l, tx, batch, err);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = trim(l, tx, v[i], first[i], bytes[i], err);
    if (rc == 0)
        rc = store_commit(tx, err);
    else if (tx != NULL)
        store_rollback(tx);
    arena_free(a);
    return rc;
}

/* Ends <batch>: committed (<ok>) or given up, in which case its lines count as dropped and
 * are reported by the next marker of their workflow. Frees it. */
static void batch_settle(struct flow_logs *l, struct qline *batch, struct stream **v, size_t n,
                         bool ok)
{
    pthread_mutex_lock(&l->lock);
    for (struct qline *q = batch; q != NULL; q = q->next) {
        q->st->settled++;
        if (!ok)
            q->st->dropped += q->marks > 0 ? q->marks : 1;
        l->held -= qline_cost(q);
    }
    for (size_t i = 0; i < n; i++) {
        v[i]->version += ok;
        v[i]->b_lines = v[i]->b_bytes = v[i]->b_next_n = 0;
        stream_release_if_idle(l, v[i]);
    }
    pthread_cond_broadcast(&l->changed);
    pthread_mutex_unlock(&l->lock);
    while (batch != NULL) {
        struct qline *next = batch->next;

        free(batch);
        batch = next;
    }
}

/* Sleeps <ms> before the next attempt (a stop cuts it short). Whether to give up. */
static bool retry_wait(struct flow_logs *l, uint64_t ms, unsigned attempts, uint64_t since_ms)
{
    uint64_t until = time_mono_ms() + ms;
    bool give_up;

    pthread_mutex_lock(&l->lock);
    while (!l->stopping && time_mono_ms() < until)
        cond_wait_until(&l->wake, &l->lock, until * 1000000u);
    give_up = (l->stopping && attempts >= STOP_ATTEMPTS) || time_mono_ms() - since_ms >= GIVE_UP_MS;
    pthread_mutex_unlock(&l->lock);
    return give_up;
}

/* Writes <batch> until it is committed, retrying with a growing pause while the database
 * fails; after GIVE_UP_MS (or a few tries once stopping) its lines are counted as dropped. */
static void batch_write(struct flow_logs *l, struct qline *batch)
{
    struct arena *a = arena_new(&(struct arena_opts){.chunk = 16 << 10});
    uint64_t since = time_mono_ms(), pause = RETRY_MIN_MS;
    struct stream **v;
    struct err err = {0};
    unsigned attempts = 0;
    size_t n;
    int rc;

    v = batch_streams(a, batch, &n);
    ASSERT(v != NULL); /* an arena without a budget fails only when malloc does */
    for (;;) {
        rc = batch_tx(l, batch, v, n, &err);
        if (rc == 0 || retry_wait(l, pause, ++attempts, since))
            break;
        if (attempts == 1)
            LOG_WARN(&l->log, "flow.log.write_failed", LF_STR("error", err.msg),
                     LF_INT("code", rc));
        pause = pause * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : pause * 2;
    }
    if (rc < 0)
        LOG_ERROR(&l->log, "flow.log.lines_dropped", LF_STR("error", err.msg),
                  LF_UINT("attempts", attempts));
    else if (attempts > 0)
        LOG_INFO(&l->log, "flow.log.write_recovered", LF_UINT("attempts", attempts + 1));
    batch_settle(l, batch, v, n, rc == 0);
    arena_free(a);
}

/* Lock held. Waits for the next batch: BATCH_DELAY_MS after its oldest line, or at once when
 * BATCH_BYTES are queued, a flush asks or the stop comes. NULL once stopped and empty. */
static struct qline *batch_take(struct flow_logs *l)
{
    struct qline *batch;

    for (;;) {
        if (l->head == NULL && l->stopping)
            return NULL;
        if (l->head == NULL)
            pthread_cond_wait(&l->wake, &l->lock);
        else if (l->stopping || l->flush_now || l->fresh >= BATCH_BYTES ||
                 time_mono_ms() >= l->oldest_ms + BATCH_DELAY_MS)
            break;
        else
            cond_wait_until(&l->wake, &l->lock, (l->oldest_ms + BATCH_DELAY_MS) * 1000000u);
    }
    batch = l->head;
    l->head = l->tail = NULL;
    l->fresh = 0;
    l->flush_now = false;
    return batch;
}

static void *writer_main(void *arg)
{
    struct flow_logs *l = arg;
    struct qline *batch;

    pthread_mutex_lock(&l->lock);
    while ((batch = batch_take(l)) != NULL) {
        pthread_mutex_unlock(&l->lock);
        batch_write(l, batch);
        pthread_mutex_lock(&l->lock);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

/* ---------------------------------------------------------------- lifecycle */

/* "INSERT INTO flow_log … VALUES (?, ?, ?, ?), …" with <rows> rows. */
static char *insert_sql(unsigned rows)
{
    struct sbuf b = SBUF_INIT(64 << 10);

    sbuf_puts(&b, "INSERT INTO flow_log (wf_id, n, ts_ms, line) VALUES ");
    for (unsigned i = 0; i < rows; i++)
        sbuf_puts(&b, i == 0 ? "(?, ?, ?, ?)" : ", (?, ?, ?, ?)");
    ASSERT(b.err == 0);
    return sbuf_take(&b, NULL);
}

struct flow_logs *flow_logs_new(struct store *s, const char *service, uint64_t max_bytes)
{
    struct flow_logs *l = xcalloc(1, sizeof(*l));

    l->store = s;
    l->service = xstrdup(service != NULL ? service : "flow");
    l->log.svc = l->service;
    l->max_bytes = max_bytes != 0 ? max_bytes : DEFAULT_MAX;
    for (unsigned k = 0; k < NSQL; k++)
        l->ins_sql[k] = insert_sql(1u << k);
    pthread_mutex_init(&l->lock, NULL);
    cond_init_mono(&l->wake);
    cond_init_mono(&l->changed);
    ASSERT(pthread_create(&l->thread, NULL, writer_main, l) == 0);
    return l;
}

void flow_logs_free(struct flow_logs *l)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->lock);
    for (size_t b = 0; b < NBUCKETS; b++)
        for (struct stream *st = l->buckets[b]; st != NULL; st = st->next)
            enqueue_marker(l, st);
    l->stopping = true;
    pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->lock);
    pthread_join(l->thread, NULL);
    for (size_t b = 0; b < NBUCKETS; b++)
        while (l->buckets[b] != NULL) {
            struct stream *st = l->buckets[b];

            /* only lines given up at the stop are left: already logged as lost */
            DASSERT(st->users == 0 && st->appended == st->settled);
            l->buckets[b] = st->next;
            free(st);
        }
    for (unsigned k = 0; k < NSQL; k++)
        free(l->ins_sql[k]);
    pthread_cond_destroy(&l->changed);
    pthread_cond_destroy(&l->wake);
    pthread_mutex_destroy(&l->lock);
    free(l->service);
    free(l);
}

void flow_logs_flush(struct flow_logs *l, const char *wf_id)
{
    struct stream *st;
    uint64_t target;

    pthread_mutex_lock(&l->lock);
    st = stream_find(l, slice_from_cstr(wf_id));
    if (st == NULL) {
        pthread_mutex_unlock(&l->lock);
        return;
    }
    enqueue_marker(l, st);
    target = st->appended;
    st->users++;
    if (st->settled < target) {
        l->flush_now = true;
        pthread_cond_signal(&l->wake);
    }
    while (st->settled < target)
        pthread_cond_wait(&l->changed, &l->lock);
    st->users--;
    stream_release_if_idle(l, st);
    pthread_mutex_unlock(&l->lock);
}

void flow_logs_kick(struct flow_logs *l, const char *wf_id)
{
    struct stream *st;

    pthread_mutex_lock(&l->lock);
    st = stream_find(l, slice_from_cstr(wf_id));
    if (st != NULL) {
        st->version++;
        pthread_cond_broadcast(&l->changed);
    }
    pthread_mutex_unlock(&l->lock);
}

/* ---------------------------------------------------------------- reading */

static int id_check(struct slice id, struct err *err)
{
    if (id.len == 0)
        return err_set(err, ERR_INVALID, "id is empty");
    if (id.len > ID_MAX)
        return err_set(err, ERR_INVALID, "id is longer than %u bytes", ID_MAX);
    return 0;
}

enum { FOLLOW_WAIT = 2 };

/* Looks at the database once: 1 when line <from> or a later one is committed, 0 when the
 * workflow is final and this process has nothing of it left to write (<pending>),
 * FOLLOW_WAIT otherwise. The status and the head are read by one statement, so one snapshot:
 * the engine flushes a workflow's lines before it records its final state, so a final status
 * seen here comes with all of its lines. */
static int follow_check(struct store *s, struct slice id, uint64_t from, bool pending,
                        struct err *err)
{
    struct arena *a = arena_new(&(struct arena_opts){.chunk = 1024});
    const struct store_val *status, *next;
    struct store_rows *r;
    int rc;

    rc = store_read1(s, a,
                     "SELECT (SELECT status FROM flow_wf WHERE id = ?),"
                     " (SELECT next_n FROM flow_log_head WHERE wf_id = ?)",
                     (struct store_val[]){SV_TEXT(id), SV_TEXT(id)}, 2, &r, err);
    if (rc == 0 && r->nrows != 1)
        rc = err_set(err, ERR_INTERNAL, "flow log: follow query returned %zu rows", r->nrows);
    if (rc < 0)
        goto out;
    status = store_cell(r, 0, 0);
    next = store_cell(r, 0, 1);
    if (next->type == STORE_T_INT && next->i > 0 && (uint64_t)next->i > from)
        rc = 1;
    else if (status->type != STORE_T_INT)
        rc = err_set(err, ERR_NOTFOUND, "workflow %.*s not found", SLICE_ARG(id));
    else if (status->i >= FLOW_SUCCEEDED && !pending)
        rc = 0;
    else
        rc = FOLLOW_WAIT;
out:
    arena_free(a);
    return rc;
}

/* Lock held. Waits for a change of <st> (a commit, a kick) from <seen>, up to FOLLOW_POLL_MS
 * and at most until <deadline> (monotonic ms). */
static void follow_wait(struct flow_logs *l, struct stream *st, uint64_t seen, uint64_t deadline)
{
    uint64_t now = time_mono_ms();
    uint64_t until = now + FOLLOW_POLL_MS < deadline ? now + FOLLOW_POLL_MS : deadline;

    while (st->version == seen && now < until) {
        cond_wait_until(&l->changed, &l->lock, until * 1000000u);
        now = time_mono_ms();
    }
}

int flow_logs_follow(struct flow_logs *l, struct slice id, uint64_t from, uint64_t timeout_ms,
                     struct err *err)
{
    uint64_t deadline =
        time_mono_ms() + (timeout_ms > UINT64_MAX / 2 ? UINT64_MAX / 2 : timeout_ms);
    struct stream *st;
    int rc = id_check(id, err);

    if (rc < 0)
        return rc;
    pthread_mutex_lock(&l->lock);
    st = stream_get(l, id);
    st->users++;
    for (;;) {
        uint64_t seen = st->version;
        bool pending = st->appended != st->settled;

        pthread_mutex_unlock(&l->lock);
        rc = follow_check(l->store, id, from, pending, err);
        pthread_mutex_lock(&l->lock);
        if (rc != FOLLOW_WAIT)
            break;
        if (time_mono_ms() >= deadline) {
            rc = err_set(err, ERR_TIMEOUT,
                         "no line %" PRIu64 " of workflow %.*s's log within %" PRIu64 " ms", from,
                         SLICE_ARG(id), timeout_ms);
            break;
        }
        follow_wait(l, st, seen, deadline);
    }
    st->users--;
    stream_release_if_idle(l, st);
    pthread_mutex_unlock(&l->lock);
    return rc;
}

/* The rows of a read into <lines>, in <a>. */
static int lines_fill(struct arena *a, const struct store_rows *r, struct flow_log_line **lines,
                      struct err *err)
{
    struct flow_log_line *v = arena_alloc(a, r->nrows * sizeof(*v));
    int rc = 0;

    if (v == NULL)
        return err_set(err, ERR_LIMIT, "flow log: %zu lines do not fit in the arena", r->nrows);
    for (size_t i = 0; rc == 0 && i < r->nrows; i++) {
        const struct store_val *text = store_cell(r, i, 2);

        rc = int_cell(r, i, 0, &v[i].n, err);
        if (rc == 0)
            rc = int_cell(r, i, 1, &v[i].ts_ms, err);
        if (rc == 0 && text->type != STORE_T_BLOB && text->type != STORE_T_TEXT)
            rc = err_set(err, ERR_INTERNAL, "flow log: line %" PRIu64 " is not bytes", v[i].n);
        v[i].text = text->s;
    }
    *lines = v;
    return rc;
}

/* *skipped for a read from <from> that found no line: the lines before first_n are gone. */
static int skipped_before_head(struct store_tx *tx, struct arena *a, struct slice id, uint64_t from,
                               uint64_t *skipped, struct err *err)
{
    struct store_rows *r;
    uint64_t first_n = 0;
    int rc = store_query(tx, a, "SELECT first_n FROM flow_log_head WHERE wf_id = ?",
                         (struct store_val[]){SV_TEXT(id)}, 1, &r, err);

    if (rc == 0 && r->nrows == 1)
        rc = int_cell(r, 0, 0, &first_n, err);
    if (rc == 0 && first_n > from)
        *skipped = first_n - from;
    return rc;
}

/* Lines are deleted only from the oldest end, and each statement reads one snapshot, so the
 * lines a read returns are consecutive: when the first is past <from>, those between were
 * dropped to keep the log under its bound. */
int flow_log_read(struct store *s, struct arena *a, struct slice id, uint64_t from, size_t max,
                  struct flow_log_line **lines, size_t *nlines, uint64_t *skipped, struct err *err)
{
    struct store_rows *r = NULL;
    struct store_tx *tx;
    int rc = id_check(id, err);

    *lines = NULL;
    *nlines = 0;
    *skipped = 0;
    if (rc < 0)
        return rc;
    if (max == 0)
        return err_set(err, ERR_INVALID, "max must be at least 1");
    if (from > INT64_MAX)
        return err_set(err, ERR_INVALID, "from is past the largest line number");
    rc = store_begin_read(s, &tx, err);
    if (rc < 0)
        return rc;
    rc = store_query(
        tx, a,
        "SELECT n, ts_ms, line FROM flow_log WHERE wf_id = ? AND n >= ?"
        " ORDER BY n LIMIT ?",
        (struct store_val[]){SV_TEXT(id), SV_INT(from), SV_INT(max > INT64_MAX ? INT64_MAX : max)},
        3, &r, err);
    if (rc == 0 && r->nrows == 0)
        rc = skipped_before_head(tx, a, id, from, skipped, err);
    if (rc == 0 && r->nrows > 0)
        rc = lines_fill(a, r, lines, err);
    if (rc < 0) {
        store_rollback(tx);
        *lines = NULL;
        return rc;
    }
    rc = store_commit(tx, err);
    if (rc < 0) {
        *lines = NULL;
        return rc;
    }
    if (r->nrows > 0) {
        *nlines = r->nrows;
        *skipped = (*lines)[0].n - from;
    }
    return 0;
}
