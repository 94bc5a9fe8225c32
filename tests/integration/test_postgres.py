# SPDX-License-Identifier: GPL-2.0-or-later
"""PostgreSQL 15 under pgbench load, data directory and pg_wal on two loop
filesystems (ext4 and XFS images inside an XFS pool): one group reflink
snapshot of both, with the ready-made writer (`quiesce writer --session
writer-postgresql`, registered for both: CHECKPOINT at prepare, the WAL
position at freeze, notified once for the group) and a hook. The clones,
mounted on new mount points, start under a second PostgreSQL (WAL replay),
pgbench's invariant holds, and the label is application-consistent. Then a
backup of that snapshot holds the cluster.
"""

import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

import postgres
import qzharness
from postgres import INVARIANT, PG_BIN, Cluster, as_postgres
from qzharness import LoopFS, run, writer_helper_bin

pytestmark = pytest.mark.skipif(not postgres.AVAILABLE,
                                reason="PostgreSQL 15 binaries (postgresql-15) not installed")


def attach_clone(h, img, name, fstype, opts=None):
    """The clone image on a new loop device, mounted read-write on a new mount
    point (it is ours: PostgreSQL replays its WAL there)."""
    dev = run(["losetup", "--find", "--show", img], timeout=30).stdout.strip()
    h.resources.append(("loop", dev))
    mnt = h.tmp / name
    mnt.mkdir()
    fs = LoopFS(img, dev, mnt, fstype, opts)
    fs.mount()
    h.resources.append(("mount", fs))
    h.mounts.append(fs)
    return fs


@pytest.mark.timeout(300)
def test_postgres_group_snapshot_under_pgbench(h, qd):
    pool = h.make_fs("xfs", size="1200M", name="pool")
    data = h.make_fs("ext4", size="400M", name="pgdata", parent=pool.mnt)
    wal = h.make_fs("xfs", size="400M", name="pgwal", parent=pool.mnt)
    for fs in (data, wal):
        shutil.chown(fs.mnt, "postgres", "postgres")
    run(as_postgres([PG_BIN / "initdb", "-D", data.mnt / "pg", "--waldir", wal.mnt / "pg_wal", "-U",
                     "postgres", "--auth=trust", "--no-instructions"]), timeout=120)
    assert (data.mnt / "pg" / "pg_wal").is_symlink()

    logs = h.tmp / "logs"
    logs.mkdir()
    shutil.chown(logs, "postgres", "postgres")
    pg1 = Cluster(h, data.mnt / "pg", h.tmp / "sock1", 5433, logs / "pg1.log")
    pg2 = None
    bench = None
    writer = None
    try:
        r = pg1.start()
        assert r.returncode == 0, r.stderr + (logs / "pg1.log").read_text()
        run(pg1.pgbench("-i", "-s", "3", "-q"), timeout=180)

        hooks = h.tmp / "hooks.d"
        hooks.mkdir(mode=0o755)
        hook = hooks / "10-checkpoint"
        hook.write_text("#!/bin/sh\n"
                        "# the application's part of the freeze: write everything out first\n"
                        f'[ "$1" = freeze ] || exit 0\n'
                        f"exec {PG_BIN}/psql -h {pg1.sockdir} -p {pg1.port} -U postgres -At "
                        "-c CHECKPOINT postgres\n")
        os.chmod(hook, 0o755)

        writer = None
        if writer_helper_bin("writer-postgresql").exists() and qzharness.cli_has_writer():
            conninfo = f"host={pg1.sockdir} port={pg1.port} user=postgres dbname=postgres"
            writer, wlog = qzharness.start_session_writer(
                h, qd, "postgresql", f"{writer_helper_bin('writer-postgresql')} {conninfo}", [data.mnt, wal.mnt])
        checkpoints = int(pg1.psql("select checkpoints_req from pg_stat_bgwriter"))

        bench = subprocess.Popen(pg1.pgbench("-c", "4", "-j", "2", "-T", "60", "-n"),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        h.procs.append(bench)
        time.sleep(3)  # load running
        assert bench.poll() is None, bench.stderr.read()
        before = int(pg1.psql("select count(*) from pgbench_history"))
        assert before > 0, "pgbench wrote no transactions"

        store = h.tmp / "store"
        r = h.quiesce("snapshot", "--provider", "reflink", "--timeout", "10s", "--hooks-dir", hooks,
                      "--store", store, "--name", "pg1", "--json", data.mnt, wal.mnt, daemon=qd, timeout=60)
        assert r.returncode == 0, r.stderr + r.stdout
        m = json.loads(r.stdout)
        assert m["label"] == "application-consistent", m
        assert all(f["frozen_throughout"] for f in m["filesystems"])
        freeze_hooks = [k for k in m["hooks"] if k["phase"] == "freeze"]
        assert freeze_hooks and freeze_hooks[0]["exit_status"] == 0
        assert "CHECKPOINT" in freeze_hooks[0]["output"]
        if writer:
            ws = m["writers"]
            assert [w["name"] for w in ws] == ["postgresql"], ws  # one writer, notified once for the group
            assert ws[0]["acknowledged"] and ws[0]["prepare"]["answer"] == "ok", ws
            assert ws[0]["freeze"]["detail"].startswith("wal_lsn="), ws
            # the writer's CHECKPOINT at prepare and the hook's
            assert int(pg1.psql("select checkpoints_req from pg_stat_bgwriter")) >= checkpoints + 2
        clones = {f["mountpoint"]: f["snapshot"] for f in m["filesystems"]}

        time.sleep(1)  # the load went on after the thaw
        assert bench.poll() is None, "pgbench stopped during the snapshot: " + bench.stderr.read()
        bench.terminate()
        bench.wait(timeout=30)

        # the clones on new mount points; pg_wal follows them
        data2 = attach_clone(h, clones[str(data.mnt)], "pgdata2", "ext4")
        wal2 = attach_clone(h, clones[str(wal.mnt)], "pgwal2", "xfs", "nouuid")
        link = data2.mnt / "pg" / "pg_wal"
        assert os.readlink(link) == str(wal.mnt / "pg_wal")
        link.unlink()
        os.symlink(wal2.mnt / "pg_wal", link)
        (data2.mnt / "pg" / "postmaster.pid").unlink(missing_ok=True)

        pg2 = Cluster(h, data2.mnt / "pg", h.tmp / "sock2", 5434, logs / "pg2.log")
        r = pg2.start()
        log2 = (logs / "pg2.log").read_text()
        assert r.returncode == 0, r.stderr + log2
        vals = pg2.psql(INVARIANT).split("|")
        a, b, t, d, n = (int(v) for v in vals)
        assert a == b == t == d, f"pgbench invariant broken in the snapshot: {vals}"
        assert n >= before, (n, before)
        print(f"\nsnapshot: {n} pgbench transactions, balances {a}; pg2 log:\n{log2[-800:]}")
        pg2.stop()
        pg1.stop()

        # and a backup of the same snapshot holds the cluster
        out = h.tmp / "pg.tar.zst"
        r = h.quiesce("backup", "--snapshot", "pg1", "--store", store, "--to", out, "--json", timeout=120,
                      env={"TMPDIR": str(h.tmp)})
        assert r.returncode == 0, r.stderr
        rep = json.loads(r.stdout)
        assert rep["snapshot"]["label"] == "application-consistent"
        assert rep["files"] > 500
        if shutil.which("zstd"):
            listing = subprocess.run(f"zstd -dc {out} | tar -tf -", shell=True, stdout=subprocess.PIPE,
                                     text=True, timeout=120).stdout.split("\n")
            prefix = str(data.mnt).lstrip("/")
            assert f"{prefix}/pg/PG_VERSION" in listing
            assert any(l.startswith(str(wal.mnt).lstrip("/") + "/pg_wal/0000") for l in listing)
    finally:
        if bench and bench.poll() is None:
            bench.kill()
        if writer and writer.poll() is None:
            writer.terminate()
            writer.wait(timeout=15)
        # thaw first (a failed test may have left a freeze), then stop the servers
        for fs in (data, wal):
            qzharness.quiet(["fsfreeze", "-u", fs.mnt])
        if pg2:
            pg2.stop()
        pg1.stop()
