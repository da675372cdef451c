/* UUIDv7 ids (RFC 9562 §5.7, method 1): 48-bit Unix milliseconds, version, a 12-bit counter
 * within the millisecond, variant, 62 random bits. Ids from one process sort in creation
 * order. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/random.h>

#include "base/base.h"

/* (Unix ms << 12 | sequence) of the last id made: one atomic makes ids ordered across
 * threads without a lock. */
static _Atomic uint64_t last_stamp;

/* Per-thread xorshift state seeded from getrandom(): ids are unique and unguessable enough for
 * request and record ids; they are never secrets. */
static _Thread_local uint64_t rng_state;

/* A forked child must not repeat its parent's sequence: fork() bumps the generation, and a
 * thread whose state is of an older generation reseeds. */
static _Atomic unsigned fork_gen;
static _Thread_local unsigned rng_gen;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void after_fork_in_child(void)
{
    atomic_fetch_add(&fork_gen, 1);
}

static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, after_fork_in_child);
}

static uint64_t rng_next(void)
{
    uint64_t x = rng_state;

    pthread_once(&atfork_once, register_atfork);
    if (rng_gen != atomic_load_explicit(&fork_gen, memory_order_relaxed)) {
        rng_gen = atomic_load(&fork_gen);
        x = 0;
    }

    while (x == 0) {
        ssize_t got = getrandom(&x, sizeof(x), 0);

        ASSERT(got == (ssize_t)sizeof(x) || (got < 0 && errno == EINTR));
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x;
}

static uint64_t next_stamp(void)
{
    uint64_t old = atomic_load_explicit(&last_stamp, memory_order_relaxed), now, next;

    do {
        now = time_wall_ms() << 12;
        next = now > old ? now : old + 1; /* 4,096 ids a millisecond, then borrow ahead */
    } while (!atomic_compare_exchange_weak(&last_stamp, &old, next));
    return next;
}

static void put_hex(char *out, const uint8_t *b, size_t n)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
}

void id_new(char out[37])
{
    uint64_t stamp = next_stamp(), ms = stamp >> 12, r = rng_next();
    uint32_t seq = (uint32_t)(stamp & 0xfff);
    uint8_t b[16];

    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(ms >> (40 - 8 * i));
    b[6] = (uint8_t)(0x70 | (seq >> 8));
    b[7] = (uint8_t)seq;
    for (int i = 8; i < 16; i++)
        b[i] = (uint8_t)(r >> (8 * (i - 8)));
    b[8] = (uint8_t)(0x80 | (b[8] & 0x3f));
    put_hex(out, b, 4);
    out[8] = '-';
    put_hex(out + 9, b + 4, 2);
    out[13] = '-';
    put_hex(out + 14, b + 6, 2);
    out[18] = '-';
    put_hex(out + 19, b + 8, 2);
    out[23] = '-';
    put_hex(out + 24, b + 10, 6);
    out[36] = '\0';
}

bool id_valid(struct slice s)
{
    if (s.len != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        char c = s.ptr[i];

        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return s.ptr[14] == '7' && memchr("89ab", s.ptr[19], 4) != NULL; /* version, variant */
}

bool slug_valid(struct slice s)
{
    if (s.ptr == NULL || s.len == 0 || s.len > SLUG_MAX)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

        if (!alnum && (c != '-' || i == 0 || i == s.len - 1))
            return false;
    }
    return true;
}
