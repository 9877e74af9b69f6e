/* Files seen passing through sftp channels (core/sftp_audit records). */
#ifndef SSHGATE_STORE_TRANSFERS_H
#define SSHGATE_STORE_TRANSFERS_H

#include "core/timeutil.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

struct store_transfer {
    int64_t id;
    int64_t session_id;
    char operation[24]; /* read, write, remove, rename, mkdir, ... */
    char *path;
    char *path2; /* rename/link target; "" when none */
    uint64_t bytes_read;
    uint64_t bytes_written;
    char sha256[65]; /* "" unless the whole file passed */
    char status[32]; /* "ok", "no such file", "incomplete", ... */
    char created_at[GW_TIME_LEN];
    /* The file's number in its sftp channel (gw_sftp_record.file_seq);
     * 0 for a row that is not a file's (a path operation, a listing, a
     * failed open), and for rows written before schema 4. */
    uint64_t file_seq;
    /* Input only: when it happened, wall clock ms since the epoch (a
     * record written late); 0 for now. Becomes created_at. */
    int64_t at_ms;
};

/*
 * Record one transfer (id and created_at are ignored on input). With a
 * file_seq, the session keeps one row per file: the first add of a file
 * inserts its row (the sftp audit's "incomplete" row, at OPEN), a later
 * one replaces that row's columns in place (the file's final state, at
 * CLOSE), created_at included. The session's session.end event binds its
 * transfers, as they are then, into the hash chain (transfers=); a row
 * stored or replaced after the end is bound by a session.amend event in
 * the same transaction.
 */
int store_transfer_add(struct store *st, const struct store_transfer *t);

/* Transfers of a session, in order. */
int store_transfer_list(struct store *st, int64_t session_id,
                        struct store_transfer **out, size_t *n);
void store_transfer_list_free(struct store_transfer *list, size_t n);

#endif
