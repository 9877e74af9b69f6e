"""The unittest base classes: TestCase (a temp dir, a database, the
fixtures of one test, stopped at the end) and ForwardTestCase (the world of
a terminated session: a backend sshd, host web1, alice granted it, a
gateway); the database template; main().
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path
from typing import Callable, Sequence

from . import pgdb
from .admin import Admin, AdminError, detail_fields, gateway_backend_pub
from .backend import Backend
from .clients import ssh_argv, ssh_env
from .gateway import Gateway, GatewayError
from .keys import Key, keygen
from .net import SilentListener, TcpEcho
from .processes import (KEEP, Result, kill_all_tracked, kill_process, spawn, t,
                        wait_for)


ALICE_PASSWORD = "Correct-horse-battery-9"

_template_db: Path | None = None
_template_pg: str | None = None  # the template database's name


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
    if pgdb.enabled():
        _init_pg_database(admin)
        return
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


def new_database(directory: Path) -> str | Path:
    """Where a test's database lives: a file in its dir, or a database of
    its own on the PostgreSQL server (pgdb)."""
    if pgdb.enabled():
        return pgdb.new_database()
    return directory / "sshgate.db"


def database_exists(db: str | Path) -> bool:
    return pgdb.enabled() or Path(db).exists()


def _init_pg_database(admin: Admin) -> None:
    """The PostgreSQL form of init_database: the first test's database is
    initialised and kept as the template that later ones are copied from
    (CREATE DATABASE ... TEMPLATE), with the same host keys."""
    global _template_pg
    if _template_pg is None:
        template = pgdb.new_database()
        Admin(template, admin.binary).init()
        _template_pg = pgdb.database_name(template)
    copy = pgdb.new_database(_template_pg)
    admin.db = copy
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
        self.db = new_database(self.dir)
        self.admin = Admin(self.db)
        self._gateways: list[Gateway] = []
        self._backends: list[Backend] = []
        self._sockets: list[socket.socket] = []
        self.addCleanup(self._cleanup_fixtures)
        if self.init_db:
            init_database(self.admin)
            self.db = self.admin.db

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
# forwarding: the world of a terminated session
# --------------------------------------------------------------------------

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

    def jump_config(self) -> Path:
        """An ssh_config with host `gwjump` = the gateway as alice (for
        `ssh -F CFG -J gwjump ...`)."""
        cfg = self.dir / "jump_config"
        cfg.write_text(
            "Host gwjump\n"
            "  HostName 127.0.0.1\n"
            f"  Port {self.gw.port}\n"
            "  User alice\n"
            f"  IdentityFile {self.alice_key.path}\n"
            "Host *\n"
            "  BatchMode yes\n"
            "  StrictHostKeyChecking no\n"
            "  UserKnownHostsFile /dev/null\n"
            "  GlobalKnownHostsFile /dev/null\n"
            "  IdentitiesOnly yes\n"
            "  IdentityAgent none\n"
            "  ControlMaster no\n"
            "  ControlPath none\n"
            f"  ConnectTimeout {int(t(20))}\n"
            "  UpdateHostKeys no\n")
        return cfg

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
            if database_exists(self.db):
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
