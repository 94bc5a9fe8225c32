# SPDX-License-Identifier: GPL-2.0-or-later
"""quiesce backup: from a snapshot (hand-made here: fsfreeze + a reflink
clone + a manifest as docs/snapshots.md fixes it), a private read-only mount,
an archive (.tar, .tar.gz, .tar.zst) or a command; nothing left behind.
"""

import io
import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

import qzharness
from qzharness import mount_of, run


# ---------------------------------------------------------------- helpers


def make_snapshot(h, filesystems, store, name, label="filesystem-consistent", freeze=True):
    """A reflink snapshot by hand of each loop filesystem (its image must lie
    on an XFS or btrfs filesystem of the test): freeze (fsfreeze, our own
    loop mounts only), clone, thaw; then the manifest STORE/NAME.json."""
    store = Path(store)
    store.mkdir(exist_ok=True)
    entries = []
    for fs in filesystems:
        clone = Path(f"{fs.img}.quiesce-{name}")
        if freeze:
            assert h.fsfreeze(fs.mnt).returncode == 0
        try:
            run(["cp", "--reflink=always", fs.img, clone], timeout=60)
        finally:
            if freeze:
                h.fsfreeze(fs.mnt, unfreeze=True)
        entries.append({
            "path": str(fs.mnt), "mountpoint": str(fs.mnt), "id": mount_of(fs.mnt)[1],
            "fstype": fs.fstype, "source": fs.dev, "backing_file": str(fs.img),
            "provider": "reflink", "snapshot": str(clone), "size_bytes": clone.stat().st_size,
            "stall_ms": 1 if freeze else -1, "frozen_ms": 5 if freeze else -1,
            "frozen": freeze, "frozen_throughout": freeze, "atomic": False,
        })
    manifest = {
        "format": 1, "name": name, "created": "2026-11-22T11:15:00Z", "label": label,
        "label_reason": "made by hand in a test", "provider": "reflink", "hold": -1,
        "duration_ms": 10, "frozen_ms": 5 if freeze else -1, "no_freeze": not freeze,
        "filesystems": entries, "hooks": [], "notes": [],
    }
    (store / f"{name}.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def populate(mnt):
    """A small tree with what an archive must keep."""
    mnt = Path(mnt)
    (mnt / "dir" / "sub").mkdir(parents=True)
    for i in range(20):
        (mnt / "dir" / f"f{i}").write_bytes(os.urandom(1000 * (i + 1)))
    (mnt / "dir" / "sub" / "deep.txt").write_text("deep\n")
    os.symlink("dir/f1", mnt / "link")
    os.link(mnt / "dir" / "f2", mnt / "hard2")
    os.setxattr(mnt / "dir" / "f3", "user.test", b"hello")
    os.chown(mnt / "dir" / "f4", 1234, 5678)
    os.chmod(mnt / "dir" / "f5", 0o4751)
    os.utime(mnt / "dir" / "f6", (1_000_000_000, 1_000_000_000))
    with open(mnt / "sparse", "wb") as f:
        f.truncate(20 << 20)
        f.seek(20 << 20)
        f.write(b"end\n")
    os.mkfifo(mnt / "fifo")
    subprocess.run(["sync", "-f", str(mnt)], timeout=30)


def read_tar(path):
    """A tarfile over any of our archive kinds (zstd through the zstd tool)."""
    path = str(path)
    if path.endswith(".zst"):
        if not shutil.which("zstd"):
            pytest.skip("zstd not installed: cannot read a .tar.zst back")
        data = subprocess.run(["zstd", "-dc", path], stdout=subprocess.PIPE, check=True,
                              timeout=60).stdout
        return tarfile.open(fileobj=io.BytesIO(data), mode="r:")
    return tarfile.open(path, mode="r:*")


def our_loops_on(paths):
    """Loop devices whose backing file is one of paths."""
    paths = {str(p) for p in paths}
    out = []
    for n in os.listdir("/sys/block"):
        if n.startswith("loop"):
            b = qzharness.loop_backing("/dev/" + n)
            if b and (b in paths or b.replace(" (deleted)", "") in paths):
                out.append(f"/dev/{n} ({b})")
    return out


def private_tmp(h):
    return h.tmp / "bktmp"


def backup(h, *args, timeout=120, env=None):
    e = {"TMPDIR": str(private_tmp(h))}
    private_tmp(h).mkdir(exist_ok=True)
    e.update(env or {})
    return h.quiesce("backup", *args, timeout=timeout, env=e)


def assert_nothing_left(h, clones):
    assert our_loops_on(clones) == [], "a loop device over a snapshot is left"
    left = list(private_tmp(h).glob("quiesce-backup.*")) if private_tmp(h).exists() else []
    assert left == [], f"temporary directories left: {left}"
    partial = [p for p in h.tmp.rglob(".*.partial-*")]
    assert partial == [], f"partial archives left: {partial}"


@pytest.fixture
def pool(h):
    return h.make_fs("xfs", size="600M", name="pool")


@pytest.fixture
def data(h, pool):
    fs = h.make_fs("ext4", size="160M", name="data", parent=pool.mnt)
    populate(fs.mnt)
    return fs


# ---------------------------------------------------------------- archives


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz", ".tar.zst"])
def test_archive_keeps_the_tree(h, data, suffix):
    store = h.tmp / "store"
    snap = make_snapshot(h, [data], store, "s1")
    # the live filesystem changes after the snapshot: the archive must not see it
    (data.mnt / "after-snapshot").write_text("later\n")
    out = h.tmp / f"out{suffix}"
    r = backup(h, "--snapshot", "s1", "--store", store, "--to", out)
    assert r.returncode == 0, r.stderr
    assert "snapshot s1: filesystem-consistent" in r.stdout
    assert re.search(r"archive .*out" + re.escape(suffix) + r": .* files, ", r.stdout), r.stdout
    assert r.stderr == ""
    prefix = str(data.mnt).lstrip("/")
    with read_tar(out) as t:
        names = {m.name: m for m in t.getmembers()}
        assert prefix in names and names[prefix].isdir()
        assert f"{prefix}/after-snapshot" not in names
        for i in range(20):
            m = names[f"{prefix}/dir/f{i}"]
            assert m.size in (0, 1000 * (i + 1))
            if not m.islnk():
                assert t.extractfile(m).read() == (data.mnt / "dir" / f"f{i}").read_bytes()
        assert names[f"{prefix}/link"].issym() and names[f"{prefix}/link"].linkname == "dir/f1"
        # one of the two names of the hard link is a link to the other
        pair = [names[f"{prefix}/hard2"], names[f"{prefix}/dir/f2"]]
        assert sum(m.islnk() for m in pair) == 1
        lnk = [m for m in pair if m.islnk()][0]
        assert lnk.linkname in (f"{prefix}/hard2", f"{prefix}/dir/f2")
        f3 = names[f"{prefix}/dir/f3"]
        assert f3.pax_headers.get("SCHILY.xattr.user.test") == "hello", f3.pax_headers
        f4 = names[f"{prefix}/dir/f4"]
        assert (f4.uid, f4.gid) == (1234, 5678)
        assert names[f"{prefix}/dir/f5"].mode & 0o7777 == 0o4751
        assert int(names[f"{prefix}/dir/f6"].mtime) == 1_000_000_000
        assert names[f"{prefix}/fifo"].isfifo()
        sp = names[f"{prefix}/sparse"]
        assert sp.size == (20 << 20) + 4
        assert t.extractfile(sp).read()[-4:] == b"end\n"
    assert oct(out.stat().st_mode & 0o777) == oct(0o600)
    assert_nothing_left(h, [snap["filesystems"][0]["snapshot"]])
    # a named snapshot is never deleted by a backup
    assert Path(snap["filesystems"][0]["snapshot"]).exists()


def test_two_filesystems_one_archive_xfs_nouuid(h, pool):
    """ext4 and XFS in one snapshot: each under its mount point; the XFS clone
    has the UUID of the mounted original, so it needs nouuid."""
    e = h.make_fs("ext4", size="128M", name="e", parent=pool.mnt)
    x = h.make_fs("xfs", size="300M", name="x", parent=pool.mnt)
    (e.mnt / "on-ext4").write_text("ext4\n")
    (x.mnt / "on-xfs").write_text("xfs\n")
    subprocess.run(["sync"], timeout=60)
    store = h.tmp / "store"
    snap = make_snapshot(h, [e, x], store, "two")
    out = h.tmp / "two.tar"
    r = backup(h, "--snapshot", "two", "--store", store, "--to", out, "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert [f["fstype"] for f in rep["filesystems"]] == ["ext4", "xfs"]
    assert "nouuid" in rep["filesystems"][1]["mount_options"]
    # ext4's freeze leaves a clean journal; XFS's a covered log not marked clean
    assert rep["filesystems"][0]["journal_replay_skipped"] is False
    assert rep["filesystems"][0]["journal"] == "clean"
    if rep["filesystems"][1]["journal_replay_skipped"]:
        assert "norecovery" in rep["filesystems"][1]["mount_options"]
        assert "nothing to replay" in rep["filesystems"][1]["journal"]
    assert "warning" not in r.stderr
    assert rep["snapshot"]["name"] == "two" and rep["snapshot"]["made_now"] is False
    assert rep["archive"]["bytes"] == out.stat().st_size
    with tarfile.open(out) as t:
        n = set(t.getnames())
    assert f"{str(e.mnt).lstrip('/')}/on-ext4" in n
    assert f"{str(x.mnt).lstrip('/')}/on-xfs" in n
    assert_nothing_left(h, [f["snapshot"] for f in snap["filesystems"]])


def test_unfrozen_snapshot_needs_journal_recovery(h, data):
    """A clone of a mounted ext4 taken without a freeze has a journal to
    replay; the read-only device cannot take it, so the backup mounts it
    without the replay and says so."""
    (data.mnt / "busy").write_bytes(os.urandom(1 << 20))
    store = h.tmp / "store"
    snap = make_snapshot(h, [data], store, "crash", label="crash-consistent", freeze=False)
    out = h.tmp / "crash.tar"
    r = backup(h, "--snapshot", "crash", "--store", store, "--to", out, "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    fs = rep["filesystems"][0]
    assert fs["journal_replay_skipped"] is True and "noload" in fs["mount_options"]
    r = backup(h, "--snapshot", "crash", "--store", store, "--to", out)
    assert "crash-consistent" in r.stderr and "journal needed recovery" in r.stderr
    assert_nothing_left(h, [snap["filesystems"][0]["snapshot"]])


# ---------------------------------------------------------------- --exec


def test_exec_runs_in_the_snapshot(h, data):
    store = h.tmp / "store"
    snap = make_snapshot(h, [data], store, "ex")
    (data.mnt / "after").write_text("x")
    report = h.tmp / "exec-report.txt"
    script = ('echo "cwd=$(pwd) path=$1 label=$QUIESCE_SNAPSHOT_LABEL name=$QUIESCE_SNAPSHOT_NAME" > "$2"; '
              'ls >> "$2"; if touch x 2>/dev/null; then echo WRITABLE >> "$2"; fi')
    r = backup(h, "--snapshot", "ex", "--store", store,
               "--exec", "sh", "-c", script, "sh", "{path}", str(report), "--")
    assert r.returncode == 0, r.stderr
    text = report.read_text()
    first = text.splitlines()[0]
    m = re.match(r"cwd=(\S+) path=(\S+) label=filesystem-consistent name=ex", first)
    assert m and m.group(1) == m.group(2), first
    assert "dir" in text and "hard2" in text and "after" not in text
    assert "WRITABLE" not in text
    assert "exit status 0" in r.stdout
    assert_nothing_left(h, [snap["filesystems"][0]["snapshot"]])


def test_exec_failure_is_reported(h, data):
    store = h.tmp / "store"
    snap = make_snapshot(h, [data], store, "exf")
    r = backup(h, "--snapshot", "exf", "--store", store, "--exec", "sh", "-c", "exit 3", "--")
    assert r.returncode == 1
    assert str(data.mnt) in r.stderr and "exit status 3" in r.stderr
    r = backup(h, "--snapshot", "exf", "--store", store, "--exec", "no-such-command-qz", "--")
    assert r.returncode == 1 and "no-such-command-qz" in r.stderr
    assert_nothing_left(h, [snap["filesystems"][0]["snapshot"]])


def test_exec_unknown_placeholder_is_refused_before_the_snapshot(h, data):
    """The one placeholder rule (src/common/template.c): an unknown {word} is
    refused by name before anything is frozen; other braces pass through."""
    store = h.tmp / "store"
    r = backup(h, str(data.mnt), "--store", store, "--exec", "echo", "{paht}", "--")
    assert r.returncode == 2, r.stderr
    assert "unknown placeholder {paht}" in r.stderr and "{path}" in r.stderr
    assert not store.exists() or not list(store.glob("*.json"))
    snap = make_snapshot(h, [data], store, "br")
    out = h.tmp / "braces.txt"
    r = backup(h, "--snapshot", "br", "--store", store,
               "--exec", "sh", "-c", 'echo "$1" > "$2"', "sh", "{}{A}{{name}}", str(out), "--")
    assert r.returncode == 0, r.stderr
    assert out.read_text().strip() == "{}{A}{br}"
    assert_nothing_left(h, [snap["filesystems"][0]["snapshot"]])


# ---------------------------------------------------------------- refusals


def test_usage_and_missing_snapshot(h, data):
    store = h.tmp / "store"
    store.mkdir()
    r = backup(h, "--snapshot", "nope", "--store", store, "--to", h.tmp / "x.tar")
    assert r.returncode == 1 and "nope" in r.stderr and "not found" in r.stderr
    r = backup(h, "--snapshot", "nope", "--store", store, "--to", h.tmp / "x.zip")
    assert r.returncode == 2 and ".tar.zst" in r.stderr
    r = backup(h, "--snapshot", "nope", "--store", store)
    assert r.returncode == 2
    r = backup(h, "--snapshot", "nope", "--store", store, "--exec", "true")
    assert r.returncode == 2 and "'--'" in r.stderr
    r = backup(h, "--snapshot", "nope", "--store", store, "--to", h.tmp / "x.tar", "--exec", "true", "--")
    assert r.returncode == 2


def test_missing_snapshot_image_names_path_and_fs(h, data):
    store = h.tmp / "store"
    snap = make_snapshot(h, [data], store, "gone")
    clone = snap["filesystems"][0]["snapshot"]
    os.unlink(clone)
    r = backup(h, "--snapshot", "gone", "--store", store, "--to", h.tmp / "g.tar")
    assert r.returncode == 1
    assert str(data.mnt) in r.stderr and clone in r.stderr and "ext4" in r.stderr
    assert not (h.tmp / "g.tar").exists()
    assert_nothing_left(h, [clone])


# ---------------------------------------------------------------- interruptions


def _wait_for_private_mount(pid, clone, timeout=20):
    """Until the backup process has its private read-only mount (seen only in
    its own mount namespace) and has started writing the archive."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            mi = Path(f"/proc/{pid}/mountinfo").read_text()
        except OSError:
            return False
        if "quiesce-backup." in mi:
            return True
        time.sleep(0.01)
    return False


@pytest.mark.timeout(240)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_backup_leaves_nothing(h, pool, sig):
    """SIGINT (Ctrl-C) or SIGTERM at several moments of the archive writing:
    no mount, no loop device, no temporary directory, no partial archive,
    nothing frozen; the exit status is 128 + the signal."""
    big = h.make_fs("ext4", size="256M", name="big", parent=pool.mnt)
    for i in range(6):
        (big.mnt / f"blob{i}").write_bytes(os.urandom(24 << 20))
    store = h.tmp / "store"
    snap = make_snapshot(h, [big], store, "big")
    clone = snap["filesystems"][0]["snapshot"]
    out = h.tmp / "big.tar.gz"  # gzip: slow enough to be caught in the middle
    private_tmp(h).mkdir(exist_ok=True)
    env = dict(os.environ, TMPDIR=str(private_tmp(h)))
    env.pop("QUIESCE_SOCKET", None)
    for delay in (0.0, 0.2, 0.6, 1.2):
        p = subprocess.Popen([str(qzharness.cli_bin()), "backup", "--snapshot", "big", "--store",
                              str(store), "--to", str(out)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
        h.procs.append(p)
        assert _wait_for_private_mount(p.pid, clone), "the backup never mounted its snapshot"
        # the mount is private: the system's namespace never sees it
        assert not any("quiesce-backup." in m[3] for m in qzharness.mountinfo())
        time.sleep(delay)
        p.send_signal(sig)
        _, err = p.communicate(timeout=60)
        assert p.returncode == 128 + sig, (delay, p.returncode, err)
        assert "interrupted" in err and "removed" in err, err
        assert not out.exists()
        assert_nothing_left(h, [clone])
    h.assert_thawed(big.mnt)


@pytest.mark.timeout(120)
def test_killed_backup_leaves_no_mount_or_loop(h, pool):
    """Even SIGKILL, which runs no cleanup: the mount lived in the backup's
    private namespace and dies with it, and the autoclear loop device goes
    with its last user. (Only the empty temporary directories can remain.)"""
    big = h.make_fs("ext4", size="256M", name="big", parent=pool.mnt)
    for i in range(4):
        (big.mnt / f"blob{i}").write_bytes(os.urandom(24 << 20))
    store = h.tmp / "store"
    snap = make_snapshot(h, [big], store, "big")
    clone = snap["filesystems"][0]["snapshot"]
    private_tmp(h).mkdir(exist_ok=True)
    env = dict(os.environ, TMPDIR=str(private_tmp(h)))
    p = subprocess.Popen([str(qzharness.cli_bin()), "backup", "--snapshot", "big", "--store", str(store),
                          "--to", str(h.tmp / "k.tar.gz")], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    h.procs.append(p)
    assert _wait_for_private_mount(p.pid, clone)
    time.sleep(0.3)
    p.kill()
    p.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while our_loops_on([clone]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert our_loops_on([clone]) == []
    assert not any("quiesce-backup." in m[3] for m in qzharness.mountinfo())


# ---------------------------------------------------------------- made now, and the demo


def test_backup_of_paths_makes_and_deletes_the_snapshot(h, qd, data):
    """PATH...: a snapshot through quiesced now (reflink), the backup, and the
    snapshot deleted afterwards; --keep-snapshot keeps it."""
    store = h.tmp / "store"
    hooks = h.tmp / "hooks.d"
    hooks.mkdir(mode=0o755)
    out = h.tmp / "now.tar.gz"
    r = backup(h, "--socket", qd.socket, "--provider", "reflink", "--timeout", "5s", "--hooks-dir", hooks,
               "--store", store, "--name", "now1", "--to", out, "--json", data.mnt)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["snapshot"]["made_now"] is True and rep["snapshot"]["deleted"] is True
    assert rep["snapshot"]["label"] == "filesystem-consistent"  # no hook ran
    assert rep["filesystems"][0]["stall_ms"] >= 0
    assert not (store / "now1.json").exists()
    assert not list(Path(data.img).parent.glob("*.quiesce-now1"))
    with tarfile.open(out) as t:
        assert f"{str(data.mnt).lstrip('/')}/dir/f7" in t.getnames()
    h.assert_thawed(data.mnt)

    r = backup(h, "--socket", qd.socket, "--hooks-dir", hooks, "--store", store, "--name", "now2",
               "--keep-snapshot", "--exec", "test", "-f", "{path}/dir/f7", "--", data.mnt)
    assert r.returncode == 0, r.stderr
    assert "snapshot now2 kept" in r.stdout
    assert (store / "now2.json").exists()
    clones = list(Path(data.img).parent.glob("*.quiesce-now2"))
    assert len(clones) == 1
    assert_nothing_left(h, clones)


def test_backup_of_paths_takes_a_free_default_name(h, qd, data):
    """quiesce backup names its snapshot as quiesce snapshot does: the UTC
    time, or TIME-2 when a live run holds TIME (its STORE/.TIME.reserved)."""
    import fcntl
    store = h.tmp / "store"
    store.mkdir()
    fds = []
    for i in range(4):  # the default names of the next seconds, held by live runs
        n = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() + i))
        fd = os.open(store / f".{n}.reserved", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        fds.append(fd)
    try:
        r = backup(h, "--socket", qd.socket, "--hooks-dir", h.tmp / "no-hooks", "--store", store,
                   "--to", h.tmp / "dn.tar", "--json", data.mnt)
    finally:
        for fd in fds:
            os.close(fd)
    assert r.returncode == 0, r.stderr
    name = json.loads(r.stdout)["snapshot"]["name"]
    assert re.fullmatch(r"\d{8}-\d{6}-2", name), name
    assert not (store / f".{name}.reserved").exists() and not (store / f"{name}.json").exists()


def test_backup_of_paths_refuses_crash_consistent(h, qd, data):
    store = h.tmp / "store"
    r = backup(h, "--socket", qd.socket, "--no-freeze", "--store", store, "--name", "nf",
               "--hooks-dir", h.tmp, "--to", h.tmp / "nf.tar", data.mnt)
    assert r.returncode == 1
    assert "crash-consistent" in r.stderr and "deleted" in r.stderr
    assert not (h.tmp / "nf.tar").exists() and not (store / "nf.json").exists()


def assert_demo_left_nothing(out):
    tmp = re.search(r"(/tmp/quiesce-demo\.\w+)", out).group(1)
    assert not os.path.exists(tmp)
    assert not any(m[3].startswith(tmp) for m in qzharness.mountinfo())
    assert not any(tmp in l for l in qzharness.leftovers()[1])
    loops = [n for n in os.listdir("/sys/block") if n.startswith("loop")
             and (qzharness.loop_backing("/dev/" + n) or "").startswith(tmp)]
    assert loops == []


def assert_demo_job_act(out):
    """Act 7: the job file in the demo's own jobs directory, two runs, a
    prune that keeps the newer, quiesce check OK on it."""
    act = out[out.index("== 7. A backup job"):]
    tmp = re.search(r"(/tmp/quiesce-demo\.\w+)", out).group(1)
    assert f"{tmp}/jobs.d/demo.conf (what /etc/quiesce/jobs.d/demo.conf would hold):" in act
    assert f"paths = {tmp}/data" in act and "[retention]" in act
    assert re.search(rf"\$ \S+/quiesce --socket \S+ job run demo --jobs-dir {tmp}/jobs\.d\n", act)
    assert len(re.findall(r"job demo: snapshot demo-\S+: application-consistent, reflink provider", act)) == 2
    assert len(re.findall(r"job demo: succeeded in ", act)) == 2
    first, second = re.search(r"two runs: snapshots (demo-\S+) and (demo-\S+) in the store", act).groups()
    assert first != second
    assert "policy from the command line: keep-last 1 (instead of job demo's keep-last 2)" in act
    assert re.search(rf"{re.escape(first)} +\S+ demo application-consistent remove: not kept by the policy "
                     r"\(removed\)", act), act
    assert f"prune: {first} removed (its reflink clone with it), {second} kept; one archive left" in act
    m = re.search(r"QUIESCE OK - job demo: newest consistent snapshot (\S+) is \d+s ago \(application-consistent\)"
                  r" \| age=\d+s;3600;86400;0; consistent=1;", act)
    assert m and m.group(1) == second, act
    assert "quiesce check exit status 0" in act
    assert f"metrics for the node exporter: {tmp}/metrics/quiesce_job_demo.prom" in act


@pytest.mark.timeout(120)
def test_demo_runs_and_leaves_nothing(h):
    """The README's first command, after its build: under a minute, a proof,
    and nothing left behind."""
    t0 = time.monotonic()
    p = subprocess.run([str(qzharness.demo_bin())], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=110, stdin=subprocess.DEVNULL)
    took = time.monotonic() - t0
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr
    out = p.stdout
    assert "application-consistent" in out
    assert "e2fsck -fn of the snapshot image: clean" in out
    assert "(all of them)" in out
    assert "freeze proof    verified" in out
    assert_demo_job_act(out)
    assert "nothing left behind" in out
    assert_demo_left_nothing(out)
    assert took < 60, f"the demo took {took:.1f}s"


@pytest.mark.timeout(120)
def test_demo_interrupted_while_frozen_thaws_through_quiesced(h):
    """Ctrl-C while two holds freeze the demo's filesystem and a writer is
    blocked on it: the demo thaws through quiesced (it calls no FITHAW
    itself), the writer ends, and nothing is left; exit 128+SIGINT."""
    p = subprocess.Popen([str(qzharness.demo_bin())], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, stdin=subprocess.DEVNULL)
    out = []
    try:
        for line in p.stdout:
            out.append(line)
            if "is blocked in the kernel on the frozen filesystem" in line:
                p.send_signal(signal.SIGINT)
                break
        rest, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    text = "".join(out) + rest
    assert p.returncode == 128 + signal.SIGINT, text[-3000:] + err
    assert "interrupted by SIGINT" in text
    assert len(re.findall(r"hold \d+ thawed through quiesced", text)) == 2, text[-3000:]
    assert "nothing left behind" in text, text[-3000:] + err
    assert_demo_left_nothing(text)


def test_demo_help_and_version():
    for flag in ("--help", "-h"):
        r = subprocess.run([str(qzharness.demo_bin()), flag], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=10)
        assert r.returncode == 0 and r.stderr == ""
        assert r.stdout.startswith("\nUsage:\n quiesce-demo ")
        for opt in ("--use-running", "--socket", "--help", "--version"):
            assert opt in r.stdout
    r = subprocess.run([str(qzharness.demo_bin()), "--version"], stdout=subprocess.PIPE, text=True, timeout=10)
    assert r.returncode == 0 and r.stdout == f"quiesce-demo from quiesce {qzharness.project_version()}\n"
    r = subprocess.run([str(qzharness.demo_bin()), "--bogus"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=10)
    assert r.returncode == 2 and "--help" in r.stderr


def test_backup_of_btrfs_uses_the_snapshot_in_place(h, qd):
    """btrfs: the read-only subvolume snapshot is read where it is (no loop,
    no mount), and quiesce's .quiesce-snapshots directory is not archived."""
    b = h.make_fs("btrfs", name="b")
    (b.mnt / "file").write_text("on btrfs\n")
    hooks = h.tmp / "hooks.d"
    hooks.mkdir(mode=0o755)
    out = h.tmp / "b.tar"
    r = backup(h, "--socket", qd.socket, "--provider", "btrfs", "--store", h.tmp / "store", "--hooks-dir",
               hooks, "--to", out, "--json", b.mnt)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["filesystems"][0]["mount_options"] == "in place"
    assert rep["snapshot"]["deleted"] is True
    with tarfile.open(out) as t:
        names = t.getnames()
    prefix = str(b.mnt).lstrip("/")
    assert f"{prefix}/file" in names
    assert not any(".quiesce-snapshots" in n for n in names), names


def test_backup_never_calls_a_broken_snapshot_consistent(h, data):
    """A manifest whose proof records a breach (here written by hand with a
    consistent label, as an older or edited manifest could be): the backup's
    report calls it crash-consistent, says why, and shows the proof."""
    store = h.tmp / "store"
    m = make_snapshot(h, [data], store, "broken", label="filesystem-consistent")
    breach = (f"the freeze of ext4 {m['filesystems'][0]['id']} (mounted at {data.mnt}) was lifted by "
              "another process 0.6 s after it began")
    m["filesystems"][0]["proof"] = {"verified": False, "probe": "froze it", "probe_ms": 600,
                                    "device": "loop9", "sectors_written": 24, "breaches": 1,
                                    "breach": breach, "freeze_owner": "quiesce"}
    (store / "broken.json").write_text(json.dumps(m, indent=2))
    out = h.tmp / "broken.tar"
    r = backup(h, "--store", store, "--snapshot", "broken", "--to", out)
    assert r.returncode == 0, r.stderr  # a named snapshot is backed up, with the warning
    assert "snapshot broken: crash-consistent" in r.stdout, r.stdout
    assert "not filesystem-consistent as its manifest says: " + breach in r.stdout, r.stdout
    assert f"{data.mnt}: NOT frozen throughout: {breach}" in r.stdout, r.stdout
    assert "is crash-consistent" in r.stderr
    r = backup(h, "--store", store, "--snapshot", "broken", "--to", h.tmp / "broken2.tar", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["snapshot"]["label"] == "crash-consistent", j
    assert j["snapshot"]["manifest_label"] == "filesystem-consistent", j
    assert breach in j["snapshot"]["label_reason"], j
