"""Loopback ports and sockets: free ports, raw reads, unencrypted SSH
packets and the server's KEXINIT (for probes below the client), and small
TCP servers standing in for the world behind a backend (TcpEcho,
SilentListener).
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import threading
import time

from .processes import t


# --------------------------------------------------------------------------
# ports, sockets
# --------------------------------------------------------------------------

def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port on loopback (bind to port 0)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port_closed(port: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + t(timeout)
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                pass
        except OSError:
            return True
        time.sleep(0.1)
    return False


def read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, float | None]:
    """Read until EOF/reset. Returns (data, seconds until closed) where the
    seconds are None when the peer did not close within timeout."""
    start = time.monotonic()
    deadline = start + timeout
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, None
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            continue
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, ConnectionAbortedError):
            return data, time.monotonic() - start
        except OSError as e:
            if e.errno in (errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN):
                return data, time.monotonic() - start
            raise
        if not chunk:
            return data, time.monotonic() - start
        data += chunk
        if len(data) > 1 << 20:  # the server should not stream forever
            return data, None


def read_line(sock: socket.socket, timeout: float = 10) -> bytes:
    """Read one CRLF/LF-terminated line (the SSH identification string)."""
    deadline = time.monotonic() + timeout
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            continue
        chunk = sock.recv(1)
        if not chunk:
            break
        buf += chunk
        if len(buf) > 8192:
            break
    return buf


def ssh_string(b: bytes | str) -> bytes:
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">I", len(b)) + b


def ssh_packet(payload: bytes, block: int = 8) -> bytes:
    """An unencrypted SSH binary packet (RFC 4253 section 6)."""
    pad = block - ((len(payload) + 5) % block)
    if pad < 4:
        pad += block
    return struct.pack(">IB", len(payload) + pad + 1, pad) + payload + os.urandom(pad)


def read_packet(sock: socket.socket, timeout: float = 10) -> bytes | None:
    """Read one unencrypted SSH packet; returns its payload or None."""
    def recv_exact(n: int) -> bytes | None:
        deadline = time.monotonic() + timeout
        data = b""
        while len(data) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([sock], [], [], left)
            if not r:
                continue
            chunk = sock.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data
    head = recv_exact(5)
    if head is None:
        return None
    length, pad = struct.unpack(">IB", head)
    if length > 256 * 1024 or pad >= length:
        return None
    rest = recv_exact(length - 1)
    if rest is None:
        return None
    return rest[:length - 1 - pad]


def parse_kexinit(payload: bytes) -> dict[str, list[str]]:
    """Name-lists of an SSH_MSG_KEXINIT payload."""
    if not payload or payload[0] != 20:
        raise ValueError(f"not a KEXINIT (type {payload[:1]!r})")
    off = 1 + 16
    names = ["kex", "hostkey", "enc_c2s", "enc_s2c", "mac_c2s", "mac_s2c",
             "comp_c2s", "comp_s2c", "lang_c2s", "lang_s2c"]
    out = {}
    for name in names:
        (n,) = struct.unpack(">I", payload[off:off + 4])
        off += 4
        out[name] = [x for x in payload[off:off + n].decode().split(",") if x]
        off += n
    return out


def server_kexinit(port: int, timeout: float = 15) -> tuple[bytes, dict[str, list[str]]]:
    """Connect, exchange identification strings, return (server ident line,
    the server's KEXINIT name-lists)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"SSH-2.0-sshgate_it_probe\r\n")
        ident = b""
        # skip pre-banner lines (RFC 4253 allows them)
        for _ in range(20):
            ident = read_line(s, timeout)
            if not ident or ident.startswith(b"SSH-"):
                break
        if not ident.startswith(b"SSH-"):
            raise AssertionError(f"no SSH identification from server: {ident!r}")
        payload = read_packet(s, timeout)
        if payload is None:
            raise AssertionError("server sent no KEXINIT")
        return ident.strip(), parse_kexinit(payload)


# --------------------------------------------------------------------------
# loopback TCP helpers
# --------------------------------------------------------------------------

def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def port_listening(port: int) -> bool:
    """Is some socket listening on TCP port (any local address)? Read from
    /proc/net/tcp{,6}, so nothing connects to it."""
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except (OSError, StopIteration, IndexError, ValueError):
            continue
    return False


class TcpEcho:
    """A loopback TCP server that echoes every byte back (one thread per
    connection; half-closes after the peer's EOF). `connections` counts the
    connections it accepted."""

    def __init__(self, host: str = "127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = False
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                r, _, _ = select.select([self.sock], [], [], 0.2)
            except (OSError, ValueError):
                return
            if not r:
                continue
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            self._conns.append(conn)
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self._stop = True
        for s in [self.sock] + self._conns:
            try:
                s.close()
            except OSError:
                pass


class SilentListener:
    """A loopback TCP listener standing in for a backend that never
    answers. Default: it accepts and never sends a byte (no SSH banner).
    full_backlog=True: it never accepts and its accept queue is kept full,
    so that a new connect() gets no SYN-ACK and times out."""

    def __init__(self, full_backlog: bool = False):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._fillers: list[socket.socket] = []
        self._stop = False
        if full_backlog:
            self.sock.listen(0)
            self._fill()
        else:
            self.sock.listen(16)
            threading.Thread(target=self._accept, daemon=True).start()

    def _fill(self) -> None:
        for _ in range(16):
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probe.settimeout(0.5)
            try:
                probe.connect(("127.0.0.1", self.port))
            except (socket.timeout, TimeoutError):
                probe.close()
                return  # full: a new connection gets no answer
            except OSError:
                probe.close()
                raise
            self._fillers.append(probe)
        raise RuntimeError("could not fill the accept queue of a loopback listener")

    def _accept(self) -> None:
        while not self._stop:
            try:
                r, _, _ = select.select([self.sock], [], [], 0.2)
                if r:
                    conn, _ = self.sock.accept()
                    self.accepted.append(conn)
            except (OSError, ValueError):
                return

    def close(self) -> None:
        self._stop = True
        for s in [self.sock] + self.accepted + self._fillers:
            try:
                s.close()
            except OSError:
                pass
