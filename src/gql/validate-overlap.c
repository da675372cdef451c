/*
 * Field selection merging (spec 5.3.2, FieldsInSetCanMerge): fields with the same response
 * name in a selection set, fragments included, must be the same field with the same
 * arguments unless their parents are different object types, and must always have the same
 * response shape. The search is the one graphql-js uses, which finds what the spec's
 * algorithm finds without expanding fragments:
 *
 *   - each selection set is collected once (cached) into a field map, response name to
 *     fields, inline fragments merged and the fragments it spreads kept as names;
 *   - fields within one map are compared pairwise; a map against each fragment it spreads
 *     and their spreads, each (map, fragment) once; two fragments against each other and
 *     each against the other's spreads, each pair of fragments once (both memoised with
 *     whether the parents were exclusive already, since such a comparison covers less);
 *   - two fields that may merge have their sub-selections compared the same way.
 *
 * Three additions keep hostile documents cheap. Structurally identical things count once:
 * when a response name has many fields, one of each kind is compared (identical fields only
 * conflict where their own sub-selections do, which is found there); a map is compared with
 * a fragment once for all maps alike (a long chain of fragments that each select the same
 * field would otherwise cost the square of its length), unless that found a conflict, which
 * is then found again at each place; and identical fragments are not compared. A depth limit
 * keeps chains of fragments nested through fields from exhausting the C stack, and a work
 * limit bounds what remains (many different fragments spread side by side); past either,
 * validation fails with an error that says so. Walks over fragments use work lists, not
 * recursion. As graphql-js does, meta fields (__typename…) have no definition here, so only
 * their names and arguments are compared.
 */
#include <stdio.h>

#include "gql/validate.h"

#define REP_MIN   8        /* response names with more fields compare kinds, not fields */
#define MAX_DEPTH 150      /* nested comparisons of sub-selections */
#define WORK_MAX  1000000u /* comparisons in one document */

struct ogroup {
    struct slice key;
    struct gql_vfield *f;
    size_t n, cap;
    uint32_t *rep;     /* n > REP_MIN: the first field of each kind, in order */
    uint32_t *kind_of; /* and for each field, the first of its kind */
    size_t nrep;
};

struct omap {
    struct ogroup *g;
    size_t ng, capg;
    struct gql_vmap keys; /* response name -> group */
    uint32_t *frags;      /* the fragments spread, each once */
    size_t nfrags, capfrags;
    uint32_t *fkinds; /* nfrags > REP_MIN: one fragment of each kind (alike maps, spreads) */
    size_t nfkinds;
    struct omap *canon;      /* the first map with alike fields (itself when none was before) */
    struct omap *next_alike; /* canon maps with the same hash */
};

/* A fragment to compare with a field map (b: 0 first, then 1 | 2 * dirty after its spreads),
 * or a pair of fragments. */
struct work {
    uint32_t a, b;
};

struct octx {
    struct gql_vctx *v;
    struct work *w; /* the work list, shared: each use keeps to its part above */
    size_t nw, capw;
    struct gql_vpmap maps;        /* selection list -> struct omap * */
    struct gql_vpmap by_hash;     /* hash of a map -> first canon map with it */
    struct gql_vpmap frag_pairs;  /* fragment indexes (low, high) -> done */
    struct gql_vpmap map_frags;   /* (map, fragment) -> done */
    struct gql_vpmap canon_frags; /* (canon map, fragment) -> done, nothing found below */
    struct gql_vpmap reported;    /* the two fields of each conflict reported */
    uint32_t *seen;               /* per fragment: the collection that last added it */
    uint32_t collection;
    unsigned depth;
    uint64_t work;
    bool too_deep, too_much;
};

/* A list of conflicts; the top level's are reported as they are found. */
struct clist {
    struct gql_vconflict *head, **tail;
    size_t n;
    bool top;
};

static bool stopped(struct octx *o)
{
    return o->v->full || o->too_much;
}

/* Counts one step; false once the work limit is passed. */
static bool step(struct octx *o)
{
    if (++o->work > WORK_MAX)
        o->too_much = true;
    return !stopped(o);
}

/* Memo values: 1 done with parents not exclusive (covering both), 2 only with exclusive. */
static bool covers(uintptr_t had, bool excl)
{
    return had == 1 || (had == 2 && excl);
}

static bool memo_set(struct octx *o, struct gql_vpmap *m, uintptr_t a, uintptr_t b, bool excl)
{
    uintptr_t had = gql_vpmap_get(m, a, b);

    return gql_vpmap_set(o->v, m, a, b, had == 1 || !excl ? 1 : 2);
}

/* ---------------------------------------------------------------- field maps */

static struct ogroup *group_for(struct octx *o, struct omap *m, struct slice key)
{
    uint32_t i;
    bool ok;

    i = gql_vmap_put(o->v->a, &m->keys, key, (uint32_t)m->ng, &ok);
    if (!ok)
        return gql_vnomem(o->v);
    if (i != GQL_V_NONE)
        return &m->g[i];
    if (!gql_vgrow(o->v, (void **)&m->g, &m->capg, m->ng, sizeof(*m->g)))
        return NULL;
    m->g[m->ng] = (struct ogroup){.key = key};
    return &m->g[m->ng++];
}

static void add_field(struct octx *o, struct omap *m, const struct gql_stype *parent,
                      const struct gql_selection *s)
{
    struct ogroup *g = group_for(o, m, s->alias.len ? s->alias : s->name);
    const struct gql_sfield *def = NULL;

    if (g == NULL || !gql_vgrow(o->v, (void **)&g->f, &g->cap, g->n, sizeof(*g->f)))
        return;
    if (parent != NULL && (parent->kind == GQL_KIND_OBJECT || parent->kind == GQL_KIND_INTERFACE) &&
        !(s->name.len > 1 && s->name.ptr[0] == '_' && s->name.ptr[1] == '_'))
        def = gql_type_field(o->v->s, parent, s->name);
    g->f[g->n++] = (struct gql_vfield){parent, s, def};
}

static void add_frag(struct octx *o, struct omap *m, struct slice name)
{
    uint32_t i = gql_vmap_get(&o->v->frag_names, name);

    if (i == GQL_V_NONE || o->seen[i] == o->collection)
        return;
    o->seen[i] = o->collection;
    if (gql_vgrow(o->v, (void **)&m->frags, &m->capfrags, m->nfrags, sizeof(*m->frags)))
        m->frags[m->nfrags++] = i;
}

/* Fields and spreads of <sels> on <parent>, inline fragments merged (they nest no deeper
 * than the document). */
static void collect(struct octx *o, struct omap *m, const struct gql_stype *parent,
                    const struct gql_selection *sels)
{
    for (const struct gql_selection *s = sels; s && !o->v->oom; s = s->next) {
        if (s->kind == GQL_SEL_FIELD)
            add_field(o, m, parent, s);
        else if (s->kind == GQL_SEL_SPREAD)
            add_frag(o, m, s->name);
        else
            collect(o, m, s->type_cond.len ? gql_schema_type(o->v->s, s->type_cond) : parent,
                    s->selections);
    }
}

/* Maps are alike when their fields are: what they spread does not count, as comparing a map
 * with a fragment looks at the map's fields only. */
static uint64_t map_hash(const struct omap *m)
{
    uint64_t h = m->ng;

    for (size_t i = 0; i < m->ng; i++) {
        h = gql_vhash_mix(gql_vhash_mix(h, gql_vhash_slice(m->g[i].key)), m->g[i].n);
        for (size_t k = 0; k < m->g[i].n; k++)
            h = gql_vhash_mix(h, gql_vfield_hash(&m->g[i].f[k]));
    }
    return h;
}

static bool maps_alike(const struct omap *a, const struct omap *b)
{
    if (a->ng != b->ng)
        return false;
    for (size_t i = 0; i < a->ng; i++) {
        if (!slice_eq(a->g[i].key, b->g[i].key) || a->g[i].n != b->g[i].n)
            return false;
        for (size_t k = 0; k < a->g[i].n; k++)
            if (!gql_vfields_alike(&a->g[i].f[k], &b->g[i].f[k]))
                return false;
    }
    return true;
}

static bool same_spreads(const struct omap *a, const struct omap *b)
{
    return a->nfrags == b->nfrags &&
           (a->nfrags == 0 || memcmp(a->frags, b->frags, a->nfrags * sizeof(*a->frags)) == 0);
}

/* m->canon: the first map alike seen, found through the hash and checked. */
static void set_canon(struct octx *o, struct omap *m)
{
    uint64_t h = map_hash(m);
    struct omap *first = (struct omap *)gql_vpmap_get(&o->by_hash, (uintptr_t)h, 1);

    for (struct omap *c = first; c; c = c->next_alike) {
        if (maps_alike(c, m)) {
            m->canon = c;
            return;
        }
    }
    m->canon = m;
    m->next_alike = first;
    gql_vpmap_set(o->v, &o->by_hash, (uintptr_t)h, 1, (uintptr_t)m);
}

/* The field map of <sels>, collected once. */
static struct omap *fields_of(struct octx *o, const struct gql_stype *parent,
                              const struct gql_selection *sels)
{
    struct omap *m = (struct omap *)gql_vpmap_get(&o->maps, (uintptr_t)sels, 0);

    if (m != NULL || o->v->oom) /* after running out, a map may be incomplete */
        return o->v->oom ? NULL : m;
    m = arena_zalloc(o->v->a, sizeof(*m));
    if (m == NULL || !gql_vpmap_set(o->v, &o->maps, (uintptr_t)sels, 0, (uintptr_t)m))
        return gql_vnomem(o->v);
    o->collection++;
    collect(o, m, parent, sels);
    set_canon(o, m);
    return o->v->oom ? NULL : m;
}

static struct omap *frag_fields(struct octx *o, uint32_t frag)
{
    const struct gql_def *d = o->v->frags[frag].def;

    return fields_of(o, gql_schema_type(o->v->s, d->type_cond), d->selections);
}

/* How many fields of <g> to compare: all, or one of each kind (then <g>->rep says which). */
static size_t ncompared(struct octx *o, struct ogroup *g)
{
    if (g->n <= REP_MIN)
        return g->n;
    if (g->rep == NULL) {
        g->rep = arena_alloc(o->v->a, g->n * sizeof(*g->rep));
        g->kind_of = arena_alloc(o->v->a, g->n * sizeof(*g->kind_of));
        if (g->rep == NULL || g->kind_of == NULL)
            return gql_vnomem(o->v), 0;
        g->nrep = gql_vkinds(o->v, g->f, g->n, g->rep, g->kind_of);
    }
    return g->nrep;
}

/* Whether field <k> of <g> is of the kind of field <first> (itself when kinds are not used). */
static bool of_kind(const struct ogroup *g, size_t k, const struct gql_vfield *first)
{
    return g->n <= REP_MIN ? &g->f[k] == first : &g->f[g->kind_of[k]] == first;
}

static const struct gql_vfield *compared(const struct ogroup *g, size_t k)
{
    return &g->f[g->n <= REP_MIN ? k : g->rep[k]];
}

/* ---------------------------------------------------------------- conflicts */

static void clist_add(struct octx *o, struct clist *l, struct gql_vconflict *c)
{
    if (c == NULL)
        return;
    l->n++;
    if (l->top) {
        gql_vreport_conflict(o->v, &o->reported, c);
        return;
    }
    *l->tail = c;
    l->tail = &c->next;
}

static struct gql_vconflict *new_conflict(struct octx *o, struct slice key, const char *reason,
                                          const struct gql_vfield *a, const struct gql_vfield *b)
{
    struct gql_vconflict *c = arena_zalloc(o->v->a, sizeof(*c));

    if (c == NULL)
        return gql_vnomem(o->v);
    *c = (struct gql_vconflict){key, reason, NULL, a->node, b->node, NULL};
    return c;
}

/* graphql-js doTypesConflict: the same list and non-null wrappers, and at the bottom the same
 * leaf type (two composite types are compared through their sub-selections). */
static bool types_conflict(const struct gql_stype *a, const struct gql_stype *b)
{
    while (a->kind == GQL_KIND_LIST || b->kind == GQL_KIND_LIST || a->kind == GQL_KIND_NON_NULL ||
           b->kind == GQL_KIND_NON_NULL) {
        if (a->kind != b->kind)
            return true;
        a = a->of_type;
        b = b->of_type;
    }
    return (gql_is_leaf(a) || gql_is_leaf(b)) && a != b;
}

/* Why two fields conflict, in the arena: 0 different fields, 1 arguments, 2 types. */
static const char *reason_text(struct octx *o, const struct gql_vfield *a,
                               const struct gql_vfield *b, int what)
{
    struct slice n1 = a->node->name, n2 = b->node->name;
    char t1[96], t2[96];
    const char *r;

    if (what == 1)
        return "they are given different arguments";
    if (what == 0) {
        r = arena_printf(o->v->a, "\"%.*s\" and \"%.*s\" are different fields",
                         (int)(n1.len < 100 ? n1.len : 100), n1.ptr,
                         (int)(n2.len < 100 ? n2.len : 100), n2.ptr);
    } else {
        gql_type_describe(a->def->type, t1, sizeof(t1));
        gql_type_describe(b->def->type, t2, sizeof(t2));
        r = arena_printf(o->v->a, "they return the conflicting types \"%s\" and \"%s\"", t1, t2);
    }
    return r ? r : gql_vnomem(o->v);
}

static void subsel_conflicts(struct octx *o, bool excl, const struct gql_vfield *a,
                             const struct gql_vfield *b, struct clist *out);

/* graphql-js findConflict: fields <a> and <b> with response name <key>. */
static struct gql_vconflict *find_conflict(struct octx *o, bool parents_excl, struct slice key,
                                           const struct gql_vfield *a, const struct gql_vfield *b)
{
    bool excl =
        parents_excl || (a->parent != b->parent && a->parent && b->parent &&
                         a->parent->kind == GQL_KIND_OBJECT && b->parent->kind == GQL_KIND_OBJECT);
    struct clist subs = {NULL, &subs.head, 0, false};
    struct gql_vconflict *c;

    if (!step(o))
        return NULL;
    if (!excl && !slice_eq(a->node->name, b->node->name))
        return new_conflict(o, key, reason_text(o, a, b, 0), a, b);
    if (!excl && !gql_vsame_args(a->node->args, b->node->args))
        return new_conflict(o, key, reason_text(o, a, b, 1), a, b);
    if (a->def && b->def && types_conflict(a->def->type, b->def->type))
        return new_conflict(o, key, reason_text(o, a, b, 2), a, b);
    if (a->node->selections == NULL || b->node->selections == NULL)
        return NULL;
    subsel_conflicts(o, excl, a, b, &subs);
    if (subs.head == NULL || (c = new_conflict(o, key, NULL, a, b)) == NULL)
        return NULL;
    c->subs = subs.head;
    return c;
}

/* Adds conflict <c> between <a> (of <g1>) and <b> (of <g2>). At the top level, when the fields
 * stand for others of their kind and the conflict is theirs alone (no sub-selections
 * involved), each pair of those conflicts as graphql-js reports it; with sub-selections the
 * pair of kinds stands for all (their places inside differ). */
static void add_found(struct octx *o, struct clist *out, struct gql_vconflict *c,
                      const struct ogroup *g1, const struct gql_vfield *a, const struct ogroup *g2,
                      const struct gql_vfield *b)
{
    if (c == NULL || !out->top || c->subs != NULL || (g1->n <= REP_MIN && g2->n <= REP_MIN)) {
        clist_add(o, out, c);
        return;
    }
    for (size_t x = 0; x < g1->n && step(o); x++) {
        if (!of_kind(g1, x, a))
            continue;
        for (size_t y = 0; y < g2->n && !stopped(o); y++) {
            struct gql_vconflict one = *c;

            if (!of_kind(g2, y, b) || &g1->f[x] == &g2->f[y])
                continue;
            one.n1 = g1->f[x].node;
            one.n2 = g2->f[y].node;
            if (g1 == g2 && x > y) /* within one group: the earlier field first */
                one.n1 = g2->f[y].node, one.n2 = g1->f[x].node;
            clist_add(o, out, &one);
        }
    }
}

/* Every field of <m1> against each of <m2> with the same response name. */
static void between(struct octx *o, bool excl, struct omap *m1, struct omap *m2, struct clist *out)
{
    for (size_t i = 0; i < m1->ng && step(o); i++) {
        struct ogroup *g1 = &m1->g[i], *g2;
        uint32_t k = gql_vmap_get(&m2->keys, g1->key);

        if (k == GQL_V_NONE)
            continue;
        g2 = &m2->g[k];
        for (size_t x = 0, nx = ncompared(o, g1); x < nx; x++)
            for (size_t y = 0, ny = ncompared(o, g2); y < ny && !stopped(o); y++)
                add_found(o, out, find_conflict(o, excl, g1->key, compared(g1, x), compared(g2, y)),
                          g1, compared(g1, x), g2, compared(g2, y));
    }
}

static bool push_work(struct octx *o, uint32_t a, uint32_t b)
{
    if (!gql_vgrow(o->v, (void **)&o->w, &o->capw, o->nw, sizeof(*o->w)))
        return false;
    o->w[o->nw++] = (struct work){a, b};
    return true;
}

/* After fragment <f> and its spreads were compared with <m>: when nothing was found there or
 * below, no map alike needs to look (recorded for m's canon map). */
static void map_frag_done(struct octx *o, bool excl, const struct omap *m, uint32_t f, bool dirty)
{
    const struct omap *m2 = frag_fields(o, f);

    if (dirty || m2 == NULL)
        return;
    for (size_t i = 0; i < m2->nfrags; i++)
        if (!covers(gql_vpmap_get(&o->canon_frags, (uintptr_t)m->canon, m2->frags[i]), excl))
            return;
    memo_set(o, &o->canon_frags, (uintptr_t)m->canon, f, excl);
}

/* Field map <m> against fragment <frag> and every fragment it spreads (graphql-js
 * collectConflictsBetweenFieldsAndFragment), depth first with a work list. */
static void map_vs_frag(struct octx *o, bool excl, struct omap *m, uint32_t frag, struct clist *out)
{
    size_t base = o->nw;

    if (!push_work(o, frag, 0))
        return;
    while (o->nw > base && step(o)) {
        struct work w = o->w[--o->nw];
        struct omap *m2;
        size_t found = out->n;

        if (w.b != 0) {
            map_frag_done(o, excl, m, w.a, w.b > 1);
            continue;
        }
        if (covers(gql_vpmap_get(&o->map_frags, (uintptr_t)m, w.a), excl) ||
            covers(gql_vpmap_get(&o->canon_frags, (uintptr_t)m->canon, w.a), excl))
            continue;
        if (!memo_set(o, &o->map_frags, (uintptr_t)m, w.a, excl) ||
            (m2 = frag_fields(o, w.a)) == NULL)
            break;
        if (m2 == m) /* a fragment's own fields against themselves */
            continue;
        between(o, excl, m, m2, out);
        if (!push_work(o, w.a, out->n > found ? 3 : 1))
            break;
        for (size_t i = 0; i < m2->nfrags && push_work(o, m2->frags[i], 0); i++)
            ;
    }
    o->nw = base;
}

/* Two fragments, then each against what the other spreads, each pair once (graphql-js
 * collectConflictsBetweenFragments). */
static void frag_vs_frag(struct octx *o, bool excl, uint32_t f1, uint32_t f2, struct clist *out)
{
    size_t base = o->nw;

    if (!push_work(o, f1, f2))
        return;
    while (o->nw > base && step(o)) {
        struct work p = o->w[--o->nw];
        uint32_t lo = p.a < p.b ? p.a : p.b, hi = p.a < p.b ? p.b : p.a;
        struct omap *m1, *m2;

        if (p.a == p.b || (m1 = frag_fields(o, p.a)) == NULL || (m2 = frag_fields(o, p.b)) == NULL)
            continue;
        /* Two fragments that spread none, side by side in a selection set: comparing them
         * again (in another set) costs what remembering would, and what it finds is found
         * again the same (reported once). Below the top level, remembering also keeps the
         * findings graphql-js's: it does not look again. */
        if ((m1->nfrags || m2->nfrags || o->depth > 0) &&
            (covers(gql_vpmap_get(&o->frag_pairs, lo, hi), excl) ||
             !memo_set(o, &o->frag_pairs, lo, hi, excl)))
            continue;
        if (m1->canon == m2->canon && same_spreads(m1, m2)) /* found within each already */
            continue;
        between(o, excl, m1, m2, out);
        for (size_t i = 0; i < m2->nfrags && push_work(o, p.a, m2->frags[i]); i++)
            ;
        for (size_t i = 0; i < m1->nfrags && push_work(o, m1->frags[i], p.b); i++)
            ;
    }
    o->nw = base;
}

/* Whether two fragments could conflict: not when the same, or alike in fields and spreads
 * (what they could find is found within each). */
static bool frags_differ(struct octx *o, uint32_t f1, uint32_t f2)
{
    const struct omap *m1 = frag_fields(o, f1), *m2 = frag_fields(o, f2);

    return f1 != f2 && m1 && m2 && !(m1->canon == m2->canon && same_spreads(m1, m2));
}

/* The fragments of <m> to compare with other fragments: all of them, or, when there are many,
 * one of each kind, so that many alike fragments spread side by side cost little. */
static size_t frag_kinds(struct octx *o, struct omap *m, const uint32_t **out)
{
    *out = m->frags;
    if (m->nfrags <= REP_MIN)
        return m->nfrags;
    if (m->fkinds != NULL) {
        *out = m->fkinds;
        return m->nfkinds;
    }
    m->fkinds = arena_alloc(o->v->a, m->nfrags * sizeof(*m->fkinds));
    if (m->fkinds == NULL)
        return gql_vnomem(o->v), 0;
    for (size_t i = 0; i < m->nfrags; i++) {
        size_t k = 0;

        /* linear in kinds: fine for the few a real document has; past 64 kinds, keep all */
        while (k < m->nfkinds && k < 64 && frags_differ(o, m->fkinds[k], m->frags[i]))
            k++;
        if (k == m->nfkinds || k == 64)
            m->fkinds[m->nfkinds++] = m->frags[i];
    }
    *out = m->fkinds;
    return m->nfkinds;
}

/* graphql-js findConflictsBetweenSubSelectionSets, for fields <a> and <b>. */
static void subsel_conflicts(struct octx *o, bool excl, const struct gql_vfield *a,
                             const struct gql_vfield *b, struct clist *out)
{
    const struct gql_stype *t1 = a->def ? gql_named_type(a->def->type) : NULL;
    const struct gql_stype *t2 = b->def ? gql_named_type(b->def->type) : NULL;
    const uint32_t *k1, *k2;
    struct omap *m1, *m2;
    size_t n1, n2;

    if (o->depth >= MAX_DEPTH) {
        o->too_deep = true;
        return;
    }
    m1 = fields_of(o, t1, a->node->selections);
    m2 = fields_of(o, t2, b->node->selections);
    if (m1 == NULL || m2 == NULL)
        return;
    o->depth++;
    between(o, excl, m1, m2, out);
    for (size_t j = 0; j < m2->nfrags && !stopped(o); j++)
        map_vs_frag(o, excl, m1, m2->frags[j], out);
    for (size_t i = 0; i < m1->nfrags && !stopped(o); i++)
        map_vs_frag(o, excl, m2, m1->frags[i], out);
    n1 = frag_kinds(o, m1, &k1);
    n2 = frag_kinds(o, m2, &k2);
    for (size_t i = 0; i < n1; i++)
        for (size_t j = 0; j < n2 && !stopped(o); j++)
            if (frags_differ(o, k1[i], k2[j]))
                frag_vs_frag(o, excl, k1[i], k2[j], out);
    o->depth--;
}

/* graphql-js findConflictsWithinSelectionSet; what it finds is reported at once. */
static void within_set(struct octx *o, const struct gql_vset *set)
{
    struct omap *m = fields_of(o, set->parent, set->sels);
    struct clist out = {NULL, &out.head, 0, true};
    const uint32_t *kinds;
    size_t n;

    if (m == NULL)
        return;
    for (size_t k = 0; k < m->ng && !stopped(o); k++) {
        struct ogroup *g = &m->g[k];
        size_t nf = g->n > 1 ? ncompared(o, g) : 0;

        for (size_t i = 0; i < nf; i++)
            for (size_t j = i + 1; j < nf && !stopped(o); j++)
                add_found(o, &out, find_conflict(o, false, g->key, compared(g, i), compared(g, j)),
                          g, compared(g, i), g, compared(g, j));
    }
    for (size_t i = 0; i < m->nfrags && !stopped(o); i++)
        map_vs_frag(o, false, m, m->frags[i], &out);
    n = frag_kinds(o, m, &kinds);
    for (size_t i = 0; i < n && !stopped(o); i++)
        for (size_t j = i + 1; j < n && !stopped(o); j++)
            if (frags_differ(o, kinds[i], kinds[j]))
                frag_vs_frag(o, false, kinds[i], kinds[j], &out);
}

void gql_vcheck_overlap(struct gql_vctx *v)
{
    struct octx o = {.v = v};
    struct gql_loc where = {0, 0};

    o.seen = arena_zalloc(v->a, (v->nfrags + 1) * sizeof(*o.seen));
    if (o.seen == NULL) {
        gql_vnomem(v);
        return;
    }
    for (size_t i = 0; i < v->nsets && !stopped(&o); i++) {
        within_set(&o, &v->sets[i]);
        if ((o.too_deep || o.too_much) && where.line == 0)
            where = v->sets[i].sels->loc;
    }
    if (o.too_much)
        gql_verror(v, where,
                   "Too many fields and fragments with the same response names to check that "
                   "they can merge within the work allowed: simplify the document.");
    else if (o.too_deep)
        gql_verror(v, where,
                   "Fields are nested more than %d levels deep through fragments: too deep to "
                   "check that fields with the same response name can merge.",
                   MAX_DEPTH);
}
