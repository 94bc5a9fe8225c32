# SPDX-License-Identifier: GPL-2.0-or-later
"""Deadlines: a hold's own deadline thaws by itself, reset-timeout re-arms it,
the --max-frozen ceiling force-thaws, and a gone hold answers EINVAL
(DESIGN.md rule 6)."""

import time

from qzharness import parse_qzcall


def _einval(r):
    return r.returncode == 1 and r.stderr.strip() != ""


def test_deadline_thaws_by_itself(h, qd, fs):
    f0, t0 = qd.counters()
    start = time.monotonic()
    hid = h.freeze_detached(qd, fs.mnt, timeout="2s")
    w = h.blocked_writer(fs.mnt)
    assert w.done(8.0), "the 2s deadline did not thaw the filesystem"
    waited = w.unblocked_at() - start
    assert 1.5 <= waited <= 4.0, f"thawed {waited:.2f}s after a 2s freeze"
    assert qd.holds_on(fs.mnt) == []
    qd.wait_counters((f0 + 1, t0 + 1))
    r = h.quiesce("thaw", "--hold", hid, daemon=qd)
    assert _einval(r), f"thaw of an expired hold: exit {r.returncode} {r.stderr!r}"


def test_reset_timeout_extends(h, qd, fs):
    start = time.monotonic()
    hid = h.freeze_detached(qd, fs.mnt, timeout="2s")
    time.sleep(max(0.0, start + 1.0 - time.monotonic()))
    r = h.quiesce("reset-timeout", "--timeout", "4s", "--hold", hid, daemon=qd)
    assert r.returncode == 0, r.stderr
    reset_at = time.monotonic()
    # past the original deadline (start + 2 s) it must still be frozen
    time.sleep(max(0.0, start + 2.8 - time.monotonic()))
    w = h.blocked_writer(fs.mnt)
    assert w.done(8.0), "the re-armed deadline never thawed"
    waited = w.unblocked_at() - reset_at
    assert 3.5 <= waited <= 6.0, f"thawed {waited:.2f}s after reset-timeout 4s"
    r = h.quiesce("reset-timeout", "--timeout", "4s", "--hold", hid, daemon=qd)
    assert _einval(r), f"reset-timeout after expiry: exit {r.returncode} {r.stderr!r}"
    r = h.quiesce("reset-timeout", "--timeout", "4s", fs.mnt, daemon=qd)
    assert _einval(r), f"reset-timeout by path after expiry: exit {r.returncode} {r.stderr!r}"


def test_reset_timeout_by_path(h, qd, ext4):
    start = time.monotonic()
    h.freeze_detached(qd, ext4.mnt, timeout="2s")
    r = h.quiesce("reset-timeout", "--timeout", "5s", ext4.mnt, daemon=qd)
    assert r.returncode == 0, r.stderr
    time.sleep(max(0.0, start + 3.0 - time.monotonic()))
    w = h.blocked_writer(ext4.mnt)
    assert w.done(8.0)
    assert w.unblocked_at() - start >= 4.0, "reset-timeout by path did not extend the deadline"


def test_reset_timeout_library_einval_after_expiry(h, qd, ext4):
    r = h.qzcall(qd, f"open:{ext4.mnt}", "freeze:2", "reset:3", "sleep:4500", "reset:5", "thaw")
    res = {(x["op"], i): x for i, x in enumerate(parse_qzcall(r.stdout))}
    ops = [x for x in parse_qzcall(r.stdout)]
    assert [x["op"] for x in ops] == ["open", "freeze", "reset", "sleep", "reset", "thaw"], r.stdout
    assert ops[1]["rc"] == 0 and ops[2]["rc"] == 0, res
    assert (ops[4]["rc"], ops[4]["errno"]) == (-1, "EINVAL"), ops[4]
    assert (ops[5]["rc"], ops[5]["errno"]) == (-1, "EINVAL"), ops[5]
    h.assert_thawed(ext4.mnt)


def test_ceiling_force_thaws_then_einval(h, fs):
    d = h.start_daemon(max_frozen="2s")
    start = time.monotonic()
    a = h.freeze_detached(d, fs.mnt, timeout="none")
    b = h.freeze_detached(d, fs.mnt, timeout="30s")
    w = h.blocked_writer(fs.mnt)
    assert w.done(8.0), "--max-frozen 2s did not force-thaw"
    waited = w.unblocked_at() - start
    assert 1.5 <= waited <= 4.0, f"force-thawed after {waited:.2f}s with --max-frozen 2s"
    assert d.holds_on(fs.mnt) == [], "force-thawed holds must be gone"
    for hid in (a, b):
        r = h.quiesce("reset-timeout", "--timeout", "5s", "--hold", hid, daemon=d)
        assert _einval(r), f"reset-timeout of force-thawed hold {hid}: {r.returncode} {r.stderr!r}"
        r = h.quiesce("thaw", "--hold", hid, daemon=d)
        assert _einval(r), f"thaw of force-thawed hold {hid}: {r.returncode} {r.stderr!r}"
    h.assert_thawed(fs.mnt)


def test_ceiling_library_einval(h, ext4):
    """qz_freeze with 0 (no deadline of its own): the ceiling still thaws,
    and the hold then answers EINVAL."""
    d = h.start_daemon(max_frozen="2s")
    r = h.qzcall(d, f"open:{ext4.mnt}", "freeze:0", "sleep:3500", "reset:5", "thaw")
    ops = parse_qzcall(r.stdout)
    assert [x["op"] for x in ops] == ["open", "freeze", "sleep", "reset", "thaw"], r.stdout
    assert ops[1]["rc"] == 0, ops[1]
    assert (ops[3]["rc"], ops[3]["errno"]) == (-1, "EINVAL"), ops[3]
    assert (ops[4]["rc"], ops[4]["errno"]) == (-1, "EINVAL"), ops[4]


def test_ceiling_thaws_connection_hold_and_library_sees_einval(h, ext4):
    """A non-detached hold of a live client is force-thawed by the ceiling too."""
    d = h.start_daemon(max_frozen="2s")
    p = h.qzcall(d, f"open:{ext4.mnt}", "freeze:1", "wait", "reset:5", background=True)
    from qzharness import read_qzcall_line
    assert read_qzcall_line(p)["rc"] == 0
    assert read_qzcall_line(p)["rc"] == 0
    w = h.blocked_writer(ext4.mnt)
    assert w.done(8.0), "the ceiling did not thaw a live client's hold"
    p.stdin.write("\n")
    p.stdin.flush()
    read_qzcall_line(p)
    r = read_qzcall_line(p)
    assert (r["op"], r["rc"], r["errno"]) == ("reset", -1, "EINVAL"), r


def test_detached_default_deadline_is_30s(h, qd, ext4):
    r = h.quiesce("freeze", "--detach", ext4.mnt, daemon=qd)
    assert r.returncode == 0, r.stderr
    hid = int(r.stdout.strip())
    holds = [x for x in qd.holds_on(ext4.mnt) if x["id"] == hid]
    assert holds, "hold not in status"
    rem = holds[0]["remaining_ms"]
    assert 25000 < rem <= 30000, f"detached freeze without --timeout: remaining_ms {rem}, expected 30s"
    r = h.quiesce("thaw", "--hold", hid, daemon=qd)
    assert r.returncode == 0


def test_timeout_none_has_no_deadline(h, qd, ext4):
    hid = h.freeze_detached(qd, ext4.mnt, timeout="none")
    holds = [x for x in qd.holds_on(ext4.mnt) if x["id"] == hid]
    assert holds and holds[0]["remaining_ms"] == -1, holds
    fs = qd.fs_status(ext4.mnt)
    assert 0 < fs["ceiling_ms"] <= 15000, f"the ceiling applies even without a deadline: {fs}"
    assert h.quiesce("thaw", "--hold", hid, daemon=qd).returncode == 0
    h.assert_thawed(ext4.mnt)


def test_durations(h, qd, ext4):
    hid = h.freeze_detached(qd, ext4.mnt, timeout="2m")
    rem = [x for x in qd.holds_on(ext4.mnt) if x["id"] == hid][0]["remaining_ms"]
    assert 115000 < rem <= 120000, f"--timeout 2m gave remaining_ms {rem}"
    assert h.quiesce("thaw", "--hold", hid, daemon=qd).returncode == 0
    h.assert_thawed(ext4.mnt)

    start = time.monotonic()
    h.freeze_detached(qd, ext4.mnt, timeout="500ms")
    w = h.writer(ext4.mnt)
    assert w.done(5.0), "--timeout 500ms did not thaw by itself"
    assert w.done() and time.monotonic() - start < 3.0

    r = h.quiesce("freeze", "--detach", "--timeout", "soon", ext4.mnt, daemon=qd)
    assert r.returncode == 2, f"bad duration: exit {r.returncode}, expected 2 (usage)"
    assert qd.holds_on(ext4.mnt) == []


def test_ceiling_caps_reset_timeout(h, ext4):
    """reset-timeout cannot push a freeze past --max-frozen."""
    d = h.start_daemon(max_frozen="3s")
    start = time.monotonic()
    hid = h.freeze_detached(d, ext4.mnt, timeout="2s")
    r = h.quiesce("reset-timeout", "--timeout", "30s", "--hold", hid, daemon=d)
    assert r.returncode == 0, r.stderr
    w = h.blocked_writer(ext4.mnt)
    assert w.done(8.0), "the ceiling did not thaw after reset-timeout"
    waited = w.unblocked_at() - start
    assert 2.5 <= waited <= 5.0, f"thawed {waited:.2f}s after the freeze, ceiling 3s"
