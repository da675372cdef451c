/*
 * Building a schema from SDL (spec §3): the prelude of built-ins, then the user's sources.
 *
 * The build runs in passes over every definition of every source: make a type (or directive)
 * for each definition, fill fields, members and values from definitions and extensions, pick
 * the root types, check the type-system rules (schema-check.c), then list the types the way
 * the reference implementation does (so introspection agrees with it, order included) and
 * index them by name.
 */
#include <stdio.h>
#include <stdlib.h>

#include "gql/gql-int.h"

const char *const gql_dir_loc_names[GQL_DL_COUNT] = {
    "QUERY",
    "MUTATION",
    "SUBSCRIPTION",
    "FIELD",
    "FRAGMENT_DEFINITION",
    "FRAGMENT_SPREAD",
    "INLINE_FRAGMENT",
    "VARIABLE_DEFINITION",
    "SCHEMA",
    "SCALAR",
    "OBJECT",
    "FIELD_DEFINITION",
    "ARGUMENT_DEFINITION",
    "INTERFACE",
    "UNION",
    "ENUM",
    "ENUM_VALUE",
    "INPUT_OBJECT",
    "INPUT_FIELD_DEFINITION",
};

/* One definition with the source it came from. */
struct sdef {
    const struct gql_def *d;
    const char *src;
};

struct builder {
    struct gql_schema *s;
    struct err *err;
    struct sdef *defs;
    size_t ndefs;
    /* every named type, built-ins included, while building (the final table holds only the
     * types the schema lists) */
    struct gql_stype **all;
    size_t nall;
    struct gql_sdirective **dirs;
    size_t ndirs;
    const struct sdef *schema_def;
    int rc;
};

/* ---------------------------------------------------------------- failing */

static int failv(struct builder *b, const char *src, struct gql_loc loc, const char *fmt,
                 va_list ap) APP_PRINTF(4, 0);
static int failv(struct builder *b, const char *src, struct gql_loc loc, const char *fmt,
                 va_list ap)
{
    char msg[160];

    if (b->rc != 0)
        return b->rc;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    b->rc = err_set(b->err, ERR_INVALID, "%s:%u:%u: %s", src ? src : "<built-in>", loc.line,
                    loc.column, msg);
    return b->rc;
}

static int fail(struct builder *b, const struct sdef *sd, struct gql_loc loc, const char *fmt, ...)
    APP_PRINTF(4, 5);
static int fail(struct builder *b, const struct sdef *sd, struct gql_loc loc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    failv(b, sd ? sd->src : NULL, loc, fmt, ap);
    va_end(ap);
    return b->rc;
}

int gql_schema_fail(struct gql_schema_builder *gb, const struct gql_stype *t, struct gql_loc loc,
                    const char *fmt, ...)
{
    struct builder *b = (struct builder *)gb;
    va_list ap;

    va_start(ap, fmt);
    failv(b, t ? t->source : NULL, loc, fmt, ap);
    va_end(ap);
    return b->rc;
}

static void *balloc(struct builder *b, size_t n)
{
    void *p = arena_zalloc(b->s->a, n);

    if (p == NULL && b->rc == 0)
        b->rc = err_set(b->err, ERR_LIMIT, "out of memory building the schema");
    return p;
}

/* Appends <item> (of <size> bytes) to the arena array *arr of *n items, doubling as needed. */
static void *push(struct builder *b, void *arr, size_t *n, size_t size)
{
    char *a = arr;

    if ((*n & (*n - 1)) == 0) { /* 0, 1, 2, 4 …: full */
        char *bigger = balloc(b, size * (*n ? *n * 2 : 1));

        if (bigger == NULL)
            return NULL;
        if (*n)
            memcpy(bigger, a, size * *n);
        a = bigger;
    }
    (*n)++;
    return a;
}

#define PUSH(b, arr, n)                                                                            \
    ((arr) = push((b), (arr), &(n), sizeof(*(arr))), (arr) ? &(arr)[(n)-1] : NULL)

/* ---------------------------------------------------------------- build lookups */

static struct gql_stype *build_type(const struct builder *b, struct slice name)
{
    for (size_t i = 0; i < b->nall; i++)
        if (slice_eq(b->all[i]->name, name))
            return b->all[i];
    return NULL;
}

/* During the build: every wrapper is made once and remembered on the type it wraps. */
static const struct gql_stype *build_type_ref(struct builder *b, const struct sdef *sd,
                                              const struct gql_type *t)
{
    const struct gql_stype *of;
    struct gql_stype *base;

    if (t->kind == GQL_TYPE_NAMED) {
        const struct gql_stype *named = build_type(b, t->name);

        if (named == NULL)
            fail(b, sd, t->loc, "unknown type \"" SLICE_FMT "\"", SLICE_ARG(t->name));
        return named;
    }
    of = build_type_ref(b, sd, t->of_type);
    if (of == NULL)
        return NULL;
    base = (struct gql_stype *)of;
    if (t->kind == GQL_TYPE_LIST) {
        if (base->list_of == NULL)
            base->list_of = gql_type_wrap_new(b->s->a, GQL_KIND_LIST, of);
        return base->list_of;
    }
    if (of->kind == GQL_KIND_NON_NULL)
        return fail(b, sd, t->loc, "a non-null type cannot be non-null again"), NULL;
    if (base->non_null_of == NULL)
        base->non_null_of = gql_type_wrap_new(b->s->a, GQL_KIND_NON_NULL, of);
    return base->non_null_of;
}

/* ---------------------------------------------------------------- pass 1: names */

static enum gql_kind def_kind(enum gql_def_kind k)
{
    switch (k) {
    case GQL_DEF_OBJECT:
        return GQL_KIND_OBJECT;
    case GQL_DEF_INTERFACE:
        return GQL_KIND_INTERFACE;
    case GQL_DEF_UNION:
        return GQL_KIND_UNION;
    case GQL_DEF_ENUM:
        return GQL_KIND_ENUM;
    case GQL_DEF_INPUT:
        return GQL_KIND_INPUT_OBJECT;
    default:
        return GQL_KIND_SCALAR;
    }
}

static bool is_type_def(const struct gql_def *d)
{
    return d->kind >= GQL_DEF_SCALAR && d->kind <= GQL_DEF_INPUT;
}

static struct slice description(const struct gql_value *v)
{
    return v ? v->str : SLICE_NULL;
}

static bool reserved_name(struct slice name)
{
    return name.len >= 2 && name.ptr[0] == '_' && name.ptr[1] == '_';
}

static void define_type(struct builder *b, const struct sdef *sd)
{
    const struct gql_def *d = sd->d;
    struct gql_stype *t, **slot;

    if (build_type(b, d->name) != NULL) {
        fail(b, sd, d->loc, "type \"" SLICE_FMT "\" is defined twice", SLICE_ARG(d->name));
        return;
    }
    if (sd->src != NULL && reserved_name(d->name)) {
        fail(b, sd, d->loc,
             "type name \"" SLICE_FMT "\" is reserved: names starting with \"__\" "
             "belong to introspection",
             SLICE_ARG(d->name));
        return;
    }
    t = balloc(b, sizeof(*t));
    slot = PUSH(b, b->all, b->nall);
    if (t == NULL || slot == NULL)
        return;
    t->kind = def_kind(d->kind);
    t->name = d->name;
    t->description = description(d->description);
    t->loc = d->loc;
    t->source = sd->src;
    t->builtin = sd->src == NULL;
    *slot = t;
}

static void define_directive(struct builder *b, const struct sdef *sd)
{
    const struct gql_def *d = sd->d;
    struct gql_sdirective *dir, **slot;

    for (size_t i = 0; i < b->ndirs; i++)
        if (slice_eq(b->dirs[i]->name, d->name)) {
            fail(b, sd, d->loc, "directive \"@" SLICE_FMT "\" is defined twice",
                 SLICE_ARG(d->name));
            return;
        }
    if (sd->src != NULL && reserved_name(d->name)) {
        fail(b, sd, d->loc, "directive name \"@" SLICE_FMT "\" is reserved", SLICE_ARG(d->name));
        return;
    }
    dir = balloc(b, sizeof(*dir));
    slot = PUSH(b, b->dirs, b->ndirs);
    if (dir == NULL || slot == NULL)
        return;
    dir->name = d->name;
    dir->description = description(d->description);
    dir->repeatable = d->repeatable;
    dir->builtin = sd->src == NULL;
    for (const struct gql_name *l = d->names; l; l = l->next)
        for (int i = 0; i < GQL_DL_COUNT; i++)
            if (slice_eq_cstr(l->name, gql_dir_loc_names[i]))
                dir->locations |= 1u << i;
    *slot = dir;
}

static void pass_names(struct builder *b)
{
    for (size_t i = 0; i < b->ndefs && b->rc == 0; i++) {
        const struct sdef *sd = &b->defs[i];

        if (sd->d->extend)
            continue;
        if (is_type_def(sd->d))
            define_type(b, sd);
        else if (sd->d->kind == GQL_DEF_DIRECTIVE)
            define_directive(b, sd);
        else if (sd->d->kind == GQL_DEF_SCHEMA) {
            if (b->schema_def != NULL)
                fail(b, sd, sd->d->loc, "the schema is defined twice");
            b->schema_def = sd;
        }
    }
}

/* ---------------------------------------------------------------- pass 2: members */

/* The @deprecated and @specifiedBy arguments of an element's directives. */
static struct slice directive_arg(const struct gql_directive *dirs, const char *dir,
                                  const char *arg, bool *present)
{
    for (const struct gql_directive *d = dirs; d; d = d->next) {
        if (!slice_eq_cstr(d->name, dir))
            continue;
        *present = true;
        for (const struct gql_argument *a = d->args; a; a = a->next)
            if (slice_eq_cstr(a->name, arg) && a->value->kind == GQL_VALUE_STRING)
                return a->value->str;
        return SLICE_NULL;
    }
    return SLICE_NULL;
}

static struct gql_deprecation deprecation(const struct gql_directive *dirs)
{
    struct gql_deprecation dep = {0};

    dep.reason = directive_arg(dirs, "deprecated", "reason", &dep.deprecated);
    if (dep.deprecated && dep.reason.ptr == NULL)
        dep.reason = SLICE("No longer supported");
    return dep;
}

/* Known directives only, each where it may go; non-repeatable ones once. */
static void check_directives(struct builder *b, const struct sdef *sd,
                             const struct gql_directive *dirs, enum gql_dir_loc where)
{
    for (const struct gql_directive *d = dirs; d && b->rc == 0; d = d->next) {
        const struct gql_sdirective *def = NULL;

        for (size_t i = 0; i < b->ndirs && def == NULL; i++)
            if (slice_eq(b->dirs[i]->name, d->name))
                def = b->dirs[i];
        if (def == NULL) {
            fail(b, sd, d->loc, "unknown directive \"@" SLICE_FMT "\"", SLICE_ARG(d->name));
            return;
        }
        if (!(def->locations & (1u << where)))
            fail(b, sd, d->loc, "directive \"@" SLICE_FMT "\" may not be used on %s",
                 SLICE_ARG(d->name), gql_dir_loc_names[where]);
        for (const struct gql_directive *e = d->next; e && !def->repeatable; e = e->next)
            if (slice_eq(e->name, d->name))
                fail(b, sd, e->loc, "directive \"@" SLICE_FMT "\" may be used only once here",
                     SLICE_ARG(d->name));
    }
}

static void fill_args(struct builder *b, const struct sdef *sd, const struct gql_input_value *in,
                      struct gql_sarg **out, size_t *n, enum gql_dir_loc where)
{
    for (const struct gql_input_value *iv = in; iv && b->rc == 0; iv = iv->next) {
        struct gql_sarg *arg;

        if (gql_field_arg(*out, *n, iv->name) != NULL) {
            fail(b, sd, iv->loc, "\"" SLICE_FMT "\" is defined twice", SLICE_ARG(iv->name));
            return;
        }
        if (sd->src != NULL && reserved_name(iv->name)) {
            fail(b, sd, iv->loc, "name \"" SLICE_FMT "\" is reserved", SLICE_ARG(iv->name));
            return;
        }
        arg = PUSH(b, *out, *n);
        if (arg == NULL)
            return;
        arg->name = iv->name;
        arg->description = description(iv->description);
        arg->type = build_type_ref(b, sd, iv->type);
        arg->default_value = iv->default_value;
        arg->dep = deprecation(iv->directives);
        check_directives(b, sd, iv->directives, where);
        if (arg->type != NULL && !gql_is_input_type(arg->type))
            fail(b, sd, iv->type->loc, "\"" SLICE_FMT "\" must have an input type",
                 SLICE_ARG(iv->name));
    }
}

static void fill_fields(struct builder *b, const struct sdef *sd, struct gql_stype *t)
{
    for (const struct gql_field_def *fd = sd->d->fields; fd && b->rc == 0; fd = fd->next) {
        struct gql_sfield *f;
        struct gql_sarg *args = NULL;
        size_t nargs = 0;

        for (size_t i = 0; i < t->nfields; i++)
            if (slice_eq(t->fields[i].name, fd->name)) {
                fail(b, sd, fd->loc, "field \"" SLICE_FMT "." SLICE_FMT "\" is defined twice",
                     SLICE_ARG(t->name), SLICE_ARG(fd->name));
                return;
            }
        if (sd->src != NULL && reserved_name(fd->name)) {
            fail(b, sd, fd->loc, "field name \"" SLICE_FMT "\" is reserved", SLICE_ARG(fd->name));
            return;
        }
        fill_args(b, sd, fd->args, &args, &nargs, GQL_DL_ARGUMENT_DEFINITION);
        f = PUSH(b, t->fields, t->nfields);
        if (f == NULL)
            return;
        f->name = fd->name;
        f->description = description(fd->description);
        f->args = args;
        f->nargs = nargs;
        f->owner = t;
        f->type = build_type_ref(b, sd, fd->type);
        f->dep = deprecation(fd->directives);
        check_directives(b, sd, fd->directives, GQL_DL_FIELD_DEFINITION);
        f->qualified =
            arena_printf(b->s->a, SLICE_FMT "." SLICE_FMT, SLICE_ARG(t->name), SLICE_ARG(fd->name));
        if (f->type != NULL && !gql_is_output_type(f->type))
            fail(b, sd, fd->type->loc,
                 "field \"" SLICE_FMT "." SLICE_FMT "\" must have an "
                 "output type",
                 SLICE_ARG(t->name), SLICE_ARG(fd->name));
    }
}

/* `implements A & B` (kind INTERFACE) or union members (kind OBJECT). */
static void fill_names(struct builder *b, const struct sdef *sd, const struct gql_stype ***out,
                       size_t *n, enum gql_kind want)
{
    for (const struct gql_name *l = sd->d->names; l && b->rc == 0; l = l->next) {
        const struct gql_stype *t = build_type(b, l->name), **slot;

        if (t == NULL || t->kind != want) {
            fail(b, sd, l->loc, "\"" SLICE_FMT "\" is not %s", SLICE_ARG(l->name),
                 t == NULL                 ? "a defined type"
                 : want == GQL_KIND_OBJECT ? "an object type"
                                           : "an interface");
            return;
        }
        for (size_t i = 0; i < *n; i++)
            if ((*out)[i] == t) {
                fail(b, sd, l->loc, "\"" SLICE_FMT "\" is listed twice", SLICE_ARG(l->name));
                return;
            }
        slot = PUSH(b, *out, *n);
        if (slot != NULL)
            *slot = t;
    }
}

static void fill_values(struct builder *b, const struct sdef *sd, struct gql_stype *t)
{
    for (const struct gql_name *l = sd->d->names; l && b->rc == 0; l = l->next) {
        struct gql_senum *v;

        if (slice_eq_cstr(l->name, "true") || slice_eq_cstr(l->name, "false") ||
            slice_eq_cstr(l->name, "null")) {
            fail(b, sd, l->loc, "enum value \"" SLICE_FMT "\" is not allowed", SLICE_ARG(l->name));
            return;
        }
        if (gql_enum_value(t, l->name) != NULL) {
            fail(b, sd, l->loc, "enum value \"" SLICE_FMT "." SLICE_FMT "\" is defined twice",
                 SLICE_ARG(t->name), SLICE_ARG(l->name));
            return;
        }
        v = PUSH(b, t->values, t->nvalues);
        if (v == NULL)
            return;
        v->name = l->name;
        v->description = description(l->description);
        v->dep = deprecation(l->directives);
        check_directives(b, sd, l->directives, GQL_DL_ENUM_VALUE);
    }
}

static const enum gql_dir_loc kind_dir_loc[] = {
    [GQL_KIND_SCALAR] = GQL_DL_SCALAR,       [GQL_KIND_OBJECT] = GQL_DL_OBJECT,
    [GQL_KIND_INTERFACE] = GQL_DL_INTERFACE, [GQL_KIND_UNION] = GQL_DL_UNION,
    [GQL_KIND_ENUM] = GQL_DL_ENUM,           [GQL_KIND_INPUT_OBJECT] = GQL_DL_INPUT_OBJECT,
};

static void fill_type(struct builder *b, const struct sdef *sd)
{
    const struct gql_def *d = sd->d;
    struct gql_stype *t = build_type(b, d->name);
    bool present = false;
    struct slice url;

    if (t == NULL || t->kind != def_kind(d->kind)) {
        fail(b, sd, d->loc, "cannot extend \"" SLICE_FMT "\": %s", SLICE_ARG(d->name),
             t == NULL ? "no such type" : "it is a different kind of type");
        return;
    }
    check_directives(b, sd, d->directives, kind_dir_loc[t->kind]);
    switch (t->kind) {
    case GQL_KIND_OBJECT:
    case GQL_KIND_INTERFACE:
        fill_names(b, sd, &t->interfaces, &t->ninterfaces, GQL_KIND_INTERFACE);
        fill_fields(b, sd, t);
        break;
    case GQL_KIND_UNION:
        fill_names(b, sd, &t->possible, &t->npossible, GQL_KIND_OBJECT);
        break;
    case GQL_KIND_ENUM:
        fill_values(b, sd, t);
        break;
    case GQL_KIND_INPUT_OBJECT:
        fill_args(b, sd, d->input, &t->input, &t->ninput, GQL_DL_INPUT_FIELD_DEFINITION);
        break;
    case GQL_KIND_SCALAR:
        url = directive_arg(d->directives, "specifiedBy", "url", &present);
        if (present)
            t->specified_by = url;
        break;
    default:
        break;
    }
}

static void fill_directive(struct builder *b, const struct sdef *sd)
{
    struct gql_sdirective *dir = NULL;
    struct gql_sarg *args = NULL;
    size_t nargs = 0;

    for (size_t i = 0; i < b->ndirs; i++)
        if (slice_eq(b->dirs[i]->name, sd->d->name))
            dir = b->dirs[i];
    fill_args(b, sd, sd->d->input, &args, &nargs, GQL_DL_ARGUMENT_DEFINITION);
    dir->args = args;
    dir->nargs = nargs;
}

/* Definitions first, then extensions in document order (as graphql-js builds a schema), so a
 * type's fields come out the same whichever file extends it first. */
static void pass_members_of(struct builder *b, bool extensions)
{
    for (size_t i = 0; i < b->ndefs && b->rc == 0; i++) {
        const struct sdef *sd = &b->defs[i];

        if (sd->d->extend != extensions)
            continue;
        if (is_type_def(sd->d))
            fill_type(b, sd);
        else if (sd->d->kind == GQL_DEF_DIRECTIVE)
            fill_directive(b, sd);
        else if (sd->d->kind == GQL_DEF_SCHEMA)
            check_directives(b, sd, sd->d->directives, GQL_DL_SCHEMA);
    }
}

static void pass_members(struct builder *b)
{
    pass_members_of(b, false);
    pass_members_of(b, true);
}

/* ---------------------------------------------------------------- pass 3: roots */

static void set_root(struct builder *b, const struct sdef *sd, const struct gql_root_op *r)
{
    const struct gql_stype **slot[] = {&b->s->query, &b->s->mutation, &b->s->subscription};
    const struct gql_stype *t = build_type(b, r->type);

    if (t == NULL || t->kind != GQL_KIND_OBJECT) {
        fail(b, sd, r->loc, "the root type \"" SLICE_FMT "\" must be a defined object type",
             SLICE_ARG(r->type));
        return;
    }
    if (*slot[r->op] != NULL) {
        fail(b, sd, r->loc, "the schema names a root type for this operation twice");
        return;
    }
    *slot[r->op] = t;
}

static void pass_roots(struct builder *b)
{
    struct gql_schema *s = b->s;

    if (b->schema_def != NULL)
        s->description = description(b->schema_def->d->description);
    for (size_t i = 0; i < b->ndefs && b->rc == 0; i++)
        if (b->defs[i].d->kind == GQL_DEF_SCHEMA)
            for (const struct gql_root_op *r = b->defs[i].d->root_ops; r; r = r->next)
                set_root(b, &b->defs[i], r);
    if (b->rc != 0)
        return;
    if (b->schema_def == NULL) {
        const struct gql_stype *q = build_type(b, SLICE("Query"));
        const struct gql_stype *m = build_type(b, SLICE("Mutation"));
        const struct gql_stype *sub = build_type(b, SLICE("Subscription"));

        s->query = q && q->kind == GQL_KIND_OBJECT ? q : NULL;
        s->mutation = m && m->kind == GQL_KIND_OBJECT ? m : NULL;
        s->subscription = sub && sub->kind == GQL_KIND_OBJECT ? sub : NULL;
    }
    if (s->query == NULL)
        fail(b, b->schema_def, b->schema_def ? b->schema_def->d->loc : (struct gql_loc){0, 0},
             "the schema has no query root type (an object type \"Query\" or a schema "
             "definition naming one)");
}

/* ---------------------------------------------------------------- pass 4: type list */

/*
 * The order of the schema's type list follows the reference implementation: the user's
 * types in definition order, then, walking each of them in turn depth first, every type they
 * reference that is not listed yet (built-in scalars), then what the root types, the
 * directives' arguments and __Schema reference. A built-in scalar nothing references is not
 * part of the schema.
 */
struct collect {
    const struct gql_stype **list;
    bool *removed;
    size_t n;
};

static bool collected(const struct collect *c, const struct gql_stype *t)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->list[i] == t && !c->removed[i])
            return true;
    return false;
}

static void collect_type(struct collect *c, const struct gql_stype *t)
{
    t = gql_named_type(t);
    if (collected(c, t))
        return;
    c->removed[c->n] = false;
    c->list[c->n++] = t;
    for (size_t i = 0; t->kind == GQL_KIND_UNION && i < t->npossible; i++)
        collect_type(c, t->possible[i]);
    for (size_t i = 0; i < t->ninterfaces; i++)
        collect_type(c, t->interfaces[i]);
    for (size_t i = 0; i < t->nfields; i++) {
        collect_type(c, t->fields[i].type);
        for (size_t j = 0; j < t->fields[i].nargs; j++)
            collect_type(c, t->fields[i].args[j].type);
    }
    for (size_t i = 0; i < t->ninput; i++)
        collect_type(c, t->input[i].type);
}

static void pass_collect(struct builder *b)
{
    struct gql_schema *s = b->s;
    struct collect c = {0};
    size_t cap = 2 * b->nall + 1, n = 0;

    c.list = balloc(b, cap * sizeof(*c.list));
    c.removed = balloc(b, cap * sizeof(*c.removed));
    if (c.list == NULL || c.removed == NULL)
        return;
    for (size_t i = 0; i < b->nall; i++)
        if (!b->all[i]->builtin)
            c.list[c.n++] = b->all[i];
    for (size_t i = 0; i < b->nall; i++) {
        if (b->all[i]->builtin)
            continue;
        for (size_t j = 0; j < c.n; j++)
            if (c.list[j] == b->all[i])
                c.removed[j] = true;
        collect_type(&c, b->all[i]);
    }
    collect_type(&c, s->query);
    if (s->mutation)
        collect_type(&c, s->mutation);
    if (s->subscription)
        collect_type(&c, s->subscription);
    for (size_t i = 0; i < s->ndirectives; i++)
        for (size_t j = 0; j < s->directives[i]->nargs; j++)
            collect_type(&c, s->directives[i]->args[j].type);
    collect_type(&c, s->t_schema);
    s->types = balloc(b, (c.n + 1) * sizeof(*s->types));
    if (s->types == NULL)
        return;
    for (size_t i = 0; i < c.n; i++)
        if (!c.removed[i])
            s->types[n++] = c.list[i];
    s->ntypes = n;
}

/* Directives: the user's in definition order, then the built-in ones they do not replace. */
static void pass_directives(struct builder *b)
{
    struct gql_schema *s = b->s;
    size_t n = 0;

    s->directives = balloc(b, (b->ndirs + 1) * sizeof(*s->directives));
    if (s->directives == NULL)
        return;
    for (int builtin = 0; builtin < 2; builtin++)
        for (size_t i = 0; i < b->ndirs; i++)
            if (b->dirs[i]->builtin == builtin)
                s->directives[n++] = b->dirs[i];
    s->ndirectives = n;
}

static void pass_index(struct builder *b)
{
    struct gql_schema *s = b->s;
    size_t slots = 16;

    while (slots < s->ntypes * 2)
        slots *= 2;
    s->table = balloc(b, slots * sizeof(*s->table));
    if (s->table == NULL)
        return;
    s->tmask = slots - 1;
    for (size_t i = 0; i < s->ntypes; i++) {
        size_t h = gql_name_hash(s->types[i]->name) & s->tmask;

        while (s->table[h] != NULL)
            h = (h + 1) & s->tmask;
        s->table[h] = s->types[i];
    }
}

/* Interfaces learn their implementations, in the order of the type list. */
static void pass_possible(struct builder *b)
{
    struct gql_schema *s = b->s;

    for (size_t i = 0; i < s->ntypes && b->rc == 0; i++) {
        const struct gql_stype *t = s->types[i];

        if (t->kind != GQL_KIND_OBJECT)
            continue;
        for (size_t j = 0; j < t->ninterfaces; j++) {
            struct gql_stype *in = (struct gql_stype *)t->interfaces[j];
            const struct gql_stype **slot = PUSH(b, in->possible, in->npossible);

            if (slot != NULL)
                *slot = t;
        }
    }
}

/* ---------------------------------------------------------------- the meta fields */

static const struct gql_stype *non_null(struct builder *b, const struct gql_stype *t)
{
    struct gql_stype *base = (struct gql_stype *)t;

    if (t != NULL && base->non_null_of == NULL)
        base->non_null_of = gql_type_wrap_new(b->s->a, GQL_KIND_NON_NULL, t);
    return t ? t->non_null_of : NULL;
}

static const struct gql_sfield *meta_field(struct builder *b, const char *name,
                                           const struct gql_stype *type, const char *arg)
{
    struct gql_sfield *f = balloc(b, sizeof(*f));
    struct gql_sarg *a = arg ? balloc(b, sizeof(*a)) : NULL;

    if (f == NULL || (arg && a == NULL) || type == NULL)
        return NULL;
    f->name = slice_from_cstr(name);
    f->type = type;
    f->qualified = (char *)name;
    if (a != NULL) {
        a->name = slice_from_cstr(arg);
        a->type = non_null(b, b->s->t_string);
        f->args = a;
        f->nargs = 1;
    }
    return f;
}

static void pass_meta(struct builder *b)
{
    struct gql_schema *s = b->s;

    s->t_int = build_type(b, SLICE("Int"));
    s->t_float = build_type(b, SLICE("Float"));
    s->t_string = build_type(b, SLICE("String"));
    s->t_boolean = build_type(b, SLICE("Boolean"));
    s->t_id = build_type(b, SLICE("ID"));
    s->t_schema = build_type(b, SLICE("__Schema"));
    s->t_type = build_type(b, SLICE("__Type"));
    s->f_typename = meta_field(b, "__typename", non_null(b, s->t_string), NULL);
    s->f_schema = meta_field(b, "__schema", non_null(b, s->t_schema), NULL);
    s->f_type = meta_field(b, "__type", s->t_type, "name");
    if (s->f_typename == NULL || s->f_schema == NULL || s->f_type == NULL)
        fail(b, NULL, (struct gql_loc){0, 0}, "the prelude lacks an introspection type");
}

/* ---------------------------------------------------------------- building */

static int add_source(struct builder *b, const char *name, struct slice text)
{
    struct gql_doc *doc;
    struct gql_error_loc where = {0};
    struct gql_limits lim = {.max_bytes = 16u << 20, .max_tokens = 4u << 20};
    struct err perr = {0};

    if (gql_parse_schema(b->s->a, text, &lim, &doc, &where, &perr) != 0)
        return b->rc = err_set(b->err, perr.code, "%s:%s", name ? name : "<built-in>", perr.msg);
    for (struct gql_def *d = doc->defs; d; d = d->next) {
        struct sdef *sd = PUSH(b, b->defs, b->ndefs);

        if (sd == NULL)
            return b->rc;
        sd->d = d;
        sd->src = name;
    }
    return 0;
}

int gql_schema_build(struct gql_schema **out, const struct gql_source *src, size_t n,
                     struct err *err)
{
    struct gql_schema *s = calloc(1, sizeof(*s));
    struct builder b = {.s = s, .err = err};

    *out = NULL;
    if (s == NULL)
        return err_set(err, ERR_LIMIT, "out of memory building the schema");
    s->a = arena_new(&(struct arena_opts){.chunk = 64 << 10});
    add_source(&b, NULL, gql_prelude_sdl());
    for (size_t i = 0; i < n && b.rc == 0; i++)
        add_source(&b, src[i].name ? src[i].name : "<schema>", src[i].text);
    if (b.rc == 0)
        pass_names(&b);
    if (b.rc == 0)
        pass_members(&b);
    if (b.rc == 0)
        pass_roots(&b);
    if (b.rc == 0)
        pass_meta(&b);
    if (b.rc == 0)
        pass_directives(&b);
    if (b.rc == 0)
        pass_collect(&b);
    if (b.rc == 0)
        pass_index(&b);
    if (b.rc == 0)
        pass_possible(&b);
    if (b.rc == 0)
        gql_schema_check_types((struct gql_schema_builder *)&b, s);
    if (b.rc == 0)
        b.rc = gql_introspection_bind(s, err);
    if (b.rc != 0) {
        gql_schema_free(s);
        return b.rc;
    }
    *out = s;
    return 0;
}

void gql_schema_free(struct gql_schema *s)
{
    if (s == NULL)
        return;
    arena_free(s->a);
    free(s);
}
