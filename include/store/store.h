/*
 * store: one database per service, on SQLite (embedded default) or PostgreSQL (scale-out),
 * behind one interface. SQL is written once with '?' placeholders (translated to $1, $2, …
 * for PostgreSQL) in the common dialect of both: INTEGER/BIGINT, TEXT, BLOB (BYTEA on
 * PostgreSQL, translated in migrations, see store_migration).
 *
 * Every call blocks: call from worker threads (pool_run), never from an event loop.
 * A struct store is safe to share between threads; a struct store_tx belongs to the thread
 * that began it until commit or rollback.
 */
#ifndef SLIPWAY_STORE_H
#define SLIPWAY_STORE_H

#include "base/base.h"

enum store_kind { STORE_SQLITE, STORE_POSTGRES };

struct store_opts {
    /* "sqlite:<path>" (a file; created) or "postgres://user:pw@host:port/db?…" (a libpq URI) */
    const char *url;
    const char *service;      /* for logs and errors: "gateway", "packager", … */
    unsigned max_conns;       /* connections kept at most, 0 = 4 */
    uint64_t busy_timeout_ms; /* how long to wait for a lock or a free connection, 0 = 5 s */
    /* PostgreSQL: how long one statement may run before the server cancels it (ERR_TIMEOUT),
     * 0 = no limit. Separate from busy_timeout_ms: a slow migration or DROP DATABASE on a
     * loaded server is not a lock wait. */
    uint64_t statement_timeout_ms;
};

struct store;
/* Opens (and for SQLite creates) the database: SQLite in WAL mode with synchronous=FULL,
 * foreign keys on, a busy timeout and a prepared-statement cache per connection; PostgreSQL
 * with a pool of up to max_conns connections made on demand. ERR_UNAVAILABLE when the server
 * cannot be reached, ERR_INVALID for a bad URL (the message never shows the password). */
int store_open(const struct store_opts *opts, struct store **out, struct err *err) APP_MUST_CHECK;
/* Every transaction must have ended before this (an open one is a bug and asserts). */
void store_close(struct store *s);
/* Opens connections until the pool holds <n> (at most max_conns), so that the first moment
 * <n> callers need one at once does not wait for connecting (on PostgreSQL, milliseconds of
 * authentication each). */
int store_warm(struct store *s, unsigned n, struct err *err) APP_MUST_CHECK;
enum store_kind store_kind(const struct store *s);

/* ---------------------------------------------------------------- values */

enum store_type { STORE_T_NULL, STORE_T_INT, STORE_T_TEXT, STORE_T_BLOB };
struct store_val {
    enum store_type type;
    int64_t i;
    struct slice s; /* TEXT (UTF-8, no NUL) or BLOB bytes; borrowed for the call */
};
#define SV_NULL     ((struct store_val){STORE_T_NULL, 0, SLICE_NULL})
#define SV_INT(x)   ((struct store_val){STORE_T_INT, (int64_t)(x), SLICE_NULL})
#define SV_TEXT(sl) ((struct store_val){STORE_T_TEXT, 0, (sl)})
#define SV_CSTR(cs) ((struct store_val){STORE_T_TEXT, 0, slice_from_cstr(cs)})
#define SV_BLOB(sl) ((struct store_val){STORE_T_BLOB, 0, (sl)})

/* A whole result, copied into the caller's arena (so the connection is free at once). */
struct store_rows {
    size_t nrows, ncols;
    const char **names;     /* [ncols] column names */
    struct store_val *vals; /* [nrows * ncols], row-major; TEXT and BLOB point into the arena */
};
static inline const struct store_val *store_cell(const struct store_rows *r, size_t row, size_t col)
{
    return &r->vals[row * r->ncols + col];
}

/* ---------------------------------------------------------------- statements */

/* Transactions. store_begin() takes a connection (waiting up to busy_timeout_ms for one) and
 * starts a transaction (BEGIN IMMEDIATE on SQLite, so writers queue at the start instead of
 * failing at commit). Exactly one of store_commit() or store_rollback() ends it and frees
 * <tx>; commit returns only once the data is durable (fsync'ed). */
struct store_tx;
int store_begin(struct store *s, struct store_tx **tx, struct err *err) APP_MUST_CHECK;
/* A transaction that only reads (BEGIN DEFERRED on SQLite, so it waits for no writer and sees
 * one snapshot from its first read; READ ONLY on PostgreSQL, where a write fails). */
int store_begin_read(struct store *s, struct store_tx **tx, struct err *err) APP_MUST_CHECK;
/* PostgreSQL: a "transaction" for exactly one statement, which commits by itself: no BEGIN
 * and COMMIT are sent (two round trips fewer). store_commit() or store_rollback() still end
 * it; neither undoes the statement. On SQLite, where BEGIN and COMMIT cost no round trip, it
 * is store_begin(). */
int store_begin_single(struct store *s, struct store_tx **tx, struct err *err) APP_MUST_CHECK;
int store_commit(struct store_tx *tx, struct err *err) APP_MUST_CHECK;
void store_rollback(struct store_tx *tx);

/* Runs one statement with <args> bound to its '?' placeholders, in <tx>. *changes (may be
 * NULL) gets the number of rows changed. Errors: ERR_CONFLICT for a constraint violation
 * (unique, foreign key, NOT NULL, CHECK; the message names the constraint when the database
 * does), ERR_INVALID for SQL the database rejects,
 * ERR_UNAVAILABLE when the connection is gone, ERR_TIMEOUT when a lock was not granted. */
/* After any error in a transaction, the only call left is store_rollback(): PostgreSQL has
 * aborted the transaction even where SQLite would let it go on. Isolation is PostgreSQL's
 * READ COMMITTED and SQLite's serialized writers; code must not rely on more than the former.
 * Aggregates over integers (SUM) come back as TEXT on PostgreSQL: CAST them to BIGINT. */
int store_exec(struct store_tx *tx, const char *sql, const struct store_val *args, size_t nargs,
               int64_t *changes, struct err *err) APP_MUST_CHECK;
/* The same for a statement returning rows; *out is allocated in <a> (NULL on any failure).
 * ERR_LIMIT when the result does not fit in <a>'s budget. There is no floating-point type:
 * a REAL or NUMERIC column comes back as TEXT. PostgreSQL's jsonb operators '?', '?|' and
 * '?&' cannot be written (they read as placeholders): use jsonb_exists() and friends. */
int store_query(struct store_tx *tx, struct arena *a, const char *sql, const struct store_val *args,
                size_t nargs, struct store_rows **out, struct err *err) APP_MUST_CHECK;

/* One statement in a transaction of its own (begin, exec or query, commit). */
int store_exec1(struct store *s, const char *sql, const struct store_val *args, size_t nargs,
                int64_t *changes, struct err *err) APP_MUST_CHECK;
int store_query1(struct store *s, struct arena *a, const char *sql, const struct store_val *args,
                 size_t nargs, struct store_rows **out, struct err *err) APP_MUST_CHECK;
/* The same for a statement that only reads, run on its own (no BEGIN and COMMIT around it: one
 * statement sees one snapshot anyway). */
int store_read1(struct store *s, struct arena *a, const char *sql, const struct store_val *args,
                size_t nargs, struct store_rows **out, struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- migrations */

/* Forward-only, versioned schema changes of one service. <sql> may hold several statements
 * separated by ';'. Where the dialects differ, <sql_sqlite> / <sql_postgres> replace <sql>
 * for that backend. */
struct store_migration {
    int version; /* 1, 2, 3, … without gaps */
    const char *name;
    const char *sql;
    const char *sql_sqlite;
    const char *sql_postgres;
};
/* Applies, in order and each in its own transaction, the migrations newer than the database's
 * recorded version, under a lock held for the whole run (an exclusive transaction on SQLite,
 * an advisory lock on PostgreSQL), so several processes starting at once apply each exactly
 * once. ERR_CONFLICT when the database is at a version newer than the code knows (an older
 * binary on a newer database) or a recorded migration's name differs. */
int store_migrate(struct store *s, const struct store_migration *m, size_t n,
                  struct err *err) APP_MUST_CHECK;
/* The same for a library that keeps tables in the service's database beside the service's
 * own (the workflow engine): set <set> (^[a-z][a-z0-9_]{0,30}$) has versions of its own,
 * recorded in the table <set>_schema_migrations. */
int store_migrate_set(struct store *s, const char *set, const struct store_migration *m, size_t n,
                      struct err *err) APP_MUST_CHECK;
/* The version applied so far (0 for a new database). */
int store_version(struct store *s, int *version, struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- PostgreSQL roles */

/* Distributed mode: with an administrator's connection URL, creates (if missing) a role
 * <service> with password <password> and a database <service> owned by it, and revokes
 * CONNECT on it from PUBLIC, so no other service's role can open it. Writes the service's
 * own URL into <url_out>. */
int store_pg_provision(const char *admin_url, const char *service, const char *password,
                       struct sbuf *url_out, struct err *err) APP_MUST_CHECK;

/* Opens the database of <service> ("gateway", "packager", …; ^[a-z][a-z0-9_]{0,62}$).
 * <base> says where the databases live: "" or "sqlite" → sqlite:<data_dir>/<service>.db;
 * an administrator's postgres:// URL → the database and role <service> on that server,
 * provisioned when missing (store_pg_provision), with a password derived from <secret>
 * (HMAC-SHA256 of "store:<service>"), so the same data directory finds its databases again
 * without keeping passwords anywhere. */
int store_open_service(const char *base, const char *data_dir, const char *service,
                       const unsigned char *secret, size_t secret_len, struct store **out,
                       struct err *err) APP_MUST_CHECK;

/* Runs "SELECT 1" on a connection of <s>: a readiness check. */
int store_ping(struct store *s, struct err *err) APP_MUST_CHECK;

/* Redacts the password of <url> into <out> ("postgres://gw:***@127.0.0.1:5432/gateway"). */
void store_url_redact(const char *url, struct sbuf *out);

/* ---------------------------------------------------------------- watching for commits */

/*
 * What a SQLite database looked like at one moment: two equal stamps read at two moments mean
 * nothing at all was committed between them, by any connection of any process (in WAL mode
 * every commit rewrites the WAL index header in the database's shared memory, and the stamp
 * is a copy of it). Lets a cache of what was read stay valid until the next commit, which a
 * write through this process, `slipway admin create` or sqlite3 by hand all make.
 */
struct store_stamp {
    uint32_t hdr[12]; /* the WAL index header (its first copy), as SQLite's file format has it */
};
struct store_watch;
/* Start-up, blocking. A watch of <s>'s database, or NULL with <why> saying why:
 * ERR_UNAVAILABLE for PostgreSQL (other processes may write where no stamp shows it) or a
 * SQLite database that is not a file with a WAL index; another code when SQLite failed. */
struct store_watch *store_watch_open(struct store *s, struct err *why);
/* After every thread that reads it has stopped. NULL is fine. */
void store_watch_close(struct store_watch *w);
/* Any thread, no lock, no system call: the stamp now. What is read from the database after
 * this call is read after the stamp. */
void store_watch_read(const struct store_watch *w, struct store_stamp *out);
bool store_stamp_eq(const struct store_stamp *a, const struct store_stamp *b);

/* ---------------------------------------------------------------- LISTEN/NOTIFY */

/*
 * Wakes the processes that share a PostgreSQL database (the workflow engine's) when one of
 * them commits work for the others. A notification is a hint, not data: whoever is woken reads
 * the database to learn what changed, and a process that was not listening gets nothing.
 * Identical notifications (channel and payload) of one transaction arrive once.
 */
struct store_listener;
/* PostgreSQL: a connection of its own, outside the pool, LISTENing on <channel>
 * (^[a-z][a-z0-9_]{0,62}$); ERR_UNAVAILABLE when the server cannot be reached. SQLite:
 * ERR_INVALID ("LISTEN needs PostgreSQL"), since one process owns a SQLite file and wakes
 * itself in memory. On success *out is the caller's (store_listener_close()). */
int store_listen(struct store *s, const char *channel, struct store_listener **out,
                 struct err *err) APP_MUST_CHECK;
/* Waits up to <timeout_ms> for notifications. 1 when at least one arrived (all that arrived
 * are consumed; the payload of the first is copied to <payload> when not NULL), 0 on timeout
 * or store_listener_wake(). When the connection is lost it reconnects (and LISTENs again)
 * and returns 1, since notifications may have been missed meanwhile; ERR_UNAVAILABLE only
 * while the server cannot be reached (the caller waits and calls again). One thread at a
 * time; <payload> is emptied first (its err is set when a payload does not fit). */
int store_listener_wait(struct store_listener *l, uint64_t timeout_ms, struct sbuf *payload,
                        struct err *err) APP_MUST_CHECK;
/* Any thread: makes a store_listener_wait() in progress (or the next one) return 0 at once. */
void store_listener_wake(struct store_listener *l);
/* Once no thread waits or wakes any more. NULL is fine. */
void store_listener_close(struct store_listener *l);
/* Sends a notification on <channel> with <payload> (at most 7999 bytes) when <tx> commits
 * ("SELECT pg_notify(?, ?)"); on SQLite it does nothing and returns 0. Both check the
 * arguments first (ERR_INVALID for a bad channel, or a payload too long, not UTF-8 or holding
 * a NUL), so what works on SQLite works on PostgreSQL and <tx> stays usable. */
int store_notify(struct store_tx *tx, const char *channel, struct slice payload,
                 struct err *err) APP_MUST_CHECK;

#endif
