/*
 * dep: the deployer on one machine (issue 8, docs/deploy.md). It runs each service of each
 * environment as replicas of the local container runtime (rt), routes its domains through the
 * ingress to the ready replicas only, rolls a new release out without a failed request, restarts
 * crashed replicas with backoff, and takes over the replicas a previous slipway left running.
 *
 * A service is known by its key: workspace, project, environment, service (slugs). What it
 * should run is a struct dep_spec, resolved by the caller from the environment's values in the
 * GitOps repository (secret values decrypted: they reach only the container's environment and
 * the files the runtime keeps mode 0600). The deployer keeps each service's current spec and
 * replicas on disk (<data_dir>/deployer/services/…, 0600, written atomically), so a slipway
 * started after a crash adopts what runs, stops what a half-done rollout left, and goes on.
 *
 * Threads: dep_new() starts one supervisor thread (crash restarts, readiness, routes, usage);
 * dep_rollout() and the other calls block (runc, the registry, the disk): call them from
 * workers, never from an event loop. Rollouts of one service run one at a time; of different
 * services at once.
 */
#ifndef SLIPWAY_DEP_H
#define SLIPWAY_DEP_H

#include "base/base.h"
#include "store/store.h"

struct dep_cfg {
    int64_t port_min, port_max; /* host ports given to replicas as PORT: 20000..29999 */
    int64_t ready_timeout_ms;   /* a new replica must be ready within this: 60000 */
    int64_t drain_ms;           /* old replicas keep serving after the switch: 2000 */
    int64_t stop_grace_ms;      /* SIGTERM, then SIGKILL after this: 10000 */
    int64_t backoff_max_ms;     /* crash restarts wait 1 s, doubling up to this: 60000 */
    int64_t log_max_bytes;      /* one replica log file before rotation: 8 MiB */
    int64_t usage_interval_ms;  /* CPU and memory recorded for billing every: 60000 */
};
/* The deployer.* keys (bounds, defaults, docs) filling <target>. */
struct cfg_section dep_cfg_section(struct dep_cfg *target);

struct ingress;
struct dep_deps {
    const char *data_dir;      /* <data_dir>/deployer/{services,images,rt} */
    struct store *store;       /* the deployer's own database: the usage ledger; borrowed */
    struct ingress *ingress;   /* routes go here; NULL: none (replicas still run) */
    const struct dep_cfg *cfg; /* NULL: the defaults */
    const char *runc_root;     /* NULL: the runtime's default */
    const char *relay_exe;     /* rt_opts.relay_exe: slipway's own binary; NULL: plain forks */
};

struct dep;
/* Makes the directories, migrates the store, adopts the replicas a previous process left:
 * those of a recorded service keep running (rt_adopt), the others (a rollout that did not
 * finish) are stopped; applies the routes of what is ready and starts the supervisor.
 * *out is the caller's (dep_free()). */
int dep_new(const struct dep_deps *d, struct dep **out, struct err *err) APP_MUST_CHECK;
/* Stops the supervisor; every replica keeps running. NULL is fine. */
void dep_free(struct dep *d);

/* Which service. */
struct dep_key {
    const char *workspace, *project, *env, *service;
};

/* What one service should run. Strings are borrowed for the call. */
struct dep_spec {
    /* The image: pulled by digest from <registry> ("127.0.0.1:8080") repository <repository>
     * ("ws/project/service") into the deployer's image layouts, or, with <layout_dir> set, read
     * from that OCI image layout as it is (tests, images already on disk). */
    const char *registry, *repository, *layout_dir;
    const char *digest;     /* "sha256:…" of the manifest */
    const char *pull_token; /* bearer token for the pull (NULL: anonymous) */
    bool insecure_loopback; /* plain http to a loopback registry */
    uint16_t port;          /* what the app is expected to listen on; each replica gets its
                             * own host port as PORT, this is the fallback probe */
    unsigned replicas;      /* 0: none run (suspended) */
    uint64_t memory_bytes;  /* per replica, 0: no limit */
    uint64_t cpu_millis;    /* per replica, thousandths of a core, 0: no limit */
    const char *const *env; /* "K=V", resolved (secrets decrypted) */
    size_t n_env;
    const char *start_command; /* run with /bin/sh -c; NULL: the image's command */
    const char *health_path;   /* readiness path; NULL: "/" */
    const char *const *hosts;  /* the platform domain first, then custom domains */
    size_t n_hosts;
};

/* Told to the caller as a rollout goes; all may be NULL. Run on the rolling thread. */
struct dep_hooks {
    void (*line)(void *arg, const char *line); /* "pulling sha256:…", "replica 2/3 ready" */
    void *arg;
    const _Atomic bool *cancel; /* set by another thread: the rollout stops, the old release
                                 * keeps serving, ERR_CANCELLED */
};

struct dep_result {
    char message[512]; /* what rolloutMessage says: "3 replicas ready", "the app listens on
                        * 3000, not 8080: using 3000" */
    bool unchanged;    /* the same spec already ran ready: nothing was restarted */
};

/* Rolls <key> out to <spec>: pulls the image, starts the new replicas (each its own host port,
 * cgroup limits, the image's non-root user, read-only root, writable /tmp), waits until every
 * one answers HTTP below 500 on its port (or the port it really listens on) at health_path,
 * switches the routes to them, drains the old replicas for cfg.drain_ms and stops them. A spec
 * equal to the one running ready returns at once (res->unchanged). When a new replica exits or
 * is not ready within cfg.ready_timeout_ms the new replicas are stopped, the old ones keep
 * serving, and ERR_UNAVAILABLE says why with the last lines of the replica's output. A spec of
 * 0 replicas stops the service's replicas and routes its hosts to a 502 page ("suspended").
 * Errors: ERR_INVALID naming the field, the registry's, the runtime's, ERR_CANCELLED. */
int dep_rollout(struct dep *d, const struct dep_key *key, const struct dep_spec *spec,
                const struct dep_hooks *hooks, struct dep_result *res,
                struct err *err) APP_MUST_CHECK;

/* Stops every replica of <key>, removes its routes and its record (its logs stay until
 * dep_logs_remove()). 0 also when it ran nothing. */
int dep_remove(struct dep *d, const struct dep_key *key, struct err *err) APP_MUST_CHECK;
/* Every service of <workspace>/<project> (env NULL: of every environment). */
int dep_remove_project(struct dep *d, const char *workspace, const char *project, const char *env,
                       struct err *err) APP_MUST_CHECK;

enum dep_health { DEP_UNKNOWN, DEP_SYNCED, DEP_PROGRESSING, DEP_DEGRADED };
const char *dep_health_name(enum dep_health h); /* SyncStatus: "SYNCED", … "UNKNOWN" */

struct dep_status {
    enum dep_health health; /* UNKNOWN: never rolled out here */
    char message[512];      /* DEGRADED: why ("replica 2 crashed 5 times: exit 1: <last line>") */
    char digest[80];        /* what runs */
    unsigned replicas;      /* wanted */
    unsigned ready;         /* answering now */
    uint16_t port;          /* the port the app listens on inside (as found) */
};
/* <key>'s status now. */
int dep_status(struct dep *d, const struct dep_key *key, struct dep_status *out,
               struct err *err) APP_MUST_CHECK;

/* `slipway down`: stops every container the deployer under <data_dir> runs (SIGTERM, SIGKILL
 * after <grace_ms>), with no deployer running there; *stopped counts them. The records stay, so
 * the next dep_new() starts the services again (their replicas are found gone and restarted). */
int dep_stop_all(const char *data_dir, const char *runc_root, uint64_t grace_ms, size_t *stopped,
                 struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- logs */

/* One line of a replica's output. Valid during the callback only. */
struct dep_log_line {
    const char *replica;   /* "1", "2", … (the replica's number in its release) */
    const char *timestamp; /* RFC 3339 with ms */
    const char *stream;    /* "out" or "err" */
    struct slice text;
};
typedef bool dep_log_fn(void *arg, const struct dep_log_line *l); /* false: stop */

struct dep_log_cursor;
/* Opens <key>'s logs: the last <tail> lines of its current replicas (and of replicas that
 * exited, within the rotation limits) are given by the first dep_logs_read(), then what they
 * write next; replicas started later (a new release, a restart) are picked up. *out is the
 * caller's (dep_logs_close()). ERR_NOTFOUND when the service never ran here. */
int dep_logs_open(struct dep *d, const struct dep_key *key, size_t tail,
                  struct dep_log_cursor **out, struct err *err) APP_MUST_CHECK;
/* Gives every line written since the last read, oldest first per replica. Never blocks on a
 * replica; returns 0, or an error. */
int dep_logs_read(struct dep_log_cursor *cur, dep_log_fn *fn, void *arg,
                  struct err *err) APP_MUST_CHECK;
void dep_logs_close(struct dep_log_cursor *cur); /* NULL is fine */

/* ---------------------------------------------------------------- metrics */

/* slipway_replica_cpu_seconds_total and slipway_replica_memory_bytes with labels workspace,
 * project, env, service, replica, for every running replica; slipway_replicas_ready per
 * service; slipway_replica_restarts_total. Prometheus text, HELP and TYPE once each. */
void dep_metrics_render(struct dep *d, struct sbuf *out);

#endif
