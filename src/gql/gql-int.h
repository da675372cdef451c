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

#endif

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
