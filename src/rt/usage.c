/*
 * rt usage: what a running container uses and listens on, read from its cgroup and from /proc
 * (docs/runtime.md, "Ports" and "Usage").
 */
#include <dirent.h>
#include <errno.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "base/base.h"
#include "rt/rt-int.h"

#define SOCKETS_MAX 4096
#define PIDS_MAX    4096

/* ---------------------------------------------------------------- cgroups */

static void cg_set(char *out, const char *mnt, const char *path)
{
    snprintf(out, RT_PATH_MAX, "/sys/fs/cgroup%s%s%s", mnt[0] != '\0' ? "/" : "", mnt,
             strcmp(path, "/") == 0 ? "" : path);
}

/* /proc/<pid>/cgroup lines are "id:controllers:path"; on cgroup v2 only "0::path". On a hybrid
 * host runc uses the v1 hierarchies, named after their controllers under /sys/fs/cgroup. */
void rt_cgroups_of(int pid, struct rt_meta *m)
{
    struct statfs fs;
    bool v2 = statfs("/sys/fs/cgroup", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
    char path[64], line[RT_PATH_MAX];
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
    if ((f = fopen(path, "re")) == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        char *ctls = strchr(line, ':'), *p;
        if (ctls == NULL || (p = strchr(++ctls, ':')) == NULL)
            continue;
        *p++ = '\0';
        p[strcspn(p, "\n")] = '\0';
        if (v2 && ctls[0] == '\0') {
            cg_set(m->cg_memory, "", p);
            cg_set(m->cg_cpu, "", p);
            cg_set(m->cg_pids, "", p);
        } else if (!v2) {
            for (char *c = strtok_r(ctls, ",", &ctls); c != NULL; c = strtok_r(NULL, ",", &ctls)) {
                if (strcmp(c, "memory") == 0)
                    cg_set(m->cg_memory, "memory", p);
                else if (strcmp(c, "cpuacct") == 0)
                    cg_set(m->cg_cpu, "cpuacct", p);
                else if (strcmp(c, "pids") == 0)
                    cg_set(m->cg_pids, "pids", p);
            }
        }
    }
    fclose(f);
}

uint64_t rt_cg_read(const char *dir, const char *file, const char *key)
{
    char path[PATH_MAX + 64], line[256];
    uint64_t v = 0;
    size_t klen = key != NULL ? strlen(key) : 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    if ((f = fopen(path, "re")) == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (klen != 0 && (strncmp(line, key, klen) != 0 || line[klen] != ' '))
            continue;
        v = strtoull(line + klen, NULL, 10);
        break;
    }
    fclose(f);
    return v;
}

static int running_meta(struct rt *rt, const char *id, struct rt_meta *m, struct err *err)
{
    struct rt_state st;
    int rc;

    if ((rc = rt_state(rt, id, &st, err)) < 0 || (rc = rt_meta_read(rt, id, m, err)) < 0)
        return rc;
    if (st.status != RT_RUNNING || m->cg_memory[0] == '\0')
        return err_set(err, ERR_NOTFOUND, "container %s does not run", id);
    return 0;
}

int rt_usage(struct rt *rt, const char *id, struct rt_usage *out, struct err *err)
{
    struct rt_meta m;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = running_meta(rt, id, &m, err)) < 0)
        return rc;
    uint64_t ns = rt_cg_read(m.cg_cpu, "cpuacct.usage", NULL); /* v1, nanoseconds */
    if (ns == 0)
        ns = rt_cg_read(m.cg_cpu, "cpu.stat", "usage_usec") * 1000; /* v2 */
    out->cpu_seconds = (double)ns / 1e9;
    out->memory_bytes = rt_cg_read(m.cg_memory, "memory.usage_in_bytes", NULL);
    if (out->memory_bytes == 0)
        out->memory_bytes = rt_cg_read(m.cg_memory, "memory.current", NULL);
    out->memory_limit = rt_cg_read(m.cg_memory, "memory.limit_in_bytes", NULL);
    if (out->memory_limit == 0)
        out->memory_limit = rt_cg_read(m.cg_memory, "memory.max", NULL); /* "max": 0 */
    if (out->memory_limit >= (UINT64_MAX >> 2)) /* v1's "no limit" is a huge number */
        out->memory_limit = 0;
    return 0;
}

/* ---------------------------------------------------------------- ports */

struct socks {
    unsigned long ino[SOCKETS_MAX];
    size_t n;
};

/* The socket inodes the process <pid> holds, from its /proc/<pid>/fd links "socket:[N]". */
static void socks_of(int pid, struct socks *s)
{
    char path[64], link[128], target[64];
    struct dirent *e;
    DIR *d;

    snprintf(path, sizeof(path), "/proc/%d/fd", pid);
    if ((d = opendir(path)) == NULL)
        return;
    while ((e = readdir(d)) != NULL && s->n < SOCKETS_MAX) {
        snprintf(link, sizeof(link), "%s/%.16s", path, e->d_name);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n <= 8 || strncmp(target, "socket:[", 8) != 0)
            continue;
        target[n] = '\0';
        s->ino[s->n++] = strtoul(target + 8, NULL, 10);
    }
    closedir(d);
}

static bool socks_has(const struct socks *s, unsigned long ino)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->ino[i] == ino)
            return true;
    return false;
}

/* Lines of /proc/<pid>/net/tcp{,6}: "sl local rem st tx:rx tr:when retrnsmt uid timeout inode".
 * A listening socket (st 0A) among <s> gives its port: <want> wins, else the lowest. */
static void ports_scan(const char *file, const struct socks *s, uint16_t want, uint16_t *best)
{
    char line[512], local[80];
    unsigned st, port;
    unsigned long ino;
    FILE *f = fopen(file, "re");

    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, " %*s %79s %*s %x %*s %*s %*s %*s %*s %lu", local, &st, &ino) != 3 ||
            st != 0x0A || !socks_has(s, ino))
            continue;
        const char *colon = strrchr(local, ':');
        if (colon == NULL || sscanf(colon + 1, "%x", &port) != 1)
            continue;
        if (*best != want && (port == want || *best == 0 || port < *best))
            *best = (uint16_t)port;
    }
    fclose(f);
}

int rt_listening_port(struct rt *rt, const char *id, uint16_t want, uint16_t *out, struct err *err)
{
    struct socks *s = xcalloc(1, sizeof(*s));
    struct rt_meta m;
    char path[RT_PATH_MAX + 32];
    int rc, first = 0, pid;
    FILE *f;

    *out = 0;
    if ((rc = running_meta(rt, id, &m, err)) < 0)
        goto done;
    snprintf(path, sizeof(path), "%s/cgroup.procs", m.cg_memory);
    if ((f = fopen(path, "re")) == NULL) {
        rc = err_set(err, ERR_NOTFOUND, "container %s has no processes", id);
        goto done;
    }
    for (int i = 0; i < PIDS_MAX && fscanf(f, "%d", &pid) == 1; i++) {
        first = first != 0 ? first : pid;
        socks_of(pid, s);
    }
    fclose(f);
    /* The container shares the host's network namespace: any of its pids shows the table. */
    snprintf(path, sizeof(path), "/proc/%d/net/tcp", first);
    ports_scan(path, s, want, out);
    snprintf(path, sizeof(path), "/proc/%d/net/tcp6", first);
    ports_scan(path, s, want, out);
    if (*out == 0)
        rc = err_set(err, ERR_NOTFOUND, "container %s listens on no TCP port", id);
done:
    free(s);
    return rc;
}

/* ---------------------------------------------------------------- metrics */

void rt_metrics_render(struct rt *rt, struct sbuf *out)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 4u << 20});
    struct sbuf mem = SBUF_INIT(1 << 20);
    struct rt_info *list;
    size_t n = 0;

    if (rt_adopt(rt, a, &list, &n, NULL) < 0)
        n = 0;
    sbuf_puts(out, "# HELP slipway_container_cpu_seconds_total CPU time of a container.\n"
                   "# TYPE slipway_container_cpu_seconds_total counter\n");
    sbuf_puts(&mem, "# HELP slipway_container_memory_bytes Memory a container uses.\n"
                    "# TYPE slipway_container_memory_bytes gauge\n");
    for (size_t i = 0; i < n; i++) {
        struct rt_usage u;
        if (list[i].state.status != RT_RUNNING || rt_usage(rt, list[i].id, &u, NULL) < 0)
            continue;
        sbuf_printf(out, "slipway_container_cpu_seconds_total{container=\"%s\"} %.3f\n", list[i].id,
                    u.cpu_seconds);
        sbuf_printf(&mem, "slipway_container_memory_bytes{container=\"%s\"} %" PRIu64 "\n",
                    list[i].id, u.memory_bytes);
    }
    sbuf_put_slice(out, sbuf_slice(&mem));
    sbuf_release(&mem);
    arena_free(a);
}
