/*
 * Giving up root after the listening sockets are bound: sshgated can be
 * started as root to bind port 22 and then serve as an unprivileged
 * account (config key run_as_user).
 */
#ifndef SSHGATE_GATEWAY_PRIVDROP_H
#define SSHGATE_GATEWAY_PRIVDROP_H

/*
 * Switch the whole process to user (its uid, its primary gid, no
 * supplementary groups), for good: afterwards it checks that root cannot
 * be regained. "" does nothing. Already running as that user is fine;
 * running as anyone else but root is an error. Call before any thread is
 * started. GW_OK, GW_ERR_NOTFOUND (no such user), GW_ERR_DENIED.
 */
int gw_drop_privileges(const char *user);

#endif
