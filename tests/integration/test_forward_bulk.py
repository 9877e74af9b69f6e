#!/usr/bin/env python3
"""Data through terminated sessions: exact payloads of 0 to 200000 bytes
both ways, a 1 GiB stream each way (sha256 compared, MB/s printed;
SSHGATE_IT_BIG=0: 256 MiB; SSHGATE_IT_QUICK=1: 32 MiB), key re-exchanges in mid-transfer started by
each party, 20 concurrent sessions, and ControlMaster multiplexing: exit
statuses, and a quick channel staying responsive while another one
streams."""

import hashlib
import os
import random
import shlex
import sys
import threading
import time

import harness as h

SIZES = (0, 1, 2, 100, 5000, 200000)


def big_size() -> int:
    """1 GiB; SSHGATE_IT_BIG=0 makes it 256 MiB (slow machines), and
    SSHGATE_IT_QUICK=1 (scripts/test --quick) 32 MiB. An ASan gateway moves
    1 GiB in well under a minute on 2 cores."""
    if os.environ.get("SSHGATE_IT_QUICK", "") not in ("", "0"):
        return 32 << 20
    if os.environ.get("SSHGATE_IT_BIG", "") == "0":
        return 256 << 20
    return 1 << 30


# fail only when absurdly slow (this is a test, not a benchmark)
MIN_MB_PER_S = 2.0


def report(what: str, size: int, seconds: float, direct: float | None = None) -> float:
    mbps = size / 1e6 / max(seconds, 1e-6)
    line = f"[bulk] {what}: {size >> 20} MiB in {seconds:.1f} s = {mbps:.1f} MB/s"
    if direct:
        line += (f" (OpenSSH directly: {size / 1e6 / direct:.1f} MB/s, "
                 f"gateway/direct time ratio {seconds / direct:.2f})")
    sys.stderr.write(line + "\n")
    return mbps


class Payloads(h.ForwardTestCase):
    def test_exact_payloads_both_ways(self):
        remote = self.dir / "remote"  # the backend is this machine
        remote.mkdir()
        for size in SIZES:
            data = random.Random(size).randbytes(size)
            with self.subTest(size=size, direction="up"):
                r = self.tssh(f"cat > {remote}/up-{size}", input=data)
                self.assertRc(r, 0)
                self.assertEqual((remote / f"up-{size}").read_bytes(), data)
            with self.subTest(size=size, direction="down"):
                (remote / f"down-{size}").write_bytes(data)
                r = self.tssh(f"cat {remote}/down-{size}", input=b"")
                self.assertRc(r, 0)
                self.assertEqual(r.out_bytes, data)
        for size in (0, 200000):
            with self.subTest(size=size, direction="both"):
                data = random.Random(-size).randbytes(size)
                r = self.tssh("cat", input=data)
                self.assertRc(r, 0)
                self.assertEqual(r.out_bytes, data)


class BigStream(h.ForwardTestCase):
    def setUp(self):
        super().setUp()
        self.size = big_size()
        self.sha = h.stream_sha256(self.size)
        self.timeout = self.size / (MIN_MB_PER_S * 1e6) + 60

    def pipeline(self, script):
        return h.run(["bash", "-c", "set -o pipefail; " + script], timeout=self.timeout)

    def test_upload(self):
        gen = h.stream_cmd(self.size)
        argv = shlex.join(self.tssh_argv("sha256sum"))
        r = self.pipeline(f"{gen} | {argv}")
        self.assertRc(r, 0)
        self.assertEqual(r.out.split()[0], self.sha, "the upload arrived corrupted")
        direct = self.pipeline(f"{gen} | " + shlex.join(h.ssh_argv(
            self.be.port, self.login, "sha256sum", [self.direct_key()])))
        mbps = report("upload through the gateway", self.size, r.elapsed,
                      direct.elapsed if direct.rc == 0 else None)
        self.assertGreater(mbps, MIN_MB_PER_S / h.SLOW)
        close = self.wait_event("session.end", user="alice", exit_status="0")
        self.assertGreaterEqual(int(close["fields"].get("bytes_up", -1)), self.size)

    def test_download(self):
        gen = h.stream_cmd(self.size)
        r = self.pipeline(shlex.join(self.tssh_argv(gen)) + " | sha256sum")
        self.assertRc(r, 0)
        self.assertEqual(r.out.split()[0], self.sha, "the download arrived corrupted")
        direct = self.pipeline(shlex.join(h.ssh_argv(
            self.be.port, self.login, gen, [self.direct_key()])) + " | sha256sum")
        mbps = report("download through the gateway", self.size, r.elapsed,
                      direct.elapsed if direct.rc == 0 else None)
        self.assertGreater(mbps, MIN_MB_PER_S / h.SLOW)
        close = self.wait_event("session.end", user="alice", exit_status="0")
        self.assertGreaterEqual(int(close["fields"].get("bytes_down", -1)), self.size)


class RekeyByGateway(h.ForwardTestCase):
    """Key re-exchanges in the middle of a transfer: 64 MiB each way over a
    16 MiB limit, here started by the gateway on the client connection
    (rekey_limit); the two subclasses have the client (RekeyLimit) and the
    backend sshd (RekeyLimit) start them instead."""
    SIZE = 64 << 20
    gateway_options = {"rekey_limit": "16M"}
    client_options: tuple = ()

    def test_64MiB_each_way(self):
        gen = h.stream_cmd(self.SIZE, "rekey")
        sha = h.stream_sha256(self.SIZE, "rekey")
        opts = list(self.client_options)
        up = h.run(["bash", "-c", f"set -o pipefail; {gen} | " +
                    shlex.join(self.tssh_argv("sha256sum", options=opts))], timeout=300)
        self.assertRc(up, 0, "upload")
        self.assertEqual(up.out.split()[0], sha, "the upload arrived corrupted")
        down = h.run(["bash", "-c", "set -o pipefail; " +
                      shlex.join(self.tssh_argv(gen, options=opts)) + " | sha256sum"],
                     timeout=300)
        self.assertRc(down, 0, "download")
        self.assertEqual(down.out.split()[0], sha, "the download arrived corrupted")


class RekeyByClient(RekeyByGateway):
    gateway_options = {}
    client_options = ("RekeyLimit=16M",)


class RekeyByBackend(RekeyByGateway):
    gateway_options = {}
    backend_config = ("AcceptEnv TERM FOO", "RekeyLimit 16M")


class Concurrency(h.ForwardTestCase):
    N = 20
    # all 20 are unauthenticated at once at first (the default is 10)
    gateway_options = {"max_unauth_per_source": 40}

    def test_20_concurrent_sessions(self):
        results = [None] * self.N
        datas = [random.Random(100 + i).randbytes(65536 + i) for i in range(self.N)]

        def one(i):
            try:
                results[i] = self.tssh(f"echo start-{i}; sha256sum; sleep 1; echo end-{i}",
                                       input=datas[i], timeout=120)
            except Exception as e:  # noqa: BLE001 - reported below
                results[i] = e
        threads = [threading.Thread(target=one, args=(i,)) for i in range(self.N)]
        start = time.monotonic()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.monotonic() - start
        for i, r in enumerate(results):
            with self.subTest(session=i):
                self.assertIsInstance(r, h.Result, f"session {i} raised {r!r}")
                self.assertRc(r, 0)
                want = f"start-{i}\n{hashlib.sha256(datas[i]).hexdigest()}  -\nend-{i}\n"
                self.assertEqual(r.out, want, f"\n{r}")
        sys.stderr.write(f"[bulk] {self.N} concurrent sessions in {elapsed:.1f} s\n")
        self.settle_events()
        self.assertGreaterEqual(len(self.find_events("session.start", "alice", kind="exec")),
                                self.N)
        r = self.tssh("echo after")
        self.assertRc(r, 0)


class Multiplexing(h.ForwardTestCase):
    QUICK = int(os.environ.get("SSHGATE_IT_MUX_QUICK", "8"))

    def master(self, name="cm"):
        """A ControlMaster through the gateway; returns the options of a
        client using it."""
        path = self.dir / f"{name}.sock"
        master = self.background(self.tssh_argv(None, extra_args=["-N"], control=[
            "ControlMaster=yes", f"ControlPath={path}", "ControlPersist=no"]), name)
        check = lambda: h.run([h.SSH, "-F", "/dev/null", "-o", f"ControlPath={path}",
                               "-O", "check", "alice+web1@127.0.0.1"], timeout=10).rc == 0
        self.assertTrue(h.wait_for(lambda: path.exists() and check(), 20),
                        f"the master did not come up:\n{master.err()}")
        return master, path, ["ControlMaster=no", f"ControlPath={path}"]

    def test_controlmaster_exit_status(self):
        # The master's session channels close as soon as they got EOF both
        # ways: the exit status that follows the backend's EOF must still
        # reach them (as it does against the sshd directly)
        _, _, mux = self.master()
        for i in range(6):
            r = self.tssh(f"echo q{i}; exit {i + 1}", control=mux)
            self.assertRc(r, i + 1)
            self.assertEqual(r.out, f"q{i}\n")
        r = self.tssh("echo x; exec >&- 2>&-; sleep 1; exit 3", control=mux)
        self.assertRc(r, 3)
        self.assertEqual(r.out, "x\n")

    def test_controlmaster_quick_channel_while_streaming(self):
        master, path, mux = self.master()
        # one channel streams as fast as it can ...
        stream = self.background(self.tssh_argv("cat /dev/zero", control=mux), "stream",
                                 stdout=h.subprocess.PIPE)
        counted = [0]

        def count():
            while True:
                chunk = stream.stdout.read1(1 << 16)
                if not chunk:
                    return
                counted[0] += len(chunk)
        threading.Thread(target=count, daemon=True).start()
        self.assertTrue(h.wait_for(lambda: counted[0] > 8 << 20, 30),
                        f"the stream did not start:\n{stream.err()}")
        # ... while quick channels on the same connection stay responsive
        latencies = []
        for i in range(self.QUICK):
            before = counted[0]
            r = self.tssh(f"echo quick-{i}", control=mux, timeout=30)
            self.assertRc(r, 0)
            self.assertEqual(r.out, f"quick-{i}\n")
            latencies.append(r.elapsed)
            self.assertGreater(counted[0], before, "the stream stalled")
        sys.stderr.write(f"[bulk] quick channel latencies while streaming: "
                         f"{', '.join(f'{x:.2f}' for x in latencies)} s "
                         f"({counted[0] >> 20} MiB streamed)\n")
        self.assertIsNone(stream.poll(), "the stream ended early")
        self.assertLess(max(latencies), h.t(3), "a quick channel was starved")
        # both went over the one master connection
        self.assertEqual(len(self.find_events("auth.success", "alice")), 1)
        h.kill_process(stream)
        r = h.run([h.SSH, "-F", "/dev/null", "-o", f"ControlPath={path}", "-O", "exit", "alice+web1@127.0.0.1"],
                  timeout=10)
        self.assertRc(r, 0)
        self.assertIsNotNone(h.wait_for(lambda: master.poll() is not None, 10))


if __name__ == "__main__":
    h.main()
