/*
 * What the command-line tools share to talk to a running slipway over its HTTP API: one
 * request with a bearer token, and the server's refusals turned into errors.
 */
#ifndef SLIPWAY_CLI_CLIENT_H
#define SLIPWAY_CLI_CLIENT_H

#include <jansson.h>

#include "base/base.h"

struct cli_server {
    const char *url;       /* e.g. http://127.0.0.1:8080 (a trailing '/' is fine) */
    const char *token;     /* an API token (slp_…) or an access token */
    const char *workspace; /* X-Slipway-Workspace, or NULL: the caller's personal one */
};

/* <method> <path> (with its query) on <s>, accepting <accept>; the 200 body into <out>, at
 * most <max_bytes>. Another status is an error carrying the server's message:
 * ERR_INVALID (400), ERR_UNAUTHENTICATED (401), ERR_FORBIDDEN (403), ERR_NOTFOUND (404),
 * ERR_CONFLICT (409), else ERR_UNAVAILABLE. <timeout_ms> 0 is the client's default. */
int cli_request(const struct cli_server *s, const char *method, const char *path,
                const char *accept, uint64_t timeout_ms, size_t max_bytes, struct sbuf *out,
                struct err *err) APP_MUST_CHECK;

/* POST <path> on <s> with the JSON <body> (borrowed); the answer's JSON into *answer (the
 * caller json_decref()s it). No Authorization header when s->token is NULL (POST /auth/login).
 * Refusals as cli_request() says. */
int cli_post_json(const struct cli_server *s, const char *path, json_t *body, json_t **answer,
                  struct err *err) APP_MUST_CHECK;

/* A GraphQL operation on <s>: POST /graphql with {"query": <query>, "variables": <vars>}
 * (<vars> borrowed, NULL for none). On success *data is the answer's "data" (the caller
 * json_decref()s it). A GraphQL error becomes <err> with errors[0].message and the ERR_* of
 * its extensions.code (NOT_FOUND is ERR_NOTFOUND, BAD_USER_INPUT ERR_INVALID, …); a refusal
 * before GraphQL runs (401, 403) as cli_request() says. */
int cli_graphql(const struct cli_server *s, const char *query, json_t *vars, json_t **data,
                struct err *err) APP_MUST_CHECK;

/* A subscription's receiver. <next> gets each event's "data" (borrowed for the call); <tick>
 * runs at least every <tick_ms> (0 = 200 ms) while nothing comes. Either returning non-zero
 * ends the subscription (cli_subscribe() then returns that value). */
struct cli_sub {
    int (*next)(void *arg, json_t *data);
    int (*tick)(void *arg);
    void *arg;
    uint64_t tick_ms;
};
/* Runs <query> as a subscription over graphql-transport-ws on <s>'s /graphql (connection_init
 * with {"authorization": "Bearer <token>", "workspace": …}), calling sub->next per event until
 * the server completes it: 0. A callback's non-zero value ends it early and is returned. An
 * error message or a closed connection is an error (ERR_UNAVAILABLE when the server could not
 * be reached or went away, else the error's own code). */
int cli_subscribe(const struct cli_server *s, const char *query, json_t *vars,
                  const struct cli_sub *sub, struct err *err) APP_MUST_CHECK;

/* --server, --token and --workspace from the environment when the flags left them unset
 * (SLIPWAY_SERVER, SLIPWAY_TOKEN, SLIPWAY_WORKSPACE). */
void cli_server_from_env(struct cli_server *s);

#endif
