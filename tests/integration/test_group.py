# SPDX-License-Identifier: GPL-2.0-or-later
"""Group freezes: several paths in one request, all-or-nothing, dependents
(a loop image's filesystem) before the filesystem holding the image, and a
slow freeze never holding up other filesystems (DESIGN.md rule 7; issue 2
items 3, 6)."""

import hashlib
import subprocess
import time

import pytest

from qzharness import hold_from_json, run


def _sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.mark.parametrize("order", ["outer-first", "inner-first"])
def test_ext4_image_on_xfs_group_freeze(h, qd, order):
    """An ext4 image on an XFS mount, the ext4 holding dirty data, frozen as
    one group in either order of arguments: no hang, both frozen, both thawed."""
    outer = h.make_fs("xfs")
    inner = h.make_fs("ext4", parent=outer.mnt)
    run(["dd", "if=/dev/urandom", f"of={inner.mnt}/dirty", "bs=1M", "count=24", "status=none"])
    digest = _sha(inner.mnt / "dirty")
    paths = [outer.mnt, inner.mnt] if order == "outer-first" else [inner.mnt, outer.mnt]
    f0, t0 = qd.counters()
    start = time.monotonic()
    try:
        r = h.quiesce("freeze", "--detach", "--json", "--timeout", "12s", *paths, daemon=qd,
                      timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("the group freeze of an ext4 image and the XFS holding it hung")
    assert r.returncode == 0, r.stderr
    took = time.monotonic() - start
    assert took < 10, f"the group freeze took {took:.1f}s"
    hold = hold_from_json(r.stdout)
    assert len(hold["filesystems"]) == 2
    assert qd.counters()[0] - f0 == 2
    wi = h.blocked_writer(inner.mnt)
    wo = h.blocked_writer(outer.mnt)
    assert h.quiesce("thaw", "--hold", hold["id"], daemon=qd, timeout=20).returncode == 0
    assert wi.done(5.0) and wo.done(5.0), "the group thaw left something frozen"
    assert qd.counters() == (f0 + 2, t0 + 2)
    inner.remount()
    assert _sha(inner.mnt / "dirty") == digest, "the dirty data did not survive"


def test_group_all_or_nothing(h, qd):
    a = h.make_fs("ext4")
    b = h.make_fs("xfs")
    t = h.tmpfs()
    for paths in ([a.mnt, t.mnt], [t.mnt, a.mnt]):
        f0, t0 = qd.counters()
        r = h.quiesce("freeze", "--detach", "--timeout", "5s", *paths, daemon=qd)
        assert r.returncode == 1, r.stderr
        assert str(t.mnt) in r.stderr, f"the error does not name the failing mount: {r.stderr!r}"
        h.assert_thawed(a.mnt)
        f1, t1 = qd.counters()
        assert f1 - f0 == t1 - t0, "a failed group freeze left something frozen"
        assert qd.holds_on(a.mnt) == []

    assert h.fsfreeze(b.mnt).returncode == 0
    for paths in ([a.mnt, b.mnt], [b.mnt, a.mnt]):
        f0, t0 = qd.counters()
        r = h.quiesce("freeze", "--detach", "--timeout", "5s", *paths, daemon=qd)
        assert r.returncode == 1, r.stderr
        assert str(b.mnt) in r.stderr, f"the error does not name the failing mount: {r.stderr!r}"
        h.assert_thawed(a.mnt)
        f1, t1 = qd.counters()
        assert f1 - f0 == t1 - t0 or (f1 - f0 == t1 - t0 + 1 and qd.holds_on(a.mnt) == []), \
            "rollback mismatch"
        assert qd.holds_on(a.mnt) == []
    wb = h.blocked_writer(b.mnt)
    assert not wb.done(0.5), "the rollback thawed the filesystem fsfreeze had frozen"
    h.fsfreeze(b.mnt, unfreeze=True)
    assert wb.done(5.0)


def test_group_hold_thaw_by_path(h, qd):
    """A group hold releases one filesystem at a time when thawed by path."""
    a = h.make_fs("ext4")
    b = h.make_fs("btrfs")
    hid = h.freeze_detached(qd, a.mnt, b.mnt)
    wa = h.blocked_writer(a.mnt)
    wb = h.blocked_writer(b.mnt)
    r = h.quiesce("thaw", a.mnt, daemon=qd)
    assert r.returncode == 0, r.stderr
    assert wa.done(5.0), "thaw by path did not release that filesystem"
    assert not wb.done(0.5), "thaw of one path released the whole group"
    assert [x["id"] for x in qd.holds_on(b.mnt)] == [hid]
    assert h.quiesce("thaw", b.mnt, daemon=qd).returncode == 0
    assert wb.done(5.0)


@pytest.mark.timeout(120)
def test_slow_freeze_does_not_block_others(h):
    """A freeze stuck in the kernel (its loop image lies on a filesystem that
    fsfreeze froze) must not delay status, freezes, thaws or deadlines of
    other filesystems."""
    outer = h.make_fs("xfs")
    stuck = h.make_fs("ext4", parent=outer.mnt)
    other = h.make_fs("btrfs")
    d = h.start_daemon(max_frozen="30s")
    run(["dd", "if=/dev/urandom", f"of={stuck.mnt}/dirty", "bs=1M", "count=8", "status=none"])
    assert h.fsfreeze(outer.mnt).returncode == 0
    slow = h.quiesce_bg("freeze", "--detach", "--timeout", "20s", stuck.mnt, daemon=d)
    time.sleep(1.0)
    assert slow.poll() is None, "premise: the freeze of the image on a frozen XFS should be stuck"

    t = time.monotonic()
    st = d.status()
    assert time.monotonic() - t < 1.0, "status waited for a slow freeze"
    assert "filesystems" in st

    t = time.monotonic()
    try:
        hid = h.freeze_detached(d, other.mnt, timeout="2s")
    except subprocess.TimeoutExpired:
        pytest.fail("a freeze of another filesystem waited for the stuck one")
    assert time.monotonic() - t < 5.0
    w = h.blocked_writer(other.mnt)
    assert w.done(6.0), "a deadline on another filesystem waited for the stuck freeze"
    hid = h.freeze_detached(d, other.mnt, timeout="10s")
    t = time.monotonic()
    r = h.quiesce("thaw", "--hold", hid, daemon=d, timeout=10)
    assert r.returncode == 0 and time.monotonic() - t < 3.0, "a thaw waited for the stuck freeze"
    h.assert_thawed(other.mnt)

    assert h.fsfreeze(outer.mnt, unfreeze=True).returncode == 0
    assert slow.wait(timeout=30) == 0, slow.stderr.read()
    h.assert_frozen(stuck.mnt)
    assert h.quiesce("thaw", stuck.mnt, daemon=d).returncode == 0
    h.assert_thawed(stuck.mnt)


def test_nested_image_group_deadline(h, qd):
    """The deadline of a group hold over an ext4 image and the XFS holding
    it thaws both (outer first, or the inner thaw would wait on the outer)."""
    outer = h.make_fs("xfs")
    inner = h.make_fs("ext4", parent=outer.mnt)
    run(["dd", "if=/dev/zero", f"of={inner.mnt}/dirty", "bs=1M", "count=8", "status=none"])
    h.freeze_detached(qd, inner.mnt, outer.mnt, timeout="2s")
    wi = h.blocked_writer(inner.mnt)
    wo = h.blocked_writer(outer.mnt)
    assert wo.done(6.0) and wi.done(6.0), "the group deadline did not thaw both"
    assert qd.holds_on(inner.mnt) == [] and qd.holds_on(outer.mnt) == []


def test_guard_thaws_nested_image_group(h):
    """quiesced killed while an ext4 image and the XFS holding it are frozen:
    the guard thaws both within a second."""
    outer = h.make_fs("xfs")
    inner = h.make_fs("ext4", parent=outer.mnt)
    d = h.start_daemon(max_frozen="30s")
    run(["dd", "if=/dev/zero", f"of={inner.mnt}/dirty", "bs=1M", "count=8", "status=none"])
    h.freeze_detached(d, outer.mnt, inner.mnt, timeout="30s")
    wi = h.blocked_writer(inner.mnt)
    wo = h.blocked_writer(outer.mnt)
    killed = time.monotonic()
    d.kill()
    d.proc.wait(timeout=5)
    assert wo.done(5.0) and wi.done(5.0), "the guard did not thaw the nested pair"
    for w, name in ((wo, "xfs (outer)"), (wi, "ext4 (inner)")):
        late = w.unblocked_at() - killed
        assert late <= 1.0, f"{name} thawed {late:.2f}s after SIGKILL"
