/*
 * gateway: the object main.c holds. Start-up (migrations, signing keys, the GraphQL schema),
 * the first-run administrator, `slipway admin create`, and the audit helper the handlers share.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "auth/auth.h"
#include "base/base.h"
#include "gateway/gateway.h"
#include "gateway/gw-int.h"
#include "reg/reg.h"
#include "store/store.h"

static const struct log_ctx gw_log = {.svc = "gateway"};

static const struct cfg_key gw_cfg_keys[] = {
    CFG_INT("gateway.login_rate", struct gw_cfg, login_rate, 10, 1, 100000, 0,
            "Logins a minute one client address may make (a token bucket refilled at this "
            "rate); more get 429 with Retry-After."),
    CFG_INT("gateway.login_burst", struct gw_cfg, login_burst, 20, 1, 10000, 0,
            "Logins one client address may make at once before gateway.login_rate applies."),
    CFG_DURATION("gateway.key_rotation", struct gw_cfg, key_rotation_ms, 30LL * 86400000, 1000,
                 365LL * 86400000, 0,
                 "Age at which the token-signing key is replaced; the old key keeps verifying "
                 "the tokens it signed until they expire."),
    CFG_DURATION("gateway.maintenance_interval", struct gw_cfg, maintenance_ms, 3600000, 1000,
                 86400000, 0, "How often the gateway checks whether its signing key is due."),
    CFG_SIZE("gateway.graphql_max_bytes", struct gw_cfg, gql_max_bytes, 256 << 10, 64, 64 << 20, 0,
             "Longest GraphQL document (the query text); a longer one is refused before "
             "parsing with a QUERY_TOO_COMPLEX error."),
    CFG_INT("gateway.graphql_max_tokens", struct gw_cfg, gql_max_tokens, 100000, 8, 100000000, 0,
            "Lexical tokens a GraphQL document may have."),
    CFG_INT("gateway.graphql_max_depth", struct gw_cfg, gql_max_depth, 128, 2, 4096, 0,
            "Deepest nesting of selection sets, lists and input objects while parsing a "
            "document."),
    CFG_INT("gateway.graphql_max_aliases", struct gw_cfg, gql_max_aliases, 100, 1, 1000000, 0,
            "Aliased fields an operation may hold (fragments counted where they are used)."),
    CFG_INT("gateway.graphql_max_field_depth", struct gw_cfg, gql_max_field_depth, 24, 1, 4096, 0,
            "Fields an operation may nest inside one another."),
    CFG_INT("gateway.graphql_max_cost", struct gw_cfg, gql_max_cost, 20000, 1, 1000000000, 0,
            "Fields an operation may execute, each counted once per place it runs."),
    CFG_INT("gateway.graphql_cache_entries", struct gw_cfg, gql_cache_entries, 512, 1, 1000000, 0,
            "Prepared (parsed and validated) documents each event loop keeps, least recently "
            "used dropped first."),
    CFG_SIZE("gateway.graphql_max_body", struct gw_cfg, gql_max_body, 512 << 10, 1024, 256 << 20, 0,
             "Largest GraphQL request: a POST body, a GET's variables, a WebSocket message "
             "(query and variables together); more gets 413 or closes the socket with 1009."),
    CFG_DURATION("gateway.graphql_ws_init_timeout", struct gw_cfg, ws_init_timeout_ms, 10000, 100,
                 3600000, 0,
                 "Time a GraphQL WebSocket client has to send connection_init; then it is "
                 "closed with 4408."),
    CFG_SIZE("gateway.graphql_ws_send_buffer", struct gw_cfg, ws_send_buffer, 1 << 20, 4096,
             1LL << 30, 0,
             "Bytes of messages waiting for a GraphQL WebSocket client that reads too slowly; "
             "past this it is closed with 1008, never silently skipped."),
    CFG_INT("gateway.graphql_ws_max_operations", struct gw_cfg, ws_max_operations, 100, 1, 100000,
            0, "Operations (running subscriptions included) one WebSocket connection may hold."),
    CFG_DURATION("gateway.graphql_ws_recheck_interval", struct gw_cfg, ws_recheck_ms, 60000, 1000,
                 86400000, 0,
                 "How often a WebSocket connection with running subscriptions has its session "
                 "and membership checked again: an ended session closes it with 4403, a lost "
                 "membership ends its streams. Removals made through the API act at once."),
    CFG_STR("gateway.dashboard_dir", struct gw_cfg, dashboard_dir, "dashboard/dist", 0,
            "Directory of the web dashboard's production build (index.html and assets/), "
            "relative to the working directory; served at every path the API does not use."),
};

struct cfg_section gw_cfg_section(struct gw_cfg *target)
{
    return (struct cfg_section){"gateway", gw_cfg_keys, ARRAY_LEN(gw_cfg_keys), target};
}

/* ---------------------------------------------------------------- signing keys */

/* Makes a key, stores its PEM and makes it current, in the store and in the ring. */
static int key_create(struct gw *g, int64_t now_ms, struct err *err)
{
    struct sbuf pem = SBUF_INIT(GW_PEM_MAX);
    struct auth_key *k = NULL;
    const char *kid;
    int rc = auth_key_generate(&k, err);

    if (rc < 0)
        return rc;
    kid = auth_key_kid(k);
    if ((rc = auth_key_to_pem(k, &pem, err)) < 0 ||
        (rc = gw_db_signing_key_add(g->store, slice_from_cstr(kid), sbuf_slice(&pem), 0, now_ms,
                                    err)) < 0 ||
        (rc = gw_db_signing_key_set_current(g->store, slice_from_cstr(kid), now_ms, err)) < 0 ||
        (rc = auth_keyring_add(g->ring, k, err)) < 0)
        goto fail;
    k = NULL; /* the ring has it */
    rc = auth_keyring_set_current(g->ring, kid, err);
    if (rc == 0) {
        snprintf(g->current_kid, sizeof(g->current_kid), "%s", kid);
        g->current_since_ms = now_ms;
        LOG_INFO(&gw_log, "gateway.signing_key_created", LF_STR("kid", kid));
    }
fail:
    explicit_bzero(pem.buf, pem.len);
    sbuf_release(&pem);
    auth_key_free(k);
    return rc;
}

/* Retires <kid> in the store and the ring: it verifies until the tokens it signed expire. */
static int key_retire(struct gw *g, const char *kid, int64_t now_ms, struct err *err)
{
    int64_t until_s = now_ms / 1000 + AUTH_ACCESS_TTL + 60;
    int rc = gw_db_signing_key_retire(g->store, slice_from_cstr(kid), until_s * 1000, err);

    if (rc == 0)
        rc = auth_keyring_retire(g->ring, kid, until_s, err);
    if (rc == 0)
        LOG_INFO(&gw_log, "gateway.signing_key_retired", LF_STR("kid", kid),
                 LF_INT("not_after", until_s));
    return rc;
}

/* Adds one stored key to the ring. */
static int key_load(struct gw *g, const struct gw_signing_key *sk, struct err *err)
{
    struct auth_key *k = NULL;
    int rc = auth_key_from_pem(slice_from_cstr(sk->private_pem), &k, err);

    if (rc == 0 && (rc = auth_keyring_add(g->ring, k, err)) < 0)
        auth_key_free(k);
    if (rc < 0)
        return err_wrap(err, "signing key %s", sk->kid);
    return 0;
}

/* Loads the stored keys; *current gets the current one (NULL when none). Keys that are not
 * current and have no end (a rotation cut short) are retired now. */
static int keys_load(struct gw *g, struct arena *a, int64_t now_ms,
                     const struct gw_signing_key **current, struct err *err)
{
    struct gw_signing_key *keys;
    size_t n, i;
    int rc = gw_db_signing_key_list(g->store, a, now_ms, &keys, &n, err);

    *current = NULL;
    for (i = 0; rc == 0 && i < n && i < AUTH_KEYRING_MAX; i++) {
        rc = key_load(g, &keys[i], err);
        if (rc == 0 && keys[i].is_current)
            *current = &keys[i];
    }
    if (rc == 0 && *current != NULL)
        rc = auth_keyring_set_current(g->ring, (*current)->kid, err);
    for (i = 0; rc == 0 && i < n && i < AUTH_KEYRING_MAX; i++) {
        if (keys[i].is_current)
            continue;
        if (keys[i].not_after == 0)
            rc = key_retire(g, keys[i].kid, now_ms, err);
        else
            rc = auth_keyring_retire(g->ring, keys[i].kid, keys[i].not_after / 1000, err);
    }
    return rc;
}

/* Replaces the current key when it is older than the configured age. */
static int rotate_if_due(struct gw *g, int64_t now_ms, struct err *err)
{
    char old[AUTH_KID_LEN + 1];
    int rc;

    if (now_ms - g->current_since_ms <= g->key_max_age_ms)
        return 0;
    snprintf(old, sizeof(old), "%s", g->current_kid);
    rc = key_create(g, now_ms, err);
    return rc == 0 ? key_retire(g, old, now_ms, err) : rc;
}

static int keys_setup(struct gw *g, struct err *err)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 4u << 20});
    int64_t now_ms = (int64_t)time_wall_ms();
    const struct gw_signing_key *cur;
    int rc = keys_load(g, a, now_ms, &cur, err);

    if (rc == 0 && cur == NULL) {
        rc = key_create(g, now_ms, err);
    } else if (rc == 0) {
        snprintf(g->current_kid, sizeof(g->current_kid), "%s", cur->kid);
        g->current_since_ms = cur->created_at;
        rc = rotate_if_due(g, now_ms, err);
    }
    arena_free(a);
    return rc;
}

int gw_maintain(struct gw *g, struct err *err)
{
    int64_t now_ms = (int64_t)time_wall_ms();
    int rc = rotate_if_due(g, now_ms, err);

    auth_keyring_prune(g->ring, now_ms / 1000);
    return rc;
}

/* ---------------------------------------------------------------- life cycle */

static void vcache_destroy(void *c)
{
    auth_vcache_free(c);
}

/* <d>'s configuration, or the defaults of the table when it has none. */
static void cfg_copy(const struct gw_deps *d, struct gw_cfg *out)
{
    struct cfg *c;

    if (d->cfg != NULL) {
        *out = *d->cfg;
        return;
    }
    c = cfg_new();
    cfg_add(c, &(struct cfg_section){"gateway", gw_cfg_keys, ARRAY_LEN(gw_cfg_keys), out});
    cfg_free(c);               /* frees the strings it gave */
    out->dashboard_dir = NULL; /* gw_dashboard_routes_add() has the default */
}

static void gql_cache_destroy(void *c)
{
    gql_cache_free(c);
}

/* The GraphQL side: limits, the per-loop document cache's key, events, the schema. */
static int gql_setup(struct gw *g, struct err *err)
{
    const struct gw_cfg *c = &g->cfg;

    g->limits = (struct gql_limits){.max_bytes = (size_t)c->gql_max_bytes,
                                    .max_tokens = (size_t)c->gql_max_tokens,
                                    .max_depth = (unsigned)c->gql_max_depth,
                                    .max_aliases = (unsigned)c->gql_max_aliases,
                                    .max_field_depth = (unsigned)c->gql_max_field_depth,
                                    .max_cost = (uint64_t)c->gql_max_cost};
    if (pthread_key_create(&g->gql_cache_key, gql_cache_destroy) != 0)
        return err_set(err, ERR_INTERNAL, "gateway: no thread-specific key for the GraphQL cache");
    g->gql_cache_key_made = true;
    g->events = gw_events_new();
    return gw_api_new(g, err);
}

/* The caller cache, when the store can say that nothing was written (SQLite). */
static int caller_cache_setup(struct gw *g, struct err *err)
{
    struct err why = {0};
    int rc;

    g->watch = store_watch_open(g->store, &why);
    if (g->watch == NULL && why.code != ERR_UNAVAILABLE)
        LOG_WARN(&gw_log, "gateway.caller_cache", LF_BOOL("enabled", false),
                 LF_STR("why", why.msg));
    else if (g->watch == NULL)
        LOG_INFO(&gw_log, "gateway.caller_cache", LF_BOOL("enabled", false),
                 LF_STR("why", why.msg));
    if (g->watch == NULL)
        return 0;
    if ((rc = gw_ccache_setup(g, err)) < 0)
        return rc;
    LOG_INFO(&gw_log, "gateway.caller_cache", LF_BOOL("enabled", true),
             LF_STR("why", "SQLite: every commit, of any process, is seen at once"));
    return 0;
}

struct auth_keyring *gw_keyring(struct gw *g)
{
    return g->ring;
}

const char *gw_issuer(const struct gw *g)
{
    return g->issuer;
}

void gw_set_pkg(struct gw *g, struct pkg *p)
{
    g->pkg = p;
}

void gw_set_bld(struct gw *g, struct bld_svc *b)
{
    g->bld = b;
}

void gw_set_dep(struct gw *g, const struct gw_dep_deps *d)
{
    g->dep = d->dep;
    free(g->registry_host);
    g->registry_host = d->registry_host ? xstrdup(d->registry_host) : NULL;
    g->ingress_port = d->ingress_port;
    free(g->workload_domain);
    g->workload_domain = xstrdup(d->workload_domain ? d->workload_domain : "localhost");
}

int gw_new(const struct gw_deps *d, struct gw **out, struct err *err)
{
    struct gw *g;
    int rc;

    if (d->issuer == NULL || strlen(d->issuer) >= AUTH_CLAIM_MAX)
        return err_set(err, ERR_INVALID, "issuer: must be 1..%d bytes", AUTH_CLAIM_MAX - 1);
    g = xcalloc(1, sizeof(*g));

    cfg_copy(d, &g->cfg);
    g->store = d->store;
    g->workers = d->workers;
    g->flow = d->flow;
    g->reg = d->reg;
    atomic_init(&g->flow_waiters, 0);
    g->issuer = xstrdup(d->issuer);
    g->key_max_age_ms = g->cfg.key_rotation_ms;
    g->ring = auth_keyring_new();
    g->login_limit = xmalloc(sizeof(*g->login_limit));
    gw_limiter_init(g->login_limit, (uint32_t)g->cfg.login_rate, (uint32_t)g->cfg.login_burst);
    if (pthread_key_create(&g->vcache_key, vcache_destroy) != 0) {
        rc = err_set(err, ERR_INTERNAL, "gateway: no thread-specific key for the token cache");
        goto fail;
    }
    g->vcache_key_made = true;
    if ((rc = gql_setup(g, err)) < 0 || (rc = gw_db_migrate(g->store, err)) < 0 ||
        (rc = keys_setup(g, err)) < 0 || (rc = caller_cache_setup(g, err)) < 0 ||
        (g->flow != NULL && (rc = gw_deploy_register(g, err)) < 0))
        goto fail;
    *out = g;
    return 0;
fail:
    gw_free(g);
    return rc;
}

void gw_free(struct gw *g)
{
    if (g == NULL)
        return;
    if (g->vcache_key_made) {
        struct auth_vcache *c = pthread_getspecific(g->vcache_key);

        auth_vcache_free(c); /* this thread's, if it verified anything */
        pthread_key_delete(g->vcache_key);
    }
    if (g->gql_cache_key_made) {
        gql_cache_free(pthread_getspecific(g->gql_cache_key));
        pthread_key_delete(g->gql_cache_key);
    }
    if (g->ccache_key_made) {
        gw_ccache_free(pthread_getspecific(g->ccache_key));
        pthread_key_delete(g->ccache_key);
    }
    store_watch_close(g->watch); /* after the loops: nothing reads it any more */
    gw_api_free(g);
    gw_events_free(g->events);
    auth_keyring_free(g->ring);
    free(g->login_limit);
    free(g->issuer);
    free(g->registry_host);
    free(g->workload_domain);
    gw_dashboard_free(g->dash);
    free(g);
}

/* The registry's login (reg_login_fn), on a worker: an API token or an access JWT, checked
 * as an API request's is, and the workspaces of its user (every role may push). */
static int reg_login(void *arg, struct arena *a, struct slice secret, struct reg_principal *out,
                     struct err *err)
{
    struct gw_caller c = {.g = arg};
    struct reg_member *m;
    int rc = gw_authn_token(c.g, secret, &c.who, err);

    if (rc == 0)
        rc = gw_caller_load(&c, a, SLICE_NULL, err);
    if (rc == ERR_FORBIDDEN) /* no personal workspace to pick: the list is what counts here */
        rc = 0;
    if (rc < 0)
        return rc;
    m = arena_alloc(a, (c.nworkspaces + 1) * sizeof(*m));
    if (m == NULL)
        return err_set(err, ERR_LIMIT, "too many workspaces for the request's memory");
    for (size_t i = 0; i < c.nworkspaces; i++)
        m[i] = (struct reg_member){c.workspaces[i].id, c.workspaces[i].role == GW_ROLE_USER ||
                                                           c.workspaces[i].role == GW_ROLE_ADMIN};
    *out = (struct reg_principal){c.user.id, m, c.nworkspaces};
    return 0;
}

static int reg_routes(struct gw *g, struct http_router *r, struct err *err)
{
    if (g->reg == NULL)
        return 0;
    return reg_routes_add(g->reg, r,
                          &(struct reg_auth){.ring = g->ring,
                                             .issuer = g->issuer,
                                             .login = reg_login,
                                             .login_arg = g,
                                             .workers = g->workers},
                          err);
}

int gw_routes_add(struct gw *g, struct http_router *r, struct err *err)
{
    int rc = reg_routes(g, r, err);

    if (rc == 0)
        rc = gw_auth_routes_add(g, r, err);

    if (rc == 0)
        rc = gw_flow_routes_add(g, r, err);
    if (rc == 0)
        rc = gw_git_routes_add(g, r, err);
    if (rc == 0)
        rc = gw_eject_routes_add(g, r, err);
    if (rc == 0)
        rc = gw_dashboard_routes_add(g, r, err);
    return rc < 0 ? rc : gw_graphql_routes_add(g, r, err);
}

/* ---------------------------------------------------------------- audit */

void gw_audit(struct gw *g, struct slice actor, const char *action, struct slice target,
              enum gw_outcome outcome, const char *detail_json)
{
    gw_audit_ws(g, actor, SLICE_NULL, action, target, outcome, detail_json);
}

static const char *const outcome_names[] = {"ok", "denied", "error"};

/* A NUL-terminated copy of <s> in <buf> (cut to fit), or NULL when <s> is none. */
static const char *cstr(struct slice s, char *buf, size_t n)
{
    if (s.ptr == NULL)
        return NULL;
    snprintf(buf, n, SLICE_FMT, SLICE_ARG(s));
    return buf;
}

void gw_audit_ws(struct gw *g, struct slice actor, struct slice ws, const char *action,
                 struct slice target, enum gw_outcome outcome, const char *detail_json)
{
    char id[37], actor_buf[GW_ID_MAX + 1], ws_buf[GW_ID_MAX + 1], target_buf[GW_TARGET_MAX + 1];
    struct gw_audit_new in = {.id = id,
                              .at = (int64_t)time_wall_ms(),
                              .actor_user_id = actor,
                              .workspace_id = ws,
                              .action = slice_from_cstr(action),
                              .target = target,
                              .detail = slice_from_cstr(detail_json),
                              .outcome = outcome};
    struct err err = {0};

    id_new(id);
    if (gw_db_audit_append(g->store, &in, &err) < 0) {
        LOG_ERROR(&gw_log, "gateway.audit_failed", LF_STR("action", action),
                  LF_STR("error", err.msg));
        return;
    }
    if (ws.ptr == NULL || (unsigned)outcome >= ARRAY_LEN(outcome_names))
        return;
    /* The entry was checked by the append: every field fits its buffer. */
    gw_events_publish(
        g->events,
        &(struct gw_event){
            .kind = GW_EV_AUDIT,
            .workspace = cstr(ws, ws_buf, sizeof(ws_buf)),
            .audit = {.id = id,
                      .actor_user_id = cstr(actor, actor_buf, sizeof(actor_buf)),
                      .workspace_id = ws_buf,
                      .action = action,
                      .target = target.ptr ? cstr(target, target_buf, sizeof(target_buf)) : "",
                      .outcome = outcome_names[outcome],
                      .detail = detail_json ? detail_json : "",
                      .at = in.at}});
}

/* ---------------------------------------------------------------- users with a printed password */

/* Creates <email> with a generated password, printed to <out> only. Both callers make
 * platform operators: whoever runs the first start or has the data directory is one already. */
static int user_create_printed(struct store *s, const char *email, const char *name,
                               const char *why, FILE *out, struct err *err)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 1u << 20});
    char password[GW_PASSWORD_LEN + 1], phc[AUTH_PHC_MAX];
    struct gw_user u;
    int rc = gw_password_generate(password, err);

    if (rc == 0)
        rc = auth_password_hash(slice_from_cstr(password), phc, err);
    if (rc == 0)
        rc = gw_db_user_create(s, a,
                               &(struct gw_user_new){.email = slice_from_cstr(email),
                                                     .name = slice_from_cstr(name),
                                                     .password_hash = slice_from_cstr(phc),
                                                     .is_operator = true},
                               &u, err);
    if (rc == 0) {
        fprintf(out, "slipway: %s %s; its password (shown only this once, keep it safe): %s\n", why,
                u.email, password);
        fflush(out);
        LOG_INFO(&gw_log, "gateway.user_created", LF_STR("user", u.id), LF_STR("why", why),
                 LF_SECRET("password", password));
        struct gw_audit_new in = {.actor_user_id = slice_from_cstr(u.id),
                                  .action = SLICE("user.create"),
                                  .target = slice_from_cstr(u.email),
                                  .detail = slice_from_cstr(why),
                                  .outcome = GW_OUTCOME_OK};
        struct err aerr = {0};
        if (gw_db_audit_append(s, &in, &aerr) < 0)
            LOG_ERROR(&gw_log, "gateway.audit_failed", LF_STR("error", aerr.msg));
    }
    explicit_bzero(password, sizeof(password));
    arena_free(a);
    return rc;
}

int gw_first_run(struct gw *g, FILE *out, struct err *err)
{
    int64_t n = 0;
    int rc = gw_db_user_count(g->store, &n, err);

    if (rc < 0 || n > 0)
        return rc;
    rc = user_create_printed(g->store, "admin@localhost", "Administrator", "created the first user",
                             out, err);
    if (rc == ERR_CONFLICT) /* another process made it first */
        return 0;
    return rc;
}

int gw_admin_create(struct store *s, const char *email, const char *name, FILE *out,
                    struct err *err)
{
    char local[GW_NAME_MAX + 1];
    const char *at;
    int rc = gw_email_check("--email", slice_from_cstr(email), err);

    if (rc < 0)
        return rc;
    if (name == NULL) {
        at = strchr(email, '@');
        snprintf(local, sizeof(local), "%.*s", (int)(at - email), email);
        name = local;
    }
    if ((rc = gw_db_check_text("--name", slice_from_cstr(name), GW_NAME_MAX, false, err)) < 0 ||
        (rc = gw_db_migrate(s, err)) < 0)
        return rc;
    return user_create_printed(s, email, name, "created the user", out, err);
}
