/* Tests of the packager's git storage (src/pkg/repo.c). */
#include "../test.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>

#include "base/base.h"
#include "pkg/pkg-int.h"

#define WS   "01890a5d-ac96-774b-bcce-b302099a8057"
#define PROJ "01890a5d-ac96-7a4b-8cce-b302099a8058"

static const struct pkg_author alice = {"Alice Example", "alice@example.com"};
static const struct pkg_author bob = {"Bob", "bob@example.org"};

/* A new repository under the test's directory, opened. */
static struct pkg_repo *repo_new(char *path, size_t n)
{
    struct pkg_repo *r = NULL;
    struct err err = {0};

    snprintf(path, n, "%s/repos/ws/p.git", test_tmpdir());
    OK(pkg_repo_init(path, &err));
    OK(pkg_repo_open(path, &r, &err));
    return r;
}

static int put1(struct pkg_repo *r, const struct pkg_author *who, const char *path,
                const char *data, const char *msg, char oid[41], struct err *err)
{
    struct pkg_change c = {PKG_PUT, path, slice_from_cstr(data)};
    struct pkg_commit_req req = {&c, 1, *who, msg, NULL, 0};

    return pkg_repo_commit(r, &req, oid, err);
}

/* The file's bytes at <rev> as a heap string ("" when missing), for CHECK_STR_EQ. */
static char *read_str(struct pkg_repo *r, const char *rev, const char *path, int *rc)
{
    struct arena *a = arena_new(NULL);
    struct slice s = {0};
    struct err err = {0};
    char *out;

    *rc = pkg_repo_read(r, rev, path, a, &s, &err);
    out = xstrndup(*rc == 0 ? s.ptr : "", *rc == 0 ? s.len : 0);
    arena_free(a);
    return out;
}

static void check_file(struct pkg_repo *r, const char *rev, const char *path, const char *want)
{
    int rc;
    char *got = read_str(r, rev, path, &rc);

    CHECK_INT_EQ(rc, 0);
    CHECK_STR_EQ(got, want);
    free(got);
}

static void check_absent(struct pkg_repo *r, const char *rev, const char *path)
{
    int rc;
    char *got = read_str(r, rev, path, &rc);

    CHECK_INT_EQ(rc, ERR_NOTFOUND);
    free(got);
}

TEST(repo_path_takes_only_slipway_ids)
{
    struct sbuf out = SBUF_INIT(4096);
    struct err err = {0};
    static const char *const bad[] = {
        "",
        "..",
        "../" PROJ,
        "01890a5d-ac96-774b-bcce-b302099a80/.",
        "01890a5d-ac96-774b-bcce-b302099a805/",
        "01890A5D-AC96-774B-BCCE-B302099A8057", /* upper case */
        "01890a5d.ac96.774b.bcce.b302099a8057",
        "-project",
        "project-",
        "a/b",
        "a b",
        ".git",
        "x1234567890123456789012345678901234567890123456789012345678901234", /* 64 */
    };

    OK(pkg_repo_path("/data", SLICE(WS), SLICE(PROJ), &out, &err));
    CHECK_STR_EQ(out.buf, "/data/repos/" WS "/" PROJ ".git");
    OK(pkg_repo_path("/data", SLICE("acme"), SLICE("my-project"), &out, &err)); /* slugs */
    CHECK_STR_EQ(out.buf, "/data/repos/acme/my-project.git");
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CHECK_INT_EQ(pkg_repo_path("/data", SLICE(WS), slice_from_cstr(bad[i]), &out, &err),
                     ERR_INVALID);
        CHECK_CONTAINS(err.msg, "project_id");
        CHECK_INT_EQ(pkg_repo_path("/data", slice_from_cstr(bad[i]), SLICE(PROJ), &out, &err),
                     ERR_INVALID);
        CHECK_CONTAINS(err.msg, "workspace_id");
    }
    /* A NUL inside the id: a C string would stop there, the slice does not. */
    CHECK_INT_EQ(pkg_repo_path("/data", SLICE(WS),
                               (struct slice){"01890a5d-ac96-7a4b-8cce-b302099a\0/..", 36}, &out,
                               &err),
                 ERR_INVALID);
    CHECK_INT_EQ(pkg_repo_path("", SLICE(WS), SLICE(PROJ), &out, &err), ERR_INVALID);
    sbuf_release(&out);

    struct sbuf small = SBUF_INIT(20);

    CHECK_INT_EQ(pkg_repo_path("/data", SLICE(WS), SLICE(PROJ), &small, &err), ERR_LIMIT);
    sbuf_release(&small);
}

TEST(repo_init_is_idempotent_and_durable)
{
    struct sbuf path = SBUF_INIT(4096);
    struct pkg_repo *r = NULL;
    struct err err = {0};
    char oid[41];
    struct stat st;

    OK(pkg_repo_path(test_tmpdir(), SLICE(WS), SLICE(PROJ), &path, &err));
    CHECK_INT_EQ(pkg_repo_open(path.buf, &r, &err), ERR_NOTFOUND);
    OK(pkg_repo_init(path.buf, &err));
    OK(pkg_repo_open(path.buf, &r, &err));
    CHECK_INT_EQ(pkg_repo_head(r, oid, &err), ERR_NOTFOUND);
    OK(put1(r, &alice, "a.txt", "one", "first", oid, &err));
    pkg_repo_close(r);

    OK(pkg_repo_init(path.buf, &err)); /* again: keeps the commit */
    OK(pkg_repo_open(path.buf, &r, &err));
    check_file(r, NULL, "a.txt", "one");
    pkg_repo_close(r);

    CHECK(stat(path.buf, &st) == 0);
    CHECK_INT_EQ(st.st_mode & 0777, 0700);
    char ws[4200];
    snprintf(ws, sizeof(ws), "%s/repos/%s", test_tmpdir(), WS);
    CHECK(stat(ws, &st) == 0);
    CHECK_INT_EQ(st.st_mode & 0777, 0700);

    /* HEAD names main, and the config carries what the git CLI needs. */
    git_repository *git = NULL;
    git_reference *head = NULL;
    git_config *cfg = NULL;
    int32_t b = 0;
    git_buf v = {0};

    git_libgit2_init();
    CHECK_INT_EQ(git_repository_open_bare(&git, path.buf), 0);
    CHECK(git_repository_is_bare(git));
    CHECK_INT_EQ(git_reference_lookup(&head, git, "HEAD"), 0);
    CHECK_STR_EQ(git_reference_symbolic_target(head), "refs/heads/main");
    CHECK_INT_EQ(git_repository_config(&cfg, git), 0);
    CHECK_INT_EQ(git_config_get_bool(&b, cfg, "core.logAllRefUpdates"), 0);
    CHECK(b);
    CHECK_INT_EQ(git_config_get_string_buf(&v, cfg, "core.fsync"), 0);
    CHECK_STR_EQ(v.ptr, "committed");
    git_buf_dispose(&v);
    git_config_free(cfg);
    git_reference_free(head);
    git_repository_free(git);
    git_libgit2_shutdown();
    CHECK_INT_EQ(pkg_repo_init("relative/x.git", &err), ERR_INVALID);
    sbuf_release(&path);
}

struct names {
    char buf[512];
};

static bool collect(void *arg, const char *name, enum pkg_entry_kind kind)
{
    struct names *n = arg;
    size_t l = strlen(n->buf);

    snprintf(n->buf + l, sizeof(n->buf) - l, "%s%s ", name, kind == PKG_ENTRY_DIR ? "/" : "");
    return true;
}

TEST(repo_commit_put_delete_nested)
{
    char path[4096], c1[41], c2[41], head[41];
    struct pkg_repo *r = repo_new(path, sizeof(path));
    struct err err = {0};
    struct names n = {{0}};
    struct pkg_change first[] = {
        {PKG_PUT, "slipway.yaml", SLICE("id: p\n")},
        {PKG_PUT, "environments/prod/values.yaml", SLICE("replicas: 2\n")},
        {PKG_PUT, "environments/prod/manifests/x.yaml", SLICE("kind: Service\n")},
        {PKG_PUT, "environments/dev/values.yaml", SLICE("replicas: 1\n")},
        {PKG_PUT, "empty", SLICE_NULL},
    };
    struct pkg_commit_req req = {first, ARRAY_LEN(first), alice, "init", PKG_OID_NONE, 0};

    OK(pkg_repo_commit(r, &req, c1, &err));
    OK(pkg_repo_head(r, head, &err));
    CHECK_STR_EQ(head, c1);
    check_file(r, NULL, "environments/prod/manifests/x.yaml", "kind: Service\n");
    check_file(r, NULL, "empty", "");

    struct pkg_change second[] = {
        {PKG_DELETE, "environments/prod/manifests/x.yaml", SLICE_NULL},
        {PKG_PUT, "environments/prod/values.yaml", SLICE("replicas: 3\n")},
        {PKG_PUT, "base/values.yaml", SLICE("services: {}\n")},
        {PKG_DELETE, "environments/dev", SLICE_NULL}, /* a whole directory */
    };
    req = (struct pkg_commit_req){second, ARRAY_LEN(second), bob, "second\n\nbody", c1, 0};
    OK(pkg_repo_commit(r, &req, c2, &err));
    CHECK(strcmp(c1, c2) != 0);

    check_absent(r, NULL, "environments/prod/manifests/x.yaml");
    check_absent(r, "HEAD", "environments/dev/values.yaml");
    check_file(r, NULL, "environments/prod/values.yaml", "replicas: 3\n");
    check_file(r, c1, "environments/prod/values.yaml", "replicas: 2\n"); /* older commit */
    check_file(r, c1, "environments/prod/manifests/x.yaml", "kind: Service\n");
    check_file(r, "main~1", "environments/dev/values.yaml", "replicas: 1\n");
    check_absent(r, NULL, "environments"); /* a directory is not a file */
    check_absent(r, "0123456789012345678901234567890123456789", "slipway.yaml");

    OK(pkg_repo_list(r, NULL, NULL, collect, &n, &err));
    CHECK_STR_EQ(n.buf, "base/ empty environments/ slipway.yaml ");
    n.buf[0] = '\0';
    OK(pkg_repo_list(r, NULL, "environments", collect, &n, &err));
    CHECK_STR_EQ(n.buf, "prod/ ");
    n.buf[0] = '\0';
    OK(pkg_repo_list(r, c1, "environments/", collect, &n, &err)); /* the older commit */
    CHECK_STR_EQ(n.buf, "dev/ prod/ ");
    CHECK_INT_EQ(pkg_repo_list(r, NULL, "../environments", collect, &n, &err), ERR_INVALID);
    CHECK_INT_EQ(pkg_repo_list(r, NULL, "slipway.yaml", collect, &n, &err), ERR_NOTFOUND);
    CHECK_INT_EQ(pkg_repo_list(r, NULL, "nope", collect, &n, &err), ERR_NOTFOUND);
    pkg_repo_close(r);
}

struct log_rec {
    size_t n;
    char oid[16][41];
    char author[16][64];
    char msg[16][64];
};

static bool log_collect(void *arg, const struct pkg_log_entry *e)
{
    struct log_rec *l = arg;

    if (l->n == 16)
        return false;
    snprintf(l->oid[l->n], 41, "%s", e->oid);
    snprintf(l->author[l->n], 64, "%s <%s>", e->author_name, e->author_email);
    snprintf(l->msg[l->n], 64, "%s", e->message);
    CHECK(e->time > 1700000000);
    l->n++;
    return true;
}

TEST(repo_log_newest_first_with_prefix)
{
    char path[4096], o[5][41];
    struct pkg_repo *r = repo_new(path, sizeof(path));
    struct err err = {0};
    struct log_rec l = {0};

    OK(pkg_repo_log(r, NULL, 0, log_collect, &l, &err)); /* no commit yet */
    CHECK_INT_EQ(l.n, 0);
    OK(put1(r, &alice, "slipway.yaml", "a", "init", o[0], &err));
    OK(put1(r, &bob, "environments/prod/values.yaml", "1", "deploy(prod): api 1", o[1], &err));
    OK(put1(r, &alice, "environments/dev/values.yaml", "1", "deploy(dev): api 1", o[2], &err));
    OK(put1(r, &alice, "environments/prod/manifests/d.yaml", "x", "config(prod): x", o[3], &err));
    OK(put1(r, &bob, "environments/prodx/values.yaml", "1", "env(create): prodx", o[4], &err));

    OK(pkg_repo_log(r, NULL, 0, log_collect, &l, &err));
    CHECK_INT_EQ(l.n, 5);
    for (int i = 0; i < 5; i++)
        CHECK_STR_EQ(l.oid[i], o[4 - i]);
    CHECK_STR_EQ(l.author[0], "Bob <bob@example.org>");
    CHECK_STR_EQ(l.author[1], "Alice Example <alice@example.com>");
    CHECK_STR_EQ(l.msg[3], "deploy(prod): api 1");

    memset(&l, 0, sizeof(l));
    OK(pkg_repo_log(r, "environments/prod", 0, log_collect, &l, &err));
    CHECK_INT_EQ(l.n, 2); /* not prodx, not dev */
    CHECK_STR_EQ(l.oid[0], o[3]);
    CHECK_STR_EQ(l.msg[0], "config(prod): x");
    CHECK_STR_EQ(l.oid[1], o[1]);
    CHECK_STR_EQ(l.author[1], "Bob <bob@example.org>");

    memset(&l, 0, sizeof(l));
    OK(pkg_repo_log(r, "environments/prod/", 1, log_collect, &l, &err));
    CHECK_INT_EQ(l.n, 1);
    CHECK_STR_EQ(l.oid[0], o[3]);

    memset(&l, 0, sizeof(l));
    OK(pkg_repo_log(r, "slipway.yaml", 0, log_collect, &l, &err)); /* a file; root commit */
    CHECK_INT_EQ(l.n, 1);
    CHECK_STR_EQ(l.oid[0], o[0]);

    /* With a commit-graph the answers are the same. */
    OK(pkg_repo_graph_write(r, &err));
    memset(&l, 0, sizeof(l));
    OK(pkg_repo_log(r, "environments", 3, log_collect, &l, &err));
    CHECK_INT_EQ(l.n, 3);
    CHECK_STR_EQ(l.oid[2], o[2]);
    CHECK_INT_EQ(pkg_repo_log(r, "../x", 0, log_collect, &l, &err), ERR_INVALID);
    pkg_repo_close(r);

    char graph[4200];
    struct stat st;
    snprintf(graph, sizeof(graph), "%s/objects/info/commit-graph", path);
    CHECK(stat(graph, &st) == 0);
}

TEST(repo_commit_compare_and_swap)
{
    char path[4096], c1[41], c2[41], c3[41];
    struct pkg_repo *r = repo_new(path, sizeof(path));
    struct err err = {0};
    struct pkg_change c = {PKG_PUT, "f", SLICE("1")};
    struct pkg_commit_req req = {&c, 1, alice, "m", PKG_OID_NONE, 0};

    OK(pkg_repo_commit(r, &req, c1, &err));
    CHECK_INT_EQ(pkg_repo_commit(r, &req, c2, &err), ERR_CONFLICT); /* main exists now */
    c.data = SLICE("2");
    req.expected_head = c1;
    OK(pkg_repo_commit(r, &req, c2, &err));
    c.data = SLICE("3");
    CHECK_INT_EQ(pkg_repo_commit(r, &req, c3, &err), ERR_CONFLICT); /* stale expectation */
    CHECK_CONTAINS(err.msg, "refs/heads/main");
    check_file(r, NULL, "f", "2");

    /* Nothing changed: refused unless asked for. */
    c.data = SLICE("2");
    req.expected_head = c2;
    CHECK_INT_EQ(pkg_repo_commit(r, &req, c3, &err), ERR_CONFLICT);
    CHECK_CONTAINS(err.msg, "nothing to commit");
    req.flags = PKG_COMMIT_ALLOW_EMPTY;
    OK(pkg_repo_commit(r, &req, c3, &err));
    req.nchanges = 0;
    req.expected_head = c3;
    OK(pkg_repo_commit(r, &req, c1, &err));

    req.expected_head = "ABCDEF0123456789012345678901234567890123";
    CHECK_INT_EQ(pkg_repo_commit(r, &req, c3, &err), ERR_INVALID);
    req.expected_head = "abc";
    CHECK_INT_EQ(pkg_repo_commit(r, &req, c3, &err), ERR_INVALID);

    /* Two handles on one repository: the second builds on a head that moves under it. */
    struct pkg_repo *r2 = NULL;
    char h[41];

    OK(pkg_repo_open(path, &r2, &err));
    OK(pkg_repo_head(r2, h, &err));
    OK(put1(r, &alice, "g", "x", "from r", c2, &err));
    req = (struct pkg_commit_req){&c, 1, bob, "from r2", h, 0};
    CHECK_INT_EQ(pkg_repo_commit(r2, &req, c3, &err), ERR_CONFLICT);
    pkg_repo_close(r2);
    pkg_repo_close(r);
}

TEST(repo_commit_rejects_bad_input)
{
    char path[4096], oid[41];
    struct pkg_repo *r = repo_new(path, sizeof(path));
    struct err err = {0};
    static const char *const bad[] = {
        "",
        "/etc/passwd",
        "a//b",
        "a/",
        "../x",
        "a/../../x",
        "./a",
        "a/.",
        ".git/config",
        "x/.GIT/y",
        ".Git",
        "a\\b",
        "a\nb",
        "a\tb",
        "..",
        ".",
        "environments//prod/x",
    };

    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CHECK_INT_EQ(put1(r, &alice, bad[i], "x", "m", oid, &err), ERR_INVALID);
        CHECK_CONTAINS(err.msg, "changes[0]");
    }
    char longp[1100];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    CHECK_INT_EQ(put1(r, &alice, longp, "x", "m", oid, &err), ERR_INVALID);
    CHECK_INT_EQ(put1(r, &(struct pkg_author){"Eve <x>", "e@x"}, "f", "x", "m", oid, &err),
                 ERR_INVALID);
    CHECK_CONTAINS(err.msg, "author.name");
    CHECK_INT_EQ(put1(r, &(struct pkg_author){"Eve", ""}, "f", "x", "m", oid, &err), ERR_INVALID);
    CHECK_INT_EQ(put1(r, &alice, "f", "x", "", oid, &err), ERR_INVALID);
    CHECK_INT_EQ(pkg_repo_head(r, oid, &err), ERR_NOTFOUND); /* nothing got through */

    /* A file cannot become a directory, nor a directory a file. */
    OK(put1(r, &alice, "a/b", "x", "m", oid, &err));
    CHECK_INT_EQ(put1(r, &alice, "a/b/c", "x", "m", oid, &err), ERR_INVALID);
    CHECK_INT_EQ(put1(r, &alice, "a", "x", "m", oid, &err), ERR_INVALID);
    check_file(r, NULL, "a/b", "x");

    struct pkg_change del = {PKG_DELETE, "missing", SLICE_NULL};
    struct pkg_commit_req req = {&del, 1, alice, "m", NULL, 0};

    CHECK_INT_EQ(pkg_repo_commit(r, &req, oid, &err), ERR_NOTFOUND);

    struct arena *a = arena_new(NULL);
    struct slice s;

    CHECK_INT_EQ(pkg_repo_read(r, NULL, "../a/b", a, &s, &err), ERR_INVALID);
    CHECK_INT_EQ(pkg_repo_read(r, "", "a/b", a, &s, &err), ERR_INVALID);
    CHECK_INT_EQ(pkg_repo_read(r, "no-such-branch", "a/b", a, &s, &err), ERR_NOTFOUND);
    arena_free(a);
    a = arena_new(&(struct arena_opts){.budget = 64});
    OK(put1(r, &alice, "big",
            "0123456789012345678901234567890123456789"
            "0123456789012345678901234567890123456789",
            "m", oid, &err));
    CHECK_INT_EQ(pkg_repo_read(r, NULL, "big", a, &s, &err), ERR_LIMIT);
    arena_free(a);
    pkg_repo_close(r);
}

/* A writer killed while libgit2 held refs/heads/main.lock leaves the file behind; the next
 * writer (holding slipway.lock) removes it instead of failing for ever. */
TEST(repo_commit_clears_a_dead_writers_lock)
{
    char path[4096], lock[4200], oid[41];
    struct pkg_repo *r = repo_new(path, sizeof(path));
    struct err err = {0};
    int fd;

    OK(put1(r, &alice, "f", "1", "m", oid, &err));
    snprintf(lock, sizeof(lock), "%s/refs/heads/main.lock", path);
    fd = open(lock, O_WRONLY | O_CREAT | O_EXCL, 0644);
    CHECK(fd >= 0);
    close(fd);
    OK(put1(r, &alice, "f", "2", "m", oid, &err));
    check_file(r, NULL, "f", "2");
    CHECK(access(lock, F_OK) != 0);
    pkg_repo_close(r);
}

/* ---------------------------------------------------------------- concurrent writers */

struct writer {
    const char *path;
    int id;
    int conflicts;
    int failed;
};

static void *writer_run(void *arg)
{
    struct writer *w = arg;
    struct pkg_repo *r = NULL;
    struct err err = {0};

    if (pkg_repo_open(w->path, &r, &err) != 0) {
        w->failed = 1;
        return NULL;
    }
    for (int j = 0; j < 25; j++) {
        char file[64], data[64], msg[64], oid[41];
        int rc;

        snprintf(file, sizeof(file), "w%d/c%02d", w->id, j);
        snprintf(data, sizeof(data), "%d.%d", w->id, j);
        snprintf(msg, sizeof(msg), "writer %d commit %d", w->id, j);
        while ((rc = put1(r, &alice, file, data, msg, oid, &err)) == ERR_CONFLICT)
            w->conflicts++;
        if (rc != 0) {
            fprintf(stderr, "# writer %d: %s\n", w->id, err.msg);
            w->failed = 1;
            break;
        }
    }
    pkg_repo_close(r);
    return NULL;
}

static bool count_entry(void *arg, const struct pkg_log_entry *e)
{
    (void)e;
    ++*(size_t *)arg;
    return true;
}

TEST(repo_eight_writers_make_200_commits)
{
    char path[4096];
    struct pkg_repo *r = repo_new(path, sizeof(path));
    struct writer w[8];
    pthread_t t[8];
    struct err err = {0};
    size_t n = 0;
    int conflicts = 0;

    for (int i = 0; i < 8; i++) {
        w[i] = (struct writer){path, i, 0, 0};
        CHECK_INT_EQ(pthread_create(&t[i], NULL, writer_run, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        CHECK_INT_EQ(w[i].failed, 0);
        conflicts += w[i].conflicts;
    }
    OK(pkg_repo_log(r, NULL, 0, count_entry, &n, &err));
    CHECK_UINT_EQ(n, 200);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 25; j++) {
            char file[64], data[64];

            snprintf(file, sizeof(file), "w%d/c%02d", i, j);
            snprintf(data, sizeof(data), "%d.%d", i, j);
            check_file(r, NULL, file, data);
        }
    fprintf(stderr, "# 200 commits by 8 writers, %d conflicts retried\n", conflicts);
    pkg_repo_close(r);
}

/* ---------------------------------------------------------------- kill -9 */

/* The kill tool sits next to the test binary ($(B)/tests/pkg-repo-kill); scripts/test says
 * where the build is in SLIPWAY_BUILD. */
static void kill_tool_path(char *out, size_t n)
{
    const char *b = getenv("SLIPWAY_BUILD");
    char self[2048];
    ssize_t len;

    if (b != NULL) {
        snprintf(out, n, "%s/tests/pkg-repo-kill", b);
        if (access(out, X_OK) == 0)
            return;
    }
    len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    CHECK(len > 0);
    self[len] = '\0';
    *strrchr(self, '/') = '\0';
    snprintf(out, n, "%s/pkg-repo-kill", self);
    if (access(out, X_OK) != 0)
        test_fail(__FILE__, __LINE__, "%s is missing: build it with `make B=... tools`", out);
}

/* Runs the tool for about <ms>, kills it with SIGKILL and returns the last oid it printed in
 * <last> (unchanged when it printed none). Returns the number of oids it printed. */
static int run_and_kill(const char *tool, const char *repo, int ms, char last[41])
{
    char buf[8192];
    size_t have = 0;
    int fds[2], status, lines = 0;
    uint64_t deadline = time_mono_ms() + (uint64_t)ms;
    bool killed = false;
    pid_t pid;

    CHECK(pipe(fds) == 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(tool, tool, "loop", repo, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    for (;;) {
        struct pollfd p = {fds[0], POLLIN, 0};
        uint64_t now = time_mono_ms();
        ssize_t got;

        if (!killed && now >= deadline) {
            kill(pid, SIGKILL);
            killed = true;
        }
        if (poll(&p, 1, killed ? 1000 : (int)(deadline - now)) <= 0)
            continue;
        got = read(fds[0], buf + have, sizeof(buf) - 1 - have);
        if (got <= 0)
            break; /* EOF: the tool is gone and all it wrote has been read */
        have += (size_t)got;
        buf[have] = '\0';
        char *nl;
        while ((nl = strchr(buf, '\n')) != NULL) { /* only whole lines are acknowledgements */
            *nl = '\0';
            CHECK_INT_EQ(strlen(buf), 40);
            memcpy(last, buf, 41);
            lines++;
            have -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, have + 1);
        }
    }
    close(fds[0]);
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    return lines;
}

static int read_tree_cb(const char *root, const git_tree_entry *e, void *payload)
{
    git_repository *git = payload;
    git_object *o = NULL;

    (void)root;
    CHECK_INT_EQ(git_object_lookup(&o, git, git_tree_entry_id(e), GIT_OBJECT_ANY), 0);
    if (git_object_type(o) == GIT_OBJECT_BLOB)
        (void)git_blob_rawsize((git_blob *)o);
    git_object_free(o);
    return 0;
}

/* Every commit from HEAD down, and every tree and blob of each, reads. Returns the count. */
static size_t walk_everything(git_repository *git)
{
    git_revwalk *walk = NULL;
    git_oid id;
    size_t n = 0;

    CHECK_INT_EQ(git_revwalk_new(&walk, git), 0);
    CHECK_INT_EQ(git_revwalk_push_ref(walk, "refs/heads/main"), 0);
    while (git_revwalk_next(&id, walk) == 0) {
        git_commit *c = NULL;
        git_tree *t = NULL;

        CHECK_INT_EQ(git_commit_lookup(&c, git, &id), 0);
        CHECK_INT_EQ(git_commit_tree(&t, c), 0);
        CHECK_INT_EQ(git_tree_walk(t, GIT_TREEWALK_PRE, read_tree_cb, git), 0);
        git_tree_free(t);
        git_commit_free(c);
        n++;
    }
    git_revwalk_free(walk);
    return n;
}

TEST(repo_survives_kill_9)
{
    char tool[4096], path[4096], acked[30][41], head[41], cmd[8400];
    struct pkg_repo *r = NULL;
    struct err err = {0};
    unsigned seed = (unsigned)time(NULL);
    int printed = 0;

    kill_tool_path(tool, sizeof(tool));
    snprintf(path, sizeof(path), "%s/repos/ws/kill.git", test_tmpdir());
    fprintf(stderr, "# seed %u\n", seed);
    memset(acked, 0, sizeof(acked));
    for (int i = 0; i < 30; i++) {
        char last[41] = "";

        printed += run_and_kill(tool, path, 40 + (int)(rand_r(&seed) % 200), last);
        memcpy(acked[i], last, 41);
    }
    CHECK(printed > 0);

    git_repository *git = NULL;
    git_oid h;

    OK(pkg_repo_open(path, &r, &err));
    OK(pkg_repo_head(r, head, &err));
    git_libgit2_init();
    CHECK_INT_EQ(git_repository_open_bare(&git, path), 0);
    CHECK_INT_EQ(git_oid_fromstr(&h, head), 0);
    size_t commits = walk_everything(git);
    for (int i = 0; i < 30; i++) {
        git_oid a;

        if (acked[i][0] == '\0')
            continue;
        CHECK_INT_EQ(git_oid_fromstr(&a, acked[i]), 0);
        if (!git_oid_equal(&a, &h) && git_graph_descendant_of(git, &h, &a) != 1)
            test_fail(__FILE__, __LINE__, "acknowledged commit %s (kill %d) is lost", acked[i], i);
    }
    /* The history is linear and each commit adds one to the counter: nothing was skipped. */
    int rc;
    char *counter = read_str(r, NULL, "counter", &rc);
    CHECK_INT_EQ(rc, 0);
    CHECK_UINT_EQ(strtoul(counter, NULL, 10), commits);
    free(counter);
    fprintf(stderr, "# 30 kills, %d acknowledged commits, %zu in the history\n", printed, commits);
    git_repository_free(git);
    git_libgit2_shutdown();
    pkg_repo_close(r);

    if (access("/usr/bin/git", X_OK) == 0) {
        snprintf(cmd, sizeof(cmd),
                 "/usr/bin/git --git-dir='%s' fsck --strict --no-progress "
                 ">/dev/null 2>&1",
                 path);
        CHECK_INT_EQ(system(cmd), 0);
    }
}
