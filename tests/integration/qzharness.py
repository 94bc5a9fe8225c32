# SPDX-License-Identifier: GPL-2.0-or-later
"""qzharness - the integration tests' machinery: loop filesystems, quiesced
instances, writers that show whether a filesystem is frozen, the raw protocol,
and a cleanup that always thaws, kills, unmounts and detaches what a test made.

Safety rules enforced here (see docs/testing.md):
  * every freeze request a test sends goes through check_freezable(), which
    refuses any path whose mount is not one this harness created (loop
    filesystems, tmpfs and bind mounts under its own temporary directory);
    the one deliberate exception is the "/ without a deadline" refusal test,
    which may only ever send "/" with no deadline;
  * nothing here ever writes to a filesystem that may be frozen from the
    pytest process itself: writers are child processes with deadlines;
  * every subprocess call has a timeout;
  * cleanup thaws outer filesystems before inner ones, kills daemons (and
    their guards), reaps writers, then unmounts and detaches in reverse.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from qzsys import children_of, loop_backing, mountinfo, pid_alive, size_bytes, traced  # noqa: E402,F401
from qga import QemuGA, QemuGAError  # noqa: E402,F401
TMP_PREFIX = "qz-it-"
TMP_BASE = Path(os.environ.get("QUIESCE_TEST_TMPDIR", "/tmp"))

# mkfs sizes: XFS refuses less than 300 MiB with xfsprogs >= 5.19.
FS_SIZES = {"ext4": "128M", "xfs": "300M", "btrfs": "256M"}
MKFS = {
    "ext4": ["mkfs.ext4", "-q", "-F"],
    "xfs": ["mkfs.xfs", "-q", "-f"],
    "btrfs": ["mkfs.btrfs", "-q", "-f"],
}


def build_dir():
    d = os.environ.get("QUIESCE_BUILD_DIR", "build")
    p = Path(d)
    return p if p.is_absolute() else REPO / p


def daemon_bin():
    return build_dir() / "src" / "daemon" / "quiesced"


def cli_bin():
    return build_dir() / "src" / "cli" / "quiesce"


def demo_bin():
    return build_dir() / "src" / "demo" / "quiesce-demo"


def writer_helper_bin(name):
    """A ready-made writer's session helper (src/writers/): writer-mariadb, writer-postgresql."""
    return build_dir() / "src" / "writers" / name


def cli_has_writer():
    """Whether this build's quiesce has the writer command (issue 12's daemon
    and library side, branch writers, not merged yet)."""
    r = subprocess.run([str(cli_bin()), "writer", "--help"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=10)
    return r.returncode == 0


def start_session_writer(h, qd, name, session, paths, *extra):
    """`quiesce writer --name NAME --required --session SESSION PATHS` in the
    background, once it says it registered: (process, its stderr lines so far
    and on)."""
    p = subprocess.Popen([str(cli_bin()), "writer", "--socket", str(qd.socket), "--name", name, "--required",
                          "--session", session, *extra, *[str(x) for x in paths]],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    h.procs.append(p)
    lines = []
    end = time.monotonic() + 30
    while time.monotonic() < end:
        line = p.stderr.readline()
        if not line:
            break
        lines.append(line)
        if "registered with quiesced" in line:
            threading.Thread(target=lambda: [lines.append(x) for x in p.stderr], daemon=True).start()
            return p, lines
    p.kill()
    raise AssertionError(f"quiesce writer {name} did not register: {''.join(lines)}")


def lib_dir():
    return build_dir() / "src" / "lib"


def project_version():
    """The build's version: meson.build's project(version:), the one place it is written."""
    return json.loads((build_dir() / "meson-info" / "intro-projectinfo.json").read_text())["version"]


def run(cmd, timeout=30, check=True, **kw):
    """subprocess.run with a timeout always, text output captured."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("text", True)
    p = subprocess.run([str(c) for c in cmd], timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({p.returncode}): {p.stderr.strip()}")
    return p


class _SpawnStuck(Exception):
    pass


def quiet(cmd, timeout=15):
    """Best-effort command for cleanup: never raises, returns the returncode or None.

    Rarely (about one test_writers.py run in ten, always in a fixture's
    teardown), subprocess's wait for the child's exec (its read of the
    "errpipe") has blocked for good although the child had exec'd and
    exited, and no process held the pipe's write end. Not understood; the
    spawn is bounded by SIGALRM here and retried, so cleanup goes on."""
    import threading
    main = threading.current_thread() is threading.main_thread()
    for _ in range(3):
        old = None
        if main:
            def stuck(signum, frame):
                raise _SpawnStuck()
            pending = signal.alarm(0)
            old = signal.signal(signal.SIGALRM, stuck)
            signal.alarm(timeout + 5)
        try:
            return subprocess.run([str(c) for c in cmd], timeout=timeout, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL).returncode
        except _SpawnStuck:
            sys.stderr.write(f"qz-it: {cmd[0]}: the spawn did not come back in {timeout + 5}s; again\n")
            continue
        except Exception:
            return None
        finally:
            if main:
                signal.alarm(0)
                signal.signal(signal.SIGALRM, old)
                if pending:
                    signal.alarm(pending)
    return None


def mount_of(path):
    """The mountinfo entry of the mount that contains path (or its nearest
    existing ancestor)."""
    p = os.path.realpath(path)
    while not os.path.exists(p):
        p = os.path.dirname(p)
    best = None
    for m in mountinfo():
        t = m[3]
        if p == t or p.startswith(t.rstrip("/") + "/") or t == "/":
            if best is None or len(t) >= len(best[3]):
                best = m  # later entries over-mount earlier ones
    return best


def blocked_on_freeze(pid):
    """True when the process sleeps on a superblock's freeze lock
    (sb_start_write & co are per-cpu rw-semaphores)."""
    try:
        with open(f"/proc/{pid}/wchan") as f:
            wchan = f.read()
    except OSError:
        wchan = ""
    if "percpu_rwsem" in wchan:
        return True
    try:
        with open(f"/proc/{pid}/stack") as f:
            stack = f.read()
    except OSError:
        stack = ""
    return "percpu_rwsem" in stack or "sb_start_write" in stack or "__sb_start" in stack


# ---------------------------------------------------------------- the protocol


class ProtocolError(Exception):
    pass


class RawConn:
    """A raw connection to quiesced: NUL-terminated JSON both ways."""

    def __init__(self, path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""

    def send_bytes(self, data):
        self.sock.sendall(data)

    def send(self, obj):
        self.send_bytes(json.dumps(obj).encode() + b"\0")

    def recv(self, timeout=10):
        """The next message as a dict; None at EOF (or reset) before any byte of it."""
        deadline = time.monotonic() + timeout
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply from quiesced")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                if self.buf:
                    raise ProtocolError(f"EOF inside a message: {self.buf[:200]!r}")
                return None
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, timeout=10):
        req = {"method": method}
        if params is not None:
            req["parameters"] = params
        self.send(req)
        return self.recv(timeout=timeout)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def raw_call(sock_path, method, params=None, timeout=10):
    c = RawConn(sock_path, timeout=timeout)
    try:
        return c.call(method, params, timeout=timeout)
    finally:
        c.close()


# ---------------------------------------------------------------- mounts


class Mount:
    def __init__(self, target, kind, fstype):
        self.mnt = Path(target)
        self.kind = kind  # "loop", "tmpfs", "bind", "subvol"
        self.fstype = fstype
        self.mounted = True

    def __fspath__(self):
        return str(self.mnt)

    def __str__(self):
        return str(self.mnt)

    def __truediv__(self, other):
        return self.mnt / other

    def dev_id(self):
        m = mount_of(self.mnt)
        return m[1]


class LoopFS(Mount):
    def __init__(self, img, dev, target, fstype, mount_opts=None):
        super().__init__(target, "loop", fstype)
        self.img = Path(img)
        self.dev = dev
        self.mount_opts = mount_opts

    def umount(self):
        run(["umount", self.mnt], timeout=30)
        self.mounted = False

    def mount(self):
        cmd = ["mount", "-t", self.fstype]
        if self.mount_opts:
            cmd += ["-o", self.mount_opts]
        run(cmd + [self.dev, self.mnt], timeout=30)
        self.mounted = True

    def remount(self):
        """Unmount and mount again: what is read afterwards came from the disk."""
        self.umount()
        self.mount()


# ---------------------------------------------------------------- writers

WRITER_SRC = r"""
import os, sys, time
path, data = sys.argv[1], sys.argv[2]
print("R %.6f" % time.monotonic(), flush=True)
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, data.encode())
print("W %.6f" % time.monotonic(), flush=True)
os.fsync(fd)
os.close(fd)
print("D %.6f" % time.monotonic(), flush=True)
"""


class Writer:
    """A child process that creates, writes and fsyncs one small file. It
    reports R (started), W (open+write returned) and D (fsync done) with the
    CLOCK_MONOTONIC time, so a test can tell when a freeze let it through."""

    def __init__(self, path, data):
        self.path = Path(path)
        self.data = data
        self.events = {}
        self.lock = threading.Condition()
        self.proc = subprocess.Popen([sys.executable, "-S", "-c", WRITER_SRC, str(path), data],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.pid = self.proc.pid
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            parts = line.split()
            if len(parts) == 2:
                with self.lock:
                    self.events[parts[0]] = float(parts[1])
                    self.lock.notify_all()
        with self.lock:
            self.events.setdefault("EOF", time.monotonic())
            self.lock.notify_all()

    def wait_event(self, ev, timeout):
        deadline = time.monotonic() + timeout
        with self.lock:
            while ev not in self.events and "EOF" not in self.events:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.lock.wait(left)
            return ev in self.events

    def started(self, timeout=15):
        return self.wait_event("R", timeout)

    def done(self, timeout=0.0):
        """True once the file is written and fsynced."""
        return self.wait_event("D", timeout)

    def failed(self):
        with self.lock:
            return "EOF" in self.events and "D" not in self.events

    def unblocked_at(self):
        """CLOCK_MONOTONIC time when open()+write() returned, or None."""
        return self.events.get("W")

    def reap(self, timeout=10):
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
            except Exception:
                return False
        self.thread.join(timeout=2)
        return True


# ---------------------------------------------------------------- the daemon


def terminate(proc, grace=10):
    """SIGTERM, then SIGKILL after grace seconds; reaped (or given up on after
    10 more: a process stuck in the kernel). Its exit status, or None."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
    return proc.poll()


class Daemon:
    def __init__(self, harness, socket_path, log_path, args, wrapper=(), socket_arg=True, env=None,
                 stderr=None):
        self.h = harness
        self.socket = Path(socket_path)
        self.log_path = Path(log_path)
        self.args = args
        self.log = open(self.log_path, "wb")
        cmd = list(wrapper) + [str(daemon_bin())]
        if socket_arg:
            cmd += ["--socket", str(self.socket)]
        e = dict(os.environ)
        e.pop("NOTIFY_SOCKET", None)
        e.pop("LISTEN_FDS", None)
        e.pop("LISTEN_PID", None)
        e.update(env or {})
        self.proc = subprocess.Popen(cmd + args, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log if stderr is None else stderr, env=e)
        harness.daemons.append(self)  # cleaned up even if it never gets ready
        self.pid = self.proc.pid
        self.guard_pids = []
        try:
            self.wait_ready()
        finally:
            self.guard_pids = children_of(self.pid)

    def wait_ready(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"quiesced exited with {self.proc.returncode}: {self.log_text()}")
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(2)
                s.connect(str(self.socket))
                s.close()
                return
            except OSError:
                s.close()
                time.sleep(0.05)
        raise RuntimeError(f"quiesced not ready after {timeout}s: {self.log_text()}")

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def alive(self):
        return self.proc.poll() is None

    def call(self, method, params=None, timeout=10):
        return raw_call(self.socket, method, params, timeout=timeout)

    def status(self):
        r = self.call("io.quiesce.Status")
        if r is None or "parameters" not in r or "error" in r:
            raise ProtocolError(f"Status failed: {r}")
        return r["parameters"]

    def counters(self):
        c = self.status()["counters"]
        return c["fifreeze"], c["fithaw"]

    def wait_counters(self, expected, timeout=5):
        """Counters reach expected (a thaw that no reply waits for, such as a
        deadline or a closed connection, is counted once its ioctl returned)."""
        last = []

        def ok():
            last[:] = [self.counters()]
            return last[0] == tuple(expected)
        try:
            self.wait_for(ok, timeout=timeout, what=f"counters {tuple(expected)}")
        except AssertionError:
            raise AssertionError(f"FIFREEZE/FITHAW counters {last[0]}, expected {tuple(expected)}")

    def fs_status(self, mount):
        """The Status entry of mount's filesystem, or None."""
        dev = mount_of(mount)[1]
        for fs in self.status().get("filesystems", []):
            if fs.get("id") == dev:
                return fs
        return None

    def holds_on(self, mount):
        fs = self.fs_status(mount)
        return fs.get("holds", []) if fs else []

    def wait_for(self, pred, timeout=10, what="condition"):
        deadline = time.monotonic() + timeout
        while True:
            v = pred()
            if v:
                return v
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(0.05)

    def kill(self, sig=signal.SIGKILL):
        if self.alive():
            self.proc.send_signal(sig)

    def stop(self):
        """Cleanup: SIGTERM, then SIGKILL; the guard must follow its daemon."""
        self.guard_pids = list(set(self.guard_pids) | set(children_of(self.pid)))
        terminate(self.proc, grace=5)
        deadline = time.monotonic() + 3
        leftover = []
        for g in self.guard_pids:
            while pid_alive(g) and time.monotonic() < deadline:
                time.sleep(0.05)
            if pid_alive(g):
                leftover.append(g)
                try:
                    os.kill(g, signal.SIGKILL)
                except OSError:
                    pass
        self.log.close()
        return leftover


# ---------------------------------------------------------------- the harness


class Harness:
    """One per test: owns everything the test creates, and cleans it up."""

    def __init__(self, name="t", helpers=None):
        TMP_BASE.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{name[:40]}-", dir=TMP_BASE))
        os.chmod(self.tmp, 0o755)  # uid 65534 must reach sockets and helpers
        (self.tmp / "owner.pid").write_text(f"{os.getpid()}\n")
        self.helpers = helpers if helpers is not None else {}
        self.resources = []  # ("loop", dev) / ("mount", Mount), creation order
        self.mounts = []  # Mounts in creation order (outer before inner)
        self.daemons = []
        self.qgas = []  # QemuGA instances (tests/qga.py)
        self.writers = []
        self.procs = []  # other children (CLI in the foreground, helpers)
        self.problems = []  # cleanup problems to report
        self.counter = 0

    # -- filesystems

    def _unique(self, stem):
        self.counter += 1
        return f"{stem}{self.counter}"

    def make_fs(self, fstype, size=None, name=None, parent=None, mount_opts=None):
        """mkfs an image (in parent, default the temp dir), attach it to a
        loop device, mount it under the temp dir."""
        name = name or self._unique(fstype)
        parent = Path(parent) if parent is not None else self.tmp
        img = parent / f"{name}.img"
        with open(img, "wb") as f:
            f.truncate(size_bytes(size or FS_SIZES[fstype]))
        run(MKFS[fstype] + [img], timeout=60)
        dev = run(["losetup", "--find", "--show", img], timeout=30).stdout.strip()
        self.resources.append(("loop", dev))
        mnt = self.tmp / name
        mnt.mkdir()
        fs = LoopFS(img, dev, mnt, fstype, mount_opts)
        try:
            fs.mount()
        except Exception:
            mnt.rmdir()
            raise
        self.resources.append(("mount", fs))
        self.mounts.append(fs)
        return fs

    def mount_subvol(self, fs, subvol, name=None):
        mnt = self.tmp / (name or self._unique("subvol"))
        mnt.mkdir()
        run(["mount", "-t", "btrfs", "-o", f"subvol={subvol}", fs.dev, mnt], timeout=30)
        m = Mount(mnt, "subvol", "btrfs")
        self.resources.append(("mount", m))
        self.mounts.append(m)
        return m

    def bind(self, src, name=None):
        mnt = self.tmp / (name or self._unique("bind"))
        mnt.mkdir()
        run(["mount", "--bind", src, mnt], timeout=30)
        src_mount = mount_of(src)
        m = Mount(mnt, "bind", src_mount[4])
        self.resources.append(("mount", m))
        self.mounts.append(m)
        return m

    def tmpfs(self, name=None):
        mnt = self.tmp / (name or self._unique("tmpfs"))
        mnt.mkdir()
        run(["mount", "-t", "tmpfs", "-o", "size=16M", "qz-it-tmpfs", mnt], timeout=30)
        m = Mount(mnt, "tmpfs", "tmpfs")
        self.resources.append(("mount", m))
        self.mounts.append(m)
        return m

    def fsfreeze(self, mount, unfreeze=False):
        """util-linux fsfreeze on one of our mounts (the 'other tool')."""
        self.check_freezable([str(mount)])
        return run(["fsfreeze", "-u" if unfreeze else "-f", mount], timeout=30, check=False)

    # -- safety

    def our_mount_targets(self):
        return {str(m.mnt) for m in self.mounts}

    def check_freezable(self, paths, no_deadline=False):
        """Refuse (AssertionError, nothing sent) any path not on a mount this
        test made; '/' only when asking with no deadline."""
        ours = self.our_mount_targets()
        for p in paths:
            if p == "/" and no_deadline:
                continue
            m = mount_of(p)
            if m is None or m[3] not in ours:
                raise AssertionError(f"SAFETY: refusing to ask for a freeze of {p}: "
                                     f"its mount {m[3] if m else '?'} was not made by this test")
        return True

    # -- daemons

    def start_daemon(self, socket_path=None, max_frozen="15s", group=None, extra=(),
                     log_path=None, **kw):
        if not daemon_bin().exists():
            raise AssertionError(f"{daemon_bin()} is not built (QUIESCE_BUILD_DIR={build_dir()})")
        n = len(self.daemons)
        socket_path = Path(socket_path) if socket_path else self.tmp / f"quiesced{n}.sock"
        log_path = Path(log_path) if log_path else self.tmp / f"quiesced{n}.log"
        args = []
        if max_frozen:
            args += ["--max-frozen", max_frozen]
        if group:
            args += ["--group", group]
        args += list(extra)
        return Daemon(self, socket_path, log_path, args, **kw)

    # -- qemu-guest-agent

    def start_qga(self):
        """qemu-ga on a socket in the temp dir (tests/qga.py), connected: its
        freeze-lists go through check_freezable(); cleanup thaws what it froze
        (through the agent) and stops it. Its guest-fsfreeze-thaw calls FITHAW
        on every mounted filesystem: tests using it run under
        /tmp/qz-freeze.lock like every freezing test."""
        q = QemuGA(self.tmp / f"qga{len(self.qgas)}", self.check_freezable, on_spawn=self.qgas.append)
        q.connect()
        return q

    # -- the command line

    def _freeze_paths(self, args):
        """The PATH operands of a freeze/run command line (for the safety check)."""
        args = list(args)
        i = 0
        while i < len(args) and args[i] in ("--socket", "-s"):
            i += 2
        if i >= len(args) or args[i] not in ("freeze", "run"):
            return [], False
        paths, no_deadline = [], False
        i += 1
        while i < len(args):
            a = args[i]
            if a == "--":
                break
            if a in ("--timeout", "-t", "--socket", "-s"):
                if a in ("--timeout", "-t") and i + 1 < len(args) and args[i + 1] == "none":
                    no_deadline = True
                i += 2
                continue
            if a.startswith("--timeout="):
                no_deadline = no_deadline or a.split("=", 1)[1] == "none"
            elif not a.startswith("-"):
                paths.append(a)
            i += 1
        return paths, no_deadline

    def cli_cmd(self, args, daemon=None, user=None):
        if not cli_bin().exists():
            raise AssertionError(f"{cli_bin()} is not built (QUIESCE_BUILD_DIR={build_dir()})")
        args = [str(a) for a in args]
        paths, no_deadline = self._freeze_paths(args)
        self.check_freezable(paths, no_deadline=no_deadline)
        exe = cli_bin()
        if user is not None and getattr(self.helpers, "cli", None):
            exe = self.helpers.cli  # a world-readable copy (see conftest.helpers)
        cmd = [str(exe)]
        if daemon is not None:
            cmd += ["--socket", str(daemon.socket)]
        cmd += args
        if user is not None:
            cmd = as_user(user) + cmd
        return cmd

    def quiesce(self, *args, daemon=None, timeout=20, env=None, user=None, input=None):
        """Run the quiesce command to completion (with a timeout)."""
        cmd = self.cli_cmd(args, daemon, user)
        e = dict(os.environ)
        e.pop("QUIESCE_SOCKET", None)
        if env:
            e.update(env)
        return subprocess.run(cmd, timeout=timeout, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=e, input=input,
                              stdin=None if input is not None else subprocess.DEVNULL)

    def quiesce_bg(self, *args, daemon=None, env=None, user=None):
        cmd = self.cli_cmd(args, daemon, user)
        e = dict(os.environ)
        e.pop("QUIESCE_SOCKET", None)
        if env:
            e.update(env)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=e, stdin=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def freeze_detached(self, daemon, *paths, timeout="10s"):
        """quiesce freeze --detach; returns the hold id (int)."""
        r = self.quiesce("freeze", "--detach", "--timeout", timeout, *paths, daemon=daemon)
        assert r.returncode == 0, f"freeze {paths} failed ({r.returncode}): {r.stderr}"
        out = r.stdout.strip()
        assert re.fullmatch(r"\d+", out), f"freeze --detach printed {out!r}, expected a hold id alone"
        return int(out)

    # -- the library helper

    def qzcall(self, daemon, *ops, user=None, timeout=30, background=False):
        """Run helpers/qzcall with its operations (see qzcall.c)."""
        exe = self.helpers.get("qzcall")
        if not exe:
            raise AssertionError("qzcall helper not built")
        paths = [op.split(":", 1)[1] for op in ops if op.startswith("open:")]
        frozen_ops = [op for op in ops if op.startswith("freeze:")]
        if frozen_ops:
            self.check_freezable(paths)
        cmd = [str(exe)] + list(ops)
        if user is not None:
            cmd = as_user(user) + cmd
        env = dict(os.environ, QUIESCE_SOCKET=str(daemon.socket))
        if background:
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=env, stdin=subprocess.PIPE)
            self.procs.append(p)
            return p
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env, timeout=timeout, stdin=subprocess.DEVNULL)

    # -- frozen or not

    def writer(self, mount, name=None, data=None):
        name = name or self._unique("w") + ".txt"
        data = data or f"written by {name} at {time.time()}\n"
        w = Writer(Path(mount) / name, data)
        self.writers.append(w)
        if not w.started():
            raise AssertionError("writer process did not start")
        return w

    def probe(self, mount, settle=0.5, limit=8.0):
        """Start a writer on mount. Returns (frozen, writer): frozen when the
        writer has not finished after `settle` seconds and sleeps on the
        freeze lock; not frozen when it finished. The writer is kept and
        reaped at cleanup (it completes when the filesystem thaws)."""
        w = self.writer(mount)
        if w.done(settle):
            return False, w
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if w.done(0):
                return False, w
            if w.failed():
                raise AssertionError(f"writer on {mount} failed: {w.proc.stderr.read()}")
            if blocked_on_freeze(w.pid):
                return True, w
            time.sleep(0.05)
        raise AssertionError(f"writer on {mount} neither finished nor blocked on a freeze "
                             f"in {limit}s")

    def is_frozen(self, mount):
        return self.probe(mount)[0]

    def blocked_writer(self, mount):
        frozen, w = self.probe(mount)
        assert frozen, f"{mount} is not frozen: a writer completed"
        return w

    def assert_frozen(self, mount):
        self.blocked_writer(mount)

    def assert_thawed(self, mount, within=5.0):
        w = self.writer(mount)
        assert w.done(within), f"{mount} still frozen: a writer did not finish in {within}s"

    # -- cleanup

    def cleanup(self):
        """Thaw, kill, reap, unmount, detach, remove. Never raises; returns
        the list of problems (leftovers) found."""
        # 1. clients first: a client that ends releases its holds. SIGTERM,
        #    then SIGKILL after a grace period: a client may already be on its
        #    way out, and a SIGKILL in the middle of LeakSanitizer's exit-time
        #    scan (ASan builds) leaves a spurious "Unable to get registers
        #    from thread N" report behind.
        running = []
        grace = time.monotonic() + 5
        for p in self.procs:
            try:
                while p.poll() is None and traced(p.pid) and time.monotonic() < grace:
                    time.sleep(0.02)  # in its leak scan: let it finish
                if p.poll() is None:
                    p.terminate()
                    running.append(p)
            except Exception:
                pass
        grace = time.monotonic() + 5
        for p in running:
            try:
                p.wait(timeout=max(0.0, grace - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    p.kill()
                except Exception:
                    pass
            except Exception:
                pass
        # 1b. qemu-ga instances: the agent thaws what it froze, then stops
        for q in self.qgas:
            self.problems.extend(q.stop())
        # 2. thaw everything we made, outer (created first) before inner
        self._thaw_all()
        # 3. daemons and their guards
        for d in self.daemons:
            try:
                left = d.stop()
                if left:
                    self.problems.append(f"guard(s) {left} of quiesced {d.pid} outlived it")
            except Exception as e:
                self.problems.append(f"stopping quiesced: {e}")
        # 4. anything frozen meanwhile (a freeze in flight) is thawed again
        self._thaw_all()
        # 5. reap children
        for w in self.writers:
            if not w.reap(timeout=10):
                self.problems.append(f"writer {w.pid} on {w.path} could not be reaped")
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except Exception:
                self.problems.append(f"process {p.args} could not be reaped")
            for s in (p.stdout, p.stderr, p.stdin):
                try:
                    if s:
                        s.close()
                except Exception:
                    pass
        # 6. unmount and detach in reverse order of creation
        for kind, r in reversed(self.resources):
            if kind == "mount":
                if not _umount(r.mnt):
                    self.problems.append(f"could not unmount {r.mnt}")
            else:
                if quiet(["losetup", "-d", r]) != 0:
                    # a lazily unmounted fs may still hold it: autoclear is set
                    if loop_backing(r) is not None:
                        self.problems.append(f"could not detach {r}")
        # 7. remove the directory, but never through a mount
        if not any(m[3].startswith(str(self.tmp)) for m in mountinfo()):
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            self.problems.append(f"mounts left under {self.tmp}; not removed")
        return self.problems

    def _thaw_all(self):
        for m in self.mounts:
            if m.kind in ("loop", "subvol", "bind") and getattr(m, "mounted", True):
                quiet(["fsfreeze", "-u", m.mnt], timeout=15)


def _umount(target):
    target = str(target)
    for _ in range(20):
        if not any(m[3] == target for m in mountinfo()):
            return True
        if quiet(["umount", target], timeout=30) == 0:
            continue
        time.sleep(0.1)
    if any(m[3] == target for m in mountinfo()):
        quiet(["umount", "-l", target], timeout=30)
        return False
    return True


def as_user(uid):
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]


# ---------------------------------------------------------------- stale leftovers


def cleanup_stale(base=TMP_BASE, include_live=False):
    """Thaw, unmount and detach what an earlier, crashed test run left under
    base/qz-it-*: only directories whose owner process is gone."""
    report = []
    for d in sorted(Path(base).glob(TMP_PREFIX + "*")):
        try:
            owner = int((d / "owner.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            owner = None
        if owner is not None and pid_alive(owner) and not include_live:
            continue
        prefix = str(d) + "/"
        mounts = [m for m in mountinfo() if m[3].startswith(prefix)]
        # thaw outer first: shallower mount points were created first
        for m in sorted(mounts, key=lambda m: m[0]):
            quiet(["fsfreeze", "-u", m[3]])
        for m in sorted(mounts, key=lambda m: -m[0]):
            _umount(m[3])
            report.append(f"unmounted {m[3]}")
        for dev in _loops_backed_under(prefix):
            quiet(["losetup", "-d", dev])
            report.append(f"detached {dev}")
        if not any(m[3].startswith(prefix) for m in mountinfo()):
            shutil.rmtree(d, ignore_errors=True)
            report.append(f"removed {d}")
    return report


def _loops_backed_under(prefix):
    devs = []
    try:
        names = os.listdir("/sys/block")
    except OSError:
        return devs
    for n in names:
        if not n.startswith("loop"):
            continue
        b = loop_backing("/dev/" + n)
        if b and b.startswith(prefix):
            devs.append("/dev/" + n)
    # inner images (backed on a mount under prefix) first: higher numbers were made later
    return sorted(devs, key=lambda s: -int(re.sub(r"\D", "", s) or 0))


def _live_dirs(base=TMP_BASE):
    """Test directories whose owner process still runs: another test session's."""
    live = []
    for d in Path(base).glob(TMP_PREFIX + "*"):
        try:
            owner = int((d / "owner.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if pid_alive(owner):
            live.append(str(d) + "/")
    return live


def leftovers(base=TMP_BASE):
    """Our loop devices and mounts still present (for the end-of-run check),
    leaving out those of test sessions still running beside this one."""
    prefix = str(Path(base) / TMP_PREFIX)
    live = _live_dirs(base)

    def ours(path):
        return path.startswith(prefix) and not any(path.startswith(d) for d in live)

    mounts = [m[3] for m in mountinfo() if ours(m[3])]
    loops = []
    for n in os.listdir("/sys/block"):
        if n.startswith("loop"):
            b = loop_backing("/dev/" + n)
            if b and ours(b):
                loops.append(f"/dev/{n} ({b})")
    return mounts, loops


if __name__ == "__main__":
    # python3 tests/integration/qzharness.py cleanup : remove stale test leftovers
    if len(sys.argv) > 1 and sys.argv[1] == "cleanup":
        # After a run, anything a finished session left behind is a leak: it is
        # cleaned up here, and the exit status says so.
        cleaned = cleanup_stale()
        for line in cleaned:
            print("qz-it cleanup:", line)
        leaked = any(line.startswith(("unmounted", "detached")) for line in cleaned)
        m, l = leftovers()
        if m or l:
            print("qz-it cleanup: still present:", m, l)
        sys.exit(1 if (m or l or leaked) else 0)
    print(__doc__)


def parse_qzcall(text):
    """qzcall's lines as [{'op':, 'rc':, 'errno':, 'ms':, 'mono':, 'detail':}]."""
    out = []
    for line in text.splitlines():
        m = re.match(r"(\w+) rc=(-?\d+) errno=(\S+) ms=(\d+) mono=([\d.]+) detail=(.*)$", line)
        if m:
            out.append({"op": m.group(1), "rc": int(m.group(2)), "errno": m.group(3),
                        "ms": int(m.group(4)), "mono": float(m.group(5)), "detail": m.group(6)})
    return out


def read_qzcall_line(proc, timeout=15):
    """The next result line of a background qzcall (parsed), or None at EOF."""
    import select
    deadline = time.monotonic() + timeout
    buf = ""
    fd = proc.stdout.fileno()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"qzcall printed nothing in {timeout}s")
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        ch = os.read(fd, 1).decode()
        if ch == "":
            return None
        if ch == "\n":
            res = parse_qzcall(buf)
            if res:
                return res[0]
            buf = ""
            continue
        buf += ch


def hold_from_json(text):
    """The hold object of `quiesce freeze --json` output."""
    obj = json.loads(text)
    if isinstance(obj, dict) and "hold" in obj and isinstance(obj["hold"], dict):
        obj = obj["hold"]
    return obj


FIFREEZE = 0xC0045877
FITHAW = 0xC0045878
