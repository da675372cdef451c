/*
 * Arenas: one per request or operation. Memory comes in chunks; a request larger than half
 * a chunk gets a chunk of its own. The budget counts bytes handed out, so a hostile input
 * meets ERR_LIMIT at a known size instead of exhausting the machine.
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"

#define ALIGN 16u

struct chunk {
    struct chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

struct cleanup {
    struct cleanup *next;
    arena_cleanup_fn *fn;
    void *arg;
};

struct arena {
    struct chunk *head; /* the chunk small allocations come from; others follow */
    struct cleanup *cleanups;
    size_t chunk_size, budget, used;
};

struct arena *arena_new(const struct arena_opts *opts)
{
    struct arena *a = xcalloc(1, sizeof(*a));

    a->chunk_size = (opts && opts->chunk) ? opts->chunk : 4096;
    a->budget = (opts && opts->budget) ? opts->budget : SIZE_MAX;
    return a;
}

static void run_cleanups(struct arena *a)
{
    while (a->cleanups) {
        struct cleanup *c = a->cleanups;

        a->cleanups = c->next;
        c->fn(c->arg); /* the cleanup record itself lives in the arena */
    }
}

/* Frees the chunks from <c> on. */
static void free_chunks(struct chunk *c)
{
    while (c) {
        struct chunk *next = c->next;

        free(c);
        c = next;
    }
}

void arena_free(struct arena *a)
{
    if (a == NULL)
        return;
    run_cleanups(a);
    free_chunks(a->head);
    free(a);
}

void arena_reset(struct arena *a)
{
    struct chunk *keep = a->head;

    run_cleanups(a);
    if (keep && keep->size != a->chunk_size) { /* a big one of its own: keep none */
        free_chunks(keep);
        keep = NULL;
    } else if (keep) {
        free_chunks(keep->next);
        keep->next = NULL;
        keep->used = 0;
    }
    a->head = keep;
    a->used = 0;
}

static struct chunk *chunk_new(size_t size)
{
    struct chunk *c = size <= SIZE_MAX - sizeof(*c) ? malloc(sizeof(*c) + size) : NULL;

    if (c != NULL) {
        c->next = NULL;
        c->size = size;
        c->used = 0;
    }
    return c;
}

void *arena_alloc(struct arena *a, size_t n)
{
    struct chunk *c = a->head;
    size_t need = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    void *p;

    if (need < n || need > a->budget - a->used)
        return NULL;
    if (c == NULL || c->size - c->used < need) {
        if (need > a->chunk_size / 2) {
            /* Big: its own chunk, linked behind the head so the head keeps its free space. */
            c = chunk_new(need);
            if (c == NULL)
                return NULL;
            if (a->head) {
                c->next = a->head->next;
                a->head->next = c;
            } else {
                a->head = c;
            }
        } else {
            c = chunk_new(a->chunk_size);
            if (c == NULL)
                return NULL;
            c->next = a->head;
            a->head = c;
        }
    }
    p = c->data + c->used;
    c->used += need;
    a->used += need;
    return p;
}

void *arena_zalloc(struct arena *a, size_t n)
{
    void *p = arena_alloc(a, n);

    return p ? memset(p, 0, n) : NULL;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);

    if (p != NULL) {
        if (n)
            memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
    va_list ap;
    char *p;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    p = arena_alloc(a, (size_t)n + 1);
    if (p == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

struct slice slice_dup(struct arena *a, struct slice s)
{
    char *p = arena_strndup(a, s.ptr, s.len);

    return p ? (struct slice){p, s.len} : SLICE_NULL;
}

int arena_on_free(struct arena *a, arena_cleanup_fn *fn, void *arg)
{
    struct cleanup *c = arena_alloc(a, sizeof(*c));

    if (c == NULL)
        return ERR_LIMIT;
    c->fn = fn;
    c->arg = arg;
    c->next = a->cleanups;
    a->cleanups = c;
    return 0;
}

size_t arena_used(const struct arena *a)
{
    return a->used;
}

int slice_percent_decode(struct arena *a, struct slice s, bool plus_is_space, struct slice *out)
{
    char *p = arena_alloc(a, s.len + 1);
    size_t n = 0;

    if (p == NULL)
        return ERR_LIMIT;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];

        if (c == '+' && plus_is_space) {
            c = ' ';
        } else if (c == '%') {
            if (s.len - i < 3 || slice_hex_digit(s.ptr[i + 1]) < 0 ||
                slice_hex_digit(s.ptr[i + 2]) < 0)
                return ERR_INVALID;
            c = (char)(slice_hex_digit(s.ptr[i + 1]) << 4 | slice_hex_digit(s.ptr[i + 2]));
            i += 2;
        }
        p[n++] = c;
    }
    p[n] = '\0';
    *out = (struct slice){p, n};
    return 0;
}
