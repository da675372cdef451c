/*
 * The build sandbox against the real runc. The root filesystem is made here: busybox-static as
 * /bin/busybox with the applets the commands use, and an /etc/passwd naming the build user.
 * Every test skips (with a reason) when runc cannot run at all: not root, or no runc.
 */
#include "../test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "bld/bld-int.h"

#define MAX_LINES 64

struct got {
    size_t n;
    size_t len[MAX_LINES];
    enum bld_stream stream[MAX_LINES];
    char line[MAX_LINES][128];
};

static void collect(void *arg, enum bld_stream stream, struct slice line)
{
    struct got *g = arg;

    if (g->n == MAX_LINES)
        return;
    g->stream[g->n] = stream;
    g->len[g->n] = line.len;
    snprintf(g->line[g->n], sizeof(g->line[0]), "%.*s", SLICE_ARG(line));
    g->n++;
}

static bool has_line(const struct got *g, const char *s)
{
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->line[i], s) == 0)
            return true;
    return false;
}

static bool can_run(void)
{
    if (geteuid() != 0) {
        printf("# skip: the sandbox needs root for runc\n");
        return false;
    }
    if (access("/usr/sbin/runc", X_OK) != 0 && access("/usr/bin/runc", X_OK) != 0) {
        printf("# skip: runc is not installed (scripts/bootstrap)\n");
        return false;
    }
    return true;
}

static void put_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
}

static void run_sh(const char *cmd)
{
    CHECK(system(cmd) == 0);
}

/* <tmp>/root (busybox image), <tmp>/ws (the workspace), <tmp>/state (bundles). */
struct fixture {
    char root[512], ws[512], state[512];
    struct bld_mount mount;
    struct bld_sandbox_spec spec;
    const char *argv[4];
};

static void fixture_init(struct fixture *f, const char *script)
{
    static const char *const applets[] = {"sh",   "id",   "echo", "cat",   "touch", "dd",
                                          "tail", "head", "tr",   "sleep", "nc",    "ls",
                                          "stat", "wc",   "true", "false", "seq"};
    const char *tmp = test_tmpdir();
    char path[700], cmd[2048];

    snprintf(f->root, sizeof(f->root), "%s/root", tmp);
    snprintf(f->ws, sizeof(f->ws), "%s/ws", tmp);
    snprintf(f->state, sizeof(f->state), "%s/state", tmp);
    snprintf(cmd, sizeof(cmd),
             "mkdir -p %s %s && cd %s && mkdir -p bin etc workspace tmp proc dev sys && "
             "chmod 1777 tmp && cp /bin/busybox bin/busybox && touch etc/resolv.conf",
             f->ws, f->root, f->root);
    run_sh(cmd);
    for (size_t i = 0; i < ARRAY_LEN(applets); i++) {
        snprintf(path, sizeof(path), "%s/bin/%s", f->root, applets[i]);
        CHECK(symlink("busybox", path) == 0 || errno == EEXIST);
    }
    snprintf(path, sizeof(path), "%s/etc/passwd", f->root);
    put_file(path, "root:x:0:0::/root:/bin/sh\nbuild:x:10001:10001::/workspace:/bin/sh\n");
    snprintf(path, sizeof(path), "%s/etc/group", f->root);
    put_file(path, "root:x:0:\nbuild:x:10001:\n");
    f->mount =
        (struct bld_mount){.host_path = f->ws, .path = "/workspace", .writable = true, .own = true};
    f->argv[0] = "/bin/sh";
    f->argv[1] = "-c";
    f->argv[2] = script;
    f->argv[3] = NULL;
    f->spec = (struct bld_sandbox_spec){.rootfs = f->root,
                                        .argv = f->argv,
                                        .mounts = &f->mount,
                                        .n_mounts = 1,
                                        .memory_bytes = 256ull << 20,
                                        .pids_max = 128,
                                        .wall_ms = 30000,
                                        .state_dir = f->state};
}

/* No container, bundle or cgroup of the run named <id> is left. */
static void check_gone(const struct fixture *f, const char *id)
{
    char cmd[700], dir[600];
    struct err err = {0};

    snprintf(cmd, sizeof(cmd), "runc list -q | grep -q '^%s$'", id);
    CHECK(system(cmd) != 0);
    snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A %s)\"", f->state);
    CHECK(system(cmd) == 0);
    OK(bld_cgroup_dir("memory", id, dir, sizeof(dir), &err));
    CHECK(access(dir, F_OK) != 0);
    OK(bld_cgroup_dir("pids", id, dir, sizeof(dir), &err));
    CHECK(access(dir, F_OK) != 0);
}

TEST(sandbox_lines_arrive_in_order_and_exit_code_passes)
{
    struct fixture f;
    struct bld_sandbox_result res;
    struct got g = {0};
    struct err err = {0};

    if (!can_run())
        return;
    fixture_init(&f, "for i in $(seq 1 5); do echo line$i; done; echo to-stderr >&2; "
                     "printf 'no newline'; exit 7");
    OK(bld_sandbox_run(&f.spec, collect, &g, NULL, &res, &err));
    CHECK_INT_EQ(res.exit_code, 7);
    CHECK_UINT_EQ(g.n, 7);
    /* stdout in order; the stderr line may come anywhere between them */
    const char *want[] = {"line1", "line2", "line3", "line4", "line5", "no newline"};
    size_t k = 0;
    for (size_t i = 0; i < g.n; i++) {
        if (g.stream[i] == BLD_STDERR) {
            CHECK_STR_EQ(g.line[i], "to-stderr");
            continue;
        }
        CHECK_INT_EQ(g.stream[i], BLD_STDOUT);
        CHECK(k < ARRAY_LEN(want));
        CHECK_STR_EQ(g.line[i], want[k++]);
    }
    CHECK_UINT_EQ(k, ARRAY_LEN(want));
    CHECK(!res.oom_killed && !res.pids_limited && !res.timed_out && !res.cancelled);
    CHECK(res.peak_memory > 0);
}

TEST(sandbox_long_lines_are_cut_at_16k)
{
    struct fixture f;
    struct bld_sandbox_result res;
    struct got g = {0};
    struct err err = {0};

    if (!can_run())
        return;
    fixture_init(&f, "dd if=/dev/zero bs=1000 count=40 2>/dev/null | tr '\\0' a; echo; echo end");
    OK(bld_sandbox_run(&f.spec, collect, &g, NULL, &res, &err));
    CHECK_INT_EQ(res.exit_code, 0);
    CHECK_UINT_EQ(g.n, 4);
    CHECK_UINT_EQ(g.len[0], 16384);
    CHECK_UINT_EQ(g.len[1], 16384);
    CHECK_UINT_EQ(g.len[2], 40000 - 2 * 16384);
    CHECK_STR_EQ(g.line[3], "end");
}

TEST(sandbox_root_is_read_only_and_workspace_is_the_users)
{
    struct fixture f;
    struct bld_sandbox_result res;
    struct got g = {0};
    struct err err = {0};
    struct stat st;
    char path[600];

    if (!can_run())
        return;
    fixture_init(&f, "id -u; id -g; touch /bin/x 2>/dev/null && echo root-rw || echo root-ro; "
                     "touch /workspace/made && echo ws-rw; stat -c %u /workspace; "
                     "touch /tmp/t && echo tmp-rw");
    OK(bld_sandbox_run(&f.spec, collect, &g, NULL, &res, &err));
    CHECK_INT_EQ(res.exit_code, 0);
    CHECK_STR_EQ(g.line[0], "10001");
    CHECK_STR_EQ(g.line[1], "10001");
    CHECK_STR_EQ(g.line[2], "root-ro");
    CHECK_STR_EQ(g.line[3], "ws-rw");
    CHECK_STR_EQ(g.line[4], "10001");
    CHECK_STR_EQ(g.line[5], "tmp-rw");
    snprintf(path, sizeof(path), "%s/made", f.ws);
    CHECK(stat(path, &st) == 0);
    CHECK_UINT_EQ(st.st_uid, 10001);
    snprintf(path, sizeof(path), "%s/bin/x", f.root);
    CHECK(access(path, F_OK) != 0);
}

TEST(sandbox_runs_as_the_given_uid_without_capabilities)
{
    struct fixture f;
    struct bld_sandbox_result res;
    struct got g = {0};
    struct err err = {0};

    if (!can_run())
        return;
    fixture_init(&f, "id -u; id -g; cat /proc/self/status");
    f.spec.uid = 20002;
    f.spec.gid = 20003;
    OK(bld_sandbox_run(&f.spec, collect, &g, NULL, &res, &err));
    CHECK_STR_EQ(g.line[0], "20002");
    CHECK_STR_EQ(g.line[1], "20003");
    CHECK(has_line(&g, "CapEff:\t0000000000000000"));
    CHECK(has_line(&g, "CapBnd:\t0000000000000000"));
    CHECK(has_line(&g, "NoNewPrivs:\t1"));
}

TEST(sandbox_memory_hog_needs_more_than_the_limit)
{
    struct fixture f;
    struct bld_sandbox_result res;
    struct err err = {0};

    if (!can_run())
        return;
    fixture_init(&f, "dd if=/dev/zero bs=1M count=300 2>/dev/null | tail -c 250000000 >/dev/null");
    f.spec.memory_bytes = 64ull << 20;
    CHECK_INT_EQ(bld_sandbox_run(&f.spec, NULL, NULL, NULL, &res, &err), ERR_LIMIT);
    CHECK_STR_EQ(err.msg, "build needed more than 64 MiB");
    CHECK(res.oom_killed);
    CHECK(res.peak_memory >= (60ull << 20));
}

TEST(sandbox_fork_bomb_ends_at_the_pids_limit)
{
    struct fixture f;
    struct bld_sandbox_result res;
    struct err err = {0};

    if (!can_run())
        return;
    fixture_init(&f, "b() { b | b & }; b; sleep 3; exit 1");
    f.spec.pids_max = 32;
    f.spec.wall_ms = 20000;
    CHECK_INT_EQ(bld_sandbox_run(&f.spec, NULL, NULL, NULL, &res, &err), ERR_LIMIT);
    CHECK_STR_EQ(err.msg, "build started too many processes (limit 32)");
    CHECK(res.pids_limited);
    run_sh("true"); /* the host still forks */
}

TEST(sandbox_wall_clock_kills_in_time)
{
    struct fixture f;
    struct bld_sandbox_result res;
    struct err err = {0};

    if (!can_run())
        return;
    fixture_init(&f, "echo started; sleep 60");
    f.spec.wall_ms = 1000;
    CHECK_INT_EQ(bld_sandbox_run(&f.spec, NULL, NULL, NULL, &res, &err), ERR_TIMEOUT);
    CHECK_STR_EQ(err.msg, "build ran longer than 1 s");
    CHECK(res.timed_out);
    CHECK(res.duration_ms >= 1000 && res.duration_ms < 3000);
    CHECK_INT_EQ(res.exit_code, 137);
}

struct canceller {
    _Atomic bool flag;
    uint64_t at_ms;
};

static void *cancel_later(void *arg)
{
    struct canceller *c = arg;

    usleep(700 * 1000);
    c->at_ms = time_mono_ms();
    atomic_store(&c->flag, true);
    return NULL;
}

struct saw {
    struct got g;
    pthread_t t;
    struct canceller *c;
    bool started;
};

/* Starts the cancelling thread once the command is really running. */
static void on_started(void *arg, enum bld_stream stream, struct slice line)
{
    struct saw *s = arg;

    collect(&s->g, stream, line);
    if (!s->started && slice_eq_cstr(line, "running")) {
        s->started = true;
        CHECK(pthread_create(&s->t, NULL, cancel_later, s->c) == 0);
    }
}

TEST(sandbox_cancel_from_another_thread_kills_within_a_second)
{
    struct fixture f;
    struct bld_sandbox_result res;
    struct canceller c = {.flag = false};
    struct saw s = {.c = &c};
    struct err err = {0};
    uint64_t end;

    if (!can_run())
        return;
    fixture_init(&f, "echo running; sleep 60");
    CHECK_INT_EQ(bld_sandbox_run(&f.spec, on_started, &s, &c.flag, &res, &err), ERR_CANCELLED);
    end = time_mono_ms();
    CHECK(s.started);
    pthread_join(s.t, NULL);
    CHECK(res.cancelled);
    CHECK(end - c.at_ms < 1000);
}

TEST(sandbox_network_none_has_only_loopback)
{
    struct fixture f;
    struct bld_sandbox_result res;
    struct got g = {0};
    struct err err = {0};

    if (!can_run())
        return;
    fixture_init(&f, "ls /sys/class/net");
    OK(bld_sandbox_run(&f.spec, collect, &g, NULL, &res, &err));
    CHECK_UINT_EQ(g.n, 1);
    CHECK_STR_EQ(g.line[0], "lo");
}

/* A TCP listener on <addr> (any port); its port goes to *port. */
static int listen_on(const char *addr, int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    CHECK(fd >= 0);
    CHECK(inet_pton(AF_INET, addr, &sa.sin_addr) == 1);
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    CHECK(listen(fd, 8) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* The host's first IPv4 address that is not loopback, or false when it has none. */
static bool host_addr(char out[INET_ADDRSTRLEN])
{
    struct ifaddrs *ifs, *i;
    bool found = false;

    CHECK(getifaddrs(&ifs) == 0);
    for (i = ifs; i != NULL && !found; i = i->ifa_next) {
        if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET)
            continue;
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)i->ifa_addr;
        if ((ntohl(in->sin_addr.s_addr) >> 24) != 127)
            found = inet_ntop(AF_INET, &in->sin_addr, out, INET_ADDRSTRLEN) != NULL;
    }
    freeifaddrs(ifs);
    return found;
}

static bool accepted_any(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};

    return poll(&p, 1, 0) > 0;
}

TEST(sandbox_outbound_cannot_reach_the_host)
{
    struct fixture f;
    struct bld_sandbox_result res;
    struct got g = {0};
    struct err err = {0};
    char addr[INET_ADDRSTRLEN], script[1024];
    int lo_port, any_port, lo_fd, any_fd;

    if (!can_run())
        return;
    if (!host_addr(addr)) {
        printf("# skip: the host has no non-loopback IPv4 address\n");
        return;
    }
    lo_fd = listen_on("127.0.0.1", &lo_port);
    any_fd = listen_on("0.0.0.0", &any_port);
    /* The in-container listener proves nc connects when a route exists. */
    snprintf(script, sizeof(script),
             "ls /sys/class/net; cat /etc/resolv.conf; "
             "nc -l -p 7000 </dev/null >/dev/null & sleep 0.3; "
             "nc -w 2 127.0.0.1 7000 </dev/null && echo reach-own-lo; "
             "nc -w 2 127.0.0.1 %d </dev/null || echo refused-host-lo; "
             "nc -w 2 10.0.2.2 %d </dev/null || echo refused-gateway; "
             "nc -w 2 10.0.2.2 %d </dev/null || echo refused-gateway-any; "
             "nc -w 2 %s %d </dev/null || echo refused-host-addr; "
             "nc -w 2 169.254.169.254 80 </dev/null || echo refused-link-local",
             lo_port, lo_port, any_port, addr, any_port);
    fixture_init(&f, script);
    f.spec.network = BLD_NET_OUTBOUND;
    OK(bld_sandbox_run(&f.spec, collect, &g, NULL, &res, &err));
    CHECK(has_line(&g, "tap0"));
    CHECK(has_line(&g, "nameserver 10.0.2.3"));
    CHECK(has_line(&g, "reach-own-lo"));
    CHECK(has_line(&g, "refused-host-lo"));
    CHECK(has_line(&g, "refused-gateway"));
    CHECK(has_line(&g, "refused-gateway-any"));
    CHECK(has_line(&g, "refused-host-addr"));
    CHECK(has_line(&g, "refused-link-local"));
    CHECK(!accepted_any(lo_fd));
    CHECK(!accepted_any(any_fd));
    close(lo_fd);
    close(any_fd);
}

/* Runs <f> (whose script prints /proc/self/cgroup first) and checks that nothing of it is
 * left: the container's cgroup path ends in its id, "4:memory:/…/slipway-<uuid>". */
static void run_and_check_gone(struct fixture *f, int want)
{
    struct bld_sandbox_result res;
    struct got g = {0};
    struct err err = {0};
    const char *id;

    CHECK_INT_EQ(bld_sandbox_run(&f->spec, collect, &g, NULL, &res, &err), want);
    CHECK(g.n > 0);
    id = strstr(g.line[0], "slipway-");
    CHECK(id != NULL);
    check_gone(f, id);
}

TEST(sandbox_leaves_nothing_behind)
{
    struct fixture f;

    if (!can_run())
        return;
    fixture_init(&f, "cat /proc/self/cgroup");
    run_and_check_gone(&f, 0);
    /* Killed runs clean up the same way, with and without slirp4netns. */
    f.argv[2] = "cat /proc/self/cgroup; sleep 60";
    f.spec.wall_ms = 1000;
    run_and_check_gone(&f, ERR_TIMEOUT);
    f.spec.network = BLD_NET_OUTBOUND;
    run_and_check_gone(&f, ERR_TIMEOUT);
}

TEST(sandbox_refuses_bad_specs)
{
    struct fixture f;
    struct bld_sandbox_result res;
    struct err err = {0};
    const char *empty[] = {NULL};

    fixture_init(&f, "true");
    f.spec.rootfs = "relative";
    CHECK_INT_EQ(bld_sandbox_run(&f.spec, NULL, NULL, NULL, &res, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "rootfs");
    fixture_init(&f, "true");
    f.spec.argv = empty;
    CHECK_INT_EQ(bld_sandbox_run(&f.spec, NULL, NULL, NULL, &res, &err), ERR_INVALID);
    fixture_init(&f, "true");
    f.mount.path = "/";
    CHECK_INT_EQ(bld_sandbox_run(&f.spec, NULL, NULL, NULL, &res, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "mounts[0].path");
}
