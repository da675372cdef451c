/*
 * The router: pattern parsing and clashes (http_router_add), path rules (http_path_split),
 * matching with parameters, HEAD and 405's allowed methods (http_router_match), the arena
 * budget, and method names.
 */
#include "../test.h"

#include "http/http-int.h"

/* ------------------------------------------------------------------ helpers */

static void nop_handler(void *arg, struct http_req *req)
{
    (void)arg, (void)req;
}

/* Adds a route that must be accepted. */
static void add_ok_at(int line, struct http_router *r, unsigned methods, const char *pattern)
{
    struct err err = {0};

    if (http_router_add(r, methods, pattern, nop_handler, NULL, NULL, &err) != 0)
        test_fail(__FILE__, line, "adding %s: %s", pattern, err.msg);
}
#define ADD_OK(r, methods, pattern) add_ok_at(__LINE__, (r), (methods), (pattern))

/* Adds <pattern> to <r> (a fresh router when NULL) and expects ERR_INVALID with a message
 * containing <why> and naming the pattern; the router keeps only what it had. */
static void add_bad_at(int line, struct http_router *r, unsigned methods, const char *pattern,
                       const char *why)
{
    struct http_router *own = r ? NULL : http_router_new();
    struct http_router *use = r ? r : own;
    size_t before = http_router_count(use);
    struct err err = {0};
    int rc = http_router_add(use, methods, pattern, nop_handler, NULL, NULL, &err);

    if (rc != ERR_INVALID || err.code != ERR_INVALID)
        test_fail(__FILE__, line, "adding \"%s\" returned %d (%s), expected ERR_INVALID", pattern,
                  rc, err.msg);
    if (strstr(err.msg, why) == NULL)
        test_fail(__FILE__, line, "adding \"%s\": \"%s\" does not say \"%s\"", pattern, err.msg,
                  why);
    if (pattern[0] != '\0' && strstr(err.msg, pattern) == NULL)
        test_fail(__FILE__, line, "adding \"%s\": \"%s\" does not name it", pattern, err.msg);
    if (http_router_count(use) != before)
        test_fail(__FILE__, line, "adding \"%s\" failed but the router grew", pattern);
    http_router_free(own);
}
#define ADD_BAD(pattern, why) add_bad_at(__LINE__, NULL, HTTP_GET, (pattern), (why))

/* Splits <path> (which may hold NUL bytes, hence the length) and expects ERR_INVALID naming
 * the rule <why>. */
static void split_bad_at(int line, const char *path, size_t len, const char *why)
{
    struct arena *a = arena_new(NULL);
    struct slice segs[HTTP_MAX_SEGMENTS];
    size_t n = 12345;
    struct err err = {0};
    int rc = http_path_split(a, (struct slice){path, len}, segs, &n, &err);

    if (rc != ERR_INVALID || err.code != ERR_INVALID)
        test_fail(__FILE__, line, "splitting \"%.*s\" returned %d, expected ERR_INVALID", (int)len,
                  path, rc);
    if (strstr(err.msg, why) == NULL)
        test_fail(__FILE__, line, "splitting \"%.*s\": \"%s\" does not say \"%s\"", (int)len, path,
                  err.msg, why);
    if (n != 12345)
        test_fail(__FILE__, line, "splitting \"%.*s\" failed but set *nsegs", (int)len, path);
    arena_free(a);
}
#define SPLIT_BAD(lit, why) split_bad_at(__LINE__, (lit), sizeof(lit) - 1, (why))

/* Splits <path>, expects success and returns the segment count; segs[] gets the segments. */
static size_t split_ok_at(int line, struct arena *a, const char *path, struct slice *segs)
{
    size_t n = 0;
    struct err err = {0};

    if (http_path_split(a, slice_from_cstr(path), segs, &n, &err) != 0)
        test_fail(__FILE__, line, "splitting \"%s\": %s", path, err.msg);
    for (size_t i = 0; i < n; i++)
        if (segs[i].ptr[segs[i].len] != '\0')
            test_fail(__FILE__, line, "segment %zu of \"%s\" is not NUL-terminated", i, path);
    return n;
}
#define SPLIT_OK(a, path, segs) split_ok_at(__LINE__, (a), (path), (segs))

/* Matches and expects success (no path error). */
static void match_at(int line, const struct http_router *r, struct arena *a, unsigned method,
                     const char *path, struct http_match *m)
{
    struct err err = {0};

    memset(m, 0xa5, sizeof(*m)); /* whatever the caller had must not leak through */
    if (http_router_match(r, a, method, slice_from_cstr(path), m, &err) != 0)
        test_fail(__FILE__, line, "matching %s %s: %s", http_method_name(method), path, err.msg);
}
#define MATCH(r, a, method, path, m) match_at(__LINE__, (r), (a), (method), (path), (m))

/* The value of parameter <name> in <m> as a C string (values are NUL-terminated). */
static const char *param(const struct http_match *m, const char *name)
{
    for (size_t i = 0; i < m->nparams; i++)
        if (slice_eq_cstr(m->names[i], name)) {
            CHECK(m->values[i].ptr[m->values[i].len] == '\0');
            return m->values[i].ptr;
        }
    return NULL;
}

static const char *pattern_of(const struct http_match *m)
{
    return m->route ? http_route_pattern(m->route) : "(no route)";
}

/* ------------------------------------------------------------------ patterns */

TEST(router_add_accepts_literals_params_and_rest)
{
    struct http_router *r = http_router_new();
    struct http_match m;
    struct arena *a = arena_new(NULL);

    ADD_OK(r, HTTP_GET, "/");
    ADD_OK(r, HTTP_GET, "/healthz");
    ADD_OK(r, HTTP_POST, "/api/eject/{project}");
    ADD_OK(r, HTTP_GET, "/v2/{name...}");
    ADD_OK(r, HTTP_ANY, "/git/{workspace}/{Project_2}");
    ADD_OK(r, HTTP_GET, "/a.b/c-d/e~f/g:h");
    CHECK_UINT_EQ(http_router_count(r), 6);

    MATCH(r, a, HTTP_GET, "/v2/x", &m);
    CHECK_STR_EQ(pattern_of(&m), "/v2/{name...}");
    CHECK_UINT_EQ(http_route_index(m.route), 3);
    MATCH(r, a, HTTP_GET, "/a.b/c-d/e~f/g:h", &m);
    CHECK_STR_EQ(pattern_of(&m), "/a.b/c-d/e~f/g:h");
    CHECK_UINT_EQ(http_route_index(m.route), 5);
    MATCH(r, a, HTTP_PATCH, "/git/w/p", &m);
    CHECK_STR_EQ(param(&m, "Project_2"), "p");
    arena_free(a);
    http_router_free(r);
}

TEST(router_add_keeps_handler_and_options)
{
    struct http_router *r = http_router_new();
    struct http_route_opts opts = {.max_body_bytes = 1234, .no_access_log = true};
    const struct http_route_opts *got_opts;
    http_handler_fn *fn;
    struct http_match m;
    struct err err = {0};
    struct arena *a = arena_new(NULL);
    int marker;
    void *arg;

    CHECK_INT_EQ(http_router_add(r, HTTP_GET, "/x", nop_handler, &marker, &opts, &err), 0);
    CHECK_INT_EQ(http_router_add(r, HTTP_GET, "/y", nop_handler, NULL, NULL, &err), 0);
    opts.max_body_bytes = 1; /* the router keeps a copy */
    MATCH(r, a, HTTP_GET, "/x", &m);
    http_route_get(m.route, &fn, &arg, &got_opts);
    CHECK(fn == nop_handler);
    CHECK(arg == &marker);
    CHECK_INT_EQ(got_opts->max_body_bytes, 1234);
    CHECK(got_opts->no_access_log);
    MATCH(r, a, HTTP_GET, "/y", &m);
    http_route_get(m.route, &fn, &arg, &got_opts);
    CHECK(arg == NULL);
    CHECK_INT_EQ(got_opts->max_body_bytes, 0);
    CHECK(!got_opts->no_access_log);
    arena_free(a);
    http_router_free(r);
    http_router_free(NULL);
}

TEST(router_add_rest_only_last)
{
    ADD_BAD("/v2/{name...}/manifests", "{name...} must be the last segment");
    ADD_BAD("/{a...}/{b...}", "must be the last segment");
}

TEST(router_add_rejects_bad_parameter_names)
{
    static const char *const bad[] = {"/{}",    "/{a-b}",   "/{a b}",     "/{a.b}",
                                      "/{...}", "/{a}}",    "/{{a}",      "/x/{é}",
                                      "/{a..}", "/{a....}", "/{a...b...}"};

    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        ADD_BAD(bad[i], "parameter names are letters, digits and '_'");
    ADD_BAD("/{a", "unclosed '{'");
    ADD_BAD("/{", "unclosed '{'");
    ADD_BAD("/x/{a}b", "unclosed '{'");
}

TEST(router_add_rejects_braces_and_escapes_in_literals)
{
    ADD_BAD("/a{b}", "'{', '}' or '%' inside a literal segment");
    ADD_BAD("/api/x}", "inside a literal segment");
    ADD_BAD("/api/x{", "inside a literal segment");
    ADD_BAD("/api/a%2Fb", "inside a literal segment");
}

TEST(router_add_needs_leading_slash)
{
    ADD_BAD("healthz", "must start with '/'");
    ADD_BAD("{a}/b", "must start with '/'");
    ADD_BAD("", "must start with '/'");
}

TEST(router_add_rejects_trailing_slash_and_empty_segments)
{
    ADD_BAD("/healthz/", "trailing '/'");
    ADD_BAD("/api/{project}/", "trailing '/'");
    ADD_BAD("//", "empty segment");
    ADD_BAD("/a//b", "empty segment");
    ADD_BAD("//a", "empty segment");
}

TEST(router_add_rejects_bad_methods)
{
    struct http_router *r = http_router_new();

    add_bad_at(__LINE__, r, 0, "/x", "no valid method");
    add_bad_at(__LINE__, r, HTTP_ANY + 1, "/x", "no valid method");
    add_bad_at(__LINE__, r, HTTP_GET | 0x100u, "/x", "no valid method");
    CHECK_UINT_EQ(http_router_count(r), 0);
    http_router_free(r);
}

TEST(router_add_limits_segments_and_parameters)
{
    char pattern[4 * HTTP_MAX_SEGMENTS + 8];
    struct http_router *r = http_router_new();
    size_t len = 0;

    for (int i = 0; i < HTTP_MAX_SEGMENTS; i++)
        len += (size_t)snprintf(pattern + len, sizeof(pattern) - len, "/s");
    ADD_OK(r, HTTP_GET, pattern);
    snprintf(pattern + len, sizeof(pattern) - len, "/s");
    add_bad_at(__LINE__, r, HTTP_POST, pattern, "too many segments");

    /* HTTP_MAX_PARAMS parameters fit in struct http_match; one more (a rest too) does not. */
    ADD_OK(r, HTTP_GET, "/p/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}");
    ADD_OK(r, HTTP_GET, "/q/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h...}");
    add_bad_at(__LINE__, r, HTTP_GET, "/p/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}",
               "more than 8 parameters");
    add_bad_at(__LINE__, r, HTTP_GET, "/r/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i...}",
               "more than 8 parameters");
    CHECK_UINT_EQ(http_router_count(r), 3);
    http_router_free(r);
}

TEST(router_add_reports_clashes_with_overlapping_methods)
{
    struct http_router *r = http_router_new();

    ADD_OK(r, HTTP_GET, "/projects/{id}");
    ADD_OK(r, HTTP_POST | HTTP_PUT, "/v2/{name...}");
    ADD_OK(r, HTTP_DELETE, "/healthz");
    /* Same shape (parameter names do not matter), one method in common. */
    add_bad_at(__LINE__, r, HTTP_GET | HTTP_POST, "/projects/{name}",
               "clashes with /projects/{id}");
    add_bad_at(__LINE__, r, HTTP_PUT, "/v2/{repo...}", "clashes with /v2/{name...}");
    add_bad_at(__LINE__, r, HTTP_ANY, "/healthz", "clashes with /healthz");
    CHECK_UINT_EQ(http_router_count(r), 3);
    http_router_free(r);
}

TEST(router_add_allows_same_shape_with_other_methods)
{
    struct http_router *r = http_router_new();
    struct arena *a = arena_new(NULL);
    struct http_match m;

    ADD_OK(r, HTTP_GET, "/projects/{id}");
    ADD_OK(r, HTTP_POST, "/projects/{name}");
    ADD_OK(r, HTTP_DELETE | HTTP_PATCH, "/projects/{x}");
    /* Other shapes do not clash even for the same method. */
    ADD_OK(r, HTTP_GET, "/projects/{id}/{more...}");
    ADD_OK(r, HTTP_GET, "/projects");
    CHECK_UINT_EQ(http_router_count(r), 5);

    MATCH(r, a, HTTP_POST, "/projects/p1", &m);
    CHECK_STR_EQ(pattern_of(&m), "/projects/{name}");
    CHECK_STR_EQ(param(&m, "name"), "p1");
    CHECK(param(&m, "id") == NULL);
    MATCH(r, a, HTTP_PATCH, "/projects/p1", &m);
    CHECK_STR_EQ(pattern_of(&m), "/projects/{x}");
    arena_free(a);
    http_router_free(r);
}

/* ------------------------------------------------------------------ matching */

TEST(router_match_literals)
{
    struct http_router *r = http_router_new();
    struct arena *a = arena_new(NULL);
    struct http_match m;

    ADD_OK(r, HTTP_GET, "/");
    ADD_OK(r, HTTP_GET, "/healthz");
    ADD_OK(r, HTTP_GET, "/deploys/new");
    ADD_OK(r, HTTP_GET, "/deploys/{id}");

    MATCH(r, a, HTTP_GET, "/", &m);
    CHECK_STR_EQ(pattern_of(&m), "/");
    CHECK_UINT_EQ(m.nparams, 0);
    MATCH(r, a, HTTP_GET, "/healthz", &m);
    CHECK_STR_EQ(pattern_of(&m), "/healthz");
    MATCH(r, a, HTTP_GET, "/healthz/", &m); /* a trailing slash is dropped */
    CHECK_STR_EQ(pattern_of(&m), "/healthz");
    MATCH(r, a, HTTP_GET, "/heal%74hz", &m); /* literals compare with the decoded segment */
    CHECK_STR_EQ(pattern_of(&m), "/healthz");
    /* The literal, added first, wins over the parameter route for its own path only. */
    MATCH(r, a, HTTP_GET, "/deploys/new", &m);
    CHECK_STR_EQ(pattern_of(&m), "/deploys/new");
    CHECK_UINT_EQ(m.nparams, 0);
    MATCH(r, a, HTTP_GET, "/deploys/newer", &m);
    CHECK_STR_EQ(pattern_of(&m), "/deploys/{id}");
    CHECK_STR_EQ(param(&m, "id"), "newer");

    /* No route for these paths at all: nothing beats nothing. */
    static const char *const none[] = {"/health",  "/healthz/x",   "/HEALTHZ",
                                       "/deploys", "/deploys/1/2", "/x"};
    for (size_t i = 0; i < ARRAY_LEN(none); i++) {
        MATCH(r, a, HTTP_GET, none[i], &m);
        if (m.route != NULL || m.allowed != 0 || m.nparams != 0)
            test_fail(__FILE__, __LINE__, "%s matched %s (allowed %#x)", none[i], pattern_of(&m),
                      m.allowed);
    }
    arena_free(a);
    http_router_free(r);
}

TEST(router_match_params_are_decoded_per_segment)
{
    struct http_router *r = http_router_new();
    struct arena *a = arena_new(NULL);
    struct http_match m;

    ADD_OK(r, HTTP_POST, "/api/eject/{project}");
    ADD_OK(r, HTTP_GET, "/git/{workspace}/{project}");

    MATCH(r, a, HTTP_POST, "/api/eject/a%2Fb", &m);
    CHECK_STR_EQ(pattern_of(&m), "/api/eject/{project}");
    CHECK_UINT_EQ(m.nparams, 1);
    CHECK_STR_EQ(m.names[0].ptr, "project");
    CHECK_MEM_EQ(m.values[0].ptr, m.values[0].len, "a/b", 3);
    CHECK_STR_EQ(param(&m, "project"), "a/b");

    /* The same bytes unencoded are two segments: no route. */
    MATCH(r, a, HTTP_POST, "/api/eject/a/b", &m);
    CHECK(m.route == NULL);
    CHECK_UINT_EQ(m.allowed, 0);

    MATCH(r, a, HTTP_GET, "/git/my%20ws/%41%62%63%2f%2F%25+%ff", &m);
    CHECK_UINT_EQ(m.nparams, 2);
    CHECK_STR_EQ(m.names[0].ptr, "workspace");
    CHECK_STR_EQ(m.names[1].ptr, "project");
    CHECK_STR_EQ(param(&m, "workspace"), "my ws");
    CHECK_MEM_EQ(m.values[1].ptr, m.values[1].len, "Abc//%+\xff", 8);
    CHECK(param(&m, "nope") == NULL);
    arena_free(a);
    http_router_free(r);
}

TEST(router_match_rest_joins_segments)
{
    struct http_router *r = http_router_new();
    struct arena *a = arena_new(NULL);
    struct http_match m;

    ADD_OK(r, HTTP_GET, "/v2/{name...}");
    ADD_OK(r, HTTP_GET, "/files/{ws}/{path...}");

    MATCH(r, a, HTTP_GET, "/v2/library/nginx/manifests/latest", &m);
    CHECK_STR_EQ(pattern_of(&m), "/v2/{name...}");
    CHECK_UINT_EQ(m.nparams, 1);
    CHECK_STR_EQ(m.names[0].ptr, "name");
    CHECK_STR_EQ(param(&m, "name"), "library/nginx/manifests/latest");
    CHECK_UINT_EQ(m.values[0].len, strlen("library/nginx/manifests/latest"));
    MATCH(r, a, HTTP_GET, "/v2/one", &m);
    CHECK_STR_EQ(param(&m, "name"), "one");
    MATCH(r, a, HTTP_GET, "/v2/a%20b/c/", &m); /* decoded per segment, trailing '/' dropped */
    CHECK_STR_EQ(param(&m, "name"), "a b/c");

    /* Empty rest: "/v2" and "/v2/" both reach the route with "". */
    MATCH(r, a, HTTP_GET, "/v2", &m);
    CHECK_STR_EQ(pattern_of(&m), "/v2/{name...}");
    CHECK_UINT_EQ(m.nparams, 1);
    CHECK_UINT_EQ(m.values[0].len, 0);
    CHECK_STR_EQ(param(&m, "name"), "");
    MATCH(r, a, HTTP_GET, "/v2/", &m);
    CHECK_STR_EQ(param(&m, "name"), "");

    MATCH(r, a, HTTP_GET, "/files/w1/src/main.c", &m);
    CHECK_UINT_EQ(m.nparams, 2);
    CHECK_STR_EQ(param(&m, "ws"), "w1");
    CHECK_STR_EQ(param(&m, "path"), "src/main.c");
    MATCH(r, a, HTTP_GET, "/files/w1", &m);
    CHECK_STR_EQ(param(&m, "path"), "");
    MATCH(r, a, HTTP_GET, "/files", &m); /* the {ws} segment is required */
    CHECK(m.route == NULL);
    CHECK_UINT_EQ(m.allowed, 0);
    MATCH(r, a, HTTP_GET, "/v3/x", &m);
    CHECK(m.route == NULL);
    arena_free(a);
    http_router_free(r);
}

TEST(router_match_head_uses_get_routes)
{
    struct http_router *r = http_router_new();
    struct arena *a = arena_new(NULL);
    struct http_match m;

    ADD_OK(r, HTTP_GET, "/healthz");
    ADD_OK(r, HTTP_POST, "/hooks/{id}");

    MATCH(r, a, HTTP_HEAD, "/healthz", &m);
    CHECK_STR_EQ(pattern_of(&m), "/healthz");
    CHECK_UINT_EQ(m.allowed, HTTP_GET | HTTP_HEAD);
    MATCH(r, a, HTTP_HEAD, "/hooks/1", &m); /* HEAD reaches GET routes only */
    CHECK(m.route == NULL);
    CHECK_UINT_EQ(m.allowed, HTTP_POST);
    MATCH(r, a, HTTP_GET, "/hooks/1", &m);
    CHECK(m.route == NULL);
    CHECK_UINT_EQ(m.allowed, HTTP_POST);
    arena_free(a);
    http_router_free(r);
}

TEST(router_match_allowed_lists_every_route_on_the_path)
{
    struct http_router *r = http_router_new();
    struct arena *a = arena_new(NULL);
    struct http_match m;
    const unsigned all = HTTP_GET | HTTP_HEAD | HTTP_POST | HTTP_DELETE | HTTP_OPTIONS;

    ADD_OK(r, HTTP_GET, "/projects/{id}");
    ADD_OK(r, HTTP_POST, "/projects/{name}");
    ADD_OK(r, HTTP_DELETE, "/projects/{rest...}");
    ADD_OK(r, HTTP_OPTIONS, "/{any...}");
    ADD_OK(r, HTTP_PUT, "/projects/{id}/members");

    /* 405: no route for PATCH, and Allow names every route whose path matched. */
    MATCH(r, a, HTTP_PATCH, "/projects/p1", &m);
    CHECK(m.route == NULL);
    CHECK_UINT_EQ(m.nparams, 0);
    CHECK_UINT_EQ(m.allowed, all);

    /* A match still reports the routes before and after it. */
    MATCH(r, a, HTTP_POST, "/projects/p1", &m);
    CHECK_STR_EQ(pattern_of(&m), "/projects/{name}");
    CHECK_STR_EQ(param(&m, "name"), "p1");
    CHECK_UINT_EQ(m.allowed, all);
    MATCH(r, a, HTTP_GET, "/projects/p1", &m);
    CHECK_STR_EQ(pattern_of(&m), "/projects/{id}");
    CHECK_UINT_EQ(m.allowed, all);
    MATCH(r, a, HTTP_OPTIONS, "/projects/p1", &m);
    CHECK_STR_EQ(pattern_of(&m), "/{any...}");
    CHECK_STR_EQ(param(&m, "any"), "projects/p1");
    CHECK_UINT_EQ(m.allowed, all);

    /* HEAD is added only when GET is there. */
    MATCH(r, a, HTTP_GET, "/projects/p1/members", &m);
    CHECK(m.route == NULL);
    CHECK_UINT_EQ(m.allowed, HTTP_PUT | HTTP_DELETE | HTTP_OPTIONS);
    MATCH(r, a, HTTP_GET, "/other", &m);
    CHECK_UINT_EQ(m.allowed, HTTP_OPTIONS);
    arena_free(a);
    http_router_free(r);
}

TEST(router_match_no_path_match_allows_nothing)
{
    struct http_router *r = http_router_new();
    struct arena *a = arena_new(NULL);
    struct http_match m;

    MATCH(r, a, HTTP_GET, "/", &m); /* an empty router */
    CHECK(m.route == NULL);
    CHECK_UINT_EQ(m.allowed, 0);
    CHECK_UINT_EQ(m.nparams, 0);
    ADD_OK(r, HTTP_ANY, "/a/{b}");
    MATCH(r, a, HTTP_GET, "/a", &m);
    CHECK(m.route == NULL);
    CHECK_UINT_EQ(m.allowed, 0);
    MATCH(r, a, HTTP_DELETE, "/a/b/c", &m);
    CHECK(m.route == NULL);
    CHECK_UINT_EQ(m.allowed, 0);
    MATCH(r, a, HTTP_DELETE, "/a/b", &m);
    CHECK_STR_EQ(pattern_of(&m), "/a/{b}");
    CHECK_UINT_EQ(m.allowed, HTTP_ANY);
    arena_free(a);
    http_router_free(r);
}

TEST(router_match_reports_bad_paths)
{
    struct http_router *r = http_router_new();
    struct arena *a = arena_new(NULL);
    struct http_match m;
    struct err err = {0};

    ADD_OK(r, HTTP_GET, "/{any...}");
    memset(&m, 0xa5, sizeof(m));
    CHECK_INT_EQ(http_router_match(r, a, HTTP_GET, SLICE("/a/%2e%2E/etc/passwd"), &m, &err),
                 ERR_INVALID);
    CHECK_CONTAINS(err.msg, "'.' and '..' segments are not allowed");
    CHECK(m.route == NULL);
    CHECK_UINT_EQ(m.allowed, 0);
    CHECK_UINT_EQ(m.nparams, 0);
    CHECK_INT_EQ(http_router_match(r, a, HTTP_GET, SLICE("/a%00"), &m, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "NUL");
    CHECK_INT_EQ(http_router_match(r, a, HTTP_GET, SLICE("a"), &m, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "must start with '/'");
    arena_free(a);
    http_router_free(r);
}

/* ------------------------------------------------------------------ path rules */

TEST(path_split_decodes_segments)
{
    struct arena *a = arena_new(NULL);
    struct slice segs[HTTP_MAX_SEGMENTS];
    size_t n;

    CHECK_UINT_EQ(SPLIT_OK(a, "/", segs), 0);
    n = SPLIT_OK(a, "/a/%2F/%41%62%7e%7E/+%20x", segs);
    CHECK_UINT_EQ(n, 4);
    CHECK_STR_EQ(segs[0].ptr, "a");
    CHECK_MEM_EQ(segs[1].ptr, segs[1].len, "/", 1);
    CHECK_STR_EQ(segs[2].ptr, "Ab~~");
    CHECK_STR_EQ(segs[3].ptr, "+ x");
    /* Dots that are not a whole segment are fine. */
    n = SPLIT_OK(a, "/.../.a/a./..b/%2e%2e%2e/.well-known", segs);
    CHECK_UINT_EQ(n, 6);
    CHECK_STR_EQ(segs[0].ptr, "...");
    CHECK_STR_EQ(segs[4].ptr, "...");
    CHECK_STR_EQ(segs[5].ptr, ".well-known");
    arena_free(a);
}

TEST(path_split_needs_leading_slash)
{
    SPLIT_BAD("", "path: must start with '/'");
    SPLIT_BAD("a/b", "must start with '/'");
    SPLIT_BAD("*", "must start with '/'");
    SPLIT_BAD("%2Fa", "must start with '/'");
    SPLIT_BAD("http://x/a", "must start with '/'");
}

TEST(path_split_rejects_dot_segments)
{
    static const char *const bad[] = {"/.",        "/..",       "/a/.",      "/a/..",   "/a/./b",
                                      "/a/../b",   "/%2e",      "/%2E",      "/%2e%2E", "/%2E%2e/",
                                      "/a/.%2e/b", "/a/%2e./b", "/../../etc"};

    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        split_bad_at(__LINE__, bad[i], strlen(bad[i]), "'.' and '..' segments are not allowed");
}

TEST(path_split_rejects_empty_segments_but_not_a_trailing_slash)
{
    struct arena *a = arena_new(NULL);
    struct slice segs[HTTP_MAX_SEGMENTS];

    SPLIT_BAD("//", "path: empty segment");
    SPLIT_BAD("//a", "empty segment");
    SPLIT_BAD("/a//b", "empty segment");
    SPLIT_BAD("/a//", "empty segment");
    CHECK_UINT_EQ(SPLIT_OK(a, "/a/", segs), 1);
    CHECK_STR_EQ(segs[0].ptr, "a");
    CHECK_UINT_EQ(SPLIT_OK(a, "/a/b/", segs), 2);
    CHECK_STR_EQ(segs[1].ptr, "b");
    arena_free(a);
}

TEST(path_split_rejects_nul)
{
    SPLIT_BAD("/a%00", "path: NUL byte");
    SPLIT_BAD("/%00/b", "NUL byte");
    SPLIT_BAD("/a\0b", "NUL byte");
    SPLIT_BAD("/\0", "NUL byte");
}

TEST(path_split_rejects_bad_escapes)
{
    static const char *const bad[] = {"/%",
                                      "/a%",
                                      "/%4",
                                      "/%4/b",
                                      "/%zz",
                                      "/%g0",
                                      "/%0g",
                                      "/a%%41",
                                      "/%-1",
                                      "/% 1",
                                      "/%\xff"
                                      "1"};

    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        split_bad_at(__LINE__, bad[i], strlen(bad[i]), "path: bad percent-encoding");
}

TEST(path_split_limits_segments)
{
    char path[2 * HTTP_MAX_SEGMENTS + 8];
    struct arena *a = arena_new(NULL);
    struct slice segs[HTTP_MAX_SEGMENTS];
    size_t len = 0;

    for (int i = 0; i < HTTP_MAX_SEGMENTS; i++)
        len += (size_t)snprintf(path + len, sizeof(path) - len, "/x");
    CHECK_UINT_EQ(SPLIT_OK(a, path, segs), HTTP_MAX_SEGMENTS);
    snprintf(path + len, sizeof(path) - len, "/");
    CHECK_UINT_EQ(SPLIT_OK(a, path, segs), HTTP_MAX_SEGMENTS);
    snprintf(path + len, sizeof(path) - len, "/y");
    split_bad_at(__LINE__, path, strlen(path), "path: more than 64 segments");
    arena_free(a);
}

/* ------------------------------------------------------------------ arena budget */

TEST(path_split_out_of_budget_is_err_limit)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 64});
    struct slice segs[HTTP_MAX_SEGMENTS];
    char path[256];
    size_t n = 0;
    struct err err = {0};

    memset(path, 'a', sizeof(path));
    path[0] = '/';
    CHECK_INT_EQ(http_path_split(a, (struct slice){path, sizeof(path)}, segs, &n, &err), ERR_LIMIT);
    CHECK_INT_EQ(err.code, ERR_LIMIT);
    CHECK(err.msg[0] != '\0');
    arena_free(a);
}

/* Every budget ends in either the full, right answer or ERR_LIMIT with nothing matched; never a
 * match with a truncated or empty parameter. */
TEST(router_match_out_of_budget_is_err_limit)
{
    /* four segments after /v2: only the rest route matches (the three-parameter one would
     * win otherwise, being more specific) */
    static const char path[] = "/v2/library-nginx/manifests-latest/x/y";
    struct http_router *r = http_router_new();
    size_t limited = 0, matched = 0;

    ADD_OK(r, HTTP_GET, "/v2/{name...}");
    ADD_OK(r, HTTP_GET, "/v2/{repo}/{kind}/{ref}");
    for (size_t budget = 1; budget <= 512; budget++) {
        struct arena *a = arena_new(&(struct arena_opts){.budget = budget});
        struct http_match m;
        struct err err = {0};
        int rc = http_router_match(r, a, HTTP_GET, SLICE(path), &m, &err);

        if (rc == ERR_LIMIT) {
            limited++;
            CHECK_INT_EQ(err.code, ERR_LIMIT);
            CHECK(err.msg[0] != '\0');
            CHECK(m.route == NULL);
            CHECK_UINT_EQ(m.nparams, 0);
        } else {
            matched++;
            CHECK_INT_EQ(rc, 0);
            CHECK_STR_EQ(pattern_of(&m), "/v2/{name...}");
            CHECK_STR_EQ(param(&m, "name"), "library-nginx/manifests-latest/x/y");
            CHECK_UINT_EQ(m.allowed, HTTP_GET | HTTP_HEAD);
        }
        arena_free(a);
    }
    CHECK(limited > 0);
    CHECK(matched > 0);
    http_router_free(r);
}

/* ------------------------------------------------------------------ methods */

TEST(method_parse_and_name_round_trip)
{
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    unsigned seen = 0;

    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        unsigned m = http_method_parse(slice_from_cstr(names[i]));

        CHECK(m != 0);
        CHECK_UINT_EQ(m & (m - 1), 0); /* one bit */
        CHECK_UINT_EQ(m & ~HTTP_ANY, 0);
        CHECK_UINT_EQ(seen & m, 0);
        seen |= m;
        CHECK_STR_EQ(http_method_name(m), names[i]);
    }
    CHECK_UINT_EQ(seen, HTTP_ANY);
    CHECK_UINT_EQ(http_method_parse(SLICE("GET")), HTTP_GET);
    CHECK_UINT_EQ(http_method_parse(SLICE("HEAD")), HTTP_HEAD);
    CHECK_UINT_EQ(http_method_parse(SLICE("DELETE")), HTTP_DELETE);
    for (unsigned m = 1; m <= HTTP_OPTIONS; m <<= 1)
        CHECK_UINT_EQ(http_method_parse(slice_from_cstr(http_method_name(m))), m);
    /* Only the slice's bytes count. */
    CHECK_UINT_EQ(http_method_parse((struct slice){"PUTS", 3}), HTTP_PUT);
}

TEST(method_unknown)
{
    static const char *const unknown[] = {"get",   "Get",      "GETS", "GE",   "",     "CONNECT",
                                          "TRACE", "PROPFIND", " GET", "GET ", "OTHER"};

    for (size_t i = 0; i < ARRAY_LEN(unknown); i++)
        if (http_method_parse(slice_from_cstr(unknown[i])) != 0)
            test_fail(__FILE__, __LINE__, "\"%s\" parsed as a method", unknown[i]);
    CHECK_UINT_EQ(http_method_parse(SLICE("GET\0")), 0);
    CHECK_UINT_EQ(http_method_parse(SLICE_NULL), 0);
    CHECK_STR_EQ(http_method_name(0), "OTHER");
    CHECK_STR_EQ(http_method_name(HTTP_GET | HTTP_POST), "OTHER");
    CHECK_STR_EQ(http_method_name(HTTP_OPTIONS << 1), "OTHER");
    CHECK_STR_EQ(http_method_name(HTTP_ANY), "OTHER");
}

TEST(router_literal_beats_parameter_whatever_the_order)
{
    struct http_router *r = http_router_new();
    struct arena *a = arena_new(NULL);
    struct http_match m;

    ADD_OK(r, HTTP_GET, "/deploys/{id}");
    ADD_OK(r, HTTP_GET, "/deploys/new");
    ADD_OK(r, HTTP_GET, "/files/{path...}");
    ADD_OK(r, HTTP_GET, "/files/{dir}/index");
    MATCH(r, a, HTTP_GET, "/deploys/new", &m);
    CHECK_STR_EQ(pattern_of(&m), "/deploys/new");
    MATCH(r, a, HTTP_GET, "/deploys/42", &m);
    CHECK_STR_EQ(pattern_of(&m), "/deploys/{id}");
    CHECK_STR_EQ(param(&m, "id"), "42");
    MATCH(r, a, HTTP_GET, "/files/docs/index", &m);
    CHECK_STR_EQ(pattern_of(&m), "/files/{dir}/index");
    MATCH(r, a, HTTP_GET, "/files/docs/other", &m);
    CHECK_STR_EQ(pattern_of(&m), "/files/{path...}");
    arena_free(a);
    http_router_free(r);
}

TEST(router_add_rejects_a_parameter_named_twice)
{
    add_bad_at(__LINE__, NULL, HTTP_GET, "/{a}/x/{a}", "appears twice");
    add_bad_at(__LINE__, NULL, HTTP_GET, "/{a}/{a...}", "appears twice");
}

/* The dashboard's catch-all: only for paths no other route has, only for its own methods. */
TEST(router_fallback_only_where_nothing_else_matches)
{
    struct http_router *r = http_router_new();
    struct arena *a = arena_new(NULL);
    struct http_match m;
    struct err err = {0};

    ADD_OK(r, HTTP_POST, "/auth/login");
    ADD_OK(r, HTTP_GET, "/git/{rest...}");
    OK(http_router_add(r, HTTP_GET, "/{path...}", nop_handler, NULL,
                       &(struct http_route_opts){.fallback = true}, &err));
    MATCH(r, a, HTTP_GET, "/projects/shop", &m);
    CHECK_STR_EQ(pattern_of(&m), "/{path...}");
    CHECK_STR_EQ(param(&m, "path"), "projects/shop");
    MATCH(r, a, HTTP_HEAD, "/", &m);
    CHECK_STR_EQ(pattern_of(&m), "/{path...}");
    CHECK_STR_EQ(param(&m, "path"), "");
    MATCH(r, a, HTTP_GET, "/git/x/y", &m); /* a rest route of the API wins */
    CHECK_STR_EQ(pattern_of(&m), "/git/{rest...}");
    MATCH(r, a, HTTP_GET, "/auth/login", &m); /* still a 405, not the dashboard */
    CHECK(m.route == NULL);
    CHECK_UINT_EQ(m.allowed, HTTP_POST);
    MATCH(r, a, HTTP_POST, "/nowhere", &m); /* still a 404 */
    CHECK(m.route == NULL);
    CHECK_UINT_EQ(m.allowed, 0);
    arena_free(a);
    http_router_free(r);
}
