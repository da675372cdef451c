/*
 * The container runtime against the real runc, with an image made here: busybox-static as
 * /bin/busybox (httpd serving /www), an /etc/passwd naming the app user 10001, and a second
 * layer that deletes a file of the first (a whiteout). Every test skips (with a reason) when
 * runc cannot run at all: not root, or no runc.
 */
#include "../test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "rt/rt-int.h"
#include "../container_test.h"

#define HTTPD_CMD "exec httpd -f -p $PORT -h /www"

/* The image: layer 1 is busybox, /etc and /www (index.html, old.html); layer 2 deletes
 * old.html and adds new.html. */
struct fixture {
    char layout[512], root[512];
    char digest[OCI_DIGEST_SIZE];
    struct rt *rt;
    uint16_t port;
};

static uint16_t free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    CHECK(fd >= 0);
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void image_make(struct fixture *f, const char *tmp)
{
    static const char *const applets[] = {"sh",    "httpd", "id",  "echo", "touch",
                                          "sleep", "tail",  "seq", "cat",  "true"};
    static const char *const cmd[] = {"/bin/sh", "-c", HTTPD_CMD};
    static const char *const env[] = {"GREETING=hello"};
    struct oci_layer_opts lo = {.keep_setid = true};
    struct oci_layer l[2];
    struct err err = {0};
    char path[700];

    sh("mkdir -p %s/l1/bin %s/l1/etc %s/l1/www %s/l1/tmp %s/l2/www && chmod 1777 %s/l1/tmp && "
       "cp /bin/busybox %s/l1/bin/busybox",
       tmp, tmp, tmp, tmp, tmp, tmp, tmp);
    for (size_t i = 0; i < ARRAY_LEN(applets); i++) {
        snprintf(path, sizeof(path), "%s/l1/bin/%s", tmp, applets[i]);
        CHECK(symlink("busybox", path) == 0);
    }
    sh("cd %s && printf 'root:x:0:0::/:/bin/sh\\napp:x:10001:10001::/tmp:/bin/sh\\n' > "
       "l1/etc/passwd && printf 'root:x:0:\\napp:x:10001:\\n' > l1/etc/group && "
       "echo index > l1/www/index.html && echo old > l1/www/old.html && "
       "echo new > l2/www/new.html && touch l2/www/.wh.old.html",
       tmp);
    snprintf(f->layout, sizeof(f->layout), "%s/img", tmp);
    snprintf(path, sizeof(path), "%s/l1", tmp);
    OK(oci_layer_from_dir(path, &lo, f->layout, &l[0], &err));
    snprintf(path, sizeof(path), "%s/l2", tmp);
    OK(oci_layer_from_dir(path, &lo, f->layout, &l[1], &err));
    struct oci_image_spec s = {
        .config =
            {.user = "app", .cmd = cmd, .n_cmd = 3, .env = env, .n_env = 1, .workdir = "/www"},
        .layers = l,
        .n_layers = 2,
        .tag = "v1"};
    OK(oci_image_write(f->layout, &s, f->digest, &err));
}

static void fixture_init(struct fixture *f, const struct rt_opts *opts)
{
    const char *tmp = test_tmpdir();
    struct rt_opts o = opts != NULL ? *opts : (struct rt_opts){0};
    struct err err = {0};

    memset(f, 0, sizeof(*f));
    image_make(f, tmp);
    snprintf(f->root, sizeof(f->root), "%s/rt", tmp);
    o.root = f->root;
    OK(rt_new(&o, &f->rt, &err));
    f->port = free_port();
}

static struct rt_spec spec_of(const struct fixture *f, const char *id, const char *const *argv)
{
    static const char *const env[] = {"SECRET_TOKEN=s3cret"};

    return (struct rt_spec){.id = id,
                            .layout_dir = f->layout,
                            .digest = f->digest,
                            .env = env,
                            .n_env = 1,
                            .port = f->port,
                            .memory_bytes = 64u << 20,
                            .pids_max = 64,
                            .argv = argv};
}

/* The status of GET <path> on 127.0.0.1:<port>, or -1 when nothing answers. */
static int http_get(uint16_t port, const char *path, char *body, size_t max)
{
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char req[256], buf[4096];
    size_t got = 0;
    ssize_t n;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), status = -1;

    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
    if (write(fd, req, strlen(req)) == (ssize_t)strlen(req))
        while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
            got += (size_t)n;
    close(fd);
    buf[got] = '\0';
    if (sscanf(buf, "HTTP/%*s %d", &status) != 1)
        return -1;
    if (body != NULL) {
        const char *b = strstr(buf, "\r\n\r\n");
        snprintf(body, max, "%s", b != NULL ? b + 4 : "");
    }
    return status;
}

static int wait_http(uint16_t port, const char *path)
{
    int status = -1;

    for (int i = 0; i < 200 && (status = http_get(port, path, NULL, 0)) < 0; i++)
        usleep(50 * 1000);
    return status;
}

/* Whether the file <path> holds <needle> within 10 s. */
static bool wait_file_has(const char *path, const char *needle)
{
    for (int i = 0; i < 200; i++) {
        FILE *fp = fopen(path, "r");
        char buf[1 << 16];
        size_t n = fp != NULL ? fread(buf, 1, sizeof(buf) - 1, fp) : 0;
        if (fp != NULL)
            fclose(fp);
        buf[n] = '\0';
        if (strstr(buf, needle) != NULL)
            return true;
        usleep(50 * 1000);
    }
    return false;
}

static struct rt_state wait_exited(struct rt *rt, const char *id)
{
    struct rt_state st = {0};
    struct err err = {0};

    for (int i = 0; i < 200; i++) {
        OK(rt_state(rt, id, &st, &err));
        if (st.status == RT_EXITED)
            break;
        usleep(50 * 1000);
    }
    return st;
}

/* Nothing of <id> is left but its logs: no runc container, no cgroup, no mount, no directory,
 * no relay. */
static void check_gone(const struct fixture *f, const char *id, const struct rt_meta *m)
{
    char path[1024];
    struct rt_state st;
    struct err err = {0};

    snprintf(path, sizeof(path), "runc --root %s/runc list -q | grep -q '^%s$'", f->root, id);
    CHECK(system(path) != 0);
    snprintf(path, sizeof(path), "grep -q '%s/containers/%s' /proc/mounts", f->root, id);
    CHECK(system(path) != 0);
    snprintf(path, sizeof(path), "%s/containers/%s", f->root, id);
    CHECK(access(path, F_OK) != 0);
    CHECK(m->cg_memory[0] != '\0');
    CHECK(access(m->cg_memory, F_OK) != 0);
    CHECK(access(m->cg_pids, F_OK) != 0);
    CHECK(m->relay_pid > 0);
    CHECK(kill(m->relay_pid, 0) != 0);
    CHECK_INT_EQ(rt_state(f->rt, id, &st, &err), ERR_NOTFOUND);
}

static int proc_uid(int pid)
{
    char path[64], line[256];
    int uid = -1;
    FILE *fp;

    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    if ((fp = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), fp) != NULL)
        if (sscanf(line, "Uid: %d", &uid) == 1)
            break;
    fclose(fp);
    return uid;
}

static void serves_and_stops(const struct rt_opts *opts, enum rt_rootfs_kind kind)
{
    static const char *const argv[] = {
        "/bin/sh", "-c",
        "id -u; echo $GREETING $SECRET_TOKEN; touch /x 2>/dev/null || echo root-ro; "
        "touch /tmp/y && echo tmp-rw; echo oops >&2; " HTTPD_CMD,
        NULL};
    struct fixture f;
    struct rt_state st;
    struct rt_usage u;
    struct rt_meta m;
    struct sbuf metrics = SBUF_INIT(1 << 20);
    struct err err = {0};
    char body[256], log[1024];
    uint16_t port;

    if (!can_run())
        return;
    fixture_init(&f, opts);
    struct rt_spec s = spec_of(&f, "web", argv);
    OK(rt_start(f.rt, &s, &err));
    CHECK_INT_EQ(rt_start(f.rt, &s, &err), ERR_CONFLICT);
    CHECK_INT_EQ(wait_http(f.port, "/index.html"), 200);
    CHECK_INT_EQ(http_get(f.port, "/new.html", body, sizeof(body)), 200);
    CHECK_STR_EQ(body, "new\n");
    CHECK_INT_EQ(http_get(f.port, "/old.html", NULL, 0), 404); /* the whiteout */

    OK(rt_state(f.rt, "web", &st, &err));
    CHECK_INT_EQ(st.status, RT_RUNNING);
    CHECK_INT_EQ(st.rootfs, kind);
    CHECK_INT_EQ(st.port, f.port);
    CHECK_INT_EQ(proc_uid(st.pid), 10001);
    OK(rt_log_path(f.rt, "web", log, sizeof(log), &err));
    CHECK(wait_file_has(log, " out 10001\n"));
    CHECK(wait_file_has(log, " out hello s3cret\n"));
    CHECK(wait_file_has(log, " out root-ro\n"));
    CHECK(wait_file_has(log, " out tmp-rw\n"));
    CHECK(wait_file_has(log, " err oops\n"));

    OK(rt_listening_port(f.rt, "web", f.port, &port, &err));
    CHECK_INT_EQ(port, f.port);
    OK(rt_usage(f.rt, "web", &u, &err));
    CHECK(u.memory_bytes > 0);
    CHECK_UINT_EQ(u.memory_limit, 64u << 20);
    rt_metrics_render(f.rt, &metrics);
    CHECK_CONTAINS(metrics.buf, "slipway_container_cpu_seconds_total{container=\"web\"} ");
    CHECK_CONTAINS(metrics.buf, "slipway_container_memory_bytes{container=\"web\"} ");
    sbuf_release(&metrics);

    /* httpd has no SIGTERM handler: as it is not PID 1 anywhere, SIGTERM ends it at once. */
    OK(rt_meta_read(f.rt, "web", &m, &err));
    uint64_t t0 = time_mono_ms();
    OK(rt_stop(f.rt, "web", 10000, &err));
    CHECK(time_mono_ms() - t0 < 5000);
    check_gone(&f, "web", &m);
    CHECK(http_get(f.port, "/index.html", NULL, 0) < 0);
    CHECK(wait_file_has(log, " out tmp-rw\n")); /* the logs stay */
    OK(rt_logs_remove(f.rt, "web", &err));
    CHECK(access(log, F_OK) != 0);
    rt_free(f.rt);
}

TEST(rt_serves_on_overlay_and_stops_clean)
{
    serves_and_stops(NULL, RT_ROOTFS_OVERLAY);
}

TEST(rt_serves_on_a_copy_and_stops_clean)
{
    serves_and_stops(&(struct rt_opts){.force_copy = true}, RT_ROOTFS_COPY);
}

/* The "slipway" that starts the container is a child killed with SIGKILL: the app keeps
 * serving and a new runtime adopts it. */
TEST(rt_container_outlives_its_starter_and_is_adopted)
{
    struct fixture f;
    struct err err = {0};
    int p[2], status;
    char c = 0;

    if (!can_run())
        return;
    fixture_init(&f, NULL);
    CHECK(pipe(p) == 0);
    pid_t child = fork();
    if (child == 0) {
        struct rt_spec s = spec_of(&f, "app", NULL);
        struct err e = {0};
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives a failed test */
        char ok = rt_start(f.rt, &s, &e) == 0 ? 'y' : 'n';
        if (write(p[1], &ok, 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    close(p[1]);
    CHECK(read(p[0], &c, 1) == 1);
    CHECK(c == 'y');
    CHECK_INT_EQ(wait_http(f.port, "/index.html"), 200);
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    usleep(200 * 1000);
    CHECK_INT_EQ(http_get(f.port, "/index.html", NULL, 0), 200);

    struct rt *again;
    struct rt_info *list;
    size_t n;
    struct arena *a = arena_new(NULL);
    OK(rt_new(&(struct rt_opts){.root = f.root}, &again, &err));
    OK(rt_adopt(again, a, &list, &n, &err));
    CHECK_UINT_EQ(n, 1);
    CHECK_STR_EQ(list[0].id, "app");
    CHECK_INT_EQ(list[0].state.status, RT_RUNNING);
    CHECK_INT_EQ(list[0].state.port, f.port);
    CHECK_INT_EQ(http_get(f.port, "/index.html", NULL, 0), 200);
    OK(rt_stop(again, "app", 5000, &err));
    OK(rt_adopt(again, a, &list, &n, &err));
    CHECK_UINT_EQ(n, 0);
    arena_free(a);
    rt_free(again);
    rt_free(f.rt);
}

/* A handler for SIGTERM runs and the exit code is kept; a process ignoring SIGTERM is killed
 * after the grace period. */
TEST(rt_stop_sends_sigterm_then_sigkill)
{
    static const char *const polite[] = {
        "/bin/sh", "-c", "trap 'echo bye; exit 3' TERM; echo up; while true; do sleep 0.1; done",
        NULL};
    static const char *const stubborn[] = {
        "/bin/sh", "-c", "trap '' TERM; echo up; while true; do sleep 0.1; done", NULL};
    struct fixture f;
    struct err err = {0};
    struct rt_meta m;
    char log[1024], exit_path[1024];

    if (!can_run())
        return;
    fixture_init(&f, NULL);
    struct rt_spec s = spec_of(&f, "polite", polite);
    OK(rt_start(f.rt, &s, &err));
    OK(rt_log_path(f.rt, "polite", log, sizeof(log), &err));
    CHECK(wait_file_has(log, " out up\n"));
    OK(rt_meta_read(f.rt, "polite", &m, &err));
    uint64_t t0 = time_mono_ms();
    OK(rt_stop(f.rt, "polite", 10000, &err));
    CHECK(time_mono_ms() - t0 < 3000);
    CHECK(wait_file_has(log, " out bye\n"));
    snprintf(exit_path, sizeof(exit_path), "%s/logs/polite/exit", f.root);
    CHECK(wait_file_has(exit_path, "3"));
    check_gone(&f, "polite", &m);

    s = spec_of(&f, "stubborn", stubborn);
    OK(rt_start(f.rt, &s, &err));
    OK(rt_log_path(f.rt, "stubborn", log, sizeof(log), &err));
    CHECK(wait_file_has(log, " out up\n"));
    OK(rt_meta_read(f.rt, "stubborn", &m, &err));
    t0 = time_mono_ms();
    OK(rt_stop(f.rt, "stubborn", 1000, &err));
    uint64_t took = time_mono_ms() - t0;
    CHECK(took >= 1000 && took < 6000);
    snprintf(exit_path, sizeof(exit_path), "%s/logs/stubborn/exit", f.root);
    CHECK(wait_file_has(exit_path, "137"));
    check_gone(&f, "stubborn", &m);
    rt_free(f.rt);
}

/* The relay run as its own binary (rt_opts.relay_exe), as slipway runs it: this test binary
 * started again as "<exe> __rt-relay …" goes straight to the relay (glibc passes main's
 * arguments to constructors). */
__attribute__((constructor)) static void relay_entry(int argc, char **argv, char **envp)
{
    (void)envp;
    if (argc > 1 && strcmp(argv[1], "__rt-relay") == 0)
        rt_relay_exec_main(argc - 2, argv + 2);
}

/* Output goes on being kept after the app exits, in files that rotate at the bound; the relay
 * is an exec'd one here. */
TEST(rt_logs_rotate_and_outlive_the_app)
{
    static const char *const chatty[] = {
        "/bin/sh", "-c",
        "for i in $(seq 1 300); do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; "
        "done; echo last >&2; exit 7",
        NULL};
    struct fixture f;
    struct err err = {0};
    struct stat st;
    struct sbuf tail = SBUF_INIT(1 << 16);
    char log[1024], path[1100];

    if (!can_run())
        return;
    fixture_init(&f, &(struct rt_opts){
                         .log_max_bytes = 4096, .log_files = 2, .relay_exe = "/proc/self/exe"});
    struct rt_spec s = spec_of(&f, "chatty", chatty);
    OK(rt_start(f.rt, &s, &err));
    struct rt_state state = wait_exited(f.rt, "chatty");
    CHECK_INT_EQ(state.status, RT_EXITED);
    OK(rt_log_path(f.rt, "chatty", log, sizeof(log), &err));
    CHECK(wait_file_has(log, " err last\n"));
    for (int i = 0; i < 100 && (state = wait_exited(f.rt, "chatty")).exit_code < 0; i++)
        usleep(50 * 1000);
    CHECK_INT_EQ(state.exit_code, 7);
    CHECK(stat(log, &st) == 0 && st.st_size <= 4096);
    snprintf(path, sizeof(path), "%s.1", log);
    CHECK(stat(path, &st) == 0 && st.st_size <= 4096 && st.st_size > 3000);
    snprintf(path, sizeof(path), "%s.2", log);
    CHECK(stat(path, &st) == 0 && st.st_size <= 4096);
    snprintf(path, sizeof(path), "%s.3", log);
    CHECK(access(path, F_OK) != 0);
    OK(rt_log_tail(f.rt, "chatty", 200, &tail, &err));
    CHECK(tail.len <= 200);
    CHECK_CONTAINS(tail.buf, "line-300-");
    CHECK_CONTAINS(tail.buf, " err last\n");
    CHECK(tail.buf[0] == '2'); /* whole lines: each starts with its time */
    sbuf_release(&tail);
    OK(rt_stop(f.rt, "chatty", 1000, &err));
    rt_free(f.rt);
}

TEST(rt_memory_limit_is_enforced)
{
    static const char *const hog[] = {"/bin/sh", "-c", "echo start; tail /dev/zero", NULL};
    struct fixture f;
    struct err err = {0};

    if (!can_run())
        return;
    fixture_init(&f, NULL);
    struct rt_spec s = spec_of(&f, "hog", hog);
    s.memory_bytes = 32u << 20;
    OK(rt_start(f.rt, &s, &err));
    struct rt_state st = wait_exited(f.rt, "hog");
    CHECK_INT_EQ(st.status, RT_EXITED);
    CHECK(st.oom_killed);
    OK(rt_stop(f.rt, "hog", 1000, &err));
    rt_free(f.rt);
}

TEST(rt_finds_the_port_the_app_really_listens_on)
{
    static char script[128];
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    struct fixture f;
    struct err err = {0};
    uint16_t port;

    if (!can_run())
        return;
    fixture_init(&f, NULL);
    uint16_t other = free_port();
    snprintf(script, sizeof(script), "exec httpd -f -p %u -h /www", other);
    struct rt_spec s = spec_of(&f, "elsewhere", argv);
    OK(rt_start(f.rt, &s, &err));
    CHECK_INT_EQ(wait_http(other, "/index.html"), 200);
    OK(rt_listening_port(f.rt, "elsewhere", f.port, &port, &err));
    CHECK_INT_EQ(port, other);
    OK(rt_stop(f.rt, "elsewhere", 5000, &err));
    CHECK_INT_EQ(rt_listening_port(f.rt, "elsewhere", f.port, &port, &err), ERR_NOTFOUND);
    rt_free(f.rt);
}

TEST(rt_refuses_bad_specs)
{
    struct fixture f;
    struct err err = {0};
    char dir[1024];

    if (!can_run())
        return;
    fixture_init(&f, NULL);
    struct rt_spec s = spec_of(&f, "Bad_Id", NULL);
    CHECK_INT_EQ(rt_start(f.rt, &s, &err), ERR_INVALID);
    s = spec_of(&f, "nodigest", NULL);
    s.digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    CHECK_INT_EQ(rt_start(f.rt, &s, &err), ERR_NOTFOUND);
    snprintf(dir, sizeof(dir), "%s/containers/nodigest", f.root);
    CHECK(access(dir, F_OK) != 0);
    CHECK_INT_EQ(rt_stop(f.rt, "nothing", 10, &err), ERR_NOTFOUND);
    rt_free(f.rt);
}

TEST(rt_time_format_is_rfc3339)
{
    char out[25] = {0};

    rt_time_format(0, out);
    CHECK_STR_EQ(out, "1970-01-01T00:00:00.000Z");
    rt_time_format(1767607200123ull, out);
    CHECK_STR_EQ(out, "2026-01-05T10:00:00.123Z");
    rt_time_format(951782400000ull, out); /* a leap day */
    CHECK_STR_EQ(out, "2000-02-29T00:00:00.000Z");
}
