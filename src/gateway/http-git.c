/*
 * gateway, HTTP side: the packager's repositories over git's smart HTTP protocol, read-only,
 * so that a user or ArgoCD can clone them (docs/gitops.md, "Cloning over HTTP").
 *
 *   GET  /git/{workspace}/{project-id}.git/info/refs?service=git-upload-pack
 *   POST /git/{workspace}/{project-id}.git/git-upload-pack
 *
 * Pushes (git-receive-pack) are refused with 403: slipway alone writes these repositories.
 * The dumb protocol (plain files under the repository) is refused too: it would bypass
 * git's own checks and serve whatever lies in the directory.
 *
 * A git client sends HTTP Basic (any user name, the password an API token or an access
 * token) or a Bearer token; without one it gets 401 with WWW-Authenticate: Basic, which is
 * what makes git ask its credential helper. On the loop the handler checks the URL and reads
 * the credential; on a worker it loads the caller and checks the membership of {workspace}
 * (a non-member gets the same 404 as a workspace that does not exist), asks the packager
 * where the repository is (pkg_repo_locate(), with an internal token for the caller), and
 * runs `git http-backend` as a CGI program: the request body goes to its stdin while its
 * stdout is read, the CGI header block becomes the response's status and headers. The
 * response is held in memory, at most GIT_RESPONSE_MAX, and the program gets GIT_RUN_MAX_S
 * before its process group is killed. At most half of the workers run git at once, so clones
 * cannot starve the API; past that a request gets 503 with Retry-After.
 *
 * Errors go out as text/plain: git prints such a body to the user ("remote: …").
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth/auth.h"
#include "base/base.h"
#include "gateway/gw-int.h"
#include "http/http.h"
#include "pkg/pkg.h"

#define GIT_BACKEND      "/usr/lib/git-core/git-http-backend"
#define GIT_REQUEST_MAX  (64 << 20)   /* an upload-pack request: wants and haves */
#define GIT_RESPONSE_MAX (256u << 20) /* a pack, held in memory until it is sent */
#define GIT_RUN_MAX_S    300
#define GIT_CGI_HDR_MAX  (64 << 10)
#define GIT_CGI_HDRS     16
#define GIT_STDERR_MAX   4096
#define GIT_HEADER_MAX   256 /* Content-Type, Content-Encoding, Git-Protocol we pass on */
#define GIT_CHUNK        (64 << 10)
#define GIT_ENV_MAX      24

static const char text_ct[] = "text/plain; charset=utf-8";
static const char no_repo[] = "no such repository (or you are not a member of its workspace)";
static const char push_refused[] =
    "pushing is refused: slipway alone writes these repositories. Change the project through "
    "the API or the dashboard, or eject it to own its repository";

enum git_op { GIT_REFS, GIT_UPLOAD };

struct git_hdr {
    const char *name, *value;
};

/* One request's state, in its arena; only the worker touches it while the work runs. */
struct git_req {
    struct gw *g;
    struct http_req *req;
    enum git_op op;
    struct gw_caller caller;
    struct slice ws;            /* {workspace} */
    char project[SLUG_MAX + 1]; /* the id in {repo} */
    const char *content_type;   /* the client's, or NULL */
    const char *encoding;       /* Content-Encoding, or NULL */
    const char *protocol;       /* Git-Protocol, or NULL */
    const char *peer;           /* the client's address */
    int rc;                     /* the outcome: 0, or an ERR_* with <err> */
    struct err err;
    int status;       /* 0: from err_http_status(rc) */
    const char *type; /* of the answer */
    struct git_hdr hdrs[GIT_CGI_HDRS];
    size_t nhdrs;
    struct sbuf out; /* the CGI's stdout, then the body */
};

/* ---------------------------------------------------------------- answering */

static void respond_text(struct http_req *req, int status, const char *msg)
{
    struct sbuf b = SBUF_INIT(1024);

    sbuf_puts(&b, msg);
    sbuf_putc(&b, '\n');
    http_respond_sbuf(req, status, text_ct, &b);
}

/* An error as text, with the status of <code> (or <status> when not 0). */
static void respond_err(struct http_req *req, int status, int code, const char *msg)
{
    if (code == ERR_UNAUTHENTICATED) {
        (void)!http_add_header(req, "WWW-Authenticate", "Basic realm=\"slipway\"");
        status = 401;
    }
    if (code == ERR_UNAVAILABLE)
        (void)!http_add_header(req, "Retry-After", "5");
    respond_text(req, status ? status : err_http_status(code), msg);
}

/* ---------------------------------------------------------------- the request, on the loop */

/* The token of "Basic base64(user:password)": the password; SLICE_NULL when it is not one. */
static struct slice basic_password(struct arena *a, struct slice b64)
{
    size_t cap = b64.len / 4 * 3 + 3, len = 0;
    unsigned char *bin = arena_alloc(a, cap + 1);
    int variant = b64.len % 4 == 0 ? sodium_base64_VARIANT_ORIGINAL
                                   : sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
    struct slice pair, user;

    if (bin == NULL || b64.len == 0 ||
        sodium_base642bin(bin, cap, b64.ptr, b64.len, NULL, &len, NULL, variant) != 0)
        return SLICE_NULL;
    pair = (struct slice){(const char *)bin, len};
    if (!slice_split(&pair, ':', &user) || pair.len == 0)
        return SLICE_NULL;
    return pair;
}

/* The credential a git client sends: Basic (the password is the token) or Bearer. 0 with
 * <out> (ptr NULL: none), or ERR_UNAUTHENTICATED for a header that is neither. */
static int git_credential(struct http_req *req, struct slice *out, struct err *err)
{
    struct slice h = slice_trim(http_req_header(req, "Authorization"));

    *out = SLICE_NULL;
    if (h.ptr == NULL)
        return 0;
    if (h.len > AUTH_TOKEN_MAX_BYTES * 2)
        return err_set(err, ERR_UNAUTHENTICATED, "Authorization: too long");
    if (h.len > 6 && slice_case_eq_cstr((struct slice){h.ptr, 6}, "Basic ")) {
        *out = basic_password(req->arena, slice_trim((struct slice){h.ptr + 6, h.len - 6}));
        if (out->ptr == NULL)
            return err_set(err, ERR_UNAUTHENTICATED,
                           "Authorization: Basic must carry user:token in base64, the password "
                           "being an API token (slp_…) or an access token");
        return 0;
    }
    *out = gw_bearer_token(h);
    if (out->ptr == NULL)
        return err_set(err, ERR_UNAUTHENTICATED,
                       "Authorization: expected Basic (the password an API token) or Bearer");
    return 0;
}

/* {repo} is "<project-id>.git", the id a slug (no dots, no slashes: one path component). */
static bool repo_param(struct slice repo, char project[SLUG_MAX + 1])
{
    struct slice id = {repo.ptr, repo.len > 4 ? repo.len - 4 : 0};

    if (repo.len <= 4 || memcmp(repo.ptr + id.len, ".git", 4) != 0 || !slug_valid(id))
        return false;
    memcpy(project, id.ptr, id.len);
    project[id.len] = '\0';
    return true;
}

/* A request header for the CGI's environment: printable ASCII within GIT_HEADER_MAX, copied
 * into the arena; NULL when absent or unusable (http-backend then refuses what it needs). */
static const char *header_copy(struct http_req *req, const char *name)
{
    struct slice v = http_req_header(req, name);

    if (v.ptr == NULL || v.len == 0 || v.len > GIT_HEADER_MAX)
        return NULL;
    for (size_t i = 0; i < v.len; i++)
        if ((unsigned char)v.ptr[i] < 0x20 || (unsigned char)v.ptr[i] > 0x7e)
            return NULL;
    return arena_strndup(req->arena, v.ptr, v.len);
}

/* ---------------------------------------------------------------- running git http-backend */

/* The CGI environment, nothing of ours in it: no secrets of the server's environment reach
 * git. http.receivepack is forced off: REMOTE_USER would otherwise enable pushes. */
static int cgi_env(struct git_req *x, const char *root, char **env, struct err *err)
{
    struct arena *a = x->req->arena;
    size_t n = 0;

    env[n++] = arena_printf(a, "GIT_PROJECT_ROOT=%s", root);
    env[n++] = arena_printf(a, "PATH_INFO=/%s.git/%s", x->project,
                            x->op == GIT_REFS ? "info/refs" : "git-upload-pack");
    env[n++] = arena_printf(a, "REQUEST_METHOD=%s", x->op == GIT_REFS ? "GET" : "POST");
    env[n++] =
        arena_printf(a, "QUERY_STRING=%s", x->op == GIT_REFS ? "service=git-upload-pack" : "");
    env[n++] = arena_printf(a, "CONTENT_LENGTH=%zu", x->req->body.len);
    env[n++] = arena_printf(a, "REMOTE_USER=%s", x->caller.user.id);
    env[n++] = arena_printf(a, "REMOTE_ADDR=%s", x->peer);
    if (x->content_type)
        env[n++] = arena_printf(a, "CONTENT_TYPE=%s", x->content_type);
    if (x->encoding)
        env[n++] = arena_printf(a, "HTTP_CONTENT_ENCODING=%s", x->encoding);
    if (x->protocol)
        env[n++] = arena_printf(a, "HTTP_GIT_PROTOCOL=%s", x->protocol);
    env[n++] = "GATEWAY_INTERFACE=CGI/1.1";
    env[n++] = "GIT_HTTP_EXPORT_ALL=1";
    env[n++] = "PATH=/usr/bin:/bin";
    env[n++] = "GIT_CONFIG_NOSYSTEM=1";
    env[n++] = "GIT_CONFIG_GLOBAL=/dev/null";
    env[n++] = "GIT_CONFIG_COUNT=1";
    env[n++] = "GIT_CONFIG_KEY_0=http.receivepack";
    env[n++] = "GIT_CONFIG_VALUE_0=false";
    env[n] = NULL;
    DASSERT(n < GIT_ENV_MAX);
    for (size_t i = 0; i < n; i++)
        if (env[i] == NULL)
            return err_set(err, ERR_LIMIT, "out of request memory");
    return 0;
}

struct cgi {
    pid_t pid;
    int in, out, errfd; /* our ends, -1 once closed */
    struct sbuf errs;   /* the first GIT_STDERR_MAX bytes of stderr */
    uint64_t deadline_ms;
};

static void fd_close(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Starts http-backend in a process group of its own (killed whole on a timeout) with the
 * three pipes; our ends are non-blocking. */
static int cgi_spawn(struct cgi *c, char **env, struct err *err)
{
    static const char *const argv[] = {"git-http-backend", NULL};
    int p[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
    struct proc_spec ps = {GIT_BACKEND, argv, (const char *const *)env, {-1, -1, -1}};
    struct err spawn_err = {0};
    int rc = 0;

    for (int i = 0; i < 3 && rc == 0; i++)
        if (pipe2(p[i], O_CLOEXEC) != 0)
            rc = err_set(err, err_from_errno(errno), "pipe: %s", strerror(errno));
    if (rc < 0)
        goto fail;
    ps.fds[0] = p[0][0], ps.fds[1] = p[1][1], ps.fds[2] = p[2][1];
    if (proc_spawn(&ps, &c->pid, &spawn_err) < 0) {
        rc = err_set(err, ERR_UNAVAILABLE, "%s (is git installed?)", spawn_err.msg);
        goto fail;
    }
    c->in = p[0][1], c->out = p[1][0], c->errfd = p[2][0];
    p[0][1] = p[1][0] = p[2][0] = -1;
    fcntl(c->in, F_SETFL, O_NONBLOCK);
    fcntl(c->out, F_SETFL, O_NONBLOCK);
    fcntl(c->errfd, F_SETFL, O_NONBLOCK);
fail:
    for (int i = 0; i < 3; i++) {
        fd_close(&p[i][0]);
        fd_close(&p[i][1]);
    }
    return rc;
}

/* Writes what it can of <body> from *off; the whole written (or the reader gone): stdin closes. */
static void pump_in(struct cgi *c, struct slice body, size_t *off)
{
    size_t n = body.len - *off < GIT_CHUNK ? body.len - *off : GIT_CHUNK;
    ssize_t w = n > 0 ? write(c->in, body.ptr + *off, n) : 0;

    if (w > 0)
        *off += (size_t)w;
    if ((w < 0 && errno != EAGAIN && errno != EINTR) || *off == body.len)
        fd_close(&c->in); /* EPIPE: it stopped reading, and says why on stdout */
}

/* Reads what is there into <to> (at most its max); EOF closes <fd>. ERR_LIMIT when full. */
static int pump_out(int *fd, struct sbuf *to, bool drop_excess)
{
    char spill[4096];
    size_t room = to->max - to->len;
    char *p = room > 0 ? sbuf_reserve(to, room < GIT_CHUNK ? room : GIT_CHUNK) : NULL;
    ssize_t r;

    if (p == NULL && !drop_excess)
        return ERR_LIMIT;
    r = p ? read(*fd, p, room < GIT_CHUNK ? room : GIT_CHUNK) : read(*fd, spill, sizeof(spill));
    if (r > 0 && p)
        sbuf_commit(to, (size_t)r);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
        fd_close(fd);
    return 0;
}

/* Feeds the body and collects stdout and stderr until both end, polling all three so that
 * neither side waits on a full pipe. ERR_TIMEOUT past the deadline, ERR_LIMIT past
 * GIT_RESPONSE_MAX. */
static int cgi_pump(struct cgi *c, struct slice body, struct sbuf *out, struct err *err)
{
    size_t off = 0;

    if (body.len == 0)
        fd_close(&c->in);
    while (c->out >= 0 || c->errfd >= 0) {
        struct pollfd pf[3] = {{c->in, POLLOUT, 0}, {c->out, POLLIN, 0}, {c->errfd, POLLIN, 0}};
        uint64_t now = time_mono_ms();

        if (now >= c->deadline_ms)
            return err_set(err, ERR_TIMEOUT, "git http-backend ran longer than %d s",
                           GIT_RUN_MAX_S);
        if (poll(pf, 3, (int)(c->deadline_ms - now)) < 0 && errno != EINTR)
            return err_set(err, ERR_INTERNAL, "poll: %s", strerror(errno));
        if (c->in >= 0 && (pf[0].revents & (POLLOUT | POLLERR | POLLHUP)))
            pump_in(c, body, &off);
        if (c->out >= 0 && (pf[1].revents & (POLLIN | POLLERR | POLLHUP)) &&
            pump_out(&c->out, out, false) < 0)
            return err_set(err, ERR_LIMIT, "the response is over %u MiB", GIT_RESPONSE_MAX >> 20);
        if (c->errfd >= 0 && (pf[2].revents & (POLLIN | POLLERR | POLLHUP)))
            (void)pump_out(&c->errfd, &c->errs, true);
    }
    return 0;
}

/* Waits for the child until the deadline, then kills its group; always reaps it. Returns its
 * wait status. */
static int cgi_reap(struct cgi *c, bool kill_now)
{
    int st = 0;

    while (!kill_now && time_mono_ms() < c->deadline_ms) {
        pid_t w = waitpid(c->pid, &st, WNOHANG);

        if (w == c->pid || (w < 0 && errno != EINTR))
            return st;
        if (w == 0)
            usleep(5000);
    }
    kill(-c->pid, SIGKILL);
    while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR)
        ;
    return st;
}

/* Logs what git said on stderr, line by line, at debug level. */
static void cgi_log_stderr(struct git_req *x, struct cgi *c)
{
    struct slice rest = sbuf_slice(&c->errs), line;

    while (rest.len > 0) {
        slice_split(&rest, '\n', &line);
        if (line.len > 0)
            LOG_DEBUG(&x->req->log, "gateway.git_stderr", LF_SLICE("line", line));
    }
}

/* Runs http-backend on the request: x->out gets its whole stdout. *wstatus its wait status. */
static int cgi_run(struct git_req *x, const char *root, int *wstatus, struct err *err)
{
    char *env[GIT_ENV_MAX];
    struct cgi c = {.pid = -1, .in = -1, .out = -1, .errfd = -1, .errs = SBUF_INIT(GIT_STDERR_MAX)};
    int rc = cgi_env(x, root, env, err);

    if (rc < 0 || (rc = cgi_spawn(&c, env, err)) < 0)
        return rc;
    c.deadline_ms = time_mono_ms() + GIT_RUN_MAX_S * 1000ull;
    rc = cgi_pump(&c, x->req->body, &x->out, err);
    fd_close(&c.in);
    fd_close(&c.out);
    fd_close(&c.errfd);
    *wstatus = cgi_reap(&c, rc < 0);
    cgi_log_stderr(x, &c);
    sbuf_release(&c.errs);
    return rc;
}

/* ---------------------------------------------------------------- the CGI's answer */

/* One "Name: value" line of the header block. */
static int cgi_header(struct git_req *x, struct slice line, struct err *err)
{
    struct slice name, value = line;

    if (!slice_split(&value, ':', &name) || name.len == 0)
        return err_set(err, ERR_IO, "git http-backend sent a malformed header line");
    value = slice_trim(value);
    if (slice_case_eq_cstr(name, "Status")) {
        uint64_t code;
        struct slice num = value, word;

        slice_split(&num, ' ', &word);
        if (slice_to_u64(word, &code) < 0 || code < 200 || code > 599)
            return err_set(err, ERR_IO, "git http-backend sent a bad Status");
        x->status = (int)code;
    } else if (slice_case_eq_cstr(name, "Content-Type")) {
        x->type = arena_strndup(x->req->arena, value.ptr, value.len);
    } else if (!slice_case_eq_cstr(name, "Content-Length") &&
               !slice_case_eq_cstr(name, "Transfer-Encoding") &&
               !slice_case_eq_cstr(name, "Connection") && x->nhdrs < GIT_CGI_HDRS) {
        x->hdrs[x->nhdrs].name = arena_strndup(x->req->arena, name.ptr, name.len);
        x->hdrs[x->nhdrs++].value = arena_strndup(x->req->arena, value.ptr, value.len);
    }
    return 0;
}

/* Splits x->out into the header block (applied to <x>) and the body, which stays in x->out. */
static int cgi_parse(struct git_req *x, struct err *err)
{
    struct slice rest = {x->out.buf, x->out.len < GIT_CGI_HDR_MAX ? x->out.len : GIT_CGI_HDR_MAX};
    struct slice line;
    int rc;

    x->status = 200;
    while (slice_split(&rest, '\n', &line)) {
        if (line.len > 0 && line.ptr[line.len - 1] == '\r')
            line.len--;
        if (line.len == 0) {
            sbuf_consume(&x->out, (size_t)(rest.ptr - x->out.buf));
            return 0;
        }
        if ((rc = cgi_header(x, line, err)) < 0)
            return rc;
    }
    return err_set(err, ERR_IO, "git http-backend ended without a complete header block");
}

/* What came back from a run that ended: a response to pass on, or an error with a message. */
static int cgi_result(struct git_req *x, int wstatus, struct err *err)
{
    bool failed = !WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0;
    int rc = x->out.len > 0 ? cgi_parse(x, err) : ERR_IO;

    if (rc < 0 || (failed && x->status < 400)) {
        LOG_WARN(&x->req->log, "gateway.git_failed", LF_INT("wait_status", wstatus),
                 LF_STR("error", rc < 0 ? err->msg : "exit status"));
        x->status = 502;
        return err_set(err, ERR_IO, "git http-backend failed (request %s): see the server log",
                       x->req->id);
    }
    if (x->status >= 400 && x->out.len == 0) {
        x->type = NULL; /* it said nothing: we do */
        return err_set(err, ERR_IO, "git http-backend answered %d (request %s)", x->status,
                       x->req->id);
    }
    return 0;
}

/* ---------------------------------------------------------------- the work */

/* Who calls, and may they read {workspace}? A non-member learns nothing of the workspace. */
static int authorize(struct git_req *x, struct err *err)
{
    int rc = gw_caller_load(&x->caller, x->req->arena, x->ws, err);

    if (rc == ERR_FORBIDDEN)
        return err_set(err, ERR_NOTFOUND, no_repo);
    return rc;
}

/* Where the repository is: asked of the packager with an internal token for the caller. */
static int locate(struct git_req *x, struct sbuf *path, struct err *err)
{
    struct pkg_call call;
    int rc = gw_pkg_call(&x->caller, x->req->arena, x->caller.workspace, x->caller.role, x->project,
                         &call, err);

    if (rc == 0)
        rc = pkg_repo_locate(x->g->pkg, &call, path, err);
    if (rc == ERR_NOTFOUND || rc == ERR_INVALID)
        return err_set(err, ERR_NOTFOUND, no_repo);
    return rc;
}

static void git_work(void *arg)
{
    struct git_req *x = arg;
    struct sbuf path = SBUF_INIT(4096);
    char *slash;
    int wstatus = 0, rc = authorize(x, &x->err);

    if (rc == 0)
        rc = locate(x, &path, &x->err);
    if (rc == 0) {
        slash = strrchr(path.buf, '/'); /* GIT_PROJECT_ROOT is the workspace's directory */
        *slash = '\0';
        sbuf_init(&x->out, GIT_RESPONSE_MAX);
        rc = cgi_run(x, path.buf, &wstatus, &x->err);
        if (rc == 0)
            rc = cgi_result(x, wstatus, &x->err);
    }
    sbuf_release(&path);
    x->rc = rc;
}

static void git_done(void *arg)
{
    struct git_req *x = arg;
    char *body;
    size_t len;

    atomic_fetch_sub(&x->g->git_running, 1);
    if (x->rc < 0) {
        sbuf_release(&x->out);
        if (x->rc == ERR_INTERNAL || x->rc == ERR_LIMIT || x->rc == ERR_TIMEOUT)
            LOG_ERROR(&x->req->log, "gateway.git_request_failed", LF_STR("error", x->err.msg),
                      LF_INT("code", x->rc));
        respond_err(x->req, x->rc == ERR_LIMIT ? 500 : x->status, x->rc, x->err.msg);
        return;
    }
    for (size_t i = 0; i < x->nhdrs; i++)
        if (x->hdrs[i].name != NULL && x->hdrs[i].value != NULL) /* NULL: the arena ran out */
            (void)!http_add_header(x->req, x->hdrs[i].name, x->hdrs[i].value);
    body = sbuf_take(&x->out, &len);
    http_respond_take(x->req, x->status, x->type ? x->type : text_ct, body, len);
}

/* A worker for git, when fewer than half of them run it already. */
static bool runner_take(struct gw *g)
{
    unsigned cap = pool_threads(g->workers) / 2;

    if (atomic_fetch_add(&g->git_running, 1) < (cap > 0 ? cap : 1))
        return true;
    atomic_fetch_sub(&g->git_running, 1);
    return false;
}

/* ---------------------------------------------------------------- handlers */

/* Checks what the loop can check, reads the credential and hands the rest to a worker. */
static void git_begin(struct gw *g, struct http_req *req, enum git_op op)
{
    struct git_req *x = arena_zalloc(req->arena, sizeof(*x));
    struct slice token;
    struct err err = {0};

    if (x == NULL) {
        respond_text(req, 503, "out of request memory");
        return;
    }
    if (g->pkg == NULL) {
        respond_err(req, 0, ERR_UNAVAILABLE,
                    "repositories are not served here: the packager does not run in this process");
        return;
    }
    x->g = g, x->req = req, x->op = op, x->caller.g = g, x->out = SBUF_INIT(0);
    x->ws = http_req_param(req, "workspace");
    if (!repo_param(http_req_param(req, "repo"), x->project) ||
        gw_db_check_text("workspace", x->ws, GW_ID_MAX, false, &err) < 0) {
        respond_text(req, 404, no_repo);
        return;
    }
    if (git_credential(req, &token, &err) < 0 || token.ptr == NULL ||
        gw_authn_token(g, token, &x->caller.who, &err) < 0) {
        respond_err(req, 0, ERR_UNAUTHENTICATED,
                    token.ptr == NULL && err.code == 0
                        ? "authentication required: use an API token (slp_…) as the password"
                        : err.msg);
        return;
    }
    x->content_type = header_copy(req, "Content-Type");
    x->encoding = header_copy(req, "Content-Encoding");
    x->protocol = header_copy(req, "Git-Protocol");
    x->peer = http_req_peer(req);
    if (!runner_take(g)) {
        respond_err(req, 0, ERR_UNAVAILABLE, "too many git requests at once: try again shortly");
        return;
    }
    pool_run(g->workers, git_work, git_done, x);
}

static void refs_handler(void *arg, struct http_req *req)
{
    struct slice service = http_req_query(req, "service");

    if (slice_eq_cstr(service, "git-receive-pack")) {
        respond_text(req, 403, push_refused);
        return;
    }
    if (service.ptr == NULL) {
        respond_text(req, 403,
                     "only git's smart HTTP protocol is served (git 1.6.6 or later; "
                     "?service=git-upload-pack)");
        return;
    }
    if (!slice_eq_cstr(service, "git-upload-pack")) {
        respond_text(req, 400, "service: must be git-upload-pack");
        return;
    }
    git_begin(arg, req, GIT_REFS);
}

static void upload_handler(void *arg, struct http_req *req)
{
    git_begin(arg, req, GIT_UPLOAD);
}

static void receive_handler(void *arg, struct http_req *req)
{
    (void)arg;
    respond_text(req, 403, push_refused);
}

/* Everything else under /git: the dumb protocol's files, pushes, mistyped URLs. */
static void other_handler(void *arg, struct http_req *req)
{
    struct slice rest = http_req_param(req, "rest");
    struct slice tail = SLICE("git-receive-pack");

    (void)arg;
    if (rest.len >= tail.len && memcmp(rest.ptr + rest.len - tail.len, tail.ptr, tail.len) == 0) {
        respond_text(req, 403, push_refused);
        return;
    }
    respond_text(req, 404,
                 "not a repository URL: clone <server>/git/<workspace>/<project-id>.git (git's "
                 "smart HTTP protocol only)");
}

int gw_git_routes_add(struct gw *g, struct http_router *r, struct err *err)
{
    static const struct http_route_opts small = {.max_body_bytes = 1024};
    static const struct http_route_opts upload = {.max_body_bytes = GIT_REQUEST_MAX};

    if (http_router_add(r, HTTP_GET, "/git/{workspace}/{repo}/info/refs", refs_handler, g, &small,
                        err) < 0 ||
        http_router_add(r, HTTP_POST, "/git/{workspace}/{repo}/git-upload-pack", upload_handler, g,
                        &upload, err) < 0 ||
        http_router_add(r, HTTP_POST, "/git/{workspace}/{repo}/git-receive-pack", receive_handler,
                        g, &small, err) < 0 ||
        http_router_add(r, HTTP_ANY, "/git/{rest...}", other_handler, g, &small, err) < 0)
        return err->code;
    return 0;
}
