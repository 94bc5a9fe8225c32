# SPDX-License-Identifier: GPL-2.0-or-later
"""quiesce snapshot when things go wrong: a provider that outlives the
deadline (also one blocked on the frozen filesystem), a hold force-thawed
during the snapshot, a freeze that fails, an interruption, hooks with unsafe
permissions, and the refusals made before anything is frozen.
"""

import json
import os
import signal
import time
from pathlib import Path

import pytest

from test_snapshot import hook, snap


def pool_and_data(h):
    pool = h.make_fs("xfs")
    return pool, h.make_fs("ext4", parent=pool.mnt)


# ------------------------------------------------------------------ deadlines


def test_provider_outliving_the_deadline_is_killed_and_thawed(h, qd):
    pool, data = pool_and_data(h)
    t0 = time.monotonic()
    r = snap(h, qd, "--exec-cmd", "sleep 30", "--timeout", "2s", "--name", "slow", paths=[data.mnt])
    took = time.monotonic() - t0
    assert r.returncode == 1, r.stderr
    assert took < 8, f"took {took:.1f}s"
    m = r.manifest
    assert m["label"] == "crash-consistent"
    f = m["filesystems"][0]
    assert "killed" in f["error"] and f["snapshot"] is None
    assert "no snapshot was made" in r.stderr
    assert not (h.tmp / "store" / "slow.json").exists(), "nothing was made: no manifest"
    h.assert_thawed(data.mnt)
    assert not qd.holds_on(data.mnt)


@pytest.mark.timeout(60)
def test_provider_blocked_on_the_frozen_fs_is_reaped_after_the_thaw(h, qd):
    pool, data = pool_and_data(h)
    script = h.tmp / "writes-into-frozen"
    script.write_text("#!/bin/sh\necho blocked > \"$1/written-while-frozen\"\necho /nowhere\n")
    os.chmod(script, 0o755)
    t0 = time.monotonic()
    r = snap(h, qd, "--exec-cmd", f"{script} {{mountpoint}}", "--timeout", "2s", paths=[data.mnt])
    took = time.monotonic() - t0
    assert r.returncode == 1, r.stderr
    assert took < 12, f"took {took:.1f}s"
    assert r.manifest["label"] == "crash-consistent"
    h.assert_thawed(data.mnt)


def test_hold_force_thawed_during_snapshot_is_crash_consistent(h):
    d = h.start_daemon(max_frozen="1s")  # the ceiling ends the freeze while the provider runs
    pool, data = pool_and_data(h)
    script = h.tmp / "slow-but-fine"
    script.write_text(f"#!/bin/sh\nsleep 2\necho {pool.mnt}/made\n")
    os.chmod(script, 0o755)
    r = snap(h, d, "--exec-cmd", str(script), "--timeout", "8s", "--name", "ceiling", paths=[data.mnt])
    assert r.returncode == 1, r.stderr
    m = r.manifest
    f = m["filesystems"][0]
    assert f["snapshot"] == f"{pool.mnt}/made" and f["error"] is None
    assert f["frozen"] and not f["frozen_throughout"]
    assert m["label"] == "crash-consistent"
    assert "did not stay frozen" in " ".join(m["notes"])
    assert "crash-consistent" in r.stderr
    assert (h.tmp / "store" / "ceiling.json").exists(), "kept and labelled"

    r2 = snap(h, d, "--exec-cmd", str(script), "--timeout", "8s", "--allow-crash-consistent",
              paths=[data.mnt])
    assert r2.returncode == 0, r2.stderr
    assert r2.manifest["label"] == "crash-consistent"
    h.assert_thawed(data.mnt)


# ------------------------------------------------------------------ the freeze fails


def test_freeze_failure_aborts_unless_crash_consistent_allowed(h, qd):
    pool, data = pool_and_data(h)
    log = h.tmp / "hooks.log"
    hook(h, "10-log", f'echo "$1" >> {log}\n')
    assert h.fsfreeze(data.mnt).returncode == 0  # another tool froze it
    try:
        r = snap(h, qd, "--name", "busy", "--hooks-dir", h.tmp / "hooks", paths=[data.mnt])
        assert r.returncode == 1
        assert "another tool" in r.stderr
        assert log.read_text().split() == ["freeze", "thaw"], "the thaw hook runs after a failure too"
        assert not (h.tmp / "store" / "busy.json").exists()

        r2 = snap(h, qd, "--name", "busy2", "--hooks-dir", h.tmp / "hooks", "--allow-crash-consistent",
                  paths=[data.mnt])
        assert r2.returncode == 0, r2.stderr
        assert r2.manifest["label"] == "crash-consistent"
        assert "freeze failed" in r2.manifest["label_reason"]
    finally:
        h.fsfreeze(data.mnt, unfreeze=True)


@pytest.mark.timeout(60)
def test_interrupted_snapshot_thaws_and_runs_thaw_hooks(h, qd):
    pool, data = pool_and_data(h)
    log = h.tmp / "hooks.log"
    hook(h, "10-log", f'echo "$1" >> {log}\n')
    h.check_freezable([str(data.mnt)])
    p = h.quiesce_bg("snapshot", "--store", h.tmp / "store", "--hooks-dir", h.tmp / "hooks",
                     "--exec-cmd", "sleep 30", "--timeout", "20s", str(data.mnt), daemon=qd)
    qd.wait_for(lambda: qd.holds_on(data.mnt), timeout=10, what="the snapshot's hold")
    p.send_signal(signal.SIGINT)
    rc = p.wait(timeout=15)
    assert rc == 1, p.stderr.read()
    assert "interrupted" in p.stderr.read()
    h.assert_thawed(data.mnt)
    assert log.read_text().split() == ["freeze", "thaw"]


# ------------------------------------------------------------------ hooks' permissions


def test_hook_with_unsafe_permissions_is_refused(h, qd):
    pool, data = pool_and_data(h)
    marker = h.tmp / "ran"
    hook(h, "10-group-writable", f"touch {marker}-g\n", mode=0o775)
    other = hook(h, "20-not-root", f"touch {marker}-u\n")
    os.chown(other, 65534, 65534)
    hook(h, "30-fine", "exit 0\n")
    r = snap(h, qd, "--hooks-dir", h.tmp / "hooks", paths=[data.mnt])
    assert r.returncode == 0, r.stderr
    m = r.manifest
    assert m["label"] == "filesystem-consistent", "a refused hook counts as a failed one"
    res = {(x["name"], x["phase"]): x for x in m["hooks"]}
    assert "group-writable" in res[("10-group-writable", "freeze")]["refused"]
    assert "not root" in res[("20-not-root", "freeze")]["refused"]
    assert ("10-group-writable", "thaw") not in res, "a hook that never ran is owed no thaw"
    assert res[("30-fine", "thaw")]["exit_status"] == 0
    assert not Path(f"{marker}-g").exists() and not Path(f"{marker}-u").exists()


def test_hooks_in_a_world_writable_directory_are_refused(h, qd):
    pool, data = pool_and_data(h)
    marker = h.tmp / "ran"
    d = h.tmp / "openhooks"
    hook(h, "10-a", f"touch {marker}\n", hooks_dir=d)
    os.chmod(d, 0o777)
    r = snap(h, qd, "--hooks-dir", d, paths=[data.mnt], json_out=False)
    assert r.returncode == 0, r.stderr
    assert "refused: the hooks directory" in r.stdout and "world-writable" in r.stdout
    assert not marker.exists()


# ------------------------------------------------------------------ refusals, before any freeze


def refused(h, qd, *opts, paths, expect):
    before = qd.counters()
    r = snap(h, qd, *opts, paths=paths)
    assert r.returncode == 1, (r.returncode, r.stderr)
    for e in expect:
        assert e in r.stderr, r.stderr
    assert qd.counters() == before, "nothing may be frozen for a refused snapshot"
    assert not list((h.tmp / "store").glob("*.json")), "no manifest for a refused snapshot"
    return r


def test_refuse_reflink_of_a_filesystem_not_on_a_loop_device(h, qd):
    t = h.tmpfs()
    refused(h, qd, "--provider", "reflink", paths=[t.mnt], expect=[str(t.mnt), "not on a loop device"])


def test_refuse_btrfs_provider_on_ext4(h, qd):
    pool, data = pool_and_data(h)
    refused(h, qd, "--provider", "btrfs", paths=[data.mnt], expect=[str(data.mnt), "is ext4, not btrfs"])


def test_refuse_missing_path(h, qd):
    pool, data = pool_and_data(h)
    missing = data.mnt / "no-such-dir"
    before = qd.counters()
    r = h.quiesce("snapshot", "--store", h.tmp / "store", "--hooks-dir", h.tmp / "none",
                  str(data.mnt), str(missing), daemon=qd)
    assert r.returncode == 1
    assert f"{missing}: No such file or directory" in r.stderr
    assert qd.counters() == before


def test_refuse_reflink_of_an_image_on_ext4(h, qd):
    pool = h.make_fs("ext4", size="256M")
    data = h.make_fs("ext4", parent=pool.mnt, size="64M")
    refused(h, qd, paths=[data.mnt], expect=[str(data.img), "lies on ext4", "cannot reflink"])


def test_refuse_image_on_a_filesystem_of_the_same_group(h, qd):
    outer = h.make_fs("xfs")
    pool = h.make_fs("xfs", parent=outer.mnt)
    data = h.make_fs("ext4", parent=pool.mnt)
    refused(h, qd, paths=[data.mnt, pool.mnt], expect=[str(data.img), "freezes too"])


def test_refuse_image_on_a_frozen_filesystem(h, qd):
    outer = h.make_fs("xfs")
    pool = h.make_fs("xfs", parent=outer.mnt)
    data = h.make_fs("ext4", parent=pool.mnt)
    hold = h.freeze_detached(qd, data.mnt, pool.mnt, timeout="20s")
    try:
        before = qd.counters()
        r = snap(h, qd, paths=[data.mnt])
        assert r.returncode == 1
        assert "is frozen (quiesce hold" in r.stderr and str(pool.mnt) in r.stderr
        assert qd.counters() == before
    finally:
        assert h.quiesce("thaw", "--hold", hold, daemon=qd).returncode == 0


def test_refuse_bad_exec_template_and_usage(h, qd):
    pool, data = pool_and_data(h)
    refused(h, qd, "--exec-cmd", "lvcreate {volume}", paths=[data.mnt], expect=["unknown placeholder {volume}"])
    r = h.quiesce("snapshot", "--provider", "exec", str(data.mnt), daemon=qd)
    assert r.returncode == 2 and "--exec-cmd" in r.stderr
    r = h.quiesce("snapshot", "--name", "../x", str(data.mnt), daemon=qd)
    assert r.returncode == 2 and "invalid name" in r.stderr
    r = h.quiesce("snapshot", daemon=qd)
    assert r.returncode == 2
