/*
 * gql: a GraphQL engine (October 2021 edition of the specification).
 *
 *   language    a lexer and a recursive-descent parser that build an AST in the caller's arena,
 *               and a printer of a canonical compact form (below);
 *   schema      built from SDL, immutable once built and shared by every thread; resolvers are
 *               C functions bound per type and field before the schema is used;
 *   validation  every rule of spec §5, plus limits on aliases, depth and cost;
 *   execution   coercion of variables and arguments, serial mutations, @skip/@include, abstract
 *               types, non-null propagation, errors with locations, path and extensions.code,
 *               introspection (__schema, __type, __typename), subscription events;
 *   documents   parsed and validated once, kept in a cache keyed by their text.
 *
 * Transports (HTTP, graphql-transport-ws) live in the gateway; this module never does I/O.
 *
 * Everything a parse returns lives in the arena it was given and is valid until that arena is
 * freed or reset; nothing points into <src> (names, numbers and decoded strings are copied), so
 * the source buffer may go as soon as the parse returns. Any loop or thread; no global state.
 *
 * Lists in the AST are singly linked through `next` in source order; an absent list is NULL.
 */
#ifndef SLIPWAY_GQL_H
#define SLIPWAY_GQL_H

#include "base/base.h"

/* 1-based; the column counts Unicode code points from the start of the line. */
struct gql_loc {
    uint32_t line, column;
};
/* Where a parse failed, for a response's "locations"; {0, 0} when the failure has no place
 * (a document over max_bytes). */
struct gql_error_loc {
    uint32_t line, column;
};

/* Zero fields take the defaults below. Each is checked while parsing, so a hostile document
 * stops early with ERR_LIMIT and a message naming the limit. */
struct gql_limits {
    size_t max_bytes;  /* size of the source text; 0 = GQL_DEFAULT_MAX_BYTES */
    size_t max_tokens; /* lexical tokens, EOF not counted; 0 = GQL_DEFAULT_MAX_TOKENS */
    /* nested selection sets, list/object values and list types; 0 = 128. Parsing and
     * printing recurse a few small frames per level: keep it to a few thousand at most. */
    unsigned max_depth;
    /* Checked by validation, with fragments expanded where they are used: */
    unsigned max_aliases;     /* aliased fields in the operation; 0 = 100 */
    unsigned max_field_depth; /* nested fields; 0 = 24 */
    uint64_t max_cost;        /* fields, each counted once per place it is executed; 0 = 20000 */
};
#define GQL_DEFAULT_MAX_BYTES       ((size_t)1 << 20)
#define GQL_DEFAULT_MAX_TOKENS      ((size_t)100000)
#define GQL_DEFAULT_MAX_DEPTH       128u
#define GQL_DEFAULT_MAX_ALIASES     100u
#define GQL_DEFAULT_MAX_FIELD_DEPTH 24u
#define GQL_DEFAULT_MAX_COST        20000u

/* ---------------------------------------------------------------- values and types */

enum gql_value_kind {
    GQL_VALUE_VARIABLE, /* str: the name without '$' */
    GQL_VALUE_INT,      /* str: the source text, e.g. "-0" */
    GQL_VALUE_FLOAT,    /* str: the source text, e.g. "1.5e-3" */
    GQL_VALUE_STRING,   /* str: the decoded UTF-8 value (may hold NUL bytes) */
    GQL_VALUE_BOOLEAN,  /* boolean */
    GQL_VALUE_NULL,
    GQL_VALUE_ENUM,   /* str: the name */
    GQL_VALUE_LIST,   /* items */
    GQL_VALUE_OBJECT, /* fields */
};

struct gql_value {
    enum gql_value_kind kind;
    struct gql_loc loc;
    struct slice str;            /* NUL-terminated in the arena */
    bool boolean;                /* GQL_VALUE_BOOLEAN */
    bool block;                  /* a string written as """block""" (printing ignores it) */
    struct gql_value *items;     /* GQL_VALUE_LIST, linked through next */
    struct gql_argument *fields; /* GQL_VALUE_OBJECT */
    struct gql_value *next;      /* the next item of the enclosing list */
};

/* An argument `name: value`, and an object field (same shape). */
struct gql_argument {
    struct gql_loc loc;
    struct slice name;
    struct gql_value *value;
    struct gql_argument *next;
};

struct gql_directive {
    struct gql_loc loc;
    struct slice name; /* without '@' */
    struct gql_argument *args;
    struct gql_directive *next;
};

enum gql_type_kind { GQL_TYPE_NAMED, GQL_TYPE_LIST, GQL_TYPE_NON_NULL };

struct gql_type {
    enum gql_type_kind kind;
    struct gql_loc loc;
    struct slice name;        /* GQL_TYPE_NAMED */
    struct gql_type *of_type; /* GQL_TYPE_LIST and GQL_TYPE_NON_NULL */
};

/* ---------------------------------------------------------------- executable definitions */

enum gql_op { GQL_OP_QUERY, GQL_OP_MUTATION, GQL_OP_SUBSCRIPTION };

struct gql_var_def {
    struct gql_loc loc;      /* of the '$' */
    struct gql_loc name_loc; /* of the name after it */
    struct slice name;       /* without '$' */
    struct gql_type *type;
    struct gql_value *default_value; /* NULL when absent; never holds variables */
    struct gql_directive *directives;
    struct gql_var_def *next;
};

enum gql_selection_kind { GQL_SEL_FIELD, GQL_SEL_SPREAD, GQL_SEL_INLINE };

struct gql_selection {
    enum gql_selection_kind kind;
    struct gql_loc loc;            /* of the first token: the alias, the name or "..." */
    struct gql_loc name_loc;       /* of the field name, or of the spread's fragment name */
    struct gql_loc type_cond_loc;  /* GQL_SEL_INLINE with a type condition: of its name */
    struct gql_loc selections_loc; /* of the '{' when there is a selection set */
    struct slice alias;            /* GQL_SEL_FIELD; len 0 when there is none */
    struct slice name;             /* the field name, or the fragment name of a spread */
    struct slice type_cond;        /* GQL_SEL_INLINE; len 0 when there is none */
    struct gql_argument *args;
    struct gql_directive *directives;
    struct gql_selection *selections; /* NULL for a leaf field and a spread */
    struct gql_selection *next;
};

/* ---------------------------------------------------------------- type-system definitions */

/* An argument definition or an input field: `"desc" name: Type = default @dir`. */
struct gql_input_value {
    struct gql_loc loc;
    struct gql_value *description; /* a GQL_VALUE_STRING or NULL */
    struct slice name;
    struct gql_type *type;
    struct gql_value *default_value;
    struct gql_directive *directives;
    struct gql_input_value *next;
};

struct gql_field_def {
    struct gql_loc loc;
    struct gql_value *description;
    struct slice name;
    struct gql_input_value *args;
    struct gql_type *type;
    struct gql_directive *directives;
    struct gql_field_def *next;
};

/* A name in a list: implemented interfaces, union members, enum values, directive locations. */
struct gql_name {
    struct gql_loc loc;
    struct gql_value *description; /* enum values only */
    struct slice name;
    struct gql_directive *directives; /* enum values only */
    struct gql_name *next;
};

struct gql_root_op {
    struct gql_loc loc;
    enum gql_op op;
    struct slice type;
    struct gql_root_op *next;
};

enum gql_def_kind {
    GQL_DEF_OPERATION,
    GQL_DEF_FRAGMENT,
    GQL_DEF_SCHEMA,
    GQL_DEF_SCALAR,
    GQL_DEF_OBJECT,
    GQL_DEF_INTERFACE,
    GQL_DEF_UNION,
    GQL_DEF_ENUM,
    GQL_DEF_INPUT,
    GQL_DEF_DIRECTIVE,
};

/* One definition; which fields are used depends on kind (the rest are zero). */
struct gql_def {
    enum gql_def_kind kind;
    struct gql_loc loc;
    struct gql_loc name_loc;       /* operations and fragments: of the name, when there is one */
    struct gql_loc type_cond_loc;  /* fragments: of the type condition's name */
    bool extend;                   /* `extend schema|scalar|type|…` */
    struct gql_value *description; /* type-system definitions that are not extensions */
    struct slice name;             /* len 0 for an anonymous operation and for schema */
    struct gql_directive *directives;
    /* GQL_DEF_OPERATION */
    enum gql_op op;
    struct gql_var_def *var_defs;
    /* GQL_DEF_OPERATION and GQL_DEF_FRAGMENT */
    struct gql_selection *selections;
    struct slice type_cond; /* GQL_DEF_FRAGMENT */
    /* GQL_DEF_SCHEMA */
    struct gql_root_op *root_ops;
    /* GQL_DEF_OBJECT, GQL_DEF_INTERFACE: `implements`; GQL_DEF_UNION: members;
     * GQL_DEF_ENUM: values; GQL_DEF_DIRECTIVE: locations */
    struct gql_name *names;
    struct gql_field_def *fields;  /* GQL_DEF_OBJECT, GQL_DEF_INTERFACE */
    struct gql_input_value *input; /* GQL_DEF_INPUT fields; GQL_DEF_DIRECTIVE arguments */
    bool repeatable;               /* GQL_DEF_DIRECTIVE */
    struct gql_def *next;
};

struct gql_doc {
    struct gql_def *defs; /* at least one */
    size_t ndefs;
    size_t ntokens; /* tokens the document had */
};

/* ---------------------------------------------------------------- parsing */

/*
 * Parses <src> (UTF-8) into *out, allocated in <a>. gql_parse() accepts executable and
 * type-system definitions mixed; gql_parse_executable() fails on a type-system definition or
 * extension and gql_parse_schema() on an operation or fragment (SDL). <lim> may be NULL.
 *
 * Returns 0, or:
 *   ERR_INVALID  not GraphQL: err->msg is "line:column: message" ("2:7: expected Name, found
 *                \"}\"") and *where (when not NULL) holds that line and column;
 *   ERR_LIMIT    a limit of <lim> was reached (the message names it: max_bytes, max_tokens or
 *                max_depth), or <a> ran out of budget; *where holds the place when there is one.
 * On failure *out is NULL and what was allocated stays in <a> until it is freed.
 */
int gql_parse(struct arena *a, struct slice src, const struct gql_limits *lim, struct gql_doc **out,
              struct gql_error_loc *where, struct err *err) APP_MUST_CHECK;
int gql_parse_executable(struct arena *a, struct slice src, const struct gql_limits *lim,
                         struct gql_doc **out, struct gql_error_loc *where,
                         struct err *err) APP_MUST_CHECK;
int gql_parse_schema(struct arena *a, struct slice src, const struct gql_limits *lim,
                     struct gql_doc **out, struct gql_error_loc *where,
                     struct err *err) APP_MUST_CHECK;

/*
 * Appends a canonical compact form of <d> to <out>: no comments, commas or optional spaces,
 * strings in "quotes" with escapes (block strings become plain strings), an anonymous query
 * without variables or directives as `{…}` when it comes first (`query{…}` after another). Parsing
 * the output gives the same AST (locations aside) and printing that gives the same text, so it
 * serves as a cache key. Errors are <out>'s sticky error (ERR_LIMIT past its max). Recursion is
 * bounded by the depth the parse allowed.
 */
void gql_print(const struct gql_doc *d, struct sbuf *out);

/* ---------------------------------------------------------------- errors */

/* A step of a response path: a response key, or an index into a list (key.ptr NULL). */
struct gql_path {
    const struct gql_path *parent; /* NULL at the root field */
    struct slice key;
    size_t index;
};

/* One entry of a response's "errors", allocated in an arena; lists link through next. */
struct gql_error {
    const char *message;
    const struct gql_loc *locations; /* nlocations of them, in document order */
    size_t nlocations;
    const struct gql_path *path; /* execution errors only */
    const char *code;            /* extensions.code; NULL for none */
    struct gql_error *next;
};

/* Writes <errs> as the members of a JSON array (the caller opens and closes it). */
void gql_errors_write(struct jw *w, const struct gql_error *errs);

/* ---------------------------------------------------------------- values */

/*
 * One value flowing through execution. Coerced argument and variable values use NULL to
 * LIST and OBJECT; resolvers return any kind: PTR and JSON for objects, the rest for leaves
 * and lists. Nothing here is owned: items, strings and pointers live as long as the request's
 * arena (or longer).
 */
enum gql_vkind {
    GQL_V_NULL,
    GQL_V_BOOL,
    GQL_V_INT,
    GQL_V_FLOAT,
    GQL_V_STRING,
    GQL_V_ENUM,   /* s: the value's name */
    GQL_V_LIST,   /* list: items */
    GQL_V_OBJECT, /* obj: an input object's fields, in the order they were given */
    GQL_V_PTR,    /* ptr: a C object for the resolvers of the field's type */
    GQL_V_JSON,   /* json: a jansson value; the default resolver reads objects' members */
};

struct gql_kv;

struct gql_val {
    enum gql_vkind kind;
    union {
        bool b;
        int64_t i;
        double f;
        struct slice s; /* STRING (may hold NUL bytes), ENUM */
        struct {
            const struct gql_val *items;
            size_t n;
        } list;
        struct {
            const struct gql_kv *fields;
            size_t n;
        } obj;
        struct {
            void *p;
            /* the concrete object type when the field's type is an interface or a union
             * (the bound resolve_type hook decides otherwise) */
            const char *type;
        } ptr;
        const json_t *json; /* JSON objects name their type in "__typename" when abstract */
    };
};

struct gql_kv {
    struct slice name;
    struct gql_val val;
};

#define GQL_NULL          ((struct gql_val){.kind = GQL_V_NULL})
#define GQL_BOOL(v)       ((struct gql_val){.kind = GQL_V_BOOL, .b = (v)})
#define GQL_INT(v)        ((struct gql_val){.kind = GQL_V_INT, .i = (v)})
#define GQL_FLOAT(v)      ((struct gql_val){.kind = GQL_V_FLOAT, .f = (v)})
#define GQL_STRING(v)     ((struct gql_val){.kind = GQL_V_STRING, .s = (v)})
#define GQL_ENUM(v)       ((struct gql_val){.kind = GQL_V_ENUM, .s = (v)})
#define GQL_LIST(v, cnt)  ((struct gql_val){.kind = GQL_V_LIST, .list = {(v), (cnt)}})
#define GQL_PTR(v, tname) ((struct gql_val){.kind = GQL_V_PTR, .ptr = {(v), (tname)}})
#define GQL_JSON(v)       ((struct gql_val){.kind = GQL_V_JSON, .json = (v)})

/* The field <name> of an input object value; NULL when it was not given (a given null is a
 * GQL_V_NULL value). */
const struct gql_val *gql_val_field(const struct gql_val *obj, const char *name);

/* ---------------------------------------------------------------- schema and resolvers */

struct gql_schema;
struct gql_rctx; /* the field being resolved; valid only during the resolver call */

/*
 * A resolver: computes the value of one field of <parent> into *out. Returns 0, or an ERR_*
 * code with <err> set: the field becomes null (or its nearest nullable parent does) and the
 * response carries the message with extensions.code from err_gql_code(). Resolvers run on
 * the thread that called gql_execute(); those that block are bound with GQL_BLOCKING so the
 * transport knows to execute such documents on the worker pool.
 */
typedef int gql_resolve_fn(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                           struct err *err);

/*
 * A subscription's root field: starts a source stream. The resolver keeps <emit> and <sink>
 * and calls emit(sink, &event) for each event, on the loop that called gql_subscribe(); each
 * event becomes the root field's value and the rest of the selection set is executed on it
 * (gql_execute_event). *cancel and *state are what stops the stream: the transport calls
 * cancel(state) exactly once, on that loop, when the subscriber goes; no emit after it.
 */
typedef void gql_emit_fn(void *sink, const struct gql_val *event);
typedef int gql_subscribe_fn(struct gql_rctx *rc, gql_emit_fn *emit, void *sink,
                             void (**cancel)(void *state), void **state, struct err *err);

/* For an interface or union: the name of the object type of <v>, or NULL when it has none. */
typedef const char *gql_type_fn(const struct gql_val *v, void *udata);

/* Scalars: parse turns a variable's or a literal's value (STRING, INT, FLOAT, BOOL) into the
 * scalar's internal value (ERR_INVALID with a message stating the rule otherwise); serialize
 * checks and converts a resolver's value for the response. Either may be NULL (identity). */
typedef int gql_scalar_fn(struct arena *a, const struct gql_val *in, struct gql_val *out,
                          struct err *err);

enum {
    GQL_BLOCKING = 1u << 0, /* the resolver may block (a database call) */
};

struct gql_binding {
    gql_resolve_fn *resolve;     /* NULL: the default resolver (JSON members, else null) */
    gql_subscribe_fn *subscribe; /* Subscription fields only */
    void *udata;                 /* gql_rctx_udata() */
    unsigned flags;
};

/* One SDL text; <name> appears in error messages ("schema/api.graphql:12:3: …"). */
struct gql_source {
    const char *name;
    struct slice text;
};

/*
 * Builds a schema from <n> SDL sources (definitions and extensions may be spread over them)
 * plus the built-in scalars (Int, Float, String, Boolean, ID), directives (@skip, @include,
 * @deprecated, @specifiedBy) and introspection types. Checks the type-system rules of spec §3
 * (names, references, interface implementation, unions of objects, input types in input
 * positions, root types) and fails on the first broken one with ERR_INVALID, the message
 * naming the source, place and rule. The schema owns all its memory.
 */
int gql_schema_build(struct gql_schema **out, const struct gql_source *src, size_t n,
                     struct err *err) APP_MUST_CHECK;
void gql_schema_free(struct gql_schema *s);

/* Binding: before the schema is shared, from one thread. ERR_NOTFOUND names what does not
 * exist in the schema; ERR_INVALID when the kind does not fit (subscribe on a Query field). */
int gql_schema_bind(struct gql_schema *s, const char *type, const char *field,
                    const struct gql_binding *b, struct err *err) APP_MUST_CHECK;
int gql_schema_bind_type(struct gql_schema *s, const char *abstract_type, gql_type_fn *fn,
                         void *udata, struct err *err) APP_MUST_CHECK;
int gql_schema_bind_scalar(struct gql_schema *s, const char *scalar, gql_scalar_fn *parse,
                           gql_scalar_fn *serialize, struct err *err) APP_MUST_CHECK;
/* ERR_INVALID naming the first root field (Query, Mutation, Subscription) without a resolver
 * (Subscription: without subscribe), so a schema and its C code cannot drift apart. */
int gql_schema_check_bound(const struct gql_schema *s, struct err *err) APP_MUST_CHECK;

/* What resolvers may ask of their context. */
struct arena *gql_rctx_arena(const struct gql_rctx *rc); /* the request's */
void *gql_rctx_context(const struct gql_rctx *rc);       /* gql_exec.context */
void *gql_rctx_udata(const struct gql_rctx *rc);         /* the binding's */
const char *gql_rctx_field(const struct gql_rctx *rc);   /* "Query.me" */
/* The coerced argument <name>: NULL when it was neither given nor defaulted. */
const struct gql_val *gql_arg(const struct gql_rctx *rc, const char *name);

/* ---------------------------------------------------------------- documents */

/*
 * A parsed and validated executable document: immutable, reference-counted, safe to share
 * between threads. gql_prepare() parses <text> with <lim>, validates it against <s> and
 * checks the alias, depth and cost limits. On success *out holds a reference. When the
 * document is not valid, *out is NULL, *errs lists every problem (in <a>) and the return is
 * ERR_INVALID (parse and validation errors, code GRAPHQL_PARSE_FAILED or
 * GRAPHQL_VALIDATION_FAILED) or ERR_LIMIT (a limit, code QUERY_TOO_COMPLEX).
 */
struct gql_doc_ref;
int gql_prepare(const struct gql_schema *s, struct slice text, const struct gql_limits *lim,
                struct arena *a, struct gql_doc_ref **out, struct gql_error **errs) APP_MUST_CHECK;
struct gql_doc_ref *gql_doc_ref_get(struct gql_doc_ref *d);
void gql_doc_ref_put(struct gql_doc_ref *d);

/*
 * Validation alone, for tests and tools: every rule of spec §5 on <d> against <s>. Returns
 * the number of errors and links them to *errs in <a> (document order, each rule's errors
 * once). Does not check the limits of gql_prepare(). When <a> cannot hold even one error it
 * returns 1 with *errs NULL: the document is not known to be valid.
 */
size_t gql_validate(const struct gql_schema *s, const struct gql_doc *d, struct arena *a,
                    struct gql_error **errs);

/* The operation a request selects (spec 6.1 GetOperation): <name> with a NULL ptr (no
 * operationName) picks the only one. ERR_INVALID with a message when there is none or it is
 * ambiguous. *blocking tells whether any field it may execute is bound with GQL_BLOCKING. */
int gql_doc_operation(const struct gql_doc_ref *d, struct slice name, enum gql_op *op,
                      bool *blocking, struct err *err) APP_MUST_CHECK;

/*
 * A cache of prepared documents keyed by a hash of their text (and the text compared on a
 * hit), least recently used evicted past <capacity>. Not thread-safe: one per loop. gql_cache_get()
 * returns a new reference or NULL; gql_cache_put() stores a reference of its own.
 */
struct gql_cache;
struct gql_cache *gql_cache_new(size_t capacity);
void gql_cache_free(struct gql_cache *c);
struct gql_doc_ref *gql_cache_get(struct gql_cache *c, const struct gql_schema *s,
                                  struct slice text);
void gql_cache_put(struct gql_cache *c, const struct gql_schema *s, struct slice text,
                   struct gql_doc_ref *d);

/* ---------------------------------------------------------------- execution */

struct gql_exec {
    const struct gql_schema *schema;
    const struct gql_doc_ref *doc;
    struct slice operation_name; /* ptr NULL: the only operation ("" names none) */
    const json_t *variables;     /* an object, or NULL */
    const struct gql_val *root;  /* the root value, or NULL */
    void *context;               /* for resolvers: gql_rctx_context() */
    struct arena *a;             /* request memory: coerced values, errors, resolver output */
};

/*
 * Executes a query or mutation (mutation fields one after another, in order) and appends the
 * whole response object {"data":…,"errors":[…]} to <out>. Returns 0 when execution started
 * (field errors are in the response), or ERR_INVALID for a request error (no such operation,
 * a subscription, variables that do not coerce): the response then has "errors" only.
 * ERR_LIMIT when <out> or the arena ran out (the response is then incomplete).
 */
int gql_execute(const struct gql_exec *x, struct sbuf *out) APP_MUST_CHECK;

/*
 * Subscriptions (spec 6.2.3): gql_subscribe() coerces variables and arguments and calls the
 * root field's subscribe function; a request error answers as gql_execute() does, into <out>.
 * Each event the stream emits is turned into a response by gql_execute_event() with the same
 * <x> (its arena may be a fresh one per event).
 */
int gql_subscribe(const struct gql_exec *x, gql_emit_fn *emit, void *sink,
                  void (**cancel)(void *state), void **state, struct sbuf *out) APP_MUST_CHECK;
int gql_execute_event(const struct gql_exec *x, const struct gql_val *event,
                      struct sbuf *out) APP_MUST_CHECK;

#endif
