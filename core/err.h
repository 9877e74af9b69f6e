/*
 * One status-code convention for the whole project.
 *
 * Every fallible function returns int: GW_OK (0) or a negative GW_ERR_* code.
 * The human-readable detail of the last failure on this thread is kept in a
 * thread-local buffer (set with gw_err_set, read with gw_err_msg), so that a
 * caller several layers up can print one clear line without every layer
 * passing an error buffer around.
 */
#ifndef SSHGATE_CORE_ERR_H
#define SSHGATE_CORE_ERR_H

enum gw_status {
    GW_OK = 0,
    GW_ERR = -1,          /* failure with no better category */
    GW_ERR_NOMEM = -2,    /* allocation failed */
    GW_ERR_INVALID = -3,  /* bad input from a user, a file or a peer */
    GW_ERR_NOTFOUND = -4, /* the named thing does not exist */
    GW_ERR_EXISTS = -5,   /* the named thing exists already */
    GW_ERR_IO = -6,       /* file or socket I/O failed */
    GW_ERR_DB = -7,       /* the database failed */
    GW_ERR_SCHEMA = -8,   /* database schema is newer than this binary */
    GW_ERR_DENIED = -9,   /* refused by policy */
    GW_ERR_TIMEOUT = -10, /* a deadline passed */
    GW_ERR_CRYPTO = -11,  /* a cryptographic operation failed */
    GW_AGAIN = -12,       /* would block; try again later */
};

/* Static name of a status code ("invalid input", ...). Never NULL. */
const char *gw_strerror(int status);

/*
 * Record a formatted detail message for this thread and return status, so a
 * failing path reads: return gw_err_set(GW_ERR_EXISTS, "user %s exists", n);
 */
int gw_err_set(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The last detail message of this thread, or gw_strerror of the last code. */
const char *gw_err_msg(void);

/* Forget the last detail message. */
void gw_err_clear(void);

#endif
