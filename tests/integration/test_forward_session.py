#!/usr/bin/env python3
"""Terminated sessions (`alice+web1`): the gateway logs in to a real OpenSSH
sshd and mirrors exec (stdin/stdout/stderr kept apart, exit codes, EOF,
exit-signal), pty shells (TERM, size, window-change), the env allow-list,
the backend login chosen from the grant, scp (sftp and legacy protocol),
sftp, rsync, and the session.start / session.end events."""

import os
import random
import re

import harness as h


class Exec(h.ForwardTestCase):
    def test_stdout_stderr_and_exit_codes(self):
        r = self.tssh("echo out; echo err >&2; exit 1")
        self.assertRc(r, 1)
        self.assertEqual(r.out, "out\n", f"\n{r}")
        self.assertEqual(h.client_stderr(r.err), "err\n", f"\n{r}")
        r = self.tssh("echo fine")
        self.assertRc(r, 0)
        self.assertEqual((r.out, h.client_stderr(r.err)), ("fine\n", ""), f"\n{r}")
        r = self.tssh("printf seven; exit 7")
        self.assertRc(r, 7)
        self.assertEqual(r.out, "seven", f"\n{r}")

    def test_large_stdout_and_stderr_kept_apart(self):
        r = self.tssh("head -c 300000 /dev/zero | tr '\\0' o; "
                      "head -c 120000 /dev/zero | tr '\\0' e >&2; exit 0")
        self.assertRc(r, 0)
        self.assertEqual(len(r.out), 300000, f"stdout length {len(r.out)}")
        self.assertEqual(set(r.out), {"o"}, "stderr bytes leaked into stdout")
        err = h.client_stderr(r.err)
        self.assertEqual(len(err), 120000, f"stderr length {len(err)}")
        self.assertEqual(set(err), {"e"}, "stdout bytes leaked into stderr")

    def test_stdin_and_eof(self):
        # `cat` only ends when the client's EOF reaches the backend
        data = bytes(random.Random(1).randbytes(70000))
        r = self.tssh("cat; echo; echo after-eof", input=data, timeout=60)
        self.assertRc(r, 0)
        self.assertFalse(r.timed_out, "EOF was not propagated to the backend")
        self.assertEqual(r.out_bytes, data + b"\nafter-eof\n")
        # stdin closed at once: the command still runs and sees EOF
        r = self.tssh("wc -c", input=b"")
        self.assertRc(r, 0)
        self.assertEqual(r.out.strip(), "0")

    def test_backend_runs_as_granted_login(self):
        r = self.tssh("id -un; echo $SSH_CONNECTION | cut -d' ' -f3,4")
        self.assertRc(r, 0)
        lines = r.out.splitlines()
        self.assertEqual(lines[0], self.login, f"\n{r}")
        # the backend saw a connection to its own port (from the gateway)
        self.assertEqual(lines[1], f"127.0.0.1 {self.be.port}", f"\n{r}")

    def test_exit_signal_like_openssh(self):
        # what ssh does directly against the sshd ...
        direct = self.be.ssh("kill -TERM $$", keys=[self.direct_key()], extra_args=["-v"])
        self.assertRc(direct, 255)
        self.assertIn("rtype exit-signal", direct.err)
        # ... it must do through the gateway: exit 255 after an exit-signal
        r = self.tssh("kill -TERM $$", extra_args=["-v"])
        self.assertRc(r, 255)
        self.assertRegex(r.err, r"client_input_channel_req: channel \d+ rtype exit-signal",
                         "the backend's exit-signal was not passed on")
        self.assertNotRegex(r.err, r"rtype exit-status", f"\n{r}")
        # and a signal after output: the output arrives first
        r = self.tssh("echo before; kill -KILL $$")
        self.assertRc(r, 255)
        self.assertEqual(r.out, "before\n", f"\n{r}")

    def test_quoted_command_passed_verbatim(self):
        cmd = "printf '%s|' \"a  b\" 'c\"d' \\$HOME; echo"
        direct = self.be.ssh(cmd, keys=[self.direct_key()])
        r = self.tssh(cmd)
        self.assertRc(r, 0)
        self.assertEqual(r.out, direct.out)
        self.assertEqual(r.out, 'a  b|c"d|$HOME|\n')
        # recorded as sent, '"' and '\\' escaped
        ev = self.wait_event("session.start", user="alice", kind="exec")
        self.assertEqual(ev["fields"]["command"], cmd.replace("\\", "\\\\").replace('"', '\\"'))

    def test_exec_events(self):
        up = random.Random(2).randbytes(4000)
        r = self.tssh("head -c 4000 > /dev/null; head -c 123456 /dev/zero; exit 3",
                      input=up)
        self.assertRc(r, 3)
        self.assertEqual(len(r.out_bytes), 123456)
        ev = self.wait_event("session.start", user="alice", kind="exec", host="web1",
                             login=self.login)
        self.assertIn("head -c 123456", ev["fields"].get("command", ""), ev["detail"])
        self.assertRegex(ev.get("client") or "", r"^127\.0\.0\.1:\d+$")
        close = self.wait_event("session.end", user="alice", exit_status="3")
        f = close["fields"]
        for k in ("bytes_up", "bytes_down"):
            self.assertRegex(f.get(k, ""), r"^\d+$", close["detail"])
        self.assertGreaterEqual(int(f["bytes_up"]), 4000, close["detail"])
        self.assertLessEqual(int(f["bytes_up"]), 4000 + 1024, close["detail"])
        self.assertGreaterEqual(int(f["bytes_down"]), 123456, close["detail"])
        self.assertLessEqual(int(f["bytes_down"]), 123456 + 4096, close["detail"])


class Logins(h.ForwardTestCase):
    def test_explicit_login_forms(self):
        r = self.tssh("id -un", user=f"alice+{self.login}@web1")
        self.assertRc(r, 0)
        self.assertEqual(r.out, f"{self.login}\n")
        # ssh 'alice+root@web1@127.0.0.1': ssh splits at the last '@'
        argv = [h.SSH, "-p", str(self.gw.port)] + h.ssh_options([self.alice_key])
        argv += [f"alice+{self.login}@web1@127.0.0.1", "id -un"]
        r = h.run(argv, env=h.ssh_env())
        self.assertRc(r, 0)
        self.assertEqual(r.out, f"{self.login}\n")

    def test_login_chosen_from_grants(self):
        # a second grant on web1: the host's default login still wins for
        # alice+web1, the other one needs alice+nobody@web1 and is really
        # used on the backend (nobody's shell is nologin). sshd reads
        # authorized_keys as the user: let nobody reach the file.
        self.dir.chmod(0o711)
        self.be.dir.chmod(0o755)
        self.admin.grant("alice", "web1", login="nobody")
        r = self.tssh("id -un")
        self.assertRc(r, 0)
        self.assertEqual(r.out, f"{self.login}\n")
        r = self.tssh("id -un", user="alice+nobody@web1")
        self.assertRc(r, 1)
        self.assertIn("This account is currently not available.", r.out + r.err)
        # a host without default login and a single grant: that grant's login
        self.admin.ok("host", "add", "web2", "--address", "127.0.0.1",
                      "--port", str(self.be.port))
        self.admin.grant("alice", "web2", login="nobody")
        r = self.tssh("id -un", user="alice+web2")
        self.assertRc(r, 1)
        self.assertIn("This account is currently not available.", r.out + r.err)
        self.admin.grant("alice", "web2", login=self.login)
        r = self.tssh("id -un", user=f"alice+{self.login}@web2")
        self.assertRc(r, 0)
        self.assertEqual(r.out, f"{self.login}\n")


class Terminal(h.ForwardTestCase):
    def pty_client(self, command=None, rows=33, cols=101, term="vt220"):
        argv = self.tssh_argv(command, extra_args=["-tt"])
        return self.closing(h.PtyClient(argv, rows, cols, env=h.ssh_env({"TERM": term})))

    def test_pty_exec_term_and_size(self):
        c = self.pty_client("echo T=$TERM; stty size; tty; exit 4")
        self.assertIsNotNone(c.read_until(r"T=vt220\s+33 101\s+/dev/pts/\d+"),
                             f"pty output: {c.text()!r}")
        self.assertEqual(c.wait(), 4, c.text())

    def test_interactive_shell(self):
        c = self.pty_client(None, rows=40, cols=120, term="xterm-256color")
        c.write("echo MARK$((6*7)) $TERM; stty size\n")
        self.assertIsNotNone(c.read_until(r"MARK42 xterm-256color\s+40 120"),
                             f"pty output: {c.text()!r}")
        c.write("exit 5\n")
        self.assertEqual(c.wait(), 5, c.text())
        self.wait_event("session.start", user="alice", kind="shell", host="web1")

    def test_window_change(self):
        c = self.pty_client('stty size; while [ "$(stty size)" = "33 101" ]; '
                            'do sleep 0.1; done; echo NEW $(stty size)')
        self.assertIsNotNone(c.read_until(r"33 101"), f"pty output: {c.text()!r}")
        c.resize(44, 132)
        self.assertIsNotNone(c.read_until(r"NEW 44 132", timeout=10),
                             f"window-change not passed on: {c.text()!r}")
        self.assertEqual(c.wait(), 0, c.text())

    def test_menu_connects_to_chosen_host(self):
        # plain `alice` on a pty: the host menu; choosing web1 opens a shell there
        c = self.closing(h.PtyClient(self.tssh_argv(None, user="alice", extra_args=["-tt"]),
                                     30, 100, env=h.ssh_env({"TERM": "vt100"})))
        self.assertIsNotNone(c.read_until(r"Choose a host"), c.text())
        self.assertIn("web1", c.text())
        c.write("web1\r")
        # the backend shell's prompt (what is typed before it may be lost)
        self.assertIsNotNone(c.read_until(r"connecting to web1[^\n]*\n(.|\n)*[#$] *$"),
                             c.text())
        c.write("echo MENU$((40+2)) $TERM; exit 6\r")
        self.assertIsNotNone(c.read_until(r"MENU42 vt100"), c.text())
        self.assertEqual(c.wait(), 6, c.text())
        self.wait_event("session.start", user="alice", kind="shell", host="web1",
                        login=self.login)

    def test_menu_unreachable_host_then_another(self):
        dead = h.free_port()  # nothing listens there
        self.admin.ok("host", "add", "down1", "--address", "127.0.0.1",
                      "--port", str(dead), "--login", self.login)
        self.admin.grant("alice", "down1")
        c = self.closing(h.PtyClient(self.tssh_argv(None, user="alice", extra_args=["-tt"]),
                                     30, 100, env=h.ssh_env()))
        self.assertIsNotNone(c.read_until(r"Choose a host"), c.text())
        c.write("down1\r")
        self.assertIsNotNone(c.read_until(r"(?i)connection refused[^\n]*\n(.|\n)*Choose a host"),
                             c.text())
        c.write("web1\r")
        self.assertIsNotNone(c.read_until(r"connecting to web1[^\n]*\n(.|\n)*[#$] *$"),
                             c.text())
        c.write("exit 0\r")
        self.assertEqual(c.wait(), 0, c.text())
        self.wait_event("backend.failure", user="alice", host="down1", reason="refused")

    def test_env_allow_list(self):
        env = {"LANG": "C.UTF-8", "LC_TIME": "POSIX", "FOO": "bar", "TERM": "xterm-test"}
        cmd = "printf '%s|%s|%s|%s\\n' \"$LANG\" \"$LC_TIME\" \"$FOO\" \"$TERM\""
        opts = ["SendEnv=LANG LC_* FOO TERM"]
        # the backend accepts all four when asked directly ...
        direct = self.be.ssh(cmd, keys=[self.direct_key()], options=opts, env=env)
        self.assertEqual(direct.out, "C.UTF-8|POSIX|bar|xterm-test\n", f"\n{direct}")
        # ... through the gateway FOO is not on the allow-list
        r = self.tssh(cmd, options=opts, env=env)
        self.assertRc(r, 0)
        self.assertEqual(r.out, "C.UTF-8|POSIX||xterm-test\n", f"\n{r}")


class Files(h.ForwardTestCase):
    def setUp(self):
        super().setUp()
        self.remote = self.dir / "remote"  # the backend is this machine
        self.remote.mkdir()
        self.local = self.dir / "local"
        self.local.mkdir()

    def data(self, name, size, seed):
        path = self.local / name
        path.write_bytes(random.Random(seed).randbytes(size))
        return path

    def test_scp_sftp_protocol_both_ways(self):
        src = self.data("up.bin", 300000, 3)
        r = h.scp(self.gw.port, [self.alice_key],
                  [str(src), f"alice+web1@127.0.0.1:{self.remote}/up.bin"])
        self.assertRc(r, 0)
        self.assertEqual((self.remote / "up.bin").read_bytes(), src.read_bytes())
        (self.remote / "down.bin").write_bytes(random.Random(4).randbytes(250001))
        r = h.scp(self.gw.port, [self.alice_key],
                  [f"alice+web1@127.0.0.1:{self.remote}/down.bin", str(self.local / "down.bin")])
        self.assertRc(r, 0)
        self.assertEqual((self.local / "down.bin").read_bytes(),
                         (self.remote / "down.bin").read_bytes())
        self.wait_event("session.start", user="alice", kind="sftp", host="web1")

    def test_scp_legacy_protocol_both_ways(self):
        src = self.data("up-O.bin", 180000, 5)
        r = h.scp(self.gw.port, [self.alice_key],
                  [str(src), f"alice+web1@127.0.0.1:{self.remote}/up-O.bin"], legacy=True)
        self.assertRc(r, 0)
        self.assertEqual((self.remote / "up-O.bin").read_bytes(), src.read_bytes())
        (self.remote / "down-O.bin").write_bytes(random.Random(6).randbytes(99999))
        r = h.scp(self.gw.port, [self.alice_key],
                  [f"alice+web1@127.0.0.1:{self.remote}/down-O.bin",
                   str(self.local / "down-O.bin")], legacy=True)
        self.assertRc(r, 0)
        self.assertEqual((self.local / "down-O.bin").read_bytes(),
                         (self.remote / "down-O.bin").read_bytes())
        self.wait_event("session.start", user="alice", kind="exec", command="~scp .*-t")
        self.wait_event("session.start", user="alice", kind="exec", command="~scp .*-f")
        # a missing remote file: scp's error comes back, exit 1
        r = h.scp(self.gw.port, [self.alice_key],
                  [f"alice+web1@127.0.0.1:{self.remote}/missing", str(self.local / "x")],
                  legacy=True)
        self.assertRc(r, 1)
        self.assertIn("No such file or directory", r.err)

    def test_sftp_put_ls_get(self):
        src = self.data("put.bin", 77777, 7)
        batch = (f"put {src} {self.remote}/put.bin\n"
                 f"ls -l {self.remote}\n"
                 f"get {self.remote}/put.bin {self.local}/got.bin\n"
                 f"rename {self.remote}/put.bin {self.remote}/renamed.bin\n"
                 f"ls {self.remote}\n")
        r = h.sftp_batch(self.gw.port, "alice+web1", [self.alice_key], batch, self.dir)
        self.assertRc(r, 0)
        self.assertRegex(r.out, r"77777 .*put\.bin")
        self.assertIn("renamed.bin", r.out)
        self.assertEqual((self.local / "got.bin").read_bytes(), src.read_bytes())
        self.assertEqual((self.remote / "renamed.bin").read_bytes(), src.read_bytes())
        # a failing command makes sftp -b exit 1
        r = h.sftp_batch(self.gw.port, "alice+web1", [self.alice_key],
                         f"get {self.remote}/nope {self.local}/nope\n", self.dir)
        self.assertRc(r, 1)
        self.assertRegex(r.err, r"not found|No such file")

    def test_rsync_both_ways(self):
        tree = self.local / "tree"
        (tree / "sub").mkdir(parents=True)
        for i, size in enumerate((0, 1, 4096, 200000)):
            (tree / f"f{i}").write_bytes(random.Random(10 + i).randbytes(size))
        (tree / "sub" / "deep.txt").write_text("deep\n")
        os.chmod(tree / "f1", 0o640)
        r = h.rsync_ssh(self.gw.port, "alice+web1", [self.alice_key],
                        ["-a", f"{tree}/", f"127.0.0.1:{self.remote}/tree/"])
        self.assertRc(r, 0)
        self.assert_same_tree(tree, self.remote / "tree")
        # a change on the backend comes back with a delta transfer
        big = self.remote / "tree" / "f3"
        data = bytearray(big.read_bytes())
        data[100:110] = b"0123456789"
        big.write_bytes(bytes(data))
        mtime = big.stat().st_mtime + 100  # same size: let the mtime differ
        os.utime(big, (mtime, mtime))
        r = h.rsync_ssh(self.gw.port, "alice+web1", [self.alice_key],
                        ["-a", "--stats", f"127.0.0.1:{self.remote}/tree/", f"{tree}/"])
        self.assertRc(r, 0)
        self.assert_same_tree(tree, self.remote / "tree")
        self.assertEqual((tree / "f3").read_bytes(), bytes(data))
        m = re.search(r"Literal data: ([\d,]+) bytes", r.out)
        self.assertIsNotNone(m, r.out)
        self.assertLess(int(m.group(1).replace(",", "")), 200000, "rsync did not use a delta")

    def assert_same_tree(self, a, b):
        files_a = sorted(p.relative_to(a) for p in a.rglob("*"))
        files_b = sorted(p.relative_to(b) for p in b.rglob("*"))
        self.assertEqual(files_a, files_b)
        for rel in files_a:
            pa, pb = a / rel, b / rel
            if pa.is_file():
                self.assertEqual(pa.read_bytes(), pb.read_bytes(), str(rel))
                self.assertEqual(pa.stat().st_mode & 0o777, pb.stat().st_mode & 0o777, str(rel))


if __name__ == "__main__":
    h.main()
