/*
 * gateway: API, identity, sessions, workspaces.
 *
 * What main.c sees: a gateway made once at start (migrations, signing keys, the GraphQL schema),
 * the first-run administrator, the HTTP routes of identity (/auth/login, /auth/refresh,
 * /auth/logout, /auth/me, /.well-known/jwks.json) and of the API (/graphql: GraphQL over HTTP
 * and over WebSocket, docs/graphql.md), and the `slipway admin create` command.
 */
#ifndef SLIPWAY_GATEWAY_H
#define SLIPWAY_GATEWAY_H

#include <stdio.h>

#include "base/base.h"
#include "flow/flow.h"
#include "http/http.h"
#include "store/store.h"

struct gw_cfg {
    int64_t login_rate;      /* logins a minute per client address */
    int64_t login_burst;     /* logins a client address may make at once */
    int64_t key_rotation_ms; /* age at which the signing key is replaced */
    int64_t maintenance_ms;  /* how often gw_maintain() should run */
    /* GraphQL (docs/graphql.md): limits on a document, the per-loop cache of prepared
     * documents, request size, and the WebSocket transport. */
    int64_t gql_max_bytes, gql_max_tokens, gql_max_depth;
    int64_t gql_max_aliases, gql_max_field_depth, gql_max_cost;
    int64_t gql_cache_entries;
    int64_t gql_max_body;       /* POST body, GET variables, WebSocket message */
    int64_t ws_init_timeout_ms; /* connection_init must come within this */
    int64_t ws_send_buffer;     /* bytes queued for a slow reader before it is closed */
    int64_t ws_max_operations;  /* operations one connection may run at once */
    int64_t ws_recheck_ms;      /* how often streams' sessions and memberships are checked */
    /* The dashboard's built files (docs/dashboard.md); borrowed from the cfg set, NULL: the
     * default, dashboard/dist. Read once, by gw_routes_add(). */
    char *dashboard_dir;
};
/* The gateway.* keys (bounds, defaults, docs) filling <target>. */
struct cfg_section gw_cfg_section(struct gw_cfg *target);

struct gw;
struct reg;
struct gw_deps {
    struct store *store;      /* the gateway's own database */
    struct pool *workers;     /* blocking work (argon2id, the store) */
    const char *issuer;       /* the public URL, e.g. "http://127.0.0.1:8080" (copied) */
    const struct gw_cfg *cfg; /* NULL: the defaults */
    struct flow *flow;        /* the workflow engine on <store> (the gateway registers its
                                 workflows, the deploy among them, before the caller starts
                                 the engine; /api/flows shows them) */
    struct reg *reg;          /* the built-in registry: /v2/ and /v2/token (NULL: none) */
};

/* Blocking, at start: builds the GraphQL schema (a broken schema or a root field without a
 * resolver fails here), applies the gateway's migrations and loads the signing keys into a
 * keyring; makes and stores the first key, or a new current key when the current one is
 * older than 30 days (the old one then verifies for AUTH_ACCESS_TTL + 60 s more). <d>'s
 * store and pool are borrowed and must outlive the gateway. On success *out belongs to the
 * caller (gw_free()). */
int gw_new(const struct gw_deps *d, struct gw **out, struct err *err) APP_MUST_CHECK;
/* Blocking: when no user exists, creates admin@localhost with a random password printed once
 * to <out> (and nowhere else: never logged), and audits it. 0 or a store error. */
int gw_first_run(struct gw *g, FILE *out, struct err *err) APP_MUST_CHECK;
/* The keyring that signs the gateway's tokens, internal ones too: the packager verifies with
 * it in process. Borrowed from <g>; thread-safe. */
struct auth_keyring *gw_keyring(struct gw *g);
/* The issuer (iss) of the gateway's tokens: its public URL. Borrowed from <g>. */
const char *gw_issuer(const struct gw *g);
/* The packager the API calls (borrowed; must outlive the server). Before gw_routes_add(). */
struct pkg;
void gw_set_pkg(struct gw *g, struct pkg *p);
/* The builder the API calls (borrowed; must outlive the server). Before gw_routes_add(). */
struct bld_svc;
void gw_set_bld(struct gw *g, struct bld_svc *b);
/* The deployer the deploy workflow rolls out with, and what it needs to know of this process.
 * Before the flow engine starts (deploys resumed at start roll out at once). Strings copied. */
struct dep;
struct gw_dep_deps {
    struct dep *dep;             /* borrowed; NULL: apps do not run here */
    const char *registry_host;   /* where builds push and rollouts pull: "127.0.0.1:8080" */
    int ingress_port;            /* service references reach other services here; 0: none */
    const char *workload_domain; /* platform domains' parent (packager.workload_domain) */
};
void gw_set_dep(struct gw *g, const struct gw_dep_deps *d);
/* Adds the identity routes and /graphql to <r>; <g> must outlive the server. */
int gw_routes_add(struct gw *g, struct http_router *r, struct err *err) APP_MUST_CHECK;
/* Blocking, every cfg->maintenance_ms (main.c calls it from its own thread): replaces the
 * signing key once it is older than cfg->key_rotation_ms (the old one keeps verifying until
 * the tokens it signed expire) and drops retired keys whose time is over. */
int gw_maintain(struct gw *g, struct err *err) APP_MUST_CHECK;
/* The gateway's GraphQL schema as it serves it: built from the SDL compiled into the binary
 * (the .graphql files of schema/), every resolver bound. For tools and fuzzing; the caller frees it
 * with gql_schema_free(). */
struct gql_schema;
int gw_graphql_schema(struct gql_schema **out, struct err *err) APP_MUST_CHECK;
/* After the server has stopped (its loop threads have exited). NULL is fine. */
void gw_free(struct gw *g);

/* Blocking: `slipway admin create`. Migrates <s>, then creates the user <email> (<name>, or
 * the part of the email before '@' when NULL) with a random password printed once to <out>,
 * and audits it. ERR_INVALID naming the field, ERR_CONFLICT when the email is taken. */
int gw_admin_create(struct store *s, const char *email, const char *name, FILE *out,
                    struct err *err) APP_MUST_CHECK;

#endif
