/*
 * store: LISTEN/NOTIFY (listen.c). SQLite's side (listen refused, notify a no-op, the same
 * argument checks) always runs; the rest needs PostgreSQL (SLIPWAY_TEST_PG_URL) and is
 * skipped with a message without it. Channels are database-wide, not per schema, so each
 * test names its own after the process.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "../test.h"
#include "base/base.h"
#include "store/store.h"
#include "../dbtest.h"

#define WAIT_MS 5000 /* long enough for anything that should arrive */

/* The PostgreSQL URL of the run, or NULL (the test is skipped) when there is none. */
static const char *pg_or_skip_url(const char *test)
{
    if (dbtest_pg_url() == NULL)
        fprintf(stderr, "# %s: skipped: SLIPWAY_TEST_PG_URL is not set\n", test);
    return dbtest_pg_url();
}

/* A store on the run's PostgreSQL, or NULL (the test is skipped) when there is none. */
static struct store *pg_or_skip(const char *test)
{
    return pg_or_skip_url(test) ? dbtest_open(dbtest_pg_url(), "test", 2, 0) : NULL;
}

/* "<name>_<pid>": a channel no other run of this file uses at the same time. */
static void channel_name(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s_%d", name, (int)getpid());
}

static void notify1(struct store *s, const char *channel, const char *payload, bool commit)
{
    struct store_tx *tx;
    struct err err = {0};

    OK(store_begin(s, &tx, &err));
    OK(store_notify(tx, channel, slice_from_cstr(payload), &err));
    if (commit)
        OK(store_commit(tx, &err));
    else
        store_rollback(tx);
}

static struct store_listener *listen_on(struct store *s, const char *channel)
{
    struct store_listener *l = NULL;
    struct err err = {0};

    OK(store_listen(s, channel, &l, &err));
    CHECK(l != NULL);
    return l;
}

/* store_listener_wait() with its result checked against <want>; the payload in <payload>. */
static void wait_for(struct store_listener *l, uint64_t ms, int want, struct sbuf *payload)
{
    struct err err = {0};
    int rc = store_listener_wait(l, ms, payload, &err);

    if (rc != want)
        test_fail(__FILE__, __LINE__, "store_listener_wait == %d (%s), expected %d", rc, err.msg,
                  want);
}

static int64_t query_int(struct store *s, const char *sql, const char *arg)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 1 << 20});
    struct store_rows *r;
    struct err err = {0};
    int64_t v;

    OK(store_query1(s, a, sql, (struct store_val[]){SV_CSTR(arg)}, 1, &r, &err));
    CHECK_INT_EQ(r->nrows, 1);
    CHECK_INT_EQ(store_cell(r, 0, 0)->type, STORE_T_INT);
    v = store_cell(r, 0, 0)->i;
    arena_free(a);
    return v;
}

/* Terminates the server process of the listener on <channel>: the one connection whose last
 * statement was its LISTEN. */
static void kill_listener(struct store *s, const char *channel)
{
    char sql[128];

    snprintf(sql, sizeof(sql), "LISTEN \"%s\"", channel);
    CHECK_INT_EQ(query_int(s,
                           "SELECT CAST(COUNT(pg_terminate_backend(pid)) AS BIGINT) "
                           "FROM pg_stat_activity WHERE query = ? AND pid <> pg_backend_pid()",
                           sql),
                 1);
}

static uint64_t elapsed_ms(uint64_t since)
{
    return time_mono_ms() - since;
}

/* ---------------------------------------------------------------- SQLite */

TEST(listen_sqlite_refuses_listen_and_ignores_notify)
{
    struct store_listener *l = (struct store_listener *)1;
    struct store_tx *tx;
    struct err err = {0};
    struct store *s;
    char url[512];

    dbtest_url(STORE_SQLITE, "listen", url, sizeof(url));
    s = dbtest_open(url, "test", 2, 0);
    CHECK_INT_EQ(store_listen(s, "wake", &l, &err), ERR_INVALID);
    CHECK(l == NULL);
    CHECK_CONTAINS(err.msg, "LISTEN needs PostgreSQL");

    OK(store_begin(s, &tx, &err));
    OK(store_exec(tx, "CREATE TABLE t (x INTEGER)", NULL, 0, NULL, &err));
    OK(store_notify(tx, "wake", SLICE("hello"), &err));
    /* the same argument checks as on PostgreSQL, and the transaction goes on */
    CHECK_INT_EQ(store_notify(tx, "Wake", SLICE("x"), &err), ERR_INVALID);
    CHECK_INT_EQ(store_notify(tx, "wake", SLICE("a\0b"), &err), ERR_INVALID);
    OK(store_exec(tx, "INSERT INTO t VALUES (1)", NULL, 0, NULL, &err));
    OK(store_commit(tx, &err));
    store_close(s);
}

/* ---------------------------------------------------------------- arguments */

static void check_bad_channels(struct store *s)
{
    static const char *const bad[] = {
        "",       "Wake",
        "1wake",  "_wake",
        "wa-ke",  "wa ke",
        "wake\"", "wäke",
        "wake;",  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 64 */};
    struct store_listener *l = NULL;
    struct store_tx *tx;
    struct err err = {0};

    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CHECK_INT_EQ(store_listen(s, bad[i], &l, &err), ERR_INVALID);
        CHECK(l == NULL);
        CHECK_CONTAINS(err.msg, "channel");
    }
    CHECK_INT_EQ(store_listen(s, NULL, &l, &err), ERR_INVALID);
    OK(store_begin(s, &tx, &err));
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        CHECK_INT_EQ(store_notify(tx, bad[i], SLICE("x"), &err), ERR_INVALID);
    CHECK_INT_EQ(store_notify(tx, NULL, SLICE("x"), &err), ERR_INVALID);
    store_rollback(tx);
}

TEST(listen_bad_channels_are_invalid)
{
    char url[512];
    struct store *s;

    dbtest_url(STORE_SQLITE, "listen", url, sizeof(url));
    s = dbtest_open(url, "test", 2, 0);
    check_bad_channels(s);
    store_close(s);
    s = pg_or_skip("listen_bad_channels_are_invalid (PostgreSQL)");
    if (s == NULL)
        return;
    check_bad_channels(s);
    store_close(s);
}

TEST(listen_bad_payloads_are_invalid_and_leave_the_tx_usable)
{
    static const struct slice bad[] = {
        {"a\0b", 3},         {"\xc0\x80", 2},         /* overlong NUL */
        {"\xed\xa0\x80", 3}, {"\xf4\x90\x80\x80", 4}, /* surrogate, past U+10FFFF */
        {"ab\xe2\x82", 4},   {"\xff", 1},             /* cut short, never UTF-8 */
    };
    struct sbuf got = SBUF_INIT(16 << 10);
    struct store_listener *l;
    char ch[64], *big = xmalloc(8000);
    struct store_tx *tx;
    struct err err = {0};
    struct store *s = pg_or_skip("listen_bad_payloads_are_invalid_and_leave_the_tx_usable");

    if (s == NULL) {
        free(big);
        return;
    }
    channel_name(ch, sizeof(ch), "payloads");
    memset(big, 'x', 8000);
    l = listen_on(s, ch);
    OK(store_begin(s, &tx, &err));
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        CHECK_INT_EQ(store_notify(tx, ch, bad[i], &err), ERR_INVALID);
    CHECK_INT_EQ(store_notify(tx, ch, (struct slice){big, 8000}, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "7999");
    OK(store_notify(tx, ch, (struct slice){big, 7999}, &err));
    OK(store_commit(tx, &err));
    wait_for(l, WAIT_MS, 1, &got);
    CHECK_INT_EQ(got.err, 0);
    CHECK_MEM_EQ(got.buf, got.len, big, 7999);

    /* UTF-8 beyond ASCII and the empty payload arrive as they were sent */
    notify1(s, ch, "d\xc3\xa9j\xc3\xa0 \xf0\x9f\x8c\x8d", true);
    wait_for(l, WAIT_MS, 1, &got);
    CHECK_STR_EQ(got.buf, "d\xc3\xa9j\xc3\xa0 \xf0\x9f\x8c\x8d");
    notify1(s, ch, "", true);
    wait_for(l, WAIT_MS, 1, &got);
    CHECK_INT_EQ(got.len, 0);
    store_listener_close(l);
    sbuf_release(&got);
    free(big);
    store_close(s);
}

/* ---------------------------------------------------------------- delivery */

TEST(listen_notify_arrives_after_commit_not_after_rollback)
{
    struct sbuf got = SBUF_INIT(8192);
    struct store_listener *l;
    struct store_tx *tx;
    struct err err = {0};
    char ch[64];
    struct store *s = pg_or_skip("listen_notify_arrives_after_commit_not_after_rollback");

    if (s == NULL)
        return;
    channel_name(ch, sizeof(ch), "commit");
    l = listen_on(s, ch);
    notify1(s, ch, "rolled back", false);
    wait_for(l, 300, 0, &got);

    OK(store_begin(s, &tx, &err));
    OK(store_notify(tx, ch, SLICE("hello"), &err));
    wait_for(l, 200, 0, &got); /* not before the commit */
    OK(store_commit(tx, &err));
    wait_for(l, WAIT_MS, 1, &got);
    CHECK_STR_EQ(got.buf, "hello");
    wait_for(l, 0, 0, &got);
    CHECK_INT_EQ(got.len, 0); /* emptied by every wait */

    /* a NULL payload buffer is fine */
    notify1(s, ch, "again", true);
    wait_for(l, WAIT_MS, 1, NULL);
    store_listener_close(l);
    sbuf_release(&got);
    store_close(s);
}

TEST(listen_one_wait_consumes_every_notification)
{
    struct sbuf got = SBUF_INIT(8192);
    struct store_listener *l;
    struct store_tx *tx;
    struct err err = {0};
    char ch[64];
    struct store *s = pg_or_skip("listen_one_wait_consumes_every_notification");

    if (s == NULL)
        return;
    channel_name(ch, sizeof(ch), "several");
    l = listen_on(s, ch);
    notify1(s, ch, "first", true);
    notify1(s, ch, "second", true);
    OK(store_begin(s, &tx, &err));
    OK(store_notify(tx, ch, SLICE("third"), &err));
    OK(store_notify(tx, ch, SLICE("fourth"), &err));
    OK(store_commit(tx, &err));
    /* let all of them reach the listener's socket before it reads */
    nanosleep(&(struct timespec){.tv_nsec = 300 * 1000000L}, NULL);
    wait_for(l, WAIT_MS, 1, &got);
    CHECK_STR_EQ(got.buf, "first");
    wait_for(l, 300, 0, &got);
    store_listener_close(l);
    sbuf_release(&got);
    store_close(s);
}

TEST(listen_channel_may_be_a_keyword)
{
    struct sbuf got = SBUF_INIT(64);
    struct store_listener *l;
    struct store *s = pg_or_skip("listen_channel_may_be_a_keyword");

    if (s == NULL)
        return;
    l = listen_on(s, "select");
    notify1(s, "select", "kw", true);
    wait_for(l, WAIT_MS, 1, &got);
    CHECK_STR_EQ(got.buf, "kw");
    store_listener_close(l);
    sbuf_release(&got);
    store_close(s);
}

TEST(listen_payload_too_big_for_the_buffer_sets_its_err)
{
    struct sbuf got = SBUF_INIT(4);
    struct store_listener *l;
    char ch[64];
    struct store *s = pg_or_skip("listen_payload_too_big_for_the_buffer_sets_its_err");

    if (s == NULL)
        return;
    channel_name(ch, sizeof(ch), "small");
    l = listen_on(s, ch);
    notify1(s, ch, "longer than four", true);
    wait_for(l, WAIT_MS, 1, &got);
    CHECK_INT_EQ(got.err, ERR_LIMIT);
    notify1(s, ch, "ok", true);
    wait_for(l, WAIT_MS, 1, &got); /* emptied, err cleared */
    CHECK_INT_EQ(got.err, 0);
    CHECK_STR_EQ(got.buf, "ok");
    store_listener_close(l);
    sbuf_release(&got);
    store_close(s);
}

/* ---------------------------------------------------------------- timeouts and wake-ups */

TEST(listen_timeout_returns_0)
{
    struct store_listener *l;
    uint64_t t0;
    char ch[64];
    struct store *s = pg_or_skip("listen_timeout_returns_0");

    if (s == NULL)
        return;
    channel_name(ch, sizeof(ch), "timeout");
    l = listen_on(s, ch);
    t0 = time_mono_ms();
    wait_for(l, 200, 0, NULL);
    CHECK(elapsed_ms(t0) >= 200);
    CHECK(elapsed_ms(t0) < 1000);
    t0 = time_mono_ms();
    wait_for(l, 0, 0, NULL);
    CHECK(elapsed_ms(t0) < 100);
    store_listener_close(l);
    store_close(s);
}

static void *wake_later(void *arg)
{
    nanosleep(&(struct timespec){.tv_nsec = 100 * 1000000L}, NULL);
    store_listener_wake(arg);
    return NULL;
}

TEST(listen_wake_from_another_thread_returns_0_promptly)
{
    struct store_listener *l;
    pthread_t th;
    uint64_t t0;
    char ch[64];
    struct store *s = pg_or_skip("listen_wake_from_another_thread_returns_0_promptly");

    if (s == NULL)
        return;
    channel_name(ch, sizeof(ch), "wake");
    l = listen_on(s, ch);
    t0 = time_mono_ms();
    CHECK_INT_EQ(pthread_create(&th, NULL, wake_later, l), 0);
    wait_for(l, 30000, 0, NULL);
    CHECK(elapsed_ms(t0) < 2000);
    CHECK_INT_EQ(pthread_join(th, NULL), 0);

    /* a wake with no wait in progress ends the next one at once, and only that one */
    store_listener_wake(l);
    store_listener_wake(l);
    t0 = time_mono_ms();
    wait_for(l, 30000, 0, NULL);
    CHECK(elapsed_ms(t0) < 1000);
    t0 = time_mono_ms();
    wait_for(l, 150, 0, NULL);
    CHECK(elapsed_ms(t0) >= 150);

    /* notifications are still there for the next wait */
    notify1(s, ch, "after", true);
    wait_for(l, WAIT_MS, 1, NULL);
    store_listener_close(l);
    store_close(s);
}

/* ---------------------------------------------------------------- losing the connection */

TEST(listen_reconnects_after_the_backend_is_killed)
{
    struct sbuf got = SBUF_INIT(64);
    struct store_listener *l;
    char ch[64], sql[128];
    struct store *s = pg_or_skip("listen_reconnects_after_the_backend_is_killed");

    if (s == NULL)
        return;
    channel_name(ch, sizeof(ch), "kill");
    snprintf(sql, sizeof(sql), "LISTEN \"%s\"", ch);
    l = listen_on(s, ch);
    kill_listener(s, ch);
    wait_for(l, WAIT_MS, 1, &got); /* reconnected: something may have been missed */
    CHECK_INT_EQ(got.len, 0);
    CHECK_INT_EQ(
        query_int(s, "SELECT CAST(COUNT(*) AS BIGINT) FROM pg_stat_activity WHERE query = ?", sql),
        1);
    notify1(s, ch, "still here", true);
    wait_for(l, WAIT_MS, 1, &got);
    CHECK_STR_EQ(got.buf, "still here");
    wait_for(l, 200, 0, &got);

    /* and again, from a wait already in progress */
    kill_listener(s, ch);
    wait_for(l, WAIT_MS, 1, &got);
    notify1(s, ch, "twice", true);
    wait_for(l, WAIT_MS, 1, &got);
    CHECK_STR_EQ(got.buf, "twice");
    store_listener_close(l);
    sbuf_release(&got);
    store_close(s);
}

/* A URL for the database <db> on the run's server (libpq: the last dbname given wins). */
static void db_url(char *out, size_t n, const char *db)
{
    const char *base = dbtest_pg_url();

    snprintf(out, n, "%s%cdbname=%s", base, strchr(base, '?') ? '&' : '?', db);
}

static void url_password(char *out, size_t n)
{
    PQconninfoOption *opts = PQconninfoParse(dbtest_pg_url(), NULL);

    CHECK(opts != NULL);
    out[0] = '\0';
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val != NULL)
            snprintf(out, n, "%s", o->val);
    PQconninfoFree(opts);
}

/* Runs "<head><db><tail>" on a connection of its own: CREATE and DROP DATABASE cannot run in
 * a transaction, which is all the store offers. */
static void admin_exec(const char *head, const char *db, const char *tail)
{
    PGconn *pg = PQconnectdb(dbtest_pg_url());
    PGresult *res;
    char sql[256];

    CHECK(PQstatus(pg) == CONNECTION_OK);
    snprintf(sql, sizeof(sql), "%s%s%s", head, db, tail);
    res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        test_fail(__FILE__, __LINE__, "%s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
    PQfinish(pg);
}

/* While the server refuses connections, waits fail with ERR_UNAVAILABLE and a message without
 * the password; once it takes them again, the next wait returns 1. */
TEST(listen_unavailable_while_the_server_refuses_then_1)
{
    struct store_listener *l, *l2 = (struct store_listener *)1;
    struct store *s, *admin = pg_or_skip("listen_unavailable_while_the_server_refuses_then_1");
    char db[64], url[1024], pw[256];
    struct err err = {0};
    int rc = 0;

    if (admin == NULL)
        return;
    channel_name(db, sizeof(db), "refuse");
    db_url(url, sizeof(url), db);
    url_password(pw, sizeof(pw));
    admin_exec("CREATE DATABASE ", db, "");
    s = dbtest_open(url, "test", 1, 0);
    l = listen_on(s, db);
    admin_exec("ALTER DATABASE ", db, " ALLOW_CONNECTIONS false");
    kill_listener(admin, db);
    for (int i = 0; i < 50 && rc != ERR_UNAVAILABLE; i++)
        rc = store_listener_wait(l, 100, NULL, &err);
    CHECK_INT_EQ(rc, ERR_UNAVAILABLE);
    CHECK_CONTAINS(err.msg, "cannot connect");
    CHECK(pw[0] == '\0' || strstr(err.msg, pw) == NULL);
    rc = store_listener_wait(l, 100, NULL, &err); /* still refused, and no hanging */
    CHECK_INT_EQ(rc, ERR_UNAVAILABLE);
    CHECK_INT_EQ(store_listen(s, db, &l2, &err), ERR_UNAVAILABLE); /* nor a new listener */
    CHECK(l2 == NULL);
    CHECK_CONTAINS(err.msg, "store_listen");
    CHECK(pw[0] == '\0' || strstr(err.msg, pw) == NULL);

    admin_exec("ALTER DATABASE ", db, " ALLOW_CONNECTIONS true");
    wait_for(l, WAIT_MS, 1, NULL);
    notify1(s, db, "back", true);
    wait_for(l, WAIT_MS, 1, NULL);
    store_listener_close(l);
    store_close(s);
    admin_exec("DROP DATABASE ", db, " WITH (FORCE)");
    store_close(admin);
}

/* A TCP port on 127.0.0.1 that takes connections (the kernel completes them) and never answers;
 * its socket is returned so the caller can close it. */
static int silent_port(int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    CHECK(fd >= 0);
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    CHECK(listen(fd, 8) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* A server that never answers makes store_listen() give up on time: the store's first host is
 * silent (the pool's blocking connects skip it after connect_timeout), and the listener's
 * connection, made without blocking, keeps a deadline of its own. */
TEST(listen_gives_up_on_a_silent_server_on_time)
{
    struct store_listener *l = (struct store_listener *)1;
    char url[1024], host[64];
    struct err err = {0};
    struct store *s;
    uint64_t t0;
    int fd, port;

    if (pg_or_skip_url("listen_gives_up_on_a_silent_server_on_time") == NULL)
        return;
    fd = silent_port(&port);
    snprintf(host, sizeof(host), "127.0.0.1:%d,", port);
    /* postgres://user:pw@HOST:PORT/db → postgres://user:pw@127.0.0.1:<silent>,HOST:PORT/db */
    CHECK(strchr(dbtest_pg_url(), '@') != NULL);
    snprintf(url, sizeof(url), "%.*s%s%s",
             (int)(strchr(dbtest_pg_url(), '@') + 1 - dbtest_pg_url()), dbtest_pg_url(), host,
             strchr(dbtest_pg_url(), '@') + 1);
    s = dbtest_open(url, "test", 1, 1500);
    t0 = time_mono_ms();
    CHECK_INT_EQ(store_listen(s, "silent", &l, &err), ERR_UNAVAILABLE);
    CHECK(l == NULL);
    CHECK_CONTAINS(err.msg, "no answer within 2000 ms");
    CHECK(elapsed_ms(t0) >= 2000);
    CHECK(elapsed_ms(t0) < 3000);
    store_close(s);
    close(fd);
}
