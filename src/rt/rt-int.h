/*
 * rt internals shared by its files and its tests.
 *
 * On disk, under the runtime's root:
 *   layers/<hex>/             one unpacked layer per diff_id; layers/.tmp-* while unpacking
 *   containers/<id>/          config.json (0600: the env holds secrets), meta, pid, runc.log,
 *                             rootfs/ (the overlay mount or the copy), upper/ and work/
 *   logs/<id>/                current, current.1 …, exit (written by the relay)
 */
#ifndef SLIPWAY_RT_INT_H
#define SLIPWAY_RT_INT_H

#include <limits.h>

#include "rt/rt.h"

#define RT_PATH_MAX      1024
#define RT_DIR_MAX       600 /* containers/<id> and logs/<id> */
#define RT_ROOT_MAX      400 /* leaves room for what goes below the root in RT_PATH_MAX */
#define RT_LOG_FILES_MAX 9
#define RT_LINE_CUT      (16u << 10)

struct rt {
    char root[RT_ROOT_MAX];
    char runc_root[RT_ROOT_MAX];
    char runc[RT_PATH_MAX]; /* runc's absolute path: the relay execs it without a PATH search */
    uint64_t log_max_bytes;
    unsigned log_files;
    bool force_copy;
    char relay_exe[RT_PATH_MAX]; /* "": relays are plain forks */
};

/* What rt_start() records in containers/<id>/meta, read back by the other calls. */
struct rt_meta {
    uint16_t port;
    enum rt_rootfs_kind rootfs;
    uint64_t started_ms;
    int relay_pid;
    char cg_memory[RT_PATH_MAX]; /* the container's cgroup directories ("" when unknown) */
    char cg_cpu[RT_PATH_MAX];    /* v1: cpuacct's; v2: the same as cg_memory */
    char cg_pids[RT_PATH_MAX];
};

/* "<root>/<sub>/<id>[/<leaf>]" into <out>; ERR_INVALID for an id that is not a slug. */
int rt_path(const struct rt *rt, const char *sub, const char *id, const char *leaf, char *out,
            size_t max, struct err *err) APP_MUST_CHECK;
int rt_meta_write(const struct rt *rt, const char *id, const struct rt_meta *m,
                  struct err *err) APP_MUST_CHECK;
int rt_meta_read(const struct rt *rt, const char *id, struct rt_meta *m,
                 struct err *err) APP_MUST_CHECK;

/* rm -rf <path> where a failure leaves nothing more to try (it is reported elsewhere). */
void rt_remove_tree(const char *path);
/* Runs <argv> (argv[0] an absolute path) to its end with its output discarded, or into <out>
 * (may be NULL, at most its max). Its exit status, or -1 when it could not start. */
int rt_run(const char *const argv[], struct sbuf *out);

/* ---------------------------------------------------------------- layers.c */

/* Assembles <img>'s root filesystem in <dir> (containers/<id>): an overlay of the cached layers
 * mounted on <dir>/rootfs with <dir>/upper and <dir>/work, or, when the mount fails (or
 * rt->force_copy), the layers copied into <dir>/rootfs in order, whiteouts applied. */
int rt_rootfs_make(struct rt *rt, const struct oci_image *img, const char *dir,
                   enum rt_rootfs_kind *kind, struct err *err) APP_MUST_CHECK;
/* Unmounts <dir>/rootfs when it is a mount point (lazily when busy). */
void rt_rootfs_unmount(const char *dir);

/* ---------------------------------------------------------------- relay.c */

struct rt_relay_args {
    const char *const *runc_argv; /* runc … run -d …: started by the relay as its child */
    const char *log_dir;          /* logs/<id> */
    const char *pid_file;         /* where runc writes the container's pid */
    uint64_t max_bytes;
    unsigned files;
    const char *exe; /* run the relay as this binary (rt_relay_exec_main); NULL: fork only */
};

/* Starts the relay, detached (its own session, not our child), which starts runc and relays
 * the container's output to log_dir/current until it ends. Returns once runc has returned:
 * *relay_pid is the relay, *runc_status runc's exit status. */
int rt_relay_start(const struct rt_relay_args *a, int *relay_pid, int *runc_status,
                   struct err *err) APP_MUST_CHECK;
/* "2026-01-05T10:00:00.123Z" for <ms> since the epoch, without the C library's time zone code
 * (the relay may use only async-signal-safe calls). Writes 24 bytes, no NUL. */
void rt_time_format(uint64_t ms, char out[24]);

/* ---------------------------------------------------------------- usage.c */

/* The cgroup directories of process <pid> into <m>'s cg_* fields. */
void rt_cgroups_of(int pid, struct rt_meta *m);

#endif
