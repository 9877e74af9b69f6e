#include "gateway/daemon/metrics.h"

#include "backend/client.h"
#include "core/err.h"
#include "core/log.h"

#include <stdatomic.h>
#include <string.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The label values each family knows; the last is where anything else
 * goes. */
static const char *const refusal_reasons[] = {
    "blocked_clients",
    "allowed_clients",
    "max_connections",
    "audit_failure",
    "source_locked",
    "source_penalty",
    "max_unauth_connections",
    "max_unauth_per_source",
    "max_startups",
    "source_table_full",
    "no_worker",
    "proxy_trusted",
    "proxy_protocol",
    "other",
};

static const char *const auth_methods[] = {
    "publickey", "password", "keyboard-interactive", "none", "other",
};

/* gateway/conn/auth.c's and lockout.c's reason= texts. */
static const char *const auth_reasons[] = {
    "method not allowed",
    "login name changed",
    "source address locked",
    "user disabled",
    "user locked",
    "password locked",
    "unknown user",
    "invalid login name",
    "no password set",
    "wrong password",
    "key not registered",
    "bad signature",
    "unexpected response",
    "no answer",
    "audit store unavailable",
    "login grace time exceeded",
    "other",
};

static const char *const session_kinds[] = {
    "shell",        "exec",          "sftp",  "subsystem",
    "direct-tcpip", "tcpip-forward", "agent", "other",
};

#define N_REFUSAL NELEM(refusal_reasons)
#define N_METHOD  NELEM(auth_methods)
#define N_REASON  NELEM(auth_reasons)
#define N_KIND    NELEM(session_kinds)
/* enum gw_backend_failure: GW_BACKEND_OK .. the last */
#define N_BACKEND_FAILURE GW_BACKEND_FAILURE_COUNT

/* Backend connect latency buckets, upper bounds in milliseconds (each
 * step of a connect may take backend_connect_timeout, at most 5 min). */
static const int64_t connect_buckets_ms[] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
};
#define N_BUCKET (NELEM(connect_buckets_ms) + 1) /* + Inf */

typedef _Atomic uint64_t counter;

static struct {
    counter plain[GW_M_COUNT];
    counter refused[N_REFUSAL];
    _Atomic int64_t conns_unauth;
    _Atomic int64_t conns_authed;
    counter closed[GW_END_COUNT];
    counter auth_ok[N_METHOD];
    counter auth_failed[N_METHOD][N_REASON];
    counter sessions_started[N_KIND];
    _Atomic int64_t sessions_open[N_KIND];
    counter connect_bucket[N_BUCKET]; /* per bucket, not cumulative */
    counter connect_sum_us;
    counter connect_failed[N_BACKEND_FAILURE];
    atomic_bool listener_up;
} metrics;

/* Relaxed: each value is a count on its own, nothing is published
 * through it. */
static void bump(counter *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static void gauge_add(_Atomic int64_t *g, int64_t n)
{
    atomic_fetch_add_explicit(g, n, memory_order_relaxed);
}

static uint64_t get(counter *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static int64_t gauge_get(_Atomic int64_t *g)
{
    return atomic_load_explicit(g, memory_order_relaxed);
}

/* The index of value in names (n entries, the last "other"). A value
 * the table lacks is a reason added elsewhere and not here: said once in
 * the log, so that whoever added it adds it here too. */
static size_t label_index(const char *const *names, size_t n, const char *value)
{
    static atomic_flag told = ATOMIC_FLAG_INIT;

    for (size_t i = 0; value != NULL && i + 1 < n; i++) {
        if (strcmp(names[i], value) == 0) {
            return i;
        }
    }
    if (value != NULL && !atomic_flag_test_and_set(&told)) {
        gw_log_warn("metrics: '%s' is not a known label value; counted as "
                    "\"other\" (gateway/daemon/metrics.c)",
                    value);
    }
    return n - 1;
}

void gw_metrics_add(enum gw_metric m, uint64_t n)
{
    if ((unsigned)m < GW_M_COUNT) {
        bump(&metrics.plain[m], n);
    }
}

void gw_metrics_refused(const char *reason)
{
    bump(&metrics.refused[label_index(refusal_reasons, N_REFUSAL, reason)], 1);
}

void gw_metrics_conn_open(void)
{
    bump(&metrics.plain[GW_M_CONN_ACCEPTED], 1);
    gauge_add(&metrics.conns_unauth, 1);
}

void gw_metrics_conn_authenticated(void)
{
    gauge_add(&metrics.conns_unauth, -1);
    gauge_add(&metrics.conns_authed, 1);
}

void gw_metrics_conn_closed(bool authenticated, enum gw_ending why)
{
    size_t i = (size_t)why < GW_END_COUNT ? (size_t)why : GW_END_NONE;

    gauge_add(authenticated ? &metrics.conns_authed : &metrics.conns_unauth,
              -1);
    bump(&metrics.closed[i], 1);
}

void gw_metrics_auth(const char *method, const char *reason)
{
    size_t m = label_index(auth_methods, N_METHOD, method);

    if (reason == NULL) {
        bump(&metrics.auth_ok[m], 1);
        return;
    }
    bump(&metrics.auth_failed[m][label_index(auth_reasons, N_REASON, reason)],
         1);
}

void gw_metrics_session_start(const char *kind)
{
    size_t k = label_index(session_kinds, N_KIND, kind);

    bump(&metrics.sessions_started[k], 1);
    gauge_add(&metrics.sessions_open[k], 1);
}

void gw_metrics_session_end(const char *kind)
{
    gauge_add(&metrics.sessions_open[label_index(session_kinds, N_KIND, kind)],
              -1);
}

void gw_metrics_backend_connect(int64_t elapsed_ms, unsigned failure)
{
    size_t b = 0;

    if (elapsed_ms < 0) {
        elapsed_ms = 0;
    }
    while (b < N_BUCKET - 1 && elapsed_ms > connect_buckets_ms[b]) {
        b++;
    }
    bump(&metrics.connect_bucket[b], 1);
    bump(&metrics.connect_sum_us, (uint64_t)elapsed_ms * 1000);
    if (failure > 0 && failure < N_BACKEND_FAILURE) {
        bump(&metrics.connect_failed[failure], 1);
    }
}

void gw_metrics_set_listener_up(bool up)
{
    atomic_store(&metrics.listener_up, up);
}

bool gw_metrics_listener_up(void)
{
    return atomic_load(&metrics.listener_up);
}

/* Only while no other thread counts (a unit test's set-up). */
void gw_metrics_reset(void)
{
    memset(&metrics, 0, sizeof(metrics));
}

/* ---- the text format -------------------------------------------------- */

void gw_metrics_label_value(FILE *out, const char *value)
{
    for (const char *p = value; *p != '\0'; p++) {
        if (*p == '\\' || *p == '"') {
            fputc('\\', out);
            fputc(*p, out);
        } else if (*p == '\n') {
            fputs("\\n", out);
        } else {
            fputc(*p, out);
        }
    }
}

static void family(FILE *out, const char *name, const char *type,
                   const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(FILE *out, const char *name, uint64_t value)
{
    fprintf(out, "%s %llu\n", name, (unsigned long long)value);
}

/* name{label="value"} n */
static void sample1(FILE *out, const char *name, const char *label,
                    const char *value, int64_t n)
{
    fprintf(out, "%s{%s=\"", name, label);
    gw_metrics_label_value(out, value);
    fprintf(out, "\"} %lld\n", (long long)n);
}

static void one_counter(FILE *out, const char *name, const char *help,
                        enum gw_metric m)
{
    family(out, name, "counter", help);
    sample(out, name, get(&metrics.plain[m]));
}

static void render_connections(FILE *out)
{
    one_counter(out, "sshgate_connections_accepted_total",
                "Connections admitted and handed to a worker thread.",
                GW_M_CONN_ACCEPTED);
    family(out, "sshgate_connections_open", "gauge",
           "Connections open now, by whether they have authenticated.");
    sample1(out, "sshgate_connections_open", "state", "unauthenticated",
            gauge_get(&metrics.conns_unauth));
    sample1(out, "sshgate_connections_open", "state", "authenticated",
            gauge_get(&metrics.conns_authed));
    family(out, "sshgate_connections_closed_total", "counter",
           "Connections ended, by why.");
    for (size_t i = 0; i < GW_END_COUNT; i++) {
        sample1(out, "sshgate_connections_closed_total", "reason",
                gw_ending_label((enum gw_ending)i),
                (int64_t)get(&metrics.closed[i]));
    }
    family(out, "sshgate_connections_refused_total", "counter",
           "Connections the listener refused before a thread, by the "
           "setting that refused them.");
    for (size_t i = 0; i < N_REFUSAL; i++) {
        sample1(out, "sshgate_connections_refused_total", "reason",
                refusal_reasons[i], (int64_t)get(&metrics.refused[i]));
    }
}

static void render_auth(FILE *out)
{
    family(out, "sshgate_auth_success_total", "counter",
           "Successful authentications, by method.");
    for (size_t m = 0; m + 1 < N_METHOD; m++) {
        sample1(out, "sshgate_auth_success_total", "method", auth_methods[m],
                (int64_t)get(&metrics.auth_ok[m]));
    }
    /* Two labels: only the pairs that happened. */
    family(out, "sshgate_auth_failures_total", "counter",
           "Failed authentication attempts, by method and reason.");
    for (size_t m = 0; m < N_METHOD; m++) {
        for (size_t r = 0; r < N_REASON; r++) {
            uint64_t n = get(&metrics.auth_failed[m][r]);
            if (n == 0) {
                continue;
            }
            fputs("sshgate_auth_failures_total{method=\"", out);
            gw_metrics_label_value(out, auth_methods[m]);
            fputs("\",reason=\"", out);
            gw_metrics_label_value(out, auth_reasons[r]);
            fprintf(out, "\"} %llu\n", (unsigned long long)n);
        }
    }
}

static void render_sessions(FILE *out)
{
    family(out, "sshgate_sessions_started_total", "counter",
           "Relayed channels started, by kind.");
    for (size_t k = 0; k < N_KIND; k++) {
        sample1(out, "sshgate_sessions_started_total", "kind", session_kinds[k],
                (int64_t)get(&metrics.sessions_started[k]));
    }
    family(out, "sshgate_sessions_open", "gauge",
           "Relayed channels open now, by kind.");
    for (size_t k = 0; k < N_KIND; k++) {
        sample1(out, "sshgate_sessions_open", "kind", session_kinds[k],
                gauge_get(&metrics.sessions_open[k]));
    }
    family(out, "sshgate_relay_bytes_total", "counter",
           "Bytes relayed: up from clients towards backends, down back.");
    sample1(out, "sshgate_relay_bytes_total", "direction", "up",
            (int64_t)get(&metrics.plain[GW_M_BYTES_UP]));
    sample1(out, "sshgate_relay_bytes_total", "direction", "down",
            (int64_t)get(&metrics.plain[GW_M_BYTES_DOWN]));
}

static void render_backend(FILE *out)
{
    const char *h = "sshgate_backend_connect_seconds";
    uint64_t cumulative = 0;

    family(out, h, "histogram",
           "Time to reach a backend: TCP connect, SSH handshake, host key "
           "check and authentication, successful or not.");
    for (size_t b = 0; b < N_BUCKET; b++) {
        cumulative += get(&metrics.connect_bucket[b]);
        if (b + 1 < N_BUCKET) {
            fprintf(out, "%s_bucket{le=\"%g\"} %llu\n", h,
                    (double)connect_buckets_ms[b] / 1000.0,
                    (unsigned long long)cumulative);
        } else {
            fprintf(out, "%s_bucket{le=\"+Inf\"} %llu\n", h,
                    (unsigned long long)cumulative);
        }
    }
    fprintf(out, "%s_sum %.6f\n%s_count %llu\n", h,
            (double)get(&metrics.connect_sum_us) / 1e6, h,
            (unsigned long long)cumulative);
    family(out, "sshgate_backend_connect_failures_total", "counter",
           "Backend connects that failed, by what failed.");
    for (unsigned f = 1; f < N_BACKEND_FAILURE; f++) {
        sample1(out, "sshgate_backend_connect_failures_total", "reason",
                gw_backend_failure_name((enum gw_backend_failure)f),
                (int64_t)get(&metrics.connect_failed[f]));
    }
}

static void render_audit(FILE *out, const struct gw_metrics_gauges *g)
{
    family(out, "sshgate_audit_queue_bytes", "gauge",
           "Audit records waiting in memory for the writer, in bytes.");
    sample(out, "sshgate_audit_queue_bytes", g->audit_queue_bytes);
    family(out, "sshgate_audit_spool_bytes", "gauge",
           "Audit records waiting in the spool file, in bytes.");
    sample(out, "sshgate_audit_spool_bytes", g->audit_spool_bytes);
    family(out, "sshgate_audit_degraded", "gauge",
           "1 while the audit store takes no writes (records go to the "
           "spool).");
    sample(out, "sshgate_audit_degraded", g->audit_degraded ? 1 : 0);
    family(out, "sshgate_audit_lost_records_total", "counter",
           "Audit records the queue could not take (audit.lost).");
    sample(out, "sshgate_audit_lost_records_total", g->audit_lost);
    one_counter(out, "sshgate_recording_dropped_chunks_total",
                "Terminal recording chunks dropped because neither the "
                "queue nor the spool could take them.",
                GW_M_REC_DROPPED_CHUNKS);
    one_counter(out, "sshgate_recording_dropped_bytes_total",
                "Terminal bytes in the dropped recording chunks.",
                GW_M_REC_DROPPED_BYTES);
    one_counter(out, "sshgate_events_export_dropped_total",
                "Audit events the SIEM export dropped.",
                GW_M_EVENTS_EXPORT_DROPPED);
}

int gw_metrics_render(FILE *out, const struct gw_metrics_gauges *g)
{
    family(out, "sshgate_build_info", "gauge",
           "The running sshgated's version; always 1.");
    fputs("sshgate_build_info{version=\"", out);
    gw_metrics_label_value(out, SSHGATE_VERSION);
    fputs("\"} 1\n", out);
    family(out, "sshgate_ready", "gauge",
           "1 when the listener is up and the audit store takes writes "
           "(what /readyz answers).");
    sample(out, "sshgate_ready", g->ready ? 1 : 0);
    render_connections(out);
    render_auth(out);
    render_sessions(out);
    render_backend(out);
    render_audit(out, g);
    return ferror(out) ? gw_err_set(GW_ERR_IO, "cannot write the metrics")
                       : GW_OK;
}
