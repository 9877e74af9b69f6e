/*
 * sshgate-admin as a library: the whole command line behind one call, so
 * that main.c is a two-line wrapper and the tests drive every command with
 * argv arrays and in-memory streams instead of child processes.
 */
#ifndef SSHGATE_ADMIN_ADMIN_H
#define SSHGATE_ADMIN_ADMIN_H

#include <stdio.h>

/* Process exit codes (DESIGN.md, "Admin CLI"). */
enum admin_exit {
    ADMIN_EXIT_OK = 0,    /* success */
    ADMIN_EXIT_FAIL = 1,  /* user error: one line on err, nothing written */
    ADMIN_EXIT_USAGE = 2, /* usage error: the reason and the usage line */
};

/*
 * Run one command line (argv[0] is the program name). in is where
 * --password-stdin and "-" key input are read, out receives results, err
 * receives diagnostics. The database path comes from --db, else the
 * SSHGATE_DB environment variable, else SSHGATE_DEFAULT_DB.
 * Returns an enum admin_exit value.
 */
int admin_main(int argc, char **argv, FILE *in, FILE *out, FILE *err);

#endif
