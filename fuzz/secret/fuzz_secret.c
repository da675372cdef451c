/*
 * libFuzzer harness for sealed secret values (pkg_secret_open's parser of "enc:v1:…"). With a
 * fixed key, beyond "no crash, no leak" it checks:
 *   - the only outcomes are success, ERR_INVALID (not that shape) or ERR_FORBIDDEN (that
 *     shape, but the box does not open), and a failure appends nothing;
 *   - what does open seals again and opens back to the same bytes;
 *   - the input taken as a plaintext seals and opens back to itself, and its mask is at most
 *     four bullets and two bytes.
 * The corpus holds values sealed under this key, so mutations reach the MAC check.
 */
#include <stdlib.h>

#include "base/base.h"
#include "pkg/pkg-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The corpus was sealed under this key: 32 bytes 0x00..0x1f. */
static const unsigned char key[PKG_SECRET_KEY_BYTES] = {
    0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
    16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
};

/* Seals <plain> and opens the result: it must give <plain> back. */
static void check_round_trip(struct slice plain)
{
    struct sbuf sealed = SBUF_INIT(1 << 20), back = SBUF_INIT(1 << 20);
    struct err err = {0};

    ASSERT(pkg_secret_seal(key, plain, &sealed, &err) == 0);
    ASSERT(pkg_secret_open(key, sbuf_slice(&sealed), &back, &err) == 0);
    ASSERT(back.len == plain.len && memcmp(back.buf, plain.ptr, plain.len) == 0);
    sbuf_release(&sealed);
    pkg_secret_wipe(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct slice in = {(const char *)data, size};
    struct sbuf plain = SBUF_INIT(1 << 20), mask = SBUF_INIT(64);
    struct err err = {0};
    int rc = pkg_secret_open(key, in, &plain, &err);

    ASSERT(rc == 0 || rc == ERR_INVALID || rc == ERR_FORBIDDEN);
    ASSERT(rc == 0 || plain.len == 0);
    if (!slice_starts_with(in, SLICE("enc:v1:")))
        ASSERT(rc == ERR_INVALID);
    if (rc == 0)
        check_round_trip(sbuf_slice(&plain));
    pkg_secret_wipe(&plain);

    if (size <= PKG_SECRET_MAX)
        check_round_trip(in);
    pkg_secret_mask(in, &mask);
    ASSERT(mask.err == 0 && mask.len <= 12 + 2);
    sbuf_release(&mask);
    return 0;
}
