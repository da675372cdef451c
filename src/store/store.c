/*
 * store: the backend-independent part. Picks the backend by URL scheme, keeps a pool of the
 * backend's connections, runs transactions and migrations, and translates '?' placeholders
 * for PostgreSQL. Backends (sqlite.c, pg.c) own their connections; this file owns when they
 * are made, lent, returned and dropped.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#include "store/store-int.h"

#define MAX_CONNS_CAP     1024
#define DEFAULT_MAX_CONNS 4
#define DEFAULT_BUSY_MS   5000
#define MIGRATION_ARENA   (4u << 20)
#define SQL_TRANSLATE_MAX (64u << 20)

struct store {
    const struct store_backend *be;
    enum store_kind kind;
    struct store_opts opts; /* url: the backend's part (the path for SQLite); strings owned */
    char *redacted;         /* the URL without its password, for logs and errors */
    struct log_ctx log;
    atomic_bool warned; /* a connection failure was logged; cleared by the next success */
    pthread_mutex_t lock;
    pthread_cond_t freed;     /* signalled when a connection is returned or dropped */
    struct store_conn **idle; /* guarded by lock: [opts.max_conns], a stack (warm caches) */
    unsigned nidle;           /* guarded by lock */
    unsigned nconns;          /* guarded by lock: idle + lent + being opened */
};

struct store_tx {
    struct store *s;
    struct store_conn *c;
    bool failed;     /* a statement failed: ask alive() before the connection goes back */
    bool autocommit; /* no BEGIN was sent: each statement is a transaction of its own */
};

/* The table recording a migration set's versions: "schema_migrations", or
 * "<set>_schema_migrations" for a library's set. */
struct mig_table {
    char name[64];
};

/* ---------------------------------------------------------------- opening */

static int pick_backend(struct store *s, const char *url, struct err *err)
{
    size_t scheme;

    if (url == NULL || *url == '\0')
        return err_set(err, ERR_INVALID, "store.url is empty");
    if (strncmp(url, "sqlite:", 7) == 0) {
        if (url[7] == '\0')
            return err_set(err, ERR_INVALID, "store.url: \"sqlite:\" needs a file path");
        s->be = &store_sqlite_backend;
        s->kind = STORE_SQLITE;
        s->opts.url = xstrdup(url + 7);
        return 0;
    }
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0) {
        s->be = &store_pg_backend;
        s->kind = STORE_POSTGRES;
        s->opts.url = xstrdup(url);
        return 0;
    }
    /* Only the scheme is named: the rest may hold a password. */
    scheme = strcspn(url, ":/@?");
    if (url[scheme] != ':')
        return err_set(err, ERR_INVALID,
                       "store.url has no scheme (want sqlite:<path> or postgres://…)");
    return err_set(err, ERR_INVALID,
                   "store.url: unknown scheme \"%.*s\" (want sqlite:<path> or postgres://…)",
                   (int)(scheme < 32 ? scheme : 32), url);
}

static void store_free(struct store *s)
{
    unsigned i;

    if (s == NULL)
        return;
    for (i = 0; i < s->nidle; i++)
        s->be->disconnect(s->idle[i]);
    free(s->idle);
    free((char *)s->opts.url);
    free((char *)s->opts.service);
    free(s->redacted);
    pthread_cond_destroy(&s->freed);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static void store_init_sync(struct store *s)
{
    pthread_mutex_init(&s->lock, NULL);
    cond_init_mono(&s->freed);
}

static int store_init_opts(struct store *s, const struct store_opts *opts, struct err *err)
{
    struct sbuf red = SBUF_INIT(4096);

    if (opts->max_conns > MAX_CONNS_CAP)
        return err_set(err, ERR_INVALID, "store.max_conns is %u, at most %u", opts->max_conns,
                       MAX_CONNS_CAP);
    s->opts.service = xstrdup(opts->service ? opts->service : "");
    s->opts.max_conns = opts->max_conns ? opts->max_conns : DEFAULT_MAX_CONNS;
    s->opts.busy_timeout_ms = opts->busy_timeout_ms ? opts->busy_timeout_ms : DEFAULT_BUSY_MS;
    s->opts.statement_timeout_ms = opts->statement_timeout_ms;
    store_url_redact(opts->url, &red);
    s->redacted = red.err ? xstrdup("(url too long)") : sbuf_take(&red, NULL);
    sbuf_release(&red);
    s->log.svc = "store";
    s->idle = xcalloc(s->opts.max_conns, sizeof(*s->idle));
    return 0;
}

/* Opens a connection; logs the first failure of a run of them, never the password. */
static int conn_open(struct store *s, struct store_conn **out, struct err *err)
{
    int rc;

    if (s->be->connect == NULL)
        return err_set(err, ERR_UNAVAILABLE, "store: the %s backend is not built in", s->be->name);
    rc = s->be->connect(&s->opts, out, err);
    if (rc == 0) {
        atomic_store(&s->warned, false);
        return 0;
    }
    if (!atomic_exchange(&s->warned, true))
        LOG_WARN(&s->log, "store.connect_failed", LF_STR("service", s->opts.service),
                 LF_STR("url", s->redacted), LF_STR("error", err ? err->msg : ""));
    return rc;
}

int store_open(const struct store_opts *opts, struct store **out, struct err *err)
{
    struct store *s = xcalloc(1, sizeof(*s));
    struct store_conn *c;
    int rc;

    *out = NULL;
    store_init_sync(s);
    s->be = &store_sqlite_backend; /* so store_free() has a disconnect to call */
    rc = pick_backend(s, opts->url, err);
    if (rc == 0)
        rc = store_init_opts(s, opts, err);
    if (rc < 0)
        goto fail;
    /* One connection now, so a bad path or an unreachable server fails here. */
    rc = conn_open(s, &c, err);
    if (rc < 0)
        goto fail;
    s->idle[s->nidle++] = c;
    s->nconns = 1;
    *out = s;
    return 0;

fail:
    store_free(s);
    return rc;
}

void store_close(struct store *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    ASSERT(s->nidle == s->nconns); /* every transaction has ended */
    pthread_mutex_unlock(&s->lock);
    store_free(s);
}

enum store_kind store_kind(const struct store *s)
{
    return s->kind;
}

const struct store_opts *store_opts_of(const struct store *s)
{
    return &s->opts;
}

struct store *store_tx_store(const struct store_tx *tx)
{
    return tx->s;
}

/* ---------------------------------------------------------------- pool */

static void conn_drop(struct store *s, struct store_conn *c)
{
    if (c != NULL)
        s->be->disconnect(c);
    pthread_mutex_lock(&s->lock);
    s->nconns--;
    pthread_cond_signal(&s->freed);
    pthread_mutex_unlock(&s->lock);
}

/* Returns <c> to the pool; after an error, only if the backend says it still works. */
static void conn_put(struct store *s, struct store_conn *c, bool check)
{
    if (check && s->be->alive != NULL && !s->be->alive(c)) {
        conn_drop(s, c);
        return;
    }
    pthread_mutex_lock(&s->lock);
    s->idle[s->nidle++] = c;
    pthread_cond_signal(&s->freed);
    pthread_mutex_unlock(&s->lock);
}

/* Lends a connection: an idle one, a new one while under max_conns, or the first one returned
 * within busy_timeout_ms. */
static int conn_get(struct store *s, struct store_conn **out, struct err *err)
{
    uint64_t deadline = time_mono_ns() + s->opts.busy_timeout_ms * 1000000u;
    int rc = 0, wrc = 0;

    pthread_mutex_lock(&s->lock);
    while (s->nidle == 0 && s->nconns >= s->opts.max_conns && wrc == 0)
        wrc = cond_wait_until(&s->freed, &s->lock, deadline);
    if (s->nidle > 0) {
        *out = s->idle[--s->nidle];
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    if (s->nconns >= s->opts.max_conns) {
        pthread_mutex_unlock(&s->lock);
        return err_set(err, ERR_TIMEOUT,
                       "store %s: no free connection within %" PRIu64 " ms (max_conns %u)",
                       s->opts.service, s->opts.busy_timeout_ms, s->opts.max_conns);
    }
    s->nconns++;
    pthread_mutex_unlock(&s->lock);
    rc = conn_open(s, out, err);
    if (rc < 0)
        conn_drop(s, NULL);
    return rc;
}

int store_warm(struct store *s, unsigned n, struct err *err)
{
    struct store_conn *c;
    int rc = 0;

    for (;;) {
        pthread_mutex_lock(&s->lock);
        if (s->nconns >= n || s->nconns >= s->opts.max_conns) {
            pthread_mutex_unlock(&s->lock);
            return rc;
        }
        s->nconns++;
        pthread_mutex_unlock(&s->lock);
        rc = conn_open(s, &c, err);
        if (rc < 0) {
            conn_drop(s, NULL);
            return rc;
        }
        conn_put(s, c, false);
    }
}

/* ---------------------------------------------------------------- transactions */

static void tx_end(struct store_tx *tx, bool drop)
{
    if (drop)
        conn_drop(tx->s, tx->c);
    else
        conn_put(tx->s, tx->c, tx->failed);
    free(tx);
}

/* Starts a transaction on a pooled connection. A connection found dead (the server restarted
 * while it sat idle) is replaced once. */
static int begin_with(struct store *s, const char *begin_sql, struct store_tx **out,
                      struct err *err)
{
    struct store_conn *c;
    int rc, attempt;

    *out = NULL;
    for (attempt = 0; attempt < 2; attempt++) {
        rc = conn_get(s, &c, err);
        if (rc < 0)
            return rc;
        rc = begin_sql ? s->be->exec_script(c, begin_sql, err) : 0;
        if (rc == 0)
            break;
        if (s->be->alive == NULL || s->be->alive(c)) {
            conn_put(s, c, false);
            return rc;
        }
        conn_drop(s, c);
    }
    if (rc < 0)
        return rc;
    *out = xcalloc(1, sizeof(**out));
    (*out)->s = s;
    (*out)->c = c;
    (*out)->autocommit = begin_sql == NULL;
    return 0;
}

int store_begin(struct store *s, struct store_tx **out, struct err *err)
{
    return begin_with(s, s->be->begin_sql, out, err);
}

int store_begin_read(struct store *s, struct store_tx **out, struct err *err)
{
    return begin_with(s, s->be->begin_read_sql, out, err);
}

int store_begin_single(struct store *s, struct store_tx **out, struct err *err)
{
    /* SQLite: a lone write outside BEGIN IMMEDIATE may fail at once with SQLITE_BUSY_SNAPSHOT
     * instead of waiting for another writer */
    return begin_with(s, s->kind == STORE_POSTGRES ? NULL : s->be->begin_sql, out, err);
}

/* Commits when <rc> is 0, else (or when the commit fails) rolls back. Returns the first error. */
static int tx_finish(struct store_tx *tx, int rc, struct err *err, bool *drop)
{
    const struct store_backend *be = tx->s->be;
    struct err scratch = {0};

    *drop = false;
    if (tx->autocommit)
        return rc; /* each statement committed (or failed) on its own */
    if (rc == 0)
        rc = be->exec_script(tx->c, "COMMIT", err);
    if (rc < 0) {
        tx->failed = true;
        /* A connection that cannot roll back may still be inside a transaction. */
        *drop = be->exec_script(tx->c, "ROLLBACK", &scratch) < 0;
    }
    return rc;
}

int store_commit(struct store_tx *tx, struct err *err)
{
    bool drop;
    int rc = tx_finish(tx, 0, err, &drop);

    tx_end(tx, drop);
    return rc;
}

void store_rollback(struct store_tx *tx)
{
    bool drop;

    if (tx == NULL)
        return;
    (void)tx_finish(tx, ERR_INVALID, NULL, &drop);
    tx_end(tx, drop);
}

static int tx_run(struct store_tx *tx, struct arena *a, const char *sql,
                  const struct store_val *args, size_t nargs, int64_t *changes,
                  struct store_rows **rows, struct err *err)
{
    struct sbuf buf = SBUF_INIT(SQL_TRANSLATE_MAX);
    int rc;

    if (changes != NULL)
        *changes = 0;
    if (tx->s->kind == STORE_POSTGRES) {
        store_sql_dollar(sql, &buf);
        if (buf.err != 0) {
            sbuf_release(&buf);
            return err_set(err, ERR_LIMIT, "store: statement over %u bytes", SQL_TRANSLATE_MAX);
        }
        sql = buf.buf;
    }
    rc = tx->s->be->exec(tx->c, a, sql, args, nargs, changes, rows, err);
    if (rc < 0) {
        tx->failed = true;
        if (rows != NULL)
            *rows = NULL; /* whatever the backend left there is partial */
    }
    sbuf_release(&buf);
    return rc;
}

int store_exec(struct store_tx *tx, const char *sql, const struct store_val *args, size_t nargs,
               int64_t *changes, struct err *err)
{
    return tx_run(tx, NULL, sql, args, nargs, changes, NULL, err);
}

int store_query(struct store_tx *tx, struct arena *a, const char *sql, const struct store_val *args,
                size_t nargs, struct store_rows **out, struct err *err)
{
    *out = NULL;
    if (NEVER(a == NULL))
        return err_set(err, ERR_INTERNAL, "store_query: no arena");
    return tx_run(tx, a, sql, args, nargs, NULL, out, err);
}

int store_exec1(struct store *s, const char *sql, const struct store_val *args, size_t nargs,
                int64_t *changes, struct err *err)
{
    struct store_tx *tx;
    int rc = store_begin(s, &tx, err);

    if (changes != NULL)
        *changes = 0;
    if (rc < 0)
        return rc;
    rc = store_exec(tx, sql, args, nargs, changes, err);
    if (rc < 0) {
        store_rollback(tx);
        return rc;
    }
    return store_commit(tx, err);
}

static int query_in_own_tx(struct store *s, bool read_only, struct arena *a, const char *sql,
                           const struct store_val *args, size_t nargs, struct store_rows **out,
                           struct err *err)
{
    struct store_tx *tx;
    /* One statement reads one snapshot by itself: no BEGIN and COMMIT around it, which on
     * PostgreSQL are two more round trips. */
    int rc = read_only ? begin_with(s, NULL, &tx, err) : store_begin(s, &tx, err);

    *out = NULL;
    if (rc < 0)
        return rc;
    rc = store_query(tx, a, sql, args, nargs, out, err);
    if (rc < 0) {
        store_rollback(tx);
        return rc;
    }
    rc = store_commit(tx, err);
    if (rc < 0)
        *out = NULL;
    return rc;
}

int store_query1(struct store *s, struct arena *a, const char *sql, const struct store_val *args,
                 size_t nargs, struct store_rows **out, struct err *err)
{
    return query_in_own_tx(s, false, a, sql, args, nargs, out, err);
}

int store_read1(struct store *s, struct arena *a, const char *sql, const struct store_val *args,
                size_t nargs, struct store_rows **out, struct err *err)
{
    return query_in_own_tx(s, true, a, sql, args, nargs, out, err);
}

/* ---------------------------------------------------------------- migrations */

static int migrations_check(const struct store_migration *m, size_t n, struct err *err)
{
    size_t i;

    if (n > INT32_MAX)
        return err_set(err, ERR_INVALID, "store_migrate: %zu migrations", n);
    for (i = 0; i < n; i++) {
        if (m[i].version != (int)i + 1)
            return err_set(err, ERR_INVALID,
                           "migrations[%zu].version is %d, expected %zu (1, 2, 3, … without gaps)",
                           i, m[i].version, i + 1);
        if (m[i].name == NULL || m[i].name[0] == '\0')
            return err_set(err, ERR_INVALID, "migration %d has no name", m[i].version);
    }
    return 0;
}

static int mig_table_init(struct mig_table *t, const char *set, struct err *err)
{
    size_t i, n = set == NULL ? 0 : strlen(set);

    if (n == 0) {
        memcpy(t->name, "schema_migrations", sizeof("schema_migrations"));
        return 0;
    }
    for (i = 0; i < n; i++)
        if (!((set[i] >= 'a' && set[i] <= 'z') || (i > 0 && set[i] == '_') ||
              (i > 0 && set[i] >= '0' && set[i] <= '9')))
            break;
    if (i < n || n > 30)
        return err_set(err, ERR_INVALID,
                       "migration set \"%.40s\" is not a lower-case name of at most 30 characters",
                       set);
    snprintf(t->name, sizeof(t->name), "%s_schema_migrations", set);
    return 0;
}

/* Begins a transaction holding the migration lock, with the set's table in place. */
static int mig_begin(struct store *s, const struct mig_table *t, struct store_tx **tx,
                     struct err *err)
{
    char sql[192];
    int rc = store_begin(s, tx, err);

    if (rc < 0)
        return rc;
    snprintf(sql, sizeof(sql),
             "CREATE TABLE IF NOT EXISTS %s (version INTEGER PRIMARY KEY, "
             "name TEXT NOT NULL, applied_at TEXT NOT NULL)",
             t->name);
    if (s->be->migrate_lock_sql != NULL)
        rc = s->be->exec_script((*tx)->c, s->be->migrate_lock_sql, err);
    if (rc == 0)
        rc = s->be->exec_script((*tx)->c, sql, err);
    if (rc < 0)
        (*tx)->failed = true;
    return rc;
}

/* Commits (rc == 0) or rolls back, releases the migration lock and frees <tx>. */
static int mig_end(struct store_tx *tx, int rc, struct err *err)
{
    const struct store_backend *be = tx->s->be;
    struct err scratch = {0};
    bool drop;

    rc = tx_finish(tx, rc, err, &drop);
    if (!drop && be->migrate_unlock_sql != NULL &&
        be->exec_script(tx->c, be->migrate_unlock_sql, &scratch) < 0)
        drop = true; /* closing the session releases a session lock */
    tx_end(tx, drop);
    return rc;
}

static int mig_row(const struct store_rows *r, size_t i, const struct store_migration *m, size_t n,
                   struct err *err)
{
    const struct store_val *v = store_cell(r, i, 0), *name = store_cell(r, i, 1);
    const struct store_val *last = store_cell(r, r->nrows - 1, 0);

    if (v->type != STORE_T_INT || name->type != STORE_T_TEXT || last->type != STORE_T_INT)
        return err_set(err, ERR_INTERNAL, "schema_migrations holds a row of the wrong types");
    if (last->i > (int64_t)n)
        return err_set(err, ERR_CONFLICT,
                       "the database is at schema version %" PRId64
                       ", newer than this code's %zu (an older binary on a newer database?)",
                       last->i, n);
    if (v->i != (int64_t)i + 1)
        return err_set(err, ERR_CONFLICT, "schema_migrations lacks version %zu", i + 1);
    if (!slice_eq_cstr(name->s, m[i].name))
        return err_set(err, ERR_CONFLICT,
                       "schema version %zu is recorded as \"%.*s\" but this code names it \"%s\"",
                       i + 1, (int)(name->s.len < 64 ? name->s.len : 64), name->s.ptr, m[i].name);
    return 0;
}

/* Reads what schema_migrations records, checks it against <m> and gives the version. */
static int mig_recorded(struct store_tx *tx, const struct mig_table *t,
                        const struct store_migration *m, size_t n, int *version, struct err *err)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = MIGRATION_ARENA});
    struct store_rows *r;
    char sql[128];
    size_t i;
    int rc;

    snprintf(sql, sizeof(sql), "SELECT version, name FROM %s ORDER BY version", t->name);
    rc = store_query(tx, a, sql, NULL, 0, &r, err);
    for (i = 0; rc == 0 && i < r->nrows; i++)
        rc = mig_row(r, i, m, n, err);
    if (rc == 0)
        *version = (int)r->nrows;
    arena_free(a);
    return rc;
}

static int mig_apply(struct store_tx *tx, const struct mig_table *t,
                     const struct store_migration *m, struct err *err)
{
    const char *sql = tx->s->kind == STORE_POSTGRES ? m->sql_postgres : m->sql_sqlite;
    char ts[32], ins[128];
    int rc;

    if (sql == NULL)
        sql = m->sql;
    if (sql == NULL)
        return err_set(err, ERR_INVALID, "migration %d (%s) has no SQL for %s", m->version, m->name,
                       tx->s->be->name);
    rc = tx->s->be->exec_script(tx->c, sql, err);
    if (rc < 0) {
        tx->failed = true;
        return err_wrap(err, "migration %d (%s)", m->version, m->name);
    }
    time_rfc3339_ms(time_wall_ms(), ts);
    snprintf(ins, sizeof(ins), "INSERT INTO %s (version, name, applied_at) VALUES (?, ?, ?)",
             t->name);
    rc =
        store_exec(tx, ins, (struct store_val[]){SV_INT(m->version), SV_CSTR(m->name), SV_CSTR(ts)},
                   3, NULL, err);
    return rc < 0 ? err_wrap(err, "migration %d (%s)", m->version, m->name) : 0;
}

/* Applies the next pending migration under the lock. 1 when one was applied, 0 when the
 * database is up to date, or a negative ERR_*. */
static int mig_step(struct store *s, const struct mig_table *t, const struct store_migration *m,
                    size_t n, struct err *err)
{
    struct store_tx *tx;
    int rc, version = 0;
    bool applied = false;

    rc = mig_begin(s, t, &tx, err);
    if (rc < 0 && tx == NULL)
        return rc;
    if (rc == 0)
        rc = mig_recorded(tx, t, m, n, &version, err);
    if (rc == 0 && (size_t)version < n) {
        rc = mig_apply(tx, t, &m[version], err);
        applied = rc == 0;
    }
    rc = mig_end(tx, rc, err);
    if (rc == 0 && applied)
        LOG_INFO(&s->log, "store.migrated", LF_STR("service", s->opts.service),
                 LF_STR("table", t->name), LF_INT("version", m[version].version),
                 LF_STR("name", m[version].name));
    return rc < 0 ? rc : applied;
}

int store_migrate_set(struct store *s, const char *set, const struct store_migration *m, size_t n,
                      struct err *err)
{
    struct mig_table t;
    int rc = mig_table_init(&t, set, err);

    if (rc == 0)
        rc = migrations_check(m, n, err);
    if (rc < 0)
        return rc;
    do
        rc = mig_step(s, &t, m, n, err);
    while (rc == 1);
    return rc;
}

int store_migrate(struct store *s, const struct store_migration *m, size_t n, struct err *err)
{
    return store_migrate_set(s, NULL, m, n, err);
}

int store_version(struct store *s, int *version, struct err *err)
{
    struct arena *a;
    struct store_rows *r;
    struct store_tx *tx;
    int rc;

    *version = 0;
    rc = mig_begin(s, &(struct mig_table){.name = "schema_migrations"}, &tx, err);
    if (rc < 0 && tx == NULL)
        return rc;
    a = arena_new(&(struct arena_opts){.budget = 64 << 10});
    if (rc == 0)
        rc = store_query(tx, a, "SELECT MAX(version) FROM schema_migrations", NULL, 0, &r, err);
    if (rc == 0 && r->nrows == 1 && store_cell(r, 0, 0)->type == STORE_T_INT)
        *version = (int)store_cell(r, 0, 0)->i;
    arena_free(a);
    return mig_end(tx, rc, err);
}

/* ---------------------------------------------------------------- placeholders */

static bool ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '$' || (unsigned char)c >= 0x80;
}

/* Length of the quoted run starting at <p> and ending with <q> ('' or "" inside it stand for
 * one quote; <backslash>: E'…' strings, where \ escapes the next byte). */
static size_t quoted_len(const char *p, char q, bool backslash)
{
    const char *e = p + 1;

    for (; *e != '\0'; e++) {
        if (backslash && *e == '\\' && e[1] != '\0')
            e++;
        else if (*e == q && e[1] == q)
            e++;
        else if (*e == q)
            return (size_t)(e + 1 - p);
    }
    return (size_t)(e - p); /* unterminated: the rest is inside */
}

/* Length of a block comment at <p>; PostgreSQL nests them. */
static size_t comment_len(const char *p)
{
    const char *e = p + 2;
    unsigned depth = 1;

    while (*e != '\0' && depth > 0) {
        if (e[0] == '/' && e[1] == '*') {
            depth++;
            e += 2;
        } else if (e[0] == '*' && e[1] == '/') {
            depth--;
            e += 2;
        } else {
            e++;
        }
    }
    return (size_t)(e - p);
}

/* Length of a PostgreSQL dollar-quoted string ($$…$$, $tag$…$tag$) at <p>, 0 if none. */
static size_t dollar_len(const char *p)
{
    size_t tag = 1;
    const char *end;

    while (ident_char(p[tag]) && p[tag] != '$' && !(tag == 1 && p[1] >= '0' && p[1] <= '9'))
        tag++;
    if (p[tag] != '$')
        return 0;
    tag++;
    for (end = p + tag; (end = strchr(end, '$')) != NULL; end++)
        if (strncmp(end, p, tag) == 0)
            return (size_t)(end + tag - p);
    return strlen(p);
}

/* Length of the literal, quoted identifier or comment starting at <p>, 0 if none. */
static size_t skip_len(const char *start, const char *p)
{
    bool after_ident = p > start && ident_char(p[-1]);

    switch (*p) {
    case '\'':
        return quoted_len(p, '\'',
                          after_ident && (p[-1] == 'E' || p[-1] == 'e') &&
                              (p - 1 == start || !ident_char(p[-2])));
    case '"':
        return quoted_len(p, '"', false);
    case '-':
        return p[1] == '-' ? strcspn(p, "\n") : 0;
    case '/':
        return p[1] == '*' ? comment_len(p) : 0;
    case '$':
        return after_ident ? 0 : dollar_len(p);
    default:
        return 0;
    }
}

void store_sql_dollar(const char *sql, struct sbuf *out)
{
    const char *p = sql;
    unsigned n = 0;
    size_t skip;

    while (*p != '\0') {
        skip = skip_len(sql, p);
        if (skip > 0) {
            sbuf_put(out, p, skip);
            p += skip;
        } else if (*p == '?') {
            sbuf_printf(out, "$%u", ++n);
            p++;
        } else {
            sbuf_putc(out, *p++);
        }
    }
}

/* ---------------------------------------------------------------- values, URLs */

int store_val_copy(struct arena *a, const struct store_val *in, struct store_val *out)
{
    char *p;

    *out = *in;
    if (in->type != STORE_T_TEXT && in->type != STORE_T_BLOB) {
        out->s = SLICE_NULL;
        return 0;
    }
    if (in->s.len == SIZE_MAX)
        return ERR_LIMIT;
    p = arena_alloc(a, in->s.len + 1);
    if (p == NULL)
        return ERR_LIMIT;
    if (in->s.len > 0)
        memcpy(p, in->s.ptr, in->s.len);
    p[in->s.len] = '\0';
    out->s = (struct slice){p, in->s.len};
    return 0;
}

/* Writes <s>, with the value of every "password=" parameter replaced by "***". */
static void redact_params(struct slice s, struct sbuf *out)
{
    static const char key[] = "password=";
    size_t i = 0, end;

    while (i < s.len) {
        bool at_start = i == 0 || s.ptr[i - 1] == '?' || s.ptr[i - 1] == '&' || s.ptr[i - 1] == ' ';
        if (at_start && s.len - i >= sizeof(key) - 1 &&
            strncasecmp(s.ptr + i, key, sizeof(key) - 1) == 0) {
            sbuf_put(out, s.ptr + i, sizeof(key) - 1);
            sbuf_puts(out, "***");
            for (end = i + sizeof(key) - 1;
                 end < s.len && s.ptr[end] != '&' && s.ptr[end] != '#' && s.ptr[end] != ' '; end++)
                ;
            i = end;
        } else {
            sbuf_putc(out, s.ptr[i++]);
        }
    }
}

void store_url_redact(const char *url, struct sbuf *out)
{
    struct slice u = slice_from_cstr(url ? url : "");
    const char *sep = strstr(u.ptr, "://");
    size_t start, auth_end, at, colon;

    if (sep == NULL) {
        redact_params(u, out);
        return;
    }
    start = (size_t)(sep - u.ptr) + 3;
    auth_end = start + strcspn(u.ptr + start, "/?#");
    for (at = auth_end; at > start && u.ptr[at - 1] != '@'; at--)
        ;
    if (at == start) { /* no user info */
        redact_params(u, out);
        return;
    }
    for (colon = start; colon < at - 1 && u.ptr[colon] != ':'; colon++)
        ;
    if (colon == at - 1) { /* a user without a password */
        redact_params(u, out);
        return;
    }
    sbuf_put(out, u.ptr, colon + 1);
    sbuf_puts(out, "***");
    redact_params((struct slice){u.ptr + at - 1, u.len - (at - 1)}, out);
}
