/*
 * dep internals shared by its files and its tests (docs/deploy.md).
 *
 * On disk, under <data_dir>/deployer:
 *   services/<ws>/<project>/<env>/<service>.json   one record per service (0600, atomic)
 *   images/<hex>/                                   an OCI image layout per registry repository
 *   rt/                                             the container runtime's root
 *
 * Locks, always taken in this order: d->routes_lock (route table build + ingress_apply),
 * d->lock (the list of services, port allocation), svc->lock (a service's fields, held only
 * briefly, never across runc). svc->roll is held by a rollout or a removal for its whole run,
 * and by the supervisor while it works on that service (trylock: it skips a busy one).
 */
#ifndef SLIPWAY_DEP_INT_H
#define SLIPWAY_DEP_INT_H

#include "dep/dep.h"
#include "rt/rt.h"

#define DEP_REPLICAS_MAX  64
#define DEP_PATH_MAX      1024
#define DEP_HASH_HEX      64
#define DEP_KEY_HEX       12 /* of a key's hash, at the front of its container ids */
#define DEP_CRASH_WINDOW  (5 * 60 * 1000)
#define DEP_CRASHES_BAD   3     /* crashes within the window that make a service DEGRADED */
#define DEP_HEALTHY_RESET 60000 /* a replica up this long starts its backoff at 1 s again */
#define DEP_TAIL_BYTES    2048  /* crash output quoted in errors */
#define DEP_PIDS_MAX      4096
#define DEP_RT_ROOT_MAX   400 /* what the runtime takes as its root (rt-int.h's RT_ROOT_MAX) */

/* One replica: the first four fields are on disk, the rest are what the supervisor learns. */
struct dep_replica {
    char id[RT_ID_MAX + 1];
    unsigned num;       /* 1, 2, … in its release */
    uint16_t host_port; /* given as PORT */
    uint16_t app_port;  /* where it answers (the host port, or the one it really listens on) */
    bool ready;
    uint64_t restart_at_ms; /* monotonic; 0: not waiting for a restart */
    uint64_t exit_seen_ms;  /* monotonic, when found exited before its status was written */
    uint64_t backoff_ms;
    uint64_t up_since_ms;               /* monotonic, when it last became ready */
    uint64_t crash_ms[DEP_CRASHES_BAD]; /* the last crashes, a ring */
    unsigned n_crashes;                 /* in total since the release started */
    uint64_t restarts;
    char last_crash[256]; /* "exit 1: boom" */
};

/* One service's current release, as recorded. The spec's strings live in <spec_json>. */
struct dep_svc {
    pthread_mutex_t roll; /* held by a rollout, a removal, the supervisor's round */
    pthread_mutex_t lock; /* guards everything below */
    char ws[SLUG_MAX + 1], project[SLUG_MAX + 1], env[SLUG_MAX + 1], service[SLUG_MAX + 1];
    char label[4 * (SLUG_MAX + 1)]; /* "ws/project/env/service" */
    char key_hex[DEP_KEY_HEX + 1];
    bool recorded; /* a record exists (false: never rolled out, or removed) */
    json_t *spec_json;
    struct dep_spec spec; /* pointing into spec_json; layout_dir the resolved one */
    char spec_hash[DEP_HASH_HEX + 1];
    uint64_t gen, next_gen;
    struct dep_replica rep[DEP_REPLICAS_MAX];
    unsigned n_rep;
    /* ports a rollout has taken for the release it starts: not given to others meanwhile */
    uint16_t pending_ports[DEP_REPLICAS_MAX];
    unsigned n_pending_ports;
    enum dep_health health;
    char message[512];
    struct dep_svc *next;
};

struct dep {
    char dir[DEP_RT_ROOT_MAX]; /* <data_dir>/deployer */
    struct rt *rt;
    struct store *store;
    struct ingress *ingress;
    struct dep_cfg cfg;
    pthread_mutex_t routes_lock;
    char *last_routes;         /* the table last applied, as text; guarded by routes_lock */
    _Atomic bool routes_dirty; /* an apply failed: the supervisor tries again */
    pthread_mutex_t lock;
    struct dep_svc *svcs; /* never freed before dep_free(): pointers to them stay valid */
    uint16_t port_cursor;
    pthread_t sup;
    bool sup_started;
    pthread_mutex_t sup_lock;
    pthread_cond_t sup_cv;
    bool stopping; /* guarded by sup_lock */
    uint64_t next_usage_ms;
};

/* ---------------------------------------------------------------- cfg.c */

/* The defaults of every deployer.* key. */
void dep_cfg_defaults(struct dep_cfg *c);

/* ---------------------------------------------------------------- state.c */

/* The hex SHA-256 of <len> bytes into <out>. */
void dep_sha256_hex(const void *data, size_t len, char out[DEP_HASH_HEX + 1]);
/* "<key_hex>-g<gen>-r<num>" into <out>. */
void dep_replica_id(const struct dep_svc *s, uint64_t gen, unsigned num, char out[RT_ID_MAX + 1]);
/* The record's path into <out>. */
int dep_record_path(const struct dep *d, const struct dep_svc *s, char *out, size_t max,
                    struct err *err) APP_MUST_CHECK;
/* Appends <spec> (layout_dir resolved into <layout>) as a JSON object to <w>: what the record
 * keeps and the spec hash covers. */
void dep_spec_json(struct jw *w, const struct dep_spec *spec, const char *layout);
/* Fills <out> from the record's spec object <o> (strings point into <o>). Arrays of env and
 * hosts are allocated in <o>'s keeping (freed with it). */
int dep_spec_read(json_t *o, struct dep_spec *out, struct err *err) APP_MUST_CHECK;
/* Frees what dep_spec_read() allocated. */
void dep_spec_clear(struct dep_spec *spec);
/* Writes <s>'s record; with <pending> (n_pending replicas of generation <pending_gen>) the
 * release being started is named too. Call with s->lock held or from the rollout holding roll. */
int dep_record_write(struct dep *d, struct dep_svc *s, uint64_t pending_gen,
                     const struct dep_replica *pending, unsigned n_pending,
                     struct err *err) APP_MUST_CHECK;
/* Reads every record into d->svcs; each record's pending replicas go to <stop> (up to
 * <max> ids, the count in *n_stop), and the record is rewritten without them. */
int dep_records_load(struct dep *d, char (*stop)[RT_ID_MAX + 1], size_t max, size_t *n_stop,
                     struct err *err) APP_MUST_CHECK;
/* The service of <key> in d->svcs, made (unrecorded) when missing. Takes d->lock. */
struct dep_svc *dep_svc_get(struct dep *d, const struct dep_key *key, bool create);
/* A new service object (not yet listed). */
struct dep_svc *dep_svc_new(const char *ws, const char *project, const char *env,
                            const char *service);
void dep_svc_free(struct dep_svc *s);

/* ---------------------------------------------------------------- probe.c */

/* GET <path> on 127.0.0.1:<port> within <timeout_ms>: the status, or -1 when nothing answered
 * (refused, closed, timed out, not HTTP). */
int dep_http_status(uint16_t port, const char *path, uint64_t timeout_ms);
/* Whether something on this host holds the TCP port (a bind() on 127.0.0.1 fails). */
bool dep_port_busy(uint16_t port);
/* <n> free host ports into <out>, none used by any service's replicas or pending rollout;
 * recorded in s->pending_ports until dep_ports_release(). ERR_LIMIT when the range is full. */
int dep_ports_take(struct dep *d, struct dep_svc *s, unsigned n, uint16_t *out,
                   struct err *err) APP_MUST_CHECK;
void dep_ports_release(struct dep *d, struct dep_svc *s);
/* One readiness probe of <r> for <s>: health_path on its app port, else on the port it is
 * found listening on (then r->app_port changes and <note> says so). true when it answered
 * below 500. */
bool dep_probe(struct dep *d, const struct dep_spec *spec, struct dep_replica *r, char *note,
               size_t note_max);

/* ---------------------------------------------------------------- rollout.c */

/* The runtime's spec of replica <r> of <spec>; <argv> gives room for the start command. */
struct rt_spec dep_rt_spec(const struct dep_spec *spec, const struct dep_replica *r,
                           const char *argv[4]);
/* rt_stop() of every id in <ids>, errors logged. */
void dep_stop_ids(struct dep *d, const struct dep_replica *reps, unsigned n, uint64_t grace_ms);

/* ---------------------------------------------------------------- supervise.c */

/* Builds every service's route and applies the whole table (serialised). 0 without ingress. */
int dep_routes_apply(struct dep *d, struct err *err) APP_MUST_CHECK;
/* Recomputes s->health and s->message from its replicas. With s->lock held. */
void dep_svc_health(struct dep_svc *s);
int dep_supervisor_start(struct dep *d, struct err *err) APP_MUST_CHECK;
void dep_supervisor_stop(struct dep *d);
/* One round of the supervisor (tests call it to not wait). */
void dep_supervise_round(struct dep *d);
/* The usage table's migrations. */
int dep_usage_migrate(struct store *s, struct err *err) APP_MUST_CHECK;

/* Tests: a rollout returns ERR_INTERNAL right after starting its replicas, leaving them and
 * the pending record as a kill -9 would. */
extern _Atomic bool dep_test_abandon;

#endif
