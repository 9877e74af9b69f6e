"""`cmake --install` and what it installs: the binaries, the systemd unit
(pointing at the installed sshgated, checked with systemd-analyze verify
where systemd is installed), the sysusers.d entry, the example
configuration (every documented setting with its default, and valid) and
the documentation. Python 3 standard library only.

Environment (ctest sets them):
  BUILD_DIR                 the configured build tree to install from
  CMAKE                     the cmake binary (default: cmake on PATH)
  SSHGATED, SSHGATE_ADMIN   the built binaries
  KEEP=1                    keep the temp directories (paths printed)
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE_DIR = HERE.parent.parent
BUILD_DIR = os.environ.get("BUILD_DIR", "")
CMAKE = os.environ.get("CMAKE") or shutil.which("cmake") or "cmake"
SSHGATED = os.environ.get("SSHGATED", "")
ADMIN = os.environ.get("SSHGATE_ADMIN", "")
KEEP = os.environ.get("KEEP", "") not in ("", "0")

DOCDIR = "share/doc/sshgate"
UNIT = "lib/systemd/system/sshgated.service"

# The hardening the unit must keep (docs/operator-guide.md explains them).
HARDENING = [
    "User=sshgate", "Group=sshgate", "StateDirectory=sshgate",
    "StateDirectoryMode=0700", "UMask=0077", "NoNewPrivileges=yes",
    "AmbientCapabilities=CAP_NET_BIND_SERVICE",
    "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "ProtectSystem=strict",
    "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes",
    "ProtectKernelTunables=yes", "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes", "ProtectControlGroups=yes",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    "RestrictNamespaces=yes", "LockPersonality=yes",
    "MemoryDenyWriteExecute=yes", "SystemCallFilter=@system-service",
    "SystemCallArchitectures=native", "LimitNOFILE=65536",
    "Restart=on-failure", "ExecReload=/bin/kill -HUP $MAINPID",
]


def doc_settings() -> dict[str, str]:
    """docs/configuration.md's settings and their default cells."""
    text = (SOURCE_DIR / "docs" / "configuration.md").read_text()
    return dict(re.findall(r"^\| `([a-z_]+)` \| ([^|]*) \|", text, re.M))


def doc_default(cell: str) -> str | None:
    """The literal default of a table cell; None when it is prose."""
    cell = cell.strip()
    if cell.startswith("empty"):
        return ""
    m = re.match(r"`([^`]*)`", cell)
    return m.group(1) if m else None


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        if not BUILD_DIR:
            raise unittest.SkipTest("BUILD_DIR is not set")
        cls.tmp = Path(tempfile.mkdtemp(prefix="sshgate-install-"))
        cls.prefix = cls.tmp / "usr" / "local"
        r = subprocess.run([CMAKE, "--install", BUILD_DIR, "--prefix",
                            str(cls.prefix)], capture_output=True, text=True,
                           timeout=120)
        if r.returncode != 0:
            raise AssertionError(f"cmake --install failed:\n{r.stdout}"
                                 f"{r.stderr}")

    @classmethod
    def tearDownClass(cls) -> None:
        if KEEP:
            print(f"kept {cls.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_files(self) -> None:
        for name in ("sbin/sshgated", "sbin/sshgate-admin"):
            path = self.prefix / name
            self.assertTrue(path.is_file(), name)
            self.assertTrue(path.stat().st_mode & stat.S_IXUSR, name)
        for name in (UNIT, "lib/sysusers.d/sshgate.conf",
                     f"{DOCDIR}/sshgated.conf.example", f"{DOCDIR}/README.md",
                     f"{DOCDIR}/configuration.md", f"{DOCDIR}/admin.md",
                     f"{DOCDIR}/operator-guide.md"):
            self.assertTrue((self.prefix / name).is_file(), name)
        sysusers = (self.prefix / "lib/sysusers.d/sshgate.conf").read_text()
        self.assertRegex(sysusers, r"(?m)^u sshgate - .* /var/lib/sshgate ")

    def test_unit_names_the_installed_binary(self) -> None:
        unit = (self.prefix / UNIT).read_text()
        sbin = self.prefix / "sbin"
        self.assertIn(f"ExecStart={sbin}/sshgated -f "
                      "/etc/sshgate/sshgated.conf\n", unit)
        self.assertIn(f"ExecReload={sbin}/sshgated -f "
                      "/etc/sshgate/sshgated.conf --check-config\n", unit)
        self.assertNotRegex(unit, r"@[A-Z_]+@", "an unreplaced @VARIABLE@")
        lines = unit.splitlines()
        for directive in HARDENING:
            self.assertIn(directive, lines)
        grace = int(re.search(r"(?m)^TimeoutStopSec=(\d+)$", unit).group(1))
        default_grace = int(doc_default(doc_settings()["shutdown_grace"]))
        self.assertGreater(grace, default_grace)

    def test_unit_verifies(self) -> None:
        analyze = shutil.which("systemd-analyze")
        if analyze is None:
            self.skipTest("systemd-analyze is not installed")
        r = subprocess.run([analyze, "verify", str(self.prefix / UNIT)],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.strip(), "")
        # A unit whose binary is missing fails: verify really looks.
        broken = self.tmp / "broken.service"
        broken.write_text((self.prefix / UNIT).read_text().replace(
            f"{self.prefix}/sbin/sshgated", f"{self.tmp}/nowhere/sshgated"))
        r = subprocess.run([analyze, "verify", str(broken)],
                           capture_output=True, text=True, timeout=120)
        self.assertNotEqual(r.returncode, 0)

    def test_destdir_keeps_the_final_prefix(self) -> None:
        stage = self.tmp / "stage"
        env = dict(os.environ, DESTDIR=str(stage))
        r = subprocess.run([CMAKE, "--install", BUILD_DIR, "--prefix",
                            "/opt/sshgate"], capture_output=True, text=True,
                           timeout=120, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        unit = (stage / "opt/sshgate" / UNIT).read_text()
        self.assertIn("ExecStart=/opt/sshgate/sbin/sshgated -f ", unit)
        self.assertTrue((stage / "opt/sshgate/sbin/sshgated").is_file())


class ExampleConfigTest(unittest.TestCase):
    EXAMPLE = SOURCE_DIR / "packaging" / "sshgated.conf.example"

    def settings(self) -> dict[str, str]:
        text = self.EXAMPLE.read_text()
        return dict(re.findall(r"(?m)^#([a-z_]+) = ?(.*)$", text))

    def test_every_setting_with_its_default(self) -> None:
        example = self.settings()
        docs = doc_settings()
        self.assertEqual(sorted(example), sorted(docs),
                         "packaging/sshgated.conf.example must list every "
                         "setting of docs/configuration.md, and no other")
        for key, cell in docs.items():
            default = doc_default(cell)
            if key == "db":
                default = "/var/lib/sshgate/sshgate.db"
            with self.subTest(key=key):
                self.assertIsNotNone(default, f"no literal default: {cell}")
                self.assertEqual(example[key], default)

    def test_uncommented_example_is_valid(self) -> None:
        if not SSHGATED or not ADMIN:
            self.skipTest("SSHGATED and SSHGATE_ADMIN are not set")
        tmp = Path(tempfile.mkdtemp(prefix="sshgate-example-"))
        try:
            db = tmp / "sshgate.db"
            subprocess.run([ADMIN, "--db", str(db), "init"], check=True,
                           capture_output=True, timeout=120)
            conf = tmp / "sshgated.conf"
            conf.write_text("".join(f"{k} = {v}\n"
                                    for k, v in self.settings().items()))
            r = subprocess.run([SSHGATED, "-f", str(conf), "--db", str(db),
                                "--check-config"], capture_output=True,
                               text=True, timeout=120)
            self.assertEqual((r.returncode, r.stdout), (0, "config ok\n"),
                             r.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
