#include "cidr.h"

#include "err.h"
#include "strutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0,    0,
                                             0, 0, 0, 0, 0xff, 0xff};

int gw_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len,
                          struct gw_addr *out)
{
    memset(out, 0, sizeof(*out));
    if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        out->family = AF_INET;
        memcpy(out->bytes, &in->sin_addr, 4);
        out->port = ntohs(in->sin_port);
        return GW_OK;
    }
    if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        const uint8_t *b = in6->sin6_addr.s6_addr;
        out->port = ntohs(in6->sin6_port);
        if (memcmp(b, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0) {
            out->family = AF_INET;
            memcpy(out->bytes, b + 12, 4);
        } else {
            out->family = AF_INET6;
            memcpy(out->bytes, b, 16);
        }
        return GW_OK;
    }
    return gw_err_set(GW_ERR_INVALID, "unsupported address family %d",
                      (int)sa->sa_family);
}

void gw_addr_to_sockaddr(const struct gw_addr *addr,
                         struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    if (addr->family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(addr->port);
        memcpy(&in->sin_addr, addr->bytes, 4);
        *len = sizeof(*in);
        return;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(addr->port);
    memcpy(&in6->sin6_addr, addr->bytes, 16);
    *len = sizeof(*in6);
}

int gw_addr_parse_ip(const char *text, struct gw_addr *out)
{
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, text, out->bytes) == 1) {
        out->family = AF_INET;
        return GW_OK;
    }
    if (inet_pton(AF_INET6, text, out->bytes) == 1) {
        out->family = AF_INET6;
        return GW_OK;
    }
    return gw_err_set(GW_ERR_INVALID, "'%s' is not an IP address", text);
}

/* Split "[v6]:port" or "v4:port" into its host and port parts. */
static int split_hostport(char *copy, char **host, char **port)
{
    char *colon = NULL;

    if (copy[0] == '[') {
        char *close = strchr(copy, ']');
        if (close == NULL || close[1] != ':') {
            return GW_ERR_INVALID;
        }
        *close = '\0';
        *host = copy + 1;
        *port = close + 2;
        return GW_OK;
    }
    colon = strrchr(copy, ':');
    if (colon == NULL || strchr(copy, ':') != colon) {
        return GW_ERR_INVALID;
    }
    *colon = '\0';
    *host = copy;
    *port = colon + 1;
    return GW_OK;
}

int gw_addr_parse_hostport(const char *text, struct gw_addr *out)
{
    char copy[GW_ADDR_TEXT_MAX];
    char *host = NULL;
    char *port = NULL;
    bool bracketed = text[0] == '[';
    int rc;

    if (gw_strlcpy(copy, text, sizeof(copy)) != GW_OK ||
        split_hostport(copy, &host, &port) != GW_OK) {
        return gw_err_set(GW_ERR_INVALID,
                          "'%s' is not ADDRESS:PORT (IPv6 as [ADDRESS]:PORT)",
                          text);
    }
    rc = gw_addr_parse_ip(host, out);
    if (rc != GW_OK || (out->family == AF_INET6) != bracketed) {
        return gw_err_set(GW_ERR_INVALID,
                          "'%s' is not a numeric IPv4 ADDRESS:PORT or "
                          "[IPv6]:PORT",
                          text);
    }
    rc = gw_port_parse(port, &out->port);
    if (rc != GW_OK) {
        return gw_err_set(GW_ERR_INVALID, "'%s': port '%s' is not in 1-65535",
                          text, port);
    }
    return GW_OK;
}

static void format_ip(const struct gw_addr *addr, char *out, socklen_t len)
{
    if (inet_ntop(addr->family, addr->bytes, out, len) == NULL) {
        snprintf(out, len, "?");
    }
}

void gw_addr_format_ip(const struct gw_addr *addr, char out[GW_ADDR_TEXT_MAX])
{
    format_ip(addr, out, GW_ADDR_TEXT_MAX);
}

void gw_addr_format(const struct gw_addr *addr, char out[GW_ADDR_TEXT_MAX])
{
    char ip[INET6_ADDRSTRLEN];

    format_ip(addr, ip, sizeof(ip));
    if (addr->family == AF_INET6) {
        snprintf(out, GW_ADDR_TEXT_MAX, "[%s]:%u", ip, (unsigned)addr->port);
    } else {
        snprintf(out, GW_ADDR_TEXT_MAX, "%s:%u", ip, (unsigned)addr->port);
    }
}

static size_t family_len(int family)
{
    return family == AF_INET ? 4 : 16;
}

bool gw_addr_same_ip(const struct gw_addr *a, const struct gw_addr *b)
{
    return a->family == b->family &&
           memcmp(a->bytes, b->bytes, family_len(a->family)) == 0;
}

/* Do the address bits beyond prefix all equal zero? */
static bool host_bits_clear(const uint8_t *bytes, size_t len, unsigned prefix)
{
    for (size_t bit = prefix; bit < len * 8; bit++) {
        if (bytes[bit / 8] & (0x80u >> (bit % 8))) {
            return false;
        }
    }
    return true;
}

static int parse_prefix(const char *text, const char *p, unsigned max,
                        unsigned *prefix)
{
    long v = 0;

    if (gw_long_parse(p, 0, (long)max, &v) != GW_OK) {
        return gw_err_set(GW_ERR_INVALID,
                          "'%s': prefix length must be a number in 0..%u", text,
                          max);
    }
    *prefix = (unsigned)v;
    return GW_OK;
}

int gw_cidr_parse(const char *text, struct gw_cidr *out)
{
    char copy[GW_ADDR_TEXT_MAX];
    struct gw_addr addr;
    char *slash = NULL;
    unsigned max;
    int rc;

    memset(out, 0, sizeof(*out));
    if (gw_strlcpy(copy, text, sizeof(copy)) != GW_OK) {
        return gw_err_set(GW_ERR_INVALID, "'%.40s...' is not a network", text);
    }
    slash = strchr(copy, '/');
    if (slash != NULL) {
        *slash = '\0';
    }
    if (gw_addr_parse_ip(copy, &addr) != GW_OK) {
        return gw_err_set(GW_ERR_INVALID,
                          "'%s' is not an IP address or network", text);
    }
    max = addr.family == AF_INET ? 32 : 128;
    out->prefix = max;
    if (slash != NULL) {
        rc = parse_prefix(text, slash + 1, max, &out->prefix);
        if (rc != GW_OK) {
            return rc;
        }
    }
    if (!host_bits_clear(addr.bytes, family_len(addr.family), out->prefix)) {
        return gw_err_set(GW_ERR_INVALID,
                          "'%s' has bits set beyond the /%u prefix", text,
                          out->prefix);
    }
    out->family = addr.family;
    memcpy(out->bytes, addr.bytes, sizeof(out->bytes));
    return GW_OK;
}

bool gw_cidr_match(const struct gw_cidr *net, const struct gw_addr *addr)
{
    unsigned full = net->prefix / 8;
    unsigned rest = net->prefix % 8;
    uint8_t mask;

    if (net->family != addr->family) {
        return false;
    }
    if (memcmp(net->bytes, addr->bytes, full) != 0) {
        return false;
    }
    if (rest == 0) {
        return true;
    }
    mask = (uint8_t)(0xffu << (8 - rest));
    return (net->bytes[full] & mask) == (addr->bytes[full] & mask);
}

/* Parse one trimmed, non-empty item into list (which has room). */
static int add_item(struct gw_cidr_list *list, char *item)
{
    char *text = gw_trim(item);

    if (*text == '\0') {
        return gw_err_set(GW_ERR_INVALID, "empty item in address list");
    }
    return gw_cidr_parse(text, &list->items[list->n++]);
}

int gw_cidr_list_parse(const char *text, struct gw_cidr_list *out)
{
    struct gw_cidr_list list = {NULL, 0};
    char *copy = NULL;
    char *save = NULL;
    char *body = NULL;
    size_t items = 1;
    int rc = GW_OK;

    memset(out, 0, sizeof(*out));
    copy = strdup(text);
    if (copy == NULL) {
        return GW_ERR_NOMEM;
    }
    body = gw_trim(copy);
    if (*body == '\0') {
        goto out;
    }
    for (const char *p = body; *p != '\0'; p++) {
        items += *p == ',' ? 1 : 0;
    }
    list.items = calloc(items, sizeof(*list.items));
    if (list.items == NULL) {
        rc = GW_ERR_NOMEM;
        goto out;
    }
    if (body[strlen(body) - 1] == ',' || body[0] == ',') {
        rc = gw_err_set(GW_ERR_INVALID, "empty item in address list");
        goto out;
    }
    for (char *tok = strtok_r(body, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        rc = add_item(&list, tok);
        if (rc != GW_OK) {
            goto out;
        }
    }
    if (list.n != items) {
        rc = gw_err_set(GW_ERR_INVALID, "empty item in address list");
        goto out;
    }
    *out = list;
    list.items = NULL; /* transferred */
out:
    free(list.items);
    free(copy);
    return rc;
}

bool gw_cidr_list_match(const struct gw_cidr_list *list,
                        const struct gw_addr *addr)
{
    for (size_t i = 0; i < list->n; i++) {
        if (gw_cidr_match(&list->items[i], addr)) {
            return true;
        }
    }
    return false;
}

void gw_cidr_list_free(struct gw_cidr_list *list)
{
    free(list->items);
    list->items = NULL;
    list->n = 0;
}
