"""Client and host keys made with the real ssh-keygen."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from .processes import run

SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"


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
