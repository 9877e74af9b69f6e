#include "gateway/front/refusal_log.h"

#include "core/err.h"
#include "core/floodsum.h"
#include "core/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* Source and reason pairs summarised at once; refusals from further
 * sources are counted together as "other sources". Each costs about
 * 160 bytes. */
#define REFUSAL_KEYS 1024
/* Distinct error lines summarised at once (there are a handful). */
#define ERROR_KEYS 16

struct gw_refusal_log {
    struct gw_audit_writer *q;
    struct gw_floodsum *refusals; /* keyed by (address, reason) */
    struct gw_floodsum *errors;   /* keyed by (what, detail) */
    int64_t interval_ms;
};

int gw_refusal_log_new(struct gw_audit_writer *q, struct gw_refusal_log **out)
{
    struct gw_refusal_log *rl = calloc(1, sizeof(*rl));

    if (rl == NULL) {
        return GW_ERR_NOMEM;
    }
    rl->q = q;
    if (gw_floodsum_new(REFUSAL_KEYS, &rl->refusals) != GW_OK ||
        gw_floodsum_new(ERROR_KEYS, &rl->errors) != GW_OK) {
        gw_refusal_log_free(rl);
        return GW_ERR_NOMEM;
    }
    *out = rl;
    return GW_OK;
}

void gw_refusal_log_free(struct gw_refusal_log *rl)
{
    if (rl == NULL) {
        return;
    }
    gw_floodsum_free(rl->refusals);
    gw_floodsum_free(rl->errors);
    free(rl);
}

void gw_refusal_log_refused(struct gw_refusal_log *rl,
                            const struct gw_addr *peer, const char *reason,
                            const char *text, int64_t now_ms)
{
    char ip[GW_ADDR_TEXT_MAX];
    char peer_text[GW_ADDR_TEXT_MAX];
    char detail[160];

    /* Keyed by address alone: a flood comes from ever new ports. */
    gw_addr_format_ip(peer, ip);
    if (gw_floodsum_hit(rl->refusals, ip, reason, rl->interval_ms, now_ms) !=
        GW_FLOODSUM_REPORT) {
        return;
    }
    gw_addr_format(peer, peer_text);
    gw_log_info("refused connection from %s: %s (%s)", peer_text, text, reason);
    snprintf(detail, sizeof(detail), "reason=%s message=\"%s\"", reason, text);
    (void)gw_audit_event(rl->q, "conn.refused", NULL, peer_text, "%s", detail);
}

void gw_refusal_log_error(struct gw_refusal_log *rl, const char *what,
                          const char *detail, int64_t now_ms)
{
    if (gw_floodsum_hit(rl->errors, what, detail, rl->interval_ms, now_ms) ==
        GW_FLOODSUM_REPORT) {
        gw_log_error("%s: %s", what, detail);
    }
}

/* Whole seconds, at least 1: a summary flushed early at shutdown must not
 * claim "the last 0 s". */
static long long seconds(int64_t ms)
{
    return ms < 1500 ? 1 : (long long)((ms + 500) / 1000);
}

static void write_refusal_summary(void *ud, const struct gw_floodsum_summary *s)
{
    struct gw_refusal_log *rl = ud;
    const char *reason = s->reason != NULL ? s->reason : "several";
    char detail[160];

    gw_log_info("refused %" PRIu64 " more connections from %s (%s) in the "
                "last %lld s",
                s->count, s->source != NULL ? s->source : "other sources",
                reason, seconds(s->period_ms));
    snprintf(detail, sizeof(detail), "reason=%s count=%" PRIu64 " seconds=%lld",
             reason, s->count, seconds(s->period_ms));
    (void)gw_audit_event(rl->q, "conn.refused", NULL, s->source, "%s", detail);
}

static void write_error_summary(void *ud, const struct gw_floodsum_summary *s)
{
    (void)ud;
    /* No source: more distinct lines than ERROR_KEYS, counted together. */
    gw_log_error("%s: %s (%" PRIu64 " more in the last %lld s)",
                 s->source != NULL ? s->source : "listener",
                 s->reason != NULL ? s->reason : "several errors", s->count,
                 seconds(s->period_ms));
}

void gw_refusal_log_tick(struct gw_refusal_log *rl, long interval_s,
                         int64_t now_ms)
{
    rl->interval_ms = (int64_t)interval_s * 1000;
    gw_floodsum_flush(rl->refusals, now_ms, write_refusal_summary, rl);
    gw_floodsum_flush(rl->errors, now_ms, write_error_summary, rl);
}

void gw_refusal_log_flush_all(struct gw_refusal_log *rl, int64_t now_ms)
{
    gw_floodsum_flush_all(rl->refusals, now_ms, write_refusal_summary, rl);
    gw_floodsum_flush_all(rl->errors, now_ms, write_error_summary, rl);
}
