/*
 * What the unit tests that run real containers share (rt, dep): whether runc can run here, and
 * a shell command that must succeed. Include after "test.h".
 */
#ifndef SLIPWAY_TEST_CONTAINER_H
#define SLIPWAY_TEST_CONTAINER_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* True when this process may run containers: root, and runc installed; else says why. */
static inline bool can_run(void)
{
    if (geteuid() != 0) {
        printf("# skip: the runtime needs root for runc\n");
        return false;
    }
    if (access("/usr/sbin/runc", X_OK) != 0 && access("/usr/bin/runc", X_OK) != 0) {
        printf("# skip: runc is not installed (scripts/bootstrap)\n");
        return false;
    }
    return true;
}

/* Runs a shell command made from <fmt>, which must exit 0. */
static inline void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    CHECK(system(cmd) == 0);
}

#endif
