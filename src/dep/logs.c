/*
 * Reading a service's logs: the runtime's files of every replica whose id carries the
 * service's key (<key_hex>-g<gen>-r<n>), followed as they grow. The relay rotates a file by
 * renaming it, so a cursor keeps its descriptor of the old file, reads it to its end once the
 * path names another inode, then goes on with the new file from its start.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dep/dep-int.h"

#define LINE_MAX_BYTES (64u << 10)
#define TAIL_SCAN      (1u << 20)

struct log_rep {
    char id[RT_ID_MAX + 1];
    char num[12];
    uint64_t gen;
    unsigned n;
    int fd;
    ino_t ino;
    off_t start;      /* where the first read begins (the tail), then unused */
    struct sbuf part; /* a line not ended yet */
};

struct dep_log_cursor {
    struct dep *d;
    char key_hex[DEP_KEY_HEX + 1];
    size_t tail;
    struct log_rep *reps;
    size_t n, cap;
};

static void logs_dir(const struct dep *d, char *out, size_t max)
{
    snprintf(out, max, "%s/rt/logs", d->dir);
}

static void cur_path(const struct dep_log_cursor *c, const struct log_rep *r, char *out, size_t max)
{
    snprintf(out, max, "%s/rt/logs/%s/current", c->d->dir, r->id);
}

/* Where the last <lines> lines of <path> start (looking at its last MiB at most). */
static off_t tail_offset(const char *path, size_t lines)
{
    struct stat st;
    off_t from, pos;
    char *buf;
    ssize_t got;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return 0;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return 0;
    }
    if (lines == 0 || st.st_size == 0) {
        close(fd);
        return st.st_size;
    }
    from = st.st_size > (off_t)TAIL_SCAN ? st.st_size - (off_t)TAIL_SCAN : 0;
    buf = xmalloc(TAIL_SCAN);
    got = pread(fd, buf, (size_t)(st.st_size - from), from);
    close(fd);
    pos = from;
    /* The final newline ends the last line; the <lines>th one before it starts the tail. */
    for (ssize_t i = got - 2; i >= 0; i--)
        if (buf[i] == '\n' && --lines == 0) {
            pos = from + i + 1;
            break;
        }
    free(buf);
    return pos;
}

/* The replica <id>'s generation and number; false when <id> is not one of this key's. */
static bool id_parse(const struct dep_log_cursor *c, const char *id, uint64_t *gen, unsigned *n)
{
    size_t kl = strlen(c->key_hex);
    char *end;

    if (strncmp(id, c->key_hex, kl) != 0 || strncmp(id + kl, "-g", 2) != 0)
        return false;
    *gen = strtoull(id + kl + 2, &end, 10);
    if (end == id + kl + 2 || strncmp(end, "-r", 2) != 0)
        return false;
    *n = (unsigned)strtoul(end + 2, &end, 10);
    return *end == '\0' && *n > 0;
}

static int rep_cmp(const void *a, const void *b)
{
    const struct log_rep *x = a, *y = b;

    if (x->gen != y->gen)
        return x->gen < y->gen ? -1 : 1;
    return x->n < y->n ? -1 : x->n > y->n;
}

/* Adds the replicas whose logs appeared since the last scan; those found at open start at
 * their tail, later ones at their start. */
static void scan(struct dep_log_cursor *c, bool at_open)
{
    char dir[DEP_PATH_MAX];
    struct dirent *e;
    DIR *dh;
    bool added = false;

    logs_dir(c->d, dir, sizeof(dir));
    if ((dh = opendir(dir)) == NULL)
        return;
    while ((e = readdir(dh)) != NULL) {
        uint64_t gen;
        unsigned n;
        size_t i;
        if (!id_parse(c, e->d_name, &gen, &n))
            continue;
        for (i = 0; i < c->n && strcmp(c->reps[i].id, e->d_name) != 0; i++)
            ;
        if (i < c->n)
            continue;
        if (c->n == c->cap)
            c->reps = xrealloc(c->reps, (c->cap = c->cap * 2 + 8) * sizeof(*c->reps));
        struct log_rep *r = &c->reps[c->n++];
        memset(r, 0, sizeof(*r));
        snprintf(r->id, sizeof(r->id), "%.*s", RT_ID_MAX, e->d_name);
        snprintf(r->num, sizeof(r->num), "%u", n);
        r->gen = gen;
        r->n = n;
        r->fd = -1;
        r->part = SBUF_INIT(LINE_MAX_BYTES);
        if (at_open) {
            char path[DEP_PATH_MAX];
            cur_path(c, r, path, sizeof(path));
            r->start = tail_offset(path, c->tail);
        }
        added = true;
    }
    closedir(dh);
    if (added)
        qsort(c->reps, c->n, sizeof(*c->reps), rep_cmp);
}

int dep_logs_open(struct dep *d, const struct dep_key *key, size_t tail,
                  struct dep_log_cursor **out, struct err *err)
{
    struct dep_svc *s = dep_svc_get(d, key, false);
    struct dep_log_cursor *c;
    char label[4 * (SLUG_MAX + 1)], hex[DEP_HASH_HEX + 1];

    *out = NULL;
    c = xcalloc(1, sizeof(*c));
    c->d = d;
    c->tail = tail;
    /* Also for a service this process does not know: an earlier one's logs may be there. */
    snprintf(label, sizeof(label), "%s/%s/%s/%s", key->workspace, key->project, key->env,
             key->service);
    dep_sha256_hex(label, strlen(label), hex);
    snprintf(c->key_hex, sizeof(c->key_hex), "%.*s", DEP_KEY_HEX, hex);
    scan(c, true);
    if (c->n == 0 && (s == NULL || !s->recorded)) {
        dep_logs_close(c);
        return err_set(err, ERR_NOTFOUND, "%s/%s/%s/%s never ran here", key->workspace,
                       key->project, key->env, key->service);
    }
    *out = c;
    return 0;
}

/* Hands each whole line of <data> (after r->part) to <fn>; false when it said stop. */
static bool feed(struct log_rep *r, const char *data, size_t len, dep_log_fn *fn, void *arg)
{
    bool go = true;

    for (size_t i = 0; i < len && go;) {
        const char *nl = memchr(data + i, '\n', len - i);
        size_t n = nl != NULL ? (size_t)(nl - (data + i)) : len - i;
        if (r->part.len + n > LINE_MAX_BYTES)
            n = LINE_MAX_BYTES - r->part.len; /* relay cuts lines at 16 KiB: cannot happen */
        sbuf_put(&r->part, data + i, n);
        i += n;
        if (nl == NULL || data + i != nl)
            continue;
        i++;
        struct slice line = sbuf_slice(&r->part), ts, stream;
        if (slice_split(&line, ' ', &ts) && slice_split(&line, ' ', &stream)) {
            char tsz[40], st[8];
            snprintf(tsz, sizeof(tsz), SLICE_FMT, SLICE_ARG(ts));
            snprintf(st, sizeof(st), SLICE_FMT, SLICE_ARG(stream));
            struct dep_log_line l = {
                .replica = r->num, .timestamp = tsz, .stream = st, .text = line};
            go = fn(arg, &l);
        }
        sbuf_reset(&r->part);
    }
    return go;
}

/* Reads <fd> to its end into <fn>; false when <fn> said stop. */
static bool drain(struct log_rep *r, dep_log_fn *fn, void *arg)
{
    char buf[16384];
    ssize_t n;

    while ((n = read(r->fd, buf, sizeof(buf))) > 0)
        if (!feed(r, buf, (size_t)n, fn, arg))
            return false;
    return true;
}

/* After a rotation: the files rotated after the one <r> was reading (current.k-1 …
 * current.1, when the writer rotated more than once since the last read), whole. */
static bool read_skipped(const char *path, struct log_rep *r, dep_log_fn *fn, void *arg)
{
    char old[DEP_PATH_MAX + 16];
    struct stat st;
    unsigned k = 0;

    for (unsigned i = 1; i <= 9 && k == 0; i++) {
        snprintf(old, sizeof(old), "%s.%u", path, i);
        if (stat(old, &st) == 0 && st.st_ino == r->ino)
            k = i;
    }
    for (unsigned i = k > 0 ? k - 1 : 0; i >= 1; i--) {
        snprintf(old, sizeof(old), "%s.%u", path, i);
        int fd = open(old, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        close(r->fd);
        r->fd = fd;
        if (!drain(r, fn, arg))
            return false;
    }
    return true;
}

/* One replica: its file to the end, across rotations. */
static bool rep_read(struct dep_log_cursor *c, struct log_rep *r, dep_log_fn *fn, void *arg)
{
    char path[DEP_PATH_MAX];
    struct stat st = {0};

    cur_path(c, r, path, sizeof(path));
    if (r->fd < 0) {
        if ((r->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
            return true; /* not yet written, or removed with its release */
        if (fstat(r->fd, &st) == 0)
            r->ino = st.st_ino;
        if (r->start > 0 && r->start <= st.st_size)
            (void)lseek(r->fd, r->start, SEEK_SET);
        r->start = 0;
    }
    for (int rounds = 0; rounds < 4; rounds++) {
        /* Look at the path first: what the old file got before the rename is read below. */
        bool rotated = stat(path, &st) == 0 && st.st_ino != r->ino;
        if (!drain(r, fn, arg))
            return false;
        if (!rotated)
            return true;
        if (!read_skipped(path, r, fn, arg))
            return false;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return true;
        close(r->fd);
        r->fd = fd;
        r->ino = fstat(fd, &st) == 0 ? st.st_ino : 0;
    }
    return true;
}

int dep_logs_read(struct dep_log_cursor *cur, dep_log_fn *fn, void *arg, struct err *err)
{
    (void)err;
    scan(cur, false);
    for (size_t i = 0; i < cur->n; i++)
        if (!rep_read(cur, &cur->reps[i], fn, arg))
            break;
    return 0;
}

void dep_logs_close(struct dep_log_cursor *cur)
{
    if (cur == NULL)
        return;
    for (size_t i = 0; i < cur->n; i++) {
        if (cur->reps[i].fd >= 0)
            close(cur->reps[i].fd);
        sbuf_release(&cur->reps[i].part);
    }
    free(cur->reps);
    free(cur);
}
