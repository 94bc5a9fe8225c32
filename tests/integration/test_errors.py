# SPDX-License-Identifier: GPL-2.0-or-later
"""Bad input, named (issue 5 item 6): each error the command and the library
can return, provoked, with a message that names the path, the filesystem
(type and major:minor) and the reason. Errors covered elsewhere are listed
in docs/SECURITY.md's table with their tests."""

import json
import os
import subprocess
import time

import pytest

from qzharness import RawConn, cli_bin, parse_qzcall

NOBODY = 65534


def fs_name(m):
    """How quiesced names a filesystem: 'TYPE MAJ:MIN (mounted at MNT)'."""
    return f"{m.fstype} {m.dev_id()} (mounted at {m.mnt})"


def named(text, *parts):
    for p in parts:
        assert str(p) in text, f"{p!r} not named in {text!r}"


def cli_fails(r, code=1):
    assert r.returncode == code, f"exit {r.returncode}, expected {code}: {r.stderr!r}"
    return r.stderr


def lib(h, d, *ops, user=None):
    return parse_qzcall(h.qzcall(d, *ops, user=user).stdout)


def test_thaw_without_a_hold_einval(h, qd, ext4):
    # a filesystem quiesce never held
    err = cli_fails(h.quiesce("thaw", ext4.mnt, daemon=qd))
    named(err, ext4.mnt, fs_name(ext4), "is not frozen by quiesce")
    res = lib(h, qd, f"open:{ext4.mnt}", "thaw")
    assert (res[1]["rc"], res[1]["errno"]) == (-1, "EINVAL"), res
    named(res[1]["detail"], ext4.mnt, fs_name(ext4), "is not frozen by quiesce")
    err = cli_fails(h.quiesce("reset-timeout", "--timeout", "5s", ext4.mnt, daemon=qd))
    named(err, ext4.mnt, fs_name(ext4), "is not frozen by quiesce")
    # one it held, but not for this caller any more
    hid = h.freeze_detached(qd, ext4.mnt, timeout="10s")
    assert h.quiesce("thaw", "--hold", hid, daemon=qd).returncode == 0
    err = cli_fails(h.quiesce("thaw", ext4.mnt, daemon=qd))
    named(err, ext4.mnt, fs_name(ext4), "has no quiesce hold of yours", f"hold {hid} released")
    res = lib(h, qd, f"open:{ext4.mnt}", "thaw")
    named(res[1]["detail"], ext4.mnt, fs_name(ext4), "has no quiesce hold of yours")


@pytest.mark.timeout(60)
def test_after_expiry_einval_says_what_happened(h, qd, ext4):
    hid = h.freeze_detached(qd, ext4.mnt, timeout="1s")
    qd.wait_for(lambda: not qd.holds_on(ext4.mnt), timeout=10, what="expiry")
    err = cli_fails(h.quiesce("thaw", ext4.mnt, daemon=qd))
    named(err, ext4.mnt, fs_name(ext4), f"hold {hid} expired", "1000 ms")
    err = cli_fails(h.quiesce("thaw", "--hold", hid, daemon=qd))
    named(err, f"hold {hid}", "expired")
    err = cli_fails(h.quiesce("reset-timeout", "--timeout", "5s", "--hold", hid, daemon=qd))
    named(err, f"hold {hid}", "expired")
    res = lib(h, qd, f"open:{ext4.mnt}", "reset:5")
    assert res[1]["errno"] == "EINVAL", res
    named(res[1]["detail"], ext4.mnt, fs_name(ext4), "expired")


@pytest.mark.timeout(60)
def test_after_the_ceiling_einval_says_so(h, ext4):
    d = h.start_daemon(max_frozen="1s")
    hid = h.freeze_detached(d, ext4.mnt, timeout="10s")
    d.wait_for(lambda: not d.holds_on(ext4.mnt), timeout=10, what="force-thaw")
    err = cli_fails(h.quiesce("thaw", ext4.mnt, daemon=d))
    named(err, ext4.mnt, fs_name(ext4), f"hold {hid}", "max-frozen ceiling")


def test_unknown_hold_einval(h, qd):
    err = cli_fails(h.quiesce("thaw", "--hold", "987654", daemon=qd))
    named(err, "hold 987654", "no such hold")


def test_not_a_file_or_directory_einval(h, qd, ext4):
    fifo = ext4.mnt / "fifo"
    os.mkfifo(fifo)
    err = cli_fails(h.quiesce("freeze", "--detach", "--timeout", "3s", fifo, daemon=qd))
    named(err, fifo, fs_name(ext4), "not a directory or regular file")
    assert qd.counters()[0] == 0


def test_unsupported_filesystem_eopnotsupp(h, qd):
    t = h.tmpfs()
    err = cli_fails(h.quiesce("freeze", "--detach", "--timeout", "3s", t.mnt / ".", daemon=qd))
    named(err, t.mnt, "tmpfs", t.dev_id(), "does not support freezing")
    res = lib(h, qd, f"open:{t.mnt}", "freeze:3")
    assert res[1]["errno"] == "EOPNOTSUPP", res
    named(res[1]["detail"], t.mnt, "tmpfs", t.dev_id(), "does not support freezing")


def test_someone_elses_freeze_ebusy(h, qd, ext4):
    assert h.fsfreeze(ext4.mnt).returncode == 0
    try:
        err = cli_fails(h.quiesce("freeze", "--detach", "--timeout", "3s", ext4.mnt, daemon=qd))
        named(err, ext4.mnt, fs_name(ext4), "already frozen by another tool")
        res = lib(h, qd, f"open:{ext4.mnt}", "freeze:3")
        assert res[1]["errno"] == "EBUSY", res
        named(res[1]["detail"], ext4.mnt, fs_name(ext4), "another tool")
    finally:
        h.fsfreeze(ext4.mnt, unfreeze=True)


def test_runtime_directory_edeadlk_names_the_filesystem(h, ext4):
    (ext4.mnt / "run").mkdir()
    d = h.start_daemon(socket_path=ext4.mnt / "run" / "q.sock")
    err = cli_fails(h.quiesce("freeze", "--detach", "--timeout", "3s", ext4.mnt, daemon=d))
    named(err, ext4.mnt, fs_name(ext4), "runtime directory", ext4.mnt / "run")
    res = lib(h, d, f"open:{ext4.mnt}", "freeze:3")
    assert res[1]["errno"] == "EDEADLK", res
    named(res[1]["detail"], ext4.mnt, fs_name(ext4), "runtime directory")


@pytest.mark.timeout(60)
def test_loop_on_a_frozen_filesystem_edeadlk(h, qd):
    """An ext4 image lying on an XFS that quiesce holds frozen, asked for alone."""
    xfs = h.make_fs("xfs")
    inner = h.make_fs("ext4", parent=xfs.mnt)
    hid = h.freeze_detached(qd, xfs.mnt, timeout="10s")
    err = cli_fails(h.quiesce("freeze", "--detach", "--timeout", "3s", inner.mnt, daemon=qd))
    named(err, inner.mnt, fs_name(inner), fs_name(xfs), "which is frozen")
    assert h.quiesce("thaw", "--hold", hid, daemon=qd).returncode == 0


def test_missing_path_enoent(h, qd, ext4):
    missing = ext4.mnt / "nope"
    err = cli_fails(h.quiesce("freeze", "--detach", "--timeout", "3s", missing, daemon=qd))
    named(err, missing, "No such file or directory")
    rep = qd.call("io.quiesce.Freeze", {"paths": [str(missing)], "timeout_ms": 3000})
    named(rep["parameters"]["message"], missing, "No such file or directory")
    assert rep["parameters"]["errno_name"] == "ENOENT" and rep["parameters"]["path"] == str(missing)


def test_another_uids_hold_eperm(h, ext4):
    d = h.start_daemon(group="nogroup")
    hid = h.freeze_detached(d, ext4.mnt, timeout="10s")
    err = cli_fails(h.quiesce("thaw", "--hold", hid, daemon=d, user=NOBODY))
    named(err, f"hold {hid}", "belongs to uid 0")
    err = cli_fails(h.quiesce("thaw", ext4.mnt, daemon=d, user=NOBODY))
    named(err, ext4.mnt, fs_name(ext4), "has no quiesce hold of yours")
    assert h.quiesce("thaw", "--hold", hid, daemon=d).returncode == 0


def test_not_allowed_eperm_names_the_uid(h, qd):
    err = cli_fails(h.quiesce("status", daemon=qd, user=NOBODY))
    named(err, "uid 65534", "may not use quiesced")


def test_daemon_not_running(h, ext4):
    sock = h.tmp / "nobody-listens.sock"
    r = h.quiesce("--socket", sock, "status")
    err = cli_fails(r)
    named(err, sock, "No such file or directory", "is quiesced running?")
    env_sock = str(sock)
    p = subprocess.run([str(h.helpers.get("qzcall")), f"open:{ext4.mnt}", "thaw"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=20,
                       env=dict(os.environ, QUIESCE_SOCKET=env_sock))
    res = parse_qzcall(p.stdout)
    assert res[1]["errno"] in ("ENOENT", "ECONNREFUSED"), res
    named(res[1]["detail"], env_sock, "is quiesced running?")


def test_socket_path_too_long(h):
    sock = "/tmp/" + "x" * 120 + "/q.sock"
    err = cli_fails(h.quiesce("--socket", sock, "status"))
    named(err, sock, "too long")


def test_too_many_paths_e2big(h, qd, ext4):
    paths = [ext4.mnt] * 65
    err = cli_fails(h.quiesce("freeze", "--detach", "--timeout", "3s", *paths, daemon=qd))
    named(err, "too many paths", "64")
    assert qd.counters()[0] == 0


def test_bad_duration_is_a_usage_error(h, qd, ext4):
    for bad in ("0", "-1s", "soon", "5 s"):
        err = cli_fails(h.quiesce("freeze", "--detach", "--timeout", bad, ext4.mnt, daemon=qd), code=2)
        named(err, bad)
    assert qd.counters()[0] == 0


@pytest.mark.timeout(240)
def test_hold_table_full_enospc(h, qd, ext4):
    """65,536 holds (nested on one filesystem, pipelined by root, who has no
    per-uid limit): the next freeze is refused with ENOSPC, named."""
    n_conns, per = 8, 8192
    conns = [RawConn(qd.socket, timeout=120) for _ in range(n_conns)]
    req = json.dumps({"method": "io.quiesce.Freeze",
                      "parameters": {"paths": [str(ext4.mnt)], "timeout_ms": 120000}}).encode() + b"\0"
    try:
        for c in conns:
            c.sock.setblocking(True)
            c.sock.settimeout(120)
        granted = 0
        # a few hundred at a time per connection, reading the replies as we go
        batch = 512
        for start in range(0, per, batch):
            for c in conns:
                c.send_bytes(req * batch)
            for c in conns:
                for _ in range(batch):
                    rep = c.recv(timeout=120)
                    assert rep and "parameters" in rep and "error" not in rep, rep
                    granted += 1
        assert granted == 65536
        extra = RawConn(qd.socket, timeout=30)
        rep = extra.call("io.quiesce.Freeze", {"paths": [str(ext4.mnt)], "timeout_ms": 5000})
        extra.close()
        p = rep["parameters"]
        assert p["errno_name"] == "ENOSPC", rep
        named(p["message"], ext4.mnt, fs_name(ext4), "too many holds", "65536")
        err = cli_fails(h.quiesce("freeze", "--detach", "--timeout", "3s", ext4.mnt, daemon=qd, timeout=60))
        named(err, ext4.mnt, fs_name(ext4), "too many holds")
    finally:
        for c in conns:
            c.close()
    qd.wait_for(lambda: qd.status()["counters"]["holds_active"] == 0, timeout=60, what="65536 holds released")
    h.assert_thawed(ext4.mnt)
