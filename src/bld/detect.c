/*
 * bld detect: says which apps a checkout holds and how to install, build and start each one.
 * docs/builds.md states every rule; this file is their implementation.
 *
 * The checkout is hostile input. Every file and directory is opened relative to its parent's
 * descriptor with O_NOFOLLOW, so a symbolic link (to /etc/passwd, to "..") is never followed:
 * one named like a marker simply counts as absent. Only marker files are opened, each after an
 * fstat that refuses anything but a regular file of at most BLD_READ_MAX bytes, so a 5 GB file
 * costs one stat. The walk is bounded in depth and in directory entries.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "bld/bld-int.h"

#define WALK_DEPTH   3     /* subdirectory levels searched below the top */
#define WALK_ENTRIES 20000 /* directory entries looked at, in all */
#define MAX_SERVICES 64
#define DEFAULT_PORT 8080
#define CMD_MAX      4096

#define LOOKED_FOR                                                                                 \
    "package.json, requirements.txt, pyproject.toml, Pipfile, go.mod, index.html, "                \
    "public/index.html, Staticfile, Procfile, Dockerfile, slipway.json"

static const char *const markers[] = {
    "package.json", "requirements.txt", "pyproject.toml", "Pipfile",    "go.mod",
    "index.html",   "Staticfile",       "Procfile",       "Dockerfile", "slipway.json",
};

/* Directories never searched for apps: dependencies, build output, tool caches. */
static const char *const skipped_dirs[] = {
    "node_modules", "vendor", "__pycache__", "venv", "dist", "build", "target", "out",
};

enum provider { P_NONE, P_NODE, P_PYTHON, P_GO, P_STATIC, P_PROCFILE, P_DOCKERFILE };
static const char *const provider_names[] = {"",       "node",     "python",    "go",
                                             "static", "procfile", "dockerfile"};

struct walk {
    struct arena *a;
    struct err *err;
    const char *top_name; /* the checkout directory's own name, for an app at the top */
    size_t entries;
    bool oom; /* sticky: the arena's budget ran out */
    struct bld_service *svc;
    size_t n, cap;
    const char *root_pm; /* a package manager chosen at the top (its lockfile lives there) */
    bool root_lock;      /* the top directory holds that manager's lockfile */
    bool workspace;      /* the top is an npm/yarn/pnpm workspace: packages may be libraries */
    bool cannot_start;   /* set by not_runnable(): the error says why an app cannot start */
};

/* One directory being looked at as an app. */
struct app {
    struct walk *w;
    int fd;
    const char *rel; /* "." or "apps/web" */
    bool member;     /* below the top: skipped, not an error, when it cannot start */
};

/* What a slipway.json says; NULL or 0 where it says nothing. */
struct overrides {
    enum provider provider;
    const char *install, *build, *start;
    int port;
};

/* ---------------------------------------------------------------- strings in the arena */

static const char *str(struct walk *w, struct slice s)
{
    char *p = arena_strndup(w->a, s.ptr != NULL ? s.ptr : "", s.len);

    if (p == NULL) {
        w->oom = true;
        return "";
    }
    return p;
}

static const char *strf(struct walk *w, const char *fmt, ...) APP_PRINTF(2, 3);
static const char *strf(struct walk *w, const char *fmt, ...)
{
    struct sbuf b = SBUF_INIT(CMD_MAX);
    const char *out;
    va_list ap;

    va_start(ap, fmt);
    sbuf_vprintf(&b, fmt, ap);
    va_end(ap);
    out = b.err == 0 ? str(w, sbuf_slice(&b)) : "";
    if (b.err != 0)
        w->oom = true;
    sbuf_release(&b);
    return out;
}

/* "<rel>/<name>" for messages, or <name> at the top. */
static const char *path_of(const struct app *app, const char *name)
{
    if (strcmp(app->rel, ".") == 0)
        return name;
    return strf(app->w, "%s/%s", app->rel, name);
}

/* ---------------------------------------------------------------- files */

static bool has_file(int fd, const char *name)
{
    struct stat st;

    return fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

static bool has_dir(int fd, const char *name)
{
    struct stat st;

    return fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/* <name> under <fd> as a directory, never through a symbolic link; -1 when it is none. */
static int open_dir(int fd, const char *name)
{
    return openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static bool has_public_index(int fd)
{
    int pub = open_dir(fd, "public");
    bool yes = pub >= 0 && has_file(pub, "index.html");

    if (pub >= 0)
        close(pub);
    return yes;
}

static bool has_marker(int fd)
{
    for (size_t i = 0; i < ARRAY_LEN(markers); i++)
        if (has_file(fd, markers[i]))
            return true;
    return has_public_index(fd);
}

static int read_all(int fd, char *buf, size_t size, size_t *got)
{
    *got = 0;
    while (*got < size) {
        ssize_t n = read(fd, buf + *got, size - *got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        *got += (size_t)n;
    }
    return 0;
}

/* The bytes of the regular file <name> in the app's directory, in the arena. ERR_NOTFOUND
 * (message not set) when it is absent, a symbolic link or not a regular file; ERR_LIMIT past
 * BLD_READ_MAX, without reading it. */
static int read_small(struct app *app, const char *name, struct slice *out)
{
    struct err *err = app->w->err;
    struct stat st;
    size_t got;
    char *buf;
    int fd, rc;

    fd = openat(app->fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0 && (errno == ENOENT || errno == ELOOP || errno == ENOTDIR))
        return ERR_NOTFOUND;
    if (fd < 0)
        return err_set(err, err_from_errno(errno), "%s: %s", path_of(app, name), strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ERR_NOTFOUND;
    }
    if (st.st_size > (off_t)BLD_READ_MAX) {
        close(fd);
        return err_set(err, ERR_LIMIT, "%s: larger than 1 MiB, not read", path_of(app, name));
    }
    buf = arena_alloc(app->w->a, (size_t)st.st_size + 1);
    if (buf == NULL) {
        close(fd);
        return err_set(err, ERR_LIMIT, "out of memory budget reading %s", path_of(app, name));
    }
    rc = read_all(fd, buf, (size_t)st.st_size, &got);
    close(fd);
    if (rc < 0)
        return err_set(err, ERR_IO, "%s: %s", path_of(app, name), strerror(-rc));
    buf[got] = '\0';
    *out = (struct slice){buf, got};
    return 0;
}

static void json_release(void *v)
{
    json_decref(v);
}

/* <name> parsed as a JSON object whose strings live as long as the arena. */
static int read_json(struct app *app, const char *name, json_t **out)
{
    struct slice text;
    json_error_t jerr;
    json_t *obj;
    int rc = read_small(app, name, &text);

    if (rc < 0)
        return rc;
    obj = json_loadb(text.ptr, text.len, JSON_REJECT_DUPLICATES, &jerr);
    if (obj == NULL)
        return err_set(app->w->err, ERR_INVALID, "%s: invalid JSON at line %d, column %d: %s",
                       path_of(app, name), jerr.line, jerr.column, jerr.text);
    if (arena_on_free(app->w->a, json_release, obj) != 0) {
        json_decref(obj);
        return err_set(app->w->err, ERR_LIMIT, "out of memory budget reading %s",
                       path_of(app, name));
    }
    if (!json_is_object(obj))
        return err_set(app->w->err, ERR_INVALID, "%s: expected a JSON object", path_of(app, name));
    *out = obj;
    return 0;
}

/* A parser's error about <name>, prefixed with its path. */
static int file_fail(struct app *app, const char *name, int rc)
{
    (void)err_wrap(app->w->err, "%s", path_of(app, name));
    return rc;
}

/* ---------------------------------------------------------------- slipway.json */

static int override_cmd(struct app *app, const json_t *obj, const char *key, const char **out)
{
    struct slice s = SLICE_NULL;
    int rc = json_get_str(obj, key, false, &s, app->w->err);

    if (rc < 0)
        return file_fail(app, "slipway.json", rc);
    if (s.ptr == NULL)
        return 0;
    if (s.len > CMD_MAX || memchr(s.ptr, '\0', s.len) != NULL)
        return err_set(app->w->err, ERR_INVALID, "%s: %s: longer than %d bytes or holds NUL",
                       path_of(app, "slipway.json"), key, CMD_MAX);
    *out = str(app->w, s);
    return 0;
}

static int override_provider(struct app *app, const json_t *obj, enum provider *out)
{
    struct slice s = SLICE_NULL;
    char echo[68];
    int rc = json_get_str(obj, "provider", false, &s, app->w->err);

    if (rc < 0)
        return file_fail(app, "slipway.json", rc);
    if (s.ptr == NULL)
        return 0;
    for (size_t i = P_NODE; i < ARRAY_LEN(provider_names); i++) {
        if (slice_eq_cstr(s, provider_names[i])) {
            *out = (enum provider)i;
            return 0;
        }
    }
    return err_set(app->w->err, ERR_INVALID,
                   "%s: provider: unknown provider \"%s\" (known: node, python, go, static, "
                   "procfile, dockerfile)",
                   path_of(app, "slipway.json"), slice_echo(echo, 64, s));
}

static int read_overrides(struct app *app, struct overrides *ov)
{
    static const char *const keys[] = {"$schema",      "provider",     "installCommand",
                                       "buildCommand", "startCommand", "port"};
    const char *key;
    json_t *obj, *v;
    int64_t port = 0;
    int rc = read_json(app, "slipway.json", &obj);

    *ov = (struct overrides){P_NONE, NULL, NULL, NULL, 0};
    if (rc == ERR_NOTFOUND)
        return 0;
    if (rc < 0)
        return rc;
    json_object_foreach(obj, key, v)
    {
        size_t i = 0;
        char echo[68];

        while (i < ARRAY_LEN(keys) && strcmp(key, keys[i]) != 0)
            i++;
        if (i == ARRAY_LEN(keys))
            return err_set(app->w->err, ERR_INVALID,
                           "%s: unknown key \"%s\" (known: provider, installCommand, "
                           "buildCommand, startCommand, port)",
                           path_of(app, "slipway.json"),
                           slice_echo(echo, 64, slice_from_cstr(key)));
    }
    if ((rc = override_provider(app, obj, &ov->provider)) < 0 ||
        (rc = override_cmd(app, obj, "installCommand", &ov->install)) < 0 ||
        (rc = override_cmd(app, obj, "buildCommand", &ov->build)) < 0 ||
        (rc = override_cmd(app, obj, "startCommand", &ov->start)) < 0)
        return rc;
    if ((rc = json_get_int(obj, "port", false, 1, 65535, &port, app->w->err)) < 0)
        return file_fail(app, "slipway.json", rc);
    ov->port = (int)port;
    return 0;
}

/* ---------------------------------------------------------------- Node */

struct node {
    json_t *pkg;
    const json_t *deps, *dev;
    const char *pm;
    bool lock;
};

static bool node_has(const struct node *n, const char *dep)
{
    return json_object_get(n->deps, dep) != NULL || json_object_get(n->dev, dep) != NULL;
}

static bool node_has_prefix(const struct node *n, const char *prefix)
{
    const json_t *sets[] = {n->deps, n->dev};
    const char *key;
    json_t *v;

    for (size_t i = 0; i < ARRAY_LEN(sets); i++) {
        if (!json_is_object(sets[i]))
            continue;
        json_object_foreach((json_t *)sets[i], key, v)
        {
            if (strncmp(key, prefix, strlen(prefix)) == 0)
                return true;
        }
    }
    return false;
}

static const char *json_str(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The manager named by "packageManager" ("pnpm@9.1.0"), else the one whose lockfile is there,
 * else the top directory's, else npm. */
static int node_pm(struct app *app, struct node *n)
{
    static const char *const pms[] = {"pnpm", "yarn", "npm", "npm"};
    static const char *const locks[] = {"pnpm-lock.yaml", "yarn.lock", "package-lock.json",
                                        "npm-shrinkwrap.json"};
    const char *declared = json_str(n->pkg, "packageManager");
    char echo[68];

    for (size_t i = 0; i < ARRAY_LEN(locks); i++) {
        size_t len = strlen(pms[i]);

        if (declared != NULL && (strncmp(declared, pms[i], len) != 0 ||
                                 (declared[len] != '@' && declared[len] != '\0')))
            continue;
        if (declared != NULL || has_file(app->fd, locks[i])) {
            n->pm = pms[i];
            n->lock = has_file(app->fd, locks[i]) || (i == 2 && has_file(app->fd, locks[3])) ||
                      (app->w->root_lock && app->w->root_pm == pms[i]);
            return 0;
        }
    }
    if (declared != NULL)
        return err_set(
            app->w->err, ERR_INVALID, "%s: packageManager: \"%s\" is not npm, yarn or pnpm",
            path_of(app, "package.json"), slice_echo(echo, 64, slice_from_cstr(declared)));
    n->pm = app->w->root_pm != NULL ? app->w->root_pm : "npm";
    n->lock = app->w->root_lock;
    return 0;
}

static const char *node_install(struct walk *w, const struct node *n)
{
    if (strcmp(n->pm, "npm") == 0)
        return n->lock ? "npm ci" : "npm install";
    return strf(w, "%s install%s", n->pm, n->lock ? " --frozen-lockfile" : "");
}

/* How to run a package's binary with this manager. */
static const char *node_exec(const struct node *n)
{
    if (strcmp(n->pm, "npm") == 0)
        return "npx";
    return strcmp(n->pm, "pnpm") == 0 ? "pnpm exec" : "yarn";
}

/* engines.node, else .nvmrc, else .node-version. */
static int node_version(struct app *app, const struct node *n, struct bld_service *s)
{
    static const char *const files[] = {".nvmrc", ".node-version"};
    const char *engine = json_str(json_object_get(n->pkg, "engines"), "node");
    struct slice text, v;
    int rc;

    if (engine != NULL) {
        s->runtime_version = engine;
        return 0;
    }
    for (size_t i = 0; i < ARRAY_LEN(files); i++) {
        rc = read_small(app, files[i], &text);
        if (rc == ERR_NOTFOUND)
            continue;
        if (rc < 0)
            return rc;
        rc = bld_nvmrc_parse(text, &v, app->w->err);
        if (rc == ERR_NOTFOUND)
            continue;
        if (rc < 0)
            return file_fail(app, files[i], rc);
        s->runtime_version = str(app->w, v);
        return 0;
    }
    return 0;
}

static const char *node_framework(const struct node *n)
{
    static const char *const plain[][2] = {
        {"next", "next"},
        {"nuxt", "nuxt"},
        {"astro", "astro"},
        {"express", "express"},
    };

    for (size_t i = 0; i < 2; i++)
        if (node_has(n, plain[i][0]))
            return plain[i][1];
    if (node_has_prefix(n, "@remix-run/"))
        return "remix";
    for (size_t i = 2; i < ARRAY_LEN(plain); i++)
        if (node_has(n, plain[i][0]))
            return plain[i][1];
    return node_has(n, "vite") ? "vite" : "";
}

/* The start command when package.json has no start script. */
static void node_default_start(struct app *app, const struct node *n, struct bld_service *s)
{
    const char *f = s->framework, *main = json_str(n->pkg, "main");

    if (strcmp(f, "next") == 0)
        s->start_cmd = strf(app->w, "%s next start", node_exec(n));
    else if (strcmp(f, "nuxt") == 0)
        s->start_cmd = "node .output/server/index.mjs";
    else if (strcmp(f, "remix") == 0)
        s->start_cmd = strf(app->w, "%s remix-serve ./build/server/index.js", node_exec(n));
    else if (strcmp(f, "astro") == 0 && node_has(n, "@astrojs/node"))
        s->start_cmd = "node ./dist/server/entry.mjs";
    else if (strcmp(f, "astro") == 0 || strcmp(f, "vite") == 0) {
        s->static_dir = "dist";
        s->spa = strcmp(f, "vite") == 0;
    } else if (app->member && app->w->workspace)
        return; /* main or index.js alone: a library of the workspace */
    else if (main != NULL && main[0] != '\0')
        s->start_cmd = strf(app->w, "node %s", main);
    else if (has_file(app->fd, "index.js"))
        s->start_cmd = "node index.js";
}

static int fill_node(struct app *app, struct bld_service *s, const char **name)
{
    const json_t *scripts;
    struct node n = {0};
    const char *pkg_name;
    int rc = read_json(app, "package.json", &n.pkg);

    if (rc == ERR_NOTFOUND)
        return err_set(app->w->err, ERR_INVALID, "%s: provider node needs a package.json",
                       path_of(app, "slipway.json"));
    if (rc < 0 || (rc = node_pm(app, &n)) < 0 || (rc = node_version(app, &n, s)) < 0)
        return rc;
    n.deps = json_object_get(n.pkg, "dependencies");
    n.dev = json_object_get(n.pkg, "devDependencies");
    scripts = json_object_get(n.pkg, "scripts");
    s->language = "node";
    s->package_manager = n.pm;
    s->framework = node_framework(&n);
    s->install_cmd = node_install(app->w, &n);
    if (json_str(scripts, "build") != NULL)
        s->build_cmd = strf(app->w, "%s run build", n.pm);
    if (json_str(scripts, "start") != NULL)
        s->start_cmd = strf(app->w, "%s start", n.pm);
    else
        node_default_start(app, &n, s);
    pkg_name = json_str(n.pkg, "name");
    if (pkg_name != NULL && strchr(pkg_name, '/') != NULL)
        pkg_name = strchr(pkg_name, '/') + 1; /* "@acme/web" is "web" */
    *name = pkg_name;
    return 0;
}

/* ---------------------------------------------------------------- Python */

struct py {
    bool django, flask, fastapi, gunicorn, uvicorn;
};

static void py_dep(void *arg, struct slice name, struct slice value)
{
    struct py *p = arg;

    (void)value;
    p->django |= slice_case_eq_cstr(name, "django");
    p->flask |= slice_case_eq_cstr(name, "flask");
    p->fastapi |= slice_case_eq_cstr(name, "fastapi");
    p->gunicorn |= slice_case_eq_cstr(name, "gunicorn");
    p->uvicorn |= slice_case_eq_cstr(name, "uvicorn");
}

/* Reads requirements.txt, pyproject.toml and Pipfile when present, noting the frameworks and
 * servers they name; *proj gets what pyproject.toml says. */
static int py_read(struct app *app, struct py *p, struct bld_pyproject *proj, bool *pipfile)
{
    struct bld_pyproject pipf = {{0}};
    struct slice text;
    int rc;

    *proj = (struct bld_pyproject){{0}};
    if ((rc = read_small(app, "requirements.txt", &text)) == 0 &&
        (rc = bld_requirements_parse(text, py_dep, p, app->w->err)) < 0)
        return file_fail(app, "requirements.txt", rc);
    if (rc < 0 && rc != ERR_NOTFOUND)
        return rc;
    if ((rc = read_small(app, "pyproject.toml", &text)) == 0 &&
        (rc = bld_pyproject_parse(text, proj, py_dep, p, app->w->err)) < 0)
        return file_fail(app, "pyproject.toml", rc);
    if (rc < 0 && rc != ERR_NOTFOUND)
        return rc;
    *pipfile = (rc = read_small(app, "Pipfile", &text)) == 0;
    if (*pipfile && (rc = bld_pyproject_parse(text, &pipf, py_dep, p, app->w->err)) < 0)
        return file_fail(app, "Pipfile", rc);
    if (rc < 0 && rc != ERR_NOTFOUND)
        return rc;
    if (proj->requires_python.len == 0)
        proj->requires_python = pipf.requires_python;
    return 0;
}

/* The subdirectory holding wsgi.py: a Django project's settings package. */
static const char *django_project(struct app *app)
{
    DIR *d;
    struct dirent *e;
    const char *found = NULL;
    int fd = dup(app->fd);

    if (fd < 0 || (d = fdopendir(fd)) == NULL) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    while (found == NULL && (e = readdir(d)) != NULL && app->w->entries++ < WALK_ENTRIES) {
        int sub;

        if (e->d_name[0] == '.' || (sub = open_dir(app->fd, e->d_name)) < 0)
            continue;
        if (has_file(sub, "wsgi.py"))
            found = str(app->w, slice_from_cstr(e->d_name));
        close(sub);
    }
    closedir(d);
    return found;
}

static void py_start(struct app *app, const struct py *p, const char *main, struct bld_service *s)
{
    struct walk *w = app->w;
    int mod_len = main != NULL ? (int)strlen(main) - 3 : 0; /* without ".py" */
    const char *proj;

    if (p->django && has_file(app->fd, "manage.py")) {
        proj = p->gunicorn ? django_project(app) : NULL;
        s->start_cmd = proj != NULL ? strf(w, "gunicorn %s.wsgi --bind 0.0.0.0:$PORT", proj)
                                    : "python3 manage.py runserver 0.0.0.0:$PORT";
    } else if (main == NULL) {
        return;
    } else if ((p->fastapi || !p->gunicorn) && p->uvicorn) {
        s->start_cmd = strf(w, "uvicorn %.*s:app --host 0.0.0.0 --port $PORT", mod_len, main);
    } else if (p->gunicorn && !p->fastapi) {
        s->start_cmd = strf(w, "gunicorn %.*s:app --bind 0.0.0.0:$PORT", mod_len, main);
    } else {
        s->start_cmd = strf(w, "python3 %s", main);
    }
}

static int fill_python(struct app *app, struct bld_service *s, const char **name)
{
    static const char *const mains[] = {"main.py", "app.py", "server.py", "wsgi.py", "asgi.py"};
    struct bld_pyproject proj;
    struct py p = {0};
    const char *main = NULL;
    struct slice text, v;
    bool pipfile = false;
    int rc = py_read(app, &p, &proj, &pipfile);

    if (rc < 0)
        return rc;
    p.django |= has_file(app->fd, "manage.py");
    s->language = "python";
    s->framework = p.django ? "django" : p.fastapi ? "fastapi" : p.flask ? "flask" : "";
    if (proj.poetry) {
        s->package_manager = "poetry";
        s->install_cmd = "poetry install --no-root --only main";
    } else if (pipfile) {
        s->package_manager = "pipenv";
        s->install_cmd = "pipenv install --deploy --system";
    } else if (has_file(app->fd, "requirements.txt")) {
        s->package_manager = "pip";
        s->install_cmd = "pip install -r requirements.txt";
    } else if (has_file(app->fd, "pyproject.toml")) {
        s->package_manager = "pip";
        s->install_cmd = "pip install .";
    }
    if ((rc = read_small(app, ".python-version", &text)) == 0 &&
        bld_nvmrc_parse(text, &v, app->w->err) == 0)
        s->runtime_version = str(app->w, v);
    else if (rc < 0 && rc != ERR_NOTFOUND)
        return rc;
    else if (proj.requires_python.len > 0)
        s->runtime_version = str(app->w, proj.requires_python);
    for (size_t i = 0; i < ARRAY_LEN(mains) && main == NULL; i++)
        if (has_file(app->fd, mains[i]))
            main = mains[i];
    py_start(app, &p, main, s);
    *name = proj.name.len > 0 ? str(app->w, proj.name) : NULL;
    return 0;
}

/* ---------------------------------------------------------------- Go */

static void go_dep(void *arg, struct slice path, struct slice version)
{
    static const char *const known[][2] = {
        {"github.com/gin-gonic/gin", "gin"},
        {"github.com/labstack/echo", "echo"},
        {"github.com/gofiber/fiber", "fiber"},
        {"github.com/go-chi/chi", "chi"},
    };
    const char **framework = arg;

    (void)version;
    for (size_t i = 0; i < ARRAY_LEN(known) && (*framework)[0] == '\0'; i++)
        if (slice_starts_with(path, slice_from_cstr(known[i][0])))
            *framework = known[i][1];
}

/* The package to build: the app directory when it holds .go files, else its only (or first)
 * directory under cmd/. */
static const char *go_target(struct app *app)
{
    const char *target = ".", *first = NULL;
    struct dirent *e;
    int fd = dup(app->fd), cmd = -1;
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return target;
    }
    while ((e = readdir(d)) != NULL && app->w->entries++ < WALK_ENTRIES) {
        size_t n = strlen(e->d_name);

        if (n > 3 && strcmp(e->d_name + n - 3, ".go") == 0 && has_file(app->fd, e->d_name)) {
            closedir(d);
            return target;
        }
    }
    closedir(d);
    if ((cmd = open_dir(app->fd, "cmd")) < 0 || (fd = dup(cmd)) < 0 ||
        (d = fdopendir(fd)) == NULL) {
        if (cmd >= 0)
            close(cmd);
        return target;
    }
    while ((e = readdir(d)) != NULL && app->w->entries++ < WALK_ENTRIES)
        if (e->d_name[0] != '.' && has_dir(cmd, e->d_name) &&
            (first == NULL || strcmp(e->d_name, first) < 0))
            first = str(app->w, slice_from_cstr(e->d_name));
    closedir(d);
    close(cmd);
    return first != NULL ? strf(app->w, "./cmd/%s", first) : target;
}

static int fill_go(struct app *app, struct bld_service *s, const char **name)
{
    struct bld_gomod mod;
    struct slice text, last;
    const char *framework = "";
    int rc = read_small(app, "go.mod", &text);

    if (rc == ERR_NOTFOUND)
        return err_set(app->w->err, ERR_INVALID, "%s: provider go needs a go.mod",
                       path_of(app, "slipway.json"));
    if (rc < 0)
        return rc;
    if ((rc = bld_gomod_parse(text, &mod, go_dep, &framework, app->w->err)) < 0)
        return file_fail(app, "go.mod", rc);
    s->language = "go";
    s->framework = framework;
    s->package_manager = "go";
    s->runtime_version = str(app->w, mod.go_version);
    s->install_cmd = "go mod download";
    s->build_cmd = strf(app->w, "CGO_ENABLED=0 go build -trimpath -o app %s", go_target(app));
    s->start_cmd = "./app";
    /* The name is the module path's last element, skipping a major version ("/v2"). */
    last = mod.module;
    for (size_t i = mod.module.len; i-- > 0;) {
        struct slice tail = {mod.module.ptr + i + 1, mod.module.len - i - 1};

        if (mod.module.ptr[i] != '/')
            continue;
        if (tail.len >= 2 && tail.ptr[0] == 'v' && tail.ptr[1] >= '0' && tail.ptr[1] <= '9') {
            mod.module.len = i;
            continue;
        }
        last = tail;
        break;
    }
    *name = str(app->w, last);
    return 0;
}

/* ---------------------------------------------------------------- static sites */

static void staticfile_line(void *arg, struct slice key, struct slice value)
{
    struct slice *root = arg;

    if (slice_eq_cstr(key, "root"))
        *root = value;
}

static int fill_static(struct app *app, struct bld_service *s)
{
    struct slice text, root = SLICE_NULL;
    int rc = read_small(app, "Staticfile", &text);

    s->language = "html";
    s->spa = true;
    s->static_dir = has_file(app->fd, "index.html") || !has_public_index(app->fd) ? "." : "public";
    if (rc == ERR_NOTFOUND)
        return 0;
    if (rc < 0)
        return rc;
    if ((rc = bld_colon_lines_parse(text, staticfile_line, &root, app->w->err)) < 0)
        return file_fail(app, "Staticfile", rc);
    if (root.len == 0)
        return 0;
    if (root.ptr[0] == '/' || memchr(root.ptr, '\0', root.len) != NULL ||
        (root.len >= 2 && memcmp(root.ptr, "..", 2) == 0) ||
        strstr(str(app->w, root), "/..") != NULL)
        return err_set(app->w->err, ERR_INVALID, "%s: root: must be a directory inside the app",
                       path_of(app, "Staticfile"));
    s->static_dir = str(app->w, root);
    return 0;
}

/* ---------------------------------------------------------------- Procfile, Dockerfile */

static int procfile_start(struct app *app, struct bld_service *s)
{
    struct slice text, name, cmd;
    int rc = read_small(app, "Procfile", &text);

    if (rc < 0)
        return rc;
    if ((rc = bld_procfile_pick(text, &name, &cmd, app->w->err)) < 0)
        return file_fail(app, "Procfile", rc == ERR_NOTFOUND ? ERR_INVALID : rc);
    s->start_cmd = str(app->w, cmd);
    s->static_dir = "";
    return 0;
}

/* A Procfile alone says nothing of the language: its command's first word does. */
static const char *language_of(const char *cmd)
{
    static const char *const words[][2] = {
        {"python", "python"}, {"gunicorn", "python"}, {"uvicorn", "python"},
        {"node", "node"},     {"npm", "node"},        {"npx", "node"},
    };

    for (size_t i = 0; i < ARRAY_LEN(words); i++)
        if (strncmp(cmd, words[i][0], strlen(words[i][0])) == 0)
            return words[i][1];
    return "";
}

static int dockerfile_port(struct app *app, struct bld_service *s)
{
    struct slice text;
    int port = 0, rc = read_small(app, "Dockerfile", &text);

    if (rc < 0)
        return rc;
    if ((rc = bld_dockerfile_port(text, &port, app->w->err)) < 0)
        return file_fail(app, "Dockerfile", rc);
    if (port != 0)
        s->port = port;
    return 0;
}

/* ---------------------------------------------------------------- one app */

/* The language provider the directory's own files point to. */
static enum provider language_provider(int fd)
{
    if (has_file(fd, "package.json"))
        return P_NODE;
    if (has_file(fd, "requirements.txt") || has_file(fd, "pyproject.toml") ||
        has_file(fd, "Pipfile"))
        return P_PYTHON;
    if (has_file(fd, "go.mod"))
        return P_GO;
    if (has_file(fd, "index.html") || has_file(fd, "Staticfile") || has_public_index(fd))
        return P_STATIC;
    return P_NONE;
}

static int fill_language(struct app *app, enum provider lang, struct bld_service *s,
                         const char **name)
{
    switch (lang) {
    case P_NODE:
        return fill_node(app, s, name);
    case P_PYTHON:
        return fill_python(app, s, name);
    case P_GO:
        return fill_go(app, s, name);
    case P_STATIC:
        return fill_static(app, s);
    default:
        return 0;
    }
}

static enum provider choose(int fd, const struct overrides *ov, enum provider lang)
{
    if (ov->provider != P_NONE)
        return ov->provider;
    if (has_file(fd, "Dockerfile"))
        return P_DOCKERFILE;
    if (has_file(fd, "Procfile") && (lang == P_NONE || lang == P_STATIC))
        return P_PROCFILE;
    return lang;
}

static int provider_files(struct app *app, enum provider p, struct bld_service *s)
{
    int rc;

    if (p == P_DOCKERFILE) {
        if (!has_file(app->fd, "Dockerfile"))
            return err_set(app->w->err, ERR_INVALID, "%s: provider dockerfile needs a Dockerfile",
                           path_of(app, "slipway.json"));
        s->install_cmd = s->build_cmd = s->start_cmd = s->static_dir = "";
        s->spa = false;
        return dockerfile_port(app, s);
    }
    if (p == P_PROCFILE && !has_file(app->fd, "Procfile"))
        return err_set(app->w->err, ERR_INVALID, "%s: provider procfile needs a Procfile",
                       path_of(app, "slipway.json"));
    if (has_file(app->fd, "Procfile") && (rc = procfile_start(app, s)) < 0)
        return rc;
    if (p == P_PROCFILE && (s->language[0] == '\0' || strcmp(s->language, "html") == 0))
        s->language = language_of(s->start_cmd);
    return 0;
}

static void apply_overrides(const struct overrides *ov, struct bld_service *s)
{
    if (ov->install != NULL)
        s->install_cmd = ov->install;
    if (ov->build != NULL)
        s->build_cmd = ov->build;
    if (ov->start != NULL) {
        s->start_cmd = ov->start;
        s->static_dir = "";
    }
    if (ov->port != 0)
        s->port = ov->port;
}

static void name_app(struct app *app, const char *from_pkg, struct bld_service *s)
{
    const char *base = strrchr(app->rel, '/');
    char label[64];

    if (from_pkg == NULL || from_pkg[0] == '\0')
        from_pkg = strcmp(app->rel, ".") == 0 ? app->w->top_name : base ? base + 1 : app->rel;
    bld_dns_label(slice_from_cstr(from_pkg), label);
    s->name = str(app->w, slice_from_cstr(label));
}

/* Why an app that was recognised cannot start, for the top directory's error. */
static int not_runnable(struct app *app, const struct bld_service *s)
{
    app->w->cannot_start = true;
    return err_set(app->w->err, ERR_INVALID,
                   "%s: %s app without a start command (no start script, main, index.js, "
                   "main.py, app.py or server.py); set startCommand in slipway.json",
                   app->rel, s->provider);
}

/* Describes the app in app->fd into *s; *found is false when nothing there can run. */
static int detect_app(struct app *app, struct bld_service *s, bool *found)
{
    struct overrides ov;
    enum provider lang = language_provider(app->fd), p;
    const char *pkg_name = NULL;
    int rc = read_overrides(app, &ov);

    *found = false;
    if (rc < 0)
        return rc;
    p = choose(app->fd, &ov, lang);
    if (p == P_NONE)
        return 0;
    *s = (struct bld_service){"", app->rel, provider_names[p], "", "", "", "", "", "", "",
                              "", false,    DEFAULT_PORT};
    if (p != P_DOCKERFILE && p != P_PROCFILE)
        lang = p; /* forced by slipway.json */
    if ((rc = fill_language(app, lang, s, &pkg_name)) < 0 || (rc = provider_files(app, p, s)) < 0)
        return rc;
    apply_overrides(&ov, s);
    name_app(app, pkg_name, s);
    if (s->start_cmd[0] == '\0' && s->static_dir[0] == '\0' && p != P_DOCKERFILE)
        return app->member ? 0 : not_runnable(app, s);
    *found = true;
    return 0;
}

/* ---------------------------------------------------------------- the walk */

static int add_service(struct walk *w, const struct bld_service *s)
{
    struct bld_service *grown;

    if (w->n == w->cap) {
        if (w->cap == MAX_SERVICES)
            return err_set(w->err, ERR_LIMIT, "more than %d apps in one repository", MAX_SERVICES);
        w->cap = w->cap ? w->cap * 2 : 4;
        grown = arena_alloc(w->a, w->cap * sizeof(*grown));
        if (grown == NULL)
            return err_set(w->err, ERR_LIMIT, "out of memory budget listing apps");
        if (w->n > 0)
            memcpy(grown, w->svc, w->n * sizeof(*grown));
        w->svc = grown;
    }
    w->svc[w->n++] = *s;
    return 0;
}

static bool skipped(const char *name)
{
    if (name[0] == '.')
        return true;
    for (size_t i = 0; i < ARRAY_LEN(skipped_dirs); i++)
        if (strcmp(name, skipped_dirs[i]) == 0)
            return true;
    return false;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The subdirectories of <fd> worth searching, sorted; the caller frees them. */
static int list_dirs(struct walk *w, int fd, const char *rel, char ***out, size_t *count)
{
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int dfd = dup(fd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;

    if (d == NULL) {
        if (dfd >= 0)
            close(dfd);
        return err_set(w->err, ERR_IO, "%s: %s", rel, strerror(errno));
    }
    while ((e = readdir(d)) != NULL) {
        if (++w->entries > WALK_ENTRIES) {
            closedir(d);
            free_names(names, n);
            return err_set(w->err, ERR_LIMIT, "more than %d files and directories to search",
                           WALK_ENTRIES);
        }
        if (skipped(e->d_name) || !has_dir(fd, e->d_name))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            names = xrealloc(names, cap * sizeof(*names));
        }
        names[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof(*names), cmp_names);
    *out = names;
    *count = n;
    return 0;
}

static int scan(struct walk *w, int fd, const char *rel, int depth);

/* One subdirectory <name> of <fd>: an app, or a directory to search further. */
static int visit(struct walk *w, int fd, const char *rel, const char *name, int depth)
{
    struct app app = {w, open_dir(fd, name), NULL, true};
    struct bld_service s;
    bool found = false;
    int rc = 0;

    if (app.fd < 0)
        return 0; /* replaced by a link meanwhile, or unreadable: nothing to see */
    app.rel = strcmp(rel, ".") == 0 ? str(w, slice_from_cstr(name)) : strf(w, "%s/%s", rel, name);
    if (has_marker(app.fd)) {
        rc = detect_app(&app, &s, &found);
        if (rc == 0 && found)
            rc = add_service(w, &s);
    } else if (depth < WALK_DEPTH) {
        rc = scan(w, app.fd, app.rel, depth + 1);
    }
    close(app.fd);
    return rc;
}

static int scan(struct walk *w, int fd, const char *rel, int depth)
{
    char **names = NULL;
    size_t n = 0;
    int rc = list_dirs(w, fd, rel, &names, &n);

    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = visit(w, fd, rel, names[i], depth);
    free_names(names, n);
    return rc;
}

/* What the top directory says about the whole tree: its package manager and lockfile (which
 * workspace packages share) and whether it is a workspace. */
static int read_top(struct walk *w, struct app *top)
{
    struct node n = {0};
    int rc = read_json(top, "package.json", &n.pkg);

    w->workspace = has_file(top->fd, "pnpm-workspace.yaml");
    if (rc == ERR_NOTFOUND)
        return 0;
    if (rc < 0 || (rc = node_pm(top, &n)) < 0)
        return rc;
    w->root_pm = n.pm;
    w->root_lock = n.lock;
    w->workspace |= json_object_get(n.pkg, "workspaces") != NULL;
    return 0;
}

/* Names must differ: a second "web" becomes "web-2". */
static void unique_names(struct walk *w)
{
    for (size_t i = 1; i < w->n; i++) {
        const char *base = w->svc[i].name;

        for (unsigned k = 2, clash = 1; clash; k++) {
            clash = 0;
            for (size_t j = 0; j < i; j++)
                clash |= strcmp(w->svc[j].name, w->svc[i].name) == 0;
            if (clash)
                w->svc[i].name = strf(w, "%.*s-%u", 56, base, k);
        }
    }
}

static int detect_top(struct walk *w, int fd, struct err *why_not)
{
    struct app top = {w, fd, ".", false};
    struct bld_service s;
    bool found = false;
    int rc;

    if (!has_marker(fd))
        return scan(w, fd, ".", 1);
    if ((rc = read_top(w, &top)) < 0)
        return rc;
    rc = detect_app(&top, &s, &found);
    if (rc == 0 && found)
        return add_service(w, &s);
    if (rc < 0 && !w->cannot_start)
        return rc;
    /* The top cannot start (a workspace root, a tooling package.json): its apps may be below.
     * When none is, the top's own error is the answer. */
    if (rc < 0)
        *why_not = *w->err;
    return scan(w, fd, ".", 1);
}

int bld_detect(const char *dir, struct arena *a, struct bld_service **out, size_t *count,
               struct err *err)
{
    struct walk w = {.a = a, .err = err};
    struct err why_not = {0};
    const char *slash;
    size_t len = strlen(dir);
    int fd, rc;

    while (len > 1 && dir[len - 1] == '/')
        len--;
    slash = memrchr(dir, '/', len);
    w.top_name = str(&w, slash ? (struct slice){slash + 1, len - (size_t)(slash + 1 - dir)}
                               : (struct slice){dir, len});
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, err_from_errno(errno), "%s: %s", dir, strerror(errno));
    rc = detect_top(&w, fd, &why_not);
    close(fd);
    if (rc == 0 && w.oom)
        rc = err_set(err, ERR_LIMIT, "out of memory budget describing the apps");
    if (rc < 0)
        return rc;
    if (w.n == 0 && why_not.code != 0) {
        *err = why_not;
        return err->code;
    }
    if (w.n == 0)
        return err_set(err, ERR_NOTFOUND,
                       "no app found; looked for " LOOKED_FOR " in the top %d levels",
                       WALK_DEPTH + 1);
    unique_names(&w);
    *out = w.svc;
    *count = w.n;
    return 0;
}
