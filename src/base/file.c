/* Durable file writes and the data directory's secret. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"

int file_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = 0;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int fsync_dir_of(const char *path)
{
    char *copy = xstrdup(path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

    free(copy);
    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

/* Writes <data> to a new file of a unique name beside <path> (mode <mode>), fsynced; *tmp gets
 * its name. 0, or errno with nothing left behind. */
static int write_tmp(const char *path, const void *data, size_t len, unsigned mode,
                     struct sbuf *tmp)
{
    int fd, e;

    sbuf_printf(tmp, "%s.tmp-XXXXXX", path);
    if (tmp->err)
        return ENAMETOOLONG;
    fd = mkostemp(tmp->buf, O_CLOEXEC); /* unique per call: threads and processes never share */
    if (fd < 0)
        return errno;
    if (fchmod(fd, mode) != 0 || file_write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        e = errno;
        close(fd);
        unlink(tmp->buf);
        return e;
    }
    if (close(fd) != 0) {
        e = errno;
        unlink(tmp->buf);
        return e;
    }
    return 0;
}

int file_write_atomic(const char *path, const void *data, size_t len, unsigned mode,
                      struct err *err)
{
    struct sbuf tmp = SBUF_INIT(4096);
    int e = write_tmp(path, data, len, mode, &tmp);

    if (e == 0 && rename(tmp.buf, path) != 0) {
        e = errno;
        unlink(tmp.buf);
    }
    if (e == 0 && fsync_dir_of(path) != 0)
        e = errno;
    sbuf_release(&tmp);
    return e ? err_set(err, err_from_errno(e), "%s: %s", path, strerror(e)) : 0;
}

static int read_secret(const char *path, unsigned char *key, size_t len, struct err *err);

/* Makes a new key and publishes it only if <path> still does not exist (link() fails when it
 * does): two first uses at once agree on one key, the loser reading the winner's. */
static int create_secret(const char *path, unsigned char *key, size_t len, struct err *err)
{
    struct sbuf tmp = SBUF_INIT(4096);
    size_t got = 0;
    int e;

    while (got < len) {
        ssize_t n = getrandom(key + got, len - got, 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return err_set(err, ERR_IO, "getrandom: %s", strerror(errno));
        got += (size_t)n;
    }
    e = write_tmp(path, key, len, 0600, &tmp);
    if (e == 0) {
        e = link(tmp.buf, path) == 0 ? 0 : errno;
        unlink(tmp.buf);
    }
    if (e == 0 && fsync_dir_of(path) != 0)
        e = errno;
    sbuf_release(&tmp);
    if (e == EEXIST)
        return read_secret(path, key, len, err);
    return e ? err_set(err, err_from_errno(e), "%s: %s", path, strerror(e)) : 0;
}

int file_secret_load(const char *path, unsigned char *key, size_t len, struct err *err)
{
    int rc = read_secret(path, key, len, err);

    return rc == ERR_NOTFOUND ? create_secret(path, key, len, err) : rc;
}

/* Reads an existing key; ERR_NOTFOUND (and nothing else) when there is none. */
static int read_secret(const char *path, unsigned char *key, size_t len, struct err *err)
{
    struct stat st;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0 && errno == ENOENT)
        return err_set(err, ERR_NOTFOUND, "%s: no such file", path);
    if (fd < 0)
        return err_set(err, err_from_errno(errno), "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
        close(fd);
        return err_set(err, ERR_FORBIDDEN, "%s: must be readable by its owner only (chmod 600)",
                       path);
    }
    n = read(fd, key, len);
    close(fd);
    if (n != (ssize_t)len || st.st_size != (off_t)len)
        return err_set(err, ERR_INVALID, "%s: must hold exactly %zu bytes", path, len);
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return (flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 || errno == ENOENT ? 0 : -1;
}

int file_remove_tree(const char *path, struct err *err)
{
    if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
        return err_set(err, err_from_errno(errno), "remove %s: %s", path, strerror(errno));
    return 0;
}

int file_mkdirs(const char *path, unsigned mode, int owner, struct err *err)
{
    size_t n = strlen(path);
    char *buf;
    int rc = 0;

    if (n == 0)
        return err_set(err, ERR_INVALID, "mkdir: empty path");
    buf = xstrdup(path);
    for (char *p = buf + 1;; p++) {
        char saved = *p;

        if (saved != '/' && saved != '\0')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) == 0) {
            if (owner >= 0 && lchown(buf, (uid_t)owner, (gid_t)owner) != 0)
                rc = err_set(err, err_from_errno(errno), "chown %s: %s", buf, strerror(errno));
        } else if (errno != EEXIST) {
            rc = err_set(err, err_from_errno(errno), "mkdir %s: %s", buf, strerror(errno));
        }
        *p = saved;
        if (rc < 0 || saved == '\0')
            break;
    }
    free(buf);
    return rc;
}

int file_read(const char *path, struct sbuf *out, struct err *err)
{
    char buf[8192];
    ssize_t got;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0)
        return err_set(err, err_from_errno(errno), "%s: %s", path, strerror(errno));
    while ((got = read(fd, buf, sizeof(buf))) > 0 || (got < 0 && errno == EINTR))
        if (got > 0)
            sbuf_put(out, buf, (size_t)got);
    close(fd);
    if (got < 0)
        return err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
    return out->err ? err_set(err, ERR_LIMIT, "%s is too large", path) : 0;
}
