/* JSON: the limited request reader, field accessors, the streaming writer and json_escape. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

#include "base/base.h"
#include "../test.h"

static int read_obj(const char *body, size_t max_bytes, int max_depth, json_t **out,
                    struct err *err)
{
    return json_read_object(slice_from_cstr(body), max_bytes, max_depth, out, err);
}

/* Parses <b>'s contents with jansson (any top-level value); fails the test when invalid. */
static json_t *parse_back(const struct sbuf *b)
{
    json_error_t jerr;
    json_t *v;

    CHECK_INT_EQ(b->err, 0);
    v = json_loadb(b->buf, b->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (v == NULL)
        test_fail(__FILE__, __LINE__, "not JSON (%s at %d:%d): %s", jerr.text, jerr.line,
                  jerr.column, b->buf);
    return v;
}

/* ------------------------------------------------------------ json_read_object */

TEST(json_read_object_ok)
{
    struct err err = {0};
    json_t *obj = NULL;

    CHECK_INT_EQ(read_obj("{\"a\":1,\"b\":[1,{\"c\":null}]}", 1024, 8, &obj, &err), 0);
    CHECK(obj != NULL);
    CHECK(json_is_object(obj));
    CHECK_INT_EQ(json_integer_value(json_object_get(obj, "a")), 1);
    json_decref(obj);
}

TEST(json_read_object_size_limit)
{
    const char *body = "{\"name\":\"abcdef\"}"; /* 17 bytes */
    struct err err = {0};
    json_t *obj = NULL;

    CHECK_INT_EQ(read_obj(body, 16, 8, &obj, &err), ERR_INVALID);
    CHECK(obj == NULL);
    CHECK_CONTAINS(err.msg, "body");
    CHECK_CONTAINS(err.msg, "16 bytes");
    CHECK_INT_EQ(read_obj(body, 17, 8, &obj, &err), 0); /* exactly the limit is fine */
    json_decref(obj);
}

TEST(json_read_object_empty_body)
{
    struct err err = {0};
    json_t *obj = NULL;

    CHECK_INT_EQ(read_obj("", 100, 8, &obj, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "empty");
    CHECK_INT_EQ(json_read_object(SLICE_NULL, 100, 8, &obj, &err), ERR_INVALID);
    CHECK(obj == NULL);
}

TEST(json_read_object_depth_limit)
{
    struct err err = {0};
    json_t *obj = NULL;

    /* The object is level 1, each array one more. */
    CHECK_INT_EQ(read_obj("{\"a\":[[[]]]}", 100, 4, &obj, &err), 0);
    json_decref(obj);
    obj = NULL;
    CHECK_INT_EQ(read_obj("{\"a\":[[[]]]}", 100, 3, &obj, &err), ERR_INVALID);
    CHECK(obj == NULL);
    CHECK_CONTAINS(err.msg, "nested deeper than 3");
    CHECK_INT_EQ(read_obj("{\"a\":{\"b\":{}}}", 100, 2, &obj, &err), ERR_INVALID);
    /* Siblings do not add up. */
    CHECK_INT_EQ(read_obj("{\"a\":[],\"b\":[],\"c\":[[]]}", 100, 3, &obj, &err), 0);
    json_decref(obj);
}

TEST(json_read_object_depth_of_many_arrays)
{
    struct sbuf b = SBUF_INIT(1 << 16);
    struct err err = {0};
    json_t *obj = NULL;

    sbuf_puts(&b, "{\"a\":");
    for (int i = 0; i < 1000; i++)
        sbuf_putc(&b, '[');
    for (int i = 0; i < 1000; i++)
        sbuf_putc(&b, ']');
    sbuf_putc(&b, '}');
    CHECK_INT_EQ(json_read_object(sbuf_slice(&b), b.len, 32, &obj, &err), ERR_INVALID);
    CHECK(obj == NULL);
    CHECK_INT_EQ(json_read_object(sbuf_slice(&b), b.len, 1001, &obj, &err), 0);
    json_decref(obj);
    sbuf_release(&b);
}

TEST(json_read_object_brackets_in_strings_do_not_count)
{
    struct err err = {0};
    json_t *obj = NULL;

    CHECK_INT_EQ(read_obj("{\"a\":\"[[[[{{{{\"}", 100, 1, &obj, &err), 0);
    json_decref(obj);
    obj = NULL;
    CHECK_INT_EQ(read_obj("{\"a\":\"\\\"[[[[\\\\\",\"[[\":1}", 100, 1, &obj, &err), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(obj, "a")), "\"[[[[\\");
    json_decref(obj);
}

TEST(json_read_object_rejects_non_objects)
{
    static const char *const bodies[] = {"[1,2]", "\"str\"", "1", "null", "true", "[]"};
    struct err err = {0};
    json_t *obj = NULL;

    for (size_t i = 0; i < ARRAY_LEN(bodies); i++) {
        err = (struct err){0};
        CHECK_INT_EQ(read_obj(bodies[i], 100, 8, &obj, &err), ERR_INVALID);
        CHECK(obj == NULL);
        CHECK(strncmp(err.msg, "body: ", 6) == 0);
    }
    CHECK_INT_EQ(read_obj("[{}]", 100, 8, &obj, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "body: expected a JSON object");
}

TEST(json_read_object_rejects_duplicate_keys)
{
    struct err err = {0};
    json_t *obj = NULL;

    CHECK_INT_EQ(read_obj("{\"a\":1,\"a\":2}", 100, 8, &obj, &err), ERR_INVALID);
    CHECK(obj == NULL);
    CHECK_CONTAINS(err.msg, "duplicate");
    CHECK_INT_EQ(read_obj("{\"x\":{\"a\":1,\"a\":1}}", 100, 8, &obj, &err), ERR_INVALID);
}

TEST(json_read_object_invalid_names_line_and_column)
{
    struct err err = {0};
    json_t *obj = NULL;

    CHECK_INT_EQ(read_obj("{\"a\":tru}", 100, 8, &obj, &err), ERR_INVALID);
    CHECK(obj == NULL);
    CHECK_CONTAINS(err.msg, "body: invalid JSON at line 1, column ");
    CHECK_INT_EQ(read_obj("{\n  \"a\": 1,\n  \"b\": ?\n}", 100, 8, &obj, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "invalid JSON at line 3, column 8");
    CHECK_INT_EQ(read_obj("{} x", 100, 8, &obj, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "line 1");
    CHECK_INT_EQ(read_obj("{\"a\":1", 100, 8, &obj, &err), ERR_INVALID);
    CHECK_INT_EQ(read_obj("{\"a\":\"\xff\"}", 100, 8, &obj, &err), ERR_INVALID);
    CHECK_INT_EQ(read_obj("{\"a\":9223372036854775808}", 100, 8, &obj, &err), ERR_INVALID);
}

TEST(json_read_object_nul_inside_strings)
{
    static const char body[] = "{\"a\":\"x\\u0000y\"}";
    struct err err = {0};
    json_t *obj = NULL;
    struct slice s;

    CHECK_INT_EQ(json_read_object(SLICE(body), 100, 8, &obj, &err), 0);
    CHECK_INT_EQ(json_get_str(obj, "a", true, &s, &err), 0);
    CHECK_MEM_EQ(s.ptr, s.len, "x\0y", 3);
    json_decref(obj);
    /* A raw NUL byte in the body is not JSON. */
    CHECK_INT_EQ(json_read_object((struct slice){"{}\0", 3}, 100, 8, &obj, &err), ERR_INVALID);
}

/* ------------------------------------------------------------ json_get_* */

static json_t *fixture(void)
{
    struct err err = {0};
    json_t *obj = NULL;

    CHECK_INT_EQ(read_obj("{\"name\":\"web\",\"n\":5,\"big\":-9223372036854775808,\"f\":1.5,"
                          "\"on\":true,\"off\":false,\"nil\":null,\"arr\":[]}",
                          1024, 8, &obj, &err),
                 0);
    return obj;
}

TEST(json_get_str_cases)
{
    json_t *obj = fixture();
    struct err err = {0};
    struct slice s = SLICE("untouched");

    CHECK_INT_EQ(json_get_str(obj, "name", true, &s, &err), 0);
    CHECK(slice_eq_cstr(s, "web"));

    s = SLICE("untouched");
    CHECK_INT_EQ(json_get_str(obj, "missing", false, &s, &err), 0);
    CHECK(slice_eq_cstr(s, "untouched"));
    CHECK_INT_EQ(json_get_str(obj, "nil", false, &s, &err), 0);
    CHECK(slice_eq_cstr(s, "untouched"));

    CHECK_INT_EQ(json_get_str(obj, "missing", true, &s, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "missing: required");
    CHECK_INT_EQ(json_get_str(obj, "nil", true, &s, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "nil: required");
    CHECK_INT_EQ(json_get_str(obj, "n", true, &s, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "n: must be a string");
    CHECK_INT_EQ(json_get_str(obj, "arr", false, &s, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "arr: must be a string");
    CHECK(slice_eq_cstr(s, "untouched"));
    json_decref(obj);
}

TEST(json_get_int_cases)
{
    json_t *obj = fixture();
    struct err err = {0};
    int64_t v = 77;

    CHECK_INT_EQ(json_get_int(obj, "n", true, 0, 10, &v, &err), 0);
    CHECK_INT_EQ(v, 5);
    CHECK_INT_EQ(json_get_int(obj, "n", true, 5, 5, &v, &err), 0); /* bounds are inclusive */
    CHECK_INT_EQ(json_get_int(obj, "big", true, INT64_MIN, INT64_MAX, &v, &err), 0);
    CHECK_INT_EQ(v, INT64_MIN);

    v = 77;
    CHECK_INT_EQ(json_get_int(obj, "n", true, 6, 10, &v, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "n: must be between 6 and 10");
    CHECK_INT_EQ(json_get_int(obj, "n", true, -10, 4, &v, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "n: must be between -10 and 4");
    CHECK_INT_EQ(json_get_int(obj, "f", true, 0, 10, &v, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "f: must be an integer");
    CHECK_INT_EQ(json_get_int(obj, "name", false, 0, 10, &v, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "name: must be an integer");
    CHECK_INT_EQ(json_get_int(obj, "on", false, 0, 10, &v, &err), ERR_INVALID);
    CHECK_INT_EQ(json_get_int(obj, "missing", true, 0, 10, &v, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "missing: required");
    CHECK_INT_EQ(json_get_int(obj, "missing", false, 0, 10, &v, &err), 0);
    CHECK_INT_EQ(json_get_int(obj, "nil", false, 0, 10, &v, &err), 0);
    CHECK_INT_EQ(v, 77);
    json_decref(obj);
}

TEST(json_get_bool_cases)
{
    json_t *obj = fixture();
    struct err err = {0};
    bool b = false;

    CHECK_INT_EQ(json_get_bool(obj, "on", true, &b, &err), 0);
    CHECK(b);
    CHECK_INT_EQ(json_get_bool(obj, "off", true, &b, &err), 0);
    CHECK(!b);
    b = true;
    CHECK_INT_EQ(json_get_bool(obj, "nil", false, &b, &err), 0);
    CHECK(b);
    CHECK_INT_EQ(json_get_bool(obj, "n", true, &b, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "n: must be true or false");
    CHECK_INT_EQ(json_get_bool(obj, "name", true, &b, &err), ERR_INVALID);
    CHECK_INT_EQ(json_get_bool(obj, "missing", true, &b, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "missing: required");
    CHECK(b);
    json_decref(obj);
}

TEST(json_get_with_null_err)
{
    json_t *obj = fixture();
    struct slice s;

    CHECK_INT_EQ(json_get_str(obj, "missing", true, &s, NULL), ERR_INVALID);
    json_decref(obj);
}

/* ------------------------------------------------------------ jw */

TEST(jw_nested_objects_and_arrays_parse_back)
{
    struct sbuf b = SBUF_INIT(4096);
    struct jw w;
    json_t *v, *arr, *inner;

    jw_init(&w, &b);
    jw_obj_begin(&w);
    jw_key(&w, "a");
    jw_int(&w, -7);
    jw_key(&w, "list");
    jw_arr_begin(&w);
    jw_bool(&w, true);
    jw_bool(&w, false);
    jw_null(&w);
    jw_str(&w, "s\"q");
    jw_obj_begin(&w);
    jw_key(&w, "x");
    jw_uint(&w, 9007199254740993u);
    jw_key(&w, "empty_obj");
    jw_obj_begin(&w);
    jw_obj_end(&w);
    jw_key(&w, "empty_arr");
    jw_arr_begin(&w);
    jw_arr_end(&w);
    jw_obj_end(&w);
    jw_arr_begin(&w);
    jw_arr_begin(&w);
    jw_int(&w, 1);
    jw_arr_end(&w);
    jw_int(&w, 2);
    jw_arr_end(&w);
    jw_arr_end(&w);
    jw_key(&w, "dbl");
    jw_dbl(&w, 0.1);
    jw_key(&w, "raw");
    jw_raw(&w, SLICE("{\"r\":[1]}"));
    jw_key(&w, "sl");
    jw_slice(&w, SLICE("a\0b"));
    jw_key(&w, "nullstr");
    jw_str(&w, NULL);
    jw_obj_end(&w);
    CHECK_INT_EQ(w.depth, 0);

    v = parse_back(&b);
    CHECK(json_is_object(v));
    CHECK_UINT_EQ(json_object_size(v), 6);
    CHECK_INT_EQ(json_integer_value(json_object_get(v, "a")), -7);
    arr = json_object_get(v, "list");
    CHECK_UINT_EQ(json_array_size(arr), 6);
    CHECK(json_is_true(json_array_get(arr, 0)));
    CHECK(json_is_false(json_array_get(arr, 1)));
    CHECK(json_is_null(json_array_get(arr, 2)));
    CHECK_STR_EQ(json_string_value(json_array_get(arr, 3)), "s\"q");
    inner = json_array_get(arr, 4);
    CHECK_INT_EQ(json_integer_value(json_object_get(inner, "x")), 9007199254740993);
    CHECK_UINT_EQ(json_object_size(json_object_get(inner, "empty_obj")), 0);
    CHECK(json_is_object(json_object_get(inner, "empty_obj")));
    CHECK(json_is_array(json_object_get(inner, "empty_arr")));
    CHECK_INT_EQ(json_integer_value(json_array_get(json_array_get(json_array_get(arr, 5), 0), 0)),
                 1);
    CHECK_INT_EQ(json_integer_value(json_array_get(json_array_get(arr, 5), 1)), 2);
    CHECK(json_real_value(json_object_get(v, "dbl")) == 0.1);
    CHECK_INT_EQ(
        json_integer_value(json_array_get(json_object_get(json_object_get(v, "raw"), "r"), 0)), 1);
    CHECK_MEM_EQ(json_string_value(json_object_get(v, "sl")),
                 json_string_length(json_object_get(v, "sl")), "a\0b", 3);
    CHECK(json_is_null(json_object_get(v, "nullstr")));
    json_decref(v);
    sbuf_release(&b);
}

TEST(jw_exact_text)
{
    struct sbuf b = SBUF_INIT(256);
    struct jw w;

    jw_init(&w, &b);
    jw_arr_begin(&w);
    jw_obj_begin(&w);
    jw_obj_end(&w);
    jw_obj_begin(&w);
    jw_key(&w, "k");
    jw_arr_begin(&w);
    jw_arr_end(&w);
    jw_key(&w, "u");
    jw_uint(&w, UINT64_MAX);
    jw_key(&w, "i");
    jw_int(&w, INT64_MIN);
    jw_obj_end(&w);
    jw_arr_end(&w);
    CHECK_STR_EQ(b.buf, "[{},{\"k\":[],\"u\":18446744073709551615,\"i\":-9223372036854775808}]");
    sbuf_release(&b);
}

TEST(jw_top_level_values_are_comma_separated)
{
    struct sbuf b = SBUF_INIT(256);
    struct jw w;

    jw_init(&w, &b);
    jw_int(&w, 1);
    jw_str(&w, "x");
    CHECK_STR_EQ(b.buf, "1,\"x\"");
    sbuf_release(&b);
}

TEST(jw_dbl_non_finite_is_null)
{
    struct sbuf b = SBUF_INIT(256);
    struct jw w;
    json_t *v;

    jw_init(&w, &b);
    jw_arr_begin(&w);
    jw_dbl(&w, NAN);
    jw_dbl(&w, INFINITY);
    jw_dbl(&w, -INFINITY);
    jw_dbl(&w, -0.0);
    jw_dbl(&w, 1e300);
    jw_dbl(&w, 5e-324);
    jw_dbl(&w, 3.0);
    jw_arr_end(&w);
    v = parse_back(&b);
    CHECK(json_is_null(json_array_get(v, 0)));
    CHECK(json_is_null(json_array_get(v, 1)));
    CHECK(json_is_null(json_array_get(v, 2)));
    CHECK(json_number_value(json_array_get(v, 4)) == 1e300);
    CHECK(json_number_value(json_array_get(v, 5)) == 5e-324);
    CHECK(json_number_value(json_array_get(v, 6)) == 3.0);
    json_decref(v);
    sbuf_release(&b);
}

TEST(jw_keys_are_escaped)
{
    struct sbuf b = SBUF_INIT(256);
    struct jw w;
    json_t *v;

    jw_init(&w, &b);
    jw_obj_begin(&w);
    jw_key(&w, "we\"ird\n");
    jw_int(&w, 1);
    jw_key(&w, "");
    jw_int(&w, 2);
    jw_obj_end(&w);
    v = parse_back(&b);
    CHECK_INT_EQ(json_integer_value(json_object_get(v, "we\"ird\n")), 1);
    CHECK_INT_EQ(json_integer_value(json_object_get(v, "")), 2);
    json_decref(v);
    sbuf_release(&b);
}

TEST(jw_depth_63_ok_64_is_limit)
{
    struct sbuf b = SBUF_INIT(1024);
    struct jw w;
    json_t *v;

    jw_init(&w, &b);
    for (int i = 0; i < 63; i++)
        jw_arr_begin(&w);
    for (int i = 0; i < 63; i++)
        jw_arr_end(&w);
    v = parse_back(&b);
    json_decref(v);

    sbuf_reset(&b);
    jw_init(&w, &b);
    for (int i = 0; i < 64; i++)
        jw_arr_begin(&w);
    CHECK_INT_EQ(b.err, ERR_LIMIT);
    sbuf_release(&b);
}

TEST(jw_depth_limit_keeps_an_earlier_error)
{
    struct sbuf b = SBUF_INIT(1024);
    struct jw w;

    sbuf_printf(&b, "%ls", L"\x100"); /* not representable in the C locale: EILSEQ */
    CHECK_INT_EQ(b.err, ERR_INVALID);
    jw_init(&w, &b);
    for (int i = 0; i < 64; i++)
        jw_arr_begin(&w);
    CHECK_INT_EQ(b.err, ERR_INVALID);
    sbuf_release(&b);
}

TEST(jw_stops_at_sbuf_limit)
{
    struct sbuf b = SBUF_INIT(10);
    struct jw w;

    jw_init(&w, &b);
    jw_obj_begin(&w);
    jw_key(&w, "key");
    jw_str(&w, "a long value");
    jw_key(&w, "b");
    jw_int(&w, 1);
    jw_obj_end(&w);
    CHECK_INT_EQ(b.err, ERR_LIMIT);
    CHECK(b.len <= 10);
    CHECK(strncmp(b.buf, "{\"key\":", 7) == 0); /* what came before the failure */
    sbuf_release(&b);
}

TEST(jw_many_siblings_in_deep_nesting)
{
    struct sbuf b = SBUF_INIT(1 << 16);
    struct jw w;
    json_t *v, *cur;

    jw_init(&w, &b);
    for (int d = 0; d < 40; d++) {
        jw_obj_begin(&w);
        jw_key(&w, "before");
        jw_int(&w, d);
        jw_key(&w, "child");
    }
    jw_null(&w);
    for (int d = 39; d >= 0; d--) {
        jw_key(&w, "after");
        jw_int(&w, d);
        jw_obj_end(&w);
    }
    v = parse_back(&b);
    cur = v;
    for (int d = 0; d < 40; d++) {
        CHECK_INT_EQ(json_integer_value(json_object_get(cur, "before")), d);
        CHECK_INT_EQ(json_integer_value(json_object_get(cur, "after")), d);
        cur = json_object_get(cur, "child");
    }
    CHECK(json_is_null(cur));
    json_decref(v);
    sbuf_release(&b);
}

/* ------------------------------------------------------------ json_escape */

static void check_escape(struct slice in, const char *want)
{
    struct sbuf b = SBUF_INIT(4096);

    json_escape(&b, in);
    CHECK_INT_EQ(b.err, 0);
    if (strcmp(b.buf, want) != 0)
        test_fail(__FILE__, __LINE__, "escaped to %s, expected %s", b.buf, want);
    sbuf_release(&b);
}

TEST(json_escape_control_chars_and_quotes)
{
    check_escape(SLICE(""), "\"\"");
    check_escape(SLICE_NULL, "\"\"");
    check_escape(SLICE("plain / text"), "\"plain / text\"");
    check_escape(SLICE("q\"b\\"), "\"q\\\"b\\\\\"");
    check_escape(SLICE("\n\r\t"), "\"\\n\\r\\t\"");
    check_escape(SLICE("\x01\x08\x0c\x1f"), "\"\\u0001\\u0008\\u000c\\u001f\"");
    check_escape(SLICE("a\0b"), "\"a\\u0000b\"");
    check_escape(SLICE("\x7f"), "\"\x7f\"");
    check_escape(SLICE(" "), "\" \"");
}

TEST(json_escape_invalid_utf8_becomes_replacement)
{
    check_escape(SLICE("\xff"), "\"\\ufffd\"");
    check_escape(SLICE("a\xc3"), "\"a\\ufffd\"");                     /* cut short at the end */
    check_escape(SLICE("\xc3(x"), "\"\\ufffd(x\"");                   /* bad continuation */
    check_escape(SLICE("\xc0\xaf"), "\"\\ufffd\\ufffd\"");            /* overlong '/' */
    check_escape(SLICE("\xe0\x80\xaf"), "\"\\ufffd\\ufffd\\ufffd\""); /* overlong, 3 bytes */
    check_escape(SLICE("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\""); /* surrogate D800 */
    check_escape(SLICE("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* > 10FFFF */
    check_escape(SLICE("\xf0\x8f\xbf\xbf"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* overlong */
    check_escape(SLICE("\x80"), "\"\\ufffd\"");
    check_escape(SLICE("ok\xf5\x80tail"), "\"ok\\ufffd\\ufffdtail\"");
}

TEST(json_escape_keeps_valid_multibyte)
{
    check_escape(SLICE("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
    check_escape(SLICE("\xe2\x82\xac"), "\"\xe2\x82\xac\"");
    check_escape(SLICE("\xf0\x9f\x98\x80"), "\"\xf0\x9f\x98\x80\"");
    check_escape(SLICE("\xef\xbf\xbf"), "\"\xef\xbf\xbf\"");
    check_escape(SLICE("\xf4\x8f\xbf\xbf"), "\"\xf4\x8f\xbf\xbf\""); /* U+10FFFF */
    check_escape(SLICE("\xe2\x80\xa8"), "\"\xe2\x80\xa8\"");         /* U+2028 */
    check_escape(SLICE("\xc2\x80\xdf\xbf"), "\"\xc2\x80\xdf\xbf\"");
}

TEST(json_escape_round_trips_through_jansson)
{
    static const struct {
        struct slice in;
        struct slice want; /* what jansson decodes */
    } cases[] = {
        {SLICE("a\"b\\c\n\x01\x1f"), SLICE("a\"b\\c\n\x01\x1f")},
        {SLICE("caf\xc3\xa9 \xf0\x9f\x98\x80"), SLICE("caf\xc3\xa9 \xf0\x9f\x98\x80")},
        {SLICE("x\0y"), SLICE("x\0y")},
        {SLICE("bad\xff!"), SLICE("bad\xef\xbf\xbd!")},
        {SLICE("\xed\xbf\xbf"), SLICE("\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd")},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct sbuf b = SBUF_INIT(1024);
        json_t *v;

        json_escape(&b, cases[i].in);
        v = parse_back(&b);
        CHECK(json_is_string(v));
        CHECK_MEM_EQ(json_string_value(v), json_string_length(v), cases[i].want.ptr,
                     cases[i].want.len);
        json_decref(v);
        sbuf_release(&b);
    }
}

TEST(json_escape_every_byte_value)
{
    struct sbuf b = SBUF_INIT(4096);
    char all[256];
    json_t *v;

    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    json_escape(&b, (struct slice){all, sizeof(all)});
    v = parse_back(&b);
    CHECK(json_is_string(v));
    /* ASCII comes back as is; each of the 128 high bytes alone is invalid: 3 bytes each. */
    CHECK_UINT_EQ(json_string_length(v), 128 + 128 * 3);
    CHECK_MEM_EQ(json_string_value(v), 128, all, 128);
    json_decref(v);
    sbuf_release(&b);
}
