/*
 * Running nginx: its files under the run directory, the supervisor thread that restarts it,
 * configuration switches (nginx -t, rename, SIGHUP, wait for the new generation to answer on
 * the status socket) and the stop sequence.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ingress/ingress-int.h"

static const struct cfg_key ingress_keys[] = {
    CFG_BOOL("ingress.enabled", struct ingress_cfg, enabled, true, 0,
             "Start nginx as the entry point of apps (and of the API at ingress.api_hosts)."),
    CFG_STR("ingress.bind", struct ingress_cfg, bind, "127.0.0.1", 0,
            "Address the ingress listens on (an IPv4 or IPv6 literal)."),
    CFG_INT("ingress.port", struct ingress_cfg, port, 8000, 1, 65535, 0,
            "Port the ingress listens on: apps at http://<service>-<env>-<project>.<workload "
            "domain>:<port>/, the API and dashboard at http://localhost:<port>/."),
    CFG_STR("ingress.nginx", struct ingress_cfg, nginx, "/usr/sbin/nginx", 0,
            "The nginx binary slipway starts and supervises."),
    CFG_STR("ingress.api_hosts", struct ingress_cfg, api_hosts, "localhost,127.0.0.1", 0,
            "Comma-separated hosts whose requests go to slipway itself (API, dashboard)."),
    CFG_INT("ingress.workers", struct ingress_cfg, workers, 1, 1, 2, 0, "nginx worker processes."),
    CFG_DURATION("ingress.stop_grace", struct ingress_cfg, stop_grace_ms, 10000, 0, 600000, 0,
                 "At shutdown, how long nginx may finish open requests before SIGTERM."),
};

struct cfg_section ingress_cfg_section(struct ingress_cfg *target)
{
    return (struct cfg_section){"ingress", ingress_keys, ARRAY_LEN(ingress_keys), target};
}

#define PATH_BYTES 256

struct ingress {
    struct ingress_params p;
    char *strings; /* the copies p points into */
    char *nginx;
    char api_url[300];
    char main_path[PATH_BYTES], routes_path[PATH_BYTES], next_path[PATH_BYTES];
    char check_path[PATH_BYTES], sock_path[PATH_BYTES], pid_path[PATH_BYTES];
    char log_path[PATH_BYTES], out_path[PATH_BYTES];
    int64_t stop_grace_ms;
    struct log_ctx log;

    pthread_mutex_t lock; /* guards pid, stopping, exits */
    pthread_cond_t cv;    /* signalled when pid or stopping change */
    pid_t pid;            /* the master, 0 while none runs */
    pid_t adopt_pid;      /* a master an earlier slipway left running, for supervise() */
    uint64_t adopt_start; /* its start time (/proc/<pid>/stat), to tell a reused pid */
    bool stopping;
    uint64_t exits; /* unexpected exits of the master */
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t apply_lock; /* one switch at a time; guards gen */
    uint64_t gen;
};

/* ---------------------------------------------------------------- processes */

/* Spawns nginx with <args> (after argv[0]) in its own process group (proc_spawn()), stdin
 * from /dev/null and stdout/stderr on <fd>. */
static int spawn(struct ingress *ig, const char *const *args, int fd, pid_t *pid, struct err *err)
{
    static const char *const env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    const char *argv[12] = {ig->nginx};
    size_t n = 1;

    while (*args && n < ARRAY_LEN(argv) - 1)
        argv[n++] = *args++;
    argv[n] = NULL;
    return proc_spawn(&(struct proc_spec){ig->nginx, argv, env, {-1, fd, fd}}, pid, err);
}

/* The last non-empty line of the file <path> (at most <cap> - 1 bytes), or "". */
static void last_line(const char *path, char *out, size_t cap)
{
    char buf[4096];
    ssize_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    out[0] = '\0';
    if (fd < 0)
        return;
    off_t size = lseek(fd, 0, SEEK_END);
    if (size > 0 &&
        lseek(fd, size > (off_t)sizeof(buf) ? size - (off_t)sizeof(buf) : 0, SEEK_SET) >= 0)
        got = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == '\r'))
        got--;
    if (got <= 0)
        return;
    buf[got] = '\0';
    const char *nl = strrchr(buf, '\n');
    snprintf(out, cap, "%.*s", (int)(cap - 1), nl ? nl + 1 : buf); /* the line's start */
}

/* Runs `nginx -t -c <conf>`: 0 when nginx takes it, ERR_INVALID quoting nginx otherwise. */
static int nginx_test(struct ingress *ig, const char *conf, struct err *err)
{
    const char *args[] = {"-t", "-q", "-c", conf, "-p", ig->p.run_dir, "-e", ig->log_path, NULL};
    char out[PATH_BYTES + 16], line[160];
    pid_t pid;
    int fd, st = 0, rc;

    snprintf(out, sizeof(out), "%s.test", ig->out_path);
    fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(err, err_from_errno(errno), "%s: %s", out, strerror(errno));
    rc = spawn(ig, args, fd, &pid, err);
    close(fd);
    if (rc < 0)
        return rc;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    last_line(out, line, sizeof(line));
    return err_set(err, ERR_INVALID, "nginx -t refused the configuration: %s", line);
}

/* Asks the status socket which generation answers: 0 when none does. */
static uint64_t served_generation(struct ingress *ig)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct timeval tv = {.tv_sec = 1};
    static const char req[] = "GET /generation HTTP/1.0\r\nHost: status\r\n\r\n";
    char buf[1024];
    size_t got = 0;
    uint64_t gen = 0;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return 0;
    if (strlen(ig->sock_path) >= sizeof(sa.sun_path)) { /* refused by ingress_new() */
        close(fd);
        return 0;
    }
    memcpy(sa.sun_path, ig->sock_path, strlen(ig->sock_path) + 1);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        write(fd, req, sizeof(req) - 1) == (ssize_t)sizeof(req) - 1) {
        ssize_t n;
        while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
            got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    const char *body = strstr(buf, "\r\n\r\n");
    if (strncmp(buf, "HTTP/1.1 200", 12) != 0 || body == NULL ||
        slice_to_u64(slice_from_cstr(body + 4), &gen) < 0)
        return 0;
    return gen;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static uint64_t exits_now(struct ingress *ig)
{
    uint64_t n;

    pthread_mutex_lock(&ig->lock);
    n = ig->exits;
    pthread_mutex_unlock(&ig->lock);
    return n;
}

/* Waits until generation <gen> answers, up to <ms>; with <first_start>, gives up as soon as
 * the master exits (a port in use, a bad setting). ERR_UNAVAILABLE quoting the error log. */
static int wait_generation(struct ingress *ig, uint64_t gen, unsigned ms, bool first_start,
                           struct err *err)
{
    uint64_t deadline = time_mono_ms() + ms;
    char line[160];

    do {
        if (served_generation(ig) == gen)
            return 0;
        if (first_start && exits_now(ig) > 0)
            break;
        sleep_ms(10);
    } while (time_mono_ms() < deadline);
    last_line(ig->log_path, line, sizeof(line));
    return err_set(err, ERR_UNAVAILABLE,
                   "nginx did not serve configuration %" PRIu64 " within %u ms: %s", gen, ms,
                   line[0] ? line : "(its error log is empty)");
}

/* ---------------------------------------------------------------- reloads */

#define MAX_OLD_WORKERS 16

/* Reads /proc/<pid>/<what> (at most <cap> - 1 bytes) into <buf>, NUL-terminated: its length,
 * or -1 when the process (or the file) is gone. */
static ssize_t read_proc(pid_t pid, const char *what, char *buf, size_t cap)
{
    char path[96];
    ssize_t got;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return -1;
    got = read(fd, buf, cap - 1);
    close(fd);
    buf[got > 0 ? got : 0] = '\0';
    return got;
}

/* The children of <master> now (its workers), at most <cap>. */
static size_t workers_of(pid_t master, pid_t *out, size_t cap)
{
    char what[48], buf[1024];
    size_t n = 0;

    snprintf(what, sizeof(what), "task/%d/children", (int)master);
    if (read_proc(master, what, buf, sizeof(buf)) < 0)
        return 0;
    for (char *p = buf, *end; *p && n < cap; p = end) {
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        out[n++] = (pid_t)v;
    }
    return n;
}

/* Whether <pid> is a worker that still accepts connections: nginx retitles a worker "worker
 * process is shutting down" right before it closes its listening sockets. */
static bool still_accepting(pid_t pid)
{
    static const char title[] = "nginx: worker process";
    char buf[64];

    if (read_proc(pid, "cmdline", buf, sizeof(buf)) < (ssize_t)sizeof(title) - 1)
        return false;
    return strncmp(buf, title, sizeof(title) - 1) == 0 && buf[sizeof(title) - 1] != ' ';
}

/* After a reload the master lets the old workers accept for a moment (100 ms) before telling
 * them to quit; a caller about to stop a replica must not see them take one more request. */
static void wait_old_workers(struct ingress *ig, const pid_t *old, size_t n)
{
    uint64_t deadline = time_mono_ms() + 5000;

    for (size_t i = 0; i < n; i++)
        while (still_accepting(old[i])) {
            if (time_mono_ms() > deadline) {
                LOG_WARN(&ig->log, "ingress.old_workers_linger", LF_INT("pid", old[i]));
                return;
            }
            sleep_ms(5);
        }
}

/* ---------------------------------------------------------------- adoption */

/* Reads /proc/<pid>/stat: its process group and start time (clock ticks since boot). False
 * when it is gone or a zombie (an adopted master is not our child: its reaper may be slow). */
static bool proc_stat(pid_t pid, pid_t *pgrp, uint64_t *start)
{
    char buf[1024];
    unsigned long long st = 0;
    int grp = 0;
    char state = 0;

    if (read_proc(pid, "stat", buf, sizeof(buf)) < 0)
        return false;
    const char *p = strrchr(buf, ')'); /* the command may hold spaces and parentheses */
    if (p == NULL || sscanf(p + 1,
                            " %c %*d %d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
                            "%*d %*d %*d %*d %llu",
                            &state, &grp, &st) != 3)
        return false;
    if (pgrp != NULL)
        *pgrp = (pid_t)grp;
    if (start != NULL)
        *start = st;
    return state != 'Z' && state != 'X';
}

/* Whether /proc/<pid>/cmdline (arguments joined by spaces) starts with <prefix> and holds
 * <needle> (when not NULL). */
static bool cmdline_has(pid_t pid, const char *prefix, const char *needle)
{
    char buf[4096];
    ssize_t n = read_proc(pid, "cmdline", buf, sizeof(buf));

    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    return strncmp(buf, prefix, strlen(prefix)) == 0 && (needle == NULL || strstr(buf, needle));
}

/* The master an earlier slipway started on this run directory and left running (it was
 * killed; nginx kept serving), with its start time; 0 when there is none. */
static pid_t find_live(struct ingress *ig, uint64_t *start)
{
    char line[32];
    FILE *f = fopen(ig->pid_path, "re");
    uint64_t pid = 0;

    if (f == NULL)
        return 0;
    if (fgets(line, sizeof(line), f) == NULL ||
        slice_to_u64(slice_trim((struct slice){line, strcspn(line, "\n")}), &pid) < 0)
        pid = 0;
    fclose(f);
    if (pid == 0 || pid > INT32_MAX || !proc_stat((pid_t)pid, NULL, start))
        return 0;
    /* nginx retitles its master "nginx: master process <its command line>". */
    if (!cmdline_has((pid_t)pid, "nginx: master process", ig->main_path))
        return 0; /* the pid was reused by something else */
    return (pid_t)pid;
}

/* Kills the workers a dead adopted master left (they would keep the port). The master cannot
 * be held as a zombie as our own children are, so each one is checked to be an nginx worker
 * of its process group before it is signalled: a reused pid is never hit. */
static void kill_orphans(pid_t master)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    pid_t grp;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        uint64_t v;
        if (slice_to_u64(slice_from_cstr(e->d_name), &v) < 0 || v == 0 || v > INT32_MAX)
            continue;
        if (proc_stat((pid_t)v, &grp, NULL) && grp == master &&
            cmdline_has((pid_t)v, "nginx: ", NULL))
            kill((pid_t)v, SIGKILL);
    }
    closedir(d);
}

/* Polls the adopted master <pid> (not our child: no waitpid) until it is gone. Returns with
 * ig->lock held, ig->pid cleared, like wait_master(); its exit status is unknown. */
static void wait_adopted(struct ingress *ig, pid_t pid, uint64_t start)
{
    uint64_t now = 0;

    while (proc_stat(pid, NULL, &now) && now == start)
        sleep_ms(20);
    kill_orphans(pid);
    pthread_mutex_lock(&ig->lock);
    ig->pid = 0;
    pthread_cond_broadcast(&ig->cv);
}

/* ---------------------------------------------------------------- supervisor */

/* Waits for the master <pid> to exit. While it is a zombie its pid (and group id) cannot be
 * reused, so the workers it left behind are killed and ig->pid cleared before it is reaped:
 * nobody ever signals a recycled pid. Returns with ig->lock held. */
static int wait_master(struct ingress *ig, pid_t pid)
{
    siginfo_t si = {0};
    int st = 0;

    while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR)
        ;
    kill(-pid, SIGKILL); /* orphaned workers would keep the port */
    pthread_mutex_lock(&ig->lock);
    ig->pid = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    pthread_cond_broadcast(&ig->cv);
    return st;
}

/* Runs one master until it exits: the adopted one first, else a new child. 0 with *st (its
 * wait status, 0 for an adopted one) once it exited, or the error that kept it from starting.
 * Called and returns with ig->lock held. */
static int run_master(struct ingress *ig, pid_t *pid, int *st, struct err *err)
{
    const char *args[] = {"-c", ig->main_path, "-p", ig->p.run_dir, "-e", ig->log_path, NULL};
    int fd, rc;

    *st = 0;
    if (ig->adopt_pid > 0) {
        *pid = ig->pid = ig->adopt_pid;
        ig->adopt_pid = 0;
        pthread_mutex_unlock(&ig->lock);
        LOG_INFO(&ig->log, "ingress.nginx_adopted", LF_INT("pid", *pid));
        wait_adopted(ig, *pid, ig->adopt_start);
        return 0;
    }
    unlink(ig->sock_path); /* no master runs: a stale socket would fail its bind */
    fd = open(ig->out_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(err, ERR_IO, "%s: %s", ig->out_path, strerror(errno));
    rc = spawn(ig, args, fd, pid, err);
    close(fd);
    if (rc < 0)
        return rc;
    ig->pid = *pid;
    pthread_mutex_unlock(&ig->lock);
    LOG_INFO(&ig->log, "ingress.nginx_started", LF_INT("pid", *pid));
    *st = wait_master(ig, *pid);
    return 0;
}

static void *supervise(void *arg)
{
    struct ingress *ig = arg;
    uint64_t backoff = 100, started;
    struct err err = {0};
    pid_t pid = 0;
    int st;

    pthread_mutex_lock(&ig->lock);
    while (!ig->stopping) {
        started = time_mono_ms();
        if (run_master(ig, &pid, &st, &err) == 0) {
            if (ig->stopping)
                break;
            ig->exits++;
            LOG_WARN(&ig->log, "ingress.nginx_exited", LF_INT("pid", pid),
                     LF_INT("status", WIFEXITED(st) ? WEXITSTATUS(st) : -1),
                     LF_INT("signal", WIFSIGNALED(st) ? WTERMSIG(st) : 0),
                     LF_UINT("restart_in_ms", backoff));
        } else {
            ig->exits++;
            LOG_ERROR(&ig->log, "ingress.nginx_start_failed", LF_STR("error", err.msg));
        }
        if (time_mono_ms() - started > 10000)
            backoff = 100; /* it ran a while: this is a new failure, not a crash loop */
        uint64_t until = time_mono_ns() + backoff * 1000000u;
        while (!ig->stopping && cond_wait_until(&ig->cv, &ig->lock, until) == 0)
            ;
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
    pthread_mutex_unlock(&ig->lock);
    return NULL;
}

/* Sends <sig> to the group of the running master, if any; ig->lock held. */
static void signal_group(struct ingress *ig, int sig)
{
    if (ig->pid > 0)
        kill(-ig->pid, sig);
}

/* Waits, holding ig->lock, until no master runs or <ms> passed. */
static bool wait_gone(struct ingress *ig, uint64_t ms)
{
    uint64_t until = time_mono_ns() + ms * 1000000u;

    while (ig->pid != 0)
        if (cond_wait_until(&ig->cv, &ig->lock, until) != 0)
            break;
    return ig->pid == 0;
}

/* ---------------------------------------------------------------- files */

static int write_file(const char *path, const struct sbuf *b, struct err *err)
{
    if (b->err != 0)
        return err_set(err, b->err, "%s: the configuration is over its size limit", path);
    return file_write_atomic(path, b->buf, b->len, 0600, err);
}

/* Renders <routes> as generation ig->gen + 1, has nginx check it and puts it in place.
 * ig->apply_lock held. */
static int switch_routes(struct ingress *ig, const struct ingress_route *routes, size_t n,
                         struct err *err)
{
    struct sbuf text = SBUF_INIT(INGRESS_CONF_MAX), check = SBUF_INIT(64u << 10);
    int rc;

    rc = ingress_render_routes(&text, &ig->p, routes, n, ig->gen + 1, err);
    if (rc == 0)
        ingress_render_main(&check, &ig->p, ig->next_path);
    if (rc == 0 && ((rc = write_file(ig->next_path, &text, err)) < 0 ||
                    (rc = write_file(ig->check_path, &check, err)) < 0 ||
                    (rc = nginx_test(ig, ig->check_path, err)) < 0))
        unlink(ig->next_path);
    if (rc == 0 && rename(ig->next_path, ig->routes_path) != 0)
        rc = err_set(err, ERR_IO, "%s: %s", ig->routes_path, strerror(errno));
    if (rc == 0)
        ig->gen++;
    sbuf_release(&text);
    sbuf_release(&check);
    return rc;
}

/* Puts the routes file an earlier slipway left (the routes it last applied) in force again as
 * the next generation, checked by nginx with the current main configuration. */
static int keep_routes(struct ingress *ig, struct err *err)
{
    struct sbuf old = SBUF_INIT(INGRESS_CONF_MAX), text = SBUF_INIT(INGRESS_CONF_MAX);
    struct sbuf check = SBUF_INIT(64u << 10);
    uint64_t gen = 0;
    int rc;

    rc = file_read(ig->routes_path, &old, err);
    if (rc == 0)
        rc = ingress_render_regen(&text, &ig->p, sbuf_slice(&old), &gen, err);
    if (rc == 0)
        ingress_render_main(&check, &ig->p, ig->next_path);
    if (rc == 0 && ((rc = write_file(ig->next_path, &text, err)) < 0 ||
                    (rc = write_file(ig->check_path, &check, err)) < 0 ||
                    (rc = nginx_test(ig, ig->check_path, err)) < 0))
        unlink(ig->next_path);
    if (rc == 0 && rename(ig->next_path, ig->routes_path) != 0)
        rc = err_set(err, ERR_IO, "%s: %s", ig->routes_path, strerror(errno));
    if (rc == 0)
        ig->gen = gen;
    sbuf_release(&old);
    sbuf_release(&text);
    sbuf_release(&check);
    return rc;
}

/* ---------------------------------------------------------------- set-up */

static void set_path(char *out, const char *dir, const char *name)
{
    snprintf(out, PATH_BYTES, "%s/%s", dir, name);
}

/* Copies the strings params point to into one allocation owned by <ig>. */
static int copy_params(struct ingress *ig, const struct ingress_cfg *cfg,
                       const struct ingress_deps *deps, struct err *err)
{
    struct sbuf s = SBUF_INIT(8192);
    size_t off_bind, off_up, off_hosts;
    struct slice rest, host;

    sbuf_puts(&s, deps->run_dir);
    off_bind = s.len + 1;
    sbuf_printf(&s, "%c%s", '\0', cfg->bind);
    off_up = s.len + 1;
    sbuf_printf(&s, "%c%s", '\0', deps->api_upstream);
    off_hosts = s.len + 1;
    sbuf_printf(&s, "%c%s", '\0', cfg->api_hosts);
    if (s.err != 0) {
        sbuf_release(&s);
        return err_set(err, ERR_INVALID, "ingress: settings too long");
    }
    ig->strings = sbuf_take(&s, NULL);
    ig->p.run_dir = ig->strings;
    ig->p.bind = ig->strings + off_bind;
    ig->p.api_upstream = ig->strings + off_up;
    rest = slice_from_cstr(ig->strings + off_hosts);
    while (rest.len > 0) {
        bool more = slice_split(&rest, ',', &host);
        host = slice_trim(host);
        if (!ingress_host_valid(host) || ig->p.napi_hosts == INGRESS_MAX_HOSTS)
            return err_set(err, ERR_INVALID,
                           "ingress.api_hosts: \"" SLICE_FMT "\" is not a lower-case DNS name "
                           "(or more than %d hosts)",
                           SLICE_ARG(host), INGRESS_MAX_HOSTS);
        ((char *)host.ptr)[host.len] = '\0'; /* our copy: the ',' or a trailing space goes */
        ig->p.api_hosts[ig->p.napi_hosts++] = host.ptr;
        if (!more)
            break;
    }
    if (ig->p.napi_hosts == 0)
        return err_set(err, ERR_INVALID, "ingress.api_hosts: at least one host");
    return 0;
}

static int check_settings(const struct ingress *ig, struct err *err)
{
    unsigned char addr[16];

    if (!ingress_path_ok(ig->p.run_dir))
        return err_set(err, ERR_INVALID,
                       "ingress run directory %s: must be an absolute path of at most 200 bytes "
                       "of letters, digits and /._+@-",
                       ig->p.run_dir);
    if (inet_pton(AF_INET, ig->p.bind, addr) != 1 && inet_pton(AF_INET6, ig->p.bind, addr) != 1)
        return err_set(err, ERR_INVALID, "ingress.bind: \"%s\" is not an IP address", ig->p.bind);
    if (!ingress_upstream_valid(slice_from_cstr(ig->p.api_upstream)))
        return err_set(err, ERR_INVALID, "ingress: API upstream \"%s\" is not IPv4:port",
                       ig->p.api_upstream);
    if (!ingress_path_ok(ig->nginx) || access(ig->nginx, X_OK) != 0)
        return err_set(err, ERR_NOTFOUND,
                       "ingress.nginx: %s is not an executable (install Debian's nginx)",
                       ig->nginx);
    return 0;
}

/* Workers drop root when slipway has it; they need nothing under the data directory. */
static const char *worker_user(void)
{
    if (geteuid() != 0)
        return NULL;
    if (getpwnam("nobody") == NULL || getgrnam("nogroup") == NULL)
        return "root root";
    return "nobody nogroup";
}

static int make_dirs(struct ingress *ig, struct err *err)
{
    static const char *const subs[] = {"", "/tmp"};
    char path[PATH_BYTES];

    for (size_t i = 0; i < ARRAY_LEN(subs); i++) {
        snprintf(path, sizeof(path), "%s%s", ig->p.run_dir, subs[i]);
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return err_set(err, err_from_errno(errno), "%s: %s", path, strerror(errno));
    }
    return 0;
}

static struct ingress *ingress_alloc(const struct ingress_cfg *cfg)
{
    struct ingress *ig = xcalloc(1, sizeof(*ig));

    ig->nginx = xstrdup(cfg->nginx ? cfg->nginx : "/usr/sbin/nginx");
    ig->stop_grace_ms = cfg->stop_grace_ms;
    ig->p.port = (int)cfg->port;
    ig->p.workers = cfg->workers == 2 ? 2 : 1;
    ig->p.user = worker_user();
    ig->log = (struct log_ctx){.svc = "ingress"};
    pthread_mutex_init(&ig->lock, NULL);
    pthread_mutex_init(&ig->apply_lock, NULL);
    cond_init_mono(&ig->cv);
    return ig;
}

static void set_paths(struct ingress *ig)
{
    const char *d = ig->p.run_dir;

    set_path(ig->main_path, d, "nginx.conf");
    set_path(ig->routes_path, d, "routes.conf");
    set_path(ig->next_path, d, "routes.next.conf");
    set_path(ig->check_path, d, "nginx.check.conf");
    set_path(ig->sock_path, d, "status.sock");
    set_path(ig->pid_path, d, "nginx.pid");
    set_path(ig->log_path, d, "error.log");
    set_path(ig->out_path, d, "nginx.out");
    snprintf(ig->api_url, sizeof(ig->api_url), "http://%s:%d/", ig->p.api_hosts[0], ig->p.port);
}

/* The routes in force at the start: those the previous process applied when their file is
 * still good, else none (API hosts and the 404 page only). */
static int first_routes(struct ingress *ig, struct err *err)
{
    struct err why = {0};

    if (access(ig->routes_path, F_OK) != 0)
        return switch_routes(ig, NULL, 0, err);
    if (keep_routes(ig, &why) == 0) {
        LOG_INFO(&ig->log, "ingress.routes_kept", LF_UINT("generation", ig->gen));
        return 0;
    }
    LOG_WARN(&ig->log, "ingress.routes_dropped", LF_STR("error", why.msg));
    return switch_routes(ig, NULL, 0, err);
}

/* Files in place, the routes checked, nginx answering: the master an earlier slipway left
 * running is adopted and reloaded (it never stops listening), else a new one is started. */
static int start(struct ingress *ig, struct err *err)
{
    struct sbuf conf = SBUF_INIT(64u << 10);
    uint64_t since = 0;
    pid_t live = find_live(ig, &since);
    int rc;

    ingress_render_main(&conf, &ig->p, ig->routes_path);
    rc = write_file(ig->main_path, &conf, err);
    sbuf_release(&conf);
    if (rc < 0 || (rc = first_routes(ig, err)) < 0)
        return rc;
    if (live > 0) {
        ig->adopt_pid = live;
        ig->adopt_start = since;
        kill(live, SIGHUP); /* reads the main configuration and routes just written */
    }
    if ((rc = pthread_create(&ig->thread, NULL, supervise, ig)) != 0)
        return err_set(err, ERR_INTERNAL, "ingress: thread: %s", strerror(rc));
    ig->thread_started = true;
    /* An adopted master dying right now is replaced by a new one: wait for that too. */
    return wait_generation(ig, ig->gen, 10000, live == 0, err);
}

int ingress_new(const struct ingress_cfg *cfg, const struct ingress_deps *deps,
                struct ingress **out, struct err *err)
{
    struct ingress *ig;
    int rc;

    if (deps->run_dir == NULL || deps->api_upstream == NULL || cfg->bind == NULL ||
        cfg->api_hosts == NULL)
        return err_set(err, ERR_INVALID,
                       "ingress: run directory, API upstream, ingress.bind "
                       "and ingress.api_hosts are required");
    ig = ingress_alloc(cfg);
    rc = copy_params(ig, cfg, deps, err);
    if (rc == 0)
        rc = check_settings(ig, err);
    if (rc == 0 && strlen(ig->p.run_dir) + 16 > sizeof(((struct sockaddr_un *)0)->sun_path))
        rc = err_set(err, ERR_INVALID, "ingress run directory %s: too long for a socket path",
                     ig->p.run_dir);
    if (rc == 0) {
        set_paths(ig);
        rc = make_dirs(ig, err);
    }
    if (rc == 0)
        rc = start(ig, err);
    if (rc < 0) {
        ingress_free(ig);
        return rc;
    }
    LOG_INFO(&ig->log, "ingress.started", LF_STR("url", ig->api_url), LF_STR("bind", ig->p.bind),
             LF_INT("port", ig->p.port));
    *out = ig;
    return 0;
}

void ingress_free(struct ingress *ig)
{
    if (ig == NULL)
        return;
    pthread_mutex_lock(&ig->lock);
    ig->stopping = true;
    pthread_cond_broadcast(&ig->cv);
    if (ig->pid > 0)
        kill(ig->pid, SIGQUIT); /* graceful: open requests finish */
    if (!wait_gone(ig, (uint64_t)ig->stop_grace_ms)) {
        LOG_WARN(&ig->log, "ingress.stop_forced", LF_STR("signal", "SIGTERM"));
        signal_group(ig, SIGTERM);
        if (!wait_gone(ig, 2000))
            signal_group(ig, SIGKILL);
    }
    pthread_mutex_unlock(&ig->lock);
    if (ig->thread_started)
        pthread_join(ig->thread, NULL);
    pthread_mutex_destroy(&ig->lock);
    pthread_mutex_destroy(&ig->apply_lock);
    pthread_cond_destroy(&ig->cv);
    free(ig->strings);
    free(ig->nginx);
    free(ig);
}

int ingress_apply(struct ingress *ig, const struct ingress_route *routes, size_t n, struct err *err)
{
    pid_t old[MAX_OLD_WORKERS];
    size_t nold = 0;
    uint64_t gen;
    int rc;

    pthread_mutex_lock(&ig->apply_lock);
    rc = switch_routes(ig, routes, n, err);
    if (rc == 0) {
        pthread_mutex_lock(&ig->lock);
        if (ig->pid > 0) { /* a master being restarted reads the new file anyway */
            nold = workers_of(ig->pid, old, ARRAY_LEN(old));
            kill(ig->pid, SIGHUP);
        }
        pthread_mutex_unlock(&ig->lock);
        rc = wait_generation(ig, ig->gen, 10000, false, err);
    }
    if (rc == 0)
        wait_old_workers(ig, old, nold);
    gen = ig->gen;
    pthread_mutex_unlock(&ig->apply_lock);
    if (rc == 0)
        LOG_INFO(&ig->log, "ingress.applied", LF_UINT("routes", n), LF_UINT("generation", gen));
    return rc;
}

const char *ingress_api_url(const struct ingress *ig)
{
    return ig->api_url;
}

int ingress_nginx_pid(struct ingress *ig)
{
    int pid;

    pthread_mutex_lock(&ig->lock);
    pid = ig->pid;
    pthread_mutex_unlock(&ig->lock);
    return pid;
}

uint64_t ingress_restarts(struct ingress *ig)
{
    return exits_now(ig);
}

int ingress_stop_left(const char *run_dir, uint64_t grace_ms)
{
    struct ingress *ig = xcalloc(1, sizeof(*ig));
    uint64_t start, until = time_mono_ns() + grace_ms * 1000000u;
    pid_t pid;

    set_path(ig->main_path, run_dir, "nginx.conf");
    set_path(ig->pid_path, run_dir, "nginx.pid");
    pid = find_live(ig, &start);
    free(ig);
    if (pid == 0)
        return 0;
    kill(pid, SIGQUIT); /* graceful: open requests finish */
    while (proc_stat(pid, NULL, NULL) && time_mono_ns() < until)
        sleep_ms(20);
    kill(-pid, SIGKILL);
    kill_orphans(pid);
    return 1;
}
