/*
 * libFuzzer harness for cron specifications (flow_cron_parse, flow_cron_next). Beyond "no
 * crash, no leak" it checks that:
 *   - a refused spec gets ERR_INVALID and a message that starts with `cron "`;
 *   - a parsed spec has only in-range bits, none of its sets empty, and a '*' day field all set;
 *   - from a few start times flow_cron_next() gives 0 or a whole minute strictly after the
 *     start that the spec matches (checked field by field with gmtime_r), with no match in the
 *     minute before it (unless that is the start's own minute), and asking again from just
 *     before that minute gives the same minute.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "base/base.h"
#include "flow/flow-int.h"

#define MIN_MS UINT64_C(60000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t all(unsigned lo, unsigned hi)
{
    return ((UINT64_C(2) << hi) - 1) & ~((UINT64_C(1) << lo) - 1);
}

static void check_sets(const struct flow_cron_spec *c)
{
    ASSERT(c->minutes != 0 && (c->minutes & ~all(0, 59)) == 0);
    ASSERT(c->hours != 0 && (c->hours & ~all(0, 23)) == 0);
    ASSERT(c->mdays != 0 && (c->mdays & ~all(1, 31)) == 0);
    ASSERT(c->months != 0 && (c->months & ~all(1, 12)) == 0);
    ASSERT(c->wdays != 0 && (c->wdays & ~all(0, 6)) == 0);
    ASSERT(!c->mday_any || c->mdays == all(1, 31));
    ASSERT(!c->wday_any || c->wdays == all(0, 6));
}

/* Whether minute <ms> is one of <c>'s, from gmtime_r's fields and the cron rules. */
static bool matches(const struct flow_cron_spec *c, uint64_t ms)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    bool dom, dow, day;

    ASSERT(gmtime_r(&s, &tm) != NULL);
    dom = c->mdays >> tm.tm_mday & 1;
    dow = c->wdays >> tm.tm_wday & 1;
    if (c->mday_any || c->wday_any)
        day = (c->mday_any || dom) && (c->wday_any || dow);
    else
        day = dom || dow;
    return day && (c->months >> (tm.tm_mon + 1) & 1) && (c->hours >> tm.tm_hour & 1) &&
           (c->minutes >> tm.tm_min & 1);
}

static void check_next(const struct flow_cron_spec *c, uint64_t after)
{
    uint64_t got = flow_cron_next(c, after);

    if (got == 0)
        return;
    ASSERT(got % MIN_MS == 0 && got > after && matches(c, got));
    if (got - MIN_MS > after) /* the minute before was a candidate too: it must not match */
        ASSERT(!matches(c, got - MIN_MS));
    ASSERT(flow_cron_next(c, got - 1) == got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint64_t starts[] = {
        0, UINT64_C(1767225600000), /* 2026-01-01T00:00:00Z, on a minute */
        UINT64_C(1709251170500),    /* 2024-02-29T23:59:30.5Z, a leap day's last minute */
        UINT64_C(4102444799999),    /* 2099-12-31T23:59:59.999Z, before a century's non-leap year */
    };
    struct flow_cron_spec c;
    struct err err = {0};
    uint64_t h = 1469598103934665603u;

    if (flow_cron_parse((struct slice){(const char *)data, size}, &c, &err) != 0) {
        ASSERT(err.code == ERR_INVALID && strncmp(err.msg, "cron \"", 6) == 0);
        return 0;
    }
    check_sets(&c);
    for (size_t i = 0; i < ARRAY_LEN(starts); i++)
        check_next(&c, starts[i]);
    for (size_t i = 0; i < size; i++) /* one more start, from the input: 1970 … ~2300 */
        h = (h ^ data[i]) * 1099511628211u;
    check_next(&c, h % UINT64_C(10000000000000));
    return 0;
}
