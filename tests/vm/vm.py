#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""tests/vm/vm.py - quiesce's device-mapper and LVM tests, inside a VM.

This machine's kernel may have no device-mapper, so the tests boot Debian's
cloud kernel (which has it, as modules) under QEMU with software emulation
(TCG), from a small initramfs made here: busybox-static, dmsetup, lvm2,
thin-provisioning-tools, e2fsprogs, xfsprogs, util-linux's losetup/fsfreeze,
quiesce's own quiesced, quiesce and libquiesce (from the build directory),
their shared libraries, and the kernel modules the tests need. /init runs the
scenarios (tests/vm/scenarios/*.sh) and prints one line per result:

    QZTEST NAME PASS|FAIL DETAIL

which this script collects. Everything it makes lives in BUILD/vm (BUILD is
$QUIESCE_BUILD_DIR, default build/): the downloaded packages, the extracted
trees, the initramfs, a sparse scratch disk, the console log.

    tests/vm/vm.py [--kernel stable|backports|all] [--only REGEX] [--timeout S]

Kernels: "stable" is Debian 12's linux-image-cloud-amd64 (6.1), "backports"
is bookworm-backports' (6.12): one kernel from before the freeze holders
were reworked (6.6-6.8) and one after. Packages come from Debian's apt
repositories through apt-get download (nothing is installed on the host).
The QEMU process is killed on every way out (timeout, error, signal).
"""

import argparse
import gzip
import lzma
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

# The userland of the VM, from Debian 12 (the host's apt lists).
VM_PACKAGES = [
    "busybox-static", "dmsetup", "libdevmapper1.02.1", "libdevmapper-event1.02.1", "lvm2",
    "libaio1", "libedit2", "thin-provisioning-tools",
]

# Binaries of the host (scripts/install-deps installs them) copied in.
HOST_BINARIES = [
    "/usr/sbin/mkfs.ext4", "/usr/sbin/e2fsck", "/usr/sbin/dumpe2fs", "/usr/sbin/tune2fs",
    "/usr/sbin/mkfs.xfs", "/usr/sbin/xfs_repair", "/usr/sbin/xfs_db",
    "/usr/sbin/losetup", "/usr/sbin/fsfreeze", "/usr/sbin/blkid",
]

# Kernel modules (with what they depend on, from each module's .modinfo).
MODULES = [
    "virtio_pci", "virtio_blk", "loop", "xfs", "crc32c_intel", "crc32c_generic",
    "dm_mod", "dm_snapshot", "dm_thin_pool", "dm_bufio", "dm_persistent_data",
]

KERNELS = {
    # label: (apt suite line or None for the host's lists, what it is)
    "stable": (None, "Debian 12 linux-image-cloud-amd64"),
    "backports": ("deb http://deb.debian.org/debian bookworm-backports main",
                  "bookworm-backports linux-image-cloud-amd64"),
}

RESULT_RE = re.compile(r"QZTEST (\S+) (PASS|FAIL)(?: (.*))?$")
INFO_RE = re.compile(r"QZINFO (\S+) ?(.*)$")


def log(msg):
    print(f"vm: {msg}", file=sys.stderr, flush=True)


def build_dir():
    b = Path(os.environ.get("QUIESCE_BUILD_DIR", "build"))
    if not b.is_absolute():
        b = REPO / b
    return b


def run(cmd, **kw):
    kw.setdefault("check", True)
    return subprocess.run(cmd, **kw)


# ------------------------------------------------------------------ apt

class Apt:
    """apt-get/apt-cache on the host's lists, or on a private list (under
    BUILD/vm/apt-LABEL) for an extra suite such as bookworm-backports."""

    def __init__(self, vmdir, label, source):
        self.opts = ["-o", "APT::Sandbox::User=root", "-q"]
        if source:
            d = vmdir / f"apt-{label}"
            (d / "lists" / "partial").mkdir(parents=True, exist_ok=True)
            (d / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
            (d / "sources.list").write_text(source + "\n")
            self.opts += ["-o", f"Dir::Etc::SourceList={d}/sources.list",
                          "-o", "Dir::Etc::SourceParts=/dev/null",
                          "-o", f"Dir::State::Lists={d}/lists",
                          "-o", f"Dir::Cache={d}/cache"]
            stamp = d / "updated"
            if not stamp.exists() or time.time() - stamp.stat().st_mtime > 86400:
                log(f"apt-get update ({source})")
                run(["apt-get", *self.opts, "update"], stdout=subprocess.DEVNULL, timeout=600)
                stamp.touch()
        self.private = bool(source)

    def depends(self, pkg):
        out = run(["apt-cache", *self.opts, "depends", pkg], stdout=subprocess.PIPE, text=True,
                  timeout=120).stdout
        return [m.group(1) for m in re.finditer(r"^\s+Depends: (\S+)$", out, re.M)]

    def download(self, pkgs, dest):
        """Downloads each package (unless a .deb of it is there already)."""
        dest.mkdir(parents=True, exist_ok=True)
        missing = [p for p in pkgs if not list(dest.glob(f"{p}_*.deb"))]
        if not missing:
            return
        log(f"apt-get download {' '.join(missing)}")
        r = run(["apt-get", *self.opts, "download", *missing], cwd=dest, check=False, timeout=900)
        if r.returncode != 0 and not self.private:
            log("apt-get download failed; apt-get update, then again")
            run(["apt-get", "-q", "update"], stdout=subprocess.DEVNULL, timeout=600)
            run(["apt-get", *self.opts, "download", *missing], cwd=dest, timeout=900)
        elif r.returncode != 0:
            raise RuntimeError(f"apt-get download {' '.join(missing)} failed")


def extract(debs, root):
    """dpkg-deb -x every .deb into root (once: a stamp names what is in it)."""
    stamp = root / ".extracted"
    names = "\n".join(sorted(d.name for d in debs))
    if stamp.exists() and stamp.read_text() == names:
        return
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for d in debs:
        run(["dpkg-deb", "-x", str(d), str(root)])
    stamp.write_text(names)


# ------------------------------------------------------------------ modules

def modinfo(data):
    """The .modinfo section of an ELF64 little-endian module, as a dict of lists."""
    import struct
    if data[:4] != b"\x7fELF":
        raise ValueError("not ELF")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def sh(i):
        name, _type, _flags, _addr, off, size = struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
        return name, off, size

    _, stroff, _ = sh(shstrndx)
    for i in range(shnum):
        name, off, size = sh(i)
        end = data.index(b"\0", stroff + name)
        if data[stroff + name:end] == b".modinfo":
            info = {}
            for kv in data[off:off + size].split(b"\0"):
                if b"=" in kv:
                    k, v = kv.decode(errors="replace").split("=", 1)
                    info.setdefault(k, []).append(v)
            return info
    return {}


def read_module(path):
    data = path.read_bytes()
    if path.name.endswith(".xz"):
        return lzma.decompress(data)
    if path.name.endswith(".gz"):
        return gzip.decompress(data)
    if path.name.endswith(".zst"):
        return run(["zstd", "-dc", str(path)], stdout=subprocess.PIPE).stdout
    return data


def module_closure(moddir, wanted):
    """[(name, bytes)] in load order (dependencies first) for the wanted
    modules that exist (built-in ones are skipped)."""
    index = {}
    for p in moddir.rglob("*.ko*"):
        n = re.sub(r"\.ko(\.(xz|gz|zst))?$", "", p.name).replace("-", "_")
        index[n] = p
    order, seen, blobs = [], set(), {}

    def visit(n):
        if n in seen or n not in index:
            return
        seen.add(n)
        data = read_module(index[n])
        blobs[n] = data
        for dep in modinfo(data).get("depends", [""])[0].split(","):
            if dep:
                visit(dep.replace("-", "_"))
        order.append(n)

    for w in wanted:
        visit(w.replace("-", "_"))
    return [(n, blobs[n]) for n in order]


# ------------------------------------------------------------------ initramfs

class Cpio:
    """A newc cpio archive written in memory (no cpio(1) needed; device
    nodes without mknod)."""

    def __init__(self):
        self.out = bytearray()
        self.ino = 1000
        self.names = set()

    def _entry(self, name, mode, data=b"", rdev=(0, 0), nlink=1):
        self.ino += 1
        name_b = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08X}" for v in (
            self.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0))
        self.out += hdr.encode() + name_b
        self.out += b"\0" * ((4 - len(self.out) % 4) % 4)
        self.out += data
        self.out += b"\0" * ((4 - len(self.out) % 4) % 4)

    def dir(self, name):
        name = name.strip("/")
        parts = name.split("/")
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            if p and p not in self.names:
                self.names.add(p)
                self._entry(p, stat.S_IFDIR | 0o755, nlink=2)

    def file(self, name, data, mode=0o755):
        name = name.strip("/")
        if name in self.names:
            return
        self.dir(os.path.dirname(name))
        self.names.add(name)
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name, target):
        name = name.strip("/")
        if name in self.names:
            return
        self.dir(os.path.dirname(name))
        self.names.add(name)
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name, major, minor, mode=0o600):
        name = name.strip("/")
        self.dir(os.path.dirname(name))
        self.names.add(name)
        self._entry(name, stat.S_IFCHR | mode, rdev=(major, minor))

    def finish(self):
        self._entry("TRAILER!!!", 0)
        return bytes(self.out)


def shared_libs(binaries, extra_lib_dirs):
    """Every shared library the binaries need (ldd, with the extracted
    packages' library directories first), and the dynamic loader."""
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = ":".join(str(d) for d in extra_lib_dirs)
    libs, missing = set(), []
    for b in binaries:
        r = subprocess.run(["ldd", str(b)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, env=env)
        if "not a dynamic executable" in r.stdout or "statically linked" in r.stdout:
            continue
        for line in r.stdout.splitlines():
            m = re.match(r"\s*(\S+) => not found", line)
            if m:
                missing.append(f"{b}: {m.group(1)}")
                continue
            m = re.match(r"\s*(?:\S+ => )?(/\S+) \(0x", line)
            if m:
                libs.add(m.group(1))
    if missing:
        raise RuntimeError("libraries not found: " + ", ".join(missing))
    return sorted(libs)


LVM_CONF = """\
# The test VM's lvm.conf: no udev, no daemons, no locking, devices under /dev.
config { checks = 1 }
devices {
    dir = "/dev"
    scan = [ "/dev" ]
    obtain_device_list_from_udev = 0
    external_device_info_source = "none"
    multipath_component_detection = 0
    md_component_detection = 0
    fw_raid_component_detection = 0
    use_devicesfile = 0
}
activation {
    udev_sync = 0
    udev_rules = 0
    verify_udev_operations = 1
    monitoring = 0
    thin_pool_autoextend_threshold = 100
    snapshot_autoextend_threshold = 100
}
global {
    use_lvmpolld = 0
    event_activation = 0
    thin_check_executable = "/usr/sbin/thin_check"
    thin_dump_executable = "/usr/sbin/thin_dump"
    thin_repair_executable = "/usr/sbin/thin_repair"
    locking_dir = "/run/lock/lvm"
}
backup {
    backup = 0
    archive = 0
}
log {
    verbose = 0
    syslog = 0
}
"""


def quiesce_binaries(build):
    out = {
        "usr/sbin/quiesced": build / "src" / "daemon" / "quiesced",
        "usr/bin/quiesce": build / "src" / "cli" / "quiesce",
    }
    for dst, src in out.items():
        if not src.exists():
            raise RuntimeError(f"{src} is missing: build quiesce first (scripts/build)")
    return out


def make_initramfs(vmdir, label, kroot, tools, build):
    kver = sorted(p.name for p in (kroot / "lib" / "modules").iterdir())[-1]
    vmlinuz = kroot / "boot" / f"vmlinuz-{kver}"
    c = Cpio()
    for d in ("dev", "proc", "sys", "run", "tmp", "mnt", "etc", "root", "var/tmp", "usr/lib",
              "lib/x86_64-linux-gnu", "lib64"):
        c.dir(d)
    c.chardev("dev/console", 5, 1)
    c.chardev("dev/null", 1, 3, 0o666)
    c.chardev("dev/ttyS0", 4, 64)

    # tests
    c.file("init", (HERE / "init").read_bytes())
    for p in sorted(HERE.glob("*.sh")) + sorted((HERE / "scenarios").glob("*.sh")):
        rel = p.relative_to(HERE)
        c.file(f"qz/{rel}", p.read_bytes())

    # busybox, the packages' binaries and configuration
    c.file("bin/busybox", (tools / "bin" / "busybox").read_bytes())
    c.symlink("bin/sh", "busybox")
    binaries = []
    for sub in ("sbin", "usr/sbin"):
        for p in sorted((tools / sub).iterdir()):
            if p.is_symlink():
                c.symlink(f"{sub}/{p.name}", os.readlink(p))
            elif p.is_file():
                c.file(f"{sub}/{p.name}", p.read_bytes(), 0o755)
                binaries.append(p)
    c.file("etc/lvm/lvm.conf", LVM_CONF.encode(), 0o644)
    for src in HOST_BINARIES:
        p = Path(src)
        c.file(src.lstrip("/"), p.resolve().read_bytes(), 0o755)
        binaries.append(p.resolve())
    for conf in ("/etc/mke2fs.conf",):
        if Path(conf).exists():
            c.file(conf.lstrip("/"), Path(conf).read_bytes(), 0o644)
    for dst, src in quiesce_binaries(build).items():
        c.file(dst, src.read_bytes(), 0o755)
        binaries.append(src)
    c.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n", 0o644)
    c.file("etc/group", b"root:x:0:\nnogroup:x:65534:\n", 0o644)

    # libraries: libquiesce from the build, the rest by ldd, all in one directory
    libdir_build = build / "src" / "lib"
    lib_dirs = [tools / "lib" / "x86_64-linux-gnu", tools / "usr" / "lib" / "x86_64-linux-gnu", libdir_build]
    for lib in shared_libs(binaries, lib_dirs):
        p = Path(lib)
        if p.name.startswith("ld-linux"):
            c.file(f"lib64/{p.name}", p.resolve().read_bytes(), 0o755)
        else:
            c.file(f"lib/x86_64-linux-gnu/{p.name}", p.resolve().read_bytes(), 0o755)
    c.symlink("lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2")

    # kernel modules, flat, with their load order
    mods = module_closure(kroot / "lib" / "modules" / kver, MODULES)
    for name, data in mods:
        c.file(f"lib/modules/{name}.ko", data, 0o644)
    c.file("qz/modules.order", ("\n".join(n for n, _ in mods) + "\n").encode(), 0o644)
    c.file("qz/kernel-package", f"{kroot.name} {kver}\n".encode(), 0o644)

    out = vmdir / f"initramfs-{label}.cpio.gz"
    with gzip.open(out, "wb", compresslevel=1) as f:
        f.write(c.finish())
    return vmlinuz, kver, out, [n for n, _ in mods]


def prepare(label, vmdir, build):
    """Downloads and extracts what the VM needs; returns (vmlinuz, kver, initramfs)."""
    source, _ = KERNELS[label]
    host_apt = Apt(vmdir, "host", None)
    tools_debs = vmdir / "debs" / "tools"
    host_apt.download(VM_PACKAGES, tools_debs)
    tools = vmdir / "tools"
    extract(sorted(tools_debs.glob("*.deb")), tools)

    kapt = Apt(vmdir, label, source) if source else host_apt
    deps = [d for d in kapt.depends("linux-image-cloud-amd64") if d.startswith("linux-image-")]
    if not deps:
        raise RuntimeError(f"{label}: cannot find the package linux-image-cloud-amd64 depends on")
    kpkg = deps[0]
    kdebs = vmdir / "debs" / label
    for old in kdebs.glob("linux-image-*.deb") if kdebs.exists() else []:
        if not old.name.startswith(kpkg + "_"):
            old.unlink()  # an older kernel ABI
    kapt.download([kpkg], kdebs)
    kroot = vmdir / f"kernel-{label}"
    extract(sorted(kdebs.glob(f"{kpkg}_*.deb")), kroot)
    vmlinuz, kver, initramfs, mods = make_initramfs(vmdir, label, kroot, tools, build)
    log(f"{label}: kernel {kver}, initramfs {initramfs.stat().st_size // 1024} KiB, "
        f"modules {' '.join(mods)}")
    return vmlinuz, kver, initramfs


# ------------------------------------------------------------------ boot

def boot(label, vmlinuz, initramfs, vmdir, timeout, only=None, smp=1, mem=1024, echo=False):
    """Boots the VM, runs the scenarios, returns (results, infos, console
    text, seconds, how it ended). QEMU is killed whatever happens."""
    scratch = vmdir / f"scratch-{label}.img"
    if scratch.exists():
        scratch.unlink()
    with open(scratch, "wb") as f:
        f.truncate(4 << 30)  # sparse; the VM's LVM physical volume
    console = vmdir / f"console-{label}.log"
    append = "console=ttyS0 panic=-1 loglevel=4 rdinit=/init " + os.environ.get("QZ_VM_APPEND", "")
    if only:
        append += f" qz.only={only}"
    cmd = ["qemu-system-x86_64", "-machine", "pc,accel=tcg", "-cpu", os.environ.get("QZ_VM_CPU", "qemu64,-cx16"), "-smp", str(smp),
           "-m", str(mem), "-nodefaults", "-display", "none", "-monitor", "none", "-serial", "stdio",
           "-no-reboot", "-kernel", str(vmlinuz), "-initrd", str(initramfs), "-append", append,
           "-drive", f"file={scratch},if=virtio,format=raw,cache=unsafe,discard=unmap"]
    results, infos, lines = {}, {}, []
    t0 = time.monotonic()
    ended = "timeout"
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)

    def kill():
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()

    old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}

    def on_signal(sig, frame):
        kill()
        raise KeyboardInterrupt(f"signal {sig}")

    try:
        for s in old:
            signal.signal(s, on_signal)
        import selectors
        sel = selectors.DefaultSelector()
        sel.register(p.stdout, selectors.EVENT_READ)
        buf = b""
        deadline = t0 + timeout
        with open(console, "w") as con:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    ended = "timeout"
                    break
                if not sel.select(timeout=min(left, 5)):
                    continue
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    ended = "exited"
                    break
                buf += chunk
                while b"\n" in buf:
                    raw, buf = buf.split(b"\n", 1)
                    line = raw.decode(errors="replace").rstrip("\r")
                    lines.append(line)
                    con.write(line + "\n")
                    con.flush()
                    if echo:
                        print(f"[{label}] {line}", file=sys.stderr, flush=True)
                    m = RESULT_RE.search(line)
                    if m:
                        results[m.group(1)] = (m.group(2), (m.group(3) or "").strip())
                    m = INFO_RE.search(line)
                    if m:
                        infos.setdefault(m.group(1), []).append(m.group(2))
                    if "QZDONE" in line:
                        ended = "done"
            if ended == "done" or any("QZDONE" in l for l in lines):
                ended = "done"
    finally:
        # give a powering-off VM a moment, then make sure
        try:
            p.wait(timeout=10 if ended == "done" else 0.1)
        except subprocess.TimeoutExpired:
            pass
        kill()
        for s, h in old.items():
            signal.signal(s, h)
        try:
            scratch.unlink()
        except OSError:
            pass
    return results, infos, "\n".join(lines), time.monotonic() - t0, ended


def expected_tests():
    """{name: xfail reason or None} of tests/vm/expected, in order."""
    names = {}
    for line in (HERE / "expected").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 2)
        names[parts[0]] = parts[2] if len(parts) > 2 and parts[1] == "xfail" else None
    return names


def run_kernel(label, timeout=1200, only=None, echo=False):
    """Prepares and boots one kernel; returns a dict with results etc."""
    build = build_dir()
    vmdir = build / "vm"
    vmdir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    vmlinuz, kver, initramfs = prepare(label, vmdir, build)
    prep = time.monotonic() - t0
    results, infos, text, secs, ended = boot(label, vmlinuz, initramfs, vmdir, timeout, only=only, echo=echo)
    return {"label": label, "kver": kver, "results": results, "infos": infos, "console": text,
            "boot_seconds": secs, "prepare_seconds": prep, "ended": ended,
            "console_log": str(vmdir / f"console-{label}.log")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", default="all", choices=[*KERNELS, "all"])
    ap.add_argument("--only", help="run only the scenarios whose name matches this (busybox grep -E) pattern")
    ap.add_argument("--timeout", type=int, default=1200, help="seconds for one VM run")
    ap.add_argument("--quiet", action="store_true", help="do not echo the console")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("vm: run as root (apt-get download, dpkg-deb)", file=sys.stderr)
        return 2
    labels = list(KERNELS) if a.kernel == "all" else [a.kernel]
    expected = expected_tests()
    npass = nfail = 0
    for label in labels:
        r = run_kernel(label, a.timeout, a.only, echo=not a.quiet)
        for name, xfail in expected.items():
            if a.only and not re.search(a.only, name):
                continue
            st, detail = r["results"].get(name, ("FAIL", f"no result (the VM run ended: {r['ended']})"))
            if xfail:
                st = {"FAIL": "XFAIL", "PASS": "XPASS"}[st]
            print(f"{label:9} {name:28} {st} {detail}")
            npass += st in ("PASS", "XFAIL")
            nfail += st in ("FAIL", "XPASS")
        for name in sorted(set(r["results"]) - set(expected)):
            print(f"{label:9} {name:40} FAIL not in tests/vm/expected: {r['results'][name]}")
            nfail += 1
        print(f"{label}: kernel {r['kver']}, prepared in {r['prepare_seconds']:.0f} s, "
              f"VM ran {r['boot_seconds']:.0f} s ({r['ended']}); console: {r['console_log']}")
    print(f"{npass} passed, {nfail} failed")
    return 0 if nfail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
