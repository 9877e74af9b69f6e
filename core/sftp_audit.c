/*
 * SFTP v3 audit: a streaming parser for both directions of a relayed sftp
 * channel, request/reply matching by id, and per-file bookkeeping.
 *
 * Each direction is a small state machine over packets: the 4-byte length,
 * then a prefix of the packet (up to PREFIX_MAX bytes, or just the fixed
 * fields before a WRITE/DATA payload), then the payload streamed into the
 * file's SHA-256, then whatever is left skipped unread. Packet handlers are
 * looked up by type in client_ops[] / server_ops[]; replies are dispatched by
 * the kind of request they answer through kinds[].
 *
 * Nothing here trusts the peers: every length is checked against the packet
 * before use, and every table is capped (see sftp_audit.h).
 */
#include "sftp_audit.h"

#include "crypto.h"
#include "err.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* The packet types of SFTP version 3 (draft-ietf-secsh-filexfer-02) that
 * matter for the audit; INIT, the *STAT queries, REALPATH, READLINK and the
 * rest are skipped unread. */
enum {
    FXP_VERSION = 2,
    FXP_OPEN = 3,
    FXP_CLOSE = 4,
    FXP_READ = 5,
    FXP_WRITE = 6,
    FXP_SETSTAT = 9,
    FXP_FSETSTAT = 10,
    FXP_OPENDIR = 11,
    FXP_READDIR = 12,
    FXP_REMOVE = 13,
    FXP_MKDIR = 14,
    FXP_RMDIR = 15,
    FXP_RENAME = 18,
    FXP_SYMLINK = 20,
    FXP_STATUS = 101,
    FXP_HANDLE = 102,
    FXP_DATA = 103,
    FXP_NAME = 104,
    FXP_ATTRS = 105,
    FXP_EXTENDED = 200,
    FXP_EXTENDED_REPLY = 201,
};

enum {
    FX_OK = 0,
    FX_EOF = 1,
};

#define SFTP_VERSION 3

/* Packet bytes buffered per direction: type, id and two maximal paths (a
 * RENAME), with room left for the attributes after them. */
#define PREFIX_MAX (9 * 1024)
_Static_assert(PREFIX_MAX >= 1 + 4 + 2 * (4 + GW_SFTP_PATH_MAX) + 64,
               "the prefix must hold two maximal paths");

/* Fixed fields before a payload: type, id, then the data length (DATA) or
 * the handle length (WRITE). */
#define FIXED_ID_U32 (1 + 4 + 4)

/* Server STATUS messages are recorded up to this many bytes. */
#define MESSAGE_MAX 256

#define ATTR_KNOWN                                                        \
    (GW_SFTP_ATTR_SIZE | GW_SFTP_ATTR_UIDGID | GW_SFTP_ATTR_PERMISSIONS | \
     GW_SFTP_ATTR_ACMODTIME)

/* ---- state ------------------------------------------------------------ */

/* A string field of a packet; points into the prefix buffer. */
struct str {
    const uint8_t *p;
    size_t len; /* bytes available at p */
    bool cut;   /* the string goes on past the buffered prefix */
};

/* Reads fields from the buffered prefix of one packet. */
struct rd {
    const uint8_t *p;
    size_t avail; /* buffered bytes from p on */
    size_t left;  /* packet bytes from p on (>= avail) */
    bool cut;     /* a field ran past the prefix: later ones are unknown */
};

/* Where the payload being streamed goes: one side of an open file. */
struct sink {
    size_t slot;
    uint64_t gen; /* 0: nowhere */
    bool write;
};

enum phase {
    PH_LEN,     /* reading the 4-byte packet length */
    PH_PREFIX,  /* buffering the fields we parse */
    PH_PAYLOAD, /* streaming a WRITE or DATA payload into a sink */
    PH_SKIP,    /* discarding the rest of the packet */
};

struct stream {
    enum gw_sftp_dir dir;
    enum phase phase;
    uint8_t lenbuf[4];
    size_t lenhave;
    uint32_t body_len;  /* packet bytes after the length field */
    uint32_t body_seen; /* of those, consumed so far */
    size_t have;        /* prefix bytes buffered */
    size_t want;        /* prefix bytes needed before parsing */
    uint32_t data_left; /* payload bytes still to stream */
    struct sink sink;
    uint8_t buf[PREFIX_MAX];
};

/* One direction of transfer on an open file. */
struct side {
    uint64_t bytes;   /* acknowledged (write) or received (read) */
    uint64_t next;    /* the offset that keeps the data sequential */
    uint64_t end;     /* highest offset + length */
    uint32_t pending; /* WRITEs awaiting their STATUS */
    /* write: FSETSTATs setting a size that await their STATUS. */
    uint32_t resizing;
    bool used; /* a READ or WRITE was sent */
    bool eof;  /* read: EOF came at next */
    /* write: the file was not known to be empty at OPEN (no TRUNC), so
     * bytes we never saw may lie past next until a truncate to next. */
    bool tail;
    /* NULL once the whole content can no longer be known. */
    struct gw_sha256 *hash;
};

struct file {
    uint8_t handle[GW_SFTP_HANDLE_MAX];
    size_t handle_len;
    uint64_t gen; /* tells a reused slot from the file a request named */
    uint64_t seq; /* the records' file_seq; 0 for a directory */
    bool is_dir;
    char *path;
    bool path_trunc;
    uint32_t pflags;
    struct gw_sftp_attrs attrs;
    uint64_t entries;
    int first_err; /* status of the first failed READ or WRITE, or 0 */
    bool resized;  /* an FSETSTAT set its size: the file was written */
    struct side rd;
    struct side wr;
};

enum req_kind {
    K_NONE = 0, /* an empty slot of the request table */
    K_OPEN,
    K_OPENDIR,
    K_CLOSE,
    K_READ,
    K_WRITE,
    K_READDIR,
    K_PATHOP,
    K_FSETSTAT,
    K_COUNT,
};

/* A request awaiting its reply. */
struct req {
    uint32_t id;
    uint8_t kind;
    uint8_t op;   /* K_PATHOP, K_FSETSTAT: index into pathops[] */
    size_t slot;  /* handle-based requests: the file... */
    uint64_t gen; /* ...and its generation (0: none) */
    uint64_t offset;
    uint32_t len;
    uint32_t pflags;
    char *path;
    char *path2;
    bool path_trunc;
    struct gw_sftp_attrs attrs;
};

struct gw_sftp_audit {
    gw_sftp_record_cb cb;
    void *userdata;
    struct stream streams[2];
    struct file *files[GW_SFTP_MAX_OPEN];
    struct req *reqs; /* open addressing with linear probing */
    size_t reqs_cap;  /* a power of two, or 0 before the first request */
    size_t pending_path_bytes;
    uint64_t next_gen;
    uint64_t files_opened; /* the last file_seq handed out */
    bool stopped;          /* malformed or unsupported: input is ignored */
    bool finished;
    const char *degraded; /* the first reason, or NULL */
    struct gw_sftp_audit_stats stats;
};

struct status_reply {
    int code;
    char msg[MESSAGE_MAX];
};

struct pkt;
typedef int (*pkt_fn)(struct gw_sftp_audit *a, struct pkt *pk);
typedef size_t (*want_fn)(const struct stream *s);

/* How one packet type is parsed (client_ops[], server_ops[]). */
struct pkt_ops {
    const char *name;
    pkt_fn fn;    /* NULL: the packet is skipped unread */
    want_fn want; /* prefix bytes to buffer; NULL: up to PREFIX_MAX */
    uint8_t arg;  /* path operations: index into pathops[] */
};

/* The packet being parsed. */
struct pkt {
    struct rd rd; /* the fields after the type byte */
    struct stream *s;
    const struct pkt_ops *ops;
};

/* ---- small helpers ---------------------------------------------------- */

static void degrade(struct gw_sftp_audit *a, const char *why)
{
    if (a->degraded == NULL) {
        a->degraded = why;
    }
}

static void stop(struct gw_sftp_audit *a, const char *why)
{
    a->stopped = true;
    degrade(a, why);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

/* Offsets come from the peer: never let offset + length wrap. */
static uint64_t add_sat(uint64_t x, uint64_t y)
{
    return x > UINT64_MAX - y ? UINT64_MAX : x + y;
}

static const char *nz(const char *s)
{
    return s != NULL ? s : "";
}

static const char *dir_name(enum gw_sftp_dir dir)
{
    return dir == GW_SFTP_FROM_CLIENT ? "client" : "server";
}

/* ---- reading fields --------------------------------------------------- */

/*
 * Take n bytes. GW_ERR_INVALID when the packet is shorter than that (a
 * malformed stream); GW_AGAIN when the bytes are in the packet but past the
 * buffered prefix, after which every later field is unknown too.
 */
static int rd_take(struct rd *r, size_t n, const uint8_t **out)
{
    if (r->cut) {
        return GW_AGAIN;
    }
    if (n > r->left) {
        return GW_ERR_INVALID;
    }
    if (n > r->avail) {
        r->cut = true;
        return GW_AGAIN;
    }
    *out = r->p;
    r->p += n;
    r->avail -= n;
    r->left -= n;
    return GW_OK;
}

static int rd_u32(struct rd *r, uint32_t *v)
{
    const uint8_t *p = NULL;
    int rc = rd_take(r, 4, &p);

    if (rc == GW_OK) {
        *v = be32(p);
    }
    return rc;
}

static int rd_u64(struct rd *r, uint64_t *v)
{
    const uint8_t *p = NULL;
    int rc = rd_take(r, 8, &p);

    if (rc == GW_OK) {
        *v = (uint64_t)be32(p) << 32 | be32(p + 4);
    }
    return rc;
}

/* A string whose length exceeds the packet is malformed; one that only
 * exceeds the prefix is returned cut. */
static int rd_str(struct rd *r, struct str *s)
{
    uint32_t n = 0;
    int rc = rd_u32(r, &n);

    if (rc != GW_OK) {
        return rc;
    }
    if (n > r->left) {
        return GW_ERR_INVALID;
    }
    s->p = r->p;
    s->cut = n > r->avail;
    s->len = s->cut ? r->avail : n;
    r->p += s->len;
    r->avail -= s->len;
    r->left -= s->len;
    r->cut = s->cut;
    return GW_OK;
}

/* ATTRS: the fixed fields named by flags; extended pairs come last and are
 * not recorded. On failure *at is left empty. */
static int rd_attrs(struct rd *r, struct gw_sftp_attrs *at)
{
    struct gw_sftp_attrs got;
    int rc;

    memset(&got, 0, sizeof(got));
    memset(at, 0, sizeof(*at));
    rc = rd_u32(r, &got.flags);
    if (rc == GW_OK && (got.flags & GW_SFTP_ATTR_SIZE) != 0) {
        rc = rd_u64(r, &got.size);
    }
    if (rc == GW_OK && (got.flags & GW_SFTP_ATTR_UIDGID) != 0) {
        rc = rd_u32(r, &got.uid);
    }
    if (rc == GW_OK && (got.flags & GW_SFTP_ATTR_UIDGID) != 0) {
        rc = rd_u32(r, &got.gid);
    }
    if (rc == GW_OK && (got.flags & GW_SFTP_ATTR_PERMISSIONS) != 0) {
        rc = rd_u32(r, &got.perm);
    }
    if (rc == GW_OK && (got.flags & GW_SFTP_ATTR_ACMODTIME) != 0) {
        rc = rd_u32(r, &got.atime);
    }
    if (rc == GW_OK && (got.flags & GW_SFTP_ATTR_ACMODTIME) != 0) {
        rc = rd_u32(r, &got.mtime);
    }
    if (rc == GW_OK) {
        got.flags &= ATTR_KNOWN;
        *at = got;
    }
    return rc;
}

static bool str_eq(const struct str *s, const char *lit)
{
    size_t n = strlen(lit);

    return !s->cut && s->len == n && memcmp(s->p, lit, n) == 0;
}

/*
 * A path field as a new C string: at most GW_SFTP_PATH_MAX bytes, and only
 * up to an embedded NUL, which is where a C server stops reading it. Sets
 * *trunc when anything was cut. NULL (and the audit degraded) on ENOMEM.
 */
static char *path_dup(struct gw_sftp_audit *a, const struct str *s, bool *trunc)
{
    const uint8_t *nul = memchr(s->p, 0, s->len);
    size_t n = s->len;
    char *out = NULL;

    if (nul != NULL) {
        n = (size_t)(nul - s->p);
        *trunc = true;
    }
    if (n > GW_SFTP_PATH_MAX) {
        n = GW_SFTP_PATH_MAX;
        *trunc = true;
    }
    if (s->cut) {
        *trunc = true;
    }
    out = malloc(n + 1);
    if (out == NULL) {
        degrade(a, "out of memory");
        return NULL;
    }
    memcpy(out, s->p, n);
    out[n] = '\0';
    return out;
}

static char *path_copy(struct gw_sftp_audit *a, const char *path)
{
    char *out = NULL;

    if (path == NULL) {
        return NULL;
    }
    out = strdup(path);
    if (out == NULL) {
        degrade(a, "out of memory");
    }
    return out;
}

/* ---- records ---------------------------------------------------------- */

static const char *const status_names[] = {
    "ok",
    "eof",
    "no such file",
    "permission denied",
    "failure",
    "bad message",
    "no connection",
    "connection lost",
    "operation unsupported",
};

static const char *status_text(int status)
{
    size_t n = sizeof(status_names) / sizeof(status_names[0]);

    if (status == GW_SFTP_STATUS_INCOMPLETE) {
        return "incomplete";
    }
    if (status == GW_SFTP_STATUS_UNTRACKED) {
        return "untracked";
    }
    if (status >= 0 && (size_t)status < n) {
        return status_names[status];
    }
    return "unknown status";
}

static void record_init(struct gw_sftp_record *rec, const char *op)
{
    memset(rec, 0, sizeof(*rec));
    rec->op = op;
    rec->path = "";
    rec->path2 = "";
    rec->sha256 = "";
    rec->status_text = "";
    rec->message = "";
}

static void emit(struct gw_sftp_audit *a, struct gw_sftp_record *rec,
                 int status, const char *msg)
{
    rec->status = status;
    rec->status_text = status_text(status);
    rec->message = nz(msg);
    a->stats.records++;
    if (a->cb != NULL) {
        a->cb(rec, a->userdata);
    }
}

/* ---- open files ------------------------------------------------------- */

static struct file *file_at(struct gw_sftp_audit *a, size_t slot, uint64_t gen)
{
    struct file *f = NULL;

    if (gen != 0 && slot < GW_SFTP_MAX_OPEN) {
        f = a->files[slot];
    }
    if (f != NULL && f->gen != gen) {
        f = NULL;
    }
    return f;
}

static struct file *file_find(struct gw_sftp_audit *a, const struct str *h,
                              size_t *slot)
{
    struct file *f = NULL;

    if (h->cut || h->len > GW_SFTP_HANDLE_MAX) {
        return NULL;
    }
    for (size_t i = 0; i < GW_SFTP_MAX_OPEN; i++) {
        f = a->files[i];
        if (f != NULL && f->handle_len == h->len &&
            memcmp(f->handle, h->p, h->len) == 0) {
            *slot = i;
            return f;
        }
    }
    return NULL;
}

/* The whole content can no longer be known on this side. */
static void side_drop(struct side *sd)
{
    gw_sha256_free(sd->hash);
    sd->hash = NULL;
}

static void side_feed(struct gw_sftp_audit *a, struct side *sd,
                      const uint8_t *p, size_t n)
{
    int rc;

    if (sd->hash == NULL) {
        return;
    }
    rc = gw_sha256_update(sd->hash, p, n);
    if (rc != GW_OK) {
        side_drop(sd);
        degrade(a, "SHA-256 failed");
    }
}

static void side_start_hash(struct gw_sftp_audit *a, struct side *sd)
{
    int rc = gw_sha256_new(&sd->hash);

    if (rc != GW_OK) {
        sd->hash = NULL;
        degrade(a, "SHA-256 unavailable");
    }
}

/* The written data is the file's whole content: it went in order from 0,
 * nothing older lies past it, and every WRITE and size change is answered. */
static bool write_whole(const struct side *sd)
{
    return sd->hash != NULL && !sd->tail && sd->pending == 0 &&
           sd->resizing == 0;
}

/* The side whose whole content passed through us, or NULL. A file that was
 * written (a WRITE, or a size set through its handle) or that starts empty
 * reports its write side, else its read side. */
static struct side *file_whole_side(struct file *f)
{
    if (f->is_dir) {
        return NULL;
    }
    if (f->wr.used || f->resized || (f->wr.hash != NULL && !f->wr.tail)) {
        return write_whole(&f->wr) ? &f->wr : NULL;
    }
    if (f->rd.hash != NULL && f->rd.eof) {
        return &f->rd;
    }
    return NULL;
}

static const char *flags_op(uint32_t pflags)
{
    bool r = (pflags & GW_SFTP_FXF_READ) != 0;
    bool w = (pflags & GW_SFTP_FXF_WRITE) != 0;

    if (r && w) {
        return "read+write";
    }
    if (w) {
        return "write";
    }
    return r ? "read" : "open";
}

static const char *file_op(const struct file *f)
{
    bool fresh = (f->pflags & (GW_SFTP_FXF_CREAT | GW_SFTP_FXF_TRUNC)) != 0;
    /* Setting the size through the handle changes the file like a WRITE. */
    bool written = f->wr.used || f->resized;

    if (f->is_dir) {
        return "list";
    }
    if (f->rd.used && written) {
        return "read+write";
    }
    if (written) {
        return "write";
    }
    if (f->rd.used) {
        return "read";
    }
    /* Creating or truncating a file writes it even with no data. */
    if ((f->pflags & GW_SFTP_FXF_WRITE) != 0 && fresh) {
        return "write";
    }
    return "open";
}

static void file_emit(struct gw_sftp_audit *a, struct file *f, int status,
                      const char *msg)
{
    struct gw_sftp_record rec;
    char hex[GW_SHA256_HEX_LEN] = "";
    struct side *sd = file_whole_side(f);
    int rc;

    record_init(&rec, file_op(f));
    rec.path = nz(f->path);
    rec.path_truncated = f->path_trunc;
    rec.pflags = f->pflags;
    rec.bytes_read = f->rd.bytes;
    rec.bytes_written = f->wr.bytes;
    rec.write_end = f->wr.end;
    rec.entries = f->entries;
    rec.attrs = f->attrs;
    rec.file_seq = f->seq;
    if (sd != NULL) {
        rc = gw_sha256_final_hex(sd->hash, hex);
        rec.whole_file = rc == GW_OK;
        rec.sha256 = rc == GW_OK ? hex : "";
    }
    /* A transfer that failed half-way reports that, not the CLOSE's ok. */
    if (status == FX_OK && f->first_err != 0) {
        status = f->first_err;
        msg = "";
    }
    emit(a, &rec, status, msg);
}

/*
 * A file's first record, when its handle arrives: it is in flight, and if
 * the gateway dies before its CLOSE this row is what stays on record
 * (file_emit's record, with the same file_seq, replaces it). Its op comes
 * from the open flags, like a failed OPEN's; the running hashes are left
 * alone.
 */
static void file_emit_open(struct gw_sftp_audit *a, const struct file *f)
{
    struct gw_sftp_record rec;

    record_init(&rec, flags_op(f->pflags));
    rec.path = nz(f->path);
    rec.path_truncated = f->path_trunc;
    rec.pflags = f->pflags;
    rec.attrs = f->attrs;
    rec.file_seq = f->seq;
    emit(a, &rec, GW_SFTP_STATUS_INCOMPLETE, "");
}

static void file_free(struct gw_sftp_audit *a, size_t slot)
{
    struct file *f = a->files[slot];

    if (f == NULL) {
        return;
    }
    side_drop(&f->rd);
    side_drop(&f->wr);
    free(f->path);
    free(f);
    a->files[slot] = NULL;
    a->stats.open--;
}

static void file_fail(struct file *f, int code)
{
    if (code != FX_OK && f->first_err == 0) {
        f->first_err = code;
    }
}

/* ---- pending requests ------------------------------------------------- */

static size_t req_home(uint32_t id, size_t cap)
{
    uint32_t h = id * 0x9e3779b1u;

    return (size_t)(h ^ (h >> 15)) & (cap - 1);
}

static size_t req_path_bytes(const struct req *rq)
{
    size_t n = 0;

    if (rq->path != NULL) {
        n += strlen(rq->path) + 1;
    }
    if (rq->path2 != NULL) {
        n += strlen(rq->path2) + 1;
    }
    return n;
}

static void req_clear(struct req *rq)
{
    free(rq->path);
    free(rq->path2);
    memset(rq, 0, sizeof(*rq));
}

/* Index of the request with this id, or reqs_cap when there is none. */
static size_t req_index(const struct gw_sftp_audit *a, uint32_t id)
{
    size_t mask = a->reqs_cap - 1;

    if (a->reqs_cap == 0) {
        return 0;
    }
    /* At most half full, so the probe always meets an empty slot. */
    for (size_t i = req_home(id, a->reqs_cap);; i = (i + 1) & mask) {
        if (a->reqs[i].kind == K_NONE) {
            return a->reqs_cap;
        }
        if (a->reqs[i].id == id) {
            return i;
        }
    }
}

static void req_place(struct gw_sftp_audit *a, const struct req *rq)
{
    size_t mask = a->reqs_cap - 1;
    size_t i = req_home(rq->id, a->reqs_cap);

    while (a->reqs[i].kind != K_NONE) {
        i = (i + 1) & mask;
    }
    a->reqs[i] = *rq;
}

static int req_grow(struct gw_sftp_audit *a)
{
    struct req *old = a->reqs;
    size_t oldcap = a->reqs_cap;
    size_t cap = oldcap != 0 ? oldcap * 2 : 16;
    struct req *tab = calloc(cap, sizeof(*tab));

    if (tab == NULL) {
        return GW_ERR_NOMEM;
    }
    a->reqs = tab;
    a->reqs_cap = cap;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].kind != K_NONE) {
            req_place(a, &old[i]);
        }
    }
    free(old);
    return GW_OK;
}

/* Remove slot i (its strings now belong to whoever copied it out), shifting
 * later entries of the probe run back so lookups need no tombstones. */
static void req_delete(struct gw_sftp_audit *a, size_t i)
{
    size_t mask = a->reqs_cap - 1;
    size_t j = i;
    size_t home;

    a->pending_path_bytes -= req_path_bytes(&a->reqs[i]);
    a->stats.pending--;
    for (;;) {
        j = (j + 1) & mask;
        if (a->reqs[j].kind == K_NONE) {
            break;
        }
        home = req_home(a->reqs[j].id, a->reqs_cap);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            a->reqs[i] = a->reqs[j];
            i = j;
        }
    }
    memset(&a->reqs[i], 0, sizeof(a->reqs[i]));
}

/* Move the request with this id into *out. False when there is none. */
static bool req_take(struct gw_sftp_audit *a, uint32_t id, struct req *out)
{
    size_t i = req_index(a, id);

    if (i >= a->reqs_cap) {
        return false;
    }
    *out = a->reqs[i];
    req_delete(a, i);
    return true;
}

/* ---- what each request kind does with its reply ----------------------- */

enum pathop_index {
    PO_REMOVE,
    PO_RENAME,
    PO_MKDIR,
    PO_RMDIR,
    PO_SETSTAT,
    PO_SYMLINK,
    PO_POSIX_RENAME,
    PO_HARDLINK,
    PO_LSETSTAT,
    PO_FSETSTAT,
    PO_COPY,
};

/* Requests that become one record when their STATUS arrives. */
struct pathop {
    const char *op;
    uint8_t npaths; /* path strings that follow the id */
    bool attrs;     /* an ATTRS follows the paths */
    /*
     * The wire order is (target, new link): OpenSSH sends SYMLINK that way,
     * swapped against the draft's (linkpath, targetpath), and every server
     * in use follows OpenSSH; hardlink@openssh.com is (old, new). Records put
     * the link being created in path and what it points to in path2.
     */
    bool swap;
};

static const struct pathop pathops[] = {
    [PO_REMOVE] = {"remove", 1, false, false},
    [PO_RENAME] = {"rename", 2, false, false},
    [PO_MKDIR] = {"mkdir", 1, true, false},
    [PO_RMDIR] = {"rmdir", 1, false, false},
    [PO_SETSTAT] = {"setstat", 1, true, false},
    [PO_SYMLINK] = {"symlink", 2, false, true},
    [PO_POSIX_RENAME] = {"posix-rename", 2, false, false},
    [PO_HARDLINK] = {"hardlink", 2, false, true},
    [PO_LSETSTAT] = {"lsetstat", 1, true, false},
    [PO_FSETSTAT] = {"fsetstat", 0, true, false},
    [PO_COPY] = {"copy", 0, false, false},
};

static void req_emit(struct gw_sftp_audit *a, const struct req *rq,
                     const char *op, int status, const char *msg)
{
    struct gw_sftp_record rec;

    record_init(&rec, op);
    rec.path = nz(rq->path);
    rec.path2 = nz(rq->path2);
    rec.path_truncated = rq->path_trunc;
    rec.pflags = rq->pflags;
    rec.attrs = rq->attrs;
    emit(a, &rec, status, msg);
}

static const char *open_op(const struct req *rq)
{
    return rq->kind == K_OPENDIR ? "list" : flags_op(rq->pflags);
}

static void open_status(struct gw_sftp_audit *a, struct req *rq,
                        const struct status_reply *st)
{
    req_emit(a, rq, open_op(rq), st->code, st->msg);
}

static void open_lost(struct gw_sftp_audit *a, struct req *rq, int status)
{
    req_emit(a, rq, open_op(rq), status, "");
}

static size_t file_free_slot(const struct gw_sftp_audit *a)
{
    size_t i = 0;

    while (i < GW_SFTP_MAX_OPEN && a->files[i] != NULL) {
        i++;
    }
    return i;
}

/* A handle the server hands out again while we think it is open means a
 * CLOSE went unseen: report the old file as incomplete. */
static void file_drop_handle(struct gw_sftp_audit *a, const struct str *h)
{
    size_t slot = 0;
    struct file *f = file_find(a, h, &slot);

    if (f != NULL) {
        degrade(a, "handle reused while open");
        file_emit(a, f, GW_SFTP_STATUS_INCOMPLETE, "");
        file_free(a, slot);
    }
}

static void file_fill(struct gw_sftp_audit *a, struct file *f, struct req *rq,
                      const struct str *h)
{
    uint32_t fl = rq->pflags;
    uint32_t excl = GW_SFTP_FXF_CREAT | GW_SFTP_FXF_EXCL;
    /* Only a file that starts empty can have its content known whole... */
    bool fresh = (fl & GW_SFTP_FXF_TRUNC) != 0 || (fl & excl) == excl;
    /* ...or one truncated to what was written (scp of OpenSSH >= 9.1 opens
     * without TRUNC and truncates at the end). Not with APPEND: the data
     * lands after old content of a length we never see. */
    bool tail = !fresh && (fl & GW_SFTP_FXF_APPEND) == 0;

    memcpy(f->handle, h->p, h->len);
    f->handle_len = h->len;
    f->gen = a->next_gen++;
    f->is_dir = rq->kind == K_OPENDIR;
    /* Directories get no open record: a listing in flight says little. */
    f->seq = f->is_dir ? 0 : ++a->files_opened;
    f->path = rq->path;
    rq->path = NULL; /* transferred */
    f->path_trunc = rq->path_trunc;
    f->pflags = fl;
    f->attrs = rq->attrs;
    if (!f->is_dir && (fl & GW_SFTP_FXF_READ) != 0) {
        side_start_hash(a, &f->rd);
    }
    if (!f->is_dir && (fl & GW_SFTP_FXF_WRITE) != 0 && (fresh || tail)) {
        side_start_hash(a, &f->wr);
        f->wr.tail = tail;
    }
}

static void open_handle(struct gw_sftp_audit *a, struct req *rq,
                        const struct str *h)
{
    struct file *f = NULL;
    size_t slot = 0;
    const char *why = NULL;

    if (h->cut || h->len > GW_SFTP_HANDLE_MAX) {
        why = "handle too long";
        goto out;
    }
    file_drop_handle(a, h);
    slot = file_free_slot(a);
    if (slot == GW_SFTP_MAX_OPEN) {
        why = "too many open handles";
        goto out;
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        why = "out of memory";
        goto out;
    }
    file_fill(a, f, rq, h);
    a->files[slot] = f;
    a->stats.open++;
    if (a->stats.open > a->stats.open_peak) {
        a->stats.open_peak = a->stats.open;
    }
    if (!f->is_dir) {
        file_emit_open(a, f);
    }
out:
    if (why != NULL) {
        degrade(a, why);
        open_lost(a, rq, GW_SFTP_STATUS_UNTRACKED);
    }
}

static void close_done(struct gw_sftp_audit *a, struct req *rq, int status,
                       const char *msg)
{
    struct file *f = file_at(a, rq->slot, rq->gen);

    if (f != NULL) {
        file_emit(a, f, status, msg);
        file_free(a, rq->slot);
    }
}

static void close_status(struct gw_sftp_audit *a, struct req *rq,
                         const struct status_reply *st)
{
    close_done(a, rq, st->code, st->msg);
}

static void close_lost(struct gw_sftp_audit *a, struct req *rq, int status)
{
    close_done(a, rq, status, "");
}

/* EOF right where the sequential data ends means the file was read whole;
 * EOF for requests past that point (OpenSSH pipelines them) changes
 * nothing, and any error leaves a hole. */
static void read_status(struct gw_sftp_audit *a, struct req *rq,
                        const struct status_reply *st)
{
    struct file *f = file_at(a, rq->slot, rq->gen);

    if (f == NULL) {
        return;
    }
    if (st->code == FX_EOF) {
        if (rq->offset == f->rd.next) {
            f->rd.eof = true;
        }
        return;
    }
    side_drop(&f->rd);
    file_fail(f, st->code);
}

static void read_data(struct gw_sftp_audit *a, struct req *rq, struct stream *s,
                      uint32_t dlen)
{
    struct file *f = file_at(a, rq->slot, rq->gen);
    uint64_t end = add_sat(rq->offset, dlen);

    if (f == NULL) {
        return;
    }
    f->rd.bytes = add_sat(f->rd.bytes, dlen);
    if (end > f->rd.end) {
        f->rd.end = end;
    }
    if (f->rd.hash == NULL || rq->offset != f->rd.next) {
        side_drop(&f->rd);
        return;
    }
    s->sink.slot = rq->slot;
    s->sink.gen = rq->gen;
    s->sink.write = false;
    f->rd.next = end;
    f->rd.eof = false;
}

static void read_lost(struct gw_sftp_audit *a, struct req *rq, int status)
{
    struct file *f = file_at(a, rq->slot, rq->gen);

    (void)status;
    if (f != NULL) {
        side_drop(&f->rd);
    }
}

/* Bytes count once the server acknowledged them; a failed WRITE leaves the
 * file content unknown. */
static void write_status(struct gw_sftp_audit *a, struct req *rq,
                         const struct status_reply *st)
{
    struct file *f = file_at(a, rq->slot, rq->gen);
    uint64_t end = add_sat(rq->offset, rq->len);

    if (f == NULL) {
        return;
    }
    if (f->wr.pending > 0) {
        f->wr.pending--;
    }
    if (st->code != FX_OK) {
        side_drop(&f->wr);
        file_fail(f, st->code);
        return;
    }
    f->wr.bytes = add_sat(f->wr.bytes, rq->len);
    if (end > f->wr.end) {
        f->wr.end = end;
    }
}

static void write_lost(struct gw_sftp_audit *a, struct req *rq, int status)
{
    struct file *f = file_at(a, rq->slot, rq->gen);

    (void)status;
    if (f == NULL) {
        return;
    }
    if (f->wr.pending > 0) {
        f->wr.pending--;
    }
    side_drop(&f->wr);
}

static void readdir_status(struct gw_sftp_audit *a, struct req *rq,
                           const struct status_reply *st)
{
    struct file *f = file_at(a, rq->slot, rq->gen);

    if (f != NULL && st->code != FX_EOF) {
        file_fail(f, st->code);
    }
}

static void readdir_name(struct gw_sftp_audit *a, struct req *rq,
                         uint32_t count)
{
    struct file *f = file_at(a, rq->slot, rq->gen);

    if (f != NULL) {
        f->entries = add_sat(f->entries, count);
    }
}

static void pathop_status(struct gw_sftp_audit *a, struct req *rq,
                          const struct status_reply *st)
{
    req_emit(a, rq, pathops[rq->op].op, st->code, st->msg);
}

static void pathop_lost(struct gw_sftp_audit *a, struct req *rq, int status)
{
    req_emit(a, rq, pathops[rq->op].op, status, "");
}

/*
 * An FSETSTAT on an open file was answered (applied: status ok) or never
 * will be; only one that sets the size matters to the content.
 *
 * A size equal to next, sent before the first WRITE (0) or after the last,
 * leaves exactly the data written in order from 0: the writes before it
 * cover [0, next) whichever the server ran first, and it cuts whatever
 * older content lay past next. A WRITE sent while it was unanswered could
 * run before it or after it; such a WRITE moved next (or changed nothing),
 * so comparing with next now also covers that. Any other size cuts or
 * extends the data, even when the status is an error: OpenSSH's
 * sftp-server truncates first and may then fail on the mode or times.
 */
static void resize_done(struct file *f, const struct req *rq, bool applied)
{
    struct side *sd = &f->wr;

    if ((rq->attrs.flags & GW_SFTP_ATTR_SIZE) == 0) {
        return;
    }
    if (sd->resizing > 0) {
        sd->resizing--;
    }
    if (applied) {
        f->resized = true;
    }
    if (rq->attrs.size != sd->next) {
        side_drop(sd);
    } else if (applied) {
        sd->tail = false;
    }
}

static void fsetstat_status(struct gw_sftp_audit *a, struct req *rq,
                            const struct status_reply *st)
{
    struct file *f = file_at(a, rq->slot, rq->gen);

    if (f != NULL) {
        resize_done(f, rq, st->code == FX_OK);
    }
    pathop_status(a, rq, st);
}

static void fsetstat_lost(struct gw_sftp_audit *a, struct req *rq, int status)
{
    struct file *f = file_at(a, rq->slot, rq->gen);

    if (f != NULL) {
        resize_done(f, rq, false);
    }
    pathop_lost(a, rq, status);
}

struct kind_ops {
    void (*on_status)(struct gw_sftp_audit *a, struct req *rq,
                      const struct status_reply *st);
    void (*on_handle)(struct gw_sftp_audit *a, struct req *rq,
                      const struct str *h);
    void (*on_data)(struct gw_sftp_audit *a, struct req *rq, struct stream *s,
                    uint32_t dlen);
    void (*on_name)(struct gw_sftp_audit *a, struct req *rq, uint32_t count);
    /* No reply will come: the stream ended (GW_SFTP_STATUS_INCOMPLETE) or
     * the request was over a cap (GW_SFTP_STATUS_UNTRACKED). */
    void (*on_lost)(struct gw_sftp_audit *a, struct req *rq, int status);
};

/* A reply type whose member is NULL is unexpected for that kind. */
static const struct kind_ops kinds[K_COUNT] = {
    [K_OPEN] = {open_status, open_handle, NULL, NULL, open_lost},
    [K_OPENDIR] = {open_status, open_handle, NULL, NULL, open_lost},
    [K_CLOSE] = {close_status, NULL, NULL, NULL, close_lost},
    [K_READ] = {read_status, NULL, read_data, NULL, read_lost},
    [K_WRITE] = {write_status, NULL, NULL, NULL, write_lost},
    [K_READDIR] = {readdir_status, NULL, NULL, readdir_name, NULL},
    [K_PATHOP] = {pathop_status, NULL, NULL, NULL, pathop_lost},
    [K_FSETSTAT] = {fsetstat_status, NULL, NULL, NULL, fsetstat_lost},
};

static void req_lost(struct gw_sftp_audit *a, struct req *rq, int status)
{
    if (rq->kind < K_COUNT && kinds[rq->kind].on_lost != NULL) {
        kinds[rq->kind].on_lost(a, rq, status);
    }
}

static void reply_unexpected(struct gw_sftp_audit *a, struct req *rq)
{
    degrade(a, "reply of an unexpected type");
    req_lost(a, rq, GW_SFTP_STATUS_INCOMPLETE);
}

/*
 * Follow rq: GW_OK, and its strings now belong to the table. GW_ERR_DENIED
 * over a cap, GW_ERR_NOMEM; rq is then still the caller's. Either way the
 * audit is degraded on failure.
 */
static int req_add(struct gw_sftp_audit *a, struct req *rq)
{
    size_t bytes = req_path_bytes(rq);
    size_t i = req_index(a, rq->id);
    struct req old;
    int rc = GW_OK;

    if (i < a->reqs_cap) {
        /* Ids are the client's to pick; reusing a pending one is not done
         * by any real client, so the old request's outcome is unknown. */
        old = a->reqs[i];
        req_delete(a, i);
        degrade(a, "request id reused");
        req_lost(a, &old, GW_SFTP_STATUS_INCOMPLETE);
        req_clear(&old);
    }
    if (a->stats.pending >= GW_SFTP_MAX_PENDING) {
        degrade(a, "too many outstanding requests");
        return GW_ERR_DENIED;
    }
    if (bytes > GW_SFTP_MAX_PENDING_PATH_BYTES - a->pending_path_bytes) {
        degrade(a, "too many path bytes awaiting replies");
        return GW_ERR_DENIED;
    }
    if ((a->stats.pending + 1) * 2 > a->reqs_cap) {
        rc = req_grow(a);
        if (rc != GW_OK) {
            degrade(a, "out of memory");
            return rc;
        }
    }
    req_place(a, rq);
    a->pending_path_bytes += bytes;
    a->stats.pending++;
    if (a->stats.pending > a->stats.pending_peak) {
        a->stats.pending_peak = a->stats.pending;
    }
    return GW_OK;
}

/* Follow rq, or when it cannot be followed record it right away as
 * untracked: a row without an outcome beats no row. */
static void req_submit(struct gw_sftp_audit *a, struct req *rq)
{
    int rc = req_add(a, rq);

    if (rc == GW_OK) {
        rq->path = NULL; /* transferred */
        rq->path2 = NULL;
        return;
    }
    req_lost(a, rq, GW_SFTP_STATUS_UNTRACKED);
}

static void req_init(struct req *rq, enum req_kind kind)
{
    memset(rq, 0, sizeof(*rq));
    rq->kind = (uint8_t)kind;
}

/* ---- client requests -------------------------------------------------- */

/* A handle field; *f is the open file it names, or NULL. */
static int rd_file(struct gw_sftp_audit *a, struct rd *r, struct file **f,
                   size_t *slot)
{
    struct str h;
    int rc = rd_str(r, &h);

    *f = NULL;
    if (rc == GW_OK) {
        *f = file_find(a, &h, slot);
    }
    return rc;
}

static int rd_id_file(struct gw_sftp_audit *a, struct pkt *pk, struct req *rq,
                      struct file **f)
{
    int rc = rd_u32(&pk->rd, &rq->id);

    if (rc == GW_OK) {
        rc = rd_file(a, &pk->rd, f, &rq->slot);
    }
    if (rc == GW_OK && *f != NULL) {
        rq->gen = (*f)->gen;
    }
    return rc;
}

static int on_open(struct gw_sftp_audit *a, struct pkt *pk)
{
    struct req rq;
    struct str name;
    int rc;

    req_init(&rq, K_OPEN);
    rc = rd_u32(&pk->rd, &rq.id);
    if (rc != GW_OK) {
        goto out;
    }
    rc = rd_str(&pk->rd, &name);
    if (rc != GW_OK) {
        goto out;
    }
    rq.path = path_dup(a, &name, &rq.path_trunc);
    rc = rd_u32(&pk->rd, &rq.pflags);
    if (rc == GW_OK) {
        rc = rd_attrs(&pk->rd, &rq.attrs);
    }
    if (rc == GW_ERR_INVALID) {
        goto out;
    }
    /* Flags past the prefix (after a huge path) stay 0: no hash. */
    rc = GW_OK;
    req_submit(a, &rq);
out:
    req_clear(&rq);
    return rc;
}

static int on_opendir(struct gw_sftp_audit *a, struct pkt *pk)
{
    struct req rq;
    struct str name;
    int rc;

    req_init(&rq, K_OPENDIR);
    rc = rd_u32(&pk->rd, &rq.id);
    if (rc == GW_OK) {
        rc = rd_str(&pk->rd, &name);
    }
    if (rc == GW_OK) {
        rq.path = path_dup(a, &name, &rq.path_trunc);
        req_submit(a, &rq);
    }
    req_clear(&rq);
    return rc;
}

static int on_close(struct gw_sftp_audit *a, struct pkt *pk)
{
    struct req rq;
    struct file *f = NULL;
    int rc;

    req_init(&rq, K_CLOSE);
    rc = rd_id_file(a, pk, &rq, &f);
    if (rc == GW_OK && f != NULL) {
        req_submit(a, &rq);
    }
    req_clear(&rq);
    return rc;
}

static int on_read(struct gw_sftp_audit *a, struct pkt *pk)
{
    struct req rq;
    struct file *f = NULL;
    int rc;

    req_init(&rq, K_READ);
    rc = rd_id_file(a, pk, &rq, &f);
    if (rc == GW_OK) {
        rc = rd_u64(&pk->rd, &rq.offset);
    }
    if (rc == GW_OK) {
        rc = rd_u32(&pk->rd, &rq.len);
    }
    if (rc == GW_OK && f != NULL) {
        f->rd.used = true;
        req_submit(a, &rq);
    }
    req_clear(&rq);
    return rc;
}

/* Decide where this WRITE's payload goes and follow the request. The data
 * is hashed as it is sent; the ack decides whether it counts. */
static void write_begin(struct gw_sftp_audit *a, struct stream *s,
                        struct file *f, struct req *rq)
{
    struct side *sd = &f->wr;

    sd->used = true;
    /* With APPEND the server ignores the offset: data lands in order. */
    if ((f->pflags & GW_SFTP_FXF_APPEND) != 0) {
        rq->offset = sd->next;
    }
    if (sd->hash != NULL && rq->offset == sd->next) {
        s->sink.slot = rq->slot;
        s->sink.gen = rq->gen;
        s->sink.write = true;
    } else {
        side_drop(sd);
    }
    sd->next = add_sat(rq->offset, rq->len);
    sd->pending++;
    req_submit(a, rq);
}

static int on_write(struct gw_sftp_audit *a, struct pkt *pk)
{
    struct req rq;
    struct file *f = NULL;
    int rc;

    req_init(&rq, K_WRITE);
    rc = rd_id_file(a, pk, &rq, &f);
    if (rc == GW_OK) {
        rc = rd_u64(&pk->rd, &rq.offset);
    }
    if (rc == GW_OK) {
        rc = rd_u32(&pk->rd, &rq.len);
    }
    if (rc != GW_OK) {
        goto out;
    }
    if (rq.len > pk->rd.left) {
        rc = GW_ERR_INVALID;
        goto out;
    }
    pk->s->data_left = rq.len;
    if (f != NULL) {
        write_begin(a, pk->s, f, &rq);
    }
out:
    req_clear(&rq);
    return rc;
}

static int on_fsetstat(struct gw_sftp_audit *a, struct pkt *pk)
{
    struct req rq;
    struct file *f = NULL;
    int rc;

    req_init(&rq, K_FSETSTAT);
    rq.op = PO_FSETSTAT;
    rc = rd_id_file(a, pk, &rq, &f);
    if (rc != GW_OK) {
        goto out;
    }
    rc = rd_attrs(&pk->rd, &rq.attrs);
    if (rc == GW_ERR_INVALID) {
        goto out;
    }
    if (f != NULL && rc != GW_OK) {
        /* Attributes past the prefix may set a size we cannot see. */
        side_drop(&f->wr);
    }
    rc = GW_OK;
    if (f != NULL) {
        rq.path = path_copy(a, f->path);
        rq.path_trunc = f->path_trunc;
        if ((rq.attrs.flags & GW_SFTP_ATTR_SIZE) != 0) {
            f->wr.resizing++; /* undone by resize_done, even if untracked */
        }
    }
    req_submit(a, &rq);
out:
    req_clear(&rq);
    return rc;
}

static int on_readdir(struct gw_sftp_audit *a, struct pkt *pk)
{
    struct req rq;
    struct file *f = NULL;
    int rc;

    req_init(&rq, K_READDIR);
    rc = rd_id_file(a, pk, &rq, &f);
    if (rc == GW_OK && f != NULL && f->is_dir) {
        req_submit(a, &rq);
    }
    req_clear(&rq);
    return rc;
}

/* The paths (and attributes) of a path operation, after the id. */
static int rd_pathop(struct gw_sftp_audit *a, struct rd *r, uint8_t op,
                     struct req *rq)
{
    const struct pathop *po = &pathops[op];
    struct str s;
    char *tmp = NULL;
    int rc;

    rq->op = op;
    rc = rd_str(r, &s);
    if (rc != GW_OK) {
        return rc;
    }
    rq->path = path_dup(a, &s, &rq->path_trunc);
    if (po->npaths == 2) {
        rc = rd_str(r, &s);
    }
    if (rc == GW_OK && po->npaths == 2) {
        rq->path2 = path_dup(a, &s, &rq->path_trunc);
    }
    if (rc == GW_OK && po->attrs) {
        rc = rd_attrs(r, &rq->attrs);
    }
    if (po->swap) {
        tmp = rq->path;
        rq->path = rq->path2;
        rq->path2 = tmp;
    }
    /* Past the prefix only because a path filled it: already flagged. */
    return rc == GW_AGAIN ? GW_OK : rc;
}

static int on_pathop(struct gw_sftp_audit *a, struct pkt *pk)
{
    struct req rq;
    int rc;

    req_init(&rq, K_PATHOP);
    rc = rd_u32(&pk->rd, &rq.id);
    if (rc == GW_OK) {
        rc = rd_pathop(a, &pk->rd, pk->ops->arg, &rq);
    }
    if (rc == GW_OK) {
        req_submit(a, &rq);
    }
    req_clear(&rq);
    return rc;
}

static int ext_pathop(struct gw_sftp_audit *a, struct pkt *pk, struct req *rq,
                      uint8_t op)
{
    int rc = rd_pathop(a, &pk->rd, op, rq);

    if (rc == GW_OK) {
        req_submit(a, rq);
    }
    return rc;
}

/* copy-data: (read handle, offset, length, write handle, offset). The
 * server copies data we never see, so the destination has no hash. */
static int ext_copy_data(struct gw_sftp_audit *a, struct pkt *pk,
                         struct req *rq, uint8_t op)
{
    struct file *src = NULL;
    struct file *dst = NULL;
    size_t slot = 0;
    uint64_t skip = 0;
    int rc;

    rq->kind = K_PATHOP;
    rq->op = op;
    rc = rd_file(a, &pk->rd, &src, &slot);
    if (rc == GW_OK) {
        rc = rd_u64(&pk->rd, &skip); /* read offset */
    }
    if (rc == GW_OK) {
        rc = rd_u64(&pk->rd, &skip); /* read length */
    }
    if (rc == GW_OK) {
        rc = rd_file(a, &pk->rd, &dst, &slot);
    }
    if (rc != GW_OK) {
        return rc;
    }
    if (src != NULL) {
        rq->path = path_copy(a, src->path);
        rq->path_trunc = src->path_trunc;
    }
    if (dst != NULL) {
        rq->path2 = path_copy(a, dst->path);
        rq->path_trunc = rq->path_trunc || dst->path_trunc;
        dst->wr.used = true;
        side_drop(&dst->wr);
    }
    req_submit(a, rq);
    return GW_OK;
}

struct ext_op {
    const char *name;
    int (*fn)(struct gw_sftp_audit *a, struct pkt *pk, struct req *rq,
              uint8_t op);
    uint8_t op;
};

/* Extensions that change files; the others (statvfs, fsync, limits,
 * expand-path, home-directory, ...) are queries and are not recorded. */
static const struct ext_op ext_ops[] = {
    {"posix-rename@openssh.com", ext_pathop, PO_POSIX_RENAME},
    {"hardlink@openssh.com", ext_pathop, PO_HARDLINK},
    {"lsetstat@openssh.com", ext_pathop, PO_LSETSTAT},
    {"copy-data", ext_copy_data, PO_COPY},
};

static int on_extended(struct gw_sftp_audit *a, struct pkt *pk)
{
    size_t n = sizeof(ext_ops) / sizeof(ext_ops[0]);
    struct req rq;
    struct str name;
    int rc;

    req_init(&rq, K_PATHOP);
    rc = rd_u32(&pk->rd, &rq.id);
    if (rc == GW_OK) {
        rc = rd_str(&pk->rd, &name);
    }
    for (size_t i = 0; rc == GW_OK && i < n; i++) {
        if (str_eq(&name, ext_ops[i].name)) {
            rc = ext_ops[i].fn(a, pk, &rq, ext_ops[i].op);
            break;
        }
    }
    req_clear(&rq);
    return rc;
}

/* ---- server replies --------------------------------------------------- */

static int on_version(struct gw_sftp_audit *a, struct pkt *pk)
{
    uint32_t version = 0;
    int rc = rd_u32(&pk->rd, &version);

    /* Versions 4 to 6 change OPEN, ATTRS and more: reading them as 3
     * would produce wrong records. */
    if (rc == GW_OK && version != SFTP_VERSION) {
        stop(a, "SFTP protocol version is not 3");
    }
    return rc;
}

static void message_copy(const struct str *s, char out[MESSAGE_MAX])
{
    size_t n = s->len < MESSAGE_MAX - 1 ? s->len : MESSAGE_MAX - 1;
    const uint8_t *nul = memchr(s->p, 0, n);

    if (nul != NULL) {
        n = (size_t)(nul - s->p);
    }
    memcpy(out, s->p, n);
    out[n] = '\0';
}

static int rd_status(struct rd *r, uint32_t *id, struct status_reply *st)
{
    uint32_t code = 0;
    struct str msg;
    bool has_msg = false;
    int rc = rd_u32(r, id);

    memset(st, 0, sizeof(*st));
    if (rc == GW_OK) {
        rc = rd_u32(r, &code);
    }
    /* Servers older than version 3 end the packet after the code. */
    if (rc == GW_OK && r->left > 0) {
        rc = rd_str(r, &msg);
        has_msg = rc == GW_OK;
    }
    if (has_msg) {
        message_copy(&msg, st->msg);
    }
    st->code = code > INT_MAX ? INT_MAX : (int)code;
    return rc;
}

static int on_status(struct gw_sftp_audit *a, struct pkt *pk)
{
    struct status_reply st;
    struct req rq;
    uint32_t id = 0;
    int rc = rd_status(&pk->rd, &id, &st);

    req_init(&rq, K_NONE);
    if (rc != GW_OK || !req_take(a, id, &rq)) {
        goto out;
    }
    if (kinds[rq.kind].on_status == NULL) {
        reply_unexpected(a, &rq);
        goto out;
    }
    kinds[rq.kind].on_status(a, &rq, &st);
out:
    req_clear(&rq);
    return rc;
}

static int on_handle(struct gw_sftp_audit *a, struct pkt *pk)
{
    struct req rq;
    struct str h;
    uint32_t id = 0;
    int rc = rd_u32(&pk->rd, &id);

    req_init(&rq, K_NONE);
    if (rc == GW_OK) {
        rc = rd_str(&pk->rd, &h);
    }
    if (rc != GW_OK || !req_take(a, id, &rq)) {
        goto out;
    }
    if (kinds[rq.kind].on_handle == NULL) {
        reply_unexpected(a, &rq);
        goto out;
    }
    kinds[rq.kind].on_handle(a, &rq, &h);
out:
    req_clear(&rq);
    return rc;
}

static int on_data(struct gw_sftp_audit *a, struct pkt *pk)
{
    struct req rq;
    uint32_t id = 0;
    uint32_t dlen = 0;
    int rc = rd_u32(&pk->rd, &id);

    req_init(&rq, K_NONE);
    if (rc == GW_OK) {
        rc = rd_u32(&pk->rd, &dlen);
    }
    if (rc == GW_OK && dlen > pk->rd.left) {
        rc = GW_ERR_INVALID;
    }
    if (rc != GW_OK) {
        goto out;
    }
    pk->s->data_left = dlen;
    if (!req_take(a, id, &rq)) {
        goto out;
    }
    if (kinds[rq.kind].on_data == NULL) {
        reply_unexpected(a, &rq);
        goto out;
    }
    kinds[rq.kind].on_data(a, &rq, pk->s, dlen);
out:
    req_clear(&rq);
    return rc;
}

static int on_name(struct gw_sftp_audit *a, struct pkt *pk)
{
    struct req rq;
    uint32_t id = 0;
    uint32_t count = 0;
    int rc = rd_u32(&pk->rd, &id);

    req_init(&rq, K_NONE);
    if (rc == GW_OK) {
        rc = rd_u32(&pk->rd, &count);
    }
    if (rc != GW_OK || !req_take(a, id, &rq)) {
        goto out;
    }
    if (kinds[rq.kind].on_name == NULL) {
        reply_unexpected(a, &rq);
        goto out;
    }
    kinds[rq.kind].on_name(a, &rq, count);
out:
    req_clear(&rq);
    return rc;
}

/* ATTRS and EXTENDED_REPLY answer queries we do not follow. */
static int on_other_reply(struct gw_sftp_audit *a, struct pkt *pk)
{
    struct req rq;
    uint32_t id = 0;
    int rc = rd_u32(&pk->rd, &id);

    req_init(&rq, K_NONE);
    if (rc == GW_OK && req_take(a, id, &rq)) {
        reply_unexpected(a, &rq);
    }
    req_clear(&rq);
    return rc;
}

/* ---- packet tables ---------------------------------------------------- */

/* WRITE: type, id, handle length; then the handle, offset and data length.
 * The payload itself is streamed, never buffered. */
static size_t want_write(const struct stream *s)
{
    uint32_t hlen = 0;

    if (s->have < FIXED_ID_U32) {
        return FIXED_ID_U32;
    }
    hlen = be32(s->buf + 5);
    if (hlen > GW_SFTP_HANDLE_MAX) {
        return s->have; /* not a handle we follow: parse no further */
    }
    return FIXED_ID_U32 + hlen + 8 + 4;
}

/* DATA (id, data length) and NAME (id, count): the rest is payload. */
static size_t want_id_u32(const struct stream *s)
{
    (void)s;
    return FIXED_ID_U32;
}

static size_t want_id(const struct stream *s)
{
    (void)s;
    return 1 + 4;
}

static const struct pkt_ops client_ops[256] = {
    [FXP_OPEN] = {"open", on_open, NULL, 0},
    [FXP_CLOSE] = {"close", on_close, NULL, 0},
    [FXP_READ] = {"read", on_read, NULL, 0},
    [FXP_WRITE] = {"write", on_write, want_write, 0},
    [FXP_SETSTAT] = {"setstat", on_pathop, NULL, PO_SETSTAT},
    [FXP_FSETSTAT] = {"fsetstat", on_fsetstat, NULL, 0},
    [FXP_OPENDIR] = {"opendir", on_opendir, NULL, 0},
    [FXP_READDIR] = {"readdir", on_readdir, NULL, 0},
    [FXP_REMOVE] = {"remove", on_pathop, NULL, PO_REMOVE},
    [FXP_MKDIR] = {"mkdir", on_pathop, NULL, PO_MKDIR},
    [FXP_RMDIR] = {"rmdir", on_pathop, NULL, PO_RMDIR},
    [FXP_RENAME] = {"rename", on_pathop, NULL, PO_RENAME},
    [FXP_SYMLINK] = {"symlink", on_pathop, NULL, PO_SYMLINK},
    [FXP_EXTENDED] = {"extended", on_extended, NULL, 0},
};

static const struct pkt_ops server_ops[256] = {
    [FXP_VERSION] = {"version", on_version, NULL, 0},
    [FXP_STATUS] = {"status", on_status, NULL, 0},
    [FXP_HANDLE] = {"handle", on_handle, NULL, 0},
    [FXP_DATA] = {"data", on_data, want_id_u32, 0},
    [FXP_NAME] = {"name", on_name, want_id_u32, 0},
    [FXP_ATTRS] = {"attrs", on_other_reply, want_id, 0},
    [FXP_EXTENDED_REPLY] = {"extended reply", on_other_reply, want_id, 0},
};

static const struct pkt_ops *stream_ops(const struct stream *s)
{
    const struct pkt_ops *table =
        s->dir == GW_SFTP_FROM_CLIENT ? client_ops : server_ops;

    return &table[s->buf[0]];
}

/* ---- the per-direction state machine ---------------------------------- */

static void packet_begin(struct stream *s)
{
    s->phase = PH_PREFIX;
    s->have = 0;
    s->want = 1; /* the type byte decides the rest */
    s->body_seen = 0;
    s->data_left = 0;
    memset(&s->sink, 0, sizeof(s->sink));
}

/* After the payload (or the prefix): skip what is left, or end. */
static void packet_rest(struct stream *s)
{
    s->phase = s->body_seen < s->body_len ? PH_SKIP : PH_LEN;
}

/* How many prefix bytes to buffer, given the ones buffered so far. */
static size_t prefix_target(const struct stream *s)
{
    const struct pkt_ops *ops = stream_ops(s);
    size_t full = s->body_len < PREFIX_MAX ? s->body_len : PREFIX_MAX;
    size_t want = full;

    if (ops->fn == NULL) {
        want = s->have;
    } else if (ops->want != NULL) {
        want = ops->want(s);
    }
    if (want > full) {
        want = full; /* a field past the end: the parser will say so */
    }
    return want > s->have ? want : s->have;
}

static int packet_dispatch(struct gw_sftp_audit *a, struct stream *s)
{
    const struct pkt_ops *ops = stream_ops(s);
    struct pkt pk;
    int rc = GW_OK;

    a->stats.packets[s->dir]++;
    if (s->have > a->stats.prefix_peak) {
        a->stats.prefix_peak = s->have;
    }
    s->body_seen = (uint32_t)s->have;
    if (ops->fn != NULL) {
        pk.rd.p = s->buf + 1;
        pk.rd.avail = s->have - 1;
        pk.rd.left = s->body_len - 1u;
        pk.rd.cut = false;
        pk.s = s;
        pk.ops = ops;
        rc = ops->fn(a, &pk);
    }
    if (rc == GW_ERR_INVALID) {
        return gw_err_set(GW_ERR_INVALID, "sftp %s: malformed %s packet",
                          dir_name(s->dir), ops->name);
    }
    /* GW_AGAIN: fields past the prefix, whose packet is skipped. */
    if (s->data_left > s->body_len - s->body_seen) {
        s->data_left = 0;
    }
    s->phase = PH_PAYLOAD;
    if (s->data_left == 0) {
        packet_rest(s);
    }
    return GW_OK;
}

typedef int (*phase_fn)(struct gw_sftp_audit *a, struct stream *s,
                        const uint8_t *p, size_t len, size_t *used);

static int phase_len(struct gw_sftp_audit *a, struct stream *s,
                     const uint8_t *p, size_t len, size_t *used)
{
    size_t n = 4 - s->lenhave;

    (void)a;
    n = n < len ? n : len;
    memcpy(s->lenbuf + s->lenhave, p, n);
    s->lenhave += n;
    *used = n;
    if (s->lenhave < 4) {
        return GW_OK;
    }
    s->lenhave = 0;
    s->body_len = be32(s->lenbuf);
    if (s->body_len == 0 || s->body_len > GW_SFTP_PACKET_MAX) {
        return gw_err_set(GW_ERR_INVALID,
                          "sftp %s: packet length %u out of range",
                          dir_name(s->dir), s->body_len);
    }
    packet_begin(s);
    return GW_OK;
}

static int phase_prefix(struct gw_sftp_audit *a, struct stream *s,
                        const uint8_t *p, size_t len, size_t *used)
{
    size_t n = s->want - s->have;
    size_t target;

    n = n < len ? n : len;
    memcpy(s->buf + s->have, p, n);
    s->have += n;
    *used = n;
    if (s->have < s->want) {
        return GW_OK;
    }
    target = prefix_target(s);
    if (target > s->have) {
        s->want = target;
        return GW_OK;
    }
    return packet_dispatch(a, s);
}

static int phase_payload(struct gw_sftp_audit *a, struct stream *s,
                         const uint8_t *p, size_t len, size_t *used)
{
    size_t n = len < s->data_left ? len : s->data_left;
    struct file *f = file_at(a, s->sink.slot, s->sink.gen);

    if (f != NULL) {
        side_feed(a, s->sink.write ? &f->wr : &f->rd, p, n);
    }
    s->data_left -= (uint32_t)n;
    s->body_seen += (uint32_t)n;
    *used = n;
    if (s->data_left == 0) {
        packet_rest(s);
    }
    return GW_OK;
}

static int phase_skip(struct gw_sftp_audit *a, struct stream *s,
                      const uint8_t *p, size_t len, size_t *used)
{
    size_t rest = s->body_len - s->body_seen;
    size_t n = len < rest ? len : rest;

    (void)a;
    (void)p;
    s->body_seen += (uint32_t)n;
    *used = n;
    if (s->body_seen == s->body_len) {
        s->phase = PH_LEN;
    }
    return GW_OK;
}

static const phase_fn phases[] = {
    [PH_LEN] = phase_len,
    [PH_PREFIX] = phase_prefix,
    [PH_PAYLOAD] = phase_payload,
    [PH_SKIP] = phase_skip,
};

static bool stream_mid_packet(const struct stream *s)
{
    return s->phase != PH_LEN || s->lenhave > 0;
}

/* ---- public API ------------------------------------------------------- */

int gw_sftp_audit_new(gw_sftp_record_cb cb, void *userdata,
                      struct gw_sftp_audit **out)
{
    struct gw_sftp_audit *a = calloc(1, sizeof(*a));

    if (a == NULL) {
        return gw_err_set(GW_ERR_NOMEM, "sftp audit: out of memory");
    }
    a->cb = cb;
    a->userdata = userdata;
    a->streams[GW_SFTP_FROM_CLIENT].dir = GW_SFTP_FROM_CLIENT;
    a->streams[GW_SFTP_FROM_SERVER].dir = GW_SFTP_FROM_SERVER;
    a->next_gen = 1;
    *out = a;
    return GW_OK;
}

int gw_sftp_audit_feed(struct gw_sftp_audit *a, enum gw_sftp_dir dir,
                       const void *data, size_t len)
{
    const uint8_t *p = data;
    struct stream *s = NULL;
    size_t used = 0;
    int rc = GW_OK;

    if (a == NULL ||
        (dir != GW_SFTP_FROM_CLIENT && dir != GW_SFTP_FROM_SERVER) ||
        (p == NULL && len > 0)) {
        return gw_err_set(GW_ERR_INVALID, "sftp audit: bad arguments");
    }
    if (a->finished) {
        return gw_err_set(GW_ERR_INVALID, "sftp audit: feed after finish");
    }
    a->stats.bytes[dir] += len;
    s = &a->streams[dir];
    while (len > 0 && !a->stopped) {
        rc = phases[s->phase](a, s, p, len, &used);
        if (rc != GW_OK) {
            stop(a, "malformed SFTP stream");
            break;
        }
        p += used;
        len -= used;
    }
    return rc;
}

/* The pending request with the lowest id, or reqs_cap when none is. */
static size_t req_oldest(const struct gw_sftp_audit *a)
{
    size_t best = a->reqs_cap;

    for (size_t i = 0; i < a->reqs_cap; i++) {
        if (a->reqs[i].kind != K_NONE &&
            (best == a->reqs_cap || a->reqs[i].id < a->reqs[best].id)) {
            best = i;
        }
    }
    return best;
}

static void flush_requests(struct gw_sftp_audit *a)
{
    struct req rq;
    size_t i = req_oldest(a);

    while (i < a->reqs_cap) {
        rq = a->reqs[i];
        req_delete(a, i);
        req_lost(a, &rq, GW_SFTP_STATUS_INCOMPLETE);
        req_clear(&rq);
        i = req_oldest(a);
    }
}

int gw_sftp_audit_finish(struct gw_sftp_audit *a)
{
    int rc = GW_OK;

    if (a == NULL || a->finished) {
        return GW_OK;
    }
    a->finished = true;
    if (!a->stopped && (stream_mid_packet(&a->streams[GW_SFTP_FROM_CLIENT]) ||
                        stream_mid_packet(&a->streams[GW_SFTP_FROM_SERVER]))) {
        degrade(a, "stream ended inside a packet");
        rc = gw_err_set(GW_ERR_INVALID,
                        "sftp audit: stream ended inside a packet");
    }
    flush_requests(a);
    for (size_t i = 0; i < GW_SFTP_MAX_OPEN; i++) {
        if (a->files[i] != NULL) {
            file_emit(a, a->files[i], GW_SFTP_STATUS_INCOMPLETE, "");
            file_free(a, i);
        }
    }
    return rc;
}

bool gw_sftp_audit_degraded(const struct gw_sftp_audit *a)
{
    return a != NULL && a->degraded != NULL;
}

const char *gw_sftp_audit_degraded_reason(const struct gw_sftp_audit *a)
{
    return a != NULL ? a->degraded : NULL;
}

void gw_sftp_audit_stats(const struct gw_sftp_audit *a,
                         struct gw_sftp_audit_stats *st)
{
    if (a == NULL) {
        memset(st, 0, sizeof(*st));
        return;
    }
    *st = a->stats;
}

void gw_sftp_audit_free(struct gw_sftp_audit *a)
{
    if (a == NULL) {
        return;
    }
    for (size_t i = 0; i < a->reqs_cap; i++) {
        req_clear(&a->reqs[i]);
    }
    free(a->reqs);
    for (size_t i = 0; i < GW_SFTP_MAX_OPEN; i++) {
        file_free(a, i);
    }
    free(a);
}
