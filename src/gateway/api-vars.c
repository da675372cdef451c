/*
 * gateway API: variables of environments and services (schema/services.graphql). Setting
 * replaces the whole set: what the new set leaves out is unset, a secret sent back masked
 * keeps its stored value, and only what changes is written (at most two commits: plain values
 * and references, then values to seal). The services whose variables changed, directly or
 * through a shared variable they refer to, are redeployed with the same image.
 */
#include <stdlib.h>

#include <jansson.h>

#include "base/base.h"
#include "gateway/gw-int.h"
#include "gql/gql.h"
#include "pkg/pkg.h"

#define MASK "********"

struct var_v {
    const char *key, *value, *shared;
    bool secret;
    const struct var_ref *db, *svc;
};

struct var_ref {
    const char *name, *field;
};

static int var_list(struct gql_rctx *rc, const struct pkg_var *pv, size_t n, const char *type,
                    struct gql_val *out, struct err *err)
{
    struct arena *a = gql_rctx_arena(rc);
    struct var_v *v = arena_zalloc(a, (n ? n : 1) * sizeof(*v));
    struct var_ref *refs = arena_zalloc(a, (n ? n : 1) * sizeof(*refs));

    if (v == NULL || refs == NULL)
        return err_set(err, ERR_LIMIT, "variables: out of request memory");
    for (size_t i = 0; i < n; i++) {
        v[i] = (struct var_v){.key = pv[i].key, .secret = pv[i].form == PKG_VAR_SECRET};
        if (pv[i].form == PKG_VAR_LITERAL || pv[i].form == PKG_VAR_SECRET)
            v[i].value = pv[i].form == PKG_VAR_SECRET ? MASK : pv[i].value;
        else if (pv[i].form == PKG_VAR_SHARED)
            v[i].shared = pv[i].shared;
        refs[i] = (struct var_ref){pv[i].form == PKG_VAR_DATABASE ? pv[i].database : pv[i].service,
                                   pv[i].field};
        if (pv[i].form == PKG_VAR_DATABASE)
            v[i].db = &refs[i];
        if (pv[i].form == PKG_VAR_SERVICE)
            v[i].svc = &refs[i];
    }
    return gw_api_ptr_list(rc, v, n, sizeof(*v), type, out, err);
}

static int var_db_ref(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                      struct err *err)
{
    const struct var_v *v = parent->ptr.p;

    (void)rc, (void)err;
    *out = v->db ? GQL_PTR((void *)v->db, "DatabaseRef") : GQL_NULL;
    return 0;
}

static int var_svc_ref(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                       struct err *err)
{
    const struct var_v *v = parent->ptr.p;

    (void)rc, (void)err;
    *out = v->svc ? GQL_PTR((void *)v->svc, "ServiceRef") : GQL_NULL;
    return 0;
}

static int shared_get(struct gql_rctx *rc, struct gw_caller *c, const struct gw_svc_target *t,
                      struct pkg_var **out, size_t *n, struct err *err)
{
    struct pkg_call call;
    int rc_;

    if ((rc_ = gw_svc_call(rc, c, t->project, &call, err)) < 0)
        return rc_;
    rc_ = pkg_shared_variables(c->g->pkg, &call, t->env, gql_rctx_arena(rc), out, n, err);
    return gw_svc_env_found(rc_, c, t, err);
}

static int api_shared_variables(struct gql_rctx *rc, const struct gql_val *parent,
                                struct gql_val *out, struct err *err)
{
    struct pkg_var *v;
    struct gw_svc_target t;
    size_t n;
    int rc_;

    (void)parent;
    if ((rc_ = gw_svc_target_args(rc, NULL, false, &t, err)) < 0 ||
        (rc_ = shared_get(rc, gw_api_caller(rc), &t, &v, &n, err)) < 0)
        return rc_;
    return var_list(rc, v, n, "Variable", out, err);
}

static int api_service_variables(struct gql_rctx *rc, const struct gql_val *parent,
                                 struct gql_val *out, struct err *err)
{
    const struct pkg_service_info *si;
    struct gw_svc_target t;
    int rc_;

    (void)parent;
    if ((rc_ = gw_svc_target_args(rc, NULL, true, &t, err)) < 0 ||
        (rc_ = gw_svc_find(rc, gw_api_caller(rc), &t, &si, err)) < 0)
        return rc_;
    return var_list(rc, si->vars, si->nvars, "ServiceVariable", out, err);
}

/* A replacement of a set of variables, as the two objects pkg_set_variables() takes (plain:
 * values, references and nulls to unset; sealed: new secret values) holding only changes. */
struct var_change {
    json_t *plain, *sealed;
};

static bool var_key_valid(struct slice k)
{
    if (k.len == 0 || k.len > 128 || (k.ptr[0] >= '0' && k.ptr[0] <= '9'))
        return false;
    for (size_t i = 0; i < k.len; i++)
        if (!(k.ptr[i] == '_' || (k.ptr[i] >= '0' && k.ptr[i] <= '9') ||
              ((k.ptr[i] | 0x20) >= 'a' && (k.ptr[i] | 0x20) <= 'z')))
            return false;
    return true;
}

static const struct pkg_var *var_find(const struct pkg_var *v, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].key, key) == 0)
            return &v[i];
    return NULL;
}

/* The stored form of item <i> of the input list (its fields in <it>): a string, a reference,
 * or, for a secret, the value to seal (*seal). NULL *out: nothing to change (a masked secret
 * kept, or the same value). */
static int var_item(struct gql_rctx *rc, const struct gql_val *it, size_t i, const char *key,
                    const struct pkg_var *cur, json_t **out, bool *seal, struct err *err)
{
    const struct gql_val *sec = gql_val_field(it, "secret");
    const struct gql_val *sh = gql_val_field(it, "fromShared");
    const struct gql_val *db = gql_val_field(it, "databaseRef");
    const struct gql_val *sv = gql_val_field(it, "serviceRef");
    struct slice value;
    int given, rc_;

    *out = NULL;
    *seal = sec && sec->kind == GQL_V_BOOL && sec->b;
    if ((rc_ = gw_api_text(rc, it, "value", "value", 64 << 10, true, &value, err)) < 0)
        return err_wrap(err, "variables[%zu]", i);
    given = (value.ptr != NULL) + (sh && sh->kind == GQL_V_STRING) +
            (db && db->kind == GQL_V_OBJECT) + (sv && sv->kind == GQL_V_OBJECT);
    if (given != 1)
        return err_set(err, ERR_INVALID,
                       "variables[%zu] (%s): give exactly one of value, "
                       "fromShared, databaseRef, serviceRef",
                       i, key);
    *seal = *seal && value.ptr != NULL; /* references are never sealed */
    if (value.ptr != NULL && *seal) {
        if (slice_eq_cstr(value, MASK) && cur && cur->form == PKG_VAR_SECRET)
            return 0; /* the value read back: keep the stored one */
        *out = json_stringn(value.ptr, value.len);
    } else if (value.ptr != NULL) {
        if (!(cur && cur->form == PKG_VAR_LITERAL && slice_eq_cstr(value, cur->value)))
            *out = json_stringn(value.ptr, value.len);
    } else if (sh && sh->kind == GQL_V_STRING) {
        if (!(cur && cur->form == PKG_VAR_SHARED && slice_eq_cstr(sh->s, cur->shared)))
            *out = json_pack("{s:s%}", "shared", sh->s.ptr, sh->s.len);
    } else {
        const struct gql_val *ref = db && db->kind == GQL_V_OBJECT ? db : sv;
        const char *kind = ref == db ? "database" : "service";
        const struct gql_val *name = gql_val_field(ref, ref == db ? "database" : "service");
        const struct gql_val *field = gql_val_field(ref, ref == db ? "key" : "field");
        struct slice f =
            field && field->kind == GQL_V_STRING ? field->s : slice_from_cstr("internalUrl");

        if (name == NULL || name->kind != GQL_V_STRING)
            return err_set(err, ERR_INVALID, "variables[%zu].%sRef needs a name", i, kind);
        if (!(cur && cur->form == (ref == db ? PKG_VAR_DATABASE : PKG_VAR_SERVICE) &&
              slice_eq_cstr(name->s, ref == db ? cur->database : cur->service) &&
              slice_eq_cstr(f, cur->field)))
            *out = json_pack("{s:s%,s:s%}", kind, name->s.ptr, name->s.len, "field", f.ptr, f.len);
    }
    return 0;
}

/* Builds <ch> from the argument "variables" against the current set <cur>. */
static int var_changes(struct gql_rctx *rc, const struct pkg_var *cur, size_t ncur,
                       struct var_change *ch, struct err *err)
{
    const struct gql_val *list = gql_arg(rc, "variables");
    int rc_ = 0;

    ch->plain = json_object();
    ch->sealed = json_object();
    if (ch->plain == NULL || ch->sealed == NULL)
        return err_set(err, ERR_LIMIT, "variables: out of memory");
    for (size_t i = 0; list && list->kind == GQL_V_LIST && i < list->list.n; i++) {
        const struct gql_val *it = &list->list.items[i];
        const struct gql_val *k = gql_val_field(it, "key");
        const char *key;
        json_t *v;
        bool seal;

        if (k == NULL || k->kind != GQL_V_STRING || !var_key_valid(k->s))
            return err_set(err, ERR_INVALID,
                           "variables[%zu].key must match ^[A-Za-z_][A-Za-z0-9_]{0,127}$", i);
        key = arena_strndup(gql_rctx_arena(rc), k->s.ptr, k->s.len);
        if (key == NULL)
            return err_set(err, ERR_LIMIT, "variables: out of request memory");
        for (size_t j = 0; j < i; j++)
            if (slice_eq_cstr(gql_val_field(&list->list.items[j], "key")->s, key))
                return err_set(err, ERR_INVALID, "variables[%zu].key: %s is given twice", i, key);
        if ((rc_ = var_item(rc, it, i, key, var_find(cur, ncur, key), &v, &seal, err)) < 0)
            return rc_;
        if (v != NULL)
            json_object_set_new(seal ? ch->sealed : ch->plain, key, v);
    }
    for (size_t i = 0; i < ncur; i++) { /* what the new set leaves out goes */
        bool kept = false;

        for (size_t j = 0; list && list->kind == GQL_V_LIST && j < list->list.n; j++)
            kept = kept || slice_eq_cstr(gql_val_field(&list->list.items[j], "key")->s, cur[i].key);
        if (!kept)
            json_object_set_new(ch->plain, cur[i].key, json_null());
    }
    return 0;
}

static void var_change_release(struct var_change *ch)
{
    json_decref(ch->plain);
    json_decref(ch->sealed);
}

/* Writes <ch> (at most two commits: plain, then sealed). */
static int var_write(struct gql_rctx *rc, struct gw_caller *c, const struct gw_svc_target *t,
                     const struct var_change *ch, const char *const **removed, size_t *nremoved,
                     struct err *err)
{
    struct pkg_call call;
    int rc_;

    *removed = NULL;
    *nremoved = 0;
    if ((rc_ = gw_svc_call(rc, c, t->project, &call, err)) < 0)
        return rc_;
    if (json_object_size(ch->plain) > 0 &&
        (rc_ = pkg_set_variables(c->g->pkg, &call, t->env, t->service, ch->plain, false,
                                 gql_rctx_arena(rc), NULL, removed, nremoved, err)) < 0)
        return err_wrap(err, "variables");
    if (json_object_size(ch->sealed) > 0 &&
        (rc_ = pkg_set_variables(c->g->pkg, &call, t->env, t->service, ch->sealed, true,
                                 gql_rctx_arena(rc), NULL, NULL, NULL, err)) < 0)
        return err_wrap(err, "variables");
    return 0;
}

static int set_service_variables(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m,
                                 struct gql_val *out, struct err *err)
{
    const struct pkg_service_info *si;
    struct var_change ch = {0};
    const char *const *removed;
    size_t nremoved;
    struct gw_svc_target t;
    int rc_;

    if ((rc_ = gw_svc_target_args(rc, NULL, true, &t, err)) < 0 ||
        (rc_ = gw_api_require_active(c, err)) < 0)
        return rc_;
    m->target = slice_from_cstr(t.project);
    m->detail = arena_printf(gql_rctx_arena(rc), "{\"service\":\"%s\"}", t.service);
    if ((rc_ = gw_svc_find(rc, c, &t, &si, err)) < 0)
        return rc_;
    rc_ = var_changes(rc, si->vars, si->nvars, &ch, err);
    if (rc_ == 0 && json_object_size(ch.plain) + json_object_size(ch.sealed) > 0) {
        rc_ = var_write(rc, c, &t, &ch, &removed, &nremoved, err);
        if (rc_ == 0)
            gw_svc_redeploy(c, &t, si);
    }
    var_change_release(&ch);
    if (rc_ < 0 || (rc_ = gw_svc_find(rc, c, &t, &si, err)) < 0)
        return rc_;
    return var_list(rc, si->vars, si->nvars, "ServiceVariable", out, err);
}

/* Whether <si> refers to a shared variable that <ch> changes, or lost such a reference. */
static bool uses_changed(const struct pkg_service_info *si, const struct var_change *ch,
                         const char *const *removed, size_t nremoved)
{
    size_t n = strlen(si->name);

    for (size_t i = 0; i < si->nvars; i++)
        if (si->vars[i].form == PKG_VAR_SHARED &&
            (json_object_get(ch->plain, si->vars[i].shared) != NULL ||
             json_object_get(ch->sealed, si->vars[i].shared) != NULL))
            return true;
    for (size_t i = 0; i < nremoved; i++)
        if (strncmp(removed[i], si->name, n) == 0 && removed[i][n] == '.')
            return true;
    return false;
}

static int set_shared_variables(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m,
                                struct gql_val *out, struct err *err)
{
    struct var_change ch = {0};
    const char *const *removed = NULL;
    struct pkg_service_info *si = NULL;
    struct pkg_var *cur;
    size_t ncur, n = 0, nremoved = 0;
    struct gw_svc_target t;
    int rc_;

    if ((rc_ = gw_svc_target_args(rc, NULL, false, &t, err)) < 0 ||
        (rc_ = gw_api_require_active(c, err)) < 0)
        return rc_;
    m->target = slice_from_cstr(t.project);
    m->detail = arena_printf(gql_rctx_arena(rc), "{\"environment\":\"%s\"}", t.env);
    if ((rc_ = shared_get(rc, c, &t, &cur, &ncur, err)) < 0 ||
        (rc_ = gw_svc_list(rc, c, &t, &si, &n, err)) < 0)
        return rc_;
    rc_ = var_changes(rc, cur, ncur, &ch, err);
    if (rc_ == 0 && json_object_size(ch.plain) + json_object_size(ch.sealed) > 0)
        rc_ = var_write(rc, c, &t, &ch, &removed, &nremoved, err);
    for (size_t i = 0; rc_ == 0 && i < n; i++)
        if (uses_changed(&si[i], &ch, removed, nremoved))
            gw_svc_redeploy(c, &t, &si[i]);
    var_change_release(&ch);
    if (rc_ < 0 || (rc_ = shared_get(rc, c, &t, &cur, &ncur, err)) < 0)
        return rc_;
    return var_list(rc, cur, ncur, "Variable", out, err);
}

#define F(t, f, k, s, m)                                                                           \
    {                                                                                              \
        (t), (f), (k), offsetof(struct s, m), NULL, NULL, 0, NULL                                  \
    }
#define FN(t, f, fn)                                                                               \
    {                                                                                              \
        (t), (f), GW_F_FN, 0, (fn), NULL, GQL_BLOCKING, NULL                                       \
    }

/* clang-format off */
const struct gw_field_bind gw_api_vars_binds[] = {
    FN("Query", "sharedVariables", api_shared_variables),
    FN("Query", "serviceVariables", api_service_variables),
    GW_MUTATION("setSharedVariables", "variables.set_shared", false, set_shared_variables),
    GW_MUTATION("setServiceVariables", "variables.set", false, set_service_variables),
    F("Variable", "key", GW_F_STR, var_v, key),
    F("Variable", "value", GW_F_STR, var_v, value),
    F("Variable", "secret", GW_F_BOOL, var_v, secret),
    F("ServiceVariable", "key", GW_F_STR, var_v, key),
    F("ServiceVariable", "value", GW_F_STR, var_v, value),
    F("ServiceVariable", "secret", GW_F_BOOL, var_v, secret),
    F("ServiceVariable", "fromShared", GW_F_STR, var_v, shared),
    FN("ServiceVariable", "databaseRef", var_db_ref),
    FN("ServiceVariable", "serviceRef", var_svc_ref),
    F("DatabaseRef", "database", GW_F_STR, var_ref, name),
    F("DatabaseRef", "key", GW_F_STR, var_ref, field),
    F("ServiceRef", "service", GW_F_STR, var_ref, name),
    F("ServiceRef", "field", GW_F_STR, var_ref, field),
};
/* clang-format on */
const size_t gw_api_vars_nbinds = ARRAY_LEN(gw_api_vars_binds);
