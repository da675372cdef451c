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

#include "base/base.h"
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

#endif
