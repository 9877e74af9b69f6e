/*
 * libFuzzer target for core/sftp_audit: the input is a sequence of chunks,
 * each a 2-byte big-endian header (top bit: direction, low 15 bits: length)
 * followed by that many bytes, fed to one audit object in order. Besides
 * ASan/UBSan, it checks the promises the header makes about records and
 * memory bounds, and traps when one is broken.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/sftp_audit.h"
#include "core/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok) {
        __builtin_trap();
    }
}

/* The files of one input by file_seq - 1: whether their final record came. */
struct files {
    bool *closed;
    size_t n;
    size_t cap;
};

/* A file's first record (the open record) is numbered next, is in flight
 * and has nothing counted; a later one with its number comes once. */
static void check_file_seq(const struct gw_sftp_record *r, struct files *fs)
{
    if (r->file_seq == 0) {
        return;
    }
    check(strcmp(r->op, "list") != 0); /* directories have no number */
    check(r->file_seq <= fs->n + 1);
    if (r->file_seq <= fs->n) {
        check(!fs->closed[r->file_seq - 1]);
        fs->closed[r->file_seq - 1] = true;
        return;
    }
    check(r->status == GW_SFTP_STATUS_INCOMPLETE);
    check(strcmp(r->status_text, "incomplete") == 0);
    check(r->bytes_read == 0 && r->bytes_written == 0 && r->write_end == 0);
    check(r->entries == 0 && r->sha256[0] == '\0' && r->path2[0] == '\0');
    if (fs->n == fs->cap) {
        size_t cap = fs->cap != 0 ? fs->cap * 2 : 64;
        bool *grown = realloc(fs->closed, cap * sizeof(*grown));
        check(grown != NULL);
        fs->closed = grown;
        fs->cap = cap;
    }
    fs->closed[fs->n++] = false;
}

static void on_record(const struct gw_sftp_record *r, void *userdata)
{
    size_t hexlen = strlen(r->sha256);

    check_file_seq(r, userdata);
    check(r->op != NULL && r->path != NULL && r->path2 != NULL);
    check(r->status_text != NULL && r->message != NULL);
    check(strlen(r->path) <= GW_SFTP_PATH_MAX);
    check(strlen(r->path2) <= GW_SFTP_PATH_MAX);
    check(hexlen == 0 || hexlen == 64);
    check(r->whole_file == (hexlen == 64));
    /* A written file is whole only when its data went in order from 0 and
     * every WRITE was acknowledged, whatever the truncates around it: what
     * was acknowledged then ends where the data ends. */
    if (r->whole_file &&
        (strcmp(r->op, "write") == 0 || strcmp(r->op, "read+write") == 0)) {
        check(r->bytes_written == r->write_end);
    }
}

static void check_bounds(const struct gw_sftp_audit *a)
{
    struct gw_sftp_audit_stats st;

    gw_sftp_audit_stats(a, &st);
    check(st.pending <= GW_SFTP_MAX_PENDING);
    check(st.open <= GW_SFTP_MAX_OPEN);
    check(st.prefix_peak <= 9 * 1024);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gw_sftp_audit *a = NULL;
    struct files fs = {NULL, 0, 0};
    bool failed = false;
    size_t pos = 0;
    int rc;

    if (gw_sftp_audit_new(on_record, &fs, &a) != GW_OK) {
        return 0;
    }
    while (size - pos >= 2) {
        enum gw_sftp_dir dir =
            (data[pos] & 0x80) != 0 ? GW_SFTP_FROM_SERVER : GW_SFTP_FROM_CLIENT;
        size_t len = (size_t)(data[pos] & 0x7f) << 8 | data[pos + 1];
        pos += 2;
        len = len < size - pos ? len : size - pos;
        rc = gw_sftp_audit_feed(a, dir, data + pos, len);
        /* GW_ERR_INVALID at most once, then a degraded no-op. */
        check(rc == GW_OK || (rc == GW_ERR_INVALID && !failed));
        failed = failed || rc != GW_OK;
        check(!failed || gw_sftp_audit_degraded(a));
        check_bounds(a);
        pos += len;
    }
    rc = gw_sftp_audit_finish(a);
    check(rc == GW_OK || rc == GW_ERR_INVALID);
    check_bounds(a);
    /* Every file put on record as open has had its final record. */
    for (size_t i = 0; i < fs.n; i++) {
        check(fs.closed[i]);
    }
    gw_sftp_audit_free(a);
    free(fs.closed);
    return 0;
}
