/*
 * sshgate-loadgen: an SSH load generator for the benchmarks in bench/.
 *
 * It speaks SSH with libssh's client API (no ssh processes) to a server on
 * loopback and has two modes:
 *
 *   hold  open N authenticated connections, each with one direct-tcpip
 *         channel (what `ssh -J` does) or one session channel with a pty
 *         and a shell (`ssh -t`), keep them serviced (keepalive replies,
 *         output read and discarded) and hold them, reporting at given
 *         counts;
 *   rate  for S seconds, C workers loop: connect, key exchange, publickey
 *         authentication, disconnect; report connections per second.
 *
 * Host keys are not checked (loopback benchmarking), no ssh config file,
 * no agent and no ~/.ssh are read: only the key given with --key is used.
 */

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#define MAX_THREADS       256
#define MAX_STEPS         64
#define MAX_ERROR_KINDS   8
#define ERROR_TEXT_LEN    200
#define PROGRESS_INTERVAL 5.0

static const char usage_text[] =
    "usage:\n"
    "  sshgate-loadgen hold --host ADDR --port P --user U --key FILE\n"
    "                  --sessions N [--dest HOST:PORT] [--threads T]\n"
    "                  [--channel direct-tcpip|shell] [--holders H]\n"
    "                  [--report-at N1,N2,...] [--hold-seconds S]\n"
    "                  [--timeout S] [--max-consecutive-failures K]\n"
    "  sshgate-loadgen rate --host ADDR --port P --user U --key FILE\n"
    "                  --seconds S --concurrency C [--json] [--timeout S]\n"
    "\n"
    "hold: open N connections, each holding one direct-tcpip channel to\n"
    "  --dest (without --dest: no channel, authenticated connections only),\n"
    "  or with --channel shell one session channel with a pty (xterm, 80x24)\n"
    "  and a shell, whose output is read and discarded.\n"
    "  T connector threads (default 8) establish them, H holder threads\n"
    "  (default 2) own and service (poll) the established ones.\n"
    "  At each --report-at count and at N it prints\n"
    "    established OK target N failed F alive A dropped D seconds T\n"
    "  (--channel shell: followed by \"received BYTES\", the output read).\n"
    "  and (except at N) waits for a line on stdin before opening more\n"
    "  (EOF: stop). At N it holds until stdin reaches EOF, SIGTERM or\n"
    "  SIGINT. --hold-seconds S: never read stdin; hold S seconds at the\n"
    "  end (0: until a signal).\n"
    "rate: prints\n"
    "    connections K seconds S rate R failures F p50_ms X p90_ms Y "
    "p99_ms Z\n"
    "  (--json: the same as one JSON object).\n";

struct options {
    const char *mode;
    const char *host;
    unsigned int port;
    const char *user;
    const char *key_path;
    long timeout_s;
    /* hold */
    long sessions;
    char *dest_host;
    unsigned int dest_port;
    bool shell; /* --channel shell */
    int threads;
    int holders;
    long steps[MAX_STEPS];
    size_t nsteps;
    double hold_seconds; /* < 0: use stdin */
    long max_consecutive_failures;
    /* rate */
    double seconds;
    int concurrency;
    bool json;
};

/* Failures, grouped by their text. */
struct error_kind {
    char text[ERROR_TEXT_LEN];
    long count;
};

static struct {
    pthread_mutex_t lock;
    struct error_kind kinds[MAX_ERROR_KINDS];
    size_t nkinds;
    long other; /* failures whose text did not fit in the table */
} g_errors = {.lock = PTHREAD_MUTEX_INITIALIZER};

static volatile sig_atomic_t g_signal;
static atomic_int g_stop;

/* hold mode counters */
static atomic_long g_limit;     /* connections that may be attempted */
static atomic_long g_claimed;   /* connections attempted or in progress */
static atomic_long g_ok;        /* established (auth + channel) */
static atomic_long g_failed;    /* attempts that failed */
static atomic_long g_dropped;   /* established, then lost */
static atomic_long g_consec;    /* consecutive failures */
static atomic_int g_giveup;     /* too many consecutive failures */
static atomic_int g_inflight;   /* attempts in progress */
static atomic_llong g_received; /* shell output read and discarded */

static const struct options *g_opts;

static void on_signal(int sig)
{
    g_signal = sig;
}

static bool stopping(void)
{
    return g_signal != 0 || atomic_load(&g_stop) != 0;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts;

    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stopping()) {
    }
}

static void record_error(const char *what, const char *detail)
{
    char text[ERROR_TEXT_LEN];
    size_t i;

    snprintf(text, sizeof(text), "%s: %s", what,
             detail != NULL && detail[0] != '\0' ? detail : "(no detail)");
    /* one line: newlines would break the machine-readable output */
    for (i = 0; text[i] != '\0'; i++) {
        if (text[i] == '\n' || text[i] == '\r') {
            text[i] = ' ';
        }
    }
    pthread_mutex_lock(&g_errors.lock);
    for (i = 0; i < g_errors.nkinds; i++) {
        if (strcmp(g_errors.kinds[i].text, text) == 0) {
            g_errors.kinds[i].count++;
            break;
        }
    }
    if (i == g_errors.nkinds) {
        if (g_errors.nkinds < MAX_ERROR_KINDS) {
            memcpy(g_errors.kinds[i].text, text, sizeof(text));
            g_errors.kinds[i].count = 1;
            g_errors.nkinds++;
        } else {
            g_errors.other++;
        }
    }
    pthread_mutex_unlock(&g_errors.lock);
}

/* Prints one "error COUNT TEXT" line per kind of failure seen so far. */
static void print_errors(FILE *f)
{
    pthread_mutex_lock(&g_errors.lock);
    for (size_t i = 0; i < g_errors.nkinds; i++) {
        fprintf(f, "error %ld %s\n", g_errors.kinds[i].count,
                g_errors.kinds[i].text);
    }
    if (g_errors.other > 0) {
        fprintf(f, "error %ld (other errors)\n", g_errors.other);
    }
    pthread_mutex_unlock(&g_errors.lock);
    fflush(f);
}

static void first_error(char *buf, size_t len)
{
    pthread_mutex_lock(&g_errors.lock);
    snprintf(buf, len, "%s", g_errors.nkinds > 0 ? g_errors.kinds[0].text : "");
    pthread_mutex_unlock(&g_errors.lock);
}

static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            fprintf(stderr, "sshgate-loadgen: cannot raise RLIMIT_NOFILE: %s\n",
                    strerror(errno));
        }
    }
}

static long nofile_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
        rl.rlim_cur > (rlim_t)LONG_MAX) {
        return LONG_MAX;
    }
    return (long)rl.rlim_cur;
}

/* --------------------------------------------------------------------- */
/* one client connection                                                  */
/* --------------------------------------------------------------------- */

/* Connects, exchanges keys and authenticates with key. Returns the
 * session, or NULL after recording why not. */
static ssh_session open_session(const struct options *o, ssh_key key)
{
    ssh_session s = ssh_new();
    bool no = false;
    long timeout = o->timeout_s;
    unsigned int port = o->port;
    int rc;

    if (s == NULL) {
        record_error("ssh_new", "out of memory");
        return NULL;
    }
    if (ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no) != SSH_OK ||
        ssh_options_set(s, SSH_OPTIONS_HOST, o->host) != SSH_OK ||
        ssh_options_set(s, SSH_OPTIONS_PORT, &port) != SSH_OK ||
        ssh_options_set(s, SSH_OPTIONS_USER, o->user) != SSH_OK ||
        ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout) != SSH_OK ||
        ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null") != SSH_OK ||
        ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") !=
            SSH_OK) {
        record_error("options", ssh_get_error(s));
        ssh_free(s);
        return NULL;
    }
    if (ssh_connect(s) != SSH_OK) {
        record_error("connect", ssh_get_error(s));
        ssh_free(s);
        return NULL;
    }
    /* Host key deliberately not checked: loopback benchmarking only. */
    rc = ssh_userauth_publickey(s, NULL, key);
    if (rc != SSH_AUTH_SUCCESS) {
        record_error("auth", rc == SSH_AUTH_DENIED ? "publickey denied"
                                                   : ssh_get_error(s));
        ssh_disconnect(s);
        ssh_free(s);
        return NULL;
    }
    return s;
}

static ssh_key load_key(const char *path)
{
    ssh_key key = NULL;

    if (ssh_pki_import_privkey_file(path, NULL, NULL, NULL, &key) != SSH_OK) {
        return NULL;
    }
    return key;
}

/* --------------------------------------------------------------------- */
/* hold                                                                   */
/* --------------------------------------------------------------------- */

/*
 * Two kinds of threads: connectors establish connections with blocking
 * libssh calls (one at a time each), then hand each one over to a holder.
 * A holder owns the connections handed to it for the rest of their life:
 * they are in its ssh_event, which it keeps polling, so keepalive requests
 * are answered however long a connector is stuck in a slow handshake. A
 * session is used by one thread at a time: the connector until the
 * hand-over (under the holder's mutex), the holder after it.
 */
struct held {
    ssh_session s;
    ssh_channel ch;
};

struct holder {
    pthread_t tid;
    pthread_mutex_t lock;
    struct held *pending; /* handed over, not yet in the event */
    size_t npending, cap_pending;
    ssh_event ev;
    struct held *conns; /* in the event */
    size_t n, cap;
};

static struct holder *g_holders;
static int g_nholders;
static atomic_uint g_next_holder;

/* Takes the next connection index if the current limit allows one. */
static bool claim(void)
{
    long cur = atomic_load(&g_claimed);

    while (cur < atomic_load(&g_limit)) {
        if (atomic_compare_exchange_weak(&g_claimed, &cur, cur + 1)) {
            return true;
        }
    }
    return false;
}

static bool grow(struct held **arr, size_t *cap, size_t n)
{
    if (n < *cap) {
        return true;
    }
    size_t ncap = *cap == 0 ? 256 : *cap * 2;
    struct held *p = realloc(*arr, ncap * sizeof(*p));
    if (p == NULL) {
        return false;
    }
    *arr = p;
    *cap = ncap;
    return true;
}

static void close_held(struct held *h)
{
    /* ssh_disconnect frees every channel of the session */
    h->ch = NULL;
    ssh_disconnect(h->s);
    ssh_free(h->s);
    h->s = NULL;
}

static void count_failure(void)
{
    atomic_fetch_add(&g_failed, 1);
    if (g_opts->max_consecutive_failures > 0 &&
        atomic_fetch_add(&g_consec, 1) + 1 >=
            g_opts->max_consecutive_failures) {
        atomic_store(&g_giveup, 1);
    }
}

/* Shell output: counted and discarded. Consuming it in the callback lets
 * libssh grow the channel window, so the server never stops writing. */
static int discard_data(ssh_session session, ssh_channel channel, void *data,
                        uint32_t len, int is_stderr, void *userdata)
{
    (void)session;
    (void)channel;
    (void)data;
    (void)is_stderr;
    (void)userdata;
    atomic_fetch_add(&g_received, (long long)len);
    return (int)len;
}

/* Shared by every shell channel: libssh keeps only the pointer. */
static struct ssh_channel_callbacks_struct g_discard_cb = {
    .size = sizeof(struct ssh_channel_callbacks_struct),
    .channel_data_function = discard_data,
};

/* Opens a session channel with a pty and a shell on h->s. */
static bool open_shell(struct held *h)
{
    const char *err;

    h->ch = ssh_channel_new(h->s);
    if (h->ch == NULL) {
        record_error("channel", ssh_get_error(h->s));
        return false;
    }
    if (ssh_set_channel_callbacks(h->ch, &g_discard_cb) != SSH_OK) {
        record_error("channel", "cannot set the channel callbacks");
        return false;
    }
    if (ssh_channel_open_session(h->ch) != SSH_OK) {
        err = ssh_get_error(h->s);
        record_error("session",
                     err != NULL && err[0] != '\0' ? err : "open failed");
        return false;
    }
    if (ssh_channel_request_pty_size(h->ch, "xterm", 80, 24) != SSH_OK) {
        err = ssh_get_error(h->s);
        record_error("pty-req",
                     err != NULL && err[0] != '\0' ? err : "refused");
        return false;
    }
    if (ssh_channel_request_shell(h->ch) != SSH_OK) {
        err = ssh_get_error(h->s);
        record_error("shell", err != NULL && err[0] != '\0' ? err : "refused");
        return false;
    }
    return true;
}

/* Connects, authenticates, opens the channel, hands over to a holder. */
static void establish_one(ssh_key key)
{
    const struct options *o = g_opts;
    struct held h = {0};

    h.s = open_session(o, key);
    if (h.s == NULL) {
        count_failure();
        return;
    }
    if (o->shell) {
        if (!open_shell(&h)) {
            goto failed;
        }
    } else if (o->dest_host != NULL) {
        h.ch = ssh_channel_new(h.s);
        if (h.ch == NULL) {
            record_error("channel", ssh_get_error(h.s));
            goto failed;
        }
        if (ssh_channel_open_forward(h.ch, o->dest_host, (int)o->dest_port,
                                     "127.0.0.1", 40000) != SSH_OK) {
            const char *err = ssh_get_error(h.s);
            record_error("direct-tcpip",
                         err != NULL && err[0] != '\0' ? err : "open failed");
            goto failed;
        }
    }
    unsigned int i = atomic_fetch_add(&g_next_holder, 1) % (unsigned)g_nholders;
    struct holder *hd = &g_holders[i];
    pthread_mutex_lock(&hd->lock);
    bool ok = grow(&hd->pending, &hd->cap_pending, hd->npending);
    if (ok) {
        hd->pending[hd->npending++] = h;
    }
    pthread_mutex_unlock(&hd->lock);
    if (!ok) {
        record_error("memory", "out of memory");
        goto failed;
    }
    atomic_store(&g_consec, 0);
    atomic_fetch_add(&g_ok, 1);
    return;

failed:
    close_held(&h);
    count_failure();
}

static void *connector_main(void *arg)
{
    ssh_key key = load_key(g_opts->key_path);

    (void)arg;
    if (key == NULL) {
        record_error("key", "cannot read the private key");
        atomic_store(&g_giveup, 1);
        return NULL;
    }
    while (!stopping()) {
        if (atomic_load(&g_giveup) == 0 && claim()) {
            atomic_fetch_add(&g_inflight, 1);
            establish_one(key);
            atomic_fetch_sub(&g_inflight, 1);
        } else {
            sleep_s(0.02);
        }
    }
    ssh_key_free(key);
    return NULL;
}

/* Moves the connections handed over into the holder's event. */
static void adopt(struct holder *hd)
{
    pthread_mutex_lock(&hd->lock);
    for (size_t i = 0; i < hd->npending; i++) {
        struct held *h = &hd->pending[i];
        if (!grow(&hd->conns, &hd->cap, hd->n) ||
            ssh_event_add_session(hd->ev, h->s) != SSH_OK) {
            record_error("dropped", "cannot add the session to an event");
            close_held(h);
            atomic_fetch_add(&g_dropped, 1);
            continue;
        }
        hd->conns[hd->n++] = *h;
    }
    hd->npending = 0;
    pthread_mutex_unlock(&hd->lock);
}

/* Finds held connections the server closed, records why and frees them. */
static void reap_dead(struct holder *hd)
{
    size_t i = 0;

    while (i < hd->n) {
        struct held *h = &hd->conns[i];
        const char *why = NULL;

        if ((ssh_get_status(h->s) & (SSH_CLOSED | SSH_CLOSED_ERROR)) != 0 ||
            !ssh_is_connected(h->s)) {
            why = ssh_get_error(h->s);
            if (why == NULL || why[0] == '\0') {
                why = "connection closed by server";
            }
        } else if (h->ch != NULL && (ssh_channel_is_closed(h->ch) ||
                                     ssh_channel_is_eof(h->ch))) {
            why = "channel closed by server";
        }
        if (why == NULL) {
            i++;
            continue;
        }
        record_error("dropped", why);
        ssh_event_remove_session(hd->ev, h->s);
        close_held(h);
        hd->conns[i] = hd->conns[--hd->n];
        atomic_fetch_add(&g_dropped, 1);
    }
}

static void *holder_main(void *arg)
{
    struct holder *hd = arg;
    double last_reap = now_s();

    while (!stopping()) {
        adopt(hd);
        if (hd->n > 0) {
            /* answers keepalives; returns early when anything arrives */
            (void)ssh_event_dopoll(hd->ev, 100);
        } else {
            sleep_s(0.05);
        }
        if (now_s() - last_reap >= 1.0) {
            reap_dead(hd);
            last_reap = now_s();
        }
    }
    adopt(hd);
    for (size_t i = 0; i < hd->n; i++) {
        ssh_event_remove_session(hd->ev, hd->conns[i].s);
        close_held(&hd->conns[i]);
    }
    hd->n = 0;
    return NULL;
}

static void print_step(long target, double t0)
{
    long ok = atomic_load(&g_ok);
    long dropped = atomic_load(&g_dropped);

    printf("established %ld target %ld failed %ld alive %ld dropped %ld "
           "seconds %.3f",
           ok, target, atomic_load(&g_failed), ok - dropped, dropped,
           now_s() - t0);
    if (g_opts->shell) {
        printf(" received %lld", atomic_load(&g_received));
    }
    printf("\n");
    print_errors(stdout);
    fflush(stdout);
}

/* Waits for a line on stdin. Returns false on EOF, error or a signal. */
static bool wait_stdin_line(void)
{
    struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
    char c;

    for (;;) {
        if (stopping()) {
            return false;
        }
        int rc = poll(&pfd, 1, 200);
        if (rc < 0 && errno != EINTR) {
            return false;
        }
        if (rc <= 0) {
            continue;
        }
        ssize_t n = read(STDIN_FILENO, &c, 1);
        if (n == 0) {
            return false;
        }
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            return false;
        }
        if (c == '\n') {
            return true;
        }
    }
}

/* Holds for s seconds (0: until a signal). */
static void hold_for(double s)
{
    double end = now_s() + s;

    while (!stopping() && (s <= 0 || now_s() < end)) {
        sleep_s(0.2);
    }
}

static int run_hold(const struct options *o)
{
    pthread_t *connectors;
    double t0 = now_s(), last_progress = t0;
    long need = o->sessions + 64;
    int rc = 0, nconn = 0, nhold = 0;

    if (nofile_limit() < need) {
        fprintf(stderr,
                "sshgate-loadgen: warning: RLIMIT_NOFILE is %ld, %ld sessions "
                "need about %ld\n",
                nofile_limit(), o->sessions, need);
    }
    connectors = calloc((size_t)o->threads, sizeof(*connectors));
    g_holders = calloc((size_t)o->holders, sizeof(*g_holders));
    if (connectors == NULL || g_holders == NULL) {
        fprintf(stderr, "sshgate-loadgen: out of memory\n");
        free(connectors);
        free(g_holders);
        return 1;
    }
    for (int i = 0; i < o->holders; i++) {
        struct holder *hd = &g_holders[i];
        pthread_mutex_init(&hd->lock, NULL);
        hd->ev = ssh_event_new();
        if (hd->ev == NULL ||
            pthread_create(&hd->tid, NULL, holder_main, hd) != 0) {
            fprintf(stderr, "sshgate-loadgen: cannot start holder %d\n", i);
            if (hd->ev != NULL) {
                ssh_event_free(hd->ev);
            }
            pthread_mutex_destroy(&hd->lock);
            rc = 1;
            break;
        }
        nhold++;
    }
    g_nholders = nhold;
    for (int i = 0; rc == 0 && i < o->threads; i++) {
        if (pthread_create(&connectors[i], NULL, connector_main, NULL) != 0) {
            fprintf(stderr, "sshgate-loadgen: cannot start connector %d\n", i);
            rc = 1;
            break;
        }
        nconn++;
    }
    for (size_t step = 0; rc == 0 && step < o->nsteps; step++) {
        long target = o->steps[step];

        atomic_store(&g_limit, target);
        for (;;) {
            if (stopping()) {
                break;
            }
            long done = atomic_load(&g_ok) + atomic_load(&g_failed);
            if (done >= target) {
                break;
            }
            if (atomic_load(&g_giveup) != 0 && atomic_load(&g_inflight) == 0) {
                break;
            }
            sleep_s(0.02);
            if (now_s() - last_progress >= PROGRESS_INTERVAL) {
                last_progress = now_s();
                fprintf(stderr,
                        "sshgate-loadgen: progress ok=%ld failed=%ld "
                        "dropped=%ld target=%ld t=%.1fs\n",
                        atomic_load(&g_ok), atomic_load(&g_failed),
                        atomic_load(&g_dropped), target, last_progress - t0);
            }
        }
        if (stopping()) {
            break;
        }
        print_step(target, t0);
        if (atomic_load(&g_giveup) != 0) {
            printf("gave-up after %ld consecutive failures\n",
                   atomic_load(&g_consec));
            fflush(stdout);
            break;
        }
        if (step + 1 < o->nsteps && o->hold_seconds < 0) {
            if (!wait_stdin_line()) {
                atomic_store(&g_stop, 1);
                break;
            }
        }
    }
    /* hold */
    if (!stopping()) {
        printf("holding\n");
        fflush(stdout);
        if (o->hold_seconds >= 0) {
            hold_for(o->hold_seconds);
        } else {
            while (wait_stdin_line()) {
            }
        }
    }
    atomic_store(&g_stop, 1);
    for (int i = 0; i < nconn; i++) {
        pthread_join(connectors[i], NULL);
    }
    for (int i = 0; i < nhold; i++) {
        struct holder *hd = &g_holders[i];
        pthread_join(hd->tid, NULL);
        ssh_event_free(hd->ev);
        pthread_mutex_destroy(&hd->lock);
        free(hd->conns);
        free(hd->pending);
    }
    free(g_holders);
    g_holders = NULL;
    free(connectors);
    long ok = atomic_load(&g_ok), dropped = atomic_load(&g_dropped);
    printf("closed %ld failed %ld dropped %ld seconds %.3f\n", ok - dropped,
           atomic_load(&g_failed), dropped, now_s() - t0);
    fflush(stdout);
    return rc;
}

/* --------------------------------------------------------------------- */
/* rate                                                                   */
/* --------------------------------------------------------------------- */

struct rate_worker {
    pthread_t tid;
    double deadline;
    long ok, failed;
    double *lat_ms;
    size_t nlat, cap;
    double finished;
};

static void *rate_main(void *arg)
{
    struct rate_worker *w = arg;
    ssh_key key = load_key(g_opts->key_path);

    if (key == NULL) {
        record_error("key", "cannot read the private key");
        w->failed++;
        w->finished = now_s();
        return NULL;
    }
    while (!stopping() && now_s() < w->deadline) {
        double t = now_s();
        ssh_session s = open_session(g_opts, key);

        if (s == NULL) {
            w->failed++;
            sleep_s(0.01); /* do not spin on a refusing server */
            continue;
        }
        ssh_disconnect(s);
        ssh_free(s);
        w->ok++;
        if (w->nlat == w->cap) {
            size_t cap = w->cap == 0 ? 1024 : w->cap * 2;
            double *p = realloc(w->lat_ms, cap * sizeof(*p));
            if (p == NULL) {
                continue;
            }
            w->lat_ms = p;
            w->cap = cap;
        }
        w->lat_ms[w->nlat++] = (now_s() - t) * 1000.0;
    }
    w->finished = now_s();
    ssh_key_free(key);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double percentile(const double *v, size_t n, double p)
{
    if (n == 0) {
        return 0.0;
    }
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            fprintf(f, "\\%c", *p);
        } else if (*p < 0x20 || *p >= 0x7f) {
            fprintf(f, "\\u%04x", (unsigned)*p);
        } else {
            fputc(*p, f);
        }
    }
    fputc('"', f);
}

static int run_rate(const struct options *o)
{
    struct rate_worker *w = calloc((size_t)o->concurrency, sizeof(*w));
    double t0 = now_s(), t_end = t0;
    long ok = 0, failed = 0;
    size_t nlat = 0;
    int started = 0;

    if (w == NULL) {
        fprintf(stderr, "sshgate-loadgen: out of memory\n");
        return 1;
    }
    for (int i = 0; i < o->concurrency; i++) {
        w[i].deadline = t0 + o->seconds;
        if (pthread_create(&w[i].tid, NULL, rate_main, &w[i]) != 0) {
            fprintf(stderr, "sshgate-loadgen: cannot start worker %d\n", i);
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++) {
        pthread_join(w[i].tid, NULL);
        ok += w[i].ok;
        failed += w[i].failed;
        nlat += w[i].nlat;
        if (w[i].finished > t_end) {
            t_end = w[i].finished;
        }
    }
    double *lat = calloc(nlat > 0 ? nlat : 1, sizeof(*lat));
    size_t k = 0;
    for (int i = 0; i < started; i++) {
        if (lat != NULL && w[i].nlat > 0) {
            memcpy(lat + k, w[i].lat_ms, w[i].nlat * sizeof(*lat));
            k += w[i].nlat;
        }
        free(w[i].lat_ms);
    }
    free(w);
    if (lat != NULL) {
        qsort(lat, k, sizeof(*lat), cmp_double);
    } else {
        k = 0;
    }
    double secs = t_end - t0;
    double rate = secs > 0 ? (double)ok / secs : 0.0;
    double p50 = percentile(lat, k, 0.5), p90 = percentile(lat, k, 0.9);
    double p99 = percentile(lat, k, 0.99);
    char err[ERROR_TEXT_LEN];
    first_error(err, sizeof(err));
    if (o->json) {
        printf("{\"connections\": %ld, \"seconds\": %.3f, \"rate\": %.2f, "
               "\"failures\": %ld, \"concurrency\": %d, \"p50_ms\": %.2f, "
               "\"p90_ms\": %.2f, \"p99_ms\": %.2f, \"first_error\": ",
               ok, secs, rate, failed, started, p50, p90, p99);
        json_string(stdout, err);
        printf("}\n");
    } else {
        printf("connections %ld seconds %.3f rate %.2f failures %ld "
               "p50_ms %.2f p90_ms %.2f p99_ms %.2f\n",
               ok, secs, rate, failed, p50, p90, p99);
        print_errors(stdout);
    }
    fflush(stdout);
    free(lat);
    return started == o->concurrency ? 0 : 1;
}

/* --------------------------------------------------------------------- */
/* arguments                                                              */
/* --------------------------------------------------------------------- */

static void die_usage(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void die_usage(const char *fmt, ...)
{
    va_list ap;

    fputs("sshgate-loadgen: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n", stderr);
    fputs(usage_text, stderr);
    exit(2);
}

static long parse_long(const char *opt, const char *s, long min, long max)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        die_usage("%s: '%s' is not a number in %ld..%ld", opt, s, min, max);
    }
    return v;
}

static double parse_double(const char *opt, const char *s, double min,
                           double max)
{
    char *end = NULL;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= min && v <= max)) {
        die_usage("%s: '%s' is not a number in %g..%g", opt, s, min, max);
    }
    return v;
}

static void parse_dest(struct options *o, const char *s)
{
    const char *colon = strrchr(s, ':');
    size_t len;

    if (colon == NULL || colon == s) {
        die_usage("--dest: '%s' is not HOST:PORT", s);
    }
    len = (size_t)(colon - s);
    if (s[0] == '[' && len > 2 && s[len - 1] == ']') {
        s++;
        len -= 2;
    }
    o->dest_host = strndup(s, len);
    if (o->dest_host == NULL) {
        die_usage("out of memory");
    }
    o->dest_port = (unsigned int)parse_long("--dest", colon + 1, 1, 65535);
}

static void parse_steps(struct options *o, const char *s)
{
    char *copy = strdup(s), *save = NULL;

    if (copy == NULL) {
        die_usage("out of memory");
    }
    o->nsteps = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        if (o->nsteps == MAX_STEPS - 1) {
            die_usage("--report-at: at most %d counts", MAX_STEPS - 1);
        }
        o->steps[o->nsteps++] = parse_long("--report-at", tok, 1, 10000000);
    }
    free(copy);
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;

    return (x > y) - (x < y);
}

/* Sorts the report counts, drops those above N and duplicates, adds N. */
static void finish_steps(struct options *o)
{
    size_t k = 0;

    o->steps[o->nsteps++] = o->sessions;
    qsort(o->steps, o->nsteps, sizeof(o->steps[0]), cmp_long);
    for (size_t i = 0; i < o->nsteps; i++) {
        if (o->steps[i] > o->sessions ||
            (k > 0 && o->steps[k - 1] == o->steps[i])) {
            continue;
        }
        o->steps[k++] = o->steps[i];
    }
    o->nsteps = k;
}

static void parse_args(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof(*o));
    o->host = "127.0.0.1";
    o->timeout_s = 30;
    o->threads = 8;
    o->holders = 2;
    o->hold_seconds = -1;
    o->max_consecutive_failures = 200;
    o->concurrency = 8;
    o->seconds = 10;

    if (argc < 2) {
        die_usage("a mode is needed: hold or rate");
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage_text, stdout);
        exit(0);
    }
    o->mode = argv[1];
    if (strcmp(o->mode, "hold") != 0 && strcmp(o->mode, "rate") != 0) {
        die_usage("unknown mode '%s'", o->mode);
    }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--json") == 0) {
            o->json = true;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            exit(0);
        }
        if (v == NULL) {
            die_usage("%s needs a value (or is unknown)", a);
        }
        i++;
        if (strcmp(a, "--host") == 0) {
            o->host = v;
        } else if (strcmp(a, "--port") == 0) {
            o->port = (unsigned int)parse_long(a, v, 1, 65535);
        } else if (strcmp(a, "--user") == 0) {
            o->user = v;
        } else if (strcmp(a, "--key") == 0) {
            o->key_path = v;
        } else if (strcmp(a, "--timeout") == 0) {
            o->timeout_s = parse_long(a, v, 1, 3600);
        } else if (strcmp(a, "--sessions") == 0) {
            o->sessions = parse_long(a, v, 1, 10000000);
        } else if (strcmp(a, "--dest") == 0) {
            parse_dest(o, v);
        } else if (strcmp(a, "--channel") == 0) {
            if (strcmp(v, "shell") == 0) {
                o->shell = true;
            } else if (strcmp(v, "direct-tcpip") == 0) {
                o->shell = false;
            } else {
                die_usage("--channel: '%s' is not direct-tcpip or shell", v);
            }
        } else if (strcmp(a, "--threads") == 0) {
            o->threads = (int)parse_long(a, v, 1, MAX_THREADS);
        } else if (strcmp(a, "--holders") == 0) {
            o->holders = (int)parse_long(a, v, 1, MAX_THREADS);
        } else if (strcmp(a, "--report-at") == 0) {
            parse_steps(o, v);
        } else if (strcmp(a, "--hold-seconds") == 0) {
            o->hold_seconds = parse_double(a, v, 0, 1e7);
        } else if (strcmp(a, "--max-consecutive-failures") == 0) {
            o->max_consecutive_failures = parse_long(a, v, 0, 10000000);
        } else if (strcmp(a, "--seconds") == 0) {
            o->seconds = parse_double(a, v, 0.1, 86400);
        } else if (strcmp(a, "--concurrency") == 0) {
            o->concurrency = (int)parse_long(a, v, 1, MAX_THREADS);
        } else {
            die_usage("unknown option %s", a);
        }
    }
    if (o->port == 0 || o->user == NULL || o->key_path == NULL) {
        die_usage("--port, --user and --key are required");
    }
    if (strcmp(o->mode, "hold") == 0) {
        if (o->sessions == 0) {
            die_usage("hold needs --sessions");
        }
        if (o->shell && o->dest_host != NULL) {
            die_usage("--dest is for --channel direct-tcpip");
        }
        finish_steps(o);
    }
}

int main(int argc, char **argv)
{
    struct options o;
    struct sigaction sa;
    int rc;

    parse_args(argc, argv, &o);
    g_opts = &o;
    setvbuf(stdout, NULL, _IOLBF, 0);
    raise_nofile();

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (ssh_init() != SSH_OK) {
        fprintf(stderr, "sshgate-loadgen: ssh_init failed\n");
        return 1;
    }
    {
        /* fail early on an unreadable key */
        ssh_key key = load_key(o.key_path);
        if (key == NULL) {
            fprintf(stderr, "sshgate-loadgen: cannot read private key %s\n",
                    o.key_path);
            ssh_finalize();
            return 1;
        }
        ssh_key_free(key);
    }
    if (strcmp(o.mode, "hold") == 0) {
        rc = run_hold(&o);
    } else {
        rc = run_rate(&o);
    }
    free(o.dest_host);
    ssh_finalize();
    return rc;
}
