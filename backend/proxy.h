/*
 * A TCP connection to a backend through an outbound proxy (SOCKS4,
 * SOCKS4A, SOCKS5 with or without a user and password, HTTP CONNECT),
 * within one deadline. The handshakes are libcurl's (CURLOPT_CONNECT_ONLY:
 * curl connects to the proxy, runs the proxy's protocol, and stops; the
 * tunnel's socket is then ours), so the only protocol code of sshgate here
 * is choosing the options. The only file that uses libcurl.
 */
#ifndef SSHGATE_BACKEND_PROXY_H
#define SSHGATE_BACKEND_PROXY_H

#include "core/proxy_url.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A proxy to go through: its URL, and its password (borrowed; NULL for
 * none). */
struct gw_proxy {
    struct gw_proxy_url url;
    const char *password;
};

/* Why gw_proxy_connect failed. */
struct gw_proxy_failure {
    bool timeout;      /* the deadline passed */
    char message[720]; /* "proxy socks5://h:1080: <the proxy's answer>" */
};

/*
 * Connect to host:port through the proxy before deadline_ms (gw_now_ms's
 * clock; name resolution of the proxy, and for socks4 and socks5 of the
 * destination, included). GW_OK with *fd_out a connected, non-blocking,
 * close-on-exec socket whose bytes are the destination's; otherwise
 * GW_ERR_TIMEOUT or GW_ERR_IO (GW_ERR_NOMEM), *fd_out -1, and why
 * filled: the message names the proxy (without its user or password) and
 * what it answered, as libcurl words it.
 */
int gw_proxy_connect(const struct gw_proxy *proxy, const char *host,
                     uint16_t port, int64_t deadline_ms, int *fd_out,
                     struct gw_proxy_failure *why);

#endif
