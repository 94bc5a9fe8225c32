# SPDX-License-Identifier: GPL-2.0-or-later
"""The seed's nesting: several holds on one filesystem, frozen on the first,
thawed only on the last release (DESIGN.md rules 1, 2; issue 2 "Tests")."""

import time

from qzharness import blocked_on_freeze, parse_qzcall, read_qzcall_line


def test_nesting_two_freezes_one_thaw(h, qd, fs):
    """Two freezes, one thaw: a writer stays blocked; the last thaw: it
    completes and its data is on disk after a remount."""
    f0, t0 = qd.counters()
    a = h.freeze_detached(qd, fs.mnt, timeout="14s")
    b = h.freeze_detached(qd, fs.mnt, timeout="14s")
    assert a != b, "two freezes must be two holds"
    ids = {x["id"] for x in qd.holds_on(fs.mnt)}
    assert {a, b} <= ids, f"status holds {ids}, expected {a} and {b}"

    w = h.blocked_writer(fs.mnt)

    r = h.quiesce("thaw", fs.mnt, daemon=qd)
    assert r.returncode == 0, r.stderr
    assert not w.done(1.0), "the first of two thaws let a writer through"
    assert blocked_on_freeze(w.pid), "writer should still wait on the freeze"
    assert len(qd.holds_on(fs.mnt)) == 1

    r = h.quiesce("thaw", fs.mnt, daemon=qd)
    assert r.returncode == 0, r.stderr
    assert w.done(5.0), "the last thaw did not let the writer finish"

    f1, t1 = qd.counters()
    assert (f1 - f0, t1 - t0) == (1, 1), f"FIFREEZE/FITHAW calls: +{f1 - f0}/+{t1 - t0}, expected +1/+1"

    # no hold left; the filesystem is released by the daemon, so it unmounts
    assert qd.holds_on(fs.mnt) == []
    fs.remount()
    assert (fs.mnt / w.path.name).read_text() == w.data


def test_nesting_thaw_by_hold_id(h, qd, ext4):
    a = h.freeze_detached(qd, ext4.mnt)
    b = h.freeze_detached(qd, ext4.mnt)
    w = h.blocked_writer(ext4.mnt)

    r = h.quiesce("thaw", "--hold", a, daemon=qd)
    assert r.returncode == 0, r.stderr
    assert not w.done(1.0), "releasing one of two holds thawed the filesystem"

    r = h.quiesce("thaw", "--hold", a, daemon=qd)
    assert r.returncode == 1, f"thawing a released hold: exit {r.returncode}, expected 1"
    assert r.stderr.strip(), "an error needs a message"
    assert not w.done(0.5), "a failed thaw released something"

    r = h.quiesce("thaw", "--hold", b, daemon=qd)
    assert r.returncode == 0, r.stderr
    assert w.done(5.0)


def test_nesting_via_library_two_processes(h, qd, ext4):
    """Two programs using qz_freeze on one filesystem: the first qz_thaw
    leaves it frozen, the second thaws it."""
    p1 = h.qzcall(qd, f"open:{ext4.mnt}", "freeze:14", "wait", "thaw", "wait", background=True)
    p2 = h.qzcall(qd, f"open:{ext4.mnt}", "freeze:14", "wait", "thaw", "wait", background=True)
    for p in (p1, p2):
        assert read_qzcall_line(p)["rc"] == 0  # open
        r = read_qzcall_line(p)
        assert (r["op"], r["rc"]) == ("freeze", 0), r
    w = h.blocked_writer(ext4.mnt)

    p1.stdin.write("\n")
    p1.stdin.flush()
    assert read_qzcall_line(p1)["rc"] == 0  # wait
    r = read_qzcall_line(p1)
    assert (r["op"], r["rc"]) == ("thaw", 0), r
    assert not w.done(1.0), "one qz_thaw of two holds thawed the filesystem"

    p2.stdin.write("\n")
    p2.stdin.flush()
    assert read_qzcall_line(p2)["rc"] == 0
    r = read_qzcall_line(p2)
    assert (r["op"], r["rc"]) == ("thaw", 0), r
    assert w.done(5.0)
    for p in (p1, p2):
        p.stdin.close()
        p.wait(timeout=10)


def test_seed_deadlock_case(h, qd, fstype):
    """The seed's deadlock: a requester freezes, then writes to the same
    filesystem and blocks; its own deadline thaws it, the write completes,
    and the hold is then gone (EINVAL)."""
    fs = h.make_fs(fstype)
    t0 = time.monotonic()
    r = h.qzcall(qd, f"open:{fs.mnt}", "freeze:2", f"write:{fs.mnt}/seed.txt", "reset:5", "thaw",
                 timeout=30)
    res = parse_qzcall(r.stdout)
    ops = {x["op"]: x for x in res}
    assert [x["op"] for x in res] == ["open", "freeze", "write", "reset", "thaw"], r.stdout + r.stderr
    assert ops["freeze"]["rc"] == 0, ops["freeze"]
    assert ops["write"]["rc"] == 0, ops["write"]
    assert ops["write"]["ms"] >= 1500, f"the write did not block on the freeze ({ops['write']})"
    assert ops["write"]["mono"] - t0 < 8, "the deadline did not release the self-deadlock in time"
    assert (ops["reset"]["rc"], ops["reset"]["errno"]) == (-1, "EINVAL"), ops["reset"]
    assert (ops["thaw"]["rc"], ops["thaw"]["errno"]) == (-1, "EINVAL"), ops["thaw"]
    h.assert_thawed(fs.mnt)
    fs.remount()
    assert (fs.mnt / "seed.txt").read_text() == "qzcall was here\n"
