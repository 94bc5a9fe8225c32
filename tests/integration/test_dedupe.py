# SPDX-License-Identifier: GPL-2.0-or-later
"""Identity is the superblock: bind mounts and btrfs subvolumes name the same
filesystem (mountinfo major:minor) and are frozen once (DESIGN.md rule 1)."""

import os

from qzharness import hold_from_json, mount_of, run


def _freeze_json(h, d, *paths, timeout="10s"):
    r = h.quiesce("freeze", "--detach", "--json", "--timeout", timeout, *paths, daemon=d)
    assert r.returncode == 0, r.stderr
    return hold_from_json(r.stdout)


def test_bind_mount_dedupe(h, qd, fs):
    (fs.mnt / "d").mkdir()
    b = h.bind(fs.mnt / "d")
    dev = mount_of(fs.mnt)[1]
    assert mount_of(b.mnt)[1] == dev
    f0, t0 = qd.counters()

    hold = _freeze_json(h, qd, fs.mnt, b.mnt)
    ids = [x["id"] for x in hold["filesystems"]]
    assert ids == [dev], f"a group of a mount and its bind mount gave filesystems {ids}, expected [{dev}]"
    assert qd.counters()[0] - f0 == 1
    h.assert_frozen(b.mnt)
    assert h.quiesce("thaw", "--hold", hold["id"], daemon=qd).returncode == 0
    h.assert_thawed(fs.mnt)
    assert qd.counters() == (f0 + 1, t0 + 1)

    # two holds through the two mounts nest on one superblock
    h.freeze_detached(qd, fs.mnt)
    h.freeze_detached(qd, b.mnt)
    assert qd.counters()[0] - f0 == 2, "the second mount of a frozen superblock was frozen again"
    fss = [x for x in qd.status()["filesystems"] if x["id"] == dev]
    assert len(fss) == 1 and len(fss[0]["holds"]) == 2, fss
    w = h.blocked_writer(fs.mnt)
    assert h.quiesce("thaw", b.mnt, daemon=qd).returncode == 0
    assert not w.done(1.0), "thaw through the bind mount released both holds"
    assert h.quiesce("thaw", fs.mnt, daemon=qd).returncode == 0
    assert w.done(5.0)
    assert qd.counters() == (f0 + 2, t0 + 2)


def test_btrfs_subvolume_dedupe(h, qd):
    fs = h.make_fs("btrfs")
    run(["btrfs", "subvolume", "create", fs.mnt / "sv"])
    sv = h.mount_subvol(fs, "sv")
    dev = mount_of(fs.mnt)[1]
    # the premise: st_dev differs between the top and the subvolume ...
    assert os.stat(fs.mnt).st_dev != os.stat(fs.mnt / "sv").st_dev
    # ... while mountinfo names one superblock
    assert mount_of(sv.mnt)[1] == dev
    f0, t0 = qd.counters()

    hold = _freeze_json(h, qd, fs.mnt / "sv", sv.mnt, fs.mnt)
    ids = [x["id"] for x in hold["filesystems"]]
    assert ids == [dev], f"subvolumes gave filesystems {ids}, expected [{dev}]"
    assert qd.counters()[0] - f0 == 1
    h.assert_frozen(sv.mnt)
    assert h.quiesce("thaw", "--hold", hold["id"], daemon=qd).returncode == 0
    h.assert_thawed(sv.mnt)

    a = h.freeze_detached(qd, fs.mnt / "sv")
    b = h.freeze_detached(qd, sv.mnt)
    assert qd.counters()[0] - f0 == 2
    fss = [x for x in qd.status()["filesystems"] if x["id"] == dev]
    assert len(fss) == 1 and {x["id"] for x in fss[0]["holds"]} == {a, b}, fss
    w = h.blocked_writer(fs.mnt)
    assert h.quiesce("thaw", "--hold", a, daemon=qd).returncode == 0
    assert not w.done(1.0)
    assert h.quiesce("thaw", "--hold", b, daemon=qd).returncode == 0
    assert w.done(5.0)
    assert qd.counters() == (f0 + 2, t0 + 2)
