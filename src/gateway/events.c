/*
 * gateway: events for subscriptions (audit entries, lost access) carried from the thread that
 * wrote them to the loops whose subscribers want them, without a lock.
 *
 * Each loop that ever had a subscriber owns one hub. Hubs form a list that only grows: a loop
 * pushes its hub with compare-and-swap the first time it subscribes, and hubs are freed with
 * the gateway, after every loop and worker has stopped, so a publisher can walk the list from
 * any thread at any time. A hub's subscriber list is touched by its own loop only; the count
 * of subscribers is atomic so that publishers skip the loops that have none. A publisher
 * copies the event into one block per such hub and ev_post()s it; the hub's loop hands it to
 * each subscriber of the event's workspace and frees it.
 *
 * A subscriber may unsubscribe (itself or another) while an event is being handed out: it is
 * then only marked, and unlinked and freed once the hand-out is over.
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "gateway/gw-int.h"

struct gw_sub {
    struct gw_sub *next;
    struct gw_hub *hub;
    gw_event_fn *fn;
    void *arg;
    bool dead;
    char workspace[GW_ID_MAX + 1];
};

struct gw_hub {
    struct ev *loop;
    struct gw_hub *next; /* set before the hub is published, never changed afterwards */
    _Atomic size_t nsubs;
    struct gw_sub *subs; /* the loop's only */
    unsigned delivering; /* nested hand-outs in progress */
    bool swept;          /* subscribers were marked dead during a hand-out */
};

struct gw_events {
    _Atomic(struct gw_hub *) head;
};

/* One event on its way to one hub: the event and its strings in one block. */
struct delivery {
    struct gw_hub *hub;
    struct gw_event ev;
    char strings[];
};

struct gw_events *gw_events_new(void)
{
    struct gw_events *e = xcalloc(1, sizeof(*e));

    atomic_init(&e->head, NULL);
    return e;
}

void gw_events_free(struct gw_events *e)
{
    struct gw_hub *h, *next;
    struct gw_sub *s, *snext;

    if (e == NULL)
        return;
    for (h = atomic_load(&e->head); h != NULL; h = next) {
        next = h->next;
        for (s = h->subs; s != NULL; s = snext) {
            snext = s->next;
            free(s);
        }
        free(h);
    }
    free(e);
}

/* ---------------------------------------------------------------- publishing */

static size_t str_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

/* Copies <s> to *at and moves *at past it; NULL stays NULL. */
static const char *str_put(char **at, const char *s)
{
    char *out = *at;
    size_t n = str_size(s);

    if (s == NULL)
        return NULL;
    memcpy(out, s, n);
    *at += n;
    return out;
}

static struct delivery *delivery_new(struct gw_hub *h, const struct gw_event *e)
{
    const struct gw_audit *a = &e->audit;
    size_t n = str_size(e->workspace) + str_size(e->user) + str_size(a->id) +
               str_size(a->actor_user_id) + str_size(a->workspace_id) + str_size(a->action) +
               str_size(a->target) + str_size(a->outcome) + str_size(a->detail);
    struct delivery *d = xmalloc(sizeof(*d) + n);
    char *at = d->strings;

    d->hub = h;
    d->ev = *e;
    d->ev.workspace = str_put(&at, e->workspace);
    d->ev.user = str_put(&at, e->user);
    d->ev.audit.id = str_put(&at, a->id);
    d->ev.audit.actor_user_id = str_put(&at, a->actor_user_id);
    d->ev.audit.workspace_id = str_put(&at, a->workspace_id);
    d->ev.audit.action = str_put(&at, a->action);
    d->ev.audit.target = str_put(&at, a->target);
    d->ev.audit.outcome = str_put(&at, a->outcome);
    d->ev.audit.detail = str_put(&at, a->detail);
    return d;
}

/* Unlinks and frees the subscribers marked dead. */
static void sweep(struct gw_hub *h)
{
    struct gw_sub **p = &h->subs, *s;

    while ((s = *p) != NULL) {
        if (s->dead) {
            *p = s->next;
            free(s);
        } else {
            p = &s->next;
        }
    }
    h->swept = false;
}

/* On the hub's loop: hands the event to the subscribers of its workspace. */
static void deliver(void *arg)
{
    struct delivery *d = arg;
    struct gw_hub *h = d->hub;

    h->delivering++;
    for (struct gw_sub *s = h->subs; s != NULL; s = s->next)
        if (!s->dead && strcmp(s->workspace, d->ev.workspace) == 0)
            s->fn(s->arg, &d->ev);
    h->delivering--;
    if (h->delivering == 0 && h->swept)
        sweep(h);
    free(d);
}

void gw_events_publish(struct gw_events *e, const struct gw_event *ev)
{
    if (e == NULL || ev->workspace == NULL)
        return;
    for (struct gw_hub *h = atomic_load(&e->head); h != NULL; h = h->next)
        if (atomic_load(&h->nsubs) > 0)
            ev_post(h->loop, deliver, delivery_new(h, ev));
}

/* ---------------------------------------------------------------- subscribing */

/* The calling loop's hub, made and published on first use. */
static struct gw_hub *hub_of_loop(struct gw_events *e, struct ev *loop)
{
    struct gw_hub *h, *head;

    for (h = atomic_load(&e->head); h != NULL; h = h->next)
        if (h->loop == loop)
            return h;
    h = xcalloc(1, sizeof(*h));
    h->loop = loop;
    atomic_init(&h->nsubs, 0);
    head = atomic_load(&e->head);
    do {
        h->next = head;
    } while (!atomic_compare_exchange_weak(&e->head, &head, h));
    return h;
}

struct gw_sub *gw_events_subscribe(struct gw_events *e, const char *workspace, gw_event_fn *fn,
                                   void *arg)
{
    struct ev *loop = ev_current();
    struct gw_sub *s;

    ASSERT(loop != NULL);
    s = xcalloc(1, sizeof(*s));
    s->hub = hub_of_loop(e, loop);
    s->fn = fn;
    s->arg = arg;
    snprintf(s->workspace, sizeof(s->workspace), "%s", workspace);
    s->next = s->hub->subs;
    s->hub->subs = s;
    atomic_fetch_add(&s->hub->nsubs, 1);
    return s;
}

void gw_events_unsubscribe(struct gw_events *e, struct gw_sub *s)
{
    struct gw_hub *h;

    (void)e;
    if (s == NULL || s->dead)
        return;
    h = s->hub;
    DASSERT(h->loop == ev_current());
    s->dead = true;
    atomic_fetch_sub(&h->nsubs, 1);
    if (h->delivering > 0)
        h->swept = true;
    else
        sweep(h);
}
