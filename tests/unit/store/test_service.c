/* Tests for src/store/service.c: each service finds its own database again. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../test.h"
#include "base/base.h"
#include "store/store.h"

static const unsigned char secret[32] = "0123456789abcdef0123456789abcde";

/* Writes a row through one opening of <service>'s database and reads it through another. */
static void round_trip(const char *base, const char *service)
{
    struct store *s = NULL;
    struct arena *a = arena_new(NULL);
    struct store_rows *rows = NULL;
    struct err err = {0};

    CHECK_INT_EQ(store_open_service(base, test_tmpdir(), service, secret, 32, &s, &err), 0);
    CHECK_INT_EQ(store_exec1(s, "CREATE TABLE IF NOT EXISTS t (v TEXT)", NULL, 0, NULL, &err), 0);
    CHECK_INT_EQ(store_exec1(s, "DELETE FROM t", NULL, 0, NULL, &err), 0);
    CHECK_INT_EQ(store_exec1(s, "INSERT INTO t (v) VALUES (?)", &SV_CSTR(service), 1, NULL, &err),
                 0);
    store_close(s);
    CHECK_INT_EQ(store_open_service(base, test_tmpdir(), service, secret, 32, &s, &err), 0);
    CHECK_INT_EQ(store_query1(s, a, "SELECT v FROM t", NULL, 0, &rows, &err), 0);
    CHECK_UINT_EQ(rows->nrows, 1);
    CHECK_STR_EQ(store_cell(rows, 0, 0)->s.ptr, service);
    CHECK_INT_EQ(store_exec1(s, "DROP TABLE t", NULL, 0, NULL, &err), 0);
    store_close(s);
    arena_free(a);
}

TEST(store_open_service_sqlite_file_per_service)
{
    char path[512];

    round_trip("", "gw_svc_test");
    round_trip("sqlite", "pkg_svc_test");
    snprintf(path, sizeof(path), "%s/gw_svc_test.db", test_tmpdir());
    CHECK(access(path, F_OK) == 0);
}

TEST(store_open_service_postgres_provisions_and_finds_it_again)
{
    const char *url = getenv("SLIPWAY_TEST_PG_URL");

    if (url == NULL)
        test_fail(__FILE__, __LINE__,
                  "SLIPWAY_TEST_PG_URL is not set: scripts/test starts "
                  "PostgreSQL for the run");
    round_trip(url, "svc_open_test");
}

TEST(store_open_service_refuses_bad_names_and_bases)
{
    struct store *s = NULL;
    struct err err = {0};

    CHECK_INT_EQ(store_open_service("", test_tmpdir(), "../etc", secret, 32, &s, &err),
                 ERR_INVALID);
    CHECK_CONTAINS(err.msg, "service");
    CHECK_INT_EQ(store_open_service("mysql://x", test_tmpdir(), "gw", secret, 32, &s, &err),
                 ERR_INVALID);
    CHECK_CONTAINS(err.msg, "core.store");
}
