/*
 * ingress internals: rendering nginx configuration (render.c) and running nginx (ingress.c).
 * Private to the module and its tests.
 */
#ifndef SLIPWAY_INGRESS_INT_H
#define SLIPWAY_INGRESS_INT_H

#include "base/base.h"
#include "ingress/ingress.h"

#define INGRESS_MAX_HOSTS     16 /* API hosts */
#define INGRESS_MAX_ROUTES    10000
#define INGRESS_MAX_UPSTREAMS 64 /* replicas of one route */
#define INGRESS_LABEL_MAX     255
#define INGRESS_REASON_MAX    1000 /* longer reasons are cut */
#define INGRESS_CONF_MAX      (32u << 20)

/* What rendering needs; every string is owned by whoever fills it and outlives the call. */
struct ingress_params {
    const char *run_dir; /* absolute, checked by ingress_path_ok() */
    const char *bind;    /* IPv4 or IPv6 literal */
    int port;
    int workers;
    const char *user;         /* "nobody nogroup" when running as root, else NULL */
    const char *api_upstream; /* "127.0.0.1:8080" */
    const char *api_hosts[INGRESS_MAX_HOSTS];
    size_t napi_hosts;
};

/* A lower-case DNS name: labels of [a-z0-9-], 1..63 bytes, not starting or ending with '-',
 * at most 253 bytes in all, no empty label (so no leading, trailing or double dot). */
bool ingress_host_valid(struct slice host);
/* "a.b.c.d:port" (IPv4 literal, port 1..65535): what an upstream may be. */
bool ingress_upstream_valid(struct slice addr);
/* An absolute path of [A-Za-z0-9/._+@-] only: safe unquoted in nginx syntax. */
bool ingress_path_ok(const char *path);
/* Appends <s> as HTML text safe inside an nginx double-quoted string: letters, digits, spaces
 * and a few punctuation marks as they are, every other character as a numeric reference
 * (so no '"', '\\', '$', '<', '&' ever reaches nginx or the browser raw), control bytes as
 * spaces, invalid UTF-8 as U+FFFD. At most <max> input bytes, then "...". */
void ingress_html_escape(struct sbuf *out, struct slice s, size_t max);

/* The main nginx.conf including <routes_file> (absolute). */
void ingress_render_main(struct sbuf *out, const struct ingress_params *p, const char *routes_file);
/* The routes file: the status server answering <gen>, the API server, the 404 default server
 * and one server (and upstream) per route. Validates every route first: ERR_INVALID or
 * ERR_CONFLICT naming the route, and <out> is left as it was. */
int ingress_render_routes(struct sbuf *out, const struct ingress_params *p,
                          const struct ingress_route *routes, size_t n, uint64_t gen,
                          struct err *err) APP_MUST_CHECK;
/* The routes file <old> (written by ingress_render_routes() for the same run directory) again
 * as the next generation: the same routes, the status server answering *gen = its own + 1.
 * ERR_INVALID when <old> is not such a file (nothing appended). */
int ingress_render_regen(struct sbuf *out, const struct ingress_params *p, struct slice old,
                         uint64_t *gen, struct err *err) APP_MUST_CHECK;

#endif
