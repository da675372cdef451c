/* Durable file writes and the data directory's secret. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
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

int file_write_atomic(const char *path, const void *data, size_t len, unsigned mode,
                      struct err *err)
{
    struct sbuf tmp = SBUF_INIT(4096);
    int fd, e;

    sbuf_printf(&tmp, "%s.tmp-%d", path, (int)getpid());
    if (tmp.err) {
        sbuf_release(&tmp);
        return err_set(err, ERR_INVALID, "%s: path too long", path);
    }
    fd = open(tmp.buf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0 || close(fd) != 0 ||
        rename(tmp.buf, path) != 0 || fsync_dir_of(path) != 0) {
        e = errno;
        if (fd >= 0)
            close(fd); /* may fail again after a failed close: nothing more to do */
        unlink(tmp.buf);
        sbuf_release(&tmp);
        return err_set(err, err_from_errno(e), "%s: %s", path, strerror(e));
    }
    sbuf_release(&tmp);
    return 0;
}

static int create_secret(const char *path, unsigned char *key, size_t len, struct err *err)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = getrandom(key + got, len - got, 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return err_set(err, ERR_IO, "getrandom: %s", strerror(errno));
        got += (size_t)n;
    }
    return file_write_atomic(path, key, len, 0600, err);
}

int file_secret_load(const char *path, unsigned char *key, size_t len, struct err *err)
{
    struct stat st;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0 && errno == ENOENT)
        return create_secret(path, key, len, err);
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
