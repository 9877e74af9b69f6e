"""Environment knobs, timeouts, the binaries under test and child processes.

HERE / SOURCE_DIR, SLOW (SSHGATE_IT_SLOW) and KEEP; t() scales a timeout;
wait_for() polls; the sanitizer patterns a log is checked against; where
sshgated and sshgate-admin are found; every child is started in its own
session through spawn() / run(), tracked, and killed by PID (its process
group and its descendants) at the end.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

# this package lives in tests/integration/harness/: HERE is tests/integration
HERE = Path(__file__).resolve().parent.parent
SOURCE_DIR = HERE.parent.parent

SLOW = float(os.environ.get("SSHGATE_IT_SLOW", "1") or "1")
KEEP = os.environ.get("KEEP", "") not in ("", "0")

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


def wait_for(fn: Callable[[], object], timeout: float, interval: float = 0.05) -> object:
    """Poll fn until it returns something truthy (returned) or timeout
    (scaled) passes (returns the last falsy value)."""
    deadline = time.monotonic() + t(timeout)
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(interval)


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
