/*
 * rt: the local container runtime (issue 8, docs/runtime.md). Runs an app's OCI image with runc,
 * detached from slipway: its layers unpacked once into a content-addressed cache, its root
 * filesystem an overlay of them (a copy where the kernel has no overlayfs), its output kept in
 * size-bounded rotating log files by a small relay process of its own, and its cgroup read for
 * CPU and memory use. A slipway that stops or is killed leaves the apps serving; a new one
 * finds them again (rt_adopt()) instead of restarting them.
 *
 * Everything lives on disk under the runtime's root; struct rt holds only paths and options, so
 * any number of calls on different containers may run at once, from any threads. Every call
 * blocks (runc, the disk): workers only. Needs root and runc.
 */
#ifndef SLIPWAY_RT_H
#define SLIPWAY_RT_H

#include "base/base.h"
#include "oci/oci.h"

#define RT_ID_MAX 63 /* a container id is a slug (slug_valid()) */

struct rt;

struct rt_opts {
    const char *root;       /* layers/, containers/, logs/ go here (created) */
    const char *runc_root;  /* runc's state directory (`runc --root`); NULL: <root>/runc */
    uint64_t log_max_bytes; /* one log file is rotated past this; 0: 8 MiB */
    unsigned log_files;     /* rotated files kept besides the current one; 0: 3 */
    bool force_copy;        /* never try overlayfs (tests of the copy path) */
    /* The binary the log relays run as (slipway itself, whose main() hands "__rt-relay" to
     * rt_relay_exec_main()): a relay then holds only its own few pages instead of a copy of
     * the process that forked it. NULL: the relay is a plain fork (tests). */
    const char *relay_exe;
};

/* Makes the directories under opts->root and checks runc is there. *out belongs to the caller
 * (rt_free()). ERR_FORBIDDEN when not root, ERR_UNAVAILABLE without runc, ERR_IO. */
int rt_new(const struct rt_opts *opts, struct rt **out, struct err *err) APP_MUST_CHECK;
/* Frees <rt>; containers keep running. NULL is fine. */
void rt_free(struct rt *rt);

/* ---------------------------------------------------------------- layers (layers.c) */

enum rt_rootfs_kind { RT_ROOTFS_OVERLAY, RT_ROOTFS_COPY };

/* Unpacks each layer of <img> that the cache lacks into <root>/layers/<hex of diff_id>/: into a
 * temporary directory first, renamed into place once complete, so a crash never leaves a half
 * layer under its name. Whiteouts (".wh.name", ".wh..wh..opq") are stored as overlayfs writes
 * them (a 0:0 character device, the trusted.overlay.opaque xattr). Paths with ".." and links
 * leading out of the layer are refused (ERR_INVALID). Safe to call from several threads. */
int rt_layers_unpack(struct rt *rt, const struct oci_image *img, struct err *err) APP_MUST_CHECK;

/* libarchive's handles (<archive.h>, <archive_entry.h>). */
struct archive;
struct archive_entry;

/* Decides one entry of an archive being extracted: rewrites its path (and hard link target)
 * to where it goes on disk (archive_entry_copy_pathname()) and returns 0 to write it there, 1
 * to skip it, or a negative ERR_* with <err> saying why to stop. */
typedef int rt_entry_fn(void *arg, struct archive_entry *e, struct err *err);

/* Writes each entry of <in> that <fn> lets through, data included, to <disk> (an
 * archive_write_disk_new() with its options set): what unpacks an image layer here and a
 * Debian package's data in the builder's base images. Stops at the first error: <fn>'s,
 * ERR_IO "<name>: <path>: <why>" when writing fails, <read_code> "<name>: <why>" when <in>
 * cannot be read on. Leaves closing <disk> (which sets directory times) to the caller. */
int rt_archive_extract(struct archive *in, struct archive *disk, rt_entry_fn *fn, void *arg,
                       const char *name, int read_code, struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- runc bundles (config.c) */

/* A host path bound into a container (rbind, nosuid, nodev; read-only unless <writable>). */
struct rt_bind {
    const char *host_path;
    const char *path; /* inside the container */
    bool writable;
};

/* What differs between the runc containers slipway makes: the apps of rt_start() and the
 * builder's sandbox (bld_sandbox_run()). The rest is the same for both and fixed: no
 * capabilities, no new privileges, a read-only root, /proc, a small /dev, /dev/pts, /dev/shm,
 * a read-only /sys and a /tmp tmpfs, every device denied but the ones runc always adds, IPC,
 * UTS and mount namespaces of their own, the kernel's information files masked or read-only.
 * Strings are borrowed for the call. */
struct rt_config {
    const char *rootfs; /* root.path, mounted read-only */
    const char *hostname;
    unsigned uid, gid;
    const char *const *argv; /* argc strings */
    size_t argc;
    const char *const *env; /* envc "K=V" strings: the process's whole environment */
    size_t envc;
    const char *cwd;
    uint64_t nofile;             /* RLIMIT_NOFILE, soft and hard */
    bool no_core;                /* RLIMIT_CORE 0: no core dumps */
    int oom_score_adj;           /* 0: the one runc inherits */
    uint64_t tmp_bytes;          /* the size of the /tmp tmpfs */
    const struct rt_bind *binds; /* mounted after the fixed mounts, in order */
    size_t n_binds;
    uint64_t memory_bytes; /* RAM and swap together; 0: no limit */
    uint64_t cpu_quota_us; /* per cpu_period_us (0: 100000); 0: no limit */
    uint64_t cpu_period_us;
    uint32_t pids_max; /* 0: no limit */
    const char *cgroups_path;
    bool pid_ns;            /* a PID namespace of its own */
    bool net_ns;            /* a network namespace: netns_path's, or (NULL) a new one */
    const char *netns_path; /* "/proc/N/ns/net" */
};

/* Appends <c> as runc's config.json (OCI runtime spec 1.0.2) to <out>; out->err is set when
 * it did not fit. */
void rt_config_render(const struct rt_config *c, struct sbuf *out);
/* The last message runc wrote to <bundle>/runc.log (given as `runc --log … --log-format json`)
 * into <out>, at most 150 bytes of it: why a container did not start. "see runc's log" when
 * there is none. */
void rt_runc_log_msg(const char *bundle, char *out, size_t max);

/* ---------------------------------------------------------------- containers (run.c) */

struct rt_spec {
    const char *id;         /* a slug, unique among this runtime's containers */
    const char *layout_dir; /* the OCI image layout holding the image */
    const char *digest;     /* its manifest digest (or a tag of the layout) */
    const char *const *env; /* "K=V", resolved values (secrets decrypted): over the image's */
    size_t n_env;
    uint16_t port;         /* given as PORT; 0: none */
    uint64_t memory_bytes; /* RAM and swap together; 0: no limit */
    uint64_t cpu_quota_us; /* per cpu_period_us (0: 100000); 0: no limit */
    uint64_t cpu_period_us;
    uint32_t pids_max;       /* 0: no limit */
    const char *const *argv; /* NULL-terminated; NULL: the image's entrypoint + cmd */
};

/* Starts <spec>'s container detached: its layers unpacked (rt_layers_unpack()), its root
 * filesystem assembled, runc started by a log relay process that outlives the caller. The
 * container runs as the image's user (root is refused: ERR_INVALID), with a read-only root, a
 * writable tmpfs /tmp, its own mount, IPC and UTS namespaces and cgroup, and the host's network
 * (it listens on 127.0.0.1 or 0.0.0.0 at $PORT). Returns once runc has started the process.
 * ERR_CONFLICT when the id exists, ERR_INVALID for a bad spec or image, ERR_UNAVAILABLE with
 * runc's message when it could not start; nothing is left behind on failure. */
int rt_start(struct rt *rt, const struct rt_spec *spec, struct err *err) APP_MUST_CHECK;

enum rt_status { RT_RUNNING, RT_EXITED };

struct rt_state {
    enum rt_status status;
    int pid;         /* the app's process on the host while RUNNING, else 0 */
    int exit_code;   /* EXITED: its status, 128+N for signal N; -1 when unknown */
    bool oom_killed; /* the kernel killed a process at memory_bytes */
    uint16_t port;   /* the spec's */
    enum rt_rootfs_kind rootfs;
    uint64_t started_ms; /* wall clock */
};

/* The container <id>'s state. ERR_NOTFOUND when there is no such container. */
int rt_state(struct rt *rt, const char *id, struct rt_state *out, struct err *err) APP_MUST_CHECK;

/* One container found by rt_adopt(). */
struct rt_info {
    char id[RT_ID_MAX + 1];
    struct rt_state state;
};

/* Every container of this runtime, running or exited (not yet stopped), sorted by id, into an
 * array of *n in <a>: what a restarted slipway takes over as it finds it, without restarting
 * anything. A running container whose log relay died (it cannot: it is only killed by hand)
 * keeps running, its output then lost. ERR_LIMIT when <a> is spent. */
int rt_adopt(struct rt *rt, struct arena *a, struct rt_info **out, size_t *n,
             struct err *err) APP_MUST_CHECK;

/* Stops <id>: SIGTERM to its processes, SIGKILL to what is left after <grace_ms>, then the
 * runc container, its cgroup, its root filesystem (unmounted) and its directory are removed.
 * Its logs stay (rt_logs_remove()). An exited container is only removed. ERR_NOTFOUND. */
int rt_stop(struct rt *rt, const char *id, uint64_t grace_ms, struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- logs (relay.c) */

/* The relay of a container, run by rt_opts.relay_exe as `<exe> __rt-relay MAX FILES LOG_DIR
 * PID_FILE RUNC ARGS…` with the report pipe on fd 3: what main() calls for "__rt-relay"
 * (argv from "MAX" on). Never returns. */
APP_NORETURN void rt_relay_exec_main(int argc, char **argv);

/* Lines of output are written as "<RFC 3339 ms time> <out|err> <line>\n" to
 * <root>/logs/<id>/current, which becomes current.1 (current.1 becomes current.2, …) once it
 * passes log_max_bytes; log_files rotated files are kept. A line longer than 16 KiB is cut into
 * pieces. The files stay after the container exits and after rt_stop(). */
/* The path of <id>'s current log file into <out> (<max> bytes). */
int rt_log_path(struct rt *rt, const char *id, char *out, size_t max,
                struct err *err) APP_MUST_CHECK;
/* The last <max_bytes> of <id>'s output (current file, and the one before it when that is not
 * enough), whole lines only, appended to <out>: the crash output of a replica. */
int rt_log_tail(struct rt *rt, const char *id, size_t max_bytes, struct sbuf *out,
                struct err *err) APP_MUST_CHECK;
/* Removes <id>'s logs. */
int rt_logs_remove(struct rt *rt, const char *id, struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- observing (usage.c) */

/* The TCP port the container's processes listen on (IPv4 or IPv6, any address): <want> when
 * they listen there, else the lowest one. ERR_NOTFOUND when they listen on none (yet). */
int rt_listening_port(struct rt *rt, const char *id, uint16_t want, uint16_t *out,
                      struct err *err) APP_MUST_CHECK;

struct rt_usage {
    double cpu_seconds;    /* user + system since start */
    uint64_t memory_bytes; /* current use, page cache included, as the limit counts it */
    uint64_t memory_limit; /* 0 when none */
};
/* <id>'s use from its cgroup. ERR_NOTFOUND when it does not run. */
int rt_usage(struct rt *rt, const char *id, struct rt_usage *out, struct err *err) APP_MUST_CHECK;

/* The number in the cgroup file <dir>/<file> after "<key> " (a line of memory.events,
 * pids.events, cpu.stat …), or its first number when <key> is NULL (memory.current,
 * memory.peak …). 0 when the file or the key is missing: counters of the cgroup version the
 * host does not run read as 0, so callers try v1's file and then v2's. */
uint64_t rt_cg_read(const char *dir, const char *file, const char *key);

/* Appends slipway_container_cpu_seconds_total{container="<id>"} and
 * slipway_container_memory_bytes{container="<id>"} for every running container to <out>, in
 * the Prometheus text format (HELP and TYPE once each). */
void rt_metrics_render(struct rt *rt, struct sbuf *out);

#endif
