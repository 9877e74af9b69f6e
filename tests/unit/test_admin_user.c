/*
 * Unit tests for admin/: every sshgate-admin command, run in-process through
 * admin_main against a temp database, and every bad input the CLI must
 * refuse with exit 1, exactly one line on stderr, nothing on stdout and the
 * database exactly as it was (compared row by row before and after).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <libssh/server.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin/admin.h"
#include "core/err.h"
#include "core/passwd.h"
#include "core/sshkey.h"
#include "store/db.h"
#include "store/recordings.h"
#include "store/sessions.h"
#include "store/transfers.h"
#include "store/gwkeys.h"

#define PATH_LEN 256
#define LINE_LEN 1024
#define ARGV_MAX 32

/* Built once per run: an initialized database copied into every test (RSA
 * generation in init takes a moment) and real keys made at test time. */
static struct {
    char dir[64];
    char tmpl[PATH_LEN];
    char k1_path[PATH_LEN]; /* ed25519, comment alice@laptop */
    char k2_path[PATH_LEN]; /* ecdsa p256, comment work */
    char k1_line[LINE_LEN];
    char k2_line[LINE_LEN];
    char k1_fp[GW_FINGERPRINT_MAX];
    char k2_fp[GW_FINGERPRINT_MAX];
    char k1_private[4096];
} g;

struct fx {
    char dir[64];
    char db[PATH_LEN];
    int rc;
    char *out;
    char *err;
};

/* ---- helpers ---------------------------------------------------------- */

static void write_text(const char *path, const char *text)
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

static void fx_path(const struct fx *fx, const char *name, char *out)
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

static int __attribute__((sentinel)) run(struct fx *fx, const char *input, ...)
{
    va_list ap;

    va_start(ap, input);
    vrun(fx, true, input, ap);
    va_end(ap);
    return fx->rc;
}

static int __attribute__((sentinel))
run_nodb(struct fx *fx, const char *input, ...)
{
    va_list ap;

    va_start(ap, input);
    vrun(fx, false, input, ap);
    va_end(ap);
    return fx->rc;
}

static void expect_ok(struct fx *fx)
{
    if (fx->rc != 0) {
        print_message("exit %d, stderr: %s", fx->rc, fx->err);
    }
    assert_int_equal(fx->rc, 0);
    assert_string_equal(fx->err, "");
}

static void expect_contains(const char *text, const char *needle)
{
    if (strstr(text, needle) == NULL) {
        print_message("'%s' not found in:\n%s\n", needle, text);
        fail();
    }
}

static void expect_lacks(const char *text, const char *needle)
{
    if (strstr(text, needle) != NULL) {
        print_message("'%s' unexpectedly found in:\n%s\n", needle, text);
        fail();
    }
}

/* Every table, every row, every column, as text: equal dumps mean that
 * nothing changed. A file that cannot be opened dumps as "(none)". */
static char *db_dump(const char *path)
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

static long long db_scalar(const char *path, const char *sql)
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

static void db_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static long long events_of(const struct fx *fx, const char *kind)
{
    char sql[256];

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM events WHERE kind = '%s'",
             kind);
    return db_scalar(fx->db, sql);
}

/* The fail path of the contract: exit 1, one line "sshgate-admin: ..."
 * naming the problem, nothing on stdout, the database unchanged. */
static void __attribute__((sentinel))
expect_fail(struct fx *fx, const char *needle, const char *input, ...)
{
    char *before = db_dump(fx->db);
    char *after = NULL;
    va_list ap;

    va_start(ap, input);
    vrun(fx, true, input, ap);
    va_end(ap);
    after = db_dump(fx->db);
    if (fx->rc != 1) {
        print_message("exit %d, stderr: %s", fx->rc, fx->err);
    }
    assert_int_equal(fx->rc, 1);
    assert_true(strncmp(fx->err, "sshgate-admin: ", 15) == 0);
    assert_non_null(strchr(fx->err, '\n'));
    assert_string_equal(strchr(fx->err, '\n'), "\n"); /* one line */
    expect_contains(fx->err, needle);
    assert_string_equal(fx->out, "");
    assert_string_equal(before, after);
    free(before);
    free(after);
}

/* Usage errors: exit 2, the reason and the usage, nothing changed. */
static void __attribute__((sentinel))
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
static json_t *out_json(const struct fx *fx)
{
    json_error_t error;
    json_t *doc = json_loads(fx->out, 0, &error);

    if (doc == NULL) {
        print_message("bad JSON (%s) in:\n%s\n", error.text, fx->out);
    }
    assert_non_null(doc);
    return doc;
}

static const char *jstr(const json_t *obj, const char *key)
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

static int group_setup(void **state)
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

static int group_teardown(void **state)
{
    (void)state;
    rm_tree(g.dir);
    return 0;
}

static int setup(void **state)
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

static int teardown(void **state)
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
static void add_people(struct fx *fx)
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

/* ---- init and the database path ----------------------------------------- */

static void test_init_creates_everything(void **state)
{
    struct fx *fx = *state;
    char path[PATH_LEN];
    struct stat sb;
    json_t *doc = NULL;

    /* A fresh path two directories deep: init creates them. */
    fx_path(fx, "var/lib/gw.db", fx->db);
    run(fx, NULL, "init", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "initialized");
    expect_contains(fx->out, "ssh-ed25519");
    expect_contains(fx->out, "ecdsa-sha2-nistp256");
    expect_contains(fx->out, "ssh-rsa");
    expect_lacks(fx->out, "PRIVATE");
    assert_int_equal(stat(fx->db, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    fx_path(fx, "var/lib", path);
    assert_int_equal(stat(path, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM gateway_keys "
                                       "WHERE purpose = 'host'"),
                     3);
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM gateway_keys "
                                       "WHERE purpose = 'backend' AND "
                                       "key_type = 'ssh-ed25519'"),
                     1);
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM gateway_keys "
                                       "WHERE key_type = 'ssh-rsa'"),
                     1);
    assert_int_equal(events_of(fx, "admin.init"), 1);

    /* JSON on a second fresh file. */
    fx_path(fx, "second.db", fx->db);
    run(fx, NULL, "--json", "init", NULL);
    expect_ok(fx);
    doc = out_json(fx);
    assert_true(json_is_true(json_object_get(doc, "ok")));
    assert_true(json_is_false(json_object_get(doc, "already_initialized")));
    assert_int_equal(json_array_size(json_object_get(doc, "created")), 4);
    expect_contains(
        jstr(json_array_get(json_object_get(doc, "created"), 0), "fingerprint"),
        "SHA256:");
    json_decref(doc);
}

static void test_init_is_idempotent(void **state)
{
    struct fx *fx = *state;
    char *before = db_dump(fx->db);
    char *after = NULL;
    json_t *doc = NULL;

    run(fx, NULL, "init", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "already initialized");
    after = db_dump(fx->db);
    assert_string_equal(before, after);
    run(fx, NULL, "init", "--json", NULL);
    expect_ok(fx);
    doc = out_json(fx);
    assert_true(json_is_true(json_object_get(doc, "already_initialized")));
    assert_int_equal(json_array_size(json_object_get(doc, "created")), 0);
    json_decref(doc);
    free(before);
    free(after);
}

static void test_init_unwritable_path(void **state)
{
    struct fx *fx = *state;
    char file[PATH_LEN];
    struct stat sb;

    /* A regular file used as a directory stops root too. */
    fx_path(fx, "plain", file);
    write_text(file, "not a directory\n");
    fx_path(fx, "plain/x.db", fx->db);
    expect_fail(fx, "Not a directory", NULL, "init", NULL);
    fx_path(fx, "plain/sub/x.db", fx->db);
    expect_fail(fx, "cannot create database", NULL, "init", NULL);
    snprintf(fx->db, sizeof(fx->db), "/proc/nonexistent/x.db");
    expect_fail(fx, "cannot create database", NULL, "init", NULL);
    assert_int_equal(stat("/proc/nonexistent", &sb), -1);
}

static void test_missing_db(void **state)
{
    struct fx *fx = *state;
    struct stat sb;

    fx_path(fx, "missing.db", fx->db);
    expect_fail(fx, "init' first", NULL, "user", "list", NULL);
    expect_fail(fx, "No such file", NULL, "user", "add", "alice", NULL);
    assert_int_equal(stat(fx->db, &sb), -1);
}

static void test_newer_schema(void **state)
{
    struct fx *fx = *state;

    db_exec(fx->db, "PRAGMA user_version = 99");
    expect_fail(fx, "schema version 99", NULL, "user", "list", NULL);
    expect_fail(fx, "upgrade sshgate", NULL, "user", "add", "alice", NULL);
    expect_fail(fx, "schema version 99", NULL, "init", NULL);
    assert_int_equal(db_scalar(fx->db, "PRAGMA user_version"), 99);
}

static void test_not_a_database(void **state)
{
    struct fx *fx = *state;

    write_text(fx->db, "this is not sqlite, just long enough to look like "
                       "a file with a header and some pages in it...\n");
    expect_fail(fx, "not an sshgate database", NULL, "host", "list", NULL);
}

static void test_db_path_from_env(void **state)
{
    struct fx *fx = *state;
    char other[PATH_LEN];

    assert_int_equal(setenv("SSHGATE_DB", fx->db, 1), 0);
    run_nodb(fx, NULL, "user", "add", "envuser", NULL);
    expect_ok(fx);
    assert_int_equal(
        db_scalar(fx->db, "SELECT count(*) FROM users WHERE name = 'envuser'"),
        1);
    /* --db wins over the environment. */
    fx_path(fx, "nowhere.db", other);
    assert_int_equal(setenv("SSHGATE_DB", other, 1), 0);
    run(fx, NULL, "user", "show", "envuser", NULL);
    expect_ok(fx);
    run_nodb(fx, NULL, "user", "list", NULL);
    assert_int_equal(fx->rc, 1);
    expect_contains(fx->err, other);
    /* Neither: the compiled-in default. */
    unsetenv("SSHGATE_DB");
    run_nodb(fx, NULL, "user", "list", NULL);
    if (access(SSHGATE_DEFAULT_DB, F_OK) != 0) {
        assert_int_equal(fx->rc, 1);
        expect_contains(fx->err, SSHGATE_DEFAULT_DB);
    }
}

/* ---- users --------------------------------------------------------------- */

static void test_user_add_list_show(void **state)
{
    struct fx *fx = *state;
    json_t *doc = NULL;
    json_t *key = NULL;
    char *hash = NULL;
    char *dump = NULL;

    add_people(fx);
    assert_int_equal(events_of(fx, "admin.user.add"), 2);
    assert_int_equal(events_of(fx, "admin.key.add"), 1);

    run(fx, NULL, "user", "list", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "NAME");
    expect_contains(fx->out, "alice  user ");
    expect_contains(fx->out, "bob    admin");

    run(fx, NULL, "--json", "user", "list", NULL);
    expect_ok(fx);
    doc = out_json(fx);
    assert_true(json_is_array(doc));
    assert_int_equal(json_array_size(doc), 2);
    assert_string_equal(jstr(json_array_get(doc, 0), "name"), "alice");
    assert_string_equal(jstr(json_array_get(doc, 0), "role"), "user");
    assert_true(
        json_is_false(json_object_get(json_array_get(doc, 0), "has_password")));
    assert_int_equal(json_integer_value(
                         json_object_get(json_array_get(doc, 0), "key_count")),
                     1);
    assert_string_equal(jstr(json_array_get(doc, 1), "role"), "admin");
    assert_true(
        json_is_true(json_object_get(json_array_get(doc, 1), "has_password")));
    json_decref(doc);

    run(fx, NULL, "--json", "user", "show", "alice", NULL);
    expect_ok(fx);
    doc = out_json(fx);
    assert_string_equal(jstr(doc, "name"), "alice");
    assert_true(json_is_false(json_object_get(doc, "disabled")));
    assert_true(json_is_null(json_object_get(doc, "locked_until")));
    assert_int_equal(json_array_size(json_object_get(doc, "keys")), 1);
    key = json_array_get(json_object_get(doc, "keys"), 0);
    assert_string_equal(jstr(key, "fingerprint"), g.k1_fp);
    assert_string_equal(jstr(key, "type"), "ssh-ed25519");
    assert_string_equal(jstr(key, "comment"), "alice@laptop");
    assert_int_equal(json_array_size(json_object_get(doc, "grants")), 0);
    json_decref(doc);

    run(fx, NULL, "user", "show", "alice", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "name:");
    expect_contains(fx->out, g.k1_fp);
    expect_contains(fx->out, "alice@laptop");

    /* The password is stored as a scrypt hash and nowhere in clear. */
    assert_int_equal(db_scalar(fx->db,
                               "SELECT password_hash IS NULL FROM users WHERE "
                               "name = 'alice'"),
                     1);
    dump = db_dump(fx->db);
    expect_lacks(dump, "s3cret-pw");
    expect_contains(dump, "$scrypt$");
    {
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_open(fx->db, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "SELECT password_hash FROM users "
                                            "WHERE name = 'bob'",
                                            -1, &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        hash = strdup((const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    assert_int_equal(gw_password_verify("s3cret-pw", hash), GW_OK);
    free(hash);
    free(dump);
}

static void test_user_add_keys_from_stdin(void **state)
{
    struct fx *fx = *state;
    char input[3 * LINE_LEN];
    json_t *doc = NULL;

    snprintf(input, sizeof(input), "# carol's keys\n\n%s\r\n  \n%s\n",
             g.k1_line, g.k2_line);
    run(fx, input, "--json", "user", "add", "carol", "--key", "-", NULL);
    expect_ok(fx);
    doc = out_json(fx);
    assert_true(json_is_true(json_object_get(doc, "ok")));
    assert_int_equal(json_array_size(json_object_get(doc, "keys")), 2);
    assert_string_equal(
        jstr(json_array_get(json_object_get(doc, "keys"), 1), "fingerprint"),
        g.k2_fp);
    json_decref(doc);
    assert_int_equal(events_of(fx, "admin.key.add"), 2);
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM user_keys"), 2);
}

static void test_user_state_changes(void **state)
{
    struct fx *fx = *state;
    json_t *doc = NULL;

    add_people(fx);
    run(fx, NULL, "user", "disable", "alice", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "disabled user 'alice'");
    run(fx, NULL, "user", "list", NULL);
    expect_contains(fx->out, "disabled");
    run(fx, NULL, "--json", "user", "show", "alice", NULL);
    doc = out_json(fx);
    assert_true(json_is_true(json_object_get(doc, "disabled")));
    json_decref(doc);
    run(fx, NULL, "--json", "user", "enable", "alice", NULL);
    expect_ok(fx);
    doc = out_json(fx);
    assert_true(json_is_true(json_object_get(doc, "ok")));
    json_decref(doc);
    assert_int_equal(
        db_scalar(fx->db, "SELECT disabled FROM users WHERE name = 'alice'"),
        0);

    db_exec(fx->db, "UPDATE users SET failed_logins = 5, locked_until = "
                    "'2999-01-01T00:00:00.000Z' WHERE name = 'alice'");
    run(fx, NULL, "user", "list", NULL);
    expect_contains(fx->out, "locked");
    run(fx, NULL, "user", "unlock", "alice", NULL);
    expect_ok(fx);
    run(fx, NULL, "--json", "user", "show", "alice", NULL);
    doc = out_json(fx);
    assert_true(json_is_false(json_object_get(doc, "locked")));
    assert_int_equal(json_integer_value(json_object_get(doc, "failed_logins")),
                     0);
    json_decref(doc);

    run(fx, "n3w-pass\n", "user", "passwd", "alice", "--password-stdin", NULL);
    expect_ok(fx);
    assert_int_equal(
        db_scalar(fx->db, "SELECT password_hash LIKE '$scrypt$%' FROM users "
                          "WHERE name = 'alice'"),
        1);

    run(fx, NULL, "user", "del", "alice", NULL);
    expect_ok(fx);
    assert_int_equal(
        db_scalar(fx->db, "SELECT count(*) FROM users WHERE name = 'alice'"),
        0);
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM user_keys"), 0);
    expect_fail(fx, "unknown user 'alice'", NULL, "user", "show", "alice",
                NULL);
    assert_int_equal(events_of(fx, "admin.user.disable"), 1);
    assert_int_equal(events_of(fx, "admin.user.enable"), 1);
    assert_int_equal(events_of(fx, "admin.user.unlock"), 1);
    assert_int_equal(events_of(fx, "admin.user.passwd"), 1);
    assert_int_equal(events_of(fx, "admin.user.del"), 1);
    /* Events name the operator and never carry the secret. */
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM events WHERE "
                                       "kind LIKE 'admin.%' AND detail NOT "
                                       "LIKE 'by=%(uid %'"),
                     0);
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM events WHERE "
                                       "detail LIKE '%n3w-pass%'"),
                     0);
}

static void test_user_not_found(void **state)
{
    struct fx *fx = *state;

    expect_fail(fx, "unknown user 'zed'", NULL, "user", "show", "zed", NULL);
    expect_fail(fx, "unknown user 'zed'", NULL, "user", "del", "zed", NULL);
    expect_fail(fx, "unknown user 'zed'", NULL, "user", "disable", "zed", NULL);
    expect_fail(fx, "unknown user 'zed'", NULL, "user", "enable", "zed", NULL);
    expect_fail(fx, "unknown user 'zed'", NULL, "user", "unlock", "zed", NULL);
    expect_fail(fx, "unknown user 'zed'", "pw\n", "user", "passwd", "zed",
                "--password-stdin", NULL);
}

/* ---- keys ---------------------------------------------------------------- */

static void test_key_commands(void **state)
{
    struct fx *fx = *state;
    json_t *doc = NULL;

    add_people(fx);
    run(fx, NULL, "key", "add", "alice", g.k2_path, NULL);
    expect_ok(fx);
    expect_contains(fx->out, g.k2_fp);
    run(fx, g.k2_line, "key", "add", "bob", "-", NULL);
    expect_ok(fx);

    run(fx, NULL, "key", "list", "alice", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "FINGERPRINT");
    expect_contains(fx->out, g.k1_fp);
    expect_contains(fx->out, g.k2_fp);
    run(fx, NULL, "--json", "key", "list", "alice", NULL);
    expect_ok(fx);
    doc = out_json(fx);
    assert_int_equal(json_array_size(doc), 2);
    assert_string_equal(jstr(json_array_get(doc, 1), "type"),
                        "ecdsa-sha2-nistp256");
    assert_string_equal(jstr(json_array_get(doc, 1), "comment"), "work");
    json_decref(doc);
    run(fx, NULL, "--json", "key", "list", NULL);
    doc = out_json(fx);
    assert_int_equal(json_array_size(doc), 3);
    json_decref(doc);

    run(fx, NULL, "key", "del", "alice", g.k1_fp, NULL);
    expect_ok(fx);
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM user_keys k JOIN "
                                       "users u ON u.id = k.user_id WHERE "
                                       "u.name = 'alice'"),
                     1);
    assert_int_equal(events_of(fx, "admin.key.del"), 1);
    assert_int_equal(events_of(fx, "admin.key.add"), 3);
    expect_fail(fx, "has no key", NULL, "key", "del", "alice", g.k1_fp, NULL);
    expect_fail(fx, "fingerprint must look like", NULL, "key", "del", "alice",
                "SHA256:short", NULL);
    expect_fail(fx, "unknown user", NULL, "key", "list", "zed", NULL);
}

static void test_bad_key_input(void **state)
{
    struct fx *fx = *state;
    char path[PATH_LEN];
    char text[4 * LINE_LEN];

    add_people(fx);
    fx_path(fx, "bad.pub", path);

    write_text(path, "ssh-ed25519 AAAA!!notbase64 x\n");
    expect_fail(fx, "bad.pub line 1: ", NULL, "user", "add", "carol", "--key",
                path, NULL);
    expect_fail(fx, "line 1", NULL, "key", "add", "alice", path, NULL);

    write_text(path, "ssh-dss AAAAB3NzaC1kc3MAAACBAK6t root@vm\n");
    expect_fail(fx, "unsupported key type 'ssh-dss'", NULL, "user", "add",
                "carol", "--key", path, NULL);

    snprintf(text, sizeof(text), "from=\"10.0.0.1\" %s\n", g.k2_line);
    write_text(path, text);
    expect_fail(fx, "options", NULL, "key", "add", "alice", path, NULL);

    /* A good line, then a bad one: nothing at all is added. */
    snprintf(text, sizeof(text), "%s\n# c\nssh-ed25519\n", g.k2_line);
    write_text(path, text);
    expect_fail(fx, "line 3: ", NULL, "key", "add", "alice", path, NULL);
    expect_fail(fx, "stdin line 3: ", text, "key", "add", "alice", "-", NULL);

    snprintf(text, sizeof(text), "%s\n%s\n", g.k2_line, g.k2_line);
    expect_fail(fx, "given twice", text, "key", "add", "alice", "-", NULL);

    write_text(path, g.k1_private);
    expect_fail(fx, "private key", NULL, "key", "add", "alice", path, NULL);
    expect_lacks(fx->err, "BEGIN");

    write_text(path, "# only a comment\n\n");
    expect_fail(fx, "no public key found", NULL, "key", "add", "alice", path,
                NULL);
    expect_fail(fx, "no public key found", "", "key", "add", "alice", "-",
                NULL);

    snprintf(text, sizeof(text), "%s\x01\n", g.k2_line);
    expect_fail(fx, "control characters", text, "key", "add", "alice", "-",
                NULL);

    expect_fail(fx, "already has key", NULL, "key", "add", "alice", g.k1_path,
                NULL);
    expect_fail(fx, "unknown user 'zed'", NULL, "key", "add", "zed", g.k2_path,
                NULL);
    fx_path(fx, "absent.pub", path);
    expect_fail(fx, "cannot read key file", NULL, "key", "add", "alice", path,
                NULL);
    expect_fail(fx, "cannot read key file", NULL, "user", "add", "carol",
                "--key", path, NULL);
}

/* ---- hosts --------------------------------------------------------------- */

static void test_host_commands(void **state)
{
    struct fx *fx = *state;
    static const char pin[] =
        "SHA256:MBHUNViEM1FB5icK9kMg9AKExoGo0aFknQdrtqMCXL4";
    json_t *doc = NULL;

    add_people(fx);
    run(fx, NULL, "host", "add", "bastion2", "--address", "fd00::2",
        "--port=2022", "--fingerprint", pin, NULL);
    expect_ok(fx);
    expect_contains(fx->out, "added host 'bastion2'");

    run(fx, NULL, "host", "list", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "ADDRESS");
    expect_contains(fx->out, "db.internal");
    expect_contains(fx->out, pin);
    run(fx, NULL, "--json", "host", "list", NULL);
    doc = out_json(fx);
    assert_int_equal(json_array_size(doc), 3);
    assert_string_equal(jstr(json_array_get(doc, 0), "name"), "bastion2");
    json_decref(doc);

    run(fx, NULL, "--json", "host", "show", "bastion2", NULL);
    expect_ok(fx);
    doc = out_json(fx);
    assert_int_equal(json_integer_value(json_object_get(doc, "port")), 2022);
    assert_true(json_is_true(json_object_get(doc, "pinned")));
    assert_string_equal(jstr(doc, "hostkey_fingerprint"), pin);
    assert_true(json_is_null(json_object_get(doc, "login")));
    assert_int_equal(json_array_size(json_object_get(doc, "grants")), 0);
    json_decref(doc);
    run(fx, NULL, "--json", "host", "show", "web1", NULL);
    doc = out_json(fx);
    assert_string_equal(jstr(doc, "login"), "deploy");
    assert_int_equal(json_integer_value(json_object_get(doc, "port")), 22);
    assert_true(json_is_false(json_object_get(doc, "pinned")));
    json_decref(doc);
    run(fx, NULL, "host", "show", "web1", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "address:");
    expect_contains(fx->out, "10.0.0.5");

    run(fx, NULL, "host", "del", "bastion2", NULL);
    expect_ok(fx);
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM hosts"), 2);
    assert_int_equal(events_of(fx, "admin.host.add"), 3);
    assert_int_equal(events_of(fx, "admin.host.del"), 1);
    expect_fail(fx, "unknown host 'bastion2'", NULL, "host", "show", "bastion2",
                NULL);
    expect_fail(fx, "unknown host 'bastion2'", NULL, "host", "del", "bastion2",
                NULL);
}

static void test_bad_host_input(void **state)
{
    struct fx *fx = *state;

    add_people(fx);
    expect_fail(fx, "host 'web1' already exists", NULL, "host", "add", "web1",
                "--address", "10.9.9.9", NULL);
    expect_fail(fx, "1-65535", NULL, "host", "add", "h", "--address", "x",
                "--port", "0", NULL);
    expect_fail(fx, "1-65535", NULL, "host", "add", "h", "--address", "x",
                "--port", "65536", NULL);
    expect_fail(fx, "1-65535", NULL, "host", "add", "h", "--address", "x",
                "--port", "-1", NULL);
    expect_fail(fx, "1-65535", NULL, "host", "add", "h", "--address", "x",
                "--port", "22x", NULL);
    expect_fail(fx, "address must not be empty", NULL, "host", "add", "h",
                "--address", "", NULL);
    expect_fail(fx, "not a host name or IP address", NULL, "host", "add", "h",
                "--address", "a b", NULL);
    expect_fail(fx, "fingerprint must look like", NULL, "host", "add", "h",
                "--address", "x", "--fingerprint", "MD5:aa:bb", NULL);
    expect_fail(fx, "login must not be empty", NULL, "host", "add", "h",
                "--address", "x", "--login", "", NULL);
    expect_fail(fx, "login must not contain the login separator", NULL, "host",
                "add", "h", "--address", "x", "--login", "ro+ot", NULL);
}

/* Backend credentials: a stored private key or password instead of the
 * gateway's key, kept secret, and refused when unusable. */
static void test_host_credentials(void **state)
{
    struct fx *fx = *state;
    char keyfile[PATH_LEN];
    json_t *doc = NULL;

    add_people(fx);
    fx_path(fx, "backend_key", keyfile);
    write_text(keyfile, g.k1_private);
    run(fx, NULL, "host", "add", "k1", "--address", "127.0.0.1", "--login",
        "ops", "--key-file", keyfile, NULL);
    expect_ok(fx);
    run(fx, "backend-pw\n", "host", "add", "p1", "--address", "127.0.0.1",
        "--login", "ops", "--password-stdin", NULL);
    expect_ok(fx);
    run(fx, NULL, "--json", "host", "show", "k1", NULL);
    doc = out_json(fx);
    assert_string_equal(jstr(doc, "auth_method"), "stored-key");
    assert_true(json_is_true(json_object_get(doc, "has_secret")));
    json_decref(doc);
    run(fx, NULL, "--json", "host", "show", "p1", NULL);
    expect_lacks(fx->out, "backend-pw");
    doc = out_json(fx);
    assert_string_equal(jstr(doc, "auth_method"), "password");
    json_decref(doc);
    /* The secrets are in the hosts table only, never in events. */
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM events WHERE "
                                       "detail LIKE '%backend-pw%' OR "
                                       "detail LIKE '%PRIVATE KEY%'"),
                     0);

    expect_fail(fx, "not an unencrypted private key", NULL, "host", "add", "k2",
                "--address", "x", "--key-file", g.k1_path, NULL);
    expect_fail(fx, "cannot read key file", NULL, "host", "add", "k2",
                "--address", "x", "--key-file", "/nonexistent/key", NULL);
    expect_fail(fx, "password must not be empty", "\n", "host", "add", "k2",
                "--address", "x", "--password-stdin", NULL);
    expect_usage(fx, "exclude each other", "pw\n", "host", "add", "k2",
                 "--address", "x", "--key-file", keyfile, "--password-stdin",
                 NULL);
}

/* host check / trust reach the network; what can fail before or without a
 * backend is checked here, the rest in tests/integration. */
static void test_host_check_failures(void **state)
{
    struct fx *fx = *state;

    add_people(fx);
    run(fx, NULL, "host", "add", "closed", "--address", "127.0.0.1", "--port",
        "1", "--login", "ops", NULL);
    expect_ok(fx);
    expect_fail(fx, "Connection refused", NULL, "host", "check", "closed",
                NULL);
    expect_fail(fx, "Connection refused", NULL, "host", "trust", "closed",
                NULL);
    expect_fail(fx, "unknown host 'nope'", NULL, "host", "check", "nope", NULL);
    expect_fail(fx, "has no default login", NULL, "host", "check", "db1", NULL);
    expect_fail(fx, "--timeout must be", NULL, "host", "check", "closed",
                "--timeout", "0", NULL);
    expect_fail(fx, "login must not contain", NULL, "host", "check", "closed",
                "--login", "a;b", NULL);
    expect_usage(fx, "missing NAME", NULL, "host", "check", NULL);
}

/* ---- names ----------------------------------------------------------------
 */

static void test_bad_names(void **state)
{
    static const struct {
        const char *name;
        const char *why;
    } bad[] = {
        {"", "must not be empty"},       {"a b", "whitespace"},
        {"a\tb", "control characters"},  {"a\x01z", "control characters"},
        {"a\x7f", "control characters"}, {"alice+web1", "login separator '+'"},
        {"a@b", "character '@'"},
    };
    struct fx *fx = *state;

    add_people(fx);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *name = (char *)(uintptr_t)bad[i].name;
        expect_fail(fx, bad[i].why, NULL, "user", "add", name, NULL);
        expect_fail(fx, bad[i].why, "pw\n", "user", "add", name,
                    "--password-stdin", NULL);
        expect_fail(fx, bad[i].why, NULL, "host", "add", name, "--address",
                    "10.0.0.9", NULL);
        expect_fail(fx, bad[i].why, NULL, "grant", "add", "alice", "web1",
                    "--login", name, NULL);
    }
    expect_fail(fx, "already exists", NULL, "user", "add", "alice", NULL);
}

/* ---- passwords ------------------------------------------------------------
 */

static void test_bad_password(void **state)
{
    struct fx *fx = *state;

    add_people(fx);
    expect_fail(fx, "password must not be empty", "\n", "user", "add", "carol",
                "--password-stdin", NULL);
    expect_fail(fx, "password must not be empty", "", "user", "add", "carol",
                "--password-stdin", NULL);
    expect_fail(fx, "password must not be empty", "\r\n", "user", "passwd",
                "bob", "--password-stdin", NULL);
    expect_fail(fx, "password must not be empty", "", "user", "passwd", "bob",
                "--password-stdin", NULL);
}

/* ---- grants ---------------------------------------------------------------
 */

static void test_grant_commands(void **state)
{
    struct fx *fx = *state;
    json_t *doc = NULL;
    json_t *gr = NULL;

    add_people(fx);
    run(fx, NULL, "grant", "add", "alice", "web1", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "as 'deploy'");
    run(fx, NULL, "grant", "add", "alice", "web1", "--login", "root", "--allow",
        "shell,forward", "--expires", "7d", NULL);
    expect_ok(fx);
    run(fx, NULL, "--json", "grant", "add", "bob", "db1", "--login", "pg",
        "--expires", "2999-12-31", NULL);
    expect_ok(fx);
    doc = out_json(fx);
    assert_true(json_is_true(json_object_get(doc, "ok")));
    assert_string_equal(jstr(doc, "expires_at"), "2999-12-31T00:00:00.000Z");
    json_decref(doc);

    run(fx, NULL, "grant", "list", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "USER");
    expect_contains(fx->out, "shell,exec,sftp");
    expect_contains(fx->out, "never");
    run(fx, NULL, "--json", "grant", "list", NULL);
    doc = out_json(fx);
    assert_int_equal(json_array_size(doc), 3);
    json_decref(doc);
    run(fx, NULL, "--json", "grant", "list", "alice", NULL);
    doc = out_json(fx);
    assert_int_equal(json_array_size(doc), 2);
    gr = json_array_get(doc, 0); /* ordered by host, then login */
    assert_string_equal(jstr(gr, "login"), "deploy");
    assert_int_equal(json_array_size(json_object_get(gr, "allow")), 3);
    assert_true(json_is_null(json_object_get(gr, "expires_at")));
    gr = json_array_get(doc, 1);
    assert_string_equal(jstr(gr, "login"), "root");
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(gr, "allow"), 1)),
        "forward");
    assert_true(json_is_string(json_object_get(gr, "expires_at")));
    json_decref(doc);

    run(fx, NULL, "--json", "user", "show", "alice", NULL);
    doc = out_json(fx);
    assert_int_equal(json_array_size(json_object_get(doc, "grants")), 2);
    json_decref(doc);
    run(fx, NULL, "--json", "host", "show", "web1", NULL);
    doc = out_json(fx);
    assert_int_equal(json_array_size(json_object_get(doc, "grants")), 2);
    json_decref(doc);

    run(fx, NULL, "grant", "del", "alice", "web1", "--login", "root", NULL);
    expect_ok(fx);
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM grants"), 2);
    run(fx, NULL, "grant", "del", "alice", "web1", NULL);
    expect_ok(fx);
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM grants"), 1);
    run(fx, NULL, "host", "del", "db1", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "1 grant");
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM grants"), 0);
    assert_int_equal(events_of(fx, "admin.grant.add"), 3);
    assert_int_equal(events_of(fx, "admin.grant.del"), 2);
}

static void test_bad_grant_input(void **state)
{
    struct fx *fx = *state;

    add_people(fx);
    run(fx, NULL, "grant", "add", "alice", "web1", NULL);
    expect_ok(fx);
    expect_fail(fx, "already has a grant on 'web1' as 'deploy'", NULL, "grant",
                "add", "alice", "web1", NULL);
    expect_fail(fx, "already has a grant", NULL, "grant", "add", "alice",
                "web1", "--login", "deploy", "--allow", "sftp", NULL);
    expect_fail(fx, "unknown user 'zed'", NULL, "grant", "add", "zed", "web1",
                NULL);
    expect_fail(fx, "unknown host 'nohost'", NULL, "grant", "add", "alice",
                "nohost", NULL);
    expect_fail(fx, "no default login", NULL, "grant", "add", "alice", "db1",
                NULL);
    expect_fail(fx, "unknown channel kind 'x11'", NULL, "grant", "add", "alice",
                "db1", "--login", "l", "--allow", "shell,x11", NULL);
    expect_fail(fx, "at least one kind", NULL, "grant", "add", "alice", "db1",
                "--login", "l", "--allow", "", NULL);
    expect_fail(fx, "is in the past", NULL, "grant", "add", "alice", "db1",
                "--login", "l", "--expires", "2001-01-01", NULL);
    expect_fail(fx, "is not a time", NULL, "grant", "add", "alice", "db1",
                "--login", "l", "--expires", "tomorrow", NULL);
    expect_fail(fx, "has no grant", NULL, "grant", "del", "alice", "db1", NULL);
    expect_fail(fx, "has no grant on 'web1' as root", NULL, "grant", "del",
                "alice", "web1", "--login", "root", NULL);
    expect_fail(fx, "unknown user 'zed'", NULL, "grant", "list", "zed", NULL);
}

/* ---- gateway keys ----------------------------------------------------------
 */

static void test_keys_show(void **state)
{
    struct fx *fx = *state;
    json_t *doc = NULL;
    json_t *backend = NULL;
    struct gw_pubkey parsed;
    const char *line = NULL;

    run(fx, NULL, "keys", "show", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "FINGERPRINT");
    expect_contains(fx->out, "ecdsa-sha2-nistp256");
    expect_contains(fx->out, "ssh-rsa");
    expect_contains(fx->out, "\nssh-ed25519 AAAA");
    expect_contains(fx->out, " sshgate-backend\n");
    expect_lacks(fx->out, "PRIVATE");

    run(fx, NULL, "keys", "show", "--json", NULL);
    expect_ok(fx);
    expect_lacks(fx->out, "PRIVATE");
    doc = out_json(fx);
    assert_int_equal(json_array_size(json_object_get(doc, "host_keys")), 3);
    assert_int_equal(json_array_size(json_object_get(doc, "backend_keys")), 1);
    backend = json_array_get(json_object_get(doc, "backend_keys"), 0);
    line = jstr(backend, "public_key");
    /* The line operators paste is a valid key with the fingerprint shown. */
    assert_int_equal(gw_pubkey_parse_line(line, &parsed), GW_OK);
    assert_string_equal(parsed.fingerprint, jstr(backend, "fingerprint"));
    assert_string_equal(parsed.comment, "sshgate-backend");
    gw_pubkey_clear(&parsed);
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM gateway_keys "
                                       "WHERE purpose = 'backend'"),
                     1);
    json_decref(doc);
}

/* ---- db -------------------------------------------------------------------
 */

static void test_db_backup(void **state)
{
    struct fx *fx = *state;
    char path[PATH_LEN];
    struct stat sb;
    json_t *doc = NULL;

    add_people(fx);
    fx_path(fx, "backup.db", path);
    run(fx, NULL, "db", "backup", path, NULL);
    expect_ok(fx);
    expect_contains(fx->out, "backed up");
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(db_scalar(path, "SELECT count(*) FROM users"), 2);
    assert_int_equal(events_of(fx, "admin.db.backup"), 1);
    /* Never overwrite a file (it may be the good backup). */
    expect_fail(fx, "File exists", NULL, "db", "backup", path, NULL);
    fx_path(fx, "no/such/dir.db", path);
    expect_fail(fx, "cannot create backup", NULL, "db", "backup", path, NULL);
    fx_path(fx, "b2.db", path);
    run(fx, NULL, "--json", "db", "backup", path, NULL);
    expect_ok(fx);
    doc = out_json(fx);
    assert_string_equal(jstr(doc, "backup"), path);
    json_decref(doc);
}

static void test_db_check(void **state)
{
    struct fx *fx = *state;
    json_t *doc = NULL;

    add_people(fx);
    run(fx, NULL, "db", "check", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "integrity ok");
    run(fx, NULL, "--json", "db", "check", NULL);
    expect_ok(fx);
    doc = out_json(fx);
    assert_true(json_is_true(json_object_get(doc, "ok")));
    json_decref(doc);

    db_exec(fx->db, "UPDATE events SET detail = 'forged' WHERE id = 2");
    run(fx, NULL, "db", "check", NULL);
    assert_int_equal(fx->rc, 1);
    expect_contains(fx->out, "event chain broken at event 2");
    assert_string_equal(strchr(fx->err, '\n'), "\n");
    expect_contains(fx->err, "problem");
    run(fx, NULL, "--json", "db", "check", NULL);
    assert_int_equal(fx->rc, 1);
    doc = out_json(fx);
    assert_true(json_is_false(json_object_get(doc, "ok")));
    json_decref(doc);
}

/* ---- audit ----------------------------------------------------------------
 */

static void test_audit_list(void **state)
{
    struct fx *fx = *state;
    json_t *doc = NULL;
    json_t *ev = NULL;

    add_people(fx);
    run(fx, NULL, "audit", "list", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "KIND");
    expect_contains(fx->out, "admin.init");
    expect_contains(fx->out, "admin.user.add");

    run(fx, NULL, "--json", "audit", "list", NULL);
    expect_ok(fx);
    doc = out_json(fx);
    /* init, 2 user.add, key.add, 2 host.add */
    assert_int_equal(json_array_size(doc), 6);
    ev = json_array_get(doc, 1);
    assert_string_equal(jstr(ev, "kind"), "admin.user.add");
    assert_string_equal(jstr(ev, "user"), "alice");
    assert_true(json_is_null(json_object_get(ev, "client")));
    expect_contains(jstr(ev, "detail"), "by=");
    assert_int_equal(strlen(jstr(ev, "hash")), 64);
    json_decref(doc);

    run(fx, NULL, "--json", "audit", "list", "--kind", "admin.host.add", NULL);
    doc = out_json(fx);
    assert_int_equal(json_array_size(doc), 2);
    json_decref(doc);
    run(fx, NULL, "--json", "audit", "list", "--kind", "admin.user.", NULL);
    doc = out_json(fx);
    assert_int_equal(json_array_size(doc), 2);
    json_decref(doc);
    run(fx, NULL, "--json", "audit", "list", "--user", "alice", NULL);
    doc = out_json(fx);
    assert_int_equal(json_array_size(doc), 2);
    json_decref(doc);
    run(fx, NULL, "--json", "audit", "list", "--limit", "2", NULL);
    doc = out_json(fx);
    assert_int_equal(json_array_size(doc), 2);
    assert_string_equal(jstr(json_array_get(doc, 1), "kind"), "admin.host.add");
    json_decref(doc);
    run(fx, NULL, "--json", "audit", "list", "--since", "1h", NULL);
    doc = out_json(fx);
    assert_int_equal(json_array_size(doc), 6);
    json_decref(doc);
    run(fx, NULL, "--json", "audit", "list", "--since", "2999-01-01", NULL);
    doc = out_json(fx);
    assert_int_equal(json_array_size(doc), 0);
    json_decref(doc);

    expect_fail(fx, "--limit", NULL, "audit", "list", "--limit", "0", NULL);
    expect_fail(fx, "--limit", NULL, "audit", "list", "--limit", "x", NULL);
    expect_fail(fx, "is not a time", NULL, "audit", "list", "--since",
                "yesterday", NULL);
}

static void test_audit_verify(void **state)
{
    struct fx *fx = *state;
    json_t *doc = NULL;

    add_people(fx);
    run(fx, NULL, "audit", "verify", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "intact: 6 events");
    run(fx, NULL, "--json", "audit", "verify", NULL);
    doc = out_json(fx);
    assert_int_equal(json_integer_value(json_object_get(doc, "events")), 6);
    json_decref(doc);

    db_exec(fx->db, "DELETE FROM events WHERE id = 6");
    expect_fail(fx, "audit chain broken at event 6", NULL, "audit", "verify",
                NULL);
    db_exec(fx->db, "UPDATE events SET kind = 'x' WHERE id = 3");
    expect_fail(fx, "broken at event 3", NULL, "audit", "verify", NULL);
}

/* Stored text from clients reaches the terminal without control
 * characters, and JSON output stays valid for bytes that are not UTF-8. */
static void test_output_is_sanitized(void **state)
{
    struct fx *fx = *state;
    char line[LINE_LEN + 16];
    json_t *doc = NULL;

    add_people(fx);
    db_exec(fx->db, "UPDATE events SET username = 'ev' || char(27) || "
                    "'[31mil' WHERE id = 2");
    run(fx, NULL, "audit", "list", NULL);
    expect_ok(fx);
    expect_lacks(fx->out, "\x1b");
    expect_contains(fx->out, "ev?[31mil");

    snprintf(line, sizeof(line), "%s", g.k2_line);
    *strrchr(line, ' ') = '\0'; /* drop the comment "work" */
    strcat(line, " caf\xff\n");
    run(fx, line, "key", "add", "alice", "-", NULL);
    expect_ok(fx);
    run(fx, NULL, "--json", "key", "list", "alice", NULL);
    expect_ok(fx);
    doc = out_json(fx);
    assert_string_equal(jstr(json_array_get(doc, 1), "comment"), "caf?");
    json_decref(doc);
}

/* ---- sessions -------------------------------------------------------- */

/* Two sessions as the daemon writes them: alice's ended exec with a
 * transfer and a recording, bob's shell still open. */
static void add_sessions(struct fx *fx, int64_t *ended, int64_t *open)
{
    static const char chunk1[] = "[0.1, \"o\", \"hello \"]\n"
                                 "[0.2, \"i\", \"secret\"]\n";
    static const char chunk2[] = "[0.3, \"o\", \"world\\r\\n\"]\n";
    struct store_session_start a = {"gw1",         "c-1",  0,        "alice",
                                    "127.0.0.1:5", "web1", "deploy", "exec",
                                    "ls",          false,  NULL};
    struct store_session_start b = {"gw1",         "c-2", 0,    "bob",
                                    "127.0.0.1:6", "db1", "pg", "shell",
                                    NULL,          true,  NULL};
    struct store_session_end end = {.bytes_up = 3,
                                    .bytes_down = 40,
                                    .has_exit_status = true,
                                    .exit_status = 0,
                                    .reason = "client closed"};
    struct store_transfer t = {
        .operation = "write", .bytes_written = 5, .status = "ok"};
    struct store *st = NULL;
    int64_t rec = 0;

    assert_int_equal(store_open(fx->db, STORE_OPEN_EXISTING, &st), GW_OK);
    assert_int_equal(store_session_start(st, &a, ended), GW_OK);
    assert_int_equal(store_session_start(st, &b, open), GW_OK);
    assert_int_equal(store_session_end(st, *ended, &end), GW_OK);
    t.session_id = *ended;
    t.path = "/srv/up.txt";
    assert_int_equal(store_transfer_add(st, &t), GW_OK);
    assert_int_equal(store_recording_start(st, *ended,
                                           "{\"version\": 2, \"width\": 80, "
                                           "\"height\": 24}",
                                           &rec),
                     GW_OK);
    assert_int_equal(
        store_recording_append(st, rec, 1, chunk1, sizeof(chunk1) - 1), GW_OK);
    assert_int_equal(
        store_recording_append(st, rec, 2, chunk2, sizeof(chunk2) - 1), GW_OK);
    store_close(st);
}

static void test_session_commands(void **state)
{
    struct fx *fx = *state;
    int64_t ended = 0, open = 0;
    char id[24], other[24];
    json_t *doc = NULL;

    add_sessions(fx, &ended, &open);
    snprintf(id, sizeof(id), "%lld", (long long)ended);
    snprintf(other, sizeof(other), "%lld", (long long)open);

    run(fx, NULL, "session", "list", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "deploy@web1");
    expect_contains(fx->out, "active");
    run(fx, NULL, "--json", "session", "list", "--active", NULL);
    expect_ok(fx);
    doc = out_json(fx);
    assert_int_equal(json_array_size(doc), 1);
    assert_string_equal(jstr(json_array_get(doc, 0), "user"), "bob");
    json_decref(doc);
    run(fx, NULL, "--json", "session", "list", "--user", "alice", "--since",
        "1d", NULL);
    doc = out_json(fx);
    assert_int_equal(json_array_size(doc), 1);
    json_decref(doc);

    run(fx, NULL, "--json", "session", "show", id, NULL);
    expect_ok(fx);
    doc = out_json(fx);
    assert_string_equal(jstr(doc, "command"), "ls");
    assert_int_equal(json_integer_value(json_object_get(doc, "exit_status")),
                     0);
    assert_int_equal(json_array_size(json_object_get(doc, "file_transfers")),
                     1);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(doc, "recording"), "chunks")),
                     2);
    json_decref(doc);
    run(fx, NULL, "session", "show", id, NULL);
    expect_ok(fx);
    expect_contains(fx->out, "/srv/up.txt");
    expect_contains(fx->out, "client closed");

    run(fx, NULL, "session", "export", id, NULL);
    expect_ok(fx);
    assert_string_equal(fx->out,
                        "{\"version\": 2, \"width\": 80, \"height\": 24}\n"
                        "[0.1, \"o\", \"hello \"]\n[0.2, \"i\", \"secret\"]\n"
                        "[0.3, \"o\", \"world\\r\\n\"]\n");
    /* Replay shows output events only, in order. */
    run(fx, NULL, "session", "replay", id, "--speed", "1000", NULL);
    expect_ok(fx);
    assert_string_equal(fx->out, "hello world\r\n");

    expect_fail(fx, "no session 999", NULL, "session", "show", "999", NULL);
    expect_fail(fx, "not a session id", NULL, "session", "show", "x1", NULL);
    expect_fail(fx, "has no recording", NULL, "session", "export", other, NULL);
    expect_fail(fx, "--speed must be", NULL, "session", "replay", id, "--speed",
                "0", NULL);
    expect_fail(fx, "not a time", NULL, "session", "list", "--since", "soon",
                NULL);
}

/* ---- usage ----------------------------------------------------------------
 */

static void test_usage_errors(void **state)
{
    struct fx *fx = *state;

    add_people(fx);
    expect_usage(fx, "no command given", NULL, NULL);
    expect_usage(fx, "unknown command 'frob'", NULL, "frob", NULL);
    expect_usage(fx, "'user' needs a verb", NULL, "user", NULL);
    expect_usage(fx, "unknown command 'user frob'", NULL, "user", "frob", NULL);
    expect_usage(fx, "missing NAME", NULL, "user", "add", NULL);
    expect_usage(fx, "missing NAME", NULL, "user", "show", NULL);
    expect_usage(fx, "missing FILE", NULL, "key", "add", "alice", NULL);
    expect_usage(fx, "missing FINGERPRINT", NULL, "key", "del", "alice", NULL);
    expect_usage(fx, "missing HOST", NULL, "grant", "add", "alice", NULL);
    expect_usage(fx, "missing FILE", NULL, "db", "backup", NULL);
    expect_usage(fx, "unexpected argument 'extra'", NULL, "user", "list",
                 "extra", NULL);
    expect_usage(fx, "unexpected argument 'x'", NULL, "user", "add", "carol",
                 "x", NULL);
    expect_usage(fx, "unknown option '--bogus'", NULL, "user", "add", "carol",
                 "--bogus", NULL);
    expect_usage(fx, "unknown option '-x'", NULL, "user", "list", "-x", NULL);
    expect_usage(fx, "unknown option '--frob'", NULL, "--frob", "user", "list",
                 NULL);
    expect_usage(fx, "needs a value", NULL, "host", "add", "h", "--address",
                 NULL);
    expect_usage(fx, "takes no value", NULL, "user", "add", "carol",
                 "--admin=yes", NULL);
    expect_usage(fx, "given twice", NULL, "host", "add", "h", "--address", "a",
                 "--address", "b", NULL);
    expect_usage(fx, "missing option --address", NULL, "host", "add", "h",
                 NULL);
    expect_usage(fx, "missing option --password-stdin", "pw\n", "user",
                 "passwd", "bob", NULL);
    expect_usage(fx, "cannot both read stdin", "pw\n", "user", "add", "carol",
                 "--password-stdin", "--key", "-", NULL);
    expect_usage(fx, "takes no value", NULL, "--json=1", "user", "list", NULL);
    /* The usage of that command, not the whole reference. */
    expect_usage(fx,
                 "usage: sshgate-admin [--db PATH] [--json] grant add "
                 "USER HOST",
                 NULL, "grant", "add", NULL);
    expect_lacks(fx->err, "user add");
}

static void test_help(void **state)
{
    struct fx *fx = *state;

    run_nodb(fx, NULL, "--help", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "usage: sshgate-admin");
    expect_contains(fx->out, "grant add USER HOST");
    expect_contains(fx->out, "audit verify");
    expect_contains(fx->out, "SSHGATE_DB");
    expect_contains(fx->out, SSHGATE_DEFAULT_DB);
    expect_contains(fx->out, "host check NAME");
    run_nodb(fx, NULL, "help", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "db backup FILE");
    run_nodb(fx, NULL, "help", "host", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "host add NAME --address ADDR");
    expect_lacks(fx->out, "user add");
    run_nodb(fx, NULL, "user", "--help", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "user passwd NAME --password-stdin");
    run_nodb(fx, NULL, "user", "add", "--help", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "user add NAME [--admin]");
    expect_lacks(fx->out, "user list");
    run_nodb(fx, NULL, "--version", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "sshgate-admin " SSHGATE_VERSION);
}

static void test_global_options_after_verb(void **state)
{
    struct fx *fx = *state;
    json_t *doc = NULL;

    add_people(fx);
    run_nodb(fx, NULL, "user", "list", "--json", "--db", fx->db, NULL);
    expect_ok(fx);
    doc = out_json(fx);
    assert_int_equal(json_array_size(doc), 2);
    json_decref(doc);
    run_nodb(fx, NULL, "host", "show", "--db=x", "web1", "--db", fx->db, NULL);
    assert_int_equal(fx->rc, 2);
    expect_contains(fx->err, "option --db given twice");
    /* "--" ends the options. */
    run(fx, NULL, "user", "show", "--", "--json", NULL);
    assert_int_equal(fx->rc, 1);
    expect_contains(fx->err, "unknown user '--json'");
}

/* ---- health -------------------------------------------------------------- */

/* A one-connection SSH server on a loopback port for "health": key
 * exchange with its key, then wait for the client to leave. Without a key
 * it only listens and never speaks, like a hung daemon. */
struct tiny_sshd {
    int fd;
    ssh_key key; /* moves into the server thread's bind */
    char address[32];
    pthread_t thread;
    bool serving;
};

static void *tiny_sshd_serve(void *arg)
{
    struct tiny_sshd *d = arg;
    ssh_bind bind = ssh_bind_new();
    ssh_session s = ssh_new();
    ssh_message msg = NULL;
    bool no = false;
    long timeout = 10;
    int fd = accept(d->fd, NULL, NULL);

    assert_non_null(bind);
    assert_non_null(s);
    assert_true(fd >= 0);
    ssh_bind_options_set(bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &no);
    ssh_bind_options_set(bind, SSH_BIND_OPTIONS_IMPORT_KEY, d->key);
    d->key = NULL; /* transferred */
    ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout);
    if (ssh_bind_accept_fd(bind, s, fd) == SSH_OK &&
        ssh_handle_key_exchange(s) == SSH_OK) {
        while ((msg = ssh_message_get(s)) != NULL) {
            ssh_message_reply_default(msg);
            ssh_message_free(msg);
        }
    }
    ssh_disconnect(s);
    ssh_free(s);
    ssh_bind_free(bind);
    return NULL;
}

static void tiny_sshd_start(struct tiny_sshd *d, ssh_key key)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);

    memset(d, 0, sizeof(*d));
    d->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(d->fd >= 0);
    assert_int_equal(bind(d->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(d->fd, 4), 0);
    assert_int_equal(getsockname(d->fd, (struct sockaddr *)&sa, &len), 0);
    snprintf(d->address, sizeof(d->address), "127.0.0.1:%u",
             (unsigned)ntohs(sa.sin_port));
    if (key != NULL) {
        d->key = key;
        assert_int_equal(pthread_create(&d->thread, NULL, tiny_sshd_serve, d),
                         0);
        d->serving = true;
    }
}

static void tiny_sshd_stop(struct tiny_sshd *d)
{
    if (d->serving) {
        pthread_join(d->thread, NULL);
    }
    close(d->fd);
}

/* The gateway's first host key (ed25519) with its private part, as the
 * daemon would serve it; fp receives its fingerprint. */
static ssh_key gateway_host_key(const struct fx *fx, char *fp)
{
    struct store *st = NULL;
    struct store_gwkey *keys = NULL;
    size_t n = 0;
    char *text = NULL;
    ssh_key key = NULL;

    assert_int_equal(store_open(fx->db, STORE_OPEN_EXISTING, &st), GW_OK);
    assert_int_equal(store_gwkey_list(st, STORE_GWKEY_HOST, &keys, &n), GW_OK);
    assert_true(n > 0);
    assert_int_equal(store_gwkey_private(st, keys[0].id, &text), GW_OK);
    assert_int_equal(gw_privkey_import(text, &key), GW_OK);
    snprintf(fp, GW_FINGERPRINT_MAX, "%s", keys[0].fingerprint);
    free(text);
    store_gwkey_list_free(keys, n);
    store_close(st);
    return key;
}

/* A fresh ed25519 key that is not the gateway's. */
static ssh_key foreign_key(char *fp)
{
    struct gw_keypair kp;
    ssh_key key = NULL;

    assert_int_equal(gw_keypair_generate(GW_KEY_ED25519, &kp), GW_OK);
    assert_int_equal(gw_privkey_import(kp.private_text, &key), GW_OK);
    snprintf(fp, GW_FINGERPRINT_MAX, "%s", kp.pub.fingerprint);
    gw_keypair_clear(&kp);
    return key;
}

/* health: healthy only when an SSH server answers with one of the
 * gateway's host keys; every other case is exit 1 with one line. Nothing
 * is ever written to the database. */
static void test_health(void **state)
{
    struct fx *fx = *state;
    struct tiny_sshd d;
    char fp[GW_FINGERPRINT_MAX];
    char want[256];
    char *before = db_dump(fx->db);
    char *after = NULL;
    json_t *doc = NULL;

    /* Our key: healthy, in text and in JSON. */
    tiny_sshd_start(&d, gateway_host_key(fx, fp));
    run(fx, NULL, "health", "--address", d.address, "--timeout", "10", NULL);
    tiny_sshd_stop(&d);
    expect_ok(fx);
    snprintf(want, sizeof(want), "healthy: %s answers SSH with host key %s\n",
             d.address, fp);
    assert_string_equal(fx->out, want);
    tiny_sshd_start(&d, gateway_host_key(fx, fp));
    run(fx, NULL, "--json", "health", "--address", d.address, NULL);
    tiny_sshd_stop(&d);
    expect_ok(fx);
    doc = out_json(fx);
    assert_true(json_is_true(json_object_get(doc, "ok")));
    assert_string_equal(jstr(doc, "address"), d.address);
    assert_string_equal(jstr(doc, "hostkey_type"), "ssh-ed25519");
    assert_string_equal(jstr(doc, "hostkey_fingerprint"), fp);
    json_decref(doc);
    after = db_dump(fx->db);
    assert_string_equal(before, after);
    free(before);
    free(after);

    /* Another SSH server on the port. */
    tiny_sshd_start(&d, foreign_key(fp));
    snprintf(want, sizeof(want), "its host key %s is not one of this gateway's",
             fp);
    expect_fail(fx, want, NULL, "health", "--address", d.address, NULL);
    tiny_sshd_stop(&d);

    /* A port that accepts but never speaks SSH, then the same port closed. */
    tiny_sshd_start(&d, NULL);
    expect_fail(fx, "not answering on", NULL, "health", "--address", d.address,
                "--timeout", "1", NULL);
    tiny_sshd_stop(&d);
    snprintf(want, sizeof(want), "not answering on %s: Connection refused",
             d.address);
    expect_fail(fx, want, NULL, "health", "--address", d.address, NULL);

    /* A database without host keys cannot vouch for any server. */
    db_exec(fx->db, "DELETE FROM gateway_keys WHERE purpose = 'host'");
    tiny_sshd_start(&d, foreign_key(fp));
    expect_fail(fx, "no host keys in", NULL, "health", "--address", d.address,
                NULL);
    tiny_sshd_stop(&d);

    expect_fail(fx, "--address must be HOST:PORT or [IPv6]:PORT, not 'x'", NULL,
                "health", "--address", "x", NULL);
    expect_fail(fx, "not 'a@b:22'", NULL, "health", "--address", "a@b:22",
                NULL);
    expect_fail(fx, "not '[::1:22'", NULL, "health", "--address", "[::1:22",
                NULL);
    expect_fail(fx, "not 'h:0'", NULL, "health", "--address", "h:0", NULL);
    expect_fail(fx, "--timeout must be 1 to 600 seconds", NULL, "health",
                "--timeout", "0", NULL);
    expect_usage(fx, "unexpected argument 'x'", NULL, "health", "x", NULL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_init_creates_everything),
        T(test_init_is_idempotent),
        T(test_init_unwritable_path),
        T(test_missing_db),
        T(test_newer_schema),
        T(test_not_a_database),
        T(test_db_path_from_env),
        T(test_user_add_list_show),
        T(test_user_add_keys_from_stdin),
        T(test_user_state_changes),
        T(test_user_not_found),
        T(test_key_commands),
        T(test_bad_key_input),
        T(test_host_commands),
        T(test_bad_host_input),
        T(test_host_credentials),
        T(test_host_check_failures),
        T(test_bad_names),
        T(test_bad_password),
        T(test_grant_commands),
        T(test_bad_grant_input),
        T(test_keys_show),
        T(test_db_backup),
        T(test_db_check),
        T(test_audit_list),
        T(test_audit_verify),
        T(test_session_commands),
        T(test_output_is_sanitized),
        T(test_usage_errors),
        T(test_help),
        T(test_global_options_after_verb),
        T(test_health),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
