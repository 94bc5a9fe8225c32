# SPDX-License-Identifier: GPL-2.0-or-later
"""Retention, pins and the honest list (issue 13, parts 3, 4 and 7) against
the real kernel: real snapshots (reflink clones on an XFS pool, btrfs
subvolumes) made through quiesced on the test's loop filesystems, their
manifests' "created" times then rewritten (times are injected, never
slept), `quiesce snapshot prune` deleting through each provider, pins held
by live processes (and released by SIGKILL), lasting pins, and archives in
a target directory pruned by their sidecars.
"""

import fcntl
import json
import os
import signal
import time
from pathlib import Path

import pytest

import qzharness


def snap(h, qd, *opts, paths, store):
    h.check_freezable([str(p) for p in paths])
    r = h.quiesce("snapshot", "--store", store, "--hooks-dir", h.tmp / "no-hooks", "--json", *opts,
                  *[str(p) for p in paths], daemon=qd, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def set_created(store, name, created):
    """Injects a snapshot's time: rewrites "created" in its manifest."""
    mf = Path(store) / f"{name}.json"
    m = json.loads(mf.read_text())
    m["created"] = created
    mf.write_text(json.dumps(m, indent=2))


def prune(h, store, *opts):
    return h.quiesce("snapshot", "prune", "--store", store, *opts, timeout=60)


def prune_json(h, store, *opts):
    r = prune(h, store, "--json", *opts)
    assert r.returncode == 0, r.stderr
    return {e["name"]: e for e in json.loads(r.stdout)["snapshots"]}


def listing(h, store):
    r = h.quiesce("snapshot", "list", "--store", store, "--json")
    assert r.returncode == 0, r.stderr
    return {m["name"]: m for m in json.loads(r.stdout)}


@pytest.fixture
def data(h):
    pool = h.make_fs("xfs", size="400M", name="pool")
    fs = h.make_fs("ext4", size="64M", name="data", parent=pool.mnt)
    (fs.mnt / "file").write_text("payload\n")
    return fs


# Twelve days of one nightly job: d01..d12 at 03:10 UTC, d05 and d11
# crash-consistent (--no-freeze), d12 also the newest; two more on day 12.
DAYS = [f"2026-11-{d:02d}T03:10:00Z" for d in range(1, 13)]
CRASH = {"d05", "d11"}


def make_month(h, qd, data, store, job="nightly"):
    names = []
    for i, created in enumerate(DAYS, 1):
        name = f"d{i:02d}"
        opts = ["--name", name, "--job", job]
        if name in CRASH:
            opts += ["--no-freeze", "--allow-crash-consistent"]
        m = snap(h, qd, *opts, paths=[data.mnt], store=store)
        assert m["job"] == job
        set_created(store, name, created)
        names.append(name)
    # the same day twice more: the newest of the day counts
    for name, created in (("d12b", "2026-11-12T09:00:00Z"), ("d12c", "2026-11-12T21:00:00Z")):
        snap(h, qd, "--name", name, "--job", job, paths=[data.mnt], store=store)
        set_created(store, name, created)
        names.append(name)
    return names


def clone_of(store, name):
    return Path(json.loads((Path(store) / f"{name}.json").read_text())["filesystems"][0]["snapshot"])


@pytest.mark.timeout(300)
def test_prune_keeps_consistent_by_policy_and_deletes_through_the_provider(h, qd, data):
    store = h.tmp / "store"
    names = make_month(h, qd, data, store)
    clones = {n: clone_of(store, n) for n in names}
    assert all(c.exists() for c in clones.values())
    # another job's snapshot and one of no job: never touched by --job nightly
    snap(h, qd, "--name", "other", "--job", "weekly", paths=[data.mnt], store=store)

    # no policy: refused, nothing removed
    r = prune(h, store)
    assert r.returncode == 2 and "no policy" in r.stderr
    r = prune(h, store, "--keep-daily", "0")
    assert r.returncode == 2

    # --dry-run: the decision, nothing removed
    opts = ["--job", "nightly", "--keep-last", "2", "--keep-daily", "4"]
    dry = prune_json(h, store, "--dry-run", *opts)
    assert set(dry) == set(names)
    assert all(c.exists() for c in clones.values())
    assert all((store / f"{n}.json").exists() for n in names)
    # restic's rules over the consistent ones: last 2 = d12c, d12b; daily 4 =
    # d12c (day 12), d10, d09, d08 (d11 is crash-consistent: never counts)
    kept = {n for n, e in dry.items() if e["keep"]}
    assert kept == {"d12c", "d12b", "d10", "d09", "d08"}, kept
    assert dry["d12c"]["reason"] == "keep: last, daily 2026-11-12"
    assert dry["d12b"]["reason"] == "keep: last"
    assert dry["d10"]["reason"] == "keep: daily 2026-11-10"
    for c in CRASH:
        assert dry[c]["keep"] is False and dry[c]["label"] == "crash-consistent"
        assert dry[c]["reason"] == "remove: crash-consistent, never counts"
        assert dry[c]["removal_order"] in (1, 2)  # crash-consistent go first
    assert dry["d12"]["reason"] == "remove: not kept by the policy"

    # the text report says the same, and why
    t = prune(h, store, "--dry-run", *opts)
    assert t.returncode == 0, t.stderr
    line = next(l for l in t.stdout.splitlines() if l.startswith("d11 "))
    assert "remove: crash-consistent, never counts (--dry-run: not removed)" in line
    assert "5 kept, 9 would be removed" in t.stdout

    # for real: through the reflink provider, the clone files are gone
    done = prune_json(h, store, *opts)
    for n in names:
        assert done[n]["removed"] == (n not in kept), n
        assert clones[n].exists() == (n in kept), n
        assert (store / f"{n}.json").exists() == (n in kept), n
    assert Path(data.img).exists()
    assert (store / "other.json").exists(), "another job's snapshot was touched"
    # a second run: nothing more to remove (the policy is stable)
    again = prune_json(h, store, *opts)
    assert all(e["keep"] for e in again.values())


@pytest.mark.timeout(120)
def test_prune_removes_btrfs_subvolumes(h, qd):
    b = h.make_fs("btrfs", name="b")
    (b.mnt / "file").write_text("on btrfs\n")
    store = h.tmp / "store"
    for i, created in enumerate(("2026-11-01T10:00:00Z", "2026-11-02T10:00:00Z", "2026-11-03T10:00:00Z")):
        snap(h, qd, "--provider", "btrfs", "--name", f"b{i}", paths=[b.mnt], store=store)
        set_created(store, f"b{i}", created)
    subvols = {f"b{i}": clone_of(store, f"b{i}") for i in range(3)}
    assert all(p.is_dir() for p in subvols.values())
    done = prune_json(h, store, "--keep-last", "1")
    assert done["b2"]["keep"] and not done["b1"]["keep"] and not done["b0"]["keep"]
    assert subvols["b2"].is_dir()
    assert not subvols["b1"].exists() and not subvols["b0"].exists()
    assert (b.mnt / "file").read_text() == "on btrfs\n"


@pytest.mark.timeout(180)
def test_broken_snapshot_never_counts_and_goes_first(h, qd, data):
    store = h.tmp / "store"
    for i, created in enumerate(("2026-11-01T10:00:00Z", "2026-11-02T10:00:00Z")):
        snap(h, qd, "--name", f"s{i}", paths=[data.mnt], store=store)
        set_created(store, f"s{i}", created)
    clone_of(store, "s1").unlink()  # the newest's image deleted by hand
    lst = h.quiesce("snapshot", "list", "--store", store)
    assert "missing" in lst.stdout
    done = prune_json(h, store, "--keep-last", "1")
    assert done["s1"]["keep"] is False
    assert done["s1"]["reason"].startswith("remove: broken (its storage is missing)")
    assert done["s0"]["reason"] == "keep: last"
    assert not (store / "s1.json").exists() and (store / "s0.json").exists()


@pytest.mark.timeout(120)
def test_a_snapshot_still_being_taken_is_never_touched(h, qd, data):
    """A manifest whose run still holds its reservation (written, the run not
    yet ended): prune neither removes it nor counts it."""
    store = h.tmp / "store"
    for i, created in enumerate(("2026-11-01T10:00:00Z", "2026-11-02T10:00:00Z")):
        snap(h, qd, "--name", f"s{i}", paths=[data.mnt], store=store)
        set_created(store, f"s{i}", created)
    fd = os.open(store / ".s1.reserved", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, f"{os.getpid()}\n".encode())
        done = prune_json(h, store, "--keep-last", "1")
        assert done["s1"]["keep"] is True
        assert done["s1"]["reason"] == f"keep: in progress (reserved by pid {os.getpid()}), never touched"
        assert done["s0"]["reason"] == "keep: last"  # s1 holds no slot
        assert (store / "s1.json").exists() and clone_of(store, "s1").exists()
    finally:
        os.close(fd)
    # the run is over (its lock gone): s1 counts again, and s0 goes
    done = prune_json(h, store, "--keep-last", "1")
    assert done["s1"]["reason"] == "keep: last" and done["s0"]["removed"] is True


def start_backup_holding(h, store, name, pidfile):
    """`quiesce backup --snapshot NAME --exec` whose command waits: the backup
    holds its lease on NAME until it ends."""
    tmp = h.tmp / "bktmp"
    tmp.mkdir(exist_ok=True)
    p = h.quiesce_bg("backup", "--snapshot", name, "--store", store, "--exec", "sh", "-c",
                     f"echo $$ > {pidfile}; exec sleep 60", "--", env={"TMPDIR": str(tmp)})
    deadline = time.monotonic() + 20
    while not pidfile.exists() or not pidfile.read_text().strip():
        assert p.poll() is None, p.communicate()
        assert time.monotonic() < deadline, "the backup's command never started"
        time.sleep(0.02)
    return p, int(pidfile.read_text())


@pytest.mark.timeout(180)
def test_backup_lease_pins_until_the_process_dies(h, qd, data):
    store = h.tmp / "store"
    for i, created in enumerate(("2026-11-01T10:00:00Z", "2026-11-02T10:00:00Z")):
        snap(h, qd, "--name", f"s{i}", "--job", "j", paths=[data.mnt], store=store)
        set_created(store, f"s{i}", created)
    old_clone = clone_of(store, "s0")
    p, child = start_backup_holding(h, store, "s0", h.tmp / "child.pid")
    try:
        # seen from another process, mid-backup: list, delete, prune
        lst = listing(h, store)
        pins = lst["s0"]["pins"]
        assert len(pins) == 1 and pins[0]["lasting"] is False
        assert pins[0]["pid"] == p.pid and pins[0]["command"] == "quiesce backup"
        assert lst["s1"]["pins"] == []
        text = h.quiesce("snapshot", "list", "--store", store).stdout
        assert f"  pinned by pid {p.pid} (quiesce backup, since " in text
        d = h.quiesce("snapshot", "delete", "--store", store, "s0")
        assert d.returncode == 1
        assert f'snapshot "s0" is pinned by pid {p.pid} (quiesce backup, since ' in d.stderr
        assert (store / "s0.json").exists() and old_clone.exists()
        done = prune_json(h, store, "--keep-last", "1")
        assert done["s0"]["keep"] is True
        assert done["s0"]["reason"].startswith(f"keep: pinned by pid {p.pid} (quiesce backup")
        assert old_clone.exists()
        # SIGKILL: no cleanup runs, and the lease dies with the process
        p.kill()
        p.wait(timeout=30)  # (its command, still running, holds the output pipes)
    finally:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
    lst = listing(h, store)
    assert lst["s0"]["pins"] == []
    leases = list((store / ".leases").iterdir())
    assert leases == [], f"a stale lease was left: {leases}"
    done = prune_json(h, store, "--keep-last", "1")
    assert done["s0"]["removed"] is True
    assert not old_clone.exists() and not (store / "s0.json").exists()


@pytest.mark.timeout(120)
def test_lasting_pin_survives_until_unpinned(h, qd, data):
    store = h.tmp / "store"
    for i, created in enumerate(("2026-11-01T10:00:00Z", "2026-11-02T10:00:00Z")):
        snap(h, qd, "--name", f"s{i}", paths=[data.mnt], store=store)
        set_created(store, f"s{i}", created)
    r = h.quiesce("snapshot", "pin", "--store", store, "--reason", "legal hold 42", "s0")
    assert r.returncode == 0, r.stderr
    again = h.quiesce("snapshot", "pin", "--store", store, "s0")
    assert again.returncode == 1 and "pinned already" in again.stderr
    nope = h.quiesce("snapshot", "pin", "--store", store, "nosuch")
    assert nope.returncode == 1 and "no such snapshot" in nope.stderr
    pin = store / "s0.pin"
    assert json.loads(pin.read_text())["reason"] == "legal hold 42"  # on disk: survives a reboot
    lst = listing(h, store)
    assert lst["s0"]["pins"][0]["lasting"] is True
    assert "legal hold 42" in lst["s0"]["pins"][0]["description"]
    d = h.quiesce("snapshot", "delete", "--store", store, "s0")
    assert d.returncode == 1
    assert 'snapshot "s0" is pinned by a lasting pin' in d.stderr and "legal hold 42" in d.stderr
    assert "quiesce snapshot unpin s0" in d.stderr
    assert prune_json(h, store, "--keep-last", "1")["s0"]["keep"] is True
    assert clone_of(store, "s0").exists()
    r = h.quiesce("snapshot", "unpin", "--store", store, "s0")
    assert r.returncode == 0, r.stderr
    r = h.quiesce("snapshot", "unpin", "--store", store, "s0")
    assert r.returncode == 1 and "has no lasting pin" in r.stderr
    c = clone_of(store, "s0")
    assert prune_json(h, store, "--keep-last", "1")["s0"]["removed"] is True
    assert not c.exists()


@pytest.mark.timeout(240)
def test_archives_in_a_target_directory_follow_the_policy(h, qd, data):
    store = h.tmp / "store"
    target = h.tmp / "target"
    target.mkdir()
    tmp = h.tmp / "bktmp"
    tmp.mkdir()
    made = []
    for i, (created, crash) in enumerate((("2026-11-01T10:00:00Z", False), ("2026-11-02T10:00:00Z", False),
                                          ("2026-11-03T10:00:00Z", True), ("2026-11-04T10:00:00Z", False))):
        opts = ["--name", f"a{i}", "--job", "nightly"] + (["--no-freeze", "--allow-crash-consistent"] if crash else [])
        snap(h, qd, *opts, paths=[data.mnt], store=store)
        set_created(store, f"a{i}", created)
        out = target / f"a{i}.tar"
        r = h.quiesce("backup", "--snapshot", f"a{i}", "--store", store, "--to", out,
                      env={"TMPDIR": str(tmp)}, timeout=120)
        assert r.returncode == 0, r.stderr
        side = json.loads(Path(f"{out}.manifest.json").read_text())
        assert side["name"] == f"a{i}" and side["job"] == "nightly" and side["created"] == created
        made.append(out)
    (target / "foreign.tar").write_text("not ours\n")  # no sidecar: left alone
    r = h.quiesce("snapshot", "prune", "--archives", target, "--job", "nightly", "--keep-last", "2", "--json")
    assert r.returncode == 0, r.stderr
    rep = {e["name"]: e for e in json.loads(r.stdout)["archives"]}
    assert set(rep) == {"a0.tar", "a1.tar", "a2.tar", "a3.tar"}
    assert rep["a2.tar"]["reason"] == "remove: crash-consistent, never counts"
    assert rep["a3.tar"]["keep"] and rep["a1.tar"]["keep"]
    assert [p.exists() for p in made] == [False, True, False, True]
    assert not Path(f"{made[0]}.manifest.json").exists()
    assert (target / "foreign.tar").exists()
    # the snapshots themselves are another matter: all still in the store
    assert all((store / f"a{i}.json").exists() for i in range(4))


@pytest.mark.timeout(300)
def test_prune_job_takes_the_policy_from_its_job_file(h, qd, data):
    """--job NAME without --keep-*: the [retention] of JOBS_DIR/NAME.conf and
    its store, said first; --keep-* given too override it (and say what they
    replace); a missing job file, or one without [retention], is exit 1."""
    store = h.tmp / "store"
    names = make_month(h, qd, data, store)
    jobs = h.tmp / "jobs"
    jobs.mkdir()
    jf = jobs / "nightly.conf"
    jf.write_text(f"[job]\nstore = {store}\nmetrics-dir = none\n\n[snapshot]\npaths = {data.mnt}\n\n"
                  "[retention]\nkeep-last = 2\nkeep-daily = 4\n")
    (jobs / "bare.conf").write_text(f"[job]\nstore = {store}\n[snapshot]\npaths = {data.mnt}\n")

    def jprune(*opts, env=None):
        return h.quiesce("snapshot", "prune", "--jobs-dir", jobs, *opts, env=env, timeout=60)

    # the job's policy and its store (no --store given): the same decision as the options would give
    r = jprune("--job", "nightly", "--dry-run", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["store"] == str(store)
    assert rep["policy_source"] == {"from": "job", "job_file": str(jf), "keys": "keep-last 2, keep-daily 4",
                                    "overrides": None}
    kept = {e["name"] for e in rep["snapshots"] if e["keep"]}
    assert kept == {"d12c", "d12b", "d10", "d09", "d08"}, kept
    by_opts = prune_json(h, store, "--dry-run", "--job", "nightly", "--keep-last", "2", "--keep-daily", "4")
    assert {n for n, e in by_opts.items() if e["keep"]} == kept
    t = jprune("--job", "nightly", "--dry-run")
    assert t.returncode == 0, t.stderr
    assert t.stdout.splitlines()[0] == f"policy from job nightly ({jf}): keep-last 2, keep-daily 4", t.stdout
    assert "5 kept, 9 would be removed" in t.stdout
    # $QUIESCE_JOBS_DIR as for quiesce job
    r = h.quiesce("snapshot", "prune", "--job", "nightly", "--dry-run", env={"QUIESCE_JOBS_DIR": str(jobs)})
    assert r.returncode == 0 and r.stdout.startswith("policy from job nightly"), r.stdout + r.stderr

    # --keep-* as well: they override the file, and the report says so
    t = jprune("--job", "nightly", "--keep-last", "1", "--dry-run")
    assert t.returncode == 0, t.stderr
    assert t.stdout.splitlines()[0] == ("policy from the command line: keep-last 1 (instead of job nightly's "
                                        "keep-last 2, keep-daily 4)"), t.stdout
    assert "1 kept, 13 would be removed" in t.stdout

    # refusals: no such job, a job without [retention]; nothing removed
    r = jprune("--job", "nope")
    assert r.returncode == 1 and "nope.conf" in r.stderr and "--keep-" in r.stderr, r.stderr
    r = jprune("--job", "bare")
    assert r.returncode == 1 and f"job bare ({jobs / 'bare.conf'}) has no [retention]" in r.stderr, r.stderr
    assert all((store / f"{n}.json").exists() for n in names)

    # for real: the job's policy removes what the dry run said
    r = jprune("--job", "nightly", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["removed"] == 9
    assert sorted(p.stem for p in store.glob("d*.json")) == sorted(kept)


@pytest.mark.timeout(120)
def test_prune_deletes_exec_snapshots_through_their_delete_template(h, qd, data):
    """The exec provider's snapshots go through their own --exec-delete
    template, as `snapshot delete` does (the LV's lvremove: tests/vm)."""
    store = h.tmp / "store"
    pool = Path(data.img).parent
    script = h.tmp / "mk"
    script.write_text(f"#!/bin/sh\ntouch {pool}/made-$1\necho {pool}/made-$1\n")
    os.chmod(script, 0o755)
    for i, created in enumerate(("2026-11-01T03:10:00Z", "2026-11-02T03:10:00Z", "2026-11-03T03:10:00Z")):
        m = snap(h, qd, "--exec-cmd", f"{script} {{name}}", "--exec-delete", "rm -f {location}", "--name",
                 f"x{i}", "--job", "ex", paths=[data.mnt], store=store)
        assert m["provider"] == "exec"
        set_created(store, f"x{i}", created)
    assert all((pool / f"made-x{i}").exists() for i in range(3))
    done = prune_json(h, store, "--job", "ex", "--keep-last", "1")
    assert [n for n, e in sorted(done.items()) if e["removed"]] == ["x0", "x1"]
    assert [(pool / f"made-x{i}").exists() for i in range(3)] == [False, False, True]
    assert sorted(p.stem for p in store.glob("x*.json")) == ["x2"]
