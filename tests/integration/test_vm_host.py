# SPDX-License-Identifier: GPL-2.0-or-later
"""The lvm provider on the host (no LVM volume here: what is refused, and
how), and the VM harness's own pieces that need no VM. The provider itself
is tested in the VM (test_vm.py, docs/device-mapper.md)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "vm"))
import vm  # noqa: E402


def test_lvm_provider_refuses_a_filesystem_not_on_lvm(h, qd):
    fs = h.make_fs("ext4")
    r = h.quiesce("snapshot", "--store", h.tmp / "store", "--hooks-dir", h.tmp / "none",
                  "--provider", "lvm", "--name", "l1", fs, daemon=qd, timeout=60)
    assert r.returncode == 1, r.stderr
    assert "is not an LVM logical volume" in r.stderr
    assert not (h.tmp / "store" / "l1.json").exists()
    assert qd.status()["counters"]["fifreeze"] == 0  # refused before any freeze


def test_lvm_size_needs_the_lvm_provider(h, qd):
    fs = h.make_fs("ext4")
    r = h.quiesce("snapshot", "--lvm-size", "1G", fs, daemon=qd, timeout=30)
    assert r.returncode == 2 and "--lvm-size is for --provider lvm" in r.stderr


def test_vm_cpio_and_modinfo():
    """The initramfs writer's newc format, read back; .modinfo parsing of a
    minimal ELF object."""
    c = vm.Cpio()
    c.file("a/b/c", b"hello")
    c.symlink("a/l", "b/c")
    c.chardev("dev/console", 5, 1)
    data = c.finish()
    names, i = [], 0
    while True:
        f = [int(data[i + 6 + 8 * k:i + 14 + 8 * k], 16) for k in range(13)]
        n = data[i + 110:i + 110 + f[11] - 1].decode()
        i += 110 + f[11]
        i += (-i) % 4
        body = data[i:i + f[6]]
        i += f[6]
        i += (-i) % 4
        if n == "TRAILER!!!":
            break
        names.append((n, oct(f[1]), body))
    assert ("a/b/c", oct(0o100755), b"hello") in names
    assert ("a/l", oct(0o120777), b"b/c") in names
    assert [n for n, _, _ in names].index("a/b") < [n for n, _, _ in names].index("a/b/c")
    assert i == len(data)
