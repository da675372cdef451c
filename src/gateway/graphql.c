/*
 * gateway GraphQL: what both transports share. Prepared documents from the loop's cache, the
 * introspection-only test that lets GraphiQL and code generators in without a credential,
 * reading a request ({query, operationName, variables, extensions}), media types, and errors
 * written the GraphQL way.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "gateway/gw-int.h"
#include "gql/gql.h"

#define VARIABLES_DEPTH 64 /* nesting a variables object may have */

/* ---------------------------------------------------------------- documents */

/* This loop's cache of prepared documents, made on first use (NULL: none, prepare every time). */
static struct gql_cache *loop_cache(struct gw *g)
{
    struct gql_cache *c = pthread_getspecific(g->gql_cache_key);

    if (c == NULL) {
        c = gql_cache_new((size_t)g->cfg.gql_cache_entries);
        if (c != NULL && pthread_setspecific(g->gql_cache_key, c) != 0) {
            gql_cache_free(c);
            c = NULL;
        }
    }
    return c;
}

int gw_gql_prepare(struct gw *g, struct arena *a, struct slice text, struct gql_doc_ref **out,
                   struct gql_error **errs)
{
    struct gql_cache *c = loop_cache(g);
    int rc;

    *errs = NULL;
    if (c != NULL && (*out = gql_cache_get(c, g->schema, text)) != NULL)
        return 0;
    rc = gql_prepare(g->schema, text, &g->limits, a, out, errs);
    if (rc == 0 && c != NULL)
        gql_cache_put(c, g->schema, text, *out);
    return rc;
}

static bool is_meta_field(struct slice name)
{
    return slice_eq_cstr(name, "__schema") || slice_eq_cstr(name, "__type") ||
           slice_eq_cstr(name, "__typename");
}

static const struct gql_def *fragment_named(const struct gql_doc *d, struct slice name)
{
    for (const struct gql_def *def = d->defs; def != NULL; def = def->next)
        if (def->kind == GQL_DEF_FRAGMENT && slice_eq(def->name, name))
            return def;
    return NULL;
}

/* Whether <sel> selects meta fields only, looking through fragments (<depth> bounds cycles). */
static bool meta_only(const struct gql_doc *d, const struct gql_selection *sel, unsigned depth)
{
    const struct gql_def *frag;

    if (depth > 16)
        return false;
    for (; sel != NULL; sel = sel->next) {
        switch (sel->kind) {
        case GQL_SEL_FIELD:
            if (!is_meta_field(sel->name))
                return false;
            break;
        case GQL_SEL_INLINE:
            if (!meta_only(d, sel->selections, depth + 1))
                return false;
            break;
        case GQL_SEL_SPREAD:
            frag = fragment_named(d, sel->name);
            if (frag == NULL || !meta_only(d, frag->selections, depth + 1))
                return false;
            break;
        }
    }
    return true;
}

bool gw_gql_introspection_only(struct arena *a, struct slice text, struct slice name,
                               const struct gql_limits *lim)
{
    const struct gql_def *op = NULL;
    struct gql_doc *d;
    struct err err = {0};
    size_t nops = 0;

    if (gql_parse_executable(a, text, lim, &d, NULL, &err) < 0)
        return false;
    for (const struct gql_def *def = d->defs; def != NULL; def = def->next) {
        if (def->kind != GQL_DEF_OPERATION)
            continue;
        nops++;
        if (name.len == 0 || slice_eq(def->name, name))
            op = def;
    }
    if (op == NULL || (name.len == 0 && nops != 1) || op->op != GQL_OP_QUERY)
        return false;
    return meta_only(d, op->selections, 0);
}

/* ---------------------------------------------------------------- errors */

struct gql_error *gw_gql_error(struct arena *a, const char *code, const char *msg)
{
    struct gql_error *e = arena_zalloc(a, sizeof(*e));

    if (e == NULL || (e->message = arena_strndup(a, msg, strlen(msg))) == NULL)
        return NULL;
    e->code = code;
    return e;
}

void gw_gql_errors_response(struct sbuf *out, const struct gql_error *errs)
{
    struct jw w;

    jw_init(&w, out);
    jw_obj_begin(&w);
    jw_key(&w, "errors");
    jw_arr_begin(&w);
    gql_errors_write(&w, errs);
    jw_arr_end(&w);
    jw_obj_end(&w);
}

void gw_gql_error_write(struct jw *w, int code, const char *msg)
{
    jw_obj_begin(w);
    jw_key(w, "message");
    jw_str(w, msg);
    jw_key(w, "extensions");
    jw_obj_begin(w);
    jw_key(w, "code");
    jw_str(w, err_gql_code(code));
    jw_obj_end(w);
    jw_obj_end(w);
}

/* ---------------------------------------------------------------- requests */

int gw_gql_request_from_json(const json_t *obj, struct arena *a, struct gw_gql_request *out,
                             struct err *err)
{
    const json_t *vars = json_object_get(obj, "variables");
    const json_t *ext = json_object_get(obj, "extensions");
    const json_t *q = json_object_get(obj, "query");
    struct slice name = SLICE_NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (q == NULL || json_is_null(q))
        return err_set(err, ERR_INVALID, "query: required (the GraphQL document as a string)");
    if (!json_is_string(q))
        return err_set(err, ERR_INVALID, "query: must be a string");
    if ((rc = json_get_str(obj, "operationName", false, &name, err)) < 0)
        return rc;
    if (vars != NULL && !json_is_null(vars) && !json_is_object(vars))
        return err_set(err, ERR_INVALID, "variables: must be an object (or null)");
    if (ext != NULL && !json_is_null(ext) && !json_is_object(ext))
        return err_set(err, ERR_INVALID, "extensions: must be an object (or null)");
    out->query = slice_dup(a, (struct slice){json_string_value(q), json_string_length(q)});
    /* "" is no name, as an absent or null operationName */
    out->operation_name = name.len > 0 ? slice_dup(a, name) : SLICE_NULL;
    if (out->query.ptr == NULL || (name.len > 0 && out->operation_name.ptr == NULL))
        return err_set(err, ERR_LIMIT, "the request does not fit in its memory");
    if (vars != NULL && json_is_object(vars))
        out->variables = json_incref((json_t *)vars);
    return 0;
}

int gw_gql_variables_parse(struct slice text, size_t max, json_t **out, struct err *err)
{
    json_error_t jerr;
    json_t *v;

    *out = NULL;
    if (text.ptr == NULL || text.len == 0)
        return 0;
    if (text.len > max)
        return err_set(err, ERR_INVALID, "variables: larger than %zu bytes", max);
    if (json_read_object(text, max, VARIABLES_DEPTH, &v, err) == 0) {
        *out = v;
        return 0;
    }
    if (slice_trim(text).len > 0 && slice_trim(text).ptr[0] == '{') { /* an object, but bad */
        char why[sizeof(err->msg)];

        snprintf(why, sizeof(why), "%s", strncmp(err->msg, "body", 4) == 0 ? err->msg + 4 : "");
        return err_set(err, ERR_INVALID, "variables%s", why);
    }
    /* null is as good as no variables; anything else gets a message about variables */
    v = json_loadb(text.ptr, text.len, JSON_DECODE_ANY, &jerr);
    if (v != NULL && json_is_null(v)) {
        json_decref(v);
        return 0;
    }
    json_decref(v);
    return err_set(err, ERR_INVALID, "variables: must be a JSON object");
}

/* ---------------------------------------------------------------- media types */

/* Whether the parameters after a media type (";q=0.5; charset=…") set q to zero. */
static bool q_is_zero(struct slice params)
{
    struct slice p;
    bool more = true;

    while (more) {
        more = slice_split(&params, ';', &p);
        p = slice_trim(p);
        if (p.len < 2 || (p.ptr[0] != 'q' && p.ptr[0] != 'Q') || p.ptr[1] != '=')
            continue;
        for (size_t i = 2; i < p.len; i++)
            if (p.ptr[i] != '0' && p.ptr[i] != '.')
                return false;
        return true;
    }
    return false;
}

enum gw_media gw_gql_accept(struct slice accept)
{
    struct slice item, type;
    bool json = false, gql = false, more = true, params;

    if (accept.ptr == NULL || slice_trim(accept).len == 0)
        return GW_MEDIA_JSON;
    while (more) {
        more = slice_split(&accept, ',', &item);
        params = slice_split(&item, ';', &type); /* item keeps the parameters */
        type = slice_trim(type);
        if (params && q_is_zero(item))
            continue;
        if (slice_case_eq_cstr(type, "application/graphql-response+json"))
            gql = true;
        else if (slice_case_eq_cstr(type, "application/json") ||
                 slice_case_eq_cstr(type, "application/*") || slice_case_eq_cstr(type, "*/*"))
            json = true;
    }
    return gql ? GW_MEDIA_GRAPHQL_JSON : json ? GW_MEDIA_JSON : GW_MEDIA_NONE;
}

bool gw_gql_content_is_json(struct slice content_type)
{
    struct slice type;

    slice_split(&content_type, ';', &type);
    return slice_case_eq_cstr(slice_trim(type), "application/json");
}
