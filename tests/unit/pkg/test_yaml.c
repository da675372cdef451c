#include <jansson.h>
#include <stdlib.h>

#include "../test.h"
#include "base/base.h"
#include "pkg/pkg-int.h"

static struct pkg_yaml *parse_ok(const char *text)
{
    struct pkg_yaml *doc = NULL;
    struct err err = {0};

    OK(pkg_yaml_parse(slice_from_cstr(text), NULL, &doc, &err));
    return doc;
}

static void parse_fails(const char *text, const char *msg)
{
    struct pkg_yaml *doc = NULL;
    struct err err = {0};

    CHECK_INT_EQ(pkg_yaml_parse(slice_from_cstr(text), NULL, &doc, &err), ERR_INVALID);
    CHECK(doc == NULL);
    CHECK_CONTAINS(err.msg, msg);
}

/* The document's text; the caller frees it. */
static char *emit(const struct pkg_yaml *doc)
{
    struct sbuf out = SBUF_INIT(1 << 20);
    struct err err = {0};
    size_t len;

    OK(pkg_yaml_emit(doc, &out, &err));
    return sbuf_take(&out, &len);
}

static void check_text(const struct pkg_yaml *doc, const char *want)
{
    char *got = emit(doc);

    CHECK_STR_EQ(got, want);
    free(got);
}

/* ------------------------------------------------------------------ parse errors */

TEST(yaml_parse_error_has_position)
{
    parse_fails("a: 1\nb: [1, 2\nc: 3\n", "line 4, column 1: flow sequence without a closing");
    parse_fails("a: \"x\n", "line 1, column 5: double-quoted scalar without closing quote");
    parse_fails("a:\n\t- x\n", "line 2, column 1: tab character");

    struct pkg_yaml *doc = NULL;
    struct err err = {0};

    CHECK_INT_EQ(pkg_yaml_parse(SLICE("a: x\0y\n"), NULL, &doc, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "line 1, column 5: control character 0x00");
    CHECK_INT_EQ(pkg_yaml_parse(SLICE("a: \xe9\n"), NULL, &doc, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "document is not valid UTF-8");
}

TEST(yaml_refuses_anchors_aliases_tags_documents)
{
    parse_fails("a: &x 1\n", "line 1, column 4: anchors (&name) are not allowed");
    parse_fails("a: 1\nb: *x\n", "line 2, column 4: aliases (*name) are not allowed");
    parse_fails("a: !!str 3\n", "line 1, column 4: tags (!tag) are not allowed");
    parse_fails("a: !custom\n  b: 1\n", "tags (!tag) are not allowed");
    parse_fails("a: 1\n---\nb: 2\n", "line 2, column 1: only one document is allowed");
    parse_fails("? [a]\n: 1\n", "line 1, column 3: a mapping key must be a scalar");
}

TEST(yaml_refuses_duplicate_keys)
{
    parse_fails("a: 1\nb: 2\na: 3\n", "line 3, column 1: duplicate key \"a\"");
    parse_fails("x:\n  k: 1\n  \"k\": 2\n", "line 3, column 3: duplicate key \"k\"");
    parse_fails("{a: 1, a: 2}\n", "duplicate key \"a\"");
}

TEST(yaml_limits)
{
    struct pkg_yaml_limits lim = {.max_bytes = 16, .max_depth = 3};
    struct pkg_yaml *doc = NULL;
    struct err err = {0};

    CHECK_INT_EQ(pkg_yaml_parse(SLICE("a: 123456789012345"), &lim, &doc, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "document is over 16 bytes");
    CHECK_INT_EQ(pkg_yaml_parse(SLICE("a: [[[1]]]"), &lim, &doc, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "line 1, column 6: nested deeper than 3 levels");
    OK(pkg_yaml_parse(SLICE("a: [[1]]"), &lim, &doc, &err));
    /* an edit may not grow the document past the limit either */
    CHECK_INT_EQ(pkg_yaml_set_str(doc, "b", SLICE("long enough"), &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "document would be over 16 bytes");
    json_t *deep = json_pack("[[i]]", 1);

    CHECK_INT_EQ(pkg_yaml_set_json(doc, "a[0][0]", deep, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg,
                 "edited document does not parse: line 1, column 6: nested deeper than 3 levels");
    json_decref(deep);
    check_text(doc, "a: [[1]]");
    pkg_yaml_free(doc);
}

/* ------------------------------------------------------------------ reading */

static const char values[] = "# Values for the api project\n"
                             "services:\n"
                             "  api:\n"
                             "    image: ghcr.io/acme/api\n"
                             "    port: 8080\n"
                             "    public: true\n"
                             "    ratio: 0.5\n"
                             "    tag: \"8080\"\n"
                             "    switch: on\n"
                             "    nothing:\n"
                             "    env:\n"
                             "      - name: A\n"
                             "        value: \"1\"\n"
                             "      - name: B\n"
                             "    \"a.b\": dotted\n";

TEST(yaml_get_typed)
{
    struct pkg_yaml *doc = parse_ok(values);
    struct err err = {0};
    struct slice s;
    int64_t i;
    bool b;

    OK(pkg_yaml_get_str(doc, "services.api.image", &s, &err));
    CHECK_STR_EQ(s.ptr, "ghcr.io/acme/api");
    OK(pkg_yaml_get_int(doc, "services.api.port", &i, &err));
    CHECK_INT_EQ(i, 8080);
    OK(pkg_yaml_get_bool(doc, "services.api.public", &b, &err));
    CHECK(b);
    CHECK_INT_EQ(pkg_yaml_get_int(doc, "services.api.tag", &i, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "services.api.tag is a string, not an integer");
    CHECK_INT_EQ(pkg_yaml_get_bool(doc, "services.api.switch", &b, &err), ERR_INVALID);
    OK(pkg_yaml_get_str(doc, "services.api.switch", &s, &err)); /* YAML 1.2: a string */
    CHECK_STR_EQ(s.ptr, "on");
    CHECK(pkg_yaml_is_null(doc, "services.api.nothing"));
    CHECK(pkg_yaml_is_map(doc, "services.api"));
    CHECK(pkg_yaml_is_seq(doc, "services.api.env"));
    CHECK(!pkg_yaml_is_seq(doc, "services.api.missing"));
    OK(pkg_yaml_get_str(doc, "services.api.env[1].name", &s, &err));
    CHECK_STR_EQ(s.ptr, "B");
    OK(pkg_yaml_get_str(doc, "services.api.\"a.b\"", &s, &err));
    CHECK_STR_EQ(s.ptr, "dotted");
    CHECK_INT_EQ(pkg_yaml_get_str(doc, "services.api.env[2].name", &s, &err), ERR_NOTFOUND);
    CHECK_STR_EQ(err.msg, "services.api.env[2]: not found");
    CHECK_INT_EQ(pkg_yaml_get_str(doc, "services.web.port", &s, &err), ERR_NOTFOUND);
    CHECK_STR_EQ(err.msg, "services.web: not found");
    CHECK_INT_EQ(pkg_yaml_get_str(doc, "services.api.port.x", &s, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "services.api.port is a integer, not a mapping");
    CHECK_INT_EQ(pkg_yaml_get_str(doc, "services..api", &s, &err), ERR_INVALID);
    CHECK_INT_EQ(pkg_yaml_get_str(doc, "services[x]", &s, &err), ERR_INVALID);
    CHECK_INT_EQ(pkg_yaml_get_str(doc, "services.\"open", &s, &err), ERR_INVALID);
    pkg_yaml_free(doc);
}

TEST(yaml_iterate)
{
    struct pkg_yaml *doc = parse_ok(values);
    const struct pkg_yaml_node *n;
    struct err err = {0};

    OK(pkg_yaml_get(doc, "services.api", &n, &err));
    CHECK_INT_EQ(pkg_yaml_node_type(n), PKG_YAML_MAP);
    CHECK_INT_EQ(pkg_yaml_node_len(n), 9);
    CHECK_STR_EQ(pkg_yaml_node_key(n, 0).ptr, "image");
    CHECK_STR_EQ(pkg_yaml_node_key(n, 8).ptr, "a.b");
    CHECK(pkg_yaml_node_key(n, 9).ptr == NULL);
    CHECK_INT_EQ(pkg_yaml_node_type(pkg_yaml_node_at(n, 3)), PKG_YAML_FLOAT);
    CHECK_INT_EQ(pkg_yaml_node_line(pkg_yaml_node_at(n, 1)), 5);
    OK(pkg_yaml_get(doc, "services.api.env", &n, &err));
    CHECK_INT_EQ(pkg_yaml_node_len(n), 2);
    CHECK_INT_EQ(pkg_yaml_node_type(pkg_yaml_node_at(n, 0)), PKG_YAML_MAP);
    CHECK(pkg_yaml_node_at(n, 2) == NULL);
    pkg_yaml_free(doc);
}

TEST(yaml_to_json_core_schema)
{
    struct pkg_yaml *doc =
        parse_ok("i: 42\nneg: -7\noct: 0o17\nhex: 0x1F\nf: 1.5e3\nt: true\nT: True\ns: \"true\"\n"
                 "yes: yes\nn: ~\ne:\nq: '12'\nlit: |\n  a\n  b\nlist: [1, two, {x: null}]\n");
    struct err err = {0};
    json_t *j, *want;

    OK(pkg_yaml_to_json(doc, &j, &err));
    want = json_pack("{s:i, s:i, s:i, s:i, s:f, s:b, s:b, s:s, s:s, s:n, s:n, s:s, s:s, "
                     "s:[i, s, {s:n}]}",
                     "i", 42, "neg", -7, "oct", 15, "hex", 31, "f", 1500.0, "t", 1, "T", 1, "s",
                     "true", "yes", "yes", "n", "e", "q", "12", "lit", "a\nb\n", "list", 1, "two",
                     "x");
    CHECK(json_equal(j, want));
    json_decref(j);
    json_decref(want);
    pkg_yaml_free(doc);

    doc = parse_ok("a: .inf\n");
    CHECK_INT_EQ(pkg_yaml_to_json(doc, &j, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "line 1: .inf has no JSON form");
    pkg_yaml_free(doc);
    doc = parse_ok("a: 99999999999999999999\n");
    CHECK_INT_EQ(pkg_yaml_to_json(doc, &j, &err), ERR_INVALID);
    pkg_yaml_free(doc);
    doc = parse_ok("# only a comment\n");
    OK(pkg_yaml_to_json(doc, &j, &err));
    CHECK(json_is_null(j));
    json_decref(j);
    pkg_yaml_free(doc);
}

/* ------------------------------------------------------------------ round trips */

static const char file_a[] = "# Top of file comment\n"
                             "# second line\n"
                             "\n"
                             "services:\n"
                             "  # the API service\n"
                             "  api:\n"
                             "    image: ghcr.io/acme/api   # end of line comment\n"
                             "    port: 8080\n"
                             "    env:\n"
                             "      - name: A   # first\n"
                             "        value: \"1\"\n"
                             "      # between items\n"
                             "      - name: B\n"
                             "        value: 'two'\n"
                             "    args:\n"
                             "    - --verbose\n"
                             "    - --x  # tail\n"
                             "  web:\n"
                             "    replicas: 2\n"
                             "\n"
                             "# trailing section comment\n"
                             "databases: {}\n"
                             "list: [1, 2, 3]\n"
                             "text: |\n"
                             "  hello\n"
                             "  world\n"
                             "# end of file\n";

static const char file_b[] = "---\n"
                             "# environment: production\n"
                             "image:\n"
                             "    tag: 3f2a1c9      # set by deploy\n"
                             "    digest: \"sha256:abc\"\n"
                             "domains:\n"
                             "- api.example.com\n"
                             "- www.example.com # custom\n"
                             "variables:\n"
                             "    LOG_LEVEL: debug\n"
                             "    EMPTY: \"\"\n"
                             "...\n";

static const char file_c[] = "a: 1 # no newline at the end";

TEST(yaml_round_trip_unchanged)
{
    const char *files[] = {file_a, file_b, file_c, "", "# just a comment\n", "{a: 1}\n"};

    for (size_t i = 0; i < ARRAY_LEN(files); i++) {
        struct pkg_yaml *doc = parse_ok(files[i]);

        check_text(doc, files[i]);
        pkg_yaml_free(doc);
    }
}

/* Sets <path> in <before> and checks the text is <after> exactly, and that it parses. */
static void check_edit(const char *before, const char *path, json_t *v, const char *after)
{
    struct pkg_yaml *doc = parse_ok(before), *again;
    struct err err = {0};
    char *text;

    OK(pkg_yaml_set_json(doc, path, v, &err));
    json_decref(v);
    text = emit(doc);
    CHECK_STR_EQ(text, after);
    again = parse_ok(text);
    pkg_yaml_free(again);
    free(text);
    pkg_yaml_free(doc);
}

TEST(yaml_set_deep_keeps_every_comment)
{
    /* Only the one line differs; every comment, blank line and quote style is where it was. */
    check_edit(file_a, "services.api.port", json_integer(9090),
               "# Top of file comment\n"
               "# second line\n"
               "\n"
               "services:\n"
               "  # the API service\n"
               "  api:\n"
               "    image: ghcr.io/acme/api   # end of line comment\n"
               "    port: 9090\n"
               "    env:\n"
               "      - name: A   # first\n"
               "        value: \"1\"\n"
               "      # between items\n"
               "      - name: B\n"
               "        value: 'two'\n"
               "    args:\n"
               "    - --verbose\n"
               "    - --x  # tail\n"
               "  web:\n"
               "    replicas: 2\n"
               "\n"
               "# trailing section comment\n"
               "databases: {}\n"
               "list: [1, 2, 3]\n"
               "text: |\n"
               "  hello\n"
               "  world\n"
               "# end of file\n");
    check_edit(file_b, "image.tag", json_string("1b2c3d4"),
               "---\n"
               "# environment: production\n"
               "image:\n"
               "    tag: 1b2c3d4      # set by deploy\n"
               "    digest: \"sha256:abc\"\n"
               "domains:\n"
               "- api.example.com\n"
               "- www.example.com # custom\n"
               "variables:\n"
               "    LOG_LEVEL: debug\n"
               "    EMPTY: \"\"\n"
               "...\n");
    check_edit(file_a, "services.api.env[1].value", json_string("three"),
               "# Top of file comment\n"
               "# second line\n"
               "\n"
               "services:\n"
               "  # the API service\n"
               "  api:\n"
               "    image: ghcr.io/acme/api   # end of line comment\n"
               "    port: 8080\n"
               "    env:\n"
               "      - name: A   # first\n"
               "        value: \"1\"\n"
               "      # between items\n"
               "      - name: B\n"
               "        value: three\n"
               "    args:\n"
               "    - --verbose\n"
               "    - --x  # tail\n"
               "  web:\n"
               "    replicas: 2\n"
               "\n"
               "# trailing section comment\n"
               "databases: {}\n"
               "list: [1, 2, 3]\n"
               "text: |\n"
               "  hello\n"
               "  world\n"
               "# end of file\n");
}

TEST(yaml_set_adds_keys_and_items)
{
    check_edit(file_b, "variables.NEW", json_string("x"),
               "---\n# environment: production\nimage:\n    tag: 3f2a1c9      # set by deploy\n"
               "    digest: \"sha256:abc\"\ndomains:\n- api.example.com\n"
               "- www.example.com # custom\nvariables:\n    LOG_LEVEL: debug\n    EMPTY: \"\"\n"
               "    NEW: x\n...\n");
    check_edit(file_b, "domains[2]", json_string("new.example.com"),
               "---\n# environment: production\nimage:\n    tag: 3f2a1c9      # set by deploy\n"
               "    digest: \"sha256:abc\"\ndomains:\n- api.example.com\n"
               "- www.example.com # custom\n- new.example.com\nvariables:\n    LOG_LEVEL: debug\n"
               "    EMPTY: \"\"\n...\n");
    /* intermediate mappings are created; a comment after the last entry stays on its line */
    check_edit("a:\n  b: 1  # keep\n", "a.c.d.e", json_integer(2),
               "a:\n  b: 1  # keep\n  c:\n    d:\n      e: 2\n");
    check_edit("", "services.api.port", json_integer(80), "services:\n  api:\n    port: 80\n");
    check_edit("# header\n", "a", json_true(), "# header\na: true\n");
    check_edit("a:\nb: 2\n", "a.x", json_integer(1), "a:\n  x: 1\nb: 2\n");
    check_edit("a:   # why\nb: 2\n", "a.x", json_integer(1), "a: # why\n  x: 1\nb: 2\n");
    check_edit("text: |\n  hi\nz: 1\n", "z2", json_integer(1), "text: |\n  hi\nz: 1\nz2: 1\n");
    check_edit("text: |\n  hi\n", "more", json_integer(1), "text: |\n  hi\nmore: 1\n");
    check_edit("m: {a: 1}\n", "m.b", json_integer(2), "m:\n  a: 1\n  b: 2\n");
    check_edit("l: [1, 2]\n", "l[2]", json_integer(3), "l:\n  - 1\n  - 2\n  - 3\n");
    check_edit("x: {l: [1]}\n", "x.l[1]", json_string("a b"), "x: {l: [1, \"a b\"]}\n");
    check_edit("env:\n  - name: A\n", "env[0].value", json_string("1"),
               "env:\n  - name: A\n    value: \"1\"\n");
}

TEST(yaml_set_collections_from_json)
{
    check_edit("a: 1 # c\nb: 2\n", "a",
               json_pack("{s:i, s:[s, {s:s}]}", "x", 1, "l", "p", "k", "v"),
               "a: # c\n  x: 1\n  l:\n    - p\n    - k: v\nb: 2\n");
    check_edit("a:\n    old: 1\n    older: 2\nb: 2\n", "a", json_pack("{s:i}", "new", 1),
               "a:\n    new: 1\nb: 2\n");
    check_edit("a:\n- 1\n- 2\nb: 2\n", "a", json_pack("[i, i]", 3, 4), "a:\n  - 3\n  - 4\nb: 2\n");
    check_edit("l:\n  - x\n  - y\n", "l[1]", json_pack("{s:i, s:i}", "a", 1, "b", 2),
               "l:\n  - x\n  - a: 1\n    b: 2\n");
    check_edit("a: |\n  text\nb: 1\n", "a", json_pack("{s:i}", "k", 1), "a:\n  k: 1\nb: 1\n");
    check_edit("a: 1\n", "a", json_object(), "a: {}\n");
    check_edit("a: {x: 1}\n", "a", json_pack("[i]", 1), "a:\n  - 1\n");
    check_edit("a: [1, {b: 2}]\n", "a[1]", json_pack("{s:[i]}", "c", 3), "a: [1, {\"c\": [3]}]\n");
    check_edit("a: 1\n", "", json_pack("{s:i}", "z", 9), "z: 9\n");
    check_edit("a: |\n  text\nb: 1\n", "a", json_string("short"), "a: short\nb: 1\n");
    check_edit("a: 1\n", "a", json_real(2.5), "a: 2.5\n");
    check_edit("a: 1\n", "a", json_real(3), "a: 3.0\n");
    check_edit("a: 1\n", "a", json_null(), "a: null\n");
}

TEST(yaml_set_quotes_strings_that_need_it)
{
    static const struct {
        const char *value, *text;
    } cases[] = {
        {"8080", "a: \"8080\"\n"},
        {"1.5", "a: \"1.5\"\n"},
        {"true", "a: \"true\"\n"},
        {"False", "a: \"False\"\n"},
        {"null", "a: \"null\"\n"},
        {"~", "a: \"~\"\n"},
        {"", "a: \"\"\n"},
        {"yes", "a: \"yes\"\n"},
        {"off", "a: \"off\"\n"},
        {"0x1F", "a: \"0x1F\"\n"},
        {"key: value", "a: \"key: value\"\n"},
        {"not # a comment", "a: \"not # a comment\"\n"},
        {"#hash", "a: \"#hash\"\n"},
        {"- dash", "a: \"- dash\"\n"},
        {" lead", "a: \" lead\"\n"},
        {"trail ", "a: \"trail \"\n"},
        {"two\nlines", "a: \"two\\nlines\"\n"},
        {"say \"hi\"", "a: say \"hi\"\n"},
        {"\"q", "a: \"\\\"q\"\n"},
        {"back\\slash", "a: back\\slash\n"},
        {"@at", "a: \"@at\"\n"},
        {"*star", "a: \"*star\"\n"},
        {"a,b", "a: \"a,b\"\n"},
        {"ends:", "a: \"ends:\"\n"},
        {"ghcr.io/acme/api:1.2", "a: ghcr.io/acme/api:1.2\n"},
        {"--verbose", "a: --verbose\n"},
        {"héllo wörld", "a: héllo wörld\n"},
        {"tab\there", "a: \"tab\\there\"\n"},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct pkg_yaml *doc = parse_ok("a: 1\n");
        struct err err = {0};
        struct slice got;

        OK(pkg_yaml_set_str(doc, "a", slice_from_cstr(cases[i].value), &err));
        check_text(doc, cases[i].text);
        OK(pkg_yaml_get_str(doc, "a", &got, &err));
        CHECK_STR_EQ(got.ptr, cases[i].value);
        CHECK(!pkg_yaml_is_null(doc, "a"));
        pkg_yaml_free(doc);
    }
}

TEST(yaml_set_scalars_and_keys)
{
    struct pkg_yaml *doc = parse_ok("a: 1\n");
    struct err err = {0};
    int64_t i;
    bool b;

    OK(pkg_yaml_set_int(doc, "n", -42, &err));
    OK(pkg_yaml_set_bool(doc, "b", false, &err));
    OK(pkg_yaml_set_null(doc, "z", &err));
    OK(pkg_yaml_set_str(doc, "\"x.y\"", SLICE("dotted"), &err));
    OK(pkg_yaml_set_str(doc, "\"true\"", SLICE("key needs quotes"), &err));
    check_text(doc,
               "a: 1\n\"n\": -42\nb: false\nz: null\nx.y: dotted\n\"true\": key needs quotes\n");
    OK(pkg_yaml_get_int(doc, "n", &i, &err));
    CHECK_INT_EQ(i, -42);
    OK(pkg_yaml_get_bool(doc, "b", &b, &err));
    CHECK(!b);
    CHECK(pkg_yaml_is_null(doc, "z"));
    pkg_yaml_free(doc);
}

TEST(yaml_set_errors_leave_document_unchanged)
{
    struct pkg_yaml *doc = parse_ok(file_b);
    struct err err = {0};

    CHECK_INT_EQ(pkg_yaml_set_int(doc, "image.tag.x", 1, &err), ERR_CONFLICT);
    CHECK_STR_EQ(err.msg, "image.tag is a string, not a mapping");
    CHECK_INT_EQ(pkg_yaml_set_int(doc, "domains[5]", 1, &err), ERR_NOTFOUND);
    CHECK_INT_EQ(pkg_yaml_set_int(doc, "domains.x", 1, &err), ERR_CONFLICT);
    CHECK_INT_EQ(pkg_yaml_set_int(doc, "new[0]", 1, &err), ERR_NOTFOUND);
    CHECK_INT_EQ(pkg_yaml_set_int(doc, "a..b", 1, &err), ERR_INVALID);
    CHECK_INT_EQ(pkg_yaml_set_str(doc, "bad", (struct slice){"\xff", 1}, &err), ERR_INVALID);
    check_text(doc, file_b);
    pkg_yaml_free(doc);
}

/* ------------------------------------------------------------------ delete */

static void check_delete(const char *before, const char *path, const char *after)
{
    struct pkg_yaml *doc = parse_ok(before);
    struct err err = {0};

    OK(pkg_yaml_delete(doc, path, &err));
    check_text(doc, after);
    pkg_yaml_free(doc);
}

TEST(yaml_delete)
{
    check_delete(file_b, "image.tag",
                 "---\n# environment: production\nimage:\n    digest: \"sha256:abc\"\n"
                 "domains:\n- api.example.com\n- www.example.com # custom\nvariables:\n"
                 "    LOG_LEVEL: debug\n    EMPTY: \"\"\n...\n");
    check_delete(file_b, "domains[1]",
                 "---\n# environment: production\nimage:\n    tag: 3f2a1c9      # set by deploy\n"
                 "    digest: \"sha256:abc\"\ndomains:\n- api.example.com\nvariables:\n"
                 "    LOG_LEVEL: debug\n    EMPTY: \"\"\n...\n");
    check_delete("a:\n  x: 1\n  y:\n    deep: 1\n  # about z\n  z: 3\nb: 1\n", "a.y",
                 "a:\n  x: 1\n  # about z\n  z: 3\nb: 1\n");
    check_delete("l:\n  - name: A\n    value: 1\n", "l[0].name", "l:\n  - value: 1\n");
    check_delete("a:\n  only: 1\nb: 2\n", "a.only", "a: {}\nb: 2\n");
    check_delete("l:\n- 1\n", "l[0]", "l: []\n");
    check_delete("m: {a: 1, b: 2}\n", "m.a", "m:\n  b: 2\n");
    check_delete("l: [[1, 2]]\n", "l[0][0]", "l: [[2]]\n");
    check_delete("t: |\n  x\nu: 1\n", "t", "u: 1\n");
    check_delete("a: 1\nb: 2", "b", "a: 1\n");

    struct pkg_yaml *doc = parse_ok("a: 1\n");
    struct err err = {0};

    CHECK_INT_EQ(pkg_yaml_delete(doc, "b", &err), ERR_NOTFOUND);
    CHECK_INT_EQ(pkg_yaml_delete(doc, "", &err), ERR_INVALID);
    pkg_yaml_free(doc);
}

TEST(yaml_single_quoted_escapes)
{
    struct sbuf text = SBUF_INIT(4096);
    struct pkg_yaml *doc;
    struct slice v;
    struct err err = {0};

    sbuf_puts(&text, "a: 'it''s ''quoted'''\nb: '");
    for (int i = 0; i < 40; i++) /* many escapes: libfyaml 0.7.12 leaked decoding them */
        sbuf_puts(&text, "''");
    sbuf_puts(&text, "'\nc: 'two\n  lines'\n");
    OK(pkg_yaml_parse(sbuf_slice(&text), NULL, &doc, &err));
    OK(pkg_yaml_get_str(doc, "a", &v, &err));
    CHECK(slice_eq_cstr(v, "it's 'quoted'"));
    OK(pkg_yaml_get_str(doc, "b", &v, &err));
    CHECK_UINT_EQ(v.len, 40);
    CHECK(v.ptr[0] == '\'' && v.ptr[39] == '\'');
    OK(pkg_yaml_get_str(doc, "c", &v, &err));
    CHECK(slice_eq_cstr(v, "two lines"));
    pkg_yaml_free(doc);
    sbuf_release(&text);
}

TEST(yaml_single_quoted_folding)
{
    static const char text[] = "a: 'one\n  two  \n\n   three\n\n\n  four'\n"
                               "b: '  lead\n  tail  '\n";
    struct pkg_yaml *doc;
    struct slice v;
    struct err err = {0};

    OK(pkg_yaml_parse(SLICE(text), NULL, &doc, &err));
    OK(pkg_yaml_get_str(doc, "a", &v, &err));
    CHECK(slice_eq_cstr(v, "one two\nthree\n\nfour"));
    OK(pkg_yaml_get_str(doc, "b", &v, &err));
    CHECK(slice_eq_cstr(v, "  lead tail  "));
    pkg_yaml_free(doc);
}
