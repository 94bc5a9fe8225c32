# SPDX-License-Identifier: GPL-2.0-or-later
"""qzsys - small readers of /proc and /sys that the integration tests'
harness (tests/integration/qzharness.py) and the benchmarks
(bench/benchlib.py) share: the mount table, a loop device's backing file,
whether a process is alive, its children, and "256M"-style sizes.
"""

import os
import re
from collections import namedtuple

Mount = namedtuple("Mount", "id devno root target fstype source")


def _unescape(s):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def mountinfo():
    """[Mount(id, 'maj:min', root, target, fstype, source)] from
    /proc/self/mountinfo, in mount order (later entries over-mount earlier)."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            a, b = line.split(" - ", 1)
            fa, fb = a.split(), b.split()
            out.append(Mount(int(fa[0]), fa[2], _unescape(fa[3]), _unescape(fa[4]), fb[0], _unescape(fb[1])))
    return out


def loop_backing(dev):
    """The backing file of a loop device (/dev/loopN or loopN), or None."""
    try:
        with open(f"/sys/block/{os.path.basename(dev)}/loop/backing_file") as f:
            return f.read().strip()
    except OSError:
        return None


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def traced(pid):
    """True while something ptraces pid: under ASan, LeakSanitizer's tracer
    during the exit-time leak scan (a process to leave alone until it ends)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("TracerPid:"):
                    return int(line.split()[1]) != 0
    except (OSError, ValueError):
        pass
    return False


def children_of(pid):
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return kids


def size_bytes(s):
    """'256M' -> 268435456 (K, M, G; either case), or a plain number."""
    s = str(s)
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if s[-1].upper() in units:
        return int(s[:-1]) * units[s[-1].upper()]
    return int(s)
