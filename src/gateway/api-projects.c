/*
 * gateway API: projects and environments (schema/projects.graphql). The packager owns them;
 * every resolver calls it with an internal token naming the caller, the active workspace and
 * the caller's role there, which the packager verifies (include/pkg/pkg.h).
 */
#include <stdlib.h>

#include "auth/auth.h"
#include "base/base.h"
#include "dep/dep.h"
#include "gateway/gw-int.h"
#include "gql/gql.h"
#include "pkg/pkg.h"

#define SLUG_RULE "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"

/* A project as the API shows it. */
struct project_v {
    const char *id, *name;
    int64_t created_ms;
};

/* <v> into a claim when it fits whole (a cut could split a UTF-8 sequence); else empty. */
static void claim_set(char claim[AUTH_CLAIM_MAX], const char *v)
{
    if (v != NULL && strlen(v) < AUTH_CLAIM_MAX)
        memcpy(claim, v, strlen(v) + 1);
}

int gw_internal_token(struct gw_caller *c, struct arena *a, const char *ws, enum gw_role role,
                      struct slice *out, struct err *err)
{
    struct auth_claims cl = {0};
    struct sbuf tok = SBUF_INIT(4096);
    char *t;
    int rc;

    snprintf(cl.iss, sizeof(cl.iss), "%s", c->g->issuer);
    snprintf(cl.sub, sizeof(cl.sub), "%s", c->user.id);
    snprintf(cl.ws, sizeof(cl.ws), "%s", ws);
    snprintf(cl.role, sizeof(cl.role), "%s", gw_role_name(role));
    claim_set(cl.name, c->user.name);
    claim_set(cl.email, c->user.email);
    rc = auth_internal_sign(c->g->ring, &cl, (int64_t)time_wall_ms() / 1000, &tok, err);
    t = rc == 0 ? arena_strndup(a, tok.buf, tok.len) : NULL;
    if (rc == 0 && t == NULL)
        rc = err_set(err, ERR_LIMIT, "out of request memory");
    *out = (struct slice){t, t ? tok.len : 0};
    sbuf_release(&tok);
    return rc;
}

int gw_pkg_call(struct gw_caller *c, struct arena *a, const char *ws, enum gw_role role,
                const char *project_id, struct pkg_call *out, struct err *err)
{
    *out = (struct pkg_call){.workspace_slug = ws, .project_id = project_id};
    if (c->g->pkg == NULL)
        return err_set(err, ERR_UNAVAILABLE, "the packager does not run in this process");
    return gw_internal_token(c, a, ws, role, &out->token, err);
}

/* The call for project <id> of the caller's active workspace. */
static int call_for(struct gql_rctx *rc, struct gw_caller *c, const char *id, struct pkg_call *out,
                    struct err *err)
{
    return gw_pkg_call(c, gql_rctx_arena(rc), c->workspace, c->role, id, out, err);
}

int gw_api_slug_arg(struct gql_rctx *rc, const struct gql_val *in, const char *name,
                    const char *label, bool optional, const char **out, struct err *err)
{
    struct slice s;
    int rc_ = gw_api_text(rc, in, name, label, SLUG_MAX, optional, &s, err);

    *out = NULL;
    if (rc_ < 0 || s.ptr == NULL)
        return rc_;
    if (!slug_valid(s))
        return err_set(err, ERR_INVALID, "%s must match " SLUG_RULE, label);
    if ((*out = arena_strndup(gql_rctx_arena(rc), s.ptr, s.len)) == NULL)
        return err_set(err, ERR_LIMIT, "%s: out of request memory", label);
    return 0;
}

/* Changes to a suspended workspace wait until it is resumed; reading and eject do not. */
int gw_api_require_active(const struct gw_caller *c, struct err *err)
{
    for (size_t i = 0; i < c->nworkspaces; i++)
        if (strcmp(c->workspaces[i].id, c->workspace) == 0 && c->workspaces[i].suspended)
            return err_set(err, ERR_FORBIDDEN, "workspace %s is suspended", c->workspace);
    return 0;
}

/* ---------------------------------------------------------------- projects */

struct projects {
    struct arena *a;
    struct project_v *v;
    size_t n, cap;
    bool oom;
};

static bool project_add(void *arg, const struct pkg_project_info *pi)
{
    struct projects *ps = arg;
    struct project_v *v;

    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? 2 * ps->cap : 16;

        if ((v = arena_alloc(ps->a, cap * sizeof(*v))) == NULL)
            return !(ps->oom = true);
        if (ps->n > 0)
            memcpy(v, ps->v, ps->n * sizeof(*v));
        ps->v = v;
        ps->cap = cap;
    }
    v = &ps->v[ps->n];
    v->id = arena_strndup(ps->a, pi->id, strlen(pi->id));
    v->name = arena_strndup(ps->a, pi->name, strlen(pi->name));
    v->created_ms = pi->created * 1000;
    if (v->id == NULL || v->name == NULL)
        return !(ps->oom = true);
    ps->n++;
    return true;
}

static int api_projects(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                        struct err *err)
{
    struct gw_caller *c = gw_api_caller(rc);
    struct projects ps = {.a = gql_rctx_arena(rc)};
    struct pkg_call call;
    int rc_;

    (void)parent;
    if ((rc_ = call_for(rc, c, NULL, &call, err)) < 0 ||
        (rc_ = pkg_project_list(c->g->pkg, &call, project_add, &ps, err)) < 0)
        return rc_;
    if (ps.oom)
        return err_set(err, ERR_LIMIT, "projects: out of request memory");
    return gw_api_ptr_list(rc, ps.v, ps.n, sizeof(*ps.v), "Project", out, err);
}

/* Project <id> of the active workspace into <out>; ERR_NOTFOUND when it is not there. */
static int project_find(struct gql_rctx *rc, struct gw_caller *c, const char *id,
                        struct project_v *out, struct err *err)
{
    struct projects ps = {.a = gql_rctx_arena(rc)};
    struct pkg_call call;
    int rc_;

    if ((rc_ = call_for(rc, c, id, &call, err)) < 0 ||
        (rc_ = pkg_project_get(c->g->pkg, &call, project_add, &ps, err)) < 0)
        return rc_;
    if (ps.oom || ps.n != 1)
        return err_set(err, ERR_LIMIT, "project: out of request memory");
    *out = ps.v[0];
    return 0;
}

/* Project <id> into <out> (GQL_NULL when absent and <or_null>). */
static int project_value(struct gql_rctx *rc, struct gw_caller *c, const char *id, bool or_null,
                         struct gql_val *out, struct err *err)
{
    struct project_v v;
    int rc_ = project_find(rc, c, id, &v, err);

    if (rc_ == ERR_NOTFOUND && or_null) {
        *out = GQL_NULL;
        return 0;
    }
    return rc_ < 0 ? rc_ : gw_api_ptr(rc, &v, sizeof(v), "Project", out, err);
}

static int api_project(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                       struct err *err)
{
    struct gw_caller *c = gw_api_caller(rc);
    const char *id;
    int rc_;

    (void)parent;
    if ((rc_ = gw_api_slug_arg(rc, NULL, "id", "id", false, &id, err)) < 0) {
        if (rc_ != ERR_INVALID)
            return rc_;
        *out = GQL_NULL; /* no project can have that id */
        return 0;
    }
    return project_value(rc, c, id, true, out, err);
}

static int create_project(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m,
                          struct gql_val *out, struct err *err)
{
    const struct gql_val *in = gql_arg(rc, "input");
    struct pkg_call call;
    const char *name, *id;
    int rc_;

    if ((rc_ = gw_api_slug_arg(rc, in, "name", "input.name", false, &name, err)) < 0 ||
        (rc_ = gw_api_slug_arg(rc, in, "id", "input.id", true, &id, err)) < 0 ||
        (rc_ = gw_api_require_active(c, err)) < 0)
        return rc_;
    if (id == NULL)
        id = name;
    m->target = slice_from_cstr(id);
    if ((rc_ = call_for(rc, c, id, &call, err)) < 0)
        return rc_;
    call.project_slug = name;
    call.display_name = name;
    rc_ = pkg_project_init(c->g->pkg, &call, NULL, err);
    if (rc_ == ERR_CONFLICT)
        return err_set(err, ERR_CONFLICT, "input.id: project %s exists in workspace %s", id,
                       c->workspace);
    if (rc_ < 0 || (rc_ = pkg_env_create(c->g->pkg, &call, "development", NULL, NULL, err)) < 0)
        return rc_;
    m->detail = arena_printf(gql_rctx_arena(rc), "{\"name\":\"%s\"}", name);
    return project_value(rc, c, id, false, out, err);
}

static int delete_project(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m,
                          struct gql_val *out, struct err *err)
{
    struct pkg_call call;
    const char *id;
    int rc_;

    if ((rc_ = gw_api_slug_arg(rc, NULL, "id", "id", false, &id, err)) < 0 ||
        (rc_ = gw_api_require_active(c, err)) < 0)
        return rc_;
    m->target = slice_from_cstr(id);
    if ((rc_ = call_for(rc, c, id, &call, err)) < 0)
        return rc_;
    rc_ = pkg_project_delete(c->g->pkg, &call, err);
    if (rc_ == ERR_NOTFOUND)
        return err_set(err, ERR_NOTFOUND, "id: no project %s in workspace %s", id, c->workspace);
    if (rc_ < 0)
        return rc_;
    /* What ran is stopped once the desired state is gone, so nothing restarts it. */
    if (c->g->dep != NULL && (rc_ = dep_remove_project(c->g->dep, c->workspace, id, NULL, err)) < 0)
        return rc_;
    *out = GQL_BOOL(true);
    return 0;
}

/* ---------------------------------------------------------------- mirrors */

struct mirror_v {
    const char *url, *error, *commit;
    bool pending;
    int64_t attempts, next_ms, pushed_ms;
};

static const char *str_or_null(struct arena *a, const char *s)
{
    return s[0] != '\0' ? arena_strndup(a, s, strlen(s)) : NULL;
}

static int project_mirror(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                          struct err *err)
{
    const struct project_v *p = parent->ptr.p;
    struct gw_caller *c = gw_api_caller(rc);
    struct arena *a = gql_rctx_arena(rc);
    struct pkg_mirror_state st;
    struct pkg_call call;
    struct mirror_v v;
    int rc_;

    if ((rc_ = call_for(rc, c, p->id, &call, err)) < 0 ||
        (rc_ = pkg_mirror_status(c->g->pkg, &call, &st, err)) < 0)
        return rc_;
    if (!st.configured) {
        *out = GQL_NULL;
        return 0;
    }
    v = (struct mirror_v){.url = arena_strndup(a, st.url, strlen(st.url)),
                          .error = str_or_null(a, st.error),
                          .commit = str_or_null(a, st.commit),
                          .pending = st.pending,
                          .attempts = st.attempts,
                          .next_ms = st.error[0] ? st.next_at_ms : 0,
                          .pushed_ms = st.last_push_ms};
    if (v.url == NULL)
        return err_set(err, ERR_LIMIT, "mirror: out of request memory");
    return gw_api_ptr(rc, &v, sizeof(v), "Mirror", out, err);
}

static int set_project_mirror(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m,
                              struct gql_val *out, struct err *err)
{
    const char *project;
    struct pkg_call call;
    struct slice url;
    char *u = NULL;
    int rc_;

    if ((rc_ = gw_api_slug_arg(rc, NULL, "projectId", "projectId", false, &project, err)) < 0 ||
        (rc_ = gw_api_text(rc, NULL, "url", "url", 2048, true, &url, err)) < 0 ||
        (rc_ = gw_api_require_active(c, err)) < 0)
        return rc_;
    m->target = slice_from_cstr(project);
    if (url.ptr != NULL && (u = arena_strndup(gql_rctx_arena(rc), url.ptr, url.len)) == NULL)
        return err_set(err, ERR_LIMIT, "url: out of request memory");
    if ((rc_ = call_for(rc, c, project, &call, err)) < 0 ||
        (rc_ = pkg_mirror_configure(c->g->pkg, &call, u, err)) < 0)
        return rc_;
    return project_value(rc, c, project, false, out, err);
}

/* ---------------------------------------------------------------- environments */

/* Environment <env> of the project <p>: its namespace is made of names, as the rendered
 * manifests' (the project's name, not its id). */
static int env_value(struct arena *a, struct gw_caller *c, const struct project_v *p,
                     const char *env, struct gw_env_v *out)
{
    out->id = arena_printf(a, "%s/%s", p->id, env);
    out->name = arena_strndup(a, env, strlen(env));
    out->ns = arena_printf(a, "%s-%s-%s", c->workspace, p->name, env);
    return out->id && out->name && out->ns ? 0 : ERR_LIMIT;
}

struct envs {
    struct arena *a;
    struct gw_caller *c;
    const struct project_v *project;
    struct gw_env_v *v;
    size_t n, cap;
    bool oom;
};

static bool env_add(void *arg, const char *name)
{
    struct envs *es = arg;

    if (es->n == es->cap) {
        size_t cap = es->cap ? 2 * es->cap : 8;
        struct gw_env_v *v = arena_alloc(es->a, cap * sizeof(*v));

        if (v == NULL)
            return !(es->oom = true);
        if (es->n > 0)
            memcpy(v, es->v, es->n * sizeof(*v));
        es->v = v;
        es->cap = cap;
    }
    if (env_value(es->a, es->c, es->project, name, &es->v[es->n]) < 0)
        return !(es->oom = true);
    es->n++;
    return true;
}

static int project_environments(struct gql_rctx *rc, const struct gql_val *parent,
                                struct gql_val *out, struct err *err)
{
    const struct project_v *p = parent->ptr.p;
    struct gw_caller *c = gw_api_caller(rc);
    struct envs es = {.a = gql_rctx_arena(rc), .c = c, .project = p};
    struct pkg_call call;
    int rc_;

    if ((rc_ = call_for(rc, c, p->id, &call, err)) < 0 ||
        (rc_ = pkg_env_list(c->g->pkg, &call, env_add, &es, err)) < 0)
        return rc_;
    if (es.oom)
        return err_set(err, ERR_LIMIT, "environments: out of request memory");
    return gw_api_ptr_list(rc, es.v, es.n, sizeof(*es.v), "Environment", out, err);
}

static int create_environment(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m,
                              struct gql_val *out, struct err *err)
{
    const struct gql_val *in = gql_arg(rc, "input");
    const char *project, *name, *from;
    struct pkg_call call;
    struct project_v p;
    struct gw_env_v v;
    int rc_;

    if ((rc_ = gw_api_slug_arg(rc, in, "projectId", "input.projectId", false, &project, err)) < 0 ||
        (rc_ = gw_api_slug_arg(rc, in, "name", "input.name", false, &name, err)) < 0 ||
        (rc_ = gw_api_slug_arg(rc, in, "fromEnvironment", "input.fromEnvironment", true, &from,
                               err)) < 0 ||
        (rc_ = gw_api_require_active(c, err)) < 0)
        return rc_;
    m->target = slice_from_cstr(project);
    if ((rc_ = project_find(rc, c, project, &p, err)) < 0 ||
        (rc_ = call_for(rc, c, project, &call, err)) < 0 ||
        (rc_ = pkg_env_create(c->g->pkg, &call, name, from, NULL, err)) < 0)
        return rc_;
    m->detail = arena_printf(gql_rctx_arena(rc), "{\"environment\":\"%s\"}", name);
    if (env_value(gql_rctx_arena(rc), c, &p, name, &v) < 0)
        return err_set(err, ERR_LIMIT, "createEnvironment: out of request memory");
    return gw_api_ptr(rc, &v, sizeof(v), "Environment", out, err);
}

static int delete_environment(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m,
                              struct gql_val *out, struct err *err)
{
    const char *project, *env;
    struct pkg_call call;
    int rc_;

    if ((rc_ = gw_api_slug_arg(rc, NULL, "projectId", "projectId", false, &project, err)) < 0 ||
        (rc_ = gw_api_slug_arg(rc, NULL, "environment", "environment", false, &env, err)) < 0 ||
        (rc_ = gw_api_require_active(c, err)) < 0)
        return rc_;
    m->target = slice_from_cstr(project);
    m->detail = arena_printf(gql_rctx_arena(rc), "{\"environment\":\"%s\"}", env);
    if ((rc_ = call_for(rc, c, project, &call, err)) < 0 ||
        (rc_ = pkg_env_delete(c->g->pkg, &call, env, NULL, err)) < 0)
        return rc_;
    if (c->g->dep != NULL &&
        (rc_ = dep_remove_project(c->g->dep, c->workspace, project, env, err)) < 0)
        return rc_;
    *out = GQL_BOOL(true);
    return 0;
}

#define PROJ_F(f, k, m)                                                                            \
    {                                                                                              \
        "Project", (f), (k), offsetof(struct project_v, m), NULL, NULL, 0, NULL                    \
    }
#define ENV_F(f, m)                                                                                \
    {                                                                                              \
        "Environment", (f), GW_F_STR, offsetof(struct gw_env_v, m), NULL, NULL, 0, NULL            \
    }

#define MIRROR_F(f, k, m)                                                                          \
    {                                                                                              \
        "Mirror", (f), (k), offsetof(struct mirror_v, m), NULL, NULL, 0, NULL                      \
    }

const struct gw_field_bind gw_api_projects_binds[] = {
    {"Query", "projects", GW_F_FN, 0, api_projects, NULL, GQL_BLOCKING, NULL},
    {"Query", "project", GW_F_FN, 0, api_project, NULL, GQL_BLOCKING, NULL},
    PROJ_F("id", GW_F_STR, id),
    PROJ_F("name", GW_F_STR, name),
    PROJ_F("createdAt", GW_F_TIME, created_ms),
    {"Project", "environments", GW_F_FN, 0, project_environments, NULL, GQL_BLOCKING, NULL},
    {"Project", "mirror", GW_F_FN, 0, project_mirror, NULL, GQL_BLOCKING, NULL},
    MIRROR_F("url", GW_F_STR, url),
    MIRROR_F("pending", GW_F_BOOL, pending),
    MIRROR_F("attempts", GW_F_INT, attempts),
    MIRROR_F("lastError", GW_F_STR, error),
    MIRROR_F("nextAttemptAt", GW_F_TIME, next_ms),
    MIRROR_F("lastPushedAt", GW_F_TIME, pushed_ms),
    MIRROR_F("pushedCommit", GW_F_STR, commit),
    ENV_F("id", id),
    ENV_F("name", name),
    ENV_F("namespace", ns),
    GW_MUTATION("createProject", "project.create", false, create_project),
    GW_MUTATION("deleteProject", "project.delete", false, delete_project),
    GW_MUTATION("createEnvironment", "environment.create", false, create_environment),
    GW_MUTATION("deleteEnvironment", "environment.delete", false, delete_environment),
    GW_MUTATION("setProjectMirror", "project.mirror", false, set_project_mirror),
};
const size_t gw_api_projects_nbinds = ARRAY_LEN(gw_api_projects_binds);
