/* Small string helpers and the validation rules for names people type. */
#ifndef SSHGATE_CORE_STRUTIL_H
#define SSHGATE_CORE_STRUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The default separator in "alice+web1" login names (target_separator).
 * Names never contain '+' or '%', so every allowed separator is safe. */
#define GW_DEFAULT_SEPARATOR '+'

/* Longest user, host or login name we accept. */
#define GW_NAME_MAX 64

/*
 * Copy src into dst (size dstlen), always NUL-terminated.
 * GW_OK, or GW_ERR_INVALID when src did not fit (dst holds a prefix).
 */
int gw_strlcpy(char *dst, const char *src, size_t dstlen);

/*
 * Check a user, host or login name: 1..GW_NAME_MAX bytes, no whitespace,
 * no control characters, not containing the login separator sep (ignored
 * when 0), and none of the characters that are special in a login name
 * ("@", ":", "/", "+", "%", quotes, shell metacharacters) or a leading '-'.
 * Only ASCII letters, digits and ". _ -" remain.
 * what names the thing in the error ("user name"). GW_OK or GW_ERR_INVALID
 * with a detail message.
 */
int gw_name_check(const char *what, const char *name, char sep);

/* Parse a decimal TCP port 1..65535. GW_OK or GW_ERR_INVALID. */
int gw_port_parse(const char *s, uint16_t *port);

/* Parse a whole decimal number within [min, max]. GW_OK or GW_ERR_INVALID. */
int gw_long_parse(const char *s, long min, long max, long *out);

/* Strip leading and trailing whitespace in place; returns s advanced. */
char *gw_trim(char *s);

/* True if s has any byte < 0x20 or 0x7f. */
bool gw_has_control(const char *s);

/*
 * Copy text for a log line or an event, quoted as C would: control
 * characters become \xNN, '"' and '\\' get a backslash. Text that does not
 * fit is cut and ends in "...". outlen must be at least 8.
 */
void gw_sanitize(const char *text, char *out, size_t outlen);

#endif
