/*
 * JSON: jansson parses requests (with our size and depth limits on top), a streaming writer
 * builds responses straight into an sbuf without an intermediate tree.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"

/* Depth of nesting in <s>, counting brackets outside strings; stops early past <max>. */
static int nesting_exceeds(struct slice s, int max)
{
    int depth = 0;
    bool in_str = false;

    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];

        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max)
                return 1;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 0;
}

int json_read_object(struct slice body, size_t max_bytes, int max_depth, json_t **out,
                     struct err *err)
{
    json_error_t jerr;
    json_t *root;

    if (body.len > max_bytes)
        return err_set(err, ERR_INVALID, "body: larger than %zu bytes", max_bytes);
    if (body.len == 0)
        return err_set(err, ERR_INVALID, "body: empty, expected a JSON object");
    if (nesting_exceeds(body, max_depth))
        return err_set(err, ERR_INVALID, "body: nested deeper than %d levels", max_depth);
    root = json_loadb(body.ptr, body.len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (root == NULL)
        return err_set(err, ERR_INVALID, "body: invalid JSON at line %d, column %d: %s", jerr.line,
                       jerr.column, jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return err_set(err, ERR_INVALID, "body: expected a JSON object");
    }
    *out = root;
    return 0;
}

static const json_t *field_of(const json_t *obj, const char *field)
{
    const json_t *v = json_object_get(obj, field);

    return (v == NULL || json_is_null(v)) ? NULL : v;
}

static int missing(const char *field, bool required, struct err *err)
{
    return required ? err_set(err, ERR_INVALID, "%s: required", field) : 0;
}

int json_get_str(const json_t *obj, const char *field, bool required, struct slice *out,
                 struct err *err)
{
    const json_t *v = field_of(obj, field);

    if (v == NULL)
        return missing(field, required, err);
    if (!json_is_string(v))
        return err_set(err, ERR_INVALID, "%s: must be a string", field);
    *out = (struct slice){json_string_value(v), json_string_length(v)};
    return 0;
}

int json_get_int(const json_t *obj, const char *field, bool required, int64_t min, int64_t max,
                 int64_t *out, struct err *err)
{
    const json_t *v = field_of(obj, field);
    json_int_t n;

    if (v == NULL)
        return missing(field, required, err);
    if (!json_is_integer(v))
        return err_set(err, ERR_INVALID, "%s: must be an integer", field);
    n = json_integer_value(v);
    if (n < min || n > max)
        return err_set(err, ERR_INVALID, "%s: must be between %" PRId64 " and %" PRId64, field, min,
                       max);
    *out = n;
    return 0;
}

int json_get_bool(const json_t *obj, const char *field, bool required, bool *out, struct err *err)
{
    const json_t *v = field_of(obj, field);

    if (v == NULL)
        return missing(field, required, err);
    if (!json_is_boolean(v))
        return err_set(err, ERR_INVALID, "%s: must be true or false", field);
    *out = json_is_true(v);
    return 0;
}

/* Length of the valid UTF-8 sequence at <p> (at most <n> bytes), 0 when invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    size_t len;
    uint32_t cp;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        len = 2, cp = p[0] & 0x1f;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        len = 3, cp = p[0] & 0x0f;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        len = 4, cp = p[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

void sbuf_put_utf8(struct sbuf *out, struct slice s)
{
    const unsigned char *p = (const unsigned char *)(s.ptr ? s.ptr : "");
    size_t i = 0, n;

    while (i < s.len) {
        n = utf8_len(p + i, s.len - i);
        if (n == 0 || p[i] == 0) {
            sbuf_puts(out, p[i] == 0 ? "\\0" : "\xef\xbf\xbd");
            i++;
            continue;
        }
        sbuf_put(out, p + i, n);
        i += n;
    }
}

void json_escape(struct sbuf *out, struct slice s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)(s.ptr ? s.ptr : ""); /* NULL + 0 is UB */
    size_t i = 0, run = 0;

    sbuf_putc(out, '"');
    while (i < s.len) {
        unsigned char c = p[i];
        size_t n = c < 0x80 ? 1 : utf8_len(p + i, s.len - i);

        if (n != 0 && c >= 0x20 && c != '"' && c != '\\') {
            i += n; /* plain bytes are copied in runs */
            run += n;
            continue;
        }
        sbuf_put(out, p + i - run, run);
        run = 0;
        if (n == 0) {
            sbuf_puts(out, "\\ufffd");
            i++;
            continue;
        }
        i++;
        switch (c) {
        case '"':
            sbuf_puts(out, "\\\"");
            break;
        case '\\':
            sbuf_puts(out, "\\\\");
            break;
        case '\n':
            sbuf_puts(out, "\\n");
            break;
        case '\r':
            sbuf_puts(out, "\\r");
            break;
        case '\t':
            sbuf_puts(out, "\\t");
            break;
        default: {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            sbuf_put(out, e, sizeof(e));
        }
        }
    }
    sbuf_put(out, p + i - run, run);
    sbuf_putc(out, '"');
}

void jw_init(struct jw *w, struct sbuf *out)
{
    *w = (struct jw){.out = out};
}

/* Before any value or key: a comma when one came before at this depth. */
static void before_value(struct jw *w)
{
    uint64_t bit = 1ull << (w->depth & 63);

    if (w->after_key & bit) {
        w->after_key &= ~bit;
        return;
    }
    if (w->need_comma & bit)
        sbuf_putc(w->out, ',');
    w->need_comma |= bit;
}

static void open(struct jw *w, char c)
{
    before_value(w);
    sbuf_putc(w->out, c);
    if (++w->depth >= 64 && w->out->err == 0) /* sticky: keep an earlier error */
        w->out->err = ERR_LIMIT;
    w->need_comma &= ~(1ull << (w->depth & 63));
    w->after_key &= ~(1ull << (w->depth & 63));
}

static void close_(struct jw *w, char c)
{
    DASSERT(w->depth > 0);
    w->depth--;
    sbuf_putc(w->out, c);
}

void jw_obj_begin(struct jw *w)
{
    open(w, '{');
}

void jw_obj_end(struct jw *w)
{
    close_(w, '}');
}

void jw_arr_begin(struct jw *w)
{
    open(w, '[');
}

void jw_arr_end(struct jw *w)
{
    close_(w, ']');
}

void jw_key(struct jw *w, const char *key)
{
    before_value(w);
    json_escape(w->out, slice_from_cstr(key));
    sbuf_putc(w->out, ':');
    w->after_key |= 1ull << (w->depth & 63);
}

void jw_slice(struct jw *w, struct slice s)
{
    before_value(w);
    json_escape(w->out, s);
}

void jw_str(struct jw *w, const char *s)
{
    if (s == NULL)
        jw_null(w);
    else
        jw_slice(w, slice_from_cstr(s));
}

void jw_int(struct jw *w, int64_t v)
{
    before_value(w);
    sbuf_put_i64(w->out, v);
}

void jw_uint(struct jw *w, uint64_t v)
{
    before_value(w);
    sbuf_put_u64(w->out, v);
}

void jw_dbl(struct jw *w, double v)
{
    before_value(w);
    char buf[32];

    if (v != v || v - v != 0) { /* NaN and infinities have no JSON form */
        sbuf_puts(w->out, "null");
        return;
    }
    /* the shortest form that reads back as the same double (at most 17 digits) */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    sbuf_puts(w->out, buf);
}

void jw_bool(struct jw *w, bool v)
{
    before_value(w);
    sbuf_puts(w->out, v ? "true" : "false");
}

void jw_null(struct jw *w)
{
    before_value(w);
    sbuf_puts(w->out, "null");
}

void jw_raw(struct jw *w, struct slice json)
{
    before_value(w);
    sbuf_put_slice(w->out, json);
}
