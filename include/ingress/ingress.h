/*
 * ingress: the HTTP entry point of apps on one machine (docs/ingress.md). slipway starts nginx
 * as its own child, writes every line of its configuration, supervises it (restarting it with
 * backoff when it dies) and stops it at ingress_free().
 *
 * Routing is by Host header: each route names a hostname and the 127.0.0.1:port addresses of
 * the ready replicas behind it. ingress_apply() renders the routes, has `nginx -t` check them,
 * switches the file atomically and reloads nginx gracefully (SIGHUP: open connections finish on
 * the old workers), then waits until the new configuration answers. A route without replicas
 * answers 502 with a page naming the service and the reason given; an unknown host gets 404;
 * the API hosts (ingress.api_hosts) reach slipway's own HTTP server.
 *
 * Threads: ingress_new(), ingress_apply() and ingress_free() block (they spawn `nginx -t` and
 * wait for nginx); call them from the main thread or a worker (pool_run), never from a loop.
 * ingress_apply() may be called from any thread; calls are serialized.
 *
 * nginx outlives a slipway that is killed (own process group, no parent-death signal; SIGHUP
 * only reloads it) and keeps serving the routes last applied; the next ingress_new() on the
 * same run directory adopts it. Only ingress_free() stops it.
 */
#ifndef SLIPWAY_INGRESS_H
#define SLIPWAY_INGRESS_H

#include "base/base.h"

struct ingress_cfg {
    bool enabled;
    char *bind;            /* address nginx listens on, "127.0.0.1" */
    int64_t port;          /* 8000 */
    char *nginx;           /* the nginx binary, "/usr/sbin/nginx" */
    char *api_hosts;       /* comma-separated hosts that reach slipway itself */
    int64_t workers;       /* nginx worker processes, 1 or 2 */
    int64_t stop_grace_ms; /* after SIGQUIT at ingress_free(), before SIGTERM */
};
/* The ingress.* keys (bounds, defaults, docs) filling <target>. */
struct cfg_section ingress_cfg_section(struct ingress_cfg *target);

/* What the process gives the ingress besides its configuration. Strings are copied. */
struct ingress_deps {
    const char *run_dir;      /* "<data dir>/ingress": nginx.conf, routes, pid, logs, temp */
    const char *api_upstream; /* slipway's own HTTP server, "127.0.0.1:8080" */
};

struct ingress;

/* Writes nginx's main configuration under deps->run_dir (created when missing) and puts the
 * routes the previous process applied (routes.conf) in force again, or none (API hosts and the
 * 404 page only) when that file is missing or no longer valid. A live nginx master an earlier
 * slipway left on that directory (it was killed; nginx kept serving) is adopted: reloaded with
 * SIGHUP, never stopped, and supervised by polling its pid. Else a new nginx is started. Waits
 * until nginx answers with those routes. On success *out belongs to the
 * caller (ingress_free()). ERR_INVALID for a bad setting (bind, API hosts, paths nginx could
 * not take literally), ERR_NOTFOUND when cfg->nginx is missing, ERR_UNAVAILABLE when nginx
 * did not come up (the message quotes its error log, e.g. the port being taken). */
int ingress_new(const struct ingress_cfg *cfg, const struct ingress_deps *deps,
                struct ingress **out, struct err *err) APP_MUST_CHECK;
/* Stops nginx: SIGQUIT (finish open requests), SIGTERM after cfg->stop_grace_ms, SIGKILL
 * 2 s later; no nginx process of this ingress is left when it returns. NULL is fine. */
void ingress_free(struct ingress *ig);

/* Stops the nginx an earlier slipway left serving on <run_dir> (killed, its nginx kept on):
 * SIGQUIT, then its whole group SIGKILLed after <grace_ms>. 1 when one was stopped, 0 when none
 * ran there. For `slipway down`; never while a slipway runs on that directory. */
int ingress_stop_left(const char *run_dir, uint64_t grace_ms);

/* One hostname's traffic. Every string is borrowed for the call only. */
struct ingress_route {
    const char *host;   /* lower-case DNS name, e.g. "web-production-shop.localhost" */
    const char *label;  /* what the error pages call it: "workspace/project/env/service" */
    const char *reason; /* why no replica is ready, shown on the 502 page; NULL for a default */
    const char *const *upstreams; /* "127.0.0.1:PORT" of the ready replicas only */
    size_t nupstreams;            /* 0: the route answers 502 with <reason> */
    bool websocket;               /* pass Upgrade/Connection through (WebSocket) */
};

/* Replaces every route with <routes>[0..n). Hosts must be distinct, valid lower-case DNS
 * names and not one of the API hosts; labels and reasons may hold anything (they are
 * escaped; a long reason is cut). Returns 0 once nginx serves the new routes (the previous
 * workers finish their requests meanwhile), ERR_INVALID / ERR_CONFLICT naming the bad route
 * (nothing changes), ERR_UNAVAILABLE when nginx refused or did not apply the file in time
 * (the previous routes keep serving). */
int ingress_apply(struct ingress *ig, const struct ingress_route *routes, size_t n,
                  struct err *err) APP_MUST_CHECK;

/* The URL the API/dashboard is reachable at through the ingress: "http://localhost:8000/".
 * Valid until ingress_free(). */
const char *ingress_api_url(const struct ingress *ig);
/* nginx's master process id now (0 while it is being restarted), and how many times it
 * died and was restarted: for tests and /metrics. */
int ingress_nginx_pid(struct ingress *ig);
uint64_t ingress_restarts(struct ingress *ig);

#endif
