/* The packager's operations (src/pkg/ops.c): each op's commit, its files and message; comments
 * of a hand-edited values file surviving; schema-invalid writes refused with nothing committed;
 * promotion copying the digest; history; 50 concurrent deploys; no plaintext secret anywhere. */
#include "../test.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "pkg/pkg-int.h"

#define WS   "01890a5d-ac96-774b-bcce-b302099a8057"
#define PROJ "01890a5d-ac96-7a4b-8cce-b302099a8058"

#define DIG_A "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DIG_B "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define DIG_C "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

static const struct pkg_author alice = {"Alice Example", "alice@example.com"};
static const struct pkg_author bob = {"Bob", "bob@example.org"};

static struct pkg_project project(void)
{
    return (struct pkg_project){test_tmpdir(),     WS, PROJ, "acme", "shop", "Shop",
                                "apps.example.com"};
}

/* The ops object, with the source tree's schema/ found from this file's own path. */
static struct pkg_ops *ops_new(void)
{
    const char *me = __FILE__, *at = strstr(me, "tests/unit/pkg/");
    char dir[4096];
    struct pkg_ops *ops = NULL;
    struct err err = {0};

    snprintf(dir, sizeof(dir), "%.*sschema", at ? (int)(at - me) : 0, me);
    OK(pkg_ops_new(&(struct pkg_ops_cfg){dir}, &ops, &err));
    return ops;
}

static struct pkg_repo *repo_open(const struct pkg_project *p)
{
    struct sbuf path = SBUF_INIT(4096);
    struct pkg_repo *r = NULL;
    struct err err = {0};

    OK(pkg_repo_path(p->root, slice_from_cstr(p->workspace_id), slice_from_cstr(p->project_id),
                     &path, &err));
    OK(pkg_repo_open(path.buf, &r, &err));
    sbuf_release(&path);
    return r;
}

/* The file at HEAD as a heap string, NULL when missing. */
static char *head_file(const struct pkg_project *p, const char *path)
{
    struct pkg_repo *r = repo_open(p);
    struct arena *a = arena_new(NULL);
    struct slice s;
    struct err err = {0};
    char *out = NULL;

    if (pkg_repo_read(r, NULL, path, a, &s, &err) == 0)
        out = xstrndup(s.ptr, s.len);
    arena_free(a);
    pkg_repo_close(r);
    return out;
}

static void head_oid(const struct pkg_project *p, char oid[PKG_OID_HEX + 1])
{
    struct pkg_repo *r = repo_open(p);
    struct err err = {0};

    OK(pkg_repo_head(r, oid, &err));
    pkg_repo_close(r);
}

static bool last_message(void *arg, const struct pkg_log_entry *e)
{
    snprintf(arg, 256, "%s|%s", e->message, e->author_email);
    return false;
}

/* "<message>|<author email>" of HEAD. */
static void check_head_message(const struct pkg_project *p, const char *want)
{
    struct pkg_repo *r = repo_open(p);
    struct err err = {0};
    char got[256] = "";

    OK(pkg_repo_log(r, NULL, 1, last_message, got, &err));
    CHECK_STR_EQ(got, want);
    pkg_repo_close(r);
}

static bool count_one(void *arg, const struct pkg_log_entry *e)
{
    (void)e;
    (*(size_t *)arg)++;
    return true;
}

static size_t commit_count(const struct pkg_project *p)
{
    struct pkg_repo *r = repo_open(p);
    struct err err = {0};
    size_t n = 0;

    OK(pkg_repo_log(r, NULL, 0, count_one, &n, &err));
    pkg_repo_close(r);
    return n;
}

static json_t *service_json(int port)
{
    return json_pack("{s:s, s:i, s:s}", "image", "registry.example.com/acme/shop/api", "port", port,
                     "healthCheckPath", "/healthz");
}

/* A project with service api and environment development running DIG_A. */
static struct pkg_ops *shop_new(struct pkg_project *p)
{
    struct pkg_ops *ops = ops_new();
    struct err err = {0};
    json_t *svc = service_json(8080);

    *p = project();
    OK(pkg_op_init(ops, p, &alice, NULL, &err));
    OK(pkg_op_add_service(ops, p, &alice, "api", svc, NULL, &err));
    OK(pkg_op_env_create(ops, p, &alice, "development", NULL, NULL, &err));
    OK(pkg_op_deploy(ops, p, &alice, "development", "api", "3f2a1c9", DIG_A, PKG_DEPLOY, NULL,
                     &err));
    json_decref(svc);
    return ops;
}

TEST(ops_init_writes_the_layout_once)
{
    struct pkg_ops *ops = ops_new();
    struct pkg_project p = project();
    struct pkg_op_res res;
    struct err err = {0};
    char *s;

    OK(pkg_op_init(ops, &p, &alice, &res, &err));
    CHECK_INT_EQ(strlen(res.commit), PKG_OID_HEX);
    check_head_message(&p, "init: Shop|alice@example.com");
    s = head_file(&p, "slipway.yaml");
    CHECK_STR_EQ(s, "id: " PROJ "\nname: shop\ndisplayName: Shop\nschemaVersion: 1\n");
    free(s);
    s = head_file(&p, "base/values.yaml");
    CHECK_STR_EQ(s, "schemaVersion: 1\nservices: {}\n");
    free(s);
    s = head_file(&p, "README.md");
    CHECK(s != NULL);
    CHECK_CONTAINS(s, "environments/<env>/values.yaml");
    free(s);

    CHECK_INT_EQ(pkg_op_init(ops, &p, &bob, NULL, &err), ERR_CONFLICT);
    CHECK_INT_EQ(commit_count(&p), 1);
    p.project_id = "../../etc";
    CHECK_INT_EQ(pkg_op_init(ops, &p, &bob, NULL, &err), ERR_INVALID);
    pkg_ops_free(ops);
}

TEST(ops_unknown_project_is_not_found)
{
    struct pkg_ops *ops = ops_new();
    struct pkg_project p = project();
    struct err err = {0};
    json_t *svc = service_json(80);

    CHECK_INT_EQ(pkg_op_add_service(ops, &p, &alice, "api", svc, NULL, &err), ERR_NOTFOUND);
    json_decref(svc);
    pkg_ops_free(ops);
}

TEST(ops_add_and_remove_service)
{
    struct pkg_project p;
    struct pkg_ops *ops = shop_new(&p);
    struct err err = {0};
    json_t *svc = service_json(3000);
    char *s;

    check_head_message(&p, "deploy(development): api 3f2a1c9|alice@example.com");
    s = head_file(&p, "environments/development/manifests/deployment-api.yaml");
    CHECK(s != NULL);
    CHECK_CONTAINS(s, DIG_A);
    free(s);

    OK(pkg_op_add_service(ops, &p, &bob, "web", svc, NULL, &err));
    check_head_message(&p, "config(base): add service web|bob@example.org");
    s = head_file(&p, "base/values.yaml");
    CHECK_CONTAINS(s, "  web:\n    image: registry.example.com/acme/shop/api\n    port: 3000\n");
    free(s);
    CHECK_INT_EQ(pkg_op_add_service(ops, &p, &bob, "web", svc, NULL, &err), ERR_CONFLICT);
    CHECK_INT_EQ(pkg_op_add_service(ops, &p, &bob, "Web.x", svc, NULL, &err), ERR_INVALID);

    /* removing a service removes its manifests too: the manifests/ directory is replaced */
    OK(pkg_op_remove_service(ops, &p, &bob, "api", NULL, &err));
    check_head_message(&p, "config(base): remove service api|bob@example.org");
    s = head_file(&p, "environments/development/manifests/deployment-api.yaml");
    CHECK(s == NULL);
    s = head_file(&p, "environments/development/values.yaml");
    CHECK(strstr(s, "api") == NULL);
    free(s);
    CHECK_INT_EQ(pkg_op_remove_service(ops, &p, &bob, "api", NULL, &err), ERR_NOTFOUND);
    json_decref(svc);
    pkg_ops_free(ops);
}

TEST(ops_schema_invalid_change_is_refused_with_its_key)
{
    struct pkg_project p;
    struct pkg_ops *ops = shop_new(&p);
    struct err err = {0};
    json_t *svc = service_json(70000);
    char before[PKG_OID_HEX + 1], after[PKG_OID_HEX + 1];
    size_t n = commit_count(&p);

    head_oid(&p, before);
    CHECK_INT_EQ(pkg_op_add_service(ops, &p, &bob, "web", svc, NULL, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "base/values.yaml: services.web.port");
    CHECK_INT_EQ(pkg_op_deploy(ops, &p, &bob, "development", "api", "v2", "sha256:nothex",
                               PKG_DEPLOY, NULL, &err),
                 ERR_INVALID);
    CHECK_CONTAINS(err.msg, "environments/development/values.yaml: services.api.image.digest");
    CHECK_INT_EQ(pkg_op_deploy(ops, &p, &bob, "development", "api", "bad tag", DIG_B, PKG_DEPLOY,
                               NULL, &err),
                 ERR_INVALID);
    CHECK_CONTAINS(err.msg, "services.api.image.tag");
    head_oid(&p, after);
    CHECK_STR_EQ(after, before);
    CHECK_INT_EQ(commit_count(&p), n);

    /* unknown names */
    CHECK_INT_EQ(
        pkg_op_deploy(ops, &p, &bob, "production", "api", "v2", DIG_B, PKG_DEPLOY, NULL, &err),
        ERR_NOTFOUND);
    CHECK_CONTAINS(err.msg, "environment production");
    CHECK_INT_EQ(
        pkg_op_deploy(ops, &p, &bob, "development", "worker", "v2", DIG_B, PKG_DEPLOY, NULL, &err),
        ERR_NOTFOUND);
    CHECK_CONTAINS(err.msg, "service worker");
    json_decref(svc);
    pkg_ops_free(ops);
}

TEST(ops_env_create_clone_and_delete)
{
    struct pkg_project p;
    struct pkg_ops *ops = shop_new(&p);
    struct err err = {0};
    json_t *vars = json_pack("{s:s}", "LOG_LEVEL", "debug");
    json_t *domains = json_pack("[s]", "api.shop.example.com");
    char *s;

    OK(pkg_op_set_variables(ops, &p, &alice, "development", "api", vars, false, NULL, NULL, &err));
    json_decref(vars);
    json_decref(domains);
    /* a hand edit adds a custom domain and a comment */
    {
        struct pkg_repo *r = repo_open(&p);
        struct arena *a = arena_new(NULL);
        struct slice text;
        struct sbuf nb = SBUF_INIT(1 << 20);
        struct pkg_change c;
        struct pkg_commit_req req;
        char oid[PKG_OID_HEX + 1];

        OK(pkg_repo_read(r, NULL, "environments/development/values.yaml", a, &text, &err));
        sbuf_put_slice(&nb, text);
        sbuf_puts(&nb, "# tuned by hand\n");
        c = (struct pkg_change){PKG_PUT, "environments/development/values.yaml", sbuf_slice(&nb)};
        req = (struct pkg_commit_req){&c, 1, bob, "hand edit", NULL, 0};
        OK(pkg_repo_commit(r, &req, oid, &err));
        sbuf_release(&nb);
        arena_free(a);
        pkg_repo_close(r);
    }
    CHECK_INT_EQ(pkg_op_env_create(ops, &p, &alice, "development", NULL, NULL, &err), ERR_CONFLICT);
    CHECK_INT_EQ(pkg_op_env_create(ops, &p, &alice, "staging", "qa", NULL, &err), ERR_NOTFOUND);
    OK(pkg_op_env_create(ops, &p, &alice, "staging", "development", NULL, &err));
    check_head_message(&p, "env(create): staging from development|alice@example.com");
    s = head_file(&p, "environments/staging/values.yaml");
    CHECK_CONTAINS(s, "LOG_LEVEL: debug");
    CHECK_CONTAINS(s, "# tuned by hand");
    CHECK(strstr(s, "sha256:") == NULL); /* no image: nothing runs until a deploy or promote */
    free(s);
    s = head_file(&p, "environments/staging/kustomization.yaml");
    CHECK(s != NULL);
    free(s);

    OK(pkg_op_env_delete(ops, &p, &bob, "staging", NULL, &err));
    check_head_message(&p, "env(delete): staging|bob@example.org");
    CHECK(head_file(&p, "environments/staging/values.yaml") == NULL);
    CHECK(head_file(&p, "environments/staging/kustomization.yaml") == NULL);
    CHECK_INT_EQ(pkg_op_env_delete(ops, &p, &bob, "staging", NULL, &err), ERR_NOTFOUND);
    pkg_ops_free(ops);
}

TEST(ops_clone_drops_custom_domains)
{
    struct pkg_project p;
    struct pkg_ops *ops = shop_new(&p);
    struct err err = {0};
    struct pkg_repo *r = repo_open(&p);
    struct arena *a = arena_new(NULL);
    struct slice text;
    struct pkg_yaml *doc;
    struct sbuf nb = SBUF_INIT(1 << 20);
    json_t *domains = json_pack("[s]", "api.shop.example.com");
    struct pkg_change c;
    struct pkg_commit_req req;
    char oid[PKG_OID_HEX + 1];
    char *s;

    OK(pkg_repo_read(r, NULL, "environments/development/values.yaml", a, &text, &err));
    OK(pkg_yaml_parse(text, NULL, &doc, &err));
    OK(pkg_yaml_set_json(doc, "services.api.domains", domains, &err));
    OK(pkg_yaml_emit(doc, &nb, &err));
    c = (struct pkg_change){PKG_PUT, "environments/development/values.yaml", sbuf_slice(&nb)};
    req = (struct pkg_commit_req){&c, 1, bob, "domain", NULL, 0};
    OK(pkg_repo_commit(r, &req, oid, &err));
    pkg_repo_close(r);
    OK(pkg_op_env_create(ops, &p, &alice, "staging", "development", NULL, &err));
    s = head_file(&p, "environments/staging/values.yaml");
    CHECK(strstr(s, "api.shop.example.com") == NULL);
    free(s);
    s = head_file(&p, "environments/development/values.yaml");
    CHECK_CONTAINS(s, "api.shop.example.com");
    free(s);
    pkg_yaml_free(doc);
    sbuf_release(&nb);
    json_decref(domains);
    arena_free(a);
    pkg_ops_free(ops);
}

TEST(ops_comments_of_a_hand_edited_file_survive)
{
    static const char hand[] = "# Development: Alice's playground.\n"
                               "schemaVersion: 1\n"
                               "services:\n"
                               "  api:   # the API\n"
                               "    image:\n"
                               "      tag: 3f2a1c9   # first build\n"
                               "      digest: " DIG_A "\n"
                               "    # keep it small\n"
                               "    replicas: 1\n"
                               "# shared things below\n"
                               "sharedVariables:\n"
                               "  SHOP_NAME: Acme   # shown in the footer\n";
    struct pkg_project p;
    struct pkg_ops *ops = shop_new(&p);
    struct err err = {0};
    struct pkg_repo *r = repo_open(&p);
    struct pkg_change c = {PKG_PUT, "environments/development/values.yaml", SLICE(hand)};
    struct pkg_commit_req req = {&c, 1, bob, "hand edit", NULL, 0};
    char oid[PKG_OID_HEX + 1];
    char *s;

    OK(pkg_repo_commit(r, &req, oid, &err));
    pkg_repo_close(r);
    OK(pkg_op_deploy(ops, &p, &alice, "development", "api", "4b5c6d7", DIG_B, PKG_DEPLOY, NULL,
                     &err));
    s = head_file(&p, "environments/development/values.yaml");
    CHECK_STR_EQ(s, "# Development: Alice's playground.\n"
                    "schemaVersion: 1\n"
                    "services:\n"
                    "  api:   # the API\n"
                    "    image:\n"
                    "      tag: 4b5c6d7   # first build\n"
                    "      digest: " DIG_B "\n"
                    "    # keep it small\n"
                    "    replicas: 1\n"
                    "# shared things below\n"
                    "sharedVariables:\n"
                    "  SHOP_NAME: Acme   # shown in the footer\n");
    free(s);
    pkg_ops_free(ops);
}

TEST(ops_deploy_rollback_promote)
{
    struct pkg_project p;
    struct pkg_ops *ops = shop_new(&p);
    struct err err = {0};
    char *s;

    OK(pkg_op_env_create(ops, &p, &alice, "staging", NULL, NULL, &err));
    check_head_message(&p, "env(create): staging|alice@example.com");
    CHECK_INT_EQ(pkg_op_promote(ops, &p, &bob, "staging", "development", "api", NULL, &err),
                 ERR_NOTFOUND); /* staging runs nothing yet */
    OK(pkg_op_promote(ops, &p, &bob, "development", "staging", "api", NULL, &err));
    check_head_message(&p, "promote(staging): api 3f2a1c9 from development|bob@example.org");
    s = head_file(&p, "environments/staging/values.yaml");
    CHECK_CONTAINS(s, "tag: 3f2a1c9");
    CHECK_CONTAINS(s, "digest: " DIG_A);
    free(s);
    s = head_file(&p, "environments/staging/manifests/deployment-api.yaml");
    CHECK_CONTAINS(s, "registry.example.com/acme/shop/api@" DIG_A);
    free(s);

    OK(pkg_op_deploy(ops, &p, &alice, "staging", "api", "1b2c3d4", DIG_B, PKG_ROLLBACK, NULL,
                     &err));
    check_head_message(&p, "rollback(staging): api 1b2c3d4|alice@example.com");
    CHECK_INT_EQ(
        pkg_op_deploy(ops, &p, &alice, "staging", "api", "x", DIG_B, PKG_PROMOTE, NULL, &err),
        ERR_INVALID);
    pkg_ops_free(ops);
}

struct hist {
    int n;
    char line[8][200];
};

static bool hist_add(void *arg, const struct pkg_deployment *d)
{
    struct hist *h = arg;
    static const char *const kinds[] = {"deploy", "rollback", "promote"};

    if (h->n < 8)
        snprintf(h->line[h->n++], 200, "%s %s %.15s %s%s", kinds[d->kind], d->tag, d->digest,
                 d->author_name, d->active ? " *" : "");
    return true;
}

TEST(ops_history_newest_first_with_the_active_entry)
{
    struct pkg_project p;
    struct pkg_ops *ops = shop_new(&p);
    struct err err = {0};
    struct hist h = {0};
    json_t *vars = json_pack("{s:s}", "A", "1");

    OK(pkg_op_env_create(ops, &p, &alice, "production", NULL, NULL, &err));
    OK(pkg_op_promote(ops, &p, &bob, "development", "production", "api", NULL, &err));
    OK(pkg_op_deploy(ops, &p, &alice, "production", "api", "v2", DIG_B, PKG_DEPLOY, NULL, &err));
    OK(pkg_op_set_variables(ops, &p, &alice, "production", "api", vars, false, NULL, NULL, &err));
    OK(pkg_op_deploy(ops, &p, &alice, "production", "api", "v3", DIG_C, PKG_DEPLOY, NULL, &err));
    OK(pkg_op_deploy(ops, &p, &bob, "production", "api", "3f2a1c9", DIG_A, PKG_ROLLBACK, NULL,
                     &err));
    OK(pkg_op_deploy(ops, &p, &alice, "development", "api", "v9", DIG_C, PKG_DEPLOY, NULL, &err));

    OK(pkg_op_history(&p, "production", "api", 0, hist_add, &h, &err));
    CHECK_INT_EQ(h.n, 4);
    CHECK_STR_EQ(h.line[0], "rollback 3f2a1c9 sha256:aaaaaaaa Bob *");
    CHECK_STR_EQ(h.line[1], "deploy v3 sha256:cccccccc Alice Example");
    CHECK_STR_EQ(h.line[2], "deploy v2 sha256:bbbbbbbb Alice Example");
    CHECK_STR_EQ(h.line[3], "promote 3f2a1c9 sha256:aaaaaaaa Bob"); /* same digest, older */

    h.n = 0;
    OK(pkg_op_history(&p, "production", "api", 2, hist_add, &h, &err));
    CHECK_INT_EQ(h.n, 2);
    h.n = 0;
    OK(pkg_op_history(&p, "production", "web", 0, hist_add, &h, &err));
    CHECK_INT_EQ(h.n, 0);
    CHECK_INT_EQ(pkg_op_history(&p, "qa", "api", 0, hist_add, &h, &err), ERR_NOTFOUND);
    json_decref(vars);
    pkg_ops_free(ops);
}

/* Every blob of the tree at HEAD, recursively, appended to <all>. */
struct walk {
    struct pkg_repo *r;
    struct arena *a;
    struct sbuf *all;
    char dir[1024];
    int files;
};

static bool walk_entry(void *arg, const char *name, enum pkg_entry_kind kind)
{
    struct walk *w = arg, sub = *w;
    struct err err = {0};
    struct slice data;
    char path[2048];

    snprintf(path, sizeof(path), "%s%s%s", w->dir, w->dir[0] ? "/" : "", name);
    if (kind == PKG_ENTRY_DIR) {
        CHECK(strlen(path) < sizeof(sub.dir));
        memcpy(sub.dir, path, strlen(path) + 1);
        sub.files = 0;
        OK(pkg_repo_list(w->r, NULL, path, walk_entry, &sub, &err));
        w->files += sub.files;
        return true;
    }
    OK(pkg_repo_read(w->r, NULL, path, w->a, &data, &err));
    sbuf_put_slice(w->all, data);
    w->files++;
    return true;
}

TEST(ops_variables_shared_references_and_secrets)
{
    struct pkg_project p;
    struct pkg_ops *ops = shop_new(&p);
    struct err err = {0};
    struct arena *a = arena_new(NULL);
    struct pkg_op_res res;
    json_t *shared = json_pack("{s:s}", "SHOP_NAME", "Acme Shop");
    json_t *vars =
        json_pack("{s:s, s:{s:s}}", "LOG_LEVEL", "info", "PUBLIC_NAME", "shared", "SHOP_NAME");
    json_t *secret = json_pack("{s:s}", "STRIPE_KEY", "sk_live_plaintext_canary_42");
    json_t *unset = json_pack("{s:n}", "SHOP_NAME");
    json_t *bad = json_pack("{s:i}", "PORT", 5);
    struct sbuf all = SBUF_INIT(64 << 20);
    struct walk w = {0};
    char *s;

    OK(pkg_op_set_variables(ops, &p, &alice, "development", NULL, shared, false, a, &res, &err));
    check_head_message(&p, "config(development): set shared variables|alice@example.com");
    OK(pkg_op_set_variables(ops, &p, &alice, "development", "api", vars, false, a, &res, &err));
    check_head_message(&p, "config(development): set variables for api|alice@example.com");
    s = head_file(&p, "environments/development/manifests/configmap.yaml");
    CHECK_CONTAINS(s, "Acme Shop");
    free(s);
    OK(pkg_op_set_variables(ops, &p, &bob, "development", "api", secret, true, a, &res, &err));
    s = head_file(&p, "environments/development/values.yaml");
    CHECK_CONTAINS(s, "secret: enc:v1:");
    free(s);

    /* wrong values are refused with the key; nothing committed */
    CHECK_INT_EQ(
        pkg_op_set_variables(ops, &p, &bob, "development", "api", bad, false, a, &res, &err),
        ERR_INVALID);
    CHECK_CONTAINS(err.msg, "services.api.variables.PORT");
    CHECK_INT_EQ(
        pkg_op_set_variables(ops, &p, &bob, "development", "api", bad, true, a, &res, &err),
        ERR_INVALID);
    CHECK_INT_EQ(
        pkg_op_set_variables(ops, &p, &bob, "development", "nope", vars, false, a, &res, &err),
        ERR_NOTFOUND);

    /* removing a shared key removes the references to it and says which */
    OK(pkg_op_set_variables(ops, &p, &bob, "development", NULL, unset, false, a, &res, &err));
    CHECK_UINT_EQ(res.nremoved, 1);
    CHECK_STR_EQ(res.removed_refs[0], "api.PUBLIC_NAME");
    s = head_file(&p, "environments/development/values.yaml");
    CHECK(strstr(s, "PUBLIC_NAME") == NULL);
    CHECK(strstr(s, "SHOP_NAME") == NULL);
    CHECK_CONTAINS(s, "LOG_LEVEL: info");
    free(s);

    /* the secret's plaintext is in no blob at HEAD */
    w.r = repo_open(&p);
    w.a = a;
    w.all = &all;
    OK(pkg_repo_list(w.r, NULL, NULL, walk_entry, &w, &err));
    CHECK(w.files > 8);
    CHECK(all.err == 0);
    CHECK(memmem(all.buf, all.len, "plaintext_canary", 16) == NULL);
    CHECK(memmem(all.buf, all.len, "enc:v1:", 7) != NULL);
    pkg_repo_close(w.r);

    sbuf_release(&all);
    json_decref(shared);
    json_decref(vars);
    json_decref(secret);
    json_decref(unset);
    json_decref(bad);
    arena_free(a);
    pkg_ops_free(ops);
}

/* ---------------------------------------------------------------- concurrent writers */

#define NDEPLOY 50

struct deployer {
    struct pkg_ops *ops;
    const struct pkg_project *p;
    int i, rc;
    struct err err;
};

static void *deploy_one(void *arg)
{
    struct deployer *d = arg;
    char tag[32], digest[80];

    snprintf(tag, sizeof(tag), "build-%02d", d->i);
    snprintf(digest, sizeof(digest), "sha256:%064x", d->i + 1);
    d->rc = pkg_op_deploy(d->ops, d->p, &alice, "development", "api", tag, digest, PKG_DEPLOY, NULL,
                          &d->err);
    return NULL;
}

TEST(ops_50_concurrent_deploys_make_50_commits)
{
    struct pkg_project p;
    struct pkg_ops *ops = shop_new(&p);
    struct deployer d[NDEPLOY];
    pthread_t th[NDEPLOY];
    struct hist h = {0};
    struct err err = {0};
    size_t before = commit_count(&p);

    for (int i = 0; i < NDEPLOY; i++) {
        d[i] = (struct deployer){ops, &p, i, 0, {0}};
        CHECK(pthread_create(&th[i], NULL, deploy_one, &d[i]) == 0);
    }
    for (int i = 0; i < NDEPLOY; i++)
        CHECK(pthread_join(th[i], NULL) == 0);
    for (int i = 0; i < NDEPLOY; i++)
        if (d[i].rc != 0)
            test_fail(__FILE__, __LINE__, "deploy %d: %s", i, d[i].err.msg);
    CHECK_UINT_EQ(commit_count(&p), before + NDEPLOY);
    OK(pkg_op_history(&p, "development", "api", 0, hist_add, &h, &err));
    CHECK_INT_EQ(h.n, 8); /* hist_add keeps 8 */
    CHECK_CONTAINS(h.line[0], " *");
    pkg_ops_free(ops);
}

TEST(ops_configure_scaling_resources_start_and_suspend)
{
    struct pkg_project p;
    struct pkg_ops *ops = shop_new(&p);
    struct err err = {0};
    json_t *set;
    char *values, *deploy;
    size_t n;

    set =
        json_pack("{s:i, s:{s:i, s:i, s:i}, s:{s:s, s:s, s:s}, s:s}", "replicas", 3, "autoscaling",
                  "min", 2, "max", 6, "cpuPercent", 70, "resources", "tier", "custom", "cpu",
                  "500m", "memory", "256Mi", "customStartCommand", "node server.js --port $PORT");
    OK(pkg_op_configure(ops, &p, &bob, "development", "api", set, NULL, &err));
    json_decref(set);
    check_head_message(&p, "config(development): set replicas, autoscaling, resources, "
                           "customStartCommand for api|bob@example.org");
    values = head_file(&p, "environments/development/values.yaml");
    CHECK_CONTAINS(values, "replicas: 3");
    CHECK_CONTAINS(values, "cpuPercent: 70");
    CHECK_CONTAINS(values, "memory: 256Mi");
    CHECK_CONTAINS(values, "node server.js --port $PORT");
    free(values);
    deploy = head_file(&p, "environments/development/manifests/hpa-api.yaml");
    CHECK(deploy != NULL); /* autoscaling renders a HorizontalPodAutoscaler */
    free(deploy);

    set = json_pack("{s:b}", "suspended", 1);
    OK(pkg_op_configure(ops, &p, &bob, "development", "api", set, NULL, &err));
    json_decref(set);
    check_head_message(&p, "config(development): suspend api|bob@example.org");
    set = json_pack("{s:b}", "suspended", 0);
    OK(pkg_op_configure(ops, &p, &bob, "development", "api", set, NULL, &err));
    json_decref(set);
    check_head_message(&p, "config(development): resume api|bob@example.org");

    /* null removes a key, also one that is not there */
    set = json_pack("{s:n, s:n}", "autoscaling", "suspended");
    OK(pkg_op_configure(ops, &p, &bob, "development", "api", set, NULL, &err));
    json_decref(set);
    values = head_file(&p, "environments/development/values.yaml");
    CHECK(strstr(values, "autoscaling") == NULL);
    CHECK_CONTAINS(values, "replicas: 3");
    free(values);

    /* refused with the key, nothing committed */
    n = commit_count(&p);
    set = json_pack("{s:i}", "replicas", 1000);
    CHECK_INT_EQ(pkg_op_configure(ops, &p, &bob, "development", "api", set, NULL, &err),
                 ERR_INVALID);
    CHECK_CONTAINS(err.msg, "services.api.replicas");
    json_decref(set);
    set = json_pack("{s:i}", "image", 1);
    CHECK_INT_EQ(pkg_op_configure(ops, &p, &bob, "development", "api", set, NULL, &err),
                 ERR_INVALID);
    CHECK_CONTAINS(err.msg, "settings.image");
    json_decref(set);
    set = json_pack("{s:i}", "replicas", 2);
    CHECK_INT_EQ(pkg_op_configure(ops, &p, &bob, "development", "worker", set, NULL, &err),
                 ERR_NOTFOUND);
    CHECK_INT_EQ(pkg_op_configure(ops, &p, &bob, "qa", "api", set, NULL, &err), ERR_NOTFOUND);
    json_decref(set);
    CHECK_INT_EQ(commit_count(&p), n);
    pkg_ops_free(ops);
}

static bool name_collect(void *arg, const char *name)
{
    struct sbuf *b = arg;

    sbuf_printf(b, "%s;", name);
    return true;
}

TEST(ops_env_list_and_the_compiled_in_schemas)
{
    struct pkg_project p = project();
    struct pkg_ops *ops = NULL;
    struct sbuf names = SBUF_INIT(1024);
    struct err err = {0};

    OK(pkg_ops_new(&(struct pkg_ops_cfg){NULL}, &ops, &err)); /* schemas compiled in */
    OK(pkg_op_init(ops, &p, &alice, NULL, &err));
    OK(pkg_op_env_list(&p, name_collect, &names, &err));
    CHECK_STR_EQ(names.len ? names.buf : "", "");
    OK(pkg_op_env_create(ops, &p, &alice, "staging", NULL, NULL, &err));
    OK(pkg_op_env_create(ops, &p, &alice, "development", NULL, NULL, &err));
    OK(pkg_op_env_list(&p, name_collect, &names, &err));
    CHECK_STR_EQ(names.buf, "development;staging;");
    p.project_id = "no-such-project";
    CHECK_INT_EQ(pkg_op_env_list(&p, name_collect, &names, &err), ERR_NOTFOUND);
    sbuf_release(&names);
    pkg_ops_free(ops);
}
