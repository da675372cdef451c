/* Visibility: workflows listed and shown as JSON, for the API, the CLI and operators. */
#include <stdio.h>

#include "flow/flow-int.h"

#define LIST_MAX   1000
#define SHOW_ARENA (64u << 20)

#define WF_COLUMNS                                                                                 \
    "id, name, status, idem_key, queue, part, parent, created_ms, updated_ms, started_ms, runs, "  \
    "err_code, err_msg"

static void jw_ms(struct jw *w, const char *key, const struct store_val *v)
{
    char ts[32];

    jw_key(w, key);
    if (v->type != STORE_T_INT) {
        jw_null(w);
        return;
    }
    time_rfc3339_ms((uint64_t)v->i, ts);
    jw_str(w, ts);
}

static void jw_text(struct jw *w, const char *key, const struct store_val *v)
{
    jw_key(w, key);
    if (v->type == STORE_T_NULL)
        jw_null(w);
    else
        jw_slice(w, v->s);
}

/* The fields of one flow_wf row selected with WF_COLUMNS, inside an open object. */
static void wf_fields(struct jw *w, const struct store_rows *r, size_t i)
{
    jw_text(w, "id", store_cell(r, i, 0));
    jw_text(w, "name", store_cell(r, i, 1));
    jw_key(w, "status");
    jw_str(w, flow_status_name((enum flow_status)store_cell(r, i, 2)->i));
    jw_text(w, "key", store_cell(r, i, 3));
    jw_text(w, "queue", store_cell(r, i, 4));
    jw_text(w, "partition", store_cell(r, i, 5));
    jw_text(w, "parent", store_cell(r, i, 6));
    jw_ms(w, "created", store_cell(r, i, 7));
    jw_ms(w, "updated", store_cell(r, i, 8));
    jw_ms(w, "started", store_cell(r, i, 9));
    jw_key(w, "runs");
    jw_int(w, store_cell(r, i, 10)->i);
    jw_key(w, "error");
    if (store_cell(r, i, 11)->type == STORE_T_INT) {
        jw_obj_begin(w);
        jw_key(w, "code");
        jw_str(w, err_name((int)store_cell(r, i, 11)->i));
        jw_text(w, "message", store_cell(r, i, 12));
        jw_obj_end(w);
    } else {
        jw_null(w);
    }
}

int flow_list_json(struct store *s, const struct flow_filter *flt, struct jw *w, struct err *err)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = SHOW_ARENA});
    struct sbuf sql = SBUF_INIT(2048), like = SBUF_INIT(600);
    struct store_val args[8];
    struct store_rows *r;
    size_t nargs = 0, limit = flt->limit ? flt->limit : 100;
    int rc;

    if (limit > LIST_MAX)
        limit = LIST_MAX;
    sbuf_puts(&sql, "SELECT " WF_COLUMNS " FROM flow_wf WHERE 1 = 1");
    if (flt->name != NULL) {
        sbuf_puts(&sql, " AND name = ?");
        args[nargs++] = SV_CSTR(flt->name);
    }
    if (flt->status >= 0) {
        sbuf_puts(&sql, " AND status = ?");
        args[nargs++] = SV_INT(flt->status);
    }
    if (flt->key.len > 0) {
        /* A prefix: LIKE with its wildcards escaped. */
        for (size_t i = 0; i < flt->key.len; i++) {
            char c = flt->key.ptr[i];

            if (c == '%' || c == '_' || c == '\\')
                sbuf_putc(&like, '\\');
            sbuf_putc(&like, c);
        }
        sbuf_putc(&like, '%');
        sbuf_puts(&sql, " AND idem_key LIKE ? ESCAPE '\\'");
        args[nargs++] = SV_TEXT(((struct slice){like.buf, like.len}));
    }
    if (flt->since_ms > 0) {
        sbuf_puts(&sql, " AND created_ms >= ?");
        args[nargs++] = SV_INT(flt->since_ms);
    }
    if (flt->until_ms > 0) {
        sbuf_puts(&sql, " AND created_ms < ?");
        args[nargs++] = SV_INT(flt->until_ms);
    }
    if (flt->before.len > 0) {
        sbuf_puts(&sql, " AND id < ?");
        args[nargs++] = SV_TEXT(flt->before);
    }
    sbuf_puts(&sql, " ORDER BY id DESC LIMIT ?");
    args[nargs++] = SV_INT(limit);
    rc = sql.err || like.err ? err_set(err, ERR_INVALID, "filter: too long") : 0;
    if (rc == 0)
        rc = store_read1(s, a, sql.buf, args, nargs, &r, err);
    if (rc == 0) {
        jw_arr_begin(w);
        for (size_t i = 0; i < r->nrows; i++) {
            jw_obj_begin(w);
            wf_fields(w, r, i);
            jw_obj_end(w);
        }
        jw_arr_end(w);
    }
    sbuf_release(&sql);
    sbuf_release(&like);
    arena_free(a);
    return rc;
}

/* A value stored as BLOB or TEXT: JSON when it is JSON-looking text, else a string. */
static void jw_value(struct jw *w, const char *key, const struct store_val *v, bool json)
{
    jw_key(w, key);
    if (v->type == STORE_T_NULL)
        jw_null(w);
    else if (json)
        jw_raw(w, v->s);
    else
        jw_slice(w, v->s);
}

static void show_steps(struct jw *w, const struct store_rows *st, const struct store_rows *at)
{
    static const char *const names[] = {"DONE", "FAILED", "WAITING"};

    jw_key(w, "steps");
    jw_arr_begin(w);
    for (size_t i = 0; i < st->nrows; i++) {
        int64_t seq = store_cell(st, i, 0)->i, status = store_cell(st, i, 2)->i;

        jw_obj_begin(w);
        jw_key(w, "seq");
        jw_int(w, seq);
        jw_text(w, "name", store_cell(st, i, 1));
        jw_key(w, "status");
        jw_str(w, status >= 0 && status < 3 ? names[status] : "UNKNOWN");
        jw_key(w, "attempts");
        jw_int(w, store_cell(st, i, 6)->i);
        jw_ms(w, "started", store_cell(st, i, 7));
        jw_ms(w, "ended", store_cell(st, i, 8));
        jw_ms(w, "wake", store_cell(st, i, 9));
        jw_value(w, "output", store_cell(st, i, 3), false);
        jw_key(w, "error");
        if (store_cell(st, i, 4)->type == STORE_T_INT) {
            jw_obj_begin(w);
            jw_key(w, "code");
            jw_str(w, err_name((int)store_cell(st, i, 4)->i));
            jw_text(w, "message", store_cell(st, i, 5));
            jw_obj_end(w);
        } else {
            jw_null(w);
        }
        jw_key(w, "failed_attempts");
        jw_arr_begin(w);
        for (size_t j = 0; j < at->nrows; j++) {
            if (store_cell(at, j, 0)->i != seq)
                continue;
            jw_obj_begin(w);
            jw_key(w, "attempt");
            jw_int(w, store_cell(at, j, 1)->i);
            jw_key(w, "code");
            jw_str(w, err_name((int)store_cell(at, j, 2)->i));
            jw_text(w, "message", store_cell(at, j, 3));
            jw_ms(w, "started", store_cell(at, j, 4));
            jw_ms(w, "ended", store_cell(at, j, 5));
            jw_obj_end(w);
        }
        jw_arr_end(w);
        jw_obj_end(w);
    }
    jw_arr_end(w);
}

static void show_events(struct jw *w, const struct store_rows *ev)
{
    jw_key(w, "events");
    jw_obj_begin(w);
    for (size_t i = 0; i < ev->nrows; i++) {
        struct slice k = store_cell(ev, i, 0)->s;
        char key[160];

        snprintf(key, sizeof(key), "%.*s", (int)(k.len < 128 ? k.len : 128), k.ptr);
        jw_key(w, key);
        jw_slice(w, store_cell(ev, i, 1)->s);
    }
    jw_obj_end(w);
}

static void show_children(struct jw *w, const struct store_rows *ch)
{
    jw_key(w, "children");
    jw_arr_begin(w);
    for (size_t i = 0; i < ch->nrows; i++) {
        jw_obj_begin(w);
        jw_text(w, "id", store_cell(ch, i, 0));
        jw_text(w, "name", store_cell(ch, i, 1));
        jw_key(w, "status");
        jw_str(w, flow_status_name((enum flow_status)store_cell(ch, i, 2)->i));
        jw_obj_end(w);
    }
    jw_arr_end(w);
}

int flow_show_json(struct store *s, struct slice id, struct jw *w, struct err *err)
{
    struct arena *a;
    struct store_rows *wf, *st = NULL, *at = NULL, *ev = NULL, *ch = NULL;
    struct store_val arg = SV_TEXT(id);
    struct store_tx *tx;
    int rc;

    if (!id_valid(id))
        return err_set(err, ERR_INVALID, "id: not a workflow id");
    a = arena_new(&(struct arena_opts){.budget = SHOW_ARENA});
    rc = store_begin_read(s, &tx, err);
    if (rc < 0) {
        arena_free(a);
        return rc;
    }
    rc = store_query(tx, a, "SELECT " WF_COLUMNS ", input, result FROM flow_wf WHERE id = ?", &arg,
                     1, &wf, err);
    if (rc == 0 && wf->nrows == 0)
        rc = err_set(err, ERR_NOTFOUND, "workflow %.*s does not exist", SLICE_ARG(id));
    if (rc == 0)
        rc =
            store_query(tx, a,
                        "SELECT seq, name, status, output, err_code, err_msg, attempts, "
                        "started_ms, ended_ms, wake_ms FROM flow_step WHERE wf_id = ? ORDER BY seq",
                        &arg, 1, &st, err);
    if (rc == 0)
        rc = store_query(tx, a,
                         "SELECT seq, attempt, err_code, err_msg, started_ms, ended_ms "
                         "FROM flow_attempt WHERE wf_id = ? ORDER BY seq, attempt",
                         &arg, 1, &at, err);
    if (rc == 0)
        rc = store_query(tx, a, "SELECT key, value FROM flow_event WHERE wf_id = ? ORDER BY key",
                         &arg, 1, &ev, err);
    if (rc == 0)
        rc = store_query(tx, a, "SELECT id, name, status FROM flow_wf WHERE parent = ? ORDER BY id",
                         &arg, 1, &ch, err);
    if (rc == 0)
        rc = store_commit(tx, err);
    else
        store_rollback(tx);
    if (rc == 0) {
        jw_obj_begin(w);
        wf_fields(w, wf, 0);
        jw_value(w, "input", store_cell(wf, 0, 13), true);
        jw_value(w, "result", store_cell(wf, 0, 14), true);
        show_events(w, ev);
        show_children(w, ch);
        show_steps(w, st, at);
        jw_obj_end(w);
    }
    arena_free(a);
    return rc;
}
