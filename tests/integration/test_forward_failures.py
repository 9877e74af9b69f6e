#!/usr/bin/env python3
"""Backend failures seen through the gateway: backend down, silent
(banner never comes) or unreachable (SYN never answered), refusing the
gateway's key, presenting another host key (pinned fingerprint, or a key
change after the first-use pin): the client gets one line saying which and
exit 255 within backend_connect_timeout + a margin, an event is written,
and the gateway keeps serving. Also: trust on first use, `host check` /
`host trust`, the client vanishing mid-transfer (the backend command ends)
and the backend vanishing mid-session (the client does not hang)."""

import os
import re
import signal
import threading
import time

import harness as h

CONNECT_TIMEOUT = 3


def accepted_logins(be: h.Backend) -> int:
    return len(re.findall(r"Accepted publickey for ", be.log()))


class BackendFailureCase(h.ForwardTestCase):
    """backend_connect_timeout = CONNECT_TIMEOUT; assertions on how a
    failure reaches the client."""
    CONNECT_TIMEOUT = CONNECT_TIMEOUT

    def setUp(self):
        self.gateway_options = {"backend_connect_timeout": self.CONNECT_TIMEOUT}
        super().setUp()
        # backend_connect_timeout plus a margin for a slow (sanitized) gateway
        self.LIMIT = self.CONNECT_TIMEOUT + h.t(6)

    def add_target(self, name, port):
        self.admin.ok("host", "add", name, "--address", "127.0.0.1", "--port", str(port),
                      "--login", self.login)
        self.admin.grant("alice", name)

    def assertBackendFailure(self, r, host, pattern):
        self.assertRc(r, 255)
        self.assertFalse(r.timed_out, f"\n{r}")
        self.assertEqual(r.out, "", f"\n{r}")
        lines = [l for l in r.err.splitlines() if re.search(pattern, l)]
        self.assertTrue(lines, f"stderr does not say {pattern!r}\n{r}")
        self.assertIn(host, lines[0], f"the message does not name the host\n{r}")
        self.assertLess(r.elapsed, self.LIMIT, f"took too long\n{r}")

    def assertStillServing(self):
        r = self.tssh("echo still-serving")
        self.assertRc(r, 0)
        self.assertEqual(r.out, "still-serving\n")


class Unreachable(BackendFailureCase):

    def test_backend_down(self):
        self.be.stop()
        r = self.tssh("echo no")
        self.assertBackendFailure(r, "web1", r"(?i)connection refused")
        self.wait_event("backend.failure", user="alice", host="web1", reason="refused")
        self.be.start()
        self.assertStillServing()

    def test_client_without_session_channel_is_told(self):
        # ssh -N opens no channel: the gateway disconnects it with the line
        self.be.stop()
        r = self.tssh(None, extra_args=["-N"], timeout=30)
        self.assertBackendFailure(r, "web1", r"(?i)connection refused")
        self.assertIn("Received disconnect", r.err)

    def test_unanswered_connect_times_out(self):
        blackhole = self.silent_listener(full_backlog=True)
        self.add_target("hole", blackhole.port)
        r = self.tssh("echo no", user="alice+hole")
        self.assertBackendFailure(r, "hole", r"(?i)timed out")
        self.assertGreater(r.elapsed, self.CONNECT_TIMEOUT - 0.5, f"ended before the timeout\n{r}")
        self.wait_event("backend.failure", user="alice", host="hole", reason="timeout")
        self.assertStillServing()

    def test_backend_refuses_gateway_key(self):
        other = self.backend()  # its authorized_keys lacks the gateway key
        self.add_target("web3", other.port)
        r = self.tssh("echo no", user="alice+web3")
        self.assertBackendFailure(r, "web3", r"refused the gateway's key")
        self.wait_event("backend.failure", user="alice", host="web3", reason="auth")
        self.assertEqual(accepted_logins(other), 0)
        self.assertStillServing()

    def test_pinned_fingerprint_mismatch(self):
        wrong = self.keygen("not_the_host_key").fingerprint
        self.admin.ok("host", "add", "web4", "--address", "127.0.0.1",
                      "--port", str(self.be.port), "--login", self.login,
                      "--fingerprint", wrong)
        self.admin.grant("alice", "web4")
        before = accepted_logins(self.be)
        r = self.tssh("echo no", user="alice+web4")
        self.assertBackendFailure(r, "web4", r"HOST KEY MISMATCH")
        self.assertEqual(accepted_logins(self.be), before, "logged in despite the mismatch")
        self.wait_event("host.mismatch", host="web4", presented=self.be.fingerprint,
                        pinned=wrong)
        # the pin is untouched
        self.assertEqual(self.admin.json("host", "show", "web4")["hostkey_fingerprint"], wrong)
        self.assertStillServing()


class SilentBackend(BackendFailureCase):
    # long enough for a whole session to run while the silent one waits
    CONNECT_TIMEOUT = 6

    def test_silent_backend_times_out_while_others_work(self):
        silent = self.silent_listener()
        self.add_target("slow", silent.port)
        box = {}
        th = threading.Thread(target=lambda: box.setdefault("r", self.tssh("echo no",
                                                                          user="alice+slow")))
        th.start()
        try:
            self.assertTrue(h.wait_for(lambda: silent.accepted, 10),
                            "the gateway did not connect to the silent backend")
            # a normal session is served while that one waits
            self.assertStillServing()
            self.assertTrue(th.is_alive(), "the slow session ended before the timeout")
        finally:
            th.join(h.t(60))
        r = box["r"]
        self.assertBackendFailure(r, "slow", r"(?i)timed out|timeout")
        self.assertGreater(r.elapsed, self.CONNECT_TIMEOUT - 0.5, f"ended before the timeout\n{r}")
        # a backend that never shows its banner did not answer in time: the
        # operator's event says so like for an unanswered connect
        self.wait_event("backend.failure", user="alice", host="slow", reason="timeout")
        self.assertStillServing()


class HostKeys(h.ForwardTestCase):
    def show(self, name="web1"):
        return self.admin.json("host", "show", name)

    def test_first_use_pins_then_key_change_is_refused(self):
        old = self.be.fingerprint
        self.assertFalse(self.show()["pinned"])
        r = self.tssh("echo first")
        self.assertRc(r, 0)
        self.assertEqual(r.out, "first\n")
        self.wait_event("host.pin", host="web1", key=old)
        host = self.show()
        self.assertTrue(host["pinned"])
        self.assertEqual(host["hostkey_fingerprint"], old)
        self.assertEqual(host["hostkey"].split()[:2], self.be.host_pub.split()[:2])
        r = self.admin.ok("host", "check", "web1")
        self.assertRegex(r.out, rf"^OK: web1 \(127\.0\.0\.1 port {self.be.port}\): host key "
                                rf"ssh-ed25519 {re.escape(old)} matches the pin")
        # the backend gets another host key
        self.be.stop()
        new = self.be.new_host_key().fingerprint
        self.be.start()
        r = self.tssh("echo second")
        self.assertRc(r, 255)
        self.assertEqual(r.out, "")
        self.assertIn("HOST KEY MISMATCH", r.err)
        self.wait_event("host.mismatch", host="web1", presented=new, pinned=old)
        self.assertEqual(self.show()["hostkey_fingerprint"], old)
        r = self.admin.run("host", "check", "web1")
        self.assertRc(r, 1)
        self.assertEqual(r.err, f"sshgate-admin: backend web1: HOST KEY MISMATCH: presented "
                                f"{new}, pinned {old}; refusing to connect\n")
        # the operator verified the change and trusts the new key
        r = self.admin.ok("host", "trust", "web1")
        self.assertEqual(r.out, f"pinned web1: ssh-ed25519 {new} (was {old})\n")
        self.wait_event("admin.host.trust", host="web1", key=new, previous=old)
        r = self.admin.ok("host", "trust", "web1")
        self.assertEqual(r.out, f"web1: host key ssh-ed25519 {new} is already pinned\n")
        r = self.tssh("echo third")
        self.assertRc(r, 0)
        self.assertEqual(r.out, "third\n")

    def test_host_check_reports(self):
        r = self.admin.ok("host", "check", "web1")
        self.assertRegex(r.out, rf"^OK: web1 \(127\.0\.0\.1 port {self.be.port}\): host key "
                                rf"ssh-ed25519 {re.escape(self.be.fingerprint)} ")
        self.assertFalse(self.show()["pinned"], "host check must not pin")
        r = self.admin.run("host", "check", "web1", "--login", "nobody")
        self.assertRc(r, 1)
        self.assertEqual(r.err, "sshgate-admin: backend web1 refused the gateway's key for "
                                "login 'nobody'\n")
        silent = self.closing(h.SilentListener())
        self.admin.ok("host", "add", "slow", "--address", "127.0.0.1", "--port",
                      str(silent.port), "--login", "x")
        r = self.admin.run("host", "check", "slow", "--timeout", "2")
        self.assertRc(r, 1)
        self.assertRegex(r.err, r"^sshgate-admin: backend slow\b.*(?i:timed out|timeout)[^\n]*\n$")
        self.assertLess(r.elapsed, h.t(10))
        r = self.admin.ok("host", "trust", "web1")
        self.assertEqual(r.out, f"pinned web1: ssh-ed25519 {self.be.fingerprint}\n")
        self.be.stop()
        r = self.admin.run("host", "check", "web1")
        self.assertRc(r, 1)
        self.assertEqual(r.err, f"sshgate-admin: backend web1 (127.0.0.1 port {self.be.port}): "
                                "Connection refused\n")


class Credentials(h.ForwardTestCase):
    """Per-host credentials instead of the gateway's backend key."""

    def test_stored_key(self):
        other = self.backend()  # trusts only the host's own key
        own = self.keygen("web5_key")
        other.authorize(own)
        self.admin.ok("host", "add", "web5", "--address", "127.0.0.1", "--port",
                      str(other.port), "--login", self.login, "--key-file", own.path)
        self.admin.grant("alice", "web5")
        host = self.admin.json("host", "show", "web5")
        self.assertEqual((host["auth_method"], host["has_secret"]), ("stored-key", True))
        r = self.tssh("id -un", user="alice+web5")
        self.assertRc(r, 0)
        self.assertEqual(r.out, f"{self.login}\n")
        self.assertIn(f"Accepted publickey for {self.login} ", other.log())
        self.assertIn(own.fingerprint, other.log())
        r = self.admin.ok("host", "check", "web5")
        self.assertRegex(r.out, r"^OK: web5 .* with the stored key$")
        # the gateway key is not what got it in: web1 still uses that one
        r = self.tssh("echo web1")
        self.assertRc(r, 0)

    def test_stored_password_is_sent(self):
        # no password of a real account can be known here: check that the
        # gateway sends the stored password and reports the refusal
        other = self.backend(extra_config=["PasswordAuthentication yes"])
        self.admin.ok("host", "add", "web6", "--address", "127.0.0.1", "--port",
                      str(other.port), "--login", self.login, "--password-stdin",
                      input="not-the-password\n")
        self.admin.grant("alice", "web6")
        host = self.admin.json("host", "show", "web6")
        self.assertEqual((host["auth_method"], host["has_secret"]), ("password", True))
        r = self.tssh("echo no", user="alice+web6")
        self.assertRc(r, 255)
        self.assertEqual(r.out, "")
        self.assertIn(f"refused the gateway's password for login '{self.login}'", r.err)
        self.assertIn(f"Failed password for {self.login} ", other.log())
        self.wait_event("backend.failure", user="alice", host="web6", reason="auth")
        self.assertNotIn("not-the-password", self.gw.log())
        for ev in self.admin.events():
            self.assertNotIn("not-the-password", ev["detail"])


class Vanishing(h.ForwardTestCase):
    @staticmethod
    def kill_pid(pid):
        """End a backend command left behind by a test (by its PID)."""
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def wait_pid(self, pidfile):
        h.wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), 20)
        pid = int(pidfile.read_text())
        self.assertTrue(h.pid_alive(pid))
        return pid

    def assertStillServing(self):
        r = self.tssh("echo still-serving")
        self.assertRc(r, 0)
        self.assertEqual(r.out, "still-serving\n")

    def test_client_killed_during_download(self):
        pidfile = self.dir / "yes.pid"
        argv = self.tssh_argv(f"echo $$ > {pidfile}; exec yes sshgate-download")
        proc = self.background(argv, "download", stdout=h.subprocess.PIPE)
        got = 0
        deadline = time.monotonic() + h.t(20)
        while got < (1 << 20) and time.monotonic() < deadline:
            chunk = proc.stdout.read1(65536)
            if not chunk:
                break
            got += len(chunk)
        self.assertGreaterEqual(got, 1 << 20, f"the download did not start:\n{proc.err()}")
        pid = self.wait_pid(pidfile)
        h.kill_process(proc)  # SIGKILL: the client vanishes
        self.assertTrue(h.wait_for(lambda: not h.pid_alive(pid), 10),
                        "the backend command survived the client")
        self.wait_event("session.end", user="alice")
        self.assertStillServing()

    def test_client_killed_during_upload(self):
        pidfile = self.dir / "cat.pid"
        argv = self.tssh_argv(f"echo $$ > {pidfile}; exec cat > /dev/null")
        proc = self.background(argv, "upload", stdin=h.subprocess.PIPE)
        stop = threading.Event()

        def feed():
            block = b"\0" * 65536
            try:
                while not stop.is_set():
                    proc.stdin.write(block)
            except (BrokenPipeError, OSError, ValueError):
                pass
        th = threading.Thread(target=feed, daemon=True)
        th.start()
        pid = self.wait_pid(pidfile)
        time.sleep(0.5)
        self.assertIsNone(proc.poll(), proc.err())
        h.kill_process(proc)
        stop.set()
        self.assertTrue(h.wait_for(lambda: not h.pid_alive(pid), 10),
                        "the backend command survived the client")
        self.assertStillServing()

    def test_backend_session_killed(self):
        # kill -9 of the backend's sshd session process: the backend
        # connection drops under the gateway
        marker = self.dir / "reached"
        r = self.tssh(f"echo $$ > {marker}; kill -9 $PPID; exec sleep 30", timeout=60)
        self.assertTrue(marker.exists(), f"the command did not run\n{r}")
        self.addCleanup(self.kill_pid, int(marker.read_text()))
        self.assertRc(r, 255)
        self.assertIn("sshgate: connection to web1 lost", r.err)
        self.assertFalse(r.timed_out)
        self.assertLess(r.elapsed, h.t(10), f"the client noticed only late\n{r}")
        self.assertStillServing()

    def test_backend_stopped_mid_session(self):
        argv = self.tssh_argv("echo go; exec sleep 60")
        proc = self.background(argv, "held", stdout=h.subprocess.PIPE)
        line = proc.stdout.readline()
        self.assertEqual(line, b"go\n", proc.err())
        self.be.stop()
        try:
            rc = proc.wait(timeout=h.t(10))
        except h.subprocess.TimeoutExpired:
            self.fail("the client hangs after the backend went away")
        self.assertEqual(rc, 255, proc.err())
        self.assertIn("sshgate: connection to web1 lost", proc.err())
        self.be.start()
        self.assertStillServing()


if __name__ == "__main__":
    h.main()
