/*
 * bld baseimg: root filesystems for runtime and build images, assembled from Debian packages.
 *
 * No container registry is involved. apt resolves the closure of a small package set against
 * the host's package lists, but with a private, empty dpkg status file: the host having python3
 * installed must not make python3 look "already there". Nothing is essential either
 * (pkgCacheGen::Essential=none), so the closure is what the runtime needs, not a whole Debian
 * base system. The .debs are downloaded (and checked) by apt into <cache>/debs and kept; each is
 * unpacked here with libarchive, and this file then does the little that maintainer scripts
 * would have done (users, certificates, usrmerge links, the dynamic linker's cache).
 *
 * The result is keyed by the SHA-256 of the sorted "package=version" lines, so it is built once
 * per package set and reused until a version changes. It is built in a temporary directory and
 * renamed into place when complete: a crash leaves a ".tmp-" directory, never a rootfs that
 * looks finished.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/base.h"
#include "bld/bld-int.h"
#include "rt/rt.h"

#define FORMAT_LINE  "slipway-base-rootfs " STR(BLD_BASE_FORMAT) "\n"
#define OUT_MAX      (8u << 20) /* apt's output for the largest set is ~200 KiB */
#define NAMES_MAX    32
#define APP_UID      BLD_BASE_APP_UID
#define BLOCK        (64u << 10)
#define CERTS_MAX    4096
#define MIN_SZ(a, b) ((a) < (b) ? (a) : (b))
#define STR_(x)      #x
#define STR(x)       STR_(x)

extern char **environ;

/* <a>/<b> into <out>; false when it does not fit. */
static bool join(char out[PATH_MAX], const char *a, const char *b)
{
    return (size_t)snprintf(out, PATH_MAX, "%s/%s", a, b) < PATH_MAX;
}

/* ---------------------------------------------------------------- package sets */

struct base_set {
    const char *runtime;
    const char *run[4];   /* beside the common packages */
    const char *build[4]; /* added for a build image */
};

/* dash gives every image a /bin/sh: start and install commands are shell command lines. Build
 * images add coreutils: Debian leaves essential packages out of Depends, yet npm's scripts need
 * env, and install scripts cp, mkdir and rm. */
static const char *const common_pkgs[] = {"ca-certificates", "tzdata", "dash"};

/* "static" uses nginx rather than busybox httpd: busybox can only answer a missing path with
 * an error page (status 404), while nginx's try_files serves index.html with 200, which is
 * what an SPA's deep links need. Static sites are built with the node build image. */
static const struct base_set base_sets[] = {
    {"node", {"nodejs"}, {"npm", "coreutils"}},
    {"python", {"python3"}, {"python3-pip", "python3-venv", "coreutils"}},
    {"go", {NULL}, {"golang-go", "coreutils"}},
    {"static", {"nginx"}, {"nodejs", "npm", "coreutils"}},
};

static bool pkg_name_valid(const char *s)
{
    size_t n = strlen(s);

    if (n < 2 || n > 100 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              strchr("+-.", s[i]) != NULL))
            return false;
    return true;
}

static void names_add(const char **names, size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(names[i], name) == 0)
            return;
    names[(*n)++] = name;
}

int bld_base_names(const struct bld_base_spec *s, const char **names, size_t max, size_t *count,
                   struct err *err)
{
    const struct base_set *set = NULL;
    size_t n = 0, extra = 0;

    for (size_t i = 0; i < ARRAY_LEN(base_sets); i++)
        if (s->runtime != NULL && strcmp(s->runtime, base_sets[i].runtime) == 0)
            set = &base_sets[i];
    if (set == NULL)
        return err_set(err, ERR_INVALID, "runtime: \"%.32s\" is not node, python, go or static",
                       s->runtime != NULL ? s->runtime : "");
    while (s->extra != NULL && s->extra[extra] != NULL)
        if (!pkg_name_valid(s->extra[extra++]))
            return err_set(err, ERR_INVALID, "extra: \"%.64s\" is not a Debian package name",
                           s->extra[extra - 1]);
    if (ARRAY_LEN(common_pkgs) + 8 + extra > max)
        return err_set(err, ERR_LIMIT, "extra: more than %zu packages", max - 8);
    for (size_t i = 0; i < ARRAY_LEN(common_pkgs); i++)
        names_add(names, &n, common_pkgs[i]);
    for (size_t i = 0; i < ARRAY_LEN(set->run) && set->run[i] != NULL; i++)
        names_add(names, &n, set->run[i]);
    for (size_t i = 0; s->build && i < ARRAY_LEN(set->build) && set->build[i] != NULL; i++)
        names_add(names, &n, set->build[i]);
    for (size_t i = 0; i < extra; i++)
        names_add(names, &n, s->extra[i]);
    *count = n;
    return 0;
}

/* ---------------------------------------------------------------- running apt */

/* The last "E: " line of apt's output, or its last line, for an error message. */
static struct slice last_error(struct slice out)
{
    struct slice rest = out, line, last = {"", 0}, last_e = {NULL, 0};

    while (slice_split(&rest, '\n', &line)) {
        line = slice_trim(line);
        if (line.len == 0)
            continue;
        last = line;
        if (line.len > 3 && memcmp(line.ptr, "E: ", 3) == 0)
            last_e = line;
    }
    return last_e.ptr != NULL ? last_e : last;
}

static void env_pass(const char **env, size_t *n, const char *name, struct arena *a)
{
    const char *v = getenv(name);
    char *kv;

    if (v == NULL)
        return;
    kv = arena_printf(a, "%s=%s", name, v);
    if (kv != NULL)
        env[(*n)++] = kv;
}

/* Runs argv[0] (searched in PATH) with stdin from /dev/null; stdout and stderr, merged, go to
 * <out>. A non-zero exit is ERR_UNAVAILABLE with <what> and the command's last error line. */
static int run(const char *const *argv, struct sbuf *out, const char *what, struct err *err)
{
    struct arena *a = arena_new(NULL);
    const char *env[12] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C",
                           "DEBIAN_FRONTEND=noninteractive"};
    size_t nenv = 3;
    posix_spawn_file_actions_t fa;
    int fds[2] = {-1, -1}, status = 0, rc = 0;
    pid_t pid;
    ssize_t got;
    char buf[4096];

    env_pass(env, &nenv, "http_proxy", a);
    env_pass(env, &nenv, "https_proxy", a);
    env_pass(env, &nenv, "no_proxy", a);
    if (pipe2(fds, O_CLOEXEC) != 0) {
        arena_free(a);
        return err_set(err, ERR_IO, "%s: pipe: %s", what, strerror(errno));
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, (char *const *)env);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    arena_free(a);
    if (rc != 0) {
        close(fds[0]);
        return err_set(err, ERR_UNAVAILABLE, "%s: cannot start %s: %s", what, argv[0],
                       strerror(rc));
    }
    while ((got = read(fds[0], buf, sizeof(buf))) > 0 || (got < 0 && errno == EINTR))
        if (got > 0)
            sbuf_put(out, buf, (size_t)got);
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        struct slice e = last_error(sbuf_slice(out));
        return err_set(err, ERR_UNAVAILABLE, "%s failed: %.*s", what, (int)MIN_SZ(e.len, 150),
                       e.ptr);
    }
    if (out->err != 0)
        return err_set(err, ERR_LIMIT, "%s: output over %u bytes", what, OUT_MAX);
    return 0;
}

/* apt-get with a private state under <cache>/apt, so that neither the host's installed
 * packages nor its lock are involved; the package lists are the host's. */
static int apt_run(const char *cache, const char *const *tail, size_t ntail, struct sbuf *out,
                   const char *what, struct err *err)
{
    struct arena *a = arena_new(NULL);
    const char **argv = arena_alloc(a, (ntail + 24) * sizeof(*argv));
    size_t n = 0;
    int rc;

    if (argv == NULL) {
        arena_free(a);
        return err_set(err, ERR_LIMIT, "%s: too many packages", what);
    }
    argv[n++] = "apt-get";
    argv[n++] = "-q";
    argv[n++] = "-o";
    argv[n++] = arena_printf(a, "Dir::State::status=%s/apt/status", cache);
    argv[n++] = "-o";
    argv[n++] = arena_printf(a, "Dir::State::extended_states=%s/apt/extended_states", cache);
    argv[n++] = "-o";
    argv[n++] = arena_printf(a, "Dir::Cache::pkgcache=%s/apt/pkgcache.bin", cache);
    argv[n++] = "-o";
    argv[n++] = arena_printf(a, "Dir::Cache::srcpkgcache=%s/apt/srcpkgcache.bin", cache);
    argv[n++] = "-o";
    argv[n++] = arena_printf(a, "Dir::Cache::archives=%s/debs/", cache);
    argv[n++] = "-o";
    argv[n++] = "pkgCacheGen::Essential=none";
    argv[n++] = "-o";
    argv[n++] = "APT::Install-Recommends=false";
    argv[n++] = "-o";
    argv[n++] = "APT::Install-Suggests=false";
    for (size_t i = 0; i < n; i++)
        if (argv[i] == NULL) {
            arena_free(a);
            return err_set(err, ERR_LIMIT, "%s: cache path too long", what);
        }
    ASSERT(n + ntail + 1 <= ntail + 24);
    for (size_t i = 0; i < ntail; i++)
        argv[n++] = tail[i];
    argv[n] = NULL;
    rc = run(argv, out, what, err);
    arena_free(a);
    return rc;
}

/* ---------------------------------------------------------------- resolving */

static int pkg_cmp(const void *x, const void *y)
{
    const struct bld_base_pkg *p = x, *q = y;

    return strcmp(p->name, q->name);
}

/* "Inst name (version origin… [arch])", as apt-get -s prints it for a new package. */
static int inst_parse(struct slice line, struct arena *a, struct bld_base_pkg *p)
{
    struct slice rest = {line.ptr + 5, line.len - 5}, name, ver;
    const char *open, *close, *lb = NULL, *rb = NULL;

    if (!slice_split(&rest, ' ', &name) || rest.len < 2 || rest.ptr[0] != '(')
        return ERR_INVALID;
    open = rest.ptr + 1;
    close = memchr(open, ')', rest.len - 1);
    if (close == NULL)
        return ERR_INVALID;
    rest = (struct slice){open, (size_t)(close - open)};
    if (!slice_split(&rest, ' ', &ver))
        return ERR_INVALID;
    for (const char *c = rest.ptr; c < rest.ptr + rest.len; c++)
        if (*c == '[')
            lb = c;
        else if (*c == ']')
            rb = c;
    if (lb == NULL || rb == NULL || rb < lb || name.len == 0 || ver.len == 0)
        return ERR_INVALID;
    p->name = arena_strndup(a, name.ptr, name.len);
    p->version = arena_strndup(a, ver.ptr, ver.len);
    p->arch = arena_strndup(a, lb + 1, (size_t)(rb - lb - 1));
    if (p->name == NULL || p->version == NULL || p->arch == NULL)
        return ERR_LIMIT;
    return 0;
}

static int inst_lines(struct slice out, struct arena *a, struct bld_base_pkg **pkgs, size_t *count,
                      struct err *err)
{
    struct slice rest = out, line;
    size_t n = 0, cap = 0;
    struct bld_base_pkg *p = NULL, *grown;

    while (slice_split(&rest, '\n', &line)) {
        if (line.len < 6 || memcmp(line.ptr, "Inst ", 5) != 0)
            continue;
        if (n == cap) {
            cap = cap != 0 ? cap * 2 : 64;
            grown = arena_alloc(a, cap * sizeof(*p));
            if (grown == NULL)
                return err_set(err, ERR_LIMIT, "resolve: arena budget spent");
            if (n > 0)
                memcpy(grown, p, n * sizeof(*p));
            p = grown;
        }
        if (inst_parse(line, a, &p[n]) != 0)
            return err_set(err, ERR_INTERNAL, "resolve: cannot read apt's line \"%.*s\"",
                           (int)MIN_SZ(line.len, 100), line.ptr);
        n++;
    }
    if (n == 0)
        return err_set(err, ERR_INTERNAL, "resolve: apt chose no packages");
    qsort(p, n, sizeof(*p), pkg_cmp);
    *pkgs = p;
    *count = n;
    return 0;
}

static int cache_dirs(const char *cache, struct err *err)
{
    const char *subs[] = {"", "/apt", "/debs", "/debs/partial", "/rootfs"};
    char path[PATH_MAX], status[PATH_MAX];
    int fd;

    for (size_t i = 0; i < ARRAY_LEN(subs); i++) {
        if ((size_t)snprintf(path, sizeof(path), "%s%s", cache, subs[i]) >= sizeof(path))
            return err_set(err, ERR_INVALID, "cache_dir: path too long");
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return err_set(err, err_from_errno(errno), "cache_dir: %s: %s", path, strerror(errno));
    }
    snprintf(status, sizeof(status), "%s/apt/status", cache);
    fd = open(status, O_WRONLY | O_CREAT | O_CLOEXEC, 0644); /* stays empty */
    if (fd < 0)
        return err_set(err, ERR_IO, "cache_dir: %s: %s", status, strerror(errno));
    close(fd);
    return 0;
}

static int resolve_once(const char *cache, const char **names, size_t n, struct arena *a,
                        struct bld_base_pkg **pkgs, size_t *count, struct err *err)
{
    const char *tail[NAMES_MAX + 2] = {"-s", "install"};
    struct sbuf out = SBUF_INIT(OUT_MAX);
    int rc;

    memcpy(tail + 2, names, n * sizeof(*names));
    rc = apt_run(cache, tail, n + 2, &out, "resolving packages", err);
    if (rc == 0)
        rc = inst_lines(sbuf_slice(&out), a, pkgs, count, err);
    sbuf_release(&out);
    return rc;
}

/* True when the host has no package lists yet (a fresh machine that never ran apt-get update). */
static bool lists_missing(void)
{
    DIR *d = opendir("/var/lib/apt/lists");
    struct dirent *e;
    bool found = false;

    if (d == NULL)
        return true;
    while (!found && (e = readdir(d)) != NULL)
        found = strstr(e->d_name, "_Packages") != NULL;
    closedir(d);
    return !found;
}

/* The host's package lists may be missing (a fresh CI machine) or stale (a version that the
 * archive dropped): one apt-get update is then worth a try. */
static int apt_update(struct err *err)
{
    const char *argv[] = {"apt-get", "-q", "update", NULL};
    struct sbuf out = SBUF_INIT(OUT_MAX);
    int rc = run(argv, &out, "apt-get update", err);

    sbuf_release(&out);
    return rc;
}

int bld_base_resolve(const struct bld_base_spec *s, const char *cache_dir, struct arena *a,
                     struct bld_base_pkg **pkgs, size_t *count, struct err *err)
{
    const char *names[NAMES_MAX];
    size_t n;
    int rc;

    rc = bld_base_names(s, names, NAMES_MAX, &n, err);
    if (rc == 0)
        rc = cache_dirs(cache_dir, err);
    if (rc < 0)
        return rc;
    rc = resolve_once(cache_dir, names, n, a, pkgs, count, err);
    if (rc != ERR_UNAVAILABLE || !lists_missing() || apt_update(&(struct err){0}) != 0)
        return rc;
    return resolve_once(cache_dir, names, n, a, pkgs, count, err);
}

void bld_base_key(const struct bld_base_pkg *pkgs, size_t count, char key[BLD_BASE_KEY_HEX + 1])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char sum[32];
    unsigned len = 0;

    ASSERT(md != NULL);
    ASSERT(EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1);
    EVP_DigestUpdate(md, FORMAT_LINE, strlen(FORMAT_LINE));
    for (size_t i = 0; i < count; i++) {
        EVP_DigestUpdate(md, pkgs[i].name, strlen(pkgs[i].name));
        EVP_DigestUpdate(md, "=", 1);
        EVP_DigestUpdate(md, pkgs[i].version, strlen(pkgs[i].version));
        EVP_DigestUpdate(md, "\n", 1);
    }
    ASSERT(EVP_DigestFinal_ex(md, sum, &len) == 1 && len == sizeof(sum));
    EVP_MD_CTX_free(md);
    for (size_t i = 0; i < sizeof(sum); i++)
        snprintf(key + 2 * i, 3, "%02x", sum[i]);
}

/* ---------------------------------------------------------------- downloading */

/* Asks for exactly the resolved versions, so what is unpacked is what the key names. */
static int download(const char *cache, const struct bld_base_pkg *pkgs, size_t n, struct err *err)
{
    struct arena *a = arena_new(NULL);
    const char **tail = arena_alloc(a, (n + 3) * sizeof(*tail));
    struct sbuf out = SBUF_INIT(OUT_MAX);
    int rc = 0;

    if (tail == NULL) {
        arena_free(a);
        return err_set(err, ERR_LIMIT, "download: arena budget spent");
    }
    tail[0] = "-y";
    tail[1] = "--download-only";
    tail[2] = "install";
    for (size_t i = 0; i < n && rc == 0; i++)
        if ((tail[i + 3] = arena_printf(a, "%s=%s", pkgs[i].name, pkgs[i].version)) == NULL)
            rc = err_set(err, ERR_LIMIT, "download: arena budget spent");
    if (rc == 0)
        rc = apt_run(cache, tail, n + 3, &out, "downloading packages", err);
    sbuf_release(&out);
    arena_free(a);
    return rc;
}

/* ---------------------------------------------------------------- unpacking */

struct nested {
    struct archive *outer;
    char buf[BLOCK];
};

static la_ssize_t nested_read(struct archive *inner, void *arg, const void **buf)
{
    struct nested *nd = arg;

    (void)inner;
    *buf = nd->buf;
    return archive_read_data(nd->outer, nd->buf, sizeof(nd->buf));
}

/* Debian 12 is usrmerged: /bin, /sbin and /lib* are links into /usr, made after unpacking. A
 * package's ./bin/ls therefore lands in usr/bin/ls. Returns NULL for the top directory. */
static const char *merged_path(const char *p, struct sbuf *out)
{
    static const char *const tops[] = {"bin", "sbin", "lib", "lib32", "lib64", "libx32"};

    while (p[0] == '.' && p[1] == '/')
        p += 2;
    while (p[0] == '/')
        p++;
    if (p[0] == '\0' || strcmp(p, ".") == 0)
        return NULL;
    sbuf_reset(out);
    for (size_t i = 0; i < ARRAY_LEN(tops); i++) {
        size_t n = strlen(tops[i]);
        if (strncmp(p, tops[i], n) == 0 && (p[n] == '\0' || p[n] == '/')) {
            sbuf_puts(out, "usr/");
            break;
        }
    }
    sbuf_puts(out, p);
    return out->buf;
}

/* Manual pages, info pages, translations and documentation (but for the copyright files) are
 * left out, as Debian's slim images do: a third of some runtimes, and never run. */
static bool path_skipped(const char *p)
{
    static const char *const dirs[] = {"usr/share/man/", "usr/share/info/", "usr/share/locale/",
                                       "usr/share/doc/"};
    const char *base = strrchr(p, '/');

    for (size_t i = 0; i < ARRAY_LEN(dirs); i++)
        if (strncmp(p, dirs[i], strlen(dirs[i])) == 0)
            return i < 3 || base == NULL || strcmp(base, "/copyright") != 0;
    return false;
}

/* Where the entries of one package's data go. */
struct placing {
    const char *root; /* the root filesystem */
    const char *deb;  /* for errors */
    struct sbuf tmp;  /* the merged path */
};

/* An rt_entry_fn: puts <e> under the root, usrmerged, or skips it. */
static int entry_prepare(void *arg, struct archive_entry *e, struct err *err)
{
    struct placing *pl = arg;
    const char *p = merged_path(archive_entry_pathname(e), &pl->tmp), *link;
    char full[PATH_MAX];
    mode_t type = archive_entry_filetype(e);

    if (p == NULL || path_skipped(p))
        return 1;
    if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
        return 1; /* packages ship no devices or fifos; skip any rather than trust them */
    if ((size_t)snprintf(full, sizeof(full), "%s/%s", pl->root, p) >= sizeof(full))
        return err_set(err, ERR_LIMIT, "%s: a path is too long", pl->deb);
    archive_entry_copy_pathname(e, full);
    link = archive_entry_hardlink(e);
    if (link != NULL) {
        p = merged_path(link, &pl->tmp);
        if (p == NULL || (size_t)snprintf(full, sizeof(full), "%s/%s", pl->root, p) >= sizeof(full))
            return err_set(err, ERR_LIMIT, "%s: a path is too long", pl->deb);
        archive_entry_copy_hardlink(e, full);
    }
    archive_entry_set_perm(e, archive_entry_perm(e) & 01777); /* no setuid or setgid */
    return 0;
}

static int unpack_data(struct archive *in, struct archive *disk, const char *root, const char *deb,
                       struct err *err)
{
    struct placing pl = {root, deb, SBUF_INIT(PATH_MAX)};
    int rc = rt_archive_extract(in, disk, entry_prepare, &pl, deb, ERR_IO, err);

    sbuf_release(&pl.tmp);
    return rc;
}

/* The deb is an ar archive; its data.tar.* member is read in place as a second archive. */
static int unpack_deb(const char *deb, struct archive *disk, const char *root, struct err *err)
{
    struct archive *outer = archive_read_new(), *inner = NULL;
    struct archive_entry *e;
    struct nested *nd = xmalloc(sizeof(*nd));
    int rc = err_set(err, ERR_INVALID, "%s: no data.tar member", deb);

    archive_read_support_format_ar(outer);
    if (archive_read_open_filename(outer, deb, BLOCK) != ARCHIVE_OK) {
        rc = err_set(err, ERR_IO, "%s: %s", deb, archive_error_string(outer));
        goto done;
    }
    while (archive_read_next_header(outer, &e) == ARCHIVE_OK) {
        if (strncmp(archive_entry_pathname(e), "data.tar", 8) != 0)
            continue;
        nd->outer = outer;
        inner = archive_read_new();
        archive_read_support_filter_all(inner);
        archive_read_support_format_tar(inner);
        if (archive_read_open(inner, nd, NULL, nested_read, NULL) != ARCHIVE_OK)
            rc = err_set(err, ERR_IO, "%s: %s", deb, archive_error_string(inner));
        else
            rc = unpack_data(inner, disk, root, deb, err);
        break;
    }
done:
    if (inner != NULL)
        archive_read_free(inner);
    archive_read_free(outer);
    free(nd);
    return rc;
}

/* apt names a downloaded file name_version_arch.deb, with ':' (an epoch) written as %3a. */
static int deb_path(const char *cache, const struct bld_base_pkg *p, struct sbuf *out)
{
    sbuf_reset(out);
    sbuf_printf(out, "%s/debs/%s_", cache, p->name);
    for (const char *c = p->version; *c != '\0'; c++)
        if (*c == ':')
            sbuf_puts(out, "%3a");
        else
            sbuf_putc(out, *c);
    sbuf_printf(out, "_%s.deb", p->arch);
    return out->err;
}

static int unpack_all(const char *cache, const struct bld_base_pkg *pkgs, size_t n,
                      const char *root, struct err *err)
{
    struct archive *disk = archive_write_disk_new();
    struct sbuf deb = SBUF_INIT(PATH_MAX);
    int rc = 0;

    /* Secure-symlinks refuses to write through a link: nothing can escape <root>, and the
     * usrmerge links do not exist yet. Ownership is the caller's (root when building images). */
    archive_write_disk_set_options(disk, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                                             ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                             ARCHIVE_EXTRACT_SECURE_NODOTDOT);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (deb_path(cache, &pkgs[i], &deb) != 0)
            rc = err_set(err, ERR_LIMIT, "unpack: path too long");
        else
            rc = unpack_deb(deb.buf, disk, root, err);
    }
    archive_write_free(disk);
    sbuf_release(&deb);
    return rc;
}

/* ---------------------------------------------------------------- finishing */

static int put_file(const char *root, const char *rel, const char *text, unsigned mode,
                    struct err *err)
{
    char path[PATH_MAX];
    int fd, rc = 0;
    size_t len = strlen(text);

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return err_set(err, ERR_IO, "%s: %s", rel, strerror(errno));
    if (write(fd, text, len) != (ssize_t)len || fchmod(fd, mode) != 0)
        rc = err_set(err, ERR_IO, "%s: %s", rel, strerror(errno));
    close(fd);
    return rc;
}

/* mkdir -p, then the mode and owner asked for (mkdir's mode is cut by the umask). */
static int put_dir(const char *root, const char *rel, unsigned mode, uid_t uid, struct err *err)
{
    char path[PATH_MAX];
    size_t n = (size_t)snprintf(path, sizeof(path), "%s/", root);

    for (const char *c = rel;; c++) {
        if (*c == '/' || *c == '\0') {
            path[n] = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST)
                return err_set(err, ERR_IO, "%s: %s", rel, strerror(errno));
            if (*c == '\0')
                break;
        }
        if (n + 1 >= sizeof(path))
            return err_set(err, ERR_LIMIT, "%s: path too long", rel);
        path[n++] = *c;
    }
    if (chmod(path, mode) != 0 || chown(path, uid, uid) != 0)
        return err_set(err, ERR_IO, "%s: %s", rel, strerror(errno));
    return 0;
}

static int put_link(const char *root, const char *rel, const char *target, struct err *err)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    if (unlink(path) != 0 && errno != ENOENT && errno != EISDIR)
        return err_set(err, ERR_IO, "%s: %s", rel, strerror(errno));
    if (symlink(target, path) != 0)
        return err_set(err, ERR_IO, "%s -> %s: %s", rel, target, strerror(errno));
    return 0;
}

static bool exists(const char *root, const char *rel)
{
    char path[PATH_MAX];
    struct stat st;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, rel) >= sizeof(path))
        return false; /* no such path can exist */
    return lstat(path, &st) == 0;
}

static int usrmerge(const char *root, struct err *err)
{
    static const char *const tops[] = {"bin", "sbin", "lib", "lib32", "lib64", "libx32"};
    char rel[32], target[32];
    int rc = 0;

    for (size_t i = 0; i < ARRAY_LEN(tops) && rc == 0; i++) {
        snprintf(rel, sizeof(rel), "usr/%s", tops[i]);
        snprintf(target, sizeof(target), "usr/%s", tops[i]);
        if (i < 3)
            rc = put_dir(root, rel, 0755, 0, err);
        if (rc == 0 && exists(root, rel))
            rc = put_link(root, tops[i], target, err);
    }
    return rc;
}

static const char passwd_text[] = "root:x:0:0:root:/root:/bin/sh\n"
                                  "app:x:10001:10001:app:/home/app:/bin/sh\n"
                                  "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
static const char group_text[] = "root:x:0:\n"
                                 "app:x:10001:\n"
                                 "nogroup:x:65534:\n";
static const char nsswitch_text[] = "passwd: files\n"
                                    "group: files\n"
                                    "shadow: files\n"
                                    "hosts: files dns\n"
                                    "networks: files\n"
                                    "protocols: files\n"
                                    "services: files\n";
static const char hosts_text[] = "127.0.0.1\tlocalhost\n"
                                 "::1\tlocalhost ip6-localhost ip6-loopback\n";

/* Serves /srv/www as the app user: every path that is not a file gets index.html (the SPA
 * fallback). The port is in /tmp/listen.conf, which the start command writes from $PORT (replicas
 * share the host's network, so each needs its own). Temporary files and the pid go to /tmp, logs
 * to the container's output. */
static const char nginx_text[] = "worker_processes 1;\n"
                                 "pid /tmp/nginx.pid;\n"
                                 "error_log stderr warn;\n"
                                 "events { worker_connections 512; }\n"
                                 "http {\n"
                                 "    include /etc/nginx/mime.types;\n"
                                 "    default_type application/octet-stream;\n"
                                 "    access_log off;\n"
                                 "    sendfile on;\n"
                                 "    server_tokens off;\n"
                                 "    client_body_temp_path /tmp/nginx-body;\n"
                                 "    proxy_temp_path /tmp/nginx-proxy;\n"
                                 "    fastcgi_temp_path /tmp/nginx-fastcgi;\n"
                                 "    uwsgi_temp_path /tmp/nginx-uwsgi;\n"
                                 "    scgi_temp_path /tmp/nginx-scgi;\n"
                                 "    server {\n"
                                 "        include /tmp/listen.conf;\n"
                                 "        root /srv/www;\n"
                                 "        location / { try_files $uri $uri/ /index.html; }\n"
                                 "    }\n"
                                 "}\n";

static int etc_files(const char *root, struct err *err)
{
    int rc = put_file(root, "etc/passwd", passwd_text, 0644, err);

    if (rc == 0)
        rc = put_file(root, "etc/group", group_text, 0644, err);
    if (rc == 0)
        rc = put_file(root, "etc/nsswitch.conf", nsswitch_text, 0644, err);
    if (rc == 0)
        rc = put_file(root, "etc/hosts", hosts_text, 0644, err);
    if (rc == 0)
        rc = put_file(root, "etc/timezone", "Etc/UTC\n", 0644, err);
    if (rc == 0)
        rc = put_link(root, "etc/localtime", "/usr/share/zoneinfo/Etc/UTC", err);
    if (rc == 0)
        rc = put_file(root, "etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n", 0644, err);
    if (rc == 0 && exists(root, "usr/sbin/nginx")) {
        rc = put_file(root, "etc/nginx/nginx.conf", nginx_text, 0644, err);
        if (rc == 0)
            rc = put_dir(root, "srv/www", 0755, 0, err);
    }
    return rc;
}

static int base_dirs(const char *root, struct err *err)
{
    static const struct {
        const char *rel;
        unsigned mode;
        uid_t uid;
    } dirs[] = {
        {"etc", 0755, 0},
        {"tmp", 01777, 0},
        {"var/tmp", 01777, 0},
        {"root", 0700, 0},
        {"home/app", 0755, APP_UID},
        {"proc", 0555, 0},
        {"sys", 0555, 0},
        {"dev", 0755, 0},
        {"run", 0755, 0},
        {"etc/ssl/certs", 0755, 0},
    };
    int rc = 0;

    for (size_t i = 0; i < ARRAY_LEN(dirs) && rc == 0; i++)
        rc = put_dir(root, dirs[i].rel, dirs[i].mode, dirs[i].uid, err);
    return rc;
}

/* ---------------------------------------------------------------- certificates */

/* What update-ca-certificates makes by default: every certificate the package ships, in one
 * bundle (in name order, so the bundle is the same on every build). */
struct certs {
    char *paths[CERTS_MAX];
    size_t n;
    bool too_many;
};

static struct certs *certs_found; /* nftw has no argument; guarded by certs_lock */
static pthread_mutex_t certs_lock = PTHREAD_MUTEX_INITIALIZER;

static int cert_seen(const char *path, const struct stat *st, int type, struct FTW *f)
{
    size_t n = strlen(path);

    (void)st;
    (void)f;
    if (type != FTW_F || n < 4 || strcmp(path + n - 4, ".crt") != 0)
        return 0;
    if (certs_found->n == CERTS_MAX) {
        certs_found->too_many = true;
        return 1;
    }
    certs_found->paths[certs_found->n++] = xstrdup(path);
    return 0;
}

static int str_cmp(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static int bundle_append(struct sbuf *b, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    ssize_t got;
    char buf[8192];

    if (fd < 0)
        return -1;
    while ((got = read(fd, buf, sizeof(buf))) > 0)
        sbuf_put(b, buf, (size_t)got);
    close(fd);
    if (b->len > 0 && b->buf[b->len - 1] != '\n')
        sbuf_putc(b, '\n');
    return got < 0 ? -1 : 0;
}

static int ca_bundle(const char *root, struct err *err)
{
    struct certs *c = xcalloc(1, sizeof(*c));
    struct sbuf b = SBUF_INIT(8u << 20);
    char dir[PATH_MAX];
    int rc = 0;

    if (!join(dir, root, "usr/share/ca-certificates"))
        return err_set(err, ERR_LIMIT, "certificates: path too long");
    pthread_mutex_lock(&certs_lock);
    certs_found = c;
    if (nftw(dir, cert_seen, 16, FTW_PHYS) < 0 && errno != ENOENT)
        rc = err_set(err, ERR_IO, "certificates: %s: %s", dir, strerror(errno));
    certs_found = NULL;
    pthread_mutex_unlock(&certs_lock);
    if (rc == 0 && c->too_many)
        rc = err_set(err, ERR_LIMIT, "certificates: more than %d", CERTS_MAX);
    qsort(c->paths, c->n, sizeof(c->paths[0]), str_cmp);
    for (size_t i = 0; i < c->n && rc == 0; i++)
        if (bundle_append(&b, c->paths[i]) != 0)
            rc = err_set(err, ERR_IO, "certificates: %s: %s", c->paths[i], strerror(errno));
    if (rc == 0 && b.err != 0)
        rc = err_set(err, ERR_LIMIT, "certificates: bundle over 8 MiB");
    if (rc == 0 && c->n > 0)
        rc = put_file(root, "etc/ssl/certs/ca-certificates.crt", b.buf, 0644, err);
    for (size_t i = 0; i < c->n; i++)
        free(c->paths[i]);
    free(c);
    sbuf_release(&b);
    return rc;
}

/* ---------------------------------------------------------------- last checks */

static int clear_setid(const char *path, const struct stat *st, int type, struct FTW *f)
{
    (void)f;
    if (type == FTW_SL || (st->st_mode & (S_ISUID | S_ISGID)) == 0)
        return 0;
    return chmod(path, st->st_mode & 01777) != 0 ? -1 : 0;
}

/* The dynamic linker's cache, as libc-bin's trigger would make it; the host's ldconfig reads
 * only files under <root> (-r). */
static int ld_cache(const char *root, struct err *err)
{
    const char *argv[] = {"ldconfig", "-r", root, NULL};
    struct sbuf out = SBUF_INIT(64u << 10);
    int rc = run(argv, &out, "ldconfig", err);

    sbuf_release(&out);
    return rc;
}

static int finish(const char *root, struct err *err)
{
    int rc = usrmerge(root, err);

    if (rc == 0)
        rc = base_dirs(root, err);
    if (rc == 0)
        rc = etc_files(root, err);
    if (rc == 0)
        rc = ca_bundle(root, err);
    if (rc == 0)
        rc = ld_cache(root, err);
    if (rc == 0 && nftw(root, clear_setid, 16, FTW_PHYS) != 0)
        rc = err_set(err, ERR_IO, "clearing setuid bits: %s", strerror(errno));
    return rc;
}

/* ---------------------------------------------------------------- the cache */

/* A ".tmp-<key>-<pid>-…" directory whose builder is gone is what a crash left behind. */
static void stale_remove(const char *rootfs_dir, const char *key)
{
    DIR *d = opendir(rootfs_dir);
    struct dirent *e;
    char path[PATH_MAX];
    size_t klen = strlen(key);

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        long pid;
        if (strncmp(e->d_name, ".tmp-", 5) != 0 || strncmp(e->d_name + 5, key, klen) != 0 ||
            e->d_name[5 + klen] != '-')
            continue;
        pid = strtol(e->d_name + 6 + klen, NULL, 10);
        if (pid <= 0 || (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
            continue;
        if (join(path, rootfs_dir, e->d_name) && file_remove_tree(path, &(struct err){0}) < 0)
            continue; /* tried again by the next build of this key */
    }
    closedir(d);
}

/* Makes <final> from <pkgs>: download, unpack into a temporary directory, finish, then one
 * rename. When another builder got there first, its result is kept and ours dropped. */
static int build(const char *cache, const struct bld_base_pkg *pkgs, size_t n, const char *key,
                 const char *final, struct err *err)
{
    char rootfs_dir[PATH_MAX], tmp[PATH_MAX];
    int rc, fd;

    if (!join(rootfs_dir, cache, "rootfs"))
        return err_set(err, ERR_INVALID, "cache_dir: path too long");
    stale_remove(rootfs_dir, key);
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.tmp-%s-%ld-XXXXXX", rootfs_dir, key,
                         (long)getpid()) >= sizeof(tmp))
        return err_set(err, ERR_INVALID, "cache_dir: path too long");
    rc = download(cache, pkgs, n, err);
    if (rc == ERR_UNAVAILABLE && apt_update(&(struct err){0}) == 0)
        rc = download(cache, pkgs, n, err);
    if (rc < 0)
        return rc;
    if (mkdtemp(tmp) == NULL)
        return err_set(err, ERR_IO, "%s: %s", tmp, strerror(errno));
    if (chmod(tmp, 0755) != 0)
        rc = err_set(err, ERR_IO, "%s: %s", tmp, strerror(errno));
    if (rc == 0)
        rc = unpack_all(cache, pkgs, n, tmp, err);
    if (rc == 0)
        rc = finish(tmp, err);
    /* Everything on disk before the name appears: a power cut cannot leave a named rootfs
     * with empty files in it. */
    fd = rc == 0 ? open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        syncfs(fd);
        close(fd);
    }
    if (rc == 0 && rename(tmp, final) != 0 && errno != EEXIST && errno != ENOTEMPTY)
        rc = err_set(err, ERR_IO, "%s: %s", final, strerror(errno));
    /* Failed, or lost the race: a leftover is removed by the next build of this key. */
    if (exists(tmp, ".") && file_remove_tree(tmp, &(struct err){0}) < 0)
        LOG_WARN(NULL, "bld.base.leftover", LF_STR("dir", tmp));
    return rc;
}

int bld_base_rootfs(const struct bld_base_spec *s, const char *cache_dir, char **path,
                    char key[BLD_BASE_KEY_HEX + 1], struct err *err)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 16u << 20});
    struct bld_base_pkg *pkgs = NULL;
    char cache[PATH_MAX], final[PATH_MAX];
    struct stat st;
    size_t n = 0;
    int rc;

    *path = NULL;
    if (cache_dir == NULL || cache_dir[0] == '\0')
        rc = err_set(err, ERR_INVALID, "cache_dir: empty");
    else
        rc = cache_dirs(cache_dir, err);
    /* libarchive's symlink check looks at every component, the cache's own path included. */
    if (rc == 0 && realpath(cache_dir, cache) == NULL)
        rc = err_set(err, ERR_IO, "cache_dir: %s: %s", cache_dir, strerror(errno));
    if (rc == 0 && strlen(cache) > 3000) /* room for the rootfs's own paths */
        rc = err_set(err, ERR_INVALID, "cache_dir: path over 3000 bytes");
    if (rc == 0)
        rc = bld_base_resolve(s, cache, a, &pkgs, &n, err);
    if (rc < 0)
        goto done;
    bld_base_key(pkgs, n, key);
    snprintf(final, sizeof(final), "%.3000s/rootfs/%s", cache, key);
    if (stat(final, &st) != 0 || !S_ISDIR(st.st_mode))
        rc = build(cache, pkgs, n, key, final, err);
    if (rc == 0)
        *path = xstrdup(final);
done:
    arena_free(a);
    return rc;
}
