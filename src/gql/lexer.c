/*
 * The GraphQL lexer (spec §2.1, October 2021): ignored tokens (BOM, white space, line
 * terminators, comments, commas), punctuators, names, numbers and strings. The source is UTF-8;
 * a byte sequence that is not a Unicode scalar value is an error wherever it appears.
 */
#include <stdio.h>

#include "gql/gql-int.h"

void gql_lexer_init(struct gql_lexer *lx, struct arena *a, struct slice src, size_t max_tokens,
                    struct err *err, struct gql_error_loc *where)
{
    memset(lx, 0, sizeof(*lx));
    lx->a = a;
    lx->p = src.ptr ? src.ptr : "";
    lx->end = lx->p + src.len;
    lx->line_start = lx->col_base = lx->p;
    lx->line = lx->col_at_base = 1;
    lx->max_tokens = max_tokens;
    lx->err = err;
    lx->where = where;
    lx->tok.kind = GQL_T_EOF;
}

int gql_lexer_fail(struct gql_lexer *lx, struct gql_loc loc, int code, const char *fmt, ...)
{
    char msg[sizeof(lx->err->msg)];
    va_list ap;

    if (lx->rc != 0)
        return lx->rc;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    lx->rc = err_set(lx->err, code, "%" PRIu32 ":%" PRIu32 ": %s", loc.line, loc.column, msg);
    if (lx->where != NULL)
        *lx->where = (struct gql_error_loc){loc.line, loc.column};
    lx->tok.kind = GQL_T_EOF;
    lx->tok.text = SLICE_NULL;
    return lx->rc;
}

/* Columns count code points; positions asked for only move forward on a line, so counting
 * from the last one keeps the lexer linear. */
static struct gql_loc loc_at(struct gql_lexer *lx, const char *q)
{
    if (q < lx->col_base) {
        lx->col_base = lx->line_start;
        lx->col_at_base = 1;
    }
    for (const char *s = lx->col_base; s < q; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            lx->col_at_base++;
    lx->col_base = q;
    return (struct gql_loc){lx->line, lx->col_at_base};
}

/* <p> points just past a line terminator. */
static void new_line(struct gql_lexer *lx, const char *p)
{
    lx->line++;
    lx->line_start = lx->col_base = p;
    lx->col_at_base = 1;
}

/* Length of the UTF-8 encoding of a Unicode scalar value at <p> (*cp gets it), 0 if none. */
static size_t utf8_decode(const char *p, const char *end, uint32_t *cp)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t avail = (size_t)(end - p), n;
    uint32_t c, min;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, c = s[0] & 0x1f, min = 0x80;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, c = s[0] & 0x0f, min = 0x800;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, c = s[0] & 0x07, min = 0x10000;
    else
        return 0;
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

static size_t utf8_encode(char *out, uint32_t c)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xc0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xe0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        out[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
    out[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

/* "\"x\"" for printable ASCII, "U+0007" otherwise. */
static void describe_char(const char *p, const char *end, char *buf, size_t n)
{
    uint32_t c;

    if (utf8_decode(p, end, &c) == 0)
        snprintf(buf, n, "byte 0x%02X (not UTF-8)", (unsigned char)*p);
    else if (c >= 0x20 && c < 0x7f)
        snprintf(buf, n, "\"%c\"", (char)c);
    else
        snprintf(buf, n, "U+%04" PRIX32, c);
}

static int fail_char(struct gql_lexer *lx, const char *p, const char *what)
{
    char d[32];

    describe_char(p, lx->end, d, sizeof(d));
    return gql_lexer_fail(lx, loc_at(lx, p), ERR_INVALID, "%s %s", what, d);
}

static int fail_char_or_eof(struct gql_lexer *lx, const char *p, const char *what)
{
    if (p == lx->end)
        return gql_lexer_fail(lx, loc_at(lx, p), ERR_INVALID, "%s <EOF>", what);
    return fail_char(lx, p, what);
}

/* Steps over a source character inside a comment or string; 0 or an error. */
static int step_char(struct gql_lexer *lx, const char **p)
{
    uint32_t c;
    size_t n = utf8_decode(*p, lx->end, &c);

    if (n == 0)
        return fail_char(lx, *p, "invalid UTF-8:");
    *p += n;
    return 0;
}

/* A line terminator at <p>: "\n", "\r\n" or "\r"; returns its length (0 if none). */
static size_t line_end_len(const char *p, const char *end)
{
    if (*p == '\n')
        return 1;
    if (*p == '\r')
        return p + 1 < end && p[1] == '\n' ? 2 : 1;
    return 0;
}

static int skip_comment(struct gql_lexer *lx)
{
    const char *p = lx->p + 1;

    while (p < lx->end && *p != '\n' && *p != '\r')
        if (step_char(lx, &p) != 0)
            return lx->rc;
    lx->p = p;
    return 0;
}

static int skip_ignored(struct gql_lexer *lx)
{
    while (lx->p < lx->end) {
        const char *p = lx->p;
        size_t n;

        if (*p == ' ' || *p == '\t' || *p == ',')
            lx->p++;
        else if ((n = line_end_len(p, lx->end)) != 0)
            new_line(lx, lx->p += n);
        else if (*p == '#') {
            if (skip_comment(lx) != 0)
                return lx->rc;
        } else if (lx->end - p >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
            lx->p += 3; /* UnicodeBOM */
        else
            break;
    }
    return 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(char c)
{
    return is_name_start(c) || is_digit(c);
}

static const char *skip_digits(const char *p, const char *end)
{
    while (p < end && is_digit(*p))
        p++;
    return p;
}

static int emit(struct gql_lexer *lx, enum gql_tok kind, struct slice text, const char *next)
{
    lx->tok.kind = kind;
    lx->tok.text = text;
    lx->p = next;
    return 0;
}

/* An integer part, then optional fraction and exponent; no name start or '.' may follow. */
static int lex_number(struct gql_lexer *lx, const char *start)
{
    const char *p = start, *end = lx->end;
    enum gql_tok kind = GQL_T_INT;

    if (*p == '-')
        p++;
    if (p == end || !is_digit(*p))
        return fail_char_or_eof(lx, p, "invalid number: expected a digit after \"-\", found");
    if (*p == '0') {
        if (++p < end && is_digit(*p))
            return fail_char(lx, p, "invalid number: leading zero followed by");
    } else {
        p = skip_digits(p, end);
    }
    if (p < end && *p == '.') {
        kind = GQL_T_FLOAT;
        if (++p == end || !is_digit(*p))
            return fail_char_or_eof(lx, p, "invalid number: expected a digit after \".\", found");
        p = skip_digits(p, end);
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        kind = GQL_T_FLOAT;
        if (++p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end || !is_digit(*p))
            return fail_char_or_eof(lx, p,
                                    "invalid number: expected a digit in the exponent, found");
        p = skip_digits(p, end);
    }
    if (p < end && (*p == '.' || is_name_start(*p)))
        return fail_char(lx, p, "invalid number: unexpected");
    return emit(lx, kind, (struct slice){start, (size_t)(p - start)}, p);
}

static int fail_limit(struct gql_lexer *lx, const char *p)
{
    return gql_lexer_fail(lx, loc_at(lx, p), ERR_LIMIT, "document needs more memory than allowed");
}

/* Four hex digits at <p>, or -1. */
static int32_t hex4(const char *p, const char *end)
{
    int32_t v = 0;

    if (end - p < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        int h = slice_hex_digit(p[i]);

        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

static bool is_surrogate(uint32_t c, uint32_t lo)
{
    return c >= lo && c <= lo + 0x3ff;
}

/* \u{X…}: a Unicode scalar value; <p> is just past '{'. Returns the value or -1. */
static int32_t braced_hex(const char **pp, const char *end)
{
    const char *p = *pp;
    uint32_t v = 0;

    if (p == end || slice_hex_digit(*p) < 0)
        return -1;
    for (; p < end && slice_hex_digit(*p) >= 0; p++)
        if (v <= 0x10ffff)
            v = v * 16 + (uint32_t)slice_hex_digit(*p);
    if (p == end || *p != '}' || v > 0x10ffff || is_surrogate(v, 0xd800) || is_surrogate(v, 0xdc00))
        return -1;
    *pp = p + 1;
    return (int32_t)v;
}

/* \uXXXX, combining a leading surrogate with a trailing "\uXXXX" one. <pp> is past the 'u'. */
static int32_t fixed_hex(struct gql_lexer *lx, const char *bs, const char **pp)
{
    const char *p = *pp;
    int32_t v = hex4(p, lx->end), lo;

    if (v < 0)
        return gql_lexer_fail(lx, loc_at(lx, bs), ERR_INVALID, "invalid Unicode escape sequence");
    p += 4;
    if (is_surrogate((uint32_t)v, 0xd800)) {
        if (lx->end - p >= 6 && p[0] == '\\' && p[1] == 'u' && (lo = hex4(p + 2, lx->end)) >= 0 &&
            is_surrogate((uint32_t)lo, 0xdc00)) {
            v = 0x10000 + ((v - 0xd800) << 10) + (lo - 0xdc00);
            p += 6;
        } else {
            v = -1;
        }
    } else if (is_surrogate((uint32_t)v, 0xdc00)) {
        v = -1;
    }
    if (v < 0)
        return gql_lexer_fail(lx, loc_at(lx, bs), ERR_INVALID,
                              "invalid Unicode escape sequence: lone surrogate");
    *pp = p;
    return v;
}

/* The escape whose backslash is at <bs>: appends its UTF-8 to <out> (*n bytes), moves *pp. */
static int lex_escape(struct gql_lexer *lx, const char *bs, const char **pp, char *out, size_t *n)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *p = bs + 1, *hit = memchr(from, *p, sizeof(from) - 1);
    int32_t c;

    if (hit != NULL && *p != '\0') {
        out[0] = to[hit - from];
        *n = 1;
        *pp = p + 1;
        return 0;
    }
    if (*p != 'u') { /* the place is the backslash, where the bad sequence starts */
        char d[32];

        describe_char(p, lx->end, d, sizeof(d));
        return gql_lexer_fail(lx, loc_at(lx, bs), ERR_INVALID,
                              "invalid escape sequence: \\ followed by %s", d);
    }
    p++;
    if (p < lx->end && *p == '{') {
        p++;
        c = braced_hex(&p, lx->end);
        if (c < 0)
            return gql_lexer_fail(lx, loc_at(lx, bs), ERR_INVALID,
                                  "invalid Unicode escape sequence");
    } else if ((c = fixed_hex(lx, bs, &p)) < 0) {
        return lx->rc;
    }
    *n = utf8_encode(out, (uint32_t)c);
    *pp = p;
    return 0;
}

/* Decodes the body of a "string" ending at <close> into <a>. */
static int decode_string(struct gql_lexer *lx, const char *p, const char *close, struct slice *out)
{
    char *buf = arena_alloc(lx->a, (size_t)(close - p) + 1); /* escapes never grow */
    size_t n = 0, k = 0;

    if (buf == NULL)
        return fail_limit(lx, p);
    while (p < close) {
        const char *s = p;

        if (*p == '\\') {
            if (lex_escape(lx, p, &p, buf + n, &k) != 0)
                return lx->rc;
            n += k;
        } else {
            if (step_char(lx, &p) != 0)
                return lx->rc;
            memcpy(buf + n, s, (size_t)(p - s));
            n += (size_t)(p - s);
        }
    }
    buf[n] = '\0';
    *out = (struct slice){buf, n};
    return 0;
}

static int lex_string(struct gql_lexer *lx, const char *start)
{
    const char *p = start + 1, *end = lx->end;
    struct slice value = SLICE_NULL;

    while (p < end && *p != '"') {
        if (*p == '\n' || *p == '\r')
            break;
        p += (*p == '\\' && p + 1 < end && p[1] != '\n' && p[1] != '\r') ? 2 : 1;
    }
    if (p == end || *p != '"')
        return gql_lexer_fail(lx, loc_at(lx, p), ERR_INVALID, "unterminated string");
    if (decode_string(lx, start + 1, p, &value) != 0)
        return lx->rc;
    return emit(lx, GQL_T_STRING, value, p + 1);
}

/* Splits <raw> at line terminators: "a\n" is the lines "a" and "". */
static bool line_next(struct slice raw, size_t *pos, bool *done, struct slice *line)
{
    size_t i = *pos;

    if (*done)
        return false;
    while (i < raw.len && raw.ptr[i] != '\n' && raw.ptr[i] != '\r')
        i++;
    *line = (struct slice){raw.ptr + *pos, i - *pos};
    if (i == raw.len)
        *done = true;
    else
        i += line_end_len(raw.ptr + i, raw.ptr + raw.len);
    *pos = i;
    return true;
}

static size_t leading_ws(struct slice l)
{
    size_t i = 0;

    while (i < l.len && (l.ptr[i] == ' ' || l.ptr[i] == '\t'))
        i++;
    return i;
}

/* The spec's BlockStringValue(<raw>) into <out> (room for raw.len bytes); returns the length.
 * A line that is blank before the common indent goes is blank after, so the blank lines to
 * drop at both ends can be found in the same first pass. */
static size_t block_string_value(struct slice raw, char *out)
{
    size_t pos = 0, idx = 0, common = SIZE_MAX, first = SIZE_MAX, last = 0, n = 0;
    bool done = false;
    struct slice l;

    while (line_next(raw, &pos, &done, &l)) {
        size_t ws = leading_ws(l);

        if (ws < l.len) {
            if (idx > 0 && ws < common)
                common = ws;
            first = first == SIZE_MAX ? idx : first;
            last = idx;
        }
        idx++;
    }
    if (first == SIZE_MAX)
        return 0;
    common = common == SIZE_MAX ? 0 : common;
    for (pos = 0, idx = 0, done = false; line_next(raw, &pos, &done, &l); idx++) {
        if (idx < first || idx > last)
            continue;
        if (idx > first)
            out[n++] = '\n';
        if (idx > 0) {
            size_t cut = l.len < common ? l.len : common;

            l.ptr += cut;
            l.len -= cut;
        }
        memcpy(out + n, l.ptr, l.len);
        n += l.len;
    }
    return n;
}

/* Finds the closing """ after <p>, checking UTF-8 and counting lines; NULL on error. */
static const char *block_string_end(struct gql_lexer *lx, const char *p)
{
    const char *end = lx->end;
    size_t n;

    for (;;) {
        if (p == end) {
            gql_lexer_fail(lx, loc_at(lx, p), ERR_INVALID, "unterminated block string");
            return NULL;
        }
        if (end - p >= 3 && memcmp(p, "\"\"\"", 3) == 0)
            return p;
        if (end - p >= 4 && memcmp(p, "\\\"\"\"", 4) == 0)
            p += 4;
        else if ((n = line_end_len(p, end)) != 0)
            new_line(lx, p += n);
        else if (step_char(lx, &p) != 0)
            return NULL;
    }
}

static int lex_block_string(struct gql_lexer *lx, const char *start)
{
    const char *close = block_string_end(lx, start + 3);
    char *raw, *value;
    size_t n = 0;

    if (close == NULL)
        return lx->rc;
    raw = arena_alloc(lx->a, (size_t)(close - start - 3) + 1);
    value = arena_alloc(lx->a, (size_t)(close - start - 3) + 1);
    if (raw == NULL || value == NULL)
        return fail_limit(lx, close);
    for (const char *p = start + 3; p < close;) {
        if (close - p >= 4 && memcmp(p, "\\\"\"\"", 4) == 0) {
            memcpy(raw + n, "\"\"\"", 3);
            n += 3;
            p += 4;
        } else {
            raw[n++] = *p++;
        }
    }
    n = block_string_value((struct slice){raw, n}, value);
    value[n] = '\0';
    return emit(lx, GQL_T_BLOCK_STRING, (struct slice){value, n}, close + 3);
}

static int lex_token(struct gql_lexer *lx)
{
    static const char puncts[] = "!$&():=@[]{|}";
    static const enum gql_tok kinds[] = {
        GQL_T_BANG,   GQL_T_DOLLAR, GQL_T_AMP,    GQL_T_LPAREN,   GQL_T_RPAREN,
        GQL_T_COLON,  GQL_T_EQUALS, GQL_T_AT,     GQL_T_LBRACKET, GQL_T_RBRACKET,
        GQL_T_LBRACE, GQL_T_PIPE,   GQL_T_RBRACE,
    };
    const char *p = lx->p, *end = lx->end, *hit = memchr(puncts, *p, sizeof(puncts) - 1);

    if (hit != NULL && *p != '\0')
        return emit(lx, kinds[hit - puncts], (struct slice){p, 1}, p + 1);
    if (*p == '.') {
        if (end - p >= 3 && p[1] == '.' && p[2] == '.')
            return emit(lx, GQL_T_SPREAD, (struct slice){p, 3}, p + 3);
        return fail_char(lx, p, "unexpected character");
    }
    if (is_name_start(*p)) {
        const char *q = p + 1;

        while (q < end && is_name_char(*q))
            q++;
        return emit(lx, GQL_T_NAME, (struct slice){p, (size_t)(q - p)}, q);
    }
    if (*p == '-' || is_digit(*p))
        return lex_number(lx, p);
    if (*p == '"') {
        if (end - p >= 3 && p[1] == '"' && p[2] == '"')
            return lex_block_string(lx, p);
        return lex_string(lx, p);
    }
    return fail_char(lx, p, "unexpected character");
}

int gql_lexer_next(struct gql_lexer *lx)
{
    if (lx->rc != 0)
        return lx->rc;
    if (skip_ignored(lx) != 0)
        return lx->rc;
    lx->tok.loc = loc_at(lx, lx->p);
    if (lx->p == lx->end)
        return emit(lx, GQL_T_EOF, SLICE_NULL, lx->p);
    if (++lx->ntokens > lx->max_tokens)
        return gql_lexer_fail(lx, lx->tok.loc, ERR_LIMIT,
                              "document has more than %zu tokens (max_tokens)", lx->max_tokens);
    return lex_token(lx);
}

void gql_token_describe(const struct gql_token *t, char *buf, size_t n)
{
    static const char *const kinds[] = {
        [GQL_T_NAME] = "Name", [GQL_T_INT] = "Int", [GQL_T_FLOAT] = "Float"};
    int len = t->text.len > 40 ? 40 : (int)t->text.len;

    switch (t->kind) {
    case GQL_T_EOF:
        snprintf(buf, n, "<EOF>");
        break;
    case GQL_T_NAME:
    case GQL_T_INT:
    case GQL_T_FLOAT:
        snprintf(buf, n, "%s \"%.*s%s\"", kinds[t->kind], len, t->text.ptr,
                 t->text.len > 40 ? "…" : "");
        break;
    case GQL_T_STRING:
        snprintf(buf, n, "String");
        break;
    case GQL_T_BLOCK_STRING:
        snprintf(buf, n, "BlockString");
        break;
    default:
        snprintf(buf, n, "\"%.*s\"", len, t->text.ptr);
        break;
    }
}
