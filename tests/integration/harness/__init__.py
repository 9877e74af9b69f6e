"""Integration-test harness for sshgate.

Drives the real daemon (sshgated), the real admin CLI (sshgate-admin), the
real OpenSSH client and, as a backend, a real OpenSSH sshd, all on loopback.
Python 3.11 standard library only.

Environment:
  SSHGATED, SSHGATE_ADMIN  paths of the binaries (ctest sets them; otherwise
                           the usual build directories are searched)
  KEEP=1                   keep every test's temp dir (path printed)
  SSHGATE_IT_LOG_LEVEL     log_level written into every gateway config
  SSHGATE_IT_ALLOW_LEAKS=1 do not fail a test on LeakSanitizer reports
  SSHGATE_IT_SLOW=N        multiply every timeout by N (default 1)
  SSHGATE_IT_BIG=0         big streams of test_forward_bulk.py: 256 MiB, not 1 GiB
  SSHGATE_IT_QUICK=1       small payloads for scripts/test --quick (32 MiB streams)

The package, each module importing only those above it:

  processes  HERE/SOURCE_DIR, SLOW, KEEP, t(), wait_for(), sanitizer
             patterns, finding the binaries, spawn()/run()/Result, every
             child tracked and killed by PID
  net        free ports, raw sockets, SSH packets and KEXINIT probes,
             TcpEcho, SilentListener, port_open()/port_listening()
  keys       Key, keygen(), fingerprint_of()
  clients    ssh and friends: ssh()/ssh_argv()/ssh_options()/ssh_env(),
             ssh_hold(), ssh_password()/Askpass, scp(), sftp_batch(),
             rsync_ssh(), SshAgent, PtyClient, client_stderr(), test streams
  admin      Admin (sshgate-admin), AdminError, the audit log as read
             through it (normalise_events(), detail_fields()),
             gateway_backend_pub()
  gateway    Gateway (sshgated), GatewayError
  backend    Backend (a real OpenSSH sshd)
  proxies    Dante (danted), SshDynamic (ssh -D), Microsocks, Tinyproxy:
             outbound proxies for
             the gateway to reach backends through
  testcase   TestCase, ForwardTestCase, init_database(), parse_hosts(),
             ALICE_PASSWORD, main()

Everything is re-exported here, so that tests use `import harness as h` and
`h.NAME` whichever module NAME lives in. Module state (the tracked
processes, the template database, the stream hashes) lives in its module;
assign to it there, not through this package.

See README.md in this directory.
"""

from __future__ import annotations

# tests use h.subprocess (PIPE, TimeoutExpired), as when this was one file
import subprocess

from .processes import (
    HERE, KEEP, SLOW, SOURCE_DIR, Result, _SANITIZER_NO_LEAKS_RE,
    _SANITIZER_RE, _find_binary, _kill_group, admin_path, descendants,
    kill_all_tracked, kill_process, pid_alive, run, sanitizer_re, spawn,
    sshgated_path, t, track, wait_for)
from .net import (
    SilentListener, TcpEcho, free_port, parse_kexinit, port_listening,
    port_open, read_line, read_packet, read_until_closed, server_kexinit,
    ssh_packet, ssh_string, wait_port_closed)
from .keys import SSH_KEYGEN, Key, fingerprint_of, keygen
from .clients import (
    RSYNC, SCP, SFTP, SSH, SSH_ADD, SSH_AGENT, SSH_KEYSCAN, Askpass,
    HeldSession, PtyClient, SshAgent, client_stderr, rsync_ssh, scp,
    sftp_batch, ssh, ssh_argv, ssh_env, ssh_hold, ssh_options, ssh_password,
    stream_cmd, stream_sha256)
from .admin import (
    Admin, AdminError, detail_fields, gateway_backend_pub, normalise_events)
from .gateway import Gateway, GatewayError
from .backend import SSHD, Backend
from .proxies import Dante, Microsocks, Proxy, SshDynamic, Tinyproxy
from .testcase import (
    ALICE_PASSWORD, ForwardTestCase, TestCase, init_database, main,
    parse_hosts)

__all__ = [
    # processes
    "HERE", "KEEP", "SLOW", "SOURCE_DIR", "Result", "admin_path",
    "descendants", "kill_all_tracked", "kill_process", "pid_alive", "run",
    "sanitizer_re", "spawn", "sshgated_path", "t", "track", "wait_for",
    # net
    "SilentListener", "TcpEcho", "free_port", "parse_kexinit",
    "port_listening", "port_open", "read_line", "read_packet",
    "read_until_closed", "server_kexinit", "ssh_packet", "ssh_string",
    "wait_port_closed",
    # keys
    "SSH_KEYGEN", "Key", "fingerprint_of", "keygen",
    # clients
    "RSYNC", "SCP", "SFTP", "SSH", "SSH_ADD", "SSH_AGENT", "SSH_KEYSCAN",
    "Askpass", "HeldSession", "PtyClient", "SshAgent", "client_stderr",
    "rsync_ssh", "scp", "sftp_batch", "ssh", "ssh_argv", "ssh_env",
    "ssh_hold", "ssh_options", "ssh_password", "stream_cmd", "stream_sha256",
    # admin
    "Admin", "AdminError", "detail_fields", "gateway_backend_pub",
    "normalise_events",
    # gateway, backend
    "Gateway", "GatewayError", "SSHD", "Backend",
    # proxies
    "Dante", "Microsocks", "Proxy", "SshDynamic", "Tinyproxy",
    # testcase
    "ALICE_PASSWORD", "ForwardTestCase", "TestCase", "init_database", "main",
    "parse_hosts",
    # not public, but used by tests (or bench/run) as h.NAME
    "subprocess", "_SANITIZER_RE", "_SANITIZER_NO_LEAKS_RE", "_find_binary",
    "_kill_group",
]
