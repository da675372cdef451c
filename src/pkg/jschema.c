/*
 * JSON Schema, the subset the values schemas use (src/pkg/jschema.h). Every write of a values
 * file is checked against its schema before it is committed, and the first failure is told
 * with the document's key, so a user learns which setting is wrong and why.
 */
#include <jansson.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>

#include "pkg/pkg-int.h"

#define MAX_DEPTH      64
#define PATH_MAX_BYTES 1024

struct check {
    const json_t *root; /* the schema, for $ref */
    struct sbuf path;
    int depth;
    bool quiet; /* inside oneOf/anyOf: failures are expected, messages are not kept */
    struct err *err;
};

static int fail(struct check *c, const char *fmt, ...) APP_PRINTF(2, 3);
static int fail(struct check *c, const char *fmt, ...)
{
    char rule[160];
    va_list ap;

    if (c->quiet)
        return ERR_INVALID;
    va_start(ap, fmt);
    vsnprintf(rule, sizeof(rule), fmt, ap);
    va_end(ap);
    return err_set(c->err, ERR_INVALID, "%s: %s", c->path.len ? c->path.buf : "(document)", rule);
}

static int bug(struct check *c, const char *what)
{
    return err_set(c->err, ERR_INTERNAL, "schema at %s: %s",
                   c->path.len ? c->path.buf : "(document)", what);
}

/* ---------------------------------------------------------------- the path */

static bool plain_key(const char *k)
{
    if (*k == '\0')
        return false;
    for (; *k; k++)
        if (*k == '.' || *k == '[' || *k == ']' || *k == '"' || *k == ' ' ||
            (unsigned char)*k < 0x20)
            return false;
    return true;
}

static size_t path_key(struct check *c, const char *key)
{
    size_t mark = c->path.len;

    if (mark > 0)
        sbuf_putc(&c->path, '.');
    if (plain_key(key))
        sbuf_puts(&c->path, key);
    else
        json_escape(&c->path, slice_from_cstr(key));
    return mark;
}

static size_t path_index(struct check *c, size_t i)
{
    size_t mark = c->path.len;

    sbuf_printf(&c->path, "[%zu]", i);
    return mark;
}

static void path_back(struct check *c, size_t mark)
{
    c->path.len = mark;
    if (c->path.buf != NULL)
        c->path.buf[mark] = '\0';
}

/* ---------------------------------------------------------------- keywords */

static const char *const known[] = {
    "type",          "enum",        "const",    "properties", "required",  "additionalProperties",
    "items",         "minItems",    "maxItems", "minLength",  "maxLength", "pattern",
    "minimum",       "maximum",     "oneOf",    "anyOf",      "$ref",      "$defs",
    "title",         "description", "default",  "$schema",    "$id",       "$comment",
    "propertyNames", "examples",
};

static bool is_known(const char *k)
{
    for (size_t i = 0; i < ARRAY_LEN(known); i++)
        if (strcmp(k, known[i]) == 0)
            return true;
    return false;
}

static bool is_integral(const json_t *v)
{
    double d;

    if (json_is_integer(v))
        return true;
    if (!json_is_real(v))
        return false;
    d = json_real_value(v);
    return isfinite(d) && d == floor(d);
}

static bool type_is(const json_t *v, const char *t)
{
    if (strcmp(t, "string") == 0)
        return json_is_string(v);
    if (strcmp(t, "integer") == 0)
        return is_integral(v);
    if (strcmp(t, "number") == 0)
        return json_is_number(v);
    if (strcmp(t, "boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(t, "object") == 0)
        return json_is_object(v);
    if (strcmp(t, "array") == 0)
        return json_is_array(v);
    if (strcmp(t, "null") == 0)
        return json_is_null(v);
    return false;
}

/* Whether <v> has one of the types <t> allows (a name or a list of names); true without one. */
static bool type_allows(const json_t *t, const json_t *v)
{
    size_t i;
    const json_t *x;

    if (t == NULL)
        return true;
    if (json_is_string(t))
        return type_is(v, json_string_value(t));
    json_array_foreach(t, i,
                       x) if (json_is_string(x) && type_is(v, json_string_value(x))) return true;
    return false;
}

static int check_type(struct check *c, const json_t *t, const json_t *v)
{
    struct sbuf names = SBUF_INIT(256);
    size_t i;
    const json_t *x;
    int rc;

    if (!json_is_string(t) && !json_is_array(t))
        return bug(c, "type must be a name or a list");
    if (type_allows(t, v))
        return 0;
    if (json_is_string(t)) {
        sbuf_puts(&names, json_string_value(t));
    } else {
        json_array_foreach(t, i, x)
        {
            if (i > 0)
                sbuf_puts(&names, i + 1 == json_array_size(t) ? " or " : ", ");
            sbuf_puts(&names, json_is_string(x) ? json_string_value(x) : "?");
        }
    }
    rc = fail(c, "must be %s %s", strchr("aeiou", names.buf[0]) ? "an" : "a", names.buf);
    sbuf_release(&names);
    return rc;
}

static int check_enum(struct check *c, const json_t *e, const json_t *v)
{
    struct sbuf list = SBUF_INIT(160);
    size_t i;
    const json_t *x;
    int rc;

    if (!json_is_array(e))
        return bug(c, "enum must be a list");
    json_array_foreach(e, i, x) if (json_equal(x, v)) return 0;
    json_array_foreach(e, i, x)
    {
        char *s = json_dumps(x, JSON_ENCODE_ANY | JSON_COMPACT);

        sbuf_puts(&list, i ? ", " : "");
        sbuf_puts(&list, s ? s : "?");
        free(s);
    }
    rc = fail(c, "must be one of %s", list.err ? "the allowed values" : list.buf);
    sbuf_release(&list);
    return rc;
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static int check_string(struct check *c, const json_t *s, const json_t *v)
{
    const json_t *min = json_object_get(s, "minLength"), *max = json_object_get(s, "maxLength");
    const json_t *pat = json_object_get(s, "pattern");
    size_t n;
    regex_t re;
    int rc;

    if (!json_is_string(v))
        return 0;
    n = utf8_chars(json_string_value(v));
    if (min != NULL && (json_int_t)n < json_integer_value(min))
        return fail(c, "must be at least %" JSON_INTEGER_FORMAT " characters long",
                    json_integer_value(min));
    if (max != NULL && (json_int_t)n > json_integer_value(max))
        return fail(c, "must be at most %" JSON_INTEGER_FORMAT " characters long",
                    json_integer_value(max));
    if (pat == NULL)
        return 0;
    if (!json_is_string(pat) || regcomp(&re, json_string_value(pat), REG_EXTENDED | REG_NOSUB))
        return bug(c, "pattern does not compile");
    rc = strlen(json_string_value(v)) != json_string_length(v) ||
         regexec(&re, json_string_value(v), 0, NULL, 0) != 0;
    regfree(&re);
    return rc ? fail(c, "must match %s", json_string_value(pat)) : 0;
}

static int check_number(struct check *c, const json_t *s, const json_t *v)
{
    const json_t *min = json_object_get(s, "minimum"), *max = json_object_get(s, "maximum");

    if (!json_is_number(v))
        return 0;
    if (min != NULL && json_number_value(v) < json_number_value(min))
        return fail(c, "must be at least %g", json_number_value(min));
    if (max != NULL && json_number_value(v) > json_number_value(max))
        return fail(c, "must be at most %g", json_number_value(max));
    return 0;
}

static int check(struct check *c, const json_t *s, const json_t *v);

static int check_required(struct check *c, const json_t *req, const json_t *v)
{
    size_t i, mark;
    const json_t *k;
    int rc;

    if (!json_is_array(req))
        return bug(c, "required must be a list");
    json_array_foreach(req, i, k)
    {
        if (!json_is_string(k))
            return bug(c, "required lists a key that is not a string");
        if (json_object_get(v, json_string_value(k)) != NULL)
            continue;
        mark = path_key(c, json_string_value(k));
        rc = fail(c, "is required");
        path_back(c, mark);
        return rc;
    }
    return 0;
}

/* An unknown key, told with the keys that are known. */
static int unknown_key(struct check *c, const json_t *props)
{
    struct sbuf names = SBUF_INIT(160);
    const char *k;
    const json_t *x;
    bool first = true;
    int rc;

    json_object_foreach((json_t *)props, k, x)
    {
        sbuf_puts(&names, first ? "" : ", ");
        sbuf_puts(&names, k);
        first = false;
    }
    (void)x;
    rc = props == NULL || names.len == 0 ? fail(c, "is not an allowed key")
         : names.err                     ? fail(c, "is not a known key")
                                         : fail(c, "is not a known key (known: %s)", names.buf);
    sbuf_release(&names);
    return rc;
}

static int check_object(struct check *c, const json_t *s, const json_t *v)
{
    const json_t *props = json_object_get(s, "properties");
    const json_t *extra = json_object_get(s, "additionalProperties");
    const json_t *names = json_object_get(s, "propertyNames");
    const json_t *req = json_object_get(s, "required");
    const char *k;
    const json_t *x, *sub;
    size_t mark;
    int rc = 0;

    if (!json_is_object(v))
        return 0;
    if (req != NULL && (rc = check_required(c, req, v)) < 0)
        return rc;
    json_object_foreach((json_t *)v, k, x)
    {
        mark = path_key(c, k);
        sub = props ? json_object_get(props, k) : NULL;
        if (names != NULL) {
            json_t *key = json_string(k);

            rc = key ? check(c, names, key) : bug(c, "out of memory");
            json_decref(key);
        }
        if (rc == 0 && sub != NULL)
            rc = check(c, sub, x);
        else if (rc == 0 && json_is_false(extra))
            rc = unknown_key(c, props);
        else if (rc == 0 && json_is_object(extra))
            rc = check(c, extra, x);
        path_back(c, mark);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int check_array(struct check *c, const json_t *s, const json_t *v)
{
    const json_t *items = json_object_get(s, "items");
    const json_t *min = json_object_get(s, "minItems"), *max = json_object_get(s, "maxItems");
    size_t i, mark;
    const json_t *x;
    int rc;

    if (!json_is_array(v))
        return 0;
    if (min != NULL && (json_int_t)json_array_size(v) < json_integer_value(min))
        return fail(c, "must have at least %" JSON_INTEGER_FORMAT " items",
                    json_integer_value(min));
    if (max != NULL && (json_int_t)json_array_size(v) > json_integer_value(max))
        return fail(c, "must have at most %" JSON_INTEGER_FORMAT " items", json_integer_value(max));
    if (items == NULL)
        return 0;
    json_array_foreach(v, i, x)
    {
        mark = path_index(c, i);
        rc = check(c, items, x);
        path_back(c, mark);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* oneOf (exactly one form matches) or anyOf (at least one). When only one of the forms allows
 * the value's type, its own failure is the message: "must be at least 1", not "matches none". */
static int check_forms(struct check *c, const json_t *forms, const json_t *v, bool one)
{
    size_t i, matched = 0, typed = 0, last_typed = 0;
    const json_t *f;
    bool quiet = c->quiet;
    int rc;

    if (!json_is_array(forms) || json_array_size(forms) == 0)
        return bug(c, "oneOf/anyOf must be a non-empty list");
    c->quiet = true;
    json_array_foreach(forms, i, f)
    {
        rc = check(c, f, v);
        if (rc == ERR_INTERNAL) {
            c->quiet = quiet;
            return check(c, f, v); /* tells the schema bug */
        }
        matched += rc == 0;
        if (json_is_object(f) && type_allows(json_object_get(f, "type"), v)) {
            typed++;
            last_typed = i;
        }
    }
    c->quiet = quiet;
    if (matched == 1 || (!one && matched > 0))
        return 0;
    if (matched > 1)
        return fail(c, "matches %zu of its allowed forms where exactly one must match", matched);
    if (typed == 1)
        return check(c, json_array_get(forms, last_typed), v);
    return fail(c, "matches none of its %zu allowed forms", json_array_size(forms));
}

static int check_ref(struct check *c, const json_t *ref, const json_t *v)
{
    const char *r = json_is_string(ref) ? json_string_value(ref) : "";
    const json_t *def;

    if (strncmp(r, "#/$defs/", 8) != 0)
        return bug(c, "$ref must be #/$defs/<name>");
    def = json_object_get(json_object_get(c->root, "$defs"), r + 8);
    return def ? check(c, def, v) : bug(c, "$ref names no definition");
}

static int check(struct check *c, const json_t *s, const json_t *v)
{
    const json_t *x;
    const char *k;
    int rc = 0;

    if (json_is_true(s))
        return 0;
    if (json_is_false(s))
        return fail(c, "is not allowed");
    if (!json_is_object(s))
        return bug(c, "a schema must be an object or a boolean");
    if (++c->depth > MAX_DEPTH) {
        c->depth--;
        return bug(c, "nested deeper than 64 levels (a $ref loop?)");
    }
    json_object_foreach((json_t *)s, k, x) if (!is_known(k))
    {
        c->depth--;
        return bug(c, "uses a keyword this validator does not know");
    }
    if ((x = json_object_get(s, "$ref")) != NULL)
        rc = check_ref(c, x, v);
    if (rc == 0 && (x = json_object_get(s, "type")) != NULL)
        rc = check_type(c, x, v);
    if (rc == 0 && (x = json_object_get(s, "enum")) != NULL)
        rc = check_enum(c, x, v);
    if (rc == 0 && (x = json_object_get(s, "const")) != NULL && !json_equal(x, v))
        rc = fail(c, "must be exactly %s", json_is_string(x) ? json_string_value(x) : "its value");
    if (rc == 0)
        rc = check_string(c, s, v);
    if (rc == 0)
        rc = check_number(c, s, v);
    if (rc == 0)
        rc = check_object(c, s, v);
    if (rc == 0)
        rc = check_array(c, s, v);
    if (rc == 0 && (x = json_object_get(s, "oneOf")) != NULL)
        rc = check_forms(c, x, v, true);
    if (rc == 0 && (x = json_object_get(s, "anyOf")) != NULL)
        rc = check_forms(c, x, v, false);
    c->depth--;
    return rc;
}

int pkg_jschema_check(const json_t *schema, const json_t *doc, struct err *err)
{
    struct check c = {.root = schema, .path = SBUF_INIT(PATH_MAX_BYTES), .err = err};
    int rc = check(&c, schema, doc);

    if (rc < 0 && c.path.err != 0 && err != NULL)
        err_wrap(err, "(a key path over %u bytes, cut)", PATH_MAX_BYTES);
    sbuf_release(&c.path);
    return rc;
}
