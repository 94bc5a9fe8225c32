# SPDX-License-Identifier: GPL-2.0-or-later
"""benchlib - the benchmark's machinery: loop filesystems in a temp dir of
its own, quiesced and qemu-guest-agent instances on sockets in that dir, the
writer, and a cleanup that always thaws, stops, unmounts and detaches.

Safety (see bench/README.md):
  * every freeze goes through Bench.check_freezable(): the path must be the
    mount point of a loop filesystem this run created (its image in this
    run's temp dir or in one of its filesystems); nothing else is frozen;
  * qemu-ga runs with guest-fsfreeze-freeze blocked (-b): only
    guest-fsfreeze-freeze-list, naming our own mounts, can freeze;
  * this process never touches a filesystem that may be frozen: writers are
    children, their dumps go to the temp dir on /;
  * cleanup (normal exit, exception, SIGINT/SIGTERM/SIGHUP): thaw every mount
    we made, outer (the XFS pool) before inner (the images in it); stop
    qemu-ga and quiesced (and its guard); thaw again; reap writers; unmount,
    detach, remove.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from qzsys import children_of, loop_backing, mountinfo, pid_alive, size_bytes  # noqa: E402,F401
from qga import QemuGA  # noqa: E402
TMP_BASE = Path(os.environ.get("QUIESCE_BENCH_TMPDIR", "/tmp"))
TMP_PREFIX = "qz-bench-"


class Interrupted(Exception):
    pass


def mono_ns():
    return time.monotonic_ns()  # CLOCK_MONOTONIC, like the writer's


def run(cmd, timeout=60, check=True, **kw):
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("text", True)
    p = subprocess.run([str(c) for c in cmd], timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({p.returncode}): {(p.stderr or '').strip()}")
    return p


def pinned(cpus):
    """A preexec_fn that runs the child on `cpus` (None: the caller's affinity, unpinned)."""
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def quiet(cmd, timeout=30):
    try:
        return subprocess.run([str(c) for c in cmd], timeout=timeout, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode
    except Exception:
        return None


def meminfo():
    d = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            d[k] = int(v.split()[0])  # kB
    return d


def dirty_mib():
    m = meminfo()
    return m["Dirty"] / 1024.0, m["Writeback"] / 1024.0


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def memory_kib(pid):
    """VmRSS split as /proc/PID/smaps_rollup sees it: Rss, Pss (shared pages
    divided among the processes mapping them), Anonymous (the process's own
    memory) and the file-backed rest (libraries and the binary), in KiB."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Rss", "Pss", "Anonymous"):
                out[k.lower()] = int(v.split()[0])
    out["file"] = out.get("rss", 0) - out.get("anonymous", 0)
    return out


class LoopFS:
    def __init__(self, img, dev, mnt, fstype, depth):
        self.img, self.dev, self.mnt, self.fstype, self.depth = Path(img), dev, Path(mnt), fstype, depth

    def __str__(self):
        return str(self.mnt)

    def dev_id(self):
        for m in mountinfo():
            if m.target == str(self.mnt):
                return m.devno
        return None


class Writer:
    """bench/writer as a child process; its dumps live in `dir` (on /)."""

    def __init__(self, bench, exe, target, dir, prefill_mib=None, fdatasync=False, rate_mibs=None,
                 max_mib=None, bucket_ms=5, extra=()):
        self.dir = Path(dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.summary_path = self.dir / "summary.json"
        self.windows_path = self.dir / "windows"
        self.buckets_path = self.dir / "buckets.csv"
        cmd = [str(exe), "--summary", str(self.summary_path), "--windows", str(self.windows_path),
               "--buckets", str(self.buckets_path), "--bucket-ms", str(bucket_ms)]
        if fdatasync:
            cmd.append("--fdatasync")
        if prefill_mib is not None:
            cmd += ["--prefill-mib", str(prefill_mib)]
        if rate_mibs:
            cmd += ["--rate-mibs", str(rate_mibs)]
        if max_mib:
            cmd += ["--max-mib", str(max_mib)]
        cmd += list(extra) + [str(target)]
        self.err = open(self.dir / "writer.stderr", "wb")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.err, stdin=subprocess.DEVNULL,
                                     text=True)
        self.pid = self.proc.pid
        bench.writers.append(self)
        self.ready_ns = None
        self.windows = []

    def wait_ready(self, timeout=120):
        """Wait for its READY line (prefill done)."""
        import select
        deadline = time.monotonic() + timeout
        buf = ""
        fd = self.proc.stdout.fileno()
        while "\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("writer not ready in time")
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 4096).decode()
                if not chunk:
                    raise RuntimeError(f"writer exited before ready: {self.stderr_text()}")
                buf += chunk
        line = buf.split("\n", 1)[0].split()
        if line[0] != "READY":
            raise RuntimeError(f"writer said {line!r}")
        self.ready_ns = int(line[1])
        return self.ready_ns

    def add_window(self, name, a_ns, b_ns):
        self.windows.append((name, int(a_ns), int(b_ns)))

    def stop(self, timeout=120):
        """Windows file, SIGTERM, wait for the dumps; the summary dict."""
        with open(self.windows_path, "w") as f:
            for w in self.windows:
                f.write(f"{w[0]} {w[1]} {w[2]}\n")
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=timeout)
        self.err.close()
        try:
            return json.loads(self.summary_path.read_text())
        except (OSError, ValueError) as e:
            raise RuntimeError(f"writer summary unreadable ({e}): {self.stderr_text()}")

    def stderr_text(self):
        try:
            return (self.dir / "writer.stderr").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def buckets(self):
        """[(slot_start_ns, count, max_lat_ended_ns, max_waiting_ns)]"""
        out = []
        with open(self.buckets_path) as f:
            next(f)
            for line in f:
                a = line.split(",")
                out.append((int(a[0]), int(a[1]), int(a[2]), int(a[3])))
        return out


class Daemon:
    def __init__(self, bench, exe, sock, log, args=(), cpus=None):
        """cpus: a set of CPUs to start it on (its guard and threads inherit it); None: unpinned."""
        self.sock = Path(sock)
        self.log_path = Path(log)
        self.logf = open(log, "wb")
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID")}
        self.proc = subprocess.Popen([str(exe), "--socket", str(sock)] + list(args), stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=self.logf, env=env, preexec_fn=pinned(cpus))
        bench.daemons.append(self)
        self.pid = self.proc.pid
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"quiesced exited with {self.proc.returncode}; log {log}")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(str(sock))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("quiesced not ready")
                time.sleep(0.05)
            finally:
                s.close()
        self.guard_pids = children_of(self.pid)

    def stop(self):
        self.guard_pids = list(set(self.guard_pids) | set(children_of(self.pid)))
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        deadline = time.monotonic() + 3
        for g in self.guard_pids:
            while pid_alive(g) and time.monotonic() < deadline:
                time.sleep(0.05)
        self.logf.close()


class QGA(QemuGA):
    """qemu-ga for a bench run (tests/qga.py): in the run's temp dir, its
    freezes checked by Bench.check_freezable(), stopped by Bench.cleanup()."""

    def __init__(self, bench):
        self.bench = bench
        super().__init__(bench.tmp / "qga", bench.check_freezable, on_spawn=bench.qgas.append)

    def stop(self):
        problems = super().stop()
        if problems:
            raise RuntimeError("; ".join(problems))


class Bench:
    """One run: owns its temp dir and everything in it, and cleans it up."""

    def __init__(self, keep_results_in=None):
        """keep_results_in: a directory that gets each quiesced's log at cleanup."""
        self.keep = Path(keep_results_in) if keep_results_in else None
        TMP_BASE.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=TMP_BASE))
        os.chmod(self.tmp, 0o755)
        (self.tmp / "owner.pid").write_text(f"{os.getpid()}\n")
        self.loops = []  # devices, creation order
        self.mounts = []  # LoopFS, creation order (outer before inner)
        self.writers, self.daemons, self.qgas, self.procs = [], [], [], []
        self.counter = 0
        self.cleaned = False

    # -- filesystems

    def make_fs(self, fstype, size, parent=None, name=None, mkfs_args=()):
        self.counter += 1
        name = name or f"{fstype}{self.counter}"
        parent_fs = parent
        pdir = parent_fs.mnt if parent_fs else self.tmp
        img = pdir / f"{name}.img"
        with open(img, "wb") as f:
            f.truncate(size_bytes(size))
        mkfs = {"ext4": ["mkfs.ext4", "-q", "-F"], "xfs": ["mkfs.xfs", "-q", "-f"]}[fstype]
        run(mkfs + list(mkfs_args) + [img], timeout=120)
        dev = run(["losetup", "--find", "--show", img], timeout=30).stdout.strip()
        self.loops.append(dev)
        mnt = self.tmp / name
        mnt.mkdir()
        run(["mount", "-t", fstype, dev, mnt], timeout=60)
        fs = LoopFS(img, dev, mnt, fstype, (parent_fs.depth + 1) if parent_fs else 0)
        self.mounts.append(fs)
        return fs

    def check_freezable(self, paths):
        """SAFETY: only the mount point of a loop filesystem this run made."""
        ours = {str(m.mnt): m for m in self.mounts}
        info = {m.target: m for m in mountinfo()}
        for p in paths:
            p = os.path.realpath(str(p))
            m = ours.get(p)
            if m is None or p not in info or info[p].source != m.dev:
                raise AssertionError(f"SAFETY: refusing to freeze {p}: not a loop filesystem of this run")
            back = loop_backing(m.dev) or ""
            if not back.startswith(str(self.tmp) + "/"):
                raise AssertionError(f"SAFETY: refusing to freeze {p}: its image {back} is not ours")
        return True

    def thaw_all(self):
        """fsfreeze -u on every mount we made: outer (the pool) first."""
        for m in sorted(self.mounts, key=lambda m: m.depth):
            quiet(["fsfreeze", "-u", m.mnt], timeout=30)

    def sync_all(self, fss):
        """Write back what is dirty in fss (inner first) and the pool images on /."""
        for fs in sorted(fss, key=lambda m: -m.depth):
            run(["sync", "-f", fs.mnt], timeout=300)
        for fs in sorted(fss, key=lambda m: -m.depth):
            if fs.depth == 0:
                run(["sync", fs.img], timeout=300)  # fsync of the image file on /

    # -- cleanup

    def cleanup(self):
        if self.cleaned:
            return []
        self.cleaned = True
        problems = []
        old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            self.thaw_all()
            for p in self.procs:
                if p.poll() is None:
                    p.kill()
            for q in self.qgas:
                try:
                    q.stop()
                except Exception as e:
                    problems.append(f"qemu-ga: {e}")
            for i, d in enumerate(self.daemons):
                try:
                    d.stop()
                    if self.keep:
                        self.keep.mkdir(parents=True, exist_ok=True)
                        shutil.copy(d.log_path, self.keep / f"quiesced-{i}.log")
                except Exception as e:
                    problems.append(f"quiesced: {e}")
            self.thaw_all()
            for w in self.writers:
                if w.proc.poll() is None:
                    w.proc.send_signal(signal.SIGTERM)
            for w in self.writers:
                try:
                    w.proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    w.proc.kill()
                    try:
                        w.proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        problems.append(f"writer {w.pid} did not exit")
            for p in self.procs:
                try:
                    p.wait(timeout=10)
                except Exception:
                    pass
            # inner before outer: an image's loop device keeps its pool busy
            for m in reversed(self.mounts):
                if quiet(["umount", m.mnt], timeout=120) != 0:
                    self.thaw_all()
                    if quiet(["umount", m.mnt], timeout=120) != 0:
                        problems.append(f"cannot unmount {m.mnt}")
                        continue
                if quiet(["losetup", "-d", m.dev]) != 0:
                    problems.append(f"cannot detach {m.dev}")
            for dev in reversed(self.loops):
                if dev not in [m.dev for m in self.mounts] and loop_backing(dev):
                    quiet(["losetup", "-d", dev])
            still = [m.target for m in mountinfo() if m.target.startswith(str(self.tmp) + "/")]
            if still:
                problems.append(f"still mounted: {still}")
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)
        finally:
            for s, h in old.items():
                signal.signal(s, h)
        return problems


def cleanup_stale(base=TMP_BASE):
    """Thaw, unmount, detach and remove what dead bench runs left behind
    (directories whose owner.pid is dead); a live run's are left alone."""
    done = []
    for d in sorted(base.glob(TMP_PREFIX + "*")):
        try:
            pid = int((d / "owner.pid").read_text())
        except (OSError, ValueError):
            pid = None
        if pid is not None and pid_alive(pid):
            continue
        prefix = str(d) + "/"
        mounts = [m for m in mountinfo() if m.target.startswith(prefix)]
        for m in mounts:  # mount order: outer first
            quiet(["fsfreeze", "-u", m.target])
        for m in reversed(mounts):
            quiet(["umount", m.target], timeout=120)
            if m.source.startswith("/dev/loop") and (loop_backing(m.source) or "").startswith(prefix):
                quiet(["losetup", "-d", m.source])
        for line in run(["losetup", "-a"], check=False).stdout.splitlines():
            dev = line.split(":", 1)[0]
            back = loop_backing(dev) or ""
            if back.startswith(prefix):
                quiet(["losetup", "-d", dev])
        if not [m for m in mountinfo() if m.target.startswith(prefix)]:
            shutil.rmtree(d, ignore_errors=True)
            done.append(str(d))
    return done
