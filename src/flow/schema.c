/*
 * The engine's tables, kept in the database of the service that runs the workflows (migration
 * set "flow"), and the names of the states.
 *
 * flow_wf     one row per workflow: its input, state, result, claim (owner, lease) and when it
 *             should run next (wake_ms; FLOW_NEVER while it waits for a message or a child).
 * flow_step   one row per step position that has a result (status 0 done, 1 failed) or that
 *             started waiting (2: a timer, a receive); the replay log.
 * flow_attempt  failed attempts of steps that were retried.
 * flow_msg    messages; taken_seq is the receiving step once a flow_recv() took it.
 * flow_event  the latest value of each published event.
 * flow_cron   the last tick started of each cron schedule.
 */
#include "flow/flow-int.h"

static const char tables_sql[] =
    "CREATE TABLE flow_wf ("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL, status INTEGER NOT NULL, input TEXT NOT NULL,"
    " result TEXT, err_code INTEGER, err_msg TEXT, idem_key TEXT UNIQUE, queue TEXT, part TEXT,"
    " priority INTEGER NOT NULL DEFAULT 0, parent TEXT, owner TEXT, lease_ms BIGINT,"
    " wake_ms BIGINT NOT NULL, deadline_ms BIGINT, cancel INTEGER NOT NULL DEFAULT 0,"
    " runs INTEGER NOT NULL DEFAULT 0, created_ms BIGINT NOT NULL, started_ms BIGINT,"
    " updated_ms BIGINT NOT NULL);"
    "CREATE INDEX flow_wf_ready ON flow_wf (priority, wake_ms) WHERE status IN (0, 2);"
    "CREATE INDEX flow_wf_queue ON flow_wf (queue, started_ms) WHERE queue IS NOT NULL;"
    "CREATE INDEX flow_wf_parent ON flow_wf (parent) WHERE parent IS NOT NULL;"
    "CREATE INDEX flow_wf_owner ON flow_wf (owner) WHERE owner IS NOT NULL;"
    "CREATE INDEX flow_wf_name ON flow_wf (name, id);"
    "CREATE TABLE flow_step ("
    " wf_id TEXT NOT NULL, seq INTEGER NOT NULL, name TEXT NOT NULL, status INTEGER NOT NULL,"
    " output BYTEA, err_code INTEGER, err_msg TEXT, attempts INTEGER NOT NULL,"
    " started_ms BIGINT NOT NULL, ended_ms BIGINT, wake_ms BIGINT, PRIMARY KEY (wf_id, seq));"
    "CREATE TABLE flow_attempt ("
    " wf_id TEXT NOT NULL, seq INTEGER NOT NULL, attempt INTEGER NOT NULL, err_code INTEGER,"
    " err_msg TEXT, started_ms BIGINT NOT NULL, ended_ms BIGINT NOT NULL,"
    " PRIMARY KEY (wf_id, seq, attempt));"
    "CREATE TABLE flow_event ("
    " wf_id TEXT NOT NULL, key TEXT NOT NULL, value BYTEA NOT NULL, updated_ms BIGINT NOT NULL,"
    " PRIMARY KEY (wf_id, key));"
    "CREATE TABLE flow_cron (name TEXT PRIMARY KEY, last_tick_ms BIGINT NOT NULL)";

#define MSG_COLUMNS                                                                                \
    " wf_id TEXT NOT NULL, topic TEXT NOT NULL, payload BYTEA NOT NULL,"                           \
    " created_ms BIGINT NOT NULL, taken_seq INTEGER);"                                             \
    "CREATE INDEX flow_msg_inbox ON flow_msg (wf_id, topic, id) WHERE taken_seq IS NULL"

static const struct store_migration migrations[] = {
    {.version = 1, .name = "flow tables", .sql = tables_sql},
    {.version = 2,
     .name = "flow messages",
     .sql_sqlite = "CREATE TABLE flow_msg (id INTEGER PRIMARY KEY AUTOINCREMENT," MSG_COLUMNS,
     .sql_postgres = "CREATE TABLE flow_msg (id BIGSERIAL PRIMARY KEY," MSG_COLUMNS},
    {.version = 3, .name = "flow logs", .sql = flow_logs_ddl},
};

int flow_migrate(struct store *s, struct err *err)
{
    return store_migrate_set(s, "flow", migrations, ARRAY_LEN(migrations), err);
}

static const char *const status_names[] = {
    [FLOW_PENDING] = "PENDING",     [FLOW_RUNNING] = "RUNNING", [FLOW_WAITING] = "WAITING",
    [FLOW_SUCCEEDED] = "SUCCEEDED", [FLOW_FAILED] = "FAILED",   [FLOW_CANCELLED] = "CANCELLED",
};

const char *flow_status_name(enum flow_status s)
{
    return (unsigned)s < ARRAY_LEN(status_names) ? status_names[s] : "UNKNOWN";
}

bool flow_status_parse(struct slice s, enum flow_status *out)
{
    for (size_t i = 0; i < ARRAY_LEN(status_names); i++)
        if (slice_case_eq_cstr(s, status_names[i])) {
            *out = (enum flow_status)i;
            return true;
        }
    return false;
}
