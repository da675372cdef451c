/*
 * Helpers of field merging (validate-overlap.c): maps keyed by pairs of pointers or numbers,
 * structural sameness of fields (hash and comparison), which lets the search treat identical
 * fields and identical field maps as one, and the report of a conflict. Also the spelling
 * suggestions of the other rules ("Did you mean …?").
 */
#include <stdio.h>
#include <stdlib.h>

#include "gql/validate.h"

/* ---------------------------------------------------------------- pair maps */

static size_t pair_hash(uintptr_t a, uintptr_t b)
{
    uint64_t x = (uint64_t)a * 0x9E3779B97F4A7C15u ^ ((uint64_t)b + 0x632BE59BD9B4E019u);

    x ^= x >> 31;
    x *= 0xC2B2AE3D27D4EB4Fu;
    return (size_t)(x ^ (x >> 29));
}

uintptr_t gql_vpmap_get(const struct gql_vpmap *m, uintptr_t a, uintptr_t b)
{
    if (m->n == 0)
        return 0;
    for (size_t i = pair_hash(a, b) & m->mask; m->val[i]; i = (i + 1) & m->mask)
        if (m->k1[i] == a && m->k2[i] == b)
            return m->val[i];
    return 0;
}

static bool grow(struct gql_vctx *v, struct gql_vpmap *m)
{
    size_t slots = m->val ? (m->mask + 1) * 2 : 64;
    uintptr_t *k1 = arena_alloc(v->a, slots * sizeof(*k1));
    uintptr_t *k2 = arena_alloc(v->a, slots * sizeof(*k2));
    uintptr_t *val = arena_zalloc(v->a, slots * sizeof(*val));

    if (k1 == NULL || k2 == NULL || val == NULL)
        return gql_vnomem(v), false;
    for (size_t i = 0; m->val && i <= m->mask; i++) {
        size_t j = pair_hash(m->k1[i], m->k2[i]) & (slots - 1);

        if (m->val[i] == 0)
            continue;
        while (val[j])
            j = (j + 1) & (slots - 1);
        k1[j] = m->k1[i];
        k2[j] = m->k2[i];
        val[j] = m->val[i];
    }
    *m = (struct gql_vpmap){k1, k2, val, slots - 1, m->n};
    return true;
}

bool gql_vpmap_set(struct gql_vctx *v, struct gql_vpmap *m, uintptr_t a, uintptr_t b, uintptr_t val)
{
    size_t i;

    if ((m->val == NULL || (m->n + 1) * 2 > m->mask + 1) && !grow(v, m))
        return false;
    for (i = pair_hash(a, b) & m->mask; m->val[i]; i = (i + 1) & m->mask)
        if (m->k1[i] == a && m->k2[i] == b)
            break;
    m->n += m->val[i] == 0;
    m->k1[i] = a;
    m->k2[i] = b;
    m->val[i] = val;
    return true;
}

/* ---------------------------------------------------------------- hashes */

uint64_t gql_vhash_mix(uint64_t h, uint64_t x)
{
    return h ^ (x + 0x9E3779B97F4A7C15u + (h << 6) + (h >> 2));
}

uint64_t gql_vhash_slice(struct slice s)
{
    uint64_t h = 1469598103934665603u;

    for (size_t i = 0; i < s.len; i++)
        h = (h ^ (uint8_t)s.ptr[i]) * 1099511628211u;
    return h;
}

static uint64_t value_hash(const struct gql_value *v)
{
    uint64_t h = gql_vhash_mix(gql_vhash_slice(v->str), (uint64_t)v->kind * 2 + v->boolean);

    for (const struct gql_value *i = v->items; i; i = i->next)
        h = gql_vhash_mix(h, value_hash(i));
    for (const struct gql_argument *f = v->fields; f; f = f->next)
        h = gql_vhash_mix(gql_vhash_mix(h, gql_vhash_slice(f->name)), value_hash(f->value));
    return h;
}

static uint64_t args_hash(uint64_t h, const struct gql_argument *a)
{
    for (; a; a = a->next)
        h = gql_vhash_mix(gql_vhash_mix(h, gql_vhash_slice(a->name)), value_hash(a->value));
    return h;
}

static uint64_t sels_hash(const struct gql_selection *s)
{
    uint64_t h = 7;

    for (; s; s = s->next) {
        h = gql_vhash_mix(h, (uint64_t)s->kind);
        h = gql_vhash_mix(h, gql_vhash_slice(s->alias));
        h = gql_vhash_mix(h, gql_vhash_slice(s->name));
        h = gql_vhash_mix(h, gql_vhash_slice(s->type_cond));
        h = gql_vhash_mix(args_hash(h, s->args), sels_hash(s->selections));
    }
    return h;
}

uint64_t gql_vfield_hash(const struct gql_vfield *f)
{
    uint64_t h = gql_vhash_mix((uintptr_t)f->parent, gql_vhash_slice(f->node->name));

    return gql_vhash_mix(args_hash(h, f->node->args), sels_hash(f->node->selections));
}

/* ---------------------------------------------------------------- equality */

static bool value_eq(const struct gql_value *a, const struct gql_value *b, bool ordered);

/* The <k>th field named <name> in <f>, or NULL. */
static const struct gql_argument *nth_named(const struct gql_argument *f, struct slice name,
                                            size_t k)
{
    for (; f; f = f->next)
        if (slice_eq(f->name, name) && k-- == 0)
            return f;
    return NULL;
}

#define UNORDERED_MAX 64 /* past this many, fields are compared in order (cost stays linear) */

/* Object fields (or arguments): as many, and equal values. Unless <ordered>, as graphql-js
 * compares them: after a stable sort by name, so each field's match is the field of the same
 * name and rank. */
static bool fields_eq(const struct gql_argument *a, const struct gql_argument *b, bool ordered)
{
    size_t na = 0, nb = 0;

    for (const struct gql_argument *f = a; f; f = f->next)
        na++;
    for (const struct gql_argument *g = b; g; g = g->next)
        nb++;
    if (na != nb)
        return false;
    for (const struct gql_argument *f = a, *g = b; f; f = f->next, g = g->next) {
        const struct gql_argument *h = g;
        size_t rank = 0;

        if (!ordered && na <= UNORDERED_MAX) {
            for (const struct gql_argument *e = a; e != f; e = e->next)
                rank += slice_eq(e->name, f->name);
            h = nth_named(b, f->name, rank);
        }
        if (h == NULL || !slice_eq(h->name, f->name) || !value_eq(f->value, h->value, ordered))
            return false;
    }
    return true;
}

static bool value_eq(const struct gql_value *a, const struct gql_value *b, bool ordered)
{
    const struct gql_value *x, *y;

    if (a->kind != b->kind || a->boolean != b->boolean || !slice_eq(a->str, b->str))
        return false;
    for (x = a->items, y = b->items; x && y; x = x->next, y = y->next)
        if (!value_eq(x, y, ordered))
            return false;
    return x == y && fields_eq(a->fields, b->fields, ordered);
}

bool gql_vsame_args(const struct gql_argument *a, const struct gql_argument *b)
{
    return fields_eq(a, b, false);
}

static bool sels_eq(const struct gql_selection *a, const struct gql_selection *b)
{
    for (; a && b; a = a->next, b = b->next)
        if (a->kind != b->kind || !slice_eq(a->alias, b->alias) || !slice_eq(a->name, b->name) ||
            !slice_eq(a->type_cond, b->type_cond) || !fields_eq(a->args, b->args, true) ||
            !sels_eq(a->selections, b->selections))
            return false;
    return a == b;
}

bool gql_vfields_alike(const struct gql_vfield *a, const struct gql_vfield *b)
{
    return a->parent == b->parent && a->def == b->def && slice_eq(a->node->name, b->node->name) &&
           fields_eq(a->node->args, b->node->args, true) &&
           sels_eq(a->node->selections, b->node->selections);
}

/* ---------------------------------------------------------------- kinds */

struct hashed {
    uint64_t h;
    uint32_t i;
};

static int hashed_cmp(const void *x, const void *y)
{
    const struct hashed *a = x, *b = y;

    if (a->h != b->h)
        return a->h < b->h ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

static int u32_cmp(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

    return (a > b) - (a < b);
}

size_t gql_vkinds(struct gql_vctx *v, const struct gql_vfield *f, size_t n, uint32_t *out,
                  uint32_t *kind_of)
{
    struct hashed *hs = arena_alloc(v->a, n * sizeof(*hs));
    size_t nout = 0;

    if (hs == NULL)
        return gql_vnomem(v), 0;
    for (size_t i = 0; i < n; i++)
        hs[i] = (struct hashed){gql_vfield_hash(&f[i]), (uint32_t)i};
    qsort(hs, n, sizeof(*hs), hashed_cmp);
    /* a run of equal hashes holds one or more kinds: compare with those of the run */
    for (size_t i = 0, run = 0; i < n; i++) {
        size_t k;

        if (i > 0 && hs[i].h != hs[i - 1].h)
            run = nout;
        for (k = run; k < nout && !gql_vfields_alike(&f[out[k]], &f[hs[i].i]); k++)
            ;
        if (k == nout)
            out[nout++] = hs[i].i;
        kind_of[hs[i].i] = out[k]; /* runs are sorted by index: the first is the kind's */
    }
    qsort(out, nout, sizeof(*out), u32_cmp);
    return nout;
}

/* ---------------------------------------------------------------- reporting conflicts */

#define MSG_MAX 480 /* gql_error_add() keeps 512 bytes */

static void put_reason(struct sbuf *b, const struct gql_vconflict *c)
{
    if (c->reason != NULL) {
        sbuf_puts(b, c->reason);
        return;
    }
    for (const struct gql_vconflict *s = c->subs; s && b->err == 0; s = s->next) {
        sbuf_printf(b, "%ssubfields \"%.*s\" conflict because ", s == c->subs ? "" : " and ",
                    (int)(s->key.len < 100 ? s->key.len : 100), s->key.ptr);
        put_reason(b, s);
    }
}

static size_t count_side(const struct gql_vconflict *c)
{
    size_t n = 1;

    for (const struct gql_vconflict *s = c->subs; s; s = s->next)
        n += count_side(s);
    return n;
}

/* The fields of one side in graphql-js's order: the field, then those of its subconflicts. */
static void fill_side(const struct gql_vconflict *c, bool first, struct gql_loc *locs, size_t *n)
{
    locs[(*n)++] = (first ? c->n1 : c->n2)->loc;
    for (const struct gql_vconflict *s = c->subs; s; s = s->next)
        fill_side(s, first, locs, n);
}

void gql_vreport_conflict(struct gql_vctx *v, struct gql_vpmap *reported,
                          const struct gql_vconflict *c)
{
    struct sbuf b = SBUF_INIT(MSG_MAX);
    size_t side = count_side(c), n = 0;
    struct gql_loc *locs;
    struct gql_error *e;

    if (gql_vpmap_get(reported, (uintptr_t)c->n1, (uintptr_t)c->n2) ||
        gql_vpmap_get(reported, (uintptr_t)c->n2, (uintptr_t)c->n1) ||
        !gql_vpmap_set(v, reported, (uintptr_t)c->n1, (uintptr_t)c->n2, 1))
        return;
    locs = arena_alloc(v->a, 2 * side * sizeof(*locs));
    if (locs == NULL) {
        gql_vnomem(v);
        return;
    }
    put_reason(&b, c);
    e = gql_verror(v, c->n1->loc,
                   "Fields \"%.*s\" conflict because %s%s; use different aliases to fetch both.",
                   (int)(c->key.len < 100 ? c->key.len : 100), c->key.ptr, b.buf, b.err ? "…" : "");
    sbuf_release(&b);
    fill_side(c, true, locs, &n);
    fill_side(c, false, locs, &n);
    if (e != NULL) {
        e->nlocations = 0;
        gql_verror_locs(v, e, locs, n);
    }
}

/* ---------------------------------------------------------------- suggestions */

#define SUGGEST_MAX_LEN 64

/* Levenshtein distance with a swap of two neighbours counting one (names are short). */
static size_t edit_distance(struct slice a, struct slice b)
{
    size_t rows[3][SUGGEST_MAX_LEN + 1], *prev2 = rows[0], *prev = rows[1], *cur = rows[2];

    for (size_t j = 0; j <= b.len; j++)
        prev[j] = j;
    for (size_t i = 1; i <= a.len; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= b.len; j++) {
            size_t cost = a.ptr[i - 1] != b.ptr[j - 1];
            size_t d = prev[j] + 1 < cur[j - 1] + 1 ? prev[j] + 1 : cur[j - 1] + 1;

            d = prev[j - 1] + cost < d ? prev[j - 1] + cost : d;
            if (i > 1 && j > 1 && a.ptr[i - 1] == b.ptr[j - 2] && a.ptr[i - 2] == b.ptr[j - 1] &&
                prev2[j - 2] + 1 < d)
                d = prev2[j - 2] + 1;
            cur[j] = d;
        }
        size_t *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[b.len];
}

const char *gql_vsuggest(struct slice input, const struct slice *names, size_t n, size_t stride,
                         char *buf, size_t len)
{
    struct {
        struct slice name;
        size_t d;
    } best[3];
    size_t nbest = 0, limit = input.len * 2 / 5 + 1, w = 0;

    buf[0] = 0;
    if (input.len > SUGGEST_MAX_LEN)
        return buf;
    for (size_t i = 0; i < n; i++) {
        struct slice c = *(const struct slice *)((const char *)names + i * stride);
        size_t d, k;

        if (c.len > SUGGEST_MAX_LEN || (d = edit_distance(input, c)) > limit)
            continue;
        for (k = nbest; k > 0 && best[k - 1].d > d; k--)
            if (k < 3)
                best[k] = best[k - 1];
        if (k < 3) {
            best[k].name = c;
            best[k].d = d;
            nbest += nbest < 3;
        }
    }
    for (size_t k = 0; k < nbest && w < len; k++) {
        int r = snprintf(buf + w, len - w, "%s\"" SLICE_FMT "\"%s",
                         k == 0           ? " Did you mean "
                         : k + 1 == nbest ? " or "
                                          : ", ",
                         SLICE_ARG(best[k].name), k + 1 == nbest ? "?" : "");

        w += r > 0 ? (size_t)r : 0;
    }
    return buf;
}
