/*
 * gateway API: who is calling and their workspaces. Query.me, User, WorkspaceMembership,
 * Query.workspace, Query.workspaces, Workspace, and the workspace mutations (create, update,
 * delete). Every workspace value carries the caller's role in it (struct gw_workspace.role),
 * which fields restricted to ADMINs (Workspace.invitations) check. The caller's own workspaces
 * (me.workspaces, workspace, workspaces) come from what the membership check read, so they
 * do not block; their members and invitations are read from the store.
 */
#include <stdlib.h>

#include "base/base.h"
#include "gateway/gw-int.h"
#include "gql/gql.h"

static struct store *store_of(struct gql_rctx *rc)
{
    return gw_api_caller(rc)->g->store;
}

static const struct gw_user *user_of(const struct gql_val *parent)
{
    return parent->kind == GQL_V_PTR ? parent->ptr.p : NULL;
}

/* ---------------------------------------------------------------- reads */

static int me(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
              struct err *err)
{
    struct gw_caller *c = gw_api_caller(rc);

    (void)parent;
    if (c == NULL || !c->authenticated)
        return err_set(err, ERR_UNAUTHENTICATED, "authentication required");
    *out = GQL_PTR(&c->user, "User");
    return 0;
}

/* The caller's workspaces (read with the membership check, gw_caller_load) as values of
 * <type>: Workspace or WorkspaceMembership. */
static int caller_workspaces(struct gql_rctx *rc, const char *type, struct gql_val *out,
                             struct err *err)
{
    const struct gw_caller *c = gw_api_caller(rc);

    if (c == NULL || !c->authenticated)
        return err_set(err, ERR_UNAUTHENTICATED, "authentication required");
    return gw_api_ptr_list(rc, c->workspaces, c->nworkspaces, sizeof(*c->workspaces), type, out,
                           err);
}

static int user_workspaces(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                           struct err *err)
{
    const struct gw_user *u = user_of(parent);
    const struct gw_caller *c = gw_api_caller(rc);

    /* A User is only ever the caller (Query.me) */
    if (u == NULL || c == NULL || c->user.id == NULL || u->id == NULL ||
        strcmp(u->id, c->user.id) != 0)
        return err_set(err, ERR_INTERNAL, "User.workspaces: not the caller");
    return caller_workspaces(rc, "WorkspaceMembership", out, err);
}

static int workspaces(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                      struct err *err)
{
    (void)parent;
    return caller_workspaces(rc, "Workspace", out, err);
}

/* Workspace <id> with the caller's <role> in it, as stored now (mutations). */
static int workspace_value(struct gql_rctx *rc, struct slice id, enum gw_role role,
                           struct gql_val *out, struct err *err)
{
    struct gw_workspace w;
    int rc_ = gw_db_workspace_get(store_of(rc), gql_rctx_arena(rc), id, &w, err);

    if (rc_ < 0)
        return rc_;
    w.role = role;
    return gw_api_ptr(rc, &w, sizeof(w), "Workspace", out, err);
}

/* The active workspace, as the caller's membership check read it. */
static int workspace(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                     struct err *err)
{
    const struct gw_caller *c = gw_api_caller(rc);

    (void)parent;
    if (c == NULL || !c->authenticated)
        return err_set(err, ERR_UNAUTHENTICATED, "authentication required");
    for (size_t i = 0; i < c->nworkspaces; i++)
        if (c->workspace != NULL && strcmp(c->workspaces[i].id, c->workspace) == 0)
            return gw_api_ptr(rc, &c->workspaces[i], sizeof(c->workspaces[i]), "Workspace", out,
                              err);
    return err_set(err, ERR_INTERNAL, "Query.workspace: the active workspace is not listed");
}

static int workspace_members(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                             struct err *err)
{
    const struct gw_workspace *w = parent->kind == GQL_V_PTR ? parent->ptr.p : NULL;
    struct gw_member *m;
    size_t n;
    int rc_;

    if (w == NULL)
        return err_set(err, ERR_INTERNAL, "Workspace.members: no workspace");
    rc_ = gw_db_member_list(store_of(rc), gql_rctx_arena(rc), slice_from_cstr(w->id), &m, &n, err);
    return rc_ < 0 ? rc_ : gw_api_ptr_list(rc, m, n, sizeof(*m), "WorkspaceMember", out, err);
}

/* ---------------------------------------------------------------- mutations */

static int create_workspace(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m,
                            struct gql_val *out, struct err *err)
{
    const struct gql_val *in = gql_arg(rc, "input");
    struct slice id, name;
    int rc_;

    if ((rc_ = gw_api_text(rc, in, "id", "input.id", GW_SLUG_MAX, false, &id, err)) < 0)
        return rc_;
    if (!slug_valid(id))
        return err_set(err, ERR_INVALID,
                       "input.id must match ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ (lower-case "
                       "letters, digits and inner dashes, at most 63)");
    m->target = id;
    if ((rc_ = gw_api_text(rc, in, "name", "input.name", GW_NAME_MAX, false, &name, err)) < 0 ||
        (rc_ = gw_db_workspace_create(c->g->store, id, name, slice_from_cstr(c->user.id), err)) < 0)
        return rc_;
    m->workspace = id; /* the new workspace's log starts with its making */
    return workspace_value(rc, id, GW_ROLE_ADMIN, out, err);
}

static int update_workspace(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m,
                            struct gql_val *out, struct err *err)
{
    struct slice ws = slice_from_cstr(c->workspace), name;
    int rc_;

    m->target = ws;
    if ((rc_ = gw_api_text(rc, gql_arg(rc, "input"), "name", "input.name", GW_NAME_MAX, false,
                           &name, err)) < 0 ||
        (rc_ = gw_db_workspace_rename(c->g->store, ws, name, err)) < 0)
        return rc_;
    return workspace_value(rc, ws, c->role, out, err);
}

static int delete_workspace(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m,
                            struct gql_val *out, struct err *err)
{
    struct slice ws = slice_from_cstr(c->workspace);
    int rc_;

    (void)rc;
    m->target = ws;
    if ((rc_ = gw_db_workspace_delete(c->g->store, ws, err)) < 0)
        return rc_;
    /* Everyone's streams on it end now, not on their next request. */
    gw_events_publish(
        c->g->events,
        &(struct gw_event){.kind = GW_EV_ACCESS, .workspace = c->workspace, .removed = true});
    *out = GQL_BOOL(true);
    return 0;
}

/* ---------------------------------------------------------------- bindings */

#define USER_F(f, k, m)                                                                            \
    {                                                                                              \
        "User", (f), (k), offsetof(struct gw_user, m), NULL, NULL, 0, NULL                         \
    }
#define WS_F(t, f, k, m)                                                                           \
    {                                                                                              \
        (t), (f), (k), offsetof(struct gw_workspace, m), NULL, NULL, 0, NULL                       \
    }
#define MEMBER_F(f, k, m)                                                                          \
    {                                                                                              \
        "WorkspaceMember", (f), (k), offsetof(struct gw_member, m), NULL, NULL, 0, NULL            \
    }
#define FN(t, f, fn, fl)                                                                           \
    {                                                                                              \
        (t), (f), GW_F_FN, 0, (fn), NULL, (fl), NULL                                               \
    }

const struct gw_field_bind gw_api_identity_binds[] = {
    FN("Query", "me", me, 0),
    FN("Query", "workspace", workspace, 0),
    FN("Query", "workspaces", workspaces, 0),
    USER_F("id", GW_F_STR, id),
    USER_F("name", GW_F_STR, name),
    USER_F("email", GW_F_STR, email),
    USER_F("avatarUrl", GW_F_STR, avatar_url),
    FN("User", "workspaces", user_workspaces, 0),
    WS_F("WorkspaceMembership", "workspace", GW_F_STR, id),
    WS_F("WorkspaceMembership", "role", GW_F_ROLE, role),
    WS_F("Workspace", "id", GW_F_STR, id),
    WS_F("Workspace", "name", GW_F_STR, name),
    WS_F("Workspace", "personal", GW_F_BOOL, personal),
    WS_F("Workspace", "suspended", GW_F_BOOL, suspended),
    WS_F("Workspace", "createdAt", GW_F_TIME, created_at),
    FN("Workspace", "members", workspace_members, GQL_BLOCKING),
    MEMBER_F("id", GW_F_STR, user_id),
    MEMBER_F("email", GW_F_STR, email),
    MEMBER_F("name", GW_F_STR, name),
    MEMBER_F("role", GW_F_ROLE, role),
    MEMBER_F("joinedAt", GW_F_TIME, created_at),
    GW_MUTATION("createWorkspace", "workspace.create", false, create_workspace),
    GW_MUTATION("updateWorkspace", "workspace.update", true, update_workspace),
    GW_MUTATION("deleteWorkspace", "workspace.delete", true, delete_workspace),
};
const size_t gw_api_identity_nbinds = ARRAY_LEN(gw_api_identity_binds);
