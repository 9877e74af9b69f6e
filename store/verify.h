/*
 * Audit verification (store/verify.c): the event hash chain, and for
 * every ended session what its session.end event binds into the chain:
 * the sessions row, its file transfers and its recording's chunks. What
 * this detects and what it cannot is in docs/audit-schema.md ("What audit
 * verify detects and what it does not").
 */
#ifndef SSHGATE_STORE_VERIFY_H
#define SSHGATE_STORE_VERIFY_H

#include "core/crypto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

/* Problems kept in a report; problems_total counts them all. */
#define STORE_AUDIT_PROBLEMS_MAX 1000
#define STORE_AUDIT_WHAT_MAX     256

/* A chain head as an operator keeps it: "ID:HASH", the newest event. */
struct store_audit_head {
    int64_t id; /* 0: none */
    char hash[GW_SHA256_HEX_LEN];
};

/* What a problem is about: the id is an event's, or a session's. */
enum store_audit_object {
    STORE_AUDIT_EVENT,   /* a row of the event chain */
    STORE_AUDIT_HEAD,    /* the head given to verify (id: its event) */
    STORE_AUDIT_SESSION, /* a session: its row, transfers or recording */
};

struct store_audit_problem {
    enum store_audit_object object;
    int64_t id;
    char what[STORE_AUDIT_WHAT_MAX]; /* "row content does not match ..." */
};

/* Session ids first..last (consecutive), for the lists of sessions that
 * are open or not covered. */
struct store_audit_range {
    int64_t first;
    int64_t last;
};

struct store_audit_report {
    int64_t events;               /* rows of the chain */
    struct store_audit_head head; /* the newest event (id 0: none) */
    bool head_given;              /* verify was given a head to check */
    bool head_ok;                 /* ... and the chain holds it */
    int64_t sessions_verified;    /* ended, bound, checked */
    int64_t sessions_open;        /* not verified until they end */
    int64_t sessions_uncovered;   /* ended before schema 3: no digests */
    struct store_audit_range *open;
    size_t nopen;
    struct store_audit_range *uncovered;
    size_t nuncovered;
    struct store_audit_problem *problems; /* in the order found */
    size_t nproblems;
    size_t problems_total;
};

/* The newest event's id and hash. GW_OK, GW_ERR_NOTFOUND (no events),
 * GW_ERR_DB. */
int store_audit_head(struct store *st, struct store_audit_head *head);

/* Parse "ID:HASH" (as store_audit_head's, audit head prints it).
 * GW_OK or GW_ERR_INVALID with a message. */
int store_audit_head_parse(const char *text, struct store_audit_head *head);

/*
 * Verify the audit trail in one read snapshot: the whole event chain
 * (every broken row, not only the first), and for every ended session its
 * row, transfers and recording against its session.end / session.amend
 * events. With expect (a head kept elsewhere), also that event expect->id
 * is there with exactly that hash. Sessions still open and sessions ended
 * before schema 3 are counted and listed, not problems.
 *
 * GW_OK when nothing is wrong; GW_ERR_INVALID when *r lists problems;
 * otherwise a read failed (GW_ERR_DB, GW_ERR_NOMEM) and *r is empty. Clear
 * *r with store_audit_report_clear in every case.
 */
int store_audit_verify(struct store *st, const struct store_audit_head *expect,
                       struct store_audit_report *r);
void store_audit_report_clear(struct store_audit_report *r);

/*
 * The event chain alone: GW_OK when intact; GW_ERR_INVALID with *bad_id
 * set to the first bad event and why filled in; GW_ERR_DB on a read
 * failure. (store_audit_verify's walk, first problem only.)
 */
int store_event_verify(struct store *st, int64_t *bad_id, char *why,
                       size_t whylen);

#endif
