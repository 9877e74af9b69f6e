/*
 * Outbound proxies for backend connections (backend_proxy, host add
 * --via-proxy): the URL as an operator writes it, and the bypass list
 * (backend_proxy_bypass). Pure parsing and matching; the tunnel itself is
 * backend/proxy.c.
 *
 * A URL is SCHEME://[USER@]HOST:PORT with SCHEME one of socks4, socks4a,
 * socks5, socks5h, http (HTTP CONNECT). HOST is a name, an IPv4 address or
 * an IPv6 address in brackets. A password is never part of the URL: it
 * would end up in logs, events and "host show"; it is stored apart
 * (--proxy-password-stdin).
 */
#ifndef SSHGATE_CORE_PROXY_URL_H
#define SSHGATE_CORE_PROXY_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gw_proxy_kind {
    GW_PROXY_SOCKS4,  /* the gateway resolves the destination (IPv4) */
    GW_PROXY_SOCKS4A, /* the proxy resolves it */
    GW_PROXY_SOCKS5,  /* the gateway resolves it */
    GW_PROXY_SOCKS5H, /* the proxy resolves it */
    GW_PROXY_HTTP,    /* HTTP CONNECT; the proxy resolves it */
};

#define GW_PROXY_HOST_MAX 253
#define GW_PROXY_USER_MAX 64
/* "socks5h://" + user + "@" + "[" host "]" + ":65535" + NUL */
#define GW_PROXY_URL_MAX 340

struct gw_proxy_url {
    enum gw_proxy_kind kind;
    char host[GW_PROXY_HOST_MAX + 1]; /* without brackets */
    uint16_t port;
    char user[GW_PROXY_USER_MAX + 1]; /* "" when none */
};

/* "socks5", "http", ... */
const char *gw_proxy_scheme(enum gw_proxy_kind kind);

/*
 * Parse text into *out. GW_OK, or GW_ERR_INVALID with one line saying
 * what is wrong (the text is quoted only when it holds no control
 * character, and never past a ':' after the user, where a password
 * would be).
 */
int gw_proxy_url_parse(const char *text, struct gw_proxy_url *out);

/* The canonical text, SCHEME://[USER@]HOST:PORT (IPv6 in brackets). */
void gw_proxy_url_format(const struct gw_proxy_url *url, char *out,
                         size_t outlen);

/* As gw_proxy_url_format without the user: what a message names. */
void gw_proxy_url_endpoint(const struct gw_proxy_url *url, char *out,
                           size_t outlen);

/*
 * Check a bypass list: comma-separated entries, each a CIDR network or an
 * address ("10.0.0.0/8", "2001:db8::/32", "192.0.2.7") or a host name
 * pattern with * and ? ("*.internal", "db?.example", "localhost").
 * Empty is an empty list. GW_OK or GW_ERR_INVALID naming the entry.
 */
int gw_proxy_bypass_check(const char *list);

/*
 * Does the backend address (as stored: a name or an IP address) match an
 * entry of the list? A network matches an IP address within it; a
 * pattern matches a name, case-insensitively. Names are not resolved:
 * what the list says is what it means, whatever DNS says.
 */
bool gw_proxy_bypassed(const char *list, const char *address);

#endif
