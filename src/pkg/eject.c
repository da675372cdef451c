/*
 * pkg eject: a project's repository as a tar.gz that runs without slipway (see pkg-int.h).
 *
 * Everything is read at one commit: refs/heads/main is resolved once, and every later read
 * names that commit's id, so a deploy landing meanwhile changes nothing in the archive and
 * no lock is needed. The archive is built in two steps: every entry (path, bytes, mode) is
 * collected first, then the entries are sorted by path and written, so two ejects of the same
 * commit give the same bytes whatever order the pieces were made in. The git bundle is made
 * with libgit2's packbuilder on a handle of its own: struct pkg_repo keeps its libgit2
 * handle private, and the packbuilder is the one thing here the pkg_repo_* calls cannot do.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>
#include <jansson.h>

#include "base/base.h"
#include "pkg/pkg-int.h"

#define MAIN_REF "refs/heads/main"

/* One file or directory of the archive. <path> and <data> live in the eject's arena. */
struct ent {
    const char *path;
    struct slice data;
    unsigned mode;
    bool dir;
};

struct eject {
    const struct pkg_project *p;
    struct pkg_repo *r;
    git_repository *git;
    git_oid head;
    char rev[PKG_OID_HEX + 1]; /* every read names this commit */
    int64_t time;              /* its commit time: every entry's mtime */
    struct arena *a;           /* budget PKG_EJECT_MAX: the bytes of every entry */
    struct ent *v;             /* heap */
    size_t n, cap;
    json_t *base; /* base/values.yaml */
    char **envs;  /* names of environments/<env>/, in git's order; heap */
    size_t nenvs;
    struct err *err;
};

static int oom(struct err *err)
{
    return err_set(err, ERR_LIMIT, "eject: the archive is over %zu bytes", (size_t)PKG_EJECT_MAX);
}

/* ---------------------------------------------------------------- entries */

static int ent_add(struct eject *e, const char *path, struct slice data, unsigned mode, bool dir)
{
    if (path == NULL)
        return oom(e->err);
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 64;
        e->v = xrealloc(e->v, e->cap * sizeof(*e->v));
    }
    e->v[e->n++] = (struct ent){path, data, mode, dir};
    return 0;
}

/* Adds the file <slug>/<name> holding <b>'s bytes (copied). */
static int ent_file(struct eject *e, const char *name, const struct sbuf *b, unsigned mode)
{
    struct slice data;

    if (b->err != 0)
        return oom(e->err);
    data = slice_dup(e->a, sbuf_slice(b));
    if (data.ptr == NULL)
        return oom(e->err);
    return ent_add(e, arena_printf(e->a, "%s/%s", e->p->slug, name), data, mode, false);
}

static int ent_cmp(const void *x, const void *y)
{
    return strcmp(((const struct ent *)x)->path, ((const struct ent *)y)->path);
}

/* ---------------------------------------------------------------- the tree at main */

struct listing {
    struct {
        char *name;
        bool dir;
    } * v;
    size_t n, cap;
};

static bool listing_add(void *arg, const char *name, enum pkg_entry_kind kind)
{
    struct listing *l = arg;

    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n].name = xstrdup(name);
    l->v[l->n++].dir = kind == PKG_ENTRY_DIR;
    return true;
}

static void listing_release(struct listing *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].name);
    free(l->v);
}

/* Adds <slug>/repository/<dir>/… for everything under <dir> ("" = the top) at e->rev. */
static int tree_add(struct eject *e, const char *dir)
{
    struct listing l = {0};
    int rc = pkg_repo_list(e->r, e->rev, dir, listing_add, &l, e->err);

    for (size_t i = 0; i < l.n && rc == 0; i++) {
        char *path = dir[0] ? arena_printf(e->a, "%s/%s", dir, l.v[i].name)
                            : arena_strndup(e->a, l.v[i].name, strlen(l.v[i].name));
        struct slice data = SLICE_NULL;

        if (path == NULL) {
            rc = oom(e->err);
            break;
        }
        if (!l.v[i].dir)
            rc = pkg_repo_read(e->r, e->rev, path, e->a, &data, e->err);
        if (rc == 0)
            rc = ent_add(e, arena_printf(e->a, "%s/repository/%s", e->p->slug, path), data,
                         l.v[i].dir ? 0755 : 0644, l.v[i].dir);
        if (rc == 0 && l.v[i].dir)
            rc = tree_add(e, path);
    }
    listing_release(&l);
    return rc == ERR_LIMIT ? oom(e->err) : rc;
}

/* e->base from base/values.yaml, e->envs from the directories under environments/. */
static int values_load(struct eject *e)
{
    struct listing l = {0};
    struct pkg_yaml *doc = NULL;
    struct slice text;
    int rc = pkg_repo_read(e->r, e->rev, "base/values.yaml", e->a, &text, e->err);

    if (rc == 0)
        rc = pkg_yaml_parse(text, NULL, &doc, e->err);
    if (rc == 0)
        rc = pkg_yaml_to_json(doc, &e->base, e->err);
    pkg_yaml_free(doc);
    if (rc < 0)
        return err_wrap(e->err, "base/values.yaml");
    rc = pkg_repo_list(e->r, e->rev, "environments", listing_add, &l, e->err);
    if (rc == ERR_NOTFOUND)
        rc = 0; /* no environment yet */
    e->envs = xcalloc(l.n + 1, sizeof(*e->envs));
    for (size_t i = 0; i < l.n; i++)
        if (l.v[i].dir) {
            e->envs[e->nenvs++] = l.v[i].name;
            l.v[i].name = NULL;
        }
    listing_release(&l);
    return rc;
}

/* ---------------------------------------------------------------- repository.bundle */

static int pack_put(void *buf, size_t size, void *payload)
{
    struct sbuf *b = payload;

    sbuf_put(b, buf, size);
    return b->err != 0 ? -1 : 0;
}

/* A v2 bundle: the header names main (and HEAD, so that `git clone` checks main out), then a
 * packfile of every object reachable from it, so the clone has the whole history. */
static int bundle_add(struct eject *e)
{
    struct sbuf b = SBUF_INIT(PKG_EJECT_MAX);
    git_packbuilder *pb = NULL;
    git_revwalk *walk = NULL;
    int grc, rc;

    sbuf_printf(&b, "# v2 git bundle\n%s HEAD\n%s " MAIN_REF "\n\n", e->rev, e->rev);
    grc = git_packbuilder_new(&pb, e->git);
    if (grc == 0)
        grc = git_revwalk_new(&walk, e->git);
    if (grc == 0)
        grc = git_revwalk_push(walk, &e->head);
    if (grc == 0)
        grc = git_packbuilder_insert_walk(pb, walk);
    if (grc == 0)
        grc = git_packbuilder_foreach(pb, pack_put, &b);
    if (b.err != 0) {
        rc = oom(e->err);
    } else if (grc < 0) {
        const git_error *ge = git_error_last();

        rc = err_set(e->err, ERR_IO, "eject: bundle: %s", ge && ge->message ? ge->message : "?");
    } else {
        rc = ent_file(e, "repository.bundle", &b, 0644);
    }
    git_revwalk_free(walk);
    git_packbuilder_free(pb);
    sbuf_release(&b);
    return rc;
}

/* ---------------------------------------------------------------- argocd/<env>.yaml */

/* The namespace environments/<env>/kustomization.yaml puts everything in; the one render.c
 * would pick when that file is missing or unreadable. */
static char *env_namespace(struct eject *e, const char *env)
{
    char *path = arena_printf(e->a, "environments/%s/kustomization.yaml", env);
    struct pkg_yaml *doc = NULL;
    struct slice text, ns = SLICE_NULL;
    struct err ignored = {0};
    char *out = NULL;

    if (path != NULL && pkg_repo_read(e->r, e->rev, path, e->a, &text, &ignored) == 0 &&
        pkg_yaml_parse(text, NULL, &doc, &ignored) == 0 &&
        pkg_yaml_get_str(doc, "namespace", &ns, &ignored) == 0)
        out = arena_strndup(e->a, ns.ptr, ns.len);
    pkg_yaml_free(doc);
    if (out == NULL)
        out = arena_printf(e->a, "%s-%s-%s", e->p->workspace_slug, e->p->slug, env);
    return out;
}

static int argocd_add(struct eject *e, const char *env)
{
    const char *ns = env_namespace(e, env);
    char *name = arena_printf(e->a, "%s-%s", e->p->slug, env);
    char *path = arena_printf(e->a, "environments/%s", env);
    struct sbuf b = SBUF_INIT(64 << 10);
    json_t *app;
    int rc;

    if (ns == NULL || name == NULL || path == NULL)
        return oom(e->err);
    app = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s}, "
                    "s:{s:{s:b, s:b}}}}",
                    "apiVersion", "argoproj.io/v1alpha1", "kind", "Application", "metadata", "name",
                    name, "namespace", "argocd", "spec", "project", "default", "source", "repoURL",
                    PKG_EJECT_REPO_PLACEHOLDER, "targetRevision", "main", "path", path,
                    "destination", "server", "https://kubernetes.default.svc", "namespace", ns,
                    "syncPolicy", "automated", "prune", 1, "selfHeal", 1);
    if (app == NULL)
        return err_set(e->err, ERR_INTERNAL, "eject: out of memory");
    sbuf_printf(&b,
                "# ArgoCD Application: environment %s of %s.\n"
                "# spec.source.repoURL is a placeholder: replace it with the URL of the\n"
                "# repository you pushed repository.bundle to (see README.md).\n",
                env, e->p->slug);
    pkg_yaml_write_json(&b, app);
    json_decref(app);
    name = arena_printf(e->a, "argocd/%s.yaml", env);
    rc = name != NULL ? ent_file(e, name, &b, 0644) : oom(e->err);
    sbuf_release(&b);
    return rc;
}

/* ---------------------------------------------------------------- build.sh */

/* <s> as one shell word in single quotes; line breaks become spaces when <one_line>. */
static void sh_quote(struct sbuf *b, const char *s, bool one_line)
{
    sbuf_putc(b, '\'');
    for (; s != NULL && *s != '\0'; s++) {
        if (*s == '\'')
            sbuf_puts(b, "'\\''");
        else if (one_line && (*s == '\n' || *s == '\r'))
            sbuf_putc(b, ' ');
        else
            sbuf_putc(b, *s);
    }
    sbuf_putc(b, '\'');
}

/* Which Dockerfile a framework the builder detected gets; "auto" looks at the files. */
static const char *framework_family(const char *fw)
{
    static const struct {
        const char *name, *family;
    } map[] = {
        {"node", "node"},      {"express", "node"},   {"nextjs", "node"},   {"next", "node"},
        {"nestjs", "node"},    {"nuxt", "node"},      {"remix", "node"},    {"fastify", "node"},
        {"koa", "node"},       {"react", "node"},     {"vue", "node"},      {"svelte", "node"},
        {"sveltekit", "node"}, {"astro", "node"},     {"python", "python"}, {"django", "python"},
        {"flask", "python"},   {"fastapi", "python"}, {"go", "go"},         {"gin", "go"},
        {"echo", "go"},        {"fiber", "go"},       {"static", "static"}, {"html", "static"},
    };

    for (size_t i = 0; fw != NULL && i < ARRAY_LEN(map); i++)
        if (strcmp(fw, map[i].name) == 0)
            return map[i].family;
    return "auto";
}

static const char *str_at(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* One `build_one` line (a service with a source) or `prebuilt` line (an image only). */
static void build_line(struct sbuf *b, const char *name, const json_t *svc)
{
    const json_t *src = json_object_get(svc, "source");
    const char *start = str_at(svc, "customStartCommand");
    const char *ctx = str_at(src, "contextPath");

    if (!json_is_object(src)) {
        sbuf_printf(b, "prebuilt %s ", name);
        sh_quote(b, str_at(svc, "image"), true);
        sbuf_putc(b, '\n');
        return;
    }
    if (start == NULL)
        start = str_at(svc, "startCommand");
    sbuf_printf(b, "build_one %s ", name);
    sh_quote(b, str_at(src, "repository"), true);
    sbuf_putc(b, ' ');
    sh_quote(b, str_at(src, "ref"), true);
    sbuf_putc(b, ' ');
    sh_quote(b, ctx != NULL && ctx[0] != '\0' ? ctx : ".", true);
    sbuf_printf(b, " %s %" JSON_INTEGER_FORMAT " ", framework_family(str_at(svc, "framework")),
                json_integer_value(json_object_get(svc, "port")));
    sh_quote(b, start, true);
    sbuf_putc(b, '\n');
}

static const char build_head[] =
    "#!/bin/sh\n"
    "# Rebuilds the images of this project's services from their sources and pushes them.\n"
    "#   REGISTRY=registry.example.com/team [TAG=v1] ./build.sh [service ...]\n"
    "# Images go to $REGISTRY/<service>:<tag>; the tag is $TAG, else the source commit.\n"
    "# Needs git, and docker or buildah. A source without a Dockerfile gets a simple one.\n"
    "set -eu\n"
    "\n"
    ": \"${REGISTRY:?set REGISTRY to the registry path to push to}\"\n"
    "ONLY=\"$*\"\n"
    "WORK=$(mktemp -d)\n"
    "trap 'rm -rf \"$WORK\"' EXIT\n"
    "\n"
    "if command -v docker >/dev/null 2>&1; then\n"
    "    BUILD=\"docker build\" PUSH=\"docker push\"\n"
    "elif command -v buildah >/dev/null 2>&1; then\n"
    "    BUILD=\"buildah bud\" PUSH=\"buildah push\"\n"
    "else\n"
    "    echo \"build.sh: neither docker nor buildah is installed\" >&2\n"
    "    exit 1\n"
    "fi\n"
    "\n"
    "wanted() {\n"
    "    [ -z \"$ONLY\" ] && return 0\n"
    "    case \" $ONLY \" in *\" $1 \"*) return 0 ;; esac\n"
    "    return 1\n"
    "}\n"
    "\n";

/* dockerfile FAMILY PORT START: run in the source directory; prints a Dockerfile. */
static const char build_dockerfile[] =
    "dockerfile() {\n"
    "    family=$1 port=$2 start=$3\n"
    "    if [ \"$family\" = auto ]; then\n"
    "        if [ -f package.json ]; then family=node\n"
    "        elif [ -f requirements.txt ] || [ -f pyproject.toml ]; then family=python\n"
    "        elif [ -f go.mod ]; then family=go\n"
    "        else family=static; fi\n"
    "    fi\n"
    "    case $family in\n"
    "    node)\n"
    "        [ -n \"$start\" ] || start=\"npm start\"\n"
    "        printf '%s\\n' 'FROM node:20-slim' 'WORKDIR /app' 'COPY package*.json ./' \\\n"
    "            'RUN if [ -f package-lock.json ]; then npm ci; else npm install; fi' \\\n"
    "            'COPY . .' 'RUN npm run build --if-present && npm prune --omit=dev'\n"
    "        ;;\n"
    "    python)\n"
    "        [ -n \"$start\" ] || start=\"python main.py\"\n"
    "        printf '%s\\n' 'FROM python:3.12-slim' 'WORKDIR /app' 'COPY . .' \\\n"
    "            'RUN if [ -f requirements.txt ]; then pip install --no-cache-dir -r "
    "requirements.txt; elif [ -f pyproject.toml ]; then pip install --no-cache-dir .; fi'\n"
    "        ;;\n"
    "    go)\n"
    "        [ -n \"$start\" ] || start=/app/server\n"
    "        printf '%s\\n' 'FROM golang:1.22 AS build' 'WORKDIR /src' 'COPY . .' \\\n"
    "            'RUN CGO_ENABLED=0 go build -o /out/server .' 'FROM debian:12-slim' \\\n"
    "            'WORKDIR /app' 'COPY --from=build /out/server /app/server'\n"
    "        ;;\n"
    "    *)\n"
    "        start='httpd -f -v -p \"$PORT\" -h /www'\n"
    "        printf '%s\\n' 'FROM busybox:1.36' 'COPY . /www'\n"
    "        ;;\n"
    "    esac\n"
    "    printf 'ENV PORT=%s HOME=/tmp\\nEXPOSE %s\\nUSER 10001\\nCMD %s\\n' \\\n"
    "        \"$port\" \"$port\" \"$start\"\n"
    "}\n"
    "\n";

/* build_one NAME REPOSITORY REF CONTEXT FAMILY PORT START */
static const char build_one[] =
    "build_one() {\n"
    "    name=$1 repo=$2 ref=$3 ctx=$4 family=$5 port=$6 start=$7\n"
    "    wanted \"$name\" || return 0\n"
    "    echo \"== $name: $repo at $ref\"\n"
    "    git clone --quiet \"$repo\" \"$WORK/$name\"\n"
    "    [ -z \"$ref\" ] || git -C \"$WORK/$name\" checkout --quiet \"$ref\"\n"
    "    tag=${TAG:-$(git -C \"$WORK/$name\" rev-parse --short=12 HEAD)}\n"
    "    dir=$WORK/$name/$ctx\n"
    "    file=$dir/Dockerfile\n"
    "    if [ ! -f \"$file\" ]; then\n"
    "        file=$WORK/$name.Dockerfile\n"
    "        (cd \"$dir\" && dockerfile \"$family\" \"$port\" \"$start\") >\"$file\"\n"
    "    fi\n"
    "    image=$REGISTRY/$name:$tag\n"
    "    $BUILD -t \"$image\" -f \"$file\" \"$dir\"\n"
    "    $PUSH \"$image\"\n"
    "    echo \"$name: pushed $image\"\n"
    "}\n"
    "\n"
    "prebuilt() {\n"
    "    wanted \"$1\" || return 0\n"
    "    echo \"$1: prebuilt image $2, nothing to build\"\n"
    "}\n"
    "\n";

static int build_sh_add(struct eject *e)
{
    struct sbuf b = SBUF_INIT(4 << 20);
    const char *name;
    json_t *svc;
    int rc;

    sbuf_puts(&b, build_head);
    sbuf_puts(&b, build_dockerfile);
    sbuf_puts(&b, build_one);
    json_object_foreach(json_object_get(e->base, "services"), name, svc) build_line(&b, name, svc);
    rc = ent_file(e, "build.sh", &b, 0755);
    sbuf_release(&b);
    return rc;
}

/* ---------------------------------------------------------------- README.md */

static void readme_services(struct eject *e, struct sbuf *b)
{
    const char *name;
    json_t *svc;
    size_t n = 0;

    json_object_foreach(json_object_get(e->base, "services"), name, svc)
    {
        const json_t *src = json_object_get(svc, "source");

        if (json_is_object(src))
            sbuf_printf(b, "- `%s`: built from %s at `%s`\n", name, str_at(src, "repository"),
                        str_at(src, "ref") ? str_at(src, "ref") : "its default branch");
        else
            sbuf_printf(b, "- `%s`: prebuilt image `%s`, nothing to build\n", name,
                        str_at(svc, "image"));
        n++;
    }
    if (n == 0)
        sbuf_puts(b, "- (no service yet)\n");
}

static void readme_head(struct eject *e, struct sbuf *b)
{
    const char *title = e->p->display_name != NULL && e->p->display_name[0] != '\0'
                            ? e->p->display_name
                            : e->p->slug;
    char when[32];

    time_rfc3339_ms((uint64_t)(e->time > 0 ? e->time : 0) * 1000, when);
    sbuf_printf(
        b,
        "# %s: ejected GitOps repository\n\n"
        "This archive holds the desired state of project `%s` as it was at\n"
        "commit `%s` of branch `main`,\n"
        "made %s. Nothing in it needs the platform it came from: git, kubectl\n"
        "(or ArgoCD) and a container builder are enough.\n\n"
        "## What is here\n\n"
        "| Path | What |\n|---|---|\n"
        "| `repository.bundle` | The repository with its whole history, as a git bundle. |\n"
        "| `repository/` | The files at that commit, to read first. |\n"
        "| `argocd/<env>.yaml` | One ArgoCD `Application` per environment. |\n"
        "| `build.sh` | Rebuilds each service's image from its source. |\n\n"
        "`repository/README.md` and `repository/` itself explain the layout:\n"
        "`base/values.yaml`, `environments/<env>/values.yaml`, and the plain Kubernetes\n"
        "manifests rendered from them in `environments/<env>/manifests/`.\n\n",
        title, e->p->slug, e->rev, when);
    sbuf_puts(b, "Environments:\n\n");
    for (size_t i = 0; i < e->nenvs; i++)
        sbuf_printf(b, "- `%s`\n", e->envs[i]);
    if (e->nenvs == 0)
        sbuf_puts(b, "- (no environment yet)\n");
    sbuf_puts(b, "\nServices:\n\n");
    readme_services(e, b);
}

static const char readme_body[] =
    "\n## 1. Push the repository to your own git host\n\n"
    "```sh\n"
    "git clone repository.bundle %s\n"
    "cd %s\n"
    "git remote set-url origin https://git.example.com/you/%s.git   # your repository\n"
    "git push -u origin main\n"
    "```\n\n"
    "`git log` shows every change ever made, with its author.\n\n"
    "## 2. Deploy with kubectl\n\n"
    "```sh\n"
    "kubectl apply -k repository/environments/<env>\n"
    "```\n\n"
    "Each environment lives in its own namespace (set in its `kustomization.yaml`). Before\n"
    "applying, the cluster needs:\n\n"
    "- the Gateway API CRDs and a `Gateway` named `slipway` in namespace `slipway-system`:\n"
    "  the `HTTPRoute`s attach to it and the `NetworkPolicy`s admit traffic from that\n"
    "  namespace (or edit `parentRefs` and the policies to name your own gateway);\n"
    "- the secrets described in step 4.\n\n"
    "## 3. Or deploy with ArgoCD\n\n"
    "The files in `argocd/` point at the placeholder\n"
    "`" PKG_EJECT_REPO_PLACEHOLDER "`.\n"
    "Replace it with the URL you pushed to in step 1, then apply them:\n\n"
    "```sh\n"
    "sed -i 's|" PKG_EJECT_REPO_PLACEHOLDER "|https://git.example.com/you/%s.git|' argocd/*.yaml\n"
    "kubectl apply -n argocd -f argocd/\n"
    "```\n\n"
    "Each Application syncs `environments/<env>` of branch `main` automatically, pruning\n"
    "what is removed and undoing changes made by hand in the cluster.\n\n"
    "## 4. Secrets must be created again\n\n"
    "Secret variables are not in this archive. `manifests/sealedsecret.yaml` holds them only as\n"
    "`enc:v1:` ciphertexts in a SealedSecret-shaped placeholder, sealed with a key that stays\n"
    "behind (see the repository's documentation of `sealedsecret.yaml`). For each key listed\n"
    "under `encryptedData`, get the value from whoever owns it and seal it for your cluster,\n"
    "for example with the sealed-secrets controller and `kubeseal`:\n\n"
    "```sh\n"
    "kubectl create secret generic %s-secrets -n <namespace> --dry-run=client -o yaml \\\n"
    "  --from-literal=<service>.<NAME>=<value> \\\n"
    "  | kubeseal -o yaml > repository/environments/<env>/manifests/sealedsecret.yaml\n"
    "```\n\n"
    "Variables that refer to a database read a `Secret` named `<database>-credentials`\n"
    "(keys `url`, `host`, `port`, `user`, `password`, `name`): create one per database.\n\n"
    "## 5. Rebuild the images\n\n"
    "```sh\n"
    "REGISTRY=registry.example.com/team ./build.sh            # every service with a source\n"
    "REGISTRY=registry.example.com/team TAG=v2 ./build.sh api  # one service, a chosen tag\n"
    "```\n\n"
    "The manifests pin each image by digest in the registry it was built for. After a\n"
    "rebuild, point them at the new image, for example with an `images:` entry (`name`,\n"
    "`newName`, `digest`) in `environments/<env>/kustomization.yaml`.\n\n"
    "## Changing things from here on\n\n"
    "The values files document what each environment runs, but nothing renders the manifests\n"
    "from them any more: change the manifests under `environments/<env>/manifests/` directly,\n"
    "commit, and push (ArgoCD applies them), or `kubectl apply -k` again.\n";

static int readme_add(struct eject *e)
{
    struct sbuf b = SBUF_INIT(1 << 20);
    const char *s = e->p->slug;
    int rc;

    readme_head(e, &b);
    sbuf_printf(&b, readme_body, s, s, s, s, s);
    rc = ent_file(e, "README.md", &b, 0644);
    sbuf_release(&b);
    return rc;
}

/* ---------------------------------------------------------------- tar.gz */

struct sink {
    struct sbuf *out;
    size_t start;
    bool over;
};

static la_ssize_t sink_write(struct archive *ar, void *arg, const void *buf, size_t n)
{
    struct sink *s = arg;

    if (s->out->len - s->start + n > PKG_EJECT_MAX || (sbuf_put(s->out, buf, n), s->out->err)) {
        s->over = true;
        archive_set_error(ar, EFBIG, "archive too large");
        return -1;
    }
    return (la_ssize_t)n;
}

static int tar_entry(struct archive *ar, struct archive_entry *ae, const struct ent *t,
                     int64_t mtime)
{
    archive_entry_clear(ae);
    archive_entry_set_pathname(ae, t->path);
    archive_entry_set_filetype(ae, t->dir ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(ae, t->mode);
    archive_entry_set_size(ae, t->dir ? 0 : (la_int64_t)t->data.len);
    archive_entry_set_mtime(ae, (time_t)mtime, 0);
    archive_entry_set_uid(ae, 0);
    archive_entry_set_gid(ae, 0);
    if (archive_write_header(ar, ae) != ARCHIVE_OK)
        return -1;
    if (!t->dir && t->data.len > 0 &&
        archive_write_data(ar, t->data.ptr, t->data.len) != (la_ssize_t)t->data.len)
        return -1;
    return 0;
}

/* pax (ustar, plus an extended header only for a name over 100 bytes), gzip without a
 * timestamp: the only varying bytes would otherwise be the time of the eject. */
static int tar_write(struct eject *e, struct sbuf *out)
{
    struct sink s = {out, out->len, false};
    struct archive *ar = archive_write_new();
    struct archive_entry *ae = archive_entry_new();
    int rc = 0, arc;

    if (ar == NULL || ae == NULL)
        rc = err_set(e->err, ERR_INTERNAL, "eject: libarchive: out of memory");
    arc = rc == 0 ? archive_write_set_format_pax_restricted(ar) : ARCHIVE_FATAL;
    if (arc == ARCHIVE_OK)
        arc = archive_write_add_filter_gzip(ar);
    if (arc == ARCHIVE_OK)
        arc = archive_write_set_filter_option(ar, "gzip", "timestamp", NULL);
    if (arc == ARCHIVE_OK) /* no padding of the compressed stream to a 10 KiB block */
        arc = archive_write_set_bytes_in_last_block(ar, 1);
    if (arc == ARCHIVE_OK)
        arc = archive_write_open2(ar, &s, NULL, sink_write, NULL, NULL);
    for (size_t i = 0; i < e->n && arc == ARCHIVE_OK; i++)
        arc = tar_entry(ar, ae, &e->v[i], e->time) == 0 ? ARCHIVE_OK : ARCHIVE_FATAL;
    if (arc == ARCHIVE_OK)
        arc = archive_write_close(ar);
    if (rc == 0 && s.over)
        rc = oom(e->err);
    else if (rc == 0 && arc != ARCHIVE_OK)
        rc = err_set(e->err, ERR_INTERNAL, "eject: libarchive: %s",
                     archive_error_string(ar) ? archive_error_string(ar) : "?");
    archive_entry_free(ae);
    archive_write_free(ar);
    return rc;
}

/* ---------------------------------------------------------------- entry */

/* Opens the repository twice (pkg_repo for the tree, libgit2 for the packbuilder) and pins
 * refs/heads/main's commit. ERR_NOTFOUND for an unknown project or one without a commit. */
static int eject_open(struct eject *e)
{
    struct sbuf path = SBUF_INIT(4096);
    git_commit *c = NULL;
    int rc = pkg_repo_path(e->p->root, slice_from_cstr(e->p->workspace_id),
                           slice_from_cstr(e->p->project_id), &path, e->err);

    if (rc == 0)
        rc = pkg_repo_open(path.buf, &e->r, e->err);
    if (rc == 0 && git_repository_open_bare(&e->git, path.buf) < 0)
        rc = err_set(e->err, ERR_IO, "eject: the repository does not open twice");
    if (rc == 0 && git_reference_name_to_id(&e->head, e->git, MAIN_REF) < 0)
        rc = ERR_NOTFOUND;
    if (rc == 0 && git_commit_lookup(&c, e->git, &e->head) < 0)
        rc = err_set(e->err, ERR_IO, "eject: main's commit does not read");
    if (rc == 0) {
        git_oid_tostr(e->rev, sizeof(e->rev), &e->head);
        e->time = (int64_t)git_commit_time(c);
    }
    git_commit_free(c);
    sbuf_release(&path);
    if (rc == ERR_NOTFOUND)
        return err_set(e->err, ERR_NOTFOUND, "project %s not found", e->p->project_id);
    return rc;
}

static int eject_collect(struct eject *e)
{
    int rc = values_load(e);

    if (rc == 0)
        rc = ent_add(e, arena_printf(e->a, "%s", e->p->slug), SLICE_NULL, 0755, true);
    if (rc == 0)
        rc = ent_add(e, arena_printf(e->a, "%s/repository", e->p->slug), SLICE_NULL, 0755, true);
    if (rc == 0)
        rc = tree_add(e, "");
    if (rc == 0)
        rc = bundle_add(e);
    if (rc == 0 && e->nenvs > 0)
        rc = ent_add(e, arena_printf(e->a, "%s/argocd", e->p->slug), SLICE_NULL, 0755, true);
    for (size_t i = 0; i < e->nenvs && rc == 0; i++)
        rc = argocd_add(e, e->envs[i]);
    if (rc == 0)
        rc = build_sh_add(e);
    if (rc == 0)
        rc = readme_add(e);
    return rc;
}

static bool slug_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;

    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

int pkg_op_eject(const struct pkg_project *p, struct sbuf *out, struct err *err)
{
    struct eject e = {.p = p, .err = err};
    int rc;

    if (!slug_ok(p->slug) || !slug_ok(p->workspace_slug))
        return err_set(err, ERR_INVALID, "eject: project and workspace slugs must be DNS labels");
    e.a = arena_new(&(struct arena_opts){.chunk = 64 << 10, .budget = PKG_EJECT_MAX});
    rc = eject_open(&e);
    if (rc == 0)
        rc = eject_collect(&e);
    if (rc == 0) {
        qsort(e.v, e.n, sizeof(*e.v), ent_cmp);
        rc = tar_write(&e, out);
    }
    for (size_t i = 0; i < e.nenvs; i++)
        free(e.envs[i]);
    free(e.envs);
    free(e.v);
    json_decref(e.base);
    git_repository_free(e.git);
    pkg_repo_close(e.r);
    arena_free(e.a);
    return rc;
}
