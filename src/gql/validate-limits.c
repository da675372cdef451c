/*
 * Operation limits beyond the spec: aliases, field depth and cost, measured on the operation
 * as it would run, each fragment counted at every place it is spread. A fragment is measured
 * once (its aliases, fields and depth below its root) and its figures are added where it is
 * spread, so a "fragment bomb" (each fragment spreading the previous one twice) costs time in
 * the size of the document while its figures grow exponentially; sums saturate at
 * UINT64_MAX. Fragments are measured in dependency order with an explicit stack, so a long
 * chain of fragments cannot exhaust the C stack; recursion follows only the document's own
 * nesting, which the parser bounds.
 */
#include <stdio.h>

#include "gql/validate.h"

#define LIMIT_CODE "QUERY_TOO_COMPLEX"

struct measure {
    uint64_t aliases, cost, depth; /* depth: of the deepest field, the root fields being 1 */
    uint8_t state;                 /* fragments: 0 not yet, 1 in progress, 2 done */
};

struct lctx {
    const struct gql_schema *s;
    struct arena *a;
    struct gql_vmap names; /* fragment name -> index */
    const struct gql_def **frags;
    struct measure *m;
    size_t n;
    uint32_t *stack; /* index * 2 + phase (1: measure it, its spreads being done) */
    size_t top, cap;
};

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

/* Adds the figures of <sels>, whose fields are at depth <depth>, to *out. Spread fragments
 * must be measured already (a fragment still in progress, only in a cycle, counts 0). */
static void measure_set(const struct lctx *l, const struct gql_selection *sels, uint64_t depth,
                        struct measure *out)
{
    for (const struct gql_selection *s = sels; s; s = s->next) {
        if (s->kind == GQL_SEL_FIELD) {
            out->cost = sat_add(out->cost, 1);
            out->aliases = sat_add(out->aliases, s->alias.len > 0);
            out->depth = max_u64(out->depth, depth);
            measure_set(l, s->selections, depth + 1, out);
        } else if (s->kind == GQL_SEL_INLINE) {
            measure_set(l, s->selections, depth, out);
        } else {
            uint32_t i = gql_vmap_get(&l->names, s->name);
            const struct measure *f = i == GQL_V_NONE ? NULL : &l->m[i];

            if (f == NULL || f->state != 2)
                continue;
            out->cost = sat_add(out->cost, f->cost);
            out->aliases = sat_add(out->aliases, f->aliases);
            if (f->depth > 0)
                out->depth = max_u64(out->depth, sat_add(depth - 1, f->depth));
        }
    }
}

static bool push(struct lctx *l, uint32_t item)
{
    if (l->top == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        uint32_t *p = arena_alloc(l->a, ncap * sizeof(*p));

        if (p == NULL)
            return false;
        if (l->top)
            memcpy(p, l->stack, l->top * sizeof(*p));
        l->stack = p;
        l->cap = ncap;
    }
    l->stack[l->top++] = item;
    return true;
}

/* Pushes each fragment spread in <sels> that is not measured or being measured. */
static bool push_spreads(struct lctx *l, const struct gql_selection *sels)
{
    for (const struct gql_selection *s = sels; s; s = s->next) {
        uint32_t i;

        if (s->kind != GQL_SEL_SPREAD) {
            if (!push_spreads(l, s->selections))
                return false;
            continue;
        }
        i = gql_vmap_get(&l->names, s->name);
        if (i != GQL_V_NONE && l->m[i].state == 0 && !push(l, i * 2))
            return false;
    }
    return true;
}

/* Measures every fragment <sels> reaches, each after the fragments it spreads. */
static bool measure_fragments(struct lctx *l, const struct gql_selection *sels)
{
    if (!push_spreads(l, sels))
        return false;
    while (l->top > 0) {
        uint32_t item = l->stack[--l->top], i = item / 2;

        if (item % 2 == 1) {
            measure_set(l, l->frags[i]->selections, 1, &l->m[i]);
            l->m[i].state = 2;
        } else if (l->m[i].state == 0) {
            l->m[i].state = 1;
            if (!push(l, i * 2 + 1) || !push_spreads(l, l->frags[i]->selections))
                return false;
        }
    }
    return true;
}

static bool index_fragments(struct lctx *l, const struct gql_doc *d)
{
    bool ok;

    for (const struct gql_def *def = d->defs; def; def = def->next)
        l->n += def->kind == GQL_DEF_FRAGMENT;
    l->frags = arena_alloc(l->a, (l->n + 1) * sizeof(*l->frags));
    l->m = arena_zalloc(l->a, (l->n + 1) * sizeof(*l->m));
    if (l->frags == NULL || l->m == NULL)
        return false;
    l->n = 0;
    for (const struct gql_def *def = d->defs; def; def = def->next) {
        if (def->kind != GQL_DEF_FRAGMENT)
            continue;
        l->frags[l->n] = def;
        gql_vmap_put(l->a, &l->names, def->name, (uint32_t)l->n++, &ok);
        if (!ok)
            return false;
    }
    return true;
}

/* Appends one error to the list at *errs. */
static struct gql_error **list_tail(struct gql_error **errs)
{
    while (*errs != NULL)
        errs = &(*errs)->next;
    return errs;
}

int gql_check_limits(const struct gql_schema *s, const struct gql_doc *d, const struct gql_def *op,
                     const struct gql_limits *lim, struct arena *a, struct gql_error **errs)
{
    static const char *const kinds[] = {"query", "mutation", "subscription"};
    struct lctx l = {.s = s, .a = a};
    struct measure m = {0};
    struct gql_error **tail = list_tail(errs);
    const char *kind = kinds[op->op];
    uint64_t max_aliases = lim && lim->max_aliases ? lim->max_aliases : GQL_DEFAULT_MAX_ALIASES;
    uint64_t max_depth =
        lim && lim->max_field_depth ? lim->max_field_depth : GQL_DEFAULT_MAX_FIELD_DEPTH;
    uint64_t max_cost = lim && lim->max_cost ? lim->max_cost : GQL_DEFAULT_MAX_COST;

    if (!index_fragments(&l, d) || !measure_fragments(&l, op->selections)) {
        gql_error_add(a, &tail, op->loc, LIMIT_CODE,
                      "%s is too large to measure within the memory allowed", kind);
        return ERR_LIMIT;
    }
    measure_set(&l, op->selections, 1, &m);
    if (m.aliases > max_aliases)
        gql_error_add(a, &tail, op->loc, LIMIT_CODE,
                      "%s has %" PRIu64 " aliases; the limit is %" PRIu64 " (max_aliases)", kind,
                      m.aliases, max_aliases);
    else if (m.depth > max_depth)
        gql_error_add(a, &tail, op->loc, LIMIT_CODE,
                      "%s nests fields %" PRIu64 " deep; the limit is %" PRIu64
                      " (max_field_depth)",
                      kind, m.depth, max_depth);
    else if (m.cost > max_cost)
        gql_error_add(a, &tail, op->loc, LIMIT_CODE,
                      "%s costs %s%" PRIu64 " (fields, each counted where it runs); the limit is "
                      "%" PRIu64 " (max_cost)",
                      kind, m.cost == UINT64_MAX ? "at least " : "", m.cost, max_cost);
    else
        return 0;
    return ERR_LIMIT;
}
