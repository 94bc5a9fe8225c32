# SPDX-License-Identifier: GPL-2.0-or-later
"""A private PostgreSQL 15 instance for the tests (a data directory the test
made, a private socket directory, no TCP)."""

import shutil
from pathlib import Path

from qzharness import run

PG_BIN = Path("/usr/lib/postgresql/15/bin")
INVARIANT = ("select (select sum(abalance) from pgbench_accounts), (select sum(bbalance) from "
             "pgbench_branches), (select sum(tbalance) from pgbench_tellers), (select sum(delta) "
             "from pgbench_history), (select count(*) from pgbench_history)")

AVAILABLE = (PG_BIN / "postgres").exists() and shutil.which("runuser") is not None


def as_postgres(cmd):
    return ["runuser", "-u", "postgres", "--"] + [str(c) for c in cmd]


class Cluster:
    """One postgres instance on a private socket directory (no TCP)."""

    def __init__(self, h, datadir, sockdir, port, log):
        self.h, self.datadir, self.sockdir, self.port, self.log = h, Path(datadir), Path(sockdir), port, log
        self.sockdir.mkdir(exist_ok=True)
        shutil.chown(self.sockdir, "postgres", "postgres")
        self.started = False

    def start(self, timeout=90):
        opts = (f"-p {self.port} -k {self.sockdir} -c listen_addresses='' -c max_wal_size=96MB "
                f"-c min_wal_size=32MB -c fsync=on")
        r = run(as_postgres([PG_BIN / "pg_ctl", "-D", self.datadir, "-l", self.log, "-o", opts, "-w",
                             "-t", str(timeout), "start"]), timeout=timeout + 10, check=False)
        self.started = r.returncode == 0
        return r

    def stop(self):
        if self.started:
            run(as_postgres([PG_BIN / "pg_ctl", "-D", self.datadir, "-m", "immediate", "-w", "stop"]),
                timeout=60, check=False)
            self.started = False

    def psql(self, sql, timeout=30):
        r = run([PG_BIN / "psql", "-h", self.sockdir, "-p", self.port, "-U", "postgres", "-At", "-c", sql,
                 "postgres"], timeout=timeout)
        return r.stdout.strip()

    def pgbench(self, *args):
        return [PG_BIN / "pgbench", "-h", self.sockdir, "-p", str(self.port), "-U", "postgres", *args,
                "postgres"]
