/*
 * gateway identity data layer: schema, shared helpers, users, workspaces, memberships and
 * invitations. Tokens, keys, login attempts and the audit log are in db-tokens.c.
 *
 * Rules that span rows (the last ADMIN, personal workspaces) are checked after locking the
 * workspace row with a no-op UPDATE: PostgreSQL's READ COMMITTED would otherwise let two
 * demotions each see the other ADMIN; SQLite's writers are serialized anyway.
 */
#include <stdlib.h>

#include "base/base.h"
#include "gateway/gw-int.h"
#include "store/store.h"

/* ---------------------------------------------------------------- schema */

static const char schema_v1[] =
    "CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL,"
    " avatar_url TEXT, password_hash TEXT, created_at BIGINT NOT NULL,"
    " disabled INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE workspaces (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
    " personal INTEGER NOT NULL DEFAULT 0, suspended INTEGER NOT NULL DEFAULT 0,"
    " created_at BIGINT NOT NULL);"
    "CREATE TABLE memberships ("
    " workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,"
    " user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " role TEXT NOT NULL CHECK (role IN ('ADMIN', 'USER')), created_at BIGINT NOT NULL,"
    " PRIMARY KEY (workspace_id, user_id));"
    "CREATE INDEX memberships_user ON memberships(user_id);"
    "CREATE TABLE invitations (id TEXT PRIMARY KEY,"
    " workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,"
    " email TEXT NOT NULL, role TEXT NOT NULL CHECK (role IN ('ADMIN', 'USER')),"
    " token_hash TEXT NOT NULL UNIQUE, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,"
    " accepted_at BIGINT, invited_by TEXT REFERENCES users(id) ON DELETE SET NULL);"
    "CREATE INDEX invitations_workspace ON invitations(workspace_id)";

static const char schema_v2[] =
    "CREATE TABLE refresh_tokens (token_hash TEXT PRIMARY KEY, family_id TEXT NOT NULL,"
    " user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " workspace_id TEXT REFERENCES workspaces(id) ON DELETE CASCADE,"
    " created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, used_at BIGINT,"
    " revoked_at BIGINT);"
    "CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);"
    "CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);"
    "CREATE TABLE api_tokens (id TEXT PRIMARY KEY,"
    " user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, name TEXT NOT NULL,"
    " token_hash TEXT NOT NULL UNIQUE, prefix TEXT NOT NULL, created_at BIGINT NOT NULL,"
    " expires_at BIGINT, last_used_at BIGINT, revoked_at BIGINT);"
    "CREATE INDEX api_tokens_user ON api_tokens(user_id);"
    "CREATE TABLE signing_keys (kid TEXT PRIMARY KEY, private_pem TEXT NOT NULL,"
    " created_at BIGINT NOT NULL, not_after BIGINT, is_current INTEGER NOT NULL DEFAULT 0);"
    "CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys(is_current)"
    " WHERE is_current = 1";

static const char schema_v3[] =
    "CREATE TABLE login_attempts (key TEXT PRIMARY KEY, failures INTEGER NOT NULL,"
    " first_failure_at BIGINT NOT NULL, locked_until BIGINT NOT NULL DEFAULT 0);"
    "CREATE TABLE audit_log (id TEXT PRIMARY KEY, at BIGINT NOT NULL, actor_user_id TEXT,"
    " workspace_id TEXT, action TEXT NOT NULL, target TEXT NOT NULL,"
    " outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'denied', 'error')),"
    " detail TEXT NOT NULL);"
    "CREATE INDEX audit_log_workspace ON audit_log(workspace_id, at)";

/* Platform operators (workflows and the rest of what belongs to the platform rather than to a
 * workspace). A database made before this has no operator: the earliest user, normally the
 * first-run administrator, becomes one. */
static const char schema_v4[] = "ALTER TABLE users ADD COLUMN operator INTEGER NOT NULL DEFAULT 0;"
                                "UPDATE users SET operator = 1 WHERE id ="
                                " (SELECT id FROM users ORDER BY created_at, id LIMIT 1)";

static const struct store_migration migrations[] = {
    {1, "gateway identity: users, workspaces, memberships, invitations", schema_v1, NULL, NULL},
    {2, "gateway tokens: refresh, api, signing keys", schema_v2, NULL, NULL},
    {3, "gateway login attempts and audit log", schema_v3, NULL, NULL},
    {4, "gateway platform operators", schema_v4, NULL, NULL},
};

const struct store_migration *gw_db_migrations(size_t *n)
{
    *n = ARRAY_LEN(migrations);
    return migrations;
}

int gw_db_migrate(struct store *s, struct err *err)
{
    return store_migrate(s, migrations, ARRAY_LEN(migrations), err);
}

/* ---------------------------------------------------------------- helpers */

/* Length of the UTF-8 sequence starting at <p> (at most <n> bytes), 0 when it is invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    size_t len, i;
    uint32_t cp;

    if (p[0] < 0x80)
        return p[0] == 0 ? 0 : 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF)
        len = 2, cp = p[0] & 0x1F;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF)
        len = 3, cp = p[0] & 0x0F;
    else if (p[0] >= 0xF0 && p[0] <= 0xF4)
        len = 4, cp = p[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

int gw_db_check_text(const char *field, struct slice v, size_t max, bool optional, struct err *err)
{
    const unsigned char *p = (const unsigned char *)v.ptr;
    size_t i = 0, n;

    if (v.ptr == NULL || v.len == 0) {
        if (optional)
            return 0;
        return err_set(err, ERR_INVALID, "%s is empty", field);
    }
    if (v.len > max)
        return err_set(err, ERR_INVALID, "%s is longer than %zu bytes", field, max);
    while (i < v.len) {
        n = utf8_seq(p + i, v.len - i);
        if (n == 0)
            return err_set(err, ERR_INVALID, "%s is not UTF-8 text without NUL bytes", field);
        i += n;
    }
    return 0;
}

int gw_db_check_fields(const struct gw_field *f, size_t n, struct err *err)
{
    for (size_t i = 0; i < n; i++) {
        int rc = gw_db_check_text(f[i].name, f[i].value, f[i].max, f[i].optional, err);

        if (rc < 0)
            return rc;
    }
    return 0;
}

struct store_val gw_db_text_or_null(struct slice v)
{
    return v.ptr == NULL ? SV_NULL : SV_TEXT(v);
}

const char *gw_db_str(const struct store_rows *r, size_t row, size_t col)
{
    const struct store_val *v = store_cell(r, row, col);

    return v->type == STORE_T_TEXT || v->type == STORE_T_BLOB ? v->s.ptr : NULL;
}

int64_t gw_db_int(const struct store_rows *r, size_t row, size_t col)
{
    const struct store_val *v = store_cell(r, row, col);

    return v->type == STORE_T_INT ? v->i : 0;
}

int gw_db_finish(struct store_tx *tx, int rc, struct err *err)
{
    if (rc < 0) {
        store_rollback(tx);
        return rc;
    }
    return store_commit(tx, err);
}

int gw_db_rows_array(struct arena *a, const struct store_rows *r, size_t size, gw_db_fill_fn *fill,
                     void **out, size_t *n, struct err *err)
{
    char *items = NULL;
    size_t i;

    *out = NULL;
    *n = 0;
    if (r->nrows > 0 && (items = arena_zalloc(a, r->nrows * size)) == NULL)
        return err_set(err, ERR_LIMIT, "%zu rows do not fit in the arena", r->nrows);
    for (i = 0; i < r->nrows; i++)
        fill(r, i, items + i * size);
    *out = items;
    *n = r->nrows;
    return 0;
}

int gw_db_query_row(struct store_tx *tx, struct arena *a, const char *sql,
                    const struct store_val *args, size_t nargs, const char *what,
                    struct store_rows **out, struct err *err)
{
    int rc = store_query(tx, a, sql, args, nargs, out, err);

    if (rc < 0)
        return rc;
    if ((*out)->nrows == 0)
        return err_set(err, ERR_NOTFOUND, "%s", what);
    return 0;
}

const char *gw_role_name(enum gw_role r)
{
    return r == GW_ROLE_ADMIN ? "ADMIN" : "USER";
}

static enum gw_role role_parse(const char *s)
{
    return s != NULL && strcmp(s, "ADMIN") == 0 ? GW_ROLE_ADMIN : GW_ROLE_USER;
}

static int check_role(enum gw_role r, struct err *err)
{
    if (r != GW_ROLE_ADMIN && r != GW_ROLE_USER)
        return err_set(err, ERR_INVALID, "role must be ADMIN or USER");
    return 0;
}

/* Checks <in> as an email and writes it lower-cased (ASCII) into <out>. */
static int email_norm(const char *field, struct slice in, char out[GW_EMAIL_MAX + 1],
                      struct err *err)
{
    const char *at;
    size_t i;
    int rc = gw_db_check_text(field, in, GW_EMAIL_MAX, false, err);

    if (rc < 0)
        return rc;
    at = memchr(in.ptr, '@', in.len);
    if (at == NULL || at == in.ptr || at == in.ptr + in.len - 1)
        return err_set(err, ERR_INVALID, "%s must look like name@domain", field);
    for (i = 0; i < in.len; i++) {
        unsigned char c = (unsigned char)in.ptr[i];
        if (c <= ' ' || c == 0x7F)
            return err_set(err, ERR_INVALID, "%s must not hold spaces or control characters",
                           field);
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
    out[in.len] = '\0';
    return 0;
}

static int check_id(const char *field, struct slice id, struct err *err)
{
    return gw_db_check_text(field, id, GW_ID_MAX, false, err);
}

/* ---------------------------------------------------------------- users */

#define USER_COLS                                                                                  \
    "u.id, u.email, u.name, u.avatar_url, u.password_hash, u.created_at, u.disabled,"              \
    " (SELECT w.id FROM workspaces w JOIN memberships m ON m.workspace_id = w.id"                  \
    " WHERE m.user_id = u.id AND w.personal = 1 ORDER BY w.created_at LIMIT 1), u.operator"
#define USER_NCOLS 9

static void user_from_row(const struct store_rows *r, struct gw_user *out)
{
    out->id = gw_db_str(r, 0, 0);
    out->email = gw_db_str(r, 0, 1);
    out->name = gw_db_str(r, 0, 2);
    out->avatar_url = gw_db_str(r, 0, 3);
    out->password_hash = gw_db_str(r, 0, 4);
    out->created_at = gw_db_int(r, 0, 5);
    out->disabled = gw_db_int(r, 0, 6) != 0;
    out->personal_workspace = gw_db_str(r, 0, 7);
    out->is_operator = gw_db_int(r, 0, 8) != 0;
}

static int user_query(struct store *s, struct arena *a, const char *sql, struct slice key,
                      struct gw_user *out, struct err *err)
{
    struct store_rows *r;
    int rc = store_query1(s, a, sql, &SV_TEXT(key), 1, &r, err);

    if (rc < 0)
        return rc;
    if (r->nrows == 0)
        return err_set(err, ERR_NOTFOUND, "user not found");
    user_from_row(r, out);
    return 0;
}

int gw_db_user_get(struct store *s, struct arena *a, struct slice id, struct gw_user *out,
                   struct err *err)
{
    int rc = check_id("id", id, err);

    if (rc < 0)
        return rc;
    return user_query(s, a, "SELECT " USER_COLS " FROM users u WHERE u.id = ?", id, out, err);
}

int gw_db_user_get_by_email(struct store *s, struct arena *a, struct slice email,
                            struct gw_user *out, struct err *err)
{
    char norm[GW_EMAIL_MAX + 1];
    int rc = email_norm("email", email, norm, err);

    if (rc < 0)
        return rc;
    return user_query(s, a, "SELECT " USER_COLS " FROM users u WHERE u.email = ?",
                      slice_from_cstr(norm), out, err);
}

static int user_check(const struct gw_user_new *in, char email[GW_EMAIL_MAX + 1], struct err *err)
{
    int rc = email_norm("email", in->email, email, err);

    if (rc == 0)
        rc = gw_db_check_text("name", in->name, GW_NAME_MAX, false, err);
    if (rc == 0)
        rc = gw_db_check_text("avatar_url", in->avatar_url, GW_URL_MAX, true, err);
    if (rc == 0)
        rc = gw_db_check_text("password_hash", in->password_hash, GW_HASH_MAX, true, err);
    return rc;
}

/* Inserts workspace <ws> and makes <user> its ADMIN. */
static int workspace_insert(struct store_tx *tx, const char *ws, struct slice name, bool personal,
                            struct slice user, int64_t now, struct err *err)
{
    struct store_val w[] = {SV_CSTR(ws), SV_TEXT(name), SV_INT(personal), SV_INT(now)};
    struct store_val m[] = {SV_CSTR(ws), SV_TEXT(user), SV_INT(now)};
    int rc = store_exec(tx,
                        "INSERT INTO workspaces (id, name, personal, suspended, created_at)"
                        " VALUES (?, ?, ?, 0, ?)",
                        w, ARRAY_LEN(w), NULL, err);

    if (rc == ERR_CONFLICT)
        return err_set(err, ERR_CONFLICT, "workspace id \"%s\" is taken", ws);
    if (rc < 0)
        return rc;
    return store_exec(tx,
                      "INSERT INTO memberships (workspace_id, user_id, role, created_at)"
                      " VALUES (?, ?, 'ADMIN', ?)",
                      m, ARRAY_LEN(m), NULL, err);
}

int gw_db_user_create(struct store *s, struct arena *a, const struct gw_user_new *in,
                      struct gw_user *out, struct err *err)
{
    char email[GW_EMAIL_MAX + 1], id[37], ws[37];
    int64_t now = (int64_t)time_wall_ms();
    struct store_tx *tx;
    int rc = user_check(in, email, err);

    if (rc < 0)
        return rc;
    id_new(id);
    id_new(ws);
    struct store_val v[] = {SV_CSTR(id),
                            SV_CSTR(email),
                            SV_TEXT(in->name),
                            gw_db_text_or_null(in->avatar_url),
                            gw_db_text_or_null(in->password_hash),
                            SV_INT(now),
                            SV_INT(in->is_operator)};
    if ((rc = store_begin(s, &tx, err)) < 0)
        return rc;
    rc = store_exec(tx,
                    "INSERT INTO users (id, email, name, avatar_url, password_hash, created_at,"
                    " disabled, operator) VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
                    v, ARRAY_LEN(v), NULL, err);
    if (rc == ERR_CONFLICT)
        rc = err_set(err, ERR_CONFLICT, "email \"%s\" is taken", email);
    if (rc == 0)
        rc = workspace_insert(tx, ws, in->name, true, slice_from_cstr(id), now, err);
    if ((rc = gw_db_finish(tx, rc, err)) < 0)
        return rc;
    return gw_db_user_get(s, a, slice_from_cstr(id), out, err);
}

/* Runs <sql> (whose last placeholder is the row's id) and maps "no row changed" to
 * ERR_NOTFOUND "<what> not found". */
static int row_update(struct store *s, const char *sql, struct store_val v0, struct slice id,
                      const char *what, struct err *err)
{
    struct store_val v[] = {v0, SV_TEXT(id)};
    int64_t changes = 0;
    int rc = check_id("id", id, err);

    if (rc == 0)
        rc = store_exec1(s, sql, v, ARRAY_LEN(v), &changes, err);
    if (rc == 0 && changes == 0)
        rc = err_set(err, ERR_NOTFOUND, "%s not found", what);
    return rc;
}

int gw_db_user_set_password(struct store *s, struct slice id, struct slice hash, struct err *err)
{
    int rc = gw_db_check_text("password_hash", hash, GW_HASH_MAX, true, err);

    if (rc < 0)
        return rc;
    return row_update(s, "UPDATE users SET password_hash = ? WHERE id = ?",
                      gw_db_text_or_null(hash), id, "user", err);
}

int gw_db_user_set_disabled(struct store *s, struct slice id, bool disabled, struct err *err)
{
    return row_update(s, "UPDATE users SET disabled = ? WHERE id = ?", SV_INT(disabled), id, "user",
                      err);
}

int gw_db_user_count(struct store *s, int64_t *n, struct err *err)
{
    struct arena *a = arena_new(NULL);
    struct store_rows *r;
    int rc = store_query1(s, a, "SELECT COUNT(*) FROM users", NULL, 0, &r, err);

    if (rc == 0)
        *n = gw_db_int(r, 0, 0);
    arena_free(a);
    return rc;
}

/* ---------------------------------------------------------------- workspaces */

int gw_db_workspace_create(struct store *s, struct slice id, struct slice name,
                           struct slice creator, struct err *err)
{
    char ws[GW_SLUG_MAX + 1];
    struct store_rows *r;
    struct store_tx *tx;
    struct arena *a;
    int rc;

    if (!slug_valid(id))
        return err_set(err, ERR_INVALID,
                       "id must match ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ (lower-case letters, "
                       "digits and inner dashes, at most 63)");
    if ((rc = gw_db_check_text("name", name, GW_NAME_MAX, false, err)) < 0 ||
        (rc = check_id("creator", creator, err)) < 0)
        return rc;
    memcpy(ws, id.ptr, id.len);
    ws[id.len] = '\0';
    if ((rc = store_begin(s, &tx, err)) < 0)
        return rc;
    a = arena_new(NULL);
    rc = gw_db_query_row(tx, a, "SELECT 1 FROM users WHERE id = ?", &SV_TEXT(creator), 1,
                         "creator: user not found", &r, err);
    if (rc == 0)
        rc = workspace_insert(tx, ws, name, false, creator, (int64_t)time_wall_ms(), err);
    arena_free(a);
    return gw_db_finish(tx, rc, err);
}

/* Locks workspace <ws> for the rest of <tx> and says whether it is personal. */
static int workspace_lock(struct store_tx *tx, struct slice ws, bool *personal, struct err *err)
{
    struct arena *a = arena_new(NULL);
    struct store_rows *r;
    int64_t changes = 0;
    int rc = store_exec(tx, "UPDATE workspaces SET suspended = suspended WHERE id = ?",
                        &SV_TEXT(ws), 1, &changes, err);

    if (rc == 0 && changes == 0)
        rc = err_set(err, ERR_NOTFOUND, "workspace not found");
    if (rc == 0)
        rc = gw_db_query_row(tx, a, "SELECT personal FROM workspaces WHERE id = ?", &SV_TEXT(ws), 1,
                             "workspace not found", &r, err);
    if (rc == 0)
        *personal = gw_db_int(r, 0, 0) != 0;
    arena_free(a);
    return rc;
}

int gw_db_workspace_rename(struct store *s, struct slice id, struct slice name, struct err *err)
{
    int rc = gw_db_check_text("name", name, GW_NAME_MAX, false, err);

    if (rc < 0)
        return rc;
    return row_update(s, "UPDATE workspaces SET name = ? WHERE id = ?", SV_TEXT(name), id,
                      "workspace", err);
}

int gw_db_workspace_set_suspended(struct store *s, struct slice id, bool suspended, struct err *err)
{
    return row_update(s, "UPDATE workspaces SET suspended = ? WHERE id = ?", SV_INT(suspended), id,
                      "workspace", err);
}

int gw_db_workspace_delete(struct store *s, struct slice id, struct err *err)
{
    struct store_tx *tx;
    bool personal = false;
    int rc = check_id("id", id, err);

    if (rc < 0 || (rc = store_begin(s, &tx, err)) < 0)
        return rc;
    rc = workspace_lock(tx, id, &personal, err);
    if (rc == 0 && personal)
        rc = err_set(err, ERR_CONFLICT, "a personal workspace cannot be deleted");
    if (rc == 0)
        rc = store_exec(tx, "DELETE FROM workspaces WHERE id = ?", &SV_TEXT(id), 1, NULL, err);
    return gw_db_finish(tx, rc, err);
}

#define WS_COLS "w.id, w.name, w.personal, w.suspended, w.created_at"

static void workspace_from_row(const struct store_rows *r, size_t i, struct gw_workspace *w)
{
    w->id = gw_db_str(r, i, 0);
    w->name = gw_db_str(r, i, 1);
    w->personal = gw_db_int(r, i, 2) != 0;
    w->suspended = gw_db_int(r, i, 3) != 0;
    w->created_at = gw_db_int(r, i, 4);
    w->role = r->ncols > 5 ? role_parse(gw_db_str(r, i, 5)) : GW_ROLE_USER;
}

static void workspace_fill(const struct store_rows *r, size_t row, void *item)
{
    workspace_from_row(r, row, item);
}

int gw_db_workspace_get(struct store *s, struct arena *a, struct slice id, struct gw_workspace *out,
                        struct err *err)
{
    struct store_rows *r;
    int rc = check_id("id", id, err);

    if (rc == 0)
        rc = store_query1(s, a, "SELECT " WS_COLS " FROM workspaces w WHERE w.id = ?", &SV_TEXT(id),
                          1, &r, err);
    if (rc == 0 && r->nrows == 0)
        rc = err_set(err, ERR_NOTFOUND, "workspace not found");
    if (rc == 0)
        workspace_from_row(r, 0, out);
    return rc;
}

int gw_db_workspace_list_for_user(struct store *s, struct arena *a, struct slice user,
                                  struct gw_workspace **out, size_t *n, struct err *err)
{
    struct store_rows *r;
    int rc = check_id("user", user, err);

    *out = NULL;
    *n = 0;
    if (rc == 0)
        rc = store_query1(s, a,
                          "SELECT " WS_COLS ", m.role FROM memberships m"
                          " JOIN workspaces w ON w.id = m.workspace_id WHERE m.user_id = ?"
                          " ORDER BY m.created_at, w.id",
                          &SV_TEXT(user), 1, &r, err);
    if (rc < 0)
        return rc;
    return gw_db_rows_array(a, r, sizeof(**out), workspace_fill, (void **)out, n, err);
}

/* ---------------------------------------------------------------- the caller, at once */

/* Columns of the workspace of a caller row, after the user's and the session's. */
#define CALLER_LIVE_AT USER_NCOLS
#define CALLER_WS_AT   (USER_NCOLS + 1)

static void caller_ws_fill(const struct store_rows *r, size_t i, void *item)
{
    struct gw_workspace *w = item;

    w->id = gw_db_str(r, i, CALLER_WS_AT);
    w->name = gw_db_str(r, i, CALLER_WS_AT + 1);
    w->personal = gw_db_int(r, i, CALLER_WS_AT + 2) != 0;
    w->suspended = gw_db_int(r, i, CALLER_WS_AT + 3) != 0;
    w->created_at = gw_db_int(r, i, CALLER_WS_AT + 4);
    w->role = role_parse(gw_db_str(r, i, CALLER_WS_AT + 5));
}

int gw_db_caller_get(struct store *s, struct arena *a, struct slice user, struct slice family_id,
                     int64_t now, struct gw_caller_row *out, struct err *err)
{
    struct store_val v[] = {gw_db_text_or_null(family_id), SV_INT(now), SV_TEXT(user)};
    struct store_rows *r;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = check_id("user", user, err)) < 0 ||
        (family_id.ptr != NULL && (rc = check_id("family_id", family_id, err)) < 0))
        return rc;
    /* One row per membership (one with NULL workspace columns when there is none). */
    rc = store_query1(s, a,
                      "SELECT " USER_COLS ", (SELECT t.expires_at FROM refresh_tokens t"
                      " WHERE t.family_id = ? AND t.user_id = u.id AND t.revoked_at IS NULL"
                      " AND t.expires_at > ? LIMIT 1), " WS_COLS ", m.role FROM users u"
                      " LEFT JOIN memberships m ON m.user_id = u.id"
                      " LEFT JOIN workspaces w ON w.id = m.workspace_id WHERE u.id = ?"
                      " ORDER BY m.created_at, w.id",
                      v, ARRAY_LEN(v), &r, err);
    if (rc < 0)
        return rc;
    if (r->nrows == 0)
        return err_set(err, ERR_NOTFOUND, "user not found");
    user_from_row(r, &out->user);
    out->live_until = gw_db_int(r, 0, CALLER_LIVE_AT);
    if (store_cell(r, 0, CALLER_WS_AT)->type == STORE_T_NULL)
        return 0;
    return gw_db_rows_array(a, r, sizeof(*out->workspaces), caller_ws_fill,
                            (void **)&out->workspaces, &out->nworkspaces, err);
}

/* ---------------------------------------------------------------- memberships */

int gw_db_member_role(struct store *s, struct slice ws, struct slice user, enum gw_role *role,
                      struct err *err)
{
    struct store_val v[] = {SV_TEXT(ws), SV_TEXT(user)};
    struct arena *a;
    struct store_rows *r;
    int rc;

    if ((rc = check_id("workspace", ws, err)) < 0 || (rc = check_id("user", user, err)) < 0)
        return rc;
    a = arena_new(NULL);
    rc = store_query1(s, a, "SELECT role FROM memberships WHERE workspace_id = ? AND user_id = ?",
                      v, ARRAY_LEN(v), &r, err);
    if (rc == 0 && r->nrows == 0)
        rc = err_set(err, ERR_FORBIDDEN, "not a member of this workspace");
    if (rc == 0)
        *role = role_parse(gw_db_str(r, 0, 0));
    arena_free(a);
    return rc;
}

int gw_db_member_add(struct store *s, struct slice ws, struct slice user, enum gw_role role,
                     struct err *err)
{
    struct store_val v[] = {SV_TEXT(ws), SV_TEXT(user), SV_CSTR(gw_role_name(role)),
                            SV_INT(time_wall_ms())};
    struct store_rows *r;
    struct store_tx *tx;
    struct arena *a;
    bool personal = false;
    int rc;

    if ((rc = check_id("workspace", ws, err)) < 0 || (rc = check_id("user", user, err)) < 0 ||
        (rc = check_role(role, err)) < 0 || (rc = store_begin(s, &tx, err)) < 0)
        return rc;
    a = arena_new(NULL);
    rc = workspace_lock(tx, ws, &personal, err);
    if (rc == 0 && personal)
        rc = err_set(err, ERR_CONFLICT, "a personal workspace cannot have other members");
    if (rc == 0)
        rc = gw_db_query_row(tx, a, "SELECT 1 FROM users WHERE id = ?", &SV_TEXT(user), 1,
                             "user not found", &r, err);
    if (rc == 0)
        rc = store_exec(tx,
                        "INSERT INTO memberships (workspace_id, user_id, role, created_at)"
                        " VALUES (?, ?, ?, ?)",
                        v, ARRAY_LEN(v), NULL, err);
    if (rc == ERR_CONFLICT && !personal)
        rc = err_set(err, ERR_CONFLICT, "user is a member already");
    arena_free(a);
    return gw_db_finish(tx, rc, err);
}

/* With <ws> locked: fails when <user> is its last ADMIN and is to lose the role. */
static int member_check_admin(struct store_tx *tx, struct slice ws, struct slice user,
                              struct err *err)
{
    struct store_val v[] = {SV_TEXT(ws), SV_TEXT(user)};
    struct arena *a = arena_new(NULL);
    struct store_rows *r;
    int rc = gw_db_query_row(tx, a,
                             "SELECT role FROM memberships WHERE workspace_id = ? AND user_id = ?",
                             v, ARRAY_LEN(v), "user is not a member", &r, err);

    if (rc == 0 && role_parse(gw_db_str(r, 0, 0)) == GW_ROLE_ADMIN)
        rc = store_query(tx, a,
                         "SELECT COUNT(*) FROM memberships WHERE workspace_id = ?"
                         " AND role = 'ADMIN'",
                         &SV_TEXT(ws), 1, &r, err);
    else if (rc == 0)
        goto done;
    if (rc == 0 && gw_db_int(r, 0, 0) <= 1)
        rc = err_set(err, ERR_CONFLICT, "workspace needs at least one ADMIN");
done:
    arena_free(a);
    return rc;
}

int gw_db_member_remove(struct store *s, struct slice ws, struct slice user, struct err *err)
{
    struct store_val v[] = {SV_TEXT(ws), SV_TEXT(user)};
    struct store_val t[] = {SV_INT(time_wall_ms()), SV_TEXT(ws), SV_TEXT(user)};
    struct store_tx *tx;
    bool personal;
    int rc;

    if ((rc = check_id("workspace", ws, err)) < 0 || (rc = check_id("user", user, err)) < 0 ||
        (rc = store_begin(s, &tx, err)) < 0)
        return rc;
    rc = workspace_lock(tx, ws, &personal, err);
    if (rc == 0)
        rc = member_check_admin(tx, ws, user, err);
    if (rc == 0)
        rc = store_exec(tx, "DELETE FROM memberships WHERE workspace_id = ? AND user_id = ?", v,
                        ARRAY_LEN(v), NULL, err);
    /* Sessions bound to the workspace end with the membership. */
    if (rc == 0)
        rc = store_exec(tx,
                        "UPDATE refresh_tokens SET revoked_at = ? WHERE workspace_id = ?"
                        " AND user_id = ? AND revoked_at IS NULL",
                        t, ARRAY_LEN(t), NULL, err);
    return gw_db_finish(tx, rc, err);
}

int gw_db_member_set_role(struct store *s, struct slice ws, struct slice user, enum gw_role role,
                          struct err *err)
{
    struct store_val v[] = {SV_CSTR(gw_role_name(role)), SV_TEXT(ws), SV_TEXT(user)};
    struct store_tx *tx;
    bool personal;
    int rc;

    if ((rc = check_id("workspace", ws, err)) < 0 || (rc = check_id("user", user, err)) < 0 ||
        (rc = check_role(role, err)) < 0 || (rc = store_begin(s, &tx, err)) < 0)
        return rc;
    rc = workspace_lock(tx, ws, &personal, err);
    if (rc == 0 && role == GW_ROLE_USER)
        rc = member_check_admin(tx, ws, user, err);
    if (rc == 0) {
        int64_t changes = 0;
        rc =
            store_exec(tx, "UPDATE memberships SET role = ? WHERE workspace_id = ? AND user_id = ?",
                       v, ARRAY_LEN(v), &changes, err);
        if (rc == 0 && changes == 0)
            rc = err_set(err, ERR_NOTFOUND, "user is not a member");
    }
    return gw_db_finish(tx, rc, err);
}

static void member_fill(const struct store_rows *r, size_t i, void *item)
{
    struct gw_member *m = item;

    m->user_id = gw_db_str(r, i, 0);
    m->email = gw_db_str(r, i, 1);
    m->name = gw_db_str(r, i, 2);
    m->role = role_parse(gw_db_str(r, i, 3));
    m->created_at = gw_db_int(r, i, 4);
}

int gw_db_member_list(struct store *s, struct arena *a, struct slice ws, struct gw_member **out,
                      size_t *n, struct err *err)
{
    struct store_rows *r;
    int rc = check_id("workspace", ws, err);

    *out = NULL;
    *n = 0;
    if (rc == 0)
        rc = store_query1(s, a,
                          "SELECT u.id, u.email, u.name, m.role, m.created_at FROM memberships m"
                          " JOIN users u ON u.id = m.user_id WHERE m.workspace_id = ?"
                          " ORDER BY m.created_at, u.id",
                          &SV_TEXT(ws), 1, &r, err);
    if (rc < 0)
        return rc;
    return gw_db_rows_array(a, r, sizeof(**out), member_fill, (void **)out, n, err);
}

/* ---------------------------------------------------------------- invitations */

static int invitation_check(const struct gw_invitation_new *in, char email[GW_EMAIL_MAX + 1],
                            struct err *err)
{
    int rc = check_id("workspace_id", in->workspace_id, err);

    if (rc == 0)
        rc = email_norm("email", in->email, email, err);
    if (rc == 0)
        rc = gw_db_check_text("token_hash", in->token_hash, GW_HASH_MAX, false, err);
    if (rc == 0)
        rc = check_id("invited_by", in->invited_by, err);
    if (rc == 0)
        rc = check_role(in->role, err);
    return rc;
}

int gw_db_invitation_create(struct store *s, struct arena *a, const struct gw_invitation_new *in,
                            const char **id_out, struct err *err)
{
    char email[GW_EMAIL_MAX + 1], id[37];
    struct store_tx *tx;
    bool personal = false;
    int rc = invitation_check(in, email, err);

    if (rc < 0)
        return rc;
    id_new(id);
    struct store_val v[] = {SV_CSTR(id),
                            SV_TEXT(in->workspace_id),
                            SV_CSTR(email),
                            SV_CSTR(gw_role_name(in->role)),
                            SV_TEXT(in->token_hash),
                            SV_INT(time_wall_ms()),
                            SV_INT(in->expires_at),
                            SV_TEXT(in->invited_by)};
    if ((rc = store_begin(s, &tx, err)) < 0)
        return rc;
    rc = workspace_lock(tx, in->workspace_id, &personal, err);
    if (rc == 0 && personal)
        rc = err_set(err, ERR_CONFLICT, "a personal workspace cannot have other members");
    if (rc == 0)
        rc = store_exec(tx,
                        "INSERT INTO invitations (id, workspace_id, email, role, token_hash,"
                        " created_at, expires_at, invited_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        v, ARRAY_LEN(v), NULL, err);
    if ((rc = gw_db_finish(tx, rc, err)) < 0)
        return rc;
    if (id_out != NULL && (*id_out = arena_strndup(a, id, strlen(id))) == NULL)
        return err_set(err, ERR_LIMIT, "invitation id does not fit in the arena");
    return 0;
}

/* Why invitation <hash> could not be claimed at <now>. */
static int invitation_why(struct store_tx *tx, struct arena *a, struct slice hash, int64_t now,
                          struct err *err)
{
    struct store_rows *r;
    int rc = gw_db_query_row(tx, a,
                             "SELECT accepted_at, expires_at FROM invitations WHERE token_hash = ?",
                             &SV_TEXT(hash), 1, "invitation not found", &r, err);

    if (rc < 0)
        return rc;
    if (store_cell(r, 0, 0)->type != STORE_T_NULL)
        return err_set(err, ERR_CONFLICT, "invitation was accepted already");
    if (gw_db_int(r, 0, 1) <= now)
        return err_set(err, ERR_CONFLICT, "invitation expired");
    return err_set(err, ERR_INTERNAL, "invitation could not be claimed");
}

/* With the invitation claimed: checks the email and adds the membership. */
static int invitation_join(struct store_tx *tx, struct arena *a, struct slice hash,
                           struct slice user, const char **ws_out, struct err *err)
{
    struct store_rows *inv, *u;
    int rc = gw_db_query_row(tx, a,
                             "SELECT workspace_id, email, role FROM invitations"
                             " WHERE token_hash = ?",
                             &SV_TEXT(hash), 1, "invitation not found", &inv, err);

    if (rc == 0)
        rc = gw_db_query_row(tx, a, "SELECT email FROM users WHERE id = ?", &SV_TEXT(user), 1,
                             "user not found", &u, err);
    if (rc < 0)
        return rc;
    if (strcmp(gw_db_str(inv, 0, 1), gw_db_str(u, 0, 0)) != 0)
        return err_set(err, ERR_FORBIDDEN, "invitation is for another email");
    struct store_val v[] = {SV_CSTR(gw_db_str(inv, 0, 0)), SV_TEXT(user),
                            SV_CSTR(gw_db_str(inv, 0, 2)), SV_INT(time_wall_ms())};
    rc = store_exec(tx,
                    "INSERT INTO memberships (workspace_id, user_id, role, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    v, ARRAY_LEN(v), NULL, err);
    if (rc == ERR_CONFLICT)
        return err_set(err, ERR_CONFLICT, "user is a member already");
    if (rc == 0 && ws_out != NULL)
        *ws_out = gw_db_str(inv, 0, 0);
    return rc;
}

int gw_db_invitation_accept(struct store *s, struct arena *a, struct slice token_hash,
                            struct slice user, int64_t now, const char **ws_out, struct err *err)
{
    struct store_val v[] = {SV_INT(now), SV_TEXT(token_hash), SV_INT(now)};
    struct store_tx *tx;
    int64_t changes = 0;
    int rc;

    if ((rc = gw_db_check_text("token_hash", token_hash, GW_HASH_MAX, false, err)) < 0 ||
        (rc = check_id("user", user, err)) < 0 || (rc = store_begin(s, &tx, err)) < 0)
        return rc;
    /* Claiming first makes concurrent accepts of one invitation queue on its row. */
    rc = store_exec(tx,
                    "UPDATE invitations SET accepted_at = ? WHERE token_hash = ?"
                    " AND accepted_at IS NULL AND expires_at > ?",
                    v, ARRAY_LEN(v), &changes, err);
    if (rc == 0 && changes == 0)
        rc = invitation_why(tx, a, token_hash, now, err);
    if (rc == 0)
        rc = invitation_join(tx, a, token_hash, user, ws_out, err);
    return gw_db_finish(tx, rc, err);
}

static void invitation_fill(const struct store_rows *r, size_t i, void *item)
{
    struct gw_invitation *v = item;

    v->id = gw_db_str(r, i, 0);
    v->workspace_id = gw_db_str(r, i, 1);
    v->email = gw_db_str(r, i, 2);
    v->invited_by = gw_db_str(r, i, 3);
    v->role = role_parse(gw_db_str(r, i, 4));
    v->created_at = gw_db_int(r, i, 5);
    v->expires_at = gw_db_int(r, i, 6);
    v->accepted_at = gw_db_int(r, i, 7);
}

int gw_db_invitation_list(struct store *s, struct arena *a, struct slice ws,
                          struct gw_invitation **out, size_t *n, struct err *err)
{
    struct store_rows *r;
    int rc = check_id("workspace", ws, err);

    *out = NULL;
    *n = 0;
    if (rc == 0)
        rc = store_query1(s, a,
                          "SELECT id, workspace_id, email, invited_by, role, created_at,"
                          " expires_at, accepted_at FROM invitations WHERE workspace_id = ?"
                          " ORDER BY created_at DESC, id DESC",
                          &SV_TEXT(ws), 1, &r, err);
    if (rc < 0)
        return rc;
    return gw_db_rows_array(a, r, sizeof(**out), invitation_fill, (void **)out, n, err);
}
