#!/usr/bin/env python3
"""metrics_listen (docs/operator-guide.md, "Metrics"): the real daemon
serves /metrics, /healthz and /readyz on a free loopback port; a real
login and session through stock ssh move the counters (connections, auth
results, sessions by kind, bytes each way, the backend connect
histogram), as scraped by curl. Every scrape is read by a strict parser
of the Prometheus text format and, when Debian's prometheus package is
installed, checked by `promtool check metrics`. /readyz turns 503 while
the database is held exclusively (the audit writer degraded) and back,
and while a SIGTERM drains the open connections;
the endpoint binds only the configured address; a port in use stops the
start with one clear line."""

import re
import shutil
import signal
import socket
import sqlite3

import harness as h

SAMPLE_RE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*\})? '
    r'(-?[0-9.eE+-]+|\+Inf|-Inf|NaN)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_metrics(text: str) -> dict:
    """{(name, ((label, value), ...)): float}; raises AssertionError on
    anything the text format (0.0.4) does not allow: a sample before its
    TYPE, a TYPE given twice, a malformed line or label, a repeated
    series."""
    assert text.endswith("\n"), "the exposition must end with a newline"
    declared: dict[str, str] = {}
    samples: dict = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            assert re.match(r"^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* \S", line), line
            continue
        if line.startswith("# TYPE "):
            m = re.match(r"^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$", line)
            assert m and m.group(2) in TYPES, line
            assert m.group(1) not in declared, f"TYPE twice: {line}"
            declared[m.group(1)] = m.group(2)
            continue
        assert not line.startswith("#"), f"stray comment: {line}"
        m = SAMPLE_RE.match(line)
        assert m, f"malformed sample: {line!r}"
        name = m.group(1)
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and declared.get(name[: -len(suffix)]) == "histogram":
                family = name[: -len(suffix)]
        assert family in declared, f"sample before its TYPE: {line}"
        labels = tuple(sorted(LABEL_RE.findall(m.group(2) or "")))
        key = (name, labels)
        assert key not in samples, f"series twice: {line}"
        samples[key] = float(m.group(3))
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


class MetricsCase(h.ForwardTestCase):
    extra_options: dict = {}

    def setUp(self):
        self.mport = h.free_port()
        self.gateway_options = {"metrics_listen": f"127.0.0.1:{self.mport}",
                                **self.extra_options}
        super().setUp()
        # logged once the metrics thread answers (after "listening on")
        self.gw.wait_log(rf"metrics on http://127\.0\.0\.1:{self.mport}/metrics")

    def curl(self, path: str, *args: str, host: str = "127.0.0.1"):
        """(status, body, headers) of one request made by curl."""
        r = h.run(["curl", "-sS", "--max-time", str(h.t(10)), "-D", "-",
                   "-w", "\n%{http_code}", *args, f"http://{host}:{self.mport}{path}"],
                  timeout=30)
        self.assertRc(r, 0)
        # text mode: curl's CRLFs arrive as plain newlines
        head, _, rest = r.out.partition("\n\n")
        body, _, status = rest.rpartition("\n")
        return int(status), body, head.lower()

    def scrape(self) -> dict:
        status, body, head = self.curl("/metrics")
        self.assertEqual(status, 200, body)
        self.assertIn("content-type: text/plain; version=0.0.4", head)
        samples = parse_metrics(body)
        self.promtool(body)
        return samples

    def promtool(self, text: str) -> None:
        tool = shutil.which("promtool")
        if tool is None:
            return  # the strict parser above is the check
        r = h.run([tool, "check", "metrics"], input=text, timeout=60)
        self.assertEqual((r.rc, r.out + r.err), (0, ""), "promtool check metrics")


class Scrape(MetricsCase):
    def test_login_and_session_move_the_counters(self):
        before = self.scrape()
        info = [(dict(k[1]), v) for k, v in before.items() if k[0] == "sshgate_build_info"]
        self.assertEqual(len(info), 1, info)
        self.assertRegex(info[0][0]["version"], r"^\d+\.\d+\.\d+")
        self.assertEqual(info[0][1], 1.0)
        self.assertEqual(value(before, "sshgate_ready"), 1.0)
        up = b"u" * 50000
        r = self.tssh("cat >/dev/null; head -c 200000 /dev/zero", input=up, timeout=60)
        self.assertRc(r, 0)
        self.assertEqual(len(r.out_bytes), 200000)

        def settled():
            s = self.scrape()
            closed = sum(v for (n, _), v in s.items()
                         if n == "sshgate_connections_closed_total")
            was = sum(v for (n, _), v in before.items()
                      if n == "sshgate_connections_closed_total")
            open_now = value(s, "sshgate_connections_open", state="authenticated")
            return s if closed > was and open_now == 0 else None

        after = self.eventually(settled, timeout=20, msg="the connection's end")

        def moved(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)

        self.assertGreaterEqual(moved("sshgate_connections_accepted_total"), 1)
        self.assertEqual(moved("sshgate_auth_success_total", method="publickey"), 1)
        self.assertEqual(moved("sshgate_sessions_started_total", kind="exec"), 1)
        self.assertEqual(value(after, "sshgate_sessions_open", kind="exec"), 0)
        self.assertGreaterEqual(moved("sshgate_relay_bytes_total", direction="up"), 50000)
        self.assertGreaterEqual(moved("sshgate_relay_bytes_total", direction="down"), 200000)
        self.assertEqual(moved("sshgate_backend_connect_seconds_count"), 1)
        self.assertEqual(moved("sshgate_backend_connect_seconds_bucket", le="+Inf"), 1)
        self.assertGreater(moved("sshgate_backend_connect_seconds_sum"), 0)
        self.assertEqual(value(after, "sshgate_connections_open", state="unauthenticated"), 0)

    def test_failures_and_refusals_by_reason(self):
        stranger = self.keygen("stranger")
        r = h.ssh(self.gw.port, "alice", "hosts", keys=[stranger])
        self.assertRc(r, 255)
        s = self.eventually(lambda: (lambda s: s if value(
            s, "sshgate_auth_failures_total", method="publickey",
            reason="key not registered") >= 1 else None)(self.scrape()), timeout=10)
        self.assertEqual(value(s, "sshgate_auth_success_total", method="publickey"), 0)
        # a refusal before any thread: blocked_clients
        self.gw.reload(blocked_clients="127.0.0.1/32")
        self.assertRefused(h.ssh(self.gw.port, "alice", "hosts", keys=[self.alice_key]),
                           "not allowed to connect")
        s = self.scrape()
        self.assertEqual(value(s, "sshgate_connections_refused_total",
                               reason="blocked_clients"), 1)
        self.assertEqual(value(s, "sshgate_connections_refused_total", reason="other"), 0)


class Endpoints(MetricsCase):
    def test_healthz_readyz_and_everything_else(self):
        self.assertEqual(self.curl("/healthz")[:2], (200, "ok\n"))
        self.assertEqual(self.curl("/readyz")[:2], (200, "ready\n"))
        self.assertEqual(self.curl("/")[0], 404)
        self.assertEqual(self.curl("/metrics/x")[0], 404)
        status, _, head = self.curl("/metrics", "-X", "POST", "--data", "x=1")
        self.assertEqual(status, 405)
        self.assertIn("allow: get, head", head)
        self.assertEqual(self.curl("/metrics", "-I")[0], 200)  # HEAD

    def test_binds_only_the_configured_address(self):
        # 127.0.0.2 is loopback too, but not what metrics_listen names
        with socket.socket() as s:
            s.settimeout(h.t(5))
            self.assertNotEqual(s.connect_ex(("127.0.0.2", self.mport)), 0)
        self.assertTrue(h.port_listening(self.mport))

    def test_readyz_follows_the_audit_store(self):
        locker = sqlite3.connect(self.gw.db, timeout=10, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            # an audit record the writer cannot store: it degrades
            h.ssh(self.gw.port, "alice", "hosts", keys=[self.keygen("stranger")])
            self.eventually(lambda: self.curl("/readyz")[0] == 503, timeout=60,
                            msg="/readyz while the database is held")
            status, body, _ = self.curl("/readyz")
            self.assertEqual((status, body), (503, "not ready: the audit store takes no writes\n"))
            s = self.scrape()
            self.assertEqual(value(s, "sshgate_audit_degraded"), 1)
            self.assertEqual(value(s, "sshgate_ready"), 0)
            self.assertEqual(self.curl("/healthz")[0], 200)
        finally:
            locker.execute("COMMIT")
            locker.close()
        self.eventually(lambda: self.curl("/readyz")[0] == 200, timeout=60,
                        msg="/readyz after the database is back")
        self.assertEqual(value(self.scrape(), "sshgate_audit_degraded"), 0)


class Draining(MetricsCase):
    extra_options = {"shutdown_grace": 30}

    def test_readyz_503_while_sessions_drain(self):
        held = h.ssh_hold(self.gw.port, "alice", [self.alice_key], self.dir)
        s = self.scrape()
        self.assertEqual(value(s, "sshgate_connections_open", state="authenticated"), 1)
        self.gw.signal(signal.SIGTERM)
        # still answering while the open connection may finish
        self.eventually(lambda: self.curl("/readyz")[0] == 503, timeout=10,
                        msg="/readyz after SIGTERM")
        self.assertEqual(self.curl("/readyz")[1], "not ready: shutting down\n")
        self.assertEqual(self.curl("/healthz")[0], 200)
        s = self.scrape()
        self.assertEqual(value(s, "sshgate_ready"), 0)
        self.assertEqual(value(s, "sshgate_connections_open", state="authenticated"), 1)
        held.proc.terminate()
        self.assertEqual(self.gw.wait_exit(h.t(30)), 0, self.gw.log_tail())
        self.assertTrue(h.wait_port_closed(self.mport, 2), "metrics port open after exit")


class StartFailure(h.TestCase):
    def test_metrics_port_in_use(self):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            port = s.getsockname()[1]
            gw = self.gateway(start=False, metrics_listen=f"127.0.0.1:{port}")
            r = h.run([gw.binary, "-f", str(gw.config_path), "--foreground"], timeout=30)
        self.assertFalse(r.timed_out, f"sshgated hung instead of failing\n{r}")
        self.assertEqual(r.rc, 1, f"\n{r}")
        self.assertIn(f"cannot listen for metrics on 127.0.0.1:{port}: Address already in use",
                      r.err + r.out)
        self.assertFalse(h.sanitizer_re().search(r.err), r.err)

    def test_bad_value(self):
        gw = self.gateway(start=False, metrics_listen="localhost:9100")
        r = h.run([gw.binary, "-f", str(gw.config_path), "--check-config"], timeout=30)
        self.assertEqual(r.rc, 1, f"\n{r}")
        self.assertRegex(r.err + r.out, r"metrics_listen: 'localhost:9100' is not a numeric")


if __name__ == "__main__":
    h.main()
