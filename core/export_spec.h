/*
 * The sinks of `event_export` (docs/configuration.md): where sshgated
 * sends every event of the chain as it is committed, parsed from the
 * setting's text. Pure parsing, no I/O: the exporter itself is
 * gateway/audit/export.c.
 *
 *   syslog:unix:/dev/log         RFC 5424, one message per datagram
 *   syslog:udp:HOST:PORT         RFC 5424, one message per datagram
 *   syslog:tcp:HOST:PORT         RFC 5424, octet-counted (RFC 6587 3.4.1)
 *   json:file:/path              JSON lines, appended to a file (0600)
 *   json:unix:/path              JSON lines over a stream socket
 *
 * HOST is a name or an IP address (IPv6 in brackets); entries are
 * separated by commas.
 */
#ifndef SSHGATE_CORE_EXPORT_SPEC_H
#define SSHGATE_CORE_EXPORT_SPEC_H

#include <stddef.h>
#include <stdint.h>

/* At most this many sinks. */
#define GW_EXPORT_SINKS_MAX 8

enum gw_export_format {
    GW_EXPORT_SYSLOG = 0,
    GW_EXPORT_JSON = 1,
};

enum gw_export_transport {
    GW_EXPORT_UNIX = 0, /* syslog: datagram socket; json: stream socket */
    GW_EXPORT_UDP = 1,
    GW_EXPORT_TCP = 2,
    GW_EXPORT_FILE = 3,
};

struct gw_export_sink_spec {
    enum gw_export_format format;
    enum gw_export_transport transport;
    char *path; /* unix, file */
    char *host; /* udp, tcp: without brackets */
    uint16_t port;
    char *text; /* the entry as written, for logs and events */
};

struct gw_export_list {
    struct gw_export_sink_spec *sinks;
    size_t n;
};

/*
 * Parse text (may be empty: no sink) into *out. GW_OK, GW_ERR_NOMEM, or
 * GW_ERR_INVALID with a detail message that has one line per bad entry
 * (separated by '\n'), each naming the entry and what is wrong with it.
 */
int gw_export_list_parse(const char *text, struct gw_export_list *out);

void gw_export_list_free(struct gw_export_list *list);

#endif
