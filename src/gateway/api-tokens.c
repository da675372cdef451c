/*
 * gateway API: the caller's personal access tokens. The secret of a new token is in the
 * response of createApiToken only (ApiToken.secret, null everywhere else); the store keeps its
 * hash, and the audit log its id and name.
 */
#include <stdlib.h>

#include "auth/auth.h"
#include "base/base.h"
#include "gateway/gw-int.h"
#include "gql/gql.h"

#define PREFIX_LEN      12 /* "slp_" and 8 characters: enough to tell tokens apart */
#define MAX_EXPIRY_DAYS 3650

/* A token as the API shows it: the row, and the secret when it was just made. */
struct api_token {
    struct gw_api_token row;
    const char *secret;
};

static int api_tokens(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                      struct err *err)
{
    struct gw_caller *c = gw_api_caller(rc);
    struct gw_api_token *rows;
    struct api_token *v = NULL;
    size_t n;
    int rc_;

    (void)parent;
    rc_ = gw_db_api_token_list(c->g->store, gql_rctx_arena(rc), slice_from_cstr(c->user.id), &rows,
                               &n, err);
    if (rc_ < 0)
        return rc_;
    if (n > 0 && (v = arena_zalloc(gql_rctx_arena(rc), n * sizeof(*v))) == NULL)
        return err_set(err, ERR_LIMIT, "apiTokens: out of request memory");
    for (size_t i = 0; i < n; i++)
        v[i].row = rows[i];
    return gw_api_ptr_list(rc, v, n, sizeof(*v), "ApiToken", out, err);
}

/* expiresInDays as the time the token expires (0: never). */
static int expiry(struct gql_rctx *rc, int64_t *expires_at, struct err *err)
{
    const struct gql_val *v = gql_arg(rc, "expiresInDays");

    *expires_at = 0;
    if (v == NULL || v->kind == GQL_V_NULL)
        return 0;
    if (v->kind != GQL_V_INT || v->i < 1 || v->i > MAX_EXPIRY_DAYS)
        return err_set(err, ERR_INVALID,
                       "expiresInDays must be 1..%d, or null for a token that does not expire",
                       MAX_EXPIRY_DAYS);
    *expires_at = (int64_t)time_wall_ms() + v->i * 86400LL * 1000;
    return 0;
}

/* The audit detail of a new token: its name and expiry, never the secret. */
static const char *token_detail(struct arena *a, const struct gw_api_token *t)
{
    struct sbuf b = SBUF_INIT(1024);
    const char *out;

    sbuf_puts(&b, "{\"name\":");
    json_escape(&b, slice_from_cstr(t->name));
    sbuf_printf(&b, ",\"prefix\":\"%s\",\"expiresAt\":%" PRId64 "}", t->prefix, t->expires_at);
    out = b.err ? NULL : arena_strndup(a, b.buf, b.len);
    sbuf_release(&b);
    return out;
}

static int create_api_token(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m,
                            struct gql_val *out, struct err *err)
{
    struct arena *a = gql_rctx_arena(rc);
    char secret[AUTH_TOKEN_BUF], hash[AUTH_HASH_HEX + 1];
    struct api_token v = {0};
    struct slice name;
    int64_t expires_at;
    int rc_;

    if ((rc_ = gw_api_text(rc, NULL, "name", "name", GW_NAME_MAX, false, &name, err)) < 0 ||
        (rc_ = expiry(rc, &expires_at, err)) < 0 || (rc_ = auth_pat_new(secret, err)) < 0)
        return rc_;
    auth_token_hash(slice_from_cstr(secret), hash);
    rc_ = gw_db_api_token_create(
        c->g->store, a,
        &(struct gw_api_token_new){.user_id = slice_from_cstr(c->user.id),
                                   .name = name,
                                   .token_hash = slice_from_cstr(hash),
                                   .prefix = (struct slice){secret, PREFIX_LEN},
                                   .expires_at = expires_at},
        &v.row, err);
    if (rc_ == 0 && (v.secret = arena_strndup(a, secret, strlen(secret))) == NULL)
        rc_ = err_set(err, ERR_LIMIT, "createApiToken: out of request memory");
    explicit_bzero(secret, sizeof(secret));
    if (rc_ < 0)
        return rc_;
    m->target = slice_from_cstr(v.row.id);
    m->detail = token_detail(a, &v.row);
    return gw_api_ptr(rc, &v, sizeof(v), "ApiToken", out, err);
}

static int revoke_api_token(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m,
                            struct gql_val *out, struct err *err)
{
    struct slice id;
    int rc_;

    if ((rc_ = gw_api_text(rc, NULL, "id", "id", GW_ID_MAX, false, &id, err)) < 0)
        return rc_;
    m->target = id;
    rc_ = gw_db_api_token_revoke(c->g->store, id, slice_from_cstr(c->user.id),
                                 (int64_t)time_wall_ms(), err);
    if (rc_ == ERR_NOTFOUND)
        return err_set(err, ERR_NOTFOUND, "id: you have no API token with this id");
    if (rc_ < 0)
        return rc_;
    *out = GQL_BOOL(true);
    return 0;
}

#define TOKEN_F(f, k, m)                                                                           \
    {                                                                                              \
        "ApiToken", (f), (k), offsetof(struct api_token, m), NULL, NULL, 0, NULL                   \
    }

const struct gw_field_bind gw_api_tokens_binds[] = {
    {"Query", "apiTokens", GW_F_FN, 0, api_tokens, NULL, GQL_BLOCKING, NULL},
    TOKEN_F("id", GW_F_STR, row.id),
    TOKEN_F("name", GW_F_STR, row.name),
    TOKEN_F("prefix", GW_F_STR, row.prefix),
    TOKEN_F("createdAt", GW_F_TIME, row.created_at),
    TOKEN_F("expiresAt", GW_F_TIME, row.expires_at),
    TOKEN_F("lastUsedAt", GW_F_TIME, row.last_used_at),
    TOKEN_F("secret", GW_F_STR, secret),
    GW_MUTATION("createApiToken", "token.create", false, create_api_token),
    GW_MUTATION("revokeApiToken", "token.revoke", false, revoke_api_token),
};
const size_t gw_api_tokens_nbinds = ARRAY_LEN(gw_api_tokens_binds);
