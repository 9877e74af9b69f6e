"""The backend: a real OpenSSH sshd on a free loopback port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterable, Sequence

from .clients import ssh
from .keys import Key, fingerprint_of, keygen
from .net import free_port
from .processes import Result, descendants, kill_process, run, spawn, t

SSHD = "/usr/sbin/sshd"


class Backend:
    """A real OpenSSH sshd on a free loopback port, in its own directory:
    own sshd_config, host key, authorized_keys and PidFile; run as a child
    with `sshd -D -e -f cfg`. Works as root (CI) and as an ordinary user
    (then only that user can log in)."""

    def __init__(self, workdir: str | Path, name: str = "backend",
                 extra_config: Sequence[str] = ()):
        self.dir = Path(workdir) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config_path = self.dir / "sshd_config"
        self.log_path = self.dir / "sshd.log"
        self.pid_path = self.dir / "sshd.pid"
        self.authorized_keys = self.dir / "authorized_keys"
        self.authorized_keys.touch()
        self.authorized_keys.chmod(0o644)
        self.host_key_path = self.dir / "ssh_host_ed25519_key"
        if not self.host_key_path.exists():
            self.host_key = keygen(self.host_key_path, comment=f"{name}-host")
        else:
            pub = Path(str(self.host_key_path) + ".pub").read_text().strip()
            self.host_key = Key(str(self.host_key_path), pub,
                                fingerprint_of(str(self.host_key_path) + ".pub"))
        import pwd
        self.login = pwd.getpwuid(os.getuid()).pw_name
        self.extra_config = list(extra_config)
        self.proc: subprocess.Popen | None = None
        self._logf = None
        self.write_config()

    @property
    def fingerprint(self) -> str:
        return self.host_key.fingerprint

    @property
    def host_pub(self) -> str:
        return self.host_key.pub

    def write_config(self) -> None:
        # sshd keeps the first value it reads: extra settings go first
        lines = list(self.extra_config) + [
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            "AddressFamily inet",
            f"HostKey {self.host_key_path}",
            f"PidFile {self.pid_path}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            "StrictModes no",
            "UsePAM no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "PermitEmptyPasswords no",
            "AllowTcpForwarding yes",
            "AllowAgentForwarding yes",
            "AllowStreamLocalForwarding yes",
            "GatewayPorts no",
            "X11Forwarding no",
            "PermitTTY yes",
            "PermitUserEnvironment no",
            "AcceptEnv LANG LC_* SSHGATE_TEST_*",
            "PrintMotd no",
            "PrintLastLog no",
            "Banner none",
            "UseDNS no",
            "LogLevel VERBOSE",
            "MaxStartups 100:30:200",
            "MaxSessions 50",
            "MaxAuthTries 10",
            "LoginGraceTime 30",
            "ClientAliveInterval 0",
            "Subsystem sftp internal-sftp",
        ]
        self.config_path.write_text("\n".join(lines) + "\n")

    def authorize(self, key: Key | str, options: str = "") -> None:
        pub = key.pub if isinstance(key, Key) else key.strip()
        with open(self.authorized_keys, "a") as f:
            f.write((options + " " if options else "") + pub + "\n")

    def start(self, timeout: float = 20) -> "Backend":
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        check = run([SSHD, "-t", "-f", str(self.config_path)], timeout=30)
        if check.rc != 0:
            raise RuntimeError(f"sshd -t rejected the backend config:\n{check}")
        mark = len(self.log())  # a restart must not match the old line
        self._logf = open(self.log_path, "ab")
        self.proc = spawn([SSHD, "-D", "-e", "-f", str(self.config_path)],
                          stdout=self._logf, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + t(timeout)
        rx = re.compile(rf"Server listening on 127\.0\.0\.1 port {self.port}\b")
        while not rx.search(self.log()[mark:]):
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"sshd did not start listening:\n{self.log()}")
            time.sleep(0.05)
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None:
            return
        # per-connection children run in their own sessions: collect them
        # first, then end the listener and them, by PID
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

    def new_host_key(self) -> Key:
        """Replace the host key (takes effect at the next start())."""
        for path in (self.host_key_path, Path(str(self.host_key_path) + ".pub")):
            path.unlink(missing_ok=True)
        self.host_key = keygen(self.host_key_path, comment=f"{self.dir.name}-host-new")
        return self.host_key

    def ssh(self, command=None, keys: Iterable[Key | str] = (), user: str | None = None,
            **kw) -> Result:
        """Log in to the backend directly (bypassing the gateway)."""
        return ssh(self.port, user or self.login, command, keys, **kw)
