/*
 * SFTP audit: turns the two byte streams of a relayed "sftp" subsystem
 * channel (protocol version 3, draft-ietf-secsh-filexfer-02, as spoken by
 * OpenSSH's sftp-server and by scp in OpenSSH 9) into file-level audit
 * records: one row per file transfer or file-system operation, with path,
 * operation, sizes and, when the whole file passed through the gateway, its
 * SHA-256. A file's row is reported twice, under one file_seq: when it is
 * opened (incomplete) and when it is closed (its final state).
 *
 * The caller feeds every chunk it relays, in the order it relays it, tagged
 * with its direction; chunk boundaries do not matter. Only a small fixed
 * prefix of each packet is buffered: WRITE and DATA payloads are streamed
 * straight into SHA-256, and the number of requests, open handles and path
 * bytes followed is capped, so memory stays bounded whatever the peers send.
 * When a cap is hit or the stream is not valid SFTP, the audit says so
 * (gw_sftp_audit_degraded) rather than growing or guessing.
 * docs/sftp-audit.md describes the records for operators.
 *
 * No libssh, no SQLite: pure parsing plus core/crypto.h. One object per
 * channel, used by one thread at a time.
 */
#ifndef SSHGATE_CORE_SFTP_AUDIT_H
#define SSHGATE_CORE_SFTP_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest path recorded; longer ones are cut and flagged path_truncated. */
#define GW_SFTP_PATH_MAX 4096
/* Longest handle followed (the draft's limit; OpenSSH's are 4 bytes). */
#define GW_SFTP_HANDLE_MAX 256
/* Longest packet accepted: OpenSSH's 256 KiB plus slack for other servers.
 * A longer length field means the stream is not SFTP (or is hostile). */
#define GW_SFTP_PACKET_MAX (256 * 1024 + 8 * 1024)
/* Requests awaiting a reply that are followed at once. */
#define GW_SFTP_MAX_PENDING 1024
/* Open file and directory handles followed at once. */
#define GW_SFTP_MAX_OPEN 256
/* Bytes of path kept for requests awaiting a reply. */
#define GW_SFTP_MAX_PENDING_PATH_BYTES (1024 * 1024)

/* Record status values besides the SFTP codes (0 ok, 1 eof, 2 no such
 * file, 3 permission denied, 4 failure, ...). */
#define GW_SFTP_STATUS_INCOMPLETE (-1) /* no reply before the stream ended */
#define GW_SFTP_STATUS_UNTRACKED  (-2) /* over a cap: outcome not followed */

/* OPEN flags (SSH_FXF_*), as found in gw_sftp_record.pflags. */
#define GW_SFTP_FXF_READ   0x01u
#define GW_SFTP_FXF_WRITE  0x02u
#define GW_SFTP_FXF_APPEND 0x04u
#define GW_SFTP_FXF_CREAT  0x08u
#define GW_SFTP_FXF_TRUNC  0x10u
#define GW_SFTP_FXF_EXCL   0x20u

/* Attribute flags (SSH_FILEXFER_ATTR_*), as in gw_sftp_attrs.flags. */
#define GW_SFTP_ATTR_SIZE        0x01u
#define GW_SFTP_ATTR_UIDGID      0x02u
#define GW_SFTP_ATTR_PERMISSIONS 0x04u
#define GW_SFTP_ATTR_ACMODTIME   0x08u

enum gw_sftp_dir {
    GW_SFTP_FROM_CLIENT = 0, /* client -> server: requests */
    GW_SFTP_FROM_SERVER = 1, /* server -> client: replies */
};

/* Attributes the client sent with OPEN, MKDIR and the *SETSTAT requests.
 * Only the fields named in flags are meaningful. */
struct gw_sftp_attrs {
    uint32_t flags;
    uint64_t size;
    uint32_t uid;
    uint32_t gid;
    uint32_t perm;
    uint32_t atime;
    uint32_t mtime;
};

/*
 * One audit row. Every string is non-NULL, NUL-terminated and valid only
 * during the callback. Paths are the raw bytes the client sent (up to an
 * embedded NUL): not necessarily UTF-8, possibly with control characters,
 * so escape them before display.
 *
 * op is one of: "read", "write", "read+write", "open" (a file opened and
 * closed with nothing transferred), "list" (a directory handle), "remove",
 * "rename", "posix-rename", "mkdir", "rmdir", "setstat", "fsetstat",
 * "lsetstat", "symlink", "hardlink", "copy".
 */
struct gw_sftp_record {
    const char *op;
    const char *path;       /* the file; for symlink/hardlink the new link */
    const char *path2;      /* rename/copy: destination; links: target; or "" */
    bool path_truncated;    /* a path was cut (too long or embedded NUL) */
    uint32_t pflags;        /* file records: the OPEN flags (GW_SFTP_FXF_*) */
    uint64_t bytes_read;    /* file payload the server sent (DATA replies) */
    uint64_t bytes_written; /* payload of WRITEs the server acknowledged */
    uint64_t write_end;     /* highest offset + length acknowledged */
    uint64_t entries;       /* "list": names returned by READDIR */
    const char *sha256;     /* 64 lowercase hex digits, or "" */
    bool whole_file;        /* sha256 covers the whole file content */
    int status;             /* SFTP status code or GW_SFTP_STATUS_* */
    const char *status_text;    /* "ok", "no such file", "incomplete", ... */
    const char *message;        /* the server's STATUS message, or "" */
    struct gw_sftp_attrs attrs; /* mkdir, *setstat, file records */
    /*
     * Files the server handed a handle for (an OPEN, not an OPENDIR) are
     * numbered 1, 2, ... per channel; every other record has 0. A file
     * gets two records with its number: the open record, as soon as the
     * handle arrives (status GW_SFTP_STATUS_INCOMPLETE, no bytes, no hash),
     * so that a file in flight is on record even if the gateway dies
     * before it is closed; and its final record (at its CLOSE, at finish,
     * or when the server hands its handle out again), which replaces it.
     */
    uint64_t file_seq;
};

/* Called once per record, from inside feed or finish. It must not keep
 * pointers into rec, and must not call back into the same audit object. */
typedef void (*gw_sftp_record_cb)(const struct gw_sftp_record *rec,
                                  void *userdata);

/* Counters, for logs and for tests of the memory bounds. */
struct gw_sftp_audit_stats {
    uint64_t bytes[2];   /* fed, by enum gw_sftp_dir */
    uint64_t packets[2]; /* packets whose prefix was parsed */
    uint64_t records;    /* records emitted */
    size_t pending;      /* requests followed now */
    size_t pending_peak;
    size_t open; /* handles followed now */
    size_t open_peak;
    size_t prefix_peak; /* most bytes of one packet ever buffered */
};

struct gw_sftp_audit;

/*
 * Create an audit for one channel. cb may be NULL (records are dropped).
 * *out is owned by the caller: free it with gw_sftp_audit_free.
 * GW_OK or GW_ERR_NOMEM.
 */
int gw_sftp_audit_new(gw_sftp_record_cb cb, void *userdata,
                      struct gw_sftp_audit **out);

/*
 * Feed len bytes relayed in direction dir; records completed by them are
 * passed to the callback before this returns. The data is not kept.
 * GW_OK; GW_ERR_INVALID with a detail message (gw_err_msg) the first time
 * the stream turns out malformed, after which the audit is degraded and
 * feeding is a no-op returning GW_OK; GW_ERR_INVALID for bad arguments or
 * a feed after gw_sftp_audit_finish.
 */
int gw_sftp_audit_feed(struct gw_sftp_audit *a, enum gw_sftp_dir dir,
                       const void *data, size_t len);

/*
 * The channel is closed: emit a record, with status
 * GW_SFTP_STATUS_INCOMPLETE, for every request still awaiting its reply
 * (oldest id first) and every file still open. Call it once; later calls
 * do nothing. GW_OK, or GW_ERR_INVALID when a stream ended inside a packet
 * (the audit is then degraded too).
 */
int gw_sftp_audit_finish(struct gw_sftp_audit *a);

/* True once something could not be followed exactly: a cap was hit, the
 * stream was malformed or cut, or the protocol version is not 3. */
bool gw_sftp_audit_degraded(const struct gw_sftp_audit *a);

/* Static text of the first reason the audit became degraded, or NULL. */
const char *gw_sftp_audit_degraded_reason(const struct gw_sftp_audit *a);

/* Copy the counters into *st. */
void gw_sftp_audit_stats(const struct gw_sftp_audit *a,
                         struct gw_sftp_audit_stats *st);

/* Free everything (NULL is fine). Emits nothing: call finish first. */
void gw_sftp_audit_free(struct gw_sftp_audit *a);

#endif
