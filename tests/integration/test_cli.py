# SPDX-License-Identifier: GPL-2.0-or-later
"""The quiesce command: run (exit codes, deadline 124), status, the socket
from QUIESCE_SOCKET, util-linux manners (--help, --version, exit 2 on usage)."""

import json
import os
import time

import pytest

from qzharness import cli_bin, pid_alive, project_version


def test_run_exit_status(h, qd, fs):
    for code in (0, 7):
        r = h.quiesce("run", "--timeout", "10s", fs.mnt, "--", "sh", "-c", f"exit {code}",
                      daemon=qd)
        assert r.returncode == code, f"run: exit {r.returncode}, expected the command's {code}; {r.stderr!r}"
        h.assert_thawed(fs.mnt)
    assert qd.holds_on(fs.mnt) == []


def test_run_freezes_while_the_command_runs(h, qd, ext4):
    marker = h.tmp / "ran"
    p = h.quiesce_bg("run", "--timeout", "10s", ext4.mnt, "--", "sh", "-c",
                     f"touch {marker}; sleep 2", daemon=qd)
    qd.wait_for(lambda: marker.exists(), timeout=10, what="the command to start")
    w = h.blocked_writer(ext4.mnt)
    assert p.wait(timeout=15) == 0, p.stderr.read()
    assert w.done(3.0), "run did not thaw after the command"
    assert qd.holds_on(ext4.mnt) == []


def test_run_deadline_exit_124(h, qd, fs):
    pidfile = h.tmp / "cmd.pid"
    start = time.monotonic()
    r = h.quiesce("run", "--timeout", "1s", fs.mnt, "--", "sh", "-c",
                  f"echo $$ > {pidfile}; exec sleep 30", daemon=qd, timeout=20)
    took = time.monotonic() - start
    assert r.returncode == 124, f"run past its deadline: exit {r.returncode}, expected 124; {r.stderr!r}"
    assert r.stderr.strip(), "run past its deadline must say so"
    assert took < 6, f"run took {took:.1f}s with a 1s deadline"
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 3
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(pid), "the command outlived run's deadline"
    h.assert_thawed(fs.mnt)
    assert qd.holds_on(fs.mnt) == []


def test_run_command_deadlocks_on_frozen_fs(h, qd, ext4):
    """The seed's deadlock through run: the command writes to the filesystem
    it froze; the deadline thaws it, the command is killed, exit 124."""
    r = h.quiesce("run", "--timeout", "1s", ext4.mnt, "--", "sh", "-c",
                  f"echo x > {ext4.mnt}/inside; exec sleep 30", daemon=qd, timeout=20)
    assert r.returncode == 124, f"exit {r.returncode}, expected 124; {r.stderr!r}"
    h.assert_thawed(ext4.mnt)


def test_run_deadline_kills_the_commands_children(h, qd, ext4):
    """Like timeout(1): at the deadline the whole command goes, not only the
    process run started (a shell's children would otherwise live on)."""
    pidfile = h.tmp / "child.pid"
    r = h.quiesce("run", "--timeout", "1s", ext4.mnt, "--", "sh", "-c",
                  f"sleep 30 >/dev/null 2>&1 & echo $! > {pidfile}; wait", daemon=qd, timeout=20)
    assert r.returncode == 124, f"exit {r.returncode}, expected 124; {r.stderr!r}"
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 3
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = pid_alive(pid)
    if alive:
        os.kill(pid, 9)
    assert not alive, "a child of the command outlived run's deadline"


def test_status_text_and_json(h, qd, ext4):
    hid = h.freeze_detached(qd, ext4.mnt, timeout="10s")
    r = h.quiesce("status", "--json", daemon=qd)
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    fss = [x for x in st["filesystems"] if x.get("mountpoint") == str(ext4.mnt)]
    assert fss, f"status --json does not list {ext4.mnt}: {st}"
    assert fss[0]["state"] == "frozen"
    assert [x["id"] for x in fss[0]["holds"]] == [hid]
    r = h.quiesce("status", daemon=qd)
    assert r.returncode == 0, r.stderr
    assert str(ext4.mnt) in r.stdout, f"status does not show the mount point: {r.stdout!r}"
    assert str(hid) in r.stdout, f"status does not show hold {hid}: {r.stdout!r}"
    assert "frozen" in r.stdout
    assert h.quiesce("thaw", "--hold", hid, daemon=qd).returncode == 0


def test_freeze_json_reports_stall(h, qd, ext4):
    r = h.quiesce("freeze", "--detach", "--json", "--timeout", "5s", ext4.mnt, daemon=qd)
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    hold = obj.get("hold", obj)
    ref = hold["filesystems"][0]
    assert ref["mountpoint"] == str(ext4.mnt)
    assert isinstance(ref.get("stall_ms"), int) and ref["stall_ms"] >= 0, ref
    assert h.quiesce("thaw", "--hold", hold["id"], daemon=qd).returncode == 0


def test_socket_from_environment(h, qd, ext4):
    env = {"QUIESCE_SOCKET": str(qd.socket)}
    r = h.quiesce("freeze", "--detach", "--timeout", "5s", ext4.mnt, env=env)
    assert r.returncode == 0, r.stderr
    h.assert_frozen(ext4.mnt)
    r = h.quiesce("thaw", ext4.mnt, env=env)
    assert r.returncode == 0, r.stderr
    h.assert_thawed(ext4.mnt)


def test_daemon_not_running(h, ext4):
    r = h.quiesce("--socket", h.tmp / "nobody-listens.sock", "status")
    assert r.returncode == 1
    assert "nobody-listens.sock" in r.stderr or "quiesced" in r.stderr, r.stderr


def test_thaw_without_hold(h, qd, ext4):
    r = h.quiesce("thaw", ext4.mnt, daemon=qd)
    assert r.returncode == 1 and str(ext4.mnt) in r.stderr, (r.returncode, r.stderr)
    r = h.quiesce("thaw", "--hold", "987654", daemon=qd)
    assert r.returncode == 1 and r.stderr.strip()


def test_help_and_version(h):
    for args in (["--help"], ["freeze", "--help"], ["run", "--help"]):
        r = h.quiesce(*args)
        assert r.returncode == 0, f"quiesce {' '.join(args)}: exit {r.returncode}"
        assert "usage" in r.stdout.lower(), r.stdout
    r = h.quiesce("--version")
    assert r.returncode == 0 and r.stdout == f"quiesce from quiesce {project_version()}\n", r.stdout


SNAPSHOT_OPTIONS = ["--provider", "--exec-cmd", "--exec-delete", "--exec-timeout", "--lvm-size", "--timeout",
                    "--name", "--hooks-dir", "--hook-timeout", "--store", "--allow-crash-consistent",
                    "--no-freeze", "--job"]
SUBCOMMAND_OPTIONS = {
    "freeze": ["--timeout", "--detach", "--json", "--socket"],
    "thaw": ["--hold", "--json", "--socket"],
    "reset-timeout": ["--timeout", "--hold", "--json", "--socket"],
    "status": ["--json", "--socket"],
    "run": ["--timeout", "--socket", "--"],
    "snapshot": SNAPSHOT_OPTIONS + ["--json", "--socket", "list", "delete", "prune", "pin", "unpin"],
    "snapshot list": ["--store", "--json"],
    "snapshot delete": ["--store"],
    "snapshot prune": ["--keep-last", "--keep-hourly", "--keep-daily", "--keep-weekly", "--keep-monthly",
                       "--job", "--dry-run", "--store", "--archives", "--json"],
    "snapshot pin": ["--reason", "--store"],
    "snapshot unpin": ["--store"],
    "backup": SNAPSHOT_OPTIONS + ["--snapshot", "--to", "--exec", "--keep-snapshot", "--json", "--socket"],
}


@pytest.mark.parametrize("cmd", list(SUBCOMMAND_OPTIONS), ids=lambda c: c.replace(" ", "_"))
def test_subcommand_help(cmd):
    """util-linux style: each subcommand's --help (and -h) prints its own usage
    and options on stdout and exits 0; quiesce --help keeps the global list."""
    import subprocess
    top = subprocess.run([str(cli_bin()), "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, timeout=10)
    assert top.returncode == 0 and top.stderr == ""
    for flag in ("--help", "-h"):
        r = subprocess.run([str(cli_bin())] + cmd.split() + [flag], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=10)
        assert r.returncode == 0, f"quiesce {cmd} {flag}: exit {r.returncode}; {r.stderr!r}"
        assert r.stderr == "", f"quiesce {cmd} {flag} wrote to stderr: {r.stderr!r}"
        assert r.stdout != top.stdout, f"quiesce {cmd} {flag} printed the global help"
        assert r.stdout.startswith("\nUsage:\n quiesce " + cmd + " "), r.stdout
        for opt in SUBCOMMAND_OPTIONS[cmd] + ["--help", "--version"]:
            assert opt in r.stdout, f"quiesce {cmd} {flag} does not name {opt}:\n{r.stdout}"
        assert "quiesce(8)" in r.stdout
    # the global help lists every command
    for cmd_name in {c.split()[0] for c in SUBCOMMAND_OPTIONS}:
        assert f" {cmd_name} " in top.stdout, f"quiesce --help does not list {cmd_name}"


@pytest.mark.parametrize("args", [
    [],
    ["no-such-command"],
    ["freeze"],
    ["freeze", "--timeout"],
    ["freeze", "--bogus-option"],
    ["thaw"],
    ["reset-timeout", "--hold", "1"],
    ["run", "--timeout", "1s"],
    ["status", "extra"],
], ids=lambda a: "_".join(a) or "none")
def test_usage_errors_exit_2(h, qd, args):
    r = h.quiesce(*args, daemon=qd)
    assert r.returncode == 2, f"quiesce {' '.join(args)}: exit {r.returncode}, expected 2; {r.stderr!r}"
    assert r.stderr.strip(), "a usage error needs a message on stderr"
    assert qd.status()["filesystems"] == [] or all(not f["holds"] for f in qd.status()["filesystems"])


def test_quiesced_help_version():
    import subprocess
    from qzharness import daemon_bin
    for args in (["--help"], ["--version"]):
        r = subprocess.run([str(daemon_bin())] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=10)
        assert r.returncode == 0, f"quiesced {args[0]}: exit {r.returncode}"
        if args == ["--version"]:
            assert r.stdout == f"quiesced from quiesce {project_version()}\n", r.stdout
    r = subprocess.run([str(daemon_bin()), "--no-such-option"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=10)
    assert r.returncode != 0


def test_run_command_not_found(h, qd, ext4):
    r = h.quiesce("run", "--timeout", "5s", ext4.mnt, "--", "/nonexistent/command", daemon=qd)
    assert r.returncode == 127, f"exit {r.returncode}, expected 127 (as documented); {r.stderr!r}"
    assert "/nonexistent/command" in r.stderr
    h.assert_thawed(ext4.mnt)
    assert qd.holds_on(ext4.mnt) == []


def test_run_does_not_run_the_command_when_the_freeze_fails(h, qd):
    t = h.tmpfs()
    marker = h.tmp / "ran"
    r = h.quiesce("run", "--timeout", "5s", t.mnt, "--", "touch", marker, daemon=qd)
    assert r.returncode == 125, f"exit {r.returncode}, expected 125 (as documented); {r.stderr!r}"
    assert str(t.mnt) in r.stderr
    assert not marker.exists(), "run ran the command although the freeze failed"


def test_foreground_freeze_prints_hold_id(h, qd, ext4):
    p = h.quiesce_bg("freeze", "--timeout", "10s", ext4.mnt, daemon=qd)
    import select
    r, _, _ = select.select([p.stdout], [], [], 10)
    assert r, "quiesce freeze printed nothing"
    line = p.stdout.readline().strip()
    assert line.isdigit(), f"quiesce freeze printed {line!r}, expected the hold id"
    assert [x["id"] for x in qd.holds_on(ext4.mnt)] == [int(line)]
    p.send_signal(2)
    assert p.wait(timeout=10) == 0
    h.assert_thawed(ext4.mnt)


def test_root_releases_another_clients_hold_by_id(h, qd, ext4):
    p = h.quiesce_bg("freeze", "--timeout", "14s", ext4.mnt, daemon=qd)
    holds = qd.wait_for(lambda: qd.holds_on(ext4.mnt), timeout=10, what="the hold")
    w = h.blocked_writer(ext4.mnt)
    r = h.quiesce("thaw", "--hold", holds[0]["id"], daemon=qd)
    assert r.returncode == 0, r.stderr
    assert w.done(5.0)
    p.send_signal(15)
    p.wait(timeout=10)
