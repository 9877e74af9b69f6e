#!/usr/bin/env python3
"""Rate limits (docs/forwarding.md, "Rate limits"): a grant's, a user's and
the global `rate_limit` hold a stream to its rate within 5 %, measured at
the receiving end both ways (download: the client reads; upload: a reader
on the backend), over 30 s for the grant (SSHGATE_IT_QUICK=1: a smaller
rate over 5 s); a user's limit is shared by her connections and the
smallest limit that applies wins; and while one channel of a
ControlMaster connection is held to its limit in both directions, another
channel of the same connection answers a small exec in under 2 s; the
gateway does not buffer what a limit holds back (its memory stays put
while a much faster sender is limited); and a reloaded rate_limit reaches
a channel that is already open."""

import json
import os
import shlex
import sys
import threading
import time

import harness as h

QUICK = os.environ.get("SSHGATE_IT_QUICK", "") not in ("", "0")
TOLERANCE = 0.05
MIB = 1 << 20

# (rate in bytes/s as sshgated reads "10M", seconds of the measured stream)
GRANT = (4 * MIB, 6) if QUICK else (10 * MIB, 30)
USER = (2 * MIB, 6) if QUICK else (4 * MIB, 10)
GLOBAL = (3 * MIB, 6) if QUICK else (6 * MIB, 10)
SLOW_LANE = 1 * MIB  # the ControlMaster test's limited channel

# Reads stdin to its end; prints (time, bytes so far) every 50 ms and at
# the end as JSON. Run by the client (downloads) and on the backend, which
# is this machine, for uploads: time.monotonic() is the same clock.
RECEIVER = r"""
import json, os, sys, time
total, samples, last = 0, [], 0.0
while True:
    chunk = os.read(0, 1 << 16)
    now = time.monotonic()
    if not chunk:
        break
    total += len(chunk)
    if now - last >= 0.05:
        samples.append((now, total))
        last = now
samples.append((now, total))
sys.stdout.write(json.dumps(samples) + "\n")
"""


# Writes argv[1] bytes of zeros to stdout as fast as it is let; logs (time,
# bytes written so far) every 50 ms to the file argv[2]. With RECEIVER's
# samples this gives what is in flight between the two.
SENDER = r"""
import json, os, sys, time
size, log = int(sys.argv[1]), sys.argv[2]
buf, sent, samples, last = bytes(1 << 16), 0, [], 0.0
while sent < size:
    sent += os.write(1, buf[:min(len(buf), size - sent)])
    now = time.monotonic()
    if now - last >= 0.05:
        samples.append((now, sent))
        last = now
samples.append((time.monotonic(), sent))
with open(log, "w") as f:
    json.dump(samples, f)
"""

# In flight between sender and receiver are the buffers on the way: the
# windows, loopback socket buffers, and what libssh 0.10.6 lets a fast
# sender put into a slowly read channel (it reopens the window to 1.28 MB
# on each read: about 16 MiB measured, peaks near 32; docs/performance.md
# "Rate limits"). A gateway that read ahead of its limit would hold the
# sender's whole head start: in the full run about 250 MiB of the grant's
# 300 MiB stream (the quick run's streams are too short to tell).
IN_FLIGHT_MAX = 64 * MIB


def spec(rate: int) -> str:
    return f"{rate // MIB}M"


def burst(rate: int) -> int:
    """The burst a user's or grant's bucket gets (core/ratelimit.c)."""
    return max(rate // 4, 64 * 1024)


def skip_bytes(rate: int) -> int:
    """Where the measured stretch starts: past the burst and a second of
    the rate. A token bucket lets rate * T + burst through in any T
    seconds, and the burst is saved up for as long as the stream runs
    below the rate, which a starting stream (its windows still opening)
    does: counting it would measure the start, not the limit."""
    return burst(rate) + rate


def steady_rate(samples, skip: int, until: float | None = None) -> float:
    """Bytes/s between the first sample past skip bytes (the burst and the
    start are behind) and the last one (at or before until)."""
    s = [p for p in samples if until is None or p[0] <= until]
    start = next(p for p in s if p[1] >= skip)
    end = s[-1]
    return (end[1] - start[1]) / (end[0] - start[0])


def in_flight(sent, received) -> list:
    """What the sender had written beyond what the receiver had read, at
    the receiver's samples (the sender's count as last logged)."""
    out, i = [], 0
    for t, got in received:
        while i + 1 < len(sent) and sent[i + 1][0] <= t:
            i += 1
        if sent[i][0] <= t:
            out.append(sent[i][1] - got)
    return out


def merged(a, b):
    """Two receivers' samples as one: (time, bytes of both so far)."""
    events = sorted([(t, n, 0) for t, n in a] + [(t, n, 1) for t, n in b])
    last, out = [0, 0], []
    for t, n, i in events:
        last[i] = n
        out.append((t, last[0] + last[1]))
    return out


class RateTestCase(h.ForwardTestCase):
    def setUp(self):
        super().setUp()
        self.recv = self.dir / "recv.py"
        self.recv.write_text(RECEIVER)
        self.send = self.dir / "send.py"
        self.send.write_text(SENDER)
        os.chmod(self.dir, 0o755)  # the backend's login reads them
        self.logs = self.dir / "logs"
        self.logs.mkdir()
        os.chmod(self.logs, 0o777)  # ... and writes the sender's log
        self.nstreams = 0

    def stream(self, direction: str, size: int, user: str = "alice+web1",
               timeout: float = 120):
        """size bytes one way; the receiver's samples. self.sent: the
        sender's."""
        self.nstreams += 1
        log = self.logs / f"sent-{self.nstreams}.json"
        recv = shlex.join(["python3", str(self.recv)])
        send = shlex.join(["python3", str(self.send), str(size), str(log)])
        if direction == "down":
            script = shlex.join(self.tssh_argv(send, user=user)) + " | " + recv
        else:
            script = send + " | " + shlex.join(self.tssh_argv(recv, user=user))
        r = h.run(["bash", "-c", "set -o pipefail; " + script], timeout=timeout)
        self.assertRc(r, 0, f"{direction} stream")
        samples = json.loads(r.out.strip().splitlines()[-1])
        self.assertEqual(samples[-1][1], size, f"{direction}: bytes lost")
        self.sent = json.loads(log.read_text())
        return samples

    def check_rate(self, what: str, samples, rate: int, skip: int) -> float:
        got = steady_rate(samples, skip)
        total = samples[-1][1] / (samples[-1][0] - samples[0][0])
        sys.stderr.write(f"[rate] {what}: limit {rate / 1e6:.2f} MB/s, steady "
                         f"{got / 1e6:.3f} MB/s ({got / rate - 1:+.2%}) over "
                         f"{samples[-1][0] - samples[0][0]:.1f} s; with the burst "
                         f"{total / 1e6:.3f} MB/s\n")
        self.assertLess(abs(got / rate - 1), TOLERANCE,
                        f"{what}: {got:.0f} B/s against a limit of {rate} B/s")
        return got

    def limited_both_ways(self, what: str, rate: int, seconds: int):
        size = rate * seconds + burst(rate)
        skip = skip_bytes(rate)
        for direction in ("down", "up"):
            with self.subTest(direction=direction):
                samples = self.stream(direction, size, timeout=h.t(seconds * 3 + 60))
                self.check_rate(f"{what} {direction}", samples, rate, skip)
                # the sender, far faster than the limit, is held back: what
                # is in flight is the windows on the way, not the stream
                series = in_flight(self.sent, samples)
                ahead = max(series)
                quarters = [series[len(series) * k // 4] for k in (1, 2, 3)]
                sys.stderr.write(f"[rate] {what} {direction}: at most "
                                 f"{ahead / MIB:.1f} MiB in flight ({size / MIB:.0f} "
                                 f"MiB passed; at 1/4, 1/2, 3/4: "
                                 f"{', '.join(f'{q / MIB:.1f}' for q in quarters)})\n")
                self.assertLess(ahead, IN_FLIGHT_MAX, "the gateway read ahead of its limit")


class GrantLimit(RateTestCase):
    def test_grant_limit_both_ways(self):
        rate, seconds = GRANT
        r = self.admin.ok("grant", "set", "alice", "web1", "--rate-limit", spec(rate))
        self.assertIn(f"to {spec(rate)}/s", r.out)
        rows = self.admin.json("grant", "list", "alice")
        self.assertEqual(rows[0]["rate_limit"], rate)
        self.limited_both_ways("grant", rate, seconds)
        end = self.wait_event("session.end", user="alice")
        self.assertIsNotNone(end)


class UserLimit(RateTestCase):
    def test_user_limit_shared_and_smallest_wins(self):
        rate, seconds = USER
        # the grant allows twice as much: the user's limit is the smaller
        self.admin.ok("grant", "set", "alice", "web1", "--rate-limit", spec(2 * rate))
        r = self.admin.ok("user", "set", "alice", "--rate-limit", spec(rate))
        self.assertIn(f"to {spec(rate)}/s", r.out)
        self.assertEqual(self.admin.json("user", "show", "alice")["rate_limit"], rate)
        # two connections of hers at once share the one limit
        size = rate * seconds // 2 + burst(rate) + rate
        results = [None, None]

        def one(i):
            results[i] = self.stream("down", size, timeout=h.t(seconds * 3 + 60))
        threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertIsNotNone(results[0])
        self.assertIsNotNone(results[1])
        both = merged(results[0], results[1])
        until = min(results[0][-1][0], results[1][-1][0])  # both still running
        got = steady_rate(both, skip_bytes(rate), until)
        sys.stderr.write(f"[rate] user, two connections together: limit "
                         f"{rate / 1e6:.2f} MB/s, steady {got / 1e6:.3f} MB/s "
                         f"({got / rate - 1:+.2%})\n")
        self.assertLess(abs(got / rate - 1), TOLERANCE)
        samples = self.stream("up", rate * seconds + burst(rate),
                              timeout=h.t(seconds * 3 + 60))
        self.check_rate("user up", samples, rate, skip_bytes(rate))
        # "off" lifts it for new connections
        self.admin.ok("user", "set", "alice", "--rate-limit", "off")
        self.admin.ok("grant", "set", "alice", "web1", "--rate-limit", "0")
        fast = self.stream("down", rate * 3)
        got = fast[-1][1] / max(fast[-1][0] - fast[0][0], 1e-6)
        sys.stderr.write(f"[rate] lifted: {got / 1e6:.1f} MB/s\n")
        self.assertGreater(got, rate * 1.25, "the limit stayed after it was lifted")


class GlobalLimit(RateTestCase):
    gateway_options = {"rate_limit": spec(GLOBAL[0])}

    def test_global_limit_both_ways(self):
        rate, seconds = GLOBAL
        self.limited_both_ways("global", rate, seconds)


class GlobalReload(RateTestCase):
    def test_reload_reaches_an_open_channel(self):
        stream = self.background(self.tssh_argv("cat /dev/zero"), "stream",
                                 stdout=h.subprocess.PIPE)
        counted = [0]

        def count():
            while True:
                chunk = stream.stdout.read1(1 << 16)
                if not chunk:
                    return
                counted[0] += len(chunk)
        threading.Thread(target=count, daemon=True).start()
        self.assertTrue(h.wait_for(lambda: counted[0] > 4 * MIB, 30),
                        f"the stream did not start:\n{stream.err()}")

        def rate_over(seconds: float) -> float:
            before, t0 = counted[0], time.monotonic()
            time.sleep(seconds)
            return (counted[0] - before) / (time.monotonic() - t0)
        self.gw.reload(rate_limit="1M", rate_limit_burst="256K")
        time.sleep(1)  # the burst and what was on its way
        limited = rate_over(4)
        self.gw.reload(rate_limit="")
        lifted = rate_over(2)
        sys.stderr.write(f"[rate] reloaded onto an open channel: 1M -> "
                         f"{limited / 1e6:.2f} MB/s, lifted -> {lifted / 1e6:.1f} MB/s\n")
        self.assertLess(abs(limited / MIB - 1), 0.1)
        self.assertGreater(lifted, 2 * MIB)
        self.assertIsNone(stream.poll(), "the stream ended")
        h.kill_process(stream)


class LimitedChannelNextToOthers(RateTestCase):
    def test_other_channels_stay_responsive(self):
        self.admin.ok("grant", "set", "alice", "web1", "--rate-limit", spec(SLOW_LANE))
        path = self.dir / "cm.sock"
        master = self.background(self.tssh_argv(None, extra_args=["-N"], control=[
            "ControlMaster=yes", f"ControlPath={path}", "ControlPersist=no"]), "cm")
        mux = ["ControlMaster=no", f"ControlPath={path}"]
        check = lambda: h.run([h.SSH, "-F", "/dev/null", "-o", f"ControlPath={path}",
                               "-O", "check", "alice+web1@127.0.0.1"], timeout=10).rc == 0
        self.assertTrue(h.wait_for(lambda: path.exists() and check(), 20),
                        f"the master did not come up:\n{master.err()}")
        idle = []  # what a small exec costs here without any stream
        for i in range(3):
            r = self.tssh(f"echo idle-{i}", control=mux, timeout=30)
            self.assertRc(r, 0)
            idle.append(r.elapsed)
        # one channel held to its limit both ways at once ...
        zero = open("/dev/zero", "rb")
        self.closing(zero)
        stream = self.background(self.tssh_argv("cat", control=mux), "stream",
                                 stdin=zero, stdout=h.subprocess.PIPE)
        counted = [0]

        def count():
            while True:
                chunk = stream.stdout.read1(1 << 16)
                if not chunk:
                    return
                counted[0] += len(chunk)
        threading.Thread(target=count, daemon=True).start()
        start = time.monotonic()
        self.assertTrue(h.wait_for(lambda: counted[0] > 2 * burst(SLOW_LANE), 30),
                        f"the stream did not start:\n{stream.err()}")
        # ... while small execs on the same connection answer at once
        latencies = []
        for i in range(5):
            r = self.tssh(f"echo quick-{i}", control=mux, timeout=30)
            self.assertRc(r, 0)
            self.assertEqual(r.out, f"quick-{i}\n")
            latencies.append(r.elapsed)
        time.sleep(1)
        elapsed = time.monotonic() - start
        sys.stderr.write(f"[rate] exec latencies next to a {SLOW_LANE >> 20} MiB/s "
                         f"channel: {', '.join(f'{x:.2f}' for x in latencies)} s "
                         f"(without it: {', '.join(f'{x:.2f}' for x in idle)} s); "
                         f"the channel moved {counted[0] / elapsed / 1e6:.2f} MB/s down\n")
        self.assertLess(max(latencies), h.t(2.0), "a channel next to a limited one waited")
        self.assertIsNone(stream.poll(), "the limited stream ended")
        # the limited channel kept to its limit meanwhile
        self.assertLess(counted[0], SLOW_LANE * elapsed * (1 + TOLERANCE)
                        + 2 * burst(SLOW_LANE))
        h.kill_process(stream)


if __name__ == "__main__":
    h.main()
