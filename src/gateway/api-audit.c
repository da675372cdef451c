/*
 * gateway API: the active workspace's audit log, read (Query.auditLog) and followed live
 * (Subscription.workspaceActivity), both for its ADMINs only.
 *
 * A workspaceActivity stream is a subscriber of the gateway's events (events.c) on the loop
 * that started it. Entries arrive as they are written; a change of access arrives the same
 * way, and when it takes the subscriber's membership or ADMIN role away, the stream ends with
 * FORBIDDEN through the transport's stream_end (struct gw_caller).
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "gateway/gw-int.h"
#include "gql/gql.h"

#define AUDIT_LIMIT_MAX 1000

static int audit_log(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                     struct err *err)
{
    struct gw_caller *c = gw_api_caller(rc);
    const struct gql_val *limit = gql_arg(rc, "limit");
    struct gw_audit *rows;
    size_t n;
    int rc_;

    (void)parent;
    if ((rc_ = gw_api_require_admin(c, "auditLog", err)) < 0)
        return rc_;
    if (limit == NULL || limit->kind != GQL_V_INT || limit->i < 1 || limit->i > AUDIT_LIMIT_MAX)
        return err_set(err, ERR_INVALID, "limit must be 1..%d", AUDIT_LIMIT_MAX);
    rc_ = gw_db_audit_list(c->g->store, gql_rctx_arena(rc), slice_from_cstr(c->workspace),
                           (size_t)limit->i, &rows, &n, err);
    return rc_ < 0 ? rc_ : gw_api_ptr_list(rc, rows, n, sizeof(*rows), "AuditEntry", out, err);
}

/* ---------------------------------------------------------------- workspaceActivity */

struct activity {
    struct gw *g;
    struct gw_sub *sub;
    gql_emit_fn *emit;
    void *sink;
    void (*end)(void *owner, const struct err *err);
    void *owner;
    char user[GW_ID_MAX + 1];
};

/* Whether <e> takes the subscriber's right to the stream away; *err says how. */
static bool access_lost(const struct activity *a, const struct gw_event *e, struct err *err)
{
    if (e->user == NULL) {
        err_set(err, ERR_FORBIDDEN, "workspace %s was deleted", e->workspace);
        return true;
    }
    if (strcmp(e->user, a->user) != 0)
        return false;
    if (e->removed) {
        err_set(err, ERR_FORBIDDEN, "not a member of workspace %s any more", e->workspace);
        return true;
    }
    if (e->role != GW_ROLE_ADMIN) {
        err_set(err, ERR_FORBIDDEN, "workspaceActivity needs the ADMIN role in workspace %s",
                e->workspace);
        return true;
    }
    return false;
}

static void activity_event(void *arg, const struct gw_event *e)
{
    struct activity *a = arg;
    struct gw_audit entry;
    struct err err = {0};

    if (e->kind == GW_EV_AUDIT) {
        entry = e->audit;
        a->emit(a->sink, &GQL_PTR(&entry, "AuditEntry"));
        return;
    }
    if (a->end != NULL && access_lost(a, e, &err))
        a->end(a->owner, &err); /* the transport cancels the stream: <a> is gone */
}

static void activity_cancel(void *state)
{
    struct activity *a = state;

    gw_events_unsubscribe(a->g->events, a->sub);
    free(a);
}

static int activity_subscribe(struct gql_rctx *rc, gql_emit_fn *emit, void *sink,
                              void (**cancel)(void *state), void **state, struct err *err)
{
    struct gw_caller *c = gw_api_caller(rc);
    struct activity *a;
    int rc_ = gw_api_require_admin(c, "workspaceActivity", err);

    if (rc_ < 0)
        return rc_;
    a = xcalloc(1, sizeof(*a));
    a->g = c->g;
    a->emit = emit;
    a->sink = sink;
    a->end = c->stream_end;
    a->owner = c->stream_owner;
    snprintf(a->user, sizeof(a->user), "%s", c->user.id);
    a->sub = gw_events_subscribe(c->g->events, c->workspace, activity_event, a);
    *cancel = activity_cancel;
    *state = a;
    return 0;
}

#define AUDIT_F(f, k, m)                                                                           \
    {                                                                                              \
        "AuditEntry", (f), (k), offsetof(struct gw_audit, m), NULL, NULL, 0, NULL                  \
    }

const struct gw_field_bind gw_api_audit_binds[] = {
    {"Query", "auditLog", GW_F_FN, 0, audit_log, NULL, GQL_BLOCKING, NULL},
    {"Subscription", "workspaceActivity", GW_F_FN, 0, NULL, activity_subscribe, 0, NULL},
    AUDIT_F("id", GW_F_STR, id),
    AUDIT_F("at", GW_F_TIME, at),
    AUDIT_F("actorId", GW_F_STR, actor_user_id),
    AUDIT_F("workspace", GW_F_STR, workspace_id),
    AUDIT_F("action", GW_F_STR, action),
    AUDIT_F("target", GW_F_STR, target),
    AUDIT_F("outcome", GW_F_OUTCOME, outcome),
    AUDIT_F("detail", GW_F_STR, detail),
};
const size_t gw_api_audit_nbinds = ARRAY_LEN(gw_api_audit_binds);
