/* Errors of a response (spec 7.1.2): message, locations, path and extensions.code. */
#include <stdio.h>

#include "gql/gql-int.h"

struct gql_error *gql_error_add(struct arena *a, struct gql_error ***tail, struct gql_loc loc,
                                const char *code, const char *fmt, ...)
{
    struct gql_error *e = arena_zalloc(a, sizeof(*e));
    char msg[512];
    va_list ap;

    if (e == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    e->message = arena_strndup(a, msg, strlen(msg));
    if (e->message == NULL)
        return NULL;
    e->code = code;
    if (loc.line != 0)
        gql_error_add_loc(a, e, loc);
    **tail = e;
    *tail = &e->next;
    return e;
}

void gql_error_add_loc(struct arena *a, struct gql_error *e, struct gql_loc loc)
{
    struct gql_loc *locs = arena_alloc(a, (e->nlocations + 1) * sizeof(*locs));

    if (locs == NULL)
        return;
    if (e->nlocations)
        memcpy(locs, e->locations, e->nlocations * sizeof(*locs));
    locs[e->nlocations++] = loc;
    e->locations = locs;
}

static void write_path(struct jw *w, const struct gql_path *p)
{
    if (p == NULL)
        return;
    write_path(w, p->parent);
    if (p->key.ptr != NULL)
        jw_slice(w, p->key);
    else
        jw_uint(w, p->index);
}

void gql_errors_write(struct jw *w, const struct gql_error *errs)
{
    for (const struct gql_error *e = errs; e != NULL; e = e->next) {
        jw_obj_begin(w);
        jw_key(w, "message");
        jw_str(w, e->message);
        if (e->nlocations) {
            jw_key(w, "locations");
            jw_arr_begin(w);
            for (size_t i = 0; i < e->nlocations; i++) {
                jw_obj_begin(w);
                jw_key(w, "line");
                jw_uint(w, e->locations[i].line);
                jw_key(w, "column");
                jw_uint(w, e->locations[i].column);
                jw_obj_end(w);
            }
            jw_arr_end(w);
        }
        if (e->path) {
            jw_key(w, "path");
            jw_arr_begin(w);
            write_path(w, e->path);
            jw_arr_end(w);
        }
        if (e->code) {
            jw_key(w, "extensions");
            jw_obj_begin(w);
            jw_key(w, "code");
            jw_str(w, e->code);
            jw_obj_end(w);
        }
        jw_obj_end(w);
    }
}
