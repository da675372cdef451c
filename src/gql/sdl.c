/*
 * Type-system definitions and extensions (spec §3, October 2021): schema, scalar, type,
 * interface, union, enum, input and directive, with descriptions. An extension must add
 * something (directives, interfaces, fields, members, values), as the grammar requires.
 */
#include "gql/gql-int.h"

static bool is_string(const struct gql_parser *p)
{
    return gql_parser_is(p, GQL_T_STRING) || gql_parser_is(p, GQL_T_BLOCK_STRING);
}

/* An optional description: a string value, or NULL. */
static struct gql_value *parse_description(struct gql_parser *p)
{
    return is_string(p) ? gql_parse_value(p, true) : NULL;
}

static struct gql_name *new_name(struct gql_parser *p)
{
    struct gql_name *n = gql_parser_alloc(p, sizeof(*n));

    if (n == NULL)
        return NULL;
    n->loc = p->lx.tok.loc;
    n->name = gql_parser_name(p);
    return p->lx.rc == 0 ? n : NULL;
}

/* NamedType (sep NamedType)*, with an optional leading <sep>. */
static struct gql_name *parse_name_list(struct gql_parser *p, enum gql_tok sep)
{
    struct gql_name *head = NULL, **tail = &head;

    gql_parser_skip(p, sep);
    do {
        *tail = new_name(p);
        if (*tail == NULL)
            return NULL;
        tail = &(*tail)->next;
    } while (gql_parser_skip(p, sep));
    return p->lx.rc == 0 ? head : NULL;
}

static struct gql_input_value *parse_input_value(struct gql_parser *p)
{
    struct gql_input_value *iv = gql_parser_alloc(p, sizeof(*iv));

    if (iv == NULL)
        return NULL;
    iv->loc = p->lx.tok.loc;
    iv->description = parse_description(p);
    iv->name = gql_parser_name(p);
    if (!gql_parser_expect(p, GQL_T_COLON))
        return NULL;
    iv->type = gql_parse_type(p);
    if (gql_parser_skip(p, GQL_T_EQUALS))
        iv->default_value = gql_parse_value(p, true);
    iv->directives = gql_parse_directives(p, true);
    return p->lx.rc == 0 ? iv : NULL;
}

/* `open` InputValueDefinition+ `close` */
static struct gql_input_value *parse_input_values(struct gql_parser *p, enum gql_tok close)
{
    struct gql_input_value *head = NULL, **tail = &head;

    gql_parser_advance(p);
    do {
        *tail = parse_input_value(p);
        if (*tail == NULL)
            return NULL;
        tail = &(*tail)->next;
    } while (p->lx.rc == 0 && !gql_parser_is(p, close));
    return gql_parser_expect(p, close) ? head : NULL;
}

static struct gql_field_def *parse_field_def(struct gql_parser *p)
{
    struct gql_field_def *f = gql_parser_alloc(p, sizeof(*f));

    if (f == NULL)
        return NULL;
    f->loc = p->lx.tok.loc;
    f->description = parse_description(p);
    f->name = gql_parser_name(p);
    if (gql_parser_is(p, GQL_T_LPAREN))
        f->args = parse_input_values(p, GQL_T_RPAREN);
    if (!gql_parser_expect(p, GQL_T_COLON))
        return NULL;
    f->type = gql_parse_type(p);
    f->directives = gql_parse_directives(p, true);
    return p->lx.rc == 0 ? f : NULL;
}

static struct gql_field_def *parse_fields(struct gql_parser *p)
{
    struct gql_field_def *head = NULL, **tail = &head;

    gql_parser_advance(p);
    do {
        *tail = parse_field_def(p);
        if (*tail == NULL)
            return NULL;
        tail = &(*tail)->next;
    } while (p->lx.rc == 0 && !gql_parser_is(p, GQL_T_RBRACE));
    return gql_parser_expect(p, GQL_T_RBRACE) ? head : NULL;
}

static struct gql_root_op *parse_root_ops(struct gql_parser *p)
{
    static const char *const ops[] = {"query", "mutation", "subscription"};
    struct gql_root_op *head = NULL, **tail = &head;

    gql_parser_advance(p);
    do {
        struct gql_root_op *r = gql_parser_alloc(p, sizeof(*r));
        size_t i = 0;

        if (r == NULL)
            return NULL;
        r->loc = p->lx.tok.loc;
        while (i < ARRAY_LEN(ops) && !gql_parser_is_name(p, ops[i]))
            i++;
        if (i == ARRAY_LEN(ops))
            return gql_parser_fail_expected(p, "query, mutation or subscription"), NULL;
        r->op = (enum gql_op)i;
        gql_parser_advance(p);
        if (!gql_parser_expect(p, GQL_T_COLON))
            return NULL;
        r->type = gql_parser_name(p);
        *tail = r;
        tail = &r->next;
    } while (p->lx.rc == 0 && !gql_parser_is(p, GQL_T_RBRACE));
    return gql_parser_expect(p, GQL_T_RBRACE) ? head : NULL;
}

static void parse_schema(struct gql_parser *p, struct gql_def *d)
{
    d->directives = gql_parse_directives(p, true);
    if (!d->extend || gql_parser_is(p, GQL_T_LBRACE)) {
        if (!gql_parser_is(p, GQL_T_LBRACE))
            gql_parser_fail_expected(p, "\"{\"");
        else
            d->root_ops = parse_root_ops(p);
    }
}

static void parse_scalar(struct gql_parser *p, struct gql_def *d)
{
    d->name = gql_parser_name(p);
    d->directives = gql_parse_directives(p, true);
}

static void parse_object(struct gql_parser *p, struct gql_def *d)
{
    d->name = gql_parser_name(p);
    if (gql_parser_is_name(p, "implements")) {
        gql_parser_advance(p);
        d->names = parse_name_list(p, GQL_T_AMP);
    }
    d->directives = gql_parse_directives(p, true);
    if (gql_parser_is(p, GQL_T_LBRACE))
        d->fields = parse_fields(p);
}

static void parse_union(struct gql_parser *p, struct gql_def *d)
{
    d->name = gql_parser_name(p);
    d->directives = gql_parse_directives(p, true);
    if (gql_parser_skip(p, GQL_T_EQUALS))
        d->names = parse_name_list(p, GQL_T_PIPE);
}

static struct gql_name *parse_enum_value(struct gql_parser *p)
{
    struct gql_name *n = gql_parser_alloc(p, sizeof(*n));

    if (n == NULL)
        return NULL;
    n->loc = p->lx.tok.loc;
    n->description = parse_description(p);
    if (gql_parser_is_name(p, "true") || gql_parser_is_name(p, "false") ||
        gql_parser_is_name(p, "null"))
        return gql_parser_fail(p, "an enum value cannot be true, false or null"), NULL;
    n->name = gql_parser_name(p);
    n->directives = gql_parse_directives(p, true);
    return p->lx.rc == 0 ? n : NULL;
}

static void parse_enum(struct gql_parser *p, struct gql_def *d)
{
    struct gql_name **tail = &d->names;

    d->name = gql_parser_name(p);
    d->directives = gql_parse_directives(p, true);
    if (!gql_parser_is(p, GQL_T_LBRACE))
        return;
    gql_parser_advance(p);
    do {
        *tail = parse_enum_value(p);
        if (*tail == NULL)
            return;
        tail = &(*tail)->next;
    } while (p->lx.rc == 0 && !gql_parser_is(p, GQL_T_RBRACE));
    gql_parser_expect(p, GQL_T_RBRACE);
}

static void parse_input(struct gql_parser *p, struct gql_def *d)
{
    d->name = gql_parser_name(p);
    d->directives = gql_parse_directives(p, true);
    if (gql_parser_is(p, GQL_T_LBRACE))
        d->input = parse_input_values(p, GQL_T_RBRACE);
}

static bool is_directive_location(struct slice s)
{
    for (size_t i = 0; i < GQL_DL_COUNT; i++)
        if (slice_eq_cstr(s, gql_dir_loc_names[i]))
            return true;
    return false;
}

static void parse_directive_def(struct gql_parser *p, struct gql_def *d)
{
    if (d->extend) {
        gql_parser_fail(p, "directive definitions cannot be extended");
        return;
    }
    if (!gql_parser_expect(p, GQL_T_AT))
        return;
    d->name = gql_parser_name(p);
    if (gql_parser_is(p, GQL_T_LPAREN))
        d->input = parse_input_values(p, GQL_T_RPAREN);
    if (gql_parser_is_name(p, "repeatable")) {
        d->repeatable = true;
        gql_parser_advance(p);
    }
    if (!gql_parser_is_name(p, "on")) {
        gql_parser_fail_expected(p, "\"on\"");
        return;
    }
    gql_parser_advance(p);
    gql_parser_skip(p, GQL_T_PIPE);
    do {
        if (gql_parser_is(p, GQL_T_NAME) && !is_directive_location(p->lx.tok.text)) {
            gql_parser_fail(p, "unknown directive location \"%.*s\"",
                            (int)(p->lx.tok.text.len > 40 ? 40 : p->lx.tok.text.len),
                            p->lx.tok.text.ptr);
            return;
        }
        struct gql_name *n = new_name(p);

        if (n == NULL)
            return;
        n->next = d->names;
        d->names = n; /* reversed below */
    } while (gql_parser_skip(p, GQL_T_PIPE));
    for (struct gql_name *prev = NULL, *n = d->names, *next; n != NULL; prev = n, n = next) {
        next = n->next;
        n->next = prev;
        d->names = n;
    }
}

struct sdl_kind {
    const char *keyword;
    enum gql_def_kind kind;
    void (*parse)(struct gql_parser *p, struct gql_def *d);
};

static const struct sdl_kind sdl_kinds[] = {
    {"schema", GQL_DEF_SCHEMA, parse_schema}, {"scalar", GQL_DEF_SCALAR, parse_scalar},
    {"type", GQL_DEF_OBJECT, parse_object},   {"interface", GQL_DEF_INTERFACE, parse_object},
    {"union", GQL_DEF_UNION, parse_union},    {"enum", GQL_DEF_ENUM, parse_enum},
    {"input", GQL_DEF_INPUT, parse_input},    {"directive", GQL_DEF_DIRECTIVE, parse_directive_def},
};

bool gql_starts_type_system(const struct gql_parser *p)
{
    if (is_string(p) || gql_parser_is_name(p, "extend"))
        return true;
    for (size_t i = 0; i < ARRAY_LEN(sdl_kinds); i++)
        if (gql_parser_is_name(p, sdl_kinds[i].keyword))
            return true;
    return false;
}

/* Whether an extension added anything; otherwise the grammar wanted more here. */
static bool extension_adds(const struct gql_def *d)
{
    return d->directives || d->names || d->fields || d->input || d->root_ops;
}

struct gql_def *gql_parse_type_system(struct gql_parser *p)
{
    struct gql_def *d = gql_parser_alloc(p, sizeof(*d));
    size_t i = 0;

    if (d == NULL)
        return NULL;
    d->loc = p->lx.tok.loc;
    d->description = parse_description(p);
    if (d->description == NULL && gql_parser_is_name(p, "extend")) {
        d->extend = true;
        gql_parser_advance(p);
    }
    while (i < ARRAY_LEN(sdl_kinds) && !gql_parser_is_name(p, sdl_kinds[i].keyword))
        i++;
    if (i == ARRAY_LEN(sdl_kinds))
        return gql_parser_fail_expected(p, "a type-system definition"), NULL;
    d->kind = sdl_kinds[i].kind;
    gql_parser_advance(p);
    sdl_kinds[i].parse(p, d);
    if (p->lx.rc == 0 && d->extend && !extension_adds(d))
        gql_parser_fail_expected(p, "directives or definitions to add");
    return p->lx.rc == 0 ? d : NULL;
}
