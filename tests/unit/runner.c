/*
 * Unit-test runner: runs every registered TEST in its own child process with a timeout and
 * prints TAP ("ok 3 - name", "not ok 4 - name # reason"). Usage: unit-<mod> [substring]
 * SLIPWAY_TEST_TIMEOUT (seconds, default 60) bounds each test.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

struct test_case {
    const char *name;
    const char *file;
    test_fn *fn;
};

static struct test_case cases[1024];
static size_t ncases;
static char tmpdir[256];

void test_register(const char *name, const char *file, test_fn *fn)
{
    if (ncases == sizeof(cases) / sizeof(cases[0])) {
        fprintf(stderr, "too many tests\n");
        abort();
    }
    cases[ncases++] = (struct test_case){name, file, fn};
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "# %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

const char *test_tmpdir(void)
{
    return tmpdir;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int run_one(const struct test_case *tc, unsigned timeout_s, char *why, size_t whylen)
{
    int status;
    pid_t pid;

    snprintf(tmpdir, sizeof(tmpdir), "/tmp/slipway-unit-%d-%s", (int)getpid(), tc->name);
    if (mkdir(tmpdir, 0700) != 0 && errno != EEXIST) {
        snprintf(why, whylen, "cannot create the test directory");
        return -1;
    }
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        alarm(timeout_s);
        tc->fn();
        exit(0); /* exit(), not _exit(): LeakSanitizer checks at exit */
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
        snprintf(why, whylen, "timed out after %u s", timeout_s);
    else if (WIFSIGNALED(status))
        snprintf(why, whylen, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(why, whylen, "exit status %d", WEXITSTATUS(status));
    return -1;
}

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : NULL;
    const char *t = getenv("SLIPWAY_TEST_TIMEOUT");
    unsigned timeout_s = t ? (unsigned)strtoul(t, NULL, 10) : 60;
    size_t i, n = 0, failed = 0;
    char why[128];

    signal(SIGPIPE, SIG_IGN);
    for (i = 0; i < ncases; i++)
        if (!filter || strstr(cases[i].name, filter))
            n++;
    printf("1..%zu\n", n);
    n = 0;
    for (i = 0; i < ncases; i++) {
        if (filter && !strstr(cases[i].name, filter))
            continue;
        n++;
        if (run_one(&cases[i], timeout_s, why, sizeof(why)) == 0) {
            printf("ok %zu - %s\n", n, cases[i].name);
        } else {
            printf("not ok %zu - %s # %s (%s)\n", n, cases[i].name, why, cases[i].file);
            failed++;
        }
        fflush(stdout);
    }
    return failed ? 1 : 0;
}
