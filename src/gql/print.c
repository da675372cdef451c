/*
 * The canonical compact printer: one space only where two tokens would otherwise merge
 * (two names or numbers, or two strings that would read as a block string quote).
 */
#include "gql/gql-int.h"

static bool is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Appends a token, with a space first when it would merge with the previous one. */
static void put(struct sbuf *out, const char *s, size_t n)
{
    char last = out->len ? out->buf[out->len - 1] : ' ';

    if (n > 0 &&
        ((is_word(last) && (is_word(s[0]) || s[0] == '-')) || (last == '"' && s[0] == '"')))
        sbuf_putc(out, ' ');
    sbuf_put(out, s, n);
}

static void put_cstr(struct sbuf *out, const char *s)
{
    put(out, s, strlen(s));
}

static void put_slice(struct sbuf *out, struct slice s)
{
    put(out, s.ptr, s.len);
}

void gql_print_string(struct sbuf *out, struct slice s)
{
    static const char hex[] = "0123456789ABCDEF";

    put(out, "\"", 1);
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        const char *esc = c == '"'    ? "\\\""
                          : c == '\\' ? "\\\\"
                          : c == '\n' ? "\\n"
                          : c == '\r' ? "\\r"
                          : c == '\t' ? "\\t"
                          : c == '\b' ? "\\b"
                          : c == '\f' ? "\\f"
                                      : NULL;

        if (esc != NULL) {
            sbuf_puts(out, esc);
        } else if (c < 0x20 || c == 0x7f) {
            char u[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], '\0'};

            sbuf_puts(out, u);
        } else {
            sbuf_putc(out, (char)c);
        }
    }
    sbuf_putc(out, '"');
}

static void print_args(struct sbuf *out, const struct gql_argument *a, const char *open,
                       const char *close)
{
    put_cstr(out, open);
    for (; a != NULL; a = a->next) {
        put_slice(out, a->name);
        put(out, ":", 1);
        gql_print_value(out, a->value);
    }
    put_cstr(out, close);
}

void gql_print_value(struct sbuf *out, const struct gql_value *v)
{
    switch (v->kind) {
    case GQL_VALUE_VARIABLE:
        put(out, "$", 1);
        put_slice(out, v->str);
        break;
    case GQL_VALUE_STRING:
        gql_print_string(out, v->str);
        break;
    case GQL_VALUE_BOOLEAN:
        put_cstr(out, v->boolean ? "true" : "false");
        break;
    case GQL_VALUE_NULL:
        put_cstr(out, "null");
        break;
    case GQL_VALUE_LIST:
        put(out, "[", 1);
        for (const struct gql_value *i = v->items; i != NULL; i = i->next)
            gql_print_value(out, i);
        put(out, "]", 1);
        break;
    case GQL_VALUE_OBJECT:
        print_args(out, v->fields, "{", "}");
        break;
    default: /* GQL_VALUE_INT, GQL_VALUE_FLOAT, GQL_VALUE_ENUM */
        put_slice(out, v->str);
        break;
    }
}

static void print_directives(struct sbuf *out, const struct gql_directive *d)
{
    for (; d != NULL; d = d->next) {
        put(out, "@", 1);
        put_slice(out, d->name);
        if (d->args != NULL)
            print_args(out, d->args, "(", ")");
    }
}

static void print_type(struct sbuf *out, const struct gql_type *t)
{
    if (t->kind == GQL_TYPE_NAMED) {
        put_slice(out, t->name);
    } else if (t->kind == GQL_TYPE_LIST) {
        put(out, "[", 1);
        print_type(out, t->of_type);
        put(out, "]", 1);
    } else {
        print_type(out, t->of_type);
        put(out, "!", 1);
    }
}

static void print_selections(struct sbuf *out, const struct gql_selection *s)
{
    put(out, "{", 1);
    for (; s != NULL; s = s->next) {
        if (s->kind != GQL_SEL_FIELD)
            put(out, "...", 3);
        if (s->kind == GQL_SEL_INLINE && s->type_cond.len > 0) {
            put_cstr(out, "on");
            put_slice(out, s->type_cond);
        }
        if (s->alias.len > 0) {
            put_slice(out, s->alias);
            put(out, ":", 1);
        }
        put_slice(out, s->name);
        if (s->args != NULL)
            print_args(out, s->args, "(", ")");
        print_directives(out, s->directives);
        if (s->selections != NULL)
            print_selections(out, s->selections);
    }
    put(out, "}", 1);
}

static const char *const op_names[] = {"query", "mutation", "subscription"};

/* The `{…}` shorthand only opens a document: after another definition its "{" could read as
 * that definition's body (`extend schema @d`, `type T`, `enum E`). */
static void print_operation(struct sbuf *out, const struct gql_def *d, bool first)
{
    if (!first || d->op != GQL_OP_QUERY || d->name.len > 0 || d->var_defs || d->directives) {
        put_cstr(out, op_names[d->op]);
        put_slice(out, d->name);
    }
    if (d->var_defs != NULL) {
        put(out, "(", 1);
        for (const struct gql_var_def *v = d->var_defs; v != NULL; v = v->next) {
            put(out, "$", 1);
            put_slice(out, v->name);
            put(out, ":", 1);
            print_type(out, v->type);
            if (v->default_value != NULL) {
                put(out, "=", 1);
                gql_print_value(out, v->default_value);
            }
            print_directives(out, v->directives);
        }
        put(out, ")", 1);
    }
    print_directives(out, d->directives);
    print_selections(out, d->selections);
}

static void print_description(struct sbuf *out, const struct gql_value *desc)
{
    if (desc != NULL)
        gql_print_string(out, desc->str);
}

static void print_input_values(struct sbuf *out, const struct gql_input_value *iv, const char *open,
                               const char *close)
{
    if (iv == NULL)
        return;
    put_cstr(out, open);
    for (; iv != NULL; iv = iv->next) {
        print_description(out, iv->description);
        put_slice(out, iv->name);
        put(out, ":", 1);
        print_type(out, iv->type);
        if (iv->default_value != NULL) {
            put(out, "=", 1);
            gql_print_value(out, iv->default_value);
        }
        print_directives(out, iv->directives);
    }
    put_cstr(out, close);
}

static void print_names(struct sbuf *out, const struct gql_name *n, const char *lead,
                        const char *sep)
{
    if (n == NULL)
        return;
    put_cstr(out, lead);
    for (; n != NULL; n = n->next) {
        put_slice(out, n->name);
        if (n->next != NULL)
            put_cstr(out, sep);
    }
}

static void print_fields(struct sbuf *out, const struct gql_field_def *f)
{
    if (f == NULL)
        return;
    put(out, "{", 1);
    for (; f != NULL; f = f->next) {
        print_description(out, f->description);
        put_slice(out, f->name);
        print_input_values(out, f->args, "(", ")");
        put(out, ":", 1);
        print_type(out, f->type);
        print_directives(out, f->directives);
    }
    put(out, "}", 1);
}

static void print_enum_values(struct sbuf *out, const struct gql_name *n)
{
    if (n == NULL)
        return;
    put(out, "{", 1);
    for (; n != NULL; n = n->next) {
        print_description(out, n->description);
        put_slice(out, n->name);
        print_directives(out, n->directives);
    }
    put(out, "}", 1);
}

static void print_root_ops(struct sbuf *out, const struct gql_root_op *r)
{
    if (r == NULL)
        return;
    put(out, "{", 1);
    for (; r != NULL; r = r->next) {
        put_cstr(out, op_names[r->op]);
        put(out, ":", 1);
        put_slice(out, r->type);
    }
    put(out, "}", 1);
}

static const char *const sdl_keywords[] = {
    [GQL_DEF_SCHEMA] = "schema",       [GQL_DEF_SCALAR] = "scalar",       [GQL_DEF_OBJECT] = "type",
    [GQL_DEF_INTERFACE] = "interface", [GQL_DEF_UNION] = "union",         [GQL_DEF_ENUM] = "enum",
    [GQL_DEF_INPUT] = "input",         [GQL_DEF_DIRECTIVE] = "directive",
};

static void print_type_system(struct sbuf *out, const struct gql_def *d)
{
    print_description(out, d->description);
    if (d->extend)
        put_cstr(out, "extend");
    put_cstr(out, sdl_keywords[d->kind]);
    if (d->kind == GQL_DEF_DIRECTIVE) {
        put(out, "@", 1);
        put_slice(out, d->name);
        print_input_values(out, d->input, "(", ")");
        if (d->repeatable)
            put_cstr(out, "repeatable");
        print_names(out, d->names, "on", "|");
        return;
    }
    put_slice(out, d->name);
    if (d->kind == GQL_DEF_OBJECT || d->kind == GQL_DEF_INTERFACE)
        print_names(out, d->names, "implements", "&");
    print_directives(out, d->directives);
    if (d->kind == GQL_DEF_UNION)
        print_names(out, d->names, "=", "|");
    else if (d->kind == GQL_DEF_ENUM)
        print_enum_values(out, d->names);
    print_fields(out, d->fields);
    print_root_ops(out, d->root_ops);
    if (d->kind == GQL_DEF_INPUT)
        print_input_values(out, d->input, "{", "}");
}

void gql_print(const struct gql_doc *d, struct sbuf *out)
{
    for (const struct gql_def *def = d->defs; def != NULL; def = def->next) {
        if (def->kind == GQL_DEF_OPERATION) {
            print_operation(out, def, def == d->defs);
        } else if (def->kind == GQL_DEF_FRAGMENT) {
            put_cstr(out, "fragment");
            put_slice(out, def->name);
            put_cstr(out, "on");
            put_slice(out, def->type_cond);
            print_directives(out, def->directives);
            print_selections(out, def->selections);
        } else {
            print_type_system(out, def);
        }
    }
}
