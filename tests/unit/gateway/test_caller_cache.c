/*
 * gateway caller cache (caller-cache.c) and the database version it trusts (store_watch_read): the
 * version moves with every commit, this process's or another's, and with nothing else; a
 * kept caller answers the membership check until anything is written or its session's time
 * is over; PATs and PostgreSQL are never cached.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "../test.h"
#include "base/base.h"
#include "gateway/gw-int.h"
#include "store/store.h"
#include "../dbtest.h"

#define S(lit) SLICE(lit)
#define C(cs)  slice_from_cstr(cs)

struct env {
    char url[1024];
    struct store *s;
    struct gw *g;
    struct arena *a;
    const char *ada, *ada_ws; /* a user and her personal workspace */
};

static void env_open(struct env *e, enum store_kind kind)
{
    struct gw_user_new in = {.email = S("ada@example.com"), .name = S("Ada")};
    struct gw_user u;
    struct err err = {0};

    dbtest_url(kind, "cc", e->url, sizeof(e->url));
    e->s = dbtest_open(e->url, "gateway", 4, 60000);
    OK(gw_new(&(struct gw_deps){.store = e->s, .issuer = "http://127.0.0.1:1"}, &e->g, &err));
    e->a = arena_new(NULL);
    OK(gw_db_user_create(e->s, e->a, &in, &u, &err));
    e->ada = u.id;
    e->ada_ws = u.personal_workspace;
}

static void env_close(struct env *e)
{
    arena_free(e->a);
    gw_free(e->g);
    store_close(e->s);
}

/* A session of <user> whose refresh token expires in <ttl_ms>; returns its family id. */
static const char *session(struct env *e, const char *user, int64_t ttl_ms)
{
    static unsigned seq;
    char *fam = arena_printf(e->a, "fam-%u", ++seq), *hash = arena_printf(e->a, "rt-%u", seq);
    int64_t now = (int64_t)time_wall_ms();
    struct gw_refresh t = {hash, fam, user, NULL, now, now + ttl_ms};
    struct err err = {0};

    OK(gw_db_refresh_insert(e->s, &t, &err));
    return fam;
}

/* A JWT caller of <user> in session <sid>, as gw_authn_begin() leaves it. */
static struct gw_caller jwt_caller(struct env *e, const char *user, const char *sid)
{
    struct gw_caller c = {.g = e->g};

    c.who.kind = GW_CRED_JWT;
    snprintf(c.who.claims.sub, sizeof(c.who.claims.sub), "%s", user);
    snprintf(c.who.claims.sid, sizeof(c.who.claims.sid), "%s", sid);
    return c;
}

/* What the cache answers for <user>/<sid> in <ws>: -1 when it does not know, else the code. */
static int cached(struct env *e, const char *user, const char *sid, struct slice ws,
                  struct gw_caller *out)
{
    struct gw_caller c = jwt_caller(e, user, sid);
    struct err err = {0};
    int rc = 0;

    if (!gw_ccache_load(e->g, &c, e->a, ws, &rc, &err))
        return -1;
    CHECK(c.cached);
    if (out != NULL)
        *out = c;
    return rc;
}

/* Loads <user>/<sid> as the pool would and keeps it. */
static void load_and_keep(struct env *e, const char *user, const char *sid)
{
    struct gw_caller c = jwt_caller(e, user, sid);
    struct err err = {0};

    OK(gw_caller_load(&c, e->a, SLICE_NULL, &err));
    CHECK(!c.cached);
    gw_ccache_put(e->g, &c);
}

TEST(the_version_moves_with_every_commit_and_only_then)
{
    struct env e = {0};
    struct store_stamp v0, v1, v2;
    struct gw_user u;
    struct err err = {0};
    sqlite3 *db;

    env_open(&e, STORE_SQLITE);
    CHECK(e.g->watch != NULL);
    store_watch_read(e.g->watch, &v0);
    OK(gw_db_user_get(e.s, e.a, C(e.ada), &u, &err)); /* a read */
    store_watch_read(e.g->watch, &v1);
    CHECK(store_stamp_eq(&v0, &v1));
    OK(gw_db_workspace_rename(e.s, C(e.ada_ws), S("Renamed"), &err)); /* a write, here */
    store_watch_read(e.g->watch, &v1);
    CHECK(!store_stamp_eq(&v0, &v1));
    /* another connection, as another process or sqlite3 by hand would write */
    CHECK_INT_EQ(sqlite3_open(e.url + strlen("sqlite:"), &db), SQLITE_OK);
    CHECK_INT_EQ(sqlite3_exec(db, "UPDATE users SET name = 'Ada L.'", NULL, NULL, NULL), SQLITE_OK);
    store_watch_read(e.g->watch, &v2);
    CHECK(!store_stamp_eq(&v1, &v2));
    CHECK_INT_EQ(sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL), SQLITE_OK);
    store_watch_read(e.g->watch, &v1);
    CHECK_INT_EQ(sqlite3_exec(db, "UPDATE users SET name = 'Ada'", NULL, NULL, NULL), SQLITE_OK);
    store_watch_read(e.g->watch, &v2);
    CHECK(!store_stamp_eq(&v1, &v2)); /* after the WAL restarted too */
    sqlite3_close(db);
    env_close(&e);
}

TEST(a_kept_caller_answers_until_anything_is_written)
{
    struct env e = {0};
    struct gw_caller c;
    struct err err = {0};
    const char *bob, *sid;
    struct gw_user u;
    struct gw_user_new in = {.email = S("bob@example.com"), .name = S("Bob")};

    env_open(&e, STORE_SQLITE);
    OK(gw_db_user_create(e.s, e.a, &in, &u, &err));
    bob = u.id;
    OK(gw_db_workspace_create(e.s, S("team"), S("Team"), C(e.ada), &err));
    OK(gw_db_member_add(e.s, S("team"), C(bob), GW_ROLE_USER, &err));
    sid = session(&e, bob, 60000);

    CHECK_INT_EQ(cached(&e, bob, sid, SLICE_NULL, NULL), -1); /* nothing kept yet */
    load_and_keep(&e, bob, sid);
    CHECK_INT_EQ(cached(&e, bob, sid, S("team"), &c), 0);
    CHECK_STR_EQ(c.workspace, "team");
    CHECK_INT_EQ(c.role, GW_ROLE_USER);
    CHECK_UINT_EQ(c.nworkspaces, 2);
    CHECK_STR_EQ(c.user.email, "bob@example.com");
    CHECK(c.user.password_hash == NULL);
    CHECK_INT_EQ(cached(&e, bob, sid, SLICE_NULL, &c), 0); /* the personal workspace */
    CHECK_STR_EQ(c.workspace, u.personal_workspace);
    CHECK_INT_EQ(c.role, GW_ROLE_ADMIN);
    CHECK_INT_EQ(cached(&e, bob, sid, S("elsewhere"), NULL), ERR_FORBIDDEN);
    CHECK_INT_EQ(cached(&e, e.ada, sid, SLICE_NULL, NULL), -1); /* another user, same sid */

    OK(gw_db_member_set_role(e.s, S("team"), C(bob), GW_ROLE_ADMIN, &err));
    CHECK_INT_EQ(cached(&e, bob, sid, S("team"), NULL), -1); /* written: back to the store */
    load_and_keep(&e, bob, sid);
    CHECK_INT_EQ(cached(&e, bob, sid, S("team"), &c), 0);
    CHECK_INT_EQ(c.role, GW_ROLE_ADMIN);

    OK(gw_db_member_remove(e.s, S("team"), C(bob), &err));
    CHECK_INT_EQ(cached(&e, bob, sid, S("team"), NULL), -1);
    load_and_keep(&e, bob, sid);
    CHECK_INT_EQ(cached(&e, bob, sid, S("team"), NULL), ERR_FORBIDDEN); /* kept: not a member */

    OK(gw_db_refresh_revoke_family(e.s, C(sid), (int64_t)time_wall_ms(), &err)); /* logout */
    CHECK_INT_EQ(cached(&e, bob, sid, SLICE_NULL, NULL), -1);
    c = jwt_caller(&e, bob, sid);
    CHECK_INT_EQ(gw_caller_load(&c, e.a, SLICE_NULL, &err), ERR_UNAUTHENTICATED);
    gw_ccache_put(e.g, &c); /* refusals are not kept */
    CHECK_INT_EQ(cached(&e, bob, sid, SLICE_NULL, NULL), -1);
    env_close(&e);
}

TEST(a_kept_caller_ends_with_its_session)
{
    struct env e = {0};
    const char *sid;

    env_open(&e, STORE_SQLITE);
    sid = session(&e, e.ada, 300);
    load_and_keep(&e, e.ada, sid);
    CHECK_INT_EQ(cached(&e, e.ada, sid, SLICE_NULL, NULL), 0);
    usleep(400 * 1000);
    CHECK_INT_EQ(cached(&e, e.ada, sid, SLICE_NULL, NULL), -1);
    env_close(&e);
}

TEST(personal_access_tokens_are_not_kept)
{
    struct env e = {0};
    struct gw_caller c;
    int rc = 0;
    struct err err = {0};

    env_open(&e, STORE_SQLITE);
    c = jwt_caller(&e, e.ada, session(&e, e.ada, 60000));
    OK(gw_caller_load(&c, e.a, SLICE_NULL, &err));
    c.who.kind = GW_CRED_PAT;
    gw_ccache_put(e.g, &c);
    CHECK(!gw_ccache_load(e.g, &c, e.a, SLICE_NULL, &rc, &err));
    c.who.kind = GW_CRED_JWT;
    CHECK(!gw_ccache_load(e.g, &c, e.a, SLICE_NULL, &rc, &err));
    env_close(&e);
}

/* Many sessions: each set keeps its most recently used, and nothing leaks. */
TEST(a_full_cache_drops_the_least_recently_used)
{
    struct env e = {0};
    struct gw_caller c;
    struct gw_workspace ws = {.id = "w", .name = "W", .role = GW_ROLE_USER};
    char sid[32];
    size_t n = GW_CCACHE_SETS * GW_CCACHE_WAYS * 2, hits = 0;

    env_open(&e, STORE_SQLITE);
    for (size_t i = 0; i < n; i++) {
        snprintf(sid, sizeof(sid), "s-%zu", i);
        c = jwt_caller(&e, "u", sid);
        c.authenticated = true;
        c.user = (struct gw_user){.id = "u", .email = "u@x", .name = "U"};
        c.workspaces = &ws;
        c.nworkspaces = 1;
        c.who.live_until = (int64_t)time_wall_ms() + 60000;
        store_watch_read(e.g->watch, &c.ver);
        gw_ccache_put(e.g, &c);
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(sid, sizeof(sid), "s-%zu", i);
        hits += cached(&e, "u", sid, S("w"), NULL) == 0;
    }
    CHECK(hits > 0 && hits <= GW_CCACHE_SETS * GW_CCACHE_WAYS);
    snprintf(sid, sizeof(sid), "s-%zu", n - 1); /* the newest is always there */
    CHECK_INT_EQ(cached(&e, "u", sid, S("w"), NULL), 0);
    env_close(&e);
}

TEST(postgresql_has_no_watch_and_no_cache)
{
    struct env e = {0};
    struct gw_caller c;
    const char *sid;
    struct err err = {0};

    if (dbtest_pg_url() == NULL)
        return; /* SLIPWAY_TEST_PG_URL not set */
    env_open(&e, STORE_POSTGRES);
    CHECK(e.g->watch == NULL);
    CHECK(gw_ccache(e.g) == NULL);
    sid = session(&e, e.ada, 60000);
    c = jwt_caller(&e, e.ada, sid);
    OK(gw_caller_load(&c, e.a, SLICE_NULL, &err));
    gw_ccache_put(e.g, &c);
    CHECK_INT_EQ(cached(&e, e.ada, sid, SLICE_NULL, NULL), -1);
    env_close(&e);
}
