/*
 * The GraphQL parser (spec §2, October 2021): documents, executable definitions, values,
 * types and directives. Type-system definitions are in sdl.c. Nesting (selection sets, list
 * and object values, list types) is counted before each recursion, so no input can take the
 * stack past max_depth levels.
 */
#include <stdio.h>

#include "gql/gql-int.h"

static const char *const tok_names[] = {
    [GQL_T_EOF] = "<EOF>",      [GQL_T_BANG] = "\"!\"",
    [GQL_T_DOLLAR] = "\"$\"",   [GQL_T_AMP] = "\"&\"",
    [GQL_T_LPAREN] = "\"(\"",   [GQL_T_RPAREN] = "\")\"",
    [GQL_T_SPREAD] = "\"...\"", [GQL_T_COLON] = "\":\"",
    [GQL_T_EQUALS] = "\"=\"",   [GQL_T_AT] = "\"@\"",
    [GQL_T_LBRACKET] = "\"[\"", [GQL_T_RBRACKET] = "\"]\"",
    [GQL_T_LBRACE] = "\"{\"",   [GQL_T_PIPE] = "\"|\"",
    [GQL_T_RBRACE] = "\"}\"",   [GQL_T_NAME] = "Name",
    [GQL_T_INT] = "Int",        [GQL_T_FLOAT] = "Float",
    [GQL_T_STRING] = "String",  [GQL_T_BLOCK_STRING] = "BlockString",
};

/* ---------------------------------------------------------------- helpers */

bool gql_parser_is_name(const struct gql_parser *p, const char *name)
{
    return gql_parser_is(p, GQL_T_NAME) && slice_eq_cstr(p->lx.tok.text, name);
}

int gql_parser_fail(struct gql_parser *p, const char *fmt, ...)
{
    char msg[sizeof(p->lx.err->msg)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return gql_lexer_fail(&p->lx, p->lx.tok.loc, ERR_INVALID, "%s", msg);
}

int gql_parser_fail_expected(struct gql_parser *p, const char *what)
{
    char found[80];

    if (p->lx.rc != 0)
        return p->lx.rc;
    gql_token_describe(&p->lx.tok, found, sizeof(found));
    return gql_parser_fail(p, "expected %s, found %s", what, found);
}

void gql_parser_advance(struct gql_parser *p)
{
    (void)gql_lexer_next(&p->lx); /* the error is sticky in p->lx.rc */
}

bool gql_parser_skip(struct gql_parser *p, enum gql_tok kind)
{
    if (!gql_parser_is(p, kind))
        return false;
    gql_parser_advance(p);
    return p->lx.rc == 0;
}

bool gql_parser_expect(struct gql_parser *p, enum gql_tok kind)
{
    if (gql_parser_skip(p, kind))
        return true;
    gql_parser_fail_expected(p, tok_names[kind]);
    return false;
}

void *gql_parser_alloc(struct gql_parser *p, size_t n)
{
    void *m;

    if (p->lx.rc != 0)
        return NULL;
    m = arena_zalloc(p->a, n);
    if (m == NULL)
        gql_lexer_fail(&p->lx, p->lx.tok.loc, ERR_LIMIT, "document needs more memory than allowed");
    return m;
}

struct slice gql_parser_dup(struct gql_parser *p, struct slice s)
{
    struct slice copy = slice_dup(p->a, s);

    if (copy.ptr == NULL)
        gql_lexer_fail(&p->lx, p->lx.tok.loc, ERR_LIMIT, "document needs more memory than allowed");
    return copy;
}

struct slice gql_parser_name(struct gql_parser *p)
{
    struct slice s;

    if (!gql_parser_is(p, GQL_T_NAME)) {
        gql_parser_fail_expected(p, "Name");
        return SLICE_NULL;
    }
    s = gql_parser_dup(p, p->lx.tok.text);
    gql_parser_advance(p);
    return p->lx.rc == 0 ? s : SLICE_NULL;
}

bool gql_parser_enter(struct gql_parser *p)
{
    if (p->lx.rc != 0)
        return false;
    if (p->depth >= p->max_depth) {
        gql_lexer_fail(&p->lx, p->lx.tok.loc, ERR_LIMIT, "nested deeper than %u levels (max_depth)",
                       p->max_depth);
        return false;
    }
    p->depth++;
    return true;
}

void gql_parser_leave(struct gql_parser *p)
{
    p->depth--;
}

/* ---------------------------------------------------------------- values */

static struct gql_argument *parse_argument(struct gql_parser *p, bool is_const)
{
    struct gql_argument *arg = gql_parser_alloc(p, sizeof(*arg));

    if (arg == NULL)
        return NULL;
    arg->loc = p->lx.tok.loc;
    arg->name = gql_parser_name(p);
    if (!gql_parser_expect(p, GQL_T_COLON))
        return NULL;
    arg->value = gql_parse_value(p, is_const);
    return p->lx.rc == 0 ? arg : NULL;
}

/* `open` Argument* `close`; at least one unless <allow_empty>. */
static struct gql_argument *parse_argument_list(struct gql_parser *p, bool is_const,
                                                enum gql_tok close, bool allow_empty)
{
    struct gql_argument *head = NULL, **tail = &head;

    gql_parser_advance(p);
    if (!allow_empty || !gql_parser_is(p, close)) {
        do {
            *tail = parse_argument(p, is_const);
            if (*tail == NULL)
                return NULL;
            tail = &(*tail)->next;
        } while (p->lx.rc == 0 && !gql_parser_is(p, close));
    }
    return gql_parser_expect(p, close) ? head : NULL;
}

static bool parse_list(struct gql_parser *p, struct gql_value *v, bool is_const)
{
    struct gql_value **tail = &v->items;

    v->kind = GQL_VALUE_LIST;
    if (!gql_parser_enter(p))
        return false;
    gql_parser_advance(p);
    while (p->lx.rc == 0 && !gql_parser_is(p, GQL_T_RBRACKET)) {
        *tail = gql_parse_value(p, is_const);
        if (*tail == NULL)
            return false;
        tail = &(*tail)->next;
    }
    gql_parser_leave(p);
    return gql_parser_expect(p, GQL_T_RBRACKET);
}

static bool parse_object(struct gql_parser *p, struct gql_value *v, bool is_const)
{
    v->kind = GQL_VALUE_OBJECT;
    if (!gql_parser_enter(p))
        return false;
    v->fields = parse_argument_list(p, is_const, GQL_T_RBRACE, true);
    gql_parser_leave(p);
    return p->lx.rc == 0;
}

static bool parse_name_value(struct gql_parser *p, struct gql_value *v)
{
    struct slice s = p->lx.tok.text;

    if (slice_eq_cstr(s, "true") || slice_eq_cstr(s, "false")) {
        v->kind = GQL_VALUE_BOOLEAN;
        v->boolean = slice_eq_cstr(s, "true");
        gql_parser_advance(p);
    } else if (slice_eq_cstr(s, "null")) {
        v->kind = GQL_VALUE_NULL;
        gql_parser_advance(p);
    } else {
        v->kind = GQL_VALUE_ENUM;
        v->str = gql_parser_name(p);
    }
    return p->lx.rc == 0;
}

static bool parse_scalar(struct gql_parser *p, struct gql_value *v, bool is_const)
{
    switch (p->lx.tok.kind) {
    case GQL_T_DOLLAR:
        if (is_const)
            return gql_parser_fail(p, "unexpected variable in a constant value"), false;
        gql_parser_advance(p);
        v->kind = GQL_VALUE_VARIABLE;
        v->str = gql_parser_name(p);
        return p->lx.rc == 0;
    case GQL_T_INT:
    case GQL_T_FLOAT:
        v->kind = p->lx.tok.kind == GQL_T_INT ? GQL_VALUE_INT : GQL_VALUE_FLOAT;
        v->str = gql_parser_dup(p, p->lx.tok.text);
        break;
    case GQL_T_STRING:
    case GQL_T_BLOCK_STRING:
        v->kind = GQL_VALUE_STRING;
        v->block = p->lx.tok.kind == GQL_T_BLOCK_STRING;
        v->str = p->lx.tok.text; /* decoded into the arena already */
        break;
    case GQL_T_NAME:
        return parse_name_value(p, v);
    default:
        return gql_parser_fail_expected(p, "a value"), false;
    }
    gql_parser_advance(p);
    return p->lx.rc == 0;
}

struct gql_value *gql_parse_value(struct gql_parser *p, bool is_const)
{
    struct gql_value *v = gql_parser_alloc(p, sizeof(*v));
    bool ok;

    if (v == NULL)
        return NULL;
    v->loc = p->lx.tok.loc;
    if (gql_parser_is(p, GQL_T_LBRACKET))
        ok = parse_list(p, v, is_const);
    else if (gql_parser_is(p, GQL_T_LBRACE))
        ok = parse_object(p, v, is_const);
    else
        ok = parse_scalar(p, v, is_const);
    return ok && p->lx.rc == 0 ? v : NULL;
}

/* ---------------------------------------------------------------- types and directives */

struct gql_type *gql_parse_type(struct gql_parser *p)
{
    struct gql_type *t = gql_parser_alloc(p, sizeof(*t)), *nn;

    if (t == NULL)
        return NULL;
    t->loc = p->lx.tok.loc;
    if (gql_parser_is(p, GQL_T_LBRACKET)) {
        t->kind = GQL_TYPE_LIST;
        if (!gql_parser_enter(p))
            return NULL;
        gql_parser_advance(p);
        t->of_type = gql_parse_type(p);
        gql_parser_leave(p);
        if (!gql_parser_expect(p, GQL_T_RBRACKET))
            return NULL;
    } else {
        t->kind = GQL_TYPE_NAMED;
        t->name = gql_parser_name(p);
    }
    if (!gql_parser_is(p, GQL_T_BANG))
        return p->lx.rc == 0 ? t : NULL;
    nn = gql_parser_alloc(p, sizeof(*nn));
    if (nn == NULL)
        return NULL;
    *nn = (struct gql_type){.kind = GQL_TYPE_NON_NULL, .loc = t->loc, .of_type = t};
    gql_parser_advance(p);
    return p->lx.rc == 0 ? nn : NULL;
}

struct gql_directive *gql_parse_directives(struct gql_parser *p, bool is_const)
{
    struct gql_directive *head = NULL, **tail = &head;

    while (gql_parser_is(p, GQL_T_AT)) {
        struct gql_directive *d = gql_parser_alloc(p, sizeof(*d));

        if (d == NULL)
            return NULL;
        d->loc = p->lx.tok.loc;
        gql_parser_advance(p);
        d->name = gql_parser_name(p);
        if (gql_parser_is(p, GQL_T_LPAREN))
            d->args = parse_argument_list(p, is_const, GQL_T_RPAREN, false);
        *tail = d;
        tail = &d->next;
    }
    return p->lx.rc == 0 ? head : NULL;
}

/* ---------------------------------------------------------------- selections */

static struct gql_selection *parse_selection_set(struct gql_parser *p);

static void parse_field(struct gql_parser *p, struct gql_selection *s)
{
    s->kind = GQL_SEL_FIELD;
    s->name_loc = p->lx.tok.loc;
    s->name = gql_parser_name(p);
    if (gql_parser_skip(p, GQL_T_COLON)) {
        s->alias = s->name;
        s->name_loc = p->lx.tok.loc;
        s->name = gql_parser_name(p);
    }
    if (gql_parser_is(p, GQL_T_LPAREN))
        s->args = parse_argument_list(p, false, GQL_T_RPAREN, false);
    s->directives = gql_parse_directives(p, false);
    if (gql_parser_is(p, GQL_T_LBRACE)) {
        s->selections_loc = p->lx.tok.loc;
        s->selections = parse_selection_set(p);
    }
}

/* After "...": a spread `...Name`, or an inline fragment `... on T`, `... @d {`, `... {`. */
static void parse_fragment_selection(struct gql_parser *p, struct gql_selection *s)
{
    gql_parser_advance(p);
    if (gql_parser_is(p, GQL_T_NAME) && !gql_parser_is_name(p, "on")) {
        s->kind = GQL_SEL_SPREAD;
        s->name_loc = p->lx.tok.loc;
        s->name = gql_parser_name(p);
        s->directives = gql_parse_directives(p, false);
        return;
    }
    s->kind = GQL_SEL_INLINE;
    if (gql_parser_is_name(p, "on")) {
        gql_parser_advance(p);
        s->type_cond_loc = p->lx.tok.loc;
        s->type_cond = gql_parser_name(p);
    }
    s->directives = gql_parse_directives(p, false);
    s->selections_loc = p->lx.tok.loc;
    s->selections = parse_selection_set(p);
}

static struct gql_selection *parse_selection_set(struct gql_parser *p)
{
    struct gql_selection *head = NULL, **tail = &head;

    if (!gql_parser_is(p, GQL_T_LBRACE)) {
        gql_parser_fail_expected(p, "\"{\"");
        return NULL;
    }
    if (!gql_parser_enter(p))
        return NULL;
    gql_parser_advance(p);
    do {
        struct gql_selection *s = gql_parser_alloc(p, sizeof(*s));

        if (s == NULL)
            return NULL;
        s->loc = p->lx.tok.loc;
        if (gql_parser_is(p, GQL_T_SPREAD))
            parse_fragment_selection(p, s);
        else
            parse_field(p, s);
        *tail = s;
        tail = &s->next;
    } while (p->lx.rc == 0 && !gql_parser_is(p, GQL_T_RBRACE));
    gql_parser_leave(p);
    return gql_parser_expect(p, GQL_T_RBRACE) ? head : NULL;
}

/* ---------------------------------------------------------------- executable definitions */

static struct gql_var_def *parse_var_defs(struct gql_parser *p)
{
    struct gql_var_def *head = NULL, **tail = &head;

    gql_parser_advance(p);
    do {
        struct gql_var_def *v = gql_parser_alloc(p, sizeof(*v));

        if (v == NULL)
            return NULL;
        v->loc = p->lx.tok.loc;
        if (!gql_parser_expect(p, GQL_T_DOLLAR))
            return NULL;
        v->name_loc = p->lx.tok.loc;
        v->name = gql_parser_name(p);
        if (!gql_parser_expect(p, GQL_T_COLON))
            return NULL;
        v->type = gql_parse_type(p);
        if (gql_parser_skip(p, GQL_T_EQUALS))
            v->default_value = gql_parse_value(p, true);
        v->directives = gql_parse_directives(p, true);
        *tail = v;
        tail = &v->next;
    } while (p->lx.rc == 0 && !gql_parser_is(p, GQL_T_RPAREN));
    return gql_parser_expect(p, GQL_T_RPAREN) ? head : NULL;
}

static void parse_operation(struct gql_parser *p, struct gql_def *d)
{
    static const char *const ops[] = {"query", "mutation", "subscription"};

    d->kind = GQL_DEF_OPERATION;
    d->op = GQL_OP_QUERY;
    if (!gql_parser_is(p, GQL_T_LBRACE)) {
        for (size_t i = 0; i < ARRAY_LEN(ops); i++)
            if (gql_parser_is_name(p, ops[i]))
                d->op = (enum gql_op)i;
        gql_parser_advance(p);
        if (gql_parser_is(p, GQL_T_NAME)) {
            d->name_loc = p->lx.tok.loc;
            d->name = gql_parser_name(p);
        }
        if (gql_parser_is(p, GQL_T_LPAREN))
            d->var_defs = parse_var_defs(p);
        d->directives = gql_parse_directives(p, false);
    }
    d->selections = parse_selection_set(p);
}

static void parse_fragment(struct gql_parser *p, struct gql_def *d)
{
    d->kind = GQL_DEF_FRAGMENT;
    gql_parser_advance(p);
    if (gql_parser_is_name(p, "on")) {
        gql_parser_fail(p, "a fragment cannot be named \"on\"");
        return;
    }
    d->name_loc = p->lx.tok.loc;
    d->name = gql_parser_name(p);
    if (!gql_parser_is_name(p, "on")) {
        gql_parser_fail_expected(p, "\"on\"");
        return;
    }
    gql_parser_advance(p);
    d->type_cond_loc = p->lx.tok.loc;
    d->type_cond = gql_parser_name(p);
    d->directives = gql_parse_directives(p, false);
    d->selections = parse_selection_set(p);
}

/* ---------------------------------------------------------------- documents */

enum accept { ACCEPT_ANY, ACCEPT_EXECUTABLE, ACCEPT_SCHEMA };

static bool starts_executable(const struct gql_parser *p)
{
    return gql_parser_is(p, GQL_T_LBRACE) || gql_parser_is_name(p, "query") ||
           gql_parser_is_name(p, "mutation") || gql_parser_is_name(p, "subscription") ||
           gql_parser_is_name(p, "fragment");
}

static struct gql_def *parse_definition(struct gql_parser *p, enum accept accept)
{
    struct gql_def *d;

    if (starts_executable(p)) {
        if (accept == ACCEPT_SCHEMA)
            return gql_parser_fail(p, "operations and fragments are not allowed in a schema "
                                      "document"),
                   NULL;
        d = gql_parser_alloc(p, sizeof(*d));
        if (d == NULL)
            return NULL;
        d->loc = p->lx.tok.loc;
        if (gql_parser_is_name(p, "fragment"))
            parse_fragment(p, d);
        else
            parse_operation(p, d);
        return p->lx.rc == 0 ? d : NULL;
    }
    if (gql_starts_type_system(p)) {
        if (accept == ACCEPT_EXECUTABLE)
            return gql_parser_fail(p, "type-system definitions are not allowed in an executable "
                                      "document"),
                   NULL;
        return gql_parse_type_system(p);
    }
    gql_parser_fail_expected(p, "a definition");
    return NULL;
}

static int parse_document(struct arena *a, struct slice src, const struct gql_limits *lim,
                          enum accept accept, struct gql_doc **out, struct gql_error_loc *where,
                          struct err *err)
{
    size_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : GQL_DEFAULT_MAX_BYTES;
    size_t max_tokens = lim && lim->max_tokens ? lim->max_tokens : GQL_DEFAULT_MAX_TOKENS;
    struct gql_parser p = {.a = a};
    struct gql_def **tail;
    struct gql_doc *doc;

    *out = NULL;
    if (where != NULL)
        *where = (struct gql_error_loc){0, 0};
    if (src.len > max_bytes)
        return err_set(err, ERR_LIMIT, "document is %zu bytes, more than %zu (max_bytes)", src.len,
                       max_bytes);
    p.max_depth = lim && lim->max_depth ? lim->max_depth : GQL_DEFAULT_MAX_DEPTH;
    gql_lexer_init(&p.lx, a, src, max_tokens, err, where);
    doc = gql_parser_alloc(&p, sizeof(*doc));
    gql_parser_advance(&p);
    tail = doc ? &doc->defs : NULL;
    do {
        struct gql_def *d = parse_definition(&p, accept);

        if (d == NULL)
            return p.lx.rc;
        *tail = d;
        tail = &d->next;
        doc->ndefs++;
    } while (!gql_parser_is(&p, GQL_T_EOF) && p.lx.rc == 0);
    if (p.lx.rc != 0)
        return p.lx.rc;
    doc->ntokens = p.lx.ntokens;
    *out = doc;
    return 0;
}

int gql_parse(struct arena *a, struct slice src, const struct gql_limits *lim, struct gql_doc **out,
              struct gql_error_loc *where, struct err *err)
{
    return parse_document(a, src, lim, ACCEPT_ANY, out, where, err);
}

int gql_parse_executable(struct arena *a, struct slice src, const struct gql_limits *lim,
                         struct gql_doc **out, struct gql_error_loc *where, struct err *err)
{
    return parse_document(a, src, lim, ACCEPT_EXECUTABLE, out, where, err);
}

int gql_parse_schema(struct arena *a, struct slice src, const struct gql_limits *lim,
                     struct gql_doc **out, struct gql_error_loc *where, struct err *err)
{
    return parse_document(a, src, lim, ACCEPT_SCHEMA, out, where, err);
}
