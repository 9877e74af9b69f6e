#include "strutil.h"

#include "err.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gw_strlcpy(char *dst, const char *src, size_t dstlen)
{
    size_t len = strlen(src);

    if (dstlen == 0) {
        return GW_ERR_INVALID;
    }
    if (len >= dstlen) {
        memcpy(dst, src, dstlen - 1);
        dst[dstlen - 1] = '\0';
        return GW_ERR_INVALID;
    }
    memcpy(dst, src, len + 1);
    return GW_OK;
}

bool gw_has_control(const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f) {
            return true;
        }
    }
    return false;
}

int gw_name_check(const char *what, const char *name, char sep)
{
    /* Characters that would be ambiguous in "user+host@gw" or unsafe when
     * a name reaches a shell or a log line on some backend. */
    static const char forbidden[] = "@:/\\'\"`$;&|<>(){}[]*?!#~=,+%^";
    size_t len = strlen(name);

    if (len == 0) {
        return gw_err_set(GW_ERR_INVALID, "%s must not be empty", what);
    }
    if (len > GW_NAME_MAX) {
        return gw_err_set(GW_ERR_INVALID, "%s is longer than %d characters",
                          what, GW_NAME_MAX);
    }
    if (name[0] == '-') {
        return gw_err_set(GW_ERR_INVALID, "%s must not start with '-'", what);
    }
    for (const char *p = name; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f) {
            return gw_err_set(GW_ERR_INVALID,
                              "%s must not contain control characters", what);
        }
        if (isspace(c)) {
            return gw_err_set(GW_ERR_INVALID, "%s must not contain whitespace",
                              what);
        }
        if (sep != '\0' && *p == sep) {
            return gw_err_set(GW_ERR_INVALID,
                              "%s must not contain the login separator '%c'",
                              what, sep);
        }
        if (c >= 0x80 || strchr(forbidden, c) != NULL) {
            return gw_err_set(GW_ERR_INVALID,
                              "%s must not contain the character '%c'", what,
                              c >= 0x80 ? '?' : *p);
        }
    }
    return GW_OK;
}

int gw_long_parse(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    long v;

    if (s == NULL || *s == '\0' || isspace((unsigned char)*s)) {
        return gw_err_set(GW_ERR_INVALID, "'%s' is not a number",
                          s != NULL ? s : "");
    }
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return gw_err_set(GW_ERR_INVALID, "'%s' is not a number", s);
    }
    if (v < min || v > max) {
        return gw_err_set(GW_ERR_INVALID, "%ld is outside %ld..%ld", v, min,
                          max);
    }
    *out = v;
    return GW_OK;
}

int gw_port_parse(const char *s, uint16_t *port)
{
    long v = 0;

    if (gw_long_parse(s, 1, 65535, &v) != GW_OK) {
        return gw_err_set(GW_ERR_INVALID,
                          "port '%s' is not a number in 1-65535", s);
    }
    *port = (uint16_t)v;
    return GW_OK;
}

char *gw_trim(char *s)
{
    size_t len;

    while (isspace((unsigned char)*s)) {
        s++;
    }
    len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1])) {
        s[--len] = '\0';
    }
    return s;
}

/* Append one character of text, escaped; false when it does not fit. */
static bool put_escaped(unsigned char c, char *out, size_t *used, size_t room)
{
    char tmp[5];
    size_t n;

    if (c < 0x20 || c == 0x7f) {
        snprintf(tmp, sizeof(tmp), "\\x%02x", c);
    } else if (c == '"' || c == '\\') {
        tmp[0] = '\\';
        tmp[1] = (char)c;
        tmp[2] = '\0';
    } else {
        tmp[0] = (char)c;
        tmp[1] = '\0';
    }
    n = strlen(tmp);
    if (*used + n > room) {
        return false;
    }
    memcpy(out + *used, tmp, n);
    *used += n;
    return true;
}

void gw_sanitize(const char *text, char *out, size_t outlen)
{
    size_t room = outlen - 4; /* "..." and the NUL */
    size_t used = 0;
    size_t i = 0;

    for (; text[i] != '\0'; i++) {
        if (!put_escaped((unsigned char)text[i], out, &used, room)) {
            break;
        }
    }
    if (text[i] != '\0') {
        memcpy(out + used, "...", 3);
        used += 3;
    }
    out[used] = '\0';
}
