/*
 * Outgoing TCP connections with one deadline, and the socket options the
 * gateway sets on its TCP connections.
 *
 * gw_net_connect is the only way sshgate connects: backend SSH sessions
 * (backend/client.c) and the sockets of -J / -W (gateway/chan/tcpip.c). The
 * deadline covers name resolution as well as the connect, so a hung
 * resolver cannot hold a connection thread longer than the caller allows.
 */
#ifndef SSHGATE_CORE_NET_H
#define SSHGATE_CORE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why gw_net_connect failed, for the caller's own wording. */
struct gw_net_failure {
    bool resolving; /* failed before there was an address to try */
    /*
     * resolving: getaddrinfo's EAI_* code, or 0 when the deadline passed
     * before the resolver answered. Otherwise an errno value: the failure
     * of the last address tried, ETIMEDOUT when the deadline passed.
     */
    int code;
};

/*
 * Resolve host (a name, or a numeric IPv4 or IPv6 address without
 * brackets) and connect to port on each of its addresses in turn until one
 * answers or deadline_ms (gw_now_ms's monotonic clock) passes.
 *
 * GW_OK with *fd_out a connected, non-blocking, close-on-exec socket.
 * Otherwise *fd_out is -1, *why says where and why, a detail message is
 * set (gw_err_msg), and the status is:
 *   GW_ERR_NOTFOUND  the name does not resolve;
 *   GW_ERR_TIMEOUT   the deadline passed, resolving or connecting;
 *   GW_ERR_IO        every address failed (refused, unreachable...);
 *   GW_ERR_NOMEM     no memory or thread for the lookup.
 */
int gw_net_connect(const char *host, uint16_t port, int64_t deadline_ms,
                   int *fd_out, struct gw_net_failure *why);

/*
 * As gw_net_connect for UDP: resolve host within deadline_ms and set up a
 * connected, non-blocking, close-on-exec datagram socket to the first
 * address that takes one (a UDP connect sends nothing, so a peer that is
 * down shows only in later sends). The same statuses, GW_ERR_IO when no
 * socket could be set up.
 */
int gw_net_connect_udp(const char *host, uint16_t port, int64_t deadline_ms,
                       int *fd_out, struct gw_net_failure *why);

/* One line for *why: gai_strerror or strerror text. Never NULL. */
const char *gw_net_failure_text(const struct gw_net_failure *why);

/* Room for gw_net_hostport: a 253-byte name, brackets, ":65535", NUL. */
#define GW_HOSTPORT_MAX 264

/*
 * host and port as one token, "10.0.0.5:22", "db1.internal:2222" or
 * "[2001:db8::5]:22" (an IPv6 literal in brackets, so that the port stays
 * apart), for log lines and event details. Cut to fit outlen (> 0).
 */
void gw_net_hostport(const char *host, uint16_t port, char *out, size_t outlen);

/*
 * TCP_NODELAY. GW_OK, or GW_ERR_IO with errno and a detail message.
 */
int gw_net_set_nodelay(int fd);

/*
 * SO_KEEPALIVE with TCP_KEEPIDLE idle_s, TCP_KEEPINTVL interval_s and
 * TCP_KEEPCNT count. Every option is tried even when one fails; GW_OK, or
 * GW_ERR_IO with errno and a detail message of the first failure.
 */
int gw_net_set_keepalive(int fd, int idle_s, int interval_s, int count);

#endif
