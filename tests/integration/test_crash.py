# SPDX-License-Identifier: GPL-2.0-or-later
"""Crashes: a client that dies loses its (non-detached) holds at once; a
quiesced killed with SIGKILL is followed by its guard, which thaws what the
daemon froze within a second and nothing else (DESIGN.md rule 5, the guard)."""

import signal
import time

import pytest

from qzharness import pid_alive, read_qzcall_line


def _wait_hold_of_pid(d, mount, pid, timeout=10):
    return d.wait_for(lambda: [x for x in d.holds_on(mount) if x.get("pid") == pid],
                      timeout=timeout, what=f"a hold of pid {pid} on {mount}")


def test_client_sigkill_loses_holds(h, qd, fs):
    """quiesce freeze in the foreground, kill -9: the filesystem thaws at once."""
    p = h.quiesce_bg("freeze", "--timeout", "14s", fs.mnt, daemon=qd)
    _wait_hold_of_pid(qd, fs.mnt, p.pid)
    w = h.blocked_writer(fs.mnt)
    killed = time.monotonic()
    p.kill()
    assert w.done(3.0), "the killed client's hold was not released"
    late = w.unblocked_at() - killed
    assert late <= 1.0, f"the filesystem thawed {late:.2f}s after the client died, not at once"
    assert qd.holds_on(fs.mnt) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_client_foreground_signal_thaws_exit0(h, qd, ext4, sig):
    p = h.quiesce_bg("freeze", "--timeout", "14s", ext4.mnt, daemon=qd)
    _wait_hold_of_pid(qd, ext4.mnt, p.pid)
    w = h.blocked_writer(ext4.mnt)
    p.send_signal(sig)
    rc = p.wait(timeout=10)
    assert rc == 0, f"quiesce freeze after {sig.name}: exit {rc}, expected 0; {p.stderr.read()!r}"
    assert w.done(3.0)
    assert qd.holds_on(ext4.mnt) == []


def test_library_client_sigkill_loses_holds(h, qd, ext4):
    p = h.qzcall(qd, f"open:{ext4.mnt}", "freeze:14", "wait", background=True)
    assert read_qzcall_line(p)["rc"] == 0
    r = read_qzcall_line(p)
    assert (r["op"], r["rc"]) == ("freeze", 0), r
    w = h.blocked_writer(ext4.mnt)
    killed = time.monotonic()
    p.kill()
    assert w.done(3.0), "the killed library client's hold was not released"
    assert w.unblocked_at() - killed <= 1.0


def test_detached_hold_survives_client_exit(h, qd, ext4):
    """A detached hold is not bound to the connection that took it."""
    h.freeze_detached(qd, ext4.mnt, timeout="14s")
    w = h.blocked_writer(ext4.mnt)
    assert not w.done(1.0), "the detached hold went away with its client"
    assert h.quiesce("thaw", ext4.mnt, daemon=qd).returncode == 0
    assert w.done(5.0)


@pytest.mark.parametrize("mode", ["two-holds", "group-hold"])
def test_daemon_sigkill_guard_thaws(h, mode):
    """quiesced killed with SIGKILL, detached holds on ext4 and XFS: the guard
    thaws both within 1 s and exits; a btrfs frozen by fsfreeze stays frozen."""
    a = h.make_fs("ext4")
    b = h.make_fs("xfs")
    c = h.make_fs("btrfs")
    d = h.start_daemon(max_frozen="30s")
    assert d.guard_pids, "quiesced forked no guard process"
    guards = list(d.guard_pids)
    if mode == "two-holds":
        h.freeze_detached(d, a.mnt, timeout="30s")
        h.freeze_detached(d, b.mnt, timeout="30s")
    else:
        h.freeze_detached(d, a.mnt, b.mnt, timeout="30s")
    assert h.fsfreeze(c.mnt).returncode == 0
    wa = h.blocked_writer(a.mnt)
    wb = h.blocked_writer(b.mnt)
    wc = h.blocked_writer(c.mnt)

    killed = time.monotonic()
    d.kill(signal.SIGKILL)
    d.proc.wait(timeout=5)
    assert wa.done(5.0) and wb.done(5.0), "the guard did not thaw after quiesced was killed"
    for w, m in ((wa, a), (wb, b)):
        late = w.unblocked_at() - killed
        assert late <= 1.0, f"{m.fstype} thawed {late:.2f}s after SIGKILL, more than 1 s"
    deadline = time.monotonic() + 3
    while any(pid_alive(g) for g in guards) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(pid_alive(g) for g in guards), "the guard did not exit after thawing"
    assert not wc.done(1.0), "the guard thawed a filesystem quiesce did not freeze"
    assert h.fsfreeze(c.mnt, unfreeze=True).returncode == 0
    assert wc.done(5.0)


def test_daemon_sigterm_thaws(h, ext4):
    """A hold never outlives the daemon that granted it, on a clean stop too."""
    d = h.start_daemon()
    h.freeze_detached(d, ext4.mnt, timeout="14s")
    w = h.blocked_writer(ext4.mnt)
    d.kill(signal.SIGTERM)
    assert w.done(3.0), "stopping quiesced left the filesystem frozen"
    rc = d.proc.wait(timeout=10)
    # a clean exit, or death by the SIGTERM itself (systemd counts both as success)
    assert rc in (0, -signal.SIGTERM), f"quiesced exited {rc} on SIGTERM"


def test_guard_exits_with_idle_daemon(h):
    """With nothing frozen, killing quiesced makes its guard exit too."""
    d = h.start_daemon()
    guards = list(d.guard_pids)
    assert guards
    d.kill(signal.SIGKILL)
    d.proc.wait(timeout=5)
    deadline = time.monotonic() + 3
    while any(pid_alive(g) for g in guards) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(pid_alive(g) for g in guards), "the guard outlived its daemon"
