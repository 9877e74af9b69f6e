"""The container entrypoint (docker/entrypoint.sh), run the way the
container runs it but against a temp directory and the build tree's
binaries: first start, second start, SSHGATE_* overrides, a mounted config
file, file modes, refusal of bad values and of a bad bootstrap key, and
sshgated as PID 1 draining on SIGTERM (in a PID namespace, when unshare
works here).

No Docker engine is needed: SSHGATED_BIN and SSHGATE_ADMIN_BIN point the
script at the build. Python 3 standard library only.

Environment (ctest sets them):
  SSHGATED, SSHGATE_ADMIN   the binaries under test
  KEEP=1                    keep the temp directories (paths printed)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE_DIR = HERE.parent.parent
ENTRYPOINT = SOURCE_DIR / "docker" / "entrypoint.sh"
SSHGATED = os.environ.get("SSHGATED", "")
ADMIN = os.environ.get("SSHGATE_ADMIN", "")
KEEP = os.environ.get("KEEP", "") not in ("", "0")
SSH = shutil.which("ssh")
SSH_KEYGEN = shutil.which("ssh-keygen")
UNSHARE = shutil.which("unshare")

SANITIZER_RE = re.compile(
    r"ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer"
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def doc_keys() -> list[str]:
    """Every setting in docs/configuration.md's table, in order."""
    text = (SOURCE_DIR / "docs" / "configuration.md").read_text()
    return re.findall(r"^\| `([a-z][a-z0-9_]*)` \|", text, re.M)


def entrypoint_keys() -> list[str]:
    text = ENTRYPOINT.read_text()
    m = re.search(r'^KEYS="([^"]*)"', text, re.M)
    assert m, "no KEYS= list in docker/entrypoint.sh"
    return m.group(1).split()


def unshare_works() -> bool:
    if UNSHARE is None:
        return False
    try:
        r = subprocess.run(
            [UNSHARE, "--pid", "--fork", "--mount-proc", "true"],
            capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0


class Container:
    """One run of the entrypoint: a data directory, a port, a log."""

    def __init__(self, test: unittest.TestCase, root: Path, **env: str):
        self.test = test
        self.root = Path(tempfile.mkdtemp(prefix="c-", dir=root))
        self.data = root / "data"
        self.db = self.data / "sshgate.db"
        self.gen = self.data / "sshgated.generated.conf"
        self.port = free_port()
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.root),
            "SSHGATED_BIN": SSHGATED,
            "SSHGATE_ADMIN_BIN": ADMIN,
            "SSHGATE_DATA_DIR": str(self.data),
            "SSHGATE_LISTEN": f"127.0.0.1:{self.port}",
            "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", ""),
            "UBSAN_OPTIONS": os.environ.get("UBSAN_OPTIONS", ""),
        }
        self.env.update(env)
        self.proc: subprocess.Popen | None = None
        self.log_path = root / "entrypoint.log"
        self.runs = 0

    # -- running ----------------------------------------------------------

    def start(self, *args: str, prefix: tuple[str, ...] = ()) -> None:
        self.runs += 1
        self.log_path = self.root / f"entrypoint-{self.runs}.log"
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [*prefix, str(ENTRYPOINT), *args], env=self.env,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()

    def run_to_end(self, timeout: float = 120) -> int:
        """Start and wait for the script to end (a refused start)."""
        self.start()
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def wait_healthy(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                self.test.fail(f"entrypoint exited {self.proc.returncode}:\n"
                               f"{self.log()}")
            if self.db.exists():
                r = self.admin("health", "--address",
                               f"127.0.0.1:{self.port}", check=False)
                if r.returncode == 0:
                    return r.stdout
                last = r.stderr
            time.sleep(0.3)
        self.test.fail(f"not healthy after {timeout} s ({last}):\n"
                       f"{self.log()}")
        return ""

    def stop(self, pid: int | None = None, timeout: float = 60) -> int:
        """SIGTERM (to pid, or the entrypoint's process) and wait."""
        assert self.proc is not None
        os.kill(pid if pid is not None else self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.test.fail(f"no exit {timeout} s after SIGTERM:\n{self.log()}")
            return -1

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=30)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def check_sanitizers(self) -> None:
        m = SANITIZER_RE.search(self.log())
        if m:
            self.test.fail(f"sanitizer report in the log:\n{self.log()}")

    # -- looking at the result --------------------------------------------

    def admin(self, *args: str, check: bool = True, json_out: bool = False,
              stdin: str | None = None):
        argv = [ADMIN, "--db", str(self.db)]
        if json_out:
            argv.append("--json")
        r = subprocess.run([*argv, *args], capture_output=True, text=True,
                           input=stdin, timeout=60, env=self.env)
        if check and r.returncode != 0:
            self.test.fail(f"sshgate-admin {' '.join(args)}: exit "
                           f"{r.returncode}: {r.stderr}")
        if json_out and r.returncode == 0:
            return json.loads(r.stdout)
        return r

    def host_fingerprints(self) -> list[str]:
        keys = self.admin("keys", "show", json_out=True)
        return [k["fingerprint"] for k in keys["host_keys"]]

    def events(self, kind: str) -> int:
        rows = self.admin("audit", "list", "--kind", kind, json_out=True)
        return len(rows)


class EntrypointTest(unittest.TestCase):
    def setUp(self) -> None:
        if not SSHGATED or not ADMIN:
            self.fail("SSHGATED and SSHGATE_ADMIN must name the binaries")
        self.root = Path(tempfile.mkdtemp(prefix="sshgate-entrypoint-"))
        self.containers: list[Container] = []

    def tearDown(self) -> None:
        for c in self.containers:
            c.kill()
        if KEEP:
            print(f"kept {self.root}", file=sys.stderr)
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def container(self, **env: str) -> Container:
        c = Container(self, self.root, **env)
        self.containers.append(c)
        return c

    def keypair(self, name: str) -> tuple[Path, str]:
        path = self.root / name
        subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C",
                        name, "-f", str(path)], check=True, timeout=30)
        return path, Path(f"{path}.pub").read_text().strip()

    def assert_refused(self, c: Container, *needles: str) -> str:
        """Exit 1 before sshgated ran, with one line per problem."""
        rc = c.run_to_end()
        log = c.log()
        self.assertEqual(rc, 1, log)
        for needle in needles:
            self.assertIn(needle, log)
        self.assertNotIn("sshgated[info] listening", log)
        self.assertFalse(port_open(c.port), "something listens")
        c.check_sanitizers()
        return log

    # -- first and second start -------------------------------------------

    def test_first_and_second_start(self) -> None:
        key_path, key_line = self.keypair("alice")
        pub_file = self.root / "public" / "backend_key.pub"
        pub_file.parent.mkdir()
        c = self.container(SSHGATE_ADMIN_USER="alice",
                           SSHGATE_ADMIN_KEY=key_line,
                           SSHGATE_BACKEND_PUBKEY_FILE=str(pub_file))

        # First start: database, keys, bootstrap admin, private modes.
        c.start()
        health = c.wait_healthy()
        self.assertRegex(
            health, rf"^healthy: 127\.0\.0\.1:{c.port} answers SSH with host "
            r"key SHA256:[A-Za-z0-9+/]{43}\n$")
        log = c.log()
        self.assertIn(f"first start: creating {c.db}", log)
        self.assertIn("created admin user 'alice'", log)
        self.assertEqual(mode(c.data), 0o700)
        self.assertEqual(mode(c.db), 0o600)
        self.assertEqual(mode(c.gen), 0o600)
        fps = c.host_fingerprints()
        self.assertEqual(len(fps), 3)
        self.assertIn(health.split()[-1], fps)
        keys = c.admin("keys", "show", json_out=True)
        self.assertEqual(len(keys["backend_keys"]), 1)
        alice = c.admin("user", "show", "alice", json_out=True)
        self.assertEqual(alice["role"], "admin")
        self.assertEqual(len(alice["keys"]), 1)
        # The backend key is exported, public, for the backends.
        self.assertEqual(pub_file.read_text().strip(),
                         keys["backend_keys"][0]["public_key"])
        self.assertEqual(mode(pub_file), 0o644)
        # The bootstrap admin can log in through the gateway.
        r = subprocess.run(
            [SSH, "-p", str(c.port), "-i", str(key_path), "-F", "/dev/null",
             "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
             "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=/dev/null",
             "-o", "LogLevel=ERROR", "alice@127.0.0.1", "hosts"],
            capture_output=True, text=True, timeout=60,
            stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, r.stderr)
        # SIGTERM: sshgated (exec'd by the script) stops and exits 0.
        self.assertEqual(c.stop(), 0, c.log())
        self.assertIn("received SIGTERM: shutting down", c.log())
        c.check_sanitizers()

        # Second start: nothing re-created, nothing duplicated, modes fixed.
        os.chmod(c.db, 0o644)
        c.start()
        c.wait_healthy()
        log = c.log()
        self.assertNotIn("first start", log)
        self.assertIn(f"already initialized: {c.db}", log)
        self.assertIn("admin user 'alice' exists already", log)
        self.assertEqual(c.host_fingerprints(), fps)
        users = c.admin("user", "list", json_out=True)
        self.assertEqual([u["name"] for u in users], ["alice"])
        self.assertEqual(c.events("admin.init"), 1)
        self.assertEqual(c.events("admin.user.add"), 1)
        self.assertEqual(mode(c.db), 0o600)
        self.assertEqual(c.stop(), 0, c.log())
        c.check_sanitizers()

    # -- configuration ----------------------------------------------------

    def test_env_overrides_and_config_file(self) -> None:
        base = self.root / "sshgated.conf"
        base.write_text("# mounted configuration\n"
                        "log_level = info\n"
                        "max_auth_attempts=6\n"
                        "shutdown_grace = 5\n"
                        "allowed_clients = 127.0.0.0/8\n")
        _, key_line = self.keypair("alice")
        c = self.container(SSHGATE_CONFIG=str(base),
                           SSHGATE_LOG_LEVEL="debug",
                           SSHGATE_MAX_AUTH_ATTEMPTS="3",
                           SSHGATE_BLOCKED_CLIENTS="",
                           SSHGATE_FOO="bar",
                           SSHGATE_ADMIN_USER="alice",
                           SSHGATE_ADMIN_KEY=key_line)
        c.start()
        c.wait_healthy()
        gen = c.gen.read_text()
        lines = gen.splitlines()
        # The file's lines keep their numbers; replaced ones are comments.
        self.assertEqual(lines[0], "# mounted configuration")
        self.assertEqual(lines[1], "# replaced by an SSHGATE_ variable: "
                         "log_level = info")
        self.assertEqual(lines[2], "# replaced by an SSHGATE_ variable: "
                         "max_auth_attempts=6")
        self.assertEqual(lines[3], "shutdown_grace = 5")
        self.assertEqual(lines[4], "allowed_clients = 127.0.0.0/8")
        self.assertIn("log_level = debug", lines)
        self.assertIn("max_auth_attempts = 3", lines)
        self.assertIn(f"listen = 127.0.0.1:{c.port}", lines)
        self.assertIn(f"db = {c.db}", lines)
        self.assertIn("blocked_clients = ", lines)
        r = subprocess.run([SSHGATED, "-f", str(c.gen), "--check-config"],
                           capture_output=True, text=True, timeout=60,
                           env=c.env)
        self.assertEqual((r.returncode, r.stdout), (0, "config ok\n"),
                         r.stderr)
        log = c.log()
        self.assertIn("warning: ignoring SSHGATE_FOO", log)
        # log_level = debug took effect: libssh's protocol messages.
        self.assertIn("[debug]", log)
        # max_auth_attempts = 3 took effect: the 3rd unknown key ends it.
        others = [self.keypair(f"other{i}")[0] for i in range(4)]
        argv = [SSH, "-p", str(c.port), "-F", "/dev/null",
                "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null",
                "-o", "PreferredAuthentications=publickey"]
        for k in others:
            argv += ["-i", str(k)]
        r = subprocess.run([*argv, "alice@127.0.0.1", "hosts"],
                           capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Too many authentication failures", r.stderr)
        self.assertEqual(c.stop(), 0, c.log())
        c.check_sanitizers()

    def test_bad_values_refused(self) -> None:
        cases = [
            ({"SSHGATE_MAX_CONNECTIONS": "abc"},
             ["SSHGATE_MAX_CONNECTIONS: max_connections: 'abc' is not a whole "
              "number"]),
            ({"SSHGATE_LISTEN": "nonsense"},
             ["SSHGATE_LISTEN: listen: 'nonsense' is not ADDRESS:PORT"]),
            ({"SSHGATE_LOG_LEVEL": "loud", "SSHGATE_BACKLOG": "0"},
             ["SSHGATE_LOG_LEVEL: log_level:", "SSHGATE_BACKLOG: backlog:"]),
            ({"SSHGATE_BANNER": "/etc/motd\nmax_connections = 1"},
             ["SSHGATE_BANNER must be a single line"]),
            ({"SSHGATE_CONFIG": str(self.root / "missing.conf")},
             ["SSHGATE_CONFIG: cannot read"]),
        ]
        for env, needles in cases:
            with self.subTest(env=env):
                c = self.container(**env)
                log = self.assert_refused(c, *needles)
                if "SSHGATE_BANNER" not in env and "SSHGATE_CONFIG" not in env:
                    self.assertIn("configuration refused; sshgated not "
                                  "started", log)
        # A mounted file's problem names the file and its line.
        base = self.root / "bad.conf"
        base.write_text("# ok\nmax_connections = 10\nbogus = 1\n")
        c = self.container(SSHGATE_CONFIG=str(base))
        self.assert_refused(c, f"{base}:3: unknown key 'bogus'")

    def test_bad_bootstrap_refused(self) -> None:
        _, key_line = self.keypair("alice")
        private = (self.root / "alice").read_text()
        cases = [
            ({"SSHGATE_ADMIN_USER": "alice",
              "SSHGATE_ADMIN_KEY": "ssh-dss AAAAB3NzaC1kc3MAAACBAP alice"},
             "SSHGATE_ADMIN_KEY: line 1: unsupported key type 'ssh-dss'"),
            ({"SSHGATE_ADMIN_USER": "alice", "SSHGATE_ADMIN_KEY": private},
             "SSHGATE_ADMIN_KEY: line 1: this is a private key"),
            ({"SSHGATE_ADMIN_USER": "al ice", "SSHGATE_ADMIN_KEY": key_line},
             "SSHGATE_ADMIN_USER: user name must not contain whitespace"),
            ({"SSHGATE_ADMIN_USER": "alice"},
             "SSHGATE_ADMIN_USER and SSHGATE_ADMIN_KEY go together"),
            ({"SSHGATE_ADMIN_KEY": key_line},
             "SSHGATE_ADMIN_USER and SSHGATE_ADMIN_KEY go together"),
        ]
        for env, needle in cases:
            with self.subTest(env=env):
                c = self.container(**env)
                self.assert_refused(c, needle)
                self.assertNotIn("BEGIN OPENSSH PRIVATE KEY", c.log())
                self.assertEqual(c.admin("user", "list", json_out=True), [])

    def test_data_dir_refused(self) -> None:
        """A data directory the container's user cannot create, or one it
        can write but does not own (a bind mount of the wrong owner)."""
        shared = Path(tempfile.mkdtemp(prefix="d-", dir=self.root))
        os.chmod(self.root, 0o755)
        os.chmod(shared, 0o755)
        locked = shared / "locked"
        locked.mkdir(mode=0o555)
        cases = [(locked / "data", "cannot create the data directory")]
        prefix: tuple[str, ...] = ()
        if os.geteuid() == 0:
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                self.skipTest("root, and no setpriv to run as another user")
            prefix = (setpriv, "--reuid=65534", "--regid=65534",
                      "--clear-groups")
            foreign = shared / "foreign"
            foreign.mkdir()
            os.chmod(foreign, 0o777)
            cases.append((foreign, "must be owned and writable by uid 65534"))
        for data, needle in cases:
            with self.subTest(data=str(data)):
                c = self.container(SSHGATE_DATA_DIR=str(data))
                c.start(prefix=prefix)
                assert c.proc is not None
                self.assertEqual(c.proc.wait(timeout=60), 1, c.log())
                self.assertIn(needle, c.log())
                self.assertEqual(len(c.log().splitlines()), 1, c.log())
                self.assertFalse((data / "sshgate.db").exists())

    def test_any_uid_without_home(self) -> None:
        """As under `docker run --user 12345` (or OpenShift): a uid with no
        passwd entry and no HOME runs the entrypoint, the daemon and the
        health check."""
        setpriv = shutil.which("setpriv")
        if os.geteuid() != 0 or setpriv is None:
            self.skipTest("needs root and setpriv to switch to another uid")
        as_uid = (setpriv, "--reuid=12345", "--regid=12345", "--clear-groups")
        r = subprocess.run([*as_uid, "test", "-x", SSHGATED], timeout=30)
        if r.returncode != 0:
            self.skipTest("the build tree is not reachable by another uid")
        os.chmod(self.root, 0o755)
        c = self.container()
        os.chmod(c.root, 0o755)
        c.data.mkdir()
        os.chown(c.data, 12345, 12345)
        del c.env["HOME"]
        c.start(prefix=as_uid)
        c.wait_healthy()
        r = subprocess.run(
            [*as_uid, ADMIN, "--db", str(c.db), "health", "--address",
             f"127.0.0.1:{c.port}"], capture_output=True, text=True,
            timeout=60, env={"PATH": c.env["PATH"],
                             "ASAN_OPTIONS": c.env["ASAN_OPTIONS"]})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(c.db.stat().st_uid, 12345)
        self.assertEqual(c.stop(), 0, c.log())
        c.check_sanitizers()

    def test_other_commands_run_as_given(self) -> None:
        c = self.container()
        c.start("sh", "-c", "echo hello from $0")
        assert c.proc is not None
        self.assertEqual(c.proc.wait(timeout=30), 0)
        self.assertEqual(c.log(), "hello from sh\n")
        self.assertFalse(c.data.exists())

    # -- PID 1 ------------------------------------------------------------

    def test_pid1_drains_on_sigterm(self) -> None:
        """As in a container: sshgated is PID 1 of its PID namespace, gets
        SIGTERM from outside, lets an open connection run on for
        shutdown_grace, then closes it and exits 0."""
        if not unshare_works():
            self.skipTest("cannot create a PID namespace here")
        c = self.container(SSHGATE_SHUTDOWN_GRACE="2")
        c.start(prefix=(UNSHARE, "--pid", "--fork", "--kill-child",
                        "--mount-proc"))
        c.wait_healthy()
        assert c.proc is not None
        children = Path(f"/proc/{c.proc.pid}/task/{c.proc.pid}/children")
        pid1 = int(children.read_text().split()[0])
        status = Path(f"/proc/{pid1}/status").read_text()
        self.assertRegex(status, r"(?m)^NSpid:\s+\d+\s+1$")
        self.assertEqual(Path(f"/proc/{pid1}/comm").read_text().strip(),
                         "sshgated")
        with socket.create_connection(("127.0.0.1", c.port), timeout=10) as s:
            s.sendall(b"SSH-2.0-OpenSSH_9.2 test\r\n")
            time.sleep(0.5)
            t0 = time.monotonic()
            rc = c.stop(pid=pid1)
            took = time.monotonic() - t0
        log = c.log()
        self.assertEqual(rc, 0, log)
        self.assertIn("waiting up to 2 s for 1 connection to end", log)
        self.assertIn("closing 1 connection: gateway shutting down", log)
        self.assertGreaterEqual(took, 1.5)
        c.check_sanitizers()


class KeyListTest(unittest.TestCase):
    def test_every_setting_has_a_variable(self) -> None:
        """Each documented setting can be set as SSHGATE_<KEY>, and the
        script knows no setting the docs do not."""
        self.assertEqual(
            entrypoint_keys(), doc_keys(),
            "docker/entrypoint.sh's KEYS must list docs/configuration.md's "
            "settings, in the same order")


if __name__ == "__main__":
    unittest.main(verbosity=2)
