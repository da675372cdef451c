/*
 * Values documents kept as text: libfyaml's event parser validates the text and gives each
 * node its byte span; edits splice new text in at those spans and parse the result again
 * (see yaml.h for why libfyaml's own emitter is not used).
 */
#include <errno.h>
#include <jansson.h>
#include <libfyaml.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "pkg/pkg-int.h"

#define DEF_MAX_BYTES  ((size_t)1 << 20)
#define DEF_MAX_DEPTH  32u
#define HARD_MAX_DEPTH 60u
#define PATH_MAX_BYTES 1000
#define PATH_MAX_SEGS  32

struct pkg_yaml_node {
    enum pkg_yaml_type type;
    bool flow;                   /* a flow collection: {…} or […] */
    bool block_scalar;           /* a | or > scalar: its span ends after its last line's newline */
    size_t start, end;           /* bytes of the document text, quotes and indicators included */
    int line, col;               /* 0-based, of start */
    struct slice text;           /* a scalar's value, NUL-terminated */
    size_t n;                    /* mapping entries or sequence items */
    struct pkg_yaml_node **kids; /* mapping: key0, value0, key1, …; sequence: items */
    struct pkg_yaml_node *parent;
    struct pkg_yaml_node *next; /* sibling list while building */
    struct pkg_yaml_node *first, *last;
    size_t nkids;
};

/* One parsed version of the text: swapped whole after an edit reads back correctly. */
struct state {
    char *text;
    size_t len;
    struct arena *arena;
    struct pkg_yaml_node *root;
};

struct pkg_yaml {
    struct pkg_yaml_limits lim;
    struct state st;
};

/* ------------------------------------------------------------------ scalars */

static bool is_one_of(struct slice s, const char *const *words)
{
    for (; *words; words++)
        if (slice_eq_cstr(s, *words))
            return true;
    return false;
}

static bool all_in(const char *p, const char *e, const char *set)
{
    if (p == e)
        return false;
    for (; p < e; p++)
        if (strchr(set, *p) == NULL || *p == '\0')
            return false;
    return true;
}

static bool is_float_text(struct slice s)
{
    const char *p = s.ptr, *e = s.ptr + s.len;
    bool digits = false;

    if (p < e && (*p == '-' || *p == '+'))
        p++;
    if (is_one_of((struct slice){p, (size_t)(e - p)},
                  (const char *const[]){".inf", ".Inf", ".INF", NULL}))
        return true;
    while (p < e && *p >= '0' && *p <= '9')
        p++, digits = true;
    if (p < e && *p == '.') {
        p++;
        while (p < e && *p >= '0' && *p <= '9')
            p++, digits = true;
    }
    if (!digits)
        return false;
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '-' || *p == '+'))
            p++;
        if (!all_in(p, e, "0123456789"))
            return false;
        return true;
    }
    return p == e;
}

/* The YAML 1.2 core schema's reading of a plain scalar. */
static enum pkg_yaml_type resolve_plain(struct slice s)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const bools[] = {"true", "True", "TRUE", "false", "False", "FALSE", NULL};
    static const char *const nans[] = {".nan", ".NaN", ".NAN", NULL};
    const char *p = s.ptr, *e = s.ptr + s.len;

    if (is_one_of(s, nulls))
        return PKG_YAML_NULL;
    if (is_one_of(s, bools))
        return PKG_YAML_BOOL;
    if (s.len > 2 && p[0] == '0' && p[1] == 'o' && all_in(p + 2, e, "01234567"))
        return PKG_YAML_INT;
    if (s.len > 2 && p[0] == '0' && p[1] == 'x' && all_in(p + 2, e, "0123456789abcdefABCDEF"))
        return PKG_YAML_INT;
    if (p < e && (*p == '-' || *p == '+'))
        p++;
    if (all_in(p, e, "0123456789"))
        return PKG_YAML_INT;
    if (is_one_of(s, nans) || is_float_text(s))
        return PKG_YAML_FLOAT;
    return PKG_YAML_STRING;
}

/* ------------------------------------------------------------------ positions */

static void pos_line_col(const char *t, size_t pos, int *line, int *col)
{
    int l = 0, c = 0;

    for (size_t i = 0; i < pos; i++) {
        if (t[i] == '\n')
            l++, c = 0;
        else
            c++;
    }
    *line = l;
    *col = c;
}

static size_t line_start(const char *t, size_t p)
{
    while (p > 0 && t[p - 1] != '\n')
        p--;
    return p;
}

static size_t line_end(const char *t, size_t len, size_t p)
{
    while (p < len && t[p] != '\n')
        p++;
    return p;
}

static bool only_spaces(const char *t, size_t a, size_t b)
{
    for (; a < b; a++)
        if (t[a] != ' ' && t[a] != '\t')
            return false;
    return true;
}

/* Skips spaces, line breaks and comments from <p>. */
static size_t skip_blank(const char *t, size_t len, size_t p)
{
    while (p < len) {
        if (t[p] == ' ' || t[p] == '\t' || t[p] == '\n' || t[p] == '\r')
            p++;
        else if (t[p] == '#')
            p = line_end(t, len, p);
        else
            break;
    }
    return p;
}

/* ------------------------------------------------------------------ building the tree */

struct build {
    const char *text;
    size_t len;
    unsigned max_depth;
    struct arena *a;
    struct pkg_yaml_node *stack[HARD_MAX_DEPTH + 2];
    unsigned depth;
    struct pkg_yaml_node *root;
    size_t prev_end; /* end of the last token that had one */
    int docs;
    bool have_diag;
    int dline, dcol;
    char dmsg[120];
};

static int fail_at(struct build *b, struct err *err, size_t pos, const char *fmt, ...)
    APP_PRINTF(4, 5);

/* ERR_INVALID with "line L, column C: " and the message, for the byte at <pos>. */
static int fail_at(struct build *b, struct err *err, size_t pos, const char *fmt, ...)
{
    int line, col;
    char msg[160];
    va_list ap;

    pos_line_col(b->text, pos < b->len ? pos : b->len, &line, &col);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return err_set(err, ERR_INVALID, "line %d, column %d: %s", line + 1, col + 1, msg);
}

/* The decimal number that ends just before *p (moving *p to its first digit); its last 9
 * digits at most, so a long run of digits in the echoed input cannot overflow. */
static int digits_before(const char *buf, const char **p)
{
    int v = 0, mul = 1, n = 0;

    for (; *p > buf && (*p)[-1] >= '0' && (*p)[-1] <= '9'; n++) {
        --*p;
        if (n < 9) {
            v += (**p - '0') * mul;
            mul *= 10;
        }
    }
    return v;
}

/* libfyaml reports "<input>:L:C: error: what" first; keep the first such line. */
static void diag_out(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
    struct build *b = user;
    const char *e, *p;
    int col, line;

    (void)diag;
    e = memmem(buf, len, ": error: ", 9);
    if (b->have_diag || e == NULL)
        return;
    p = e;
    col = digits_before(buf, &p);
    if (p > buf && p[-1] == ':')
        p--;
    line = digits_before(buf, &p);
    len -= (size_t)(e + 9 - buf);
    while (len > 0 && (e[9 + len - 1] == '\n' || e[9 + len - 1] == '\r'))
        len--;
    snprintf(b->dmsg, sizeof(b->dmsg), "%.*s", (int)len, e + 9);
    b->dline = line;
    b->dcol = col;
    b->have_diag = true;
}

static struct pkg_yaml_node *node_new(struct build *b, struct fy_event *ev, struct err *err)
{
    struct pkg_yaml_node *n = arena_zalloc(b->a, sizeof(*n));
    const struct fy_mark *m = fy_event_start_mark(ev);

    if (n == NULL) {
        err_set(err, ERR_INVALID, "document has too many nodes");
        return NULL;
    }
    if (m != NULL) {
        n->start = n->end = m->input_pos;
        n->line = m->line;
        n->col = m->column;
    }
    return n;
}

/* Where a scalar without a token (an empty value) sits: just after its ':' or '-'. */
static size_t empty_pos(struct build *b)
{
    size_t p = skip_blank(b->text, b->len, b->prev_end);

    if (p < b->len && (b->text[p] == ':' || b->text[p] == '-' || b->text[p] == '?'))
        p++;
    return p;
}

/* The value of a single-quoted scalar whose quotes enclose text[from, to): each '' stands for
 * one quote, and line breaks fold as in every flow scalar (one break between text is a space,
 * each blank line a newline, spaces around breaks dropped). Read here, not by
 * fy_token_get_text(), which in libfyaml 0.7.12 leaks a buffer for a scalar with many ''
 * escapes. NULL when the arena is spent. */
static char *unquote_single(struct build *b, size_t from, size_t to, size_t *len)
{
    char *out = arena_alloc(b->a, to - from + 1);
    size_t n = 0, i = from, blanks;

    if (out == NULL)
        return NULL;
    while (i < to) {
        char c = b->text[i];

        if (c == '\'' && i + 1 < to && b->text[i + 1] == '\'') {
            out[n++] = '\'';
            i += 2;
        } else if (c == '\n' || c == '\r') {
            while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\t'))
                n--; /* spaces before a break go */
            for (blanks = 0; i < to && (b->text[i] == '\n' || b->text[i] == '\r' ||
                                        b->text[i] == ' ' || b->text[i] == '\t');
                 i++)
                blanks += b->text[i] == '\n';
            if (blanks == 1)
                out[n++] = ' ';
            for (; blanks > 1; blanks--)
                out[n++] = '\n';
        } else {
            out[n++] = c;
            i++;
        }
    }
    out[n] = '\0';
    *len = n;
    return out;
}

static int scalar_fill(struct build *b, struct pkg_yaml_node *n, struct fy_event *ev,
                       struct err *err)
{
    struct fy_token *tok = fy_event_get_token(ev);
    const struct fy_mark *m = fy_event_start_mark(ev), *me = fy_event_end_mark(ev);
    enum fy_scalar_style style = tok ? fy_token_scalar_style(tok) : FYSS_PLAIN;
    size_t len = 0;
    const char *txt;
    char *copy;

    if (style == FYSS_SINGLE_QUOTED && m != NULL && me != NULL && m->input_pos <= me->input_pos &&
        me->input_pos <= b->len) {
        copy = unquote_single(b, m->input_pos, me->input_pos, &len);
    } else {
        txt = tok ? fy_token_get_text(tok, &len) : "";
        if (txt == NULL)
            return err_set(err, ERR_INVALID, "unreadable scalar");
        copy = arena_strndup(b->a, txt, len);
    }
    if (copy == NULL)
        return err_set(err, ERR_INVALID, "document has too many nodes");
    n->text = (struct slice){copy, len};
    if (m == NULL || me == NULL || tok == NULL) {
        n->start = n->end = empty_pos(b);
        pos_line_col(b->text, n->start, &n->line, &n->col);
        n->type = PKG_YAML_NULL;
        return 0;
    }
    n->end = me->input_pos;
    if (style == FYSS_SINGLE_QUOTED || style == FYSS_DOUBLE_QUOTED) {
        char q = style == FYSS_SINGLE_QUOTED ? '\'' : '"';

        if (n->start > 0 && b->text[n->start - 1] == q && n->end < b->len && b->text[n->end] == q)
            n->start--, n->end++, n->col--;
    } else if (style == FYSS_LITERAL || style == FYSS_FOLDED) {
        size_t p = skip_blank(b->text, b->len, b->prev_end);

        while (p < b->len && (b->text[p] == ':' || b->text[p] == '-' || b->text[p] == '?'))
            p = skip_blank(b->text, b->len, p + 1);
        if (p < n->start && (b->text[p] == '|' || b->text[p] == '>')) {
            n->start = p;
            pos_line_col(b->text, p, &n->line, &n->col);
        }
        n->block_scalar = n->end > 0 && b->text[n->end - 1] == '\n';
    }
    n->type = style == FYSS_PLAIN ? resolve_plain(n->text) : PKG_YAML_STRING;
    return 0;
}

static int key_cmp(const void *pa, const void *pb)
{
    const struct pkg_yaml_node *a = *(const struct pkg_yaml_node *const *)pa;
    const struct pkg_yaml_node *b = *(const struct pkg_yaml_node *const *)pb;
    int c;

    if (a->text.len != b->text.len)
        return a->text.len < b->text.len ? -1 : 1;
    c = memcmp(a->text.ptr, b->text.ptr, a->text.len);
    if (c != 0)
        return c;
    return a->start < b->start ? -1 : a->start > b->start;
}

/* Sorting the keys finds duplicates in n log n: a mapping may hold many thousand keys. */
static int check_dups(struct build *b, struct pkg_yaml_node *map, struct err *err)
{
    struct pkg_yaml_node **keys;
    char echo[64 + 4];

    if (map->n < 2)
        return 0;
    keys = arena_alloc(b->a, map->n * sizeof(*keys));
    if (keys == NULL)
        return err_set(err, ERR_INVALID, "document has too many nodes");
    for (size_t i = 0; i < map->n; i++)
        keys[i] = map->kids[2 * i];
    qsort(keys, map->n, sizeof(*keys), key_cmp);
    for (size_t i = 1; i < map->n; i++)
        if (slice_eq(keys[i - 1]->text, keys[i]->text))
            return fail_at(b, err, keys[i]->start, "duplicate key \"%s\"",
                           slice_echo(echo, 64, keys[i]->text));
    return 0;
}

static int collection_end(struct build *b, struct fy_event *ev, struct err *err)
{
    struct pkg_yaml_node *n = b->stack[--b->depth], *k;
    const struct fy_mark *me = fy_event_end_mark(ev);
    size_t i = 0;

    n->kids = arena_alloc(b->a, (n->nkids ? n->nkids : 1) * sizeof(*n->kids));
    if (n->kids == NULL)
        return err_set(err, ERR_INVALID, "document has too many nodes");
    for (k = n->first; k != NULL; k = k->next)
        n->kids[i++] = k;
    n->n = n->type == PKG_YAML_MAP ? n->nkids / 2 : n->nkids;
    if (n->flow && me != NULL)
        n->end = me->input_pos;
    else if (n->nkids > 0)
        n->end = n->kids[n->nkids - 1]->end;
    if (n->flow && n->end > b->prev_end)
        b->prev_end = n->end;
    return n->type == PKG_YAML_MAP ? check_dups(b, n, err) : 0;
}

static int attach(struct build *b, struct pkg_yaml_node *n, struct err *err)
{
    struct pkg_yaml_node *p = b->depth ? b->stack[b->depth - 1] : NULL;

    if (p == NULL) {
        if (b->root != NULL)
            return fail_at(b, err, n->start, "%s", "more than one root node");
        b->root = n;
        return 0;
    }
    if (p->type == PKG_YAML_MAP && p->nkids % 2 == 0 &&
        (n->type == PKG_YAML_MAP || n->type == PKG_YAML_SEQ))
        return fail_at(b, err, n->start, "%s", "a mapping key must be a scalar");
    /* Values files name every setting; an empty key (": x") is a typo, and paths to it
     * would need a special case everywhere. */
    if (p->type == PKG_YAML_MAP && p->nkids % 2 == 0 && n->text.len == 0)
        return fail_at(b, err, n->start, "%s", "a mapping key must not be empty");
    n->parent = p;
    if (p->last)
        p->last->next = n;
    else
        p->first = n;
    p->last = n;
    p->nkids++;
    return 0;
}

static int refuse_props(struct build *b, struct fy_event *ev, size_t pos, struct err *err)
{
    struct fy_token *t;

    if ((t = fy_event_get_anchor_token(ev)) != NULL) {
        const struct fy_mark *m = fy_token_start_mark(t);

        if (m != NULL && m->input_pos > 0 && b->text[m->input_pos - 1] == '&')
            pos = m->input_pos - 1;
        return fail_at(b, err, pos, "%s", "anchors (&name) are not allowed in values files");
    }
    if ((t = fy_event_get_tag_token(ev)) != NULL) {
        const struct fy_mark *m = fy_token_start_mark(t);
        return fail_at(b, err, m ? m->input_pos : pos, "%s",
                       "tags (!tag) are not allowed in values files");
    }
    return 0;
}

static int on_node(struct build *b, struct fy_event *ev, struct err *err)
{
    struct pkg_yaml_node *n = node_new(b, ev, err);
    const struct fy_mark *me = fy_event_end_mark(ev);
    int rc;

    if (n == NULL)
        return ERR_INVALID;
    if ((rc = refuse_props(b, ev, n->start, err)) < 0)
        return rc;
    if (ev->type == FYET_SCALAR) {
        if ((rc = scalar_fill(b, n, ev, err)) < 0)
            return rc;
        if (n->end > b->prev_end)
            b->prev_end = n->end;
        return attach(b, n, err);
    }
    n->type = ev->type == FYET_MAPPING_START ? PKG_YAML_MAP : PKG_YAML_SEQ;
    n->flow = fy_event_get_node_style(ev) == FYNS_FLOW;
    if (me != NULL && me->input_pos > b->prev_end)
        b->prev_end = me->input_pos;
    if ((rc = attach(b, n, err)) < 0)
        return rc;
    if (b->depth >= b->max_depth) {
        return fail_at(b, err, n->start, "nested deeper than %u levels", b->max_depth);
    }
    b->stack[b->depth++] = n;
    return 0;
}

static int on_event(struct build *b, struct fy_event *ev, struct err *err)
{
    const struct fy_mark *m = fy_event_start_mark(ev);
    size_t pos = m ? m->input_pos : b->prev_end;

    switch (ev->type) {
    case FYET_DOCUMENT_START:
        if (++b->docs > 1)
            return fail_at(b, err, pos, "%s",
                           "only one document is allowed (a second starts here)");
        return 0;
    case FYET_ALIAS:
        if (pos > 0 && b->text[pos - 1] == '*')
            pos--;
        return fail_at(b, err, pos, "%s", "aliases (*name) are not allowed in values files");
    case FYET_SCALAR:
    case FYET_MAPPING_START:
    case FYET_SEQUENCE_START:
        return on_node(b, ev, err);
    case FYET_MAPPING_END:
    case FYET_SEQUENCE_END:
        if (NEVER(b->depth == 0))
            return err_set(err, ERR_INTERNAL, "unbalanced YAML events");
        return collection_end(b, ev, err);
    default:
        return 0;
    }
}

/* Parses <text> into a new tree in a new arena (*out_arena, freed by the caller). */
/* One run of libfyaml's event parser over <text>: with <build>, the tree is built from the
 * events; without, the events are only checked to make a whole stream. */
static int parse_pass(struct build *b, const char *text, size_t len, bool build, struct err *err)
{
    struct fy_diag_cfg dcfg;
    struct fy_diag *diag;
    struct fy_parser *fyp = NULL;
    struct fy_event *ev;
    int rc = 0;

    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = diag_out;
    dcfg.user = b;
    dcfg.colorize = false;
    diag = fy_diag_create(&dcfg);
    fyp = diag ? fy_parser_create(
                     &(struct fy_parse_cfg){.flags = FYPCF_QUIET | FYPCF_DEFAULT_VERSION_1_2 |
                                                     FYPCF_JSON_NONE | FYPCF_DISABLE_RECYCLING,
                                            .diag = diag})
               : NULL;
    if (fyp == NULL || fy_parser_set_string(fyp, text, len) != 0)
        rc = err_set(err, ERR_INTERNAL, "cannot start the YAML parser");
    while (rc == 0 && (ev = fy_parser_parse(fyp)) != NULL) {
        if (build)
            rc = on_event(b, ev, err);
        fy_parser_event_free(fyp, ev);
    }
    if (rc == 0 && fy_parser_get_stream_error(fyp)) {
        if (b->have_diag)
            rc = err_set(err, ERR_INVALID, "line %d, column %d: %s", b->dline, b->dcol, b->dmsg);
        else
            rc = err_set(err, ERR_INVALID, "invalid YAML");
    }
    if (fyp)
        fy_parser_destroy(fyp);
    if (diag)
        fy_diag_destroy(diag);
    return rc;
}

static int build_tree(const char *text, size_t len, const struct pkg_yaml_limits *lim,
                      struct arena **out_arena, struct pkg_yaml_node **out_root, struct err *err)
{
    struct build *b = xcalloc(1, sizeof(*b));
    int rc = 0;

    b->text = text;
    b->len = len;
    b->max_depth = lim->max_depth;
    for (size_t i = 0; i < len; i++) { /* YAML allows no C0 control but tab and line breaks;
                                          libfyaml 0.7.12 lets some through (and reads past NUL) */
        unsigned char c = (unsigned char)text[i];

        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
            rc = fail_at(b, err, i, "control character 0x%02X", c);
            break;
        }
    }
    if (rc == 0) { /* libfyaml 0.7.12 reads invalid UTF-8 inconsistently; jansson checks it */
        json_t *probe = json_stringn(text, len);

        if (probe == NULL)
            rc = err_set(err, ERR_INVALID, "document is not valid UTF-8");
        json_decref(probe);
    }
    if (rc < 0) {
        free(b);
        return rc;
    }
    b->a = arena_new(
        &(struct arena_opts){.chunk = 16 << 10, .budget = 64 * lim->max_bytes + (64 << 10)});
    /* Two passes: the first only checks the text is YAML (libfyaml 0.7.12 leaks the decoded
     * text of a quoted scalar when the stream fails after it, so the pass that reads scalar
     * texts runs on a stream already known to be whole). */
    rc = parse_pass(b, text, len, false, err);
    if (rc == 0)
        rc = parse_pass(b, text, len, true, err);
    if (rc == 0) {
        *out_arena = b->a;
        *out_root = b->root;
    } else {
        arena_free(b->a);
    }
    free(b);
    return rc;
}

static void state_release(struct state *st)
{
    if (st->arena)
        arena_free(st->arena);
    free(st->text);
    memset(st, 0, sizeof(*st));
}

/* Takes ownership of <text> (heap, NUL-terminated) whatever happens. */
static int state_build(struct state *st, char *text, size_t len, const struct pkg_yaml_limits *lim,
                       struct err *err)
{
    int rc;

    memset(st, 0, sizeof(*st));
    if (len > lim->max_bytes) {
        free(text);
        return err_set(err, ERR_INVALID, "document is over %zu bytes", lim->max_bytes);
    }
    rc = build_tree(text, len, lim, &st->arena, &st->root, err);
    if (rc < 0) {
        free(text);
        return rc;
    }
    st->text = text;
    st->len = len;
    return 0;
}

int pkg_yaml_parse(struct slice text, const struct pkg_yaml_limits *lim, struct pkg_yaml **out,
                   struct err *err)
{
    struct pkg_yaml *doc;
    int rc;

    doc = xcalloc(1, sizeof(*doc));
    if (lim)
        doc->lim = *lim;
    if (doc->lim.max_bytes == 0)
        doc->lim.max_bytes = DEF_MAX_BYTES;
    if (doc->lim.max_depth == 0)
        doc->lim.max_depth = DEF_MAX_DEPTH;
    if (doc->lim.max_depth > HARD_MAX_DEPTH)
        doc->lim.max_depth = HARD_MAX_DEPTH;
    if (text.len > doc->lim.max_bytes) { /* before copying it */
        rc = err_set(err, ERR_INVALID, "document is over %zu bytes", doc->lim.max_bytes);
        free(doc);
        return rc;
    }
    rc = state_build(&doc->st, xstrndup(text.ptr ? text.ptr : "", text.len), text.len, &doc->lim,
                     err);
    if (rc < 0) {
        free(doc);
        return rc;
    }
    *out = doc;
    return 0;
}

void pkg_yaml_free(struct pkg_yaml *doc)
{
    if (doc == NULL)
        return;
    state_release(&doc->st);
    free(doc);
}

int pkg_yaml_emit(const struct pkg_yaml *doc, struct sbuf *out, struct err *err)
{
    sbuf_put(out, doc->st.text, doc->st.len);
    if (out->err != 0)
        return err_set(err, out->err, "emitted YAML does not fit in %zu bytes", out->max);
    return 0;
}

/* ------------------------------------------------------------------ paths */

struct seg {
    bool is_index;
    size_t index;
    struct slice key;
    size_t upto; /* bytes of the path through this segment, for messages */
};

struct path {
    const char *str;
    struct seg s[PATH_MAX_SEGS];
    size_t n;
    char buf[PATH_MAX_BYTES + 1];
    size_t used;
};

static int path_key(struct path *pp, const char *p, size_t *i, struct err *err)
{
    struct seg *s = &pp->s[pp->n];
    size_t start = pp->used;

    if (p[*i] == '"') {
        for ((*i)++; p[*i] != '"'; (*i)++) {
            if (p[*i] == '\0')
                return err_set(err, ERR_INVALID, "path \"%s\": unterminated quoted key", p);
            if (p[*i] == '\\' && (p[*i + 1] == '"' || p[*i + 1] == '\\'))
                (*i)++;
            pp->buf[pp->used++] = p[*i];
        }
        (*i)++;
    } else {
        for (; p[*i] != '\0' && p[*i] != '.' && p[*i] != '['; (*i)++) {
            if (p[*i] == '"' || p[*i] == ']' || p[*i] == '\\')
                return err_set(err, ERR_INVALID, "path \"%s\": quote a key holding '%c'", p, p[*i]);
            pp->buf[pp->used++] = p[*i];
        }
        if (pp->used == start)
            return err_set(err, ERR_INVALID, "path \"%s\": empty key (quote it: \"\")", p);
    }
    s->key = (struct slice){pp->buf + start, pp->used - start};
    return 0;
}

static int path_index(struct path *pp, const char *p, size_t *i, struct err *err)
{
    struct seg *s = &pp->s[pp->n];
    size_t v = 0, digits = 0;

    for ((*i)++; p[*i] >= '0' && p[*i] <= '9'; (*i)++, digits++) {
        if (v > 100000000)
            return err_set(err, ERR_INVALID, "path \"%s\": index too large", p);
        v = v * 10 + (size_t)(p[*i] - '0');
    }
    if (digits == 0 || p[*i] != ']')
        return err_set(err, ERR_INVALID, "path \"%s\": expected [digits]", p);
    (*i)++;
    s->is_index = true;
    s->index = v;
    return 0;
}

static int path_parse(const char *p, struct path *pp, struct err *err)
{
    size_t i = 0;
    int rc;

    pp->str = p;
    pp->n = pp->used = 0;
    if (strlen(p) > PATH_MAX_BYTES)
        return err_set(err, ERR_INVALID, "path is over %d bytes", PATH_MAX_BYTES);
    while (p[i] != '\0') {
        if (pp->n == PATH_MAX_SEGS)
            return err_set(err, ERR_INVALID, "path \"%s\" has over %d steps", p, PATH_MAX_SEGS);
        memset(&pp->s[pp->n], 0, sizeof(pp->s[0]));
        if (p[i] == '[') {
            rc = path_index(pp, p, &i, err);
        } else {
            if (pp->n > 0 && p[i++] != '.')
                return err_set(err, ERR_INVALID, "path \"%s\": expected '.' or '[' at byte %zu", p,
                               i);
            rc = path_key(pp, p, &i, err);
        }
        if (rc < 0)
            return rc;
        pp->s[pp->n++].upto = i;
    }
    return 0;
}

static const char *type_name(enum pkg_yaml_type t)
{
    static const char *const names[] = {"null",   "boolean", "integer", "float",
                                        "string", "mapping", "sequence"};
    return names[t];
}

static const struct pkg_yaml_node *map_find(const struct pkg_yaml_node *m, struct slice key,
                                            size_t *idx)
{
    for (size_t i = 0; i < m->n; i++)
        if (slice_eq(m->kids[2 * i]->text, key)) {
            if (idx)
                *idx = i;
            return m->kids[2 * i + 1];
        }
    return NULL;
}

enum walk_stop { WALK_DONE, WALK_MISSING, WALK_WRONG_TYPE };

/* Follows <pp> from the root as far as it goes: *at is the last node reached after *used
 * steps. */
static enum walk_stop walk(const struct pkg_yaml *doc, const struct path *pp,
                           const struct pkg_yaml_node **at, size_t *used)
{
    const struct pkg_yaml_node *n = doc->st.root, *next;

    *at = n;
    *used = 0;
    if (n == NULL)
        return WALK_MISSING;
    for (size_t i = 0; i < pp->n; i++) {
        const struct seg *s = &pp->s[i];

        if (s->is_index ? n->type != PKG_YAML_SEQ : n->type != PKG_YAML_MAP)
            return WALK_WRONG_TYPE;
        next =
            s->is_index ? (s->index < n->n ? n->kids[s->index] : NULL) : map_find(n, s->key, NULL);
        if (next == NULL)
            return WALK_MISSING;
        n = next;
        *at = n;
        *used = i + 1;
    }
    return WALK_DONE;
}

int pkg_yaml_get(const struct pkg_yaml *doc, const char *path, const struct pkg_yaml_node **out,
                 struct err *err)
{
    struct path *pp = xmalloc(sizeof(*pp));
    const struct pkg_yaml_node *n;
    size_t used;
    int rc = path_parse(path, pp, err);

    if (rc == 0) {
        switch (walk(doc, pp, &n, &used)) {
        case WALK_DONE:
            *out = n;
            break;
        case WALK_MISSING:
            rc = err_set(err, ERR_NOTFOUND, "%.*s: not found",
                         (int)(used < pp->n ? pp->s[used].upto : strlen(path)), path);
            if (doc->st.root == NULL)
                rc = err_set(err, ERR_NOTFOUND, "%s: not found (the document is empty)", path);
            break;
        case WALK_WRONG_TYPE:
            rc = err_set(err, ERR_INVALID, "%.*s is a %s, not a %s",
                         (int)(used ? pp->s[used - 1].upto : 0), path, type_name(n->type),
                         pp->s[used].is_index ? "sequence" : "mapping");
            break;
        }
    }
    free(pp);
    return rc;
}

static int get_typed(const struct pkg_yaml *doc, const char *path, enum pkg_yaml_type want,
                     const struct pkg_yaml_node **n, struct err *err)
{
    int rc = pkg_yaml_get(doc, path, n, err);

    if (rc < 0)
        return rc;
    if (want == PKG_YAML_STRING ? (*n)->type >= PKG_YAML_MAP : (*n)->type != want)
        return err_set(err, ERR_INVALID, "%s is a %s, not a%s %s", path, type_name((*n)->type),
                       want == PKG_YAML_INT ? "n" : "", type_name(want));
    return 0;
}

int pkg_yaml_get_str(const struct pkg_yaml *doc, const char *path, struct slice *out,
                     struct err *err)
{
    const struct pkg_yaml_node *n;
    int rc = get_typed(doc, path, PKG_YAML_STRING, &n, err);

    if (rc == 0)
        *out = n->text;
    return rc;
}

static int int_value(const struct pkg_yaml_node *n, int64_t *out, struct err *err)
{
    const char *p = n->text.ptr;
    int base = 10;
    char *end;
    long long v;

    if (p[0] == '0' && (p[1] == 'o' || p[1] == 'x'))
        base = p[1] == 'o' ? 8 : 16, p += 2;
    errno = 0;
    v = strtoll(p, &end, base);
    if (errno != 0 || *end != '\0')
        return err_set(err, ERR_INVALID, "line %d: integer %s does not fit in 64 bits", n->line + 1,
                       n->text.ptr);
    *out = v;
    return 0;
}

int pkg_yaml_get_int(const struct pkg_yaml *doc, const char *path, int64_t *out, struct err *err)
{
    const struct pkg_yaml_node *n;
    int rc = get_typed(doc, path, PKG_YAML_INT, &n, err);

    return rc < 0 ? rc : int_value(n, out, err);
}

int pkg_yaml_get_bool(const struct pkg_yaml *doc, const char *path, bool *out, struct err *err)
{
    const struct pkg_yaml_node *n;
    int rc = get_typed(doc, path, PKG_YAML_BOOL, &n, err);

    if (rc == 0)
        *out = n->text.ptr[0] == 't' || n->text.ptr[0] == 'T';
    return rc;
}

static bool is_type(const struct pkg_yaml *doc, const char *path, enum pkg_yaml_type t)
{
    const struct pkg_yaml_node *n;
    struct err err = {0};

    return pkg_yaml_get(doc, path, &n, &err) == 0 && n->type == t;
}

bool pkg_yaml_is_null(const struct pkg_yaml *doc, const char *path)
{
    return is_type(doc, path, PKG_YAML_NULL);
}

bool pkg_yaml_is_map(const struct pkg_yaml *doc, const char *path)
{
    return is_type(doc, path, PKG_YAML_MAP);
}

bool pkg_yaml_is_seq(const struct pkg_yaml *doc, const char *path)
{
    return is_type(doc, path, PKG_YAML_SEQ);
}

enum pkg_yaml_type pkg_yaml_node_type(const struct pkg_yaml_node *n)
{
    return n->type;
}

struct slice pkg_yaml_node_scalar(const struct pkg_yaml_node *n)
{
    return n->type >= PKG_YAML_MAP ? SLICE_NULL : n->text;
}

size_t pkg_yaml_node_len(const struct pkg_yaml_node *n)
{
    return n->type >= PKG_YAML_MAP ? n->n : 0;
}

struct slice pkg_yaml_node_key(const struct pkg_yaml_node *n, size_t i)
{
    return n->type == PKG_YAML_MAP && i < n->n ? n->kids[2 * i]->text : SLICE_NULL;
}

const struct pkg_yaml_node *pkg_yaml_node_at(const struct pkg_yaml_node *n, size_t i)
{
    if (n->type == PKG_YAML_MAP)
        return i < n->n ? n->kids[2 * i + 1] : NULL;
    return n->type == PKG_YAML_SEQ && i < n->n ? n->kids[i] : NULL;
}

int pkg_yaml_node_line(const struct pkg_yaml_node *n)
{
    return n->line + 1;
}

/* ------------------------------------------------------------------ to JSON */

static int scalar_json(const struct pkg_yaml_node *n, json_t **out, struct err *err)
{
    int64_t i;
    double d;

    switch (n->type) {
    case PKG_YAML_NULL:
        *out = json_null();
        return 0;
    case PKG_YAML_BOOL:
        *out = json_boolean(n->text.ptr[0] == 't' || n->text.ptr[0] == 'T');
        return 0;
    case PKG_YAML_INT:
        if (int_value(n, &i, err) < 0)
            return ERR_INVALID;
        *out = json_integer(i);
        break;
    case PKG_YAML_FLOAT:
        d = strtod(n->text.ptr, NULL);
        if (!isfinite(d) || strchr(n->text.ptr, 'n') || strchr(n->text.ptr, 'N'))
            return err_set(err, ERR_INVALID, "line %d: %s has no JSON form", n->line + 1,
                           n->text.ptr);
        *out = json_real(d);
        break;
    default:
        *out = json_stringn(n->text.ptr, n->text.len);
        if (*out == NULL)
            return err_set(err, ERR_INVALID, "line %d: string is not valid UTF-8", n->line + 1);
        break;
    }
    return *out ? 0 : err_set(err, ERR_INTERNAL, "out of memory");
}

int pkg_yaml_node_to_json(const struct pkg_yaml_node *n, json_t **out, struct err *err)
{
    json_t *j, *kid;
    int rc;

    if (n->type < PKG_YAML_MAP)
        return scalar_json(n, out, err);
    j = n->type == PKG_YAML_MAP ? json_object() : json_array();
    if (j == NULL)
        return err_set(err, ERR_INTERNAL, "out of memory");
    for (size_t i = 0; i < n->n; i++) {
        const struct pkg_yaml_node *v = pkg_yaml_node_at(n, i);

        if ((rc = pkg_yaml_node_to_json(v, &kid, err)) < 0) {
            json_decref(j);
            return rc;
        }
        if (n->type == PKG_YAML_MAP)
            rc = json_object_setn_new(j, n->kids[2 * i]->text.ptr, n->kids[2 * i]->text.len, kid);
        else
            rc = json_array_append_new(j, kid);
        if (rc != 0) {
            json_decref(j);
            return err_set(err, ERR_INVALID, "line %d: key is not valid UTF-8", v->line + 1);
        }
    }
    *out = j;
    return 0;
}

int pkg_yaml_to_json(const struct pkg_yaml *doc, json_t **out, struct err *err)
{
    if (doc->st.root == NULL) {
        *out = json_null();
        return 0;
    }
    return pkg_yaml_node_to_json(doc->st.root, out, err);
}

/* ------------------------------------------------------------------ rendering */

static bool needs_quotes(struct slice s)
{
    static const char *const yaml11[] = {"y",  "Y",  "n",  "N",  "yes", "Yes", "YES", "no", "No",
                                         "NO", "on", "On", "ON", "off", "Off", "OFF", NULL};
    const char *p = s.ptr;

    if (s.len == 0 || resolve_plain(s) != PKG_YAML_STRING || is_one_of(s, yaml11))
        return true;
    if (strchr("?:,[]{}#&*!|>'\"%@`", p[0]) != NULL)
        return true;
    if (p[0] == '-' && (s.len == 1 || p[1] == ' '))
        return true;
    if (p[0] == ' ' || p[s.len - 1] == ' ' || p[s.len - 1] == ':')
        return true;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)p[i];

        if (c < 0x20 || c == 0x7f || strchr(",[]{}", c) != NULL)
            return true;
        if (i + 1 < s.len && ((c == ':' && p[i + 1] == ' ') || (c == ' ' && p[i + 1] == '#')))
            return true;
    }
    return false;
}

static void put_quoted(struct sbuf *o, struct slice s)
{
    sbuf_putc(o, '"');
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];

        if (c == '"' || c == '\\')
            sbuf_putc(o, '\\'), sbuf_putc(o, (char)c);
        else if (c == '\n')
            sbuf_puts(o, "\\n");
        else if (c == '\t')
            sbuf_puts(o, "\\t");
        else if (c < 0x20 || c == 0x7f)
            sbuf_printf(o, "\\x%02X", c);
        else
            sbuf_putc(o, (char)c);
    }
    sbuf_putc(o, '"');
}

static void put_string(struct sbuf *o, struct slice s, bool force_quotes)
{
    if (force_quotes || needs_quotes(s))
        put_quoted(o, s);
    else
        sbuf_put_slice(o, s);
}

static void put_real(struct sbuf *o, double d)
{
    char buf[40];

    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    sbuf_puts(o, buf);
    if (strpbrk(buf, ".eE") == NULL)
        sbuf_puts(o, ".0");
}

static bool inlineable(const json_t *v)
{
    return (!json_is_object(v) && !json_is_array(v)) ||
           (json_is_object(v) ? json_object_size(v) : json_array_size(v)) == 0;
}

/* A scalar, or a collection in flow style (strings quoted, so no flow indicator breaks). */
static void render_inline(struct sbuf *o, const json_t *v, bool in_flow)
{
    const char *k;
    json_t *x;
    size_t i, n = 0;

    switch (json_typeof(v)) {
    case JSON_OBJECT:
        sbuf_putc(o, '{');
        json_object_foreach((json_t *)v, k, x)
        {
            sbuf_puts(o, n++ ? ", " : "");
            put_string(o, (struct slice){k, strlen(k)}, true);
            sbuf_puts(o, ": ");
            render_inline(o, x, true);
        }
        sbuf_putc(o, '}');
        break;
    case JSON_ARRAY:
        sbuf_putc(o, '[');
        json_array_foreach(v, i, x)
        {
            sbuf_puts(o, i ? ", " : "");
            render_inline(o, x, true);
        }
        sbuf_putc(o, ']');
        break;
    case JSON_STRING:
        put_string(o, (struct slice){json_string_value(v), json_string_length(v)}, in_flow);
        break;
    case JSON_INTEGER:
        sbuf_printf(o, "%" PRId64, (int64_t)json_integer_value(v));
        break;
    case JSON_REAL:
        put_real(o, json_real_value(v));
        break;
    case JSON_TRUE:
        sbuf_puts(o, "true");
        break;
    case JSON_FALSE:
        sbuf_puts(o, "false");
        break;
    default:
        sbuf_puts(o, "null");
        break;
    }
}

static void put_indent(struct sbuf *o, int n)
{
    for (int i = 0; i < n; i++)
        sbuf_putc(o, ' ');
}

static void render_block(struct sbuf *o, const json_t *v, int indent, bool inline_first);

/* What follows "key:" — " scalar", or the block on the next lines at <indent> + 2. */
static void render_after_key(struct sbuf *o, const json_t *v, int indent)
{
    if (inlineable(v)) {
        sbuf_putc(o, ' ');
        render_inline(o, v, false);
    } else {
        sbuf_putc(o, '\n');
        render_block(o, v, indent + 2, false);
    }
}

static void render_entry(struct sbuf *o, struct slice key, const json_t *v, int indent)
{
    put_string(o, key, false);
    sbuf_putc(o, ':');
    render_after_key(o, v, indent);
}

static void render_item(struct sbuf *o, const json_t *v, int indent)
{
    sbuf_puts(o, "- ");
    if (inlineable(v))
        render_inline(o, v, false);
    else
        render_block(o, v, indent + 2, true);
}

/* A non-empty mapping or sequence in block style, lines joined by '\n' with none after the
 * last; the first line is not indented when <inline_first> (it follows "- " or a position
 * already at <indent>). */
static void render_block(struct sbuf *o, const json_t *v, int indent, bool inline_first)
{
    const char *k;
    json_t *x;
    size_t i = 0;

    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, x)
        {
            if (i > 0)
                sbuf_putc(o, '\n');
            if (i++ > 0 || !inline_first)
                put_indent(o, indent);
            render_entry(o, (struct slice){k, strlen(k)}, x, indent);
        }
        return;
    }
    json_array_foreach(v, i, x)
    {
        if (i > 0)
            sbuf_putc(o, '\n');
        if (i > 0 || !inline_first)
            put_indent(o, indent);
        render_item(o, x, indent);
    }
}

void pkg_yaml_write_json(struct sbuf *out, const json_t *v)
{
    if (inlineable(v))
        render_inline(out, v, false);
    else
        render_block(out, v, 0, false);
    sbuf_putc(out, '\n');
}

/* ------------------------------------------------------------------ editing */

/* Splices <repl> over [a, b) and parses the result into *next (released by the caller). */
static int splice(const struct pkg_yaml *doc, size_t a, size_t b, const struct sbuf *repl,
                  struct state *next, struct err *err)
{
    const struct state *st = &doc->st;
    size_t len;
    char *t;

    if (repl->err != 0)
        return err_set(err, ERR_INVALID, "document would be over %zu bytes", doc->lim.max_bytes);
    len = st->len - (b - a) + repl->len;
    if (len > doc->lim.max_bytes)
        return err_set(err, ERR_INVALID, "document would be over %zu bytes", doc->lim.max_bytes);
    t = xmalloc(len + 1);
    memcpy(t, st->text, a);
    memcpy(t + a, repl->buf, repl->len);
    memcpy(t + a + repl->len, st->text + b, st->len - b);
    t[len] = '\0';
    if (state_build(next, t, len, &doc->lim, err) < 0)
        return err_wrap(err, "edited document does not parse");
    return 0;
}

static bool in_flow(const struct pkg_yaml_node *n)
{
    return n->parent != NULL && n->parent->flow;
}

/* Where the new text of a block collection replacing <n> goes, and its first bytes. */
static void block_region(const struct pkg_yaml *doc, const struct pkg_yaml_node *n, size_t *a,
                         size_t *b, int *indent, bool *inline_first, struct sbuf *o)
{
    const char *t = doc->st.text;
    const struct pkg_yaml_node *p = n->parent, *key = NULL;
    size_t ls = line_start(t, n->start);

    *a = n->start;
    *b = n->end;
    *inline_first = false;
    if (p != NULL && p->type == PKG_YAML_MAP)
        for (size_t i = 0; i < p->n; i++)
            if (p->kids[2 * i + 1] == n)
                key = p->kids[2 * i];
    if (only_spaces(t, ls, n->start) && n->start != n->end && !n->block_scalar &&
        (p == NULL || n->line > (key ? key->line : -1))) {
        /* the old value has lines of its own: keep a deeper indentation a human chose */
        *a = ls;
        *indent = key && n->col <= key->col ? key->col + 2 : n->col;
        if (p && p->type == PKG_YAML_SEQ && n->col <= p->col)
            *indent = p->col + 2;
        return;
    }
    if (key == NULL && p != NULL) { /* a sequence item after its "- " */
        *inline_first = true;
        *indent = n->start == n->end ? p->col + 2 : n->col;
        if (n->start == n->end && (n->start == 0 || t[n->start - 1] != ' '))
            sbuf_putc(o, ' ');
        return;
    }
    /* a value on its key's line (or the root): the block goes on the lines after it */
    *indent = key ? key->col + 2 : 0;
    while (*a > 0 && (t[*a - 1] == ' ' || t[*a - 1] == '\t'))
        (*a)--;
    if (!n->block_scalar) {
        size_t e = line_end(t, doc->st.len, *b);
        struct slice rest = slice_trim((struct slice){t + *b, e - *b});

        if (rest.len > 0 && rest.ptr[0] == '#') {
            sbuf_putc(o, ' ');
            sbuf_put_slice(o, rest);
        }
        *b = e;
    }
    if (*a > 0 && t[*a - 1] != '\n')
        sbuf_putc(o, '\n');
}

/* Where a scalar replacing block collection <n> goes: just after its key's ':' or its
 * item's '-' (the lines of <n> then go), else where <n> starts. */
static size_t inline_start(const struct pkg_yaml *doc, const struct pkg_yaml_node *n)
{
    const char *t = doc->st.text;
    const struct pkg_yaml_node *p = n->parent;
    size_t q = n->start;

    if (p == NULL || n->type < PKG_YAML_MAP || n->flow)
        return n->start;
    if (p->type == PKG_YAML_MAP) {
        for (size_t i = 0; i < p->n; i++)
            if (p->kids[2 * i + 1] == n)
                q = p->kids[2 * i]->end;
        while (q < n->start && (t[q] == ' ' || t[q] == '\t'))
            q++;
        return q < n->start && t[q] == ':' ? q + 1 : n->start;
    }
    while (q > 0 && (t[q - 1] == ' ' || t[q - 1] == '\n'))
        q--;
    return q > 0 && t[q - 1] == '-' ? q : n->start;
}

static int replace_node(const struct pkg_yaml *doc, const struct pkg_yaml_node *n, const json_t *v,
                        struct state *next, struct err *err)
{
    struct sbuf o = SBUF_INIT(doc->lim.max_bytes);
    size_t a = n->start, b = n->end;
    int indent, rc;
    bool inl;

    if (inlineable(v) || in_flow(n)) {
        a = inline_start(doc, n);
        if (a != n->start)
            sbuf_putc(&o, ' ');
        else if (n->start == n->end && n->start > 0 && doc->st.text[n->start - 1] != ' ' &&
                 doc->st.text[n->start - 1] != '\n')
            sbuf_putc(&o, ' ');
        render_inline(&o, v, in_flow(n));
    } else {
        block_region(doc, n, &a, &b, &indent, &inl, &o);
        render_block(&o, v, indent, inl);
    }
    if (n->block_scalar)
        sbuf_putc(&o, '\n');
    rc = splice(doc, a, b, &o, next, err);
    sbuf_release(&o);
    return rc;
}

/* Adds <key>: <v> (or an item, when <key>.ptr is NULL) after the last entry of block <c>. */
static int append_entry(const struct pkg_yaml *doc, const struct pkg_yaml_node *c, struct slice key,
                        const json_t *v, struct state *next, struct err *err)
{
    const char *t = doc->st.text;
    struct sbuf o = SBUF_INIT(doc->lim.max_bytes);
    size_t p = c->kids[c->nkids - 1]->end;
    bool after_nl = p > 0 && t[p - 1] == '\n';
    int rc;

    if (!after_nl) {
        p = line_end(t, doc->st.len, p);
        sbuf_putc(&o, '\n');
    }
    put_indent(&o, c->col);
    if (key.ptr != NULL)
        render_entry(&o, key, v, c->col);
    else
        render_item(&o, v, c->col);
    if (after_nl)
        sbuf_putc(&o, '\n');
    rc = splice(doc, p, p, &o, next, err);
    sbuf_release(&o);
    return rc;
}

/* A flow collection (or one whose text cannot be cut cleanly) is rewritten from JSON. */
static int rewrite_with(const struct pkg_yaml *doc, const struct pkg_yaml_node *c, struct slice key,
                        size_t del, const json_t *v, struct state *next, struct err *err)
{
    json_t *j;
    int rc = pkg_yaml_node_to_json(c, &j, err);

    if (rc < 0)
        return rc;
    if (v == NULL && c->type == PKG_YAML_MAP)
        rc = json_object_del(j, c->kids[2 * del]->text.ptr);
    else if (v == NULL)
        rc = json_array_remove(j, del);
    else if (key.ptr != NULL)
        rc = json_object_setn(j, key.ptr, key.len, (json_t *)v);
    else
        rc = json_array_append(j, (json_t *)v);
    rc = rc != 0 ? err_set(err, ERR_INTERNAL, "cannot edit JSON form")
                 : replace_node(doc, c, j, next, err);
    json_decref(j);
    return rc;
}

/* Wraps <v> in one mapping per key step of pp->s[from..]; NULL (with *err) for an index. */
static json_t *wrap(const struct path *pp, size_t from, const json_t *v, struct err *err)
{
    json_t *j = json_incref((json_t *)v), *m;

    for (size_t i = pp->n; i-- > from;) {
        if (pp->s[i].is_index) {
            err_set(err, ERR_NOTFOUND, "%.*s: no such item (items are only appended)",
                    (int)pp->s[i].upto, pp->str);
            json_decref(j);
            return NULL;
        }
        m = json_object();
        json_object_setn_new(m, pp->s[i].key.ptr, pp->s[i].key.len, j);
        j = m;
    }
    return j;
}

/* Picks the edit for setting <v> at <pp> and leaves the new state in *next. */
static int plan_set(const struct pkg_yaml *doc, const struct path *pp, const json_t *v,
                    struct state *next, struct err *err)
{
    const struct pkg_yaml_node *n;
    const struct seg *s;
    size_t used;
    enum walk_stop how = walk(doc, pp, &n, &used);
    json_t *w;
    int rc;

    if (how == WALK_DONE)
        return replace_node(doc, n, v, next, err);
    if (n == NULL || n->type == PKG_YAML_NULL) { /* an empty document or a null: fill it */
        if ((w = wrap(pp, used, v, err)) == NULL)
            return err->code;
        if (n == NULL) {
            struct sbuf o = SBUF_INIT(doc->lim.max_bytes);
            size_t end = doc->st.len;

            if (end > 0 && doc->st.text[end - 1] != '\n')
                sbuf_putc(&o, '\n');
            inlineable(w) ? render_inline(&o, w, false) : render_block(&o, w, 0, false);
            sbuf_putc(&o, '\n');
            rc = splice(doc, end, end, &o, next, err);
            sbuf_release(&o);
        } else {
            rc = replace_node(doc, n, w, next, err);
        }
        json_decref(w);
        return rc;
    }
    s = &pp->s[used];
    if (how == WALK_WRONG_TYPE)
        return err_set(err, ERR_CONFLICT, "%.*s is a %s, not a %s",
                       (int)(used ? pp->s[used - 1].upto : 0), pp->str, type_name(n->type),
                       s->is_index ? "sequence" : "mapping");
    if (s->is_index && s->index != n->n)
        return err_set(err, ERR_NOTFOUND, "%.*s: no such item (the sequence has %zu)", (int)s->upto,
                       pp->str, n->n);
    if ((w = wrap(pp, used + 1, v, err)) == NULL)
        return err->code;
    if (n->flow)
        rc = rewrite_with(doc, n, s->is_index ? SLICE_NULL : s->key, 0, w, next, err);
    else
        rc = append_entry(doc, n, s->is_index ? SLICE_NULL : s->key, w, next, err);
    json_decref(w);
    return rc;
}

/* The edit must read back as written. Splicing text into a hand-written file has corners
 * where the new text would change meaning (a block scalar indented less than its key, say);
 * there the edit is refused, the document left as it was, and the user told to edit that
 * part by hand: ERR_CONFLICT, the document's state does not allow it. */
static int verify_set(struct pkg_yaml *doc, struct state *next, const struct path *pp,
                      const json_t *v, struct err *err)
{
    struct pkg_yaml probe = {.lim = doc->lim, .st = *next};
    const struct pkg_yaml_node *n;
    size_t used;
    json_t *got = NULL;
    bool same;

    if (walk(&probe, pp, &n, &used) != WALK_DONE || pkg_yaml_node_to_json(n, &got, err) < 0)
        return err_set(err, ERR_CONFLICT,
                       "%s: this part of the file cannot be rewritten without changing its "
                       "meaning; edit it by hand",
                       pp->str);
    same = json_equal(got, v);
    json_decref(got);
    if (!same)
        return err_set(err, ERR_CONFLICT,
                       "%s: this part of the file cannot be rewritten without changing its "
                       "meaning; edit it by hand",
                       pp->str);
    return 0;
}

int pkg_yaml_set_json(struct pkg_yaml *doc, const char *path, const json_t *value, struct err *err)
{
    struct path *pp = xmalloc(sizeof(*pp));
    struct state next = {0};
    int rc = path_parse(path, pp, err);

    if (rc == 0)
        rc = plan_set(doc, pp, value, &next, err);
    if (rc == 0)
        rc = verify_set(doc, &next, pp, value, err);
    if (rc == 0) {
        state_release(&doc->st);
        doc->st = next;
    } else {
        state_release(&next);
    }
    free(pp);
    return rc;
}

static int set_new(struct pkg_yaml *doc, const char *path, json_t *v, struct err *err)
{
    int rc;

    if (v == NULL)
        return err_set(err, ERR_INVALID, "%s: value is not valid UTF-8", path);
    rc = pkg_yaml_set_json(doc, path, v, err);
    json_decref(v);
    return rc;
}

int pkg_yaml_set_str(struct pkg_yaml *doc, const char *path, struct slice value, struct err *err)
{
    return set_new(doc, path, json_stringn(value.ptr ? value.ptr : "", value.len), err);
}

int pkg_yaml_set_int(struct pkg_yaml *doc, const char *path, int64_t value, struct err *err)
{
    return set_new(doc, path, json_integer(value), err);
}

int pkg_yaml_set_bool(struct pkg_yaml *doc, const char *path, bool value, struct err *err)
{
    return set_new(doc, path, json_boolean(value), err);
}

int pkg_yaml_set_null(struct pkg_yaml *doc, const char *path, struct err *err)
{
    return set_new(doc, path, json_null(), err);
}

/* The bytes of entry <i> of block collection <c>: whole lines when it starts its line. */
static bool entry_region(const struct pkg_yaml *doc, const struct pkg_yaml_node *c, size_t i,
                         size_t *a, size_t *b)
{
    const char *t = doc->st.text;
    const struct pkg_yaml_node *first, *last;
    size_t p;

    first = c->type == PKG_YAML_MAP ? c->kids[2 * i] : c->kids[i];
    last = c->type == PKG_YAML_MAP ? c->kids[2 * i + 1] : c->kids[i];
    p = first->start;
    if (c->type == PKG_YAML_SEQ) { /* back over spaces to the item's "-" */
        while (p > 0 && t[p - 1] == ' ')
            p--;
        if (p == 0 || t[p - 1] != '-')
            return false;
        p--;
    }
    *a = line_start(t, p);
    if (!only_spaces(t, *a, p))
        return false;
    *b = last->end;
    if (*b == 0 || t[*b - 1] != '\n')
        *b = line_end(t, doc->st.len, *b);
    if (*b < doc->st.len && t[*b] == '\n' && t[*b - 1] != '\n')
        (*b)++;
    return true;
}

int pkg_yaml_delete(struct pkg_yaml *doc, const char *path, struct err *err)
{
    struct state next = {0};
    struct sbuf none = SBUF_INIT(0);
    const struct pkg_yaml_node *n, *c;
    size_t idx = 0, a, b;
    int rc = pkg_yaml_get(doc, path, &n, err);

    if (rc == 0 && (c = n->parent) == NULL)
        rc = err_set(err, ERR_INVALID, "the root cannot be deleted");
    if (rc < 0)
        return rc;
    for (idx = 0; idx < c->n && pkg_yaml_node_at(c, idx) != n; idx++)
        ;
    if (c->n == 1) {
        json_t *empty = c->type == PKG_YAML_MAP ? json_object() : json_array();

        rc = replace_node(doc, c, empty, &next, err);
        json_decref(empty);
    } else if (!c->flow && entry_region(doc, c, idx, &a, &b)) {
        rc = splice(doc, a, b, &none, &next, err);
    } else if (!c->flow && idx == 0 && c->type == PKG_YAML_MAP) { /* "- k: v" compact form */
        rc = splice(doc, c->kids[0]->start, c->kids[2]->start, &none, &next, err);
    } else {
        rc = rewrite_with(doc, c, SLICE_NULL, idx, NULL, &next, err);
    }
    if (rc == 0) {
        state_release(&doc->st);
        doc->st = next;
    } else {
        state_release(&next);
    }
    return rc;
}

int pkg_yaml_json(struct slice text, json_t **out, struct err *err)
{
    struct pkg_yaml *doc = NULL;
    int rc = pkg_yaml_parse(text, NULL, &doc, err);

    *out = NULL;
    if (rc == 0)
        rc = pkg_yaml_to_json(doc, out, err);
    pkg_yaml_free(doc);
    return rc;
}
