/* The small parsers of src/bld/parse.c, on the cases the fixtures do not reach. */
#include "../test.h"

#include "base/base.h"
#include "bld/bld-int.h"

struct names {
    char buf[256];
};

static void collect(void *arg, struct slice name, struct slice value)
{
    struct names *n = arg;
    size_t len = strlen(n->buf);

    snprintf(n->buf + len, sizeof(n->buf) - len, "%.*s=%.*s;", SLICE_ARG(name), SLICE_ARG(value));
}

TEST(procfile_lines)
{
    struct slice name, cmd;
    struct err err = {0};

    OK(bld_procfile_pick(SLICE("worker: a\r\nweb:  b c \n"), &name, &cmd, &err));
    CHECK(slice_eq_cstr(name, "web") && slice_eq_cstr(cmd, "b c"));
    CHECK_INT_EQ(bld_procfile_pick(SLICE("web python\n"), &name, &cmd, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "line 1");
    CHECK_INT_EQ(bld_procfile_pick(SLICE("# only\n\nweb:\n"), &name, &cmd, &err), ERR_NOTFOUND);
}

TEST(requirements_names)
{
    struct names n = {{0}};
    struct err err = {0};

    OK(bld_requirements_parse(SLICE("Django>=5 # web\n-e .\nuvicorn[standard]\nx @ https://h/x\n"
                                    "git+https://h/y\nz.b_c;python_version<'3'\na \\\n  b\n"),
                              collect, &n, &err));
    CHECK_STR_EQ(n.buf, "Django=;uvicorn=;x=;z.b_c=;a=;");
}

TEST(pyproject_tables)
{
    struct bld_pyproject p;
    struct names n = {{0}};
    struct err err = {0};

    OK(bld_pyproject_parse(SLICE("title = \"\"\"a\n[project]\n\"\"\"\n[project]\nname = 'svc'\n"
                                 "dependencies = [\"flask>=3\", # c ]\n [\"nested\"], 'gunicorn']\n"
                                 "[tool.poetry.dependencies]\npython = \"^3.12\"\nrich = \"*\"\n"),
                           &p, collect, &n, &err));
    CHECK(slice_eq_cstr(p.name, "svc"));
    CHECK(slice_eq_cstr(p.requires_python, "^3.12"));
    CHECK(p.poetry);
    CHECK_STR_EQ(n.buf, "flask=;gunicorn=;rich=;");
    CHECK_INT_EQ(
        bld_pyproject_parse(SLICE("[project]\ndependencies = [\n\"a\"\n"), &p, collect, &n, &err),
        ERR_INVALID);
    CHECK_CONTAINS(err.msg, "line 2: array or inline table not closed");
    CHECK_INT_EQ(bld_pyproject_parse(SLICE("name = \"x\nnext\"\n"), &p, collect, &n, &err),
                 ERR_INVALID);
}

TEST(gomod_directives)
{
    struct bld_gomod m;
    struct names n = {{0}};
    struct err err = {0};

    OK(bld_gomod_parse(SLICE("// c\nmodule \"ex.com/m\" // c\ngo 1.22\ntoolchain go1.22.3\n"
                             "require a v1\nrequire (\n  b v2 // indirect\n)\n"
                             "replace (\n c => ../c\n)\n"),
                       &m, collect, &n, &err));
    CHECK(slice_eq_cstr(m.module, "ex.com/m") && slice_eq_cstr(m.go_version, "1.22"));
    CHECK(slice_eq_cstr(m.toolchain, "go1.22.3"));
    CHECK_STR_EQ(n.buf, "a=v1;b=v2;");
    CHECK_INT_EQ(bld_gomod_parse(SLICE("module m\nrequire (\n a v1\n"), &m, collect, &n, &err),
                 ERR_INVALID);
    CHECK_CONTAINS(err.msg, "line 2: block not closed");
    CHECK_INT_EQ(bld_gomod_parse(SLICE("go 1.2\n"), &m, collect, &n, &err), ERR_INVALID);
}

TEST(nvmrc_versions)
{
    struct slice v;
    struct err err = {0};

    OK(bld_nvmrc_parse(SLICE("\n# c\n v20.11.1 \n"), &v, &err));
    CHECK(slice_eq_cstr(v, "20.11.1"));
    OK(bld_nvmrc_parse(SLICE("lts/*\n"), &v, &err));
    CHECK_INT_EQ(bld_nvmrc_parse(SLICE("20; rm -rf /\n"), &v, &err), ERR_INVALID);
    CHECK_INT_EQ(bld_nvmrc_parse(SLICE("\n"), &v, &err), ERR_NOTFOUND);
}

TEST(dockerfile_expose_and_labels)
{
    struct err err = {0};
    char label[64];
    int port;

    OK(bld_dockerfile_port(SLICE("FROM x\nexpose $P\nEXPOSE 5000/udp 6000\n"), &port, &err));
    CHECK_INT_EQ(port, 5000);
    CHECK_INT_EQ(bld_dockerfile_port(SLICE("EXPOSE 0\n"), &port, &err), ERR_INVALID);
    bld_dns_label(SLICE("--My_App.v2--"), label);
    CHECK_STR_EQ(label, "my-app-v2");
    bld_dns_label(SLICE("@@"), label);
    CHECK_STR_EQ(label, "app");
}
