/*
 * libFuzzer harness for the JSON request reader and the response writer. Beyond "no crash, no
 * leak" it checks that:
 *   - json_read_object() agrees with jansson and a depth count of its tree: it accepts exactly
 *     the objects within the size and depth limits, and a refusal carries a code and a message;
 *   - json_get_*() either succeed with a value of the right type and range or name the field;
 *   - the input written with jw_slice()/jw_key() (json_escape) always parses back, and decodes to
 *     the input with each byte that is not part of valid UTF-8 replaced by U+FFFD: to the very
 *     same bytes when the input was valid UTF-8.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"

#define MAX_BYTES (64u << 10)
#define MAX_DEPTH 16
#define MAX_KEYS  16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ------------------------------------------------------------ the reader */

/* Nesting depth of a parsed value: scalars 0, each object or array one more. */
static int tree_depth(const json_t *v)
{
    int deepest = 0;

    if (json_is_object(v)) {
        const char *key;
        json_t *child;

        json_object_foreach((json_t *)v, key, child)
        {
            int d = tree_depth(child);

            deepest = d > deepest ? d : deepest;
        }
        return deepest + 1;
    }
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            int d = tree_depth(json_array_get(v, i));

            deepest = d > deepest ? d : deepest;
        }
        return deepest + 1;
    }
    return 0;
}

/* <ref> is jansson's own parse of the input with the reader's flags (NULL when invalid). */
static void check_read(struct slice in, size_t max_bytes, int max_depth, const json_t *ref)
{
    struct err err = {0};
    json_t *obj = NULL;
    int rc = json_read_object(in, max_bytes, max_depth, &obj, &err);
    bool acceptable =
        in.len <= max_bytes && ref != NULL && json_is_object(ref) && tree_depth(ref) <= max_depth;

    if (rc == 0) {
        ASSERT(acceptable);
        ASSERT(obj != NULL && json_is_object(obj));
        ASSERT(json_equal(obj, (json_t *)ref));
        json_decref(obj);
        return;
    }
    ASSERT(!acceptable);
    ASSERT(obj == NULL);
    ASSERT(rc == ERR_INVALID); /* too big, too deep, not JSON or not an object: bad input */
    ASSERT(err.code == rc);
    ASSERT(strncmp(err.msg, "body: ", 6) == 0);
    if (in.len > max_bytes)
        ASSERT(strstr(err.msg, "larger than") != NULL);
    else if (ref != NULL && tree_depth(ref) > max_depth)
        ASSERT(strstr(err.msg, "nested deeper") != NULL);
    /* not JSON: ERR_INVALID, or ERR_LIMIT when its brackets nest too deep */
}

static bool names_field(const struct err *err, const char *field)
{
    size_t n = strlen(field);

    if (n >= sizeof(err->msg) - 1) /* the message is cut inside the name */
        return err->code == ERR_INVALID && strncmp(err->msg, field, sizeof(err->msg) - 1) == 0;
    return err->code == ERR_INVALID && strncmp(err->msg, field, n) == 0 && err->msg[n] == ':';
}

static void check_fields(const json_t *obj, const char *field)
{
    const json_t *v = json_object_get(obj, field);
    bool present = v != NULL && !json_is_null(v);
    struct err err = {0};
    struct slice s = SLICE_NULL;
    int64_t i = 0;
    bool b = false;
    int rc;

    rc = json_get_str(obj, field, true, &s, &err);
    if (rc == 0)
        ASSERT(json_is_string(v) && s.len == json_string_length(v));
    else
        ASSERT(!(present && json_is_string(v)) && names_field(&err, field));

    rc = json_get_int(obj, field, false, -1000, 1000, &i, &err);
    if (rc == 0 && present)
        ASSERT(json_is_integer(v) && i >= -1000 && i <= 1000 && i == json_integer_value(v));
    else if (rc != 0)
        ASSERT(present && names_field(&err, field));

    rc = json_get_bool(obj, field, present, &b, &err);
    if (rc == 0 && present)
        ASSERT(json_is_boolean(v) && b == json_is_true(v));
    else if (rc != 0)
        ASSERT(present && !json_is_boolean(v) && names_field(&err, field));
}

static void fuzz_reader(struct slice in)
{
    static const char *const fixed[] = {"name", "id", "count", "enabled", "", "a"};
    json_error_t jerr;
    json_t *ref = json_loadb(in.ptr, in.len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    int small_depth = in.len ? (unsigned char)in.ptr[in.len - 1] % 6 : 0;

    check_read(in, MAX_BYTES, MAX_DEPTH, ref);
    check_read(in, MAX_BYTES, small_depth, ref);
    if (in.len > 0)
        check_read(in, in.len - 1, MAX_DEPTH, ref);
    if (ref != NULL && json_is_object(ref)) {
        const char *key;
        json_t *child;
        size_t n = 0;

        for (size_t k = 0; k < ARRAY_LEN(fixed); k++)
            check_fields(ref, fixed[k]);
        json_object_foreach(ref, key, child)
        {
            if (n++ == MAX_KEYS)
                break;
            check_fields(ref, key);
        }
    }
    json_decref(ref);
}

/* ------------------------------------------------------------ the writer */

static bool in_range(uint8_t c, uint8_t lo, uint8_t hi)
{
    return c >= lo && c <= hi;
}

/* Length of the well-formed UTF-8 sequence at <p> (Unicode table 3-7), 0 when there is none.
 * Written apart from json.c's on purpose. */
static size_t seq_len(const uint8_t *p, size_t n)
{
    uint8_t lo = 0x80, hi = 0xbf;
    size_t len;

    if (p[0] < 0x80)
        return 1;
    if (in_range(p[0], 0xc2, 0xdf))
        len = 2;
    else if (in_range(p[0], 0xe0, 0xef))
        len = 3;
    else if (in_range(p[0], 0xf0, 0xf4))
        len = 4;
    else
        return 0;
    if (p[0] == 0xe0)
        lo = 0xa0;
    else if (p[0] == 0xed)
        hi = 0x9f;
    else if (p[0] == 0xf0)
        lo = 0x90;
    else if (p[0] == 0xf4)
        hi = 0x8f;
    if (n < len || !in_range(p[1], lo, hi))
        return 0;
    for (size_t i = 2; i < len; i++)
        if (!in_range(p[i], 0x80, 0xbf))
            return 0;
    return len;
}

/* What json_escape()d <in> must decode to; returns whether <in> was valid UTF-8. */
static bool expected_text(struct slice in, struct sbuf *out)
{
    const uint8_t *p = (const uint8_t *)in.ptr;
    bool valid = true;

    for (size_t i = 0; i < in.len;) {
        size_t n = seq_len(p + i, in.len - i);

        if (n == 0) {
            sbuf_puts(out, "\xef\xbf\xbd");
            valid = false;
            i++;
        } else {
            sbuf_put(out, p + i, n);
            i += n;
        }
    }
    ASSERT(out->err == 0);
    return valid;
}

static void check_decodes_to(const json_t *v, const struct sbuf *want)
{
    ASSERT(json_is_string(v));
    ASSERT(json_string_length(v) == want->len);
    ASSERT(memcmp(json_string_value(v), want->buf, want->len) == 0);
}

static void fuzz_writer(struct slice in)
{
    size_t room = in.len * 6 + 256; /* "\u00XX" or "\ufffd": six bytes out per byte in */
    struct sbuf out = SBUF_INIT(3 * room), esc = SBUF_INIT(room); /* out has it thrice */
    struct sbuf want = SBUF_INIT(in.len * 3 + 1), want_key = SBUF_INIT(in.len * 3 + 1);
    bool has_nul = memchr(in.ptr ? in.ptr : "", '\0', in.len) != NULL;
    char *key = xmalloc(in.len + 1);
    json_error_t jerr;
    struct jw w;
    json_t *v;
    bool valid;

    memcpy(key, in.ptr ? in.ptr : "", in.len);
    key[in.len] = '\0'; /* jw_key takes a C string: the input up to its first NUL */
    valid = expected_text(in, &want);
    expected_text(slice_from_cstr(key), &want_key);

    json_escape(&esc, in);
    jw_init(&w, &out);
    jw_obj_begin(&w);
    jw_key(&w, "in");
    jw_slice(&w, in);
    jw_key(&w, "list");
    jw_arr_begin(&w);
    jw_slice(&w, in);
    jw_uint(&w, in.len);
    jw_arr_end(&w);
    jw_key(&w, "keyed");
    jw_obj_begin(&w);
    jw_key(&w, key);
    jw_bool(&w, true);
    jw_obj_end(&w);
    jw_obj_end(&w);
    ASSERT(w.depth == 0);
    ASSERT(out.err == 0 && esc.err == 0);
    ASSERT(strncmp(out.buf, "{\"in\":", 6) == 0 &&
           memcmp(out.buf + 6, esc.buf, esc.len) == 0); /* jw_slice is json_escape */

    v = json_loadb(out.buf, out.len, has_nul ? JSON_ALLOW_NUL : 0, &jerr);
    if (v == NULL) {
        fprintf(stderr, "escaped output does not parse: %s (line %d, column %d)\n", jerr.text,
                jerr.line, jerr.column);
        ASSERT(v != NULL);
    }
    check_decodes_to(json_object_get(v, "in"), &want);
    check_decodes_to(json_array_get(json_object_get(v, "list"), 0), &want);
    ASSERT(json_integer_value(json_array_get(json_object_get(v, "list"), 1)) == (json_int_t)in.len);
    ASSERT(json_is_true(json_object_get(json_object_get(v, "keyed"), want_key.buf)));
    if (valid) /* the round trip is exact */
        ASSERT(json_string_length(json_object_get(v, "in")) == in.len &&
               memcmp(json_string_value(json_object_get(v, "in")), in.ptr ? in.ptr : "", in.len) ==
                   0);
    json_decref(v);
    free(key);
    sbuf_release(&out);
    sbuf_release(&esc);
    sbuf_release(&want);
    sbuf_release(&want_key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct slice in = {(const char *)data, size};

    fuzz_reader(in);
    fuzz_writer(in);
    return 0;
}
