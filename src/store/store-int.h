/*
 * Private to the store module: the table of functions each backend fills (SQLite in
 * sqlite.c, PostgreSQL in pg.c) and what store.c, the backend-independent part, shares with
 * them. store.c owns the public functions, the placeholder translation, the connection
 * pool, transactions' bookkeeping and migrations; a backend owns its connections.
 */
#ifndef SLIPWAY_STORE_INT_H
#define SLIPWAY_STORE_INT_H

#include "store/store.h"

struct store_conn; /* a backend's connection */

struct store_backend {
    const char *name; /* "sqlite", "postgres" */
    /* Opens one connection to <url> (the part after "sqlite:" for SQLite, the whole URL for
     * PostgreSQL). */
    int (*connect)(const struct store_opts *opts, struct store_conn **out, struct err *err);
    void (*disconnect)(struct store_conn *c);
    /* Runs <sql> (already in the backend's placeholder style) with <args>. When <a> is not
     * NULL the rows are copied into it and returned in *rows. Statements are prepared once
     * per connection and cached by their text. */
    int (*exec)(struct store_conn *c, struct arena *a, const char *sql,
                const struct store_val *args, size_t nargs, int64_t *changes,
                struct store_rows **rows, struct err *err);
    /* Runs statements without arguments or results ("BEGIN IMMEDIATE", DDL with several
     * statements separated by ';'). */
    int (*exec_script)(struct store_conn *c, const char *sql, struct err *err);
    /* The statements that start a transaction and that take the migration lock. */
    const char *begin_sql;
    const char *begin_read_sql;     /* a transaction that only reads */
    const char *migrate_lock_sql;   /* run inside the migration transaction */
    const char *migrate_unlock_sql; /* NULL when commit releases it */
    /* Whether the connection still works (after an error, the pool drops broken ones). */
    bool (*alive)(struct store_conn *c);
};

extern const struct store_backend store_sqlite_backend;
extern const struct store_backend store_pg_backend;

/* Whether <name> can name a service's database and role: ^[a-z][a-z0-9_]{0,62}$. */
bool store_service_valid(const char *name);

/* Rewrites '?' placeholders (outside quotes and comments) as $1, $2, … into <out>. */
void store_sql_dollar(const char *sql, struct sbuf *out);

/* Copies a value into <a> (TEXT/BLOB bytes; TEXT gets a NUL after its bytes). */
int store_val_copy(struct arena *a, const struct store_val *in, struct store_val *out);

/* The options <s> was opened with: url is the backend's part (the whole URL for PostgreSQL),
 * service and the timeouts have their defaults applied. Valid until store_close(). */
const struct store_opts *store_opts_of(const struct store *s);
/* The store <tx> runs in. */
struct store *store_tx_store(const struct store_tx *tx);

/* ---------------------------------------------------------------- pg.c, for listen.c */

struct pg_conn; /* libpq's PGconn */
/* Starts a connection to <url> made as the pool's are (application_name slipway-<service>,
 * UTF8, server notices to the debug log; the URL's own parameters win) and returns at once:
 * the caller drives it with PQconnectPoll() and PQfinish()es it, also after a failure.
 * ERR_INVALID for a bad URL, ERR_LIMIT when libpq has no memory. */
int store_pg_start(const char *url, const char *service, struct pg_conn **out, struct err *err);
/* err_set(<code>, "<prefix>: <msg>") for a libpq message <msg>, with line breaks made spaces
 * and the password of <url> replaced by "***". */
int store_pg_error(struct err *err, int code, const char *prefix, const char *msg, const char *url);

#endif
