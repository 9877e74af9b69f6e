/*
 * What the listener tells the log and the audit trail about the
 * connections it refuses and the accepts that fail, kept short under a
 * flood (core/floodsum.h): a client refused in a loop would otherwise
 * write one conn.refused event and one log line per attempt.
 *
 * The first refusal of a source address for a reason within the interval
 * (refusal_summary_interval) is logged and recorded as a conn.refused
 * event, as without summaries; the others are counted, and when the
 * interval ends one more event (count=N) and one line ("refused N more
 * connections from ADDR (REASON) in the last T s") say how many. The
 * listener's error lines that every new connection can repeat (a failing
 * accept, a session that cannot be set up) are summarised the same way,
 * in the log only.
 *
 * Used by the listener thread alone, so nothing here locks.
 */
#ifndef SSHGATE_GATEWAY_FRONT_REFUSAL_LOG_H
#define SSHGATE_GATEWAY_FRONT_REFUSAL_LOG_H

#include "core/cidr.h"
#include "gateway/audit/writer.h"

#include <stdint.h>

struct gw_refusal_log;

/* Events go to q, which must outlive the log. GW_OK or GW_ERR_NOMEM. */
int gw_refusal_log_new(struct gw_audit_writer *q, struct gw_refusal_log **out);

/* NULL is fine. Counts not flushed are lost: flush_all first. */
void gw_refusal_log_free(struct gw_refusal_log *rl);

/*
 * Call about once a second (each listener round): interval_s, the
 * refusal_summary_interval in force, applies from now on (0: log and
 * record every refusal), and the summaries of intervals that have ended
 * are written.
 */
void gw_refusal_log_tick(struct gw_refusal_log *rl, long interval_s,
                         int64_t now_ms);

/* A connection from peer was refused: reason names the setting (the
 * event's reason=), text is what the client was told. */
void gw_refusal_log_refused(struct gw_refusal_log *rl,
                            const struct gw_addr *peer, const char *reason,
                            const char *text, int64_t now_ms);

/* The error line "what: detail", summarised per (what, detail). */
void gw_refusal_log_error(struct gw_refusal_log *rl, const char *what,
                          const char *detail, int64_t now_ms);

/* Write every pending summary now (when the listener stops). */
void gw_refusal_log_flush_all(struct gw_refusal_log *rl, int64_t now_ms);

#endif
