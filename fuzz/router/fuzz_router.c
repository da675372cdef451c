/*
 * libFuzzer harness for the router's request side (http_router_match, which decodes and
 * checks the path with http_path_split).
 *
 * Input: byte 0 picks the method (low 3 bits: 0-6 one of GET … OPTIONS, 7 an unknown method,
 * i.e. 0), the rest is the raw request path. The router is built once with routes like
 * slipway's. Beyond "no crash, no leak" the harness checks the result against a small,
 * independent model: its own path decoder (absolute, valid escapes, no NUL, no "." or ".."
 * segment, no empty segment but a trailing one, at most HTTP_MAX_SEGMENTS) and its own
 * matcher over the pattern strings. It must agree on accept/reject, on m->allowed, on which
 * route wins (the most specific whose path and method fit, GET routes serving HEAD) and on
 * every parameter value; values must be NUL-terminated with no NUL inside; failures must leave
 * an empty match and a message.
 */
#include <stdio.h>
#include <stdlib.h>

#include "http/http-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(x)                                                                              \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed\n", __FILE__, __LINE__, #x);             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define FUZZ_BUDGET (64u << 10)

static const struct fuzz_route {
    unsigned methods;
    const char *pattern;
} fuzz_routes[] = {
    {HTTP_GET, "/"},
    {HTTP_GET, "/healthz"},
    {HTTP_GET, "/readyz"},
    {HTTP_GET, "/metrics"},
    {HTTP_POST, "/graphql"},
    {HTTP_GET, "/graphql"}, /* the WebSocket upgrade: same path, other method */
    {HTTP_POST, "/api/eject/{project}"},
    {HTTP_ANY & ~HTTP_OPTIONS, "/v2/{name...}"},
    {HTTP_GET | HTTP_POST, "/git/{workspace}/{project}"},
    {HTTP_GET, "/git/{workspace}/{project}/info/refs"},
    {HTTP_GET, "/auth/oidc/{provider}/callback"},
    {HTTP_GET, "/auth/oidc/{provider}/login"},
    {HTTP_POST, "/hooks/{provider}/{hook_id}"},
    {HTTP_GET | HTTP_DELETE, "/api/projects/{project}/deploys/{deploy}"},
    {HTTP_GET, "/api/projects/{project}/deploys/new"}, /* after the parameter: unreachable */
    {HTTP_GET, "/api/projects/{project}/files/{path...}"},
    {HTTP_PUT | HTTP_DELETE, "/api/workspaces/{workspace}/members/{user}"},
    {HTTP_OPTIONS, "/{any...}"},
};

static const struct http_router *fuzz_router(void)
{
    static struct http_router *r; /* kept for the whole run: still reachable at exit */

    if (r == NULL) {
        struct err err = {0};

        r = http_router_new();
        for (size_t i = 0; i < ARRAY_LEN(fuzz_routes); i++) {
            if (http_router_add(r, fuzz_routes[i].methods, fuzz_routes[i].pattern, NULL, NULL, NULL,
                                &err) != 0) {
                fprintf(stderr, "fuzz_router: %s\n", err.msg);
                abort();
            }
        }
    }
    return r;
}

/* ------------------------------------------------------------------ the model */

/* Decoded path segments, each a view into <buf> (malloc()ed, as long as the raw path). */
struct model_path {
    char *buf;
    struct slice segs[HTTP_MAX_SEGMENTS];
    size_t nsegs;
};

static int model_hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The documented path rules, written independently of router.c. */
static bool model_split(struct slice path, struct model_path *mp)
{
    size_t i = 1, used = 0;

    mp->nsegs = 0;
    if (path.len == 0 || path.ptr[0] != '/')
        return false;
    while (i < path.len) {
        size_t start = used;

        if (mp->nsegs == HTTP_MAX_SEGMENTS)
            return false;
        for (; i < path.len && path.ptr[i] != '/'; i++) {
            unsigned char c = (unsigned char)path.ptr[i];

            if (c == '%') {
                if (i + 2 >= path.len || model_hex((unsigned char)path.ptr[i + 1]) < 0 ||
                    model_hex((unsigned char)path.ptr[i + 2]) < 0)
                    return false;
                c = (unsigned char)(model_hex((unsigned char)path.ptr[i + 1]) * 16 +
                                    model_hex((unsigned char)path.ptr[i + 2]));
                i += 2;
            }
            if (c == 0)
                return false;
            mp->buf[used++] = (char)c;
        }
        if (used == start)
            return false; /* empty: "//", or "/" at the very start of "//…" */
        mp->segs[mp->nsegs] = (struct slice){mp->buf + start, used - start};
        if (slice_eq_cstr(mp->segs[mp->nsegs], ".") || slice_eq_cstr(mp->segs[mp->nsegs], ".."))
            return false;
        mp->nsegs++;
        i++; /* the '/' (or past the end): a trailing slash leaves nothing to read */
    }
    return true;
}

/* Does <pattern> match <mp>? When it does and <m> is set, checks m's parameters against it. */
static bool model_match(const char *pattern, const struct model_path *mp,
                        const struct http_match *m)
{
    struct slice rest = slice_from_cstr(pattern + 1), seg;
    size_t i = 0, np = 0;

    if (pattern[1] == '\0')
        return mp->nsegs == 0;
    while (rest.len > 0) {
        (void)slice_split(&rest, '/', &seg);
        if (seg.ptr[0] == '{' && seg.len > 5 && memcmp(seg.ptr + seg.len - 4, "...}", 4) == 0) {
            if (m != NULL) {
                size_t at = 0;

                FUZZ_CHECK(np < m->nparams);
                FUZZ_CHECK(slice_eq(m->names[np], (struct slice){seg.ptr + 1, seg.len - 5}));
                for (size_t k = i; k < mp->nsegs; k++) {
                    struct slice v = m->values[np];

                    FUZZ_CHECK(at + mp->segs[k].len <= v.len);
                    FUZZ_CHECK(memcmp(v.ptr + at, mp->segs[k].ptr, mp->segs[k].len) == 0);
                    at += mp->segs[k].len;
                    if (k + 1 < mp->nsegs) {
                        FUZZ_CHECK(at < v.len && v.ptr[at] == '/');
                        at++;
                    }
                }
                FUZZ_CHECK(at == m->values[np].len);
                FUZZ_CHECK(m->nparams == np + 1);
            }
            return true;
        }
        if (i == mp->nsegs)
            return false;
        if (seg.ptr[0] == '{') {
            if (m != NULL) {
                FUZZ_CHECK(np < m->nparams);
                FUZZ_CHECK(slice_eq(m->names[np], (struct slice){seg.ptr + 1, seg.len - 2}));
                FUZZ_CHECK(slice_eq(m->values[np], mp->segs[i]));
            }
            np++;
        } else if (!slice_eq(seg, mp->segs[i])) {
            return false;
        }
        i++;
    }
    if (i != mp->nsegs)
        return false;
    if (m != NULL)
        FUZZ_CHECK(m->nparams == np);
    return true;
}

/* ------------------------------------------------------------------ checks */

static void check_values(const struct http_match *m)
{
    FUZZ_CHECK(m->nparams <= HTTP_MAX_PARAMS);
    for (size_t i = 0; i < m->nparams; i++) {
        FUZZ_CHECK(m->names[i].ptr != NULL && m->names[i].len > 0);
        FUZZ_CHECK(m->values[i].ptr != NULL);
        FUZZ_CHECK(m->values[i].ptr[m->values[i].len] == '\0');
        FUZZ_CHECK(memchr(m->values[i].ptr, '\0', m->values[i].len) == NULL);
    }
}

/* The kind of the segment at <p> (just past a '/'): 0 literal, 1 {param}, 2 {rest...}. */
static int model_seg_kind(const char *p)
{
    const char *end = strchr(p, '/');
    size_t n = end ? (size_t)(end - p) : strlen(p);

    if (n == 0 || p[0] != '{')
        return 0;
    return (n > 4 && memcmp(p + n - 4, "...}", 4) == 0) ? 2 : 1;
}

/* The router's rule, independently: at the first segment where the kinds differ, a literal
 * beats a parameter, which beats a rest; with no difference, more segments win. */
static bool model_more_specific(const char *a, const char *b)
{
    for (;;) {
        const char *na, *nb;
        int ka, kb;

        a++, b++; /* past the '/' */
        ka = model_seg_kind(a);
        kb = model_seg_kind(b);
        if (ka != kb)
            return ka < kb;
        na = strchr(a, '/');
        nb = strchr(b, '/');
        if (na == NULL || nb == NULL)
            return na != NULL && nb == NULL;
        a = na;
        b = nb;
    }
}

static void check_match(const struct http_router *r, unsigned method, const struct http_match *m,
                        const struct model_path *mp)
{
    unsigned want = method == HTTP_HEAD ? (HTTP_GET | HTTP_HEAD) : method;
    unsigned allowed = 0;
    size_t first = SIZE_MAX;

    check_values(m);
    if (m->route != NULL) {
        FUZZ_CHECK(http_route_index(m->route) < http_router_count(r));
        FUZZ_CHECK(fuzz_routes[http_route_index(m->route)].methods & want);
        FUZZ_CHECK(m->allowed & fuzz_routes[http_route_index(m->route)].methods);
    } else {
        FUZZ_CHECK(m->nparams == 0);
    }
    if (m->allowed & HTTP_GET)
        FUZZ_CHECK(m->allowed & HTTP_HEAD);
    for (size_t i = 0; i < ARRAY_LEN(fuzz_routes); i++) {
        if (!model_match(fuzz_routes[i].pattern, mp, NULL))
            continue;
        allowed |= fuzz_routes[i].methods;
        if ((fuzz_routes[i].methods & want) &&
            (first == SIZE_MAX ||
             model_more_specific(fuzz_routes[i].pattern, fuzz_routes[first].pattern)))
            first = i;
    }
    if (allowed & HTTP_GET)
        allowed |= HTTP_HEAD;
    FUZZ_CHECK(m->allowed == allowed);
    if (first == SIZE_MAX) {
        FUZZ_CHECK(m->route == NULL);
        return;
    }
    FUZZ_CHECK(m->route != NULL && http_route_index(m->route) == first);
    FUZZ_CHECK(strcmp(http_route_pattern(m->route), fuzz_routes[first].pattern) == 0);
    FUZZ_CHECK(model_match(fuzz_routes[first].pattern, mp, m));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct model_path mp;
    const struct http_router *r = fuzz_router();
    struct arena *a;
    struct http_match m;
    struct err err = {0};
    struct slice path;
    unsigned method;
    bool valid;
    int rc;

    if (size == 0)
        return 0;
    method = (data[0] & 7) == 7 ? 0 : 1u << (data[0] & 7);
    path = (struct slice){(const char *)data + 1, size - 1};
    mp.buf = xmalloc(path.len + 1);
    valid = model_split(path, &mp);

    a = arena_new(&(struct arena_opts){.budget = FUZZ_BUDGET});
    rc = http_router_match(r, a, method, path, &m, &err);
    if (rc == 0) {
        FUZZ_CHECK(valid);
        check_match(r, method, &m, &mp);
    } else {
        FUZZ_CHECK(rc == ERR_INVALID || rc == ERR_LIMIT);
        FUZZ_CHECK(err.code == rc && err.msg[0] != '\0');
        FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        FUZZ_CHECK(m.route == NULL && m.allowed == 0 && m.nparams == 0);
        if (rc == ERR_INVALID)
            FUZZ_CHECK(!valid && strncmp(err.msg, "path: ", 6) == 0);
        else /* decoded segments (each rounded up to 16 bytes) and at most two rest values */
            FUZZ_CHECK(3 * path.len + 16 * (HTTP_MAX_SEGMENTS + 2) > FUZZ_BUDGET);
    }
    arena_free(a);
    free(mp.buf);
    return 0;
}
