"""sshgate-admin against one database, and the audit log as read through
it (`audit list` normalised to dicts, key=value fields of an event
detail); the gateway's backend public key from `keys show`.

The harness reads the audit only through the admin CLI (`audit list`,
`session list --json`), never with SQLite directly.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .keys import Key
from .processes import Result, admin_path, run, sanitizer_re


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
