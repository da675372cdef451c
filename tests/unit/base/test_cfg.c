/* Tests for src/base/cfg.c: defaults, the file format, the environment, flags, precedence,
 * error messages, cfg_show (with secrets redacted) and cfg_doc. */
#include <stdio.h>
#include <stdlib.h>

#include "../test.h"

#include "base/base.h"

struct tcfg {
    int64_t port;
    int64_t offset;
    bool debug;
    char *name;
    char *root;
    char *token;
    int64_t timeout_ms;
    int64_t max_body;
};

static const struct cfg_key tkeys[] = {
    CFG_INT("http.port", struct tcfg, port, 8080, 0, 65535, CFG_RELOAD, "TCP port to listen on."),
    CFG_INT("http.offset", struct tcfg, offset, -5, -100, 100, 0, "A signed number."),
    CFG_BOOL("http.debug", struct tcfg, debug, 0, 0, "Log every request."),
    CFG_STR("http.name", struct tcfg, name, "slipway", 0, "Server name."),
    CFG_STR("http.root", struct tcfg, root, NULL, 0, "Document root."),
    CFG_SECRET("http.token", struct tcfg, token, 0, "Admin token."),
    CFG_DURATION("http.timeout", struct tcfg, timeout_ms, 30000, 1000, 3600000, CFG_RELOAD,
                 "Idle timeout."),
    CFG_SIZE("http.max_body_bytes", struct tcfg, max_body, 8 << 20, 1024, 1ll << 30, 0,
             "Largest request body."),
};

#define SECRET_VALUE "hunter2-s3cr3t"

static struct cfg *setup(struct tcfg *t)
{
    struct cfg *c = cfg_new();

    memset(t, 0xA5, sizeof(*t)); /* cfg_add must not trust what is there */
    cfg_add(c, &(struct cfg_section){"http", tkeys, ARRAY_LEN(tkeys), t});
    return c;
}

/* Writes <text> to <name> in the test's directory and returns the path (static buffer). */
static const char *write_file_n(const char *name, const char *text, size_t len)
{
    static char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", test_tmpdir(), name);
    f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK(fwrite(text, 1, len, f) == len);
    CHECK(fclose(f) == 0);
    return path;
}

static const char *write_file(const char *name, const char *text)
{
    return write_file_n(name, text, strlen(text));
}

/* Loads <text> as the file "t.conf" and returns what cfg_load_file returned. */
static int load(struct cfg *c, const char *text, struct err *err)
{
    const char *path = write_file("t.conf", text);

    return cfg_load_file(c, path, err);
}

/* The message with the temp dir taken off, so tests can compare "t.conf:2: …". */
static const char *msg(const struct err *err)
{
    const char *dir = test_tmpdir();
    size_t n = strlen(dir);

    if (strncmp(err->msg, dir, n) == 0 && err->msg[n] == '/')
        return err->msg + n + 1;
    return err->msg;
}

/* Loads <text>, expects it to fail with <code> and exactly <message>, and nothing to change. */
static void expect_error(const char *text, int code, const char *message)
{
    struct tcfg t;
    struct cfg *c = setup(&t);
    struct err err = {0};

    CHECK_INT_EQ(load(c, text, &err), code);
    CHECK_INT_EQ(err.code, code);
    CHECK_STR_EQ(msg(&err), message);
    CHECK_INT_EQ(t.port, 8080);
    cfg_free(c);
}

static char *show(const struct cfg *c)
{
    struct sbuf out = SBUF_INIT(64 << 10);

    cfg_show(c, &out);
    CHECK_INT_EQ(out.err, 0);
    return sbuf_take(&out, NULL);
}

/* ---------------------------------------------------------------- defaults */

TEST(cfg_add_fills_defaults)
{
    struct tcfg t;
    struct cfg *c = setup(&t);

    CHECK_INT_EQ(t.port, 8080);
    CHECK_INT_EQ(t.offset, -5);
    CHECK(t.debug == false);
    CHECK_STR_EQ(t.name, "slipway");
    CHECK_STR_EQ(t.root, ""); /* NULL default: an owned empty string, never NULL */
    CHECK_STR_EQ(t.token, "");
    CHECK_INT_EQ(t.timeout_ms, 30000);
    CHECK_INT_EQ(t.max_body, 8 << 20);
    cfg_free(c);
}

TEST(cfg_free_frees_and_clears_strings)
{
    struct tcfg t;
    struct cfg *c = setup(&t);
    struct err err = {0};

    CHECK_INT_EQ(load(c, "http.name = a\nhttp.token = b\n", &err), 0);
    CHECK_INT_EQ(cfg_set(c, "http.name", "c", CFG_SRC_ENV, &err), 0);
    CHECK_INT_EQ(cfg_set(c, "http.name", "d", CFG_SRC_FLAG, &err), 0);
    CHECK_STR_EQ(t.name, "d");
    cfg_free(c); /* LeakSanitizer checks the replaced strings at exit */
    CHECK(t.name == NULL);
    CHECK(t.root == NULL);
    CHECK(t.token == NULL);
}

/* ---------------------------------------------------------------- the file format */

TEST(cfg_file_sets_every_type)
{
    struct tcfg t;
    struct cfg *c = setup(&t);
    struct err err = {0};

    CHECK_INT_EQ(load(c,
                      "http.port = 9000\n"
                      "http.offset = -42\n"
                      "http.debug = yes\n"
                      "http.name = edge one\n"
                      "http.root = /srv/www\n"
                      "http.token = " SECRET_VALUE "\n"
                      "http.timeout = 5m\n"
                      "http.max_body_bytes = 16MiB\n",
                      &err),
                 0);
    CHECK_INT_EQ(t.port, 9000);
    CHECK_INT_EQ(t.offset, -42);
    CHECK(t.debug == true);
    CHECK_STR_EQ(t.name, "edge one");
    CHECK_STR_EQ(t.root, "/srv/www");
    CHECK_STR_EQ(t.token, SECRET_VALUE);
    CHECK_INT_EQ(t.timeout_ms, 300000);
    CHECK_INT_EQ(t.max_body, 16 << 20);
    cfg_free(c);
}

TEST(cfg_file_comments_blank_lines_and_whitespace)
{
    struct tcfg t;
    struct cfg *c = setup(&t);
    struct err err = {0};

    CHECK_INT_EQ(load(c,
                      "# a comment\n"
                      "\n"
                      "   \t\n"
                      "    # an indented comment\n"
                      "\thttp.port\t=\t9001   # after the value\n"
                      "http.name = a#b  # '#' inside a word is text\n"
                      "http.root =    # only a comment: empty value\n"
                      "http.debug=on\n"
                      "# http.timeout = 2h",
                      &err),
                 0);
    CHECK_INT_EQ(t.port, 9001);
    CHECK_STR_EQ(t.name, "a#b");
    CHECK_STR_EQ(t.root, "");
    CHECK(t.debug == true);
    CHECK_INT_EQ(t.timeout_ms, 30000);
    cfg_free(c);
}

TEST(cfg_file_quotes_and_escapes)
{
    struct tcfg t;
    struct cfg *c = setup(&t);
    struct err err = {0};

    CHECK_INT_EQ(load(c,
                      "http.name = \"  a \\\"b\\\" \\\\ c # not a comment  \"  # a comment\n"
                      "http.root = \"\"\n"
                      "http.port = \"9002\"\n"
                      "http.token = \"x=y\"\n",
                      &err),
                 0);
    CHECK_STR_EQ(t.name, "  a \"b\" \\ c # not a comment  ");
    CHECK_STR_EQ(t.root, "");
    CHECK_INT_EQ(t.port, 9002);
    CHECK_STR_EQ(t.token, "x=y");
    cfg_free(c);
}

TEST(cfg_file_crlf_line_endings)
{
    struct tcfg t;
    struct cfg *c = setup(&t);
    struct err err = {0};

    CHECK_INT_EQ(
        load(c, "# crlf\r\nhttp.port = 9003\r\n\r\nhttp.name = x\r\nhttp.root = \"q\"\r\n", &err),
        0);
    CHECK_INT_EQ(t.port, 9003);
    CHECK_STR_EQ(t.name, "x");
    CHECK_STR_EQ(t.root, "q");
    cfg_free(c);
}

TEST(cfg_file_bom_and_no_final_newline)
{
    struct tcfg t;
    struct cfg *c = setup(&t);
    struct err err = {0};

    CHECK_INT_EQ(load(c, "\xEF\xBB\xBFhttp.port = 9004\nhttp.name = last", &err), 0);
    CHECK_INT_EQ(t.port, 9004);
    CHECK_STR_EQ(t.name, "last");
    cfg_free(c);
}

TEST(cfg_bool_spellings)
{
    static const struct {
        const char *text;
        bool want;
    } cases[] = {{"true", true}, {"false", false}, {"yes", true}, {"no", false},  {"on", true},
                 {"off", false}, {"1", true},      {"0", false},  {"TRUE", true}, {"Off", false}};
    struct tcfg t;
    struct cfg *c = setup(&t);
    struct err err = {0};

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        t.debug = !cases[i].want;
        CHECK_INT_EQ(cfg_set(c, "http.debug", cases[i].text, CFG_SRC_FLAG, &err), 0);
        CHECK_INT_EQ(t.debug, cases[i].want);
    }
    cfg_free(c);
}

TEST(cfg_int_limits)
{
    struct tcfg t;
    struct cfg *c = setup(&t);
    struct err err = {0};

    CHECK_INT_EQ(cfg_set(c, "http.offset", "-100", CFG_SRC_FLAG, &err), 0);
    CHECK_INT_EQ(t.offset, -100);
    CHECK_INT_EQ(cfg_set(c, "http.offset", "-0", CFG_SRC_FLAG, &err), 0);
    CHECK_INT_EQ(t.offset, 0);
    CHECK_INT_EQ(cfg_set(c, "http.offset", "-101", CFG_SRC_FLAG, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "http.offset: must be between -100 and 100, got \"-101\"");
    CHECK_INT_EQ(cfg_set(c, "http.offset", "-9223372036854775809", CFG_SRC_FLAG, &err),
                 ERR_INVALID);
    CHECK_CONTAINS(err.msg, "must be between -100 and 100");
    CHECK_INT_EQ(cfg_set(c, "http.offset", "99999999999999999999999", CFG_SRC_FLAG, &err),
                 ERR_INVALID);
    CHECK_CONTAINS(err.msg, "must be between -100 and 100");
    CHECK_INT_EQ(cfg_set(c, "http.offset", "-", CFG_SRC_FLAG, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "http.offset: must be an integer, got \"-\"");
    CHECK_INT_EQ(cfg_set(c, "http.offset", "+5", CFG_SRC_FLAG, &err), ERR_INVALID);
    CHECK_INT_EQ(t.offset, 0);
    cfg_free(c);
}

/* ---------------------------------------------------------------- file errors */

TEST(cfg_file_bad_int)
{
    expect_error("\nhttp.port = 80a\n", ERR_INVALID,
                 "t.conf:2: http.port: must be an integer, got \"80a\"");
}

TEST(cfg_file_empty_int)
{
    expect_error("http.port =\n", ERR_INVALID, "t.conf:1: http.port: must be an integer, got \"\"");
}

TEST(cfg_file_int_out_of_range)
{
    expect_error("# port\nhttp.port = 70000\n", ERR_INVALID,
                 "t.conf:2: http.port: must be between 0 and 65535, got \"70000\"");
}

TEST(cfg_file_bad_bool)
{
    expect_error("http.debug = maybe\n", ERR_INVALID,
                 "t.conf:1: http.debug: must be true, false, yes, no, on, off, 1 or 0, got "
                 "\"maybe\"");
}

TEST(cfg_file_bad_duration)
{
    expect_error("http.timeout = 5 parsecs\n", ERR_INVALID,
                 "t.conf:1: http.timeout: must be a duration like 250ms, 30s, 5m, 2h or 1d, got "
                 "\"5 parsecs\"");
}

TEST(cfg_file_duration_out_of_range)
{
    expect_error("http.timeout = 2h\n", ERR_INVALID,
                 "t.conf:1: http.timeout: must be between 1s and 1h, got \"2h\"");
    expect_error("http.timeout = 999ms\n", ERR_INVALID,
                 "t.conf:1: http.timeout: must be between 1s and 1h, got \"999ms\"");
    expect_error("http.timeout = 400d\n", ERR_INVALID, /* past parse_duration_ms's year */
                 "t.conf:1: http.timeout: must be between 1s and 1h, got \"400d\"");
}

TEST(cfg_file_bad_size)
{
    expect_error("http.max_body_bytes = 8 megs\n", ERR_INVALID,
                 "t.conf:1: http.max_body_bytes: must be a size like 512, 64KiB, 8MiB or 1GiB, "
                 "got \"8 megs\"");
}

TEST(cfg_file_size_out_of_range)
{
    expect_error("http.max_body_bytes = 2GiB\n", ERR_INVALID,
                 "t.conf:1: http.max_body_bytes: must be between 1KiB and 1GiB, got \"2GiB\"");
}

TEST(cfg_file_long_bad_value_is_cut_in_the_message)
{
    expect_error("http.port = 1234567890123456789012345678901234567890123456789\n", ERR_INVALID,
                 "t.conf:1: http.port: must be between 0 and 65535, got "
                 "\"1234567890123456789012345678901234567890...\"");
}

TEST(cfg_file_unknown_key_suggests_closest)
{
    expect_error("http.port = 1\nhtp.port = 2\n", ERR_INVALID,
                 "t.conf:2: htp.port: unknown key; did you mean http.port?");
    expect_error("http.prot = 2\n", ERR_INVALID, /* two letters swapped: distance 2 */
                 "t.conf:1: http.prot: unknown key; did you mean http.port?");
    expect_error("htp.prot = 2\n", ERR_INVALID, "t.conf:1: htp.prot: unknown key");
    expect_error("HTTP.PORT = 1\n", ERR_INVALID,
                 "t.conf:1: HTTP.PORT: unknown key; did you mean http.port?");
}

TEST(cfg_file_unknown_key_without_near_match)
{
    expect_error("\n\n\ndatabase.url = x\n", ERR_INVALID, "t.conf:4: database.url: unknown key");
}

TEST(cfg_file_duplicate_key)
{
    expect_error("http.port = 1\nhttp.name = a\nhttp.port = 2\n", ERR_INVALID,
                 "t.conf:3: http.port: set twice (first on line 1)");
}

TEST(cfg_file_missing)
{
    struct tcfg t;
    struct cfg *c = setup(&t);
    struct err err = {0};

    CHECK_INT_EQ(cfg_load_file(c, "/nonexistent/slipway.conf", &err), ERR_NOTFOUND);
    CHECK_CONTAINS(err.msg, "/nonexistent/slipway.conf: ");
    cfg_free(c);
}

TEST(cfg_file_line_over_4kib)
{
    char text[5000];

    memcpy(text, "http.name = ", 12);
    memset(text + 12, 'x', 4085); /* 4097 bytes on the line */
    memcpy(text + 4097, "\n", 2);
    expect_error(text, ERR_LIMIT, "t.conf:1: line is over 4 KiB");
}

TEST(cfg_file_line_of_4kib_is_fine)
{
    struct tcfg t;
    struct cfg *c = setup(&t);
    struct err err = {0};
    char text[5000];

    memcpy(text, "http.name = ", 12);
    memset(text + 12, 'x', 4084); /* 4096 bytes, then CRLF */
    memcpy(text + 4096, "\r\n", 3);
    CHECK_INT_EQ(load(c, text, &err), 0);
    CHECK_INT_EQ(strlen(t.name), 4084);
    cfg_free(c);
}

TEST(cfg_file_over_1mib)
{
    struct tcfg t;
    struct cfg *c = setup(&t);
    struct err err = {0};
    size_t n = (1u << 20) + 1;
    char *text = malloc(n);
    const char *path;

    CHECK(text != NULL);
    memset(text, '\n', n);
    path = write_file_n("big.conf", text, n);
    CHECK_INT_EQ(cfg_load_file(c, path, &err), ERR_LIMIT);
    CHECK_CONTAINS(err.msg, "big.conf: file is over 1 MiB");
    path = write_file_n("big.conf", text, n - 1); /* exactly 1 MiB is fine */
    CHECK_INT_EQ(cfg_load_file(c, path, &err), 0);
    CHECK_INT_EQ(cfg_load_buffer(c, "buf", (struct slice){text, n}, &err), ERR_LIMIT);
    CHECK_STR_EQ(err.msg, "buf: file is over 1 MiB");
    CHECK_INT_EQ(cfg_load_buffer(c, "buf", (struct slice){text, n - 1}, &err), 0);
    free(text);
    cfg_free(c);
}

TEST(cfg_file_syntax_errors)
{
    expect_error("http.port 8080\n", ERR_INVALID, "t.conf:1: expected \"key = value\"");
    expect_error(" = 8080\n", ERR_INVALID, "t.conf:1: expected \"key = value\"");
    expect_error("http.name = \"abc\n", ERR_INVALID,
                 "t.conf:1: http.name: the quoted value has no closing quote");
    expect_error("http.name = \"a\\nb\"\n", ERR_INVALID,
                 "t.conf:1: http.name: a quoted value allows only the escapes \\\" and \\\\");
    expect_error("http.name = \"a\" b\n", ERR_INVALID,
                 "t.conf:1: http.name: unexpected text after the closing quote");
}

TEST(cfg_file_nul_byte)
{
    struct tcfg t;
    struct cfg *c = setup(&t);
    struct err err = {0};
    const char *path = write_file_n("nul.conf", "http.name = a\0b\n", 16);

    CHECK_INT_EQ(cfg_load_file(c, path, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "nul.conf:1: line contains a NUL byte");
    CHECK_STR_EQ(t.name, "slipway");
    cfg_free(c);
}

TEST(cfg_failed_file_changes_nothing)
{
    struct tcfg t;
    struct cfg *c = setup(&t);
    struct err err = {0};
    char *out;

    CHECK_INT_EQ(load(c, "http.port = 9005\nhttp.name = new\nhttp.debug = sure\n", &err),
                 ERR_INVALID);
    CHECK_INT_EQ(t.port, 8080);
    CHECK_STR_EQ(t.name, "slipway");
    out = show(c);
    CHECK(strstr(out, "(file)") == NULL);
    free(out);
    cfg_free(c);
}

TEST(cfg_errors_never_show_a_secret)
{
    static const char *const texts[] = {
        "http.token = \"" SECRET_VALUE "\n",
        "http.token = \"" SECRET_VALUE "\" trailing\n",
        "http.token = \"" SECRET_VALUE "\\q\"\n",
        "http.token " SECRET_VALUE "\n",
        "http.token = a\nhttp.token = " SECRET_VALUE "\n",
        "http.tokn = " SECRET_VALUE "\n",
    };

    for (size_t i = 0; i < ARRAY_LEN(texts); i++) {
        struct tcfg t;
        struct cfg *c = setup(&t);
        struct err err = {0};

        CHECK_INT_EQ(load(c, texts[i], &err), ERR_INVALID);
        CHECK(strstr(err.msg, "s3cr3t") == NULL);
        CHECK_CONTAINS(err.msg, "t.conf:");
        cfg_free(c);
    }
}

TEST(cfg_load_buffer_names_the_source)
{
    struct tcfg t;
    struct cfg *c = setup(&t);
    struct err err = {0};

    CHECK_INT_EQ(cfg_load_buffer(c, "inline", SLICE("http.name = 1\nhttp.port = x\n"), &err),
                 ERR_INVALID);
    CHECK_STR_EQ(err.msg, "inline:2: http.port: must be an integer, got \"x\"");
    CHECK_INT_EQ(cfg_load_buffer(c, "inline", SLICE_NULL, &err), 0);
    CHECK_INT_EQ(cfg_load_buffer(c, "inline", SLICE("http.port = 7"), &err), 0);
    CHECK_INT_EQ(t.port, 7);
    cfg_free(c);
}

/* ---------------------------------------------------------------- env and flags */

TEST(cfg_env_maps_key_names)
{
    char *env[] = {"PATH=/bin",
                   "SLIPWAY_HTTP_MAX_BODY_BYTES=16MiB",
                   "SLIPWAY_HTTP_PORTX=1",
                   "slipway_http_port=2",
                   "SLIPWAY_HTTP_TIMEOUT=90s",
                   "SLIPWAY_HTTP_ROOT=",
                   "SLIPWAY_HTTP_NAME=first",
                   "SLIPWAY_HTTP_NAME=second",
                   NULL};
    struct tcfg t;
    struct cfg *c = setup(&t);
    struct err err = {0};
    char *out;

    CHECK_INT_EQ(cfg_load_env(c, env, &err), 0);
    CHECK_INT_EQ(t.max_body, 16 << 20);
    CHECK_INT_EQ(t.timeout_ms, 90000);
    CHECK_INT_EQ(t.port, 8080);
    CHECK_STR_EQ(t.root, "");
    CHECK_STR_EQ(t.name, "first"); /* like getenv() */
    out = show(c);
    CHECK_CONTAINS(out, "http.root = \"\"  (env)\n");
    CHECK_CONTAINS(out, "http.port = 8080  (default)\n");
    free(out);
    CHECK_INT_EQ(cfg_load_env(c, NULL, &err), 0);
    cfg_free(c);
}

TEST(cfg_env_errors_name_the_variable)
{
    char *env[] = {"SLIPWAY_HTTP_PORT=9006", "SLIPWAY_HTTP_TIMEOUT=forever", NULL};
    struct tcfg t;
    struct cfg *c = setup(&t);
    struct err err = {0};

    CHECK_INT_EQ(cfg_load_env(c, env, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "SLIPWAY_HTTP_TIMEOUT: must be a duration like 250ms, 30s, 5m, 2h or "
                          "1d, got \"forever\"");
    CHECK_INT_EQ(t.port, 8080); /* nothing applied */
    cfg_free(c);
}

TEST(cfg_set_errors)
{
    struct tcfg t;
    struct cfg *c = setup(&t);
    struct err err = {0};

    CHECK_INT_EQ(cfg_set(c, "http.prt", "1", CFG_SRC_FLAG, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "http.prt: unknown key; did you mean http.port?");
    CHECK_INT_EQ(cfg_set(c, "nope", "1", CFG_SRC_FLAG, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "nope: unknown key");
    CHECK_INT_EQ(cfg_set(c, "http.port", "70000", CFG_SRC_FLAG, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "http.port: must be between 0 and 65535, got \"70000\"");
    CHECK_INT_EQ(cfg_set(c, "http.max_body_bytes", "2TiB", CFG_SRC_FLAG, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "http.max_body_bytes: must be between 1KiB and 1GiB, got \"2TiB\"");
    CHECK_INT_EQ(t.port, 8080);
    cfg_free(c);
}

/* ---------------------------------------------------------------- precedence */

static void check_precedence(const int *order)
{
    char *env[] = {"SLIPWAY_HTTP_PORT=2", "SLIPWAY_HTTP_NAME=env", "SLIPWAY_HTTP_DEBUG=1", NULL};
    struct tcfg t;
    struct cfg *c = setup(&t);
    struct err err = {0};
    char *out;

    for (int i = 0; i < 3; i++) {
        if (order[i] == CFG_SRC_FILE)
            CHECK_INT_EQ(load(c, "http.port = 1\nhttp.name = file\nhttp.root = file\n", &err), 0);
        else if (order[i] == CFG_SRC_ENV)
            CHECK_INT_EQ(cfg_load_env(c, env, &err), 0);
        else
            CHECK_INT_EQ(cfg_set(c, "http.port", "3", CFG_SRC_FLAG, &err), 0);
    }
    CHECK_INT_EQ(t.port, 3);
    CHECK_STR_EQ(t.name, "env");
    CHECK_STR_EQ(t.root, "file");
    CHECK(t.debug == true);
    out = show(c);
    CHECK_CONTAINS(out, "http.port = 3  (flag)\n");
    CHECK_CONTAINS(out, "http.name = \"env\"  (env)\n");
    CHECK_CONTAINS(out, "http.root = \"file\"  (file)\n");
    CHECK_CONTAINS(out, "http.debug = true  (env)\n");
    CHECK_CONTAINS(out, "http.timeout = 30s  (default)\n");
    free(out);
    cfg_free(c);
}

TEST(cfg_precedence_file_env_flag)
{
    check_precedence((const int[]){CFG_SRC_FILE, CFG_SRC_ENV, CFG_SRC_FLAG});
}

TEST(cfg_precedence_flag_env_file)
{
    check_precedence((const int[]){CFG_SRC_FLAG, CFG_SRC_ENV, CFG_SRC_FILE});
}

TEST(cfg_precedence_env_flag_file)
{
    check_precedence((const int[]){CFG_SRC_ENV, CFG_SRC_FLAG, CFG_SRC_FILE});
}

TEST(cfg_same_source_later_wins)
{
    struct tcfg t;
    struct cfg *c = setup(&t);
    struct err err = {0};

    CHECK_INT_EQ(cfg_set(c, "http.port", "1", CFG_SRC_FLAG, &err), 0);
    CHECK_INT_EQ(cfg_set(c, "http.port", "2", CFG_SRC_FLAG, &err), 0);
    CHECK_INT_EQ(t.port, 2);
    CHECK_INT_EQ(load(c, "http.name = one\n", &err), 0);
    CHECK_INT_EQ(load(c, "http.name = two\n", &err), 0);
    CHECK_STR_EQ(t.name, "two");
    cfg_free(c);
}

TEST(cfg_overridden_value_is_still_checked)
{
    char *env[] = {"SLIPWAY_HTTP_PORT=99999", NULL};
    struct tcfg t;
    struct cfg *c = setup(&t);
    struct err err = {0};

    CHECK_INT_EQ(cfg_set(c, "http.port", "3", CFG_SRC_FLAG, &err), 0);
    CHECK_INT_EQ(cfg_load_env(c, env, &err), ERR_INVALID);
    CHECK_INT_EQ(load(c, "http.port = x\n", &err), ERR_INVALID);
    CHECK_INT_EQ(cfg_set(c, "http.name", "x", CFG_SRC_FLAG, &err), 0);
    CHECK_INT_EQ(cfg_set(c, "http.name", "y", CFG_SRC_ENV, &err), 0); /* ignored */
    CHECK_INT_EQ(t.port, 3);
    CHECK_STR_EQ(t.name, "x");
    cfg_free(c);
}

/* ---------------------------------------------------------------- show and doc */

TEST(cfg_show_defaults)
{
    struct tcfg t;
    struct cfg *c = setup(&t);
    char *out = show(c);

    CHECK_STR_EQ(out, "http.debug = false  (default)\n"
                      "http.max_body_bytes = 8MiB  (default)\n"
                      "http.name = \"slipway\"  (default)\n"
                      "http.offset = -5  (default)\n"
                      "http.port = 8080  (default)\n"
                      "http.root = \"\"  (default)\n"
                      "http.timeout = 30s  (default)\n"
                      "http.token = \"\"  (default)\n");
    free(out);
    cfg_free(c);
}

TEST(cfg_show_redacts_secrets)
{
    char *env[] = {"SLIPWAY_HTTP_TOKEN=" SECRET_VALUE, NULL};
    struct tcfg t;
    struct cfg *c = setup(&t);
    struct err err = {0};
    struct sbuf doc = SBUF_INIT(64 << 10);
    char *out;

    CHECK_INT_EQ(cfg_load_env(c, env, &err), 0);
    CHECK_STR_EQ(t.token, SECRET_VALUE);
    out = show(c);
    CHECK_CONTAINS(out, "http.token = ***  (env)\n");
    CHECK(strstr(out, "s3cr3t") == NULL);
    free(out);
    cfg_doc(c, &doc);
    CHECK(strstr(doc.buf, "s3cr3t") == NULL);
    sbuf_release(&doc);
    cfg_free(c);
}

TEST(cfg_show_quotes_strings_so_they_parse_back)
{
    struct tcfg t, t2;
    struct cfg *c = setup(&t), *c2 = setup(&t2);
    struct err err = {0};
    char *out, *line, text[256];

    CHECK_INT_EQ(cfg_set(c, "http.name", "say \"hi\" \\ # ok", CFG_SRC_FLAG, &err), 0);
    out = show(c);
    CHECK_CONTAINS(out, "http.name = \"say \\\"hi\\\" \\\\ # ok\"  (flag)\n");
    line = strstr(out, "http.name = ");
    *strstr(line, "  (flag)") = '\0';
    snprintf(text, sizeof(text), "%s\n", line);
    CHECK_INT_EQ(load(c2, text, &err), 0);
    CHECK_STR_EQ(t2.name, t.name);
    free(out);
    cfg_free(c);
    cfg_free(c2);
}

/* cfg_set <key> to <value>, expect <shown> in cfg_show, and <shown> to set the same again. */
static void check_unit(const char *key, const char *value, const char *shown)
{
    struct tcfg t;
    struct cfg *c = setup(&t);
    struct err err = {0};
    char want[128], *out;
    int64_t first;

    CHECK_INT_EQ(cfg_set(c, key, value, CFG_SRC_FLAG, &err), 0);
    first = strcmp(key, "http.timeout") == 0 ? t.timeout_ms : t.max_body;
    out = show(c);
    snprintf(want, sizeof(want), "%s = %s  (flag)\n", key, shown);
    CHECK_CONTAINS(out, want);
    free(out);
    CHECK_INT_EQ(cfg_set(c, key, shown, CFG_SRC_FLAG, &err), 0);
    CHECK_INT_EQ(strcmp(key, "http.timeout") == 0 ? t.timeout_ms : t.max_body, first);
    cfg_free(c);
}

TEST(cfg_show_durations_and_sizes_in_units)
{
    check_unit("http.timeout", "30", "30s");
    check_unit("http.timeout", "60s", "1m");
    check_unit("http.timeout", "90s", "90s");
    check_unit("http.timeout", "3600000ms", "1h");
    check_unit("http.timeout", "1500ms", "1500ms");
    check_unit("http.max_body_bytes", "8388608", "8MiB");
    check_unit("http.max_body_bytes", "1GiB", "1GiB");
    check_unit("http.max_body_bytes", "1536KiB", "1536KiB");
    check_unit("http.max_body_bytes", "5MB", "5MB");
    check_unit("http.max_body_bytes", "2000", "2kB");
    check_unit("http.max_body_bytes", "1025", "1025");
}

TEST(cfg_doc_lists_every_key)
{
    struct tcfg t;
    struct cfg *c = setup(&t);
    struct sbuf out = SBUF_INIT(64 << 10);

    cfg_doc(c, &out);
    CHECK_INT_EQ(out.err, 0);
    CHECK_CONTAINS(out.buf, "http.port (int, default 8080, range 0..65535, reloadable)\n"
                            "    TCP port to listen on.\n");
    CHECK_CONTAINS(out.buf, "http.offset (int, default -5, range -100..100)\n"
                            "    A signed number.\n");
    CHECK_CONTAINS(out.buf, "http.debug (bool, default false)\n    Log every request.\n");
    CHECK_CONTAINS(out.buf, "http.name (string, default \"slipway\")\n    Server name.\n");
    CHECK_CONTAINS(out.buf, "http.token (secret, default \"\")\n    Admin token.\n");
    CHECK_CONTAINS(out.buf, "http.timeout (duration, default 30s, range 1s..1h, reloadable)\n"
                            "    Idle timeout.\n");
    CHECK_CONTAINS(out.buf, "http.max_body_bytes (size, default 8MiB, range 1KiB..1GiB)\n"
                            "    Largest request body.\n");
    CHECK(strstr(out.buf, "http.debug") < strstr(out.buf, "http.port")); /* sorted */
    sbuf_release(&out);
    cfg_free(c);
}

/* Two sections: keys of both are found and listed in one sorted order. */
struct tcfg2 {
    int64_t workers;
    int64_t parallel;
};
static const struct cfg_key tkeys2[] = {
    CFG_INT("builder.workers", struct tcfg2, workers, 4, 1, 256, 0, "Build workers."),
    CFG_INT("builder.max-parallel", struct tcfg2, parallel, 2, 1, 64, 0, "Parallel builds."),
};

TEST(cfg_two_sections)
{
    struct tcfg t;
    struct tcfg2 t2;
    char *env[] = {"SLIPWAY_BUILDER_MAX_PARALLEL=16", NULL};
    struct cfg *c = setup(&t);
    struct err err = {0};
    char *out;

    cfg_add(c, &(struct cfg_section){"builder", tkeys2, ARRAY_LEN(tkeys2), &t2});
    CHECK_INT_EQ(t2.workers, 4);
    CHECK_INT_EQ(load(c, "builder.workers = 8\nhttp.port = 1\n", &err), 0);
    CHECK_INT_EQ(t2.workers, 8);
    CHECK_INT_EQ(t.port, 1);
    CHECK_INT_EQ(cfg_load_env(c, env, &err), 0); /* dashes become underscores too */
    CHECK_INT_EQ(t2.parallel, 16);
    out = show(c);
    CHECK_CONTAINS(out, "builder.max-parallel = 16  (env)\nbuilder.workers = 8  (file)\n");
    CHECK(strstr(out, "builder.workers") < strstr(out, "http.debug")); /* one sorted list */
    free(out);
    cfg_free(c);
}
