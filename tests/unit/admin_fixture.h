/*
 * Shared fixture of the sshgate-admin unit tests (test_admin_*.c): every
 * command runs in-process through admin_main against a temp database, and
 * every bad input the CLI must refuse gives exit 1, exactly one line on
 * stderr, nothing on stdout and the database exactly as it was (compared
 * row by row before and after).
 *
 * Each test binary runs its tests as one cmocka group:
 *
 *     const struct CMUnitTest tests[] = {T(test_x), ...};
 *     return cmocka_run_group_tests(tests, group_setup, group_teardown);
 *
 * group_setup builds the shared state in g once per binary; setup gives
 * each test a struct fx of its own with a copy of the template database.
 */
#ifndef SSHGATE_TESTS_UNIT_ADMIN_FIXTURE_H
#define SSHGATE_TESTS_UNIT_ADMIN_FIXTURE_H

#include <jansson.h>
#include <stdbool.h>

#include "core/sshkey.h"

#define PATH_LEN 256
#define LINE_LEN 1024

/* Built once per run: an initialized database copied into every test (RSA
 * generation in init takes a moment) and real keys made at test time. */
struct admin_fixture_global {
    char dir[64];
    char tmpl[PATH_LEN];
    char k1_path[PATH_LEN]; /* ed25519, comment alice@laptop */
    char k2_path[PATH_LEN]; /* ecdsa p256, comment work */
    char k1_line[LINE_LEN];
    char k2_line[LINE_LEN];
    char k1_fp[GW_FINGERPRINT_MAX];
    char k2_fp[GW_FINGERPRINT_MAX];
    char k1_private[4096];
};

extern struct admin_fixture_global g;

/* One test's state: its directory and database, and the exit code, stdout
 * and stderr of the last command run. */
struct fx {
    char dir[64];
    char db[PATH_LEN];
    int rc;
    char *out;
    char *err;
};

/* ---- helpers ------------------------------------------------------------ */

void write_text(const char *path, const char *text);

/* out (PATH_LEN bytes) receives name inside the test's directory. */
void fx_path(const struct fx *fx, const char *name, char *out);

/* Run sshgate-admin with the arguments after input (NULL-terminated),
 * prefixed with --db fx->db (run) or not (run_nodb); input is what the
 * command reads as stdin. Returns the exit code, also in fx->rc. */
int __attribute__((sentinel)) run(struct fx *fx, const char *input, ...);
int __attribute__((sentinel)) run_nodb(struct fx *fx, const char *input, ...);

void expect_ok(struct fx *fx);
void expect_contains(const char *text, const char *needle);
void expect_lacks(const char *text, const char *needle);

/* Every table, every row, every column, as text: equal dumps mean that
 * nothing changed. A file that cannot be opened dumps as "(none)". The
 * caller frees the text. */
char *db_dump(const char *path);
long long db_scalar(const char *path, const char *sql);
void db_exec(const char *path, const char *sql);
long long events_of(const struct fx *fx, const char *kind);

/* The fail path of the contract: exit 1, one line "sshgate-admin: ..."
 * naming the problem, nothing on stdout, the database unchanged. */
void __attribute__((sentinel))
expect_fail(struct fx *fx, const char *needle, const char *input, ...);

/* A check that fails with a report (audit verify, db check): exit 1, one
 * line on stderr with err_needle, stdout holding out_needle, the database
 * unchanged. */
void __attribute__((sentinel))
expect_report(struct fx *fx, const char *err_needle, const char *out_needle,
              const char *input, ...);

/* Usage errors: exit 2, the reason and the usage, nothing changed. */
void __attribute__((sentinel))
expect_usage(struct fx *fx, const char *needle, const char *input, ...);

/* stdout as exactly one JSON document (json_loads refuses trailing
 * data); the caller json_decref()s it. */
json_t *stdout_json(const struct fx *fx);
const char *jstr(const json_t *obj, const char *key);

/* ---- fixtures ----------------------------------------------------------- */

int group_setup(void **state);
int group_teardown(void **state);
int setup(void **state);
int teardown(void **state);

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* alice (k1), bob (admin, password), hosts web1 (login deploy) and db1. */
void add_people(struct fx *fx);

#endif
