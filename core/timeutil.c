#include "timeutil.h"

#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t gw_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void format_utc(time_t sec, long msec, char out[GW_TIME_LEN])
{
    struct tm tm;
    size_t len;

    gmtime_r(&sec, &tm);
    len = strftime(out, GW_TIME_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
    /* Milliseconds by hand: snprintf's "%03ld" cannot be proven to fit. */
    if (len + 6 <= GW_TIME_LEN - 1) {
        out[len] = '.';
        out[len + 1] = (char)('0' + (msec / 100) % 10);
        out[len + 2] = (char)('0' + (msec / 10) % 10);
        out[len + 3] = (char)('0' + msec % 10);
        out[len + 4] = 'Z';
        out[len + 5] = '\0';
    }
}

void gw_time_now_iso(char out[GW_TIME_LEN])
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    format_utc(ts.tv_sec, ts.tv_nsec / 1000000L, out);
}

void gw_time_iso(time_t t, char out[GW_TIME_LEN])
{
    format_utc(t, 0, out);
}

int64_t gw_time_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void gw_time_iso_ms(int64_t ms, char out[GW_TIME_LEN])
{
    int64_t sec = ms / 1000;
    int64_t rem = ms % 1000;

    /* Division truncates toward zero: a time before 1970 still has its
     * milliseconds counted forward from the second before. */
    if (rem < 0) {
        rem += 1000;
        sec -= 1;
    }
    format_utc((time_t)sec, (long)rem, out);
}

int gw_time_iso_parse_ms(const char *iso, int64_t *ms)
{
    struct tm tm;
    const char *rest = NULL;
    long msec = 0;
    time_t t;

    memset(&tm, 0, sizeof(tm));
    rest = strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm);
    if (rest == NULL) {
        return GW_ERR_INVALID;
    }
    if (rest[0] == '.') {
        for (int i = 1; i <= 3; i++) {
            if (rest[i] < '0' || rest[i] > '9') {
                return GW_ERR_INVALID;
            }
            msec = msec * 10 + (rest[i] - '0');
        }
        rest += 4;
    }
    if (strcmp(rest, "Z") != 0) {
        return GW_ERR_INVALID;
    }
    t = timegm(&tm);
    if (t == (time_t)-1 && tm.tm_year != 69) {
        return GW_ERR_INVALID;
    }
    *ms = (int64_t)t * 1000 + msec;
    return GW_OK;
}

static int parse_relative(const char *s, long *seconds)
{
    char *end = NULL;
    long n = strtol(s, &end, 10);
    long unit;

    if (end == s || n < 0 || n > 100000 || strlen(end) != 1) {
        return GW_ERR_INVALID;
    }
    switch (*end) {
    case 's':
        unit = 1;
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    case 'w':
        unit = 7 * 86400;
        break;
    default:
        return GW_ERR_INVALID;
    }
    *seconds = n * unit;
    return GW_OK;
}

static int parse_absolute(const char *s, time_t *t)
{
    struct tm tm;
    const char *rest = NULL;

    memset(&tm, 0, sizeof(tm));
    rest = strptime(s, "%Y-%m-%d", &tm);
    if (rest == NULL) {
        return GW_ERR_INVALID;
    }
    if (*rest == 'T' || *rest == ' ') {
        const char *r2 = strptime(rest + 1, "%H:%M:%S", &tm);
        if (r2 == NULL) {
            r2 = strptime(rest + 1, "%H:%M", &tm);
        }
        if (r2 == NULL) {
            return GW_ERR_INVALID;
        }
        rest = r2;
    }
    if (*rest == 'Z') {
        rest++;
    }
    if (*rest != '\0') {
        return GW_ERR_INVALID;
    }
    /* Reject dates strptime accepted but normalisation would move. */
    int mday = tm.tm_mday;
    int mon = tm.tm_mon;
    *t = timegm(&tm);
    if (*t == (time_t)-1 || tm.tm_mday != mday || tm.tm_mon != mon) {
        return GW_ERR_INVALID;
    }
    return GW_OK;
}

int gw_time_parse(const char *s, enum gw_time_dir dir, char out[GW_TIME_LEN])
{
    long seconds = 0;
    time_t t = 0;

    if (parse_relative(s, &seconds) == GW_OK) {
        t = time(NULL) + (time_t)dir * (time_t)seconds;
        gw_time_iso(t, out);
        return GW_OK;
    }
    if (parse_absolute(s, &t) == GW_OK) {
        gw_time_iso(t, out);
        return GW_OK;
    }
    return gw_err_set(GW_ERR_INVALID,
                      "'%s' is not a time (use 2026-12-31, "
                      "2026-12-31T10:00:00Z, or 30m, 12h, 7d, 4w)",
                      s);
}
