/*
 * store: a watch on a SQLite database that tells, from any thread, without a lock or a system
 * call, whether anything was committed since an earlier look (the gateway's caller cache).
 *
 * In WAL mode every connection of every process that commits to the database rewrites the
 * WAL index header, in the shared memory of the database's -shm file, at the moment its
 * commit becomes visible to readers (SQLite's file format, "WAL-index format": the header's
 * change counter, frame count, salts and checksum). So a copy of that header read before
 * reading the database, compared with the header now, tells whether anything at all was
 * committed since: a write through this process, `slipway admin create`, or sqlite3 by hand.
 *
 * The header is reached through a private read-only connection of our own, whose VFS maps
 * the -shm region (xShmMap of the public sqlite3_io_methods). Opening the file ourselves
 * would not do: closing a descriptor of it drops every POSIX lock this process holds on it,
 * SQLite's included. While this connection is open, SQLite keeps the mapping, and the
 * connection's shared locks stop any other from resetting or deleting the -shm file.
 */
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "base/base.h"
#include "store/store-int.h"

/* The size of a WAL index region (sqlite's WALINDEX_PGSZ): the header is at the start of the
 * first. It must be the size SQLite maps with. */
#define WAL_INDEX_REGION (32 * 1024)

struct store_watch {
    sqlite3 *db;
    const volatile uint32_t *hdr; /* region 0 of the WAL index, mapped by SQLite */
};

/* The file of the database "main" of <s>, in <a>; NULL for an in-memory or temporary one. */
static int db_path(struct store *s, struct arena *a, const char **out, struct err *err)
{
    struct store_rows *r;
    int rc = store_query1(s, a, "PRAGMA database_list", NULL, 0, &r, err);

    *out = NULL;
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < r->nrows && r->ncols >= 3; i++) {
        const struct store_val *name = store_cell(r, i, 1), *file = store_cell(r, i, 2);

        if (name->type == STORE_T_TEXT && slice_eq_cstr(name->s, "main") &&
            file->type == STORE_T_TEXT && file->s.len > 0)
            *out = file->s.ptr; /* TEXT copied into <a> ends with a NUL */
    }
    return 0;
}

/* Opens <path> read-only, reads once (so the connection joins the WAL and keeps its shared
 * locks) and finds the first WAL index region; false with <why> set when it cannot. */
static bool watch_attach(struct store_watch *w, const char *path, struct err *why)
{
    sqlite3_file *f = NULL;
    void volatile *region = NULL;
    int rc = sqlite3_open_v2(path, &w->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_exec(w->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        err_set(why, ERR_IO, "SQLite cannot open %s to watch it: %s", path,
                w->db ? sqlite3_errmsg(w->db) : sqlite3_errstr(rc));
        return false;
    }
    rc = sqlite3_file_control(w->db, "main", SQLITE_FCNTL_FILE_POINTER, &f);
    if (rc != SQLITE_OK || f == NULL || f->pMethods == NULL || f->pMethods->iVersion < 2 ||
        f->pMethods->xShmMap == NULL ||
        f->pMethods->xShmMap(f, 0, WAL_INDEX_REGION, 0, &region) != SQLITE_OK || region == NULL) {
        err_set(why, ERR_UNAVAILABLE, "%s has no WAL index in shared memory", path);
        return false;
    }
    w->hdr = (const volatile uint32_t *)region;
    return true;
}

struct store_watch *store_watch_open(struct store *s, struct err *why)
{
    struct arena *a;
    struct store_watch *w = NULL;
    const char *path = NULL;

    if (store_kind(s) != STORE_SQLITE) {
        err_set(why, ERR_UNAVAILABLE, "PostgreSQL: other gateways may write to the database");
        return NULL;
    }
    a = arena_new(NULL);
    if (db_path(s, a, &path, why) == 0 && path == NULL)
        err_set(why, ERR_UNAVAILABLE, "the database is not a file");
    if (path != NULL) {
        w = xcalloc(1, sizeof(*w));
        if (!watch_attach(w, path, why)) {
            store_watch_close(w);
            w = NULL;
        }
    }
    arena_free(a);
    return w;
}

void store_watch_close(struct store_watch *w)
{
    if (w == NULL)
        return;
    sqlite3_close_v2(w->db); /* SQLite unmaps the region and releases its locks */
    free(w);
}

void store_watch_read(const struct store_watch *w, struct store_stamp *out)
{
    for (size_t i = 0; i < ARRAY_LEN(out->hdr); i++)
        out->hdr[i] = w->hdr[i];
    /* What is read after this (the database, on a worker) is read after the header. */
    atomic_thread_fence(memory_order_seq_cst);
}

bool store_stamp_eq(const struct store_stamp *a, const struct store_stamp *b)
{
    return memcmp(a->hdr, b->hdr, sizeof(a->hdr)) == 0;
}
