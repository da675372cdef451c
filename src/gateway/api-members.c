/*
 * gateway API: the members of the active workspace. Invitations (made by an ADMIN, accepted
 * by whoever logs in with the invited email, with a token shown once), removal and roles.
 * Losing a workspace or its ADMIN role is also told to the loops running subscriptions
 * (GW_EV_ACCESS), so that the streams of the person concerned end at once.
 */
#include <stdio.h>
#include <stdlib.h>

#include "auth/auth.h"
#include "base/base.h"
#include "gateway/gw-int.h"
#include "gql/gql.h"

#define INVITATION_TTL_MS (7LL * 86400 * 1000)

/* An invitation as the API shows it: the row, and the token when it was just made. */
struct invitation {
    struct gw_invitation row;
    const char *token;
};

static int64_t now_ms(void)
{
    return (int64_t)time_wall_ms();
}

/* ---------------------------------------------------------------- reads */

static int workspace_invitations(struct gql_rctx *rc, const struct gql_val *parent,
                                 struct gql_val *out, struct err *err)
{
    const struct gw_workspace *w = parent->kind == GQL_V_PTR ? parent->ptr.p : NULL;
    struct gw_caller *c = gw_api_caller(rc);
    struct gw_invitation *rows;
    struct invitation *v;
    size_t n;
    int rc_;

    if (w == NULL)
        return err_set(err, ERR_INTERNAL, "Workspace.invitations: no workspace");
    if (w->role != GW_ROLE_ADMIN)
        return err_set(err, ERR_FORBIDDEN, "invitations needs the ADMIN role in workspace %s",
                       w->id);
    rc_ = gw_db_invitation_list(c->g->store, gql_rctx_arena(rc), slice_from_cstr(w->id), &rows, &n,
                                err);
    if (rc_ < 0)
        return rc_;
    if (n > 0 && (v = arena_zalloc(gql_rctx_arena(rc), n * sizeof(*v))) == NULL)
        return err_set(err, ERR_LIMIT, "Workspace.invitations: out of request memory");
    for (size_t i = 0; i < n; i++)
        v[i].row = rows[i];
    return gw_api_ptr_list(rc, n > 0 ? v : NULL, n, sizeof(*v), "Invitation", out, err);
}

/* ---------------------------------------------------------------- mutations */

/* The invitation <id> of <ws> as stored, into *out. */
static int invitation_find(struct gw_caller *c, struct arena *a, const char *ws, const char *id,
                           struct gw_invitation *out, struct err *err)
{
    struct gw_invitation *rows;
    size_t n;
    int rc = gw_db_invitation_list(c->g->store, a, slice_from_cstr(ws), &rows, &n, err);

    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (strcmp(rows[i].id, id) == 0) {
            *out = rows[i];
            return 0;
        }
    }
    return rc < 0 ? rc : err_set(err, ERR_INTERNAL, "invitation vanished after it was made");
}

static int invite_member(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m,
                         struct gql_val *out, struct err *err)
{
    const struct gql_val *in = gql_arg(rc, "input");
    struct arena *a = gql_rctx_arena(rc);
    char token[AUTH_TOKEN_BUF], hash[AUTH_HASH_HEX + 1];
    struct invitation v = {0};
    struct slice email;
    enum gw_role role;
    const char *id;
    int rc_;

    if ((rc_ = gw_api_text(rc, in, "email", "input.email", GW_EMAIL_MAX, false, &email, err)) < 0 ||
        (rc_ = gw_email_check("input.email", email, err)) < 0 ||
        (rc_ = gw_api_role(in, "role", &role, err)) < 0)
        return rc_;
    m->target = email;
    if ((rc_ = auth_refresh_token_new(token, err)) < 0)
        return rc_;
    auth_token_hash(slice_from_cstr(token), hash);
    rc_ = gw_db_invitation_create(
        c->g->store, a,
        &(struct gw_invitation_new){.workspace_id = slice_from_cstr(c->workspace),
                                    .email = email,
                                    .token_hash = slice_from_cstr(hash),
                                    .invited_by = slice_from_cstr(c->user.id),
                                    .role = role,
                                    .expires_at = now_ms() + INVITATION_TTL_MS},
        &id, err);
    if (rc_ == 0)
        rc_ = invitation_find(c, a, c->workspace, id, &v.row, err);
    if (rc_ == 0 && (v.token = arena_strndup(a, token, strlen(token))) == NULL)
        rc_ = err_set(err, ERR_LIMIT, "inviteMember: out of request memory");
    explicit_bzero(token, sizeof(token));
    if (rc_ < 0)
        return rc_;
    m->detail = arena_printf(a, "{\"role\":\"%s\",\"invitation\":\"%s\"}", gw_role_name(role), id);
    return gw_api_ptr(rc, &v, sizeof(v), "Invitation", out, err);
}

static int accept_invitation(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m,
                             struct gql_val *out, struct err *err)
{
    struct arena *a = gql_rctx_arena(rc);
    char hash[AUTH_HASH_HEX + 1];
    struct gw_workspace w = {0};
    struct slice token;
    const char *ws = NULL;
    int rc_;

    m->target = slice_from_cstr(c->user.id);
    if ((rc_ = gw_api_text(rc, NULL, "token", "token", GW_HASH_MAX, false, &token, err)) < 0)
        return rc_;
    auth_token_hash(token, hash);
    rc_ = gw_db_invitation_accept(c->g->store, a, slice_from_cstr(hash),
                                  slice_from_cstr(c->user.id), now_ms(), &ws, err);
    if (rc_ == ERR_NOTFOUND)
        return err_set(err, ERR_NOTFOUND, "token: no such invitation");
    if (rc_ < 0)
        return rc_;
    m->workspace = slice_from_cstr(ws); /* the workspace joined has it in its log */
    w.id = ws;
    rc_ = gw_db_member_role(c->g->store, slice_from_cstr(ws), slice_from_cstr(c->user.id), &w.role,
                            err);
    return rc_ < 0 ? rc_ : gw_api_ptr(rc, &w, sizeof(w), "WorkspaceMembership", out, err);
}

/* Tells the loops running subscriptions that <user> lost <ws> or now holds <role> there. */
static void access_changed(struct gw_caller *c, struct slice user, bool removed, enum gw_role role)
{
    char u[GW_ID_MAX + 1];

    snprintf(u, sizeof(u), SLICE_FMT, SLICE_ARG(user));
    gw_events_publish(c->g->events, &(struct gw_event){.kind = GW_EV_ACCESS,
                                                       .workspace = c->workspace,
                                                       .user = u,
                                                       .removed = removed,
                                                       .role = role});
}

static int remove_member(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m,
                         struct gql_val *out, struct err *err)
{
    struct slice user;
    int rc_;

    if ((rc_ = gw_api_text(rc, NULL, "userId", "userId", GW_ID_MAX, false, &user, err)) < 0)
        return rc_;
    m->target = user;
    rc_ = gw_db_member_remove(c->g->store, slice_from_cstr(c->workspace), user, err);
    if (rc_ == ERR_NOTFOUND)
        return err_set(err, ERR_NOTFOUND, "userId: not a member of workspace %s", c->workspace);
    if (rc_ < 0)
        return rc_;
    access_changed(c, user, true, GW_ROLE_USER);
    *out = GQL_BOOL(true);
    return 0;
}

static int update_member_role(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m,
                              struct gql_val *out, struct err *err)
{
    const struct gql_val *in = gql_arg(rc, "input");
    struct gw_member *all;
    struct slice user;
    enum gw_role role;
    size_t n;
    int rc_;

    if ((rc_ = gw_api_text(rc, in, "userId", "input.userId", GW_ID_MAX, false, &user, err)) < 0 ||
        (rc_ = gw_api_role(in, "role", &role, err)) < 0)
        return rc_;
    m->target = user;
    rc_ = gw_db_member_set_role(c->g->store, slice_from_cstr(c->workspace), user, role, err);
    if (rc_ == ERR_NOTFOUND)
        return err_set(err, ERR_NOTFOUND, "input.userId: not a member of workspace %s",
                       c->workspace);
    if (rc_ < 0)
        return rc_;
    access_changed(c, user, false, role);
    m->detail = role == GW_ROLE_ADMIN ? "{\"role\":\"ADMIN\"}" : "{\"role\":\"USER\"}";
    rc_ = gw_db_member_list(c->g->store, gql_rctx_arena(rc), slice_from_cstr(c->workspace), &all,
                            &n, err);
    for (size_t i = 0; rc_ == 0 && i < n; i++)
        if (slice_eq_cstr(user, all[i].user_id))
            return gw_api_ptr(rc, &all[i], sizeof(all[i]), "WorkspaceMember", out, err);
    return rc_ < 0 ? rc_ : err_set(err, ERR_NOTFOUND, "input.userId: the member left meanwhile");
}

/* ---------------------------------------------------------------- bindings */

#define INV_F(f, k, m)                                                                             \
    {                                                                                              \
        "Invitation", (f), (k), offsetof(struct invitation, m), NULL, NULL, 0, NULL                \
    }

const struct gw_field_bind gw_api_members_binds[] = {
    {"Workspace", "invitations", GW_F_FN, 0, workspace_invitations, NULL, GQL_BLOCKING, NULL},
    INV_F("id", GW_F_STR, row.id),
    INV_F("email", GW_F_STR, row.email),
    INV_F("role", GW_F_ROLE, row.role),
    INV_F("createdAt", GW_F_TIME, row.created_at),
    INV_F("expiresAt", GW_F_TIME, row.expires_at),
    INV_F("acceptedAt", GW_F_TIME, row.accepted_at),
    INV_F("token", GW_F_STR, token),
    GW_MUTATION("inviteMember", "member.invite", true, invite_member),
    GW_MUTATION("acceptInvitation", "member.join", false, accept_invitation),
    GW_MUTATION("removeMember", "member.remove", true, remove_member),
    GW_MUTATION("updateMemberRole", "member.role", true, update_member_role),
};
const size_t gw_api_members_nbinds = ARRAY_LEN(gw_api_members_binds);
