/*
 * Values in a document (spec 5.6): of the type their place expects (5.6.1), input object
 * fields that exist (5.6.2), are given once (5.6.3) and include the required ones (5.6.4).
 * Lists and input objects are taken apart here, so that each finding points at the innermost
 * value at fault; scalars and enums go to gql_coerce_literal() without variables, which
 * checks the literal and takes any variable. Every variable met is recorded with the type its
 * place expects, for 5.8.3–5.8.5 (validate-vars.c).
 */
#include <stdio.h>

#include "gql/validate.h"

#define VALUE_TEXT_MAX 80

void gql_vdescribe_value(const struct gql_value *val, char *buf, size_t n)
{
    struct sbuf b = SBUF_INIT(VALUE_TEXT_MAX);

    gql_print_value(&b, val);
    snprintf(buf, n, "%s%s", b.buf, b.err ? "…" : "");
    sbuf_release(&b);
}

static void record_use(struct gql_vctx *v, const struct gql_value *val,
                       const struct gql_stype *type, bool has_default)
{
    struct gql_vdef *vd = v->cur;

    if (vd == NULL || !gql_vgrow(v, (void **)&vd->uses, &vd->capuses, vd->nuses, sizeof(*vd->uses)))
        return;
    vd->uses[vd->nuses++] = (struct gql_vuse){val, type, has_default, GQL_V_NONE};
}

/* The type of the items of a list value at a place of <type>: its item type when it is a
 * list, else the type itself (the value is wrong there, but its variables still count). */
static const struct gql_stype *item_type(const struct gql_stype *type)
{
    if (type != NULL && type->kind == GQL_KIND_NON_NULL)
        type = type->of_type;
    return type != NULL && type->kind == GQL_KIND_LIST ? type->of_type : type;
}

/* Records the variables inside <val>, already found wrong for a place of <type>, with the
 * types graphql-js's TypeInfo gives them. */
/* 5.6.3, which holds whether or not the object's type is known. */
static void check_field_names(struct gql_vctx *v, const struct gql_value *val)
{
    struct slice *names;
    struct gql_loc *locs;
    size_t n = 0, i = 0;

    for (const struct gql_argument *f = val->fields; f; f = f->next)
        n++;
    if (n < 2)
        return;
    names = arena_alloc(v->a, n * sizeof(*names));
    locs = arena_alloc(v->a, n * sizeof(*locs));
    if (names == NULL || locs == NULL) {
        gql_vnomem(v);
        return;
    }
    for (const struct gql_argument *f = val->fields; f; f = f->next, i++) {
        names[i] = f->name;
        locs[i] = f->loc;
    }
    gql_vcheck_unique(v, names, locs, n, false, "input field", "");
}

/* Records the variables inside <val>, already found wrong for a place of <type> or at a place
 * of unknown type, with the types graphql-js's TypeInfo gives them; input field names are
 * still checked. */
static void record_uses(struct gql_vctx *v, const struct gql_value *val,
                        const struct gql_stype *type)
{
    if (val->kind == GQL_VALUE_VARIABLE) {
        record_use(v, val, type, false);
    } else if (val->kind == GQL_VALUE_LIST) {
        for (const struct gql_value *it = val->items; it; it = it->next)
            record_uses(v, it, item_type(type));
    } else if (val->kind == GQL_VALUE_OBJECT) {
        check_field_names(v, val);
        for (const struct gql_argument *f = val->fields; f; f = f->next)
            record_uses(v, f->value, NULL);
    }
}

/* 5.6.1 for a value whose kind cannot stand for <type> at all. */
static void mismatch(struct gql_vctx *v, const struct gql_value *val, const struct gql_stype *type)
{
    char tn[96], text[VALUE_TEXT_MAX + 8];

    gql_type_describe(type, tn, sizeof(tn));
    gql_vdescribe_value(val, text, sizeof(text));
    gql_verror(v, val->loc, "Expected a value of type \"%s\", found %s.", tn, text);
}

/* 5.6.1 for a scalar or enum literal where <type> is expected. */
static void check_leaf(struct gql_vctx *v, const struct gql_value *val,
                       const struct gql_stype *type)
{
    const struct gql_stype *named = gql_named_type(type);
    char tn[96], text[VALUE_TEXT_MAX + 8];
    struct gql_val out;
    struct err err = {0};
    bool absent;

    if (!gql_is_leaf(named)) {
        mismatch(v, val, type);
        return;
    }
    if (gql_coerce_literal(v->a, val, named, NULL, &out, &absent, &err) == 0)
        return;
    if (err.code == ERR_LIMIT) {
        gql_vnomem(v);
        return;
    }
    gql_type_describe(type, tn, sizeof(tn));
    gql_vdescribe_value(val, text, sizeof(text));
    gql_verror(v, val->loc, "Expected a value of type \"%s\", found %s: %s.", tn, text, err.msg);
}

/* 5.6.2–5.6.4 and the fields' values, for object value <val> of input object type <t>. */
static void check_object(struct gql_vctx *v, const struct gql_value *val, const struct gql_stype *t)
{
    char hint[160];

    check_field_names(v, val);
    for (const struct gql_argument *f = val->fields; f && !v->full; f = f->next) {
        const struct gql_sarg *def = gql_field_arg(t->input, t->ninput, f->name);

        if (def == NULL) {
            gql_verror(v, f->loc,
                       "Field \"" SLICE_FMT "\" is not defined by input type \"" SLICE_FMT "\".%s",
                       SLICE_ARG(f->name), SLICE_ARG(t->name),
                       gql_vsuggest(f->name, t->ninput ? &t->input[0].name : NULL, t->ninput,
                                    sizeof(*t->input), hint, sizeof(hint)));
            record_uses(v, f->value, NULL);
            continue;
        }
        gql_vcheck_value(v, f->value, def->type, def->default_value != NULL);
    }
    for (size_t k = 0; k < t->ninput && !v->full; k++) {
        const struct gql_sarg *def = &t->input[k];
        const struct gql_argument *f = val->fields;
        char tn[96];

        if (def->type->kind != GQL_KIND_NON_NULL || def->default_value != NULL)
            continue;
        while (f != NULL && !slice_eq(f->name, def->name))
            f = f->next;
        if (f != NULL)
            continue;
        gql_type_describe(def->type, tn, sizeof(tn));
        gql_verror(v, val->loc,
                   "Field \"" SLICE_FMT "." SLICE_FMT "\" of required type \"%s\" was not given.",
                   SLICE_ARG(t->name), SLICE_ARG(def->name), tn);
    }
}

/* Custom scalars take any literal, lists and objects included (as graphql-js's do). */
static bool custom_scalar(const struct gql_stype *t)
{
    t = gql_named_type(t);
    return t->kind == GQL_KIND_SCALAR && !t->builtin;
}

void gql_vcheck_value(struct gql_vctx *v, const struct gql_value *val, const struct gql_stype *type,
                      bool has_default)
{
    const struct gql_stype *nullable;

    if (val->kind == GQL_VALUE_VARIABLE) {
        record_use(v, val, type, has_default);
    } else if (type == NULL || v->full) {
        record_uses(v, val, type);
    } else if (val->kind == GQL_VALUE_NULL) {
        if (type->kind == GQL_KIND_NON_NULL)
            mismatch(v, val, type);
    } else if (val->kind == GQL_VALUE_LIST) {
        nullable = type->kind == GQL_KIND_NON_NULL ? type->of_type : type;
        if (nullable->kind == GQL_KIND_LIST) {
            for (const struct gql_value *it = val->items; it; it = it->next)
                gql_vcheck_value(v, it, nullable->of_type, false);
            return;
        }
        if (custom_scalar(type))
            check_leaf(v, val, type);
        else
            mismatch(v, val, type);
        record_uses(v, val, type);
    } else if (val->kind == GQL_VALUE_OBJECT) {
        if (gql_named_type(type)->kind == GQL_KIND_INPUT_OBJECT) {
            check_object(v, val, gql_named_type(type));
            return;
        }
        if (custom_scalar(type))
            check_leaf(v, val, type);
        else
            mismatch(v, val, type);
        record_uses(v, val, NULL);
    } else {
        check_leaf(v, val, type);
    }
}
