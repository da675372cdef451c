/* Stack detection (src/bld/detect.c): one fixture per rule of docs/builds.md under
 * tests/fixtures/detect/, the examples/ apps, and hostile trees built in the test's directory.
 * Run from the repository's top directory. */
#include "../test.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "bld/bld-int.h"

#define FIX "tests/fixtures/detect/"

/* The one service detected in <dir>; the arena is the caller's to free. */
static const struct bld_service *one(struct arena *a, const char *dir)
{
    struct bld_service *s = NULL;
    struct err err = {0};
    size_t n = 0;

    OK(bld_detect(dir, a, &s, &n, &err));
    CHECK_INT_EQ(n, 1);
    return s;
}

/* bld_detect(<dir>) fails with <code>; returns the message (static storage). */
static const char *fails(const char *dir, int code)
{
    static struct err err;
    struct arena *a = arena_new(NULL);
    struct bld_service *s = NULL;
    size_t n = 0;

    memset(&err, 0, sizeof(err));
    CHECK_INT_EQ(bld_detect(dir, a, &s, &n, &err), code);
    arena_free(a);
    return err.msg;
}

static void check_svc(const struct bld_service *s, const char *provider, const char *framework,
                      const char *start, int port)
{
    CHECK_STR_EQ(s->provider, provider);
    CHECK_STR_EQ(s->framework, framework);
    CHECK_STR_EQ(s->start_cmd, start);
    CHECK_INT_EQ(s->port, port);
}

/* ---------------------------------------------------------------- Node */

TEST(node_start_script_npm_lockfile_express)
{
    struct arena *a = arena_new(NULL);
    const struct bld_service *s = one(a, FIX "node-npm-start");

    check_svc(s, "node", "express", "npm start", 8080);
    CHECK_STR_EQ(s->name, "shop-api"); /* the package name without its scope */
    CHECK_STR_EQ(s->language, "node");
    CHECK_STR_EQ(s->package_manager, "npm");
    CHECK_STR_EQ(s->install_cmd, "npm ci");
    CHECK_STR_EQ(s->build_cmd, "");
    CHECK_STR_EQ(s->context_path, ".");
    arena_free(a);
}

TEST(node_yarn_lockfile_and_main)
{
    struct arena *a = arena_new(NULL);
    const struct bld_service *s = one(a, FIX "node-yarn-main");

    check_svc(s, "node", "", "node app.js", 8080);
    CHECK_STR_EQ(s->package_manager, "yarn");
    CHECK_STR_EQ(s->install_cmd, "yarn install --frozen-lockfile");
    arena_free(a);
}

TEST(node_package_manager_field_and_index_js)
{
    struct arena *a = arena_new(NULL);
    const struct bld_service *s = one(a, FIX "node-pnpm-field");

    check_svc(s, "node", "", "node index.js", 8080);
    CHECK_STR_EQ(s->package_manager, "pnpm");
    CHECK_STR_EQ(s->install_cmd, "pnpm install"); /* no lockfile: not frozen */
    arena_free(a);
}

TEST(node_version_engines_then_nvmrc_then_node_version)
{
    struct arena *a = arena_new(NULL);

    CHECK_STR_EQ(one(a, FIX "node-engines")->runtime_version, ">=20");
    CHECK_STR_EQ(one(a, FIX "node-nvmrc")->runtime_version, "18.19.0");
    CHECK_STR_EQ(one(a, FIX "node-node-version")->runtime_version, "20");
    arena_free(a);
}

TEST(node_frameworks)
{
    struct arena *a = arena_new(NULL);
    const struct bld_service *s = one(a, FIX "node-next");

    check_svc(s, "node", "next", "npx next start", 8080);
    CHECK_STR_EQ(s->build_cmd, "npm run build");
    check_svc(one(a, FIX "node-nuxt"), "node", "nuxt", "node .output/server/index.mjs", 8080);
    check_svc(one(a, FIX "node-remix"), "node", "remix", "npx remix-serve ./build/server/index.js",
              8080);
    s = one(a, FIX "node-astro");
    check_svc(s, "node", "astro", "", 8080);
    CHECK_STR_EQ(s->static_dir, "dist");
    CHECK(!s->spa);
    s = one(a, FIX "node-vite");
    check_svc(s, "node", "vite", "", 8080);
    CHECK_STR_EQ(s->static_dir, "dist");
    CHECK(s->spa);
    arena_free(a);
}

TEST(node_without_start_is_an_error_naming_the_fix)
{
    const char *msg = fails(FIX "node-no-start", ERR_INVALID);

    CHECK_CONTAINS(msg, "without a start command");
    CHECK_CONTAINS(msg, "startCommand");
}

TEST(node_unknown_package_manager)
{
    CHECK_CONTAINS(fails(FIX "node-bad-pm", ERR_INVALID),
                   "package.json: packageManager: \"bun@1.1.0\" is not npm, yarn or pnpm");
}

/* ---------------------------------------------------------------- Python */

TEST(python_requirements_flask_gunicorn)
{
    struct arena *a = arena_new(NULL);
    const struct bld_service *s = one(a, FIX "python-flask-gunicorn");

    check_svc(s, "python", "flask", "gunicorn app:app --bind 0.0.0.0:$PORT", 8080);
    CHECK_STR_EQ(s->package_manager, "pip");
    CHECK_STR_EQ(s->install_cmd, "pip install -r requirements.txt");
    arena_free(a);
}

TEST(python_pyproject_fastapi_uvicorn)
{
    struct arena *a = arena_new(NULL);
    const struct bld_service *s = one(a, FIX "python-fastapi");

    check_svc(s, "python", "fastapi", "uvicorn main:app --host 0.0.0.0 --port $PORT", 8080);
    CHECK_STR_EQ(s->name, "orders");
    CHECK_STR_EQ(s->runtime_version, ">=3.11");
    CHECK_STR_EQ(s->install_cmd, "pip install .");
    arena_free(a);
}

TEST(python_pipfile_django)
{
    struct arena *a = arena_new(NULL);
    const struct bld_service *s = one(a, FIX "python-django-pipfile");

    check_svc(s, "python", "django", "gunicorn mysite.wsgi --bind 0.0.0.0:$PORT", 8080);
    CHECK_STR_EQ(s->package_manager, "pipenv");
    CHECK_STR_EQ(s->runtime_version, "3.11");
    arena_free(a);
}

TEST(python_poetry_main_file)
{
    struct arena *a = arena_new(NULL);
    const struct bld_service *s = one(a, FIX "python-poetry");

    check_svc(s, "python", "flask", "python3 app.py", 8080); /* no gunicorn: the main file */
    CHECK_STR_EQ(s->package_manager, "poetry");
    CHECK_STR_EQ(s->name, "billing-service");
    CHECK_STR_EQ(s->runtime_version, "3.12.3"); /* .python-version before the constraint */
    arena_free(a);
}

/* ---------------------------------------------------------------- Go, static, Procfile */

TEST(go_module_static_binary)
{
    struct arena *a = arena_new(NULL);
    const struct bld_service *s = one(a, FIX "go-module");

    check_svc(s, "go", "gin", "./app", 8080);
    CHECK_STR_EQ(s->name, "api"); /* ".../api/v2": the major version is skipped */
    CHECK_STR_EQ(s->runtime_version, "1.22");
    CHECK_STR_EQ(s->build_cmd, "CGO_ENABLED=0 go build -trimpath -o app .");
    CHECK_STR_EQ(one(a, FIX "go-cmd")->build_cmd,
                 "CGO_ENABLED=0 go build -trimpath -o app ./cmd/server");
    arena_free(a);
}

TEST(static_index_public_staticfile)
{
    struct arena *a = arena_new(NULL);
    const struct bld_service *s = one(a, FIX "static-index");

    check_svc(s, "static", "", "", 8080);
    CHECK_STR_EQ(s->static_dir, ".");
    CHECK(s->spa);
    CHECK_STR_EQ(one(a, FIX "static-public")->static_dir, "public");
    CHECK_STR_EQ(one(a, FIX "staticfile")->static_dir, "site");
    arena_free(a);
}

TEST(procfile_web_then_worker_then_first)
{
    struct arena *a = arena_new(NULL);
    const struct bld_service *s = one(a, FIX "procfile-web");

    check_svc(s, "procfile", "", "python3 -m http.server $PORT", 8080);
    CHECK_STR_EQ(s->language, "python");
    check_svc(one(a, FIX "procfile-worker"), "procfile", "", "node worker.js", 8080);
    check_svc(one(a, FIX "procfile-first"), "procfile", "", "./bin/clock", 8080);
    /* beside a language, the Procfile gives the start command */
    check_svc(one(a, FIX "procfile-node"), "node", "", "node web.js --port $PORT", 8080);
    arena_free(a);
}

TEST(dockerfile_wins_and_gives_the_port)
{
    struct arena *a = arena_new(NULL);
    const struct bld_service *s = one(a, FIX "dockerfile");

    check_svc(s, "dockerfile", "", "", 3000);
    CHECK_STR_EQ(s->language, "node");
    CHECK_STR_EQ(s->install_cmd, "");
    arena_free(a);
}

/* ---------------------------------------------------------------- slipway.json */

TEST(slipway_json_overrides)
{
    struct arena *a = arena_new(NULL);
    const struct bld_service *s = one(a, FIX "override");

    check_svc(s, "node", "", "node dist/main.js", 4000);
    CHECK_STR_EQ(s->install_cmd, "npm install --omit=dev");
    CHECK_STR_EQ(s->build_cmd, "npm run compile");
    s = one(a, FIX "override-provider");
    check_svc(s, "python", "", "python3 -m http.server $PORT", 8080);
    CHECK_STR_EQ(s->name, "override-provider");
    arena_free(a);
}

TEST(slipway_json_errors_name_the_key)
{
    CHECK_CONTAINS(fails(FIX "override-bad-key", ERR_INVALID),
                   "slipway.json: unknown key \"startCmd\"");
    CHECK_CONTAINS(fails(FIX "override-bad-json", ERR_INVALID), "slipway.json: invalid JSON");
}

TEST(unknown_provider_error_lists_the_known_ones)
{
    const char *msg = fails(FIX "unknown-provider", ERR_INVALID);

    CHECK_CONTAINS(msg, "provider: unknown provider \"rust\"");
    CHECK_CONTAINS(msg, "node, python, go, static, procfile, dockerfile");
}

TEST(nothing_found_lists_what_was_looked_for)
{
    const char *msg = fails(FIX "nothing", ERR_NOTFOUND);

    CHECK_CONTAINS(msg, "no app found");
    CHECK_CONTAINS(msg, "package.json, requirements.txt, pyproject.toml, Pipfile, go.mod");
    CHECK_CONTAINS(msg, "Procfile, Dockerfile");
}

/* ---------------------------------------------------------------- several apps */

TEST(monorepo_workspaces_skip_libraries)
{
    struct arena *a = arena_new(NULL);
    struct bld_service *s = NULL;
    struct err err = {0};
    size_t n = 0;

    OK(bld_detect(FIX "monorepo", a, &s, &n, &err));
    CHECK_INT_EQ(n, 2); /* packages/ui has only main: a library; node_modules is not searched */
    CHECK_STR_EQ(s[0].context_path, "apps/api");
    CHECK_STR_EQ(s[0].name, "api");
    CHECK_STR_EQ(s[0].provider, "go");
    CHECK_STR_EQ(s[1].context_path, "apps/web");
    CHECK_STR_EQ(s[1].name, "web");
    CHECK_STR_EQ(s[1].framework, "next");
    CHECK_STR_EQ(s[1].install_cmd, "npm ci"); /* the lockfile at the top counts */
    arena_free(a);
}

TEST(apps_in_subdirectories)
{
    struct arena *a = arena_new(NULL);
    struct bld_service *s = NULL;
    struct err err = {0};
    size_t n = 0;

    OK(bld_detect(FIX "subdirs", a, &s, &n, &err));
    CHECK_INT_EQ(n, 2);
    CHECK_STR_EQ(s[0].context_path, "frontend");
    CHECK_STR_EQ(s[0].provider, "static");
    CHECK_STR_EQ(s[1].context_path, "services/backend");
    CHECK_STR_EQ(s[1].name, "backend");
    CHECK_STR_EQ(s[1].start_cmd, "python3 app.py");
    arena_free(a);
}

/* ---------------------------------------------------------------- hostile trees */

static void put(const char *dir, const char *name, const char *text)
{
    char path[512];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
}

static void sub(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", test_tmpdir(), name);
    CHECK(mkdir(out, 0755) == 0);
}

TEST(symlinks_are_never_followed)
{
    char dir[256], link[300], outside[256];
    struct arena *a = arena_new(NULL);
    const struct bld_service *s;

    /* A marker that is a link out of the tree counts as absent. */
    sub(dir, sizeof(dir), "links");
    snprintf(link, sizeof(link), "%s/package.json", dir);
    CHECK(symlink("/etc/passwd", link) == 0);
    CHECK_CONTAINS(fails(dir, ERR_NOTFOUND), "no app found");

    /* A directory link to an app elsewhere is not searched either. */
    sub(outside, sizeof(outside), "outside");
    put(outside, "index.html", "<!doctype html>\n");
    snprintf(link, sizeof(link), "%s/site", dir);
    CHECK(symlink(outside, link) == 0);
    CHECK_CONTAINS(fails(dir, ERR_NOTFOUND), "no app found");

    /* Beside a real app, a linked .nvmrc changes nothing. */
    put(dir, "index.js", "\n");
    CHECK(unlink(link) == 0);
    snprintf(link, sizeof(link), "%s/package.json", dir);
    CHECK(unlink(link) == 0);
    put(dir, "package.json", "{\"name\":\"linked\",\"main\":\"index.js\"}");
    snprintf(link, sizeof(link), "%s/.nvmrc", dir);
    CHECK(symlink("/etc/passwd", link) == 0);
    s = one(a, dir);
    CHECK_STR_EQ(s->runtime_version, "");
    CHECK_STR_EQ(s->start_cmd, "node index.js");
    arena_free(a);
}

TEST(huge_files_are_not_read)
{
    char dir[256], cmd[600];
    struct arena *a = arena_new(&(struct arena_opts){.budget = 4 << 20});
    const struct bld_service *s;
    uint64_t t0 = time_mono_ms();

    sub(dir, sizeof(dir), "huge");
    put(dir, "requirements.txt", "flask\n");
    put(dir, "app.py", "print(1)\n");
    /* 5 GB, sparse: nothing is written to disk. */
    snprintf(cmd, sizeof(cmd), "truncate -s 5G '%s/data.bin'", dir);
    CHECK(system(cmd) == 0);
    s = one(a, dir); /* a huge file the rules do not name: never opened */
    check_svc(s, "python", "flask", "python3 app.py", 8080);

    /* a huge marker: refused by its size, unread */
    snprintf(cmd, sizeof(cmd), "truncate -s 5G '%s/Procfile'", dir);
    CHECK(system(cmd) == 0);
    CHECK_CONTAINS(fails(dir, ERR_LIMIT), "Procfile: larger than 1 MiB");
    CHECK(time_mono_ms() - t0 < 5000);
    arena_free(a);
}

TEST(a_small_budget_is_a_clean_limit)
{
    struct arena *a = arena_new(&(struct arena_opts){.chunk = 256, .budget = 512});
    struct bld_service *s = NULL;
    struct err err = {0};
    size_t n = 0;

    CHECK_INT_EQ(bld_detect(FIX "monorepo", a, &s, &n, &err), ERR_LIMIT);
    arena_free(a);
}

/* ---------------------------------------------------------------- examples/ */

TEST(examples_are_detected)
{
    struct arena *a = arena_new(NULL);
    const struct bld_service *s;

    s = one(a, "examples/node-express");
    check_svc(s, "node", "express", "npm start", 8080);
    CHECK_STR_EQ(s->install_cmd, "npm ci");
    s = one(a, "examples/node-vite-spa");
    check_svc(s, "node", "vite", "", 8080);
    CHECK_STR_EQ(s->build_cmd, "npm run build");
    CHECK_STR_EQ(s->static_dir, "dist");
    check_svc(one(a, "examples/python"), "python", "", "python3 main.py", 8080);
    check_svc(one(a, "examples/go"), "go", "", "./app", 8080);
    s = one(a, "examples/static");
    check_svc(s, "static", "", "", 8080);
    CHECK_STR_EQ(s->static_dir, ".");
    s = one(a, "examples/procfile");
    check_svc(s, "procfile", "", "python3 -m http.server ${PORT:-8080} --directory public", 8080);
    CHECK_STR_EQ(s->language, "python");
    arena_free(a);
}
