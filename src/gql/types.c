/*
 * Looking things up in a built schema, and the relations between types that validation and
 * execution ask about (spec IsSubType, possible types, overlap). Read-only: safe from any
 * thread.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "gql/gql-int.h"

/* ---------------------------------------------------------------- lookups */

uint32_t gql_name_hash(struct slice name)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < name.len; i++)
        h = (h ^ (uint8_t)name.ptr[i]) * 16777619u;
    return h;
}

const struct gql_stype *gql_schema_type(const struct gql_schema *s, struct slice name)
{
    for (size_t i = gql_name_hash(name) & s->tmask;; i = (i + 1) & s->tmask) {
        const struct gql_stype *t = s->table[i];

        if (t == NULL || slice_eq(t->name, name))
            return t;
    }
}

const struct gql_sdirective *gql_schema_directive(const struct gql_schema *s, struct slice name)
{
    for (size_t i = 0; i < s->ndirectives; i++)
        if (slice_eq(s->directives[i]->name, name))
            return s->directives[i];
    return NULL;
}

const struct gql_sfield *gql_type_field(const struct gql_schema *s, const struct gql_stype *t,
                                        struct slice name)
{
    if (name.len > 2 && name.ptr[0] == '_' && name.ptr[1] == '_') {
        if (slice_eq_cstr(name, "__typename"))
            return gql_is_composite(t) ? s->f_typename : NULL;
        if (t == s->query && slice_eq_cstr(name, "__schema"))
            return s->f_schema;
        if (t == s->query && slice_eq_cstr(name, "__type"))
            return s->f_type;
    }
    for (size_t i = 0; i < t->nfields; i++)
        if (slice_eq(t->fields[i].name, name))
            return &t->fields[i];
    return NULL;
}

const struct gql_sarg *gql_field_arg(const struct gql_sarg *args, size_t n, struct slice name)
{
    for (size_t i = 0; i < n; i++)
        if (slice_eq(args[i].name, name))
            return &args[i];
    return NULL;
}

const struct gql_senum *gql_enum_value(const struct gql_stype *t, struct slice name)
{
    for (size_t i = 0; i < t->nvalues; i++)
        if (slice_eq(t->values[i].name, name))
            return &t->values[i];
    return NULL;
}

const struct gql_stype *gql_named_type(const struct gql_stype *t)
{
    while (t->kind == GQL_KIND_LIST || t->kind == GQL_KIND_NON_NULL)
        t = t->of_type;
    return t;
}

const struct gql_stype *gql_type_wrap_new(struct arena *a, enum gql_kind kind,
                                          const struct gql_stype *of)
{
    struct gql_stype *w = arena_zalloc(a, sizeof(*w));

    if (w == NULL)
        return NULL;
    w->kind = kind;
    w->of_type = of;
    return w;
}

/* The wrapper the schema made already, else a new one in <a>. */
static const struct gql_stype *wrap(struct arena *a, enum gql_kind kind, const struct gql_stype *of)
{
    const struct gql_stype *w = kind == GQL_KIND_LIST ? of->list_of : of->non_null_of;

    return w ? w : gql_type_wrap_new(a, kind, of);
}

const struct gql_stype *gql_schema_type_ref(const struct gql_schema *s, const struct gql_type *t,
                                            struct arena *a)
{
    const struct gql_stype *of;

    if (t->kind == GQL_TYPE_NAMED)
        return gql_schema_type(s, t->name);
    of = gql_schema_type_ref(s, t->of_type, a);
    if (of == NULL)
        return NULL;
    return wrap(a, t->kind == GQL_TYPE_LIST ? GQL_KIND_LIST : GQL_KIND_NON_NULL, of);
}

/* ---------------------------------------------------------------- type predicates */

bool gql_is_input_type(const struct gql_stype *t)
{
    t = gql_named_type(t);
    return t->kind == GQL_KIND_SCALAR || t->kind == GQL_KIND_ENUM ||
           t->kind == GQL_KIND_INPUT_OBJECT;
}

bool gql_is_output_type(const struct gql_stype *t)
{
    return gql_named_type(t)->kind != GQL_KIND_INPUT_OBJECT;
}

bool gql_is_leaf(const struct gql_stype *t)
{
    return t->kind == GQL_KIND_SCALAR || t->kind == GQL_KIND_ENUM;
}

bool gql_is_possible(const struct gql_stype *abstract, const struct gql_stype *obj)
{
    if (abstract == obj)
        return true;
    for (size_t i = 0; i < abstract->npossible; i++)
        if (abstract->possible[i] == obj)
            return true;
    return false;
}

bool gql_types_overlap(const struct gql_stype *a, const struct gql_stype *b)
{
    if (a == b)
        return true;
    if (!gql_is_abstract(a))
        return gql_is_abstract(b) && gql_is_possible(b, a);
    if (!gql_is_abstract(b))
        return gql_is_possible(a, b);
    for (size_t i = 0; i < a->npossible; i++)
        if (gql_is_possible(b, a->possible[i]))
            return true;
    return false;
}

bool gql_types_equal(const struct gql_stype *a, const struct gql_stype *b)
{
    while (a->kind == b->kind && (a->kind == GQL_KIND_LIST || a->kind == GQL_KIND_NON_NULL)) {
        a = a->of_type;
        b = b->of_type;
    }
    return a == b;
}

/* Whether <sub> implements interface <super> (directly or through another interface). */
static bool implements(const struct gql_stype *sub, const struct gql_stype *super)
{
    for (size_t i = 0; i < sub->ninterfaces; i++)
        if (sub->interfaces[i] == super)
            return true;
    return false;
}

bool gql_is_subtype(const struct gql_stype *sub, const struct gql_stype *super)
{
    if (sub == super)
        return true;
    if (super->kind == GQL_KIND_NON_NULL)
        return sub->kind == GQL_KIND_NON_NULL && gql_is_subtype(sub->of_type, super->of_type);
    if (sub->kind == GQL_KIND_NON_NULL)
        return gql_is_subtype(sub->of_type, super);
    if (super->kind == GQL_KIND_LIST)
        return sub->kind == GQL_KIND_LIST && gql_is_subtype(sub->of_type, super->of_type);
    if (sub->kind == GQL_KIND_LIST)
        return false;
    if (super->kind == GQL_KIND_UNION)
        return gql_is_possible(super, sub);
    if (super->kind == GQL_KIND_INTERFACE)
        return (sub->kind == GQL_KIND_OBJECT || sub->kind == GQL_KIND_INTERFACE) &&
               implements(sub, super);
    return false;
}

void gql_type_describe(const struct gql_stype *t, char *buf, size_t n)
{
    if (n == 0)
        return;
    if (t->kind == GQL_KIND_NON_NULL) {
        gql_type_describe(t->of_type, buf, n);
        size_t len = strlen(buf);

        if (len + 1 < n) {
            buf[len] = '!';
            buf[len + 1] = 0;
        }
    } else if (t->kind == GQL_KIND_LIST && n > 2) {
        buf[0] = '[';
        gql_type_describe(t->of_type, buf + 1, n - 2);
        size_t len = strlen(buf);

        buf[len] = ']';
        buf[len + 1] = 0;
    } else {
        snprintf(buf, n, SLICE_FMT, SLICE_ARG(t->name));
    }
}

/* ---------------------------------------------------------------- numbers as text */

void gql_number_text(double d, char *buf, size_t n)
{
    char e[40], digits[20];
    int exp10, k = 0, pt;
    size_t o = 0;

    if (!isfinite(d) || n < 32) {
        snprintf(buf, n, "%s", isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
        return;
    }
    if (d == 0) { /* -0 too */
        snprintf(buf, n, "0");
        return;
    }
    /* the fewest significant digits that read back as <d>, as d.ddde±x */
    for (int prec = 0; prec <= 16; prec++) {
        snprintf(e, sizeof(e), "%.*e", prec, d);
        if (strtod(e, NULL) == d)
            break;
    }
    exp10 = (int)strtol(strchr(e, 'e') + 1, NULL, 10);
    for (const char *c = e; *c && *c != 'e'; c++)
        if (*c >= '0' && *c <= '9')
            digits[k++] = *c;
    while (k > 1 && digits[k - 1] == '0')
        k--;
    if (d < 0)
        buf[o++] = '-';
    pt = exp10 + 1; /* digits before the decimal point */
    if (k <= pt && pt <= 21) {
        for (int i = 0; i < pt; i++)
            buf[o++] = i < k ? digits[i] : '0';
    } else if (0 < pt && pt <= 21) {
        for (int i = 0; i < k; i++) {
            if (i == pt)
                buf[o++] = '.';
            buf[o++] = digits[i];
        }
    } else if (-6 < pt && pt <= 0) {
        buf[o++] = '0';
        buf[o++] = '.';
        for (int i = 0; i < -pt; i++)
            buf[o++] = '0';
        for (int i = 0; i < k; i++)
            buf[o++] = digits[i];
    } else {
        buf[o++] = digits[0];
        if (k > 1)
            buf[o++] = '.';
        for (int i = 1; i < k; i++)
            buf[o++] = digits[i];
        o += (size_t)snprintf(buf + o, n - o, "e%c%d", pt - 1 >= 0 ? '+' : '-', abs(pt - 1));
    }
    buf[o] = 0;
}
