/*
 * gql: the GraphQL language (October 2021 edition): a lexer and a recursive-descent parser
 * that build an AST in the caller's arena, and a printer of a canonical compact form.
 * Validation and execution come later and live elsewhere.
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
};
#define GQL_DEFAULT_MAX_BYTES  ((size_t)1 << 20)
#define GQL_DEFAULT_MAX_TOKENS ((size_t)100000)
#define GQL_DEFAULT_MAX_DEPTH  128u

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
    struct gql_loc loc;
    struct slice name; /* without '$' */
    struct gql_type *type;
    struct gql_value *default_value; /* NULL when absent; never holds variables */
    struct gql_directive *directives;
    struct gql_var_def *next;
};

enum gql_selection_kind { GQL_SEL_FIELD, GQL_SEL_SPREAD, GQL_SEL_INLINE };

struct gql_selection {
    enum gql_selection_kind kind;
    struct gql_loc loc;
    struct slice alias;     /* GQL_SEL_FIELD; len 0 when there is none */
    struct slice name;      /* the field name, or the fragment name of a spread */
    struct slice type_cond; /* GQL_SEL_INLINE; len 0 when there is none */
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

#endif
