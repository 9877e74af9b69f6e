/*
 * The wire formats of the SIEM export (gateway/audit/export.h): one
 * committed event of the chain as an RFC 5424 syslog message or as a JSON
 * line. Pure functions of their arguments, no I/O, for any thread.
 *
 * RFC 5424 (docs/operator-guide.md, "SIEM export"):
 *
 *   <PRI>1 TIMESTAMP HOSTNAME sshgated PROCID KIND
 *     [sshgate@32473 id=".." hash=".." prev=".." user=".." client=".."] DETAIL
 *
 * PRI is facility authpriv (10) with severity warning (4) for the kinds
 * that report a failure or a refusal and informational (6) for the rest;
 * TIMESTAMP is the event's created_at; the SD-ID uses 32473, the private
 * enterprise number RFC 5612 reserves for documentation; SD-PARAM values
 * escape '"', '\' and ']' with a backslash (RFC 5424 6.3.3); user and
 * client are left out when the event has none.
 */
#ifndef SSHGATE_GATEWAY_AUDIT_EXPORT_FORMAT_H
#define SSHGATE_GATEWAY_AUDIT_EXPORT_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define GW_EXPORT_SD_ID    "sshgate@32473"
#define GW_EXPORT_APP_NAME "sshgated"
/* facility authpriv */
#define GW_EXPORT_FACILITY    10
#define GW_EXPORT_SEV_WARNING 4
#define GW_EXPORT_SEV_INFO    6

/* One event as the chain holds it; user and client NULL or "" for none. */
struct gw_export_event {
    int64_t id;
    const char *created_at; /* "2026-11-21T19:04:25.123Z" */
    const char *kind;
    const char *user;
    const char *client;
    const char *detail;
    const char *prev_hash;
    const char *hash;
};

/* The sender, the same for every event. */
struct gw_export_origin {
    const char *node; /* HOSTNAME, and "node" of a JSON line */
    long pid;         /* PROCID */
};

/* The syslog severity of an event kind: warning or informational. */
int gw_export_severity(const char *kind);

/*
 * The RFC 5424 message of e, without framing, in *out (malloc'd, NUL
 * terminated, *len bytes without the NUL). When it would be longer than
 * max bytes, the MSG part (the detail) is cut to fit; the header and the
 * structured data are never cut. GW_OK or GW_ERR_NOMEM.
 */
int gw_export_syslog(const struct gw_export_event *e,
                     const struct gw_export_origin *o, size_t max, char **out,
                     size_t *len);

/* msg as an octet-counted frame, "LEN SP MSG" (RFC 6587 3.4.1, as RFC
 * 5425 frames it over TLS). GW_OK or GW_ERR_NOMEM. */
int gw_export_octet_frame(const char *msg, size_t msg_len, char **out,
                          size_t *len);

/*
 * e as one JSON object and a newline: id, created_at, kind, user, client
 * (null when none), detail, prev_hash, hash, node. Bytes that are not
 * UTF-8 become U+FFFD. GW_OK or GW_ERR_NOMEM.
 */
int gw_export_json(const struct gw_export_event *e,
                   const struct gw_export_origin *o, char **out, size_t *len);

/*
 * s as an SD-PARAM value (without the quotes): '"', '\' and ']' get a
 * backslash, bytes that are not UTF-8 become U+FFFD. Written to out,
 * cap bytes with the NUL; the number of bytes the whole value needs
 * (as snprintf counts).
 */
size_t gw_export_sd_escape(const char *s, char *out, size_t cap);

#endif
