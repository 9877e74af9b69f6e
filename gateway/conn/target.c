#include "gateway/conn/target.h"

#include "core/err.h"

#include <string.h>

/* Copy len bytes of src into a name field and check it as what. */
static int take_part(const char *what, const char *src, size_t len, char sep,
                     char dst[GW_NAME_MAX + 1])
{
    if (len == 0) {
        return gw_err_set(GW_ERR_INVALID, "%s is empty", what);
    }
    if (len > GW_NAME_MAX) {
        return gw_err_set(GW_ERR_INVALID, "%s is longer than %d characters",
                          what, GW_NAME_MAX);
    }
    memcpy(dst, src, len);
    dst[len] = '\0';
    return gw_name_check(what, dst, sep);
}

/* "root@web1" or "web1" after the separator. */
static int parse_destination(const char *rest, char sep, struct gw_target *t)
{
    const char *at = strchr(rest, '@');
    int rc;

    if (at == NULL) {
        return take_part("target host", rest, strlen(rest), sep, t->host);
    }
    rc = take_part("backend login", rest, (size_t)(at - rest), sep, t->login);
    if (rc != GW_OK) {
        return rc;
    }
    return take_part("target host", at + 1, strlen(at + 1), sep, t->host);
}

int gw_target_parse(const char *name, char sep, struct gw_target *out)
{
    const char *split = strchr(name, sep);
    int rc;

    memset(out, 0, sizeof(*out));
    if (split == NULL) {
        rc = take_part("user name", name, strlen(name), sep, out->user);
    } else {
        rc = take_part("user name", name, (size_t)(split - name), sep,
                       out->user);
        if (rc == GW_OK) {
            rc = parse_destination(split + 1, sep, out);
        }
    }
    if (rc != GW_OK) {
        memset(out, 0, sizeof(*out));
    }
    return rc;
}

bool gw_target_has_host(const struct gw_target *target)
{
    return target->host[0] != '\0';
}
