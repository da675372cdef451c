/* Databases for unit tests (see dbtest.h). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "test.h"
#include "dbtest.h"

static char schemas[256][64];
static size_t nschemas;

const char *dbtest_pg_url(void)
{
    const char *u = getenv("SLIPWAY_TEST_PG_URL");

    return u != NULL && *u != '\0' ? u : NULL;
}

struct store *dbtest_open(const char *url, const char *service, unsigned max_conns,
                          uint64_t busy_ms)
{
    struct store_opts o = {
        .url = url, .service = service, .max_conns = max_conns, .busy_timeout_ms = busy_ms};
    struct err err = {0};
    struct store *s = NULL;

    if (store_open(&o, &s, &err) != 0)
        test_fail(__FILE__, __LINE__, "opening a test database: %s", err.msg);
    return s;
}

static void admin(const char *sql)
{
    struct store *s = dbtest_open(dbtest_pg_url(), "test", 1, 0);
    struct err err = {0};

    if (store_exec1(s, sql, NULL, 0, NULL, &err) != 0)
        test_fail(__FILE__, __LINE__, "%s: %s", sql, err.msg);
    store_close(s);
}

static void drop_schemas(void)
{
    char sql[256];

    for (size_t i = 0; i < nschemas; i++) {
        snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %.63s CASCADE", schemas[i]);
        admin(sql);
    }
    nschemas = 0;
}

void dbtest_url(enum store_kind kind, const char *prefix, char *url, size_t n)
{
    static unsigned seq;
    const char *base = dbtest_pg_url();
    char schema[64], sql[256];

    seq++;
    if (kind == STORE_SQLITE) {
        snprintf(url, n, "sqlite:%s/%s-%u.sqlite", test_tmpdir(), prefix, seq);
        return;
    }
    if (base == NULL)
        test_fail(__FILE__, __LINE__, "SLIPWAY_TEST_PG_URL is not set");
    snprintf(schema, sizeof(schema), "%.20s_%d_%u_%ld", prefix, (int)getpid(), seq,
             (long)(time_wall_ms() % 1000000));
    snprintf(sql, sizeof(sql), "CREATE SCHEMA %.63s", schema);
    admin(sql);
    if (nschemas == 0)
        atexit(drop_schemas);
    if (nschemas < ARRAY_LEN(schemas))
        snprintf(schemas[nschemas++], sizeof(schemas[0]), "%s", schema);
    snprintf(url, n, "%s%coptions=-csearch_path%%3D%s", base, strchr(base, '?') ? '&' : '?',
             schema);
}
