/*
 * Configuration: one declarative table per module (struct cfg_key) fills the module's config
 * struct from defaults, a file, SLIPWAY_* environment variables and flags, in rising
 * precedence.
 *
 * Each load is parsed and checked in full before anything is applied, so a failed load changes
 * nothing. A value from a lower-precedence source is still checked, but never replaces one
 * from a higher source: the order of the calls changes neither the result nor the errors.
 *
 * File syntax, one setting per line:
 *     key = value            leading and trailing spaces and tabs are not part of the value
 *     key = value  # note    a '#' that starts a word (first, or after a space) starts a comment
 *     key = "a \"b\" # c"    quoted: only \" and \\ escapes, '#' is literal
 *     # comment, blank lines, CRLF line endings and a leading UTF-8 BOM are fine
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/base.h"

#define CFG_LINE_MAX  4096           /* bytes of one file line, without the line ending */
#define CFG_FILE_MAX  (1u << 20)     /* bytes of a whole file */
#define CFG_NAME_MAX  120            /* bytes of a key name */
#define ENV_NAME_SIZE 136            /* "SLIPWAY_" + a key name + NUL */
#define ECHO_MAX      40             /* bytes of a bad value quoted back in an error */
#define ECHO_SIZE     (ECHO_MAX + 4) /* ... and "..." and the NUL */
#define LABEL_SIZE    256

/* One registered key and the struct it writes into. */
struct cfg_slot {
    const struct cfg_key *key; /* borrowed from the module's static table */
    void *target;              /* the module's config struct, from its section */
    enum cfg_source src;       /* CFG_SRC_DEFAULT until a file, env or flag sets it */
};

struct cfg {
    struct cfg_slot *slots; /* sorted by key name */
    size_t nslots;
};

/* A checked value waiting to be applied; a load keeps one per slot. */
struct cfg_val {
    bool has;
    unsigned line; /* where the file set it, for the duplicate error */
    int64_t i;     /* INT, DURATION (ms), SIZE (bytes), BOOL (0 or 1) */
    char *s;       /* STR and SECRET: owned until stored */
};

struct unit {
    const char *name;
    int64_t mult;
};

/* Largest first; the last one has mult 1. */
static const struct unit duration_units[] = {
    {"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1},
};
static const struct unit size_units[] = {
    {"TiB", 1ll << 40}, {"GiB", 1ll << 30}, {"GB", 1000000000}, {"MiB", 1ll << 20},
    {"MB", 1000000},    {"KiB", 1ll << 10}, {"kB", 1000},       {"", 1},
};

/* ---------------------------------------------------------------- slots */

static void *field(const struct cfg_slot *s)
{
    return (char *)s->target + s->key->offset;
}

static bool is_string(enum cfg_type t)
{
    return t == CFG_T_STR || t == CFG_T_SECRET;
}

/* Moves <v> into the target; the string it replaces is freed. */
static void store(struct cfg_slot *s, struct cfg_val *v)
{
    void *p = field(s);

    switch (s->key->type) {
    case CFG_T_BOOL:
        *(bool *)p = v->i != 0;
        break;
    case CFG_T_STR:
    case CFG_T_SECRET:
        free(*(char **)p);
        *(char **)p = v->s;
        v->s = NULL;
        break;
    default:
        *(int64_t *)p = v->i;
    }
}

/* Stores <v> unless a source with higher precedence set the key before. */
static void apply(struct cfg_slot *s, struct cfg_val *v, enum cfg_source src)
{
    if (src < s->src)
        return;
    store(s, v);
    s->src = src;
}

static void set_default(struct cfg_slot *s)
{
    const struct cfg_key *k = s->key;
    struct cfg_val v = {.i = k->def_int};

    if (is_string(k->type)) {
        *(char **)field(s) = NULL; /* whatever was there is not ours to free */
        v.s = xstrdup(k->def_str ? k->def_str : "");
    } else if (k->type != CFG_T_BOOL) {
        ASSERT(k->min <= k->def_int && k->def_int <= k->max);
    }
    store(s, &v);
}

/* Key names are lower-case ASCII so that they map to environment variables one to one. */
static bool name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;

    if (n == 0 || n > CFG_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
              ch == '-'))
            return false;
    }
    return true;
}

static int slot_cmp(const void *a, const void *b)
{
    return strcmp(((const struct cfg_slot *)a)->key->name, ((const struct cfg_slot *)b)->key->name);
}

static int name_cmp(struct slice a, const char *b)
{
    size_t n = strlen(b), common = a.len < n ? a.len : n;
    int r = common > 0 ? memcmp(a.ptr, b, common) : 0;

    if (r != 0)
        return r;
    return a.len < n ? -1 : a.len > n;
}

static struct cfg_slot *find(const struct cfg *c, struct slice name)
{
    size_t lo = 0, hi = c->nslots;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = name_cmp(name, c->slots[mid].key->name);

        if (r == 0)
            return &c->slots[mid];
        if (r < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

struct cfg *cfg_new(void)
{
    return xcalloc(1, sizeof(struct cfg));
}

void cfg_free(struct cfg *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nslots; i++)
        if (is_string(c->slots[i].key->type))
            FREE_AND_NULL(*(char **)field(&c->slots[i]));
    free(c->slots);
    free(c);
}

void cfg_add(struct cfg *c, const struct cfg_section *sec)
{
    size_t n = c->nslots;

    c->slots = xrealloc(c->slots, (n + sec->nkeys) * sizeof(*c->slots));
    for (size_t i = 0; i < sec->nkeys; i++) {
        struct cfg_slot *s = &c->slots[n + i];

        ASSERT(name_valid(sec->keys[i].name));
        *s = (struct cfg_slot){&sec->keys[i], sec->target, CFG_SRC_DEFAULT};
        set_default(s);
    }
    c->nslots = n + sec->nkeys;
    qsort(c->slots, c->nslots, sizeof(*c->slots), slot_cmp);
    for (size_t i = 1; i < c->nslots; i++) /* two modules claiming one key is a bug */
        ASSERT(strcmp(c->slots[i - 1].key->name, c->slots[i].key->name) != 0);
}

/* ---------------------------------------------------------------- errors */

static char lower(char ch)
{
    return (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
}

/* Case-insensitive Levenshtein distance between <a> and <b>; 3 when it is surely over 2. */
static size_t distance(struct slice a, const char *b)
{
    size_t m = strlen(b), row[CFG_NAME_MAX + 1];

    if (m > CFG_NAME_MAX || (a.len > m ? a.len - m : m - a.len) > 2)
        return 3;
    for (size_t j = 0; j <= m; j++)
        row[j] = j;
    for (size_t i = 1; i <= a.len; i++) {
        size_t diag = row[0];

        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t up = row[j];
            size_t best = diag + (lower(a.ptr[i - 1]) != lower(b[j - 1]));

            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[m];
}

/* The known key closest to <name>, when one is within edit distance 2. */
static const char *suggest(const struct cfg *c, struct slice name)
{
    const char *best = NULL;
    size_t best_d = 3;

    for (size_t i = 0; i < c->nslots; i++) {
        size_t d = distance(name, c->slots[i].key->name);

        if (d < best_d) {
            best_d = d;
            best = c->slots[i].key->name;
        }
    }
    return best;
}

/* <where> is "" or "path:line: ". */
static int unknown_key(const struct cfg *c, const char *where, struct slice key, struct err *err)
{
    char shown[ECHO_SIZE];
    const char *near = suggest(c, key);

    slice_echo(shown, ECHO_MAX, key);
    if (near != NULL)
        return err_set(err, ERR_INVALID, "%s%s: unknown key; did you mean %s?", where, shown, near);
    return err_set(err, ERR_INVALID, "%s%s: unknown key", where, shown);
}

/* ---------------------------------------------------------------- values */

static void fmt_scaled(char out[32], int64_t v, const struct unit *u, size_t n, const char *zero)
{
    size_t i = 0;

    if (v == 0) {
        snprintf(out, 32, "%s", zero);
        return;
    }
    while (i + 1 < n && v % u[i].mult != 0)
        i++;
    snprintf(out, 32, "%" PRId64 "%s", v / u[i].mult, u[i].name);
}

/* A number of <t> in a unit that parses back: "8080", "30s", "1500ms", "8MiB", "1000001". */
static void fmt_number(char out[32], enum cfg_type t, int64_t v)
{
    if (t == CFG_T_DURATION)
        fmt_scaled(out, v, duration_units, ARRAY_LEN(duration_units), "0s");
    else if (t == CFG_T_SIZE)
        fmt_scaled(out, v, size_units, ARRAY_LEN(size_units), "0");
    else
        snprintf(out, 32, "%" PRId64, v);
}

static const char *rule(enum cfg_type t)
{
    switch (t) {
    case CFG_T_INT:
        return "must be an integer";
    case CFG_T_BOOL:
        return "must be true, false, yes, no, on, off, 1 or 0";
    case CFG_T_DURATION:
        return "must be a duration like 250ms, 30s, 5m, 2h or 1d";
    case CFG_T_SIZE:
        return "must be a size like 512, 64KiB, 8MiB or 1GiB";
    default:
        return "must not contain a NUL byte";
    }
}

/* Decimal with an optional '-'; ERR_LIMIT outside int64_t. */
static int parse_int(struct slice v, int64_t *out)
{
    bool neg = v.len > 0 && v.ptr[0] == '-';
    uint64_t u;
    int rc = slice_to_u64(neg ? (struct slice){v.ptr + 1, v.len - 1} : v, &u);

    if (rc < 0)
        return rc;
    if (u > (uint64_t)INT64_MAX + neg)
        return ERR_LIMIT;
    if (neg && u > 0)
        *out = -(int64_t)(u - 1) - 1; /* also right for INT64_MIN */
    else
        *out = (int64_t)u;
    return 0;
}

static int parse_bool(struct slice v, int64_t *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
        if (slice_case_eq_cstr(v, yes[i]) || slice_case_eq_cstr(v, no[i])) {
            *out = slice_case_eq_cstr(v, yes[i]);
            return 0;
        }
    }
    return ERR_INVALID;
}

static int parse_number(enum cfg_type t, struct slice v, int64_t *out)
{
    uint64_t u;
    int rc;

    if (t == CFG_T_INT)
        return parse_int(v, out);
    rc = t == CFG_T_DURATION ? parse_duration_ms(v, &u) : parse_size(v, &u);
    if (rc == 0)
        *out = (int64_t)u; /* at most a year of ms or 1 TiB */
    return rc;
}

static int range_error(const struct cfg_key *k, const char *label, struct slice v, struct err *err)
{
    char lo[32], hi[32], shown[ECHO_SIZE];

    fmt_number(lo, k->type, k->min);
    fmt_number(hi, k->type, k->max);
    return err_set(err, ERR_INVALID, "%s: must be between %s and %s, got \"%s\"", label, lo, hi,
                   slice_echo(shown, ECHO_MAX, v));
}

/* Checks <v> against key <k> and fills *out (out->s is then owned by the caller). Errors start
 * with <label> ("app.conf:3: http.port", "SLIPWAY_HTTP_PORT" or "http.port") and quote the
 * value, which for strings and secrets cannot be wrong. */
static int parse_value(const struct cfg_key *k, struct slice v, const char *label,
                       struct cfg_val *out, struct err *err)
{
    char shown[ECHO_SIZE];
    int rc;

    switch (k->type) {
    case CFG_T_STR:
    case CFG_T_SECRET:
        if (v.len > 0 && memchr(v.ptr, '\0', v.len) != NULL)
            return err_set(err, ERR_INVALID, "%s: %s", label, rule(k->type));
        out->s = xstrndup(v.ptr, v.len);
        return 0;
    case CFG_T_BOOL:
        rc = parse_bool(v, &out->i);
        break;
    default:
        rc = parse_number(k->type, v, &out->i);
        if (rc == ERR_LIMIT || (rc == 0 && (out->i < k->min || out->i > k->max)))
            return range_error(k, label, v, err);
    }
    if (rc < 0)
        return err_set(err, ERR_INVALID, "%s: %s, got \"%s\"", label, rule(k->type),
                       slice_echo(shown, ECHO_MAX, v));
    return 0;
}

/* Applies the checked values in <pend> (one per slot), then frees what is left of them. */
static void pend_commit(struct cfg *c, struct cfg_val *pend, enum cfg_source src, bool ok)
{
    for (size_t i = 0; i < c->nslots; i++) {
        if (ok && pend[i].has)
            apply(&c->slots[i], &pend[i], src);
        free(pend[i].s);
    }
    free(pend);
}

int cfg_set(struct cfg *c, const char *key, const char *value, enum cfg_source src, struct err *err)
{
    struct cfg_slot *s = find(c, slice_from_cstr(key));
    struct cfg_val v = {0};
    int rc;

    if (s == NULL)
        return unknown_key(c, "", slice_from_cstr(key), err);
    rc = parse_value(s->key, slice_from_cstr(value), s->key->name, &v, err);
    if (rc == 0)
        apply(s, &v, src);
    free(v.s);
    return rc;
}

/* ---------------------------------------------------------------- environment */

/* http.max_body_bytes → SLIPWAY_HTTP_MAX_BODY_BYTES */
static void env_name(char out[ENV_NAME_SIZE], const char *key)
{
    snprintf(out, ENV_NAME_SIZE, "SLIPWAY_%s", key);
    for (char *p = out; *p != '\0'; p++) {
        if (*p == '.' || *p == '-')
            *p = '_';
        else if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    }
}

static const char *env_find(char *const *envp, const char *name)
{
    size_t n = strlen(name);

    for (; envp != NULL && *envp != NULL; envp++)
        if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
            return *envp + n + 1;
    return NULL;
}

int cfg_load_env(struct cfg *c, char *const *envp, struct err *err)
{
    struct cfg_val *pend = xcalloc(c->nslots, sizeof(*pend));
    char name[ENV_NAME_SIZE];
    int rc = 0;

    for (size_t i = 0; i < c->nslots && rc == 0; i++) {
        const char *v;

        env_name(name, c->slots[i].key->name);
        v = env_find(envp, name);
        if (v == NULL)
            continue;
        rc = parse_value(c->slots[i].key, slice_from_cstr(v), name, &pend[i], err);
        pend[i].has = true;
    }
    pend_commit(c, pend, CFG_SRC_ENV, rc == 0);
    return rc;
}

/* ---------------------------------------------------------------- files */

/* The file being read. */
struct reader {
    struct cfg *c;
    const char *path;
    unsigned line;
    struct cfg_val *pend; /* one per slot */
    struct sbuf val;      /* the current value, unquoted */
};

/* An unquoted value ends where a word starts with '#'. */
static struct slice strip_comment(struct slice v)
{
    for (size_t i = 0; i < v.len; i++)
        if (v.ptr[i] == '#' && (i == 0 || v.ptr[i - 1] == ' ' || v.ptr[i - 1] == '\t'))
            return slice_trim((struct slice){v.ptr, i});
    return v;
}

/* Reads the quoted value at the start of <raw> into <out>. Returns NULL or the rule broken;
 * neither says anything of the value, which may be a secret. */
static const char *unquote(struct slice raw, struct sbuf *out)
{
    struct slice rest;
    size_t i;

    for (i = 1; i < raw.len && raw.ptr[i] != '"'; i++) {
        char ch = raw.ptr[i];

        if (ch == '\\') {
            if (i + 1 == raw.len || (raw.ptr[i + 1] != '"' && raw.ptr[i + 1] != '\\'))
                return "a quoted value allows only the escapes \\\" and \\\\";
            ch = raw.ptr[++i];
        }
        sbuf_putc(out, ch);
    }
    if (i == raw.len)
        return "the quoted value has no closing quote";
    rest = slice_trim((struct slice){raw.ptr + i + 1, raw.len - i - 1});
    if (rest.len > 0 && rest.ptr[0] != '#')
        return "unexpected text after the closing quote";
    return NULL;
}

/* The value <raw> (trimmed, comment and all) for slot <s>, into r->pend. */
static int read_value(struct reader *r, struct cfg_slot *s, struct slice raw, struct err *err)
{
    struct cfg_val *v = &r->pend[s - r->c->slots];
    const char *why = NULL;
    char label[LABEL_SIZE];
    int rc;

    snprintf(label, sizeof(label), "%s:%u: %s", r->path, r->line, s->key->name);
    if (v->has)
        return err_set(err, ERR_INVALID, "%s: set twice (first on line %u)", label, v->line);
    sbuf_reset(&r->val);
    if (raw.len > 0 && raw.ptr[0] == '"')
        why = unquote(raw, &r->val);
    else
        sbuf_put_slice(&r->val, strip_comment(raw));
    if (why != NULL)
        return err_set(err, ERR_INVALID, "%s: %s", label, why);
    rc = parse_value(s->key, sbuf_slice(&r->val), label, v, err);
    v->has = true;
    v->line = r->line;
    return rc;
}

/* One line without its '\n'. Its text is not quoted in errors: it may hold a secret. */
static int read_line(struct reader *r, struct slice line, struct err *err)
{
    char where[LABEL_SIZE];
    struct cfg_slot *s;
    struct slice key;

    snprintf(where, sizeof(where), "%s:%u: ", r->path, r->line);
    if (line.len > 0 && line.ptr[line.len - 1] == '\r')
        line.len--;
    if (line.len > CFG_LINE_MAX)
        return err_set(err, ERR_LIMIT, "%sline is over 4 KiB", where);
    if (line.len > 0 && memchr(line.ptr, '\0', line.len) != NULL)
        return err_set(err, ERR_INVALID, "%sline contains a NUL byte", where);
    line = slice_trim(line);
    if (line.len == 0 || line.ptr[0] == '#')
        return 0;
    if (!slice_split(&line, '=', &key) || (key = slice_trim(key)).len == 0)
        return err_set(err, ERR_INVALID, "%sexpected \"key = value\"", where);
    s = find(r->c, key);
    if (s == NULL)
        return unknown_key(r->c, where, key, err);
    return read_value(r, s, slice_trim(line), err);
}

int cfg_load_buffer(struct cfg *c, const char *name, struct slice text, struct err *err)
{
    struct reader r = {c, name, 0, NULL, SBUF_INIT(CFG_LINE_MAX)};
    struct slice line;
    int rc = 0;

    if (text.len > CFG_FILE_MAX)
        return err_set(err, ERR_LIMIT, "%s: file is over 1 MiB", name);
    if (slice_starts_with(text, SLICE("\xEF\xBB\xBF")))
        text = (struct slice){text.ptr + 3, text.len - 3};
    r.pend = xcalloc(c->nslots, sizeof(*r.pend));
    while (rc == 0 && text.len > 0) {
        r.line++;
        slice_split(&text, '\n', &line);
        rc = read_line(&r, line, err);
    }
    pend_commit(c, r.pend, CFG_SRC_FILE, rc == 0);
    sbuf_release(&r.val);
    return rc;
}

/* Reads <fd> to the end into <out>. 0, ERR_LIMIT past out->max, or ERR_IO with *errnum. */
static int read_all(int fd, struct sbuf *out, int *errnum)
{
    for (;;) {
        size_t room = out->max - out->len, want = room < 65536 ? room : 65536;
        char *p = room > 0 ? sbuf_reserve(out, want) : NULL;
        ssize_t n;

        if (p == NULL)
            return ERR_LIMIT;
        n = read(fd, p, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            *errnum = errno;
        if (n <= 0)
            return n < 0 ? ERR_IO : 0;
        sbuf_commit(out, (size_t)n);
    }
}

int cfg_load_file(struct cfg *c, const char *path, struct err *err)
{
    struct sbuf text = SBUF_INIT(CFG_FILE_MAX + 1); /* one byte more tells "too big" */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc, errnum = errno;

    if (fd < 0)
        return err_set(err, err_from_errno(errnum), "%s: %s", path, strerror(errnum));
    rc = read_all(fd, &text, &errnum);
    close(fd);
    if (rc == ERR_LIMIT)
        rc = err_set(err, rc, "%s: file is over 1 MiB", path);
    else if (rc < 0)
        rc = err_set(err, err_from_errno(errnum), "%s: %s", path, strerror(errnum));
    else
        rc = cfg_load_buffer(c, path, sbuf_slice(&text), err);
    sbuf_release(&text);
    return rc;
}

/* ---------------------------------------------------------------- show and doc */

static void put_quoted(struct sbuf *out, const char *s)
{
    sbuf_putc(out, '"');
    for (; s != NULL && *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch == '"' || ch == '\\')
            sbuf_putc(out, '\\');
        if (ch < 0x20 || ch == 0x7f)
            sbuf_printf(out, "\\x%02x", ch); /* shown only: a line holds no control bytes */
        else
            sbuf_putc(out, (char)ch);
    }
    sbuf_putc(out, '"');
}

/* Secrets show whether they are set, never what they are. */
static void put_value(struct sbuf *out, enum cfg_type t, int64_t i, const char *s)
{
    char num[32];

    switch (t) {
    case CFG_T_BOOL:
        sbuf_puts(out, i ? "true" : "false");
        break;
    case CFG_T_STR:
        put_quoted(out, s);
        break;
    case CFG_T_SECRET:
        sbuf_puts(out, s != NULL && s[0] != '\0' ? "***" : "\"\"");
        break;
    default:
        fmt_number(num, t, i);
        sbuf_puts(out, num);
    }
}

static void put_current(struct sbuf *out, const struct cfg_slot *s)
{
    enum cfg_type t = s->key->type;
    const void *p = field(s);

    if (t == CFG_T_BOOL)
        put_value(out, t, *(const bool *)p, NULL);
    else if (is_string(t))
        put_value(out, t, 0, *(char *const *)p);
    else
        put_value(out, t, *(const int64_t *)p, NULL);
}

static const char *src_name(enum cfg_source src)
{
    static const char *const names[] = {"default", "file", "env", "flag"};

    return (unsigned)src < ARRAY_LEN(names) ? names[src] : "?";
}

void cfg_show(const struct cfg *c, struct sbuf *out)
{
    for (size_t i = 0; i < c->nslots; i++) {
        const struct cfg_slot *s = &c->slots[i];

        sbuf_printf(out, "%s = ", s->key->name);
        put_current(out, s);
        sbuf_printf(out, "  (%s)\n", src_name(s->src));
    }
}

static const char *type_name(enum cfg_type t)
{
    static const char *const names[] = {"int", "bool", "string", "secret", "duration", "size"};

    return (unsigned)t < ARRAY_LEN(names) ? names[t] : "?";
}

/* ", range 1s..1h", ", min 1", ", max 10" or nothing. */
static void put_range(struct sbuf *out, const struct cfg_key *k)
{
    char lo[32], hi[32];
    bool has_lo = k->min > (k->type == CFG_T_INT ? INT64_MIN : 0), has_hi = k->max < INT64_MAX;

    if (k->type == CFG_T_BOOL || is_string(k->type))
        return;
    fmt_number(lo, k->type, k->min);
    fmt_number(hi, k->type, k->max);
    if (has_lo && has_hi)
        sbuf_printf(out, ", range %s..%s", lo, hi);
    else if (has_lo)
        sbuf_printf(out, ", min %s", lo);
    else if (has_hi)
        sbuf_printf(out, ", max %s", hi);
}

void cfg_doc(const struct cfg *c, struct sbuf *out)
{
    for (size_t i = 0; i < c->nslots; i++) {
        const struct cfg_key *k = c->slots[i].key;

        sbuf_printf(out, "%s (%s, default ", k->name, type_name(k->type));
        put_value(out, k->type, k->def_int, k->def_str ? k->def_str : "");
        put_range(out, k);
        sbuf_puts(out, k->flags & CFG_RELOAD ? ", reloadable)\n" : ")\n");
        if (k->doc != NULL && k->doc[0] != '\0')
            sbuf_printf(out, "    %s\n", k->doc);
    }
}
