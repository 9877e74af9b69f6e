#include "err.h"

#include <stdarg.h>
#include <stdio.h>

/* Thread-local: each connection thread reports its own failures. */
static _Thread_local char err_detail[512];

const char *gw_strerror(int status)
{
    switch (status) {
    case GW_OK:
        return "success";
    case GW_ERR_NOMEM:
        return "out of memory";
    case GW_ERR_INVALID:
        return "invalid input";
    case GW_ERR_NOTFOUND:
        return "not found";
    case GW_ERR_EXISTS:
        return "already exists";
    case GW_ERR_IO:
        return "I/O error";
    case GW_ERR_DB:
        return "database error";
    case GW_ERR_SCHEMA:
        return "database schema is newer than this program";
    case GW_ERR_DENIED:
        return "permission denied";
    case GW_ERR_TIMEOUT:
        return "timed out";
    case GW_ERR_CRYPTO:
        return "cryptographic failure";
    case GW_AGAIN:
        return "try again";
    default:
        return "error";
    }
}

int gw_err_set(int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err_detail, sizeof(err_detail), fmt, ap);
    va_end(ap);
    return status;
}

const char *gw_err_msg(void)
{
    if (err_detail[0] == '\0') {
        return "unknown error";
    }
    return err_detail;
}

void gw_err_clear(void)
{
    err_detail[0] = '\0';
}
