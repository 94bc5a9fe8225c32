# SPDX-License-Identifier: GPL-2.0-or-later
"""A private MariaDB server for the tests: its data directory on a loop
filesystem the test made, a Unix socket in the test's temp dir, no TCP, the
binary log on; root logs in through unix_socket authentication (we are
root). Stopped (or SIGKILLed) on every way out by the caller's finally."""

import shutil
import signal
import subprocess
import time
from pathlib import Path

from qzharness import run

MARIADBD = Path("/usr/sbin/mariadbd")
INSTALL_DB = shutil.which("mariadb-install-db")

try:
    import pymysql
except ImportError:  # python3-pymysql (scripts/install-deps)
    pymysql = None

AVAILABLE = MARIADBD.exists() and INSTALL_DB is not None and pymysql is not None


class Server:
    def __init__(self, h, datadir, name="m1"):
        self.h = h
        self.datadir = Path(datadir)
        self.rundir = h.tmp / f"{name}-run"
        self.rundir.mkdir(exist_ok=True)
        shutil.chown(self.rundir, "mysql", "mysql")
        self.socket = self.rundir / "mysqld.sock"
        self.log = self.rundir / "error.log"
        self.proc = None

    def install(self):
        self.datadir.mkdir(exist_ok=True)
        shutil.chown(self.datadir, "mysql", "mysql")
        run([INSTALL_DB, "--no-defaults", "--user=mysql", f"--datadir={self.datadir}",
             "--auth-root-authentication-method=socket", "--skip-test-db"], timeout=180)

    def start(self, timeout=60):
        args = [MARIADBD, "--no-defaults", "--user=mysql", f"--datadir={self.datadir}",
                f"--socket={self.socket}", "--skip-networking", f"--pid-file={self.rundir}/mysqld.pid",
                f"--log-error={self.log}", "--log-bin=binlog", "--server-id=1", "--innodb-buffer-pool-size=64M",
                "--innodb-log-file-size=32M", "--innodb-flush-log-at-trx-commit=1", "--sync-binlog=1"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        self.h.procs.append(self.proc)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"mariadbd exited {self.proc.returncode}: {self.log_text()[-2000:]}")
            try:
                self.connect().close()
                return
            except pymysql.err.OperationalError:
                time.sleep(0.2)
        raise AssertionError(f"mariadbd did not start in {timeout} s: {self.log_text()[-2000:]}")

    def log_text(self):
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def connect(self, **kw):
        kw.setdefault("autocommit", True)
        return pymysql.connect(unix_socket=str(self.socket), user="root", **kw)

    def query(self, sql, args=None):
        with self.connect() as c, c.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()

    def stop(self, kill=False):
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
