/* Errors: err_set/err_wrap, and the one mapping to names, HTTP statuses and GraphQL codes. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "../test.h"

TEST(err_set_records_code_and_message)
{
    struct err e = {0};

    CHECK_INT_EQ(err_set(&e, ERR_INVALID, "%s must be %d", "x", 5), ERR_INVALID);
    CHECK_INT_EQ(e.code, ERR_INVALID);
    CHECK_STR_EQ(e.msg, "x must be 5");
    CHECK_INT_EQ(err_set(&e, ERR_NOTFOUND, "gone"), ERR_NOTFOUND);
    CHECK_INT_EQ(e.code, ERR_NOTFOUND);
    CHECK_STR_EQ(e.msg, "gone");
}

TEST(err_set_null_err_still_returns_code)
{
    CHECK_INT_EQ(err_set(NULL, ERR_TIMEOUT, "late by %d ms", 5), ERR_TIMEOUT);
    CHECK_INT_EQ(err_set(NULL, 0, "fine"), 0);
}

TEST(err_set_truncates_long_messages)
{
    struct err e = {0};
    char big[400];

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    err_set(&e, ERR_LIMIT, "%s", big);
    CHECK_UINT_EQ(strlen(e.msg), sizeof(e.msg) - 1);
    CHECK_INT_EQ(e.msg[0], 'a');
}

TEST(err_wrap_prefixes_and_keeps_code)
{
    struct err e = {0};

    err_set(&e, ERR_CONFLICT, "already exists");
    CHECK_INT_EQ(err_wrap(&e, "app %s", "web"), ERR_CONFLICT);
    CHECK_STR_EQ(e.msg, "app web: already exists");
    CHECK_INT_EQ(err_wrap(&e, "deploy"), ERR_CONFLICT);
    CHECK_STR_EQ(e.msg, "deploy: app web: already exists");
    CHECK_INT_EQ(e.code, ERR_CONFLICT);
    CHECK_INT_EQ(err_wrap(NULL, "x"), ERR_INTERNAL);
}

TEST(err_wrap_long_message_keeps_prefix_and_start_of_old)
{
    struct err e = {0};
    char old[200];

    memset(old, 'o', sizeof(old) - 1);
    old[sizeof(old) - 1] = '\0';
    err_set(&e, ERR_IO, "%s", old);
    err_wrap(&e, "ctx");
    CHECK_UINT_EQ(strlen(e.msg), sizeof(e.msg) - 1);
    CHECK(strncmp(e.msg, "ctx: ooo", 8) == 0);
    for (size_t i = 5; i < sizeof(e.msg) - 1; i++)
        CHECK_INT_EQ(e.msg[i], 'o');
    CHECK_INT_EQ(e.code, ERR_IO);
}

TEST(err_wrap_huge_prefix_keeps_message_bounded)
{
    struct err e = {0};
    char pre[300];

    memset(pre, 'p', sizeof(pre) - 1);
    pre[sizeof(pre) - 1] = '\0';
    err_set(&e, ERR_IO, "disk full");
    err_wrap(&e, "%s", pre);
    CHECK(strlen(e.msg) < sizeof(e.msg));
    CHECK_INT_EQ(e.code, ERR_IO);
}

struct mapping {
    int code;
    const char *name;
    int http;
    const char *gql;
};

static const struct mapping all[] = {
    {ERR_OK, "ok", 200, "OK"},
    {ERR_INVALID, "invalid", 400, "BAD_USER_INPUT"},
    {ERR_NOTFOUND, "not_found", 404, "NOT_FOUND"},
    {ERR_CONFLICT, "conflict", 409, "CONFLICT"},
    {ERR_LIMIT, "limit", 429, "LIMIT_EXCEEDED"},
    {ERR_UNAVAILABLE, "unavailable", 503, "UNAVAILABLE"},
    {ERR_TIMEOUT, "timeout", 504, "TIMEOUT"},
    {ERR_IO, "io", 500, "INTERNAL"},
    {ERR_INTERNAL, "internal", 500, "INTERNAL"},
    {ERR_UNAUTHENTICATED, "unauthenticated", 401, "UNAUTHENTICATED"},
    {ERR_FORBIDDEN, "forbidden", 403, "FORBIDDEN"},
    {ERR_CANCELLED, "cancelled", 409, "CANCELLED"},
};

TEST(err_mapping_covers_every_code)
{
    CHECK_UINT_EQ(ARRAY_LEN(all), (size_t)(-ERR_CODE_MIN) + 1);
    for (size_t i = 0; i < ARRAY_LEN(all); i++) {
        CHECK_INT_EQ(all[i].code, -(int)i); /* the table above lists every code once */
        CHECK_STR_EQ(err_name(all[i].code), all[i].name);
        CHECK_INT_EQ(err_http_status(all[i].code), all[i].http);
        CHECK_STR_EQ(err_gql_code(all[i].code), all[i].gql);
    }
}

TEST(err_mapping_out_of_range_is_internal)
{
    static const int odd[] = {1, 2, 42, 200, INT_MAX, ERR_CODE_MIN - 1, -12, -100, -1000, INT_MIN};

    for (size_t i = 0; i < ARRAY_LEN(odd); i++) {
        CHECK_STR_EQ(err_name(odd[i]), "internal");
        CHECK_INT_EQ(err_http_status(odd[i]), 500);
        CHECK_STR_EQ(err_gql_code(odd[i]), "INTERNAL");
    }
}

TEST(err_from_errno_mapping)
{
    static const struct {
        int errnum, code;
    } map[] = {
        {0, 0},
        {ENOENT, ERR_NOTFOUND},
        {EEXIST, ERR_CONFLICT},
        {EBUSY, ERR_CONFLICT},
        {EINVAL, ERR_INVALID},
        {ENAMETOOLONG, ERR_INVALID},
        {ENOMEM, ERR_LIMIT},
        {EMFILE, ERR_LIMIT},
        {ENFILE, ERR_LIMIT},
        {E2BIG, ERR_LIMIT},
        {ETIMEDOUT, ERR_TIMEOUT},
        {ECONNREFUSED, ERR_UNAVAILABLE},
        {EHOSTUNREACH, ERR_UNAVAILABLE},
        {ENETUNREACH, ERR_UNAVAILABLE},
        {EAGAIN, ERR_UNAVAILABLE},
        {EACCES, ERR_FORBIDDEN},
        {EPERM, ERR_FORBIDDEN},
        {ENOSPC, ERR_IO},
        {EIO, ERR_IO},
        {EBADF, ERR_IO},
        {12345, ERR_IO},
    };

    for (size_t i = 0; i < ARRAY_LEN(map); i++)
        CHECK_INT_EQ(err_from_errno(map[i].errnum), map[i].code);
}
