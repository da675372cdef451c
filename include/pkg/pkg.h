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

struct pkg;
struct pkg_deps {
    const char *data_dir;        /* repositories and keys live under it */
    const char *schema_dir;      /* holds values-base.schema.json and values-env.schema.json */
    struct auth_keyring *keys;   /* verifies internal tokens; borrowed */
    const char *issuer;          /* the tokens' required iss */
    const char *workload_domain; /* platform domains: <service>-<env>-<project>.<domain> */
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
int pkg_env_create(struct pkg *p, const struct pkg_call *c, const char *env, const char *from_env,
                   char commit[41], struct err *err) APP_MUST_CHECK;
int pkg_deploy(struct pkg *p, const struct pkg_call *c, const char *env, const char *service,
               const char *tag, const char *digest, bool rollback, char commit[41],
               struct err *err) APP_MUST_CHECK;
int pkg_promote(struct pkg *p, const struct pkg_call *c, const char *from_env, const char *to_env,
                const char *service, char commit[41], struct err *err) APP_MUST_CHECK;
int pkg_history(struct pkg *p, const struct pkg_call *c, const char *env, const char *service,
                size_t limit, pkg_history_fn *fn, void *arg, struct err *err) APP_MUST_CHECK;

#endif
