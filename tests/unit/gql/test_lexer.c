#include "../test.h"
#include "base/base.h"
#include "gql/gql-int.h"

static const char *const kind_names[] = {
    "EOF", "!", "$", "&", "(", ")",    "...", ":",     "=",      "@",
    "[",   "]", "{", "|", "}", "Name", "Int", "Float", "String", "Block",
};

/* Lexes <src> whole; *out gets "Kind:text Kind:text …" (punctuators as themselves). */
static int lex_all(struct arena *a, const char *src, size_t len, struct sbuf *out, struct err *err)
{
    struct gql_lexer lx;

    gql_lexer_init(&lx, a, (struct slice){src, len}, 1000, err, NULL);
    for (;;) {
        if (gql_lexer_next(&lx) != 0)
            return lx.rc;
        if (lx.tok.kind == GQL_T_EOF)
            return 0;
        if (out->len > 0)
            sbuf_putc(out, ' ');
        sbuf_puts(out, kind_names[lx.tok.kind]);
        if (lx.tok.kind >= GQL_T_NAME) {
            sbuf_putc(out, ':');
            sbuf_put_slice(out, lx.tok.text);
        }
    }
}

/* Checks that <src> lexes to <want>. */
static void lex_ok(const char *src, const char *want)
{
    struct arena *a = arena_new(NULL);
    struct sbuf out = SBUF_INIT(1 << 16);
    struct err err = {0};

    OK(lex_all(a, src, strlen(src), &out, &err));
    CHECK_STR_EQ(out.buf, want);
    sbuf_release(&out);
    arena_free(a);
}

/* Checks that <src> fails with exactly <msg> ("line:col: …"). */
static void lex_fails(const char *src, size_t len, const char *msg)
{
    struct arena *a = arena_new(NULL);
    struct sbuf out = SBUF_INIT(1 << 16);
    struct err err = {0};
    int rc = lex_all(a, src, len, &out, &err);

    if (rc != ERR_INVALID)
        test_fail(__FILE__, __LINE__, "\"%s\" lexed to \"%s\" (rc %d), expected \"%s\"", src,
                  out.buf, rc, msg);
    CHECK_STR_EQ(err.msg, msg);
    sbuf_release(&out);
    arena_free(a);
}
#define LEX_FAILS(src, msg) lex_fails((src), sizeof(src) - 1, (msg))

/* A string token's decoded bytes. */
static void lex_string_is(const char *src, const char *want, size_t want_len)
{
    struct arena *a = arena_new(NULL);
    struct err err = {0};
    struct gql_lexer lx;

    gql_lexer_init(&lx, a, slice_from_cstr(src), 10, &err, NULL);
    OK(gql_lexer_next(&lx));
    CHECK(lx.tok.kind == GQL_T_STRING || lx.tok.kind == GQL_T_BLOCK_STRING);
    CHECK_MEM_EQ(lx.tok.text.ptr, lx.tok.text.len, want, want_len);
    CHECK_INT_EQ(lx.tok.text.ptr[lx.tok.text.len], '\0');
    OK(gql_lexer_next(&lx));
    CHECK_INT_EQ(lx.tok.kind, GQL_T_EOF);
    arena_free(a);
}
#define STRING_IS(src, want) lex_string_is((src), (want), sizeof(want) - 1)

TEST(lexer_punctuators)
{
    lex_ok("! $ & ( ) ... : = @ [ ] { | }", "! $ & ( ) ... : = @ [ ] { | }");
    lex_ok("!$&()...:=@[]{|}", "! $ & ( ) ... : = @ [ ] { | }");
    lex_ok("......", "... ...");
}

TEST(lexer_names_and_ignored_tokens)
{
    lex_ok("_a B9 __typename x_1", "Name:_a Name:B9 Name:__typename Name:x_1");
    lex_ok("\xef\xbb\xbf a,,b\t\tc\r\nd\re\n# comment é\n  f # trailing",
           "Name:a Name:b Name:c Name:d Name:e Name:f");
    lex_ok("", "");
    lex_ok("  ,,, # only a comment", "");
}

TEST(lexer_numbers)
{
    lex_ok("0 -0 7 12 -12 1234567890", "Int:0 Int:-0 Int:7 Int:12 Int:-12 Int:1234567890");
    lex_ok("0.0 -0.0 1.5 1e10 1E+2 1.5e-3 -1.123E4 0e0",
           "Float:0.0 Float:-0.0 Float:1.5 Float:1e10 Float:1E+2 Float:1.5e-3 Float:-1.123E4 "
           "Float:0e0");
    lex_ok("[1,2]-3)", "[ Int:1 Int:2 ] Int:-3 )");
    lex_ok("1 ...", "Int:1 ...");
}

TEST(lexer_number_errors)
{
    LEX_FAILS("00", "1:2: invalid number: leading zero followed by \"0\"");
    LEX_FAILS("-01", "1:3: invalid number: leading zero followed by \"1\"");
    LEX_FAILS("1.", "1:3: invalid number: expected a digit after \".\", found <EOF>");
    LEX_FAILS("1.e5", "1:3: invalid number: expected a digit after \".\", found \"e\"");
    LEX_FAILS("0x1", "1:2: invalid number: unexpected \"x\"");
    LEX_FAILS("12a", "1:3: invalid number: unexpected \"a\"");
    LEX_FAILS("1_", "1:2: invalid number: unexpected \"_\"");
    LEX_FAILS("1.5.3", "1:4: invalid number: unexpected \".\"");
    LEX_FAILS("1e", "1:3: invalid number: expected a digit in the exponent, found <EOF>");
    LEX_FAILS("1e+x", "1:4: invalid number: expected a digit in the exponent, found \"x\"");
    LEX_FAILS("1e5e", "1:4: invalid number: unexpected \"e\"");
    LEX_FAILS(" -", "1:3: invalid number: expected a digit after \"-\", found <EOF>");
    LEX_FAILS("-a", "1:2: invalid number: expected a digit after \"-\", found \"a\"");
    LEX_FAILS("1...", "1:3: invalid number: expected a digit after \".\", found \".\"");
    LEX_FAILS(".5", "1:1: unexpected character \".\"");
    LEX_FAILS("a ..", "1:3: unexpected character \".\"");
}

TEST(lexer_strings)
{
    STRING_IS("\"\"", "");
    STRING_IS("\"simple\"", "simple");
    STRING_IS("\" white space \"", " white space ");
    STRING_IS("\"quote \\\" \\\\ \\/ \\b \\f \\n \\r \\t\"", "quote \" \\ / \b \f \n \r \t");
    STRING_IS("\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac");
    STRING_IS("\"\\u{1F600}\\u{41}\\u{0000041}\"", "\xf0\x9f\x98\x80"
                                                   "AA");
    STRING_IS("\"\\uD83D\\uDE00\"", "\xf0\x9f\x98\x80"); /* surrogate pair combined */
    STRING_IS("\"\\u{10FFFF}\"", "\xf4\x8f\xbf\xbf");
    STRING_IS("\"nul \\u0000 byte\"", "nul \0 byte");
    STRING_IS("\"unicode \xc3\xa9 \xf0\x9f\x98\x80\"", "unicode \xc3\xa9 \xf0\x9f\x98\x80");
    STRING_IS("\"tab\tinside\"", "tab\tinside");
}

TEST(lexer_string_errors)
{
    LEX_FAILS("\"abc", "1:5: unterminated string");
    LEX_FAILS("{ f(a: \"abc\n\")", "1:12: unterminated string");
    LEX_FAILS("\"a\\", "1:4: unterminated string");
    LEX_FAILS("\"a\\qb\"", "1:3: invalid escape sequence: \\ followed by \"q\"");
    LEX_FAILS("\"\\uD83D\"", "1:2: invalid Unicode escape sequence: lone surrogate");
    LEX_FAILS("\"\\uD83Dx\\uDE00\"", "1:2: invalid Unicode escape sequence: lone surrogate");
    LEX_FAILS("\"ok \\uDE00\"", "1:5: invalid Unicode escape sequence: lone surrogate");
    LEX_FAILS("\"\\u{D800}\"", "1:2: invalid Unicode escape sequence");
    LEX_FAILS("\"\\u{110000}\"", "1:2: invalid Unicode escape sequence");
    LEX_FAILS("\"\\u{}\"", "1:2: invalid Unicode escape sequence");
    LEX_FAILS("\"\\u{41\"", "1:2: invalid Unicode escape sequence");
    LEX_FAILS("\"\\u12\"", "1:2: invalid Unicode escape sequence");
    LEX_FAILS("\"\\u12G4\"", "1:2: invalid Unicode escape sequence");
    LEX_FAILS("\"bad \xff\"", "1:6: invalid UTF-8: byte 0xFF (not UTF-8)");
    LEX_FAILS("\"over \xc0\xaf\"", "1:7: invalid UTF-8: byte 0xC0 (not UTF-8)");
    LEX_FAILS("\"surrogate \xed\xa0\x80\"", "1:12: invalid UTF-8: byte 0xED (not UTF-8)");
}

TEST(lexer_block_strings)
{
    /* the spec's example: common indent and blank first and last lines go */
    STRING_IS("\"\"\"\n    Hello,\n      World!\n\n    Yours,\n      GraphQL.\n  \"\"\"",
              "Hello,\n  World!\n\nYours,\n  GraphQL.");
    /* the first line keeps its indent and does not count towards the common one */
    STRING_IS("\"\"\"  first\n    second\n      third\"\"\"", "  first\nsecond\n  third");
    STRING_IS("\"\"\"\"\"\"", "");
    STRING_IS("\"\"\"   \n  \t \n\"\"\"", "");
    STRING_IS("\"\"\"contains \\\"\"\" and \\n and \\u0041\"\"\"",
              "contains \"\"\" and \\n and \\u0041");
    STRING_IS("\"\"\"\r\n  a\r\n    b\r  c\r\n\"\"\"", "a\n  b\nc");
    STRING_IS("\"\"\"\n\ta\n\t\tb\n\"\"\"", "a\n\tb");
    STRING_IS("\"\"\"\n  a\n \n  b\n\"\"\"", "a\n\nb"); /* a short blank line does not count */
    STRING_IS("\"\"\"x \"\" y \"\"\"", "x \"\" y ");
    STRING_IS("\"\"\"  \n\n    a\n  \n\"\"\"", "a");
}

TEST(lexer_block_string_errors)
{
    LEX_FAILS("\"\"\"abc\ndef", "2:4: unterminated block string");
    LEX_FAILS("\"\"\"abc\"\"", "1:9: unterminated block string");
    LEX_FAILS("\"\"\"\n\n  \x80\"\"\"", "3:3: invalid UTF-8: byte 0x80 (not UTF-8)");
}

TEST(lexer_unexpected_characters)
{
    LEX_FAILS("a ? b", "1:3: unexpected character \"?\"");
    LEX_FAILS("a\n  \x07", "2:3: unexpected character U+0007");
    LEX_FAILS("\xc3\xa9t\xc3\xa9", "1:1: unexpected character U+00E9");
    LEX_FAILS("ab \xff", "1:4: unexpected character byte 0xFF (not UTF-8)");
    LEX_FAILS("a # ok\n# bad \xfe\n", "2:7: invalid UTF-8: byte 0xFE (not UTF-8)");
    LEX_FAILS("x'y'", "1:2: unexpected character \"'\"");
    lex_fails("a\0b", 3, "1:2: unexpected character U+0000");
}

TEST(lexer_locations_count_lines_and_code_points)
{
    const char *src =
        "{\n  f(s: \"\xc3\xa9\xc3\xa9\") # \xf0\x9f\x98\x80\r\n\tg \"\"\"\nx\n\"\"\" h\rk";
    static const struct gql_loc want[] = {{1, 1},  {2, 3}, {2, 4}, {2, 5}, {2, 6}, {2, 8},
                                          {2, 12}, {3, 2}, {3, 4}, {5, 5}, {6, 1}};
    struct arena *a = arena_new(NULL);
    struct err err = {0};
    struct gql_lexer lx;

    gql_lexer_init(&lx, a, slice_from_cstr(src), 100, &err, NULL);
    for (size_t i = 0; i < ARRAY_LEN(want); i++) {
        OK(gql_lexer_next(&lx));
        if (lx.tok.loc.line != want[i].line || lx.tok.loc.column != want[i].column)
            test_fail(__FILE__, __LINE__, "token %zu at %u:%u, expected %u:%u", i, lx.tok.loc.line,
                      lx.tok.loc.column, want[i].line, want[i].column);
    }
    OK(gql_lexer_next(&lx));
    CHECK_INT_EQ(lx.tok.kind, GQL_T_EOF);
    arena_free(a);
}

TEST(lexer_counts_tokens_and_errors_are_sticky)
{
    struct arena *a = arena_new(NULL);
    struct err err = {0};
    struct gql_error_loc where = {0, 0};
    struct gql_lexer lx;

    gql_lexer_init(&lx, a, SLICE("a b c\n d"), 3, &err, &where);
    OK(gql_lexer_next(&lx));
    OK(gql_lexer_next(&lx));
    OK(gql_lexer_next(&lx));
    CHECK_INT_EQ(gql_lexer_next(&lx), ERR_LIMIT);
    CHECK_STR_EQ(err.msg, "2:2: document has more than 3 tokens (max_tokens)");
    CHECK_UINT_EQ(where.line, 2);
    CHECK_UINT_EQ(where.column, 2);
    CHECK_INT_EQ(gql_lexer_next(&lx), ERR_LIMIT); /* sticky */
    CHECK_INT_EQ(lx.tok.kind, GQL_T_EOF);
    arena_free(a);
}

TEST(lexer_string_runs_out_of_arena)
{
    struct arena *a = arena_new(&(struct arena_opts){.chunk = 1024, .budget = 64});
    struct err err = {0};
    struct gql_lexer lx;
    char src[300];

    memset(src, 'x', sizeof(src));
    src[0] = src[sizeof(src) - 1] = '"';
    gql_lexer_init(&lx, a, (struct slice){src, sizeof(src)}, 10, &err, NULL);
    CHECK_INT_EQ(gql_lexer_next(&lx), ERR_LIMIT);
    CHECK_CONTAINS(err.msg, "more memory than allowed");
    arena_free(a);
}
