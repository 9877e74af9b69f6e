#include "gateway/audit/apply.h"

#include "core/err.h"
#include "store/events.h"
#include "store/recordings.h"
#include "store/sessions.h"
#include "store/transfers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_BUCKETS 4096u

/* What an open session's records resolve to. */
struct id_entry {
    struct id_entry *next;
    char *conn_uid;
    int64_t channel;
    int64_t session_id;
    int64_t rec_id; /* 0: no recording yet (or not known here) */
};

struct gw_audit_ids {
    struct id_entry *buckets[ID_BUCKETS];
};

int gw_audit_ids_new(struct gw_audit_ids **out)
{
    *out = calloc(1, sizeof(**out));
    return *out != NULL ? GW_OK : GW_ERR_NOMEM;
}

static void free_entry(struct id_entry *e)
{
    free(e->conn_uid);
    free(e);
}

/* A rolled back transaction may have learned ids that do not exist: forget
 * everything (the store answers again; outages are rare). */
void gw_audit_ids_rollback(struct gw_audit_ids *ids)
{
    for (size_t i = 0; i < ID_BUCKETS; i++) {
        while (ids->buckets[i] != NULL) {
            struct id_entry *e = ids->buckets[i];
            ids->buckets[i] = e->next;
            free_entry(e);
        }
    }
}

void gw_audit_ids_free(struct gw_audit_ids *ids)
{
    if (ids != NULL) {
        gw_audit_ids_rollback(ids);
        free(ids);
    }
}

static size_t bucket_of(const char *conn_uid, int64_t channel)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (const char *p = conn_uid; *p != '\0'; p++) {
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    }
    h = (h ^ (uint64_t)channel) * 1099511628211ULL;
    return (size_t)(h % ID_BUCKETS);
}

static struct id_entry **find_slot(struct gw_audit_ids *ids,
                                   const char *conn_uid, int64_t channel)
{
    struct id_entry **p = &ids->buckets[bucket_of(conn_uid, channel)];

    while (*p != NULL && ((*p)->channel != channel ||
                          strcmp((*p)->conn_uid, conn_uid) != 0)) {
        p = &(*p)->next;
    }
    return p;
}

static int remember(struct gw_audit_ids *ids, const char *conn_uid,
                    int64_t channel, int64_t session_id, struct id_entry **out)
{
    struct id_entry *e = calloc(1, sizeof(*e));
    struct id_entry **head = &ids->buckets[bucket_of(conn_uid, channel)];

    if (e == NULL || (e->conn_uid = strdup(conn_uid)) == NULL) {
        free(e);
        return GW_ERR_NOMEM;
    }
    e->channel = channel;
    e->session_id = session_id;
    e->next = *head;
    *head = e;
    *out = e;
    return GW_OK;
}

/* The entry of r's session: from the map, else from the store. */
static int resolve(struct store *st, struct gw_audit_ids *ids,
                   const struct gw_audit_record *r, struct id_entry **out)
{
    struct id_entry **slot;
    int64_t id = 0;
    int rc;

    if (r->conn_uid == NULL) {
        return gw_err_set(GW_ERR_INVALID, "%s record without a session",
                          gw_audit_kind_name(r->kind));
    }
    slot = find_slot(ids, r->conn_uid, r->channel);
    if (*slot != NULL) {
        *out = *slot;
        return GW_OK;
    }
    rc = store_session_find(st, r->conn_uid, (int)r->channel, &id);
    if (rc == GW_ERR_NOTFOUND) {
        return gw_err_set(GW_ERR_NOTFOUND, "no session row for %s channel %lld",
                          r->conn_uid, (long long)r->channel);
    }
    return rc != GW_OK ? rc : remember(ids, r->conn_uid, r->channel, id, out);
}

static void forget(struct gw_audit_ids *ids, const struct gw_audit_record *r)
{
    struct id_entry **slot = find_slot(ids, r->conn_uid, r->channel);
    struct id_entry *e = *slot;

    if (e != NULL) {
        *slot = e->next;
        free_entry(e);
    }
}

static int apply_session_start(struct store *st, struct gw_audit_ids *ids,
                               const struct gw_audit_record *r)
{
    struct store_session_start s = {0};
    struct id_entry *e = NULL;
    int64_t id = 0;
    int rc;

    if (r->conn_uid == NULL) {
        return gw_err_set(GW_ERR_INVALID, "session start without a key");
    }
    s.at_ms = r->at_ms;
    s.node = r->node;
    s.conn_uid = r->conn_uid;
    s.channel = (int)r->channel;
    s.user = r->user;
    s.client = r->client;
    s.host = r->host;
    s.login = r->login;
    s.kind = r->session_kind;
    s.pty = r->pty;
    s.command = r->command;
    s.detail = r->detail;
    rc = store_session_start(st, &s, &id);
    if (rc == GW_OK) {
        rc = remember(ids, r->conn_uid, r->channel, id, &e);
    }
    return rc;
}

static int apply_session_end(struct store *st, struct gw_audit_ids *ids,
                             const struct gw_audit_record *r)
{
    struct store_session_end end = {0};
    struct id_entry *e = NULL;
    int rc = resolve(st, ids, r, &e);

    if (rc != GW_OK) {
        return rc;
    }
    end.at_ms = r->at_ms;
    end.bytes_up = r->bytes_up;
    end.bytes_down = r->bytes_down;
    end.has_exit_status = r->has_exit_status;
    end.exit_status = (int)r->exit_status;
    end.exit_signal = r->exit_signal;
    end.reason = r->reason;
    rc = store_session_end(st, e->session_id, &end);
    if (rc == GW_ERR_EXISTS) {
        rc = GW_OK; /* ended already (replayed after a commit we lost) */
    }
    if (rc == GW_OK && r->kill_done) {
        rc = store_session_kill_done(st, e->session_id);
    }
    if (rc == GW_OK) {
        forget(ids, r);
    }
    return rc;
}

static int apply_bytes(struct store *st, struct gw_audit_ids *ids,
                       const struct gw_audit_record *r)
{
    struct id_entry *e = NULL;
    int rc = resolve(st, ids, r, &e);

    return rc != GW_OK ? rc
                       : store_session_add_bytes(st, e->session_id, r->bytes_up,
                                                 r->bytes_down);
}

static int apply_transfer(struct store *st, struct gw_audit_ids *ids,
                          const struct gw_audit_record *r)
{
    struct store_transfer t;
    struct id_entry *e = NULL;
    char empty[1] = "";
    int rc = resolve(st, ids, r, &e);

    if (rc != GW_OK) {
        return rc;
    }
    memset(&t, 0, sizeof(t));
    t.session_id = e->session_id;
    t.at_ms = r->at_ms;
    snprintf(t.operation, sizeof(t.operation), "%s",
             r->operation != NULL ? r->operation : "");
    t.path = r->path != NULL ? r->path : empty;
    t.path2 = r->path2 != NULL ? r->path2 : empty;
    t.bytes_read = r->bytes_read;
    t.bytes_written = r->bytes_written;
    t.file_seq = r->file_seq; /* a file's final state replaces its open row */
    snprintf(t.sha256, sizeof(t.sha256), "%s",
             r->sha256 != NULL ? r->sha256 : "");
    snprintf(t.status, sizeof(t.status), "%s",
             r->status != NULL ? r->status : "");
    return store_transfer_add(st, &t);
}

/* The recording row of r's session: known here, or in the store. */
static int resolve_recording(struct store *st, struct gw_audit_ids *ids,
                             const struct gw_audit_record *r,
                             struct id_entry **out)
{
    struct store_recording rec;
    int rc = resolve(st, ids, r, out);

    if (rc != GW_OK || (*out)->rec_id > 0) {
        return rc;
    }
    memset(&rec, 0, sizeof(rec));
    rc = store_recording_get(st, (*out)->session_id, &rec);
    if (rc == GW_OK) {
        (*out)->rec_id = rec.id;
    }
    store_recording_clear(&rec);
    return rc;
}

static int apply_recording(struct store *st, struct gw_audit_ids *ids,
                           const struct gw_audit_record *r)
{
    struct id_entry *e = NULL;
    int rc;

    if (r->kind == GW_AUDIT_REC_START) {
        rc = resolve(st, ids, r, &e);
        if (rc == GW_OK) {
            rc = store_recording_start(st, e->session_id,
                                       r->header != NULL ? r->header : "",
                                       &e->rec_id);
        }
        return rc;
    }
    rc = resolve_recording(st, ids, r, &e);
    if (rc != GW_OK) {
        return rc;
    }
    if (r->kind == GW_AUDIT_REC_CHUNK) {
        return store_recording_append(
            st, e->rec_id, r->seq, r->data != NULL ? r->data : "", r->data_len);
    }
    rc = store_recording_degraded(st, e->rec_id,
                                  r->reason != NULL ? r->reason : "");
    if (rc == GW_OK) {
        char detail[512];
        snprintf(detail, sizeof(detail), "session=%lld reason=\"%s\"",
                 (long long)e->session_id, r->reason != NULL ? r->reason : "");
        rc = store_event_add_at(st, r->at_ms, "recording.degraded", r->user,
                                r->client, detail);
    }
    return rc;
}

int gw_audit_apply(struct store *st, struct gw_audit_ids *ids,
                   const struct gw_audit_record *r)
{
    switch (r->kind) {
    case GW_AUDIT_EVENT:
        return store_event_add_at(st, r->at_ms,
                                  r->event_kind != NULL ? r->event_kind : "",
                                  r->user, r->client, r->detail);
    case GW_AUDIT_SESSION_START:
        return apply_session_start(st, ids, r);
    case GW_AUDIT_SESSION_BYTES:
        return apply_bytes(st, ids, r);
    case GW_AUDIT_SESSION_END:
        return apply_session_end(st, ids, r);
    case GW_AUDIT_KILL_DONE:
        return store_session_kill_done(st, r->number);
    case GW_AUDIT_TRANSFER:
        return apply_transfer(st, ids, r);
    case GW_AUDIT_REC_START:
    case GW_AUDIT_REC_CHUNK:
    case GW_AUDIT_REC_DEGRADED:
        return apply_recording(st, ids, r);
    default:
        return gw_err_set(GW_ERR_INVALID, "audit record of kind %d",
                          (int)r->kind);
    }
}

bool gw_audit_transient(int status)
{
    return status == GW_ERR_TIMEOUT || status == GW_ERR_IO ||
           status == GW_ERR_NOMEM;
}
