/*
 * bld: the builder service (issue 7, docs/builds.md). This part of its interface fetches exactly
 * the commit a user asked for and says what it holds: which apps, in which language, started
 * how. Building images comes later behind the same header, as the call table of STYLE.md §9
 * (struct bld_ops and struct bld_client); the detected services below are plain data so that
 * the same results can travel over the network unchanged.
 *
 * Both calls block on the network and the disk: run them on a worker (pool_run), never on a
 * loop. They share no state, so any number may run at once on different directories.
 */
#ifndef SLIPWAY_BLD_H
#define SLIPWAY_BLD_H

#include "base/base.h"

#define BLD_OID_HEX 40

/* Clones <url> into <dest_dir> and checks out exactly <ref>: a branch, a tag, a full or
 * abbreviated (at least 4 hex digits) commit id, or a full ref name ("refs/heads/x",
 * "refs/tags/v1"). A name is tried as a branch, then as a tag, then as a commit id; the
 * default branch is never taken instead. <ref> NULL asks for the default branch (what the
 * remote's HEAD names). <url> is https://, http://, ssh://, user@host:path,
 * file:// or a local path; https credentials may be given in the URL, ssh ones come from the
 * ssh agent. <dest_dir> must not exist or be empty; it gets the files and a .git directory,
 * with HEAD detached at the commit. Its 40 hex digits and a NUL go to <commit>.
 * Errors: ERR_INVALID (bad URL or ref, <dest_dir> not empty), ERR_NOTFOUND naming <ref> when
 * the repository has no such branch, tag or commit, ERR_UNAVAILABLE naming <url> when it
 * cannot be fetched, ERR_LIMIT past 2 GiB received. Messages show <url> with any password
 * replaced by "***". On failure <dest_dir> may hold a partial checkout: the caller removes it. */
int bld_clone(const char *url, const char *ref, const char *dest_dir, char commit[BLD_OID_HEX + 1],
              struct err *err) APP_MUST_CHECK;

/* One app found in a checkout. Every string is NUL-terminated, never NULL ("" when unknown),
 * and lives in the arena given to bld_detect(). */
struct bld_service {
    const char *name;            /* a DNS label: the package's or the directory's name */
    const char *context_path;    /* the app's directory relative to the checkout, "." for the top */
    const char *provider;        /* node, python, go, static, procfile, dockerfile */
    const char *language;        /* node, python, go, html, or "" (a Dockerfile of unknown kind) */
    const char *framework;       /* next, nuxt, remix, astro, vite, express, django, flask, … */
    const char *package_manager; /* npm, yarn, pnpm, pip, poetry, pipenv, go, or "" */
    const char *runtime_version; /* as written by the app ("20", ">=18", "3.12", "1.22"), or "" */
    const char *install_cmd;     /* shell commands run in context_path; "" when none */
    const char *build_cmd;
    const char *start_cmd;  /* "" for a Dockerfile without a slipway.json override (its CMD) */
    const char *static_dir; /* static sites and SPAs: the directory served, else "" */
    bool spa;               /* serve index.html for paths that match no file */
    int port;               /* the port the app is expected to listen on ($PORT is set to it) */
};

/* Looks through the checkout at <dir> and describes each app in it, in a stable order (the
 * top directory first, then by path). An app is the top directory when it holds any marker
 * file the rules know (package.json, requirements.txt, go.mod, index.html, Dockerfile, …);
 * otherwise subdirectories are searched (at most 3 levels deep) and each directory holding a
 * marker is an app, as is each package of an npm/yarn/pnpm workspace that can run. A
 * slipway.json in an app's directory overrides what was detected.
 * Symbolic links are never followed (one named like a marker counts as absent), the walk stops
 * after 20,000 directory entries (ERR_LIMIT), and a marker file over 1 MiB is refused
 * (ERR_LIMIT naming it) without being read; other files are never opened.
 * On success *out is an array of *count services in <a> (count > 0). ERR_NOTFOUND when nothing
 * is recognised, its message listing what was looked for; ERR_INVALID naming the file and the
 * key for a malformed marker or slipway.json; ERR_LIMIT when <a>'s budget is spent. */
int bld_detect(const char *dir, struct arena *a, struct bld_service **out, size_t *count,
               struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- sandbox */

/*
 * Install and build steps run in a runc container (docs/builds.md, "The build sandbox"): the
 * build image read-only as /, the caller's directories bound in, a tmpfs /tmp, a non-root user
 * without capabilities, its own PID, IPC, UTS, mount and network namespaces and its own cgroup
 * with the limits below. Needs root and the runc binary; OUTBOUND also needs slirp4netns, ip
 * and nsenter. Blocks until the command ends: call it on a worker, never on a loop. Any number
 * may run at once.
 */
#define BLD_SANDBOX_UID 10001 /* the build user when the spec gives none */

enum bld_net {
    BLD_NET_NONE,     /* only a loopback interface */
    BLD_NET_OUTBOUND, /* the internet through slirp4netns; the host itself stays unreachable */
};

/* A host directory bound into the container. */
struct bld_mount {
    const char *host_path; /* absolute, must exist */
    const char *path;      /* absolute path inside the container ("/workspace") */
    bool writable;
    bool own; /* before the run, give the whole tree to the build user (lchown, no symlinks
               * followed): for a fresh checkout the build must write into */
};

struct bld_sandbox_spec {
    const char *rootfs;      /* the build image: a host directory mounted read-only as / */
    const char *const *argv; /* NULL-terminated; argv[0] is looked up in the image's PATH */
    const char *const *env;  /* NULL-terminated "K=V"; NULL gives PATH and HOME only */
    const char *cwd;         /* inside the container; NULL gives "/workspace" */
    const struct bld_mount *mounts;
    size_t n_mounts;
    unsigned uid, gid; /* 0 gives BLD_SANDBOX_UID; root is refused */
    enum bld_net network;
    uint64_t memory_bytes;  /* RAM and swap together; 0 is no limit */
    uint64_t cpu_quota_us;  /* CPU time per period (200000 of 100000: two cores); 0 none */
    uint64_t cpu_period_us; /* 0 gives 100000 */
    uint32_t pids_max;      /* processes and threads at once; 0 is no limit */
    uint64_t wall_ms;       /* killed past this; 0 is no limit */
    const char *state_dir; /* where the bundle directory goes (removed after); NULL: /run/slipway */
};

struct bld_sandbox_result {
    int exit_code;        /* the command's status; 128+N when signal N ended it */
    bool timed_out;       /* killed at wall_ms */
    bool oom_killed;      /* the kernel killed a process at memory_bytes */
    bool pids_limited;    /* a fork failed at pids_max */
    bool cancelled;       /* killed because *cancel became true */
    uint64_t peak_memory; /* the cgroup's highest memory use in bytes, 0 when unknown */
    uint64_t duration_ms; /* from starting runc to its end */
};

enum bld_stream { BLD_STDOUT = 1, BLD_STDERR = 2 };

/* Gets each line of the command's output without its '\n', tagged with the stream it came
 * from; a line longer than 16 KiB arrives in 16 KiB pieces. Lines of one stream arrive in
 * order; between the two streams the order is as runc copied them (close, not exact). Runs on
 * the calling thread. */
typedef void bld_line_fn(void *arg, enum bld_stream stream, struct slice line);

/* Runs <s>->argv in the sandbox, feeding its output to <on_line> (may be NULL) as it comes.
 * <cancel> (may be NULL) is polled every 50 ms from the calling thread; another thread sets it
 * to stop the build: the container is killed at once. On return no container, bundle or
 * cgroup is left, whatever happened. <res> is filled whenever the command was started.
 * Returns 0 when the command ended by itself, whatever its exit code (see <res>); ERR_LIMIT
 * "build needed more than N MiB" when it failed after an OOM kill, ERR_LIMIT "build started too
 * many processes (limit N)" when it failed after hitting pids_max, ERR_TIMEOUT past wall_ms,
 * ERR_CANCELLED when cancelled; ERR_INVALID for a bad spec, ERR_FORBIDDEN when not root,
 * ERR_UNAVAILABLE when runc (or slirp4netns) cannot start, ERR_IO/ERR_INTERNAL otherwise. */
int bld_sandbox_run(const struct bld_sandbox_spec *s, bld_line_fn *on_line, void *arg,
                    const _Atomic bool *cancel, struct bld_sandbox_result *res,
                    struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- base images */

/*
 * Root filesystems for runtime and build images, assembled from Debian packages with apt and
 * no container registry (docs/builds.md, "Base images"). Needs root (the files are owned by
 * root and by the app user), apt-get with the host's package lists, ldconfig, and the network
 * to Debian's archive on a cold build. Blocks for seconds to minutes: call it on a worker.
 */
#define BLD_BASE_KEY_HEX 64
#define BLD_BASE_APP_UID 10001 /* the non-root user ("app", home /home/app) every image has */

struct bld_base_spec {
    const char *runtime;      /* "node", "python", "go" or "static" */
    bool build;               /* a build image: the runtime plus its toolchain (npm, pip, go) */
    const char *const *extra; /* more Debian package names, NULL-terminated; NULL for none */
};

/* Makes sure the root filesystem for <s> exists under <cache_dir> (created if missing) and
 * returns its directory in *path (the caller frees it) and its key: the SHA-256, in hex, of the
 * sorted "package=version" lines of the package closure. A rootfs with that key that already
 * exists is returned as it is; otherwise the .debs are downloaded into <cache_dir>/debs (kept
 * and reused), unpacked and finished in a temporary directory, and renamed to
 * <cache_dir>/rootfs/<key> when complete. The rootfs must be treated as read-only: it is shared
 * by every later call with the same key. Any number of calls may run at once; two building the
 * same key both work and one result is kept.
 * Errors: ERR_INVALID (unknown runtime, bad package name, empty cache_dir), ERR_UNAVAILABLE with
 * apt's message when a package cannot be resolved or downloaded (after one apt-get update),
 * ERR_IO for the disk. On failure nothing is left under rootfs/ but a ".tmp-" directory of a
 * crashed builder, which a later build of that key removes. */
int bld_base_rootfs(const struct bld_base_spec *s, const char *cache_dir, char **path,
                    char key[BLD_BASE_KEY_HEX + 1], struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- build */

/*
 * One build (docs/builds.md, "Building an image"): exactly one commit of one app in a
 * repository becomes an OCI image in an image layout, pushed to a registry when the caller
 * names one. Blocks for seconds to minutes (clone, sandboxed install and build steps, layer
 * writing, push): a worker's call, never a loop's. Needs what bld_sandbox_run() and
 * bld_base_rootfs() need. Builds of different projects may run at once; builds of one project
 * share its cache directory and take turns writing its image layout.
 */
#include "oci/oci.h"

enum bld_phase { BLD_PHASE_CLONING, BLD_PHASE_BUILDING, BLD_PHASE_PUSHING };

struct bld_build_req {
    /* The source: <url> and <ref> as bld_clone() takes them, or <checkout_dir>, a directory
     * that already holds the checkout (with its .git: the commit is read from HEAD). */
    const char *url;
    const char *ref;
    const char *checkout_dir;
    const char *context_path; /* the app to build, as bld_detect() names it; NULL: the only one */
    const struct bld_service *service; /* NULL: detected from the checkout */
    const char *work_dir;   /* scratch space for this build (created, emptied when done) */
    const char *cache_dir;  /* this project's caches: package managers, dependency layers,
                             * images by build key. Never shared between workspaces. */
    const char *base_cache; /* bld_base_rootfs()'s cache: Debian packages only, may be shared */
    const char *layout_dir; /* the image layout written; NULL: <cache_dir>/image */
    const char *tag;        /* the tag in the layout (and pushed); NULL: dest's tag, else
                             * "c-" and the commit's first 12 hex digits */
    /* Limits of each install and build step (0: none), as struct bld_sandbox_spec has them. */
    uint64_t memory_bytes;
    uint64_t cpu_quota_us, cpu_period_us;
    uint32_t pids_max;
    uint64_t wall_ms; /* the whole build, clone to push */
    /* A host file of PEM certificates that install and build steps trust instead of the build
     * image's own (a TLS-intercepting proxy's CA, a private registry's): bound read-only at
     * /etc/ssl/certs/ca-certificates.crt. NULL: the image's Debian bundle. */
    const char *ca_bundle;
    enum oci_compression compression;
    /* Where the image goes: NULL writes the layout only. <registry> holds the credentials
     * (NULL: anonymous); they never reach the log or an error message. */
    const char *dest;
    const struct oci_client_opts *registry;
};

/* Told to the caller as the build goes; all may be NULL. Run on the building thread. */
struct bld_build_hooks {
    void (*phase)(void *arg, enum bld_phase phase);
    /* One line of the build's log, without '\n': the builder's own lines start with "==> "
     * ("==> npm ci"), the others are the steps' output as it comes. */
    void (*line)(void *arg, struct slice line);
    void *arg;
    const _Atomic bool *cancel; /* set by another thread to stop the build at once */
};

struct bld_build_result {
    char commit[BLD_OID_HEX + 1];
    char digest[OCI_DIGEST_SIZE]; /* the image manifest's */
    char layout_dir[1024];
    char tag[OCI_TAG_MAX + 1];
    bool cache_hit; /* the same build key was built before: nothing was built */
    bool deps_hit;  /* the dependency layer was reused (its install step skipped) */
    bool pushed;    /* blobs went to the registry (one that had them all gets the manifest only) */
    uint64_t clone_ms, build_ms, push_ms, total_ms;
};

/* Builds the image <req> describes into req->layout_dir, then pushes it to req->dest when set.
 * Fills <res> (zeroed first) on success. Errors: those of bld_clone() and bld_detect(); the
 * sandbox's ("build needed more than N MiB", "build started too many processes (limit N)",
 * ERR_TIMEOUT, ERR_CANCELLED); ERR_INVALID "<cmd> failed (exit N)" when an install or build step
 * fails (its output is in the log); ERR_INVALID for a bad request or an app that cannot be
 * built (a Dockerfile whose FROM is not a local base: docs/builds.md, "Dockerfiles"); those of
 * bld_base_rootfs(), buildah, the oci_*() calls and
 * the disk. Messages never hold a password. */
int bld_build(const struct bld_build_req *req, const struct bld_build_hooks *hooks,
              struct bld_build_result *res, struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- service */

/*
 * The builder service (docs/builds.md, "Builds as workflows"; proto/builder.proto): each build
 * is a durable workflow "bld.build" on the builder's own flow engine and database, so a build
 * whose process died is carried on by the next one. Every call carries an internal token
 * (auth_internal_sign, as for the packager) and is refused without a valid one
 * (ERR_UNAUTHENTICATED) or with a role that may not build (ERR_FORBIDDEN); the workspace comes
 * from the token, never from the other arguments, and a build of another workspace is
 * ERR_NOTFOUND. Every call blocks on the store: call from worker threads, never from a loop.
 */
#include "auth/auth.h"
#include "store/store.h"

/* The builder.* configuration keys. */
struct bld_cfg {
    int64_t memory;      /* bytes per install or build step (RAM and swap), 0: none */
    int64_t cpu_millis;  /* CPU per step in thousandths of a core, 0: none */
    int64_t pids;        /* processes and threads per step, 0: none */
    int64_t timeout_ms;  /* wall clock of a whole build, 0: none */
    int64_t concurrency; /* builds run at once by this process */
    char *ca_bundle;     /* host PEM file the steps trust ("": the image's own bundle) */
    char *base_cache;    /* the build images' cache ("": <data_dir>/builder/base) */
};
struct cfg_section bld_cfg_section(struct bld_cfg *target);

/* Where images are pushed. Strings are copied. */
struct bld_registry {
    const char *host;       /* "127.0.0.1:8080"; NULL or "": layouts only, no push */
    bool insecure_loopback; /* plain http to a loopback host */
    /* slipway's own registry: each push authenticates with an internal token for the build's
     * workspace and user, signed with the service's keyring when the push starts. Otherwise
     * <username>/<password> (Basic, or the token endpoint's login), or anonymous when NULL. */
    bool internal_token;
    const char *username, *password;
};

struct bld_svc_deps {
    struct store *store;       /* the builder's own database (service "builder"); borrowed */
    struct auth_keyring *keys; /* verifies internal tokens (and signs push tokens); borrowed */
    const char *issuer;        /* the tokens' required iss */
    const char *data_dir;      /* <data_dir>/builder/{cache,work,base} */
    const char *base_cache;    /* NULL: <data_dir>/builder/base (Debian packages only) */
    const struct bld_cfg *cfg; /* NULL: the defaults */
    const struct bld_registry *registry; /* NULL: none (bld_svc_set_registry later) */
};

struct bld_svc;
/* Migrates the store (the flow engine's tables and "builds"), registers "bld.build" and starts
 * the engine: unfinished builds of a previous process start again at once. *out is the
 * caller's (bld_svc_free()). */
int bld_svc_new(const struct bld_svc_deps *d, struct bld_svc **out, struct err *err) APP_MUST_CHECK;
/* Stops the engine (running builds are killed and resumed by the next bld_svc_new()). NULL ok. */
void bld_svc_free(struct bld_svc *s);
/* Sets (or with NULL removes) the registry of later pushes; any thread, at any time. */
void bld_svc_set_registry(struct bld_svc *s, const struct bld_registry *r);

/* A call. <token> always; the other fields as each call says. */
struct bld_call {
    struct slice token;  /* an internal token */
    const char *project; /* a registry name component ([a-z0-9]+ joined by . _ -), <= 63 */
    const char *service; /* the same; the image is <registry>/<workspace>/<project>/<service> */
    const char *url;     /* as bld_clone() takes it; a password is kept only in the flow */
    const char *ref;     /* NULL: the default branch */
    const char *context_path; /* NULL: the only app detected */
    struct slice key;         /* idempotency key, per workspace (empty: none) */
};

enum bld_state {
    BLD_QUEUED,
    BLD_CLONING,
    BLD_BUILDING,
    BLD_PUSHING,
    BLD_SUCCEEDED,
    BLD_FAILED,
    BLD_CANCELLED
};
const char *bld_state_name(enum bld_state s); /* "QUEUED", … */
static inline bool bld_state_final(enum bld_state s)
{
    return s >= BLD_SUCCEEDED;
}

struct bld_status {
    char id[37];
    char project[64], service[64];
    char url[2048]; /* the password replaced by "***" */
    char ref[256];  /* "" for the default branch */
    char context_path[256];
    enum bld_state state;
    char commit[BLD_OID_HEX + 1]; /* "" until known */
    char digest[OCI_DIGEST_SIZE]; /* the manifest's, "" until SUCCEEDED */
    /* "<host>/<repo>:<tag>@<digest>" when pushed, "oci:<layout dir>:<tag>" when not */
    char image_ref[1400];
    char error[480];                             /* why it FAILED or was CANCELLED, "" otherwise */
    int64_t created_ms, started_ms, finished_ms; /* Unix ms, 0 when not yet */
};

/* Starts building c->url at c->ref (the app at c->context_path) into the image of c->service
 * of c->project, and returns at once with its id (state QUEUED). With c->key, a second start
 * with the same key in the same workspace returns the first build's id. */
/* DetectServices: clones c->url at c->ref (NULL: the default branch) into a scratch directory
 * under <data_dir>/builder/tmp, describes its apps (bld_detect(); *out in <a>) and removes the
 * clone. A local source inside slipway's data directory is ERR_FORBIDDEN. Blocks while it
 * clones. */
int bld_detect_services(struct bld_svc *s, const struct bld_call *c, struct arena *a,
                        struct bld_service **out, size_t *count, struct err *err) APP_MUST_CHECK;
int bld_start_build(struct bld_svc *s, const struct bld_call *c, char id[37],
                    struct err *err) APP_MUST_CHECK;
int bld_build_status(struct bld_svc *s, const struct bld_call *c, const char *id,
                     struct bld_status *out, struct err *err) APP_MUST_CHECK;

/* Gets line <n> of the build's log and its text (valid during the call); false stops. */
typedef bool bld_log_fn(void *arg, uint64_t n, struct slice line);
/* Gives the build's log from line <from> on (lines are numbered from 0 for ever; lines dropped
 * to bound the log are skipped), then follows it for up to <follow_ms> while the build runs.
 * *next (may be NULL) gets the number to ask for next time. Returns 0 once the build has ended
 * and every line was given, 1 when it still runs (or <fn> stopped), or an error. */
int bld_build_logs(struct bld_svc *s, const struct bld_call *c, const char *id, uint64_t from,
                   uint64_t follow_ms, bld_log_fn *fn, void *arg, uint64_t *next,
                   struct err *err) APP_MUST_CHECK;
/* Cancels the build: its running step is killed at once, its state becomes CANCELLED.
 * ERR_CONFLICT when it has ended already. */
int bld_cancel_build(struct bld_svc *s, const struct bld_call *c, const char *id,
                     struct err *err) APP_MUST_CHECK;

struct bld_delete_stats {
    uint64_t dirs_removed;      /* cache directories removed from disk */
    uint64_t manifests_deleted; /* manifests deleted from the registry */
};
/* Removes c->project's images (c->service NULL: every service's; else that one's): on disk the
 * project's cache directory (layouts, layers, dependency layers, package-manager caches), or
 * the service's image layout only; in the registry, when one is set, every tagged manifest of
 * each service's repository (DELETE by digest). ERR_CONFLICT while a build of it runs. */
int bld_delete_images(struct bld_svc *s, const struct bld_call *c, struct bld_delete_stats *out,
                      struct err *err) APP_MUST_CHECK;

#endif
