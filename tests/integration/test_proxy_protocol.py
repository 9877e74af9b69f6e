#!/usr/bin/env python3
"""PROXY protocol on the listener (proxy_protocol, proxy_trusted): a relay
written here plays the load balancer, claiming a client 127.0.0.99:4242 in
a version 2 (or 1) header; the gateway uses that address for the audit
trail and the client lists, refuses peers outside proxy_trusted and
trusted peers without a header, and reads a header that comes in pieces."""

import select
import socket
import struct
import threading
import time

import harness as h

CLIENT = ("127.0.0.99", 4242)
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_header(src=CLIENT, dst=("127.0.0.1", 22), tlv=b""):
    body = (socket.inet_aton(src[0]) + socket.inet_aton(dst[0]) +
            struct.pack("!HH", src[1], dst[1]) + tlv)
    return V2_SIG + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


def v1_header(src=CLIENT, dst=("127.0.0.1", 22)):
    return f"PROXY TCP4 {src[0]} {dst[0]} {src[1]} {dst[1]}\r\n".encode()


class ProxyRelay:
    """A tiny load balancer on loopback: one connection at a time, each
    relayed to the gateway behind the given header until either side
    closes (or 60 s pass)."""

    def __init__(self, gw_port, header):
        self.gw_port = gw_port
        self.header = header
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            r, _, _ = select.select([self.sock], [], [], 0.2)
            if not r:
                continue
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            with client, socket.create_connection(("127.0.0.1", self.gw_port),
                                                  timeout=10) as up:
                up.sendall(self.header)
                self._relay(client, up)

    def _relay(self, a, b):
        deadline = time.monotonic() + 60
        peers = {a: b, b: a}
        while not self.stopping and time.monotonic() < deadline:
            r, _, _ = select.select(list(peers), [], [], 0.5)
            for s in r:
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    return
                peers[s].sendall(data)

    def close(self):
        self.stopping = True
        self.sock.close()
        self.thread.join(5)


class ProxyProtocol(h.TestCase):
    def setUp(self):
        super().setUp()
        self.make_alice()

    def relay(self, gw, header):
        r = ProxyRelay(gw.port, header)
        self.addCleanup(r.close)
        return r

    def gw_proxy(self, mode="v2", **kw):
        return self.gateway(proxy_protocol=mode, proxy_trusted="127.0.0.1/32", **kw)

    def _login_as_proxied_client(self, gw, header):
        r = self.relay(gw, header)
        self.assert_alice_hosts(h.ssh(r.port, "alice", "hosts", keys=[self.alice_key]))
        ev = self.eventually(lambda: self.admin.events(kind="auth.success"), timeout=10,
                             msg="an auth.success event")
        self.assertEqual([e["client"] for e in ev], ["127.0.0.99:4242"], ev)

    def test_v2_names_the_client(self):
        gw = self.gw_proxy("v2")
        # a TLV after the addresses is skipped
        self._login_as_proxied_client(gw, v2_header(tlv=b"\x02\x00\x05host1"))
        self.settle_events()
        closes = self.admin.events(kind="conn.close")
        self.assertTrue(all(e["client"] == "127.0.0.99:4242" for e in closes), closes)

    def test_v1_with_any(self):
        gw = self.gw_proxy("any")
        self._login_as_proxied_client(gw, v1_header())

    def test_untrusted_peer_refused(self):
        gw = self.gw_proxy("v2")
        s = socket.socket()
        self._sockets.append(s)
        s.bind(("127.0.0.2", 0))
        s.settimeout(10)
        s.connect(("127.0.0.1", gw.port))
        s.sendall(v2_header() + b"SSH-2.0-OpenSSH_9.2\r\n")
        data, closed = h.read_until_closed(s, h.t(10))
        self.assertIsNotNone(closed, "an untrusted peer must be closed")
        self.assertIn(b"not allowed to connect", data)
        ev = self.eventually(lambda: self.admin.events(kind="conn.refused"), timeout=5)
        self.assertIn("127.0.0.2", ev[0]["client"], ev)
        self.assertIn("proxy_trusted", ev[0]["detail"], ev)
        self.assertEqual(self.admin.events(kind="auth.success"), [])

    def test_trusted_peer_without_header_refused(self):
        gw = self.gw_proxy("any")
        # straight to the gateway: the SSH version line is no header
        r = self.alice_login(gw)
        self.assertRefused(r, "bad PROXY protocol header")
        # and one that sends nothing is refused after the header's wait
        s = self.connect(gw.port)
        data, closed = h.read_until_closed(s, h.t(10))
        self.assertIsNotNone(closed, "a silent trusted peer must be closed")
        self.assertIn(b"bad PROXY protocol header", data)
        ev = self.eventually(lambda: self.admin.events(kind="conn.refused"), timeout=5)
        self.assertTrue(all("proxy_protocol" in e["detail"] for e in ev), ev)
        self.assertEqual(self.admin.events(kind="auth.success"), [])

    def test_wrong_version_refused(self):
        gw = self.gw_proxy("v2")
        r = self.relay(gw, v1_header())
        self.assertRefused(h.ssh(r.port, "alice", "hosts", keys=[self.alice_key]),
                           "bad PROXY protocol header")

    def test_header_in_pieces(self):
        gw = self.gw_proxy("v2")
        s = self.connect(gw.port)
        hdr = v2_header()
        s.sendall(hdr[:5])
        time.sleep(0.3)
        s.sendall(hdr[5:20])
        time.sleep(0.3)
        # the rest of the header and the version line in one write: the
        # gateway takes exactly the header, libssh reads the line
        s.sendall(hdr[20:] + b"SSH-2.0-OpenSSH_9.2\r\n")
        line = h.read_line(s, h.t(10))
        self.assertTrue(line.startswith(b"SSH-2.0-sshgate"), line)

    def test_blocked_proxied_client(self):
        gw = self.gw_proxy("v2", blocked_clients="127.0.0.99/32")
        r = self.relay(gw, v2_header())
        self.assertRefused(h.ssh(r.port, "alice", "hosts", keys=[self.alice_key]),
                           "not allowed to connect")
        ev = self.eventually(lambda: self.admin.events(kind="conn.refused"), timeout=5)
        self.assertEqual(ev[0]["client"], "127.0.0.99:4242", ev)
        self.assertIn("blocked_clients", ev[0]["detail"], ev)


if __name__ == "__main__":
    h.main()
