/* bld: the builder's internals, shared by its files, its tests and its fuzz harnesses. */
#ifndef SLIPWAY_BLD_INT_H
#define SLIPWAY_BLD_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/base.h"
#include "bld/bld.h"

/* Files the detector reads are at most this big; a larger marker is refused unread. */
#define BLD_READ_MAX (1u << 20)

/*
 * Small parsers for the files that describe an app. Each takes the file's bytes (any bytes:
 * they are fuzzed), never reads past them, allocates nothing, and returns 0 or ERR_INVALID
 * with a message "line N: …" (the caller prefixes the file name). Slices they return point
 * into <text>.
 */

/* Called for each name a parser finds (a dependency, a process type). */
typedef void bld_name_fn(void *arg, struct slice name, struct slice value);

/* "name: value" lines, as in a Procfile or a Staticfile: <fn> gets each trimmed pair, in
 * order. Blank lines and lines starting with '#' are skipped; a name is letters, digits, '_'
 * and '-'. A line without ':' or with another name is ERR_INVALID. */
int bld_colon_lines_parse(struct slice text, bld_name_fn *fn, void *arg,
                          struct err *err) APP_MUST_CHECK;

/* The process a Procfile starts: "web", else "worker", else the first. ERR_NOTFOUND when it
 * lists no process (or only empty commands). */
int bld_procfile_pick(struct slice text, struct slice *name, struct slice *cmd,
                      struct err *err) APP_MUST_CHECK;

/* requirements.txt: <fn> gets each requirement's project name (value empty). Options (-r, -e,
 * --hash …), URLs, paths, comments and continuation lines are skipped. */
int bld_requirements_parse(struct slice text, bld_name_fn *fn, void *arg,
                           struct err *err) APP_MUST_CHECK;

/* The part of pyproject.toml (or a Pipfile, which is TOML too) the detector uses. */
struct bld_pyproject {
    struct slice name;            /* [project] or [tool.poetry] name */
    struct slice requires_python; /* [project] requires-python, poetry's or Pipfile's python */
    bool poetry;                  /* a [tool.poetry] table is present */
};
/* Reads enough TOML to find the above; <fn> gets each dependency's name from [project]
 * dependencies, [tool.poetry.dependencies] and a Pipfile's [packages] (value empty).
 * ERR_INVALID on what it cannot skip safely: an unterminated string or array, a line that is
 * neither a table header nor "key = value". */
int bld_pyproject_parse(struct slice text, struct bld_pyproject *out, bld_name_fn *fn, void *arg,
                        struct err *err) APP_MUST_CHECK;

struct bld_gomod {
    struct slice module;     /* the module path */
    struct slice go_version; /* the go directive ("1.22"), or empty */
    struct slice toolchain;  /* "go1.22.3", or empty */
};
/* go.mod: the module, go and toolchain directives; <fn> gets each required module path and its
 * version. ERR_INVALID when there is no module directive or a block is left open. */
int bld_gomod_parse(struct slice text, struct bld_gomod *out, bld_name_fn *fn, void *arg,
                    struct err *err) APP_MUST_CHECK;

/* .nvmrc or .node-version: the first line that is not blank or a '#' comment, trimmed,
 * without a leading 'v' ("20", "18.19.0", "lts/iron", "node"). ERR_INVALID when it holds
 * characters no version or alias has, or is longer than 64 bytes; ERR_NOTFOUND when empty. */
int bld_nvmrc_parse(struct slice text, struct slice *version, struct err *err) APP_MUST_CHECK;

/* A Dockerfile's first EXPOSE port (1..65535, "/tcp" or "/udp" allowed), 0 when none. */
int bld_dockerfile_port(struct slice text, int *port, struct err *err) APP_MUST_CHECK;

/* Writes <s> as a DNS label into <out> (64 bytes): lower case, runs of other bytes become one
 * '-', no '-' at either end, at most 63 bytes; "app" when nothing is left. */
void bld_dns_label(struct slice s, char out[64]);

/* <url> with the password of its user-info (if any) replaced by "***", into <out>. */
void bld_url_redact(const char *url, struct sbuf *out);

/* ---------------------------------------------------------------- sandbox */

/* The OCI runtime config (config.json) for one sandboxed run, into <out>: <netns> is the
 * network namespace to join ("/proc/N/ns/net"), or NULL for a new one with only loopback;
 * <resolv> is a host file bound read-only at /etc/resolv.conf, or NULL. Exposed for tests. */
void bld_sandbox_config(const struct bld_sandbox_spec *s, const char *cgroup_name,
                        const char *netns, const char *resolv, struct sbuf *out);

/* The directory of cgroup <name> (a child of this process's own cgroup, as runc makes it for a
 * relative cgroupsPath) for controller <ctl> ("memory", "pids") into <out>: under
 * /sys/fs/cgroup/<ctl> on cgroup v1 (or hybrid), under /sys/fs/cgroup on v2. */
int bld_cgroup_dir(const char *ctl, const char *name, char *out, size_t max,
                   struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- base images */

/* One package of a base image's closure; strings in the resolver's arena. */
struct bld_base_pkg {
    const char *name, *version, *arch;
};

/* The package names asked of apt for <s>: the common ones (ca-certificates, tzdata, dash), the
 * runtime's, the toolchain's for a build image, then <s>->extra; each once. ERR_INVALID for an
 * unknown runtime or an extra that is not a Debian package name, ERR_LIMIT past <max>. */
int bld_base_names(const struct bld_base_spec *s, const char **names, size_t max, size_t *count,
                   struct err *err) APP_MUST_CHECK;

/* The full closure (Depends and Pre-Depends, recursively; no recommends) of <s>'s names, as apt
 * would install it on an empty system, sorted by name, into <a>. Downloads nothing; runs
 * apt-get update once when the first try fails. <cache_dir> holds apt's private state. */
int bld_base_resolve(const struct bld_base_spec *s, const char *cache_dir, struct arena *a,
                     struct bld_base_pkg **pkgs, size_t *count, struct err *err) APP_MUST_CHECK;

/* The cache key of a sorted closure: SHA-256 of a format line and "name=version\n" lines. */
/* The version of how base root filesystems are finished (the files slipway writes into them):
 * part of every base key, so a change makes new root filesystems and new images. */
#define BLD_BASE_FORMAT 3
void bld_base_key(const struct bld_base_pkg *pkgs, size_t count, char key[BLD_BASE_KEY_HEX + 1]);

/* ---------------------------------------------------------------- build */

/* What bld_build() does for one service: which images, which steps, what goes in the image. */
struct bld_plan {
    const char *runtime;       /* the runtime image: node, python, go, static */
    const char *build_runtime; /* the build image's runtime, NULL when nothing runs */
    const char *install;       /* NULL: no install step */
    const char *build;         /* NULL: no build step */
    const char *start;         /* NULL: the static runtime's nginx */
    const char *static_dir;    /* the built or given site, served from /srv/www */
    const char *deps_dir;      /* what the install makes, relative to the app: the cached
                                * dependency layer ("node_modules", ".venv"), or NULL */
    const char *lockfiles;     /* files keying that layer: names each ending in NUL, then NUL */
    const char *binary;        /* go: the one file that goes into the app layer */
    bool deps_in_image;        /* the dependency layer is part of the image (not only the build) */
    bool venv;                 /* python: the install runs in a fresh /app/.venv */
    int port;
};

/* The plan for <s> found in the app directory <app>, which is read for requirements.txt (an app
 * whose requirements name nothing needs no install) and package.json (the runtime image has no
 * npm: "npm start" becomes the start script itself, copied into <a>; a Dockerfile app is
 * planned for buildah, dockerfile.c). ERR_INVALID for a Procfile of unknown language or an app
 * with no start command. */
int bld_build_plan(struct arena *a, const char *app, const struct bld_service *s,
                   struct bld_plan *p, struct err *err) APP_MUST_CHECK;

/* The build cache key of <commit> of <s> on the given base keys (the build key "" when nothing
 * runs in a build image) and compression, as 64 hex digits. */
void bld_build_key(const char *commit, const struct bld_service *s, const char *run_key,
                   const char *build_key, enum oci_compression comp,
                   char out[BLD_BASE_KEY_HEX + 1]);

/* ---------------------------------------------------------------- service */

/* Whether <s> may name a workspace, project or service: one registry name component
 * ([a-z0-9]+ joined by '.', '_', '__' or runs of '-'), at most 63 bytes. Such a name is also
 * one safe path component (no '/', never "." or ".."), which the cache directories rely on. */
bool bld_name_valid(const char *s);

/* ---------------------------------------------------------------- dockerfile */

/* A local base a Dockerfile may start from (docs/builds.md, "Dockerfiles"): "slipway/<runtime>"
 * is a runtime image, "slipway/<runtime>-build" its build image; both are bld_base_rootfs()'s. */
struct bld_dockerfile_base {
    const char *runtime; /* "node", "python", "go", "static": static strings */
    bool build;
};
#define BLD_DOCKERFILE_BASES_MAX 8

/* Checks each image the Dockerfile <text> names (FROM, COPY --from): scratch, an earlier
 * stage, or a local base. *count bases go to <out>, each once, in order of first use.
 * ERR_INVALID "Dockerfile line N: …" for any other image (no registry is reachable) or a
 * variable in its name; never reads past <text>. */
int bld_dockerfile_bases(struct slice text, struct bld_dockerfile_base *out, size_t *count,
                         struct err *err) APP_MUST_CHECK;

/* Gives the rootfs (valid for the build) and key of a base, as bld_base_rootfs() would. */
typedef int bld_base_fn(void *arg, const char *runtime, bool build, const char **rootfs,
                        char key[BLD_BASE_KEY_HEX + 1], struct err *err);

/* One Dockerfile build; everything is borrowed for the call. */
struct bld_dockerfile_job {
    const char *context;    /* the app directory, holding "Dockerfile" */
    const char *cache_dir;  /* the project's: buildah's storage is <cache_dir>/buildah */
    const char *base_cache; /* base layouts for buildah go to <base_cache>/dockerfile */
    const char *work_dir;   /* scratch: buildah's run state and temporary files */
    const char *layout_dir; /* the image layout the image goes to, under <tag> */
    const char *tag;
    const char *source, *revision; /* labels: the URL (no password) and the commit */
    uint64_t memory_bytes, cpu_quota_us, cpu_period_us;
    uint32_t pids_max;
    uint64_t deadline_ms, wall_ms; /* time_mono_ms() to stop at (0: none), and the limit */
    enum oci_compression compression;
    bld_base_fn *base;
    void *base_arg;
    void (*line)(void *arg, struct slice line); /* each line of buildah's output; may be NULL */
    void *line_arg;
    const _Atomic bool *cancel; /* polled every 50 ms; may be NULL */
};

/* The key of the Dockerfile's bases (SHA-256 over their base keys), checking its images as
 * bld_dockerfile_bases() does. Goes into the build key, so a new base builds again. */
int bld_dockerfile_key(const struct bld_dockerfile_job *j, char key[BLD_BASE_KEY_HEX + 1],
                       struct err *err) APP_MUST_CHECK;

/* Builds the Dockerfile with buildah into j->layout_dir under j->tag; <digest> gets the
 * manifest's. Errors: as bld_dockerfile_bases(); ERR_INVALID "Dockerfile build failed: <what
 * buildah said>"; ERR_LIMIT "build needed more than N MiB" or "… too many processes (limit
 * N)"; ERR_TIMEOUT; ERR_CANCELLED; ERR_UNAVAILABLE when buildah is missing. */
int bld_dockerfile_build(const struct bld_dockerfile_job *j, char digest[OCI_DIGEST_SIZE],
                         struct err *err) APP_MUST_CHECK;

#endif
