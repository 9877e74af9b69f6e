/*
 * Copying a whole installation from one database to another, either
 * engine to either engine (sshgate-admin db copy): SQLite to PostgreSQL
 * to grow into a cluster, and back.
 */
#ifndef SSHGATE_STORE_COPY_H
#define SSHGATE_STORE_COPY_H

#include <stddef.h>
#include <stdint.h>

struct store;

struct store_copy_report {
    size_t tables;
    int64_t rows;
};

/*
 * Copy every row of src into dst, ids kept, in one transaction of dst
 * and one snapshot of src: users, keys, hosts, grants, the gateway's
 * keys, settings, the event chain, sessions, recordings, file transfers,
 * kill requests and nodes. dst must be at the same schema and hold no
 * users, keys, events or sessions yet (GW_ERR_EXISTS otherwise); the
 * caller verifies the chain on both sides. GW_OK, GW_ERR_EXISTS,
 * GW_ERR_DB, GW_ERR_IO, GW_ERR_NOMEM.
 */
int store_copy(struct store *src, struct store *dst,
               struct store_copy_report *report);

/* What store_copy checks first, for a caller that records the copy
 * before it starts: the same schema on both sides, dst empty. */
int store_copy_ready(struct store *src, struct store *dst);

#endif
