/*
 * Checking a database (store/check.c): SQLite's own integrity checks and
 * the event hash chain.
 */
#ifndef SSHGATE_STORE_CHECK_H
#define SSHGATE_STORE_CHECK_H

struct store;

/*
 * Integrity check (PRAGMA integrity_check, foreign_key_check and the event
 * hash chain). *report is a malloc'd text summary. GW_OK when all is well,
 * GW_ERR_DB when a problem was found.
 */
int store_check(struct store *st, char **report);

#endif
