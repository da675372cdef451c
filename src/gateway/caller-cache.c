/*
 * gateway: the caller cache. Each event loop keeps, per session (a JWT's sid and sub), what
 * gw_caller_load() found on the pool: until when the session lives, the user, and every
 * workspace the user belongs to with the role held there. A request of the same session then
 * gets its caller, and its membership check, from here on the loop: no pool, no store.
 *
 * An entry is used only when nothing at all was committed to the database since it was read
 * (gw_dbwatch, compared on every use) and its session has not reached the expiry of its
 * newest refresh token. Logout, a reused refresh token, a removed member, a new role, a
 * deleted or renamed workspace, a disabled user: each is a commit, so the next request of
 * anyone goes back to the store, whichever process or person wrote it. The price is that an
 * unrelated commit (an audit entry, a login) empties every loop's cache too; identity data
 * is read far more often than it is written.
 *
 * Per loop, so no lock: entries are made and dropped by their loop only. Refusals are not
 * kept (an ended session, a disabled user go to the store every time). See gw-int.h.
 */
#include <pthread.h>
#include <stdalign.h>
#include <stdlib.h>

#include "base/base.h"
#include "gateway/gw-int.h"

/* One kept caller, in one block: the struct, the workspaces, then the strings. */
struct snap {
    struct store_stamp ver;
    int64_t live_until; /* ms */
    const char *sid, *sub;
    struct gw_user user; /* no password hash */
    struct gw_workspace *ws;
    size_t nws;
    size_t size; /* of the whole block */
};

struct centry {
    uint64_t hash; /* of sid and sub; 0: empty */
    uint64_t used; /* the cache's clock when last used */
    struct snap *snap;
};

struct gw_ccache {
    uint64_t clock;
    struct centry e[GW_CCACHE_SETS * GW_CCACHE_WAYS];
};

/* Hits, drops and keeps are logged at debug level only (tests count them). */
static const struct log_ctx cc_log = {.svc = "gateway"};

/* ---------------------------------------------------------------- snapshots */

static size_t str_size(const char *s)
{
    return s != NULL ? strlen(s) + 1 : 0;
}

/* Bytes a snapshot of <u> and <ws>[<n>] for <sid>/<sub> takes. */
static size_t snap_size(const char *sid, const char *sub, const struct gw_user *u,
                        const struct gw_workspace *ws, size_t n)
{
    size_t size = sizeof(struct snap) + n * sizeof(*ws);

    size += str_size(sid) + str_size(sub) + str_size(u->id) + str_size(u->email) +
            str_size(u->name) + str_size(u->avatar_url) + str_size(u->personal_workspace);
    for (size_t i = 0; i < n; i++)
        size += str_size(ws[i].id) + str_size(ws[i].name);
    return size;
}

/* Copies <s> to *at, moving *at past it; NULL stays NULL. */
static const char *put_str(char **at, const char *s)
{
    size_t n = str_size(s);
    char *out = *at;

    if (s == NULL)
        return NULL;
    memcpy(out, s, n);
    *at += n;
    return out;
}

/* Packs a snapshot into <block> (snap_size() bytes, aligned for struct snap). */
static struct snap *snap_pack(void *block, size_t size, const struct store_stamp *ver,
                              int64_t live_until, const char *sid, const char *sub,
                              const struct gw_user *u, const struct gw_workspace *ws, size_t n)
{
    struct snap *p = block;
    char *at;

    _Static_assert(sizeof(struct snap) % alignof(struct gw_workspace) == 0, "workspaces align");
    *p = (struct snap){.ver = *ver, .live_until = live_until, .nws = n, .size = size};
    p->ws = n > 0 ? (struct gw_workspace *)(p + 1) : NULL;
    at = (char *)(p + 1) + n * sizeof(*ws);
    p->sid = put_str(&at, sid);
    p->sub = put_str(&at, sub);
    p->user = (struct gw_user){.id = put_str(&at, u->id),
                               .email = put_str(&at, u->email),
                               .name = put_str(&at, u->name),
                               .avatar_url = put_str(&at, u->avatar_url),
                               .personal_workspace = put_str(&at, u->personal_workspace),
                               .created_at = u->created_at,
                               .disabled = u->disabled,
                               .is_operator = u->is_operator};
    for (size_t i = 0; i < n; i++) {
        p->ws[i] = ws[i];
        p->ws[i].id = put_str(&at, ws[i].id);
        p->ws[i].name = put_str(&at, ws[i].name);
    }
    DASSERT((size_t)(at - (char *)block) == size);
    return p;
}

/* A copy of <s> in <a> (valid until arena_free()); NULL when <a> is spent. */
static struct snap *snap_copy(const struct snap *s, struct arena *a)
{
    void *block = arena_alloc(a, s->size);

    if (block == NULL)
        return NULL;
    return snap_pack(block, s->size, &s->ver, s->live_until, s->sid, s->sub, &s->user, s->ws,
                     s->nws);
}

/* ---------------------------------------------------------------- the table */

static uint64_t key_hash(const char *sid, const char *sub)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (const char *p = sid; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ 0xFF) * 1099511628211ULL; /* a byte no id holds, between the two */
    for (const char *p = sub; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h != 0 ? h : 1;
}

static struct centry *set_of(struct gw_ccache *cc, uint64_t hash)
{
    return &cc->e[(hash % GW_CCACHE_SETS) * GW_CCACHE_WAYS];
}

static void entry_drop(struct centry *e)
{
    FREE_AND_NULL(e->snap);
    e->hash = 0;
}

static struct centry *entry_find(struct gw_ccache *cc, uint64_t hash, const char *sid,
                                 const char *sub)
{
    struct centry *set = set_of(cc, hash);

    for (size_t i = 0; i < GW_CCACHE_WAYS; i++)
        if (set[i].hash == hash && strcmp(set[i].snap->sid, sid) == 0 &&
            strcmp(set[i].snap->sub, sub) == 0)
            return &set[i];
    return NULL;
}

/* Where a new entry for <hash> goes: the same key, an empty way, else the least recently
 * used. */
static struct centry *entry_slot(struct gw_ccache *cc, uint64_t hash, const char *sid,
                                 const char *sub)
{
    struct centry *set = set_of(cc, hash), *victim = entry_find(cc, hash, sid, sub);

    for (size_t i = 0; victim == NULL && i < GW_CCACHE_WAYS; i++)
        if (set[i].hash == 0)
            victim = &set[i];
    if (victim != NULL)
        return victim;
    victim = &set[0];
    for (size_t i = 1; i < GW_CCACHE_WAYS; i++)
        if (set[i].used < victim->used)
            victim = &set[i];
    return victim;
}

static void ccache_destroy(void *cc)
{
    gw_ccache_free(cc);
}

void gw_ccache_free(struct gw_ccache *cc)
{
    if (cc == NULL)
        return;
    for (size_t i = 0; i < ARRAY_LEN(cc->e); i++)
        free(cc->e[i].snap);
    free(cc);
}

struct gw_ccache *gw_ccache(struct gw *g)
{
    struct gw_ccache *cc;

    if (g->watch == NULL || !g->ccache_key_made)
        return NULL;
    if ((cc = pthread_getspecific(g->ccache_key)) != NULL)
        return cc;
    if ((cc = calloc(1, sizeof(*cc))) == NULL)
        return NULL; /* no cache for now: callers go to the store */
    if (pthread_setspecific(g->ccache_key, cc) != 0) {
        free(cc);
        return NULL;
    }
    return cc;
}

/* Start-up: the key of the loops' caches. */
int gw_ccache_setup(struct gw *g, struct err *err)
{
    if (pthread_key_create(&g->ccache_key, ccache_destroy) != 0)
        return err_set(err, ERR_INTERNAL, "gateway: no thread-specific key for the caller cache");
    g->ccache_key_made = true;
    return 0;
}

/* ---------------------------------------------------------------- use */

/* The entry of <c>'s session when it may still be used now; drops it when it may not. */
static const struct snap *valid_snap(struct gw *g, struct gw_ccache *cc, const struct gw_caller *c)
{
    const char *sid = c->who.claims.sid, *sub = c->who.claims.sub;
    struct centry *e = entry_find(cc, key_hash(sid, sub), sid, sub);
    struct store_stamp now;

    if (e == NULL)
        return NULL;
    store_watch_read(g->watch, &now);
    if (!store_stamp_eq(&now, &e->snap->ver) || (int64_t)time_wall_ms() >= e->snap->live_until) {
        LOG_DEBUG(&cc_log, "gateway.caller_cache_stale", LF_STR("user", sub),
                  LF_BOOL("written", !store_stamp_eq(&now, &e->snap->ver)));
        entry_drop(e);
        return NULL;
    }
    e->used = ++cc->clock;
    return e->snap;
}

bool gw_ccache_load(struct gw *g, struct gw_caller *c, struct arena *a, struct slice ws, int *rc,
                    struct err *err)
{
    struct gw_ccache *cc;
    const struct snap *s;
    struct snap *mine;

    if (c->who.kind != GW_CRED_JWT || (cc = gw_ccache(g)) == NULL ||
        (s = valid_snap(g, cc, c)) == NULL)
        return false;
    if ((mine = snap_copy(s, a)) == NULL) {
        *rc = err_set(err, ERR_LIMIT, "out of request memory");
        return true;
    }
    c->who.user_id = mine->sub;
    c->who.session = mine->sid;
    c->who.live_until = mine->live_until;
    c->user = mine->user;
    c->workspaces = mine->ws;
    c->nworkspaces = mine->nws;
    c->ver = mine->ver;
    c->cached = true;
    *rc = gw_caller_pick(c, ws, err);
    LOG_DEBUG(&cc_log, "gateway.caller_cache_hit", LF_STR("user", mine->sub), LF_INT("code", *rc));
    return true;
}

void gw_ccache_put(struct gw *g, const struct gw_caller *c)
{
    const char *sid = c->who.claims.sid, *sub = c->who.claims.sub;
    struct gw_ccache *cc;
    struct centry *e;
    uint64_t hash;
    size_t size;
    void *block;

    if (c->cached || !c->authenticated || c->who.kind != GW_CRED_JWT ||
        c->who.live_until <= (int64_t)time_wall_ms() || (cc = gw_ccache(g)) == NULL)
        return;
    size = snap_size(sid, sub, &c->user, c->workspaces, c->nworkspaces);
    if (size > GW_CCACHE_ENTRY_MAX || (block = malloc(size)) == NULL)
        return;
    hash = key_hash(sid, sub);
    e = entry_slot(cc, hash, sid, sub);
    entry_drop(e);
    e->snap = snap_pack(block, size, &c->ver, c->who.live_until, sid, sub, &c->user, c->workspaces,
                        c->nworkspaces);
    e->hash = hash;
    e->used = ++cc->clock;
    LOG_DEBUG(&cc_log, "gateway.caller_cache_put", LF_STR("user", sub));
}
