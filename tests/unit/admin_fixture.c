/*
 * The shared fixture of the sshgate-admin unit tests: see admin_fixture.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ftw.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "admin/admin.h"
#include "core/err.h"
#include "core/sshkey.h"

#include "admin_fixture.h"

#define ARGV_MAX 32

struct admin_fixture_global g;

void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void copy_file(const char *from, const char *to)
{
    char buf[8192];
    size_t n;
    FILE *in = fopen(from, "rb");
    FILE *out = NULL;

    assert_non_null(in);
    out = fopen(to, "wb");
    assert_non_null(out);
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
        assert_int_equal(fwrite(buf, 1, n, out), n);
    }
    fclose(in);
    assert_int_equal(fclose(out), 0);
    assert_int_equal(chmod(to, 0600), 0);
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_tree(const char *dir)
{
    (void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void fx_path(const struct fx *fx, const char *name, char *out)
{
    snprintf(out, PATH_LEN, "%s/%s", fx->dir, name);
}

/* Run admin_main on argv (NULL-terminated in ap), prefixed with --db when
 * with_db; input is what the command reads as stdin. */
static void vrun(struct fx *fx, bool with_db, const char *input, va_list ap)
{
    char *argv[ARGV_MAX];
    int argc = 0;
    char *a = NULL;
    size_t outlen = 0;
    size_t errlen = 0;
    FILE *in = tmpfile();
    FILE *out = NULL;
    FILE *err = NULL;

    free(fx->out);
    free(fx->err);
    fx->out = NULL;
    fx->err = NULL;
    argv[argc++] = "sshgate-admin";
    if (with_db) {
        argv[argc++] = "--db";
        argv[argc++] = fx->db;
    }
    while ((a = va_arg(ap, char *)) != NULL) {
        assert_true(argc < ARGV_MAX - 1);
        argv[argc++] = a;
    }
    argv[argc] = NULL;
    assert_non_null(in);
    fputs(input != NULL ? input : "", in);
    rewind(in);
    out = open_memstream(&fx->out, &outlen);
    err = open_memstream(&fx->err, &errlen);
    assert_non_null(out);
    assert_non_null(err);
    fx->rc = admin_main(argc, argv, in, out, err);
    fclose(in);
    fclose(out);
    fclose(err);
}

int __attribute__((sentinel)) run(struct fx *fx, const char *input, ...)
{
    va_list ap;

    va_start(ap, input);
    vrun(fx, true, input, ap);
    va_end(ap);
    return fx->rc;
}

int __attribute__((sentinel)) run_nodb(struct fx *fx, const char *input, ...)
{
    va_list ap;

    va_start(ap, input);
    vrun(fx, false, input, ap);
    va_end(ap);
    return fx->rc;
}

void expect_ok(struct fx *fx)
{
    if (fx->rc != 0) {
        print_message("exit %d, stderr: %s", fx->rc, fx->err);
    }
    assert_int_equal(fx->rc, 0);
    assert_string_equal(fx->err, "");
}

void expect_contains(const char *text, const char *needle)
{
    if (strstr(text, needle) == NULL) {
        print_message("'%s' not found in:\n%s\n", needle, text);
        fail();
    }
}

void expect_lacks(const char *text, const char *needle)
{
    if (strstr(text, needle) != NULL) {
        print_message("'%s' unexpectedly found in:\n%s\n", needle, text);
        fail();
    }
}

/* Every table, every row, every column, as text: equal dumps mean that
 * nothing changed. A file that cannot be opened dumps as "(none)". */
char *db_dump(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *tables = NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    assert_non_null(f);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT name FROM sqlite_master WHERE type = "
                           "'table' ORDER BY name",
                           -1, &tables, NULL) != SQLITE_OK) {
        fputs("(none)", f);
    }
    while (tables != NULL && sqlite3_step(tables) == SQLITE_ROW) {
        char sql[256];
        sqlite3_stmt *rows = NULL;
        snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\"",
                 (const char *)sqlite3_column_text(tables, 0));
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &rows, NULL),
                         SQLITE_OK);
        fprintf(f, "[%s]\n", sql);
        while (sqlite3_step(rows) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(rows); c++) {
                const unsigned char *v = sqlite3_column_text(rows, c);
                fprintf(f, "%s|", v != NULL ? (const char *)v : "NULL");
            }
            fputc('\n', f);
        }
        sqlite3_finalize(rows);
    }
    sqlite3_finalize(tables);
    sqlite3_close(db);
    fclose(f);
    return text;
}

long long db_scalar(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    long long v = -1;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    if (sqlite3_step(stmt) == SQLITE_ROW) {
        v = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return v;
}

void db_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

long long events_of(const struct fx *fx, const char *kind)
{
    char sql[256];

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM events WHERE kind = '%s'",
             kind);
    return db_scalar(fx->db, sql);
}

/* Run the command and check what every failure (exit 1) promises: one
 * line "sshgate-admin: ..." naming err_needle, the database unchanged.
 * What may be on stdout is the caller's to check. */
static void run_failing(struct fx *fx, const char *err_needle,
                        const char *input, va_list ap)
{
    char *before = db_dump(fx->db);
    char *after = NULL;

    vrun(fx, true, input, ap);
    after = db_dump(fx->db);
    if (fx->rc != 1) {
        print_message("exit %d, stderr: %s", fx->rc, fx->err);
    }
    assert_int_equal(fx->rc, 1);
    assert_true(strncmp(fx->err, "sshgate-admin: ", 15) == 0);
    assert_non_null(strchr(fx->err, '\n'));
    assert_string_equal(strchr(fx->err, '\n'), "\n"); /* one line */
    expect_contains(fx->err, err_needle);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

/* The fail path of the contract: exit 1, one line "sshgate-admin: ..."
 * naming the problem, nothing on stdout, the database unchanged. */
void __attribute__((sentinel))
expect_fail(struct fx *fx, const char *needle, const char *input, ...)
{
    va_list ap;

    va_start(ap, input);
    run_failing(fx, needle, input, ap);
    va_end(ap);
    assert_string_equal(fx->out, "");
}

void __attribute__((sentinel))
expect_report(struct fx *fx, const char *err_needle, const char *out_needle,
              const char *input, ...)
{
    va_list ap;

    va_start(ap, input);
    run_failing(fx, err_needle, input, ap);
    va_end(ap);
    expect_contains(fx->out, out_needle);
}

/* Usage errors: exit 2, the reason and the usage, nothing changed. */
void __attribute__((sentinel))
expect_usage(struct fx *fx, const char *needle, const char *input, ...)
{
    char *before = db_dump(fx->db);
    char *after = NULL;
    va_list ap;

    va_start(ap, input);
    vrun(fx, true, input, ap);
    va_end(ap);
    after = db_dump(fx->db);
    if (fx->rc != 2) {
        print_message("exit %d, stderr: %s", fx->rc, fx->err);
    }
    assert_int_equal(fx->rc, 2);
    expect_contains(fx->err, needle);
    expect_contains(fx->err, "usage: sshgate-admin");
    assert_string_equal(fx->out, "");
    assert_string_equal(before, after);
    free(before);
    free(after);
}

/* stdout as exactly one JSON document (json_loads refuses trailing
 * data). */
json_t *stdout_json(const struct fx *fx)
{
    json_error_t error;
    json_t *doc = json_loads(fx->out, 0, &error);

    if (doc == NULL) {
        print_message("bad JSON (%s) in:\n%s\n", error.text, fx->out);
    }
    assert_non_null(doc);
    return doc;
}

const char *jstr(const json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));

    if (v == NULL) {
        print_message("no string '%s'\n", key);
    }
    assert_non_null(v);
    return v;
}

static void make_key(enum gw_keykind kind, const char *comment,
                     const char *path, char *line, char *fp, char *priv)
{
    struct gw_keypair kp;

    assert_int_equal(gw_keypair_generate(kind, &kp), GW_OK);
    snprintf(line, LINE_LEN, "%s %s %s", kp.pub.type, kp.pub.blob_b64, comment);
    snprintf(fp, GW_FINGERPRINT_MAX, "%s", kp.pub.fingerprint);
    if (priv != NULL) {
        snprintf(priv, sizeof(g.k1_private), "%s", kp.private_text);
    }
    gw_keypair_clear(&kp);
    write_text(path, line);
}

/* ---- fixtures ----------------------------------------------------------- */

int group_setup(void **state)
{
    struct fx fx;

    (void)state;
    memset(&fx, 0, sizeof(fx));
    snprintf(g.dir, sizeof(g.dir), "/tmp/sshgate-admin-XXXXXX");
    assert_non_null(mkdtemp(g.dir));
    snprintf(g.k1_path, sizeof(g.k1_path), "%s/k1.pub", g.dir);
    snprintf(g.k2_path, sizeof(g.k2_path), "%s/k2.pub", g.dir);
    make_key(GW_KEY_ED25519, "alice@laptop", g.k1_path, g.k1_line, g.k1_fp,
             g.k1_private);
    make_key(GW_KEY_ECDSA_P256, "work", g.k2_path, g.k2_line, g.k2_fp, NULL);
    snprintf(g.tmpl, sizeof(g.tmpl), "%s/template.db", g.dir);
    snprintf(fx.db, sizeof(fx.db), "%s", g.tmpl);
    run(&fx, NULL, "init", NULL);
    expect_ok(&fx);
    free(fx.out);
    free(fx.err);
    return 0;
}

int group_teardown(void **state)
{
    (void)state;
    rm_tree(g.dir);
    return 0;
}

int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/sshgate-admin-t-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    fx_path(fx, "gw.db", fx->db);
    copy_file(g.tmpl, fx->db);
    unsetenv("SSHGATE_DB");
    *state = fx;
    return 0;
}

int teardown(void **state)
{
    struct fx *fx = *state;

    rm_tree(fx->dir);
    free(fx->out);
    free(fx->err);
    free(fx);
    unsetenv("SSHGATE_DB");
    return 0;
}

/* alice (k1), bob (admin, password), hosts web1 (login deploy) and db1. */
void add_people(struct fx *fx)
{
    run(fx, NULL, "user", "add", "alice", "--key", g.k1_path, NULL);
    expect_ok(fx);
    run(fx, "s3cret-pw\n", "user", "add", "bob", "--admin", "--password-stdin",
        NULL);
    expect_ok(fx);
    run(fx, NULL, "host", "add", "web1", "--address", "10.0.0.5", "--login",
        "deploy", NULL);
    expect_ok(fx);
    run(fx, NULL, "host", "add", "db1", "--address", "db.internal", "--port",
        "2222", NULL);
    expect_ok(fx);
}
