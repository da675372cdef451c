/* Eject (src/pkg/eject.c): the archive of a project with two environments, services, deploys
 * and a secret, checked with the tools a user would run on it (tar, git, kubectl, bash);
 * byte-identical ejects; an unknown project; the size bound; ejects racing 20 deploys. */
#include "../test.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "pkg/pkg-int.h"

#define WS     "01890a5d-ac96-774b-bcce-b302099a8057"
#define PROJ   "01890a5d-ac96-7a4b-8cce-b302099a8058"
#define OTHER  "01890a5d-ac96-7a4b-8cce-b302099a8059"
#define CANARY "sk_live_eject_canary_7781"

#define DIG_A "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DIG_B "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static const struct pkg_author carol = {"Carol Example", "carol@example.com"};

static struct pkg_project project(void)
{
    return (struct pkg_project){test_tmpdir(),     WS, PROJ, "acme", "shop", "Shop",
                                "apps.example.com"};
}

/* Runs the shell command made of <fmt>; returns its exit status (-1 when it did not run). */
static int sh(const char *fmt, ...) APP_PRINTF(1, 2);
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    int st;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    st = system(cmd);
    return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

static struct pkg_ops *ops_open(void)
{
    const char *me = __FILE__, *at = strstr(me, "tests/unit/pkg/");
    char dir[4096];
    struct pkg_ops *ops = NULL;
    struct err err = {0};

    snprintf(dir, sizeof(dir), "%.*sschema", at ? (int)(at - me) : 0, me);
    OK(pkg_ops_new(&(struct pkg_ops_cfg){dir}, &ops, &err));
    return ops;
}

static void add_services(struct pkg_ops *ops, const struct pkg_project *p)
{
    struct err err = {0};
    json_t *api = json_pack("{s:s, s:i, s:{s:s, s:s, s:s}, s:s, s:s, s:s}", "image",
                            "registry.example.com/acme/shop/api", "port", 8080, "source",
                            "repository", "https://git.example.com/acme/shop.git", "ref", "main",
                            "contextPath", "services/api", "framework", "express", "startCommand",
                            "node server.js --name it's", "healthCheckPath", "/healthz");
    json_t *web =
        json_pack("{s:s, s:i}", "image", "registry.example.com/acme/shop/web", "port", 3000);

    OK(pkg_op_add_service(ops, p, &carol, "api", api, NULL, &err));
    OK(pkg_op_add_service(ops, p, &carol, "web", web, NULL, &err));
    json_decref(api);
    json_decref(web);
}

static void add_variables(struct pkg_ops *ops, const struct pkg_project *p)
{
    struct arena *a = arena_new(NULL);
    struct err err = {0};
    json_t *shared = json_pack("{s:s}", "SHOP_NAME", "Acme Shop");
    json_t *vars = json_pack("{s:s, s:{s:s}}", "LOG_LEVEL", "info", "NAME", "shared", "SHOP_NAME");
    json_t *secret = json_pack("{s:s}", "STRIPE_KEY", CANARY);

    OK(pkg_op_set_variables(ops, p, &carol, "production", NULL, shared, false, a, NULL, &err));
    OK(pkg_op_set_variables(ops, p, &carol, "production", "api", vars, false, a, NULL, &err));
    OK(pkg_op_set_variables(ops, p, &carol, "production", "api", secret, true, a, NULL, &err));
    json_decref(shared);
    json_decref(vars);
    json_decref(secret);
    arena_free(a);
}

/* Two environments, two services (one built from a source), deploys, a promote, variables
 * with a secret. */
static struct pkg_ops *shop_make(struct pkg_project *p)
{
    struct pkg_ops *ops = ops_open();
    struct err err = {0};

    *p = project();
    OK(pkg_op_init(ops, p, &carol, NULL, &err));
    add_services(ops, p);
    OK(pkg_op_env_create(ops, p, &carol, "development", NULL, NULL, &err));
    OK(pkg_op_deploy(ops, p, &carol, "development", "api", "3f2a1c9", DIG_A, PKG_DEPLOY, NULL,
                     &err));
    OK(pkg_op_deploy(ops, p, &carol, "development", "web", "77aa001", DIG_B, PKG_DEPLOY, NULL,
                     &err));
    OK(pkg_op_env_create(ops, p, &carol, "production", "development", NULL, &err));
    OK(pkg_op_promote(ops, p, &carol, "development", "production", "api", NULL, &err));
    add_variables(ops, p);
    return ops;
}

static bool count_one(void *arg, const struct pkg_log_entry *e)
{
    (void)e;
    (*(size_t *)arg)++;
    return true;
}

static size_t commit_count(const struct pkg_project *p)
{
    struct sbuf path = SBUF_INIT(4096);
    struct pkg_repo *r = NULL;
    struct err err = {0};
    size_t n = 0;

    OK(pkg_repo_path(p->root, slice_from_cstr(p->workspace_id), slice_from_cstr(p->project_id),
                     &path, &err));
    OK(pkg_repo_open(path.buf, &r, &err));
    OK(pkg_repo_log(r, NULL, 0, count_one, &n, &err));
    pkg_repo_close(r);
    sbuf_release(&path);
    return n;
}

/* Writes <b> to <dir>/<name>.tar.gz and extracts it into <dir>/<name>/. */
static void extract(const struct sbuf *b, const char *dir, const char *name)
{
    char file[4096];
    FILE *f;

    snprintf(file, sizeof(file), "%s/%s.tar.gz", dir, name);
    f = fopen(file, "wb");
    CHECK(f != NULL);
    CHECK(fwrite(b->buf, 1, b->len, f) == b->len);
    CHECK(fclose(f) == 0);
    CHECK_INT_EQ(sh("mkdir -p '%s/%s' && tar -xzf '%s' -C '%s/%s'", dir, name, file, dir, name), 0);
}

/* The bundle in <dir>/<name>/shop clones to <dir>/<name>-clone with <commits> commits and
 * the tree that repository/ holds. */
static void check_bundle(const char *dir, const char *name, size_t commits)
{
    char out[64] = "";
    char cmd[4096];
    FILE *f;

    CHECK_INT_EQ(
        sh("git clone -q '%s/%s/shop/repository.bundle' '%s/%s-clone' 2>&1", dir, name, dir, name),
        0);
    snprintf(cmd, sizeof(cmd), "git -C '%s/%s-clone' rev-list --count HEAD", dir, name);
    f = popen(cmd, "r");
    CHECK(f != NULL);
    CHECK(fgets(out, sizeof(out), f) != NULL);
    CHECK(pclose(f) == 0);
    CHECK_UINT_EQ(strtoull(out, NULL, 10), commits);
    CHECK_INT_EQ(sh("git -C '%s/%s-clone' fsck --no-progress --strict 2>&1", dir, name), 0);
    CHECK_INT_EQ(
        sh("diff -r --exclude=.git '%s/%s-clone' '%s/%s/shop/repository'", dir, name, dir, name),
        0);
}

/* The bytes of <path> (free()), their count in *len. */
static char *slurp_n(const char *path, int *len)
{
    FILE *f = fopen(path, "rb");
    struct sbuf b = SBUF_INIT(64 << 20);
    char buf[4096];
    size_t n;

    CHECK(f != NULL);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        sbuf_put(&b, buf, n);
    fclose(f);
    CHECK(b.err == 0);
    *len = (int)b.len;
    return sbuf_take(&b, &n);
}

static char *slurp(const char *path)
{
    int len;

    return slurp_n(path, &len);
}

static void check_argocd(const char *dir, const char *env)
{
    char path[4096], want[128];
    struct pkg_yaml *doc = NULL;
    struct err err = {0};
    struct slice s;
    bool b;
    char *text;

    snprintf(path, sizeof(path), "%s/a/shop/argocd/%s.yaml", dir, env);
    text = slurp(path);
    OK(pkg_yaml_parse(slice_from_cstr(text), NULL, &doc, &err));
    OK(pkg_yaml_get_str(doc, "kind", &s, &err));
    CHECK_STR_EQ(s.ptr, "Application");
    OK(pkg_yaml_get_str(doc, "spec.source.repoURL", &s, &err));
    CHECK_STR_EQ(s.ptr, PKG_EJECT_REPO_PLACEHOLDER);
    OK(pkg_yaml_get_str(doc, "spec.source.path", &s, &err));
    snprintf(want, sizeof(want), "environments/%s", env);
    CHECK_STR_EQ(s.ptr, want);
    OK(pkg_yaml_get_str(doc, "spec.source.targetRevision", &s, &err));
    CHECK_STR_EQ(s.ptr, "main");
    OK(pkg_yaml_get_str(doc, "spec.destination.namespace", &s, &err));
    snprintf(want, sizeof(want), "acme-shop-%s", env);
    CHECK_STR_EQ(s.ptr, want);
    OK(pkg_yaml_get_bool(doc, "spec.syncPolicy.automated.prune", &b, &err));
    CHECK(b);
    OK(pkg_yaml_get_bool(doc, "spec.syncPolicy.automated.selfHeal", &b, &err));
    CHECK(b);
    pkg_yaml_free(doc);
    free(text);
}

static void check_build_sh(const char *dir)
{
    char path[4096];
    struct stat st;
    char *text;

    snprintf(path, sizeof(path), "%s/a/shop/build.sh", dir);
    CHECK(stat(path, &st) == 0);
    CHECK_INT_EQ(st.st_mode & 0777, 0755);
    CHECK_INT_EQ(sh("bash -n '%s'", path), 0);
    CHECK_INT_EQ(sh("sh -n '%s'", path), 0);
    text = slurp(path);
    CHECK_CONTAINS(text, "set -eu\n");
    CHECK_CONTAINS(text, "build_one api 'https://git.example.com/acme/shop.git' 'main' "
                         "'services/api' node 8080 'node server.js --name it'\\''s'\n");
    CHECK_CONTAINS(text, "prebuilt web 'registry.example.com/acme/shop/web'\n");
    free(text);
    /* without REGISTRY it stops before doing anything */
    CHECK(sh("env -u REGISTRY sh '%s' >/dev/null 2>&1", path) != 0);
}

TEST(eject_archive_runs_without_slipway)
{
    struct pkg_project p;
    struct pkg_ops *ops = shop_make(&p);
    struct sbuf b = SBUF_INIT(PKG_EJECT_MAX);
    const char *dir = test_tmpdir();
    struct err err = {0};
    char *readme;
    char path[4096];

    OK(pkg_op_eject(&p, &b, &err));
    extract(&b, dir, "a");
    check_bundle(dir, "a", commit_count(&p));
    check_argocd(dir, "development");
    check_argocd(dir, "production");
    check_build_sh(dir);
    CHECK_INT_EQ(sh("ls '%s/a' | wc -l | grep -qx 1", dir), 0); /* one top directory */
    snprintf(path, sizeof(path), "%s/a/shop/README.md", dir);
    readme = slurp(path);
    CHECK_CONTAINS(readme, PKG_EJECT_REPO_PLACEHOLDER);
    CHECK_CONTAINS(readme, "kubectl apply -k repository/environments/<env>");
    CHECK_CONTAINS(readme, "- `web`: prebuilt image");
    free(readme);

    /* the secret's plaintext is nowhere: files, history, the uncompressed tar */
    CHECK_INT_EQ(sh("grep -r -q '%s' '%s/a' '%s/a-clone'", CANARY, dir, dir), 1);
    CHECK_INT_EQ(sh("git -C '%s/a-clone' log -p | grep -q '%s'", dir, CANARY), 1);
    CHECK_INT_EQ(sh("gzip -dc '%s/a.tar.gz' | grep -a -q '%s'", dir, CANARY), 1);
    CHECK_INT_EQ(sh("grep -q 'enc:v1:' "
                    "'%s/a/shop/repository/environments/production/manifests/sealedsecret.yaml'",
                    dir),
                 0);
    /* tar headers: uid/gid 0, no user names */
    CHECK_INT_EQ(sh("tar -tvzf '%s/a.tar.gz' | grep -v -q ' 0/0 '", dir), 1);
    sbuf_release(&b);
    pkg_ops_free(ops);
}

TEST(eject_manifests_build_with_kubectl)
{
    struct pkg_project p;
    struct pkg_ops *ops = shop_make(&p);
    struct sbuf b = SBUF_INIT(PKG_EJECT_MAX);
    const char *dir = test_tmpdir();
    const char *envs[] = {"development", "production"};
    struct err err = {0};

    OK(pkg_op_eject(&p, &b, &err));
    extract(&b, dir, "a");
    if (sh("command -v kubectl >/dev/null") != 0) {
        printf("# kubectl is not installed: kustomize builds not checked\n");
    } else {
        for (size_t i = 0; i < ARRAY_LEN(envs); i++)
            CHECK_INT_EQ(sh("kubectl kustomize '%s/a/shop/repository/environments/%s' >/dev/null",
                            dir, envs[i]),
                         0);
    }
    sbuf_release(&b);
    pkg_ops_free(ops);
}

/* <out> gets the archive a fresh process makes (through a file). */
static void eject_in_child(const struct pkg_project *p, struct sbuf *out)
{
    char path[4096];
    pid_t pid;
    int st;
    char *text;

    snprintf(path, sizeof(path), "%s/child.tar.gz", test_tmpdir());
    fflush(NULL);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct sbuf b = SBUF_INIT(PKG_EJECT_MAX);
        struct err err = {0};
        FILE *f = fopen(path, "wb");

        if (f == NULL || pkg_op_eject(p, &b, &err) != 0 || fwrite(b.buf, 1, b.len, f) != b.len)
            _exit(1);
        _exit(fclose(f) == 0 ? 0 : 1);
    }
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    text = slurp_n(path, &st);
    sbuf_reset(out);
    sbuf_put(out, text, (size_t)st);
    free(text);
}

TEST(eject_twice_gives_the_same_bytes)
{
    struct pkg_project p;
    struct pkg_ops *ops = shop_make(&p);
    struct sbuf one = SBUF_INIT(PKG_EJECT_MAX), two = SBUF_INIT(PKG_EJECT_MAX);
    struct err err = {0};

    OK(pkg_op_eject(&p, &one, &err));
    OK(pkg_op_eject(&p, &two, &err));
    CHECK(one.len > 1000);
    CHECK_MEM_EQ(one.buf, one.len, two.buf, two.len);
    eject_in_child(&p, &two); /* another process: no cache shared */
    CHECK_MEM_EQ(one.buf, one.len, two.buf, two.len);
    sbuf_release(&one);
    sbuf_release(&two);
    pkg_ops_free(ops);
}

TEST(eject_unknown_project_and_limits)
{
    struct pkg_project p;
    struct pkg_ops *ops = shop_make(&p);
    struct sbuf b = SBUF_INIT(4096);
    struct err err = {0};

    CHECK_INT_EQ(pkg_op_eject(&p, &b, &err), ERR_LIMIT); /* <out>'s own max */
    sbuf_release(&b);

    p.project_id = OTHER;
    CHECK_INT_EQ(pkg_op_eject(&p, &b, &err), ERR_NOTFOUND);
    CHECK_CONTAINS(err.msg, OTHER);
    p.project_id = "../" PROJ;
    CHECK_INT_EQ(pkg_op_eject(&p, &b, &err), ERR_INVALID);
    p.project_id = PROJ;
    p.slug = "../shop";
    CHECK_INT_EQ(pkg_op_eject(&p, &b, &err), ERR_INVALID);
    CHECK_UINT_EQ(b.len, 0);
    sbuf_release(&b);
    pkg_ops_free(ops);
}

TEST(eject_of_a_project_without_environments)
{
    struct pkg_ops *ops = ops_open();
    struct pkg_project p = project();
    struct sbuf b = SBUF_INIT(PKG_EJECT_MAX);
    const char *dir = test_tmpdir();
    struct err err = {0};

    OK(pkg_op_init(ops, &p, &carol, NULL, &err));
    OK(pkg_op_eject(&p, &b, &err));
    extract(&b, dir, "a");
    check_bundle(dir, "a", 1);
    CHECK_INT_EQ(sh("bash -n '%s/a/shop/build.sh'", dir), 0);
    CHECK_INT_EQ(sh("test -d '%s/a/shop/argocd'", dir), 1);
    sbuf_release(&b);
    pkg_ops_free(ops);
}

/* build.sh against a local source repository and a docker that only records what it is
 * asked: the clone, the generated Dockerfile, the image name, the push. */
TEST(eject_build_sh_builds_and_pushes)
{
    struct pkg_ops *ops = ops_open();
    struct pkg_project p = project();
    struct sbuf b = SBUF_INIT(PKG_EJECT_MAX);
    const char *dir = test_tmpdir();
    struct err err = {0};
    char src[4096];
    char *log, *df;
    json_t *svc;

    snprintf(src, sizeof(src), "%s/src", dir);
    CHECK_INT_EQ(sh("mkdir -p '%s/app' && cd '%s' && git init -q -b main . && "
                    "echo '{}' >app/package.json && git add . && "
                    "git -c user.name=t -c user.email=t@example.com commit -q -m one",
                    src, src),
                 0);
    svc = json_pack("{s:s, s:i, s:{s:s, s:s, s:s}, s:s}", "image",
                    "registry.example.com/acme/shop/api", "port", 8080, "source", "repository", src,
                    "ref", "main", "contextPath", "app", "startCommand", "node server.js");
    OK(pkg_op_init(ops, &p, &carol, NULL, &err));
    OK(pkg_op_add_service(ops, &p, &carol, "api", svc, NULL, &err));
    OK(pkg_op_eject(&p, &b, &err));
    extract(&b, dir, "a");
    CHECK_INT_EQ(sh("mkdir -p '%s/bin' && printf '%%s\\n' '#!/bin/sh' "
                    "'echo \"$*\" >>\"$STUB_LOG\"' "
                    "'[ \"$1\" = build ] && cp \"$5\" \"$STUB_LOG.Dockerfile\"; exit 0' "
                    ">'%s/bin/docker' && chmod +x '%s/bin/docker'",
                    dir, dir, dir),
                 0);
    CHECK_INT_EQ(sh("cd '%s/a/shop' && STUB_LOG='%s/log' PATH='%s/bin':\"$PATH\" "
                    "REGISTRY=reg.test/team TAG=v7 ./build.sh >/dev/null",
                    dir, dir, dir),
                 0);
    snprintf(src, sizeof(src), "%s/log", dir);
    log = slurp(src);
    CHECK_CONTAINS(log, "build -t reg.test/team/api:v7 -f ");
    CHECK_CONTAINS(log, "push reg.test/team/api:v7\n");
    snprintf(src, sizeof(src), "%s/log.Dockerfile", dir);
    df = slurp(src);
    CHECK_CONTAINS(df, "FROM node:20-slim\n");
    CHECK_CONTAINS(df, "EXPOSE 8080\n");
    CHECK_CONTAINS(df, "CMD node server.js\n");
    free(log);
    free(df);
    json_decref(svc);
    sbuf_release(&b);
    pkg_ops_free(ops);
}

/* ---------------------------------------------------------------- racing writers */

#define NDEPLOY 20
#define NEJECT  4

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

    snprintf(tag, sizeof(tag), "race-%02d", d->i);
    snprintf(digest, sizeof(digest), "sha256:%064x", d->i + 1);
    d->rc = pkg_op_deploy(d->ops, d->p, &carol, "development", "api", tag, digest, PKG_DEPLOY, NULL,
                          &d->err);
    return NULL;
}

TEST(eject_while_20_deploys_run)
{
    struct pkg_project p;
    struct pkg_ops *ops = shop_make(&p);
    struct deployer d[NDEPLOY];
    pthread_t th[NDEPLOY];
    struct sbuf out[NEJECT];
    const char *dir = test_tmpdir();
    size_t before = commit_count(&p);
    struct err err = {0};

    for (int i = 0; i < NDEPLOY; i++) {
        d[i] = (struct deployer){ops, &p, i, 0, {0}};
        CHECK(pthread_create(&th[i], NULL, deploy_one, &d[i]) == 0);
    }
    for (int i = 0; i < NEJECT; i++) {
        out[i] = SBUF_INIT(PKG_EJECT_MAX);
        OK(pkg_op_eject(&p, &out[i], &err));
    }
    for (int i = 0; i < NDEPLOY; i++)
        CHECK(pthread_join(th[i], NULL) == 0);
    for (int i = 0; i < NDEPLOY; i++)
        if (d[i].rc != 0)
            test_fail(__FILE__, __LINE__, "deploy %d: %s", i, d[i].err.msg);
    CHECK_UINT_EQ(commit_count(&p), before + NDEPLOY);
    for (int i = 0; i < NEJECT; i++) {
        char name[16], cmd[4096], count[64] = "";
        FILE *f;

        snprintf(name, sizeof(name), "e%d", i);
        extract(&out[i], dir, name);
        snprintf(cmd, sizeof(cmd),
                 "git bundle list-heads '%s/%s/shop/repository.bundle' >/dev/null"
                 " && git clone -q '%s/%s/shop/repository.bundle' '%s/%s-clone' 2>&1"
                 " && git -C '%s/%s-clone' rev-list --count HEAD",
                 dir, name, dir, name, dir, name, dir, name);
        f = popen(cmd, "r");
        CHECK(f != NULL && fgets(count, sizeof(count), f) != NULL);
        CHECK(pclose(f) == 0);
        CHECK(strtoull(count, NULL, 10) >= before);
        CHECK(strtoull(count, NULL, 10) <= before + NDEPLOY);
        CHECK_INT_EQ(sh("diff -r --exclude=.git '%s/%s-clone' '%s/%s/shop/repository'", dir, name,
                        dir, name),
                     0);
        sbuf_release(&out[i]);
    }
    pkg_ops_free(ops);
}
