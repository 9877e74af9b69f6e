#!/usr/bin/env python3
"""Terminal recordings (docs/audit-schema.md "recordings"): pty sessions
recorded in asciicast v2 by sshgated, read back with `session export`,
`session replay` and the real `asciinema cat`; input only with
record_input; a database that cannot keep up degrades the recording,
never the session."""

import json
import shlex
import shutil
import sqlite3
import subprocess
import time
import unittest

import harness as h

ASCIINEMA = shutil.which("asciinema")


class RecordingCase(h.ForwardTestCase):
    def wait_recording(self, sid, timeout=10, until=lambda rec: rec["chunks"] > 0):
        """`session show --json`'s recording once until(it) holds (the
        writer thread stores it a moment after the session's row)."""
        last = None

        def get():
            nonlocal last
            last = self.admin.json("session", "show", str(sid))["recording"]
            return last if last is not None and until(last) else None
        rec = h.wait_for(get, timeout, 0.2)
        self.assertIsNotNone(rec, f"session {sid}: recording {last}")
        return rec

    def wait_export(self, sid, text, timeout=10):
        """export(sid) once its output holds text (the last chunk is
        written after the session's end)."""
        def attempt():
            exported = self.export(sid)
            return exported if text in self.text(exported[2]) else None
        got = h.wait_for(attempt, timeout, 0.3)
        self.assertIsNotNone(got, f"{text!r} never reached the recording")
        return got

    def export(self, sid):
        """The exported file: its path, header and event lines, each
        checked to be asciicast v2."""
        path = self.dir / f"s{sid}.cast"
        r = self.admin.ok("session", "export", str(sid))
        path.write_text(r.out)
        lines = r.out.splitlines()
        header = json.loads(lines[0])
        self.assertEqual(header["version"], 2)
        events = [json.loads(line) for line in lines[1:]]
        last = 0.0
        for ev in events:
            self.assertEqual(len(ev), 3, ev)
            self.assertIn(ev[1], ("o", "i", "r"), ev)
            self.assertGreaterEqual(ev[0], last, "event times go backwards")
            last = ev[0]
        return path, header, events

    @staticmethod
    def text(events, code="o"):
        return "".join(ev[2] for ev in events if ev[1] == code)

    def asciinema_cat(self, path):
        if ASCIINEMA is None:
            self.fail("asciinema is not installed (scripts/lib/deps.sh "
                      "installs it with the test packages)")
        # asciinema cat puts /dev/tty into raw mode: give it a terminal
        # (script(1), util-linux, runs it on a pty and copies its output)
        r = h.run(["script", "-q", "-e", "-c",
                   f"{ASCIINEMA} cat {shlex.quote(str(path))}", "/dev/null"],
                  timeout=60)
        self.assertRc(r, 0)
        self.assertNotIn("Traceback", r.out)
        return r.out


class Recordings(RecordingCase):
    def test_pty_exec_recorded_and_exported(self):
        r = self.tssh("printf 'hello-\\342\\202\\254-recorded\\n'; sleep 0.3; "
                      "printf 'second-line\\n'", extra_args=["-tt"], timeout=60)
        self.assertRc(r, 0)
        self.assertIn("hello-€-recorded", r.out)
        row = self.wait_session(kind="exec", pty=True)
        path, header, events = self.wait_export(row["id"], "second-line")
        rec = self.wait_recording(row["id"])
        self.assertIsNone(rec["degraded"])
        self.assertEqual(header["title"], f"alice as {self.login}@web1")
        self.assertIn("timestamp", header)
        out = self.text(events)
        self.assertIn("hello-€-recorded\r\n", out)
        self.assertIn("second-line", out)
        # the pause between the lines is in the timing
        t1 = next(ev[0] for ev in events if "hello" in ev[2])
        t2 = next(ev[0] for ev in events if "second-line" in ev[2])
        self.assertGreater(t2 - t1, 0.2)
        # no input unless record_input = yes
        self.assertEqual(self.text(events, "i"), "")
        self.assertIn("hello-€-recorded", self.asciinema_cat(path))
        # replay plays it with its timing (here 100 times as fast)
        start = time.monotonic()
        rp = self.admin.ok("session", "replay", str(row["id"]), "--speed", "100")
        self.assertLess(time.monotonic() - start, h.t(10))
        self.assertIn("hello-€-recorded", rp.out)
        self.assertIn("second-line", rp.out)
        text = self.admin.ok("session", "show", str(row["id"])).out
        self.assertRegex(text, r"recording\s*:?\s+\d+ chunks, \d+ bytes")

    def test_no_pty_no_recording(self):
        r = self.tssh("echo plain")
        self.assertRc(r, 0)
        row = self.wait_session(kind="exec", command="echo plain")
        show = self.admin.json("session", "show", str(row["id"]))
        self.assertIsNone(show["recording"])
        r = self.admin.run("session", "export", str(row["id"]))
        self.assertNotEqual(r.rc, 0)
        self.assertIn("no recording", r.err)
        self.assertEqual(r.out, "")

    def test_recording_off(self):
        self.gw.reload(recording=False)
        r = self.tssh("echo unrecorded", extra_args=["-tt"])
        self.assertRc(r, 0)
        row = self.wait_session(kind="exec", pty=True)
        time.sleep(h.t(1.5))  # the writer would have had it by now
        self.assertIsNone(self.admin.json("session", "show", str(row["id"]))["recording"])


class RecordInput(RecordingCase):
    gateway_options = {"record_input": True}

    def test_input_recorded(self):
        # a login shell on a pty, fed through ssh's stdin
        r = self.tssh(None, extra_args=["-tt"],
                      input="echo typed-$((6*7))\nexit\n", timeout=60)
        self.assertRc(r, 0)
        row = self.wait_session(kind="shell", pty=True)
        path, _, events = self.wait_export(row["id"], "typed-42")
        self.assertIn("echo typed-$((6*7))", self.text(events, "i"))
        self.assertIn("typed-42", self.text(events, "o"))
        # asciinema cat shows the output only
        self.assertIn("typed-42", self.asciinema_cat(path))


class FullQueue(RecordingCase):
    """recording_queue_size = 16K, no spool (its directory does not exist)
    and the database locked by another writer while a pty session prints
    3 MB: the session runs at full speed, the recording loses chunks and
    says so. (With a spool, the chunks wait there and nothing is lost:
    test_audit_outage.py.)"""
    gateway_options = {"recording_queue_size": "16K",
                       "audit_spool": "/nonexistent-sshgate-dir/audit.spool"}

    def test_slow_database_degrades_the_recording_not_the_session(self):
        size = 3_000_000
        out_path = self.dir / "flood.out"
        command = (f"sleep 2; head -c {size} /dev/zero | tr '\\0' x | fold -w 100;"
                   " echo; echo END-OF-OUTPUT")
        with open(out_path, "wb") as out:
            proc = h.spawn(self.tssh_argv(command, extra_args=["-tt"]),
                           stdout=out, stderr=subprocess.STDOUT,
                           env=h.ssh_env())
        row = self.wait_session(ended=False, kind="exec", pty=True)
        locker = sqlite3.connect(self.gw.db, timeout=10, isolation_level=None)
        try:
            locker.execute("BEGIN EXCLUSIVE")
            start = time.monotonic()
            rc = proc.wait(timeout=h.t(90))
            spent = time.monotonic() - start
        finally:
            if locker.in_transaction:
                locker.execute("COMMIT")
            locker.close()
        self.assertEqual(rc, 0, out_path.read_text(errors="replace")[-2000:])
        got = out_path.read_bytes()
        self.assertEqual(got.count(b"x"), size)
        self.assertIn(b"END-OF-OUTPUT", got)
        print(f"3 MB through a pty with the database locked: {spent:.1f} s")
        ended = self.wait_session(id=row["id"], timeout=20)
        self.assertEqual(ended["exit_status"], 0)
        self.wait_event("recording.degraded", user="alice",
                        session=str(row["id"]), reason="~queue full")
        rec = self.wait_recording(row["id"],
                                  until=lambda rec: rec["degraded"] is not None)
        self.assertIn("queue full", rec["degraded"])
        # what was kept is still a valid recording
        path, _, events = self.export(row["id"])
        self.asciinema_cat(path)
        kept = self.text(events).count("x")
        self.assertLess(kept, size)


if __name__ == "__main__":
    h.main()
