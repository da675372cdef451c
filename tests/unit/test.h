/*
 * The unit-test framework. A test is `TEST(name) { ... }` in tests/unit/<mod>/test_*.c; the
 * runner (runner.c) forks each one with a timeout so a crash, hang or leak fails that test
 * alone, and prints TAP. CHECK_* failures print file:line and the values, then end the test.
 */
#ifndef SLIPWAY_TEST_H
#define SLIPWAY_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void test_fn(void);
void test_register(const char *name, const char *file, test_fn *fn);
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
/* A fresh, empty directory for this test (removed by the runner after the test). */
const char *test_tmpdir(void);

#define TEST(name)                                                                                 \
    static void test_##name(void);                                                                 \
    __attribute__((constructor)) static void test_reg_##name(void)                                 \
    {                                                                                              \
        test_register(#name, __FILE__, test_##name);                                               \
    }                                                                                              \
    static void test_##name(void)

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            test_fail(__FILE__, __LINE__, "CHECK(%s) failed", #x);                                 \
    } while (0)
#define CHECK_INT_EQ(a, b)                                                                         \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_)                                                                              \
            test_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, a_, #b, b_);      \
    } while (0)
#define CHECK_UINT_EQ(a, b)                                                                        \
    do {                                                                                           \
        unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b);             \
        if (a_ != b_)                                                                              \
            test_fail(__FILE__, __LINE__, "%s == %llu, expected %s == %llu", #a, a_, #b, b_);      \
    } while (0)
#define CHECK_STR_EQ(a, b)                                                                         \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                                       \
            test_fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a, a_ ? a_ : "(null)", \
                      b_ ? b_ : "(null)");                                                         \
    } while (0)
#define CHECK_MEM_EQ(p, n, q, m)                                                                   \
    do {                                                                                           \
        size_t n_ = (n), m_ = (m);                                                                 \
        if (n_ != m_ || memcmp((p), (q), n_) != 0)                                                 \
            test_fail(__FILE__, __LINE__, "%s (%zu bytes) differs from %s (%zu bytes)", #p, n_,    \
                      #q, m_);                                                                     \
    } while (0)
#define CHECK_CONTAINS(hay, needle)                                                                \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        if (h_ == NULL || strstr(h_, n_) == NULL)                                                  \
            test_fail(__FILE__, __LINE__, "%s == \"%s\" does not contain \"%s\"", #hay,            \
                      h_ ? h_ : "(null)", n_);                                                     \
    } while (0)

/* <x> returns 0; otherwise the test fails with the message of the struct err named err. */
#define OK(x)                                                                                      \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ != 0)                                                                              \
            test_fail(__FILE__, __LINE__, "%s == %d (%s)", #x, rc_, err.msg);                      \
    } while (0)

#endif
