/*
 * flow/log: workflow log streams. Every test runs on SQLite, and on PostgreSQL too when
 * SLIPWAY_TEST_PG_URL is set. The tests make flow_wf themselves (only id and status) beside
 * the log tables, so they do not depend on the engine's migrations.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../test.h"
#include "base/base.h"
#include "flow/flow-int.h"
#include "../dbtest.h"

struct env {
    enum store_kind kind;
    char url[1024];
};

typedef void env_test_fn(struct env *e);

static void each_backend(env_test_fn *fn)
{
    struct env e = {.kind = STORE_SQLITE};

    dbtest_url(STORE_SQLITE, "flowlog", e.url, sizeof(e.url));
    fn(&e);
    if (dbtest_pg_url() != NULL) {
        e.kind = STORE_POSTGRES;
        dbtest_url(STORE_POSTGRES, "flowlog", e.url, sizeof(e.url));
        fn(&e);
    }
}

static const struct store_migration migrations[] = {
    {.version = 1,
     .name = "workflows",
     .sql = "CREATE TABLE flow_wf (id TEXT PRIMARY KEY, status INTEGER NOT NULL)"},
    {.version = 2, .name = "logs", .sql = flow_logs_ddl},
};

/* A store with the log tables (through store_migrate, as the engine applies them). */
static struct store *env_open(const struct env *e)
{
    struct store *s = dbtest_open(e->url, "test", 4, 10000);
    struct err err = {0};

    OK(store_migrate_set(s, "logtest", migrations, ARRAY_LEN(migrations), &err));
    return s;
}

static void exec_sql(struct store *s, const char *sql, const struct store_val *args, size_t n)
{
    struct err err = {0};

    OK(store_exec1(s, sql, args, n, NULL, &err));
}

static void wf_add(struct store *s, const char *id, int status)
{
    exec_sql(s, "INSERT INTO flow_wf (id, status) VALUES (?, ?)",
             (struct store_val[]){SV_CSTR(id), SV_INT(status)}, 2);
}

static void wf_set(struct store *s, const char *id, int status)
{
    exec_sql(s, "UPDATE flow_wf SET status = ? WHERE id = ?",
             (struct store_val[]){SV_INT(status), SV_CSTR(id)}, 2);
}

static void append_str(struct flow_logs *l, const char *id, const char *text)
{
    flow_logs_append(l, id, slice_from_cstr(text));
}

/* Lines of <id> from <from>, at most <max>, in <a>; CHECKs that the read succeeds. */
static struct flow_log_line *read_lines(struct store *s, struct arena *a, const char *id,
                                        uint64_t from, size_t max, size_t *n, uint64_t *skipped)
{
    struct flow_log_line *lines;
    struct err err = {0};

    OK(flow_log_read(s, a, slice_from_cstr(id), from, max, &lines, n, skipped, &err));
    for (size_t i = 1; i < *n; i++)
        CHECK_UINT_EQ(lines[i].n, lines[i - 1].n + 1);
    return lines;
}

static bool text_eq(const struct flow_log_line *line, const char *s)
{
    return slice_eq_cstr(line->text, s);
}

/* <line>'s text with a NUL after it, in <a> (a blob read back need not have one). */
static const char *cstr(struct arena *a, const struct flow_log_line *line)
{
    struct slice c = slice_dup(a, line->text);

    CHECK(c.ptr != NULL);
    return c.ptr;
}

/* A column of flow_log_head for <id>. */
static int64_t head_value(struct store *s, const char *id, const char *col)
{
    struct arena *a = arena_new(NULL);
    struct store_rows *r;
    struct err err = {0};
    char sql[128];
    int64_t v;

    snprintf(sql, sizeof(sql), "SELECT %s FROM flow_log_head WHERE wf_id = ?", col);
    OK(store_query1(s, a, sql, &SV_CSTR(id), 1, &r, &err));
    CHECK_UINT_EQ(r->nrows, 1);
    v = store_cell(r, 0, 0)->i;
    arena_free(a);
    return v;
}

/* ---------------------------------------------------------------- writing and reading */

static void t_round_trip(struct env *e)
{
    struct store *s = env_open(e);
    struct flow_logs *l = flow_logs_new(s, "test", 0);
    struct arena *a = arena_new(NULL);
    const char bin[] = {'a', 0, '\xff', '\xfe', 'b'};
    uint64_t t0 = time_wall_ms(), skipped = 9;
    struct flow_log_line *lines;
    char text[32];
    size_t n;

    for (int i = 0; i < 10; i++) {
        snprintf(text, sizeof(text), "line %d", i);
        append_str(l, "wf-a", text);
        if (i < 3)
            append_str(l, "wf-b", text);
    }
    flow_logs_append(l, "wf-b", (struct slice){bin, sizeof(bin)});
    flow_logs_append(l, "wf-b", SLICE_NULL); /* an empty line is a line */
    flow_logs_flush(l, "wf-a");
    flow_logs_flush(l, "wf-b");

    lines = read_lines(s, a, "wf-a", 0, 100, &n, &skipped);
    CHECK_UINT_EQ(n, 10);
    CHECK_UINT_EQ(skipped, 0);
    for (size_t i = 0; i < n; i++) {
        snprintf(text, sizeof(text), "line %zu", i);
        CHECK_UINT_EQ(lines[i].n, i);
        CHECK(text_eq(&lines[i], text));
        CHECK(lines[i].ts_ms >= t0 && lines[i].ts_ms <= time_wall_ms());
    }
    lines = read_lines(s, a, "wf-b", 0, 100, &n, &skipped);
    CHECK_UINT_EQ(n, 5);
    CHECK(text_eq(&lines[2], "line 2"));
    CHECK_MEM_EQ(lines[3].text.ptr, lines[3].text.len, bin, sizeof(bin));
    CHECK_UINT_EQ(lines[4].text.len, 0);

    /* from the middle, at most max */
    lines = read_lines(s, a, "wf-a", 4, 3, &n, &skipped);
    CHECK_UINT_EQ(n, 3);
    CHECK_UINT_EQ(lines[0].n, 4);
    CHECK(text_eq(&lines[2], "line 6"));
    CHECK_UINT_EQ(skipped, 0);
    /* at and past the end; a log never written */
    (void)read_lines(s, a, "wf-a", 10, 100, &n, &skipped);
    CHECK_UINT_EQ(n + skipped, 0);
    (void)read_lines(s, a, "wf-a", 500, 100, &n, &skipped);
    CHECK_UINT_EQ(n + skipped, 0);
    (void)read_lines(s, a, "wf-none", 0, 100, &n, &skipped);
    CHECK_UINT_EQ(n + skipped, 0);

    /* numbers go on where the last writer (another process, an earlier run) stopped */
    flow_logs_free(l);
    l = flow_logs_new(s, "test", 0);
    append_str(l, "wf-a", "again");
    flow_logs_flush(l, "wf-a");
    lines = read_lines(s, a, "wf-a", 9, 100, &n, &skipped);
    CHECK_UINT_EQ(n, 2);
    CHECK_UINT_EQ(lines[1].n, 10);
    CHECK(text_eq(&lines[1], "again"));

    flow_logs_free(l);
    arena_free(a);
    store_close(s);
}

TEST(flow_log_round_trip_numbers_and_reads_from_the_middle)
{
    each_backend(t_round_trip);
}

static void t_bad_arguments(struct env *e)
{
    struct store *s = env_open(e);
    struct arena *a = arena_new(NULL);
    struct flow_logs *l = flow_logs_new(s, "test", 0);
    struct flow_log_line *lines = (void *)1;
    char long_id[200];
    uint64_t skipped = 7;
    struct err err = {0};
    size_t n = 7;

    CHECK_INT_EQ(flow_log_read(s, a, SLICE(""), 0, 10, &lines, &n, &skipped, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "id");
    CHECK(lines == NULL && n == 0 && skipped == 0);
    memset(long_id, 'x', sizeof(long_id));
    CHECK_INT_EQ(flow_log_read(s, a, (struct slice){long_id, sizeof(long_id)}, 0, 10, &lines, &n,
                               &skipped, &err),
                 ERR_INVALID);
    CHECK_CONTAINS(err.msg, "id");
    CHECK_INT_EQ(flow_log_read(s, a, SLICE("wf"), 0, 0, &lines, &n, &skipped, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "max");
    CHECK_INT_EQ(flow_log_read(s, a, SLICE("wf"), UINT64_MAX, 1, &lines, &n, &skipped, &err),
                 ERR_INVALID);
    CHECK_CONTAINS(err.msg, "from");
    CHECK_INT_EQ(flow_logs_follow(l, SLICE(""), 0, 0, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "id");
    CHECK_INT_EQ(flow_logs_follow(l, SLICE("wf-unknown"), 0, 0, &err), ERR_NOTFOUND);
    CHECK_CONTAINS(err.msg, "wf-unknown");
    flow_logs_free(l);
    arena_free(a);
    store_close(s);
}

TEST(flow_log_checks_arguments)
{
    each_backend(t_bad_arguments);
}

static void t_size_bound(struct env *e)
{
    struct store *s = env_open(e);
    struct flow_logs *l = flow_logs_new(s, "test", 1000);
    struct arena *a = arena_new(NULL);
    struct flow_log_line *lines;
    uint64_t skipped, bytes = 0;
    char text[128];
    size_t n;

    for (int i = 0; i < 100; i++) {
        snprintf(text, sizeof(text), "%04d%096d", i, 0); /* 100 bytes */
        append_str(l, "wf", text);
        if (i % 10 == 9)
            flow_logs_flush(l, "wf"); /* several batches: each trims what went over */
    }
    flow_logs_flush(l, "wf");

    lines = read_lines(s, a, "wf", 0, 1000, &n, &skipped);
    CHECK(n > 0 && n <= 10);
    CHECK_UINT_EQ(skipped, lines[0].n); /* the oldest went, and the read says how many */
    CHECK_UINT_EQ(lines[n - 1].n, 99);
    for (size_t i = 0; i < n; i++) {
        snprintf(text, sizeof(text), "%04d", (int)lines[i].n);
        CHECK(lines[i].text.len == 100 && memcmp(lines[i].text.ptr, text, 4) == 0);
        bytes += lines[i].text.len;
    }
    CHECK_INT_EQ(head_value(s, "wf", "bytes"), bytes);
    CHECK_INT_EQ(head_value(s, "wf", "first_n"), lines[0].n);
    CHECK_INT_EQ(head_value(s, "wf", "next_n"), 100);

    /* a reader further behind than the kept lines is told how far, and goes on from there */
    lines = read_lines(s, a, "wf", 3, 2, &n, &skipped);
    CHECK_UINT_EQ(n, 2);
    CHECK_UINT_EQ(skipped, lines[0].n - 3);
    CHECK(lines[0].n > 3);

    flow_logs_free(l);
    arena_free(a);
    store_close(s);
}

TEST(flow_log_size_bound_drops_the_oldest_and_reads_report_skipped)
{
    each_backend(t_size_bound);
}

static void t_everything_trimmed(struct env *e)
{
    struct store *s = env_open(e);
    struct flow_logs *l = flow_logs_new(s, "test", 10);
    struct arena *a = arena_new(NULL);
    uint64_t skipped;
    size_t n;

    append_str(l, "wf", "longer than the whole bound");
    flow_logs_flush(l, "wf");
    (void)read_lines(s, a, "wf", 0, 10, &n, &skipped);
    CHECK_UINT_EQ(n, 0);
    CHECK_UINT_EQ(skipped, 1); /* no line left, yet the loss is reported */
    CHECK_INT_EQ(head_value(s, "wf", "bytes"), 0);
    flow_logs_free(l);
    arena_free(a);
    store_close(s);
}

TEST(flow_log_line_over_the_bound_is_dropped_and_reported)
{
    each_backend(t_everything_trimmed);
}

static void t_long_line(struct env *e)
{
    struct store *s = env_open(e);
    struct flow_logs *l = flow_logs_new(s, "test", 0);
    struct arena *a = arena_new(NULL);
    char *big = malloc(21000), suffix[64];
    struct flow_log_line *lines;
    uint64_t skipped;
    size_t n, kept;

    memset(big, 'a', 20000);
    flow_logs_append(l, "wf", (struct slice){big, 20000});
    for (size_t i = 0; i + 3 <= 21000; i += 3)
        memcpy(big + i, "\xE2\x82\xAC", 3); /* "€": the cut must not split one */
    flow_logs_append(l, "wf", (struct slice){big, 21000});
    memset(big, 'b', 16384);
    flow_logs_append(l, "wf", (struct slice){big, 16384}); /* at the limit: whole */
    flow_logs_flush(l, "wf");
    lines = read_lines(s, a, "wf", 0, 10, &n, &skipped);
    CHECK_UINT_EQ(n, 3);

    CHECK(lines[0].text.len <= 16384);
    kept = strspn(cstr(a, &lines[0]), "a");
    snprintf(suffix, sizeof(suffix), "\xE2\x80\xA6 [cut %zu bytes]", 20000 - kept);
    CHECK_MEM_EQ(lines[0].text.ptr + kept, lines[0].text.len - kept, suffix, strlen(suffix));
    CHECK(kept > 16000);

    CHECK(lines[1].text.len <= 16384);
    {
        const char *t = cstr(a, &lines[1]), *cut = strstr(t, "\xE2\x80\xA6 [cut");

        CHECK(cut != NULL);
        kept = (size_t)(cut - t);
    }
    CHECK(kept > 16000);
    CHECK_UINT_EQ(kept % 3, 0);
    CHECK(memcmp(lines[1].text.ptr + kept - 3, "\xE2\x82\xAC", 3) == 0);
    snprintf(suffix, sizeof(suffix), "\xE2\x80\xA6 [cut %zu bytes]", 21000 - kept);
    CHECK_MEM_EQ(lines[1].text.ptr + kept, lines[1].text.len - kept, suffix, strlen(suffix));

    CHECK_UINT_EQ(lines[2].text.len, 16384);
    free(big);
    flow_logs_free(l);
    arena_free(a);
    store_close(s);
}

TEST(flow_log_cuts_long_lines_visibly)
{
    each_backend(t_long_line);
}

/* Each line is in the database as soon as flush returns, seen through another opening. */
static void t_flush_visible(struct env *e)
{
    struct store *s = env_open(e), *other = dbtest_open(e->url, "other", 1, 10000);
    struct flow_logs *l = flow_logs_new(s, "test", 0);
    struct arena *a = arena_new(NULL);
    struct flow_log_line *lines;
    uint64_t skipped;
    char text[32];
    size_t n;

    for (int i = 0; i < 20; i++) {
        snprintf(text, sizeof(text), "x %d", i);
        append_str(l, "wf", text);
        flow_logs_flush(l, "wf");
        lines = read_lines(other, a, "wf", (uint64_t)i, 10, &n, &skipped);
        CHECK_UINT_EQ(n, 1);
        CHECK(text_eq(&lines[0], text));
    }
    flow_logs_flush(l, "never-written"); /* nothing to wait for */
    flow_logs_free(l);
    arena_free(a);
    store_close(other);
    store_close(s);
}

TEST(flow_log_flush_makes_lines_visible)
{
    each_backend(t_flush_visible);
}

static void t_free_flushes(struct env *e)
{
    struct store *s = env_open(e);
    struct flow_logs *l = flow_logs_new(s, "test", 0);
    struct arena *a = arena_new(NULL);
    struct flow_log_line *lines;
    uint64_t skipped;
    char text[32];
    size_t n;

    for (int i = 0; i < 500; i++) {
        snprintf(text, sizeof(text), "line %d", i);
        append_str(l, i % 2 ? "wf-odd" : "wf-even", text);
    }
    flow_logs_free(l);
    lines = read_lines(s, a, "wf-odd", 0, 1000, &n, &skipped);
    CHECK_UINT_EQ(n, 250);
    CHECK(text_eq(&lines[249], "line 499"));
    lines = read_lines(s, a, "wf-even", 0, 1000, &n, &skipped);
    CHECK_UINT_EQ(n, 250);
    CHECK(text_eq(&lines[0], "line 0"));
    arena_free(a);
    store_close(s);
}

TEST(flow_log_free_writes_everything_queued)
{
    each_backend(t_free_flushes);
}

/* ---------------------------------------------------------------- following */

static void t_follow_at_once(struct env *e)
{
    struct store *s = env_open(e);
    struct flow_logs *l = flow_logs_new(s, "test", 0);
    struct err err = {0};

    wf_add(s, "wf", FLOW_RUNNING);
    CHECK_INT_EQ(flow_logs_follow(l, SLICE("wf"), 0, 0, &err), ERR_TIMEOUT);
    append_str(l, "wf", "one");
    flow_logs_flush(l, "wf");
    CHECK_INT_EQ(flow_logs_follow(l, SLICE("wf"), 0, 0, &err), 1);
    CHECK_INT_EQ(flow_logs_follow(l, SLICE("wf"), 0, 60000, &err), 1);
    CHECK_INT_EQ(flow_logs_follow(l, SLICE("wf"), 1, 0, &err), ERR_TIMEOUT);
    CHECK_INT_EQ(flow_logs_follow(l, SLICE("wf"), 1, 30, &err), ERR_TIMEOUT);
    CHECK_CONTAINS(err.msg, "wf");
    flow_logs_free(l);
    store_close(s);
}

TEST(flow_log_follow_returns_at_once_or_times_out)
{
    each_backend(t_follow_at_once);
}

struct later {
    struct flow_logs *l;
    struct store *s;
    const char *id;
    int final_status; /* set the workflow final (and kick) instead of appending; 0: append */
};

static void *later_main(void *arg)
{
    struct later *w = arg;

    usleep(50 * 1000); /* let the follower start waiting; the result does not depend on it */
    if (w->final_status == 0) {
        append_str(w->l, w->id, "late line");
    } else {
        wf_set(w->s, w->id, w->final_status);
        flow_logs_kick(w->l, w->id);
    }
    return NULL;
}

static void t_follow_wakes(struct env *e)
{
    struct store *s = env_open(e);
    struct flow_logs *l = flow_logs_new(s, "test", 0);
    struct later w = {.l = l, .s = s, .id = "wf"};
    struct arena *a = arena_new(NULL);
    struct flow_log_line *lines;
    struct err err = {0};
    uint64_t skipped;
    pthread_t th;
    size_t n;

    wf_add(s, "wf", FLOW_RUNNING);
    CHECK(pthread_create(&th, NULL, later_main, &w) == 0);
    CHECK_INT_EQ(flow_logs_follow(l, SLICE("wf"), 0, 30000, &err), 1);
    pthread_join(th, NULL);
    lines = read_lines(s, a, "wf", 0, 10, &n, &skipped);
    CHECK_UINT_EQ(n, 1);
    CHECK(text_eq(&lines[0], "late line"));

    /* a line written by another process (another writer on the same database) */
    {
        struct flow_logs *other = flow_logs_new(s, "other", 0);

        w.l = other;
        CHECK(pthread_create(&th, NULL, later_main, &w) == 0);
        CHECK_INT_EQ(flow_logs_follow(l, SLICE("wf"), 1, 30000, &err), 1);
        pthread_join(th, NULL);
        flow_logs_free(other);
    }

    /* the workflow ends while a follower waits: 0, everything was read */
    w.l = l;
    w.final_status = FLOW_SUCCEEDED;
    CHECK(pthread_create(&th, NULL, later_main, &w) == 0);
    CHECK_INT_EQ(flow_logs_follow(l, SLICE("wf"), 2, 30000, &err), 0);
    pthread_join(th, NULL);
    flow_logs_free(l);
    arena_free(a);
    store_close(s);
}

TEST(flow_log_follow_wakes_on_append_other_writers_and_the_end)
{
    each_backend(t_follow_wakes);
}

static void t_follow_final(struct env *e)
{
    struct store *s = env_open(e);
    struct flow_logs *l = flow_logs_new(s, "test", 0);
    struct err err = {0};

    wf_add(s, "done", FLOW_FAILED);
    wf_add(s, "quiet", FLOW_CANCELLED);
    for (int i = 0; i < 3; i++)
        append_str(l, "done", "x");
    flow_logs_flush(l, "done");
    /* final, yet lines from <from> on are left: read them first */
    CHECK_INT_EQ(flow_logs_follow(l, SLICE("done"), 0, 0, &err), 1);
    CHECK_INT_EQ(flow_logs_follow(l, SLICE("done"), 2, 0, &err), 1);
    /* final and everything read */
    CHECK_INT_EQ(flow_logs_follow(l, SLICE("done"), 3, 0, &err), 0);
    CHECK_INT_EQ(flow_logs_follow(l, SLICE("done"), 3, 60000, &err), 0);
    CHECK_INT_EQ(flow_logs_follow(l, SLICE("quiet"), 0, 60000, &err), 0);
    flow_logs_free(l);
    store_close(s);
}

TEST(flow_log_follow_ends_with_0_once_final_and_read)
{
    each_backend(t_follow_final);
}

/* ---------------------------------------------------------------- slow readers, overflow */

/* A reader's transaction held open: a raw SQLite connection's read snapshot, or a PostgreSQL
 * transaction that has read the log. */
struct reader {
    sqlite3 *db;
    struct store_tx *tx;
};

static void reader_open(struct reader *r, const struct env *e, struct store *s)
{
    struct arena *a = arena_new(NULL);
    struct store_rows *rows;
    struct err err = {0};

    memset(r, 0, sizeof(*r));
    if (e->kind == STORE_SQLITE) {
        CHECK_INT_EQ(sqlite3_open(e->url + strlen("sqlite:"), &r->db), SQLITE_OK);
        CHECK_INT_EQ(sqlite3_exec(r->db, "BEGIN; SELECT COUNT(*) FROM flow_log", NULL, NULL, NULL),
                     SQLITE_OK);
    } else {
        OK(store_begin(s, &r->tx, &err));
        OK(store_query(r->tx, a, "SELECT COUNT(*) FROM flow_log", NULL, 0, &rows, &err));
    }
    arena_free(a);
}

static void reader_close(struct reader *r)
{
    if (r->db != NULL) {
        CHECK_INT_EQ(sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(r->db);
    }
    if (r->tx != NULL)
        store_rollback(r->tx);
}

/* The count of a "[slipway: N log line(s) dropped: …]" marker, 0 for another line. */
static uint64_t marker_count(const struct flow_log_line *line)
{
    char text[128];
    unsigned long long count;

    if (line->text.len >= sizeof(text))
        return 0;
    memcpy(text, line->text.ptr, line->text.len);
    text[line->text.len] = '\0';
    if (sscanf(text, "[slipway: %llu log line", &count) != 1)
        return 0;
    snprintf(text, sizeof(text), "[slipway: %llu log line%s dropped: the log writer fell behind]",
             count, count == 1 ? "" : "s");
    CHECK(text_eq(line, text));
    return count;
}

/* Reads <id>'s whole log, lines "<prefix><k>" with k counting from 0: each k is there once
 * and in order, or counted by a marker in its place. Returns how many markers counted. */
static uint64_t check_sequence(struct store *s, const char *id, const char *prefix, int total)
{
    uint64_t from = 0, skipped, dropped = 0;
    struct flow_log_line *lines;
    int next = 0;
    size_t n;

    do {
        struct arena *a = arena_new(NULL);

        lines = read_lines(s, a, id, from, 10000, &n, &skipped);
        CHECK_UINT_EQ(skipped, 0);
        for (size_t i = 0; i < n; i++) {
            uint64_t m = marker_count(&lines[i]);
            char text[64];

            if (m == 0) {
                snprintf(text, sizeof(text), "%s%d", prefix, next++);
                CHECK(text_eq(&lines[i], text));
            }
            next += (int)m;
            dropped += m;
            from = lines[i].n + 1;
        }
        arena_free(a);
    } while (n > 0);
    CHECK_INT_EQ(next, total);
    return dropped;
}

static void t_slow_reader(struct env *e)
{
    struct store *s = env_open(e);
    struct flow_logs *l = flow_logs_new(s, "test", 0);
    struct reader r;
    char text[32];

    append_str(l, "wf", "0");
    flow_logs_flush(l, "wf");
    reader_open(&r, e, s); /* and it never reads again while the lines come */
    for (int i = 1; i < 100000; i++) {
        snprintf(text, sizeof(text), "%d", i);
        append_str(l, "wf", text);
    }
    flow_logs_flush(l, "wf"); /* returns while the reader still holds its transaction */
    reader_close(&r);
    (void)check_sequence(s, "wf", "", 100000);
    flow_logs_free(l);
    store_close(s);
}

TEST(flow_log_a_reader_that_never_reads_does_not_block_the_writer)
{
    each_backend(t_slow_reader);
}

/* Holds the log tables' write lock, so the writer thread cannot commit. */
static struct store_tx *writer_block(const struct env *e, struct store *s)
{
    struct store_tx *tx;
    struct err err = {0};

    OK(store_begin(s, &tx, &err)); /* SQLite: BEGIN IMMEDIATE, the write lock */
    if (e->kind == STORE_POSTGRES)
        OK(store_exec(tx, "LOCK TABLE flow_log_head IN EXCLUSIVE MODE", NULL, 0, NULL, &err));
    return tx;
}

static void t_overflow(struct env *e)
{
    struct store *s = env_open(e);
    struct flow_logs *l = flow_logs_new(s, "test", 64ull << 20);
    struct store_tx *block = writer_block(e, s);
    char *big = malloc(16000 + 1);
    uint64_t dropped;

    /* 300 lines of 16000 bytes cannot all wait in 4 MiB */
    for (int i = 0; i < 300; i++) {
        int n = snprintf(big, 16001, "%d", i);

        memset(big + n, ' ', (size_t)(16000 - n));
        flow_logs_append(l, "wf", (struct slice){big, 16000});
    }
    store_rollback(block);
    flow_logs_flush(l, "wf"); /* writes the marker though no line followed */
    append_str(l, "wf", "after");
    flow_logs_flush(l, "wf");

    {
        struct arena *a = arena_new(NULL);
        struct flow_log_line *lines;
        uint64_t skipped, kept;
        size_t n;

        lines = read_lines(s, a, "wf", 0, 1000, &n, &skipped);
        CHECK(n >= 3);
        kept = n - 2;
        dropped = marker_count(&lines[n - 2]);
        CHECK(kept > 0 && dropped > 0);
        CHECK_UINT_EQ(kept + dropped, 300); /* every line is there or counted, exactly */
        for (size_t i = 0; i < kept; i++)
            CHECK_UINT_EQ(strtoul(cstr(a, &lines[i]), NULL, 10), i);
        CHECK(text_eq(&lines[n - 1], "after"));
        arena_free(a);
    }
    free(big);
    flow_logs_free(l);
    store_close(s);
}

TEST(flow_log_queue_overflow_writes_the_exact_dropped_count)
{
    each_backend(t_overflow);
}

static void t_overflow_then_free(struct env *e)
{
    struct store *s = env_open(e);
    struct flow_logs *l = flow_logs_new(s, "test", 64ull << 20);
    struct store_tx *block = writer_block(e, s);
    char *big = calloc(1, 16000);
    struct arena *a = arena_new(NULL);
    struct flow_log_line *lines;
    uint64_t skipped;
    size_t n;

    for (int i = 0; i < 300; i++)
        flow_logs_append(l, "wf", (struct slice){big, 16000});
    store_rollback(block);
    flow_logs_free(l); /* the dropped lines are reported even with no line after them */
    lines = read_lines(s, a, "wf", 0, 1000, &n, &skipped);
    CHECK(n >= 2);
    CHECK_UINT_EQ(n - 1 + marker_count(&lines[n - 1]), 300);
    free(big);
    arena_free(a);
    store_close(s);
}

TEST(flow_log_free_reports_lines_dropped_at_the_end)
{
    each_backend(t_overflow_then_free);
}

/* The database refuses the writer for a while (lock timeouts): nothing is lost. */
static void t_retry(struct env *e)
{
    struct store *s = dbtest_open(e->url, "test", 4, 100);
    struct flow_logs *l;
    struct store_tx *block;
    struct err err = {0};
    char text[32];

    OK(store_migrate_set(s, "logtest", migrations, ARRAY_LEN(migrations), &err));
    l = flow_logs_new(s, "test", 0);
    block = writer_block(e, s);
    for (int i = 0; i < 50; i++) {
        snprintf(text, sizeof(text), "%d", i);
        append_str(l, "wf", text);
    }
    usleep(400 * 1000); /* the writer's first attempts time out meanwhile */
    store_rollback(block);
    flow_logs_flush(l, "wf");
    CHECK_UINT_EQ(check_sequence(s, "wf", "", 50), 0);
    flow_logs_free(l);
    store_close(s);
}

TEST(flow_log_writer_retries_after_database_errors)
{
    each_backend(t_retry);
}

/* ---------------------------------------------------------------- concurrency */

#define NTHREADS 8
#define NLINES   2000

struct appender {
    struct flow_logs *l;
    int t;
};

static void *appender_main(void *arg)
{
    struct appender *w = arg;
    char id[16], text[32];

    snprintf(id, sizeof(id), "wf-%d", w->t);
    for (int j = 0; j < NLINES; j++) {
        snprintf(text, sizeof(text), "%d", j);
        append_str(w->l, id, text);
        snprintf(text, sizeof(text), "t%d %d", w->t, j);
        append_str(w->l, "wf-shared", text);
    }
    return NULL;
}

/* In the shared log, each thread's lines are there once each and in order. */
static void check_shared(struct store *s)
{
    int next[NTHREADS] = {0};
    uint64_t from = 0, skipped;
    struct flow_log_line *lines;
    size_t n, total = 0;

    do {
        struct arena *a = arena_new(NULL);

        lines = read_lines(s, a, "wf-shared", from, 5000, &n, &skipped);
        for (size_t i = 0; i < n; i++) {
            int t = -1, j = -1;

            CHECK(sscanf(cstr(a, &lines[i]), "t%d %d", &t, &j) == 2);
            CHECK(t >= 0 && t < NTHREADS);
            CHECK_INT_EQ(j, next[t]++);
            CHECK_UINT_EQ(lines[i].n, total++);
            from = lines[i].n + 1;
        }
        arena_free(a);
    } while (n > 0);
    CHECK_UINT_EQ(total, NTHREADS * NLINES);
}

static void t_concurrent(struct env *e)
{
    struct store *s = env_open(e);
    /* two writers on one database, as two processes after a takeover would be */
    struct flow_logs *l[2] = {flow_logs_new(s, "a", 0), flow_logs_new(s, "b", 0)};
    struct appender w[NTHREADS];
    pthread_t th[NTHREADS];
    char id[16];

    for (int t = 0; t < NTHREADS; t++) {
        w[t] = (struct appender){.l = l[t % 2], .t = t};
        CHECK(pthread_create(&th[t], NULL, appender_main, &w[t]) == 0);
    }
    for (int t = 0; t < NTHREADS; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < NTHREADS; t++) {
        snprintf(id, sizeof(id), "wf-%d", t);
        flow_logs_flush(l[t % 2], id);
    }
    flow_logs_flush(l[0], "wf-shared");
    flow_logs_flush(l[1], "wf-shared");
    for (int t = 0; t < NTHREADS; t++) {
        snprintf(id, sizeof(id), "wf-%d", t);
        CHECK_UINT_EQ(check_sequence(s, id, "", NLINES), 0);
    }
    check_shared(s);
    flow_logs_free(l[0]);
    flow_logs_free(l[1]);
    store_close(s);
}

TEST(flow_log_concurrent_appends_keep_every_line_once_in_order)
{
    each_backend(t_concurrent);
}
