# SPDX-License-Identifier: GPL-2.0-or-later
"""qga - qemu-guest-agent (qemu-ga) as a co-tenant, shared by the
integration tests' harness (tests/integration/qzharness.py, Harness.start_qga)
and the benchmarks (bench/benchlib.py, QGA).

QemuGA starts qemu-ga on a private Unix socket in a directory of the caller's
(`--method unix-listen`, state and pid file there too, no fsfreeze hook) and
talks its JSON protocol (guest-sync-delimited, then one command at a time).

Safety:
  * qemu-ga runs with guest-fsfreeze-freeze blocked (-b): that command,
    without a list, freezes every mounted filesystem, / included; call()
    refuses to send it too;
  * freeze_list() passes every path through the caller's check_freezable()
    first and never sends an empty list (which would mean "all");
  * guest-fsfreeze-thaw is NOT limited to what this agent froze: qemu-ga
    7.2 calls FITHAW, until it fails, on every filesystem in its mount table
    (see tests/integration/test_qga_cotenant.py). It would lift anybody's
    freeze on this machine at that instant: call it only while holding
    /tmp/qz-freeze.lock (as every freezing command here must run).
"""

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

QEMU_GA = os.environ.get("QUIESCE_QEMU_GA", "qemu-ga")


class QemuGAError(RuntimeError):
    """An error reply of qemu-ga: .cls and .desc from its {"error": ...}."""

    def __init__(self, cmd, err):
        self.cls = err.get("class")
        self.desc = err.get("desc")
        super().__init__(f"qemu-ga {cmd}: {err}")


class QemuGA:
    """qemu-ga on a Unix socket in `workdir`, with guest-fsfreeze-freeze (the
    one without a list, which freezes every filesystem) blocked.

    check_freezable(paths): the owner's safety check, called before any
        freeze; it must raise for a path the owner did not make.
    on_spawn(qga): called right after the process starts (before it is
        ready), so that the owner's cleanup stops it even if it never is.
    """

    BLOCKED = "guest-fsfreeze-freeze"

    def __init__(self, workdir, check_freezable, on_spawn=None, exe=None, ready_timeout=10):
        if check_freezable is None:
            raise AssertionError("SAFETY: QemuGA needs its owner's check_freezable")
        self.check_freezable = check_freezable
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sock = self.dir / "qga.sock"
        self.log_path = self.dir / "qga.log"
        self.logf = open(self.log_path, "wb")
        self.conn = None
        self.buf = b""
        self.next_id = 1
        self.froze = False  # a freeze-list of ours succeeded and no thaw of ours followed
        # no -F: no fsfreeze hook; -t: state files in our dir; -b: the unlisted freeze is refused
        self.cmd = [exe or QEMU_GA, "-m", "unix-listen", "-p", str(self.sock), "-t", str(self.dir),
                    "-f", str(self.dir / "qga.pid"), "-b", self.BLOCKED]
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=self.logf, stderr=self.logf)
        self.pid = self.proc.pid
        if on_spawn:
            on_spawn(self)
        deadline = time.monotonic() + ready_timeout
        while not self.sock.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"qemu-ga did not start: {self.log_text()}")
            time.sleep(0.02)

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def alive(self):
        return self.proc.poll() is None

    # -- the protocol

    def connect(self, timeout=10):
        if self.conn:
            return
        deadline = time.monotonic() + timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(str(self.sock))
                break
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.conn = s
        self.buf = b""
        # guest-sync-delimited: the reply is preceded by 0xFF; everything before it is stale
        sid = 4242 + self.next_id
        self.next_id += 1
        self._send({"execute": "guest-sync-delimited", "arguments": {"id": sid}})
        self._recv_until_ff(30)
        r = self._recv(30)
        if r.get("return") != sid:
            raise RuntimeError(f"qemu-ga sync: {r}")

    def _send(self, obj):
        self.conn.sendall(json.dumps(obj).encode() + b"\n")

    def _recv_until_ff(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\xff" not in self.buf:
            self._fill(deadline)
        self.buf = self.buf.split(b"\xff", 1)[1]

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("qemu-ga: no reply")
        self.conn.settimeout(left)
        chunk = self.conn.recv(65536)
        if not chunk:
            raise RuntimeError("qemu-ga closed the connection")
        self.buf += chunk

    def _recv(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            text = self.buf.decode(errors="replace").lstrip()
            if text:
                try:
                    obj, end = json.JSONDecoder().raw_decode(text)
                    self.buf = text[end:].encode()
                    return obj
                except ValueError:
                    pass
            self._fill(deadline)

    def call(self, cmd, args=None, timeout=120):
        """The command's "return"; QemuGAError for an error reply."""
        if cmd == self.BLOCKED:
            raise AssertionError("SAFETY: never guest-fsfreeze-freeze without a list")
        self.connect()
        req = {"execute": cmd}
        if args is not None:
            req["arguments"] = args
        self._send(req)
        r = self._recv(timeout)
        if "error" in r:
            raise QemuGAError(cmd, r["error"])
        return r.get("return")

    # -- fsfreeze

    def freeze_list(self, mounts, timeout=120):
        """guest-fsfreeze-freeze-list of our own mounts: the number it froze."""
        paths = [str(m) for m in mounts]
        if not paths:
            raise AssertionError("SAFETY: an empty list would mean every filesystem")
        self.check_freezable(paths)
        n = self.call("guest-fsfreeze-freeze-list", {"mountpoints": paths}, timeout=timeout)
        self.froze = self.froze or bool(n)
        return n

    def thaw(self, timeout=120):
        """guest-fsfreeze-thaw: the number of filesystems its FITHAWs thawed
        (any filesystem's; see the module's docstring)."""
        n = self.call("guest-fsfreeze-thaw", timeout=timeout)
        self.froze = False
        return n

    def status(self):
        """guest-fsfreeze-status: "thawed" or "frozen" (the agent's own idea)."""
        return self.call("guest-fsfreeze-status")

    # -- cleanup

    def stop(self, thaw=True):
        """Thaw what this agent froze (if a freeze-list of ours succeeded or the
        agent says it is frozen), then SIGTERM (SIGKILL after 10 s). Never
        raises; returns a list of problems."""
        problems = []
        if thaw and self.alive():
            try:
                if self.froze or self.status() == "frozen":
                    self.thaw(timeout=15)
            except Exception as e:
                problems.append(f"qemu-ga thaw: {e}")
        if self.conn:
            try:
                self.conn.close()
            except OSError:
                pass
            self.conn = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    problems.append(f"qemu-ga {self.pid} did not exit")
        try:
            self.logf.close()
        except OSError:
            pass
        return problems
