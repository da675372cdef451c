/*
 * gateway events (src/gateway/events.c): audit entries and access changes published from any
 * thread reach the subscribers of their workspace on the subscribers' own loops, copied, in
 * order, and never after an unsubscribe.
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "../test.h"
#include "base/base.h"
#include "gateway/gw-int.h"

struct seen {
    struct ev *loop;
    struct gw_events *hub;
    struct gw_sub *sub;
    int n;
    bool wrong_loop;
    bool unsubscribe_in_callback;
    char actions[8][32];
};

static void on_event(void *arg, const struct gw_event *e)
{
    struct seen *s = arg;

    if (ev_current() != s->loop)
        s->wrong_loop = true;
    if (s->n < 8)
        snprintf(s->actions[s->n], sizeof(s->actions[0]), "%s",
                 e->kind == GW_EV_AUDIT ? e->audit.action : "access");
    s->n++;
    if (s->unsubscribe_in_callback) {
        gw_events_unsubscribe(s->hub, s->sub);
        s->sub = NULL;
    }
}

struct pub {
    struct gw_events *hub;
    const char *ws;
    const char *action;
};

/* Publishes from another thread, with strings that are gone once it returns. */
static void *publisher(void *arg)
{
    struct pub *p = arg;
    char ws[64], action[64];

    snprintf(ws, sizeof(ws), "%s", p->ws);
    snprintf(action, sizeof(action), "%s", p->action);
    gw_events_publish(p->hub, &(struct gw_event){.kind = GW_EV_AUDIT,
                                                 .workspace = ws,
                                                 .audit = {.id = "1",
                                                           .action = action,
                                                           .target = "",
                                                           .outcome = "ok",
                                                           .detail = "",
                                                           .workspace_id = ws}});
    memset(ws, 'x', sizeof(ws) - 1);
    memset(action, 'x', sizeof(action) - 1);
    return NULL;
}

static void publish_from_thread(struct gw_events *hub, const char *ws, const char *action)
{
    struct pub p = {hub, ws, action};
    pthread_t t;

    CHECK(pthread_create(&t, NULL, publisher, &p) == 0);
    pthread_join(t, NULL);
}

struct scenario {
    struct gw_events *hub;
    struct ev *loop;
    struct seen a, b, other;
    int step;
};

/* Runs after the deliveries, which were posted before it: the loop's subscribers go. */
static void scenario_end(void *arg)
{
    struct scenario *s = arg;

    gw_events_unsubscribe(s->hub, s->a.sub);
    gw_events_unsubscribe(s->hub, s->other.sub);
    ev_stop(s->loop);
}

/* Runs on the loop: subscribes, publishes from threads, and lets the posts arrive. */
static void scenario_start(void *arg)
{
    struct scenario *s = arg;

    s->a.sub = gw_events_subscribe(s->hub, "team-a", on_event, &s->a);
    s->b.sub = gw_events_subscribe(s->hub, "team-a", on_event, &s->b);
    s->other.sub = gw_events_subscribe(s->hub, "team-b", on_event, &s->other);
    s->b.unsubscribe_in_callback = true;
    publish_from_thread(s->hub, "team-a", "first");
    publish_from_thread(s->hub, "team-a", "second");
    publish_from_thread(s->hub, "team-c", "nobody");
    ev_post(s->loop, scenario_end, s);
}

TEST(events_reach_their_workspace_on_the_subscribers_loop_in_order)
{
    struct scenario s = {0};

    s.hub = gw_events_new();
    s.loop = ev_new("events");
    s.a.loop = s.b.loop = s.other.loop = s.loop;
    s.a.hub = s.b.hub = s.other.hub = s.hub;
    ev_post(s.loop, scenario_start, &s);
    ev_run(s.loop);
    CHECK_INT_EQ(s.a.n, 2);
    CHECK_STR_EQ(s.a.actions[0], "first"); /* copied: the publisher wiped its strings */
    CHECK_STR_EQ(s.a.actions[1], "second");
    CHECK_INT_EQ(s.b.n, 1); /* unsubscribed itself during the first */
    CHECK_INT_EQ(s.other.n, 0);
    CHECK(!s.a.wrong_loop && !s.b.wrong_loop);
    ev_free(s.loop);
    gw_events_free(s.hub);
}

/* A second loop with its own subscriber: each loop gets its own copy. */
struct loop_thread {
    struct gw_events *hub;
    struct ev *loop;
    struct seen seen;
    pthread_t t;
    _Atomic int subscribed;
};

static void lt_subscribe(void *arg)
{
    struct loop_thread *lt = arg;

    lt->seen.sub = gw_events_subscribe(lt->hub, "w", on_event, &lt->seen);
    atomic_store(&lt->subscribed, 1);
}

static void lt_unsubscribe(void *arg)
{
    struct loop_thread *lt = arg;

    gw_events_unsubscribe(lt->hub, lt->seen.sub);
    atomic_store(&lt->subscribed, 0);
}

static void *lt_main(void *arg)
{
    struct loop_thread *lt = arg;

    ev_run(lt->loop);
    return NULL;
}

static void wait_flag(_Atomic int *flag, int want)
{
    for (int i = 0; i < 5000 && atomic_load(flag) != want; i++)
        usleep(1000);
    CHECK_INT_EQ(atomic_load(flag), want);
}

struct count_query {
    struct loop_thread *lt;
    _Atomic int n;
};

static void count_read(void *arg)
{
    struct count_query *q = arg;

    atomic_store(&q->n, q->lt->seen.n);
}

static int count_of(struct loop_thread *lt)
{
    struct count_query q = {lt, -1};

    ev_post(lt->loop, count_read, &q);
    for (int i = 0; i < 5000 && atomic_load(&q.n) == -1; i++)
        usleep(1000);
    return atomic_load(&q.n);
}

TEST(every_loop_with_subscribers_gets_the_event_and_none_after_unsubscribe)
{
    struct gw_events *hub = gw_events_new();
    struct loop_thread lt[2];

    for (int i = 0; i < 2; i++) {
        memset(&lt[i], 0, sizeof(lt[i]));
        lt[i].hub = hub;
        lt[i].loop = ev_new("subscriber");
        lt[i].seen.loop = lt[i].loop;
        lt[i].seen.hub = hub;
        CHECK(pthread_create(&lt[i].t, NULL, lt_main, &lt[i]) == 0);
        ev_post(lt[i].loop, lt_subscribe, &lt[i]);
        wait_flag(&lt[i].subscribed, 1);
    }
    publish_from_thread(hub, "w", "one");
    for (int i = 0; i < 2; i++) {
        for (int k = 0; k < 5000 && count_of(&lt[i]) != 1; k++)
            usleep(1000);
        CHECK_INT_EQ(count_of(&lt[i]), 1);
    }
    ev_post(lt[0].loop, lt_unsubscribe, &lt[0]);
    wait_flag(&lt[0].subscribed, 0);
    publish_from_thread(hub, "w", "two");
    for (int k = 0; k < 5000 && count_of(&lt[1]) != 2; k++)
        usleep(1000);
    CHECK_INT_EQ(count_of(&lt[1]), 2);
    CHECK_INT_EQ(count_of(&lt[0]), 1);
    ev_post(lt[1].loop, lt_unsubscribe, &lt[1]);
    wait_flag(&lt[1].subscribed, 0);
    for (int i = 0; i < 2; i++) {
        ev_stop(lt[i].loop);
        pthread_join(lt[i].t, NULL);
        CHECK(!lt[i].seen.wrong_loop);
        ev_free(lt[i].loop);
    }
    gw_events_free(hub);
}

TEST(publishing_with_no_subscriber_or_no_workspace_does_nothing)
{
    struct gw_events *hub = gw_events_new();

    gw_events_publish(hub, &(struct gw_event){.kind = GW_EV_AUDIT, .workspace = "w"});
    gw_events_publish(hub, &(struct gw_event){.kind = GW_EV_AUDIT, .workspace = NULL});
    gw_events_publish(NULL, &(struct gw_event){.kind = GW_EV_AUDIT, .workspace = "w"});
    gw_events_free(hub);
    gw_events_free(NULL);
}
