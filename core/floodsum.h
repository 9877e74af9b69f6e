/*
 * Flood summaries: a way to say "this happened 28,000 times" in a couple of
 * lines instead of 28,000. Occurrences are grouped by a key (a source and a
 * reason, both short texts). The first occurrence of a key starts its
 * interval and is reported as usual; the others within the interval are
 * only counted. A periodic flush hands out, for each key whose interval has
 * ended with a count, one summary ("N more for SOURCE, REASON in T ms"),
 * and forgets the key, so that its next occurrence is reported again.
 *
 * Memory is bounded: a table holds at most max_keys keys. An occurrence of
 * a new key while the table is full is counted under one overflow entry
 * (summarised as "other sources"), so nothing goes uncounted.
 *
 * The clock is the caller's (now_ms, monotonic), and so is the interval,
 * passed with each occurrence so that a reloaded setting applies at once.
 * Nothing here locks: one table belongs to one thread (the listener's).
 */
#ifndef SSHGATE_CORE_FLOODSUM_H
#define SSHGATE_CORE_FLOODSUM_H

#include <stddef.h>
#include <stdint.h>

/* Longest source or reason kept, NUL included; longer ones are cut, which
 * can only merge keys that share this many leading characters. */
#define GW_FLOODSUM_TEXT_MAX 64

struct gw_floodsum;

enum gw_floodsum_verdict {
    GW_FLOODSUM_REPORT,  /* the first of its interval: report it now */
    GW_FLOODSUM_COUNTED, /* counted for the summary of its interval */
};

struct gw_floodsum_summary {
    const char *source; /* NULL: the overflow, "other sources" */
    const char *reason; /* NULL: the overflow mixed several reasons */
    uint64_t count;     /* occurrences counted, the reported one excluded */
    int64_t period_ms;  /* from the reported occurrence to the flush */
};

/* Receives one summary; its strings live until the callback returns. */
typedef void (*gw_floodsum_fn)(void *ud, const struct gw_floodsum_summary *s);

/* A table of at most max_keys keys (at least 1). GW_OK, GW_ERR_INVALID or
 * GW_ERR_NOMEM. */
int gw_floodsum_new(size_t max_keys, struct gw_floodsum **out);

/* NULL is fine. Whatever is still counted is lost: flush_all first. */
void gw_floodsum_free(struct gw_floodsum *fs);

/*
 * One occurrence of (source, reason) at now_ms. interval_ms 0 reports
 * every occurrence and keeps nothing. An occurrence after its key's
 * interval ended but before the flush saw it is counted into that
 * interval's summary (whose period_ms then covers it).
 */
enum gw_floodsum_verdict gw_floodsum_hit(struct gw_floodsum *fs,
                                         const char *source, const char *reason,
                                         int64_t interval_ms, int64_t now_ms);

/* Call fn for each key whose interval has ended by now_ms with a count
 * above 0; forget every key whose interval has ended. */
void gw_floodsum_flush(struct gw_floodsum *fs, int64_t now_ms,
                       gw_floodsum_fn fn, void *ud);

/* End every interval now (at shutdown): fn for each count, then the table
 * is empty. */
void gw_floodsum_flush_all(struct gw_floodsum *fs, int64_t now_ms,
                           gw_floodsum_fn fn, void *ud);

/* Keys held, the overflow entry included when it is in use. */
size_t gw_floodsum_size(const struct gw_floodsum *fs);

#endif
