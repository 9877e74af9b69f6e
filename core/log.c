#include "log.h"

#include "err.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static atomic_int log_level = GW_LOG_INFO;
static atomic_bool log_to_syslog = false;
static const char *log_ident = "sshgate";
static _Thread_local char log_context[160];

static const char *const level_names[] = {"error", "warn", "info", "verbose",
                                          "debug"};

void gw_log_init(const char *ident, bool use_syslog, int level)
{
    log_ident = ident;
    atomic_store(&log_to_syslog, use_syslog);
    gw_log_set_level(level);
    if (use_syslog) {
        openlog(ident, LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
    }
}

void gw_log_set_level(int level)
{
    if (level < GW_LOG_ERROR) {
        level = GW_LOG_ERROR;
    }
    if (level > GW_LOG_DEBUG) {
        level = GW_LOG_DEBUG;
    }
    atomic_store(&log_level, level);
}

int gw_log_get_level(void)
{
    return atomic_load(&log_level);
}

int gw_log_level_parse(const char *name, int *level)
{
    for (int i = 0; i <= GW_LOG_DEBUG; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *level = i;
            return GW_OK;
        }
    }
    return gw_err_set(GW_ERR_INVALID,
                      "unknown log level '%s' (error, warn, info, verbose, "
                      "debug)",
                      name);
}

const char *gw_log_level_name(int level)
{
    if (level < GW_LOG_ERROR || level > GW_LOG_DEBUG) {
        return "unknown";
    }
    return level_names[level];
}

void gw_log_set_context(const char *context)
{
    if (context == NULL) {
        log_context[0] = '\0';
        return;
    }
    snprintf(log_context, sizeof(log_context), "%s", context);
}

bool gw_log_enabled(int level)
{
    return level <= atomic_load(&log_level);
}

static int syslog_priority(int level)
{
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_INFO,
                               LOG_DEBUG};
    return prio[level];
}

/* Replace control characters so that a peer cannot forge log lines. */
static void sanitize(char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f) {
            *s = '?';
        }
    }
}

void gw_log_write(int level, const char *func, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (!gw_log_enabled(level)) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sanitize(msg);

    if (atomic_load(&log_to_syslog)) {
        if (log_context[0] != '\0') {
            syslog(syslog_priority(level), "%s %s", log_context, msg);
        } else {
            syslog(syslog_priority(level), "%s", msg);
        }
        return;
    }

    struct timespec ts;
    struct tm tm;
    char stamp[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    /* One fprintf call per line: stdio locks the stream, lines never mix. */
    fprintf(stderr, "%s.%03ldZ %s[%s] %s%s%s%s%s\n", stamp,
            ts.tv_nsec / 1000000L, log_ident, level_names[level],
            level == GW_LOG_DEBUG ? func : "",
            level == GW_LOG_DEBUG ? ": " : "", log_context,
            log_context[0] != '\0' ? " " : "", msg);
}
