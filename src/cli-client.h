/*
 * What the command-line tools share to talk to a running slipway over its HTTP API: one
 * request with a bearer token, and the server's refusals turned into errors.
 */
#ifndef SLIPWAY_CLI_CLIENT_H
#define SLIPWAY_CLI_CLIENT_H

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

/* --server, --token and --workspace from the environment when the flags left them unset
 * (SLIPWAY_SERVER, SLIPWAY_TOKEN, SLIPWAY_WORKSPACE). */
void cli_server_from_env(struct cli_server *s);

#endif
