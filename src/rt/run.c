/*
 * rt run: containers started with runc, detached from slipway (docs/runtime.md).
 *
 * Nothing about a container lives only in memory: runc keeps its state under runc_root, rt_start
 * writes containers/<id>/meta, and the relay writes logs/<id>/exit. A slipway started later
 * therefore knows as much as the one that started the container.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "rt/rt-int.h"

#define CONFIG_MAX    (256u << 10)
#define DEFAULT_PATH  "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define POLL_MS       50
#define KILL_WAIT_MS  5000
#define RELAY_WAIT_MS 2000
#define ENV_MAX       1024
#define ARGV_MAX      256

extern char **environ;

/* ---------------------------------------------------------------- helpers */

int rt_path(const struct rt *rt, const char *sub, const char *id, const char *leaf, char *out,
            size_t max, struct err *err)
{
    int n;

    if (id == NULL || !slug_valid(slice_from_cstr(id)))
        return err_set(err, ERR_INVALID, "container id must be a slug");
    n = snprintf(out, max, "%s/%s/%s%s%s", rt->root, sub, id, leaf != NULL ? "/" : "",
                 leaf != NULL ? leaf : "");
    return n > 0 && (size_t)n < max ? 0 : err_set(err, ERR_LIMIT, "path too long");
}

void rt_remove_tree(const char *path)
{
    if (file_remove_tree(path, NULL) < 0) {
        /* a later stop or start of the same id tries again */
    }
}

int rt_run(const char *const argv[], struct sbuf *out)
{
    posix_spawn_file_actions_t fa;
    int p[2] = {-1, -1}, status;
    pid_t pid;

    if (out != NULL && pipe2(p, O_CLOEXEC) != 0)
        return -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (out != NULL)
        posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    else
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (out != NULL) {
        close(p[1]);
        char buf[4096];
        ssize_t n;
        while (rc == 0 && ((n = read(p[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)))
            if (n > 0)
                sbuf_put(out, buf, (size_t)n);
        close(p[0]);
    }
    if (rc != 0)
        return -1;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* runc with --root first: argv[0] and the two --root words are filled in here. */
static int runc(const struct rt *rt, const char *const *args, struct sbuf *out)
{
    const char *argv[12] = {rt->runc, "--root", rt->runc_root};
    size_t n = 3;

    for (; *args != NULL && n < ARRAY_LEN(argv) - 1; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    return rt_run(argv, out);
}

static bool find_runc(char *out, size_t max)
{
    const char *path = getenv("PATH");
    char dirs[4096];

    snprintf(dirs, sizeof(dirs), "%s:/usr/sbin:/usr/bin:/sbin", path != NULL ? path : "");
    for (char *d = dirs, *next; d != NULL; d = next) {
        next = strchr(d, ':');
        if (next != NULL)
            *next++ = '\0';
        if (d[0] == '/' && (size_t)snprintf(out, max, "%s/runc", d) < max && access(out, X_OK) == 0)
            return true;
    }
    return false;
}

int rt_new(const struct rt_opts *opts, struct rt **out, struct err *err)
{
    static const char *const subs[] = {"layers", "containers", "logs"};
    struct rt *rt;
    char dir[RT_PATH_MAX];
    int rc;

    if (opts->root == NULL || opts->root[0] != '/' || strlen(opts->root) >= RT_ROOT_MAX - 8 ||
        (opts->runc_root != NULL && strlen(opts->runc_root) >= RT_ROOT_MAX))
        return err_set(err, ERR_INVALID, "rt root must be an absolute path");
    if (geteuid() != 0)
        return err_set(err, ERR_FORBIDDEN, "the container runtime needs root (runc)");
    rt = xcalloc(1, sizeof(*rt));
    if (!find_runc(rt->runc, sizeof(rt->runc))) {
        free(rt);
        return err_set(err, ERR_UNAVAILABLE, "runc is not installed (scripts/bootstrap)");
    }
    snprintf(rt->root, sizeof(rt->root), "%s", opts->root);
    snprintf(rt->runc_root, sizeof(rt->runc_root), "%s", opts->runc_root);
    if (opts->runc_root == NULL)
        snprintf(rt->runc_root, sizeof(rt->runc_root), "%s/runc", opts->root);
    rt->log_max_bytes = opts->log_max_bytes != 0 ? opts->log_max_bytes : 8u << 20;
    rt->log_files = opts->log_files != 0 ? opts->log_files : 3;
    rt->force_copy = opts->force_copy;
    if (opts->relay_exe != NULL)
        snprintf(rt->relay_exe, sizeof(rt->relay_exe), "%s", opts->relay_exe);
    rc = file_mkdirs(rt->root, 0700, -1, err);
    for (size_t i = 0; rc == 0 && i < ARRAY_LEN(subs); i++) {
        snprintf(dir, sizeof(dir), "%s/%s", rt->root, subs[i]);
        rc = file_mkdirs(dir, 0700, -1, err);
    }
    if (rc == 0)
        rc = file_mkdirs(rt->runc_root, 0700, -1, err);
    if (rc < 0) {
        free(rt);
        return rc;
    }
    *out = rt;
    return 0;
}

void rt_free(struct rt *rt)
{
    free(rt);
}

/* ---------------------------------------------------------------- meta */

int rt_meta_write(const struct rt *rt, const char *id, const struct rt_meta *m, struct err *err)
{
    char path[RT_PATH_MAX];
    struct sbuf b = SBUF_INIT(16 << 10);
    int rc;

    if ((rc = rt_path(rt, "containers", id, "meta", path, sizeof(path), err)) < 0)
        return rc;
    sbuf_printf(&b, "port %u\nrootfs %s\nstarted %" PRIu64 "\nrelay %d\n", m->port,
                m->rootfs == RT_ROOTFS_OVERLAY ? "overlay" : "copy", m->started_ms, m->relay_pid);
    sbuf_printf(&b, "cg_memory %s\ncg_cpu %s\ncg_pids %s\n", m->cg_memory, m->cg_cpu, m->cg_pids);
    rc = b.err != 0 ? err_set(err, ERR_LIMIT, "meta too long")
                    : file_write_atomic(path, b.buf, b.len, 0600, err);
    sbuf_release(&b);
    return rc;
}

static void meta_field(struct rt_meta *m, const char *k, const char *v)
{
    if (strcmp(k, "port") == 0)
        m->port = (uint16_t)strtoul(v, NULL, 10);
    else if (strcmp(k, "rootfs") == 0)
        m->rootfs = strcmp(v, "copy") == 0 ? RT_ROOTFS_COPY : RT_ROOTFS_OVERLAY;
    else if (strcmp(k, "started") == 0)
        m->started_ms = strtoull(v, NULL, 10);
    else if (strcmp(k, "relay") == 0)
        m->relay_pid = (int)strtol(v, NULL, 10);
    else if (strcmp(k, "cg_memory") == 0)
        snprintf(m->cg_memory, sizeof(m->cg_memory), "%s", v);
    else if (strcmp(k, "cg_cpu") == 0)
        snprintf(m->cg_cpu, sizeof(m->cg_cpu), "%s", v);
    else if (strcmp(k, "cg_pids") == 0)
        snprintf(m->cg_pids, sizeof(m->cg_pids), "%s", v);
}

/* A container whose meta was never written (slipway killed right after runc) reads as zeros. */
int rt_meta_read(const struct rt *rt, const char *id, struct rt_meta *m, struct err *err)
{
    char path[RT_PATH_MAX], line[RT_PATH_MAX + 32];
    FILE *f;
    int rc;

    memset(m, 0, sizeof(*m));
    if ((rc = rt_path(rt, "containers", id, NULL, path, sizeof(path), err)) < 0)
        return rc;
    if (access(path, F_OK) != 0)
        return err_set(err, ERR_NOTFOUND, "no container %s", id);
    snprintf(path + strlen(path), sizeof(path) - strlen(path), "/meta");
    if ((f = fopen(path, "re")) == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        char *v = strchr(line, ' ');
        if (v == NULL)
            continue;
        *v++ = '\0';
        v[strcspn(v, "\n")] = '\0';
        meta_field(m, line, v);
    }
    fclose(f);
    return 0;
}

/* ---------------------------------------------------------------- the process */

/* A "uid[:gid]" part as a number, or looked up by name in the image's <file> (passwd or
 * group): *id and, for passwd, the user's primary group in *gid. */
static bool id_lookup(const char *rootfs, const char *file, const char *name, unsigned *id,
                      unsigned *gid)
{
    char path[RT_PATH_MAX], line[1024];
    char *end;
    unsigned long v = strtoul(name, &end, 10);
    bool found = false;
    FILE *f;

    if (name[0] >= '0' && name[0] <= '9' && *end == '\0' && v < 0x7fffffff) {
        *id = (unsigned)v;
        return true;
    }
    snprintf(path, sizeof(path), "%s/etc/%s", rootfs, file);
    if ((f = fopen(path, "re")) == NULL)
        return false;
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        char *fields[4] = {line};
        for (int i = 1; i < 4 && fields[i - 1] != NULL; i++)
            fields[i] = strchr(fields[i - 1], ':') ? strchr(fields[i - 1], ':') + 1 : NULL;
        if (fields[3] == NULL || strncmp(line, name, strlen(name)) != 0 ||
            line[strlen(name)] != ':')
            continue;
        *id = (unsigned)strtoul(fields[2], NULL, 10);
        if (gid != NULL)
            *gid = (unsigned)strtoul(fields[3], NULL, 10);
        found = true;
    }
    fclose(f);
    return found;
}

static int user_resolve(const char *user, const char *rootfs, unsigned *uid, unsigned *gid,
                        struct err *err)
{
    char buf[256];
    char *g;

    if (user == NULL || user[0] == '\0')
        return err_set(err, ERR_INVALID,
                       "the image names no user: slipway runs apps as a "
                       "non-root user only");
    snprintf(buf, sizeof(buf), "%s", user);
    g = strchr(buf, ':');
    if (g != NULL)
        *g++ = '\0';
    *gid = ~0u;
    if (!id_lookup(rootfs, "passwd", buf, uid, gid))
        return err_set(err, ERR_INVALID, "image user %.100s is not in its /etc/passwd", buf);
    if (g != NULL && !id_lookup(rootfs, "group", g, gid, NULL))
        return err_set(err, ERR_INVALID, "image group %.100s is not in its /etc/group", g);
    if (*gid == ~0u)
        *gid = *uid;
    if (*uid == 0 || *gid == 0)
        return err_set(err, ERR_INVALID,
                       "the image runs as root: slipway runs apps as a "
                       "non-root user only");
    return 0;
}

/* Adds "K=V" to <env>, replacing an earlier variable of the same name. */
static void env_put(const char **env, size_t *n, const char *kv)
{
    size_t klen = strcspn(kv, "=");

    for (size_t i = 0; i < *n; i++)
        if (strncmp(env[i], kv, klen) == 0 && env[i][klen] == '=') {
            env[i] = kv;
            return;
        }
    if (*n < ENV_MAX)
        env[(*n)++] = kv;
}

/* ---------------------------------------------------------------- config.json */

struct proc {
    unsigned uid, gid;
    const char *argv[ARGV_MAX];
    size_t argc;
    const char *env[ENV_MAX];
    size_t envc;
    const char *cwd;
    uint64_t nofile;
};

/* No PID namespace: the app is never PID 1 there, so SIGTERM ends an app that installed no
 * handler, as it would outside a container, and orphans are reaped by the relay. No network
 * namespace: apps listen on the host's loopback at $PORT (docs/runtime.md). */
static int config_write(const char *dir, const struct rt_spec *s, const struct proc *p,
                        struct err *err)
{
    struct sbuf b = SBUF_INIT(CONFIG_MAX);
    char rootfs[RT_PATH_MAX], path[RT_PATH_MAX], cg[RT_ID_MAX + 16];
    struct rt_config c = {
        .rootfs = rootfs,
        .hostname = s->id,
        .uid = p->uid,
        .gid = p->gid,
        .argv = p->argv,
        .argc = p->argc,
        .env = p->env,
        .envc = p->envc,
        .cwd = p->cwd,
        .nofile = p->nofile,
        .tmp_bytes = s->memory_bytes != 0 ? s->memory_bytes : (uint64_t)256 << 20,
        .memory_bytes = s->memory_bytes,
        .cpu_quota_us = s->cpu_quota_us,
        .cpu_period_us = s->cpu_period_us,
        .pids_max = s->pids_max,
        .cgroups_path = cg,
    };
    int rc;

    snprintf(rootfs, sizeof(rootfs), "%s/rootfs", dir);
    snprintf(cg, sizeof(cg), "slipway-rt-%s", s->id);
    rt_config_render(&c, &b);
    snprintf(path, sizeof(path), "%s/config.json", dir);
    rc = b.err != 0 ? err_set(err, ERR_LIMIT, "container config over 256 KiB")
                    : file_write_atomic(path, b.buf, b.len, 0600, err);
    sbuf_release(&b);
    return rc;
}

/* The process: the image's user, command, working directory and env, then the spec's env and
 * PORT over it. Strings point into <img>, <s> and <a>. */
static int proc_make(struct arena *a, const struct oci_image *img, const struct rt_spec *s,
                     const char *rootfs, struct proc *p, struct err *err)
{
    const struct oci_image_config *c = &img->config;
    int rc;

    if ((rc = user_resolve(c->user, rootfs, &p->uid, &p->gid, err)) < 0)
        return rc;
    for (size_t i = 0; s->argv != NULL && s->argv[i] != NULL && p->argc < ARGV_MAX - 1; i++)
        p->argv[p->argc++] = s->argv[i];
    for (size_t i = 0; s->argv == NULL && i < c->n_entrypoint && p->argc < ARGV_MAX - 1; i++)
        p->argv[p->argc++] = c->entrypoint[i];
    for (size_t i = 0; s->argv == NULL && i < c->n_cmd && p->argc < ARGV_MAX - 1; i++)
        p->argv[p->argc++] = c->cmd[i];
    if (p->argc == 0)
        return err_set(err, ERR_INVALID, "the image has neither entrypoint nor cmd");
    env_put(p->env, &p->envc, DEFAULT_PATH);
    for (size_t i = 0; i < c->n_env; i++)
        env_put(p->env, &p->envc, c->env[i]);
    for (size_t i = 0; i < s->n_env; i++)
        env_put(p->env, &p->envc, s->env[i]);
    if (s->port != 0) {
        char *port = arena_printf(a, "PORT=%u", s->port);
        if (port == NULL)
            return err_set(err, ERR_LIMIT, "out of memory");
        env_put(p->env, &p->envc, port);
    }
    struct rlimit rl; /* as many files as slipway may open itself, at most 65536 */
    p->nofile = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max < 65536 ? rl.rlim_max : 65536;
    p->cwd = c->workdir != NULL && c->workdir[0] == '/' ? c->workdir : "/";
    return 0;
}

/* ---------------------------------------------------------------- start */

static int spec_check(const struct rt_spec *s, struct err *err)
{
    if (s->id == NULL || !slug_valid(slice_from_cstr(s->id)))
        return err_set(err, ERR_INVALID, "id: must be a slug");
    if (s->layout_dir == NULL || s->digest == NULL)
        return err_set(err, ERR_INVALID, "layout_dir and digest are required");
    for (size_t i = 0; i < s->n_env; i++)
        if (s->env[i] == NULL || strchr(s->env[i], '=') == NULL || s->env[i][0] == '=')
            return err_set(err, ERR_INVALID, "env[%zu]: must be NAME=value", i);
    return 0;
}

/* The image, its layers hashed only when one is not in the cache yet. */
static int image_load(struct rt *rt, struct arena *a, const struct rt_spec *s,
                      struct oci_image **img, struct err *err)
{
    char dir[RT_PATH_MAX];
    int rc = oci_layout_read(a, s->layout_dir, s->digest, OCI_READ_TRUST_LAYERS, img, err);

    if (rc < 0)
        return rc;
    for (size_t i = 0; i < (*img)->n_layers; i++) {
        snprintf(dir, sizeof(dir), "%s/layers/%s", rt->root, (*img)->layers[i].diff_id + 7);
        if (access(dir, F_OK) != 0) {
            if ((rc = oci_layout_read(a, s->layout_dir, s->digest, 0, img, err)) < 0)
                return rc;
            return rt_layers_unpack(rt, *img, err);
        }
    }
    return 0;
}

static int launch(struct rt *rt, const struct rt_spec *s, const char *dir, struct rt_meta *m,
                  struct err *err)
{
    char log_dir[RT_DIR_MAX], runc_log[RT_PATH_MAX], pid_file[RT_PATH_MAX], msg[160];
    char exit_path[RT_PATH_MAX];
    const char *argv[] = {rt->runc,       "--root",   rt->runc_root, "--log", runc_log,
                          "--log-format", "json",     "run",         "-d",    "--pid-file",
                          pid_file,       "--bundle", dir,           s->id,   NULL};
    struct rt_relay_args ra = {argv,          log_dir,
                               pid_file,      rt->log_max_bytes,
                               rt->log_files, rt->relay_exe[0] ? rt->relay_exe : NULL};
    int rc, status = -1, pid;

    snprintf(runc_log, sizeof(runc_log), "%s/runc.log", dir);
    snprintf(pid_file, sizeof(pid_file), "%s/pid", dir);
    if ((rc = rt_path(rt, "logs", s->id, NULL, log_dir, sizeof(log_dir), err)) < 0 ||
        (rc = file_mkdirs(log_dir, 0700, -1, err)) < 0)
        return rc;
    snprintf(exit_path, sizeof(exit_path), "%s/exit", log_dir);
    (void)unlink(exit_path); /* an earlier container of this id */
    if ((rc = rt_relay_start(&ra, &m->relay_pid, &status, err)) < 0)
        return rc;
    if (status != 0) {
        rt_runc_log_msg(dir, msg, sizeof(msg));
        return err_set(err, ERR_UNAVAILABLE, "runc could not start %s: %s", s->id, msg);
    }
    pid = 0;
    FILE *f = fopen(pid_file, "re");
    if (f != NULL) {
        if (fscanf(f, "%d", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    if (pid > 0)
        rt_cgroups_of(pid, m);
    return rt_meta_write(rt, s->id, m, err);
}

/* Undoes a start that failed half-way. */
static void start_undo(struct rt *rt, const char *id, const char *dir)
{
    const char *del[] = {"delete", "--force", id, NULL};

    (void)runc(rt, del, NULL);
    rt_rootfs_unmount(dir);
    rt_remove_tree(dir);
}

int rt_start(struct rt *rt, const struct rt_spec *s, struct err *err)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 64u << 20});
    struct rt_meta m = {.port = s->port, .started_ms = time_wall_ms()};
    struct oci_image *img;
    struct proc *p = xcalloc(1, sizeof(*p));
    char dir[RT_DIR_MAX], rootfs[RT_PATH_MAX];
    int rc;

    if ((rc = spec_check(s, err)) < 0 || (rc = image_load(rt, a, s, &img, err)) < 0 ||
        (rc = rt_path(rt, "containers", s->id, NULL, dir, sizeof(dir), err)) < 0)
        goto done;
    if (mkdir(dir, 0700) != 0) {
        rc = errno == EEXIST ? err_set(err, ERR_CONFLICT, "container %s exists", s->id)
                             : err_set(err, ERR_IO, "%s: %s", dir, strerror(errno));
        goto done;
    }
    snprintf(rootfs, sizeof(rootfs), "%s/rootfs", dir);
    if ((rc = rt_rootfs_make(rt, img, dir, &m.rootfs, err)) < 0 ||
        (rc = proc_make(a, img, s, rootfs, p, err)) < 0 ||
        (rc = config_write(dir, s, p, err)) < 0 || (rc = launch(rt, s, dir, &m, err)) < 0)
        start_undo(rt, s->id, dir);
done:
    free(p);
    arena_free(a);
    return rc;
}

/* ---------------------------------------------------------------- state */

/* runc's view: RUNNING with the pid, or EXITED (also when runc no longer knows it). */
static void runc_status(struct rt *rt, const char *id, struct rt_state *st)
{
    const char *args[] = {"state", id, NULL};
    struct sbuf out = SBUF_INIT(64 << 10);
    json_t *j = NULL;

    st->status = RT_EXITED;
    if (runc(rt, args, &out) == 0 && (j = json_loadb(out.buf, out.len, 0, NULL)) != NULL) {
        const char *status = json_string_value(json_object_get(j, "status"));
        if (status != NULL && strcmp(status, "stopped") != 0) {
            st->status = RT_RUNNING;
            st->pid = (int)json_integer_value(json_object_get(j, "pid"));
        }
        json_decref(j);
    }
    sbuf_release(&out);
}

static int exit_code_read(struct rt *rt, const char *id)
{
    char path[RT_PATH_MAX];
    int code = -1;
    FILE *f;

    if (rt_path(rt, "logs", id, "exit", path, sizeof(path), NULL) < 0 ||
        (f = fopen(path, "re")) == NULL)
        return -1;
    if (fscanf(f, "%d", &code) != 1)
        code = -1;
    fclose(f);
    return code;
}

int rt_state(struct rt *rt, const char *id, struct rt_state *out, struct err *err)
{
    struct rt_meta m;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = rt_meta_read(rt, id, &m, err)) < 0)
        return rc;
    runc_status(rt, id, out);
    out->exit_code = out->status == RT_EXITED ? exit_code_read(rt, id) : 0;
    out->port = m.port;
    out->rootfs = m.rootfs;
    out->started_ms = m.started_ms;
    if (m.cg_memory[0] != '\0')
        out->oom_killed = rt_cg_read(m.cg_memory, "memory.oom_control", "oom_kill") > 0 ||
                          rt_cg_read(m.cg_memory, "memory.events", "oom_kill") > 0;
    return 0;
}

static int info_cmp(const void *a, const void *b)
{
    return strcmp(((const struct rt_info *)a)->id, ((const struct rt_info *)b)->id);
}

int rt_adopt(struct rt *rt, struct arena *a, struct rt_info **out, size_t *n, struct err *err)
{
    char dir[RT_PATH_MAX];
    struct rt_info *list = NULL;
    size_t cap = 0, count = 0;
    struct dirent *e;
    DIR *d;
    int rc = 0;

    snprintf(dir, sizeof(dir), "%s/containers", rt->root);
    if ((d = opendir(dir)) == NULL)
        return err_set(err, ERR_IO, "%s: %s", dir, strerror(errno));
    while (rc == 0 && (e = readdir(d)) != NULL) {
        struct rt_state st;
        if (!slug_valid(slice_from_cstr(e->d_name)) || rt_state(rt, e->d_name, &st, NULL) < 0)
            continue;
        if (count == cap) {
            struct rt_info *bigger = arena_alloc(a, (cap = cap * 2 + 8) * sizeof(*list));
            if (bigger == NULL) {
                rc = err_set(err, ERR_LIMIT, "out of memory listing containers");
                break;
            }
            if (count > 0)
                memcpy(bigger, list, count * sizeof(*list));
            list = bigger;
        }
        snprintf(list[count].id, sizeof(list[count].id), "%.*s", RT_ID_MAX, e->d_name);
        list[count++].state = st;
    }
    closedir(d);
    if (rc == 0 && count > 0)
        qsort(list, count, sizeof(*list), info_cmp);
    *out = list;
    *n = rc == 0 ? count : 0;
    return rc;
}

/* ---------------------------------------------------------------- stop */

/* Polls until <id> no longer runs or <ms> pass; true when it stopped. */
static bool wait_stopped(struct rt *rt, const char *id, uint64_t ms)
{
    uint64_t end = time_mono_ms() + ms;
    struct rt_state st = {0};

    for (;;) {
        runc_status(rt, id, &st);
        if (st.status != RT_RUNNING)
            return true;
        if (time_mono_ms() >= end)
            return false;
        usleep(POLL_MS * 1000);
    }
}

/* The relay writes the exit status once it reaped the app; wait for it (briefly) so that
 * nothing of the container is still writing when its directories go. */
static void wait_relay(const struct rt_meta *m)
{
    uint64_t end = time_mono_ms() + RELAY_WAIT_MS;

    while (m->relay_pid > 0 && kill(m->relay_pid, 0) == 0 && time_mono_ms() < end)
        usleep(POLL_MS * 1000);
}

int rt_stop(struct rt *rt, const char *id, uint64_t grace_ms, struct err *err)
{
    const char *term[] = {"kill", id, "TERM", NULL};
    const char *kill_all[] = {"kill", "--all", id, "KILL", NULL};
    const char *del[] = {"delete", "--force", id, NULL};
    char dir[RT_DIR_MAX];
    struct rt_meta m;
    int rc;

    if ((rc = rt_meta_read(rt, id, &m, err)) < 0 ||
        (rc = rt_path(rt, "containers", id, NULL, dir, sizeof(dir), err)) < 0)
        return rc;
    (void)runc(rt, term, NULL);
    if (!wait_stopped(rt, id, grace_ms)) {
        (void)runc(rt, kill_all, NULL);
        if (!wait_stopped(rt, id, KILL_WAIT_MS))
            return err_set(err, ERR_TIMEOUT, "container %s did not die after SIGKILL", id);
    }
    wait_relay(&m);
    if (runc(rt, del, NULL) != 0) {
        const char *st[] = {"state", id, NULL};
        if (runc(rt, st, NULL) == 0)
            return err_set(err, ERR_UNAVAILABLE, "runc could not delete %s", id);
    }
    /* runc delete removes the cgroups; this sweeps what a runc that died half-way left */
    (void)rmdir(m.cg_memory), (void)rmdir(m.cg_cpu), (void)rmdir(m.cg_pids);
    rt_rootfs_unmount(dir);
    return file_remove_tree(dir, err);
}
