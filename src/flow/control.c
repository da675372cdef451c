/*
 * Starting, messaging, cancelling and retrying workflows from outside them, and reading what
 * they publish. Writes go through the group commit, so a burst of starts shares fsyncs.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "flow/flow-int.h"

static int check_json(struct slice s, const char *what, struct err *err)
{
    json_error_t je;
    json_t *v;

    if (s.len > FLOW_MAX_INPUT)
        return err_set(err, ERR_LIMIT, "%s: longer than %u bytes", what, FLOW_MAX_INPUT);
    v = json_loadb(s.ptr ? s.ptr : "", s.len, JSON_DECODE_ANY, &je);
    if (v == NULL)
        return err_set(err, ERR_INVALID, "%s: not JSON (%s at line %d, column %d)", what, je.text,
                       je.line, je.column);
    json_decref(v);
    return 0;
}

static struct store_val opt_text(struct slice s)
{
    return s.len > 0 ? SV_TEXT(s) : SV_NULL;
}

int flow_insert(struct store_tx *tx, const struct flow_new_wf *w, char id_out[37], struct err *err)
{
    uint64_t now = time_wall_ms();
    struct arena *a;
    struct store_rows *r;
    int64_t changes = 0;
    int rc;

    id_new(id_out);
    rc = store_exec(
        tx,
        "INSERT INTO flow_wf (id, name, status, input, idem_key, queue, part, priority, parent, "
        "wake_ms, created_ms, updated_ms) VALUES (?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (idem_key) DO NOTHING",
        (struct store_val[]){SV_CSTR(id_out), SV_CSTR(w->name), SV_TEXT(w->input), opt_text(w->key),
                             w->queue ? SV_CSTR(w->queue) : SV_NULL, opt_text(w->partition),
                             SV_INT(w->priority), opt_text(w->parent), SV_INT(now), SV_INT(now),
                             SV_INT(now)},
        11, &changes, err);
    if (rc < 0 || changes == 1)
        return rc;
    a = arena_new(&(struct arena_opts){.budget = 64 << 10});
    rc = store_query(tx, a, "SELECT id FROM flow_wf WHERE idem_key = ?",
                     (struct store_val[]){SV_TEXT(w->key)}, 1, &r, err);
    if (rc == 0 && r->nrows != 1)
        rc = err_set(err, ERR_INTERNAL, "idempotency key conflict without a holder");
    if (rc == 0) {
        memcpy(id_out, store_cell(r, 0, 0)->s.ptr, 36);
        id_out[36] = '\0';
        rc = 1;
    }
    arena_free(a);
    return rc;
}

struct start_ctx {
    struct flow *f;
    struct flow_new_wf w;
    char *id;
    int result; /* 0 new, 1 existing */
};

static int start_tx(struct store_tx *tx, void *arg, struct err *err)
{
    struct start_ctx *s = arg;
    int rc = flow_insert(tx, &s->w, s->id, err);

    if (rc < 0)
        return rc;
    s->result = rc;
    return flow_notify(s->f, tx, "wake", err);
}

int flow_start(struct flow *f, const char *wf, struct slice input, const struct flow_start_opts *o,
               char id_out[37], struct err *err)
{
    static const struct flow_start_opts none = {0};
    const struct flow_def *d = flow_def_find(f, slice_from_cstr(wf ? wf : ""));
    struct start_ctx s = {.f = f, .id = id_out};
    int rc;

    if (o == NULL)
        o = &none;
    if (d == NULL)
        return err_set(err, ERR_NOTFOUND, "workflow \"%.64s\" is not registered", wf ? wf : "");
    if (input.len == 0)
        input = SLICE("null");
    rc = check_json(input, "input", err);
    if (rc < 0)
        return rc;
    if (o->key.len > 256)
        return err_set(err, ERR_INVALID, "key: longer than 256 bytes");
    if (o->partition.len > 256)
        return err_set(err, ERR_INVALID, "partition: longer than 256 bytes");
    s.w = (struct flow_new_wf){.name = d->name,
                               .input = input,
                               .key = o->key,
                               .partition = o->partition,
                               .parent = o->parent,
                               .queue = o->queue ? o->queue : d->queue,
                               .priority = o->priority};
    if (s.w.queue != NULL && flow_queue_find(f, slice_from_cstr(s.w.queue)) == NULL)
        return err_set(err, ERR_NOTFOUND, "queue \"%.64s\" does not exist", s.w.queue);
    rc = flow_commit_run(f->commit, start_tx, &s, err);
    if (rc < 0)
        return rc;
    if (s.result == 0)
        flow_kick(f);
    return s.result;
}

/* ---------------------------------------------------------------- messages */

struct send_ctx {
    struct flow *f;
    struct slice id;
    const char *topic;
    struct slice msg;
};

static int send_tx(struct store_tx *tx, void *arg, struct err *err)
{
    struct send_ctx *s = arg;
    uint64_t now = time_wall_ms();
    int64_t n = 0;
    int rc =
        store_exec(tx,
                   "UPDATE flow_wf SET wake_ms = CASE WHEN status = 2 THEN ? ELSE wake_ms END, "
                   "updated_ms = ? WHERE id = ?",
                   (struct store_val[]){SV_INT(now), SV_INT(now), SV_TEXT(s->id)}, 3, &n, err);

    if (rc == 0 && n == 0)
        return err_set(err, ERR_NOTFOUND, "workflow %.*s does not exist", SLICE_ARG(s->id));
    if (rc == 0)
        rc = store_exec(
            tx,
            "INSERT INTO flow_msg (wf_id, topic, payload, created_ms) "
            "VALUES (?, ?, ?, ?)",
            (struct store_val[]){SV_TEXT(s->id), SV_CSTR(s->topic), SV_BLOB(s->msg), SV_INT(now)},
            4, NULL, err);
    if (rc == 0)
        rc = flow_notify(s->f, tx, "wake", err);
    return rc;
}

static int check_topic(const char *topic, struct err *err)
{
    size_t n = topic == NULL ? 0 : strlen(topic);

    if (n == 0 || n > 128)
        return err_set(err, ERR_INVALID, "topic: must be 1 to 128 bytes");
    return 0;
}

int flow_send(struct flow *f, struct slice id, const char *topic, struct slice msg, struct err *err)
{
    struct send_ctx s = {f, id, topic, msg};
    int rc = check_topic(topic, err);

    if (rc < 0)
        return rc;
    if (!id_valid(id))
        return err_set(err, ERR_INVALID, "id: not a workflow id");
    if (msg.len > FLOW_MAX_INPUT)
        return err_set(err, ERR_LIMIT, "message: longer than %u bytes", FLOW_MAX_INPUT);
    rc = flow_commit_run(f->commit, send_tx, &s, err);
    if (rc == 0)
        flow_kick(f);
    return rc;
}

/* ---------------------------------------------------------------- cancel and retry */

/* A workflow no executor holds ends CANCELLED at once (waking a parent that joins it); a
 * running one gets its cancel flag, which its executor acts on. */
static int cancel_one(struct flow *f, struct store_tx *tx, const char *id, struct err *err)
{
    uint64_t now = time_wall_ms();
    char payload[64];
    int64_t n = 0;
    int rc = store_exec(tx,
                        "UPDATE flow_wf SET status = 5, cancel = 1, err_code = ?, "
                        "err_msg = 'cancelled', owner = NULL, lease_ms = NULL, updated_ms = ? "
                        "WHERE id = ? AND status IN (0, 2)",
                        (struct store_val[]){SV_INT(ERR_CANCELLED), SV_INT(now), SV_CSTR(id)}, 3,
                        &n, err);

    if (rc == 0 && n == 1)
        rc = store_exec(tx,
                        "UPDATE flow_wf SET wake_ms = ? WHERE status = 2 AND id = "
                        "(SELECT parent FROM flow_wf WHERE id = ?)",
                        (struct store_val[]){SV_INT(now), SV_CSTR(id)}, 2, NULL, err);
    if (rc == 0 && n == 0)
        rc = store_exec(tx,
                        "UPDATE flow_wf SET cancel = 1, wake_ms = ?, updated_ms = ? "
                        "WHERE id = ? AND status = 1",
                        (struct store_val[]){SV_INT(now), SV_INT(now), SV_CSTR(id)}, 3, NULL, err);
    if (rc == 0) {
        snprintf(payload, sizeof(payload), "%s:%s", n == 1 ? "end" : "cancel", id);
        rc = flow_notify(f, tx, payload, err);
    }
    if (rc == 0 && n == 1) /* a parent it woke */
        rc = flow_notify(f, tx, "wake", err);
    return rc;
}

int flow_cancel_tree(struct flow *f, struct store_tx *tx, const char *id, struct err *err)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 4 << 20});
    struct store_rows *r;
    int rc = cancel_one(f, tx, id, err);

    if (rc == 0)
        rc = store_query(tx, a, "SELECT id FROM flow_wf WHERE parent = ? AND status < 3",
                         (struct store_val[]){SV_CSTR(id)}, 1, &r, err);
    for (size_t i = 0; rc == 0 && i < r->nrows; i++) {
        char child[37];
        struct slice c = store_cell(r, i, 0)->s;

        if (c.len != 36)
            continue;
        memcpy(child, c.ptr, 36);
        child[36] = '\0';
        rc = flow_cancel_tree(f, tx, child, err);
    }
    arena_free(a);
    return rc;
}

/* The status of <id> in <tx>: ERR_NOTFOUND when there is none. */
static int status_of(struct store_tx *tx, struct slice id, int *status, struct err *err)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 64 << 10});
    struct store_rows *r;
    int rc = store_query(tx, a, "SELECT status FROM flow_wf WHERE id = ?",
                         (struct store_val[]){SV_TEXT(id)}, 1, &r, err);

    if (rc == 0 && r->nrows == 0)
        rc = err_set(err, ERR_NOTFOUND, "workflow %.*s does not exist", SLICE_ARG(id));
    if (rc == 0)
        *status = (int)store_cell(r, 0, 0)->i;
    arena_free(a);
    return rc;
}

struct steer_ctx {
    struct flow *f;
    char id[37];
};

static int cancel_tx(struct store_tx *tx, void *arg, struct err *err)
{
    struct steer_ctx *s = arg;
    int status = 0;
    int rc = status_of(tx, slice_from_cstr(s->id), &status, err);

    if (rc == 0 && FLOW_FINAL(status))
        rc = err_set(err, ERR_CONFLICT, "workflow %s has ended already (%s)", s->id,
                     flow_status_name((enum flow_status)status));
    if (rc == 0)
        rc = flow_cancel_tree(s->f, tx, s->id, err);
    return rc;
}

static int steer(struct flow *f, struct slice id, flow_apply_fn *fn, struct steer_ctx *s,
                 struct err *err)
{
    if (!id_valid(id))
        return err_set(err, ERR_INVALID, "id: not a workflow id");
    s->f = f;
    memcpy(s->id, id.ptr, 36);
    s->id[36] = '\0';
    return flow_commit_run(f->commit, fn, s, err);
}

int flow_cancel(struct flow *f, struct slice id, struct err *err)
{
    struct steer_ctx s;
    int rc = steer(f, id, cancel_tx, &s, err);

    if (rc < 0)
        return rc;
    flow_cancel_local(f, s.id);
    flow_ended_local(f, s.id);
    flow_kick(f);
    return 0;
}

static int retry_tx(struct store_tx *tx, void *arg, struct err *err)
{
    struct steer_ctx *s = arg;
    uint64_t now = time_wall_ms();
    int status = 0;
    int rc = status_of(tx, slice_from_cstr(s->id), &status, err);

    if (rc == 0 && status != FLOW_FAILED && status != FLOW_CANCELLED)
        rc = err_set(err, ERR_CONFLICT,
                     "workflow %s is %s: only a FAILED or CANCELLED one can be "
                     "retried",
                     s->id, flow_status_name((enum flow_status)status));
    if (rc == 0)
        rc = store_exec(tx, "DELETE FROM flow_step WHERE wf_id = ? AND status = 1",
                        (struct store_val[]){SV_CSTR(s->id)}, 1, NULL, err);
    if (rc == 0)
        rc = store_exec(
            tx,
            "UPDATE flow_wf SET status = 0, cancel = 0, result = NULL, err_code = NULL, "
            "err_msg = NULL, deadline_ms = NULL, started_ms = NULL, owner = NULL, "
            "wake_ms = ?, updated_ms = ? WHERE id = ?",
            (struct store_val[]){SV_INT(now), SV_INT(now), SV_CSTR(s->id)}, 3, NULL, err);
    if (rc == 0)
        rc = flow_notify(s->f, tx, "wake", err);
    return rc;
}

int flow_retry(struct flow *f, struct slice id, struct err *err)
{
    struct steer_ctx s;
    int rc = steer(f, id, retry_tx, &s, err);

    if (rc == 0)
        flow_kick(f);
    return rc;
}

/* ---------------------------------------------------------------- reading */

int flow_get_event(struct store *s, struct arena *a, struct slice id, const char *key,
                   struct slice *value, struct err *err)
{
    struct store_rows *r;
    int rc = store_read1(s, a, "SELECT value FROM flow_event WHERE wf_id = ? AND key = ?",
                         (struct store_val[]){SV_TEXT(id), SV_CSTR(key ? key : "")}, 2, &r, err);

    if (rc == 0 && r->nrows == 0)
        return err_set(err, ERR_NOTFOUND, "workflow %.*s has not published event \"%.64s\"",
                       SLICE_ARG(id), key ? key : "");
    if (rc == 0)
        *value = store_cell(r, 0, 0)->s;
    return rc;
}

static int outcome_read(struct store *s, struct arena *a, struct slice id, struct flow_outcome *out,
                        struct err *err)
{
    struct store_rows *r;
    int rc = store_read1(s, a, "SELECT status, result, err_code, err_msg FROM flow_wf WHERE id = ?",
                         (struct store_val[]){SV_TEXT(id)}, 1, &r, err);

    if (rc == 0 && r->nrows == 0)
        return err_set(err, ERR_NOTFOUND, "workflow %.*s does not exist", SLICE_ARG(id));
    if (rc < 0)
        return rc;
    *out = (struct flow_outcome){.status = (enum flow_status)store_cell(r, 0, 0)->i,
                                 .result = store_cell(r, 0, 1)->s,
                                 .err_code = (int)store_cell(r, 0, 2)->i,
                                 .err_msg = store_cell(r, 0, 3)->s};
    return 0;
}

int flow_wait(struct flow *f, struct arena *a, struct slice id, uint64_t timeout_ms,
              struct flow_outcome *out, struct err *err)
{
    uint64_t end = time_mono_ms() + timeout_ms, now;
    int rc;

    uint64_t gen;

    for (;;) {
        pthread_mutex_lock(&f->lock);
        gen = f->ends;
        pthread_mutex_unlock(&f->lock);
        rc = outcome_read(f->store, a, id, out, err);
        if (rc < 0 || FLOW_FINAL(out->status))
            return rc;
        now = time_mono_ms();
        if (now >= end)
            return err_set(err, ERR_TIMEOUT, "workflow %.*s is still %s", SLICE_ARG(id),
                           flow_status_name(out->status));
        /* Woken by an end in this process; other processes' ends are seen by polling. */
        pthread_mutex_lock(&f->lock);
        if (f->ends == gen)
            cond_wait_until(&f->final_cv, &f->lock,
                            time_mono_ns() + (end - now < 200 ? end - now : 200) * 1000000u);
        pthread_mutex_unlock(&f->lock);
    }
}
