#include "gateway/daemon/ratelimits.h"

#include "core/err.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 96

struct gw_rl_shared {
    struct gw_rl_shared *next;
    char key[KEY_MAX];
    int refs; /* the global pair: never freed */
    struct gw_ratelimit b[2];
};

static struct gw_rl_shared *shared_new(const char *key, uint64_t rate,
                                       uint64_t burst)
{
    struct gw_rl_shared *s = calloc(1, sizeof(*s));
    int64_t now = gw_rl_now_us();

    if (s == NULL) {
        return NULL;
    }
    (void)snprintf(s->key, sizeof(s->key), "%s", key);
    gw_rl_init(&s->b[GW_RL_UP], rate, burst, now);
    gw_rl_init(&s->b[GW_RL_DOWN], rate, burst, now);
    return s;
}

int gw_rl_registry_init(struct gw_rl_registry *r)
{
    memset(r, 0, sizeof(*r));
    r->global = shared_new("global", 0, 0);
    if (r->global == NULL) {
        return GW_ERR_NOMEM;
    }
    pthread_mutex_init(&r->lock, NULL);
    atomic_init(&r->global_on, false);
    return GW_OK;
}

void gw_rl_registry_cleanup(struct gw_rl_registry *r)
{
    while (r->list != NULL) {
        struct gw_rl_shared *next = r->list->next;
        free(r->list);
        r->list = next;
    }
    if (r->global != NULL) {
        free(r->global);
        r->global = NULL;
        pthread_mutex_destroy(&r->lock);
    }
}

void gw_rl_global_set(struct gw_rl_registry *r, uint64_t rate, uint64_t burst)
{
    int64_t now = gw_rl_now_us();

    pthread_mutex_lock(&r->lock);
    for (int dir = 0; dir < 2; dir++) {
        struct gw_ratelimit *b = &r->global->b[dir];
        bool was_off = !gw_rl_limited(b);
        gw_rl_set(b, rate, burst, now);
        if (was_off) {
            gw_rl_init(b, rate, burst, now); /* a full bucket to start */
        }
    }
    atomic_store(&r->global_on, rate > 0);
    pthread_mutex_unlock(&r->lock);
}

struct gw_rl_shared *gw_rl_global(struct gw_rl_registry *r)
{
    return r->global;
}

bool gw_rl_global_on(struct gw_rl_registry *r)
{
    return atomic_load_explicit(&r->global_on, memory_order_relaxed);
}

struct gw_rl_shared *gw_rl_acquire(struct gw_rl_registry *r, const char *key,
                                   uint64_t rate)
{
    struct gw_rl_shared *s;
    int64_t now = gw_rl_now_us();

    if (rate == 0) {
        return NULL;
    }
    pthread_mutex_lock(&r->lock);
    for (s = r->list; s != NULL && strcmp(s->key, key) != 0; s = s->next) {
    }
    if (s != NULL) {
        if (s->b[GW_RL_UP].rate != rate) {
            gw_rl_set(&s->b[GW_RL_UP], rate, 0, now);
            gw_rl_set(&s->b[GW_RL_DOWN], rate, 0, now);
        }
    } else if ((s = shared_new(key, rate, 0)) != NULL) {
        s->next = r->list;
        r->list = s;
    }
    if (s != NULL) {
        s->refs++;
    }
    pthread_mutex_unlock(&r->lock);
    return s;
}

void gw_rl_release(struct gw_rl_registry *r, struct gw_rl_shared *s)
{
    struct gw_rl_shared **p;

    if (s == NULL || s == r->global) {
        return;
    }
    pthread_mutex_lock(&r->lock);
    if (--s->refs == 0) {
        for (p = &r->list; *p != NULL && *p != s; p = &(*p)->next) {
        }
        if (*p == s) {
            *p = s->next;
        }
        free(s);
    }
    pthread_mutex_unlock(&r->lock);
}

uint64_t gw_rl_allowed(struct gw_rl_registry *r, struct gw_rl_shared *const *s,
                       int n, enum gw_rl_dir dir, int64_t now_us)
{
    uint64_t allowed = UINT64_MAX;

    pthread_mutex_lock(&r->lock);
    for (int i = 0; i < n; i++) {
        if (s[i] != NULL) {
            uint64_t a = gw_rl_available(&s[i]->b[dir], now_us);
            allowed = a < allowed ? a : allowed;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return allowed;
}

void gw_rl_pay(struct gw_rl_registry *r, struct gw_rl_shared *const *s, int n,
               enum gw_rl_dir dir, uint64_t bytes, int64_t now_us)
{
    pthread_mutex_lock(&r->lock);
    for (int i = 0; i < n; i++) {
        if (s[i] != NULL) {
            gw_rl_consume(&s[i]->b[dir], bytes, now_us);
        }
    }
    pthread_mutex_unlock(&r->lock);
}

int64_t gw_rl_wait(struct gw_rl_registry *r, struct gw_rl_shared *const *s,
                   int n, enum gw_rl_dir dir, uint64_t want, int64_t now_us)
{
    int64_t wait = 0;

    pthread_mutex_lock(&r->lock);
    for (int i = 0; i < n; i++) {
        if (s[i] != NULL) {
            int64_t w = gw_rl_wait_ms(&s[i]->b[dir], want, now_us);
            wait = w > wait ? w : wait;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return wait;
}
