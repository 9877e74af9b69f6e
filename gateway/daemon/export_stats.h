/*
 * The SIEM export's loss counter (docs/operator-guide.md, "SIEM export"),
 * kept here in the daemon room so that every room may read it, the
 * metrics among them: gateway/audit/export.c adds to it, anyone reads it,
 * from any thread, without a lock.
 */
#ifndef SSHGATE_GATEWAY_DAEMON_EXPORT_STATS_H
#define SSHGATE_GATEWAY_DAEMON_EXPORT_STATS_H

#include <stdint.h>

/* n more deliveries dropped (a full queue, or left at the stop). */
void gw_export_count_dropped(uint64_t n);

/*
 * Deliveries the export dropped since the daemon started, over all sinks
 * (an event two sinks could not take counts twice); 0 without
 * event_export. A counter: it only grows. Per sink and per report, the
 * export.dropped events say more.
 */
uint64_t gw_export_dropped(void);

#endif
