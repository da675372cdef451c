/* Reading what an environment wants: both values files merged, variables as stored and as a
 * container sees them, resources amounts, and who may read. */
#include <jansson.h>
#include <stdio.h>

#include "../test.h"

#include <string.h>

#include "../dbtest.h"
#include "base/base.h"
#include "pkg/pkg-int.h"

#define ISS  "http://slipway.test"
#define WS1  "0193a000-0000-7000-8000-000000000001"
#define WS2  "0193a000-0000-7000-8000-000000000002"
#define PROJ "0193a000-0000-7000-8000-0000000000aa"
#define D1   "sha256:9c1185a5c5e9fc54612808977ee8f548b2258d31c4d8c9a1e2b3f4a5b6c7d8e9"

struct env {
    struct auth_keyring *ring;
    struct store *store;
    struct pkg *pkg;
    struct sbuf tok;
    struct pkg_call c;
    struct arena *a;
};

/* A token of <ws> and <role> for e->c. */
static void as(struct env *e, const char *ws, const char *role)
{
    struct auth_claims c = {.iss = ISS, .sub = "0193a000-0000-7000-8000-0000000000u1"};
    struct err err = {0};

    snprintf(c.ws, sizeof(c.ws), "%s", ws);
    snprintf(c.role, sizeof(c.role), "%s", role);
    snprintf(c.name, sizeof(c.name), "Ada Lovelace");
    snprintf(c.email, sizeof(c.email), "ada@example.com");
    sbuf_reset(&e->tok);
    OK(auth_internal_sign(e->ring, &c, (int64_t)time_wall_ms() / 1000, &e->tok, &err));
    e->c = (struct pkg_call){.token = sbuf_slice(&e->tok),
                             .workspace_slug = "acme",
                             .project_id = PROJ,
                             .project_slug = "shop",
                             .display_name = "Shop"};
}

static void env_up(struct env *e)
{
    struct auth_key *k = NULL;
    struct err err = {0};
    char url[4096];

    e->ring = auth_keyring_new();
    OK(auth_key_generate(&k, &err));
    OK(auth_keyring_add(e->ring, k, &err));
    dbtest_url(STORE_SQLITE, "read", url, sizeof(url));
    e->store = dbtest_open(url, "packager", 4, 5000);
    OK(pkg_new(&(struct pkg_deps){.data_dir = test_tmpdir(),
                                  .keys = e->ring,
                                  .issuer = ISS,
                                  .workload_domain = "apps.example.com",
                                  .store = e->store},
               &e->pkg, &err));
    e->tok = (struct sbuf)SBUF_INIT(8192);
    e->a = arena_new(NULL);
    as(e, WS1, "USER");
}

static void env_down(struct env *e)
{
    pkg_free(e->pkg);
    store_close(e->store);
    auth_keyring_free(e->ring);
    sbuf_release(&e->tok);
    arena_free(e->a);
}

static void json_call(int rc, json_t *j, struct err *err)
{
    if (rc < 0)
        test_fail(__FILE__, __LINE__, "call failed: %s", err->msg);
    json_decref(j);
}

/* A project "shop" with services api and web, environments production and staging; in
 * production api is deployed, configured, has a custom domain and one variable of each form
 * but a database reference; web is suspended on the large tier. */
static void project_up(struct env *e)
{
    struct pkg_call *c = &e->c;
    struct err err = {0};
    json_t *j;

    OK(pkg_project_init(e->pkg, c, NULL, &err));
    j = json_pack("{s:s, s:i, s:s, s:s, s:s, s:{s:s, s:s, s:s}}", "image",
                  "registry.example.com/acme/shop/api", "port", 8080, "healthCheckPath", "/health",
                  "framework", "express", "startCommand", "node server.js", "source", "repository",
                  "https://git.example.com/acme/shop.git", "ref", "main", "contextPath", "api");
    json_call(pkg_service_add(e->pkg, c, "api", j, NULL, &err), j, &err);
    j = json_pack("{s:s, s:i}", "image", "registry.example.com/acme/shop/web", "port", 3000);
    json_call(pkg_service_add(e->pkg, c, "web", j, NULL, &err), j, &err);
    OK(pkg_env_create(e->pkg, c, "production", NULL, NULL, &err));
    OK(pkg_env_create(e->pkg, c, "staging", NULL, NULL, &err));
    OK(pkg_deploy(e->pkg, c, "production", "api", "v1", D1, false, NULL, &err));
    j = json_pack("{s:i, s:{s:s, s:s, s:s}, s:s, s:{s:i, s:i}}", "replicas", 3, "resources", "tier",
                  "custom", "cpu", "0.5", "memory", "768Mi", "customStartCommand", "node x.js",
                  "autoscaling", "min", 2, "max", 5);
    json_call(pkg_configure(e->pkg, c, "production", "api", j, NULL, &err), j, &err);
    j = json_pack("{s:b, s:{s:s}}", "suspended", 1, "resources", "tier", "large");
    json_call(pkg_configure(e->pkg, c, "production", "web", j, NULL, &err), j, &err);
    OK(pkg_domain_add(e->pkg, c, "production", "api", "shop.example.com", NULL, &err));
    j = json_pack("{s:s}", "DB_HOST", "db.internal");
    json_call(
        pkg_set_variables(e->pkg, c, "production", NULL, j, false, e->a, NULL, NULL, NULL, &err), j,
        &err);
    j = json_pack("{s:s}", "SHARED_KEY", "s3cr3t-shared");
    json_call(
        pkg_set_variables(e->pkg, c, "production", NULL, j, true, e->a, NULL, NULL, NULL, &err), j,
        &err);
    j = json_pack("{s:s, s:{s:s}, s:{s:s}, s:{s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:s}}", "PLAIN",
                  "hello", "REF", "shared", "DB_HOST", "SREF", "shared", "SHARED_KEY", "WEB_URL",
                  "service", "web", "field", "internalUrl", "WEB_HOST", "service", "web", "field",
                  "host", "WEB_PORT", "service", "web", "field", "port");
    json_call(
        pkg_set_variables(e->pkg, c, "production", "api", j, false, e->a, NULL, NULL, NULL, &err),
        j, &err);
    j = json_pack("{s:s}", "API_TOKEN", "hunter2-secret");
    json_call(
        pkg_set_variables(e->pkg, c, "production", "api", j, true, e->a, NULL, NULL, NULL, &err), j,
        &err);
}

/* Commits <text> as environments/staging/values.yaml and a database into base, as a human
 * could push them (no op writes a database yet). */
static void staging_by_hand(struct env *e, const char *text)
{
    struct sbuf path = SBUF_INIT(4096), base = SBUF_INIT(1 << 16);
    struct pkg_repo *r = NULL;
    struct slice old;
    struct err err = {0};
    char oid[41];

    OK(pkg_repo_path(test_tmpdir(), slice_from_cstr(WS1), slice_from_cstr(PROJ), &path, &err));
    OK(pkg_repo_open(path.buf, &r, &err));
    OK(pkg_repo_read(r, NULL, "base/values.yaml", e->a, &old, &err));
    sbuf_printf(&base, SLICE_FMT "databases:\n  main:\n    engine: postgres\n", SLICE_ARG(old));
    struct pkg_change ch[] = {
        {PKG_PUT, "base/values.yaml", sbuf_slice(&base)},
        {PKG_PUT, "environments/staging/values.yaml", slice_from_cstr(text)},
    };
    OK(pkg_repo_commit(
        r, &(struct pkg_commit_req){ch, 2, {"Ada", "ada@example.com"}, "by hand", NULL, 0}, oid,
        &err));
    pkg_repo_close(r);
    sbuf_release(&path);
    sbuf_release(&base);
}

TEST(pkg_read_quantities)
{
    static const struct {
        const char *s;
        enum pkg_quantity kind;
        uint64_t want;
    } ok[] = {
        {"2", PKG_QTY_CPU, 2000},
        {"0.5", PKG_QTY_CPU, 500},
        {"500m", PKG_QTY_CPU, 500},
        {"1.5m", PKG_QTY_CPU, 2},
        {"0.0001", PKG_QTY_CPU, 1},
        {"0.0000000001", PKG_QTY_CPU, 1},
        {"1.250", PKG_QTY_CPU, 1250},
        {"512Ki", PKG_QTY_MEMORY, 512 << 10},
        {"768Mi", PKG_QTY_MEMORY, 768u << 20},
        {"1Gi", PKG_QTY_MEMORY, 1u << 30},
        {"16384Gi", PKG_QTY_MEMORY, 16384ull << 30},
    };
    static const struct {
        const char *s;
        enum pkg_quantity kind;
    } bad[] = {
        {"", PKG_QTY_CPU},
        {"m", PKG_QTY_CPU},
        {"1.", PKG_QTY_CPU},
        {"-1", PKG_QTY_CPU},
        {"1e3", PKG_QTY_CPU},
        {"2 ", PKG_QTY_CPU},
        {"1Gi", PKG_QTY_CPU},
        {"300M", PKG_QTY_MEMORY},
        {"1.5Gi", PKG_QTY_MEMORY},
        {"512", PKG_QTY_MEMORY},
        {"500m", PKG_QTY_MEMORY},
        {"99999999999999999999", PKG_QTY_CPU},
        {"99999999999Gi", PKG_QTY_MEMORY},
    };
    struct err err = {0};
    uint64_t v;

    for (size_t i = 0; i < ARRAY_LEN(ok); i++) {
        v = 0;
        OK(pkg_quantity_parse(ok[i].s, ok[i].kind, &v, &err));
        CHECK_UINT_EQ(v, ok[i].want);
    }
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        CHECK_INT_EQ(pkg_quantity_parse(bad[i].s, bad[i].kind, &v, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "memory amount");
    CHECK_INT_EQ(pkg_quantity_parse(NULL, PKG_QTY_CPU, &v, &err), ERR_INVALID);
}

static const struct pkg_var *var_find(const struct pkg_service_info *s, const char *key)
{
    for (size_t i = 0; i < s->nvars; i++)
        if (strcmp(s->vars[i].key, key) == 0)
            return &s->vars[i];
    return NULL;
}

TEST(pkg_read_env_services_merges_base_and_environment)
{
    struct env e;
    struct pkg_service_info *s = NULL;
    const struct pkg_service_info *api, *web;
    const struct pkg_var *v;
    struct err err = {0};
    size_t n = 9;

    env_up(&e);
    project_up(&e);
    OK(pkg_env_services(e.pkg, &e.c, "production", e.a, &s, &n, &err));
    CHECK_UINT_EQ(n, 2);
    api = &s[0];
    web = &s[1];
    CHECK_STR_EQ(api->name, "api");
    CHECK_STR_EQ(web->name, "web");
    CHECK_STR_EQ(api->image, "registry.example.com/acme/shop/api");
    CHECK_STR_EQ(api->tag, "v1");
    CHECK_STR_EQ(api->digest, D1);
    CHECK_INT_EQ(api->port, 8080);
    CHECK_STR_EQ(api->framework, "express");
    CHECK_STR_EQ(api->start_command, "node server.js");
    CHECK_STR_EQ(api->custom_start_command, "node x.js");
    CHECK_STR_EQ(api->health_path, "/health");
    CHECK_STR_EQ(api->source_url, "https://git.example.com/acme/shop.git");
    CHECK_STR_EQ(api->source_ref, "main");
    CHECK_STR_EQ(api->context_path, "api");
    CHECK_INT_EQ(api->replicas, 3);
    CHECK(!api->suspended);
    CHECK_INT_EQ(api->autoscale_min, 2);
    CHECK_INT_EQ(api->autoscale_max, 5);
    CHECK_INT_EQ(api->autoscale_cpu, 80);
    CHECK_STR_EQ(api->tier, "custom");
    CHECK_UINT_EQ(api->cpu_millis, 500);
    CHECK_UINT_EQ(api->memory_bytes, 768u << 20);
    CHECK_STR_EQ(api->platform_domain, "api-production-shop.apps.example.com");
    CHECK_UINT_EQ(api->ndomains, 1);
    CHECK_STR_EQ(api->domains[0], "shop.example.com");

    /* Variables in key order, as stored; the secret masked. */
    CHECK_UINT_EQ(api->nvars, 7);
    CHECK_STR_EQ(api->vars[0].key, "API_TOKEN");
    CHECK_STR_EQ(api->vars[6].key, "WEB_URL");
    for (size_t i = 1; i < api->nvars; i++)
        CHECK(strcmp(api->vars[i - 1].key, api->vars[i].key) < 0);
    CHECK_INT_EQ(api->vars[0].form, PKG_VAR_SECRET);
    CHECK_STR_EQ(api->vars[0].value, "********");
    v = var_find(api, "PLAIN");
    CHECK(v != NULL && v->form == PKG_VAR_LITERAL);
    CHECK_STR_EQ(v->value, "hello");
    v = var_find(api, "SREF");
    CHECK(v != NULL && v->form == PKG_VAR_SHARED);
    CHECK_STR_EQ(v->shared, "SHARED_KEY");
    v = var_find(api, "WEB_URL");
    CHECK(v != NULL && v->form == PKG_VAR_SERVICE);
    CHECK_STR_EQ(v->service, "web");
    CHECK_STR_EQ(v->field, "internalUrl");

    /* web: not deployed, suspended, large, base's replicas default. */
    CHECK(web->tag == NULL && web->digest == NULL);
    CHECK(web->suspended);
    CHECK_INT_EQ(web->replicas, 1);
    CHECK_INT_EQ(web->autoscale_max, 0);
    CHECK_STR_EQ(web->tier, "large");
    CHECK_UINT_EQ(web->cpu_millis, 1000);
    CHECK_UINT_EQ(web->memory_bytes, 1u << 30);
    CHECK(web->framework == NULL && web->source_url == NULL && web->custom_start_command == NULL);
    CHECK_UINT_EQ(web->ndomains, 0);
    CHECK_UINT_EQ(web->nvars, 0);

    /* staging: nothing set, the small tier. */
    OK(pkg_env_services(e.pkg, &e.c, "staging", e.a, &s, &n, &err));
    CHECK_UINT_EQ(n, 2);
    CHECK_STR_EQ(s[0].tier, "small");
    CHECK_UINT_EQ(s[0].cpu_millis, 250);
    CHECK_UINT_EQ(s[0].memory_bytes, 256u << 20);
    CHECK(s[0].tag == NULL);
    CHECK_STR_EQ(s[1].platform_domain, "web-staging-shop.apps.example.com");
    env_down(&e);
}

TEST(pkg_read_shared_variables_are_masked)
{
    struct env e;
    struct pkg_var *v = NULL;
    struct err err = {0};
    size_t n = 0;

    env_up(&e);
    project_up(&e);
    OK(pkg_shared_variables(e.pkg, &e.c, "production", e.a, &v, &n, &err));
    CHECK_UINT_EQ(n, 2);
    CHECK_STR_EQ(v[0].key, "DB_HOST");
    CHECK_INT_EQ(v[0].form, PKG_VAR_LITERAL);
    CHECK_STR_EQ(v[0].value, "db.internal");
    CHECK_STR_EQ(v[1].key, "SHARED_KEY");
    CHECK_INT_EQ(v[1].form, PKG_VAR_SECRET);
    CHECK_STR_EQ(v[1].value, "********");
    OK(pkg_shared_variables(e.pkg, &e.c, "staging", e.a, &v, &n, &err));
    CHECK_UINT_EQ(n, 0);
    env_down(&e);
}

TEST(pkg_read_service_env_resolves_every_form)
{
    static const char *const want[] = {
        "API_TOKEN=hunter2-secret",
        "PLAIN=hello",
        "REF=db.internal",
        "SREF=s3cr3t-shared",
        "WEB_HOST=web-production-shop.apps.example.com",
        "WEB_PORT=8443",
        "WEB_URL=http://web-production-shop.apps.example.com:8443",
    };
    struct env e;
    const char **kv = NULL;
    struct err err = {0};
    size_t n = 0;

    env_up(&e);
    project_up(&e);
    OK(pkg_service_env(e.pkg, &e.c, "production", "api", 8443, e.a, &kv, &n, &err));
    CHECK_UINT_EQ(n, ARRAY_LEN(want));
    for (size_t i = 0; i < n; i++)
        CHECK_STR_EQ(kv[i], want[i]);
    OK(pkg_service_env(e.pkg, &e.c, "production", "web", 8443, e.a, &kv, &n, &err));
    CHECK_UINT_EQ(n, 0);

    /* A committed platform domain wins over the default; a database reference is refused
     * naming the variable. */
    staging_by_hand(&e, "schemaVersion: 1\n"
                        "services:\n"
                        "  web:\n"
                        "    platformDomain: web-2.apps.example.com\n"
                        "  api:\n"
                        "    variables:\n"
                        "      A_WEB: {service: web, field: host}\n"
                        "      DB_URL: {database: main, field: url}\n");
    CHECK_INT_EQ(pkg_service_env(e.pkg, &e.c, "staging", "api", 80, e.a, &kv, &n, &err),
                 ERR_INVALID);
    CHECK_STR_EQ(err.msg, "services.api.variables.DB_URL: databases are not available yet");
    CHECK(kv == NULL && n == 0);
    {
        struct pkg_service_info *s = NULL;

        OK(pkg_env_services(e.pkg, &e.c, "staging", e.a, &s, &n, &err));
        CHECK_STR_EQ(s[1].platform_domain, "web-2.apps.example.com");
        CHECK_INT_EQ(s[0].vars[1].form, PKG_VAR_DATABASE);
        CHECK_STR_EQ(s[0].vars[1].database, "main");
        CHECK_STR_EQ(s[0].vars[1].field, "url");
    }
    env_down(&e);
}

TEST(pkg_read_refuses_unknown_names_and_other_workspaces)
{
    struct env e;
    struct pkg_service_info *s = NULL;
    struct pkg_var *v = NULL;
    const char **kv = NULL;
    struct err err = {0};
    size_t n = 0;

    env_up(&e);
    project_up(&e);
    CHECK_INT_EQ(pkg_env_services(e.pkg, &e.c, "nope", e.a, &s, &n, &err), ERR_NOTFOUND);
    CHECK_CONTAINS(err.msg, "environment nope");
    CHECK_INT_EQ(pkg_shared_variables(e.pkg, &e.c, "nope", e.a, &v, &n, &err), ERR_NOTFOUND);
    CHECK_INT_EQ(pkg_service_env(e.pkg, &e.c, "production", "nope", 80, e.a, &kv, &n, &err),
                 ERR_NOTFOUND);
    CHECK_CONTAINS(err.msg, "service nope");
    CHECK_INT_EQ(pkg_service_env(e.pkg, &e.c, "nope", "api", 80, e.a, &kv, &n, &err), ERR_NOTFOUND);
    CHECK_INT_EQ(pkg_env_services(e.pkg, &e.c, "../x", e.a, &s, &n, &err), ERR_INVALID);

    /* Another workspace's token: the same project id is another, absent project. */
    as(&e, WS2, "ADMIN");
    CHECK_INT_EQ(pkg_env_services(e.pkg, &e.c, "production", e.a, &s, &n, &err), ERR_NOTFOUND);
    CHECK_INT_EQ(pkg_service_env(e.pkg, &e.c, "production", "api", 80, e.a, &kv, &n, &err),
                 ERR_NOTFOUND);

    /* ADMIN and USER read; a role that may not act on projects reads nothing. */
    as(&e, WS1, "ADMIN");
    OK(pkg_service_env(e.pkg, &e.c, "production", "api", 80, e.a, &kv, &n, &err));
    as(&e, WS1, "VIEWER");
    CHECK_INT_EQ(pkg_env_services(e.pkg, &e.c, "production", e.a, &s, &n, &err), ERR_FORBIDDEN);
    CHECK_INT_EQ(pkg_service_env(e.pkg, &e.c, "production", "api", 80, e.a, &kv, &n, &err),
                 ERR_FORBIDDEN);
    env_down(&e);
}

static bool newest_message(void *arg, const struct pkg_log_entry *le)
{
    snprintf(arg, 200, "%s", le->message);
    return false;
}

/* The file <path> at main, NUL-terminated in e->a. */
static const char *file_at(struct env *e, const char *path)
{
    struct sbuf rp = SBUF_INIT(4096);
    struct pkg_repo *r = NULL;
    struct slice text = {0};
    struct err err = {0};

    OK(pkg_repo_path(test_tmpdir(), slice_from_cstr(WS1), slice_from_cstr(PROJ), &rp, &err));
    OK(pkg_repo_open(rp.buf, &r, &err));
    OK(pkg_repo_read(r, NULL, path, e->a, &text, &err));
    pkg_repo_close(r);
    sbuf_release(&rp);
    return text.ptr;
}

TEST(pkg_read_env_resources_default_services_without_their_own)
{
    struct env e;
    struct pkg_env_resources r = {0};
    struct pkg_service_info *s = NULL;
    struct err err = {0};
    struct sbuf rp = SBUF_INIT(4096);
    struct pkg_repo *repo = NULL;
    char msg[200] = "", commit[41];
    size_t n = 0;
    json_t *j;

    env_up(&e);
    project_up(&e);
    OK(pkg_env_resources_get(e.pkg, &e.c, "staging", e.a, &r, &err));
    CHECK(!r.set);

    /* Each field's range is checked, naming it. */
    r = (struct pkg_env_resources){.tier = "BIG", .cpu_millis = 1500, .memory_mb = 2048};
    CHECK_INT_EQ(pkg_env_resources_set(e.pkg, &e.c, "staging", &r, NULL, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "tier: must be ECO or PRODUCTION");
    r.tier = "PRODUCTION";
    r.cpu_millis = 50;
    CHECK_INT_EQ(pkg_env_resources_set(e.pkg, &e.c, "staging", &r, NULL, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "cpuMillicores: must be 100..32000");
    r.cpu_millis = 1500;
    r.disk_mb = 200000;
    CHECK_INT_EQ(pkg_env_resources_set(e.pkg, &e.c, "staging", &r, NULL, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "diskMB: must be 0..102400");
    r.disk_mb = 10240;
    CHECK_INT_EQ(pkg_env_resources_set(e.pkg, &e.c, "nope", &r, NULL, &err), ERR_NOTFOUND);

    OK(pkg_env_resources_set(e.pkg, &e.c, "staging", &r, commit, &err));
    CHECK_UINT_EQ(strlen(commit), 40);
    OK(pkg_repo_path(test_tmpdir(), slice_from_cstr(WS1), slice_from_cstr(PROJ), &rp, &err));
    OK(pkg_repo_open(rp.buf, &repo, &err));
    OK(pkg_repo_log(repo, NULL, 1, newest_message, msg, &err));
    pkg_repo_close(repo);
    sbuf_release(&rp);
    CHECK_STR_EQ(msg, "config(staging): resources PRODUCTION 1500m/2048Mi");
    r = (struct pkg_env_resources){0};
    OK(pkg_env_resources_get(e.pkg, &e.c, "staging", e.a, &r, &err));
    CHECK(r.set);
    CHECK_STR_EQ(r.tier, "PRODUCTION");
    CHECK_INT_EQ(r.cpu_millis, 1500);
    CHECK_INT_EQ(r.memory_mb, 2048);
    CHECK_INT_EQ(r.disk_mb, 10240);

    /* api takes the environment's amounts, in the reads and in its manifest; web keeps its own
     * tier. */
    OK(pkg_deploy(e.pkg, &e.c, "staging", "api", "v1", D1, false, NULL, &err));
    j = json_pack("{s:{s:s}}", "resources", "tier", "medium");
    json_call(pkg_configure(e.pkg, &e.c, "staging", "web", j, NULL, &err), j, &err);
    OK(pkg_env_services(e.pkg, &e.c, "staging", e.a, &s, &n, &err));
    CHECK_STR_EQ(s[0].tier, "PRODUCTION");
    CHECK_UINT_EQ(s[0].cpu_millis, 1500);
    CHECK_UINT_EQ(s[0].memory_bytes, 2048ull << 20);
    CHECK_STR_EQ(s[1].tier, "medium");
    CHECK_UINT_EQ(s[1].cpu_millis, 500);
    CHECK_CONTAINS(file_at(&e, "environments/staging/manifests/deployment-api.yaml"),
                   "            limits:\n              cpu: 1500m\n              memory: 2048Mi\n");

    /* Production is untouched; a role that may not configure sets nothing. */
    OK(pkg_env_resources_get(e.pkg, &e.c, "production", e.a, &r, &err));
    CHECK(!r.set);
    as(&e, WS1, "VIEWER");
    CHECK_INT_EQ(pkg_env_resources_set(e.pkg, &e.c, "staging", &r, NULL, &err), ERR_FORBIDDEN);
    env_down(&e);
}
