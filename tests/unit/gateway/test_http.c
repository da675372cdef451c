/*
 * gateway, HTTP side: the login rate limiter's token buckets, cookies, bearer tokens, email
 * shape and generated passwords (the pure helpers of src/gateway/http-util.c).
 */
#include <stdlib.h>

#include "../test.h"
#include "base/base.h"
#include "gateway/gw-int.h"

TEST(bucket_gives_the_burst_then_refuses_with_a_retry_time)
{
    uint64_t st = 0, retry = 0;
    bool ok = false;

    for (int i = 0; i < 3; i++) {
        st = gw_bucket_take(st, 1000, 60, 3, &ok, &retry);
        CHECK(ok);
    }
    uint64_t before = st;
    st = gw_bucket_take(st, 1000, 60, 3, &ok, &retry);
    CHECK(!ok);
    CHECK_UINT_EQ(st, before);  /* a refusal changes nothing */
    CHECK_UINT_EQ(retry, 1000); /* 60 a minute: one a second */
}

TEST(bucket_refills_at_the_rate_and_never_past_the_burst)
{
    uint64_t st = 0, retry = 0;
    bool ok = false;

    st = gw_bucket_take(st, 5000, 60, 2, &ok, &retry);
    st = gw_bucket_take(st, 5000, 60, 2, &ok, &retry);
    CHECK(ok);
    st = gw_bucket_take(st, 5500, 60, 2, &ok, &retry); /* half a token back */
    CHECK(!ok);
    CHECK_UINT_EQ(retry, 500);
    st = gw_bucket_take(st, 6000, 60, 2, &ok, &retry);
    CHECK(ok);
    /* an hour idle refills to the burst, not to 3,600 */
    st = gw_bucket_take(st, 6000 + 3600 * 1000, 60, 2, &ok, &retry);
    CHECK(ok);
    st = gw_bucket_take(st, 6000 + 3600 * 1000, 60, 2, &ok, &retry);
    CHECK(ok);
    st = gw_bucket_take(st, 6000 + 3600 * 1000, 60, 2, &ok, &retry);
    CHECK(!ok);
}

TEST(bucket_survives_a_clock_that_goes_back_and_time_zero)
{
    uint64_t st = 0, retry = 0;
    bool ok = false;

    st = gw_bucket_take(st, 0, 10, 1, &ok, &retry);
    CHECK(ok);
    CHECK(st != 0); /* a used bucket is never mistaken for a fresh one */
    st = gw_bucket_take(st, 0, 10, 1, &ok, &retry);
    CHECK(!ok);
    CHECK_UINT_EQ(retry, 6000);
    st = gw_bucket_take(gw_bucket_take(0, 9000, 10, 1, &ok, &retry), 8000, 10, 1, &ok, &retry);
    CHECK(!ok); /* no tokens from a negative interval */
}

TEST(limiter_keeps_addresses_apart_and_reports_whole_seconds)
{
    struct gw_limiter *l = malloc(sizeof(*l));
    int64_t retry = 0;

    gw_limiter_init(l, 10, 2);
    CHECK(gw_limiter_take(l, SLICE("10.0.0.1"), 100, &retry));
    CHECK(gw_limiter_take(l, SLICE("10.0.0.1"), 100, &retry));
    CHECK(!gw_limiter_take(l, SLICE("10.0.0.1"), 100, &retry));
    CHECK_INT_EQ(retry, 6);
    /* another address has its own bucket (unless both hash to one slot: 1 in 4096, seeded) */
    (void)gw_limiter_take(l, SLICE("10.0.0.2"), 100, &retry);
    CHECK(gw_limiter_take(l, SLICE("10.0.0.1"), 100 + 6000, &retry));
    free(l);
}

TEST(cookie_get_finds_the_named_cookie_only)
{
    struct slice h = SLICE("a=1; slipway_refresh=abc ;slipway_access=\"q\"; x=");
    struct slice v;

    v = gw_cookie_get(h, "slipway_refresh");
    CHECK_MEM_EQ(v.ptr, v.len, "abc", 3);
    v = gw_cookie_get(h, "slipway_access");
    CHECK_MEM_EQ(v.ptr, v.len, "q", 1);
    v = gw_cookie_get(h, "x");
    CHECK(v.ptr != NULL && v.len == 0);
    CHECK(gw_cookie_get(h, "slipway").ptr == NULL);
    CHECK(gw_cookie_get(SLICE_NULL, "a").ptr == NULL);
    CHECK(gw_cookie_get(SLICE("noequals; a"), "a").ptr == NULL);
    v = gw_cookie_get(SLICE("xa=1; a=2"), "a");
    CHECK_MEM_EQ(v.ptr, v.len, "2", 1);
}

TEST(cookie_format_has_the_attributes)
{
    struct sbuf b = SBUF_INIT(1024);

    gw_cookie_format(&b, "slipway_access", "t", "/", 900, false);
    CHECK_STR_EQ(b.buf, "slipway_access=t; Path=/; HttpOnly; SameSite=Lax; Max-Age=900");
    sbuf_reset(&b);
    gw_cookie_format(&b, "slipway_refresh", "", "/auth", 0, true);
    CHECK_STR_EQ(b.buf, "slipway_refresh=; Path=/auth; HttpOnly; SameSite=Lax; Max-Age=0; Secure");
    sbuf_release(&b);
}

TEST(bearer_token_takes_the_scheme_case_insensitively)
{
    struct slice v = gw_bearer_token(SLICE("  bearer   abc.def  "));

    CHECK_MEM_EQ(v.ptr, v.len, "abc.def", 7);
    CHECK(gw_bearer_token(SLICE("Basic abc")).ptr == NULL);
    CHECK(gw_bearer_token(SLICE("Bearer")).ptr == NULL);
    CHECK(gw_bearer_token(SLICE("Bearer    ")).ptr == NULL);
    CHECK(gw_bearer_token(SLICE("Bearerabc")).ptr == NULL);
    CHECK(gw_bearer_token(SLICE_NULL).ptr == NULL);
}

TEST(email_check_names_the_field_and_the_rule)
{
    struct err err = {0};
    char big[300];

    OK(gw_email_check("email", SLICE("a@b"), &err));
    CHECK_INT_EQ(gw_email_check("email", SLICE("ab"), &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "email must look like name@domain");
    CHECK_INT_EQ(gw_email_check("email", SLICE("@b"), &err), ERR_INVALID);
    CHECK_INT_EQ(gw_email_check("email", SLICE("a@"), &err), ERR_INVALID);
    CHECK_INT_EQ(gw_email_check("email", SLICE("a b@c"), &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "spaces");
    CHECK_INT_EQ(gw_email_check("email", (struct slice){"a\0b@c", 5}, &err), ERR_INVALID);
    CHECK_INT_EQ(gw_email_check("email", SLICE(""), &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "email is empty");
    memset(big, 'x', sizeof(big));
    big[5] = '@';
    CHECK_INT_EQ(gw_email_check("email", (struct slice){big, sizeof(big)}, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "longer than 254");
}

TEST(generated_passwords_are_alphanumeric_and_differ)
{
    struct err err = {0};
    char a[GW_PASSWORD_LEN + 1], b[GW_PASSWORD_LEN + 1];

    OK(gw_password_generate(a, &err));
    OK(gw_password_generate(b, &err));
    CHECK_INT_EQ(strlen(a), GW_PASSWORD_LEN);
    CHECK(strcmp(a, b) != 0);
    for (size_t i = 0; i < GW_PASSWORD_LEN; i++)
        CHECK((a[i] >= 'a' && a[i] <= 'z') || (a[i] >= 'A' && a[i] <= 'Z') ||
              (a[i] >= '0' && a[i] <= '9'));
}
