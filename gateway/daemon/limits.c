#include "gateway/daemon/limits.h"

#include "core/err.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define NBUCKETS 1024u

struct entry {
    struct entry *next;
    struct gw_addr addr; /* port ignored */
    long unauth;
    long failures;         /* within the current window */
    int64_t window_end_ms; /* when the current failure window closes */
    int64_t locked_until_ms;
    int64_t penalty_until_ms; /* new connections refused until then */
};

struct gw_limits {
    pthread_mutex_t lock;
    struct entry *buckets[NBUCKETS];
    size_t entries;
    size_t max_entries;
    long unauth;
    gw_limits_random_fn random;
    void *random_ud;
    uint64_t rng; /* xorshift64 state of the default random source */
};

/* The default random source: the early drop needs numbers an attacker
 * cannot predict well enough to time its connections, not cryptographic
 * ones; it runs under the table's lock. */
static uint32_t xorshift(void *ud)
{
    uint64_t *x = ud;

    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return (uint32_t)(*x >> 32);
}

static unsigned bucket_of(const struct gw_addr *addr)
{
    size_t len = addr->family == AF_INET ? 4 : 16;
    uint32_t h = 2166136261u; /* FNV-1a */

    for (size_t i = 0; i < len; i++) {
        h = (h ^ addr->bytes[i]) * 16777619u;
    }
    return (unsigned)(h % NBUCKETS);
}

int gw_limits_new(size_t max_entries, struct gw_limits **out)
{
    struct gw_limits *lim = calloc(1, sizeof(*lim));

    if (lim == NULL) {
        return GW_ERR_NOMEM;
    }
    pthread_mutex_init(&lim->lock, NULL);
    lim->max_entries = max_entries;
    if (getrandom(&lim->rng, sizeof(lim->rng), GRND_NONBLOCK) !=
        (ssize_t)sizeof(lim->rng)) {
        lim->rng = (uint64_t)time(NULL);
    }
    lim->rng |= 1; /* xorshift never leaves 0 */
    lim->random = xorshift;
    lim->random_ud = &lim->rng;
    *out = lim;
    return GW_OK;
}

void gw_limits_free(struct gw_limits *lim)
{
    if (lim == NULL) {
        return;
    }
    for (unsigned b = 0; b < NBUCKETS; b++) {
        struct entry *e = lim->buckets[b];
        while (e != NULL) {
            struct entry *next = e->next;
            free(e);
            e = next;
        }
    }
    pthread_mutex_destroy(&lim->lock);
    free(lim);
}

void gw_limits_set_random(struct gw_limits *lim, gw_limits_random_fn fn,
                          void *ud)
{
    pthread_mutex_lock(&lim->lock);
    lim->random = fn;
    lim->random_ud = ud;
    pthread_mutex_unlock(&lim->lock);
}

void gw_limits_source(const struct gw_limits_policy *pol,
                      const struct gw_addr *addr, struct gw_addr *source)
{
    unsigned bits = addr->family == AF_INET ? 32 : 128;
    unsigned prefix = addr->family == AF_INET ? pol->prefix_v4 : pol->prefix_v6;

    *source = *addr;
    source->port = 0;
    if (prefix == 0 || prefix > bits) {
        return;
    }
    for (unsigned i = 0; i < bits / 8; i++) {
        unsigned first = i * 8; /* the first bit of byte i */
        if (first >= prefix) {
            source->bytes[i] = 0;
        } else if (prefix - first < 8) {
            source->bytes[i] &= (uint8_t)(0xffu << (8 - (prefix - first)));
        }
    }
}

bool gw_limits_early_drop(const struct gw_limits_policy *pol, long unauth,
                          uint32_t r)
{
    long begin = pol->startups_begin;
    long full = pol->max_unauth;
    long percent;

    if (unauth >= full) {
        return true;
    }
    if (begin <= 0 || unauth < begin) {
        return false;
    }
    /* begin <= unauth < full: rate at begin, rising to 100 at full. */
    percent = pol->startups_rate +
              (100 - pol->startups_rate) * (unauth - begin) / (full - begin);
    return (long)(r % 100u) < percent;
}

/* Forget the failures of a window that has passed. */
static void expire_window(struct entry *e, int64_t now_ms)
{
    if (e->failures > 0 && now_ms >= e->window_end_ms) {
        e->failures = 0;
    }
}

static bool entry_empty(struct entry *e, int64_t now_ms)
{
    expire_window(e, now_ms);
    return e->unauth == 0 && e->failures == 0 && e->locked_until_ms <= now_ms &&
           e->penalty_until_ms <= now_ms;
}

static void sweep_bucket(struct gw_limits *lim, unsigned b, int64_t now_ms)
{
    struct entry **p = &lim->buckets[b];

    while (*p != NULL) {
        struct entry *e = *p;
        if (entry_empty(e, now_ms)) {
            *p = e->next;
            free(e);
            lim->entries--;
        } else {
            p = &e->next;
        }
    }
}

/* With the lock held: the entry of addr, created when create is set and
 * there is room. NULL when absent (or the table is full). */
static struct entry *find(struct gw_limits *lim, const struct gw_addr *addr,
                          bool create, int64_t now_ms)
{
    unsigned b = bucket_of(addr);
    struct entry *e = NULL;

    sweep_bucket(lim, b, now_ms);
    for (e = lim->buckets[b]; e != NULL; e = e->next) {
        if (gw_addr_same_ip(&e->addr, addr)) {
            return e;
        }
    }
    if (!create) {
        return NULL;
    }
    for (unsigned i = 0; i < NBUCKETS && lim->entries >= lim->max_entries;
         i++) {
        sweep_bucket(lim, i, now_ms);
    }
    if (lim->entries >= lim->max_entries) {
        return NULL;
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        return NULL;
    }
    e->addr = *addr;
    e->addr.port = 0;
    e->next = lim->buckets[b];
    lim->buckets[b] = e;
    lim->entries++;
    return e;
}

enum gw_admit gw_limits_admit(struct gw_limits *lim, const struct gw_addr *addr,
                              const struct gw_limits_policy *pol,
                              int64_t now_ms, struct gw_addr *source)
{
    enum gw_admit verdict = GW_ADMIT_OK;
    struct entry *e = NULL;
    struct gw_addr src;

    gw_limits_source(pol, addr, &src);
    pthread_mutex_lock(&lim->lock);
    e = find(lim, &src, true, now_ms);
    /* The source's own state first: a penalised or locked source is
     * refused whatever the totals, and takes no random draw from those
     * that wait their turn. */
    if (e == NULL) {
        verdict = GW_ADMIT_TABLE_FULL;
    } else if (e->locked_until_ms > now_ms) {
        verdict = GW_ADMIT_SOURCE_LOCKED;
    } else if (e->penalty_until_ms > now_ms) {
        verdict = GW_ADMIT_PENALTY;
    } else if (lim->unauth >= pol->max_unauth) {
        verdict = GW_ADMIT_UNAUTH_TOTAL;
    } else if (e->unauth >= pol->max_unauth_per_source) {
        verdict = GW_ADMIT_UNAUTH_SOURCE;
    } else if (gw_limits_early_drop(pol, lim->unauth,
                                    lim->random(lim->random_ud))) {
        verdict = GW_ADMIT_EARLY_DROP;
    } else {
        e->unauth++;
        lim->unauth++;
    }
    pthread_mutex_unlock(&lim->lock);
    if (source != NULL) {
        *source = src;
    }
    return verdict;
}

void gw_limits_release(struct gw_limits *lim, const struct gw_addr *source)
{
    struct entry *e = NULL;

    pthread_mutex_lock(&lim->lock);
    e = find(lim, source, false, 0);
    if (e != NULL && e->unauth > 0) {
        e->unauth--;
        lim->unauth--;
    }
    pthread_mutex_unlock(&lim->lock);
}

void gw_limits_penalize(struct gw_limits *lim, const struct gw_addr *source,
                        const struct gw_limits_policy *pol, int64_t now_ms)
{
    struct entry *e = NULL;
    int64_t until;

    if (pol->penalty_ms <= 0) {
        return;
    }
    pthread_mutex_lock(&lim->lock);
    /* Its slot is still held, so the entry exists unless the table was
     * full at admission, which cannot happen for an admitted source. */
    e = find(lim, source, true, now_ms);
    if (e != NULL) {
        /* Offences add up, from now or from the end of the penalty
         * already running; it decays by running out, capped so that a
         * source that mends its ways is not refused for long. */
        until = e->penalty_until_ms > now_ms ? e->penalty_until_ms : now_ms;
        until += pol->penalty_ms;
        if (until > now_ms + pol->penalty_max_ms) {
            until = now_ms + pol->penalty_max_ms;
        }
        e->penalty_until_ms = until;
    }
    pthread_mutex_unlock(&lim->lock);
}

bool gw_limits_locked(struct gw_limits *lim, const struct gw_addr *addr,
                      const struct gw_limits_policy *pol, int64_t now_ms)
{
    struct entry *e = NULL;
    bool locked = false;
    struct gw_addr src;

    gw_limits_source(pol, addr, &src);
    pthread_mutex_lock(&lim->lock);
    e = find(lim, &src, false, now_ms);
    locked = e != NULL && e->locked_until_ms > now_ms;
    pthread_mutex_unlock(&lim->lock);
    return locked;
}

enum gw_source_count gw_limits_failure(struct gw_limits *lim,
                                       const struct gw_addr *addr,
                                       const struct gw_limits_policy *pol,
                                       int64_t now_ms)
{
    enum gw_source_count verdict = GW_SOURCE_COUNTED;
    struct entry *e = NULL;
    struct gw_addr src;

    if (pol->source_threshold <= 0) {
        return GW_SOURCE_COUNTED;
    }
    gw_limits_source(pol, addr, &src);
    pthread_mutex_lock(&lim->lock);
    /* A full table cannot track addr: the failure counts as counted, so
     * that the user lockout still sees it. */
    e = find(lim, &src, true, now_ms);
    if (e != NULL && e->locked_until_ms > now_ms) {
        verdict = GW_SOURCE_WAS_LOCKED;
    } else if (e != NULL) {
        expire_window(e, now_ms);
        if (e->failures == 0) {
            e->window_end_ms = now_ms + pol->lock_ms;
        }
        e->failures++;
        if (e->failures >= pol->source_threshold) {
            e->failures = 0;
            e->locked_until_ms = now_ms + pol->lock_ms;
            verdict = GW_SOURCE_LOCKED_NOW;
        }
    }
    pthread_mutex_unlock(&lim->lock);
    return verdict;
}

long gw_limits_unauth(struct gw_limits *lim)
{
    long n;

    pthread_mutex_lock(&lim->lock);
    n = lim->unauth;
    pthread_mutex_unlock(&lim->lock);
    return n;
}

void gw_limits_sweep(struct gw_limits *lim, int64_t now_ms)
{
    pthread_mutex_lock(&lim->lock);
    for (unsigned b = 0; b < NBUCKETS; b++) {
        sweep_bucket(lim, b, now_ms);
    }
    pthread_mutex_unlock(&lim->lock);
}

const char *gw_admit_reason(enum gw_admit admit)
{
    switch (admit) {
    case GW_ADMIT_OK:
        return "admitted";
    case GW_ADMIT_UNAUTH_TOTAL:
        return "too many unauthenticated connections";
    case GW_ADMIT_UNAUTH_SOURCE:
        return "too many unauthenticated connections from your address";
    case GW_ADMIT_SOURCE_LOCKED:
        return "too many authentication failures from your address, "
               "try again later";
    case GW_ADMIT_TABLE_FULL:
        return "server busy, try again later";
    case GW_ADMIT_EARLY_DROP:
        return "too many unauthenticated connections, try again later";
    case GW_ADMIT_PENALTY:
        return "too many unfinished connections from your address, "
               "try again later";
    }
    return "refused";
}
