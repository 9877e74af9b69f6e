#!/usr/bin/env python3
"""Algorithm hygiene: ssh-audit finds no [fail] item, the server's KEXINIT
offers strict KEX and no weak algorithms, weak client proposals are refused,
and the kex/ciphers/macs knobs restrict what is offered."""

import re
import shutil
import unittest

import harness as h

WEAK_KEX = {"diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1",
            "diffie-hellman-group-exchange-sha1", "gss-group1-sha1-",
            "rsa1024-sha1"}
WEAK_HOSTKEY = {"ssh-rsa", "ssh-dss", "ssh-rsa-cert-v01@openssh.com",
                "ssh-dss-cert-v01@openssh.com"}
WEAK_MAC_RE = re.compile(r"md5|-96|^hmac-sha1|umac-64|ripemd|^none$")
WEAK_CIPHER_RE = re.compile(r"cbc|3des|arcfour|rc4|blowfish|cast128|^none$|rijndael")


class SshAudit(h.TestCase):
    def setUp(self):
        super().setUp()
        self.make_alice()
        self.gw = self.gateway()

    @unittest.skipUnless(shutil.which("ssh-audit"), "ssh-audit not installed")
    def test_ssh_audit_reports_no_fail(self):
        r = h.run(["ssh-audit", "-n", "-t", "20", "-p", str(self.gw.port), "127.0.0.1"],
                  timeout=120)
        self.assertNotIn("[exception]", r.out + r.err, f"\n{r}")
        self.assertIn("# key exchange algorithms", r.out, f"ssh-audit did not scan\n{r}")
        self.assertIn("# encryption algorithms", r.out, f"\n{r}")
        fails = [l for l in r.out.splitlines() if "[fail]" in l]
        self.assertEqual(fails, [], f"ssh-audit [fail] items:\n{r.out}")
        # the scan left the daemon in good shape
        self.assert_alice_hosts(self.alice_login(self.gw))

    @unittest.skipUnless(shutil.which("ssh-audit"), "ssh-audit not installed")
    def test_control_ssh_audit_flags_a_weak_server(self):
        # the check above must be able to fail: a real sshd with a CBC cipher
        # and SHA-1 key exchange gets [fail] items
        be = self.backend(extra_config=["Ciphers aes128-cbc,aes256-ctr",
                                        "KexAlgorithms diffie-hellman-group1-sha1,curve25519-sha256"])
        r = h.run(["ssh-audit", "-n", "-t", "20", "-p", str(be.port), "127.0.0.1"], timeout=120)
        fails = [l for l in r.out.splitlines() if "[fail]" in l]
        self.assertTrue(fails, f"ssh-audit found nothing wrong with a weak sshd:\n{r}")
        _, kex = h.server_kexinit(be.port)
        self.assertTrue([c for c in kex["enc_c2s"] if WEAK_CIPHER_RE.search(c)])

    def test_kexinit_is_hardened(self):
        ident, kex = h.server_kexinit(self.gw.port)
        self.assertTrue(ident.startswith(b"SSH-2.0-"), ident)
        self.assertIn("kex-strict-s-v00@openssh.com", kex["kex"], "strict KEX (Terrapin)")
        self.assertFalse(WEAK_KEX & set(kex["kex"]), kex["kex"])
        self.assertFalse(WEAK_HOSTKEY & set(kex["hostkey"]), kex["hostkey"])
        self.assertIn("ssh-ed25519", kex["hostkey"])
        for d in ("enc_c2s", "enc_s2c"):
            self.assertTrue(kex[d], d)
            self.assertEqual([c for c in kex[d] if WEAK_CIPHER_RE.search(c)], [], kex[d])
        for d in ("mac_c2s", "mac_s2c"):
            self.assertEqual([m for m in kex[d] if WEAK_MAC_RE.search(m)], [], kex[d])
        self.assertTrue({"curve25519-sha256", "curve25519-sha256@libssh.org",
                         "sntrup761x25519-sha512@openssh.com"} & set(kex["kex"]), kex["kex"])
        self.assertTrue({"chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com",
                         "aes128-gcm@openssh.com"} & set(kex["enc_c2s"]), kex["enc_c2s"])
        # compression is off by default
        self.assertEqual(kex["comp_c2s"], ["none"])
        self.assertEqual(kex["comp_s2c"], ["none"])

    def test_weak_client_proposals_refused(self):
        cases = [
            (["Ciphers=aes128-cbc,3des-cbc"], r"no matching cipher"),
            (["KexAlgorithms=diffie-hellman-group1-sha1,diffie-hellman-group14-sha1"],
             r"no matching key exchange method"),
            (["Ciphers=aes128-ctr", "MACs=hmac-sha1,hmac-md5"], r"no matching MAC"),
            (["HostKeyAlgorithms=ssh-rsa,ssh-dss"], r"no matching host key type"),
        ]
        for opts, pattern in cases:
            r = self.gw.ssh("alice", "hosts", keys=[self.alice_key], options=opts)
            self.assertRefused(r, pattern)
        # and the daemon is fine afterwards
        self.assert_alice_hosts(self.alice_login(self.gw))


class AlgorithmKnobs(h.TestCase):
    def test_configured_lists_are_what_is_offered(self):
        self.make_alice()
        gw = self.gateway(ciphers="aes256-gcm@openssh.com", kex="curve25519-sha256",
                          macs="hmac-sha2-512-etm@openssh.com")
        _, kex = h.server_kexinit(gw.port)
        self.assertEqual(kex["enc_c2s"], ["aes256-gcm@openssh.com"])
        self.assertEqual(kex["enc_s2c"], ["aes256-gcm@openssh.com"])
        self.assertEqual(set(kex["kex"]) - {"kex-strict-s-v00@openssh.com", "ext-info-s"},
                         {"curve25519-sha256"}, kex["kex"])
        self.assertIn("kex-strict-s-v00@openssh.com", kex["kex"])
        self.assertEqual(kex["mac_c2s"], ["hmac-sha2-512-etm@openssh.com"])
        r = gw.ssh("alice", "hosts", keys=[self.alice_key],
                   options=["Ciphers=chacha20-poly1305@openssh.com"])
        self.assertRefused(r, r"no matching cipher")
        r = gw.ssh("alice", "hosts", keys=[self.alice_key],
                   options=["Ciphers=aes256-gcm@openssh.com"])
        self.assert_alice_hosts(r)

    def test_compression_knob(self):
        self.make_alice()
        gw = self.gateway(compression="yes")
        _, kex = h.server_kexinit(gw.port)
        self.assertIn("zlib@openssh.com", kex["comp_s2c"])
        self.assertNotIn("zlib", kex["comp_s2c"], "pre-auth zlib should not be offered")
        r = gw.ssh("alice", "hosts", keys=[self.alice_key], extra_args=["-C", "-v"])
        self.assert_alice_hosts(r)
        self.assertRegex(r.err, r"compression: zlib@openssh\.com")

    def test_hostkey_algorithms_knob(self):
        self.make_alice()
        gw = self.gateway(hostkey_algorithms="ssh-ed25519")
        _, kex = h.server_kexinit(gw.port)
        self.assertEqual(kex["hostkey"], ["ssh-ed25519"])
        self.assert_alice_hosts(self.alice_login(gw))


if __name__ == "__main__":
    h.main()
