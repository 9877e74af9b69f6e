/*
 * The schema (store/migrations.c): numbered migrations, run by store_open.
 */
#ifndef SSHGATE_STORE_MIGRATIONS_H
#define SSHGATE_STORE_MIGRATIONS_H

/* Schema version this binary writes and understands. */
int store_schema_latest(void);

#endif
