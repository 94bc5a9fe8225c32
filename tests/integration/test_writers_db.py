# SPDX-License-Identifier: GPL-2.0-or-later
"""The ready-made writers in real freezes (issue 12, part 5): `quiesce
writer --session writer-mariadb` registered for a MariaDB 10.11 data
directory on a loop ext4 image (inside an XFS pool, so the reflink provider
clones it), then `quiesce snapshot` under a write load of transfers between
accounts, each transaction recorded as acknowledged when its COMMIT
returned. The clone, started under a fresh mariadbd, must hold:

- every transaction acknowledged before the freeze;
- the invariant across the two tables (each balance is its opening amount
  plus what the ledger moved in, less what it moved out);
- the binary log position the writer recorded at the freeze: the clone's
  binlog file is exactly that long, and its GTID position is the one
  recorded;

and a commit from another session that started during the freeze waits,
and completes after the thaw. The label is application-consistent and the
manifest lists the writer with its answers."""

import json
import random
import shutil
import subprocess
import threading
import time

import pytest

import mariadb
import qzharness
from qzharness import LoopFS, run, writer_helper_bin

ACCOUNTS = 20
OPENING = 1000

pytestmark = [
    pytest.mark.skipif(not mariadb.AVAILABLE or not writer_helper_bin("writer-mariadb").exists(),
                       reason="mariadb-server, python3-pymysql or writer-mariadb (libmariadb-dev) missing"),
    pytest.mark.skipif(not qzharness.cli_has_writer(),
                       reason="quiesce writer is not in this build (issue 12: branch writers, not merged yet)"),
]


def attach_clone(h, img, name, fstype):
    dev = run(["losetup", "--find", "--show", img], timeout=30).stdout.strip()
    h.resources.append(("loop", dev))
    mnt = h.tmp / name
    mnt.mkdir()
    fs = LoopFS(img, dev, mnt, fstype)
    fs.mount()
    h.resources.append(("mount", fs))
    h.mounts.append(fs)
    return fs


class Load:
    """Transfers in transactions from a few sessions; acked[id] = the time its COMMIT returned."""

    def __init__(self, srv, sessions=3):
        self.srv, self.stop, self.acked, self.errors = srv, threading.Event(), {}, []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(sessions)]

    def start(self):
        for t in self.threads:
            t.start()

    def run(self, seed):
        rnd = random.Random(seed)
        try:
            c = self.srv.connect(autocommit=False)
        except Exception as e:
            self.errors.append(e)
            return
        with c:
            while not self.stop.is_set():
                a, b = rnd.sample(range(1, ACCOUNTS + 1), 2)
                amount = rnd.randint(1, 50)
                try:
                    with c.cursor() as cur:  # rows locked in id order: no deadlock between sessions
                        for acct, delta in sorted([(a, -amount), (b, amount)]):
                            cur.execute("UPDATE shop.accounts SET balance = balance + %s WHERE id = %s",
                                        (delta, acct))
                        cur.execute("INSERT INTO shop.ledger (src, dst, amount) VALUES (%s, %s, %s)",
                                    (a, b, amount))
                        lid = cur.lastrowid
                    c.commit()
                    with self.lock:
                        self.acked[lid] = time.monotonic()
                except Exception as e:
                    self.errors.append(e)
                    return

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)


INVARIANT = (f"SELECT COUNT(*) FROM shop.accounts a WHERE a.balance <> {OPENING} "
             "- COALESCE((SELECT SUM(amount) FROM shop.ledger WHERE src = a.id), 0) "
             "+ COALESCE((SELECT SUM(amount) FROM shop.ledger WHERE dst = a.id), 0)")


def start_writer(h, qd, srv, paths, *extra):
    helper = f"{writer_helper_bin('writer-mariadb')} --socket {srv.socket}"
    return qzharness.start_session_writer(h, qd, "mariadb", helper, paths, *extra)


@pytest.mark.timeout(300)
def test_mariadb_snapshot_under_load_restores_every_acknowledged_transaction(h, qd):
    pool = h.make_fs("xfs", size="1200M", name="pool")
    data = h.make_fs("ext4", size="600M", name="mdbdata", parent=pool.mnt)
    srv = mariadb.Server(h, data.mnt / "mysql", name="m1")
    srv.install()
    srv2 = None
    load = None
    writer = None
    try:
        srv.start()
        srv.query("CREATE DATABASE shop")
        srv.query("CREATE TABLE shop.accounts (id INT PRIMARY KEY, balance INT NOT NULL) ENGINE=InnoDB")
        srv.query("CREATE TABLE shop.ledger (id INT AUTO_INCREMENT PRIMARY KEY, src INT NOT NULL, "
                  "dst INT NOT NULL, amount INT NOT NULL) ENGINE=InnoDB")
        srv.query("INSERT INTO shop.accounts VALUES " + ",".join(f"({i},{OPENING})"
                                                                  for i in range(1, ACCOUNTS + 1)))
        writer, wlog = start_writer(h, qd, srv, [data.mnt])

        load = Load(srv)
        load.start()
        time.sleep(2)
        assert not load.errors, load.errors
        assert len(load.acked) > 20, "the load committed nothing"

        store = h.tmp / "store"
        started = time.monotonic()
        with load.lock:
            acked_before_start = set(load.acked)
        r = h.quiesce("snapshot", "--provider", "reflink", "--timeout", "10s", "--hooks-dir", h.tmp / "nohooks",
                      "--store", store, "--name", "mdb1", "--json", data.mnt, daemon=qd, timeout=90)
        assert r.returncode == 0, r.stderr + r.stdout + "".join(wlog)
        m = json.loads(r.stdout)
        time.sleep(1)  # the load goes on after the thaw
        with load.lock:
            after = len(load.acked)
        load.finish()
        assert not load.errors, load.errors
        assert after > len(acked_before_start), "no commit completed after the thaw"

        assert m["label"] == "application-consistent", m
        ws = m["writers"]
        assert [w["name"] for w in ws] == ["mariadb"], ws
        w = ws[0]
        assert w["required"] and w["acknowledged"], w
        freeze = w["freeze"]
        assert freeze["answer"] == "ok", w
        detail = freeze["detail"]
        fields = dict(kv.split("=", 1) for kv in detail.split())
        binlog_file, binlog_pos = fields["binlog"].rsplit(":", 1)
        gtid = fields["gtid"]

        # the clone, on its own mount point, under a fresh server
        clone = attach_clone(h, m["filesystems"][0]["snapshot"], "mdbclone", "ext4")
        # the binlog position recorded at the freeze is the data's: the file
        # in the snapshot ends there (read before a server recovers it)
        size = (clone.mnt / "mysql" / binlog_file).stat().st_size
        assert size == int(binlog_pos), (binlog_file, size, binlog_pos)
        srv.stop()
        srv2 = mariadb.Server(h, clone.mnt / "mysql", name="m2")
        srv2.start()
        restored = {r[0] for r in srv2.query("SELECT id FROM shop.ledger")}
        missing = acked_before_start - restored
        assert not missing, f"{len(missing)} acknowledged transactions missing from the snapshot"
        assert srv2.query(INVARIANT)[0][0] == 0, "the invariant across accounts and ledger is broken"
        total = srv2.query("SELECT SUM(balance) FROM shop.accounts")[0][0]
        assert total == ACCOUNTS * OPENING
        assert srv2.query("SELECT @@gtid_binlog_pos")[0][0] == gtid
        print(f"\nsnapshot: {len(restored)} transfers, {len(acked_before_start)} acknowledged before it, "
              f"binlog {binlog_file}:{binlog_pos} gtid {gtid}")
    finally:
        if load:
            load.finish()
        qzharness.quiet(["fsfreeze", "-u", data.mnt])
        if writer and writer.poll() is None:
            writer.terminate()
            writer.wait(timeout=15)
        if srv2:
            srv2.stop(kill=True)
        srv.stop(kill=True)


@pytest.mark.timeout(120)
def test_mariadb_commit_during_the_freeze_waits_and_completes_after_the_thaw(h, qd):
    data = h.make_fs("ext4", size="400M", name="mdb")
    srv = mariadb.Server(h, data.mnt / "mysql")
    srv.install()
    writer = None
    try:
        srv.start()
        srv.query("CREATE DATABASE shop")
        srv.query("CREATE TABLE shop.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT) ENGINE=InnoDB")
        writer, wlog = start_writer(h, qd, srv, [data.mnt])
        hold = h.quiesce("freeze", "--detach", "--timeout", "20s", data.mnt, daemon=qd, timeout=30)
        assert hold.returncode == 0, hold.stderr + "".join(wlog)
        hold_id = hold.stdout.strip()
        c = srv.connect()
        cid = c.thread_id()
        done = {}

        def commit():
            with c.cursor() as cur:
                cur.execute("INSERT INTO shop.t (v) VALUES (7)")
            done["at"] = time.monotonic()

        t = threading.Thread(target=commit, daemon=True)
        t.start()
        end = time.monotonic() + 10
        state = None
        while time.monotonic() < end:
            rows = srv.query("SELECT state FROM information_schema.processlist WHERE id = %s", (cid,))
            state = rows[0][0] if rows else None
            if state and "backup lock" in state:
                break
            time.sleep(0.05)
        assert state and "backup lock" in state, state
        time.sleep(0.5)
        assert "at" not in done
        thawed = time.monotonic()
        r = h.quiesce("thaw", "--hold", hold_id, daemon=qd, timeout=30)
        assert r.returncode == 0, r.stderr
        t.join(timeout=15)
        assert done.get("at", 0) >= thawed, done
        c.close()
    finally:
        qzharness.quiet(["fsfreeze", "-u", data.mnt])
        if writer and writer.poll() is None:
            writer.terminate()
            writer.wait(timeout=15)
        srv.stop(kill=True)
