# SPDX-License-Identifier: GPL-2.0-or-later
"""The ready-made writers' session helpers (src/writers/), spoken to
directly on the --session line protocol (ready; prepare/freeze/thaw/abort;
ok/veto/fail), against real servers: writer-mariadb holds BACKUP STAGE
BLOCK_COMMIT on its live session from freeze to thaw (another session's
commit waits, then completes), lets go when it is killed or its stdin
closes, and reports the binary log position; writer-postgresql runs
CHECKPOINT at prepare and reports the WAL position. Nothing is frozen here:
the servers run on loop filesystems the test made, and the freeze itself is
test_writers_db.py's."""

import os
import select
import signal
import subprocess
import threading
import time

import pytest

import mariadb
import postgres
from postgres import PG_BIN, Cluster, as_postgres
from qzharness import run, writer_helper_bin


class Session:
    """A helper on pipes: phase lines in, answer lines out."""

    def __init__(self, h, argv):
        self.p = subprocess.Popen([str(a) for a in argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, bufsize=1)
        h.procs.append(self.p)

    def line(self, timeout=30):
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        assert r, f"no answer in {timeout} s"
        return self.p.stdout.readline().rstrip("\n")

    def phase(self, name, timeout=30):
        self.p.stdin.write(name + "\n")
        self.p.stdin.flush()
        return self.line(timeout)


def need_mariadb():
    if not mariadb.AVAILABLE:
        pytest.skip("mariadb-server and python3-pymysql not installed")
    if not writer_helper_bin("writer-mariadb").exists():
        pytest.skip("writer-mariadb not built (libmariadb-dev)")


@pytest.fixture
def mdb(h):
    need_mariadb()
    fs = h.make_fs("ext4", size="400M", name="mdb")
    srv = mariadb.Server(h, fs.mnt / "data")
    srv.install()
    try:
        srv.start()
        srv.query("CREATE DATABASE shop")
        srv.query("CREATE TABLE shop.orders (id INT AUTO_INCREMENT PRIMARY KEY, v INT) ENGINE=InnoDB")
        yield srv
    finally:
        srv.stop(kill=True)


def state_of(srv, conn_id):
    rows = srv.query("SELECT state FROM information_schema.processlist WHERE id = %s", (conn_id,))
    return rows[0][0] if rows else None


def start_insert(srv):
    """An INSERT from another session in a thread: (thread, its connection id, result dict)."""
    c = srv.connect()
    conn_id = c.thread_id()
    result = {}

    def go():
        try:
            with c.cursor() as cur:
                cur.execute("INSERT INTO shop.orders (v) VALUES (42)")
            result["done"] = time.monotonic()
        except Exception as e:  # reported by the test
            result["error"] = e
        finally:
            c.close()

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t, conn_id, result


def wait_state(srv, conn_id, want, timeout=10):
    end = time.monotonic() + timeout
    st = None
    while time.monotonic() < end:
        st = state_of(srv, conn_id)
        if st and want in st:
            return st
        time.sleep(0.05)
    raise AssertionError(f"session {conn_id} is in state {st!r}, not {want!r}")


def test_mariadb_helper_holds_commits_from_freeze_to_thaw(h, mdb):
    s = Session(h, [writer_helper_bin("writer-mariadb"), "--socket", mdb.socket])
    assert s.line() == "ready"
    mdb.query("INSERT INTO shop.orders (v) VALUES (1)")
    assert s.phase("prepare") == "ok"
    ans = s.phase("freeze")
    assert ans.startswith("ok binlog=binlog.0000"), ans
    f, pos = mdb.query("SHOW MASTER STATUS")[0][:2]
    assert f"binlog={f}:{pos}" in ans, (ans, f, pos)
    assert "gtid=0-1-" in ans, ans

    t, cid, res = start_insert(mdb)
    st = wait_state(mdb, cid, "backup lock")  # "Waiting for backup lock": the commit waits
    time.sleep(0.5)
    assert "done" not in res and "error" not in res, res
    thawed = time.monotonic()
    assert s.phase("thaw") == "ok"
    t.join(timeout=10)
    assert "done" in res, (res, st)
    assert res["done"] >= thawed
    assert mdb.query("SELECT COUNT(*) FROM shop.orders WHERE v = 42")[0][0] == 1
    # and the next round works on the same session
    assert s.phase("prepare") == "ok"
    assert s.phase("abort") == "ok"
    mdb.query("INSERT INTO shop.orders (v) VALUES (2)")  # nothing held after abort
    s.p.stdin.close()
    assert s.p.wait(timeout=10) == 0


@pytest.mark.parametrize("how", ["sigkill", "stdin-closed", "sigterm"])
def test_mariadb_helper_lets_go_when_it_goes_away(h, mdb, how):
    s = Session(h, [writer_helper_bin("writer-mariadb"), "--socket", mdb.socket])
    assert s.line() == "ready"
    assert s.phase("prepare") == "ok"
    assert s.phase("freeze").startswith("ok ")
    t, cid, res = start_insert(mdb)
    wait_state(mdb, cid, "backup lock")
    if how == "sigkill":
        s.p.kill()
    elif how == "sigterm":
        s.p.send_signal(signal.SIGTERM)
    else:
        s.p.stdin.close()
    rc = s.p.wait(timeout=10)
    assert rc == (-signal.SIGKILL if how == "sigkill" else 0), rc
    t.join(timeout=15)
    assert "done" in res, res


def test_mariadb_helper_refuses_freeze_without_prepare_and_unknown_phases(h, mdb):
    s = Session(h, [writer_helper_bin("writer-mariadb"), "--socket", mdb.socket])
    assert s.line() == "ready"
    ans = s.phase("freeze")
    assert ans.startswith("fail ") and "prepare" in ans, ans
    ans = s.phase("snapshot")
    assert ans.startswith('fail unknown phase "snapshot"'), ans
    mdb.query("INSERT INTO shop.orders (v) VALUES (3)")  # nothing held


def test_mariadb_helper_names_the_socket_it_cannot_reach(h):
    need_mariadb()
    missing = h.tmp / "no-such.sock"
    r = run([writer_helper_bin("writer-mariadb"), "--socket", missing], check=False, timeout=30)
    assert r.returncode == 1
    assert r.stdout == ""  # never said ready
    assert str(missing) in r.stderr and "cannot connect to MariaDB" in r.stderr, r.stderr
    r = run([writer_helper_bin("writer-mariadb"), "--lock-wait-timeout", "soon"], check=False)
    assert r.returncode == 2 and "--lock-wait-timeout" in r.stderr


def test_postgresql_helper_checkpoints_at_prepare_and_reports_the_wal_position(h):
    if not postgres.AVAILABLE:
        pytest.skip("PostgreSQL 15 not installed")
    if not writer_helper_bin("writer-postgresql").exists():
        pytest.skip("writer-postgresql not built (libpq-dev)")
    fs = h.make_fs("ext4", size="300M", name="pg")
    os.chown(fs.mnt, *pg_ids())
    run(as_postgres([PG_BIN / "initdb", "-D", fs.mnt / "pg", "-U", "postgres", "--auth=trust",
                     "--no-instructions"]), timeout=120)
    logs = h.tmp / "pglogs"
    logs.mkdir()
    os.chown(logs, *pg_ids())
    pg = Cluster(h, fs.mnt / "pg", h.tmp / "pgsock", 5441, logs / "pg.log")
    try:
        r = pg.start()
        assert r.returncode == 0, r.stderr
        conninfo = f"host={pg.sockdir} port={pg.port} user=postgres dbname=postgres"
        s = Session(h, [writer_helper_bin("writer-postgresql"), conninfo])
        assert s.line() == "ready"
        before = int(pg.psql("select checkpoints_req from pg_stat_bgwriter"))
        assert s.phase("prepare") == "ok"
        after = int(pg.psql("select checkpoints_req from pg_stat_bgwriter"))
        assert after == before + 1, (before, after)
        ans = s.phase("freeze")
        lsn = pg.psql("select pg_current_wal_lsn()")
        assert ans == f"ok wal_lsn={lsn}", (ans, lsn)
        assert s.phase("thaw") == "ok"
        # a server restart between freezes: the next prepare reconnects
        pg.stop()
        assert pg.start().returncode == 0
        assert s.phase("prepare") == "ok"
        assert s.phase("abort") == "ok"
        pg.stop()
        ans = s.phase("prepare")
        assert ans.startswith("fail cannot reconnect to PostgreSQL"), ans
        s.p.stdin.close()
        assert s.p.wait(timeout=10) == 0
    finally:
        pg.stop()
    r = run([writer_helper_bin("writer-postgresql"), f"host={h.tmp}/none port=1"], check=False)
    assert r.returncode == 1 and "cannot connect to PostgreSQL" in r.stderr, r.stderr


def pg_ids():
    import pwd
    pw = pwd.getpwnam("postgres")
    return pw.pw_uid, pw.pw_gid
