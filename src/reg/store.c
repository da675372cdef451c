/*
 * The registry's storage. Everything lives under one root:
 *
 *   blobs/sha256/<2 hex>/<64 hex>     content, named by its digest (manifests too)
 *   uploads/<id>/data, uploads/<id>/repo   an upload session: its bytes and its repository
 *   repos/<name>/_blobs/<hex>         empty links: the blobs readable in <name>
 *   repos/<name>/_manifests/<hex>     links holding the manifest's media type
 *   repos/<name>/_tags/<tag>          "<hex>" of the tagged manifest
 *
 * Name components cannot start with '_', so the link directories never clash with a nested
 * repository. A blob becomes visible only by rename() of a complete, fsynced, verified file,
 * so a crash leaves either no blob or a whole one; what a crash leaves behind in uploads/ is
 * removed by GC once expired. Readers hold gc_lock shared, reg_gc() exclusively.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reg-int.h"

int (*reg_fail_point)(const char *where);

static bool failing(const char *where)
{
    return reg_fail_point != NULL && reg_fail_point(where) != 0;
}

/* ---------------------------------------------------------------- paths and files */

#define PATH_CAP 4096

static void blob_path(const struct reg *r, const char *hex, char out[PATH_CAP])
{
    snprintf(out, PATH_CAP, "%s/blobs/sha256/%.2s/%s", r->root, hex, hex);
}

/* repos/<repo>/<kind>/<leaf> (leaf NULL: the directory). */
static void link_path(const struct reg *r, struct slice repo, const char *kind, struct slice leaf,
                      char out[PATH_CAP])
{
    if (leaf.ptr == NULL)
        snprintf(out, PATH_CAP, "%s/repos/" SLICE_FMT "/%s", r->root, SLICE_ARG(repo), kind);
    else
        snprintf(out, PATH_CAP, "%s/repos/" SLICE_FMT "/%s/" SLICE_FMT, r->root, SLICE_ARG(repo),
                 kind, SLICE_ARG(leaf));
}

static void upload_path(const struct reg *r, struct slice id, const char *leaf, char out[PATH_CAP])
{
    snprintf(out, PATH_CAP, "%s/uploads/" SLICE_FMT "%s%s", r->root, SLICE_ARG(id), leaf ? "/" : "",
             leaf ? leaf : "");
}

static int io_err(struct err *err, const char *what, const char *path)
{
    int e = errno;

    return err_set(err, e == ENOENT ? ERR_NOTFOUND : ERR_IO, "%s %s: %s", what, path, strerror(e));
}

/* mkdir -p of the directory holding <path> (or of <path> itself when <self>). */
static int mkdirs(const char *path, bool self, struct err *err)
{
    char buf[PATH_CAP];
    size_t n = strlen(path);

    memcpy(buf, path, n + 1);
    if (!self) {
        while (n > 0 && buf[n - 1] != '/')
            n--;
        if (n == 0)
            return 0;
        buf[n - 1] = '\0';
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0750) != 0 && errno != EEXIST)
            return io_err(err, "mkdir", buf);
        *p = '/';
    }
    if (mkdir(buf, 0750) != 0 && errno != EEXIST)
        return io_err(err, "mkdir", buf);
    return 0;
}

static void fsync_parent(const char *path)
{
    char dir[PATH_CAP];
    const char *slash = strrchr(path, '/');
    int fd;

    if (slash == NULL)
        return;
    snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Writes a small file atomically, making its directory first. */
static int small_write(const char *path, struct slice data, struct err *err)
{
    int rc = mkdirs(path, false, err);

    return rc < 0 ? rc : file_write_atomic(path, data.ptr ? data.ptr : "", data.len, 0640, err);
}

/* Reads a small file (at most <cap> - 1 bytes) as a NUL-terminated string. */
static int small_read(const char *path, char *buf, size_t cap, struct err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return io_err(err, "open", path);
    n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        return io_err(err, "read", path);
    buf[n] = '\0';
    return 0;
}

static bool exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

/* Marks a blob as just used, so a GC running now or soon keeps it for the grace period. */
static void touch(const char *path)
{
    (void)utimensat(AT_FDCWD, path, NULL, 0);
}

static void rdlock(struct reg *r)
{
    pthread_rwlock_rdlock(&r->gc_lock);
}

static void unlock(struct reg *r)
{
    pthread_rwlock_unlock(&r->gc_lock);
}

/* ---------------------------------------------------------------- blobs */

static int link_blob(struct reg *r, struct slice repo, const char *hex, struct err *err)
{
    char path[PATH_CAP];

    link_path(r, repo, "_blobs", slice_from_cstr(hex), path);
    if (exists(path))
        return 0;
    return small_write(path, SLICE_NULL, err);
}

/* The blob <hex> when <repo> links it (it exists and is linked). */
static int blob_visible(struct reg *r, struct slice repo, const char *hex, char path[PATH_CAP],
                        struct err *err)
{
    char lpath[PATH_CAP];

    link_path(r, repo, "_blobs", slice_from_cstr(hex), lpath);
    blob_path(r, hex, path);
    if (!exists(lpath) || !exists(path))
        return err_set(err, ERR_NOTFOUND, "blob unknown to the repository");
    return 0;
}

int reg_blob_open(struct reg *r, struct slice repo, const char *hex, int *fd, uint64_t *size,
                  struct err *err)
{
    char path[PATH_CAP];
    struct stat st;
    int rc;

    rdlock(r);
    rc = blob_visible(r, repo, hex, path, err);
    if (rc == 0 && (*fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        rc = io_err(err, "open", path);
    if (rc == 0 && fstat(*fd, &st) != 0) {
        rc = io_err(err, "stat", path);
        close(*fd);
    }
    unlock(r);
    if (rc == 0)
        *size = (uint64_t)st.st_size;
    return rc;
}

int reg_blob_unlink(struct reg *r, struct slice repo, const char *hex, struct err *err)
{
    char path[PATH_CAP];
    int rc = 0;

    link_path(r, repo, "_blobs", slice_from_cstr(hex), path);
    rdlock(r);
    if (unlink(path) != 0)
        rc = io_err(err, "unlink", path);
    unlock(r);
    return rc;
}

int reg_blob_mount(struct reg *r, struct slice repo, struct slice from, const char *hex,
                   struct err *err)
{
    char path[PATH_CAP];
    int rc;

    rdlock(r);
    rc = blob_visible(r, from, hex, path, err);
    if (rc == 0) {
        touch(path);
        rc = link_blob(r, repo, hex, err);
    }
    unlock(r);
    return rc;
}

/* ---------------------------------------------------------------- uploads */

int reg_upload_new(struct reg *r, struct slice repo, char id[37], struct err *err)
{
    char path[PATH_CAP];
    int fd, rc;

    id_new(id);
    upload_path(r, slice_from_cstr(id), "repo", path);
    rdlock(r);
    rc = small_write(path, repo, err);
    upload_path(r, slice_from_cstr(id), "data", path);
    if (rc == 0 && (fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640)) < 0)
        rc = io_err(err, "create", path);
    else if (rc == 0)
        close(fd);
    unlock(r);
    return rc;
}

/* Checks that session <id> exists and belongs to <repo>. */
static int upload_check(struct reg *r, struct slice repo, struct slice id, struct err *err)
{
    char path[PATH_CAP], owner[REG_NAME_MAX + 2];

    if (!id_valid(id))
        return err_set(err, ERR_NOTFOUND, "upload unknown");
    upload_path(r, id, "repo", path);
    if (small_read(path, owner, sizeof(owner), err) < 0 || !slice_eq_cstr(repo, owner))
        return err_set(err, ERR_NOTFOUND, "upload unknown to the repository");
    return 0;
}

int reg_upload_open(struct reg *r, struct slice repo, struct slice id, bool hash,
                    struct reg_writer *w, struct err *err)
{
    char path[PATH_CAP];
    struct stat st;
    int rc;

    memset(w, 0, sizeof(*w));
    w->fd = -1;
    rdlock(r);
    rc = upload_check(r, repo, id, err);
    upload_path(r, id, "data", path);
    if (rc == 0 && (w->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)) < 0)
        rc = io_err(err, "open", path);
    unlock(r);
    if (rc < 0)
        return rc;
    if (fstat(w->fd, &st) != 0) {
        reg_writer_close(w);
        return io_err(err, "stat", path);
    }
    w->offset = (uint64_t)st.st_size;
    if (hash && w->offset == 0) {
        w->md = EVP_MD_CTX_new();
        if (w->md == NULL || EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1) {
            reg_writer_close(w);
            return err_set(err, ERR_INTERNAL, "sha256: cannot start");
        }
    }
    return 0;
}

int reg_writer_write(struct reg_writer *w, struct slice data, struct err *err)
{
    size_t done = 0;

    while (done < data.len) {
        ssize_t n = write(w->fd, data.ptr + done, data.len - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return err_set(err, ERR_IO, "upload: write: %s", strerror(errno));
        done += (size_t)n;
    }
    if (w->md && EVP_DigestUpdate(w->md, data.ptr, data.len) != 1)
        return err_set(err, ERR_INTERNAL, "sha256: update failed");
    w->offset += data.len;
    return 0;
}

void reg_writer_close(struct reg_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    EVP_MD_CTX_free(w->md);
    w->md = NULL;
}

int reg_upload_size(struct reg *r, struct slice repo, struct slice id, uint64_t *size,
                    struct err *err)
{
    char path[PATH_CAP];
    struct stat st;
    int rc;

    rdlock(r);
    rc = upload_check(r, repo, id, err);
    upload_path(r, id, "data", path);
    if (rc == 0 && stat(path, &st) != 0)
        rc = io_err(err, "stat", path);
    unlock(r);
    if (rc == 0)
        *size = (uint64_t)st.st_size;
    return rc;
}

static void hex_of(const unsigned char *md, char hex[REG_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[REG_HEX_LEN] = '\0';
}

/* SHA-256 of the file <path>, read from the start. */
static int hash_file(const char *path, char hex[REG_HEX_LEN + 1], struct err *err)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char out[32];
    char *buf = xmalloc(1 << 20);
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
    ssize_t n;

    if (fd < 0)
        rc = io_err(err, "open", path);
    if (rc == 0 && (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1))
        rc = err_set(err, ERR_INTERNAL, "sha256: cannot start");
    while (rc == 0 && (n = read(fd, buf, 1 << 20)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = io_err(err, "read", path);
        else if (EVP_DigestUpdate(md, buf, (size_t)n) != 1)
            rc = err_set(err, ERR_INTERNAL, "sha256: update failed");
    }
    if (rc == 0 && EVP_DigestFinal_ex(md, out, NULL) != 1)
        rc = err_set(err, ERR_INTERNAL, "sha256: final failed");
    if (rc == 0)
        hex_of(out, hex);
    if (fd >= 0)
        close(fd);
    EVP_MD_CTX_free(md);
    free(buf);
    return rc;
}

/* rm -r of a session directory (two files at most). */
static void upload_remove(struct reg *r, struct slice id)
{
    char path[PATH_CAP];

    upload_path(r, id, "data", path);
    unlink(path);
    upload_path(r, id, "repo", path);
    unlink(path);
    upload_path(r, id, NULL, path);
    rmdir(path);
}

/* The digest of <w>'s bytes (its running one, or from the file), then fsync. */
static int writer_seal(struct reg_writer *w, const char *path, char hex[REG_HEX_LEN + 1],
                       struct err *err)
{
    unsigned char out[32];

    if (w != NULL && w->fd >= 0 && fsync(w->fd) != 0)
        return err_set(err, ERR_IO, "upload: fsync: %s", strerror(errno));
    if (w != NULL && w->md != NULL) {
        if (EVP_DigestFinal_ex(w->md, out, NULL) != 1)
            return err_set(err, ERR_INTERNAL, "sha256: final failed");
        hex_of(out, hex);
        return 0;
    }
    if (w == NULL || w->fd < 0) { /* not open here: make sure it is on disk */
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
            return io_err(err, "open", path);
        (void)fsync(fd);
        close(fd);
    }
    return hash_file(path, hex, err);
}

int reg_upload_finish(struct reg *r, struct slice repo, struct slice id, const char *hex,
                      struct reg_writer *w, struct err *err)
{
    char data[PATH_CAP], dest[PATH_CAP], got[REG_HEX_LEN + 1];
    bool crashed = false;
    int rc;

    rdlock(r);
    rc = upload_check(r, repo, id, err);
    upload_path(r, id, "data", data);
    if (rc == 0)
        rc = writer_seal(w, data, got, err);
    if (w != NULL)
        reg_writer_close(w);
    if (rc == 0 && strcmp(got, hex) != 0)
        rc = err_set(err, ERR_INVALID, "digest mismatch: the bytes have sha256:%s", got);
    blob_path(r, hex, dest);
    if (rc == 0 && exists(dest)) { /* pushed before (or by a concurrent session) */
        touch(dest);
    } else if (rc == 0) {
        rc = mkdirs(dest, false, err);
        if (rc == 0 && (crashed = failing("blob.before_rename")))
            rc = err_set(err, ERR_IO, "failure injected before rename");
        if (rc == 0 && rename(data, dest) != 0)
            rc = io_err(err, "rename", dest);
        if (rc == 0)
            fsync_parent(dest);
    }
    if (rc == 0)
        rc = link_blob(r, repo, hex, err);
    if (!crashed) /* a crash would leave the session behind, for GC */
        upload_remove(r, id);
    unlock(r);
    return rc;
}

int reg_upload_cancel(struct reg *r, struct slice repo, struct slice id, struct err *err)
{
    int rc;

    rdlock(r);
    rc = upload_check(r, repo, id, err);
    if (rc == 0)
        upload_remove(r, id);
    unlock(r);
    return rc;
}

/* ---------------------------------------------------------------- manifests */

static bool known_type(const char *mt)
{
    return strcmp(mt, REG_MT_OCI_MANIFEST) == 0 || strcmp(mt, REG_MT_OCI_INDEX) == 0 ||
           strcmp(mt, REG_MT_DOCKER_MANIFEST) == 0 || strcmp(mt, REG_MT_DOCKER_LIST) == 0;
}

static bool is_index(const char *mt)
{
    return strcmp(mt, REG_MT_OCI_INDEX) == 0 || strcmp(mt, REG_MT_DOCKER_LIST) == 0;
}

/* The hex of descriptor <d>'s digest. */
static int desc_hex(const json_t *d, const char *where, char hex[REG_HEX_LEN + 1], struct err *err)
{
    const char *s = json_string_value(json_object_get(d, "digest"));

    if (!json_is_object(d) || s == NULL)
        return err_set(err, ERR_INVALID, "%s: a descriptor needs a digest", where);
    if (reg_digest_parse(slice_from_cstr(s), hex, err) < 0)
        return err_wrap(err, "%s", where), ERR_INVALID;
    return 0;
}

/* Checks that what manifest <doc> references is in <repo>: blobs for an image manifest,
 * manifests for an index. Touches them (see touch()). */
static int refs_check(struct reg *r, struct slice repo, const json_t *doc, const char *mt,
                      struct err *err)
{
    char hex[REG_HEX_LEN + 1], path[PATH_CAP];
    const json_t *list = json_object_get(doc, is_index(mt) ? "manifests" : "layers");
    size_t i;
    json_t *d;
    int rc;

    if (!json_is_array(list))
        return err_set(err, ERR_INVALID, "manifest: %s must be an array",
                       is_index(mt) ? "manifests" : "layers");
    if (!is_index(mt)) {
        if ((rc = desc_hex(json_object_get(doc, "config"), "config", hex, err)) < 0)
            return rc;
        if (blob_visible(r, repo, hex, path, err) < 0)
            return err_set(err, ERR_NOTFOUND, "config blob sha256:%s is not in the repository",
                           hex);
        touch(path);
    }
    json_array_foreach(list, i, d)
    {
        if ((rc = desc_hex(d, is_index(mt) ? "manifests[]" : "layers[]", hex, err)) < 0)
            return rc;
        if (is_index(mt)) {
            link_path(r, repo, "_manifests", slice_from_cstr(hex), path);
            if (!exists(path))
                return err_set(err, ERR_NOTFOUND,
                               "child manifest sha256:%s is not in the repository", hex);
            blob_path(r, hex, path);
        } else if (blob_visible(r, repo, hex, path, err) < 0) {
            return err_set(err, ERR_NOTFOUND, "layer blob sha256:%s is not in the repository", hex);
        }
        touch(path);
    }
    return 0;
}

/* Parses <body> and settles its media type into <mt>. */
static int manifest_parse(struct slice body, const char *media_type, json_t **doc, char mt[128],
                          struct err *err)
{
    json_error_t jerr;
    const char *inner;

    *doc = json_loadb(body.ptr, body.len, JSON_REJECT_DUPLICATES, &jerr);
    if (*doc == NULL || !json_is_object(*doc))
        return err_set(err, ERR_INVALID, "manifest: not a JSON object");
    inner = json_string_value(json_object_get(*doc, "mediaType"));
    if (media_type == NULL || media_type[0] == '\0' || strcmp(media_type, "application/json") == 0)
        media_type = inner;
    if (media_type == NULL)
        media_type = json_object_get(*doc, "manifests") ? REG_MT_OCI_INDEX : REG_MT_OCI_MANIFEST;
    if (!known_type(media_type))
        return err_set(err, ERR_INVALID, "manifest: unsupported media type");
    if (inner != NULL && strcmp(inner, media_type) != 0)
        return err_set(err, ERR_INVALID, "manifest: mediaType differs from Content-Type");
    snprintf(mt, 128, "%s", media_type);
    return 0;
}

static void sha256_hex(struct slice data, char hex[REG_HEX_LEN + 1])
{
    unsigned char md[32];

    EVP_Digest(data.ptr, data.len, md, NULL, EVP_sha256(), NULL);
    hex_of(md, hex);
}

/* Stores the manifest's bytes as a blob: written whole, then renamed. */
static int manifest_store(struct reg *r, struct slice body, const char *hex, struct err *err)
{
    char path[PATH_CAP];

    blob_path(r, hex, path);
    if (exists(path)) {
        touch(path);
        return 0;
    }
    return small_write(path, body, err);
}

int reg_manifest_put(struct reg *r, struct slice repo, struct slice ref, const char *media_type,
                     struct slice body, char hex[REG_HEX_LEN + 1], struct err *err)
{
    char want[REG_HEX_LEN + 1], mt[128], path[PATH_CAP];
    bool by_digest = memchr(ref.ptr, ':', ref.len) != NULL;
    json_t *doc = NULL;
    int rc;

    if (by_digest && reg_digest_parse(ref, want, err) < 0)
        return ERR_CONFLICT;
    if (!by_digest && !reg_tag_valid(ref))
        return err_set(err, ERR_INVALID, "tag: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}");
    sha256_hex(body, hex);
    if (by_digest && strcmp(want, hex) != 0) {
        return err_set(err, ERR_CONFLICT, "the manifest's digest is sha256:%s", hex);
    }
    rdlock(r);
    rc = manifest_parse(body, media_type, &doc, mt, err);
    if (rc == 0)
        rc = refs_check(r, repo, doc, mt, err);
    if (rc == 0)
        rc = manifest_store(r, body, hex, err);
    link_path(r, repo, "_manifests", slice_from_cstr(hex), path);
    if (rc == 0)
        rc = small_write(path, slice_from_cstr(mt), err);
    link_path(r, repo, "_tags", ref, path);
    if (rc == 0 && !by_digest)
        rc = small_write(path, slice_from_cstr(hex), err);
    unlock(r);
    json_decref(doc);
    return rc;
}

/* The hex of manifest <ref> in <repo> (a tag is looked up). */
static int manifest_resolve(struct reg *r, struct slice repo, struct slice ref,
                            char hex[REG_HEX_LEN + 1], bool *by_digest, struct err *err)
{
    char path[PATH_CAP], buf[REG_HEX_LEN + 2];

    *by_digest = memchr(ref.ptr, ':', ref.len) != NULL;
    if (*by_digest)
        return reg_digest_parse(ref, hex, err) < 0 ? err_set(err, ERR_NOTFOUND, "manifest unknown")
                                                   : 0;
    if (!reg_tag_valid(ref))
        return err_set(err, ERR_NOTFOUND, "manifest unknown");
    link_path(r, repo, "_tags", ref, path);
    if (small_read(path, buf, sizeof(buf), err) < 0 || strlen(buf) != REG_HEX_LEN)
        return err_set(err, ERR_NOTFOUND, "manifest unknown");
    memcpy(hex, buf, REG_HEX_LEN + 1);
    return 0;
}

int reg_manifest_get(struct reg *r, struct slice repo, struct slice ref, struct sbuf *body,
                     char mt[128], char hex[REG_HEX_LEN + 1], struct err *err)
{
    char path[PATH_CAP];
    bool by_digest;
    ssize_t n;
    int fd = -1, rc;

    rdlock(r);
    rc = manifest_resolve(r, repo, ref, hex, &by_digest, err);
    link_path(r, repo, "_manifests", slice_from_cstr(hex), path);
    if (rc == 0 && small_read(path, mt, 128, err) < 0)
        rc = err_set(err, ERR_NOTFOUND, "manifest unknown");
    blob_path(r, hex, path);
    if (rc == 0 && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        rc = err_set(err, ERR_NOTFOUND, "manifest unknown");
    *body = SBUF_INIT(REG_MANIFEST_MAX);
    while (rc == 0) {
        char *p = sbuf_reserve(body, 65536);

        if (p == NULL) {
            rc = err_set(err, ERR_LIMIT, "manifest over %u bytes", REG_MANIFEST_MAX);
            break;
        }
        n = read(fd, p, 65536);
        if (n <= 0) {
            rc = n < 0 ? io_err(err, "read", path) : 0;
            break;
        }
        sbuf_commit(body, (size_t)n);
    }
    if (fd >= 0)
        close(fd);
    unlock(r);
    if (rc < 0)
        sbuf_release(body);
    return rc;
}

/* Removes the tags of <repo> that point to <hex>. */
static void untag(struct reg *r, struct slice repo, const char *hex)
{
    char dir[PATH_CAP], path[PATH_CAP], buf[REG_HEX_LEN + 2];
    struct dirent *e;
    struct err err;
    DIR *d;

    link_path(r, repo, "_tags", SLICE_NULL, dir);
    d = opendir(dir);
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        int n = snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);

        if (n > 0 && n < (int)sizeof(path) && small_read(path, buf, sizeof(buf), &err) == 0 &&
            strcmp(buf, hex) == 0)
            unlink(path);
    }
    closedir(d);
}

int reg_manifest_delete(struct reg *r, struct slice repo, struct slice ref, struct err *err)
{
    char hex[REG_HEX_LEN + 1], path[PATH_CAP];
    bool by_digest;
    int rc;

    rdlock(r);
    rc = manifest_resolve(r, repo, ref, hex, &by_digest, err);
    if (rc == 0 && !by_digest) {
        link_path(r, repo, "_tags", ref, path);
        rc = unlink(path) == 0 ? 0 : err_set(err, ERR_NOTFOUND, "manifest unknown");
    } else if (rc == 0) {
        link_path(r, repo, "_manifests", slice_from_cstr(hex), path);
        rc = unlink(path) == 0 ? 0 : err_set(err, ERR_NOTFOUND, "manifest unknown");
        if (rc == 0)
            untag(r, repo, hex);
    }
    unlock(r);
    return rc;
}

/* ---------------------------------------------------------------- tags */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int reg_tags_list(struct reg *r, struct slice repo, struct slice last, size_t n, struct sbuf *out,
                  char *last_out, size_t last_cap, bool *more, struct err *err)
{
    char dir[PATH_CAP], *lastz = last.ptr ? xstrndup(last.ptr, last.len) : NULL;
    char **tags = NULL;
    size_t count = 0, cap = 0, sent = 0;
    struct dirent *e;
    struct jw w;
    DIR *d;

    *more = false;
    last_out[0] = '\0';
    rdlock(r);
    link_path(r, repo, "", SLICE_NULL, dir); /* the repository itself */
    if (!exists(dir)) {
        unlock(r);
        free(lastz);
        return err_set(err, ERR_NOTFOUND, "repository unknown");
    }
    link_path(r, repo, "_tags", SLICE_NULL, dir);
    d = opendir(dir);
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || (lastz && strcmp(e->d_name, lastz) <= 0))
            continue;
        if (count == cap)
            tags = xrealloc(tags, (cap = cap ? cap * 2 : 64) * sizeof(*tags));
        tags[count++] = xstrdup(e->d_name);
    }
    if (d != NULL)
        closedir(d);
    unlock(r);
    if (count > 0)
        qsort(tags, count, sizeof(*tags), cmp_str);
    jw_init(&w, out);
    jw_arr_begin(&w);
    for (; sent < count && sent < n; sent++)
        jw_str(&w, tags[sent]);
    jw_arr_end(&w);
    *more = sent < count;
    if (sent > 0)
        snprintf(last_out, last_cap, "%s", tags[sent - 1]);
    for (size_t i = 0; i < count; i++)
        free(tags[i]);
    free(tags);
    free(lastz);
    return 0;
}
