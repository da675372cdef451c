/*
 * The command-line tools' HTTP client (cli-client.h), on the http module's libcurl client.
 */
#include <jansson.h>
#include <stdlib.h>

#include "base/base.h"
#include "cli-client.h"
#include "http/http.h"

/* A refusal: {"error":{"code","message"}} when the server says why. */
static int server_refusal(const struct http_client_res *res, struct err *err)
{
    json_t *v = json_loadb(res->body.buf, res->body.len, 0, NULL);
    const char *msg = json_string_value(json_object_get(json_object_get(v, "error"), "message"));
    int code = res->status == 400   ? ERR_INVALID
               : res->status == 401 ? ERR_UNAUTHENTICATED
               : res->status == 403 ? ERR_FORBIDDEN
               : res->status == 404 ? ERR_NOTFOUND
               : res->status == 409 ? ERR_CONFLICT
                                    : ERR_UNAVAILABLE;

    if (msg != NULL)
        err_set(err, code, "%s (HTTP %d)", msg, res->status);
    else
        err_set(err, code, "the server answered HTTP %d", res->status);
    json_decref(v);
    return code;
}

/* <s>'s URL (without its trailing '/') followed by <path>. */
static void put_url(struct sbuf *url, const struct cli_server *s, const char *path)
{
    size_t n = strlen(s->url);

    while (n > 0 && s->url[n - 1] == '/')
        n--;
    sbuf_put(url, s->url, n);
    sbuf_puts(url, path);
}

int cli_request(const struct cli_server *s, const char *method, const char *path,
                const char *accept, uint64_t timeout_ms, size_t max_bytes, struct sbuf *out,
                struct err *err)
{
    struct sbuf url = SBUF_INIT(16u << 10), auth = SBUF_INIT(16u << 10), acc = SBUF_INIT(256),
                ws = SBUF_INIT(256);
    struct http_client_res res = {0, SBUF_INIT(0), SBUF_INIT(0)};
    const char *headers[4] = {NULL};
    size_t h = 0;
    int rc;

    put_url(&url, s, path);
    sbuf_printf(&auth, "Authorization: Bearer %s", s->token);
    sbuf_printf(&acc, "Accept: %s", accept);
    headers[h++] = auth.buf;
    headers[h++] = acc.buf;
    if (s->workspace != NULL && s->workspace[0] != '\0') {
        sbuf_printf(&ws, "X-Slipway-Workspace: %s", s->workspace);
        headers[h++] = ws.buf;
    }
    rc = url.err || auth.err || acc.err || ws.err
             ? err_set(err, ERR_INVALID, "URL, token or workspace too long")
             : 0;
    if (rc == 0)
        rc = http_client_do(&(struct http_client_req){.method = method,
                                                      .url = url.buf,
                                                      .headers = headers,
                                                      .timeout_ms = timeout_ms,
                                                      .max_response_bytes = max_bytes},
                            &res, err);
    if (rc == 0 && res.status != 200)
        rc = server_refusal(&res, err);
    if (rc == 0)
        sbuf_put(out, res.body.buf, res.body.len);
    http_client_res_release(&res);
    explicit_bzero(auth.buf, auth.len);
    sbuf_release(&auth);
    sbuf_release(&acc);
    sbuf_release(&ws);
    sbuf_release(&url);
    return rc;
}

int cli_post_json(const struct cli_server *s, const char *path, json_t *body, json_t **answer,
                  struct err *err)
{
    struct sbuf url = SBUF_INIT(16u << 10), auth = SBUF_INIT(16u << 10);
    struct http_client_res res = {0, SBUF_INIT(0), SBUF_INIT(0)};
    const char *headers[4] = {"Content-Type: application/json", "Accept: application/json"};
    char *text = json_dumps(body, JSON_COMPACT);
    int rc;

    put_url(&url, s, path);
    if (s->token != NULL) {
        sbuf_printf(&auth, "Authorization: Bearer %s", s->token);
        headers[2] = auth.buf;
    }
    rc = url.err || auth.err || text == NULL ? err_set(err, ERR_INVALID, "URL or token too long")
                                             : 0;
    if (rc == 0)
        rc = http_client_do(&(struct http_client_req){.method = "POST",
                                                      .url = url.buf,
                                                      .headers = headers,
                                                      .body = slice_from_cstr(text)},
                            &res, err);
    if (rc == 0 && res.status != 200)
        rc = server_refusal(&res, err);
    if (rc == 0 && (*answer = json_loadb(res.body.buf, res.body.len, 0, NULL)) == NULL)
        rc = err_set(err, ERR_UNAVAILABLE, "%s: the server's answer is not JSON", path);
    http_client_res_release(&res);
    explicit_bzero(auth.buf, auth.len);
    if (text != NULL)
        explicit_bzero(text, strlen(text)); /* it may hold a password */
    free(text);
    sbuf_release(&auth);
    sbuf_release(&url);
    return rc;
}

void cli_server_from_env(struct cli_server *s)
{
    if (s->url == NULL)
        s->url = getenv("SLIPWAY_SERVER");
    if (s->token == NULL)
        s->token = getenv("SLIPWAY_TOKEN");
    if (s->workspace == NULL)
        s->workspace = getenv("SLIPWAY_WORKSPACE");
}

/* ---------------------------------------------------------------- GraphQL */

/* The ERR_* of a GraphQL extensions.code: err_gql_code() read backwards, walking up from
 * ERR_CODE_MIN so that INTERNAL, which ERR_IO shares, reads as ERR_INTERNAL. A document the
 * server could not parse or validate is the request's fault (ERR_INVALID); any other code
 * this client does not know is ERR_INTERNAL, never ERR_UNAVAILABLE: the server did answer. */
static int code_of(const char *code)
{
    if (code == NULL)
        return ERR_INTERNAL;
    for (int c = ERR_CODE_MIN; c < 0; c++)
        if (strcmp(err_gql_code(c), code) == 0)
            return c;
    if (strcmp(code, "GRAPHQL_PARSE_FAILED") == 0 || strcmp(code, "GRAPHQL_VALIDATION_FAILED") == 0)
        return ERR_INVALID;
    if (strcmp(code, "QUERY_TOO_COMPLEX") == 0)
        return ERR_LIMIT;
    return ERR_INTERNAL;
}

/* errors[0] of a GraphQL answer as <err>: its message, and the ERR_* its extensions.code
 * names. */
static int graphql_error(const json_t *errors, struct err *err)
{
    const json_t *e0 = json_array_get(errors, 0);
    const char *msg = json_string_value(json_object_get(e0, "message"));
    const char *code =
        json_string_value(json_object_get(json_object_get(e0, "extensions"), "code"));

    return err_set(err, code_of(code), "%s%s%s%s", msg ? msg : "the server answered with an error",
                   code ? " (" : "", code ? code : "", code ? ")" : "");
}

/* {"query": <query>, "variables": <vars>} as compact JSON; the caller free()s it. */
static char *request_body(const char *query, json_t *vars)
{
    json_t *req = json_object();
    char *text;

    json_object_set_new(req, "query", json_string(query));
    json_object_set_new(req, "variables", vars ? json_incref(vars) : json_object());
    text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    return text;
}

/* The answer of a GraphQL POST: its data, or the error it carries. */
static int graphql_answer(const struct http_client_res *res, json_t **data, struct err *err)
{
    json_t *v = json_loadb(res->body.buf, res->body.len, 0, NULL);
    json_t *errors = json_object_get(v, "errors"), *d = json_object_get(v, "data");
    int rc = 0;

    if (json_array_size(errors) > 0)
        rc = graphql_error(errors, err);
    else if (res->status != 200 || !json_is_object(d))
        rc = server_refusal(res, err);
    else
        *data = json_incref(d);
    json_decref(v);
    return rc;
}

int cli_graphql(const struct cli_server *s, const char *query, json_t *vars, json_t **data,
                struct err *err)
{
    struct sbuf url = SBUF_INIT(16u << 10), auth = SBUF_INIT(16u << 10), ws = SBUF_INIT(256);
    struct http_client_res res = {0, SBUF_INIT(0), SBUF_INIT(0)};
    const char *headers[5] = {"Content-Type: application/json", "Accept: application/json"};
    char *body = request_body(query, vars);
    size_t h = 2;
    int rc;

    put_url(&url, s, "/graphql");
    sbuf_printf(&auth, "Authorization: Bearer %s", s->token);
    headers[h++] = auth.buf;
    if (s->workspace != NULL && s->workspace[0] != '\0') {
        sbuf_printf(&ws, "X-Slipway-Workspace: %s", s->workspace);
        headers[h++] = ws.buf;
    }
    rc = url.err || auth.err || ws.err || body == NULL
             ? err_set(err, ERR_INVALID, "URL, token or workspace too long")
             : 0;
    if (rc == 0)
        rc = http_client_do(&(struct http_client_req){.method = "POST",
                                                      .url = url.buf,
                                                      .headers = headers,
                                                      .body = slice_from_cstr(body)},
                            &res, err);
    if (rc == 0)
        rc = graphql_answer(&res, data, err);
    http_client_res_release(&res);
    explicit_bzero(auth.buf, auth.len);
    sbuf_release(&auth);
    sbuf_release(&ws);
    sbuf_release(&url);
    free(body);
    return rc;
}

/* ---------------------------------------------------------------- subscriptions */

#define SUB_MESSAGE_MAX (4u << 20)
#define SUB_DONE        (1 << 30) /* on_message(): the server completed the subscription */

/* Sends <msg> as JSON (taking the reference). */
static int send_json(struct http_wsc *c, json_t *msg, struct err *err)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    int rc = text ? http_wsc_send(c, slice_from_cstr(text), err)
                  : err_set(err, ERR_INTERNAL, "cannot encode a message");

    if (text != NULL)
        explicit_bzero(text, strlen(text)); /* connection_init holds the token */
    free(text);
    json_decref(msg);
    return rc;
}

/* ws://host:port/graphql from the server's http:// URL. */
static int ws_url(const struct cli_server *s, struct sbuf *out, struct err *err)
{
    size_t n = strlen(s->url);

    if (strncmp(s->url, "http://", 7) != 0)
        return err_set(err, ERR_INVALID,
                       "--server %s: subscriptions need an http:// URL (https is not supported "
                       "for them yet)",
                       s->url);
    while (n > 7 && s->url[n - 1] == '/')
        n--;
    sbuf_printf(out, "ws://%.*s/graphql", (int)(n - 7), s->url + 7);
    return out->err ? err_set(err, ERR_INVALID, "--server: URL too long") : 0;
}

/* A close during the handshake: what the server's close code means for the user. */
static int refused(const struct err *why, struct err *err)
{
    if (strstr(why->msg, "4403") != NULL)
        return err_set(err, ERR_FORBIDDEN, "the server refused the token or workspace (%s)",
                       why->msg);
    return err_set(err, why->code, "%s", why->msg);
}

/* connection_init with the credential, then waits for connection_ack. */
static int open_session(struct http_wsc *c, const struct cli_server *s, struct sbuf *msg,
                        struct err *err)
{
    json_t *payload = json_object(), *v;
    struct sbuf auth = SBUF_INIT(16u << 10);
    struct err why = {0};
    int rc;

    sbuf_printf(&auth, "Bearer %s", s->token);
    json_object_set_new(payload, "authorization", json_string(auth.buf));
    if (s->workspace != NULL && s->workspace[0] != '\0')
        json_object_set_new(payload, "workspace", json_string(s->workspace));
    explicit_bzero(auth.buf, auth.len);
    sbuf_release(&auth);
    rc = send_json(c, json_pack("{s:s, s:o}", "type", "connection_init", "payload", payload), err);
    while (rc == 0) {
        if (http_wsc_recv(c, msg, 10000, &why) < 0)
            return refused(&why, err);
        v = json_loadb(msg->buf, msg->len, 0, NULL);
        const char *type = json_string_value(json_object_get(v, "type"));
        bool ack = type != NULL && strcmp(type, "connection_ack") == 0;
        json_decref(v);
        if (ack)
            break;
    }
    return rc;
}

/* Acts on one server message: 0 to go on, SUB_DONE on complete, a callback's value, or an
 * error. */
static int on_message(struct http_wsc *c, const struct cli_sub *sub, struct slice text,
                      struct err *err)
{
    json_t *v = json_loadb(text.ptr, text.len, 0, NULL);
    const char *type = json_string_value(json_object_get(v, "type"));
    json_t *payload = json_object_get(v, "payload");
    int rc = 0;

    if (type == NULL)
        rc = err_set(err, ERR_UNAVAILABLE, "the server sent an unreadable message");
    else if (strcmp(type, "next") == 0 && json_array_size(json_object_get(payload, "errors")))
        rc = graphql_error(json_object_get(payload, "errors"), err);
    else if (strcmp(type, "next") == 0)
        rc = sub->next(sub->arg, json_object_get(payload, "data"));
    else if (strcmp(type, "error") == 0)
        rc = graphql_error(payload, err);
    else if (strcmp(type, "complete") == 0)
        rc = SUB_DONE;
    else if (strcmp(type, "ping") == 0)
        rc = send_json(c, json_pack("{s:s}", "type", "pong"), err);
    json_decref(v);
    return rc;
}

static int stream(struct http_wsc *c, const struct cli_sub *sub, struct sbuf *msg, struct err *err)
{
    uint64_t tick = sub->tick_ms ? sub->tick_ms : 200, next_tick = time_mono_ms() + tick;
    int rc;

    for (;;) {
        uint64_t now = time_mono_ms();
        rc = http_wsc_recv(c, msg, next_tick > now ? next_tick - now : 0, err);
        if (rc == 0 && (rc = on_message(c, sub, sbuf_slice(msg), err)) != 0)
            return rc == SUB_DONE ? 0 : rc;
        if (rc < 0 && rc != ERR_TIMEOUT)
            return rc;
        if (time_mono_ms() >= next_tick) {
            next_tick = time_mono_ms() + tick;
            if (sub->tick != NULL && (rc = sub->tick(sub->arg)) != 0)
                return rc;
        }
    }
}

int cli_subscribe(const struct cli_server *s, const char *query, json_t *vars,
                  const struct cli_sub *sub, struct err *err)
{
    struct sbuf url = SBUF_INIT(16u << 10), msg = SBUF_INIT(SUB_MESSAGE_MAX);
    struct http_wsc *c = NULL;
    json_t *payload;
    int rc;

    rc = ws_url(s, &url, err);
    if (rc == 0)
        rc = http_wsc_connect(url.buf,
                              &(struct http_wsc_opts){.subprotocol = "graphql-transport-ws",
                                                      .max_message = SUB_MESSAGE_MAX},
                              &c, err);
    if (rc == 0)
        rc = open_session(c, s, &msg, err);
    if (rc == 0) {
        payload = json_pack("{s:s}", "query", query);
        if (vars != NULL)
            json_object_set(payload, "variables", vars);
        rc = send_json(
            c, json_pack("{s:s, s:s, s:o}", "id", "1", "type", "subscribe", "payload", payload),
            err);
    }
    if (rc == 0)
        rc = stream(c, sub, &msg, err);
    if (rc > 0) { /* stopped by a callback: tell the server before closing */
        struct err ignored = {0};
        (void)send_json(c, json_pack("{s:s, s:s}", "id", "1", "type", "complete"), &ignored);
    }
    http_wsc_free(c);
    sbuf_release(&msg);
    sbuf_release(&url);
    return rc;
}
