# SPDX-License-Identifier: GPL-2.0-or-later
"""The wire protocol from a raw socket: malformed, truncated and oversized
messages get an error reply (or a close, for a truncated one) and the daemon
carries on (docs/protocol.md)."""

import json
import socket
import threading
import time

import pytest

from qzharness import RawConn


def _still_serving(d):
    assert d.alive(), f"quiesced died: {d.log_text()}"
    t = time.monotonic()
    st = d.status()
    assert time.monotonic() - t < 2.0, "status was slow to answer"
    return st


def _error(rep, errno_, names=None):
    assert rep is not None, "no reply (connection closed) where an error reply was expected"
    assert "error" in rep, f"expected an error reply, got {rep}"
    p = rep.get("parameters", {})
    assert p.get("errno") == errno_, f"errno {p.get('errno')}, expected {errno_}: {rep}"
    if names:
        assert rep["error"] in names, f"error {rep['error']}, expected one of {names}"
    assert p.get("message"), f"an error reply needs a message: {rep}"


BAD_MESSAGES = [
    pytest.param(b"{not json", id="not-json"),
    pytest.param(b"[1, 2, 3]", id="not-an-object"),
    pytest.param(b"\"io.quiesce.Status\"", id="a-string"),
    pytest.param(b"{}", id="no-method"),
    pytest.param(b'{"method": 42}', id="method-not-a-string"),
    pytest.param(b'{"method": "io.quiesce.NoSuchMethod"}', id="unknown-method"),
    pytest.param(b'{"method": "io.quiesce.Status", "parameters": "x"}', id="parameters-not-an-object"),
    pytest.param(b'{"method": "io.quiesce.Thaw", "parameters": {"hold": "twelve"}}', id="hold-not-a-number"),
    pytest.param(b'\xff\xfe\x00garbage', id="binary"),
    pytest.param(b'{"method": "io.quiesce.Status"} trailing', id="trailing-garbage"),
]


@pytest.mark.parametrize("msg", BAD_MESSAGES)
def test_malformed_message_gets_error(h, qd, msg):
    c = RawConn(qd.socket)
    try:
        c.send_bytes(msg + (b"" if b"\0" in msg else b"\0"))
        rep = c.recv()
        _error(rep, 22, {"io.quiesce.InvalidRequest"})
    finally:
        c.close()
    _still_serving(qd)


FREEZE_BAD_PARAMS = [
    pytest.param({"timeout_ms": 5000}, id="no-paths"),
    pytest.param({"paths": "MNT", "timeout_ms": 5000}, id="paths-not-an-array"),
    pytest.param({"paths": [42], "timeout_ms": 5000}, id="path-not-a-string"),
    pytest.param({"paths": ["MNT"]}, id="no-timeout"),
    pytest.param({"paths": ["MNT"], "timeout_ms": "5s"}, id="timeout-a-string"),
    pytest.param({"paths": ["MNT"], "timeout_ms": 0}, id="timeout-zero"),
    pytest.param({"paths": ["MNT"], "timeout_ms": -5}, id="timeout-negative"),
    pytest.param({"paths": ["relative/path"], "timeout_ms": 5000}, id="relative-path"),
    pytest.param({"paths": [], "timeout_ms": 5000}, id="empty-paths"),
]


@pytest.mark.parametrize("params", FREEZE_BAD_PARAMS)
def test_freeze_bad_parameters(h, qd, ext4, params):
    params = json.loads(json.dumps(params).replace('"MNT"', json.dumps(str(ext4.mnt))))
    f0, t0 = qd.counters()
    rep = qd.call("io.quiesce.Freeze", params)
    _error(rep, 22)
    assert qd.counters() == (f0, t0), "an invalid request froze something"
    h.assert_thawed(ext4.mnt)
    _still_serving(qd)


def test_fds_count_without_descriptors(h, qd, ext4):
    rep = qd.call("io.quiesce.Freeze", {"paths": [str(ext4.mnt)], "fds": 2, "timeout_ms": 5000})
    assert rep is None or "error" in rep, f"a request announcing 2 fds without any succeeded: {rep}"
    h.assert_thawed(ext4.mnt)
    _still_serving(qd)


def test_truncated_message_then_close(h, qd):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(str(qd.socket))
    s.sendall(b'{"method": "io.quiesce.Sta')
    s.shutdown(socket.SHUT_WR)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    s.close()
    if data:  # an error reply is allowed; a success is not
        rep = json.loads(data.split(b"\0")[0])
        assert "error" in rep, rep
    _still_serving(qd)


def test_truncated_message_left_open_does_not_block_others(h, qd):
    stalled = [RawConn(qd.socket) for _ in range(5)]
    try:
        for c in stalled:
            c.send_bytes(b'{"method": "io.quiesce.Status", "parame')
        _still_serving(qd)
        # the stalled clients can still finish their message
        stalled[0].send_bytes(b'ters": {}}\0')
        rep = stalled[0].recv()
        assert rep and "parameters" in rep and "error" not in rep, rep
    finally:
        for c in stalled:
            c.close()
    _still_serving(qd)


@pytest.mark.parametrize("terminated", [True, False], ids=["with-nul", "without-nul"])
def test_oversized_message(h, qd, terminated):
    big = b'{"method": "io.quiesce.Status", "parameters": {"pad": "' + b"x" * (70 * 1024) + b'"}}'
    if terminated:
        big += b"\0"
    c = RawConn(qd.socket)
    sender_err = []

    def send():
        try:
            c.sock.sendall(big)
        except OSError as e:  # the daemon may close before reading it all
            sender_err.append(e)

    t = threading.Thread(target=send, daemon=True)
    t.start()
    try:
        rep = c.recv(timeout=10)
        _error(rep, 90, {"io.quiesce.MessageTooLarge"})
        # then the connection is closed
        try:
            more = c.recv(timeout=5)
        except (TimeoutError, ConnectionResetError):
            more = "timeout"
        assert more is None, f"the connection stayed open after MessageTooLarge: {more}"
    finally:
        c.close()
        t.join(timeout=5)
    _still_serving(qd)


def test_pipelined_requests_answered_in_order(h, qd):
    c = RawConn(qd.socket)
    try:
        c.send_bytes(b'{"method": "io.quiesce.GetInfo"}\0{"method": "io.quiesce.NoSuch"}\0'
                     b'{"method": "io.quiesce.Status"}\0')
        r1, r2, r3 = c.recv(), c.recv(), c.recv()
    finally:
        c.close()
    assert r1 and r1["parameters"]["pid"] == qd.pid, r1
    assert r2 and r2.get("error") == "io.quiesce.InvalidRequest", r2
    assert r3 and "filesystems" in r3["parameters"], r3


def test_slow_reader_gets_every_reply_whole_and_in_order(h, qd):
    """A client that sends many requests and reads nothing makes replies pile
    up beyond the socket's buffer: quiesced queues them, keeps serving other
    clients, and the slow client then reads every reply, whole and in order."""
    n = 4000
    c = RawConn(qd.socket, timeout=30)
    try:
        reqs = []
        for i in range(n):
            method = "io.quiesce.Status" if i % 10 == 9 else "io.quiesce.GetInfo"
            reqs.append(method)
        c.send_bytes(b"".join(json.dumps({"method": m}).encode() + b"\0" for m in reqs))
        time.sleep(0.5)  # let the replies fill the socket and the daemon's queue
        _still_serving(qd)  # another client is answered meanwhile
        for i, m in enumerate(reqs):
            r = c.recv(timeout=30)
            assert r is not None, f"the connection closed after {i} of {n} replies"
            if m == "io.quiesce.Status":
                assert "filesystems" in r["parameters"] and "counters" in r["parameters"], (i, r)
            else:
                assert r["parameters"]["pid"] == qd.pid and "runtime_dir" in r["parameters"], (i, r)
        assert c.buf == b"", f"bytes after the last reply: {c.buf[:200]!r}"
    finally:
        c.close()
    _still_serving(qd)


def test_many_connections_dropped_midway(h, qd, ext4):
    for i in range(200):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(str(qd.socket))
        if i % 3 == 1:
            s.sendall(b'{"method": "io.quiesce.Freeze", "parameters": {"paths": ["'
                      + str(ext4.mnt).encode() + b'"], "timeout_ms": 5000}}\0')
        elif i % 3 == 2:
            s.sendall(b'{"meth')
        s.close()
    # a freeze whose requester left while it was in flight is thawed once it
    # completes: wait until the daemon has nothing frozen and nothing in flight
    def idle():
        st = qd.status()
        c = st["counters"]
        return (c["fifreeze"] == c["fithaw"]
                and all(fs["state"] == "thawed" and not fs["holds"] for fs in st["filesystems"]))
    qd.wait_for(idle, timeout=15, what="every freeze of a closed connection to be thawed")
    h.assert_thawed(ext4.mnt)
    _still_serving(qd)


def test_getinfo_and_status_shape(h, qd, ext4):
    info = qd.call("io.quiesce.GetInfo")["parameters"]
    assert info["pid"] == qd.pid
    assert info["max_frozen_ms"] == 15000
    hid = None
    c = RawConn(qd.socket)
    try:
        rep = c.call("io.quiesce.Freeze", {"paths": [str(ext4.mnt)], "timeout_ms": 8000})
        hold = rep["parameters"]["hold"]
        hid = hold["id"]
        assert hold["detached"] is False
        assert 0 < hold["remaining_ms"] <= 8000
        ref = hold["filesystems"][0]
        assert ref["mountpoint"] == str(ext4.mnt) and ref["fstype"] == "ext4", ref
        assert ref["source"] == ext4.dev, ref
        st = qd.status()
        assert st["pid"] == qd.pid and st["max_frozen_ms"] == 15000
        fss = [x for x in st["filesystems"] if x["id"] == ref["id"]]
        assert fss and fss[0]["state"] == "frozen", fss
        # protocol.md: last_stall_ms is the last *complete* freeze cycle's
        # blocked time; none yet on a fresh daemon
        assert isinstance(ref.get("stall_ms"), int) and ref["stall_ms"] >= 0, ref
        assert fss[0]["last_stall_ms"] == -1, fss[0]
        assert fss[0]["frozen_ms"] >= 0
        assert 0 < fss[0]["ceiling_ms"] <= 15000
        hs = fss[0]["holds"]
        assert [x["id"] for x in hs] == [hid] and hs[0]["uid"] == 0, hs
        rep = c.call("io.quiesce.Thaw", {"hold": hid})
        rel = rep["parameters"]["released"]
        assert rel and rel[0]["hold"] == hid and rel[0]["thawed"] is True, rep
    finally:
        c.close()
    h.assert_thawed(ext4.mnt)
    fss = [x for x in qd.status()["filesystems"] if x["id"] == ref["id"]]
    assert not fss or (fss[0]["state"] == "thawed" and fss[0]["holds"] == []), fss
    if fss:  # kept so that its last stall stays visible: FIFREEZE start to FITHAW end
        assert fss[0]["last_stall_ms"] >= ref["stall_ms"], (fss[0], ref)
        assert fss[0]["frozen_ms"] == fss[0]["last_stall_ms"], fss[0]
