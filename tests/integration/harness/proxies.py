"""Outbound proxies from Debian packages, on loopback, for the gateway to
reach backends through (docs/forwarding.md, "Outbound proxies"):

  Dante       danted (dante-server): SOCKS4 and SOCKS5 without
              authentication (Dante 1.4 has no SOCKS4A: it takes the
              0.0.0.x address literally); refuse=True: a ruleset that
              refuses every request
  SshDynamic  OpenSSH's `ssh -D` (openssh-client) over a login to a test
              sshd: SOCKS4, SOCKS4A and SOCKS5 (no authentication); its -v
              log names every connection
  Microsocks  microsocks: SOCKS5 with a user and a password
  Tinyproxy   tinyproxy: HTTP CONNECT, with Basic authentication when
              given a user and a password; connect_ports limits the ports
              CONNECT may reach (others: 403)

Each runs in the foreground on a free port, is stopped by its PID (with
its children) and keeps a log where the tests look for the connections it
made.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Sequence

from .clients import SSH, ssh_env, ssh_options
from .net import free_port, port_listening
from .processes import descendants, kill_process, spawn, t

DANTED = shutil.which("danted") or "/usr/sbin/danted"
TINYPROXY = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
MICROSOCKS = shutil.which("microsocks") or "/usr/bin/microsocks"


class Proxy:
    """One proxy process on 127.0.0.1:port, logging to dir/NAME.log."""

    name = "proxy"

    def __init__(self, workdir: str | Path, name: str | None = None):
        self.name = name or self.name
        self.dir = Path(workdir) / self.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log_path = self.dir / f"{self.name}.log"
        self.proc: subprocess.Popen | None = None
        self._logf = None

    def argv(self) -> Sequence[str]:
        raise NotImplementedError

    def start(self, timeout: float = 20) -> "Proxy":
        self._logf = open(self.dir / "stdout.log", "ab")
        self.proc = spawn(self.argv(), stdout=self._logf,
                          stderr=subprocess.STDOUT)
        deadline = time.monotonic() + t(timeout)
        while not port_listening(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with "
                                   f"{self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not listen:\n{self.log()}")
            time.sleep(0.05)
        return self

    def log(self) -> str:
        text = ""
        for path in (self.log_path, self.dir / "stdout.log"):
            try:
                text += path.read_text(errors="replace")
            except FileNotFoundError:
                pass
        return text

    def stop(self) -> None:
        if self.proc is None:
            return
        kids = descendants(self.proc.pid) if self.proc.poll() is None else []
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=t(10))
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        kill_process(self.proc)
        if self._logf:
            self._logf.close()
            self._logf = None
        self.proc = None

    close = stop


class Dante(Proxy):
    """danted: SOCKS4, SOCKS4A, SOCKS5 (no authentication)."""

    name = "dante"

    def __init__(self, workdir: str | Path, refuse: bool = False,
                 name: str | None = None):
        super().__init__(workdir, name)
        user = "root" if os.geteuid() == 0 else os.environ.get("USER", "")
        rule = ("socks block { from: 0.0.0.0/0 to: 0.0.0.0/0 log: error "
                "connect }" if refuse else
                "socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 log: connect "
                "disconnect error }")
        self.config_path = self.dir / "danted.conf"
        lines = [
            f"logoutput: {self.log_path}",
            f"internal: 127.0.0.1 port = {self.port}",
            "external: 127.0.0.1",
            "socksmethod: none",
            "clientmethod: none",
            "client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }",
            rule,
        ]
        if os.geteuid() == 0:
            lines[5:5] = [f"user.privileged: {user}",
                          "user.unprivileged: nobody"]
        self.config_path.write_text("\n".join(lines) + "\n")

    def argv(self) -> Sequence[str]:
        return [DANTED, "-f", str(self.config_path), "-p",
                str(self.dir / "danted.pid"), "-N", "1"]

    def connections_to(self, port: int) -> int:
        """How many connects to 127.0.0.1:port the log shows."""
        return len(re.findall(
            rf"(?m)pass\(\d+\): tcp/connect \[: .* 127\.0\.0\.1\.{port}$",
            self.log()))


class SshDynamic(Proxy):
    """`ssh -N -D` to login@127.0.0.1:ssh_port with key: a SOCKS4, SOCKS4A
    and SOCKS5 proxy whose connections leave from that sshd."""

    name = "ssh-dynamic"

    def __init__(self, workdir: str | Path, ssh_port: int, login: str,
                 key, name: str | None = None):
        super().__init__(workdir, name)
        self.ssh_port = ssh_port
        self.login = login
        self.key = key

    def argv(self) -> Sequence[str]:
        return [SSH, "-N", "-v", "-D", f"127.0.0.1:{self.port}",
                "-p", str(self.ssh_port), *ssh_options([self.key]),
                "-E", str(self.log_path), f"{self.login}@127.0.0.1"]

    def requests_for(self, host: str, port: int) -> int:
        """How many SOCKS connections to host:port the -v log shows (the
        line comes when one is closed)."""
        return len(re.findall(
            rf"free: direct-tcpip: listening port {self.port} for "
            rf"{re.escape(host)} port {port},", self.log()))


class Microsocks(Proxy):
    """microsocks: SOCKS5 with a user and a password."""

    name = "microsocks"

    def __init__(self, workdir: str | Path, user: str, password: str,
                 name: str | None = None):
        super().__init__(workdir, name)
        self.user = user
        self.password = password

    def argv(self) -> Sequence[str]:
        return [MICROSOCKS, "-i", "127.0.0.1", "-p", str(self.port),
                "-u", self.user, "-P", self.password]


class Tinyproxy(Proxy):
    """tinyproxy: HTTP CONNECT (Basic authentication with a user)."""

    name = "tinyproxy"

    def __init__(self, workdir: str | Path, user: str | None = None,
                 password: str | None = None,
                 connect_ports: Sequence[int] = (),
                 name: str | None = None):
        super().__init__(workdir, name)
        self.config_path = self.dir / "tinyproxy.conf"
        lines = [
            f"Port {self.port}",
            "Listen 127.0.0.1",
            "Timeout 60",
            "LogLevel Connect",
            "MaxClients 50",
        ]
        if os.geteuid() == 0:
            lines += ["User nobody", "Group nogroup"]
        if user is not None:
            lines.append(f"BasicAuth {user} {password}")
        lines += [f"ConnectPort {p}" for p in connect_ports]
        self.config_path.write_text("\n".join(lines) + "\n")

    def argv(self) -> Sequence[str]:
        return [TINYPROXY, "-d", "-c", str(self.config_path)]

    def connects_to(self, port: int) -> int:
        """How many CONNECT requests for port the log shows."""
        return len(re.findall(rf"CONNECT \S+:{port} HTTP", self.log()))
