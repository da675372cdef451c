/*
 * http-testd: the http module behind a few test routes, for integration tests that need
 * behaviour no product route has yet (a WebSocket echo, a handler that answers late).
 *
 *   GET /ws/echo      WebSocket: every message comes back as it came (text or binary)
 *   GET /ws/gql       the same, but only with the graphql-transport-ws subprotocol
 *   GET /ws/flood     WebSocket: after the first message, sends 64 KiB messages until the
 *                     send buffer (256 KiB) is full, which closes a client that does not read
 *   GET /slow?ms=N    answers 200 after N milliseconds, from a timer (an asynchronous handler)
 *
 * Prints {"ev":"testd.started","port":N} on stderr; SIGTERM drains and exits 0.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "http/http.h"

struct echo {
    bool flood;
};

static void echo_open(void *arg, struct http_ws *ws)
{
    (void)arg, (void)ws;
}

static void flood(struct http_ws *ws)
{
    static char block[64 << 10];

    memset(block, 'f', sizeof(block));
    while (http_ws_send(ws, false, (struct slice){block, sizeof(block)}) == 0)
        ;
}

static void echo_message(void *arg, struct http_ws *ws, bool text, struct slice data)
{
    struct echo *e = arg;

    if (e->flood) {
        flood(ws);
        return;
    }
    if (http_ws_send(ws, text, data) < 0)
        LOG_WARN(&(struct log_ctx){.svc = "testd"}, "testd.echo_dropped");
}

static void echo_close(void *arg, struct http_ws *ws, int code, struct slice reason)
{
    (void)ws;
    LOG_INFO(&(struct log_ctx){.svc = "testd"}, "testd.ws_closed", LF_INT("code", code),
             LF_SLICE("reason", reason));
    free(arg);
}

static const struct http_ws_handler echo_handler = {echo_open, echo_message, echo_close};

static void ws_route(void *arg, struct http_req *req)
{
    const char *which = arg;
    struct echo *e = xcalloc(1, sizeof(*e));
    struct http_ws_opts opts = {.max_message = 1 << 20, .max_send_buffer = 256 << 10};

    e->flood = strcmp(which, "flood") == 0;
    if (strcmp(which, "gql") == 0)
        opts.subprotocol = "graphql-transport-ws";
    if (http_respond_ws(req, &opts, &echo_handler, e) < 0)
        free(e); /* refused: the error response is on its way, <e> is still ours */
}

static void slow_done(void *arg)
{
    http_respond(arg, 200, "application/json", SLICE("{\"slow\":true}\n"));
}

static void slow_route(void *arg, struct http_req *req)
{
    struct slice ms = http_req_query(req, "ms");
    uint64_t n = 100;

    (void)arg;
    if (ms.ptr && (slice_to_u64(ms, &n) < 0 || n > 60000)) {
        http_respond_error(req, 400, "invalid", "ms: must be a number of milliseconds <= 60000");
        return;
    }
    ev_timer_add(ev_current(), n, slow_done, req);
}

static int add_routes(struct http_router *r, struct err *err)
{
    if (http_router_add(r, HTTP_GET, "/ws/echo", ws_route, "echo", NULL, err) < 0 ||
        http_router_add(r, HTTP_GET, "/ws/gql", ws_route, "gql", NULL, err) < 0 ||
        http_router_add(r, HTTP_GET, "/ws/flood", ws_route, "flood", NULL, err) < 0 ||
        http_router_add(r, HTTP_GET, "/slow", slow_route, NULL, NULL, err) < 0)
        return err->code;
    return 0;
}

int main(void)
{
    struct http_cfg cfg = {
        .bind = "127.0.0.1",
        .loops = 2,
        .max_connections = 256,
        .max_url_bytes = 8192,
        .max_header_bytes = 8192,
        .max_body_bytes = 1 << 20,
        .header_timeout_ms = 10000,
        .idle_timeout_ms = 30000,
        .shutdown_grace_ms = 5000,
        .cors_origin = "",
        .access_log = true,
    };
    struct http_router *router = http_router_new();
    struct pool *workers;
    struct http_server *srv = NULL;
    struct err err = {0};
    sigset_t set;
    int sig;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    workers = pool_new("workers", 2); /* after the mask: threads inherit it */
    log_start(2, LOG_INFO, 4096);
    if (add_routes(router, &err) < 0 ||
        http_server_start(&cfg, router, &(struct http_server_deps){NULL, workers}, &srv, &err) <
            0) {
        fprintf(stderr, "http-testd: %s\n", err.msg);
        return 1;
    }
    LOG_INFO(&(struct log_ctx){.svc = "testd"}, "testd.started",
             LF_INT("port", http_server_port(srv)));
    sigwait(&set, &sig);
    http_server_drain(srv);
    pool_free(workers);
    http_server_stop(srv);
    http_router_free(router);
    LOG_INFO(&(struct log_ctx){.svc = "testd"}, "testd.stopped");
    log_stop();
    return 0;
}
