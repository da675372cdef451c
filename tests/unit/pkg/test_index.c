/* The packager's index (src/pkg/index.c) on SQLite and, with SLIPWAY_TEST_PG_URL, PostgreSQL:
 * history from rows equal to the git walk's, rebuild of a lost database, a crash between a
 * commit and its sync healed at the next start, projects seen only by their workspace, project
 * delete, platform and custom domains unique across workspaces, 50 racing claims of one name,
 * two workspaces holding the same project id kept apart, a platform domain kept in the values
 * surviving a rebuild.
 * SLIPWAY_PKG_BENCH=<commits> turns pkg_index_bench into bench/packager.sh's measurement. */
#include "../test.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../dbtest.h"
#include "base/base.h"
#include "pkg/pkg-int.h"
#include "store/store.h"

#define ISS   "http://slipway.test"
#define WS1   "acme" /* workspace and project ids are slugs */
#define WS2   "bob"
#define PROJ  "shop"
#define PROJ2 "store"
#define DIG_A "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DIG_B "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define DIG_C "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define WD    "apps.example.com"

struct env {
    enum store_kind kind;
    char url[4096], dir[4096], schemas[4096];
    struct auth_keyring *ring;
    struct store *store;
    struct pkg *pkg;
    struct sbuf tok1, tok2; /* internal tokens of WS1 and WS2 */
};
typedef void env_test_fn(struct env *e);

static void pkg_up(struct env *e)
{
    struct err err = {0};

    e->store = dbtest_open(e->url, "packager", 8, 60000);
    OK(pkg_new(&(struct pkg_deps){.data_dir = e->dir,
                                  .schema_dir = e->schemas,
                                  .keys = e->ring,
                                  .issuer = ISS,
                                  .workload_domain = WD,
                                  .store = e->store},
               &e->pkg, &err));
}

static void pkg_down(struct env *e)
{
    pkg_free(e->pkg);
    store_close(e->store);
    e->pkg = NULL;
    e->store = NULL;
}

static void token(struct env *e, const char *ws, struct sbuf *out)
{
    struct auth_claims c = {.iss = ISS, .sub = "0193a000-0000-7000-8000-0000000000u1"};
    struct err err = {0};

    snprintf(c.ws, sizeof(c.ws), "%s", ws);
    snprintf(c.role, sizeof(c.role), "USER");
    snprintf(c.name, sizeof(c.name), "Ada Lovelace");
    snprintf(c.email, sizeof(c.email), "ada@example.com");
    sbuf_reset(out);
    OK(auth_internal_sign(e->ring, &c, (int64_t)time_wall_ms() / 1000, out, &err));
}

static void run_on(enum store_kind kind, env_test_fn *fn)
{
    const char *me = __FILE__, *at = strstr(me, "tests/unit/pkg/");
    struct auth_key *k = NULL;
    struct err err = {0};
    struct env e = {.kind = kind, .tok1 = SBUF_INIT(8192), .tok2 = SBUF_INIT(8192)};

    snprintf(e.schemas, sizeof(e.schemas), "%.*sschema", at ? (int)(at - me) : 0, me);
    snprintf(e.dir, sizeof(e.dir), "%s/%s", test_tmpdir(), kind == STORE_SQLITE ? "lite" : "pg");
    CHECK(mkdir(e.dir, 0700) == 0);
    dbtest_url(kind, "pkg", e.url, sizeof(e.url));
    e.ring = auth_keyring_new();
    OK(auth_key_generate(&k, &err));
    OK(auth_keyring_add(e.ring, k, &err));
    token(&e, WS1, &e.tok1);
    token(&e, WS2, &e.tok2);
    pkg_up(&e);
    fn(&e);
    pkg_down(&e);
    auth_keyring_free(e.ring);
    sbuf_release(&e.tok1);
    sbuf_release(&e.tok2);
}

static void each_backend(env_test_fn *fn)
{
    run_on(STORE_SQLITE, fn);
    if (dbtest_pg_url() != NULL)
        run_on(STORE_POSTGRES, fn);
}

static struct pkg_call call(struct sbuf *tok, const char *proj, const char *slug)
{
    return (struct pkg_call){.token = sbuf_slice(tok),
                             .workspace_slug = "acme",
                             .project_id = proj,
                             .project_slug = slug,
                             .display_name = "Shop"};
}

/* A project with services api and worker and environments production and staging. */
static void project_up(struct env *e, struct sbuf *tok, const char *proj, const char *slug)
{
    struct pkg_call c = call(tok, proj, slug);
    json_t *svc = json_pack("{s:s, s:i}", "image", "registry.example.com/acme/api", "port", 8080);
    struct err err = {0};

    OK(pkg_project_init(e->pkg, &c, NULL, &err));
    OK(pkg_service_add(e->pkg, &c, "api", svc, NULL, &err));
    OK(pkg_service_add(e->pkg, &c, "worker", svc, NULL, &err));
    OK(pkg_env_create(e->pkg, &c, "production", NULL, NULL, &err));
    OK(pkg_env_create(e->pkg, &c, "staging", NULL, NULL, &err));
    json_decref(svc);
}

/* ---------------------------------------------------------------- history */

struct hist {
    char text[8192];
    int n, active;
};

static bool hist_add(void *arg, const struct pkg_deployment *d)
{
    struct hist *h = arg;
    size_t len = strlen(h->text);

    snprintf(h->text + len, sizeof(h->text) - len, "%d|%s|%s|%s|%s|%s|%lld|%s|%d\n", d->kind,
             d->tag, d->digest, d->commit, d->author_name, d->author_email, (long long)d->time,
             d->message, d->active);
    h->n++;
    h->active += d->active;
    return true;
}

static void history_both(struct env *e, const char *env, const char *svc, size_t limit,
                         struct hist *ix, struct hist *git)
{
    struct pkg_call c = call(&e->tok1, PROJ, "shop");
    struct pkg_project p = {e->dir, WS1, PROJ, "acme", "shop", "Shop", WD};
    struct err err = {0};

    memset(ix, 0, sizeof(*ix));
    memset(git, 0, sizeof(*git));
    OK(pkg_history(e->pkg, &c, env, svc, limit, hist_add, ix, &err));
    OK(pkg_op_history(&p, env, svc, limit, hist_add, git, &err));
}

static void history_matches(struct env *e)
{
    struct pkg_call c = call(&e->tok1, PROJ, "shop");
    struct hist ix, git;
    struct err err = {0};

    project_up(e, &e->tok1, PROJ, "shop");
    OK(pkg_deploy(e->pkg, &c, "staging", "api", "v1", DIG_A, false, NULL, &err));
    OK(pkg_deploy(e->pkg, &c, "staging", "api", "v2", DIG_B, false, NULL, &err));
    OK(pkg_deploy(e->pkg, &c, "staging", "worker", "w1", DIG_C, false, NULL, &err));
    OK(pkg_promote(e->pkg, &c, "staging", "production", "api", NULL, &err));
    OK(pkg_deploy(e->pkg, &c, "production", "api", "v3", DIG_C, false, NULL, &err));
    OK(pkg_deploy(e->pkg, &c, "production", "api", "v2", DIG_B, true, NULL, &err));
    OK(pkg_deploy(e->pkg, &c, "staging", "api", "v1", DIG_A, true, NULL, &err));

    history_both(e, "production", "api", 0, &ix, &git);
    CHECK_INT_EQ(ix.n, 3);
    CHECK_STR_EQ(ix.text, git.text);
    CHECK_INT_EQ(ix.active, 1);
    CHECK(strncmp(ix.text, "1|v2|" DIG_B, 5 + strlen(DIG_B)) == 0); /* the rollback, active */
    history_both(e, "staging", "api", 0, &ix, &git);
    CHECK_INT_EQ(ix.n, 3);
    CHECK_STR_EQ(ix.text, git.text);
    history_both(e, "staging", "api", 2, &ix, &git);
    CHECK_INT_EQ(ix.n, 2);
    CHECK_STR_EQ(ix.text, git.text);
    history_both(e, "staging", "worker", 0, &ix, &git);
    CHECK_INT_EQ(ix.n, 1);
    CHECK_STR_EQ(ix.text, git.text);
    history_both(e, "production", "worker", 0, &ix, &git);
    CHECK_INT_EQ(ix.n, 0);
    CHECK_INT_EQ(pkg_history(e->pkg, &c, "nowhere", "api", 0, hist_add, &ix, &err), ERR_NOTFOUND);
}

TEST(pkg_index_history_equals_the_git_walk)
{
    each_backend(history_matches);
}

/* ---------------------------------------------------------------- projects */

struct plist {
    char text[4096];
    int n;
};

static bool plist_add(void *arg, const struct pkg_project_info *pi)
{
    struct plist *l = arg;
    size_t len = strlen(l->text);

    snprintf(l->text + len, sizeof(l->text) - len, "%s %s %s %d;", pi->id, pi->name,
             pi->display_name, pi->created > 1600000000 && strlen(pi->head) == 40);
    l->n++;
    return true;
}

static void projects_isolated(struct env *e)
{
    struct pkg_call c1 = call(&e->tok1, PROJ, "shop"), c2 = call(&e->tok2, PROJ2, "shop");
    struct pkg_call c2_on_1 = call(&e->tok2, PROJ, "shop");
    struct plist l = {0};
    struct hist h = {0};
    struct err err = {0};
    char path[8192];

    project_up(e, &e->tok1, PROJ, "shop");
    OK(pkg_project_init(e->pkg, &c2, NULL, &err));
    OK(pkg_project_list(e->pkg, &c1, plist_add, &l, &err));
    CHECK_STR_EQ(l.text, PROJ " shop Shop 1;");
    memset(&l, 0, sizeof(l));
    OK(pkg_project_get(e->pkg, &c1, plist_add, &l, &err));
    CHECK_INT_EQ(l.n, 1);
    memset(&l, 0, sizeof(l));
    OK(pkg_project_list(e->pkg, &c2, plist_add, &l, &err));
    CHECK_STR_EQ(l.text, PROJ2 " shop Shop 1;");

    /* Another workspace's token sees nothing of the project. */
    CHECK_INT_EQ(pkg_project_get(e->pkg, &c2_on_1, plist_add, &l, &err), ERR_NOTFOUND);
    CHECK_INT_EQ(pkg_history(e->pkg, &c2_on_1, "production", "api", 0, hist_add, &h, &err),
                 ERR_NOTFOUND);
    CHECK_INT_EQ(pkg_project_delete(e->pkg, &c2_on_1, &err), ERR_NOTFOUND);

    /* Delete: the repository, the key, the rows and the domains go. */
    OK(pkg_project_delete(e->pkg, &c1, &err));
    snprintf(path, sizeof(path), "%s/repos/%s/%s.git", e->dir, WS1, PROJ);
    CHECK(access(path, F_OK) != 0);
    snprintf(path, sizeof(path), "%s/trash", e->dir);
    CHECK(rmdir(path) == 0); /* empty again */
    memset(&l, 0, sizeof(l));
    OK(pkg_project_list(e->pkg, &c1, plist_add, &l, &err));
    CHECK_INT_EQ(l.n, 0);
    CHECK_INT_EQ(pkg_project_get(e->pkg, &c1, plist_add, &l, &err), ERR_NOTFOUND);
    CHECK_INT_EQ(pkg_project_delete(e->pkg, &c1, &err), ERR_NOTFOUND);
    {
        char host[PKG_HOST_MAX + 1];

        /* its platform name is free again: the other project takes it unsuffixed */
        json_t *svc = json_pack("{s:s, s:i}", "image", "r.example.com/x", "port", 80);

        OK(pkg_service_add(e->pkg, &c2, "api", svc, NULL, &err));
        OK(pkg_env_create(e->pkg, &c2, "production", NULL, NULL, &err));
        OK(pkg_domain_generate(e->pkg, &c2, "production", "api", host, &err));
        CHECK_STR_EQ(host, "api-production-shop." WD);
        json_decref(svc);
    }
}

TEST(pkg_index_projects_are_seen_by_their_workspace_only_and_deleted_whole)
{
    each_backend(projects_isolated);
}

/* ---------------------------------------------------------------- rebuild, crash */

/* The packager stops and its database is lost: a new, empty one is used at the next start. */
static void db_lost(struct env *e)
{
    pkg_down(e);
    if (e->kind == STORE_SQLITE)
        CHECK(unlink(e->url + strlen("sqlite:")) == 0);
    dbtest_url(e->kind, "pkg", e->url, sizeof(e->url));
}

struct snapshot {
    struct plist projects;
    struct hist history;
    char domain[PKG_HOST_MAX + 1];
};

static void snap(struct env *e, struct snapshot *s)
{
    struct pkg_call c = call(&e->tok1, PROJ, "shop");
    struct err err = {0};

    memset(s, 0, sizeof(*s));
    OK(pkg_project_list(e->pkg, &c, plist_add, &s->projects, &err));
    OK(pkg_history(e->pkg, &c, "production", "api", 0, hist_add, &s->history, &err));
    OK(pkg_domain_generate(e->pkg, &c, "production", "worker", s->domain, &err));
}

static void rebuilt(struct env *e)
{
    struct pkg_call c = call(&e->tok1, PROJ, "shop"), c2 = call(&e->tok2, PROJ2, "other");
    struct snapshot before, after;
    struct err err = {0};

    project_up(e, &e->tok1, PROJ, "shop");
    OK(pkg_deploy(e->pkg, &c, "production", "api", "v1", DIG_A, false, NULL, &err));
    OK(pkg_deploy(e->pkg, &c, "production", "api", "v2", DIG_B, false, NULL, &err));
    OK(pkg_domain_add(e->pkg, &c, "production", "api", "Shop.Example.org", NULL, &err));
    snap(e, &before);
    CHECK_INT_EQ(before.history.n, 2);

    /* The database is lost: a new, empty one is filled from the repositories. */
    db_lost(e);
    pkg_up(e);
    snap(e, &after);
    CHECK_STR_EQ(after.projects.text, before.projects.text);
    CHECK_STR_EQ(after.history.text, before.history.text);
    CHECK_STR_EQ(after.domain, before.domain);
    /* the custom domain is the project's again */
    project_up(e, &e->tok2, PROJ2, "other");
    CHECK_INT_EQ(pkg_domain_add(e->pkg, &c2, "production", "api", "shop.example.org", NULL, &err),
                 ERR_CONFLICT);
    CHECK_CONTAINS(err.msg, "another workspace");
}

TEST(pkg_index_is_rebuilt_from_the_repositories)
{
    each_backend(rebuilt);
}

static void healed(struct env *e)
{
    struct pkg_project p = {e->dir, WS1, PROJ, "acme", "shop", "Shop", WD};
    struct pkg_ops_cfg cfg = {e->schemas};
    struct pkg_ops *ops = NULL;
    struct pkg_call c = call(&e->tok1, PROJ, "shop");
    struct pkg_author ada = {"Ada Lovelace", "ada@example.com"};
    struct pkg_op_res res;
    struct hist ix, git;
    struct err err = {0};

    project_up(e, &e->tok1, PROJ, "shop");
    OK(pkg_deploy(e->pkg, &c, "production", "api", "v1", DIG_A, false, NULL, &err));
    /* A commit whose sync never ran: the process died between the two. */
    OK(pkg_ops_new(&cfg, &ops, &err));
    OK(pkg_op_deploy(ops, &p, &ada, "production", "api", "v2", DIG_B, PKG_DEPLOY, &res, &err));
    pkg_ops_free(ops);
    memset(&ix, 0, sizeof(ix));
    OK(pkg_history(e->pkg, &c, "production", "api", 0, hist_add, &ix, &err));
    CHECK_INT_EQ(ix.n, 1); /* behind */
    pkg_down(e);
    pkg_up(e);
    history_both(e, "production", "api", 0, &ix, &git);
    CHECK_INT_EQ(ix.n, 2);
    CHECK_STR_EQ(ix.text, git.text);
    CHECK(strstr(ix.text, res.commit) != NULL);
}

TEST(pkg_index_heals_a_commit_left_unindexed_by_a_crash)
{
    each_backend(healed);
}

/* ---------------------------------------------------------------- domains */

static char *head_file(struct env *e, const char *ws, const char *proj, const char *file)
{
    struct sbuf path = SBUF_INIT(4096);
    struct pkg_repo *r = NULL;
    struct arena *a = arena_new(NULL);
    struct err err = {0};
    struct slice s;
    char *out;

    OK(pkg_repo_path(e->dir, slice_from_cstr(ws), slice_from_cstr(proj), &path, &err));
    OK(pkg_repo_open(path.buf, &r, &err));
    OK(pkg_repo_read(r, NULL, file, a, &s, &err));
    out = xstrndup(s.ptr, s.len);
    pkg_repo_close(r);
    arena_free(a);
    sbuf_release(&path);
    return out;
}

static char *head_values(struct env *e, const char *ws, const char *proj, const char *env)
{
    char file[256];

    snprintf(file, sizeof(file), "environments/%s/values.yaml", env);
    return head_file(e, ws, proj, file);
}

static bool last_msg(void *arg, const struct pkg_log_entry *le)
{
    snprintf(arg, 256, "%s", le->message);
    return false;
}

static void head_message(struct env *e, const char *ws, const char *proj, char msg[256])
{
    struct sbuf path = SBUF_INIT(4096);
    struct pkg_repo *r = NULL;
    struct err err = {0};

    OK(pkg_repo_path(e->dir, slice_from_cstr(ws), slice_from_cstr(proj), &path, &err));
    OK(pkg_repo_open(path.buf, &r, &err));
    OK(pkg_repo_log(r, NULL, 1, last_msg, msg, &err));
    pkg_repo_close(r);
    sbuf_release(&path);
}

static void domains(struct env *e)
{
    struct pkg_call c1 = call(&e->tok1, PROJ, "shop"), c2 = call(&e->tok2, PROJ2, "shop");
    char host[PKG_HOST_MAX + 1], again[PKG_HOST_MAX + 1], msg[256];
    struct err err = {0};
    char *vals;

    project_up(e, &e->tok1, PROJ, "shop");
    project_up(e, &e->tok2, PROJ2, "shop"); /* the same name in another workspace */

    /* Platform: the first project's is plain, the second's gets -2, both stay put. */
    OK(pkg_domain_generate(e->pkg, &c1, "production", "api", host, &err));
    CHECK_STR_EQ(host, "api-production-shop." WD);
    OK(pkg_domain_generate(e->pkg, &c2, "production", "api", host, &err));
    CHECK_STR_EQ(host, "api-production-shop-2." WD);
    OK(pkg_domain_generate(e->pkg, &c2, "production", "api", again, &err));
    CHECK_STR_EQ(again, host);
    CHECK_INT_EQ(pkg_domain_generate(e->pkg, &c1, "nowhere", "api", host, &err), ERR_NOTFOUND);

    /* Custom: lower-cased, committed, unique across workspaces. */
    OK(pkg_domain_add(e->pkg, &c1, "production", "api", "WWW.Shop.example", NULL, &err));
    head_message(e, WS1, PROJ, msg);
    CHECK_STR_EQ(msg, "config(production): add domain www.shop.example for api");
    vals = head_values(e, WS1, PROJ, "production");
    CHECK_CONTAINS(vals, "www.shop.example");
    free(vals);
    CHECK_INT_EQ(pkg_domain_add(e->pkg, &c2, "staging", "api", "www.shop.example", NULL, &err),
                 ERR_CONFLICT);
    CHECK_CONTAINS(err.msg, "another workspace");
    CHECK_INT_EQ(pkg_domain_add(e->pkg, &c1, "staging", "worker", "www.shop.example", NULL, &err),
                 ERR_CONFLICT);
    CHECK_CONTAINS(err.msg, "service api in environment production of project " PROJ);
    CHECK_INT_EQ(
        pkg_domain_add(e->pkg, &c1, "production", "api", "api-production-shop." WD, NULL, &err),
        ERR_INVALID);
    CHECK_INT_EQ(pkg_domain_add(e->pkg, &c1, "production", "api", "bad_name.example", NULL, &err),
                 ERR_INVALID);
    CHECK_INT_EQ(pkg_domain_add(e->pkg, &c1, "production", "api", "-a.example", NULL, &err),
                 ERR_INVALID);
    CHECK_INT_EQ(pkg_domain_add(e->pkg, &c1, "production", "api", "localhost", NULL, &err),
                 ERR_INVALID);
    /* A commit that fails gives the claim back. */
    CHECK_INT_EQ(pkg_domain_add(e->pkg, &c1, "production", "nosuch", "free.example", NULL, &err),
                 ERR_NOTFOUND);
    OK(pkg_domain_add(e->pkg, &c2, "production", "api", "free.example", NULL, &err));

    /* Remove: committed, and the name is free for another workspace. */
    OK(pkg_domain_remove(e->pkg, &c1, "production", "api", "www.shop.example", NULL, &err));
    head_message(e, WS1, PROJ, msg);
    CHECK_STR_EQ(msg, "config(production): remove domain www.shop.example for api");
    vals = head_values(e, WS1, PROJ, "production");
    CHECK(strstr(vals, "www.shop.example") == NULL);
    free(vals);
    CHECK_INT_EQ(
        pkg_domain_remove(e->pkg, &c1, "production", "api", "www.shop.example", NULL, &err),
        ERR_NOTFOUND);
    OK(pkg_domain_add(e->pkg, &c2, "staging", "api", "www.shop.example", NULL, &err));
}

TEST(pkg_index_domains_are_unique_across_workspaces)
{
    each_backend(domains);
}

/* ---------------------------------------------------------------- one project id, two workspaces
 */

static void plist_of(struct env *e, struct sbuf *tok, struct plist *l)
{
    struct pkg_call c = call(tok, PROJ, "shop");
    struct err err = {0};

    memset(l, 0, sizeof(*l));
    OK(pkg_project_list(e->pkg, &c, plist_add, l, &err));
}

static void hist_of(struct env *e, struct sbuf *tok, struct hist *h)
{
    struct pkg_call c = call(tok, PROJ, "shop");
    struct err err = {0};

    memset(h, 0, sizeof(*h));
    OK(pkg_history(e->pkg, &c, "production", "api", 0, hist_add, h, &err));
}

static void same_id_apart(struct env *e)
{
    struct pkg_call c1 = call(&e->tok1, PROJ, "shop"), c2 = call(&e->tok2, PROJ, "shop");
    char host[PKG_HOST_MAX + 1];
    struct plist l;
    struct hist h;
    struct err err = {0};

    project_up(e, &e->tok1, PROJ, "shop");
    project_up(e, &e->tok2, PROJ, "shop"); /* acme/shop and bob/shop */
    OK(pkg_deploy(e->pkg, &c1, "production", "api", "v1", DIG_A, false, NULL, &err));
    OK(pkg_deploy(e->pkg, &c2, "production", "api", "v8", DIG_B, false, NULL, &err));
    OK(pkg_deploy(e->pkg, &c2, "production", "api", "v9", DIG_C, false, NULL, &err));

    plist_of(e, &e->tok1, &l);
    CHECK_STR_EQ(l.text, PROJ " shop Shop 1;");
    plist_of(e, &e->tok2, &l);
    CHECK_STR_EQ(l.text, PROJ " shop Shop 1;");
    OK(pkg_project_get(e->pkg, &c1, NULL, NULL, &err));
    OK(pkg_project_get(e->pkg, &c2, NULL, NULL, &err));
    hist_of(e, &e->tok1, &h);
    CHECK_INT_EQ(h.n, 1);
    CHECK_CONTAINS(h.text, "|v1|");
    hist_of(e, &e->tok2, &h);
    CHECK_INT_EQ(h.n, 2);
    CHECK(strstr(h.text, "|v1|") == NULL);

    OK(pkg_domain_generate(e->pkg, &c1, "production", "api", host, &err));
    CHECK_STR_EQ(host, "api-production-shop." WD);
    OK(pkg_domain_generate(e->pkg, &c2, "production", "api", host, &err));
    CHECK_STR_EQ(host, "api-production-shop-2." WD);
    OK(pkg_domain_add(e->pkg, &c1, "production", "api", "a.example", NULL, &err));
    CHECK_INT_EQ(pkg_domain_add(e->pkg, &c2, "production", "api", "a.example", NULL, &err),
                 ERR_CONFLICT);
    CHECK_CONTAINS(err.msg, "another workspace");
    OK(pkg_domain_add(e->pkg, &c2, "staging", "api", "b.example", NULL, &err));

    /* The database is lost: both come back, each with its own rows. */
    db_lost(e);
    pkg_up(e);
    plist_of(e, &e->tok1, &l);
    CHECK_INT_EQ(l.n, 1);
    plist_of(e, &e->tok2, &l);
    CHECK_INT_EQ(l.n, 1);
    hist_of(e, &e->tok1, &h);
    CHECK_INT_EQ(h.n, 1);
    hist_of(e, &e->tok2, &h);
    CHECK_INT_EQ(h.n, 2);

    /* Deleting acme's shop leaves bob's whole. */
    OK(pkg_project_delete(e->pkg, &c1, &err));
    CHECK_INT_EQ(pkg_project_get(e->pkg, &c1, NULL, NULL, &err), ERR_NOTFOUND);
    plist_of(e, &e->tok2, &l);
    CHECK_STR_EQ(l.text, PROJ " shop Shop 1;");
    hist_of(e, &e->tok2, &h);
    CHECK_INT_EQ(h.n, 2);
    CHECK_INT_EQ(pkg_domain_add(e->pkg, &c1, "production", "api", "c.example", NULL, &err),
                 ERR_NOTFOUND);
    CHECK_INT_EQ(pkg_domain_add(e->pkg, &c2, "production", "api", "b.example", NULL, &err),
                 ERR_CONFLICT); /* still bob's, in staging */
    OK(pkg_domain_add(e->pkg, &c2, "production", "api", "a.example", NULL, &err)); /* freed */
}

TEST(pkg_index_keeps_one_project_id_of_two_workspaces_apart)
{
    each_backend(same_id_apart);
}

/* ---------------------------------------------------------------- platformDomain */

/* Commits services.<svc>.platformDomain = <host> into <env>'s values of (<ws>, <proj>) by hand,
 * as the op of pkg_domain_generate does (the manifests follow at the next op); nothing when
 * the values hold it already. */
static void platform_commit(struct env *e, const char *ws, const char *proj, const char *env,
                            const char *svc, const char *host)
{
    struct pkg_author ada = {"Ada Lovelace", "ada@example.com"};
    char *text = head_values(e, ws, proj, env), file[256], key[256], oid[PKG_OID_HEX + 1];
    struct sbuf path = SBUF_INIT(4096), out = SBUF_INIT(1 << 20);
    struct pkg_yaml *doc = NULL;
    struct pkg_repo *r = NULL;
    struct slice have;
    struct err err = {0};

    snprintf(file, sizeof(file), "environments/%s/values.yaml", env);
    snprintf(key, sizeof(key), "services.%s.platformDomain", svc);
    OK(pkg_yaml_parse(slice_from_cstr(text), NULL, &doc, &err));
    if (pkg_yaml_get_str(doc, key, &have, &err) == 0 && slice_eq_cstr(have, host))
        goto done; /* pkg_domain_generate wrote it already */
    OK(pkg_yaml_set_str(doc, key, slice_from_cstr(host), &err));
    OK(pkg_yaml_emit(doc, &out, &err));
    OK(pkg_repo_path(e->dir, slice_from_cstr(ws), slice_from_cstr(proj), &path, &err));
    OK(pkg_repo_open(path.buf, &r, &err));
    OK(pkg_repo_commit(r,
                       &(struct pkg_commit_req){
                           .changes = &(struct pkg_change){PKG_PUT, file, sbuf_slice(&out)},
                           .nchanges = 1,
                           .author = ada,
                           .message = "config(production): platform domain",
                       },
                       oid, &err));
    pkg_repo_close(r);
done:
    pkg_yaml_free(doc);
    sbuf_release(&out);
    sbuf_release(&path);
    free(text);
}

static void platform_kept(struct env *e)
{
    struct pkg_call c1 = call(&e->tok1, PROJ, "shop"), c2 = call(&e->tok2, PROJ, "shop");
    char host[PKG_HOST_MAX + 1], away[8192], path[8192];
    struct err err = {0};
    char *route;

    project_up(e, &e->tok1, PROJ, "shop");
    project_up(e, &e->tok2, PROJ, "shop");
    OK(pkg_domain_generate(e->pkg, &c2, "production", "api", host, &err));
    CHECK_STR_EQ(host, "api-production-shop-2." WD); /* acme's sync claimed the plain one */
    platform_commit(e, WS2, PROJ, "production", "api", host);
    OK(pkg_deploy(e->pkg, &c2, "production", "api", "v1", DIG_A, false, NULL, &err));
    route = head_file(e, WS2, PROJ, "environments/production/manifests/httproute-api.yaml");
    CHECK_CONTAINS(route, "- api-production-shop-2." WD);
    CHECK(strstr(route, "- api-production-shop." WD) == NULL);
    free(route);

    /* Lost database, and acme's repository away while bob's is indexed again: bob keeps -2,
     * because its values say so, not because the plain name was taken. */
    db_lost(e);
    snprintf(path, sizeof(path), "%s/repos/%s/%s.git", e->dir, WS1, PROJ);
    snprintf(away, sizeof(away), "%s/away.git", e->dir);
    CHECK(rename(path, away) == 0);
    pkg_up(e);
    OK(pkg_domain_generate(e->pkg, &c2, "production", "api", host, &err));
    CHECK_STR_EQ(host, "api-production-shop-2." WD);
    pkg_down(e);
    CHECK(rename(away, path) == 0);
    pkg_up(e);
    OK(pkg_domain_generate(e->pkg, &c1, "production", "api", host, &err));
    CHECK_STR_EQ(host, "api-production-shop." WD);
    OK(pkg_domain_generate(e->pkg, &c2, "production", "api", host, &err));
    CHECK_STR_EQ(host, "api-production-shop-2." WD);
}

TEST(pkg_index_platform_domain_in_the_values_survives_a_rebuild)
{
    each_backend(platform_kept);
}

struct racer {
    struct env *e;
    int i, rc;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    struct pkg_project p = {r->e->dir, WS1, PROJ, "acme", "shop", "Shop", WD};
    struct pkg_index *ix = NULL;
    char svc[32];
    struct err err = {0};

    snprintf(svc, sizeof(svc), "svc%d", r->i);
    /* each racer is a packager of its own on the shared database */
    r->rc = pkg_index_open(r->e->store, r->e->dir, WD, &ix, &err);
    if (r->rc == 0)
        r->rc = pkg_index_domain_claim(ix, &p, "production", svc, "hot.example", &err);
    pkg_index_free(ix);
    return NULL;
}

static void claims_race(struct env *e)
{
    struct racer r[50];
    pthread_t th[50];
    int won = 0, lost = 0;

    for (int i = 0; i < 50; i++) {
        r[i] = (struct racer){e, i, 1};
        CHECK(pthread_create(&th[i], NULL, race, &r[i]) == 0);
    }
    for (int i = 0; i < 50; i++) {
        pthread_join(th[i], NULL);
        won += r[i].rc == 0;
        lost += r[i].rc == ERR_CONFLICT;
    }
    CHECK_INT_EQ(won, 1);
    CHECK_INT_EQ(lost, 49);
}

TEST(pkg_index_fifty_racing_claims_of_one_domain_have_one_winner)
{
    each_backend(claims_race);
}

/* ---------------------------------------------------------------- bench */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static void pct(const char *what, uint64_t *ns, size_t n)
{
    qsort(ns, n, sizeof(*ns), cmp_u64);
    printf("%-28s n %6zu  p50 %8.3f ms  p99 %8.3f ms\n", what, n, (double)ns[n / 2] / 1e6,
           (double)ns[n * 99 / 100] / 1e6);
    fflush(stdout); /* the runner's child may end without flushing */
}

static bool count(void *arg, const struct pkg_deployment *d)
{
    (void)d;
    ++*(int *)arg;
    return true;
}

/* History of <svc> through the public call, 200 times: p50/p99. */
static void bench_history(struct env *e, const char *svc, size_t limit)
{
    struct pkg_call c = call(&e->tok1, PROJ, "shop");
    uint64_t ns[200];
    struct err err = {0};
    char what[64];
    int n = 0;

    for (size_t i = 0; i < ARRAY_LEN(ns); i++) {
        uint64_t t0 = time_mono_ns();

        n = 0;
        OK(pkg_history(e->pkg, &c, "production", svc, limit, count, &n, &err));
        ns[i] = time_mono_ns() - t0;
    }
    snprintf(what, sizeof(what), "history %s (%d entries)", svc, n);
    pct(what, ns, ARRAY_LEN(ns));
}

/* Where a public deploy's time goes: the op alone (render, commit, fsync), then the index
 * sync of that one commit, timed apart on the same repository, <n> times each. */
static void bench_split(struct env *e, size_t n)
{
    struct pkg_project p = {e->dir, WS1, PROJ, "acme", "shop", "Shop", WD};
    struct pkg_author ada = {"Ada Lovelace", "ada@example.com"};
    uint64_t *op = xcalloc(n + 1, sizeof(*op)), *sy = xcalloc(n + 1, sizeof(*sy));
    struct pkg_ops *ops = NULL;
    struct pkg_index *ix = NULL;
    struct err err = {0};
    char tag[32];

    OK(pkg_ops_new(&(struct pkg_ops_cfg){e->schemas}, &ops, &err));
    OK(pkg_index_open(e->store, e->dir, WD, &ix, &err));
    for (size_t i = 0; i < n; i++) {
        uint64_t t0 = time_mono_ns(), t1;

        snprintf(tag, sizeof(tag), "s%zu", i);
        OK(pkg_op_deploy(ops, &p, &ada, "production", "api", tag, i % 2 ? DIG_A : DIG_B, PKG_DEPLOY,
                         NULL, &err));
        t1 = time_mono_ns();
        OK(pkg_index_sync(ix, &p, &err));
        op[i] = t1 - t0;
        sy[i] = time_mono_ns() - t1;
    }
    pct("commit: op alone", op, n);
    pct("commit: index sync alone", sy, n);
    pkg_index_free(ix);
    pkg_ops_free(ops);
    free(op);
    free(sy);
}

/* <commits> deploys through pkg_deploy (commit + index sync), the "rare" service on every
 * 500th; then history of both. */
static void bench(struct env *e)
{
    const char *n_env = getenv("SLIPWAY_PKG_BENCH");
    size_t commits = n_env != NULL ? strtoul(n_env, NULL, 10) : 0;
    struct pkg_call c = call(&e->tok1, PROJ, "shop");
    uint64_t *ns = xcalloc(commits + 1, sizeof(*ns));
    struct err err = {0};
    char tag[32];

    project_up(e, &e->tok1, PROJ, "shop");
    {
        json_t *svc = json_pack("{s:s, s:i}", "image", "r.example.com/rare", "port", 80);

        OK(pkg_service_add(e->pkg, &c, "rare", svc, NULL, &err));
        json_decref(svc);
    }
    for (size_t i = 0; i < commits; i++) {
        uint64_t t0;

        if (i % 1000 == 999) /* the tokens live 60 s */
            token(e, WS1, &e->tok1), c = call(&e->tok1, PROJ, "shop");
        snprintf(tag, sizeof(tag), "b%zu", i);
        t0 = time_mono_ns();
        OK(pkg_deploy(e->pkg, &c, "production", i % 500 == 0 ? "rare" : "api", tag,
                      i % 2 ? DIG_A : DIG_B, false, NULL, &err));
        ns[i] = time_mono_ns() - t0;
    }
    printf("commits %zu (pkg_deploy: commit, render, fsync, index sync)\n", commits);
    pct("commit", ns, commits);
    bench_split(e, commits < 2000 ? commits : 2000);
    bench_history(e, "api", 50);
    bench_history(e, "rare", 20);
    free(ns);
}

TEST(pkg_index_bench)
{
    if (getenv("SLIPWAY_PKG_BENCH") == NULL)
        return; /* bench/packager.sh sets it */
    run_on(STORE_SQLITE, bench);
}
