#!/usr/bin/env python3
"""Jump hosts (docs/forwarding.md, "Outbound proxies and jump hosts"):
`host add web2 --via web1` has the gateway reach web2 through its own SSH
connection to web1 (web1's credential and pin) and a direct-tcpip channel
from web1, for a terminated session, an sftp transfer and `ssh -J` alike
(web1's sshd log shows each forwarding); a wrong pin on either hop is
refused and recorded; chains longer than max_jump_depth are refused, a
loop at `host set`, the deletion of a jump host in use at `host del`."""

import re

import harness as h


class JumpChain(h.ForwardTestCase):
    # web1's sshd logs its direct-tcpip requests at DEBUG1
    backend_config = ("AcceptEnv TERM FOO", "LogLevel DEBUG1")

    def setUp(self):
        super().setUp()
        self.be2 = self.backend()
        self.be2.authorize(self.backend_pub)
        self.admin.ok("host", "add", "web2", "--address", "127.0.0.1",
                      "--port", str(self.be2.port), "--login", self.login,
                      "--via", "web1")
        self.admin.grant("alice", "web2")
        self.remote = self.dir / "remote"
        self.remote.mkdir()
        self.local = self.dir / "local"
        self.local.mkdir()

    def forwardings(self, port):
        """direct-tcpip requests web1's sshd took for 127.0.0.1:port."""
        return len(re.findall(
            rf"server_request_direct_tcpip: originator \S+ port \d+, "
            rf"target 127\.0\.0\.1 port {port}\b", self.be.log()))


    def through(self, port, fn):
        """fn() must add a forwarding to port in web1's log."""
        seen = self.forwardings(port)
        fn()
        self.eventually(lambda: self.forwardings(port) > seen,
                        msg=f"web1 forwarded to port {port}")

    def terminated(self, host="web2"):
        r = self.tssh("echo via-web1; id -un", user=f"alice+{host}")
        self.assertRc(r, 0)
        self.assertEqual(r.out, f"via-web1\n{self.login}\n")

    def sftp(self, host="web2"):
        src = self.local / "chain.bin"
        src.write_bytes(b"chained " * 50000)
        batch = (f"put {src} {self.remote}/chain.bin\n"
                 f"get {self.remote}/chain.bin {self.local}/chain.back\n")
        r = h.sftp_batch(self.gw.port, f"alice+{host}", [self.alice_key],
                         batch, self.dir)
        self.assertRc(r, 0)
        self.assertEqual((self.remote / "chain.bin").read_bytes(),
                         src.read_bytes())
        self.assertEqual((self.local / "chain.back").read_bytes(),
                         src.read_bytes())

    def jump(self, host="web2", port=None):
        key = self.keygen("direct2_key")
        self.be2.authorize(key)
        port = port or self.be2.port
        argv = [h.SSH, "-F", str(self.jump_config()), "-J", "gwjump",
                "-p", str(port), "-i", key.path, f"{self.login}@{host}",
                "echo jumped"]
        r = h.run(argv, env=h.ssh_env(), timeout=60)
        self.assertRc(r, 0)
        self.assertEqual(r.out, "jumped\n")
        # end to end: web2 saw the client's own key
        self.assertIn(key.fingerprint, self.be2.log())

    def test_session_sftp_and_J_through_web1(self):
        self.through(self.be2.port, self.terminated)
        self.through(self.be2.port, self.sftp)
        self.through(self.be2.port, self.jump)
        # both hops pinned on first use; the rows name web2
        self.wait_event("host.pin", host="web1")
        self.wait_event("host.pin", host="web2")
        self.wait_session(host="web2", kind="exec")
        self.wait_session(host="web2", kind="sftp")
        self.wait_session(host="web2", kind="direct-tcpip")
        show = self.admin.json("host", "show", "web2")
        self.assertEqual(show["via"], "web1")
        # host check goes through web1 too
        self.assertIn("OK: web2", self.admin.ok("host", "check", "web2").out)
        # the gateway logged in to web1 with its own backend key
        self.assertIn(f"Accepted publickey for {self.login}", self.be.log())

    def test_two_hops(self):
        """web3 via web2 via web1: web3 is web1's sshd again, reached
        through web2, which is reached through web1."""
        self.admin.ok("host", "add", "web3", "--address", "127.0.0.1",
                      "--port", str(self.be.port), "--login", self.login,
                      "--via", "web2")
        self.admin.grant("alice", "web3")
        self.through(self.be2.port, lambda: self.terminated("web3"))
        self.wait_session(host="web3", kind="exec")
        # a chain longer than max_jump_depth is refused
        self.gw.reload(max_jump_depth=1)
        r = self.tssh("true", user="alice+web3")
        self.assertRefused(r, r"more than 1 jump hosts")
        self.terminated("web2")

    def test_wrong_pin_on_each_hop(self):
        self.terminated()
        # web1 presents another key: refused, the mismatch is web1's
        self.be.stop()
        self.be.new_host_key()
        self.be.start()
        r = self.tssh("true", user="alice+web2")
        self.assertRefused(r, r"sshgate: backend web1: HOST KEY MISMATCH: "
                              r".*\(jump host to web2\)")
        self.wait_event("host.mismatch", user="alice", host="web1")
        self.wait_event("backend.failure", user="alice", host="web2",
                        jump="web1", reason="hostkey-mismatch")
        # -J too
        r = self.tssh(None, user="alice",
                      extra_args=["-W", f"web2:{self.be2.port}"], input="",
                      timeout=30)
        self.assertRc(r, 255)
        self.wait_event("backend.failure", user="alice", host="web2",
                        via="direct-tcpip", reason="hostkey-mismatch")
        # web1 trusted again; now web2 presents another key
        self.admin.ok("host", "trust", "web1")
        self.terminated()
        self.be2.stop()
        self.be2.new_host_key()
        self.be2.start()
        r = self.tssh("true", user="alice+web2")
        self.assertRefused(r, r"sshgate: backend web2: HOST KEY MISMATCH")
        self.wait_event("host.mismatch", user="alice", host="web2")

    def test_loops_and_deletion_refused(self):
        r = self.admin.run("host", "set", "web1", "--via", "web2")
        self.assertEqual(r.rc, 1, f"\n{r}")
        self.assertEqual(r.err.count("\n"), 1, f"\n{r}")
        self.assertIn("loop", r.err)
        r = self.admin.run("host", "set", "web1", "--via", "web1")
        self.assertEqual(r.rc, 1, f"\n{r}")
        r = self.admin.run("host", "del", "web1")
        self.assertEqual(r.rc, 1, f"\n{r}")
        self.assertIn("jump host", r.err)
        # without --via again, web2 is reached directly
        self.admin.ok("host", "set", "web2", "--via", "none")
        seen = self.forwardings(self.be2.port)
        self.terminated()
        self.assertEqual(self.forwardings(self.be2.port), seen)
        self.wait_event("admin.host.set", host="web2", via="none")
        self.admin.ok("host", "del", "web1")

    def test_hop_down(self):
        self.be.stop()
        r = self.tssh("true", user="alice+web2")
        self.assertRefused(r, r"sshgate: backend web1 .*Connection refused "
                              r"\(jump host to web2\)")
        self.wait_event("backend.failure", user="alice", host="web1",
                        reason="refused")

    def test_next_hop_down(self):
        """web1 is up but cannot reach web2: the channel's refusal is
        named, and web1, seen for the first time, is pinned anyway."""
        self.be2.stop()
        r = self.tssh("true", user="alice+web2")
        self.assertRefused(r, rf"sshgate: jump host web1 cannot reach "
                              rf"127\.0\.0\.1 port {self.be2.port}: .*"
                              rf"\(jump host to web2\)")
        self.wait_event("backend.failure", user="alice", host="web1",
                        reason="unreachable")
        self.wait_event("backend.failure", user="alice", host="web2",
                        jump="web1", reason="unreachable")
        self.wait_event("host.pin", host="web1")


if __name__ == "__main__":
    h.main()
