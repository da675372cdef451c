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

int cli_request(const struct cli_server *s, const char *method, const char *path,
                const char *accept, uint64_t timeout_ms, size_t max_bytes, struct sbuf *out,
                struct err *err)
{
    struct sbuf url = SBUF_INIT(16u << 10), auth = SBUF_INIT(16u << 10), acc = SBUF_INIT(256),
                ws = SBUF_INIT(256);
    struct http_client_res res = {0, SBUF_INIT(0), SBUF_INIT(0)};
    const char *headers[4] = {NULL};
    size_t n = strlen(s->url), h = 0;
    int rc;

    while (n > 0 && s->url[n - 1] == '/')
        n--;
    sbuf_put(&url, s->url, n);
    sbuf_puts(&url, path);
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

void cli_server_from_env(struct cli_server *s)
{
    if (s->url == NULL)
        s->url = getenv("SLIPWAY_SERVER");
    if (s->token == NULL)
        s->token = getenv("SLIPWAY_TOKEN");
    if (s->workspace == NULL)
        s->workspace = getenv("SLIPWAY_WORKSPACE");
}
