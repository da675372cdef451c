/*
 * libFuzzer harness for .nvmrc and .node-version (src/bld/parse.c). Beyond "no crash, no leak":
 * every slice it hands back lies inside the input, and a failure carries a code and a message.
 */
#include "../bld-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct slice v = SLICE_NULL;
    struct err err = {0};
    int rc;

    fuzz_input = (struct slice){(const char *)data, size};
    rc = bld_nvmrc_parse(fuzz_input, &v, &err);
    if (rc < 0) {
        failed(rc, &err);
        return 0;
    }
    ASSERT(v.len > 0 && v.len <= 64 && memchr(v.ptr, '\n', v.len) == NULL);
    inside(v);
    return 0;
}
