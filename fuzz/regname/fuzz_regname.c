/*
 * libFuzzer harness for the registry's parsers (src/reg/names.c): repository names, tags,
 * digests, Content-Range, Range, scopes and /v2/ paths.
 *
 * Input: byte 0 picks the parser, the rest is its text. Beyond "no crash, no leak" it checks
 * properties: an accepted name is 2+ components of lower-case letters and digits (never "/"
 * at either end, never "//") within REG_NAME_MAX bytes; an accepted digest gives 64 lower-case
 * hex digits; an accepted Content-Range has start <= end; an accepted Range lies inside the
 * blob; a parsed path's name and reference are parts of the input.
 */
#include <stdio.h>
#include <stdlib.h>

#include "reg/reg-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(x)                                                                              \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed\n", __FILE__, __LINE__, #x);             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool inside(struct slice part, struct slice whole)
{
    return part.ptr == NULL || part.len == 0 ||
           (part.ptr >= whole.ptr && part.ptr + part.len <= whole.ptr + whole.len);
}

static void check_name(struct slice s)
{
    struct err err = {0};

    if (reg_name_check(s, &err) < 0) {
        FUZZ_CHECK(err.msg[0] != '\0');
        return;
    }
    FUZZ_CHECK(s.len >= 3 && s.len <= REG_NAME_MAX);
    FUZZ_CHECK(s.ptr[0] != '/' && s.ptr[s.len - 1] != '/');
    FUZZ_CHECK(memchr(s.ptr, '/', s.len) != NULL);
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];

        FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                   c == '-' || c == '/');
        FUZZ_CHECK(!(c == '/' && s.ptr[i + 1] == '/'));
    }
    FUZZ_CHECK(reg_name_workspace(s).len > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct slice s = {(const char *)data + 1, size ? size - 1 : 0}, name;
    struct err err = {0};
    char hex[REG_HEX_LEN + 1];
    uint64_t a, b, blob = 1000;
    struct reg_path p;
    unsigned actions;

    if (size == 0)
        return 0;
    switch (data[0] % 7) {
    case 0:
        check_name(s);
        break;
    case 1:
        if (reg_tag_valid(s))
            FUZZ_CHECK(s.len >= 1 && s.len <= REG_TAG_MAX && s.ptr[0] != '.' && s.ptr[0] != '-');
        break;
    case 2:
        if (reg_digest_parse(s, hex, &err) == 0) {
            FUZZ_CHECK(strlen(hex) == REG_HEX_LEN);
            for (size_t i = 0; i < REG_HEX_LEN; i++)
                FUZZ_CHECK((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f'));
        }
        break;
    case 3:
        if (reg_content_range_parse(s, &a, &b, &err) == 0)
            FUZZ_CHECK(a <= b);
        break;
    case 4:
        if (reg_range_parse(s, blob, &a, &b, &err) == 0)
            FUZZ_CHECK(b >= 1 && a < blob && a + b <= blob);
        break;
    case 5:
        if (reg_scope_parse(s, &name, &actions, &err) == 0) {
            FUZZ_CHECK(inside(name, s));
            check_name(name);
        }
        break;
    default:
        if (reg_path_parse(s, &p) == 0) {
            FUZZ_CHECK(inside(p.name, s) && inside(p.ref, s));
            FUZZ_CHECK(p.op == REG_OP_BASE || p.name.len > 0);
        }
        break;
    }
    return 0;
}
