# SPDX-License-Identifier: GPL-2.0-or-later
"""qemu-guest-agent (qemu-ga 7.2) as a co-tenant: the behaviours of its
fsfreeze commands that quiesce has to live with (DESIGN.md "Proof of a
freeze"). Only qemu-ga and util-linux fsfreeze act here; quiesce is not
involved. See tests/experiments/qga_cotenant.py for the experiment (with
strace) these tests condense.

Its guest-fsfreeze-thaw calls FITHAW, until it fails, on every filesystem in
its mount table, whoever froze it: run these under /tmp/qz-freeze.lock.
"""

import pytest


def test_qga_thaw_lifts_a_freeze_it_did_not_make(h, fs):
    """qemu-ga has frozen nothing (status "thawed"); its thaw still lifts a
    freeze util-linux made on one of our mounts, and counts it."""
    q = h.start_qga()
    assert q.status() == "thawed"
    assert h.fsfreeze(fs).returncode == 0
    w = h.blocked_writer(fs)
    n = q.thaw()
    assert n >= 1, f"qemu-ga's thaw answered {n}: it did not count the freeze it lifted"
    assert w.done(5), f"{fs.mnt} still frozen after qemu-ga's thaw"
    assert q.status() == "thawed"
    assert h.fsfreeze(fs, unfreeze=True).returncode != 0, "still frozen: fsfreeze -u succeeded"


def test_qga_thaw_after_freeze_list_lifts_other_mounts(h):
    """After guest-fsfreeze-freeze-list of A, its thaw lifts B too (frozen by
    fsfreeze -f): its answer counts both."""
    a, b = h.make_fs("ext4"), h.make_fs("ext4")
    q = h.start_qga()
    assert q.freeze_list([a]) == 1
    assert q.status() == "frozen"
    assert h.fsfreeze(b).returncode == 0
    wa, wb = h.blocked_writer(a), h.blocked_writer(b)
    assert q.thaw() >= 2
    assert wa.done(5) and wb.done(5), "qemu-ga's thaw left A or B frozen"
    assert q.status() == "thawed"


def test_qga_status_is_its_own_idea(h):
    """guest-fsfreeze-status is not the filesystems' state. freeze-list of a
    mount already frozen by fsfreeze -f: FIFREEZE's EBUSY is no error to
    qemu-ga, it answers 0 and says "thawed" while the mount is frozen (and
    its thaw lifts that other freeze). A freeze of its own lifted behind its
    back (fsfreeze -u): it still says "frozen", and its thaw answers 0."""
    a = h.make_fs("ext4")
    q = h.start_qga()
    assert h.fsfreeze(a).returncode == 0
    assert q.freeze_list([a]) == 0
    assert q.status() == "thawed"
    w = h.blocked_writer(a)
    assert q.thaw() >= 1
    assert w.done(5), "qemu-ga's thaw did not lift the fsfreeze -f freeze"

    assert q.freeze_list([a]) == 1
    assert h.fsfreeze(a, unfreeze=True).returncode == 0
    h.assert_thawed(a)
    assert q.status() == "frozen"
    assert q.thaw() == 0, "nothing was frozen (this test must hold /tmp/qz-freeze.lock)"
    assert q.status() == "thawed"


@pytest.fixture(autouse=True)
def _needs_qemu_ga():
    import shutil
    if not shutil.which("qemu-ga"):
        pytest.skip("qemu-ga is not installed")
