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

static void on_record(const struct gw_sftp_record *r, void *userdata)
{
    size_t hexlen = strlen(r->sha256);

    (void)userdata;
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
    bool failed = false;
    size_t pos = 0;
    int rc;

    if (gw_sftp_audit_new(on_record, NULL, &a) != GW_OK) {
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
    gw_sftp_audit_free(a);
    return 0;
}
