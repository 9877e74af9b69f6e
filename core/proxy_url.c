#include "core/proxy_url.h"

#include "core/cidr.h"
#include "core/err.h"
#include "core/strutil.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const schemes[] = {"socks4", "socks4a", "socks5", "socks5h",
                                      "http"};

const char *gw_proxy_scheme(enum gw_proxy_kind kind)
{
    if ((unsigned)kind >= sizeof(schemes) / sizeof(schemes[0])) {
        return "?";
    }
    return schemes[kind];
}

static int bad(const char *what)
{
    return gw_err_set(GW_ERR_INVALID,
                      "proxy URL: %s (expected "
                      "socks4|socks4a|socks5|socks5h|http://[USER@]HOST:PORT)",
                      what);
}

static int parse_scheme(const char *text, struct gw_proxy_url *out,
                        const char **rest)
{
    const char *sep = strstr(text, "://");

    if (sep == NULL) {
        return bad("no scheme");
    }
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t len = strlen(schemes[i]);
        if ((size_t)(sep - text) == len &&
            strncasecmp(text, schemes[i], len) == 0) {
            out->kind = (enum gw_proxy_kind)i;
            *rest = sep + 3;
            return GW_OK;
        }
    }
    return bad("unknown scheme (https proxies are not supported)");
}

static bool user_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-';
}

/* "user@" before the host; a ':' in it would start a password. */
static int parse_user(const char **p, struct gw_proxy_url *out)
{
    const char *at = strchr(*p, '@');
    size_t len;

    if (at == NULL) {
        return GW_OK;
    }
    len = (size_t)(at - *p);
    if (memchr(*p, ':', len) != NULL) {
        return bad("a password does not go in the URL; give it with "
                   "--proxy-password-stdin");
    }
    if (len == 0 || len > GW_PROXY_USER_MAX) {
        return bad("the user name must be 1 to 64 characters");
    }
    for (size_t i = 0; i < len; i++) {
        if (!user_char((*p)[i])) {
            return bad("the user name may hold letters, digits, '.', '_' "
                       "and '-'");
        }
    }
    memcpy(out->user, *p, len);
    out->user[len] = '\0';
    *p = at + 1;
    return GW_OK;
}

static bool host_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

/* HOST:PORT, HOST in brackets when it is an IPv6 address. */
static int parse_hostport(const char *p, struct gw_proxy_url *out)
{
    const char *end = NULL;
    const char *colon = NULL;
    bool bracketed = p[0] == '[';
    size_t len;
    long port = 0;

    if (p[0] == '[') {
        end = strchr(p, ']');
        if (end == NULL || end[1] != ':') {
            return bad("an IPv6 address needs brackets and a port: "
                       "[ADDR]:PORT");
        }
        p++;
        colon = end + 1;
    } else {
        colon = strchr(p, ':');
        if (colon == NULL) {
            return bad("no port");
        }
        end = colon;
    }
    len = (size_t)(end - p);
    if (len == 0 || len > GW_PROXY_HOST_MAX) {
        return bad("the host must be 1 to 253 characters");
    }
    for (size_t i = 0; i < len; i++) {
        if (!host_char(p[i]) && !(bracketed && p[i] == ':')) {
            return bad("the host is not a name or an IP address");
        }
    }
    memcpy(out->host, p, len);
    out->host[len] = '\0';
    if (bracketed) { /* must really be IPv6 */
        struct gw_addr a;
        if (gw_addr_parse_ip(out->host, &a) != GW_OK || a.family != AF_INET6) {
            return bad("the address in brackets is not IPv6");
        }
    }
    if (strchr(colon + 1, '/') != NULL) {
        return bad("no path after the port");
    }
    if (gw_long_parse(colon + 1, 1, 65535, &port) != GW_OK) {
        return bad("the port must be 1 to 65535");
    }
    out->port = (uint16_t)port;
    return GW_OK;
}

int gw_proxy_url_parse(const char *text, struct gw_proxy_url *out)
{
    const char *p = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (text == NULL || strlen(text) >= GW_PROXY_URL_MAX) {
        return bad("too long");
    }
    if (gw_has_control(text)) {
        return bad("control characters");
    }
    rc = parse_scheme(text, out, &p);
    if (rc == GW_OK) {
        rc = parse_user(&p, out);
    }
    if (rc == GW_OK) {
        rc = parse_hostport(p, out);
    }
    if (rc != GW_OK) {
        memset(out, 0, sizeof(*out));
    }
    return rc;
}

void gw_proxy_url_endpoint(const struct gw_proxy_url *url, char *out,
                           size_t outlen)
{
    bool v6 = strchr(url->host, ':') != NULL;

    snprintf(out, outlen, "%s://%s%s%s:%u", gw_proxy_scheme(url->kind),
             v6 ? "[" : "", url->host, v6 ? "]" : "", (unsigned)url->port);
}

void gw_proxy_url_format(const struct gw_proxy_url *url, char *out,
                         size_t outlen)
{
    bool v6 = strchr(url->host, ':') != NULL;

    snprintf(out, outlen, "%s://%s%s%s%s%s:%u", gw_proxy_scheme(url->kind),
             url->user, url->user[0] != '\0' ? "@" : "", v6 ? "[" : "",
             url->host, v6 ? "]" : "", (unsigned)url->port);
}

/* ---- the bypass list ------------------------------------------------- */

#define ENTRY_MAX 256

/* The next entry of a comma list, blanks trimmed, into buf; false at the
 * end. An entry too long for buf comes out cut (and then is invalid). */
static bool next_entry(const char **p, char *buf, size_t buflen)
{
    const char *s = *p;
    const char *e = NULL;
    size_t len;

    if (*s == '\0') {
        return false;
    }
    e = strchr(s, ',');
    if (e == NULL) {
        e = s + strlen(s);
    }
    *p = *e == ',' ? e + 1 : e;
    while (s < e && isspace((unsigned char)*s)) {
        s++;
    }
    while (e > s && isspace((unsigned char)e[-1])) {
        e--;
    }
    len = (size_t)(e - s);
    if (len >= buflen) {
        len = buflen - 1;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    return true;
}

static bool is_network(const char *entry)
{
    struct gw_addr a;

    return strchr(entry, '/') != NULL || gw_addr_parse_ip(entry, &a) == GW_OK;
}

static int check_entry(const char *entry)
{
    struct gw_cidr net;

    if (entry[0] == '\0') {
        return gw_err_set(GW_ERR_INVALID,
                          "backend_proxy_bypass: an empty entry");
    }
    if (is_network(entry)) {
        if (gw_cidr_parse(entry, &net) != GW_OK) {
            return gw_err_set(GW_ERR_INVALID, "backend_proxy_bypass: %s",
                              gw_err_msg());
        }
        return GW_OK;
    }
    for (const char *c = entry; *c != '\0'; c++) {
        if (!host_char(*c) && *c != '*' && *c != '?') {
            return gw_err_set(GW_ERR_INVALID,
                              "backend_proxy_bypass: '%s' is neither a "
                              "network nor a host name pattern (letters, "
                              "digits, '.', '-', '_', '*', '?')",
                              gw_has_control(entry) ? "?" : entry);
        }
    }
    return GW_OK;
}

int gw_proxy_bypass_check(const char *list)
{
    char entry[ENTRY_MAX];
    const char *p = list;

    if (list == NULL) {
        return GW_OK;
    }
    while (next_entry(&p, entry, sizeof(entry))) {
        int rc = check_entry(entry);
        if (rc != GW_OK) {
            return rc;
        }
    }
    return GW_OK;
}

bool gw_proxy_bypassed(const char *list, const char *address)
{
    char entry[ENTRY_MAX];
    const char *p = list;
    struct gw_addr ip;
    bool is_ip = gw_addr_parse_ip(address, &ip) == GW_OK;

    if (list == NULL) {
        return false;
    }
    while (next_entry(&p, entry, sizeof(entry))) {
        struct gw_cidr net;
        if (is_network(entry)) {
            if (is_ip && gw_cidr_parse(entry, &net) == GW_OK &&
                gw_cidr_match(&net, &ip)) {
                return true;
            }
        } else if (!is_ip && fnmatch(entry, address, FNM_CASEFOLD) == 0) {
            return true;
        }
    }
    return false;
}
