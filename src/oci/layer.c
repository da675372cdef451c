/*
 * Reproducible layers: a tar of a tree (or of entries gathered from several places) that
 * depends only on the names, contents, modes and link targets of what it holds. Entries are
 * collected first (lstat, never following a symlink), sorted bytewise, then written as
 * ustar headers (pax records for what ustar cannot hold) with one owner and one mtime and
 * no user names. The tar is hashed (diff_id), compressed and hashed again (digest) as it
 * streams into a temporary file, which is then renamed into the blob store.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>
#include <zstd.h>

#include "oci/oci-int.h"

#define TAR_BLOCK   512
#define IN_CAP      (256u << 10) /* tar bytes gathered before they are hashed and compressed */
#define OUT_CAP     (256u << 10)
#define PIECE       (64u << 10) /* gzip: each piece is compressed or stored */
#define SYNC_STEP   (8u << 20)  /* bytes written between writeback hints */
#define MAX_DEPTH   256
#define MAX_ENTRIES (4u << 20)

/* ---------------------------------------------------------------- blob store */

static int mkdir_one(const char *path, struct err *err)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return err_set(err, err_from_errno(errno), "mkdir %s: %s", path, strerror(errno));
    return 0;
}

int oci_store_init(const char *store, struct err *err)
{
    char path[OCI_PATH_CAP];
    int rc;

    if (snprintf(path, sizeof(path), "%s/blobs/sha256", store) >= (int)sizeof(path))
        return err_set(err, ERR_INVALID, "store path too long");
    if ((rc = mkdir_one(store, err)) < 0)
        return rc;
    path[strlen(path) - strlen("/sha256")] = '\0';
    if ((rc = mkdir_one(path, err)) < 0)
        return rc;
    path[strlen(path)] = '/';
    return mkdir_one(path, err);
}

int oci_blob_path(const char *store, const char *digest, char out[OCI_PATH_CAP], struct err *err)
{
    if (!oci_digest_valid(slice_from_cstr(digest)))
        return err_set(err, ERR_INVALID, "not a sha256 digest: %.80s", digest);
    if (snprintf(out, OCI_PATH_CAP, "%s/blobs/sha256/%s", store, digest + 7) >= OCI_PATH_CAP)
        return err_set(err, ERR_INVALID, "store path too long");
    return 0;
}

int oci_digest_final(EVP_MD_CTX *md, char out[OCI_DIGEST_SIZE], struct err *err)
{
    unsigned char bin[32];
    unsigned len = 0;

    if (EVP_DigestFinal_ex(md, bin, &len) != 1 || len != sizeof(bin))
        return err_set(err, ERR_INTERNAL, "sha256: final failed");
    memcpy(out, "sha256:", 7);
    for (unsigned i = 0; i < len; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", bin[i]);
    return 0;
}

static int fsync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_RDONLY | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

int oci_blob_publish(const char *store, const char *tmp, const char *digest, struct err *err)
{
    char path[OCI_PATH_CAP];
    int rc = oci_blob_path(store, digest, path, err);

    if (rc < 0)
        goto fail;
    /* RENAME_NOREPLACE keeps a blob that is already there (it is the same bytes); a file
     * system without it falls back to a plain rename, which replaces it with equal bytes. */
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) != 0) {
        if (errno == EEXIST)
            unlink(tmp);
        else if (errno != EINVAL || rename(tmp, path) != 0) {
            rc = err_set(err, err_from_errno(errno), "rename to %s: %s", path, strerror(errno));
            goto fail;
        }
    }
    *strrchr(path, '/') = '\0';
    if (fsync_path(path, O_DIRECTORY) != 0)
        return err_set(err, ERR_IO, "fsync %s: %s", path, strerror(errno));
    return 0;

fail:
    unlink(tmp);
    return rc;
}

/* A temporary file in <store>/blobs (same file system as the blobs, so rename is atomic). */
static int tmp_open(const char *store, char tmp[OCI_PATH_CAP], int *fd, struct err *err)
{
    int rc = oci_store_init(store, err);

    if (rc < 0)
        return rc;
    if (snprintf(tmp, OCI_PATH_CAP, "%s/blobs/.tmp-XXXXXX", store) >= OCI_PATH_CAP)
        return err_set(err, ERR_INVALID, "store path too long");
    *fd = mkostemp(tmp, O_CLOEXEC);
    if (*fd < 0)
        return err_set(err, err_from_errno(errno), "%s: %s", tmp, strerror(errno));
    return 0;
}

int oci_blob_put(const char *store, const void *data, size_t len, char digest_out[OCI_DIGEST_SIZE],
                 struct err *err)
{
    char tmp[OCI_PATH_CAP];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int fd = -1, rc;

    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(md, data, len) != 1) {
        EVP_MD_CTX_free(md);
        return err_set(err, ERR_INTERNAL, "sha256: cannot start");
    }
    rc = oci_digest_final(md, digest_out, err);
    EVP_MD_CTX_free(md);
    if (rc == 0)
        rc = tmp_open(store, tmp, &fd, err);
    if (rc < 0)
        return rc;
    if (file_write_all(fd, data, len) != 0 || fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
        rc = err_set(err, err_from_errno(errno), "%s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return rc;
    }
    close(fd);
    return oci_blob_publish(store, tmp, digest_out, err);
}

int oci_blob_verify(const char *store, const char *digest, uint64_t size, struct err *err)
{
    char path[OCI_PATH_CAP], got[OCI_DIGEST_SIZE];
    static const size_t cap = 128 << 10;
    EVP_MD_CTX *md = NULL;
    unsigned char *buf = NULL;
    uint64_t total = 0;
    int fd = -1, rc = oci_blob_path(store, digest, path, err);
    ssize_t n;

    if (rc < 0)
        return rc;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, errno == ENOENT ? ERR_NOTFOUND : err_from_errno(errno), "blob %s: %s",
                       digest, strerror(errno));
    md = EVP_MD_CTX_new();
    buf = malloc(cap);
    if (md == NULL || buf == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        rc = err_set(err, ERR_INTERNAL, "sha256: cannot start");
        goto out;
    }
    while ((n = read(fd, buf, cap)) > 0 || (n < 0 && errno == EINTR)) {
        if (n > 0 && EVP_DigestUpdate(md, buf, (size_t)n) != 1) {
            rc = err_set(err, ERR_INTERNAL, "sha256: update failed");
            goto out;
        }
        total += n > 0 ? (uint64_t)n : 0;
    }
    if (n < 0)
        rc = err_set(err, ERR_IO, "blob %s: %s", digest, strerror(errno));
    else if (total != size)
        rc = err_set(err, ERR_INVALID, "blob %s has %" PRIu64 " bytes, expected %" PRIu64, digest,
                     total, size);
    else if ((rc = oci_digest_final(md, got, err)) == 0 && strcmp(got, digest) != 0)
        rc = err_set(err, ERR_INVALID, "blob %s is corrupt: its bytes have %s", digest, got);
out:
    free(buf);
    EVP_MD_CTX_free(md);
    close(fd);
    return rc;
}

static int copy_fd(int in, int out)
{
    char buf[64 << 10];
    ssize_t n;

    while ((n = read(in, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || file_write_all(out, buf, (size_t)n) != 0)
            return -1;
    }
    return 0;
}

int oci_blob_link(const char *from, const char *to, const char *digest, struct err *err)
{
    char src[OCI_PATH_CAP], dst[OCI_PATH_CAP], tmp[OCI_PATH_CAP];
    int in, out, rc;

    if ((rc = oci_blob_path(from, digest, src, err)) < 0 ||
        (rc = oci_blob_path(to, digest, dst, err)) < 0 || (rc = oci_store_init(to, err)) < 0)
        return rc;
    if (access(dst, F_OK) == 0)
        return 0;
    if (link(src, dst) == 0 || errno == EEXIST)
        return 0;
    if (errno == ENOENT)
        return err_set(err, ERR_NOTFOUND, "blob %s is not in %s", digest, from);
    if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0)
        return err_set(err, err_from_errno(errno), "%s: %s", src, strerror(errno));
    if ((rc = tmp_open(to, tmp, &out, err)) < 0) {
        close(in);
        return rc;
    }
    if (copy_fd(in, out) != 0 || fchmod(out, 0644) != 0 || fsync(out) != 0)
        rc = err_set(err, err_from_errno(errno), "copy %s: %s", src, strerror(errno));
    close(in);
    close(out);
    if (rc < 0) {
        unlink(tmp);
        return rc;
    }
    return oci_blob_publish(to, tmp, digest, err);
}

/* ---------------------------------------------------------------- entries */

enum ent_kind { ENT_DIR, ENT_FILE, ENT_LINK };

struct ent {
    char *path;       /* inside the layer, no leading or trailing '/' */
    const char *host; /* NULL for a directory only implied by others */
    enum ent_kind kind;
    unsigned mode; /* permission bits */
    bool top;      /* named by the caller: its parents may be missing */
};

struct ents {
    struct arena *a;
    struct ent *v;
    size_t n, cap;
};

static int ents_add(struct ents *es, const char *path, const char *host, enum ent_kind kind,
                    unsigned mode, bool top, struct err *err)
{
    if (es->n == es->cap) {
        size_t cap = es->cap ? es->cap * 2 : 256;
        struct ent *v = cap <= MAX_ENTRIES ? realloc(es->v, cap * sizeof(*v)) : NULL;

        if (v == NULL)
            return err_set(err, ERR_LIMIT, "a layer holds at most %u entries", MAX_ENTRIES);
        es->v = v;
        es->cap = cap;
    }
    es->v[es->n++] = (struct ent){(char *)path, host, kind, mode, top};
    return 0;
}

/* Joins <a> and <b> with a '/' (either may be empty) into the arena. */
static char *join(struct arena *ar, const char *a, const char *b)
{
    if (*a == '\0')
        return arena_strndup(ar, b, strlen(b));
    if (*b == '\0')
        return arena_strndup(ar, a, strlen(a));
    return arena_printf(ar, "%s/%s", a, b);
}

static int walk(struct ents *es, const char *host, const char *path, int depth, struct err *err);

/* Adds <host> (lstat'ed as <st>) at <path>; directories recursively. */
static int add_host(struct ents *es, const char *host, const char *path, const struct stat *st,
                    int depth, struct err *err)
{
    unsigned mode = (unsigned)st->st_mode & 07777;
    bool top = depth == 0;
    int rc;

    if (S_ISREG(st->st_mode))
        return ents_add(es, path, host, ENT_FILE, mode, top, err);
    if (S_ISLNK(st->st_mode))
        return ents_add(es, path, host, ENT_LINK, 0777, top, err);
    if (!S_ISDIR(st->st_mode))
        return 0; /* sockets, fifos, devices: nothing a layer should carry */
    if (*path != '\0' && (rc = ents_add(es, path, host, ENT_DIR, mode, top, err)) < 0)
        return rc;
    return walk(es, host, path, depth, err);
}

static int walk(struct ents *es, const char *host, const char *path, int depth, struct err *err)
{
    DIR *d;
    struct dirent *de;
    int rc = 0;

    if (depth > MAX_DEPTH)
        return err_set(err, ERR_LIMIT, "%s: nested deeper than %d directories", host, MAX_DEPTH);
    if ((d = opendir(host)) == NULL)
        return err_set(err, err_from_errno(errno), "%s: %s", host, strerror(errno));
    while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
        struct stat st;
        char *h, *p;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        h = arena_printf(es->a, "%s/%s", host, de->d_name);
        p = join(es->a, path, de->d_name);
        if (h == NULL || p == NULL)
            rc = err_set(err, ERR_LIMIT, "out of memory");
        else if (lstat(h, &st) != 0)
            rc = err_set(err, err_from_errno(errno), "%s: %s", h, strerror(errno));
        else
            rc = add_host(es, h, p, &st, depth + 1, err);
    }
    if (rc == 0 && errno != 0)
        rc = err_set(err, err_from_errno(errno), "%s: %s", host, strerror(errno));
    closedir(d);
    return rc;
}

static int ent_cmp(const void *x, const void *y)
{
    return strcmp(((const struct ent *)x)->path, ((const struct ent *)y)->path);
}

/* Sorts, refuses duplicates, and adds the parent directories nobody named (0:0, 0755). */
static int ents_finish(struct ents *es, struct err *err)
{
    size_t n = es->n;
    int rc;

    for (size_t i = 0; i < n; i++) {
        char *p = es->v[i].path;

        if (!es->v[i].top)
            continue; /* found by walking: its parents are entries already */
        for (char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
            char *dir = arena_strndup(es->a, p, (size_t)(s - p));

            if (dir == NULL)
                return err_set(err, ERR_LIMIT, "out of memory");
            if ((rc = ents_add(es, dir, NULL, ENT_DIR, 0755, false, err)) < 0)
                return rc;
        }
    }
    if (es->n > 1)
        qsort(es->v, es->n, sizeof(*es->v), ent_cmp);
    /* Keep one entry per path: a real one over an implied directory. */
    size_t w = 0;
    for (size_t i = 0; i < es->n; i++) {
        struct ent *e = &es->v[i];

        if (w > 0 && strcmp(es->v[w - 1].path, e->path) == 0) {
            if (es->v[w - 1].host != NULL && e->host != NULL)
                return err_set(err, ERR_INVALID, "%s appears twice in the layer", e->path);
            if (e->host != NULL)
                es->v[w - 1] = *e;
            continue;
        }
        es->v[w++] = *e;
    }
    es->n = w;
    return 0;
}

/* A path inside the layer: no leading/trailing '/', no empty, "." or ".." component. */
static int layer_path(struct arena *ar, const char *prefix, const char *path, char **out,
                      struct err *err)
{
    struct sbuf b = SBUF_INIT(PATH_MAX);
    const char *parts[2] = {prefix ? prefix : "", path};

    for (int k = 0; k < 2; k++) {
        struct slice s = slice_from_cstr(parts[k]), c;

        while (s.len > 0) {
            slice_split(&s, '/', &c);
            if (c.len == 0)
                continue;
            if (slice_eq_cstr(c, ".") || slice_eq_cstr(c, "..")) {
                sbuf_release(&b);
                return err_set(err, ERR_INVALID, "layer path %.200s has a \"%.*s\" component", path,
                               SLICE_ARG(c));
            }
            if (b.len > 0)
                sbuf_putc(&b, '/');
            sbuf_put_slice(&b, c);
        }
    }
    if (b.err != 0) {
        sbuf_release(&b);
        return err_set(err, ERR_INVALID, "layer path %.100s… is too long", path);
    }
    *out = arena_strndup(ar, b.buf, b.len);
    sbuf_release(&b);
    return *out ? 0 : err_set(err, ERR_LIMIT, "out of memory");
}

/* ---------------------------------------------------------------- the compressed stream */

struct lw {
    const struct oci_layer_opts *opts;
    int fd;
    char tmp[OCI_PATH_CAP];
    z_stream z;
    bool z_on;
    int level, z_level; /* asked for; in use now (0 while storing random bytes) */
    ZSTD_CCtx *zc;
    EVP_MD_CTX *tar_md, *blob_md;
    uint64_t blob_size, synced;
    unsigned char *in, *out;
    size_t in_len;
};

static int emit(struct lw *w, const void *p, size_t n, struct err *err)
{
    if (n == 0)
        return 0;
    if (EVP_DigestUpdate(w->blob_md, p, n) != 1)
        return err_set(err, ERR_INTERNAL, "sha256: update failed");
    if (file_write_all(w->fd, p, n) != 0)
        return err_set(err, err_from_errno(errno), "%s: %s", w->tmp, strerror(errno));
    w->blob_size += n;
    /* Start writing back what is written so far, so the disk works while we compress and
     * the fsync at the end has little left to wait for. A hint: failures do not matter. */
    if (w->blob_size - w->synced >= SYNC_STEP) {
        (void)sync_file_range(w->fd, (off_t)w->synced, (off_t)(w->blob_size - w->synced),
                              SYNC_FILE_RANGE_WRITE);
        w->synced = w->blob_size;
    }
    return 0;
}

/* Whether <p> looks like random bytes (compressed files, images): its byte histogram is
 * close to flat, 256 * sum(count^2) < 1.05 * n^2. Integer arithmetic, so every machine
 * decides alike and the layer's digest does not depend on where it was built. */
static bool looks_random(const unsigned char *p, size_t n)
{
    uint64_t count[256] = {0}, sq = 0;

    if (n < PIECE)
        return false;
    for (size_t i = 0; i < n; i++)
        count[p[i]]++;
    for (int i = 0; i < 256; i++)
        sq += count[i] * count[i];
    return 20 * 256 * sq < 21 * (uint64_t)n * n;
}

/* Switches deflate's level between chunks (ending the current block), draining its output. */
static int deflate_level(struct lw *w, int level, struct err *err)
{
    int zr, rc;

    do {
        w->z.next_in = NULL;
        w->z.avail_in = 0;
        w->z.next_out = w->out;
        w->z.avail_out = OUT_CAP;
        zr = deflateParams(&w->z, level, Z_DEFAULT_STRATEGY);
        if (zr != Z_OK && zr != Z_BUF_ERROR)
            return err_set(err, ERR_INTERNAL, "deflate: cannot change level");
        if ((rc = emit(w, w->out, OUT_CAP - w->z.avail_out, err)) < 0)
            return rc;
    } while (zr == Z_BUF_ERROR && w->z.avail_out == 0);
    w->z_level = level;
    return 0;
}

/* Pieces of random bytes are stored rather than compressed: deflate gains nothing on them
 * and is slowest there (a third of the speed it has on source text, measured with
 * tests/tools/oci-layer-bench.c). Pieces start at fixed offsets of the tar stream, so the
 * choice, like the rest, depends only on the bytes. */
static int deflate_piece(struct lw *w, const unsigned char *p, size_t n, bool end, struct err *err)
{
    int level = looks_random(p, n) ? 0 : w->level;
    int zr, rc;

    if (level != w->z_level && (rc = deflate_level(w, level, err)) < 0)
        return rc;
    w->z.next_in = (unsigned char *)p;
    w->z.avail_in = (uInt)n;
    do {
        w->z.next_out = w->out;
        w->z.avail_out = OUT_CAP;
        zr = deflate(&w->z, end ? Z_FINISH : Z_NO_FLUSH);
        if (zr == Z_STREAM_ERROR)
            return err_set(err, ERR_INTERNAL, "deflate failed");
        if ((rc = emit(w, w->out, OUT_CAP - w->z.avail_out, err)) < 0)
            return rc;
    } while (w->z.avail_out == 0 || (end && zr != Z_STREAM_END));
    return 0;
}

static int deflate_chunk(struct lw *w, const unsigned char *p, size_t n, bool end, struct err *err)
{
    int rc = 0;

    do {
        size_t k = n < PIECE ? n : PIECE;

        rc = deflate_piece(w, p, k, end && k == n, err);
        p += k;
        n -= k;
    } while (rc == 0 && n > 0);
    return rc;
}

static int zstd_chunk(struct lw *w, const unsigned char *p, size_t n, bool end, struct err *err)
{
    ZSTD_inBuffer in = {p, n, 0};
    size_t left;
    int rc;

    do {
        ZSTD_outBuffer out = {w->out, OUT_CAP, 0};

        left = ZSTD_compressStream2(w->zc, &out, &in, end ? ZSTD_e_end : ZSTD_e_continue);
        if (ZSTD_isError(left))
            return err_set(err, ERR_INTERNAL, "zstd: %s", ZSTD_getErrorName(left));
        if ((rc = emit(w, w->out, out.pos, err)) < 0)
            return rc;
    } while (in.pos < in.size || (end && left != 0));
    return 0;
}

/* Hashes and compresses the gathered tar bytes. */
static int lw_flush(struct lw *w, bool end, struct err *err)
{
    size_t n = w->in_len;

    w->in_len = 0;
    if (n > 0 && EVP_DigestUpdate(w->tar_md, w->in, n) != 1)
        return err_set(err, ERR_INTERNAL, "sha256: update failed");
    switch (w->opts->compression) {
    case OCI_COMP_GZIP:
        return deflate_chunk(w, w->in, n, end, err);
    case OCI_COMP_ZSTD:
        return zstd_chunk(w, w->in, n, end, err);
    case OCI_COMP_NONE:
        break;
    }
    return emit(w, w->in, n, err);
}

static int lw_put(struct lw *w, const void *p, size_t n, struct err *err)
{
    const char *c = p;
    int rc;

    while (n > 0) {
        size_t k = IN_CAP - w->in_len < n ? IN_CAP - w->in_len : n;

        memcpy(w->in + w->in_len, c, k);
        w->in_len += k;
        c += k;
        n -= k;
        if (w->in_len == IN_CAP && (rc = lw_flush(w, false, err)) < 0)
            return rc;
    }
    return 0;
}

static int lw_open(struct lw *w, const struct oci_layer_opts *opts, const char *store,
                   struct err *err)
{
    int level = opts->level;
    int rc;

    *w = (struct lw){.opts = opts, .fd = -1};
    if (opts->mtime < 0 || opts->compression > OCI_COMP_NONE)
        return err_set(err, ERR_INVALID, "layer options: bad mtime or compression");
    w->tar_md = EVP_MD_CTX_new();
    w->blob_md = EVP_MD_CTX_new();
    w->in = malloc(IN_CAP);
    w->out = malloc(OUT_CAP);
    if (!w->tar_md || !w->blob_md || !w->in || !w->out ||
        EVP_DigestInit_ex(w->tar_md, EVP_sha256(), NULL) != 1 ||
        EVP_DigestInit_ex(w->blob_md, EVP_sha256(), NULL) != 1)
        return err_set(err, ERR_INTERNAL, "layer writer: cannot start");
    if (opts->compression == OCI_COMP_GZIP) {
        /* windowBits 15 + 16: a gzip wrapper with no name and mtime 0, hence reproducible. */
        w->level = w->z_level = level ? level : OCI_GZIP_LEVEL_DEFAULT;
        if (level < 0 || level > 9 ||
            deflateInit2(&w->z, w->level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return err_set(err, ERR_INVALID, "gzip level %d: use 1 to 9", level);
        w->z_on = true;
    } else if (opts->compression == OCI_COMP_ZSTD) {
        /* One thread: the frame then depends on nothing but the level and the bytes. */
        if ((w->zc = ZSTD_createCCtx()) == NULL)
            return err_set(err, ERR_INTERNAL, "zstd: cannot start");
        if (ZSTD_isError(ZSTD_CCtx_setParameter(w->zc, ZSTD_c_compressionLevel,
                                                level ? level : OCI_ZSTD_LEVEL_DEFAULT)) ||
            ZSTD_isError(ZSTD_CCtx_setParameter(w->zc, ZSTD_c_checksumFlag, 1)))
            return err_set(err, ERR_INVALID, "zstd level %d is not supported", level);
    }
    if ((rc = tmp_open(store, w->tmp, &w->fd, err)) < 0)
        return rc;
    return 0;
}

static void lw_release(struct lw *w)
{
    if (w->fd >= 0) {
        close(w->fd);
        unlink(w->tmp);
    }
    if (w->z_on)
        deflateEnd(&w->z);
    ZSTD_freeCCtx(w->zc);
    EVP_MD_CTX_free(w->tar_md);
    EVP_MD_CTX_free(w->blob_md);
    free(w->in);
    free(w->out);
}

/* ---------------------------------------------------------------- tar */

static void octal(char *field, size_t width, uint64_t v)
{
    /* width - 1 digits and a NUL, the form every reader accepts. */
    snprintf(field, width, "%0*" PRIo64, (int)width - 1, v);
}

static bool fits_octal(uint64_t v, size_t width)
{
    return v < (uint64_t)1 << (3 * (width - 1));
}

/* One pax record "<len> <key>=<value>\n", whose length counts its own digits. */
static void pax_record(struct sbuf *b, const char *key, const char *value)
{
    size_t body = strlen(key) + strlen(value) + 3; /* ' ', '=', '\n' */
    size_t len = body + 1;

    while (len != body + (size_t)snprintf(NULL, 0, "%zu", len))
        len = body + (size_t)snprintf(NULL, 0, "%zu", len);
    sbuf_printf(b, "%zu %s=%s\n", len, key, value);
}

static void header_fill(char h[TAR_BLOCK], const char *name, char type, unsigned mode,
                        uint64_t size, const struct oci_layer_opts *o, uint32_t uid, uint32_t gid,
                        const char *link)
{
    unsigned sum = 0;

    memset(h, 0, TAR_BLOCK);
    memcpy(h, name, strnlen(name, 100));
    octal(h + 100, 8, mode);
    octal(h + 108, 8, fits_octal(uid, 8) ? uid : 0);
    octal(h + 116, 8, fits_octal(gid, 8) ? gid : 0);
    octal(h + 124, 12, fits_octal(size, 12) ? size : 0);
    octal(h + 136, 12, (uint64_t)o->mtime);
    h[156] = type;
    if (link)
        memcpy(h + 157, link, strnlen(link, 100));
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    octal(h + 329, 8, 0);
    octal(h + 337, 8, 0);
    memset(h + 148, ' ', 8);
    for (int i = 0; i < TAR_BLOCK; i++)
        sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06o", sum);
}

static int put_padded(struct lw *w, const void *p, size_t n, struct err *err)
{
    static const char zeros[TAR_BLOCK];
    int rc = lw_put(w, p, n, err);

    if (rc == 0 && n % TAR_BLOCK)
        rc = lw_put(w, zeros, TAR_BLOCK - n % TAR_BLOCK, err);
    return rc;
}

/* Writes the header(s) of one entry: a pax header first when ustar cannot hold the name,
 * the link target, the size or the owner. */
static int put_header(struct lw *w, const char *name, char type, unsigned mode, uint64_t size,
                      uint32_t uid, uint32_t gid, const char *link, struct err *err)
{
    struct sbuf pax = SBUF_INIT(3 * PATH_MAX);
    char h[TAR_BLOCK], num[24];
    int rc = 0;

    if (strlen(name) > 100)
        pax_record(&pax, "path", name);
    if (link && strlen(link) > 100)
        pax_record(&pax, "linkpath", link);
    if (!fits_octal(size, 12) && snprintf(num, sizeof(num), "%" PRIu64, size) > 0)
        pax_record(&pax, "size", num);
    if (!fits_octal(uid, 8) && snprintf(num, sizeof(num), "%" PRIu32, uid) > 0)
        pax_record(&pax, "uid", num);
    if (!fits_octal(gid, 8) && snprintf(num, sizeof(num), "%" PRIu32, gid) > 0)
        pax_record(&pax, "gid", num);
    if (pax.err != 0)
        rc = err_set(err, ERR_INVALID, "%.100s…: name too long", name);
    else if (pax.len > 0) {
        header_fill(h, "././@PaxHeader", 'x', 0644, pax.len, w->opts, 0, 0, NULL);
        if ((rc = lw_put(w, h, TAR_BLOCK, err)) == 0)
            rc = put_padded(w, pax.buf, pax.len, err);
    }
    sbuf_release(&pax);
    if (rc < 0)
        return rc;
    header_fill(h, name, type, mode, size, w->opts, uid, gid, link);
    return lw_put(w, h, TAR_BLOCK, err);
}

static unsigned norm_mode(const struct oci_layer_opts *o, unsigned mode)
{
    return o->keep_setid ? mode & 07777 : mode & 0777;
}

/* Streams the regular file <e> (opened without following a symlink) with its header. */
static int put_file(struct lw *w, const struct ent *e, struct err *err)
{
    int fd = open(e->host, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    uint64_t left;
    int rc;

    if (fd < 0)
        return err_set(err, err_from_errno(errno), "%s: %s", e->host, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(err, ERR_CONFLICT, "%s changed while the layer was written", e->host);
    }
    left = (uint64_t)st.st_size;
    rc = put_header(w, e->path, '0', norm_mode(w->opts, (unsigned)st.st_mode), left, w->opts->uid,
                    w->opts->gid, NULL, err);
    while (rc == 0 && left > 0) {
        size_t room = IN_CAP - w->in_len, want = left < room ? (size_t)left : room;
        ssize_t n = read(fd, w->in + w->in_len, want);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? err_set(err, ERR_IO, "%s: %s", e->host, strerror(errno))
                       : err_set(err, ERR_CONFLICT, "%s shrank while it was read", e->host);
            break;
        }
        w->in_len += (size_t)n;
        left -= (uint64_t)n;
        if (w->in_len == IN_CAP)
            rc = lw_flush(w, false, err);
    }
    close(fd);
    if (rc == 0 && st.st_size % TAR_BLOCK)
        rc = lw_put(w, (char[TAR_BLOCK]){0}, TAR_BLOCK - (size_t)st.st_size % TAR_BLOCK, err);
    return rc;
}

static int put_entry(struct lw *w, const struct ent *e, struct err *err)
{
    char target[PATH_MAX + 1];
    char *name;
    ssize_t n;
    int rc;

    switch (e->kind) {
    case ENT_FILE:
        return put_file(w, e, err);
    case ENT_LINK:
        n = readlink(e->host, target, PATH_MAX);
        if (n < 0)
            return err_set(err, err_from_errno(errno), "%s: %s", e->host, strerror(errno));
        target[n] = '\0';
        return put_header(w, e->path, '2', 0777, 0, w->opts->uid, w->opts->gid, target, err);
    case ENT_DIR:
        break;
    }
    if ((name = malloc(strlen(e->path) + 2)) == NULL)
        return err_set(err, ERR_LIMIT, "out of memory");
    snprintf(name, strlen(e->path) + 2, "%s/", e->path);
    /* Implied parents belong to root so that a layer never takes over /etc or /usr. */
    rc = put_header(w, name, '5', norm_mode(w->opts, e->mode), 0, e->host ? w->opts->uid : 0,
                    e->host ? w->opts->gid : 0, NULL, err);
    free(name);
    return rc;
}

static const char *media_type(enum oci_compression c)
{
    switch (c) {
    case OCI_COMP_GZIP:
        return OCI_MT_LAYER_GZIP;
    case OCI_COMP_ZSTD:
        return OCI_MT_LAYER_ZSTD;
    case OCI_COMP_NONE:
        break;
    }
    return OCI_MT_LAYER_TAR;
}

/* Writes the sorted entries, ends the tar (two zero blocks), and publishes the blob. */
static int write_layer(const struct ents *es, const struct oci_layer_opts *opts, const char *store,
                       struct oci_layer *out, struct err *err)
{
    static const char end[2 * TAR_BLOCK];
    struct lw w;
    int rc = lw_open(&w, opts, store, err);

    for (size_t i = 0; rc == 0 && i < es->n; i++)
        rc = put_entry(&w, &es->v[i], err);
    if (rc == 0)
        rc = lw_put(&w, end, sizeof(end), err);
    if (rc == 0)
        rc = lw_flush(&w, true, err);
    if (rc == 0 && fchmod(w.fd, 0644) != 0)
        rc = err_set(err, ERR_IO, "%s: %s", w.tmp, strerror(errno));
    if (rc == 0 && fsync(w.fd) != 0)
        rc = err_set(err, ERR_IO, "fsync %s: %s", w.tmp, strerror(errno));
    if (rc == 0)
        rc = oci_digest_final(w.tar_md, out->diff_id, err);
    if (rc == 0)
        rc = oci_digest_final(w.blob_md, out->blob.digest, err);
    if (rc == 0) {
        close(w.fd);
        w.fd = -1;
        rc = oci_blob_publish(store, w.tmp, out->blob.digest, err);
        out->blob.size = w.blob_size;
        snprintf(out->blob.media_type, sizeof(out->blob.media_type), "%s",
                 media_type(opts->compression));
    }
    lw_release(&w);
    return rc;
}

static int finish_and_write(struct ents *es, const struct oci_layer_opts *opts, const char *store,
                            struct oci_layer *out, struct err *err)
{
    int rc = ents_finish(es, err);

    if (rc == 0)
        rc = write_layer(es, opts, store, out, err);
    free(es->v);
    arena_free(es->a);
    return rc;
}

int oci_layer_from_dir(const char *src_dir, const struct oci_layer_opts *opts, const char *store,
                       struct oci_layer *out, struct err *err)
{
    struct ents es = {.a = arena_new(&(struct arena_opts){.chunk = 64 << 10})};
    struct stat st;
    char *root = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (lstat(src_dir, &st) != 0)
        rc = err_set(err, err_from_errno(errno), "%s: %s", src_dir, strerror(errno));
    else if (!S_ISDIR(st.st_mode))
        rc = err_set(err, ERR_INVALID, "%s is not a directory", src_dir);
    else
        rc = layer_path(es.a, opts->prefix, "", &root, err);
    if (rc == 0)
        rc = add_host(&es, src_dir, root, &st, 0, err);
    if (rc < 0) {
        free(es.v);
        arena_free(es.a);
        return rc;
    }
    return finish_and_write(&es, opts, store, out, err);
}

int oci_layer_from_entries(const struct oci_layer_entry *entries, size_t n,
                           const struct oci_layer_opts *opts, const char *store,
                           struct oci_layer *out, struct err *err)
{
    struct ents es = {.a = arena_new(&(struct arena_opts){.chunk = 64 << 10})};
    int rc = 0;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct stat st;
        char *path = NULL;

        if ((rc = layer_path(es.a, opts->prefix, entries[i].path, &path, err)) < 0)
            break;
        if (*path == '\0')
            rc = err_set(err, ERR_INVALID, "entry %zu: empty path in the layer", i);
        else if (lstat(entries[i].host_path, &st) != 0)
            rc = err_set(err, err_from_errno(errno), "%s: %s", entries[i].host_path,
                         strerror(errno));
        else
            rc = add_host(&es, entries[i].host_path, path, &st, 0, err);
    }
    if (rc < 0) {
        free(es.v);
        arena_free(es.a);
        return rc;
    }
    return finish_and_write(&es, opts, store, out, err);
}
