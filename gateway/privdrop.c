#include "gateway/privdrop.h"

#include "core/err.h"
#include "core/log.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

static int lookup(const char *user, uid_t *uid, gid_t *gid)
{
    char buf[4096];
    struct passwd pw;
    struct passwd *found = NULL;

    if (getpwnam_r(user, &pw, buf, sizeof(buf), &found) != 0 || found == NULL) {
        return gw_err_set(GW_ERR_NOTFOUND, "run_as_user: no local user '%s'",
                          user);
    }
    *uid = found->pw_uid;
    *gid = found->pw_gid;
    return GW_OK;
}

int gw_drop_privileges(const char *user)
{
    uid_t uid = 0;
    gid_t gid = 0;
    int rc;

    if (user == NULL || user[0] == '\0') {
        return GW_OK;
    }
    rc = lookup(user, &uid, &gid);
    if (rc != GW_OK) {
        return rc;
    }
    if (geteuid() == uid && getuid() == uid) {
        return GW_OK;
    }
    if (geteuid() != 0) {
        return gw_err_set(GW_ERR_DENIED,
                          "run_as_user '%s' needs sshgated to start as root",
                          user);
    }
    /* Groups first: after setuid there is no right left to change them. */
    if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
        return gw_err_set(GW_ERR_DENIED, "cannot switch to user '%s': %s", user,
                          strerror(errno));
    }
    if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        return gw_err_set(GW_ERR_DENIED,
                          "switched to user '%s' but root came back", user);
    }
    gw_log_info("running as user %s (uid %u, gid %u)", user, (unsigned)uid,
                (unsigned)gid);
    return GW_OK;
}
