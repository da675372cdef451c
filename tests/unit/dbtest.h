/*
 * Databases for unit tests: SQLite always (a file in the test's directory), PostgreSQL when
 * SLIPWAY_TEST_PG_URL is set (scripts/test starts a server for the run). The PostgreSQL
 * database is shared, so each environment gets a schema of its own (search_path in its URL),
 * dropped at exit, also when a CHECK fails.
 */
#ifndef SLIPWAY_DBTEST_H
#define SLIPWAY_DBTEST_H

#include "base/base.h"
#include "store/store.h"

/* The PostgreSQL URL of the run, or NULL when there is none. */
const char *dbtest_pg_url(void);
/* Writes into <url> a fresh database of <kind> for one environment; <prefix> names it. */
void dbtest_url(enum store_kind kind, const char *prefix, char *url, size_t n);
/* Opens <url> (the test fails when it cannot). */
struct store *dbtest_open(const char *url, const char *service, unsigned max_conns,
                          uint64_t busy_ms);

#endif
