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
#include "gateway/gateway.h"
#include "gql/gql.h"
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
    bool is_operator;           /* a platform operator (users.operator) */
};
struct gw_user {
    const char *id, *email, *name, *avatar_url, *password_hash;
    const char *personal_workspace; /* id of the user's personal workspace */
    int64_t created_at;
    bool disabled;
    /* A platform operator: may see and steer what belongs to the platform rather than to a
     * workspace (the workflows of /api/flows). The first-run administrator and the users of
     * `slipway admin create` are; a database older than the column made its earliest user one. */
    bool is_operator;
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
/* What the per-request check needs (gw_caller_load), read in one statement: <user>, every
 * workspace the user belongs to (oldest membership first, with the role held there) and, when
 * <family_id> ptr is not NULL, live_until: the expiry (ms) of one of that session's tokens of
 * <user> that are neither revoked nor expired at <now> (the first found, not always the
 * latest; 0 when there is none). Unless something is written, the session lives at least
 * until then. ERR_NOTFOUND when the user does not exist. */
struct gw_caller_row {
    struct gw_user user;
    struct gw_workspace *workspaces;
    size_t nworkspaces;
    int64_t live_until;
};
int gw_db_caller_get(struct store *s, struct arena *a, struct slice user, struct slice family_id,
                     int64_t now, struct gw_caller_row *out, struct err *err) APP_MUST_CHECK;

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
    const char *id;                           /* NULL = a new one */
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

struct gw_events;
struct store_watch;

struct gw {
    struct store *store;  /* borrowed */
    struct pool *workers; /* borrowed */
    struct gw_cfg cfg;    /* a copy; its one string (dashboard_dir) is read at start only */
    char *issuer;         /* owned */
    struct auth_keyring *ring;
    struct gw_limiter *login_limit;
    pthread_key_t vcache_key; /* each loop thread's struct auth_vcache, freed at thread exit */
    bool vcache_key_made;
    int64_t key_max_age_ms;
    char current_kid[AUTH_KID_LEN + 1]; /* the signing key; start-up and gw_maintain() only */
    int64_t current_since_ms;
    /* GraphQL */
    struct gql_schema *schema; /* built and bound at gw_new(), read-only afterwards */
    struct gql_limits limits;
    pthread_key_t gql_cache_key; /* each loop thread's struct gql_cache, freed at thread exit */
    bool gql_cache_key_made;
    struct gw_events *events; /* audit entries and access changes, to subscribers' loops */
    /* The caller cache (caller-cache.c): NULL watch = off (PostgreSQL) */
    struct store_watch *watch;
    pthread_key_t ccache_key; /* each loop thread's struct gw_ccache, freed at thread exit */
    bool ccache_key_made;
    /* Workflows (http-flows.c): the engine on <store>, borrowed (NULL: none, /api/flows
     * answers 503), and how many log reads wait on the pool now (at most half the workers). */
    struct flow *flow;
    atomic_uint flow_waiters;
    struct reg *reg; /* the built-in registry, borrowed (NULL: no /v2/ routes) */
    /* The packager (gw_set_pkg()), borrowed; NULL: it does not run here, and what needs it
     * (projects, /git, /api/eject) answers 503. */
    struct pkg *pkg;
    atomic_uint git_running; /* git http-backend runs on the pool now (http-git.c) */
    /* The builder (gw_set_bld()), borrowed; NULL: it does not run here (detectServices
     * answers UNAVAILABLE). */
    struct bld_svc *bld;
    /* The deployer (gw_set_dep()), borrowed; NULL: nothing runs apps here (deploys fail in
     * DEPLOYING with UNAVAILABLE, statuses read UNKNOWN). */
    struct dep *dep;
    char *registry_host; /* where builds push and the deployer pulls ("127.0.0.1:8080") */
    int ingress_port;    /* the ingress's port, for service references; 0: none */
    /* Platform domains are made under it; custom domains' CNAME target (platformConfig). NULL:
     * "localhost". Owned. */
    char *workload_domain;
    struct gw_dashboard *dash; /* the dashboard's route (http-dashboard.c), owned */
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
/* Who is calling. Filled in two steps: gw_authn_begin() (or gw_authn_token()) on the loop
 * (reads the credential, checks a JWT's signature through the thread's verified-token cache),
 * then gw_caller_load() in the handler's work on the pool (a PAT's lookup, a JWT session's
 * liveness), or gw_ccache_load() on the loop. */
struct gw_authn {
    enum gw_cred kind;
    struct auth_claims claims;        /* GW_CRED_JWT */
    char pat_hash[AUTH_HASH_HEX + 1]; /* GW_CRED_PAT */
    const char *user_id;              /* after gw_caller_load(), in its arena */
    const char *session;              /* the refresh family (JWT), or NULL (PAT) */
    int64_t live_until; /* JWT, after gw_caller_load(): the session lives until then (ms) */
};
/* Loop only. Takes "Authorization: Bearer <jwt>", "Bearer slp_…" (a personal access token)
 * or else the slipway_access cookie. 0, or ERR_UNAUTHENTICATED saying why (never quoting
 * the token): answer it with gw_respond_unauthenticated(). */
int gw_authn_begin(struct gw *g, struct http_req *req, struct gw_authn *out,
                   struct err *err) APP_MUST_CHECK;
/* Loop only. gw_authn_begin() for a bearer token that came another way (a WebSocket's
 * connection_init); <token> ptr NULL is "no credential". */
int gw_authn_token(struct gw *g, struct slice token, struct gw_authn *out,
                   struct err *err) APP_MUST_CHECK;
/* True when <req> carries a credential at all (an Authorization header or the access cookie). */
bool gw_authn_present(struct http_req *req);
/* 401 with WWW-Authenticate: Bearer and <err>'s message (any other code: http_respond_err). */
void gw_respond_unauthenticated(struct http_req *req, const struct err *err);
/* The verified-token cache of the calling thread (made on first use). */
struct auth_vcache *gw_vcache(struct gw *g);

/* Adds /api/flows (http-flows.c): the workflows of g->flow, for platform operators. */
int gw_flow_routes_add(struct gw *g, struct http_router *r, struct err *err) APP_MUST_CHECK;
/* Adds GET /api/eject/{project} (http-eject.c): a project's tar.gz for any member. */
int gw_eject_routes_add(struct gw *g, struct http_router *r, struct err *err) APP_MUST_CHECK;
/* Adds /git (http-git.c): the packager's repositories over git smart HTTP, read-only. */
int gw_git_routes_add(struct gw *g, struct http_router *r, struct err *err) APP_MUST_CHECK;
/* Adds the dashboard (http-dashboard.c): the router's fallback GET route, serving
 * cfg.dashboard_dir; its state is g->dash. */
struct gw_dashboard;
int gw_dashboard_routes_add(struct gw *g, struct http_router *r, struct err *err) APP_MUST_CHECK;
void gw_dashboard_free(struct gw_dashboard *d);
/* Adds the /auth routes and /.well-known/jwks.json (http-auth.c). */
int gw_auth_routes_add(struct gw *g, struct http_router *r, struct err *err) APP_MUST_CHECK;
/* Appends an audit entry, logging (not failing) when the store refuses. Worker only. */
void gw_audit(struct gw *g, struct slice actor, const char *action, struct slice target,
              enum gw_outcome outcome, const char *detail_json);
/* gw_audit() in workspace <ws> (ptr NULL: none); once written, the entry also goes to the
 * workspace's subscribers (events.c). */
void gw_audit_ws(struct gw *g, struct slice actor, struct slice ws, const char *action,
                 struct slice target, enum gw_outcome outcome, const char *detail_json);

/* ---------------------------------------------------------------- the caller cache
 * Who called, kept per event loop (caller-cache.c), so that a request whose caller was loaded
 * before is answered without the worker pool or the store. An entry holds only while nothing
 * at all has been committed to the gateway's database since it was read: the database's
 * stamp (store_watch_read) is compared on every use. Every commit changes it (SQLite's WAL index,
 * shared by every connection of every process), so a write through this gateway, by
 * `slipway admin create` or by hand is seen by the very next request. PostgreSQL has no such
 * version (several gateways may share the database): there is no watch, and every request
 * asks the store. See docs/auth.md, "Sessions". */

/* Entries each loop keeps, and the most bytes one may take (a user with so many workspaces
 * that it would take more is loaded from the store every time): at most 16 MiB per loop,
 * about 0.5 KiB an entry for a user with a few workspaces. */
#define GW_CCACHE_SETS      256
#define GW_CCACHE_WAYS      4
#define GW_CCACHE_ENTRY_MAX (16u << 10)
struct gw_ccache;
struct gw_caller;
/* Loop only. When this loop keeps the session of c->who (a JWT; PATs are always looked up),
 * the database is unchanged since it was read and the session still lives: fills <c> as
 * gw_caller_load() would (in <a>, with the membership of <ws>) and returns true with *rc 0,
 * ERR_FORBIDDEN or ERR_LIMIT (in <err>). false: ask gw_caller_load() on the pool. */
bool gw_ccache_load(struct gw *g, struct gw_caller *c, struct arena *a, struct slice ws, int *rc,
                    struct err *err);
/* Loop only. Keeps what gw_caller_load() found for <c> (when it succeeded, for a JWT). */
void gw_ccache_put(struct gw *g, const struct gw_caller *c);
/* Start-up: makes the thread-specific key of the loops' caches. */
int gw_ccache_setup(struct gw *g, struct err *err) APP_MUST_CHECK;
/* The cache of the calling thread (made on first use); NULL when caching is off. */
struct gw_ccache *gw_ccache(struct gw *g);
void gw_ccache_free(struct gw_ccache *cc);
/* Picks the active workspace of <c> among c->workspaces: <ws>, or the personal one when <ws>
 * ptr is NULL; sets c->workspace (an id of the list), c->role and c->authenticated, or fails
 * with ERR_FORBIDDEN. */
int gw_caller_pick(struct gw_caller *c, struct slice ws, struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- the caller of an API request */

/* Who calls the API, in which workspace: the credential of gw_authn_begin(), then what
 * gw_caller_load() found on the worker. Strings live in the arena given to gw_caller_load(). */
struct gw_caller {
    struct gw *g;
    bool authenticated; /* false: an introspection-only document sent without a credential */
    struct gw_authn who;
    struct gw_user user;   /* user.is_operator: may use /api/flows (see gw_user) */
    const char *workspace; /* the active workspace's id */
    enum gw_role role;     /* the caller's role there */
    /* Every workspace the user belongs to, oldest membership first, with the role held in
     * each: read with the membership, and what Query.workspace(s) and User.workspaces answer. */
    const struct gw_workspace *workspaces;
    size_t nworkspaces;
    struct store_stamp ver; /* the database before gw_caller_load() read it (the cache's stamp) */
    bool cached;            /* loaded from this loop's caller cache, not from the store */
    /* Set by a transport that runs subscriptions: ends the stream of the operation <owner>
     * with <err>, or completes it when <err> is NULL (on the owner's loop, from a subscription
     * source). NULL elsewhere. */
    void (*stream_end)(void *owner, const struct err *err);
    void *stream_owner;
};
/* Worker only. Finishes the authentication of c->who (a PAT must exist and be valid; a JWT's
 * session must be alive: not logged out, not revoked by refresh-token reuse), loads the user
 * (gone or disabled: ERR_UNAUTHENTICATED) and their workspaces, and checks the membership of <ws>
 * (ptr NULL: the user's personal workspace): ERR_FORBIDDEN "not a member of workspace <ws>".
 * Fills the rest of <c> in <a>. The check the REST routes and both GraphQL transports share,
 * on every request and every subscribe; gw_ccache_load() answers the same from memory when it
 * can, and gw_ccache_put() keeps what this found. */
int gw_caller_load(struct gw_caller *c, struct arena *a, struct slice ws,
                   struct err *err) APP_MUST_CHECK;
/* The X-Slipway-Workspace header of <req> (SLICE_NULL when absent); ERR_INVALID naming the
 * header when it cannot be a workspace id. */
int gw_workspace_header(struct http_req *req, struct slice *out, struct err *err) APP_MUST_CHECK;

/* ================================================================ GraphQL
 * api.c builds the schema from the SDL compiled in and binds the resolvers of api-*.c;
 * graphql.c prepares documents (per-loop cache) and writes errors; graphql-http.c and
 * graphql-ws.c are the transports; events.c carries audit entries to subscriptions. */

/* The .graphql files of schema/, compiled in by scripts/embed (the Makefile's $(B)/gen/schema.c).
 */
extern const struct embedded_file gw_schema_files[];
extern const size_t gw_schema_nfiles;

/* Builds g->schema from gw_schema_files, binds every resolver and checks that no root field
 * was left without one. Start-up only. */
int gw_api_new(struct gw *g, struct err *err) APP_MUST_CHECK;
void gw_api_free(struct gw *g);
/* The same for tests: a schema from <src>, bound, in *out (gql_schema_free()). */
int gw_api_schema_build(const struct gql_source *src, size_t n, struct gql_schema **out,
                        struct err *err) APP_MUST_CHECK;

/* Binding tables of the api-*.c files, applied by api.c. A field either has its own resolver
 * or reads a member of the C struct its parent points to (GQL_V_PTR). */
enum gw_fkind {
    GW_F_FN,      /* <fn> */
    GW_F_STR,     /* const char * at <off>; NULL gives null */
    GW_F_BOOL,    /* bool at <off> */
    GW_F_INT,     /* int64_t at <off>, as Int (the schema's Int must hold it) */
    GW_F_TIME,    /* int64_t Unix ms at <off>, as Time; 0 gives null */
    GW_F_ROLE,    /* enum gw_role at <off>, as WorkspaceRole */
    GW_F_OUTCOME, /* const char * "ok"/"denied"/"error" at <off>, as AuditOutcome */
};
struct gw_field_bind {
    const char *type, *field;
    enum gw_fkind kind;
    size_t off;
    gql_resolve_fn *fn;
    gql_subscribe_fn *subscribe;
    unsigned flags;    /* GQL_BLOCKING */
    const void *udata; /* GW_F_FN: gql_rctx_udata() (the others get this entry) */
};
extern const struct gw_field_bind gw_api_identity_binds[];
extern const size_t gw_api_identity_nbinds;
extern const struct gw_field_bind gw_api_members_binds[];
extern const size_t gw_api_members_nbinds;
extern const struct gw_field_bind gw_api_tokens_binds[];
extern const size_t gw_api_tokens_nbinds;
extern const struct gw_field_bind gw_api_audit_binds[];
extern const size_t gw_api_audit_nbinds;
extern const struct gw_field_bind gw_api_projects_binds[];
extern const size_t gw_api_projects_nbinds;
extern const struct gw_field_bind gw_api_builds_binds[];
extern const size_t gw_api_builds_nbinds;
extern const struct gw_field_bind gw_api_deploys_binds[];
extern const size_t gw_api_deploys_nbinds;
extern const struct gw_field_bind gw_api_services_binds[];
extern const size_t gw_api_services_nbinds;
extern const struct gw_field_bind gw_api_vars_binds[];
extern const size_t gw_api_vars_nbinds;

/* An Environment as its resolvers see it: api-projects.c makes them, api-services.c adds the
 * fields of schema/services.graphql. <id> is "<project id>/<name>". */
struct gw_env_v {
    const char *id, *name, *ns;
};
/* The slug argument <name> (of <in> when not NULL) as a C string in the request's arena:
 * ERR_INVALID naming <label> and the rule. *out NULL when absent and <optional>. */
int gw_api_slug_arg(struct gql_rctx *rc, const struct gql_val *in, const char *name,
                    const char *label, bool optional, const char **out,
                    struct err *err) APP_MUST_CHECK;
/* ERR_FORBIDDEN when the caller's active workspace is suspended (changes wait until resumed). */
int gw_api_require_active(const struct gw_caller *c, struct err *err) APP_MUST_CHECK;
/* What api-services.c and api-vars.c share. Which service (or environment: service NULL) an
 * operation is about; strings in the request's arena. */
struct gw_svc_target {
    const char *project, *env, *service;
};
struct pkg_call;
struct pkg_service_info;
/* The arguments projectId, environment and (with <want_service>) service, of <in> when not
 * NULL: ERR_INVALID naming the argument and its rule. */
int gw_svc_target_args(struct gql_rctx *rc, const struct gql_val *in, bool want_service,
                       struct gw_svc_target *t, struct err *err) APP_MUST_CHECK;
/* A packager call as the caller in the active workspace, for <project>. */
int gw_svc_call(struct gql_rctx *rc, struct gw_caller *c, const char *project, struct pkg_call *out,
                struct err *err) APP_MUST_CHECK;
/* <rc_> of a packager read of t's environment, its ERR_NOTFOUND naming what is missing. */
int gw_svc_env_found(int rc_, const struct gw_caller *c, const struct gw_svc_target *t,
                     struct err *err);
/* The services of t's environment, in name order, in the request's arena. */
int gw_svc_list(struct gql_rctx *rc, struct gw_caller *c, const struct gw_svc_target *t,
                struct pkg_service_info **out, size_t *n, struct err *err) APP_MUST_CHECK;
/* Service t->service; ERR_NOTFOUND naming it. */
int gw_svc_find(struct gql_rctx *rc, struct gw_caller *c, const struct gw_svc_target *t,
                const struct pkg_service_info **out, struct err *err) APP_MUST_CHECK;
/* Redeploys <si> with the image it runs (nothing when it never ran); a deploy that cannot
 * start is logged: the change is committed, the next deploy applies it. */
void gw_svc_redeploy(struct gw_caller *c, const struct gw_svc_target *t,
                     const struct pkg_service_info *si);
/* A copy of <s> in <a>; NULL for NULL (and when <a> is spent). */
const char *gw_svc_dup(struct arena *a, const char *s);
/* Service <service> of <project>/<env> of the caller's active workspace as a ServiceInstance
 * (api-services.c); ERR_NOTFOUND naming what is missing. */
int gw_api_service_value(struct gql_rctx *rc, struct gw_caller *c, const char *project,
                         const char *env, const char *service, struct gql_val *out,
                         struct err *err) APP_MUST_CHECK;

/* An internal token for a call to another service as the caller (api-projects.c): it names
 * the user (id, name, email), <ws> and <role> there; in <a>. */
int gw_internal_token(struct gw_caller *c, struct arena *a, const char *ws, enum gw_role role,
                      struct slice *out, struct err *err) APP_MUST_CHECK;
/* A packager call as the caller, for project <project_id> (may be NULL). ERR_UNAVAILABLE when
 * the packager does not run in this process. */
struct pkg_call;
int gw_pkg_call(struct gw_caller *c, struct arena *a, const char *ws, enum gw_role role,
                const char *project_id, struct pkg_call *out, struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- deploys (deploy.c)
 * A deploy is the durable workflow "deploy" on the gateway's flow engine: QUEUED, CLONING,
 * BUILDING, PUSHING (the builder's phases, for a deploy that builds), DEPLOYING (the commit to
 * the packager and the rollout by the deployer), then SUCCEEDED, FAILED or CANCELLED. Deploys
 * of one service run one at a time (the "deploys" queue, partitioned by service). Every step
 * signs a fresh internal token for the user who asked, so a deploy resumed after a crash acts
 * as that user. */
enum gw_deploy_kind {
    GW_DEPLOY_BUILD,    /* build the service's source at <git_ref>, then roll out */
    GW_DEPLOY_IMAGE,    /* roll out <image> ("host/repo@sha256:…" or "host/repo:tag") */
    GW_DEPLOY_REDEPLOY, /* roll the running digest out again (variables or scaling changed) */
    GW_DEPLOY_ROLLBACK, /* roll out the digest recorded for <tag> (no build) */
    GW_DEPLOY_PROMOTE,  /* roll out <from_env>'s digest in <env> (no build) */
};
struct gw_deploy_req {
    enum gw_deploy_kind kind;
    const char *project, *env, *service;
    const char *git_ref;  /* BUILD: NULL for the service's source.ref, else its default branch */
    const char *image;    /* IMAGE */
    const char *tag;      /* ROLLBACK */
    const char *from_env; /* PROMOTE */
};
/* Starts a deploy as caller <c> in its active workspace; <id> gets the run's id. The caller's
 * role must allow deploying. ERR_UNAVAILABLE when the flow engine or the packager is not here. */
int gw_deploy_start(struct gw_caller *c, const struct gw_deploy_req *r, char id[37],
                    struct err *err) APP_MUST_CHECK;

/* One deploy as DeployRun shows it (strings in the arena given). */
struct gw_deploy_run {
    const char *id, *phase, *build_id, *image_ref, *digest, *error;
    int64_t started_ms, finished_ms;
    const char *health;  /* SyncStatus of the rollout, NULL before DEPLOYING */
    const char *message; /* rolloutMessage */
    const char *project, *env, *service;
};
/* Deploy <id> of workspace <ws>. ERR_NOTFOUND also for another workspace's. */
int gw_deploy_get(struct gw *g, struct arena *a, const char *ws, const char *id,
                  struct gw_deploy_run *out, struct err *err) APP_MUST_CHECK;
/* The deploy of <project>/<env>/<service> of <ws> still in flight, *found false when none. */
int gw_deploy_active(struct gw *g, struct arena *a, const char *ws, const char *project,
                     const char *env, const char *service, struct gw_deploy_run *out, bool *found,
                     struct err *err) APP_MUST_CHECK;
/* Registers the "deploy" workflow and its queue on g->flow (gw_new, before the engine starts). */
int gw_deploy_register(struct gw *g, struct err *err) APP_MUST_CHECK;

/* What resolvers share (api.c). */
struct gw_caller *gw_api_caller(struct gql_rctx *rc);
/* ERR_FORBIDDEN "<what> needs the ADMIN role in workspace <ws>" unless the caller is ADMIN of
 * the active workspace. */
int gw_api_require_admin(const struct gw_caller *c, const char *what,
                         struct err *err) APP_MUST_CHECK;
/* The text argument <name> (of the input object <in> when not NULL, else of the field):
 * ERR_INVALID naming <label> unless 1..<max> bytes of UTF-8 without NUL or control
 * characters other than tab. *out ptr NULL when it is absent or null and <optional>. */
int gw_api_text(struct gql_rctx *rc, const struct gql_val *in, const char *name, const char *label,
                size_t max, bool optional, struct slice *out, struct err *err) APP_MUST_CHECK;
/* The enum argument WorkspaceRole <name> of <in>. */
int gw_api_role(const struct gql_val *in, const char *name, enum gw_role *out,
                struct err *err) APP_MUST_CHECK;
/* <ms> as a Time string in <a> (NULL when out of memory). */
const char *gw_api_time(struct arena *a, int64_t ms);
/* "RFC 3339 date-time with a zone" check of the Time scalar's input. */
bool gw_time_valid(struct slice s);
/* A value allocated in the request's arena: a copy of <size> bytes of <p> as GQL_V_PTR of
 * <type>. ERR_LIMIT when the arena is spent. */
int gw_api_ptr(struct gql_rctx *rc, const void *p, size_t size, const char *type,
               struct gql_val *out, struct err *err) APP_MUST_CHECK;
/* A list of <n> items of <size> bytes at <items>, each a GQL_V_PTR of <type>, in the arena. */
int gw_api_ptr_list(struct gql_rctx *rc, const void *items, size_t n, size_t size, const char *type,
                    struct gql_val *out, struct err *err) APP_MUST_CHECK;

/* Mutations: one resolver runs them all and audits each outcome (who, workspace, what,
 * outcome). <run> sets m->target (and m->workspace when it acts elsewhere than the active
 * workspace) as soon as it knows them, and m->detail for a success worth describing. */
struct gw_mut {
    struct slice target;
    struct slice workspace;
    const char *detail; /* JSON object, or NULL */
};
typedef int gw_mut_fn(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m,
                      struct gql_val *out, struct err *err);
struct gw_mutation {
    const char *action; /* audit action, "workspace.update" */
    bool admin;         /* ADMIN of the active workspace only */
    gw_mut_fn *run;
};
/* The resolver of every Mutation field: udata is its struct gw_mutation. */
int gw_api_mutate(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                  struct err *err);
/* clang-format off */
#define GW_MUTATION(f, act, adm, fn)                                                               \
    {"Mutation", (f), GW_F_FN, 0, gw_api_mutate, NULL, GQL_BLOCKING,                               \
     &(const struct gw_mutation){(act), (adm), (fn)}}
/* clang-format on */

/* ---------------------------------------------------------------- documents (graphql.c) */

/* Loop only. The prepared document for <text>: this loop's cache, else gql_prepare() with
 * g->limits (a valid document is then cached). On failure *errs lists why (in <a>) and the
 * return is the code of gql_prepare(). */
int gw_gql_prepare(struct gw *g, struct arena *a, struct slice text, struct gql_doc_ref **out,
                   struct gql_error **errs) APP_MUST_CHECK;
/* True when operation <name> (len 0: the only one) of <text> is a query selecting nothing but
 * __schema, __type and __typename at its root (through fragments too): what may run without
 * a credential. False for anything that does not parse. */
bool gw_gql_introspection_only(struct arena *a, struct slice text, struct slice name,
                               const struct gql_limits *lim);
/* A list of one error with <code> and <msg>, in <a>; NULL when <a> is spent. */
struct gql_error *gw_gql_error(struct arena *a, const char *code, const char *msg);
/* {"errors":[…]} for <errs>. */
void gw_gql_errors_response(struct sbuf *out, const struct gql_error *errs);
/* One error object {"message":<msg>,"extensions":{"code":<err_gql_code(code)>}} into <w>. */
void gw_gql_error_write(struct jw *w, int code, const char *msg);

/* What a GraphQL request carries, read from a JSON object (POST body, WebSocket subscribe
 * payload) or GET parameters. Slices point into <a> or into <vars>/<body> (kept alive by the
 * caller). ERR_INVALID naming the member and the rule. */
struct gw_gql_request {
    struct slice query;
    struct slice operation_name; /* ptr NULL: none given (gql_exec's "the only one") */
    json_t *variables;           /* a new reference (NULL when absent or null) */
};
int gw_gql_request_from_json(const json_t *obj, struct arena *a, struct gw_gql_request *out,
                             struct err *err) APP_MUST_CHECK;
/* Parses <text> (a GET's variables parameter) as a JSON object within <max> bytes. */
int gw_gql_variables_parse(struct slice text, size_t max, json_t **out,
                           struct err *err) APP_MUST_CHECK;

/* Media types of the GraphQL-over-HTTP transport. */
enum gw_media { GW_MEDIA_JSON, GW_MEDIA_GRAPHQL_JSON, GW_MEDIA_NONE };
/* What to answer with for an Accept header: application/graphql-response+json when it is
 * accepted, else application/json (also for no header and for the wildcards of any type and of
 * application); GW_MEDIA_NONE when neither is acceptable. q=0 refuses a type. */
enum gw_media gw_gql_accept(struct slice accept);
/* Whether a Content-Type names application/json (parameters such as charset allowed). */
bool gw_gql_content_is_json(struct slice content_type);

/* The routes: GET and POST /graphql (graphql-http.c, which hands GET with Upgrade: websocket
 * to graphql-ws.c). */
int gw_graphql_routes_add(struct gw *g, struct http_router *r, struct err *err) APP_MUST_CHECK;
/* graphql-transport-ws on <req> (an upgrade request). Answers it either way. */
void gw_graphql_ws_accept(struct gw *g, struct http_req *req);

/* ---------------------------------------------------------------- events (events.c)
 * Audit entries and changes of access, from the thread that wrote them (a worker) to the loops
 * whose subscriptions want them: each loop that has subscribers has a hub in a list that only
 * grows (pushed with compare-and-swap, freed with the gateway); a publisher copies the event
 * once per hub with subscribers and hands it over with ev_post(); the hub's own loop keeps its
 * subscriber list, so no lock is needed anywhere. */

enum gw_event_kind {
    GW_EV_AUDIT,  /* an audit entry was written */
    GW_EV_ACCESS, /* <user> (NULL: everyone) lost the workspace or a role in it */
};
struct gw_event {
    enum gw_event_kind kind;
    const char *workspace;
    const char *user;      /* GW_EV_ACCESS: NULL when the workspace is gone */
    enum gw_role role;     /* GW_EV_ACCESS: the role now (meaningless when removed) */
    bool removed;          /* GW_EV_ACCESS: no longer a member (or no workspace) */
    struct gw_audit audit; /* GW_EV_AUDIT */
};
struct gw_events *gw_events_new(void);
/* After every loop and worker that used it has stopped. NULL is fine. */
void gw_events_free(struct gw_events *hub);
/* Any thread. Delivers a copy of <e> to the subscribers of e->workspace, each on its loop. */
void gw_events_publish(struct gw_events *hub, const struct gw_event *e);
typedef void gw_event_fn(void *arg, const struct gw_event *e);
struct gw_sub;
/* Loop only: fn(arg, e) runs on this loop for the events of <workspace> published from now
 * on, until gw_events_unsubscribe(), which the same loop calls (also from inside fn). */
struct gw_sub *gw_events_subscribe(struct gw_events *hub, const char *workspace, gw_event_fn *fn,
                                   void *arg);
void gw_events_unsubscribe(struct gw_events *hub, struct gw_sub *s);

#endif
