/*
 * Introspection (spec §4): the built-in types are written in SDL like any other, and their
 * fields are resolved here from the schema's own structures. Objects flow as GQL_V_PTR: the
 * schema, a type, a field, an argument, an enum value or a directive.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "gql/gql-int.h"

static const char prelude[] =
    "\"A signed 32-bit integer.\"\n"
    "scalar Int\n"
    "\"A double-precision floating-point number.\"\n"
    "scalar Float\n"
    "\"UTF-8 text.\"\n"
    "scalar String\n"
    "\"true or false.\"\n"
    "scalar Boolean\n"
    "\"An opaque identifier, written as a string; integers are accepted as input.\"\n"
    "scalar ID\n"
    "\"Keeps the field or fragment only when the argument is true.\"\n"
    "directive @include(\"Whether to keep it.\" if: Boolean!)"
    " on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT\n"
    "\"Leaves the field or fragment out when the argument is true.\"\n"
    "directive @skip(\"Whether to leave it out.\" if: Boolean!)"
    " on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT\n"
    "\"Marks an element that should no longer be used.\"\n"
    "directive @deprecated(\"Why, and what to use instead.\""
    " reason: String = \"No longer supported\")"
    " on FIELD_DEFINITION | ARGUMENT_DEFINITION | INPUT_FIELD_DEFINITION | ENUM_VALUE\n"
    "\"Names the document that specifies a custom scalar.\"\n"
    "directive @specifiedBy(\"The document's URL.\" url: String!) on SCALAR\n"
    "\"The schema: its types, root types and directives.\"\n"
    "type __Schema {\n"
    "  description: String\n"
    "  \"Every named type, built-in ones included.\"\n"
    "  types: [__Type!]!\n"
    "  queryType: __Type!\n"
    "  mutationType: __Type\n"
    "  subscriptionType: __Type\n"
    "  directives: [__Directive!]!\n"
    "}\n"
    "\"A type: named (scalar, object, interface, union, enum, input) or a wrapper (list, "
    "non-null) around another.\"\n"
    "type __Type {\n"
    "  kind: __TypeKind!\n"
    "  name: String\n"
    "  description: String\n"
    "  specifiedByURL: String\n"
    "  fields(includeDeprecated: Boolean = false): [__Field!]\n"
    "  interfaces: [__Type!]\n"
    "  possibleTypes: [__Type!]\n"
    "  enumValues(includeDeprecated: Boolean = false): [__EnumValue!]\n"
    "  inputFields(includeDeprecated: Boolean = false): [__InputValue!]\n"
    "  ofType: __Type\n"
    "}\n"
    "\"The kinds of __Type.\"\n"
    "enum __TypeKind { SCALAR OBJECT INTERFACE UNION ENUM INPUT_OBJECT LIST NON_NULL }\n"
    "\"A field of an object or interface.\"\n"
    "type __Field {\n"
    "  name: String!\n"
    "  description: String\n"
    "  args(includeDeprecated: Boolean = false): [__InputValue!]!\n"
    "  type: __Type!\n"
    "  isDeprecated: Boolean!\n"
    "  deprecationReason: String\n"
    "}\n"
    "\"An argument, or a field of an input object.\"\n"
    "type __InputValue {\n"
    "  name: String!\n"
    "  description: String\n"
    "  type: __Type!\n"
    "  \"The default value as GraphQL text, or null when there is none.\"\n"
    "  defaultValue: String\n"
    "  isDeprecated: Boolean!\n"
    "  deprecationReason: String\n"
    "}\n"
    "\"A value of an enum.\"\n"
    "type __EnumValue {\n"
    "  name: String!\n"
    "  description: String\n"
    "  isDeprecated: Boolean!\n"
    "  deprecationReason: String\n"
    "}\n"
    "\"A directive the schema knows.\"\n"
    "type __Directive {\n"
    "  name: String!\n"
    "  description: String\n"
    "  isRepeatable: Boolean!\n"
    "  locations: [__DirectiveLocation!]!\n"
    "  args(includeDeprecated: Boolean = false): [__InputValue!]!\n"
    "}\n"
    "\"Where a directive may be written.\"\n"
    "enum __DirectiveLocation { QUERY MUTATION SUBSCRIPTION FIELD FRAGMENT_DEFINITION "
    "FRAGMENT_SPREAD INLINE_FRAGMENT VARIABLE_DEFINITION SCHEMA SCALAR OBJECT "
    "FIELD_DEFINITION ARGUMENT_DEFINITION INTERFACE UNION ENUM ENUM_VALUE INPUT_OBJECT "
    "INPUT_FIELD_DEFINITION }\n";

struct slice gql_prelude_sdl(void)
{
    return (struct slice){prelude, sizeof(prelude) - 1};
}

static const char *const kind_names[] = {
    [GQL_KIND_SCALAR] = "SCALAR",       [GQL_KIND_OBJECT] = "OBJECT",
    [GQL_KIND_INTERFACE] = "INTERFACE", [GQL_KIND_UNION] = "UNION",
    [GQL_KIND_ENUM] = "ENUM",           [GQL_KIND_INPUT_OBJECT] = "INPUT_OBJECT",
    [GQL_KIND_LIST] = "LIST",           [GQL_KIND_NON_NULL] = "NON_NULL",
};

/* ---------------------------------------------------------------- helpers */

#define RESOLVER(name)                                                                             \
    static int name(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,        \
                    struct err *err)

static struct gql_val text_or_null(struct slice s)
{
    return s.ptr ? GQL_STRING(s) : GQL_NULL;
}

static struct gql_val type_or_null(const struct gql_stype *t)
{
    return t ? GQL_PTR((void *)t, "__Type") : GQL_NULL;
}

static bool include_deprecated(struct gql_rctx *rc)
{
    const struct gql_val *v = gql_arg(rc, "includeDeprecated");

    return v && v->kind == GQL_V_BOOL && v->b;
}

/* A list of <n> objects of <type> taken from a C array of <size>-byte elements at <base>,
 * without the deprecated ones unless includeDeprecated; <dep_off> locates each element's
 * struct gql_deprecation (or is SIZE_MAX when it has none). */
static int ptr_list(struct gql_rctx *rc, const void *base, size_t n, size_t size, size_t dep_off,
                    const char *type, struct gql_val *out, struct err *err)
{
    struct gql_val *items = n ? arena_alloc(gql_rctx_arena(rc), n * sizeof(*items)) : NULL;
    bool all = dep_off == SIZE_MAX || include_deprecated(rc);
    size_t k = 0;

    if (n && items == NULL)
        return err_set(err, ERR_LIMIT, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *p = (const char *)base + i * size;

        if (all || !((const struct gql_deprecation *)(p + dep_off))->deprecated)
            items[k++] = GQL_PTR((void *)p, type);
    }
    *out = GQL_LIST(items, k);
    return 0;
}

/* The same for an array of pointers to types. */
static int type_list(struct gql_rctx *rc, const struct gql_stype *const *types, size_t n,
                     struct gql_val *out, struct err *err)
{
    struct gql_val *items = n ? arena_alloc(gql_rctx_arena(rc), n * sizeof(*items)) : NULL;

    if (n && items == NULL)
        return err_set(err, ERR_LIMIT, "out of memory");
    for (size_t i = 0; i < n; i++)
        items[i] = GQL_PTR((void *)types[i], "__Type");
    *out = GQL_LIST(items, n);
    return 0;
}

/* ---------------------------------------------------------------- __Schema */

#define SCHEMA(v) ((const struct gql_schema *)(v)->ptr.p)

RESOLVER(schema_description)
{
    (void)rc, (void)err;
    *out = text_or_null(SCHEMA(parent)->description);
    return 0;
}

RESOLVER(schema_types)
{
    return type_list(rc, SCHEMA(parent)->types, SCHEMA(parent)->ntypes, out, err);
}

RESOLVER(schema_query)
{
    (void)rc, (void)err;
    *out = type_or_null(SCHEMA(parent)->query);
    return 0;
}

RESOLVER(schema_mutation)
{
    (void)rc, (void)err;
    *out = type_or_null(SCHEMA(parent)->mutation);
    return 0;
}

RESOLVER(schema_subscription)
{
    (void)rc, (void)err;
    *out = type_or_null(SCHEMA(parent)->subscription);
    return 0;
}

RESOLVER(schema_directives)
{
    const struct gql_schema *s = SCHEMA(parent);
    struct gql_val *items = arena_alloc(gql_rctx_arena(rc), (s->ndirectives + 1) * sizeof(*items));

    if (items == NULL)
        return err_set(err, ERR_LIMIT, "out of memory");
    for (size_t i = 0; i < s->ndirectives; i++)
        items[i] = GQL_PTR((void *)s->directives[i], "__Directive");
    *out = GQL_LIST(items, s->ndirectives);
    return 0;
}

/* ---------------------------------------------------------------- __Type */

#define TYPE(v) ((const struct gql_stype *)(v)->ptr.p)

RESOLVER(type_kind)
{
    (void)rc, (void)err;
    *out = GQL_ENUM(slice_from_cstr(kind_names[TYPE(parent)->kind]));
    return 0;
}

RESOLVER(type_name)
{
    (void)rc, (void)err;
    *out = text_or_null(TYPE(parent)->name);
    return 0;
}

RESOLVER(type_description)
{
    (void)rc, (void)err;
    *out = text_or_null(TYPE(parent)->description);
    return 0;
}

RESOLVER(type_specified_by)
{
    (void)rc, (void)err;
    *out = text_or_null(TYPE(parent)->specified_by);
    return 0;
}

RESOLVER(type_fields)
{
    const struct gql_stype *t = TYPE(parent);

    if (t->kind != GQL_KIND_OBJECT && t->kind != GQL_KIND_INTERFACE) {
        *out = GQL_NULL;
        return 0;
    }
    return ptr_list(rc, t->fields, t->nfields, sizeof(*t->fields), offsetof(struct gql_sfield, dep),
                    "__Field", out, err);
}

RESOLVER(type_interfaces)
{
    const struct gql_stype *t = TYPE(parent);

    if (t->kind != GQL_KIND_OBJECT && t->kind != GQL_KIND_INTERFACE) {
        *out = GQL_NULL;
        return 0;
    }
    return type_list(rc, t->interfaces, t->ninterfaces, out, err);
}

RESOLVER(type_possible)
{
    const struct gql_stype *t = TYPE(parent);

    if (!gql_is_abstract(t)) {
        *out = GQL_NULL;
        return 0;
    }
    return type_list(rc, t->possible, t->npossible, out, err);
}

RESOLVER(type_enum_values)
{
    const struct gql_stype *t = TYPE(parent);

    if (t->kind != GQL_KIND_ENUM) {
        *out = GQL_NULL;
        return 0;
    }
    return ptr_list(rc, t->values, t->nvalues, sizeof(*t->values), offsetof(struct gql_senum, dep),
                    "__EnumValue", out, err);
}

RESOLVER(type_input_fields)
{
    const struct gql_stype *t = TYPE(parent);

    if (t->kind != GQL_KIND_INPUT_OBJECT) {
        *out = GQL_NULL;
        return 0;
    }
    return ptr_list(rc, t->input, t->ninput, sizeof(*t->input), offsetof(struct gql_sarg, dep),
                    "__InputValue", out, err);
}

RESOLVER(type_of_type)
{
    (void)rc, (void)err;
    *out = type_or_null(TYPE(parent)->of_type);
    return 0;
}

/* ---------------------------------------------------------------- __Field */

#define FIELD(v) ((const struct gql_sfield *)(v)->ptr.p)

RESOLVER(field_name)
{
    (void)rc, (void)err;
    *out = GQL_STRING(FIELD(parent)->name);
    return 0;
}

RESOLVER(field_description)
{
    (void)rc, (void)err;
    *out = text_or_null(FIELD(parent)->description);
    return 0;
}

RESOLVER(field_args)
{
    const struct gql_sfield *f = FIELD(parent);

    return ptr_list(rc, f->args, f->nargs, sizeof(*f->args), offsetof(struct gql_sarg, dep),
                    "__InputValue", out, err);
}

RESOLVER(field_type)
{
    (void)rc, (void)err;
    *out = type_or_null(FIELD(parent)->type);
    return 0;
}

RESOLVER(field_deprecated)
{
    (void)rc, (void)err;
    *out = GQL_BOOL(FIELD(parent)->dep.deprecated);
    return 0;
}

RESOLVER(field_reason)
{
    (void)rc, (void)err;
    *out = text_or_null(FIELD(parent)->dep.reason);
    return 0;
}

/* ---------------------------------------------------------------- __InputValue */

#define ARG(v) ((const struct gql_sarg *)(v)->ptr.p)

RESOLVER(arg_name)
{
    (void)rc, (void)err;
    *out = GQL_STRING(ARG(parent)->name);
    return 0;
}

RESOLVER(arg_description)
{
    (void)rc, (void)err;
    *out = text_or_null(ARG(parent)->description);
    return 0;
}

RESOLVER(arg_type)
{
    (void)rc, (void)err;
    *out = type_or_null(ARG(parent)->type);
    return 0;
}

/* -?(0|[1-9][0-9]*): text that GraphQL would read as an Int. */
static bool integer_text(struct slice s)
{
    size_t i = s.len && s.ptr[0] == '-';

    if (i == s.len || (s.ptr[i] == '0' && s.len > i + 1))
        return false;
    for (; i < s.len; i++)
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return false;
    return true;
}

/* Writes coerced <v> of input type <t> as GraphQL text, the way introspection shows defaults:
 * lists as "[a, b]", objects as "{name: value}" with their fields in definition order. */
static void print_value(struct sbuf *b, const struct gql_val *v, const struct gql_stype *t)
{
    if (t->kind == GQL_KIND_NON_NULL)
        t = t->of_type;
    switch (v->kind) {
    case GQL_V_NULL:
        sbuf_puts(b, "null");
        break;
    case GQL_V_BOOL:
        sbuf_puts(b, v->b ? "true" : "false");
        break;
    case GQL_V_INT:
        sbuf_printf(b, "%lld", (long long)v->i);
        break;
    case GQL_V_FLOAT: {
        char num[40];

        gql_number_text(v->f, num, sizeof(num));
        sbuf_puts(b, num);
        break;
    }
    case GQL_V_ENUM:
        sbuf_put_slice(b, v->s);
        break;
    case GQL_V_STRING:
        if (t->kind == GQL_KIND_SCALAR && slice_eq_cstr(t->name, "ID") && integer_text(v->s))
            sbuf_put_slice(b, v->s); /* an ID written as an Int reads back as one */
        else
            gql_print_string(b, v->s);
        break;
    case GQL_V_LIST:
        if (t->kind != GQL_KIND_LIST) { /* a single value standing for a list */
            print_value(b, v, t);
            break;
        }
        sbuf_putc(b, '[');
        for (size_t i = 0; i < v->list.n; i++) {
            if (i)
                sbuf_puts(b, ", ");
            print_value(b, &v->list.items[i], t->of_type);
        }
        sbuf_putc(b, ']');
        break;
    case GQL_V_OBJECT:
        sbuf_putc(b, '{');
        for (size_t i = 0, k = 0; i < t->ninput; i++) {
            const struct gql_val *f = gql_val_field(v, t->input[i].name.ptr);

            if (f == NULL)
                continue;
            if (k++)
                sbuf_puts(b, ", ");
            sbuf_put_slice(b, t->input[i].name);
            sbuf_puts(b, ": ");
            print_value(b, f, t->input[i].type);
        }
        sbuf_putc(b, '}');
        break;
    default:
        sbuf_puts(b, "null");
        break;
    }
}

RESOLVER(arg_default)
{
    const struct gql_sarg *a = ARG(parent);
    struct arena *ar = gql_rctx_arena(rc);
    struct sbuf b = SBUF_INIT(1 << 20);
    struct gql_val v;
    bool absent = false;

    if (a->default_value == NULL) {
        *out = GQL_NULL;
        return 0;
    }
    if (gql_coerce_literal(ar, a->default_value, a->type, NULL, &v, &absent, err) != 0)
        return err->code;
    print_value(&b, &v, a->type);
    *out = GQL_STRING(slice_dup(ar, sbuf_slice(&b)));
    sbuf_release(&b);
    return out->s.ptr ? 0 : err_set(err, ERR_LIMIT, "out of memory");
}

RESOLVER(arg_deprecated)
{
    (void)rc, (void)err;
    *out = GQL_BOOL(ARG(parent)->dep.deprecated);
    return 0;
}

RESOLVER(arg_reason)
{
    (void)rc, (void)err;
    *out = text_or_null(ARG(parent)->dep.reason);
    return 0;
}

/* ---------------------------------------------------------------- __EnumValue */

#define ENUMV(v) ((const struct gql_senum *)(v)->ptr.p)

RESOLVER(enum_name)
{
    (void)rc, (void)err;
    *out = GQL_STRING(ENUMV(parent)->name);
    return 0;
}

RESOLVER(enum_description)
{
    (void)rc, (void)err;
    *out = text_or_null(ENUMV(parent)->description);
    return 0;
}

RESOLVER(enum_deprecated)
{
    (void)rc, (void)err;
    *out = GQL_BOOL(ENUMV(parent)->dep.deprecated);
    return 0;
}

RESOLVER(enum_reason)
{
    (void)rc, (void)err;
    *out = text_or_null(ENUMV(parent)->dep.reason);
    return 0;
}

/* ---------------------------------------------------------------- __Directive */

#define DIR(v) ((const struct gql_sdirective *)(v)->ptr.p)

RESOLVER(dir_name)
{
    (void)rc, (void)err;
    *out = GQL_STRING(DIR(parent)->name);
    return 0;
}

RESOLVER(dir_description)
{
    (void)rc, (void)err;
    *out = text_or_null(DIR(parent)->description);
    return 0;
}

RESOLVER(dir_repeatable)
{
    (void)rc, (void)err;
    *out = GQL_BOOL(DIR(parent)->repeatable);
    return 0;
}

RESOLVER(dir_locations)
{
    uint32_t locs = DIR(parent)->locations;
    struct gql_val *items = arena_alloc(gql_rctx_arena(rc), GQL_DL_COUNT * sizeof(*items));
    size_t n = 0;

    if (items == NULL)
        return err_set(err, ERR_LIMIT, "out of memory");
    for (int i = 0; i < GQL_DL_COUNT; i++)
        if (locs & (1u << i))
            items[n++] = GQL_ENUM(slice_from_cstr(gql_dir_loc_names[i]));
    *out = GQL_LIST(items, n);
    return 0;
}

RESOLVER(dir_args)
{
    const struct gql_sdirective *d = DIR(parent);

    return ptr_list(rc, d->args, d->nargs, sizeof(*d->args), offsetof(struct gql_sarg, dep),
                    "__InputValue", out, err);
}

/* ---------------------------------------------------------------- binding */

struct bind {
    const char *type, *field;
    gql_resolve_fn *fn;
};

static const struct bind binds[] = {
    {"__Schema", "description", schema_description},
    {"__Schema", "types", schema_types},
    {"__Schema", "queryType", schema_query},
    {"__Schema", "mutationType", schema_mutation},
    {"__Schema", "subscriptionType", schema_subscription},
    {"__Schema", "directives", schema_directives},
    {"__Type", "kind", type_kind},
    {"__Type", "name", type_name},
    {"__Type", "description", type_description},
    {"__Type", "specifiedByURL", type_specified_by},
    {"__Type", "fields", type_fields},
    {"__Type", "interfaces", type_interfaces},
    {"__Type", "possibleTypes", type_possible},
    {"__Type", "enumValues", type_enum_values},
    {"__Type", "inputFields", type_input_fields},
    {"__Type", "ofType", type_of_type},
    {"__Field", "name", field_name},
    {"__Field", "description", field_description},
    {"__Field", "args", field_args},
    {"__Field", "type", field_type},
    {"__Field", "isDeprecated", field_deprecated},
    {"__Field", "deprecationReason", field_reason},
    {"__InputValue", "name", arg_name},
    {"__InputValue", "description", arg_description},
    {"__InputValue", "type", arg_type},
    {"__InputValue", "defaultValue", arg_default},
    {"__InputValue", "isDeprecated", arg_deprecated},
    {"__InputValue", "deprecationReason", arg_reason},
    {"__EnumValue", "name", enum_name},
    {"__EnumValue", "description", enum_description},
    {"__EnumValue", "isDeprecated", enum_deprecated},
    {"__EnumValue", "deprecationReason", enum_reason},
    {"__Directive", "name", dir_name},
    {"__Directive", "description", dir_description},
    {"__Directive", "isRepeatable", dir_repeatable},
    {"__Directive", "locations", dir_locations},
    {"__Directive", "args", dir_args},
};

int gql_introspection_bind(struct gql_schema *s, struct err *err)
{
    for (size_t i = 0; i < ARRAY_LEN(binds); i++) {
        struct gql_binding b = {.resolve = binds[i].fn};
        int rc = gql_schema_bind(s, binds[i].type, binds[i].field, &b, err);

        if (rc != 0)
            return rc;
    }
    return 0;
}
