/*
 * Image references: "host[:port]/repo[:tag][@sha256:<hex>]" after the distribution
 * specification's grammar (its reference package). Pure functions over slices, fuzzed by
 * fuzz/ociref. Unlike docker's parser there is no default registry nor "library/": slipway
 * always says which registry it means, so a reference without a host is an error.
 */
#include <stdio.h>

#include "oci-int.h"

static bool alnum_lower(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool alnum(char c)
{
    return alnum_lower(c) || (c >= 'A' && c <= 'Z');
}

static bool hex_lower(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool oci_digest_valid(struct slice s)
{
    if (s.len != OCI_DIGEST_SIZE - 1 || !slice_starts_with(s, SLICE("sha256:")))
        return false;
    for (size_t i = 7; i < s.len; i++)
        if (!hex_lower(s.ptr[i]))
            return false;
    return true;
}

/* A tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} */
static bool tag_valid(struct slice t)
{
    if (t.len == 0 || t.len > OCI_TAG_MAX)
        return false;
    for (size_t i = 0; i < t.len; i++)
        if (!alnum(t.ptr[i]) && t.ptr[i] != '_' && (i == 0 || (t.ptr[i] != '.' && t.ptr[i] != '-')))
            return false;
    return true;
}

bool oci_name_component_valid(struct slice c)
{
    size_t i = 0;

    if (c.len == 0 || !alnum_lower(c.ptr[0]))
        return false;
    while (i < c.len) {
        while (i < c.len && alnum_lower(c.ptr[i]))
            i++;
        if (i == c.len)
            return true;
        if (c.ptr[i] == '.')
            i++;
        else if (c.ptr[i] == '_')
            i += (i + 1 < c.len && c.ptr[i + 1] == '_') ? 2 : 1;
        else if (c.ptr[i] == '-')
            while (i < c.len && c.ptr[i] == '-')
                i++;
        else
            return false;
        if (i == c.len || !alnum_lower(c.ptr[i])) /* a separator joins two runs */
            return false;
    }
    return true;
}

static bool repo_valid(struct slice repo)
{
    struct slice comp;

    if (repo.len == 0 || repo.len > OCI_REPO_MAX)
        return false;
    while (repo.len > 0) {
        bool more = slice_split(&repo, '/', &comp);

        if (!oci_name_component_valid(comp) || (more && repo.len == 0))
            return false;
    }
    return true;
}

/* One DNS label: letters, digits and inner '-'. */
static bool label_valid(struct slice l)
{
    if (l.len == 0 || l.len > 63 || !alnum(l.ptr[0]) || !alnum(l.ptr[l.len - 1]))
        return false;
    for (size_t i = 0; i < l.len; i++)
        if (!alnum(l.ptr[i]) && l.ptr[i] != '-')
            return false;
    return true;
}

static bool port_valid(struct slice p)
{
    uint64_t v;

    return p.len > 0 && p.len <= 5 && slice_to_u64(p, &v) == 0 && v > 0 && v <= 65535;
}

/* host[:port], where host is labels joined by '.' (IPv4 included) or "[" IPv6 "]". */
static bool host_valid(struct slice h)
{
    struct slice name = h, label;
    const char *colon;

    if (h.len == 0 || h.len > OCI_HOST_MAX)
        return false;
    if (h.ptr[0] == '[') {
        const char *end = memchr(h.ptr, ']', h.len);
        size_t n;

        if (end == NULL || end == h.ptr + 1)
            return false;
        for (const char *p = h.ptr + 1; p < end; p++)
            if (!hex_lower(*p) && !(*p >= 'A' && *p <= 'F') && *p != ':' && *p != '.')
                return false;
        n = (size_t)(end + 1 - h.ptr);
        if (n == h.len)
            return true;
        return h.ptr[n] == ':' && port_valid((struct slice){h.ptr + n + 1, h.len - n - 1});
    }
    colon = memchr(h.ptr, ':', h.len);
    if (colon != NULL) {
        name.len = (size_t)(colon - h.ptr);
        if (!port_valid((struct slice){colon + 1, h.len - name.len - 1}))
            return false;
    }
    if (name.len == 0)
        return false;
    while (name.len > 0) {
        bool more = slice_split(&name, '.', &label);

        if (!label_valid(label) || (more && name.len == 0))
            return false;
    }
    return true;
}

/* Docker's rule for telling a registry from a first path component. */
static bool looks_like_host(struct slice h)
{
    return memchr(h.ptr, '.', h.len) != NULL || memchr(h.ptr, ':', h.len) != NULL ||
           slice_eq_cstr(h, "localhost") || (h.len > 0 && h.ptr[0] == '[');
}

static void copy_out(char *dst, size_t cap, struct slice s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;

    memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

static void split_tag(struct slice path, struct slice *repo, struct slice *tag)
{
    const char *slash = memrchr(path.ptr, '/', path.len);
    const char *after = slash != NULL ? slash + 1 : path.ptr;
    const char *colon = memchr(after, ':', (size_t)(path.ptr + path.len - after));

    *repo = path;
    *tag = SLICE_NULL;
    if (colon != NULL) {
        repo->len = (size_t)(colon - path.ptr);
        *tag = (struct slice){colon + 1, (size_t)(path.ptr + path.len - colon - 1)};
    }
}

int oci_ref_parse(struct slice s, struct oci_ref *out, struct err *err)
{
    struct slice name = s, digest = SLICE_NULL, host, repo, tag;
    const char *at = memchr(s.ptr, '@', s.len);

    memset(out, 0, sizeof(*out));
    if (s.len == 0)
        return err_set(err, ERR_INVALID, "image reference: empty");
    if (at != NULL) {
        name.len = (size_t)(at - s.ptr);
        digest = (struct slice){at + 1, s.len - name.len - 1};
        if (!oci_digest_valid(digest))
            return err_set(err, ERR_INVALID,
                           "image reference: digest must be sha256: and 64 lower-case hex digits");
    }
    if (!slice_split(&name, '/', &host) || !looks_like_host(host))
        return err_set(err, ERR_INVALID,
                       "image reference: must start with the registry (host[:port]/repository)");
    if (!host_valid(host))
        return err_set(err, ERR_INVALID, "image reference: registry host[:port] is malformed");
    split_tag(name, &repo, &tag);
    if (!repo_valid(repo))
        return err_set(err, ERR_INVALID,
                       "image reference: repository must be lower-case [a-z0-9] components "
                       "joined by '.', '_', '__' or '-', separated by '/', at most %d bytes",
                       OCI_REPO_MAX);
    if (tag.ptr != NULL && !tag_valid(tag))
        return err_set(err, ERR_INVALID,
                       "image reference: tag must be [A-Za-z0-9_][A-Za-z0-9_.-]*, at most %d bytes",
                       OCI_TAG_MAX);
    copy_out(out->host, sizeof(out->host), host);
    copy_out(out->repo, sizeof(out->repo), repo);
    if (tag.ptr != NULL)
        copy_out(out->tag, sizeof(out->tag), tag);
    else if (digest.ptr == NULL)
        copy_out(out->tag, sizeof(out->tag), SLICE("latest"));
    if (digest.ptr != NULL)
        copy_out(out->digest, sizeof(out->digest), digest);
    return 0;
}

const char *oci_ref_reference(const struct oci_ref *r)
{
    return r->digest[0] != '\0' ? r->digest : r->tag;
}
