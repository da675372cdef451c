/* pkg ops: the packager's operations, each one commit on a project's repository (pkg-int.h). */
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "pkg/pkg-int.h"

#define OP_BUDGET   ((size_t)256 << 20) /* one op's scratch: values, manifests, paths */
#define BASE_VALUES "base/values.yaml"

/* One mutex per repository path: writes to one project queue on it. */
struct proj_lock {
    char *path;
    pthread_mutex_t mu;
    struct proj_lock *next;
};

struct pkg_ops {
    json_t *schema_base, *schema_env; /* read-only after pkg_ops_new() */
    pthread_mutex_t table_mu;
    struct proj_lock *locks; /* guarded by table_mu; entries live until pkg_ops_free() */
};

/* ---------------------------------------------------------------- set-up */

/* The schema file <name> compiled in. */
static int schema_embedded(const char *name, json_t **out, struct err *err)
{
    json_error_t je;

    for (size_t i = 0; i < pkg_schema_nfiles; i++) {
        const char *base = strrchr(pkg_schema_files[i].name, '/');

        if (strcmp(base ? base + 1 : pkg_schema_files[i].name, name) != 0)
            continue;
        *out = json_loadb(pkg_schema_files[i].text, pkg_schema_files[i].len, 0, &je);
        if (*out == NULL)
            return err_set(err, ERR_INVALID, "%s: %s", pkg_schema_files[i].name, je.text);
        return 0;
    }
    return err_set(err, ERR_INVALID, "schema/%s is not compiled in", name);
}

static int schema_load(const char *dir, const char *name, json_t **out, struct err *err)
{
    char path[4096];
    json_error_t je;

    if (dir == NULL)
        return schema_embedded(name, out, err);
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return err_set(err, ERR_INVALID, "schema_dir: path too long");
    *out = json_load_file(path, 0, &je);
    if (*out == NULL)
        return err_set(err, ERR_IO, "%s: %s", path, je.text);
    return 0;
}

int pkg_ops_new(const struct pkg_ops_cfg *cfg, struct pkg_ops **out, struct err *err)
{
    struct pkg_ops *ops = xcalloc(1, sizeof(*ops));
    int rc;

    pthread_mutex_init(&ops->table_mu, NULL);
    rc = schema_load(cfg->schema_dir, "values-base.schema.json", &ops->schema_base, err);
    if (rc == 0)
        rc = schema_load(cfg->schema_dir, "values-env.schema.json", &ops->schema_env, err);
    if (rc < 0) {
        pkg_ops_free(ops);
        return rc;
    }
    *out = ops;
    return 0;
}

void pkg_ops_free(struct pkg_ops *ops)
{
    struct proj_lock *l, *next;

    if (ops == NULL)
        return;
    for (l = ops->locks; l != NULL; l = next) {
        next = l->next;
        pthread_mutex_destroy(&l->mu);
        free(l->path);
        free(l);
    }
    json_decref(ops->schema_base);
    json_decref(ops->schema_env);
    pthread_mutex_destroy(&ops->table_mu);
    free(ops);
}

/* The mutex of the repository at <path>, made on first use. A short list: a process serves
 * at most a few thousand projects, and the lookup is nothing beside a commit's fsyncs. */
static pthread_mutex_t *proj_mutex(struct pkg_ops *ops, const char *path)
{
    struct proj_lock *l;

    pthread_mutex_lock(&ops->table_mu);
    for (l = ops->locks; l != NULL; l = l->next)
        if (strcmp(l->path, path) == 0)
            break;
    if (l == NULL) {
        l = xcalloc(1, sizeof(*l));
        l->path = xstrdup(path);
        pthread_mutex_init(&l->mu, NULL);
        l->next = ops->locks;
        ops->locks = l;
    }
    pthread_mutex_unlock(&ops->table_mu);
    return &l->mu;
}

/* ---------------------------------------------------------------- names */

bool pkg_name_ok(const char *s, size_t n)
{
    if (s == NULL || n == 0 || n > 31 || s[0] < 'a' || s[0] > 'z')
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

static bool var_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 128 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

static int name_check(const char *what, const char *s, struct err *err)
{
    if (!pkg_name_ok(s, s ? strlen(s) : 0))
        return err_set(err, ERR_INVALID, "%s: must match ^[a-z][a-z0-9-]{0,30}$", what);
    return 0;
}

/* ---------------------------------------------------------------- transactions */

/* One op's state from the lock to the commit; released by txn_end() whatever happened. */
struct txn {
    struct pkg_ops *ops;
    const struct pkg_project *p;
    struct arena *a;
    pthread_mutex_t *mu;
    struct pkg_repo *repo;
    char head[PKG_OID_HEX + 1]; /* PKG_OID_NONE before the first commit */
    struct pkg_change *changes;
    size_t nchanges, cap;
};

static int txn_begin(struct pkg_ops *ops, const struct pkg_project *p, bool create, struct txn *t,
                     struct err *err)
{
    struct sbuf path = SBUF_INIT(4096);
    int rc;

    memset(t, 0, sizeof(*t));
    t->ops = ops;
    t->p = p;
    t->a = arena_new(&(struct arena_opts){.chunk = 64 << 10, .budget = OP_BUDGET});
    rc = pkg_repo_path(p->root, slice_from_cstr(p->workspace_id), slice_from_cstr(p->project_id),
                       &path, err);
    if (rc < 0)
        goto out;
    t->mu = proj_mutex(ops, path.buf);
    pthread_mutex_lock(t->mu);
    if (create)
        rc = pkg_repo_init(path.buf, err);
    if (rc == 0)
        rc = pkg_repo_open(path.buf, &t->repo, err);
    if (rc == ERR_NOTFOUND)
        rc = err_set(err, ERR_NOTFOUND, "project %s not found", p->project_id);
    if (rc == 0) {
        rc = pkg_repo_head(t->repo, t->head, err);
        if (rc == ERR_NOTFOUND) {
            memcpy(t->head, PKG_OID_NONE, sizeof(t->head));
            rc = create ? 0 : err_set(err, ERR_NOTFOUND, "project %s has no commit", p->project_id);
        }
    }
out:
    sbuf_release(&path);
    return rc;
}

static void txn_end(struct txn *t)
{
    pkg_repo_close(t->repo);
    if (t->mu != NULL)
        pthread_mutex_unlock(t->mu);
    free(t->changes);
    arena_free(t->a);
}

static int oom(struct err *err)
{
    return err_set(err, ERR_LIMIT, "operation uses more than %zu MiB", OP_BUDGET >> 20);
}

/* Queues a change; <path> and <data> must live in t->a (or longer). */
static void txn_change(struct txn *t, enum pkg_change_op op, const char *path, struct slice data)
{
    if (t->nchanges == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 32;
        t->changes = xrealloc(t->changes, t->cap * sizeof(*t->changes));
    }
    t->changes[t->nchanges++] = (struct pkg_change){op, path, data};
}

static char *txn_printf(struct txn *t, const char *fmt, ...) APP_PRINTF(2, 3);
static char *txn_printf(struct txn *t, const char *fmt, ...)
{
    struct sbuf b = SBUF_INIT(1 << 20);
    va_list ap;
    char *s;

    va_start(ap, fmt);
    sbuf_vprintf(&b, fmt, ap);
    va_end(ap);
    s = b.err == 0 ? arena_strndup(t->a, b.buf, b.len) : NULL;
    sbuf_release(&b);
    return s;
}

/* Parses the values file at <path> as of the transaction's head. */
static int txn_doc(struct txn *t, const char *path, struct pkg_yaml **out, struct err *err)
{
    struct slice text;
    int rc = pkg_repo_read(t->repo, t->head, path, t->a, &text, err);

    if (rc < 0)
        return rc;
    rc = pkg_yaml_parse(text, NULL, out, err);
    return rc < 0 ? err_wrap(err, "%s", path) : 0;
}

/* The environment's values document; ERR_NOTFOUND naming the environment. */
static int txn_env_doc(struct txn *t, const char *env, struct pkg_yaml **out, struct err *err)
{
    char *path = txn_printf(t, "environments/%s/values.yaml", env);
    int rc;

    if (path == NULL)
        return oom(err);
    rc = txn_doc(t, path, out, err);
    if (rc == ERR_NOTFOUND)
        return err_set(err, ERR_NOTFOUND, "environment %s not found", env);
    return rc;
}

/* <doc> as JSON (*out, the caller's), checked against <schema>; the error names <path>. */
static int doc_check(const json_t *schema, const struct pkg_yaml *doc, const char *path,
                     json_t **out, struct err *err)
{
    json_t *j = NULL;
    int rc = pkg_yaml_to_json(doc, &j, err);

    if (rc == 0)
        rc = pkg_jschema_check(schema, j, err);
    if (rc < 0) {
        json_decref(j);
        return err_wrap(err, "%s", path);
    }
    *out = j;
    return 0;
}

/* Queues <doc>'s text as the new <path>. */
static int txn_put_doc(struct txn *t, const char *path, const struct pkg_yaml *doc, struct err *err)
{
    struct sbuf b = SBUF_INIT(8 << 20);
    struct slice data;
    int rc = pkg_yaml_emit(doc, &b, err);

    if (rc == 0) {
        data = slice_dup(t->a, sbuf_slice(&b));
        if (data.ptr == NULL && b.len > 0)
            rc = oom(err);
        else
            txn_change(t, PKG_PUT, path, data);
    }
    sbuf_release(&b);
    return rc;
}

static bool list_any(void *arg, const char *name, enum pkg_entry_kind kind)
{
    (void)name;
    (void)kind;
    *(bool *)arg = true;
    return false;
}

/* Whether directory <dir> exists at the transaction's head. */
static int txn_dir_exists(struct txn *t, const char *dir, bool *out, struct err *err)
{
    int rc;

    *out = false;
    if (strcmp(t->head, PKG_OID_NONE) == 0)
        return 0;
    rc = pkg_repo_list(t->repo, t->head, dir, list_any, out, err);
    if (rc == ERR_NOTFOUND) {
        *out = false;
        return 0;
    }
    if (rc == 0)
        *out = true;
    return rc;
}

/* Renders environment <env> from the two (checked) values and queues its files, replacing
 * its manifests/ wholly so a file no longer rendered goes. */
static int txn_render(struct txn *t, const char *env, const json_t *base, const json_t *envj,
                      struct err *err)
{
    const struct pkg_project *p = t->p;
    struct pkg_render_ctx ctx = {p->project_id, p->slug, env, p->workspace_slug,
                                 p->workload_domain};
    struct pkg_file_out *files;
    size_t n;
    bool had;
    char *dir = txn_printf(t, "environments/%s/manifests", env);
    int rc;

    if (dir == NULL)
        return oom(err);
    rc = pkg_render_env(base, envj, &ctx, &files, &n, t->a, err);
    if (rc < 0)
        return err_wrap(err, "render %s", env);
    rc = txn_dir_exists(t, dir, &had, err);
    if (rc < 0)
        return rc;
    if (had)
        txn_change(t, PKG_DELETE, dir, SLICE_NULL);
    for (size_t i = 0; i < n; i++)
        txn_change(t, PKG_PUT, files[i].path, files[i].data);
    return 0;
}

static int txn_commit(struct txn *t, const struct pkg_author *user, const char *msg,
                      struct pkg_op_res *res, struct err *err)
{
    struct pkg_commit_req req = {t->changes, t->nchanges, *user, msg, t->head, 0};
    char oid[PKG_OID_HEX + 1];
    int rc;

    if (msg == NULL)
        return oom(err);
    rc = pkg_repo_commit(t->repo, &req, oid, err);
    if (rc == 0 && res != NULL)
        memcpy(res->commit, oid, sizeof(oid));
    return rc;
}

/* ---------------------------------------------------------------- environments */

struct names {
    struct arena *a;
    const char **v;
    size_t n, cap;
};

/* Appends a copy of <name>; false when the arena's budget is spent. */
static bool names_push(struct names *ns, const char *name)
{
    char *copy = name != NULL ? arena_strndup(ns->a, name, strlen(name)) : NULL;

    if (copy == NULL)
        return false;
    if (ns->n == ns->cap) {
        const char **v = arena_alloc(ns->a, (ns->cap ? 2 * ns->cap : 8) * sizeof(*v));

        if (v == NULL)
            return false;
        if (ns->n > 0)
            memcpy(v, ns->v, ns->n * sizeof(*v));
        ns->v = v;
        ns->cap = ns->cap ? 2 * ns->cap : 8;
    }
    ns->v[ns->n++] = copy;
    return true;
}

static bool names_add(void *arg, const char *name, enum pkg_entry_kind kind)
{
    if (kind != PKG_ENTRY_DIR || !pkg_name_ok(name, name ? strlen(name) : 0))
        return true; /* a stray file a human added is not an environment */
    return names_push(arg, name);
}

/* The environments at the transaction's head (directories under environments/). */
static int txn_envs(struct txn *t, struct names *out, struct err *err)
{
    int rc;

    *out = (struct names){.a = t->a};
    rc = pkg_repo_list(t->repo, t->head, "environments", names_add, out, err);
    return rc == ERR_NOTFOUND ? 0 : rc;
}

/* Checks <doc> as environment <env>'s values, queues it and its manifests. */
static int txn_env_write(struct txn *t, const char *env, struct pkg_yaml *doc, const json_t *base,
                         struct err *err)
{
    char *path = txn_printf(t, "environments/%s/values.yaml", env);
    json_t *j = NULL;
    int rc;

    if (path == NULL)
        return oom(err);
    rc = doc_check(t->ops->schema_env, doc, path, &j, err);
    if (rc == 0)
        rc = txn_put_doc(t, path, doc, err);
    if (rc == 0)
        rc = txn_render(t, env, base, j, err);
    json_decref(j);
    return rc;
}

/* Reads and checks base/values.yaml at the head: *doc and *json are the caller's. */
static int txn_base(struct txn *t, struct pkg_yaml **doc, json_t **json, struct err *err)
{
    int rc = txn_doc(t, BASE_VALUES, doc, err);

    if (rc < 0)
        return rc;
    rc = doc_check(t->ops->schema_base, *doc, BASE_VALUES, json, err);
    if (rc < 0) {
        pkg_yaml_free(*doc);
        *doc = NULL;
    }
    return rc;
}

/* Only the checked JSON of base/values.yaml at the head (*json is the caller's). */
static int txn_base_json(struct txn *t, json_t **json, struct err *err)
{
    struct pkg_yaml *doc = NULL;
    int rc = txn_base(t, &doc, json, err);

    pkg_yaml_free(doc);
    return rc;
}

static bool base_has_service(const json_t *base, const char *name)
{
    return json_object_get(json_object_get(base, "services"), name) != NULL;
}

/* ---------------------------------------------------------------- init */

static const char readme[] =
    "# Deployment repository\n"
    "\n"
    "This repository holds the desired state of one project, written by slipway. Every change\n"
    "is a commit by the person who asked for it, so `git log` is the audit trail and\n"
    "`git revert` undoes a change.\n"
    "\n"
    "- `slipway.yaml`: the project's id, display name and layout version.\n"
    "- `base/values.yaml`: the services (image repository, port, source, start command,\n"
    "  health check), databases and cron jobs, the same in every environment.\n"
    "- `environments/<env>/values.yaml`: what one environment runs: the image tag and digest\n"
    "  of each service, domains, variables (secret ones encrypted), replicas, resources.\n"
    "- `environments/<env>/manifests/`: plain Kubernetes manifests rendered from the two\n"
    "  values files in the same commit. Do not edit them: edit the values files.\n"
    "- `environments/<env>/kustomization.yaml`: `kubectl apply -k environments/<env>`\n"
    "  (or an Argo CD Application pointed at that path) deploys the environment.\n"
    "\n"
    "Values files may be edited by hand; slipway keeps your comments when it writes them\n"
    "later. Secret values are encrypted with a key that is not in this repository.\n";

static int init_files(struct txn *t, struct err *err)
{
    const struct pkg_project *p = t->p;
    /* name: the slug platform domains and resource names are built from, so that a rebuild of
     * the index finds it in the repository (it is no longer derived from the id). */
    json_t *meta = json_pack("{s:s, s:s*, s:s, s:i}", "id", p->project_id, "name", p->slug,
                             "displayName", p->display_name, "schemaVersion", 1);
    struct sbuf b = SBUF_INIT(1 << 20);
    struct slice data;

    if (meta == NULL)
        return err_set(err, ERR_INVALID, "display name: must be valid UTF-8");
    pkg_yaml_write_json(&b, meta);
    json_decref(meta);
    data = slice_dup(t->a, sbuf_slice(&b));
    sbuf_release(&b);
    if (data.ptr == NULL)
        return oom(err);
    txn_change(t, PKG_PUT, "slipway.yaml", data);
    txn_change(t, PKG_PUT, BASE_VALUES, SLICE("schemaVersion: 1\nservices: {}\n"));
    txn_change(t, PKG_PUT, "README.md", SLICE(readme));
    return 0;
}

int pkg_op_init(struct pkg_ops *ops, const struct pkg_project *p, const struct pkg_author *user,
                struct pkg_op_res *res, struct err *err)
{
    struct txn t;
    int rc;

    if (p->display_name == NULL || p->display_name[0] == '\0' ||
        strpbrk(p->display_name, "\r\n") != NULL)
        return err_set(err, ERR_INVALID, "display name: must be one non-empty line");
    rc = txn_begin(ops, p, true, &t, err);
    if (rc == 0 && strcmp(t.head, PKG_OID_NONE) != 0)
        rc = err_set(err, ERR_CONFLICT, "project %s exists already", p->project_id);
    if (rc == 0)
        rc = init_files(&t, err);
    if (rc == 0)
        rc = txn_commit(&t, user, txn_printf(&t, "init: %s", p->display_name), res, err);
    txn_end(&t);
    return rc;
}

/* ---------------------------------------------------------------- services */

/* Re-renders every environment against <base> (after a change to it). With <drop>, that
 * service's entry leaves each environment's values first. */
static int envs_rerender(struct txn *t, const json_t *base, const char *drop, struct err *err)
{
    struct names envs;
    int rc = txn_envs(t, &envs, err);

    for (size_t i = 0; rc == 0 && i < envs.n; i++) {
        struct pkg_yaml *doc = NULL;
        char *path = txn_printf(t, "services.%s", drop != NULL ? drop : "");

        rc = path != NULL ? txn_env_doc(t, envs.v[i], &doc, err) : oom(err);
        if (rc == 0 && drop != NULL) {
            rc = pkg_yaml_delete(doc, path, err);
            if (rc == ERR_NOTFOUND)
                rc = 0;
        }
        if (rc == 0)
            rc = txn_env_write(t, envs.v[i], doc, base, err);
        pkg_yaml_free(doc);
    }
    return rc;
}

/* ERR_CONFLICT when a cron entry of <base> runs on service <name>. */
static int cron_check(const json_t *base, const char *name, struct err *err)
{
    const char *key;
    json_t *job;

    json_object_foreach(json_object_get(base, "cron"), key, job)
    {
        if (json_is_string(json_object_get(job, "service")) &&
            strcmp(json_string_value(json_object_get(job, "service")), name) == 0)
            return err_set(err, ERR_CONFLICT, "cron %s runs on service %s: remove it first", key,
                           name);
    }
    return 0;
}

/* Adds <svc> as service <name> of base/values.yaml (or removes it when NULL), checks it, and
 * re-renders every environment. */
static int base_edit(struct txn *t, const char *name, const json_t *svc, struct err *err)
{
    struct pkg_yaml *doc = NULL;
    json_t *base = NULL, *after = NULL;
    char *path = txn_printf(t, "services.%s", name);
    int rc = path != NULL ? txn_base(t, &doc, &base, err) : oom(err);

    if (rc < 0)
        return rc;
    if (svc != NULL && base_has_service(base, name))
        rc = err_set(err, ERR_CONFLICT, "service %s exists already", name);
    else if (svc == NULL && !base_has_service(base, name))
        rc = err_set(err, ERR_NOTFOUND, "service %s not found", name);
    else if (svc == NULL)
        rc = cron_check(base, name, err);
    if (rc == 0)
        rc = svc != NULL ? pkg_yaml_set_json(doc, path, svc, err) : pkg_yaml_delete(doc, path, err);
    if (rc == 0)
        rc = doc_check(t->ops->schema_base, doc, BASE_VALUES, &after, err);
    if (rc == 0)
        rc = txn_put_doc(t, BASE_VALUES, doc, err);
    if (rc == 0)
        rc = envs_rerender(t, after, svc == NULL ? name : NULL, err);
    json_decref(base);
    json_decref(after);
    pkg_yaml_free(doc);
    return rc;
}

int pkg_op_add_service(struct pkg_ops *ops, const struct pkg_project *p,
                       const struct pkg_author *user, const char *name, const json_t *svc,
                       struct pkg_op_res *res, struct err *err)
{
    struct txn t;
    int rc = name_check("service", name, err);

    if (rc < 0)
        return rc;
    if (!json_is_object(svc))
        return err_set(err, ERR_INVALID, "service: must be an object");
    rc = txn_begin(ops, p, false, &t, err);
    if (rc == 0)
        rc = base_edit(&t, name, svc, err);
    if (rc == 0)
        rc = txn_commit(&t, user, txn_printf(&t, "config(base): add service %s", name), res, err);
    txn_end(&t);
    return rc;
}

int pkg_op_remove_service(struct pkg_ops *ops, const struct pkg_project *p,
                          const struct pkg_author *user, const char *name, struct pkg_op_res *res,
                          struct err *err)
{
    struct txn t;
    int rc = name_check("service", name, err);

    if (rc < 0)
        return rc;
    rc = txn_begin(ops, p, false, &t, err);
    if (rc == 0)
        rc = base_edit(&t, name, NULL, err);
    if (rc == 0)
        rc =
            txn_commit(&t, user, txn_printf(&t, "config(base): remove service %s", name), res, err);
    txn_end(&t);
    return rc;
}

/* ---------------------------------------------------------------- environments */

/* In a clone: what belongs to the environment it came from, not to its configuration. */
static int clone_strip(struct txn *t, struct pkg_yaml *doc, struct err *err)
{
    const struct pkg_yaml_node *svcs = NULL;
    int rc = pkg_yaml_get(doc, "services", &svcs, err);
    struct names names = {.a = t->a};

    if (rc < 0)
        return rc;
    for (size_t i = 0; i < pkg_yaml_node_len(svcs); i++) {
        struct slice k = pkg_yaml_node_key(svcs, i);

        if (!names_push(&names, arena_strndup(t->a, k.ptr, k.len)))
            return oom(err);
    }
    for (size_t i = 0; i < names.n; i++) {
        const char *drop[] = {"domains", "image"};

        for (size_t d = 0; d < ARRAY_LEN(drop); d++) {
            char *path = txn_printf(t, "services.%s.%s", names.v[i], drop[d]);

            rc = path != NULL ? pkg_yaml_delete(doc, path, err) : oom(err);
            if (rc < 0 && rc != ERR_NOTFOUND)
                return rc;
        }
    }
    rc = pkg_yaml_delete(doc, "ephemeral", err);
    return rc == ERR_NOTFOUND ? 0 : rc;
}

static int env_create(struct txn *t, const char *env, const char *from, struct err *err)
{
    struct pkg_yaml *doc = NULL;
    json_t *base = NULL;
    struct pkg_yaml *exists = NULL;
    int rc = txn_env_doc(t, env, &exists, err);

    pkg_yaml_free(exists);
    if (rc == 0)
        return err_set(err, ERR_CONFLICT, "environment %s exists already", env);
    if (rc != ERR_NOTFOUND)
        return rc;
    rc = txn_base_json(t, &base, err);
    if (rc == 0 && from != NULL)
        rc = txn_env_doc(t, from, &doc, err);
    else if (rc == 0)
        rc = pkg_yaml_parse(SLICE("schemaVersion: 1\nservices: {}\n"), NULL, &doc, err);
    if (rc == 0 && from != NULL)
        rc = clone_strip(t, doc, err);
    if (rc == 0)
        rc = txn_env_write(t, env, doc, base, err);
    pkg_yaml_free(doc);
    json_decref(base);
    return rc;
}

int pkg_op_env_create(struct pkg_ops *ops, const struct pkg_project *p,
                      const struct pkg_author *user, const char *env, const char *from_env,
                      struct pkg_op_res *res, struct err *err)
{
    struct txn t;
    int rc = name_check("env", env, err);

    if (rc == 0 && from_env != NULL)
        rc = name_check("from_env", from_env, err);
    if (rc < 0)
        return rc;
    rc = txn_begin(ops, p, false, &t, err);
    if (rc == 0)
        rc = env_create(&t, env, from_env, err);
    if (rc == 0)
        rc = txn_commit(&t, user,
                        from_env != NULL ? txn_printf(&t, "env(create): %s from %s", env, from_env)
                                         : txn_printf(&t, "env(create): %s", env),
                        res, err);
    txn_end(&t);
    return rc;
}

int pkg_op_env_delete(struct pkg_ops *ops, const struct pkg_project *p,
                      const struct pkg_author *user, const char *env, struct pkg_op_res *res,
                      struct err *err)
{
    struct pkg_yaml *doc = NULL;
    struct txn t;
    int rc = name_check("env", env, err);

    if (rc < 0)
        return rc;
    rc = txn_begin(ops, p, false, &t, err);
    if (rc == 0)
        rc = txn_env_doc(&t, env, &doc, err);
    if (rc == 0) {
        char *dir = txn_printf(&t, "environments/%s", env);

        if (dir == NULL)
            rc = oom(err);
        else
            txn_change(&t, PKG_DELETE, dir, SLICE_NULL);
    }
    if (rc == 0)
        rc = txn_commit(&t, user, txn_printf(&t, "env(delete): %s", env), res, err);
    pkg_yaml_free(doc);
    txn_end(&t);
    return rc;
}

/* ---------------------------------------------------------------- deploy, promote */

/* Sets the image of <service> in <env> and queues the environment; *base checked. */
static int image_set(struct txn *t, const char *env, const char *service, const char *tag,
                     const char *digest, struct err *err)
{
    struct pkg_yaml *doc = NULL;
    json_t *base = NULL;
    char *ptag = txn_printf(t, "services.%s.image.tag", service);
    char *pdig = txn_printf(t, "services.%s.image.digest", service);
    int rc = ptag != NULL && pdig != NULL ? txn_base_json(t, &base, err) : oom(err);

    if (rc == 0 && !base_has_service(base, service))
        rc = err_set(err, ERR_NOTFOUND, "service %s not found", service);
    if (rc == 0)
        rc = txn_env_doc(t, env, &doc, err);
    if (rc == 0)
        rc = pkg_yaml_set_str(doc, ptag, slice_from_cstr(tag), err);
    if (rc == 0)
        rc = pkg_yaml_set_str(doc, pdig, slice_from_cstr(digest), err);
    if (rc == 0)
        rc = txn_env_write(t, env, doc, base, err);
    pkg_yaml_free(doc);
    json_decref(base);
    return rc;
}

static int deploy_args(const char *env, const char *service, const char *tag, const char *digest,
                       struct err *err)
{
    int rc = name_check("env", env, err);

    if (rc == 0)
        rc = name_check("service", service, err);
    if (rc == 0 && (tag == NULL || digest == NULL))
        rc = err_set(err, ERR_INVALID, "image: tag and digest are required");
    return rc;
}

int pkg_op_deploy(struct pkg_ops *ops, const struct pkg_project *p, const struct pkg_author *user,
                  const char *env, const char *service, const char *tag, const char *digest,
                  enum pkg_deploy_kind kind, struct pkg_op_res *res, struct err *err)
{
    struct txn t;
    int rc = deploy_args(env, service, tag, digest, err);

    if (rc == 0 && kind != PKG_DEPLOY && kind != PKG_ROLLBACK)
        rc = err_set(err, ERR_INVALID, "kind: must be deploy or rollback");
    if (rc < 0)
        return rc;
    rc = txn_begin(ops, p, false, &t, err);
    if (rc == 0)
        rc = image_set(&t, env, service, tag, digest, err);
    if (rc == 0)
        rc = txn_commit(&t, user,
                        txn_printf(&t, "%s(%s): %s %s", kind == PKG_DEPLOY ? "deploy" : "rollback",
                                   env, service, tag),
                        res, err);
    txn_end(&t);
    return rc;
}

/* The tag and digest <service> runs in <env>, copied into t->a. */
static int image_get(struct txn *t, const char *env, const char *service, char **tag, char **digest,
                     struct err *err)
{
    struct pkg_yaml *doc = NULL;
    struct slice st, sd;
    char *ptag = txn_printf(t, "services.%s.image.tag", service);
    char *pdig = txn_printf(t, "services.%s.image.digest", service);
    int rc = ptag != NULL && pdig != NULL ? txn_env_doc(t, env, &doc, err) : oom(err);

    if (rc == 0)
        rc = pkg_yaml_get_str(doc, ptag, &st, err);
    if (rc == 0)
        rc = pkg_yaml_get_str(doc, pdig, &sd, err);
    if (rc == ERR_NOTFOUND)
        rc = err_set(err, ERR_NOTFOUND, "service %s runs no image in %s", service, env);
    if (rc == 0) {
        *tag = arena_strndup(t->a, st.ptr, st.len);
        *digest = arena_strndup(t->a, sd.ptr, sd.len);
        if (*tag == NULL || *digest == NULL)
            rc = oom(err);
    }
    pkg_yaml_free(doc);
    return rc;
}

int pkg_op_promote(struct pkg_ops *ops, const struct pkg_project *p, const struct pkg_author *user,
                   const char *from_env, const char *to_env, const char *service,
                   struct pkg_op_res *res, struct err *err)
{
    char *tag = NULL, *digest = NULL;
    struct txn t;
    int rc = deploy_args(to_env, service, "", "", err);

    if (rc == 0)
        rc = name_check("from_env", from_env, err);
    if (rc < 0)
        return rc;
    rc = txn_begin(ops, p, false, &t, err);
    if (rc == 0)
        rc = image_get(&t, from_env, service, &tag, &digest, err);
    if (rc == 0)
        rc = image_set(&t, to_env, service, tag, digest, err);
    if (rc == 0)
        rc = txn_commit(
            &t, user, txn_printf(&t, "promote(%s): %s %s from %s", to_env, service, tag, from_env),
            res, err);
    txn_end(&t);
    return rc;
}

/* ---------------------------------------------------------------- variables */

/* What goes into the values file for one variable: a literal or reference as given, or a
 * secret sealed under the project's key. *out is a new reference. */
static int var_value(const unsigned char *key, const char *name, json_t *v, json_t **out,
                     struct err *err)
{
    struct sbuf sealed = SBUF_INIT(PKG_SECRET_MAX * 2);
    int rc;

    if (key == NULL) {
        *out = json_incref(v);
        return 0;
    }
    if (!json_is_string(v))
        return err_set(err, ERR_INVALID, "%s: a secret value must be a string", name);
    rc = pkg_secret_seal(key, (struct slice){json_string_value(v), json_string_length(v)}, &sealed,
                         err);
    if (rc == 0) {
        *out = json_pack("{s:s}", "secret", sealed.buf);
        if (*out == NULL)
            rc = err_set(err, ERR_INTERNAL, "%s: cannot build the sealed value", name);
    }
    sbuf_release(&sealed);
    return rc < 0 ? err_wrap(err, "%s", name) : 0;
}

/* Removes every {shared: <name>} reference of <doc>'s services, listing them in <refs>. */
static int shared_refs_drop(struct txn *t, struct pkg_yaml *doc, const char *name,
                            struct names *refs, struct err *err)
{
    json_t *j = NULL;
    const char *svc, *var;
    json_t *s, *v;
    int rc = pkg_yaml_to_json(doc, &j, err);

    if (rc < 0)
        return rc;
    json_object_foreach(json_object_get(j, "services"), svc, s)
    {
        json_object_foreach(json_object_get(s, "variables"), var, v)
        {
            json_t *ref = json_object_get(v, "shared");
            char *path;

            if (!json_is_string(ref) || strcmp(json_string_value(ref), name) != 0)
                continue;
            path = txn_printf(t, "services.%s.variables.%s", svc, var);
            rc = path != NULL ? pkg_yaml_delete(doc, path, err) : oom(err);
            if (rc == 0 && !names_push(refs, txn_printf(t, "%s.%s", svc, var)))
                rc = oom(err);
            if (rc < 0)
                goto out;
        }
    }
out:
    json_decref(j);
    return rc;
}

/* Applies one NAME → value of pkg_op_set_variables() to <doc>. */
static int var_apply(struct txn *t, struct pkg_yaml *doc, const char *prefix, const char *name,
                     json_t *v, const unsigned char *key, struct names *refs, struct err *err)
{
    json_t *val = NULL;
    char *path;
    int rc;

    if (!var_name_ok(name))
        return err_set(err, ERR_INVALID, "%s: must match ^[A-Za-z_][A-Za-z0-9_]{0,127}$", name);
    path = txn_printf(t, "%s.%s", prefix, name);
    if (path == NULL)
        return oom(err);
    if (json_is_null(v)) {
        rc = pkg_yaml_delete(doc, path, err);
        if (rc == ERR_NOTFOUND)
            rc = 0;
        if (rc == 0 && strcmp(prefix, "sharedVariables") == 0)
            rc = shared_refs_drop(t, doc, name, refs, err);
        return rc;
    }
    rc = var_value(key, name, v, &val, err);
    if (rc == 0)
        rc = pkg_yaml_set_json(doc, path, val, err);
    json_decref(val);
    return rc;
}

static int vars_edit(struct txn *t, const char *env, const char *service, const json_t *vars,
                     const unsigned char *key, struct names *refs, struct err *err)
{
    struct pkg_yaml *doc = NULL;
    json_t *base = NULL;
    const char *name;
    json_t *v;
    char *prefix = service != NULL ? txn_printf(t, "services.%s.variables", service)
                                   : txn_printf(t, "sharedVariables");
    int rc = prefix != NULL ? txn_base_json(t, &base, err) : oom(err);

    if (rc == 0 && service != NULL && !base_has_service(base, service))
        rc = err_set(err, ERR_NOTFOUND, "service %s not found", service);
    if (rc == 0)
        rc = txn_env_doc(t, env, &doc, err);
    json_object_foreach((json_t *)vars, name, v)
    {
        if (rc == 0)
            rc = var_apply(t, doc, prefix, name, v, key, refs, err);
    }
    if (rc == 0)
        rc = txn_env_write(t, env, doc, base, err);
    pkg_yaml_free(doc);
    json_decref(base);
    return rc;
}

static int vars_args(const char *env, const char *service, const json_t *vars, struct err *err)
{
    int rc = name_check("env", env, err);

    if (rc == 0 && service != NULL)
        rc = name_check("service", service, err);
    if (rc == 0 && (!json_is_object(vars) || json_object_size(vars) == 0))
        rc = err_set(err, ERR_INVALID, "variables: must be a non-empty object");
    return rc;
}

/* Copies the removed references into the caller's arena. */
static int refs_out(const struct names *refs, struct arena *a, struct pkg_op_res *res,
                    struct err *err)
{
    const char **v;

    if (res == NULL || refs->n == 0)
        return 0;
    if (a == NULL)
        return err_set(err, ERR_INVALID, "arena: needed for the removed references");
    v = arena_alloc(a, refs->n * sizeof(*v));
    if (v == NULL)
        return err_set(err, ERR_LIMIT, "arena: budget spent");
    for (size_t i = 0; i < refs->n; i++) {
        v[i] = arena_strndup(a, refs->v[i], strlen(refs->v[i]));
        if (v[i] == NULL)
            return err_set(err, ERR_LIMIT, "arena: budget spent");
    }
    res->removed_refs = v;
    res->nremoved = refs->n;
    return 0;
}

int pkg_op_set_variables(struct pkg_ops *ops, const struct pkg_project *p,
                         const struct pkg_author *user, const char *env, const char *service,
                         const json_t *vars, bool secret, struct arena *a, struct pkg_op_res *res,
                         struct err *err)
{
    unsigned char key[PKG_SECRET_KEY_BYTES];
    struct names refs;
    struct txn t;
    int rc = vars_args(env, service, vars, err);

    if (rc < 0)
        return rc;
    if (res != NULL) {
        res->removed_refs = NULL;
        res->nremoved = 0;
    }
    rc = txn_begin(ops, p, false, &t, err);
    refs = (struct names){.a = t.a};
    if (rc == 0 && secret)
        rc = pkg_secret_key(p->root, slice_from_cstr(p->workspace_id),
                            slice_from_cstr(p->project_id), key, err);
    if (rc == 0)
        rc = vars_edit(&t, env, service, vars, secret ? key : NULL, &refs, err);
    if (rc == 0)
        rc = txn_commit(&t, user,
                        service != NULL
                            ? txn_printf(&t, "config(%s): set variables for %s", env, service)
                            : txn_printf(&t, "config(%s): set shared variables", env),
                        res, err);
    if (rc == 0)
        rc = refs_out(&refs, a, res, err);
    memset(key, 0, sizeof(key));
    txn_end(&t);
    return rc;
}

/* ---------------------------------------------------------------- service settings */

/* The keys of an environment's service that pkg_op_configure() sets. */
static const char *const config_keys[] = {"replicas", "autoscaling", "resources",
                                          "customStartCommand", "suspended"};

static bool config_key_ok(const char *k)
{
    for (size_t i = 0; i < ARRAY_LEN(config_keys); i++)
        if (strcmp(k, config_keys[i]) == 0)
            return true;
    return false;
}

static int config_args(const char *env, const char *service, const json_t *set, struct err *err)
{
    const char *k;
    json_t *v;
    int rc = name_check("env", env, err);

    if (rc == 0)
        rc = name_check("service", service, err);
    if (rc == 0 && (!json_is_object(set) || json_object_size(set) == 0))
        return err_set(err, ERR_INVALID, "settings: must be a non-empty object");
    json_object_foreach((json_t *)set, k, v)
    {
        if (rc == 0 && !config_key_ok(k))
            rc = err_set(err, ERR_INVALID,
                         "settings.%.64s: unknown; one of replicas, autoscaling, resources, "
                         "customStartCommand, suspended",
                         k);
    }
    return rc;
}

/* "config(<env>): suspend api", "… resume api", else "… set replicas, resources for api". */
static char *config_message(struct txn *t, const char *env, const char *service, const json_t *set)
{
    json_t *susp = json_object_get(set, "suspended");
    struct sbuf keys = SBUF_INIT(256);
    const char *k;
    json_t *v;
    char *msg;

    if (json_object_size(set) == 1 && json_is_boolean(susp))
        return txn_printf(t, "config(%s): %s %s", env, json_is_true(susp) ? "suspend" : "resume",
                          service);
    json_object_foreach((json_t *)set, k, v)
    {
        (void)v;
        sbuf_printf(&keys, "%s%s", keys.len ? ", " : "", k);
    }
    msg = keys.err ? NULL : txn_printf(t, "config(%s): set %s for %s", env, keys.buf, service);
    sbuf_release(&keys);
    return msg;
}

/* services.<service>.<key> = <v>; null removes it (no change when it is not there). */
static int config_set(struct txn *t, struct pkg_yaml *doc, const char *service, const char *key,
                      const json_t *v, struct err *err)
{
    char *path = txn_printf(t, "services.%s.%s", service, key);
    int rc;

    if (path == NULL)
        return oom(err);
    if (!json_is_null(v))
        return pkg_yaml_set_json(doc, path, v, err);
    rc = pkg_yaml_delete(doc, path, err);
    return rc == ERR_NOTFOUND ? 0 : rc;
}

static int config_edit(struct txn *t, const char *env, const char *service, const json_t *set,
                       struct err *err)
{
    struct pkg_yaml *doc = NULL;
    json_t *base = NULL, *v;
    const char *k;
    int rc = txn_base_json(t, &base, err);

    if (rc == 0 && !base_has_service(base, service))
        rc = err_set(err, ERR_NOTFOUND, "service %s not found", service);
    if (rc == 0)
        rc = txn_env_doc(t, env, &doc, err);
    json_object_foreach((json_t *)set, k, v)
    {
        if (rc == 0)
            rc = config_set(t, doc, service, k, v, err);
    }
    if (rc == 0)
        rc = txn_env_write(t, env, doc, base, err);
    pkg_yaml_free(doc);
    json_decref(base);
    return rc;
}

int pkg_op_configure(struct pkg_ops *ops, const struct pkg_project *p,
                     const struct pkg_author *user, const char *env, const char *service,
                     const json_t *set, struct pkg_op_res *res, struct err *err)
{
    struct txn t;
    int rc = config_args(env, service, set, err);

    if (rc < 0)
        return rc;
    rc = txn_begin(ops, p, false, &t, err);
    if (rc == 0)
        rc = config_edit(&t, env, service, set, err);
    if (rc == 0)
        rc = txn_commit(&t, user, config_message(&t, env, service, set), res, err);
    txn_end(&t);
    return rc;
}

/* ---------------------------------------------------------------- environment resources */

int pkg_op_env_resources_set(struct pkg_ops *ops, const struct pkg_project *p,
                             const struct pkg_author *user, const char *env,
                             const struct pkg_env_resources *r, struct pkg_op_res *res,
                             struct err *err)
{
    struct pkg_yaml *doc = NULL;
    json_t *base = NULL, *j = NULL;
    struct txn t;
    int rc = name_check("env", env, err);

    if (rc == 0)
        rc = pkg_env_resources_json(r, &j, err);
    if (rc < 0)
        return rc;
    rc = txn_begin(ops, p, false, &t, err);
    if (rc == 0)
        rc = txn_base_json(&t, &base, err);
    if (rc == 0)
        rc = txn_env_doc(&t, env, &doc, err);
    if (rc == 0)
        rc = pkg_yaml_set_json(doc, "resources", j, err);
    if (rc == 0)
        rc = txn_env_write(&t, env, doc, base, err); /* services without their own re-render */
    if (rc == 0)
        rc = txn_commit(&t, user,
                        txn_printf(&t, "config(%s): resources %s %" PRId64 "m/%" PRId64 "Mi", env,
                                   r->tier, r->cpu_millis, r->memory_mb),
                        res, err);
    pkg_yaml_free(doc);
    json_decref(base);
    json_decref(j);
    txn_end(&t);
    return rc;
}

/* ---------------------------------------------------------------- locked runs, domains */

int pkg_ops_locked(struct pkg_ops *ops, const struct pkg_project *p, pkg_ops_locked_fn *fn,
                   void *arg, struct err *err)
{
    struct sbuf path = SBUF_INIT(4096);
    pthread_mutex_t *mu;
    int rc = pkg_repo_path(p->root, slice_from_cstr(p->workspace_id),
                           slice_from_cstr(p->project_id), &path, err);

    if (rc == 0) {
        mu = proj_mutex(ops, path.buf);
        pthread_mutex_lock(mu);
        rc = fn(arg, path.buf, err);
        pthread_mutex_unlock(mu);
    }
    sbuf_release(&path);
    return rc;
}

/* Where <host> is in the sequence <path> of <doc> (SIZE_MAX: not there); *len its length. */
static size_t domain_find(const struct pkg_yaml *doc, const char *path, const char *host,
                          size_t *len)
{
    const struct pkg_yaml_node *n = NULL;
    struct err ignored = {0};
    size_t at = SIZE_MAX;

    *len = 0;
    if (!pkg_yaml_is_seq(doc, path) || pkg_yaml_get(doc, path, &n, &ignored) < 0)
        return at;
    *len = pkg_yaml_node_len(n);
    for (size_t i = 0; i < *len; i++) {
        struct slice s = pkg_yaml_node_scalar(pkg_yaml_node_at(n, i));

        if (s.ptr != NULL && slice_eq_cstr(s, host))
            at = i;
    }
    return at;
}

static int domain_edit(struct txn *t, const char *env, const char *service, const char *host,
                       bool add, struct err *err)
{
    struct pkg_yaml *doc = NULL;
    json_t *base = NULL, *v = NULL;
    char *path = txn_printf(t, "services.%s.domains", service), *item;
    size_t len = 0, at = SIZE_MAX;
    int rc = path != NULL ? txn_base_json(t, &base, err) : oom(err);

    if (rc == 0 && !base_has_service(base, service))
        rc = err_set(err, ERR_NOTFOUND, "service %s not found", service);
    if (rc == 0)
        rc = txn_env_doc(t, env, &doc, err);
    if (rc == 0)
        at = domain_find(doc, path, host, &len);
    if (rc == 0 && add && at != SIZE_MAX)
        rc = err_set(err, ERR_CONFLICT, "domain %s is set on %s in %s already", host, service, env);
    if (rc == 0 && !add && at == SIZE_MAX)
        rc = err_set(err, ERR_NOTFOUND, "domain %s is not set on %s in %s", host, service, env);
    item = txn_printf(t, "%s[%zu]", path, add ? len : at);
    if (rc == 0 && item == NULL)
        rc = oom(err);
    if (rc == 0 && add) {
        /* A first domain creates the list; later ones append to it. */
        v = len > 0 ? json_string(host) : json_pack("[s]", host);
        rc = pkg_yaml_set_json(doc, len > 0 ? item : path, v, err);
    } else if (rc == 0) {
        rc = pkg_yaml_delete(doc, item, err);
    }
    if (rc == 0)
        rc = txn_env_write(t, env, doc, base, err);
    json_decref(v);
    json_decref(base);
    pkg_yaml_free(doc);
    return rc;
}

int pkg_op_domain(struct pkg_ops *ops, const struct pkg_project *p, const struct pkg_author *user,
                  const char *env, const char *service, const char *host, bool add,
                  struct pkg_op_res *res, struct err *err)
{
    struct txn t;
    int rc = deploy_args(env, service, "", "", err);

    if (rc < 0)
        return rc;
    rc = txn_begin(ops, p, false, &t, err);
    if (rc == 0)
        rc = domain_edit(&t, env, service, host, add, err);
    if (rc == 0)
        rc = txn_commit(&t, user,
                        txn_printf(&t, "config(%s): %s domain %s for %s", env,
                                   add ? "add" : "remove", host, service),
                        res, err);
    txn_end(&t);
    return rc;
}

/* Sets services.<service>.platformDomain of <env> to <host>; 1 when it holds that already. */
static int platform_edit(struct txn *t, const char *env, const char *service, const char *host,
                         struct err *err)
{
    struct pkg_yaml *doc = NULL;
    json_t *base = NULL;
    struct slice have = {0};
    struct err ignored = {0};
    char *path = txn_printf(t, "services.%s.platformDomain", service);
    int rc = path != NULL ? txn_base_json(t, &base, err) : oom(err);

    if (rc == 0 && !base_has_service(base, service))
        rc = err_set(err, ERR_NOTFOUND, "service %s not found", service);
    if (rc == 0)
        rc = txn_env_doc(t, env, &doc, err);
    if (rc == 0 && pkg_yaml_get_str(doc, path, &have, &ignored) == 0 && slice_eq_cstr(have, host))
        rc = 1;
    if (rc == 0)
        rc = pkg_yaml_set_str(doc, path, slice_from_cstr(host), err);
    if (rc == 0)
        rc = txn_env_write(t, env, doc, base, err);
    json_decref(base);
    pkg_yaml_free(doc);
    return rc;
}

int pkg_op_platform_domain(struct pkg_ops *ops, const struct pkg_project *p,
                           const struct pkg_author *user, const char *env, const char *service,
                           const char *host, struct pkg_op_res *res, struct err *err)
{
    struct txn t;
    int rc = deploy_args(env, service, "", "", err);

    if (res != NULL)
        res->commit[0] = '\0';
    if (rc < 0)
        return rc;
    rc = txn_begin(ops, p, false, &t, err);
    if (rc == 0)
        rc = platform_edit(&t, env, service, host, err);
    if (rc == 0)
        rc = txn_commit(&t, user,
                        txn_printf(&t, "config(%s): platform domain %s for %s", env, host, service),
                        res, err);
    txn_end(&t);
    return rc == 1 ? 0 : rc;
}

/* ---------------------------------------------------------------- history */

struct hist_entry {
    enum pkg_deploy_kind kind;
    char *oid, *name, *email, *message;
    int64_t time;
};

struct hist_walk {
    struct arena *a;
    const char *env, *service;
    struct hist_entry *v;
    size_t n, cap, limit;
    bool oom;
};

/* Whether <msg>'s first line is a deploy, rollback or promote of the walk's service. */
static bool hist_kind(const struct hist_walk *w, const char *msg, enum pkg_deploy_kind *kind)
{
    static const struct {
        const char *verb;
        enum pkg_deploy_kind kind;
    } verbs[] = {{"deploy", PKG_DEPLOY}, {"rollback", PKG_ROLLBACK}, {"promote", PKG_PROMOTE}};
    size_t el = strlen(w->env), sl = strlen(w->service);

    for (size_t i = 0; i < ARRAY_LEN(verbs); i++) {
        size_t vl = strlen(verbs[i].verb);
        const char *s = msg;

        if (strncmp(s, verbs[i].verb, vl) != 0 || s[vl] != '(')
            continue;
        s += vl + 1;
        if (strncmp(s, w->env, el) != 0 || strncmp(s + el, "): ", 3) != 0)
            continue;
        s += el + 3;
        if (strncmp(s, w->service, sl) != 0 || s[sl] != ' ')
            continue;
        *kind = verbs[i].kind;
        return true;
    }
    return false;
}

static bool hist_collect(void *arg, const struct pkg_log_entry *e)
{
    struct hist_walk *w = arg;
    struct hist_entry h = {.time = e->time};

    if (!hist_kind(w, e->message, &h.kind))
        return true;
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 16;
        w->v = xrealloc(w->v, w->cap * sizeof(*w->v));
    }
    h.oid = arena_strndup(w->a, e->oid, strlen(e->oid));
    h.name = arena_strndup(w->a, e->author_name, strlen(e->author_name));
    h.email = arena_strndup(w->a, e->author_email, strlen(e->author_email));
    h.message = arena_strndup(w->a, e->message, strlen(e->message));
    if (h.oid == NULL || h.name == NULL || h.email == NULL || h.message == NULL) {
        w->oom = true;
        return false;
    }
    w->v[w->n++] = h;
    return w->limit == 0 || w->n < w->limit;
}

/* The image's tag and digest in the values file <path> at commit <oid> ("" when missing). */
static void hist_image(struct pkg_repo *r, struct arena *a, const char *oid, const char *path,
                       const char *ptag, const char *pdig, struct slice *tag, struct slice *dig)
{
    struct err err = {0};
    struct pkg_yaml *doc = NULL;
    struct slice text;

    *tag = *dig = SLICE("");
    if (pkg_repo_read(r, oid, path, a, &text, &err) < 0 ||
        pkg_yaml_parse(text, NULL, &doc, &err) < 0)
        return;
    if (pkg_yaml_get_str(doc, ptag, tag, &err) < 0 || pkg_yaml_get_str(doc, pdig, dig, &err) < 0)
        *tag = *dig = SLICE("");
    *tag = slice_dup(a, *tag);
    *dig = slice_dup(a, *dig);
    pkg_yaml_free(doc);
}

static int hist_emit(struct pkg_repo *r, struct hist_walk *w, const char *path, pkg_history_fn *fn,
                     void *arg, struct err *err)
{
    char *ptag = arena_printf(w->a, "services.%s.image.tag", w->service);
    char *pdig = arena_printf(w->a, "services.%s.image.digest", w->service);
    struct slice cur_tag, cur_dig, tag, dig;
    bool active_seen = false;

    if (ptag == NULL || pdig == NULL)
        return oom(err);
    hist_image(r, w->a, "HEAD", path, ptag, pdig, &cur_tag, &cur_dig);
    for (size_t i = 0; i < w->n; i++) {
        const struct hist_entry *h = &w->v[i];
        struct pkg_deployment d;

        hist_image(r, w->a, h->oid, path, ptag, pdig, &tag, &dig);
        if (tag.ptr == NULL || dig.ptr == NULL)
            return oom(err);
        d = (struct pkg_deployment){h->kind,  tag.ptr, dig.ptr,    h->oid, h->name,
                                    h->email, h->time, h->message, false};
        if (!active_seen && dig.len > 0 && cur_dig.ptr != NULL && slice_eq(dig, cur_dig))
            d.active = active_seen = true;
        if (!fn(arg, &d))
            break;
    }
    return 0;
}

int pkg_op_history(const struct pkg_project *p, const char *env, const char *service, size_t limit,
                   pkg_history_fn *fn, void *arg, struct err *err)
{
    struct hist_walk w = {.env = env, .service = service, .limit = limit};
    struct sbuf rpath = SBUF_INIT(4096);
    struct pkg_repo *r = NULL;
    struct slice text;
    char *path;
    int rc = name_check("env", env, err);

    if (rc == 0)
        rc = name_check("service", service, err);
    if (rc < 0)
        return rc;
    w.a = arena_new(&(struct arena_opts){.chunk = 64 << 10, .budget = OP_BUDGET});
    path = arena_printf(w.a, "environments/%s/values.yaml", env);
    rc = path != NULL ? pkg_repo_path(p->root, slice_from_cstr(p->workspace_id),
                                      slice_from_cstr(p->project_id), &rpath, err)
                      : oom(err);
    if (rc == 0)
        rc = pkg_repo_open(rpath.buf, &r, err);
    if (rc == 0) {
        rc = pkg_repo_read(r, NULL, path, w.a, &text, err);
        if (rc == ERR_NOTFOUND)
            rc = err_set(err, ERR_NOTFOUND, "environment %s not found", env);
    }
    if (rc == 0)
        rc = pkg_repo_log(r, path, 0, hist_collect, &w, err);
    if (rc == 0 && w.oom)
        rc = oom(err);
    if (rc == 0)
        rc = hist_emit(r, &w, path, fn, arg, err);
    pkg_repo_close(r);
    free(w.v);
    sbuf_release(&rpath);
    arena_free(w.a);
    return rc;
}

/* ---------------------------------------------------------------- reading */

struct env_names {
    pkg_name_fn *fn;
    void *arg;
};

static bool env_name(void *arg, const char *name, enum pkg_entry_kind kind)
{
    struct env_names *e = arg;

    return kind != PKG_ENTRY_DIR || e->fn(e->arg, name);
}

int pkg_op_env_list(const struct pkg_project *p, pkg_name_fn *fn, void *arg, struct err *err)
{
    struct env_names e = {.fn = fn, .arg = arg};
    struct sbuf rpath = SBUF_INIT(4096);
    struct pkg_repo *r = NULL;
    char head[PKG_OID_HEX + 1];
    int rc = pkg_repo_path(p->root, slice_from_cstr(p->workspace_id),
                           slice_from_cstr(p->project_id), &rpath, err);

    if (rc == 0)
        rc = pkg_repo_open(rpath.buf, &r, err);
    if (rc == 0)
        rc = pkg_repo_head(r, head, err); /* one commit for the whole listing */
    if (rc == 0) {
        rc = pkg_repo_list(r, head, "environments", env_name, &e, err);
        if (rc == ERR_NOTFOUND) /* a project without environments */
            rc = 0;
    }
    pkg_repo_close(r);
    sbuf_release(&rpath);
    return rc;
}
