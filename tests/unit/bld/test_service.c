/*
 * The builder service (src/bld/service.c): tokens and workspaces first (no build runs), then
 * real builds of examples/python through the service: the phases each build reaches, its log,
 * a push to Debian's docker-registry, cancelling, deleting images, and a builder killed with
 * SIGKILL in the middle of a build whose successor finishes it.
 *
 * Builds need root, runc and the base cache test_build.c uses ($SLIPWAY_TEST_BASE_CACHE, else
 * /var/cache/slipway-test/base); they are skipped without them.
 */
#include "../test.h"

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../dbtest.h"
#include "base/base.h"
#include "bld/bld-int.h"

#define ISS "http://slipway.test"
#define WS1 "0193a000-0000-7000-8000-000000000001"
#define WS2 "0193a000-0000-7000-8000-000000000002"

struct env {
    struct auth_keyring *ring;
    struct store *store;
    struct bld_svc *svc;
    char url[1024], data[1024];
};

static const char *base_cache(void)
{
    const char *d = getenv("SLIPWAY_TEST_BASE_CACHE");

    return d && *d ? d : "/var/cache/slipway-test/base";
}

static bool can_build(void)
{
    if (geteuid() != 0 || access("/usr/sbin/runc", X_OK) != 0) {
        printf("# skip: builds need root and runc\n");
        return false;
    }
    return true;
}

static void sh(const char *fmt, ...) APP_PRINTF(1, 2);
static void sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if (system(cmd) != 0)
        test_fail(__FILE__, __LINE__, "command failed: %s", cmd);
}

/* The keyring is made from a fixed file so a forked builder and its successor share it. */
static struct auth_keyring *ring_load(void)
{
    char path[1024];
    struct auth_keyring *ring = auth_keyring_new();
    struct auth_key *k = NULL;
    struct err err = {0};

    struct sbuf pem = SBUF_INIT(16 << 10);
    FILE *f;

    snprintf(path, sizeof(path), "%s/key.pem", test_tmpdir());
    if (access(path, R_OK) != 0) {
        OK(auth_key_generate(&k, &err));
        OK(auth_key_to_pem(k, &pem, &err));
        OK(file_write_atomic(path, pem.buf, pem.len, 0600, &err));
        auth_key_free(k);
    }
    sbuf_reset(&pem);
    f = fopen(path, "r");
    CHECK(f != NULL);
    for (int ch; (ch = fgetc(f)) != EOF;)
        sbuf_putc(&pem, (char)ch);
    fclose(f);
    OK(auth_key_from_pem(sbuf_slice(&pem), &k, &err));
    sbuf_release(&pem);
    OK(auth_keyring_add(ring, k, &err));
    return ring;
}

static void svc_up(struct env *e)
{
    struct err err = {0};

    OK(bld_svc_new(&(struct bld_svc_deps){.store = e->store,
                                          .keys = e->ring,
                                          .issuer = ISS,
                                          .data_dir = e->data,
                                          .base_cache = base_cache()},
                   &e->svc, &err));
}

static void env_up(struct env *e)
{
    memset(e, 0, sizeof(*e));
    e->ring = ring_load();
    snprintf(e->url, sizeof(e->url), "sqlite:%s/builder.db", test_tmpdir());
    snprintf(e->data, sizeof(e->data), "%s/data", test_tmpdir());
    e->store = dbtest_open(e->url, "builder", 4, 5000);
    svc_up(e);
}

static void env_down(struct env *e)
{
    bld_svc_free(e->svc);
    store_close(e->store);
    auth_keyring_free(e->ring);
}

/* An internal token for <ws> and <role>, issued <age> seconds ago; into <out>. */
static void token(struct env *e, const char *ws, const char *role, int64_t age, struct sbuf *out)
{
    struct auth_claims c = {.iss = ISS, .sub = "0193a000-0000-7000-8000-0000000000u1"};
    struct err err = {0};

    snprintf(c.ws, sizeof(c.ws), "%s", ws);
    snprintf(c.role, sizeof(c.role), "%s", role);
    sbuf_reset(out);
    OK(auth_internal_sign(e->ring, &c, (int64_t)time_wall_ms() / 1000 - age, out, &err));
}

/* A git repository at <tmp>/repo-<name> with examples/python and, when <build> is given, a
 * slipway.json whose build command it is. Its file:// URL into <url>. */
static void repo_make(const char *name, const char *build, char *url, size_t max)
{
    const char *tmp = test_tmpdir();

    sh("rm -rf %s/repo-%s && mkdir -p %s/repo-%s && cp -r examples/python/. %s/repo-%s/", tmp, name,
       tmp, name, tmp, name);
    if (build != NULL)
        sh("printf '{\"buildCommand\": \"%s\"}\\n' > %s/repo-%s/slipway.json", build, tmp, name);
    sh("cd %s/repo-%s && git init -q -b main && git add -A && "
       "git -c user.name=t -c user.email=t@example.com commit -qm c",
       tmp, name);
    snprintf(url, max, "file://%s/repo-%s", tmp, name);
}

static struct bld_call call_for(struct sbuf *tok, const char *url)
{
    return (struct bld_call){
        .token = sbuf_slice(tok), .project = "shop", .service = "web", .url = url, .ref = "main"};
}

/* Polls build <id> until it ends or <ms> pass, appending each state seen for the first time
 * to <seen> (at most 8); the last status in <st>. */
static void follow(struct env *e, struct bld_call *c, const char *id, uint64_t ms,
                   enum bld_state *seen, size_t *nseen, struct bld_status *st)
{
    uint64_t end = time_mono_ms() + ms;
    struct err err = {0};

    for (;;) {
        OK(bld_build_status(e->svc, c, id, st, &err));
        if (seen != NULL && (*nseen == 0 || seen[*nseen - 1] != st->state) && *nseen < 8)
            seen[(*nseen)++] = st->state;
        if (bld_state_final(st->state) || time_mono_ms() > end)
            return;
        usleep(20000);
    }
}

/* Waits until build <id> is in <want> (or has ended). */
static void wait_state(struct env *e, struct bld_call *c, const char *id, enum bld_state want,
                       struct bld_status *st)
{
    uint64_t end = time_mono_ms() + 120000;
    struct err err = {0};

    do {
        OK(bld_build_status(e->svc, c, id, st, &err));
        if (st->state == want || bld_state_final(st->state))
            return;
        usleep(20000);
    } while (time_mono_ms() < end);
}

/* The phases seen must be increasing: each one reached after the one before. */
static void check_order(const enum bld_state *seen, size_t n)
{
    for (size_t i = 1; i < n; i++)
        CHECK(seen[i] > seen[i - 1]);
}

static bool contains(const enum bld_state *seen, size_t n, enum bld_state s)
{
    for (size_t i = 0; i < n; i++)
        if (seen[i] == s)
            return true;
    return false;
}

struct lines {
    struct sbuf text;
    uint64_t first, count;
};

static bool line_keep(void *arg, uint64_t n, struct slice line)
{
    struct lines *l = arg;

    if (l->count++ == 0)
        l->first = n;
    sbuf_put_slice(&l->text, line);
    sbuf_putc(&l->text, '\n');
    return true;
}

/* Starts a build of <url> with <c>'s token, follows it to its end and checks it SUCCEEDED,
 * each phase seen after the one before, BUILDING among them. */
static void build_ok(struct env *e, struct bld_call *c, char id[37], enum bld_state *seen,
                     size_t *nseen, struct bld_status *st)
{
    struct err err = {0};

    OK(bld_start_build(e->svc, c, id, &err));
    follow(e, c, id, 300000, seen, nseen, st);
    if (st->state != BLD_SUCCEEDED)
        fprintf(stderr, "# %s: %s\n", bld_state_name(st->state), st->error);
    CHECK_INT_EQ(st->state, BLD_SUCCEEDED);
    check_order(seen, *nseen);
    CHECK(contains(seen, *nseen, BLD_BUILDING));
}

/* ---------------------------------------------------------------- calls without builds */

TEST(service_tokens_refused)
{
    struct env e;
    struct sbuf tok = SBUF_INIT(4096);
    struct bld_call c;
    struct bld_status st;
    struct err err = {0};
    char id[37];

    env_up(&e);
    c = call_for(&tok, "file:///nowhere");
    CHECK_INT_EQ(bld_start_build(e.svc, &c, id, &err), ERR_UNAUTHENTICATED);
    sbuf_puts(&tok, "not.a.token");
    c = call_for(&tok, "file:///nowhere");
    CHECK_INT_EQ(bld_start_build(e.svc, &c, id, &err), ERR_UNAUTHENTICATED);
    token(&e, WS1, "USER", 120, &tok); /* expired */
    c = call_for(&tok, "file:///nowhere");
    CHECK_INT_EQ(bld_start_build(e.svc, &c, id, &err), ERR_UNAUTHENTICATED);
    token(&e, WS1, "VIEWER", 0, &tok);
    c = call_for(&tok, "file:///nowhere");
    CHECK_INT_EQ(bld_start_build(e.svc, &c, id, &err), ERR_FORBIDDEN);
    CHECK_INT_EQ(bld_build_status(e.svc, &c, "x", &st, &err), ERR_FORBIDDEN);
    token(&e, WS1, "USER", 0, &tok);
    c = call_for(&tok, "file:///nowhere");
    c.project = "../etc";
    CHECK_INT_EQ(bld_start_build(e.svc, &c, id, &err), ERR_INVALID);
    c = call_for(&tok, "file:///nowhere");
    c.service = "Web";
    CHECK_INT_EQ(bld_start_build(e.svc, &c, id, &err), ERR_INVALID);
    sbuf_release(&tok);
    env_down(&e);
}

/* A build that fails at once (no such repository) ends FAILED with the reason; another
 * workspace sees none of it; the idempotency key finds the same build again. */
TEST(service_workspaces_isolated)
{
    struct env e;
    struct sbuf t1 = SBUF_INIT(4096), t2 = SBUF_INIT(4096);
    struct bld_call c1, c2;
    struct bld_status st;
    struct bld_delete_stats ds;
    struct err err = {0};
    char id[37], again[37], url[1024];
    uint64_t next = 0;

    env_up(&e);
    token(&e, WS1, "USER", 0, &t1);
    token(&e, WS2, "ADMIN", 0, &t2);
    snprintf(url, sizeof(url), "file://%s/no-such-repo", test_tmpdir());
    c1 = call_for(&t1, url);
    c1.key = SLICE("push-1");
    c2 = call_for(&t2, url);
    c2.key = SLICE("push-1");
    OK(bld_start_build(e.svc, &c1, id, &err));
    OK(bld_start_build(e.svc, &c1, again, &err));
    CHECK_STR_EQ(again, id);
    OK(bld_start_build(e.svc, &c2, again, &err)); /* the same key in another workspace */
    CHECK(strcmp(again, id) != 0);

    CHECK_INT_EQ(bld_build_status(e.svc, &c2, id, &st, &err), ERR_NOTFOUND);
    CHECK_INT_EQ(bld_build_logs(e.svc, &c2, id, 0, 0, line_keep, &(struct lines){0}, &next, &err),
                 ERR_NOTFOUND);
    CHECK_INT_EQ(bld_cancel_build(e.svc, &c2, id, &err), ERR_NOTFOUND);

    follow(&e, &c1, id, 300000, NULL, NULL, &st);
    CHECK_INT_EQ(st.state, BLD_FAILED);
    CHECK_CONTAINS(st.error, "no-such-repo");
    CHECK_STR_EQ(st.project, "shop");
    CHECK(st.finished_ms >= st.created_ms && st.created_ms > 0);
    CHECK_INT_EQ(bld_cancel_build(e.svc, &c1, id, &err), ERR_CONFLICT);
    follow(&e, &c2, again, 300000, NULL, NULL, &st); /* WS2's own build must end first */
    CHECK_INT_EQ(st.state, BLD_FAILED);
    /* WS2 deleting "shop" leaves WS1's cache alone */
    sh("mkdir -p %s/builder/cache/%s/shop/images/web", e.data, WS1);
    OK(bld_delete_images(e.svc, &c2, &ds, &err));
    char dir[2048];
    snprintf(dir, sizeof(dir), "%s/builder/cache/%s/shop/images/web", e.data, WS1);
    CHECK(access(dir, F_OK) == 0);
    OK(bld_delete_images(e.svc, &c1, &ds, &err));
    CHECK(access(dir, F_OK) != 0);
    CHECK_UINT_EQ(ds.dirs_removed, 1);
    sbuf_release(&t1);
    sbuf_release(&t2);
    env_down(&e);
}

/* ---------------------------------------------------------------- real builds */

/* examples/python with a 2 s build step, into a layout: CLONING, BUILDING, SUCCEEDED in order;
 * its log from the start and from the middle; then DeleteImages removes the layout. */
TEST(service_build_phases_and_logs)
{
    struct env e;
    struct sbuf tok = SBUF_INIT(4096);
    struct bld_call c;
    struct bld_status st;
    struct bld_delete_stats ds;
    struct lines all = {.text = SBUF_INIT(1 << 20)}, tail = {.text = SBUF_INIT(1 << 20)};
    enum bld_state seen[8];
    size_t nseen = 0;
    struct err err = {0};
    char id[37], url[1024], dir[2048];
    uint64_t next = 0;

    if (!can_build())
        return;
    env_up(&e);
    token(&e, WS1, "USER", 0, &tok);
    repo_make("phases", "sleep 2 && echo built-marker", url, sizeof(url));
    c = call_for(&tok, url);
    build_ok(&e, &c, id, seen, &nseen, &st);
    CHECK(contains(seen, nseen, BLD_CLONING));
    CHECK(!contains(seen, nseen, BLD_PUSHING));
    CHECK_INT_EQ(strlen(st.commit), 40);
    CHECK(strncmp(st.digest, "sha256:", 7) == 0);
    CHECK(strncmp(st.image_ref, "oci:", 4) == 0);
    CHECK(st.started_ms >= st.created_ms && st.finished_ms >= st.started_ms);

    /* the log: whole from 0 (the build ended: 0), then from the middle */
    CHECK_INT_EQ(bld_build_logs(e.svc, &c, id, 0, 1000, line_keep, &all, &next, &err), 0);
    CHECK_CONTAINS(all.text.buf, "==> cloning");
    CHECK_CONTAINS(all.text.buf, "built-marker");
    CHECK_UINT_EQ(all.first, 0);
    CHECK_UINT_EQ(next, all.count);
    CHECK(all.count > 4);
    CHECK_INT_EQ(bld_build_logs(e.svc, &c, id, all.count / 2, 0, line_keep, &tail, &next, &err), 0);
    CHECK_UINT_EQ(tail.first, all.count / 2);
    CHECK_UINT_EQ(tail.count, all.count - all.count / 2);
    CHECK(strstr(all.text.buf, tail.text.buf) != NULL);

    /* DeleteImages of the service: its layout goes, the project's other caches stay */
    snprintf(dir, sizeof(dir), "%s/builder/cache/%s/shop/images/web", e.data, WS1);
    CHECK(access(dir, F_OK) == 0);
    OK(bld_delete_images(e.svc, &c, &ds, &err));
    CHECK(access(dir, F_OK) != 0);
    c.service = NULL;
    OK(bld_delete_images(e.svc, &c, &ds, &err));
    snprintf(dir, sizeof(dir), "%s/builder/cache/%s/shop", e.data, WS1);
    CHECK(access(dir, F_OK) != 0);
    sbuf_release(&all.text);
    sbuf_release(&tail.text);
    sbuf_release(&tok);
    env_down(&e);
}

/* A cancel during BUILDING kills the step at once: CANCELLED within seconds of a 60 s step. */
TEST(service_cancel)
{
    struct env e;
    struct sbuf tok = SBUF_INIT(4096);
    struct bld_call c;
    struct bld_status st;
    struct err err = {0};
    char id[37], url[1024];
    uint64_t t;

    if (!can_build())
        return;
    env_up(&e);
    token(&e, WS1, "USER", 0, &tok);
    repo_make("cancel", "sleep 60", url, sizeof(url));
    c = call_for(&tok, url);
    OK(bld_start_build(e.svc, &c, id, &err));
    wait_state(&e, &c, id, BLD_BUILDING, &st);
    CHECK_INT_EQ(st.state, BLD_BUILDING);
    usleep(1500000); /* into the sleep */
    t = time_mono_ms();
    OK(bld_cancel_build(e.svc, &c, id, &err));
    follow(&e, &c, id, 50000, NULL, NULL, &st);
    CHECK_INT_EQ(st.state, BLD_CANCELLED);
    /* the workflow itself ends at once too: its log stops following */
    struct lines log = {.text = SBUF_INIT(1 << 20)};
    uint64_t next = 0;
    CHECK_INT_EQ(bld_build_logs(e.svc, &c, id, 0, 10000, line_keep, &log, &next, &err), 0);
    CHECK(time_mono_ms() - t < 50000); /* the build step sleeps 60 s: only a kill ends it sooner */
    CHECK_CONTAINS(st.error, "cancelled");
    sbuf_release(&log.text);
    sbuf_release(&tok);
    env_down(&e);
}

/* ---------------------------------------------------------------- a push */

static pid_t registry_start(int port)
{
    char dir[1024], cfg[1100];
    pid_t pid;

    snprintf(dir, sizeof(dir), "%s/docker-registry", test_tmpdir());
    sh("mkdir -p %s/storage", dir);
    snprintf(cfg, sizeof(cfg), "%s/config.yml", dir);
    FILE *f = fopen(cfg, "w");
    CHECK(f != NULL);
    fprintf(f,
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: "
            "%s/storage\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:%d\n  secret: t\n",
            dir, port);
    fclose(f);
    pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl("/usr/bin/docker-registry", "docker-registry", "serve", cfg, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "curl -sf http://127.0.0.1:%d/v2/ >/dev/null", port);
        if (system(cmd) == 0)
            return pid;
        usleep(100000);
    }
    kill(pid, SIGKILL);
    test_fail(__FILE__, __LINE__, "docker-registry did not start");
    return -1;
}

/* With a registry set, the build goes through PUSHING and the image is in the registry (skopeo
 * sees it); DeleteImages deletes its manifests there. */
TEST(service_push)
{
    struct env e;
    struct sbuf tok = SBUF_INIT(4096);
    struct bld_call c;
    struct bld_status st;
    struct bld_delete_stats ds;
    enum bld_state seen[8];
    size_t nseen = 0;
    struct err err = {0};
    char id[37], url[1024], host[64];
    int port = 20000 + (int)(getpid() % 20000);
    pid_t reg;

    if (!can_build() || access("/usr/bin/docker-registry", X_OK) != 0)
        return;
    reg = registry_start(port);
    env_up(&e);
    snprintf(host, sizeof(host), "127.0.0.1:%d", port);
    bld_svc_set_registry(e.svc, &(struct bld_registry){.host = host, .insecure_loopback = true});
    token(&e, WS1, "USER", 0, &tok);
    repo_make("push", "sleep 1", url, sizeof(url));
    c = call_for(&tok, url);
    build_ok(&e, &c, id, seen, &nseen, &st);
    CHECK(contains(seen, nseen, BLD_PUSHING));
    CHECK(strncmp(st.image_ref, host, strlen(host)) == 0);
    CHECK_CONTAINS(st.image_ref, "/" WS1 "/shop/web:c-");
    CHECK_CONTAINS(st.image_ref, st.digest);
    sh("skopeo inspect --tls-verify=false docker://%s/%s/shop/web:c-%.12s >/dev/null", host, WS1,
       st.commit);

    token(&e, WS1, "USER", 0, &tok);
    c = call_for(&tok, url);
    OK(bld_delete_images(e.svc, &c, &ds, &err));
    CHECK_UINT_EQ(ds.manifests_deleted, 1);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "skopeo inspect --tls-verify=false docker://%s/%s/shop/web:c-%.12s 2>/dev/null "
             ">/dev/null",
             host, WS1, st.commit);
    CHECK(system(cmd) != 0);
    sbuf_release(&tok);
    env_down(&e);
    kill(reg, SIGKILL);
    waitpid(reg, NULL, 0);
}

/* ---------------------------------------------------------------- a crash */

/* The child: a builder that starts the build, says its id on <fd>, and waits to be killed. */
static void crash_child(int fd, const char *url)
{
    struct env e;
    struct sbuf tok = SBUF_INIT(4096);
    struct bld_call c;
    struct err err = {0};
    char id[37];

    env_up(&e);
    token(&e, WS1, "USER", 0, &tok);
    c = call_for(&tok, url);
    if (bld_start_build(e.svc, &c, id, &err) < 0)
        _exit(2);
    if (write(fd, id, 36) != 36)
        _exit(3);
    for (;;)
        pause();
}

/* SIGKILL during BUILDING; the next builder on the same store and data directory carries the
 * build on by itself: it ends SUCCEEDED, and its log says it was built again. */
TEST(service_crash_resumes)
{
    struct env e;
    struct sbuf tok = SBUF_INIT(4096);
    struct bld_call c;
    struct bld_status st;
    struct lines log = {.text = SBUF_INIT(1 << 20)};
    struct err err = {0};
    char id[37] = {0}, url[1024], db[1024];
    struct store *peek;
    int fds[2], status;
    pid_t pid;
    uint64_t end, next;

    if (!can_build())
        return;
    repo_make("crash", "sleep 4", url, sizeof(url));
    auth_keyring_free(ring_load()); /* the key file, before the child reads it */
    CHECK(pipe(fds) == 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        crash_child(fds[1], url);
    }
    close(fds[1]);
    CHECK_INT_EQ(read(fds[0], id, 36), 36);
    close(fds[0]);

    /* watch the child's rows from outside until it is building, then kill it mid-step */
    snprintf(db, sizeof(db), "sqlite:%s/builder.db", test_tmpdir());
    peek = dbtest_open(db, "peek", 1, 5000);
    end = time_mono_ms() + 120000;
    for (bool building = false; !building && time_mono_ms() < end; usleep(20000)) {
        struct arena *a = arena_new(NULL);
        struct store_rows *rows = NULL;
        OK(store_read1(peek, a, "SELECT phase FROM builds WHERE id = ?",
                       (struct store_val[]){SV_CSTR(id)}, 1, &rows, &err));
        building = rows->nrows == 1 && slice_eq_cstr(store_cell(rows, 0, 0)->s, "BUILDING");
        arena_free(a);
    }
    usleep(1500000); /* into the build step */
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status));
    store_close(peek);

    env_up(&e);
    token(&e, WS1, "USER", 0, &tok);
    c = call_for(&tok, url);
    follow(&e, &c, id, 300000, NULL, NULL, &st);
    if (st.state != BLD_SUCCEEDED)
        fprintf(stderr, "# %s: %s\n", bld_state_name(st.state), st.error);
    CHECK_INT_EQ(st.state, BLD_SUCCEEDED);
    CHECK(strncmp(st.digest, "sha256:", 7) == 0);
    CHECK_INT_EQ(bld_build_logs(e.svc, &c, id, 0, 5000, line_keep, &log, &next, &err), 0);
    CHECK_CONTAINS(log.text.buf, "building again from the start");
    sbuf_release(&log.text);
    sbuf_release(&tok);
    env_down(&e);
}
