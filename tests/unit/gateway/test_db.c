/*
 * gateway data layer: every test runs against SQLite (a file in the test's directory) and,
 * when SLIPWAY_TEST_PG_URL is set, PostgreSQL in a schema of its own (search_path in the
 * URL), dropped at exit, also when a CHECK fails.
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "../test.h"
#include "base/base.h"
#include "gateway/gw-int.h"
#include "store/store.h"
#include "../dbtest.h"

/* <x> fails with <code> and a message holding <needle>. */
#define FAILS(x, code, needle)                                                                     \
    do {                                                                                           \
        err = (struct err){0};                                                                     \
        CHECK_INT_EQ((x), (code));                                                                 \
        CHECK_CONTAINS(err.msg, (needle));                                                         \
    } while (0)
#define S(lit) SLICE(lit)
#define C(cs)  slice_from_cstr(cs)

struct env {
    enum store_kind kind;
    char url[1024];
    struct store *s;
    struct arena *a;
};
typedef void env_test_fn(struct env *e);

static const char *pg_base_url(void)
{
    return dbtest_pg_url();
}

static struct store *open_url(const char *url, unsigned max_conns)
{
    return dbtest_open(url, "gateway", max_conns, 60000);
}

static void env_url(struct env *e, enum store_kind kind)
{
    dbtest_url(kind, "gw", e->url, sizeof(e->url));
}

static void run_on(enum store_kind kind, env_test_fn *fn)
{
    struct err err = {0};
    struct env e = {.kind = kind};

    env_url(&e, kind);
    e.s = open_url(e.url, 8);
    CHECK_INT_EQ(store_kind(e.s), kind);
    OK(gw_db_migrate(e.s, &err));
    e.a = arena_new(NULL);
    fn(&e);
    arena_free(e.a);
    store_close(e.s);
}

static void each_backend(env_test_fn *fn)
{
    run_on(STORE_SQLITE, fn);
    if (pg_base_url() != NULL)
        run_on(STORE_POSTGRES, fn);
}

/* A user with <email>; returns its id (in e->a). */
static const char *mk_user(struct env *e, const char *email)
{
    struct gw_user_new in = {.email = C(email), .name = S("Some One")};
    struct err err = {0};
    struct gw_user u;

    OK(gw_db_user_create(e->s, e->a, &in, &u, &err));
    return u.id;
}

static int64_t count(struct env *e, const char *sql, struct slice arg)
{
    struct store_rows *r;
    struct err err = {0};

    OK(store_query1(e->s, e->a, sql, &SV_TEXT(arg), 1, &r, &err));
    return store_cell(r, 0, 0)->i;
}

/* ---------------------------------------------------------------- migrations */

static void t_migrate_twice(struct env *e)
{
    struct err err = {0};
    int64_t n = -1;
    int v = 0;

    (void)mk_user(e, "a@example.com");
    OK(store_version(e->s, &v, &err));
    CHECK_INT_EQ(v, 4);
    OK(gw_db_migrate(e->s, &err));
    OK(gw_db_migrate(e->s, &err));
    OK(store_version(e->s, &v, &err));
    CHECK_INT_EQ(v, 4);
    OK(gw_db_user_count(e->s, &n, &err));
    CHECK_INT_EQ(n, 1);
}

TEST(gw_db_migrations_twice_are_a_noop)
{
    each_backend(t_migrate_twice);
}

/* ---------------------------------------------------------------- users */

static void t_users(struct env *e)
{
    struct gw_user_new in = {.email = S("Ada@Example.COM"),
                             .name = S("Ada"),
                             .avatar_url = S("https://x/a.png"),
                             .password_hash = S("$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA")};
    struct gw_user u, g;
    struct err err = {0};
    enum gw_role role;
    int64_t n = -1;

    OK(gw_db_user_count(e->s, &n, &err));
    CHECK_INT_EQ(n, 0);
    OK(gw_db_user_create(e->s, e->a, &in, &u, &err));
    CHECK(id_valid(C(u.id)));
    CHECK_STR_EQ(u.email, "ada@example.com");
    CHECK_STR_EQ(u.name, "Ada");
    CHECK_STR_EQ(u.avatar_url, "https://x/a.png");
    CHECK_STR_EQ(u.password_hash, "$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA");
    CHECK(u.created_at > 0 && !u.disabled && u.personal_workspace != NULL);
    OK(gw_db_member_role(e->s, C(u.personal_workspace), C(u.id), &role, &err));
    CHECK_INT_EQ(role, GW_ROLE_ADMIN);
    OK(gw_db_user_get_by_email(e->s, e->a, S("ADA@example.com"), &g, &err));
    CHECK_STR_EQ(g.id, u.id);
    OK(gw_db_user_get(e->s, e->a, C(u.id), &g, &err));
    CHECK_STR_EQ(g.email, "ada@example.com");
    in.email = S("ada@EXAMPLE.com");
    FAILS(gw_db_user_create(e->s, e->a, &in, &g, &err), ERR_CONFLICT, "is taken");
    OK(gw_db_user_count(e->s, &n, &err));
    CHECK_INT_EQ(n, 1);
    FAILS(gw_db_user_get(e->s, e->a, S("nope"), &g, &err), ERR_NOTFOUND, "user not found");
    FAILS(gw_db_user_get_by_email(e->s, e->a, S("x@y"), &g, &err), ERR_NOTFOUND, "not found");
    FAILS(gw_db_user_get_by_email(e->s, e->a, S("no-at"), &g, &err), ERR_INVALID, "email");
    OK(gw_db_user_set_password(e->s, C(u.id), S("new-hash"), &err));
    OK(gw_db_user_get(e->s, e->a, C(u.id), &g, &err));
    CHECK_STR_EQ(g.password_hash, "new-hash");
    OK(gw_db_user_set_password(e->s, C(u.id), SLICE_NULL, &err));
    OK(gw_db_user_set_disabled(e->s, C(u.id), true, &err));
    OK(gw_db_user_get(e->s, e->a, C(u.id), &g, &err));
    CHECK(g.password_hash == NULL && g.disabled);
    FAILS(gw_db_user_set_password(e->s, S("nope"), S("h"), &err), ERR_NOTFOUND, "user");
}

TEST(gw_db_users)
{
    each_backend(t_users);
}

/* An OIDC-only user has no password hash and no avatar. */
static void t_user_oidc(struct env *e)
{
    struct gw_user_new in = {.email = S("o@example.com"), .name = S("O")};
    struct err err = {0};
    struct gw_user u;

    OK(gw_db_user_create(e->s, e->a, &in, &u, &err));
    CHECK(u.password_hash == NULL && u.avatar_url == NULL);
}

TEST(gw_db_user_without_password)
{
    each_backend(t_user_oidc);
}

/* ---------------------------------------------------------------- workspaces */

static void t_workspaces(struct env *e)
{
    const char *ada = mk_user(e, "ada@example.com"), *bob = mk_user(e, "bob@example.com");
    static const char *const bad[] = {"", "-a", "a-", "A", "a_b", "a.b", "ab/c", "é"};
    struct gw_workspace w, *list;
    struct err err = {0};
    char long_id[70];
    size_t n, i;

    for (i = 0; i < ARRAY_LEN(bad); i++)
        FAILS(gw_db_workspace_create(e->s, C(bad[i]), S("N"), C(ada), &err), ERR_INVALID,
              "id must match ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$");
    memset(long_id, 'a', 64);
    long_id[64] = '\0';
    FAILS(gw_db_workspace_create(e->s, C(long_id), S("N"), C(ada), &err), ERR_INVALID, "id");
    long_id[63] = '\0';
    OK(gw_db_workspace_create(e->s, C(long_id), S("Long"), C(ada), &err));
    OK(gw_db_workspace_create(e->s, S("a"), S("One"), C(ada), &err));
    OK(gw_db_workspace_create(e->s, S("acme-1"), S("Acme"), C(ada), &err));
    FAILS(gw_db_workspace_create(e->s, S("acme-1"), S("Acme"), C(bob), &err), ERR_CONFLICT,
          "taken");
    FAILS(gw_db_workspace_create(e->s, S("zz"), S("Z"), S("no-such-user"), &err), ERR_NOTFOUND,
          "creator");
    OK(gw_db_workspace_get(e->s, e->a, S("acme-1"), &w, &err));
    CHECK_STR_EQ(w.name, "Acme");
    CHECK(!w.personal && !w.suspended && w.created_at > 0);
    OK(gw_db_workspace_rename(e->s, S("acme-1"), S("Acme Inc."), &err));
    OK(gw_db_workspace_set_suspended(e->s, S("acme-1"), true, &err));
    OK(gw_db_workspace_get(e->s, e->a, S("acme-1"), &w, &err));
    CHECK_STR_EQ(w.name, "Acme Inc.");
    CHECK(w.suspended);
    FAILS(gw_db_workspace_rename(e->s, S("nope"), S("x"), &err), ERR_NOTFOUND, "workspace");
    OK(gw_db_workspace_list_for_user(e->s, e->a, C(ada), &list, &n, &err));
    CHECK_UINT_EQ(n, 4); /* personal, long, a, acme-1 */
    CHECK(list[0].personal);
    for (i = 0; i < n; i++)
        CHECK_INT_EQ(list[i].role, GW_ROLE_ADMIN);
    OK(gw_db_member_add(e->s, S("acme-1"), C(bob), GW_ROLE_USER, &err));
    OK(gw_db_workspace_list_for_user(e->s, e->a, C(bob), &list, &n, &err));
    CHECK_UINT_EQ(n, 2);
    CHECK_STR_EQ(list[1].id, "acme-1");
    CHECK_INT_EQ(list[1].role, GW_ROLE_USER);
    OK(gw_db_workspace_delete(e->s, S("acme-1"), &err));
    FAILS(gw_db_workspace_get(e->s, e->a, S("acme-1"), &w, &err), ERR_NOTFOUND, "workspace");
    CHECK_INT_EQ(count(e, "SELECT COUNT(*) FROM memberships WHERE workspace_id = ?", S("acme-1")),
                 0);
    FAILS(gw_db_workspace_delete(e->s, S("acme-1"), &err), ERR_NOTFOUND, "workspace");
}

TEST(gw_db_workspaces)
{
    each_backend(t_workspaces);
}

static void t_personal(struct env *e)
{
    const char *bob = mk_user(e, "bob@example.com");
    struct gw_invitation_new inv = {.email = S("bob@example.com"),
                                    .token_hash = S("h1"),
                                    .role = GW_ROLE_USER,
                                    .expires_at = INT64_MAX / 2};
    struct gw_user ada;
    struct gw_user_new in = {.email = S("ada@example.com"), .name = S("Ada")};
    struct gw_workspace w;
    struct err err = {0};

    OK(gw_db_user_create(e->s, e->a, &in, &ada, &err));
    OK(gw_db_workspace_get(e->s, e->a, C(ada.personal_workspace), &w, &err));
    CHECK(w.personal);
    CHECK_STR_EQ(w.name, "Ada");
    FAILS(gw_db_member_add(e->s, C(w.id), C(bob), GW_ROLE_USER, &err), ERR_CONFLICT,
          "personal workspace cannot have other members");
    FAILS(gw_db_workspace_delete(e->s, C(w.id), &err), ERR_CONFLICT,
          "personal workspace cannot be deleted");
    FAILS(gw_db_member_remove(e->s, C(w.id), C(ada.id), &err), ERR_CONFLICT,
          "workspace needs at least one ADMIN");
    inv.workspace_id = C(w.id);
    inv.invited_by = C(ada.id);
    FAILS(gw_db_invitation_create(e->s, e->a, &inv, NULL, &err), ERR_CONFLICT, "personal");
    OK(gw_db_workspace_get(e->s, e->a, C(ada.personal_workspace), &w, &err));
}

TEST(gw_db_personal_workspace_rules)
{
    each_backend(t_personal);
}

/* ---------------------------------------------------------------- memberships */

static void t_members(struct env *e)
{
    const char *ada = mk_user(e, "ada@example.com"), *bob = mk_user(e, "bob@example.com");
    const char *cy = mk_user(e, "cy@example.com");
    struct gw_member *m;
    struct err err = {0};
    enum gw_role role;
    size_t n;

    OK(gw_db_workspace_create(e->s, S("team"), S("Team"), C(ada), &err));
    OK(gw_db_member_add(e->s, S("team"), C(bob), GW_ROLE_USER, &err));
    FAILS(gw_db_member_add(e->s, S("team"), C(bob), GW_ROLE_ADMIN, &err), ERR_CONFLICT,
          "member already");
    FAILS(gw_db_member_add(e->s, S("team"), S("ghost"), GW_ROLE_USER, &err), ERR_NOTFOUND,
          "user not found");
    FAILS(gw_db_member_add(e->s, S("ghost"), C(bob), GW_ROLE_USER, &err), ERR_NOTFOUND,
          "workspace not found");
    FAILS(gw_db_member_add(e->s, S("team"), C(cy), (enum gw_role)7, &err), ERR_INVALID, "role");
    OK(gw_db_member_list(e->s, e->a, S("team"), &m, &n, &err));
    CHECK_UINT_EQ(n, 2);
    CHECK_STR_EQ(m[0].user_id, ada);
    CHECK_STR_EQ(m[0].email, "ada@example.com");
    CHECK_STR_EQ(m[0].name, "Some One");
    CHECK_INT_EQ(m[0].role, GW_ROLE_ADMIN);
    CHECK_STR_EQ(m[1].user_id, bob);
    CHECK_INT_EQ(m[1].role, GW_ROLE_USER);
    OK(gw_db_member_role(e->s, S("team"), C(bob), &role, &err));
    CHECK_INT_EQ(role, GW_ROLE_USER);
    FAILS(gw_db_member_role(e->s, S("team"), C(cy), &role, &err), ERR_FORBIDDEN, "not a member");
    FAILS(gw_db_member_role(e->s, S("ghost"), C(bob), &role, &err), ERR_FORBIDDEN, "member");
    /* The last ADMIN can be neither demoted nor removed; with a second ADMIN both work. */
    FAILS(gw_db_member_set_role(e->s, S("team"), C(ada), GW_ROLE_USER, &err), ERR_CONFLICT,
          "workspace needs at least one ADMIN");
    FAILS(gw_db_member_remove(e->s, S("team"), C(ada), &err), ERR_CONFLICT,
          "workspace needs at least one ADMIN");
    OK(gw_db_member_set_role(e->s, S("team"), C(bob), GW_ROLE_ADMIN, &err));
    OK(gw_db_member_set_role(e->s, S("team"), C(ada), GW_ROLE_USER, &err));
    FAILS(gw_db_member_remove(e->s, S("team"), C(bob), &err), ERR_CONFLICT, "at least one ADMIN");
    OK(gw_db_member_remove(e->s, S("team"), C(ada), &err));
    FAILS(gw_db_member_role(e->s, S("team"), C(ada), &role, &err), ERR_FORBIDDEN, "not a member");
    FAILS(gw_db_member_remove(e->s, S("team"), C(ada), &err), ERR_NOTFOUND, "not a member");
    FAILS(gw_db_member_set_role(e->s, S("team"), C(cy), GW_ROLE_ADMIN, &err), ERR_NOTFOUND,
          "not a member");
    OK(gw_db_member_list(e->s, e->a, S("team"), &m, &n, &err));
    CHECK_UINT_EQ(n, 1);
}

TEST(gw_db_members_and_last_admin)
{
    each_backend(t_members);
}

/* Removal is effective at the next check, and ends the member's sessions in the workspace. */
static void t_removed_denied(struct env *e)
{
    const char *ada = mk_user(e, "ada@example.com"), *bob = mk_user(e, "bob@example.com");
    struct gw_refresh t = {"rt-bob", "fam-bob", bob, "team", 1, 1000000};
    struct gw_refresh got;
    struct err err = {0};
    enum gw_role role;

    OK(gw_db_workspace_create(e->s, S("team"), S("Team"), C(ada), &err));
    OK(gw_db_member_add(e->s, S("team"), C(bob), GW_ROLE_USER, &err));
    OK(gw_db_refresh_insert(e->s, &t, &err));
    OK(gw_db_member_role(e->s, S("team"), C(bob), &role, &err));
    OK(gw_db_member_remove(e->s, S("team"), C(bob), &err));
    FAILS(gw_db_member_role(e->s, S("team"), C(bob), &role, &err), ERR_FORBIDDEN, "member");
    FAILS(gw_db_refresh_consume(e->s, e->a, S("rt-bob"), 10, &got, &err), ERR_UNAUTHENTICATED,
          "revoked");
}

TEST(gw_db_removed_member_denied)
{
    each_backend(t_removed_denied);
}

/* What the per-request check reads in one statement: the user, the workspaces in order with
 * the roles, and a session's time; a workspace bound session ends with its workspace. */
static void t_caller_get(struct env *e)
{
    const char *ada = mk_user(e, "ada@example.com"), *bob = mk_user(e, "bob@example.com");
    struct gw_refresh live = {"rt-1", "fam-1", bob, NULL, 1, 5000};
    struct gw_refresh bound = {"rt-2", "fam-2", bob, "team", 1, 7000};
    struct gw_caller_row row;
    struct err err = {0};

    OK(gw_db_workspace_create(e->s, S("team"), S("Team"), C(ada), &err));
    OK(gw_db_member_add(e->s, S("team"), C(bob), GW_ROLE_USER, &err));
    OK(gw_db_refresh_insert(e->s, &live, &err));
    OK(gw_db_refresh_insert(e->s, &bound, &err));
    OK(gw_db_caller_get(e->s, e->a, C(bob), S("fam-1"), 10, &row, &err));
    CHECK_STR_EQ(row.user.email, "bob@example.com");
    CHECK(!row.user.disabled);
    CHECK_INT_EQ(row.live_until, 5000);
    CHECK_UINT_EQ(row.nworkspaces, 2);
    CHECK_STR_EQ(row.workspaces[0].id, row.user.personal_workspace); /* oldest first */
    CHECK_INT_EQ(row.workspaces[0].role, GW_ROLE_ADMIN);
    CHECK(row.workspaces[0].personal);
    CHECK_STR_EQ(row.workspaces[1].id, "team");
    CHECK_STR_EQ(row.workspaces[1].name, "Team");
    CHECK_INT_EQ(row.workspaces[1].role, GW_ROLE_USER);
    OK(gw_db_caller_get(e->s, e->a, C(bob), S("fam-1"), 5000, &row, &err));
    CHECK_INT_EQ(row.live_until, 0); /* expired */
    OK(gw_db_caller_get(e->s, e->a, C(ada), S("fam-1"), 10, &row, &err));
    CHECK_INT_EQ(row.live_until, 0); /* not her session */
    CHECK_UINT_EQ(row.nworkspaces, 2);
    OK(gw_db_caller_get(e->s, e->a, C(bob), SLICE_NULL, 10, &row, &err));
    CHECK_INT_EQ(row.live_until, 0); /* no session asked (a PAT) */
    OK(gw_db_caller_get(e->s, e->a, C(bob), S("fam-2"), 10, &row, &err));
    CHECK_INT_EQ(row.live_until, 7000);
    OK(gw_db_workspace_delete(e->s, S("team"), &err));
    OK(gw_db_caller_get(e->s, e->a, C(bob), S("fam-2"), 10, &row, &err));
    CHECK_INT_EQ(row.live_until, 0); /* bound to the workspace deleted */
    CHECK_UINT_EQ(row.nworkspaces, 1);
    OK(gw_db_refresh_revoke_family(e->s, S("fam-1"), 20, &err));
    OK(gw_db_caller_get(e->s, e->a, C(bob), S("fam-1"), 30, &row, &err));
    CHECK_INT_EQ(row.live_until, 0); /* logged out */
    OK(gw_db_user_set_disabled(e->s, C(bob), true, &err));
    OK(gw_db_caller_get(e->s, e->a, C(bob), SLICE_NULL, 30, &row, &err));
    CHECK(row.user.disabled);
    FAILS(gw_db_caller_get(e->s, e->a, S("nobody"), SLICE_NULL, 30, &row, &err), ERR_NOTFOUND,
          "user");
    FAILS(gw_db_caller_get(e->s, e->a, S(""), SLICE_NULL, 30, &row, &err), ERR_INVALID, "user");
}

TEST(gw_db_caller_get_reads_the_check_at_once)
{
    each_backend(t_caller_get);
}

/* ---------------------------------------------------------------- invitations */

static void t_invitations(struct env *e)
{
    const char *ada = mk_user(e, "ada@example.com"), *bob = mk_user(e, "Bob@Example.com");
    const char *eve = mk_user(e, "eve@example.com"), *id, *ws;
    struct gw_invitation_new in = {.workspace_id = S("team"),
                                   .email = S("BOB@example.com"),
                                   .token_hash = S("inv-hash-1"),
                                   .invited_by = C(ada),
                                   .role = GW_ROLE_ADMIN,
                                   .expires_at = 5000};
    struct gw_invitation *list;
    struct err err = {0};
    enum gw_role role;
    size_t n;

    OK(gw_db_workspace_create(e->s, S("team"), S("Team"), C(ada), &err));
    OK(gw_db_invitation_create(e->s, e->a, &in, &id, &err));
    CHECK(id_valid(C(id)));
    FAILS(gw_db_invitation_create(e->s, e->a, &in, NULL, &err), ERR_CONFLICT, "");
    in.token_hash = S("inv-hash-2");
    in.expires_at = 100;
    OK(gw_db_invitation_create(e->s, e->a, &in, NULL, &err));
    OK(gw_db_invitation_list(e->s, e->a, S("team"), &list, &n, &err));
    CHECK_UINT_EQ(n, 2);
    CHECK_STR_EQ(list[1].id, id);
    CHECK_STR_EQ(list[1].email, "bob@example.com");
    CHECK_STR_EQ(list[1].invited_by, ada);
    CHECK(list[1].role == GW_ROLE_ADMIN && list[1].accepted_at == 0);
    FAILS(gw_db_invitation_accept(e->s, e->a, S("nope"), C(bob), 10, &ws, &err), ERR_NOTFOUND,
          "invitation not found");
    FAILS(gw_db_invitation_accept(e->s, e->a, S("inv-hash-1"), C(eve), 10, &ws, &err),
          ERR_FORBIDDEN, "another email");
    FAILS(gw_db_member_role(e->s, S("team"), C(eve), &role, &err), ERR_FORBIDDEN, "member");
    FAILS(gw_db_invitation_accept(e->s, e->a, S("inv-hash-2"), C(bob), 100, &ws, &err),
          ERR_CONFLICT, "expired");
    OK(gw_db_invitation_accept(e->s, e->a, S("inv-hash-1"), C(bob), 10, &ws, &err));
    CHECK_STR_EQ(ws, "team");
    OK(gw_db_member_role(e->s, S("team"), C(bob), &role, &err));
    CHECK_INT_EQ(role, GW_ROLE_ADMIN);
    FAILS(gw_db_invitation_accept(e->s, e->a, S("inv-hash-1"), C(bob), 11, &ws, &err), ERR_CONFLICT,
          "accepted already");
    OK(gw_db_invitation_list(e->s, e->a, S("team"), &list, &n, &err));
    CHECK_INT_EQ(list[1].accepted_at, 10);
}

TEST(gw_db_invitations)
{
    each_backend(t_invitations);
}

/* ---------------------------------------------------------------- refresh tokens */

static void refresh_put(struct env *e, const char *hash, const char *fam, const char *user,
                        int64_t expires)
{
    struct gw_refresh t = {hash, fam, user, NULL, 1, expires};
    struct err err = {0};

    OK(gw_db_refresh_insert(e->s, &t, &err));
}

static void t_refresh(struct env *e)
{
    const char *u = mk_user(e, "ada@example.com");
    struct gw_refresh r;
    struct err err = {0};

    refresh_put(e, "a1", "fam-a", u, 1000);
    refresh_put(e, "b1", "fam-b", u, 1000);
    OK(gw_db_refresh_consume(e->s, e->a, S("a1"), 10, &r, &err));
    CHECK_STR_EQ(r.family_id, "fam-a");
    CHECK_STR_EQ(r.user_id, u);
    CHECK(r.workspace_id == NULL && r.used_at == 10 && r.revoked_at == 0);
    refresh_put(e, "a2", "fam-a", u, 1000);
    OK(gw_db_refresh_rotate(e->s, e->a, S("a2"), S("a3"), 2000, 20, &r, &err));
    CHECK_STR_EQ(r.token_hash, "a2");
    /* a1 again: reuse. The family dies (a3 too), the other family lives. */
    FAILS(gw_db_refresh_consume(e->s, e->a, S("a1"), 30, &r, &err), ERR_FORBIDDEN,
          "refresh token reused: session revoked");
    FAILS(gw_db_refresh_consume(e->s, e->a, S("a3"), 31, &r, &err), ERR_UNAUTHENTICATED, "revoked");
    /* A token of the family issued after the reuse is dead at birth. */
    refresh_put(e, "a4", "fam-a", u, 1000);
    FAILS(gw_db_refresh_consume(e->s, e->a, S("a4"), 32, &r, &err), ERR_UNAUTHENTICATED, "revoked");
    FAILS(gw_db_refresh_rotate(e->s, e->a, S("a4"), S("a5"), 2000, 33, &r, &err),
          ERR_UNAUTHENTICATED, "revoked");
    CHECK_INT_EQ(count(e, "SELECT COUNT(*) FROM refresh_tokens WHERE token_hash = ?", S("a5")), 0);
    FAILS(gw_db_refresh_consume(e->s, e->a, S("zz"), 30, &r, &err), ERR_UNAUTHENTICATED, "unknown");
    FAILS(gw_db_refresh_consume(e->s, e->a, S("b1"), 1000, &r, &err), ERR_UNAUTHENTICATED,
          "expired");
    OK(gw_db_refresh_consume(e->s, e->a, S("b1"), 999, &r, &err));
    refresh_put(e, "c1", "fam-c", u, 1000);
    OK(gw_db_refresh_revoke_family(e->s, S("fam-c"), 40, &err));
    FAILS(gw_db_refresh_consume(e->s, e->a, S("c1"), 41, &r, &err), ERR_UNAUTHENTICATED, "revoked");
}

TEST(gw_db_refresh_rotation_and_reuse)
{
    each_backend(t_refresh);
}

#define RACERS 8

struct racer {
    struct store *s;
    int rc;
    struct err err;
};

static void *racer_main(void *arg)
{
    struct racer *r = arg;
    struct arena *a = arena_new(NULL);
    struct gw_refresh out;

    r->rc = gw_db_refresh_consume(r->s, a, S("race"), 10, &out, &r->err);
    arena_free(a);
    return NULL;
}

static void t_refresh_race(struct env *e)
{
    const char *u = mk_user(e, "ada@example.com");
    struct racer r[RACERS];
    pthread_t th[RACERS];
    int i, ok = 0, reused = 0;

    refresh_put(e, "race", "fam-r", u, 1000);
    for (i = 0; i < RACERS; i++) {
        r[i] = (struct racer){.s = e->s};
        CHECK(pthread_create(&th[i], NULL, racer_main, &r[i]) == 0);
    }
    for (i = 0; i < RACERS; i++)
        pthread_join(th[i], NULL);
    for (i = 0; i < RACERS; i++) {
        ok += r[i].rc == 0;
        reused += r[i].rc == ERR_FORBIDDEN;
        if (r[i].rc != 0 && r[i].rc != ERR_FORBIDDEN)
            test_fail(__FILE__, __LINE__, "racer %d: %d (%s)", i, r[i].rc, r[i].err.msg);
    }
    CHECK_INT_EQ(ok, 1);
    CHECK_INT_EQ(reused, RACERS - 1);
}

TEST(gw_db_refresh_concurrent_consume_once)
{
    each_backend(t_refresh_race);
}

/* ---------------------------------------------------------------- API tokens */

static void t_api_tokens(struct env *e)
{
    const char *ada = mk_user(e, "ada@example.com"), *bob = mk_user(e, "bob@example.com");
    struct gw_api_token_new in = {
        .user_id = C(ada), .name = S("ci"), .token_hash = S("pat-hash-1"), .prefix = S("slp_ab12")};
    struct gw_api_token t, got, *list;
    struct err err = {0};
    size_t n;

    OK(gw_db_api_token_create(e->s, e->a, &in, &t, &err));
    CHECK(id_valid(C(t.id)) && t.expires_at == 0 && t.last_used_at == 0);
    CHECK_STR_EQ(t.prefix, "slp_ab12");
    FAILS(gw_db_api_token_create(e->s, e->a, &in, &got, &err), ERR_CONFLICT, "token_hash");
    in.token_hash = S("pat-hash-2");
    in.name = S("short-lived");
    in.expires_at = 5000;
    OK(gw_db_api_token_create(e->s, e->a, &in, &got, &err));
    in.user_id = S("ghost");
    FAILS(gw_db_api_token_create(e->s, e->a, &in, &got, &err), ERR_NOTFOUND, "user_id");
    OK(gw_db_api_token_list(e->s, e->a, C(ada), &list, &n, &err));
    CHECK_UINT_EQ(n, 2);
    CHECK_STR_EQ(list[0].name, "short-lived");
    CHECK_STR_EQ(list[1].name, "ci");
    /* Authentication touches last_used_at at most once a minute. */
    OK(gw_db_api_token_auth(e->s, e->a, S("pat-hash-1"), 100000, &got, &err));
    CHECK_STR_EQ(got.id, t.id);
    CHECK_STR_EQ(got.user_id, ada);
    OK(gw_db_api_token_auth(e->s, e->a, S("pat-hash-1"), 150000, &got, &err));
    CHECK_INT_EQ(got.last_used_at, 100000);
    OK(gw_db_api_token_auth(e->s, e->a, S("pat-hash-1"), 160000, &got, &err));
    CHECK_INT_EQ(got.last_used_at, 160000);
    /* Expiry. */
    OK(gw_db_api_token_auth(e->s, e->a, S("pat-hash-2"), 4999, &got, &err));
    FAILS(gw_db_api_token_auth(e->s, e->a, S("pat-hash-2"), 5000, &got, &err), ERR_UNAUTHENTICATED,
          "not valid");
    FAILS(gw_db_api_token_auth(e->s, e->a, S("nope"), 1, &got, &err), ERR_UNAUTHENTICATED, "");
    /* Only the owner revokes; revoked tokens neither authenticate nor list. */
    FAILS(gw_db_api_token_revoke(e->s, C(t.id), C(bob), 1, &err), ERR_NOTFOUND, "API token");
    OK(gw_db_api_token_auth(e->s, e->a, S("pat-hash-1"), 160001, &got, &err));
    OK(gw_db_api_token_revoke(e->s, C(t.id), C(ada), 1, &err));
    FAILS(gw_db_api_token_revoke(e->s, C(t.id), C(ada), 2, &err), ERR_NOTFOUND, "API token");
    FAILS(gw_db_api_token_auth(e->s, e->a, S("pat-hash-1"), 160002, &got, &err),
          ERR_UNAUTHENTICATED, "not valid");
    OK(gw_db_api_token_list(e->s, e->a, C(ada), &list, &n, &err));
    CHECK_UINT_EQ(n, 1);
    /* A disabled user's tokens stop working. */
    OK(gw_db_user_set_disabled(e->s, C(ada), true, &err));
    FAILS(gw_db_api_token_auth(e->s, e->a, S("pat-hash-2"), 1, &got, &err), ERR_UNAUTHENTICATED,
          "not valid");
}

TEST(gw_db_api_tokens)
{
    each_backend(t_api_tokens);
}

/* ---------------------------------------------------------------- signing keys */

static void t_signing_keys(struct env *e)
{
    struct gw_signing_key *k;
    struct err err = {0};
    size_t n, i;
    int current;

    OK(gw_db_signing_key_add(e->s, S("k1"), S("-----BEGIN PRIVATE KEY-----\nAAA\n"), 0, 10, &err));
    OK(gw_db_signing_key_add(e->s, S("k2"), S("pem2"), 0, 20, &err));
    OK(gw_db_signing_key_add(e->s, S("k3"), S("pem3"), 100, 30, &err));
    FAILS(gw_db_signing_key_add(e->s, S("k1"), S("x"), 0, 40, &err), ERR_CONFLICT, "kid");
    OK(gw_db_signing_key_set_current(e->s, S("k1"), 50, &err));
    OK(gw_db_signing_key_set_current(e->s, S("k2"), 50, &err));
    FAILS(gw_db_signing_key_set_current(e->s, S("k3"), 100, &err), ERR_NOTFOUND, "kid");
    FAILS(gw_db_signing_key_set_current(e->s, S("kx"), 50, &err), ERR_NOTFOUND, "kid");
    OK(gw_db_signing_key_list(e->s, e->a, 50, &k, &n, &err));
    CHECK_UINT_EQ(n, 3);
    CHECK_STR_EQ(k[0].kid, "k3");
    CHECK_STR_EQ(k[2].private_pem, "-----BEGIN PRIVATE KEY-----\nAAA\n");
    for (i = 0, current = 0; i < n; i++)
        current += k[i].is_current;
    CHECK_INT_EQ(current, 1);
    CHECK(k[1].is_current);
    OK(gw_db_signing_key_list(e->s, e->a, 100, &k, &n, &err));
    CHECK_UINT_EQ(n, 2);
    OK(gw_db_signing_key_retire(e->s, S("k2"), 60, &err));
    OK(gw_db_signing_key_list(e->s, e->a, 60, &k, &n, &err));
    CHECK_UINT_EQ(n, 2); /* k3, k1 */
    CHECK(!k[0].is_current && !k[1].is_current);
    FAILS(gw_db_signing_key_retire(e->s, S("kx"), 60, &err), ERR_NOTFOUND, "kid");
}

TEST(gw_db_signing_keys)
{
    each_backend(t_signing_keys);
}

/* ---------------------------------------------------------------- login attempts */

static void t_lockout(struct env *e)
{
    const int64_t min = 60 * 1000, t0 = 1000000000;
    int64_t until = -1, now = t0;
    struct err err = {0};
    int i;

    for (i = 1; i < GW_LOCK_AFTER; i++) {
        OK(gw_db_login_failure(e->s, S("email:a@b.c"), now++, &until, &err));
        CHECK_INT_EQ(until, 0);
    }
    OK(gw_db_login_locked(e->s, S("email:a@b.c"), now, &until, &err));
    CHECK_INT_EQ(until, 0);
    OK(gw_db_login_failure(e->s, S("email:a@b.c"), now, &until, &err));
    CHECK_INT_EQ(until, now + 1 * min);
    OK(gw_db_login_locked(e->s, S("email:a@b.c"), now + min - 1, &until, &err));
    CHECK_INT_EQ(until, now + min);
    OK(gw_db_login_locked(e->s, S("email:a@b.c"), now + min, &until, &err));
    CHECK_INT_EQ(until, 0);
    /* Doubling per further failure, capped at an hour, also past the 15-minute window while
     * locks keep being earned. */
    static const int64_t expect[] = {2, 4, 8, 16, 32, 60, 60};
    for (i = 0; i < (int)ARRAY_LEN(expect); i++) {
        now += 3 * min;
        OK(gw_db_login_failure(e->s, S("email:a@b.c"), now, &until, &err));
        CHECK_INT_EQ(until, now + expect[i] * min);
    }
    /* Another key is independent; success clears. */
    OK(gw_db_login_failure(e->s, S("ip:10.0.0.1"), now, &until, &err));
    CHECK_INT_EQ(until, 0);
    OK(gw_db_login_success(e->s, S("email:a@b.c"), &err));
    OK(gw_db_login_locked(e->s, S("email:a@b.c"), now, &until, &err));
    CHECK_INT_EQ(until, 0);
    OK(gw_db_login_failure(e->s, S("email:a@b.c"), now, &until, &err));
    CHECK_INT_EQ(until, 0);
    /* Failures more than a window apart never lock. */
    for (i = 0; i < 10; i++) {
        now += 16 * min;
        OK(gw_db_login_failure(e->s, S("ip:10.0.0.2"), now, &until, &err));
        CHECK_INT_EQ(until, 0);
    }
    FAILS(gw_db_login_failure(e->s, S("user:x"), now, &until, &err), ERR_INVALID, "key");
}

TEST(gw_db_login_lockout_backoff)
{
    each_backend(t_lockout);
}

/* ---------------------------------------------------------------- audit log */

static void t_audit(struct env *e)
{
    struct gw_audit_new in = {.workspace_id = S("team"),
                              .action = S("member.remove"),
                              .target = S("user:1"),
                              .outcome = GW_OUTCOME_OK};
    struct gw_audit *l;
    struct err err = {0};
    char action[32];
    size_t n;
    int i;

    for (i = 0; i < 5; i++) {
        snprintf(action, sizeof(action), "act.%d", i);
        in.action = C(action);
        in.at = 1000 + (i == 4 ? 0 : i); /* two entries share a millisecond */
        in.outcome = (enum gw_outcome)(i % 3);
        OK(gw_db_audit_append(e->s, &in, &err));
    }
    in.workspace_id = S("other");
    in.actor_user_id = S("u-1");
    in.detail = S("{\"why\":\"x\"}");
    OK(gw_db_audit_append(e->s, &in, &err));
    OK(gw_db_audit_list(e->s, e->a, S("team"), 10, &l, &n, &err));
    CHECK_UINT_EQ(n, 5);
    CHECK_STR_EQ(l[0].action, "act.3");
    CHECK_STR_EQ(l[1].action, "act.2");
    CHECK_STR_EQ(l[2].action, "act.1");
    CHECK_STR_EQ(l[3].action, "act.4"); /* same ms as act.0, appended later */
    CHECK_STR_EQ(l[4].action, "act.0");
    CHECK_STR_EQ(l[0].outcome, "ok");
    CHECK_STR_EQ(l[1].outcome, "error");
    CHECK_STR_EQ(l[2].outcome, "denied");
    CHECK(l[0].actor_user_id == NULL);
    CHECK_STR_EQ(l[0].detail, "");
    OK(gw_db_audit_list(e->s, e->a, S("team"), 2, &l, &n, &err));
    CHECK_UINT_EQ(n, 2);
    OK(gw_db_audit_list(e->s, e->a, S("other"), 10, &l, &n, &err));
    CHECK_UINT_EQ(n, 1);
    CHECK_STR_EQ(l[0].actor_user_id, "u-1");
    CHECK_STR_EQ(l[0].detail, "{\"why\":\"x\"}");
    FAILS(gw_db_audit_list(e->s, e->a, S("team"), 0, &l, &n, &err), ERR_INVALID, "limit");
    in.outcome = (enum gw_outcome)9;
    FAILS(gw_db_audit_append(e->s, &in, &err), ERR_INVALID, "outcome");
}

TEST(gw_db_audit_newest_first)
{
    each_backend(t_audit);
}

/* ---------------------------------------------------------------- hostile text */

#define META "'; DROP TABLE users; -- ? $1 %s \\ \" ` \xC3\xA9 \xF0\x9F\x94\x91"

/* <n> bytes of META repeated. */
static struct slice filled(struct env *e, size_t n)
{
    char *p = arena_alloc(e->a, n + 1);
    size_t i;

    CHECK(p != NULL);
    for (i = 0; i < n; i++)
        p[i] = "abcdefghij"[i % 10];
    memcpy(p, META, n < sizeof(META) - 1 ? n : sizeof(META) - 1);
    p[n] = '\0';
    return (struct slice){p, n};
}

static void t_meta_roundtrip(struct env *e)
{
    struct gw_user_new in = {.email = S("o'hara\";--?@example.com"),
                             .name = S(META),
                             .avatar_url = S("https://x/?a=1&b='2'"),
                             .password_hash = S(META)};
    struct gw_audit_new au = {.workspace_id = S("w"),
                              .actor_user_id = S("?"),
                              .action = S(META),
                              .target = S(META),
                              .detail = filled(e, GW_DETAIL_MAX)};
    struct gw_audit *l;
    struct gw_user u, g;
    struct gw_signing_key *k;
    struct err err = {0};
    size_t n;

    in.name = filled(e, GW_NAME_MAX - 8);
    OK(gw_db_user_create(e->s, e->a, &in, &u, &err));
    OK(gw_db_user_get_by_email(e->s, e->a, in.email, &g, &err));
    CHECK_STR_EQ(g.email, "o'hara\";--?@example.com");
    CHECK_MEM_EQ(g.name, strlen(g.name), in.name.ptr, in.name.len);
    CHECK_STR_EQ(g.password_hash, META);
    CHECK_STR_EQ(g.avatar_url, "https://x/?a=1&b='2'");
    OK(gw_db_workspace_rename(e->s, C(u.personal_workspace), S(META), &err));
    OK(gw_db_audit_append(e->s, &au, &err));
    OK(gw_db_audit_list(e->s, e->a, S("w"), 1, &l, &n, &err));
    CHECK_STR_EQ(l[0].action, META);
    CHECK_STR_EQ(l[0].actor_user_id, "?");
    CHECK_MEM_EQ(l[0].detail, strlen(l[0].detail), au.detail.ptr, au.detail.len);
    OK(gw_db_signing_key_add(e->s, S(META), filled(e, GW_PEM_MAX), 0, 1, &err));
    OK(gw_db_signing_key_list(e->s, e->a, 2, &k, &n, &err));
    CHECK_STR_EQ(k[0].kid, META);
    CHECK_UINT_EQ(strlen(k[0].private_pem), GW_PEM_MAX);
    CHECK_INT_EQ(count(e, "SELECT COUNT(*) FROM users WHERE id = ?", C(u.id)), 1);
}

TEST(gw_db_sql_metacharacters_roundtrip)
{
    each_backend(t_meta_roundtrip);
}

/* 1 MiB in each text field: ERR_INVALID naming the field, never a crash or a store. */
static void t_huge(struct env *e)
{
    struct slice big = filled(e, 1 << 20), bad = S("a\0b");
    const char *ada = mk_user(e, "ada@example.com");
    struct gw_user_new un = {.email = S("b@example.com"), .name = S("B")};
    struct gw_api_token_new an = {C(ada), S("n"), S("h"), S("p"), 0};
    struct gw_audit_new au = {.action = S("a")};
    struct gw_invitation_new in = {S("team"), S("c@example.com"), S("h"), C(ada), GW_ROLE_USER, 9};
    struct gw_refresh rt = {"h", "f", ada, NULL, 1, 2};
    struct gw_api_token t;
    struct gw_user u;
    struct err err = {0};
    int64_t until;

    OK(gw_db_workspace_create(e->s, S("team"), S("T"), C(ada), &err));
#define HUGE(field, call)                                                                          \
    do {                                                                                           \
        FAILS(call, ERR_INVALID, field);                                                           \
    } while (0)
    un.email = big;
    HUGE("email", gw_db_user_create(e->s, e->a, &un, &u, &err));
    un.email = S("b@example.com"), un.name = big;
    HUGE("name", gw_db_user_create(e->s, e->a, &un, &u, &err));
    un.name = bad;
    HUGE("name", gw_db_user_create(e->s, e->a, &un, &u, &err));
    un.name = S("B"), un.avatar_url = big;
    HUGE("avatar_url", gw_db_user_create(e->s, e->a, &un, &u, &err));
    un.avatar_url = S("\xC3\x28"); /* not UTF-8 */
    HUGE("avatar_url", gw_db_user_create(e->s, e->a, &un, &u, &err));
    un.avatar_url = SLICE_NULL, un.password_hash = big;
    HUGE("password_hash", gw_db_user_create(e->s, e->a, &un, &u, &err));
    HUGE("password_hash", gw_db_user_set_password(e->s, C(ada), big, &err));
    HUGE("id", gw_db_user_get(e->s, e->a, big, &u, &err));
    HUGE("email", gw_db_user_get_by_email(e->s, e->a, big, &u, &err));
    HUGE("id must match", gw_db_workspace_create(e->s, big, S("n"), C(ada), &err));
    HUGE("name", gw_db_workspace_create(e->s, S("x"), big, C(ada), &err));
    HUGE("name", gw_db_workspace_rename(e->s, S("team"), big, &err));
    HUGE("user", gw_db_member_add(e->s, S("team"), big, GW_ROLE_USER, &err));
    HUGE("workspace", gw_db_member_remove(e->s, big, C(ada), &err));
    in.email = big;
    HUGE("email", gw_db_invitation_create(e->s, e->a, &in, NULL, &err));
    in.email = S("c@example.com"), in.token_hash = big;
    HUGE("token_hash", gw_db_invitation_create(e->s, e->a, &in, NULL, &err));
    HUGE("token_hash", gw_db_invitation_accept(e->s, e->a, big, C(ada), 1, NULL, &err));
    rt.token_hash = big.ptr;
    HUGE("token_hash", gw_db_refresh_insert(e->s, &rt, &err));
    rt.token_hash = "h", rt.family_id = big.ptr;
    HUGE("family_id", gw_db_refresh_insert(e->s, &rt, &err));
    HUGE("token_hash", gw_db_refresh_consume(e->s, e->a, big, 1, &rt, &err));
    an.name = big;
    HUGE("name", gw_db_api_token_create(e->s, e->a, &an, &t, &err));
    an.name = S("n"), an.prefix = big;
    HUGE("prefix", gw_db_api_token_create(e->s, e->a, &an, &t, &err));
    HUGE("token_hash", gw_db_api_token_auth(e->s, e->a, big, 1, &t, &err));
    HUGE("kid", gw_db_signing_key_add(e->s, big, S("p"), 0, 1, &err));
    HUGE("private_pem", gw_db_signing_key_add(e->s, S("k"), big, 0, 1, &err));
    HUGE("key", gw_db_login_failure(e->s, big, 1, &until, &err));
    au.action = big;
    HUGE("action", gw_db_audit_append(e->s, &au, &err));
    au.action = S("a"), au.target = big;
    HUGE("target", gw_db_audit_append(e->s, &au, &err));
    au.target = SLICE_NULL, au.detail = big;
    HUGE("detail", gw_db_audit_append(e->s, &au, &err));
#undef HUGE
    CHECK_INT_EQ(count(e, "SELECT COUNT(*) FROM users WHERE id <> ?", C(ada)), 0);
    CHECK_INT_EQ(count(e, "SELECT COUNT(*) FROM audit_log WHERE id <> ?", S("")), 0);
}

TEST(gw_db_huge_and_bad_text_rejected)
{
    each_backend(t_huge);
}
