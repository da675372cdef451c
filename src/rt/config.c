/*
 * rt config: a runc bundle's config.json (OCI runtime spec 1.0.2) and runc's log, for the
 * runtime's app containers and for the builder's sandbox alike. What the two need differently
 * is in struct rt_config; what both need the same way (the isolation) is written here once, so
 * the two cannot drift apart.
 */
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "rt/rt-int.h"

static void key_str(struct jw *w, const char *k, const char *v)
{
    jw_key(w, k);
    jw_str(w, v);
}

static void str_array(struct jw *w, const char *k, const char *const *v, size_t n)
{
    jw_key(w, k);
    jw_arr_begin(w);
    for (size_t i = 0; i < n; i++)
        jw_str(w, v[i]);
    jw_arr_end(w);
}

static void rlimit(struct jw *w, const char *type, uint64_t v)
{
    jw_obj_begin(w);
    key_str(w, "type", type);
    jw_key(w, "hard");
    jw_uint(w, v);
    jw_key(w, "soft");
    jw_uint(w, v);
    jw_obj_end(w);
}

static void config_process(struct jw *w, const struct rt_config *c)
{
    static const char *const sets[] = {"bounding", "effective", "inheritable", "permitted",
                                       "ambient"};

    jw_key(w, "process");
    jw_obj_begin(w);
    jw_key(w, "terminal");
    jw_bool(w, false);
    jw_key(w, "user");
    jw_obj_begin(w);
    jw_key(w, "uid");
    jw_uint(w, c->uid);
    jw_key(w, "gid");
    jw_uint(w, c->gid);
    jw_obj_end(w);
    str_array(w, "args", c->argv, c->argc);
    str_array(w, "env", c->env, c->envc);
    key_str(w, "cwd", c->cwd);
    jw_key(w, "capabilities"); /* every set empty: ports below 1024 are no app's or build's */
    jw_obj_begin(w);
    for (size_t i = 0; i < ARRAY_LEN(sets); i++)
        str_array(w, sets[i], NULL, 0);
    jw_obj_end(w);
    jw_key(w, "rlimits");
    jw_arr_begin(w);
    rlimit(w, "RLIMIT_NOFILE", c->nofile);
    if (c->no_core)
        rlimit(w, "RLIMIT_CORE", 0);
    jw_arr_end(w);
    jw_key(w, "noNewPrivileges");
    jw_bool(w, true);
    if (c->oom_score_adj != 0) {
        jw_key(w, "oomScoreAdj");
        jw_int(w, c->oom_score_adj);
    }
    jw_obj_end(w);
}

static void mount_entry(struct jw *w, const char *dest, const char *type, const char *src,
                        const char *const *opts, size_t n)
{
    jw_obj_begin(w);
    key_str(w, "destination", dest);
    key_str(w, "type", type);
    key_str(w, "source", src);
    str_array(w, "options", opts, n);
    jw_obj_end(w);
}

static void config_mounts(struct jw *w, const struct rt_config *c)
{
    static const char *const dev[] = {"nosuid", "strictatime", "mode=755", "size=65536k"};
    static const char *const pts[] = {"nosuid", "noexec", "newinstance", "ptmxmode=0666",
                                      "mode=0620"};
    static const char *const shm[] = {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"};
    static const char *const sys[] = {"nosuid", "noexec", "nodev", "ro"};
    static const char *const ro[] = {"rbind", "nosuid", "nodev", "ro"};
    static const char *const rw[] = {"rbind", "nosuid", "nodev", "rw"};
    char tmp_size[48];
    const char *tmp[] = {"nosuid", "nodev", "mode=1777", tmp_size};

    /* tmpfs pages are charged to the container's memory cgroup anyway: the size only makes a
     * full /tmp fail with ENOSPC instead of an OOM kill. */
    snprintf(tmp_size, sizeof(tmp_size), "size=%" PRIu64 "k", c->tmp_bytes >> 10);
    jw_key(w, "mounts");
    jw_arr_begin(w);
    mount_entry(w, "/proc", "proc", "proc", NULL, 0);
    mount_entry(w, "/dev", "tmpfs", "tmpfs", dev, ARRAY_LEN(dev));
    mount_entry(w, "/dev/pts", "devpts", "devpts", pts, ARRAY_LEN(pts));
    mount_entry(w, "/dev/shm", "tmpfs", "shm", shm, ARRAY_LEN(shm));
    mount_entry(w, "/sys", "sysfs", "sysfs", sys, ARRAY_LEN(sys));
    mount_entry(w, "/tmp", "tmpfs", "tmpfs", tmp, ARRAY_LEN(tmp));
    for (size_t i = 0; i < c->n_binds; i++) {
        const struct rt_bind *b = &c->binds[i];
        mount_entry(w, b->path, "bind", b->host_path, b->writable ? rw : ro, ARRAY_LEN(ro));
    }
    jw_arr_end(w);
}

/* "<key>":{"<k1>":<v1>[,"<k2>":<v2>]}, the second pair left out when <k2> is NULL. */
static void uint_obj(struct jw *w, const char *key, const char *k1, uint64_t v1, const char *k2,
                     uint64_t v2)
{
    jw_key(w, key);
    jw_obj_begin(w);
    jw_key(w, k1);
    jw_uint(w, v1);
    if (k2 != NULL) {
        jw_key(w, k2);
        jw_uint(w, v2);
    }
    jw_obj_end(w);
}

static void config_resources(struct jw *w, const struct rt_config *c)
{
    jw_key(w, "resources");
    jw_obj_begin(w);
    jw_key(w, "devices"); /* runc adds back null, zero, full, tty, random and urandom */
    jw_raw(w, SLICE("[{\"allow\":false,\"access\":\"rwm\"}]"));
    if (c->memory_bytes != 0) /* OCI's swap is memory plus swap: equal means no swap */
        uint_obj(w, "memory", "limit", c->memory_bytes, "swap", c->memory_bytes);
    if (c->cpu_quota_us != 0)
        uint_obj(w, "cpu", "quota", c->cpu_quota_us, "period",
                 c->cpu_period_us != 0 ? c->cpu_period_us : 100000);
    if (c->pids_max != 0)
        uint_obj(w, "pids", "limit", c->pids_max, NULL, 0);
    jw_obj_end(w);
}

static void config_namespaces(struct jw *w, const struct rt_config *c)
{
    static const char *const ns[] = {"pid", "ipc", "uts", "mount"};

    jw_key(w, "namespaces");
    jw_arr_begin(w);
    for (size_t i = c->pid_ns ? 0 : 1; i < ARRAY_LEN(ns); i++) {
        jw_obj_begin(w);
        key_str(w, "type", ns[i]);
        jw_obj_end(w);
    }
    if (c->net_ns) {
        jw_obj_begin(w); /* a path joins that namespace; none makes a new one with lo up */
        key_str(w, "type", "network");
        if (c->netns_path != NULL)
            key_str(w, "path", c->netns_path);
        jw_obj_end(w);
    }
    jw_arr_end(w);
}

static void config_linux(struct jw *w, const struct rt_config *c)
{
    static const char *const masked[] = {
        "/proc/acpi",          "/proc/asound",     "/proc/kcore",        "/proc/keys",
        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",  "/proc/sched_debug",
        "/proc/scsi",          "/sys/firmware",    "/proc/sysrq-trigger"};
    static const char *const readonly[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"};

    jw_key(w, "linux");
    jw_obj_begin(w);
    config_resources(w, c);
    key_str(w, "cgroupsPath", c->cgroups_path);
    config_namespaces(w, c);
    str_array(w, "maskedPaths", masked, ARRAY_LEN(masked));
    str_array(w, "readonlyPaths", readonly, ARRAY_LEN(readonly));
    jw_obj_end(w);
}

void rt_config_render(const struct rt_config *c, struct sbuf *out)
{
    struct jw w;

    jw_init(&w, out);
    jw_obj_begin(&w);
    key_str(&w, "ociVersion", "1.0.2");
    config_process(&w, c);
    jw_key(&w, "root");
    jw_obj_begin(&w);
    key_str(&w, "path", c->rootfs);
    jw_key(&w, "readonly");
    jw_bool(&w, true);
    jw_obj_end(&w);
    key_str(&w, "hostname", c->hostname);
    config_mounts(&w, c);
    config_linux(&w, c);
    jw_obj_end(&w);
}

void rt_runc_log_msg(const char *bundle, char *out, size_t max)
{
    char path[PATH_MAX], line[1024];
    FILE *f;

    snprintf(out, max, "see runc's log");
    snprintf(path, sizeof(path), "%s/runc.log", bundle);
    if ((f = fopen(path, "re")) == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        char *m = strstr(line, "\"msg\":\"");
        if (m != NULL) {
            m += 7;
            m[strcspn(m, "\"")] = '\0';
            snprintf(out, max, "%.150s", m);
        }
    }
    fclose(f);
}
