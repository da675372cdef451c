/*
 * rt layers: the content-addressed layer cache and a container's root filesystem
 * (docs/runtime.md, "Layers and root filesystems").
 *
 * A layer is unpacked once, by diff_id, and shared read-only by every container of every image
 * that has it. Whiteouts are turned into overlayfs's own form as they are unpacked, so the
 * cached layer can be an overlay lowerdir as it is; the copy fallback reads the same form.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/base.h"
#include "rt/rt-int.h"

#define WH_PREFIX      ".wh."
#define WH_OPAQUE      ".wh..wh..opq"
#define OPAQUE_XA      "trusted.overlay.opaque"
#define READ_BLOCK     (64u << 10)
#define MOUNT_OPTS_MAX 4000 /* the kernel takes one page of mount options */

/* ---------------------------------------------------------------- unpacking */

/* The entry's path made relative and checked: NULL for "." itself, ERR_INVALID (*bad) for
 * a path that climbs out with "..". */
static const char *clean_path(const char *p, bool *bad)
{
    while (*p == '/' || (p[0] == '.' && p[1] == '/'))
        p += p[0] == '/' ? 1 : 2;
    if (*p == '\0' || strcmp(p, ".") == 0)
        return NULL;
    for (const char *c = p; c != NULL; c = strchr(c, '/')) {
        c += *c == '/';
        if (c[0] == '.' && c[1] == '.' && (c[2] == '/' || c[2] == '\0'))
            *bad = true;
    }
    return p;
}

/* ".wh.<name>" becomes a 0:0 character device <name>; ".wh..wh..opq" marks its directory
 * opaque. Both as overlayfs expects in a lowerdir. */
static int whiteout(const char *dir, const char *rel, struct err *err)
{
    char path[PATH_MAX];
    const char *base = strrchr(rel, '/');
    size_t dlen = base != NULL ? (size_t)(base - rel) : 0;

    base = base != NULL ? base + 1 : rel;
    if (snprintf(path, sizeof(path), "%s/%.*s", dir, (int)dlen, rel) >= (int)sizeof(path))
        return err_set(err, ERR_LIMIT, "layer path too long");
    if (file_mkdirs(path, 0755, -1, err) < 0)
        return err->code;
    if (strcmp(base, WH_OPAQUE) == 0) {
        if (setxattr(path, OPAQUE_XA, "y", 1, 0) != 0)
            return err_set(err, ERR_IO, "%s: opaque: %s", path, strerror(errno));
        return 0;
    }
    size_t n = strlen(path);
    snprintf(path + n, sizeof(path) - n, "/%s", base + strlen(WH_PREFIX));
    if (mknod(path, S_IFCHR | 0, makedev(0, 0)) != 0 && errno != EEXIST)
        return err_set(err, ERR_IO, "%s: whiteout: %s", path, strerror(errno));
    return 0;
}

/* An rt_entry_fn: rewrites <e>'s path (and hard link target) under the directory <arg>. 1:
 * skip it (devices: runc makes /dev; the layer's root itself), 0: write it, <0: error. */
static int entry_place(void *arg, struct archive_entry *e, struct err *err)
{
    const char *dir = arg;
    char full[PATH_MAX];
    bool bad = false;
    const char *p = clean_path(archive_entry_pathname(e), &bad), *base;
    mode_t type = archive_entry_filetype(e);

    if (bad)
        return err_set(err, ERR_INVALID, "layer entry with '..': %s", archive_entry_pathname(e));
    if (p == NULL || type == AE_IFCHR || type == AE_IFBLK)
        return 1;
    base = strrchr(p, '/') != NULL ? strrchr(p, '/') + 1 : p;
    if (strncmp(base, WH_PREFIX, strlen(WH_PREFIX)) == 0) {
        int rc = whiteout(dir, p, err);
        return rc < 0 ? rc : 1;
    }
    if (snprintf(full, sizeof(full), "%s/%s", dir, p) >= (int)sizeof(full))
        return err_set(err, ERR_LIMIT, "layer path too long");
    archive_entry_copy_pathname(e, full);
    if (archive_entry_hardlink(e) != NULL) {
        p = clean_path(archive_entry_hardlink(e), &bad);
        if (bad || p == NULL)
            return err_set(err, ERR_INVALID, "layer hard link with '..'");
        if (snprintf(full, sizeof(full), "%s/%s", dir, p) >= (int)sizeof(full))
            return err_set(err, ERR_LIMIT, "layer path too long");
        archive_entry_copy_hardlink(e, full);
    }
    return 0;
}

static int copy_data(struct archive *in, struct archive *disk)
{
    const void *buf;
    size_t len;
    la_int64_t off;
    int r;

    while ((r = archive_read_data_block(in, &buf, &len, &off)) == ARCHIVE_OK)
        if (archive_write_data_block(disk, buf, len, off) < ARCHIVE_OK)
            return ARCHIVE_FATAL;
    return r == ARCHIVE_EOF ? ARCHIVE_OK : r;
}

int rt_archive_extract(struct archive *in, struct archive *disk, rt_entry_fn *fn, void *arg,
                       const char *name, int read_code, struct err *err)
{
    struct archive_entry *e;
    int r, rc = 0;

    while (rc == 0 && (r = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
        int decided = fn(arg, e, err);
        if (decided != 0) {
            rc = decided < 0 ? decided : 0;
            continue;
        }
        r = archive_write_header(disk, e);
        if (r == ARCHIVE_OK && archive_entry_size(e) > 0)
            r = copy_data(in, disk);
        if (r < ARCHIVE_WARN)
            rc = err_set(err, ERR_IO, "%s: %s: %s", name, archive_entry_pathname(e),
                         archive_error_string(disk) ? archive_error_string(disk) : "?");
    }
    if (rc == 0 && r != ARCHIVE_EOF)
        rc = err_set(err, read_code, "%s: %s", name, archive_error_string(in));
    return rc;
}

static int unpack_entries(struct archive *in, struct archive *disk, const char *dir,
                          const char *blob, struct err *err)
{
    int rc = rt_archive_extract(in, disk, entry_place, (void *)dir, blob, ERR_INVALID, err);

    if (rc == 0 && archive_write_close(disk) != ARCHIVE_OK) /* directory times and modes */
        rc = err_set(err, ERR_IO, "%s: %s", blob, archive_error_string(disk));
    return rc;
}

/* Unpacks the blob <blob> (a tar, compressed or not) into the empty directory <dir>. */
static int unpack_blob(const char *blob, const char *dir, struct err *err)
{
    struct archive *in = archive_read_new(), *disk = archive_write_disk_new();
    int rc;

    archive_read_support_filter_all(in);
    archive_read_support_format_tar(in);
    archive_write_disk_set_options(
        disk, ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                  ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                  ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_UNLINK);
    if (archive_read_open_filename(in, blob, READ_BLOCK) != ARCHIVE_OK)
        rc = err_set(err, errno == ENOENT ? ERR_NOTFOUND : ERR_IO, "%s: %s", blob,
                     archive_error_string(in));
    else
        rc = unpack_entries(in, disk, dir, blob, err);
    archive_read_free(in);
    archive_write_free(disk);
    return rc;
}

static int layer_dir(const struct rt *rt, const char *diff_id, char *out, size_t max,
                     struct err *err)
{
    if (!oci_digest_valid(slice_from_cstr(diff_id)))
        return err_set(err, ERR_INVALID, "layer diff_id %.80s is not a sha256 digest", diff_id);
    snprintf(out, max, "%s/layers/%s", rt->root, diff_id + 7);
    return 0;
}

static int layer_unpack(struct rt *rt, const char *layout, const struct oci_layer *l,
                        struct err *err)
{
    char final[RT_PATH_MAX], tmp[RT_PATH_MAX], blob[RT_PATH_MAX];
    int rc;

    if ((rc = layer_dir(rt, l->diff_id, final, sizeof(final), err)) < 0)
        return rc;
    if (access(final, F_OK) == 0)
        return 0;
    if (!oci_digest_valid(slice_from_cstr(l->blob.digest)))
        return err_set(err, ERR_INVALID, "layer digest is not a sha256 digest");
    snprintf(blob, sizeof(blob), "%s/blobs/sha256/%s", layout, l->blob.digest + 7);
    snprintf(tmp, sizeof(tmp), "%s/layers/.tmp-XXXXXX", rt->root);
    if (mkdtemp(tmp) == NULL)
        return err_set(err, ERR_IO, "%s: %s", tmp, strerror(errno));
    chmod(tmp, 0755); /* the layer's root is the container's / */
    rc = unpack_blob(blob, tmp, err);
    /* Another thread may have unpacked the same layer meanwhile: its copy is as good. */
    if (rc == 0 && rename(tmp, final) != 0 && errno != EEXIST && errno != ENOTEMPTY)
        rc = err_set(err, ERR_IO, "%s: %s", final, strerror(errno));
    rt_remove_tree(tmp);
    return rc;
}

int rt_layers_unpack(struct rt *rt, const struct oci_image *img, struct err *err)
{
    for (size_t i = 0; i < img->n_layers; i++) {
        int rc = layer_unpack(rt, img->layout_dir, &img->layers[i], err);
        if (rc < 0)
            return err_wrap(err, "layer %zu", i);
    }
    return 0;
}

/* ---------------------------------------------------------------- overlay */

static int overlay_mount(struct rt *rt, const struct oci_image *img, const char *dir,
                         struct err *err)
{
    struct sbuf o = SBUF_INIT(MOUNT_OPTS_MAX);
    char path[RT_PATH_MAX];
    int rc = 0;

    sbuf_puts(&o, "lowerdir=");
    for (size_t i = img->n_layers; i-- > 0;) { /* the top layer comes first */
        if ((rc = layer_dir(rt, img->layers[i].diff_id, path, sizeof(path), err)) < 0)
            goto done;
        sbuf_printf(&o, "%s%s", path, i > 0 ? ":" : "");
    }
    sbuf_printf(&o, ",upperdir=%s/upper,workdir=%s/work", dir, dir);
    if (o.err != 0) {
        rc = err_set(err, ERR_LIMIT, "too many layers for one overlay mount");
        goto done;
    }
    snprintf(path, sizeof(path), "%s/rootfs", dir);
    if (mount("overlay", path, "overlay", 0, o.buf) != 0)
        rc = err_set(err, ERR_UNAVAILABLE, "overlay: %s", strerror(errno));
done:
    sbuf_release(&o);
    return rc;
}

void rt_rootfs_unmount(const char *dir)
{
    char path[RT_PATH_MAX];

    snprintf(path, sizeof(path), "%s/rootfs", dir);
    if (umount2(path, 0) != 0 && errno == EBUSY)
        (void)umount2(path, MNT_DETACH);
}

/* ---------------------------------------------------------------- copy */

/* nftw() passes no argument: the walk's state travels in these. */
static _Thread_local const char *walk_dest;
static _Thread_local size_t walk_skip; /* length of the layer directory's path */
static _Thread_local bool walk_after;  /* false: before the copy, true: after it */

static bool is_whiteout(const struct stat *st)
{
    return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

/* Before a layer is copied, what it deletes goes: a whiteout's path, an opaque directory's
 * contents. After, the copied whiteout devices themselves go. */
static int apply_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    char dest[PATH_MAX];
    char v;

    (void)flag, (void)ftw;
    if (snprintf(dest, sizeof(dest), "%s%s", walk_dest, path + walk_skip) >= (int)sizeof(dest))
        return -1;
    if (is_whiteout(st))
        return walk_after ? (unlink(dest) == 0 || errno == ENOENT ? 0 : -1)
                          : file_remove_tree(dest, NULL);
    if (!walk_after && S_ISDIR(st->st_mode) && path[walk_skip] != '\0' &&
        getxattr(path, OPAQUE_XA, &v, 1) == 1 && v == 'y') {
        if (file_remove_tree(dest, NULL) < 0 || mkdir(dest, st->st_mode & 07777) != 0)
            return -1;
    }
    return 0;
}

static int layer_copy(const char *layer, const char *rootfs, struct err *err)
{
    char src[RT_PATH_MAX + 2];
    const char *cp[] = {"/bin/cp", "-a", "--reflink=auto", src, rootfs, NULL};

    walk_dest = rootfs;
    walk_skip = strlen(layer);
    walk_after = false;
    if (nftw(layer, apply_entry, 16, FTW_PHYS) != 0)
        return err_set(err, ERR_IO, "%s: applying whiteouts failed", layer);
    snprintf(src, sizeof(src), "%s/.", layer);
    if (rt_run(cp, NULL) != 0)
        return err_set(err, ERR_IO, "copying %s failed", layer);
    walk_after = true;
    if (nftw(layer, apply_entry, 16, FTW_PHYS) != 0)
        return err_set(err, ERR_IO, "%s: removing whiteouts failed", layer);
    return 0;
}

static int rootfs_copy(struct rt *rt, const struct oci_image *img, const char *dir, struct err *err)
{
    char layer[RT_PATH_MAX], rootfs[RT_PATH_MAX];
    int rc;

    snprintf(rootfs, sizeof(rootfs), "%s/rootfs", dir);
    for (size_t i = 0; i < img->n_layers; i++) {
        if ((rc = layer_dir(rt, img->layers[i].diff_id, layer, sizeof(layer), err)) < 0 ||
            (rc = layer_copy(layer, rootfs, err)) < 0)
            return rc;
    }
    return 0;
}

int rt_rootfs_make(struct rt *rt, const struct oci_image *img, const char *dir,
                   enum rt_rootfs_kind *kind, struct err *err)
{
    static const char *const subs[] = {"rootfs", "upper", "work"};
    char path[RT_PATH_MAX];

    for (size_t i = 0; i < ARRAY_LEN(subs); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, subs[i]);
        if (mkdir(path, 0755) != 0)
            return err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
    }
    *kind = RT_ROOTFS_OVERLAY;
    if (!rt->force_copy && img->n_layers > 0 && overlay_mount(rt, img, dir, NULL) == 0)
        return 0;
    *kind = RT_ROOTFS_COPY;
    return rootfs_copy(rt, img, dir, err);
}
