# SPDX-License-Identifier: GPL-2.0-or-later
"""Least privilege and limits (issue 5, docs/SECURITY.md): the capabilities
quiesced and its guard keep, which of them FIFREEZE and path lookups really
need (shown by taking each away), per-uid limits on connections and holds,
the ceiling for allowed users, and the hardened unit's sandbox emulated with
unshare/setpriv (systemd is not PID 1 on the test machines)."""

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from qzharness import REPO, Mount, RawConn, run
from rawwriter import RawWriter

NOBODY = 65534
CAP_DAC_READ_SEARCH = 2
CAP_IPC_LOCK = 14
CAP_SYS_ADMIN = 21
SANITIZED = os.environ.get("QUIESCE_SANITIZED") == "1"


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def thread_caps(pid):
    """[(tid, {CapEff, CapPrm, CapInh, CapBnd, CapAmb, NoNewPrivs})] for every thread."""
    res = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        st = {}
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k.startswith("Cap"):
                    st[k] = int(v.strip(), 16)
                elif k == "NoNewPrivs":
                    st[k] = int(v.strip())
        res.append((int(tid), st))
    return res


def memlock_unlimited(pid):
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max locked memory"):
                return line.split()[3] == "unlimited"
    return False


def bits(*caps):
    m = 0
    for c in caps:
        m |= 1 << c
    return m


def test_daemon_and_guard_keep_only_what_they_use(h, qd, ext4):
    """quiesced: CAP_SYS_ADMIN + CAP_DAC_READ_SEARCH (+ CAP_IPC_LOCK only when
    RLIMIT_MEMLOCK could not be made unlimited), in every thread, nothing
    inheritable or ambient, the bounding set the same, no_new_privs; the
    guard: CAP_SYS_ADMIN (+ the same CAP_IPC_LOCK rule). Freezing works."""
    ipc = 0 if memlock_unlimited(qd.pid) else bits(CAP_IPC_LOCK)
    want = {qd.pid: bits(CAP_SYS_ADMIN, CAP_DAC_READ_SEARCH) | ipc}
    assert qd.guard_pids, "no guard process found"
    for g in qd.guard_pids:
        want[g] = bits(CAP_SYS_ADMIN) | ipc
    for pid, mask in want.items():
        for tid, st in thread_caps(pid):
            for k in ("CapEff", "CapPrm", "CapBnd"):
                assert st[k] == mask, f"pid {pid} thread {tid}: {k} {st[k]:#x}, expected {mask:#x}"
            assert st["CapInh"] == 0 and st["CapAmb"] == 0, (pid, tid, st)
            assert st["NoNewPrivs"] == 1, (pid, tid, st)
    assert re.search(r"capabilities: cap_dac_read_search,(cap_ipc_lock,)?cap_sys_admin;", qd.log_text()), \
        qd.log_text()
    if not SANITIZED:  # ASan makes mlockall a no-op
        assert int(proc_status(qd.pid)["VmLck"].split()[0]) > 0, "mlockall had no effect after the drop"
    hid = h.freeze_detached(qd, ext4.mnt, timeout="10s")
    h.assert_frozen(ext4.mnt)
    assert h.quiesce("thaw", "--hold", hid, daemon=qd).returncode == 0
    h.assert_thawed(ext4.mnt)


def test_cap_sys_admin_is_needed_for_fifreeze(h, ext4):
    """Without CAP_SYS_ADMIN (bounding set), FIFREEZE answers EPERM: the
    daemon says so at start, and the error names the path, the filesystem
    and the reason."""
    d = h.start_daemon(wrapper=["setpriv", "--bounding-set=-sys_admin"])
    assert "no CAP_SYS_ADMIN" in d.log_text()
    r = h.quiesce("freeze", "--detach", "--timeout", "5s", ext4.mnt, daemon=d)
    assert r.returncode == 1, r
    err = r.stderr
    assert str(ext4.mnt) in err and "ext4" in err and ext4.dev_id() in err, err
    assert "Operation not permitted" in err, err
    h.assert_thawed(ext4.mnt)


RAW_FD_FREEZE = r"""
import json, os, socket, sys
sock, path = sys.argv[1], sys.argv[2]
fd = os.open(path, os.O_PATH)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sock)
msg = json.dumps({"method": "io.quiesce.Freeze", "parameters": {"paths": [path], "fds": 1, "timeout_ms": 3000}})
socket.send_fds(s, [msg.encode() + b"\0"], [fd])
buf = b""
while b"\0" not in buf:
    c = s.recv(65536)
    if not c:
        break
    buf += c
print(buf.split(b"\0")[0].decode())
"""


def test_cap_dac_read_search_is_needed_for_paths_root_does_not_own(h, ext4):
    """Root without CAP_DAC_OVERRIDE must still open a client's path inside a
    directory only its owner may search, and re-open (through /proc/self/fd)
    a descriptor passed with O_PATH of a file nobody may read: that is what
    CAP_DAC_READ_SEARCH is kept for. Without it both fail with EACCES, named."""
    private = ext4.mnt / "private"
    (private / "sub").mkdir(parents=True)
    secret = ext4.mnt / "secret"
    secret.write_text("x")
    os.chown(private, NOBODY, NOBODY)
    os.chmod(private, 0o700)
    os.chown(secret, NOBODY, NOBODY)
    os.chmod(secret, 0)
    h.check_freezable([str(private / "sub"), str(secret)])

    def by_path(d):
        return d.call("io.quiesce.Freeze", {"paths": [str(private / "sub")], "timeout_ms": 3000})

    def by_opath_fd(d):
        p = subprocess.run([sys.executable, "-c", RAW_FD_FREEZE, str(d.socket), str(secret)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=20)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)

    d = h.start_daemon()
    for call in (by_path, by_opath_fd):
        rep = call(d)
        assert "error" not in rep, rep
        assert d.call("io.quiesce.Thaw", {"hold": rep["parameters"]["hold"]["id"]}).get("parameters"), rep
    d.wait_counters((2, 2))

    d2 = h.start_daemon(wrapper=["setpriv", "--bounding-set=-dac_read_search"])
    for call, what in ((by_path, str(private / "sub")), (by_opath_fd, str(secret))):
        rep = call(d2)
        p = rep.get("parameters", {})
        assert rep.get("error") and p.get("errno") == 13, rep
        assert what in p["message"] and "Permission denied" in p["message"], rep
    assert d2.counters() == (0, 0)
    h.assert_thawed(ext4.mnt)


HOLD_CONNS = r"""
import json, socket, sys
path, n = sys.argv[1], int(sys.argv[2])
conns = []
for i in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    conns.append(s)
print("ready", flush=True)
sys.stdin.read()
"""


def _hold_connections(h, d, n, uid):
    p = subprocess.Popen(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                          sys.executable, "-c", HOLD_CONNS, str(d.socket), str(n)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    h.procs.append(p)
    assert p.stdout.readline().strip() == "ready", p.stderr.read()
    d.wait_for(lambda: d.status()["counters"]["connections"] >= n + 1, timeout=5,
               what=f"{n} connections of uid {uid}")
    return p


RAW_AS_USER = r"""
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
try:
    s.sendall(b'{"method": "io.quiesce.Status"}\0')
except OSError:
    pass
buf = b""
while b"\0" not in buf:
    c = s.recv(65536)
    if not c:
        break
    buf += c
print(buf.split(b"\0")[0].decode() or "{}")
"""


def test_connection_limit_per_uid(h, ext4):
    """--max-connections-per-uid: a uid's next connection is answered EDQUOT
    at once, naming the uid and the limit, and closed; allowed and refused
    uids alike (nobody can pile up idle connections); root is not limited;
    the uid gets in again once it closes some."""
    d = h.start_daemon(group="nogroup", extra=["--max-connections-per-uid", "3"])
    holder = _hold_connections(h, d, 3, NOBODY)
    r = h.quiesce("status", daemon=d, user=NOBODY)
    assert r.returncode == 1, r
    assert "uid 65534" in r.stderr and "3 connections" in r.stderr and "--max-connections-per-uid" in r.stderr, \
        r.stderr
    p = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", sys.executable,
                        "-c", RAW_AS_USER, str(d.socket)], stdout=subprocess.PIPE, text=True, timeout=20)
    rep = json.loads(p.stdout)
    assert rep.get("error") == "io.quiesce.Error" and rep["parameters"]["errno_name"] == "EDQUOT", rep

    # root: no limit
    conns = [RawConn(d.socket) for _ in range(8)]
    try:
        for c in conns:
            assert "parameters" in c.call("io.quiesce.Status")
    finally:
        for c in conns:
            c.close()

    # a uid that may not use quiesced at all is limited too
    other = _hold_connections(h, d, 3, 65533)
    p = subprocess.run(["setpriv", "--reuid=65533", "--regid=65533", "--clear-groups", sys.executable,
                        "-c", RAW_AS_USER, str(d.socket)], stdout=subprocess.PIPE, text=True, timeout=20)
    rep = json.loads(p.stdout)
    assert rep.get("parameters", {}).get("errno_name") == "EDQUOT", rep

    holder.stdin.close()
    holder.wait(timeout=10)
    other.stdin.close()
    other.wait(timeout=10)
    d.wait_for(lambda: d.status()["counters"]["connections"] == 1, timeout=5, what="connections closed")
    r = h.quiesce("status", daemon=d, user=NOBODY)
    assert r.returncode == 0, r.stderr
    assert d.alive()


def test_hold_limit_per_uid(h, ext4):
    """--max-holds-per-uid: an allowed user's next freeze is refused with
    EDQUOT naming the path, the filesystem and the limit, before any freeze;
    root is not limited; a thaw makes room again."""
    d = h.start_daemon(group="nogroup", extra=["--max-holds-per-uid", "2"])
    ids = []
    for _ in range(2):
        r = h.quiesce("freeze", "--detach", "--timeout", "20s", ext4.mnt, daemon=d, user=NOBODY)
        assert r.returncode == 0, r.stderr
        ids.append(int(r.stdout))
    f0, t0 = d.counters()
    r = h.quiesce("freeze", "--detach", "--timeout", "20s", ext4.mnt, daemon=d, user=NOBODY)
    assert r.returncode == 1, r
    err = r.stderr
    for word in (str(ext4.mnt), "ext4", ext4.dev_id(), "uid 65534", "2 holds", "--max-holds-per-uid"):
        assert word in err, f"{word!r} not in {err!r}"
    res = h.qzcall(d, f"open:{ext4.mnt}", "freeze:20", user=NOBODY)
    assert "EDQUOT" in res.stdout, res.stdout
    assert d.counters() == (f0, t0)
    root_ids = [h.freeze_detached(d, ext4.mnt, timeout="20s") for _ in range(3)]
    assert h.quiesce("thaw", "--hold", ids[0], daemon=d, user=NOBODY).returncode == 0
    r = h.quiesce("freeze", "--detach", "--timeout", "20s", ext4.mnt, daemon=d, user=NOBODY)
    assert r.returncode == 0, r.stderr
    ids[0] = int(r.stdout)
    for i in ids + root_ids:
        assert h.quiesce("thaw", "--hold", i, daemon=d).returncode == 0
    h.assert_thawed(ext4.mnt)


@pytest.mark.timeout(60)
def test_ceiling_binds_allowed_users(h, ext4):
    """An allowed (--group) user asking for no deadline, and re-arming, is
    still force-thawed at the administrator's max-frozen."""
    d = h.start_daemon(group="nogroup", max_frozen="2s")
    r = h.quiesce("freeze", "--detach", "--timeout", "none", ext4.mnt, daemon=d, user=NOBODY)
    assert r.returncode == 0, r.stderr
    hid = int(r.stdout)
    t0 = time.monotonic()
    w = h.blocked_writer(ext4.mnt)
    r = h.quiesce("reset-timeout", "--hold", hid, "--timeout", "none", daemon=d, user=NOBODY)
    assert w.done(6), "the ceiling did not thaw a group member's freeze"
    assert time.monotonic() - t0 < 4.5
    r = h.quiesce("thaw", "--hold", hid, daemon=d, user=NOBODY)
    assert r.returncode == 1 and "max-frozen" in r.stderr, r.stderr


SANDBOX = r"""
set -e
rt=$1; shift
# ReadWritePaths=/RuntimeDirectory=: the runtime directory stays writable
mount --bind "$rt" "$rt"
# ProtectSystem=strict, ProtectHome=read-only: every other mount read-only
# (as seen from this namespace only), except the API filesystems
awk '{print $5}' /proc/self/mountinfo | while read -r t; do
    case "$t" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*|"$rt") continue ;; esac
    mount -o remount,bind,ro "$t" 2>/dev/null || true
done
# CapabilityBoundingSet=, NoNewPrivileges=yes
exec setpriv --no-new-privs --bounding-set=-all,+sys_admin,+dac_read_search,+ipc_lock --inh-caps=-all "$@"
"""


@pytest.mark.timeout(120)
def test_hardened_unit_sandbox_still_freezes(h):
    """The hardened unit's file-system sandbox, emulated: quiesced in a mount
    namespace of its own that is a slave of the host's (as systemd makes it),
    everything read-only there but its runtime directory, the unit's bounding
    set, no_new_privs. Filesystems mounted before and AFTER it started are
    frozen through descriptors (the command) and by path; writes stay blocked
    until the thaw.

    systemd makes every host mount shared at boot; this machine's may not be,
    so the test's own directory is made a shared mount first (its mounts then
    propagate as a booted host's would)."""
    run(["mount", "--bind", h.tmp, h.tmp])
    h.resources.append(("mount", Mount(h.tmp, "bind", "ext4")))  # unmounted last, never thawed
    run(["mount", "--make-shared", h.tmp])
    ext4 = h.make_fs("ext4")  # mounted before quiesced starts
    rt = Path(f"/run/qz-it-sandbox-{os.getpid()}-{h.counter}")
    rt.mkdir(mode=0o755)
    try:
        d = h.start_daemon(socket_path=rt / "quiesced.sock",
                           wrapper=["unshare", "--mount", "--propagation", "slave", "/bin/sh", "-c", SANDBOX,
                                    "sandbox", str(rt)])
        assert os.readlink(f"/proc/{d.pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
        st = proc_status(d.pid)
        assert st["NoNewPrivs"] == "1"
        assert int(st["CapBnd"], 16) & ~bits(CAP_SYS_ADMIN, CAP_DAC_READ_SEARCH, CAP_IPC_LOCK) == 0, st
        with open(f"/proc/{d.pid}/mountinfo") as f:
            root = [line for line in f if line.split()[4] == "/"]
        assert root and "ro" in root[-1].split()[5].split(","), root
        later = h.make_fs("xfs")  # mounted on the host after quiesced started
        for m in (ext4, later):
            hid = h.freeze_detached(d, m.mnt, timeout="10s")
            w = h.blocked_writer(m.mnt)
            assert h.quiesce("thaw", "--hold", hid, daemon=d).returncode == 0
            assert w.done(5), f"{m.mnt} not thawed"
        rep = d.call("io.quiesce.Freeze", {"paths": [str(later.mnt)], "timeout_ms": 3000})
        assert "error" not in rep, rep
        d.call("io.quiesce.Thaw", {"hold": rep["parameters"]["hold"]["id"]})
        d.wait_counters((3, 3))
        h.assert_thawed(later.mnt)
    finally:
        for dm in h.daemons:
            dm.stop()
        shutil.rmtree(rt, ignore_errors=True)


def test_unit_file_hardening(h):
    """The installed unit keeps the hardening (systemd-analyze security, offline)."""
    unit = (REPO / "systemd" / "quiesced.service.in").read_text()
    for line in ("CapabilityBoundingSet=CAP_SYS_ADMIN CAP_DAC_READ_SEARCH CAP_IPC_LOCK", "NoNewPrivileges=yes",
                 "ProtectSystem=strict", "ProtectHome=read-only", "RestrictAddressFamilies=AF_UNIX",
                 "SystemCallFilter=@system-service", "LimitMEMLOCK=infinity", "KillMode=mixed"):
        assert line in unit.splitlines(), f"{line} missing from the unit"
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not installed")
    f = h.tmp / "quiesced.service"
    f.write_text(unit.replace("@sbindir@", "/usr/sbin"))
    p = subprocess.run(["systemd-analyze", "security", "--offline=true", str(f)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=60)
    m = re.search(r"Overall exposure level for quiesced.service: ([\d.]+)", p.stdout)
    assert m, p.stdout[-2000:]
    assert float(m.group(1)) <= 3.0, p.stdout[-3000:]


@pytest.mark.timeout(240)
def test_daemon_clean_under_valgrind(h, ext4):
    """quiesced under valgrind memcheck through freeze, nesting, thaw, expiry,
    bad messages, a client killed, writers (one answering every phase, one
    vetoing, one gone mid-freeze, one that never reads and is dropped), a
    client that reads its replies late, and SIGTERM: no invalid access, no
    definite or indirect leak, in the daemon or its guard."""
    if SANITIZED:
        pytest.skip("valgrind cannot run an ASan build")
    if not shutil.which("valgrind"):
        pytest.skip("valgrind not installed")
    vglog = h.tmp / "vg.%p.log"
    d = h.start_daemon(max_frozen="20s", wrapper=[
        "valgrind", "--quiet", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
        "--show-leak-kinds=definite,indirect", "--error-exitcode=99", "--track-fds=no",
        f"--log-file={vglog}"])
    # writers: `quiesce writer` answering every phase through libquiesce
    wr = h.quiesce_bg("writer", "--name", "vg-ok", "--freeze", "true", ext4.mnt, daemon=d)
    d.wait_for(lambda: "writer vg-ok (id" in d.log_text(), timeout=60, what="writer vg-ok")
    # one that vetoes (root's: obeyed), then goes
    v = RawConn(d.socket, timeout=30)
    assert "error" not in v.call("io.quiesce.RegisterWriter", {"name": "vg-veto", "paths": [str(ext4.mnt)]})
    vetoed = subprocess.Popen(h.cli_cmd(("freeze", "--detach", "--timeout", "15s", str(ext4.mnt)), d, None),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ev = v.recv(timeout=60)
    assert ev["event"] == "prepare", ev
    v.send({"method": "io.quiesce.WriterAnswer",
            "parameters": {"freeze": ev["parameters"]["freeze"], "phase": "prepare", "answer": "veto",
                           "detail": "not now"}})
    _, err = vetoed.communicate(timeout=60)
    assert vetoed.returncode == 1 and "vg-veto" in err and "not now" in err, (vetoed.returncode, err)
    v.close()
    # one that answers prepare and freeze, then goes while frozen
    g = RawConn(d.socket, timeout=30)
    assert "error" not in g.call("io.quiesce.RegisterWriter", {"name": "vg-gone", "paths": [str(ext4.mnt)]})
    gone = subprocess.Popen(h.cli_cmd(("freeze", "--detach", "--timeout", "15s", str(ext4.mnt)), d, None),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for phase in ("prepare", "freeze"):
        ev = g.recv(timeout=60)
        assert ev["event"] == phase, ev
        g.send({"method": "io.quiesce.WriterAnswer",
                "parameters": {"freeze": ev["parameters"]["freeze"], "phase": phase, "answer": "ok"}})
    out, err = gone.communicate(timeout=60)
    assert gone.returncode == 0, err
    g.close()
    assert h.quiesce("thaw", "--hold", out.strip(), daemon=d, timeout=60).returncode == 0
    h.assert_thawed(ext4.mnt, within=10)
    # one that never reads, dropped once its events pass the bound (root's vetoer fails each freeze)
    lazy = RawConn(d.socket, timeout=30)
    assert "error" not in lazy.call("io.quiesce.RegisterWriter", {"name": "vg-lazy", "paths": [str(ext4.mnt)]})
    vetoer = RawWriter(d, [ext4.mnt], "vg-vetoer", policy={"prepare": "veto"})
    for i in range(2000):
        rep = d.call("io.quiesce.Freeze", {"paths": [str(ext4.mnt)], "timeout_ms": 5000}, timeout=60)
        assert "error" in rep and "vg-vetoer" in rep["parameters"]["message"], rep
        if i % 20 == 19 and "vg-lazy" not in [w["name"] for w in d.status().get("writers", [])]:
            break
    assert "writer vg-lazy" in d.log_text() and "dropped" in d.log_text(), d.log_text()
    print(f"vg-lazy dropped after {i + 1} freezes")
    lazy.close()
    vetoer.close()
    # a client that sends requests and reads the replies only later
    c = RawConn(d.socket, timeout=60)
    sender = threading.Thread(target=c.send_bytes, args=(b'{"method": "io.quiesce.Status"}\0' * 3000,))
    sender.start()
    time.sleep(1)
    for _ in range(3000):
        assert "counters" in c.recv(timeout=60)["parameters"]
    sender.join(60)
    c.close()
    a = h.freeze_detached(d, ext4.mnt, timeout="15s")
    b = h.freeze_detached(d, ext4.mnt, timeout="15s")
    assert h.quiesce("thaw", "--hold", a, daemon=d, timeout=60).returncode == 0
    h.assert_frozen(ext4.mnt)
    assert h.quiesce("thaw", ext4.mnt, daemon=d, timeout=60).returncode == 0
    h.assert_thawed(ext4.mnt, within=10)
    # expiry
    h.freeze_detached(d, ext4.mnt, timeout="1s")
    d.wait_for(lambda: d.status()["counters"]["holds_active"] == 0, timeout=15, what="expiry")
    # bad messages, an oversized one, descriptors announced but missing
    c = RawConn(d.socket, timeout=30)
    for bad in (b"{not json\0", b'{"method": "io.quiesce.Nope"}\0',
                b'{"method": "io.quiesce.Freeze", "parameters": {"fds": 2, "timeout_ms": 5}}\0'):
        c.send_bytes(bad)
        assert "error" in c.recv(timeout=30)
    c.send_bytes(b"x" * (70 * 1024))
    assert c.recv(timeout=30)["parameters"]["errno"] == 90
    c.close()
    # a client killed while holding a freeze
    p = h.qzcall(d, f"open:{ext4.mnt}", "freeze:15", "wait", background=True)
    d.wait_for(lambda: d.status()["counters"]["holds_active"] == 1, timeout=20, what="library hold")
    p.kill()
    p.wait(timeout=10)
    d.wait_for(lambda: d.status()["counters"]["holds_active"] == 0, timeout=20, what="hold released")
    # and a group hold left for shutdown to release
    h.freeze_detached(d, ext4.mnt, timeout="15s")
    d.proc.terminate()
    rc = d.proc.wait(timeout=60)
    for g in d.guard_pids:
        for _ in range(100):
            if not os.path.exists(f"/proc/{g}") or "zombie" in open(f"/proc/{g}/status").read():
                break
            time.sleep(0.1)
    logs = {p.name: p.read_text() for p in h.tmp.glob("vg.*.log")}
    assert logs, "valgrind wrote no log"
    report = "\n".join(f"--- {k}\n{v}" for k, v in logs.items() if v.strip())
    assert rc == 0, f"quiesced under valgrind exited {rc}:\n{report}\n{d.log_text()}"
    assert not report, f"valgrind reported:\n{report}"
    h.assert_thawed(ext4.mnt)
