/*
 * A connection's event loop (gateway/conn/loop.c): one poll over the
 * client session, every backend session and every socket relay of the
 * connection, then timers, admin kills, the target, and the channel pump.
 */
#ifndef SSHGATE_GATEWAY_CONN_LOOP_H
#define SSHGATE_GATEWAY_CONN_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct gw_conn;

/* How long one wait may last when nothing happens: the timers' grain. */
#define GW_CONN_POLL_MS 1000

/* Run the connection, once its key exchange is done, until it closes. */
void gw_conn_loop(struct gw_conn *c);

/* Every deadline of the connection (login grace, idle, keepalive,
 * shutdown); closes it when one passed. */
void gw_conn_check_timeouts(struct gw_conn *c, int64_t now_ms);

/* Has the client's session gone (closed, or an error)? */
bool gw_conn_session_gone(struct gw_conn *c);

#endif
