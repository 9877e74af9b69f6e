#include "floodsum.h"

#include "err.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX
/* Indexes are uint32_t; far above any table a daemon would want. */
#define KEYS_LIMIT ((size_t)1 << 24)

struct entry {
    char source[GW_FLOODSUM_TEXT_MAX];
    char reason[GW_FLOODSUM_TEXT_MAX];
    uint64_t count;
    int64_t start_ms; /* the reported occurrence */
    int64_t end_ms;   /* start_ms + the interval in force then */
    uint32_t hash;
    uint32_t next; /* the bucket's chain when used, else the free list */
    bool used;
    bool mixed; /* the overflow entry saw more than one reason */
};

struct gw_floodsum {
    struct entry *entries; /* max_keys of them */
    uint32_t *buckets;     /* nbuckets chain heads */
    size_t max_keys;
    size_t nbuckets; /* a power of two, >= max_keys */
    size_t used;
    uint32_t free_head;
    struct entry other; /* the overflow: new keys while the table is full */
};

/* A key as stored: both texts cut to GW_FLOODSUM_TEXT_MAX, so that lookups
 * compare what was stored. */
struct key {
    char source[GW_FLOODSUM_TEXT_MAX];
    char reason[GW_FLOODSUM_TEXT_MAX];
    uint32_t hash;
};

static uint32_t fnv1a(uint32_t h, const char *s)
{
    for (; *s != '\0'; s++) {
        h ^= (uint8_t)*s;
        h *= 16777619u;
    }
    return h;
}

static void make_key(const char *source, const char *reason, struct key *k)
{
    snprintf(k->source, sizeof(k->source), "%s", source);
    snprintf(k->reason, sizeof(k->reason), "%s", reason);
    /* The separator keeps ("ab", "c") and ("a", "bc") apart. */
    k->hash = fnv1a(fnv1a(2166136261u, k->source) ^ 0xffu, k->reason);
}

int gw_floodsum_new(size_t max_keys, struct gw_floodsum **out)
{
    struct gw_floodsum *fs = NULL;

    if (max_keys == 0 || max_keys > KEYS_LIMIT) {
        return gw_err_set(GW_ERR_INVALID, "a flood table holds 1..%zu keys",
                          KEYS_LIMIT);
    }
    fs = calloc(1, sizeof(*fs));
    if (fs == NULL) {
        return GW_ERR_NOMEM;
    }
    fs->max_keys = max_keys;
    fs->nbuckets = 1;
    while (fs->nbuckets < max_keys) {
        fs->nbuckets *= 2;
    }
    fs->entries = calloc(max_keys, sizeof(*fs->entries));
    fs->buckets = malloc(fs->nbuckets * sizeof(*fs->buckets));
    if (fs->entries == NULL || fs->buckets == NULL) {
        gw_floodsum_free(fs);
        return GW_ERR_NOMEM;
    }
    for (size_t i = 0; i < fs->nbuckets; i++) {
        fs->buckets[i] = NONE;
    }
    for (size_t i = 0; i < max_keys; i++) {
        fs->entries[i].next = i + 1 < max_keys ? (uint32_t)(i + 1) : NONE;
    }
    fs->free_head = 0;
    *out = fs;
    return GW_OK;
}

void gw_floodsum_free(struct gw_floodsum *fs)
{
    if (fs == NULL) {
        return;
    }
    free(fs->entries);
    free(fs->buckets);
    free(fs);
}

static size_t bucket_of(const struct gw_floodsum *fs, uint32_t hash)
{
    return hash & (fs->nbuckets - 1);
}

static struct entry *find(struct gw_floodsum *fs, const struct key *k)
{
    uint32_t i = fs->buckets[bucket_of(fs, k->hash)];

    while (i != NONE) {
        struct entry *e = &fs->entries[i];
        if (e->hash == k->hash && strcmp(e->source, k->source) == 0 &&
            strcmp(e->reason, k->reason) == 0) {
            return e;
        }
        i = e->next;
    }
    return NULL;
}

/* Start e's interval with the occurrence that is reported. */
static void start_interval(struct entry *e, int64_t interval_ms, int64_t now_ms)
{
    e->count = 0;
    e->mixed = false;
    e->start_ms = now_ms;
    /* Saturate rather than wrap: a huge interval must not end at once. */
    e->end_ms =
        interval_ms > INT64_MAX - now_ms ? INT64_MAX : now_ms + interval_ms;
}

static void insert(struct gw_floodsum *fs, const struct key *k,
                   int64_t interval_ms, int64_t now_ms)
{
    uint32_t i = fs->free_head;
    struct entry *e = &fs->entries[i];
    size_t b = bucket_of(fs, k->hash);

    fs->free_head = e->next;
    memcpy(e->source, k->source, sizeof(e->source));
    memcpy(e->reason, k->reason, sizeof(e->reason));
    e->hash = k->hash;
    e->used = true;
    e->next = fs->buckets[b];
    fs->buckets[b] = i;
    fs->used++;
    start_interval(e, interval_ms, now_ms);
}

static void unlink_entry(struct gw_floodsum *fs, uint32_t i)
{
    struct entry *e = &fs->entries[i];
    uint32_t *p = &fs->buckets[bucket_of(fs, e->hash)];

    while (*p != i) {
        p = &fs->entries[*p].next;
    }
    *p = e->next;
    e->used = false;
    e->next = fs->free_head;
    fs->free_head = i;
    fs->used--;
}

/* An occurrence of a key that has an entry. An interval that ended
 * without a count is over (the flush would only have dropped it), so this
 * one starts the next; one that ended with a count waits for the flush,
 * which must report it, and takes this occurrence into its summary. */
static enum gw_floodsum_verdict bump(struct entry *e, int64_t interval_ms,
                                     int64_t now_ms)
{
    if (now_ms >= e->end_ms && e->count == 0) {
        start_interval(e, interval_ms, now_ms);
        return GW_FLOODSUM_REPORT;
    }
    e->count++;
    return GW_FLOODSUM_COUNTED;
}

static enum gw_floodsum_verdict bump_other(struct gw_floodsum *fs,
                                           const struct key *k,
                                           int64_t interval_ms, int64_t now_ms)
{
    struct entry *o = &fs->other;
    enum gw_floodsum_verdict v = GW_FLOODSUM_REPORT;

    if (!o->used) {
        o->used = true;
        start_interval(o, interval_ms, now_ms);
    } else {
        v = bump(o, interval_ms, now_ms);
    }
    if (v == GW_FLOODSUM_REPORT) {
        memcpy(o->reason, k->reason, sizeof(o->reason));
    } else if (strcmp(o->reason, k->reason) != 0) {
        o->mixed = true;
    }
    return v;
}

enum gw_floodsum_verdict gw_floodsum_hit(struct gw_floodsum *fs,
                                         const char *source, const char *reason,
                                         int64_t interval_ms, int64_t now_ms)
{
    struct key k;
    struct entry *e = NULL;

    if (interval_ms <= 0) {
        return GW_FLOODSUM_REPORT;
    }
    make_key(source, reason, &k);
    e = find(fs, &k);
    if (e != NULL) {
        return bump(e, interval_ms, now_ms);
    }
    if (fs->used == fs->max_keys) {
        return bump_other(fs, &k, interval_ms, now_ms);
    }
    insert(fs, &k, interval_ms, now_ms);
    return GW_FLOODSUM_REPORT;
}

static void report(const struct entry *e, bool other, int64_t now_ms,
                   gw_floodsum_fn fn, void *ud)
{
    struct gw_floodsum_summary s;

    if (e->count == 0) {
        return;
    }
    s.source = other ? NULL : e->source;
    s.reason = e->mixed ? NULL : e->reason;
    s.count = e->count;
    s.period_ms = now_ms - e->start_ms;
    fn(ud, &s);
}

static void flush_ended(struct gw_floodsum *fs, int64_t now_ms, bool all,
                        gw_floodsum_fn fn, void *ud)
{
    for (size_t i = 0; i < fs->max_keys; i++) {
        struct entry *e = &fs->entries[i];
        if (e->used && (all || now_ms >= e->end_ms)) {
            report(e, false, now_ms, fn, ud);
            unlink_entry(fs, (uint32_t)i);
        }
    }
    if (fs->other.used && (all || now_ms >= fs->other.end_ms)) {
        report(&fs->other, true, now_ms, fn, ud);
        fs->other.used = false;
    }
}

void gw_floodsum_flush(struct gw_floodsum *fs, int64_t now_ms,
                       gw_floodsum_fn fn, void *ud)
{
    flush_ended(fs, now_ms, false, fn, ud);
}

void gw_floodsum_flush_all(struct gw_floodsum *fs, int64_t now_ms,
                           gw_floodsum_fn fn, void *ud)
{
    flush_ended(fs, now_ms, true, fn, ud);
}

size_t gw_floodsum_size(const struct gw_floodsum *fs)
{
    return fs->used + (fs->other.used ? 1 : 0);
}
