# SPDX-License-Identifier: GPL-2.0-or-later
"""The Debian packages (issue 14, docs/packaging.md): built once for this
module by scripts/package (dpkg-buildpackage -us -uc -b), checked by
lintian, installed with apt-get on this machine, used (quiesced started from
the installed unit's ExecStart line, quiesce-demo --use-running against it,
a program built through pkg-config against libquiesce-dev), upgraded with a
changed conffile, removed and purged; and what purging leaves is checked.

systemd is not PID 1 on the test machines: the maintainer scripts must then
enable the units (symlinks) and start nothing. Where systemd does run, the
install starts the socket (checked through systemctl), and the test still
runs its own quiesced on a private socket.

QUIESCE_PACKAGE_DIR=DIR uses the .deb files already in DIR instead of
building them (for a quick rerun). The test refuses to run where a quiesce
package is installed already: it installs and purges its own."""

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

import qzharness
from qzharness import REPO

PACKAGES = ["quiesce", "libquiesce0", "libquiesce-dev"]
UNIT = Path("/lib/systemd/system/quiesced.service")
CONF = Path("/etc/quiesce/quiesced.conf")
DEMO = Path("/usr/libexec/quiesce/quiesce-demo")
APT_ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
APT = ["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=120"]
SYSTEMD_RUNNING = os.path.isdir("/run/systemd/system")


def sh(cmd, timeout=120, check=True, env=None, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL, env=env, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {p.returncode}:\n{p.stdout[-4000:]}")
    return p


def installed(pkg):
    """dpkg's state of pkg: 'ii' installed, 'rc' config files left, None unknown/purged."""
    p = sh(["dpkg-query", "-W", "-f", "${db:Status-Abbrev}", pkg], check=False)
    state = p.stdout.strip()[:2] if p.returncode == 0 else ""
    return state if state and state != "un" else None


def upstream_of(version):
    v = version.split(":", 1)[-1]
    return v.rsplit("-", 1)[0] if "-" in v else v


class Debs:
    def __init__(self, out):
        self.dir = Path(out).resolve()  # apt-get takes a file only as an absolute or ./ path
        self.changes = next(self.dir.glob("*.changes"), None)
        self.deb = {}
        for pkg in PACKAGES:
            found = sorted(self.dir.glob(f"{pkg}_*.deb"))
            assert found, f"no {pkg}_*.deb in {self.dir}"
            self.deb[pkg] = found[-1]
        self.version = sh(["dpkg-deb", "-f", str(self.deb["quiesce"]), "Version"]).stdout.strip()


@pytest.fixture(scope="module")
def debs():
    """The packages, built once per test run (about 30 s; build.log beside them)."""
    given = os.environ.get("QUIESCE_PACKAGE_DIR")
    if given:
        return Debs(given)
    if not shutil.which("dpkg-buildpackage") or not shutil.which("dh"):
        pytest.fail("dpkg-buildpackage or debhelper missing (scripts/install-deps installs them)")
    out = qzharness.build_dir() / "packages"
    p = subprocess.run([str(REPO / "scripts" / "package"), "--out", str(out), "--no-lintian"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900,
                       stdin=subprocess.DEVNULL, env=dict(os.environ, QUIESCE_NO_DEPS="1"))
    assert p.returncode == 0, f"scripts/package failed:\n{p.stdout[-6000:]}"
    debs = Debs(out)
    debs.stdout = p.stdout
    return debs


def install_line(stdout):
    [line] = [x for x in stdout.splitlines() if x.startswith("package: install with: ")]
    return line


def test_install_line_names_out_dir(debs, tmp_path):
    """The closing install line names --out's directory as it is: from the clone
    when it is inside it (./build/packages), else the absolute path (not .//tmp/...)."""
    if getattr(debs, "stdout", None) is None:
        pytest.skip("QUIESCE_PACKAGE_DIR: the packages were not built here")
    out = qzharness.build_dir() / "packages"
    try:
        shown = "./" + str(out.relative_to(REPO))
    except ValueError:
        shown = str(out)
    assert install_line(debs.stdout) == (f"package: install with: apt install {shown}/quiesce_{debs.version}_*.deb "
                                         f"{shown}/libquiesce0_{debs.version}_*.deb"), debs.stdout
    # an absolute --out outside the clone (a second build, without lintian)
    other = tmp_path / "debs"
    p = subprocess.run([str(REPO / "scripts" / "package"), "--out", str(other), "--no-lintian"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900,
                       stdin=subprocess.DEVNULL, env=dict(os.environ, QUIESCE_NO_DEPS="1"))
    assert p.returncode == 0, f"scripts/package failed:\n{p.stdout[-6000:]}"
    line = install_line(p.stdout)
    assert ".//" not in line and f"apt install {other}/quiesce_{debs.version}_" in line, line
    assert list(other.glob("quiesce_*.deb")), p.stdout


@pytest.fixture
def system(h):
    """The machine as it was: no quiesce package before; afterwards, none left
    (purged whatever happened), no quiesced of the package running."""
    for pkg in PACKAGES:
        if installed(pkg):
            pytest.fail(f"{pkg} is installed on this machine already ({installed(pkg)}); "
                        "this test installs and purges its own: purge it first")
    yield
    try:
        for pid in installed_daemons():
            os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not installed_daemons(), 10)
    finally:
        present = [p for p in PACKAGES if installed(p)]
        if present:
            sh(APT + ["purge"] + present, env=APT_ENV, check=False, timeout=300)


def wait_until(pred, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def installed_daemons():
    """Processes running /usr/sbin/quiesced (the package's binary), guards included."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                exe = os.readlink(d / "exe")
            except OSError:
                continue
            if exe in ("/usr/sbin/quiesced", "/usr/sbin/quiesced (deleted)"):
                pids.append(int(d.name))
    return pids


def enabled_links():
    """What says quiesced's units are enabled: the symlinks and deb-systemd-helper's state."""
    found = []
    for base in ("/etc/systemd/system", "/var/lib/systemd/deb-systemd-helper-enabled",
                 "/var/lib/systemd/deb-systemd-helper-masked"):
        if os.path.isdir(base):
            for root, dirs, files in os.walk(base):
                found += [os.path.join(root, f) for f in files + dirs if f.startswith("quiesced")]
    return sorted(found)


def unit_command(unit_path, socket_path):
    """The argv the unit's ExecStart= runs, as systemd would make it:
    EnvironmentFile= read (a leading '-': optional), $VAR split into words,
    ${VAR} as one word; then --socket for a private socket (the unit's own,
    /run/quiesce/quiesced.sock, is left to a quiesced that systemd starts)."""
    env = {}
    exec_start = None
    for line in Path(unit_path).read_text().splitlines():
        line = line.strip()
        if line.startswith("EnvironmentFile="):
            f = line.split("=", 1)[1]
            optional = f.startswith("-")
            f = f.lstrip("-")
            if not os.path.exists(f):
                assert optional, f"EnvironmentFile {f} missing"
                continue
            for el in Path(f).read_text().splitlines():
                el = el.strip()
                if el and not el.startswith("#"):
                    k, v = el.split("=", 1)
                    env[k.strip()] = " ".join(shlex.split(v))
        elif line.startswith("ExecStart="):
            exec_start = line.split("=", 1)[1]
    assert exec_start, f"no ExecStart= in {unit_path}"
    argv = []
    for word in shlex.split(exec_start.lstrip("-@:+!")):
        m = re.fullmatch(r"\$\{(\w+)\}|\$(\w+)", word)
        if m and m.group(1):
            argv.append(env.get(m.group(1), ""))
        elif m:
            argv += env.get(m.group(2), "").split()
        else:
            argv.append(word)
    return argv + ["--socket", str(socket_path)]


class InstalledDaemon:
    def __init__(self, h, argv, sock):
        self.sock = Path(sock)
        self.log_path = h.tmp / "installed-quiesced.log"
        self.log = open(self.log_path, "wb")
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID")}
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, env=env)

        def ready():
            assert self.proc.poll() is None, f"quiesced exited {self.proc.returncode}: {self.log_text()}"
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                try:
                    s.connect(str(self.sock))
                    return True
                except OSError:
                    return False

        assert wait_until(ready, 10), f"quiesced not ready: {self.log_text()}"

    def log_text(self):
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self):
        rc = qzharness.terminate(self.proc)
        self.log.close()
        return rc


def paths_of(pkg):
    return [l for l in sh(["dpkg", "-L", pkg]).stdout.splitlines() if l.startswith("/") and l != "/."]


def apt_install(*debs):
    return sh(APT + ["install"] + [str(d) for d in debs], env=APT_ENV, timeout=300)


# ---------------------------------------------------------------- without installing


def test_version_one_place(h):
    """meson.build's project version is the one version: debian/changelog's
    upstream version must agree, and debian/check-version (run by
    debian/rules before configuring) fails when it does not."""
    check = REPO / "debian" / "check-version"
    p = sh([str(check), str(REPO)])
    assert qzharness.project_version() in p.stdout
    deb_version = sh(["dpkg-parsechangelog", "-l", str(REPO / "debian" / "changelog"), "-S", "Version"]).stdout
    assert upstream_of(deb_version.strip()) == qzharness.project_version()
    # a copy whose changelog moved on without meson.build
    tree = h.tmp / "tree"
    (tree / "debian").mkdir(parents=True)
    shutil.copy(REPO / "meson.build", tree / "meson.build")
    shutil.copy(REPO / "meson_options.txt", tree / "meson_options.txt")
    changelog = (REPO / "debian" / "changelog").read_text()
    (tree / "debian" / "changelog").write_text(
        f"quiesce (99.0.0-1) unstable; urgency=medium\n\n  * Moved on alone.\n\n"
        f" -- quiesce maintainers <m@example.org>  Wed, 02 Dec 2026 00:00:00 +0000\n\n" + changelog)
    p = sh([str(check), str(tree)], check=False)
    assert p.returncode != 0, p.stdout
    assert qzharness.project_version() in p.stdout and "99.0.0-1" in p.stdout, p.stdout


def test_symbols_file_matches_version_script():
    """debian/libquiesce0.symbols lists exactly libquiesce.sym's global
    symbols, under the soname src/lib/meson.build gives, and the built library
    exports exactly those (dpkg-gensymbols at check level 4 fails the package
    build on any difference too)."""
    sym = (REPO / "src" / "lib" / "libquiesce.sym").read_text()
    body = re.search(r"global:(.*?)local:", sym, re.S).group(1)
    script = set(re.findall(r"\b(qz_\w+)\s*;", body))
    node = re.search(r"^(\w+)\s*\{", sym, re.M).group(1)
    soversion = re.search(r"soversion\s*:\s*'(\d+)'", (REPO / "src" / "lib" / "meson.build").read_text()).group(1)
    lines = (REPO / "debian" / "libquiesce0.symbols").read_text().splitlines()
    assert lines[0].split()[:2] == [f"libquiesce.so.{soversion}", f"libquiesce{soversion}"], lines[0]
    listed = set()
    for l in lines[1:]:
        if l.startswith(" "):
            name, ver = l.split()[0].split("@")
            assert ver == node, l
            if name != node:
                listed.add(name)
    assert listed == script, f"only in libquiesce.sym: {script - listed}; only in the symbols file: {listed - script}"
    so = qzharness.lib_dir() / f"libquiesce.so.{soversion}"
    out = sh(["objdump", "-T", str(so)]).stdout
    exported = {l.split()[-1] for l in out.splitlines() if " qz_" in l and "*UND*" not in l}
    assert exported == script, f"exported but not in the script: {exported - script}; missing: {script - exported}"


# ---------------------------------------------------------------- the built packages


@pytest.mark.timeout(120)
def test_lintian_clean(debs):
    """lintian: no error and no warning; each override carries its reason
    (a comment line above it)."""
    assert debs.changes, f"no .changes in {debs.dir}"
    p = sh(["lintian", "-I", "-E", "--pedantic", "--fail-on", "error,warning", str(debs.changes)],
           check=False, timeout=110)
    tags = [l for l in p.stdout.splitlines() if re.match(r"[EW]: ", l)]
    assert p.returncode == 0 and not tags, p.stdout[-4000:]
    for f in (REPO / "debian").glob("*.lintian-overrides"):
        prev = ""
        for line in f.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                assert prev.startswith("# ") and len(prev) > 10, f"{f.name}: override {line!r} has no reason"
            prev = line


def test_package_contents(debs):
    """What goes where: the daemon, command, units, man pages, /etc/quiesce
    (one conffile, hooks.d, jobs.d, writers.d) and the demo in quiesce; the
    library in libquiesce0; header, .so link, pkg-config and section 3 (a page
    for every qz_writer_* function) in -dev. The
    maintainer scripts go through deb-systemd-helper and deb-systemd-invoke,
    and call systemctl only where systemd runs."""
    def contents(pkg):
        out = sh(["dpkg-deb", "-c", str(debs.deb[pkg])]).stdout
        return {l.split()[5].lstrip(".").rstrip("/") for l in out.splitlines()}

    q, lib, dev = contents("quiesce"), contents("libquiesce0"), contents("libquiesce-dev")
    for f in ("/usr/sbin/quiesced", "/usr/bin/quiesce", str(DEMO), str(UNIT), "/lib/systemd/system/quiesced.socket",
              "/usr/share/man/man8/quiesce.8.gz", "/usr/share/man/man8/quiesced.8.gz", str(CONF),
              "/etc/quiesce/hooks.d", "/etc/quiesce/jobs.d", "/usr/share/doc/quiesce/copyright",
              "/lib/systemd/system/quiesce-job@.service", "/lib/systemd/system/quiesce-job@.timer",
              "/lib/systemd/system-generators/quiesce-job-generator", "/usr/share/man/man5/quiesce-job.5.gz",
              "/lib/systemd/system/quiesce-writer@.service", "/etc/quiesce/writers.d"):
        assert f in q, f"{f} not in quiesce"
    assert any(re.fullmatch(r"/usr/lib/[^/]+/libquiesce\.so\.0(\.\d+)*", f) for f in lib), lib
    assert not any("/man" in f or f.endswith(".so") or "/include" in f for f in lib), lib
    for pat in (r"/usr/include/quiesce\.h", r"/usr/include/quiesce-version\.h", r"/usr/lib/[^/]+/libquiesce\.so",
                r"/usr/lib/[^/]+/pkgconfig/libquiesce\.pc", r"/usr/share/man/man3/libquiesce\.3\.gz",
                r"/usr/share/man/man3/qz_freeze\.3\.gz", r"/usr/share/man/man3/qz_writer_open\.3\.gz"):
        assert any(re.fullmatch(pat, f) for f in dev), f"{pat} not in libquiesce-dev"
    # every qz_writer_* function of the library has its page (qz_writer_open(3) or a .so alias of it)
    body = (REPO / "src" / "lib" / "libquiesce.sym").read_text()
    for fn in sorted(set(re.findall(r"\b(qz_writer_\w+)\s*;", body))):
        assert f"/usr/share/man/man3/{fn}.3.gz" in dev, f"{fn}(3) not in libquiesce-dev"
    assert not any("/man3/" in f for f in q)
    ctl = qzharness.TMP_BASE / f"qz-it-pkgctl-{os.getpid()}"
    shutil.rmtree(ctl, ignore_errors=True)
    try:
        sh(["dpkg-deb", "-e", str(debs.deb["quiesce"]), str(ctl)])
        assert (ctl / "conffiles").read_text().split() == [str(CONF)]
        postinst, prerm, postrm = ((ctl / s).read_text() for s in ("postinst", "prerm", "postrm"))
        assert "deb-systemd-helper enable 'quiesced.socket'" in postinst
        assert "deb-systemd-helper enable 'quiesced.service'" in postinst
        assert "deb-systemd-invoke start" in postinst and "restart" not in postinst.replace("try-restart", "")
        assert "deb-systemd-invoke stop" in prerm and '"$1" = remove' in prerm  # stopped on removal only
        assert "deb-systemd-helper purge" in postrm
        # the job units are templates: no instance is enabled or started by the package
        assert "quiesce-job@" not in postinst and "quiesce-job@" not in prerm
        for script in (postinst, prerm, postrm):
            for line in script.splitlines():
                if "systemctl" in line or "deb-systemd-invoke" in line:
                    assert "|| true" in line, line
            # every systemctl/deb-systemd-invoke call sits under a [ -d /run/systemd/system ] test
            assert script.count("systemctl") + script.count("deb-systemd-invoke") == 0 or "/run/systemd/system" in script
    finally:
        shutil.rmtree(ctl, ignore_errors=True)
    info = sh(["dpkg-deb", "-f", str(debs.deb["libquiesce-dev"]), "Depends"]).stdout
    assert f"libquiesce0 (= {debs.version})" in info


@pytest.mark.timeout(420)
def test_install_use_remove_purge(h, debs, system):
    """apt-get install ./…deb; quiesced from the installed unit's ExecStart
    line; quiesce-demo --use-running against it; a program built with
    pkg-config against libquiesce-dev; remove (conffiles stay); purge
    (nothing left that policy does not allow)."""
    links_before = enabled_links()
    assert not [l for l in links_before if "quiesced" in l], f"units already enabled: {links_before}"
    assert not installed_daemons(), "a quiesced from /usr/sbin runs already"
    # every path the packages ship, and whether it was there before (a shared directory)
    shipped = set()
    for deb in debs.deb.values():
        for l in sh(["dpkg-deb", "-c", str(deb)]).stdout.splitlines():
            f = l.split()[5].lstrip(".").rstrip("/")
            if f:
                shipped.add(f)
    existed_before = {f for f in shipped if os.path.lexists(f)}

    t0 = time.monotonic()
    p = apt_install(*debs.deb.values())
    for pkg in PACKAGES:
        assert installed(pkg) == "ii", f"{pkg}: {installed(pkg)}\n{p.stdout[-3000:]}"
    lists = {pkg: paths_of(pkg) for pkg in PACKAGES}
    assert set().union(*lists.values()) == shipped, set().union(*lists.values()) ^ shipped
    took_install = time.monotonic() - t0

    # enabled the Debian way; nothing started where systemd is not PID 1
    links = enabled_links()
    for want in ("/etc/systemd/system/sockets.target.wants/quiesced.socket",
                 "/etc/systemd/system/multi-user.target.wants/quiesced.service"):
        assert want in links, links
    if SYSTEMD_RUNNING:
        assert sh(["systemctl", "is-active", "quiesced.socket"], check=False).stdout.strip() == "active"
    else:
        assert not installed_daemons(), "the installation started quiesced"

    # the version from one place
    upstream = upstream_of(debs.version)
    assert upstream == qzharness.project_version()
    v = sh(["/usr/bin/quiesce", "--version"]).stdout
    assert v.strip() == f"quiesce from quiesce {upstream}", v
    assert upstream in sh(["/usr/sbin/quiesced", "--version"]).stdout

    # /etc/quiesce: root's, not writable by others (hooks.d is refused otherwise)
    for d in ("/etc/quiesce", "/etc/quiesce/hooks.d", "/etc/quiesce/jobs.d"):
        st = os.stat(d)
        assert st.st_uid == 0 and st.st_mode & 0o022 == 0 and os.path.isdir(d), d
    assert CONF.exists()

    # quiesced as the unit starts it, on a private socket
    argv = unit_command(UNIT, h.tmp / "installed.sock")
    assert argv[0] == "/usr/sbin/quiesced" and "--max-frozen" in argv, argv
    d = InstalledDaemon(h, argv, h.tmp / "installed.sock")
    try:
        st = sh(["/usr/bin/quiesce", "--socket", str(d.sock), "status"]).stdout
        assert f"quiesced {upstream}" in st and "max-frozen 1m" in st, st

        # the demo, installed, against the installed daemon (it makes and freezes its own loops)
        t1 = time.monotonic()
        p = subprocess.run([str(DEMO), "--use-running", "--socket", str(d.sock)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=150, stdin=subprocess.DEVNULL)
        took_demo = time.monotonic() - t1
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:] + d.log_text()
        out = p.stdout
        assert f"using the running quiesced at {d.sock}" in out
        for want in ("application-consistent", "e2fsck -fn of the snapshot image: clean", "(all of them)",
                     "freeze proof    verified", "$ /usr/bin/quiesce --socket", "job demo: succeeded in",
                     "QUIESCE OK - job demo: ", "nothing left behind"):
            assert want in out, f"{want!r} not in the demo's output:\n{out[-3000:]}"
        tmp = re.search(r"(/tmp/quiesce-demo\.\w+)", out).group(1)
        assert not os.path.exists(tmp)
        assert not any(tmp in l for l in qzharness.leftovers()[1])
        st = sh(["/usr/bin/quiesce", "--socket", str(d.sock), "status", "--json"]).stdout
        fifreeze = int(re.search(r'"fifreeze"\s*:\s*(\d+)', st).group(1))
        assert fifreeze > 0, st  # the demo's freezes went through this daemon
        assert "no filesystem is frozen" in sh(["/usr/bin/quiesce", "--socket", str(d.sock), "status"]).stdout

        # a program against the installed libquiesce-dev, through pkg-config only
        env = {k: v for k, v in os.environ.items() if not k.startswith("PKG_CONFIG")}
        cflags = sh(["pkg-config", "--cflags", "libquiesce"], env=env).stdout.split()
        libs = sh(["pkg-config", "--libs", "libquiesce"], env=env).stdout.split()
        assert sh(["pkg-config", "--modversion", "libquiesce"], env=env).stdout.strip() == upstream
        exe = h.tmp / "client"
        sh([os.environ.get("CC", "cc"), "-Wall", "-Wextra", "-Werror"] + cflags +
           ["-o", str(exe), str(Path(__file__).parent / "pkg" / "client.c")] + libs, env=env)
        ldd = sh(["ldd", str(exe)]).stdout
        assert re.search(r"libquiesce\.so\.0 => /(usr/)?lib/[^/]+/libquiesce\.so\.0 ", ldd), ldd
        out = sh([str(exe), str(d.sock)]).stdout
        # (the filesystems the demo froze and thawed are still listed, thawed)
        assert re.fullmatch(rf"library {re.escape(upstream)} header {re.escape(upstream)} "
                            rf"daemon {re.escape(upstream)} max-frozen 1m filesystems \d+", out.strip()), out
    finally:
        rc = d.stop()
    assert rc == 0, d.log_text()
    assert wait_until(lambda: not installed_daemons(), 5), "the guard outlived quiesced"

    # remove: the programs go, the conffile and the enabled state (configuration) stay
    sh(APT + ["remove"] + PACKAGES, env=APT_ENV, timeout=300)
    assert installed("quiesce") == "rc", installed("quiesce")
    assert installed("libquiesce0") is None and installed("libquiesce-dev") is None
    assert CONF.exists()
    for pkg in PACKAGES:
        for f in lists[pkg]:
            if not f.startswith("/etc/") and not os.path.isdir(f):
                assert not os.path.lexists(f), f"{f} ({pkg}) left after remove"

    # purge: nothing of it left, but the directories others share
    sh(APT + ["purge", "quiesce"], env=APT_ENV, timeout=300)
    assert installed("quiesce") is None
    assert not os.path.exists("/etc/quiesce"), os.listdir("/etc/quiesce")
    assert enabled_links() == links_before, enabled_links()
    left = sorted(f for f in shipped - existed_before if os.path.lexists(f))
    assert not left, f"left after purge: {left}"
    for f in existed_before:  # shared directories (/usr/bin, /etc ...) stay, and only those
        assert os.path.isdir(f), f  # (/lib is a link to usr/lib on a merged-/usr system)
        assert "quiesce" not in f, f
    print(f"install {took_install:.1f}s, demo {took_demo:.1f}s")


@pytest.mark.timeout(300)
def test_upgrade_keeps_changed_conffile(h, debs, system):
    """An administrator's change to /etc/quiesce/quiesced.conf survives
    upgrades: to a version whose conffile is the same (kept silently), and to
    one whose packaged conffile changed too (noninteractive with
    --force-confold: the administrator's stays, the new one is put beside it
    as .dpkg-dist). The later versions are this build repacked with a higher
    version (dpkg-deb -R / -b): dpkg's conffile handling and the maintainer
    scripts' upgrade path are what run. An upgrade starts nothing where
    systemd is not PID 1 and keeps the units enabled."""
    apt_install(*debs.deb.values())
    orig = CONF.read_text()
    mine = orig.replace('QUIESCED_OPTIONS="--max-frozen 60s"', 'QUIESCED_OPTIONS="--max-frozen 30s"')
    assert mine != orig
    CONF.write_text(mine)

    def repack(suffix, conf_change=None):
        root = h.tmp / f"repack{suffix}"
        sh(["dpkg-deb", "-R", str(debs.deb["quiesce"]), str(root)])
        ctl = root / "DEBIAN" / "control"
        version = f"{debs.version}+upgradetest{suffix}"
        ctl.write_text(re.sub(r"^Version: .*$", f"Version: {version}", ctl.read_text(), flags=re.M))
        if conf_change:  # (DEBIAN/md5sums leaves conffiles out: dpkg keeps their sums apart)
            f = root / str(CONF).lstrip("/")
            f.write_text(f.read_text() + conf_change)
        deb = h.tmp / f"quiesce_{version}_repacked.deb"
        sh(["dpkg-deb", "--root-owner-group", "-b", str(root), str(deb)])
        return deb, version

    links = enabled_links()
    deb2, v2 = repack("1")
    apt_install(deb2)
    assert sh(["dpkg-query", "-W", "-f", "${Version}", "quiesce"]).stdout == v2
    assert CONF.read_text() == mine, "the upgrade overwrote the changed conffile"
    assert not list(Path("/etc/quiesce").glob("quiesced.conf.dpkg-*"))

    deb3, v3 = repack("2", conf_change="# a line the new version added\n")
    sh(APT + ["-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold", "install",
              str(deb3)], env=APT_ENV, timeout=300)
    assert sh(["dpkg-query", "-W", "-f", "${Version}", "quiesce"]).stdout == v3
    assert CONF.read_text() == mine, "the upgrade overwrote the changed conffile"
    dist = Path(str(CONF) + ".dpkg-dist")
    assert dist.exists() and dist.read_text().endswith("# a line the new version added\n")
    assert enabled_links() == links
    if not SYSTEMD_RUNNING:
        assert not installed_daemons(), "the upgrade started quiesced"

    sh(APT + ["purge"] + PACKAGES, env=APT_ENV, timeout=300)
    assert not os.path.exists("/etc/quiesce"), "purge left /etc/quiesce (the .dpkg-dist too must go)"
    assert not [l for l in enabled_links() if "quiesced" in l]
