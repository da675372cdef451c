/* UUIDv7 ids (RFC 9562 §5.7): 48-bit Unix milliseconds, version, 12 bits of sequence within
 * the millisecond, variant, 62 random bits. Ids from one process sort in creation order. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/random.h>

#include "base/base.h"

static pthread_mutex_t id_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t last_ms;   /* guarded by id_lock */
static uint32_t last_seq;  /* guarded by id_lock */

static void random_bytes(uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);

        ASSERT(got > 0 || errno == EINTR);
        if (got > 0)
            p += got, n -= (size_t)got;
    }
}

void id_new(char out[37])
{
    uint8_t b[16];
    uint64_t ms;
    uint32_t seq;

    random_bytes(b, sizeof(b));
    pthread_mutex_lock(&id_lock);
    ms = time_wall_ms();
    if (ms <= last_ms) {
        ms = last_ms;
        seq = ++last_seq;
        if (seq > 0xfff) { /* 4096 ids in one millisecond: borrow the next one */
            ms = ++last_ms;
            seq = last_seq = 0;
        }
    } else {
        last_ms = ms;
        seq = last_seq = (b[6] & 0x07) << 8 | b[7]; /* random start, room to count up */
    }
    pthread_mutex_unlock(&id_lock);
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(ms >> (40 - 8 * i));
    b[6] = (uint8_t)(0x70 | (seq >> 8));
    b[7] = (uint8_t)seq;
    b[8] = (uint8_t)(0x80 | (b[8] & 0x3f));
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
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
    return s.ptr[14] == '7';
}
