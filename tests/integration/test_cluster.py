#!/usr/bin/env python3
"""Two sshgated nodes on one PostgreSQL database (docs/cluster.md).

Both nodes serve the same users and write one event chain; node A is
killed (SIGKILL) while a session runs on node B and another on A: B keeps
serving, closes A's session as "node lost" at A's last heartbeat once A
has been silent for node_lost_after, an admin kill and a user kick reach
B's sessions, `node list` shows A lost and B live, and `audit verify`
passes after it all (checked after every test). Failures from one source
spread over both nodes lock it after source_lockout_threshold in all (the
counter is in the database), before they can lock the user.

Runs only on PostgreSQL: ctest runs it under tests/pg/with-postgres.
"""

from __future__ import annotations

import signal
import time

import harness as h
from harness import pgdb

LOST_AFTER = 3  # node_lost_after of both nodes, seconds


class Cluster(h.ForwardTestCase):
    gateway_options = {"node_name": "gw-a", "node_lost_after": LOST_AFTER}

    def setUp(self) -> None:
        if not pgdb.enabled():
            self.skipTest("a cluster needs PostgreSQL (run under tests/pg/with-postgres)")
        super().setUp()
        self.gw_a = self.gw
        self.gw_b = self.gateway(backend_connect_timeout=5, node_name="gw-b",
                                 node_lost_after=LOST_AFTER)

    def ssh_via(self, gw, command, **kw) -> h.Result:
        return gw.ssh("alice+web1", command, keys=[self.alice_key], **kw)

    def long_session(self, gw, name: str):
        """A session that runs until it is ended: its row once started."""
        proc = self.background(h.ssh_argv(gw.port, "alice+web1", "sleep 120",
                                          [self.alice_key]), name)
        row = self.wait_session(ended=False, command="sleep 120",
                                node=gw.options["node_name"], timeout=20)
        return proc, row

    def nodes(self) -> dict[str, dict]:
        return {n["name"]: n for n in self.admin.json("node", "list")}

    def test_both_nodes_serve_one_chain(self):
        for gw in (self.gw_a, self.gw_b, self.gw_a, self.gw_b):
            r = self.ssh_via(gw, "echo cluster-ok")
            self.assertEqual(r.rc, 0, r)
            self.assertIn("cluster-ok", r.out)
        rows = self.sessions(command="echo cluster-ok")
        self.assertEqual(sorted(r["node"] for r in rows),
                         ["gw-a", "gw-a", "gw-b", "gw-b"])
        # both nodes appended to the one chain at once: it verifies
        procs = [self.background(h.ssh_argv(gw.port, "alice+web1", "true",
                                            [self.alice_key]), f"burst{i}")
                 for i, gw in enumerate([self.gw_a, self.gw_b] * 4)]
        for p in procs:
            self.assertEqual(p.wait(timeout=h.t(60)), 0, p.err())
        r = self.admin.run("audit", "verify")
        self.assertEqual(r.rc, 0, r)
        nodes = h.wait_for(lambda: (lambda n: n if {"gw-a", "gw-b"} <= n.keys() else None)(
            self.nodes()), 15, 0.3)
        self.assertIsNotNone(nodes, "both nodes never beat")
        for name, gw in (("gw-a", self.gw_a), ("gw-b", self.gw_b)):
            self.assertEqual(nodes[name]["state"], "live")
            self.assertIn(f"127.0.0.1:{gw.port}", nodes[name]["listen"])

    def test_node_lost_while_the_other_serves(self):
        _, on_a = self.long_session(self.gw_a, "on_a")
        proc_b, on_b = self.long_session(self.gw_b, "on_b")
        # a heartbeat of A after its session began (they come every second
        # with node_lost_after = 3), then A dies without a word
        time.sleep(1.5)
        self.gw_a.signal(signal.SIGKILL)
        self.gw_a.wait_exit(10)
        self.gw_a.stop(expect_rc=None)
        # B serves on, at once
        r = self.ssh_via(self.gw_b, "echo still-here")
        self.assertEqual(r.rc, 0, r)
        # A's session is closed by B as "node lost", at A's last heartbeat
        ended = self.wait_session(id=on_a["id"], timeout=LOST_AFTER + 15)
        self.assertEqual(ended["end_reason"], "node lost")
        a = self.nodes()["gw-a"]
        self.assertEqual(a["state"], "lost")
        self.assertEqual(ended["ended_at"], a["heartbeat_at"])
        self.assertEqual(self.nodes()["gw-b"]["state"], "live")
        self.gw_b.wait_log("node gw-a is lost")
        # B's own session is untouched; an admin kill reaches it within 2 s
        self.assertIsNone(self.sessions(id=on_b["id"])[0]["ended_at"])
        start = time.monotonic()
        self.admin.ok("session", "kill", str(on_b["id"]))
        killed = self.wait_session(id=on_b["id"], timeout=10)
        self.assertEqual(killed["end_reason"], "killed by admin")
        self.assertLess(time.monotonic() - start, h.t(2.5))
        proc_b.wait(timeout=h.t(10))

    def test_kick_and_revocation_reach_the_other_node(self):
        proc, row = self.long_session(self.gw_b, "kicked")
        start = time.monotonic()
        self.admin.ok("user", "kick", "alice")
        proc.wait(timeout=h.t(10))
        self.assertLess(time.monotonic() - start, h.t(3))
        self.wait_session(id=row["id"], timeout=10)
        # a revocation on any node's admin reaches the open connections of B
        proc, row = self.long_session(self.gw_b, "revoked")
        start = time.monotonic()
        self.admin.ok("user", "disable", "alice")
        ended = self.wait_session(id=row["id"], timeout=10)
        self.assertLess(time.monotonic() - start, h.t(5))
        self.assertIn("revoked", ended["end_reason"])
        proc.wait(timeout=h.t(10))

    def test_source_lockout_counts_across_nodes(self):
        # the design's ratio: the user's threshold is twice the source's,
        # so one source cannot lock her -- unless each node counted it
        # alone (3 per node = 6 = her threshold)
        limits = {"source_lockout_threshold": 3, "lockout_threshold": 6,
                  "lockout_time": 600}
        for gw in (self.gw_a, self.gw_b):
            gw.reload(**limits)
        self.admin.ok("user", "passwd", "alice", "--password-stdin",
                      input="alice-password-1\n")
        nodes = [self.gw_a, self.gw_b] * 3
        for i, gw in enumerate(nodes):
            r = h.ssh_password(gw.port, "alice", f"guess-{i}", self.dir, "hosts")
            self.assertRefused(r, r"Permission denied")
        # after 3 in all the source is locked on either node, for her key too
        for gw in (self.gw_a, self.gw_b):
            r = gw.ssh("alice", "hosts", keys=[self.alice_key])
            self.assertRefused(r)
            self.assertNotIn("Authenticated to", r.err)
        self.settle_events()
        failures = self.admin.events(kind="auth.failure", user="alice")
        locked_out = [e for e in failures if 'reason="source address locked"' in e["detail"]]
        # attempts 4-6 of the passwords, and the key logins on both nodes
        self.assertEqual(len([e for e in locked_out if "method=password" in e["detail"]]),
                         3, locked_out)
        self.assertGreaterEqual(len([e for e in locked_out
                                     if "method=publickey" in e["detail"]]), 2, locked_out)
        self.assertEqual(len(self.admin.events(kind="auth.source_locked")), 1)
        # alice is not locked: only the 3 counted failures reached her
        show = self.admin.json("user", "show", "alice")
        self.assertFalse(show["locked"], show)
        self.assertEqual(show["failed_logins"], 3, show)
        self.assertEqual(self.admin.events(kind="auth.locked"), [])
        rows = pgdb.psql("SELECT source, failures, locked_until IS NOT NULL "
                         "FROM source_lockouts", str(self.db)).split()
        self.assertEqual(rows, ["127.0.0.1|3|t"])


if __name__ == "__main__":
    h.main()
