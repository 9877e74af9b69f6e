#!/usr/bin/env python3
"""Hostile clients: after each abuse the daemon is still alive, still serves
a normal key login, its log has no sanitizer report, and the audit chain
still verifies."""

import os
import socket
import struct
import threading
import time

import harness as h


class Hostile(h.TestCase):
    def setUp(self):
        super().setUp()
        self.make_alice()
        self.gw = self.gateway(login_grace_time=10, lockout_threshold=1000,
                               max_unauth_per_source=200, max_unauth_connections=200)

    def tearDown(self):
        # the common post-condition of every test here
        self.assertTrue(self.gw.alive(), f"sshgated died:\n{self.gw.log_tail()}")
        self.assert_alice_hosts(self.alice_login(self.gw))
        # the daemon writes events asynchronously; verify once they settled
        # (verifying during writes is test_audit_verify_while_daemon_writes)
        self.settle_events()
        self.assertRc(self.admin.run("audit", "verify"), 0)
        self.assertEqual(self.gw.sanitizer_problems(), [])
        super().tearDown()

    def _send_and_expect_close(self, data: bytes, read_ident: bool = False,
                               timeout: float = 15) -> bytes:
        s = self.connect(self.gw.port)
        ident = b""
        if read_ident:
            ident = h.read_line(s, h.t(10))
            self.assertTrue(ident.startswith(b"SSH-2.0-"), ident)
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return ident
        rest, closed = h.read_until_closed(s, h.t(timeout))
        self.assertIsNotNone(closed, f"server kept the connection open after {data[:40]!r}...")
        return ident + rest

    def test_random_bytes(self):
        self._send_and_expect_close(os.urandom(64 * 1024))

    def test_random_bytes_after_ident(self):
        self._send_and_expect_close(b"SSH-2.0-Garbage\r\n" + os.urandom(32 * 1024),
                                    read_ident=True)

    def test_truncated_banner(self):
        s = self.connect(self.gw.port)
        s.sendall(b"SSH-2.0-")
        s.shutdown(socket.SHUT_WR)
        _, closed = h.read_until_closed(s, h.t(15))
        self.assertIsNotNone(closed)

    def test_truncated_banner_abrupt_close(self):
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=5)
            s.sendall(b"SSH-2.0-")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # RST

    def test_ssh1_banner(self):
        self._send_and_expect_close(b"SSH-1.5-OldClient\r\n")

    def test_endless_banner_line(self):
        self._send_and_expect_close(b"SSH-2.0-" + b"A" * (300 * 1024))

    def test_many_pre_banner_lines(self):
        self._send_and_expect_close(b"hello there\r\n" * 5000)

    def test_absurd_packet_length(self):
        self._send_and_expect_close(b"SSH-2.0-Evil\r\n" + struct.pack(">I", 0xFFFFFFFF)
                                    + b"\x04" + os.urandom(64), read_ident=True)

    def test_zero_and_tiny_packet_lengths(self):
        for length in (0, 1, 4, 5):
            self._send_and_expect_close(b"SSH-2.0-Evil\r\n" + struct.pack(">IB", length, 4)
                                        + os.urandom(32), read_ident=True)

    def test_bad_kexinit(self):
        # a well-formed packet carrying a KEXINIT nobody can agree with
        lists = [b"nope-kex", b"nope-key", b"nope-cipher", b"nope-cipher", b"nope-mac",
                 b"nope-mac", b"none", b"none", b"", b""]
        payload = bytes([20]) + os.urandom(16) + b"".join(h.ssh_string(x) for x in lists) \
            + b"\x00" + b"\x00\x00\x00\x00"
        self._send_and_expect_close(b"SSH-2.0-Evil\r\n" + h.ssh_packet(payload),
                                    read_ident=True)

    def test_kexinit_with_huge_name_list(self):
        payload = bytes([20]) + os.urandom(16) + struct.pack(">I", 0x7FFFFFF0) + b"x" * 100
        self._send_and_expect_close(b"SSH-2.0-Evil\r\n" + h.ssh_packet(payload),
                                    read_ident=True)

    def test_unexpected_message_before_kex(self):
        # SSH_MSG_USERAUTH_REQUEST (50) before any key exchange
        payload = bytes([50]) + h.ssh_string("alice") + h.ssh_string("ssh-connection") \
            + h.ssh_string("none")
        self._send_and_expect_close(b"SSH-2.0-Evil\r\n" + h.ssh_packet(payload) * 3,
                                    read_ident=True)

    def test_fifty_parallel_garbage_connections(self):
        errors = []
        closed_count = [0]
        lock = threading.Lock()

        def one(i):
            try:
                s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=20)
                with s:
                    data = os.urandom(1024 * (1 + i % 8))
                    if i % 3 == 0:
                        data = b"SSH-2.0-x\r\n" + data
                    try:
                        s.sendall(data)
                    except (BrokenPipeError, ConnectionResetError):
                        with lock:
                            closed_count[0] += 1
                        return
                    _, closed = h.read_until_closed(s, h.t(30))
                    if closed is not None:
                        with lock:
                            closed_count[0] += 1
            except OSError as e:
                with lock:
                    errors.append(f"{i}: {e}")

        threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
        for th in threads:
            th.start()
        # a legitimate login in the middle of the storm
        r = self.alice_login(self.gw, timeout=90)
        for th in threads:
            th.join(h.t(60))
        self.assert_alice_hosts(r)
        self.assertEqual(errors, [])
        self.assertEqual(closed_count[0], 50, "every garbage connection should be closed")

    def test_connect_close_storm(self):
        for _ in range(200):
            try:
                s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=5)
                s.close()
            except OSError:
                pass
        time.sleep(0.5)

    def test_audit_verify_while_daemon_writes(self):
        # the admin CLI works on the live database: verifying the chain while
        # the daemon appends events must never report a broken chain
        stop = threading.Event()

        def storm():
            while not stop.is_set():
                try:
                    s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=5)
                    s.sendall(b"SSH-2.0-")
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    s.close()
                except OSError:
                    pass
                time.sleep(0.005)

        threads = [threading.Thread(target=storm) for _ in range(3)]
        for th in threads:
            th.start()
        results = []
        try:
            deadline = time.monotonic() + h.t(8)
            while time.monotonic() < deadline and len(results) < 40:
                results.append(self.admin.run("audit", "verify"))
        finally:
            stop.set()
            for th in threads:
                th.join(10)
        bad = [r for r in results if r.rc != 0]
        self.assertGreater(len(self.admin.events(kind="conn.close")), 10,
                           "the storm should have produced events")
        self.assertEqual(len(bad), 0, f"{len(bad)} of {len(results)} `audit verify` runs "
                         f"failed during writes; first:\n{bad[0] if bad else ''}")

    def test_very_long_username(self):
        for name in ("a" * 5000, "alice" + "e" * 300, "x" * 255 + "@evil"):
            r = self.gw.ssh(name, "hosts", keys=[self.alice_key], timeout=60)
            self.assertRc(r, 255)
            self.assertEqual(r.out, "")
        r = h.ssh_password(self.gw.port, "b" * 4000, "pw", self.dir, "hosts")
        self.assertRefused(r)

    def test_odd_usernames(self):
        for name in ("alice\u00e9", "../../etc/passwd", "alice%n%n%s%s", "'; DROP TABLE users;--",
                     "ALICE", " alice"):
            r = self.gw.ssh(name, "hosts", keys=[self.alice_key], timeout=60)
            self.assertRc(r, 255, f"user name {name!r} must not log in as alice")
            self.assertEqual(r.out, "")
        # users table intact
        self.assertIn("alice", self.admin.ok("user", "list").out)

    def test_huge_password(self):
        r = h.ssh_password(self.gw.port, "alice", "p" * 60000, self.dir, "hosts")
        self.assertRefused(r)


if __name__ == "__main__":
    h.main()
