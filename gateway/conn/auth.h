/*
 * Front authentication against the store: publickey (only a verified
 * signature authenticates; a probe only answers "this key would do"),
 * password and keyboard-interactive (one password prompt), as allowed by
 * auth_methods. Counts failures per connection (max_auth_attempts), and
 * through gateway/conn/lockout.c per source address in memory
 * (source_lockout_threshold) and per user in the database
 * (lockout_threshold; lockout_scope says what her lock refuses), delays
 * failures exponentially, and writes one audit event per attempt. Never
 * logs or stores a password.
 */
#ifndef SSHGATE_GATEWAY_CONN_AUTH_H
#define SSHGATE_GATEWAY_CONN_AUTH_H

#include <libssh/libssh.h>
#include <libssh/server.h>

struct gw_conn;

/* Advertise the methods auth_methods allows on c's session. */
void gw_auth_advertise(struct gw_conn *c);

/* An SSH_REQUEST_AUTH message (from the connection's message callback,
 * gateway/conn/dispatch.c): decide and reply. 1 for libssh's default
 * failure reply, 0 when answered (or, past max_auth_attempts, deliberately
 * not: the loop disconnects). */
int gw_auth_on_message(struct gw_conn *c, ssh_message msg);

/* Answer, count and record every request libssh dropped that is not
 * answered yet (gateway/conn/authtap.h), oldest first: a failure with
 * the reason found ("bad signature", "disallowed algorithm", "malformed
 * key", ...), as for any failed attempt. */
void gw_auth_answer_drops(struct gw_conn *c);

/* The connection is ending before authentication: record why, if a user
 * had been named (grace time exceeded, client gave up). */
void gw_auth_abandoned(struct gw_conn *c);

#endif
