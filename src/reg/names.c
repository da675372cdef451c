/*
 * The registry's parsers: repository names, tags, digests, Content-Range, Range and the
 * /v2/ paths. Pure functions over slices (fuzzed: fuzz/regname).
 */
#include <stdio.h>

#include "reg-int.h"
#include "oci/oci.h"

static bool lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int reg_name_check(struct slice name, struct err *err)
{
    struct slice rest = name, comp;
    size_t n = 0;

    if (name.len == 0 || name.len > REG_NAME_MAX)
        return err_set(err, ERR_INVALID, "repository name must be 1..%d bytes", REG_NAME_MAX);
    while (rest.len > 0 || n == 0) {
        bool more = slice_split(&rest, '/', &comp);

        if (!oci_name_component_valid(comp))
            return err_set(err, ERR_INVALID,
                           "repository name: component %zu is not [a-z0-9]+ joined by '.', "
                           "'_', '__' or '-'",
                           n + 1);
        n++;
        if (more && rest.len == 0)
            return err_set(err, ERR_INVALID, "repository name ends with '/'");
    }
    if (n < 2)
        return err_set(err, ERR_INVALID,
                       "repository name must be <workspace>/<name>: the workspace comes first");
    return 0;
}

struct slice reg_name_workspace(struct slice name)
{
    struct slice head;

    slice_split(&name, '/', &head);
    return head;
}

bool reg_tag_valid(struct slice tag)
{
    if (tag.len == 0 || tag.len > REG_TAG_MAX)
        return false;
    for (size_t i = 0; i < tag.len; i++) {
        char c = tag.ptr[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || (i > 0 && (c == '.' || c == '-'));

        if (!ok)
            return false;
    }
    return true;
}

int reg_digest_parse(struct slice s, char hex[REG_HEX_LEN + 1], struct err *err)
{
    struct slice alg, enc = s;

    if (!slice_split(&enc, ':', &alg) || alg.len == 0 || enc.len == 0)
        return err_set(err, ERR_INVALID, "digest: expected <algorithm>:<hex>");
    if (!slice_eq_cstr(alg, "sha256")) {
        for (size_t i = 0; i < alg.len; i++)
            if (!lower_alnum(alg.ptr[i]) && alg.ptr[i] != '+' && alg.ptr[i] != '.' &&
                alg.ptr[i] != '_' && alg.ptr[i] != '-')
                return err_set(err, ERR_INVALID, "digest: bad algorithm");
        return err_set(err, ERR_CONFLICT, "digest: only sha256 is supported");
    }
    if (enc.len != REG_HEX_LEN)
        return err_set(err, ERR_INVALID, "digest: sha256 needs 64 hex digits");
    for (size_t i = 0; i < enc.len; i++) {
        char c = enc.ptr[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return err_set(err, ERR_INVALID, "digest: lower-case hex digits only");
    }
    memcpy(hex, enc.ptr, REG_HEX_LEN);
    hex[REG_HEX_LEN] = '\0';
    return 0;
}

/* "<a>-<b>" with both present (b may be empty when <open_end>). */
static int parse_span(struct slice s, bool open_end, uint64_t *a, uint64_t *b, bool *has_b)
{
    struct slice left;

    if (!slice_split(&s, '-', &left) || slice_to_u64(left, a) < 0)
        return ERR_INVALID;
    *has_b = s.len > 0;
    if (!*has_b)
        return open_end ? 0 : ERR_INVALID;
    return slice_to_u64(s, b) < 0 ? ERR_INVALID : 0;
}

int reg_content_range_parse(struct slice s, uint64_t *start, uint64_t *end, struct err *err)
{
    bool has_end;

    s = slice_trim(s);
    if (slice_starts_with(s, SLICE("bytes ")) || slice_starts_with(s, SLICE("bytes=")))
        s.ptr += 6, s.len -= 6;
    if (parse_span(s, false, start, end, &has_end) < 0 || *start > *end)
        return err_set(err, ERR_INVALID, "Content-Range: expected <start>-<end>, start <= end");
    return 0;
}

int reg_range_parse(struct slice s, uint64_t size, uint64_t *off, uint64_t *len, struct err *err)
{
    uint64_t a = 0, b = 0;
    bool has_b;

    s = slice_trim(s);
    if (!slice_starts_with(s, SLICE("bytes=")))
        return err_set(err, ERR_INVALID, "Range: expected bytes=<start>-<end>");
    s.ptr += 6, s.len -= 6;
    if (s.len > 0 && s.ptr[0] == '-') { /* the last <n> bytes */
        s.ptr++, s.len--;
        if (slice_to_u64(s, &b) < 0)
            return err_set(err, ERR_INVALID, "Range: bad suffix length");
        if (b == 0 || size == 0)
            return err_set(err, ERR_LIMIT, "Range: nothing to send");
        *len = b < size ? b : size;
        *off = size - *len;
        return 0;
    }
    if (parse_span(s, true, &a, &b, &has_b) < 0 || (has_b && b < a))
        return err_set(err, ERR_INVALID, "Range: expected bytes=<start>-<end>");
    if (a >= size)
        return err_set(err, ERR_LIMIT, "Range: starts past the end");
    if (!has_b || b >= size)
        b = size - 1;
    *off = a;
    *len = b - a + 1;
    return 0;
}

/* The last segment of <s> (after its last '/'), and *before what precedes that '/'. */
static struct slice last_seg(struct slice s, struct slice *before)
{
    size_t i = s.len;

    while (i > 0 && s.ptr[i - 1] != '/')
        i--;
    *before = (struct slice){s.ptr, i > 0 ? i - 1 : 0};
    return (struct slice){s.ptr + i, s.len - i};
}

int reg_path_parse(struct slice rest, struct reg_path *out)
{
    struct slice a, b, c, p1, p2, p3;

    memset(out, 0, sizeof(*out));
    if (rest.len == 0) {
        out->op = REG_OP_BASE;
        return 0;
    }
    a = last_seg(rest, &p1); /* rest = p1/a */
    b = last_seg(p1, &p2);   /*      = p2/b/a */
    c = last_seg(p2, &p3);   /*      = p3/c/b/a */
    if (p1.len == 0 || p2.len == 0)
        return ERR_NOTFOUND;
    if (slice_eq_cstr(b, "tags") && slice_eq_cstr(a, "list"))
        *out = (struct reg_path){REG_OP_TAGS, p2, SLICE_NULL};
    else if (slice_eq_cstr(b, "manifests"))
        *out = (struct reg_path){REG_OP_MANIFEST, p2, a};
    else if (slice_eq_cstr(b, "blobs") && slice_eq_cstr(a, "uploads"))
        *out = (struct reg_path){REG_OP_UPLOAD_NEW, p2, SLICE_NULL};
    else if (p3.len > 0 && slice_eq_cstr(c, "blobs") && slice_eq_cstr(b, "uploads"))
        *out = (struct reg_path){REG_OP_UPLOAD, p3, a};
    else if (slice_eq_cstr(b, "blobs"))
        *out = (struct reg_path){REG_OP_BLOB, p2, a};
    else
        return ERR_NOTFOUND;
    return 0;
}
