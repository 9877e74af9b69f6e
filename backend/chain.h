/*
 * Jump hosts (host add web2 --via web1): the gateway reaches web2 through
 * its own SSH connection to web1 (web1's credential, web1's host key pin
 * checked exactly as for a direct connection), a direct-tcpip channel
 * from web1 to web2's address and port, and web2's SSH session over that
 * channel; and so on for a longer chain.
 *
 * libssh 0.10 has no client session over a channel, so each hop's channel
 * becomes a stream the next session can take as SSH_OPTIONS_FD: a
 * socketpair, whose one end goes to the next session and whose other end
 * a relay thread of the hop joins to the channel. That thread owns the
 * hop's session, its channel and its end of the pair from the moment the
 * channel is open (no other thread touches them: libssh's one-owner
 * rule); it moves data both ways within the channel's window and at most
 * one buffer per direction, passes EOF on, and ends when either side
 * closes: closing the next session's end (gw_backend_close) ends the
 * thread, which closes its own session and with it the end of the
 * previous hop's pair, so a chain comes down hop by hop. The connection's
 * thread never blocks on a hop: the session it uses reads and writes its
 * socketpair end like a TCP socket.
 */
#ifndef SSHGATE_BACKEND_CHAIN_H
#define SSHGATE_BACKEND_CHAIN_H

#include "backend/hostrecord.h"
#include "store/hosts.h"

#include <stddef.h>
#include <stdint.h>

/* One jump host: its row, its credential and login, and what connecting
 * to it taught us (for gw_backend_record_route). */
struct gw_backend_hop {
    struct store_host host;
    struct gw_backend_creds creds;
    struct gw_backend_spec spec;
    struct gw_backend_result res;
    bool tried;
};

/* The jump hosts to a host, hops[0] first (the one the gateway connects
 * to directly, or through its own proxy). */
struct gw_backend_chain {
    size_t n;
    struct gw_backend_hop hops[STORE_JUMP_MAX];
};

/*
 * Connect to every hop in turn, each over the previous one's channel, and
 * open the last one's channel to address:port. GW_OK with *fd_out the
 * stream to address:port; otherwise a negative GW_ERR_* with res naming
 * the failing hop (res->hop, and its own result in its hops[] entry).
 */
int gw_chain_dial(struct gw_backend_chain *chain, const char *host_name,
                  const char *address, uint16_t port, int *fd_out,
                  struct gw_backend_result *res);

void gw_chain_free(struct gw_backend_chain *chain);

/* Relay threads still running (a chain comes down a few milliseconds
 * after its last session closed). */
int gw_chain_threads(void);

/* Wait up to timeout_ms for every relay thread to end (shutdown). */
void gw_chain_wait_idle(int timeout_ms);

#endif
