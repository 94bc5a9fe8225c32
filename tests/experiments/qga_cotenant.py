#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""qga_cotenant - what qemu-guest-agent's fsfreeze commands do to freezes
that are not its own (an experiment, not part of the test suite; the
behaviours quiesce depends on are asserted in
tests/integration/test_qga_cotenant.py).

Run as root, one freezer at a time (qemu-ga's thaw touches every mount):
    flock /tmp/qz-freeze.lock python3 tests/experiments/qga_cotenant.py

It makes two loop ext4 mounts A and B and a btrfs C with the integration
harness (tests/integration/qzharness.py: only those are ever frozen; cleanup
on every exit path), starts qemu-ga through Harness.start_qga(), traces its
ioctls with `strace -f -y -e trace=ioctl -p PID`, and prints what each step
answered and which FIFREEZE/FITHAW calls it made on which paths.
"""

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
import qzharness  # noqa: E402


def frozen(m):
    """Frozen or not, without writing: a probe FIFREEZE (EBUSY = frozen; if it
    succeeds the fs was not frozen, and it is thawed again at once)."""
    import fcntl
    fd = os.open(m.mnt, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.ioctl(fd, qzharness.FIFREEZE, 0)
        except OSError as e:
            if e.errno == 16:
                return True
            raise
        fcntl.ioctl(fd, qzharness.FITHAW, 0)
        return False
    finally:
        os.close(fd)


class Trace:
    def __init__(self, h, pid):
        self.path = h.tmp / "strace.out"
        self.proc = subprocess.Popen(["strace", "-f", "-y", "-e", "trace=ioctl", "-o", str(self.path),
                                      "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        h.procs.append(self.proc)
        deadline = time.monotonic() + 5
        while not qzharness.traced(pid):
            if time.monotonic() > deadline:
                raise RuntimeError("strace did not attach")
            time.sleep(0.02)
        self.pos = 0

    def since_last(self, ours):
        """The FIFREEZE/FITHAW calls since the last call: [(path, op, result)],
        the paths of our mounts by name, the others as 'other:PATH'."""
        time.sleep(0.2)
        text = self.path.read_text(errors="replace")
        new, self.pos = text[self.pos:], len(text)
        out = []
        for line in new.splitlines():
            m = re.search(r"ioctl\(\d+<([^>]*)>, (FIFREEZE|FITHAW)[^)]*\)\s*=\s*(.*)$", line)
            if m:
                path, op, res = m.groups()
                name = ours.get(path, "other:" + path)
                out.append((name, op, res.split(" (")[0]))
        return out


def summarize(calls):
    c = Counter(calls)
    return ", ".join(f"{n}x {p} {op}={r}" if n > 1 else f"{p} {op}={r}" for (p, op, r), n in c.items())


def main():
    h = qzharness.Harness(name="qga_exp")

    def on_signal(signum, frame):
        raise KeyboardInterrupt(signum)

    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        signal.signal(s, on_signal)
    signal.alarm(120)
    try:
        A, B, C = h.make_fs("ext4", name="A"), h.make_fs("ext4", name="B"), h.make_fs("btrfs", name="C")
        ours = {str(m.mnt): m.mnt.name for m in (A, B, C)}
        q = h.start_qga()
        tr = Trace(h, q.pid)

        def step(title, fn):
            try:
                r = repr(fn())
            except Exception as e:
                r = f"ERROR {e}"
            calls = tr.since_last(ours)
            others = [c for c in calls if c[0].startswith("other:")]
            mine = [c for c in calls if not c[0].startswith("other:")]
            print(f"\n## {title}\n  answer: {r}\n  status: {q.status()}   frozen: A={frozen(A)} B={frozen(B)} C={frozen(C)}")
            print(f"  ioctls on our mounts: {summarize(mine) or '-'}")
            if others:
                paths = sorted({c[0] for c in others})
                print(f"  ioctls on {len(paths)} other mounts: {summarize([('other', o, r) for _, o, r in others])}"
                      f"  ({', '.join(p[6:] for p in paths[:6])}{' ...' if len(paths) > 6 else ''})")

        step("status, nothing frozen", q.status)
        step("thaw, nothing frozen by anyone", q.thaw)
        h.fsfreeze(B)
        step("thaw, qemu-ga froze nothing, B frozen by fsfreeze -f", q.thaw)
        step("freeze-list [A]", lambda: q.freeze_list([A]))
        h.fsfreeze(B)
        h.fsfreeze(C)
        step("thaw after freeze-list [A], with B and C frozen by fsfreeze -f", q.thaw)
        h.fsfreeze(A)
        step("freeze-list [A], A already frozen by fsfreeze -f", lambda: q.freeze_list([A]))
        step("thaw (A still frozen by fsfreeze -f)", q.thaw)
        step("freeze-list [A, B]", lambda: q.freeze_list([A, B]))
        h.fsfreeze(A, unfreeze=True)
        step("status after fsfreeze -u A (qemu-ga's freeze of A lifted behind its back)", q.status)
        step("thaw (only B still frozen)", q.thaw)
        step("freeze-list [A/subdir] (not a mount point)", lambda: (A.mnt / "d").mkdir() or q.freeze_list([A.mnt / "d"]))
    finally:
        signal.alarm(0)
        problems = h.cleanup()
        if problems:
            print("CLEANUP PROBLEMS:", problems)


if __name__ == "__main__":
    main()
