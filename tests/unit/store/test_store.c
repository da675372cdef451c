/*
 * store: every test runs against each backend in the list: SQLite always (a file in the
 * test's directory), PostgreSQL when SLIPWAY_TEST_PG_URL is set. The PostgreSQL database is
 * shared, so each environment gets a schema of its own (search_path in the URL), dropped at
 * exit, also when a CHECK fails.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../test.h"
#include "base/base.h"
#include "store/store.h"
#include "store/store-int.h"
#include "../dbtest.h"

struct env {
    enum store_kind kind;
    char url[1024];
};

typedef void env_test_fn(struct env *e);

static const char *pg_base_url(void)
{
    return dbtest_pg_url();
}

static struct store *open_url(const char *url, unsigned max_conns, uint64_t busy_ms)
{
    return dbtest_open(url, "test", max_conns, busy_ms);
}

static void env_init(struct env *e, enum store_kind kind)
{
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    dbtest_url(kind, "store", e->url, sizeof(e->url));
}

static void each_backend(env_test_fn *fn)
{
    struct env e;

    env_init(&e, STORE_SQLITE);
    fn(&e);
    if (pg_base_url() != NULL) {
        env_init(&e, STORE_POSTGRES);
        fn(&e);
    }
}

static struct store *env_open(const struct env *e, unsigned max_conns, uint64_t busy_ms)
{
    struct store *s = open_url(e->url, max_conns, busy_ms);

    CHECK_INT_EQ(store_kind(s), e->kind);
    return s;
}

static const char *blob_type(const struct env *e)
{
    return e->kind == STORE_POSTGRES ? "BYTEA" : "BLOB";
}

static void exec_sql(struct store *s, const char *sql)
{
    struct err err = {0};

    OK(store_exec1(s, sql, NULL, 0, NULL, &err));
}

/* The single integer a query returns. */
static int64_t query_int(struct store *s, const char *sql, const struct store_val *args,
                         size_t nargs)
{
    struct arena *a = arena_new(NULL);
    struct store_rows *r;
    struct err err = {0};
    int64_t v;

    OK(store_query1(s, a, sql, args, nargs, &r, &err));
    CHECK_UINT_EQ(r->nrows, 1);
    CHECK_INT_EQ(store_cell(r, 0, 0)->type, STORE_T_INT);
    v = store_cell(r, 0, 0)->i;
    arena_free(a);
    return v;
}

/* ---------------------------------------------------------------- opening */

static void t_open_close(struct env *e)
{
    struct store *s = env_open(e, 0, 0);

    exec_sql(s, "CREATE TABLE oc (v BIGINT)");
    exec_sql(s, "INSERT INTO oc VALUES (7)");
    store_close(s);
    s = env_open(e, 2, 1000);
    CHECK_INT_EQ(query_int(s, "SELECT v FROM oc", NULL, 0), 7);
    store_close(s);
    store_close(NULL);
}

TEST(store_open_close)
{
    each_backend(t_open_close);
}

static void check_open_fails(const char *url, unsigned max_conns, int code, const char *needle)
{
    struct store_opts o = {.url = url, .max_conns = max_conns};
    struct store *s = (struct store *)1;
    struct err err = {0};

    CHECK_INT_EQ(store_open(&o, &s, &err), code);
    CHECK(s == NULL);
    CHECK_INT_EQ(err.code, code);
    if (needle != NULL)
        CHECK_CONTAINS(err.msg, needle);
    CHECK(strstr(err.msg, "hunter2") == NULL);
}

TEST(store_open_bad_url)
{
    char path[512];

    check_open_fails("mysql://root:hunter2@db:3306/app", 0, ERR_INVALID, "\"mysql\"");
    check_open_fails("no-scheme-here", 0, ERR_INVALID, "scheme");
    check_open_fails("", 0, ERR_INVALID, "empty");
    check_open_fails(NULL, 0, ERR_INVALID, "empty");
    check_open_fails("sqlite:", 0, ERR_INVALID, "path");
    check_open_fails("SQLITE:x.db", 0, ERR_INVALID, "SQLITE");
    snprintf(path, sizeof(path), "sqlite:%s/no/such/dir/x.db", test_tmpdir());
    check_open_fails(path, 0, ERR_IO, "no/such/dir");
    snprintf(path, sizeof(path), "sqlite:%s/x.db", test_tmpdir());
    check_open_fails(path, 100000, ERR_INVALID, "max_conns");
    if (pg_base_url() != NULL)
        check_open_fails("postgres://app:hunter2@127.0.0.1:1/app?connect_timeout=2", 0,
                         ERR_UNAVAILABLE, NULL);
}

/* A connection that cannot be opened is logged once (warn, svc "store"), not at every try. */
TEST(store_connect_failure_logged_once)
{
    char dir[512], path[600], logpath[600], buf[8192];
    struct store_tx *t1, *t2;
    struct err err = {0};
    struct store *s;
    ssize_t n;
    int fd, saved;

    snprintf(dir, sizeof(dir), "%s/sub", test_tmpdir());
    CHECK(mkdir(dir, 0700) == 0);
    snprintf(path, sizeof(path), "sqlite:%s/x.db", dir);
    s = open_url(path, 2, 1000);
    OK(store_begin(s, &t1, &err));
    snprintf(path, sizeof(path), "%s/x.db", dir);
    CHECK(unlink(path) == 0);
    snprintf(path, sizeof(path), "%s/x.db-wal", dir);
    (void)unlink(path);
    snprintf(path, sizeof(path), "%s/x.db-shm", dir);
    (void)unlink(path);
    CHECK(rmdir(dir) == 0);
    snprintf(logpath, sizeof(logpath), "%s/log", test_tmpdir());
    fd = open(logpath, O_CREAT | O_RDWR | O_TRUNC, 0600);
    saved = dup(2);
    CHECK(fd >= 0 && saved >= 0 && dup2(fd, 2) == 2);
    CHECK_INT_EQ(store_begin(s, &t2, &err), ERR_IO);
    CHECK_INT_EQ(store_begin(s, &t2, &err), ERR_IO);
    CHECK(dup2(saved, 2) == 2);
    n = pread(fd, buf, sizeof(buf) - 1, 0);
    CHECK(n > 0);
    buf[n] = '\0';
    CHECK_CONTAINS(buf, "store.connect_failed");
    CHECK_CONTAINS(buf, "\"svc\":\"store\"");
    CHECK(strstr(strstr(buf, "store.connect_failed") + 1, "store.connect_failed") == NULL);
    close(fd);
    close(saved);
    store_rollback(t1);
    store_close(s);
}

/* ---------------------------------------------------------------- values */

static char *big_text(size_t n)
{
    char *p = xmalloc(n + 1);
    size_t i;

    for (i = 0; i < n; i++)
        p[i] = (char)('a' + i % 26);
    p[n] = '\0';
    return p;
}

static void check_val(const struct store_val *v, enum store_type t, const void *p, size_t n)
{
    CHECK_INT_EQ(v->type, t);
    if (t == STORE_T_TEXT || t == STORE_T_BLOB) {
        CHECK_MEM_EQ(v->s.ptr, v->s.len, p, n);
        CHECK(v->s.ptr[v->s.len] == '\0');
    }
}

static void t_roundtrip(struct env *e)
{
    static const char nul_blob[] = {'\0', 'a', '\0', '\xff', '\0'};
    static const char meta[] = "'; DROP TABLE rt; --";
    struct store *s = env_open(e, 0, 0);
    struct arena *a = arena_new(&(struct arena_opts){.budget = 16 << 20});
    char *big = big_text(1 << 20), sql[256], all[256];
    const struct store_rows *r;
    struct err err = {0};
    int64_t changes = -1;
    size_t i;

    for (i = 0; i < sizeof(all); i++)
        all[i] = (char)i;
    snprintf(sql, sizeof(sql), "CREATE TABLE rt (id BIGINT PRIMARY KEY, s TEXT, b %s)",
             blob_type(e));
    exec_sql(s, sql);
    const struct store_val rows[][3] = {
        {SV_INT(INT64_MIN), SV_CSTR(""), SV_BLOB(((struct slice){nul_blob, sizeof(nul_blob)}))},
        {SV_INT(INT64_MAX), SV_NULL, SV_NULL},
        {SV_INT(0), SV_CSTR("h\xc3\xa9llo \xe2\x98\x83"), SV_BLOB(SLICE_NULL)},
        {SV_INT(-1), SV_CSTR(meta), SV_BLOB(((struct slice){all, sizeof(all)}))},
        {SV_INT(42), SV_CSTR(big), SV_NULL},
    };
    for (i = 0; i < ARRAY_LEN(rows); i++) {
        OK(store_exec1(s, "INSERT INTO rt (id, s, b) VALUES (?, ?, ?)", rows[i], 3, &changes,
                       &err));
        CHECK_INT_EQ(changes, 1);
    }
    OK(store_query1(s, a, "SELECT id, s, b FROM rt ORDER BY id", NULL, 0, (struct store_rows **)&r,
                    &err));
    CHECK_UINT_EQ(r->nrows, 5);
    CHECK_UINT_EQ(r->ncols, 3);
    CHECK_STR_EQ(r->names[0], "id");
    CHECK_STR_EQ(r->names[2], "b");
    CHECK_INT_EQ(store_cell(r, 0, 0)->i, INT64_MIN);
    check_val(store_cell(r, 0, 1), STORE_T_TEXT, "", 0);
    check_val(store_cell(r, 0, 2), STORE_T_BLOB, nul_blob, sizeof(nul_blob));
    CHECK_INT_EQ(store_cell(r, 1, 0)->i, -1);
    check_val(store_cell(r, 1, 1), STORE_T_TEXT, meta, strlen(meta));
    check_val(store_cell(r, 1, 2), STORE_T_BLOB, all, sizeof(all));
    CHECK_INT_EQ(store_cell(r, 2, 0)->i, 0);
    check_val(store_cell(r, 2, 1), STORE_T_TEXT, "h\xc3\xa9llo \xe2\x98\x83", 10);
    check_val(store_cell(r, 2, 2), STORE_T_BLOB, "", 0);
    check_val(store_cell(r, 3, 1), STORE_T_TEXT, big, 1 << 20);
    check_val(store_cell(r, 3, 2), STORE_T_NULL, NULL, 0);
    CHECK_INT_EQ(store_cell(r, 4, 0)->i, INT64_MAX);
    check_val(store_cell(r, 4, 1), STORE_T_NULL, NULL, 0);
    /* The metacharacters stayed data: the table is whole. */
    CHECK_INT_EQ(query_int(s, "SELECT COUNT(*) FROM rt WHERE s = ?", &SV_CSTR(meta), 1), 1);
    OK(store_exec1(s, "UPDATE rt SET s = ? WHERE id >= ?",
                   (struct store_val[]){SV_CSTR("x"), SV_INT(0)}, 2, &changes, &err));
    CHECK_INT_EQ(changes, 3);
    free(big);
    arena_free(a);
    store_close(s);
}

TEST(store_roundtrip_every_type)
{
    each_backend(t_roundtrip);
}

static void t_placeholders_in_literals(struct env *e)
{
    struct store *s = env_open(e, 0, 0);
    struct arena *a = arena_new(NULL);
    struct store_val args[] = {SV_CSTR("first"), SV_CSTR("second")};
    struct store_rows *r;
    struct err err = {0};

    OK(store_query1(s, a, "SELECT '?' AS a, ? AS b, 'it''s ?' AS c, /* ? */ ? AS d -- and ?\n",
                    args, 2, &r, &err));
    CHECK_UINT_EQ(r->ncols, 4);
    check_val(store_cell(r, 0, 0), STORE_T_TEXT, "?", 1);
    check_val(store_cell(r, 0, 1), STORE_T_TEXT, "first", 5);
    check_val(store_cell(r, 0, 2), STORE_T_TEXT, "it's ?", 6);
    check_val(store_cell(r, 0, 3), STORE_T_TEXT, "second", 6);
    CHECK_STR_EQ(r->names[3], "d");
    arena_free(a);
    store_close(s);
}

TEST(store_placeholders_in_literals_untouched)
{
    each_backend(t_placeholders_in_literals);
}

/* ---------------------------------------------------------------- errors */

static void t_errors(struct env *e)
{
    struct store *s = env_open(e, 0, 0);
    struct err err = {0};

    exec_sql(s, "CREATE TABLE par (id BIGINT PRIMARY KEY)");
    exec_sql(s, "CREATE TABLE uq (id BIGINT PRIMARY KEY, uniqcol TEXT UNIQUE, "
                "par_id BIGINT REFERENCES par (id))");
    exec_sql(s, "INSERT INTO uq (id, uniqcol) VALUES (1, 'a')");
    CHECK_INT_EQ(store_exec1(s, "INSERT INTO uq (id, uniqcol) VALUES (?, ?)",
                             (struct store_val[]){SV_INT(2), SV_CSTR("a")}, 2, NULL, &err),
                 ERR_CONFLICT);
    CHECK_CONTAINS(err.msg, "uniqcol");
    CHECK_INT_EQ(store_exec1(s, "INSERT INTO uq (id) VALUES (1)", NULL, 0, NULL, &err),
                 ERR_CONFLICT);
    /* Foreign keys are enforced (PRAGMA foreign_keys=ON on SQLite). */
    CHECK_INT_EQ(store_exec1(s, "INSERT INTO uq (id, par_id) VALUES (3, 99)", NULL, 0, NULL, &err),
                 ERR_CONFLICT);
    CHECK_INT_EQ(store_exec1(s, "SELEC 1", NULL, 0, NULL, &err), ERR_INVALID);
    CHECK_INT_EQ(store_exec1(s, "INSERT INTO nosuch VALUES (1)", NULL, 0, NULL, &err), ERR_INVALID);
    CHECK_INT_EQ(store_exec1(s, "INSERT INTO uq (id) VALUES (?)", NULL, 0, NULL, &err),
                 ERR_INVALID);
    /* The connections are still good after all that. */
    CHECK_INT_EQ(query_int(s, "SELECT COUNT(*) FROM uq", NULL, 0), 1);
    store_close(s);
}

TEST(store_errors_conflict_and_invalid)
{
    each_backend(t_errors);
}

/* ---------------------------------------------------------------- transactions */

static int64_t count_tx(struct store_tx *tx)
{
    struct arena *a = arena_new(NULL);
    struct store_rows *r;
    struct err err = {0};
    int64_t v;

    OK(store_query(tx, a, "SELECT COUNT(*) FROM txt", NULL, 0, &r, &err));
    v = store_cell(r, 0, 0)->i;
    arena_free(a);
    return v;
}

static void t_transactions(struct env *e)
{
    struct store *s = env_open(e, 0, 0), *s2 = env_open(e, 1, 200);
    struct arena *a = arena_new(NULL);
    struct store_rows *r;
    struct store_tx *tx;
    struct err err = {0};
    int rc;

    exec_sql(s, "CREATE TABLE txt (v BIGINT)");
    OK(store_begin(s, &tx, &err));
    OK(store_exec(tx, "INSERT INTO txt VALUES (?)", &SV_INT(1), 1, NULL, &err));
    CHECK_INT_EQ(count_tx(tx), 1); /* a transaction sees its own writes */
    store_rollback(tx);
    CHECK_INT_EQ(query_int(s, "SELECT COUNT(*) FROM txt", NULL, 0), 0);

    OK(store_begin(s, &tx, &err));
    OK(store_exec(tx, "INSERT INTO txt VALUES (?)", &SV_INT(2), 1, NULL, &err));
    OK(store_commit(tx, &err));
    CHECK_INT_EQ(query_int(s2, "SELECT COUNT(*) FROM txt", NULL, 0), 1);

    /* Uncommitted rows are invisible to another connection (on SQLite it cannot even start a
     * transaction while this one writes: BEGIN IMMEDIATE waits, then times out). */
    OK(store_begin(s, &tx, &err));
    OK(store_exec(tx, "INSERT INTO txt VALUES (?)", &SV_INT(3), 1, NULL, &err));
    rc = store_query1(s2, a, "SELECT COUNT(*) FROM txt", NULL, 0, &r, &err);
    if (e->kind == STORE_SQLITE) {
        CHECK_INT_EQ(rc, ERR_TIMEOUT);
    } else {
        OK(rc);
        CHECK_INT_EQ(store_cell(r, 0, 0)->i, 1);
    }
    OK(store_commit(tx, &err));
    CHECK_INT_EQ(query_int(s2, "SELECT COUNT(*) FROM txt", NULL, 0), 2);
    arena_free(a);
    store_close(s2);
    store_close(s);
}

TEST(store_transactions)
{
    each_backend(t_transactions);
}

/* store_begin_single: on PostgreSQL the statement commits by itself (a rollback afterwards
 * cannot undo it); on SQLite it is a transaction like store_begin()'s. */
static void t_single(struct env *e)
{
    struct store *s = env_open(e, 2, 2000);
    struct store_tx *tx;
    struct err err = {0};

    OK(store_exec1(s, "CREATE TABLE single (n BIGINT NOT NULL)", NULL, 0, NULL, &err));
    OK(store_begin_single(s, &tx, &err));
    OK(store_exec(tx, "INSERT INTO single VALUES (?)", &SV_INT(1), 1, NULL, &err));
    store_rollback(tx);
    CHECK_INT_EQ(query_int(s, "SELECT COUNT(*) FROM single", NULL, 0),
                 e->kind == STORE_POSTGRES ? 1 : 0);
    OK(store_begin_single(s, &tx, &err));
    OK(store_exec(tx, "INSERT INTO single VALUES (?)", &SV_INT(2), 1, NULL, &err));
    OK(store_commit(tx, &err));
    CHECK_INT_EQ(query_int(s, "SELECT COUNT(*) FROM single WHERE n = 2", NULL, 0), 1);
    /* a failed statement leaves nothing behind and the connection usable */
    OK(store_begin_single(s, &tx, &err));
    CHECK_INT_EQ(store_exec(tx, "INSERT INTO single VALUES (?)", &SV_NULL, 1, NULL, &err),
                 ERR_CONFLICT);
    store_rollback(tx);
    CHECK_INT_EQ(query_int(s, "SELECT COUNT(*) FROM single WHERE n = 2", NULL, 0), 1);
    store_close(s);
}

TEST(store_begin_single_commits_one_statement)
{
    each_backend(t_single);
}

/* store_warm opens the pool's connections up front, never more than max_conns. */
static void t_warm(struct env *e)
{
    struct store *s = env_open(e, 3, 2000);
    struct store_tx *tx[3];
    struct err err = {0};

    OK(store_warm(s, 10, &err));
    if (e->kind == STORE_POSTGRES)
        CHECK_INT_EQ(query_int(s,
                               "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = "
                               "current_database() AND application_name = 'slipway-test'",
                               NULL, 0),
                     3);
    /* all three are there at once */
    for (int i = 0; i < 3; i++)
        OK(store_begin_read(s, &tx[i], &err));
    for (int i = 0; i < 3; i++)
        store_rollback(tx[i]);
    OK(store_warm(s, 1, &err)); /* fewer than the pool holds: nothing to do */
    store_close(s);
}

TEST(store_warm_opens_the_pool)
{
    each_backend(t_warm);
}

static void t_pool_timeout(struct env *e)
{
    struct store *s = env_open(e, 1, 100);
    struct store_tx *t1, *t2 = (struct store_tx *)1;
    struct err err = {0};

    OK(store_begin(s, &t1, &err));
    CHECK_INT_EQ(store_begin(s, &t2, &err), ERR_TIMEOUT);
    CHECK(t2 == NULL);
    CHECK_CONTAINS(err.msg, "no free connection");
    store_rollback(t1);
    OK(store_begin(s, &t2, &err));
    store_rollback(t2);
    store_close(s);
}

TEST(store_pool_waits_then_times_out)
{
    each_backend(t_pool_timeout);
}

/* ---------------------------------------------------------------- concurrency */

#define WRITERS     8
#define WRITES_EACH 200

struct writer {
    struct store *s;
    int id;
    int rc;
    struct err err;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct store_tx *tx;
    int i;

    for (i = 0; i < WRITES_EACH && w->rc == 0; i++) {
        struct store_val v[] = {SV_INT(w->id * 100000 + i), SV_INT(w->id)};
        if (i % 2 == 0) {
            w->rc = store_exec1(w->s, "INSERT INTO cw (id, th) VALUES (?, ?)", v, 2, NULL, &w->err);
            continue;
        }
        w->rc = store_begin(w->s, &tx, &w->err);
        if (w->rc == 0 && (w->rc = store_exec(tx, "INSERT INTO cw (id, th) VALUES (?, ?)", v, 2,
                                              NULL, &w->err)) != 0)
            store_rollback(tx);
        else if (w->rc == 0)
            w->rc = store_commit(tx, &w->err);
    }
    return NULL;
}

static void t_concurrent_writers(struct env *e)
{
    struct store *s = env_open(e, 4, 60000);
    struct writer w[WRITERS];
    pthread_t th[WRITERS];
    int i;

    exec_sql(s, "CREATE TABLE cw (id BIGINT PRIMARY KEY, th BIGINT NOT NULL)");
    for (i = 0; i < WRITERS; i++) {
        w[i] = (struct writer){.s = s, .id = i};
        CHECK(pthread_create(&th[i], NULL, writer_main, &w[i]) == 0);
    }
    for (i = 0; i < WRITERS; i++)
        pthread_join(th[i], NULL);
    for (i = 0; i < WRITERS; i++)
        if (w[i].rc != 0)
            test_fail(__FILE__, __LINE__, "writer %d: %d (%s)", i, w[i].rc, w[i].err.msg);
    CHECK_INT_EQ(query_int(s, "SELECT COUNT(*) FROM cw", NULL, 0), WRITERS * WRITES_EACH);
    for (i = 0; i < WRITERS; i++)
        CHECK_INT_EQ(query_int(s, "SELECT COUNT(*) FROM cw WHERE th = ?", &SV_INT(i), 1),
                     WRITES_EACH);
    store_close(s);
}

TEST(store_concurrent_writers)
{
    each_backend(t_concurrent_writers);
}

/* ---------------------------------------------------------------- migrations */

static const struct store_migration migs[] = {
    {1, "create_items", "CREATE TABLE items (id BIGINT PRIMARY KEY, data TEXT)", NULL, NULL},
    {2, "seed", "INSERT INTO items VALUES (1, 'one'); INSERT INTO items VALUES (2, 'two')", NULL,
     NULL},
    {3, "blobs", "THIS IS NOT SQL", "CREATE TABLE blobs (b BLOB)", "CREATE TABLE blobs (b BYTEA)"},
    {4, "extra", "ALTER TABLE items ADD COLUMN extra TEXT", NULL, NULL},
    {5, "broken", "CREATE TABLE half (a BIGINT); INSERT INTO nosuch VALUES (1)", NULL, NULL},
};

static int version_of(struct store *s)
{
    struct err err = {0};
    int v = -1;

    OK(store_version(s, &v, &err));
    return v;
}

static void t_migrations(struct env *e)
{
    struct store *s = env_open(e, 0, 0);
    struct store_migration renamed[4] = {migs[0], migs[1], migs[2], migs[3]};
    struct store_migration gap[2] = {migs[0], migs[2]};
    struct err err = {0};

    CHECK_INT_EQ(version_of(s), 0);
    OK(store_migrate(s, migs, 3, &err));
    CHECK_INT_EQ(version_of(s), 3);
    CHECK_INT_EQ(query_int(s, "SELECT COUNT(*) FROM items", NULL, 0), 2);
    OK(store_exec1(s, "INSERT INTO blobs VALUES (?)", &SV_BLOB(SLICE("\0")), 1, NULL, &err));
    OK(store_migrate(s, migs, 3, &err)); /* a no-op */
    CHECK_INT_EQ(query_int(s, "SELECT COUNT(*) FROM items", NULL, 0), 2);
    OK(store_migrate(s, migs, 4, &err)); /* one more, later */
    CHECK_INT_EQ(version_of(s), 4);
    exec_sql(s, "UPDATE items SET extra = 'x'");
    CHECK_INT_EQ(query_int(s,
                           "SELECT COUNT(*) FROM schema_migrations WHERE name = ? AND "
                           "applied_at <> ''",
                           &SV_CSTR("extra"), 1),
                 1);

    CHECK_INT_EQ(store_migrate(s, migs, 2, &err), ERR_CONFLICT); /* older code */
    CHECK_CONTAINS(err.msg, "version 4");
    renamed[1].name = "seed_renamed";
    CHECK_INT_EQ(store_migrate(s, renamed, 4, &err), ERR_CONFLICT);
    CHECK_CONTAINS(err.msg, "version 2");
    CHECK_CONTAINS(err.msg, "seed_renamed");
    gap[1].version = 3;
    CHECK_INT_EQ(store_migrate(s, gap, 2, &err), ERR_INVALID);

    CHECK_INT_EQ(store_migrate(s, migs, 5, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "migration 5 (broken)");
    CHECK_INT_EQ(version_of(s), 4);
    /* Nothing of the failed migration stayed. */
    CHECK_INT_EQ(store_exec1(s, "INSERT INTO half VALUES (1)", NULL, 0, NULL, &err), ERR_INVALID);
    CHECK_INT_EQ(version_of(s), 4);
    store_close(s);
}

TEST(store_migrations)
{
    each_backend(t_migrations);
}

struct migrator {
    struct store *s;
    pthread_barrier_t *start;
    int rc;
    struct err err;
};

static const struct store_migration race_migs[] = {
    {1, "create_log", "CREATE TABLE racelog (x BIGINT)", NULL, NULL},
    {2, "one", "INSERT INTO racelog VALUES (1)", NULL, NULL},
    {3, "two", "INSERT INTO racelog VALUES (2)", NULL, NULL},
};

static void *migrator_main(void *arg)
{
    struct migrator *m = arg;

    pthread_barrier_wait(m->start);
    m->rc = store_migrate(m->s, race_migs, ARRAY_LEN(race_migs), &m->err);
    return NULL;
}

static void t_migrate_race(struct env *e)
{
    struct migrator m[2];
    pthread_barrier_t start;
    pthread_t th[2];
    int i;

    /* Two stores: two pools, as two processes starting at once would have. */
    pthread_barrier_init(&start, NULL, 2);
    for (i = 0; i < 2; i++) {
        m[i] = (struct migrator){.s = env_open(e, 2, 30000), .start = &start};
        CHECK(pthread_create(&th[i], NULL, migrator_main, &m[i]) == 0);
    }
    for (i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    for (i = 0; i < 2; i++)
        if (m[i].rc != 0)
            test_fail(__FILE__, __LINE__, "migrator %d: %d (%s)", i, m[i].rc, m[i].err.msg);
    CHECK_INT_EQ(version_of(m[0].s), 3);
    CHECK_INT_EQ(query_int(m[1].s, "SELECT COUNT(*) FROM racelog", NULL, 0), 2);
    for (i = 0; i < 2; i++)
        store_close(m[i].s);
    pthread_barrier_destroy(&start);
}

TEST(store_migrate_race_applies_once)
{
    int round;

    for (round = 0; round < 10; round++)
        each_backend(t_migrate_race);
}

/* ---------------------------------------------------------------- pure functions */

TEST(store_sql_dollar_cases)
{
    static const char *const cases[][2] = {
        {"SELECT ?", "SELECT $1"},
        {"? ? ?", "$1 $2 $3"},
        {"", ""},
        {"SELECT 1", "SELECT 1"},
        {"SELECT '?', ?", "SELECT '?', $1"},
        {"SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1"},
        {"SELECT \"a?\"\"?\" FROM t WHERE x = ?", "SELECT \"a?\"\"?\" FROM t WHERE x = $1"},
        {"SELECT ? -- what?\n, ?", "SELECT $1 -- what?\n, $2"},
        {"SELECT ? -- what?", "SELECT $1 -- what?"},
        {"SELECT /* ? /* ? */ ? */ ?", "SELECT /* ? /* ? */ ? */ $1"},
        {"SELECT E'\\'?', ?", "SELECT E'\\'?', $1"},
        {"SELECT '\\', ?", "SELECT '\\', $1"},
        {"SELECT $$ ? $$, ?", "SELECT $$ ? $$, $1"},
        {"SELECT $tag$ ?'$ $tag$, ?", "SELECT $tag$ ?'$ $tag$, $1"},
        {"SELECT 'unterminated ?", "SELECT 'unterminated ?"},
        {"SELECT /* open ?", "SELECT /* open ?"},
        {"a-?/?", "a-$1/$2"},
        {"?,?,?,?,?,?,?,?,?,?,?", "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11"},
    };
    struct sbuf out = SBUF_INIT(1024), tiny = SBUF_INIT(4);
    size_t i;

    for (i = 0; i < ARRAY_LEN(cases); i++) {
        sbuf_reset(&out);
        store_sql_dollar(cases[i][0], &out);
        CHECK_INT_EQ(out.err, 0);
        CHECK_STR_EQ(out.buf, cases[i][1]);
    }
    store_sql_dollar("SELECT ?", &tiny);
    CHECK_INT_EQ(tiny.err, ERR_LIMIT);
    sbuf_release(&out);
    sbuf_release(&tiny);
}

TEST(store_url_redact_cases)
{
    static const char *const cases[][2] = {
        {"postgres://gw:s3cret@127.0.0.1:5432/gateway", "postgres://gw:***@127.0.0.1:5432/gateway"},
        {"postgresql://gw:s3cret@h/db?sslmode=require", "postgresql://gw:***@h/db?sslmode=require"},
        {"postgres://u:p@ss@host/db", "postgres://u:***@host/db"},
        {"postgres://u:p%40ss@host/db", "postgres://u:***@host/db"},
        {"postgres://u:@host/db", "postgres://u:***@host/db"},
        {"postgres://gw@host/db", "postgres://gw@host/db"},
        {"postgres://host/db", "postgres://host/db"},
        {"postgres://host/db?password=s3cret&sslmode=require",
         "postgres://host/db?password=***&sslmode=require"},
        {"postgres://h/db?sslmode=require&PASSWORD=s3cret",
         "postgres://h/db?sslmode=require&PASSWORD=***"},
        {"postgres://host/db?user=x&mypassword=keep", "postgres://host/db?user=x&mypassword=keep"},
        {"host=h password=s3cret dbname=d", "host=h password=*** dbname=d"},
        {"sqlite:/var/lib/slipway/gateway.db", "sqlite:/var/lib/slipway/gateway.db"},
        {"", ""},
    };
    struct sbuf out = SBUF_INIT(1024);
    size_t i;

    for (i = 0; i < ARRAY_LEN(cases); i++) {
        sbuf_reset(&out);
        store_url_redact(cases[i][0], &out);
        CHECK_STR_EQ(out.buf, cases[i][1]);
        CHECK(strstr(out.buf, "s3cret") == NULL);
    }
    sbuf_reset(&out);
    store_url_redact(NULL, &out);
    CHECK_STR_EQ(out.buf, "");
    sbuf_release(&out);
}

TEST(store_val_copy_terminates)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 64});
    struct store_val out;

    CHECK_INT_EQ(store_val_copy(a, &SV_BLOB(SLICE("a\0b")), &out), 0);
    CHECK_INT_EQ(out.type, STORE_T_BLOB);
    CHECK_MEM_EQ(out.s.ptr, out.s.len, "a\0b", 3);
    CHECK(out.s.ptr[3] == '\0');
    CHECK_INT_EQ(store_val_copy(a, &SV_INT(-5), &out), 0);
    CHECK_INT_EQ(out.i, -5);
    CHECK_INT_EQ(store_val_copy(a, &SV_TEXT(((struct slice){"x", 100})), &out), ERR_LIMIT);
    arena_free(a);
}

/* ---------------------------------------------------------------- limits, cache */

static void t_arena_budget(struct env *e)
{
    struct store *s = env_open(e, 1, 0);
    struct arena *small = arena_new(&(struct arena_opts){.budget = 64 << 10});
    struct arena *big = arena_new(&(struct arena_opts){.budget = 4 << 20});
    char *text = big_text(256 << 10);
    struct store_rows *r;
    struct err err = {0};
    int i;

    exec_sql(s, "CREATE TABLE ab (id BIGINT, t TEXT)");
    OK(store_exec1(s, "INSERT INTO ab VALUES (0, ?)", &SV_CSTR(text), 1, NULL, &err));
    CHECK_INT_EQ(store_query1(s, small, "SELECT t FROM ab", NULL, 0, &r, &err), ERR_LIMIT);
    CHECK(r == NULL);
    arena_reset(small);
    exec_sql(s, "DELETE FROM ab");
    for (i = 0; i < 3000; i++)
        OK(store_exec1(s, "INSERT INTO ab VALUES (?, 'row')", &SV_INT(i), 1, NULL, &err));
    CHECK_INT_EQ(store_query1(s, small, "SELECT id, t FROM ab", NULL, 0, &r, &err), ERR_LIMIT);
    /* The same statement, on the same connection, works with room to spare. */
    OK(store_query1(s, big, "SELECT id, t FROM ab", NULL, 0, &r, &err));
    CHECK_UINT_EQ(r->nrows, 3000);
    free(text);
    arena_free(small);
    arena_free(big);
    store_close(s);
}

TEST(store_arena_budget_limit)
{
    each_backend(t_arena_budget);
}

static void t_stmt_cache(struct env *e)
{
    struct store *s = env_open(e, 1, 0);
    char sql[64];
    int pass, k;

    for (pass = 0; pass < 2; pass++) {
        for (k = 0; k < 200; k++) {
            snprintf(sql, sizeof(sql), "SELECT CAST(? AS BIGINT) + %d AS v", k);
            CHECK_INT_EQ(query_int(s, sql, &SV_INT(pass * 1000), 1), pass * 1000 + k);
            CHECK_INT_EQ(query_int(s, "SELECT CAST(? AS BIGINT) * 2", &SV_INT(k), 1), 2 * k);
        }
    }
    store_close(s);
}

TEST(store_statement_cache_eviction)
{
    each_backend(t_stmt_cache);
}

TEST(store_sqlite_pragmas)
{
    struct env e;
    struct arena *a = arena_new(NULL);
    struct store_rows *r;
    struct err err = {0};
    struct store *s;

    env_init(&e, STORE_SQLITE);
    s = env_open(&e, 1, 0);
    OK(store_query1(s, a, "PRAGMA journal_mode", NULL, 0, &r, &err));
    check_val(store_cell(r, 0, 0), STORE_T_TEXT, "wal", 3);
    CHECK_INT_EQ(query_int(s, "PRAGMA synchronous", NULL, 0), 2); /* FULL */
    CHECK_INT_EQ(query_int(s, "PRAGMA foreign_keys", NULL, 0), 1);
    CHECK_INT_EQ(store_exec1(s, "SELECT 1; SELECT 2", NULL, 0, NULL, &err), ERR_INVALID);
    arena_free(a);
    store_close(s);
}

/* ---------------------------------------------------------------- kill -9 */

/* Child: inserts rows one transaction each and acknowledges each id after its commit. */
static void APP_NORETURN durable_child(const char *url, int fd, int64_t first)
{
    struct store_opts o = {.url = url, .service = "child"};
    struct err err = {0};
    struct store *s;
    int64_t id;

    if (store_open(&o, &s, &err) != 0)
        _exit(2);
    for (id = first; id < first + 1000000; id++) {
        struct store_val v[] = {SV_INT(id), SV_CSTR("payload-payload-payload-payload")};
        if (store_exec1(s, "INSERT INTO dur (id, p) VALUES (?, ?)", v, 2, NULL, &err) != 0)
            _exit(3);
        if (write(fd, &id, sizeof(id)) != (ssize_t)sizeof(id))
            _exit(4);
    }
    _exit(0);
}

static bool read_ack(int fd, int64_t *id)
{
    size_t got = 0;
    ssize_t n;

    while (got < sizeof(*id)) {
        n = read(fd, (char *)id + got, sizeof(*id) - got);
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    return true;
}

/* Runs one child, kills it after <acks> acknowledgements (and a moment), and returns the
 * acknowledged ids in <ids>. */
static size_t durable_round(const struct env *e, int64_t first, int acks, int64_t *ids, size_t max)
{
    size_t n = 0;
    int p[2], status;
    pid_t pid;

    CHECK(pipe(p) == 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        durable_child(e->url, p[1], first);
    }
    close(p[1]);
    while ((int)n < acks && n < max && read_ack(p[0], &ids[n]))
        n++;
    if (rand() % 2)
        usleep((useconds_t)(rand() % 3000));
    kill(pid, SIGKILL);
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    while (n < max && read_ack(p[0], &ids[n])) /* acks written before the kill count too */
        n++;
    close(p[0]);
    return n;
}

static void t_kill9(struct env *e)
{
    unsigned seed = (unsigned)(time_wall_ms() ^ (uint64_t)getpid());
    struct store *s = env_open(e, 1, 0);
    int64_t ids[4096];
    struct arena *a;
    struct store_rows *r;
    struct err err = {0};
    size_t n, i;
    int round;

    exec_sql(s, "CREATE TABLE dur (id BIGINT PRIMARY KEY, p TEXT NOT NULL)");
    store_close(s); /* no connection crosses the fork */
    srand(seed);
    for (round = 0; round < 20; round++) {
        n = durable_round(e, (int64_t)round * 10000000, 1 + rand() % 60, ids, ARRAY_LEN(ids));
        s = env_open(e, 1, 0);
        for (i = 0; i < n; i++)
            if (query_int(s, "SELECT COUNT(*) FROM dur WHERE id = ? AND p <> ''", &SV_INT(ids[i]),
                          1) != 1)
                test_fail(__FILE__, __LINE__,
                          "seed %u round %d: acknowledged id %" PRId64 " is missing", seed, round,
                          ids[i]);
        if (e->kind == STORE_SQLITE) {
            a = arena_new(NULL);
            OK(store_query1(s, a, "PRAGMA integrity_check", NULL, 0, &r, &err));
            check_val(store_cell(r, 0, 0), STORE_T_TEXT, "ok", 2);
            arena_free(a);
        }
        store_close(s);
    }
}

TEST(store_kill9_keeps_acknowledged_commits)
{
    each_backend(t_kill9);
}
