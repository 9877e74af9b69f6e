/*
 * The target of a login name with a host ("alice+web1"): its one owner.
 * Only this file changes c->tstate, c->target_error and c->primary's
 * place as the target; everyone else reads them through conn.h.
 *
 *   NONE    no host in the login name: built-ins, the menu, -J / -W
 *   PENDING authenticated; the loop (or a session open that comes first)
 *           checks the grant and connects
 *   UP      c->primary is the backend session, shared by every channel
 *   FAILED  c->target_error is the line every channel shows; the
 *           connection ends once it has had no channel for a moment
 */
#ifndef SSHGATE_GATEWAY_CONN_TARGET_STATE_H
#define SSHGATE_GATEWAY_CONN_TARGET_STATE_H

#include <stdint.h>

struct gw_conn;
struct gw_upstream;

/* Authentication succeeded: a login name with a host makes it PENDING. */
void gw_target_begin(struct gw_conn *c);

/* PENDING: check the grant and connect to the backend (blocking up to
 * backend_connect_timeout). Then UP, or FAILED with the line the user will
 * see (the access.denied or backend events are written). */
void gw_target_prepare(struct gw_conn *c);

/* The backend session up died: if it is the target, FAILED. */
void gw_target_lost(struct gw_conn *c, const struct gw_upstream *up);

/* FAILED: end the connection once it has had no channel for a moment.
 * Not at once: the client normally leaves by itself when its session
 * channel closes, and a disconnect right behind the channel's last output
 * makes OpenSSH exit before it writes that output (the reason) out. */
void gw_target_check_end(struct gw_conn *c, int64_t now_ms);

/* The line a channel shows when the target cannot serve it (FAILED, or
 * still PENDING when the channel needs it), or NULL when it can. */
const char *gw_target_failure(const struct gw_conn *c);

#endif
