/*
 * bld dockerfile: an app's own Dockerfile, built with buildah (docs/builds.md, "Dockerfiles").
 *
 * No registry is reachable from the builder, so a Dockerfile may start only from scratch or
 * from a local base: the root filesystems of bld_base_rootfs(), written once as an OCI layout
 * in the shared base cache and pulled from there into the project's own buildah storage as
 * "slipway/<name>". buildah runs with --pull=never, so an image this file's check missed still
 * cannot be fetched.
 *
 * buildah's chroot isolation gives RUN steps the network, PID and IPC namespaces of buildah
 * itself, so buildah is started inside new ones (util-linux unshare): no network but a
 * loopback of its own, its own /proc, and a PID namespace whose first process is buildah, so
 * that killing it ends every RUN step. It also runs in a cgroup of its own with the build's
 * memory, CPU and pids limits, joined by the child before it execs anything, so nothing it
 * starts escapes them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "bld/bld-int.h"

#define BUILDAH        "buildah"
#define UNSHARE        "/usr/bin/unshare"
#define STORAGE_DRIVER "overlay" /* vfs copies the whole rootfs for every RUN step */
#define BASE_TAG       "base"
#define KEY_FORMAT     "slipway-dockerfile-1\n"
#define IMAGE_NAME     "localhost/slipway-app:latest"
#define LINE_CUT       (16u << 10)
#define POLL_MS        50
#define ARGS_MAX       48
#define CG_MAX         3
#define BASES_HELP                                                                                 \
    "bases here: scratch, slipway/{node,python,go,static}, slipway/{node,python,go}-build"

extern char **environ;

static const struct bld_dockerfile_base known[] = {
    {"node", false}, {"python", false}, {"go", false}, {"static", false},
    {"node", true},  {"python", true},  {"go", true},
};

/* ---------------------------------------------------------------- the Dockerfile's images */

/* The next logical line of <text> from *pos: continuation lines ("\\\n") joined with spaces,
 * comment lines dropped. *line_no gets the number of its first physical line. */
static bool next_line(struct slice text, size_t *pos, unsigned *no, struct sbuf *out,
                      unsigned *line_no)
{
    sbuf_reset(out);
    *line_no = 0;
    while (*pos < text.len) {
        const char *p = text.ptr + *pos, *nl = memchr(p, '\n', text.len - *pos);
        struct slice l = {p, nl ? (size_t)(nl - p) : text.len - *pos};
        *pos += l.len + (nl != NULL);
        (*no)++;
        l = slice_trim(l);
        if (l.len > 0 && l.ptr[l.len - 1] == '\r')
            l.len--;
        if (l.len > 0 && l.ptr[0] == '#')
            continue; /* a comment, also inside a continued instruction */
        if (*line_no == 0 && l.len == 0)
            continue;
        if (*line_no == 0)
            *line_no = *no;
        bool more = l.len > 0 && l.ptr[l.len - 1] == '\\';
        sbuf_put(out, l.ptr, l.len - more);
        sbuf_putc(out, ' ');
        if (!more)
            return true;
    }
    return *line_no != 0;
}

/* The next space-separated word of <s>. */
static struct slice word(struct slice *s)
{
    struct slice w;

    *s = slice_trim(*s);
    w = *s;
    for (size_t i = 0; i < s->len; i++)
        if (s->ptr[i] == ' ' || s->ptr[i] == '\t') {
            w.len = i;
            break;
        }
    s->ptr += w.len;
    s->len -= w.len;
    return w;
}

/* The stage names seen so far ("FROM … AS <name>"), copied: the line they were on is gone. */
struct stages {
    char names[32][128];
    size_t n;
};

/* Checks one image a FROM or COPY --from names; records a base in <out>. */
static int image_check(struct slice img, unsigned no, const char *what, const struct stages *st,
                       struct bld_dockerfile_base *out, size_t *count, struct err *err)
{
    char shown[48];
    struct slice name = img;

    if (memchr(img.ptr, '$', img.len) != NULL)
        return err_set(err, ERR_INVALID,
                       "Dockerfile line %u: %s %s: name the base image, not a variable", no, what,
                       slice_echo(shown, 40, img));
    if (slice_case_eq_cstr(img, "scratch"))
        return 0;
    for (size_t i = 0; i < st->n; i++)
        if (slice_case_eq_cstr(img, st->names[i]))
            return 0;
    if (slice_starts_with(name, SLICE("localhost/")))
        name = (struct slice){name.ptr + 10, name.len - 10};
    if (name.len > 7 && memcmp(name.ptr + name.len - 7, ":latest", 7) == 0)
        name.len -= 7;
    for (size_t i = 0; slice_starts_with(name, SLICE("slipway/")) && i < ARRAY_LEN(known); i++) {
        char want[32];
        snprintf(want, sizeof(want), "slipway/%s%s", known[i].runtime,
                 known[i].build ? "-build" : "");
        if (!slice_eq_cstr(name, want))
            continue;
        for (size_t k = 0; k < *count; k++)
            if (out[k].runtime == known[i].runtime && out[k].build == known[i].build)
                return 0;
        out[(*count)++] = known[i];
        return 0;
    }
    return err_set(err, ERR_INVALID,
                   "Dockerfile line %u: %s %s: no external registry is reachable from this "
                   "builder; " BASES_HELP,
                   no, what, slice_echo(shown, 40, img));
}

/* FROM [--platform=…] <image> [AS <name>] */
static int from_check(struct slice rest, unsigned no, struct stages *st,
                      struct bld_dockerfile_base *out, size_t *count, struct err *err)
{
    struct slice img, as;

    do
        img = word(&rest);
    while (slice_starts_with(img, SLICE("--")));
    if (img.len == 0)
        return err_set(err, ERR_INVALID, "Dockerfile line %u: FROM names no image", no);
    int rc = image_check(img, no, "FROM", st, out, count, err);
    as = word(&rest);
    if (rc == 0 && slice_case_eq_cstr(as, "as") && st->n < ARRAY_LEN(st->names)) {
        as = word(&rest);
        snprintf(st->names[st->n++], sizeof(st->names[0]), SLICE_FMT, SLICE_ARG(as));
    }
    return rc;
}

/* COPY --from=<stage|index|image> … */
static int copy_check(struct slice rest, unsigned no, const struct stages *st,
                      struct bld_dockerfile_base *out, size_t *count, struct err *err)
{
    for (struct slice w = word(&rest); slice_starts_with(w, SLICE("--")); w = word(&rest)) {
        uint64_t index;
        if (!slice_starts_with(w, SLICE("--from=")))
            continue;
        struct slice from = {w.ptr + 7, w.len - 7};
        if (slice_to_u64(from, &index) == 0 && index < st->n)
            continue;
        return image_check(from, no, "COPY --from", st, out, count, err);
    }
    return 0;
}

int bld_dockerfile_bases(struct slice text, struct bld_dockerfile_base *out, size_t *count,
                         struct err *err)
{
    struct sbuf line = SBUF_INIT(BLD_READ_MAX);
    struct stages *st = xcalloc(1, sizeof(*st));
    size_t pos = 0;
    unsigned no = 0, line_no;
    int rc = 0;

    *count = 0;
    while (rc == 0 && next_line(text, &pos, &no, &line, &line_no)) {
        struct slice rest = sbuf_slice(&line), ins = word(&rest);
        if (slice_case_eq_cstr(ins, "FROM"))
            rc = from_check(rest, line_no, st, out, count, err);
        else if (slice_case_eq_cstr(ins, "COPY"))
            rc = copy_check(rest, line_no, st, out, count, err);
    }
    free(st);
    sbuf_release(&line);
    return rc;
}

/* ---------------------------------------------------------------- cgroup */

/* The build's cgroup: one directory per controller on cgroup v1, one in all on v2. Made
 * beside the sandbox's (bld_cgroup_dir()), so it nests inside the server's own limits. */
struct cgroup {
    char dirs[CG_MAX][PATH_MAX];
    size_t n;
    int procs[CG_MAX]; /* <dir>/cgroup.procs, opened O_CLOEXEC for the child to join */
};

/* Writes <value> to <dir>/<v1>, or to <dir>/<v2> when this is cgroup v2. */
static bool cg_write(const char *dir, const char *v1, const char *v2, const char *value)
{
    char path[PATH_MAX + 64];
    int fd = -1;

    snprintf(path, sizeof(path), "%s/%s", dir, v1);
    if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0 && v2 != NULL) {
        snprintf(path, sizeof(path), "%s/%s", dir, v2);
        fd = open(path, O_WRONLY | O_CLOEXEC);
    }
    if (fd < 0)
        return false;
    bool ok = write(fd, value, strlen(value)) == (ssize_t)strlen(value);
    close(fd);
    return ok;
}

static void cg_limits(const struct cgroup *cg, const struct bld_dockerfile_job *j)
{
    char v[64];

    for (size_t i = 0; i < cg->n; i++) {
        const char *d = cg->dirs[i];
        if (j->memory_bytes != 0) {
            snprintf(v, sizeof(v), "%" PRIu64, j->memory_bytes);
            cg_write(d, "memory.limit_in_bytes", "memory.max", v);
            cg_write(d, "memory.memsw.limit_in_bytes", NULL, v); /* v1: no swap on top */
            cg_write(d, "memory.swap.max", NULL, "0");
        }
        if (j->pids_max != 0) {
            snprintf(v, sizeof(v), "%u", j->pids_max);
            cg_write(d, "pids.max", NULL, v);
        }
        if (j->cpu_quota_us != 0) {
            uint64_t period = j->cpu_period_us ? j->cpu_period_us : 100000;
            snprintf(v, sizeof(v), "%" PRIu64, period);
            cg_write(d, "cpu.cfs_period_us", NULL, v);
            snprintf(v, sizeof(v), "%" PRIu64, j->cpu_quota_us);
            cg_write(d, "cpu.cfs_quota_us", NULL, v);
            snprintf(v, sizeof(v), "%" PRIu64 " %" PRIu64, j->cpu_quota_us, period);
            cg_write(d, "cpu.max", NULL, v);
        }
    }
}

/* Makes the cgroup. Without one the build runs unlimited, and the log says so: a host whose
 * cgroups cannot be written (no delegation) can still build. */
static void cg_make(struct cgroup *cg, const struct bld_dockerfile_job *j)
{
    static const char *const ctls[] = {"memory", "pids", "cpu"};
    char name[64], uuid[37], dir[PATH_MAX];

    id_new(uuid);
    snprintf(name, sizeof(name), "slipway-df-%s", uuid);
    for (size_t i = 0; i < ARRAY_LEN(ctls); i++) {
        if (bld_cgroup_dir(ctls[i], name, dir, sizeof(dir), NULL) < 0)
            continue;
        bool seen = false;
        for (size_t k = 0; k < cg->n; k++)
            seen = seen || strcmp(cg->dirs[k], dir) == 0;
        if (seen || (mkdir(dir, 0755) != 0 && errno != EEXIST))
            continue;
        snprintf(cg->dirs[cg->n], sizeof(cg->dirs[0]), "%s", dir);
        snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/cgroup.procs");
        cg->procs[cg->n++] = open(dir, O_WRONLY | O_CLOEXEC);
    }
    cg_limits(cg, j);
}

/* The number after "<key> " in <dir>/<file>; 0 when absent. */
static uint64_t cg_read(const char *dir, const char *file, const char *key)
{
    char path[PATH_MAX + 64], line[256];
    size_t klen = strlen(key);
    uint64_t v = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    if ((f = fopen(path, "re")) == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
            v = strtoull(line + klen + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

static void cg_stats(const struct cgroup *cg, bool *oom, bool *pids)
{
    for (size_t i = 0; i < cg->n; i++) {
        *oom = *oom || cg_read(cg->dirs[i], "memory.oom_control", "oom_kill") > 0 ||
               cg_read(cg->dirs[i], "memory.events", "oom_kill") > 0;
        *pids = *pids || cg_read(cg->dirs[i], "pids.events", "max") > 0;
    }
}

/* Kills whatever is still in the cgroup; true when it is empty. */
static bool cg_kill(const struct cgroup *cg)
{
    char path[PATH_MAX + 64], line[32];
    bool empty = true;

    for (size_t i = 0; i < cg->n; i++) {
        snprintf(path, sizeof(path), "%s/cgroup.procs", cg->dirs[i]);
        FILE *f = fopen(path, "re");
        while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
            empty = false;
            kill((pid_t)strtol(line, NULL, 10), SIGKILL);
        }
        if (f != NULL)
            fclose(f);
    }
    return empty;
}

static void cg_remove(struct cgroup *cg)
{
    for (int tries = 0; tries < 100 && !cg_kill(cg); tries++)
        usleep(20000);
    for (size_t i = 0; i < cg->n; i++) {
        if (cg->procs[i] >= 0)
            close(cg->procs[i]);
        (void)rmdir(cg->dirs[i]);
    }
    cg->n = 0;
}

/* ---------------------------------------------------------------- running buildah */

struct dctx {
    const struct bld_dockerfile_job *j;
    struct arena *a;
    const char *storage, *runroot, *tmp;
    const char *env[5];
    struct cgroup cg;
    struct sbuf *capture; /* output goes here instead of the log when set */
    char last_error[160]; /* buildah's last "Error: " line */
    char buf[LINE_CUT];
    size_t len;
    bool cancelled, timed_out;
};

static void say(struct dctx *d, const char *fmt, ...) APP_PRINTF(2, 3);
static void say(struct dctx *d, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    if (d->j->line == NULL)
        return;
    memcpy(line, "==> ", 4);
    va_start(ap, fmt);
    vsnprintf(line + 4, sizeof(line) - 4, fmt, ap);
    va_end(ap);
    d->j->line(d->j->line_arg, slice_from_cstr(line));
}

static void emit(struct dctx *d, size_t n)
{
    struct slice l = {d->buf, n > 0 && d->buf[n - 1] == '\n' ? n - 1 : n};

    if (slice_starts_with(l, SLICE("Error: ")))
        snprintf(d->last_error, sizeof(d->last_error), "%.*s", (int)l.len - 7, l.ptr + 7);
    if (d->capture != NULL) {
        sbuf_put_slice(d->capture, l);
        sbuf_putc(d->capture, '\n');
    } else if (d->j->line != NULL) {
        d->j->line(d->j->line_arg, l);
    }
    memmove(d->buf, d->buf + n, d->len - n);
    d->len -= n;
}

/* Reads what is there into lines; false at the end of the output (or nothing to read). */
static bool take(struct dctx *d, int fd)
{
    ssize_t n = read(fd, d->buf + d->len, sizeof(d->buf) - d->len);
    char *nl;

    if (n <= 0) {
        if (n == 0 && d->len > 0)
            emit(d, d->len);
        return false;
    }
    d->len += (size_t)n;
    while ((nl = memchr(d->buf, '\n', d->len)) != NULL)
        emit(d, (size_t)(nl - d->buf) + 1);
    if (d->len == sizeof(d->buf))
        emit(d, d->len);
    return true;
}

static bool stop_due(struct dctx *d)
{
    if (d->j->cancel != NULL && atomic_load(d->j->cancel))
        d->cancelled = true;
    else if (d->j->deadline_ms != 0 && time_mono_ms() >= d->j->deadline_ms)
        d->timed_out = true;
    return d->cancelled || d->timed_out;
}

/* Streams the child's output until it ends; kills its process group and cgroup at a cancel
 * or the deadline. Returns its wait status. */
static int pump(struct dctx *d, pid_t pid, int fd)
{
    int status = 0;
    bool killing = false;

    d->len = 0;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, POLL_MS) > 0)
            (void)take(d, fd);
        if (waitpid(pid, &status, WNOHANG) == pid)
            break;
        killing = killing || stop_due(d);
        if (killing) { /* buildah is the first process of its PID namespace: all go with it */
            kill(-pid, SIGKILL);
            (void)cg_kill(&d->cg);
        }
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    while (take(d, fd))
        ;
    if (d->len > 0)
        emit(d, d->len);
    return status;
}

/* The error for a buildah run that ended with wait <status>: the first cause that explains
 * it. */
static int verdict(struct dctx *d, int status, const char *what, struct err *err)
{
    const struct bld_dockerfile_job *j = d->j;
    bool oom = false, pids = false;

    if (d->cancelled)
        return err_set(err, ERR_CANCELLED, "build cancelled");
    if (d->timed_out)
        return err_set(err, ERR_TIMEOUT, "build ran longer than %" PRIu64 " s",
                       (j->wall_ms + 999) / 1000);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    cg_stats(&d->cg, &oom, &pids);
    if (oom && j->memory_bytes != 0)
        return err_set(err, ERR_LIMIT, "build needed more than %" PRIu64 " MiB",
                       j->memory_bytes >> 20);
    if (pids && j->pids_max != 0)
        return err_set(err, ERR_LIMIT, "build started too many processes (limit %u)", j->pids_max);
    if (d->last_error[0] != '\0')
        return err_set(err, ERR_INVALID, "Dockerfile %s failed: %s", what, d->last_error);
    return err_set(err, ERR_INVALID, "Dockerfile %s failed (buildah exit %d)", what,
                   WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

/* The child: joins the cgroup, then becomes unshare. System calls only (we may have
 * threads). */
static void child(const struct dctx *d, const char *const *argv, int out)
{
    int null = open("/dev/null", O_RDONLY);

    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (size_t i = 0; i < d->cg.n; i++)
        if (d->cg.procs[i] >= 0 && write(d->cg.procs[i], "0", 1) != 1)
            _exit(126);
    if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
        _exit(126);
    execve(UNSHARE, (char *const *)argv, (char *const *)d->env);
    _exit(127);
}

/* Runs buildah <args> (NULL-terminated) in new namespaces and the cgroup. 0 when it exited 0;
 * otherwise the error says why. */
static int run(struct dctx *d, const char *const *args, struct err *err)
{
    const char *argv[ARGS_MAX] = {UNSHARE, "--net", "--pid", "--fork", "--kill-child", "--mount",
                                  "--mount-proc", "--ipc", "--uts", "--", "/bin/sh", "-c",
                                  /* a loopback for servers a RUN step starts and asks */
                                  "ip link set lo up 2>/dev/null; exec \"$@\"", "sh",
                                  "/usr/bin/" BUILDAH, "--root", d->storage, "--runroot",
                                  d->runroot, "--storage-driver", STORAGE_DRIVER};
    size_t n = 21;
    int p[2], status;
    pid_t pid;

    for (size_t i = 0; args[i] != NULL; i++) {
        if (n + 1 >= ARRAY_LEN(argv))
            return err_set(err, ERR_INTERNAL, "too many buildah arguments");
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    if (pipe2(p, O_CLOEXEC) != 0)
        return err_set(err, ERR_IO, "pipe: %s", strerror(errno));
    d->last_error[0] = '\0';
    pid = fork();
    if (pid == 0)
        child(d, argv, p[1]);
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        return err_set(err, ERR_IO, "fork: %s", strerror(errno));
    }
    setpgid(pid, pid); /* also done by the child: whichever runs first */
    status = pump(d, pid, p[0]);
    close(p[0]);
    return verdict(d, status, args[0], err);
}

/* ---------------------------------------------------------------- bases */

/* The Dockerfile's bases, checked. */
static int bases_read(const struct bld_dockerfile_job *j, struct bld_dockerfile_base *b, size_t *n,
                      struct err *err)
{
    struct sbuf text = SBUF_INIT(BLD_READ_MAX);
    char path[PATH_MAX];
    int rc;

    snprintf(path, sizeof(path), "%s/Dockerfile", j->context);
    rc = file_read(path, &text, err);
    if (rc == 0)
        rc = bld_dockerfile_bases(sbuf_slice(&text), b, n, err);
    sbuf_release(&text);
    return rc;
}

static void base_name(const struct bld_dockerfile_base *b, char out[32])
{
    snprintf(out, 32, "%s%s", b->runtime, b->build ? "-build" : "");
}

int bld_dockerfile_key(const struct bld_dockerfile_job *j, char key[BLD_BASE_KEY_HEX + 1],
                       struct err *err)
{
    struct bld_dockerfile_base b[BLD_DOCKERFILE_BASES_MAX];
    unsigned char d[32];
    size_t n;
    int rc = bases_read(j, b, &n, err);
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    ASSERT(md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1);
    EVP_DigestUpdate(md, KEY_FORMAT, strlen(KEY_FORMAT));
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char name[32], bkey[BLD_BASE_KEY_HEX + 1];
        const char *root;
        base_name(&b[i], name);
        rc = j->base(j->base_arg, b[i].runtime, b[i].build, &root, bkey, err);
        EVP_DigestUpdate(md, name, strlen(name) + 1);
        EVP_DigestUpdate(md, bkey, rc == 0 ? strlen(bkey) + 1 : 0);
    }
    EVP_DigestFinal_ex(md, d, NULL);
    EVP_MD_CTX_free(md);
    for (unsigned i = 0; i < 32; i++)
        snprintf(key + 2 * i, 3, "%02x", d[i]);
    return rc;
}

/* <base_cache>/dockerfile/<key>: the base's rootfs as a one-layer OCI layout, written once
 * and shared (Debian packages only). The layer is not compressed: buildah unpacks it once
 * per project and never sends it anywhere. */
static int base_layout(struct dctx *d, const char *root, const char *key, const char **layout,
                       struct err *err)
{
    static const char *const env[] = {
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
    struct oci_layer_opts o = {.compression = OCI_COMP_NONE, .keep_setid = true};
    const char *by[] = {"slipway: base from Debian packages"};
    char digest[OCI_DIGEST_SIZE], index[PATH_MAX];
    struct oci_layer l;
    int rc;

    *layout = arena_printf(d->a, "%s/dockerfile/%s", d->j->base_cache, key);
    if (*layout == NULL)
        return err_set(err, ERR_LIMIT, "out of memory");
    snprintf(index, sizeof(index), "%s/index.json", *layout);
    if (access(index, F_OK) == 0)
        return 0;
    if ((rc = file_mkdirs(*layout, 0755, -1, err)) < 0 ||
        (rc = oci_layer_from_dir(root, &o, *layout, &l, err)) < 0)
        return rc;
    struct oci_image_spec spec = {.config = {.env = env, .n_env = 1, .workdir = "/"},
                                  .layers = &l,
                                  .n_layers = 1,
                                  .created_by = by,
                                  .tag = BASE_TAG};
    return oci_image_write(*layout, &spec, digest, err);
}

/* Makes "slipway/<name>" in the project's storage the base with <key>, pulling it from its
 * layout unless the marker says it is there already. */
static int base_import(struct dctx *d, const char *name, const char *key, const char *layout,
                       struct err *err)
{
    struct sbuf out = SBUF_INIT(64 << 10), marker = SBUF_INIT(256);
    const char *mpath = arena_printf(d->a, "%s/buildah/bases/%s", d->j->cache_dir, name);
    const char *src = arena_printf(d->a, "oci:%s:%s", layout, BASE_TAG);
    const char *dst = arena_printf(d->a, "localhost/slipway/%s:latest", name);
    char id[80] = "";
    int rc = 0;

    if (mpath == NULL || src == NULL || dst == NULL)
        return err_set(err, ERR_LIMIT, "out of memory");
    if (file_read(mpath, &marker, &(struct err){0}) == 0 && strcmp(marker.buf, key) == 0)
        goto done;
    say(d, "importing the base slipway/%s into buildah", name);
    d->capture = &out;
    rc = run(d, (const char *const[]){"pull", "-q", src, NULL}, err);
    d->capture = NULL;
    if (rc == 0 && (sscanf(out.buf, "%79s", id) != 1 || strlen(id) != 64))
        rc = err_set(err, ERR_INTERNAL, "buildah pull gave no image id");
    if (rc == 0)
        rc = run(d, (const char *const[]){"tag", id, dst, NULL}, err);
    if (rc == 0)
        rc = file_write_atomic(mpath, key, strlen(key), 0644, err);
done:
    sbuf_release(&out);
    sbuf_release(&marker);
    return rc;
}

static int bases_import(struct dctx *d, struct err *err)
{
    const struct bld_dockerfile_job *j = d->j;
    struct bld_dockerfile_base b[BLD_DOCKERFILE_BASES_MAX];
    size_t n;
    int rc = bases_read(j, b, &n, err);

    for (size_t i = 0; rc == 0 && i < n; i++) {
        char name[32], key[BLD_BASE_KEY_HEX + 1];
        const char *root, *layout;
        base_name(&b[i], name);
        if ((rc = j->base(j->base_arg, b[i].runtime, b[i].build, &root, key, err)) < 0 ||
            (rc = base_layout(d, root, key, &layout, err)) < 0)
            break;
        rc = base_import(d, name, key, layout, err);
    }
    return rc;
}

/* ---------------------------------------------------------------- the build */

static int dirs_make(struct dctx *d, struct err *err)
{
    const struct bld_dockerfile_job *j = d->j;
    const char *bases = arena_printf(d->a, "%s/buildah/bases", j->cache_dir);
    int rc;

    d->storage = arena_printf(d->a, "%s/buildah/storage", j->cache_dir);
    d->runroot = arena_printf(d->a, "%s/buildah-run", j->work_dir);
    d->tmp = arena_printf(d->a, "%s/buildah-tmp", j->work_dir);
    d->env[0] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    d->env[1] = arena_printf(d->a, "HOME=%s", d->tmp ? d->tmp : "/");
    d->env[2] = arena_printf(d->a, "TMPDIR=%s", d->tmp ? d->tmp : "/");
    d->env[3] = "LC_ALL=C.UTF-8";
    if (bases == NULL || d->storage == NULL || d->runroot == NULL || d->tmp == NULL ||
        d->env[1] == NULL || d->env[2] == NULL)
        return err_set(err, ERR_LIMIT, "out of memory");
    if ((rc = file_mkdirs(d->storage, 0700, -1, err)) < 0 ||
        (rc = file_mkdirs(bases, 0755, -1, err)) < 0 ||
        (rc = file_mkdirs(d->runroot, 0700, -1, err)) < 0)
        return rc;
    return file_mkdirs(d->tmp, 0700, -1, err);
}

/* buildah build: chroot isolation (see the top of this file), no capability for RUN steps,
 * only local images, every time stamp the epoch so that the same inputs give the same
 * digest, and a cached layer for each instruction. */
static int bud(struct dctx *d, struct err *err)
{
    const struct bld_dockerfile_job *j = d->j;
    const char *file = arena_printf(d->a, "%s/Dockerfile", j->context);
    const char *src = arena_printf(d->a, "%s=%s", OCI_ANN_SOURCE, j->source ? j->source : "");
    const char *rev = arena_printf(d->a, "%s=%s", OCI_ANN_REVISION, j->revision ? j->revision : "");
    const char *args[] = {"build",    "--isolation",  "chroot",      "--cap-drop", "all",
                          "--layers", "--pull=never", "--timestamp", "0",          "--format",
                          "oci",      "--label",      src,           "--label",    rev,
                          "-f",       file,           "-t",          IMAGE_NAME,   j->context,
                          NULL};

    if (file == NULL || src == NULL || rev == NULL)
        return err_set(err, ERR_LIMIT, "out of memory");
    /* working containers a killed build left behind */
    (void)run(d, (const char *const[]){"rm", "--all", NULL}, &(struct err){0});
    say(d, "buildah build (Dockerfile, chroot isolation)");
    return run(d, args, err);
}

static int push(struct dctx *d, char digest[OCI_DIGEST_SIZE], struct err *err)
{
    const struct bld_dockerfile_job *j = d->j;
    const char *dfile = arena_printf(d->a, "%s/digest", d->tmp);
    const char *dest = arena_printf(d->a, "oci:%s:%s", j->layout_dir, j->tag);
    const char *args[] = {"push", "-q", "--digestfile", dfile, NULL, NULL, NULL, NULL, NULL};
    struct sbuf text = SBUF_INIT(256);
    size_t n = 4;
    int rc;

    if (dfile == NULL || dest == NULL)
        return err_set(err, ERR_LIMIT, "out of memory");
    if (j->compression == OCI_COMP_NONE) {
        args[n++] = "--disable-compression";
    } else {
        args[n++] = "--compression-format";
        args[n++] = j->compression == OCI_COMP_ZSTD ? "zstd" : "gzip";
    }
    args[n++] = IMAGE_NAME;
    args[n] = dest;
    say(d, "writing the image %s", j->tag);
    if ((rc = file_mkdirs(j->layout_dir, 0755, -1, err)) < 0 || (rc = run(d, args, err)) < 0)
        return rc;
    rc = file_read(dfile, &text, err);
    if (rc == 0 && !oci_digest_valid(slice_trim(sbuf_slice(&text))))
        rc = err_set(err, ERR_INTERNAL, "buildah push wrote no digest");
    if (rc == 0)
        snprintf(digest, OCI_DIGEST_SIZE, "%.71s", text.buf);
    sbuf_release(&text);
    return rc;
}

int bld_dockerfile_build(const struct bld_dockerfile_job *j, char digest[OCI_DIGEST_SIZE],
                         struct err *err)
{
    struct dctx *d;
    int rc;

    if (access("/usr/bin/" BUILDAH, X_OK) != 0 || access(UNSHARE, X_OK) != 0)
        return err_set(err, ERR_UNAVAILABLE,
                       "Dockerfile builds need buildah and unshare (Debian packages buildah "
                       "and util-linux)");
    d = xcalloc(1, sizeof(*d));
    d->j = j;
    d->a = arena_new(NULL);
    for (size_t i = 0; i < CG_MAX; i++)
        d->cg.procs[i] = -1;
    rc = dirs_make(d, err);
    if (rc == 0) {
        cg_make(&d->cg, j);
        if (d->cg.n == 0 && (j->memory_bytes || j->pids_max || j->cpu_quota_us))
            say(d, "no cgroup could be made here: the build runs without its limits");
        rc = bases_import(d, err);
    }
    if (rc == 0)
        rc = bud(d, err);
    if (rc == 0)
        rc = push(d, digest, err);
    cg_remove(&d->cg);
    arena_free(d->a);
    free(d);
    return rc;
}
