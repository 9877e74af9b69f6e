#!/usr/bin/env python3
"""Self-tests of the harness: the OpenSSH backend fixture (used by the
forwarding tests), process clean-up, and the sanitizer log check. They do
not need sshgated beyond `sshgate-admin init`."""

import os
import re
import signal
import time

import harness as h


class BackendFixture(h.TestCase):
    init_db = False

    def test_login_exec_and_exit_status(self):
        be = self.backend()
        key = self.keygen("k")
        be.authorize(key)
        r = be.ssh("echo hello; id -un; exit 7", keys=[key])
        self.assertRc(r, 7)
        self.assertEqual(r.out.splitlines(), ["hello", be.login])
        r = be.ssh("cat", keys=[key], input="x" * 100000)
        self.assertRc(r, 0)
        self.assertEqual(len(r.out), 100000)

    def test_unknown_key_refused(self):
        be = self.backend()
        be.authorize(self.keygen("k"))
        r = be.ssh("true", keys=[self.keygen("other")])
        self.assertRefused(r, r"Permission denied")

    def test_host_key_fingerprint_matches_scan(self):
        be = self.backend()
        r = h.run([h.SSH_KEYSCAN, "-p", str(be.port), "-t", "ed25519", "127.0.0.1"])
        line = [l for l in r.out.splitlines() if l and not l.startswith("#")][0]
        self.assertEqual(line.split()[1:3], be.host_pub.split()[0:2])
        self.assertRegex(be.fingerprint, r"^SHA256:[A-Za-z0-9+/]{43}$")

    def test_sftp_and_forwarding_enabled(self):
        be = self.backend()
        key = self.keygen("k")
        be.authorize(key)
        target = self.dir / "sftp-test.txt"
        batch = self.dir / "batch"
        batch.write_text(f"put {batch} {target}\n")
        r = h.run(["sftp", "-F", "/dev/null", "-P", str(be.port), "-b", str(batch),
                   "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                   "-o", "UserKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes",
                   "-i", key.path, f"{be.login}@127.0.0.1"], env=h.ssh_env())
        self.assertRc(r, 0)
        self.assertTrue(target.exists())
        # -W (direct-tcpip) through the backend to its own port
        r = be.ssh(None, keys=[key], extra_args=["-W", f"127.0.0.1:{be.port}"],
                   input="SSH-2.0-probe\r\n", timeout=20)
        self.assertIn("SSH-2.0-OpenSSH", r.out)

    def test_two_backends_and_stop_cleans_children(self):
        a = self.backend()
        b = self.backend()
        self.assertNotEqual(a.port, b.port)
        key = self.keygen("k")
        a.authorize(key)
        held = h.ssh_hold(a.port, a.login, [key], self.dir)
        kids = h.descendants(a.proc.pid)
        self.assertTrue(kids, "sshd should have a per-connection child")
        a.stop()
        self.assertIsNotNone(held.wait(h.t(10)), "client still connected after backend stop")
        time.sleep(0.2)
        for pid in kids:
            self.assertFalse(h.pid_alive(pid), f"sshd child {pid} survived stop()")
        self.assertTrue(b.alive())


class Harness(h.TestCase):
    init_db = False

    def test_sanitizer_patterns(self):
        rx = h._SANITIZER_RE
        self.assertTrue(rx.search("==1==ERROR: AddressSanitizer: heap-use-after-free on"))
        self.assertTrue(rx.search("conn.c:12:5: runtime error: signed integer overflow"))
        self.assertTrue(rx.search("==1==ERROR: LeakSanitizer: detected memory leaks"))
        self.assertFalse(rx.search("sshgated[info] connection closed: runtime ok"))
        self.assertFalse(h._SANITIZER_NO_LEAKS_RE.search(
            "==1==ERROR: LeakSanitizer: detected memory leaks"))

    def test_run_kills_process_group_on_timeout(self):
        marker = self.dir / "child.pid"
        t0 = time.monotonic()
        r = h.run(["sh", "-c", f"sleep 30 & echo $! > {marker}; wait"], timeout=1)
        self.assertTrue(r.timed_out)
        self.assertLess(time.monotonic() - t0, 10)
        pid = int(marker.read_text())
        time.sleep(0.2)
        self.assertFalse(h.pid_alive(pid), "the grandchild of a timed-out command survived")

    def test_gateway_stop_reports_sanitizer_output(self):
        # a stand-in daemon that prints the ready line, then a UBSan report
        fake = self.dir / "fake-sshgated"
        fake.write_text("#!/bin/sh\nfor a; do :; done\n"
                        "port=$(sed -n 's/^listen = 127.0.0.1://p' \"$2\")\n"
                        "echo \"listening on 127.0.0.1:$port\" >&2\n"
                        "trap 'echo \"x.c:1:1: runtime error: boom\" >&2; exit 0' TERM\n"
                        "while :; do sleep 0.1; done\n")
        fake.chmod(0o755)
        old = os.environ.get("SSHGATED")
        os.environ["SSHGATED"] = str(fake)
        try:
            gw = h.Gateway(self.dir, self.dir / "none.db")
        finally:
            if old is None:
                del os.environ["SSHGATED"]
            else:
                os.environ["SSHGATED"] = old
        gw.start()
        with self.assertRaisesRegex(h.GatewayError, "runtime error"):
            gw.stop()


if __name__ == "__main__":
    h.main()
