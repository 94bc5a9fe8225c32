# SPDX-License-Identifier: GPL-2.0-or-later
"""The daemon must never block on a frozen filesystem (DESIGN.md): mlockall,
a log sink that blocks (a frozen filesystem, a full pipe) never delays the
control path; systemd socket activation and sd_notify readiness; a restart
on the same socket after a crash."""

import fcntl
import os
import signal
import socket
import threading
import time

import pytest

from qzharness import RawConn, blocked_on_freeze, children_of, daemon_bin

F_SETPIPE_SZ = 1031


def _vmlck_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmLck:"):
                return int(line.split()[1])
    return 0


def test_mlockall(h, qd):
    if os.environ.get("QUIESCE_SANITIZED") == "1":
        pytest.skip("AddressSanitizer makes mlockall a no-op")
    assert _vmlck_kb(qd.pid) > 0, "quiesced has no locked memory (mlockall)"
    for g in qd.guard_pids:
        assert _vmlck_kb(g) > 0, "the guard has no locked memory (mlockall)"


def _cycles(d, mount, n, limit=2.0):
    """n freeze/thaw cycles on one connection; each step must answer within limit."""
    c = RawConn(d.socket)
    try:
        for _ in range(n):
            t = time.monotonic()
            rep = c.call("io.quiesce.Freeze", {"paths": [str(mount)], "timeout_ms": 5000})
            assert rep and "error" not in rep, rep
            rep = c.call("io.quiesce.Thaw", {"hold": rep["parameters"]["hold"]["id"]})
            assert rep and "error" not in rep, rep
            took = time.monotonic() - t
            assert took < limit, f"a freeze/thaw cycle took {took:.2f}s"
            # something for the log: a bad request
            rep = c.call("io.quiesce.NoSuchMethod")
            assert rep and "error" in rep
    finally:
        c.close()


@pytest.mark.timeout(120)
def test_log_on_frozen_filesystem_does_not_block(h):
    """quiesced's stderr is a file on a filesystem that fsfreeze froze (the
    journald-on-a-frozen-/var case): requests, deadlines and status go on."""
    logfs = h.make_fs("ext4")
    a = h.make_fs("ext4")
    d = h.start_daemon(log_path=logfs.mnt / "quiesced.log")
    assert h.fsfreeze(logfs.mnt).returncode == 0
    try:
        _cycles(d, a.mnt, 20)
        blocked = [t for t in os.listdir(f"/proc/{d.pid}/task")
                   if blocked_on_freeze(f"{d.pid}/task/{t}")]
        assert blocked, "premise: a quiesced thread should be stuck writing the log"
        start = time.monotonic()
        h.freeze_detached(d, a.mnt, timeout="1s")
        w = h.writer(a.mnt)
        assert w.done(5.0), "a deadline was delayed by a blocked log"
        assert w.unblocked_at() - start < 3.0
        t = time.monotonic()
        d.status()
        assert time.monotonic() - t < 1.0
    finally:
        h.fsfreeze(logfs.mnt, unfreeze=True)
    assert d.alive()


@pytest.mark.timeout(120)
def test_full_stderr_pipe_does_not_block(h, ext4):
    """quiesced's stderr is a pipe nobody reads (4 KiB): it fills, and the
    daemon carries on."""
    r, w = os.pipe()
    try:
        fcntl.fcntl(w, F_SETPIPE_SZ, 4096)
        d = h.start_daemon(stderr=w)
    finally:
        os.close(w)
    drained = threading.Event()

    def drain():
        drained.wait()
        try:
            while os.read(r, 65536):
                pass
        except OSError:
            pass

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    try:
        _cycles(d, ext4.mnt, 60)
        import array
        import termios
        buf = array.array("i", [0])
        fcntl.ioctl(r, termios.FIONREAD, buf)
        # full: the next line (up to ~250 bytes, written whole) no longer fits
        assert buf[0] >= 4096 - 256, f"premise: the log pipe should be full, it holds {buf[0]} bytes"
        start = time.monotonic()
        h.freeze_detached(d, ext4.mnt, timeout="1s")
        wr = h.writer(ext4.mnt)
        assert wr.done(5.0), "a deadline was delayed by a full log pipe"
        assert wr.unblocked_at() - start < 3.0
        assert d.alive()
    finally:
        drained.set()
        t.join(timeout=0)  # keeps draining until the daemon's end closes the pipe


def test_socket_activation(h, ext4):
    """systemd-socket-activate passes the listening socket; quiesced serves on
    it and knows it as its runtime directory (refuses to freeze that fs)."""
    rt = h.make_fs("ext4")
    sock = rt.mnt / "quiesced.sock"
    d = h.start_daemon(socket_path=sock, socket_arg=False,
                       wrapper=["systemd-socket-activate", "-l", str(sock)])
    info = d.call("io.quiesce.GetInfo")["parameters"]
    assert info["pid"] == d.pid, "socket-activate should exec quiesced in place"
    assert info.get("socket") == str(sock), info
    d.guard_pids = children_of(d.pid)  # forked only now: quiesced started on the first connection
    assert d.guard_pids, "no guard"
    hid = h.freeze_detached(d, ext4.mnt, timeout="5s")
    h.assert_frozen(ext4.mnt)
    assert h.quiesce("thaw", "--hold", hid, daemon=d).returncode == 0
    h.assert_thawed(ext4.mnt)
    rep = d.call("io.quiesce.Freeze", {"paths": [str(rt.mnt)], "timeout_ms": 3000})
    assert rep.get("error") and rep["parameters"]["errno"] == 35, rep
    h.assert_thawed(rt.mnt)


def test_sd_notify_ready_and_stopping(h):
    path = h.tmp / "notify.sock"
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(str(path))
    ns.settimeout(5)
    try:
        d = h.start_daemon(env={"NOTIFY_SOCKET": str(path)})
        msgs = []
        deadline = time.monotonic() + 5
        while not any("READY=1" in m for m in msgs) and time.monotonic() < deadline:
            msgs.append(ns.recv(4096).decode())
        assert any("READY=1" in m for m in msgs), f"no READY=1 on NOTIFY_SOCKET: {msgs}"
        assert d.status() is not None  # ready means serving
        d.kill(signal.SIGTERM)
        got = []
        deadline = time.monotonic() + 5
        while not any("STOPPING=1" in m for m in got) and time.monotonic() < deadline:
            try:
                got.append(ns.recv(4096).decode())
            except socket.timeout:
                break
        assert any("STOPPING=1" in m for m in got), f"no STOPPING=1 on SIGTERM: {got}"
        d.proc.wait(timeout=10)
    finally:
        ns.close()


def test_restart_on_same_socket_after_sigkill(h, ext4):
    sock = h.tmp / "same.sock"
    d1 = h.start_daemon(socket_path=sock)
    h.freeze_detached(d1, ext4.mnt, timeout="14s")
    w = h.blocked_writer(ext4.mnt)
    d1.kill(signal.SIGKILL)
    d1.proc.wait(timeout=5)
    assert w.done(3.0), "the guard did not thaw"
    d2 = h.start_daemon(socket_path=sock)
    st = d2.status()
    assert all(not fs["holds"] for fs in st["filesystems"]), st
    hid = h.freeze_detached(d2, ext4.mnt, timeout="5s")
    h.assert_frozen(ext4.mnt)
    assert h.quiesce("thaw", "--hold", hid, daemon=d2).returncode == 0
    h.assert_thawed(ext4.mnt)


def test_refuses_second_daemon_on_live_socket(h):
    """A second quiesced must not steal a live daemon's socket."""
    import subprocess
    d1 = h.start_daemon()
    p = subprocess.Popen([str(daemon_bin()), "--socket", str(d1.socket)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        rc = p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        rc = None
    finally:
        if p.poll() is None:
            kids = children_of(p.pid)
            p.kill()
            p.wait(timeout=5)
            time.sleep(1.5)
            for k in kids:
                try:
                    os.kill(k, signal.SIGKILL)
                except OSError:
                    pass
    assert rc is not None and rc != 0, "a second quiesced started on a socket in use"
    assert d1.status() is not None
