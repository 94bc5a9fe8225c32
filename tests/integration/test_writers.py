# SPDX-License-Identifier: GPL-2.0-or-later
"""Application writers (issue 12): the protocol (RegisterWriter, the phase
events, WriterAnswer), `quiesce writer` with its --session helper, and the
freezes that run them, against the real kernel on loop filesystems.

Raw writers (RawWriter) speak the protocol themselves, so a test can make a
writer silent, slow, dead or hostile at an exact phase; `quiesce writer`
tests go through libquiesce's writer API as an administrator would.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from qzharness import RawConn, as_user, daemon_bin, mount_of, parse_qzcall
from rawwriter import ANSWER, REGISTER, RawWriter  # noqa: F401 (the writers fixture is in conftest)

NOBODY = 65534


def freeze_json(h, qd, *paths, timeout="10s", user=None):
    r = h.quiesce("freeze", "--detach", "--json", "--timeout", timeout, *paths, daemon=qd, user=user)
    return r, (json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else None)


def hold_writers(qd, hold_id):
    """The hold's writers, as a ResetTimeout (the proof of a hold) reports them."""
    r = qd.call("io.quiesce.ResetTimeout", {"hold": hold_id, "timeout_ms": 10000})
    assert "error" not in r, r
    return {w["name"]: w for w in r["parameters"]["holds"][0].get("writers", [])}


def thaw(h, qd, hold_id):
    r = h.quiesce("thaw", "--hold", hold_id, daemon=qd)
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------- the protocol


def test_veto_fails_the_freeze_and_freezes_nothing(h, qd, ext4, writers):
    f0, t0 = qd.counters()
    w = writers(qd, [ext4.mnt], "vetoer", policy={"prepare": "veto"}, detail={"prepare": "replica lagging"})
    assert w.ok, w.reply
    r, _ = freeze_json(h, qd, ext4.mnt)
    assert r.returncode == 1, f"a vetoed freeze must fail: {r.returncode} {r.stdout}"
    assert "vetoer" in r.stderr and "replica lagging" in r.stderr and str(ext4.mnt) in r.stderr, r.stderr
    assert qd.counters() == (f0, t0), "a veto must come before any FIFREEZE"
    w.wait_phases(["prepare", "abort"])
    h.assert_thawed(ext4.mnt)


def test_prepare_timeout_and_freeze_timeout_are_recorded_not_blocking(h, qd, ext4, writers):
    slow_p = writers(qd, [ext4.mnt], "slowprep", policy={"prepare": "silent"}, prepare_timeout_ms=400)
    slow_f = writers(qd, [ext4.mnt], "slowfreeze", policy={"freeze": "silent"}, freeze_timeout_ms=300)
    good = writers(qd, [ext4.mnt], "good", detail={"freeze": "pos=7"})
    t = time.monotonic()
    r, hold = freeze_json(h, qd, ext4.mnt)
    took = time.monotonic() - t
    assert r.returncode == 0, r.stderr
    assert took >= 0.6, f"the freeze did not wait for the writers' timeouts ({took:.2f}s)"
    h.assert_frozen(ext4.mnt)
    ws = hold_writers(qd, hold["id"])
    assert ws["good"]["acknowledged"] and ws["good"]["freeze"]["detail"] == "pos=7", ws["good"]
    assert not ws["slowprep"]["acknowledged"] and "did not answer prepare" in ws["slowprep"]["reason"]
    assert ws["slowprep"]["prepare"]["timed_out"]
    assert not ws["slowfreeze"]["acknowledged"] and "did not answer freeze" in ws["slowfreeze"]["reason"]
    slow_p.wait_phases(["prepare", "abort"])
    thaw(h, qd, hold["id"])
    h.assert_thawed(ext4.mnt)
    good.wait_phases(["prepare", "freeze", "thaw"])
    slow_f.wait_phases(["prepare", "freeze", "thaw"])


def test_required_writer_timing_out_fails_the_freeze(h, qd, ext4, writers):
    f0, _ = qd.counters()
    writers(qd, [ext4.mnt], "must", policy={"prepare": "silent"}, required=True, prepare_timeout_ms=300)
    r, _ = freeze_json(h, qd, ext4.mnt)
    assert r.returncode == 1 and "required writer must" in r.stderr and "did not answer prepare" in r.stderr, \
        r.stderr
    assert qd.counters()[0] == f0
    h.assert_thawed(ext4.mnt)


def test_writer_that_never_answers_thaw_delays_nothing(h, qd, ext4, writers):
    w = writers(qd, [ext4.mnt], "mute-thaw", policy={"thaw": "silent"})
    r, hold = freeze_json(h, qd, ext4.mnt)
    assert r.returncode == 0, r.stderr
    t = time.monotonic()
    thaw(h, qd, hold["id"])
    h.assert_thawed(ext4.mnt, within=2.0)
    assert time.monotonic() - t < 3.0
    w.wait_phases(["prepare", "freeze", "thaw"])
    # and the next freeze runs it again, without waiting for the old thaw's answer
    r, hold = freeze_json(h, qd, ext4.mnt)
    assert r.returncode == 0, r.stderr
    w.wait_phases(["prepare", "freeze", "thaw", "prepare", "freeze"])
    thaw(h, qd, hold["id"])


def test_nested_freeze_does_not_notify_again(h, qd, ext4, writers):
    w = writers(qd, [ext4.mnt], "once")
    r1, a = freeze_json(h, qd, ext4.mnt)
    assert r1.returncode == 0, r1.stderr
    w.wait_phases(["prepare", "freeze"])
    r2, b = freeze_json(h, qd, ext4.mnt)
    assert r2.returncode == 0, r2.stderr
    time.sleep(0.3)
    assert w.phases() == ["prepare", "freeze"], w.phases()
    # the nested hold reports the writer of the freeze in place
    assert hold_writers(qd, b["id"])["once"]["acknowledged"]
    thaw(h, qd, a["id"])
    time.sleep(0.3)
    assert w.phases() == ["prepare", "freeze"], "thaw went out while the filesystem stayed frozen"
    thaw(h, qd, b["id"])
    w.wait_phases(["prepare", "freeze", "thaw"])


@pytest.mark.timeout(90)
def test_back_to_back_freezes_each_ask_the_writers(h, qd, ext4, writers):
    """A Freeze sent as soon as the Thaw before it was answered finds the
    filesystem still thawing (FITHAW not done): it waits for the thaw to
    end, then asks the writers like any freeze that calls FIFREEZE."""
    w = writers(qd, [ext4.mnt], "every-time", detail={"freeze": "locked"})
    c = RawConn(qd.socket, timeout=30)
    try:
        for i in range(20):
            h.check_freezable([str(ext4.mnt)])
            r = c.call("io.quiesce.Freeze", {"paths": [str(ext4.mnt)], "fds": 0, "timeout_ms": 5000,
                                             "detached": True}, timeout=30)
            assert "error" not in r, (i, r)
            hold = r["parameters"]["hold"]
            [rep] = hold["writers"]
            assert rep["acknowledged"], (i, rep)
            r = c.call("io.quiesce.Thaw", {"hold": hold["id"]}, timeout=30)
            assert "error" not in r, (i, r)
    finally:
        c.close()
    h.assert_thawed(ext4.mnt)
    w.wait_phases(["prepare", "freeze", "thaw"] * 20, timeout=10)


def test_group_freeze_notifies_each_writer_once(h, qd, writers):
    a, b = h.make_fs("ext4"), h.make_fs("xfs")
    both = writers(qd, [a.mnt, b.mnt], "both")
    only_a = writers(qd, [a.mnt], "only-a")
    only_b = writers(qd, [b.mnt], "only-b")
    r, hold = freeze_json(h, qd, a.mnt, b.mnt)
    assert r.returncode == 0, r.stderr
    for w in (both, only_a, only_b):
        w.wait_phases(["prepare", "freeze"])
    time.sleep(0.2)
    assert both.phases() == ["prepare", "freeze"], both.phases()
    ws = hold_writers(qd, hold["id"])
    assert set(ws) == {"both", "only-a", "only-b"} and all(x["acknowledged"] for x in ws.values()), ws
    thaw(h, qd, hold["id"])
    for w in (both, only_a, only_b):
        w.wait_phases(["prepare", "freeze", "thaw"])
    time.sleep(0.2)
    assert both.phases() == ["prepare", "freeze", "thaw"], both.phases()


@pytest.mark.timeout(120)
def test_hundred_writers_on_one_filesystem(h, qd, ext4, writers):
    ws = [writers(qd, [ext4.mnt], f"w{i}") for i in range(100)]
    assert all(w.ok for w in ws)
    r, hold = freeze_json(h, qd, ext4.mnt)
    assert r.returncode == 0, r.stderr
    rep = hold_writers(qd, hold["id"])
    assert len(rep) == 100 and all(x["acknowledged"] for x in rep.values())
    thaw(h, qd, hold["id"])
    h.assert_thawed(ext4.mnt)
    for w in ws:
        w.wait_phases(["prepare", "freeze", "thaw"])


def test_freeze_through_the_seed_api_runs_the_writers(h, qd, ext4, writers):
    w = writers(qd, [ext4.mnt], "seedwatch")
    p = h.qzcall(qd, f"open:{ext4.mnt}", "freeze:10", "thaw")
    assert p.returncode == 0, p.stderr
    ops = parse_qzcall(p.stdout)
    assert [o["rc"] for o in ops] == [0, 0, 0], p.stdout
    w.wait_phases(["prepare", "freeze", "thaw"])


def test_writer_closing_between_freeze_and_thaw_is_lost_and_thaw_comes_on_time(h, qd, ext4, writers):
    w = writers(qd, [ext4.mnt], "quitter")
    r, hold = freeze_json(h, qd, ext4.mnt, timeout="2s")
    assert r.returncode == 0, r.stderr
    w.wait_phases(["prepare", "freeze"])
    w.close()
    time.sleep(0.2)
    rep = hold_writers(qd, hold["id"])
    assert rep["quitter"]["lost"] and not rep["quitter"]["acknowledged"], rep
    # the ResetTimeout above re-armed 10 s; let the deadline do it
    r = qd.call("io.quiesce.ResetTimeout", {"hold": hold["id"], "timeout_ms": 500})
    assert "error" not in r
    h.assert_thawed(ext4.mnt, within=3.0)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("end", ["expiry", "ceiling", "breach", "requester-dies", "rollback"])
def test_every_end_of_a_freeze_sends_thaw(h, ext4, writers, end):
    """Issue 12, part 1: thaw goes to every writer that got freeze, whatever
    ends the freeze: its deadline, the ceiling, a breach, its requester's
    death, a group freeze rolled back. And nothing of it waits for them."""
    qd = h.start_daemon(max_frozen="2s" if end == "ceiling" else "15s")
    w = writers(qd, [ext4.mnt], f"w-{end}")
    t = time.monotonic()
    if end == "expiry":
        r, _ = freeze_json(h, qd, ext4.mnt, timeout="1s")
        assert r.returncode == 0, r.stderr
    elif end == "ceiling":
        r, _ = freeze_json(h, qd, ext4.mnt, timeout="none")
        assert r.returncode == 0, r.stderr
    elif end == "breach":
        r, hold = freeze_json(h, qd, ext4.mnt, timeout="20s")
        assert r.returncode == 0, r.stderr
        w.wait_phases(["prepare", "freeze"])
        assert h.fsfreeze(ext4.mnt, unfreeze=True).returncode == 0
    elif end == "requester-dies":
        p = h.qzcall(qd, f"open:{ext4.mnt}", "freeze:20", "wait", background=True)
        from qzharness import read_qzcall_line
        assert read_qzcall_line(p)["rc"] == 0
        assert read_qzcall_line(p)["rc"] == 0
        w.wait_phases(["prepare", "freeze"])
        p.kill()
        p.wait()
    elif end == "rollback":
        # the second filesystem is frozen by fsfreeze: its FIFREEZE fails
        # (EBUSY) after the writers' phases, and the group is rolled back
        other = h.make_fs("ext4")
        assert h.fsfreeze(other.mnt).returncode == 0
        try:
            r, _ = freeze_json(h, qd, ext4.mnt, other.mnt, timeout="5s")
        finally:
            h.fsfreeze(other.mnt, unfreeze=True)
        assert r.returncode == 1 and str(other.mnt) in r.stderr, (r.returncode, r.stderr)
    if end == "breach":
        # the writers' promise is void: thaw goes out at once, though quiesced
        # freezes the filesystem again (the hold is broken, its deadline stands)
        w.wait_phases(["prepare", "freeze", "thaw"], timeout=5)
        r = h.quiesce("thaw", "--hold", hold["id"], daemon=qd)
        assert r.returncode == 3, (r.returncode, r.stderr)
        h.assert_thawed(ext4.mnt)
    else:
        h.assert_thawed(ext4.mnt, within=6.0)
        w.wait_phases(["prepare", "freeze", "thaw"], timeout=5)
    assert time.monotonic() - t < 10
    assert qd.holds_on(ext4.mnt) == []
    time.sleep(0.2)
    ph = w.phases()
    assert ph.count("thaw") + ph.count("abort") == 1, f"{end}: {ph}"


def test_bad_registrations_are_refused_with_reasons(h, qd, ext4, writers):
    w = writers(qd, [ext4.mnt], "bad name")
    assert w.reply["error"] == "io.quiesce.InvalidRequest" and "name" in w.reply["parameters"]["message"]
    w = writers(qd, [ext4.mnt], "x", prepare_timeout_ms=0)
    assert "prepare_timeout_ms" in w.reply["parameters"]["message"]
    w = writers(qd, [h.tmp / "nonexistent"], "x")
    assert w.reply["parameters"]["errno_name"] == "ENOENT", w.reply
    c = RawConn(qd.socket)
    try:
        r = c.call(ANSWER, {"freeze": 1, "phase": "prepare", "answer": "ok"})
        assert "not a writer" in r["parameters"]["message"], r
    finally:
        c.close()


# ---------------------------------------------------------------- quiesce writer

SESSION_HELPER = r"""
import os, sys, time
log = open(sys.argv[1], "a", buffering=1)
mode = sys.argv[2] if len(sys.argv) > 2 else "ok"
log.write("start %d\n" % os.getpid())
print("ready", flush=True)
for line in sys.stdin:
    p = line.strip()
    log.write(p + "\n")
    if mode == "veto" and p == "prepare":
        print("veto backup window closed", flush=True)
    elif mode == "die-at-freeze" and p == "freeze" and not os.path.exists(sys.argv[1] + ".died"):
        open(sys.argv[1] + ".died", "w").close()
        os._exit(3)
    elif p == "freeze":
        print("ok binlog=mysql-bin.000002:1234", flush=True)
    else:
        print("ok", flush=True)
log.write("eof\n")
"""


def script(h, name, text, mode=0o755):
    os.chmod(h.tmp, 0o755)
    p = h.tmp / name
    p.write_text(text)
    os.chmod(p, mode)
    return p


def session_writer(h, qd, mount, mode="ok", name="sess", extra=(), user=None):
    helper = script(h, "helper.py", SESSION_HELPER)
    log = h.tmp / f"{name}.log"
    log.touch()
    os.chmod(log, 0o666)
    p = h.quiesce_bg("writer", "--name", name, "--session", f"{sys.executable} -S {helper} {log} {mode}",
                     *extra, mount, daemon=qd, user=user)
    return p, log


def wait_log(log, want, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [l for l in log.read_text().splitlines() if not l.startswith("start ")]
        if lines[:len(want)] == want:
            return lines
        time.sleep(0.05)
    raise AssertionError(f"{log.name}: {log.read_text()!r}, expected {want}")


def wait_registered(qd, name, timeout=10):
    """Until a freeze's writers would include name: a probe freeze is not
    wanted here, so watch quiesced's log."""
    qd.wait_for(lambda: f"writer {name} (id" in qd.log_text(), timeout=timeout, what=f"writer {name}")


def test_session_protocol_detail_reaches_the_hold(h, qd, ext4):
    p, log = session_writer(h, qd, ext4.mnt)
    wait_registered(qd, "sess")
    r, hold = freeze_json(h, qd, ext4.mnt)
    assert r.returncode == 0, r.stderr
    wait_log(log, ["prepare", "freeze"])
    ws = hold_writers(qd, hold["id"])
    assert ws["sess"]["acknowledged"] and ws["sess"]["freeze"]["detail"] == "binlog=mysql-bin.000002:1234", ws
    thaw(h, qd, hold["id"])
    wait_log(log, ["prepare", "freeze", "thaw"])
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 0, p.stderr.read()
    wait_log(log, ["prepare", "freeze", "thaw", "eof"])  # its stdin closed at the writer's exit


def test_session_veto_names_writer_and_reason(h, qd, ext4):
    p, log = session_writer(h, qd, ext4.mnt, mode="veto", name="vet")
    wait_registered(qd, "vet")
    f0, _ = qd.counters()
    r, _ = freeze_json(h, qd, ext4.mnt)
    assert r.returncode == 1 and "vet" in r.stderr and "backup window closed" in r.stderr, r.stderr
    assert qd.counters()[0] == f0
    wait_log(log, ["prepare", "abort"])


def test_session_helper_death_fails_the_phase_then_restarts(h, qd, ext4):
    p, log = session_writer(h, qd, ext4.mnt, mode="die-at-freeze", name="phoenix")
    wait_registered(qd, "phoenix")
    r, hold = freeze_json(h, qd, ext4.mnt)
    assert r.returncode == 0, r.stderr  # not required: recorded, not blocking
    ws = hold_writers(qd, hold["id"])
    assert not ws["phoenix"]["acknowledged"] and ws["phoenix"]["freeze"]["answer"] == "fail", ws
    thaw(h, qd, hold["id"])
    time.sleep(1.5)  # the restart's backoff
    r, hold = freeze_json(h, qd, ext4.mnt)
    assert r.returncode == 0, r.stderr
    ws = hold_writers(qd, hold["id"])
    assert ws["phoenix"]["acknowledged"], ws
    starts = [l for l in log.read_text().splitlines() if l.startswith("start ")]
    assert len(starts) == 2, log.read_text()
    thaw(h, qd, hold["id"])


def test_phase_commands_exit_status_is_the_answer(h, qd, ext4):
    veto = script(h, "veto.sh", "#!/bin/sh\necho \"disk $1 is busy\" >&2\nexit 3\n")
    marks = h.tmp / "marks"
    thawcmd = script(h, "thaw.sh", f"#!/bin/sh\necho \"$1 $2 $QUIESCE_FREEZE_ID\" >> {marks}\n")
    p = h.quiesce_bg("writer", "--name", "cmds", "--prepare", f"{veto} {{paths}}", "--thaw",
                     f"{thawcmd} {{phase}} {{name}}", ext4.mnt, daemon=qd)
    wait_registered(qd, "cmds")
    r, _ = freeze_json(h, qd, ext4.mnt)
    assert r.returncode == 1 and f"disk {ext4.mnt} is busy" in r.stderr, r.stderr
    assert not marks.exists(), "a vetoed freeze got a thaw (it should get abort)"


def test_unknown_placeholder_is_refused_before_anything_runs(h, qd, ext4):
    r = h.quiesce("writer", "--prepare", "/bin/true {volume}", ext4.mnt, daemon=qd)
    assert r.returncode == 2 and "{volume}" in r.stderr and "--prepare" in r.stderr, r.stderr
    r = h.quiesce("writer", "--session", "/bin/cat {phase}", ext4.mnt, daemon=qd)
    assert r.returncode == 2 and "{phase}" in r.stderr, r.stderr


def test_quiesced_killed_mid_freeze_writers_thaw_themselves(h, ext4):
    qd = h.start_daemon()
    p, log = session_writer(h, qd, ext4.mnt, name="survivor")
    wait_registered(qd, "survivor")
    r, hold = freeze_json(h, qd, ext4.mnt, timeout="20s")
    assert r.returncode == 0, r.stderr
    wait_log(log, ["prepare", "freeze"])
    w = h.blocked_writer(ext4.mnt)
    qd.kill(signal.SIGKILL)
    wait_log(log, ["prepare", "freeze", "thaw"], timeout=5)  # the writer thawed its application at once
    assert w.done(5.0), "the guard did not thaw the filesystem"
    assert p.poll() is None, "the writer should wait for quiesced to come back"
    # and it registers with the next quiesced on the same socket
    qd2 = h.start_daemon(socket_path=qd.socket)
    wait_registered(qd2, "survivor", timeout=20)


@pytest.mark.timeout(150)
def test_snapshot_labels_from_writers(h, qd):
    pool = h.make_fs("xfs", size="1G")
    data = h.make_fs("ext4", parent=pool.mnt, size="256M")
    p, log = session_writer(h, qd, data.mnt, name="db")
    wait_registered(qd, "db")

    def snap(name):
        h.check_freezable([str(data.mnt)])
        r = h.quiesce("snapshot", "--store", h.tmp / "store", "--hooks-dir", h.tmp / "no-hooks", "--json",
                      "--name", name, "--timeout", "10s", data.mnt, daemon=qd, timeout=60)
        return r, (json.loads(r.stdout) if r.stdout.strip().startswith("{") else None)

    r, m = snap("one")
    assert r.returncode == 0, r.stderr
    assert m["label"] == "application-consistent", m["label_reason"]
    [w] = m["writers"]
    assert w["name"] == "db" and w["acknowledged"] and w["freeze"]["detail"].startswith("binlog="), w
    r = h.quiesce("snapshot", "--store", h.tmp / "store", "--hooks-dir", h.tmp / "no-hooks", "--name", "two",
                  "--timeout", "10s", data.mnt, daemon=qd, timeout=60)
    assert r.returncode == 0 and "Writers:" in r.stdout and "db" in r.stdout, r.stdout
    assert re.search(r"\n +db +acknowledged .*\n +prepare +ok after \S+\n +freeze +ok after \S+: binlog=",
                     r.stdout), r.stdout

    # a writer killed between freeze and thaw: the snapshot is not application-consistent
    p.kill()
    p.wait(timeout=10)
    lossy = RawWriter(qd, [data.mnt], "lossy")
    try:
        assert lossy.ok
        exec_cmd = script(h, "take.sh", "#!/bin/sh\nsleep 1\n"
                          f"cp --reflink=always {data.img} {pool.mnt}/exec-$1.img || exit 3\n"
                          f"echo {pool.mnt}/exec-$1.img\n")
        t = threading.Timer(0.5, lossy.close)  # during the take
        t.start()
        h.check_freezable([str(data.mnt)])
        r = h.quiesce("snapshot", "--store", h.tmp / "store", "--hooks-dir", h.tmp / "no-hooks", "--json",
                      "--name", "three", "--timeout", "10s", "--provider", "exec", "--exec-cmd",
                      f"{exec_cmd} {{name}}", data.mnt, daemon=qd, timeout=60)
        t.join()
        assert r.returncode == 0, r.stderr
        m = json.loads(r.stdout)
        assert m["label"] == "filesystem-consistent", m
        assert "writer" in m["label_reason"]
        [w] = m["writers"]
        assert w["name"] == "lossy" and w["lost"] and not w["acknowledged"], w
        h.assert_thawed(data.mnt)
    finally:
        lossy.close()


@pytest.mark.timeout(60)
def test_a_long_prepare_does_not_eat_the_snapshots_deadline(h, qd):
    """The requester's deadline runs from the grant, after the writers'
    phases: a 2.5 s prepare (a checkpoint) and a 2 s snapshot deadline still
    make an application-consistent snapshot, and the frozen time reported is
    the filesystem's, not the phases'."""
    pool = h.make_fs("xfs", size="1G")
    data = h.make_fs("ext4", parent=pool.mnt, size="256M")
    w = RawWriter(qd, [data.mnt], "checkpointer", policy={"prepare": 2.5})
    try:
        h.check_freezable([str(data.mnt)])
        r = h.quiesce("snapshot", "--store", h.tmp / "store", "--hooks-dir", h.tmp / "no-hooks", "--json",
                      "--name", "slow-prepare", "--timeout", "2s", data.mnt, daemon=qd, timeout=60)
        assert r.returncode == 0, r.stderr
        m = json.loads(r.stdout)
        assert m["label"] == "application-consistent", m
        [wr] = m["writers"]
        assert wr["prepare"]["ms"] >= 2400 and wr["acknowledged"], wr
        assert m["frozen_ms"] < 2000 and m["duration_ms"] >= 2400, (m["frozen_ms"], m["duration_ms"])
        h.assert_thawed(data.mnt)
    finally:
        w.close()


@pytest.mark.timeout(60)
def test_a_vetoed_snapshot_reports_the_writer_that_refused(h, qd):
    """Root's veto: nothing is frozen or kept, and the snapshot's report (text
    and --json) names the writer with its answers, taken from the refused
    Freeze's "writer" (qz_client_error_writer), not from its message."""
    pool = h.make_fs("xfs", size="1G")
    data = h.make_fs("ext4", parent=pool.mnt, size="256M")
    w = RawWriter(qd, [data.mnt], "gatekeeper", policy={"prepare": "veto"},
                  detail={"prepare": "replication lag 40s"})
    try:
        assert w.ok, w.reply
        f0, _ = qd.counters()
        h.check_freezable([str(data.mnt)])
        args = ("snapshot", "--store", h.tmp / "store", "--hooks-dir", h.tmp / "no-hooks", "--timeout", "10s")
        r = h.quiesce(*args, "--json", "--name", "vetoed", data.mnt, daemon=qd, timeout=60)
        assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
        assert "gatekeeper" in r.stderr and "replication lag 40s" in r.stderr, r.stderr
        m = json.loads(r.stdout)
        [wr] = m["writers"]
        assert wr["name"] == "gatekeeper" and wr["refused"] is True and not wr["acknowledged"], wr
        assert wr["prepare"]["answer"] == "veto" and wr["prepare"]["detail"] == "replication lag 40s", wr
        assert wr["reason"] == "vetoed prepare: replication lag 40s" and "freeze" not in wr, wr
        assert qd.counters()[0] == f0, "a vetoed snapshot froze something"
        assert not list((h.tmp / "store").glob("*.json")), "a vetoed snapshot left a manifest"
        r = h.quiesce(*args, "--name", "vetoed-text", data.mnt, daemon=qd, timeout=60)
        assert r.returncode == 1, r.stdout
        assert re.search(r"\n +gatekeeper +REFUSED the freeze .*\n +prepare +veto after \S+: replication lag 40s"
                         r"\n +reason +vetoed prepare: replication lag 40s", r.stdout), r.stdout
        h.assert_thawed(data.mnt)
        w.wait_phases(["prepare", "abort", "prepare", "abort"])
    finally:
        w.close()


# ---------------------------------------------------------------- status


def status_writers(h, qd):
    r = h.quiesce("status", "--json", daemon=qd)
    assert r.returncode == 0, r.stderr
    return {w["name"]: w for w in json.loads(r.stdout)["writers"]}


def test_status_lists_the_registered_writers(h, qd, ext4):
    xfs = h.make_fs("xfs")
    a = h.quiesce_bg("writer", "--name", "alpha", "--freeze", "true", ext4.mnt, xfs.mnt, daemon=qd)
    wait_registered(qd, "alpha")
    b = h.quiesce_bg("writer", "--name", "beta", "--timeout", "3s", xfs.mnt, daemon=qd)
    wait_registered(qd, "beta")
    ws = status_writers(h, qd)
    assert list(ws) == ["alpha", "beta"], ws  # in the order they registered
    fs_a = {f["id"]: f for f in ws["alpha"]["filesystems"]}
    assert set(fs_a) == {ext4.dev_id(), xfs.dev_id()}, ws["alpha"]
    assert fs_a[ext4.dev_id()]["mountpoint"] == str(ext4.mnt) and fs_a[ext4.dev_id()]["fstype"] == "ext4"
    assert fs_a[xfs.dev_id()]["mountpoint"] == str(xfs.mnt) and fs_a[xfs.dev_id()]["fstype"] == "xfs"
    assert fs_a[xfs.dev_id()]["source"].startswith("/dev/loop"), fs_a
    assert [f["id"] for f in ws["beta"]["filesystems"]] == [xfs.dev_id()], ws["beta"]
    assert ws["alpha"]["pid"] == a.pid and ws["beta"]["pid"] == b.pid, ws
    assert ws["alpha"]["uid"] == 0 and not ws["alpha"]["required"] and ws["alpha"]["may_veto"], ws
    assert ws["alpha"]["age_ms"] >= ws["beta"]["age_ms"] >= 0, ws
    assert ws["alpha"]["last"] is None and ws["beta"]["last"] is None, ws

    # a freeze of ext4 asks alpha only; its last phase is the thaw, answered ok
    r, hold = freeze_json(h, qd, ext4.mnt)
    assert r.returncode == 0, r.stderr
    ws = status_writers(h, qd)
    assert ws["alpha"]["last"]["phase"] == "freeze" and ws["alpha"]["last"]["answer"] == "ok", ws["alpha"]
    thaw(h, qd, hold["id"])
    qd.wait_for(lambda: (status_writers(h, qd)["alpha"]["last"] or {}).get("answer") == "ok"
                and status_writers(h, qd)["alpha"]["last"]["phase"] == "thaw", what="alpha's thaw answered")
    last = status_writers(h, qd)["alpha"]["last"]
    assert last["freeze"] == ws["alpha"]["last"]["freeze"] and last["ms"] >= 0 and not last["timed_out"], last
    assert status_writers(h, qd)["beta"]["last"] is None

    out = h.quiesce("status", daemon=qd)
    assert out.returncode == 0, out.stderr
    assert "writers: 2 registered" in out.stdout, out.stdout
    assert re.search(rf"alpha \(id \d+\): pid {a.pid}, uid 0, may veto, registered", out.stdout), out.stdout
    assert f"    {xfs.mnt}: xfs {xfs.dev_id()} on /dev/loop" in out.stdout, out.stdout
    assert re.search(r"last: thaw of freeze \d+ .* ago, answered ok in", out.stdout), out.stdout
    assert "not asked yet" in out.stdout, out.stdout  # beta

    # one goes away: it is gone from status
    b.send_signal(signal.SIGTERM)
    assert b.wait(timeout=10) == 0, b.stderr.read()
    qd.wait_for(lambda: list(status_writers(h, qd)) == ["alpha"], what="beta gone from status")
    a.send_signal(signal.SIGTERM)
    assert a.wait(timeout=10) == 0, a.stderr.read()
    qd.wait_for(lambda: status_writers(h, qd) == {}, what="no writer left")
    assert "no writer is registered" in h.quiesce("status", daemon=qd).stdout


# ---------------------------------------------------------------- security and limits


def test_non_root_non_group_may_not_register(h, qd, ext4):
    r = h.quiesce("writer", "--name", "intruder", ext4.mnt, daemon=qd, user=NOBODY, timeout=10)
    assert r.returncode == 1 and ("may not use quiesced" in r.stderr or "EPERM" in r.stderr
                                  or "not permitted" in r.stderr), r.stderr
    assert "writer intruder (id" not in qd.log_text()


def test_group_writer_may_hold_up_a_freeze_only_up_to_the_limit(h, ext4):
    """--max-writer-delay bounds a group member's prepare + freeze timeouts
    (default 5min); root's writers are not bounded; a bad value is refused."""
    qd = h.start_daemon(group="nogroup", extra=["--max-writer-delay", "10s"])
    os.chmod(ext4.mnt, 0o777)
    r = h.quiesce("writer", "--name", "slowpoke", "--timeout", "9s", "--freeze-timeout", "2s", ext4.mnt,
                  daemon=qd, user=NOBODY, timeout=10)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert ("writer slowpoke: uid 65534 may hold up a freeze by at most 10s (--max-writer-delay), and its "
            "prepare timeout 9s plus its freeze timeout 2s is more") in r.stderr, r.stderr
    p = h.quiesce_bg("writer", "--name", "within", "--timeout", "8s", "--freeze-timeout", "2s", ext4.mnt,
                     daemon=qd, user=NOBODY)
    wait_registered(qd, "within")
    root = RawWriter(qd, [ext4.mnt], "root-slow", prepare_timeout_ms=600000, freeze_timeout_ms=60000)
    try:
        assert root.ok, root.reply
    finally:
        root.close()
    del p
    dflt = h.start_daemon(group="nogroup")
    r = h.quiesce("writer", "--name", "tenmin", "--timeout", "10min", ext4.mnt, daemon=dflt, user=NOBODY,
                  timeout=10)
    assert r.returncode == 1 and "at most 5m (--max-writer-delay)" in r.stderr, r.stderr
    bad = subprocess.run([str(daemon_bin()), "--max-writer-delay", "soon"], capture_output=True, text=True,
                         timeout=10)
    assert bad.returncode == 2 and "invalid --max-writer-delay 'soon'" in bad.stderr, bad.stderr


def test_group_writer_veto_is_recorded_not_obeyed_and_required_refused(h, ext4):
    qd = h.start_daemon(group="nogroup", extra=["--max-writers-per-uid", "2"])
    os.chmod(ext4.mnt, 0o777)
    veto = script(h, "veto.sh", "#!/bin/sh\necho 'not today' >&2\nexit 1\n")
    r = h.quiesce("writer", "--name", "want-req", "--required", ext4.mnt, daemon=qd, user=NOBODY, timeout=10)
    assert r.returncode == 1 and "only root's writers may be required" in r.stderr, r.stderr
    p = h.quiesce_bg("writer", "--name", "nobody-vetoer", "--prepare", str(veto), ext4.mnt, daemon=qd,
                     user=NOBODY)
    wait_registered(qd, "nobody-vetoer")
    r, hold = freeze_json(h, qd, ext4.mnt)
    assert r.returncode == 0, f"a non-root veto must not fail the freeze: {r.stderr}"
    ws = hold_writers(qd, hold["id"])
    assert ws["nobody-vetoer"]["prepare"]["answer"] == "veto" and not ws["nobody-vetoer"]["acknowledged"], ws
    assert "not today" in ws["nobody-vetoer"]["reason"], ws
    thaw(h, qd, hold["id"])
    # the per-uid limit: two writers of uid 65534 at most
    p2 = h.quiesce_bg("writer", "--name", "second", ext4.mnt, daemon=qd, user=NOBODY)
    wait_registered(qd, "second")
    r = h.quiesce("writer", "--name", "third", ext4.mnt, daemon=qd, user=NOBODY, timeout=10)
    assert r.returncode == 1 and "--max-writers-per-uid" in r.stderr, r.stderr
    del p, p2
