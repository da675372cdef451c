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

void cond_init_mono(pthread_cond_t *cv)
{
    pthread_condattr_t attr;

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &attr);
    pthread_condattr_destroy(&attr);
}

int cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *m, uint64_t at_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(at_ns / 1000000000u),
                          .tv_nsec = (long)(at_ns % 1000000000u)};

    return pthread_cond_timedwait(cv, m, &ts);
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

#define TIME_MAX_MS UINT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */

/* <n> decimal digits at <p> into *out. */
static bool digits(const char *p, int n, int *out)
{
    *out = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        *out = *out * 10 + (p[i] - '0');
    }
    return true;
}

/* The ".123" and "Z" / "+02:00" after the seconds: milliseconds and the offset in minutes. */
static bool rfc3339_tail(const char *p, const char *end, uint64_t *ms, int *offset_min)
{
    int hh, mm, nd = 0;

    *ms = 0;
    if (p < end && *p == '.') {
        for (p++; p < end && *p >= '0' && *p <= '9'; p++, nd++)
            if (nd < 3)
                *ms = *ms * 10 + (uint64_t)(*p - '0');
        if (nd == 0)
            return false;
        for (; nd < 3; nd++)
            *ms *= 10;
    }
    *offset_min = 0;
    if (end - p == 1 && (*p == 'Z' || *p == 'z'))
        return true;
    if (end - p != 6 || (*p != '+' && *p != '-') || !digits(p + 1, 2, &hh) || p[3] != ':' ||
        !digits(p + 4, 2, &mm) || hh > 23 || mm > 59)
        return false;
    *offset_min = (*p == '-' ? -1 : 1) * (hh * 60 + mm);
    return true;
}

/* An RFC 3339 date-time with a zone ("2026-01-05T10:00:00Z", "…T10:00:00.5+02:00") as Unix
 * milliseconds; false when <s> is not one or is before 1970. */
static bool rfc3339_ms(struct slice s, uint64_t *out)
{
    const char *p = s.ptr;
    struct tm tm = {0};
    int y, mo, d, h, mi, sec, off;
    uint64_t ms;
    time_t t;

    if (s.len < 20 || !digits(p, 4, &y) || p[4] != '-' || !digits(p + 5, 2, &mo) || p[7] != '-' ||
        !digits(p + 8, 2, &d) || (p[10] != 'T' && p[10] != 't' && p[10] != ' ') ||
        !digits(p + 11, 2, &h) || p[13] != ':' || !digits(p + 14, 2, &mi) || p[16] != ':' ||
        !digits(p + 17, 2, &sec) || !rfc3339_tail(p + 19, p + s.len, &ms, &off))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 60)
        return false;
    tm = (struct tm){.tm_year = y - 1900,
                     .tm_mon = mo - 1,
                     .tm_mday = d,
                     .tm_hour = h,
                     .tm_min = mi,
                     .tm_sec = sec == 60 ? 59 : sec};
    t = timegm(&tm);
    if (tm.tm_mday != d || tm.tm_mon != mo - 1) /* the 31st of a month of 30 days */
        return false;
    t -= (time_t)off * 60;
    if (t < 0)
        return false;
    *out = (uint64_t)t * 1000 + ms;
    return true;
}

int parse_time_ms(struct slice s, uint64_t *out_ms)
{
    uint64_t v;

    if (slice_to_u64(s, &v) == 0 && v <= TIME_MAX_MS) {
        *out_ms = v;
        return 0;
    }
    return rfc3339_ms(s, out_ms) ? 0 : ERR_INVALID;
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
