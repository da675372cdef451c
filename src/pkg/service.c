/*
 * The packager service (include/pkg/pkg.h): each call verifies its internal token, derives
 * the project and the commit author from it, and runs one operation (ops.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>

#include "pkg/pkg-int.h"

#define TOKEN_SKEW_S 30

struct pkg {
    struct pkg_deps deps;
    struct pkg_ops *ops;
    struct pkg_index *ix;      /* NULL without deps.store */
    struct pkg_mirror *mirror; /* NULL without deps.store */
};

static const struct log_ctx pkg_log = {.svc = "packager"};

int pkg_new(const struct pkg_deps *d, struct pkg **out, struct err *err)
{
    struct pkg *p;
    int rc;

    *out = NULL;
    if (d->keys == NULL || d->issuer == NULL || d->data_dir == NULL)
        return err_set(err, ERR_INVALID, "pkg: keys, issuer and data_dir are required");
    p = xcalloc(1, sizeof(*p));
    p->deps = *d; /* its strings are copied: the caller's may be gone after the call */
    p->deps.data_dir = xstrdup(d->data_dir);
    p->deps.issuer = xstrdup(d->issuer);
    p->deps.schema_dir = d->schema_dir ? xstrdup(d->schema_dir) : NULL;
    p->deps.workload_domain = d->workload_domain ? xstrdup(d->workload_domain) : NULL;
    rc = pkg_ops_new(&(struct pkg_ops_cfg){.schema_dir = d->schema_dir}, &p->ops, err);
    /* The index catches up with the repositories before the first call: a missing database is
     * rebuilt, a commit whose sync a crash cut short is indexed now. */
    if (rc == 0 && d->store != NULL)
        rc = pkg_index_open(d->store, d->data_dir, d->workload_domain, &p->ix, err);
    if (rc == 0 && p->ix != NULL)
        rc = pkg_index_rebuild(p->ix, err);
    if (rc == 0 && d->store != NULL)
        rc = pkg_mirror_open(d->store, p->deps.data_dir, NULL, &p->mirror, err);
    if (rc == 0 && p->mirror != NULL)
        pkg_mirror_start(p->mirror); /* pushes owed before a stop go out now */
    if (rc < 0) {
        pkg_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void pkg_free(struct pkg *p)
{
    if (p == NULL)
        return;
    pkg_mirror_free(p->mirror);
    pkg_index_free(p->ix);
    pkg_ops_free(p->ops);
    free((char *)p->deps.data_dir);
    free((char *)p->deps.issuer);
    free((char *)p->deps.schema_dir);
    free((char *)p->deps.workload_domain);
    free(p);
}

/* A verified call: who acts, and on which project. */
struct call {
    struct auth_claims who;
    struct pkg_project project;
    struct pkg_author author;
    char name[64], display[256]; /* the project's, from the index, when the caller gave none */
};

static bool names_copy(void *arg, const struct pkg_project_info *pi)
{
    struct call *k = arg;

    snprintf(k->name, sizeof(k->name), "%s", pi->name);
    snprintf(k->display, sizeof(k->display), "%s", pi->display_name);
    return false;
}

/* The project's name and display name from the index when the call names only its id.
 * ERR_NOTFOUND when the index does not know the project (every write and every start
 * index what is on disk). */
static int names_fill(struct pkg *p, struct call *k, struct err *err)
{
    int rc;

    if (p->ix == NULL || k->project.project_id == NULL || k->project.slug != NULL)
        return 0;
    rc = pkg_index_projects(p->ix, k->who.ws, k->project.project_id, names_copy, k, err);
    if (rc < 0)
        return rc;
    k->project.slug = k->name;
    if (k->project.display_name == NULL)
        k->project.display_name = k->display;
    return 0;
}

/* Verifies <c>'s token: 0 and <out> filled, ERR_UNAUTHENTICATED without a valid internal
 * token, ERR_FORBIDDEN for a role that may not act on projects. */
static int call_verify(struct pkg *p, const struct pkg_call *c, struct call *out, struct err *err)
{
    int rc;

    if (c->token.len == 0)
        return err_set(err, ERR_UNAUTHENTICATED, "pkg: the call carries no internal token");
    rc = auth_internal_verify(p->deps.keys, c->token, p->deps.issuer,
                              (int64_t)time_wall_ms() / 1000, TOKEN_SKEW_S, &out->who, err);
    if (rc < 0)
        return err_wrap(err, "pkg: internal token");
    if (strcmp(out->who.role, "ADMIN") != 0 && strcmp(out->who.role, "USER") != 0)
        return err_set(err, ERR_FORBIDDEN, "pkg: role %.20s may not act on projects",
                       out->who.role);
    out->project = (struct pkg_project){.root = p->deps.data_dir,
                                        .workspace_id = out->who.ws,
                                        .project_id = c->project_id,
                                        .workspace_slug = c->workspace_slug,
                                        .slug = c->project_slug,
                                        .display_name = c->display_name,
                                        .workload_domain = p->deps.workload_domain};
    out->author = (struct pkg_author){.name = out->who.name[0] ? out->who.name : out->who.sub,
                                      .email = out->who.email[0] ? out->who.email : out->who.sub};
    out->name[0] = out->display[0] = '\0';
    return 0;
}

/* call_verify(), then the project's names (ERR_NOTFOUND for a project the index lacks). */
static int call_begin(struct pkg *p, const struct pkg_call *c, struct call *out, struct err *err)
{
    int rc = call_verify(p, c, out, err);

    return rc < 0 ? rc : names_fill(p, out, err);
}

static void commit_out(const struct pkg_op_res *res, char commit[41])
{
    if (commit != NULL)
        memcpy(commit, res->commit, 41);
}

struct sync_arg {
    struct pkg_index *ix;
    const struct pkg_project *project;
};

static int sync_locked(void *arg, const char *repo_path, struct err *err)
{
    struct sync_arg *s = arg;

    (void)repo_path;
    return pkg_index_sync(s->ix, s->project, err);
}

/* Brings the index up to the commit an op made, under the project's lock so rows follow
 * commits in order. A failure is logged, not returned: the commit stands, and the next sync
 * of the project (or the next start) catches up. */
static void index_sync(struct pkg *p, const struct call *k)
{
    struct sync_arg s = {p->ix, &k->project};
    struct err err = {0};

    if (p->ix != NULL && pkg_ops_locked(p->ops, &k->project, sync_locked, &s, &err) < 0)
        LOG_WARN(&pkg_log, "pkg.index.sync_failed", LF_STR("project", k->project.project_id),
                 LF_STR("error", err.msg));
}

static void commit_done(struct pkg *p, const struct call *k, const struct pkg_op_res *res,
                        char commit[41])
{
    index_sync(p, k);
    pkg_mirror_kick(p->mirror, &k->project);
    commit_out(res, commit);
}

int pkg_project_init(struct pkg *p, const struct pkg_call *c, char commit[41], struct err *err)
{
    struct pkg_op_res res = {0};
    struct call k;
    int rc = call_begin(p, c, &k, err);

    if (rc == 0)
        rc = pkg_op_init(p->ops, &k.project, &k.author, &res, err);
    if (rc == 0)
        commit_done(p, &k, &res, commit);
    return rc;
}

int pkg_service_add(struct pkg *p, const struct pkg_call *c, const char *name, const json_t *svc,
                    char commit[41], struct err *err)
{
    struct pkg_op_res res = {0};
    struct call k;
    int rc = call_begin(p, c, &k, err);

    if (rc == 0)
        rc = pkg_op_add_service(p->ops, &k.project, &k.author, name, svc, &res, err);
    if (rc == 0)
        commit_done(p, &k, &res, commit);
    return rc;
}

int pkg_service_remove(struct pkg *p, const struct pkg_call *c, const char *name, char commit[41],
                       struct err *err)
{
    struct pkg_op_res res = {0};
    struct call k;
    int rc = call_begin(p, c, &k, err);

    if (rc == 0)
        rc = pkg_op_remove_service(p->ops, &k.project, &k.author, name, &res, err);
    if (rc == 0)
        commit_done(p, &k, &res, commit);
    return rc;
}

int pkg_set_variables(struct pkg *p, const struct pkg_call *c, const char *env, const char *service,
                      const json_t *vars, bool secret, struct arena *a, char commit[41],
                      const char *const **removed, size_t *nremoved, struct err *err)
{
    struct pkg_op_res res = {0};
    struct call k;
    int rc = call_begin(p, c, &k, err);

    if (rc == 0)
        rc = pkg_op_set_variables(p->ops, &k.project, &k.author, env, service, vars, secret, a,
                                  &res, err);
    if (rc == 0)
        commit_done(p, &k, &res, commit);
    if (removed != NULL)
        *removed = rc == 0 ? res.removed_refs : NULL;
    if (nremoved != NULL)
        *nremoved = rc == 0 ? res.nremoved : 0;
    return rc;
}

int pkg_env_create(struct pkg *p, const struct pkg_call *c, const char *env, const char *from_env,
                   char commit[41], struct err *err)
{
    struct pkg_op_res res = {0};
    struct call k;
    int rc = call_begin(p, c, &k, err);

    if (rc == 0)
        rc = pkg_op_env_create(p->ops, &k.project, &k.author, env, from_env, &res, err);
    if (rc == 0)
        commit_done(p, &k, &res, commit);
    return rc;
}

int pkg_env_delete(struct pkg *p, const struct pkg_call *c, const char *env, char commit[41],
                   struct err *err)
{
    struct pkg_op_res res = {0};
    struct call k;
    int rc = call_begin(p, c, &k, err);

    if (rc == 0)
        rc = pkg_op_env_delete(p->ops, &k.project, &k.author, env, &res, err);
    if (rc == 0)
        commit_done(p, &k, &res, commit);
    return rc;
}

int pkg_env_list(struct pkg *p, const struct pkg_call *c, pkg_name_fn *fn, void *arg,
                 struct err *err)
{
    struct call k;
    int rc = call_begin(p, c, &k, err);

    return rc < 0 ? rc : pkg_op_env_list(&k.project, fn, arg, err);
}

int pkg_deploy(struct pkg *p, const struct pkg_call *c, const char *env, const char *service,
               const char *tag, const char *digest, bool rollback, char commit[41], struct err *err)
{
    struct pkg_op_res res = {0};
    struct call k;
    int rc = call_begin(p, c, &k, err);

    if (rc == 0)
        rc = pkg_op_deploy(p->ops, &k.project, &k.author, env, service, tag, digest,
                           rollback ? PKG_ROLLBACK : PKG_DEPLOY, &res, err);
    if (rc == 0)
        commit_done(p, &k, &res, commit);
    return rc;
}

int pkg_promote(struct pkg *p, const struct pkg_call *c, const char *from_env, const char *to_env,
                const char *service, char commit[41], struct err *err)
{
    struct pkg_op_res res = {0};
    struct call k;
    int rc = call_begin(p, c, &k, err);

    if (rc == 0)
        rc = pkg_op_promote(p->ops, &k.project, &k.author, from_env, to_env, service, &res, err);
    if (rc == 0)
        commit_done(p, &k, &res, commit);
    return rc;
}

int pkg_configure(struct pkg *p, const struct pkg_call *c, const char *env, const char *service,
                  const json_t *set, char commit[41], struct err *err)
{
    struct pkg_op_res res = {0};
    struct call k;
    int rc = call_begin(p, c, &k, err);

    if (rc == 0)
        rc = pkg_op_configure(p->ops, &k.project, &k.author, env, service, set, &res, err);
    if (rc == 0)
        commit_done(p, &k, &res, commit);
    return rc;
}

int pkg_eject(struct pkg *p, const struct pkg_call *c, struct sbuf *out, struct err *err)
{
    struct call k;
    int rc = call_begin(p, c, &k, err);

    return rc < 0 ? rc : pkg_op_eject(&k.project, out, err);
}

int pkg_history(struct pkg *p, const struct pkg_call *c, const char *env, const char *service,
                size_t limit, pkg_history_fn *fn, void *arg, struct err *err)
{
    struct call k;
    int rc = call_begin(p, c, &k, err);

    if (rc == 0 && p->ix != NULL)
        return pkg_index_history(p->ix, k.who.ws, c->project_id, env, service, limit, fn, arg, err);
    return rc < 0 ? rc : pkg_op_history(&k.project, env, service, limit, fn, arg, err);
}

/* ---------------------------------------------------------------- reading what is desired */

/* Whether the call's role may deploy: pkg_service_env hands out decrypted secrets, which only
 * a role that could change them may see. Every role call_verify lets in may, today; the check
 * is here so that a read-only role added there does not get them. */
static int may_deploy(const struct call *k, struct err *err)
{
    if (strcmp(k->who.role, "ADMIN") != 0 && strcmp(k->who.role, "USER") != 0)
        return err_set(err, ERR_FORBIDDEN, "pkg: role %.20s may not deploy", k->who.role);
    return 0;
}

int pkg_env_services(struct pkg *p, const struct pkg_call *c, const char *env, struct arena *a,
                     struct pkg_service_info **out, size_t *n, struct err *err)
{
    struct call k;
    int rc = call_begin(p, c, &k, err);

    *out = NULL;
    *n = 0;
    return rc < 0 ? rc : pkg_op_env_services(&k.project, env, a, out, n, err);
}

int pkg_shared_variables(struct pkg *p, const struct pkg_call *c, const char *env, struct arena *a,
                         struct pkg_var **out, size_t *n, struct err *err)
{
    struct call k;
    int rc = call_begin(p, c, &k, err);

    *out = NULL;
    *n = 0;
    return rc < 0 ? rc : pkg_op_shared_variables(&k.project, env, a, out, n, err);
}

int pkg_service_env(struct pkg *p, const struct pkg_call *c, const char *env, const char *service,
                    int ingress_port, struct arena *a, const char ***out, size_t *n,
                    struct err *err)
{
    struct call k;
    int rc = call_begin(p, c, &k, err);

    *out = NULL;
    *n = 0;
    if (rc == 0)
        rc = may_deploy(&k, err);
    return rc < 0 ? rc : pkg_op_service_env(&k.project, env, service, ingress_port, a, out, n, err);
}

int pkg_env_resources_get(struct pkg *p, const struct pkg_call *c, const char *env, struct arena *a,
                          struct pkg_env_resources *out, struct err *err)
{
    struct call k;
    int rc = call_begin(p, c, &k, err);

    *out = (struct pkg_env_resources){0};
    return rc < 0 ? rc : pkg_op_env_resources_get(&k.project, env, a, out, err);
}

/* Any role that may configure a service (pkg_configure's) may set its environment's default. */
int pkg_env_resources_set(struct pkg *p, const struct pkg_call *c, const char *env,
                          const struct pkg_env_resources *r, char commit[41], struct err *err)
{
    struct pkg_op_res res = {0};
    struct call k;
    int rc = call_begin(p, c, &k, err);

    if (rc == 0)
        rc = pkg_op_env_resources_set(p->ops, &k.project, &k.author, env, r, &res, err);
    if (rc == 0)
        commit_done(p, &k, &res, commit);
    return rc;
}

/* ---------------------------------------------------------------- projects */

/* A verified call on a packager that has its index. */
static int index_call(struct pkg *p, const struct pkg_call *c, struct call *k, struct err *err)
{
    int rc = call_begin(p, c, k, err);

    if (rc == 0 && p->ix == NULL)
        rc = err_set(err, ERR_UNAVAILABLE, "pkg: no database for the index is configured");
    return rc;
}

int pkg_project_list(struct pkg *p, const struct pkg_call *c, pkg_project_fn *fn, void *arg,
                     struct err *err)
{
    struct call k;
    int rc = index_call(p, c, &k, err);

    return rc < 0 ? rc : pkg_index_projects(p->ix, k.who.ws, NULL, fn, arg, err);
}

int pkg_project_get(struct pkg *p, const struct pkg_call *c, pkg_project_fn *fn, void *arg,
                    struct err *err)
{
    struct call k;
    int rc = index_call(p, c, &k, err);

    if (rc == 0 && c->project_id == NULL)
        rc = err_set(err, ERR_INVALID, "project_id: missing");
    return rc < 0 ? rc : pkg_index_projects(p->ix, k.who.ws, c->project_id, fn, arg, err);
}

int pkg_project_delete(struct pkg *p, const struct pkg_call *c, struct err *err)
{
    struct call k;
    int rc = index_call(p, c, &k, err);

    if (rc == 0 && c->project_id == NULL)
        rc = err_set(err, ERR_INVALID, "project_id: missing");
    return rc < 0 ? rc : pkg_index_project_delete(p->ix, p->ops, &k.project, err);
}

/* ---------------------------------------------------------------- domains */

int pkg_domain_generate(struct pkg *p, const struct pkg_call *c, const char *env,
                        const char *service, char host[PKG_HOST_MAX + 1], struct err *err)
{
    struct pkg_op_res res = {0};
    struct call k;
    int rc = index_call(p, c, &k, err);

    /* Claimed in the index first, then made desired state: the HTTPRoute serves the name, and
     * a rebuilt index gives it back whatever order it reads the repositories in. */
    if (rc == 0)
        rc = pkg_index_domain_platform(p->ix, &k.project, env, service, host, err);
    if (rc == 0)
        rc = pkg_op_platform_domain(p->ops, &k.project, &k.author, env, service, host, &res, err);
    if (rc == 0 && res.commit[0] != '\0')
        commit_done(p, &k, &res, NULL);
    return rc;
}

/* ERR_INVALID for a custom domain the platform's own names live under. */
static int custom_ok(const struct pkg *p, const char *host, struct err *err)
{
    const char *wd = p->deps.workload_domain;
    size_t hl = strlen(host), wl = wd != NULL ? strlen(wd) : 0;

    if (wl > 0 && hl >= wl && strcasecmp(host + hl - wl, wd) == 0 &&
        (hl == wl || host[hl - wl - 1] == '.'))
        return err_set(err, ERR_INVALID, "domain %s: names under %s are the platform's", host, wd);
    return 0;
}

int pkg_domain_add(struct pkg *p, const struct pkg_call *c, const char *env, const char *service,
                   const char *host, char commit[41], struct err *err)
{
    char name[PKG_HOST_MAX + 1];
    struct pkg_op_res res = {0};
    struct call k;
    int rc = index_call(p, c, &k, err);

    if (rc == 0)
        rc = pkg_domain_normalize(host, name, err);
    if (rc == 0)
        rc = custom_ok(p, name, err);
    if (rc == 0)
        rc = pkg_index_projects(p->ix, k.who.ws, c->project_id, NULL, NULL, err);
    /* The name is the index's before any commit names it; a failed commit gives it back. */
    if (rc == 0)
        rc = pkg_index_domain_claim(p->ix, &k.project, env, service, name, err);
    if (rc < 0)
        return rc;
    rc = pkg_op_domain(p->ops, &k.project, &k.author, env, service, name, true, &res, err);
    if (rc < 0)
        pkg_index_domain_release(p->ix, &k.project, name);
    else
        commit_done(p, &k, &res, commit);
    return rc;
}

int pkg_domain_remove(struct pkg *p, const struct pkg_call *c, const char *env, const char *service,
                      const char *host, char commit[41], struct err *err)
{
    char name[PKG_HOST_MAX + 1];
    struct pkg_op_res res = {0};
    struct call k;
    int rc = index_call(p, c, &k, err);

    if (rc == 0)
        rc = pkg_domain_normalize(host, name, err);
    if (rc == 0)
        rc = pkg_op_domain(p->ops, &k.project, &k.author, env, service, name, false, &res, err);
    if (rc == 0)
        commit_done(p, &k, &res, commit);
    return rc;
}

int pkg_repo_locate(struct pkg *p, const struct pkg_call *c, struct sbuf *path, struct err *err)
{
    struct stat st;
    struct call k;
    size_t len;
    int rc = call_verify(p, c, &k, err); /* serving reads what is on disk */

    if (rc < 0)
        return rc;
    if (c->project_id == NULL)
        return err_set(err, ERR_INVALID, "project_id: missing");
    rc = pkg_repo_path(p->deps.data_dir, slice_from_cstr(k.project.workspace_id),
                       slice_from_cstr(c->project_id), path, err);
    if (rc < 0)
        return rc;
    /* A bare repository has HEAD at its top; a directory left half-made by a failed init
     * or anything else at that path is not one to serve. */
    len = path->len;
    sbuf_puts(path, "/HEAD");
    if (path->err != 0)
        return err_set(err, path->err, "repository path too long");
    rc = stat(path->buf, &st);
    path->len = len;
    path->buf[len] = '\0';
    if (rc != 0 && (errno == ENOENT || errno == ENOTDIR))
        return err_set(err, ERR_NOTFOUND, "project %s has no repository", c->project_id);
    if (rc != 0)
        return err_set(err, err_from_errno(errno), "stat repository of %s: %s", c->project_id,
                       strerror(errno));
    if (!S_ISREG(st.st_mode))
        return err_set(err, ERR_NOTFOUND, "project %s has no repository", c->project_id);
    return 0;
}

int pkg_mirror_configure(struct pkg *p, const struct pkg_call *c, const char *url, struct err *err)
{
    struct call k;
    int rc = call_begin(p, c, &k, err);

    if (rc == 0 && p->mirror == NULL)
        rc = err_set(err, ERR_UNAVAILABLE, "pkg: no database for mirrors is configured");
    return rc < 0 ? rc : pkg_mirror_set(p->mirror, &k.project, url, err);
}

int pkg_mirror_status(struct pkg *p, const struct pkg_call *c, struct pkg_mirror_state *out,
                      struct err *err)
{
    struct call k;
    int rc = call_begin(p, c, &k, err);

    if (rc == 0 && p->mirror == NULL)
        rc = err_set(err, ERR_UNAVAILABLE, "pkg: no database for mirrors is configured");
    return rc < 0
               ? rc
               : pkg_mirror_get(p->mirror, k.project.workspace_id, k.project.project_id, out, err);
}
