/*
 * pkg: the GitOps packager service (docs/gitops.md). One git repository per project holds its
 * desired state; other modules reach it only through this interface.
 *
 * Every call carries an internal token (auth_internal_sign: the acting user, with name and
 * email, the workspace and the role, signed by the gateway's keyring, valid 60 s). The packager
 * verifies it on every call, in process too, and refuses a call without a valid one
 * (ERR_UNAUTHENTICATED) or with a role that may not act (ERR_FORBIDDEN). The workspace comes
 * from the token, never from the caller's other arguments, so a call can only reach its own
 * workspace's repositories. The user named by the token authors the commit.
 *
 * Blocking (git, fsync): call from worker threads.
 */
#ifndef SLIPWAY_PKG_H
#define SLIPWAY_PKG_H

#include "auth/auth.h"
#include "base/base.h"
#include "store/store.h"

enum pkg_deploy_kind { PKG_DEPLOY, PKG_ROLLBACK, PKG_PROMOTE };

/* One entry of a service's deployment history in an environment. Strings are valid during
 * the callback only. */
struct pkg_deployment {
    enum pkg_deploy_kind kind;
    const char *tag, *digest; /* the values at that commit */
    const char *commit;
    const char *author_name, *author_email;
    int64_t time; /* Unix seconds */
    const char *message;
    bool active; /* the newest entry holding the digest that runs now */
};
typedef bool pkg_history_fn(void *arg, const struct pkg_deployment *d); /* false: stop */

/* The packager.* configuration keys. */
struct pkg_cfg {
    char *workload_domain; /* platform domains: <service>-<env>-<project>.<domain> */
};
struct cfg_section pkg_cfg_section(struct pkg_cfg *target);

struct pkg;
struct pkg_deps {
    const char *data_dir;        /* repositories and keys live under it */
    const char *schema_dir;      /* values-*.schema.json; NULL: the ones compiled in */
    struct auth_keyring *keys;   /* verifies internal tokens; borrowed */
    const char *issuer;          /* the tokens' required iss */
    const char *workload_domain; /* platform domains: <service>-<env>-<project>.<domain> */
    struct store *store;         /* the packager's own database (its index); borrowed */
};
int pkg_new(const struct pkg_deps *d, struct pkg **out, struct err *err) APP_MUST_CHECK;
void pkg_free(struct pkg *p); /* no call may be running; NULL is fine */

/* A call: the token, and which project of the token's workspace. */
struct pkg_call {
    struct slice token;         /* an internal token */
    const char *workspace_slug; /* DNS labels, for names and the namespace */
    const char *project_id;     /* a slipway id */
    const char *project_slug;
    const char *display_name; /* used by pkg_project_init */
};

/* Each write returns the commit it made in <commit> (may be NULL). */
int pkg_project_init(struct pkg *p, const struct pkg_call *c, char commit[41],
                     struct err *err) APP_MUST_CHECK;
/* <svc>: the base values of the service (image, port, …; schema/values-base.schema.json). */
int pkg_service_add(struct pkg *p, const struct pkg_call *c, const char *name, const json_t *svc,
                    char commit[41], struct err *err) APP_MUST_CHECK;
/* Removes the service from base and every environment. ERR_CONFLICT when a cron job runs on
 * it. */
int pkg_service_remove(struct pkg *p, const struct pkg_call *c, const char *name, char commit[41],
                       struct err *err) APP_MUST_CHECK;
/* Sets variables of <service> in <env> (NULL: the environment's shared variables) from <vars>,
 * an object of NAME → a string, a reference ({shared|database|service: …}) or null to unset;
 * with <secret> every value is sealed under the project's key. Unsetting a shared NAME also
 * removes the references to it: *removed lists them as "<service>.<NAME>" (in <a>). */
int pkg_set_variables(struct pkg *p, const struct pkg_call *c, const char *env, const char *service,
                      const json_t *vars, bool secret, struct arena *a, char commit[41],
                      const char *const **removed, size_t *nremoved,
                      struct err *err) APP_MUST_CHECK;
int pkg_env_create(struct pkg *p, const struct pkg_call *c, const char *env, const char *from_env,
                   char commit[41], struct err *err) APP_MUST_CHECK;
/* Removes environments/<env> whole ("env(delete): <env>"). ERR_NOTFOUND when absent. */
int pkg_env_delete(struct pkg *p, const struct pkg_call *c, const char *env, char commit[41],
                   struct err *err) APP_MUST_CHECK;
/* The project's environments at its newest commit, in name order. ERR_NOTFOUND for an unknown
 * project. */
typedef bool pkg_name_fn(void *arg, const char *name); /* false: stop */
int pkg_env_list(struct pkg *p, const struct pkg_call *c, pkg_name_fn *fn, void *arg,
                 struct err *err) APP_MUST_CHECK;
int pkg_deploy(struct pkg *p, const struct pkg_call *c, const char *env, const char *service,
               const char *tag, const char *digest, bool rollback, char commit[41],
               struct err *err) APP_MUST_CHECK;
int pkg_promote(struct pkg *p, const struct pkg_call *c, const char *from_env, const char *to_env,
                const char *service, char commit[41], struct err *err) APP_MUST_CHECK;
/* Scaling, resources, custom start command, suspend/resume of <service> in <env>: <set> is an
 * object of replicas, autoscaling {min, max, cpuPercent}, resources {tier, cpu, memory},
 * customStartCommand, suspended; null removes a key (docs/gitops.md). */
int pkg_configure(struct pkg *p, const struct pkg_call *c, const char *env, const char *service,
                  const json_t *set, char commit[41], struct err *err) APP_MUST_CHECK;
/* From the index (newest first by commit time); ERR_NOTFOUND for an unknown project or
 * environment. */
int pkg_history(struct pkg *p, const struct pkg_call *c, const char *env, const char *service,
                size_t limit, pkg_history_fn *fn, void *arg, struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- reading what is desired */

enum pkg_var_form {
    PKG_VAR_LITERAL,
    PKG_VAR_SECRET,
    PKG_VAR_SHARED,
    PKG_VAR_DATABASE,
    PKG_VAR_SERVICE
};
/* One variable as stored (docs/gitops.md, "variable"). */
struct pkg_var {
    const char *key;
    enum pkg_var_form form;
    const char *value;            /* LITERAL: the text; SECRET: "********" (never the plaintext) */
    const char *shared;           /* SHARED: the shared variable's name */
    const char *database, *field; /* DATABASE: {database, field}; SERVICE: field */
    const char *service;          /* SERVICE: the service referred to */
};

/* One service of an environment: base/values.yaml and the environment's values merged (the
 * environment's wins). */
struct pkg_service_info {
    const char *name;
    const char *image;        /* the image repository, without tag or digest */
    const char *tag, *digest; /* deployed; NULL before the first deploy */
    int64_t port;
    const char *framework, *start_command; /* what the builder detected, NULL when unknown */
    const char *custom_start_command;      /* the environment's, else base's; NULL: none */
    const char *health_path;               /* NULL: none */
    const char *source_url, *source_ref, *context_path; /* NULL for an image service */
    int64_t replicas; /* the environment's, else base's, else 1 (as set: suspended runs none) */
    bool suspended;
    int64_t autoscale_min, autoscale_max, autoscale_cpu; /* 0: no autoscaling; cpu 80 unset */
    /* "small" (the default), "medium", "large", "custom"; for a service without resources of
     * its own in an environment that has them (pkg_env_resources_set), that environment's
     * "ECO" or "PRODUCTION" with its amounts. */
    const char *tier;
    uint64_t cpu_millis;   /* the tier's: 250, 500, 1000, or custom (0: custom without cpu) */
    uint64_t memory_bytes; /* the tier's: 256, 512, 1024 MiB, or custom (0: likewise) */
    /* the committed one, else the computed default; NULL without a workload domain */
    const char *platform_domain;
    const char *const *domains; /* custom domains */
    size_t ndomains;
    const struct pkg_var *vars; /* the service's variables, in key order */
    size_t nvars;
};

/* The services of <env> at the newest commit, in name order, in <a>: every service of base,
 * deployed there or not. ERR_NOTFOUND for an unknown project or environment. Any member role
 * may read. */
int pkg_env_services(struct pkg *p, const struct pkg_call *c, const char *env, struct arena *a,
                     struct pkg_service_info **out, size_t *n, struct err *err) APP_MUST_CHECK;
/* The environment's shared variables, in key order, in <a> (secrets masked). */
int pkg_shared_variables(struct pkg *p, const struct pkg_call *c, const char *env, struct arena *a,
                         struct pkg_var **out, size_t *n, struct err *err) APP_MUST_CHECK;
/* The environment of <service>'s containers in <env>: "KEY=value" strings in <a>, in key order,
 * with shared references resolved, secrets decrypted (with the project's key: only into this
 * array, never logged) and service references resolved to how replicas on this machine reach
 * the other service: its platform domain through the ingress (<ingress_port>; 0 when no
 * ingress runs, which makes a service reference ERR_INVALID naming the variable). A database
 * reference is ERR_INVALID naming the variable until databases exist. ERR_NOTFOUND for an
 * unknown project, environment or service. Needs a role that may deploy. */
int pkg_service_env(struct pkg *p, const struct pkg_call *c, const char *env, const char *service,
                    int ingress_port, struct arena *a, const char ***out, size_t *n,
                    struct err *err) APP_MUST_CHECK;

/* An environment's resources (API.md setEnvironmentResources): the default of its services that
 * set no resources of their own, kept as `resources` in its values.yaml. */
struct pkg_env_resources {
    bool set;           /* false: never set (services default to the small tier) */
    const char *tier;   /* "ECO" or "PRODUCTION" */
    int64_t cpu_millis; /* 100..32000 */
    int64_t memory_mb;  /* 128..65536 */
    int64_t disk_mb;    /* 0..102400 */
};
int pkg_env_resources_get(struct pkg *p, const struct pkg_call *c, const char *env, struct arena *a,
                          struct pkg_env_resources *out, struct err *err) APP_MUST_CHECK;
/* "config(<env>): resources <tier> <cpu>m/<memory>Mi"; ERR_INVALID naming the field and range. */
int pkg_env_resources_set(struct pkg *p, const struct pkg_call *c, const char *env,
                          const struct pkg_env_resources *r, char commit[41],
                          struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- eject */

/* The largest archive pkg_eject() makes. */
#define PKG_EJECT_MAX ((size_t)128 << 20)
/* Appends to <out> a tar.gz of project c->project_id that runs without slipway: the
 * repository as files and as a git bundle with its whole history, an ArgoCD Application per
 * environment, build.sh and a README (docs/gitops.md, "Eject"). Any member role may eject.
 * ERR_NOTFOUND for an unknown project, ERR_LIMIT past PKG_EJECT_MAX or <out>'s max; on an
 * error <out> may hold part of an archive (release it). */
int pkg_eject(struct pkg *p, const struct pkg_call *c, struct sbuf *out,
              struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- push mirror */

/* A project's push mirror (docs/gitops.md, "Push mirror"). */
struct pkg_mirror_state {
    bool configured;
    char url[2048 + 16]; /* without its password */
    bool pending;        /* a commit not pushed yet */
    int64_t attempts;    /* failed pushes since the last success */
    int64_t next_at_ms;  /* when the next try is due (Unix ms), after a failure */
    int64_t last_push_ms;
    char commit[41]; /* the last commit pushed, "" before the first */
    char error[481]; /* the last failure, "" after a success */
};
/* Mirrors project c->project_id to <url> (https://, http://, ssh:// or file:///; credentials in
 * it are kept sealed), pushed at once and after every commit; NULL removes the mirror.
 * ERR_INVALID naming "url" and the rule. */
int pkg_mirror_configure(struct pkg *p, const struct pkg_call *c, const char *url,
                         struct err *err) APP_MUST_CHECK;
/* The mirror's state (out->configured false: none). */
int pkg_mirror_status(struct pkg *p, const struct pkg_call *c, struct pkg_mirror_state *out,
                      struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- projects */

/* One project of the index. Strings are valid during the callback only. */
struct pkg_project_info {
    const char *id;
    const char *name; /* the DNS label of platform domains ("" when the repository lost it) */
    const char *display_name;
    int64_t created;  /* Unix seconds: the first commit's author time */
    const char *head; /* 40 hex: the commit the rows reflect */
};
typedef bool pkg_project_fn(void *arg, const struct pkg_project_info *pi); /* false: stop */

/* Every project of the token's workspace, oldest first (c->project_id is ignored). */
int pkg_project_list(struct pkg *p, const struct pkg_call *c, pkg_project_fn *fn, void *arg,
                     struct err *err) APP_MUST_CHECK;
/* Project c->project_id: one call of <fn>, or ERR_NOTFOUND (also for another workspace's). */
int pkg_project_get(struct pkg *p, const struct pkg_call *c, pkg_project_fn *fn, void *arg,
                    struct err *err) APP_MUST_CHECK;
/* Removes the repository (renamed into <data_dir>/trash, then removed), the project's key file,
 * its rows and its domains. ERR_NOTFOUND when it does not exist. */
int pkg_project_delete(struct pkg *p, const struct pkg_call *c, struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- domains */

#define PKG_HOST_MAX 253 /* bytes of a hostname, without a final '.' */

/* Domains are unique across the installation (every workspace). */

/* The platform domain of <service> in <env>: "<service>-<env>-<project>.<workload_domain>",
 * or with -2, -3, … after the first label when another project, environment or service holds
 * that name; claimed on first use, the same afterwards. */
int pkg_domain_generate(struct pkg *p, const struct pkg_call *c, const char *env,
                        const char *service, char host[PKG_HOST_MAX + 1],
                        struct err *err) APP_MUST_CHECK;
/* Adds custom domain <host> (a DNS name; lower-cased) to <service> in <env>: claimed in the
 * index first, then committed ("config(<env>): add domain <host> for <service>"); a failed
 * commit gives the claim back. ERR_CONFLICT naming the holder when it is taken; ERR_INVALID
 * for a bad name or one under the workload domain. */
int pkg_domain_add(struct pkg *p, const struct pkg_call *c, const char *env, const char *service,
                   const char *host, char commit[41], struct err *err) APP_MUST_CHECK;
/* "config(<env>): remove domain <host> for <service>"; ERR_NOTFOUND when it is not set there. */
int pkg_domain_remove(struct pkg *p, const struct pkg_call *c, const char *env, const char *service,
                      const char *host, char commit[41], struct err *err) APP_MUST_CHECK;

/* Where the bare repository of (the token's workspace, c->project_id) is, for readers that
 * serve it as it is (git smart HTTP). Any member role may ask; nothing is opened or locked.
 * Writes the path into <path> (replacing what it held). ERR_INVALID naming the id that is not
 * a slug (one path component, so no name reaches outside its workspace), ERR_NOTFOUND when
 * the project has no repository, ERR_LIMIT when <path> is too small; the token's errors as
 * for every call. */
int pkg_repo_locate(struct pkg *p, const struct pkg_call *c, struct sbuf *path,
                    struct err *err) APP_MUST_CHECK;

#endif
