/*
 * rt logs: reading the files the relay writes (relay.c; docs/runtime.md, "Logs").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "rt/rt-int.h"

int rt_log_path(struct rt *rt, const char *id, char *out, size_t max, struct err *err)
{
    return rt_path(rt, "logs", id, "current", out, max, err);
}

/* Appends the last <max> bytes of <path> (all of it when shorter) to <out>; true when the
 * file's start was left out. */
static bool tail_file(const char *path, size_t max, struct sbuf *out)
{
    bool cut = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *p;
    ssize_t n;

    if (fd < 0)
        return false;
    if (fstat(fd, &st) == 0 && (uint64_t)st.st_size > max)
        cut = lseek(fd, st.st_size - (off_t)max, SEEK_SET) > 0;
    while (max > 0 && (p = sbuf_reserve(out, max < 65536 ? max : 65536)) != NULL &&
           (n = read(fd, p, max < 65536 ? max : 65536)) > 0) {
        sbuf_commit(out, (size_t)n);
        max -= (size_t)n;
    }
    close(fd);
    return cut;
}

int rt_log_tail(struct rt *rt, const char *id, size_t max_bytes, struct sbuf *out, struct err *err)
{
    struct sbuf b = SBUF_INIT(2 * max_bytes + 1);
    char path[RT_PATH_MAX];
    struct stat st;
    size_t cur = 0, start;
    bool cut = false;
    int rc;

    if ((rc = rt_log_path(rt, id, path, sizeof(path), err)) < 0)
        return rc;
    if (stat(path, &st) == 0)
        cur = (size_t)st.st_size;
    if (cur < max_bytes) { /* the rotated file before it makes up the rest */
        char old[RT_PATH_MAX + 4];
        snprintf(old, sizeof(old), "%s.1", path);
        cut = tail_file(old, max_bytes - cur, &b);
    }
    cut = tail_file(path, max_bytes, &b) || cut;
    start = b.len > max_bytes ? b.len - max_bytes : 0;
    if (start > 0 || cut) { /* whole lines only */
        const char *nl = memchr(b.buf + start, '\n', b.len - start);
        start = nl != NULL ? (size_t)(nl - b.buf) + 1 : b.len;
    }
    sbuf_put(out, b.buf + start, b.len - start);
    sbuf_release(&b);
    return out->err != 0 ? err_set(err, out->err, "log tail does not fit") : 0;
}

int rt_logs_remove(struct rt *rt, const char *id, struct err *err)
{
    char path[RT_PATH_MAX];
    int rc;

    if ((rc = rt_path(rt, "logs", id, NULL, path, sizeof(path), err)) < 0)
        return rc;
    return file_remove_tree(path, err);
}
