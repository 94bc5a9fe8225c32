# SPDX-License-Identifier: GPL-2.0-or-later
"""Backup jobs (docs/jobs.md): job files refused with file, line and reason;
job list/show/run; a dry run freezes nothing; two runs of one job at once;
quiesce check's four exit codes; the metrics file read by promtool; the
generator's timer drop-ins verified by systemd-analyze; the unit's command
line run as systemd would; restic and borg round trips.

Every path a job snapshots lies on a loop filesystem the test made (checked
before each run); the store, hooks, locks, metrics and archives live in the
test's temporary directory, never /var/lib, /run/quiesce or /etc.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

import qzharness
from qzharness import run

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- helpers


def jobs_env(h):
    (h.tmp / "locks").mkdir(exist_ok=True)
    return {"QUIESCE_JOBS_DIR": str(h.tmp / "jobs"), "QUIESCE_JOB_LOCK_DIR": str(h.tmp / "locks"),
            "TMPDIR": str(h.tmp)}


def write_job(h, name, text, paths=None, store=None, extra_snapshot="", with_defaults=True):
    """Writes JOBS/NAME.conf. With defaults: the test's store, hooks and
    metrics directories, and [snapshot] paths = paths."""
    d = h.tmp / "jobs"
    d.mkdir(exist_ok=True)
    (h.tmp / "hooks").mkdir(exist_ok=True)
    if with_defaults:
        head = (f"[job]\nstore = {store or h.tmp / 'store'}\nmetrics-dir = {h.tmp / 'metrics'}\n\n"
                f"[snapshot]\npaths = {' '.join(str(p) for p in paths)}\n"
                f"hooks-dir = {h.tmp / 'hooks'}\ntimeout = 5s\n{extra_snapshot}\n")
        text = head + text
    f = d / f"{name}.conf"
    f.write_text(text)
    return f


def job(h, *args, qd=None, timeout=60, env=None):
    e = jobs_env(h)
    e.update(env or {})
    return h.quiesce("job", *args, daemon=qd, timeout=timeout, env=e)


def job_run(h, qd, name, paths, *args, timeout=120, env=None):
    h.check_freezable([str(p) for p in paths])
    return job(h, "run", name, *args, qd=qd, timeout=timeout, env=env)


def check(h, *args, env=None):
    e = jobs_env(h)
    e.update(env or {})
    return h.quiesce("check", *args, env=e)


def tree_hashes(root):
    """{relative path: sha256} of the regular files under root."""
    out = {}
    root = Path(root)
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink() and "lost+found" not in p.parts:
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def populate(mnt, n=12):
    mnt = Path(mnt)
    (mnt / "data" / "sub").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (mnt / "data" / f"f{i}").write_bytes(os.urandom(3000 * (i + 1)))
    (mnt / "data" / "sub" / "deep.txt").write_text("deep\n")
    subprocess.run(["sync", "-f", str(mnt)], timeout=30)


@pytest.fixture
def pool(h):
    return h.make_fs("xfs", size="600M", name="pool")


@pytest.fixture
def data(h, pool):
    fs = h.make_fs("ext4", size="128M", name="data", parent=pool.mnt)
    populate(fs.mnt)
    return fs


def manifest_by_hand(store, name, created, label, mnt="/nonexistent"):
    """A manifest as docs/snapshots.md fixes it, for check's verdicts on ages
    and labels (check reads manifests only; it never touches the storage)."""
    store = Path(store)
    store.mkdir(parents=True, exist_ok=True)
    frozen = label != "crash-consistent"
    m = {"format": 1, "name": name, "created": created, "label": label,
         "label_reason": "made by hand in a test", "provider": "reflink", "hold": -1,
         "duration_ms": 10, "frozen_ms": 5 if frozen else -1, "no_freeze": not frozen,
         "filesystems": [{"path": mnt, "mountpoint": mnt, "id": "7:99", "fstype": "ext4",
                          "source": "/dev/loop99", "backing_file": "/x.img", "provider": "reflink",
                          "snapshot": f"/x.img.quiesce-{name}", "size_bytes": 1, "stall_ms": 1,
                          "frozen_ms": 5 if frozen else -1, "frozen": frozen,
                          "frozen_throughout": frozen, "atomic": False}],
         "hooks": [], "notes": []}
    (store / f"{name}.json").write_text(json.dumps(m))


def stamp(t):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t)), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


# ---------------------------------------------------------------- job files


BAD_FILES = [
    ("unknown-key", "[snapshot]\npaths = /srv\n\n[retention]\nkeep-last = 3\nkeep-dayly = 7\n",
     6, 'unknown key "keep-dayly" in [retention]'),
    ("unknown-section", "[snapshot]\npaths = /srv\n[sechdule]\nat = 3\n", 4, "unknown section [sechdule]"),
    ("bad-duration", "[snapshot]\npaths = /srv\ntimeout = soon\n", 3,
     'bad duration "soon" for "timeout" in [snapshot]'),
    ("bad-count", "[snapshot]\npaths = /srv\n[retention]\nkeep-daily = -1\n", 4,
     'bad value "-1" for "keep-daily" in [retention]'),
    ("bad-bool", "[snapshot]\npaths = /srv\nallow-crash-consistent = maybe\n", 3,
     'bad value "maybe" for "allow-crash-consistent"'),
    ("bad-provider", "[snapshot]\npaths = /srv\nprovider = zfs\n", 3, 'unknown provider "zfs"'),
    ("bad-schedule", "# nightly\n[job]\nschedule = every tuesday-ish\n[snapshot]\npaths = /srv\n", 3,
     "bad schedule \"every tuesday-ish\" in [job]: Failed to parse calendar specification"),
    ("missing-paths", "[job]\ndescription = no paths\n\n[snapshot]\ntimeout = 5s\n", 5,
     'no "paths" in [snapshot]'),
    ("relative-path", "[snapshot]\npaths = srv\n", 2, 'path "srv" in [snapshot] is not absolute'),
    ("duplicate", "[snapshot]\npaths = /srv\ntimeout = 5s\ntimeout = 6s\n", 4, '"timeout" given twice'),
    ("placeholder", "[snapshot]\npaths = /srv\n[backup]\nexec = restic backup {paht}\n", 4,
     "unknown placeholder {paht}"),
    ("syntax", "[snapshot]\npaths = /srv\n[backup\n", 3, "syntax error"),
]


@pytest.mark.parametrize("case", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_job_file_names_file_line_and_reason(h, case):
    name, text, line, reason = case
    f = write_job(h, name, text, with_defaults=False)
    for args in (["show", name], ["run", name], ["run", name, "--dry-run"]):
        r = job(h, *args)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert f"{f}:{line}: {reason}" in r.stderr, r.stderr
    # list shows the good ones and names the bad one, failing
    write_job(h, "good", "[snapshot]\npaths = /srv\n", with_defaults=False)
    r = job(h, "list")
    assert r.returncode == 1
    assert re.search(r"^good\s", r.stdout, re.M), r.stdout
    assert f"{f}:{line}: {reason}" in r.stderr


def test_schedule_is_checked_by_systemd_s_parser(h):
    for expr in ("daily", "Mon..Fri *-*-* 03:00", "*-*-* 00/6:00:00", "weekly"):
        write_job(h, "s", f"[job]\nschedule = {expr}\n[snapshot]\npaths = /srv\n", with_defaults=False)
        r = job(h, "show", "s", "--json")
        assert r.returncode == 0, (expr, r.stderr)
        assert json.loads(r.stdout)["schedule"] == expr
        assert run(["systemd-analyze", "calendar", expr]).returncode == 0


def test_missing_job_and_bad_command_lines(h):
    r = job(h, "show", "nope")
    assert r.returncode == 1 and 'no job "nope"' in r.stderr
    assert f"{h.tmp}/jobs/nope.conf does not exist" in r.stderr
    assert job(h).returncode == 2
    assert job(h, "frobnicate").returncode == 2
    assert job(h, "show").returncode == 2
    r = job(h, "--help")
    assert r.returncode == 0 and "quiesce job run" in r.stdout


def test_list_and_show(h, data):
    write_job(h, "db", "[job]\ndescription = the data\n\n[backup]\narchive-dir = /srv/b\nformat = tar.gz\n"
              "[retention]\nkeep-last = 3\nkeep-daily = 7\n", paths=[data.mnt],
              extra_snapshot="writers = postgres\nallow-crash-consistent = yes\n")
    # the [job] section may come twice: keys are what count (description is in the second)
    write_job(h, "web", f"[job]\nschedule = *-*-* 03:00\n", paths=[data.mnt])
    r = job(h, "list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["JOB", "SCHEDULE", "RETENTION", "TARGET"]
    assert re.match(r"db\s+-\s+yes\s+archive /srv/b/SNAPSHOT.tar.gz", lines[1]), lines
    assert re.match(r"web\s+\*-\*-\* 03:00\s+-\s+snapshots only", lines[2]), lines
    j = json.loads(job(h, "list", "--json").stdout)
    assert [x["name"] for x in j["jobs"]] == ["db", "web"]
    s = json.loads(job(h, "show", "db", "--json").stdout)
    assert s["description"] == "the data"
    assert s["snapshot"]["paths"] == [str(data.mnt)]
    assert s["snapshot"]["writers"] == ["postgres"]
    assert s["snapshot"]["allow_crash_consistent"] is True
    assert s["snapshot"]["timeout_ms"] == 5000
    assert s["backup"] == {"target": "archive", "archive_dir": "/srv/b", "format": "tar.gz", "exec": None,
                           "env": [], "keep_snapshot": True}
    assert s["retention"] == {"keep_last": 3, "keep_hourly": 0, "keep_daily": 7, "keep_weekly": 0,
                              "keep_monthly": 0}
    r = job(h, "show", "web")
    assert r.returncode == 0
    assert "schedule:    *-*-* 03:00 (next " in r.stdout


# ---------------------------------------------------------------- runs


def test_dry_run_freezes_nothing(h, qd, data):
    write_job(h, "db", f"[backup]\narchive-dir = {h.tmp / 'archives'}\n", paths=[data.mnt])
    before = qd.counters()
    r = job_run(h, qd, "db", [data.mnt], "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "dry run, nothing is frozen or written" in r.stdout
    assert re.search(rf"would snapshot {re.escape(str(data.mnt))} .* as db-\d{{8}}T\d{{6}}Z in ", r.stdout)
    assert qd.counters() == before
    assert not (h.tmp / "store").exists() and not (h.tmp / "archives").exists()
    assert not (h.tmp / "metrics").exists()
    j = json.loads(job_run(h, qd, "db", [data.mnt], "--dry-run", "--json").stdout)
    assert j["dry_run"] is True and j["missing_paths"] == 0
    assert qd.counters() == before


def test_run_to_an_archive_writes_state_and_metrics(h, qd, data):
    arch = h.tmp / "archives"
    write_job(h, "db", f"[backup]\narchive-dir = {arch}\nformat = tar\n", paths=[data.mnt])
    before = qd.counters()
    r = job_run(h, qd, "db", [data.mnt])
    assert r.returncode == 0, r.stderr
    f, t = qd.counters()
    assert f == before[0] + 1 and t == before[1] + 1
    m = re.search(r"job db: snapshot (db-\d{8}T\d{6}Z): filesystem-consistent, reflink provider", r.stdout)
    assert m, r.stdout
    name = m.group(1)
    assert "frozen throughout, verified" in r.stdout
    assert re.search(r"job db: succeeded in ", r.stdout)
    archive = arch / f"{name}.tar"
    assert f"archive {archive}:" in r.stdout
    prefix = str(data.mnt).lstrip("/")
    with tarfile.open(archive) as tf:
        got = {m.name[len(prefix) + 1:]: hashlib.sha256(tf.extractfile(m).read()).hexdigest()
               for m in tf.getmembers() if m.isfile()}
    assert got == tree_hashes(data.mnt)
    manifest = json.loads((h.tmp / "store" / f"{name}.json").read_text())
    assert manifest["label"] == "filesystem-consistent"
    state = json.loads((h.tmp / "store" / ".job-db.state").read_text())
    assert state["last_ok"] is True and state["last_consistent_snapshot"] == name
    assert state["last_target"] == str(archive)
    prom = h.tmp / "metrics" / "quiesce_job_db.prom"
    text = prom.read_text()
    assert 'quiesce_job_last_success_timestamp_seconds{job="db"}' in text
    assert 'quiesce_job_last_label{job="db",label="filesystem-consistent"} 1' in text
    assert 'quiesce_job_last_label{job="db",label="crash-consistent"} 0' in text
    assert f'quiesce_job_stall_seconds{{job="db",mountpoint="{data.mnt}"}}' in text
    assert 'quiesce_job_snapshots{job="db"} 1' in text
    assert re.search(r'quiesce_job_archive_bytes\{job="db"\} [1-9]', text)
    p = subprocess.run(["promtool", "check", "metrics"], input=text, text=True, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    assert p.returncode == 0 and p.stdout.strip() == "", p.stdout
    assert list((h.tmp / "metrics").glob(".*")) == []  # the temporary file was renamed
    # a second run: another name, one more snapshot, and JSON
    r = job_run(h, qd, "db", [data.mnt], "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["ok"] is True and j["snapshot_name"] != name and j["snapshots"] == 2
    assert j["label"] == "filesystem-consistent" and j["consistent"] is True
    assert j["backup"]["target"] == "archive" and j["backup"]["files"] == len(tree_hashes(data.mnt))
    assert j["metrics_file"] == str(prom)


# ---------------------------------------------------------------- writers


def start_writer(h, qd, name, *args, paths):
    """`quiesce writer --name NAME ARGS PATHS` in the background, once quiesced registered it."""
    p = h.quiesce_bg("writer", "--name", name, *args, *paths, daemon=qd)
    qd.wait_for(lambda: f"writer {name} (id" in qd.log_text(), what=f"writer {name} registered")
    return p


def promtool(text):
    p = subprocess.run(["promtool", "check", "metrics"], input=text, text=True, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    assert p.returncode == 0 and p.stdout.strip() == "", p.stdout


def test_job_with_its_writer_registered_is_application_consistent(h, qd, data):
    w = start_writer(h, qd, "app", "--freeze", "true", paths=[data.mnt])
    write_job(h, "db", "", paths=[data.mnt], extra_snapshot="writers = app\n")
    r = job(h, "show", "db", qd=qd)
    assert r.returncode == 0, r.stderr
    assert (f"  writer app: registered: pid {w.pid}, uid 0, for {data.mnt} (ext4 {data.dev_id()})"
            in r.stdout), r.stdout
    r = job_run(h, qd, "db", [data.mnt], "--dry-run")
    assert r.returncode == 0 and "writer app: registered: " in r.stdout, r.stdout + r.stderr
    r = job_run(h, qd, "db", [data.mnt], "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["ok"] is True and j["label"] == "application-consistent", j["snapshot"]["label_reason"]
    assert j["writers_refused"] is False and j["writers_unacknowledged"] == 0
    [jw] = j["writers"]
    assert jw["name"] == "app" and jw["registered"] is True and jw["acknowledged"] is True, jw
    manifest = json.loads((h.tmp / "store" / f"{j['snapshot_name']}.json").read_text())
    assert manifest["label"] == "application-consistent"
    [mw] = manifest["writers"]
    assert mw["name"] == "app" and mw["acknowledged"] is True and mw["freeze"]["answer"] == "ok", mw
    text = (h.tmp / "metrics" / "quiesce_job_db.prom").read_text()
    assert 'quiesce_job_writer_registered{job="db",writer="app"} 1' in text
    assert 'quiesce_job_writer_acknowledged{job="db",writer="app"} 1' in text
    promtool(text)
    state = json.loads((h.tmp / "store" / ".job-db.state").read_text())
    assert state["last_ok"] is True and "last_writer_failure" not in state, state
    r = job_run(h, qd, "db", [data.mnt])
    assert r.returncode == 0 and "  writer app: acknowledged the freeze" in r.stdout, r.stdout


def test_job_refuses_before_freezing_when_its_writer_is_not_registered(h, qd, pool, data):
    start_writer(h, qd, "app", paths=[pool.mnt])  # the right name on another filesystem
    write_job(h, "db", "", paths=[data.mnt], extra_snapshot="writers = app gone\n")
    before = qd.counters()
    r = job_run(h, qd, "db", [data.mnt], "--dry-run")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "writer app: NOT registered: " in r.stdout and "writer gone: NOT registered: " in r.stdout, r.stdout
    assert "would refuse to start: 2 of its writers are not registered" in r.stdout, r.stdout
    r = job_run(h, qd, "db", [data.mnt])
    assert r.returncode == 1, r.stdout + r.stderr
    fsname = f"{data.mnt} (ext4 {data.dev_id()})"
    assert (f'job db: writer "app" is not registered with quiesced for {fsname} (a writer of that name, '
            f"pid ") in r.stderr and f"is registered for {pool.mnt} only); not starting: nothing was frozen" \
        in r.stderr, r.stderr
    assert f'job db: writer "gone" is not registered with quiesced for {fsname}; not starting' in r.stderr
    assert "job db: FAILED" in r.stdout, r.stdout
    assert qd.counters() == before  # nothing was frozen
    h.assert_thawed(data.mnt)
    assert list((h.tmp / "store").glob("db-*.json")) == []  # no snapshot
    state = json.loads((h.tmp / "store" / ".job-db.state").read_text())
    assert state["last_ok"] is False and 'writer "app" is not registered' in state["last_writer_failure"]
    text = (h.tmp / "metrics" / "quiesce_job_db.prom").read_text()
    assert 'quiesce_job_writer_registered{job="db",writer="app"} 0' in text
    assert 'quiesce_job_writer_acknowledged{job="db",writer="gone"} 0' in text
    assert 'quiesce_job_last_run_success{job="db"} 0' in text
    promtool(text)
    j = json.loads(job_run(h, qd, "db", [data.mnt], "--json").stdout)
    assert j["ok"] is False and j["writers_refused"] is True and j["snapshot"] is None
    assert [(w["name"], w["registered"], w["acknowledged"]) for w in j["writers"]] == [
        ("app", False, None), ("gone", False, None)], j["writers"]
    assert qd.counters() == before


def test_job_whose_writer_vetoes_freezes_nothing(h, qd, data):
    """root's writer vetoes at prepare: the freeze is refused, so the run fails with
    the writer's name and reason, and nothing is frozen or kept."""
    veto = h.tmp / "veto.sh"
    veto.write_text("#!/bin/sh\necho 'backup window closed' >&2\nexit 1\n")
    veto.chmod(0o755)
    start_writer(h, qd, "app", "--prepare", str(veto), paths=[data.mnt])
    write_job(h, "db", "", paths=[data.mnt], extra_snapshot="writers = app\n")
    before = qd.counters()
    r = job_run(h, qd, "db", [data.mnt], "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "app" in r.stderr and "backup window closed" in r.stderr, r.stderr
    assert qd.counters() == before  # nothing was frozen
    h.assert_thawed(data.mnt)
    j = json.loads(r.stdout)
    assert j["ok"] is False and j["snapshot"] is None and j["writers"][0]["registered"] is True, j
    assert list((h.tmp / "store").glob("db-*.json")) == []
    # the veto is the writer's failure: in the report, the state and the metrics
    [jw] = j["writers"]
    assert jw["acknowledged"] is False and j["writers_unacknowledged"] == 1, jw
    assert jw["reason"].startswith('writer "app" refused the freeze: vetoed prepare: '), jw
    assert "backup window closed" in jw["reason"], jw
    state = json.loads((h.tmp / "store" / ".job-db.state").read_text())
    assert state["last_ok"] is False and state["last_writer_failure"] == jw["reason"], state
    text = (h.tmp / "metrics" / "quiesce_job_db.prom").read_text()
    assert 'quiesce_job_writer_acknowledged{job="db",writer="app"} 0' in text


def test_job_refused_by_a_required_writer_it_does_not_name(h, qd, data, writers):
    """A required writer the job does not name does not answer prepare in time:
    quiesced refuses the freeze, naming it, and the job's state keeps that as
    its writer failure. (A raw writer that stays silent: `quiesce writer`
    would race quiesced's timeout with its own veto at the same 300 ms.)"""
    assert writers(qd, [data.mnt], "other", policy={"prepare": "silent"}, required=True,
                   prepare_timeout_ms=300).ok
    write_job(h, "db", "", paths=[data.mnt])
    before = qd.counters()
    r = job_run(h, qd, "db", [data.mnt], "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "required writer other (pid " in r.stderr, r.stderr
    assert qd.counters() == before  # nothing was frozen
    h.assert_thawed(data.mnt)
    state = json.loads((h.tmp / "store" / ".job-db.state").read_text())
    assert state["last_ok"] is False, state
    assert state["last_writer_failure"].startswith(
        'writer "other" refused the freeze: did not answer prepare within 300ms'), state


def test_job_writers_need_a_freeze(h, qd):
    """btrfs snapshots a subvolume without a freeze, so no writer is asked:
    the snapshot library refuses before anything happens (its own check of
    the expected writers, after the job's)."""
    b = h.make_fs("btrfs")
    start_writer(h, qd, "app", paths=[b.mnt])
    write_job(h, "bt", "", paths=[b.mnt], extra_snapshot="writers = app\n")
    before = qd.counters()
    r = job_run(h, qd, "bt", [b.mnt])
    assert r.returncode == 1, r.stdout + r.stderr
    assert ('job bt: writer "app" cannot take part: nothing is frozen (the provider snapshots without a '
            "freeze)") in r.stderr, r.stderr
    assert qd.counters() == before
    assert list((h.tmp / "store").glob("bt-*.json")) == []


def test_job_whose_writer_fails_freeze_is_not_application_consistent(h, qd, data):
    start_writer(h, qd, "app", "--freeze", "false", paths=[data.mnt])  # exit 1: fail
    write_job(h, "db", "", paths=[data.mnt], extra_snapshot="writers = app\n")
    r = job_run(h, qd, "db", [data.mnt], "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    j = json.loads(r.stdout)
    assert j["ok"] is False and j["label"] == "filesystem-consistent" and j["writers_unacknowledged"] == 1, j
    [jw] = j["writers"]
    assert jw["registered"] is True and jw["acknowledged"] is False, jw
    assert jw["reason"].startswith('writer "app" did not acknowledge the freeze: failed freeze'), jw
    assert "the run fails (allow-crash-consistent = yes accepts it)" in r.stderr, r.stderr
    h.assert_thawed(data.mnt)
    # the snapshot is kept, labelled for what it is; the run is a failure everywhere
    manifest = json.loads((h.tmp / "store" / f"{j['snapshot_name']}.json").read_text())
    assert manifest["label"] == "filesystem-consistent" and not manifest["writers"][0]["acknowledged"]
    state = json.loads((h.tmp / "store" / ".job-db.state").read_text())
    assert state["last_ok"] is False and state["last_consistent"] == 0
    assert state["last_writer_failure"].startswith('writer "app" did not acknowledge'), state
    text = (h.tmp / "metrics" / "quiesce_job_db.prom").read_text()
    assert 'quiesce_job_writer_registered{job="db",writer="app"} 1' in text
    assert 'quiesce_job_writer_acknowledged{job="db",writer="app"} 0' in text
    assert 'quiesce_job_last_run_success{job="db"} 0' in text
    promtool(text)

    # to an archive: nothing is backed up
    arch = h.tmp / "archives"
    write_job(h, "bk", f"[backup]\narchive-dir = {arch}\nformat = tar\nkeep-snapshot = no\n", paths=[data.mnt],
              extra_snapshot="writers = app\n")
    r = job_run(h, qd, "bk", [data.mnt], "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    j = json.loads(r.stdout)
    assert j["ok"] is False and j["backup"] is None and j["label"] == "filesystem-consistent", j
    assert "is not application-consistent" in r.stderr and 'writer "app" did not acknowledge' in r.stderr
    assert not list(arch.glob("*.tar")), list(arch.iterdir())
    assert list((h.tmp / "store").glob("bk-*.json")) == []  # keep-snapshot = no: deleted again

    # a job that accepts less than it asked for: the same snapshot, and the run succeeds
    write_job(h, "lax", "", paths=[data.mnt], extra_snapshot="writers = app\nallow-crash-consistent = yes\n")
    r = job_run(h, qd, "lax", [data.mnt], "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["ok"] is True and j["label"] == "filesystem-consistent" and j["writers_unacknowledged"] == 1
    assert "accepted (allow-crash-consistent = yes)" in r.stderr, r.stderr


def test_retention_after_each_run_prunes_snapshots_and_archives(h, qd, data):
    arch = h.tmp / "archives"
    write_job(h, "db", f"[backup]\narchive-dir = {arch}\nformat = tar\n[retention]\nkeep-last = 2\n",
              paths=[data.mnt])
    names = []
    for i in range(3):
        # runs back to back, often in one second (db-T, db-T-2, ...): retention orders by
        # the time to the second, then by the names, NAME-2 newer than NAME (the archives
        # by the names in their sidecars)
        r = job_run(h, qd, "db", [data.mnt], "--json")
        assert r.returncode == 0, r.stderr
        j = json.loads(r.stdout)
        names.append(j["snapshot_name"])
        assert j["pruned"] == (1 if i == 2 else 0) and j["pruned_archives"] == (1 if i == 2 else 0), j
        assert j["prune_failed"] == 0
        assert j["snapshots"] == min(i + 1, 2)
    left = sorted(p.stem for p in (h.tmp / "store").glob("db-*.json"))
    assert left == sorted(names[1:])
    # the oldest snapshot's reflink clone went with its manifest (the provider's own delete)
    assert not Path(f"{data.img}.quiesce-{names[0]}").exists()
    assert Path(f"{data.img}.quiesce-{names[2]}").exists()
    assert sorted(p.name for p in arch.glob("*.tar")) == sorted(f"{n}.tar" for n in names[1:])
    text = (h.tmp / "metrics" / "quiesce_job_db.prom").read_text()
    assert 'quiesce_job_snapshots{job="db"} 2' in text and 'quiesce_job_snapshots_pruned{job="db"} 1' in text
    r = job_run(h, qd, "db", [data.mnt])
    assert r.returncode == 0, r.stderr
    assert "retention (keep 2 last): removed 1 snapshot and 1 archive" in r.stdout, r.stdout


def test_archives_of_one_second_do_not_collide_and_order_by_their_sidecars(h, qd, data):
    """keep-snapshot = no leaves a run's name free in the store, so a second
    run in the same second would write the same ARCHIVE-DIR/NAME.tar: the run
    takes NAME-2 when NAME's archive (or sidecar) is there. Archives of one
    second are ordered by the snapshot name in their sidecars (NAME-10 newer
    than NAME-2 newer than NAME), not by file name ("NAME.tar" sorts after
    "NAME-2.tar")."""
    arch = h.tmp / "archives"
    arch.mkdir()
    write_job(h, "db", f"[backup]\narchive-dir = {arch}\nformat = tar\nkeep-snapshot = no\n", paths=[data.mnt])
    # the names of this second and the next few, taken by earlier archives (files of no job: no sidecar)
    now = time.time()
    taken = {}
    for i in range(4):
        n = f"db-{stamp(now + i)[0]}"
        (arch / f"{n}.tar").write_text(f"an earlier archive {i}\n")
        taken[n] = f"an earlier archive {i}\n"
    r = job_run(h, qd, "db", [data.mnt], "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    name = j["snapshot_name"]
    assert re.fullmatch(r"db-\d{8}T\d{6}Z-2", name) and name[:-2] in taken, name
    assert j["backup"]["archive"] == str(arch / f"{name}.tar") and j["backup"]["snapshot_deleted"] is True
    for n, text in taken.items():  # none overwritten
        assert (arch / f"{n}.tar").read_text() == text
    side = json.loads((arch / f"{name}.tar.manifest.json").read_text())
    assert side["name"] == name and side["job"] == "db"
    assert not (h.tmp / "store" / f"{name}.json").exists()

    # two more archives of that very second, as a run's NAME and NAME-10 would be
    base = name[:-2]
    for n in (base, f"{base}-10"):
        (arch / f"{n}.tar").write_bytes((arch / f"{name}.tar").read_bytes())
        (arch / f"{n}.tar.manifest.json").write_text(json.dumps(dict(side, name=n)))
    r = h.quiesce("snapshot", "prune", "--archives", arch, "--job", "db", "--keep-last", "2", "--dry-run",
                  "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)["archives"]
    assert [e["name"] for e in rep] == [f"{base}-10.tar", f"{name}.tar", f"{base}.tar"], rep
    assert [e["keep"] for e in rep] == [True, True, False]
    r = h.quiesce("snapshot", "prune", "--archives", arch, "--job", "db", "--keep-last", "1", "--json")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in arch.glob("*.manifest.json")) == [f"{base}-10.tar.manifest.json"]
    assert (arch / f"{base}-10.tar").exists() and not (arch / f"{name}.tar").exists()


def test_two_runs_at_once_refuse_or_wait(h, qd, data):
    # the backup command sleeps: the run holds its lock (nothing is frozen meanwhile)
    write_job(h, "db", "[backup]\nexec = sleep 3\nkeep-snapshot = yes\n", paths=[data.mnt])
    h.check_freezable([str(data.mnt)])
    e = jobs_env(h)
    first = h.quiesce_bg("job", "run", "db", daemon=qd, env=e)
    lock = h.tmp / "locks" / "db.lock"
    deadline = time.monotonic() + 20
    while not (lock.exists() and lock.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lock.read_text().split()[0] == str(first.pid)
    r = job_run(h, qd, "db", [data.mnt])
    assert r.returncode == 1
    assert re.search(rf'job "db" is already running \(pid {first.pid}, since \d{{4}}-\d\d-\d\d ', r.stderr), r.stderr
    assert len(list((h.tmp / "store").glob("db-*.json"))) <= 1  # no second snapshot alongside
    waiter = h.quiesce_bg("job", "run", "db", "--wait", "--json", daemon=qd, env=e)
    out1, err1 = first.communicate(timeout=60)
    assert first.returncode == 0, err1
    t_first_end = time.monotonic()
    out2, err2 = waiter.communicate(timeout=60)
    assert waiter.returncode == 0, err2
    j = json.loads(out2)
    first_name = re.search(r"snapshot (db-\S+):", out1).group(1)
    assert j["snapshot_name"] != first_name
    # the waiter's snapshot was made after the first run had finished
    m1 = json.loads((h.tmp / "store" / f"{first_name}.json").read_text())
    m2 = json.loads((h.tmp / "store" / f"{j['snapshot_name']}.json").read_text())
    assert m2["created"] >= m1["created"]
    assert j["started"] >= int(time.time()) - int(time.monotonic() - t_first_end) - 5
    assert sorted(p.name for p in (h.tmp / "store").glob("db-*.json")) == sorted(
        [f"{first_name}.json", f"{j['snapshot_name']}.json"])


def test_crash_consistent_only_job_is_critical(h, qd, data):
    write_job(h, "nf", "", paths=[data.mnt], extra_snapshot="no-freeze = yes\nallow-crash-consistent = yes\n")
    before = qd.counters()
    r = job_run(h, qd, "nf", [data.mnt], "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["label"] == "crash-consistent"
    assert qd.counters() == before
    text = (h.tmp / "metrics" / "quiesce_job_nf.prom").read_text()
    assert 'quiesce_job_last_label{job="nf",label="crash-consistent"} 1' in text
    assert 'quiesce_job_last_consistent_success_timestamp_seconds{job="nf"} 0' in text
    r = check(h, "--job", "nf", "--warn", "1h", "--crit", "2h")
    assert r.returncode == 2, r.stdout
    assert r.stdout.startswith("QUIESCE CRITICAL - job nf: no consistent snapshot or backup: only 1 "
                               "crash-consistent"), r.stdout
    assert "crash_consistent=1;;;0;" in r.stdout
    # the same job made to freeze: one consistent run makes it OK
    write_job(h, "nf", "", paths=[data.mnt])
    assert job_run(h, qd, "nf", [data.mnt]).returncode == 0
    r = check(h, "--job", "nf", "--warn", "1h", "--crit", "2h")
    assert r.returncode == 0, r.stdout
    assert re.match(r"QUIESCE OK - job nf: newest consistent snapshot nf-\d{8}T\d{6}Z(-\d+)? is \d+s ago "
                    r"\(filesystem-consistent\) \| age=\d+s;3600;7200;0; consistent=1;;;0; crash_consistent=1;;;0;$",
                    r.stdout.strip()), r.stdout


def test_check_exit_codes_on_ages(h):
    store = h.tmp / "store"
    write_job(h, "db", "", paths=["/srv"])
    now = time.time()
    # WARNING: the newest consistent one is 90 minutes old; a newer crash-consistent one does not count
    n90, c90 = stamp(now - 90 * 60)
    n10, c10 = stamp(now - 10 * 60)
    manifest_by_hand(store, f"db-{n90}", c90, "application-consistent")
    manifest_by_hand(store, f"db-{n10}", c10, "crash-consistent")
    manifest_by_hand(store, "other-snapshot", c10, "filesystem-consistent")  # not the job's
    r = check(h, "--job", "db", "--warn", "1h", "--crit", "2h")
    assert r.returncode == 1, r.stdout
    assert f"QUIESCE WARNING - job db: newest consistent snapshot db-{n90} is 90m ago (application-consistent)" \
        in r.stdout
    assert re.search(r"\| age=540\ds;3600;7200;0; consistent=1;;;0; crash_consistent=1;;;0;",
                     r.stdout), r.stdout
    # without --job: every snapshot in the store counts, the other one is newest
    r = check(h, "--store", store, "--warn", "1h", "--crit", "2h")
    assert r.returncode == 0 and "other-snapshot is 10m ago" in r.stdout, r.stdout
    # CRITICAL: older than --crit
    r = check(h, "--job", "db", "--warn", "30m", "--crit", "80m", "--json")
    assert r.returncode == 2
    j = json.loads(r.stdout)
    assert j["status"] == "CRITICAL" and j["code"] == 2 and 5390 <= j["age_s"] <= 5460
    # OK
    r = check(h, "--job", "db", "--warn", "2h", "--crit", "3h")
    assert r.returncode == 0 and r.stdout.startswith("QUIESCE OK - "), r.stdout
    # UNKNOWN: no such job; a store that is not a directory; a usage error
    r = check(h, "--job", "nope", "--warn", "1h", "--crit", "2h")
    assert r.returncode == 3 and r.stdout.startswith('QUIESCE UNKNOWN - no job "nope"'), r.stdout
    bad = h.tmp / "not-a-store"
    bad.write_text("x")
    r = check(h, "--store", bad, "--warn", "1h", "--crit", "2h")
    assert r.returncode == 3 and f"QUIESCE UNKNOWN - store {bad}: Not a directory" in r.stdout, r.stdout
    r = check(h, "--job", "db", "--warn", "1h")
    assert r.returncode == 3 and "--crit AGE" in r.stderr
    r = check(h, "--job", "db", "--warn", "3h", "--crit", "1h")
    assert r.returncode == 3
    # a bad age: UNKNOWN at once, one complaint (not a second one about a missing --crit)
    r = check(h, "--job", "db", "--warn", "1h", "--crit", "soon")
    assert r.returncode == 3 and "--crit: bad age 'soon'" in r.stderr, r.stderr
    assert "required" not in r.stderr and r.stdout == "", r.stderr + r.stdout


# ---------------------------------------------------------------- systemd


def built_units(h):
    """The built units, ExecStart pointing at the built quiesce."""
    d = h.tmp / "units"
    d.mkdir(exist_ok=True)
    svc = (qzharness.build_dir() / "systemd" / "quiesce-job@.service").read_text()
    m = re.search(r"^ExecStart=(\S+)/quiesce (.*)$", svc, re.M)
    assert m, svc
    (d / "quiesce-job@.service").write_text(svc.replace(m.group(1) + "/quiesce", str(qzharness.cli_bin())))
    shutil.copy(REPO / "systemd" / "quiesce-job@.timer", d)
    return d, m.group(2)


def man_path(h):
    """The man pages of the tree where man(1) finds them (verify checks Documentation=)."""
    d = h.tmp / "man"
    for page in (REPO / "man").glob("*.[0-9]"):
        sec = d / f"man{page.suffix[1:]}"
        sec.mkdir(parents=True, exist_ok=True)
        shutil.copy(page, sec)
    return str(d)


def test_generator_and_systemd_analyze_verify(h):
    write_job(h, "db", "[job]\nschedule = Mon..Fri *-*-* 03:00\n[snapshot]\npaths = /srv\n", with_defaults=False)
    write_job(h, "byhand", "[snapshot]\npaths = /srv\n", with_defaults=False)
    write_job(h, "broken", "[snapshot]\npaths = /srv\nbogus = 1\n", with_defaults=False)
    gen = h.tmp / "gen"
    gen.mkdir()
    gbin = qzharness.build_dir() / "src" / "job" / "quiesce-job-generator"
    p = subprocess.run([gbin, gen, gen, gen], env={**os.environ, **jobs_env(h)}, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert f'{h.tmp}/jobs/broken.conf:3: unknown key "bogus" in [snapshot] (no timer)' in p.stderr
    dropin = gen / "quiesce-job@db.timer.d" / "schedule.conf"
    assert "[Timer]\nOnCalendar=\nOnCalendar=Mon..Fri *-*-* 03:00\n" in dropin.read_text()
    link = gen / "timers.target.wants" / "quiesce-job@db.timer"
    assert link.is_symlink() and os.readlink(link).endswith("/quiesce-job@.timer")
    assert sorted(p.name for p in gen.iterdir()) == ["quiesce-job@db.timer.d", "timers.target.wants"]
    assert [p.name for p in (gen / "timers.target.wants").iterdir()] == ["quiesce-job@db.timer"]
    units, _ = built_units(h)
    shutil.copytree(gen / "quiesce-job@db.timer.d", units / "quiesce-job@db.timer.d")
    env = {**os.environ, "MANPATH": man_path(h)}
    v = subprocess.run(["systemd-analyze", "verify", units / "quiesce-job@db.timer", units / "quiesce-job@db.service"],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    assert v.returncode == 0 and v.stdout == "", v.stdout
    timer = subprocess.run(["systemd-analyze", "cat-config", "--no-pager", units / "quiesce-job@.timer"],
                           stdout=subprocess.PIPE, text=True, timeout=30)
    assert "Persistent=true" in (units / "quiesce-job@.timer").read_text()
    # the timer without the generator's drop-in has no schedule: systemd refuses it
    shutil.rmtree(units / "quiesce-job@db.timer.d")
    v = subprocess.run(["systemd-analyze", "verify", units / "quiesce-job@db.timer"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    assert v.returncode != 0 and "lacks value setting" in v.stdout, v.stdout


def test_the_unit_s_command_line_as_systemd_runs_it(h, qd, data):
    write_job(h, "db", "[job]\nschedule = daily\n", paths=[data.mnt])
    units, cmdline = built_units(h)
    assert cmdline == "job run %i"
    argv = [str(qzharness.cli_bin())] + cmdline.replace("%i", "db").split()
    h.check_freezable([str(data.mnt)])
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C", "QUIESCE_SOCKET": str(qd.socket),
           **jobs_env(h)}
    p = subprocess.run(argv, env=env, cwd="/", stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert re.search(r"job db: succeeded in ", p.stdout)
    assert len(list((h.tmp / "store").glob("db-*.json"))) == 1


# ---------------------------------------------------------------- restic, borg


def find_tree(root, marker):
    """The directory under root that holds marker (restic keeps the absolute
    path of what it backed up: the private mount of the snapshot)."""
    for p in Path(root).rglob(marker):
        return p.parents[len(Path(marker).parts) - 1]
    raise AssertionError(f"{marker} not found under {root}")


def test_each_run_logs_structured_fields_to_the_journal(h, qd, data):
    """The journal entry of a run, as a real systemd-journald stores it:
    helpers/with-journald runs the journald of this system in a private mount
    namespace (its own /run/systemd, /run/log, /var/log/journal: the host's
    journal is not touched), the run sends to it through libsystemd's
    sd_journal_send, and journalctl reads the fields back. A failed run logs
    too, at PRIORITY 3. (Outside that namespace there is no journald here,
    and every other test runs without one: journal.c then logs nothing.)"""
    arch = h.tmp / "archives"
    write_job(h, "db", f"[backup]\narchive-dir = {arch}\nformat = tar\n", paths=[data.mnt])
    write_job(h, "bad", "[backup]\nexec = false\n", paths=[data.mnt])
    h.check_freezable([str(data.mnt)])
    helper = Path(__file__).parent / "helpers" / "with-journald"
    e = {**os.environ, **jobs_env(h)}
    e.pop("QUIESCE_SOCKET", None)
    entries = {}
    runs = {}
    for name in ("db", "bad"):
        out = h.tmp / f"journal-{name}.json"
        p = subprocess.run([helper, out, f"QUIESCE_JOB={name}", qzharness.cli_bin(), "--socket", qd.socket,
                            "job", "run", name, "--json"], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert p.returncode == (0 if name == "db" else 1), p.stderr
        runs[name] = json.loads(p.stdout)
        entries[name] = [json.loads(l) for l in out.read_text().splitlines() if l.strip()]
        assert len(entries[name]) == 1, entries[name]
    run, j = runs["db"], entries["db"][0]
    snap = run["snapshot"]
    fs = snap["filesystems"][0]
    assert j["_TRANSPORT"] == "journal" and j["SYSLOG_IDENTIFIER"] == "quiesce" and j["PRIORITY"] == "6"
    assert j["QUIESCE_JOB"] == "db" and j["QUIESCE_RESULT"] == "success"
    assert j["QUIESCE_SNAPSHOT"] == run["snapshot_name"] == snap["name"]
    assert j["QUIESCE_LABEL"] == run["label"] == "filesystem-consistent"
    assert int(j["QUIESCE_STALL_USEC"]) == fs["stall_ms"] * 1000
    assert int(j["QUIESCE_FROZEN_USEC"]) == snap["frozen_ms"] * 1000 > 0
    assert int(j["QUIESCE_DURATION_USEC"]) == run["duration_ms"] * 1000
    assert j["QUIESCE_ARCHIVE"] == run["backup"]["archive"] == str(arch / f"{snap['name']}.tar")
    assert j["MESSAGE"] == (f"job db: succeeded, snapshot {snap['name']} (filesystem-consistent) in "
                            f"{run['duration_ms']} ms")
    bad = entries["bad"][0]
    assert bad["PRIORITY"] == "3" and bad["QUIESCE_RESULT"] == "failure" and bad["QUIESCE_ARCHIVE"] == ""
    assert bad["MESSAGE"].startswith("job bad: failed, ")
    assert runs["bad"]["ok"] is False


@pytest.mark.timeout(180)
def test_restic_round_trip(h, qd, data):
    if not shutil.which("restic"):
        pytest.skip("restic not installed (scripts/install-deps)")
    repo = h.tmp / "restic-repo"
    pw = h.tmp / "restic-pw"
    pw.write_text("correct horse battery staple\n")
    renv = {**os.environ, "RESTIC_PASSWORD_FILE": str(pw), "RESTIC_CACHE_DIR": str(h.tmp / "restic-cache")}
    run(["restic", "-r", repo, "init"], env=renv, timeout=60)
    write_job(h, "rs", f"[backup]\nexec = restic -r {repo} backup --tag {{name}} --tag {{label}} .\n"
              f"env = RESTIC_PASSWORD_FILE={pw}\nenv = RESTIC_CACHE_DIR={h.tmp / 'restic-cache'}\n"
              "keep-snapshot = no\n", paths=[data.mnt])
    expected = tree_hashes(data.mnt)
    r = job_run(h, qd, "rs", [data.mnt], "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["ok"] and j["backup"]["target"] == "exec" and j["backup"]["exit_status"] == [0]
    assert j["backup"]["snapshot_deleted"] is True
    # the live filesystem changes after the run: the restore must not see it
    (data.mnt / "data" / "f0").write_text("changed later\n")
    snaps = json.loads(run(["restic", "-r", repo, "snapshots", "--json"], env=renv).stdout)
    assert len(snaps) == 1 and sorted(snaps[0]["tags"]) == sorted([j["snapshot_name"], "filesystem-consistent"])
    out = h.tmp / "restored"
    run(["restic", "-r", repo, "restore", "latest", "--target", out], env=renv, timeout=120)
    assert tree_hashes(find_tree(out, "data/sub/deep.txt")) == expected
    # check: the snapshot is gone, its backup counts (the job's state)
    c = check(h, "--job", "rs", "--warn", "1h", "--crit", "2h")
    assert c.returncode == 0 and f"backup of {j['snapshot_name']}" in c.stdout, c.stdout


@pytest.mark.timeout(180)
def test_borg_round_trip(h, qd, data):
    if not shutil.which("borg"):
        pytest.skip("borg not installed (scripts/install-deps)")
    repo = h.tmp / "borg-repo"
    benv = {**os.environ, "BORG_PASSPHRASE": "correct horse", "BORG_BASE_DIR": str(h.tmp / "borg-home")}
    run(["borg", "init", "--encryption=repokey", repo], env=benv, timeout=60)
    write_job(h, "bg", f"[backup]\nexec = borg create {repo}::{{name}} .\n"
              f"env = BORG_PASSPHRASE=correct horse\nenv = BORG_BASE_DIR={h.tmp / 'borg-home'}\n",
              paths=[data.mnt])
    expected = tree_hashes(data.mnt)
    r = job_run(h, qd, "bg", [data.mnt], "--json")
    assert r.returncode == 0, r.stderr
    name = json.loads(r.stdout)["snapshot_name"]
    archives = run(["borg", "list", "--short", repo], env=benv).stdout.split()
    assert archives == [name]
    out = h.tmp / "borg-restored"
    out.mkdir()
    run(["borg", "extract", f"{repo}::{name}"], env=benv, cwd=out, timeout=120)
    assert tree_hashes(out) == expected
