/*
 * The router: method + path pattern → handler. Few routes, so a linear scan over parsed
 * patterns; paths are split and decoded once per request.
 */
#include <stdio.h>
#include <stdlib.h>

#include "http-int.h"

enum seg_kind { SEG_LIT, SEG_PARAM, SEG_REST };

struct seg {
    enum seg_kind kind;
    char *text; /* literal, or the parameter's name */
};

struct http_route {
    unsigned methods;
    char *pattern;
    struct seg segs[HTTP_MAX_SEGMENTS];
    size_t nsegs;
    size_t index;
    http_handler_fn *fn;
    void *arg;
    struct http_route_opts opts;
};

struct http_router {
    struct http_route **routes;
    size_t n;
};

struct http_router *http_router_new(void)
{
    return xcalloc(1, sizeof(struct http_router));
}

static void route_free(struct http_route *rt)
{
    for (size_t i = 0; i < rt->nsegs; i++)
        free(rt->segs[i].text);
    free(rt->pattern);
    free(rt);
}

void http_router_free(struct http_router *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        route_free(r->routes[i]);
    free(r->routes);
    free(r);
}

static bool valid_name(struct slice s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

/* One pattern segment: "lit", "{name}" or "{name...}". */
static int parse_seg(struct slice s, bool last, struct seg *out, struct err *err)
{
    struct slice name;

    if (s.len == 0)
        return err_set(err, ERR_INVALID, "empty segment");
    if (s.ptr[0] != '{') {
        if (memchr(s.ptr, '{', s.len) || memchr(s.ptr, '}', s.len) || memchr(s.ptr, '%', s.len))
            return err_set(err, ERR_INVALID, "'{', '}' or '%%' inside a literal segment");
        *out = (struct seg){SEG_LIT, xstrndup(s.ptr, s.len)};
        return 0;
    }
    if (s.ptr[s.len - 1] != '}')
        return err_set(err, ERR_INVALID, "unclosed '{'");
    name = (struct slice){s.ptr + 1, s.len - 2};
    out->kind = SEG_PARAM;
    if (name.len > 3 && memcmp(name.ptr + name.len - 3, "...", 3) == 0) {
        if (!last)
            return err_set(err, ERR_INVALID, "{name...} must be the last segment");
        name.len -= 3;
        out->kind = SEG_REST;
    }
    if (!valid_name(name))
        return err_set(err, ERR_INVALID, "parameter names are letters, digits and '_'");
    out->text = xstrndup(name.ptr, name.len);
    return 0;
}

/* Two routes clash when the same path would reach both for one method. */
static bool same_shape(const struct http_route *a, const struct http_route *b)
{
    if (a->nsegs != b->nsegs)
        return false;
    for (size_t i = 0; i < a->nsegs; i++) {
        if (a->segs[i].kind != b->segs[i].kind)
            return false;
        if (a->segs[i].kind == SEG_LIT && strcmp(a->segs[i].text, b->segs[i].text) != 0)
            return false;
    }
    return true;
}

/* Whether a parameter before the last parsed segment of <rt> is called <name>. */
static bool param_named(const struct http_route *rt, const char *name)
{
    for (size_t i = 0; i < rt->nsegs; i++)
        if (rt->segs[i].kind != SEG_LIT && strcmp(rt->segs[i].text, name) == 0)
            return true;
    return false;
}

static int parse_pattern(struct http_route *rt, const char *pattern, struct err *err)
{
    struct slice rest = slice_from_cstr(pattern), seg;
    size_t nparams = 0;

    if (rest.len == 0 || rest.ptr[0] != '/')
        return err_set(err, ERR_INVALID, "route %s: must start with '/'", pattern);
    rest.ptr++, rest.len--;
    while (rest.len > 0) {
        bool more = slice_split(&rest, '/', &seg);

        if (rt->nsegs == HTTP_MAX_SEGMENTS)
            return err_set(err, ERR_INVALID, "route %s: too many segments", pattern);
        struct seg *sg = &rt->segs[rt->nsegs];
        bool dup;

        if (parse_seg(seg, !more, sg, err) < 0) {
            err_wrap(err, "route %s", pattern);
            return ERR_INVALID;
        }
        dup = sg->kind != SEG_LIT && param_named(rt, sg->text);
        rt->nsegs++; /* counted before any return, so route_free() releases its text */
        if (dup)
            return err_set(err, ERR_INVALID, "route %s: parameter {%s} appears twice", pattern,
                           sg->text);
        if (sg->kind != SEG_LIT && ++nparams > HTTP_MAX_PARAMS)
            return err_set(err, ERR_INVALID, "route %s: more than %d parameters", pattern,
                           HTTP_MAX_PARAMS);
        if (more && rest.len == 0)
            return err_set(err, ERR_INVALID, "route %s: trailing '/'", pattern);
    }
    return 0;
}

int http_router_add(struct http_router *r, unsigned methods, const char *pattern,
                    http_handler_fn *fn, void *arg, const struct http_route_opts *opts,
                    struct err *err)
{
    struct http_route *rt = xcalloc(1, sizeof(*rt));

    if (methods == 0 || (methods & ~HTTP_ANY) || parse_pattern(rt, pattern, err) < 0) {
        if (methods == 0 || (methods & ~HTTP_ANY))
            err_set(err, ERR_INVALID, "route %s: no valid method", pattern);
        route_free(rt);
        return ERR_INVALID;
    }
    for (size_t i = 0; i < r->n; i++) {
        if ((r->routes[i]->methods & methods) && same_shape(r->routes[i], rt)) {
            err_set(err, ERR_INVALID, "route %s: clashes with %s", pattern, r->routes[i]->pattern);
            route_free(rt);
            return ERR_INVALID;
        }
    }
    rt->methods = methods;
    rt->pattern = xstrdup(pattern);
    rt->fn = fn;
    rt->arg = arg;
    rt->index = r->n;
    if (opts)
        rt->opts = *opts;
    r->routes = xrealloc(r->routes, (r->n + 1) * sizeof(*r->routes));
    r->routes[r->n++] = rt;
    return 0;
}

/* Percent-decodes one segment into the arena; NUL bytes are refused. */
static int decode_seg(struct arena *a, struct slice s, struct slice *out, struct err *err)
{
    int rc = slice_percent_decode(a, s, false, out);

    if (rc == ERR_LIMIT)
        return err_set(err, ERR_LIMIT, "path: request memory budget spent");
    if (rc < 0)
        return err_set(err, ERR_INVALID, "path: bad percent-encoding");
    if (memchr(out->ptr, '\0', out->len) != NULL)
        return err_set(err, ERR_INVALID, "path: NUL byte");
    return 0;
}

int http_path_split(struct arena *a, struct slice path, struct slice *segs, size_t *nsegs,
                    struct err *err)
{
    struct slice rest = path, raw;
    size_t n = 0;

    if (path.len == 0 || path.ptr[0] != '/')
        return err_set(err, ERR_INVALID, "path: must start with '/'");
    rest.ptr++, rest.len--;
    while (rest.len > 0) {
        bool more = slice_split(&rest, '/', &raw);

        if (raw.len == 0)
            return err_set(err, ERR_INVALID, "path: empty segment");
        if (n == HTTP_MAX_SEGMENTS)
            return err_set(err, ERR_INVALID, "path: more than %d segments", HTTP_MAX_SEGMENTS);
        if (decode_seg(a, raw, &segs[n], err) < 0)
            return err->code;
        if (slice_eq_cstr(segs[n], ".") || slice_eq_cstr(segs[n], ".."))
            return err_set(err, ERR_INVALID, "path: '.' and '..' segments are not allowed");
        n++;
        (void)more; /* a trailing '/' leaves rest empty and ends the loop */
    }
    *nsegs = n;
    return 0;
}

/* Joins segs[from..n) with '/' for a {name...} parameter, in the arena (NUL-terminated).
 * SLICE_NULL when the arena's budget is spent. */
static struct slice join_rest(struct arena *a, const struct slice *segs, size_t from, size_t n)
{
    size_t len = 0, at = 0;
    char *p;

    for (size_t i = from; i < n; i++)
        len += segs[i].len + (i > from);
    p = arena_alloc(a, len + 1);
    if (p == NULL)
        return SLICE_NULL;
    for (size_t i = from; i < n; i++) {
        if (i > from)
            p[at++] = '/';
        memcpy(p + at, segs[i].ptr, segs[i].len);
        at += segs[i].len;
    }
    p[at] = '\0';
    return (struct slice){p, len};
}

/* 1 when <rt> matches segs[0..n) (filling m's parameters), 0 when not, ERR_LIMIT when the
 * arena's budget is spent. */
static int route_matches(const struct http_route *rt, struct arena *a, const struct slice *segs,
                         size_t n, struct http_match *m)
{
    size_t np = 0;

    for (size_t i = 0; i < rt->nsegs; i++) {
        const struct seg *sg = &rt->segs[i];

        if (sg->kind == SEG_REST) {
            m->names[np] = slice_from_cstr(sg->text);
            m->values[np++] = join_rest(a, segs, i, n);
            m->nparams = np;
            return m->values[np - 1].ptr ? 1 : ERR_LIMIT;
        }
        if (i >= n || (sg->kind == SEG_LIT && !slice_eq_cstr(segs[i], sg->text)))
            return 0;
        if (sg->kind == SEG_PARAM && np < HTTP_MAX_PARAMS) {
            m->names[np] = slice_from_cstr(sg->text);
            m->values[np++] = segs[i];
        }
    }
    if (rt->nsegs != n)
        return 0;
    m->nparams = np;
    return 1;
}

/* A literal segment beats a parameter, which beats a rest parameter, at the first position
 * where two matching routes differ; so "/deploys/new" wins over "/deploys/{id}" whichever
 * was added first. */
static bool more_specific(const struct http_route *a, const struct http_route *b)
{
    for (size_t i = 0; i < a->nsegs && i < b->nsegs; i++)
        if (a->segs[i].kind != b->segs[i].kind)
            return a->segs[i].kind < b->segs[i].kind; /* SEG_LIT < SEG_PARAM < SEG_REST */
    return a->nsegs > b->nsegs;
}

int http_router_match(const struct http_router *r, struct arena *a, unsigned method,
                      struct slice path, struct http_match *m, struct err *err)
{
    struct slice segs[HTTP_MAX_SEGMENTS];
    unsigned want = method == HTTP_HEAD ? (HTTP_HEAD | HTTP_GET) : method;
    size_t n;

    memset(m, 0, sizeof(*m));
    if (http_path_split(a, path, segs, &n, err) < 0)
        return err->code;
    /* pass 0: the ordinary routes; pass 1, only when no path matched: the fallbacks */
    for (int pass = 0; pass < 2 && m->allowed == 0; pass++) {
        for (size_t i = 0; i < r->n; i++) {
            struct http_match tmp = {0};
            int rc;

            if (r->routes[i]->opts.fallback != (pass == 1) ||
                (pass == 1 && !(r->routes[i]->methods & want)))
                continue;
            rc = route_matches(r->routes[i], a, segs, n, &tmp);
            if (rc < 0) {
                memset(m, 0, sizeof(*m));
                return err_set(err, rc, "path: request memory budget spent");
            }
            if (rc == 0)
                continue;
            m->allowed |= r->routes[i]->methods;
            if ((r->routes[i]->methods & want) &&
                (m->route == NULL || more_specific(r->routes[i], m->route))) {
                m->route = r->routes[i];
                m->nparams = tmp.nparams;
                memcpy(m->names, tmp.names, sizeof(tmp.names));
                memcpy(m->values, tmp.values, sizeof(tmp.values));
            }
        }
    }
    if (m->allowed & HTTP_GET)
        m->allowed |= HTTP_HEAD;
    return 0;
}

const char *http_route_pattern(const struct http_route *route)
{
    return route->pattern;
}

size_t http_route_index(const struct http_route *route)
{
    return route->index;
}

size_t http_router_count(const struct http_router *r)
{
    return r->n;
}

/* For the server: a route's handler and options. */
void http_route_get(const struct http_route *route, http_handler_fn **fn, void **arg,
                    const struct http_route_opts **opts)
{
    *fn = route->fn;
    *arg = route->arg;
    *opts = &route->opts;
}

static const char *const method_names[] = {"GET",   "HEAD",   "POST",   "PUT",
                                           "PATCH", "DELETE", "OPTIONS"};

unsigned http_method_parse(struct slice s)
{
    for (size_t i = 0; i < ARRAY_LEN(method_names); i++)
        if (slice_eq_cstr(s, method_names[i]))
            return 1u << i;
    return 0;
}

const char *http_method_name(unsigned m)
{
    for (size_t i = 0; i < ARRAY_LEN(method_names); i++)
        if (m == 1u << i)
            return method_names[i];
    return "OTHER";
}
