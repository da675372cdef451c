/*
 * Execution (spec §6): coerce the variables, collect the fields of each selection set
 * (fragments, @skip/@include), resolve each field, complete its value against the field's
 * type and write the response as it goes.
 *
 * The response is written straight into the output buffer, depth first. A null that a
 * non-null type cannot hold travels up to the nearest nullable field or list item
 * (spec 6.4.4): each nullable position remembers where its value started, and when a child
 * reports PROPAGATE the buffer is cut back to that place and "null" is written instead.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "gql/gql-int.h"

#define PROPAGATE 1 /* a non-null position got null: the parent must become null */

struct exec {
    const struct gql_exec *in;
    const struct gql_schema *s;
    const struct gql_doc *doc;
    const struct gql_def *op;
    struct gql_vars vars;
    struct arena *a;
    struct sbuf *out;
    struct jw w;
    struct gql_error *errs, **tail;
    const struct gql_val *event; /* a subscription event: the root field's value */
    int fatal;                   /* ERR_LIMIT: the arena or the output ran out */
    /* @skip/@include that could not be decided while collecting fields: the field whose
     * selection set it was in becomes null with this error */
    bool collect_failed;
    struct gql_loc collect_loc;
    char collect_msg[200];
};

struct gql_rctx {
    struct exec *x;
    const struct gql_sfield *field;
    const struct gql_selection *node;
    const struct gql_kv *args;
    size_t nargs;
};

/* The fields of one response key, in document order (spec CollectFields). */
struct group {
    struct slice key;
    struct fnode {
        const struct gql_selection *sel;
        struct fnode *next;
    } * fields, **tail;
    struct group *next;
};

struct arena *gql_rctx_arena(const struct gql_rctx *rc)
{
    return rc->x->a;
}

void *gql_rctx_context(const struct gql_rctx *rc)
{
    return rc->x->in->context;
}

void *gql_rctx_udata(const struct gql_rctx *rc)
{
    return rc->field->bind.udata;
}

const char *gql_rctx_field(const struct gql_rctx *rc)
{
    return rc->field->qualified;
}

const struct gql_val *gql_arg(const struct gql_rctx *rc, const char *name)
{
    size_t len = strlen(name);

    for (size_t i = 0; i < rc->nargs; i++)
        if (rc->args[i].name.len == len && memcmp(rc->args[i].name.ptr, name, len) == 0)
            return &rc->args[i].val;
    return NULL;
}

/* ---------------------------------------------------------------- errors */

static int out_of_memory(struct exec *x)
{
    x->fatal = ERR_LIMIT;
    return ERR_LIMIT;
}

static const struct gql_path *path_copy(struct exec *x, const struct gql_path *p)
{
    struct gql_path *c;

    if (p == NULL)
        return NULL;
    c = arena_alloc(x->a, sizeof(*c));
    if (c == NULL)
        return NULL;
    *c = *p;
    c->parent = path_copy(x, p->parent);
    return c;
}

/* A field error at every place the field is written (merged fields have several). */
static void field_error(struct exec *x, const struct fnode *f, const struct gql_path *path,
                        const char *code, const char *fmt, ...) APP_PRINTF(5, 6);
static void field_error(struct exec *x, const struct fnode *f, const struct gql_path *path,
                        const char *code, const char *fmt, ...)
{
    char msg[400];
    struct gql_error *e;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    e = gql_error_add(x->a, &x->tail, f->sel->loc, code, "%s", msg);
    if (e == NULL) {
        out_of_memory(x);
        return;
    }
    for (f = f->next; f; f = f->next)
        gql_error_add_loc(x->a, e, f->sel->loc);
    e->path = path_copy(x, path);
}

/* A BAD_USER_INPUT error at <loc> in the document (an argument's value, a directive's
 * variable) with <path>. */
static void input_error(struct exec *x, struct gql_loc loc, const struct gql_path *path,
                        const char *msg)
{
    struct gql_error *e = gql_error_add(x->a, &x->tail, loc, "BAD_USER_INPUT", "%s", msg);

    if (e == NULL) {
        out_of_memory(x);
        return;
    }
    e->path = path_copy(x, path);
}

/* The error a failed collection left, with <path>. */
static void collect_error(struct exec *x, const struct gql_path *path)
{
    x->collect_failed = false;
    input_error(x, x->collect_loc, path, x->collect_msg);
}

/* ---------------------------------------------------------------- collecting fields */

static const struct gql_def *find_fragment(const struct gql_doc *d, struct slice name)
{
    for (const struct gql_def *def = d->defs; def; def = def->next)
        if (def->kind == GQL_DEF_FRAGMENT && slice_eq(def->name, name))
            return def;
    return NULL;
}

/* The boolean `if` of @skip or @include. */
static bool directive_if(struct exec *x, const struct gql_directive *d)
{
    for (const struct gql_argument *a = d->args; a; a = a->next) {
        if (!slice_eq_cstr(a->name, "if"))
            continue;
        if (a->value->kind == GQL_VALUE_BOOLEAN)
            return a->value->boolean;
        if (a->value->kind == GQL_VALUE_VARIABLE) {
            const struct gql_val *v = gql_vars_get(&x->vars, a->value->str);

            if (v != NULL && v->kind == GQL_V_BOOL)
                return v->b;
            if (!x->collect_failed) {
                x->collect_failed = true;
                x->collect_loc = a->value->loc;
                snprintf(x->collect_msg, sizeof(x->collect_msg),
                         "argument \"if\" of @" SLICE_FMT " must be true or false, but "
                         "variable \"$" SLICE_FMT "\" is %s",
                         SLICE_ARG(d->name), SLICE_ARG(a->value->str), v ? "null" : "not provided");
            }
            return false;
        }
    }
    return false;
}

/* Spec CollectFields: @skip is decided first, whatever order they are written in, so an
 * @include that is never reached cannot fail. */
static bool included(struct exec *x, const struct gql_directive *dirs)
{
    for (const struct gql_directive *d = dirs; d; d = d->next)
        if (slice_eq_cstr(d->name, "skip") && directive_if(x, d))
            return false;
    for (const struct gql_directive *d = dirs; d; d = d->next)
        if (slice_eq_cstr(d->name, "include") && !directive_if(x, d))
            return false;
    return true;
}

static bool type_applies(struct exec *x, const struct gql_stype *obj, struct slice cond)
{
    const struct gql_stype *t;

    if (cond.len == 0)
        return true;
    t = gql_schema_type(x->s, cond);
    return t != NULL && gql_is_possible(t, obj);
}

struct visited {
    const struct gql_def **frags;
    size_t n, cap;
};

static bool visit(struct exec *x, struct visited *v, const struct gql_def *frag)
{
    for (size_t i = 0; i < v->n; i++)
        if (v->frags[i] == frag)
            return false;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        const struct gql_def **f = arena_alloc(x->a, cap * sizeof(*f));

        if (f == NULL)
            return out_of_memory(x), false;
        if (v->n)
            memcpy(f, v->frags, v->n * sizeof(*f));
        v->frags = f;
        v->cap = cap;
    }
    v->frags[v->n++] = frag;
    return true;
}

static void add_field(struct exec *x, struct group **groups, struct group ***gtail,
                      const struct gql_selection *sel)
{
    struct slice key = sel->alias.len ? sel->alias : sel->name;
    struct group *g = *groups;
    struct fnode *f = arena_alloc(x->a, sizeof(*f));

    while (g != NULL && !slice_eq(g->key, key))
        g = g->next;
    if (g == NULL) {
        g = arena_zalloc(x->a, sizeof(*g));
        if (g == NULL || f == NULL) {
            out_of_memory(x);
            return;
        }
        g->key = key;
        g->tail = &g->fields;
        **gtail = g;
        *gtail = &g->next;
    }
    if (f == NULL) {
        out_of_memory(x);
        return;
    }
    f->sel = sel;
    f->next = NULL;
    *g->tail = f;
    g->tail = &f->next;
}

static void collect(struct exec *x, const struct gql_stype *obj, const struct gql_selection *sels,
                    struct group **groups, struct group ***gtail, struct visited *v)
{
    for (const struct gql_selection *sel = sels; sel && !x->fatal; sel = sel->next) {
        if (!included(x, sel->directives))
            continue;
        if (sel->kind == GQL_SEL_FIELD) {
            add_field(x, groups, gtail, sel);
        } else if (sel->kind == GQL_SEL_INLINE) {
            if (type_applies(x, obj, sel->type_cond))
                collect(x, obj, sel->selections, groups, gtail, v);
        } else {
            const struct gql_def *frag = find_fragment(x->doc, sel->name);

            if (frag == NULL || !visit(x, v, frag) || !type_applies(x, obj, frag->type_cond))
                continue;
            collect(x, obj, frag->selections, groups, gtail, v);
        }
    }
}

/* The response keys of the selection sets of <fields> (one or, merged, several) on <obj>. */
static struct group *collect_sub(struct exec *x, const struct gql_stype *obj,
                                 const struct fnode *fields)
{
    struct group *groups = NULL, **gtail = &groups;
    struct visited v = {0};

    for (const struct fnode *f = fields; f; f = f->next)
        collect(x, obj, f->sel->selections, &groups, &gtail, &v);
    return groups;
}

/* ---------------------------------------------------------------- arguments */

/* Spec CoerceArgumentValues; on failure *where is the place of the argument at fault. */
static int coerce_args(struct exec *x, const struct gql_sfield *f, const struct gql_selection *sel,
                       struct gql_kv **out, size_t *n, struct gql_loc *where, struct err *err)
{
    struct gql_kv *args = f->nargs ? arena_alloc(x->a, f->nargs * sizeof(*args)) : NULL;
    size_t k = 0;

    if (f->nargs && args == NULL)
        return out_of_memory(x);
    for (size_t i = 0; i < f->nargs; i++) {
        const struct gql_sarg *def = &f->args[i];
        const struct gql_argument *given = NULL;
        bool absent = true;
        char tn[96];

        for (const struct gql_argument *a = sel->args; a && given == NULL; a = a->next)
            if (slice_eq(a->name, def->name))
                given = a;
        *where = given ? given->value->loc : sel->loc;
        if (given != NULL && gql_coerce_literal(x->a, given->value, def->type, &x->vars,
                                                &args[k].val, &absent, err) != 0) {
            char why[sizeof(err->msg)];

            memcpy(why, err->msg, sizeof(why));
            return err_set(err, ERR_INVALID, "argument \"" SLICE_FMT "\": %s", SLICE_ARG(def->name),
                           why);
        }
        if (absent && def->default_value != NULL &&
            gql_coerce_literal(x->a, def->default_value, def->type, NULL, &args[k].val, &absent,
                               err) != 0)
            return err->code;
        if (absent) {
            if (def->type->kind != GQL_KIND_NON_NULL)
                continue;
            gql_type_describe(def->type, tn, sizeof(tn));
            return err_set(err, ERR_INVALID,
                           "argument \"" SLICE_FMT "\" of type \"%s\" was "
                           "not provided",
                           SLICE_ARG(def->name), tn);
        }
        args[k++].name = def->name;
    }
    *out = args;
    *n = k;
    return 0;
}

/* ---------------------------------------------------------------- leaves */

/* A JSON value as a gql_val (leaves and lists; objects stay JSON). */
static struct gql_val from_json(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_STRING:
        return GQL_STRING(((struct slice){json_string_value(j), json_string_length(j)}));
    case JSON_INTEGER:
        return GQL_INT(json_integer_value(j));
    case JSON_REAL:
        return GQL_FLOAT(json_real_value(j));
    case JSON_TRUE:
        return GQL_BOOL(true);
    case JSON_FALSE:
        return GQL_BOOL(false);
    case JSON_NULL:
        return GQL_NULL;
    default:
        return GQL_JSON(j);
    }
}

/* A short rendering of a leaf value for messages. */
static void show(const struct gql_val *v, char *buf, size_t n)
{
    switch (v->kind) {
    case GQL_V_BOOL:
        snprintf(buf, n, "%s", v->b ? "true" : "false");
        break;
    case GQL_V_INT:
        snprintf(buf, n, "%lld", (long long)v->i);
        break;
    case GQL_V_FLOAT:
        gql_number_text(v->f, buf, n);
        break;
    case GQL_V_STRING:
    case GQL_V_ENUM:
        snprintf(buf, n, "\"" SLICE_FMT "\"", SLICE_ARG(v->s));
        break;
    case GQL_V_LIST:
        snprintf(buf, n, "a list");
        break;
    case GQL_V_JSON:
        snprintf(buf, n, "%s", json_is_array(v->json) ? "a list" : "an object");
        break;
    default:
        snprintf(buf, n, "an object");
        break;
    }
}

/* <v> as a number the way the reference implementation coerces results: booleans as 1 and
 * 0, strings that are wholly a number as that number. False when it is none of those. */
static bool result_number(const struct gql_val *v, double *d)
{
    char buf[64], *end;

    switch (v->kind) {
    case GQL_V_INT:
        *d = (double)v->i;
        return true;
    case GQL_V_BOOL:
        *d = v->b;
        return true;
    case GQL_V_FLOAT:
        *d = v->f;
        return true;
    case GQL_V_STRING:
        if (v->s.len == 0 || v->s.len >= sizeof(buf))
            return false;
        memcpy(buf, v->s.ptr, v->s.len);
        buf[v->s.len] = 0;
        *d = strtod(buf, &end);
        return *end == 0;
    default:
        return false;
    }
}

/* Writes a built-in scalar; false when <v> cannot be one (spec 3.5 result coercion). */
static bool write_int(struct jw *w, const struct gql_val *v)
{
    double d;

    if (v->kind == GQL_V_INT) { /* exact, even past 2^53 */
        if (v->i < INT32_MIN || v->i > INT32_MAX)
            return false;
        jw_int(w, v->i);
        return true;
    }
    if (!result_number(v, &d) || d != floor(d) || d < INT32_MIN || d > INT32_MAX)
        return false;
    jw_int(w, (int64_t)d);
    return true;
}

static bool write_float(struct jw *w, const struct gql_val *v)
{
    double d;

    if (v->kind == GQL_V_INT) {
        jw_int(w, v->i);
        return true;
    }
    if (!result_number(v, &d) || !isfinite(d))
        return false;
    if (d == floor(d) && fabs(d) < 1e15)
        jw_int(w, (int64_t)d);
    else
        jw_dbl(w, d);
    return true;
}

static bool write_string(struct jw *w, const struct gql_val *v, bool id)
{
    char buf[40];

    switch (v->kind) {
    case GQL_V_STRING:
        jw_slice(w, v->s);
        return true;
    case GQL_V_ENUM:
        if (id)
            return false;
        jw_slice(w, v->s);
        return true;
    case GQL_V_INT:
        snprintf(buf, sizeof(buf), "%lld", (long long)v->i);
        jw_str(w, buf);
        return true;
    case GQL_V_FLOAT:
        if (!isfinite(v->f) || (id && v->f != floor(v->f)))
            return false;
        gql_number_text(v->f, buf, sizeof(buf));
        jw_str(w, buf);
        return true;
    case GQL_V_BOOL:
        if (id)
            return false;
        jw_str(w, v->b ? "true" : "false");
        return true;
    default:
        return false;
    }
}

static bool write_boolean(struct jw *w, const struct gql_val *v)
{
    switch (v->kind) {
    case GQL_V_BOOL:
        jw_bool(w, v->b);
        return true;
    case GQL_V_INT:
        jw_bool(w, v->i != 0);
        return true;
    case GQL_V_FLOAT:
        if (!isfinite(v->f))
            return false;
        jw_bool(w, v->f != 0);
        return true;
    default:
        return false;
    }
}

/* Writes any value as JSON (custom scalars that serialize to structures). */
static void write_any(struct jw *w, const struct gql_val *v)
{
    switch (v->kind) {
    case GQL_V_NULL:
        jw_null(w);
        break;
    case GQL_V_BOOL:
        jw_bool(w, v->b);
        break;
    case GQL_V_INT:
        jw_int(w, v->i);
        break;
    case GQL_V_FLOAT:
        jw_dbl(w, v->f);
        break;
    case GQL_V_STRING:
    case GQL_V_ENUM:
        jw_slice(w, v->s);
        break;
    case GQL_V_LIST:
        jw_arr_begin(w);
        for (size_t i = 0; i < v->list.n; i++)
            write_any(w, &v->list.items[i]);
        jw_arr_end(w);
        break;
    case GQL_V_OBJECT:
        jw_obj_begin(w);
        for (size_t i = 0; i < v->obj.n; i++) {
            jw_key(w, v->obj.fields[i].name.ptr);
            write_any(w, &v->obj.fields[i].val);
        }
        jw_obj_end(w);
        break;
    case GQL_V_JSON: {
        char *s = json_dumps(v->json, JSON_ENCODE_ANY | JSON_COMPACT);

        if (s)
            jw_raw(w, slice_from_cstr(s));
        else
            jw_null(w);
        free(s);
        break;
    }
    default:
        jw_null(w);
        break;
    }
}

/* 0, or PROPAGATE after recording why the leaf could not be written. */
static int complete_leaf(struct exec *x, const struct gql_stype *t, const struct gql_val *v,
                         const struct fnode *f, const struct gql_path *path)
{
    char shown[80];
    bool ok;

    if (t->kind == GQL_KIND_ENUM) {
        ok = (v->kind == GQL_V_ENUM || v->kind == GQL_V_STRING) && gql_enum_value(t, v->s);
        if (ok)
            jw_slice(&x->w, v->s);
    } else if (!t->builtin) {
        struct gql_val sv = *v;
        struct err err = {0};

        if (t->serialize && t->serialize(x->a, v, &sv, &err) != 0) {
            field_error(x, f, path, err_gql_code(err.code), "%s", err.msg);
            return PROPAGATE;
        }
        write_any(&x->w, &sv);
        return 0;
    } else if (t == x->s->t_int) {
        ok = write_int(&x->w, v);
    } else if (t == x->s->t_float) {
        ok = write_float(&x->w, v);
    } else if (t == x->s->t_string) {
        ok = write_string(&x->w, v, false);
    } else if (t == x->s->t_id) {
        ok = write_string(&x->w, v, true);
    } else {
        ok = write_boolean(&x->w, v);
    }
    if (ok)
        return 0;
    show(v, shown, sizeof(shown));
    field_error(x, f, path, "INTERNAL", SLICE_FMT " cannot represent %s", SLICE_ARG(t->name),
                shown);
    return PROPAGATE;
}

/* ---------------------------------------------------------------- objects */

static int complete(struct exec *x, const struct gql_stype *t, const struct gql_val *v,
                    const struct fnode *f, const struct gql_path *path);
static int execute_fields(struct exec *x, const struct gql_stype *obj, const struct gql_val *v,
                          struct group *groups, const struct gql_path *path);

/* The object type of <v> where the field's type is abstract <t> (spec ResolveAbstractType). */
static const struct gql_stype *runtime_type(struct exec *x, const struct gql_stype *t,
                                            const struct gql_val *v)
{
    const char *name = NULL;
    const struct gql_stype *obj;

    if (t->resolve_type)
        name = t->resolve_type(v, t->type_udata);
    else if (v->kind == GQL_V_PTR)
        name = v->ptr.type;
    else if (v->kind == GQL_V_JSON)
        name = json_string_value(json_object_get(v->json, "__typename"));
    if (name == NULL)
        return NULL;
    obj = gql_schema_type(x->s, slice_from_cstr(name));
    return obj && obj->kind == GQL_KIND_OBJECT && gql_is_possible(t, obj) ? obj : NULL;
}

static int complete_object(struct exec *x, const struct gql_stype *t, const struct gql_val *v,
                           const struct fnode *f, const struct gql_path *path)
{
    const struct gql_stype *obj = t;
    struct group *groups;

    if (v->kind != GQL_V_PTR && !(v->kind == GQL_V_JSON && json_is_object(v->json))) {
        char shown[80];

        show(v, shown, sizeof(shown));
        field_error(x, f, path, "INTERNAL", "expected an object for \"" SLICE_FMT "\", got %s",
                    SLICE_ARG(t->name), shown);
        return PROPAGATE;
    }
    if (gql_is_abstract(t) && (obj = runtime_type(x, t, v)) == NULL) {
        field_error(x, f, path, "INTERNAL",
                    "could not tell which object type of \"" SLICE_FMT
                    "\" the value of field \"" SLICE_FMT "\" is",
                    SLICE_ARG(t->name), SLICE_ARG(f->sel->name));
        return PROPAGATE;
    }
    groups = collect_sub(x, obj, f);
    if (x->collect_failed) {
        collect_error(x, path);
        return PROPAGATE;
    }
    return execute_fields(x, obj, v, groups, path);
}

static int complete_list(struct exec *x, const struct gql_stype *t, const struct gql_val *v,
                         const struct fnode *f, const struct gql_path *path)
{
    const struct gql_stype *item = t->of_type;
    size_t n;

    if (v->kind == GQL_V_JSON && json_is_array(v->json))
        n = json_array_size(v->json);
    else if (v->kind == GQL_V_LIST)
        n = v->list.n;
    else {
        field_error(x, f, path, "INTERNAL", "expected a list for field \"" SLICE_FMT "\"",
                    SLICE_ARG(f->sel->name));
        return PROPAGATE;
    }
    jw_arr_begin(&x->w);
    for (size_t i = 0; i < n && !x->fatal; i++) {
        struct gql_path here = {path, SLICE_NULL, i};
        struct gql_val iv =
            v->kind == GQL_V_LIST ? v->list.items[i] : from_json(json_array_get(v->json, i));
        size_t mark = x->out->len;
        struct jw saved = x->w;

        if (complete(x, item, &iv, f, &here) == PROPAGATE) {
            if (item->kind == GQL_KIND_NON_NULL)
                return PROPAGATE;
            x->out->len = mark;
            x->out->buf[mark] = 0;
            x->w = saved;
            jw_null(&x->w);
        }
    }
    jw_arr_end(&x->w);
    return 0;
}

/* Spec CompleteValue: writes <v> as a value of <t>; PROPAGATE when it must be null but
 * cannot. */
static int complete(struct exec *x, const struct gql_stype *t, const struct gql_val *v,
                    const struct fnode *f, const struct gql_path *path)
{
    struct gql_val conv;

    if (v->kind == GQL_V_JSON && !json_is_object(v->json) && !json_is_array(v->json)) {
        conv = from_json(v->json);
        v = &conv;
    }
    if (t->kind == GQL_KIND_NON_NULL) {
        if (v->kind == GQL_V_NULL) {
            field_error(x, f, path, "INTERNAL",
                        "field \"" SLICE_FMT "\" cannot be "
                        "null, but its resolver gave null",
                        SLICE_ARG(f->sel->name));
            return PROPAGATE;
        }
        return complete(x, t->of_type, v, f, path);
    }
    if (v->kind == GQL_V_NULL) {
        jw_null(&x->w);
        return 0;
    }
    if (t->kind == GQL_KIND_LIST)
        return complete_list(x, t, v, f, path);
    if (gql_is_leaf(t))
        return complete_leaf(x, t, v, f, path);
    return complete_object(x, t, v, f, path);
}

/* ---------------------------------------------------------------- fields */

static int default_resolve(const struct gql_sfield *f, const struct gql_val *parent,
                           struct gql_val *out)
{
    *out = GQL_NULL;
    if (parent != NULL && parent->kind == GQL_V_JSON && json_is_object(parent->json)) {
        const json_t *m = json_object_get(parent->json, f->name.ptr);

        if (m != NULL)
            *out = GQL_JSON(m);
    }
    return 0;
}

/* Spec ExecuteField: arguments, resolver, completion; writes the value (null on error).
 * PROPAGATE when the field is non-null and could not get a value. */
static int execute_field(struct exec *x, const struct gql_stype *obj, const struct gql_val *parent,
                         const struct group *g, const struct gql_path *path)
{
    const struct gql_selection *sel = g->fields->sel;
    struct gql_rctx rc = {.x = x, .node = sel};
    struct gql_val v;
    struct gql_kv *args = NULL;
    struct err err = {0};
    struct gql_loc where;
    size_t mark = x->out->len;
    struct jw saved = x->w;
    int status;

    rc.field = gql_type_field(x->s, obj, sel->name);
    if (rc.field == x->s->f_typename) {
        jw_slice(&x->w, obj->name);
        return 0;
    }
    if (coerce_args(x, rc.field, sel, &args, &rc.nargs, &where, &err) != 0) {
        input_error(x, where, path, err.msg);
        status = PROPAGATE;
    } else {
        rc.args = args;
        if (x->event != NULL && obj == x->s->subscription)
            v = *x->event;
        else if (rc.field == x->s->f_schema)
            v = GQL_PTR((void *)x->s, "__Schema");
        else if (rc.field == x->s->f_type) {
            const struct gql_stype *t = gql_schema_type(x->s, args[0].val.s);

            v = t ? GQL_PTR((void *)t, "__Type") : GQL_NULL;
        } else if (rc.field->bind.resolve == NULL)
            default_resolve(rc.field, parent, &v);
        else if (rc.field->bind.resolve(&rc, parent, &v, &err) != 0) {
            if (err.code == ERR_LIMIT && err.msg[0] == 0)
                out_of_memory(x);
            field_error(x, g->fields, path, err_gql_code(err.code), "%s",
                        err.msg[0] ? err.msg : "the field could not be resolved");
            v = GQL_NULL;
            if (rc.field->type->kind == GQL_KIND_NON_NULL)
                return PROPAGATE;
        }
        status = complete(x, rc.field->type, &v, g->fields, path);
    }
    if (status != PROPAGATE)
        return 0;
    if (rc.field->type->kind == GQL_KIND_NON_NULL)
        return PROPAGATE;
    x->out->len = mark;
    x->out->buf[mark] = 0;
    x->w = saved;
    jw_null(&x->w);
    return 0;
}

static int execute_fields(struct exec *x, const struct gql_stype *obj, const struct gql_val *v,
                          struct group *groups, const struct gql_path *path)
{
    jw_obj_begin(&x->w);
    for (struct group *g = groups; g && !x->fatal; g = g->next) {
        struct gql_path here = {path, g->key, 0};

        jw_key(&x->w, g->key.ptr); /* names in the document are NUL-terminated */
        if (execute_field(x, obj, v, g, &here) == PROPAGATE)
            return PROPAGATE;
    }
    jw_obj_end(&x->w);
    return 0;
}

/* ---------------------------------------------------------------- operations */

const struct gql_def *gql_find_operation(const struct gql_doc *d, struct slice name,
                                         struct err *err)
{
    const struct gql_def *found = NULL;

    for (const struct gql_def *def = d->defs; def; def = def->next) {
        if (def->kind != GQL_DEF_OPERATION)
            continue;
        if (name.ptr == NULL) {
            if (found != NULL)
                return err_set(err, ERR_INVALID,
                               "the document has several operations: "
                               "operationName must say which to run"),
                       NULL;
            found = def;
        } else if (slice_eq(def->name, name)) {
            return def;
        }
    }
    if (found == NULL)
        err_set(err, ERR_INVALID,
                name.ptr ? "the document has no operation named \"%.*s\""
                         : "the document has no operation",
                (int)name.len, name.ptr ? name.ptr : "");
    return found;
}

/* Spec CoerceVariableValues; *where is the definition of the variable that failed. */
static int coerce_variables(struct exec *x, struct err *err, struct gql_loc *where)
{
    const json_t *given = x->in->variables;
    struct gql_kv *items;
    size_t n = 0, k = 0;

    for (const struct gql_var_def *v = x->op->var_defs; v; v = v->next)
        n++;
    items = arena_alloc(x->a, (n + 1) * sizeof(*items));
    if (items == NULL)
        return out_of_memory(x);
    x->vars.items = items;
    for (const struct gql_var_def *v = x->op->var_defs; v; v = v->next) {
        const struct gql_stype *t = gql_schema_type_ref(x->s, v->type, x->a);
        const json_t *j = given ? json_object_get(given, v->name.ptr) : NULL;
        char what[96], tn[96];
        bool absent;

        if (t == NULL || !gql_is_input_type(t))
            return err_set(err, ERR_INVALID, "variable \"$" SLICE_FMT "\" has no input type",
                           SLICE_ARG(v->name));
        *where = v->loc;
        items[k].name = v->name;
        if (j == NULL && v->default_value != NULL) {
            if (gql_coerce_literal(x->a, v->default_value, t, NULL, &items[k].val, &absent, err) !=
                0)
                return err->code;
        } else if (j == NULL) {
            if (t->kind == GQL_KIND_NON_NULL)
                return gql_type_describe(t, tn, sizeof(tn)),
                       err_set(err, ERR_INVALID,
                               "variable \"$" SLICE_FMT "\" of required "
                               "type \"%s\" was not provided",
                               SLICE_ARG(v->name), tn);
            continue;
        } else {
            snprintf(what, sizeof(what), "variable \"$" SLICE_FMT "\"", SLICE_ARG(v->name));
            if (gql_coerce_json(x->a, j, t, what, &items[k].val, err) != 0)
                return err->code;
        }
        x->vars.n = ++k;
    }
    return 0;
}

static void response_begin(struct exec *x)
{
    jw_init(&x->w, x->out);
    jw_obj_begin(&x->w);
}

static int response_end(struct exec *x)
{
    if (x->errs != NULL) {
        jw_key(&x->w, "errors");
        jw_arr_begin(&x->w);
        gql_errors_write(&x->w, x->errs);
        jw_arr_end(&x->w);
    }
    jw_obj_end(&x->w);
    if (x->fatal == 0 && x->out->err != 0)
        x->fatal = ERR_LIMIT;
    return x->fatal;
}

/* A request error: a response with "errors" only. */
static int request_error(struct exec *x, struct gql_loc loc, const struct err *err)
{
    x->out->len = 0;
    x->out->buf[0] = 0;
    x->errs = NULL;
    x->tail = &x->errs;
    response_begin(x);
    if (gql_error_add(x->a, &x->tail, loc, "BAD_USER_INPUT", "%s", err->msg) == NULL)
        out_of_memory(x);
    return response_end(x) ? x->fatal : ERR_INVALID;
}

static const struct gql_stype *root_type(const struct gql_schema *s, enum gql_op op)
{
    return op == GQL_OP_QUERY ? s->query : op == GQL_OP_MUTATION ? s->mutation : s->subscription;
}

/* Sets up <x> for request <in>; a request error answers into <out> and returns non-zero. */
static int start(struct exec *x, const struct gql_exec *in, struct sbuf *out)
{
    struct err err = {0};
    struct gql_loc where = {0, 0};

    memset(x, 0, sizeof(*x));
    x->in = in;
    x->s = in->schema;
    x->doc = gql_doc_ref_doc(in->doc);
    x->a = in->a;
    x->out = out;
    x->tail = &x->errs;
    x->op = gql_find_operation(x->doc, in->operation_name, &err);
    if (x->op == NULL)
        return request_error(x, (struct gql_loc){0, 0}, &err);
    if (root_type(x->s, x->op->op) == NULL) {
        err_set(&err, ERR_INVALID, "the schema does not support this kind of operation");
        return request_error(x, x->op->loc, &err);
    }
    if (coerce_variables(x, &err, &where) != 0)
        return x->fatal ? x->fatal : request_error(x, where, &err);
    return 0;
}

static int execute_root(struct exec *x)
{
    const struct gql_stype *root = root_type(x->s, x->op->op);
    struct fnode top = {.sel = &(struct gql_selection){.selections = x->op->selections}};
    size_t mark;
    struct jw saved;
    struct group *groups;
    bool failed;

    response_begin(x);
    jw_key(&x->w, "data");
    mark = x->out->len;
    saved = x->w;
    groups = collect_sub(x, root, &top);
    failed = x->collect_failed;
    if (failed)
        collect_error(x, NULL);
    if (failed || execute_fields(x, root, x->in->root, groups, NULL) == PROPAGATE) {
        x->out->len = mark;
        x->out->buf[mark] = 0;
        x->w = saved;
        jw_null(&x->w);
    }
    return response_end(x);
}

int gql_execute(const struct gql_exec *in, struct sbuf *out)
{
    struct exec x;
    int rc = start(&x, in, out);

    if (rc != 0)
        return rc;
    if (x.op->op == GQL_OP_SUBSCRIPTION) {
        struct err err = {0};

        err_set(&err, ERR_INVALID, "a subscription needs a streaming transport (WebSocket)");
        return request_error(&x, x.op->loc, &err);
    }
    return execute_root(&x);
}

int gql_execute_event(const struct gql_exec *in, const struct gql_val *event, struct sbuf *out)
{
    struct exec x;
    int rc = start(&x, in, out);

    if (rc != 0)
        return rc;
    x.event = event;
    return execute_root(&x);
}

int gql_subscribe(const struct gql_exec *in, gql_emit_fn *emit, void *sink,
                  void (**cancel)(void *state), void **state, struct sbuf *out)
{
    struct exec x;
    struct fnode top;
    struct group *g;
    struct gql_rctx rc = {.x = &x};
    struct gql_kv *args = NULL;
    struct err err = {0};
    struct gql_loc where;
    int status = start(&x, in, out);

    if (status != 0)
        return status;
    if (x.op->op != GQL_OP_SUBSCRIPTION) {
        err_set(&err, ERR_INVALID, "the operation is not a subscription");
        return request_error(&x, x.op->loc, &err);
    }
    top.sel = &(struct gql_selection){.selections = x.op->selections};
    top.next = NULL;
    g = collect_sub(&x, x.s->subscription, &top);
    if (g == NULL)
        return x.fatal ? x.fatal
                       : (err_set(&err, ERR_INVALID, "nothing to subscribe to"),
                          request_error(&x, x.op->loc, &err));
    rc.node = g->fields->sel;
    rc.field = gql_type_field(x.s, x.s->subscription, rc.node->name);
    if (rc.field == NULL || rc.field->bind.subscribe == NULL) {
        err_set(&err, ERR_INVALID, "\"" SLICE_FMT "\" cannot be subscribed to",
                SLICE_ARG(rc.node->name));
        return request_error(&x, rc.node->loc, &err);
    }
    if (coerce_args(&x, rc.field, rc.node, &args, &rc.nargs, &where, &err) != 0)
        return x.fatal ? x.fatal : request_error(&x, where, &err);
    rc.args = args;
    if (rc.field->bind.subscribe(&rc, emit, sink, cancel, state, &err) != 0) {
        struct gql_path p = {NULL, g->key, 0};

        response_begin(&x);
        field_error(&x, g->fields, &p, err_gql_code(err.code), "%s", err.msg);
        return response_end(&x) ? x.fatal : err.code;
    }
    return 0;
}
