#include <time.h>

#include "../test.h"
#include "base/base.h"
#include "flow/flow-int.h"

#define MIN_MS UINT64_C(60000)
#define DAY_MS (UINT64_C(86400) * 1000)

/* Unix ms of a UTC date and time. */
static uint64_t at(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {
        .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};

    return (uint64_t)timegm(&tm) * 1000;
}

/* Parses <s> (which must be valid) into *c, failing the test with the message otherwise. */
static void parse_ok(const char *s, struct flow_cron_spec *c)
{
    struct err err = {0};
    int rc = flow_cron_parse(slice_from_cstr(s), c, &err);

    if (rc != 0)
        test_fail(__FILE__, __LINE__, "\"%s\": %d (%s)", s, rc, err.msg);
}

/* flow_cron_next of <spec> from <after>. */
static uint64_t next_of(const char *spec, uint64_t after)
{
    struct flow_cron_spec c;

    parse_ok(spec, &c);
    return flow_cron_next(&c, after);
}

/* Bits lo..hi, every <step>-th. */
static uint64_t bits(unsigned lo, unsigned hi, unsigned step)
{
    uint64_t b = 0;

    for (unsigned v = lo; v <= hi; v += step)
        b |= UINT64_C(1) << v;
    return b;
}

/* ---------------------------------------------------------------- parsing */

TEST(cron_parse_stars)
{
    struct flow_cron_spec c;

    parse_ok("* * * * *", &c);
    CHECK_UINT_EQ(c.minutes, bits(0, 59, 1));
    CHECK_UINT_EQ(c.hours, bits(0, 23, 1));
    CHECK_UINT_EQ(c.mdays, bits(1, 31, 1));
    CHECK_UINT_EQ(c.months, bits(1, 12, 1));
    CHECK_UINT_EQ(c.wdays, bits(0, 6, 1));
    CHECK(c.mday_any && c.wday_any);
    parse_ok("* * ? * ?", &c);
    CHECK_UINT_EQ(c.mdays, bits(1, 31, 1));
    CHECK_UINT_EQ(c.wdays, bits(0, 6, 1));
    CHECK(c.mday_any && c.wday_any);
}

TEST(cron_parse_values_ranges_lists)
{
    struct flow_cron_spec c;

    parse_ok("5 23 31 12 6", &c);
    CHECK_UINT_EQ(c.minutes, bits(5, 5, 1));
    CHECK_UINT_EQ(c.hours, bits(23, 23, 1));
    CHECK_UINT_EQ(c.mdays, bits(31, 31, 1));
    CHECK_UINT_EQ(c.months, bits(12, 12, 1));
    CHECK_UINT_EQ(c.wdays, bits(6, 6, 1));
    CHECK(!c.mday_any && !c.wday_any);
    parse_ok("0-4,10,58-59 9-17 1-1 2-3 1-5", &c);
    CHECK_UINT_EQ(c.minutes, bits(0, 4, 1) | bits(10, 10, 1) | bits(58, 59, 1));
    CHECK_UINT_EQ(c.hours, bits(9, 17, 1));
    CHECK_UINT_EQ(c.mdays, bits(1, 1, 1));
    CHECK_UINT_EQ(c.months, bits(2, 3, 1));
    CHECK_UINT_EQ(c.wdays, bits(1, 5, 1));
    parse_ok("007 00 01 01 00", &c); /* leading zeros */
    CHECK_UINT_EQ(c.minutes, bits(7, 7, 1));
    CHECK_UINT_EQ(c.wdays, 1);
    parse_ok("1,1,1 *,3 * * *", &c); /* repeats and a star in a list */
    CHECK_UINT_EQ(c.minutes, 2);
    CHECK_UINT_EQ(c.hours, bits(0, 23, 1));
}

TEST(cron_parse_steps)
{
    struct flow_cron_spec c;

    parse_ok("*/15 */5 */10 */3 */2", &c);
    CHECK_UINT_EQ(c.minutes, bits(0, 45, 15));
    CHECK_UINT_EQ(c.hours, bits(0, 20, 5));
    CHECK_UINT_EQ(c.mdays, bits(1, 31, 10)); /* 1, 11, 21, 31 */
    CHECK_UINT_EQ(c.months, bits(1, 10, 3)); /* 1, 4, 7, 10 */
    CHECK_UINT_EQ(c.wdays, bits(0, 6, 2));
    CHECK(!c.mday_any && !c.wday_any); /* a star with a step restricts */
    parse_ok("10-20/5 1-23/7 5-6/1 jan-dec/4 mon-fri/2", &c);
    CHECK_UINT_EQ(c.minutes, bits(10, 20, 5));
    CHECK_UINT_EQ(c.hours, bits(1, 22, 7));
    CHECK_UINT_EQ(c.mdays, bits(5, 6, 1));
    CHECK_UINT_EQ(c.months, bits(1, 9, 4));
    CHECK_UINT_EQ(c.wdays, bits(1, 5, 2));
    parse_ok("5/20 3/10 30/1 11/1 1/2", &c); /* a/n runs to the end of the field */
    CHECK_UINT_EQ(c.minutes, bits(5, 45, 20));
    CHECK_UINT_EQ(c.hours, bits(3, 23, 10));
    CHECK_UINT_EQ(c.mdays, bits(30, 31, 1));
    CHECK_UINT_EQ(c.months, bits(11, 12, 1));
    CHECK_UINT_EQ(c.wdays, bits(1, 5, 2)); /* Saturday is the end: no Sunday */
    parse_ok("59/59 * * * 7/7", &c);       /* steps as big as the field allows */
    CHECK_UINT_EQ(c.minutes, bits(59, 59, 1));
    CHECK_UINT_EQ(c.wdays, 1);
    parse_ok("0-59/59 * ?/2 * ?/3", &c);
    CHECK_UINT_EQ(c.minutes, bits(0, 59, 59));
    CHECK_UINT_EQ(c.mdays, bits(1, 31, 2));
    CHECK_UINT_EQ(c.wdays, bits(0, 6, 3));
    CHECK(!c.mday_any && !c.wday_any);
}

TEST(cron_parse_names)
{
    struct flow_cron_spec c;

    parse_ok("0 0 * JAN,feb,Mar sun", &c);
    CHECK_UINT_EQ(c.months, bits(1, 3, 1));
    CHECK_UINT_EQ(c.wdays, 1);
    parse_ok("0 0 * apr-JUN Mon-Fri", &c);
    CHECK_UINT_EQ(c.months, bits(4, 6, 1));
    CHECK_UINT_EQ(c.wdays, bits(1, 5, 1));
    parse_ok("0 0 * jul,aug,sep,oct,nov,dec tue,wed,thu,sat", &c);
    CHECK_UINT_EQ(c.months, bits(7, 12, 1));
    CHECK_UINT_EQ(c.wdays, bits(2, 4, 1) | bits(6, 6, 1));
    parse_ok("0 0 * 3-dec sun-3", &c); /* names and numbers mix */
    CHECK_UINT_EQ(c.months, bits(3, 12, 1));
    CHECK_UINT_EQ(c.wdays, bits(0, 3, 1));
}

TEST(cron_parse_sunday_is_0_and_7)
{
    struct flow_cron_spec a, b;

    parse_ok("0 0 * * 7", &a);
    parse_ok("0 0 * * 0", &b);
    CHECK_UINT_EQ(a.wdays, 1);
    CHECK_UINT_EQ(b.wdays, 1);
    parse_ok("0 0 * * 5-7", &a);
    CHECK_UINT_EQ(a.wdays, bits(5, 6, 1) | 1);
    parse_ok("0 0 * * 0-7", &a);
    CHECK_UINT_EQ(a.wdays, bits(0, 6, 1));
    CHECK(!a.wday_any);
    parse_ok("0 0 * * 1-7/2", &a); /* 1, 3, 5, 7 */
    CHECK_UINT_EQ(a.wdays, 0x2a | 1);
    /* 2026-01-04 is a Sunday. */
    CHECK_UINT_EQ(next_of("0 12 * * 7", at(2026, 1, 1, 0, 0)), at(2026, 1, 4, 12, 0));
    CHECK_UINT_EQ(next_of("0 12 * * sun", at(2026, 1, 1, 0, 0)), at(2026, 1, 4, 12, 0));
}

TEST(cron_parse_blanks_and_macros)
{
    struct flow_cron_spec c, d;

    parse_ok(" \t0\t\t0  *  * *\t ", &c);
    parse_ok("0 0 * * *", &d);
    CHECK(memcmp(&c, &d, sizeof(c)) == 0);
    static const char *const macros[][2] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"},  {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},     {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"}, {" @HOURLY\t", "0 * * * *"},
    };
    for (size_t i = 0; i < ARRAY_LEN(macros); i++) {
        memset(&c, 0xa5, sizeof(c));
        memset(&d, 0xa5, sizeof(d)); /* padding compares equal too */
        parse_ok(macros[i][0], &c);
        parse_ok(macros[i][1], &d);
        CHECK(memcmp(&c, &d, sizeof(c)) == 0);
    }
}

TEST(cron_parse_errors)
{
    static const struct {
        const char *spec, *msg;
    } cases[] = {
        {"*/0 * * * *", "cron \"*/0 * * * *\": minute: step must be at least 1"},
        {"* 24 * * *", "cron \"* 24 * * *\": hour: 24 is out of range 0-23"},
        {"* * * * * *", "cron \"* * * * * *\": expected 5 fields, got 6"},
        {"* * * *", ": expected 5 fields, got 4"},
        {"", ": expected 5 fields, got 0"},
        {" \t ", ": expected 5 fields, got 0"},
        {"60 * * * *", ": minute: 60 is out of range 0-59"},
        {"* * 0 * *", ": day-of-month: 0 is out of range 1-31"},
        {"* * 32 * *", ": day-of-month: 32 is out of range 1-31"},
        {"* * * 0 *", ": month: 0 is out of range 1-12"},
        {"* * * 13 *", ": month: 13 is out of range 1-12"},
        {"* * * * 8", ": day-of-week: 8 is out of range 0-7"},
        {"99999999999999999999999 * * * *", ": minute: 99999999999999999999999 is out of range"},
        {"-1 * * * *", ": minute: a value is missing"},
        {"1- * * * *", ": minute: a value is missing"},
        {"x * * * *", ": minute: \"x\" is not a number"},
        {"* mon * * *", ": hour: \"mon\" is not a number"},
        {"* * jan * *", ": day-of-month: \"jan\" is not a number"},
        {"* * * janu *", ": month: \"janu\" is neither a number nor a month name"},
        {"* * * * monday", ": day-of-week: \"monday\" is neither a number nor a day name"},
        {"* * * * +1", ": day-of-week: \"+1\" is neither a number nor a day name"},
        {"5-2 * * * *", ": minute: range 5-2 runs backwards"},
        {"* * * dec-jan *", ": month: range 12-1 runs backwards"},
        {"* * * * 7-1", ": day-of-week: range 7-1 runs backwards"},
        {"1-2-3 * * * *", ": minute: \"2-3\" is not a number"},
        {"*-5 * * * *", ": minute: \"*\" is not a number"},
        {"* */0 * * *", ": hour: step must be at least 1"},
        {"* * 1-5/0 * *", ": day-of-month: step must be at least 1"},
        {"*/ * * * *", ": minute: step \"\" is not a number"},
        {"*/x * * * *", ": minute: step \"x\" is not a number"},
        {"*/1/2 * * * *", ": minute: step \"1/2\" is not a number"},
        {"*/60 * * * *", ": minute: step must be at most 59, got 60"},
        {"* */24 * * *", ": hour: step must be at most 23, got 24"},
        {"* * * */13 *", ": month: step must be at most 12, got 13"},
        {"* * * * */8", ": day-of-week: step must be at most 7, got 8"},
        {"* * * * */99999999999999999999", ": day-of-week: step must be at most 7"},
        {"? * * * *", ": minute: \"?\" is only allowed in the day fields"},
        {"* ? * * *", ": hour: \"?\" is only allowed in the day fields"},
        {"* * * ? *", ": month: \"?\" is only allowed in the day fields"},
        {"1,,2 * * * *", ": minute: empty list item"},
        {",1 * * * *", ": minute: empty list item"},
        {"* 1, * * *", ": hour: empty list item"},
        {"* * * * 1,", ": day-of-week: empty list item"},
        {"@reboot", "cron \"@reboot\": unknown macro (want @yearly,"},
        {"@every 5m", ": unknown macro"},
        {"@daily *", ": unknown macro"},
        {"@", ": unknown macro"},
        {"0 0 * * * @daily", ": expected 5 fields, got 6"},
        {"1\n * * * *", ": minute: \"1?\" is not a number"}, /* control bytes are not blanks */
        {"* * * * 1\r", ": day-of-week: \"1?\" is neither a number"},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct flow_cron_spec c;
        struct err err = {0};
        int rc = flow_cron_parse(slice_from_cstr(cases[i].spec), &c, &err);

        if (rc != ERR_INVALID || err.code != ERR_INVALID)
            test_fail(__FILE__, __LINE__, "\"%s\": rc %d, expected ERR_INVALID", cases[i].spec, rc);
        CHECK(strncmp(err.msg, "cron \"", 6) == 0);
        CHECK_CONTAINS(err.msg, cases[i].msg);
    }
}

TEST(cron_parse_length_cap)
{
    char buf[300];
    struct flow_cron_spec c;
    struct err err = {0};

    memset(buf, ' ', sizeof(buf));
    memcpy(buf, "* * * * *", 9);
    OK(flow_cron_parse((struct slice){buf, 256}, &c, &err)); /* blanks count, 256 is fine */
    CHECK_INT_EQ(flow_cron_parse((struct slice){buf, 257}, &c, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "\": longer than 256 bytes");
    CHECK_CONTAINS(err.msg, "cron \"* * * * *    "); /* the spec is quoted, cut short */
    CHECK_CONTAINS(err.msg, "...\"");
    CHECK(strlen(err.msg) < 120);
}

TEST(cron_parse_reads_only_the_slice)
{
    static const char text[] = "* * * * 1 2";
    struct flow_cron_spec c;
    struct err err = {0};

    OK(flow_cron_parse((struct slice){text, 9}, &c, &err)); /* " 2" is not seen */
    CHECK_UINT_EQ(c.wdays, 2);
    CHECK(!c.wday_any);
    CHECK_INT_EQ(flow_cron_parse((struct slice){text, 8}, &c, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "expected 5 fields, got 4");
    /* An exact-size heap copy without a NUL: ASan catches any read past the end. */
    static const struct {
        const char *spec;
        int rc;
    } cases[] = {
        {"1-5 */2 3/4 jan-mar,dec mon-fri", 0},
        {"@weekly", 0},
        {"* * * * sun", 0},
        {"* * * * 7/1", 0},
        {"* * * * 1-", ERR_INVALID},
        {"* * * * */", ERR_INVALID},
        {"* * * * 1,", ERR_INVALID},
        {"* * * * s", ERR_INVALID},
        {"@", ERR_INVALID},
        {"* * * * 99999", ERR_INVALID},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        size_t n = strlen(cases[i].spec);
        char *exact = xmalloc(n);
        int rc;

        memcpy(exact, cases[i].spec, n);
        rc = flow_cron_parse((struct slice){exact, n}, &c, &err);
        free(exact);
        if (rc != cases[i].rc)
            test_fail(__FILE__, __LINE__, "\"%s\": %d (%s)", cases[i].spec, rc, err.msg);
    }
    CHECK_INT_EQ(flow_cron_parse((struct slice){NULL, 0}, &c, &err), ERR_INVALID);
}

TEST(cron_parse_error_quotes_control_bytes)
{
    static const char text[] = "*\x01 * * \0 *";
    struct flow_cron_spec c;
    struct err err = {0};

    CHECK_INT_EQ(flow_cron_parse((struct slice){text, sizeof(text) - 1}, &c, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "cron \"*? * * ? *\": minute: \"*?\" is not a number");
}

/* ---------------------------------------------------------------- next */

TEST(cron_next_simple)
{
    uint64_t t = at(2026, 3, 10, 14, 27);

    CHECK_UINT_EQ(next_of("* * * * *", t), t + MIN_MS);
    CHECK_UINT_EQ(next_of("* * * * *", t + 1), t + MIN_MS);
    CHECK_UINT_EQ(next_of("* * * * *", t + MIN_MS - 1), t + MIN_MS);
    CHECK_UINT_EQ(next_of("30 * * * *", t), at(2026, 3, 10, 14, 30));
    CHECK_UINT_EQ(next_of("27 * * * *", t), at(2026, 3, 10, 15, 27));
    CHECK_UINT_EQ(next_of("0 9 * * *", t), at(2026, 3, 11, 9, 0));
    CHECK_UINT_EQ(next_of("*/20 * * * *", t), at(2026, 3, 10, 14, 40));
    CHECK_UINT_EQ(next_of("10-20/5 * * * *", t), at(2026, 3, 10, 15, 10));
    CHECK_UINT_EQ(next_of("15 10-20/5 * * *", t), at(2026, 3, 10, 15, 15));
    CHECK_UINT_EQ(next_of("0 0 * * mon-fri", t), at(2026, 3, 11, 0, 0)); /* a Tuesday */
    CHECK_UINT_EQ(next_of("0 0 * * sat,sun", t), at(2026, 3, 14, 0, 0));
    CHECK_UINT_EQ(next_of("@hourly", t), at(2026, 3, 10, 15, 0));
    CHECK_UINT_EQ(next_of("@daily", t), at(2026, 3, 11, 0, 0));
    CHECK_UINT_EQ(next_of("@weekly", t), at(2026, 3, 15, 0, 0));
    CHECK_UINT_EQ(next_of("@monthly", t), at(2026, 4, 1, 0, 0));
    CHECK_UINT_EQ(next_of("@yearly", t), at(2027, 1, 1, 0, 0));
}

TEST(cron_next_strictly_after)
{
    uint64_t t = at(2026, 3, 10, 14, 30);

    CHECK_UINT_EQ(next_of("30 14 * * *", t), at(2026, 3, 11, 14, 30));
    CHECK_UINT_EQ(next_of("30 14 * * *", t - 1), t);
    CHECK_UINT_EQ(next_of("30 14 * * *", t + 1), at(2026, 3, 11, 14, 30));
    CHECK_UINT_EQ(next_of("30 14 10 3 *", t), at(2027, 3, 10, 14, 30));
    CHECK_UINT_EQ(next_of("*/30 * * * *", t), at(2026, 3, 10, 15, 0));
    CHECK_UINT_EQ(next_of("* * * * *", 0), MIN_MS);
    CHECK_UINT_EQ(next_of("0 0 1 1 *", 0), at(1971, 1, 1, 0, 0));
}

TEST(cron_next_rollovers)
{
    CHECK_UINT_EQ(next_of("59 23 31 12 *", at(2025, 6, 1, 0, 0)), at(2025, 12, 31, 23, 59));
    CHECK_UINT_EQ(next_of("59 23 31 12 *", at(2025, 12, 31, 23, 59)), at(2026, 12, 31, 23, 59));
    CHECK_UINT_EQ(next_of("0 0 * * *", at(2025, 12, 31, 23, 59)), at(2026, 1, 1, 0, 0));
    CHECK_UINT_EQ(next_of("0 0 1 * *", at(2026, 1, 31, 12, 0)), at(2026, 2, 1, 0, 0));
    CHECK_UINT_EQ(next_of("0 * * * *", at(2026, 2, 28, 23, 0)), at(2026, 3, 1, 0, 0));
    CHECK_UINT_EQ(next_of("0 0 31 * *", at(2026, 1, 31, 0, 0)), at(2026, 3, 31, 0, 0));
    CHECK_UINT_EQ(next_of("0 0 30 * *", at(2026, 1, 30, 0, 0)), at(2026, 3, 30, 0, 0));
    CHECK_UINT_EQ(next_of("0 0 31 * *", at(2026, 7, 31, 0, 0)), at(2026, 8, 31, 0, 0));
    CHECK_UINT_EQ(next_of("5 4 * jun *", at(2026, 6, 30, 4, 5)), at(2027, 6, 1, 4, 5));
    CHECK_UINT_EQ(next_of("0 0 1 1 *", at(2026, 1, 1, 0, 0)), at(2027, 1, 1, 0, 0));
    CHECK_UINT_EQ(next_of("0 12 * 2 *", at(2026, 2, 28, 12, 0)), at(2027, 2, 1, 12, 0));
}

TEST(cron_next_day_or_rule)
{
    /* Both restricted: the 13th OR any Friday. 2026-03-10 is a Tuesday. */
    uint64_t t = at(2026, 3, 10, 0, 0);

    CHECK_UINT_EQ(next_of("0 0 13 * fri", t), at(2026, 3, 13, 0, 0)); /* Fri 13th */
    CHECK_UINT_EQ(next_of("0 0 13 * fri", at(2026, 3, 13, 0, 0)), at(2026, 3, 20, 0, 0));
    CHECK_UINT_EQ(next_of("0 0 12 * fri", t), at(2026, 3, 12, 0, 0));
    CHECK_UINT_EQ(next_of("0 0 12 * fri", at(2026, 3, 12, 0, 0)), at(2026, 3, 13, 0, 0));
    CHECK_UINT_EQ(next_of("0 0 1 * mon", t), at(2026, 3, 16, 0, 0));
    CHECK_UINT_EQ(next_of("0 0 1 * mon", at(2026, 3, 30, 0, 0)), at(2026, 4, 1, 0, 0));
    /* One star: only the other counts. */
    CHECK_UINT_EQ(next_of("0 0 1 * *", t), at(2026, 4, 1, 0, 0));
    CHECK_UINT_EQ(next_of("0 0 ? * mon", t), at(2026, 3, 16, 0, 0));
    CHECK_UINT_EQ(next_of("0 0 * * mon", t), at(2026, 3, 16, 0, 0));
    CHECK_UINT_EQ(next_of("0 0 1 * ?", t), at(2026, 4, 1, 0, 0));
    /* A stepped star restricts, so the OR applies: every odd day or Tuesday. */
    CHECK_UINT_EQ(next_of("0 0 */2 * tue", at(2026, 3, 11, 0, 0)), at(2026, 3, 13, 0, 0));
    CHECK_UINT_EQ(next_of("0 0 */2 * 2", at(2026, 3, 15, 0, 0)), at(2026, 3, 17, 0, 0));
    /* Every day of the month restricted: OR matches every day. */
    CHECK_UINT_EQ(next_of("0 0 1-31 * sun", t), at(2026, 3, 11, 0, 0));
}

TEST(cron_next_feb_29_and_never)
{
    CHECK_UINT_EQ(next_of("0 0 29 2 *", at(2024, 3, 1, 0, 0)), at(2028, 2, 29, 0, 0));
    CHECK_UINT_EQ(next_of("0 0 29 2 *", at(2027, 6, 1, 0, 0)), at(2028, 2, 29, 0, 0));
    CHECK_UINT_EQ(next_of("0 0 29 2 *", at(2024, 2, 28, 23, 59)), at(2024, 2, 29, 0, 0));
    CHECK_UINT_EQ(next_of("0 0 29 feb *", at(2024, 2, 29, 0, 0)), at(2028, 2, 29, 0, 0));
    /* 2100 is not a leap year: from 2096-03 the next Feb 29 is in 2104, past 5 years. */
    CHECK_UINT_EQ(next_of("0 0 29 2 *", at(2096, 3, 1, 0, 0)), 0);
    CHECK_UINT_EQ(next_of("0 0 29 2 *", at(2399, 3, 1, 0, 0)), at(2400, 2, 29, 0, 0));
    /* Days that never come: the answer is 0, and quickly. */
    CHECK_UINT_EQ(next_of("0 0 31 2 *", at(2026, 1, 1, 0, 0)), 0);
    CHECK_UINT_EQ(next_of("0 0 30 2 *", at(2026, 1, 1, 0, 0)), 0);
    CHECK_UINT_EQ(next_of("* * 31 apr,jun,sep,nov *", at(2026, 1, 1, 0, 0)), 0);
    /* But with a weekday too, the OR rule makes it every Monday in February. */
    CHECK_UINT_EQ(next_of("0 0 31 2 mon", at(2026, 3, 10, 0, 0)), at(2027, 2, 1, 0, 0));
    CHECK_UINT_EQ(next_of("0 0 31 * mon", at(2026, 3, 10, 0, 0)), at(2026, 3, 16, 0, 0));
}

TEST(cron_next_five_year_limit)
{
    uint64_t t = at(2026, 5, 20, 10, 30);
    struct flow_cron_spec c;

    /* Once a year: the next year's minute. Once in four years: inside the limit. */
    CHECK_UINT_EQ(next_of("30 10 20 5 *", at(2030, 5, 20, 10, 30)), at(2031, 5, 20, 10, 30));
    CHECK_UINT_EQ(next_of("0 0 29 2 *", at(2023, 3, 1, 0, 0)), at(2024, 2, 29, 0, 0));
    /* Empty sets (a struct built by hand) never match. */
    parse_ok("* * * * *", &c);
    c.minutes = 0;
    CHECK_UINT_EQ(flow_cron_next(&c, t), 0);
    parse_ok("* * * * *", &c);
    c.months = 0;
    CHECK_UINT_EQ(flow_cron_next(&c, t), 0);
    parse_ok("* * 1 * 1", &c);
    c.mdays = 0;
    c.wdays = 0;
    CHECK_UINT_EQ(flow_cron_next(&c, t), 0);
    /* Far future times: no overflow. */
    parse_ok("* * * * *", &c);
    CHECK_UINT_EQ(flow_cron_next(&c, UINT64_MAX), 0);
    CHECK_UINT_EQ(flow_cron_next(&c, UINT64_MAX / 2), (UINT64_MAX / 2 / MIN_MS + 1) * MIN_MS);
    CHECK_UINT_EQ(flow_cron_next(&c, at(9999, 12, 31, 23, 59)), at(10000, 1, 1, 0, 0));
}

TEST(cron_next_is_fast)
{
    struct flow_cron_spec c;
    uint64_t start = time_mono_ms();

    parse_ok("0 0 31 2 *", &c);
    for (int i = 0; i < 1000; i++)
        CHECK_UINT_EQ(flow_cron_next(&c, at(2026, 1, 1, 0, 0) + (uint64_t)i * DAY_MS), 0);
    parse_ok("59 23 * * *", &c);
    c.hours = 0; /* never: every day of five years is visited */
    for (int i = 0; i < 100; i++)
        CHECK_UINT_EQ(flow_cron_next(&c, at(2026, 1, 1, 0, 0) + (uint64_t)i * DAY_MS), 0);
    /* Stepping by the minute would take minutes; by the field it is milliseconds. */
    CHECK(time_mono_ms() - start < 2000);
}

/* ---------------------------------------------------------------- brute force */

/* xorshift64*: a fixed seed, so a failure repeats. */
static uint64_t rng_state = UINT64_C(0x9e3779b97f4a7c15);

static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (unsigned)((rng_state * UINT64_C(0x2545f4914f6cdd1d)) >> 33) % n;
}

struct rfield {
    unsigned min, max, top;
    const char *const *names; /* of min, min+1, … */
    unsigned nnames;
    bool day;
};

static const char *const mnames[] = {"jan", "Feb", "MAR", "apr", "may", "jun",
                                     "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const wnames[] = {"sun", "mon", "TUE", "wed", "thu", "Fri", "sat"};
static const struct rfield rfields[5] = {
    {0, 59, 59, NULL, 0, false},    {0, 23, 23, NULL, 0, false}, {1, 31, 31, NULL, 0, true},
    {1, 12, 12, mnames, 12, false}, {0, 7, 6, wnames, 7, true},
};

/* A random value of <f> written as a number or a name. */
static unsigned rvalue(const struct rfield *f, struct sbuf *out)
{
    unsigned v = f->min + rnd(f->max - f->min + 1);

    if (f->names != NULL && v - f->min < f->nnames && rnd(2) == 0)
        sbuf_puts(out, f->names[v - f->min]);
    else
        sbuf_printf(out, "%u", v);
    return v;
}

/* Appends a random item of <f> to <out> and returns the values it stands for. */
static uint64_t ritem(const struct rfield *f, struct sbuf *out)
{
    unsigned lo = f->min, hi = f->top, step = 1, form = rnd(f->day ? 7 : 6);

    if (form == 0 || form == 6) {
        sbuf_puts(out, form == 0 ? "*" : "?");
    } else {
        lo = rvalue(f, out);
        hi = lo;
        if (form >= 2 && form <= 3) {
            sbuf_puts(out, "-");
            hi = rvalue(f, out);
            if (hi < lo) { /* write it again the right way round */
                unsigned t = lo;
                lo = hi;
                hi = t;
                sbuf_reset(out);
                sbuf_printf(out, "%u-%u", lo, hi);
            }
        }
        if (form >= 4)
            hi = f->top > lo ? f->top : lo;
    }
    if (form == 3 || form >= 4 || (form == 0 && rnd(2) == 0) || (form == 6 && rnd(3) == 0)) {
        step = 1 + rnd(rnd(2) ? 6 : f->max);
        sbuf_printf(out, "/%u", step);
    }
    return bits(lo, hi, step);
}

/* A random field of <f> (usually one item) appended to <line>; *want gets its values, *any
 * whether it was a bare '*' or '?'. */
static void rfield_gen(const struct rfield *f, struct sbuf *line, uint64_t *want, bool *any)
{
    unsigned n = rnd(4) == 0 ? 2 + rnd(3) : 1;
    size_t start = line->len;

    *want = 0;
    for (unsigned i = 0; i < n; i++) {
        struct sbuf item = SBUF_INIT(64);

        *want |= ritem(f, &item);
        sbuf_printf(line, "%s%s", i ? "," : "", item.buf);
        sbuf_release(&item);
    }
    *any = strcmp(line->buf + start, "*") == 0 || strcmp(line->buf + start, "?") == 0;
    if (f->max == 7 && (*want & 0x80))
        *want = (*want | 1) & 0x7f;
}

struct expect {
    uint64_t set[5];
    bool any[5];
};

/* Whether <tm> is a minute of <e>, by the rules written out again. */
static bool day_ok(const struct expect *e, const struct tm *tm)
{
    bool m = e->set[3] >> (tm->tm_mon + 1) & 1;
    bool dom = e->set[2] >> tm->tm_mday & 1, dow = e->set[4] >> tm->tm_wday & 1;

    if (!m)
        return false;
    if (e->any[2] || e->any[4])
        return (e->any[2] || dom) && (e->any[4] || dow);
    return dom || dow;
}

static bool minute_ok(const struct expect *e, const struct tm *tm)
{
    return day_ok(e, tm) && (e->set[1] >> tm->tm_hour & 1) && (e->set[0] >> tm->tm_min & 1);
}

/* The first minute after <after> that <e> matches within <days> days, or 0: minute by minute,
 * but a day that does not match is skipped whole. */
static uint64_t naive_next(const struct expect *e, uint64_t after, unsigned days)
{
    uint64_t end = after + days * DAY_MS;

    for (uint64_t t = after / MIN_MS * MIN_MS + MIN_MS; t <= end;) {
        time_t s = (time_t)(t / 1000);
        struct tm tm;

        gmtime_r(&s, &tm);
        if (!day_ok(e, &tm)) {
            t = t / DAY_MS * DAY_MS + DAY_MS;
            continue;
        }
        if (minute_ok(e, &tm))
            return t;
        t += MIN_MS;
    }
    return 0;
}

TEST(cron_next_matches_brute_force)
{
    unsigned found = 0;

    for (int i = 0; i < 200; i++) {
        struct sbuf line = SBUF_INIT(1024);
        struct flow_cron_spec c;
        struct expect e;
        struct err err = {0};

        for (int f = 0; f < 5; f++) {
            if (f > 0)
                sbuf_puts(&line, rnd(4) ? " " : " \t");
            rfield_gen(&rfields[f], &line, &e.set[f], &e.any[f]);
        }
        if (flow_cron_parse(sbuf_slice(&line), &c, &err) != 0)
            test_fail(__FILE__, __LINE__, "\"%s\": %s", line.buf, err.msg);
        if (c.minutes != e.set[0] || c.hours != e.set[1] || c.mdays != e.set[2] ||
            c.months != e.set[3] || c.wdays != e.set[4] || c.mday_any != e.any[2] ||
            c.wday_any != e.any[4])
            test_fail(__FILE__, __LINE__, "\"%s\" parsed to other sets", line.buf);
        for (int k = 0; k < 3; k++) {
            /* 2000 … 2090, on a minute boundary now and then */
            uint64_t after = at(2000, 1, 1, 0, 0) + (uint64_t)rnd(90 * 365) * DAY_MS +
                             (uint64_t)rnd(1440) * MIN_MS + (rnd(3) ? rnd(60000) : 0);
            uint64_t want = naive_next(&e, after, 400), got = flow_cron_next(&c, after);

            if (want != 0 ? got != want : (got != 0 && got <= after + 400 * DAY_MS))
                test_fail(__FILE__, __LINE__,
                          "\"%s\" after %" PRIu64 ": %" PRIu64 ", brute force %" PRIu64, line.buf,
                          after, got, want);
            if (got != 0) {
                time_t s = (time_t)(got / 1000);
                struct tm tm;

                gmtime_r(&s, &tm);
                CHECK(got % MIN_MS == 0 && got > after && minute_ok(&e, &tm));
            }
            found += want != 0;
        }
        sbuf_release(&line);
    }
    CHECK(found > 300); /* most specs fire within 400 days: the comparison had teeth */
}
