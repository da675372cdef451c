/* The push mirror (src/pkg/mirror.c): pushes after commits, retries with backoff, survives a
 * restart with a push owed, keeps the URL's password sealed. Remotes are bare repositories
 * reached through file:// URLs. */
#include "../test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../dbtest.h"
#include "base/base.h"
#include "pkg/pkg-int.h"

#define WS   "acme"
#define PROJ "shop"

static const struct pkg_author alice = {"Alice Example", "alice@example.com"};

static struct pkg_project project(void)
{
    return (struct pkg_project){test_tmpdir(), WS, PROJ, "acme", "shop", "Shop", "example.com"};
}

static struct pkg_ops *ops_new(void)
{
    struct pkg_ops *ops = NULL;
    struct err err = {0};

    OK(pkg_ops_new(&(struct pkg_ops_cfg){NULL}, &ops, &err));
    return ops;
}

static struct store *db(enum store_kind kind)
{
    char url[4096];

    dbtest_url(kind, "mirror", url, sizeof(url));
    return dbtest_open(url, "packager", 4, 5000);
}

/* The commit main points at in the bare repository <dir>, "" when none. */
static void remote_head(const char *dir, char out[64])
{
    char cmd[4200];
    FILE *f;

    out[0] = '\0';
    snprintf(cmd, sizeof(cmd), "git --git-dir '%s' rev-parse -q --verify main 2>/dev/null", dir);
    f = popen(cmd, "r");
    CHECK(f != NULL);
    if (fgets(out, 64, f) == NULL)
        out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    pclose(f);
}

static void local_head(const struct pkg_project *p, char out[PKG_OID_HEX + 1])
{
    struct sbuf path = SBUF_INIT(4096);
    struct pkg_repo *r = NULL;
    struct err err = {0};

    OK(pkg_repo_path(p->root, slice_from_cstr(p->workspace_id), slice_from_cstr(p->project_id),
                     &path, &err));
    OK(pkg_repo_open(path.buf, &r, &err));
    OK(pkg_repo_head(r, out, &err));
    pkg_repo_close(r);
    sbuf_release(&path);
}

/* Waits up to 10 s for the remote to hold <want>. */
static bool wait_remote(const char *dir, const char *want)
{
    char got[64];

    for (int i = 0; i < 1000; i++) {
        remote_head(dir, got);
        if (strcmp(got, want) == 0)
            return true;
        usleep(10 * 1000);
    }
    return false;
}

static void mirror_case(enum store_kind kind)
{
    struct pkg_project p = project();
    struct pkg_ops *ops = ops_new();
    struct store *s = db(kind);
    struct pkg_mirror *m = NULL;
    struct pkg_mirror_state st;
    struct err err = {0};
    char remote[4096], url[4200], head[PKG_OID_HEX + 1], cmd[4300];

    snprintf(remote, sizeof(remote), "%s/remote-%d.git", test_tmpdir(), (int)kind);
    snprintf(url, sizeof(url), "file://%s", remote);
    OK(pkg_op_init(ops, &p, &alice, NULL, &err));
    OK(pkg_mirror_open(s, p.root, &(struct pkg_mirror_opts){.base_ms = 20, .max_ms = 200}, &m,
                       &err));
    pkg_mirror_start(m);

    /* The remote does not exist yet: the push fails and is retried with backoff. */
    OK(pkg_mirror_set(m, &p, url, &err));
    for (int i = 0; i < 500; i++) {
        OK(pkg_mirror_get(m, WS, PROJ, &st, &err));
        if (st.attempts >= 2)
            break;
        usleep(10 * 1000);
    }
    CHECK(st.configured && st.pending);
    CHECK(st.attempts >= 2);
    CHECK(st.error[0] != '\0');
    CHECK_STR_EQ(st.commit, "");

    /* Once it exists, the next try succeeds. */
    snprintf(cmd, sizeof(cmd), "git init -q --bare '%s'", remote);
    CHECK_INT_EQ(system(cmd), 0);
    local_head(&p, head);
    CHECK(wait_remote(remote, head));
    for (int i = 0; i < 500; i++) {
        OK(pkg_mirror_get(m, WS, PROJ, &st, &err));
        if (!st.pending)
            break;
        usleep(10 * 1000);
    }
    CHECK(!st.pending);
    CHECK_STR_EQ(st.commit, head);
    CHECK_STR_EQ(st.error, "");
    CHECK_INT_EQ(st.attempts, 0);

    /* Every commit is pushed. */
    OK(pkg_op_env_create(ops, &p, &alice, "staging", NULL, NULL, &err));
    pkg_mirror_kick(m, &p);
    local_head(&p, head);
    CHECK(wait_remote(remote, head));

    /* A push owed when the process stops is made by the next one. */
    pkg_mirror_free(m);
    OK(pkg_op_env_create(ops, &p, &alice, "production", NULL, NULL, &err));
    OK(pkg_mirror_open(s, p.root, NULL, &m, &err));
    pkg_mirror_kick(m, &p); /* recorded while no pusher runs */
    pkg_mirror_start(m);
    local_head(&p, head);
    CHECK(wait_remote(remote, head));

    /* Removing the mirror forgets it. */
    OK(pkg_mirror_set(m, &p, NULL, &err));
    OK(pkg_mirror_get(m, WS, PROJ, &st, &err));
    CHECK(!st.configured);
    pkg_mirror_free(m);
    store_close(s);
    pkg_ops_free(ops);
}

TEST(mirror_pushes_retries_and_resumes_sqlite)
{
    mirror_case(STORE_SQLITE);
}

TEST(mirror_pushes_retries_and_resumes_postgres)
{
    if (dbtest_pg_url() != NULL) /* else there is no PostgreSQL in this run */
        mirror_case(STORE_POSTGRES);
}

TEST(mirror_url_rules_and_sealed_password)
{
    struct pkg_project p = project();
    struct pkg_ops *ops = ops_new();
    struct store *s = db(STORE_SQLITE);
    struct pkg_mirror *m = NULL;
    struct pkg_mirror_state st;
    struct err err = {0};
    struct arena *a = arena_new(NULL);
    struct store_rows *r = NULL;
    static const char *const bad[] = {"ftp://x/y.git", "git@host:x.git", "https://a b/c",
                                      "/plain/path", ""};

    OK(pkg_op_init(ops, &p, &alice, NULL, &err));
    OK(pkg_mirror_open(s, p.root, NULL, &m, &err)); /* no pusher: nothing is pushed */
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CHECK_INT_EQ(pkg_mirror_set(m, &p, bad[i], &err), ERR_INVALID);
        CHECK_CONTAINS(err.msg, "url");
    }
    OK(pkg_mirror_set(m, &p, "https://bot:s3cr3t-t0ken@git.example.com/acme/shop.git", &err));
    OK(pkg_mirror_get(m, WS, PROJ, &st, &err));
    CHECK(strstr(st.url, "s3cr3t") == NULL);
    CHECK_CONTAINS(st.url, "git.example.com/acme/shop.git");
    OK(store_read1(s, a, "SELECT url_sealed, url_shown FROM pkg_mirrors", NULL, 0, &r, &err));
    CHECK_INT_EQ(r->nrows, 1);
    CHECK(memmem(r->vals[0].s.ptr, r->vals[0].s.len, "s3cr3t", 6) == NULL);
    CHECK(memmem(r->vals[1].s.ptr, r->vals[1].s.len, "s3cr3t", 6) == NULL);
    arena_free(a);
    pkg_mirror_free(m);
    store_close(s);
    pkg_ops_free(ops);
}
