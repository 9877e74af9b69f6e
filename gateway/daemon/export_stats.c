#include "gateway/daemon/export_stats.h"

#include "gateway/daemon/metrics.h"

#include <stdatomic.h>

static atomic_uint_fast64_t dropped;

void gw_export_count_dropped(uint64_t n)
{
    atomic_fetch_add_explicit(&dropped, n, memory_order_relaxed);
    /* and sshgate_events_export_dropped_total on /metrics */
    gw_metrics_add(GW_M_EVENTS_EXPORT_DROPPED, n);
}

uint64_t gw_export_dropped(void)
{
    return (uint64_t)atomic_load_explicit(&dropped, memory_order_relaxed);
}
