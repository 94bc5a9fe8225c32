# SPDX-License-Identifier: GPL-2.0-or-later
"""Self-tests of the test machinery, with util-linux fsfreeze only: the
frozen-probe, the nested-image cleanup order and the safety check must work
before any quiesce test can be believed."""

import pytest

from qzharness import Harness, leftovers, mount_of


def test_probe_sees_fsfreeze(h, fs):
    assert not h.is_frozen(fs.mnt)
    assert h.fsfreeze(fs.mnt).returncode == 0
    w = h.blocked_writer(fs.mnt)
    assert h.fsfreeze(fs.mnt, unfreeze=True).returncode == 0
    assert w.done(5.0)
    fs.remount()
    assert (fs.mnt / w.path.name).read_text() == w.data


def test_cleanup_of_frozen_nested_images(helpers):
    """Cleanup copes with an inner image frozen on a frozen outer XFS, with
    blocked writers on both, and leaves no mount or loop device behind."""
    hh = Harness("selftest", helpers)
    try:
        outer = hh.make_fs("xfs")
        inner = hh.make_fs("ext4", parent=outer.mnt)
        assert mount_of(inner.mnt)[3] == str(inner.mnt)
        assert hh.fsfreeze(inner.mnt).returncode == 0
        assert hh.fsfreeze(outer.mnt).returncode == 0
        hh.blocked_writer(inner.mnt)
        hh.blocked_writer(outer.mnt)
    finally:
        problems = hh.cleanup()
    assert problems == []
    mounts, loops = leftovers()
    assert not [m for m in mounts if str(hh.tmp) in m]
    assert not [l for l in loops if str(hh.tmp) in l]
    assert not hh.tmp.exists()


def test_safety_check_refuses_foreign_mounts(h, ext4):
    h.check_freezable([str(ext4.mnt), str(ext4.mnt / "x")])
    for p in ("/", "/tmp", str(h.tmp), "/work"):
        with pytest.raises(AssertionError, match="SAFETY"):
            h.check_freezable([p])
    h.check_freezable(["/"], no_deadline=True)
