/*
 * Validation of executable documents (spec §5): the entry point, the error list, name maps,
 * and the rules that look at the document as a whole: executable definitions (5.1.1),
 * operation names (5.2.1.1), the lone anonymous operation (5.2.2.1), fragment names
 * (5.5.1.1), unused fragments (5.5.1.4) and fragment cycles (5.5.2.2). The walk of each
 * definition is validate-walk.c; the rules that need all of it run afterwards.
 *
 * Locations follow graphql-js where the AST has them, so that the differential tests agree:
 * a definition's place stands for its name, which the AST does not locate separately.
 */
#include <stdio.h>
#include <stdlib.h>

#include "gql/validate.h"

#define CODE "GRAPHQL_VALIDATION_FAILED"

/* ---------------------------------------------------------------- name maps */

static uint32_t name_hash(struct slice s)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < s.len; i++)
        h = (h ^ (uint8_t)s.ptr[i]) * 16777619u;
    return h ^ (h >> 15);
}

uint32_t gql_vmap_get(const struct gql_vmap *m, struct slice key)
{
    if (m->n == 0)
        return GQL_V_NONE;
    for (size_t i = name_hash(key) & m->mask;; i = (i + 1) & m->mask) {
        if (m->keys[i].ptr == NULL)
            return GQL_V_NONE;
        if (slice_eq(m->keys[i], key))
            return m->vals[i];
    }
}

/* Rehashes <m> into twice the slots (16 at first). */
static bool map_grow(struct arena *a, struct gql_vmap *m)
{
    size_t slots = m->keys ? (m->mask + 1) * 2 : 16;
    struct slice *keys = arena_zalloc(a, slots * sizeof(*keys));
    uint32_t *vals = arena_alloc(a, slots * sizeof(*vals));

    if (keys == NULL || vals == NULL)
        return false;
    for (size_t i = 0; m->keys && i <= m->mask; i++) {
        size_t j;

        if (m->keys[i].ptr == NULL)
            continue;
        for (j = name_hash(m->keys[i]) & (slots - 1); keys[j].ptr; j = (j + 1) & (slots - 1))
            ;
        keys[j] = m->keys[i];
        vals[j] = m->vals[i];
    }
    m->keys = keys;
    m->vals = vals;
    m->mask = slots - 1;
    return true;
}

uint32_t gql_vmap_put(struct arena *a, struct gql_vmap *m, struct slice key, uint32_t val, bool *ok)
{
    size_t i;

    *ok = true;
    if ((m->keys == NULL || (m->n + 1) * 2 > m->mask + 1) && !map_grow(a, m)) {
        *ok = false;
        return GQL_V_NONE;
    }
    if (key.ptr == NULL)
        key.ptr = ""; /* a NULL ptr marks a free slot */
    for (i = name_hash(key) & m->mask; m->keys[i].ptr; i = (i + 1) & m->mask)
        if (slice_eq(m->keys[i], key))
            return m->vals[i];
    m->keys[i] = key;
    m->vals[i] = val;
    m->n++;
    return GQL_V_NONE;
}

/* ---------------------------------------------------------------- errors and helpers */

struct gql_error *gql_verror(struct gql_vctx *v, struct gql_loc loc, const char *fmt, ...)
{
    struct gql_error *e;
    char msg[512];
    va_list ap;

    if (v->full)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    e = gql_error_add(v->a, &v->tail, loc, CODE, "%s", msg);
    if (e == NULL)
        return gql_vnomem(v);
    v->keys[v->nerrs++] = loc;
    if (v->nerrs == GQL_V_MAX_ERRORS)
        v->full = true;
    return e;
}

void gql_verror_key(struct gql_vctx *v, struct gql_loc key)
{
    if (v->nerrs > 0)
        v->keys[v->nerrs - 1] = key;
}

void gql_verror_loc(struct gql_vctx *v, struct gql_error *e, struct gql_loc loc)
{
    if (e != NULL)
        gql_error_add_loc(v->a, e, loc);
}

void gql_verror_locs(struct gql_vctx *v, struct gql_error *e, const struct gql_loc *locs, size_t n)
{
    struct gql_loc *all;

    if (e == NULL || n == 0)
        return;
    all = arena_alloc(v->a, (e->nlocations + n) * sizeof(*all));
    if (all == NULL) {
        gql_vnomem(v);
        return;
    }
    if (e->nlocations)
        memcpy(all, e->locations, e->nlocations * sizeof(*all));
    memcpy(all + e->nlocations, locs, n * sizeof(*all));
    e->locations = all;
    e->nlocations += n;
}

void *gql_vnomem(struct gql_vctx *v)
{
    v->oom = true;
    v->full = true;
    return NULL;
}

bool gql_vgrow(struct gql_vctx *v, void **arr, size_t *cap, size_t n, size_t size)
{
    size_t ncap;
    void *p;

    if (n < *cap)
        return true;
    ncap = *cap ? *cap * 2 : 8;
    p = arena_alloc(v->a, ncap * size);
    if (p == NULL)
        return gql_vnomem(v), false;
    if (n)
        memcpy(p, *arr, n * size);
    *arr = p;
    *cap = ncap;
    return true;
}

struct gql_vdef *gql_vfrag(const struct gql_vctx *v, struct slice name)
{
    uint32_t i = gql_vmap_get(&v->frag_names, name);

    return i == GQL_V_NONE ? NULL : &v->frags[i];
}

uint32_t gql_vstamp(struct gql_vctx *v)
{
    return ++v->stamp;
}

/* ---------------------------------------------------------------- repeated names */

/* One error per repeat of a name: [first place, repeat], sorted at the repeat. */
struct unique_msg {
    const char *what, *sigil;
};

static struct gql_error *unique_error(struct gql_vctx *v, struct gql_loc loc, struct slice name,
                                      const struct unique_msg *m)
{
    return gql_verror(v, loc,
                      "The %s name \"%s" SLICE_FMT "\" is used more than once: each must "
                      "be unique.",
                      m->what, m->sigil, SLICE_ARG(name));
}

static void report_repeat(struct gql_vctx *v, const struct slice *names, const struct gql_loc *locs,
                          size_t first, size_t i, const struct unique_msg *m)
{
    struct gql_error *e = unique_error(v, locs[first], names[i], m);

    if (e != NULL) {
        gql_verror_key(v, locs[i]);
        gql_verror_loc(v, e, locs[i]);
    }
}

/* One error for a repeated name, listing every place: <first>, then the chain in <next>. */
static void report_group(struct gql_vctx *v, const struct slice *names, const struct gql_loc *locs,
                         const uint32_t *next, size_t first, const struct unique_msg *m)
{
    struct gql_error *e = unique_error(v, locs[first], names[first], m);
    struct gql_loc *more;
    size_t n = 0;

    for (uint32_t k = next[first]; k != GQL_V_NONE; k = next[k])
        n++;
    more = e ? arena_alloc(v->a, n * sizeof(*more)) : NULL;
    if (more == NULL)
        return;
    n = 0;
    for (uint32_t k = next[first]; k != GQL_V_NONE; k = next[k])
        more[n++] = locs[k];
    gql_verror_locs(v, e, more, n);
}

void gql_vcheck_unique(struct gql_vctx *v, const struct slice *names, const struct gql_loc *locs,
                       size_t n, bool grouped, const char *what, const char *sigil)
{
    struct unique_msg msg = {what, sigil};
    struct gql_vmap m = {0};
    uint32_t *next, *last;
    bool ok;

    if (n < 2)
        return;
    next = arena_alloc(v->a, n * sizeof(*next));
    last = arena_alloc(v->a, n * sizeof(*last));
    if (next == NULL || last == NULL) {
        gql_vnomem(v);
        return;
    }
    for (size_t i = 0; i < n && !v->full; i++) {
        uint32_t first = gql_vmap_put(v->a, &m, names[i], (uint32_t)i, &ok);

        if (!ok) {
            gql_vnomem(v);
            return;
        }
        next[i] = GQL_V_NONE;
        last[i] = (uint32_t)i;
        if (first == GQL_V_NONE)
            continue;
        next[last[first]] = (uint32_t)i;
        last[first] = (uint32_t)i;
        if (!grouped)
            report_repeat(v, names, locs, first, i, &msg);
    }
    for (size_t i = 0; grouped && i < n && !v->full; i++)
        if (gql_vmap_get(&m, names[i]) == i && next[i] != GQL_V_NONE)
            report_group(v, names, locs, next, i, &msg);
}

/* ---------------------------------------------------------------- document-level rules */

/* 5.1.1: only operations and fragments. */
static void check_executable(struct gql_vctx *v)
{
    for (const struct gql_def *d = v->d->defs; d; d = d->next) {
        if (d->kind == GQL_DEF_OPERATION || d->kind == GQL_DEF_FRAGMENT)
            continue;
        if (d->kind == GQL_DEF_SCHEMA)
            gql_verror(v, d->loc,
                       "The schema definition is not executable: a request holds only "
                       "operations and fragments.");
        else
            gql_verror(v, d->loc,
                       "The \"" SLICE_FMT "\" definition is not executable: a request holds "
                       "only operations and fragments.",
                       SLICE_ARG(d->name));
    }
}

/* Names and places of <defs>[<n>] with a name, into arrays in the arena; *m how many. */
static bool def_names(struct gql_vctx *v, const struct gql_vdef *defs, size_t n,
                      struct slice **names, struct gql_loc **locs, size_t *m)
{
    *m = 0;
    if (n < 2)
        return false;
    *names = arena_alloc(v->a, n * sizeof(**names));
    *locs = arena_alloc(v->a, n * sizeof(**locs));
    if (*names == NULL || *locs == NULL)
        return gql_vnomem(v), false;
    for (size_t i = 0; i < n; i++) {
        if (defs[i].def->name.len == 0)
            continue;
        (*names)[*m] = defs[i].def->name;
        (*locs)[(*m)++] = defs[i].def->name_loc;
    }
    return true;
}

/* 5.2.1.1, 5.2.2.1 and 5.5.1.1. */
static void check_names(struct gql_vctx *v)
{
    struct slice *names;
    struct gql_loc *locs;
    size_t n;

    if (def_names(v, v->ops, v->nops, &names, &locs, &n))
        gql_vcheck_unique(v, names, locs, n, false, "operation", "");
    for (size_t i = 0; i < v->nops && v->nops > 1; i++)
        if (v->ops[i].def->name.len == 0)
            gql_verror(v, v->ops[i].def->loc,
                       "This anonymous operation must be the only operation in the document: "
                       "give every operation a name.");
    if (def_names(v, v->frags, v->nfrags, &names, &locs, &n))
        gql_vcheck_unique(v, names, locs, n, false, "fragment", "");
}

/* 5.5.1.4: every fragment is reached from some operation, through spreads. */
static void check_used(struct gql_vctx *v)
{
    uint32_t *stack = arena_alloc(v->a, (v->nfrags + 1) * sizeof(*stack));
    size_t top = 0;

    if (stack == NULL) {
        gql_vnomem(v);
        return;
    }
    for (size_t i = 0; i < v->nops; i++) {
        const struct gql_vdef *vd = &v->ops[i];

        for (;;) {
            for (size_t k = 0; k < vd->nspreads; k++) {
                uint32_t t = vd->spreads[k].target;

                if (t != GQL_V_NONE && !v->frags[t].used) {
                    v->frags[t].used = true;
                    stack[top++] = t;
                }
            }
            if (top == 0)
                break;
            vd = &v->frags[stack[--top]];
        }
    }
    for (size_t i = 0; i < v->nfrags; i++) /* a repeated name counts as its last */
        if (!v->frags[gql_vmap_get(&v->frag_names, v->frags[i].def->name)].used)
            gql_verror(v, v->frags[i].def->loc,
                       "Fragment \"" SLICE_FMT "\" is never used: every fragment must be spread "
                       "by an operation.",
                       SLICE_ARG(v->frags[i].def->name));
}

/* Reports the spreads path[from..n) as a cycle back to the fragment the last one names. */
static void report_cycle(struct gql_vctx *v, const struct gql_selection **path, size_t from,
                         size_t n)
{
    char via[400] = "";
    size_t len = 0;
    struct gql_error *e;
    struct gql_loc *more;

    for (size_t i = from; i + 1 < n && len < sizeof(via); i++) {
        int w = snprintf(via + len, sizeof(via) - len, "%s\"" SLICE_FMT "\"",
                         i > from ? ", " : " via ", SLICE_ARG(path[i]->name));

        len += w > 0 ? (size_t)w : 0;
    }
    e = gql_verror(v, path[from]->loc,
                   "Cannot spread fragment \"" SLICE_FMT "\" within itself%s: fragments must "
                   "not form cycles.",
                   SLICE_ARG(path[n - 1]->name), via);
    more = e ? arena_alloc(v->a, (n - from) * sizeof(*more)) : NULL;
    for (size_t i = from + 1; more && i < n; i++)
        more[i - from - 1] = path[i]->loc;
    if (more != NULL)
        gql_verror_locs(v, e, more, n - from - 1);
}

/* The depth-first search of 5.5.2.2, with explicit stacks so that a long chain of fragments
 * cannot exhaust the C stack. */
struct cycles {
    struct gql_vctx *v;
    struct cycle_frame {
        uint32_t frag, name;     /* the definition, and the last one of its name */
        size_t start, next, end; /* its spreads in order[], and the next to follow */
    } * st;
    size_t top, capst;
    const struct gql_selection **order; /* the spreads of the frames, in graphql-js order */
    size_t norder, caporder;
    const struct gql_selection **sets; /* selection sets still to look into */
    size_t capsets;
    const struct gql_selection **path; /* the spreads followed to the current fragment */
    uint32_t *on_path; /* per name: where its spreads start in path, or GQL_V_NONE */
    uint32_t stamp;
};

/* Pushes a frame for fragment <frag>, whose spreads are listed as graphql-js's
 * getFragmentSpreads() lists them: those of a selection set, then those of the sets inside it,
 * the last set first. */
static bool push_frame(struct cycles *c, uint32_t frag, uint32_t name)
{
    struct gql_vctx *v = c->v;
    size_t start = c->norder, nsets = 0;

    if (!gql_vgrow(v, (void **)&c->st, &c->capst, c->top, sizeof(*c->st)) ||
        !gql_vgrow(v, (void **)&c->sets, &c->capsets, nsets, sizeof(*c->sets)))
        return false;
    c->sets[nsets++] = v->frags[frag].def->selections;
    while (nsets > 0) {
        for (const struct gql_selection *s = c->sets[--nsets]; s; s = s->next) {
            if (s->kind == GQL_SEL_SPREAD) {
                if (!gql_vgrow(v, (void **)&c->order, &c->caporder, c->norder, sizeof(*c->order)))
                    return false;
                c->order[c->norder++] = s;
            } else if (s->selections != NULL) {
                if (!gql_vgrow(v, (void **)&c->sets, &c->capsets, nsets, sizeof(*c->sets)))
                    return false;
                c->sets[nsets++] = s->selections;
            }
        }
    }
    c->st[c->top++] = (struct cycle_frame){frag, name, start, start, c->norder};
    return true;
}

/* Follows the spreads from fragment <root>: every spread back into the current path is one
 * cycle. As in graphql-js, fragments are visited once per name, and a spread leads to the last
 * definition of the name. */
static void search_cycles(struct cycles *c, uint32_t root, uint32_t name)
{
    struct gql_vctx *v = c->v;
    size_t plen = 0;

    c->on_path[name] = 0;
    if (!push_frame(c, root, name))
        return;
    while (c->top > 0) {
        struct cycle_frame *f = &c->st[c->top - 1];
        const struct gql_selection *sp;
        uint32_t t;

        if (f->next == f->end) {
            c->on_path[f->name] = GQL_V_NONE;
            c->norder = f->start; /* its list is the last one */
            c->top--;
            plen -= c->top > 0; /* the spread that led here */
            continue;
        }
        sp = c->order[f->next++];
        c->path[plen++] = sp;
        t = gql_vmap_get(&v->frag_names, sp->name);
        if (t != GQL_V_NONE && c->on_path[t] != GQL_V_NONE) {
            report_cycle(v, c->path, c->on_path[t], plen);
        } else if (t != GQL_V_NONE && v->frags[t].mark != c->stamp && v->frags[t].nspreads) {
            v->frags[t].mark = c->stamp;
            c->on_path[t] = (uint32_t)plen;
            if (!push_frame(c, t, t))
                return;
            continue;
        } else if (t != GQL_V_NONE) {
            v->frags[t].mark = c->stamp;
        }
        plen--;
    }
}

/* 5.5.2.2: fragments must not form cycles. */
static void check_cycles(struct gql_vctx *v)
{
    struct cycles c = {.v = v, .stamp = gql_vstamp(v)};

    c.path = arena_alloc(v->a, (v->nfrags + 1) * sizeof(*c.path));
    c.on_path = arena_alloc(v->a, (v->nfrags + 1) * sizeof(*c.on_path));
    if (c.path == NULL || c.on_path == NULL) {
        gql_vnomem(v);
        return;
    }
    for (size_t i = 0; i < v->nfrags; i++)
        c.on_path[i] = GQL_V_NONE;
    for (size_t root = 0; root < v->nfrags && !v->full; root++) {
        uint32_t name = gql_vmap_get(&v->frag_names, v->frags[root].def->name);

        if (v->frags[name].mark == c.stamp)
            continue;
        v->frags[name].mark = c.stamp; /* even without spreads: its name is done */
        if (v->frags[root].nspreads > 0)
            search_cycles(&c, (uint32_t)root, name);
    }
}

/* ---------------------------------------------------------------- entry */

static bool index_defs(struct gql_vctx *v)
{
    size_t nops = 0, nfrags = 0;
    bool ok;

    for (const struct gql_def *d = v->d->defs; d; d = d->next) {
        nops += d->kind == GQL_DEF_OPERATION;
        nfrags += d->kind == GQL_DEF_FRAGMENT;
    }
    v->ops = arena_zalloc(v->a, (nops + 1) * sizeof(*v->ops));
    v->frags = arena_zalloc(v->a, (nfrags + 1) * sizeof(*v->frags));
    if (v->ops == NULL || v->frags == NULL)
        return gql_vnomem(v), false;
    for (const struct gql_def *d = v->d->defs; d; d = d->next) {
        if (d->kind == GQL_DEF_OPERATION) {
            v->ops[v->nops++].def = d;
        } else if (d->kind == GQL_DEF_FRAGMENT) {
            v->frags[v->nfrags++].def = d;
        }
    }
    /* a name defined twice stands for its last definition, as in graphql-js */
    for (size_t i = v->nfrags; i-- > 0;) {
        gql_vmap_put(v->a, &v->frag_names, v->frags[i].def->name, (uint32_t)i, &ok);
        if (!ok)
            return gql_vnomem(v), false;
    }
    return true;
}

/* Walks each operation and fragment in document order. */
static void walk_all(struct gql_vctx *v)
{
    size_t io = 0, jf = 0;

    for (const struct gql_def *d = v->d->defs; d && !v->oom; d = d->next) {
        if (d->kind == GQL_DEF_OPERATION)
            gql_vwalk_def(v, &v->ops[io++]);
        else if (d->kind == GQL_DEF_FRAGMENT)
            gql_vwalk_def(v, &v->frags[jf++]);
    }
}

static int loc_cmp(struct gql_loc a, struct gql_loc b)
{
    if (a.line != b.line)
        return a.line < b.line ? -1 : 1;
    return a.column < b.column ? -1 : a.column > b.column;
}

struct sorted {
    struct gql_loc key;
    size_t seq;
    struct gql_error *e;
};

static int sorted_cmp(const void *x, const void *y)
{
    const struct sorted *a = x, *b = y;
    int c = loc_cmp(a->key, b->key);

    return c ? c : (a->seq > b->seq) - (a->seq < b->seq);
}

/* Document order: by the place each error sorts at, then in the order found. */
static void sort_errors(struct gql_vctx *v)
{
    struct sorted s[GQL_V_MAX_ERRORS];
    size_t i = 0;

    for (struct gql_error *e = v->head; e && i < v->nerrs; e = e->next, i++)
        s[i] = (struct sorted){v->keys[i], i, e};
    qsort(s, i, sizeof(s[0]), sorted_cmp);
    v->tail = &v->head;
    for (size_t k = 0; k < i; k++) {
        *v->tail = s[k].e;
        v->tail = &s[k].e->next;
    }
    *v->tail = NULL;
}

/* Everything after the walk; each step stops early once the list is full. */
static void whole_document_rules(struct gql_vctx *v)
{
    check_cycles(v);
    check_used(v);
    for (size_t i = 0; i < v->nops && !v->full; i++) {
        gql_vcheck_variables(v, &v->ops[i]);
        if (v->ops[i].def->op == GQL_OP_SUBSCRIPTION)
            gql_vcheck_subscription(v, &v->ops[i]);
    }
    if (!v->full)
        gql_vcheck_overlap(v);
}

size_t gql_validate(const struct gql_schema *s, const struct gql_doc *d, struct arena *a,
                    struct gql_error **errs)
{
    struct gql_vctx v = {.s = s, .d = d, .a = a};
    struct gql_error *spare = NULL, **spare_tail = &spare;

    v.tail = &v.head;
    /* made first, so that running out of memory can still be told */
    gql_error_add(a, &spare_tail, (struct gql_loc){0, 0}, CODE,
                  "the document is too large to validate within the memory allowed");
    *errs = NULL;
    if (spare == NULL)
        return 1;
    if (index_defs(&v)) {
        check_executable(&v);
        check_names(&v);
        walk_all(&v);
        if (!v.oom)
            whole_document_rules(&v);
    }
    sort_errors(&v);
    if (v.full && (v.oom || gql_error_add(a, &v.tail, (struct gql_loc){0, 0}, CODE,
                                          "Too many validation errors: stopped after %d.",
                                          GQL_V_MAX_ERRORS) == NULL))
        *v.tail = spare;
    v.nerrs += v.full;
    *errs = v.head;
    return v.nerrs;
}
