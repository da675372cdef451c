/* gql internals: the lexer the parser drives. Private to src/gql and its tests. */
#ifndef SLIPWAY_GQL_INT_H
#define SLIPWAY_GQL_INT_H

#include "gql/gql.h"

enum gql_tok {
    GQL_T_EOF,
    GQL_T_BANG,
    GQL_T_DOLLAR,
    GQL_T_AMP,
    GQL_T_LPAREN,
    GQL_T_RPAREN,
    GQL_T_SPREAD,
    GQL_T_COLON,
    GQL_T_EQUALS,
    GQL_T_AT,
    GQL_T_LBRACKET,
    GQL_T_RBRACKET,
    GQL_T_LBRACE,
    GQL_T_PIPE,
    GQL_T_RBRACE,
    GQL_T_NAME,
    GQL_T_INT,
    GQL_T_FLOAT,
    GQL_T_STRING,
    GQL_T_BLOCK_STRING,
};

struct gql_token {
    enum gql_tok kind;
    struct gql_loc loc;
    struct slice text; /* names and numbers: the source text; strings: the decoded value */
};

/* Produces tokens one at a time from a source. Errors are sticky: after the first, next()
 * returns it again and the token stays EOF. Strings are decoded into <a>. */
struct gql_lexer {
    struct arena *a;
    const char *p, *end;
    const char *line_start; /* of the current line */
    const char *col_base;   /* a place on the current line whose column is col_at_base */
    uint32_t line, col_at_base;
    size_t ntokens, max_tokens;
    int rc;
    struct err *err;
    struct gql_error_loc *where;
    struct gql_token tok;
};

void gql_lexer_init(struct gql_lexer *lx, struct arena *a, struct slice src, size_t max_tokens,
                    struct err *err, struct gql_error_loc *where);
/* Moves lx->tok to the next token. 0 or the sticky error (ERR_INVALID, ERR_LIMIT). */
int gql_lexer_next(struct gql_lexer *lx);
/* Records the first error as "line:column: message" at <loc>; returns lx->rc. */
int gql_lexer_fail(struct gql_lexer *lx, struct gql_loc loc, int code, const char *fmt, ...)
    APP_PRINTF(4, 5);
/* "Name \"foo\"", "\"}\"", "<EOF>", "Int \"12\"" … into <buf>. */
void gql_token_describe(const struct gql_token *t, char *buf, size_t n);

/* Appends <s> as a GraphQL string literal. */
void gql_print_string(struct sbuf *out, struct slice s);
/* Appends literal <v> in the compact form of gql_print(). */
void gql_print_value(struct sbuf *out, const struct gql_value *v);

/* ---------------------------------------------------------------- schema internals */

/*
 * The built schema: read-only after gql_schema_build() and the binds, so any thread may read
 * it without locks. Everything lives in s->a. Named types are found through a hash table;
 * fields, arguments and values are small arrays searched linearly.
 */
enum gql_kind {
    GQL_KIND_SCALAR,
    GQL_KIND_OBJECT,
    GQL_KIND_INTERFACE,
    GQL_KIND_UNION,
    GQL_KIND_ENUM,
    GQL_KIND_INPUT_OBJECT,
    GQL_KIND_LIST,
    GQL_KIND_NON_NULL,
};

struct gql_stype;

/* A deprecation: reason.ptr is NULL when the element is not deprecated. */
struct gql_deprecation {
    bool deprecated;
    struct slice reason;
};

/* An argument definition, or an input object's field. */
struct gql_sarg {
    struct slice name, description; /* description.ptr NULL when none */
    const struct gql_stype *type;
    const struct gql_value *default_value; /* a const literal, or NULL */
    struct gql_deprecation dep;
};

struct gql_sfield {
    struct slice name, description;
    const struct gql_sarg *args;
    size_t nargs;
    const struct gql_stype *type;
    const struct gql_stype *owner; /* the object or interface that defines it */
    struct gql_deprecation dep;
    struct gql_binding bind;
    char *qualified; /* "Type.field" */
};

struct gql_senum {
    struct slice name, description;
    struct gql_deprecation dep;
};

struct gql_stype {
    enum gql_kind kind;
    struct slice name; /* ptr NULL for LIST and NON_NULL */
    struct slice description;
    struct slice specified_by;       /* SCALAR: @specifiedBy(url:), ptr NULL when none */
    const struct gql_stype *of_type; /* LIST, NON_NULL */
    struct gql_sfield *fields;       /* OBJECT, INTERFACE */
    size_t nfields;
    const struct gql_stype **interfaces; /* OBJECT, INTERFACE: what it implements */
    size_t ninterfaces;
    const struct gql_stype **possible; /* INTERFACE: implementing objects; UNION: members */
    size_t npossible;
    struct gql_senum *values; /* ENUM */
    size_t nvalues;
    struct gql_sarg *input; /* INPUT_OBJECT fields */
    size_t ninput;
    struct gql_loc loc; /* of the definition, for messages */
    const char *source; /* its gql_source name; NULL for built-ins */
    bool builtin;       /* scalars and introspection types that printing skips */
    /* binds */
    gql_type_fn *resolve_type; /* INTERFACE, UNION */
    void *type_udata;
    gql_scalar_fn *parse, *serialize; /* SCALAR */
    /* wrappers made of this type, made once each */
    const struct gql_stype *list_of, *non_null_of;
};

/* Directive locations, in the order of the spec's grammar (bit i of gql_sdirective.locations). */
enum gql_dir_loc {
    GQL_DL_QUERY,
    GQL_DL_MUTATION,
    GQL_DL_SUBSCRIPTION,
    GQL_DL_FIELD,
    GQL_DL_FRAGMENT_DEFINITION,
    GQL_DL_FRAGMENT_SPREAD,
    GQL_DL_INLINE_FRAGMENT,
    GQL_DL_VARIABLE_DEFINITION,
    GQL_DL_SCHEMA,
    GQL_DL_SCALAR,
    GQL_DL_OBJECT,
    GQL_DL_FIELD_DEFINITION,
    GQL_DL_ARGUMENT_DEFINITION,
    GQL_DL_INTERFACE,
    GQL_DL_UNION,
    GQL_DL_ENUM,
    GQL_DL_ENUM_VALUE,
    GQL_DL_INPUT_OBJECT,
    GQL_DL_INPUT_FIELD_DEFINITION,
    GQL_DL_COUNT,
};
extern const char *const gql_dir_loc_names[GQL_DL_COUNT];

struct gql_sdirective {
    struct slice name, description;
    const struct gql_sarg *args;
    size_t nargs;
    uint32_t locations; /* 1u << enum gql_dir_loc */
    bool repeatable, builtin;
};

struct gql_schema {
    struct arena *a;
    struct slice description;
    const struct gql_stype *query, *mutation, *subscription; /* NULL when absent */
    const struct gql_stype **types; /* named types, built-ins first, then definition order */
    size_t ntypes;
    const struct gql_stype **table; /* open addressing by name, tmask + 1 slots */
    size_t tmask;
    const struct gql_sdirective **directives;
    size_t ndirectives;
    /* the built-in scalars and the introspection types the executor needs */
    const struct gql_stype *t_int, *t_float, *t_string, *t_boolean, *t_id;
    const struct gql_stype *t_schema, *t_type;               /* __Schema, __Type */
    const struct gql_sfield *f_schema, *f_type, *f_typename; /* meta fields */
};

/* Building (schema.c) hands its checks to schema-check.c and its introspection to
 * introspect.c. A failure is recorded once (the first) and every later call returns it. */
struct gql_schema_builder;
int gql_schema_fail(struct gql_schema_builder *b, const struct gql_stype *t, struct gql_loc loc,
                    const char *fmt, ...) APP_PRINTF(4, 5);
/* The type-system rules that need the whole schema (spec 3.6–3.10): fields and members
 * present, interfaces implemented correctly, no loop of required input fields, defaults of
 * the right type, deprecated arguments optional. */
void gql_schema_check_types(struct gql_schema_builder *b, const struct gql_schema *s);
/* The SDL of the built-in scalars, directives and introspection types. */
struct slice gql_prelude_sdl(void);
/* Binds the introspection types' resolvers. */
int gql_introspection_bind(struct gql_schema *s, struct err *err);

uint32_t gql_name_hash(struct slice name); /* FNV-1a, for the type table */
/* A LIST or NON_NULL wrapper of <of>, new in <a>. */
const struct gql_stype *gql_type_wrap_new(struct arena *a, enum gql_kind kind,
                                          const struct gql_stype *of);
const struct gql_stype *gql_schema_type(const struct gql_schema *s, struct slice name);
const struct gql_sdirective *gql_schema_directive(const struct gql_schema *s, struct slice name);
/* A field of an object or interface; also __typename on any composite type, and __schema
 * and __type on the query type. NULL when none. */
const struct gql_sfield *gql_type_field(const struct gql_schema *s, const struct gql_stype *t,
                                        struct slice name);
const struct gql_sarg *gql_field_arg(const struct gql_sarg *args, size_t n, struct slice name);
const struct gql_senum *gql_enum_value(const struct gql_stype *t, struct slice name);
/* The named type under any LIST and NON_NULL wrappers. */
const struct gql_stype *gql_named_type(const struct gql_stype *t);
/* The stype for an AST type reference, wrappers included; NULL when its name is unknown (or
 * <a> is spent). Wrappers the schema itself does not use are made in <a>: the schema is
 * shared and never changes after it is built. */
const struct gql_stype *gql_schema_type_ref(const struct gql_schema *s, const struct gql_type *t,
                                            struct arena *a);
static inline bool gql_is_composite(const struct gql_stype *t)
{
    return t->kind == GQL_KIND_OBJECT || t->kind == GQL_KIND_INTERFACE || t->kind == GQL_KIND_UNION;
}
static inline bool gql_is_abstract(const struct gql_stype *t)
{
    return t->kind == GQL_KIND_INTERFACE || t->kind == GQL_KIND_UNION;
}
bool gql_is_input_type(const struct gql_stype *t);  /* scalar, enum, input object (wrapped) */
bool gql_is_output_type(const struct gql_stype *t); /* not an input object (wrapped) */
bool gql_is_leaf(const struct gql_stype *t);        /* scalar or enum (unwrapped) */
/* Whether object type <obj> is a possible type of <abstract> (or is it). */
bool gql_is_possible(const struct gql_stype *abstract, const struct gql_stype *obj);
/* Whether the two composite types can have an object in common (spec 5.5.2.3). */
bool gql_types_overlap(const struct gql_stype *a, const struct gql_stype *b);
/* Spec IsSubType for input/output positions: <sub> can be used where <super> is expected. */
bool gql_is_subtype(const struct gql_stype *sub, const struct gql_stype *super);
bool gql_types_equal(const struct gql_stype *a, const struct gql_stype *b);
/* <d> as JavaScript writes a Number ("1", "0.1", "1e-7", "1e+21"), so results coerced to
 * String and printed defaults agree with the reference implementation; <n> at least 32. */
void gql_number_text(double d, char *buf, size_t n);
/* "[Int!]!" into <buf>. */
void gql_type_describe(const struct gql_stype *t, char *buf, size_t n);

/* Error list building for validation and execution: a new error with one location (line 0:
 * none) appended to *tail; NULL when the arena is spent. */
struct gql_error *gql_error_add(struct arena *a, struct gql_error ***tail, struct gql_loc loc,
                                const char *code, const char *fmt, ...) APP_PRINTF(5, 6);
/* Adds a location to <e> (messages that name two places). */
void gql_error_add_loc(struct arena *a, struct gql_error *e, struct gql_loc loc);

/* ---------------------------------------------------------------- documents internals */

/* The parsed document of a prepared reference. */
const struct gql_doc *gql_doc_ref_doc(const struct gql_doc_ref *d);
/* Spec GetOperation; NULL with ERR_INVALID and a message when there is none to pick. */
const struct gql_def *gql_find_operation(const struct gql_doc *d, struct slice name,
                                         struct err *err);

/* ---------------------------------------------------------------- values internals */

/*
 * Coercion (spec §5.6, 6.4.1, 6.4.2). Literal <v> (which may hold variables, looked up in
 * <vars>) or JSON <j> to a value of input type <t>. On failure, ERR_INVALID with a message
 * that names the place (<what>: "argument \"id\"", "variable \"$input\"" …) and the rule,
 * e.g. "variable \"$input\" got invalid value at \"input.name\": String cannot represent 42".
 * *out is GQL_V_NULL for null. <absent> reports a variable that was not provided.
 */
/* The coerced variable values of one request: a variable given (null included) is here, one
 * left out is not. */
struct gql_vars {
    const struct gql_kv *items;
    size_t n;
};
/* The value of variable <name>, NULL when it was not given. */
const struct gql_val *gql_vars_get(const struct gql_vars *v, struct slice name);
int gql_coerce_literal(struct arena *a, const struct gql_value *v, const struct gql_stype *t,
                       const struct gql_vars *vars, struct gql_val *out, bool *absent,
                       struct err *err);
int gql_coerce_json(struct arena *a, const json_t *j, const struct gql_stype *t, const char *what,
                    struct gql_val *out, struct err *err);

/* ---------------------------------------------------------------- parser internals */

/* A recursive-descent parser over one lexer. Errors are the lexer's sticky error: every
 * function returns NULL (or false) once p->lx.rc is set, and callers just check it. */
struct gql_parser {
    struct gql_lexer lx;
    struct arena *a;
    unsigned depth, max_depth;
};

static inline bool gql_parser_is(const struct gql_parser *p, enum gql_tok kind)
{
    return p->lx.rc == 0 && p->lx.tok.kind == kind;
}
bool gql_parser_is_name(const struct gql_parser *p, const char *name);
int gql_parser_fail(struct gql_parser *p, const char *fmt, ...) APP_PRINTF(2, 3);
/* Fails with "expected <what>, found <current token>". */
int gql_parser_fail_expected(struct gql_parser *p, const char *what);
void gql_parser_advance(struct gql_parser *p);
bool gql_parser_skip(struct gql_parser *p, enum gql_tok kind);
bool gql_parser_expect(struct gql_parser *p, enum gql_tok kind);
/* <s> copied into the arena (NUL-terminated); ERR_LIMIT when the arena is spent. */
struct slice gql_parser_dup(struct gql_parser *p, struct slice s);
/* A Name token copied into the arena; {NULL, 0} on error. */
struct slice gql_parser_name(struct gql_parser *p);
void *gql_parser_alloc(struct gql_parser *p, size_t n);
/* One more level of nesting, or ERR_LIMIT naming max_depth; gql_parser_leave() undoes it. */
bool gql_parser_enter(struct gql_parser *p);
void gql_parser_leave(struct gql_parser *p);

struct gql_value *gql_parse_value(struct gql_parser *p, bool is_const);
struct gql_type *gql_parse_type(struct gql_parser *p);
struct gql_directive *gql_parse_directives(struct gql_parser *p, bool is_const);
/* A definition starting with a description or one of the SDL keywords (sdl.c). */
struct gql_def *gql_parse_type_system(struct gql_parser *p);
bool gql_starts_type_system(const struct gql_parser *p);

#endif
