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

int gw_authn_begin(struct gw *g, struct http_req *req, struct gw_authn *out, struct err *err)
{
    bool from_header;
    struct slice token = credential(req, &from_header);

    memset(out, 0, sizeof(*out));
    if (token.ptr == NULL)
        return err_set(err, ERR_UNAUTHENTICATED,
                       from_header ? "Authorization: expected \"Bearer <token>\""
                                   : "authentication required: send Authorization: Bearer "
                                     "<token> or log in");
    if (slice_starts_with(token, SLICE(AUTH_PAT_PREFIX))) {
        if (!auth_token_looks_like_pat(token))
            return err_set(err, ERR_UNAUTHENTICATED, "personal access token is malformed");
        auth_token_hash(token, out->pat_hash);
        out->kind = GW_CRED_PAT;
        return 0;
    }
    return verify_jwt(g, token, out, err);
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

static int finish_jwt(struct gw *g, struct gw_authn *in, struct err *err)
{
    bool active = false;
    int rc = gw_db_session_active(g->store, slice_from_cstr(in->claims.sid),
                                  slice_from_cstr(in->claims.sub), (int64_t)time_wall_ms(), &active,
                                  err);

    if (rc == ERR_INVALID)
        return err_set(err, ERR_UNAUTHENTICATED, "access token: %s", err->msg);
    if (rc < 0)
        return rc;
    if (!active)
        return err_set(err, ERR_UNAUTHENTICATED, "session ended: log in again");
    in->user_id = in->claims.sub;
    in->session = in->claims.sid;
    return 0;
}

int gw_authn_finish(struct gw *g, struct arena *a, struct gw_authn *in, struct err *err)
{
    switch (in->kind) {
    case GW_CRED_PAT:
        return finish_pat(g, a, in, err);
    case GW_CRED_JWT:
        return finish_jwt(g, in, err);
    case GW_CRED_NONE:
        break;
    }
    return err_set(err, ERR_UNAUTHENTICATED, "authentication required");
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
