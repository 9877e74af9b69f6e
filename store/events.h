/*
 * The audit event log, hash-chained: every row stores
 *   hash = sha256(prev_hash || canonical(row))
 * where prev_hash is the hash of the row before it (64 zeros for the first).
 * Editing, deleting or inserting a row by hand breaks the chain, and
 * store_event_verify (store/verify.h) names the first row where it breaks.
 */
#ifndef SSHGATE_STORE_EVENTS_H
#define SSHGATE_STORE_EVENTS_H

#include "core/crypto.h"
#include "core/timeutil.h"

#include <stddef.h>
#include <stdint.h>

struct store;

#define STORE_EVENT_KIND_MAX   48
#define STORE_EVENT_USER_MAX   128 /* login names from clients are untrusted */
#define STORE_EVENT_CLIENT_MAX 80  /* "[ipv6]:port" */

struct store_event {
    int64_t id;
    char created_at[GW_TIME_LEN];
    char kind[STORE_EVENT_KIND_MAX];
    char user[STORE_EVENT_USER_MAX + 1];
    char client[STORE_EVENT_CLIENT_MAX];
    char *detail;
    char prev_hash[GW_SHA256_HEX_LEN];
    char hash[GW_SHA256_HEX_LEN];
};

/*
 * Append an event. user and client may be NULL. Runs inside the caller's
 * transaction if one is open (so a change and its event commit together),
 * otherwise in its own. GW_OK or GW_ERR_DB.
 */
int store_event_add(struct store *st, const char *kind, const char *user,
                    const char *client, const char *detail);

/*
 * store_event_add for a record written after the fact (an asynchronous
 * writer, a spool replayed after an outage): created_at is at_ms, wall
 * clock milliseconds since the epoch, when it happened; 0 means now. The
 * chain follows the order of writing (ids), so created_at may go back.
 */
int store_event_add_at(struct store *st, int64_t at_ms, const char *kind,
                       const char *user, const char *client,
                       const char *detail);

/* printf-style detail (cut at 1023 bytes). */
int store_event_addf(struct store *st, const char *kind, const char *user,
                     const char *client, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int store_event_addf_at(struct store *st, int64_t at_ms, const char *kind,
                        const char *user, const char *client, const char *fmt,
                        ...) __attribute__((format(printf, 6, 7)));

struct store_event_filter {
    const char *since; /* canonical ISO time or NULL */
    const char *kind;  /* exact kind, or a prefix ending in '.', or NULL */
    const char *user;  /* NULL for all */
    size_t limit;      /* 0 for no limit: the newest `limit` events */
    /* > 0: only events with an id from it on, and `limit` counts from the
     * oldest of them (a reader that follows the chain by id) */
    int64_t first_id;
};

/* Events matching filter, oldest first. */
int store_event_list(struct store *st, const struct store_event_filter *filter,
                     struct store_event **events, size_t *n);
void store_event_list_free(struct store_event *events, size_t n);

#endif
