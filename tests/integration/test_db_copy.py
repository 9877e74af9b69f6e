#!/usr/bin/env python3
"""sshgate-admin db copy between the engines (docs/cluster.md): an
installation with real sessions (a recorded terminal, an sftp transfer)
copied from PostgreSQL to a SQLite file and from that file to a new
PostgreSQL database; every copy verifies, holds the same sessions and
events, and a gateway started on the last copy serves alice with the same
host keys. Runs under tests/pg/with-postgres (the harness's database is
the first PostgreSQL one)."""

from __future__ import annotations

import harness as h
from harness import pgdb


class DbCopy(h.ForwardTestCase):

    def setUp(self) -> None:
        if not pgdb.enabled():
            self.skipTest("needs PostgreSQL (run under tests/pg/with-postgres)")
        super().setUp()

    def test_round_trip(self):
        r = self.tssh("printf 'recorded-line\\n'", extra_args=["-tt"], timeout=60)
        self.assertEqual(r.rc, 0, r)
        data = self.dir / "put.bin"
        data.write_bytes(b"x" * 30000)
        remote = self.dir / "remote"
        remote.mkdir()
        r = h.sftp_batch(self.gw.port, "alice+web1", [self.alice_key],
                         f"put {data} {remote}/put.bin\n", self.dir)
        self.assertEqual(r.rc, 0, r)
        self.wait_session(kind="sftp")
        self.gw.stop()

        sessions = self.admin.json("session", "list")
        events = self.admin.json("audit", "list")
        self.assertTrue(any(s["recorded"] for s in sessions), sessions)
        self.assertTrue(any(s["transfers"] for s in sessions), sessions)

        as_file = self.dir / "copy.db"
        r = self.admin.ok("db", "copy", "--to", str(as_file))
        self.assertIn("the chain verifies on both sides", r.out)
        second = pgdb.new_database()
        r = self.admin.ok("db", "copy", "--from", str(as_file), "--to", second)
        self.assertIn("the chain verifies on both sides", r.out)

        for db in (as_file, second):
            other = h.Admin(db)
            self.assertEqual(other.run("audit", "verify").rc, 0)
            self.assertEqual(other.json("session", "list"), sessions)
            # the copies hold the source's events, then their own copy events
            copied = other.json("audit", "list")
            self.assertEqual(copied[:len(events)], events)
            self.assertEqual(other.run("session", "export",
                                       str(next(s["id"] for s in sessions
                                                if s["recorded"]))).rc, 0)
        # a copy into a database that holds an installation is refused
        r = self.admin.run("db", "copy", "--to", second)
        self.assertEqual(r.rc, 1)
        self.assertIn("is not empty", r.err)

        # init on a server's URI creates no directories named after it
        here = self.dir / "cwd"
        here.mkdir()
        r = h.run([self.admin.binary, "--db", pgdb.new_database(), "init"], cwd=str(here))
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(list(here.iterdir()), [])

        # the gateway serves from the last copy, with the same host keys
        gw = self.gateway(db=second, backend_connect_timeout=5)
        r = gw.ssh("alice+web1", "echo from-the-copy", keys=[self.alice_key])
        self.assertEqual(r.rc, 0, r)
        self.assertIn("from-the-copy", r.out)


if __name__ == "__main__":
    h.main()
