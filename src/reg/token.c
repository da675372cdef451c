/*
 * Registry authentication (the token flow of the distribution specification): a request
 * without a usable token gets 401 with "WWW-Authenticate: Bearer realm=…,service=…,scope=…";
 * the client asks GET /v2/token with HTTP Basic (password: an API token) or a bearer access
 * token, and gets a short-lived JWT signed with the gateway's keyring whose "role" claim
 * lists the granted actions per repository ("<name>:pull,push", space separated). A
 * repository is granted only in a workspace its user belongs to: another workspace's
 * repositories get no grant, so their requests end at the same 401 as unknown ones.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>

#include "reg-int.h"

#define CLOCK_SKEW_S 30
#define MAX_SCOPES   8

static const struct log_ctx reg_log = {.svc = "registry"};

void reg_respond_error(struct http_req *req, int status, const char *code, const char *msg)
{
    struct sbuf b = SBUF_INIT(4096);
    struct jw w;

    jw_init(&w, &b);
    jw_obj_begin(&w);
    jw_key(&w, "errors");
    jw_arr_begin(&w);
    jw_obj_begin(&w);
    jw_key(&w, "code");
    jw_str(&w, code);
    jw_key(&w, "message");
    jw_str(&w, msg);
    jw_obj_end(&w);
    jw_arr_end(&w);
    jw_obj_end(&w);
    http_respond_sbuf(req, status, "application/json", &b);
}

/* ---------------------------------------------------------------- scopes and grants */

static unsigned action_bits(struct slice list)
{
    struct slice a;
    unsigned bits = 0;

    while (list.len > 0) {
        slice_split(&list, ',', &a);
        if (slice_eq_cstr(a, "pull"))
            bits |= REG_PULL;
        else if (slice_eq_cstr(a, "push"))
            bits |= REG_PUSH;
        else if (slice_eq_cstr(a, "delete") || slice_eq_cstr(a, "*"))
            bits |= REG_PULL | REG_PUSH;
    }
    return bits;
}

int reg_scope_parse(struct slice scope, struct slice *name, unsigned *actions, struct err *err)
{
    struct slice type, rest = scope;
    size_t i;

    if (!slice_split(&rest, ':', &type) || !slice_eq_cstr(type, "repository"))
        return err_set(err, ERR_INVALID, "scope: expected repository:<name>:<actions>");
    for (i = rest.len; i > 0 && rest.ptr[i - 1] != ':'; i--)
        ;
    if (i == 0)
        return err_set(err, ERR_INVALID, "scope: no actions");
    *name = (struct slice){rest.ptr, i - 1};
    *actions = action_bits((struct slice){rest.ptr + i, rest.len - i});
    return reg_name_check(*name, err);
}

unsigned reg_grants_for(struct slice grants, struct slice name)
{
    struct slice g, gname;

    while (grants.len > 0) {
        slice_split(&grants, ' ', &g);
        if (slice_split(&g, ':', &gname) && slice_eq(gname, name))
            return action_bits(g);
    }
    return 0;
}

/* ---------------------------------------------------------------- checking a request */

static struct slice bearer(struct http_req *req)
{
    struct slice h = slice_trim(http_req_header(req, "Authorization"));

    if (h.len < 7 || !slice_case_eq_cstr((struct slice){h.ptr, 7}, "bearer "))
        return SLICE_NULL;
    return slice_trim((struct slice){h.ptr + 7, h.len - 7});
}

int reg_authorize(struct reg *r, struct http_req *req, struct slice name, unsigned *allowed)
{
    struct slice token = bearer(req);
    int64_t now = (int64_t)(time_wall_ms() / 1000);
    struct auth_verify_opts opts = {
        .iss = r->auth.issuer, .aud = REG_AUDIENCE, .now = now, .skew = CLOCK_SKEW_S};
    struct auth_claims c;
    struct err err = {0};

    *allowed = 0;
    if (token.len == 0)
        return ERR_UNAUTHENTICATED;
    if (auth_access_verify(r->auth.ring, token, &opts, &c, &err) == 0) {
        *allowed = name.ptr ? reg_grants_for(slice_from_cstr(c.role), name) : 0;
        return 0;
    }
    if (auth_internal_verify(r->auth.ring, token, r->auth.issuer, now, CLOCK_SKEW_S, &c, &err) ==
        0) {
        if (name.ptr && slice_eq_cstr(reg_name_workspace(name), c.ws))
            *allowed = REG_PULL | REG_PUSH; /* a service acting for a member (USER or ADMIN) */
        return 0;
    }
    return ERR_UNAUTHENTICATED;
}

void reg_challenge(struct reg *r, struct http_req *req, struct slice name, unsigned actions)
{
    struct sbuf h = SBUF_INIT(1024);

    sbuf_printf(&h, "Bearer realm=\"%s/v2/token\",service=\"slipway\"", r->auth.issuer);
    if (name.ptr != NULL)
        sbuf_printf(&h, ",scope=\"repository:" SLICE_FMT ":%s\"", SLICE_ARG(name),
                    (actions & REG_PUSH) ? "pull,push" : "pull");
    (void)!http_add_header(req, "WWW-Authenticate", h.buf);
    (void)!http_add_header(req, "Docker-Distribution-API-Version", "registry/2.0");
    sbuf_release(&h);
    reg_respond_error(req, 401, "UNAUTHORIZED", "authentication required");
}

/* ---------------------------------------------------------------- GET /v2/token */

struct scope {
    struct slice name;
    unsigned actions;
};

struct token_job {
    struct reg *r;
    struct http_req *req;
    struct slice secret;
    struct scope scopes[MAX_SCOPES];
    size_t nscopes;
    int rc;
    struct err err;
    struct sbuf out;
};

/* The password of "Basic base64(user:password)", or the token of "Bearer <token>". */
static struct slice credential(struct http_req *req)
{
    struct slice h = slice_trim(http_req_header(req, "Authorization")), pass;
    unsigned char *buf;
    int n;

    if (h.len > 6 && slice_case_eq_cstr((struct slice){h.ptr, 6}, "basic ")) {
        h = slice_trim((struct slice){h.ptr + 6, h.len - 6});
        if (h.len == 0 || h.len > 4096 || h.len % 4 != 0)
            return SLICE_NULL;
        buf = arena_alloc(req->arena, h.len);
        if (buf == NULL)
            return SLICE_NULL;
        n = EVP_DecodeBlock(buf, (const unsigned char *)h.ptr, (int)h.len);
        if (n < 0)
            return SLICE_NULL;
        while (n > 0 && h.ptr[h.len - 1] == '=' && buf[n - 1] == '\0') /* padding decoded */
            n--, h.len--;
        pass = (struct slice){(const char *)buf, (size_t)n};
        struct slice user;
        return slice_split(&pass, ':', &user) ? pass : SLICE_NULL;
    }
    return bearer(req);
}

/* Every scope= of the query, in the arena. */
static int scopes_read(struct http_req *req, struct token_job *j, struct err *err)
{
    struct slice rest = req->query, pair, key, val;

    while (rest.len > 0) {
        slice_split(&rest, '&', &pair);
        slice_split(&pair, '=', &key);
        if (!slice_eq_cstr(key, "scope"))
            continue;
        if (slice_percent_decode(req->arena, pair, true, &val) < 0)
            return err_set(err, ERR_INVALID, "scope: bad percent-encoding");
        /* one scope= may hold several, separated by spaces */
        while (val.len > 0) {
            struct slice one;

            slice_split(&val, ' ', &one);
            if (one.len == 0)
                continue;
            if (j->nscopes == MAX_SCOPES)
                return err_set(err, ERR_LIMIT, "scope: at most %d", MAX_SCOPES);
            if (reg_scope_parse(one, &j->scopes[j->nscopes].name, &j->scopes[j->nscopes].actions,
                                err) < 0)
                return err->code;
            j->nscopes++;
        }
    }
    return 0;
}

/* What <p> may do on <name>: pull as a member of its workspace, push with USER or ADMIN. */
static unsigned granted(const struct reg_principal *p, struct slice name, unsigned wanted)
{
    struct slice ws = reg_name_workspace(name);

    for (size_t i = 0; i < p->nmembers; i++)
        if (slice_eq_cstr(ws, p->members[i].workspace))
            return wanted & (REG_PULL | (p->members[i].push ? REG_PUSH : 0));
    return 0;
}

static void grants_write(struct token_job *j, const struct reg_principal *p, char *out, size_t cap)
{
    size_t at = 0;

    out[0] = '\0';
    for (size_t i = 0; i < j->nscopes; i++) {
        unsigned a = granted(p, j->scopes[i].name, j->scopes[i].actions);
        int n;

        if (a == 0)
            continue;
        n = snprintf(out + at, cap - at, "%s" SLICE_FMT ":%s", at ? " " : "",
                     SLICE_ARG(j->scopes[i].name),
                     a == (REG_PULL | REG_PUSH) ? "pull,push" : (a & REG_PUSH ? "push" : "pull"));
        if (n < 0 || (size_t)n >= cap - at) { /* no room: that grant is left out */
            out[at] = '\0';
            break;
        }
        at += (size_t)n;
    }
}

static void token_work(void *arg)
{
    struct token_job *j = arg;
    struct reg_principal p = {0};
    struct auth_claims c = {0};
    int64_t now = (int64_t)(time_wall_ms() / 1000);
    char tok[AUTH_TOKEN_MAX_BYTES];
    struct sbuf t = SBUF_INIT(sizeof(tok));
    struct jw w;

    j->rc = j->r->auth.login(j->r->auth.login_arg, j->req->arena, j->secret, &p, &j->err);
    if (j->rc < 0)
        return;
    snprintf(c.iss, sizeof(c.iss), "%s", j->r->auth.issuer);
    snprintf(c.sub, sizeof(c.sub), "%s", p.user_id);
    snprintf(c.aud, sizeof(c.aud), "%s", REG_AUDIENCE);
    grants_write(j, &p, c.role, sizeof(c.role));
    j->rc = auth_access_sign(j->r->auth.ring, &c, now, j->r->cfg.token_ttl_s, &t, &j->err);
    if (j->rc < 0) {
        sbuf_release(&t);
        return;
    }
    j->out = SBUF_INIT(16384);
    jw_init(&w, &j->out);
    jw_obj_begin(&w);
    jw_key(&w, "token");
    jw_slice(&w, sbuf_slice(&t));
    jw_key(&w, "access_token");
    jw_slice(&w, sbuf_slice(&t));
    jw_key(&w, "expires_in");
    jw_int(&w, j->r->cfg.token_ttl_s);
    jw_key(&w, "issued_at");
    time_rfc3339_ms((uint64_t)now * 1000, tok);
    jw_str(&w, tok);
    jw_obj_end(&w);
    sbuf_release(&t);
}

static void token_done(void *arg)
{
    struct token_job *j = arg;

    if (j->rc == ERR_UNAUTHENTICATED) {
        (void)!http_add_header(j->req, "WWW-Authenticate", "Basic realm=\"slipway\"");
        reg_respond_error(j->req, 401, "UNAUTHORIZED", j->err.msg);
    } else if (j->rc < 0) {
        LOG_WARN(&reg_log, "registry.token_failed", LF_STR("error", j->err.msg));
        reg_respond_error(j->req, err_http_status(j->rc), "UNKNOWN", j->err.msg);
    } else {
        http_respond_sbuf(j->req, 200, "application/json", &j->out);
    }
}

void reg_token_handler(void *arg, struct http_req *req)
{
    struct reg *r = arg;
    struct token_job *j = arena_zalloc(req->arena, sizeof(*j));
    struct err err = {0};

    if (j == NULL) {
        reg_respond_error(req, 500, "UNKNOWN", "out of request memory");
        return;
    }
    j->r = r;
    j->req = req;
    j->secret = credential(req);
    if (j->secret.len == 0) {
        (void)!http_add_header(req, "WWW-Authenticate", "Basic realm=\"slipway\"");
        reg_respond_error(req, 401, "UNAUTHORIZED",
                          "send HTTP Basic with an API token as the password, or a Bearer token");
        return;
    }
    if (scopes_read(req, j, &err) < 0) {
        reg_respond_error(req, 400, "DENIED", err.msg);
        return;
    }
    pool_run(r->auth.workers, token_work, token_done, j);
}
