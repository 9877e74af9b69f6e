/*
 * Logging: one macro family, the level in the macro's name, one line per
 * event. Each thread may set a context prefix (the connection id, peer and
 * user of the connection it serves); every line it logs carries it.
 * Output goes to stderr (foreground) or syslog (daemon).
 */
#ifndef SSHGATE_CORE_LOG_H
#define SSHGATE_CORE_LOG_H

#include <stdbool.h>

enum gw_log_level {
    GW_LOG_ERROR = 0,
    GW_LOG_WARN = 1,
    GW_LOG_INFO = 2,
    GW_LOG_VERBOSE = 3,
    GW_LOG_DEBUG = 4,
};

/* Set up the sink. ident names the program in syslog and on stderr. */
void gw_log_init(const char *ident, bool use_syslog, int level);

/* Change the process-wide level (e.g. on SIGHUP). Thread-safe. */
void gw_log_set_level(int level);
int gw_log_get_level(void);

/* "error", "warn", "info", "verbose", "debug" -> level. GW_OK or
 * GW_ERR_INVALID. */
int gw_log_level_parse(const char *name, int *level);
const char *gw_log_level_name(int level);

/*
 * Set this thread's context prefix ("conn=12 peer=10.0.0.1:5555 user=alice").
 * NULL clears it. The string is copied.
 */
void gw_log_set_context(const char *context);

/* Is a message of this level written at all? Lets callers skip work. */
bool gw_log_enabled(int level);

void gw_log_write(int level, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define gw_log_error(...)   gw_log_write(GW_LOG_ERROR, __func__, __VA_ARGS__)
#define gw_log_warn(...)    gw_log_write(GW_LOG_WARN, __func__, __VA_ARGS__)
#define gw_log_info(...)    gw_log_write(GW_LOG_INFO, __func__, __VA_ARGS__)
#define gw_log_verbose(...) gw_log_write(GW_LOG_VERBOSE, __func__, __VA_ARGS__)
#define gw_log_debug(...)   gw_log_write(GW_LOG_DEBUG, __func__, __VA_ARGS__)

#endif
