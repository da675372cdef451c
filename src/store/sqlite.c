/*
 * store: the SQLite backend. One sqlite3 handle per connection, opened without SQLite's own
 * mutex (the pool lends a connection to one thread at a time), in WAL mode with
 * synchronous=FULL, so a commit is on disk when it returns. Each connection keeps its
 * prepared statements, keyed by SQL text, evicting the least recently used past STMT_CACHE.
 */
#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>

#include "store/store-int.h"

#define STMT_CACHE 64

struct stmt_slot {
    char *sql; /* NULL: the slot is free */
    uint64_t hash;
    uint64_t used; /* the connection's tick at the last use */
    sqlite3_stmt *st;
};

struct store_conn {
    sqlite3 *db;
    bool broken; /* the file or the handle failed: the pool replaces the connection */
    uint64_t tick;
    struct stmt_slot slots[STMT_CACHE];
};

/* Growing row storage while stepping; copied into the arena at the end. */
struct rowbuf {
    struct store_val *v;
    size_t n, cap;
};

/* ---------------------------------------------------------------- errors */

static int map_code(int xrc)
{
    switch (xrc & 0xff) {
    case SQLITE_CONSTRAINT:
        return ERR_CONFLICT;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return ERR_TIMEOUT;
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
    case SQLITE_PERM:
        return ERR_IO;
    case SQLITE_TOOBIG:
    case SQLITE_NOMEM:
        return ERR_LIMIT;
    case SQLITE_INTERNAL:
        return ERR_INTERNAL;
    default: /* SQLITE_ERROR (syntax, no such table), MISUSE, RANGE, MISMATCH, AUTH, … */
        return ERR_INVALID;
    }
}

static int fail(struct store_conn *c, int xrc, const char *msg, struct err *err)
{
    int code = map_code(xrc);
    int prim = xrc & 0xff;

    if (prim == SQLITE_IOERR || prim == SQLITE_CORRUPT || prim == SQLITE_NOTADB ||
        prim == SQLITE_CANTOPEN)
        c->broken = true;
    return err_set(err, code, "sqlite: %s", msg ? msg : sqlite3_errmsg(c->db));
}

/* ---------------------------------------------------------------- statement cache */

static uint64_t hash_sql(const char *s)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */

    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void slot_clear(struct stmt_slot *sl)
{
    sqlite3_finalize(sl->st);
    free(sl->sql);
    *sl = (struct stmt_slot){0};
}

/* A free slot, or the least recently used one emptied. */
static struct stmt_slot *slot_victim(struct store_conn *c)
{
    struct stmt_slot *v = &c->slots[0];
    size_t i;

    for (i = 0; i < STMT_CACHE; i++) {
        if (c->slots[i].sql == NULL)
            return &c->slots[i];
        if (c->slots[i].used < v->used)
            v = &c->slots[i];
    }
    slot_clear(v);
    return v;
}

static bool blank(const char *s)
{
    for (; *s != '\0'; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r' && *s != ';')
            return false;
    return true;
}

static int stmt_prepare(struct store_conn *c, const char *sql, sqlite3_stmt **out, struct err *err)
{
    const char *tail = NULL;
    int rc;

    rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, &tail);
    if (rc != SQLITE_OK)
        return fail(c, rc, NULL, err);
    if (*out == NULL)
        return err_set(err, ERR_INVALID, "sqlite: empty statement");
    if (tail != NULL && !blank(tail)) {
        sqlite3_finalize(*out);
        *out = NULL;
        return err_set(err, ERR_INVALID, "sqlite: one statement at a time (more follows: %.40s)",
                       tail);
    }
    return 0;
}

static int stmt_get(struct store_conn *c, const char *sql, sqlite3_stmt **out, struct err *err)
{
    uint64_t h = hash_sql(sql);
    struct stmt_slot *sl;
    size_t i;
    int rc;

    for (i = 0; i < STMT_CACHE; i++) {
        sl = &c->slots[i];
        if (sl->sql != NULL && sl->hash == h && strcmp(sl->sql, sql) == 0) {
            sl->used = ++c->tick;
            sqlite3_reset(sl->st);
            sqlite3_clear_bindings(sl->st);
            *out = sl->st;
            return 0;
        }
    }
    rc = stmt_prepare(c, sql, out, err);
    if (rc < 0)
        return rc;
    sl = slot_victim(c);
    *sl = (struct stmt_slot){xstrdup(sql), h, ++c->tick, *out};
    return 0;
}

/* ---------------------------------------------------------------- binding */

static int bind_one(sqlite3_stmt *st, int i, const struct store_val *v)
{
    /* A NULL pointer would bind SQL NULL: an empty TEXT or BLOB is "" of length 0. */
    const char *p = v->s.ptr != NULL ? v->s.ptr : "";

    switch (v->type) {
    case STORE_T_NULL:
        return sqlite3_bind_null(st, i);
    case STORE_T_INT:
        return sqlite3_bind_int64(st, i, v->i);
    case STORE_T_TEXT:
        return sqlite3_bind_text64(st, i, p, v->s.len, SQLITE_STATIC, SQLITE_UTF8);
    case STORE_T_BLOB:
        return sqlite3_bind_blob64(st, i, p, v->s.len, SQLITE_STATIC);
    }
    return SQLITE_MISUSE;
}

static int bind_all(struct store_conn *c, sqlite3_stmt *st, const struct store_val *args,
                    size_t nargs, struct err *err)
{
    int want = sqlite3_bind_parameter_count(st);
    size_t i;
    int rc;

    if ((size_t)want != nargs)
        return err_set(err, ERR_INVALID, "sqlite: the statement has %d placeholders, %zu args",
                       want, nargs);
    for (i = 0; i < nargs; i++) {
        rc = bind_one(st, (int)i + 1, &args[i]);
        if (rc != SQLITE_OK)
            return fail(c, rc, NULL, err);
    }
    return 0;
}

/* ---------------------------------------------------------------- results */

static int over_budget(struct err *err)
{
    return err_set(err, ERR_LIMIT, "sqlite: the result does not fit in the arena's budget");
}

static int rowbuf_grow(struct rowbuf *rb, size_t more, struct err *err)
{
    size_t cap = rb->cap ? rb->cap : 64;
    struct store_val *v;

    if (rb->n + more <= rb->cap)
        return 0;
    while (cap < rb->n + more)
        cap *= 2;
    if (cap > SIZE_MAX / sizeof(*v))
        return over_budget(err);
    v = realloc(rb->v, cap * sizeof(*v));
    if (v == NULL)
        return err_set(err, ERR_LIMIT, "sqlite: out of memory for %zu values", cap);
    rb->v = v;
    rb->cap = cap;
    return 0;
}

static int copy_cell(sqlite3_stmt *st, int col, struct arena *a, struct store_val *out)
{
    struct store_val v = SV_NULL;

    switch (sqlite3_column_type(st, col)) {
    case SQLITE_INTEGER:
        *out = SV_INT(sqlite3_column_int64(st, col));
        return 0;
    case SQLITE_BLOB:
        v.type = STORE_T_BLOB;
        v.s.ptr = sqlite3_column_blob(st, col);
        v.s.len = (size_t)sqlite3_column_bytes(st, col);
        break;
    case SQLITE_TEXT:
    case SQLITE_FLOAT: /* no REAL in the common dialect: its text form */
        v.type = STORE_T_TEXT;
        v.s.ptr = (const char *)sqlite3_column_text(st, col);
        v.s.len = (size_t)sqlite3_column_bytes(st, col);
        break;
    default:
        *out = SV_NULL;
        return 0;
    }
    return store_val_copy(a, &v, out);
}

static int copy_row(sqlite3_stmt *st, struct arena *a, size_t ncols, struct rowbuf *rb,
                    struct err *err)
{
    size_t i;
    int rc = rowbuf_grow(rb, ncols, err);

    for (i = 0; rc == 0 && i < ncols; i++)
        if (copy_cell(st, (int)i, a, &rb->v[rb->n++]) < 0)
            rc = over_budget(err);
    return rc;
}

static int copy_names(sqlite3_stmt *st, struct arena *a, struct store_rows *r, struct err *err)
{
    const char *name;
    size_t i;

    r->ncols = (size_t)sqlite3_column_count(st);
    r->names = arena_zalloc(a, (r->ncols ? r->ncols : 1) * sizeof(*r->names));
    if (r->names == NULL)
        return over_budget(err);
    for (i = 0; i < r->ncols; i++) {
        name = sqlite3_column_name(st, (int)i);
        r->names[i] = arena_strndup(a, name ? name : "", name ? strlen(name) : 0);
        if (r->names[i] == NULL)
            return over_budget(err);
    }
    return 0;
}

static int rows_finish(struct arena *a, struct store_rows *r, const struct rowbuf *rb,
                       struct err *err)
{
    if (rb->n == 0)
        return 0;
    r->vals = arena_alloc(a, rb->n * sizeof(*r->vals));
    if (r->vals == NULL)
        return over_budget(err);
    memcpy(r->vals, rb->v, rb->n * sizeof(*r->vals));
    return 0;
}

static int step_rows(struct store_conn *c, sqlite3_stmt *st, struct arena *a,
                     struct store_rows **out, struct err *err)
{
    struct store_rows *r = arena_zalloc(a, sizeof(*r));
    struct rowbuf rb = {0};
    int rc, src = SQLITE_DONE;

    if (r == NULL)
        return over_budget(err);
    rc = copy_names(st, a, r, err);
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
        rc = copy_row(st, a, r->ncols, &rb, err);
        r->nrows++;
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = fail(c, src, NULL, err);
    if (rc == 0)
        rc = rows_finish(a, r, &rb, err);
    free(rb.v);
    if (rc == 0)
        *out = r;
    return rc;
}

static int step_done(struct store_conn *c, sqlite3_stmt *st, struct err *err)
{
    int src;

    while ((src = sqlite3_step(st)) == SQLITE_ROW)
        ;
    return src == SQLITE_DONE ? 0 : fail(c, src, NULL, err);
}

/* ---------------------------------------------------------------- the backend */

static int sq_exec(struct store_conn *c, struct arena *a, const char *sql,
                   const struct store_val *args, size_t nargs, int64_t *changes,
                   struct store_rows **rows, struct err *err)
{
    sqlite3_stmt *st;
    int rc;

    if (rows != NULL)
        *rows = NULL;
    rc = stmt_get(c, sql, &st, err);
    if (rc < 0)
        return rc;
    rc = bind_all(c, st, args, nargs, err);
    if (rc == 0)
        rc = a != NULL ? step_rows(c, st, a, rows, err) : step_done(c, st, err);
    if (rc == 0 && changes != NULL)
        *changes = sqlite3_stmt_readonly(st) ? 0 : sqlite3_changes64(c->db);
    /* Reset at once: a statement left stepping would hold its read snapshot. */
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static int sq_exec_script(struct store_conn *c, const char *sql, struct err *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);

    if (rc != SQLITE_OK)
        rc = fail(c, sqlite3_extended_errcode(c->db), msg, err);
    sqlite3_free(msg);
    return rc;
}

static void sq_disconnect(struct store_conn *c)
{
    size_t i;

    if (c == NULL)
        return;
    for (i = 0; i < STMT_CACHE; i++)
        if (c->slots[i].sql != NULL)
            slot_clear(&c->slots[i]);
    sqlite3_close_v2(c->db);
    free(c);
}

static int wal_check(void *arg, int ncols, char **vals, char **names)
{
    (void)names;
    *(bool *)arg = ncols == 1 && vals[0] != NULL && strcmp(vals[0], "wal") == 0;
    return 0;
}

static int sq_setup(struct store_conn *c, const struct store_opts *opts, struct err *err)
{
    uint64_t ms = opts->busy_timeout_ms;
    bool wal = false;
    char *msg = NULL;
    int rc;

    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, ms > INT_MAX ? INT_MAX : (int)ms);
    rc = sqlite3_exec(c->db, "PRAGMA journal_mode=WAL", wal_check, &wal, &msg);
    if (rc != SQLITE_OK) {
        rc = fail(c, sqlite3_extended_errcode(c->db), msg, err);
        sqlite3_free(msg);
        return rc;
    }
    if (!wal)
        return err_set(err, ERR_IO, "sqlite: %s cannot use WAL mode", opts->url);
    return sq_exec_script(c, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", err);
}

static int sq_connect(const struct store_opts *opts, struct store_conn **out, struct err *err)
{
    struct store_conn *c = xcalloc(1, sizeof(*c));
    int rc;

    *out = NULL;
    rc = sqlite3_open_v2(opts->url, &c->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = err_set(err, map_code(rc), "sqlite: cannot open %s: %s", opts->url,
                     c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        goto fail;
    }
    rc = sq_setup(c, opts, err);
    if (rc < 0)
        goto fail;
    *out = c;
    return 0;

fail:
    sq_disconnect(c);
    return rc;
}

static bool sq_alive(struct store_conn *c)
{
    return !c->broken;
}

const struct store_backend store_sqlite_backend = {
    .name = "sqlite",
    .connect = sq_connect,
    .disconnect = sq_disconnect,
    .exec = sq_exec,
    .exec_script = sq_exec_script,
    /* Writers queue here, under the busy timeout, instead of failing at their first write. */
    .begin_sql = "BEGIN IMMEDIATE",
    .begin_read_sql = "BEGIN DEFERRED",
    /* BEGIN IMMEDIATE already excludes every other writer for the whole transaction. */
    .migrate_lock_sql = NULL,
    .migrate_unlock_sql = NULL,
    .alive = sq_alive,
};
