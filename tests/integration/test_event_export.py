#!/usr/bin/env python3
"""The SIEM export (event_export, docs/operator-guide.md "SIEM export"):
the real sshgated sends every event it commits, and the events
sshgate-admin commits, to a local datagram socket (as /dev/log), a UDP and
a TCP syslog collector and to a JSON file and a JSON unix socket, all this
test's own listeners. Each receiver
gets every event of the database's chain after the export began, in order,
with the same id and hash, each one's prev the hash before it; syslog
messages are RFC 5424 with the event in their structured data. SIGHUP
reopens a JSON file that was rotated away. What the daemon spooled while
another process held the database goes out once it is committed, in
order. A receiver that accepts and
never reads, and a port nobody listens on, hold no login up: logins take
their normal time, the dead sink's losses are counted in export.dropped
events (the first at once, then rate-limited, the rest at the stop), and
the daemon stops on time."""

import os
import re
import socket
import sqlite3
import stat
import threading
import time

import harness as h

SYSLOG_RE = re.compile(
    r"^<(?P<pri>\d+)>1 (?P<ts>\S+) (?P<host>\S+) sshgated (?P<pid>\d+) "
    r"(?P<msgid>\S+) \[sshgate@32473(?P<sd>(?: \w+=\"(?:[^\"\\\]]|\\.)*\")*)\]"
    r"(?: (?P<msg>.*))?$", re.S)
# Kinds whose last part says a failure or a refusal are warnings (4).
WARNINGS = {"failure", "denied", "refused", "locked", "source_locked",
            "mismatch", "degraded", "lost", "rejected", "spool_torn",
            "dropped", "revoked"}
PARAM_RE = re.compile(r' (\w+)="((?:[^"\\\]]|\\.)*)"')


def sd_params(sd: str) -> dict:
    return {k: re.sub(r"\\(.)", r"\1", v) for k, v in PARAM_RE.findall(sd)}


def parse_syslog(msg: str) -> dict:
    m = SYSLOG_RE.match(msg)
    assert m, f"not an RFC 5424 message of sshgated: {msg!r}"
    d = m.groupdict()
    d["params"] = sd_params(d["sd"])
    return d


class Collector:
    """A receiver on loopback, run by a thread: messages in arrival order."""

    def __init__(self):
        self.messages: list[str] = []
        self.lock = threading.Lock()
        self.closed = False
        self.thread = threading.Thread(target=self.run, daemon=True)

    def add(self, text: str) -> None:
        with self.lock:
            self.messages.append(text)

    def received(self) -> list[str]:
        with self.lock:
            return list(self.messages)

    def close(self) -> None:
        self.closed = True
        self.sock.close()


class UdpSyslog(Collector):
    def __init__(self):
        super().__init__()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.thread.start()

    def run(self):
        while not self.closed:
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, OSError):
                continue
            self.add(data.decode("utf-8"))


class UnixSyslog(UdpSyslog):
    """A local syslog daemon's datagram socket (what /dev/log is)."""

    def __init__(self, path):
        Collector.__init__(self)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.thread.start()


class StreamCollector(Collector):
    """Accepts connections and reads frames from each in turn."""

    def __init__(self, family, address):
        super().__init__()
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind(address)
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.connections = 0
        self.thread.start()

    def run(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            threading.Thread(target=self.read, args=(conn,), daemon=True).start()

    def read(self, conn):
        buf = b""
        with conn:
            conn.settimeout(0.2)
            while not self.closed:
                try:
                    data = conn.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not data:
                    return
                buf += data
                buf = self.frames(buf)


class TcpSyslog(StreamCollector):
    """RFC 6587 octet counting: "LEN SP MSG"."""

    def __init__(self):
        super().__init__(socket.AF_INET, ("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def frames(self, buf: bytes) -> bytes:
        while True:
            sp = buf.find(b" ")
            if sp <= 0:
                return buf
            n = int(buf[:sp])
            if len(buf) < sp + 1 + n:
                return buf
            self.add(buf[sp + 1:sp + 1 + n].decode("utf-8"))
            buf = buf[sp + 1 + n:]


class UnixJson(StreamCollector):
    def __init__(self, path):
        super().__init__(socket.AF_UNIX, str(path))

    def frames(self, buf: bytes) -> bytes:
        *lines, rest = buf.split(b"\n")
        for line in lines:
            self.add(line.decode("utf-8"))
        return rest


class NeverReads:
    """A unix socket server that accepts and never reads."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.held: list[socket.socket] = []
        self.closed = False
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.held.append(conn)

    def close(self):
        self.closed = True
        for c in self.held:
            c.close()
        self.sock.close()


def db_events(db, after: int) -> list[dict]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        rows = con.execute(
            "SELECT id, created_at, kind, username, client_addr, detail, "
            "prev_hash, hash FROM events WHERE id > ? ORDER BY id",
            (after,)).fetchall()
    finally:
        con.close()
    keys = ("id", "created_at", "kind", "user", "client", "detail", "prev_hash",
            "hash")
    return [dict(zip(keys, r)) for r in rows]


def db_hash(db, event_id: int) -> str:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        row = con.execute("SELECT hash FROM events WHERE id = ?",
                          (event_id,)).fetchone()
    finally:
        con.close()
    return row[0] if row else "0" * 64


class ExportCase(h.ForwardTestCase):
    start_gateway = False

    def export_start(self) -> int:
        """The id after which the daemon exports, from its log."""
        m = self.gw.wait_log(r"export: exporting the events after id (\d+)",
                             timeout=15)
        return int(m.group(1))

    def timed_login(self, command="true") -> float:
        t0 = time.monotonic()
        r = self.tssh(command)
        took = time.monotonic() - t0
        self.assertLoginOk(r)
        return took


class EveryEventEverywhere(ExportCase):

    def setUp(self):
        super().setUp()
        self.udp = self.closing(UdpSyslog())
        self.tcp = self.closing(TcpSyslog())
        self.sock_path = self.dir / "siem.sock"
        self.unix = self.closing(UnixJson(self.sock_path))
        self.json_path = self.dir / "events.jsonl"
        self.devlog = self.closing(UnixSyslog(self.dir / "log.sock"))
        self.sinks = (f"syslog:unix:{self.dir / 'log.sock'}, "
                      f"syslog:udp:127.0.0.1:{self.udp.port}, "
                      f"syslog:tcp:localhost:{self.tcp.port}, "
                      f"json:file:{self.json_path}, json:unix:{self.sock_path}")
        self.gw.write_config(event_export=self.sinks)
        self.gw.start()

    def json_file_lines(self, path=None) -> list[str]:
        path = path or self.json_path
        if not path.exists():
            return []
        return [l for l in path.read_text().split("\n") if l]

    def check_json(self, lines, want, name):
        import json
        got = [json.loads(l) for l in lines]
        self.assertEqual([g["id"] for g in got], [w["id"] for w in want],
                         f"{name}: ids")
        for g, w in zip(got, want):
            for k in ("created_at", "kind", "user", "client", "detail",
                      "prev_hash", "hash"):
                self.assertEqual(g[k], w[k], f"{name}: event {w['id']} {k}")
            self.assertTrue(g["node"], name)

    def check_syslog(self, messages, want, name):
        got = [parse_syslog(m) for m in messages]
        self.assertEqual([int(g["params"]["id"]) for g in got],
                         [w["id"] for w in want], f"{name}: ids")
        for g, w in zip(got, want):
            p = g["params"]
            self.assertEqual(p["hash"], w["hash"], name)
            self.assertEqual(p["prev"], w["prev_hash"], name)
            self.assertEqual(g["ts"], w["created_at"], name)
            self.assertEqual(g["msgid"], w["kind"], name)
            self.assertEqual(g["msg"] or "", w["detail"], name)
            self.assertEqual(p.get("user"), w["user"] or None, name)
            self.assertEqual(p.get("client"), w["client"] or None, name)
            sev = 4 if w["kind"].rsplit(".", 1)[-1] in WARNINGS else 6
            self.assertEqual(int(g["pri"]), 10 * 8 + sev, f"{name}: {w['kind']}")

    def wait_all(self, after, received):
        """Every DB event after `after` has arrived at every receiver."""
        def done():
            want = db_events(self.db, after)
            counts = [len(f()) for f in received.values()]
            return want if want and all(c >= len(want) for c in counts) else None
        want = self.eventually(done, timeout=20, msg="events at every receiver")
        return db_events(self.db, after)

    def test_every_event_reaches_every_sink(self):
        start = self.export_start()
        # An admin change (committed by sshgate-admin, not the daemon), a
        # login with a session, a failed login.
        self.admin.add_user("bob", key=self.keygen("bob_key"))
        took = self.timed_login("echo exported")
        wrong = self.keygen("wrong_key")
        r = self.tssh("true", keys=[wrong])
        self.assertNotEqual(r.rc, 0)
        self.wait_event("auth.failure", timeout=10)
        self.wait_event("conn.close", timeout=10)
        self.settle_events()
        received = {
            "unix": self.devlog.received,
            "udp": self.udp.received,
            "tcp": self.tcp.received,
            "file": self.json_file_lines,
            "json-unix": self.unix.received,
        }
        want = self.wait_all(start, received)
        kinds = [w["kind"] for w in want]
        for kind in ("admin.user.add", "auth.success", "session.start",
                     "session.end", "conn.close", "auth.failure"):
            self.assertIn(kind, kinds)
        # Continuity: the first one links to the event before the export
        # began, each next one to the one before it.
        self.assertEqual(want[0]["prev_hash"], db_hash(self.db, start))
        for a, b in zip(want, want[1:]):
            self.assertEqual(b["prev_hash"], a["hash"])
            self.assertEqual(b["id"], a["id"] + 1)
        got = {name: f()[:len(want)] for name, f in received.items()}
        self.check_syslog(got["unix"], want, "unix")
        self.check_syslog(got["udp"], want, "udp")
        self.check_syslog(got["tcp"], want, "tcp")
        self.check_json(got["file"], want, "file")
        self.check_json(got["json-unix"], want, "json-unix")
        for name, f in received.items():
            self.assertEqual(len(f()), len(want), f"{name}: extra messages")
        mode = stat.S_IMODE(os.stat(self.json_path).st_mode)
        self.assertEqual(mode, 0o600)
        print(f"\n  {len(want)} events at 5 sinks; login took {took:.2f} s",
              flush=True)

        # Log rotation: the file moved away, SIGHUP, a new file.
        rotated = self.dir / "events.jsonl.1"
        os.rename(self.json_path, rotated)
        self.gw.reload()
        self.timed_login()
        self.eventually(lambda: self.json_file_lines(), timeout=10,
                        msg="a new JSON file after SIGHUP")
        self.settle_events()
        want = db_events(self.db, start)
        self.eventually(
            lambda: len(self.json_file_lines(rotated)) +
            len(self.json_file_lines()) == len(want) and
            len(self.tcp.received()) == len(want), timeout=10,
            msg="every event in the rotated and the new file")
        lines = self.json_file_lines(rotated) + self.json_file_lines()
        self.check_json(lines, want, "rotated+new")
        self.check_syslog(self.tcp.received(), want, "tcp after reload")
        self.assertEqual(self.tcp.connections, 2, "SIGHUP reconnects")
        self.assertNotIn("export.dropped", [w["kind"] for w in want])


    def test_events_of_an_outage_go_out_in_order(self):
        """While another process holds the database, the daemon spools;
        what it spooled goes out once it is committed, in chain order,
        between audit.degraded and audit.recovered."""
        start = self.export_start()
        locker = sqlite3.connect(self.db, timeout=10, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            self.timed_login("echo during")
            time.sleep(2)
        finally:
            locker.execute("COMMIT")
            locker.close()
        self.wait_event("audit.recovered", timeout=30)
        self.settle_events()
        received = {"tcp": self.tcp.received, "file": self.json_file_lines}
        want = self.wait_all(start, received)
        kinds = [w["kind"] for w in want]
        self.assertLess(kinds.index("audit.degraded"), kinds.index("session.end"))
        self.assertLess(kinds.index("session.end"), kinds.index("audit.recovered"))
        self.check_syslog(self.tcp.received(), want, "tcp")
        self.check_json(self.json_file_lines(), want, "file")


class DeadReceivers(ExportCase):

    def test_dead_receivers_never_block(self):
        stuck_path = self.dir / "stuck.sock"
        stuck = NeverReads(stuck_path)
        self.closing(stuck)
        closed_port = h.free_port()
        dead = f"syslog:tcp:127.0.0.1:{closed_port}"
        self.gw.write_config(
            event_export=f"json:unix:{stuck_path}, {dead}",
            export_queue_size="1K")
        self.gw.start()
        self.export_start()
        times = [self.timed_login() for _ in range(6)]
        self.assertLess(max(times), 5.0, f"login times {times}")
        ev = self.wait_event("export.dropped", sink=dead, timeout=20)
        self.assertGreater(int(ev["fields"]["events"]), 0)
        self.assertGreaterEqual(int(ev["fields"]["last"]),
                                int(ev["fields"]["first"]))
        self.assertIn(f"export: {dead}: cannot connect", self.gw.log())
        self.assertTrue(stuck.held, "the stuck receiver was never connected")
        # Rate-limited: one report for the burst, not one per drop.
        self.assertEqual(len(self.find_events("export.dropped", sink=dead)), 1)
        t0 = time.monotonic()
        self.gw.stop()
        stopped = time.monotonic() - t0
        self.assertLess(stopped, 15, "the stop waited on a dead sink")
        # The stop's last report: everything else it lost, and the total
        # adds up.
        reports = self.find_events("export.dropped", sink=dead)
        self.assertEqual(len(reports), 2, reports)
        self.assertEqual(sum(int(r["fields"]["events"]) for r in reports),
                         int(reports[-1]["fields"]["total"]))
        print(f"\n  login times with dead sinks: "
              f"{', '.join(f'{x:.2f}' for x in times)} s; stop {stopped:.1f} s",
              flush=True)


if __name__ == "__main__":
    h.main()
