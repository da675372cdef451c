/*
 * libFuzzer harness for values documents (pkg_yaml_*). Beyond "no crash, no leak" it checks:
 *   - a refused document gets ERR_INVALID;
 *   - a parsed document emits exactly its input, and the emission parses to equal JSON;
 *   - edits (a scalar set at a fixed path, a mapping set at the root's first key, deleting
 *     that key) either succeed and read back, or fail with a clean error, never ERR_INTERNAL
 *     (which the splicer returns when its output reads back differently).
 */
#include <jansson.h>
#include <stdlib.h>

#include "base/base.h"
#include "pkg/pkg-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_edits(struct pkg_yaml *doc)
{
    const struct pkg_yaml_node *root;
    struct err err = {0};
    json_t *obj;
    char path[80];
    int rc;

    rc = pkg_yaml_set_str(doc, "fz.\"a.b\"", SLICE("x: #y"), &err);
    ASSERT(rc != ERR_INTERNAL);
    if (pkg_yaml_get(doc, "", &root, &err) != 0 || pkg_yaml_node_type(root) != PKG_YAML_MAP ||
        pkg_yaml_node_len(root) == 0)
        return;
    struct slice k = pkg_yaml_node_key(root, 0);
    if (k.len > 60 || memchr(k.ptr, '"', k.len) || memchr(k.ptr, '\\', k.len) ||
        memchr(k.ptr, '\0', k.len))
        return;
    snprintf(path, sizeof(path), "\"%.*s\"", (int)k.len, k.ptr);
    obj = json_pack("{s:[i, s]}", "k", 1, "two words");
    rc = pkg_yaml_set_json(doc, path, obj, &err);
    json_decref(obj);
    ASSERT(rc != ERR_INTERNAL);
    rc = pkg_yaml_delete(doc, path, &err);
    ASSERT(rc != ERR_INTERNAL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pkg_yaml_limits lim = {.max_bytes = 4096, .max_depth = 8};
    struct pkg_yaml *doc = NULL, *again = NULL;
    struct sbuf out = SBUF_INIT(8192);
    struct err err = {0};
    json_t *j1 = NULL, *j2 = NULL;
    int rc1, rc2;

    if (pkg_yaml_parse((struct slice){(const char *)data, size}, &lim, &doc, &err) != 0) {
        ASSERT(err.code == ERR_INVALID);
        return 0;
    }
    ASSERT(pkg_yaml_emit(doc, &out, &err) == 0);
    ASSERT(out.len == size && memcmp(out.buf, data, size) == 0);
    ASSERT(pkg_yaml_parse(sbuf_slice(&out), &lim, &again, &err) == 0);
    rc1 = pkg_yaml_to_json(doc, &j1, &err);
    rc2 = pkg_yaml_to_json(again, &j2, &err);
    ASSERT(rc1 == rc2);
    ASSERT(rc1 != 0 || json_equal(j1, j2));
    json_decref(j1);
    json_decref(j2);
    check_edits(doc);
    pkg_yaml_free(again);
    pkg_yaml_free(doc);
    sbuf_release(&out);
    return 0;
}
