/*
 * gateway, HTTP side: who is calling. A JWT's signature is checked on the loop through the
 * thread's verified-token cache; the session behind it (and any personal access token) is
 * checked on the worker pool, inside the handler's own work, so a logout or a revoked
 * session takes effect on the next request. See docs/auth.md, "Sessions".
 */
#include <pthread.h>
#include <stdlib.h>

#include "auth/auth.h"
#include "base/base.h"
#include "gateway/gw-int.h"
#include "http/http.h"

#define VCACHE_ENTRIES 1024
#define CLOCK_SKEW_S   30

struct auth_vcache *gw_vcache(struct gw *g)
{
    struct auth_vcache *c = pthread_getspecific(g->vcache_key);

    if (c == NULL) {
        c = auth_vcache_new(VCACHE_ENTRIES);
        if (pthread_setspecific(g->vcache_key, c) != 0) {
            auth_vcache_free(c);
            return NULL;
        }
    }
    return c;
}

/* The credential of <req>: the Authorization header, else the access cookie. */
static struct slice credential(struct http_req *req, bool *from_header)
{
    struct slice h = http_req_header(req, "Authorization");

    *from_header = h.ptr != NULL;
    if (h.ptr != NULL)
        return gw_bearer_token(h);
    return gw_cookie_get(http_req_header(req, "Cookie"), GW_COOKIE_ACCESS);
}

static int verify_jwt(struct gw *g, struct slice token, struct gw_authn *out, struct err *err)
{
    struct auth_verify_opts opts = {.iss = g->issuer,
                                    .aud = GW_AUDIENCE,
                                    .now = (int64_t)(time_wall_ms() / 1000),
                                    .skew = CLOCK_SKEW_S};
    struct auth_vcache *c = gw_vcache(g);
    int rc = c ? auth_access_verify_cached(c, g->ring, token, &opts, &out->claims, err)
               : auth_access_verify(g->ring, token, &opts, &out->claims, err);

    if (rc < 0)
        return rc == ERR_INVALID ? err_set(err, ERR_UNAUTHENTICATED, "access token: %s", err->msg)
                                 : rc;
    if (out->claims.sid[0] == '\0')
        return err_set(err, ERR_UNAUTHENTICATED, "access token has no session (sid)");
    out->kind = GW_CRED_JWT;
    return 0;
}

int gw_authn_token(struct gw *g, struct slice token, struct gw_authn *out, struct err *err)
{
    memset(out, 0, sizeof(*out));
    if (token.ptr == NULL || token.len == 0)
        return err_set(err, ERR_UNAUTHENTICATED,
                       "authentication required: send Authorization: Bearer <token> or log in");
    if (slice_starts_with(token, SLICE(AUTH_PAT_PREFIX))) {
        if (!auth_token_looks_like_pat(token))
            return err_set(err, ERR_UNAUTHENTICATED, "personal access token is malformed");
        auth_token_hash(token, out->pat_hash);
        out->kind = GW_CRED_PAT;
        return 0;
    }
    return verify_jwt(g, token, out, err);
}

int gw_authn_begin(struct gw *g, struct http_req *req, struct gw_authn *out, struct err *err)
{
    bool from_header;
    struct slice token = credential(req, &from_header);

    if (token.ptr == NULL && from_header) {
        memset(out, 0, sizeof(*out));
        return err_set(err, ERR_UNAUTHENTICATED, "Authorization: expected \"Bearer <token>\"");
    }
    return gw_authn_token(g, token, out, err);
}

bool gw_authn_present(struct http_req *req)
{
    bool from_header;

    return credential(req, &from_header).ptr != NULL || from_header;
}

static int finish_pat(struct gw *g, struct arena *a, struct gw_authn *in, struct err *err)
{
    struct gw_api_token t;
    int rc = gw_db_api_token_auth(g->store, a, slice_from_cstr(in->pat_hash),
                                  (int64_t)time_wall_ms(), &t, err);

    if (rc < 0)
        return rc;
    in->user_id = t.user_id;
    in->session = NULL;
    return 0;
}

void gw_respond_unauthenticated(struct http_req *req, const struct err *err)
{
    if (err->code != ERR_UNAUTHENTICATED) {
        http_respond_err(req, err);
        return;
    }
    (void)!http_add_header(req, "WWW-Authenticate", "Bearer realm=\"slipway\"");
    http_respond_error(req, 401, "unauthenticated", err->msg);
}

/* ---------------------------------------------------------------- the caller's workspace */

int gw_caller_pick(struct gw_caller *c, struct slice ws, struct err *err)
{
    if (ws.ptr == NULL && c->user.personal_workspace == NULL)
        return err_set(err, ERR_FORBIDDEN,
                       "no personal workspace: name one with "
                       "X-Slipway-Workspace");
    if (ws.ptr == NULL)
        ws = slice_from_cstr(c->user.personal_workspace);
    for (size_t i = 0; i < c->nworkspaces; i++) {
        if (slice_eq_cstr(ws, c->workspaces[i].id)) {
            c->workspace = c->workspaces[i].id;
            c->role = c->workspaces[i].role;
            c->authenticated = true;
            return 0;
        }
    }
    return err_set(err, ERR_FORBIDDEN, "not a member of workspace " SLICE_FMT, SLICE_ARG(ws));
}

/* The refusals of the per-request check, from what gw_db_caller_get() said (<rc>, <row>):
 * with the messages a client sees. */
static int caller_refusal(bool jwt, int rc, const struct gw_caller_row *row, struct err *err)
{
    if (rc == ERR_INVALID && jwt)
        return err_set(err, ERR_UNAUTHENTICATED, "access token: %s", err->msg);
    if (jwt && (rc == ERR_NOTFOUND || (rc == 0 && (row->live_until == 0 || row->user.disabled))))
        return err_set(err, ERR_UNAUTHENTICATED, "session ended: log in again");
    if (rc == ERR_NOTFOUND || (rc == 0 && row->user.disabled))
        return err_set(err, ERR_UNAUTHENTICATED, "user no longer exists or is disabled");
    return rc;
}

int gw_caller_load(struct gw_caller *c, struct arena *a, struct slice ws, struct err *err)
{
    struct gw_authn *who = &c->who;
    bool jwt = who->kind == GW_CRED_JWT;
    struct gw_caller_row row;
    int rc;

    if (c->g->watch != NULL) /* before anything is read: what the cache will compare */
        store_watch_read(c->g->watch, &c->ver);
    if (who->kind == GW_CRED_NONE)
        return err_set(err, ERR_UNAUTHENTICATED, "authentication required");
    if (who->kind == GW_CRED_PAT && (rc = finish_pat(c->g, a, who, err)) < 0)
        return rc;
    if (jwt) {
        who->user_id = who->claims.sub;
        who->session = who->claims.sid;
    }
    rc = gw_db_caller_get(c->g->store, a, slice_from_cstr(who->user_id),
                          jwt ? slice_from_cstr(who->session) : SLICE_NULL, (int64_t)time_wall_ms(),
                          &row, err);
    if ((rc = caller_refusal(jwt, rc, &row, err)) < 0)
        return rc;
    who->live_until = row.live_until;
    c->user = row.user;
    c->workspaces = row.workspaces;
    c->nworkspaces = row.nworkspaces;
    return gw_caller_pick(c, ws, err);
}

int gw_workspace_header(struct http_req *req, struct slice *out, struct err *err)
{
    *out = http_req_header(req, "X-Slipway-Workspace");
    if (out->ptr == NULL)
        return 0;
    return gw_db_check_text("X-Slipway-Workspace", *out, GW_ID_MAX, false, err);
}
