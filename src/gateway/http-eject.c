/*
 * gateway, HTTP side: eject (docs/gitops.md, "Eject").
 *
 *   GET /api/eject/{project}      application/gzip: the project's repository with its whole
 *                                 history, ArgoCD Applications, build.sh and a README
 *
 * The project is one of the active workspace's (X-Slipway-Workspace, else the personal one).
 * Any member may eject, also while the workspace is suspended: leaving must always be
 * possible. The archive is made on a worker and sent whole (it is bounded by PKG_EJECT_MAX).
 */
#include <stdlib.h>

#include "base/base.h"
#include "gateway/gw-int.h"
#include "http/http.h"
#include "pkg/pkg.h"

struct eject_req {
    struct gw *g;
    struct http_req *req;
    struct gw_caller caller;
    struct slice ws;
    char project[SLUG_MAX + 1];
    int rc;
    struct err err;
    struct sbuf body;
};

static void eject_work(void *arg)
{
    struct eject_req *x = arg;
    struct pkg_call call;
    int rc = gw_caller_load(&x->caller, x->req->arena, x->ws, &x->err);

    if (rc == 0)
        rc = gw_pkg_call(&x->caller, x->req->arena, x->caller.workspace, x->caller.role, x->project,
                         &call, &x->err);
    if (rc == 0)
        rc = pkg_eject(x->g->pkg, &call, &x->body, &x->err);
    if (rc == ERR_NOTFOUND)
        rc = err_set(&x->err, ERR_NOTFOUND, "project: no project %s in workspace %s", x->project,
                     x->caller.workspace);
    x->rc = rc;
    if (rc == 0)
        gw_audit_ws(x->g, slice_from_cstr(x->caller.user.id), slice_from_cstr(x->caller.workspace),
                    "project.eject", slice_from_cstr(x->project), GW_OUTCOME_OK, NULL);
}

static void eject_done(void *arg)
{
    struct eject_req *x = arg;
    char disposition[128];

    if (x->rc < 0) {
        sbuf_release(&x->body);
        if (x->rc == ERR_UNAUTHENTICATED)
            gw_respond_unauthenticated(x->req, &x->err);
        else
            http_respond_err(x->req, &x->err);
        return;
    }
    snprintf(disposition, sizeof(disposition), "attachment; filename=\"%s.tar.gz\"", x->project);
    (void)!http_add_header(x->req, "Content-Disposition", disposition);
    http_respond_sbuf(x->req, 200, "application/gzip", &x->body);
}

static void eject_handler(void *arg, struct http_req *req)
{
    struct eject_req *x = arena_zalloc(req->arena, sizeof(*x));
    struct slice project = http_req_param(req, "project");
    struct err err = {0};

    if (x == NULL) {
        http_respond_error(req, 503, "limit", "out of request memory");
        return;
    }
    x->g = arg, x->req = req, x->caller.g = arg, x->body = SBUF_INIT(PKG_EJECT_MAX);
    if (x->g->pkg == NULL) {
        http_respond_error(req, 503, "unavailable", "the packager does not run in this process");
        return;
    }
    if (gw_authn_begin(x->g, req, &x->caller.who, &err) < 0) {
        gw_respond_unauthenticated(req, &err);
        return;
    }
    if (!slug_valid(project)) {
        http_respond_error(req, 400, "invalid",
                           "project: must match ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$");
        return;
    }
    memcpy(x->project, project.ptr, project.len);
    if (gw_workspace_header(req, &x->ws, &err) < 0) {
        http_respond_err(req, &err);
        return;
    }
    pool_run(x->g->workers, eject_work, eject_done, x);
}

int gw_eject_routes_add(struct gw *g, struct http_router *r, struct err *err)
{
    return http_router_add(r, HTTP_GET, "/api/eject/{project}", eject_handler, g,
                           &(struct http_route_opts){.max_body_bytes = 0}, err);
}
