/*
 * The audit writer's side of the SIEM export (gateway/audit/export.h):
 * on the writer's thread, after its commits, it reads the events table
 * from the last id it handed on and pushes each committed event to the
 * export, in id order, which is the chain's order. Reading the table
 * rather than the writer's own records also sends the events other
 * writers commit: sshgate-admin's changes, and the host.pin and
 * backend.failure events connection threads write themselves. The
 * export's losses come back here as export.dropped events.
 */
#include "gateway/audit/internal.h"

#include "core/err.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "gateway/audit/export.h"
#include "store/events.h"

#include <stdio.h>

/* Events read per query, and queries per round of the writer's loop. */
#define FOLLOW_PAGE  256
#define FOLLOW_PAGES 8
/* export.dropped: the first loss at once, then at most one report (per
 * sink) this often. */
#define DROP_REPORT_MS 60000

/* Where the export begins: after the newest event when the store is first
 * opened, before this writer commits anything. */
void gw_audit_follow_begin(struct gw_audit_writer *w)
{
    struct store_event_filter filter = {.limit = 1};
    struct store_event *ev = NULL;
    size_t n = 0;

    if (w->export == NULL || w->follow_known || w->st == NULL) {
        return;
    }
    if (store_event_list(w->st, &filter, &ev, &n) != GW_OK) {
        gw_log_warn("export: cannot read the head of the chain: %s",
                    gw_err_msg());
        return;
    }
    w->follow_at = n > 0 ? ev[0].id : 0;
    w->follow_known = true;
    store_event_list_free(ev, n);
    gw_log_info("export: exporting the events after id %lld",
                (long long)w->follow_at);
}

static void push_event(struct gw_audit_writer *w, const struct store_event *e)
{
    struct gw_export_event x = {
        .id = e->id,
        .created_at = e->created_at,
        .kind = e->kind,
        .user = e->user,
        .client = e->client,
        .detail = e->detail,
        .prev_hash = e->prev_hash,
        .hash = e->hash,
    };

    gw_export_push(w->export, &x);
}

void gw_audit_follow(struct gw_audit_writer *w)
{
    /* In an outage nothing of ours is committed, and a read of a store
     * that takes no writes could wait out the busy timeout on every round
     * of the loop that spools. */
    if (w->export == NULL || w->st == NULL || gw_audit_in_outage(w)) {
        return;
    }
    if (!w->follow_known) {
        gw_audit_follow_begin(w);
    }
    for (int page = 0; w->follow_known && page < FOLLOW_PAGES; page++) {
        struct store_event_filter filter = {.limit = FOLLOW_PAGE,
                                            .first_id = w->follow_at + 1};
        struct store_event *ev = NULL;
        size_t n = 0;
        if (store_event_list(w->st, &filter, &ev, &n) != GW_OK) {
            gw_log_verbose("export: cannot read new events: %s", gw_err_msg());
            return; /* the next round tries again */
        }
        for (size_t i = 0; i < n; i++) {
            push_event(w, &ev[i]);
            w->follow_at = ev[i].id;
        }
        store_event_list_free(ev, n);
        if (n < FOLLOW_PAGE) {
            return;
        }
    }
}

/* One export.dropped per sink that lost events since its last report. */
void gw_audit_report_drops(struct gw_audit_writer *w)
{
    int64_t now = gw_now_ms();

    if (w->export == NULL || w->st == NULL) {
        return;
    }
    for (size_t i = 0; i < gw_export_sink_count(w->export); i++) {
        struct gw_export_drops d;
        const char *sink = gw_export_sink_name(w->export, i);
        if (now < w->next_drop_report_ms[i] ||
            !gw_export_take_drops(w->export, i, &d)) {
            continue;
        }
        if (store_event_addf(w->st, "export.dropped", NULL, NULL,
                             "sink=%s events=%llu first=%lld last=%lld "
                             "total=%llu",
                             sink, (unsigned long long)d.events,
                             (long long)d.first_id, (long long)d.last_id,
                             (unsigned long long)d.total) != GW_OK) {
            gw_export_return_drops(w->export, i, &d);
            return; /* the store is out: said when it is back */
        }
        gw_log_warn("export: %s: %llu events dropped (ids %lld to %lld), "
                    "%llu since the start",
                    sink, (unsigned long long)d.events, (long long)d.first_id,
                    (long long)d.last_id, (unsigned long long)d.total);
        w->next_drop_report_ms[i] = now + DROP_REPORT_MS;
    }
}
