# SPDX-License-Identifier: GPL-2.0-or-later
"""Fixtures for the integration tests (run as root, real kernel, loop devices).

  h        a Harness: temp dir, loop filesystems, daemons, writers; cleaned up
           (thaw, kill, unmount, detach, remove) after the test, even on failure
  qd       a quiesced started by h on a socket in h's temp dir (--max-frozen 15s)
  fs       a loop filesystem, parametrized over ext4, xfs and btrfs
  ext4     a loop ext4 filesystem
  writers  make(qd, paths, name, ...): raw application writers, closed after the test

A test's body runs under a SIGALRM deadline (default 90 s; @pytest.mark.timeout(N)),
so a hang turns into a failure and the cleanup still runs.
"""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import qzharness  # noqa: E402
from qzharness import Harness  # noqa: E402

DEFAULT_TIMEOUT = 90
FSTYPES = ["ext4", "xfs", "btrfs"]


class TestTimeout(Exception):
    pass


def pytest_configure(config):
    config.addinivalue_line("markers", "timeout(seconds): the test body's deadline")


def pytest_sessionstart(session):
    if os.geteuid() != 0:
        pytest.exit("the integration tests need root (loop devices, mount, FIFREEZE)", 2)
    for line in qzharness.cleanup_stale():
        print(f"\nqz-it: stale leftover: {line}")


def pytest_sessionfinish(session, exitstatus):
    mounts, loops = qzharness.leftovers()
    mounts = [m for m in mounts if _ours_from_this_run(m)]
    loops = [l for l in loops if _ours_from_this_run(l)]
    if mounts or loops:
        print(f"\nqz-it: LEFTOVERS after the run: mounts {mounts} loops {loops}")
        session.exitstatus = 1


def _ours_from_this_run(s):
    m = re.search(r"(/[^ ()]*qz-it-[^/ ()]*)", s)
    if not m:
        return False
    try:
        return int((Path(m.group(1)) / "owner.pid").read_text().split()[0]) == os.getpid()
    except (OSError, ValueError, IndexError):
        return False


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    marker = item.get_closest_marker("timeout")
    secs = int(marker.args[0]) if marker else DEFAULT_TIMEOUT

    def on_alarm(signum, frame):
        raise TestTimeout(f"test body exceeded its {secs}s deadline")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(secs)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# ---------------------------------------------------------------- helpers


@pytest.fixture(scope="session")
def helpers(tmp_path_factory):
    """C helpers linked against libquiesce, compiled once per session, and a
    copy of the quiesce command with the library, all in a world-readable
    directory: the uid-65534 tests must be able to run them even when the
    checkout lies under a private directory (e.g. /root)."""
    import shutil
    libdir = qzharness.lib_dir()
    out = Path(qzharness.TMP_BASE) / f"{qzharness.TMP_PREFIX}helpers-{os.getpid()}"
    out.mkdir(mode=0o755, exist_ok=True)
    os.chmod(out, 0o755)
    (out / "owner.pid").write_text(f"{os.getpid()}\n")
    (out / "bin").mkdir(mode=0o755, exist_ok=True)
    (out / "lib").mkdir(mode=0o755, exist_ok=True)
    for so in libdir.glob("libquiesce.so*"):
        if so.is_file():
            shutil.copy(so, out / "lib" / so.name)  # follows the symlinks
    cli_copy = None
    if qzharness.cli_bin().exists():
        cli_copy = out / "bin" / "quiesce"
        shutil.copy(qzharness.cli_bin(), cli_copy)
    built = {}
    errors = {}
    for src in sorted((Path(__file__).parent / "helpers").glob("*.c")):
        exe = out / "bin" / src.stem
        cmd = [os.environ.get("CC", "cc"), "-std=gnu11", "-O1", "-g", "-Wall", "-Wextra", "-Werror",
               "-D_GNU_SOURCE", "-o", str(exe), str(src), f"-I{qzharness.REPO / 'include'}",
               f"-I{qzharness.build_dir() / 'include'}",  # quiesce-version.h, made by meson
               f"-L{libdir}", "-Wl,-rpath,$ORIGIN/../lib", "-lquiesce"]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=120)
        if p.returncode == 0:
            built[src.stem] = exe
        else:
            errors[src.stem] = p.stdout
    hs = HelperSet(built, errors)
    hs.cli = cli_copy
    yield hs
    shutil.rmtree(out, ignore_errors=True)


class HelperSet(dict):
    def __init__(self, built, errors):
        super().__init__(built)
        self.errors = errors

    def get(self, name, default=None):
        if name in self.errors:
            raise AssertionError(f"helper {name} did not compile:\n{self.errors[name]}")
        return super().get(name, default)


@pytest.fixture
def h(request, helpers):
    harness = Harness(name=re.sub(r"[^A-Za-z0-9_]+", "_", request.node.name), helpers=helpers)
    yield harness
    problems = harness.cleanup()
    if problems:
        pytest.fail("cleanup problems: " + "; ".join(problems))


@pytest.fixture
def qd(h):
    return h.start_daemon()


@pytest.fixture(params=FSTYPES)
def fstype(request):
    return request.param


@pytest.fixture
def fs(h, fstype):
    return h.make_fs(fstype)


@pytest.fixture
def ext4(h):
    return h.make_fs("ext4")


@pytest.fixture
def writers():
    """make(qd, paths, name, **kw): a RawWriter (rawwriter.py) registered
    with qd; every one made is closed after the test."""
    from rawwriter import RawWriter
    made = []

    def make(qd, paths, name, **kw):
        w = RawWriter(qd, paths, name, **kw)
        made.append(w)
        return w
    yield make
    for w in made:
        w.close()
