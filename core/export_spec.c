#include "core/export_spec.h"

#include "core/err.h"
#include "core/strutil.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A Unix socket path must fit sockaddr_un.sun_path. */
#define UNIX_PATH_MAX 107
#define HOST_MAX      253

/* Every problem of the list, one line each (gw_err_msg has 512 bytes). */
struct problems {
    char text[480];
    size_t len;
    int n;
};

__attribute__((format(printf, 3, 4))) static void
add_problem(struct problems *p, const char *entry, const char *fmt, ...)
{
    char why[160];
    va_list ap;
    int n;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (p->len < sizeof(p->text)) {
        n = snprintf(p->text + p->len, sizeof(p->text) - p->len,
                     "%s'%.60s': %s", p->n > 0 ? "\n" : "", entry, why);
        p->len += n > 0 ? (size_t)n : 0;
    }
    p->n++;
}

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

/* "HOST:PORT" or "[V6]:PORT" into spec. NULL or what is wrong. */
static const char *parse_hostport(char *s, struct gw_export_sink_spec *spec)
{
    char *colon = NULL;
    char *end = NULL;
    unsigned long port;

    if (s[0] == '[') {
        char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':') {
            return "expected [IPv6]:PORT";
        }
        *close = '\0';
        colon = close + 1;
        s++;
        if (strspn(s, "0123456789abcdefABCDEF:.") != strlen(s) || *s == '\0') {
            return "not an IPv6 address in brackets";
        }
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL) {
            return "expected HOST:PORT";
        }
        *colon = '\0';
        for (const char *p = s; *p != '\0'; p++) {
            if (!host_char(*p)) {
                return "the host is not a name or an address (IPv6 goes in "
                       "brackets)";
            }
        }
    }
    if (*s == '\0' || strlen(s) > HOST_MAX) {
        return "no host, or a host longer than 253 characters";
    }
    port = strtoul(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || port == 0 || port > 65535) {
        return "the port is not a number from 1 to 65535";
    }
    spec->host = strdup(s);
    spec->port = (uint16_t)port;
    return spec->host != NULL ? NULL : "out of memory";
}

static const char *parse_path(const char *s, struct gw_export_sink_spec *spec)
{
    if (s[0] != '/') {
        return "the path must be absolute";
    }
    if (spec->transport == GW_EXPORT_UNIX && strlen(s) > UNIX_PATH_MAX) {
        return "a socket path is at most 107 bytes";
    }
    spec->path = strdup(s);
    return spec->path != NULL ? NULL : "out of memory";
}

/* One entry; NULL when it is good, else why not. */
static const char *parse_entry(char *entry, struct gw_export_sink_spec *spec)
{
    char *format = entry;
    char *transport = strchr(entry, ':');
    char *rest = NULL;

    if (transport == NULL || (rest = strchr(transport + 1, ':')) == NULL) {
        return "expected FORMAT:TRANSPORT:WHERE (syslog:udp:HOST:PORT, "
               "json:file:/PATH, ...)";
    }
    *transport++ = '\0';
    *rest++ = '\0';
    if (strcmp(format, "syslog") == 0) {
        spec->format = GW_EXPORT_SYSLOG;
        if (strcmp(transport, "unix") == 0) {
            spec->transport = GW_EXPORT_UNIX;
        } else if (strcmp(transport, "udp") == 0) {
            spec->transport = GW_EXPORT_UDP;
        } else if (strcmp(transport, "tcp") == 0) {
            spec->transport = GW_EXPORT_TCP;
        } else {
            return "syslog goes over unix, udp or tcp";
        }
    } else if (strcmp(format, "json") == 0) {
        spec->format = GW_EXPORT_JSON;
        if (strcmp(transport, "file") == 0) {
            spec->transport = GW_EXPORT_FILE;
        } else if (strcmp(transport, "unix") == 0) {
            spec->transport = GW_EXPORT_UNIX;
        } else {
            return "json goes to a file or a unix socket";
        }
    } else {
        return "the format is syslog or json";
    }
    if (spec->transport == GW_EXPORT_UDP || spec->transport == GW_EXPORT_TCP) {
        return parse_hostport(rest, spec);
    }
    return parse_path(rest, spec);
}

static void spec_free(struct gw_export_sink_spec *spec)
{
    free(spec->path);
    free(spec->host);
    free(spec->text);
    memset(spec, 0, sizeof(*spec));
}

void gw_export_list_free(struct gw_export_list *list)
{
    for (size_t i = 0; i < list->n; i++) {
        spec_free(&list->sinks[i]);
    }
    free(list->sinks);
    list->sinks = NULL;
    list->n = 0;
}

static bool listed(const struct gw_export_list *list, const char *text)
{
    for (size_t i = 0; i < list->n; i++) {
        if (strcmp(list->sinks[i].text, text) == 0) {
            return true;
        }
    }
    return false;
}

/* One comma-separated item into list (which has room for it). */
static int add_item(struct gw_export_list *list, char *item, struct problems *p)
{
    struct gw_export_sink_spec spec;
    char *entry = gw_trim(item);
    char *work = NULL;
    const char *why = NULL;

    memset(&spec, 0, sizeof(spec));
    if (*entry == '\0') {
        add_problem(p, entry, "empty entry");
        return GW_OK;
    }
    if (list->n == GW_EXPORT_SINKS_MAX) {
        add_problem(p, entry, "more than %d sinks", GW_EXPORT_SINKS_MAX);
        return GW_OK;
    }
    if (listed(list, entry)) {
        add_problem(p, entry, "listed twice");
        return GW_OK;
    }
    work = strdup(entry);
    spec.text = strdup(entry);
    if (work == NULL || spec.text == NULL) {
        free(work);
        spec_free(&spec);
        return GW_ERR_NOMEM;
    }
    why = parse_entry(work, &spec);
    free(work);
    if (why != NULL) {
        add_problem(p, entry, "%s", why);
        spec_free(&spec);
        return GW_OK;
    }
    list->sinks[list->n++] = spec;
    return GW_OK;
}

int gw_export_list_parse(const char *text, struct gw_export_list *out)
{
    struct gw_export_list list = {NULL, 0};
    struct problems p;
    char *copy = strdup(text);
    char *rest = copy;
    char *item = NULL;
    int rc = GW_OK;

    memset(&p, 0, sizeof(p));
    list.sinks = calloc(GW_EXPORT_SINKS_MAX, sizeof(*list.sinks));
    if (copy == NULL || list.sinks == NULL) {
        rc = GW_ERR_NOMEM;
        goto out;
    }
    if (*gw_trim(copy) == '\0') {
        goto out; /* no sink */
    }
    while (rc == GW_OK && (item = strsep(&rest, ",")) != NULL) {
        rc = add_item(&list, item, &p);
    }
    if (rc == GW_OK && p.n > 0) {
        rc = gw_err_set(GW_ERR_INVALID, "%s", p.text);
    }
out:
    free(copy);
    if (rc != GW_OK) {
        gw_export_list_free(&list);
        return rc;
    }
    *out = list;
    return GW_OK;
}
