/* Clocks and the time formats people and the database use. */
#ifndef SSHGATE_CORE_TIMEUTIL_H
#define SSHGATE_CORE_TIMEUTIL_H

#include <stdint.h>
#include <time.h>

/* "2026-11-21T19:04:25.123Z" plus NUL. */
#define GW_TIME_LEN 32

/* Milliseconds on the monotonic clock: for deadlines and timeouts. */
int64_t gw_now_ms(void);

/* Current UTC time as "YYYY-MM-DDTHH:MM:SS.mmmZ". */
void gw_time_now_iso(char out[GW_TIME_LEN]);

/* A UTC epoch time as "YYYY-MM-DDTHH:MM:SS.000Z". */
void gw_time_iso(time_t t, char out[GW_TIME_LEN]);

/* Milliseconds since the epoch on the wall clock: when a record happened,
 * for records written later (gw_now_ms is for deadlines). */
int64_t gw_time_wall_ms(void);

/* Wall clock milliseconds since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ",
 * the form the database stores. */
void gw_time_iso_ms(int64_t ms, char out[GW_TIME_LEN]);

/* The reverse of gw_time_iso_ms: exactly "YYYY-MM-DDTHH:MM:SS.mmmZ" (or
 * without ".mmm") to milliseconds since the epoch. GW_OK or
 * GW_ERR_INVALID. */
int gw_time_iso_parse_ms(const char *iso, int64_t *ms);

/* Direction for relative times: "7d" means 7 days ago or 7 days ahead. */
enum gw_time_dir { GW_TIME_PAST = -1, GW_TIME_FUTURE = 1 };

/*
 * Parse a time given on the command line into the canonical ISO form:
 *   "2026-12-31"                 midnight UTC of that day
 *   "2026-12-31T10:00[:00][Z]"   UTC
 *   "90s" "30m" "12h" "7d" "4w"  relative to now, in direction dir
 * GW_OK or GW_ERR_INVALID with a detail message.
 */
int gw_time_parse(const char *s, enum gw_time_dir dir, char out[GW_TIME_LEN]);

#endif
