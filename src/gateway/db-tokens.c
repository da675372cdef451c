/*
 * gateway identity data layer: refresh tokens (rotation with reuse detection), API tokens,
 * signing keys, login attempts (lockout) and the audit log. See gw-int.h for the contracts.
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "gateway/gw-int.h"
#include "store/store.h"

/* ---------------------------------------------------------------- refresh tokens */

#define REFRESH_COLS                                                                               \
    "token_hash, family_id, user_id, workspace_id, created_at, expires_at, used_at, revoked_at"

static void refresh_from_row(const struct store_rows *r, struct gw_refresh *out)
{
    out->token_hash = gw_db_str(r, 0, 0);
    out->family_id = gw_db_str(r, 0, 1);
    out->user_id = gw_db_str(r, 0, 2);
    out->workspace_id = gw_db_str(r, 0, 3);
    out->created_at = gw_db_int(r, 0, 4);
    out->expires_at = gw_db_int(r, 0, 5);
    out->used_at = gw_db_int(r, 0, 6);
    out->revoked_at = gw_db_int(r, 0, 7);
}

static int refresh_check(const struct gw_refresh *in, struct err *err)
{
    const struct gw_field fields[] = {
        {"token_hash", slice_from_cstr(in->token_hash), GW_HASH_MAX, false},
        {"family_id", slice_from_cstr(in->family_id), GW_ID_MAX, false},
        {"user_id", slice_from_cstr(in->user_id), GW_ID_MAX, false},
        {"workspace_id", slice_from_cstr(in->workspace_id), GW_ID_MAX, true},
    };
    int rc = gw_db_check_fields(fields, ARRAY_LEN(fields), err);
    return rc;
}

/* A token joining a family that was revoked is born revoked (with the family's time). */
static int refresh_insert_in(struct store_tx *tx, const struct gw_refresh *in, struct err *err)
{
    struct store_val v[] = {
        SV_CSTR(in->token_hash), SV_CSTR(in->family_id),
        SV_CSTR(in->user_id),    in->workspace_id != NULL ? SV_CSTR(in->workspace_id) : SV_NULL,
        SV_INT(in->created_at),  SV_INT(in->expires_at),
        SV_CSTR(in->family_id)};
    int rc = store_exec(tx,
                        "INSERT INTO refresh_tokens (" REFRESH_COLS ") VALUES (?, ?, ?, ?, ?, ?,"
                        " NULL, (SELECT MIN(revoked_at) FROM refresh_tokens WHERE family_id = ?))",
                        v, ARRAY_LEN(v), NULL, err);

    if (rc == ERR_CONFLICT)
        return err_wrap(err, "refresh token (taken hash, or unknown user or workspace)");
    return rc;
}

int gw_db_refresh_insert(struct store *s, const struct gw_refresh *in, struct err *err)
{
    struct store_tx *tx;
    int rc = refresh_check(in, err);

    if (rc < 0 || (rc = store_begin(s, &tx, err)) < 0)
        return rc;
    return gw_db_finish(tx, refresh_insert_in(tx, in, err), err);
}

static int revoke_family_in(struct store_tx *tx, const char *family, int64_t now, struct err *err)
{
    struct store_val v[] = {SV_INT(now), SV_CSTR(family)};

    return store_exec(tx,
                      "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ?"
                      " AND revoked_at IS NULL",
                      v, ARRAY_LEN(v), NULL, err);
}

/* Why <hash> could not be consumed. Sets *commit when the family was revoked (reuse). */
static int refresh_refused(struct store_tx *tx, struct arena *a, struct slice hash, int64_t now,
                           bool *commit, struct err *err)
{
    struct store_rows *r;
    struct gw_refresh t;
    int rc = store_query(tx, a, "SELECT " REFRESH_COLS " FROM refresh_tokens WHERE token_hash = ?",
                         &SV_TEXT(hash), 1, &r, err);

    if (rc < 0)
        return rc;
    if (r->nrows == 0)
        return err_set(err, ERR_UNAUTHENTICATED, "refresh token unknown");
    refresh_from_row(r, &t);
    if (store_cell(r, 0, 6)->type != STORE_T_NULL) {
        if ((rc = revoke_family_in(tx, t.family_id, now, err)) < 0)
            return rc;
        *commit = true;
        return err_set(err, ERR_FORBIDDEN, "refresh token reused: session revoked");
    }
    if (store_cell(r, 0, 7)->type != STORE_T_NULL)
        return err_set(err, ERR_UNAUTHENTICATED, "refresh token revoked");
    return err_set(err, ERR_UNAUTHENTICATED, "refresh token expired");
}

static int refresh_consume_in(struct store_tx *tx, struct arena *a, struct slice hash, int64_t now,
                              struct gw_refresh *out, bool *commit, struct err *err)
{
    struct store_val v[] = {SV_INT(now), SV_TEXT(hash), SV_INT(now)};
    struct store_rows *r;
    int64_t changes = 0;
    int rc = store_exec(tx,
                        "UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ?"
                        " AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?",
                        v, ARRAY_LEN(v), &changes, err);

    if (rc < 0)
        return rc;
    if (changes == 0)
        return refresh_refused(tx, a, hash, now, commit, err);
    rc = gw_db_query_row(tx, a, "SELECT " REFRESH_COLS " FROM refresh_tokens WHERE token_hash = ?",
                         &SV_TEXT(hash), 1, "refresh token vanished", &r, err);
    if (rc == 0)
        refresh_from_row(r, out);
    return rc;
}

/* Ends <tx>: commits when <rc> is 0 or when <commit> asks to keep a revocation. */
static int refresh_finish(struct store_tx *tx, int rc, bool commit, struct err *err)
{
    struct err cerr = {0};
    int crc;

    if (rc == 0 || !commit)
        return gw_db_finish(tx, rc, err);
    crc = store_commit(tx, &cerr);
    if (crc < 0) {
        *err = cerr;
        return crc;
    }
    return rc;
}

int gw_db_refresh_consume(struct store *s, struct arena *a, struct slice hash, int64_t now,
                          struct gw_refresh *out, struct err *err)
{
    struct store_tx *tx;
    bool commit = false;
    int rc = gw_db_check_text("token_hash", hash, GW_HASH_MAX, false, err);

    if (rc < 0 || (rc = store_begin(s, &tx, err)) < 0)
        return rc;
    rc = refresh_consume_in(tx, a, hash, now, out, &commit, err);
    return refresh_finish(tx, rc, commit, err);
}

int gw_db_refresh_rotate(struct store *s, struct arena *a, struct slice hash, struct slice new_hash,
                         int64_t new_expires_at, int64_t now, struct gw_refresh *out,
                         struct err *err)
{
    struct store_tx *tx;
    bool commit = false;
    int rc;

    if ((rc = gw_db_check_text("token_hash", hash, GW_HASH_MAX, false, err)) < 0 ||
        (rc = gw_db_check_text("new_hash", new_hash, GW_HASH_MAX, false, err)) < 0 ||
        (rc = store_begin(s, &tx, err)) < 0)
        return rc;
    rc = refresh_consume_in(tx, a, hash, now, out, &commit, err);
    if (rc == 0) {
        char *nh = arena_strndup(a, new_hash.ptr, new_hash.len);
        struct gw_refresh next = {nh,  out->family_id, out->user_id, out->workspace_id,
                                  now, new_expires_at};
        rc = nh == NULL ? err_set(err, ERR_LIMIT, "new_hash does not fit in the arena")
                        : refresh_insert_in(tx, &next, err);
    }
    return refresh_finish(tx, rc, commit, err);
}

int gw_db_refresh_revoke_family(struct store *s, struct slice family_id, int64_t now,
                                struct err *err)
{
    struct store_val v[] = {SV_INT(now), SV_TEXT(family_id)};
    int rc = gw_db_check_text("family_id", family_id, GW_ID_MAX, false, err);

    if (rc < 0)
        return rc;
    return store_exec1(s,
                       "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ?"
                       " AND revoked_at IS NULL",
                       v, ARRAY_LEN(v), NULL, err);
}

/* ---------------------------------------------------------------- API tokens */

#define API_COLS                                                                                   \
    "t.id, t.user_id, t.name, t.prefix, t.created_at, t.expires_at, t.last_used_at, t.revoked_at"

static void api_from_row(const struct store_rows *r, size_t i, struct gw_api_token *out)
{
    out->id = gw_db_str(r, i, 0);
    out->user_id = gw_db_str(r, i, 1);
    out->name = gw_db_str(r, i, 2);
    out->prefix = gw_db_str(r, i, 3);
    out->created_at = gw_db_int(r, i, 4);
    out->expires_at = gw_db_int(r, i, 5);
    out->last_used_at = gw_db_int(r, i, 6);
    out->revoked_at = gw_db_int(r, i, 7);
}

static void api_fill(const struct store_rows *r, size_t row, void *item)
{
    api_from_row(r, row, item);
}

static int api_check(const struct gw_api_token_new *in, struct err *err)
{
    const struct gw_field fields[] = {
        {"user_id", in->user_id, GW_ID_MAX, false},
        {"name", in->name, GW_NAME_MAX, false},
        {"token_hash", in->token_hash, GW_HASH_MAX, false},
        {"prefix", in->prefix, GW_PREFIX_MAX, false},
    };
    int rc = gw_db_check_fields(fields, ARRAY_LEN(fields), err);

    if (rc == 0 && in->expires_at < 0)
        rc = err_set(err, ERR_INVALID, "expires_at must not be negative");
    return rc;
}

int gw_db_api_token_create(struct store *s, struct arena *a, const struct gw_api_token_new *in,
                           struct gw_api_token *out, struct err *err)
{
    struct store_rows *r;
    struct store_tx *tx;
    char id[37];
    int rc = api_check(in, err);

    if (rc < 0)
        return rc;
    id_new(id);
    struct store_val v[] = {SV_CSTR(id),
                            SV_TEXT(in->user_id),
                            SV_TEXT(in->name),
                            SV_TEXT(in->token_hash),
                            SV_TEXT(in->prefix),
                            SV_INT(time_wall_ms()),
                            in->expires_at > 0 ? SV_INT(in->expires_at) : SV_NULL};
    if ((rc = store_begin(s, &tx, err)) < 0)
        return rc;
    rc = gw_db_query_row(tx, a, "SELECT 1 FROM users WHERE id = ?", &SV_TEXT(in->user_id), 1,
                         "user_id: user not found", &r, err);
    if (rc == 0)
        rc = store_exec(tx,
                        "INSERT INTO api_tokens (id, user_id, name, token_hash, prefix,"
                        " created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        v, ARRAY_LEN(v), NULL, err);
    if (rc == ERR_CONFLICT)
        rc = err_set(err, ERR_CONFLICT, "token_hash is taken");
    if (rc == 0)
        rc = gw_db_query_row(tx, a, "SELECT " API_COLS " FROM api_tokens t WHERE t.id = ?",
                             &SV_CSTR(id), 1, "API token vanished", &r, err);
    if (rc == 0)
        api_from_row(r, 0, out);
    return gw_db_finish(tx, rc, err);
}

int gw_db_api_token_list(struct store *s, struct arena *a, struct slice user,
                         struct gw_api_token **out, size_t *n, struct err *err)
{
    struct store_rows *r;
    int rc = gw_db_check_text("user", user, GW_ID_MAX, false, err);

    *out = NULL;
    *n = 0;
    if (rc == 0)
        rc = store_query1(s, a,
                          "SELECT " API_COLS " FROM api_tokens t WHERE t.user_id = ?"
                          " AND t.revoked_at IS NULL ORDER BY t.created_at DESC, t.id DESC",
                          &SV_TEXT(user), 1, &r, err);
    if (rc < 0)
        return rc;
    return gw_db_rows_array(a, r, sizeof(**out), api_fill, (void **)out, n, err);
}

int gw_db_api_token_revoke(struct store *s, struct slice id, struct slice user, int64_t now,
                           struct err *err)
{
    struct store_val v[] = {SV_INT(now), SV_TEXT(id), SV_TEXT(user)};
    int64_t changes = 0;
    int rc;

    if ((rc = gw_db_check_text("id", id, GW_ID_MAX, false, err)) < 0 ||
        (rc = gw_db_check_text("user", user, GW_ID_MAX, false, err)) < 0)
        return rc;
    rc = store_exec1(s,
                     "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND user_id = ?"
                     " AND revoked_at IS NULL",
                     v, ARRAY_LEN(v), &changes, err);
    if (rc == 0 && changes == 0)
        rc = err_set(err, ERR_NOTFOUND, "API token not found");
    return rc;
}

int gw_db_api_token_auth(struct store *s, struct arena *a, struct slice hash, int64_t now,
                         struct gw_api_token *out, struct err *err)
{
    struct store_val q[] = {SV_TEXT(hash), SV_INT(now)};
    struct store_rows *r;
    int rc = gw_db_check_text("token_hash", hash, GW_HASH_MAX, false, err);

    if (rc == 0)
        rc = store_query1(s, a,
                          "SELECT " API_COLS " FROM api_tokens t JOIN users u ON u.id = t.user_id"
                          " WHERE t.token_hash = ? AND t.revoked_at IS NULL"
                          " AND (t.expires_at IS NULL OR t.expires_at > ?) AND u.disabled = 0",
                          q, ARRAY_LEN(q), &r, err);
    if (rc < 0)
        return rc;
    if (r->nrows == 0)
        return err_set(err, ERR_UNAUTHENTICATED, "API token is not valid");
    api_from_row(r, 0, out);
    if (out->last_used_at > now - GW_TOKEN_TOUCH_MS)
        return 0;
    /* At most one write a minute per token; the condition keeps racing requests to one. */
    struct store_val u[] = {SV_INT(now), SV_CSTR(out->id), SV_INT(now - GW_TOKEN_TOUCH_MS)};
    rc = store_exec1(s,
                     "UPDATE api_tokens SET last_used_at = ? WHERE id = ?"
                     " AND (last_used_at IS NULL OR last_used_at <= ?)",
                     u, ARRAY_LEN(u), NULL, err);
    if (rc == 0)
        out->last_used_at = now;
    return rc;
}

/* ---------------------------------------------------------------- signing keys */

int gw_db_signing_key_add(struct store *s, struct slice kid, struct slice private_pem,
                          int64_t not_after, int64_t now, struct err *err)
{
    struct store_val v[] = {SV_TEXT(kid), SV_TEXT(private_pem), SV_INT(now),
                            not_after > 0 ? SV_INT(not_after) : SV_NULL};
    int rc;

    if ((rc = gw_db_check_text("kid", kid, GW_NAME_MAX, false, err)) < 0 ||
        (rc = gw_db_check_text("private_pem", private_pem, GW_PEM_MAX, false, err)) < 0)
        return rc;
    rc = store_exec1(s,
                     "INSERT INTO signing_keys (kid, private_pem, created_at, not_after,"
                     " is_current) VALUES (?, ?, ?, ?, 0)",
                     v, ARRAY_LEN(v), NULL, err);
    if (rc == ERR_CONFLICT)
        rc = err_set(err, ERR_CONFLICT, "kid is taken");
    return rc;
}

static void signing_key_fill(const struct store_rows *r, size_t i, void *item)
{
    struct gw_signing_key *k = item;

    k->kid = gw_db_str(r, i, 0);
    k->private_pem = gw_db_str(r, i, 1);
    k->created_at = gw_db_int(r, i, 2);
    k->not_after = gw_db_int(r, i, 3);
    k->is_current = gw_db_int(r, i, 4) != 0;
}

int gw_db_signing_key_list(struct store *s, struct arena *a, int64_t now,
                           struct gw_signing_key **out, size_t *n, struct err *err)
{
    struct store_rows *r;
    int rc = store_query1(s, a,
                          "SELECT kid, private_pem, created_at, not_after, is_current"
                          " FROM signing_keys WHERE not_after IS NULL OR not_after > ?"
                          " ORDER BY created_at DESC, kid DESC",
                          &SV_INT(now), 1, &r, err);

    *n = 0;
    if (rc < 0)
        return rc;
    return gw_db_rows_array(a, r, sizeof(**out), signing_key_fill, (void **)out, n, err);
}

int gw_db_signing_key_set_current(struct store *s, struct slice kid, int64_t now, struct err *err)
{
    struct store_val v[] = {SV_TEXT(kid), SV_INT(now)};
    struct store_tx *tx;
    int64_t changes = 0;
    int rc = gw_db_check_text("kid", kid, GW_NAME_MAX, false, err);

    if (rc < 0 || (rc = store_begin(s, &tx, err)) < 0)
        return rc;
    rc = store_exec(tx, "UPDATE signing_keys SET is_current = 0 WHERE is_current = 1", NULL, 0,
                    NULL, err);
    if (rc == 0)
        rc = store_exec(tx,
                        "UPDATE signing_keys SET is_current = 1 WHERE kid = ?"
                        " AND (not_after IS NULL OR not_after > ?)",
                        v, ARRAY_LEN(v), &changes, err);
    if (rc == 0 && changes == 0)
        rc = err_set(err, ERR_NOTFOUND, "kid: no valid signing key with this id");
    return gw_db_finish(tx, rc, err);
}

int gw_db_signing_key_retire(struct store *s, struct slice kid, int64_t now, struct err *err)
{
    struct store_val v[] = {SV_INT(now), SV_TEXT(kid)};
    int64_t changes = 0;
    int rc = gw_db_check_text("kid", kid, GW_NAME_MAX, false, err);

    if (rc == 0)
        rc = store_exec1(s, "UPDATE signing_keys SET not_after = ?, is_current = 0 WHERE kid = ?",
                         v, ARRAY_LEN(v), &changes, err);
    if (rc == 0 && changes == 0)
        rc = err_set(err, ERR_NOTFOUND, "kid: signing key not found");
    return rc;
}

/* ---------------------------------------------------------------- login attempts */

static int check_login_key(struct slice key, struct err *err)
{
    int rc = gw_db_check_text("key", key, GW_LOGIN_KEY_MAX, false, err);

    if (rc == 0 && !slice_starts_with(key, SLICE("email:")) &&
        !slice_starts_with(key, SLICE("ip:")))
        rc = err_set(err, ERR_INVALID, "key must start with \"email:\" or \"ip:\"");
    return rc;
}

/* The lock a key earns with <failures> failures in a window. */
static int64_t lock_ms(int64_t failures)
{
    int64_t ms = GW_LOCK_BASE_MS;
    int64_t i;

    if (failures < GW_LOCK_AFTER)
        return 0;
    for (i = GW_LOCK_AFTER; i < failures && ms < GW_LOCK_MAX_MS; i++)
        ms *= 2;
    return ms < GW_LOCK_MAX_MS ? ms : GW_LOCK_MAX_MS;
}

int gw_db_login_failure(struct store *s, struct slice key, int64_t now, int64_t *locked_until,
                        struct err *err)
{
    int64_t old = now - GW_LOCK_WINDOW_MS, lock;
    struct store_val v[] = {SV_TEXT(key), SV_INT(now), SV_INT(old), SV_INT(old),
                            SV_INT(old),  SV_INT(old), SV_INT(now)};
    struct arena *a;
    struct store_rows *r;
    struct store_tx *tx;
    int rc = check_login_key(key, err);

    *locked_until = 0;
    if (rc < 0 || (rc = store_begin(s, &tx, err)) < 0)
        return rc;
    /* A window starts afresh once the first failure and the last lock are a window old. */
    rc = store_exec(tx,
                    "INSERT INTO login_attempts (key, failures, first_failure_at, locked_until)"
                    " VALUES (?, 1, ?, 0) ON CONFLICT (key) DO UPDATE SET failures = CASE"
                    " WHEN login_attempts.first_failure_at <= ? AND login_attempts.locked_until"
                    " <= ? THEN 1 ELSE login_attempts.failures + 1 END, first_failure_at = CASE"
                    " WHEN login_attempts.first_failure_at <= ? AND login_attempts.locked_until"
                    " <= ? THEN ? ELSE login_attempts.first_failure_at END",
                    v, ARRAY_LEN(v), NULL, err);
    a = arena_new(NULL);
    if (rc == 0)
        rc = gw_db_query_row(tx, a, "SELECT failures FROM login_attempts WHERE key = ?",
                             &SV_TEXT(key), 1, "login attempt vanished", &r, err);
    if (rc == 0 && (lock = lock_ms(gw_db_int(r, 0, 0))) > 0) {
        struct store_val u[] = {SV_INT(now + lock), SV_TEXT(key)};
        rc = store_exec(tx, "UPDATE login_attempts SET locked_until = ? WHERE key = ?", u,
                        ARRAY_LEN(u), NULL, err);
        *locked_until = rc == 0 ? now + lock : 0;
    }
    arena_free(a);
    return gw_db_finish(tx, rc, err);
}

int gw_db_login_success(struct store *s, struct slice key, struct err *err)
{
    int rc = check_login_key(key, err);

    if (rc < 0)
        return rc;
    return store_exec1(s, "DELETE FROM login_attempts WHERE key = ?", &SV_TEXT(key), 1, NULL, err);
}

int gw_db_login_locked(struct store *s, struct slice key, int64_t now, int64_t *until,
                       struct err *err)
{
    struct store_rows *r;
    struct arena *a;
    int rc = check_login_key(key, err);

    *until = 0;
    if (rc < 0)
        return rc;
    a = arena_new(NULL);
    rc = store_query1(s, a, "SELECT locked_until FROM login_attempts WHERE key = ?", &SV_TEXT(key),
                      1, &r, err);
    if (rc == 0 && r->nrows == 1 && gw_db_int(r, 0, 0) > now)
        *until = gw_db_int(r, 0, 0);
    arena_free(a);
    return rc;
}

/* ---------------------------------------------------------------- audit log */

static const char *const outcome_names[] = {"ok", "denied", "error"};

static int audit_check(const struct gw_audit_new *in, struct err *err)
{
    const struct gw_field fields[] = {
        {"id", in->id ? slice_from_cstr(in->id) : SLICE_NULL, 36, true},
        {"actor_user_id", in->actor_user_id, GW_ID_MAX, true},
        {"workspace_id", in->workspace_id, GW_ID_MAX, true},
        {"action", in->action, GW_ACTION_MAX, false},
        {"target", in->target, GW_TARGET_MAX, true},
        {"detail", in->detail, GW_DETAIL_MAX, true},
    };
    int rc = gw_db_check_fields(fields, ARRAY_LEN(fields), err);

    if (rc == 0 && (unsigned)in->outcome >= ARRAY_LEN(outcome_names))
        rc = err_set(err, ERR_INVALID, "outcome must be ok, denied or error");
    return rc;
}

static struct slice text_or_empty(struct slice s)
{
    return s.ptr == NULL ? SLICE("") : s;
}

int gw_db_audit_append(struct store *s, const struct gw_audit_new *in, struct err *err)
{
    char id[37];
    int rc = audit_check(in, err);

    if (rc < 0)
        return rc;
    if (in->id != NULL)
        snprintf(id, sizeof(id), "%s", in->id);
    else
        id_new(id);
    struct store_val v[] = {SV_CSTR(id),
                            SV_INT(in->at != 0 ? in->at : (int64_t)time_wall_ms()),
                            gw_db_text_or_null(in->actor_user_id),
                            gw_db_text_or_null(in->workspace_id),
                            SV_TEXT(in->action),
                            SV_TEXT(text_or_empty(in->target)),
                            SV_CSTR(outcome_names[in->outcome]),
                            SV_TEXT(text_or_empty(in->detail))};
    return store_exec1(s,
                       "INSERT INTO audit_log (id, at, actor_user_id, workspace_id, action,"
                       " target, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       v, ARRAY_LEN(v), NULL, err);
}

static void audit_fill(const struct store_rows *r, size_t i, void *item)
{
    struct gw_audit *e = item;

    e->id = gw_db_str(r, i, 0);
    e->actor_user_id = gw_db_str(r, i, 1);
    e->workspace_id = gw_db_str(r, i, 2);
    e->action = gw_db_str(r, i, 3);
    e->target = gw_db_str(r, i, 4);
    e->outcome = gw_db_str(r, i, 5);
    e->detail = gw_db_str(r, i, 6);
    e->at = gw_db_int(r, i, 7);
}

int gw_db_audit_list(struct store *s, struct arena *a, struct slice ws, size_t limit,
                     struct gw_audit **out, size_t *n, struct err *err)
{
    struct store_val v[] = {SV_TEXT(ws), SV_INT(limit)};
    struct store_rows *r;
    int rc = gw_db_check_text("workspace", ws, GW_ID_MAX, false, err);

    *out = NULL;
    *n = 0;
    if (rc == 0 && (limit < 1 || limit > 1000))
        rc = err_set(err, ERR_INVALID, "limit must be 1..1000");
    if (rc == 0)
        rc = store_query1(s, a,
                          "SELECT id, actor_user_id, workspace_id, action, target, outcome,"
                          " detail, at FROM audit_log WHERE workspace_id = ?"
                          " ORDER BY at DESC, id DESC LIMIT ?",
                          v, ARRAY_LEN(v), &r, err);
    if (rc < 0)
        return rc;
    return gw_db_rows_array(a, r, sizeof(**out), audit_fill, (void **)out, n, err);
}

/* ---------------------------------------------------------------- sessions (HTTP side) */

int gw_db_refresh_get(struct store *s, struct arena *a, struct slice hash, struct gw_refresh *out,
                      struct err *err)
{
    struct store_rows *r;
    int rc = gw_db_check_text("token_hash", hash, GW_HASH_MAX, false, err);

    if (rc == 0)
        rc = store_query1(s, a, "SELECT " REFRESH_COLS " FROM refresh_tokens WHERE token_hash = ?",
                          &SV_TEXT(hash), 1, &r, err);
    if (rc < 0)
        return rc;
    if (r->nrows == 0)
        return err_set(err, ERR_NOTFOUND, "refresh token unknown");
    refresh_from_row(r, out);
    return 0;
}

int gw_db_session_active(struct store *s, struct slice family_id, struct slice user, int64_t now,
                         bool *active, struct err *err)
{
    struct store_val v[] = {SV_TEXT(family_id), SV_TEXT(user), SV_INT(now)};
    struct arena *a;
    struct store_rows *r;
    int rc;

    *active = false;
    if ((rc = gw_db_check_text("family_id", family_id, GW_ID_MAX, false, err)) < 0 ||
        (rc = gw_db_check_text("user", user, GW_ID_MAX, false, err)) < 0)
        return rc;
    a = arena_new(&(struct arena_opts){.budget = 64u << 10});
    rc = store_query1(s, a,
                      "SELECT 1 FROM refresh_tokens t JOIN users u ON u.id = t.user_id"
                      " WHERE t.family_id = ? AND t.user_id = ? AND t.revoked_at IS NULL"
                      " AND t.expires_at > ? AND u.disabled = 0 LIMIT 1",
                      v, ARRAY_LEN(v), &r, err);
    if (rc == 0)
        *active = r->nrows > 0;
    arena_free(a);
    return rc;
}
