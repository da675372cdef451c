/*
 * libFuzzer harness for the config-file parser (cfg_load_buffer, which cfg_load_file feeds).
 * Beyond "no crash, no leak" it checks that a file that loads shows (cfg_show) as text that
 * loads back to the same values, secrets and control bytes aside.
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"

struct fcfg {
    int64_t port;
    int64_t offset;
    bool debug;
    char *name;
    char *token;
    int64_t timeout_ms;
    int64_t max_body;
};

static const struct cfg_key fkeys[] = {
    CFG_INT("http.port", struct fcfg, port, 8080, 0, 65535, CFG_RELOAD, "Port."),
    CFG_INT("http.offset", struct fcfg, offset, 0, INT64_MIN, INT64_MAX, 0, "Any integer."),
    CFG_BOOL("http.debug", struct fcfg, debug, 0, 0, "Debug."),
    CFG_STR("http.name", struct fcfg, name, "slipway", 0, "Name."),
    CFG_SECRET("http.token", struct fcfg, token, 0, "Token."),
    CFG_DURATION("http.timeout", struct fcfg, timeout_ms, 30000, 0, INT64_MAX, 0, "Timeout."),
    CFG_SIZE("http.max_body_bytes", struct fcfg, max_body, 8 << 20, 1, 1ll << 40, 0, "Body."),
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cfg *make(struct fcfg *f)
{
    struct cfg *c = cfg_new();

    cfg_add(c, &(struct cfg_section){"http", fkeys, ARRAY_LEN(fkeys), f});
    return c;
}

static bool has_control(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* cfg_show's lines minus "  (source)" and the secret, as a file. */
static void show_as_file(const struct cfg *c, struct sbuf *file)
{
    struct sbuf shown = SBUF_INIT(1 << 20);
    struct slice rest, line;

    cfg_show(c, &shown);
    ASSERT(shown.err == 0);
    rest = sbuf_slice(&shown);
    while (slice_split(&rest, '\n', &line)) {
        const char *paren = memrchr(line.ptr, '(', line.len);

        ASSERT(paren != NULL && paren - line.ptr >= 2);
        if (slice_starts_with(line, SLICE("http.token = ")))
            continue;
        sbuf_put(file, line.ptr, (size_t)(paren - line.ptr));
        sbuf_putc(file, '\n');
    }
    sbuf_release(&shown);
}

static void check_round_trip(const struct cfg *c, const struct fcfg *f)
{
    struct sbuf file = SBUF_INIT(1 << 20);
    struct err err = {0};
    struct fcfg g;
    struct cfg *c2;

    if (has_control(f->name))
        return; /* shown as \xNN, which a file cannot say */
    show_as_file(c, &file);
    c2 = make(&g);
    if (cfg_load_buffer(c2, "shown", sbuf_slice(&file), &err) != 0) {
        fprintf(stderr, "%s\n%s\n", err.msg, file.buf);
        abort();
    }
    ASSERT(g.port == f->port && g.offset == f->offset && g.debug == f->debug);
    ASSERT(g.timeout_ms == f->timeout_ms && g.max_body == f->max_body);
    ASSERT(strcmp(g.name, f->name) == 0);
    cfg_free(c2);
    sbuf_release(&file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fcfg f;
    struct cfg *c = make(&f);
    struct sbuf doc = SBUF_INIT(64 << 10);
    struct err err = {0};

    if (cfg_load_buffer(c, "fuzz", (struct slice){(const char *)data, size}, &err) == 0)
        check_round_trip(c, &f);
    else
        ASSERT(err.code < 0 && err.msg[0] != '\0');
    cfg_doc(c, &doc);
    sbuf_release(&doc);
    cfg_free(c);
    return 0;
}
