#!/usr/bin/env python3
"""The PostgreSQL server goes away and comes back (a restart, a failover):
an open session goes on and ends while the server is down, its records
wait in the node's spool and reach the database in order once it is back,
a login during the outage fails within a bound with a clear message
instead of hanging, and `audit verify` passes after it all (checked after
every test). Runs under tests/pg/with-postgres, which gives
SSHGATE_TEST_PG_CTL to stop and start the server."""

from __future__ import annotations

import os
import time

import harness as h
from harness import pgdb


def pg_ctl(verb: str) -> None:
    r = h.run([os.environ["SSHGATE_TEST_PG_CTL"], verb], timeout=90)
    if r.rc != 0:
        raise AssertionError(f"pg-ctl {verb} failed:\n{r}")


class ServerOutage(h.ForwardTestCase):

    def setUp(self) -> None:
        if not pgdb.enabled() or not os.environ.get("SSHGATE_TEST_PG_CTL"):
            self.skipTest("needs a PostgreSQL server of its own (tests/pg/with-postgres)")
        super().setUp()
        self.addCleanup(self._server_back)
        self._down = False

    def _server_back(self) -> None:
        if self._down:
            pg_ctl("start")
            self._down = False

    def test_session_outlives_the_server_and_its_records_arrive(self):
        with open(self.dir / "held.out", "wb") as out:
            proc = self.background(self.tssh_argv("sleep 4; echo survived"), "held",
                                   stdout=out)
        self.wait_session(ended=False, command="sleep 4; echo survived", timeout=20)
        mark = len(self.gw.log())
        pg_ctl("stop")
        self._down = True
        # the session goes on and ends while the server is down
        self.assertEqual(proc.wait(timeout=h.t(30)), 0, proc.err())
        self.assertIn("survived", (self.dir / "held.out").read_text())
        self.gw.wait_log(r"audit: the store takes no writes", start=mark, timeout=30)
        # a login meanwhile fails within a bound, with one clear line
        start = time.monotonic()
        r = self.tssh("echo never", timeout=60)
        self.assertNotEqual(r.rc, 0)
        self.assertLess(time.monotonic() - start, h.t(30))
        # back: the spooled records are written, in order
        pg_ctl("start")
        self._down = False
        self.gw.wait_log(r"audit: the store takes writes again", start=mark, timeout=60)
        row = self.wait_session(command="sleep 4; echo survived", timeout=30)
        self.assertEqual(row["exit_status"], 0)
        self.assertTrue(self.find_events("audit.degraded"))
        self.assertTrue(self.find_events("audit.recovered"))
        # and the gateway serves again
        r = self.tssh("echo again", timeout=60)
        self.assertEqual(r.rc, 0, r)


if __name__ == "__main__":
    h.main()
