#!/usr/bin/env python3
"""The sessions audit (docs/audit-schema.md) written by sshgated: one row
per relayed channel with its kind, command, bytes, exit status and end
reason; rows a killed daemon left open closed at the next start."""

import hashlib
import os
import re
import signal
import time

import harness as h


class Sessions(h.ForwardTestCase):
    def test_exec_row(self):
        payload = bytes(range(256)) * 37 + b"tail"
        r = self.tssh("cat", input=payload, timeout=60)
        self.assertRc(r, 0)
        self.assertEqual(r.out_bytes, payload)
        row = self.wait_session(kind="exec", command="cat")
        self.assertEqual(row["user"], "alice")
        self.assertEqual(row["host"], "web1")
        self.assertEqual(row["login"], self.login)
        self.assertEqual(row["exit_status"], 0)
        self.assertIsNone(row["exit_signal"])
        self.assertEqual(row["bytes_up"], len(payload))
        self.assertEqual(row["bytes_down"], len(payload))
        self.assertFalse(row["pty"])
        self.assertRegex(row["client"], r"^127\.0\.0\.1:\d+$")
        self.assertRegex(row["conn"], r"^[0-9a-f]+-\d+$")
        # the command ended on its own: the backend closed the channel
        self.assertEqual(row["end_reason"], "backend closed")
        self.wait_event("session.start", user="alice", kind="exec",
                        session=str(row["id"]))
        self.wait_event("session.end", user="alice", session=str(row["id"]),
                        exit_status="0", bytes_up=str(len(payload)))

    def test_exit_code_and_signal(self):
        r = self.tssh("exit 3")
        self.assertRc(r, 3)
        row = self.wait_session(kind="exec", command="exit 3")
        self.assertEqual(row["exit_status"], 3)
        r = self.tssh("kill -TERM $$")
        self.assertRc(r, 255)
        row = self.wait_session(kind="exec", command="kill -TERM $$")
        self.assertIsNone(row["exit_status"])
        self.assertEqual(row["exit_signal"], "TERM")

    def test_sftp_row_and_transfers(self):
        data = os.urandom(70000)
        src = self.dir / "up.bin"
        src.write_bytes(data)
        remote = self.dir / "remote"
        remote.mkdir()
        got = self.dir / "got.bin"
        batch = (f"put {src} {remote}/up.bin\n"
                 f"get {remote}/up.bin {got}\n"
                 f"rm {remote}/up.bin\n")
        r = h.sftp_batch(self.gw.port, "alice+web1", [self.alice_key], batch,
                         self.dir)
        self.assertRc(r, 0)
        self.assertEqual(got.read_bytes(), data)
        row = self.wait_session(kind="sftp")
        self.assertEqual(row["command"], "sftp")
        self.assertGreater(row["bytes_up"], len(data))
        self.assertGreater(row["bytes_down"], len(data))
        # sftp-server exits on the client's EOF: the backend closes first
        self.assertEqual(row["end_reason"], "backend closed")
        show = self.admin.json("session", "show", str(row["id"]))
        self.assertEqual(show["transfers"], 3, f"{show}")
        ops = {(t["operation"], t["path"]): t for t in show["file_transfers"]}
        digest = hashlib.sha256(data).hexdigest()
        put = ops[("write", f"{remote}/up.bin")]
        self.assertEqual((put["bytes_written"], put["sha256"], put["status"]),
                         (len(data), digest, "ok"), f"{show}")
        get = ops[("read", f"{remote}/up.bin")]
        self.assertEqual((get["bytes_read"], get["sha256"], get["status"]),
                         (len(data), digest, "ok"), f"{show}")
        self.assertIn(("remove", f"{remote}/up.bin"), ops)

    def test_scp_upload_sha256(self):
        # OpenSSH 9.2's scp (SFTP mode) opens the file WRITE|CREAT without
        # TRUNC, writes it in order and then truncates it with an FSETSTAT
        # to the size written: the row must still carry the file's sha256,
        # for a new file and over a longer file that the truncate cuts
        data = os.urandom(300000)
        digest = hashlib.sha256(data).hexdigest()
        src = self.dir / "scp-up.bin"
        src.write_bytes(data)
        remote = self.dir / "remote"
        remote.mkdir()
        (remote / "old.bin").write_bytes(os.urandom(500000))
        seen = set()
        for name in ("new.bin", "old.bin"):
            r = h.scp(self.gw.port, [self.alice_key],
                      [str(src), f"alice+web1@127.0.0.1:{remote}/{name}"])
            self.assertRc(r, 0)
            self.assertEqual((remote / name).read_bytes(), data)
            # this upload's row, once ended (its file rows are written by then)
            row = h.wait_for(lambda: next(
                (x for x in self.sessions(kind="sftp")
                 if x["id"] not in seen and x["ended_at"] is not None), None),
                10, 0.2)
            self.assertIsNotNone(row, f"no sftp row:\n{self.sessions()}")
            seen.add(row["id"])
            show = self.admin.json("session", "show", str(row["id"]))
            writes = [t for t in show["file_transfers"]
                      if t["operation"] == "write"]
            self.assertEqual(len(writes), 1, f"{show}")
            self.assertEqual(
                (writes[0]["path"], writes[0]["bytes_written"],
                 writes[0]["sha256"], writes[0]["status"]),
                (f"{remote}/{name}", len(data), digest, "ok"), f"{show}")
            # the truncate itself is a row of its own
            self.assertIn(("fsetstat", f"{remote}/{name}"),
                          [(t["operation"], t["path"])
                           for t in show["file_transfers"]], f"{show}")
            text = self.admin.ok("session", "show", str(row["id"])).out
            self.assertIn(f"write {remote}/{name} read=0 written={len(data)} "
                          f"sha256={digest} ok", text)

    def test_scp_legacy_upload_row(self):
        # scp -O speaks the old scp protocol over an exec channel: no sftp
        # audit, so the row is an exec with its command and no file rows
        data = os.urandom(120000)
        src = self.dir / "scp-O.bin"
        src.write_bytes(data)
        remote = self.dir / "remote"
        remote.mkdir()
        r = h.scp(self.gw.port, [self.alice_key],
                  [str(src), f"alice+web1@127.0.0.1:{remote}/up-O.bin"],
                  legacy=True)
        self.assertRc(r, 0)
        self.assertEqual((remote / "up-O.bin").read_bytes(), data)
        row = self.wait_session(kind="exec")
        self.assertRegex(row["command"], rf"^scp .*-t .*{remote}/up-O\.bin$")
        self.assertEqual(row["exit_status"], 0)
        self.assertGreater(row["bytes_up"], len(data))
        show = self.admin.json("session", "show", str(row["id"]))
        self.assertEqual((show["transfers"], show["file_transfers"]), (0, []),
                         f"{show}")

    def test_proxyjump_row(self):
        cfg = self.dir / "jump_config"
        cfg.write_text(
            "Host gwjump\n  HostName 127.0.0.1\n"
            f"  Port {self.gw.port}\n  User alice\n"
            f"  IdentityFile {self.alice_key.path}\n"
            "Host *\n  BatchMode yes\n  StrictHostKeyChecking no\n"
            "  UserKnownHostsFile /dev/null\n")
        argv = [h.SSH, "-F", str(cfg), "-J", "gwjump", "-p", str(self.be.port),
                "-i", self.direct_key().path, f"{self.login}@127.0.0.1",
                "echo via-jump"]
        r = h.run(argv, env=h.ssh_env(), timeout=60)
        self.assertRc(r, 0)
        row = self.wait_session(kind="direct-tcpip")
        self.assertEqual(row["command"], f"127.0.0.1:{self.be.port}")
        self.assertEqual(row["user"], "alice")
        self.assertGreater(row["bytes_up"], 0)
        self.assertGreater(row["bytes_down"], 0)

    def test_bytes_flushed_while_open(self):
        # 3000 bytes down, then the session stays open: the counters reach
        # the row within ~10 s (the flush period), not only at the end
        proc = self.background(
            self.tssh_argv("head -c 3000 /dev/zero; sleep 60"), "flusher")
        row = self.wait_session(ended=False, kind="exec",
                                command="head -c 3000 /dev/zero; sleep 60")
        got = h.wait_for(
            lambda: [r for r in self.sessions(id=row["id"])
                     if r["bytes_down"] == 3000], 20, 0.5)
        self.assertTrue(got, f"bytes not flushed: {self.sessions(id=row['id'])}")
        self.assertIsNone(got[0]["ended_at"])
        h.kill_process(proc)
        ended = self.wait_session(id=row["id"])
        self.assertEqual(ended["bytes_down"], 3000)

    def test_session_kill(self):
        proc = self.background(self.tssh_argv("sleep 60"), "victim")
        row = self.wait_session(ended=False, kind="exec", command="sleep 60")
        start = time.monotonic()
        r = self.admin.ok("session", "kill", str(row["id"]))
        self.assertIn(str(row["id"]), r.out)
        rc = proc.wait(timeout=h.t(10))
        self.assertLess(time.monotonic() - start, h.t(2.5),
                        "the killed session did not end within ~2 s")
        self.assertNotEqual(rc, 0)
        ended = self.wait_session(id=row["id"], timeout=3)
        self.assertEqual(ended["end_reason"], "killed by admin")
        self.wait_event("admin.session.kill", session=str(row["id"]))
        self.wait_event("session.end", session=str(row["id"]),
                        reason="~killed")
        # an ended session cannot be killed again; an unknown one neither
        self.assertNotEqual(self.admin.run("session", "kill",
                                           str(row["id"])).rc, 0)
        self.assertNotEqual(self.admin.run("session", "kill", "999999").rc, 0)

    def test_kill_9_then_restart_closes_the_row(self):
        proc = self.background(self.tssh_argv("sleep 60"), "sleeper")
        row = self.wait_session(ended=False, kind="exec", command="sleep 60")
        self.gw.signal(signal.SIGKILL)
        self.gw.wait_exit(10)
        self.gw.stop(expect_rc=None)
        h.kill_process(proc)
        self.gw.start()
        self.gw.wait_log(r"closed 1 session left open by the last run")
        ended = [r for r in self.sessions(id=row["id"])][0]
        self.assertEqual(ended["end_reason"], "gateway restart")
        self.assertIsNotNone(ended["ended_at"])
        self.wait_event("session.end", session=str(row["id"]),
                        reason="~gateway")
        r = self.admin.ok("audit", "verify")
        self.assertTrue(r.out.startswith("audit chain intact"), f"\n{r}")

    def test_kill_9_mid_upload_leaves_the_file_incomplete(self):
        # kill -9 during an sftp upload: the file in flight keeps its row,
        # written when the server answered the OPEN, as "incomplete"; the
        # session is closed at the next start. Then an upload that ends
        # leaves one row for its file, completed in place. A sparse 1 GiB
        # source read at 40 Mbit/s (sftp -l) is still far from done when
        # the backend's copy has passed 4 MB.
        src = self.dir / "huge.bin"
        with open(src, "wb") as f:
            f.truncate(1 << 30)
        remote = self.dir / "remote"
        remote.mkdir()
        dest = remote / "huge.bin"
        batch = self.dir / "put-huge"
        batch.write_text(f"put {src} {dest}\n")
        proc = self.background(
            [h.SFTP, "-P", str(self.gw.port), "-l", "40000", "-b", str(batch)]
            + h.ssh_options([self.alice_key]) + ["alice+web1@127.0.0.1"],
            "sftp-huge")
        row = self.wait_session(ended=False, kind="sftp", timeout=20)

        def in_flight():
            rows = self.admin.json("session", "show",
                                   str(row["id"]))["file_transfers"]
            return [t for t in rows if t["path"] == str(dest)]
        # the row is there while the file is being written, before any CLOSE
        early = self.eventually(in_flight, 20,
                                msg="no row for the file in flight")
        self.assertEqual((early[0]["operation"], early[0]["status"]),
                         ("write", "incomplete"), f"{early}")
        grown = h.wait_for(
            lambda: dest.exists() and dest.stat().st_size > 4 << 20, 60, 0.05)
        self.assertTrue(grown, f"the upload did not start:\n{proc.err()}")
        self.assertIsNone(proc.poll(), "the upload ended before the kill")
        self.gw.signal(signal.SIGKILL)
        self.gw.wait_exit(10)
        self.gw.stop(expect_rc=None)
        h.kill_process(proc)
        self.assertLess(dest.stat().st_size, 1 << 30)
        self.gw.start()
        self.gw.wait_log(r"closed 1 session left open by the last run")
        ended = self.sessions(id=row["id"])[0]
        self.assertEqual(ended["end_reason"], "gateway restart")
        show = self.admin.json("session", "show", str(row["id"]))
        files = [t for t in show["file_transfers"] if t["path"] == str(dest)]
        self.assertEqual(len(files), 1, f"{show}")
        self.assertEqual(
            (files[0]["operation"], files[0]["status"], files[0]["sha256"]),
            ("write", "incomplete", None), f"{show}")
        text = self.admin.ok("session", "show", str(row["id"])).out
        self.assertRegex(text, rf"write {re.escape(str(dest))} read=0 "
                               r"written=\d+ sha256=- incomplete\n")

        # the same through the restarted gateway, to the end this time
        data = os.urandom(3 << 20)
        small = self.dir / "small.bin"
        small.write_bytes(data)
        r = h.sftp_batch(self.gw.port, "alice+web1", [self.alice_key],
                         f"put {small} {remote}/small.bin\n", self.dir)
        self.assertRc(r, 0)
        self.assertEqual((remote / "small.bin").read_bytes(), data)
        done = h.wait_for(lambda: next(
            (x for x in self.sessions(kind="sftp")
             if x["id"] != row["id"] and x["ended_at"] is not None), None),
            10, 0.2)
        self.assertIsNotNone(done, f"no second sftp row:\n{self.sessions()}")
        show = self.admin.json("session", "show", str(done["id"]))
        files = [t for t in show["file_transfers"]
                 if t["path"] == f"{remote}/small.bin"]
        digest = hashlib.sha256(data).hexdigest()
        self.assertEqual(len(files), 1, f"{show}")
        self.assertEqual(
            (files[0]["operation"], files[0]["bytes_written"],
             files[0]["sha256"], files[0]["status"]),
            ("write", len(data), digest, "ok"), f"{show}")
        self.assertEqual(show["transfers"], 1, f"{show}")


if __name__ == "__main__":
    h.main()
