/* Assertions, aborting allocators, clocks and the duration/size parsers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"

/* Copies <s> into <out> as the inside of a JSON string, cut to fit; no allocation, as the
 * abort path must not depend on the heap. */
static void json_chars(char *out, size_t cap, const char *s)
{
    size_t n = 0;

    for (; *s && n + 2 < cap; s++) {
        if ((unsigned char)*s < 0x20)
            continue;
        if (*s == '"' || *s == '\\')
            out[n++] = '\\';
        out[n++] = *s;
    }
    out[n] = '\0';
}

void base_assert_fail(const char *expr, const char *file, int line)
{
    char msg[512], e[256], f[128];
    int n;

    json_chars(e, sizeof(e), expr); /* `ASSERT(strcmp(s, "x") == 0)` has quotes */
    json_chars(f, sizeof(f), file);
    n = snprintf(msg, sizeof(msg),
                 "{\"lvl\":\"error\",\"ev\":\"assert.failed\",\"expr\":\"%s\","
                 "\"at\":\"%s:%d\"}\n",
                 e, f, line);
    if (n > 0)
        (void)!write(2, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
    abort();
}

static APP_NORETURN void out_of_memory(size_t n)
{
    char msg[128];
    int len = snprintf(msg, sizeof(msg), "{\"lvl\":\"error\",\"ev\":\"oom\",\"bytes\":%zu}\n", n);

    if (len > 0)
        (void)!write(2, msg, (size_t)len);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
        out_of_memory(n);
    return p;
}

void *xcalloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);

    if (p == NULL)
        out_of_memory(count * n);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (q == NULL)
        out_of_memory(n);
    return q;
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);

    if (n > 0)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;

    return memcpy(xmalloc(n), s, n);
}

uint64_t time_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t time_mono_ms(void)
{
    return time_mono_ns() / 1000000u;
}

uint64_t time_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void time_rfc3339_ms(uint64_t ms, char out[32])
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&secs, &tm);
    /* the modulos bound every field for the compiler; the values are in range anyway */
    snprintf(out, 32, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", (unsigned)(tm.tm_year + 1900) % 10000,
             (unsigned)(tm.tm_mon + 1) % 100, (unsigned)tm.tm_mday % 100,
             (unsigned)tm.tm_hour % 100, (unsigned)tm.tm_min % 100, (unsigned)tm.tm_sec % 100,
             (unsigned)(ms % 1000));
}

/* Splits "<digits><unit>" into its number and unit. */
static int number_and_unit(struct slice s, uint64_t *num, struct slice *unit)
{
    size_t i = 0;

    s = slice_trim(s);
    while (i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9')
        i++;
    if (i == 0)
        return ERR_INVALID;
    *unit = slice_trim((struct slice){s.ptr + i, s.len - i});
    return slice_to_u64((struct slice){s.ptr, i}, num);
}

struct unit_scale {
    const char *name;
    uint64_t mult;
};

static int scaled(struct slice s, const struct unit_scale *units, size_t n, uint64_t limit,
                  uint64_t *out)
{
    struct slice unit;
    uint64_t num;
    int rc = number_and_unit(s, &num, &unit);

    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (!slice_eq_cstr(unit, units[i].name))
            continue;
        if (num > limit / units[i].mult)
            return ERR_LIMIT;
        *out = num * units[i].mult;
        return 0;
    }
    return ERR_INVALID;
}

int parse_duration_ms(struct slice s, uint64_t *out_ms)
{
    static const struct unit_scale units[] = {
        {"ms", 1}, {"", 1000}, {"s", 1000}, {"m", 60000}, {"h", 3600000u}, {"d", 86400000u},
    };

    return scaled(s, units, ARRAY_LEN(units), 366ull * 86400000u, out_ms);
}

int parse_size(struct slice s, uint64_t *out)
{
    static const struct unit_scale units[] = {
        {"", 1},
        {"B", 1},
        {"KiB", 1ull << 10},
        {"MiB", 1ull << 20},
        {"GiB", 1ull << 30},
        {"TiB", 1ull << 40},
        {"kB", 1000},
        {"MB", 1000000},
        {"GB", 1000000000},
    };

    return scaled(s, units, ARRAY_LEN(units), 1ull << 40, out);
}
