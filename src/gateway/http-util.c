/*
 * gateway, HTTP side: small pure helpers (the login rate limiter's token buckets, cookies,
 * bearer tokens, email shape, generated passwords). See gw-int.h for the contracts.
 */
#include <sys/random.h>
#include <errno.h>
#include <stdlib.h>

#include "base/base.h"
#include "gateway/gw-int.h"

/* ---------------------------------------------------------------- token buckets */

#define MILLI      1000u
#define TOKEN_BITS 24
#define TOKEN_MASK ((UINT64_C(1) << TOKEN_BITS) - 1)
#define TIME_MASK  ((UINT64_C(1) << 40) - 1)

uint64_t gw_bucket_take(uint64_t state, uint64_t now_ms, uint32_t per_min, uint32_t burst, bool *ok,
                        uint64_t *retry_ms)
{
    uint64_t full = (uint64_t)burst * MILLI, tokens = full, then, gained;

    *ok = false;
    *retry_ms = 0;
    if (state != 0) {
        then = (state >> TOKEN_BITS) - 1;
        tokens = state & TOKEN_MASK;
        gained = now_ms > then ? (now_ms - then) * per_min / 60 : 0; /* thousandths */
        tokens = tokens + gained > full ? full : tokens + gained;
    }
    if (tokens < MILLI) {
        *retry_ms = ((MILLI - tokens) * 60 + per_min - 1) / per_min;
        return state;
    }
    *ok = true;
    return (((now_ms % TIME_MASK) + 1) << TOKEN_BITS) | (tokens - MILLI);
}

void gw_limiter_init(struct gw_limiter *l, uint32_t per_min, uint32_t burst)
{
    uint64_t seed = 0;

    if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
        seed = time_mono_ns(); /* unpredictable enough for spreading addresses over slots */
    l->seed = seed | 1;
    l->per_min = per_min > 0 ? per_min : 1;
    l->burst = burst > 0 && burst < (TOKEN_MASK / MILLI) ? burst : (uint32_t)(TOKEN_MASK / MILLI);
    for (size_t i = 0; i < GW_LIMITER_SLOTS; i++)
        atomic_init(&l->slots[i], 0);
}

static size_t slot_of(const struct gw_limiter *l, struct slice key)
{
    uint64_t h = 1469598103934665603ULL ^ l->seed; /* FNV-1a, seeded, then mixed */

    for (size_t i = 0; i < key.len; i++)
        h = (h ^ (unsigned char)key.ptr[i]) * 1099511628211ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (size_t)(h % GW_LIMITER_SLOTS);
}

bool gw_limiter_take(struct gw_limiter *l, struct slice key, uint64_t now_ms, int64_t *retry_s)
{
    _Atomic uint64_t *slot = &l->slots[slot_of(l, key)];
    uint64_t old = atomic_load(slot), next, retry_ms;
    bool ok;

    for (;;) {
        next = gw_bucket_take(old, now_ms, l->per_min, l->burst, &ok, &retry_ms);
        if (!ok) {
            *retry_s = (int64_t)((retry_ms + 999) / 1000);
            if (*retry_s < 1)
                *retry_s = 1;
            return false;
        }
        if (atomic_compare_exchange_weak(slot, &old, next))
            return true;
    }
}

/* ---------------------------------------------------------------- cookies and bearer tokens */

struct slice gw_cookie_get(struct slice hdr, const char *name)
{
    struct slice rest = hdr, pair, key;

    while (rest.len > 0) {
        slice_split(&rest, ';', &pair);
        pair = slice_trim(pair);
        if (!slice_split(&pair, '=', &key))
            continue;
        if (!slice_eq_cstr(slice_trim(key), name))
            continue;
        pair = slice_trim(pair);
        if (pair.len >= 2 && pair.ptr[0] == '"' && pair.ptr[pair.len - 1] == '"')
            pair = (struct slice){pair.ptr + 1, pair.len - 2};
        return pair;
    }
    return SLICE_NULL;
}

void gw_cookie_format(struct sbuf *out, const char *name, const char *value, const char *path,
                      int64_t max_age, bool secure)
{
    sbuf_printf(out, "%s=%s; Path=%s; HttpOnly; SameSite=Lax; Max-Age=%" PRId64 "%s", name, value,
                path, max_age, secure ? "; Secure" : "");
}

struct slice gw_bearer_token(struct slice authorization)
{
    struct slice s = slice_trim(authorization);

    if (s.len < 7 || !slice_case_eq_cstr((struct slice){s.ptr, 6}, "Bearer") || s.ptr[6] != ' ')
        return SLICE_NULL;
    s = slice_trim((struct slice){s.ptr + 7, s.len - 7});
    return s.len > 0 ? s : SLICE_NULL;
}

/* ---------------------------------------------------------------- emails and passwords */

int gw_email_check(const char *field, struct slice email, struct err *err)
{
    const char *at;
    int rc = gw_db_check_text(field, email, GW_EMAIL_MAX, false, err);

    if (rc < 0)
        return rc;
    for (size_t i = 0; i < email.len; i++) {
        unsigned char c = (unsigned char)email.ptr[i];
        if (c <= ' ' || c == 0x7F)
            return err_set(err, ERR_INVALID, "%s must not hold spaces or control characters",
                           field);
    }
    at = memchr(email.ptr, '@', email.len);
    if (at == NULL || at == email.ptr || at == email.ptr + email.len - 1)
        return err_set(err, ERR_INVALID, "%s must look like name@domain", field);
    return 0;
}

int gw_password_generate(char out[GW_PASSWORD_LEN + 1], struct err *err)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char buf[64];
    size_t n = 0;

    while (n < GW_PASSWORD_LEN) {
        if (getrandom(buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
            return err_set(err, ERR_INTERNAL, "no randomness for a password: %s", strerror(errno));
        for (size_t i = 0; i < sizeof(buf) && n < GW_PASSWORD_LEN; i++)
            if (buf[i] < 248) /* 248 = 4 * 62: no bias */
                out[n++] = alphabet[buf[i] % 62];
    }
    out[n] = '\0';
    explicit_bzero(buf, sizeof(buf));
    return 0;
}
