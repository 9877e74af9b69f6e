#!/usr/bin/env python3
"""Grants enforced on terminated sessions: channel kinds a grant does not
allow are refused (channel.denied), exec commands that are file
transfers (scp -O, rsync, sftp-server) need transfer or sftp, and an
expired grant, no grant, an
unknown host or a backend login that is not granted refuse the target
(access.denied) without logging in to the backend."""

import re
import time

import harness as h


def backend_logins(be: h.Backend) -> int:
    """How many logins the backend sshd accepted so far."""
    return len(re.findall(r"Accepted publickey for ", be.log()))


class ShellOnly(h.ForwardTestCase):
    grant_allow = "shell"

    def test_exec_refused(self):
        r = self.tssh("echo should-not-run")
        self.assertRc(r, 255)
        self.assertEqual(r.out, "")
        # the reason always reaches the user (a failed command, exit 255,
        # rather than a refused request OpenSSH may quit on before it
        # prints what came with it)
        self.assertIn("sshgate: exec on web1 is not allowed by your grant", r.err)
        self.wait_event("channel.denied", user="alice", kind="exec", host="web1",
                        login=self.login)
        self.assertNoEvent("session.start", user="alice", kind="exec")

    def test_sftp_and_scp_refused(self):
        (self.dir / "f").write_text("x\n")
        r = h.sftp_batch(self.gw.port, "alice+web1", [self.alice_key],
                         f"put {self.dir}/f {self.dir}/g\n", self.dir)
        self.assertNotEqual(r.rc, 0, f"\n{r}")
        self.assertFalse((self.dir / "g").exists(), "sftp wrote the file")
        self.wait_event("channel.denied", user="alice", kind="~^(sftp|subsystem)$")
        r = h.scp(self.gw.port, [self.alice_key],
                  [str(self.dir / "f"), f"alice+web1@127.0.0.1:{self.dir}/h"])
        self.assertNotEqual(r.rc, 0, f"\n{r}")
        r = h.scp(self.gw.port, [self.alice_key],
                  [str(self.dir / "f"), f"alice+web1@127.0.0.1:{self.dir}/h"], legacy=True)
        self.assertNotEqual(r.rc, 0, f"\n{r}")
        self.assertFalse((self.dir / "h").exists(), "scp wrote the file")

    def test_shell_allowed(self):
        c = self.closing(h.PtyClient(self.tssh_argv(None, extra_args=["-tt"]), 24, 80,
                                     env=h.ssh_env()))
        c.write("echo SHELL$((40+2)); exit 3\n")
        self.assertIsNotNone(c.read_until(r"SHELL42"), c.text())
        self.assertEqual(c.wait(), 3, c.text())


class All(h.ForwardTestCase):
    grant_allow = "all"

    def test_other_subsystems_refused(self):
        r = self.tssh("netconf", extra_args=["-s"], input="")
        self.assertRc(r, 255)
        self.assertIn("sshgate: subsystem netconf on web1 is not allowed", r.err)
        self.wait_event("channel.denied", user="alice", kind="subsystem", subsystem="netconf")


class ExecOnly(h.ForwardTestCase):
    grant_allow = "exec"

    def test_shell_refused_exec_allowed(self):
        r = self.tssh(None, extra_args=["-tt"], input="echo no\nexit\n", timeout=30)
        self.assertRc(r, 255)
        self.assertIn("sshgate: shell on web1 is not allowed by your grant", r.err)
        self.wait_event("channel.denied", user="alice", kind="shell")
        r = self.tssh("echo yes")
        self.assertRc(r, 0)
        self.assertEqual(r.out, "yes\n")


class ExecWithoutTransfer(h.ForwardTestCase):
    """An exec grant is for commands: the stock file-transfer tools, which
    run as exec commands, need transfer (or sftp) as well."""
    grant_allow = "exec"

    def assertTransferRefused(self, r, tool):
        self.assertNotEqual(r.rc, 0, f"\n{r}")
        self.assertIn(f"sshgate: file transfer ({tool}) on web1 is not allowed by your grant",
                      r.err)
        ev = self.wait_event("channel.denied", user="alice", kind="transfer", tool=tool,
                             host="web1", login=self.login)
        self.assertNotEqual(ev["fields"].get("command", ""), "")
        return ev

    def test_scp_legacy_upload_refused(self):
        (self.dir / "f").write_text("x\n")
        r = h.scp(self.gw.port, [self.alice_key],
                  [str(self.dir / "f"), f"alice+web1@127.0.0.1:{self.dir}/g"], legacy=True)
        ev = self.assertTransferRefused(r, "scp")
        self.assertRegex(ev["fields"]["command"], r"^scp .*-t")
        self.assertFalse((self.dir / "g").exists(), "scp -O wrote the file")
        self.assertNoEvent("session.start", user="alice", kind="exec")

    def test_scp_legacy_download_refused(self):
        (self.dir / "f").write_text("secret\n")
        r = h.scp(self.gw.port, [self.alice_key],
                  [f"alice+web1@127.0.0.1:{self.dir}/f", str(self.dir / "copy")], legacy=True)
        self.assertTransferRefused(r, "scp")
        self.assertFalse((self.dir / "copy").exists(), "scp -O fetched the file")

    def test_rsync_refused(self):
        tree = self.dir / "tree"
        tree.mkdir()
        (tree / "a").write_text("a\n")
        r = h.rsync_ssh(self.gw.port, "alice+web1", [self.alice_key],
                        ["-a", f"{tree}/", f"127.0.0.1:{self.dir}/copy/"])
        ev = self.assertTransferRefused(r, "rsync")
        self.assertIn("--server", ev["fields"]["command"])
        self.assertFalse((self.dir / "copy").exists(), "rsync wrote the tree")

    def test_sftp_server_as_command_refused(self):
        r = self.tssh("/usr/lib/openssh/sftp-server", input="")
        self.assertRc(r, 255)
        self.assertTransferRefused(r, "sftp")

    def test_wrapped_in_sh_c_refused(self):
        r = self.tssh(f"sh -c 'cd {self.dir} && scp -t .'", input="")
        self.assertRc(r, 255)
        self.assertTransferRefused(r, "scp")

    def test_plain_exec_still_works(self):
        r = self.tssh("echo plain; rsync --version >/dev/null && echo rsync-ran")
        self.assertRc(r, 0)
        self.assertEqual(r.out, "plain\nrsync-ran\n")
        self.assertNoEvent("channel.denied", user="alice")


class ExecAndTransfer(h.ForwardTestCase):
    grant_allow = "exec,transfer"

    def test_scp_legacy_and_rsync_work(self):
        (self.dir / "f").write_text("x\n")
        r = h.scp(self.gw.port, [self.alice_key],
                  [str(self.dir / "f"), f"alice+web1@127.0.0.1:{self.dir}/g"], legacy=True)
        self.assertRc(r, 0)
        self.assertEqual((self.dir / "g").read_text(), "x\n")
        self.wait_event("session.start", user="alice", kind="exec", command="~^scp ")
        r = h.rsync_ssh(self.gw.port, "alice+web1", [self.alice_key],
                        [str(self.dir / "f"), f"127.0.0.1:{self.dir}/r"])
        self.assertRc(r, 0)
        self.assertEqual((self.dir / "r").read_text(), "x\n")
        self.assertNoEvent("channel.denied", user="alice")


class ExecAndSftp(h.ForwardTestCase):
    # sftp moves files anyway (and is audited file by file): it allows the
    # exec-borne tools too, so grants made before transfer existed with
    # the default kinds keep working
    grant_allow = "exec,sftp"

    def test_scp_legacy_works(self):
        (self.dir / "f").write_text("y\n")
        r = h.scp(self.gw.port, [self.alice_key],
                  [str(self.dir / "f"), f"alice+web1@127.0.0.1:{self.dir}/g"], legacy=True)
        self.assertRc(r, 0)
        self.assertEqual((self.dir / "g").read_text(), "y\n")


class Access(h.ForwardTestCase):
    def assertTargetRefused(self, r, user, host):
        self.assertRc(r, 255)
        self.assertFalse(r.timed_out)
        self.assertEqual(r.out, "", f"\n{r}")
        self.assertNotEqual(r.err.strip(), "", "refused without saying why")
        self.wait_event("access.denied", user=user, host=host)

    def test_granted_target_works(self):
        r = self.tssh("echo ok")
        self.assertRc(r, 0)
        self.assertEqual(r.out, "ok\n")

    def test_no_grant(self):
        bob = self.keygen("bob_key")
        self.admin.add_user("bob", key=bob)
        before = backend_logins(self.be)
        r = self.tssh("echo no", user="bob+web1", keys=[bob])
        self.assertTargetRefused(r, "bob", "web1")
        self.assertEqual(backend_logins(self.be), before, "logged in to the backend anyway")

    def test_unknown_host(self):
        before = backend_logins(self.be)
        r = self.tssh("echo no", user="alice+nosuchhost")
        self.assertTargetRefused(r, "alice", "nosuchhost")
        self.assertEqual(backend_logins(self.be), before)

    def test_login_not_granted(self):
        before = backend_logins(self.be)
        r = self.tssh("echo no", user="alice+nobody@web1")
        self.assertTargetRefused(r, "alice", "web1")
        self.assertEqual(backend_logins(self.be), before)
        self.assertNotIn("Accepted publickey for nobody", self.be.log())

    def test_host_granted_to_someone_else(self):
        self.admin.ok("host", "add", "db1", "--address", "127.0.0.1",
                      "--port", str(self.be.port), "--login", self.login)
        bob = self.keygen("bob_key")
        self.admin.add_user("bob", key=bob)
        self.admin.grant("bob", "db1")
        r = self.tssh("echo no", user="alice+db1")
        self.assertTargetRefused(r, "alice", "db1")
        r = self.tssh("echo yes", user="bob+db1", keys=[bob])
        self.assertRc(r, 0)
        self.assertEqual(r.out, "yes\n")

    def test_expired_grant(self):
        self.admin.ok("host", "add", "web2", "--address", "127.0.0.1",
                      "--port", str(self.be.port), "--login", self.login)
        start = time.monotonic()
        self.admin.grant("alice", "web2", expires="8s")
        r = self.tssh("echo before-expiry", user="alice+web2")
        self.assertRc(r, 0)
        self.assertEqual(r.out, "before-expiry\n")
        time.sleep(max(0.0, 9.5 - (time.monotonic() - start)))
        before = backend_logins(self.be)
        r = self.tssh("echo after-expiry", user="alice+web2")
        self.assertTargetRefused(r, "alice", "web2")
        self.assertIn("sshgate: alice's access to web2 has expired", r.err)
        self.wait_event("access.denied", user="alice", host="web2", reason="expired")
        self.assertEqual(backend_logins(self.be), before)
        # web1 is not affected
        r = self.tssh("echo web1")
        self.assertRc(r, 0)

    def test_unknown_and_ungranted_hosts_look_the_same(self):
        # host names are not disclosed: an existing host without a grant
        # gets the answer of a host that does not exist
        self.admin.ok("host", "add", "db1", "--address", "127.0.0.1",
                      "--port", str(self.be.port), "--login", self.login)
        unknown = self.tssh("echo no", user="alice+nosuch1")
        ungranted = self.tssh("echo no", user="alice+db1")
        self.assertTargetRefused(unknown, "alice", "nosuch1")
        self.assertTargetRefused(ungranted, "alice", "db1")
        strip = lambda r: re.sub(r"port \d+", "port N",
                                 h.client_stderr(r.err).replace("nosuch1", "HOST")
                                 .replace("db1", "HOST"))
        self.assertEqual(strip(unknown), strip(ungranted))
        self.assertIn("sshgate: alice may not connect to db1", ungranted.err)

    def test_ambiguous_login_refused(self):
        # two grants on a host without default login: the login must be named
        self.admin.ok("host", "add", "web2", "--address", "127.0.0.1",
                      "--port", str(self.be.port))
        self.admin.grant("alice", "web2", login=self.login)
        self.admin.grant("alice", "web2", login="nobody")
        r = self.tssh("echo no", user="alice+web2")
        self.assertTargetRefused(r, "alice", "web2")
        self.assertIn("several logins granted on web2", r.err)
        self.assertIn("use alice+LOGIN@web2", r.err)
        self.wait_event("access.denied", user="alice", host="web2", reason="ambiguous-login")
        r = self.tssh("id -un", user=f"alice+{self.login}@web2")
        self.assertRc(r, 0)
        self.assertEqual(r.out, f"{self.login}\n")

    def test_grant_deleted(self):
        self.admin.ok("grant", "del", "alice", "web1")
        r = self.tssh("echo no")
        self.assertTargetRefused(r, "alice", "web1")

    def test_plain_login_still_lists_hosts(self):
        r = self.tssh("hosts", user="alice")
        self.assertRc(r, 0)
        hosts = h.parse_hosts(r.out)
        self.assertEqual(hosts, {"web1": (f"127.0.0.1:{self.be.port}", {self.login})})


if __name__ == "__main__":
    h.main()
