/*
 * Cron specifications (Vixie syntax, UTC) and the next time one fires.
 *
 * Five fields separated by spaces or tabs: minute, hour, day of the month, month, day of the
 * week; at most 256 bytes in all. A field is a comma-separated list of items. An item is '*',
 * a value or a range "a-b" (a <= b), where a value is a number or, in the month and weekday
 * fields, a three-letter English name in any case; any of these may take a step "/n". A star
 * or "a-b" with a step takes every n-th value of its range; "a/n" runs from a to the end of
 * the field. In the two day fields '?' means '*'. Weekday 7 is Sunday like 0; the open end of
 * '*' and "a/n" in that field is Saturday (6), so "1/2" means Monday, Wednesday and Friday.
 *
 * When both day fields are restricted a day matches when either of them does (classic cron):
 * "0 0 1 * mon" fires on the first of the month and on every Monday. A day field counts as
 * unrestricted only when it is exactly "*" or "?"; unlike Vixie cron, a star with a step is a
 * restriction.
 *
 * The macros @yearly (= @annually), @monthly, @weekly, @daily (= @midnight) and @hourly stand
 * for the usual five fields (in any case); @reboot has no meaning for a scheduler that lives in a
 * database.
 */
#include <stdio.h>
#include <time.h>

#include "base/base.h"
#include "flow/flow-int.h"

#define CRON_MAX_BYTES 256
#define CRON_FIELDS    5
#define ECHO_MAX       48             /* bytes of the spec quoted back in an error */
#define ECHO_SIZE      (ECHO_MAX + 4) /* ... and "..." and the NUL */
#define MS_PER_MIN     UINT64_C(60000)
/* Past this a result five years on would not fit in a uint64_t of milliseconds. */
#define AFTER_MS_MAX (UINT64_MAX - UINT64_C(7) * 366 * 1440 * MS_PER_MIN)

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const wday_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

/* What one field accepts. */
struct field_def {
    const char *name;
    unsigned min, max;        /* numbers accepted */
    unsigned top;             /* where "*" and "a/n" end */
    const char *const *names; /* names of min, min+1, …; NULL when the field has none */
    unsigned nnames;
    const char *name_kind; /* "month", "day": for the error */
    bool day;              /* '?' is allowed */
};

static const struct field_def fields[CRON_FIELDS] = {
    {"minute", 0, 59, 59, NULL, 0, NULL, false},
    {"hour", 0, 23, 23, NULL, 0, NULL, false},
    {"day-of-month", 1, 31, 31, NULL, 0, NULL, true},
    {"month", 1, 12, 12, month_names, 12, "month", false},
    {"day-of-week", 0, 7, 6, wday_names, 7, "day", true},
};

/* One parse: the whole spec for error messages and the field being read. */
struct parser {
    struct slice spec;
    const struct field_def *f;
    struct err *err;
};

/* ERR_INVALID with `cron "<spec>": <field>: <rule>` (no field before one is being read). */
static int fail(const struct parser *p, const char *fmt, ...) APP_PRINTF(2, 3);
static int fail(const struct parser *p, const char *fmt, ...)
{
    char rule[160], shown[ECHO_SIZE];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(rule, sizeof(rule), fmt, ap);
    va_end(ap);
    return err_set(p->err, ERR_INVALID, "cron \"%s\": %s%s%s", slice_echo(shown, ECHO_MAX, p->spec),
                   p->f ? p->f->name : "", p->f ? ": " : "", rule);
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* A number or, where the field has them, a name; checked against the field's range. */
static int parse_value(const struct parser *p, struct slice tok, unsigned *out)
{
    const struct field_def *f = p->f;
    char shown[ECHO_SIZE];
    uint64_t v;
    int rc;

    for (unsigned i = 0; i < f->nnames; i++) {
        if (slice_case_eq_cstr(tok, f->names[i])) {
            *out = f->min + i;
            return 0;
        }
    }
    if (tok.len == 0)
        return fail(p, "a value is missing");
    rc = slice_to_u64(tok, &v);
    if (rc == ERR_INVALID && f->names != NULL)
        return fail(p, "\"%s\" is neither a number nor a %s name", slice_echo(shown, ECHO_MAX, tok),
                    f->name_kind);
    if (rc == ERR_INVALID)
        return fail(p, "\"%s\" is not a number", slice_echo(shown, ECHO_MAX, tok));
    if (rc < 0 || v < f->min || v > f->max)
        return fail(p, "%s is out of range %u-%u", slice_echo(shown, ECHO_MAX, tok), f->min,
                    f->max);
    *out = (unsigned)v;
    return 0;
}

static int parse_step(const struct parser *p, struct slice tok, unsigned *out)
{
    char shown[ECHO_SIZE];
    uint64_t v;
    int rc = slice_to_u64(tok, &v);

    if (rc == ERR_INVALID)
        return fail(p, "step \"%s\" is not a number", slice_echo(shown, ECHO_MAX, tok));
    if (rc == 0 && v == 0)
        return fail(p, "step must be at least 1");
    if (rc < 0 || v > p->f->max) /* a bigger step could never reach a second value */
        return fail(p, "step must be at most %u, got %s", p->f->max,
                    slice_echo(shown, ECHO_MAX, tok));
    *out = (unsigned)v;
    return 0;
}

/* The range an item without its step covers: "*", "?", "a" or "a-b". *single says whether
 * it was one value (which a step then stretches to the end of the field). */
static int parse_range(const struct parser *p, struct slice tok, unsigned *lo, unsigned *hi,
                       bool *single)
{
    struct slice first;
    int rc;

    *single = false;
    if (slice_eq_cstr(tok, "?") && !p->f->day)
        return fail(p, "\"?\" is only allowed in the day fields");
    if (slice_eq_cstr(tok, "*") || slice_eq_cstr(tok, "?")) {
        *lo = p->f->min;
        *hi = p->f->top;
        return 0;
    }
    *single = !slice_split(&tok, '-', &first);
    rc = parse_value(p, first, lo);
    if (rc < 0 || *single) {
        *hi = *lo;
        return rc;
    }
    rc = parse_value(p, tok, hi);
    if (rc == 0 && *lo > *hi)
        return fail(p, "range %u-%u runs backwards", *lo, *hi);
    return rc;
}

/* One item of a list: a range with an optional step; sets its values in *bits. */
static int parse_item(const struct parser *p, struct slice item, uint64_t *bits)
{
    struct slice range;
    unsigned lo = 0, hi = 0, step = 1;
    bool single, stepped;
    int rc;

    if (item.len == 0)
        return fail(p, "empty list item");
    stepped = slice_split(&item, '/', &range);
    if (stepped) {
        rc = parse_step(p, item, &step);
        if (rc < 0)
            return rc;
    }
    rc = parse_range(p, range, &lo, &hi, &single);
    if (rc < 0)
        return rc;
    if (single && stepped) /* "a/n" is "a-<end>/n"; past the end ("7/2") it is just a */
        hi = p->f->top > lo ? p->f->top : lo;
    for (unsigned v = lo; v <= hi; v += step)
        *bits |= UINT64_C(1) << v;
    return 0;
}

static int parse_field(struct parser *p, struct slice field, uint64_t *bits, bool *any)
{
    struct slice item;
    int rc;

    *bits = 0;
    *any = slice_eq_cstr(field, "*") || slice_eq_cstr(field, "?");
    do {
        bool more = slice_split(&field, ',', &item);

        rc = parse_item(p, item, bits);
        if (rc < 0)
            return rc;
        if (more && field.len == 0)
            return fail(p, "empty list item");
    } while (field.len > 0);
    return 0;
}

/* Splits <s> at runs of spaces and tabs into at most CRON_FIELDS fields; *n gets how many
 * there were in all. */
static void split_fields(struct slice s, struct slice out[CRON_FIELDS], size_t *n)
{
    size_t i = 0;

    *n = 0;
    while (i < s.len) {
        size_t start;

        while (i < s.len && is_blank(s.ptr[i]))
            i++;
        if (i == s.len)
            break;
        start = i;
        while (i < s.len && !is_blank(s.ptr[i]))
            i++;
        if (*n < CRON_FIELDS)
            out[*n] = (struct slice){s.ptr + start, i - start};
        (*n)++;
    }
}

static int parse_fields(struct parser *p, struct slice s, struct flow_cron_spec *out)
{
    struct slice f[CRON_FIELDS];
    uint64_t bits[CRON_FIELDS];
    bool any[CRON_FIELDS];
    size_t n;

    split_fields(s, f, &n);
    if (n != CRON_FIELDS)
        return fail(p, "expected 5 fields, got %zu", n);
    for (size_t i = 0; i < CRON_FIELDS; i++) {
        p->f = &fields[i];
        if (parse_field(p, f[i], &bits[i], &any[i]) < 0)
            return ERR_INVALID;
    }
    if (bits[4] & (UINT64_C(1) << 7)) /* 7 is Sunday too */
        bits[4] = (bits[4] | 1) & 0x7f;
    *out = (struct flow_cron_spec){
        .minutes = bits[0],
        .hours = (uint32_t)bits[1],
        .mdays = (uint32_t)bits[2],
        .months = (uint16_t)bits[3],
        .wdays = (uint8_t)bits[4],
        .mday_any = any[2],
        .wday_any = any[4],
    };
    return 0;
}

static int parse_macro(struct parser *p, struct slice s, struct flow_cron_spec *out)
{
    static const struct {
        const char *name, *fields;
    } macros[] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},
    };

    for (size_t i = 0; i < ARRAY_LEN(macros); i++)
        if (slice_case_eq_cstr(s, macros[i].name))
            return parse_fields(p, slice_from_cstr(macros[i].fields), out);
    return fail(p, "unknown macro (want @yearly, @annually, @monthly, @weekly, @daily, "
                   "@midnight or @hourly)");
}

int flow_cron_parse(struct slice spec, struct flow_cron_spec *out, struct err *err)
{
    struct parser p = {.spec = spec, .err = err};
    struct slice s;

    if (spec.len > CRON_MAX_BYTES)
        return fail(&p, "longer than %d bytes", CRON_MAX_BYTES);
    s = slice_trim(spec);
    if (s.len > 0 && s.ptr[0] == '@')
        return parse_macro(&p, s, out);
    return parse_fields(&p, s, out);
}

/* ---------------------------------------------------------------- next */

/* A minute of the proleptic Gregorian calendar, UTC; fields may run one past their end
 * (mday 32, hour 24) on the way to the next match. */
struct when {
    int64_t year;
    unsigned mon, mday, hour, min; /* 1-12, 1-31, 0-23, 0-59 */
};

/* Days from 1970-01-01 to <y>-<m>-<d> (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : dim[m - 1];
}

static uint64_t when_to_ms(const struct when *w)
{
    int64_t days = days_from_civil(w->year, w->mon, w->mday);

    return ((uint64_t)days * 1440 + w->hour * 60 + w->min) * MS_PER_MIN;
}

static bool when_from_ms(uint64_t ms, struct when *w)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL)
        return false;
    *w = (struct when){(int64_t)tm.tm_year + 1900, (unsigned)tm.tm_mon + 1, (unsigned)tm.tm_mday,
                       (unsigned)tm.tm_hour, (unsigned)tm.tm_min};
    return true;
}

/* The lowest bit of <set> in <from>..<max>, or -1. */
static int next_bit(uint64_t set, unsigned from, unsigned max)
{
    if (from > max)
        return -1;
    set >>= from;
    set &= (UINT64_C(2) << (max - from)) - 1;
    return set == 0 ? -1 : (int)from + __builtin_ctzll(set);
}

static bool day_matches(const struct flow_cron_spec *c, unsigned mday, unsigned wday)
{
    bool by_mday = c->mdays & (UINT32_C(1) << mday);
    bool by_wday = c->wdays & (1u << wday);

    if (c->mday_any)
        return c->wday_any || by_wday;
    if (c->wday_any)
        return by_mday;
    return by_mday || by_wday;
}

/* The first day of w's month from w->mday on that <c> matches, or -1. */
static int next_day(const struct flow_cron_spec *c, const struct when *w)
{
    unsigned dim = days_in_month(w->year, w->mon);
    unsigned wday = (unsigned)((days_from_civil(w->year, w->mon, w->mday) + 4) % 7);

    for (unsigned d = w->mday; d <= dim; d++, wday = (wday + 1) % 7)
        if (day_matches(c, d, wday))
            return (int)d;
    return -1;
}

static void next_month(struct when *w)
{
    *w = w->mon == 12 ? (struct when){w->year + 1, 1, 1, 0, 0}
                      : (struct when){w->year, w->mon + 1, 1, 0, 0};
}

/* Moves *w to the first minute from *w on that <c> matches, field by field from the month
 * down: a field without a match from here on moves the next larger field on and starts over.
 * False when no match comes before <last_year> ends. */
static bool search(const struct flow_cron_spec *c, struct when *w, int64_t last_year)
{
    while (w->year <= last_year) {
        int v = next_bit(c->months, w->mon, 12);

        if (v < 0) {
            *w = (struct when){w->year + 1, 1, 1, 0, 0};
            continue;
        }
        if ((unsigned)v != w->mon)
            *w = (struct when){w->year, (unsigned)v, 1, 0, 0};
        v = next_day(c, w);
        if (v < 0) {
            next_month(w);
            continue;
        }
        if ((unsigned)v != w->mday)
            *w = (struct when){w->year, w->mon, (unsigned)v, 0, 0};
        v = next_bit(c->hours, w->hour, 23);
        if (v < 0) {
            *w = (struct when){w->year, w->mon, w->mday + 1, 0, 0};
            continue;
        }
        if ((unsigned)v != w->hour)
            *w = (struct when){w->year, w->mon, w->mday, (unsigned)v, 0};
        v = next_bit(c->minutes, w->min, 59);
        if (v >= 0) {
            w->min = (unsigned)v;
            return true;
        }
        *w = (struct when){w->year, w->mon, w->mday, w->hour + 1, 0};
    }
    return false;
}

/* Searching field by field costs a few steps in all for a usual spec and one step per day of
 * the five years at worst (a day that matches with no hour that does), never one per minute. */
uint64_t flow_cron_next(const struct flow_cron_spec *c, uint64_t after_ms)
{
    struct when start, w, limit;

    if (after_ms > AFTER_MS_MAX || !when_from_ms(after_ms, &start) ||
        !when_from_ms(after_ms - after_ms % MS_PER_MIN + MS_PER_MIN, &w))
        return 0;
    /* Five calendar years on, to the minute; Feb 29 becomes Feb 28. */
    limit = start;
    limit.year += 5;
    if (limit.mday > days_in_month(limit.year, limit.mon))
        limit.mday = days_in_month(limit.year, limit.mon);
    if (!search(c, &w, limit.year) || when_to_ms(&w) > when_to_ms(&limit))
        return 0;
    return when_to_ms(&w);
}
