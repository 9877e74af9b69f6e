#!/usr/bin/env python3
"""Front authentication with the real OpenSSH client: publickey, password,
keyboard-interactive, `none`, attempt caps, lockout, disabled users, the
auth_methods knob, failure delay, and the audit events each attempt writes."""

import re
import time

import harness as h


def denied_methods(err: str) -> set[str] | None:
    """The method list of OpenSSH's 'Permission denied (a,b)' line."""
    m = re.search(r"Permission denied \(([^)]*)\)", err)
    return set(m.group(1).split(",")) if m else None


class KeyAuth(h.TestCase):
    def setUp(self):
        super().setUp()
        self.make_alice()
        self.gw = self.gateway()

    def test_key_login_lists_granted_hosts(self):
        r = self.alice_login(self.gw)
        self.assert_alice_hosts(r)
        # bob sees only his own grant
        r = self.gw.ssh("bob", "hosts", keys=[self.bob_key])
        self.assertLoginOk(r)
        hosts = h.parse_hosts(r.out)
        self.assertEqual(hosts, {"db1": ("192.0.2.20:2222", {"postgres"})}, f"\n{r}")

    def test_unregistered_key_refused(self):
        stranger = self.keygen("stranger")
        r = self.gw.ssh("alice", "hosts", keys=[stranger])
        self.assertRefused(r, r"Permission denied")

    def test_other_users_key_refused(self):
        # bob's key is valid, but not for alice
        r = self.gw.ssh("alice", "hosts", keys=[self.bob_key])
        self.assertRefused(r, r"Permission denied")

    def test_key_added_later_and_deleted(self):
        second = self.keygen("alice_second")
        r = self.gw.ssh("alice", "hosts", keys=[second])
        self.assertRefused(r, r"Permission denied")
        self.admin.add_key("alice", second)
        self.assert_alice_hosts(self.gw.ssh("alice", "hosts", keys=[second]))
        self.admin.ok("key", "del", "alice", second.fingerprint)
        r = self.gw.ssh("alice", "hosts", keys=[second])
        self.assertRefused(r, r"Permission denied")
        # the first key is untouched
        self.assert_alice_hosts(self.alice_login(self.gw))

    def test_unknown_user_refused(self):
        r = self.gw.ssh("mallory", "hosts", keys=[self.alice_key])
        self.assertRefused(r, r"Permission denied")

    def test_second_key_offered_after_unknown_one(self):
        # a wrong key first, the right one second: the gateway must let the
        # client go on to its next key
        stranger = self.keygen("stranger")
        r = self.gw.ssh("alice", "hosts", keys=[stranger, self.alice_key])
        self.assert_alice_hosts(r)

    def test_rsa_key(self):
        rsa = self.keygen("alice_rsa", "rsa")
        self.admin.add_key("alice", rsa)
        r = self.gw.ssh("alice", "hosts", keys=[rsa])
        self.assert_alice_hosts(r)

    def test_disabled_user_refused_then_enabled(self):
        self.admin.ok("user", "disable", "alice")
        r = self.alice_login(self.gw)
        self.assertRefused(r, r"Permission denied")
        r = h.ssh_password(self.gw.port, "alice", self.alice_password, self.dir, "hosts")
        self.assertRefused(r, r"Permission denied")
        self.admin.ok("user", "enable", "alice")
        self.assert_alice_hosts(self.alice_login(self.gw))

    def test_deleted_user_refused(self):
        self.assert_alice_hosts(self.alice_login(self.gw))
        self.admin.ok("user", "del", "alice")
        r = self.alice_login(self.gw)
        self.assertRefused(r, r"Permission denied")


class PasswordAuth(h.TestCase):
    def setUp(self):
        super().setUp()
        self.make_alice()
        self.gw = self.gateway()

    def test_password_right(self):
        r = h.ssh_password(self.gw.port, "alice", self.alice_password, self.dir, "hosts")
        self.assert_alice_hosts(r)

    def test_password_wrong(self):
        r = h.ssh_password(self.gw.port, "alice", "not-the-password", self.dir, "hosts")
        self.assertRefused(r, r"Permission denied")

    def test_password_of_key_only_user_refused(self):
        r = h.ssh_password(self.gw.port, "bob", "", self.dir, "hosts")
        self.assertRefused(r, r"Permission denied")
        r = h.ssh_password(self.gw.port, "bob", "anything", self.dir, "hosts")
        self.assertRefused(r, r"Permission denied")

    def test_password_changed(self):
        self.admin.ok("user", "passwd", "alice", "--password-stdin",
                      input="Brand-new-secret-42\n")
        r = h.ssh_password(self.gw.port, "alice", self.alice_password, self.dir, "hosts")
        self.assertRefused(r, r"Permission denied")
        r = h.ssh_password(self.gw.port, "alice", "Brand-new-secret-42", self.dir, "hosts")
        self.assert_alice_hosts(r)

    def test_kbdint_right(self):
        ask = h.Askpass(self.dir, self.alice_password)
        r = h.ssh_password(self.gw.port, "alice", self.alice_password, self.dir, "hosts",
                           method="keyboard-interactive", askpass=ask)
        self.assert_alice_hosts(r)
        self.assertEqual(len(ask.prompts()), 1, f"prompts: {ask.prompts()}")
        self.assertRegex(ask.prompts()[0], r"(?i)password", "the prompt should ask for a password")

    def test_kbdint_wrong(self):
        r = h.ssh_password(self.gw.port, "alice", "wrong-wrong", self.dir, "hosts",
                           method="keyboard-interactive")
        self.assertRefused(r, r"Permission denied")

    def test_kbdint_unknown_user_refused(self):
        r = h.ssh_password(self.gw.port, "mallory", "whatever", self.dir, "hosts",
                           method="keyboard-interactive")
        self.assertRefused(r, r"Permission denied")

    def test_none_refused(self):
        # carol has neither key nor password; `none` must not let her in
        self.admin.add_user("carol")
        self.admin.grant("carol", "web1", login="deploy")
        for user in ("carol", "alice", "nobody"):
            r = self.gw.ssh(user, "hosts", options=["PreferredAuthentications=none"])
            self.assertRefused(r, r"Permission denied|No more authentication methods")
            # plain BatchMode client without any key: also only `none`
            r = self.gw.ssh(user, "hosts")
            self.assertRefused(r, r"Permission denied")
        # and the server advertises the real methods after `none`
        self.assertEqual(denied_methods(r.err),
                         {"publickey", "password", "keyboard-interactive"}, f"\n{r}")
        self.settle_events()
        ev = self.admin.events(kind="auth.success")
        self.assertEqual(ev, [], "no successful login happened")


class AuthMethodsKnob(h.TestCase):
    def setUp(self):
        super().setUp()
        self.make_alice()

    def test_publickey_only(self):
        gw = self.gateway(auth_methods="publickey")
        r = h.ssh_password(gw.port, "alice", self.alice_password, self.dir, "hosts")
        self.assertRefused(r, r"Permission denied")
        self.assertEqual(denied_methods(r.err), {"publickey"}, f"\n{r}")
        r = h.ssh_password(gw.port, "alice", self.alice_password, self.dir, "hosts",
                           method="keyboard-interactive")
        self.assertRefused(r, r"Permission denied")
        self.assert_alice_hosts(self.alice_login(gw))

    def test_password_only(self):
        gw = self.gateway(auth_methods="password")
        r = self.alice_login(gw)
        self.assertRefused(r, r"Permission denied")
        self.assertEqual(denied_methods(r.err), {"password"}, f"\n{r}")
        r = h.ssh_password(gw.port, "alice", self.alice_password, self.dir, "hosts")
        self.assert_alice_hosts(r)


class AttemptCaps(h.TestCase):
    def setUp(self):
        super().setUp()
        self.make_alice()

    def _offered(self, r: h.Result) -> int:
        return len(re.findall(r"Offering public key:", r.err))

    def test_max_auth_attempts_keys(self):
        gw = self.gateway(max_auth_attempts=3, lockout_threshold=1000)
        wrong = [self.keygen(f"wrong{i}") for i in range(8)]
        r = gw.ssh("alice", "hosts", keys=wrong + [self.alice_key], extra_args=["-v"])
        self.assertRc(r, 255)
        self.assertEqual(r.out, "")
        self.assertRegex(r.err, r"(?i)Received disconnect from .*too many authentication failures"
                         r"|Received disconnect", f"\n{r}")
        offered = self._offered(r)
        self.assertGreaterEqual(offered, 1, f"\n{r}")
        self.assertLessEqual(offered, 4, f"{offered} keys offered with max_auth_attempts=3\n{r}")
        self.assertNotIn("Authenticated to", r.err)
        # the cap is per connection: the right key alone still works
        self.assert_alice_hosts(self.alice_login(gw))

    def test_max_auth_attempts_default_is_6(self):
        gw = self.gateway(lockout_threshold=1000)
        wrong = [self.keygen(f"wrong{i}") for i in range(10)]
        r = gw.ssh("alice", "hosts", keys=wrong, extra_args=["-v"])
        self.assertRefused(r, r"Received disconnect")
        offered = self._offered(r)
        self.assertGreaterEqual(offered, 5, f"\n{r}")
        self.assertLessEqual(offered, 7, f"{offered} keys offered with the default cap 6\n{r}")

    def test_max_auth_attempts_passwords(self):
        gw = self.gateway(max_auth_attempts=2, lockout_threshold=1000)
        ask = h.Askpass(self.dir, "wrong")
        r = h.ssh_password(gw.port, "alice", "wrong", self.dir, "hosts",
                           prompts=6, askpass=ask)
        self.assertRefused(r, r"Received disconnect|Permission denied")
        n = len(ask.prompts())
        self.assertGreaterEqual(n, 1)
        self.assertLessEqual(n, 3, f"{n} password prompts with max_auth_attempts=2\n{r}")
        self.assertRegex(r.err, r"Received disconnect", f"\n{r}")


# Another loopback address than the 127.0.0.1 the failures come from: the
# gateway listens on 127.0.0.1 and sees the client's source address.
OTHER_ADDRESS = "127.0.0.2"


class LockoutCase(h.TestCase):
    def setUp(self):
        super().setUp()
        self.make_alice()

    def fail_password(self, gw, n, source=None, method="password"):
        opts = [f"BindAddress={source}"] if source else []
        for _ in range(n):
            r = h.ssh_password(gw.port, "alice", "bad-password", self.dir, "hosts",
                               method=method, options=opts)
            self.assertRefused(r, r"Permission denied")

    def password_login(self, gw, source=None, method="password"):
        opts = [f"BindAddress={source}"] if source else []
        return h.ssh_password(gw.port, "alice", self.alice_password, self.dir, "hosts",
                              method=method, options=opts)

    def key_login(self, gw, source=None):
        return self.alice_login(gw, extra_args=["-b", source] if source else [])

    def assert_password_refused(self, gw, source=None):
        for method in ("password", "keyboard-interactive"):
            self.assertRefused(self.password_login(gw, source, method), r"Permission denied")

    def locked_events(self):
        self.settle_events()
        return self.admin.events(kind="auth.locked", user="alice")


class Lockout(LockoutCase):
    """lockout_scope = password, the default: wrong passwords lock her
    password methods, never her keys."""

    def test_lockout_then_unlock(self):
        gw = self.gateway(lockout_threshold=3, lockout_time=600)
        self.fail_password(gw, 3)
        # the right password is refused, by either password method...
        self.assert_password_refused(gw)
        # ... but her key logs in, and that does not end the lock
        self.assert_alice_hosts(self.key_login(gw))
        self.assert_password_refused(gw)
        locked = self.locked_events()
        self.assertEqual(len(locked), 1, f"one auth.locked event expected: {locked}")
        self.assertRegex(locked[0]["detail"], r"\bscope=password\b", locked[0])
        refused = [e for e in self.admin.events(kind="auth.failure", user="alice")
                   if 'reason="password locked"' in e["detail"]]
        self.assertEqual(len(refused), 4, refused)
        show = self.admin.json("user", "show", "alice")
        self.assertTrue(show["locked"], show)
        self.assertEqual(show["lock_scope"], "password", show)
        self.assertIsNotNone(show["locked_until"], show)
        self.assertEqual(show["failed_logins"], 3, show)
        text = self.admin.ok("user", "show", "alice").out
        self.assertRegex(text, r"(?m)^status: +password locked$", text)
        self.assertRegex(text, r"(?m)^locked: +the password methods until \S+ "
                               r"\(keys still log in\)$", text)
        self.assertRegex(self.admin.ok("user", "list").out, r"(?m)^alice +user +password locked")
        # bob is not affected
        self.assertLoginOk(gw.ssh("bob", "hosts", keys=[self.bob_key]))
        self.admin.ok("user", "unlock", "alice")
        show = self.admin.json("user", "show", "alice")
        self.assertFalse(show["locked"], show)
        self.assertIsNone(show["lock_scope"], show)
        self.assertEqual(show["failed_logins"], 0, show)
        self.assert_alice_hosts(self.password_login(gw))
        self.assert_alice_hosts(self.key_login(gw))

    def test_kbdint_failures_count(self):
        gw = self.gateway(lockout_threshold=2, lockout_time=600)
        self.fail_password(gw, 1, method="keyboard-interactive")
        self.fail_password(gw, 1)
        self.assert_password_refused(gw)
        self.assert_alice_hosts(self.key_login(gw))

    def test_lock_survives_restart(self):
        gw = self.gateway(lockout_threshold=2, lockout_time=600)
        self.fail_password(gw, 2)
        gw.stop()
        gw2 = self.gateway(lockout_threshold=2, lockout_time=600)
        self.assert_password_refused(gw2)
        self.assert_alice_hosts(self.key_login(gw2))
        self.admin.ok("user", "unlock", "alice")
        self.assert_alice_hosts(self.password_login(gw2))

    def test_password_success_resets_the_count(self):
        gw = self.gateway(lockout_threshold=3, lockout_time=600)
        self.fail_password(gw, 2)
        self.assert_alice_hosts(self.password_login(gw))
        self.fail_password(gw, 2)
        # 2 + 2 failures, but never 3 in one window
        self.assert_alice_hosts(self.password_login(gw))
        self.assertEqual(self.locked_events(), [])

    def test_key_login_does_not_reset_the_count(self):
        # the key proves nothing about who typed the wrong passwords
        gw = self.gateway(lockout_threshold=3, lockout_time=600)
        self.fail_password(gw, 2)
        self.assert_alice_hosts(self.key_login(gw))
        self.fail_password(gw, 1)
        self.assert_password_refused(gw)
        self.assertEqual(len(self.locked_events()), 1)

    def test_lock_expires(self):
        gw = self.gateway(lockout_threshold=2, lockout_time=5)
        self.fail_password(gw, 2)
        self.assertRefused(self.password_login(gw), r"Permission denied")
        self.eventually(lambda: self.password_login(gw).rc == 0, timeout=15,
                        msg="password login should work again after lockout_time")


class LockoutScopeUser(LockoutCase):
    """lockout_scope = user: the behaviour from before the setting, a lock
    refuses every method."""

    def test_lockout_locks_every_method(self):
        gw = self.gateway(lockout_scope="user", lockout_threshold=3, lockout_time=600)
        self.fail_password(gw, 3)
        # locked: even the right key and the right password are refused
        self.assertRefused(self.key_login(gw), r"Permission denied")
        self.assertRefused(self.key_login(gw, OTHER_ADDRESS), r"Permission denied")
        self.assert_password_refused(gw)
        locked = self.locked_events()
        self.assertEqual(len(locked), 1, f"one auth.locked event expected: {locked}")
        self.assertRegex(locked[0]["detail"], r"\bscope=user\b", locked[0])
        self.assertTrue(any('reason="user locked"' in e["detail"]
                            for e in self.admin.events(kind="auth.failure", user="alice")))
        show = self.admin.json("user", "show", "alice")
        self.assertTrue(show["locked"], show)
        self.assertEqual(show["lock_scope"], "user", show)
        text = self.admin.ok("user", "show", "alice").out
        self.assertRegex(text, r"(?m)^locked: +the user \(every method\) until \S+$", text)
        self.assertLoginOk(gw.ssh("bob", "hosts", keys=[self.bob_key]))
        self.admin.ok("user", "unlock", "alice")
        self.assertFalse(self.admin.json("user", "show", "alice")["locked"])
        self.assert_alice_hosts(self.key_login(gw))
        self.assert_alice_hosts(self.password_login(gw))

    def test_kbdint_failures_count(self):
        gw = self.gateway(lockout_scope="user", lockout_threshold=2, lockout_time=600)
        self.fail_password(gw, 1, method="keyboard-interactive")
        self.fail_password(gw, 1)
        self.assertRefused(self.key_login(gw), r"Permission denied")

    def test_key_login_resets_the_count(self):
        gw = self.gateway(lockout_scope="user", lockout_threshold=3, lockout_time=600)
        self.fail_password(gw, 2)
        self.assert_alice_hosts(self.key_login(gw))
        self.fail_password(gw, 2)
        self.assert_alice_hosts(self.key_login(gw))
        self.assertEqual(self.locked_events(), [])

    def test_scope_changes_on_reload(self):
        # the lock is one row; what it refuses is the scope in force
        gw = self.gateway(lockout_scope="user", lockout_threshold=2, lockout_time=600)
        self.fail_password(gw, 2)
        self.assertRefused(self.key_login(gw), r"Permission denied")
        gw.reload(lockout_scope="password")
        self.assertEqual(self.admin.json("user", "show", "alice")["lock_scope"], "password")
        self.assert_alice_hosts(self.key_login(gw))
        self.assert_password_refused(gw)


class OutsiderLockout(LockoutCase):
    """The hostile-users issue, item 5: 12 wrong passwords from one address
    locked alice out, keys included. The source lockout comes first now,
    and a user's lock covers only her password methods."""

    def test_one_address_cannot_lock_a_user(self):
        gw = self.gateway()  # the defaults: source 10, user 20, scope password
        for i in range(12):
            r = h.ssh_password(gw.port, "alice", f"guess-{i}", self.dir, "hosts")
            if i < 10:
                self.assertRefused(r, r"Permission denied")
            else:
                self.assertRefused(r, r"too many authentication failures from your address")
        # that address is locked out, even for alice's key...
        self.assertRefused(self.key_login(gw), r"too many authentication failures")
        # ... but alice is not: from her own address both methods work
        show = self.admin.json("user", "show", "alice")
        self.assertFalse(show["locked"], show)
        self.assertEqual(show["failed_logins"], 10, show)
        self.assert_alice_hosts(self.key_login(gw, OTHER_ADDRESS))
        self.assert_alice_hosts(self.password_login(gw, OTHER_ADDRESS))
        self.settle_events()
        self.assertEqual(self.admin.events(kind="auth.locked"), [])
        self.assertEqual(len(self.admin.events(kind="auth.source_locked")), 1)
        ok = self.admin.events(kind="auth.success", user="alice")
        self.assertTrue(all(OTHER_ADDRESS in str(e["client"]) for e in ok), ok)

    def test_many_addresses_lock_only_the_password(self):
        gw = self.gateway(source_lockout_threshold=3, lockout_threshold=6, lockout_time=600)
        self.fail_password(gw, 3, source="127.0.0.1")
        self.fail_password(gw, 3, source="127.0.0.3")
        locked = self.locked_events()
        self.assertEqual(len(locked), 1, locked)
        self.assertRegex(locked[0]["detail"], r"\bscope=password\b")
        self.assert_alice_hosts(self.key_login(gw, OTHER_ADDRESS))
        self.assert_password_refused(gw, OTHER_ADDRESS)

    def test_many_addresses_lock_the_user_with_scope_user(self):
        gw = self.gateway(lockout_scope="user", source_lockout_threshold=3,
                          lockout_threshold=6, lockout_time=600)
        self.fail_password(gw, 3, source="127.0.0.1")
        self.fail_password(gw, 3, source="127.0.0.3")
        self.assertRefused(self.key_login(gw, OTHER_ADDRESS), r"Permission denied")

    def test_old_thresholds(self):
        # the thresholds of the issue (user 10, source 30): one address
        # reaches the user's threshold first; with the default scope it
        # locks her password only, with lockout_scope = user everything
        for scope, key_works in (("password", True), ("user", False)):
            with self.subTest(scope=scope):
                self.admin.ok("user", "unlock", "alice")
                gw = self.gateway(lockout_scope=scope, lockout_threshold=10,
                                  source_lockout_threshold=30, lockout_time=600)
                self.fail_password(gw, 12)
                r = self.key_login(gw, OTHER_ADDRESS)
                if key_works:
                    self.assert_alice_hosts(r)
                else:
                    self.assertRefused(r, r"Permission denied")
                self.assert_password_refused(gw, OTHER_ADDRESS)
                gw.stop()


class SourceLockout(h.TestCase):
    def test_source_locked_after_failures(self):
        self.make_alice()
        gw = self.gateway(source_lockout_threshold=3, lockout_threshold=1000,
                          lockout_time=600)
        for name in ("mallory", "trudy", "alice"):
            r = h.ssh_password(gw.port, name, "guess", self.dir, "hosts")
            self.assertRefused(r, r"Permission denied")
        # the address is locked now: even alice's key is turned away
        r = self.alice_login(gw)
        self.assertRefused(r)
        self.assertNotIn("Authenticated to", r.err)
        self.assertRegex(r.err, r"Received disconnect|Permission denied", f"\n{r}")
        # this is not a per-user lock
        self.assertFalse(self.admin.json("user", "show", "alice")["locked"])

    def test_key_probes_do_not_lock_the_source(self):
        # offering unknown keys is what every client with an agent does
        self.make_alice()
        gw = self.gateway(source_lockout_threshold=3, lockout_threshold=1000)
        wrong = [self.keygen(f"wrong{i}") for i in range(2)]
        for _ in range(3):
            self.assert_alice_hosts(gw.ssh("alice", "hosts", keys=wrong + [self.alice_key]))


class FailureDelay(h.TestCase):
    def test_failure_is_delayed(self):
        self.make_alice()
        gw = self.gateway(auth_failure_delay=1500, lockout_threshold=1000)
        r = h.ssh_password(gw.port, "alice", "wrong", self.dir, "hosts")
        self.assertRefused(r, r"Permission denied")
        self.assertGreaterEqual(r.elapsed, 1.2, f"a failure should cost >= 1.5 s\n{r}")
        # a success is not delayed by the failure penalty
        r = self.alice_login(gw)
        self.assert_alice_hosts(r)
        self.assertLess(r.elapsed, h.t(15))


class Events(h.TestCase):
    def test_events_for_each_attempt(self):
        self.make_alice()
        gw = self.gateway(lockout_threshold=1000)
        stranger = self.keygen("stranger")
        self.assert_alice_hosts(self.alice_login(gw))
        self.assertRefused(gw.ssh("alice", "hosts", keys=[stranger]))
        self.assertRefused(h.ssh_password(gw.port, "alice", "bad", self.dir, "hosts"))
        self.assertRefused(h.ssh_password(gw.port, "alice", "bad", self.dir, "hosts",
                                          method="keyboard-interactive"))
        self.assert_alice_hosts(
            h.ssh_password(gw.port, "alice", self.alice_password, self.dir, "hosts"))

        self.settle_events()  # the daemon writes events from a queue
        ok = self.admin.events(kind="auth.success", user="alice")
        pk_ok = [e for e in ok if "method=publickey" in e["detail"]]
        self.assertEqual(len(pk_ok), 1, f"{ok}")
        self.assertIn(f"fingerprint={self.alice_key.fingerprint}", pk_ok[0]["detail"])
        self.assertIn("127.0.0.1", str(pk_ok[0]["client"]), pk_ok[0])
        self.assertEqual(len([e for e in ok if "method=password" in e["detail"]]), 1, f"{ok}")
        self.assertEqual(len(ok), 2, f"{ok}")

        bad = self.admin.events(kind="auth.failure", user="alice")
        details = " | ".join(e["detail"] for e in bad)
        self.assertTrue(any("method=publickey" in e["detail"]
                            and f"fingerprint={stranger.fingerprint}" in e["detail"]
                            for e in bad), details)
        self.assertTrue(any("method=password" in e["detail"] for e in bad), details)
        self.assertTrue(any("method=keyboard-interactive" in e["detail"] for e in bad), details)
        for e in bad:
            self.assertEqual(e["kind"], "auth.failure")
            self.assertEqual(e["user"], "alice")
        # no secret ends up in the log
        for e in self.admin.events():
            self.assertNotIn(self.alice_password, e["detail"])
        self.settle_events()
        r = self.admin.run("audit", "verify")
        self.assertRc(r, 0)
        # exactly one row per failed password / keyboard-interactive attempt
        self.assertEqual(len([e for e in bad if "method=password" in e["detail"]]), 1, details)
        self.assertEqual(len([e for e in bad if "method=keyboard-interactive" in e["detail"]]),
                         1, details)
        # the unfiltered listing holds the same rows
        everything = self.admin.events()
        self.assertGreaterEqual(len(everything), len(ok) + len(bad))


class BuiltinCommands(h.TestCase):
    def setUp(self):
        super().setUp()
        self.make_alice()
        self.gw = self.gateway()

    def test_help(self):
        r = self.gw.ssh("alice", "help", keys=[self.alice_key])
        self.assertRc(r, 0)
        self.assertIn("hosts", r.out)

    def test_unknown_command(self):
        r = self.gw.ssh("alice", "frobnicate --now", keys=[self.alice_key])
        self.assertRc(r, 1)
        err = "\n".join(l for l in r.err.splitlines()
                        if not l.startswith("Warning: Permanently added"))
        self.assertRegex(err, r"frobnicate|(?i:unknown)", f"\n{r}")
        self.assertNotIn("web1", r.out)

    def test_hosts_without_grants(self):
        dave = self.keygen("dave_key")
        self.admin.add_user("dave", key=dave)
        r = self.gw.ssh("dave", "hosts", keys=[dave])
        self.assertRc(r, 0)
        self.assertEqual(h.parse_hosts(r.out), {}, f"\n{r}")

    def test_expired_grant_not_listed(self):
        self.admin.grant("alice", "db1", login="postgres", expires="3s")
        r = self.alice_login(self.gw)
        self.assertRc(r, 0)
        self.assertEqual(h.parse_hosts(r.out).get("db1"), ("192.0.2.20:2222", {"postgres"}),
                         f"\n{r}")
        time.sleep(4.2)
        r = self.alice_login(self.gw)
        self.assert_alice_hosts(r)  # web1 and app2 only

    def test_menu_on_a_pty(self):
        r = self.gw.ssh("alice", None, keys=[self.alice_key], extra_args=["-tt"],
                        input="q\r", timeout=30)
        self.assertRc(r, 0)
        self.assertIn("web1", r.out)
        self.assertIn("app2", r.out)
        self.assertNotIn("db1", r.out)

    def test_hosts_follows_grant_changes(self):
        self.assert_alice_hosts(self.alice_login(self.gw))
        self.admin.ok("grant", "del", "alice", "app2")
        r = self.alice_login(self.gw)
        self.assertRc(r, 0)
        self.assertEqual(set(h.parse_hosts(r.out)), {"web1"}, f"\n{r}")


if __name__ == "__main__":
    h.main()
