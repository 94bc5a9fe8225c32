# SPDX-License-Identifier: GPL-2.0-or-later
"""examples/writer.c, the application writer of the README and
qz_writer_open(3), against the real kernel on a loop filesystem: it
registers, acknowledges a `quiesce freeze` with the number of records it
wrote, writes nothing from freeze to thaw, and goes on after the thaw."""

import json
import signal
import subprocess
import time

import pytest

from qzharness import blocked_on_freeze, build_dir


def example_bin():
    return build_dir() / "examples" / "example-writer"


def journal_records(mnt):
    return (mnt / "journal").read_text().count("\n")


def test_example_writer_pauses_from_freeze_to_thaw(h, qd, ext4):
    if not example_bin().exists():
        pytest.fail(f"{example_bin()} is not built")
    p = subprocess.Popen([str(example_bin()), "--socket", str(qd.socket), str(ext4.mnt)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    h.procs.append(p)
    line = p.stderr.readline()
    assert "registered (writer id" in line, line + p.stderr.read() if p.poll() is not None else line
    qd.wait_for(lambda: journal_records(ext4.mnt) >= 3, timeout=10, what="records before the freeze")

    r = h.quiesce("freeze", "--detach", "--json", "--timeout", "5s", ext4.mnt, daemon=qd)
    assert r.returncode == 0, r.stderr
    hold = json.loads(r.stdout)
    [w] = hold["writers"]
    assert w["name"] == "example" and w["acknowledged"], w
    assert w["prepare"]["answer"] == "ok" and w["freeze"]["answer"] == "ok", w
    n = int(w["freeze"]["detail"].removeprefix("records="))
    assert n >= 3 and journal_records(ext4.mnt) == n, (n, journal_records(ext4.mnt))
    time.sleep(0.5)  # five of its ticks: it writes nothing while frozen, so it never blocks
    assert journal_records(ext4.mnt) == n
    assert p.poll() is None, p.stderr.read()
    assert not blocked_on_freeze(p.pid), "example-writer wrote to the frozen filesystem and blocked"

    r = h.quiesce("thaw", "--hold", str(hold["id"]), daemon=qd)
    assert r.returncode == 0, r.stderr
    qd.wait_for(lambda: journal_records(ext4.mnt) > n, timeout=10, what="records after the thaw")

    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=10)
    assert p.returncode == 0, err
    assert out.strip().endswith("records") and int(out.split()[0]) > n, out
