/*
 * `slipway eject PROJECT`: downloads a project's eject archive (GET /api/eject/{project},
 * docs/gitops.md) from a running slipway and writes it to a file, whole or not at all.
 */
#include <stdio.h>
#include <stdlib.h> /* before base.h: jansson.h (cli-out.h) needs it */

#include "base/base.h"
#include "cli-auth.h"
#include "cli-client.h"
#include "cli-eject.h"
#include "cli-out.h"

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
    "  --server URL     a running slipway (or SLIPWAY_SERVER; default: the stored login's,\n"
    "                   slipway login), e.g. http://127.0.0.1:8080\n"
    "  --token T        an API token (slp_...) or access token (or SLIPWAY_TOKEN; default:\n"
    "                   the stored login's, for its own server only)\n"
    "  --workspace W    the project's workspace (or SLIPWAY_WORKSPACE; default: the stored\n"
    "                   login's active one, else your personal workspace)\n"
    "\n"
    "Exit status: 0 written, 1 refused or failed (the message says why), 2 a usage error.\n";

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
    struct cli_cmd c = {.name = "eject"};
    const char *out = NULL, *project;
    const struct cli_opt opts[] = {{"-o", NULL, &out, NULL}, {NULL, NULL, NULL, NULL}};
    struct sbuf body = SBUF_INIT(ARCHIVE_MAX), path = SBUF_INIT(512), file = SBUF_INIT(512);
    struct err err = {0};
    int rc;

    if ((rc = cli_cmd_parse(&c, opts, argc, argv)) != 0)
        return rc;
    if (c.json)
        return cli_usage(&c, "unknown option --json");
    if (c.npos != 1)
        return cli_usage(&c, c.npos == 0 ? "needs PROJECT" : "one PROJECT only");
    project = c.pos[0];
    if ((rc = cli_check_slug(&c, "PROJECT", project)) != 0 || (rc = cli_auth_connect(&c)) != 0)
        return rc;
    sbuf_printf(&path, "/api/eject/%s", project);
    sbuf_printf(&file, "%s.tar.gz", project);
    rc = cli_request(&c.s, "GET", path.buf, "application/gzip", 0, ARCHIVE_MAX, &body, &err);
    if (rc == 0)
        rc = write_file(out ? out : file.buf, &body, &err);
    if (rc == 0 && (out == NULL || strcmp(out, "-") != 0))
        fprintf(stderr, "slipway eject: wrote %s (%zu bytes)\n", out ? out : file.buf, body.len);
    sbuf_release(&body);
    sbuf_release(&path);
    sbuf_release(&file);
    return rc < 0 ? cli_fail(&c, &err) : 0;
}
