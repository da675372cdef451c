/*
 * The walk of one operation or fragment with the type each place has in the schema: fields
 * on objects, interfaces and unions (5.3.1), leaf selections (5.3.3), arguments (5.4.1,
 * 5.4.2, 5.4.2.1), fragment spreads and inline fragments (5.5.1.2, 5.5.1.3, 5.5.2.1,
 * 5.5.2.3), directives (5.7.1–5.7.3) and variable definitions (5.8.1, 5.8.2, type names and
 * default values). Values go to validate-values.c. Along the way it records what the
 * whole-document rules need: spreads, variable uses and selection sets.
 *
 * Where a place is unknown (a field the type lacks, a fragment on an unknown type) the walk
 * goes on below it without a type, so that each problem is reported once and variables are
 * still seen. Recursion follows the document's nesting, which the parser bounds.
 */
#include <stdio.h>

#include "gql/validate.h"

#define OWNER_MAX 200

/* ---------------------------------------------------------------- arguments */

/* 5.4.2.1: each non-null argument without a default is given. */
static void check_required(struct gql_vctx *v, const struct gql_argument *args, const char *owner,
                           const struct gql_sarg *defs, size_t ndefs, struct gql_loc loc)
{
    for (size_t i = 0; i < ndefs && !v->full; i++) {
        const struct gql_argument *a = args;
        char tn[96];

        if (defs[i].type->kind != GQL_KIND_NON_NULL || defs[i].default_value != NULL)
            continue;
        while (a != NULL && !slice_eq(a->name, defs[i].name))
            a = a->next;
        if (a != NULL)
            continue; /* a null given is for 5.6.1 */
        gql_type_describe(defs[i].type, tn, sizeof(tn));
        gql_verror(v, loc,
                   "Argument \"" SLICE_FMT "\" of type \"%s\" is required on %s, but it was not "
                   "given.",
                   SLICE_ARG(defs[i].name), tn, owner);
    }
}

void gql_vcheck_args(struct gql_vctx *v, const struct gql_argument *args, const char *owner,
                     const struct gql_sarg *defs, size_t ndefs, bool known, struct gql_loc loc)
{
    char hint[160];
    size_t n = 0;

    for (const struct gql_argument *a = args; a; a = a->next)
        n++;
    if (n > 1) {
        struct slice *names = arena_alloc(v->a, n * sizeof(*names));
        struct gql_loc *locs = arena_alloc(v->a, n * sizeof(*locs));
        size_t i = 0;

        if (names == NULL || locs == NULL) {
            gql_vnomem(v);
            return;
        }
        for (const struct gql_argument *a = args; a; a = a->next, i++) {
            names[i] = a->name;
            locs[i] = a->loc;
        }
        gql_vcheck_unique(v, names, locs, n, true, "argument", "");
    }
    for (const struct gql_argument *a = args; a && !v->full; a = a->next) {
        const struct gql_sarg *def = known ? gql_field_arg(defs, ndefs, a->name) : NULL;

        if (known && def == NULL)
            gql_verror(v, a->loc, "Unknown argument \"" SLICE_FMT "\" on %s.%s", SLICE_ARG(a->name),
                       owner,
                       gql_vsuggest(a->name, ndefs ? &defs[0].name : NULL, ndefs, sizeof(*defs),
                                    hint, sizeof(hint)));
        gql_vcheck_value(v, a->value, def ? def->type : NULL, def && def->default_value);
    }
    if (known)
        check_required(v, args, owner, defs, ndefs, loc);
}

/* ---------------------------------------------------------------- directives */

/* 5.7.3: the first use of each non-repeatable directive seen at this place. */
struct dir_seen {
    const struct gql_sdirective *def;
    const struct gql_directive *first;
};

static void check_repeat(struct gql_vctx *v, struct dir_seen *seen, size_t *nseen,
                         const struct gql_sdirective *sd, const struct gql_directive *d)
{
    struct gql_error *e;

    if (sd->repeatable)
        return;
    for (size_t i = 0; i < *nseen; i++) {
        if (seen[i].def != sd)
            continue;
        e = gql_verror(v, seen[i].first->loc,
                       "Directive \"@" SLICE_FMT "\" is not repeatable but is given more than once "
                       "here.",
                       SLICE_ARG(d->name));
        if (e != NULL) {
            gql_verror_key(v, d->loc);
            gql_verror_loc(v, e, d->loc);
        }
        return;
    }
    seen[(*nseen)++] = (struct dir_seen){sd, d};
}

void gql_vcheck_directives(struct gql_vctx *v, const struct gql_directive *dirs,
                           enum gql_dir_loc where)
{
    struct dir_seen *seen = NULL;
    size_t nseen = 0;
    char owner[OWNER_MAX];

    if (dirs != NULL && dirs->next != NULL) {
        seen = arena_alloc(v->a, (v->s->ndirectives + 1) * sizeof(*seen));
        if (seen == NULL) {
            gql_vnomem(v);
            return;
        }
    }
    for (const struct gql_directive *d = dirs; d && !v->full; d = d->next) {
        const struct gql_sdirective *sd = gql_schema_directive(v->s, d->name);

        snprintf(owner, sizeof(owner), "directive \"@" SLICE_FMT "\"", SLICE_ARG(d->name));
        if (sd == NULL) {
            gql_verror(v, d->loc, "Unknown directive \"@" SLICE_FMT "\".", SLICE_ARG(d->name));
            gql_vcheck_args(v, d->args, owner, NULL, 0, false, d->loc);
            continue;
        }
        if (!(sd->locations & (1u << where)))
            gql_verror(v, d->loc, "Directive \"@" SLICE_FMT "\" may not be used on %s.",
                       SLICE_ARG(d->name), gql_dir_loc_names[where]);
        if (seen != NULL)
            check_repeat(v, seen, &nseen, sd, d);
        gql_vcheck_args(v, d->args, owner, sd->args, sd->nargs, true, d->loc);
    }
}

/* ---------------------------------------------------------------- selections */

static void walk_set(struct gql_vctx *v, const struct gql_selection *sels,
                     const struct gql_stype *parent);

static void add_set(struct gql_vctx *v, const struct gql_selection *sels,
                    const struct gql_stype *parent)
{
    if (!gql_vgrow(v, (void **)&v->sets, &v->capsets, v->nsets, sizeof(*v->sets)))
        return;
    v->sets[v->nsets++] = (struct gql_vset){sels, parent};
}

static void add_spread(struct gql_vctx *v, const struct gql_selection *sel, uint32_t target)
{
    struct gql_vdef *vd = v->cur;

    if (!gql_vgrow(v, (void **)&vd->spreads, &vd->capspreads, vd->nspreads, sizeof(*vd->spreads)))
        return;
    vd->spreads[vd->nspreads++] = (struct gql_vspread){sel, target};
}

/* 5.3.1 and 5.3.3 for field <sel> on <parent>; returns the type below it (NULL: unknown). */
static const struct gql_stype *check_field(struct gql_vctx *v, const struct gql_selection *sel,
                                           const struct gql_stype *parent)
{
    const struct gql_sfield *f = parent ? gql_type_field(v->s, parent, sel->name) : NULL;
    const struct gql_stype *t;
    char owner[OWNER_MAX], tn[96], hint[160];

    if (parent == NULL)
        return gql_vcheck_args(v, sel->args, "", NULL, 0, false, sel->loc), NULL;
    snprintf(owner, sizeof(owner), "field \"" SLICE_FMT "." SLICE_FMT "\"", SLICE_ARG(parent->name),
             SLICE_ARG(sel->name));
    if (f == NULL) {
        if (parent->kind == GQL_KIND_UNION)
            gql_verror(v, sel->loc,
                       "Union \"" SLICE_FMT "\" has no field \"" SLICE_FMT "\": a union has "
                       "only __typename; select other fields in fragments on its members.",
                       SLICE_ARG(parent->name), SLICE_ARG(sel->name));
        else
            gql_verror(v, sel->loc, "Type \"" SLICE_FMT "\" has no field \"" SLICE_FMT "\".%s",
                       SLICE_ARG(parent->name), SLICE_ARG(sel->name),
                       gql_vsuggest(sel->name, parent->nfields ? &parent->fields[0].name : NULL,
                                    parent->nfields, sizeof(*parent->fields), hint, sizeof(hint)));
        return gql_vcheck_args(v, sel->args, owner, NULL, 0, false, sel->loc), NULL;
    }
    gql_vcheck_args(v, sel->args, owner, f->args, f->nargs, true, sel->loc);
    t = gql_named_type(f->type);
    gql_type_describe(f->type, tn, sizeof(tn));
    if (gql_is_leaf(t) && sel->selections != NULL)
        gql_verror(v, sel->selections_loc,
                   "Field \"" SLICE_FMT "\" must not have a selection: its type \"%s\" has no "
                   "subfields.",
                   SLICE_ARG(sel->name), tn);
    else if (!gql_is_leaf(t) && sel->selections == NULL)
        gql_verror(v, sel->loc,
                   "Field \"" SLICE_FMT "\" of type \"%s\" must have a selection of subfields, "
                   "as in \"" SLICE_FMT " { ... }\".",
                   SLICE_ARG(sel->name), tn, SLICE_ARG(sel->name));
    return gql_is_composite(t) ? t : NULL;
}

/* A fragment's type condition when it names a composite type, else NULL. */
static const struct gql_stype *frag_type(struct gql_vctx *v, const struct gql_def *frag)
{
    const struct gql_stype *t = gql_schema_type(v->s, frag->type_cond);

    return t && gql_is_composite(t) ? t : NULL;
}

/* 5.5.2.3: a fragment on <t> within <parent> can apply to some object. */
static void check_possible(struct gql_vctx *v, const struct gql_selection *sel,
                           const struct gql_stype *parent, const struct gql_stype *t)
{
    if (parent == NULL || t == NULL || gql_types_overlap(parent, t))
        return;
    if (sel->kind == GQL_SEL_SPREAD)
        gql_verror(v, sel->loc,
                   "Fragment \"" SLICE_FMT "\" cannot be spread here: objects of type \"" SLICE_FMT
                   "\" can never be of type \"" SLICE_FMT "\".",
                   SLICE_ARG(sel->name), SLICE_ARG(parent->name), SLICE_ARG(t->name));
    else
        gql_verror(v, sel->loc,
                   "Fragment cannot be spread here: objects of type \"" SLICE_FMT "\" can never "
                   "be of type \"" SLICE_FMT "\".",
                   SLICE_ARG(parent->name), SLICE_ARG(t->name));
}

static void walk_spread(struct gql_vctx *v, const struct gql_selection *sel,
                        const struct gql_stype *parent)
{
    uint32_t i = gql_vmap_get(&v->frag_names, sel->name);

    gql_vcheck_directives(v, sel->directives, GQL_DL_FRAGMENT_SPREAD);
    add_spread(v, sel, i);
    if (i == GQL_V_NONE)
        gql_verror(v, sel->name_loc,
                   "Unknown fragment \"" SLICE_FMT "\": no fragment has that name.",
                   SLICE_ARG(sel->name));
    else
        check_possible(v, sel, parent, frag_type(v, v->frags[i].def));
}

/* The type a type condition <name> names at <loc> when it is a composite type; reports it
 * otherwise (5.5.1.2, 5.5.1.3). <what> says whose condition it is. */
static const struct gql_stype *type_condition(struct gql_vctx *v, struct slice name,
                                              struct gql_loc loc, const char *what)
{
    const struct gql_stype *t = gql_schema_type(v->s, name);

    if (t == NULL)
        gql_verror(v, loc, "Unknown type \"" SLICE_FMT "\": the schema has no such type.",
                   SLICE_ARG(name));
    else if (!gql_is_composite(t))
        gql_verror(v, loc,
                   "%s has type condition \"" SLICE_FMT "\", which is not an object, interface "
                   "or union: only those have fields to select.",
                   what, SLICE_ARG(name));
    return t && gql_is_composite(t) ? t : NULL;
}

static void walk_inline(struct gql_vctx *v, const struct gql_selection *sel,
                        const struct gql_stype *parent)
{
    const struct gql_stype *t = parent;

    gql_vcheck_directives(v, sel->directives, GQL_DL_INLINE_FRAGMENT);
    if (sel->type_cond.len > 0) {
        t = type_condition(v, sel->type_cond, sel->type_cond_loc, "Fragment");
        check_possible(v, sel, parent, t);
    }
    walk_set(v, sel->selections, t);
}

static void walk_set(struct gql_vctx *v, const struct gql_selection *sels,
                     const struct gql_stype *parent)
{
    add_set(v, sels, parent);
    for (const struct gql_selection *s = sels; s && !v->full; s = s->next) {
        if (s->kind == GQL_SEL_SPREAD) {
            walk_spread(v, s, parent);
        } else if (s->kind == GQL_SEL_INLINE) {
            walk_inline(v, s, parent);
        } else {
            const struct gql_stype *t;

            gql_vcheck_directives(v, s->directives, GQL_DL_FIELD);
            t = check_field(v, s, parent);
            if (s->selections != NULL)
                walk_set(v, s->selections, t);
        }
    }
}

/* ---------------------------------------------------------------- definitions */

/* The named type at the bottom of AST type <t>. */
static const struct gql_type *ast_named(const struct gql_type *t)
{
    while (t->kind != GQL_TYPE_NAMED)
        t = t->of_type;
    return t;
}

/* 5.8.2, known type names and default values of one variable definition. */
static void check_var_def(struct gql_vctx *v, const struct gql_var_def *vd)
{
    const struct gql_stype *t = gql_schema_type_ref(v->s, vd->type, v->a);
    const struct gql_type *named = ast_named(vd->type);
    char tn[96];

    gql_vcheck_directives(v, vd->directives, GQL_DL_VARIABLE_DEFINITION);
    if (vd->default_value != NULL && (t == NULL || !gql_is_input_type(t)))
        gql_vcheck_value(v, vd->default_value, NULL, false); /* what holds whatever the type */
    if (t == NULL) {
        if (gql_schema_type(v->s, named->name) != NULL) {
            gql_vnomem(v);
            return;
        }
        gql_verror(v, named->loc, "Unknown type \"" SLICE_FMT "\": the schema has no such type.",
                   SLICE_ARG(named->name));
        return;
    }
    if (!gql_is_input_type(t)) {
        gql_type_describe(t, tn, sizeof(tn));
        gql_verror(v, vd->type->loc,
                   "Variable \"$" SLICE_FMT "\" cannot be of type \"%s\": variables take input "
                   "types (scalars, enums and input objects).",
                   SLICE_ARG(vd->name), tn);
        return;
    }
    if (vd->default_value != NULL)
        gql_vcheck_value(v, vd->default_value, t, false);
}

/* 5.8.1 and each definition. */
static void check_var_defs(struct gql_vctx *v, const struct gql_var_def *defs)
{
    struct slice *names;
    struct gql_loc *locs;
    size_t n = 0, i = 0;

    for (const struct gql_var_def *d = defs; d; d = d->next)
        n++;
    if (n > 1) {
        names = arena_alloc(v->a, n * sizeof(*names));
        locs = arena_alloc(v->a, n * sizeof(*locs));
        if (names == NULL || locs == NULL) {
            gql_vnomem(v);
            return;
        }
        for (const struct gql_var_def *d = defs; d; d = d->next, i++) {
            names[i] = d->name;
            /* graphql-js points at the name, just after the '$' */
            locs[i] = d->name_loc;
        }
        gql_vcheck_unique(v, names, locs, n, true, "variable", "$");
    }
    for (const struct gql_var_def *d = defs; d && !v->full; d = d->next)
        check_var_def(v, d);
}

static void walk_operation(struct gql_vctx *v, struct gql_vdef *vd)
{
    static const char *const kinds[] = {"query", "mutation", "subscription"};
    static const char *const roots[] = {"Query", "Mutation", "Subscription"};
    const struct gql_def *d = vd->def;
    const struct gql_stype *root = d->op == GQL_OP_QUERY      ? v->s->query
                                   : d->op == GQL_OP_MUTATION ? v->s->mutation
                                                              : v->s->subscription;

    if (root == NULL)
        gql_verror(v, d->loc,
                   "The schema has no %s root type (%s), so it cannot run %s operations.",
                   kinds[d->op], roots[d->op], kinds[d->op]);
    vd->type = root;
    gql_vcheck_directives(v, d->directives, (enum gql_dir_loc)(GQL_DL_QUERY + d->op));
    check_var_defs(v, d->var_defs);
    walk_set(v, d->selections, root);
}

static void walk_fragment(struct gql_vctx *v, struct gql_vdef *vd)
{
    const struct gql_def *d = vd->def;
    char what[OWNER_MAX];

    snprintf(what, sizeof(what), "Fragment \"" SLICE_FMT "\"", SLICE_ARG(d->name));
    vd->type = type_condition(v, d->type_cond, d->type_cond_loc, what);
    gql_vcheck_directives(v, d->directives, GQL_DL_FRAGMENT_DEFINITION);
    walk_set(v, d->selections, vd->type);
}

void gql_vwalk_def(struct gql_vctx *v, struct gql_vdef *vd)
{
    v->cur = vd;
    if (vd->def->kind == GQL_DEF_OPERATION)
        walk_operation(v, vd);
    else
        walk_fragment(v, vd);
    v->cur = NULL;
}
