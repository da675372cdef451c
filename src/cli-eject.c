/*
 * `slipway eject PROJECT`: downloads a project's eject archive (GET /api/eject/{project},
 * docs/gitops.md) from a running slipway and writes it to a file, whole or not at all.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "cli-client.h"
#include "cli-eject.h"

#define ARCHIVE_MAX ((size_t)128 << 20) /* the server's PKG_EJECT_MAX */

const char cli_eject_usage[] =
    "Usage: slipway eject PROJECT [-o FILE] [--server URL] [--token T] [--workspace W]\n"
    "\n"
    "Downloads PROJECT's eject archive: a tar.gz with its GitOps repository (as files and as\n"
    "a git bundle with the whole history), an ArgoCD Application per environment, build.sh\n"
    "and a README, so the project runs without slipway (docs/gitops.md, \"Eject\"). Works\n"
    "while the workspace is suspended.\n"
    "\n"
    "  -o FILE          where to write it (default PROJECT.tar.gz; - for standard output)\n"
    "  --server URL     a running slipway (or SLIPWAY_SERVER), e.g. http://127.0.0.1:8080\n"
    "  --token T        an API token (slp_...) or access token (or SLIPWAY_TOKEN)\n"
    "  --workspace W    the project's workspace (or SLIPWAY_WORKSPACE; default: your\n"
    "                   personal workspace)\n"
    "\n"
    "Exit status: 0 written, 1 refused or failed (the message says why), 2 a usage error.\n";

static int usage(const char *fmt, ...) APP_PRINTF(1, 2);
static int usage(const char *fmt, ...)
{
    va_list ap;

    fputs("slipway eject: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(slipway help eject)\n", stderr);
    return 2;
}

/* Writes <b> to <path> whole or not at all (file_write_atomic), or to standard output. */
static int write_file(const char *path, const struct sbuf *b, struct err *err)
{
    if (strcmp(path, "-") != 0)
        return file_write_atomic(path, b->buf, b->len, 0600, err);
    return fwrite(b->buf, 1, b->len, stdout) == b->len && fflush(stdout) == 0
               ? 0
               : err_set(err, ERR_IO, "standard output: write failed");
}

int cli_eject_main(int argc, char **argv)
{
    struct cli_server s = {0};
    const char *project = NULL, *out = NULL;
    struct sbuf body = SBUF_INIT(ARCHIVE_MAX), path = SBUF_INIT(512), file = SBUF_INIT(512);
    struct err err = {0};
    int rc;

    for (int i = 0; i < argc; i++) {
        const char **slot = strcmp(argv[i], "-o") == 0            ? &out
                            : strcmp(argv[i], "--server") == 0    ? &s.url
                            : strcmp(argv[i], "--token") == 0     ? &s.token
                            : strcmp(argv[i], "--workspace") == 0 ? &s.workspace
                                                                  : NULL;

        if (slot != NULL && i + 1 == argc)
            return usage("%s needs a value", argv[i]);
        if (slot != NULL)
            *slot = argv[++i];
        else if (argv[i][0] == '-')
            return usage("unknown option %s", argv[i]);
        else if (project != NULL)
            return usage("one PROJECT only");
        else
            project = argv[i];
    }
    cli_server_from_env(&s);
    if (project == NULL || !slug_valid(slice_from_cstr(project)))
        return usage("PROJECT: a project id, ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$");
    if (s.url == NULL || s.url[0] == '\0' || s.token == NULL || s.token[0] == '\0')
        return usage("needs a server and a token: --server URL --token T (or SLIPWAY_SERVER "
                     "and SLIPWAY_TOKEN)");
    sbuf_printf(&path, "/api/eject/%s", project);
    sbuf_printf(&file, "%s.tar.gz", project);
    rc = cli_request(&s, "GET", path.buf, "application/gzip", 0, ARCHIVE_MAX, &body, &err);
    if (rc == 0)
        rc = write_file(out ? out : file.buf, &body, &err);
    if (rc == 0 && (out == NULL || strcmp(out, "-") != 0))
        fprintf(stderr, "slipway eject: wrote %s (%zu bytes)\n", out ? out : file.buf, body.len);
    else if (rc < 0)
        fprintf(stderr, "slipway eject: %s\n", err.msg);
    sbuf_release(&body);
    sbuf_release(&path);
    sbuf_release(&file);
    return rc < 0 ? 1 : 0;
}
