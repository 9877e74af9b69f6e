"""The daemon: one sshgated on a free loopback port with its own config
file, started, reloaded and stopped by PID, its log checked for sanitizer
reports.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterable, Sequence

from .clients import ssh
from .keys import Key
from .net import free_port
from .processes import (Result, kill_process, sanitizer_re, sshgated_path,
                        spawn, t)


class GatewayError(AssertionError):
    pass


class Gateway:
    """One sshgated on a free loopback port, with its own config file."""

    def __init__(self, workdir: str | Path, db: str | Path, **options):
        self.dir = Path(workdir)
        self.db = str(db)
        self.port = free_port()
        self.config_path = self.dir / "sshgated.conf"
        self.log_path = self.dir / "sshgated.log"
        self.binary = sshgated_path()
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None
        self._logf = None
        self.options: dict = {
            "listen": f"127.0.0.1:{self.port}",
            "db": self.db,
            "auth_failure_delay": 0,
            "login_grace_time": 30,
            "shutdown_grace": 2,
        }
        level = os.environ.get("SSHGATE_IT_LOG_LEVEL")
        if level:
            self.options["log_level"] = level
        if "://" in self.db:
            # a database server: the spool is the node's own file
            self.options["audit_spool"] = str(self.dir / "audit.spool")
        self.options.update(options)
        self.write_config()

    # config -------------------------------------------------------------
    @staticmethod
    def _fmt(value) -> str:
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, (list, tuple)):
            return ",".join(map(str, value))
        return str(value)

    def write_config(self, **changes) -> None:
        """Update options (None removes a key) and rewrite the config file."""
        for k, v in changes.items():
            if v is None:
                self.options.pop(k, None)
            else:
                self.options[k] = v
        lines = ["# written by tests/integration/harness/gateway.py"]
        lines += [f"{k} = {self._fmt(v)}" for k, v in self.options.items()]
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        os.replace(tmp, self.config_path)

    # life cycle ---------------------------------------------------------
    def start(self, timeout: float = 30, extra_args: Sequence[str] = ()) -> "Gateway":
        if self.proc is not None:
            raise GatewayError("gateway already started")
        self._logf = open(self.log_path, "ab")
        argv = [self.binary, "-f", str(self.config_path), "--foreground"]
        argv += list(extra_args)
        env = dict(os.environ)
        env.pop("SSHGATE_DB", None)
        self.proc = spawn(argv, stdout=self._logf, stderr=subprocess.STDOUT,
                          env=env, cwd=str(self.dir))
        self.wait_log(rf"listening on \[?127\.0\.0\.1\]?:{self.port}\b",
                      timeout=timeout, what="the 'listening on' line")
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def wait_log(self, pattern: str, timeout: float = 10, start: int = 0,
                 what: str | None = None) -> re.Match:
        """Wait until the log (from byte offset `start`) matches pattern."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + t(timeout)
        while True:
            text = self.log()[start:]
            m = rx.search(text)
            if m:
                return m
            if self.proc is not None and self.proc.poll() is not None:
                raise GatewayError(
                    f"sshgated exited with {self.proc.returncode} before "
                    f"{what or pattern!r}; log:\n{self.log_tail(80)}")
            if time.monotonic() > deadline:
                raise GatewayError(
                    f"timed out waiting for {what or pattern!r}; log:\n"
                    f"{self.log_tail(80)}")
            time.sleep(0.05)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    # a line saying a reload has finished (either way)
    RELOAD_DONE_RE = (r"(?i)configuration reloaded|reload(ed)?:? (failed|complete|done|ok)"
                      r"|reload.*keeping")

    def reload(self, settle: float = 3.0, **changes) -> None:
        """Rewrite the config and send SIGHUP; wait for the log line saying
        the reload finished (else `settle` seconds)."""
        self.write_config(**changes)
        mark = len(self.log())
        self.signal(signal.SIGHUP)
        try:
            self.wait_log(self.RELOAD_DONE_RE, timeout=settle, start=mark)
        except GatewayError:
            if not self.alive():
                raise
        time.sleep(0.1)

    def wait_exit(self, timeout: float) -> int | None:
        assert self.proc is not None
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self, timeout: float = 30, expect_rc: int | None = 0,
             check_sanitizers: bool = True) -> int | None:
        """SIGTERM, wait by PID, SIGKILL fallback. Raises GatewayError when
        the daemon needed SIGKILL, exited with an unexpected code, or its log
        holds a sanitizer report."""
        if self.proc is None:
            return None
        problems = []
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=t(timeout))
            except subprocess.TimeoutExpired:
                problems.append(f"sshgated did not exit within {t(timeout):.0f}s "
                                "of SIGTERM; killed with SIGKILL")
                kill_process(self.proc)
        else:
            kill_process(self.proc)  # reap anything left in its group
        self.returncode = self.proc.returncode
        if self._logf:
            self._logf.close()
            self._logf = None
        if check_sanitizers:
            problems += self.sanitizer_problems()
        if expect_rc is not None and self.returncode != expect_rc and not problems:
            problems.append(f"sshgated exited with {self.returncode}, expected {expect_rc}")
        self.proc_done = self.proc
        self.proc = None
        if problems:
            raise GatewayError("; ".join(problems) + f"\nlog:\n{self.log_tail(120)}")
        return self.returncode

    def sanitizer_problems(self) -> list[str]:
        log = self.log()
        m = sanitizer_re().search(log)
        if not m:
            return []
        i = max(0, m.start() - 200)
        return [f"sanitizer report in the sshgated log:\n{log[i:i + 6000]}"]

    # clients -------------------------------------------------------------
    def ssh(self, user: str, command=None, keys: Iterable[Key | str] = (), **kw) -> Result:
        return ssh(self.port, user, command, keys, **kw)

    def connect(self, timeout: float = 10) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        return s
