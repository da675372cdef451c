/*
 * libFuzzer harness for pyproject.toml and Pipfile (src/bld/parse.c). Beyond "no crash, no leak":
 * every slice it hands back lies inside the input, and a failure carries a code and a message.
 */
#include "../bld-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bld_pyproject out;
    struct err err = {0};
    size_t count = 0;
    int rc;

    fuzz_input = (struct slice){(const char *)data, size};
    rc = bld_pyproject_parse(fuzz_input, &out, seen, &count, &err);
    if (rc < 0) {
        ASSERT(rc == ERR_INVALID);
        failed(rc, &err);
        return 0;
    }
    inside(out.name);
    inside(out.requires_python);
    return 0;
}
