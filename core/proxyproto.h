/*
 * The PROXY protocol (haproxy's proxy-protocol.txt), versions 1 and 2: the
 * header a load balancer writes before the client's bytes, naming the
 * client it relays. A pure parser over a buffer: it says how long the
 * header is, so that the caller can take exactly those bytes off the
 * socket and leave what follows (the SSH version line) to libssh.
 */
#ifndef SSHGATE_CORE_PROXYPROTO_H
#define SSHGATE_CORE_PROXYPROTO_H

#include "core/cidr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Which versions a listener accepts (proxy_protocol); bits. */
enum gw_proxy_mode {
    GW_PROXY_OFF = 0,
    GW_PROXY_V1 = 1,
    GW_PROXY_V2 = 2,
    GW_PROXY_ANY = GW_PROXY_V1 | GW_PROXY_V2,
};

/* v1: "PROXY TCP6 <39> <39> 65535 65535\r\n" is the longest, 107 bytes. */
#define GW_PROXY_V1_MAX 107
/* v2: the 16-byte fixed part and at most this many bytes after it. Real
 * proxies send an address block and a few TLVs (a few hundred bytes);
 * more is refused rather than buffered. */
#define GW_PROXY_V2_BODY_MAX 1024
#define GW_PROXY_MAX         (16 + GW_PROXY_V2_BODY_MAX)

struct gw_proxy_header {
    size_t len;  /* bytes the header takes, from the buffer's start */
    int version; /* 1 or 2 */
    /* No client address: v1 UNKNOWN, v2 LOCAL (the proxy's own health
     * check) or a v2 family without one (UNSPEC, UNIX). The caller uses
     * the socket's peer. */
    bool local;
    struct gw_addr source; /* the client, when !local */
    struct gw_addr dest;   /* the address it connected to, when !local */
};

/*
 * Parse the header at the start of buf[0..len) in one of the versions of
 * mode. GW_OK with *out filled; GW_AGAIN when buf is a valid beginning of
 * a header but too short (read more and call again); GW_ERR_INVALID with
 * a detail message (gw_err_set) when it is no header mode accepts. An
 * IPv4-mapped IPv6 address becomes IPv4, as gw_addr_from_sockaddr does.
 */
int gw_proxy_parse(const uint8_t *buf, size_t len, enum gw_proxy_mode mode,
                   struct gw_proxy_header *out);

/* proxy_protocol's values as text: "off", "v1", "v2", "any". */
int gw_proxy_mode_parse(const char *s, enum gw_proxy_mode *out);

#endif
