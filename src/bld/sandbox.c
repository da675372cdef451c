/*
 * bld sandbox: runs one install or build command in a runc container (docs/builds.md, "The build
 * sandbox").
 *
 * The container is started with `runc run --keep` as our own child: runc hands back the
 * command's exit status, and --keep leaves the stopped container and its cgroup in place so the
 * OOM-kill and pids counters can still be read after the last process is gone (a plain
 * `runc run` removes the cgroup before it returns). `runc delete -f` then removes both.
 *
 * The cgroup is named by a relative cgroupsPath: runc makes it a child of this process's own
 * cgroup, per controller on cgroup v1, so the build's limits nest inside whatever limits the
 * server itself runs under, and bld_cgroup_dir() finds it again the same way.
 *
 * For OUTBOUND the network namespace is made before the container by a small holder process,
 * so slirp4netns is attached and the routes are in place before the command's first packet.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <ifaddrs.h>
#include <limits.h>
#include <linux/magic.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "bld/bld-int.h"
#include "rt/rt.h"

#define LINE_CUT      (16u << 10)
#define POLL_MS       50
#define KILL_EVERY_MS 200
#define KILL_GIVE_UP  25 /* runc kills tried before runc itself gets SIGKILL */
#define READY_MS      5000
#define CONFIG_MAX    (256u << 10)
#define DEFAULT_PATH  "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define SLIRP_DNS     "10.0.2.3"

extern char **environ;

/* One sandboxed run: everything that must be undone, in one place for cleanup(). */
struct run {
    const struct bld_sandbox_spec *s;
    unsigned uid, gid;
    char id[48]; /* container id and cgroup name */
    char bundle[3072];
    char netns[64]; /* "/proc/N/ns/net" of the holder, or "" */
    pid_t holder, slirp, runc;
    int hold_fd;      /* closing it ends the holder */
    int slirp_exit;   /* closing it ends slirp4netns (--exit-fd) */
    int out_fd[2];    /* read ends of the command's stdout and stderr */
    bool runc_called; /* a container may exist: runc delete it */
};

/* One output stream being cut into lines. runc copies the container's stdout and stderr
 * through pipes of its own, so the two cannot share one pipe in order: each gets its own. */
struct lines {
    char buf[LINE_CUT];
    size_t len;
    int fd; /* -1 once it reached its end */
    enum bld_stream stream;
    bld_line_fn *fn;
    void *arg;
};

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void reap(pid_t *pid, int sig)
{
    if (*pid <= 0)
        return;
    if (sig != 0)
        kill(*pid, sig);
    while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
        ;
    *pid = 0;
}

/* ---------------------------------------------------------------- processes */

/* posix_spawnp <argv> with stdin from /dev/null and fds[i] (i = 1..4) as its descriptor i:
 * stdout and stderr go to /dev/null where fds[i] is -1, 3 and 4 are then left closed.
 * Everything else we hold is O_CLOEXEC and does not leak into the child. */
static int spawn(const char *const argv[], const int fds[5], pid_t *pid, struct err *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none;
    int rc;

    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    for (int i = 1; i <= 4; i++) {
        if (fds[i] >= 0)
            posix_spawn_file_actions_adddup2(&fa, fds[i], i);
        else if (i <= 2)
            posix_spawn_file_actions_addopen(&fa, i, "/dev/null", O_WRONLY, 0);
    }
    rc = posix_spawnp(pid, argv[0], &fa, &attr, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
        return err_set(err, ERR_UNAVAILABLE, "cannot start %s: %s", argv[0], strerror(rc));
    return 0;
}

/* Runs <argv> to its end, output discarded; its exit status, or -1 when it could not start. */
static int run_quiet(const char *const argv[])
{
    pid_t pid = 0;
    int status;

    if (spawn(argv, (const int[5]){-1, -1, -1, -1, -1}, &pid, NULL) < 0)
        return -1;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Waits up to READY_MS for one byte on <fd>. */
static bool wait_byte(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    char c;

    if (poll(&p, 1, READY_MS) != 1)
        return false;
    return read(fd, &c, 1) == 1;
}

/* ---------------------------------------------------------------- input */

static bool abs_path(const char *p)
{
    return p != NULL && p[0] == '/' && strstr(p, "/../") == NULL && strlen(p) < 2048;
}

static int spec_check(const struct bld_sandbox_spec *s, struct err *err)
{
    struct stat st;

    if (!abs_path(s->rootfs) || stat(s->rootfs, &st) != 0 || !S_ISDIR(st.st_mode))
        return err_set(err, ERR_INVALID, "rootfs: must be an absolute path to a directory");
    if (s->argv == NULL || s->argv[0] == NULL || s->argv[0][0] == '\0')
        return err_set(err, ERR_INVALID, "argv: is empty");
    if (s->cwd != NULL && s->cwd[0] != '/')
        return err_set(err, ERR_INVALID, "cwd: must be an absolute path");
    if (s->network != BLD_NET_NONE && s->network != BLD_NET_OUTBOUND)
        return err_set(err, ERR_INVALID, "network: must be NONE or OUTBOUND");
    if (s->state_dir != NULL && !abs_path(s->state_dir))
        return err_set(err, ERR_INVALID, "state_dir: must be an absolute path");
    for (size_t i = 0; i < s->n_mounts; i++) {
        const struct bld_mount *m = &s->mounts[i];
        if (!abs_path(m->host_path) || stat(m->host_path, &st) != 0)
            return err_set(err, ERR_INVALID,
                           "mounts[%zu].host_path: must be an existing absolute path", i);
        if (!abs_path(m->path) || strcmp(m->path, "/") == 0)
            return err_set(err, ERR_INVALID, "mounts[%zu].path: must be an absolute path below /",
                           i);
    }
    return 0;
}

/* nftw() passes no argument to its callback: the owner travels in these. */
static _Thread_local unsigned own_uid, own_gid;

static int own_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return lchown(path, own_uid, own_gid) == 0 ? 0 : -1;
}

static int mounts_own(struct run *r, struct err *err)
{
    own_uid = r->uid;
    own_gid = r->gid;
    for (size_t i = 0; i < r->s->n_mounts; i++) {
        const struct bld_mount *m = &r->s->mounts[i];
        if (m->own && nftw(m->host_path, own_entry, 16, FTW_PHYS) != 0)
            return err_set(err, err_from_errno(errno), "cannot give %s to uid %u: %s", m->host_path,
                           r->uid, strerror(errno));
    }
    return 0;
}

/* ---------------------------------------------------------------- config.json */

static size_t count(const char *const *v)
{
    size_t n = 0;

    while (v[n] != NULL)
        n++;
    return n;
}

/* The build's container: rt's config (the same isolation as an app's) with a PID namespace,
 * a network namespace, no core dumps, at most 4096 open files, the host's OOM killer taking it
 * first (when the whole host runs short, builds go first) and the spec's mounts. */
void bld_sandbox_config(const struct bld_sandbox_spec *s, const char *cgroup_name,
                        const char *netns, const char *resolv, struct sbuf *out)
{
    static const char *const default_env[] = {DEFAULT_PATH, "HOME=/workspace", NULL};
    const char *const *env = s->env != NULL ? s->env : default_env;
    struct rt_bind *binds = xcalloc(s->n_mounts + 1, sizeof(*binds));
    unsigned uid = s->uid != 0 ? s->uid : BLD_SANDBOX_UID;
    struct rt_config c = {
        .rootfs = s->rootfs,
        .hostname = "build",
        .uid = uid,
        .gid = s->gid != 0 ? s->gid : uid,
        .argv = s->argv,
        .argc = count(s->argv),
        .env = env,
        .envc = count(env),
        .cwd = s->cwd != NULL ? s->cwd : "/workspace",
        .nofile = 4096,
        .no_core = true,
        .oom_score_adj = 1000,
        .tmp_bytes = s->memory_bytes != 0 ? s->memory_bytes : (uint64_t)1 << 30,
        .binds = binds,
        .memory_bytes = s->memory_bytes,
        .cpu_quota_us = s->cpu_quota_us,
        .cpu_period_us = s->cpu_period_us,
        .pids_max = s->pids_max,
        .cgroups_path = cgroup_name,
        .pid_ns = true,
        .net_ns = true,
        .netns_path = netns,
    };

    for (size_t i = 0; i < s->n_mounts; i++)
        binds[c.n_binds++] =
            (struct rt_bind){s->mounts[i].host_path, s->mounts[i].path, s->mounts[i].writable};
    if (resolv != NULL)
        binds[c.n_binds++] = (struct rt_bind){resolv, "/etc/resolv.conf", false};
    rt_config_render(&c, out);
    free(binds);
}

/* ---------------------------------------------------------------- cgroups */

int bld_cgroup_dir(const char *ctl, const char *name, char *out, size_t max, struct err *err)
{
    struct statfs fs;
    char line[1024];
    bool v2 = statfs("/sys/fs/cgroup", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
    FILE *f = fopen("/proc/self/cgroup", "re");
    int rc = err_set(err, ERR_NOTFOUND, "no %s cgroup in /proc/self/cgroup", ctl);

    if (f == NULL)
        return err_set(err, ERR_IO, "/proc/self/cgroup: %s", strerror(errno));
    /* Lines are "hierarchy-id:controllers:path"; v2's single hierarchy is "0::path". */
    while (fgets(line, sizeof(line), f) != NULL) {
        char *ctls = strchr(line, ':'), *path;
        if (ctls == NULL || (path = strchr(++ctls, ':')) == NULL)
            continue;
        *path++ = '\0';
        path[strcspn(path, "\n")] = '\0';
        bool match = v2 ? ctls[0] == '\0' : false;
        for (char *c = ctls, *next; !v2 && c != NULL; c = next) {
            next = strchr(c, ',');
            size_t n = next != NULL ? (size_t)(next++ - c) : strlen(c);
            match = match || (n == strlen(ctl) && memcmp(c, ctl, n) == 0);
        }
        if (!match)
            continue;
        int n = snprintf(out, max, "/sys/fs/cgroup%s%s%s/%s", v2 ? "" : "/", v2 ? "" : ctls,
                         strcmp(path, "/") == 0 ? "" : path, name);
        rc = n > 0 && (size_t)n < max ? 0 : err_set(err, ERR_LIMIT, "cgroup path too long");
        break;
    }
    fclose(f);
    return rc;
}

/* Reads the counters while the stopped container still holds its cgroup. cgroup v1 names
 * (memory.oom_control, memory.max_usage_in_bytes) first, then v2's (memory.events,
 * memory.peak); a file that does not exist reads as 0. */
static void stats_read(const struct run *r, struct bld_sandbox_result *res)
{
    char dir[PATH_MAX];

    if (bld_cgroup_dir("memory", r->id, dir, sizeof(dir), NULL) == 0) {
        res->oom_killed = rt_cg_read(dir, "memory.oom_control", "oom_kill") > 0 ||
                          rt_cg_read(dir, "memory.events", "oom_kill") > 0;
        res->peak_memory = rt_cg_read(dir, "memory.max_usage_in_bytes", NULL);
        if (res->peak_memory == 0)
            res->peak_memory = rt_cg_read(dir, "memory.peak", NULL);
    }
    if (bld_cgroup_dir("pids", r->id, dir, sizeof(dir), NULL) == 0)
        res->pids_limited = rt_cg_read(dir, "pids.events", "max") > 0;
}

/* runc delete removes the cgroup; this only sweeps what a runc that died half-way left. */
static void cgroups_sweep(const struct run *r)
{
    static const char *const ctls[] = {"memory",  "pids",    "cpu",   "cpuacct",     "cpuset",
                                       "devices", "freezer", "blkio", "name=systemd"};
    char dir[PATH_MAX];

    for (size_t i = 0; i < ARRAY_LEN(ctls); i++)
        if (bld_cgroup_dir(ctls[i], r->id, dir, sizeof(dir), NULL) == 0)
            (void)rmdir(dir);
}

/* ---------------------------------------------------------------- network */

/* A child that only holds a new, empty network namespace until hold_fd is closed. Between
 * fork() and _exit() it makes system calls only: this process may have other threads. */
static int netns_hold(struct run *r, struct err *err)
{
    int hold[2], ready[2];
    bool ok;

    if (pipe2(hold, O_CLOEXEC) != 0)
        return err_set(err, ERR_IO, "pipe: %s", strerror(errno));
    if (pipe2(ready, O_CLOEXEC) != 0) {
        close(hold[0]), close(hold[1]);
        return err_set(err, ERR_IO, "pipe: %s", strerror(errno));
    }
    r->holder = fork();
    if (r->holder == 0) {
        char c;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(hold[0], 0);
        dup2(ready[1], 1);
        close_range(3, ~0u, 0); /* nobody else's pipes may stay open in here */
        if (unshare(CLONE_NEWNET) != 0 || write(1, "x", 1) != 1)
            _exit(1);
        while (read(0, &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    close(hold[0]);
    close(ready[1]);
    r->hold_fd = hold[1];
    ok = r->holder > 0 && wait_byte(ready[0]);
    close(ready[0]);
    if (!ok)
        return err_set(err, ERR_UNAVAILABLE, "cannot make a network namespace");
    snprintf(r->netns, sizeof(r->netns), "/proc/%d/ns/net", (int)r->holder);
    return 0;
}

/* slirp4netns gives the namespace a tap0 with 10.0.2.100/24 and a default route to 10.0.2.2,
 * and makes each outbound connection itself, from the host. --disable-host-loopback makes it
 * refuse 10.0.2.2, its alias for the host's loopback. */
static int slirp_start(struct run *r, struct err *err)
{
    char pid[16];
    int ready[2], ex[2], rc;
    const char *argv[] = {"slirp4netns",
                          "--configure",
                          "--mtu=65520",
                          "--disable-host-loopback",
                          "--enable-sandbox",
                          "--enable-seccomp",
                          "--ready-fd=3",
                          "--exit-fd=4",
                          pid,
                          "tap0",
                          NULL};

    snprintf(pid, sizeof(pid), "%d", (int)r->holder);
    if (pipe2(ready, O_CLOEXEC) != 0)
        return err_set(err, ERR_IO, "pipe: %s", strerror(errno));
    if (pipe2(ex, O_CLOEXEC) != 0) {
        close(ready[0]), close(ready[1]);
        return err_set(err, ERR_IO, "pipe: %s", strerror(errno));
    }
    rc = spawn(argv, (const int[5]){-1, -1, -1, ready[1], ex[0]}, &r->slirp, err);
    close(ready[1]);
    close(ex[0]);
    r->slirp_exit = ex[1];
    if (rc == 0 && !wait_byte(ready[0]))
        rc = err_set(err, ERR_UNAVAILABLE, "slirp4netns did not come up");
    close(ready[0]);
    return rc;
}

static void route_deny(struct sbuf *b, const char *addr, int prefix)
{
    sbuf_printf(b, "route replace prohibit %s/%d\n", addr, prefix);
}

/* slirp would connect to any address the host has, and a server listening on 0.0.0.0 answers
 * on all of them: a route to each of the host's IPv4 addresses (and to link-local, where cloud
 * metadata services live) is made "prohibit" inside the namespace, so such packets never reach
 * slirp. The build cannot undo this: it has no CAP_NET_ADMIN. slirp runs without IPv6. */
static int routes_block(struct run *r, struct err *err)
{
    struct sbuf b = SBUF_INIT(64 << 10);
    struct ifaddrs *ifs = NULL;
    char path[PATH_MAX], addr[INET_ADDRSTRLEN], net[80];
    const char *argv[] = {"nsenter", net, "--", "ip", "-batch", path, NULL};
    int rc;

    if (getifaddrs(&ifs) != 0)
        return err_set(err, ERR_IO, "getifaddrs: %s", strerror(errno));
    route_deny(&b, "169.254.0.0", 16);
    for (struct ifaddrs *i = ifs; i != NULL; i = i->ifa_next) {
        if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET)
            continue;
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)i->ifa_addr;
        if ((ntohl(in->sin_addr.s_addr) >> 24) == 127) /* the namespace's own lo answers */
            continue;
        inet_ntop(AF_INET, &in->sin_addr, addr, sizeof(addr));
        route_deny(&b, addr, 32);
    }
    freeifaddrs(ifs);
    snprintf(path, sizeof(path), "%s/routes", r->bundle);
    snprintf(net, sizeof(net), "--net=%s", r->netns);
    rc = b.err != 0 ? err_set(err, ERR_LIMIT, "too many host addresses")
                    : file_write_atomic(path, b.buf, b.len, 0600, err);
    sbuf_release(&b);
    if (rc == 0 && run_quiet(argv) != 0)
        rc = err_set(err, ERR_UNAVAILABLE, "cannot block the host's addresses (ip route)");
    return rc;
}

static int net_start(struct run *r, char *resolv, size_t max, struct err *err)
{
    static const char conf[] = "nameserver " SLIRP_DNS "\n";
    int rc;

    if ((rc = netns_hold(r, err)) < 0 || (rc = slirp_start(r, err)) < 0 ||
        (rc = routes_block(r, err)) < 0)
        return rc;
    snprintf(resolv, max, "%s/resolv.conf", r->bundle);
    return file_write_atomic(resolv, conf, sizeof(conf) - 1, 0644, err);
}

/* ---------------------------------------------------------------- output */

static void lines_emit(struct lines *l, size_t n)
{
    size_t len = n > 0 && l->buf[n - 1] == '\n' ? n - 1 : n;

    if (l->fn != NULL)
        l->fn(l->arg, l->stream, (struct slice){l->buf, len});
    memmove(l->buf, l->buf + n, l->len - n);
    l->len -= n;
}

/* Hands every complete line in the buffer to the callback; a full buffer is one line. */
static void lines_split(struct lines *l)
{
    char *nl;

    while ((nl = memchr(l->buf, '\n', l->len)) != NULL)
        lines_emit(l, (size_t)(nl - l->buf) + 1);
    if (l->len == sizeof(l->buf))
        lines_emit(l, l->len);
}

/* Reads what is there; false when there was nothing (more) to read. At the end of the
 * stream (or an error, which ends it too) the last partial line goes out and fd becomes -1. */
static bool lines_read(struct lines *l)
{
    ssize_t n = read(l->fd, l->buf + l->len, sizeof(l->buf) - l->len);

    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return false;
    if (n <= 0) {
        if (l->len > 0)
            lines_emit(l, l->len);
        l->fd = -1;
        return false;
    }
    l->len += (size_t)n;
    lines_split(l);
    return true;
}

/* ---------------------------------------------------------------- runc */

static void container_kill(const struct run *r)
{
    const char *argv[] = {"runc", "kill", "--all", r->id, "KILL", NULL};

    (void)run_quiet(argv);
}

static int runc_start(struct run *r, struct err *err)
{
    char log[PATH_MAX], pid[PATH_MAX];
    const char *argv[] = {"runc",   "--log",      log, "--log-format", "json",    "run",
                          "--keep", "--pid-file", pid, "--bundle",     r->bundle, r->id,
                          NULL};
    int out[2], errp[2], rc;

    snprintf(log, sizeof(log), "%s/runc.log", r->bundle);
    snprintf(pid, sizeof(pid), "%s/pid", r->bundle);
    if (pipe2(out, O_CLOEXEC) != 0)
        return err_set(err, ERR_IO, "pipe: %s", strerror(errno));
    if (pipe2(errp, O_CLOEXEC) != 0) {
        close(out[0]), close(out[1]);
        return err_set(err, ERR_IO, "pipe: %s", strerror(errno));
    }
    r->runc_called = true;
    rc = spawn(argv, (const int[5]){-1, out[1], errp[1], -1, -1}, &r->runc, err);
    close(out[1]);
    close(errp[1]);
    r->out_fd[0] = out[0];
    r->out_fd[1] = errp[0];
    return rc;
}

static bool killing_due(const _Atomic bool *cancel, uint64_t deadline,
                        struct bld_sandbox_result *res)
{
    if (cancel != NULL && atomic_load(cancel))
        res->cancelled = true;
    else if (time_mono_ms() >= deadline)
        res->timed_out = true;
    return res->cancelled || res->timed_out;
}

/* Feeds output to <l> (stdout, stderr) until runc ends, killing the container on cancel or
 * at the deadline. */
static void pump(struct run *r, struct lines l[2], const _Atomic bool *cancel,
                 struct bld_sandbox_result *res)
{
    uint64_t start = time_mono_ms(), next_kill = 0;
    uint64_t deadline = r->s->wall_ms != 0 ? start + r->s->wall_ms : UINT64_MAX;
    int status = 0, kills = 0;
    bool killing = false;

    for (;;) {
        /* poll() skips a negative fd, and with both gone it only sleeps */
        struct pollfd p[2] = {{l[0].fd, POLLIN, 0}, {l[1].fd, POLLIN, 0}};
        if (poll(p, 2, POLL_MS) > 0)
            for (int i = 0; i < 2; i++)
                if (p[i].revents != 0)
                    (void)lines_read(&l[i]);
        if (waitpid(r->runc, &status, WNOHANG) == r->runc)
            break;
        killing = killing || killing_due(cancel, deadline, res);
        if (killing && time_mono_ms() >= next_kill) {
            if (++kills > KILL_GIVE_UP) /* runc itself is stuck: delete -f cleans up */
                kill(r->runc, SIGKILL);
            else
                container_kill(r);
            next_kill = time_mono_ms() + KILL_EVERY_MS;
        }
    }
    r->runc = 0;
    res->duration_ms = time_mono_ms() - start;
    res->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    /* runc has copied everything by the time it exits; take what is left without waiting
     * for an end of file that a stray descriptor elsewhere could hold back. */
    for (int i = 0; i < 2; i++) {
        if (l[i].fd < 0)
            continue;
        fcntl(l[i].fd, F_SETFL, O_NONBLOCK);
        while (l[i].fd >= 0 && lines_read(&l[i]))
            ;
        if (l[i].len > 0)
            lines_emit(&l[i], l[i].len);
    }
}

/* ---------------------------------------------------------------- the run */

static int bundle_make(struct run *r, struct err *err)
{
    const char *dir = r->s->state_dir != NULL ? r->s->state_dir : "/run/slipway";
    char uuid[37];

    id_new(uuid);
    snprintf(r->id, sizeof(r->id), "slipway-%s", uuid);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return err_set(err, err_from_errno(errno), "%s: %s", dir, strerror(errno));
    snprintf(r->bundle, sizeof(r->bundle), "%s/%s", dir, r->id);
    if (mkdir(r->bundle, 0700) != 0) {
        r->bundle[0] = '\0';
        return err_set(err, err_from_errno(errno), "%s: %s", dir, strerror(errno));
    }
    return 0;
}

static int config_write(struct run *r, const char *resolv, struct err *err)
{
    struct sbuf b = SBUF_INIT(CONFIG_MAX);
    char path[PATH_MAX];
    int rc;

    bld_sandbox_config(r->s, r->id, r->netns[0] != '\0' ? r->netns : NULL, resolv, &b);
    snprintf(path, sizeof(path), "%s/config.json", r->bundle);
    rc = b.err != 0 ? err_set(err, ERR_LIMIT, "sandbox config over 256 KiB")
                    : file_write_atomic(path, b.buf, b.len, 0600, err);
    sbuf_release(&b);
    return rc;
}

static void cleanup(struct run *r)
{
    const char *argv[] = {"runc", "delete", "--force", r->id, NULL};

    if (r->runc > 0) {
        container_kill(r);
        reap(&r->runc, SIGKILL);
    }
    if (r->runc_called) {
        (void)run_quiet(argv);
        cgroups_sweep(r);
    }
    close_fd(&r->out_fd[0]);
    close_fd(&r->out_fd[1]);
    close_fd(&r->slirp_exit);
    reap(&r->slirp, SIGTERM);
    close_fd(&r->hold_fd);
    reap(&r->holder, SIGKILL);
    if (r->bundle[0] != '\0' && file_remove_tree(r->bundle, NULL) < 0)
        r->bundle[0] = '\0'; /* nothing more to try: state_dir is swept by hand */
}

/* The error for a command that ran: the first cause that explains how it ended. */
static int verdict(const struct run *r, const struct bld_sandbox_result *res, struct err *err)
{
    if (res->cancelled)
        return err_set(err, ERR_CANCELLED, "build cancelled");
    if (res->oom_killed && res->exit_code != 0)
        return err_set(err, ERR_LIMIT, "build needed more than %" PRIu64 " MiB",
                       r->s->memory_bytes >> 20);
    if (res->pids_limited && res->exit_code != 0)
        return err_set(err, ERR_LIMIT, "build started too many processes (limit %u)",
                       r->s->pids_max);
    if (res->timed_out)
        return err_set(err, ERR_TIMEOUT, "build ran longer than %" PRIu64 " s",
                       (r->s->wall_ms + 999) / 1000);
    return 0;
}

int bld_sandbox_run(const struct bld_sandbox_spec *s, bld_line_fn *on_line, void *arg,
                    const _Atomic bool *cancel, struct bld_sandbox_result *res, struct err *err)
{
    struct run r = {.s = s, .hold_fd = -1, .slirp_exit = -1, .out_fd = {-1, -1}};
    struct lines *l = NULL;
    char resolv[PATH_MAX], pid_file[PATH_MAX];
    int rc;

    memset(res, 0, sizeof(*res));
    r.uid = s->uid != 0 ? s->uid : BLD_SANDBOX_UID;
    r.gid = s->gid != 0 ? s->gid : r.uid;
    if ((rc = spec_check(s, err)) < 0)
        return rc;
    if (geteuid() != 0)
        return err_set(err, ERR_FORBIDDEN, "the build sandbox needs root (runc)");
    if ((rc = bundle_make(&r, err)) < 0 || (rc = mounts_own(&r, err)) < 0)
        goto done;
    if (s->network == BLD_NET_OUTBOUND && (rc = net_start(&r, resolv, sizeof(resolv), err)) < 0)
        goto done;
    if ((rc = config_write(&r, s->network == BLD_NET_OUTBOUND ? resolv : NULL, err)) < 0 ||
        (rc = runc_start(&r, err)) < 0)
        goto done;
    l = xcalloc(2, sizeof(*l));
    for (int i = 0; i < 2; i++)
        l[i] = (struct lines){.fd = r.out_fd[i],
                              .stream = i == 0 ? BLD_STDOUT : BLD_STDERR,
                              .fn = on_line,
                              .arg = arg};
    pump(&r, l, cancel, res);
    snprintf(pid_file, sizeof(pid_file), "%s/pid", r.bundle);
    if (!res->cancelled && !res->timed_out && access(pid_file, F_OK) != 0) {
        char msg[160];
        rt_runc_log_msg(r.bundle, msg, sizeof(msg));
        rc = err_set(err, ERR_UNAVAILABLE, "runc could not start the build: %s", msg);
        goto done;
    }
    stats_read(&r, res);
    rc = verdict(&r, res, err);
done:
    free(l);
    cleanup(&r);
    return rc;
}
