#!/usr/bin/env python3
"""Outbound proxies (docs/forwarding.md, "Outbound proxies and jump
hosts"): the gateway reaches a backend through SOCKS4 (danted), SOCKS4A
(OpenSSH's ssh -D: Dante has no SOCKS4A),
SOCKS5 with a user and a password (microsocks), SOCKS5 with the proxy
resolving the name (danted) and HTTP CONNECT with Basic authentication
(tinyproxy), for a terminated session, an sftp transfer and `ssh -J`
alike; a proxy that refuses is named with its answer, to the user and in
the backend.failure event; backend_proxy and its bypass list; the proxy's
password is a secret that nothing prints."""

import harness as h

PROXY_PASSWORD = "Proxy-pass-1234"


class BackendProxy(h.ForwardTestCase):
    def setUp(self):
        super().setUp()
        self.remote = self.dir / "remote"
        self.remote.mkdir()
        self.local = self.dir / "local"
        self.local.mkdir()

    # fixtures ------------------------------------------------------------
    def proxy(self, proxy):
        self.closing(proxy)
        return proxy.start()

    def set_proxy(self, host, url, password=None):
        args = ["host", "set", host, "--via-proxy", url]
        if password is not None:
            args.append("--proxy-password-stdin")
        self.admin.ok(*args, input=(password + "\n") if password else None)

    def add_by_name(self):
        """Host web1n: the backend by the name "localhost", which a
        socks4a, socks5h or http proxy resolves itself."""
        self.admin.add_host("web1n", "localhost", port=self.be.port,
                            login=self.login)
        self.admin.grant("alice", "web1n")
        return "web1n"


    # the three ways of reaching a backend --------------------------------
    def terminated(self, host):
        r = self.tssh("echo through-proxy; id -un", user=f"alice+{host}")
        self.assertRc(r, 0)
        self.assertEqual(r.out, f"through-proxy\n{self.login}\n")

    def sftp(self, host, tag):
        src = self.local / f"{tag}.bin"
        src.write_bytes(bytes(range(256)) * 1000 + tag.encode())
        batch = (f"put {src} {self.remote}/{tag}.bin\n"
                 f"get {self.remote}/{tag}.bin {self.local}/{tag}.back\n")
        r = h.sftp_batch(self.gw.port, f"alice+{host}", [self.alice_key],
                         batch, self.dir)
        self.assertRc(r, 0)
        self.assertEqual((self.remote / f"{tag}.bin").read_bytes(),
                         src.read_bytes())
        self.assertEqual((self.local / f"{tag}.back").read_bytes(),
                         src.read_bytes())

    def jump(self, host):
        argv = [h.SSH, "-F", str(self.jump_config()), "-J", "gwjump",
                "-p", str(self.be.port), "-i", self.direct_key().path,
                f"{self.login}@{host}", "echo jumped"]
        r = h.run(argv, env=h.ssh_env(), timeout=60)
        self.assertRc(r, 0)
        self.assertEqual(r.out, "jumped\n")
        self.wait_event("session.start", user="alice", kind="direct-tcpip",
                        host=host, via="gateway")

    def all_three(self, host, tag, count=None):
        """A terminated session, an sftp transfer and -J to host; count()
        (the proxy's log) grows with each."""
        seen = count() if count else 0
        self.terminated(host)
        if count:
            self.assertGreater(self.eventually(count, msg="proxy log"), seen)
            seen = count()
        self.sftp(host, tag)
        if count:
            self.eventually(lambda: count() > seen, msg="proxy log (sftp)")
            seen = count()
        self.jump(host)
        if count:
            self.eventually(lambda: count() > seen, msg="proxy log (-J)")

    def assertProxyGone(self, host, endpoint):
        """With the proxy stopped, host fails naming it: the session
        really depended on it."""
        r = self.tssh("true", user=f"alice+{host}")
        self.assertRefused(r, rf"sshgate: backend {host} .*proxy "
                              rf"{endpoint}: ")
        self.wait_event("backend.failure", user="alice", host=host,
                        reason="proxy", message=f"~proxy {endpoint}: ")

    # each proxy type -----------------------------------------------------
    def test_socks4(self):
        px = self.proxy(h.Dante(self.dir))
        self.set_proxy("web1", f"socks4://127.0.0.1:{px.port}")
        self.all_three("web1", "s4", lambda: px.connections_to(self.be.port))
        px.stop()
        self.assertProxyGone("web1", f"socks4://127.0.0.1:{px.port}")

    def test_socks4a_resolves_at_the_proxy(self):
        px = self.proxy(h.SshDynamic(self.dir, self.be.port, self.login,
                                     self.direct_key()))
        host = self.add_by_name()
        self.set_proxy(host, f"socks4a://127.0.0.1:{px.port}")
        # the name goes to the proxy: its log names "localhost"
        self.all_three(host, "s4a",
                       lambda: px.requests_for("localhost", self.be.port))
        self.assertIn("socks4a://127.0.0.1", self.admin.ok("host", "show",
                                                           host).out)

    def test_socks5_user_and_password(self):
        px = self.proxy(h.Microsocks(self.dir, "gwuser", PROXY_PASSWORD))
        self.set_proxy("web1", f"socks5://gwuser@127.0.0.1:{px.port}",
                       PROXY_PASSWORD)
        self.all_three("web1", "s5")
        # host check goes the host's way too
        self.assertIn("OK: web1", self.admin.ok("host", "check", "web1").out)
        # the wrong password: the proxy's refusal, named
        self.set_proxy("web1", f"socks5://gwuser@127.0.0.1:{px.port}",
                       "wrong-password")
        r = self.tssh("true")
        self.assertRefused(r, rf"proxy socks5://127\.0\.0\.1:{px.port}: "
                              r".*(auth|SOCKS5)")
        px.stop()
        self.set_proxy("web1", f"socks5://gwuser@127.0.0.1:{px.port}",
                       PROXY_PASSWORD)
        self.assertProxyGone("web1", f"socks5://127.0.0.1:{px.port}")
        self.assertSecretNowhere()

    def test_socks5h_resolves_at_the_proxy(self):
        px = self.proxy(h.Dante(self.dir))
        host = self.add_by_name()
        self.set_proxy(host, f"socks5h://127.0.0.1:{px.port}")
        self.all_three(host, "s5h", lambda: px.connections_to(self.be.port))

    def test_http_connect_with_basic_auth(self):
        px = self.proxy(h.Tinyproxy(self.dir, "gwuser", PROXY_PASSWORD,
                                    connect_ports=[self.be.port]))
        host = self.add_by_name()
        self.set_proxy(host, f"http://gwuser@127.0.0.1:{px.port}",
                       PROXY_PASSWORD)
        self.all_three(host, "http", lambda: px.connects_to(self.be.port))
        # without the password the proxy answers 407 (or 401)
        self.set_proxy(host, f"http://127.0.0.1:{px.port}")
        r = self.tssh("true", user=f"alice+{host}")
        self.assertRefused(r, rf"proxy http://127\.0\.0\.1:{px.port}: "
                              r"CONNECT tunnel failed, response 40[17]")
        self.assertSecretNowhere()

    # refusals ------------------------------------------------------------
    def test_refusing_proxy_is_named_with_its_answer(self):
        px = self.proxy(h.Dante(self.dir, refuse=True))
        endpoint = f"socks5://127.0.0.1:{px.port}"
        self.set_proxy("web1", endpoint)
        r = self.tssh("true")
        self.assertRefused(r, rf"sshgate: backend web1 \(127\.0\.0\.1 port "
                              rf"{self.be.port}\): proxy {endpoint}: "
                              r"Can't complete SOCKS5 connection")
        ev = self.wait_event("backend.failure", user="alice", host="web1",
                             reason="proxy")
        self.assertIn(f"proxy {endpoint}: Can't complete SOCKS5",
                      ev["fields"]["message"])
        # -W / -J: a refused channel open, the same reason in the event
        r = self.tssh(None, user="alice", extra_args=[
            "-W", f"127.0.0.1:{self.be.port}"], input="", timeout=30)
        self.assertRc(r, 255)
        self.wait_event("backend.failure", user="alice", host="web1",
                        reason="proxy", via="direct-tcpip",
                        message=f"~proxy {endpoint}: ")

    def test_http_proxy_403(self):
        px = self.proxy(h.Tinyproxy(self.dir, connect_ports=[1]))
        endpoint = f"http://127.0.0.1:{px.port}"
        self.set_proxy("web1", endpoint)
        r = self.tssh("true")
        self.assertRefused(r, rf"proxy {endpoint}: CONNECT tunnel failed, "
                              r"response 403")
        self.wait_event("backend.failure", user="alice", host="web1",
                        reason="proxy", message="~response 403")

    # the global proxy and its bypass list -------------------------------
    def test_global_proxy_and_bypass(self):
        px = self.proxy(h.Dante(self.dir))
        count = lambda: px.connections_to(self.be.port)  # noqa: E731
        self.gw.reload(backend_proxy=f"socks5://127.0.0.1:{px.port}")
        self.terminated("web1")
        self.eventually(lambda: count() == 1, msg="through backend_proxy")
        # a network of the bypass list: directly
        self.gw.reload(backend_proxy_bypass="10.0.0.0/8, 127.0.0.0/8")
        self.terminated("web1")
        # a name pattern: web1n (localhost) directly, web1 through it
        host = self.add_by_name()
        self.gw.reload(backend_proxy_bypass="LOCAL*")
        self.terminated(host)
        self.jump(host)
        self.assertEqual(count(), 1, px.log())
        self.terminated("web1")
        self.eventually(lambda: count() == 2, msg="web1 not bypassed")
        # a host's own "direct" beats the global proxy
        self.gw.reload(backend_proxy_bypass="")
        self.set_proxy("web1", "direct")
        self.terminated("web1")
        self.assertEqual(count(), 2, px.log())
        # the global proxy gone: web1n fails naming it
        self.set_proxy("web1", "none")
        px.stop()
        self.assertProxyGone("web1", f"socks5://127.0.0.1:{px.port}")

    # the CLI -------------------------------------------------------------
    def test_cli(self):
        r = self.admin.run("host", "set", "web1", "--via-proxy",
                           "socks5://u:pw@127.0.0.1:1080")
        self.assertEqual(r.rc, 1, f"\n{r}")
        self.assertIn("--proxy-password-stdin", r.err)
        self.assertNotIn("pw@", r.err)
        r = self.admin.run("host", "set", "web1", "--via-proxy",
                           "ftp://127.0.0.1:1080")
        self.assertEqual(r.rc, 1, f"\n{r}")
        r = self.admin.run("host", "set", "web1", "--via-proxy",
                           "socks4://127.0.0.1:1080",
                           "--proxy-password-stdin", input="x\n")
        self.assertEqual(r.rc, 1, f"\n{r}")
        self.admin.ok("host", "add", "web9", "--address", "192.0.2.9",
                      "--via-proxy", "HTTP://gw@[::1]:3128",
                      "--proxy-password-stdin", input=PROXY_PASSWORD + "\n")
        show = self.admin.json("host", "show", "web9")
        self.assertEqual(show["via_proxy"], "http://gw@[::1]:3128")
        self.assertTrue(show["has_proxy_secret"])
        text = self.admin.ok("host", "show", "web9").out
        self.assertIn("http://gw@[::1]:3128", text)
        self.assertIn("(stored)", text)
        ev = self.wait_event("admin.host.add", host="web9")
        self.assertEqual(ev["fields"]["via_proxy"], "http://gw@[::1]:3128")
        self.assertEqual(ev["fields"]["proxy_password"], "stored")
        self.admin.ok("host", "set", "web9", "--via-proxy", "none")
        show = self.admin.json("host", "show", "web9")
        self.assertIsNone(show["via_proxy"])
        self.assertFalse(show["has_proxy_secret"])
        self.wait_event("admin.host.set", host="web9", via_proxy="none")
        self.assertSecretNowhere()

    def assertSecretNowhere(self):
        """The proxy password is in no event, no admin output, no log."""
        every = self.admin.ok("audit", "list").out
        self.assertNotIn(PROXY_PASSWORD, every)
        for host in ("web1",):
            self.assertNotIn(PROXY_PASSWORD,
                             self.admin.ok("--json", "host", "show", host).out)
        self.assertNotIn(PROXY_PASSWORD, self.gw.log())


if __name__ == "__main__":
    h.main()
