/*
 * Retention: the built-in workflow "flow.prune" deletes workflows that ended longer ago than
 * the retention, in batches, each batch one transaction (a crash between batches loses
 * nothing: the next run carries on). Also the engine's configuration keys.
 */
#include <stdio.h>

#include "flow/flow-int.h"

#define PRUNE_BATCH 500

static const struct cfg_key flow_keys[] = {
    CFG_INT("flow.max_running", struct flow_cfg, max_running, 256, 1, 4096, 0,
            "Workflows one process runs at once (each on a thread of its own while it runs; a "
            "waiting workflow holds no thread)."),
    CFG_DURATION("flow.lease", struct flow_cfg, lease_ms, 10000, 1000, 3600000, 0,
                 "PostgreSQL: how long a process's claim on a workflow lasts without a heartbeat; "
                 "a dead process's workflows are taken over after it."),
    CFG_SIZE("flow.log_max_bytes", struct flow_cfg, log_max_bytes, 8 << 20, 4096, 1LL << 30, 0,
             "Log kept per workflow; older lines are dropped (readers are told how many)."),
    CFG_DURATION("flow.retention", struct flow_cfg, retention_ms, 30LL * 86400000, 0,
                 3650LL * 86400000, 0,
                 "How long an ended workflow is kept before flow.prune deletes it; 0 keeps every "
                 "workflow."),
    CFG_STR("flow.prune_schedule", struct flow_cfg, prune_schedule, "7 * * * *", 0,
            "When flow.prune runs: a cron spec (minute hour day month weekday, UTC)."),
};

struct cfg_section flow_cfg_section(struct flow_cfg *target)
{
    return (struct cfg_section){"flow", flow_keys, ARRAY_LEN(flow_keys), target};
}

void flow_opts_from_cfg(struct flow_opts *opts, const struct flow_cfg *cfg, struct store *store,
                        const char *service)
{
    *opts = (struct flow_opts){.store = store,
                               .service = service,
                               .max_running = (unsigned)cfg->max_running,
                               .lease_ms = (uint64_t)cfg->lease_ms,
                               .log_max_bytes = (uint64_t)cfg->log_max_bytes,
                               .retention_ms = (uint64_t)cfg->retention_ms,
                               .prune_schedule = cfg->prune_schedule};
}

static const char *const prune_sql[] = {
    "DELETE FROM flow_step WHERE wf_id IN (SELECT id FROM batch)",
    "DELETE FROM flow_attempt WHERE wf_id IN (SELECT id FROM batch)",
    "DELETE FROM flow_msg WHERE wf_id IN (SELECT id FROM batch)",
    "DELETE FROM flow_event WHERE wf_id IN (SELECT id FROM batch)",
    "DELETE FROM flow_log WHERE wf_id IN (SELECT id FROM batch)",
    "DELETE FROM flow_log_head WHERE wf_id IN (SELECT id FROM batch)",
    "DELETE FROM flow_wf WHERE id IN (SELECT id FROM batch)",
};

/* Deletes up to PRUNE_BATCH ended workflows older than <before>; *n gets how many. */
static int prune_batch(struct store *s, int64_t before, int64_t *n, struct err *err)
{
    char sql[512];
    struct store_tx *tx;
    int rc = store_begin(s, &tx, err);

    *n = 0;
    for (size_t i = 0; rc == 0 && i < ARRAY_LEN(prune_sql); i++) {
        /* The batch is chosen again by each statement: the same rows, since the
         * transaction holds the write lock (SQLite) or deletes what it chose (PostgreSQL,
         * where the final statement counts). */
        snprintf(sql, sizeof(sql),
                 "WITH batch AS (SELECT id FROM flow_wf WHERE status >= 3 AND updated_ms < ? "
                 "ORDER BY updated_ms LIMIT %d) %s",
                 PRUNE_BATCH, prune_sql[i]);
        rc = store_exec(tx, sql, (struct store_val[]){SV_INT(before)}, 1,
                        i + 1 == ARRAY_LEN(prune_sql) ? n : NULL, err);
    }
    if (rc < 0) {
        store_rollback(tx);
        return rc;
    }
    return store_commit(tx, err);
}

static int prune_step(struct flow_call *call, struct slice input, struct sbuf *out, struct err *err)
{
    struct flow *f = flow_call_udata(call);
    int64_t before = (int64_t)time_wall_ms() - (int64_t)f->opts.retention_ms, n, total = 0;
    int rc;

    (void)input;
    do {
        rc = prune_batch(f->store, before, &n, err);
        total += n;
    } while (rc == 0 && n == PRUNE_BATCH && !flow_call_cancelled(call));
    if (rc == 0)
        sbuf_printf(out, "{\"deleted\":%" PRId64 "}", total);
    return rc;
}

static int prune_wf(struct flow_ctx *ctx, struct slice input, struct sbuf *result, struct err *err)
{
    struct slice out;
    int rc = flow_step_retry(ctx, "prune", prune_step, input,
                             &(struct flow_retry){.attempts = 3, .initial_ms = 5000}, &out, err);

    if (rc == 0)
        sbuf_put_slice(result, out);
    return rc;
}

int flow_prune_register(struct flow *f, struct err *err)
{
    int rc;

    if (f->opts.retention_ms == 0)
        return 0;
    rc = flow_register(f, &(struct flow_wf_def){.name = "flow.prune", .fn = prune_wf, .udata = f},
                       err);
    if (rc == 0)
        rc = flow_cron_add(f, "flow.prune", f->prune_schedule, "flow.prune", SLICE("null"), err);
    return rc < 0 ? err_wrap(err, "flow.prune_schedule") : rc;
}
