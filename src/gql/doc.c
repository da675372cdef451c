/*
 * Prepared documents: parsed, validated and measured once, then shared by every request that
 * sends the same text (reference-counted, immutable), and a per-loop cache of them.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "gql/gql-int.h"
#include "validate.h"

struct op_info {
    const struct gql_def *op;
    bool blocking;
};

struct gql_doc_ref {
    atomic_uint refs;
    struct arena *a;
    const struct gql_doc *doc;
    struct op_info *ops;
    size_t nops;
};

const struct gql_doc *gql_doc_ref_doc(const struct gql_doc_ref *d)
{
    return d->doc;
}

struct gql_doc_ref *gql_doc_ref_get(struct gql_doc_ref *d)
{
    atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed);
    return d;
}

void gql_doc_ref_put(struct gql_doc_ref *d)
{
    if (d == NULL || atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel) != 1)
        return;
    arena_free(d->a);
    free(d);
}

/* ---------------------------------------------------------------- blocking */

/*
 * Whether executing <sels> on <t> may call a resolver bound with GQL_BLOCKING. Each fragment
 * is looked into once (its fields resolve against its own type condition wherever it is
 * spread); <seen> holds the ones already done.
 */
struct walk {
    const struct gql_schema *s;
    const struct gql_doc *doc;
    const struct gql_def *seen[64];
    size_t nseen;
};

static bool sels_block(struct walk *w, const struct gql_stype *t, const struct gql_selection *sel);

static bool fragment_blocks(struct walk *w, struct slice name)
{
    for (size_t i = 0; i < w->nseen; i++)
        if (slice_eq(w->seen[i]->name, name))
            return false;
    for (const struct gql_def *d = w->doc->defs; d; d = d->next) {
        if (d->kind != GQL_DEF_FRAGMENT || !slice_eq(d->name, name))
            continue;
        if (w->nseen == ARRAY_LEN(w->seen))
            return true; /* too many to track: assume the worst */
        w->seen[w->nseen++] = d;
        return sels_block(w, gql_schema_type(w->s, d->type_cond), d->selections);
    }
    return false;
}

static bool sels_block(struct walk *w, const struct gql_stype *t, const struct gql_selection *sel)
{
    for (; sel; sel = sel->next) {
        const struct gql_sfield *f;

        if (sel->kind == GQL_SEL_SPREAD) {
            if (fragment_blocks(w, sel->name))
                return true;
        } else if (sel->kind == GQL_SEL_INLINE) {
            const struct gql_stype *cond =
                sel->type_cond.len ? gql_schema_type(w->s, sel->type_cond) : t;

            if (sels_block(w, cond, sel->selections))
                return true;
        } else if (t != NULL && (f = gql_type_field(w->s, t, sel->name)) != NULL) {
            if ((f->bind.flags & GQL_BLOCKING) ||
                (sel->selections && sels_block(w, gql_named_type(f->type), sel->selections)))
                return true;
        }
    }
    return false;
}

/* ---------------------------------------------------------------- preparing */

static int parse_failed(struct arena *a, struct gql_error **errs, const struct err *e,
                        struct gql_error_loc where)
{
    struct gql_error **tail = errs;
    const char *msg = e->msg;
    const char *colon = where.line ? strstr(msg, ": ") : NULL;

    /* the location goes in "locations"; the message keeps only the words */
    if (colon != NULL)
        msg = colon + 2;
    if (gql_error_add(a, &tail, (struct gql_loc){where.line, where.column},
                      e->code == ERR_LIMIT ? "QUERY_TOO_COMPLEX" : "GRAPHQL_PARSE_FAILED", "%s",
                      msg) == NULL)
        return ERR_LIMIT;
    return e->code;
}

/* The alias, depth and cost limits of every operation, before validation: measuring is
 * linear in the document whatever it holds (cycles and unknown fragments count nothing), so
 * a hostile document is refused before any rule looks at it. */
static int check_limits(const struct gql_schema *s, const struct gql_doc *doc,
                        const struct gql_limits *lim, struct arena *a, struct gql_error **errs)
{
    for (const struct gql_def *def = doc->defs; def; def = def->next) {
        int rc = def->kind == GQL_DEF_OPERATION ? gql_check_limits(s, doc, def, lim, a, errs) : 0;

        if (rc != 0)
            return rc;
    }
    return 0;
}

static int prepare_ops(struct gql_doc_ref *d, const struct gql_schema *s)
{
    size_t n = 0;

    for (const struct gql_def *def = d->doc->defs; def; def = def->next)
        n += def->kind == GQL_DEF_OPERATION;
    d->ops = arena_zalloc(d->a, (n + 1) * sizeof(*d->ops));
    if (d->ops == NULL)
        return ERR_LIMIT;
    for (const struct gql_def *def = d->doc->defs; def; def = def->next) {
        struct walk w = {.s = s, .doc = d->doc};
        const struct gql_stype *root;

        if (def->kind != GQL_DEF_OPERATION)
            continue;
        root = def->op == GQL_OP_QUERY      ? s->query
               : def->op == GQL_OP_MUTATION ? s->mutation
                                            : s->subscription;
        d->ops[d->nops].op = def;
        d->ops[d->nops++].blocking = sels_block(&w, root, def->selections);
    }
    return 0;
}

int gql_prepare(const struct gql_schema *s, struct slice text, const struct gql_limits *lim,
                struct arena *a, struct gql_doc_ref **out, struct gql_error **errs)
{
    struct gql_doc_ref *d = calloc(1, sizeof(*d));
    struct gql_doc *doc = NULL;
    struct gql_error_loc where = {0};
    struct err e = {0};
    int rc;

    *out = NULL;
    *errs = NULL;
    if (d == NULL)
        return ERR_LIMIT;
    atomic_init(&d->refs, 1);
    d->a = arena_new(&(struct arena_opts){.chunk = 16 << 10});
    rc = gql_parse_executable(d->a, text, lim, &doc, &where, &e);
    if (rc != 0)
        rc = parse_failed(a, errs, &e, where);
    else
        rc = check_limits(s, doc, lim, a, errs);
    if (rc == 0 && gql_validate(s, doc, a, errs) != 0)
        rc = ERR_INVALID;
    if (rc == 0) {
        d->doc = doc;
        rc = prepare_ops(d, s);
    }
    if (rc != 0) {
        gql_doc_ref_put(d);
        return rc;
    }
    *out = d;
    return 0;
}

int gql_doc_operation(const struct gql_doc_ref *d, struct slice name, enum gql_op *op,
                      bool *blocking, struct err *err)
{
    const struct gql_def *def = gql_find_operation(d->doc, name, err);

    if (def == NULL)
        return ERR_INVALID;
    for (size_t i = 0; i < d->nops; i++)
        if (d->ops[i].op == def) {
            *op = def->op;
            *blocking = d->ops[i].blocking;
            return 0;
        }
    return err_set(err, ERR_INTERNAL, "operation not prepared");
}

/* ---------------------------------------------------------------- the cache */

/* An entry is found by a 64-bit hash of its text and confirmed by comparing the text. */
struct entry {
    uint64_t hash;
    char *text;
    size_t len;
    const struct gql_schema *s;
    struct gql_doc_ref *doc;
    struct entry *prev, *next; /* recency, most recent first */
    struct entry *chain;       /* the hash bucket */
};

struct gql_cache {
    size_t capacity, n, nbuckets;
    struct entry **buckets;
    struct entry *head, *tail;
};

struct gql_cache *gql_cache_new(size_t capacity)
{
    struct gql_cache *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->capacity = capacity ? capacity : 1;
    c->nbuckets = 16;
    while (c->nbuckets < c->capacity)
        c->nbuckets *= 2;
    c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
    if (c->buckets == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

static void unlink_lru(struct gql_cache *c, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
}

static void link_front(struct gql_cache *c, struct entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (c->tail == NULL)
        c->tail = e;
}

static struct entry **bucket(struct gql_cache *c, uint64_t hash)
{
    return &c->buckets[hash & (c->nbuckets - 1)];
}

static void evict(struct gql_cache *c, struct entry *e)
{
    struct entry **p = bucket(c, e->hash);

    while (*p != e)
        p = &(*p)->chain;
    *p = e->chain;
    unlink_lru(c, e);
    gql_doc_ref_put(e->doc);
    free(e->text);
    free(e);
    c->n--;
}

void gql_cache_free(struct gql_cache *c)
{
    if (c == NULL)
        return;
    while (c->head)
        evict(c, c->head);
    free(c->buckets);
    free(c);
}

/* FNV-1a over the text, 64 bits: cheap, and a collision only costs a text comparison. */
static uint64_t text_hash(struct slice text)
{
    uint64_t h = 14695981039346656037ull;

    for (size_t i = 0; i < text.len; i++)
        h = (h ^ (uint8_t)text.ptr[i]) * 1099511628211ull;
    return h;
}

static struct entry *find(struct gql_cache *c, const struct gql_schema *s, uint64_t hash,
                          struct slice text)
{
    for (struct entry *e = *bucket(c, hash); e; e = e->chain)
        if (e->hash == hash && e->s == s && e->len == text.len &&
            memcmp(e->text, text.ptr, text.len) == 0)
            return e;
    return NULL;
}

struct gql_doc_ref *gql_cache_get(struct gql_cache *c, const struct gql_schema *s,
                                  struct slice text)
{
    struct entry *e = find(c, s, text_hash(text), text);

    if (e == NULL)
        return NULL;
    unlink_lru(c, e);
    link_front(c, e);
    return gql_doc_ref_get(e->doc);
}

void gql_cache_put(struct gql_cache *c, const struct gql_schema *s, struct slice text,
                   struct gql_doc_ref *d)
{
    uint64_t hash = text_hash(text);
    struct entry *e, **b;

    if (c == NULL || find(c, s, hash, text) != NULL)
        return;
    e = calloc(1, sizeof(*e));
    if (e == NULL || (e->text = malloc(text.len + 1)) == NULL) {
        free(e);
        return;
    }
    memcpy(e->text, text.ptr, text.len);
    e->len = text.len;
    e->hash = hash;
    while (c->n >= c->capacity)
        evict(c, c->tail);
    e->s = s;
    e->doc = gql_doc_ref_get(d);
    b = bucket(c, hash);
    e->chain = *b;
    *b = e;
    link_front(c, e);
    c->n++;
}
