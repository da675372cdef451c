/*
 * rt relay: one small process per container that starts runc and then keeps the container's
 * output in size-bounded rotating files (docs/runtime.md, "Logs").
 *
 * Why a process of our own rather than runc writing to a file: the file must stay bounded while
 * slipway is down (nobody would rotate it), each line gets a timestamp and its stream, and the
 * exit status of the app must be known after it exits. The relay is forked from slipway and
 * runs slipway's binary again (rt_opts.relay_exe: "slipway __rt-relay …"), so that it holds a
 * few pages of its own rather than a copy of slipway's memory; without relay_exe (tests) it
 * stays a plain fork. It leaves slipway's session, and starts
 * `runc run -d` as its own child with the two pipes it reads as runc's stdout and stderr, which
 * runc hands on to the app. It is a child subreaper: when runc returns, the app's process is
 * re-parented to the relay, which can then wait for it and write its exit status to
 * logs/<id>/exit. It ends when both pipes are closed and the app is gone.
 *
 * slipway may have other threads at the fork: between fork() and _exit() the relay makes only
 * async-signal-safe calls (no malloc, no stdio, no time zone code) on memory set up before.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "rt/rt-int.h"

#define START_WAIT_MS 60000

extern char **environ;

/* Everything the relay uses, prepared before the fork. */
struct relay {
    const char *const *argv;
    char cur[RT_PATH_MAX];                       /* logs/<id>/current */
    char old[RT_LOG_FILES_MAX + 1][RT_PATH_MAX]; /* old[i]: current.i */
    char exit_path[RT_PATH_MAX], exit_tmp[RT_PATH_MAX];
    const char *pid_file;
    uint64_t max_bytes;
    unsigned files;
    int log_fd;
    uint64_t size;
    struct {
        int fd;
        size_t len;
        char buf[RT_LINE_CUT];
    } in[2];
    char out[RT_LINE_CUT + 64];
};

/* ---------------------------------------------------------------- time */

/* Days since 1970-01-01 to a civil date (H. Hinnant's algorithm). */
static void civil(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;

    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + era * 400) + (*m <= 2);
}

static void digits(char *p, unsigned v, int n)
{
    while (n-- > 0) {
        p[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

void rt_time_format(uint64_t ms, char out[24])
{
    uint64_t s = ms / 1000;
    unsigned mo, d, sod = (unsigned)(s % 86400);
    int y;

    civil((int64_t)(s / 86400), &y, &mo, &d);
    memcpy(out, "0000-00-00T00:00:00.000Z", 24);
    digits(out, (unsigned)y, 4);
    digits(out + 5, mo, 2);
    digits(out + 8, d, 2);
    digits(out + 11, sod / 3600, 2);
    digits(out + 14, sod / 60 % 60, 2);
    digits(out + 17, sod % 60, 2);
    digits(out + 20, (unsigned)(ms % 1000), 3);
}

/* ---------------------------------------------------------------- the relay process */

static void log_open(struct relay *r)
{
    struct stat st;

    r->log_fd = open(r->cur, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    r->size = r->log_fd >= 0 && fstat(r->log_fd, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static void log_rotate(struct relay *r)
{
    if (r->log_fd >= 0)
        close(r->log_fd);
    for (unsigned i = r->files; i > 1; i--)
        (void)rename(r->old[i - 1], r->old[i]);
    (void)rename(r->cur, r->old[1]);
    log_open(r);
}

static void log_line(struct relay *r, int stream, const char *p, size_t n)
{
    struct timespec ts;
    size_t len = 0;

    clock_gettime(CLOCK_REALTIME, &ts);
    rt_time_format((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000, r->out);
    len = 24;
    memcpy(r->out + len, stream == 0 ? " out " : " err ", 5);
    len += 5;
    memcpy(r->out + len, p, n);
    len += n;
    r->out[len++] = '\n';
    if (r->size > 0 && r->size + len > r->max_bytes)
        log_rotate(r);
    if (r->log_fd >= 0)
        (void)file_write_all(r->log_fd, r->out, len);
    r->size += len;
}

/* Reads what stream <i> has; every complete line (or full buffer) goes to the log. At the
 * end of the stream the last partial line goes too. */
static void pump(struct relay *r, int i)
{
    ssize_t n = read(r->in[i].fd, r->in[i].buf + r->in[i].len, sizeof(r->in[i].buf) - r->in[i].len);
    char *nl;

    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        if (r->in[i].len > 0)
            log_line(r, i, r->in[i].buf, r->in[i].len);
        r->in[i].len = 0;
        close(r->in[i].fd);
        r->in[i].fd = -1;
        return;
    }
    r->in[i].len += (size_t)n;
    while ((nl = memchr(r->in[i].buf, '\n', r->in[i].len)) != NULL) {
        size_t k = (size_t)(nl - r->in[i].buf);
        log_line(r, i, r->in[i].buf, k);
        memmove(r->in[i].buf, nl + 1, r->in[i].len - k - 1);
        r->in[i].len -= k + 1;
    }
    if (r->in[i].len == sizeof(r->in[i].buf)) {
        log_line(r, i, r->in[i].buf, r->in[i].len);
        r->in[i].len = 0;
    }
}

static int read_pid(const char *path)
{
    char buf[32];
    int fd = open(path, O_RDONLY | O_CLOEXEC), pid = 0;
    ssize_t n;

    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
        pid = pid * 10 + (buf[i] - '0');
    return pid;
}

static void exit_write(const struct relay *r, int status)
{
    char buf[16];
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), n = 0;
    int fd = open(r->exit_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    if (fd < 0)
        return;
    do
        buf[sizeof(buf) - 1 - n++] = (char)('0' + code % 10);
    while ((code /= 10) > 0);
    (void)file_write_all(fd, buf + sizeof(buf) - n, (size_t)n);
    close(fd);
    (void)rename(r->exit_tmp, r->exit_path);
}

/* Reaps whatever ended: 1 once <app> (0: not known) was among them, -1 when no child is
 * left, else 0. */
static int reap(const struct relay *r, int app, bool block)
{
    int status;
    pid_t p;

    while ((p = waitpid(-1, &status, block ? 0 : WNOHANG)) != 0) {
        if (p < 0)
            return errno == EINTR ? 0 : -1;
        if (p == app) {
            exit_write(r, status);
            return 1;
        }
    }
    return 0;
}

static void relay_loop(struct relay *r, int app)
{
    int app_done = app == 0 ? -1 : 0;

    while (r->in[0].fd >= 0 || r->in[1].fd >= 0) {
        struct pollfd p[2] = {{r->in[0].fd, POLLIN, 0}, {r->in[1].fd, POLLIN, 0}};
        if (poll(p, 2, 1000) > 0)
            for (int i = 0; i < 2; i++)
                if (p[i].revents != 0)
                    pump(r, i);
        if (app_done == 0)
            app_done = reap(r, app, false);
    }
    while (app_done == 0) /* the app closed its output but runs on */
        app_done = reap(r, app, true);
}

/* Starts runc with the pipes as its stdout and stderr; its exit status, -1 if not started. */
static int runc_run(struct relay *r, int out[2], int errp[2])
{
    int status, null = open("/dev/null", O_RDWR | O_CLOEXEC);
    pid_t pid = fork();

    if (pid == 0) {
        dup2(null, 0);
        dup2(out[1], 1);
        dup2(errp[1], 2);
        close_range(3, ~0u, 0);
        execve(r->argv[0], (char *const *)r->argv, environ);
        _exit(127);
    }
    close(null);
    close(out[1]);
    close(errp[1]);
    if (pid < 0)
        return -1;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The relay itself: <report> gets its pid and runc's status, then it relays until the end. */
APP_NORETURN static void relay_main(struct relay *r, int report)
{
    int out[2], errp[2], msg[2], app = 0;
    struct sigaction sa = {.sa_handler = SIG_IGN};
    sigset_t none;

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    sigaction(SIGPIPE, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0)
        _exit(1);
    r->in[0].fd = out[0];
    r->in[1].fd = errp[0];
    log_open(r);
    msg[0] = getpid();
    msg[1] = runc_run(r, out, errp);
    (void)file_write_all(report, (const char *)msg, sizeof(msg));
    close(report);
    if (msg[1] == 0)
        app = read_pid(r->pid_file);
    relay_loop(r, app);
    _exit(0);
}

/* ---------------------------------------------------------------- starting it */

static void relay_prepare(struct relay *r, const struct rt_relay_args *a)
{
    memset(r, 0, sizeof(*r));
    r->argv = a->runc_argv;
    r->pid_file = a->pid_file;
    r->max_bytes = a->max_bytes;
    r->files = a->files < RT_LOG_FILES_MAX ? a->files : RT_LOG_FILES_MAX;
    snprintf(r->cur, sizeof(r->cur), "%s/current", a->log_dir);
    for (unsigned i = 1; i <= r->files; i++)
        snprintf(r->old[i], sizeof(r->old[i]), "%s/current.%u", a->log_dir, i);
    snprintf(r->exit_path, sizeof(r->exit_path), "%s/exit", a->log_dir);
    snprintf(r->exit_tmp, sizeof(r->exit_tmp), "%s/.exit.tmp", a->log_dir);
    r->log_fd = -1;
    r->in[0].fd = r->in[1].fd = -1;
}

/* Reads the relay's report: its pid and runc's status. */
static int report_read(int fd, int msg[2], struct err *err)
{
    struct pollfd p = {fd, POLLIN, 0};
    size_t got = 0;

    while (got < 2 * sizeof(int)) {
        int n = poll(&p, 1, START_WAIT_MS);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return err_set(err, ERR_TIMEOUT, "runc did not return within %d s",
                           START_WAIT_MS / 1000);
        ssize_t r = read(fd, (char *)msg + got, 2 * sizeof(int) - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return err_set(err, ERR_UNAVAILABLE, "the log relay ended before runc returned");
        got += (size_t)r;
    }
    return 0;
}

/* The argument vector of `<exe> __rt-relay MAX FILES LOG_DIR PID_FILE RUNC ARGS…`, made before
 * the fork (nothing may allocate between fork and exec); free() it whole. */
static char **exec_argv(const struct rt_relay_args *a)
{
    size_t n = 0, bytes = 0, off;
    char nums[2][24], **v, *p;
    const char *head[6];

    snprintf(nums[0], sizeof(nums[0]), "%" PRIu64, a->max_bytes);
    snprintf(nums[1], sizeof(nums[1]), "%u", a->files);
    head[0] = a->exe, head[1] = "__rt-relay", head[2] = nums[0], head[3] = nums[1];
    head[4] = a->log_dir, head[5] = a->pid_file;
    while (a->runc_argv[n] != NULL)
        bytes += strlen(a->runc_argv[n++]) + 1;
    for (size_t i = 0; i < 6; i++)
        bytes += strlen(head[i]) + 1;
    v = xmalloc((n + 7) * sizeof(*v) + bytes);
    p = (char *)(v + n + 7);
    for (size_t i = 0; i < n + 6; i++) {
        const char *src = i < 6 ? head[i] : a->runc_argv[i - 6];
        off = strlen(src) + 1;
        memcpy(p, src, off);
        v[i] = p;
        p += off;
    }
    v[n + 6] = NULL;
    return v;
}

APP_NORETURN void rt_relay_exec_main(int argc, char **argv)
{
    static struct relay r; /* a few KiB: not on the stack */
    struct rt_relay_args a = {0};
    uint64_t files = 0;

    if (argc < 5 || slice_to_u64(slice_from_cstr(argv[0]), &a.max_bytes) < 0 ||
        slice_to_u64(slice_from_cstr(argv[1]), &files) < 0)
        _exit(2);
    a.files = (unsigned)files;
    a.log_dir = argv[2];
    a.pid_file = argv[3];
    a.runc_argv = (const char *const *)(argv + 4);
    relay_prepare(&r, &a);
    relay_main(&r, 3);
}

int rt_relay_start(const struct rt_relay_args *a, int *relay_pid, int *runc_status, struct err *err)
{
    struct relay *r = xmalloc(sizeof(*r));
    char **xargv = a->exe != NULL ? exec_argv(a) : NULL;
    int rep[2], msg[2] = {0, -1}, rc, status;
    pid_t mid;

    relay_prepare(r, a);
    if (pipe2(rep, O_CLOEXEC) != 0) {
        free(r);
        free(xargv);
        return err_set(err, ERR_IO, "pipe: %s", strerror(errno));
    }
    /* Forked twice, the relay is nobody's child here: init (or the nearest subreaper) reaps
     * it, and killing slipway's process group or session does not reach it. */
    mid = fork();
    if (mid == 0) {
        close(rep[0]);
        setsid();
        if (fork() == 0) {
            int null = open("/dev/null", O_RDWR);
            dup2(rep[1], 3);
            dup2(null, 0), dup2(null, 1), dup2(null, 2);
            close_range(4, ~0u, 0);
            if (xargv != NULL) {
                execve(xargv[0], xargv, environ);
                _exit(127); /* the report pipe closes: "the log relay ended" */
            }
            relay_main(r, 3);
        }
        _exit(0);
    }
    close(rep[1]);
    free(r);
    free(xargv);
    if (mid < 0) {
        close(rep[0]);
        return err_set(err, ERR_IO, "fork: %s", strerror(errno));
    }
    while (waitpid(mid, &status, 0) < 0 && errno == EINTR)
        ;
    rc = report_read(rep[0], msg, err);
    close(rep[0]);
    *relay_pid = msg[0];
    *runc_status = msg[1];
    return rc;
}
