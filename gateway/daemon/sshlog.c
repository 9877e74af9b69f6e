#include "gateway/daemon/sshlog.h"

#include "core/log.h"

#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include <string.h>

/* libssh's warnings are mostly about one peer's misbehaviour ("socket
 * error", "received SSH_MSG_DISCONNECT"), which our own lines already
 * report at info, so they land at verbose; its protocol chatter at debug. */
static int gw_level_of(int priority)
{
    return priority <= SSH_LOG_WARN ? GW_LOG_VERBOSE : GW_LOG_DEBUG;
}

/* Per thread, like libssh's own log state: the level our log wants, and the
 * tap (gateway/conn/authtap.c) that reads libssh's lines on this thread. */
static __thread int forward_level = SSH_LOG_WARN;
static __thread gw_sshlog_tap_fn tap_fn;
static __thread void *tap_data;

static void bridge(int priority, const char *function, const char *buffer,
                   void *userdata)
{
    int level = gw_level_of(priority);
    size_t flen = strlen(function);

    (void)userdata;
    if (tap_fn != NULL) {
        /* buffer is "function: message" (log.c ssh_log_custom) */
        const char *message = buffer;
        if (strncmp(buffer, function, flen) == 0 &&
            strncmp(buffer + flen, ": ", 2) == 0) {
            message = buffer + flen + 2;
        }
        tap_fn(tap_data, priority, function, message);
    }
    if (priority > forward_level) {
        return; /* raised for the tap only */
    }
    if (level == GW_LOG_DEBUG) {
        gw_log_write(level, "libssh", "%s", buffer); /* "libssh: " prefix */
    } else {
        gw_log_write(level, "libssh", "libssh: %s", buffer);
    }
}

void gw_sshlog_thread_init(void)
{
    int level = gw_log_get_level();
    int ssh_level = SSH_LOG_WARN;

    if (level >= GW_LOG_DEBUG) {
        /* SSH_LOG_DEBUG (3) at most: SSH_LOG_TRACE dumps packet contents. */
        ssh_level = SSH_LOG_DEBUG;
    }
    forward_level = ssh_level;
    tap_fn = NULL;
    tap_data = NULL;
    ssh_set_log_callback(bridge);
    ssh_set_log_userdata(NULL);
    ssh_set_log_level(ssh_level);
}

void gw_sshlog_set_tap(gw_sshlog_tap_fn fn, void *data)
{
    tap_fn = fn;
    tap_data = data;
    ssh_set_log_level(fn != NULL && forward_level < SSH_LOG_DEBUG
                          ? SSH_LOG_DEBUG
                          : forward_level);
}
