/*
 * Network addresses as the gateway reasons about them: a peer's address
 * (normalised so that an IPv4-mapped IPv6 address is plain IPv4), its text
 * form for logs and audit rows ("10.0.0.1:5555", "[2001:db8::1]:5555"),
 * listen addresses ("ADDR:PORT") and CIDR lists for allowed_clients /
 * blocked_clients.
 */
#ifndef SSHGATE_CORE_CIDR_H
#define SSHGATE_CORE_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* "[" + IPv6 text (45) + "]:" + port (5) + NUL, rounded up. */
#define GW_ADDR_TEXT_MAX 64

struct gw_addr {
    int family;        /* AF_INET or AF_INET6 */
    uint8_t bytes[16]; /* network order; IPv4 uses the first 4 */
    uint16_t port;     /* host order; 0 when unknown */
};

/*
 * Fill *out from a socket address (AF_INET or AF_INET6). IPv4-mapped IPv6
 * addresses become AF_INET, so one client has one identity whichever socket
 * it came in on. GW_OK or GW_ERR_INVALID for another family.
 */
int gw_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len,
                          struct gw_addr *out);

/* Fill a sockaddr_storage for bind(); *len receives its length. */
void gw_addr_to_sockaddr(const struct gw_addr *addr,
                         struct sockaddr_storage *ss, socklen_t *len);

/* Parse a numeric IPv4 or IPv6 address (no port, no brackets). */
int gw_addr_parse_ip(const char *text, struct gw_addr *out);

/*
 * Parse "IPv4:PORT" or "[IPv6]:PORT" (numeric only, no names).
 * GW_OK or GW_ERR_INVALID with a detail message.
 */
int gw_addr_parse_hostport(const char *text, struct gw_addr *out);

/* "1.2.3.4" or "2001:db8::1" (no brackets, no port). */
void gw_addr_format_ip(const struct gw_addr *addr, char out[GW_ADDR_TEXT_MAX]);

/* "1.2.3.4:5555" or "[2001:db8::1]:5555". */
void gw_addr_format(const struct gw_addr *addr, char out[GW_ADDR_TEXT_MAX]);

/* Same address (family and bytes; ports ignored). */
bool gw_addr_same_ip(const struct gw_addr *a, const struct gw_addr *b);

struct gw_cidr {
    int family;
    uint8_t bytes[16];
    unsigned prefix; /* 0..32 or 0..128 */
};

/*
 * Parse "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128).
 * Host bits set below the prefix are refused ("10.0.0.1/8"), since they
 * usually mean a typo. GW_OK or GW_ERR_INVALID with a detail message.
 */
int gw_cidr_parse(const char *text, struct gw_cidr *out);

/* Does addr fall inside the network? Families must match. */
bool gw_cidr_match(const struct gw_cidr *net, const struct gw_addr *addr);

struct gw_cidr_list {
    struct gw_cidr *items;
    size_t n;
};

/*
 * Parse a comma-separated list (spaces around items allowed; an empty or
 * all-blank text gives an empty list). On failure *out is left empty.
 */
int gw_cidr_list_parse(const char *text, struct gw_cidr_list *out);

/* True when some network of the list contains addr. */
bool gw_cidr_list_match(const struct gw_cidr_list *list,
                        const struct gw_addr *addr);

void gw_cidr_list_free(struct gw_cidr_list *list);

#endif
