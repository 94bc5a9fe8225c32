# SPDX-License-Identifier: GPL-2.0-or-later
"""The pre-flush throttle (src/daemon/throttle.h): while quiesced flushes a
filesystem ahead of FIFREEZE, the filesystem's bdi gets strict_limit=1 and a
max_bytes just above what it has dirty; afterwards, and if quiesced dies in
between, the administrator's settings are exactly what they were."""

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from qzharness import pid_alive

MiB = 1 << 20


def bdi_dir(fs):
    st = os.stat(fs.dev)
    d = Path(f"/sys/class/bdi/{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}")
    if not (d / "strict_limit").exists() or not (d / "max_ratio_fine").exists():
        pytest.skip(f"{d}: no strict_limit/max_ratio_fine (kernel before 6.2): the pre-flush is not throttled")
    return d


def knobs(d):
    return {k: (d / k).read_text().strip() for k in ("strict_limit", "max_ratio_fine")}


def set_knobs(d, strict, ratio_fine):
    (d / "max_ratio_fine").write_text(str(ratio_fine))
    (d / "strict_limit").write_text(str(strict))


def dirty(fs, mib, name="dirty.bin"):
    """Leaves about `mib` MiB of dirty page cache on fs (no sync)."""
    subprocess.run(["dd", "if=/dev/zero", f"of={fs.mnt}/{name}", "bs=1M", f"count={mib}", "status=none"],
                   check=True, timeout=60)


def freeze_until_throttled(h, qd, fs, d):
    """Starts quiesce freeze --detach of fs in the background and returns it
    once the bdi d is throttled, in the middle of the pre-flush."""
    p = h.quiesce_bg("freeze", "--detach", "--timeout", "10s", fs.mnt, daemon=qd)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and p.poll() is None:
        if (d / "strict_limit").read_text().strip() == "1":
            return p
        time.sleep(0.001)
    p.wait(timeout=20)
    pytest.skip("the pre-flush of 1 GiB ended before the throttle could be seen; nothing to kill in")


@pytest.fixture
def big_ext4(h):
    return h.make_fs("ext4", "2G")


def test_settings_restored_after_freeze(h, big_ext4):
    """A freeze of a filesystem with dirty data throttles its bdi during the
    pre-flush and puts back the exact settings (a non-default max_ratio_fine
    of 90 %) before it answers."""
    d = bdi_dir(big_ext4)
    set_knobs(d, 0, 900000)
    before = knobs(d)
    qd = h.start_daemon(extra=["--log-level", "debug"])
    dirty(big_ext4, 256)
    hold = h.freeze_detached(qd, big_ext4.mnt, timeout="10s")
    assert knobs(d) == before, f"{d}: settings after the freeze {knobs(d)}, before {before}"
    assert h.quiesce("thaw", "--hold", hold, daemon=qd).returncode == 0
    name = d.name
    qd.wait_for(lambda: f"bdi {name} throttled for the pre-flush" in qd.log_text(), timeout=5,
                what=f"the debug line saying bdi {name} was throttled")
    assert re.search(r"froze ext4 \S+ \(mounted at [^)]+\) in \d+ ms, after a \d+ ms pre-flush "
                     r"\(writers throttled\)", qd.log_text()), "the freeze's log line does not give its pre-flush"
    assert knobs(d) == before


def test_guard_restores_settings_when_quiesced_is_killed(h, big_ext4):
    """quiesced SIGKILLed in the middle of a throttled pre-flush: its guard
    writes the bdi's original settings back."""
    d = bdi_dir(big_ext4)
    set_knobs(d, 0, 1000000)
    before = knobs(d)
    qd = h.start_daemon()
    dirty(big_ext4, 1024)
    p = freeze_until_throttled(h, qd, big_ext4, d)
    qd.kill()
    deadline = time.monotonic() + 30  # a worker in syncfs holds the dying process until syncfs returns
    while time.monotonic() < deadline and knobs(d) != before:
        time.sleep(0.02)
    assert knobs(d) == before, f"{d}: {knobs(d)} after quiesced died, expected {before} back (the guard)"
    p.wait(timeout=30)
    h.assert_thawed(big_ext4.mnt)


def test_group_members_preflushed_and_restored(h):
    """A group of three filesystems, each with dirty data: every bdi is
    throttled and restored, one FIFREEZE each."""
    fss = [h.make_fs("ext4", "1G") for _ in range(3)]
    dirs = [bdi_dir(f) for f in fss]
    for d in dirs:
        set_knobs(d, 0, 1000000)
    before = [knobs(d) for d in dirs]
    qd = h.start_daemon(extra=["--log-level", "debug"])
    for f in fss:
        dirty(f, 128)
    hold = h.freeze_detached(qd, *[f.mnt for f in fss], timeout="10s")
    assert [knobs(d) for d in dirs] == before
    assert h.quiesce("thaw", "--hold", hold, daemon=qd).returncode == 0
    qd.wait_counters((3, 3))
    for d in dirs:
        qd.wait_for(lambda: f"bdi {d.name} throttled for the pre-flush" in qd.log_text(), timeout=5,
                    what=f"bdi {d.name} throttled")


def test_no_throttle_leaves_bdi_alone(h, big_ext4):
    """quiesced --no-throttle: a plain syncfs; the bdi's settings are never written."""
    d = bdi_dir(big_ext4)
    set_knobs(d, 0, 1000000)
    qd = h.start_daemon(extra=["--no-throttle", "--log-level", "debug"])
    dirty(big_ext4, 128)
    seen = []
    p = h.quiesce_bg("freeze", "--detach", "--timeout", "10s", big_ext4.mnt, daemon=qd)
    while p.poll() is None:
        seen.append((d / "strict_limit").read_text().strip())
        time.sleep(0.001)
    assert p.returncode == 0, p.stderr.read()
    hold = int(p.stdout.read().strip())
    assert h.quiesce("thaw", "--hold", hold, daemon=qd).returncode == 0
    assert set(seen) <= {"0"}, "strict_limit was changed with --no-throttle"
    assert "throttled for the pre-flush" not in qd.log_text()
    assert re.search(r"after a \d+ ms pre-flush$", qd.log_text(), re.M), "the freeze's log line lost its pre-flush"
    assert "(writers throttled)" not in qd.log_text()


def test_next_quiesced_restores_when_daemon_and_guard_die(h, big_ext4):
    """quiesced and its guard SIGKILLed together during a throttled pre-flush
    (as a service's whole cgroup can be): the bdi stays throttled until the
    next quiesced on that runtime directory starts, which puts it back."""
    d = bdi_dir(big_ext4)
    set_knobs(d, 0, 1000000)
    before = knobs(d)
    sock = h.tmp / "rt" / "quiesced.sock"
    sock.parent.mkdir()
    qd = h.start_daemon(socket_path=sock)
    dirty(big_ext4, 1024)
    p = freeze_until_throttled(h, qd, big_ext4, d)
    assert list(sock.parent.glob(f"bdi-throttle.{d.name}")), "no state file for the throttled bdi"
    for pid in qd.guard_pids + [qd.pid]:
        os.kill(pid, 9)
    # A worker in syncfs keeps the killed process (and its socket) until
    # syncfs returns; the freeze never happens. Wait for all of it to go.
    qd.proc.wait(timeout=120)
    qd.wait_for(lambda: not any(pid_alive(g) for g in qd.guard_pids), timeout=10, what="the guard's end")
    p.wait(timeout=60)
    assert knobs(d)["strict_limit"] == "1", "the bdi was restored although nobody was left to do it"
    qd2 = h.start_daemon(socket_path=sock)
    assert knobs(d) == before, f"{d}: {knobs(d)} after a new quiesced started, expected {before}"
    assert not list(sock.parent.glob("bdi-throttle.*")), "the state file was not removed"
    qd2.wait_for(lambda: f"bdi {d.name}: put back strict_limit 0, max_ratio_fine 1000000" in qd2.log_text(),
                 timeout=5, what="the notice that the bdi was put back")
    h.assert_thawed(big_ext4.mnt)
