/*
 * Shell helpers the oci tests share: layers and images are checked with the tools people
 * use on them (tar, gzip, sha256sum, skopeo).
 */
#ifndef SLIPWAY_TEST_OCI_H
#define SLIPWAY_TEST_OCI_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* Runs a shell command; returns its status (0 when it succeeded). */
static inline int sh_status(const char *fmt, ...) APP_PRINTF(1, 2);
static inline int sh_status(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

/* The output of a shell command that must succeed (at most 256 KiB), NUL-terminated;
 * free() it. */
static inline char *run(const char *fmt, ...) APP_PRINTF(1, 2);
static inline char *run(const char *fmt, ...)
{
    struct sbuf out = SBUF_INIT(256 << 10);
    char cmd[2048], buf[4096];
    va_list ap;
    size_t n;
    FILE *p;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    p = popen(cmd, "r");
    CHECK(p != NULL);
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
        sbuf_put(&out, buf, n);
    if (pclose(p) != 0)
        test_fail(__FILE__, __LINE__, "command failed: %s", cmd);
    return sbuf_take(&out, &n);
}

#endif
