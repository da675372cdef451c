/* Rendering an environment's manifests: golden files byte for byte, `kubectl kustomize`
 * accepting the result, and the errors a dangling reference gets.
 * SLIPWAY_GOLDEN_UPDATE=1 rewrites the golden files from the current output (review the diff). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "../test.h"
#include "base/base.h"
#include "pkg/pkg-int.h"

static const struct pkg_render_ctx shop = {
    .project_id = "01930000-0000-7000-8000-000000000001",
    .project_slug = "shop",
    .env = "production",
    .workspace_slug = "acme",
    .workload_domain = "apps.example.com",
};

/* The path of <rel> in the source tree, found from this file's own path. */
static void tree_path(char *out, size_t size, const char *rel)
{
    const char *me = __FILE__, *at = strstr(me, "tests/unit/pkg/");

    snprintf(out, size, "%.*s%s", at ? (int)(at - me) : 0, me, rel);
}

/* The whole file at <path> into <b>; false when it cannot be opened. */
static bool slurp(const char *path, struct sbuf *b)
{
    char chunk[4096];
    size_t n;
    FILE *f = fopen(path, "rb");

    if (f == NULL)
        return false;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        sbuf_put(b, chunk, n);
    fclose(f);
    return true;
}

/* Values text as JSON, checked against its schema so the tests only feed valid input. */
static json_t *values_json(struct slice text, const char *schema_name)
{
    struct err err = {0};
    struct pkg_yaml *doc;
    json_t *j, *schema;
    char path[4096];
    struct sbuf sb = SBUF_INIT(1 << 20);

    OK(pkg_yaml_parse(text, NULL, &doc, &err));
    OK(pkg_yaml_to_json(doc, &j, &err));
    pkg_yaml_free(doc);
    tree_path(path, sizeof(path), schema_name);
    CHECK(slurp(path, &sb));
    schema = json_loadb(sb.buf, sb.len, 0, NULL);
    CHECK(schema != NULL);
    OK(pkg_jschema_check(schema, j, &err));
    json_decref(schema);
    sbuf_release(&sb);
    return j;
}

static json_t *example_json(const char *name, const char *schema_name)
{
    char path[4096], rel[128];
    struct sbuf sb = SBUF_INIT(1 << 20);
    json_t *j;

    snprintf(rel, sizeof(rel), "tests/unit/pkg/values/%s.values.yaml", name);
    tree_path(path, sizeof(path), rel);
    CHECK(slurp(path, &sb));
    j = values_json(sbuf_slice(&sb), schema_name);
    sbuf_release(&sb);
    return j;
}

/* mkdir -p of <path>'s directory. */
static void make_parents(const char *path)
{
    char dir[4096];

    snprintf(dir, sizeof(dir), "%s", path);
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        CHECK(mkdir(dir, 0755) == 0 || errno == EEXIST);
        *p = '/';
    }
}

static void write_file(const char *path, struct slice data)
{
    FILE *f;

    make_parents(path);
    f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK(fwrite(data.ptr, 1, data.len, f) == data.len);
    CHECK(fclose(f) == 0);
}

/* Compares each rendered file environments/<env>/<f> with tests/unit/pkg/golden/<env>/<f>,
 * and checks that golden/<set> holds no other file. */
static void check_golden(const char *set, const struct pkg_file_out *files, size_t n)
{
    bool update = getenv("SLIPWAY_GOLDEN_UPDATE") != NULL;
    char path[4096], rel[1024], cmd[4200];
    struct sbuf want = SBUF_INIT(8 << 20), listing = SBUF_INIT(1 << 20);
    size_t count = 0;
    FILE *p;

    for (size_t i = 0; i < n; i++) {
        snprintf(rel, sizeof(rel), "tests/unit/pkg/golden/%s",
                 files[i].path + strlen("environments/"));
        tree_path(path, sizeof(path), rel);
        if (update)
            write_file(path, files[i].data);
        sbuf_reset(&want);
        if (!slurp(path, &want))
            test_fail(__FILE__, __LINE__, "%s is missing (SLIPWAY_GOLDEN_UPDATE=1 writes it)",
                      path);
        if (want.len != files[i].data.len || memcmp(want.buf, files[i].data.ptr, want.len) != 0)
            test_fail(__FILE__, __LINE__, "%s differs from the golden file %s:\n%.*s",
                      files[i].path, path, (int)files[i].data.len, files[i].data.ptr);
    }
    snprintf(rel, sizeof(rel), "tests/unit/pkg/golden/%s", set);
    tree_path(path, sizeof(path), rel);
    snprintf(cmd, sizeof(cmd), "find '%s' -type f | wc -l", path);
    p = popen(cmd, "r");
    CHECK(p != NULL);
    CHECK(fscanf(p, "%zu", &count) == 1);
    CHECK(pclose(p) == 0);
    CHECK_UINT_EQ(count, n);
    sbuf_release(&want);
    sbuf_release(&listing);
}

static struct pkg_file_out *render(const json_t *base, const json_t *env,
                                   const struct pkg_render_ctx *ctx, size_t *n, struct arena *a)
{
    struct pkg_file_out *files = NULL;
    struct err err = {0};

    OK(pkg_render_env(base, env, ctx, &files, n, a, &err));
    return files;
}

TEST(render_examples_match_golden_files)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 16 << 20});
    json_t *base = example_json("base", "schema/values-base.schema.json");
    json_t *env = example_json("production", "schema/values-env.schema.json");
    size_t n;
    const struct pkg_file_out *files = render(base, env, &shop, &n, a);

    CHECK_STR_EQ(files[0].path, "environments/production/kustomization.yaml");
    for (size_t i = 1; i < n; i++)
        CHECK(strcmp(files[i - 1].path, files[i].path) < 0);
    check_golden("production", files, n);
    json_decref(base);
    json_decref(env);
    arena_free(a);
}

TEST(render_is_deterministic)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 16 << 20});
    json_t *base = example_json("base", "schema/values-base.schema.json");
    json_t *env = example_json("production", "schema/values-env.schema.json");
    size_t n1, n2;
    const struct pkg_file_out *f1 = render(base, env, &shop, &n1, a);
    const struct pkg_file_out *f2 = render(base, env, &shop, &n2, a);

    CHECK_UINT_EQ(n1, n2);
    for (size_t i = 0; i < n1; i++) {
        CHECK_STR_EQ(f1[i].path, f2[i].path);
        CHECK_MEM_EQ(f1[i].data.ptr, f1[i].data.len, f2[i].data.ptr, f2[i].data.len);
    }
    json_decref(base);
    json_decref(env);
    arena_free(a);
}

/* The branches production does not take: a suspended service with autoscaling (no replicas,
 * no autoscaler, no budget), fixed replicas >= 2 (a budget), the custom tier, a shared secret,
 * a service without an image yet (nothing rendered for it), host and port references. */
static const char staging_values[] =
    "schemaVersion: 1\n"
    "services:\n"
    "  api:\n"
    "    image: {tag: v1.2.0, digest: "
    "\"sha256:1111111111111111111111111111111111111111111111111111111111111111\"}\n"
    "    replicas: 3\n"
    "    resources: {tier: custom, cpu: \"2\", memory: 2Gi}\n"
    "    variables:\n"
    "      TOKEN: {shared: API_TOKEN}\n"
    "      WEB_HOST: {service: web, field: host}\n"
    "      WEB_PORT: {service: web, field: port}\n"
    "      REDIS: {database: cache, field: url}\n"
    "      GREETING: \"yes: it's \\\"quoted\\\"\"\n"
    "  web:\n"
    "    image: {tag: v1.2.0, digest: "
    "\"sha256:2222222222222222222222222222222222222222222222222222222222222222\"}\n"
    "    autoscaling: {min: 2, max: 4}\n"
    "    suspended: true\n"
    "    domains: [staging.shop.example.com]\n"
    "sharedVariables:\n"
    "  API_TOKEN: {secret: \"enc:v1:bm9uY2U=:c2VjcmV0\"}\n";

/* The same project's staging environment. */
static struct pkg_render_ctx staging_ctx(void)
{
    struct pkg_render_ctx c = shop;

    c.env = "staging";
    return c;
}

TEST(render_staging_branches_match_golden_files)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 16 << 20});
    json_t *base = example_json("base", "schema/values-base.schema.json");
    json_t *env = values_json(SLICE(staging_values), "schema/values-env.schema.json");
    struct pkg_render_ctx ctx = staging_ctx();
    size_t n;
    const struct pkg_file_out *files = render(base, env, &ctx, &n, a);

    check_golden("staging", files, n);
    for (size_t i = 0; i < n; i++) {
        /* a suspended service keeps no autoscaler or budget; nothing leaks a plaintext */
        CHECK(strstr(files[i].path, "hpa-web") == NULL);
        CHECK(strstr(files[i].path, "pdb-web") == NULL);
        CHECK(strstr(files[i].data.ptr, "c2VjcmV0") == NULL ||
              strstr(files[i].path, "sealedsecret") != NULL);
    }
    json_decref(base);
    json_decref(env);
    arena_free(a);
}

/* Writes <files> under <dir> and runs `kubectl kustomize` on <dir>/environments/<env>. */
static int kustomize(const char *dir, const struct pkg_file_out *files, size_t n, const char *env)
{
    char path[4096], cmd[8400];
    int st;

    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i].path);
        write_file(path, files[i].data);
    }
    snprintf(cmd, sizeof(cmd), "kubectl kustomize '%s/environments/%s' >'%s/out.yaml' 2>&1", dir,
             env, dir);
    st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(render_builds_with_kubectl_kustomize_and_parses)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 16 << 20});
    json_t *base = example_json("base", "schema/values-base.schema.json");
    json_t *prod = example_json("production", "schema/values-env.schema.json");
    json_t *stag = values_json(SLICE(staging_values), "schema/values-env.schema.json");
    struct pkg_render_ctx ctx = staging_ctx();
    size_t np, ns;
    const struct pkg_file_out *fp = render(base, prod, &shop, &np, a);
    const struct pkg_file_out *fs = render(base, stag, &ctx, &ns, a);
    struct err err = {0};
    struct sbuf out = SBUF_INIT(8 << 20);
    char path[4096];

    for (size_t i = 0; i < np + ns; i++) {
        const struct pkg_file_out *f = i < np ? &fp[i] : &fs[i - np];
        struct pkg_yaml *doc;

        OK(pkg_yaml_parse(f->data, NULL, &doc, &err));
        CHECK(pkg_yaml_is_map(doc, ""));
        pkg_yaml_free(doc);
    }
    if (system("kubectl version --client >/dev/null 2>&1") != 0) {
        printf("# SKIP kubectl kustomize: kubectl is not installed\n");
    } else {
        snprintf(path, sizeof(path), "%s/out.yaml", test_tmpdir());
        if (kustomize(test_tmpdir(), fp, np, "production") != 0 ||
            kustomize(test_tmpdir(), fs, ns, "staging") != 0) {
            CHECK(slurp(path, &out));
            test_fail(__FILE__, __LINE__, "kubectl kustomize failed:\n%s", out.buf);
        }
        CHECK(slurp(path, &out));
        CHECK_CONTAINS(out.buf, "kind: SealedSecret");
        CHECK_CONTAINS(out.buf, "namespace: acme-shop-staging");
    }
    sbuf_release(&out);
    json_decref(base);
    json_decref(prod);
    json_decref(stag);
    arena_free(a);
}

static int render_err(const char *env_text, const struct pkg_render_ctx *ctx, struct err *err)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 16 << 20});
    json_t *base = example_json("base", "schema/values-base.schema.json");
    json_t *env = values_json(slice_from_cstr(env_text), "schema/values-env.schema.json");
    struct pkg_file_out *files;
    size_t n;
    int rc = pkg_render_env(base, env, ctx, &files, &n, a, err);

    json_decref(base);
    json_decref(env);
    arena_free(a);
    return rc;
}

#define IMG                                                                                        \
    "image: {tag: a, digest: "                                                                     \
    "\"sha256:1111111111111111111111111111111111111111111111111111111111111111\"}"

TEST(render_refuses_dangling_references_naming_the_key)
{
    static const struct {
        const char *values, *message;
    } cases[] = {
        {"schemaVersion: 1\nservices:\n  api:\n    " IMG
         "\n    variables:\n      X: {shared: NOPE}\n",
         "services.api.variables.X: shared variable NOPE does not exist"},
        {"schemaVersion: 1\nservices:\n  api:\n    " IMG
         "\n    variables:\n      X: {database: nope, field: url}\n",
         "services.api.variables.X: database nope does not exist"},
        {"schemaVersion: 1\nservices:\n  api:\n    " IMG
         "\n    variables:\n      X: {service: nope, field: host}\n",
         "services.api.variables.X: service nope does not exist"},
        {"schemaVersion: 1\nservices:\n  api:\n    " IMG
         "\n    variables:\n      X: {shared: A}\nsharedVariables:\n  A: {shared: B}\n  B: b\n",
         "services.api.variables.X: shared variable A refers to another shared variable"},
        {"schemaVersion: 1\nservices:\n  worker:\n    " IMG "\n",
         "services.worker: not in base/values.yaml"},
    };
    struct pkg_render_ctx bad = shop;
    struct err err = {0};

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        CHECK_INT_EQ(render_err(cases[i].values, &shop, &err), ERR_INVALID);
        CHECK_STR_EQ(err.msg, cases[i].message);
    }
    bad.env = "Prod";
    CHECK_INT_EQ(render_err("schemaVersion: 1\nservices: {}\n", &bad, &err), ERR_INVALID);
    bad.env = "production-with-a-very-long-name-that-goes-on-and-on-and-on";
    CHECK_INT_EQ(render_err("schemaVersion: 1\nservices: {}\n", &bad, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "over 63 bytes");
}
