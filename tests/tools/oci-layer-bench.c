/*
 * Layer-writing throughput: makes a directory of <mb> MiB of mixed files (half random bytes,
 * half text, sizes from 1 KiB to 1 MiB), then writes it as a layer with each compression and
 * prints MB/s of input (1 MB = 10^6 bytes). bench/build.sh runs it; docs/images.md keeps the
 * figures that chose OCI_GZIP_LEVEL_DEFAULT.
 *
 *   build/release/tests/oci-layer-bench [mb=256] [scratch dir=/tmp]
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "oci/oci.h"

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void fill_random(unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = next();

        memcpy(p + i, &v, n - i < 8 ? n - i : 8);
    }
}

/* Source-like text: words, spaces and newlines, which compress about as code does. */
static void fill_text(unsigned char *p, size_t n)
{
    static const char *const words[] = {
        "const", "return", "function", "require",  "module", "exports", "if",     "else",
        "for",   "while",  "await",    "async",    "import", "from",    "class",  "this",
        "value", "result", "request",  "response", "error",  "data",    "config", "server",
        "=",     "{",      "}",        "(",        ")",      ";",       "=>",     "null"};
    size_t i = 0;

    while (i < n) {
        const char *w = words[next() % ARRAY_LEN(words)];
        size_t len = strlen(w);

        for (size_t k = 0; k < len && i < n; k++)
            p[i++] = (unsigned char)w[k];
        if (i < n)
            p[i++] = next() % 9 == 0 ? '\n' : ' ';
    }
}

/* Writes <total> bytes of files under <dir>; returns how many files. */
static size_t make_tree(const char *dir, uint64_t total)
{
    unsigned char *buf = xmalloc(1 << 20);
    uint64_t done = 0;
    size_t files = 0;
    char path[4096];

    while (done < total) {
        size_t n = (size_t)(1024 + next() % ((1 << 20) - 1024));
        FILE *f;

        if (n > total - done)
            n = (size_t)(total - done);
        if (files % 64 == 0) {
            snprintf(path, sizeof(path), "%s/d%zu", dir, files / 64);
            mkdir(path, 0755);
        }
        (files % 2 ? fill_text : fill_random)(buf, n);
        snprintf(path, sizeof(path), "%s/d%zu/f%zu%s", dir, files / 64, files,
                 files % 2 ? ".js" : ".bin");
        f = fopen(path, "wb");
        if (f == NULL || fwrite(buf, 1, n, f) != n || fclose(f) != 0) {
            fprintf(stderr, "oci-layer-bench: cannot write %s\n", path);
            exit(1);
        }
        done += n;
        files++;
    }
    free(buf);
    return files;
}

/* CPU seconds this process has used (user + system). */
static double cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void bench(const char *label, const char *src, const char *store, enum oci_compression c,
                  int level, uint64_t total)
{
    struct oci_layer_opts o = {.compression = c, .level = level};
    struct oci_layer l;
    struct err err = {0};
    uint64_t t0 = time_mono_ns(), ns;
    double c0 = cpu_s(), cpu;

    if (oci_layer_from_dir(src, &o, store, &l, &err) != 0) {
        fprintf(stderr, "oci-layer-bench: %s\n", err.msg);
        exit(1);
    }
    ns = time_mono_ns() - t0;
    cpu = cpu_s() - c0;
    /* Per CPU second too: on a shared machine the wall-clock figure says how busy it is. */
    printf("%-22s %7.1f MB/s  (%7.1f MB per CPU s)  blob %5.1f%% of input  %s\n", label,
           (double)total / 1e6 / ((double)ns / 1e9), (double)total / 1e6 / (cpu > 0 ? cpu : 1e-9),
           100.0 * (double)l.blob.size / (double)total, l.blob.digest);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    uint64_t mb = argc > 1 ? strtoull(argv[1], NULL, 10) : 256;
    const char *scratch = argc > 2 ? argv[2] : "/tmp";
    char root[1024], src[1100], store[1100], cmd[1200];
    uint64_t total = mb << 20;
    size_t files;

    snprintf(root, sizeof(root), "%s/oci-layer-bench-XXXXXX", scratch);
    if (mb == 0 || mkdtemp(root) == NULL) {
        fprintf(stderr, "usage: oci-layer-bench [MiB > 0] [scratch dir]\n");
        return 2;
    }
    snprintf(src, sizeof(src), "%s/src", root);
    snprintf(store, sizeof(store), "%s/store", root);
    mkdir(src, 0755);
    files = make_tree(src, total);
    printf("input: %" PRIu64 " MiB in %zu files (half random bytes, half text)\n", mb, files);
    bench("gzip level 1", src, store, OCI_COMP_GZIP, 1, total);
    bench("gzip level 6 (zlib's)", src, store, OCI_COMP_GZIP, 6, total);
    bench("zstd level 1", src, store, OCI_COMP_ZSTD, 1, total);
    bench("zstd level 3", src, store, OCI_COMP_ZSTD, 3, total);
    bench("uncompressed", src, store, OCI_COMP_NONE, 0, total);
    printf("defaults: gzip level %d, zstd level %d\n", OCI_GZIP_LEVEL_DEFAULT,
           OCI_ZSTD_LEVEL_DEFAULT);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : 1;
}
