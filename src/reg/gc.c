/*
 * Garbage collection: mark every blob a manifest of any repository references, sweep the
 * rest once older than the grace period (a push in flight uploads its blobs before its
 * manifest), drop links to blobs that are gone and upload sessions that expired. It holds
 * gc_lock exclusively, so no request sees a half-swept store.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reg-int.h"

#define PATH_CAP 4096

/* <a>/<b> into <out>; false when it does not fit (the entry is skipped). */
static bool join(char out[PATH_CAP], const char *a, const char *b)
{
    int n = snprintf(out, PATH_CAP, "%s/%s", a, b);

    return n > 0 && n < PATH_CAP;
}

struct marks {
    char (*hex)[REG_HEX_LEN + 1];
    size_t n, cap;
};

static void mark(struct marks *m, const char *hex)
{
    if (strlen(hex) != REG_HEX_LEN)
        return;
    if (m->n == m->cap)
        m->hex = xrealloc(m->hex, (m->cap = m->cap ? m->cap * 2 : 256) * sizeof(*m->hex));
    memcpy(m->hex[m->n++], hex, REG_HEX_LEN + 1);
}

static int cmp_hex(const void *a, const void *b)
{
    return memcmp(a, b, REG_HEX_LEN);
}

static bool marked(const struct marks *m, const char *hex)
{
    return m->n > 0 && bsearch(hex, m->hex, m->n, sizeof(*m->hex), cmp_hex) != NULL;
}

static void mark_desc(struct marks *m, const json_t *d)
{
    const char *s = json_string_value(json_object_get(d, "digest"));
    char hex[REG_HEX_LEN + 1];

    if (s != NULL && reg_digest_parse(slice_from_cstr(s), hex, NULL) == 0)
        mark(m, hex);
}

/* Marks manifest <hex> and what it references. */
static void mark_manifest(struct reg *r, struct marks *m, const char *hex)
{
    char path[PATH_CAP];
    json_error_t jerr;
    json_t *doc, *d;
    size_t i;

    mark(m, hex);
    snprintf(path, sizeof(path), "%s/blobs/sha256/%.2s/%s", r->root, hex, hex);
    doc = json_load_file(path, 0, &jerr);
    if (doc == NULL)
        return;
    mark_desc(m, json_object_get(doc, "config"));
    json_array_foreach(json_object_get(doc, "layers"), i, d) mark_desc(m, d);
    json_array_foreach(json_object_get(doc, "manifests"), i, d) mark_desc(m, d);
    json_decref(doc);
}

typedef void link_fn(struct reg *r, const char *kind, const char *dir, const char *leaf, void *arg);

/* Calls fn for every link (kind "_blobs" or "_manifests") of every repository under <dir>. */
static void walk_links(struct reg *r, const char *dir, link_fn *fn, void *arg)
{
    char sub[PATH_CAP];
    struct dirent *e;
    DIR *d = opendir(dir), *ld;

    while (d != NULL && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (!join(sub, dir, e->d_name))
            continue;
        if (e->d_name[0] != '_') {
            walk_links(r, sub, fn, arg);
            continue;
        }
        if (strcmp(e->d_name, "_blobs") != 0 && strcmp(e->d_name, "_manifests") != 0)
            continue;
        ld = opendir(sub);
        for (struct dirent *l; ld != NULL && (l = readdir(ld)) != NULL;)
            if (l->d_name[0] != '.')
                fn(r, e->d_name, sub, l->d_name, arg);
        if (ld != NULL)
            closedir(ld);
    }
    if (d != NULL)
        closedir(d);
}

static void on_mark(struct reg *r, const char *kind, const char *dir, const char *leaf, void *arg)
{
    (void)dir;
    if (strcmp(kind, "_manifests") == 0)
        mark_manifest(r, arg, leaf);
}

static void on_dangling(struct reg *r, const char *kind, const char *dir, const char *leaf,
                        void *arg)
{
    struct reg_gc_stats *st = arg;
    char path[PATH_CAP];
    struct stat sb;

    snprintf(path, sizeof(path), "%s/blobs/sha256/%.2s/%s", r->root, leaf, leaf);
    if (strcmp(kind, "_blobs") != 0 || stat(path, &sb) == 0)
        return;
    if (join(path, dir, leaf) && unlink(path) == 0)
        st->links_removed++;
}

static bool older_than(const struct stat *sb, int64_t age_ms)
{
    int64_t mtime_ms = (int64_t)sb->st_mtim.tv_sec * 1000 + sb->st_mtim.tv_nsec / 1000000;

    return (int64_t)time_wall_ms() - mtime_ms >= age_ms;
}

typedef void entry_fn(const char *path, const char *name, void *arg);

/* Calls fn(<dir>/<name>, <name>, arg) for every entry of <dir> but the hidden ones. */
static void each_entry(const char *dir, entry_fn *fn, void *arg)
{
    char path[PATH_CAP];
    struct dirent *e;
    DIR *d = opendir(dir);

    while (d != NULL && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' && join(path, dir, e->d_name))
            fn(path, e->d_name, arg);
    if (d != NULL)
        closedir(d);
}

struct sweep {
    struct reg *r;
    const struct marks *m;
    int64_t grace_ms;
    struct reg_gc_stats *st;
};

static void sweep_blob(const char *path, const char *name, void *arg)
{
    struct sweep *sw = arg;
    struct stat sb;

    if (marked(sw->m, name) || stat(path, &sb) != 0 || !older_than(&sb, sw->grace_ms)) {
        sw->st->blobs_kept++;
        return;
    }
    if (unlink(path) == 0) {
        sw->st->blobs_removed++;
        sw->st->bytes_removed += (uint64_t)sb.st_size;
    }
}

/* blobs/sha256/<2 hex>: one directory of blobs. */
static void sweep_fanout(const char *path, const char *name, void *arg)
{
    (void)name;
    each_entry(path, sweep_blob, arg);
}

static void sweep_upload(const char *sub, const char *name, void *arg)
{
    struct sweep *sw = arg;
    char path[PATH_CAP];
    struct stat sb;

    (void)name;
    if (!join(path, sub, "data") || (stat(path, &sb) != 0 && stat(sub, &sb) != 0) ||
        !older_than(&sb, sw->r->cfg.upload_expiry_ms))
        return;
    unlink(path);
    if (join(path, sub, "repo"))
        unlink(path);
    if (rmdir(sub) == 0)
        sw->st->uploads_removed++;
}

int reg_gc(struct reg *r, int64_t grace_ms, struct reg_gc_stats *out, struct err *err)
{
    struct marks m = {0};
    struct sweep sw = {r, &m, grace_ms, out};
    char repos[PATH_CAP], dir[PATH_CAP];

    (void)err;
    memset(out, 0, sizeof(*out));
    if (grace_ms < 0)
        sw.grace_ms = r->cfg.gc_grace_ms;
    snprintf(repos, sizeof(repos), "%s/repos", r->root);
    pthread_rwlock_wrlock(&r->gc_lock);
    walk_links(r, repos, on_mark, &m);
    if (m.n > 0)
        qsort(m.hex, m.n, sizeof(*m.hex), cmp_hex);
    snprintf(dir, sizeof(dir), "%s/blobs/sha256", r->root);
    each_entry(dir, sweep_fanout, &sw);
    walk_links(r, repos, on_dangling, out);
    snprintf(dir, sizeof(dir), "%s/uploads", r->root);
    each_entry(dir, sweep_upload, &sw);
    pthread_rwlock_unlock(&r->gc_lock);
    free(m.hex);
    return 0;
}
