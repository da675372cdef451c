/*
 * bld build: one commit of one app into an OCI image (docs/builds.md, "Building an image").
 *
 * The pipeline is clone → detect → base images → install → build → layers → image → push, with
 * three caches, each keyed by everything that goes into what it holds:
 *   - the runtime layer (layer 1) by the runtime's base key and the compression, in the shared
 *     base cache: it holds only Debian packages, so any project may reuse it;
 *   - the dependency layer (layer 2) by the build image's key, the install command and the
 *     lockfile, in the project's cache: a hit skips the install step;
 *   - the whole image by the build key (commit, app, its settings, both base keys, compression),
 *     in the project's cache: a hit skips everything but the clone and the push.
 * Base keys are memoised against the host's package lists (see base_get()), because asking apt
 * costs about a second and a same-commit rebuild must take less than that in all.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "bld/bld-int.h"

#define KEY_FORMAT  "slipway-build-2\n" /* bump when the image made from the same inputs changes */
#define DEPS_FORMAT "slipway-deps-1\n"
#define APT_LISTS   "/var/lib/apt/lists"
#define STEP_PATH                                                                                  \
    "PATH=/app/node_modules/.bin:/app/.venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:"         \
    "/usr/bin:/sbin:/bin"
#define IMAGE_PATH STEP_PATH /* nginx is in /usr/sbin */
#define NGINX_START                                                                                \
    "echo \"listen ${PORT:-8080};\" >/tmp/listen.conf && exec nginx -e stderr -g 'daemon off;'"
#define CA_FILE    "/etc/ssl/certs/ca-certificates.crt"
#define READ_MAX   (4u << 20)
#define PATH_BYTES 1024

extern char **environ;

/* One build in progress: the request, where things are, and the clock. */
struct bctx {
    const struct bld_build_req *req;
    const struct bld_build_hooks *hooks;
    struct bld_build_result *res;
    struct arena *a;
    const char *src;   /* the checkout */
    const char *app;   /* the app's directory in it */
    const char *cache; /* req->cache_dir */
    const char *store; /* <cache>/layers: the project's layer blobs */
    const struct bld_service *svc;
    struct bld_plan plan;
    char run_key[BLD_BASE_KEY_HEX + 1], build_key[BLD_BASE_KEY_HEX + 1];
    const char *run_root, *build_root;
    uint64_t deadline_ms; /* 0: none */
};

/* ---------------------------------------------------------------- small helpers */

static void say(struct bctx *c, const char *fmt, ...) APP_PRINTF(2, 3);
static void say(struct bctx *c, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;

    if (c->hooks == NULL || c->hooks->line == NULL)
        return;
    memcpy(line, "==> ", 4);
    va_start(ap, fmt);
    n = vsnprintf(line + 4, sizeof(line) - 4, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    c->hooks->line(c->hooks->arg, (struct slice){line, strlen(line)});
}

static bool cancelled(const struct bctx *c)
{
    return c->hooks != NULL && c->hooks->cancel != NULL && *c->hooks->cancel;
}

static const char *path_of(struct bctx *c, const char *dir, const char *name)
{
    return arena_printf(c->a, "%s/%s", dir, name);
}

static bool exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

/* Runs <argv> (no shell) and waits: for cp. Output goes to our stderr. */
static int run_argv(const char *const *argv, struct err *err)
{
    pid_t pid;
    int status = 0, rc;

    rc = posix_spawnp(&pid, argv[0], NULL, NULL, (char *const *)argv, environ);
    if (rc != 0)
        return err_set(err, ERR_IO, "cannot start %s: %s", argv[0], strerror(rc));
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return err_set(err, ERR_IO, "%s %s failed", argv[0], argv[1]);
    return 0;
}

static int copy_tree(const char *from, const char *to, struct err *err)
{
    const char *argv[] = {"cp", "-a", "--reflink=auto", from, to, NULL};

    return run_argv(argv, err);
}

/* SHA-256 of the fields fed to it, in hex. Each field ends with a NUL so none can run into the
 * next. */
struct hasher {
    EVP_MD_CTX *md;
};

static void hash_init(struct hasher *h, const char *format)
{
    h->md = EVP_MD_CTX_new();
    ASSERT(h->md != NULL && EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) == 1);
    EVP_DigestUpdate(h->md, format, strlen(format));
}

static void hash_put(struct hasher *h, const void *p, size_t n)
{
    EVP_DigestUpdate(h->md, p, n);
    EVP_DigestUpdate(h->md, "", 1);
}

static void hash_str(struct hasher *h, const char *s)
{
    hash_put(h, s ? s : "", s ? strlen(s) : 0);
}

static void hash_end(struct hasher *h, char hex[BLD_BASE_KEY_HEX + 1])
{
    unsigned char d[32];
    unsigned n = 0;

    EVP_DigestFinal_ex(h->md, d, &n);
    EVP_MD_CTX_free(h->md);
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

/* ---------------------------------------------------------------- the plan */

static const char *nonempty(const char *s)
{
    return s != NULL && *s != '\0' ? s : NULL;
}

/* How many requirements a requirements.txt names (comments and options do not count). */
static void count_name(void *arg, struct slice name, struct slice value)
{
    (void)name;
    (void)value;
    (*(size_t *)arg)++;
}

static int python_plan(const char *app, struct bld_plan *p, struct err *err)
{
    char path[PATH_BYTES];
    struct sbuf text = SBUF_INIT(BLD_READ_MAX);
    size_t n = 0;
    int rc = 0;

    p->runtime = p->build_runtime = "python";
    snprintf(path, sizeof(path), "%s/requirements.txt", app);
    if (p->install != NULL && strcmp(p->install, "pip install -r requirements.txt") == 0 &&
        file_read(path, &text, &(struct err){0}) == 0) {
        rc = bld_requirements_parse(sbuf_slice(&text), count_name, &n, err);
        if (rc < 0)
            err_wrap(err, "requirements.txt");
        else if (n == 0)
            p->install = NULL; /* the standard library only: nothing to install, no venv */
    }
    sbuf_release(&text);
    if (rc < 0)
        return rc;
    if (p->install != NULL) {
        p->venv = true;
        p->deps_dir = ".venv";
        p->lockfiles = "poetry.lock\0Pipfile.lock\0requirements.txt\0pyproject.toml\0Pipfile\0";
    }
    return 0;
}

/* The runtime image has node but no package manager (npm alone is larger than node): a start
 * command that only runs the start script is replaced by the script itself, as npm would run
 * it (with node_modules/.bin in PATH, which the image's PATH has). */
static int node_start(struct arena *a, const char *app, struct bld_plan *p, struct err *err)
{
    static const char *const runs[] = {"npm start",      "npm run start", "yarn start",
                                       "yarn run start", "pnpm start",    "pnpm run start"};
    struct sbuf text = SBUF_INIT(BLD_READ_MAX);
    char path[PATH_BYTES];
    json_t *pkg = NULL, *scripts;
    struct slice script = SLICE_NULL;
    bool is_run = false;
    int rc;

    for (size_t i = 0; p->start != NULL && i < ARRAY_LEN(runs); i++)
        is_run = is_run || strcmp(p->start, runs[i]) == 0;
    if (!is_run)
        return 0;
    snprintf(path, sizeof(path), "%s/package.json", app);
    rc = file_read(path, &text, err);
    if (rc == 0)
        rc = json_read_object(sbuf_slice(&text), BLD_READ_MAX, 64, &pkg, err);
    scripts = pkg ? json_object_get(pkg, "scripts") : NULL;
    if (rc == 0 && json_is_object(scripts))
        rc = json_get_str(scripts, "start", false, &script, err);
    if (rc == 0 && script.len == 0)
        rc = err_set(err, ERR_INVALID, "package.json has no start script for \"%s\"", p->start);
    if (rc == 0 && (p->start = arena_strndup(a, script.ptr, script.len)) == NULL)
        rc = err_set(err, ERR_LIMIT, "out of memory");
    json_decref(pkg);
    sbuf_release(&text);
    return rc < 0 ? err_wrap(err, "package.json") : 0;
}

int bld_build_plan(struct arena *a, const char *app, const struct bld_service *s,
                   struct bld_plan *p, struct err *err)
{
    const char *prov = s->provider;

    *p = (struct bld_plan){.install = nonempty(s->install_cmd),
                           .build = nonempty(s->build_cmd),
                           .start = nonempty(s->start_cmd),
                           .static_dir = nonempty(s->static_dir),
                           .port = s->port > 0 ? s->port : 8080};
    if (strcmp(prov, "dockerfile") == 0) {
        p->runtime = "dockerfile"; /* buildah builds it: bld_dockerfile_build() */
        return 0;
    }
    if (strcmp(prov, "go") == 0) {
        p->runtime = "go";
        p->build_runtime = "go";
        p->binary = "app";
    } else if (strcmp(prov, "python") == 0 ||
               (strcmp(prov, "procfile") == 0 && strcmp(s->language, "python") == 0)) {
        return python_plan(app, p, err);
    } else if (strcmp(prov, "node") == 0 ||
               (strcmp(prov, "procfile") == 0 && strcmp(s->language, "node") == 0)) {
        p->runtime = "node";
        p->build_runtime = "node";
        p->deps_dir = "node_modules";
        p->lockfiles = "package-lock.json\0npm-shrinkwrap.json\0yarn.lock\0pnpm-lock.yaml\0"
                       "package.json\0";
    } else if (strcmp(prov, "static") == 0) {
        p->runtime = "static";
        p->build_runtime = p->install || p->build ? "node" : NULL;
    } else {
        return err_set(err, ERR_INVALID,
                       "%s: cannot tell which runtime the %s app needs (language \"%s\")",
                       s->context_path, prov, s->language);
    }
    /* A site built into static files runs on the static server; node_modules stays behind. */
    if (p->static_dir != NULL && p->start == NULL) {
        p->runtime = "static";
        p->deps_in_image = false;
        p->port = 8080; /* the static server listens on $PORT, this when it is unset */
    } else {
        p->deps_in_image = p->deps_dir != NULL;
    }
    if (p->start == NULL && strcmp(p->runtime, "static") != 0)
        return err_set(err, ERR_INVALID, "%s: no start command (set startCommand in slipway.json)",
                       s->context_path);
    return strcmp(p->runtime, "node") == 0 ? node_start(a, app, p, err) : 0;
}

/* ---------------------------------------------------------------- source and service */

/* The commit HEAD names in the checkout <dir>. */
static int head_commit(const char *dir, char out[BLD_OID_HEX + 1], struct err *err)
{
    git_repository *repo = NULL;
    git_oid oid;
    int rc;

    git_libgit2_init();
    rc = git_repository_open(&repo, dir);
    if (rc == 0)
        rc = git_reference_name_to_id(&oid, repo, "HEAD");
    git_repository_free(repo);
    git_libgit2_shutdown();
    if (rc != 0)
        return err_set(err, ERR_INVALID, "%s: not a git checkout with a commit", dir);
    git_oid_tostr(out, BLD_OID_HEX + 1, &oid);
    return 0;
}

static int fetch_source(struct bctx *c, struct err *err)
{
    const struct bld_build_req *r = c->req;
    struct sbuf shown = SBUF_INIT(2048);
    int rc;

    if (r->checkout_dir != NULL) {
        c->src = r->checkout_dir;
        return head_commit(r->checkout_dir, c->res->commit, err);
    }
    bld_url_redact(r->url, &shown);
    say(c, "cloning %s at %s", shown.buf, r->ref ? r->ref : "the default branch");
    sbuf_release(&shown);
    c->src = path_of(c, r->work_dir, "src");
    if (c->src == NULL)
        return err_set(err, ERR_LIMIT, "out of memory");
    rc = bld_clone(r->url, r->ref, c->src, c->res->commit, err);
    if (rc == 0)
        say(c, "commit %s", c->res->commit);
    return rc;
}

/* The service to build: the request's, or the detected one at its context path. */
static int pick_service(struct bctx *c, struct err *err)
{
    const char *want = c->req->context_path;
    struct bld_service *all;
    size_t n;
    int rc;

    if (c->req->service != NULL) {
        c->svc = c->req->service;
        return 0;
    }
    rc = bld_detect(c->src, c->a, &all, &n, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (want != NULL ? strcmp(all[i].context_path, want) == 0 : n == 1) {
            c->svc = &all[i];
            say(c, "detected %s (%s%s%s) in %s", all[i].name, all[i].provider,
                *all[i].framework ? ", " : "", all[i].framework, all[i].context_path);
            return 0;
        }
    struct sbuf list = SBUF_INIT(512);
    for (size_t i = 0; i < n; i++)
        sbuf_printf(&list, "%s\"%s\"", i ? ", " : "", all[i].context_path);
    rc = err_set(err, ERR_NOTFOUND, "%s %s; apps found: %s",
                 want ? "no app at context path" : "the repository holds several apps:",
                 want ? want : "give a context path", list.buf);
    sbuf_release(&list);
    return rc;
}

/* ---------------------------------------------------------------- base images */

/* A signature of the host's package lists: apt resolves from them, so while they are unchanged
 * (and the root filesystems are finished the same way) a base key found before is still the key
 * apt would give. */
static void lists_sig(char *out, size_t max)
{
    struct stat st;

    if (stat(APT_LISTS, &st) != 0)
        snprintf(out, max, "f%d-none", BLD_BASE_FORMAT);
    else
        snprintf(out, max, "f%d-%lld.%09ld", BLD_BASE_FORMAT, (long long)st.st_mtim.tv_sec,
                 st.st_mtim.tv_nsec);
}

/* The rootfs of <runtime> (<build>: its build image) and its key, from the memo under
 * <base_cache>/keys when the lists have not changed since, else from bld_base_rootfs(). */
static int base_get(struct bctx *c, const char *runtime, bool build, const char **root,
                    char key[BLD_BASE_KEY_HEX + 1], struct err *err)
{
    const struct bld_base_spec spec = {.runtime = runtime, .build = build};
    struct sbuf memo = SBUF_INIT(4096);
    char sig[64], want_sig[64], path[PATH_BYTES], *got = NULL;
    const char *memo_path;
    int rc;

    lists_sig(sig, sizeof(sig));
    memo_path =
        arena_printf(c->a, "%s/keys/%s%s", c->req->base_cache, runtime, build ? "-build" : "");
    if (memo_path == NULL)
        return err_set(err, ERR_LIMIT, "out of memory");
    if (file_read(memo_path, &memo, &(struct err){0}) == 0 &&
        sscanf(memo.buf, "%63s %64s %1023s", want_sig, key, path) == 3 &&
        strcmp(sig, want_sig) == 0 && strlen(key) == BLD_BASE_KEY_HEX && exists(path)) {
        sbuf_release(&memo);
        *root = arena_strndup(c->a, path, strlen(path));
        return *root ? 0 : err_set(err, ERR_LIMIT, "out of memory");
    }
    sbuf_release(&memo);
    say(c, "preparing the %s %s image", runtime, build ? "build" : "runtime");
    rc = bld_base_rootfs(&spec, c->req->base_cache, &got, key, err);
    if (rc < 0)
        return rc;
    *root = arena_strndup(c->a, got, strlen(got));
    snprintf(path, sizeof(path), "%s/keys", c->req->base_cache);
    rc = file_mkdirs(path, 0755, -1, err);
    if (rc == 0) {
        struct sbuf line = SBUF_INIT(4096);
        sbuf_printf(&line, "%s %s %s\n", sig, key, got);
        rc = file_write_atomic(memo_path, line.buf, line.len, 0644, err);
        sbuf_release(&line);
    }
    free(got);
    return rc;
}

static int dockerfile_base(void *arg, const char *runtime, bool build, const char **rootfs,
                           char key[BLD_BASE_KEY_HEX + 1], struct err *err)
{
    return base_get(arg, runtime, build, rootfs, key, err);
}

static bool is_dockerfile(const struct bctx *c)
{
    return strcmp(c->plan.runtime, "dockerfile") == 0;
}

/* A Dockerfile app's build, for bld_dockerfile_key() and bld_dockerfile_build(). */
static struct bld_dockerfile_job *dockerfile_job(struct bctx *c, struct bld_dockerfile_job *j,
                                                 struct sbuf *shown)
{
    const struct bld_build_req *r = c->req;

    bld_url_redact(r->url ? r->url : "", shown); /* no password in the image's labels */
    *j = (struct bld_dockerfile_job){.context = c->app,
                                     .cache_dir = c->cache,
                                     .base_cache = r->base_cache,
                                     .work_dir = r->work_dir,
                                     .layout_dir = c->res->layout_dir,
                                     .tag = c->res->tag,
                                     .source = shown->buf,
                                     .revision = c->res->commit,
                                     .memory_bytes = r->memory_bytes,
                                     .cpu_quota_us = r->cpu_quota_us,
                                     .cpu_period_us = r->cpu_period_us,
                                     .pids_max = r->pids_max,
                                     .deadline_ms = c->deadline_ms,
                                     .wall_ms = r->wall_ms,
                                     .compression = r->compression,
                                     .base = dockerfile_base,
                                     .base_arg = c,
                                     .line = c->hooks ? c->hooks->line : NULL,
                                     .line_arg = c->hooks ? c->hooks->arg : NULL,
                                     .cancel = c->hooks ? c->hooks->cancel : NULL};
    return j;
}

static int bases(struct bctx *c, struct err *err)
{
    if (is_dockerfile(c)) {
        struct bld_dockerfile_job j;
        struct sbuf shown = SBUF_INIT(2048);
        int rc = bld_dockerfile_key(dockerfile_job(c, &j, &shown), c->run_key, err);
        sbuf_release(&shown);
        return rc;
    }
    int rc = base_get(c, c->plan.runtime, false, &c->run_root, c->run_key, err);

    if (rc == 0 && c->plan.build_runtime != NULL)
        rc = base_get(c, c->plan.build_runtime, true, &c->build_root, c->build_key, err);
    return rc;
}

/* ---------------------------------------------------------------- keys and records */

void bld_build_key(const char *commit, const struct bld_service *s, const char *run_key,
                   const char *build_key, enum oci_compression comp, char out[BLD_BASE_KEY_HEX + 1])
{
    struct hasher h;
    char n[32];

    hash_init(&h, KEY_FORMAT);
    hash_str(&h, commit);
    hash_str(&h, s->context_path);
    hash_str(&h, s->provider);
    hash_str(&h, s->language);
    hash_str(&h, s->install_cmd);
    hash_str(&h, s->build_cmd);
    hash_str(&h, s->start_cmd);
    hash_str(&h, s->static_dir);
    snprintf(n, sizeof(n), "%d %d %d", s->spa, s->port, (int)comp);
    hash_str(&h, n);
    hash_str(&h, run_key);
    hash_str(&h, build_key);
    hash_end(&h, out);
}

/* The dependency key: the build image, the install command and the lockfile(s) present. */
static int deps_key(struct bctx *c, char out[BLD_BASE_KEY_HEX + 1], struct err *err)
{
    struct hasher h;
    int rc = 0;

    hash_init(&h, DEPS_FORMAT);
    hash_str(&h, c->build_key);
    hash_str(&h, c->plan.install);
    hash_str(&h, c->svc->provider);
    for (const char *f = c->plan.lockfiles; rc == 0 && *f; f += strlen(f) + 1) {
        struct sbuf text = SBUF_INIT(READ_MAX);
        char path[PATH_BYTES];
        struct err e = {0};

        snprintf(path, sizeof(path), "%s/%s", c->app, f);
        if (file_read(path, &text, &e) == 0) {
            hash_str(&h, f);
            hash_put(&h, text.buf, text.len);
        } else if (e.code != ERR_NOTFOUND) {
            rc = err_set(err, e.code, "%s", e.msg);
        }
        sbuf_release(&text);
    }
    hash_end(&h, out);
    return rc;
}

/* A layer's descriptor as one line: "media_type digest size diff_id". */
static int layer_save(const char *path, const struct oci_layer *l, struct err *err)
{
    char line[256];
    int n = snprintf(line, sizeof(line), "%s %s %" PRIu64 " %s\n", l->blob.media_type,
                     l->blob.digest, l->blob.size, l->diff_id);

    return file_write_atomic(path, line, (size_t)n, 0644, err);
}

/* Reads what layer_save() wrote, and checks that the blob is still in <store>. */
static bool layer_load(const char *path, const char *store, struct oci_layer *l)
{
    struct sbuf text = SBUF_INIT(512);
    char blob[PATH_BYTES];
    bool ok;

    memset(l, 0, sizeof(*l));
    ok = file_read(path, &text, &(struct err){0}) == 0 &&
         sscanf(text.buf, "%63s %71s %" SCNu64 " %71s", l->blob.media_type, l->blob.digest,
                &l->blob.size, l->diff_id) == 4 &&
         oci_digest_valid(slice_from_cstr(l->blob.digest));
    sbuf_release(&text);
    if (!ok)
        return false;
    snprintf(blob, sizeof(blob), "%s/blobs/sha256/%s", store, l->blob.digest + 7);
    return exists(blob);
}

/* Makes <store> hold the blob of <l> that <from> holds: a hard link, or a copy. */
static int blob_share(const char *from, const char *store, const struct oci_layer *l,
                      struct err *err)
{
    char src[PATH_BYTES], dst[PATH_BYTES], dir[PATH_BYTES];
    int rc;

    snprintf(src, sizeof(src), "%s/blobs/sha256/%s", from, l->blob.digest + 7);
    snprintf(dst, sizeof(dst), "%s/blobs/sha256/%s", store, l->blob.digest + 7);
    snprintf(dir, sizeof(dir), "%s/blobs/sha256", store);
    if (exists(dst))
        return 0;
    if ((rc = file_mkdirs(dir, 0755, -1, err)) < 0)
        return rc;
    if (link(src, dst) == 0 || errno == EEXIST)
        return 0;
    if (errno != EXDEV)
        return err_set(err, ERR_IO, "link %s: %s", dst, strerror(errno));
    const char *argv[] = {"cp", src, dst, NULL};
    return run_argv(argv, err);
}

/* ---------------------------------------------------------------- sandboxed steps */

static void on_output(void *arg, enum bld_stream stream, struct slice line)
{
    const struct bctx *c = arg;

    (void)stream;
    if (c->hooks != NULL && c->hooks->line != NULL)
        c->hooks->line(c->hooks->arg, line);
}

/* Runs <cmd> with sh -c in the build image, the app at /app and the project's package caches
 * at /cache. <shown> is what the log and an error call it. */
static int run_step(struct bctx *c, const char *shown, const char *cmd, struct err *err)
{
    const struct bld_build_req *r = c->req;
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    const char *env[] = {
        STEP_PATH, "HOME=/tmp", "CI=true", "npm_config_cache=/cache/npm",
        "npm_config_update_notifier=false", "npm_config_fund=false", "npm_config_audit=false",
        "PIP_CACHE_DIR=/cache/pip", "PIP_DISABLE_PIP_VERSION_CHECK=1", "GOPATH=/cache/go",
        "GOCACHE=/cache/go-build", "GOFLAGS=-buildvcs=false", "GOTOOLCHAIN=local",
        /* npm's node has its own CA list: point it at the image's file */
        "NODE_EXTRA_CA_CERTS=" CA_FILE, c->plan.venv ? "VIRTUAL_ENV=/app/.venv" : "SLIPWAY_BUILD=1",
        arena_printf(c->a, "PORT=%d", c->plan.port), NULL};
    const char *pkg = path_of(c, c->cache, "pkg");
    const char *state = path_of(c, r->work_dir, "run");
    struct bld_mount m[3] = {{.host_path = c->app, .path = "/app", .writable = true, .own = true},
                             {.host_path = pkg, .path = "/cache", .writable = true},
                             {.host_path = r->ca_bundle, .path = CA_FILE}};
    struct bld_sandbox_spec s = {.rootfs = c->build_root,
                                 .argv = argv,
                                 .env = env,
                                 .cwd = "/app",
                                 .mounts = m,
                                 .n_mounts = r->ca_bundle ? 3 : 2,
                                 .network = BLD_NET_OUTBOUND,
                                 .memory_bytes = r->memory_bytes,
                                 .cpu_quota_us = r->cpu_quota_us,
                                 .cpu_period_us = r->cpu_period_us,
                                 .pids_max = r->pids_max,
                                 .state_dir = state};
    struct bld_sandbox_result res = {0};
    int rc;

    if (env[ARRAY_LEN(env) - 2] == NULL || pkg == NULL || state == NULL)
        return err_set(err, ERR_LIMIT, "out of memory");
    if (c->deadline_ms != 0) {
        uint64_t now = time_mono_ms();
        if (now >= c->deadline_ms)
            return err_set(err, ERR_TIMEOUT, "build ran longer than %" PRIu64 " s",
                           r->wall_ms / 1000);
        s.wall_ms = c->deadline_ms - now;
    }
    if ((rc = file_mkdirs(pkg, 0755, (int)BLD_SANDBOX_UID, err)) < 0 ||
        (rc = file_mkdirs(state, 0755, -1, err)) < 0)
        return rc;
    say(c, "%s", shown);
    rc = bld_sandbox_run(&s, on_output, c, c->hooks ? c->hooks->cancel : NULL, &res, err);
    if (rc == ERR_TIMEOUT && c->deadline_ms != 0)
        return err_set(err, ERR_TIMEOUT, "build ran longer than %" PRIu64 " s", r->wall_ms / 1000);
    if (rc < 0)
        return rc;
    if (res.exit_code != 0)
        return err_set(err, ERR_INVALID, "%s failed (exit %d)", shown, res.exit_code);
    return 0;
}

/* ---------------------------------------------------------------- layers */

static struct oci_layer_opts layer_opts(const struct bctx *c, uint32_t uid)
{
    return (struct oci_layer_opts){.compression = c->req->compression, .uid = uid, .gid = uid};
}

/* Layer 1: the runtime rootfs, written once per base key and compression into the shared
 * base cache, then linked into the project's store. */
static int runtime_layer(struct bctx *c, struct oci_layer *l, struct err *err)
{
    const char *bstore = path_of(c, c->req->base_cache, "layers");
    const char *desc = arena_printf(c->a, "%s/layers/%s-%d.layer", c->req->base_cache, c->run_key,
                                    (int)c->req->compression);
    struct oci_layer_opts o = layer_opts(c, 0);
    int rc;

    if (bstore == NULL || desc == NULL)
        return err_set(err, ERR_LIMIT, "out of memory");
    if (!layer_load(desc, bstore, l)) {
        say(c, "writing the %s runtime layer", c->plan.runtime);
        o.keep_setid = true; /* /tmp's sticky bit; the rootfs has no set-id files */
        if ((rc = oci_layer_from_dir(c->run_root, &o, bstore, l, err)) < 0 ||
            (rc = layer_save(desc, l, err)) < 0)
            return rc;
    }
    return blob_share(bstore, c->store, l, err);
}

/* Layer 2 from the install's output <app>/<deps_dir>, at /app/<deps_dir>, owned by the app. */
static int deps_layer_write(struct bctx *c, struct oci_layer *l, struct err *err)
{
    struct oci_layer_opts o = layer_opts(c, BLD_BASE_APP_UID);
    const char *in = arena_printf(c->a, "app/%s", c->plan.deps_dir);
    const char *host = path_of(c, c->app, c->plan.deps_dir);
    struct oci_layer_entry e = {in, host};
    struct stat st;

    if (in == NULL || host == NULL)
        return err_set(err, ERR_LIMIT, "out of memory");
    if (lstat(host, &st) != 0 || !S_ISDIR(st.st_mode))
        return err_set(err, ERR_INVALID, "the install step made no %s directory", c->plan.deps_dir);
    return oci_layer_from_entries(&e, 1, &o, c->store, l, err);
}

/* The install step, or its cached result: fills *l (layer 2) when the plan has one. */
static int install(struct bctx *c, struct oci_layer *l, bool *have, struct err *err)
{
    char key[BLD_BASE_KEY_HEX + 1];
    const char *desc, *tree, *cmd = c->plan.install;
    int rc;

    *have = false;
    if (c->plan.install == NULL)
        return 0;
    if (c->plan.deps_dir == NULL)
        return run_step(c, c->plan.install, c->plan.install, err);
    if ((rc = deps_key(c, key, err)) < 0)
        return rc;
    desc = arena_printf(c->a, "%s/deps/%s.layer", c->cache, key);
    tree = arena_printf(c->a, "%s/deps/%s.tree", c->cache, key);
    if (desc == NULL || tree == NULL)
        return err_set(err, ERR_LIMIT, "out of memory");
    /* A hit needs the tree back only when a build step will read it. */
    if (layer_load(desc, c->store, l) && (c->plan.build == NULL || exists(tree))) {
        c->res->deps_hit = true;
        say(c, "dependencies unchanged: reusing %s (skipping %s)", c->plan.deps_dir, cmd);
        *have = c->plan.deps_in_image;
        if (c->plan.build == NULL)
            return 0;
        return copy_tree(tree, path_of(c, c->app, c->plan.deps_dir), err);
    }
    if (c->plan.venv)
        cmd = arena_printf(c->a, "python3 -m venv /app/.venv && %s", c->plan.install);
    if ((rc = run_step(c, c->plan.install, cmd, err)) < 0)
        return rc;
    if ((rc = deps_layer_write(c, l, err)) < 0)
        return rc;
    if ((rc = file_mkdirs(path_of(c, c->cache, "deps"), 0755, -1, err)) < 0)
        return rc;
    if (c->plan.build != NULL && !exists(tree) &&
        (rc = copy_tree(path_of(c, c->app, c->plan.deps_dir), tree, err)) < 0)
        return rc;
    *have = c->plan.deps_in_image;
    return layer_save(desc, l, err);
}

static bool skip_in_app(const struct bctx *c, const char *name)
{
    return strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strcmp(name, ".git") == 0 ||
           (c->plan.deps_dir != NULL && strcmp(name, c->plan.deps_dir) == 0);
}

/* Appends an entry "<at>/<name>" for each thing in <dir> but .git and the dependency
 * directory (those have layers of their own, or none). */
static int dir_entries(struct bctx *c, const char *at, const char *dir, struct oci_layer_entry **e,
                       size_t *n, size_t *cap, struct err *err)
{
    DIR *d = opendir(dir);
    int rc = 0;

    if (d == NULL)
        return err_set(err, ERR_IO, "%s: %s", dir, strerror(errno));
    for (struct dirent *de; rc == 0 && (de = readdir(d)) != NULL;) {
        if (skip_in_app(c, de->d_name))
            continue;
        if (*n == *cap) {
            struct oci_layer_entry *bigger = arena_alloc(c->a, 2 * *cap * sizeof(**e));
            if (bigger == NULL) {
                rc = err_set(err, ERR_LIMIT, "out of memory");
                break;
            }
            memcpy(bigger, *e, *n * sizeof(**e));
            *e = bigger;
            *cap *= 2;
        }
        (*e)[*n].path = arena_printf(c->a, "%s/%s", at, de->d_name);
        (*e)[*n].host_path = path_of(c, dir, de->d_name);
        if ((*e)[*n].path == NULL || (*e)[*n].host_path == NULL)
            rc = err_set(err, ERR_LIMIT, "out of memory");
        (*n)++;
    }
    closedir(d);
    return rc;
}

/* Layer 3: the app's files under /app (or the static site under /srv/www, or the binary), all
 * owned by the app user, and the app user's home. */
static int app_layer(struct bctx *c, struct oci_layer *l, struct err *err)
{
    struct oci_layer_opts o = layer_opts(c, BLD_BASE_APP_UID);
    const char *empty = path_of(c, c->req->work_dir, "empty");
    struct oci_layer_entry *e;
    size_t n = 0, cap = 64;
    int rc;

    if (empty == NULL || (e = arena_alloc(c->a, cap * sizeof(*e))) == NULL)
        return err_set(err, ERR_LIMIT, "out of memory");
    if ((rc = file_mkdirs(empty, 0755, -1, err)) < 0)
        return rc;
    e[n++] = (struct oci_layer_entry){"home/app", empty};
    if (c->plan.static_dir != NULL && c->plan.start == NULL) {
        e[n++] = (struct oci_layer_entry){"srv/www", empty};
        rc = dir_entries(c, "srv/www", path_of(c, c->app, c->plan.static_dir), &e, &n, &cap, err);
    } else if (c->plan.binary != NULL) {
        e[n++] = (struct oci_layer_entry){"app", empty};
        e[n++] = (struct oci_layer_entry){"app/app", path_of(c, c->app, c->plan.binary)};
    } else {
        e[n++] = (struct oci_layer_entry){"app", empty};
        rc = dir_entries(c, "app", c->app, &e, &n, &cap, err);
    }
    return rc < 0 ? rc : oci_layer_from_entries(e, n, &o, c->store, l, err);
}

/* ---------------------------------------------------------------- the image */

static int image_write(struct bctx *c, const struct oci_layer *layers, size_t n, struct err *err)
{
    const struct bld_build_req *r = c->req;
    const char *start = c->plan.start ? c->plan.start : NGINX_START;
    const char *cmd[] = {"/bin/sh", "-c", start};
    const char *env[] = {arena_printf(c->a, "PORT=%d", c->plan.port), IMAGE_PATH};
    const char *src = r->url ? r->url : "";
    struct sbuf shown = SBUF_INIT(2048);
    struct oci_kv kv[2];
    static const char *const by[] = {"slipway: runtime", "slipway: dependencies", "slipway: app"};
    const char *created_by[3] = {by[0], n == 3 ? by[1] : by[2], by[2]};
    int rc;

    bld_url_redact(src, &shown); /* a password in the URL must not end up in the image */
    kv[0] = (struct oci_kv){OCI_ANN_SOURCE, shown.buf};
    kv[1] = (struct oci_kv){OCI_ANN_REVISION, c->res->commit};
    struct oci_image_spec spec = {
        .config = {.user = "10001:10001",
                   .env = env,
                   .n_env = 2,
                   .cmd = cmd,
                   .n_cmd = 3,
                   .workdir =
                       strcmp(c->plan.runtime, "static") == 0 && !c->plan.start ? "/" : "/app",
                   .port = (uint16_t)c->plan.port,
                   .labels = kv,
                   .n_labels = 2},
        .layers = layers,
        .n_layers = n,
        .created_by = created_by,
        .layer_store = c->store,
        .annotations = kv,
        .n_annotations = 2,
        .tag = c->res->tag,
    };
    if (env[0] == NULL) {
        sbuf_release(&shown);
        return err_set(err, ERR_LIMIT, "out of memory");
    }
    say(c, "writing the image %s", c->res->tag);
    rc = oci_image_write(c->res->layout_dir, &spec, c->res->digest, err);
    sbuf_release(&shown);
    return rc;
}

/* Takes the project's lock: one writer per image layout (docs/images.md). */
static int lock_take(struct bctx *c, int *fd, struct err *err)
{
    const char *path = path_of(c, c->cache, "lock");

    *fd = path ? open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600) : -1;
    if (*fd < 0)
        return err_set(err, ERR_IO, "%s: %s", path ? path : "lock", strerror(errno));
    while (flock(*fd, LOCK_EX) != 0)
        if (errno != EINTR)
            return err_set(err, ERR_IO, "lock: %s", strerror(errno));
    return 0;
}

/* A cache hit: the build key's record names a manifest that the layout still has under the
 * tag. */
static bool hit_check(struct bctx *c, const char *record)
{
    struct sbuf text = SBUF_INIT(256);
    struct oci_image *img;
    char digest[OCI_DIGEST_SIZE] = "";
    bool ok = false;

    if (file_read(record, &text, &(struct err){0}) == 0 && sscanf(text.buf, "%71s", digest) == 1 &&
        oci_layout_read(c->a, c->res->layout_dir, c->res->tag, OCI_READ_TRUST_LAYERS, &img,
                        &(struct err){0}) == 0)
        ok = strcmp(img->manifest.digest, digest) == 0;
    sbuf_release(&text);
    if (ok)
        memcpy(c->res->digest, digest, sizeof(digest));
    return ok;
}

static int build_steps(struct bctx *c, struct err *err)
{
    struct oci_layer layers[3];
    size_t n = 0;
    bool deps = false;
    int rc;

    if (is_dockerfile(c)) {
        struct bld_dockerfile_job j;
        struct sbuf shown = SBUF_INIT(2048);
        rc = bld_dockerfile_build(dockerfile_job(c, &j, &shown), c->res->digest, err);
        sbuf_release(&shown);
        return rc;
    }
    if ((rc = runtime_layer(c, &layers[n++], err)) < 0)
        return rc;
    if ((rc = install(c, &layers[n], &deps, err)) < 0)
        return rc;
    n += deps;
    if (cancelled(c))
        return err_set(err, ERR_CANCELLED, "build cancelled");
    if (c->plan.build != NULL && (rc = run_step(c, c->plan.build, c->plan.build, err)) < 0)
        return rc;
    say(c, "writing the app layer");
    if ((rc = app_layer(c, &layers[n++], err)) < 0)
        return rc;
    return image_write(c, layers, n, err);
}

/* ---------------------------------------------------------------- push */

static int push(struct bctx *c, struct err *err)
{
    struct oci_client *cl = NULL;
    struct oci_ref dest;
    struct oci_push_stats st = {0};
    char pushed[OCI_DIGEST_SIZE];
    int rc;

    if ((rc = oci_ref_parse(slice_from_cstr(c->req->dest), &dest, err)) < 0)
        return rc;
    if (dest.digest[0] != '\0')
        return err_set(err, ERR_INVALID, "dest: give a tag, not a digest");
    snprintf(dest.tag, sizeof(dest.tag), "%s", c->res->tag);
    say(c, "pushing to %s/%s:%s", dest.host, dest.repo, dest.tag);
    rc = oci_client_new(c->req->registry ? c->req->registry : &(struct oci_client_opts){0}, &cl,
                        err);
    if (rc == 0)
        rc = oci_push(cl, c->res->layout_dir, c->res->tag, &dest, NULL, pushed, &st, err);
    oci_client_free(cl);
    if (rc < 0)
        return rc;
    c->res->pushed = st.blobs_uploaded > 0 || st.blobs_mounted > 0;
    say(c, "pushed %s: %" PRIu64 " blobs uploaded (%" PRIu64 " bytes), %" PRIu64 " already there",
        pushed, st.blobs_uploaded, st.bytes_uploaded, st.blobs_present);
    return 0;
}

/* ---------------------------------------------------------------- the whole build */

static int req_check(const struct bld_build_req *r, struct err *err)
{
    if ((r->url == NULL) == (r->checkout_dir == NULL))
        return err_set(err, ERR_INVALID, "give either a URL or a checkout directory");
    if (r->work_dir == NULL || r->cache_dir == NULL || r->base_cache == NULL)
        return err_set(err, ERR_INVALID, "work_dir, cache_dir and base_cache are required");
    if (r->tag != NULL && (*r->tag == '\0' || strlen(r->tag) > OCI_TAG_MAX))
        return err_set(err, ERR_INVALID, "tag must be 1 to %d characters", OCI_TAG_MAX);
    if (r->compression != OCI_COMP_GZIP && r->compression != OCI_COMP_ZSTD &&
        r->compression != OCI_COMP_NONE)
        return err_set(err, ERR_INVALID, "unknown compression");
    return 0;
}

/* The tag: the request's, else the destination's, else one from the commit. */
static int tag_pick(struct bctx *c, struct err *err)
{
    struct oci_ref ref;
    const char *t = c->req->tag;
    int rc;

    if (t == NULL && c->req->dest != NULL) {
        if ((rc = oci_ref_parse(slice_from_cstr(c->req->dest), &ref, err)) < 0)
            return rc;
        if (ref.digest[0] == '\0')
            t = arena_strndup(c->a, ref.tag, strlen(ref.tag));
    }
    if (t != NULL)
        snprintf(c->res->tag, sizeof(c->res->tag), "%s", t);
    else
        snprintf(c->res->tag, sizeof(c->res->tag), "c-%.12s", c->res->commit);
    return 0;
}

static void phase(struct bctx *c, enum bld_phase p)
{
    if (c->hooks != NULL && c->hooks->phase != NULL)
        c->hooks->phase(c->hooks->arg, p);
}

static int prepare(struct bctx *c, struct err *err)
{
    const struct bld_build_req *r = c->req;
    int rc;

    if ((rc = file_mkdirs(r->work_dir, 0755, -1, err)) < 0 ||
        (rc = file_mkdirs(r->cache_dir, 0755, -1, err)) < 0 ||
        (rc = file_mkdirs(r->base_cache, 0755, -1, err)) < 0)
        return rc;
    c->cache = r->cache_dir;
    c->store = path_of(c, r->cache_dir, "layers");
    if (c->store == NULL)
        return err_set(err, ERR_LIMIT, "out of memory");
    snprintf(c->res->layout_dir, sizeof(c->res->layout_dir), "%s",
             r->layout_dir ? r->layout_dir : path_of(c, r->cache_dir, "image"));
    phase(c, BLD_PHASE_CLONING);
    if ((rc = fetch_source(c, err)) < 0 || (rc = pick_service(c, err)) < 0)
        return rc;
    c->app =
        strcmp(c->svc->context_path, ".") == 0 ? c->src : path_of(c, c->src, c->svc->context_path);
    if ((rc = bld_build_plan(c->a, c->app, c->svc, &c->plan, err)) < 0 ||
        (rc = tag_pick(c, err)) < 0)
        return rc;
    return cancelled(c) ? err_set(err, ERR_CANCELLED, "build cancelled") : 0;
}

static int build_all(struct bctx *c, struct err *err)
{
    const struct bld_build_req *r = c->req;
    char key[BLD_BASE_KEY_HEX + 1];
    const char *record;
    uint64_t t = time_mono_ms();
    int rc, lock = -1;

    if ((rc = prepare(c, err)) < 0)
        return rc;
    c->res->clone_ms = time_mono_ms() - t;
    t = time_mono_ms();
    phase(c, BLD_PHASE_BUILDING);
    if ((rc = bases(c, err)) < 0)
        return rc;
    bld_build_key(c->res->commit, c->svc, c->run_key, c->build_key, r->compression, key);
    record = arena_printf(c->a, "%s/builds/%s", c->cache, key);
    if (record == NULL || (rc = file_mkdirs(path_of(c, c->cache, "builds"), 0755, -1, err)) < 0)
        return rc < 0 ? rc : err_set(err, ERR_LIMIT, "out of memory");
    if ((rc = lock_take(c, &lock, err)) == 0) {
        c->res->cache_hit = hit_check(c, record);
        if (c->res->cache_hit)
            say(c, "commit %.12s was built before: %s", c->res->commit, c->res->digest);
        else if ((rc = build_steps(c, err)) == 0)
            rc = file_write_atomic(record, c->res->digest, strlen(c->res->digest), 0644, err);
    }
    if (lock >= 0)
        close(lock);
    c->res->build_ms = time_mono_ms() - t;
    if (rc < 0 || r->dest == NULL)
        return rc;
    t = time_mono_ms();
    phase(c, BLD_PHASE_PUSHING);
    rc = push(c, err);
    c->res->push_ms = time_mono_ms() - t;
    return rc;
}

static void scratch_remove(struct bctx *c)
{
    static const char *const names[] = {"run", "empty"};
    char path[PATH_BYTES];

    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        snprintf(path, sizeof(path), "%s/%s", c->req->work_dir, names[i]);
        if (file_remove_tree(path, &(struct err){0}) < 0)
            continue; /* scratch: a later build of this work_dir starts from what is left */
    }
}

int bld_build(const struct bld_build_req *req, const struct bld_build_hooks *hooks,
              struct bld_build_result *res, struct err *err)
{
    struct bctx c = {.req = req, .hooks = hooks, .res = res};
    uint64_t t0 = time_mono_ms();
    struct err e2 = {0};
    int rc;

    memset(res, 0, sizeof(*res));
    if ((rc = req_check(req, err)) < 0)
        return rc;
    c.a = arena_new(NULL);
    c.deadline_ms = req->wall_ms ? t0 + req->wall_ms : 0;
    rc = build_all(&c, err);
    /* The checkout and the sandbox's state are scratch; a caller's checkout stays. */
    if (req->checkout_dir == NULL && c.src != NULL && file_remove_tree(c.src, &e2) < 0 && rc == 0)
        rc = err_set(err, e2.code, "%s", e2.msg);
    scratch_remove(&c);
    arena_free(c.a);
    res->total_ms = time_mono_ms() - t0;
    if (rc == 0)
        say(&c, "done in %" PRIu64 " ms: %s", res->total_ms, res->digest);
    return rc;
}
