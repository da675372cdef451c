/*
 * gateway API: the GraphQL schema (the .graphql files of schema/, compiled in by scripts/embed)
 * with the resolvers of api-*.c bound to it, and what those resolvers share: the caller, argument
 * checks, values made from the data layer's structs, and the one resolver every mutation goes
 * through so that each outcome is audited.
 *
 * Fields that only read a member of a C struct are bound from tables (struct gw_field_bind)
 * to one resolver that reads the member at an offset: the parent value is a GQL_V_PTR to the
 * struct. Resolvers that touch the store are GQL_BLOCKING: the transports run documents that
 * reach one on the worker pool.
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "gateway/gw-int.h"
#include "gql/gql.h"

/* ---------------------------------------------------------------- values */

const char *gw_api_time(struct arena *a, int64_t ms)
{
    char buf[32];

    time_rfc3339_ms(ms > 0 ? (uint64_t)ms : 0, buf);
    return arena_strndup(a, buf, strlen(buf));
}

static bool digits(struct slice s, size_t at, size_t n)
{
    for (size_t i = at; i < at + n; i++)
        if (i >= s.len || s.ptr[i] < '0' || s.ptr[i] > '9')
            return false;
    return true;
}

/* YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM), as RFC 3339 section 5.6 writes a date-time. */
bool gw_time_valid(struct slice s)
{
    size_t i = 19;

    if (s.len < 20 || !digits(s, 0, 4) || s.ptr[4] != '-' || !digits(s, 5, 2) || s.ptr[7] != '-' ||
        !digits(s, 8, 2) || (s.ptr[10] != 'T' && s.ptr[10] != 't') || !digits(s, 11, 2) ||
        s.ptr[13] != ':' || !digits(s, 14, 2) || s.ptr[16] != ':' || !digits(s, 17, 2))
        return false;
    if (s.ptr[i] == '.') {
        if (!digits(s, ++i, 1))
            return false;
        while (i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9')
            i++;
    }
    if (i < s.len && (s.ptr[i] == 'Z' || s.ptr[i] == 'z'))
        return i + 1 == s.len;
    return i + 6 == s.len && (s.ptr[i] == '+' || s.ptr[i] == '-') && digits(s, i + 1, 2) &&
           s.ptr[i + 3] == ':' && digits(s, i + 4, 2);
}

/* The Time scalar: a string in the response; an input must be an RFC 3339 date-time. */
static int time_parse(struct arena *a, const struct gql_val *in, struct gql_val *out,
                      struct err *err)
{
    (void)a;
    if (in->kind != GQL_V_STRING || !gw_time_valid(in->s))
        return err_set(err, ERR_INVALID,
                       "Time must be an RFC 3339 date-time such as \"2026-01-05T10:00:00Z\"");
    *out = *in;
    return 0;
}

static int time_serialize(struct arena *a, const struct gql_val *in, struct gql_val *out,
                          struct err *err)
{
    (void)a;
    if (in->kind != GQL_V_STRING)
        return err_set(err, ERR_INTERNAL, "Time: a resolver gave something other than a string");
    *out = *in;
    return 0;
}

int gw_api_ptr(struct gql_rctx *rc, const void *p, size_t size, const char *type,
               struct gql_val *out, struct err *err)
{
    void *copy = arena_alloc(gql_rctx_arena(rc), size);

    if (copy == NULL)
        return err_set(err, ERR_LIMIT, "%s: out of request memory", gql_rctx_field(rc));
    memcpy(copy, p, size);
    *out = GQL_PTR(copy, type);
    return 0;
}

int gw_api_ptr_list(struct gql_rctx *rc, const void *items, size_t n, size_t size, const char *type,
                    struct gql_val *out, struct err *err)
{
    struct gql_val *v = NULL;

    if (n > 0 && (v = arena_alloc(gql_rctx_arena(rc), n * sizeof(*v))) == NULL)
        return err_set(err, ERR_LIMIT, "%s: out of request memory", gql_rctx_field(rc));
    for (size_t i = 0; i < n; i++)
        v[i] = GQL_PTR((char *)items + i * size, type);
    *out = GQL_LIST(v, n);
    return 0;
}

/* The resolver of the table-bound fields: reads the member the entry names. */
static int field_get(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                     struct err *err)
{
    const struct gw_field_bind *b = gql_rctx_udata(rc);
    const char *at, *s;
    int64_t ms;
    enum gw_role role;
    bool flag;

    if (parent->kind != GQL_V_PTR || parent->ptr.p == NULL)
        return err_set(err, ERR_INTERNAL, "%s: no object to read", gql_rctx_field(rc));
    at = (const char *)parent->ptr.p + b->off;
    switch (b->kind) {
    case GW_F_STR:
        memcpy(&s, at, sizeof(s));
        *out = s ? GQL_STRING(slice_from_cstr(s)) : GQL_NULL;
        return 0;
    case GW_F_BOOL:
        memcpy(&flag, at, sizeof(flag));
        *out = GQL_BOOL(flag);
        return 0;
    case GW_F_INT:
        memcpy(&ms, at, sizeof(ms));
        *out = GQL_INT(ms);
        return 0;
    case GW_F_TIME:
        memcpy(&ms, at, sizeof(ms));
        *out = GQL_NULL;
        if (ms != 0 && (s = gw_api_time(gql_rctx_arena(rc), ms)) == NULL)
            return err_set(err, ERR_LIMIT, "%s: out of request memory", gql_rctx_field(rc));
        if (ms != 0)
            *out = GQL_STRING(slice_from_cstr(s));
        return 0;
    case GW_F_ROLE:
        memcpy(&role, at, sizeof(role));
        *out = GQL_ENUM(slice_from_cstr(gw_role_name(role)));
        return 0;
    case GW_F_OUTCOME:
        memcpy(&s, at, sizeof(s));
        s = s == NULL                  ? NULL
            : strcmp(s, "ok") == 0     ? "OK"
            : strcmp(s, "denied") == 0 ? "DENIED"
                                       : "ERROR";
        *out = s ? GQL_ENUM(slice_from_cstr(s)) : GQL_NULL;
        return 0;
    case GW_F_FN:
        break;
    }
    return err_set(err, ERR_INTERNAL, "%s: no way to read it", gql_rctx_field(rc));
}

/* ---------------------------------------------------------------- the caller and arguments */

struct gw_caller *gw_api_caller(struct gql_rctx *rc)
{
    return gql_rctx_context(rc);
}

int gw_api_require_admin(const struct gw_caller *c, const char *what, struct err *err)
{
    if (c == NULL || !c->authenticated)
        return err_set(err, ERR_UNAUTHENTICATED, "authentication required");
    if (c->role != GW_ROLE_ADMIN)
        return err_set(err, ERR_FORBIDDEN, "%s needs the ADMIN role in workspace %s", what,
                       c->workspace);
    return 0;
}

/* <v> of an ID or String argument as text; ID values given as integers are written out. */
static int as_text(struct gql_rctx *rc, const struct gql_val *v, const char *label,
                   struct slice *out, struct err *err)
{
    char *s;

    if (v->kind == GQL_V_STRING) {
        *out = v->s;
        return 0;
    }
    if (v->kind != GQL_V_INT)
        return err_set(err, ERR_INVALID, "%s must be a string", label);
    if ((s = arena_printf(gql_rctx_arena(rc), "%" PRId64, v->i)) == NULL)
        return err_set(err, ERR_LIMIT, "%s: out of request memory", label);
    *out = slice_from_cstr(s);
    return 0;
}

int gw_api_text(struct gql_rctx *rc, const struct gql_val *in, const char *name, const char *label,
                size_t max, bool optional, struct slice *out, struct err *err)
{
    const struct gql_val *v = in ? gql_val_field(in, name) : gql_arg(rc, name);
    int rc_;

    *out = SLICE_NULL;
    if (v == NULL || v->kind == GQL_V_NULL)
        return optional ? 0 : err_set(err, ERR_INVALID, "%s is required", label);
    if ((rc_ = as_text(rc, v, label, out, err)) < 0 ||
        (rc_ = gw_db_check_text(label, *out, max, false, err)) < 0)
        return rc_;
    for (size_t i = 0; i < out->len; i++) {
        unsigned char c = (unsigned char)out->ptr[i];
        if ((c < 0x20 && c != '\t') || c == 0x7F)
            return err_set(err, ERR_INVALID, "%s must not hold control characters", label);
    }
    return 0;
}

int gw_api_role(const struct gql_val *in, const char *name, enum gw_role *out, struct err *err)
{
    const struct gql_val *v = gql_val_field(in, name);

    if (v != NULL && v->kind == GQL_V_ENUM && slice_eq_cstr(v->s, "ADMIN"))
        *out = GW_ROLE_ADMIN;
    else if (v != NULL && v->kind == GQL_V_ENUM && slice_eq_cstr(v->s, "USER"))
        *out = GW_ROLE_USER;
    else
        return err_set(err, ERR_INVALID, "input.%s must be ADMIN or USER", name);
    return 0;
}

/* ---------------------------------------------------------------- mutations */

/* The audit detail of a failed mutation: {"error":…,"code":…} in <a>, or NULL. */
static const char *failure_detail(struct arena *a, const struct err *err)
{
    struct sbuf b = SBUF_INIT(1024);
    const char *out;

    sbuf_puts(&b, "{\"error\":");
    json_escape(&b, slice_from_cstr(err->msg));
    sbuf_printf(&b, ",\"code\":\"%s\"}", err_gql_code(err->code));
    out = b.err ? NULL : arena_strndup(a, b.buf, b.len);
    sbuf_release(&b);
    return out;
}

int gw_api_mutate(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                  struct err *err)
{
    const struct gw_mutation *mu = gql_rctx_udata(rc);
    struct gw_caller *c = gw_api_caller(rc);
    const char *field = strchr(gql_rctx_field(rc), '.');
    struct gw_mut m = {0};
    enum gw_outcome outcome = GW_OUTCOME_OK;
    int rc_;

    (void)parent;
    if (c == NULL || !c->authenticated)
        return err_set(err, ERR_UNAUTHENTICATED, "authentication required");
    m.workspace = slice_from_cstr(c->workspace);
    field = field ? field + 1 : gql_rctx_field(rc);
    rc_ = mu->admin ? gw_api_require_admin(c, field, err) : 0;
    if (rc_ == 0)
        rc_ = mu->run(rc, c, &m, out, err);
    if (rc_ == ERR_FORBIDDEN)
        outcome = GW_OUTCOME_DENIED;
    else if (rc_ < 0)
        outcome = GW_OUTCOME_ERROR;
    gw_audit_ws(c->g, slice_from_cstr(c->user.id), m.workspace, mu->action, m.target, outcome,
                rc_ < 0 ? failure_detail(gql_rctx_arena(rc), err) : m.detail);
    return rc_;
}

/* ---------------------------------------------------------------- building the schema */

static int bind_one(struct gql_schema *s, const struct gw_field_bind *b, struct err *err)
{
    struct gql_binding gb = {.flags = b->flags};

    if (b->kind == GW_F_FN) {
        gb.resolve = b->fn;
        gb.subscribe = b->subscribe;
        gb.udata = (void *)b->udata;
    } else {
        gb.resolve = field_get;
        gb.udata = (void *)b;
    }
    return gql_schema_bind(s, b->type, b->field, &gb, err);
}

static int bind_all(struct gql_schema *s, struct err *err)
{
    const struct {
        const struct gw_field_bind *b;
        size_t n;
    } tables[] = {
        {gw_api_identity_binds, gw_api_identity_nbinds},
        {gw_api_members_binds, gw_api_members_nbinds},
        {gw_api_tokens_binds, gw_api_tokens_nbinds},
        {gw_api_audit_binds, gw_api_audit_nbinds},
        {gw_api_projects_binds, gw_api_projects_nbinds},
        {gw_api_builds_binds, gw_api_builds_nbinds},
        {gw_api_deploys_binds, gw_api_deploys_nbinds},
        {gw_api_services_binds, gw_api_services_nbinds},
        {gw_api_vars_binds, gw_api_vars_nbinds},
    };
    int rc;

    for (size_t t = 0; t < ARRAY_LEN(tables); t++)
        for (size_t i = 0; i < tables[t].n; i++)
            if ((rc = bind_one(s, &tables[t].b[i], err)) < 0)
                return err_wrap(err, "binding %s.%s", tables[t].b[i].type, tables[t].b[i].field);
    if ((rc = gql_schema_bind_scalar(s, "Time", time_parse, time_serialize, err)) < 0)
        return rc;
    return gql_schema_check_bound(s, err);
}

int gw_api_schema_build(const struct gql_source *src, size_t n, struct gql_schema **out,
                        struct err *err)
{
    struct gql_schema *s = NULL;
    int rc = gql_schema_build(&s, src, n, err);

    if (rc == 0 && (rc = bind_all(s, err)) < 0) {
        gql_schema_free(s);
        s = NULL;
    }
    *out = s;
    return rc;
}

int gw_graphql_schema(struct gql_schema **out, struct err *err)
{
    struct gql_source src[8];
    size_t n = gw_schema_nfiles;

    if (n == 0 || n > ARRAY_LEN(src))
        return err_set(err, ERR_INTERNAL, "GraphQL schema: %zu files compiled in, expected 1..%zu",
                       n, ARRAY_LEN(src));
    for (size_t i = 0; i < n; i++)
        src[i] = (struct gql_source){gw_schema_files[i].name,
                                     {gw_schema_files[i].text, gw_schema_files[i].len}};
    return gw_api_schema_build(src, n, out, err);
}

int gw_api_new(struct gw *g, struct err *err)
{
    return gw_graphql_schema(&g->schema, err);
}

void gw_api_free(struct gw *g)
{
    if (g->schema != NULL)
        gql_schema_free(g->schema);
    g->schema = NULL;
}
