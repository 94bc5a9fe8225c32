# SPDX-License-Identifier: GPL-2.0-or-later
"""Device-mapper and LVM, in a VM (issue 6; docs/device-mapper.md).

This machine's kernel may have no device-mapper, so tests/vm/vm.py boots
Debian's cloud kernels (Debian 12's 6.1, bookworm-backports' 6.12) under
QEMU (TCG) with quiesce's binaries from this build, runs the scenarios of
tests/vm/scenarios inside, and collects one result per test. The VM boots
once per kernel per session (a module fixture); every name in
tests/vm/expected becomes one test here, so each counts in the final
"N passed, N failed" line. A name marked xfail there is a known failure.

Skipped: QUIESCE_VM=0; the sanitizer pass (QUIESCE_SANITIZED=1: the VM
tests are about the kernel, and an ASan build under TCG is slow); no
qemu-system-x86_64. Nothing is frozen on the host: only the VM's disks.
"""

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "vm"))
import vm  # noqa: E402

EXPECTED = vm.expected_tests()
KERNELS = [k for k in os.environ.get("QUIESCE_VM_KERNELS", "stable,backports").split(",") if k]
VM_TIMEOUT = int(os.environ.get("QUIESCE_VM_TIMEOUT", "1200"))

_runs = {}


def _skip_reason():
    if os.environ.get("QUIESCE_VM", "1") == "0":
        return "QUIESCE_VM=0"
    if os.environ.get("QUIESCE_SANITIZED") == "1":
        return "not in the sanitizer pass (kernel behaviour; an ASan build under TCG is slow)"
    if not shutil.which("qemu-system-x86_64"):
        return "qemu-system-x86_64 is not installed (scripts/install-deps installs qemu-system-x86)"
    return None


def _run(kernel):
    if kernel not in _runs:
        try:
            _runs[kernel] = vm.run_kernel(kernel, timeout=VM_TIMEOUT)
        except Exception as e:  # the download, the initramfs or QEMU failed: every test says why
            _runs[kernel] = {"error": f"{type(e).__name__}: {e}"}
        r = _runs[kernel]
        if "error" not in r:
            print(f"\nvm {kernel}: kernel {r['kver']}, prepared in {r['prepare_seconds']:.0f} s, "
                  f"ran {r['boot_seconds']:.0f} s ({r['ended']}); console {r['console_log']}")
    return _runs[kernel]


@pytest.fixture
def vm_result(kernel):
    """The kernel's VM run (booted by the first test that needs it; in the
    setup phase, so the test body's 90 s deadline does not cover the boot)."""
    why = _skip_reason()
    if why:
        pytest.skip(why)
    return _run(kernel)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("name", list(EXPECTED))
def test_vm(kernel, name, vm_result):
    r = vm_result
    if "error" in r:
        pytest.fail(f"the VM could not run: {r['error']}")
    xfail = EXPECTED[name]
    status, detail = r["results"].get(name, (None, None))
    if status is None:
        pytest.fail(f"{name}: no result from the VM (the run ended: {r['ended']}; see {r['console_log']})")
    if xfail:
        if status == "FAIL":
            pytest.xfail(f"{xfail} [{detail}]")
        pytest.fail(f"{name} passed but is marked xfail in tests/vm/expected: remove the mark ({detail})")
    assert status == "PASS", f"{name} on {r['kver']}: {detail}"


@pytest.mark.parametrize("kernel", KERNELS)
def test_vm_reported_nothing_unexpected(kernel, vm_result):
    """Every result the VM printed is one tests/vm/expected names, and the run finished."""
    r = vm_result
    if "error" in r:
        pytest.fail(f"the VM could not run: {r['error']}")
    extra = sorted(set(r["results"]) - set(EXPECTED))
    assert not extra, f"results not in tests/vm/expected: {extra}"
    assert r["ended"] == "done", f"the VM run did not finish ({r['ended']}); see {r['console_log']}"
