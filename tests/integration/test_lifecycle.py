#!/usr/bin/env python3
"""Daemon life cycle: SIGTERM drain, SIGHUP reload, --check-config, command
line overrides, host key persistence, version string and banner."""

import re
import signal
import socket
import time

import harness as h

DISCONNECT = r"Received disconnect from 127\.0\.0\.1"


def keyscan_fingerprints(port: int) -> set[str]:
    r = h.run([h.SSH_KEYSCAN, "-p", str(port), "-T", "10", "127.0.0.1"], timeout=30)
    lines = [l for l in r.out.splitlines() if l and not l.startswith("#")]
    if not lines:
        raise AssertionError(f"ssh-keyscan found no host key:\n{r}")
    fl = h.run([h.SSH_KEYGEN, "-l", "-E", "sha256", "-f", "-"],
               input="\n".join(lines) + "\n", timeout=30)
    return set(re.findall(r"SHA256:[A-Za-z0-9+/]+", fl.out))


def new_connection_refused(port: int, timeout: float) -> bool:
    """True when a new TCP connection is refused or closed without the
    server ever authenticating anyone (within timeout)."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=3)
    except (ConnectionRefusedError, OSError):
        return True
    with s:
        _, closed = h.read_until_closed(s, timeout)
        return closed is not None


class Shutdown(h.TestCase):
    def setUp(self):
        super().setUp()
        self.make_alice()

    def test_sigterm_without_sessions_exits_promptly(self):
        gw = self.gateway(shutdown_grace=30)
        self.assert_alice_hosts(self.alice_login(gw))
        t0 = time.monotonic()
        gw.signal(signal.SIGTERM)
        rc = gw.wait_exit(h.t(8))
        self.assertIsNotNone(rc, "sshgated with no sessions should not wait out shutdown_grace")
        self.assertEqual(rc, 0, gw.log_tail())
        self.assertLess(time.monotonic() - t0, h.t(8))
        self.assertTrue(h.wait_port_closed(gw.port, 2), "port still accepting after exit")

    def test_sigterm_drains_then_closes(self):
        grace = 4
        gw = self.gateway(shutdown_grace=grace)
        held = h.ssh_hold(gw.port, "alice", [self.alice_key], self.dir)
        raw = self.connect(gw.port)
        t0 = time.monotonic()
        gw.signal(signal.SIGTERM)
        time.sleep(0.7)
        self.assertTrue(gw.alive(), "sshgated exited at once despite an open session")
        self.assertTrue(held.alive(), f"the open session was cut at once:\n{held.err()}")
        # no new connections after SIGTERM
        self.assertTrue(new_connection_refused(gw.port, 3),
                        "a new connection was accepted after SIGTERM")
        r = self.alice_login(gw, timeout=20)
        self.assertRc(r, 255)
        self.assertEqual(r.out, "")
        rc = gw.wait_exit(grace + h.t(15))
        elapsed = time.monotonic() - t0
        self.assertIsNotNone(rc, f"sshgated still running {elapsed:.1f}s after SIGTERM\n"
                             f"{gw.log_tail()}")
        self.assertEqual(rc, 0, gw.log_tail())
        self.assertGreaterEqual(elapsed, grace - 1.0,
                                f"exited after {elapsed:.1f}s, before shutdown_grace={grace}")
        # the held client notices the close promptly
        self.assertIsNotNone(held.wait(h.t(10)), "ssh -N still connected after daemon exit")
        self.assertTrue(h.wait_port_closed(gw.port, 2))
        _, closed = h.read_until_closed(raw, 5)
        self.assertIsNotNone(closed)
        # the end of the held session is recorded with the reason
        ends = [e for e in self.admin.events(kind="conn.close") if e["user"] == "alice"]
        self.assertTrue(any(re.search(r"(?i)shut|stop", e["detail"]) for e in ends),
                        f"conn.close for the drained session should say why: {ends}")

    def test_second_sigterm_closes_at_once(self):
        gw = self.gateway(shutdown_grace=60)
        held = h.ssh_hold(gw.port, "alice", [self.alice_key], self.dir)
        gw.signal(signal.SIGTERM)
        time.sleep(0.5)
        self.assertTrue(gw.alive())
        t0 = time.monotonic()
        gw.signal(signal.SIGTERM)
        rc = gw.wait_exit(h.t(10))
        self.assertEqual(rc, 0, gw.log_tail())
        self.assertLess(time.monotonic() - t0, h.t(10))
        self.assertIsNotNone(held.wait(h.t(10)))

    def test_sigint_also_stops(self):
        gw = self.gateway(shutdown_grace=10)
        gw.signal(signal.SIGINT)
        rc = gw.wait_exit(h.t(10))
        self.assertEqual(rc, 0, gw.log_tail())


class Reload(h.TestCase):
    def setUp(self):
        super().setUp()
        self.make_alice()

    def test_sighup_blocked_clients(self):
        gw = self.gateway()
        pid = gw.pid
        self.assert_alice_hosts(self.alice_login(gw))
        gw.reload(blocked_clients="127.0.0.0/8")
        self.assertTrue(gw.alive())
        self.assertEqual(gw.pid, pid)
        r = self.alice_login(gw)
        self.assertRefused(r, DISCONNECT)
        gw.reload(blocked_clients=None)
        self.assert_alice_hosts(self.alice_login(gw))

    def test_sighup_auth_methods(self):
        gw = self.gateway(auth_methods="publickey,password")
        r = h.ssh_password(gw.port, "alice", self.alice_password, self.dir, "hosts")
        self.assert_alice_hosts(r)
        gw.reload(auth_methods="publickey")
        r = h.ssh_password(gw.port, "alice", self.alice_password, self.dir, "hosts")
        self.assertRefused(r, r"Permission denied \(publickey\)")
        self.assert_alice_hosts(self.alice_login(gw))

    def test_sighup_max_auth_attempts(self):
        gw = self.gateway(max_auth_attempts=6, lockout_threshold=1000)
        wrong = [self.keygen(f"wrong{i}") for i in range(3)]
        keys = wrong + [self.alice_key]
        self.assert_alice_hosts(gw.ssh("alice", "hosts", keys=keys))
        gw.reload(max_auth_attempts=2)
        r = gw.ssh("alice", "hosts", keys=keys)
        self.assertRefused(r, DISCONNECT)

    def test_sighup_keeps_established_sessions(self):
        gw = self.gateway()
        held = h.ssh_hold(gw.port, "alice", [self.alice_key], self.dir)
        gw.reload(max_auth_attempts=3)
        time.sleep(1)
        self.assertTrue(held.alive(), f"reload dropped an established session:\n{held.err()}")
        self.assert_alice_hosts(self.alice_login(gw))

    def test_sighup_with_broken_config_keeps_old_one(self):
        gw = self.gateway(max_auth_attempts=6)
        gw.reload(max_connections="banana", settle=2)
        self.assertTrue(gw.alive(), "a bad config on SIGHUP must not kill the daemon")
        self.assert_alice_hosts(self.alice_login(gw))
        gw.reload(max_connections=100)
        self.assert_alice_hosts(self.alice_login(gw))


class StartFailures(h.TestCase):
    def _expect_start_failure(self, gw, pattern):
        argv = [gw.binary, "-f", str(gw.config_path), "--foreground"]
        r = h.run(argv, timeout=30)
        self.assertFalse(r.timed_out, f"sshgated hung instead of failing\n{r}")
        self.assertNotEqual(r.rc, 0, f"\n{r}")
        self.assertRegex(r.err + r.out, pattern, f"\n{r}")
        self.assertFalse(h.sanitizer_re().search(r.err), r.err)

    def test_port_in_use(self):
        gw = self.gateway(start=False)
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", gw.port))
            s.listen(1)
            self._expect_start_failure(gw, rf"127\.0\.0\.1.*{gw.port}|(?i:address already in use)")

    def test_uninitialised_database(self):
        gw = self.gateway(start=False, db=str(self.dir / "empty.db"))
        self._expect_start_failure(gw, r"(?i)init|host key|database")

    def test_unreadable_config(self):
        gw = self.gateway(start=False)
        gw.config_path.write_text("listen = 127.0.0.1:1\nthis is not a setting\n")
        self._expect_start_failure(gw, r"sshgated\.conf|line 2|:2")


class Options(h.TestCase):
    def setUp(self):
        super().setUp()
        self.make_alice()

    def _check(self, gw):
        return h.run([gw.binary, "-f", str(gw.config_path), "--check-config"], timeout=60)

    def test_check_config(self):
        gw = self.gateway(start=False, max_connections=50, blocked_clients="10.0.0.0/8",
                          auth_methods="publickey,password")
        r = self._check(gw)
        self.assertRc(r, 0)
        self.assertFalse(h.sanitizer_re().search(r.err), r.err)
        # it only checks: nothing is listening afterwards
        self.assertTrue(h.wait_port_closed(gw.port, 1))
        # a database without host keys is a configuration error too
        gw.write_config(db=str(self.dir / "uninitialised.db"))
        r = self._check(gw)
        self.assertNotEqual(r.rc, 0, f"--check-config passed without host keys\n{r}")
        gw.write_config(db=str(self.db))
        for key, bad in (("max_connections", "banana"), ("max_connections", "-5"),
                         ("blocked_clients", "10.0.0.0/99"), ("listen", "127.0.0.1:99999"),
                         ("auth_methods", "telepathy"), ("no_such_option", "1")):
            gw.write_config(**{key: bad})
            r = self._check(gw)
            self.assertNotEqual(r.rc, 0, f"{key} = {bad} accepted\n{r}")
            self.assertIn(key, r.err + r.out, f"the error should name {key}\n{r}")
            self.assertFalse(h.sanitizer_re().search(r.err), r.err)
            gw.write_config(**{key: None})
        self.assertRc(self._check(gw), 0)

    def test_command_line_overrides_config(self):
        gw = self.gateway(start=False)
        other = h.free_port()
        gw.write_config(listen=f"127.0.0.1:{other}", db=str(self.dir / "missing" / "x.db"))
        gw.start(extra_args=["--listen", f"127.0.0.1:{gw.port}", "--db", str(self.db)])
        self.assert_alice_hosts(self.alice_login(gw))
        self.assertTrue(h.wait_port_closed(other, 1), "the config's listen was used too")

    def test_host_key_persists_and_matches_keys_show(self):
        gw = self.gateway()
        before = keyscan_fingerprints(gw.port)
        shown = self.admin.ok("keys", "show").out
        for fp in before:
            self.assertIn(fp, shown, "`keys show` should list the host key the daemon serves")
        self.assertNotIn("PRIVATE KEY", shown)
        gw.stop()
        gw2 = self.gateway()
        self.assertEqual(keyscan_fingerprints(gw2.port), before,
                         "host keys must come from the database, stable across restarts")

    def test_server_version(self):
        gw = self.gateway(server_version="ItGate_7.1")
        s = self.connect(gw.port)
        ident = h.read_line(s, h.t(10)).rstrip(b"\r\n")
        self.assertEqual(ident, b"SSH-2.0-ItGate_7.1")

    def test_banner(self):
        banner = self.dir / "banner.txt"
        banner.write_text("AUTHORIZED ACCESS ONLY - it-banner-4711\n")
        gw = self.gateway(banner=str(banner))
        r = self.alice_login(gw)
        self.assert_alice_hosts(r)
        self.assertIn("it-banner-4711", r.err)


if __name__ == "__main__":
    h.main()
