/*
 * gateway API schema (schema/gateway.graphql compiled in, src/gateway/api*.c): it builds and
 * binds, every definition is described, what blocks is marked so, and the resolvers that need
 * no store (me, the workspaceActivity stream and its ADMIN check) work on a caller made here.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>

#include "../test.h"
#include "base/base.h"
#include "gateway/gw-int.h"
#include "gql/gql.h"

static struct gql_schema *schema_new(void)
{
    struct gql_source src[8];
    struct gql_schema *s = NULL;
    struct err err = {0};

    CHECK(gw_schema_nfiles >= 1 && gw_schema_nfiles <= 8);
    for (size_t i = 0; i < gw_schema_nfiles; i++)
        src[i] = (struct gql_source){gw_schema_files[i].name,
                                     {gw_schema_files[i].text, gw_schema_files[i].len}};
    OK(gw_api_schema_build(src, gw_schema_nfiles, &s, &err));
    return s;
}

TEST(the_compiled_schema_builds_and_every_root_field_is_bound)
{
    struct gql_schema *s = schema_new();

    gql_schema_free(s);
}

TEST(a_root_field_without_a_resolver_stops_the_build)
{
    static const char extra[] = "extend type Query { \"x\" unbound: Int }";
    struct gql_source src[9];
    struct gql_schema *s = NULL;
    struct err err = {0};

    CHECK(gw_schema_nfiles >= 1 && gw_schema_nfiles <= 8);
    for (size_t i = 0; i < gw_schema_nfiles; i++)
        src[i] = (struct gql_source){gw_schema_files[i].name,
                                     {gw_schema_files[i].text, gw_schema_files[i].len}};
    src[gw_schema_nfiles] = (struct gql_source){"extra.graphql", SLICE(extra)};
    CHECK(gw_api_schema_build(src, gw_schema_nfiles + 1, &s, &err) < 0);
    CHECK(s == NULL);
    CHECK_CONTAINS(err.msg, "unbound");
}

static void check_described(const char *what, const struct gql_value *d, struct slice name)
{
    if (d == NULL || d->str.len == 0)
        test_fail(__FILE__, __LINE__, "%s " SLICE_FMT " has no description", what, SLICE_ARG(name));
}

/* Every definition of <text> (one .graphql file), and what is in it, has a description; an
 * extension adds fields only, each described. */
static size_t check_file(struct arena *a, struct slice text)
{
    struct gql_doc *d;
    struct err err = {0};
    size_t ndefs = 0;

    OK(gql_parse_schema(a, text, NULL, &d, NULL, &err));
    for (const struct gql_def *def = d->defs; def != NULL; def = def->next, ndefs++) {
        if (!def->extend)
            check_described("type", def->description, def->name);
        for (const struct gql_field_def *f = def->fields; f != NULL; f = f->next) {
            check_described("field", f->description, f->name);
            for (const struct gql_input_value *v = f->args; v != NULL; v = v->next)
                check_described("argument", v->description, v->name);
        }
        for (const struct gql_input_value *v = def->input; v != NULL; v = v->next)
            check_described("input field", v->description, v->name);
        if (def->kind == GQL_DEF_ENUM)
            for (const struct gql_name *v = def->names; v != NULL; v = v->next)
                check_described("enum value", v->description, v->name);
    }
    return ndefs;
}

TEST(every_type_field_argument_and_value_is_described)
{
    struct arena *a = arena_new(NULL);
    size_t ndefs = 0;

    for (size_t i = 0; i < gw_schema_nfiles; i++)
        ndefs += check_file(a, (struct slice){gw_schema_files[i].text, gw_schema_files[i].len});
    CHECK(ndefs >= 20);
    arena_free(a);
}

/* The operation of <text>: whether it may reach a resolver that blocks. */
static bool blocks(const struct gql_schema *s, const char *text)
{
    struct arena *a = arena_new(NULL);
    struct gql_doc_ref *d = NULL;
    struct gql_error *errs = NULL;
    struct err err = {0};
    enum gql_op op;
    bool blocking = false;

    if (gql_prepare(s, slice_from_cstr(text), NULL, a, &d, &errs) != 0)
        test_fail(__FILE__, __LINE__, "%s: %s", text, errs ? errs->message : "?");
    OK(gql_doc_operation(d, SLICE_NULL, &op, &blocking, &err));
    gql_doc_ref_put(d);
    arena_free(a);
    return blocking;
}

TEST(what_touches_the_store_is_marked_blocking)
{
    struct gql_schema *s = schema_new();

    CHECK(!blocks(s, "{ me { id name email avatarUrl } }"));
    CHECK(!blocks(s, "{ __schema { types { name } } }"));
    CHECK(!blocks(s, "subscription { workspaceActivity { id action at outcome } }"));
    /* the caller's own workspaces come with the membership check */
    CHECK(!blocks(s, "{ me { workspaces { workspace role } } }"));
    CHECK(!blocks(s, "{ workspace { id name personal suspended createdAt } }"));
    CHECK(!blocks(s, "{ workspaces { id name } }"));
    CHECK(blocks(s, "{ workspace { members { id } } }"));
    CHECK(blocks(s, "{ workspaces { invitations { id } } }"));
    CHECK(blocks(s, "{ apiTokens { id } }"));
    CHECK(blocks(s, "{ auditLog { id } }"));
    CHECK(blocks(s, "mutation { deleteWorkspace }"));
    CHECK(blocks(s, "mutation { revokeApiToken(id: \"x\") }"));
    gql_schema_free(s);
}

/* Executes <text> for <c> into <out> (its whole response). */
static int run(const struct gql_schema *s, struct gw_caller *c, const char *text, struct sbuf *out)
{
    struct arena *a = arena_new(NULL);
    struct gql_doc_ref *d = NULL;
    struct gql_error *errs = NULL;
    int rc;

    if (gql_prepare(s, slice_from_cstr(text), NULL, a, &d, &errs) != 0)
        test_fail(__FILE__, __LINE__, "%s: %s", text, errs ? errs->message : "?");
    rc = gql_execute(&(struct gql_exec){.schema = s, .doc = d, .context = c, .a = a}, out);
    gql_doc_ref_put(d);
    arena_free(a);
    return rc;
}

TEST(me_reads_the_caller)
{
    struct gql_schema *s = schema_new();
    struct gw caller_gw = {0};
    struct gw_caller c = {.g = &caller_gw,
                          .authenticated = true,
                          .user = {.id = "u1", .name = "Ada", .email = "ada@example.test"},
                          .workspace = "w",
                          .role = GW_ROLE_USER};
    struct sbuf out = SBUF_INIT(1 << 20);
    struct err err = {0};

    OK(run(s, &c, "{ me { id name email avatarUrl } }", &out));
    CHECK_STR_EQ(out.buf, "{\"data\":{\"me\":{\"id\":\"u1\",\"name\":\"Ada\",\"email\":"
                          "\"ada@example.test\",\"avatarUrl\":null}}}");
    sbuf_reset(&out);
    c.authenticated = false; /* what an introspection-only request carries */
    OK(run(s, &c, "{ me { id } }", &out));
    CHECK_CONTAINS(out.buf, "\"code\":\"UNAUTHENTICATED\"");
    sbuf_release(&out);
    gql_schema_free(s);
}

/* ---------------------------------------------------------------- workspaceActivity */

struct stream {
    struct gql_schema *s;
    struct gw g;
    struct gw_caller c;
    struct ev *loop;
    struct arena *a;
    struct gql_doc_ref *doc;
    void (*cancel)(void *);
    void *state;
    struct sbuf out, events;
    int rc, nevents, ended;
    struct err end_err;
};

static void stream_emit(void *sink, const struct gql_val *event)
{
    struct stream *st = sink;
    struct arena *a = arena_new(NULL);

    st->nevents++;
    if (gql_execute_event(
            &(struct gql_exec){.schema = st->s, .doc = st->doc, .context = &st->c, .a = a}, event,
            &st->events) != 0)
        sbuf_puts(&st->events, "FAILED");
    sbuf_putc(&st->events, '\n');
    arena_free(a);
}

static void stream_end(void *owner, const struct err *err)
{
    struct stream *st = owner;

    st->ended++;
    st->end_err = *err;
    st->cancel(st->state);
    st->cancel = NULL;
}

static void stream_stop(void *arg)
{
    struct stream *st = arg;

    ev_stop(st->loop);
}

static void stream_start(void *arg)
{
    struct stream *st = arg;
    struct gql_error *errs = NULL;
    static const char q[] = "subscription { workspaceActivity { action outcome actorId } }";

    if (gql_prepare(st->s, SLICE(q), NULL, st->a, &st->doc, &errs) != 0)
        test_fail(__FILE__, __LINE__, "prepare: %s", errs ? errs->message : "?");
    st->rc = gql_subscribe(
        &(struct gql_exec){.schema = st->s, .doc = st->doc, .context = &st->c, .a = st->a},
        stream_emit, st, &st->cancel, &st->state, &st->out);
    if (st->rc == 0) {
        gw_events_publish(st->g.events, &(struct gw_event){.kind = GW_EV_AUDIT,
                                                           .workspace = "w",
                                                           .audit = {.id = "e1",
                                                                     .actor_user_id = "u9",
                                                                     .workspace_id = "w",
                                                                     .action = "workspace.update",
                                                                     .target = "w",
                                                                     .outcome = "denied",
                                                                     .detail = "",
                                                                     .at = 1}});
        gw_events_publish(st->g.events, &(struct gw_event){.kind = GW_EV_ACCESS,
                                                           .workspace = "w",
                                                           .user = "someone-else",
                                                           .removed = true});
        gw_events_publish(st->g.events, &(struct gw_event){.kind = GW_EV_ACCESS,
                                                           .workspace = "w",
                                                           .user = "u1",
                                                           .role = GW_ROLE_USER});
        gw_events_publish(st->g.events,
                          &(struct gw_event){.kind = GW_EV_AUDIT,
                                             .workspace = "w",
                                             .audit = {.id = "e2", .action = "late"}});
    }
    ev_post(st->loop, stream_stop, st);
}

static void stream_run(struct stream *st, enum gw_role role)
{
    memset(st, 0, sizeof(*st));
    st->s = schema_new();
    st->g.events = gw_events_new();
    st->c = (struct gw_caller){.g = &st->g,
                               .authenticated = true,
                               .user = {.id = "u1"},
                               .workspace = "w",
                               .role = role,
                               .stream_end = stream_end,
                               .stream_owner = st};
    st->loop = ev_new("stream");
    st->a = arena_new(NULL);
    st->out = SBUF_INIT(1 << 20);
    st->events = SBUF_INIT(1 << 20);
    ev_post(st->loop, stream_start, st);
    ev_run(st->loop);
}

static void stream_free(struct stream *st)
{
    if (st->cancel != NULL)
        st->cancel(st->state);
    gql_doc_ref_put(st->doc);
    ev_free(st->loop);
    gw_events_free(st->g.events);
    arena_free(st->a);
    sbuf_release(&st->out);
    sbuf_release(&st->events);
    gql_schema_free(st->s);
}

TEST(workspace_activity_streams_entries_and_ends_when_the_role_goes)
{
    struct stream st;

    stream_run(&st, GW_ROLE_ADMIN);
    CHECK_INT_EQ(st.rc, 0);
    CHECK_INT_EQ(st.nevents, 1);
    CHECK_STR_EQ(st.events.buf, "{\"data\":{\"workspaceActivity\":{\"action\":\"workspace.update\","
                                "\"outcome\":\"DENIED\",\"actorId\":\"u9\"}}}\n");
    CHECK_INT_EQ(st.ended, 1); /* demoted: ended, and nothing after it */
    CHECK_INT_EQ(st.end_err.code, ERR_FORBIDDEN);
    CHECK_CONTAINS(st.end_err.msg, "ADMIN");
    stream_free(&st);
}

TEST(workspace_activity_is_refused_to_a_user)
{
    struct stream st;

    stream_run(&st, GW_ROLE_USER);
    CHECK(st.rc < 0);
    CHECK_CONTAINS(st.out.buf, "\"code\":\"FORBIDDEN\"");
    CHECK_CONTAINS(st.out.buf, "workspaceActivity needs the ADMIN role in workspace w");
    CHECK_INT_EQ(st.nevents, 0);
    stream_free(&st);
}

/* ---------------------------------------------------------------- the document cache */

TEST(prepared_documents_come_from_the_loops_cache)
{
    struct gw g = {0};
    struct arena *a = arena_new(NULL);
    struct gql_doc_ref *d1 = NULL, *d2 = NULL, *bad = NULL;
    struct gql_error *errs = NULL;

    g.schema = schema_new();
    g.cfg.gql_cache_entries = 4;
    CHECK(pthread_key_create(&g.gql_cache_key, NULL) == 0);
    CHECK(gw_gql_prepare(&g, a, SLICE("{ me { id } }"), &d1, &errs) == 0);
    CHECK(gw_gql_prepare(&g, a, SLICE("{ me { id } }"), &d2, &errs) == 0);
    CHECK(d1 == d2); /* the same prepared document, a reference each */
    CHECK(gw_gql_prepare(&g, a, SLICE("{ me { nope } }"), &bad, &errs) == ERR_INVALID);
    CHECK(bad == NULL && errs != NULL);
    CHECK_STR_EQ(errs->code, "GRAPHQL_VALIDATION_FAILED");
    CHECK(gw_gql_prepare(&g, a, SLICE("{ me { nope } }"), &bad, &errs) == ERR_INVALID);
    gql_doc_ref_put(d1);
    gql_doc_ref_put(d2);
    gql_cache_free(pthread_getspecific(g.gql_cache_key));
    pthread_key_delete(g.gql_cache_key);
    gql_schema_free(g.schema);
    arena_free(a);
}
