# SPDX-License-Identifier: GPL-2.0-or-later
"""Refusals with clear errors: unsupported filesystems, someone else's freeze,
missing paths, the daemon's own runtime directory, / without a deadline,
and callers who are not allowed (DESIGN.md rules 3, 4; issue 2 item 7)."""

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from qzharness import FITHAW, TMP_PREFIX, as_user, cli_bin, parse_qzcall

NOBODY = 65534


def _err(r, path, *words):
    """exit 1, stderr names the path and (one of) the reason words."""
    assert r.returncode == 1, f"exit {r.returncode}, expected 1; stderr {r.stderr!r}"
    assert str(path) in r.stderr, f"the error does not name {path}: {r.stderr!r}"
    if words:
        low = r.stderr.lower()
        assert any(w.lower() in low for w in words), f"the error does not say why ({words}): {r.stderr!r}"


def test_tmpfs_eopnotsupp(h, qd):
    t = h.tmpfs()
    f0, _ = qd.counters()
    r = h.quiesce("freeze", "--detach", "--timeout", "5s", t.mnt, daemon=qd)
    _err(r, t.mnt, "not supported", "tmpfs", "cannot be frozen")
    res = parse_qzcall(h.qzcall(qd, f"open:{t.mnt}", "freeze:5").stdout)
    assert (res[1]["rc"], res[1]["errno"]) == (-1, "EOPNOTSUPP"), res
    rep = qd.call("io.quiesce.Freeze", {"paths": [str(t.mnt)], "timeout_ms": 5000})
    assert rep.get("error") and rep["parameters"]["errno"] == 95, rep
    assert "tmpfs" in rep["parameters"]["message"] and str(t.mnt) in rep["parameters"]["message"], rep
    assert qd.counters()[0] == f0, "FIFREEZE was called for tmpfs"


def test_fsfreeze_ebusy_left_alone(h, qd, fs):
    """EBUSY after util-linux fsfreeze -f; quiesce never thaws that freeze,
    neither the daemon nor its guard when the daemon dies."""
    assert h.fsfreeze(fs.mnt).returncode == 0
    _, t0 = qd.counters()
    r = h.quiesce("freeze", "--detach", "--timeout", "5s", fs.mnt, daemon=qd)
    _err(r, fs.mnt, "another tool", "busy", "not quiesce", "ebusy")
    res = parse_qzcall(h.qzcall(qd, f"open:{fs.mnt}", "freeze:5", "thaw").stdout)
    assert (res[1]["rc"], res[1]["errno"]) == (-1, "EBUSY"), res
    assert (res[2]["rc"], res[2]["errno"]) == (-1, "EINVAL"), res
    r = h.quiesce("thaw", fs.mnt, daemon=qd)
    assert r.returncode == 1, "thaw of a filesystem quiesce does not hold must fail"
    assert qd.counters()[1] == t0, "quiesced called FITHAW on someone else's freeze"
    assert qd.holds_on(fs.mnt) == []
    w = h.blocked_writer(fs.mnt)
    # the daemon dies: its guard must not touch the other tool's freeze
    qd.kill()
    qd.proc.wait(timeout=5)
    assert not w.done(2.0), "someone thawed a filesystem frozen by fsfreeze"
    assert h.fsfreeze(fs.mnt, unfreeze=True).returncode == 0
    assert w.done(5.0)


def test_nonexistent_path(h, qd, ext4):
    other = h.make_fs("ext4")
    missing = ext4.mnt / "no" / "such" / "dir"
    f0, t0 = qd.counters()
    r = h.quiesce("freeze", "--detach", "--timeout", "5s", missing, daemon=qd)
    _err(r, missing, "no such file", "does not exist", "enoent", "not found")
    rep = qd.call("io.quiesce.Freeze", {"paths": [str(missing)], "timeout_ms": 5000})
    assert rep.get("error") and rep["parameters"]["errno"] == 2, rep
    assert rep["parameters"].get("path") == str(missing), rep
    # in a group: all-or-nothing
    r = h.quiesce("freeze", "--detach", "--timeout", "5s", other.mnt, missing, daemon=qd)
    _err(r, missing)
    h.assert_thawed(other.mnt)
    f1, t1 = qd.counters()
    assert f1 - f0 == t1 - t0, "a failed group freeze left something frozen"
    assert qd.holds_on(other.mnt) == []


def test_runtime_dir_refused(h, fstype):
    """The filesystem holding quiesced's socket is refused (EDEADLK), by
    whatever path it is named, alone or in a group."""
    rt = h.make_fs(fstype)
    other = h.make_fs("ext4")
    (rt.mnt / "run").mkdir()
    (rt.mnt / "sub").mkdir()
    d = h.start_daemon(socket_path=rt.mnt / "run" / "quiesced.sock", log_path=h.tmp / "rt.log")
    bind = h.bind(rt.mnt / "sub")
    f0, t0 = d.counters()
    for target in (rt.mnt, rt.mnt / "sub", bind.mnt):
        r = h.quiesce("freeze", "--detach", "--timeout", "3s", target, daemon=d, timeout=15)
        _err(r, target, "runtime", "socket", "deadlock", "edeadlk", "quiesced")
    r = h.quiesce("freeze", "--detach", "--timeout", "3s", other.mnt, rt.mnt, daemon=d, timeout=15)
    _err(r, rt.mnt)
    rep = d.call("io.quiesce.Freeze", {"paths": [str(rt.mnt)], "timeout_ms": 3000})
    assert rep.get("error") and rep["parameters"]["errno"] == 35, rep
    h.assert_thawed(rt.mnt)
    h.assert_thawed(other.mnt)
    f1, t1 = d.counters()
    assert f1 - f0 == t1 - t0, "a refused group freeze left something frozen"
    assert d.holds_on(other.mnt) == []
    st = d.status()  # the daemon still answers
    assert "filesystems" in st


def test_root_without_deadline_refused(h):
    """/ with no deadline is refused before any freeze (EINVAL). Only ever
    asked with no deadline. The daemon's socket and log live on tmpfs
    (/dev/shm) so the refusal is not the runtime-directory one, and its
    ceiling is 2 s as a backstop; should / ever come back frozen, the test
    thaws it at once."""
    shm = Path(tempfile.mkdtemp(prefix=TMP_PREFIX + "root-", dir="/dev/shm"))
    os.chmod(shm, 0o755)
    rootfd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    d = None
    try:
        d = h.start_daemon(socket_path=shm / "q.sock", log_path=shm / "q.log", max_frozen="2s")
        f0, _ = d.counters()
        r = None
        try:
            r = h.quiesce("freeze", "--detach", "--timeout", "none", "/", daemon=d, timeout=10)
        finally:
            if r is None or r.returncode == 0:
                _rescue_root(d, rootfd)
        _err(r, "/", "deadline", "timeout", "root")
        rep = None
        try:
            rep = d.call("io.quiesce.Freeze", {"paths": ["/"], "timeout_ms": -1, "detached": True})
        finally:
            if rep is None or "error" not in rep:
                _rescue_root(d, rootfd)
        assert rep["parameters"]["errno"] == 22, rep
        assert d.counters()[0] == f0, "FIFREEZE was called for / (it must be refused before)"
    finally:
        os.close(rootfd)
        if d is not None:
            d.stop()
        shutil.rmtree(shm, ignore_errors=True)


def _rescue_root(d, rootfd):
    try:
        for fs in d.status().get("filesystems", []):
            for hold in fs.get("holds", []):
                d.call("io.quiesce.Thaw", {"hold": hold["id"]}, timeout=3)
    except Exception:
        pass
    try:
        fcntl.ioctl(rootfd, FITHAW, 0)
    except OSError:
        pass


# ---------------------------------------------------------------- credentials

RAW_AS_USER = r"""
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(json.dumps({"method": "io.quiesce.Status"}).encode() + b"\0")
buf = b""
while b"\0" not in buf:
    c = s.recv(65536)
    if not c:
        break
    buf += c
first = buf.split(b"\0")[0]
try:
    s.sendall(json.dumps({"method": "io.quiesce.Status"}).encode() + b"\0")
    more = s.recv(65536)
except OSError:
    more = b""
print(json.dumps({"reply": json.loads(first) if first else None, "after": more.decode(errors="replace")}))
"""


def test_unauthorized_uid_eperm(h, qd, ext4):
    f0, t0 = qd.counters()
    r = h.quiesce("freeze", "--detach", "--timeout", "5s", ext4.mnt, daemon=qd, user=NOBODY)
    assert r.returncode == 1, f"uid {NOBODY} freeze: exit {r.returncode} {r.stderr!r}"
    low = r.stderr.lower()
    assert any(w in low for w in ("permi", "eperm", "may not", "not allowed")), r.stderr
    r = h.quiesce("status", daemon=qd, user=NOBODY)
    assert r.returncode == 1, f"uid {NOBODY} status: exit {r.returncode}"
    res = parse_qzcall(h.qzcall(qd, f"open:{ext4.mnt}", "freeze:5", user=NOBODY).stdout)
    assert (res[1]["rc"], res[1]["errno"]) == (-1, "EPERM"), res
    p = subprocess.run(as_user(NOBODY) + [sys.executable, "-c", RAW_AS_USER, str(qd.socket)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=20)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    rep = out["reply"]
    assert rep and rep.get("error") == "io.quiesce.PermissionDenied" and rep["parameters"]["errno"] == 1, rep
    assert out["after"] == "", "the connection should be closed after EPERM"
    assert qd.counters() == (f0, t0)
    h.assert_thawed(ext4.mnt)

    # nobody may not release root's hold either
    hid = h.freeze_detached(qd, ext4.mnt)
    r = h.quiesce("thaw", "--hold", hid, daemon=qd, user=NOBODY)
    assert r.returncode == 1
    assert [x["id"] for x in qd.holds_on(ext4.mnt)] == [hid]
    assert h.quiesce("thaw", "--hold", hid, daemon=qd).returncode == 0


def test_group_member_allowed(h, ext4):
    """--group: members (here by primary gid) may freeze and thaw their holds;
    a uid outside the group is refused."""
    d = h.start_daemon(group="nogroup")
    r = h.quiesce("freeze", "--detach", "--timeout", "5s", ext4.mnt, daemon=d, user=NOBODY)
    assert r.returncode == 0, f"member of --group refused: {r.stderr!r}"
    hid = int(r.stdout.strip())
    h.assert_frozen(ext4.mnt)
    holds = d.holds_on(ext4.mnt)
    assert holds and holds[0]["uid"] == NOBODY, holds
    r = h.quiesce("thaw", "--hold", hid, daemon=d, user=NOBODY)
    assert r.returncode == 0, r.stderr
    h.assert_thawed(ext4.mnt)
    # a member may not release root's hold
    root_hold = h.freeze_detached(d, ext4.mnt, timeout="10s")
    for args in (["thaw", ext4.mnt], ["thaw", "--hold", root_hold]):
        r = h.quiesce(*args, daemon=d, user=NOBODY)
        assert r.returncode == 1, f"uid {NOBODY} released root's hold with {args}"
    assert [x["id"] for x in d.holds_on(ext4.mnt)] == [root_hold]
    assert h.quiesce("thaw", "--hold", root_hold, daemon=d).returncode == 0
    r = subprocess.run(["setpriv", "--reuid=65533", "--regid=65533", "--clear-groups",
                        str(h.helpers.cli or cli_bin()), "--socket", str(d.socket), "status"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=20)
    assert r.returncode == 1, "a uid outside --group was let in"
