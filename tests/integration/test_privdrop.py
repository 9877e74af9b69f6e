"""sshgated started as root binds a privileged port, then runs as
run_as_user (issue 7: bind port 22 and drop privileges)."""

import os
import pwd
import socket
import unittest

import harness as h


def uid_gid_groups(pid: int) -> tuple[list[int], list[int], list[int]]:
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    return ([int(x) for x in fields["Uid"]], [int(x) for x in fields["Gid"]],
            [int(x) for x in fields.get("Groups", [])])


def free_privileged_port() -> int:
    for port in range(700, 1000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise unittest.SkipTest("no free port below 1024")


@unittest.skipUnless(os.geteuid() == 0, "needs root to bind below 1024")
class PrivilegeDrop(h.TestCase):
    def setUp(self) -> None:
        super().setUp()
        self.nobody = pwd.getpwnam("nobody")

    def give_db_to(self, user) -> None:
        os.chown(self.dir, user.pw_uid, user.pw_gid)
        for name in os.listdir(self.dir):
            if name.startswith("sshgate.db"):
                os.chown(self.dir / name, user.pw_uid, user.pw_gid)

    def test_binds_privileged_port_then_runs_as_user(self) -> None:
        key = self.keygen("alice_key")
        self.admin.add_user("alice", key=key)
        self.give_db_to(self.nobody)
        port = free_privileged_port()
        gw = self.gateway(start=False, listen=f"127.0.0.1:{port}",
                          run_as_user="nobody")
        gw.port = port
        gw.start()
        uids, gids, groups = uid_gid_groups(gw.pid)
        self.assertEqual(uids, [self.nobody.pw_uid] * 4)
        self.assertEqual(gids, [self.nobody.pw_gid] * 4)
        self.assertIn(groups, ([], [self.nobody.pw_gid]))
        self.assertIn("running as user nobody", gw.log())
        # It still reads and writes the database as that user.
        result = gw.ssh("alice", "hosts", keys=[key])
        self.assertEqual(result.rc, 0, f"\n{result}")
        h.wait_for(lambda: self.admin.events(kind="auth.success"), 10)
        gw.stop()

    def test_unknown_user_refused(self) -> None:
        gw = self.gateway(start=False, run_as_user="no-such-user-here")
        result = h.run([gw.binary, "-f", str(gw.config_path), "--check-config"])
        self.assertEqual(result.rc, 1, f"\n{result}")
        self.assertIn("no local user 'no-such-user-here'", result.err)

    def test_database_not_owned_by_user_fails_at_start(self) -> None:
        # The database stays root's 0600 file: nobody cannot open it, and
        # the daemon says so at start instead of failing every login.
        gw = self.gateway(start=False, run_as_user="nobody")
        try:
            gw.start(timeout=10)  # may see "listening on" before the exit
        except h.GatewayError:
            pass
        self.assertEqual(gw.wait_exit(10), 1)
        self.assertRegex(gw.log(), r"cannot open database .*Permission denied")
        gw.stop(expect_rc=1)

if __name__ == "__main__":
    unittest.main()
