/* The PostgreSQL backend, through store.h against the server scripts/test starts
 * (SLIPWAY_TEST_PG_URL, a superuser's URL): connection errors, SQLSTATE mapping, value
 * types, bytea, the statement cache and per-service provisioning. Without the server every
 * test fails: scripts/test always starts one, so a missing URL is a broken harness. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "store/store-int.h"
#include "../test.h"

struct url_parts {
    char host[64], port[16], user[64], password[128];
};

static const char *pg_url(void)
{
    const char *url = getenv("SLIPWAY_TEST_PG_URL");

    if (url == NULL || url[0] == '\0')
        test_fail(__FILE__, __LINE__,
                  "SLIPWAY_TEST_PG_URL is not set: the harness did not start PostgreSQL "
                  "(scripts/test runs scripts/pg-test-server; is PostgreSQL installed?)");
    return url;
}

static void copy_opt(char *dst, size_t n, const char *val)
{
    snprintf(dst, n, "%s", val ? val : "");
}

/* The host, port, user and password of the harness's URL. */
static void pg_parts(struct url_parts *p)
{
    PQconninfoOption *opts = PQconninfoParse(pg_url(), NULL);

    CHECK(opts != NULL);
    memset(p, 0, sizeof(*p));
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (strcmp(o->keyword, "host") == 0)
            copy_opt(p->host, sizeof(p->host), o->val);
        else if (strcmp(o->keyword, "port") == 0)
            copy_opt(p->port, sizeof(p->port), o->val);
        else if (strcmp(o->keyword, "user") == 0)
            copy_opt(p->user, sizeof(p->user), o->val);
        else if (strcmp(o->keyword, "password") == 0)
            copy_opt(p->password, sizeof(p->password), o->val);
    }
    PQconninfoFree(opts);
}

static struct store *pg_open_url(const char *url)
{
    struct store_opts opts = {.url = url, .service = "test", .max_conns = 2};
    struct store *s = NULL;
    struct err err = {0};
    int rc = store_open(&opts, &s, &err);

    if (rc != 0)
        test_fail(__FILE__, __LINE__, "store_open: %d %s", rc, err.msg);
    CHECK_INT_EQ(store_kind(s), STORE_POSTGRES);
    return s;
}

/* Opens <url> and runs one statement: store_open may connect at once or on first use, so a
 * connection error shows in one or the other. */
static int open_and_ping(const char *url, struct err *err)
{
    struct store_opts opts = {.url = url, .service = "test", .max_conns = 1};
    struct store *s = NULL;
    int rc = store_open(&opts, &s, err);

    if (rc == 0)
        rc = store_exec1(s, "SELECT 1", NULL, 0, NULL, err);
    store_close(s);
    return rc;
}

static void exec_ok(struct store *s, const char *sql)
{
    struct err err = {0};
    int rc = store_exec1(s, sql, NULL, 0, NULL, &err);

    if (rc != 0)
        test_fail(__FILE__, __LINE__, "%s: %d %s", sql, rc, err.msg);
}

/* Runs <sql> outside any transaction on a connection of the backend itself (DROP DATABASE
 * cannot run in a transaction block, which store_exec1 opens). */
static void admin_script(const char *sql)
{
    struct store_opts opts = {.url = pg_url(), .service = "test"};
    struct store_conn *c = NULL;
    struct err err = {0};
    int rc = store_pg_backend.connect(&opts, &c, &err);

    if (rc == 0)
        rc = store_pg_backend.exec_script(c, sql, &err);
    store_pg_backend.disconnect(c);
    if (rc != 0)
        test_fail(__FILE__, __LINE__, "%s: %d %s", sql, rc, err.msg);
}

/* A TCP port on 127.0.0.1 nobody listens on (bound, then closed). */
static unsigned closed_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    CHECK(fd >= 0);
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void random_hex(char *out, size_t n)
{
    unsigned char b[16];
    FILE *f = fopen("/dev/urandom", "rb");

    CHECK(f != NULL);
    CHECK(fread(b, 1, sizeof(b), f) == sizeof(b));
    fclose(f);
    for (size_t i = 0; i < sizeof(b) && 2 * i + 2 < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

TEST(pg_harness_started_a_server)
{
    struct store *s = pg_open_url(pg_url());
    struct arena *a = arena_new(NULL);
    struct store_rows *r = NULL;
    struct err err = {0};

    CHECK_INT_EQ(store_query1(s, a, "SHOW synchronous_commit", NULL, 0, &r, &err), 0);
    CHECK_INT_EQ(r->nrows, 1);
    CHECK_STR_EQ(store_cell(r, 0, 0)->s.ptr, "on");
    CHECK_INT_EQ(store_query1(s, a, "SHOW lock_timeout", NULL, 0, &r, &err), 0);
    CHECK_STR_EQ(store_cell(r, 0, 0)->s.ptr, "5s"); /* busy_timeout_ms 0 = 5 s */
    CHECK_INT_EQ(store_query1(s, a, "SHOW statement_timeout", NULL, 0, &r, &err), 0);
    CHECK_STR_EQ(store_cell(r, 0, 0)->s.ptr, "0"); /* statement_timeout_ms 0 = none */
    arena_free(a);
    store_close(s);
}

TEST(pg_statement_timeout_is_its_own_setting)
{
    struct store_opts o = {.url = pg_url(), .service = "test", .statement_timeout_ms = 2000};
    struct arena *a = arena_new(NULL);
    struct store_rows *r = NULL;
    struct store *s = NULL;
    struct err err = {0};

    CHECK_INT_EQ(store_open(&o, &s, &err), 0);
    CHECK_INT_EQ(store_query1(s, a, "SHOW statement_timeout", NULL, 0, &r, &err), 0);
    CHECK_STR_EQ(store_cell(r, 0, 0)->s.ptr, "2s");
    CHECK_INT_EQ(store_query1(s, a, "SELECT pg_sleep(3)", NULL, 0, &r, &err), ERR_TIMEOUT);
    arena_free(a);
    store_close(s);
}

TEST(pg_closed_port_is_unavailable_quickly)
{
    char url[128];
    struct err err = {0};
    uint64_t t0 = time_mono_ms();

    (void)pg_url(); /* runs only where the harness runs */
    snprintf(url, sizeof(url), "postgres://slipway:Secret-Closed-1@127.0.0.1:%u/postgres",
             closed_port());
    CHECK_INT_EQ(open_and_ping(url, &err), ERR_UNAVAILABLE);
    CHECK(time_mono_ms() - t0 < 3000);
    CHECK(strstr(err.msg, "Secret-Closed-1") == NULL);
}

TEST(pg_wrong_password_is_unavailable_and_not_shown)
{
    struct url_parts p;
    char url[256];
    struct err err = {0};

    pg_parts(&p);
    snprintf(url, sizeof(url), "postgres://%s:Wrong-Secret-42@%s:%s/postgres", p.user, p.host,
             p.port);
    CHECK_INT_EQ(open_and_ping(url, &err), ERR_UNAVAILABLE);
    CHECK_CONTAINS(err.msg, "password authentication failed");
    CHECK(strstr(err.msg, "Wrong-Secret-42") == NULL);
    /* the same through ?password=, which libpq also accepts */
    snprintf(url, sizeof(url), "postgres://%s@%s:%s/postgres?password=Wrong-Secret-43", p.user,
             p.host, p.port);
    CHECK_INT_EQ(open_and_ping(url, &err), ERR_UNAVAILABLE);
    CHECK(strstr(err.msg, "Wrong-Secret-43") == NULL);
}

TEST(pg_bad_url_is_invalid_and_not_shown)
{
    struct err err = {0};
    int rc;

    (void)pg_url();
    rc = open_and_ping("postgres://u:Secret-Bad-7@127.0.0.1:1/db?no_such_option=1", &err);
    CHECK_INT_EQ(rc, ERR_INVALID);
    CHECK(strstr(err.msg, "Secret-Bad-7") == NULL);
}

TEST(pg_unique_and_foreign_key_violations_are_conflicts_naming_the_constraint)
{
    struct store *s = pg_open_url(pg_url());
    struct store_val args[] = {SV_INT(2), SV_CSTR("alice")};
    struct err err = {0};

    exec_ok(s, "DROP TABLE IF EXISTS t_child, t_unique");
    exec_ok(s, "CREATE TABLE t_unique (id BIGINT PRIMARY KEY, "
               "name TEXT CONSTRAINT t_unique_name_key UNIQUE)");
    exec_ok(s, "CREATE TABLE t_child (id BIGINT CONSTRAINT t_child_parent_fk "
               "REFERENCES t_unique(id))");
    exec_ok(s, "INSERT INTO t_unique VALUES (1, 'alice')");
    CHECK_INT_EQ(store_exec1(s, "INSERT INTO t_unique VALUES (?, ?)", args, 2, NULL, &err),
                 ERR_CONFLICT);
    CHECK_CONTAINS(err.msg, "t_unique_name_key");
    CHECK_CONTAINS(err.msg, "23505");
    CHECK_INT_EQ(store_exec1(s, "INSERT INTO t_child VALUES (?)", args, 1, NULL, &err),
                 ERR_CONFLICT);
    CHECK_CONTAINS(err.msg, "t_child_parent_fk");
    exec_ok(s, "DROP TABLE t_child, t_unique");
    store_close(s);
}

TEST(pg_rejected_sql_is_invalid)
{
    struct store *s = pg_open_url(pg_url());
    struct store_val arg = SV_CSTR("not a number");
    struct err err = {0};

    CHECK_INT_EQ(store_exec1(s, "SELEC 1", NULL, 0, NULL, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "42601");
    CHECK_INT_EQ(store_exec1(s, "SELECT * FROM t_no_such_table", NULL, 0, NULL, &err), ERR_INVALID);
    CHECK_INT_EQ(store_exec1(s, "SELECT 1 + ?", &arg, 1, NULL, &err), ERR_INVALID);
    /* more arguments than placeholders */
    CHECK_INT_EQ(store_exec1(s, "SELECT 1", &arg, 1, NULL, &err), ERR_INVALID);
    exec_ok(s, "SELECT 1"); /* the pool's connections survived */
    store_close(s);
}

TEST(pg_lock_not_granted_is_timeout)
{
    struct store *s = pg_open_url(pg_url());
    struct store_tx *t1 = NULL, *t2 = NULL;
    struct err err = {0};

    exec_ok(s, "DROP TABLE IF EXISTS t_lock");
    exec_ok(s, "CREATE TABLE t_lock (id BIGINT PRIMARY KEY)");
    exec_ok(s, "INSERT INTO t_lock VALUES (1)");
    CHECK_INT_EQ(store_begin(s, &t1, &err), 0);
    CHECK_INT_EQ(store_begin(s, &t2, &err), 0);
    CHECK_INT_EQ(store_exec(t1, "SELECT id FROM t_lock FOR UPDATE", NULL, 0, NULL, &err), 0);
    CHECK_INT_EQ(store_exec(t2, "SELECT id FROM t_lock FOR UPDATE NOWAIT", NULL, 0, NULL, &err),
                 ERR_TIMEOUT);
    CHECK_CONTAINS(err.msg, "55P03");
    store_rollback(t2);
    store_rollback(t1);
    exec_ok(s, "DROP TABLE t_lock");
    store_close(s);
}

TEST(pg_column_types_map_to_store_types)
{
    struct store *s = pg_open_url(pg_url());
    struct arena *a = arena_new(NULL);
    struct store_rows *r = NULL;
    struct err err = {0};

    CHECK_INT_EQ(store_query1(s, a,
                              "SELECT 1::int2 AS a, 2::int4, 9223372036854775807::int8, "
                              "(-9223372036854775807 - 1)::int8, true, false, NULL::int8, "
                              "'h\xc3\xa9llo'::text, 1.5::numeric",
                              NULL, 0, &r, &err),
                 0);
    CHECK_INT_EQ(r->nrows, 1);
    CHECK_INT_EQ(r->ncols, 9);
    CHECK_STR_EQ(r->names[0], "a");
    CHECK_INT_EQ(store_cell(r, 0, 0)->type, STORE_T_INT);
    CHECK_INT_EQ(store_cell(r, 0, 0)->i, 1);
    CHECK_INT_EQ(store_cell(r, 0, 1)->i, 2);
    CHECK(store_cell(r, 0, 2)->i == INT64_MAX);
    CHECK(store_cell(r, 0, 3)->i == INT64_MIN);
    CHECK_INT_EQ(store_cell(r, 0, 4)->type, STORE_T_INT);
    CHECK_INT_EQ(store_cell(r, 0, 4)->i, 1);
    CHECK_INT_EQ(store_cell(r, 0, 5)->i, 0);
    CHECK_INT_EQ(store_cell(r, 0, 6)->type, STORE_T_NULL);
    CHECK_INT_EQ(store_cell(r, 0, 7)->type, STORE_T_TEXT);
    CHECK_STR_EQ(store_cell(r, 0, 7)->s.ptr, "h\xc3\xa9llo");
    CHECK_INT_EQ(store_cell(r, 0, 8)->type, STORE_T_TEXT);
    CHECK_STR_EQ(store_cell(r, 0, 8)->s.ptr, "1.5");
    arena_free(a);
    store_close(s);
}

TEST(pg_result_over_the_arena_budget_is_limit)
{
    struct store *s = pg_open_url(pg_url());
    struct arena *a = arena_new(&(struct arena_opts){.budget = 16 << 10});
    struct store_rows *r = NULL;
    struct err err = {0};
    int rc = store_query1(s, a, "SELECT repeat('x', 100) FROM generate_series(1, 1000)", NULL, 0,
                          &r, &err);

    CHECK_INT_EQ(rc, ERR_LIMIT);
    arena_free(a);
    exec_ok(s, "SELECT 1");
    store_close(s);
}

TEST(pg_bytea_with_nul_bytes_round_trips)
{
    struct store *s = pg_open_url(pg_url());
    struct arena *a = arena_new(NULL);
    struct store_rows *r = NULL;
    struct err err = {0};
    char bytes[256];
    struct store_val args[3];

    for (size_t i = 0; i < sizeof(bytes); i++)
        bytes[i] = (char)(255 - i); /* every byte value, NUL in the last place */
    args[0] = SV_BLOB(((struct slice){bytes, sizeof(bytes)}));
    args[1] = SV_BLOB(((struct slice){"", 0}));
    args[2] = SV_NULL;
    exec_ok(s, "DROP TABLE IF EXISTS t_blob");
    exec_ok(s, "CREATE TABLE t_blob (a BYTEA, b BYTEA, c BYTEA)");
    CHECK_INT_EQ(store_exec1(s, "INSERT INTO t_blob VALUES (?, ?, ?)", args, 3, NULL, &err), 0);
    CHECK_INT_EQ(store_query1(s, a, "SELECT a, b, c FROM t_blob", NULL, 0, &r, &err), 0);
    CHECK_INT_EQ(r->nrows, 1);
    CHECK_INT_EQ(store_cell(r, 0, 0)->type, STORE_T_BLOB);
    CHECK_MEM_EQ(store_cell(r, 0, 0)->s.ptr, store_cell(r, 0, 0)->s.len, bytes, sizeof(bytes));
    CHECK_INT_EQ(store_cell(r, 0, 1)->type, STORE_T_BLOB);
    CHECK_INT_EQ(store_cell(r, 0, 1)->s.len, 0);
    CHECK_INT_EQ(store_cell(r, 0, 2)->type, STORE_T_NULL);
    /* a blob where the server cannot infer a type is taken as bytea */
    CHECK_INT_EQ(store_query1(s, a, "SELECT ?", args, 1, &r, &err), 0);
    CHECK_INT_EQ(store_cell(r, 0, 0)->type, STORE_T_BLOB);
    CHECK_MEM_EQ(store_cell(r, 0, 0)->s.ptr, store_cell(r, 0, 0)->s.len, bytes, sizeof(bytes));
    exec_ok(s, "DROP TABLE t_blob");
    arena_free(a);
    store_close(s);
}

/* How many statements the transaction's connection has prepared, optionally only <sql>. */
static int64_t prepared_count(struct store_tx *tx, const char *sql)
{
    struct arena *a = arena_new(NULL);
    struct store_rows *r = NULL;
    struct store_val arg = SV_CSTR(sql ? sql : "");
    struct err err = {0};
    int64_t n;
    int rc = store_query(tx, a,
                         "SELECT count(*) FROM pg_prepared_statements "
                         "WHERE ? = '' OR statement = ?",
                         (struct store_val[]){arg, arg}, 2, &r, &err);

    if (rc != 0)
        test_fail(__FILE__, __LINE__, "pg_prepared_statements: %d %s", rc, err.msg);
    n = store_cell(r, 0, 0)->i;
    arena_free(a);
    return n;
}

TEST(pg_statement_cache_reuses_one_statement)
{
    struct store *s = pg_open_url(pg_url());
    struct store_tx *tx = NULL;
    struct err err = {0};
    int64_t changes = 0;

    exec_ok(s, "DROP TABLE IF EXISTS t_cache");
    exec_ok(s, "CREATE TABLE t_cache (n BIGINT)");
    CHECK_INT_EQ(store_begin(s, &tx, &err), 0);
    for (int i = 0; i < 200; i++) {
        struct store_val arg = SV_INT(i);

        CHECK_INT_EQ(store_exec(tx, "INSERT INTO t_cache(n) VALUES (?)", &arg, 1, &changes, &err),
                     0);
        CHECK_INT_EQ(changes, 1);
    }
    CHECK_INT_EQ(prepared_count(tx, "INSERT INTO t_cache(n) VALUES ($1)"), 1);
    CHECK_INT_EQ(store_exec(tx, "UPDATE t_cache SET n = n + 1", NULL, 0, &changes, &err), 0);
    CHECK_INT_EQ(changes, 200);
    CHECK_INT_EQ(store_exec(tx, "SELECT n FROM t_cache", NULL, 0, &changes, &err), 0);
    CHECK_INT_EQ(changes, 0); /* a SELECT changes nothing */
    CHECK_INT_EQ(store_commit(tx, &err), 0);
    exec_ok(s, "DROP TABLE t_cache");
    store_close(s);
}

TEST(pg_statement_cache_is_bounded)
{
    struct store *s = pg_open_url(pg_url());
    struct store_tx *tx = NULL;
    struct err err = {0};
    char sql[64];

    CHECK_INT_EQ(store_begin(s, &tx, &err), 0);
    for (int round = 0; round < 2; round++) { /* the second round re-prepares evicted ones */
        for (int i = 0; i < 150; i++) {
            snprintf(sql, sizeof(sql), "SELECT %d AS n", i);
            CHECK_INT_EQ(store_exec(tx, sql, NULL, 0, NULL, &err), 0);
        }
    }
    CHECK(prepared_count(tx, NULL) <= 64);
    CHECK(prepared_count(tx, NULL) >= 32);
    CHECK_INT_EQ(store_commit(tx, &err), 0);
    store_close(s);
}

/* Drops what pg_provision_* made, outside any transaction. */
static void provision_cleanup(void)
{
    admin_script("DROP DATABASE IF EXISTS gw_test WITH (FORCE)");
    admin_script("DROP DATABASE IF EXISTS pkg_test WITH (FORCE)");
    admin_script("DROP ROLE IF EXISTS gw_test");
    admin_script("DROP ROLE IF EXISTS pkg_test");
}

static void provision(const char *service, const char *pw, struct sbuf *url)
{
    struct err err = {0};
    int rc;

    sbuf_reset(url);
    rc = store_pg_provision(pg_url(), service, pw, url, &err);
    if (rc != 0)
        test_fail(__FILE__, __LINE__, "provision %s: %d %s", service, rc, err.msg);
}

/* Runs "SELECT current_user" on <url> and checks it is <user>. */
static void check_connects_as(const char *url, const char *user)
{
    struct store *s = pg_open_url(url);
    struct arena *a = arena_new(NULL);
    struct store_rows *r = NULL;
    struct err err = {0};

    CHECK_INT_EQ(store_query1(s, a, "SELECT current_user", NULL, 0, &r, &err), 0);
    CHECK_STR_EQ(store_cell(r, 0, 0)->s.ptr, user);
    exec_ok(s, "CREATE TABLE IF NOT EXISTS t_own (id BIGINT)"); /* its own schema to use */
    arena_free(a);
    store_close(s);
}

TEST(pg_provision_isolates_services)
{
    struct sbuf gw = SBUF_INIT(512), pkg = SBUF_INIT(512), again = SBUF_INIT(512);
    struct url_parts p;
    char gw_pw[40] = "", pkg_pw[40] = "", cross[512];
    struct err err = {0};

    pg_parts(&p);
    random_hex(gw_pw, sizeof(gw_pw));
    random_hex(pkg_pw, sizeof(pkg_pw));
    provision_cleanup();
    provision("gw_test", gw_pw, &gw);
    provision("pkg_test", pkg_pw, &pkg);
    snprintf(cross, sizeof(cross), "postgres://gw_test:%s@%s:%s/gw_test", gw_pw, p.host, p.port);
    CHECK_STR_EQ(gw.buf, cross);
    check_connects_as(gw.buf, "gw_test");
    check_connects_as(pkg.buf, "pkg_test");

    /* gw_test's role, pkg_test's database */
    snprintf(cross, sizeof(cross), "postgres://gw_test:%s@%s:%s/pkg_test", gw_pw, p.host, p.port);
    CHECK_INT_EQ(open_and_ping(cross, &err), ERR_UNAVAILABLE);
    CHECK_CONTAINS(err.msg, "permission denied");
    CHECK(strstr(err.msg, gw_pw) == NULL);

    /* again: nothing changes, the same URL works */
    provision("gw_test", gw_pw, &again);
    CHECK_STR_EQ(again.buf, gw.buf);
    check_connects_as(again.buf, "gw_test");
    CHECK_INT_EQ(open_and_ping(cross, &err), ERR_UNAVAILABLE);

    CHECK_INT_EQ(store_pg_provision(pg_url(), "Gw-Test", gw_pw, &again, &err), ERR_INVALID);
    CHECK_INT_EQ(store_pg_provision(pg_url(), "gw_test\"; DROP", gw_pw, &again, &err), ERR_INVALID);
    provision_cleanup();
    sbuf_release(&gw);
    sbuf_release(&pkg);
    sbuf_release(&again);
}

TEST(pg_provision_with_a_wrong_admin_password_is_unavailable)
{
    struct sbuf url = SBUF_INIT(512);
    struct url_parts p;
    char admin[256];
    struct err err = {0};

    pg_parts(&p);
    snprintf(admin, sizeof(admin), "postgres://%s:Admin-Wrong-9@%s:%s/postgres", p.user, p.host,
             p.port);
    CHECK_INT_EQ(store_pg_provision(admin, "gw_test", "pw", &url, &err), ERR_UNAVAILABLE);
    CHECK(strstr(err.msg, "Admin-Wrong-9") == NULL);
    CHECK_INT_EQ(url.len, 0);
    sbuf_release(&url);
}

TEST(pg_cached_statement_after_a_schema_change_is_prepared_again)
{
    struct store_opts opts = {.url = pg_url(), .service = "test", .max_conns = 1};
    struct store *s = NULL;
    struct arena *a = arena_new(NULL);
    struct store_rows *r = NULL;
    struct err err = {0};
    int rc;

    CHECK_INT_EQ(store_open(&opts, &s, &err), 0); /* one connection: the cache is shared */
    exec_ok(s, "DROP TABLE IF EXISTS t_plan");
    exec_ok(s, "CREATE TABLE t_plan (a BIGINT)");
    CHECK_INT_EQ(store_query1(s, a, "SELECT * FROM t_plan", NULL, 0, &r, &err), 0);
    CHECK_INT_EQ(r->ncols, 1);
    exec_ok(s, "ALTER TABLE t_plan ADD COLUMN b BIGINT");
    rc = store_query1(s, a, "SELECT * FROM t_plan", NULL, 0, &r, &err);
    CHECK_INT_EQ(rc, ERR_CONFLICT); /* "changed meanwhile": a retry works */
    CHECK_CONTAINS(err.msg, "0A000");
    CHECK_INT_EQ(store_query1(s, a, "SELECT * FROM t_plan", NULL, 0, &r, &err), 0);
    CHECK_INT_EQ(r->ncols, 2);
    exec_ok(s, "DROP TABLE t_plan");
    arena_free(a);
    store_close(s);
}

TEST(pg_commit_after_a_failed_statement_is_not_success)
{
    struct store *s = pg_open_url(pg_url());
    struct store_tx *tx = NULL;
    struct err err = {0};

    CHECK_INT_EQ(store_begin(s, &tx, &err), 0);
    CHECK_INT_EQ(store_exec(tx, "SELEC 1", NULL, 0, NULL, &err), ERR_INVALID);
    CHECK(store_commit(tx, &err) < 0); /* PostgreSQL answers COMMIT with ROLLBACK here */
    exec_ok(s, "SELECT 1");
    store_close(s);
}

TEST(pg_killed_connection_is_unavailable_then_replaced)
{
    struct store_opts opts = {.url = pg_url(), .service = "test", .max_conns = 1};
    struct store *s = NULL;
    struct err err = {0};
    int rc;

    CHECK_INT_EQ(store_open(&opts, &s, &err), 0);
    exec_ok(s, "SELECT 1");
    rc = store_exec1(s, "SELECT pg_terminate_backend(pg_backend_pid())", NULL, 0, NULL, &err);
    CHECK_INT_EQ(rc, ERR_UNAVAILABLE);
    exec_ok(s, "SELECT 1"); /* the pool dropped the dead connection and made a new one */
    store_close(s);
}
