/* proc: children in their own process group, with only the fds and the env they are given. */
#include "../test.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"

/* Runs <argv> (argv[0] a path) with <env>, stdin from /dev/null, and returns what it wrote on
 * stdout into <out>; its exit status must be 0. */
static void run_capture(const char *const *argv, const char *const *env, char *out, size_t max)
{
    struct err err = {0};
    int p[2], st = -1;
    size_t len = 0;
    ssize_t n;
    pid_t pid;

    CHECK(pipe2(p, O_CLOEXEC) == 0);
    OK(proc_spawn(&(struct proc_spec){argv[0], argv, env, {-1, p[1], -1}}, &pid, &err));
    close(p[1]);
    while (len < max - 1 && ((n = read(p[0], out + len, max - 1 - len)) > 0 || errno == EINTR))
        if (n > 0)
            len += (size_t)n;
    out[len] = '\0';
    close(p[0]);
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

TEST(proc_child_gets_only_its_env_and_fds)
{
    static const char *const argv[] = {"/bin/sh", "-c",
                                       "echo \"$GREETING ${HOME-nohome}\"; cat; "
                                       "test -e /proc/self/fd/57 && echo leaked || echo closed",
                                       NULL};
    static const char *const env[] = {"GREETING=hi", NULL};
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    char out[256];

    CHECK(fd >= 0 && dup2(fd, 57) == 57); /* the copy is not close-on-exec */
    close(fd);
    run_capture(argv, env, out, sizeof(out));
    CHECK_STR_EQ(out, "hi nohome\nclosed\n"); /* cat read /dev/null */
}

TEST(proc_child_leads_its_own_process_group)
{
    static const char *const argv[] = {"/bin/sh", "-c", "read x", NULL};
    static const char *const env[] = {NULL};
    struct err err = {0};
    int p[2], st = -1;
    pid_t pid;

    CHECK(pipe2(p, O_CLOEXEC) == 0);
    OK(proc_spawn(&(struct proc_spec){argv[0], argv, env, {p[0], -1, -1}}, &pid, &err));
    close(p[0]);
    CHECK_INT_EQ(getpgid(pid), pid);
    CHECK(getpgid(pid) != getpgid(0));
    close(p[1]); /* read sees the end */
    CHECK(waitpid(pid, &st, 0) == pid);
}

/* Signals 1 to 31 only: glibc itself ignores its two internal real-time signals in a child
 * it spawns, when this process has handlers for them. */
TEST(proc_child_blocks_and_ignores_no_signal)
{
    static const char *const argv[] = {"/bin/grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status",
                                       NULL};
    static const char *const env[] = {NULL};
    unsigned long long blocked = ~0ull, ignored = ~0ull;
    sigset_t usr1;
    char out[256];

    signal(SIGPIPE, SIG_IGN); /* as slipway does */
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    CHECK(sigprocmask(SIG_BLOCK, &usr1, NULL) == 0);
    run_capture(argv, env, out, sizeof(out));
    CHECK(sscanf(out, "SigBlk: %llx SigIgn: %llx", &blocked, &ignored) == 2);
    CHECK_UINT_EQ(blocked & 0x7fffffff, 0);
    CHECK_UINT_EQ(ignored & 0x7fffffff, 0);
}

TEST(proc_missing_program_is_an_error)
{
    static const char *const argv[] = {"nothing", NULL};
    static const char *const env[] = {NULL};
    struct err err = {0};
    pid_t pid = 0;

    CHECK_INT_EQ(proc_spawn(&(struct proc_spec){"/nonexistent/nothing", argv, env, {-1, -1, -1}},
                            &pid, &err),
                 ERR_NOTFOUND);
    CHECK_CONTAINS(err.msg, "cannot start /nonexistent/nothing");
}
