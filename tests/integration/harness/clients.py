"""The real OpenSSH client tools: ssh (BatchMode, password logins through
SSH_ASKPASS, a held `ssh -N`), scp, sftp, rsync over ssh, a private
ssh-agent, a client on a pty, and deterministic test streams.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import struct
import subprocess
import time
from pathlib import Path
from typing import Iterable, Sequence

from .keys import Key
from .processes import Result, kill_process, run, spawn, t, wait_for

SSH = shutil.which("ssh") or "/usr/bin/ssh"
SSH_KEYSCAN = shutil.which("ssh-keyscan") or "/usr/bin/ssh-keyscan"
SCP = shutil.which("scp") or "/usr/bin/scp"
SFTP = shutil.which("sftp") or "/usr/bin/sftp"
RSYNC = shutil.which("rsync") or "/usr/bin/rsync"
SSH_AGENT = shutil.which("ssh-agent") or "/usr/bin/ssh-agent"
SSH_ADD = shutil.which("ssh-add") or "/usr/bin/ssh-add"


def ssh_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    for var in ("SSH_AUTH_SOCK", "SSH_AGENT_PID", "SSH_ASKPASS",
                "SSH_ASKPASS_REQUIRE", "DISPLAY"):
        env.pop(var, None)
    env["LC_ALL"] = "C"
    if extra:
        env.update(extra)
    return env


def ssh_options(keys: Iterable[Key | str] = (), options: Sequence[str] = (),
                batch: bool = True, connect_timeout: int = 20,
                control: Sequence[str] | None = None,
                identity_agent: str = "none") -> list[str]:
    """The client options every test uses (`-F /dev/null`, BatchMode, no
    host key checking, no agent, only the given keys), as arguments that
    ssh, scp, sftp and `rsync -e` accept. ssh keeps the first value of an
    option: `options` cannot override these; `control` replaces the
    default "ControlMaster=no", "ControlPath=none" pair; identity_agent
    (an agent socket) replaces "IdentityAgent=none" (ssh forwards an agent,
    -A, only when it has one)."""
    if control is None:
        control = ("ControlMaster=no", "ControlPath=none")
    argv = ["-F", "/dev/null",
            "-o", f"BatchMode={'yes' if batch else 'no'}",
            "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "IdentitiesOnly=yes",
            "-o", f"IdentityAgent={identity_agent}"]
    for opt in control:
        argv += ["-o", opt]
    argv += ["-o", f"ConnectTimeout={int(t(connect_timeout))}",
             "-o", "ServerAliveInterval=0",
             "-o", "UpdateHostKeys=no"]
    keys = list(keys)
    if keys:
        for k in keys:
            argv += ["-i", k.path if isinstance(k, Key) else str(k)]
    else:
        # no -i at all would make ssh try ~/.ssh/id_*; point it at nothing
        argv += ["-o", "IdentityFile=none"]
    for opt in options:
        argv += ["-o", opt]
    return argv


def ssh_argv(port: int, user: str, command: Sequence[str] | str | None = None,
             keys: Iterable[Key | str] = (), host: str = "127.0.0.1",
             options: Sequence[str] = (), extra_args: Sequence[str] = (),
             batch: bool = True, connect_timeout: int = 20,
             control: Sequence[str] | None = None,
             identity_agent: str = "none") -> list[str]:
    argv = [SSH, "-p", str(port)]
    argv += ssh_options(keys, options, batch, connect_timeout, control, identity_agent)
    argv += list(extra_args)
    argv += ["-l", user, host]
    if command is not None:
        if isinstance(command, str):
            argv.append(command)
        else:
            argv += list(command)
    return argv


def ssh(port: int, user: str, command: Sequence[str] | str | None = None,
        keys: Iterable[Key | str] = (), options: Sequence[str] = (),
        extra_args: Sequence[str] = (), input: str | bytes | None = None,
        timeout: float = 60, env: dict | None = None,
        host: str = "127.0.0.1", control: Sequence[str] | None = None,
        identity_agent: str = "none") -> Result:
    """Run the real ssh in BatchMode against 127.0.0.1:port. With bytes
    input, the undecoded stdout is in result.out_bytes."""
    argv = ssh_argv(port, user, command, keys, host, options, extra_args,
                    control=control, identity_agent=identity_agent)
    return run(argv, input=input, timeout=timeout, env=ssh_env(env))


class HeldSession:
    """A background `ssh -N` (authenticated, no channel) holding a connection."""

    def __init__(self, proc: subprocess.Popen, err_path: Path):
        self.proc = proc
        self.err_path = err_path

    def err(self) -> str:
        try:
            return self.err_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        kill_process(self.proc)


def ssh_hold(port: int, user: str, keys: Iterable[Key | str], workdir: str | Path,
             timeout: float = 30, options: Sequence[str] = (),
             wait_auth: bool = True) -> HeldSession:
    """Start `ssh -N` in the background and wait until it has authenticated
    (its VERBOSE log says "Authenticated to")."""
    workdir = Path(workdir)
    n = len(list(workdir.glob("held-*.err")))
    err_path = workdir / f"held-{n}.err"
    argv = ssh_argv(port, user, None, keys,
                    options=["LogLevel=VERBOSE"] + list(options), extra_args=["-N"])
    errf = open(err_path, "wb")
    proc = spawn(argv, stdout=subprocess.DEVNULL, stderr=errf, env=ssh_env())
    errf.close()
    held = HeldSession(proc, err_path)
    if not wait_auth:
        return held
    deadline = time.monotonic() + t(timeout)
    while "Authenticated to" not in held.err():
        if proc.poll() is not None:
            raise AssertionError(f"ssh -N exited with {proc.returncode} before "
                                 f"authenticating:\n{held.err()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"ssh -N did not authenticate:\n{held.err()}")
        time.sleep(0.05)
    return held


class Askpass:
    """An SSH_ASKPASS program answering every prompt with `password` and
    logging each prompt it was asked (one per line) to `prompts_file`."""

    def __init__(self, directory: str | Path, password: str, name: str = "askpass"):
        d = Path(directory)
        self.secret = d / f"{name}.secret"
        self.prompts_file = d / f"{name}.prompts"
        self.script = d / f"{name}.sh"
        self.secret.write_text(password + "\n")
        self.prompts_file.write_text("")
        self.script.write_text(
            "#!/bin/sh\n"
            f"printf '%s\\n' \"$1\" | tr '\\n' ' ' >> '{self.prompts_file}'\n"
            f"echo >> '{self.prompts_file}'\n"
            f"cat '{self.secret}'\n")
        self.script.chmod(0o700)

    def set_password(self, password: str) -> None:
        self.secret.write_text(password + "\n")

    def prompts(self) -> list[str]:
        return [l for l in self.prompts_file.read_text().splitlines() if l.strip()]

    def reset(self) -> None:
        self.prompts_file.write_text("")

    def env(self) -> dict:
        return {"SSH_ASKPASS": str(self.script), "SSH_ASKPASS_REQUIRE": "force",
                "DISPLAY": ":0"}


def ssh_password(port: int, user: str, password: str, workdir: str | Path,
                 command: Sequence[str] | str | None = None,
                 method: str = "password", prompts: int = 1,
                 options: Sequence[str] = (), timeout: float = 60,
                 askpass: Askpass | None = None) -> Result:
    """Password (method="password") or keyboard-interactive login through an
    SSH_ASKPASS script; no key is offered."""
    if askpass is None:
        askpass = Askpass(workdir, password)
    else:
        askpass.set_password(password)
    opts = ["BatchMode=no", f"PreferredAuthentications={method}",
            "PubkeyAuthentication=no",
            f"PasswordAuthentication={'yes' if method == 'password' else 'no'}",
            f"KbdInteractiveAuthentication={'yes' if method == 'keyboard-interactive' else 'no'}",
            f"NumberOfPasswordPrompts={prompts}"] + list(options)
    argv = ssh_argv(port, user, command, (), options=opts, batch=False)
    return run(argv, timeout=timeout, env=ssh_env(askpass.env()))


# --------------------------------------------------------------------------
# scp / sftp / rsync, ssh-agent, a client on a pty, test streams
# --------------------------------------------------------------------------

_KNOWN_HOSTS_NOISE_RE = re.compile(r"^Warning: Permanently added .* to the list of known hosts\.\r?\n",
                                   re.M)


def client_stderr(err: str) -> str:
    """ssh's stderr without the "Permanently added ... to the list of known
    hosts" warning (UserKnownHostsFile=/dev/null makes it every time)."""
    return _KNOWN_HOSTS_NOISE_RE.sub("", err)


class SshAgent:
    """A private ssh-agent (`ssh-agent -D -a SOCK`), tracked and killed at
    the end."""

    def __init__(self, workdir: str | Path):
        self.sock = Path(workdir) / "agent.sock"
        self.proc = spawn([SSH_AGENT, "-D", "-a", str(self.sock)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_for(self.sock.exists, 10):
            raise RuntimeError("ssh-agent did not create its socket")

    def env(self) -> dict:
        return {"SSH_AUTH_SOCK": str(self.sock)}

    def add(self, key: Key) -> None:
        r = run([SSH_ADD, key.path], env=ssh_env(self.env()), timeout=30)
        if r.rc != 0:
            raise RuntimeError(f"ssh-add failed:\n{r}")

    def close(self) -> None:
        kill_process(self.proc)


def scp(port: int, keys: Iterable[Key | str], args: Sequence[str],
        legacy: bool = False, options: Sequence[str] = (),
        timeout: float = 120) -> Result:
    """The real scp (sftp protocol; legacy=True: `scp -O`, the old scp
    protocol over an exec channel) with the test client options."""
    argv = [SCP, "-q", "-P", str(port)] + (["-O"] if legacy else [])
    argv += ssh_options(keys, options) + list(args)
    return run(argv, timeout=timeout, env=ssh_env())


def sftp_batch(port: int, user: str, keys: Iterable[Key | str], batch: str,
               workdir: str | Path, options: Sequence[str] = (),
               timeout: float = 120) -> Result:
    """The real sftp running the commands of `batch` (`sftp -b`)."""
    workdir = Path(workdir)
    n = len(list(workdir.glob("sftp-batch-*")))
    path = workdir / f"sftp-batch-{n}"
    path.write_text(batch)
    argv = [SFTP, "-P", str(port), "-b", str(path)]
    argv += ssh_options(keys, options) + [f"{user}@127.0.0.1"]
    return run(argv, timeout=timeout, env=ssh_env())


def rsync_ssh(port: int, user: str, keys: Iterable[Key | str],
              args: Sequence[str], timeout: float = 120) -> Result:
    """The real rsync over `ssh -p port -l user` with the test client
    options; remote paths are written "127.0.0.1:PATH"."""
    rsh = " ".join([SSH, "-p", str(port)] + ssh_options(keys) + ["-l", user])
    return run([RSYNC, "-e", rsh] + list(args), timeout=timeout, env=ssh_env())


class PtyClient:
    """A client (ssh -tt ...) whose stdin/stdout/stderr is the slave side
    of a pty of a given size; the test reads and writes the master side."""

    def __init__(self, argv: Sequence[str], rows: int, cols: int,
                 env: dict | None = None):
        import fcntl
        import pty
        import termios
        self._fcntl, self._termios = fcntl, termios
        self.master, slave = pty.openpty()
        self._set_size(slave, rows, cols)
        self.proc = spawn(argv, stdin=slave, stdout=slave, stderr=slave, env=env)
        os.close(slave)
        self.output = b""

    def _set_size(self, fd: int, rows: int, cols: int) -> None:
        self._fcntl.ioctl(fd, self._termios.TIOCSWINSZ,
                          struct.pack("HHHH", rows, cols, 0, 0))

    def resize(self, rows: int, cols: int) -> None:
        """Change the window size and tell ssh (SIGWINCH)."""
        self._set_size(self.master, rows, cols)
        os.kill(self.proc.pid, signal.SIGWINCH)

    def write(self, data: bytes | str) -> None:
        os.write(self.master, data.encode() if isinstance(data, str) else data)

    def _read_some(self, timeout: float) -> bool:
        r, _, _ = select.select([self.master], [], [], timeout)
        if not r:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: every slave fd is closed
            return False
        if not chunk:
            return False
        self.output += chunk
        return True

    def read_until(self, pattern: str, timeout: float = 15) -> re.Match | None:
        """Read until the output (decoded) matches pattern; None when it
        did not within timeout or the pty closed first."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + t(timeout)
        while True:
            m = rx.search(self.output.decode("utf-8", "replace"))
            if m:
                return m
            left = deadline - time.monotonic()
            if left <= 0 or not self._read_some(min(left, 0.2)):
                m = rx.search(self.output.decode("utf-8", "replace"))
                return m

    def wait(self, timeout: float = 15) -> int | None:
        """Drain the output and wait for the exit; None on timeout."""
        deadline = time.monotonic() + t(timeout)
        while time.monotonic() < deadline and self.proc.poll() is None:
            self._read_some(0.1)  # keep the pty drained so ssh can finish
        while self.proc.poll() is not None and len(self.output) < (1 << 24):
            before = len(self.output)
            if not self._read_some(0.1) or len(self.output) == before:
                break  # what ssh wrote before exiting is read
        try:
            return self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return None

    def text(self) -> str:
        return self.output.decode("utf-8", "replace")

    def close(self) -> None:
        kill_process(self.proc)
        try:
            os.close(self.master)
        except OSError:
            pass


# Deterministic, non-repeating test streams of any size, made by the same
# command locally and on the backend (the same machine).
def stream_cmd(size: int, seed: str = "sshgate") -> str:
    """A shell command printing `size` pseudo-random bytes (AES-CTR of
    zeros keyed by seed) on stdout."""
    return (f"head -c {int(size)} < <(openssl enc -aes-128-ctr -pbkdf2 -nosalt "
            f"-pass pass:{seed} -in /dev/zero 2>/dev/null)")


_stream_sha: dict[tuple[int, str], str] = {}


def stream_sha256(size: int, seed: str = "sshgate") -> str:
    key = (size, seed)
    if key not in _stream_sha:
        r = run(["bash", "-c", f"{stream_cmd(size, seed)} | sha256sum"], timeout=600)
        if r.rc != 0 or not re.match(r"^[0-9a-f]{64}\b", r.out):
            raise RuntimeError(f"cannot hash the test stream:\n{r}")
        _stream_sha[key] = r.out.split()[0]
    return _stream_sha[key]
