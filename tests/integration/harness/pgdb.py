"""The PostgreSQL engine for the integration tests: when SSHGATE_TEST_PG
names a server (tests/pg/with-postgres starts one and sets it), every test
gets a database of its own on it, created from a template that
`sshgate-admin init` made once per process, instead of a SQLite file.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from urllib.parse import urlsplit, urlunsplit

SERVER = os.environ.get("SSHGATE_TEST_PG", "")
_names = itertools.count()


def enabled() -> bool:
    return SERVER != ""


def uri_for(name: str) -> str:
    """The server's URI with database `name`."""
    parts = urlsplit(SERVER)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def psql(sql: str, uri: str | None = None) -> str:
    r = subprocess.run(["psql", uri or SERVER, "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"psql {sql!r} failed: {r.stderr.strip()}")
    return r.stdout


def new_database(template: str | None = None) -> str:
    """A fresh database (a copy of template's when given); its URI."""
    name = f"it_{os.getpid()}_{next(_names)}"
    psql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return uri_for(name)


def database_name(uri: str) -> str:
    return urlsplit(uri).path.lstrip("/")
