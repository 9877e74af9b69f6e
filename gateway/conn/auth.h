/*
 * Front authentication against the store: publickey (only a verified
 * signature authenticates; a probe only answers "this key would do"),
 * password and keyboard-interactive (one password prompt), as allowed by
 * auth_methods. Counts failures per connection (max_auth_attempts), per
 * user in the database (lockout_threshold) and per source address in
 * memory (source_lockout_threshold), delays failures exponentially, and
 * writes one audit event per attempt. Never logs or stores a password.
 */
#ifndef SSHGATE_GATEWAY_CONN_AUTH_H
#define SSHGATE_GATEWAY_CONN_AUTH_H

struct gw_conn;

/* Install the server callbacks, the message callback (keyboard-interactive)
 * and the advertised methods on c's session. Before key exchange. */
void gw_auth_setup(struct gw_conn *c);

/* The connection is ending before authentication: record why, if a user
 * had been named (grace time exceeded, client gave up). */
void gw_auth_abandoned(struct gw_conn *c);

#endif
