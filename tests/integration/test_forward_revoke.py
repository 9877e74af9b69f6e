#!/usr/bin/env python3
"""Access taken away from an open connection (docs/admin.md, "Ending
access"): after grant del, user disable or key del the connection that an
OpenSSH ControlMaster keeps open ends within 5 s with "access revoked",
and no new channel opens over it; session kill --conn and user kick end
whole connections."""

import time

import harness as h


class Revoke(h.ForwardTestCase):
    def master(self, name="cm", user="alice+web1", keys=None):
        """A ControlMaster through the gateway (ssh -M -N, in the
        foreground so that its exit and stderr are ours); returns the
        process and the options of a client using it."""
        path = self.dir / f"{name}.sock"
        proc = self.background(self.tssh_argv(None, user=user, keys=keys,
                                              extra_args=["-N"], control=[
            "ControlMaster=yes", f"ControlPath={path}", "ControlPersist=no"]),
            name)
        mux = ["ControlMaster=no", f"ControlPath={path}"]
        check = lambda: h.run([h.SSH, "-F", "/dev/null", "-o",
                               f"ControlPath={path}", "-O", "check",
                               "x@127.0.0.1"], timeout=10).rc == 0
        self.assertTrue(h.wait_for(lambda: path.exists() and check(), 20),
                        f"the master did not come up:\n{proc.err()}")
        return proc, mux

    def open_channel(self, mux, user="alice+web1"):
        """A long channel over the master: its sessions row names the
        connection."""
        proc = self.background(self.tssh_argv("sleep 60", user=user,
                                              control=mux), "sleeper")
        row = self.wait_session(ended=False, kind="exec", command="sleep 60")
        return proc, row

    def assertEnds(self, proc, start, text):
        """proc (the master) ends within 5 s of start, text in its
        stderr."""
        proc.wait(timeout=h.t(10))
        elapsed = time.monotonic() - start
        self.assertLess(elapsed, h.t(5), f"ended after {elapsed:.1f} s")
        self.assertIn(text, proc.err())

    def assertRefused(self, mux, user="alice+web1"):
        r = self.tssh("echo still-here", user=user, control=mux, timeout=20)
        self.assertNotEqual(r.rc, 0, f"{r}")
        self.assertNotIn("still-here", r.out)

    def test_grant_del_ends_the_connection(self):
        master, mux = self.master()
        r = self.tssh("echo before", control=mux)
        self.assertRc(r, 0)
        _, row = self.open_channel(mux)
        start = time.monotonic()
        self.admin.ok("grant", "del", "alice", "web1")
        # a channel right away is refused (the check on open), then the
        # connection ends (the main thread's poll)
        self.assertRefused(mux)
        self.assertEnds(master, start, "access revoked")
        ended = self.wait_session(id=row["id"])
        self.assertEqual(ended["end_reason"], "access revoked")
        self.wait_event("access.revoked", user="alice",
                        reason="grant-deleted", host="web1",
                        conn=row["conn"])
        self.wait_event("conn.close", user="alice", reason="access revoked")

    def test_user_disable_ends_a_connection_without_target(self):
        # alice without a target: -W to web1's address goes through the
        # gateway's own connect, until she is disabled
        master, mux = self.master(user="alice")
        dest = f"127.0.0.1:{self.be.port}"
        r = h.run(h.ssh_argv(self.gw.port, "alice", None, [self.alice_key],
                             control=mux, extra_args=["-W", dest]),
                  input="", timeout=30, env=h.ssh_env())
        self.assertIn("SSH-2.0-", r.out, f"{r}")
        start = time.monotonic()
        self.admin.ok("user", "disable", "alice")
        self.assertEnds(master, start, "access revoked")
        self.wait_event("access.revoked", user="alice", reason="user-disabled")
        r = h.run(h.ssh_argv(self.gw.port, "alice", None, [self.alice_key],
                             control=mux, extra_args=["-W", dest]),
                  input="", timeout=30, env=h.ssh_env())
        self.assertNotIn("SSH-2.0-", r.out, f"{r}")

    def test_key_del_ends_only_the_key_that_authenticated(self):
        other = self.keygen("other_key")
        self.admin.add_key("alice", other)
        master, mux = self.master()
        self.admin.ok("key", "del", "alice", other.fingerprint)
        time.sleep(h.t(2))
        self.assertIsNone(master.poll(), f"ended:\n{master.err()}")
        self.assertRc(self.tssh("echo alive", control=mux), 0)
        start = time.monotonic()
        self.admin.ok("key", "del", "alice", self.alice_key.fingerprint)
        self.assertEnds(master, start, "access revoked")
        self.wait_event("access.revoked", user="alice", reason="key-deleted",
                        fingerprint=self.alice_key.fingerprint)
        self.assertRefused(mux)

    def test_other_changes_leave_the_connection(self):
        master, mux = self.master()
        self.admin.add_user("bob", key=self.keygen("bob_key"))
        self.admin.grant("bob", "web1")
        time.sleep(h.t(2))
        self.assertIsNone(master.poll(), f"ended:\n{master.err()}")
        self.assertRc(self.tssh("echo alive", control=mux), 0)
        self.assertEqual(self.find_events("access.revoked"), [])

    def test_session_kill_conn(self):
        master, mux = self.master()
        sleeper, row = self.open_channel(mux)
        start = time.monotonic()
        r = self.admin.ok("session", "kill", "--conn", row["conn"])
        self.assertIn(row["conn"], r.out)
        self.assertEnds(master, start, "killed by admin")
        sleeper.wait(timeout=h.t(10))
        ended = self.wait_session(id=row["id"])
        self.assertEqual(ended["end_reason"], "killed by admin")
        self.wait_event("admin.session.kill", conn=row["conn"])
        # a malformed uid is refused; the request of a gone connection is
        # taken and done
        self.assertNotEqual(self.admin.run("session", "kill", "--conn",
                                           "web1").rc, 0)

    def test_user_kick(self):
        master, mux = self.master()
        plain = self.background(self.tssh_argv("sleep 60"), "plain")
        self.wait_session(ended=False, kind="exec", command="sleep 60")
        start = time.monotonic()
        self.admin.ok("user", "kick", "alice")
        self.assertEnds(master, start, "killed by admin")
        self.assertNotEqual(plain.wait(timeout=h.t(10)), 0)
        self.wait_event("admin.user.kick", user="alice")
        # kicked, not disabled: she logs in again
        self.assertRc(self.tssh("echo back"), 0)


if __name__ == "__main__":
    h.main()
