/*
 * Binding C to a built schema: resolvers per field, type resolution for abstract types,
 * parsing and serializing for custom scalars. Done once, before the schema is shared.
 */
#include "gql/gql-int.h"

static struct gql_stype *find_type(struct gql_schema *s, const char *name, struct err *err)
{
    const struct gql_stype *t = gql_schema_type(s, slice_from_cstr(name));

    if (t == NULL)
        err_set(err, ERR_NOTFOUND, "the schema has no type \"%s\"", name);
    return (struct gql_stype *)t;
}

int gql_schema_bind(struct gql_schema *s, const char *type, const char *field,
                    const struct gql_binding *b, struct err *err)
{
    struct gql_stype *t = find_type(s, type, err);
    struct gql_sfield *f = NULL;

    if (t == NULL)
        return ERR_NOTFOUND;
    for (size_t i = 0; i < t->nfields && f == NULL; i++)
        if (slice_eq_cstr(t->fields[i].name, field))
            f = &t->fields[i];
    if (f == NULL)
        return err_set(err, ERR_NOTFOUND, "the schema has no field \"%s.%s\"", type, field);
    if (b->subscribe != NULL && t != s->subscription)
        return err_set(err, ERR_INVALID,
                       "\"%s.%s\" is not a subscription field: it cannot "
                       "have a subscribe function",
                       type, field);
    f->bind = *b;
    return 0;
}

int gql_schema_bind_type(struct gql_schema *s, const char *abstract_type, gql_type_fn *fn,
                         void *udata, struct err *err)
{
    struct gql_stype *t = find_type(s, abstract_type, err);

    if (t == NULL)
        return ERR_NOTFOUND;
    if (!gql_is_abstract(t))
        return err_set(err, ERR_INVALID, "\"%s\" is not an interface or a union", abstract_type);
    t->resolve_type = fn;
    t->type_udata = udata;
    return 0;
}

int gql_schema_bind_scalar(struct gql_schema *s, const char *scalar, gql_scalar_fn *parse,
                           gql_scalar_fn *serialize, struct err *err)
{
    struct gql_stype *t = find_type(s, scalar, err);

    if (t == NULL)
        return ERR_NOTFOUND;
    if (t->kind != GQL_KIND_SCALAR || t->builtin)
        return err_set(err, ERR_INVALID, "\"%s\" is not a custom scalar", scalar);
    t->parse = parse;
    t->serialize = serialize;
    return 0;
}

static int check_root(const struct gql_stype *t, bool subscription, struct err *err)
{
    for (size_t i = 0; t != NULL && i < t->nfields; i++) {
        const struct gql_sfield *f = &t->fields[i];

        if (subscription ? f->bind.subscribe == NULL : f->bind.resolve == NULL)
            return err_set(err, ERR_INVALID, "\"%s\" has no %s bound", f->qualified,
                           subscription ? "subscribe function" : "resolver");
    }
    return 0;
}

int gql_schema_check_bound(const struct gql_schema *s, struct err *err)
{
    int rc = check_root(s->query, false, err);

    if (rc == 0)
        rc = check_root(s->mutation, false, err);
    if (rc == 0)
        rc = check_root(s->subscription, true, err);
    return rc;
}
