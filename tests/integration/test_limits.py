#!/usr/bin/env python3
"""Connection admission: allowed/blocked client lists, refusal floods
summarised, the connection cap, the unauthenticated-connection caps, a
flood of silent connections (version_timeout, source penalties), and
login_grace_time."""

import os
import re
import select
import signal
import socket
import threading
import time

import harness as h

DISCONNECT = r"Received disconnect from 127\.0\.0\.1"


class ClientLists(h.TestCase):
    def setUp(self):
        super().setUp()
        self.make_alice()

    def _assert_refused_with_event(self, gw):
        r = self.alice_login(gw)
        self.assertRefused(r, DISCONNECT)
        self.assertNotIn("Authenticated", r.err)
        # a raw TCP client is not left hanging either
        s = self.connect(gw.port)
        _, closed = h.read_until_closed(s, h.t(10))
        self.assertIsNotNone(closed, "a refused connection must be closed")
        ev = self.eventually(lambda: self.admin.events(kind="conn.refused"), timeout=5,
                             msg="a conn.refused event")
        self.assertTrue(any("127.0.0.1" in str(e["client"]) for e in ev), ev)
        self.assertTrue(all(e["detail"] for e in ev), f"conn.refused without a reason: {ev}")
        self.settle_events()
        self.assertEqual(self.admin.events(kind="auth.success"), [])

    def test_blocked_loopback(self):
        gw = self.gateway(blocked_clients="127.0.0.0/8")
        self._assert_refused_with_event(gw)

    def test_blocked_wins_over_allowed(self):
        gw = self.gateway(allowed_clients="127.0.0.0/8", blocked_clients="127.0.0.1/32")
        self._assert_refused_with_event(gw)

    def test_not_in_allowed(self):
        gw = self.gateway(allowed_clients="10.0.0.0/8,192.168.0.0/16,::1/128")
        self._assert_refused_with_event(gw)

    def test_allowed_and_unrelated_blocked(self):
        gw = self.gateway(allowed_clients="10.0.0.0/8, 127.0.0.1/32, ::1/128",
                          blocked_clients="127.0.0.2/32,192.0.2.0/24")
        self.assert_alice_hosts(self.alice_login(gw))
        self.settle_events()
        self.assertEqual(self.admin.events(kind="conn.refused"), [])


class RefusalFlood(h.TestCase):
    """A client refused in a loop: the first refusal of each interval is
    logged and recorded, the rest are summarised with a count
    (refusal_summary_interval), so the audit log and the log stay short."""

    SUMMARY_LINE = (r"refused (\d+) more connections from 127\.0\.0\.1 "
                    r"\(blocked_clients\) in the last \d+ s")
    REFUSAL_LINES = (r"refused connection from 127\.0\.0\.1:\d+"
                     r"|refused \d+ more connections from 127\.0\.0\.1 ")

    def _flood(self, gw, n):
        """n connections one after the other, each read until the gateway
        has refused it and closed; returns the seconds it took."""
        t0 = time.monotonic()
        for i in range(n):
            with socket.create_connection(("127.0.0.1", gw.port), timeout=h.t(10)) as s:
                data, closed = h.read_until_closed(s, h.t(10))
            self.assertIsNotNone(closed, f"connection {i} was not closed")
            self.assertIn(b"not allowed to connect", data, f"connection {i}: {data!r}")
        return time.monotonic() - t0

    def _refusals(self):
        """conn.refused rows of 127.0.0.1, oldest first, as (row, count):
        a row without count= stands for one refusal."""
        rows = [e for e in self.admin.events(kind="conn.refused")
                if str(e["client"]) == "127.0.0.1"
                or str(e["client"]).startswith("127.0.0.1:")]
        return [(e, int(h.detail_fields(e["detail"]).get("count", "1"))) for e in rows]

    def _counted(self, n):
        refusals = self._refusals()
        return refusals if sum(c for _, c in refusals) >= n else None

    def test_flood_is_summarised(self):
        n, interval = 300, 2
        gw = self.gateway(blocked_clients="127.0.0.1/32", refusal_summary_interval=interval)
        took = self._flood(gw, n)
        refusals = self.eventually(lambda: self._counted(n), timeout=interval + 10,
                                   msg=f"conn.refused rows counting {n} refusals")
        self.settle_events()
        refusals = self._refusals()
        counts = [c for _, c in refusals]
        self.assertEqual(sum(counts), n, refusals)
        # per interval the first refusal and one summary; the flood took
        # `took` seconds, a flush may come a second late
        most = 2 * (int(took / interval) + 2)
        self.assertLessEqual(len(refusals), most, f"flood of {took:.1f} s: {refusals}")
        self.assertLess(len(refusals), n // 10, refusals)
        first, last = h.detail_fields(refusals[0][0]["detail"]), refusals[-1][0]
        self.assertEqual(first.get("reason"), "blocked_clients", refusals[0])
        self.assertNotIn("count", first, refusals[0])
        self.assertRegex(str(refusals[0][0]["client"]), r"^127\.0\.0\.1:\d+$")
        fields = h.detail_fields(last["detail"])
        self.assertEqual(fields.get("reason"), "blocked_clients", last)
        self.assertGreater(int(fields.get("count", "0")), 1, last)
        self.assertEqual(str(last["client"]), "127.0.0.1", last)
        # the log: as few lines, and the same total
        log = gw.log()
        lines = re.findall(self.REFUSAL_LINES, log)
        self.assertLessEqual(len(lines), most, "\n".join(lines))
        summed = [int(m) for m in re.findall(self.SUMMARY_LINE, log)]
        self.assertTrue(summed, gw.log_tail())
        self.assertEqual(sum(summed) + len(lines) - len(summed), n, "\n".join(lines))

    def test_interval_zero_records_each_refusal(self):
        n = 20
        gw = self.gateway(blocked_clients="127.0.0.1/32", refusal_summary_interval=0)
        self._flood(gw, n)
        refusals = self.eventually(lambda: self._counted(n), timeout=10,
                                   msg=f"{n} conn.refused rows")
        self.settle_events()
        refusals = self._refusals()
        self.assertEqual([c for _, c in refusals], [1] * n, refusals)
        self.assertEqual(len(re.findall(self.REFUSAL_LINES, gw.log())), n)

    def test_pending_count_written_at_shutdown(self):
        n = 40
        gw = self.gateway(blocked_clients="127.0.0.1/32", refusal_summary_interval=600)
        self._flood(gw, n)
        time.sleep(1.5)  # a few listener rounds: nothing is due yet
        self.assertEqual(len(re.findall(self.REFUSAL_LINES, gw.log())), 1, gw.log_tail())
        gw.stop()
        refusals = self._refusals()
        self.assertEqual([c for _, c in refusals], [1, n - 1], refusals)
        self.assertRegex(gw.log(), self.SUMMARY_LINE)


class Ipv6(h.TestCase):
    def setUp(self):
        super().setUp()
        self.make_alice()

    def _dual_stack(self, **opts):
        gw = self.gateway(start=False, **opts)
        self.v6_port = h.free_port("::1")
        gw.write_config(listen=f"127.0.0.1:{gw.port},[::1]:{self.v6_port}")
        gw.start()
        gw.wait_log(rf"listening on \[::1\]:{self.v6_port}\b", timeout=10)
        return gw

    def test_ipv6_listen(self):
        gw = self._dual_stack()
        self.assert_alice_hosts(h.ssh(self.v6_port, "alice", "hosts", [self.alice_key],
                                      host="::1"))
        self.assert_alice_hosts(self.alice_login(gw))
        self.settle_events()
        ok = self.admin.events(kind="auth.success", user="alice")
        self.assertTrue(any("::1" in str(e["client"]) for e in ok), ok)

    def test_ipv6_client_lists(self):
        gw = self._dual_stack(allowed_clients="127.0.0.0/8")
        r = h.ssh(self.v6_port, "alice", "hosts", [self.alice_key], host="::1")
        self.assertRefused(r, r"Received disconnect from ::1")
        self.assert_alice_hosts(self.alice_login(gw))
        gw.reload(allowed_clients=None, blocked_clients="::1/128")
        r = h.ssh(self.v6_port, "alice", "hosts", [self.alice_key], host="::1")
        self.assertRefused(r, r"Received disconnect from ::1")
        self.assert_alice_hosts(self.alice_login(gw))


class ConnectionCap(h.TestCase):
    def setUp(self):
        super().setUp()
        self.make_alice()

    def test_parallel_logins(self):
        # the worker pool and per-thread database connections under load
        # (the default max_unauth_per_source of 10 would refuse some, and
        # so, with more at once, would max_startups' early drop)
        gw = self.gateway(max_unauth_per_source=50, max_startups="100:30:100")
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=20) as pool:
            keyed = [pool.submit(self.alice_login, gw, timeout=120) for _ in range(16)]
            pw = [pool.submit(h.ssh_password, gw.port, "alice", self.alice_password,
                              self.dir, "hosts", timeout=120) for _ in range(4)]
            results = [f.result() for f in keyed + pw]
        for r in results:
            self.assert_alice_hosts(r)
        self.settle_events()
        self.assertEqual(len(self.admin.events(kind="auth.success", user="alice")), 20)

    def _hold_raw(self, gw, n):
        socks = []
        for _ in range(n):
            s = self.connect(gw.port)
            ident = h.read_line(s, h.t(10))
            self.assertTrue(ident.startswith(b"SSH-2.0-"), f"server ident: {ident!r}")
            socks.append(s)
        return socks

    def test_max_connections_raw(self):
        # sockets that never send a version line: held, not timed out
        gw = self.gateway(max_connections=2, login_grace_time=120,
                          version_timeout=120, source_penalty=0)
        socks = self._hold_raw(gw, 2)
        r = self.alice_login(gw)
        self.assertRefused(r, DISCONNECT)
        ev = self.eventually(lambda: self.admin.events(kind="conn.refused"), timeout=5,
                             msg="a conn.refused event")
        self.assertTrue(any("127.0.0.1" in str(e["client"]) for e in ev), ev)
        # the held ones are still being served
        for s in socks:
            s.setblocking(False)
            try:
                self.assertNotEqual(s.recv(1), b"", "a held connection was closed")
            except BlockingIOError:
                pass
        for s in socks:
            s.close()
        self.eventually(lambda: self.alice_login(gw).rc == 0, timeout=10,
                        msg="login works again once the held connections closed")

    def test_max_connections_counts_authenticated(self):
        gw = self.gateway(max_connections=2)
        held = [h.ssh_hold(gw.port, "alice", [self.alice_key], self.dir) for _ in range(2)]
        r = self.alice_login(gw)
        self.assertRefused(r, DISCONNECT)
        for s in held:
            self.assertTrue(s.alive(), f"held session died:\n{s.err()}")
        held[0].close()
        self.eventually(lambda: self.alice_login(gw).rc == 0, timeout=10,
                        msg="login works again after one held session ended")

    def test_max_unauth_connections(self):
        # max_startups 2:30:2: the cap alone, without auto's early drop
        # from 1 (which refused the second held socket at random)
        gw = self.gateway(max_unauth_connections=2, login_grace_time=120,
                          version_timeout=120, source_penalty=0,
                          max_startups="2:30:2")
        # authenticated connections do not count against the unauth cap
        held = [h.ssh_hold(gw.port, "alice", [self.alice_key], self.dir) for _ in range(3)]
        self.assert_alice_hosts(self.alice_login(gw))
        socks = self._hold_raw(gw, 2)
        r = self.alice_login(gw)
        self.assertRefused(r, DISCONNECT)
        socks[0].close()
        self.eventually(lambda: self.alice_login(gw).rc == 0, timeout=10,
                        msg="login works again once an unauthenticated slot is free")
        for s in held:
            self.assertTrue(s.alive(), s.err())

    def test_max_unauth_per_source(self):
        gw = self.gateway(max_unauth_per_source=2, max_unauth_connections=100,
                          login_grace_time=120, version_timeout=120,
                          source_penalty=0)
        socks = self._hold_raw(gw, 2)
        r = self.alice_login(gw)
        self.assertRefused(r, DISCONNECT)
        socks[0].close()
        self.eventually(lambda: self.alice_login(gw).rc == 0, timeout=10,
                        msg="login works again once a per-source slot is free")


class SilentFlood(h.TestCase):
    """100 TCP connections from 10 addresses that never send a byte, re-opened
    as they close: they fill max_unauth_connections (100) only until
    version_timeout closes them, then their sources are penalised and
    refused before they take a slot, so another address logs in."""

    ATTACKERS = [f"127.0.0.{i}" for i in range(10, 20)]
    PER_SOURCE = 10  # the default max_unauth_per_source
    HOLD = 40        # seconds the attacker keeps it up

    def setUp(self):
        super().setUp()
        self.make_alice()

    def _open(self, src, port):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((src, 0))
            s.settimeout(2)
            s.connect(("127.0.0.1", port))
            s.setblocking(False)
            return s
        except OSError:
            s.close()
            return None

    def _attack(self, port, stop, stats):
        """Keep PER_SOURCE silent connections per attacker address open
        until stop is set or HOLD passes; every socket is closed at the
        end. Re-opens at most every 0.25 s per slot."""
        slots = {(src, i): None for src in self.ATTACKERS for i in range(self.PER_SOURCE)}
        deadline = time.monotonic() + self.HOLD
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                for key, s in slots.items():
                    if s is None:
                        slots[key] = self._open(key[0], port)
                        stats["opened"] += slots[key] is not None
                open_socks = [s for s in slots.values() if s is not None]
                stats["max_open"] = max(stats["max_open"], len(open_socks))
                ready, _, _ = select.select(open_socks, [], [], 0.25)
                for s in ready:
                    try:
                        data = s.recv(4096)  # the version line, a refusal
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if data:
                        continue
                    for key, held in slots.items():
                        if held is s:
                            slots[key] = None
                    s.close()
                    stats["closed"] += 1
        finally:
            for s in slots.values():
                if s is not None:
                    s.close()

    def test_silent_flood_does_not_lock_others_out(self):
        gw = self.gateway()  # defaults: 100 unauth, 10 per source, 5 s
        stop = threading.Event()
        stats = {"opened": 0, "closed": 0, "max_open": 0}
        attacker = threading.Thread(target=self._attack, args=(gw.port, stop, stats))
        attacker.start()
        try:
            self.eventually(lambda: stats["max_open"] >= 100, timeout=10,
                            msg="the attacker holds 100 connections")
            took = []
            for i in range(5):
                t0 = time.monotonic()
                deadline = t0 + h.t(10)
                r = None
                while time.monotonic() < deadline:
                    r = self.alice_login(gw, extra_args=["-b", "127.0.0.2"], timeout=h.t(10))
                    if r.rc == 0:
                        break
                    time.sleep(0.5)
                took.append(time.monotonic() - t0)
                self.assert_alice_hosts(r)
                self.assertLess(took[-1], h.t(10), f"login {i} took {took[-1]:.1f} s")
            self.assertTrue(attacker.is_alive(), "the attacker stopped early")
            attacker.join(timeout=self.HOLD + 10)
            self.assertFalse(attacker.is_alive())
        finally:
            stop.set()
            attacker.join(timeout=self.HOLD + 10)
        # the attacker's connections were closed by version_timeout, and
        # then its sources were refused for the penalty
        self.assertGreaterEqual(stats["closed"], 100, stats)
        self.assertRegex(gw.log(), r"no version line within version_timeout")
        self.settle_events()
        refused = self.admin.events(kind="conn.refused")
        reasons = {h.detail_fields(e["detail"]).get("reason") for e in refused
                   if re.match(r"127\.0\.0\.1\d\b", str(e["client"]))}
        self.assertIn("source_penalty", reasons, refused)
        ok = [e for e in self.admin.events(kind="auth.success", user="alice")
              if str(e["client"]).startswith("127.0.0.2")]
        self.assertEqual(len(ok), 5, ok)


class LoginGrace(h.TestCase):
    def setUp(self):
        super().setUp()
        self.make_alice()

    def _assert_closed_near(self, s, grace):
        _, closed = h.read_until_closed(s, h.t(20))
        self.assertIsNotNone(closed, "silent client not dropped")
        self.assertGreaterEqual(closed, grace - 0.5, f"dropped too early ({closed:.2f}s)")
        self.assertLessEqual(closed, grace + h.t(5), f"dropped too late ({closed:.2f}s)")

    def test_silent_client_dropped(self):
        gw = self.gateway(login_grace_time=2)
        s = self.connect(gw.port)
        self._assert_closed_near(s, 2)

    def test_client_that_stops_after_ident_dropped(self):
        gw = self.gateway(login_grace_time=2)
        s = self.connect(gw.port)
        s.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
        self._assert_closed_near(s, 2)

    def test_grace_covers_authentication(self):
        # the client completes key exchange, then sits at the password
        # prompt longer than login_grace_time: the server must drop it, so
        # the late (correct) password cannot log in
        gw = self.gateway(login_grace_time=2)
        ask = h.Askpass(self.dir, self.alice_password)
        ask.script.write_text(f"#!/bin/sh\nsleep 5\ncat '{ask.secret}'\n")
        r = h.ssh_password(gw.port, "alice", self.alice_password, self.dir, "hosts",
                           askpass=ask)
        self.assertRefused(r)
        self.settle_events()
        self.assertEqual(self.admin.events(kind="auth.success"), [])
        ev = self.eventually(lambda: self.admin.events(kind="conn.close"), timeout=5,
                             msg="conn.close event")
        self.assertRegex(ev[-1]["detail"], r"(?i)grace", ev)

    def test_dropped_client_frees_its_slot(self):
        # source_penalty off: the dropped client shares alice's address,
        # which the penalty would refuse for a while (SilentFlood)
        gw = self.gateway(login_grace_time=2, max_connections=1, source_penalty=0)
        s = self.connect(gw.port)
        r = self.alice_login(gw)
        self.assertRefused(r, DISCONNECT)
        _, closed = h.read_until_closed(s, h.t(20))
        self.assertIsNotNone(closed)
        self.eventually(lambda: self.alice_login(gw).rc == 0, timeout=10,
                        msg="login works once the silent client was dropped")

    def test_idle_timeout(self):
        gw = self.gateway(idle_timeout=2)
        held = h.ssh_hold(gw.port, "alice", [self.alice_key], self.dir)
        t0 = time.monotonic()
        rc = held.wait(h.t(15))
        self.assertIsNotNone(rc, "idle connection not closed after idle_timeout")
        self.assertGreaterEqual(time.monotonic() - t0, 1.0)
        ev = self.eventually(lambda: [e for e in self.admin.events(kind="conn.close")
                                      if e["user"] == "alice"], timeout=5,
                             msg="conn.close event for the idle connection")
        self.assertRegex(ev[-1]["detail"], r"(?i)idle", ev)

    def test_keepalive_drops_unresponsive_client(self):
        gw = self.gateway(keepalive_interval=1, keepalive_count_max=2)
        held = h.ssh_hold(gw.port, "alice", [self.alice_key], self.dir)
        # an idle but responsive client stays (several keepalive rounds)
        time.sleep(6)
        self.assertTrue(held.alive(), f"responsive client dropped:\n{held.err()}")
        os.kill(held.proc.pid, signal.SIGSTOP)
        try:
            ev = self.eventually(
                lambda: [e for e in self.admin.events(kind="conn.close")
                         if e["user"] == "alice"], timeout=15,
                msg="the gateway closes a connection whose client stopped answering")
        finally:
            os.kill(held.proc.pid, signal.SIGCONT)
        self.assertRegex(ev[-1]["detail"], r"(?i)timeout|not responding|keepalive", ev)
        self.assertIsNotNone(held.wait(h.t(10)))

    def test_authenticated_connection_outlives_grace(self):
        gw = self.gateway(login_grace_time=2)
        held = h.ssh_hold(gw.port, "alice", [self.alice_key], self.dir)
        time.sleep(4)
        self.assertTrue(held.alive(), f"an authenticated connection was dropped at the "
                        f"grace deadline:\n{held.err()}")


if __name__ == "__main__":
    h.main()
