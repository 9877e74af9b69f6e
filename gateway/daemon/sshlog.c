#include "gateway/daemon/sshlog.h"

#include "core/log.h"

#include <libssh/callbacks.h>
#include <libssh/libssh.h>

/* libssh's warnings are mostly about one peer's misbehaviour ("socket
 * error", "received SSH_MSG_DISCONNECT"), which our own lines already
 * report at info, so they land at verbose; its protocol chatter at debug. */
static int gw_level_of(int priority)
{
    return priority <= SSH_LOG_WARN ? GW_LOG_VERBOSE : GW_LOG_DEBUG;
}

static void bridge(int priority, const char *function, const char *buffer,
                   void *userdata)
{
    int level = gw_level_of(priority);

    (void)userdata;
    (void)function; /* buffer already starts with "function: " */
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
    ssh_set_log_callback(bridge);
    ssh_set_log_userdata(NULL);
    ssh_set_log_level(ssh_level);
}
