#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""freeze_evidence - what the real kernel shows about a freeze (an experiment,
not part of the test suite). For ext4 (mkfs defaults, and with
-E lazy_itable_init=0,lazy_journal_init=0), XFS and btrfs, each on a loop
image this script makes in its own temp dir, it measures:

  (mkfs on the loop device, as on a disk; ext4-file: mkfs on the image file)
  a. sectors written (7th field of /sys/dev/block/MAJ:MIN/stat) on the loop
     device from right after FIFREEZE returns, over 10 s frozen: idle, and
     with a buffered writer blocked on the frozen filesystem;
  b. whether a probe FIFREEZE on the frozen fs answers EBUSY every time, and
     how long it takes (us, through fcntl.ioctl);
  c. sectors written by FITHAW immediately followed by FIFREEZE, with no
     writer and with a writer running;
  d. btrfs: the superblock's major:minor in mountinfo vs the device's, and
     where the device's stat is (st_rdev of the source, /sys/fs/btrfs/FSID/devices);
  e. whether a freeze's own sectors are all counted when FIFREEZE returns
     (stat right after, then 1 s later).

Run as root, one freezer at a time:
    flock /tmp/qz-freeze.lock python3 tests/experiments/freeze_evidence.py [--fs ext4,ext4-file,ext4-nolazy,xfs,btrfs] [--json OUT]

Safety: only the loop filesystems made here are ever frozen (checked before
each FIFREEZE: the mount's source is our loop device, backed by an image in
our temp dir); every exit path (exception, SIGINT/SIGTERM/SIGHUP, the
alarm) thaws, stops the writers, unmounts and detaches; a watchdog process
thaws our mounts if this process dies without cleaning up. This process
never writes to a filesystem that may be frozen (its writers are children).
"""

import argparse
import errno
import fcntl
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from qzsys import loop_backing, mountinfo  # noqa: E402

FIFREEZE = 0xC0045877
FITHAW = 0xC0045878
FROZEN_SECS = 10
CYCLES = 20
PROBES = 200

# mkfs runs on the loop device, as on a disk; "ext4-file" runs it on the image
# file instead, where mke2fs zeroes the inode tables itself (fallocate) and
# marks them ITABLE_ZEROED, so the kernel's lazy itable init has nothing to do.
MKFS = {
    "ext4": (["mkfs.ext4", "-q", "-F"], "ext4", "4G"),
    "ext4-file": (["mkfs.ext4", "-q", "-F"], "ext4", "4G"),
    "ext4-nolazy": (["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0"], "ext4", "4G"),
    "xfs": (["mkfs.xfs", "-q", "-f"], "xfs", "2G"),
    "btrfs": (["mkfs.btrfs", "-q", "-f"], "btrfs", "2G"),
}

WRITER_SRC = r"""
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
buf = b"x" * 65536
off, cap = 0, 256 << 20
print("R", flush=True)
while True:
    os.pwrite(fd, buf, off)   # buffered, never fsynced
    off = (off + len(buf)) % cap
"""


class Interrupted(Exception):
    pass


def sh(cmd, timeout=120, check=True):
    p = subprocess.run([str(c) for c in cmd], timeout=timeout, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: {p.returncode} {p.stderr.strip()}")
    return p


def quiet(cmd, timeout=30):
    try:
        return subprocess.run([str(c) for c in cmd], timeout=timeout, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode
    except Exception:
        return None


def devno(path):
    r = os.stat(path).st_rdev
    return os.major(r), os.minor(r)


def sectors_written(majmin):
    with open("/sys/dev/block/%d:%d/stat" % majmin) as f:
        return int(f.read().split()[6])


def wchan(pid):
    try:
        with open(f"/proc/{pid}/wchan") as f:
            w = f.read().strip()
    except OSError:
        w = "?"
    try:
        with open(f"/proc/{pid}/stack") as f:
            st = f.read()
    except OSError:
        st = ""
    return w, ("percpu_rwsem" in w or "percpu_rwsem" in st or "sb_start" in st)


class Exp:
    def __init__(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="qz-exp-freeze-", dir="/tmp"))
        (self.tmp / "owner.pid").write_text(f"{os.getpid()}\n")
        self.mounts = []  # (mnt, dev)
        self.loops = []
        self.writers = []
        self.fds = {}
        self.mountlist = self.tmp / "mounts"
        self.mountlist.write_text("")
        # the watchdog: if this process dies without its cleanup, thaw our mounts
        self.watchdog = subprocess.Popen(
            ["sh", "-c", 'while kill -0 "$1" 2>/dev/null; do sleep 0.5; done; '
             'while read -r m; do fsfreeze -u "$m"; done < "$2"', "watchdog", str(os.getpid()),
             str(self.mountlist)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)

    def make(self, kind):
        mkfs, fstype, size = MKFS[kind]
        img = self.tmp / f"{kind}.img"
        with open(img, "wb") as f:
            f.truncate({"G": 1 << 30}[size[-1]] * int(size[:-1]))
        if kind.endswith("-file"):
            sh(mkfs + [img])
        dev = sh(["losetup", "--find", "--show", img]).stdout.strip()
        self.loops.append(dev)
        if not kind.endswith("-file"):
            sh(mkfs + [dev])
        mnt = self.tmp / kind
        mnt.mkdir()
        sh(["mount", "-t", fstype, dev, mnt])
        self.mounts.append((mnt, dev))
        with open(self.mountlist, "a") as f:
            f.write(f"{mnt}\n")
        return mnt, dev

    def check(self, mnt, dev):
        """SAFETY: mnt is mounted from our loop device, whose image is in our dir."""
        m = [x for x in mountinfo() if x.target == str(mnt)]
        if len(m) != 1 or m[0].source != dev:
            raise AssertionError(f"SAFETY: {mnt} is not our mount of {dev}: {m}")
        if not (loop_backing(dev) or "").startswith(str(self.tmp) + "/"):
            raise AssertionError(f"SAFETY: {dev} is not backed by an image of ours")

    def fd(self, mnt, dev):
        if mnt not in self.fds:
            self.check(mnt, dev)
            self.fds[mnt] = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
        return self.fds[mnt]

    def writer(self, mnt):
        p = subprocess.Popen([sys.executable, "-S", "-c", WRITER_SRC, str(mnt / "w.dat")],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                             text=True)
        self.writers.append(p)
        if p.stdout.readline().strip() != "R":
            raise RuntimeError("writer did not start")
        return p

    def stop_writer(self, p, mnt):
        """Thaw first: a writer blocked on the freeze lock sleeps uninterruptibly."""
        quiet(["fsfreeze", "-u", mnt])
        p.kill()
        p.wait(timeout=30)
        p.stdout.close()
        self.writers.remove(p)

    def cleanup(self):
        old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        signal.alarm(0)
        problems = []
        try:
            for mnt, _ in self.mounts:
                quiet(["fsfreeze", "-u", mnt])
            for p in self.writers:
                p.kill()
            for p in self.writers:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    problems.append(f"writer {p.pid} did not exit")
            for fd in self.fds.values():
                os.close(fd)
            self.fds.clear()
            for mnt, dev in reversed(self.mounts):
                if quiet(["umount", mnt], timeout=60) != 0:
                    quiet(["fsfreeze", "-u", mnt])
                    if quiet(["umount", mnt], timeout=60) != 0:
                        problems.append(f"cannot unmount {mnt}")
            for dev in reversed(self.loops):
                if loop_backing(dev):
                    quiet(["losetup", "-d", dev])
            if any(m.target.startswith(str(self.tmp) + "/") for m in mountinfo()):
                problems.append("mounts left")
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)
            self.watchdog.terminate()
            self.watchdog.wait(timeout=10)
        finally:
            for s, h in old.items():
                signal.signal(s, h)
        return problems


def freeze(fd):
    fcntl.ioctl(fd, FIFREEZE, 0)


def thaw(fd):
    fcntl.ioctl(fd, FITHAW, 0)


def measure_frozen(e, fd, mnt, stat_dev, with_writer):
    """a and e: freeze, stat right after, at 1 s, then every second to 10 s."""
    w = None
    if with_writer:
        w = e.writer(mnt)
        time.sleep(2)  # dirty data in the page cache, writeback in flight
    before = sectors_written(stat_dev)
    t0 = time.monotonic()
    freeze(fd)
    freeze_ms = (time.monotonic() - t0) * 1e3
    s0 = sectors_written(stat_dev)
    t1 = time.monotonic()
    samples = []
    for i in range(1, FROZEN_SECS + 1):
        time.sleep(max(0.0, t1 + i - time.monotonic()))
        samples.append(sectors_written(stat_dev) - s0)
    blocked = None
    if w:
        blocked = wchan(w.pid)
    thaw(fd)
    if w:
        e.stop_writer(w, mnt)
    return {"freeze_ms": round(freeze_ms, 1), "freeze_sectors": s0 - before,
            "after_1s": samples[0], "after_10s": samples[-1], "per_second": samples,
            "writer_wchan": blocked[0] if blocked else None,
            "writer_blocked": blocked[1] if blocked else None}


def probe(fd):
    """b: probe FIFREEZEs on the frozen fs."""
    errs, us = {}, []
    for _ in range(PROBES):
        t = time.perf_counter_ns()
        try:
            freeze(fd)
            err = "OK(!)"
        except OSError as ex:
            err = errno.errorcode.get(ex.errno, str(ex.errno))
        us.append((time.perf_counter_ns() - t) / 1e3)
        errs[err] = errs.get(err, 0) + 1
    return {"answers": errs, "us_median": round(statistics.median(us), 1),
            "us_p99": round(sorted(us)[int(len(us) * 0.99) - 1], 1), "us_max": round(max(us), 1)}


def cycles(e, fd, mnt, stat_dev, with_writer):
    """c: FITHAW immediately followed by FIFREEZE, CYCLES times, 0.5 s apart."""
    w = None
    if with_writer:
        w = e.writer(mnt)
        time.sleep(1)
    freeze(fd)
    time.sleep(1)
    per, gaps = [], []
    for _ in range(CYCLES):
        a = sectors_written(stat_dev)
        t = time.perf_counter_ns()
        thaw(fd)
        t1 = time.perf_counter_ns()
        freeze(fd)
        t2 = time.perf_counter_ns()
        per.append(sectors_written(stat_dev) - a)
        gaps.append(((t1 - t) / 1e3, (t2 - t1) / 1e3))
        time.sleep(0.5)
    thaw(fd)
    if w:
        e.stop_writer(w, mnt)
    return {"sectors_per_cycle": per, "cycles_without_trace": sum(1 for x in per if x == 0),
            "thaw_us_median": round(statistics.median(g[0] for g in gaps), 1),
            "refreeze_us_median": round(statistics.median(g[1] for g in gaps), 1)}


def btrfs_devices(mnt, dev):
    info = [m for m in mountinfo() if m.target == str(mnt)][0]
    out = {"mountinfo_majmin": info.devno, "st_dev_of_mount": "%d:%d" % (os.major(os.stat(mnt).st_dev),
                                                                         os.minor(os.stat(mnt).st_dev)),
           "source": info.source, "source_st_rdev": "%d:%d" % devno(info.source)}
    for d in Path("/sys/fs/btrfs").iterdir():
        devs = d / "devices"
        if devs.is_dir() and os.path.basename(dev) in os.listdir(devs):
            out["fsid"] = d.name
            out["sysfs_devices"] = {n: os.readlink(devs / n) for n in os.listdir(devs)}
            out["dev_file_of_sysfs_entry"] = (devs / os.path.basename(dev) / "dev").read_text().strip()
    return out


def run_one(e, kind):
    mnt, dev = e.make(kind)
    stat_dev = devno(dev)
    r = {"kind": kind, "dev": dev, "stat": "/sys/dev/block/%d:%d/stat" % stat_dev}
    if MKFS[kind][1] == "btrfs":
        r["btrfs"] = btrfs_devices(mnt, dev)
    else:
        r["mountinfo_majmin"] = [m for m in mountinfo() if m.target == str(mnt)][0].devno
    fd = e.fd(mnt, dev)
    # frozen 0.3 s after the mount, while ext4's lazy init (if any) is at work
    time.sleep(0.3)
    r["frozen_after_mount"] = measure_frozen(e, fd, mnt, stat_dev, False)
    # background activity after that thaw (lazy init, log workers) over 3 s
    a = sectors_written(stat_dev)
    time.sleep(3)
    r["idle_unfrozen_3s"] = sectors_written(stat_dev) - a
    r["frozen_idle"] = measure_frozen(e, fd, mnt, stat_dev, False)
    freeze(fd)
    r["probe"] = probe(fd)
    thaw(fd)
    r["frozen_writer"] = measure_frozen(e, fd, mnt, stat_dev, True)
    r["cycles_idle"] = cycles(e, fd, mnt, stat_dev, False)
    r["cycles_writer"] = cycles(e, fd, mnt, stat_dev, True)
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fs", default="ext4,ext4-file,ext4-nolazy,xfs,btrfs")
    ap.add_argument("--json")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root")

    def on_signal(signum, frame):
        raise Interrupted(f"signal {signum}")

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        signal.signal(s, on_signal)
    e = Exp()
    results = []
    try:
        signal.alarm(150 * len(args.fs.split(",")))
        for kind in args.fs.split(","):
            r = run_one(e, kind)
            results.append(r)
            print(json.dumps(r), flush=True)
    finally:
        problems = e.cleanup()
        if problems:
            print("CLEANUP PROBLEMS:", problems, file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
