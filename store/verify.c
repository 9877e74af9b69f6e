/*
 * store_audit_verify: the event chain row by row, then a merge of the
 * sessions table (in id order) with the events that name a session
 * (sorted by session id), recomputing what each session.end bound with
 * the same functions that wrote it (store/chain.c).
 */
#include "store/verify.h"

#include "store/internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char genesis_hash[GW_SHA256_HEX_LEN] =
    "0000000000000000000000000000000000000000000000000000000000000000";

struct verify {
    struct store *st;
    struct store_audit_report *r;
    const struct store_audit_head *expect;
    bool expect_seen;
    char expect_stored[GW_SHA256_HEX_LEN];
    size_t problems_cap;
    size_t open_cap;
    size_t uncovered_cap;
};

static int problem(struct verify *v, enum store_audit_object object, int64_t id,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int problem(struct verify *v, enum store_audit_object object, int64_t id,
                   const char *fmt, ...)
{
    struct store_audit_report *r = v->r;
    struct store_audit_problem *p = NULL;
    va_list ap;
    int rc;

    r->problems_total++;
    if (r->nproblems >= STORE_AUDIT_PROBLEMS_MAX) {
        return GW_OK;
    }
    rc = st_grow(&r->problems, &v->problems_cap, r->nproblems, sizeof(*p));
    if (rc != GW_OK) {
        return rc;
    }
    p = &r->problems[r->nproblems++];
    p->object = object;
    p->id = id;
    va_start(ap, fmt);
    vsnprintf(p->what, sizeof(p->what), fmt, ap);
    va_end(ap);
    return GW_OK;
}

/* Add id to a list of ranges, growing the last one when it follows. */
static int add_range(struct store_audit_range **list, size_t *n, size_t *cap,
                     int64_t id)
{
    int rc;

    if (*n > 0 && (*list)[*n - 1].last == id - 1) {
        (*list)[*n - 1].last = id;
        return GW_OK;
    }
    rc = st_grow(list, cap, *n, sizeof(**list));
    if (rc == GW_OK) {
        (*list)[(*n)++] = (struct store_audit_range){id, id};
    }
    return rc;
}

/* ---- the event chain --------------------------------------------------- */

static const char *col_text(struct st_stmt *stmt, int col)
{
    return (const char *)st_col_text(stmt, col);
}

/* One row: its link to the row before, and its own hash. prev becomes
 * the row's stored hash, so that one bad row is one problem, not a
 * cascade down the rest of the chain. */
static int check_event(struct verify *v, struct st_stmt *stmt, int64_t expect,
                       char prev[GW_SHA256_HEX_LEN])
{
    int64_t id = st_col_int64(stmt, 0);
    const char *stored_prev = col_text(stmt, 6);
    const char *hash = col_text(stmt, 7);
    char computed[GW_SHA256_HEX_LEN];
    int rc = GW_OK;

    if (id > expect) {
        rc = id == expect + 1
                 ? problem(v, STORE_AUDIT_EVENT, expect,
                           "missing: the row was deleted")
                 : problem(v, STORE_AUDIT_EVENT, expect,
                           "missing, with the events after it up to %lld: "
                           "the rows were deleted",
                           (long long)id - 1);
    } else if (stored_prev == NULL || strcmp(stored_prev, prev) != 0) {
        /* A gap explains a broken link by itself: only without one. */
        rc = problem(v, STORE_AUDIT_EVENT, id,
                     "prev_hash is not the hash of %s: the row before was "
                     "rewritten or this row was inserted",
                     id == 1 ? "the chain's start" : "the event before");
    }
    if (rc == GW_OK &&
        (col_text(stmt, 1) == NULL || col_text(stmt, 2) == NULL ||
         col_text(stmt, 5) == NULL || hash == NULL || stored_prev == NULL ||
         st_event_hash(id, col_text(stmt, 1), col_text(stmt, 2),
                       col_text(stmt, 3), col_text(stmt, 4), col_text(stmt, 5),
                       stored_prev, computed) != GW_OK ||
         strcmp(computed, hash) != 0)) {
        rc = problem(v, STORE_AUDIT_EVENT, id,
                     "row content does not match its hash (the row was "
                     "edited)");
    }
    snprintf(prev, GW_SHA256_HEX_LEN, "%s", hash != NULL ? hash : "");
    if (v->expect != NULL && id == v->expect->id) {
        v->expect_seen = true;
        snprintf(v->expect_stored, sizeof(v->expect_stored), "%s",
                 hash != NULL ? hash : "");
    }
    v->r->head.id = id;
    snprintf(v->r->head.hash, sizeof(v->r->head.hash), "%s",
             hash != NULL ? hash : "");
    return rc;
}

static int walk_events(struct verify *v)
{
    struct st_stmt *stmt = NULL;
    char prev[GW_SHA256_HEX_LEN];
    int64_t expect = 1;
    int64_t seq = 0;
    int step;
    int rc;

    memcpy(prev, genesis_hash, sizeof(prev));
    rc = st_prepare(v->st,
                    "SELECT id, created_at, kind, username, client_addr, "
                    "detail, prev_hash, hash FROM events ORDER BY id",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    while ((step = st_step(stmt)) == ST_ROW) {
        int64_t id = st_col_int64(stmt, 0);
        v->r->events++;
        rc = check_event(v, stmt, expect, prev);
        if (rc != GW_OK) {
            goto out;
        }
        expect = id + 1;
    }
    if (step != ST_DONE) {
        rc = st_fail(v->st, step, "reading events");
        goto out;
    }
    rc = st_event_sequence(v->st, &seq);
    if (rc == GW_OK && seq == expect) {
        rc = problem(v, STORE_AUDIT_EVENT, expect,
                     "deleted from the end of the chain");
    } else if (rc == GW_OK && seq > expect) {
        rc = problem(v, STORE_AUDIT_EVENT, expect,
                     "deleted from the end of the chain, with the events "
                     "after it up to %lld",
                     (long long)seq);
    }
out:
    st_done(v->st, stmt);
    return rc;
}

/* The head kept elsewhere: that event, with exactly that hash. */
static int check_head(struct verify *v)
{
    const struct store_audit_head *h = v->expect;

    if (h == NULL) {
        return GW_OK;
    }
    v->r->head_given = true;
    if (v->expect_seen && strcmp(v->expect_stored, h->hash) == 0) {
        v->r->head_ok = true;
        return GW_OK;
    }
    if (v->expect_seen) {
        return problem(v, STORE_AUDIT_HEAD, h->id,
                       "event %lld has hash %.16s..., not the head's "
                       "%.16s...: the chain was rewritten up to there",
                       (long long)h->id, v->expect_stored, h->hash);
    }
    if (h->id > v->r->head.id) {
        return problem(v, STORE_AUDIT_HEAD, h->id,
                       "event %lld is not in the chain, which ends at event "
                       "%lld: events from there on were removed",
                       (long long)h->id, (long long)v->r->head.id);
    }
    return problem(v, STORE_AUDIT_HEAD, h->id, "event %lld is missing",
                   (long long)h->id);
}

/* ---- what the events say about one session ------------------------------ */

/*
 * The value of key in a key=value detail, quotes respected; the first
 * occurrence wins (the store writes its digests before any value that
 * comes from outside). False when absent.
 */
static bool detail_value(const char *detail, const char *key, char *out,
                         size_t outlen)
{
    const char *p = detail;
    size_t klen = strlen(key);

    while (*p != '\0') {
        const char *name = NULL;
        const char *val = NULL;
        size_t nlen;
        size_t vlen;
        while (*p == ' ') {
            p++;
        }
        name = p;
        p += strcspn(p, "= ");
        nlen = (size_t)(p - name);
        if (*p != '=') {
            continue;
        }
        val = ++p;
        if (*p == '"') {
            for (p++; *p != '\0' && *p != '"'; p++) {
                p += p[0] == '\\' && p[1] != '\0';
            }
            p += *p == '"';
        } else {
            p += strcspn(p, " ");
        }
        vlen = (size_t)(p - val);
        if (nlen == klen && strncmp(name, key, klen) == 0) {
            snprintf(out, outlen, "%.*s", (int)vlen, val);
            return true;
        }
    }
    return false;
}

/* A digest an event bound (recording= or transfers=); a session.amend
 * also names the row it added (chunk=, transfer=; 0 for none), or the
 * file transfer row it replaced in place and the digest before
 * (replaced=). */
struct binding {
    int64_t event;
    int64_t row;
    char hex[GW_SHA256_HEX_LEN];      /* or "none" */
    char replaced[GW_SHA256_HEX_LEN]; /* "" unless a row was replaced */
    bool seen;
};

/* The bindings of session.end, then of each session.amend, in order. */
struct bindings {
    struct binding *b;
    size_t n;
    size_t cap;
};

struct session_events {
    int64_t start_event;
    int64_t end_event; /* the first session.end */
    int ends;
    char row[GW_SHA256_HEX_LEN]; /* "" when the end bound no row */
    struct bindings rec;
    struct bindings tr;
    int64_t degraded_event;
};

static const struct binding no_binding = {0, 0, "", "", false};

static const struct binding *last_binding(const struct bindings *list)
{
    return list->n > 0 ? &list->b[list->n - 1] : &no_binding;
}

static int add_binding(struct bindings *list, int64_t event, const char *detail,
                       const char *key, const char *row_key)
{
    struct binding b = {event, 0, "", "", false};
    char row[24];
    int rc;

    if (!detail_value(detail, key, b.hex, sizeof(b.hex))) {
        return GW_OK;
    }
    if (detail_value(detail, row_key, row, sizeof(row))) {
        b.row = strtoll(row, NULL, 10);
    }
    if (!detail_value(detail, "replaced", b.replaced, sizeof(b.replaced))) {
        b.replaced[0] = '\0';
    }
    rc = st_grow(&list->b, &list->cap, list->n, sizeof(b));
    if (rc == GW_OK) {
        list->b[list->n++] = b;
    }
    return rc;
}

/*
 * The states a recording's chunks or a session's transfers pass through
 * (the start, then after each row in the order written), against the
 * bindings: the first binding of a state (session.end's, or the amend of
 * a recording started late) must be one of them, and every row after it
 * must be named by the session.amend that bound it, with the state after
 * it. So a late write binds only the row it added: rows put in by hand
 * before or after it stay visible.
 */
struct tracker {
    struct verify *v;
    int64_t session_id;
    const char *whole; /* "recording 4: its chunks", "its file transfers" */
    const char *noun;  /* "recording 4, chunk seq", "file transfer" */
    struct bindings *list;
    struct binding *first;
    bool reached;
    int rc;
    size_t problems; /* the report's count when the walk began */
};

static void tracker_init(struct tracker *t, struct verify *v, int64_t sid,
                         const char *whole, const char *noun,
                         struct bindings *list)
{
    memset(t, 0, sizeof(*t));
    t->v = v;
    t->session_id = sid;
    t->whole = whole;
    t->noun = noun;
    t->list = list;
    t->problems = v->r->problems_total;
    for (size_t i = 0; i < list->n && t->first == NULL; i++) {
        if (strcmp(list->b[i].hex, "none") != 0) {
            t->first = &list->b[i];
        }
    }
}

/* One state: after row (its id, 0 for the start), shown as label. */
static void track(struct tracker *t, int64_t row, int64_t label,
                  const char *state)
{
    struct binding *b = NULL;

    if (t->rc != GW_OK || t->first == NULL) {
        return;
    }
    if (!t->reached) {
        t->reached = strcmp(state, t->first->hex) == 0;
        t->first->seen = t->reached;
        return;
    }
    for (size_t i = 0; i < t->list->n && b == NULL && row != 0; i++) {
        if (t->list->b[i].row == row && &t->list->b[i] != t->first) {
            b = &t->list->b[i];
        }
    }
    if (b == NULL) {
        t->rc = problem(t->v, STORE_AUDIT_SESSION, t->session_id,
                        "%s %lld was stored after event %lld bound the "
                        "session, and no session.amend names it: it was "
                        "added by hand",
                        t->noun, (long long)label, (long long)t->first->event);
        return;
    }
    b->seen = true;
    if (strcmp(b->hex, state) != 0) {
        t->rc = problem(t->v, STORE_AUDIT_SESSION, t->session_id,
                        "%s %lld does not match what event %lld bound: it or "
                        "a row before it was changed",
                        t->noun, (long long)label, (long long)b->event);
        t->first = NULL; /* every later state differs for the same reason */
    }
}

/* After the walk: bindings no state matched. */
static int tracker_finish(struct tracker *t)
{
    if (t->rc != GW_OK || t->first == NULL) {
        return t->rc;
    }
    if (!t->reached) {
        return problem(t->v, STORE_AUDIT_SESSION, t->session_id,
                       "%s never had the state event %lld bound (one was "
                       "changed, added or removed)",
                       t->whole, (long long)t->first->event);
    }
    for (size_t i = 0; i < t->list->n; i++) {
        const struct binding *b = &t->list->b[i];
        if (!b->seen && strcmp(b->hex, "none") != 0) {
            return problem(t->v, STORE_AUDIT_SESSION, t->session_id,
                           "event %lld binds %s row %lld, which is not "
                           "there: it was removed",
                           (long long)b->event, t->noun, (long long)b->row);
        }
    }
    return GW_OK;
}

static void session_events_clear(struct session_events *e)
{
    free(e->rec.b);
    free(e->tr.b);
    memset(e, 0, sizeof(*e));
}

static int note_event(struct session_events *e, struct st_stmt *stmt)
{
    int64_t id = st_col_int64(stmt, 1);
    const char *kind = col_text(stmt, 2);
    const char *detail = col_text(stmt, 3);
    bool end;
    int rc;

    if (kind == NULL || detail == NULL) {
        return GW_OK; /* not a row sshgate wrote: the chain walk names it */
    }
    end = strcmp(kind, "session.end") == 0;
    if (strcmp(kind, "session.start") == 0) {
        e->start_event = e->start_event != 0 ? e->start_event : id;
        return GW_OK;
    }
    if (strcmp(kind, "recording.degraded") == 0) {
        e->degraded_event = e->degraded_event != 0 ? e->degraded_event : id;
        return GW_OK;
    }
    if (end && e->ends++ == 0) {
        e->end_event = id;
        if (!detail_value(detail, "row", e->row, sizeof(e->row))) {
            e->row[0] = '\0';
        }
    }
    rc = add_binding(&e->rec, id, detail, "recording", "chunk");
    if (rc == GW_OK) {
        rc = add_binding(&e->tr, id, detail, "transfers", "transfer");
    }
    return rc;
}

/* ---- one session's recording -------------------------------------------- */

struct recording_row {
    int64_t id;
    bool degraded;
    char base[GW_SHA256_HEX_LEN];
};

static int read_recording(struct st_stmt *stmt, void *out)
{
    struct recording_row *rec = out;

    rec->id = st_col_int64(stmt, 0);
    rec->degraded = !st_col_is_null(stmt, 3);
    return st_recording_base(rec->id, st_col_int64(stmt, 4), col_text(stmt, 1),
                             col_text(stmt, 2), rec->base);
}

/*
 * Walk the chunks in the order they were written: each stored digest
 * against the one computed from the chunk before (a chunk changed, or one
 * before it removed or inserted), and the chain over all of them into
 * *final. *bad when some chunk's digest did not match.
 */
static int walk_chunks(struct verify *v, int64_t session_id,
                       const struct recording_row *rec, struct tracker *t,
                       char final[GW_SHA256_HEX_LEN], bool *bad)
{
    struct st_stmt *stmt = NULL;
    char prev[GW_SHA256_HEX_LEN];
    char mine[GW_SHA256_HEX_LEN];
    int step;
    int rc = st_prepare(v->st,
                        "SELECT seq, data, digest, id FROM recording_chunks "
                        "WHERE recording_id = ?1 ORDER BY id",
                        &stmt);

    *bad = false;
    if (rc != GW_OK) {
        return rc;
    }
    memcpy(final, rec->base, GW_SHA256_HEX_LEN);
    memcpy(prev, rec->base, sizeof(prev));
    track(t, 0, 0, final);
    st_bind_int64(stmt, 1, rec->id);
    while ((step = st_step(stmt)) == ST_ROW) {
        int64_t seq = st_col_int64(stmt, 0);
        const char *data = col_text(stmt, 1);
        size_t len = (size_t)st_col_bytes(stmt, 1);
        const char *stored = col_text(stmt, 2);
        bool same = strcmp(prev, final) == 0;
        data = data != NULL ? data : "";
        rc = st_chunk_digest(final, seq, data, len, final);
        if (rc == GW_OK) {
            rc = same ? GW_OK : st_chunk_digest(prev, seq, data, len, mine);
        }
        if (rc != GW_OK) {
            goto out;
        }
        if (same) {
            memcpy(mine, final, sizeof(mine));
        }
        /* Chunks written before schema 3 have no digest of their own. */
        if (stored != NULL && strcmp(stored, mine) != 0) {
            *bad = true;
            t->first = NULL; /* this chunk is the problem, not what follows */
            rc = problem(v, STORE_AUDIT_SESSION, session_id,
                         "recording %lld, chunk seq %lld: its data does not "
                         "match its digest (the chunk was changed, or one "
                         "before it removed or inserted)",
                         (long long)rec->id, (long long)seq);
            if (rc != GW_OK) {
                goto out;
            }
        }
        track(t, st_col_int64(stmt, 3), seq, final);
        memcpy(prev, stored != NULL ? stored : mine, sizeof(prev));
    }
    if (step != ST_DONE) {
        rc = st_fail(v->st, step, "reading recording chunks");
    }
out:
    st_done(v->st, stmt);
    return rc;
}

static int check_recording(struct verify *v, int64_t id,
                           struct session_events *e)
{
    const struct binding *last = last_binding(&e->rec);
    struct recording_row rec;
    struct tracker t;
    char final[GW_SHA256_HEX_LEN];
    char whole[48];
    char noun[48];
    bool bad = false;
    int rc;

    memset(&rec, 0, sizeof(rec));
    rc = st_get_one(v->st,
                    "SELECT id, header, created_at, degraded, session_id "
                    "FROM recordings WHERE session_id = ?1",
                    ST_PARAMS(ST_INT64(id)), read_recording, &rec,
                    "reading recording");
    if (rc == GW_ERR_NOTFOUND) {
        return strcmp(last->hex, "none") == 0
                   ? GW_OK
                   : problem(v, STORE_AUDIT_SESSION, id,
                             "event %lld binds a recording, but there is "
                             "none: it was deleted",
                             (long long)last->event);
    }
    if (rc != GW_OK) {
        return rc;
    }
    if (strcmp(last->hex, "none") == 0) {
        return problem(v, STORE_AUDIT_SESSION, id,
                       "has recording %lld, but event %lld says it had none: "
                       "it was added afterwards",
                       (long long)rec.id, (long long)last->event);
    }
    if (e->degraded_event != 0 && !rec.degraded) {
        rc = problem(v, STORE_AUDIT_SESSION, id,
                     "recording %lld: its degraded note was removed, but "
                     "event %lld says it lost data",
                     (long long)rec.id, (long long)e->degraded_event);
    }
    snprintf(whole, sizeof(whole), "recording %lld: its chunks",
             (long long)rec.id);
    snprintf(noun, sizeof(noun), "recording %lld, chunk seq",
             (long long)rec.id);
    tracker_init(&t, v, id, whole, noun, &e->rec);
    if (rc == GW_OK) {
        rc = walk_chunks(v, id, &rec, &t, final, &bad);
    }
    if (rc != GW_OK || bad) {
        return rc; /* the chunk named is the problem */
    }
    if (t.rc != GW_OK || t.problems != v->r->problems_total) {
        return t.rc;
    }
    rc = tracker_finish(&t);
    if (rc == GW_OK && t.problems == v->r->problems_total &&
        strcmp(final, last->hex) != 0) {
        rc = problem(v, STORE_AUDIT_SESSION, id,
                     "recording %lld: its chunks do not match recording= of "
                     "event %lld (a chunk was changed, added or removed)",
                     (long long)rec.id, (long long)last->event);
    }
    return rc;
}

static void track_transfer(void *arg, int64_t row, const char *digest)
{
    track(arg, row, row, digest);
}

/*
 * A file transfer row replaced in place after the session ended (a file's
 * final state stored after session.end) changes every state from that row
 * on, so the bindings up to the last replacement cannot be recomputed
 * from the rows any more. What can be checked: each replacement replaced
 * exactly what was bound just before it (else a row was changed, added or
 * removed in between), and the last one is where the walk of the rows as
 * they stand starts (*from; NULL when nothing was replaced).
 */
static int check_replaced(struct verify *v, int64_t id, struct bindings *list,
                          struct binding **from)
{
    const struct binding *before = NULL;
    int rc = GW_OK;

    *from = NULL;
    for (size_t i = 0; i < list->n && rc == GW_OK; i++) {
        struct binding *b = &list->b[i];
        if (b->replaced[0] != '\0') {
            *from = b;
            if (before == NULL || strcmp(b->replaced, before->hex) != 0) {
                rc = problem(v, STORE_AUDIT_SESSION, id,
                             "event %lld replaced file transfer %lld, but "
                             "not in the state event %lld bound: a row was "
                             "changed, added or removed before it",
                             (long long)b->event, (long long)b->row,
                             (long long)(before != NULL ? before->event : 0));
            }
        }
        if (strcmp(b->hex, "none") != 0) {
            before = b;
        }
    }
    for (size_t i = 0; *from != NULL && &list->b[i] != *from; i++) {
        list->b[i].seen = true; /* superseded, checked through the chain */
    }
    return rc;
}

static int check_transfers(struct verify *v, int64_t id,
                           struct session_events *e)
{
    const struct binding *last = last_binding(&e->tr);
    struct binding *from = NULL;
    char digest[GW_SHA256_HEX_LEN];
    struct tracker t;
    int rc;

    tracker_init(&t, v, id, "its file transfers", "file transfer", &e->tr);
    rc = check_replaced(v, id, &e->tr, &from);
    if (from != NULL) {
        t.first = from;
    }
    if (rc == GW_OK) {
        rc = st_transfers_walk(v->st, id, track_transfer, &t, digest);
    }
    if (rc == GW_OK) {
        rc = tracker_finish(&t);
    }
    if (rc == GW_OK && t.problems == v->r->problems_total &&
        strcmp(digest, last->hex) != 0) {
        rc = problem(v, STORE_AUDIT_SESSION, id,
                     "its file transfers do not match transfers= of event "
                     "%lld (a row was changed, added or removed)",
                     (long long)last->event);
    }
    return rc;
}

/* ---- one session --------------------------------------------------------- */

/* An ended session whose session.end bound its row (schema 3 on). */
static int check_bound(struct verify *v, int64_t id, struct session_events *e)
{
    char digest[GW_SHA256_HEX_LEN];
    int rc = GW_OK;

    v->r->sessions_verified++;
    if (e->start_event == 0) {
        rc = problem(v, STORE_AUDIT_SESSION, id,
                     "has no session.start event (the row was not written "
                     "by sshgate)");
    }
    if (rc == GW_OK) {
        rc = st_session_row_digest(v->st, id, digest);
    }
    if (rc == GW_OK && strcmp(digest, e->row) != 0) {
        rc = problem(v, STORE_AUDIT_SESSION, id,
                     "its row does not match row= of its session.end (event "
                     "%lld): a column was changed",
                     (long long)e->end_event);
    }
    if (rc == GW_OK) {
        rc = check_transfers(v, id, e);
    }
    if (rc == GW_OK) {
        rc = check_recording(v, id, e);
    }
    return rc;
}

static int check_session(struct verify *v, int64_t id, bool ended,
                         struct session_events *e)
{
    struct store_audit_report *r = v->r;

    if (!ended && e->end_event != 0) {
        return problem(v, STORE_AUDIT_SESSION, id,
                       "is open in the table, but event %lld ended it: "
                       "ended_at was cleared",
                       (long long)e->end_event);
    }
    if (!ended) {
        r->sessions_open++;
        if (e->start_event == 0) {
            return problem(v, STORE_AUDIT_SESSION, id,
                           "has no session.start event (the row was not "
                           "written by sshgate)");
        }
        return add_range(&r->open, &r->nopen, &v->open_cap, id);
    }
    if (e->end_event == 0) {
        return problem(v, STORE_AUDIT_SESSION, id,
                       "has ended, but there is no session.end event (the "
                       "row was edited)");
    }
    if (e->ends > 1) {
        int rc = problem(v, STORE_AUDIT_SESSION, id,
                         "has %d session.end events", e->ends);
        if (rc != GW_OK) {
            return rc;
        }
    }
    if (e->row[0] == '\0') {
        r->sessions_uncovered++;
        return add_range(&r->uncovered, &r->nuncovered, &v->uncovered_cap, id);
    }
    return check_bound(v, id, e);
}

/* ---- the merge ----------------------------------------------------------- */

struct cursor {
    struct st_stmt *stmt;
    bool has_row;
};

static int advance(struct verify *v, struct cursor *c)
{
    int step = st_step(c->stmt);

    c->has_row = step == ST_ROW;
    if (step != ST_ROW && step != ST_DONE) {
        return st_fail(v->st, step, "reading events");
    }
    return GW_OK;
}

/* Events naming sessions below `below` that have no row: one problem per
 * session. */
static int skip_rowless(struct verify *v, struct cursor *ev, int64_t below)
{
    int64_t reported = 0;
    int rc = GW_OK;

    while (rc == GW_OK && ev->has_row && st_col_int64(ev->stmt, 0) < below) {
        int64_t sid = st_col_int64(ev->stmt, 0);
        if (sid != reported) {
            reported = sid;
            rc = problem(v, STORE_AUDIT_SESSION, sid,
                         "has no sessions row, but event %lld (%s) names it: "
                         "the row was deleted",
                         (long long)st_col_int64(ev->stmt, 1),
                         col_text(ev->stmt, 2));
        }
        if (rc == GW_OK) {
            rc = advance(v, ev);
        }
    }
    return rc;
}

static int walk_sessions(struct verify *v)
{
    struct cursor ev = {NULL, false};
    struct cursor ss = {NULL, false};
    int rc;

#define SESSION_EVENTS                                              \
    "id, kind, detail FROM events WHERE kind IN ('session.start', " \
    "'session.end', 'session.amend', 'recording.degraded') AND "    \
    "substr(detail, 1, 8) = 'session=' ORDER BY 1, 2"
    rc = st_prepare(v->st,
                    ST_SQL(v->st,
                           "SELECT CAST(substr(detail, 9, instr(detail || "
                           "' ', ' ') - 9) AS INTEGER), " SESSION_EVENTS,
                           "SELECT CAST(substr(detail, 9, strpos(detail || "
                           "' ', ' ') - 9) AS BIGINT), " SESSION_EVENTS),
                    &ev.stmt);
    if (rc == GW_OK) {
        rc = st_prepare(v->st,
                        "SELECT id, ended_at IS NOT NULL FROM sessions "
                        "ORDER BY id",
                        &ss.stmt);
    }
    if (rc == GW_OK) {
        rc = advance(v, &ev);
    }
    if (rc == GW_OK) {
        rc = advance(v, &ss);
    }
    while (rc == GW_OK && ss.has_row) {
        int64_t id = st_col_int64(ss.stmt, 0);
        bool ended = st_col_int(ss.stmt, 1) != 0;
        struct session_events e;
        memset(&e, 0, sizeof(e));
        rc = skip_rowless(v, &ev, id);
        while (rc == GW_OK && ev.has_row && st_col_int64(ev.stmt, 0) == id) {
            rc = note_event(&e, ev.stmt);
            if (rc == GW_OK) {
                rc = advance(v, &ev);
            }
        }
        if (rc == GW_OK) {
            rc = check_session(v, id, ended, &e);
        }
        session_events_clear(&e);
        if (rc == GW_OK) {
            rc = advance(v, &ss);
        }
    }
    if (rc == GW_OK) {
        rc = skip_rowless(v, &ev, INT64_MAX);
    }
    st_done(v->st, ev.stmt);
    st_done(v->st, ss.stmt);
    return rc;
}

/* ---- the API ---------------------------------------------------------------
 */

void store_audit_report_clear(struct store_audit_report *r)
{
    free(r->open);
    free(r->uncovered);
    free(r->problems);
    memset(r, 0, sizeof(*r));
}

int store_audit_verify(struct store *st, const struct store_audit_head *expect,
                       struct store_audit_report *r)
{
    struct verify v;
    bool own_tx = !st_in_transaction(st);
    int rc;

    memset(r, 0, sizeof(*r));
    memset(&v, 0, sizeof(v));
    v.st = st;
    v.r = r;
    v.expect = expect;
    /* One snapshot: a writer appending meanwhile would look like a
     * deleted tail, or a session ended without its event. */
    if (own_tx) {
        rc = st_begin_read(st);
        if (rc != GW_OK) {
            return rc;
        }
    }
    rc = walk_events(&v);
    if (rc == GW_OK) {
        rc = check_head(&v);
    }
    if (rc == GW_OK) {
        rc = walk_sessions(&v);
    }
    if (own_tx) {
        st_end_read(st);
    }
    if (rc != GW_OK) {
        store_audit_report_clear(r);
        return rc;
    }
    return r->problems_total > 0 ? GW_ERR_INVALID : GW_OK;
}

static int read_head(struct st_stmt *stmt, void *out)
{
    struct store_audit_head *h = out;

    h->id = st_col_int64(stmt, 0);
    st_col_copy(stmt, 1, h->hash, sizeof(h->hash));
    return GW_OK;
}

int store_audit_head(struct store *st, struct store_audit_head *head)
{
    int rc;

    memset(head, 0, sizeof(*head));
    rc = st_get_one(st, "SELECT id, hash FROM events ORDER BY id DESC LIMIT 1",
                    NULL, 0, read_head, head, "reading the chain head");
    if (rc == GW_ERR_NOTFOUND) {
        rc = gw_err_set(GW_ERR_NOTFOUND, "the audit chain has no events");
    }
    return rc;
}

int store_audit_head_parse(const char *text, struct store_audit_head *head)
{
    const char *colon = strchr(text, ':');
    char *end = NULL;
    long long id;
    size_t i;

    memset(head, 0, sizeof(*head));
    id = colon != NULL && isdigit((unsigned char)text[0])
             ? strtoll(text, &end, 10)
             : 0;
    if (id <= 0 || end != colon || strlen(colon + 1) != 64) {
        return gw_err_set(GW_ERR_INVALID,
                          "'%s' is not a chain head (ID:HASH, as 'audit head' "
                          "prints it)",
                          text);
    }
    for (i = 0; i < 64; i++) {
        unsigned char c = (unsigned char)colon[1 + i];
        if (!isxdigit(c)) {
            return gw_err_set(GW_ERR_INVALID,
                              "'%s' is not a chain head (the hash is 64 hex "
                              "digits)",
                              text);
        }
        head->hash[i] = (char)tolower(c);
    }
    head->hash[64] = '\0';
    head->id = id;
    return GW_OK;
}

int store_event_verify(struct store *st, int64_t *bad_id, char *why,
                       size_t whylen)
{
    struct store_audit_report r;
    int rc = store_audit_verify(st, NULL, &r);

    if (rc != GW_OK && rc != GW_ERR_INVALID) {
        return rc;
    }
    rc = GW_OK;
    for (size_t i = 0; i < r.nproblems; i++) {
        if (r.problems[i].object == STORE_AUDIT_EVENT) {
            *bad_id = r.problems[i].id;
            snprintf(why, whylen, "%s", r.problems[i].what);
            rc = GW_ERR_INVALID;
            break;
        }
    }
    store_audit_report_clear(&r);
    return rc;
}
