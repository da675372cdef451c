/*
 * Validation internals (spec §5), shared by src/gql/validate*.c and their tests only.
 *
 * gql_validate() (validate.c) indexes the document, runs the document-level rules, walks every
 * operation and fragment once with the types the schema gives each place (validate-walk.c,
 * validate-values.c), then runs the rules that need the whole walk: variables per operation
 * and subscriptions (validate-vars.c) and field merging (validate-overlap.c, helped by
 * validate-same.c). gql_check_limits() is validate-limits.c. Everything lives in the caller's
 * arena; nothing is global. Each rule stays linear or close to it on hostile documents: names
 * are found through hash maps, fragments are expanded once per question, pairs of fragments
 * are compared once, and at most GQL_V_MAX_ERRORS errors are made.
 *
 * Where a finding names a place, it is the place graphql-js names when the AST has it (the
 * differential tests compare places): a definition's own place stands in for its name's, an
 * inline fragment's for its type condition's, a field's for its selection set's.
 */
#ifndef SLIPWAY_GQL_VALIDATE_H
#define SLIPWAY_GQL_VALIDATE_H

#include "gql/gql-int.h"

/*
 * The alias, field depth and cost limits of <lim> (0 fields take GQL_DEFAULT_*) for operation
 * <op> of <d>, a document that passed gql_validate() (so no fragment cycles). Fragments are
 * expanded where they are spread, each measured once. Returns 0, or ERR_LIMIT with one error
 * (code QUERY_TOO_COMPLEX) naming the limit and the figure appended to *errs (in <a>).
 */
int gql_check_limits(const struct gql_schema *s, const struct gql_doc *d, const struct gql_def *op,
                     const struct gql_limits *lim, struct arena *a,
                     struct gql_error **errs) APP_MUST_CHECK;

/* Past this many errors validation stops and says so. */
#define GQL_V_MAX_ERRORS 100
#define GQL_V_NONE       UINT32_MAX

/* ---------------------------------------------------------------- name maps */

/* Names to small numbers, open addressing in an arena; grows by doubling. */
struct gql_vmap {
    struct slice *keys;
    uint32_t *vals;
    size_t mask, n; /* mask + 1 slots; 0 slots until the first put */
};

/* The value of <key>, or GQL_V_NONE. */
uint32_t gql_vmap_get(const struct gql_vmap *m, struct slice key);
/* Adds <key> = <val> unless <key> is there. Returns the value <key> had before (GQL_V_NONE
 * when it is new). -1 as uint32 is never a value; false in *ok when <a> is spent. */
uint32_t gql_vmap_put(struct arena *a, struct gql_vmap *m, struct slice key, uint32_t val,
                      bool *ok);

/* ---------------------------------------------------------------- the walk's findings */

/* One place where a variable is used. */
struct gql_vuse {
    const struct gql_value *node; /* name in node->str, place in node->loc */
    const struct gql_stype *type; /* what the place expects; NULL when unknown */
    bool has_default;             /* the place has a default (argument or input field) */
    uint32_t next_same;           /* the next use with the same name, type and default */
};

/* A selection set and the type it selects on (NULL when unknown). */
struct gql_vset {
    const struct gql_selection *sels;
    const struct gql_stype *parent;
};

/* A fragment spread and the fragment it names (GQL_V_NONE when none). */
struct gql_vspread {
    const struct gql_selection *sel;
    uint32_t target;
};

/* An operation or a fragment definition. */
struct gql_vdef {
    const struct gql_def *def;
    /* operations: the root type; fragments: the type condition when it exists and is
     * composite. NULL otherwise. */
    const struct gql_stype *type;
    struct gql_vspread *spreads; /* every fragment spread inside, in document order */
    size_t nspreads, capspreads;
    struct gql_vuse *uses; /* variables used inside (not through spreads) */
    size_t nuses, capuses;
    uint32_t *distinct; /* the first use of each (name, type, default), in order */
    size_t ndistinct;
    uint32_t mark; /* visit stamps of the whole-document passes */
    bool used;     /* reached from an operation */
};

struct gql_vctx {
    const struct gql_schema *s;
    const struct gql_doc *d;
    struct arena *a;
    struct gql_error *head, **tail;
    size_t nerrs;
    struct gql_loc keys[GQL_V_MAX_ERRORS]; /* where each error sorts */
    bool full;                             /* GQL_V_MAX_ERRORS reached or <a> spent: stop looking */
    bool oom;
    struct gql_vdef *ops, *frags;
    size_t nops, nfrags;
    struct gql_vmap frag_names; /* fragment name -> index of its last definition */
    uint32_t stamp;             /* for gql_vdef.mark */
    struct gql_vdef *cur;       /* the definition being walked */
    uint32_t *fstack;           /* room for every fragment, for walks through spreads */
    struct gql_vset *sets;      /* every selection set, for field merging */
    size_t nsets, capsets;
};

/* Appends a validation error at <loc> (line 0: none) and returns it, or NULL once the list is
 * full (validation then winds down). Messages name the thing and the rule. */
struct gql_error *gql_verror(struct gql_vctx *v, struct gql_loc loc, const char *fmt, ...)
    APP_PRINTF(3, 4);
/* Errors are sorted by place at the end; this moves the last error added to <key> (a
 * duplicate sorts where it repeats, though the first place is listed first). */
void gql_verror_key(struct gql_vctx *v, struct gql_loc key);
/* Adds a second (third…) place to <e>, which may be NULL. */
void gql_verror_loc(struct gql_vctx *v, struct gql_error *e, struct gql_loc loc);
/* Adds places <locs>[<n>] to <e> (which may be NULL) in one allocation. */
void gql_verror_locs(struct gql_vctx *v, struct gql_error *e, const struct gql_loc *locs, size_t n);
/* Records that <a> is spent: validation stops and reports it. Returns NULL for convenience. */
void *gql_vnomem(struct gql_vctx *v);
/* Grows *arr (of *cap items of <size> bytes) so that one more fits; false when out of memory. */
bool gql_vgrow(struct gql_vctx *v, void **arr, size_t *cap, size_t n, size_t size);
/* " Did you mean \"x\" or \"y\"?" naming up to three of <names>[<n>] (each <stride> bytes
 * after the last) close to <input> in spelling, or "" (into <buf>). Made only when an error
 * is reported, so the error cap bounds its cost. */
const char *gql_vsuggest(struct slice input, const struct slice *names, size_t n, size_t stride,
                         char *buf, size_t len);
/* The fragment named <name>, or NULL. */
struct gql_vdef *gql_vfrag(const struct gql_vctx *v, struct slice name);
/* A new stamp for gql_vdef.mark (all marks differ from it). */
uint32_t gql_vstamp(struct gql_vctx *v);

/* ---------------------------------------------------------------- the walk */

/* Operation or fragment <vd>: types, fields, arguments, directives, values, spreads and
 * variable definitions (validate-walk.c). */
void gql_vwalk_def(struct gql_vctx *v, struct gql_vdef *vd);
/* Directives <dirs> at a place of kind <where>: defined, allowed there, unique, arguments. */
void gql_vcheck_directives(struct gql_vctx *v, const struct gql_directive *dirs,
                           enum gql_dir_loc where);
/* Arguments <args> given to field or directive <owner> (a description for messages such as
 * "field \"Dog.name\"") whose definitions are <defs>[<ndefs>] (NULL: unknown owner, only
 * uniqueness and variables are checked). <loc> is the owner's place. */
void gql_vcheck_args(struct gql_vctx *v, const struct gql_argument *args, const char *owner,
                     const struct gql_sarg *defs, size_t ndefs, bool known, struct gql_loc loc);

/* Value <val> at a place expecting <type> (NULL: unknown, only variables are recorded);
 * <has_default>: the place has a default value (validate-values.c). */
void gql_vcheck_value(struct gql_vctx *v, const struct gql_value *val, const struct gql_stype *type,
                      bool has_default);
/* A short text of <val> for messages ("{name: 1}", cut with "…"), into <buf>. */
void gql_vdescribe_value(const struct gql_value *val, char *buf, size_t n);
/* Names given twice in one list (<names>[<n>], places <locs>): with <grouped>, one error per
 * repeated name listing every place; otherwise one per repeat, naming the first place and it.
 * Messages say "There can be only one <what> named \"<sigil><name>\"." */
void gql_vcheck_unique(struct gql_vctx *v, const struct slice *names, const struct gql_loc *locs,
                       size_t n, bool grouped, const char *what, const char *sigil);

/* ---------------------------------------------------------------- field merging (5.3.2) */

/* (a, b) -> value, open addressing in the arena; 0 is "absent" and never a value. */
struct gql_vpmap {
    uintptr_t *k1, *k2, *val;
    size_t mask, n;
};
uintptr_t gql_vpmap_get(const struct gql_vpmap *m, uintptr_t a, uintptr_t b);
/* Sets (a, b) to <val> (not 0); false when out of memory (recorded in <v>). */
bool gql_vpmap_set(struct gql_vctx *v, struct gql_vpmap *m, uintptr_t a, uintptr_t b,
                   uintptr_t val);

/* A field as field merging sees it. */
struct gql_vfield {
    const struct gql_stype *parent; /* NULL when unknown */
    const struct gql_selection *node;
    const struct gql_sfield *def; /* NULL when unknown or a meta field */
};

/* Same arguments in the sense of graphql-js sameArguments: as many, each found by name with
 * an equal literal (object fields in any order). */
bool gql_vsame_args(const struct gql_argument *a, const struct gql_argument *b);
/* Fields any comparison treats alike: same parent, field, arguments (in order) and
 * sub-selections (the same text, directives aside). Alike fields have equal hashes. */
bool gql_vfields_alike(const struct gql_vfield *a, const struct gql_vfield *b);
uint64_t gql_vfield_hash(const struct gql_vfield *f);
/* The first field of each kind (alike fields) of <f>[<n>], by index in order, into <out>
 * (room for <n>), and for each field the index of the first of its kind into <kind_of>;
 * returns how many kinds. 0 when out of memory. */
size_t gql_vkinds(struct gql_vctx *v, const struct gql_vfield *f, size_t n, uint32_t *out,
                  uint32_t *kind_of);
uint64_t gql_vhash_mix(uint64_t h, uint64_t x);
uint64_t gql_vhash_slice(struct slice s);

/* Two fields with the same response name that cannot merge: why (<reason>, or the conflicts
 * of their sub-selections in <subs>) and where. */
struct gql_vconflict {
    struct slice key;
    const char *reason; /* NULL when made of subs */
    struct gql_vconflict *subs;
    const struct gql_selection *n1, *n2;
    struct gql_vconflict *next;
};
/* Reports <c> with every field it involves (graphql-js order: the first side's fields, then
 * the second's), unless its two fields are in <reported> already (an inline fragment's set
 * and the set around it find the same pair). */
void gql_vreport_conflict(struct gql_vctx *v, struct gql_vpmap *reported,
                          const struct gql_vconflict *c);

/* ---------------------------------------------------------------- whole-document rules */

/* 5.8.3, 5.8.4, 5.8.5 for operation <op> (validate-vars.c). */
void gql_vcheck_variables(struct gql_vctx *v, struct gql_vdef *op);
/* 5.2.3.1 for subscription <op>. */
void gql_vcheck_subscription(struct gql_vctx *v, struct gql_vdef *op);
/* 5.3.2 on every selection set the walk recorded (validate-overlap.c). */
void gql_vcheck_overlap(struct gql_vctx *v);

#endif
