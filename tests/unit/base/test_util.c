/* util: durations, sizes, RFC 3339 timestamps, clocks, aborting allocators, ASSERT. */
#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "../test.h"

struct parse_case {
    const char *in;
    int rc;
    uint64_t out;
};

static void check_parser(int (*parse)(struct slice, uint64_t *), const struct parse_case *c,
                         size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t v = 0xdeadbeef;
        int rc = parse(slice_from_cstr(c[i].in), &v);

        if (rc != c[i].rc)
            test_fail(__FILE__, __LINE__, "%s(\"%s\") returned %d, expected %d", what, c[i].in, rc,
                      c[i].rc);
        if (rc == 0 && v != c[i].out)
            test_fail(__FILE__, __LINE__, "%s(\"%s\") gave %" PRIu64 ", expected %" PRIu64, what,
                      c[i].in, v, c[i].out);
        if (rc != 0 && v != 0xdeadbeef)
            test_fail(__FILE__, __LINE__, "%s(\"%s\") wrote its output on error", what, c[i].in);
    }
}

TEST(parse_duration_ms_units)
{
    static const struct parse_case ok[] = {
        {"250ms", 0, 250},    {"30s", 0, 30000},   {"5m", 0, 300000},
        {"2h", 0, 7200000},   {"1d", 0, 86400000}, {"30", 0, 30000}, /* a bare number is seconds */
        {"0", 0, 0},          {"0ms", 0, 0},       {"007s", 0, 7000},
        {" 15s\t", 0, 15000}, {"1ms", 0, 1},
    };

    check_parser(parse_duration_ms, ok, ARRAY_LEN(ok), "parse_duration_ms");
}

TEST(parse_duration_ms_limit_is_a_year)
{
    static const struct parse_case c[] = {
        {"366d", 0, 366ull * 86400000},
        {"8784h", 0, 8784ull * 3600000},
        {"31622400s", 0, 31622400000ull},
        {"31622400000ms", 0, 31622400000ull},
        {"31622400", 0, 31622400000ull},
        {"367d", ERR_LIMIT, 0},
        {"8785h", ERR_LIMIT, 0},
        {"31622401s", ERR_LIMIT, 0},
        {"31622400001ms", ERR_LIMIT, 0},
        {"527041m", ERR_LIMIT, 0},
        {"99999999999999999999ms", ERR_LIMIT, 0},
        {"18446744073709551615d", ERR_LIMIT, 0},
    };

    check_parser(parse_duration_ms, c, ARRAY_LEN(c), "parse_duration_ms");
}

TEST(parse_duration_ms_rejects_junk)
{
    static const struct parse_case bad[] = {
        {"", ERR_INVALID, 0},      {"   ", ERR_INVALID, 0},  {"s", ERR_INVALID, 0},
        {"ms", ERR_INVALID, 0},    {"-5s", ERR_INVALID, 0},  {"+5s", ERR_INVALID, 0},
        {"5x", ERR_INVALID, 0},    {"1.5s", ERR_INVALID, 0}, {"5S", ERR_INVALID, 0},
        {"5sec", ERR_INVALID, 0},  {"5 5s", ERR_INVALID, 0}, {"5s5", ERR_INVALID, 0},
        {"1h30m", ERR_INVALID, 0}, {"5us", ERR_INVALID, 0},  {"0x10", ERR_INVALID, 0},
        {"5mss", ERR_INVALID, 0},
    };

    check_parser(parse_duration_ms, bad, ARRAY_LEN(bad), "parse_duration_ms");
}

TEST(parse_size_units)
{
    static const struct parse_case ok[] = {
        {"512", 0, 512},
        {"0", 0, 0},
        {"1B", 0, 1},
        {"64KiB", 0, 64ull << 10},
        {"8MiB", 0, 8ull << 20},
        {"1GiB", 0, 1ull << 30},
        {"1TiB", 0, 1ull << 40},
        {"10kB", 0, 10000},
        {"5MB", 0, 5000000},
        {"1GB", 0, 1000000000},
        {" 2MiB ", 0, 2ull << 20},
        {"1099511627776", 0, 1ull << 40},
        {"1024GiB", 0, 1ull << 40},
        {"1099GB", 0, 1099000000000ull},
    };

    check_parser(parse_size, ok, ARRAY_LEN(ok), "parse_size");
}

TEST(parse_size_limit_is_one_tib)
{
    static const struct parse_case c[] = {
        {"1099511627777", ERR_LIMIT, 0},
        {"2TiB", ERR_LIMIT, 0},
        {"1025GiB", ERR_LIMIT, 0},
        {"1048577MiB", ERR_LIMIT, 0},
        {"1100GB", ERR_LIMIT, 0},
        {"99999999999999999999", ERR_LIMIT, 0},
        {"18446744073709551615KiB", ERR_LIMIT, 0},
    };

    check_parser(parse_size, c, ARRAY_LEN(c), "parse_size");
}

TEST(parse_size_rejects_junk)
{
    static const struct parse_case bad[] = {
        {"", ERR_INVALID, 0},       {"KiB", ERR_INVALID, 0},   {"-1", ERR_INVALID, 0},
        {"1.5MiB", ERR_INVALID, 0}, {"1kb", ERR_INVALID, 0},   {"1KB", ERR_INVALID, 0},
        {"1mib", ERR_INVALID, 0},   {"1 2", ERR_INVALID, 0},   {"1PiB", ERR_INVALID, 0},
        {"1iB", ERR_INVALID, 0},    {"0x400", ERR_INVALID, 0}, {"1e3", ERR_INVALID, 0},
    };

    check_parser(parse_size, bad, ARRAY_LEN(bad), "parse_size");
}

TEST(time_rfc3339_ms_known_instants)
{
    static const struct {
        uint64_t ms;
        const char *want;
    } c[] = {
        {0, "1970-01-01T00:00:00.000Z"},
        {1, "1970-01-01T00:00:00.001Z"},
        {999, "1970-01-01T00:00:00.999Z"},
        {1000, "1970-01-01T00:00:01.000Z"},
        {1767607200123ull, "2026-01-05T10:00:00.123Z"},
        {951782400000ull, "2000-02-29T00:00:00.000Z"},
        {1709164799999ull, "2024-02-28T23:59:59.999Z"},
        {253402300799999ull, "9999-12-31T23:59:59.999Z"},
    };

    for (size_t i = 0; i < ARRAY_LEN(c); i++) {
        char out[32];

        memset(out, 'Z', sizeof(out));
        time_rfc3339_ms(c[i].ms, out);
        CHECK_STR_EQ(out, c[i].want);
        CHECK_UINT_EQ(strlen(out), 24);
    }
}

TEST(time_rfc3339_ms_extremes_stay_in_bounds)
{
    static const uint64_t ms[] = {253402300800000ull, UINT64_MAX / 2, UINT64_MAX};

    for (size_t i = 0; i < ARRAY_LEN(ms); i++) {
        char out[32];

        memset(out, 'Z', sizeof(out));
        time_rfc3339_ms(ms[i], out);
        CHECK(memchr(out, '\0', sizeof(out)) != NULL);
    }
}

TEST(time_clocks)
{
    uint64_t a = time_mono_ns(), b, ma, mb;

    b = time_mono_ns();
    CHECK(b >= a);
    ma = time_mono_ms();
    mb = time_mono_ms();
    CHECK(mb >= ma);
    CHECK(time_wall_ms() > 1577836800000ull); /* after 2020-01-01 */
}

TEST(x_allocators)
{
    char *s = xstrdup("dup me");
    int *z = xcalloc(16, sizeof(int));
    char *p = xmalloc(0);
    char *q;

    CHECK_STR_EQ(s, "dup me");
    for (int i = 0; i < 16; i++)
        CHECK_INT_EQ(z[i], 0);
    CHECK(p != NULL);
    q = xrealloc(p, 100);
    memset(q, 1, 100);
    q = xrealloc(q, 0);
    CHECK(q != NULL);
    free(q);
    FREE_AND_NULL(s);
    CHECK(s == NULL);
    free(z);
    z = xcalloc(0, 0);
    CHECK(z != NULL);
    free(z);
}

TEST(assert_logs_expression_and_aborts)
{
    int fds[2], status;
    char buf[512];
    ssize_t n;
    pid_t pid;

    CHECK_INT_EQ(pipe(fds), 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        signal(SIGABRT, SIG_DFL);
        dup2(fds[1], 2);
        ASSERT(1 + 1 == 3);
        _exit(0);
    }
    close(fds[1]);
    n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status));
    CHECK_INT_EQ(WTERMSIG(status), SIGABRT);
    CHECK(n > 0);
    buf[n] = '\0';
    CHECK_CONTAINS(buf, "\"ev\":\"assert.failed\"");
    CHECK_CONTAINS(buf, "1 + 1 == 3");
    CHECK_CONTAINS(buf, "test_util.c:");
}

TEST(assert_line_is_json_even_with_quotes)
{
    int fds[2], status;
    char buf[1024];
    json_t *v;
    ssize_t n;
    pid_t pid;

    CHECK_INT_EQ(pipe(fds), 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        signal(SIGABRT, SIG_DFL);
        dup2(fds[1], 2);
        ASSERT(strcmp("a\\b", "\"q\"") == 0);
        _exit(0);
    }
    close(fds[1]);
    n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status));
    CHECK(n > 0);
    v = json_loadb(buf, (size_t)n, JSON_DISABLE_EOF_CHECK, NULL);
    if (v == NULL)
        test_fail(__FILE__, __LINE__, "assert line is not JSON: %.*s", (int)n, buf);
    CHECK_STR_EQ(json_string_value(json_object_get(v, "expr")),
                 "strcmp(\"a\\\\b\", \"\\\"q\\\"\") == 0");
    json_decref(v);
}

TEST(parse_time_ms_unix_and_rfc3339)
{
    static const struct parse_case c[] = {
        {"0", 0, 0},
        {"1767607200000", 0, 1767607200000ull},
        {"2026-01-05T10:00:00Z", 0, 1767607200000ull},
        {"2026-01-05T10:00:00.5Z", 0, 1767607200500ull},
        {"2026-01-05T10:00:00.123456z", 0, 1767607200123ull},
        {"2026-01-05T12:00:00+02:00", 0, 1767607200000ull},
        {"2026-01-05 09:30:00-00:30", 0, 1767607200000ull},
        {"9999-12-31T23:59:59.999Z", 0, 253402300799999ull},
        {"253402300799999", 0, 253402300799999ull},
        {"253402300800000", ERR_INVALID, 0},
        {"2026-04-31T00:00:00Z", ERR_INVALID, 0},
        {"2026-01-05T10:00:00", ERR_INVALID, 0},
        {"2026-01-05T24:00:00Z", ERR_INVALID, 0},
        {"2026-01-05T10:00:00.Z", ERR_INVALID, 0},
        {"1969-12-31T23:59:59Z", ERR_INVALID, 0},
        {"2026-01-05T10:00:00+2:00", ERR_INVALID, 0},
        {"yesterday", ERR_INVALID, 0},
        {"", ERR_INVALID, 0},
        {"-5", ERR_INVALID, 0},
    };

    check_parser(parse_time_ms, c, ARRAY_LEN(c), "parse_time_ms");
}
