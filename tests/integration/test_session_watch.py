#!/usr/bin/env python3
"""`sshgate-admin session watch ID` (docs/admin.md "session watch"): a
running pty session's terminal followed from its recording as the gateway
writes it, live, ending with a note when the session ends; an audit event
says who watched. Runs on SQLite and again on PostgreSQL (it_pg_*), where
every node of a cluster reads the same tables."""

import os
import signal
import subprocess
import threading
import time

import harness as h


class Watcher:
    """sshgate-admin session watch, its stdout and stderr read as they
    come (a thread each)."""

    def __init__(self, case, *args):
        env = dict(os.environ)
        env.pop("SSHGATE_DB", None)
        self.argv = [case.admin.binary, "--db", case.admin.db, "session",
                     "watch", *[str(a) for a in args]]
        self.proc = h.spawn(self.argv, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
        case.closing(self)
        self._out = bytearray()
        self._err = bytearray()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._pump, args=(f, buf), daemon=True)
                         for f, buf in ((self.proc.stdout, self._out),
                                        (self.proc.stderr, self._err))]
        for th in self._threads:
            th.start()

    def _pump(self, f, buf):
        while True:
            data = os.read(f.fileno(), 65536)
            if not data:
                return
            with self._lock:
                buf.extend(data)

    @property
    def out(self) -> str:
        with self._lock:
            return self._out.decode("utf-8", "replace")

    @property
    def err(self) -> str:
        with self._lock:
            return self._err.decode("utf-8", "replace")

    def wait_out(self, text, timeout):
        """Seconds until text appeared on stdout, or None."""
        start = time.monotonic()
        if h.wait_for(lambda: text in self.out, timeout, 0.05):
            return time.monotonic() - start
        return None

    def wait(self, timeout):
        rc = self.proc.wait(timeout=h.t(timeout))
        for th in self._threads:
            th.join(timeout=5)
        if h.sanitizer_re().search(self.err):
            raise AssertionError(f"sanitizer report from session watch:\n{self.err}")
        return rc

    def close(self):
        h.kill_process(self.proc)

    def __str__(self):
        return (f"$ {' '.join(self.argv)}\nrc={self.proc.poll()}\n"
                f"--- stdout ---\n{self.out}\n--- stderr ---\n{self.err}")


class SessionWatch(h.ForwardTestCase):
    def gated_session(self, before, after, last):
        """A pty session through the gateway that prints before, waits for
        the file go, prints after, waits for the file end, prints last and
        exits. Returns (go, end, its sessions row once the recording
        holds before)."""
        go = self.dir / "go"
        end = self.dir / "end"
        command = (f"echo {before}; while [ ! -e {go} ]; do sleep 0.1; done; "
                   f"echo {after}; while [ ! -e {end} ]; do sleep 0.1; done; "
                   f"echo {last}")
        self.ssh_proc = self.background(self.tssh_argv(command, extra_args=["-tt"]),
                                        "ssh")
        row = self.wait_session(ended=False, kind="exec", pty=True)

        def recorded():
            r = self.admin.run("session", "export", str(row["id"]))
            return r.rc == 0 and before in r.out
        self.assertTrue(h.wait_for(recorded, h.t(10), 0.2),
                        f"{before!r} never reached the recording")
        return go, end, row

    def test_follows_live_and_ends_with_the_session(self):
        go, end, row = self.gated_session("before-watch", "live-1729", "last-words")
        sid = row["id"]
        w = Watcher(self, sid)
        # the newest chunk first, for the screen's context
        self.assertIsNotNone(w.wait_out("before-watch", h.t(10)), str(w))
        # printed after the watch started, while the session still runs
        go.touch()
        took = w.wait_out("live-1729", h.t(10))
        self.assertIsNotNone(took, str(w))
        print(f"live output reached the watcher in {took:.2f} s")
        self.assertLess(took, h.t(4), "not live: " + str(w))
        self.assertIsNone(w.proc.poll(), "the watcher left a running session")
        self.assertIsNone(self.ssh_proc.poll())
        # the session ends: so does the watch, with everything and a note
        end.touch()
        self.assertEqual(self.ssh_proc.wait(timeout=h.t(20)), 0)
        self.assertEqual(w.wait(20), 0, str(w))
        self.assertIn("last-words", w.out)
        self.assertEqual(w.out.count("live-1729"), 1, str(w))
        lines = w.err.splitlines()
        self.assertEqual(len(lines), 1, str(w))
        self.assertRegex(lines[0], rf"session {sid} ended at \S+ \(.+\)")
        ended = self.wait_session(id=sid)
        self.assertIn(ended["end_reason"], lines[0])
        # who watched whom is in the audit trail
        ev = self.wait_event("admin.session.watch", user="alice",
                             session=str(sid))
        self.assertIn("by=", ev["detail"])

    def test_ctrl_c_stops_the_watch(self):
        go, end, row = self.gated_session("before-stop", "after-stop", "gone")
        w = Watcher(self, row["id"], "--speed", "2")
        self.assertIsNotNone(w.wait_out("before-stop", h.t(10)), str(w))
        time.sleep(0.5)  # in its poll loop
        start = time.monotonic()
        w.proc.send_signal(signal.SIGINT)
        self.assertEqual(w.wait(10), 0, str(w))
        self.assertLess(time.monotonic() - start, h.t(3))
        self.assertEqual(w.err.strip(), f"sshgate-admin: stopped watching session {row['id']}")
        go.touch()
        end.touch()
        self.assertEqual(self.ssh_proc.wait(timeout=h.t(20)), 0)

    def test_closed_output_stops_the_watch(self):
        go, end, row = self.gated_session("before-pipe", "after-pipe", "done")
        # its output a pipe of ours, closed when the reader goes away
        # (`session watch ID | head`)
        env = dict(os.environ)
        env.pop("SSHGATE_DB", None)
        rfd, wfd = os.pipe()
        err_path = self.dir / "watch.err"
        with open(err_path, "wb") as errf:
            proc = h.spawn([self.admin.binary, "--db", self.admin.db, "session",
                            "watch", str(row["id"])], stdout=wfd, stderr=errf,
                           env=env)
        os.close(wfd)
        self.closing(type("K", (), {"close": lambda _: h.kill_process(proc)})())
        got = b""
        deadline = time.monotonic() + h.t(10)
        while b"before-pipe" not in got and time.monotonic() < deadline:
            got += os.read(rfd, 4096)
        os.close(rfd)
        self.assertIn(b"before-pipe", got)
        go.touch()
        self.assertEqual(proc.wait(timeout=h.t(15)), 0, err_path.read_text())
        err = err_path.read_text()
        self.assertNotRegex(err, h.sanitizer_re())
        self.assertEqual(err.strip(),
                         f"sshgate-admin: stopped watching session {row['id']}")
        end.touch()
        self.assertEqual(self.ssh_proc.wait(timeout=h.t(20)), 0)

    def test_nothing_to_watch(self):
        # an unknown id
        r = self.admin.run("session", "watch", "999999")
        self.assertRc(r, 1)
        self.assertEqual(r.out, "")
        self.assertEqual(r.err.strip().splitlines(),
                         ["sshgate-admin: no session 999999"])
        # a session without a pty has no recording
        self.assertRc(self.tssh("echo plain"), 0)
        plain = self.wait_session(kind="exec", command="echo plain")
        r = self.admin.run("session", "watch", str(plain["id"]))
        self.assertRc(r, 1)
        self.assertEqual(r.out, "")
        self.assertEqual(len(r.err.strip().splitlines()), 1, str(r))
        self.assertIn("has no recording", r.err)
        # an ended pty session: replay it (or watch it --from-start)
        self.assertRc(self.tssh("echo over-and-done", extra_args=["-tt"]), 0)
        done = self.wait_session(kind="exec", pty=True)
        r = self.admin.run("session", "watch", str(done["id"]))
        self.assertRc(r, 1)
        self.assertEqual(len(r.err.strip().splitlines()), 1, str(r))
        self.assertIn(f"session replay {done['id']}", r.err)
        self.assertEqual(self.find_events("admin.session.watch"), [])

        def played():
            r = self.admin.run("session", "watch", str(done["id"]),
                               "--from-start", "--speed", "100")
            return r if r.rc == 0 and "over-and-done" in r.out else None
        r = h.wait_for(played, h.t(10), 0.3)
        self.assertIsNotNone(r, "the ended session never played --from-start")
        self.assertRegex(r.err, rf"session {done['id']} ended at ")
        self.wait_event("admin.session.watch", user="alice",
                        session=str(done["id"]), **{"from": "start"})
        # bad arguments: usage, nothing written
        self.assertRc(self.admin.run("session", "watch", str(done["id"]),
                                     "--speed", "0"), 1)
        self.assertRc(self.admin.run("session", "watch"), 2)


if __name__ == "__main__":
    h.main()
