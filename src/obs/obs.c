/* /healthz, /readyz and /metrics. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "obs/obs.h"

struct check {
    char *name;
    obs_check_fn *fn;
    void *arg;
};

struct obs {
    struct http_canned *ok; /* /healthz: the same bytes every time */
    struct metrics *metrics;
    struct pool *workers;
    struct check *checks;
    size_t nchecks;
};

struct obs *obs_new(struct metrics *m, struct pool *workers)
{
    struct obs *o = xcalloc(1, sizeof(*o));

    o->metrics = m;
    o->workers = workers;
    o->ok = http_canned_new(200, "application/json", SLICE("{\"status\":\"ok\"}\n"));
    return o;
}

void obs_free(struct obs *o)
{
    if (o == NULL)
        return;
    for (size_t i = 0; i < o->nchecks; i++)
        free(o->checks[i].name);
    free(o->checks);
    http_canned_free(o->ok);
    free(o);
}

void obs_check_add(struct obs *o, const char *name, obs_check_fn *fn, void *arg)
{
    o->checks = xrealloc(o->checks, (o->nchecks + 1) * sizeof(*o->checks));
    o->checks[o->nchecks++] = (struct check){xstrdup(name), fn, arg};
}

static void healthz(void *arg, struct http_req *req)
{
    struct obs *o = arg;

    http_respond_canned(req, o->ok);
}

/* One /readyz: the checks run one after another on a worker, the answer goes out from the
 * request's loop. Lives in the request's arena. */
struct ready_run {
    struct obs *o;
    struct http_req *req;
    struct err *errs;
    double *ms;
    int *rcs;
};

static void ready_work(void *arg)
{
    struct ready_run *run = arg;

    for (size_t i = 0; i < run->o->nchecks; i++) {
        uint64_t t0 = time_mono_ns();

        run->errs[i] = (struct err){0};
        run->rcs[i] = run->o->checks[i].fn(run->o->checks[i].arg, &run->errs[i]);
        run->ms[i] = (double)(time_mono_ns() - t0) / 1e6;
    }
}

static void ready_done(void *arg)
{
    struct ready_run *run = arg;
    struct sbuf b = SBUF_INIT(256u << 10);
    bool ok = true;
    struct jw w;

    jw_init(&w, &b);
    jw_obj_begin(&w);
    jw_key(&w, "checks");
    jw_obj_begin(&w);
    for (size_t i = 0; i < run->o->nchecks; i++) {
        ok &= run->rcs[i] == 0;
        jw_key(&w, run->o->checks[i].name);
        jw_obj_begin(&w);
        jw_key(&w, "status");
        jw_str(&w, run->rcs[i] == 0 ? "ok" : "failing");
        if (run->rcs[i] != 0) {
            jw_key(&w, "error");
            jw_str(&w, run->errs[i].msg);
        }
        jw_key(&w, "ms");
        jw_dbl(&w, run->ms[i]);
        jw_obj_end(&w);
    }
    jw_obj_end(&w);
    jw_key(&w, "status");
    jw_str(&w, ok ? "ready" : "not_ready");
    jw_obj_end(&w);
    sbuf_putc(&b, '\n');
    http_respond_sbuf(run->req, ok ? 200 : 503, "application/json", &b);
}

static void readyz(void *arg, struct http_req *req)
{
    struct obs *o = arg;
    struct ready_run *run = arena_zalloc(req->arena, sizeof(*run));
    size_t n = o->nchecks ? o->nchecks : 1;

    if (run == NULL || !(run->errs = arena_zalloc(req->arena, n * sizeof(struct err))) ||
        !(run->ms = arena_zalloc(req->arena, n * sizeof(double))) ||
        !(run->rcs = arena_zalloc(req->arena, n * sizeof(int)))) {
        http_respond_error(req, 503, "limit", "out of request memory");
        return;
    }
    run->o = o;
    run->req = req;
    pool_run(o->workers, ready_work, ready_done, run);
}

static void metrics_page(void *arg, struct http_req *req)
{
    struct obs *o = arg;
    struct sbuf b = SBUF_INIT(16u << 20);

    metrics_render(o->metrics, &b);
    http_respond_sbuf(req, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
}

int obs_routes_add(struct obs *o, struct http_router *r, struct err *err)
{
    static const struct http_route_opts quiet = {.no_access_log = true};

    if (http_router_add(r, HTTP_GET, "/healthz", healthz, o, &quiet, err) < 0 ||
        http_router_add(r, HTTP_GET, "/readyz", readyz, o, &quiet, err) < 0 ||
        http_router_add(r, HTTP_GET, "/metrics", metrics_page, o, &quiet, err) < 0)
        return err->code;
    return 0;
}

int obs_check_dir_writable(void *arg, struct err *err)
{
    const char *dir = arg;
    char path[4096];
    int fd, e;

    snprintf(path, sizeof(path), "%s/.readyz-probe", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(err, err_from_errno(errno), "%s: %s", dir, strerror(errno));
    if (write(fd, "ok\n", 3) != 3 || fsync(fd) != 0) {
        e = errno;
        close(fd);
        unlink(path);
        return err_set(err, ERR_IO, "%s: write failed: %s", dir, strerror(e));
    }
    close(fd);
    unlink(path);
    return 0;
}

void obs_build_info(struct metrics *m, const char *version, const char *commit)
{
    struct metric *f = metrics_family(m, METRIC_GAUGE, "slipway_build_info",
                                      "The slipway build: version and source commit.",
                                      (const char *[]){"version", "commit", NULL}, NULL, 0);

    metric_set(metric_series(f, (const char *[]){version, commit}), 1);
}
