/*
 * The PostgreSQL backend of store, over libpq's synchronous API. One struct store_conn is
 * one PGconn plus a bounded cache of the statements prepared on it (SQL text → "s<n>").
 * Parameters go in text format (integers, text) or binary (blobs); results come back in text
 * format and are copied into the caller's arena, bytea unescaped to its bytes.
 * Every function blocks: worker threads only (see store.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include <libpq-fe.h>

#include "store/store-int.h"

#define STMT_MAX         64    /* prepared statements kept per connection */
#define PARAMS_MAX       65535 /* the protocol's limit on parameters */
#define MSG_MAX          1024  /* a libpq message, before it is cut to fit struct err */
#define OID_BOOL         16
#define OID_BYTEA        17
#define OID_INT8         20
#define OID_INT2         21
#define OID_INT4         23
#define OID_OID          26
#define ADVISORY_MIGRATE "7415669" /* the migration lock's key; any fixed number will do */

struct stmt {
    char *sql;     /* NULL: the slot is free */
    uint32_t hash; /* of sql, to skip most strcmp() */
    unsigned id;   /* prepared as "s<id>" */
    uint64_t used; /* conn->tick at the last use, for LRU eviction */
    bool stale;    /* its plan no longer fits the schema: prepare it again */
};

struct store_conn {
    PGconn *pg;
    struct stmt stmts[STMT_MAX];
    unsigned next_id;
    uint64_t tick;
};

/* ---------------------------------------------------------------- messages and errors */

/* Appends <s> to <out> with every occurrence of <secret> (when not empty) replaced by "***"
 * and line breaks made spaces, so a libpq message fits one log line and never shows it. */
static void put_scrubbed(struct sbuf *out, const char *s, const char *secret)
{
    size_t n = secret ? strlen(secret) : 0;

    while (*s != '\0') {
        if (n > 0 && strncmp(s, secret, n) == 0) {
            sbuf_puts(out, "***");
            s += n;
            continue;
        }
        sbuf_putc(out, *s == '\n' || *s == '\r' || *s == '\t' ? ' ' : *s);
        s++;
    }
}

/* err_set(<code>, "<prefix>: <msg>") with <secret> scrubbed from <msg> before any cut. */
static int set_scrubbed(struct err *err, int code, const char *prefix, const char *msg,
                        const char *secret)
{
    struct sbuf b = SBUF_INIT(MSG_MAX);
    struct slice t;
    int rc;

    put_scrubbed(&b, msg ? msg : "unknown error", secret);
    t = slice_trim(sbuf_slice(&b));
    rc = err_set(err, code, "%s: " SLICE_FMT, prefix, SLICE_ARG(t));
    sbuf_release(&b);
    return rc;
}

/* The ERR_* for a SQLSTATE (https://www.postgresql.org/docs/15/errcodes-appendix.html). */
static int sqlstate_code(const char *st)
{
    if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0)
        return ERR_CONFLICT; /* serialization failure, deadlock: the caller may retry */
    if (strcmp(st, "55P03") == 0 || strcmp(st, "57014") == 0)
        return ERR_TIMEOUT; /* lock_timeout, statement_timeout */
    if (strcmp(st, "08P01") == 0)
        return ERR_INVALID; /* protocol violation: e.g. a wrong number of arguments */
    if (strncmp(st, "57P", 3) == 0)
        return ERR_UNAVAILABLE; /* the server shuts down or is starting */
    if (strncmp(st, "23", 2) == 0)
        return ERR_CONFLICT;
    if (strncmp(st, "42", 2) == 0 || strncmp(st, "22", 2) == 0)
        return ERR_INVALID; /* bad SQL or a value the column type rejects */
    if (strncmp(st, "08", 2) == 0 || strncmp(st, "28", 2) == 0)
        return ERR_UNAVAILABLE;
    if (strncmp(st, "53", 2) == 0 || strncmp(st, "54", 2) == 0)
        return ERR_LIMIT;
    return ERR_INTERNAL;
}

/* Sets <err> from a failed result (or from the connection when <res> is NULL). */
static int result_error(PGconn *pg, const PGresult *res, struct err *err)
{
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *cons = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    int code = st ? sqlstate_code(st) : ERR_INTERNAL;
    char prefix[128];

    if (PQstatus(pg) != CONNECTION_OK)
        code = ERR_UNAVAILABLE;
    if (msg == NULL)
        msg = res ? PQresultErrorMessage(res) : PQerrorMessage(pg);
    if (cons != NULL && st != NULL && strncmp(st, "23", 2) == 0)
        snprintf(prefix, sizeof(prefix), "postgres %s: constraint %s", st, cons);
    else
        snprintf(prefix, sizeof(prefix), "postgres %s", st ? st : "error");
    return set_scrubbed(err, code, prefix, msg, NULL);
}

/* 0 when <res> succeeded; otherwise the mapped error. <res> stays the caller's. */
static int result_check(PGconn *pg, const PGresult *res, struct err *err)
{
    switch (res ? PQresultStatus(res) : PGRES_FATAL_ERROR) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_EMPTY_QUERY:
        return 0;
    default:
        return result_error(pg, res, err);
    }
}

/* PQexec(<sql>) with its result checked and cleared. */
static int exec_plain(PGconn *pg, const char *sql, struct err *err)
{
    PGresult *res = PQexec(pg, sql);
    int rc = result_check(pg, res, err);

    PQclear(res);
    return rc;
}

/* ---------------------------------------------------------------- connecting */

/* The password in <url>, found by libpq's own parser (user:pw@ or ?password=), so messages
 * can be scrubbed of it. NULL when there is none; free() it. ERR_INVALID for a bad URL. */
static int url_password(const char *url, char **out, struct err *err)
{
    char *why = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &why);

    *out = NULL;
    if (opts == NULL) {
        /* libpq quotes parts of a bad URL; the password cannot be found, so none is shown */
        PQfreemem(why);
        return err_set(err, ERR_INVALID, "postgres: the URL is not a valid libpq URI");
    }
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (strcmp(o->keyword, "password") == 0 && o->val != NULL && o->val[0] != '\0')
            *out = xstrdup(o->val);
    }
    PQconninfoFree(opts);
    return 0;
}

/* What PQconnectdbParams() and PQconnectStartParams() take: our defaults, then the URL as an
 * expanded dbname, so its own parameters win. */
struct conn_params {
    char timeout[32], app[80];
    const char *keys[5], *vals[5];
};

static void conn_params_init(struct conn_params *p, const char *url, const char *service,
                             uint64_t timeout_ms)
{
    static const char *const keys[] = {"connect_timeout", "application_name", "client_encoding",
                                       "dbname", NULL};

    snprintf(p->timeout, sizeof(p->timeout), "%" PRIu64, timeout_ms < 2000 ? 2 : timeout_ms / 1000);
    snprintf(p->app, sizeof(p->app), "slipway-%s", service ? service : "store");
    memcpy(p->keys, keys, sizeof(keys));
    p->vals[0] = p->timeout;
    p->vals[1] = p->app;
    p->vals[2] = "UTF8";
    p->vals[3] = url;
    p->vals[4] = NULL;
}

/* Checks <url> is a postgres:// URL libpq can take; *pw gets its password (the caller frees
 * it), so libpq's messages can be scrubbed of it. */
static int url_check(const char *url, char **pw, struct err *err)
{
    if (url == NULL || strncmp(url, "postgres", 8) != 0)
        return err_set(err, ERR_INVALID, "postgres: the URL must start with postgres://");
    return url_password(url, pw, err);
}

/* Connects to <url>, waiting at most <timeout_ms> (URL parameters win over our defaults).
 * On success *out is the caller's (PQfinish()). */
static int pg_open(const char *url, const char *service, uint64_t timeout_ms, PGconn **out,
                   struct err *err)
{
    struct conn_params p;
    char *pw = NULL;
    PGconn *pg;
    int rc;

    rc = url_check(url, &pw, err);
    if (rc < 0)
        return rc;
    conn_params_init(&p, url, service, timeout_ms);
    pg = PQconnectdbParams(p.keys, p.vals, 1);
    if (pg == NULL) {
        rc = err_set(err, ERR_LIMIT, "postgres: out of memory for a connection");
    } else if (PQstatus(pg) != CONNECTION_OK) {
        rc = set_scrubbed(err, ERR_UNAVAILABLE, "postgres: cannot connect", PQerrorMessage(pg), pw);
        PQfinish(pg);
    } else {
        *out = pg;
    }
    free(pw);
    return rc;
}

/* Server notices ("table does not exist, skipping") go to the debug log, not raw stderr. */
static void pg_notice(void *arg, const char *msg)
{
    static const struct log_ctx ctx = {.svc = "store"};
    struct slice m = slice_trim(slice_from_cstr(msg));

    (void)arg;
    if (m.len > 0 && m.ptr[m.len - 1] == '\n')
        m.len--;
    LOG_DEBUG(&ctx, "store.pg_notice", LF_SLICE("msg", m));
}

int store_pg_start(const char *url, const char *service, struct pg_conn **out, struct err *err)
{
    struct conn_params p;
    char *pw = NULL;
    PGconn *pg;
    int rc;

    *out = NULL;
    rc = url_check(url, &pw, err); /* a URL libpq would quote in its messages fails here */
    free(pw);
    if (rc < 0)
        return rc;
    conn_params_init(&p, url, service, 0); /* connect_timeout binds blocking connects only */
    pg = PQconnectStartParams(p.keys, p.vals, 1);
    if (pg == NULL)
        return err_set(err, ERR_LIMIT, "postgres: out of memory for a connection");
    PQsetNoticeProcessor(pg, pg_notice, NULL);
    *out = pg;
    return 0;
}

int store_pg_error(struct err *err, int code, const char *prefix, const char *msg, const char *url)
{
    char *pw = NULL;
    int rc;

    if (url != NULL && url_password(url, &pw, NULL) < 0)
        pw = NULL; /* a URL libpq cannot parse: store_pg_start() refused it already */
    rc = set_scrubbed(err, code, prefix, msg, pw);
    free(pw);
    return rc;
}

static int pg_connect(const struct store_opts *opts, struct store_conn **out, struct err *err)
{
    uint64_t busy = opts->busy_timeout_ms ? opts->busy_timeout_ms : 5000;
    char setup[160];
    struct store_conn *c;
    PGconn *pg = NULL;
    int rc;

    rc = pg_open(opts->url, opts->service, busy, &pg, err);
    if (rc < 0)
        return rc;
    /* lock_timeout is what busy_timeout means; statement_timeout is its own setting (0: none) */
    snprintf(setup, sizeof(setup),
             "SET synchronous_commit = on; SET statement_timeout = %" PRIu64
             "; SET lock_timeout = %" PRIu64,
             opts->statement_timeout_ms, busy);
    rc = exec_plain(pg, setup, err);
    if (rc < 0) {
        PQfinish(pg);
        return rc;
    }
    PQsetNoticeProcessor(pg, pg_notice, NULL);
    c = xcalloc(1, sizeof(*c));
    c->pg = pg;
    *out = c;
    return 0;
}

static void pg_disconnect(struct store_conn *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < STMT_MAX; i++)
        free(c->stmts[i].sql);
    PQfinish(c->pg); /* the session's prepared statements go with it */
    free(c);
}

static bool pg_alive(struct store_conn *c)
{
    return PQstatus(c->pg) == CONNECTION_OK;
}

/* ---------------------------------------------------------------- statement cache */

static uint32_t sql_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Deallocates <st> on the server and frees its slot. Fails in an aborted transaction (the
 * entry then stays, to be dropped on a later try). */
static int stmt_drop(struct store_conn *c, struct stmt *st, struct err *err)
{
    char sql[48];
    int rc;

    snprintf(sql, sizeof(sql), "DEALLOCATE s%u", st->id);
    rc = exec_plain(c->pg, sql, err);
    if (rc == 0) {
        FREE_AND_NULL(st->sql);
        st->stale = false;
    }
    return rc;
}

/* The slot to use for a new statement: a free one, or the least recently used one after
 * its server-side statement is deallocated. */
static int stmt_slot(struct store_conn *c, struct stmt **out, struct err *err)
{
    struct stmt *lru = &c->stmts[0];
    int rc;

    for (size_t i = 0; i < STMT_MAX; i++) {
        if (c->stmts[i].sql == NULL) {
            *out = &c->stmts[i];
            return 0;
        }
        if (c->stmts[i].used < lru->used)
            lru = &c->stmts[i];
    }
    rc = stmt_drop(c, lru, err);
    if (rc == 0)
        *out = lru;
    return rc;
}

/* Prepares <sql> into a free slot. Blob arguments fix their parameter's type as bytea so
 * "SELECT $1" and the like take bytes; the server infers every other type. */
static int stmt_prepare(struct store_conn *c, const char *sql, uint32_t hash,
                        const struct store_val *args, size_t nargs, struct stmt **out,
                        struct err *err)
{
    Oid *types = calloc(nargs + 1, sizeof(*types));
    struct stmt *st = NULL;
    char name[16];
    PGresult *res;
    int rc;

    if (types == NULL)
        return err_set(err, ERR_LIMIT, "postgres: no memory for %zu arguments", nargs);
    for (size_t i = 0; i < nargs; i++)
        types[i] = args[i].type == STORE_T_BLOB ? OID_BYTEA : 0;
    rc = stmt_slot(c, &st, err);
    if (rc == 0) {
        snprintf(name, sizeof(name), "s%u", c->next_id + 1);
        res = PQprepare(c->pg, name, sql, (int)nargs, types);
        rc = result_check(c->pg, res, err);
        PQclear(res);
    }
    free(types);
    if (rc < 0)
        return rc;
    st->sql = xstrdup(sql);
    st->hash = hash;
    st->id = ++c->next_id;
    *out = st;
    return 0;
}

/* The prepared statement for <sql>, made on first use. */
static int stmt_get(struct store_conn *c, const char *sql, const struct store_val *args,
                    size_t nargs, struct stmt **out, struct err *err)
{
    uint32_t hash = sql_hash(sql);
    int rc = 0;

    *out = NULL;
    for (size_t i = 0; i < STMT_MAX && *out == NULL; i++) {
        struct stmt *st = &c->stmts[i];

        if (st->sql != NULL && st->hash == hash && strcmp(st->sql, sql) == 0)
            *out = st;
    }
    if (*out != NULL && (*out)->stale) {
        rc = stmt_drop(c, *out, err);
        *out = NULL;
    }
    if (rc == 0 && *out == NULL)
        rc = stmt_prepare(c, sql, hash, args, nargs, out, err);
    if (rc == 0)
        (*out)->used = ++c->tick;
    return rc;
}

/* ---------------------------------------------------------------- parameters */

/* The arrays PQexecPrepared takes, in one allocation with the text of the values. */
struct params {
    const char **values;
    int *lengths;
    int *formats;
    void *mem;
};

/* Bytes of text the parameters need (an integer's decimal digits, a text's bytes, a NUL). */
static int params_size(const struct store_val *args, size_t nargs, size_t *out, struct err *err)
{
    size_t n = nargs * (sizeof(char *) + 2 * sizeof(int));

    for (size_t i = 0; i < nargs; i++) {
        const struct store_val *v = &args[i];

        if ((v->type == STORE_T_TEXT || v->type == STORE_T_BLOB) && v->s.len > INT_MAX)
            return err_set(err, ERR_LIMIT, "postgres: argument %zu is over 2 GiB", i + 1);
        if (v->type == STORE_T_TEXT && memchr(v->s.ptr, '\0', v->s.len) != NULL)
            return err_set(err, ERR_INVALID, "postgres: text argument %zu holds a NUL", i + 1);
        n += v->type == STORE_T_INT ? 24 : v->type == STORE_T_TEXT ? v->s.len + 1 : 0;
    }
    *out = n;
    return 0;
}

static void param_set(struct params *p, size_t i, const struct store_val *v, char **text)
{
    p->values[i] = NULL; /* SQL NULL */
    p->lengths[i] = 0;
    p->formats[i] = 0;
    if (v->type == STORE_T_INT) {
        p->values[i] = *text;
        *text += snprintf(*text, 24, "%" PRId64, v->i) + 1;
    } else if (v->type == STORE_T_TEXT) {
        p->values[i] = *text;
        if (v->s.len > 0)
            memcpy(*text, v->s.ptr, v->s.len);
        (*text)[v->s.len] = '\0';
        *text += v->s.len + 1;
    } else if (v->type == STORE_T_BLOB) {
        p->values[i] = v->s.len > 0 ? v->s.ptr : ""; /* NULL would mean SQL NULL */
        p->lengths[i] = (int)v->s.len;
        p->formats[i] = 1;
    }
}

/* Fills <p> from <args>; params_release() frees it. */
static int params_init(struct params *p, const struct store_val *args, size_t nargs,
                       struct err *err)
{
    size_t size = 0;
    char *text;
    int rc;

    memset(p, 0, sizeof(*p));
    if (nargs > PARAMS_MAX)
        return err_set(err, ERR_LIMIT, "postgres: %zu arguments, at most %d", nargs, PARAMS_MAX);
    rc = params_size(args, nargs, &size, err);
    if (rc < 0 || nargs == 0)
        return rc;
    p->mem = malloc(size);
    if (p->mem == NULL)
        return err_set(err, ERR_LIMIT, "postgres: no memory for %zu arguments", nargs);
    p->values = p->mem;
    p->lengths = (int *)(p->values + nargs);
    p->formats = p->lengths + nargs;
    text = (char *)(p->formats + nargs);
    for (size_t i = 0; i < nargs; i++)
        param_set(p, i, &args[i], &text);
    return 0;
}

static void params_release(struct params *p)
{
    FREE_AND_NULL(p->mem);
}

/* ---------------------------------------------------------------- results */

static int parse_int(const char *s, int64_t *out)
{
    char *end;
    long long v;

    if (s[0] == 't' || s[0] == 'f') { /* bool */
        *out = s[0] == 't';
        return s[1] == '\0' ? 0 : ERR_INTERNAL;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return ERR_INTERNAL;
    *out = v;
    return 0;
}

static bool oid_is_int(Oid t)
{
    return t == OID_INT8 || t == OID_INT4 || t == OID_INT2 || t == OID_BOOL || t == OID_OID;
}

/* Copies bytea's text form (hex or escape) as its bytes into <a>. */
static int cell_bytea(struct arena *a, const char *s, struct store_val *out)
{
    size_t n = 0;
    unsigned char *bytes = PQunescapeBytea((const unsigned char *)s, &n);
    char *p;

    if (bytes == NULL)
        return ERR_LIMIT;
    p = arena_strndup(a, (const char *)bytes, n);
    PQfreemem(bytes);
    if (p == NULL)
        return ERR_LIMIT;
    *out = SV_BLOB(((struct slice){p, n}));
    return 0;
}

/* One cell into <out>: 0, ERR_LIMIT (arena spent) or ERR_INTERNAL (not a number). */
static int cell_copy(struct arena *a, const PGresult *res, int row, int col, struct store_val *out)
{
    const char *s = PQgetvalue(res, row, col);
    Oid type = PQftype(res, col);
    char *p;

    if (PQgetisnull(res, row, col)) {
        *out = SV_NULL;
        return 0;
    }
    if (oid_is_int(type)) {
        *out = SV_INT(0);
        return parse_int(s, &out->i);
    }
    if (type == OID_BYTEA)
        return cell_bytea(a, s, out);
    p = arena_strndup(a, s, (size_t)PQgetlength(res, row, col));
    if (p == NULL)
        return ERR_LIMIT;
    *out = SV_TEXT(((struct slice){p, (size_t)PQgetlength(res, row, col)}));
    return 0;
}

/* The column names and row-major cells of <res>. */
static int rows_fill(struct arena *a, const PGresult *res, struct store_rows *r, struct err *err)
{
    for (size_t c = 0; c < r->ncols; c++) {
        r->names[c] = arena_strndup(a, PQfname(res, (int)c), strlen(PQfname(res, (int)c)));
        if (r->names[c] == NULL)
            return err_set(err, ERR_LIMIT, "postgres: the result does not fit in the arena");
    }
    for (size_t i = 0; i < r->nrows * r->ncols; i++) {
        int row = (int)(i / r->ncols), col = (int)(i % r->ncols);
        int rc = cell_copy(a, res, row, col, &r->vals[i]);

        if (rc == ERR_LIMIT)
            return err_set(err, rc, "postgres: %zu rows do not fit in the arena", r->nrows);
        if (rc < 0)
            return err_set(err, rc, "postgres: column %s: \"%s\" is not an integer",
                           PQfname(res, col), PQgetvalue(res, row, col));
    }
    return 0;
}

static int rows_copy(struct arena *a, const PGresult *res, struct store_rows **out, struct err *err)
{
    struct store_rows *r = arena_zalloc(a, sizeof(*r));

    if (r == NULL)
        return err_set(err, ERR_LIMIT, "postgres: the result does not fit in the arena");
    r->nrows = (size_t)PQntuples(res);
    r->ncols = (size_t)PQnfields(res);
    if (r->ncols > 0) {
        r->names = arena_alloc(a, r->ncols * sizeof(*r->names));
        /* nrows and ncols are ints: the product fits size_t on 64-bit hosts */
        r->vals = arena_alloc(a, (r->nrows * r->ncols + 1) * sizeof(*r->vals));
        if (r->names == NULL || r->vals == NULL)
            return err_set(err, ERR_LIMIT, "postgres: %zu rows do not fit in the arena", r->nrows);
    }
    *out = r;
    return rows_fill(a, res, r, err);
}

/* Rows changed: PQcmdTuples() for INSERT/UPDATE/DELETE/MERGE (with or without RETURNING),
 * 0 for SELECT and for commands without a count, as SQLite's changes() does. */
static int64_t result_changes(PGresult *res)
{
    const char *n = PQcmdTuples(res);
    uint64_t v = 0;

    if (strncmp(PQcmdStatus(res), "SELECT", 6) == 0)
        return 0;
    if (slice_to_u64(slice_from_cstr(n), &v) < 0 || v > INT64_MAX)
        return 0;
    return (int64_t)v;
}

/* ---------------------------------------------------------------- statements */

/* A cached statement whose result columns changed under it (ALTER TABLE after "SELECT *")
 * fails with 0A000 "cached plan must not change result type": it is prepared again on its
 * next use, and the caller gets ERR_CONFLICT (changed meanwhile), as a retry will work. */
static int plan_check(struct stmt *st, const PGresult *res, int rc, struct err *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    if (state == NULL || strcmp(state, "0A000") != 0)
        return rc;
    st->stale = true;
    if (err != NULL)
        err->code = ERR_CONFLICT;
    return ERR_CONFLICT;
}

static int pg_exec(struct store_conn *c, struct arena *a, const char *sql,
                   const struct store_val *args, size_t nargs, int64_t *changes,
                   struct store_rows **rows, struct err *err)
{
    struct params p;
    struct stmt *st;
    char name[16];
    PGresult *res;
    int rc;

    rc = params_init(&p, args, nargs, err);
    if (rc == 0)
        rc = stmt_get(c, sql, args, nargs, &st, err);
    if (rc < 0) {
        params_release(&p);
        return rc;
    }
    snprintf(name, sizeof(name), "s%u", st->id);
    res = PQexecPrepared(c->pg, name, (int)nargs, p.values, p.lengths, p.formats, 0);
    params_release(&p);
    rc = result_check(c->pg, res, err);
    if (rc < 0)
        rc = plan_check(st, res, rc, err);
    if (rc == 0 && changes != NULL)
        *changes = result_changes(res);
    if (rc == 0 && a != NULL && rows != NULL)
        rc = rows_copy(a, res, rows, err);
    PQclear(res);
    return rc;
}

/* PQexec(), which takes several statements. A COMMIT of a transaction in which a statement
 * failed "succeeds" as a ROLLBACK: that is reported, lest the caller think its data durable. */
static int pg_exec_script(struct store_conn *c, const char *sql, struct err *err)
{
    PGresult *res = PQexec(c->pg, sql);
    int rc = result_check(c->pg, res, err);

    if (rc == 0 && strcmp(PQcmdStatus(res), "ROLLBACK") == 0 && strcmp(sql, "ROLLBACK") != 0)
        rc = err_set(err, ERR_CONFLICT, "postgres: the transaction failed and was rolled back");
    PQclear(res);
    return rc;
}

const struct store_backend store_pg_backend = {
    .name = "postgres",
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .exec = pg_exec,
    .exec_script = pg_exec_script,
    .begin_sql = "BEGIN",
    .begin_read_sql = "BEGIN READ ONLY",
    .migrate_lock_sql = "SELECT pg_advisory_xact_lock(" ADVISORY_MIGRATE ")",
    .migrate_unlock_sql = NULL, /* the transaction's end releases the lock */
    .alive = pg_alive,
};

/* ---------------------------------------------------------------- provisioning */

/* Whether "SELECT 1 FROM <catalog> WHERE <column> = $1" finds <name>. */
static int catalog_has(PGconn *pg, const char *sql, const char *name, bool *found, struct err *err)
{
    PGresult *res = PQexecParams(pg, sql, 1, NULL, &name, NULL, NULL, 0);
    int rc = result_check(pg, res, err);

    if (rc == 0)
        *found = PQntuples(res) > 0;
    PQclear(res);
    return rc;
}

/* Appends <s> quoted as an identifier (<literal> false) or a literal to <sql>. */
static void put_quoted(PGconn *pg, struct sbuf *sql, const char *s, bool literal)
{
    char *q = literal ? PQescapeLiteral(pg, s, strlen(s)) : PQescapeIdentifier(pg, s, strlen(s));

    if (q == NULL && sql->err == 0)
        sql->err = ERR_INVALID; /* sticky, as sbuf's own errors */
    if (q != NULL)
        sbuf_puts(sql, q);
    PQfreemem(q);
}

/* Runs "<head> <ident> <mid> <tail>" where <ident> is quoted as an identifier and <tail>
 * (when not NULL) as an identifier or, with <tail_literal>, a literal. */
static int exec_quoted(PGconn *pg, const char *head, const char *ident, const char *mid,
                       const char *tail, bool tail_literal, struct err *err)
{
    struct sbuf sql = SBUF_INIT(4096);
    int rc;

    sbuf_puts(&sql, head);
    put_quoted(pg, &sql, ident, false);
    sbuf_puts(&sql, mid);
    if (tail != NULL)
        put_quoted(pg, &sql, tail, tail_literal);
    if (sql.err != 0)
        rc = err_set(err, sql.err, "postgres: cannot build the statement for %s", ident);
    else
        rc = exec_plain(pg, sql.buf, err);
    sbuf_release(&sql);
    return rc;
}

static int role_exists(PGconn *pg, const char *service, bool *found, struct err *err)
{
    return catalog_has(pg, "SELECT 1 FROM pg_roles WHERE rolname = $1", service, found, err);
}

/* The role <service> with <password>: made when missing, its password set when present (so
 * the URL written afterwards works). The server gets a SCRAM verifier, never the password. */
static int provision_role(PGconn *pg, const char *service, const char *password, struct err *err)
{
    bool found = false;
    char *verifier;
    int rc;

    rc = role_exists(pg, service, &found, err);
    if (rc < 0)
        return rc;
    verifier = PQencryptPasswordConn(pg, password, service, NULL);
    if (verifier == NULL)
        return set_scrubbed(err, ERR_INTERNAL, "postgres: cannot hash the password",
                            PQerrorMessage(pg), password);
    if (!found) {
        rc = exec_quoted(pg, "CREATE ROLE ", service, " LOGIN PASSWORD ", verifier, true, err);
        /* made meanwhile by a concurrent provisioning (42710): set its password below */
        if (rc < 0 && role_exists(pg, service, &found, NULL) == 0 && found)
            rc = 0;
        else
            found = false; /* made now: its password is set already */
    }
    if (rc == 0 && found)
        rc = exec_quoted(pg, "ALTER ROLE ", service, " LOGIN PASSWORD ", verifier, true, err);
    PQfreemem(verifier);
    return rc;
}

static int db_exists(PGconn *pg, const char *service, bool *found, struct err *err)
{
    return catalog_has(pg, "SELECT 1 FROM pg_database WHERE datname = $1", service, found, err);
}

/* The database <service> owned by the role <service>, closed to PUBLIC. CREATE DATABASE
 * cannot run in a transaction block: each statement here is one of its own. */
static int provision_db(PGconn *pg, const char *service, struct err *err)
{
    const char *owner_sql = "SELECT 1 FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
                            "WHERE d.datname = $1 AND r.rolname = d.datname";
    bool found = false, owned = false;
    int rc;

    rc = db_exists(pg, service, &found, err);
    if (rc == 0 && !found) {
        rc = exec_quoted(pg, "CREATE DATABASE ", service, " OWNER ", service, false, err);
        /* made meanwhile by a concurrent provisioning (42P04) */
        if (rc < 0 && db_exists(pg, service, &found, NULL) == 0 && found)
            rc = 0;
    }
    if (rc == 0)
        rc = catalog_has(pg, owner_sql, service, &owned, err);
    if (rc == 0 && !owned)
        return err_set(err, ERR_CONFLICT, "postgres: database %s exists, owned by another role",
                       service);
    if (rc == 0)
        rc = exec_quoted(pg, "REVOKE CONNECT, TEMPORARY ON DATABASE ", service, " FROM PUBLIC",
                         NULL, false, err);
    return rc;
}

/* Percent-encodes <s> for a URI's user-info or host part. */
static void put_uri_part(struct sbuf *out, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            strchr("-._~", ch) != NULL)
            sbuf_putc(out, (char)ch);
        else
            sbuf_printf(out, "%%%02X", ch);
    }
}

/* "postgres://<service>:<password>@<host>:<port>/<service>" for the server <pg> reaches. */
static int provision_url(PGconn *pg, const char *service, const char *password, struct sbuf *out,
                         struct err *err)
{
    const char *host = PQhost(pg), *port = PQport(pg);
    bool v6 = host != NULL && host[0] != '/' && strchr(host, ':') != NULL;

    sbuf_printf(out, "postgres://%s:", service);
    put_uri_part(out, password);
    sbuf_puts(out, v6 ? "@[" : "@");
    if (v6)
        sbuf_puts(out, host);
    else
        put_uri_part(out, host ? host : "localhost"); /* a socket directory is encoded */
    sbuf_printf(out, "%s:%s/%s", v6 ? "]" : "", port && port[0] ? port : "5432", service);
    if (out->err != 0)
        return err_set(err, out->err, "postgres: the URL does not fit in the buffer");
    return 0;
}

int store_pg_provision(const char *admin_url, const char *service, const char *password,
                       struct sbuf *url_out, struct err *err)
{
    PGconn *pg = NULL;
    int rc;

    if (service == NULL || !store_service_valid(service))
        return err_set(err, ERR_INVALID, "service: must match ^[a-z][a-z0-9_]{0,62}$");
    if (password == NULL || password[0] == '\0')
        return err_set(err, ERR_INVALID, "password: must not be empty");
    rc = pg_open(admin_url, "provision", 10000, &pg, err);
    if (rc < 0)
        return rc;
    rc = provision_role(pg, service, password, err);
    if (rc == 0)
        rc = provision_db(pg, service, err);
    if (rc == 0)
        rc = provision_url(pg, service, password, url_out, err);
    if (rc < 0)
        err_wrap(err, "provisioning %s", service);
    PQfinish(pg);
    return rc;
}
