/*
 * Input coercion (spec 3.5 scalars, 3.9 enums, 3.10 input objects, 3.11 lists, 3.12
 * non-null): literals from the document, with or without variables, and variable values
 * from JSON. Messages say what was expected and what was found; JSON coercion also says
 * where inside the value ("at \"input.tags[2]\"").
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "gql/gql-int.h"

const struct gql_val *gql_val_field(const struct gql_val *obj, const char *name)
{
    size_t len = strlen(name);

    if (obj == NULL || obj->kind != GQL_V_OBJECT)
        return NULL;
    for (size_t i = 0; i < obj->obj.n; i++)
        if (obj->obj.fields[i].name.len == len &&
            memcmp(obj->obj.fields[i].name.ptr, name, len) == 0)
            return &obj->obj.fields[i].val;
    return NULL;
}

const struct gql_val *gql_vars_get(const struct gql_vars *v, struct slice name)
{
    for (size_t i = 0; v != NULL && i < v->n; i++)
        if (slice_eq(v->items[i].name, name))
            return &v->items[i].val;
    return NULL;
}

static int no_memory(struct err *err)
{
    return err_set(err, ERR_LIMIT, "out of memory coercing a value");
}

static void describe(const struct gql_stype *t, char *buf, size_t n)
{
    gql_type_describe(t, buf, n);
}

/* ---------------------------------------------------------------- scalars */

static bool int32_range(double d)
{
    return d >= -2147483648.0 && d <= 2147483647.0;
}

/* A built-in scalar from a literal of one of the kinds it accepts. */
static int scalar_literal(struct arena *a, const struct gql_value *v, const struct gql_stype *t,
                          struct gql_val *out, struct err *err);

/* Any literal as an untyped value (custom scalars take whatever they are given). */
static int untyped_literal(struct arena *a, const struct gql_value *v, const struct gql_vars *vars,
                           struct gql_val *out, struct err *err)
{
    size_t n = 0, i = 0;

    switch (v->kind) {
    case GQL_VALUE_VARIABLE: {
        const struct gql_val *var = gql_vars_get(vars, v->str);

        *out = var ? *var : GQL_NULL;
        return 0;
    }
    case GQL_VALUE_INT:
        *out = GQL_INT(strtoll(v->str.ptr, NULL, 10));
        return 0;
    case GQL_VALUE_FLOAT:
        *out = GQL_FLOAT(strtod(v->str.ptr, NULL));
        return 0;
    case GQL_VALUE_STRING:
        *out = GQL_STRING(v->str);
        return 0;
    case GQL_VALUE_BOOLEAN:
        *out = GQL_BOOL(v->boolean);
        return 0;
    case GQL_VALUE_NULL:
        *out = GQL_NULL;
        return 0;
    case GQL_VALUE_ENUM:
        *out = GQL_ENUM(v->str);
        return 0;
    case GQL_VALUE_LIST: {
        struct gql_val *items;

        for (const struct gql_value *it = v->items; it; it = it->next)
            n++;
        items = arena_alloc(a, (n + 1) * sizeof(*items));
        if (items == NULL)
            return no_memory(err);
        for (const struct gql_value *it = v->items; it; it = it->next)
            if (untyped_literal(a, it, vars, &items[i++], err) != 0)
                return err->code;
        *out = GQL_LIST(items, n);
        return 0;
    }
    case GQL_VALUE_OBJECT: {
        struct gql_kv *fields;

        for (const struct gql_argument *f = v->fields; f; f = f->next)
            n++;
        fields = arena_alloc(a, (n + 1) * sizeof(*fields));
        if (fields == NULL)
            return no_memory(err);
        for (const struct gql_argument *f = v->fields; f; f = f->next, i++) {
            fields[i].name = f->name;
            if (untyped_literal(a, f->value, vars, &fields[i].val, err) != 0)
                return err->code;
        }
        *out = (struct gql_val){.kind = GQL_V_OBJECT, .obj = {fields, n}};
        return 0;
    }
    }
    return err_set(err, ERR_INTERNAL, "unknown literal kind");
}

static int literal_mismatch(const struct gql_value *v, const struct gql_stype *t, struct err *err)
{
    struct sbuf b = SBUF_INIT(96);
    char tn[96];
    int rc;

    gql_print_value(&b, v);
    describe(t, tn, sizeof(tn));
    rc = err_set(err, ERR_INVALID, "%s cannot represent %s%s", tn, b.buf, b.err ? "…" : "");
    sbuf_release(&b);
    return rc;
}

static int scalar_literal(struct arena *a, const struct gql_value *v, const struct gql_stype *t,
                          struct gql_val *out, struct err *err)
{
    const char *name = t->name.ptr;

    (void)a;
    if (strcmp(name, "Int") == 0 && v->kind == GQL_VALUE_INT) {
        double d = strtod(v->str.ptr, NULL);

        if (!int32_range(d))
            return err_set(err, ERR_INVALID,
                           "Int cannot represent %s: it is not a 32-bit "
                           "signed integer",
                           v->str.ptr);
        *out = GQL_INT(strtoll(v->str.ptr, NULL, 10));
        return 0;
    }
    if (strcmp(name, "Float") == 0 && (v->kind == GQL_VALUE_INT || v->kind == GQL_VALUE_FLOAT)) {
        double d = strtod(v->str.ptr, NULL);

        if (!isfinite(d))
            return err_set(err, ERR_INVALID, "Float cannot represent %s: it is not finite",
                           v->str.ptr);
        *out = GQL_FLOAT(d);
        return 0;
    }
    if (strcmp(name, "String") == 0 && v->kind == GQL_VALUE_STRING) {
        *out = GQL_STRING(v->str);
        return 0;
    }
    if (strcmp(name, "Boolean") == 0 && v->kind == GQL_VALUE_BOOLEAN) {
        *out = GQL_BOOL(v->boolean);
        return 0;
    }
    if (strcmp(name, "ID") == 0 && (v->kind == GQL_VALUE_STRING || v->kind == GQL_VALUE_INT)) {
        *out = GQL_STRING(v->str);
        return 0;
    }
    return literal_mismatch(v, t, err);
}

static bool builtin_scalar(const struct gql_stype *t)
{
    return t->builtin && t->kind == GQL_KIND_SCALAR;
}

/* ---------------------------------------------------------------- literals */

static int coerce_object_literal(struct arena *a, const struct gql_value *v,
                                 const struct gql_stype *t, const struct gql_vars *vars,
                                 struct gql_val *out, struct err *err);

int gql_coerce_literal(struct arena *a, const struct gql_value *v, const struct gql_stype *t,
                       const struct gql_vars *vars, struct gql_val *out, bool *absent,
                       struct err *err)
{
    char tn[96];

    *absent = false;
    if (v->kind == GQL_VALUE_VARIABLE) {
        const struct gql_val *var = vars ? gql_vars_get(vars, v->str) : NULL;

        if (vars == NULL) { /* validation: variables are another rule's business */
            *out = GQL_NULL;
            return 0;
        }
        if (var == NULL) {
            *absent = true;
            *out = GQL_NULL;
            return 0;
        }
        if (var->kind == GQL_V_NULL && t->kind == GQL_KIND_NON_NULL)
            return describe(t, tn, sizeof(tn)),
                   err_set(err, ERR_INVALID,
                           "variable \"$" SLICE_FMT "\" is null where a "
                           "value of type \"%s\" is required",
                           SLICE_ARG(v->str), tn);
        *out = *var;
        return 0;
    }
    if (t->kind == GQL_KIND_NON_NULL) {
        if (v->kind == GQL_VALUE_NULL)
            return describe(t, tn, sizeof(tn)),
                   err_set(err, ERR_INVALID, "expected a value of type \"%s\", found null", tn);
        return gql_coerce_literal(a, v, t->of_type, vars, out, absent, err);
    }
    if (v->kind == GQL_VALUE_NULL) {
        *out = GQL_NULL;
        return 0;
    }
    switch (t->kind) {
    case GQL_KIND_LIST: {
        size_t n = 0, i = 0;
        struct gql_val *items;

        if (v->kind != GQL_VALUE_LIST) { /* one value stands for a list of one */
            items = arena_alloc(a, sizeof(*items));
            if (items == NULL)
                return no_memory(err);
            if (gql_coerce_literal(a, v, t->of_type, vars, items, absent, err) != 0)
                return err->code;
            *absent = false;
            *out = GQL_LIST(items, 1);
            return 0;
        }
        for (const struct gql_value *it = v->items; it; it = it->next)
            n++;
        items = arena_alloc(a, (n + 1) * sizeof(*items));
        if (items == NULL)
            return no_memory(err);
        for (const struct gql_value *it = v->items; it; it = it->next, i++)
            if (gql_coerce_literal(a, it, t->of_type, vars, &items[i], absent, err) != 0)
                return err->code;
        *absent = false; /* an item whose variable is absent is null */
        *out = GQL_LIST(items, n);
        return 0;
    }
    case GQL_KIND_INPUT_OBJECT:
        return coerce_object_literal(a, v, t, vars, out, err);
    case GQL_KIND_ENUM:
        if (v->kind != GQL_VALUE_ENUM || gql_enum_value(t, v->str) == NULL)
            return literal_mismatch(v, t, err);
        *out = GQL_ENUM(v->str);
        return 0;
    case GQL_KIND_SCALAR:
        if (builtin_scalar(t))
            return scalar_literal(a, v, t, out, err);
        if (untyped_literal(a, v, vars, out, err) != 0)
            return err->code;
        return t->parse ? t->parse(a, out, out, err) : 0;
    default:
        return err_set(err, ERR_INTERNAL, "not an input type");
    }
}

static int coerce_object_literal(struct arena *a, const struct gql_value *v,
                                 const struct gql_stype *t, const struct gql_vars *vars,
                                 struct gql_val *out, struct err *err)
{
    struct gql_kv *fields;
    size_t n = 0;
    bool absent;

    if (v->kind != GQL_VALUE_OBJECT)
        return literal_mismatch(v, t, err);
    for (const struct gql_argument *f = v->fields; f; f = f->next)
        if (gql_field_arg(t->input, t->ninput, f->name) == NULL)
            return err_set(err, ERR_INVALID,
                           "field \"" SLICE_FMT "\" is not defined by type \"" SLICE_FMT "\"",
                           SLICE_ARG(f->name), SLICE_ARG(t->name));
    fields = arena_alloc(a, (t->ninput + 1) * sizeof(*fields));
    if (fields == NULL)
        return no_memory(err);
    for (size_t i = 0; i < t->ninput; i++) {
        const struct gql_sarg *def = &t->input[i];
        const struct gql_value *given = NULL;
        char tn[96];

        for (const struct gql_argument *f = v->fields; f && given == NULL; f = f->next)
            if (slice_eq(f->name, def->name))
                given = f->value;
        absent = given == NULL;
        if (given != NULL &&
            gql_coerce_literal(a, given, def->type, vars, &fields[n].val, &absent, err) != 0)
            return err->code;
        if (absent && def->default_value != NULL &&
            gql_coerce_literal(a, def->default_value, def->type, NULL, &fields[n].val, &absent,
                               err) != 0)
            return err->code;
        if (absent && def->default_value == NULL) {
            if (def->type->kind == GQL_KIND_NON_NULL && (given == NULL || vars != NULL))
                return describe(def->type, tn, sizeof(tn)),
                       err_set(err, ERR_INVALID,
                               "field \"" SLICE_FMT "." SLICE_FMT "\" of "
                               "required type \"%s\" was not provided",
                               SLICE_ARG(t->name), SLICE_ARG(def->name), tn);
            continue;
        }
        fields[n++].name = def->name;
    }
    *out = (struct gql_val){.kind = GQL_V_OBJECT, .obj = {fields, n}};
    return 0;
}

/* ---------------------------------------------------------------- JSON */

/* Where inside a variable's value coercion is, for messages. */
struct jpath {
    const struct jpath *up;
    const char *key; /* NULL: an index */
    size_t index;
};

static void jpath_print(const struct jpath *p, struct sbuf *b)
{
    if (p == NULL)
        return;
    jpath_print(p->up, b);
    if (p->key)
        sbuf_printf(b, "%s%s", p->up && p->up->up ? "." : "", p->key);
    else
        sbuf_printf(b, "[%zu]", p->index);
}

static int jfail(const char *what, const struct jpath *p, struct err *err, const char *fmt, ...)
    APP_PRINTF(4, 5);
static int jfail(const char *what, const struct jpath *p, struct err *err, const char *fmt, ...)
{
    struct sbuf b = SBUF_INIT(sizeof(err->msg));
    va_list ap;
    int rc;

    sbuf_printf(&b, "%s got an invalid value", what);
    if (p && p->up) {
        sbuf_puts(&b, " at \"");
        jpath_print(p, &b);
        sbuf_putc(&b, '"');
    }
    sbuf_puts(&b, ": ");
    va_start(ap, fmt);
    sbuf_vprintf(&b, fmt, ap);
    va_end(ap);
    rc = err_set(err, ERR_INVALID, "%s", b.buf);
    sbuf_release(&b);
    return rc;
}

/* A short rendering of <j> for messages. */
static const char *jshow(const json_t *j, char *buf, size_t n)
{
    char *s = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);

    snprintf(buf, n, "%s", s ? s : "?");
    if (s && strlen(s) >= n && n > 4)
        memcpy(buf + n - 4, "...", 4);
    free(s);
    return buf;
}

static int json_untyped(struct arena *a, const json_t *j, struct gql_val *out, struct err *err)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        struct gql_kv *f = arena_alloc(a, (json_object_size(j) + 1) * sizeof(*f));
        const char *k;
        json_t *v;
        size_t n = 0;

        if (f == NULL)
            return no_memory(err);
        json_object_foreach((json_t *)j, k, v)
        {
            f[n].name = slice_from_cstr(k);
            if (json_untyped(a, v, &f[n++].val, err) != 0)
                return err->code;
        }
        *out = (struct gql_val){.kind = GQL_V_OBJECT, .obj = {f, n}};
        return 0;
    }
    case JSON_ARRAY: {
        struct gql_val *items = arena_alloc(a, (json_array_size(j) + 1) * sizeof(*items));

        if (items == NULL)
            return no_memory(err);
        for (size_t i = 0; i < json_array_size(j); i++)
            if (json_untyped(a, json_array_get(j, i), &items[i], err) != 0)
                return err->code;
        *out = GQL_LIST(items, json_array_size(j));
        return 0;
    }
    case JSON_STRING:
        *out = GQL_STRING(((struct slice){json_string_value(j), json_string_length(j)}));
        return 0;
    case JSON_INTEGER:
        *out = GQL_INT(json_integer_value(j));
        return 0;
    case JSON_REAL:
        *out = GQL_FLOAT(json_real_value(j));
        return 0;
    case JSON_TRUE:
    case JSON_FALSE:
        *out = GQL_BOOL(json_is_true(j));
        return 0;
    default:
        *out = GQL_NULL;
        return 0;
    }
}

static int json_scalar(struct arena *a, const json_t *j, const struct gql_stype *t,
                       const char *what, const struct jpath *p, struct gql_val *out,
                       struct err *err)
{
    const char *name = t->name.ptr;
    char shown[64];

    if (!builtin_scalar(t)) {
        if (json_untyped(a, j, out, err) != 0)
            return err->code;
        if (t->parse && t->parse(a, out, out, err) != 0)
            return jfail(what, p, err, "%s", err->msg);
        return 0;
    }
    if (strcmp(name, "Int") == 0 && json_is_number(j)) {
        double d = json_number_value(j);

        if (d != floor(d) || !int32_range(d))
            return jfail(what, p, err,
                         "Int cannot represent %s: it is not a 32-bit signed "
                         "integer",
                         jshow(j, shown, sizeof(shown)));
        *out = GQL_INT((int64_t)d);
        return 0;
    }
    if (strcmp(name, "Float") == 0 && json_is_number(j)) {
        *out = GQL_FLOAT(json_number_value(j));
        return 0;
    }
    if ((strcmp(name, "String") == 0 || strcmp(name, "ID") == 0) && json_is_string(j)) {
        *out = GQL_STRING(((struct slice){json_string_value(j), json_string_length(j)}));
        return 0;
    }
    if (strcmp(name, "ID") == 0 && json_is_integer(j)) {
        char *s = arena_printf(a, "%lld", (long long)json_integer_value(j));

        if (s == NULL)
            return no_memory(err);
        *out = GQL_STRING(slice_from_cstr(s));
        return 0;
    }
    if (strcmp(name, "Boolean") == 0 && json_is_boolean(j)) {
        *out = GQL_BOOL(json_is_true(j));
        return 0;
    }
    return jfail(what, p, err, "%s cannot represent %s", name, jshow(j, shown, sizeof(shown)));
}

static int json_value(struct arena *a, const json_t *j, const struct gql_stype *t, const char *what,
                      const struct jpath *p, struct gql_val *out, struct err *err);

static int json_object_value(struct arena *a, const json_t *j, const struct gql_stype *t,
                             const char *what, const struct jpath *p, struct gql_val *out,
                             struct err *err)
{
    struct gql_kv *fields;
    const char *k;
    json_t *v;
    size_t n = 0;
    char shown[64];

    if (!json_is_object(j))
        return jfail(what, p, err, "expected an object of type \"" SLICE_FMT "\", found %s",
                     SLICE_ARG(t->name), jshow(j, shown, sizeof(shown)));
    json_object_foreach((json_t *)j, k, v)
    {
        if (gql_field_arg(t->input, t->ninput, slice_from_cstr(k)) == NULL)
            return jfail(what, p, err, "field \"%s\" is not defined by type \"" SLICE_FMT "\"", k,
                         SLICE_ARG(t->name));
    }
    fields = arena_alloc(a, (t->ninput + 1) * sizeof(*fields));
    if (fields == NULL)
        return no_memory(err);
    for (size_t i = 0; i < t->ninput; i++) {
        const struct gql_sarg *def = &t->input[i];
        const json_t *given = json_object_get(j, def->name.ptr);
        struct jpath here = {p, def->name.ptr, 0};
        bool absent;
        char tn[96];

        if (given != NULL) {
            if (json_value(a, given, def->type, what, &here, &fields[n].val, err) != 0)
                return err->code;
        } else if (def->default_value != NULL) {
            if (gql_coerce_literal(a, def->default_value, def->type, NULL, &fields[n].val, &absent,
                                   err) != 0)
                return err->code;
        } else if (def->type->kind == GQL_KIND_NON_NULL) {
            describe(def->type, tn, sizeof(tn));
            return jfail(what, p, err,
                         "field \"" SLICE_FMT "\" of required type \"%s\" was not "
                         "provided",
                         SLICE_ARG(def->name), tn);
        } else {
            continue;
        }
        fields[n++].name = def->name;
    }
    *out = (struct gql_val){.kind = GQL_V_OBJECT, .obj = {fields, n}};
    return 0;
}

static int json_value(struct arena *a, const json_t *j, const struct gql_stype *t, const char *what,
                      const struct jpath *p, struct gql_val *out, struct err *err)
{
    char tn[96], shown[64];

    if (t->kind == GQL_KIND_NON_NULL) {
        if (json_is_null(j))
            return describe(t, tn, sizeof(tn)),
                   jfail(what, p, err, "expected a value of type \"%s\", found null", tn);
        return json_value(a, j, t->of_type, what, p, out, err);
    }
    if (json_is_null(j)) {
        *out = GQL_NULL;
        return 0;
    }
    switch (t->kind) {
    case GQL_KIND_LIST: {
        size_t n = json_is_array(j) ? json_array_size(j) : 1;
        struct gql_val *items = arena_alloc(a, (n + 1) * sizeof(*items));

        if (items == NULL)
            return no_memory(err);
        if (!json_is_array(j)) {
            if (json_value(a, j, t->of_type, what, p, items, err) != 0)
                return err->code;
        } else {
            for (size_t i = 0; i < n; i++) {
                struct jpath here = {p, NULL, i};

                if (json_value(a, json_array_get(j, i), t->of_type, what, &here, &items[i], err) !=
                    0)
                    return err->code;
            }
        }
        *out = GQL_LIST(items, n);
        return 0;
    }
    case GQL_KIND_INPUT_OBJECT:
        return json_object_value(a, j, t, what, p, out, err);
    case GQL_KIND_ENUM: {
        const struct gql_senum *e =
            json_is_string(j) ? gql_enum_value(t, slice_from_cstr(json_string_value(j))) : NULL;

        if (e == NULL)
            return jfail(what, p, err, "enum \"" SLICE_FMT "\" has no value %s", SLICE_ARG(t->name),
                         jshow(j, shown, sizeof(shown)));
        *out = GQL_ENUM(e->name);
        return 0;
    }
    case GQL_KIND_SCALAR:
        return json_scalar(a, j, t, what, p, out, err);
    default:
        return err_set(err, ERR_INTERNAL, "not an input type");
    }
}

int gql_coerce_json(struct arena *a, const json_t *j, const struct gql_stype *t, const char *what,
                    struct gql_val *out, struct err *err)
{
    struct jpath root = {NULL, "", 0};

    return json_value(a, j, t, what, &root, out, err);
}
