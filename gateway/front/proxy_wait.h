/*
 * Connections from a trusted proxy waiting for their PROXY protocol header
 * (proxy_protocol, proxy_trusted), kept by the listener thread in its own
 * poll loop like the refused sockets that linger.
 *
 * Why there and not on a worker: the admission decision (allow/block
 * lists, limits, penalties, lockout) belongs to the listener and needs
 * the client address the header names, and a worker thread is taken only
 * by an admitted connection; so a proxy that sends nothing costs a slot
 * here for GW_PROXY_WAIT_MS, never a thread, and libssh gets the socket
 * (ssh_bind_accept_fd) as it always does. Nothing here blocks: each
 * wake-up peeks at what has come (MSG_PEEK), and the header's bytes are
 * taken off the socket only once all are there, exactly those, so the
 * SSH version line behind them stays for libssh.
 */
#ifndef SSHGATE_GATEWAY_FRONT_PROXY_WAIT_H
#define SSHGATE_GATEWAY_FRONT_PROXY_WAIT_H

#include "core/cidr.h"
#include "core/proxyproto.h"

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#define GW_PROXY_WAIT_MAX 256  /* sockets waiting at once */
#define GW_PROXY_WAIT_MS  3000 /* a proxy sends its header at once */

struct gw_proxy_waiting {
    int fd;
    struct gw_addr proxy; /* the socket's peer */
    int64_t deadline_ms;
};

struct gw_proxy_wait {
    struct gw_proxy_waiting items[GW_PROXY_WAIT_MAX];
    size_t n;
};

/*
 * What became of a waiting socket, for the listener: client is the address
 * the header names (the proxy's own for a header without one), or NULL
 * when no valid header came in time (refuse it). Either way fd is the
 * callee's.
 */
typedef void (*gw_proxy_done_fn)(void *ud, int fd, const struct gw_addr *proxy,
                                 const struct gw_addr *client, int64_t now_ms);

/* Wait for fd's header. GW_OK, or GW_AGAIN when the table is full (fd
 * stays the caller's). */
int gw_proxy_wait_add(struct gw_proxy_wait *w, int fd,
                      const struct gw_addr *proxy, int64_t now_ms);

/* One pollfd per waiting socket into pfds; their number. */
size_t gw_proxy_wait_fill(const struct gw_proxy_wait *w, struct pollfd *pfds);

/*
 * After poll: read the headers of the first n waiting sockets (pfds as
 * filled then), in one of mode's versions, and hand each socket that is
 * done (header read, bad or late) to done. A socket whose client went
 * away is closed here.
 */
void gw_proxy_wait_service(struct gw_proxy_wait *w, const struct pollfd *pfds,
                           size_t n, enum gw_proxy_mode mode, int64_t now_ms,
                           gw_proxy_done_fn done, void *ud);

/* Close every waiting socket (the listener stops). */
void gw_proxy_wait_close_all(struct gw_proxy_wait *w);

#endif
