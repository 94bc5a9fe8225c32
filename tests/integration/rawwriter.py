# SPDX-License-Identifier: GPL-2.0-or-later
"""A raw application writer for the tests (test_writers.py, test_writer_limits.py):
it speaks quiesced's writer protocol itself (RegisterWriter, the phase
events, WriterAnswer), so a test can make a writer silent, slow, dead or
hostile at an exact phase. conftest's `writers` fixture makes them and
closes them after the test.
"""

import socket
import threading
import time

from qzharness import RawConn

REGISTER = "io.quiesce.RegisterWriter"
ANSWER = "io.quiesce.WriterAnswer"


class RawWriter:
    """A writer on its own connection. policy maps a phase to "ok", "veto",
    "fail", "silent" or a number (seconds to wait, then ok); detail maps a
    phase to the answer's detail. Answers from a thread; events recorded."""

    def __init__(self, qd, paths, name, policy=None, detail=None, **params):
        self.conn = RawConn(qd.socket)
        self.name = name
        p = {"name": name, "paths": [str(x) for x in paths]}
        p.update(params)
        self.reply = self.conn.call(REGISTER, p)
        self.policy = dict(policy or {})
        self.detail = dict(detail or {})
        self.events = []
        self.lock = threading.Lock()
        self.closed = False
        self.thread = None
        if "error" not in self.reply:
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()

    @property
    def ok(self):
        return "error" not in self.reply

    def _run(self):
        while not self.closed:
            try:
                ev = self.conn.recv(timeout=3600)
            except (OSError, ValueError, TimeoutError):
                return
            if ev is None:
                with self.lock:
                    self.events.append(("EOF", None, time.monotonic()))
                return
            if "event" not in ev:
                with self.lock:
                    self.events.append(("MSG", ev, time.monotonic()))
                continue
            phase, fid = ev["event"], ev["parameters"]["freeze"]
            with self.lock:
                self.events.append((phase, fid, time.monotonic()))
            what = self.policy.get(phase, "ok")
            if what == "silent":
                continue
            if isinstance(what, (int, float)):
                time.sleep(what)
                what = "ok"
            a = {"freeze": fid, "phase": phase, "answer": what}
            if phase in self.detail:
                a["detail"] = self.detail[phase]
            try:
                self.conn.send({"method": ANSWER, "parameters": a})
            except OSError:
                return

    def phases(self):
        with self.lock:
            return [e[0] for e in self.events if e[0] not in ("MSG",)]

    def wait_phases(self, want, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.phases()[:len(want)] == want and len(self.phases()) >= len(want):
                return self.phases()
            time.sleep(0.02)
        raise AssertionError(f"writer {self.name}: events {self.phases()}, expected {want}")

    def close(self):
        self.closed = True
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)  # the reader thread's recv returns
        except OSError:
            pass
        self.conn.close()
