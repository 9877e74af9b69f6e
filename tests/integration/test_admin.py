#!/usr/bin/env python3
"""sshgate-admin as an operator uses it: exit codes (0 ok, 1 user error with
one line on stderr and nothing written, 2 usage), JSON output, idempotent
init, keys from stdin, backups, and the tamper-evident audit chain."""

import json
import os
import sqlite3
from pathlib import Path

import harness as h


class AdminCli(h.TestCase):
    def _event_count(self):
        return len(self.admin.events())

    def assertUserError(self, r: h.Result):
        self.assertRc(r, 1, "user error")
        lines = [l for l in r.err.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, f"one clear line on stderr expected\n{r}")

    def test_init_is_idempotent(self):
        keys1 = self.admin.json("keys", "show")
        r = self.admin.run("init")
        self.assertRc(r, 0)
        self.assertEqual(self.admin.json("keys", "show"), keys1)
        text = json.dumps(keys1) + self.admin.ok("keys", "show").out
        self.assertNotIn("PRIVATE", text)
        self.assertIn("ssh-ed25519", text)

    def test_usage_errors_exit_2(self):
        for args in ([], ["user"], ["user", "frobnicate"], ["nosuchnoun", "list"],
                     ["user", "add"], ["host", "add", "web1"],
                     ["user", "passwd", "alice"], ["grant", "add", "alice"],
                     ["user", "list", "--no-such-flag"]):
            r = self.admin.run(*args)
            self.assertRc(r, 2, f"usage error for {args}")
            self.assertTrue(r.err.strip(), f"usage error without a message: {args}")

    def test_user_errors_exit_1_and_write_nothing(self):
        self.make_alice()
        bad = self.dir / "bad.pub"
        bad.write_text("ssh-ed25519 AAAAnot-base64!!! x\n")
        before = self._event_count()
        users_before = self.admin.json("user", "list")
        for args, inp in ((["user", "add", "alice"], None),
                          (["user", "show", "nobody"], None),
                          (["user", "del", "nobody"], None),
                          (["user", "unlock", "nobody"], None),
                          (["user", "add", "eve", "--key", str(bad)], None),
                          (["key", "add", "alice", str(bad)], None),
                          (["key", "add", "nobody", self.alice_key.pub_path], None),
                          (["key", "add", "alice", self.alice_key.pub_path], None),  # duplicate
                          (["key", "del", "alice", "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"], None),
                          (["host", "add", "web1", "--address", "192.0.2.99"], None),
                          (["host", "show", "nohost"], None),
                          (["grant", "add", "alice", "nohost"], None),
                          (["grant", "add", "nobody", "web1"], None),
                          (["grant", "del", "bob", "web1"], None)):
            r = self.admin.run(*args, input=inp)
            self.assertUserError(r)
        self.assertEqual(self._event_count(), before, "a failed command wrote an event")
        self.assertEqual(self.admin.json("user", "list"), users_before)
        # user add with a bad key must not leave a half-made user behind
        self.assertUserError(self.admin.run("user", "show", "eve"))

    def test_bad_values_rejected(self):
        for args in (["host", "add", "h1", "--address", "192.0.2.1", "--port", "70000"],
                     ["host", "add", "h2", "--address", "192.0.2.1", "--port", "0"],
                     ["host", "add", "h3", "--address", "192.0.2.1", "--fingerprint", "MD5:xx"],
                     ["host", "add", "bad name", "--address", "192.0.2.1"],
                     ["user", "add", "has+plus"],
                     ["user", "add", "a" * 300]):
            r = self.admin.run(*args)
            self.assertIn(r.rc, (1, 2), f"{args} accepted\n{r}")
        hosts = self.admin.json("host", "list")
        self.assertNotIn("h1", json.dumps(hosts))

    def test_keys_from_stdin(self):
        k1 = self.keygen("k1")
        k2 = self.keygen("k2")
        self.admin.ok("user", "add", "carol", "--key", "-", input=k1.pub + "\n")
        self.admin.ok("key", "add", "carol", "-", input=k2.pub + "\n")
        listed = json.dumps(self.admin.json("key", "list", "carol"))
        self.assertIn(k1.fingerprint, listed)
        self.assertIn(k2.fingerprint, listed)
        self.admin.ok("key", "del", "carol", k1.fingerprint)
        listed = json.dumps(self.admin.json("key", "list", "carol"))
        self.assertNotIn(k1.fingerprint, listed)
        self.assertIn(k2.fingerprint, listed)

    def test_user_state_in_json(self):
        self.make_alice()
        self.assertFalse(self.admin.json("user", "show", "alice")["disabled"])
        self.admin.ok("user", "disable", "alice")
        self.assertTrue(self.admin.json("user", "show", "alice")["disabled"])
        self.admin.ok("user", "enable", "alice")
        self.assertFalse(self.admin.json("user", "show", "alice")["disabled"])
        users = json.dumps(self.admin.json("user", "list"))
        self.assertIn("alice", users)
        self.assertIn("bob", users)
        grants = json.dumps(self.admin.json("grant", "list", "alice"))
        self.assertIn("web1", grants)
        self.assertNotIn("db1", grants)

    def test_password_not_stored_in_clear(self):
        self.make_alice()
        self.admin.ok("db", "check")
        data = b""
        for suffix in ("", "-wal"):
            p = str(self.db) + suffix
            if os.path.exists(p):
                data += Path(p).read_bytes()
        self.assertNotIn(self.alice_password.encode(), data)

    def test_backup_and_check(self):
        self.make_alice()
        backup = self.dir / "backup.db"
        self.admin.ok("db", "backup", str(backup))
        copy = h.Admin(backup)
        self.assertRc(copy.run("audit", "verify"), 0)
        self.assertRc(copy.run("db", "check"), 0)
        self.assertIn("alice", json.dumps(copy.json("user", "list")))
        self.assertRc(self.admin.run("db", "check"), 0)

    def test_sshgate_db_env(self):
        other = self.dir / "env.db"
        env = dict(os.environ, SSHGATE_DB=str(other))
        r = h.run([self.admin.binary, "init"], env=env)
        self.assertRc(r, 0)
        self.assertTrue(other.exists(), "SSHGATE_DB was not used")

    def test_audit_verify_detects_tampering(self):
        self.make_alice()
        self.assertRc(self.admin.run("audit", "verify"), 0)
        con = sqlite3.connect(str(self.db))
        try:
            (mid,) = con.execute("SELECT id FROM events ORDER BY id LIMIT 1 OFFSET 2").fetchone()
            con.execute("UPDATE events SET detail = detail || ' edited' WHERE id = ?", (mid,))
            con.commit()
        finally:
            con.close()
        r = self.admin.run("audit", "verify")
        self.assertRc(r, 1)
        self.assertIn(str(mid), r.err + r.out, "verify should name the bad row")

    def test_audit_verify_detects_deleted_tail(self):
        self.make_alice()
        con = sqlite3.connect(str(self.db))
        try:
            con.execute("DELETE FROM events WHERE id = (SELECT max(id) FROM events)")
            con.commit()
        finally:
            con.close()
        r = self.admin.run("audit", "verify")
        self.assertRc(r, 1)

    def test_audit_list_filters(self):
        self.make_alice()
        evs = self.admin.events(user="bob")
        self.assertTrue(evs)
        self.assertTrue(all(e["user"] == "bob" for e in evs), evs)
        everything = self.admin.events()
        kind = everything[-1]["kind"]  # the 4th grant add
        evs = self.admin.events(kind=kind)
        self.assertEqual(len(evs), len([e for e in everything if e["kind"] == kind]))
        self.assertTrue(all(e["kind"] == kind for e in evs), evs)
        self.assertEqual(self.admin.events(kind="auth.success"), [])


if __name__ == "__main__":
    h.main()
