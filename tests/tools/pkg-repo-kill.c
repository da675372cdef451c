/*
 * pkg-repo-kill: the process tests/unit/pkg/test_repo.c kills with SIGKILL to prove that a
 * packager repository survives a writer dying at any moment, and the packager's storage
 * benchmark.
 *
 *   pkg-repo-kill loop <repo-path>
 *       Creates the repository if needed, then commits forever: each commit sets the file
 *       "counter" to one more than it held (and rewrites one of 16 manifests), and prints the
 *       new commit's oid on a line of its own once pkg_repo_commit() has returned: a printed
 *       oid is an acknowledged commit. Every 16th commit also rewrites the commit-graph, so
 *       kills land there too.
 *
 *   pkg-repo-kill bench <empty-dir> [commits]
 *       Builds a repository of <commits> (default 10,000) commits shaped like a project's
 *       (three environments with values and manifests, deploys rotating over them), then
 *       prints commit latency p50/p99/max, the time of a history query (newest 50 entries
 *       under one environment, and under a rarely changed path) without and with a
 *       commit-graph, and the time to write the commit-graph.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/base.h"
#include "pkg/pkg-int.h"

static const struct pkg_author tool_author = {"Kill Tool", "kill@example.com"};

static int fail(const char *what, const struct err *err)
{
    fprintf(stderr, "pkg-repo-kill: %s: %s\n", what, err->msg);
    return 1;
}

/* The counter at HEAD, 0 before the first commit. */
static int counter_read(struct pkg_repo *r, unsigned long *out, struct err *err)
{
    struct arena *a = arena_new(NULL);
    struct slice s;
    int rc = pkg_repo_read(r, NULL, "counter", a, &s, err);

    *out = rc == 0 ? strtoul(s.ptr, NULL, 10) : 0;
    arena_free(a);
    return rc == ERR_NOTFOUND ? 0 : rc;
}

static int loop(const char *path)
{
    struct pkg_repo *r = NULL;
    struct err err = {0};

    if (pkg_repo_init(path, &err) != 0)
        return fail("init", &err);
    if (pkg_repo_open(path, &r, &err) != 0)
        return fail("open", &err);
    for (;;) {
        char num[32], manifest[64], msg[64], oid[41];
        unsigned long n;
        int rc;

        if (counter_read(r, &n, &err) != 0)
            return fail("read counter", &err);
        snprintf(num, sizeof(num), "%lu\n", n + 1);
        snprintf(manifest, sizeof(manifest), "environments/e%lu/manifests/m.yaml", n % 16);
        snprintf(msg, sizeof(msg), "count %lu", n + 1);
        struct pkg_change ch[] = {
            {PKG_PUT, "counter", slice_from_cstr(num)},
            {PKG_PUT, manifest, slice_from_cstr(num)},
        };
        struct pkg_commit_req req = {ch, ARRAY_LEN(ch), tool_author, msg, NULL, 0};

        rc = pkg_repo_commit(r, &req, oid, &err);
        if (rc != 0)
            return fail("commit", &err);
        printf("%s\n", oid);
        fflush(stdout);
        if ((n + 1) % 16 == 0 && pkg_repo_graph_write(r, &err) != 0)
            return fail("commit-graph", &err);
    }
}

/* ---------------------------------------------------------------- bench */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static bool count_cb(void *arg, const struct pkg_log_entry *e)
{
    (void)e;
    ++*(size_t *)arg;
    return true;
}

/* Times the history query on a freshly opened handle (cold: nothing in libgit2's caches but
 * the kernel's page cache), then 5 times more on the same handle (warm). */
static int time_log(const char *path, const char *prefix, const char *label)
{
    uint64_t cold = 0, best = UINT64_MAX, worst = 0;
    struct pkg_repo *r = NULL;
    struct err err = {0};
    size_t n = 0;

    for (int i = 0; i < 6; i++) {
        uint64_t t0 = time_mono_ns(), dt;

        if (i == 0 && pkg_repo_open(path, &r, &err) != 0)
            return fail("open", &err);
        n = 0;
        if (pkg_repo_log(r, prefix, 50, count_cb, &n, &err) != 0) {
            pkg_repo_close(r);
            return fail("log", &err);
        }
        dt = time_mono_ns() - t0;
        if (i == 0)
            cold = dt;
        best = i > 0 && dt < best ? dt : best;
        worst = i > 0 && dt > worst ? dt : worst;
    }
    pkg_repo_close(r);
    printf("log %-26s %-13s %2zu entries  cold (open+log) %7.2f ms  warm %.2f-%.2f ms\n",
           prefix != NULL ? prefix : "(all)", label, n, (double)cold / 1e6, (double)best / 1e6,
           (double)worst / 1e6);
    return 0;
}

static const char *const envs[] = {"development", "staging", "production"};
static const char *const svcs[] = {"api", "web", "worker"};

/* One commit shaped like a deploy: values.yaml of one environment and one manifest. Every
 * 500th commit changes base/values.yaml instead (the rare path of the benchmark). */
static int bench_commit(struct pkg_repo *r, unsigned long i, uint64_t *ns, struct err *err)
{
    const char *env = envs[i % 3], *svc = svcs[(i / 3) % 3];
    char values[96], manifest[128], body[160], msg[96], oid[41];
    struct pkg_change ch[2];
    struct pkg_commit_req req = {ch, 2, tool_author, msg, NULL, 0};
    uint64_t t0;
    int rc;

    snprintf(values, sizeof(values), "environments/%s/values.yaml", env);
    snprintf(manifest, sizeof(manifest), "environments/%s/manifests/deployment-%s.yaml", env, svc);
    snprintf(body, sizeof(body), "services:\n  %s:\n    tag: \"%lu\"\n    digest: sha256:%064lu\n",
             svc, i, i);
    snprintf(msg, sizeof(msg), "deploy(%s): %s %07lx", env, svc, i);
    ch[0] = (struct pkg_change){PKG_PUT, values, slice_from_cstr(body)};
    ch[1] = (struct pkg_change){PKG_PUT, manifest, slice_from_cstr(body)};
    if (i % 500 == 0) {
        ch[0].path = "base/values.yaml";
        req.nchanges = 1;
    }
    t0 = time_mono_ns();
    rc = pkg_repo_commit(r, &req, oid, err);
    *ns = time_mono_ns() - t0;
    return rc;
}

static int bench(const char *dir, unsigned long commits)
{
    struct pkg_repo *r = NULL;
    struct err err = {0};
    struct sbuf path = SBUF_INIT(4096);
    uint64_t *lat = xcalloc(commits, sizeof(*lat)), t0;
    int rc = 1;

    sbuf_printf(&path, "%s/bench.git", dir);
    if (pkg_repo_init(path.buf, &err) != 0 || pkg_repo_open(path.buf, &r, &err) != 0) {
        rc = fail("init", &err);
        goto out;
    }
    for (unsigned long i = 0; i < commits; i++)
        if (bench_commit(r, i, &lat[i], &err) != 0) {
            rc = fail("commit", &err);
            goto out;
        }
    qsort(lat, commits, sizeof(*lat), cmp_u64);
    printf("commits %lu  p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", commits,
           (double)lat[commits / 2] / 1e6, (double)lat[commits * 99 / 100] / 1e6,
           (double)lat[commits - 1] / 1e6);
    if (time_log(path.buf, "environments/production", "no graph") != 0 ||
        time_log(path.buf, "base/values.yaml", "no graph") != 0 ||
        time_log(path.buf, NULL, "no graph") != 0)
        goto out;
    t0 = time_mono_ns();
    if (pkg_repo_graph_write(r, &err) != 0) {
        rc = fail("commit-graph", &err);
        goto out;
    }
    printf("commit-graph write %.2f ms\n", (double)(time_mono_ns() - t0) / 1e6);
    if (time_log(path.buf, "environments/production", "commit-graph") != 0 ||
        time_log(path.buf, "base/values.yaml", "commit-graph") != 0 ||
        time_log(path.buf, NULL, "commit-graph") != 0)
        goto out;
    /* Commit latency once the repository is large, and with a graph present. */
    for (unsigned long i = 0; i < 200; i++)
        if (bench_commit(r, commits + i, &lat[i], &err) != 0) {
            rc = fail("commit", &err);
            goto out;
        }
    qsort(lat, 200, sizeof(*lat), cmp_u64);
    printf("200 more commits  p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", (double)lat[100] / 1e6,
           (double)lat[198] / 1e6, (double)lat[199] / 1e6);
    rc = 0;
out:
    pkg_repo_close(r);
    sbuf_release(&path);
    free(lat);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "loop") == 0)
        return loop(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "bench") == 0)
        return bench(argv[2], argc > 3 ? strtoul(argv[3], NULL, 10) : 10000);
    fprintf(stderr, "usage: pkg-repo-kill loop <repo-path> | bench <dir> [commits]\n");
    return 2;
}
