/*
 * Rendering nginx configuration. Nothing a user controls reaches the text unchecked: hosts and
 * upstreams are validated against narrow grammars, paths too, and free text (labels, reasons)
 * only ever appears HTML-escaped inside a double-quoted `return` string, where the escaping
 * leaves no quote, backslash or '$' (nginx variables) behind.
 */
#include <arpa/inet.h>
#include <stdio.h>

#include "ingress/ingress-int.h"

bool ingress_host_valid(struct slice host)
{
    size_t label = 0;

    if (host.len == 0 || host.len > 253)
        return false;
    for (size_t i = 0; i < host.len; i++) {
        char c = host.ptr[i];

        if (c == '.') {
            if (label == 0 || host.ptr[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
        if (c == '-' && label == 0)
            return false;
        if (++label > 63)
            return false;
    }
    return label > 0 && host.ptr[host.len - 1] != '-';
}

bool ingress_upstream_valid(struct slice addr)
{
    struct slice rest = addr, ip;
    char buf[INET_ADDRSTRLEN];
    struct in_addr in;
    uint64_t port;

    if (!slice_split(&rest, ':', &ip) || ip.len == 0 || ip.len >= sizeof(buf))
        return false;
    memcpy(buf, ip.ptr, ip.len);
    buf[ip.len] = '\0';
    if (inet_pton(AF_INET, buf, &in) != 1)
        return false;
    return slice_to_u64(rest, &port) == 0 && port >= 1 && port <= 65535 && rest.ptr[0] != '0';
}

bool ingress_path_ok(const char *path)
{
    if (path == NULL || path[0] != '/' || strlen(path) > 200)
        return false;
    for (const char *c = path; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              strchr("/._+@-", *c) != NULL))
            return false;
    return true;
}

/* The code point at <s>[*i] (advancing *i), or U+FFFD for an invalid sequence (one byte). */
static uint32_t utf8_next(struct slice s, size_t *i)
{
    const unsigned char *p = (const unsigned char *)s.ptr + *i;
    size_t left = s.len - *i, n;
    uint32_t cp, min;

    if (p[0] < 0x80) {
        *i += 1;
        return p[0];
    }
    if ((p[0] & 0xe0) == 0xc0)
        n = 2, cp = p[0] & 0x1f, min = 0x80;
    else if ((p[0] & 0xf0) == 0xe0)
        n = 3, cp = p[0] & 0x0f, min = 0x800;
    else if ((p[0] & 0xf8) == 0xf0)
        n = 4, cp = p[0] & 0x07, min = 0x10000;
    else
        goto bad;
    if (left < n)
        goto bad;
    for (size_t k = 1; k < n; k++) {
        if ((p[k] & 0xc0) != 0x80)
            goto bad;
        cp = cp << 6 | (p[k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        goto bad;
    *i += n;
    return cp;
bad:
    *i += 1;
    return 0xfffd;
}

void ingress_html_escape(struct sbuf *out, struct slice s, size_t max)
{
    size_t i = 0;

    while (i < s.len) {
        uint32_t cp;

        if (i >= max) {
            sbuf_puts(out, "...");
            return;
        }
        cp = utf8_next(s, &i);
        if (cp < 0x20 || cp == 0x7f)
            sbuf_putc(out, ' ');
        else if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') ||
                 (cp < 0x80 && strchr(" .,:/_-()!?@+=*", (int)cp) != NULL))
            sbuf_putc(out, (char)cp);
        else
            sbuf_printf(out, "&#%" PRIu32 ";", cp);
    }
}

void ingress_render_main(struct sbuf *out, const struct ingress_params *p, const char *routes_file)
{
    const char *d = p->run_dir;

    sbuf_puts(out, "# Written by slipway (ingress) at every start; edits are lost.\n"
                   "daemon off;\nmaster_process on;\n");
    sbuf_printf(out, "worker_processes %d;\npid %s/nginx.pid;\nerror_log %s/error.log warn;\n",
                p->workers, d, d);
    if (p->user != NULL)
        sbuf_printf(out, "user %s;\n", p->user);
    sbuf_puts(out, "events {\n    worker_connections 4096;\n}\nhttp {\n"
                   "    access_log off;\n    server_tokens off;\n"
                   "    types {}\n    default_type application/octet-stream;\n");
    /* Temporary files would be written by the unprivileged workers, which cannot enter the
     * data directory: bodies stream instead (proxy_request_buffering off, no temp file). */
    sbuf_printf(out,
                "    client_body_temp_path %s/tmp/body;\n    proxy_temp_path %s/tmp/proxy;\n"
                "    fastcgi_temp_path %s/tmp/fastcgi;\n    uwsgi_temp_path %s/tmp/uwsgi;\n"
                "    scgi_temp_path %s/tmp/scgi;\n",
                d, d, d, d, d);
    sbuf_puts(out, "    client_max_body_size 0;\n    proxy_request_buffering off;\n"
                   "    proxy_max_temp_file_size 0;\n    proxy_http_version 1.1;\n"
                   "    proxy_connect_timeout 5s;\n    proxy_send_timeout 60s;\n"
                   "    proxy_read_timeout 60s;\n"
                   /* A replica that refuses or resets (stopped mid-rollout) costs a retry on the
                    * next one, not a failed request; nothing was sent to it yet. */
                   "    proxy_next_upstream error timeout;\n    proxy_next_upstream_tries 3;\n"
                   "    proxy_next_upstream_timeout 10s;\n"
                   "    map $http_upgrade $ingress_connection {\n        default upgrade;\n"
                   "        \"\" \"\";\n    }\n"
                   /* The 404 page names the host only when it is a plain DNS name. */
                   "    map $host $ingress_host {\n        \"~^[a-z0-9.-]{1,253}$\" $host;\n"
                   "        default \"this address\";\n    }\n");
    sbuf_printf(out, "    include %s;\n}\n", routes_file);
}

/* The proxy headers of one location; <ws> passes WebSocket upgrades through. */
static void render_proxy(struct sbuf *out, const char *upstream, bool ws)
{
    sbuf_printf(out, "        proxy_pass http://%s;\n", upstream);
    sbuf_puts(out, "        proxy_set_header Host $host;\n"
                   "        proxy_set_header X-Real-IP $remote_addr;\n"
                   "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
                   "        proxy_set_header X-Forwarded-Proto $scheme;\n"
                   "        proxy_set_header X-Forwarded-Host $host;\n");
    if (ws)
        sbuf_puts(out, "        proxy_set_header Upgrade $http_upgrade;\n"
                       "        proxy_set_header Connection $ingress_connection;\n"
                       "        proxy_read_timeout 1h;\n        proxy_send_timeout 1h;\n");
    else
        sbuf_puts(out, "        proxy_set_header Connection \"\";\n");
}

/* `return <status> "<page>";` with an HTML page: <title>, then <text> (already escaped). */
static void render_page(struct sbuf *out, const char *indent, int status, const char *title,
                        struct slice text)
{
    sbuf_printf(out,
                "%stypes {}\n%sdefault_type \"text/html; charset=utf-8\";\n"
                "%sadd_header Cache-Control no-store always;\n",
                indent, indent, indent);
    sbuf_printf(out,
                "%sreturn %d \"<!doctype html><html><head><meta charset=utf-8><title>%s</title>"
                "</head><body><h1>%s</h1><p>",
                indent, status, title, title);
    sbuf_put_slice(out, text);
    sbuf_puts(out, "</p><p><small>slipway ingress</small></p></body></html>\\n\";\n");
}

static void render_listen(struct sbuf *out, const struct ingress_params *p, bool dflt)
{
    bool v6 = strchr(p->bind, ':') != NULL;

    sbuf_printf(out, "    listen %s%s%s:%d%s;\n", v6 ? "[" : "", p->bind, v6 ? "]" : "", p->port,
                dflt ? " default_server" : "");
}

/* A proxied server: upstream block <name> of <addrs>, server_name <names>. <down> is the
 * escaped text of the 502 page shown when no replica answers. */
static void render_proxied(struct sbuf *out, const struct ingress_params *p, const char *name,
                           const char *const *addrs, size_t naddrs, const char *names, bool ws,
                           struct slice down)
{
    sbuf_printf(out, "upstream %s {\n", name);
    for (size_t i = 0; i < naddrs; i++)
        sbuf_printf(out, "    server %s max_fails=1 fail_timeout=2s;\n", addrs[i]);
    sbuf_puts(out, "    keepalive 8;\n}\nserver {\n");
    render_listen(out, p, false);
    sbuf_printf(out, "    server_name %s;\n    location / {\n", names);
    render_proxy(out, name, ws);
    sbuf_puts(out, "        error_page 502 504 = @down;\n    }\n    location @down {\n");
    render_page(out, "        ", 502, "502 Bad Gateway", down);
    sbuf_puts(out, "    }\n}\n");
}

/* A route with no ready replica: the 502 page for every request. */
static void render_no_replica(struct sbuf *out, const struct ingress_params *p, const char *host,
                              struct slice text)
{
    sbuf_puts(out, "server {\n");
    render_listen(out, p, false);
    sbuf_printf(out, "    server_name %s;\n    location / {\n", host);
    render_page(out, "        ", 502, "502 Bad Gateway", text);
    sbuf_puts(out, "    }\n}\n");
}

/* The head of every routes file: the generation and the status server answering it. */
static void render_status(struct sbuf *out, const struct ingress_params *p, uint64_t gen)
{
    sbuf_printf(out,
                "# Written by slipway (ingress), generation %" PRIu64 "; edits are lost.\n"
                "server {\n    listen unix:%s/status.sock;\n"
                "    location = /generation {\n        return 200 \"%" PRIu64 "\";\n    }\n}\n",
                gen, p->run_dir, gen);
}

/* The parts every routes file has: status socket, API hosts, 404 for unknown hosts. */
static void render_fixed(struct sbuf *out, const struct ingress_params *p, uint64_t gen)
{
    struct sbuf names = SBUF_INIT(INGRESS_MAX_HOSTS * 256);
    const char *api[1] = {p->api_upstream};

    render_status(out, p, gen);
    for (size_t i = 0; i < p->napi_hosts; i++)
        sbuf_printf(&names, "%s%s", i ? " " : "", p->api_hosts[i]);
    render_proxied(out, p, "slipway_api", api, 1, names.buf, true,
                   SLICE("slipway&#39;s API is not answering right now."));
    sbuf_release(&names);
    sbuf_puts(out, "server {\n");
    render_listen(out, p, true);
    sbuf_puts(out, "    server_name _;\n    location / {\n");
    render_page(out, "        ", 404, "404 Not Found",
                SLICE("No service answers at $ingress_host."));
    sbuf_puts(out, "    }\n}\n");
}

static bool is_api_host(const struct ingress_params *p, struct slice host)
{
    for (size_t i = 0; i < p->napi_hosts; i++)
        if (slice_eq_cstr(host, p->api_hosts[i]))
            return true;
    return false;
}

/* Checks route <i> against the rules and the routes before it. */
static int check_route(const struct ingress_params *p, const struct ingress_route *routes, size_t i,
                       struct err *err)
{
    const struct ingress_route *r = &routes[i];
    struct slice host = slice_from_cstr(r->host);
    char echo[64 + 4];

    if (r->host == NULL || !ingress_host_valid(host))
        return err_set(err, ERR_INVALID, "routes[%zu].host \"%s\": not a lower-case DNS name", i,
                       slice_echo(echo, 64, host));
    if (is_api_host(p, host))
        return err_set(err, ERR_CONFLICT, "routes[%zu].host %s: reserved for slipway's API", i,
                       r->host);
    for (size_t k = 0; k < i; k++)
        if (strcmp(routes[k].host, r->host) == 0)
            return err_set(err, ERR_CONFLICT, "routes[%zu].host %s: also routes[%zu]", i, r->host,
                           k);
    if (r->label == NULL || r->label[0] == '\0' || strlen(r->label) > INGRESS_LABEL_MAX)
        return err_set(err, ERR_INVALID, "routes[%zu].label: 1 to %d bytes", i, INGRESS_LABEL_MAX);
    if (r->nupstreams > INGRESS_MAX_UPSTREAMS)
        return err_set(err, ERR_LIMIT, "routes[%zu]: more than %d upstreams", i,
                       INGRESS_MAX_UPSTREAMS);
    for (size_t u = 0; u < r->nupstreams; u++)
        if (r->upstreams[u] == NULL || !ingress_upstream_valid(slice_from_cstr(r->upstreams[u])))
            return err_set(err, ERR_INVALID,
                           "routes[%zu].upstreams[%zu] \"%s\": not an IPv4 address:port", i, u,
                           slice_echo(echo, 64, slice_from_cstr(r->upstreams[u])));
    return 0;
}

static void render_route(struct sbuf *out, const struct ingress_params *p,
                         const struct ingress_route *r, size_t i)
{
    struct sbuf text = SBUF_INIT(16u << 10);
    char name[32];

    ingress_html_escape(&text, slice_from_cstr(r->label), INGRESS_LABEL_MAX);
    if (r->nupstreams == 0) {
        sbuf_puts(&text, " has no ready replica: ");
        ingress_html_escape(&text, slice_from_cstr(r->reason ? r->reason : "none has started yet"),
                            INGRESS_REASON_MAX);
        render_no_replica(out, p, r->host, sbuf_slice(&text));
    } else {
        sbuf_puts(&text, " has no replica answering right now.");
        snprintf(name, sizeof(name), "route_%zu", i);
        render_proxied(out, p, name, r->upstreams, r->nupstreams, r->host, r->websocket,
                       sbuf_slice(&text));
    }
    sbuf_release(&text);
}

int ingress_render_routes(struct sbuf *out, const struct ingress_params *p,
                          const struct ingress_route *routes, size_t n, uint64_t gen,
                          struct err *err)
{
    size_t start = out->len;

    if (n > INGRESS_MAX_ROUTES)
        return err_set(err, ERR_LIMIT, "more than %d routes", INGRESS_MAX_ROUTES);
    for (size_t i = 0; i < n; i++)
        if (check_route(p, routes, i, err) < 0)
            return err->code;
    render_fixed(out, p, gen);
    for (size_t i = 0; i < n; i++)
        render_route(out, p, &routes[i], i);
    if (out->err != 0) {
        out->len = start;
        out->buf[start] = '\0';
        return err_set(err, out->err, "routes: the configuration is over its size limit");
    }
    return 0;
}

int ingress_render_regen(struct sbuf *out, const struct ingress_params *p, struct slice old,
                         uint64_t *gen, struct err *err)
{
    static const char tag[] = "# Written by slipway (ingress), generation ";
    struct sbuf head = SBUF_INIT(1024);
    struct slice num = {0};
    uint64_t n = 0;
    size_t start = out->len;

    if (old.len > sizeof(tag) - 1 && memcmp(old.ptr, tag, sizeof(tag) - 1) == 0) {
        num = (struct slice){old.ptr + sizeof(tag) - 1, 0};
        while (num.ptr + num.len < old.ptr + old.len && num.ptr[num.len] >= '0' &&
               num.ptr[num.len] <= '9' && num.len < 20)
            num.len++;
    }
    if (num.len == 0 || slice_to_u64(num, &n) < 0)
        return err_set(err, ERR_INVALID, "routes file: no generation in its first line");
    /* The head must be exactly what we write for this run directory: then the rest is ours
     * too, written and checked by an earlier ingress_apply(). */
    render_status(&head, p, n);
    if (head.err != 0 || old.len < head.len || memcmp(old.ptr, head.buf, head.len) != 0) {
        sbuf_release(&head);
        return err_set(err, ERR_INVALID, "routes file: not written for run directory %s",
                       p->run_dir);
    }
    render_status(out, p, n + 1);
    sbuf_put(out, old.ptr + head.len, old.len - head.len);
    sbuf_release(&head);
    if (out->err != 0) {
        out->len = start;
        out->buf[start] = '\0';
        return err_set(err, out->err, "routes: the configuration is over its size limit");
    }
    *gen = n + 1;
    return 0;
}
