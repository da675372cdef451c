/*
 * gateway, HTTP side: the web dashboard (docs/dashboard.md).
 *
 *   GET|HEAD /{path...}   a file of gateway.dashboard_dir (the production build of dashboard/),
 *                         else its index.html when the client accepts text/html (a browser
 *                         on one of the dashboard's routes), else a JSON 404
 *
 * The route is the router's fallback: it only sees paths no API route matches, and refuses
 * the API's own prefixes so a mistyped API call gets a JSON 404 rather than a page. Files are
 * opened on the loop: a few small files of a local directory, read once per visit and then
 * cached by the browser (hashed assets forever, index.html revalidated). A name that leaves
 * the directory once symbolic links are resolved is refused; "." and ".." segments never get
 * here (http_path_split refuses them).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "gateway/gw-int.h"
#include "http/http.h"

#define DEFAULT_DIR "dashboard/dist"

/* The dashboard may load only its own files and talk only to its own origin. */
#define DASH_CSP                                                                                   \
    "default-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; "              \
    "form-action 'self'; frame-ancestors 'none'"

struct gw_dashboard {
    char *dir;                     /* as configured, relative to the working directory */
    struct http_canned *not_built; /* the page for a missing build */
};

static const char *const api_prefixes[] = {
    "graphql", "auth", "api", "v2", "git", "healthz", "readyz", "metrics", ".well-known",
};

static const struct {
    const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".ico", "image/x-icon"},
    {".webp", "image/webp"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
    {".webmanifest", "application/manifest+json"},
};

static const char not_built_page[] =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>slipway: dashboard not built</title></head><body>"
    "<h1>The dashboard is not built</h1>"
    "<p>slipway serves the dashboard from the directory named by "
    "<code>gateway.dashboard_dir</code> (default <code>dashboard/dist</code>, relative to the "
    "working directory), and it holds no <code>index.html</code>.</p>"
    "<p>Build it with <code>make</code> (or <code>make dashboard</code>) at the top of the "
    "repository, then reload this page. The API works without it.</p></body></html>\n";

static const char *content_type(struct slice name)
{
    for (size_t i = 0; i < ARRAY_LEN(types); i++) {
        size_t n = strlen(types[i].ext);

        if (name.len >= n && memcmp(name.ptr + name.len - n, types[i].ext, n) == 0)
            return types[i].type;
    }
    return "application/octet-stream";
}

/* Whether the first segment of <path> is one the API owns. */
static bool api_path(struct slice path)
{
    struct slice rest = path, first;

    slice_split(&rest, '/', &first);
    for (size_t i = 0; i < ARRAY_LEN(api_prefixes); i++)
        if (slice_eq_cstr(first, api_prefixes[i]))
            return true;
    return false;
}

/* Opens <rel> under the directory whose real path is <root> when it is a regular file that
 * stays inside it; -1 otherwise. *size gets its length. */
static int open_inside(struct arena *a, const char *root, struct slice rel, uint64_t *size)
{
    size_t rlen = strlen(root);
    char *want = arena_alloc(a, rlen + 1 + rel.len + 1), real[PATH_MAX];
    struct stat st;
    int fd;

    if (want == NULL)
        return -1;
    memcpy(want, root, rlen);
    want[rlen] = '/';
    memcpy(want + rlen + 1, rel.ptr, rel.len);
    want[rlen + 1 + rel.len] = '\0';
    if (realpath(want, real) == NULL)
        return -1;
    if (strncmp(real, root, rlen) != 0 || real[rlen] != '/')
        return -1; /* a link out of the directory */
    fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -1;
    }
    *size = (uint64_t)st.st_size;
    return fd;
}

static void send_file(struct http_req *req, int fd, uint64_t size, struct slice name,
                      bool immutable)
{
    /* a header that does not fit the request's memory is left out; the answer still goes */
    (void)!http_add_header(req, "Cache-Control",
                           immutable ? "public, max-age=31536000, immutable" : "no-cache");
    (void)!http_add_header(req, "Content-Security-Policy", DASH_CSP);
    http_respond_fd(req, 200, content_type(name), fd, 0, size);
}

/* Whether an Accept header names text/html (as a browser's navigation does). */
static bool accepts_html(struct slice accept)
{
    static const char want[] = "text/html";

    for (size_t i = 0; i + sizeof(want) - 1 <= accept.len; i++)
        if (slice_case_eq_cstr((struct slice){accept.ptr + i, sizeof(want) - 1}, want))
            return true;
    return false;
}

static void dashboard_handler(void *arg, struct http_req *req)
{
    struct gw_dashboard *d = arg;
    struct slice path = http_req_param(req, "path");
    bool asset = slice_starts_with(path, SLICE("assets/"));
    char root[PATH_MAX];
    uint64_t size = 0;
    int fd = -1;

    if (api_path(path)) {
        http_respond_error(req, 404, "not_found", "no such path");
        return;
    }
    /* resolved on every request: the directory may be built after slipway started */
    if (realpath(d->dir, root) == NULL) {
        http_respond_canned(req, d->not_built);
        return;
    }
    if (path.len > 0)
        fd = open_inside(req->arena, root, path, &size);
    if (fd >= 0) {
        send_file(req, fd, size, path, asset);
        return;
    }
    if (asset) { /* a hashed file that is not there: never answer a script with the page */
        http_respond_error(req, 404, "not_found", "no such file");
        return;
    }
    /* The page for the dashboard's own routes is what a browser navigating asks for; a
     * program (curl, a script, a mistyped API call) gets the API's JSON 404. */
    if (path.len > 0 && !accepts_html(http_req_header(req, "Accept"))) {
        http_respond_error(req, 404, "not_found", "no such path");
        return;
    }
    fd = open_inside(req->arena, root, SLICE("index.html"), &size);
    if (fd < 0) {
        http_respond_canned(req, d->not_built);
        return;
    }
    send_file(req, fd, size, SLICE("index.html"), false);
}

int gw_dashboard_routes_add(struct gw *g, struct http_router *r, struct err *err)
{
    struct http_route_opts opts = {.max_body_bytes = 1, .fallback = true};
    struct gw_dashboard *d = xcalloc(1, sizeof(*d));

    d->dir = xstrdup(g->cfg.dashboard_dir && g->cfg.dashboard_dir[0] ? g->cfg.dashboard_dir
                                                                     : DEFAULT_DIR);
    d->not_built = http_canned_new(503, "text/html; charset=utf-8", SLICE(not_built_page));
    gw_dashboard_free(g->dash);
    g->dash = d;
    return http_router_add(r, HTTP_GET, "/{path...}", dashboard_handler, d, &opts, err);
}

void gw_dashboard_free(struct gw_dashboard *d)
{
    if (d == NULL)
        return;
    http_canned_free(d->not_built);
    free(d->dir);
    free(d);
}
