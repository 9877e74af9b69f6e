#!/usr/bin/env python3
"""An audit that nothing can silence (docs/audit-schema.md, "Durability"):
the database held exclusively by another process for 20 s and 60 s, and
the database's disk full, while users log in and work. Sessions already
running go on; every record appears afterwards, in order and chained,
between audit.degraded and audit.recovered; with audit_failure = refuse
new logins are refused once audit_failure_grace has passed, with
audit_failure = continue they are served."""

import errno
import os
import shutil
import sqlite3
import subprocess
import time

import harness as h

REFUSAL = "sshgate: audit store unavailable, refusing new sessions"


class OutageCase(h.ForwardTestCase):
    def pty_session(self):
        """A terminal session through the gateway, at its prompt."""
        pty = h.PtyClient(self.tssh_argv(None, extra_args=["-tt"]), 30, 100,
                          env=h.ssh_env())
        self.addCleanup(lambda: pty.proc.poll() is None and pty.proc.kill())
        pty.write("PS1='PROMPT> '\n")
        self.assertIsNotNone(pty.read_until("PROMPT> "), "no prompt")
        return pty

    def type_line(self, pty, text: str):
        pty.write(f"echo {text}-$((6*7))\n")
        self.assertIsNotNone(pty.read_until(f"{text}-42"),
                             f"{text}: no output while the store is out")

    def hold_database(self):
        locker = sqlite3.connect(self.gw.db, timeout=10, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        return locker

    def release_database(self, locker):
        if locker.in_transaction:
            locker.execute("COMMIT")
        locker.close()

    def wait_degraded(self):
        self.wait_event("audit.degraded", timeout=60)

    def check_recorded(self, marks):
        """After the outage: the pty session's row ended, its recording
        holds what was typed during the outage, the events of the
        connection are there, and they sit between audit.degraded and
        audit.recovered."""
        row = self.wait_session(kind="shell", pty=True, timeout=60)
        self.assertEqual(row["user"], "alice")
        sid = str(row["id"])
        self.wait_event("session.end", user="alice", session=sid, timeout=30)

        def recording_text():
            r = self.admin.run("session", "export", sid)
            return r.out if r.rc == 0 and all(m in r.out for m in marks) else None
        self.assertIsNotNone(h.wait_for(recording_text, 30, 0.5),
                             f"the recording lacks {marks}")
        events = self.admin.events()
        kinds = [e["kind"] for e in events]
        self.assertIn("audit.degraded", kinds)
        self.assertIn("audit.recovered", kinds)
        first = kinds.index("audit.degraded")
        last = len(kinds) - 1 - kinds[::-1].index("audit.recovered")
        inside = kinds[first:last]
        for kind in ("session.end", "conn.close"):
            self.assertIn(kind, inside, f"{kind} not between degraded and "
                          f"recovered: {kinds}")
        r = self.admin.run("audit", "verify")
        self.assertRc(r, 0)
        return events


class LockedDatabase(OutageCase):
    """audit_failure = refuse with a 3 s grace: another process holds the
    database with BEGIN EXCLUSIVE for 20 s."""
    gateway_options = {"audit_failure_grace": 3}

    def test_held_20s_session_goes_on_new_logins_refused(self):
        pty = self.pty_session()
        self.type_line(pty, "before")
        locker = self.hold_database()
        try:
            start = time.monotonic()
            self.type_line(pty, "during")
            # the writer finds the lock (its busy wait) and spools
            self.assertIsNotNone(
                h.wait_for(lambda: os.path.exists(str(self.gw.db) + ".spool")
                           and os.path.getsize(str(self.gw.db) + ".spool") > 24,
                           20, 0.3), "nothing reached the spool")
            time.sleep(4)  # past audit_failure_grace
            r = self.tssh("true", timeout=30)
            self.assertRc(r, 255)
            self.assertIn(REFUSAL, r.err)
            self.type_line(pty, "still")  # the running session goes on
            pty.write("exit\n")
            self.assertEqual(pty.wait(20), 0)
            left = 20 - (time.monotonic() - start)
            if left > 0:
                time.sleep(left)
        finally:
            self.release_database(locker)
        self.check_recorded(["before-42", "during-42", "still-42"])
        # the refused login is audited too (refused before authentication)
        self.wait_event("conn.refused", reason="audit_failure")
        # new logins work again
        self.assertRc(self.tssh("true", timeout=30), 0)


class LockedDatabaseContinue(OutageCase):
    """audit_failure = continue: the database held for 60 s; a new login
    during the outage is served, and audited afterwards."""
    gateway_options = {"audit_failure": "continue",
                       "audit_failure_grace": 1}

    def test_held_60s_continue(self):
        pty = self.pty_session()
        locker = self.hold_database()
        try:
            start = time.monotonic()
            self.type_line(pty, "during")
            time.sleep(3)
            r = self.tssh("echo served-$((2*21))", timeout=30)
            self.assertRc(r, 0)
            self.assertIn("served-42", r.out)
            self.type_line(pty, "later")
            pty.write("exit\n")
            self.assertEqual(pty.wait(20), 0)
            left = 60 - (time.monotonic() - start)
            if left > 0:
                time.sleep(left)
            self.assertIn("audit_failure = continue", self.gw.log())
        finally:
            self.release_database(locker)
        self.check_recorded(["during-42", "later-42"])
        row = self.wait_session(kind="exec", command="echo served-$((2*21))",
                                timeout=30)
        self.assertEqual(row["exit_status"], 0)


class FullDisk(OutageCase):
    """The database on a 6 MB file system that fills up (the spool on
    another): six logins, one failed, and a terminal printing 1.2 MB while
    nothing can be written to the database. Needs root (mount)."""
    start_gateway = False

    def setUp(self) -> None:
        super().setUp()
        self.fs = self.dir / "dbfs"
        self.fs.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs",
                            str(self.fs)], capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest(f"cannot mount a tmpfs here: {r.stderr.strip()}")
        self.addCleanup(subprocess.run, ["umount", "-l", str(self.fs)],
                        capture_output=True)
        # the database with everything set up, moved onto the small disk
        conn = sqlite3.connect(self.db)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        db = self.fs / "sshgate.db"
        shutil.copy(self.db, db)
        os.chmod(db, 0o600)
        self.db = db
        self.admin = h.Admin(db)
        self.gw = self.gateway(db=db, backend_connect_timeout=5,
                               audit_failure_grace=600,
                               audit_spool=str(self.dir / "audit.spool"))

    def fill_disk(self):
        filler = self.fs / "filler"
        with open(filler, "wb") as f:
            block = b"\0" * 65536
            try:
                while True:
                    f.write(block)
                    f.flush()
            except OSError as e:
                self.assertEqual(e.errno, errno.ENOSPC)
        return filler

    def test_full_disk(self):
        pty = self.pty_session()
        filler = self.fill_disk()
        self.type_line(pty, "full")
        # 1.2 MB of terminal output while the disk is full
        pty.write("head -c 1200000 /dev/zero | tr '\\0' y | fold -w 100; "
                  "echo flood-$((6*7))\n")
        self.assertIsNotNone(pty.read_until("flood-42", timeout=120))
        for i in range(5):
            self.assertRc(self.tssh(f"echo login-{i}", timeout=30), 0)
        bad = self.keygen("stranger")
        self.assertRc(self.tssh("true", keys=[bad], timeout=30), 255)
        self.wait_degraded_in_log()
        pty.write("exit\n")
        self.assertEqual(pty.wait(20), 0)
        os.unlink(filler)
        self.check_recorded(["full-42", "flood-42"])
        for i in range(5):
            self.wait_session(kind="exec", command=f"echo login-{i}",
                              timeout=30)
        self.wait_event("auth.failure", user="alice", timeout=30)

    def wait_degraded_in_log(self):
        self.assertIsNotNone(
            h.wait_for(lambda: "audit: the store takes no writes" in
                       self.gw.log(), 30, 0.5),
            "the gateway never noticed the full disk")


if __name__ == "__main__":
    h.main()
