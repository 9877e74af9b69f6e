/*
 * Access that ends while the connection is open: an admin deletes or
 * disables the user, deletes the key she authenticated with, or deletes
 * the grant her target runs under. Every admin change bumps the store's
 * access generation (store/settings.h); the main thread polls it and
 * posts GW_REQ_RECHECK to every connection, and a new channel compares it
 * with the one its connection last checked. Revoked access ends the whole
 * connection (GW_END_REVOKED) with an access.revoked event.
 */
#ifndef SSHGATE_GATEWAY_CONN_ACCESS_H
#define SSHGATE_GATEWAY_CONN_ACCESS_H

#include <stdbool.h>

struct gw_conn;

/* Check the user, her key and her backend sessions' grants against the
 * store now (the main thread saw the generation move). */
void gw_access_recheck(struct gw_conn *c);

/* Before a new channel or forward: check again if the generation moved
 * since the last check. False when the channel must be refused (access
 * revoked, the connection is closing, or the store cannot tell). */
bool gw_access_current(struct gw_conn *c);

#endif
