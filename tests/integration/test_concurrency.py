# SPDX-License-Identifier: GPL-2.0-or-later
"""100 concurrent clients nesting on one filesystem: exactly one FIFREEZE and
one FITHAW (DESIGN.md rule 2)."""

import subprocess
import time

import pytest

from qzharness import RawConn, blocked_on_freeze

N = 100


def _run_all(procs, timeout=60):
    deadline = time.monotonic() + timeout
    results = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pytest.fail(f"{N} concurrent clients did not finish in {timeout}s")
        results.append((p.returncode, out, err))
    return results


@pytest.mark.timeout(150)
def test_hundred_concurrent_cli_clients(h, fs):
    d = h.start_daemon(max_frozen="60s")
    f0, t0 = d.counters()
    procs = [h.quiesce_bg("freeze", "--detach", "--timeout", "50s", fs.mnt, daemon=d)
             for _ in range(N)]
    res = _run_all(procs)
    bad = [(rc, err) for rc, _, err in res if rc != 0]
    assert not bad, f"{len(bad)} of {N} freezes failed: {bad[:3]}"
    ids = [int(out.strip()) for _, out, _ in res]
    assert len(set(ids)) == N, "hold ids are not distinct"
    assert d.counters() == (f0 + 1, t0), f"{N} nested freezes: counters {d.counters()} from {(f0, t0)}"
    assert len(d.holds_on(fs.mnt)) == N
    w = h.blocked_writer(fs.mnt)

    procs = [h.quiesce_bg("thaw", "--hold", str(i), daemon=d) for i in ids[:-1]]
    res = _run_all(procs)
    bad = [(rc, err) for rc, _, err in res if rc != 0]
    assert not bad, f"{len(bad)} of {N - 1} thaws failed: {bad[:3]}"
    assert not w.done(0.5) and blocked_on_freeze(w.pid), f"{N - 1} of {N} thaws thawed it"
    assert d.counters() == (f0 + 1, t0)
    assert [x["id"] for x in d.holds_on(fs.mnt)] == [ids[-1]]

    r = h.quiesce("thaw", "--hold", ids[-1], daemon=d)
    assert r.returncode == 0, r.stderr
    assert w.done(5.0)
    assert d.counters() == (f0 + 1, t0 + 1), f"counters {d.counters()} from {(f0, t0)}"


@pytest.mark.timeout(120)
def test_hundred_connections_closing(h, ext4):
    """100 connections each take a (non-detached) hold, sent before any reply
    is read; closing 99 keeps the freeze, closing the last thaws it."""
    d = h.start_daemon(max_frozen="60s")
    f0, t0 = d.counters()
    conns = [RawConn(d.socket) for _ in range(N)]
    try:
        for c in conns:
            c.send({"method": "io.quiesce.Freeze",
                    "parameters": {"paths": [str(ext4.mnt)], "timeout_ms": 50000}})
        replies = [c.recv(timeout=30) for c in conns]
        bad = [r for r in replies if not r or "error" in r]
        assert not bad, f"{len(bad)} freezes failed: {bad[:3]}"
        assert d.counters() == (f0 + 1, t0)
        w = h.blocked_writer(ext4.mnt)
        for c in conns[:-1]:
            c.close()
        d.wait_for(lambda: len(d.holds_on(ext4.mnt)) == 1, timeout=10,
                   what="99 closed connections to lose their holds")
        assert not w.done(0.5), "closing 99 of 100 connections thawed it"
        assert d.counters() == (f0 + 1, t0)
        conns[-1].close()
        assert w.done(5.0), "closing the last connection did not thaw"
        d.wait_counters((f0 + 1, t0 + 1))
    finally:
        for c in conns:
            c.close()
