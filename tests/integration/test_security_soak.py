# SPDX-License-Identifier: GPL-2.0-or-later
"""tests/soak/soak, short (issue 5): 50 clients freezing, thawing, re-arming,
group-freezing and dying on 4 loop filesystems while writers append
checksummed records and quiesced is SIGKILLed and restarted; every
invariant of the soak must hold (see tests/soak/soak)."""

import json
import os
import subprocess

import pytest

from qzharness import REPO, build_dir


@pytest.mark.timeout(300)
def test_soak_under_faults_short(h):
    seconds = os.environ.get("QUIESCE_SOAK_DURATION", "60s")
    out = h.tmp / "soak.json"
    p = subprocess.run([str(REPO / "tests" / "soak" / "soak"), "--duration", seconds, "--json", str(out)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=280,
                       env=dict(os.environ, QUIESCE_BUILD_DIR=str(build_dir())))
    tail = "\n".join(p.stdout.splitlines()[-15:])
    assert out.exists(), f"soak wrote no report:\n{p.stdout[-4000:]}"
    r = json.loads(out.read_text())
    print(tail)
    assert p.returncode == 0 and not r["violations"], f"soak violations: {r['violations']}\n{tail}"
    assert r["daemon_kills"] >= 1, "quiesced was never killed: not a soak under faults"
    assert r["client_kills"] >= 10
    assert all(v["acknowledged"] > 0 and v["on_disk"] >= v["acknowledged"] for v in r["records"].values()), \
        r["records"]
    assert len(r["records"]) == 4
    assert r["client_ops"].get("freeze:ok", 0) > 50 and r["client_ops"].get("group:ok", 0) > 5, r["client_ops"]
    assert not r["d_state_at_end"], r["d_state_at_end"]
