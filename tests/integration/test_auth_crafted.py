#!/usr/bin/env python3
"""Crafted publickey requests that libssh 0.10 drops before sshgated sees
them (issue #13, item 4): a forged signature, a malformed key blob, a
SHA-1 (ssh-rsa) signature. Each must be answered at once with
USERAUTH_FAILURE, recorded as auth.failure with its reason, and counted
toward max_auth_attempts, the source lockout and the backoff like any
other failure (gateway/conn/authtap.h, docs/security.md).

The requests are built with paramiko's transport (python3-paramiko), which
does the key exchange and the encryption and leaves the userauth messages
to us."""

import os
import queue
import socket
import sys
import time

try:
    import paramiko
    from paramiko.message import Message
except ImportError:
    # Debian's python3-paramiko lives in the system interpreter; ctest may
    # have found another python3 (pyenv, a venv) first.
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3", "-u", *sys.argv])
    sys.exit("test_auth_crafted.py needs python3-paramiko (scripts/lib/deps.sh)")

import harness as h

MSG_SERVICE_REQUEST = 5
MSG_SERVICE_ACCEPT = 6
MSG_USERAUTH_REQUEST = 50
MSG_USERAUTH_FAILURE = 51
MSG_USERAUTH_SUCCESS = 52
MSG_USERAUTH_BANNER = 53
MSG_USERAUTH_PK_OK = 60
CLOSED = "closed"


class _Replies:
    """Stands in for paramiko's AuthHandler: the transport thread hands it
    every userauth reply, which goes into a queue in arrival order."""

    def __init__(self):
        self.q: queue.Queue = queue.Queue()

    def _put(self, m):
        self.q.put(m)

    _handler_table = {t: (lambda self, m, t=t: self._put((t, m)))
                      for t in (MSG_SERVICE_ACCEPT, MSG_USERAUTH_FAILURE,
                                MSG_USERAUTH_SUCCESS, MSG_USERAUTH_PK_OK)}
    # the banner is not a reply
    _handler_table[MSG_USERAUTH_BANNER] = lambda self, m: None

    def is_authenticated(self):
        return False

    def abort(self):  # the transport's close
        pass


class Crafted:
    """One connection that sends userauth requests as given."""

    def __init__(self, port: int, source: str = "127.0.0.1"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=h.t(10),
                                             source_address=(source, 0))
        self.t = paramiko.Transport(self.sock)
        self.t.start_client(timeout=h.t(15))
        self.replies = _Replies()
        self.t.auth_handler = self.replies
        m = Message()
        m.add_byte(bytes([MSG_SERVICE_REQUEST]))
        m.add_string("ssh-userauth")
        self.t._send_message(m)
        assert self.reply(10) == MSG_SERVICE_ACCEPT

    def close(self):
        self.t.close()

    def reply(self, timeout: float = 5) -> int | str | None:
        """The type of the next reply, CLOSED once the server has closed
        the connection, None when nothing came within timeout."""
        deadline = time.monotonic() + h.t(timeout)
        while time.monotonic() < deadline:
            try:
                return self.replies.q.get(timeout=0.05)[0]
            except queue.Empty:
                if not self.t.is_active():
                    return CLOSED
        return None

    def _request(self, user: str, method: str) -> Message:
        m = Message()
        m.add_byte(bytes([MSG_USERAUTH_REQUEST]))
        m.add_string(user)
        m.add_string("ssh-connection")
        m.add_string(method)
        return m

    def none(self, user: str = "alice"):
        self.t._send_message(self._request(user, "none"))

    def signed(self, user: str, key: paramiko.PKey, algorithm: str,
               signer: paramiko.PKey | None = None, blob: bytes | None = None):
        """A publickey request for key (its blob, or blob), signed over
        what RFC 4252 says by signer (key itself when None)."""
        self.t._send_message(self.signed_message(user, key, algorithm, signer, blob))

    def signed_message(self, user: str, key: paramiko.PKey, algorithm: str,
                       signer: paramiko.PKey | None = None,
                       blob: bytes | None = None) -> Message:
        blob = key.asbytes() if blob is None else blob
        data = Message()
        data.add_string(self.t.session_id)
        data.add_byte(bytes([MSG_USERAUTH_REQUEST]))
        data.add_string(user)
        data.add_string("ssh-connection")
        data.add_string("publickey")
        data.add_boolean(True)
        data.add_string(algorithm)
        data.add_string(blob)
        sig = (signer or key).sign_ssh_data(data.asbytes(), algorithm)
        m = self._request(user, "publickey")
        m.add_boolean(True)
        m.add_string(algorithm)
        m.add_string(blob)
        m.add_string(sig.asbytes() if isinstance(sig, Message) else sig)
        return m

    def probe(self, user: str, algorithm: str, blob: bytes):
        """A publickey request without a signature."""
        m = self._request(user, "publickey")
        m.add_boolean(False)
        m.add_string(algorithm)
        m.add_string(blob)
        self.t._send_message(m)


def pkey(key: h.Key) -> paramiko.PKey:
    for cls in (paramiko.Ed25519Key, paramiko.RSAKey):
        try:
            return cls.from_private_key_file(key.path)
        except paramiko.SSHException:
            continue
    raise AssertionError(f"paramiko cannot read {key.path}")


ED25519 = "ssh-ed25519"
ATTACKER = "127.0.0.5"  # alice's own logins come from 127.0.0.1


class CraftedCase(h.TestCase):
    find_events = h.ForwardTestCase.find_events
    wait_event = h.ForwardTestCase.wait_event

    def setUp(self):
        super().setUp()
        self.make_alice()
        self.alice = pkey(self.alice_key)
        self.mallory = pkey(self.keygen("mallory"))

    def tearDown(self):
        for gw in self._gateways:
            if gw.alive():
                self.assertEqual(gw.sanitizer_problems(), [])
        self.settle_events()
        self.assertRc(self.admin.run("audit", "verify"), 0)
        super().tearDown()

    def crafted(self, gw, source: str = ATTACKER) -> Crafted:
        c = Crafted(gw.port, source)
        self.addCleanup(c.close)
        return c

    def failures(self, reason: str) -> list[dict]:
        return self.find_events("auth.failure", reason=reason)


class ForgedSignature(CraftedCase):
    def test_forged_is_answered_counted_and_recorded(self):
        gw = self.gateway(lockout_threshold=1000, source_lockout_threshold=1000)
        c = self.crafted(gw)
        c.none()
        self.assertEqual(c.reply(), MSG_USERAUTH_FAILURE)
        # alice's key, mallory's signature: the default max_auth_attempts
        # (6) answers five with a failure, the sixth with the disconnect
        for i in range(5):
            start = time.monotonic()
            c.signed("alice", self.alice, ED25519, signer=self.mallory)
            self.assertEqual(c.reply(), MSG_USERAUTH_FAILURE, f"forged attempt {i + 1}")
            self.assertLess(time.monotonic() - start, h.t(3))
        c.signed("alice", self.alice, ED25519, signer=self.mallory)
        self.assertEqual(c.reply(), CLOSED)
        gw.wait_log(r"too many authentication failures \(6\)")
        ev = self.wait_event("auth.failure", "alice", reason="bad signature")
        self.assertEqual(ev["fields"]["method"], "publickey")
        self.settle_events()
        self.assertEqual(len(self.failures("bad signature")), 6, self.admin.events())
        self.wait_event("conn.close", reason="~Too many authentication failures")
        # the real key still logs in
        self.assert_alice_hosts(self.alice_login(gw))

    def test_forged_first_request_ends_the_connection(self):
        # before any message libssh handed over there is nothing to reply
        # with: counted, recorded, and the connection ends at once
        gw = self.gateway(lockout_threshold=1000, source_lockout_threshold=1000)
        c = self.crafted(gw)
        start = time.monotonic()
        c.signed("alice", self.alice, ED25519, signer=self.mallory)
        self.assertEqual(c.reply(), CLOSED)
        self.assertLess(time.monotonic() - start, h.t(5))
        self.wait_event("auth.failure", "alice", reason="bad signature")
        self.wait_event("conn.close", reason="Authentication failed")

    def test_forged_then_genuine_on_one_connection(self):
        # a dropped request in between does not shift the replies
        gw = self.gateway(lockout_threshold=1000, source_lockout_threshold=1000)
        c = self.crafted(gw)
        c.none()
        self.assertEqual(c.reply(), MSG_USERAUTH_FAILURE)
        c.signed("alice", self.alice, ED25519, signer=self.mallory)
        self.assertEqual(c.reply(), MSG_USERAUTH_FAILURE)
        c.signed("alice", self.alice, ED25519)
        self.assertEqual(c.reply(), MSG_USERAUTH_SUCCESS)
        self.wait_event("auth.success", "alice", method="publickey")


class Flood(CraftedCase):
    def test_pipelined_forgeries_are_each_counted(self):
        # more than a poll round holds, sent without waiting for replies
        gw = self.gateway(lockout_threshold=1000, source_lockout_threshold=1000,
                          max_auth_attempts=30)
        c = self.crafted(gw)
        c.none()
        self.assertEqual(c.reply(), MSG_USERAUTH_FAILURE)
        forged = c.signed_message("alice", self.alice, ED25519, signer=self.mallory)
        for _ in range(25):
            c.t._send_message(forged)
        c.signed("alice", self.alice, ED25519)
        replies = [c.reply() for _ in range(26)]
        self.assertEqual(replies, [MSG_USERAUTH_FAILURE] * 25 + [MSG_USERAUTH_SUCCESS])
        self.settle_events()
        self.assertEqual(len(self.failures("bad signature")), 25)

    def test_two_thousand_forgeries_end_at_max_auth_attempts(self):
        # the flood: 2000 on one connection
        gw = self.gateway(lockout_threshold=1000, source_lockout_threshold=1000)
        c = self.crafted(gw)
        c.none()
        self.assertEqual(c.reply(), MSG_USERAUTH_FAILURE)
        forged = c.signed_message("alice", self.alice, ED25519, signer=self.mallory)
        start = time.monotonic()
        try:
            for _ in range(2000):
                c.t._send_message(forged)
        except (OSError, EOFError, paramiko.SSHException):
            pass  # closed under us
        replies = [c.reply() for _ in range(6)]
        self.assertEqual(replies, [MSG_USERAUTH_FAILURE] * 5 + [CLOSED])
        self.assertLess(time.monotonic() - start, h.t(10))
        self.settle_events()
        self.assertEqual(len(self.failures("bad signature")), 6)


class MalformedKey(CraftedCase):
    def test_malformed_blobs(self):
        gw = self.gateway(lockout_threshold=1000, source_lockout_threshold=1000)
        c = self.crafted(gw)
        c.none()
        self.assertEqual(c.reply(), MSG_USERAUTH_FAILURE)
        good = self.alice.asbytes()
        blobs = [
            good[:-7],  # an ed25519 key cut short
            h.ssh_string("ssh-nonsense") + h.ssh_string(os.urandom(32)),
            os.urandom(40),
        ]
        for blob in blobs:
            start = time.monotonic()
            c.probe("alice", ED25519, blob)
            self.assertEqual(c.reply(), MSG_USERAUTH_FAILURE, blob)
            self.assertLess(time.monotonic() - start, h.t(3))
        # signed, too: the blob is checked before the signature
        c.signed("alice", self.alice, ED25519, blob=good[:-7])
        self.assertEqual(c.reply(), MSG_USERAUTH_FAILURE)
        self.settle_events()
        self.assertEqual(len(self.failures("malformed key")), 4, self.admin.events())


class Sha1Signature(CraftedCase):
    def test_ssh_rsa_signature_is_a_disallowed_algorithm(self):
        rsa_key = self.keygen("alice_rsa", "rsa")
        self.admin.add_key("alice", rsa_key)
        rsa = pkey(rsa_key)
        gw = self.gateway(lockout_threshold=1000, source_lockout_threshold=1000)
        c = self.crafted(gw)
        c.none()
        self.assertEqual(c.reply(), MSG_USERAUTH_FAILURE)
        c.signed("alice", rsa, "ssh-rsa")  # a genuine signature, with SHA-1
        self.assertEqual(c.reply(), MSG_USERAUTH_FAILURE)
        ev = self.wait_event("auth.failure", "alice", reason="disallowed algorithm")
        self.assertEqual(ev["fields"]["method"], "publickey")
        # the same key with SHA-2 logs in on the same connection
        c.signed("alice", rsa, "rsa-sha2-256")
        self.assertEqual(c.reply(), MSG_USERAUTH_SUCCESS)


class ForgedCountsTowardTheSource(CraftedCase):
    def test_backoff(self):
        gw = self.gateway(auth_failure_delay=400, lockout_threshold=1000,
                          source_lockout_threshold=1000, max_auth_attempts=10)
        c = self.crafted(gw)
        c.none()
        self.assertEqual(c.reply(), MSG_USERAUTH_FAILURE)
        took = []
        for _ in range(3):
            start = time.monotonic()
            c.signed("alice", self.alice, ED25519, signer=self.mallory)
            self.assertEqual(c.reply(10), MSG_USERAUTH_FAILURE)
            took.append(time.monotonic() - start)
        # the delays of gateway/conn/auth.c backoff(): 400, 400, 800 ms
        self.assertGreaterEqual(took[0], 0.35, took)
        self.assertGreaterEqual(took[1], 0.35, took)
        self.assertGreaterEqual(took[2], 0.75, took)

    def test_source_lockout(self):
        gw = self.gateway(source_lockout_threshold=3, lockout_threshold=1000)
        c = self.crafted(gw)
        c.none()
        self.assertEqual(c.reply(), MSG_USERAUTH_FAILURE)
        for _ in range(3):
            c.signed("alice", self.alice, ED25519, signer=self.mallory)
            self.assertEqual(c.reply(), MSG_USERAUTH_FAILURE)
        self.wait_event("auth.source_locked")
        # the address is refused at connect, even with alice's key; alice
        # elsewhere is not, nor is her account
        r = h.ssh(gw.port, "alice", "hosts", keys=[self.alice_key],
                  options=[f"BindAddress={ATTACKER}"])
        self.assertRefused(r, r"too many authentication failures from your address")
        self.assert_alice_hosts(self.alice_login(gw))
        self.assertFalse(self.admin.json("user", "show", "alice")["locked"])


if __name__ == "__main__":
    h.main()
