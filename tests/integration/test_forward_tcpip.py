#!/usr/bin/env python3
"""TCP forwarding. Without a target (`alice`): ProxyJump / -W to a granted
host's SSH port (by address and by name), another port of a granted host
only with the `forward` kind, never anything else ("never an open proxy").
Inside a terminated session (`alice+web1`): -L (opened by the backend)
only with `forward`, -R only with `remote-forward`, -A only with `agent`."""

import random
import errno
import socket
import time

import harness as h

PROBE = "SSH-2.0-sshgate_it_probe\r\n"


class Jump(h.ForwardTestCase):

    def W(self, dest, user="alice", keys=None, input=PROBE, timeout=30):
        """`ssh -W dest` through the gateway without a target."""
        return self.tssh(None, user=user, keys=keys, extra_args=["-W", dest],
                         input=input, timeout=timeout)

    def assertForwardRefused(self, r, user="alice"):
        self.assertRc(r, 255)
        self.assertFalse(r.timed_out, f"\n{r}")
        self.assertNotIn("SSH-2.0", r.out)
        self.assertRegex(r.err, r"open failed|stdio forwarding failed", f"\n{r}")

    def test_proxyjump_by_address(self):
        cfg = self.jump_config()
        argv = [h.SSH, "-F", str(cfg), "-J", "gwjump", "-p", str(self.be.port),
                "-i", self.direct_key().path, f"{self.login}@127.0.0.1",
                "echo via-jump; id -un"]
        r = h.run(argv, env=h.ssh_env(), timeout=60)
        self.assertRc(r, 0)
        self.assertEqual(r.out, f"via-jump\n{self.login}\n")
        # end to end: the backend saw the final hop's key, not the gateway's
        self.assertIn(self.direct_key().fingerprint, self.be.log())
        self.wait_event("session.start", user="alice", kind="direct-tcpip",
                        dest=f"127.0.0.1:{self.be.port}", host="web1", via="gateway")
        self.wait_event("session.end", user="alice", kind="direct-tcpip")

    def test_W_by_address_and_by_name(self):
        r = self.W(f"127.0.0.1:{self.be.port}")
        self.assertRc(r, 0)
        self.assertRegex(r.out, r"^SSH-2\.0-OpenSSH")
        r = self.W(f"web1:{self.be.port}")
        self.assertRc(r, 0)
        self.assertRegex(r.out, r"^SSH-2\.0-OpenSSH")
        self.wait_event("session.start", user="alice", kind="direct-tcpip",
                        dest=f"web1:{self.be.port}", host="web1")
        # the name through ProxyCommand, up to a login on the backend
        cfg = self.jump_config()
        argv = [h.SSH, "-F", str(cfg), "-o", f"ProxyCommand={h.SSH} -F {cfg} -W web1:%p gwjump",
                "-p", str(self.be.port), "-i", self.direct_key().path,
                f"{self.login}@web1", "echo by-name"]
        r = h.run(argv, env=h.ssh_env(), timeout=60)
        self.assertRc(r, 0)
        self.assertEqual(r.out, "by-name\n")

    def test_destination_down(self):
        self.be.stop()
        r = self.W(f"127.0.0.1:{self.be.port}")
        self.assertForwardRefused(r)
        self.wait_event("backend.failure", user="alice", host="web1", via="direct-tcpip")

    def test_no_grant_refused(self):
        bob = self.keygen("bob_key")
        self.admin.add_user("bob", key=bob)
        r = self.W(f"127.0.0.1:{self.be.port}", user="bob", keys=[bob])
        self.assertForwardRefused(r)
        self.wait_event("forward.denied", user="bob")
        self.assertNoEvent("session.start", user="bob")

    def test_expired_grant_refused(self):
        carol = self.keygen("carol_key")
        self.admin.add_user("carol", key=carol)
        start = time.monotonic()
        self.admin.grant("carol", "web1", expires="8s")
        r = self.W(f"127.0.0.1:{self.be.port}", user="carol", keys=[carol])
        self.assertRc(r, 0)
        self.assertRegex(r.out, r"^SSH-2\.0-OpenSSH")
        time.sleep(max(0.0, 9.5 - (time.monotonic() - start)))
        r = self.W(f"127.0.0.1:{self.be.port}", user="carol", keys=[carol])
        self.assertForwardRefused(r)
        self.wait_event("forward.denied", user="carol")

    def test_other_port_needs_forward_kind(self):
        echo = self.echo_server()
        r = self.W(f"127.0.0.1:{echo.port}", input="hello\n")
        self.assertForwardRefused(r)
        self.assertEqual(echo.connections, 0, "the gateway connected anyway")
        self.wait_event("forward.denied", user="alice")
        # with `forward` on a grant of that host it is allowed
        self.admin.ok("grant", "del", "alice", "web1")
        self.admin.grant("alice", "web1", allow="shell,exec,sftp,forward")
        data = "".join(random.Random(3).choice("abcdef\n") for _ in range(50000))
        r = self.W(f"127.0.0.1:{echo.port}", input=data)
        self.assertRc(r, 0)
        self.assertEqual(r.out, data)
        self.assertEqual(echo.connections, 1)
        self.wait_event("session.start", user="alice", kind="direct-tcpip",
                        dest=f"127.0.0.1:{echo.port}", host="web1", via="gateway")

    def test_never_an_open_proxy(self):
        self.admin.ok("grant", "del", "alice", "web1")
        self.admin.grant("alice", "web1", allow="all")
        # 127.0.0.2 is no host at all; 127.0.0.3 is a host alice has no grant on
        other = self.echo_server("127.0.0.2")
        ungranted = self.echo_server("127.0.0.3")
        self.admin.ok("host", "add", "db1", "--address", "127.0.0.3",
                      "--port", str(ungranted.port), "--login", "x")
        for dest in (f"127.0.0.2:{other.port}", f"127.0.0.3:{ungranted.port}",
                     f"db1:{ungranted.port}"):
            with self.subTest(dest=dest):
                r = self.W(dest, input="hello\n")
                self.assertForwardRefused(r)
        self.assertEqual((other.connections, ungranted.connections), (0, 0))
        self.wait_event("forward.denied", user="alice")
        # alice's own host still works
        r = self.W(f"127.0.0.1:{self.be.port}")
        self.assertRc(r, 0)


class LocalForward(h.ForwardTestCase):
    """-L inside a terminated session."""

    def start_L(self, dest_port):
        lport = h.free_port()
        # -N: no remote command that could outlive the test on the backend
        argv = self.tssh_argv(None, options=["ExitOnForwardFailure=yes"],
                              extra_args=["-N", "-L", f"{lport}:127.0.0.1:{dest_port}"])
        proc = self.background(argv, f"L-{lport}")
        if not h.wait_for(lambda: h.port_listening(lport) or proc.poll() is not None, 20):
            self.fail("ssh -L did not listen")
        self.assertIsNone(proc.poll(), proc.err())
        return lport, proc

    def roundtrip(self, lport, data=b"ping through L\n"):
        with socket.create_connection(("127.0.0.1", lport), timeout=10) as s:
            try:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
            except OSError as e:
                # ssh closes the local socket as soon as the gateway refuses
                # the channel, which can be before our shutdown: nothing
                # came through
                if e.errno not in (errno.ENOTCONN, errno.EPIPE,
                                   errno.ECONNRESET):
                    raise
                return b""
            got, _ = h.read_until_closed(s, h.t(15))
        return got

    def test_L_refused_without_forward_kind(self):
        echo = self.echo_server()
        lport, proc = self.start_L(echo.port)
        self.assertEqual(self.roundtrip(lport), b"")
        self.assertEqual(echo.connections, 0)
        self.assertTrue(h.wait_for(lambda: "open failed" in proc.err(), 5),
                        f"ssh did not report the refused channel:\n{proc.err()}")
        self.wait_event("forward.denied", user="alice", dest=f"127.0.0.1:{echo.port}",
                        reason="~forward")
        self.assertNoEvent("session.start", user="alice", kind="direct-tcpip")
        # the session itself goes on
        self.assertIsNone(proc.poll())

    def test_L_with_forward_kind(self):
        self.admin.ok("grant", "del", "alice", "web1")
        self.admin.grant("alice", "web1", allow="shell,exec,forward")
        echo = self.echo_server()
        lport, _ = self.start_L(echo.port)
        data = random.Random(5).randbytes(300000)
        self.assertEqual(self.roundtrip(lport, data), data)
        self.assertEqual(self.roundtrip(lport, b"second\n"), b"second\n")
        self.assertEqual(echo.connections, 2)
        self.wait_event("session.start", user="alice", kind="direct-tcpip",
                        dest=f"127.0.0.1:{echo.port}", host="web1", via="backend")


class LocalForwardOpenedByBackend(h.ForwardTestCase):
    """The backend's own policy applies to -L: it is the backend that opens
    the connection, not the gateway."""
    grant_allow = "shell,exec,forward"
    backend_config = ("AcceptEnv TERM FOO", "PermitOpen 127.0.0.1:1")

    def test_backend_permitopen_applies(self):
        echo = self.echo_server()
        lport, _ = LocalForward.start_L(self, echo.port)
        self.assertEqual(LocalForward.roundtrip(self, lport), b"")
        self.assertEqual(echo.connections, 0)


class RemoteForward(h.ForwardTestCase):
    CLIENT = ("bash -c 'for i in $(seq 100); do "
              "exec 3<>/dev/tcp/127.0.0.1/{rport} 2>/dev/null && break; sleep 0.1; done; "
              "printf {msg} >&3; head -c {n} <&3'")

    def test_R_refused_without_kind(self):
        echo = self.echo_server()
        rport = h.free_port()
        r = self.tssh(None, options=["ExitOnForwardFailure=yes"],
                      extra_args=["-N", "-R", f"{rport}:127.0.0.1:{echo.port}"], timeout=30)
        self.assertRc(r, 255)
        self.assertLess(r.elapsed, h.t(15))
        self.assertIn(f"remote port forwarding failed for listen port {rport}", r.err)
        self.wait_event("channel.denied", user="alice", kind="tcpip-forward")
        self.assertFalse(h.port_listening(rport), "the backend listens anyway")

    def test_R_with_kind(self):
        self.admin.ok("grant", "del", "alice", "web1")
        self.admin.grant("alice", "web1", allow="exec,remote-forward")
        echo = self.echo_server()
        rport = h.free_port()
        msg = "hello-through-R"
        r = self.tssh(self.CLIENT.format(rport=rport, msg=msg, n=len(msg)),
                      options=["ExitOnForwardFailure=yes"],
                      extra_args=["-R", f"{rport}:127.0.0.1:{echo.port}"], timeout=60)
        self.assertRc(r, 0)
        self.assertEqual(r.out, msg)
        self.assertEqual(echo.connections, 1)
        self.wait_event("forward.open", user="alice", kind="tcpip-forward", host="web1",
                        bound=str(rport))
        self.wait_event("session.start", user="alice", kind="tcpip-forward", host="web1",
                        bound=str(rport))
        # the listener goes away with the session
        self.assertTrue(h.wait_for(lambda: not h.port_listening(rport), 10),
                        "the remote forward outlived the session")


class AgentForward(h.ForwardTestCase):
    def agent(self):
        agent = self.closing(h.SshAgent(self.dir))
        self.agent_key = self.keygen("agent_key")
        agent.add(self.agent_key)
        return agent

    def test_agent_refused_without_kind(self):
        agent = self.agent()
        r = self.tssh("ssh-add -l", extra_args=["-A"], identity_agent=str(agent.sock))
        self.assertRc(r, 2)
        self.assertIn("Could not open a connection to your authentication agent", r.err)
        self.assertNotIn(self.agent_key.fingerprint, r.out)

    def test_agent_with_kind(self):
        self.admin.ok("grant", "del", "alice", "web1")
        self.admin.grant("alice", "web1", allow="exec,agent")
        agent = self.agent()
        r = self.tssh("ssh-add -l", extra_args=["-A"], identity_agent=str(agent.sock))
        self.assertRc(r, 0)
        self.assertIn(self.agent_key.fingerprint, r.out)
        self.wait_event("session.start", user="alice", kind="agent")
        # without -A nothing is forwarded even with the kind
        r = self.tssh("ssh-add -l", identity_agent=str(agent.sock))
        self.assertRc(r, 2)


if __name__ == "__main__":
    h.main()
