/* The per-thread cache of verified access tokens (see auth.h). */
#include <openssl/evp.h>
#include <stdlib.h>

#include "auth-int.h"

struct vc_entry {
    unsigned char hash[32];
    bool used;
    uint64_t gen;  /* the ring's generation when the token was verified */
    int64_t until; /* last second the entry may answer */
    struct auth_claims claims;
};

#define WAYS 4 /* entries per set: tokens that share a set do not evict each other */

struct auth_vcache {
    size_t mask; /* sets - 1 */
    struct vc_entry *e;
    uint64_t hits, misses;
};

struct auth_vcache *auth_vcache_new(size_t capacity)
{
    struct auth_vcache *c = xcalloc(1, sizeof(*c));
    size_t n = 16;

    while (n < capacity && n < (1u << 20))
        n <<= 1;
    c->mask = n / WAYS - 1;
    c->e = xcalloc(n, sizeof(*c->e));
    return c;
}

void auth_vcache_free(struct auth_vcache *c)
{
    if (c == NULL)
        return;
    free(c->e);
    free(c);
}

void auth_vcache_stats(const struct auth_vcache *c, uint64_t *hits, uint64_t *misses)
{
    *hits = c->hits;
    *misses = c->misses;
}

static bool entry_answers(const struct vc_entry *e, const unsigned char hash[32], uint64_t gen,
                          const struct auth_verify_opts *o)
{
    return e->used && memcmp(e->hash, hash, 32) == 0 && e->gen == gen && o->now <= e->until &&
           (e->claims.nbf == 0 || e->claims.nbf <= o->now + o->skew) &&
           strcmp(e->claims.iss, o->iss) == 0 && strcmp(e->claims.aud, o->aud) == 0;
}

/* The entry of the set that answers, or NULL; *victim gets the one to replace on a miss (an
 * unused one, else the one that expires first). */
static struct vc_entry *set_lookup(struct vc_entry *set, const unsigned char hash[32], uint64_t gen,
                                   const struct auth_verify_opts *o, struct vc_entry **victim)
{
    *victim = &set[0];
    for (int w = 0; w < WAYS; w++) {
        if (entry_answers(&set[w], hash, gen, o))
            return &set[w];
        if ((*victim)->used && (!set[w].used || set[w].until < (*victim)->until))
            *victim = &set[w];
    }
    return NULL;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

int auth_access_verify_cached(struct auth_vcache *c, struct auth_keyring *r, struct slice token,
                              const struct auth_verify_opts *opts, struct auth_claims *out,
                              struct err *err)
{
    unsigned char hash[32];
    uint64_t gen = auth_keyring_gen(r); /* read before verifying: a change meanwhile misses */
    struct vc_entry *e, *hit;
    uint64_t slot;
    int rc;

    if (token.len > AUTH_TOKEN_MAX_BYTES || opts->iss == NULL || opts->aud == NULL ||
        !EVP_Digest(token.ptr, token.len, hash, NULL, auth_sha256(), NULL))
        return auth_access_verify(r, token, opts, out, err);
    memcpy(&slot, hash, sizeof(slot));
    hit = set_lookup(&c->e[(slot & c->mask) * WAYS], hash, gen, opts, &e);
    if (hit != NULL) {
        c->hits++;
        *out = hit->claims;
        return 0;
    }
    c->misses++;
    rc = auth_access_verify(r, token, opts, out, err);
    if (rc < 0)
        return rc;
    memcpy(e->hash, hash, 32);
    e->used = true;
    e->gen = gen;
    e->until = min64(out->exp + opts->skew, auth_keyring_horizon(r, opts->now));
    e->claims = *out;
    return 0;
}
