#include "core/proxyproto.h"

#include "core/err.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static const uint8_t v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                   0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

#define V1_PREFIX     "PROXY "
#define V1_FIELDS     6 /* PROXY, protocol, source, dest, sport, dport */
#define V2_CMD_LOCAL  0x0
#define V2_CMD_PROXY  0x1
#define V2_FAM_UNSPEC 0x0
#define V2_FAM_INET   0x1
#define V2_FAM_INET6  0x2
#define V2_FAM_UNIX   0x3
#define V2_STREAM     0x1
#define V2_INET_LEN   12 /* two IPv4 addresses, two ports */
#define V2_INET6_LEN  36

/* One client has one identity whichever way it came: ::ffff:a.b.c.d is
 * a.b.c.d, as for sockets (core/cidr.c). */
static void unmap_v4(struct gw_addr *a)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
                                       0, 0, 0, 0, 0xff, 0xff};

    if (a->family == AF_INET6 && memcmp(a->bytes, mapped, 12) == 0) {
        uint8_t v4[4];
        memcpy(v4, a->bytes + 12, 4);
        memset(a->bytes, 0, sizeof(a->bytes));
        memcpy(a->bytes, v4, 4);
        a->family = AF_INET;
    }
}

/* ---- version 1 --------------------------------------------------------- */

/* A decimal port, 0..65535, without sign or leading zeros. */
static bool v1_port(const char *s, uint16_t *out)
{
    unsigned long v = 0;
    size_t n = strlen(s);

    if (n == 0 || n > 5 || (n > 1 && s[0] == '0')) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > 65535) {
        return false;
    }
    *out = (uint16_t)v;
    return true;
}

static bool v1_addr(const char *s, int family, uint16_t port,
                    struct gw_addr *out)
{
    memset(out, 0, sizeof(*out));
    if (inet_pton(family, s, out->bytes) != 1) {
        return false;
    }
    out->family = family;
    out->port = port;
    unmap_v4(out);
    return true;
}

/* Could buf[0..len), with no CRLF in it, still become a v1 line? */
static bool v1_could_grow(const uint8_t *buf, size_t len)
{
    size_t plen = strlen(V1_PREFIX);

    if (memcmp(buf, V1_PREFIX, len < plen ? len : plen) != 0) {
        return false;
    }
    for (size_t i = plen; i < len; i++) {
        bool last_cr = i + 1 == len && buf[i] == '\r';
        if (!last_cr && (buf[i] < 0x20 || buf[i] > 0x7e)) {
            return false;
        }
    }
    return true;
}

/* Split line (NUL-terminated) at single spaces into at most max fields;
 * the number of fields, or max + 1 when there are more. */
static size_t v1_split(char *line, char **fields, size_t max)
{
    size_t n = 0;
    char *p = line;

    for (;;) {
        char *sp = strchr(p, ' ');
        if (n == max) {
            return max + 1;
        }
        fields[n++] = p;
        if (sp == NULL) {
            return n;
        }
        *sp = '\0';
        p = sp + 1;
    }
}

static int parse_v1(const uint8_t *buf, size_t len, struct gw_proxy_header *out)
{
    char line[GW_PROXY_V1_MAX + 1];
    char *f[V1_FIELDS];
    size_t scan = len < GW_PROXY_V1_MAX ? len : GW_PROXY_V1_MAX;
    const uint8_t *cr = NULL;
    size_t llen = 0;
    size_t nf = 0;
    int family = AF_INET;
    uint16_t sport = 0;
    uint16_t dport = 0;

    for (size_t i = 0; i + 1 < scan; i++) {
        if (buf[i] == '\r' && buf[i + 1] == '\n') {
            cr = buf + i;
            break;
        }
    }
    if (cr == NULL) {
        if (len < GW_PROXY_V1_MAX && v1_could_grow(buf, len)) {
            return GW_AGAIN;
        }
        return gw_err_set(GW_ERR_INVALID, "not a PROXY v1 line");
    }
    llen = (size_t)(cr - buf);
    /* No CR in the line itself: v1_could_grow lets a last one through,
     * as the start of a CRLF still to come. */
    if (llen < strlen(V1_PREFIX) || !v1_could_grow(buf, llen) ||
        memchr(buf, '\r', llen) != NULL) {
        return gw_err_set(GW_ERR_INVALID, "not a PROXY v1 line");
    }
    memcpy(line, buf, llen);
    line[llen] = '\0';
    out->len = llen + 2;
    out->version = 1;
    nf = v1_split(line, f, V1_FIELDS);
    if (nf >= 2 && strcmp(f[1], "UNKNOWN") == 0) {
        /* The spec: whatever follows UNKNOWN is to be ignored. */
        out->local = true;
        return GW_OK;
    }
    if (nf != V1_FIELDS) {
        return gw_err_set(GW_ERR_INVALID, "PROXY v1 line has %zu fields", nf);
    }
    if (strcmp(f[1], "TCP6") == 0) {
        family = AF_INET6;
    } else if (strcmp(f[1], "TCP4") != 0) {
        return gw_err_set(GW_ERR_INVALID, "PROXY v1 protocol is not TCP4/TCP6");
    }
    if (!v1_port(f[4], &sport) || !v1_port(f[5], &dport) ||
        !v1_addr(f[2], family, sport, &out->source) ||
        !v1_addr(f[3], family, dport, &out->dest)) {
        return gw_err_set(GW_ERR_INVALID, "bad address or port in PROXY v1");
    }
    out->local = false;
    return GW_OK;
}

/* ---- version 2 --------------------------------------------------------- */

static void v2_addr(int family, const uint8_t *ip, size_t iplen,
                    const uint8_t *port, struct gw_addr *out)
{
    memset(out, 0, sizeof(*out));
    out->family = family;
    memcpy(out->bytes, ip, iplen);
    out->port = (uint16_t)((unsigned)port[0] << 8 | port[1]);
    unmap_v4(out);
}

static int parse_v2(const uint8_t *buf, size_t len, struct gw_proxy_header *out)
{
    const uint8_t *a = buf + 16;
    size_t body = 0;
    unsigned cmd = 0;
    unsigned fam = 0;
    unsigned proto = 0;

    if (memcmp(buf, v2_sig, len < 12 ? len : 12) != 0) {
        return gw_err_set(GW_ERR_INVALID, "not a PROXY v2 signature");
    }
    if (len < 16) {
        return GW_AGAIN;
    }
    if (buf[12] >> 4 != 2) {
        return gw_err_set(GW_ERR_INVALID, "PROXY v2 version %u", buf[12] >> 4);
    }
    cmd = buf[12] & 0x0fu;
    fam = (unsigned)buf[13] >> 4;
    proto = buf[13] & 0x0fu;
    body = (size_t)buf[14] << 8 | buf[15];
    if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY) {
        return gw_err_set(GW_ERR_INVALID, "PROXY v2 command %u", cmd);
    }
    if (body > GW_PROXY_V2_BODY_MAX) {
        return gw_err_set(GW_ERR_INVALID, "PROXY v2 header of %zu bytes",
                          body + 16);
    }
    if (len < 16 + body) {
        return GW_AGAIN;
    }
    out->len = 16 + body;
    out->version = 2;
    out->local = true;
    /* LOCAL: the proxy speaks for itself (a health check). Whatever
     * follows the address block is TLVs, which we do not need. */
    if (cmd == V2_CMD_LOCAL || fam == V2_FAM_UNSPEC || fam == V2_FAM_UNIX) {
        return GW_OK;
    }
    if (fam > V2_FAM_UNIX || proto != V2_STREAM) {
        return gw_err_set(GW_ERR_INVALID, "PROXY v2 family/protocol 0x%02x",
                          buf[13]);
    }
    if (fam == V2_FAM_INET && body >= V2_INET_LEN) {
        v2_addr(AF_INET, a, 4, a + 8, &out->source);
        v2_addr(AF_INET, a + 4, 4, a + 10, &out->dest);
    } else if (fam == V2_FAM_INET6 && body >= V2_INET6_LEN) {
        v2_addr(AF_INET6, a, 16, a + 32, &out->source);
        v2_addr(AF_INET6, a + 16, 16, a + 34, &out->dest);
    } else {
        return gw_err_set(GW_ERR_INVALID, "PROXY v2 address block too short");
    }
    out->local = false;
    return GW_OK;
}

int gw_proxy_parse(const uint8_t *buf, size_t len, enum gw_proxy_mode mode,
                   struct gw_proxy_header *out)
{
    memset(out, 0, sizeof(*out));
    if (len == 0) {
        return mode != GW_PROXY_OFF ? GW_AGAIN : GW_ERR_INVALID;
    }
    /* The first byte tells the versions apart: 'P' or '\r'. */
    if ((mode & GW_PROXY_V2) != 0 && buf[0] == v2_sig[0]) {
        return parse_v2(buf, len, out);
    }
    if ((mode & GW_PROXY_V1) != 0 && buf[0] == 'P') {
        return parse_v1(buf, len, out);
    }
    return gw_err_set(GW_ERR_INVALID, "no PROXY protocol header");
}

int gw_proxy_mode_parse(const char *s, enum gw_proxy_mode *out)
{
    static const struct {
        const char *name;
        enum gw_proxy_mode mode;
    } names[] = {{"off", GW_PROXY_OFF},
                 {"v1", GW_PROXY_V1},
                 {"v2", GW_PROXY_V2},
                 {"any", GW_PROXY_ANY}};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].mode;
            return GW_OK;
        }
    }
    return gw_err_set(GW_ERR_INVALID, "'%s' is not off, v1, v2 or any", s);
}
