/*
 * ingress-run: starts the ingress (real nginx) and takes commands on stdin, one per line, so
 * tests/integration/test_ingress.py can drive it. Each command answers one line on stdout.
 *
 *   ingress-run --run DIR --port N --api HOST:PORT [--api-hosts H,H] [--grace MS]
 *               [--nginx PATH] [--workers N]
 *
 *   route HOST<TAB>LABEL<TAB>REASON<TAB>WS<TAB>UPSTREAMS   adds a route to the next apply
 *       (REASON "-" for none, WS 0 or 1, UPSTREAMS "a:p,b:p" or "-" for none)
 *   apply        ingress_apply() of the routes added since the last apply: "ok" or
 *                "error <code> <message>"
 *   pid          "pid N": nginx's master now (0 while it restarts)
 *   restarts     "restarts N"
 *   quit (or end of input)   ingress_free(), then "stopped" and exit 0
 *
 * At start it prints "ready <api url>", or "error <code> <message>" and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "ingress/ingress.h"

#define MAX_ROUTES 64
#define MAX_UPS    8

struct pending {
    struct ingress_route r[MAX_ROUTES];
    const char *ups[MAX_ROUTES][MAX_UPS];
    char *lines[MAX_ROUTES];
    size_t n;
};

static char *field(char **rest)
{
    char *f = *rest, *tab = strchr(f, '\t');

    if (tab != NULL) {
        *tab = '\0';
        *rest = tab + 1;
    } else {
        *rest = f + strlen(f);
    }
    return f;
}

static void add_route(struct pending *p, const char *line)
{
    struct ingress_route *r;
    char *rest, *ups, *reason;

    if (p->n == MAX_ROUTES) {
        printf("error too many routes\n");
        return;
    }
    r = &p->r[p->n];
    rest = p->lines[p->n] = xstrdup(line);
    *r = (struct ingress_route){.host = field(&rest), .label = field(&rest)};
    reason = field(&rest);
    r->reason = strcmp(reason, "-") == 0 ? NULL : reason;
    r->websocket = strcmp(field(&rest), "1") == 0;
    ups = field(&rest);
    r->upstreams = p->ups[p->n];
    for (char *u = strtok_r(ups, ",", &rest); u && strcmp(u, "-") != 0 && r->nupstreams < MAX_UPS;
         u = strtok_r(NULL, ",", &rest))
        p->ups[p->n][r->nupstreams++] = u;
    p->n++;
    printf("ok\n");
}

static void apply(struct ingress *ig, struct pending *p)
{
    struct err err = {0};

    if (ingress_apply(ig, p->r, p->n, &err) < 0)
        printf("error %s %s\n", err_name(err.code), err.msg);
    else
        printf("ok\n");
    for (size_t i = 0; i < p->n; i++)
        free(p->lines[i]);
    p->n = 0;
}

static int serve(struct ingress *ig)
{
    static struct pending p;
    char line[4096];

    while (fgets(line, sizeof(line), stdin) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "route ", 6) == 0)
            add_route(&p, line + 6);
        else if (strcmp(line, "apply") == 0)
            apply(ig, &p);
        else if (strcmp(line, "pid") == 0)
            printf("pid %d\n", ingress_nginx_pid(ig));
        else if (strcmp(line, "restarts") == 0)
            printf("restarts %" PRIu64 "\n", ingress_restarts(ig));
        else if (strcmp(line, "quit") == 0)
            break;
        else
            printf("error unknown command\n");
        fflush(stdout);
    }
    for (size_t i = 0; i < p.n; i++)
        free(p.lines[i]);
    ingress_free(ig);
    printf("stopped\n");
    return 0;
}

int main(int argc, char **argv)
{
    struct ingress_cfg cfg = {.enabled = true,
                              .bind = "127.0.0.1",
                              .port = 8000,
                              .nginx = "/usr/sbin/nginx",
                              .api_hosts = "localhost,127.0.0.1",
                              .workers = 1,
                              .stop_grace_ms = 5000};
    struct ingress_deps deps = {0};
    struct ingress *ig;
    struct err err = {0};
    uint64_t v;

    for (int i = 1; i + 1 < argc; i += 2) {
        const char *o = argv[i], *val = argv[i + 1];
        bool num = slice_to_u64(slice_from_cstr(val), &v) == 0;

        if (strcmp(o, "--run") == 0)
            deps.run_dir = val;
        else if (strcmp(o, "--api") == 0)
            deps.api_upstream = val;
        else if (strcmp(o, "--api-hosts") == 0)
            cfg.api_hosts = (char *)val;
        else if (strcmp(o, "--nginx") == 0)
            cfg.nginx = (char *)val;
        else if (strcmp(o, "--port") == 0 && num)
            cfg.port = (int64_t)v;
        else if (strcmp(o, "--grace") == 0 && num)
            cfg.stop_grace_ms = (int64_t)v;
        else if (strcmp(o, "--workers") == 0 && num)
            cfg.workers = (int64_t)v;
        else {
            fprintf(stderr, "ingress-run: bad option %s (see tests/tools/ingress-run.c)\n", o);
            return 2;
        }
    }
    log_start(2, LOG_INFO, 1024);
    if (ingress_new(&cfg, &deps, &ig, &err) < 0) {
        printf("error %s %s\n", err_name(err.code), err.msg);
        log_stop();
        return 1;
    }
    printf("ready %s\n", ingress_api_url(ig));
    fflush(stdout);
    serve(ig);
    log_stop();
    return 0;
}
