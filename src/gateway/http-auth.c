/*
 * gateway, HTTP side: POST /auth/login, /auth/refresh, /auth/logout, GET /auth/me and
 * /.well-known/jwks.json. Handlers parse and check on the loop, do the blocking work (argon2id,
 * the store, signing) on the worker pool and answer from the completion. Each request's state
 * lives in its arena; only the worker touches it while the work runs.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "auth/auth.h"
#include "base/base.h"
#include "gateway/gw-int.h"
#include "http/http.h"

static const char json_ct[] = "application/json";
static const char wrong_login[] = "email or password is wrong";

/* What login and refresh answer with. <access> is released by the completion. */
struct session_out {
    struct gw_user user;
    char refresh[AUTH_TOKEN_BUF];
    struct sbuf access;
};

static int64_t now_ms(void)
{
    return (int64_t)time_wall_ms();
}

static bool request_is_https(struct http_req *req)
{
    return slice_case_eq_cstr(slice_trim(http_req_header(req, "X-Forwarded-Proto")), "https");
}

static void respond_retry(struct http_req *req, int64_t retry_s, const char *msg)
{
    char v[32], m[160];

    snprintf(v, sizeof(v), "%" PRId64, retry_s);
    snprintf(m, sizeof(m), "%s; try again in %" PRId64 " s", msg, retry_s);
    (void)!http_add_header(req, "Retry-After", v);
    http_respond_error(req, 429, "limit", m);
}

static void respond_no_memory(struct http_req *req)
{
    http_respond_error(req, 503, "limit", "out of request memory");
}

/* Logs a failure that is not the client's fault and answers it. */
static void respond_failure(struct http_req *req, const char *what, const struct err *err)
{
    LOG_ERROR(&req->log, what, LF_STR("error", err->msg), LF_INT("code", err->code));
    http_respond_err(req, err);
}

/* ---------------------------------------------------------------- sessions */

/* Signs an access token for <user_id> in session <sid> into o->access. */
static int access_sign(struct gw *g, const char *user_id, const char *sid, struct session_out *o,
                       struct err *err)
{
    struct auth_claims c = {0};

    snprintf(c.sub, sizeof(c.sub), "%s", user_id);
    snprintf(c.sid, sizeof(c.sid), "%s", sid);
    snprintf(c.iss, sizeof(c.iss), "%s", g->issuer);
    snprintf(c.aud, sizeof(c.aud), "%s", GW_AUDIENCE);
    sbuf_init(&o->access, AUTH_TOKEN_MAX_BYTES);
    return auth_access_sign(g->ring, &c, now_ms() / 1000, AUTH_ACCESS_TTL, &o->access, err);
}

/* A new session (refresh family) for o->user: its first refresh token, stored hashed, and
 * an access token. */
static int session_start(struct gw *g, struct session_out *o, struct err *err)
{
    char family[37], hash[AUTH_HASH_HEX + 1];
    int64_t now = now_ms();
    int rc = auth_refresh_token_new(o->refresh, err);

    if (rc < 0)
        return rc;
    id_new(family);
    auth_token_hash(slice_from_cstr(o->refresh), hash);
    rc = gw_db_refresh_insert(g->store,
                              &(struct gw_refresh){.token_hash = hash,
                                                   .family_id = family,
                                                   .user_id = o->user.id,
                                                   .created_at = now,
                                                   .expires_at = now + GW_REFRESH_TTL_S * 1000LL},
                              err);
    if (rc == 0)
        rc = access_sign(g, o->user.id, family, o, err);
    return rc;
}

static int add_cookie(struct http_req *req, const char *name, const char *value, const char *path,
                      int64_t max_age, bool secure)
{
    struct sbuf c = SBUF_INIT(AUTH_TOKEN_MAX_BYTES + 256);
    int rc;

    gw_cookie_format(&c, name, value, path, max_age, secure);
    rc = c.err ? c.err : http_add_header(req, "Set-Cookie", c.buf);
    sbuf_release(&c);
    return rc;
}

/* 200 with the access token (and the refresh token when <body_refresh>), and both cookies. */
static void session_respond(struct http_req *req, const struct session_out *o, bool body_refresh,
                            bool secure)
{
    struct sbuf b = SBUF_INIT(32u << 10);
    struct jw w;

    if (add_cookie(req, GW_COOKIE_ACCESS, o->access.buf, "/", AUTH_ACCESS_TTL, secure) < 0 ||
        add_cookie(req, GW_COOKIE_REFRESH, o->refresh, "/auth", GW_REFRESH_TTL_S, secure) < 0) {
        respond_no_memory(req);
        return;
    }
    jw_init(&w, &b);
    jw_obj_begin(&w);
    jw_key(&w, "accessToken");
    jw_slice(&w, sbuf_slice(&o->access));
    jw_key(&w, "tokenType");
    jw_str(&w, "Bearer");
    jw_key(&w, "expiresIn");
    jw_int(&w, AUTH_ACCESS_TTL);
    if (body_refresh) {
        jw_key(&w, "refreshToken");
        jw_str(&w, o->refresh);
    }
    jw_key(&w, "user");
    jw_obj_begin(&w);
    jw_key(&w, "id");
    jw_str(&w, o->user.id);
    jw_key(&w, "email");
    jw_str(&w, o->user.email);
    jw_key(&w, "name");
    jw_str(&w, o->user.name);
    jw_obj_end(&w);
    jw_obj_end(&w);
    sbuf_putc(&b, '\n');
    http_respond_sbuf(req, 200, json_ct, &b);
}

/* An audit detail {"ip":…,"reason":…} in <a>, or "" when it does not fit. */
static const char *audit_detail(struct arena *a, const char *ip, const char *reason)
{
    struct sbuf b = SBUF_INIT(1024);
    const char *out;

    sbuf_puts(&b, "{\"ip\":");
    json_escape(&b, slice_from_cstr(ip));
    sbuf_puts(&b, ",\"reason\":");
    json_escape(&b, slice_from_cstr(reason));
    sbuf_putc(&b, '}');
    out = b.err ? NULL : arena_strndup(a, b.buf, b.len);
    sbuf_release(&b);
    return out ? out : "";
}

/* ---------------------------------------------------------------- POST /auth/login */

struct login {
    struct gw *g;
    struct http_req *req;
    struct slice email, password;   /* in the arena; the password is wiped after the work */
    char key[GW_LOGIN_KEY_MAX + 1]; /* "email:<lower-cased email>" */
    const char *peer;
    bool return_refresh, secure, known;
    int rc;
    struct err err;
    int64_t retry_s;
    struct session_out out;
};

static int login_parse(struct http_req *req, struct login *l, struct err *err)
{
    struct slice email = SLICE_NULL, password = SLICE_NULL;
    json_t *o = NULL;
    int rc = json_read_object(req->body, GW_BODY_MAX, 4, &o, err);

    if (rc == ERR_INVALID && req->body.len > 0)
        rc = err_set(err, ERR_INVALID, "body: must be a JSON object {\"email\", \"password\"}");
    if (rc < 0)
        return rc;
    if ((rc = json_get_str(o, "email", true, &email, err)) < 0 ||
        (rc = json_get_str(o, "password", true, &password, err)) < 0 ||
        (rc = json_get_bool(o, "returnRefreshToken", false, &l->return_refresh, err)) < 0 ||
        (rc = gw_email_check("email", email, err)) < 0)
        goto done;
    if (password.len == 0 || password.len > AUTH_PASSWORD_MAX) {
        rc = err_set(err, ERR_INVALID, "password: must be 1..%d bytes", AUTH_PASSWORD_MAX);
        goto done;
    }
    l->email = slice_dup(req->arena, email);
    l->password = slice_dup(req->arena, password);
    if (l->email.ptr == NULL || l->password.ptr == NULL)
        rc = err_set(err, ERR_LIMIT, "body: does not fit in the request's memory");
    snprintf(l->key, sizeof(l->key), "email:%.*s", SLICE_ARG(email));
    for (char *p = l->key; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + ('a' - 'A') : *p);
done:
    json_decref(o);
    return rc;
}

/* A failed attempt: counts it towards the account's lock; same answer whatever failed. */
static int login_failed(struct login *l, struct err *err)
{
    int64_t until = 0;
    struct err ferr = {0};

    if (gw_db_login_failure(l->g->store, slice_from_cstr(l->key), now_ms(), &until, &ferr) < 0)
        LOG_ERROR(&l->req->log, "gateway.login_failure_not_recorded", LF_STR("error", ferr.msg));
    return err_set(err, ERR_UNAUTHENTICATED, "%s", wrong_login);
}

/* Rehashes a password stored with weaker parameters; best effort. */
static void login_upgrade(struct login *l)
{
    char phc[AUTH_PHC_MAX];
    struct err e = {0};

    if (auth_password_hash(l->password, phc, &e) < 0 ||
        gw_db_user_set_password(l->g->store, slice_from_cstr(l->out.user.id), slice_from_cstr(phc),
                                &e) < 0)
        LOG_WARN(&l->req->log, "gateway.password_upgrade_failed", LF_STR("error", e.msg));
}

/* Lock, user, password: 0 when the login may go on. */
static int login_check(struct login *l, struct err *err)
{
    struct gw_user *u = &l->out.user;
    struct slice key = slice_from_cstr(l->key);
    int64_t now = now_ms(), until = 0;
    bool upgrade = false;
    int rc = gw_db_login_locked(l->g->store, key, now, &until, err);

    if (rc < 0)
        return rc;
    if (until > 0) {
        l->retry_s = (until - now + 999) / 1000;
        return err_set(err, ERR_LIMIT, "too many failed logins for this account");
    }
    rc = gw_db_user_get_by_email(l->g->store, l->req->arena, l->email, u, err);
    if (rc == ERR_NOTFOUND || (rc == 0 && u->password_hash == NULL)) {
        auth_password_dummy_verify(l->password); /* the same time as a real check */
        return login_failed(l, err);
    }
    if (rc < 0)
        return rc;
    l->known = true;
    rc = auth_password_verify(l->password, u->password_hash, &upgrade, err);
    if (rc == ERR_UNAUTHENTICATED || (rc == 0 && u->disabled))
        return login_failed(l, err);
    if (rc < 0)
        return rc;
    if ((rc = gw_db_login_success(l->g->store, key, err)) < 0)
        return rc;
    if (upgrade)
        login_upgrade(l);
    return 0;
}

static void login_work(void *arg)
{
    struct login *l = arg;
    struct slice actor;
    struct slice target = slice_from_cstr(l->key + 6);

    l->rc = login_check(l, &l->err);
    if (l->rc == 0)
        l->rc = session_start(l->g, &l->out, &l->err);
    explicit_bzero((char *)l->password.ptr, l->password.len);
    actor = l->known ? slice_from_cstr(l->out.user.id) : SLICE_NULL;
    if (l->rc == 0 || l->rc == ERR_UNAUTHENTICATED || l->rc == ERR_LIMIT)
        gw_audit(l->g, actor, "auth.login", target, l->rc == 0 ? GW_OUTCOME_OK : GW_OUTCOME_DENIED,
                 audit_detail(l->req->arena, l->peer,
                              l->rc == 0           ? "ok"
                              : l->rc == ERR_LIMIT ? "locked"
                                                   : "wrong"));
}

static void login_done(void *arg)
{
    struct login *l = arg;

    if (l->rc == 0)
        session_respond(l->req, &l->out, l->return_refresh, l->secure);
    else if (l->rc == ERR_LIMIT && l->retry_s > 0)
        respond_retry(l->req, l->retry_s, "too many failed logins for this account");
    else if (l->rc == ERR_UNAUTHENTICATED)
        http_respond_error(l->req, 401, "unauthenticated", wrong_login);
    else
        respond_failure(l->req, "gateway.login_failed", &l->err);
    sbuf_release(&l->out.access);
}

static void login_handler(void *arg, struct http_req *req)
{
    struct gw *g = arg;
    const char *peer = http_req_peer(req);
    struct login *l = arena_zalloc(req->arena, sizeof(*l));
    struct err err = {0};
    int64_t retry = 0;

    if (l == NULL || peer == NULL) {
        respond_no_memory(req);
        return;
    }
    if (!gw_limiter_take(g->login_limit, slice_from_cstr(peer), time_mono_ms(), &retry)) {
        respond_retry(req, retry, "too many logins from this address");
        return;
    }
    if (login_parse(req, l, &err) < 0) {
        http_respond_err(req, &err);
        return;
    }
    l->g = g;
    l->req = req;
    l->peer = peer;
    l->secure = request_is_https(req);
    pool_run(g->workers, login_work, login_done, l);
}

/* ---------------------------------------------------------------- POST /auth/refresh, /auth/logout
 */

struct refresh {
    struct gw *g;
    struct http_req *req;
    char hash[AUTH_HASH_HEX + 1];
    bool in_body, secure;
    int rc;
    struct err err;
    struct session_out out;
};

/* The refresh token of <req>: {"refreshToken"} in the body, else the cookie. *tok gets
 * SLICE_NULL when there is none; ERR_INVALID for a body that is not the expected JSON. */
static int refresh_token_of(struct http_req *req, struct slice *tok, bool *in_body, struct err *err)
{
    json_t *o = NULL;
    int rc;

    *tok = SLICE_NULL;
    *in_body = false;
    if (req->body.len > 0) {
        rc = json_read_object(req->body, GW_BODY_MAX, 4, &o, err);
        if (rc == ERR_LIMIT) /* nested too deep */
            err->code = rc = ERR_INVALID;
        else if (rc == ERR_INVALID)
            rc = err_set(err, ERR_INVALID, "body: must be a JSON object {\"refreshToken\"}");
        if (rc == 0)
            rc = json_get_str(o, "refreshToken", false, tok, err);
        if (rc == 0 && tok->ptr != NULL)
            *tok = slice_dup(req->arena, *tok);
        json_decref(o);
        if (rc < 0)
            return rc;
        *in_body = tok->ptr != NULL;
    }
    if (tok->ptr == NULL)
        *tok = gw_cookie_get(http_req_header(req, "Cookie"), GW_COOKIE_REFRESH);
    return 0;
}

static int refresh_rotate(struct refresh *f, struct err *err)
{
    char next_hash[AUTH_HASH_HEX + 1];
    struct gw_refresh row;
    struct store *s = f->g->store;
    int64_t now = now_ms();
    int rc = auth_refresh_token_new(f->out.refresh, err);

    if (rc < 0)
        return rc;
    auth_token_hash(slice_from_cstr(f->out.refresh), next_hash);
    rc =
        gw_db_refresh_rotate(s, f->req->arena, slice_from_cstr(f->hash), slice_from_cstr(next_hash),
                             now + GW_REFRESH_TTL_S * 1000LL, now, &row, err);
    if (rc == ERR_FORBIDDEN)
        gw_audit(f->g, SLICE_NULL, "auth.refresh_reused", SLICE_NULL, GW_OUTCOME_DENIED,
                 "{\"reason\":\"refresh token reused: session revoked\"}");
    if (rc < 0)
        return rc;
    rc = gw_db_user_get(s, f->req->arena, slice_from_cstr(row.user_id), &f->out.user, err);
    if (rc == 0 && f->out.user.disabled) {
        if ((rc = gw_db_refresh_revoke_family(s, slice_from_cstr(row.family_id), now, err)) == 0)
            rc = err_set(err, ERR_UNAUTHENTICATED, "user is disabled");
    }
    if (rc == 0)
        rc = access_sign(f->g, row.user_id, row.family_id, &f->out, err);
    gw_audit(f->g, slice_from_cstr(row.user_id), "auth.refresh", slice_from_cstr(row.family_id),
             rc == 0 ? GW_OUTCOME_OK : GW_OUTCOME_ERROR, NULL);
    return rc;
}

static void refresh_work(void *arg)
{
    struct refresh *f = arg;

    f->rc = refresh_rotate(f, &f->err);
}

static void refresh_done(void *arg)
{
    struct refresh *f = arg;

    if (f->rc == 0)
        session_respond(f->req, &f->out, f->in_body, f->secure);
    else if (f->rc == ERR_FORBIDDEN)
        http_respond_error(f->req, 401, "session_revoked", f->err.msg);
    else if (f->rc == ERR_UNAUTHENTICATED)
        http_respond_error(f->req, 401, "unauthenticated", f->err.msg);
    else
        respond_failure(f->req, "gateway.refresh_failed", &f->err);
    sbuf_release(&f->out.access);
}

/* Shared start of refresh and logout: the token's hash into <hash>. 1 when there is a token
 * of the right shape, 0 when there is none (or it cannot be one of ours), <0 on a bad body. */
static int token_hash_of(struct http_req *req, char hash[AUTH_HASH_HEX + 1], bool *in_body,
                         struct err *err)
{
    struct slice tok;
    int rc = refresh_token_of(req, &tok, in_body, err);

    if (rc < 0)
        return rc;
    if (tok.ptr == NULL || tok.len != AUTH_REFRESH_LEN)
        return 0;
    auth_token_hash(tok, hash);
    return 1;
}

/* The start both refresh and logout share: the request's state, and the refresh token's
 * hash from the cookie or the body. Returns NULL after answering when that failed; sets
 * *found to whether a token was sent. */
static struct refresh *refresh_begin(void *arg, struct http_req *req, bool *found)
{
    struct refresh *f = arena_zalloc(req->arena, sizeof(*f));
    struct err err = {0};
    int rc;

    if (f == NULL) {
        respond_no_memory(req);
        return NULL;
    }
    f->g = arg;
    f->req = req;
    f->secure = request_is_https(req);
    rc = token_hash_of(req, f->hash, &f->in_body, &err);
    if (rc < 0) {
        http_respond_err(req, &err);
        return NULL;
    }
    *found = rc == 1;
    return f;
}

static void refresh_handler(void *arg, struct http_req *req)
{
    bool found = false;
    struct refresh *f = refresh_begin(arg, req, &found);

    if (f == NULL)
        return;
    if (!found) {
        http_respond_error(req, 401, "unauthenticated",
                           "refresh token missing or unknown: send the slipway_refresh cookie or "
                           "{\"refreshToken\"}");
        return;
    }
    pool_run(f->g->workers, refresh_work, refresh_done, f);
}

static void logout_work(void *arg)
{
    struct refresh *f = arg;
    struct gw_refresh row;

    f->rc = gw_db_refresh_get(f->g->store, f->req->arena, slice_from_cstr(f->hash), &row, &f->err);
    if (f->rc == ERR_NOTFOUND) { /* nothing to end: logging out is idempotent */
        f->rc = 0;
        return;
    }
    if (f->rc == 0)
        f->rc = gw_db_refresh_revoke_family(f->g->store, slice_from_cstr(row.family_id), now_ms(),
                                            &f->err);
    if (f->rc == 0)
        gw_audit(f->g, slice_from_cstr(row.user_id), "auth.logout", slice_from_cstr(row.family_id),
                 GW_OUTCOME_OK, "");
}

/* 204 clearing both cookies. */
static void logout_respond(struct http_req *req, bool secure)
{
    if (add_cookie(req, GW_COOKIE_ACCESS, "", "/", 0, secure) < 0 ||
        add_cookie(req, GW_COOKIE_REFRESH, "", "/auth", 0, secure) < 0) {
        respond_no_memory(req);
        return;
    }
    http_respond(req, 204, NULL, SLICE_NULL);
}

static void logout_done(void *arg)
{
    struct refresh *f = arg;

    if (f->rc < 0)
        respond_failure(f->req, "gateway.logout_failed", &f->err);
    else
        logout_respond(f->req, f->secure);
}

static void logout_handler(void *arg, struct http_req *req)
{
    bool found = false;
    struct refresh *f = refresh_begin(arg, req, &found);

    if (f == NULL)
        return;
    if (!found)
        logout_respond(req, f->secure);
    else
        pool_run(f->g->workers, logout_work, logout_done, f);
}

/* ---------------------------------------------------------------- GET /auth/me */

struct me {
    struct gw *g;
    struct http_req *req;
    struct gw_caller caller; /* with the user's workspaces */
    struct slice ws;         /* X-Slipway-Workspace, or SLICE_NULL */
    int rc;
    struct err err;
};

static void me_work(void *arg)
{
    struct me *m = arg;

    m->rc = gw_caller_load(&m->caller, m->req->arena, m->ws, &m->err);
}

static void me_respond(struct me *m)
{
    const struct gw_user *u = &m->caller.user;
    struct sbuf b = SBUF_INIT(64u << 10);
    struct jw w;

    jw_init(&w, &b);
    jw_obj_begin(&w);
    jw_key(&w, "id");
    jw_str(&w, u->id);
    jw_key(&w, "email");
    jw_str(&w, u->email);
    jw_key(&w, "name");
    jw_str(&w, u->name);
    jw_key(&w, "avatarUrl");
    if (u->avatar_url)
        jw_str(&w, u->avatar_url);
    else
        jw_null(&w);
    jw_key(&w, "workspaces");
    jw_arr_begin(&w);
    for (size_t i = 0; i < m->caller.nworkspaces; i++) {
        jw_obj_begin(&w);
        jw_key(&w, "workspace");
        jw_str(&w, m->caller.workspaces[i].id);
        jw_key(&w, "role");
        jw_str(&w, gw_role_name(m->caller.workspaces[i].role));
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
    sbuf_putc(&b, '\n');
    http_respond_sbuf(m->req, 200, json_ct, &b);
}

static void me_done(void *arg)
{
    struct me *m = arg;

    if (m->rc == 0) {
        gw_ccache_put(m->g, &m->caller);
        me_respond(m);
    } else if (m->rc == ERR_UNAUTHENTICATED)
        gw_respond_unauthenticated(m->req, &m->err);
    else if (m->rc == ERR_FORBIDDEN)
        http_respond_err(m->req, &m->err);
    else
        respond_failure(m->req, "gateway.me_failed", &m->err);
}

static void me_handler(void *arg, struct http_req *req)
{
    struct me *m = arena_zalloc(req->arena, sizeof(*m));
    struct err err = {0};

    if (m == NULL) {
        respond_no_memory(req);
        return;
    }
    m->g = arg;
    m->req = req;
    m->caller.g = m->g;
    if (gw_authn_begin(m->g, req, &m->caller.who, &err) < 0) {
        gw_respond_unauthenticated(req, &err);
        return;
    }
    if (gw_workspace_header(req, &m->ws, &err) < 0) {
        http_respond_err(req, &err);
        return;
    }
    if (gw_ccache_load(m->g, &m->caller, req->arena, m->ws, &m->rc, &m->err)) {
        me_done(m); /* this loop knew the caller, and nothing was written since */
        return;
    }
    pool_run(m->g->workers, me_work, me_done, m);
}

/* ---------------------------------------------------------------- GET /.well-known/jwks.json */

static void jwks_handler(void *arg, struct http_req *req)
{
    struct gw *g = arg;
    struct sbuf b = SBUF_INIT(64u << 10);

    auth_keyring_jwks(g->ring, now_ms() / 1000, &b);
    sbuf_putc(&b, '\n');
    if (http_add_header(req, "Cache-Control", "public, max-age=300") < 0) {
        sbuf_release(&b);
        respond_no_memory(req);
        return;
    }
    http_respond_sbuf(req, 200, json_ct, &b);
}

int gw_auth_routes_add(struct gw *g, struct http_router *r, struct err *err)
{
    static const struct http_route_opts body = {.max_body_bytes = GW_BODY_MAX};

    if (http_router_add(r, HTTP_POST, "/auth/login", login_handler, g, &body, err) < 0 ||
        http_router_add(r, HTTP_POST, "/auth/refresh", refresh_handler, g, &body, err) < 0 ||
        http_router_add(r, HTTP_POST, "/auth/logout", logout_handler, g, &body, err) < 0 ||
        http_router_add(r, HTTP_GET, "/auth/me", me_handler, g, &body, err) < 0 ||
        http_router_add(r, HTTP_GET, "/.well-known/jwks.json", jwks_handler, g, NULL, err) < 0)
        return err->code;
    return 0;
}
