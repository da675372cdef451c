/*
 * bld parse: small parsers for the files that describe an app (Procfile, Staticfile,
 * requirements.txt, pyproject.toml and Pipfile, go.mod, .nvmrc, Dockerfile EXPOSE).
 *
 * They read only what detection needs and skip the rest of each format, so they are not
 * validators: a file they accept may still be refused by the real tool. What they must never do
 * is read past the input, loop forever or allocate: the input comes from a stranger's
 * repository, and each parser has a libFuzzer harness under fuzz/.
 */
#include <ctype.h>

#include "base/base.h"
#include "bld/bld-int.h"

/* ---------------------------------------------------------------- lines */

struct lines {
    struct slice rest;
    unsigned no; /* the number of the line last returned, from 1 */
};

/* The next line of <it> without its "\n" or "\r\n"; false at the end. */
static bool next_line(struct lines *it, struct slice *line)
{
    const char *nl;

    if (it->rest.len == 0)
        return false;
    nl = memchr(it->rest.ptr, '\n', it->rest.len);
    line->ptr = it->rest.ptr;
    line->len = nl != NULL ? (size_t)(nl - it->rest.ptr) : it->rest.len;
    it->rest.ptr += line->len + (nl != NULL);
    it->rest.len -= line->len + (nl != NULL);
    if (line->len > 0 && line->ptr[line->len - 1] == '\r')
        line->len--;
    it->no++;
    return true;
}

static struct slice sub(struct slice s, size_t from, size_t to)
{
    return (struct slice){s.ptr + from, to - from};
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* <c> is one of the bytes of <set> (never NUL, which strchr would find). */
static bool one_of(char c, const char *set)
{
    return c != '\0' && strchr(set, c) != NULL;
}

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

/* A Python distribution name ("Django", "zope.interface", "typing_extensions"). */
static bool pyname_char(char c)
{
    return name_char(c) || c == '.';
}

/* The text before an end-of-line comment starting with '#' at the start or after a blank. */
static struct slice cut_comment(struct slice s, char mark)
{
    for (size_t i = 0; i < s.len; i++)
        if (s.ptr[i] == mark && (i == 0 || is_blank(s.ptr[i - 1])))
            return sub(s, 0, i);
    return s;
}

/* ---------------------------------------------------------------- Procfile, Staticfile */

int bld_colon_lines_parse(struct slice text, bld_name_fn *fn, void *arg, struct err *err)
{
    struct lines it = {text, 0};
    struct slice line;

    while (next_line(&it, &line)) {
        size_t n = 0;

        line = slice_trim(line);
        if (line.len == 0 || line.ptr[0] == '#')
            continue;
        while (n < line.len && name_char(line.ptr[n]))
            n++;
        if (n == 0 || n == line.len || line.ptr[n] != ':')
            return err_set(err, ERR_INVALID, "line %u: expected \"name: value\"", it.no);
        fn(arg, sub(line, 0, n), slice_trim(sub(line, n + 1, line.len)));
    }
    return 0;
}

struct pick {
    struct slice first_name, first_cmd, web, worker;
};

static void pick_one(void *arg, struct slice name, struct slice cmd)
{
    struct pick *p = arg;

    if (cmd.len == 0)
        return;
    if (p->first_name.ptr == NULL) {
        p->first_name = name;
        p->first_cmd = cmd;
    }
    if (p->web.ptr == NULL && slice_eq_cstr(name, "web"))
        p->web = cmd;
    if (p->worker.ptr == NULL && slice_eq_cstr(name, "worker"))
        p->worker = cmd;
}

int bld_procfile_pick(struct slice text, struct slice *name, struct slice *cmd, struct err *err)
{
    struct pick p = {{0}};
    int rc = bld_colon_lines_parse(text, pick_one, &p, err);

    if (rc < 0)
        return rc;
    if (p.web.ptr != NULL) {
        *name = SLICE("web");
        *cmd = p.web;
    } else if (p.worker.ptr != NULL) {
        *name = SLICE("worker");
        *cmd = p.worker;
    } else if (p.first_name.ptr != NULL) {
        *name = p.first_name;
        *cmd = p.first_cmd;
    } else {
        return err_set(err, ERR_NOTFOUND, "no process with a command");
    }
    return 0;
}

/* ---------------------------------------------------------------- requirements.txt */

/* The project name a requirement line starts with, or an empty slice for lines that name a
 * URL, a path or something else this does not understand. */
static struct slice requirement_name(struct slice line)
{
    size_t n = 0;

    if (line.len == 0 || !isalnum((unsigned char)line.ptr[0]))
        return SLICE_NULL;
    while (n < line.len && pyname_char(line.ptr[n]))
        n++;
    if (n < line.len && !is_blank(line.ptr[n]) && !one_of(line.ptr[n], "[<>=!~;@,"))
        return SLICE_NULL; /* "git+https://…", "https://…", "name/path" */
    return sub(line, 0, n);
}

int bld_requirements_parse(struct slice text, bld_name_fn *fn, void *arg, struct err *err)
{
    struct lines it = {text, 0};
    struct slice line, name;
    bool continued = false;

    (void)err;
    while (next_line(&it, &line)) {
        bool was_continued = continued;

        continued = line.len > 0 && line.ptr[line.len - 1] == '\\';
        if (was_continued)
            continue; /* "--hash=…" and the like */
        line = slice_trim(cut_comment(line, '#'));
        if (line.len == 0 || line.ptr[0] == '-')
            continue;
        name = requirement_name(line);
        if (name.len > 0)
            fn(arg, name, SLICE_NULL);
    }
    return 0;
}

/* ---------------------------------------------------------------- TOML (pyproject, Pipfile) */

struct toml {
    const char *p, *end;
    unsigned line;
    struct slice table;
    struct bld_pyproject *out;
    bld_name_fn *fn;
    void *arg;
    struct err *err;
};

enum tval { TV_STRING, TV_ARRAY, TV_OTHER };

static bool t_at(const struct toml *t, const char *lit)
{
    size_t n = strlen(lit);

    return (size_t)(t->end - t->p) >= n && memcmp(t->p, lit, n) == 0;
}

static void t_skip_blanks(struct toml *t)
{
    while (t->p < t->end && is_blank(*t->p))
        t->p++;
}

/* Moves past the end of the current line (comments and anything left on it). */
static void t_skip_line(struct toml *t)
{
    while (t->p < t->end && *t->p != '\n')
        t->p++;
    if (t->p < t->end) {
        t->p++;
        t->line++;
    }
}

static int t_fail(struct toml *t, const char *what)
{
    return err_set(t->err, ERR_INVALID, "line %u: %s", t->line, what);
}

/* A string at t->p (quote included); *s gets its raw contents (escapes are kept as written:
 * names and versions have none). Multi-line strings may span lines. */
static int t_string(struct toml *t, struct slice *s)
{
    char q = *t->p;
    bool triple = t_at(t, q == '"' ? "\"\"\"" : "'''");
    const char *start;

    t->p += triple ? 3 : 1;
    start = t->p;
    for (; t->p < t->end; t->p++) {
        if (*t->p == '\n') {
            if (!triple)
                return t_fail(t, "string not closed on its line");
            t->line++;
        } else if (*t->p == '\\' && q == '"' && t->p + 1 < t->end) {
            t->p++;
            if (*t->p == '\n')
                t->line++;
        } else if (*t->p == q && (!triple || t_at(t, q == '"' ? "\"\"\"" : "'''"))) {
            *s = (struct slice){start, (size_t)(t->p - start)};
            t->p += triple ? 3 : 1;
            return 0;
        }
    }
    return t_fail(t, "string not closed");
}

/* An array or inline table at t->p, up to its matching bracket; <fn> (if any) gets each string
 * directly inside the outer array. */
static int t_nested(struct toml *t, void (*fn)(struct toml *, struct slice))
{
    unsigned depth = 0, open_line = t->line;
    struct slice s;
    int rc;

    while (t->p < t->end) {
        char c = *t->p;

        if (c == '"' || c == '\'') {
            if ((rc = t_string(t, &s)) < 0)
                return rc;
            if (depth == 1 && fn != NULL)
                fn(t, s);
            continue;
        }
        if (c == '#') {
            while (t->p < t->end && *t->p != '\n')
                t->p++;
            continue;
        }
        if (c == '\n')
            t->line++;
        else if (c == '[' || c == '{')
            depth++;
        else if ((c == ']' || c == '}') && depth > 0 && --depth == 0) {
            t->p++;
            return 0;
        }
        t->p++;
    }
    t->line = open_line;
    return t_fail(t, "array or inline table not closed");
}

static void t_dependency(struct toml *t, struct slice spec)
{
    size_t n = 0;

    while (n < spec.len && pyname_char(spec.ptr[n]))
        n++;
    if (n > 0)
        t->fn(t->arg, sub(spec, 0, n), SLICE_NULL);
}

static bool t_in(const struct toml *t, const char *table)
{
    return slice_eq_cstr(t->table, table);
}

/* The value of <key> at t->p; what it means depends on the current table. */
static int t_value(struct toml *t, struct slice key)
{
    bool deps = t_in(t, "project") && slice_eq_cstr(key, "dependencies");
    struct slice s = SLICE_NULL;
    int rc;

    if (t->p < t->end && (*t->p == '"' || *t->p == '\''))
        rc = t_string(t, &s);
    else if (t->p < t->end && (*t->p == '[' || *t->p == '{'))
        rc = t_nested(t, deps ? t_dependency : NULL);
    else
        rc = 0; /* a number, a boolean, a date: nothing needed */
    if (rc < 0)
        return rc;
    if (s.ptr != NULL && slice_eq_cstr(key, "name") &&
        (t_in(t, "project") || t_in(t, "tool.poetry")))
        t->out->name = s;
    if (s.ptr != NULL && ((t_in(t, "project") && slice_eq_cstr(key, "requires-python")) ||
                          (t_in(t, "tool.poetry.dependencies") && slice_eq_cstr(key, "python")) ||
                          (t_in(t, "requires") && slice_eq_cstr(key, "python_version"))))
        t->out->requires_python = s;
    if ((t_in(t, "tool.poetry.dependencies") && !slice_eq_cstr(key, "python")) ||
        t_in(t, "packages"))
        t->fn(t->arg, key, SLICE_NULL);
    return 0;
}

/* "[table]" or "[[array.of.tables]]" at t->p. */
static int t_header(struct toml *t)
{
    const char *start = t->p, *close;

    while (t->p < t->end && *t->p == '[')
        t->p++;
    close = t->p;
    while (close < t->end && *close != ']' && *close != '\n')
        close++;
    if (close == t->end || *close != ']')
        return t_fail(t, "table header not closed");
    t->table = slice_trim((struct slice){t->p, (size_t)(close - t->p)});
    if (start + 1 < close && start[1] == '[')
        t->table = SLICE_NULL; /* arrays of tables hold nothing we read */
    if (slice_eq_cstr(t->table, "tool.poetry") ||
        slice_starts_with(t->table, SLICE("tool.poetry.")))
        t->out->poetry = true;
    t->p = close;
    t_skip_line(t);
    return 0;
}

/* "key = value" at t->p; a quoted key loses its quotes. */
static int t_keyval(struct toml *t)
{
    const char *start = t->p;
    struct slice key;
    int rc;

    while (t->p < t->end && *t->p != '=' && *t->p != '\n') {
        if (*t->p == '"' || *t->p == '\'') {
            if ((rc = t_string(t, &key)) < 0)
                return rc;
            continue;
        }
        t->p++;
    }
    if (t->p == t->end || *t->p != '=')
        return t_fail(t, "expected a table header or \"key = value\"");
    key = slice_trim((struct slice){start, (size_t)(t->p - start)});
    if (key.len >= 2 && (key.ptr[0] == '"' || key.ptr[0] == '\'') &&
        key.ptr[key.len - 1] == key.ptr[0])
        key = sub(key, 1, key.len - 1);
    t->p++;
    t_skip_blanks(t);
    if ((rc = t_value(t, key)) < 0)
        return rc;
    t_skip_line(t);
    return 0;
}

int bld_pyproject_parse(struct slice text, struct bld_pyproject *out, bld_name_fn *fn, void *arg,
                        struct err *err)
{
    struct toml t = {text.ptr, text.ptr + text.len, 1, SLICE_NULL, out, fn, arg, err};
    int rc = 0;

    *out = (struct bld_pyproject){SLICE_NULL, SLICE_NULL, false};
    while (rc == 0 && t.p < t.end) {
        t_skip_blanks(&t);
        if (t.p == t.end)
            break;
        if (*t.p == '\n' || *t.p == '\r' || *t.p == '#')
            t_skip_line(&t);
        else if (*t.p == '[')
            rc = t_header(&t);
        else
            rc = t_keyval(&t);
    }
    return rc;
}

/* ---------------------------------------------------------------- go.mod */

/* The first blank-separated word of <s>; <s> keeps the rest, trimmed. */
static struct slice first_word(struct slice *s)
{
    size_t n = 0;
    struct slice w;

    while (n < s->len && !is_blank(s->ptr[n]))
        n++;
    w = sub(*s, 0, n);
    *s = slice_trim(sub(*s, n, s->len));
    return w;
}

static struct slice unquote(struct slice s)
{
    if (s.len >= 2 && (s.ptr[0] == '"' || s.ptr[0] == '`') && s.ptr[s.len - 1] == s.ptr[0])
        return sub(s, 1, s.len - 1);
    return s;
}

static void gomod_require(struct slice rest, bld_name_fn *fn, void *arg)
{
    struct slice path = unquote(first_word(&rest));
    struct slice version = first_word(&rest);

    if (path.len > 0)
        fn(arg, path, version);
}

int bld_gomod_parse(struct slice text, struct bld_gomod *out, bld_name_fn *fn, void *arg,
                    struct err *err)
{
    struct lines it = {text, 0};
    struct slice line;
    unsigned block_line = 0; /* the line that opened the current "(" block, 0 outside one */
    bool block_require = false;

    *out = (struct bld_gomod){SLICE_NULL, SLICE_NULL, SLICE_NULL};
    while (next_line(&it, &line)) {
        struct slice rest = slice_trim(cut_comment(line, '/')), verb;

        if (block_line != 0) {
            if (slice_eq_cstr(rest, ")"))
                block_line = 0;
            else if (block_require && rest.len > 0)
                gomod_require(rest, fn, arg);
            continue;
        }
        verb = first_word(&rest);
        if (slice_eq_cstr(rest, "(")) {
            block_line = it.no;
            block_require = slice_eq_cstr(verb, "require");
        } else if (slice_eq_cstr(verb, "module")) {
            out->module = unquote(first_word(&rest));
        } else if (slice_eq_cstr(verb, "go")) {
            out->go_version = first_word(&rest);
        } else if (slice_eq_cstr(verb, "toolchain")) {
            out->toolchain = first_word(&rest);
        } else if (slice_eq_cstr(verb, "require")) {
            gomod_require(rest, fn, arg);
        }
    }
    if (block_line != 0)
        return err_set(err, ERR_INVALID, "line %u: block not closed", block_line);
    if (out->module.len == 0)
        return err_set(err, ERR_INVALID, "no module directive");
    return 0;
}

/* ---------------------------------------------------------------- .nvmrc, .node-version */

int bld_nvmrc_parse(struct slice text, struct slice *version, struct err *err)
{
    struct lines it = {text, 0};
    struct slice line;

    while (next_line(&it, &line)) {
        line = slice_trim(line);
        if (line.len == 0 || line.ptr[0] == '#')
            continue;
        if (line.ptr[0] == 'v' || line.ptr[0] == 'V')
            line = sub(line, 1, line.len);
        if (line.len == 0 || line.len > 64)
            return err_set(err, ERR_INVALID, "line %u: not a version", it.no);
        for (size_t i = 0; i < line.len; i++)
            if (!isalnum((unsigned char)line.ptr[i]) && !one_of(line.ptr[i], "./*-_^~<>=| "))
                return err_set(err, ERR_INVALID, "line %u: not a version", it.no);
        *version = line;
        return 0;
    }
    return err_set(err, ERR_NOTFOUND, "no version");
}

/* ---------------------------------------------------------------- Dockerfile */

int bld_dockerfile_port(struct slice text, int *port, struct err *err)
{
    struct lines it = {text, 0};
    struct slice line;

    *port = 0;
    while (next_line(&it, &line)) {
        struct slice rest = slice_trim(line), verb = first_word(&rest), num;
        uint64_t v;

        if (!slice_case_eq_cstr(verb, "EXPOSE"))
            continue;
        num = first_word(&rest);
        for (size_t i = 0; i < num.len; i++)
            if (num.ptr[i] == '/')
                num.len = i;
        if (slice_to_u64(num, &v) != 0)
            continue; /* "$PORT": set at build time, not ours to guess */
        if (v == 0 || v > 65535)
            return err_set(err, ERR_INVALID, "line %u: EXPOSE %" PRIu64 " is not a port", it.no, v);
        *port = (int)v;
        return 0;
    }
    return 0;
}

/* ---------------------------------------------------------------- names and URLs */

void bld_dns_label(struct slice s, char out[64])
{
    size_t n = 0;

    for (size_t i = 0; i < s.len && n < 63; i++) {
        char c = (char)tolower((unsigned char)s.ptr[i]);

        if (isalnum((unsigned char)c) && (unsigned char)c < 0x80)
            out[n++] = c;
        else if (n > 0 && out[n - 1] != '-')
            out[n++] = '-';
    }
    while (n > 0 && out[n - 1] == '-')
        n--;
    if (n == 0) {
        memcpy(out, "app", 4);
        return;
    }
    out[n] = '\0';
}

void bld_url_redact(const char *url, struct sbuf *out)
{
    const char *scheme = strstr(url, "://");
    const char *host, *at = NULL, *colon = NULL;

    if (scheme == NULL) {
        sbuf_puts(out, url); /* a path or user@host:path: no password in either */
        return;
    }
    host = scheme + 3;
    for (const char *p = host; *p != '\0' && *p != '/' && *p != '?' && *p != '#'; p++) {
        if (*p == '@')
            at = p;
    }
    if (at != NULL)
        colon = memchr(host, ':', (size_t)(at - host));
    if (colon == NULL) {
        sbuf_puts(out, url);
        return;
    }
    sbuf_put(out, url, (size_t)(colon + 1 - url));
    sbuf_puts(out, "***");
    sbuf_puts(out, at);
}
