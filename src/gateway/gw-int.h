/*
 * gateway, private: the identity data layer (users, workspaces, memberships, invitations,
 * refresh and API tokens, signing keys, login attempts, audit log) on top of store.
 *
 * Every gw_db_ call blocks (worker threads only) and runs in a transaction of its own. Text
 * inputs are slices: UTF-8 without NUL bytes and within the limits below, else ERR_INVALID
 * naming the field. A slice with ptr == NULL means "none" for the fields that may be NULL.
 * Results are NUL-terminated strings in the caller's arena <a> (valid until arena_free());
 * a NULL column gives a NULL pointer, a NULL time 0. Times are Unix milliseconds. Hashes and
 * PEMs are opaque text made by the auth module; nothing here hashes or signs.
 */
#ifndef SLIPWAY_GATEWAY_INT_H
#define SLIPWAY_GATEWAY_INT_H

#include <pthread.h>

#include "auth/auth.h"
#include "base/base.h"
#include "http/http.h"
#include "store/store.h"

/* Limits, in bytes. */
#define GW_EMAIL_MAX     254
#define GW_NAME_MAX      200
#define GW_URL_MAX       2048
#define GW_HASH_MAX      1024 /* password hashes (argon2id PHC strings) and token hashes */
#define GW_ID_MAX        64
#define GW_SLUG_MAX      63
#define GW_PREFIX_MAX    32
#define GW_PEM_MAX       (64 << 10)
#define GW_ACTION_MAX    200
#define GW_TARGET_MAX    1024
#define GW_DETAIL_MAX    (64 << 10)
#define GW_LOGIN_KEY_MAX 300

/* Login lockout: after GW_LOCK_AFTER failures within GW_LOCK_WINDOW_MS, each further failure
 * locks for GW_LOCK_BASE_MS doubled per failure past the threshold, at most GW_LOCK_MAX_MS. */
#define GW_LOCK_AFTER     5
#define GW_LOCK_WINDOW_MS (15 * 60 * 1000)
#define GW_LOCK_BASE_MS   (60 * 1000)
#define GW_LOCK_MAX_MS    (60 * 60 * 1000)
/* api_tokens.last_used_at is written at most this often per token. */
#define GW_TOKEN_TOUCH_MS (60 * 1000)

/* Applies the gateway's migrations (a no-op when they are applied already). */
int gw_db_migrate(struct store *s, struct err *err) APP_MUST_CHECK;
const struct store_migration *gw_db_migrations(size_t *n);

/* ---------------------------------------------------------------- users */

enum gw_role { GW_ROLE_USER, GW_ROLE_ADMIN };
const char *gw_role_name(enum gw_role r); /* "USER", "ADMIN" */

struct gw_user_new {
    struct slice email; /* stored lower-cased (ASCII); unique */
    struct slice name;
    struct slice avatar_url;    /* optional */
    struct slice password_hash; /* optional: none for OIDC-only users */
};
struct gw_user {
    const char *id, *email, *name, *avatar_url, *password_hash;
    const char *personal_workspace; /* id of the user's personal workspace */
    int64_t created_at;
    bool disabled;
};
/* Creates the user, a personal workspace and its ADMIN membership in one transaction.
 * ERR_CONFLICT "email … is taken". */
int gw_db_user_create(struct store *s, struct arena *a, const struct gw_user_new *in,
                      struct gw_user *out, struct err *err) APP_MUST_CHECK;
int gw_db_user_get(struct store *s, struct arena *a, struct slice id, struct gw_user *out,
                   struct err *err) APP_MUST_CHECK;
int gw_db_user_get_by_email(struct store *s, struct arena *a, struct slice email,
                            struct gw_user *out, struct err *err) APP_MUST_CHECK;
/* <hash> with ptr NULL clears the password (OIDC only from then on). */
int gw_db_user_set_password(struct store *s, struct slice id, struct slice hash,
                            struct err *err) APP_MUST_CHECK;
int gw_db_user_set_disabled(struct store *s, struct slice id, bool disabled,
                            struct err *err) APP_MUST_CHECK;
int gw_db_user_count(struct store *s, int64_t *n, struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- workspaces */

struct gw_workspace {
    const char *id, *name;
    bool personal, suspended;
    int64_t created_at;
    enum gw_role role; /* the user's role: gw_db_workspace_list_for_user() only */
};
/* true when <slug> matches ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ */
bool gw_slug_valid(struct slice slug);
/* A team workspace <id> (a slug) whose ADMIN is <creator>. ERR_CONFLICT when the id is taken,
 * ERR_NOTFOUND when the creator does not exist. */
int gw_db_workspace_create(struct store *s, struct slice id, struct slice name,
                           struct slice creator, struct err *err) APP_MUST_CHECK;
int gw_db_workspace_rename(struct store *s, struct slice id, struct slice name,
                           struct err *err) APP_MUST_CHECK;
int gw_db_workspace_set_suspended(struct store *s, struct slice id, bool suspended,
                                  struct err *err) APP_MUST_CHECK;
/* Deletes it with its memberships, invitations and workspace-bound refresh tokens (the audit
 * log stays). ERR_CONFLICT for a personal workspace. */
int gw_db_workspace_delete(struct store *s, struct slice id, struct err *err) APP_MUST_CHECK;
int gw_db_workspace_get(struct store *s, struct arena *a, struct slice id, struct gw_workspace *out,
                        struct err *err) APP_MUST_CHECK;
/* The workspaces <user> belongs to, oldest first, with the user's role. */
int gw_db_workspace_list_for_user(struct store *s, struct arena *a, struct slice user,
                                  struct gw_workspace **out, size_t *n,
                                  struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- memberships */

struct gw_member {
    const char *user_id, *email, *name;
    enum gw_role role;
    int64_t created_at;
};
/* The per-request check: <user>'s role in <ws>, ERR_FORBIDDEN when not a member (or the
 * workspace does not exist). */
int gw_db_member_role(struct store *s, struct slice ws, struct slice user, enum gw_role *role,
                      struct err *err) APP_MUST_CHECK;
/* ERR_CONFLICT for a personal workspace or an existing member, ERR_NOTFOUND for an unknown
 * workspace or user. */
int gw_db_member_add(struct store *s, struct slice ws, struct slice user, enum gw_role role,
                     struct err *err) APP_MUST_CHECK;
/* Both refuse to leave a workspace without an ADMIN: ERR_CONFLICT "workspace needs at least
 * one ADMIN". ERR_NOTFOUND when <user> is not a member. */
int gw_db_member_remove(struct store *s, struct slice ws, struct slice user,
                        struct err *err) APP_MUST_CHECK;
int gw_db_member_set_role(struct store *s, struct slice ws, struct slice user, enum gw_role role,
                          struct err *err) APP_MUST_CHECK;
/* Members of <ws>, oldest first. */
int gw_db_member_list(struct store *s, struct arena *a, struct slice ws, struct gw_member **out,
                      size_t *n, struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- invitations */

struct gw_invitation_new {
    struct slice workspace_id, email, token_hash, invited_by;
    enum gw_role role;
    int64_t expires_at;
};
struct gw_invitation {
    const char *id, *workspace_id, *email, *invited_by;
    enum gw_role role;
    int64_t created_at, expires_at, accepted_at;
};
/* ERR_CONFLICT for a personal workspace; *id_out (may be NULL) gets the id in <a>. */
int gw_db_invitation_create(struct store *s, struct arena *a, const struct gw_invitation_new *in,
                            const char **id_out, struct err *err) APP_MUST_CHECK;
/* Accepts the invitation whose token hashes to <token_hash> for <user>, whose email must be
 * the invited one, and makes the membership. ERR_NOTFOUND (unknown), ERR_CONFLICT (accepted
 * already, expired, or a member already), ERR_FORBIDDEN (another email). *ws_out (may be
 * NULL) gets the workspace id in <a>. */
int gw_db_invitation_accept(struct store *s, struct arena *a, struct slice token_hash,
                            struct slice user, int64_t now, const char **ws_out,
                            struct err *err) APP_MUST_CHECK;
/* Invitations of <ws>, newest first (accepted ones too). */
int gw_db_invitation_list(struct store *s, struct arena *a, struct slice ws,
                          struct gw_invitation **out, size_t *n, struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- refresh tokens */

struct gw_refresh {
    const char *token_hash, *family_id, *user_id, *workspace_id;
    int64_t created_at, expires_at, used_at, revoked_at;
};
/* Stores a token (token_hash, family_id, user_id, optional workspace_id, created_at,
 * expires_at of <in>; the rest is ignored). A token joining a family revoked already is
 * stored revoked. */
int gw_db_refresh_insert(struct store *s, const struct gw_refresh *in,
                         struct err *err) APP_MUST_CHECK;
/* Marks the token used and copies its row into *out. A token used before is reuse: the whole
 * family is revoked and ERR_FORBIDDEN "refresh token reused: session revoked" returned.
 * Unknown, expired or revoked: ERR_UNAUTHENTICATED. */
int gw_db_refresh_consume(struct store *s, struct arena *a, struct slice hash, int64_t now,
                          struct gw_refresh *out, struct err *err) APP_MUST_CHECK;
/* gw_db_refresh_consume() and the insert of its successor <new_hash> (same family, user and
 * workspace, expiring at <new_expires_at>) in one transaction. */
int gw_db_refresh_rotate(struct store *s, struct arena *a, struct slice hash, struct slice new_hash,
                         int64_t new_expires_at, int64_t now, struct gw_refresh *out,
                         struct err *err) APP_MUST_CHECK;
int gw_db_refresh_revoke_family(struct store *s, struct slice family_id, int64_t now,
                                struct err *err) APP_MUST_CHECK;
/* The token with <hash> (used, revoked or expired too). ERR_NOTFOUND when there is none. */
int gw_db_refresh_get(struct store *s, struct arena *a, struct slice hash, struct gw_refresh *out,
                      struct err *err) APP_MUST_CHECK;
/* *active: the session (refresh family) <family_id> of <user> still has a token that is
 * neither revoked nor expired at <now>, and the user is not disabled. */
int gw_db_session_active(struct store *s, struct slice family_id, struct slice user, int64_t now,
                         bool *active, struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- API tokens */

struct gw_api_token_new {
    struct slice user_id, name, token_hash, prefix;
    int64_t expires_at; /* 0 = never */
};
struct gw_api_token {
    const char *id, *user_id, *name, *prefix; /* never the hash */
    int64_t created_at, expires_at, last_used_at, revoked_at;
};
int gw_db_api_token_create(struct store *s, struct arena *a, const struct gw_api_token_new *in,
                           struct gw_api_token *out, struct err *err) APP_MUST_CHECK;
/* <user>'s tokens that are not revoked, newest first. */
int gw_db_api_token_list(struct store *s, struct arena *a, struct slice user,
                         struct gw_api_token **out, size_t *n, struct err *err) APP_MUST_CHECK;
/* ERR_NOTFOUND unless token <id> exists, belongs to <user> and is not revoked yet. */
int gw_db_api_token_revoke(struct store *s, struct slice id, struct slice user, int64_t now,
                           struct err *err) APP_MUST_CHECK;
/* The token with <hash>, not revoked, not expired, of a user not disabled; else
 * ERR_UNAUTHENTICATED. Touches last_used_at when it is GW_TOKEN_TOUCH_MS old. */
int gw_db_api_token_auth(struct store *s, struct arena *a, struct slice hash, int64_t now,
                         struct gw_api_token *out, struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- signing keys */

struct gw_signing_key {
    const char *kid, *private_pem;
    int64_t created_at, not_after;
    bool is_current;
};
/* <not_after> 0 = no end. Not current until gw_db_signing_key_set_current(). */
int gw_db_signing_key_add(struct store *s, struct slice kid, struct slice private_pem,
                          int64_t not_after, int64_t now, struct err *err) APP_MUST_CHECK;
/* Keys valid at <now> (not_after unset or later), newest first. */
int gw_db_signing_key_list(struct store *s, struct arena *a, int64_t now,
                           struct gw_signing_key **out, size_t *n, struct err *err) APP_MUST_CHECK;
/* Makes <kid> (valid at <now>) the only current key. ERR_NOTFOUND otherwise. */
int gw_db_signing_key_set_current(struct store *s, struct slice kid, int64_t now,
                                  struct err *err) APP_MUST_CHECK;
/* Ends <kid>'s validity at <now>; it stops being current. */
int gw_db_signing_key_retire(struct store *s, struct slice kid, int64_t now,
                             struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- login attempts */

/* <key> is "email:<email>" or "ip:<addr>". Records a failure; *locked_until gets the end of
 * the lock it caused, or 0. */
int gw_db_login_failure(struct store *s, struct slice key, int64_t now, int64_t *locked_until,
                        struct err *err) APP_MUST_CHECK;
int gw_db_login_success(struct store *s, struct slice key, struct err *err) APP_MUST_CHECK;
/* *until gets the end of the lock on <key> when it is later than <now>, else 0. */
int gw_db_login_locked(struct store *s, struct slice key, int64_t now, int64_t *until,
                       struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- audit log */

enum gw_outcome { GW_OUTCOME_OK, GW_OUTCOME_DENIED, GW_OUTCOME_ERROR };
struct gw_audit_new {
    int64_t at;                               /* 0 = now */
    struct slice actor_user_id, workspace_id; /* optional */
    struct slice action, target, detail;
    enum gw_outcome outcome;
};
struct gw_audit {
    const char *id, *actor_user_id, *workspace_id, *action, *target, *outcome, *detail;
    int64_t at;
};
int gw_db_audit_append(struct store *s, const struct gw_audit_new *in,
                       struct err *err) APP_MUST_CHECK;
/* At most <limit> (1..1000) entries of <ws>, newest first. */
int gw_db_audit_list(struct store *s, struct arena *a, struct slice ws, size_t limit,
                     struct gw_audit **out, size_t *n, struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- shared by db*.c */

/* ERR_INVALID naming <field> unless <v> is UTF-8 without NUL, 1..<max> bytes (0..<max> when
 * <optional>; a NULL ptr is always fine then). */
int gw_db_check_text(const char *field, struct slice v, size_t max, bool optional,
                     struct err *err) APP_MUST_CHECK;
/* One text field to check with gw_db_check_text(). */
struct gw_field {
    const char *name;
    struct slice value;
    size_t max;
    bool optional;
};
/* Checks <n> fields in order; the first failure names its field. */
int gw_db_check_fields(const struct gw_field *f, size_t n, struct err *err) APP_MUST_CHECK;
/* SV_TEXT, or SV_NULL for a NULL ptr. */
struct store_val gw_db_text_or_null(struct slice v);
/* Cell accessors: NULL / 0 for SQL NULL. */
const char *gw_db_str(const struct store_rows *r, size_t row, size_t col);
int64_t gw_db_int(const struct store_rows *r, size_t row, size_t col);
/* Commits <tx> when <rc> is 0, else rolls it back; returns the resulting code. */
int gw_db_finish(struct store_tx *tx, int rc, struct err *err);
/* Copies every row of <r> into a new array in <a> of <r>->nrows items of <size> bytes,
 * each filled by <fill>(<r>, row, item). *out is NULL when there are no rows. */
typedef void gw_db_fill_fn(const struct store_rows *r, size_t row, void *item);
int gw_db_rows_array(struct arena *a, const struct store_rows *r, size_t size, gw_db_fill_fn *fill,
                     void **out, size_t *n, struct err *err) APP_MUST_CHECK;
/* store_query() that turns "no row" into ERR_NOTFOUND with <what> as the message. */
int gw_db_query_row(struct store_tx *tx, struct arena *a, const char *sql,
                    const struct store_val *args, size_t nargs, const char *what,
                    struct store_rows **out, struct err *err) APP_MUST_CHECK;

/* ================================================================ the HTTP side
 * gateway.c (keys, first run), http-auth.c (the /auth routes), http-authn.c (who is calling),
 * http-util.c (cookies, bearer tokens, the login rate limiter). Handlers run on the request's
 * loop and never block; what blocks runs on g->workers. */

#define GW_BODY_MAX       (64 << 10)       /* request bodies of the auth routes */
#define GW_REFRESH_TTL_S  (30 * 24 * 3600) /* refresh tokens (and their cookie) */
#define GW_AUDIENCE       "slipway"
#define GW_COOKIE_ACCESS  "slipway_access"
#define GW_COOKIE_REFRESH "slipway_refresh"
#define GW_PASSWORD_LEN   20 /* generated one-time passwords */
#define GW_LIMITER_SLOTS  4096

/* A token bucket per client address, lock-free: each slot is one 64-bit word updated with
 * compare-and-swap, so every loop shares it without a lock. Addresses are hashed (seeded per
 * process) onto the slots; two addresses on one slot share a bucket, which only ever limits
 * sooner, never later. */
struct gw_limiter {
    uint64_t seed;
    uint32_t per_min, burst;
    _Atomic uint64_t slots[GW_LIMITER_SLOTS];
};

struct gw {
    struct store *store;  /* borrowed */
    struct pool *workers; /* borrowed */
    char *issuer;         /* owned */
    struct auth_keyring *ring;
    struct gw_limiter *login_limit;
    pthread_key_t vcache_key; /* each loop thread's struct auth_vcache, freed at thread exit */
    bool vcache_key_made;
    int64_t key_max_age_ms;
    char current_kid[AUTH_KID_LEN + 1]; /* the signing key; start-up and gw_maintain() only */
    int64_t current_since_ms;
};

/* One bucket packed in 64 bits: 40 bits of (time of the last take in ms + 1), 24 bits of tokens
 * in thousandths; 0 is a bucket never used (full). Returns the state after trying to take one
 * token at <now_ms> with <per_min> tokens a minute and at most <burst>; *ok says whether it
 * was taken, and when not, *retry_ms how long until one is there (the state is unchanged). */
uint64_t gw_bucket_take(uint64_t state, uint64_t now_ms, uint32_t per_min, uint32_t burst, bool *ok,
                        uint64_t *retry_ms);
void gw_limiter_init(struct gw_limiter *l, uint32_t per_min, uint32_t burst);
/* Takes a token for <key> (any thread). false with *retry_s (at least 1) when there is none. */
bool gw_limiter_take(struct gw_limiter *l, struct slice key, uint64_t now_ms, int64_t *retry_s);

/* The value of the cookie <name> in the Cookie header <hdr> ("a=1; b=2"), SLICE_NULL when it
 * is not there. A quoted value loses its quotes. */
struct slice gw_cookie_get(struct slice hdr, const char *name);
/* Appends a Set-Cookie value: <name>=<value>; Path=<path>; HttpOnly; SameSite=Lax;
 * Max-Age=<max_age>, and "; Secure" when <secure>. */
void gw_cookie_format(struct sbuf *out, const char *name, const char *value, const char *path,
                      int64_t max_age, bool secure);
/* The token of an Authorization header "Bearer <token>" (scheme case-insensitive, spaces
 * around trimmed); SLICE_NULL for another scheme or an empty token. */
struct slice gw_bearer_token(struct slice authorization);
/* ERR_INVALID naming <field> unless <email> is 1..GW_EMAIL_MAX bytes of UTF-8 shaped
 * name@domain without spaces or control characters: the rules gw_db_user_* apply. */
int gw_email_check(const char *field, struct slice email, struct err *err) APP_MUST_CHECK;
/* A random password of GW_PASSWORD_LEN letters and digits and a NUL. 0 or ERR_INTERNAL. */
int gw_password_generate(char out[GW_PASSWORD_LEN + 1], struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- authentication */

enum gw_cred { GW_CRED_NONE, GW_CRED_JWT, GW_CRED_PAT };
/* Who is calling. Filled in two steps: gw_authn_begin() on the loop (reads the credential,
 * checks a JWT's signature through the thread's verified-token cache), then gw_authn_finish()
 * in the handler's work on the pool (a PAT's lookup, a JWT session's liveness). */
struct gw_authn {
    enum gw_cred kind;
    struct auth_claims claims;        /* GW_CRED_JWT */
    char pat_hash[AUTH_HASH_HEX + 1]; /* GW_CRED_PAT */
    const char *user_id;              /* after gw_authn_finish(), in its arena */
    const char *session;              /* the refresh family (JWT), or NULL (PAT) */
};
/* Loop only. Takes "Authorization: Bearer <jwt>", "Bearer slp_…" (a personal access token)
 * or else the slipway_access cookie. 0, or ERR_UNAUTHENTICATED saying why (never quoting
 * the token): answer it with gw_respond_unauthenticated(). */
int gw_authn_begin(struct gw *g, struct http_req *req, struct gw_authn *out,
                   struct err *err) APP_MUST_CHECK;
/* Worker only (blocks). A PAT must exist and be valid; a JWT's session must be alive (not
 * logged out, not revoked by refresh-token reuse) and its user not disabled. 0,
 * ERR_UNAUTHENTICATED, or a store error. */
int gw_authn_finish(struct gw *g, struct arena *a, struct gw_authn *in,
                    struct err *err) APP_MUST_CHECK;
/* 401 with WWW-Authenticate: Bearer and <err>'s message (any other code: http_respond_err). */
void gw_respond_unauthenticated(struct http_req *req, const struct err *err);
/* The verified-token cache of the calling thread (made on first use). */
struct auth_vcache *gw_vcache(struct gw *g);

/* Adds the /auth routes and /.well-known/jwks.json (http-auth.c). */
int gw_auth_routes_add(struct gw *g, struct http_router *r, struct err *err) APP_MUST_CHECK;
/* Appends an audit entry, logging (not failing) when the store refuses. Worker only. */
void gw_audit(struct gw *g, struct slice actor, const char *action, struct slice target,
              enum gw_outcome outcome, const char *detail_json);

#endif
