"""Integration-test harness for sshgate.

Drives the real daemon (sshgated), the real admin CLI (sshgate-admin), the
real OpenSSH client and, as a backend, a real OpenSSH sshd, all on loopback.
Python 3.11 standard library only.

Environment:
  SSHGATED, SSHGATE_ADMIN  paths of the binaries (ctest sets them; otherwise
                           the usual build directories are searched)
  KEEP=1                   keep every test's temp dir (path printed)
  SSHGATE_IT_LOG_LEVEL     log_level written into every gateway config
  SSHGATE_IT_ALLOW_LEAKS=1 do not fail a test on LeakSanitizer reports
  SSHGATE_IT_SLOW=N        multiply every timeout by N (default 1)
  SSHGATE_IT_BIG=0         big streams of test_forward_bulk.py: 256 MiB, not 1 GiB

See README.md in this directory.
"""

from __future__ import annotations

import atexit
import errno
import json
import os
import re
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

HERE = Path(__file__).resolve().parent
SOURCE_DIR = HERE.parent.parent

SLOW = float(os.environ.get("SSHGATE_IT_SLOW", "1") or "1")
KEEP = os.environ.get("KEEP", "") not in ("", "0")

SSH = shutil.which("ssh") or "/usr/bin/ssh"
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
SSH_KEYSCAN = shutil.which("ssh-keyscan") or "/usr/bin/ssh-keyscan"
SSHD = "/usr/sbin/sshd"

# Sanitizer findings that fail a test when they show up in a process's log.
_SANITIZER_RE = re.compile(
    r"ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer: detected memory leaks"
    r"|WARNING: ThreadSanitizer|ERROR: UndefinedBehaviorSanitizer")
_SANITIZER_NO_LEAKS_RE = re.compile(
    r"ERROR: AddressSanitizer|runtime error:"
    r"|WARNING: ThreadSanitizer|ERROR: UndefinedBehaviorSanitizer")


def sanitizer_re() -> re.Pattern:
    if os.environ.get("SSHGATE_IT_ALLOW_LEAKS", "") not in ("", "0"):
        return _SANITIZER_NO_LEAKS_RE
    return _SANITIZER_RE


def t(seconds: float) -> float:
    """A timeout scaled by SSHGATE_IT_SLOW."""
    return seconds * SLOW


# --------------------------------------------------------------------------
# binaries
# --------------------------------------------------------------------------

def _find_binary(env: str, subdir: str, name: str) -> str:
    path = os.environ.get(env)
    if path:
        return path
    for build in ("build-it", "build/asan", "build", "build/debug",
                  "build/release"):
        cand = SOURCE_DIR / build / subdir / name
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    found = shutil.which(name)
    if found:
        return found
    raise RuntimeError(f"cannot find {name}: set {env}")


def sshgated_path() -> str:
    return _find_binary("SSHGATED", "gateway", "sshgated")


def admin_path() -> str:
    return _find_binary("SSHGATE_ADMIN", "admin", "sshgate-admin")


# --------------------------------------------------------------------------
# processes: every child is tracked and killed by its PID at the end
# --------------------------------------------------------------------------

_procs: list[subprocess.Popen] = []
_procs_lock = threading.Lock()


def track(proc: subprocess.Popen) -> subprocess.Popen:
    with _procs_lock:
        _procs.append(proc)
    return proc


def _kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Signal proc's process group (every child here runs in its own session,
    so its group id is its PID), falling back to the PID alone."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass


def descendants(pid: int) -> list[int]:
    """PIDs of every live descendant of pid (from /proc), children first."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat_line = f.read().decode("ascii", "replace")
        except OSError:
            continue
        # "pid (comm) state ppid ..."; comm may contain spaces and parens
        try:
            ppid = int(stat_line[stat_line.rindex(")") + 2:].split()[1])
        except (ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def pid_alive(pid: int) -> bool:
    """True when pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat_line = f.read().decode("ascii", "replace")
    except OSError:
        return False
    return stat_line[stat_line.rindex(")") + 2:].split()[0] != "Z"


def kill_process(proc: subprocess.Popen) -> None:
    """SIGKILL proc, its process group and every descendant (sshd's
    per-connection children start their own sessions), by PID."""
    kids = descendants(proc.pid) if proc.poll() is None else []
    if proc.poll() is None:
        _kill_group(proc, signal.SIGKILL)
    else:
        # the leader is gone; make sure nothing of its group lingers
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for pid in kids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def kill_all_tracked() -> None:
    with _procs_lock:
        procs = list(_procs)
        _procs.clear()
    for proc in procs:
        kill_process(proc)
        for f in (proc.stdin, proc.stdout, proc.stderr):
            try:
                if f:
                    f.close()
            except OSError:
                pass


atexit.register(kill_all_tracked)


def spawn(argv: Sequence[str], **kw) -> subprocess.Popen:
    """Popen in a new session (own process group), tracked."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("start_new_session", True)
    return track(subprocess.Popen([str(a) for a in argv], **kw))


@dataclass
class Result:
    argv: list
    rc: int
    out: str
    err: str
    elapsed: float
    timed_out: bool = False
    out_bytes: bytes | None = None  # stdout undecoded, when input was bytes

    def __str__(self) -> str:
        return (f"$ {' '.join(map(str, self.argv))}\n"
                f"rc={self.rc} elapsed={self.elapsed:.2f}s"
                f"{' TIMED OUT' if self.timed_out else ''}\n"
                f"--- stdout ---\n{self.out}--- stderr ---\n{self.err}")


def run(argv: Sequence[str], input: str | bytes | None = None,
        timeout: float = 60, env: dict | None = None,
        cwd: str | None = None) -> Result:
    """Run a command in its own process group, kill the group on timeout."""
    argv = [str(a) for a in argv]
    text = not isinstance(input, bytes)
    start = time.monotonic()
    proc = spawn(argv, stdin=subprocess.PIPE if input is not None
                 else subprocess.DEVNULL, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, env=env, cwd=cwd,
                 text=text, errors="replace" if text else None)
    timed_out = False
    try:
        out, err = proc.communicate(input=input, timeout=t(timeout))
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
        out, err = proc.communicate()
    finally:
        with _procs_lock:
            if proc in _procs:
                _procs.remove(proc)
    raw = None
    if not text:
        raw = out or b""
        out = raw.decode("utf-8", "replace")
        err = err.decode("utf-8", "replace")
    return Result(argv, proc.returncode, out or "", err or "",
                  time.monotonic() - start, timed_out, raw)


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
# keys
# --------------------------------------------------------------------------

@dataclass
class Key:
    path: str         # private key file
    pub: str          # the OpenSSH public key line
    fingerprint: str  # SHA256:...

    @property
    def pub_path(self) -> str:
        return self.path + ".pub"


def fingerprint_of(pubfile: str) -> str:
    r = run([SSH_KEYGEN, "-l", "-E", "sha256", "-f", pubfile], timeout=30)
    if r.rc != 0:
        raise RuntimeError(str(r))
    m = re.search(r"SHA256:[A-Za-z0-9+/]+", r.out)
    if not m:
        raise RuntimeError(f"no fingerprint in {r.out!r}")
    return m.group(0)


def keygen(path: str | Path, ktype: str = "ed25519", comment: str = "it") -> Key:
    """ssh-keygen -t ed25519 -N '' -f path."""
    path = str(path)
    argv = [SSH_KEYGEN, "-q", "-t", ktype, "-N", "", "-C", comment, "-f", path]
    if ktype == "rsa":
        argv += ["-b", "3072"]
    r = run(argv, timeout=60)
    if r.rc != 0:
        raise RuntimeError(str(r))
    os.chmod(path, 0o600)
    pub = Path(path + ".pub").read_text().strip()
    return Key(path, pub, fingerprint_of(path + ".pub"))


# --------------------------------------------------------------------------
# the OpenSSH client
# --------------------------------------------------------------------------

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
# the admin CLI
# --------------------------------------------------------------------------

class AdminError(AssertionError):
    pass


class Admin:
    """sshgate-admin against one database."""

    def __init__(self, db: str | Path, binary: str | None = None):
        self.db = str(db)
        self.binary = binary or admin_path()

    def run(self, *args: str, input: str | None = None, json_out: bool = False,
            timeout: float = 120) -> Result:
        argv = [self.binary, "--db", self.db]
        if json_out:
            argv.append("--json")
        argv += [str(a) for a in args]
        env = dict(os.environ)
        env.pop("SSHGATE_DB", None)
        r = run(argv, input=input, timeout=timeout, env=env)
        if sanitizer_re().search(r.err):
            raise AdminError(f"sanitizer report from sshgate-admin:\n{r}")
        return r

    def ok(self, *args: str, input: str | None = None, json_out: bool = False) -> Result:
        r = self.run(*args, input=input, json_out=json_out)
        if r.rc != 0:
            raise AdminError(f"admin command failed:\n{r}")
        return r

    def json(self, *args: str, input: str | None = None):
        r = self.ok(*args, input=input, json_out=True)
        try:
            return json.loads(r.out)
        except json.JSONDecodeError as e:
            raise AdminError(f"admin --json output is not JSON ({e}):\n{r}")

    # conveniences ----------------------------------------------------------
    def init(self) -> Result:
        return self.ok("init")

    def add_user(self, name: str, key: Key | None = None,
                 password: str | None = None, admin: bool = False) -> None:
        args = ["user", "add", name]
        if admin:
            args.append("--admin")
        if key is not None:
            args += ["--key", key.pub_path]
        if password is not None:
            args.append("--password-stdin")
        self.ok(*args, input=(password + "\n") if password is not None else None)

    def add_key(self, user: str, key: Key) -> None:
        self.ok("key", "add", user, key.pub_path)

    def add_host(self, name: str, address: str, port: int | None = None,
                 login: str | None = None, fingerprint: str | None = None) -> None:
        args = ["host", "add", name, "--address", address]
        if port is not None:
            args += ["--port", str(port)]
        if login is not None:
            args += ["--login", login]
        if fingerprint is not None:
            args += ["--fingerprint", fingerprint]
        self.ok(*args)

    def grant(self, user: str, host: str, login: str | None = None,
              allow: str | None = None, expires: str | None = None) -> None:
        args = ["grant", "add", user, host]
        if login is not None:
            args += ["--login", login]
        if allow is not None:
            args += ["--allow", allow]
        if expires is not None:
            args += ["--expires", expires]
        self.ok(*args)

    def events(self, kind: str | None = None, user: str | None = None) -> list[dict]:
        """`audit list` as a list of dicts with at least the keys kind, user,
        client and detail (normalised from whatever names the CLI uses)."""
        args = ["audit", "list"]
        if kind:
            args += ["--kind", kind]
        if user:
            args += ["--user", user]
        doc = self.json(*args)
        return normalise_events(doc)


def normalise_events(doc) -> list[dict]:
    if isinstance(doc, dict):
        for k in ("events", "items", "rows", "data"):
            if isinstance(doc.get(k), list):
                doc = doc[k]
                break
        else:
            raise AdminError(f"unexpected audit list JSON shape: {str(doc)[:500]}")
    if not isinstance(doc, list):
        raise AdminError(f"unexpected audit list JSON shape: {str(doc)[:500]}")
    out = []
    for ev in doc:
        ev = dict(ev)
        ev.setdefault("user", ev.get("username") or ev.get("user_name"))
        ev.setdefault("client", ev.get("client_addr") or ev.get("address"))
        if ev.get("detail") is None:
            ev["detail"] = ""
        if not isinstance(ev["detail"], str):
            ev["detail"] = json.dumps(ev["detail"])
        out.append(ev)
    return out


# --------------------------------------------------------------------------
# the daemon
# --------------------------------------------------------------------------

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
        lines = ["# written by tests/integration/harness.py"]
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


# --------------------------------------------------------------------------
# the backend: a real OpenSSH sshd
# --------------------------------------------------------------------------

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


ALICE_PASSWORD = "Correct-horse-battery-9"

_template_db: Path | None = None


def _remove_template() -> None:
    if _template_db is not None:
        shutil.rmtree(_template_db.parent, ignore_errors=True)


atexit.register(_remove_template)


def init_database(admin: Admin) -> None:
    """`sshgate-admin init` on admin.db. Generating host keys (RSA) is slow
    under ASan, so the first init of the process is kept as a template and
    later tests get a copy (same host keys). SSHGATE_IT_FRESH_INIT=1 runs a
    real init every time."""
    global _template_db
    if os.environ.get("SSHGATE_IT_FRESH_INIT", "") not in ("", "0"):
        admin.init()
        return
    if _template_db is None:
        tdir = Path(tempfile.mkdtemp(prefix="sshgate-it-template-"))
        Admin(tdir / "template.db", admin.binary).init()
        _template_db = tdir / "template.db"
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(_template_db) + suffix)
        if src.exists():
            shutil.copyfile(src, str(admin.db) + suffix)
    # the copy must be a valid, initialised database
    r = admin.run("init")
    if r.rc != 0:
        raise AdminError(f"init on the copied template failed:\n{r}")


def parse_hosts(out: str) -> dict[str, tuple[str, set[str]]]:
    """Parse the `hosts` built-in: a header line, then one line per host
    "NAME ADDRESS:PORT LOGINS" (logins separated by commas and/or spaces).
    Raises AssertionError on a malformed line."""
    lines = [l for l in out.splitlines() if l.strip()]
    if not lines:
        raise AssertionError(f"`hosts` printed nothing (expected at least a header): {out!r}")
    hosts = {}
    for line in lines[1:]:
        parts = line.split(None, 2)
        if len(parts) < 3 or not re.fullmatch(r"\[?[0-9A-Za-z.:-]+\]?:\d+", parts[1]):
            raise AssertionError(f"malformed `hosts` line {line!r} in:\n{out}")
        logins = {x for x in re.split(r"[,\s]+", parts[2].strip()) if x}
        if parts[0] in hosts:
            raise AssertionError(f"host {parts[0]} listed twice:\n{out}")
        hosts[parts[0]] = (parts[1], logins)
    return hosts


# --------------------------------------------------------------------------
# unittest base class
# --------------------------------------------------------------------------

class TestCase(unittest.TestCase):
    """Temp dir, admin wrapper and fixture management per test.

    self.dir    per-test temp dir (kept with KEEP=1)
    self.db     database path inside it; self.admin an Admin on it
    self.gateway(**opts) / self.backend() create fixtures stopped at the end
    """

    maxDiff = None
    init_db = True  # run `sshgate-admin init` in setUp

    def setUp(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"sshgate-it-{self._testMethodName}-"))
        self.db = self.dir / "sshgate.db"
        self.admin = Admin(self.db)
        self._gateways: list[Gateway] = []
        self._backends: list[Backend] = []
        self._sockets: list[socket.socket] = []
        self.addCleanup(self._cleanup_fixtures)
        if self.init_db:
            init_database(self.admin)

    # fixtures ------------------------------------------------------------
    def gateway(self, start: bool = True, **options) -> Gateway:
        sub = self.dir / f"gw{len(self._gateways)}"
        sub.mkdir()
        db = options.pop("db", self.db)
        gw = Gateway(sub, db, **options)
        self._gateways.append(gw)
        if start:
            gw.start()
        return gw

    def backend(self, start: bool = True, **kw) -> Backend:
        be = Backend(self.dir, name=f"backend{len(self._backends)}", **kw)
        self._backends.append(be)
        if start:
            be.start()
        return be

    def keygen(self, name: str, ktype: str = "ed25519") -> Key:
        return keygen(self.dir / name, ktype, comment=name)

    def make_alice(self, password: str | None = None) -> Key:
        """The standard world: user alice (key, and password when given),
        hosts web1 and app2 granted to her, db1 not granted, and bob."""
        self.alice_key = self.keygen("alice_key")
        self.alice_password = password or ALICE_PASSWORD
        self.admin.add_user("alice", key=self.alice_key, password=self.alice_password)
        self.admin.add_host("web1", "192.0.2.10", port=2201, login="deploy")
        self.admin.add_host("app2", "192.0.2.11", login="www")
        self.admin.add_host("db1", "192.0.2.20", port=2222, login="postgres")
        self.admin.grant("alice", "web1", login="deploy")
        self.admin.grant("alice", "web1", login="root")
        self.admin.grant("alice", "app2")
        self.bob_key = self.keygen("bob_key")
        self.admin.add_user("bob", key=self.bob_key)
        self.admin.grant("bob", "db1")
        return self.alice_key

    def assert_alice_hosts(self, result: Result) -> None:
        """`ssh alice@gw hosts` printed exactly web1 and app2."""
        self.assertLoginOk(result)
        hosts = parse_hosts(result.out)
        self.assertEqual(set(hosts), {"web1", "app2"}, f"\n{result}")
        self.assertEqual(hosts["web1"], ("192.0.2.10:2201", {"deploy", "root"}), f"\n{result}")
        self.assertEqual(hosts["app2"], ("192.0.2.11:22", {"www"}), f"\n{result}")

    def alice_login(self, gw: "Gateway", **kw) -> Result:
        return gw.ssh("alice", "hosts", keys=[self.alice_key], **kw)

    def connect(self, port: int, timeout: float = 10) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self._sockets.append(s)
        return s

    def _cleanup_fixtures(self) -> None:
        for s in self._sockets:
            try:
                s.close()
            except OSError:
                pass
        errors = []
        for gw in self._gateways:
            try:
                gw.stop()
            except GatewayError as e:
                errors.append(str(e))
        for be in self._backends:
            be.stop()
        kill_all_tracked()
        if errors:
            raise GatewayError("\n\n".join(errors))

    # assertions ----------------------------------------------------------
    def assertRc(self, result: Result, rc: int, msg: str = "") -> None:
        if result.rc != rc:
            self.fail(f"expected exit {rc}, got {result.rc}{': ' + msg if msg else ''}\n{result}")

    def assertLoginOk(self, result: Result) -> None:
        self.assertRc(result, 0, "login should succeed")

    def assertRefused(self, result: Result, pattern: str | None = None) -> None:
        """ssh exited 255 (connection/auth failure), optionally with pattern
        in stderr, and printed nothing on stdout."""
        self.assertRc(result, 255, "ssh should be refused")
        self.assertFalse(result.timed_out, f"ssh timed out\n{result}")
        self.assertEqual(result.out, "", f"refused login printed output\n{result}")
        if pattern:
            self.assertRegex(result.err, pattern, f"\n{result}")

    def eventually(self, fn: Callable[[], object], timeout: float = 10,
                   interval: float = 0.2, msg: str = "") -> object:
        """Call fn until it returns a truthy value or timeout; returns it."""
        deadline = time.monotonic() + t(timeout)
        last_exc = None
        while True:
            try:
                v = fn()
                if v:
                    return v
            except AssertionError as e:
                last_exc = e
            if time.monotonic() > deadline:
                self.fail(f"condition not met within {t(timeout):.0f}s: {msg}"
                          + (f"\nlast error: {last_exc}" if last_exc else ""))
            time.sleep(interval)

    def settle_events(self, quiet: float = 0.6, timeout: float = 15) -> int:
        """Wait until the event log stops growing (the daemon writes events
        from a queue); returns the number of events."""
        deadline = time.monotonic() + t(timeout)
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            n = len(self.admin.events())
            if n != last:
                last, since = n, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
            time.sleep(0.15)
        return last

    # reporting -----------------------------------------------------------
    def run(self, result=None):
        if result is None:
            result = self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        # setUp may never run (skips); make the attributes exist anyway
        self._gateways, self._backends, self.dir = [], [], None
        out = super().run(result)
        failed = len(result.failures) + len(result.errors) > before
        if failed:
            for gw in self._gateways:
                sys.stderr.write(f"\n==== {self.id()}: sshgated log "
                                 f"({gw.log_path}) tail ====\n{gw.log_tail(60)}\n")
            for be in self._backends:
                sys.stderr.write(f"\n==== {self.id()}: backend sshd log tail ====\n"
                                 + "\n".join(be.log().splitlines()[-30:]) + "\n")
        if self.dir is not None:
            if KEEP:
                sys.stderr.write(f"[KEEP] {self.id()}: {self.dir}\n")
            else:
                shutil.rmtree(self.dir, ignore_errors=True)
        return out


# --------------------------------------------------------------------------
# forwarding: the world of a terminated session, loopback TCP helpers,
# ssh-agent, scp / sftp / rsync, a client on a pty
# --------------------------------------------------------------------------

SCP = shutil.which("scp") or "/usr/bin/scp"
SFTP = shutil.which("sftp") or "/usr/bin/sftp"
RSYNC = shutil.which("rsync") or "/usr/bin/rsync"
SSH_AGENT = shutil.which("ssh-agent") or "/usr/bin/ssh-agent"
SSH_ADD = shutil.which("ssh-add") or "/usr/bin/ssh-add"

_BACKEND_PUB_RE = re.compile(r"^ssh-ed25519 AAAA[A-Za-z0-9+/]+=* sshgate-backend$")


def gateway_backend_pub(admin: Admin) -> str:
    """The last line of `sshgate-admin keys show`: the gateway's backend
    identity public key, ready for a backend's authorized_keys."""
    r = admin.ok("keys", "show")
    lines = [l.strip() for l in r.out.splitlines() if l.strip()]
    if not lines or not _BACKEND_PUB_RE.match(lines[-1]):
        raise AdminError("`keys show` does not end with the backend key line "
                         f"'ssh-ed25519 AAAA... sshgate-backend':\n{r}")
    return lines[-1]


_KNOWN_HOSTS_NOISE_RE = re.compile(r"^Warning: Permanently added .* to the list of known hosts\.\r?\n",
                                   re.M)


def client_stderr(err: str) -> str:
    """ssh's stderr without the "Permanently added ... to the list of known
    hosts" warning (UserKnownHostsFile=/dev/null makes it every time)."""
    return _KNOWN_HOSTS_NOISE_RE.sub("", err)


def detail_fields(detail: str) -> dict[str, str]:
    """key=value pairs of an event detail; values may be "double" or
    'single' quoted (quotes removed, backslash escapes kept as is)."""
    out = {}
    for m in re.finditer(r"""([A-Za-z_][A-Za-z0-9_.-]*)=("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\S*)""",
                         detail or ""):
        v = m.group(2)
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
            v = v[1:-1]
        out.setdefault(m.group(1), v)
    return out


def wait_for(fn: Callable[[], object], timeout: float, interval: float = 0.05) -> object:
    """Poll fn until it returns something truthy (returned) or timeout
    (scaled) passes (returns the last falsy value)."""
    deadline = time.monotonic() + t(timeout)
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(interval)


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


class ForwardTestCase(TestCase):
    """The world of the forwarding tests:

    self.be         a real OpenSSH sshd (AcceptEnv adds TERM FOO) whose
                    authorized_keys holds the gateway's backend key
                    (`keys show`); self.login its login (root in CI)
    web1            host 127.0.0.1:self.be.port, default login self.login
    alice           key self.alice_key, granted web1 (`grant_allow`, None =
                    the default kinds)
    self.gw         sshgated with `backend_connect_timeout = 5` and
                    `gateway_options` (not started when start_gateway is
                    False)

    After each test (and after the fixtures are stopped) `sshgate-admin
    audit verify` must pass."""

    grant_allow: str | None = None
    gateway_options: dict = {}
    backend_config: Sequence[str] = ("AcceptEnv TERM FOO",)
    start_gateway = True

    def setUp(self) -> None:
        super().setUp()
        self._closers: list[Callable[[], None]] = []
        self.be = self.backend(extra_config=list(self.backend_config))
        self.login = self.be.login
        self.backend_pub = gateway_backend_pub(self.admin)
        self.be.authorize(self.backend_pub)
        self.alice_key = self.keygen("alice_key")
        self.admin.add_user("alice", key=self.alice_key)
        self.admin.add_host("web1", "127.0.0.1", port=self.be.port, login=self.login)
        self.admin.grant("alice", "web1", allow=self.grant_allow)
        options = {"backend_connect_timeout": 5}
        options.update(self.gateway_options)
        self.gw = self.gateway(start=self.start_gateway, **options)
        self._direct_key: Key | None = None

    # fixtures ------------------------------------------------------------
    def closing(self, obj):
        """Close obj (anything with close()) at the end of the test."""
        self._closers.append(obj.close)
        return obj

    def echo_server(self, host: str = "127.0.0.1") -> TcpEcho:
        return self.closing(TcpEcho(host))

    def silent_listener(self, full_backlog: bool = False) -> SilentListener:
        return self.closing(SilentListener(full_backlog))

    def background(self, argv: Sequence[str], name: str, **kw) -> subprocess.Popen:
        """Spawn argv with stderr to DIR/NAME.err (stdin, stdout: /dev/null
        unless given); killed at the end of the test. proc.err_path and
        proc.err() give its stderr."""
        err_path = self.dir / f"{name}.err"
        with open(err_path, "wb") as errf:
            kw.setdefault("stdout", subprocess.DEVNULL)
            kw.setdefault("env", ssh_env())
            proc = spawn(argv, stderr=errf, **kw)
        proc.err_path = err_path
        proc.err = lambda: err_path.read_text(errors="replace")
        self._closers.append(lambda: kill_process(proc))
        return proc

    def direct_key(self) -> Key:
        """A key self.be trusts directly (not through the gateway)."""
        if self._direct_key is None:
            self._direct_key = self.keygen("direct_key")
            self.be.authorize(self._direct_key)
        return self._direct_key

    def _cleanup_fixtures(self) -> None:
        for close in reversed(self._closers):
            try:
                close()
            except Exception:  # noqa: BLE001 - best effort
                pass
        try:
            super()._cleanup_fixtures()
        finally:
            if self.db.exists():
                r = self.admin.run("audit", "verify")
                if r.rc != 0 or not r.out.startswith("audit chain intact"):
                    raise AdminError(f"audit verify failed after the test:\n{r}")

    # clients -------------------------------------------------------------
    def tssh(self, command=None, user: str = "alice+web1", keys=None, **kw) -> Result:
        """ssh through the gateway (default login alice+web1, alice's key)."""
        return self.gw.ssh(user, command, keys=[self.alice_key] if keys is None else keys,
                           **kw)

    def tssh_argv(self, command=None, user: str = "alice+web1", keys=None,
                  **kw) -> list[str]:
        return ssh_argv(self.gw.port, user, command,
                        [self.alice_key] if keys is None else keys, **kw)

    # sessions rows (docs/audit-schema.md) --------------------------------
    def sessions(self, **match) -> list[dict]:
        """`session list --json` rows whose fields equal match."""
        rows = self.admin.json("session", "list")
        return [r for r in rows if all(r.get(k) == v for k, v in match.items())]

    def wait_session(self, timeout: float = 10, ended: bool = True, **match) -> dict:
        """The newest row matching match once it has (ended) or has not
        (ended=False) ended; fails the test after timeout."""
        def find():
            rows = [r for r in self.sessions(**match)
                    if (r["ended_at"] is not None) == ended]
            return rows[-1] if rows else None
        row = wait_for(find, timeout, 0.2)
        if row is None:
            self.fail(f"no session row {match} (ended={ended}):\n{self.sessions()}")
        return row

    # events --------------------------------------------------------------
    def find_events(self, event_kind: str, /, user: str | None = None,
                    **fields: str) -> list[dict]:
        """Events of kind whose detail has every key=value in fields (a
        value starting with "~" is a regular expression searched for)."""
        out = []
        for ev in self.admin.events(event_kind):
            if user is not None and ev.get("user") != user:
                continue
            f = detail_fields(ev["detail"])
            ok = True
            for k, want in fields.items():
                got = f.get(k)
                if got is None:
                    ok = False
                elif want.startswith("~"):
                    ok = re.search(want[1:], got) is not None
                else:
                    ok = got == want
                if not ok:
                    break
            if ok:
                ev["fields"] = f
                out.append(ev)
        return out

    def wait_event(self, event_kind: str, /, user: str | None = None,
                   timeout: float = 10, **fields: str) -> dict:
        """The first event of kind matching (see find_events); fails the
        test when none appears within timeout."""
        found = wait_for(lambda: self.find_events(event_kind, user, **fields), timeout, 0.2)
        if not found:
            every = self.admin.events()
            listing = "\n".join(f"  {e['kind']} user={e.get('user')} {e['detail']}"
                                for e in every[-40:])
            self.fail(f"no {event_kind!r} event with user={user} {fields} within "
                      f"{t(timeout):.0f}s; last events:\n{listing}")
        return found[0]

    def assertNoEvent(self, event_kind: str, /, user: str | None = None,
                      **fields: str) -> None:
        self.settle_events()
        found = self.find_events(event_kind, user, **fields)
        self.assertEqual(found, [], f"unexpected {event_kind!r} event(s)")


def main() -> None:
    """unittest.main with verbose output; exit status non-zero on failure."""
    unittest.main(verbosity=2)
