# SPDX-License-Identifier: GPL-2.0-or-later
"""What a writer, or any client, cannot make quiesced do (issue 12, "Security
and limits"), against the real daemon on a loop filesystem:

- a freeze that has failed fails at once: root's veto, or a required
  writer's failure or departure, does not wait for a silent writer's
  timeout;
- a writer that never reads its events is dropped once they pass quiesced's
  bound (64 KiB beyond the socket's buffer), so it cannot grow quiesced's
  locked memory, and the freezes after it go on without it;
- a client that sends requests and never reads the replies is not read
  from: quiesced queues one reply, not one per request.
"""

import os
import re
import socket
import threading
import time

import pytest

from qzharness import RawConn
from rawwriter import REGISTER

# ASan's quarantine keeps what quiesced freed: its RSS says nothing of the queue there
SANITIZED = os.environ.get("QUIESCE_SANITIZED") == "1"
FREEZE = "io.quiesce.Freeze"
STATUS = "io.quiesce.Status"


def vm_kib(pid, field="VmRSS"):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for pid {pid}")


def freeze(qd, mount, timeout_s=20):
    return qd.call(FREEZE, {"paths": [str(mount)], "timeout_ms": 5000}, timeout=timeout_s)


def status_writer_names(qd):
    return sorted(w["name"] for w in qd.status().get("writers", []))


# ---------------------------------------------------------------- a failure does not wait


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", ["root-veto", "required-fails", "required-leaves-at-freeze"])
def test_a_failed_freeze_does_not_wait_for_a_silent_writer(h, qd, ext4, writers, case):
    """The silent writer's timeout (20 s) is far longer than the test waits:
    the Freeze is answered as soon as its outcome is known."""
    f0, _ = qd.counters()
    phase = "freeze" if case == "required-leaves-at-freeze" else "prepare"
    silent = writers(qd, [ext4.mnt], "silent", policy={phase: "silent"},
                     prepare_timeout_ms=20000, freeze_timeout_ms=20000)
    if case == "root-veto":
        decider = writers(qd, [ext4.mnt], "vetoer", policy={"prepare": "veto"},
                          detail={"prepare": "replica lagging"})
    elif case == "required-fails":
        decider = writers(qd, [ext4.mnt], "must", policy={"prepare": "fail"},
                          detail={"prepare": "checkpoint failed"}, required=True)
    else:
        decider = writers(qd, [ext4.mnt], "must", policy={"freeze": "silent"}, required=True,
                          freeze_timeout_ms=20000)
    assert silent.ok and decider.ok, (silent.reply, decider.reply)
    t = time.monotonic()
    if case == "required-leaves-at-freeze":
        # the required writer goes once it got freeze: that decides the phase
        threading.Thread(target=lambda: (decider.wait_phases(["prepare", "freeze"]), decider.close()),
                         daemon=True).start()
    rep = freeze(qd, ext4.mnt)
    took = time.monotonic() - t
    assert "error" in rep, f"the freeze should have failed: {rep}"
    msg = rep["parameters"]["message"]
    assert took < 10, f"the Freeze waited {took:.1f}s for the silent writer's 20s timeout: {msg}"
    if case == "root-veto":
        assert rep["parameters"]["errno_name"] == "ECANCELED", rep
        assert "writer vetoer" in msg and "replica lagging" in msg, msg
    elif case == "required-fails":
        assert "required writer must" in msg and "checkpoint failed" in msg, msg
    else:
        assert "required writer must" in msg and "disconnected during freeze" in msg, msg
    assert "silent" not in msg, f"the error names the silent writer, not the one that decided: {msg}"
    # the writer that decided, as a hold reports its writers (docs/protocol.md)
    w = rep["parameters"]["writer"]
    assert w["name"] == decider.name and not w["acknowledged"] and w["required"] == (case != "root-veto"), w
    assert w["id"] == decider.reply["parameters"]["writer"]["id"] and w["uid"] == 0, w
    if case == "root-veto":
        assert w["prepare"]["answer"] == "veto" and w["prepare"]["detail"] == "replica lagging", w
        assert w["reason"] == "vetoed prepare: replica lagging", w
    elif case == "required-fails":
        assert w["prepare"]["answer"] == "fail" and w["reason"] == "failed prepare: checkpoint failed", w
    else:
        assert w["freeze"]["answer"] == "none" and w["reason"] == "disconnected during freeze", w
    assert str(ext4.mnt) in msg, msg
    assert qd.counters()[0] == f0, "nothing may be frozen"
    h.assert_thawed(ext4.mnt)
    # the silent writer is released: abort (it never got freeze) or thaw
    want = ["prepare", "abort"] if phase == "prepare" else ["prepare", "freeze", "thaw"]
    silent.wait_phases(want, timeout=5)


# ---------------------------------------------------------------- a writer that never reads


@pytest.mark.timeout(120)
def test_a_writer_that_never_reads_is_dropped_before_it_fills_quiesced(h, qd, ext4, writers):
    """Root's vetoer fails every Freeze at once, so each one costs the lazy
    writer two events (prepare, abort) and freezes nothing. Without a bound
    quiesced queued them all: 64 such writers and 2,000 freezes took it
    from 4.0 to 39.5 MiB."""
    lazy = RawConn(qd.socket)
    try:
        reg = lazy.call(REGISTER, {"name": "lazy", "paths": [str(ext4.mnt)], "prepare_timeout_ms": 20000})
        assert "error" not in reg, reg
        writers(qd, [ext4.mnt], "vetoer", policy={"prepare": "veto"}, detail={"prepare": "no"})
        assert status_writer_names(qd) == ["lazy", "vetoer"]
        rss0 = vm_kib(qd.pid)
        f0, _ = qd.counters()
        dropped_at = None
        for i in range(1, 5001):
            rep = freeze(qd, ext4.mnt)
            assert "error" in rep and "writer vetoer" in rep["parameters"]["message"], rep
            if "lazy" not in status_writer_names(qd):
                dropped_at = i
                break
        assert dropped_at, "5,000 freezes and the writer that never reads is still registered"
        grown = vm_kib(qd.pid) - rss0
        assert SANITIZED or grown < 2048, f"quiesced grew by {grown} KiB before it dropped the writer"
        assert qd.counters()[0] == f0
        log = qd.log_text()
        m = re.search(r"writer lazy \(pid \d+, uid 0\) dropped: it left (\d+) KiB of events unread", log)
        assert m, log
        assert 32 <= int(m.group(1)) <= 64, m.group(0)
        # what the kernel already held reaches the writer, whole and in order, then end-of-file
        events = []
        while True:
            ev = lazy.recv(timeout=10)
            if ev is None:
                break
            events.append(ev)
        phases = [e["event"] for e in events]
        assert phases[:2] == ["prepare", "abort"] and len(phases) >= 100, phases[:10]
        assert all(p == ("prepare" if k % 2 == 0 else "abort") for k, p in enumerate(phases)), phases
        ids = [e["parameters"]["freeze"] for e in events[::2]]
        assert ids == sorted(ids) and len(set(ids)) == len(ids), ids
        print(f"dropped after {dropped_at} freezes; {len(events)} events reached it; "
              f"quiesced grew {grown} KiB; {m.group(0)}")
    finally:
        lazy.close()
    # the freezes after it go on without it: the vetoer alone decides
    rep = freeze(qd, ext4.mnt)
    assert "error" in rep and "writer vetoer" in rep["parameters"]["message"], rep
    assert status_writer_names(qd) == ["vetoer"]
    h.assert_thawed(ext4.mnt)


@pytest.mark.timeout(60)
def test_a_writer_that_reads_late_loses_nothing(h, qd, ext4, writers):
    """A writer that is slow to read, but reads, within the bound: every
    event is there, in order, and it stays registered."""
    lazy = RawConn(qd.socket)
    try:
        reg = lazy.call(REGISTER, {"name": "late", "paths": [str(ext4.mnt)], "prepare_timeout_ms": 20000})
        assert "error" not in reg, reg
        writers(qd, [ext4.mnt], "vetoer", policy={"prepare": "veto"})
        for _ in range(40):
            rep = freeze(qd, ext4.mnt)
            assert "error" in rep and "writer vetoer" in rep["parameters"]["message"], rep
        assert "late" in status_writer_names(qd)
        phases = [lazy.recv(timeout=5)["event"] for _ in range(80)]
        assert phases == ["prepare", "abort"] * 40, phases
    finally:
        lazy.close()


# ---------------------------------------------------------------- a client that never reads


@pytest.mark.timeout(60)
def test_a_client_that_never_reads_its_replies_is_not_read_from(h, qd):
    """20,000 Status requests sent at once and not read: quiesced answers
    until its socket buffer is full, then stops taking requests until the
    client reads. Every reply then comes, in order."""
    n = 20000
    c = RawConn(qd.socket)
    try:
        one = len(b'{"method": "io.quiesce.Status"}\0')
        sent = []

        def send_all():
            try:
                c.sock.settimeout(60)
                c.sock.sendall(b'{"method": "io.quiesce.Status"}\0' * n)
                sent.append(n)
            except OSError as e:
                sent.append(e)

        rss0 = vm_kib(qd.pid)
        t = threading.Thread(target=send_all, daemon=True)
        t.start()
        time.sleep(2)  # quiesced answers until its output is stuck, then stops reading
        grown = vm_kib(qd.pid) - rss0
        size = len(str(qd.status())) + 64
        print(f"{n} requests of {one} bytes; a reply is about {size} bytes; quiesced grew {grown} KiB")
        assert SANITIZED or grown < 4096, f"quiesced grew by {grown} KiB for replies nobody read"
        assert not sent, "all the requests were taken although no reply was read"
        # and it still serves others meanwhile
        assert qd.status()["counters"] is not None
        got = 0
        while got < n:
            rep = c.recv(timeout=20)
            assert rep is not None and "error" not in rep and "counters" in rep["parameters"], rep
            got += 1
        t.join(20)
        assert sent == [n], sent
    finally:
        try:
            c.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        c.close()
