/*
 * Corpus replayer: the main() of every fuzz harness outside MODE=fuzz, so `make test` runs each
 * corpus under the sanitizers everywhere. Usage: replay_<name> PATH...
 * Each PATH is a file or a directory of files (not descended into further). Every file's bytes
 * go once through LLVMFuzzerTestOneInput(); the output is TAP ("1..N", then "ok N - file" per
 * file). A crash, leak or sanitizer report ends the process with a non-zero status; a path
 * that cannot be read is "not ok" and makes the exit status 1.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REPLAY_MAX_BYTES (4u << 20) /* inputs past this are cut; libFuzzer's are far smaller */
#define REPLAY_MAX_FILES 100000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct file_list {
    char **paths;
    size_t n, cap;
};

static void list_add(struct file_list *l, const char *path)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->paths = realloc(l->paths, l->cap * sizeof(*l->paths));
        if (l->paths == NULL) {
            perror("replay");
            exit(2);
        }
    }
    l->paths[l->n] = strdup(path);
    if (l->paths[l->n] == NULL) {
        perror("replay");
        exit(2);
    }
    l->n++;
}

static int skip_hidden(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* Adds <path>, or the regular files directly in it, in name order (stable TAP numbering). */
static void collect(struct file_list *l, const char *path)
{
    struct dirent **names;
    struct stat st;
    int n;

    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        list_add(l, path); /* a missing path fails when it is read */
        return;
    }
    n = scandir(path, &names, skip_hidden, alphasort);
    if (n < 0) {
        list_add(l, path);
        return;
    }
    for (int i = 0; i < n; i++) {
        char full[4096];
        int len = snprintf(full, sizeof(full), "%s/%s", path, names[i]->d_name);

        if (len > 0 && (size_t)len < sizeof(full) && stat(full, &st) == 0 && S_ISREG(st.st_mode) &&
            l->n < REPLAY_MAX_FILES)
            list_add(l, full);
        free(names[i]);
    }
    free(names);
}

/* Reads at most REPLAY_MAX_BYTES of <path> into an exact-size heap block (so ASan sees reads
 * past the end); *cut says whether there was more. Returns NULL with errno set on failure. */
static uint8_t *read_bounded(const char *path, size_t *size, bool *cut)
{
    char more;
    uint8_t *buf = malloc(REPLAY_MAX_BYTES), *exact;
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int saved;

    if (buf == NULL || fd < 0)
        goto fail;
    while (len < REPLAY_MAX_BYTES) {
        ssize_t n = read(fd, buf + len, REPLAY_MAX_BYTES - len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto fail;
        if (n == 0)
            break;
        len += (size_t)n;
    }
    *cut = len == REPLAY_MAX_BYTES && read(fd, &more, 1) == 1;
    close(fd);
    exact = malloc(len ? len : 1);
    if (exact == NULL) {
        free(buf);
        return NULL;
    }
    memcpy(exact, buf, len);
    free(buf);
    *size = len;
    return exact;

fail:
    saved = errno;
    if (fd >= 0)
        close(fd);
    free(buf);
    errno = saved;
    return NULL;
}

int main(int argc, char **argv)
{
    struct file_list l = {0};
    int failed = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++)
        collect(&l, argv[i]);
    printf("1..%zu\n", l.n);
    for (size_t i = 0; i < l.n; i++) {
        size_t size = 0;
        bool cut = false;
        uint8_t *data = read_bounded(l.paths[i], &size, &cut);

        if (data == NULL) {
            printf("not ok %zu - %s # %s\n", i + 1, l.paths[i], strerror(errno));
            failed = 1;
        } else {
            if (cut)
                printf("# %s: only the first %u bytes\n", l.paths[i], REPLAY_MAX_BYTES);
            fflush(stdout); /* what ran before a crash is on record */
            LLVMFuzzerTestOneInput(data, size);
            free(data);
            printf("ok %zu - %s\n", i + 1, l.paths[i]);
        }
        fflush(stdout);
        free(l.paths[i]);
    }
    free(l.paths);
    return failed;
}
