/* The packager service verifies an internal token on every call: none, a bad one, an expired
 * one, an access token, a role that may not act: refused; the workspace and the commit author
 * come from the token. */
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

static void schema_dir(char *out, size_t n)
{
    const char *here = __FILE__, *cut = strstr(here, "tests/unit/pkg/");

    snprintf(out, n, "%.*sschema", cut ? (int)(cut - here) : 0, here);
}

struct env {
    struct auth_keyring *ring;
    struct pkg *pkg;
    char schemas[4096];
};

static void env_up(struct env *e)
{
    struct auth_key *k = NULL;
    struct err err = {0};

    e->ring = auth_keyring_new();
    OK(auth_key_generate(&k, &err));
    OK(auth_keyring_add(e->ring, k, &err));
    schema_dir(e->schemas, sizeof(e->schemas));
    OK(pkg_new(&(struct pkg_deps){.data_dir = test_tmpdir(),
                                  .schema_dir = e->schemas,
                                  .keys = e->ring,
                                  .issuer = ISS,
                                  .workload_domain = "apps.example.com"},
               &e->pkg, &err));
}

static void env_down(struct env *e)
{
    pkg_free(e->pkg);
    auth_keyring_free(e->ring);
}

/* An internal token for <ws> and <role>, issued <age> seconds ago; into <out>. */
static void token(struct env *e, const char *ws, const char *role, int64_t age, struct sbuf *out)
{
    struct auth_claims c = {.iss = ISS, .sub = "0193a000-0000-7000-8000-0000000000u1"};
    struct err err = {0};

    snprintf(c.ws, sizeof(c.ws), "%s", ws);
    snprintf(c.role, sizeof(c.role), "%s", role);
    snprintf(c.name, sizeof(c.name), "Ada Lovelace");
    snprintf(c.email, sizeof(c.email), "ada@example.com");
    sbuf_reset(out);
    OK(auth_internal_sign(e->ring, &c, (int64_t)time_wall_ms() / 1000 - age, out, &err));
}

static struct pkg_call call_with(struct sbuf *t)
{
    return (struct pkg_call){.token = sbuf_slice(t),
                             .workspace_slug = "acme",
                             .project_id = PROJ,
                             .project_slug = "shop",
                             .display_name = "Shop"};
}

/* Counts entries, and how many the token's user authored. */
static bool count_entry(void *arg, const struct pkg_deployment *d)
{
    int *n = arg;

    n[0]++;
    n[1] += strcmp(d->author_name, "Ada Lovelace") == 0 &&
            strcmp(d->author_email, "ada@example.com") == 0;
    return true;
}

TEST(pkg_service_refuses_calls_without_a_valid_internal_token)
{
    struct env e;
    struct sbuf t = SBUF_INIT(8192);
    struct pkg_call c;
    struct err err = {0};
    struct auth_claims ac = {.iss = ISS, .sub = "u", .aud = "slipway"};

    env_up(&e);
    c = call_with(&t);
    CHECK_INT_EQ(pkg_project_init(e.pkg, &c, NULL, &err), ERR_UNAUTHENTICATED);
    CHECK_CONTAINS(err.msg, "no internal token");

    sbuf_puts(&t, "not.a.token");
    c = call_with(&t);
    CHECK_INT_EQ(pkg_project_init(e.pkg, &c, NULL, &err), ERR_UNAUTHENTICATED);

    /* A user's access token is not an internal token. */
    sbuf_reset(&t);
    OK(auth_access_sign(e.ring, &ac, (int64_t)time_wall_ms() / 1000, 0, &t, &err));
    c = call_with(&t);
    CHECK_INT_EQ(pkg_project_init(e.pkg, &c, NULL, &err), ERR_UNAUTHENTICATED);

    token(&e, WS1, "USER", 600, &t); /* expired: internal tokens live 60 s */
    c = call_with(&t);
    CHECK_INT_EQ(pkg_deploy(e.pkg, &c, "prod", "api", "t1", "sha256:x", false, NULL, &err),
                 ERR_UNAUTHENTICATED);

    token(&e, WS1, "VIEWER", 0, &t);
    c = call_with(&t);
    CHECK_INT_EQ(pkg_project_init(e.pkg, &c, NULL, &err), ERR_FORBIDDEN);
    sbuf_release(&t);
    env_down(&e);
}

TEST(pkg_service_takes_workspace_and_author_from_the_token)
{
    struct env e;
    struct sbuf t = SBUF_INIT(8192);
    struct pkg_call c;
    struct err err = {0};
    char commit[41];
    int n[2] = {0, 0};
    json_t *svc =
        json_pack("{s:s, s:i}", "image", "registry.example.com/acme/shop/api", "port", 8080);

    env_up(&e);
    token(&e, WS1, "USER", 0, &t);
    c = call_with(&t);
    OK(pkg_project_init(e.pkg, &c, commit, &err));
    CHECK_UINT_EQ(strlen(commit), 40);
    OK(pkg_service_add(e.pkg, &c, "api", svc, NULL, &err));
    OK(pkg_env_create(e.pkg, &c, "production", NULL, NULL, &err));
    OK(pkg_deploy(e.pkg, &c, "production", "api", "3f2a1c9",
                  "sha256:9c1185a5c5e9fc54612808977ee8f548b2258d31c4d8c9a1e2b3f4a5b6c7d8e9", false,
                  NULL, &err));
    OK(pkg_history(e.pkg, &c, "production", "api", 10, count_entry, n, &err));
    CHECK_INT_EQ(n[0], 1);
    CHECK_INT_EQ(n[1], 1); /* authored by the token's user */

    /* The same project id under another workspace's token is another (absent) project. */
    token(&e, WS2, "ADMIN", 0, &t);
    c = call_with(&t);
    CHECK_INT_EQ(pkg_history(e.pkg, &c, "production", "api", 10, count_entry, n, &err),
                 ERR_NOTFOUND);
    json_decref(svc);
    sbuf_release(&t);
    env_down(&e);
}

static bool env_name_add(void *arg, const char *name)
{
    sbuf_printf(arg, "%s;", name);
    return true;
}

static bool project_name_add(void *arg, const struct pkg_project_info *pi)
{
    sbuf_printf(arg, "%s=%s;", pi->id, pi->name);
    return true;
}

/* Every public call on a packager with its database, naming the project by id only (the index
 * gives its name), as the gateway calls it. */
TEST(pkg_service_calls_by_project_id_through_the_index)
{
    struct auth_key *k = NULL;
    struct auth_keyring *ring = auth_keyring_new();
    struct sbuf t = SBUF_INIT(8192), names = SBUF_INIT(4096), archive = SBUF_INIT(PKG_EJECT_MAX);
    struct arena *a = arena_new(NULL);
    struct pkg_mirror_state st;
    const char *const *removed = NULL;
    struct pkg *p = NULL;
    struct store *s;
    struct err err = {0};
    size_t nremoved = 9;
    char url[4096], commit[41];
    json_t *svc = json_pack("{s:s, s:i}", "image", "registry.example.com/acme/api", "port", 8080);
    json_t *vars = json_pack("{s:s}", "TOKEN", "hunter2-secret");
    json_t *set = json_pack("{s:i}", "replicas", 2);
    struct pkg_call c;

    OK(auth_key_generate(&k, &err));
    OK(auth_keyring_add(ring, k, &err));
    dbtest_url(STORE_SQLITE, "svc", url, sizeof(url));
    s = dbtest_open(url, "packager", 4, 5000);
    OK(pkg_new(&(struct pkg_deps){.data_dir = test_tmpdir(),
                                  .keys = ring,
                                  .issuer = ISS,
                                  .workload_domain = "apps.example.com",
                                  .store = s},
               &p, &err));
    token(&(struct env){.ring = ring}, "acme", "USER", 0, &t);
    c = (struct pkg_call){.token = sbuf_slice(&t),
                          .workspace_slug = "acme",
                          .project_id = "shop",
                          .project_slug = "shop",
                          .display_name = "Shop"};
    OK(pkg_project_init(p, &c, commit, &err));
    c.project_slug = c.display_name = NULL; /* from now on by id only */
    OK(pkg_env_create(p, &c, "development", NULL, NULL, &err));
    OK(pkg_service_add(p, &c, "api", svc, NULL, &err));
    OK(pkg_set_variables(p, &c, "development", "api", vars, true, a, commit, &removed, &nremoved,
                         &err));
    CHECK_UINT_EQ(nremoved, 0);
    OK(pkg_configure(p, &c, "development", "api", set, NULL, &err));
    OK(pkg_env_list(p, &c, env_name_add, &names, &err));
    CHECK_STR_EQ(names.buf, "development;");
    sbuf_reset(&names);
    OK(pkg_project_list(p, &c, project_name_add, &names, &err));
    CHECK_STR_EQ(names.buf, "shop=shop;");
    OK(pkg_eject(p, &c, &archive, &err));
    CHECK(archive.len > 100 && memmem(archive.buf, archive.len, "hunter2", 7) == NULL);
    OK(pkg_mirror_status(p, &c, &st, &err));
    CHECK(!st.configured);
    CHECK_INT_EQ(pkg_mirror_configure(p, &c, "gopher://x", &err), ERR_INVALID);
    OK(pkg_service_remove(p, &c, "api", NULL, &err));
    OK(pkg_project_delete(p, &c, &err));
    CHECK_INT_EQ(pkg_env_create(p, &c, "staging", NULL, NULL, &err), ERR_NOTFOUND);
    CHECK_INT_EQ(pkg_eject(p, &c, &archive, &err), ERR_NOTFOUND);
    json_decref(svc);
    json_decref(vars);
    json_decref(set);
    pkg_free(p);
    store_close(s);
    auth_keyring_free(ring);
    arena_free(a);
    sbuf_release(&t);
    sbuf_release(&names);
    sbuf_release(&archive);
}
