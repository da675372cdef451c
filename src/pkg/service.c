/*
 * The packager service (include/pkg/pkg.h): each call verifies its internal token, derives
 * the project and the commit author from it, and runs one operation (ops.c).
 */
#include <stdlib.h>

#include "pkg/pkg-int.h"

#define TOKEN_SKEW_S 30

struct pkg {
    struct pkg_deps deps;
    struct pkg_ops *ops;
};

int pkg_new(const struct pkg_deps *d, struct pkg **out, struct err *err)
{
    struct pkg *p;
    int rc;

    *out = NULL;
    if (d->keys == NULL || d->issuer == NULL || d->data_dir == NULL)
        return err_set(err, ERR_INVALID, "pkg: keys, issuer and data_dir are required");
    p = xcalloc(1, sizeof(*p));
    p->deps = *d;
    rc = pkg_ops_new(&(struct pkg_ops_cfg){.schema_dir = d->schema_dir}, &p->ops, err);
    if (rc < 0) {
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void pkg_free(struct pkg *p)
{
    if (p == NULL)
        return;
    pkg_ops_free(p->ops);
    free(p);
}

/* A verified call: who acts, and on which project. */
struct call {
    struct auth_claims who;
    struct pkg_project project;
    struct pkg_author author;
};

/* Verifies <c>'s token: 0 and <out> filled, ERR_UNAUTHENTICATED without a valid internal
 * token, ERR_FORBIDDEN for a role that may not act on projects. */
static int call_begin(struct pkg *p, const struct pkg_call *c, struct call *out, struct err *err)
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
    return 0;
}

static void commit_out(const struct pkg_op_res *res, char commit[41])
{
    if (commit != NULL)
        memcpy(commit, res->commit, 41);
}

int pkg_project_init(struct pkg *p, const struct pkg_call *c, char commit[41], struct err *err)
{
    struct pkg_op_res res = {0};
    struct call k;
    int rc = call_begin(p, c, &k, err);

    if (rc == 0)
        rc = pkg_op_init(p->ops, &k.project, &k.author, &res, err);
    if (rc == 0)
        commit_out(&res, commit);
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
        commit_out(&res, commit);
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
        commit_out(&res, commit);
    return rc;
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
        commit_out(&res, commit);
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
        commit_out(&res, commit);
    return rc;
}

int pkg_history(struct pkg *p, const struct pkg_call *c, const char *env, const char *service,
                size_t limit, pkg_history_fn *fn, void *arg, struct err *err)
{
    struct call k;
    int rc = call_begin(p, c, &k, err);

    return rc < 0 ? rc : pkg_op_history(&k.project, env, service, limit, fn, arg, err);
}
