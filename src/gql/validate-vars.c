/*
 * Rules of one operation that look through its fragments: every variable used is defined
 * (5.8.3), every variable defined is used (5.8.4), each use fits the variable's type (5.8.5),
 * and a subscription selects one root field that is not introspection (5.2.3.1).
 *
 * The walk recorded each definition's variable uses once, typed by the definition's own
 * places; here each operation visits the fragments it reaches, each once. Uses with the same
 * name, type and default are linked, so that an operation looks at each distinct kind of use
 * once (a fragment that repeats $x a thousand times costs one look per operation); a finding
 * is still reported at every place.
 */
#include <stdio.h>

#include "gql/validate.h"

#define NAME_MAX_MSG 200

/* ---------------------------------------------------------------- distinct uses */

static bool same_kind(const struct gql_vuse *a, const struct gql_vuse *b)
{
    if (a->has_default != b->has_default)
        return false;
    return a->type == b->type || (a->type && b->type && gql_types_equal(a->type, b->type));
}

/* Links the uses of <vd> with the same name, type and default through next_same and lists the
 * first of each in vd->distinct. */
static bool index_uses(struct gql_vctx *v, struct gql_vdef *vd)
{
    struct gql_vmap names = {0}; /* name -> its first kind */
    uint32_t *last, *next_kind;  /* per kind: its last use; the next kind of the same name */
    bool ok;

    if (vd->distinct != NULL || vd->nuses == 0)
        return true;
    vd->distinct = arena_alloc(v->a, vd->nuses * sizeof(*vd->distinct));
    last = arena_alloc(v->a, vd->nuses * sizeof(*last));
    next_kind = arena_alloc(v->a, vd->nuses * sizeof(*next_kind));
    if (vd->distinct == NULL || last == NULL || next_kind == NULL)
        return gql_vnomem(v), false;
    for (size_t i = 0; i < vd->nuses; i++) {
        struct gql_vuse *u = &vd->uses[i];
        uint32_t k = gql_vmap_put(v->a, &names, u->node->str, (uint32_t)vd->ndistinct, &ok);
        uint32_t tail = GQL_V_NONE, d = (uint32_t)vd->ndistinct;

        if (!ok)
            return gql_vnomem(v), false;
        for (; k != GQL_V_NONE && !same_kind(&vd->uses[vd->distinct[k]], u); k = next_kind[k])
            tail = k;
        if (k != GQL_V_NONE) {
            vd->uses[last[k]].next_same = (uint32_t)i;
            last[k] = (uint32_t)i;
            continue;
        }
        if (tail != GQL_V_NONE)
            next_kind[tail] = d;
        next_kind[d] = GQL_V_NONE;
        last[d] = (uint32_t)i;
        vd->distinct[vd->ndistinct++] = (uint32_t)i;
    }
    return true;
}

/* ---------------------------------------------------------------- 5.8.3 – 5.8.5 */

/* The variables an operation defines. */
struct op_vars {
    const struct gql_def *op;
    struct gql_vmap names; /* name -> index of its last definition */
    const struct gql_var_def **defs;
    const struct gql_stype **types; /* NULL when unknown */
    bool *used;
    size_t n;
};

/* " operation \"Q\"" for messages, or "" for an anonymous operation (into <buf>). */
static const char *op_name(const struct gql_def *op, const char *prefix, char *buf, size_t n)
{
    if (op->name.len == 0)
        return "";
    snprintf(buf, n, "%s operation \"%.*s\"", prefix,
             (int)(op->name.len < NAME_MAX_MSG ? op->name.len : NAME_MAX_MSG), op->name.ptr);
    return buf;
}

/* Spec AreTypesCompatible with the special case of IsVariableUsageAllowed: a nullable
 * variable may go where a non-null value is expected when it or the place has a default. */
static bool usage_allowed(const struct gql_stype *var, const struct gql_value *var_default,
                          const struct gql_stype *loc, bool loc_default)
{
    if (loc->kind == GQL_KIND_NON_NULL && var->kind != GQL_KIND_NON_NULL) {
        bool var_has = var_default != NULL && var_default->kind != GQL_VALUE_NULL;

        if (!var_has && !loc_default)
            return false;
        return gql_is_subtype(var, loc->of_type);
    }
    return gql_is_subtype(var, loc);
}

static void report_undefined(struct gql_vctx *v, const struct op_vars *ov,
                             const struct gql_vdef *vd, uint32_t first)
{
    char name[NAME_MAX_MSG + 40];

    op_name(ov->op, " by", name, sizeof(name));
    for (uint32_t i = first; i != GQL_V_NONE && !v->full; i = vd->uses[i].next_same) {
        const struct gql_value *node = vd->uses[i].node;
        struct gql_error *e =
            gql_verror(v, node->loc,
                       "Variable \"$" SLICE_FMT "\" is not defined%s: an "
                       "operation must define every variable it uses.",
                       SLICE_ARG(node->str), op_name(ov->op, " by", name, sizeof(name)));

        gql_verror_loc(v, e, ov->op->loc);
    }
}

static void report_misplaced(struct gql_vctx *v, const struct op_vars *ov, uint32_t var,
                             const struct gql_vdef *vd, uint32_t first)
{
    char vt[96], lt[96];

    gql_type_describe(ov->types[var], vt, sizeof(vt));
    gql_type_describe(vd->uses[first].type, lt, sizeof(lt));
    for (uint32_t i = first; i != GQL_V_NONE && !v->full; i = vd->uses[i].next_same) {
        const struct gql_value *node = vd->uses[i].node;
        struct gql_error *e =
            gql_verror(v, ov->defs[var]->loc,
                       "Variable \"$" SLICE_FMT "\" of type \"%s\" is used where a value of type "
                       "\"%s\" is expected.",
                       SLICE_ARG(node->str), vt, lt);

        if (e != NULL) {
            gql_verror_key(v, node->loc);
            gql_verror_loc(v, e, node->loc);
        }
    }
}

/* The uses inside <vd> (not through its spreads) against the operation's variables. */
static void check_uses(struct gql_vctx *v, struct op_vars *ov, struct gql_vdef *vd)
{
    if (!index_uses(v, vd))
        return;
    for (size_t k = 0; k < vd->ndistinct && !v->full; k++) {
        const struct gql_vuse *u = &vd->uses[vd->distinct[k]];
        uint32_t i = gql_vmap_get(&ov->names, u->node->str);

        if (i == GQL_V_NONE) {
            report_undefined(v, ov, vd, vd->distinct[k]);
            continue;
        }
        ov->used[i] = true;
        if (u->type != NULL && ov->types[i] != NULL &&
            !usage_allowed(ov->types[i], ov->defs[i]->default_value, u->type, u->has_default))
            report_misplaced(v, ov, i, vd, vd->distinct[k]);
    }
}

static bool op_vars_init(struct gql_vctx *v, struct op_vars *ov, const struct gql_def *op)
{
    size_t i = 0;
    bool ok;

    ov->op = op;
    for (const struct gql_var_def *d = op->var_defs; d; d = d->next)
        ov->n++;
    ov->defs = arena_alloc(v->a, (ov->n + 1) * sizeof(*ov->defs));
    ov->types = arena_alloc(v->a, (ov->n + 1) * sizeof(*ov->types));
    ov->used = arena_zalloc(v->a, (ov->n + 1) * sizeof(*ov->used));
    if (ov->defs == NULL || ov->types == NULL || ov->used == NULL)
        return false;
    for (const struct gql_var_def *d = op->var_defs; d; d = d->next, i++) {
        ov->defs[i] = d;
        ov->types[i] = gql_schema_type_ref(v->s, d->type, v->a);
    }
    /* a name defined twice stands for its last definition, as in graphql-js */
    while (i-- > 0) {
        gql_vmap_put(v->a, &ov->names, ov->defs[i]->name, (uint32_t)i, &ok);
        if (!ok)
            return false;
    }
    return true;
}

void gql_vcheck_variables(struct gql_vctx *v, struct gql_vdef *op)
{
    struct op_vars ov = {0};
    uint32_t stamp = gql_vstamp(v);
    uint32_t *stack;
    char name[NAME_MAX_MSG + 40];
    size_t top = 0;

    if (v->fstack == NULL) /* shared by the operations: each fragment is pushed once */
        v->fstack = arena_alloc(v->a, (v->nfrags + 1) * sizeof(*v->fstack));
    stack = v->fstack;
    if (stack == NULL || !op_vars_init(v, &ov, op->def)) {
        gql_vnomem(v);
        return;
    }
    for (struct gql_vdef *vd = op; vd != NULL && !v->full;) {
        check_uses(v, &ov, vd);
        for (size_t k = 0; k < vd->nspreads; k++) {
            uint32_t t = vd->spreads[k].target;

            if (t != GQL_V_NONE && v->frags[t].mark != stamp) {
                v->frags[t].mark = stamp;
                stack[top++] = t;
            }
        }
        vd = top > 0 ? &v->frags[stack[--top]] : NULL;
    }
    for (size_t i = 0; i < ov.n && !v->full; i++)
        if (!ov.used[gql_vmap_get(&ov.names, ov.defs[i]->name)])
            gql_verror(v, ov.defs[i]->loc,
                       "Variable \"$" SLICE_FMT "\" is never used%s: every variable an operation "
                       "defines must be used.",
                       SLICE_ARG(ov.defs[i]->name), op_name(op->def, " in", name, sizeof(name)));
}

/* ---------------------------------------------------------------- 5.2.3.1 */

/* The root fields of a subscription as CollectFields groups them, without variables. */
struct root_fields {
    struct gql_vmap keys; /* response name -> group */
    const struct gql_selection **nodes;
    uint32_t *group;
    size_t n, cap, ngroups;
    const struct gql_selection **stack; /* the next selection of each open list */
    size_t top, capstack;
};

/* @skip(if: true) or @include(if: false), literally: without variables, a selection whose
 * condition is a variable is kept (the rule then errs on the safe side). */
static bool skipped(const struct gql_directive *dirs)
{
    for (const struct gql_directive *d = dirs; d; d = d->next) {
        bool skip = slice_eq_cstr(d->name, "skip");

        if (!skip && !slice_eq_cstr(d->name, "include"))
            continue;
        for (const struct gql_argument *a = d->args; a; a = a->next)
            if (slice_eq_cstr(a->name, "if") && a->value->kind == GQL_VALUE_BOOLEAN &&
                a->value->boolean == skip)
                return true;
    }
    return false;
}

/* Spec DoesFragmentTypeApply for type condition <name> and object type <root>. */
static bool applies(const struct gql_vctx *v, struct slice name, const struct gql_stype *root)
{
    const struct gql_stype *t = gql_schema_type(v->s, name);

    if (t == NULL)
        return false;
    return t == root || (gql_is_abstract(t) && gql_is_possible(t, root));
}

static bool push_list(struct gql_vctx *v, struct root_fields *rf, const struct gql_selection *s)
{
    if (!gql_vgrow(v, (void **)&rf->stack, &rf->capstack, rf->top, sizeof(*rf->stack)))
        return false;
    rf->stack[rf->top++] = s;
    return true;
}

static bool add_field(struct gql_vctx *v, struct root_fields *rf, const struct gql_selection *s)
{
    struct slice key = s->alias.len ? s->alias : s->name;
    size_t cap = rf->cap;
    uint32_t g;
    bool ok;

    g = gql_vmap_put(v->a, &rf->keys, key, (uint32_t)rf->ngroups, &ok);
    if (!ok || !gql_vgrow(v, (void **)&rf->nodes, &cap, rf->n, sizeof(*rf->nodes)) ||
        !gql_vgrow(v, (void **)&rf->group, &rf->cap, rf->n, sizeof(*rf->group)))
        return gql_vnomem(v), false;
    if (g == GQL_V_NONE)
        g = (uint32_t)rf->ngroups++;
    rf->nodes[rf->n] = s;
    rf->group[rf->n++] = g;
    return true;
}

static bool collect_root(struct gql_vctx *v, struct root_fields *rf, const struct gql_vdef *op)
{
    uint32_t stamp = gql_vstamp(v);

    if (!push_list(v, rf, op->def->selections))
        return false;
    while (rf->top > 0) {
        const struct gql_selection *s = rf->stack[rf->top - 1];
        struct gql_vdef *f;

        if (s == NULL) {
            rf->top--;
            continue;
        }
        rf->stack[rf->top - 1] = s->next;
        if (skipped(s->directives))
            continue;
        if (s->kind == GQL_SEL_FIELD) {
            if (!add_field(v, rf, s))
                return false;
        } else if (s->kind == GQL_SEL_INLINE) {
            if ((s->type_cond.len == 0 || applies(v, s->type_cond, op->type)) &&
                !push_list(v, rf, s->selections))
                return false;
        } else if ((f = gql_vfrag(v, s->name)) != NULL && f->mark != stamp) {
            f->mark = stamp;
            if (applies(v, f->def->type_cond, op->type) && !push_list(v, rf, f->def->selections))
                return false;
        }
    }
    return true;
}

/* One error for the fields of groups [from, to) (all of them when to is past the end). */
static void report_groups(struct gql_vctx *v, const struct root_fields *rf, size_t from, size_t to,
                          bool introspection, const char *name)
{
    struct gql_loc *locs = arena_alloc(v->a, rf->n * sizeof(*locs));
    struct gql_error *e;
    size_t n = 0;

    if (locs == NULL) {
        gql_vnomem(v);
        return;
    }
    for (size_t i = 0; i < rf->n; i++)
        if (rf->group[i] >= from && rf->group[i] < to)
            locs[n++] = rf->nodes[i]->loc;
    if (introspection)
        e = gql_verror(v, locs[0],
                       "%s must not select an introspection top level field: only a field of "
                       "the subscription type has a source stream.",
                       name);
    else
        e = gql_verror(v, locs[0],
                       "%s must select only one top level field: a subscription has one source "
                       "stream.",
                       name);
    if (e != NULL) {
        e->nlocations = 0;
        gql_verror_locs(v, e, locs, n);
    }
}

void gql_vcheck_subscription(struct gql_vctx *v, struct gql_vdef *op)
{
    struct root_fields rf = {0};
    char name[NAME_MAX_MSG + 40] = "Anonymous subscription";

    if (op->type == NULL || !collect_root(v, &rf, op))
        return;
    if (op->def->name.len > 0)
        snprintf(name, sizeof(name), "Subscription \"%.*s\"",
                 (int)(op->def->name.len < NAME_MAX_MSG ? op->def->name.len : NAME_MAX_MSG),
                 op->def->name.ptr);
    if (rf.ngroups > 1)
        report_groups(v, &rf, 1, rf.ngroups, false, name);
    /* groups are numbered as they first appear: item i starts group <next> or none */
    for (size_t i = 0, next = 0; i < rf.n && !v->full; i++) {
        const struct gql_selection *f = rf.nodes[i];

        if (rf.group[i] != next)
            continue;
        next++;
        if (f->name.len >= 2 && f->name.ptr[0] == '_' && f->name.ptr[1] == '_')
            report_groups(v, &rf, rf.group[i], rf.group[i] + 1, true, name);
    }
}
