/*
 * The type-system rules a schema must keep (spec §3, October 2021), checked once every type
 * is known: the first broken rule fails the build with the place and the rule.
 */
#include "gql/gql-int.h"

#define FAIL(b, t, loc, ...) gql_schema_fail((b), (t), (loc), __VA_ARGS__)

static bool required(const struct gql_sarg *a)
{
    return a->type->kind == GQL_KIND_NON_NULL && a->default_value == NULL;
}

/* A field of interface <in> as <t> implements it (spec 3.6.2 IsValidImplementationFieldType
 * and the argument rules). */
static int check_field_impl(struct gql_schema_builder *b, const struct gql_stype *t,
                            const struct gql_stype *in, const struct gql_sfield *want)
{
    const struct gql_sfield *have = NULL;

    for (size_t i = 0; i < t->nfields && have == NULL; i++)
        if (slice_eq(t->fields[i].name, want->name))
            have = &t->fields[i];
    if (have == NULL)
        return FAIL(b, t, t->loc,
                    "\"" SLICE_FMT "\" implements \"" SLICE_FMT "\" but has no field \"" SLICE_FMT
                    "\"",
                    SLICE_ARG(t->name), SLICE_ARG(in->name), SLICE_ARG(want->name));
    if (!gql_is_subtype(have->type, want->type))
        return FAIL(b, t, t->loc,
                    "field \"%s\" must return \"" SLICE_FMT "\"'s type for it or a subtype",
                    have->qualified, SLICE_ARG(in->name));
    for (size_t i = 0; i < want->nargs; i++) {
        const struct gql_sarg *a = gql_field_arg(have->args, have->nargs, want->args[i].name);

        if (a == NULL || !gql_types_equal(a->type, want->args[i].type))
            return FAIL(b, t, t->loc,
                        "field \"%s\" must take argument \"" SLICE_FMT "\" with the type "
                        "\"" SLICE_FMT "\" gives it",
                        have->qualified, SLICE_ARG(want->args[i].name), SLICE_ARG(in->name));
    }
    for (size_t i = 0; i < have->nargs; i++)
        if (required(&have->args[i]) &&
            gql_field_arg(want->args, want->nargs, have->args[i].name) == NULL)
            return FAIL(b, t, t->loc,
                        "field \"%s\" adds the required argument \"" SLICE_FMT "\", which "
                        "\"" SLICE_FMT "\" does not have",
                        have->qualified, SLICE_ARG(have->args[i].name), SLICE_ARG(in->name));
    return 0;
}

static bool lists(const struct gql_stype *t, const struct gql_stype *in)
{
    for (size_t i = 0; i < t->ninterfaces; i++)
        if (t->interfaces[i] == in)
            return true;
    return false;
}

static int check_implements(struct gql_schema_builder *b, const struct gql_stype *t)
{
    for (size_t i = 0; i < t->ninterfaces; i++) {
        const struct gql_stype *in = t->interfaces[i];
        int rc;

        if (in == t)
            return FAIL(b, t, t->loc, "\"" SLICE_FMT "\" cannot implement itself",
                        SLICE_ARG(t->name));
        for (size_t j = 0; j < in->ninterfaces; j++)
            if (!lists(t, in->interfaces[j]))
                return FAIL(b, t, t->loc,
                            "\"" SLICE_FMT "\" must also implement \"" SLICE_FMT
                            "\", which \"" SLICE_FMT "\" implements",
                            SLICE_ARG(t->name), SLICE_ARG(in->interfaces[j]->name),
                            SLICE_ARG(in->name));
        for (size_t j = 0; j < in->nfields; j++)
            if ((rc = check_field_impl(b, t, in, &in->fields[j])) != 0)
                return rc;
    }
    return 0;
}

/* A default value must be a value of its type (variables cannot occur: SDL is const). */
static int check_default(struct gql_schema_builder *b, const struct gql_schema *s,
                         const struct gql_stype *t, const struct gql_sarg *a)
{
    struct arena *scratch;
    struct gql_val v;
    struct err e = {0};
    bool absent = false;
    int rc;

    if (a->default_value == NULL)
        return 0;
    scratch = arena_new(NULL);
    rc = gql_coerce_literal(scratch, a->default_value, a->type, NULL, &v, &absent, &e);
    arena_free(scratch);
    (void)s;
    if (rc != 0)
        return FAIL(b, t, a->default_value->loc,
                    "the default value of \"" SLICE_FMT "\" is not valid: %s", SLICE_ARG(a->name),
                    e.msg);
    if (a->dep.deprecated && required(a))
        return FAIL(b, t, t->loc, "required \"" SLICE_FMT "\" cannot be deprecated",
                    SLICE_ARG(a->name));
    return 0;
}

static int check_args(struct gql_schema_builder *b, const struct gql_schema *s,
                      const struct gql_stype *t, const struct gql_sarg *args, size_t n)
{
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = check_default(b, s, t, &args[i]);
        if (rc == 0 && args[i].dep.deprecated && required(&args[i]))
            rc = FAIL(b, t, t->loc, "required \"" SLICE_FMT "\" cannot be deprecated",
                      SLICE_ARG(args[i].name));
    }
    return rc;
}

/* A required input object field's type: what a value of the enclosing type must contain. */
static const struct gql_stype *required_input(const struct gql_sarg *f)
{
    const struct gql_stype *t = f->type;

    return t->kind == GQL_KIND_NON_NULL && t->of_type->kind == GQL_KIND_INPUT_OBJECT ? t->of_type
                                                                                     : NULL;
}

/*
 * Spec 3.10.1: an input object may not reach itself through required singular fields only,
 * since no finite value of it could be written. <seen> bounds the walk to each type once.
 */
#define SEEN_MAX 256
static bool reaches(const struct gql_stype *from, const struct gql_stype *target,
                    const struct gql_stype **seen, size_t *nseen)
{
    if (from == target)
        return true;
    for (size_t i = 0; i < *nseen; i++)
        if (seen[i] == from)
            return false;
    if (*nseen == SEEN_MAX)
        return false;
    seen[(*nseen)++] = from;
    for (size_t i = 0; i < from->ninput; i++) {
        const struct gql_stype *next = required_input(&from->input[i]);

        if (next != NULL && reaches(next, target, seen, nseen))
            return true;
    }
    return false;
}

static bool input_loops(const struct gql_stype *t)
{
    const struct gql_stype *seen[SEEN_MAX];
    size_t nseen = 0;

    for (size_t i = 0; i < t->ninput; i++) {
        const struct gql_stype *next = required_input(&t->input[i]);

        if (next != NULL && reaches(next, t, seen, &nseen))
            return true;
    }
    return false;
}

static int check_type(struct gql_schema_builder *b, const struct gql_schema *s,
                      const struct gql_stype *t)
{
    int rc = 0;

    switch (t->kind) {
    case GQL_KIND_OBJECT:
    case GQL_KIND_INTERFACE:
        if (t->nfields == 0)
            return FAIL(b, t, t->loc, "\"" SLICE_FMT "\" must define at least one field",
                        SLICE_ARG(t->name));
        for (size_t i = 0; i < t->nfields && rc == 0; i++)
            rc = check_args(b, s, t, t->fields[i].args, t->fields[i].nargs);
        return rc ? rc : check_implements(b, t);
    case GQL_KIND_UNION:
        return t->npossible ? 0
                            : FAIL(b, t, t->loc, "union \"" SLICE_FMT "\" must have a member",
                                   SLICE_ARG(t->name));
    case GQL_KIND_ENUM:
        return t->nvalues ? 0
                          : FAIL(b, t, t->loc, "enum \"" SLICE_FMT "\" must have a value",
                                 SLICE_ARG(t->name));
    case GQL_KIND_INPUT_OBJECT:
        if (t->ninput == 0)
            return FAIL(b, t, t->loc, "input \"" SLICE_FMT "\" must define at least one field",
                        SLICE_ARG(t->name));
        if (input_loops(t))
            return FAIL(b, t, t->loc,
                        "input \"" SLICE_FMT "\" reaches itself through required fields, so "
                        "no value of it could be written",
                        SLICE_ARG(t->name));
        return check_args(b, s, t, t->input, t->ninput);
    default:
        return 0;
    }
}

void gql_schema_check_types(struct gql_schema_builder *b, const struct gql_schema *s)
{
    for (size_t i = 0; i < s->ntypes; i++)
        if (check_type(b, s, s->types[i]) != 0)
            return;
    for (size_t i = 0; i < s->ndirectives; i++)
        if (check_args(b, s, NULL, s->directives[i]->args, s->directives[i]->nargs) != 0)
            return;
}
