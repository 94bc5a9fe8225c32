# SPDX-License-Identifier: GPL-2.0-or-later
"""bench/run writers: what application writers (issue 12) cost a freeze and
quiesced (bench/README.md, "writers").

Two parts on one idle ext4 loop filesystem, each with its own quiesced:

- stall: per rep, for each writer count (0, 8, 100 by default, the order
  rotated rep by rep), bench/wswarm registers that many writers (each its own
  connection; every event answered ok at once), then one Freeze is sent over
  the protocol (a non-detached hold), the hold kept --writers-hold-ms, and
  Thawed. Timed: the Freeze request (sent to reply, ns), the longest write of
  an application (bench/writer, buffered, a steady rate, not registered)
  overlapping Freeze sent .. Thaw answered, and, for the registered writers,
  from their freeze answer to the thaw event (how long a writer that takes its
  lock at freeze keeps it).
- rss: quiesced's VmRSS (and smaps_rollup) with 0 and with N idle registered
  writers, alternated, after one freeze so the idle daemon has run that path.
"""

import json
import os
import select
import socket
import subprocess
import time

import benchlib as bl


def log(*a):
    import sys
    print(*a, file=sys.stderr, flush=True)


def pct(xs, p):
    """Nearest-rank percentile of xs (p in 0..100)."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


class Swarm:
    """bench/wswarm: n writers registered on paths until stop()."""

    def __init__(self, b, exe, sock, n, paths, timeout=60):
        self.p = subprocess.Popen([str(exe), "--socket", str(sock), "--count", str(n)] + [str(x) for x in paths],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        b.procs.append(self.p)
        self.n = n
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        line = self.p.stdout.readline().decode().split() if r else []
        if line[:2] != ["READY", str(n)]:
            self.p.kill()
            out, err = self.p.communicate(timeout=10)
            raise RuntimeError(f"wswarm: {n} writers not registered: {err.decode().strip()[-500:]}")

    def stop(self):
        """Unregisters them; their events [(writer, phase, freeze id, got ns, answered ns)]."""
        out, err = self.p.communicate(input=b"", timeout=60)
        if self.p.returncode != 0:
            raise RuntimeError(f"wswarm failed ({self.p.returncode}): {err.decode().strip()[-500:]}")
        return json.loads(out)["events"]


class Client:
    """One protocol connection, the requests timed (CLOCK_MONOTONIC ns)."""

    def __init__(self, sock):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(60)
        self.s.connect(str(sock))

    def call(self, method, params):
        text = json.dumps({"method": method, "parameters": params}, separators=(",", ":")).encode() + b"\0"
        buf = b""
        t0 = bl.mono_ns()
        self.s.sendall(text)
        while not buf.endswith(b"\0"):
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise RuntimeError(f"quiesced closed the connection ({method})")
            buf += chunk
        t1 = bl.mono_ns()
        rep = json.loads(buf[:-1])
        if "error" in rep:
            raise RuntimeError(f"{method}: {rep}")
        return t0, t1, rep.get("parameters", {})

    def close(self):
        self.s.close()


def one_freeze(b, qd, fs, hold_ms):
    b.check_freezable([fs.mnt])
    c = Client(qd.sock)
    try:
        t0, t1, rep = c.call("io.quiesce.Freeze", {"paths": [str(fs.mnt)], "fds": 0, "timeout_ms": 10000,
                                                   "detached": False})
        hold = rep["hold"]
        time.sleep(hold_ms / 1000)
        t2, t3, _ = c.call("io.quiesce.Thaw", {"hold": hold["id"]})
    finally:
        c.close()
        b.thaw_all()
    return {"t0": t0, "t1": t1, "t2": t2, "t3": t3, "hold": hold}


def writer_times(events, t):
    """From the swarm's events of this freeze: the phases' times relative to the Freeze request."""
    by = {}
    for w, phase, fid, got, ans in events:
        by.setdefault(w, {})[phase] = (got, ans)
    locked, last_freeze_ans, first_prepare = [], None, None
    for w, ph in by.items():
        if "prepare" in ph:
            first_prepare = min(first_prepare or ph["prepare"][0], ph["prepare"][0])
        if "freeze" in ph:
            last_freeze_ans = max(last_freeze_ans or 0, ph["freeze"][1])
            if "thaw" in ph:
                locked.append((ph["thaw"][0] - ph["freeze"][1]) / 1e6)
    return {
        "answered": sum(1 for ph in by.values() if "freeze" in ph and "thaw" in ph),
        "first_prepare_ms": (first_prepare - t["t0"]) / 1e6 if first_prepare else None,
        "last_freeze_answer_ms": (last_freeze_ans - t["t0"]) / 1e6 if last_freeze_ans else None,
        "locked_max_ms": max(locked) if locked else None,
        "locked_median_ms": sorted(locked)[len(locked) // 2] if locked else None,
    }


def stall_part(b, paths, args, fs, res):
    qd = bl.Daemon(b, paths["quiesced"], b.tmp / "quiesced-w.sock", b.tmp / "quiesced-w.log",
                   ["--max-frozen", "30s"])
    app = None
    if args.writers_rate > 0:  # 0: no application, the filesystem idle (the Freeze alone, least noise)
        app = bl.Writer(b, paths["writer"], fs.mnt / "app.dat", res / "writers" / "app", prefill_mib=0,
                        rate_mibs=args.writers_rate, max_mib=64, bucket_ms=5)
        app.wait_ready(timeout=60)
    counts = args.writers_counts
    rows = []
    one_freeze(b, qd, fs, args.writers_hold_ms)  # warm-up: the first freeze of a fresh daemon and fs
    for rep in range(args.writers_reps):
        k = rep % len(counts)
        for n in counts[k:] + counts[:k]:
            # The swarm first, then the flush: every variant's Freeze meets the same
            # backlog of dirty data (the application's rate x the settle), however
            # long its swarm took to register (100 writers take longer than 8).
            sw = Swarm(b, paths["wswarm"], qd.sock, n, [fs.mnt]) if n else None
            b.sync_all([fs])
            time.sleep(args.writers_settle)
            load1 = os.getloadavg()[0]
            try:
                t = one_freeze(b, qd, fs, args.writers_hold_ms)
            finally:
                events = sw.stop() if sw else []
            name = f"r{rep + 1}-n{n}"
            if app:
                app.add_window(name, t["t0"], t["t3"])
            row = {"writers": n, "rep": rep + 1, "load1": load1, "window": name,
                   "freeze_ms": (t["t1"] - t["t0"]) / 1e6, "frozen_held_ms": (t["t2"] - t["t1"]) / 1e6,
                   "thaw_ms": (t["t3"] - t["t2"]) / 1e6, "window_ms": (t["t3"] - t["t0"]) / 1e6,
                   "fifreeze_ms": t["hold"]["filesystems"][0].get("stall_ms"),
                   "hold_writers": len(t["hold"].get("writers", []) or []),
                   "hold_acknowledged": sum(1 for w in t["hold"].get("writers", []) or []
                                            if w.get("acknowledged"))}
            if n:
                row.update(writer_times(events, t))
                if row["answered"] != n or row["hold_writers"] != n:
                    raise RuntimeError(f"{n} writers registered, {row['answered']} got freeze and thaw, "
                                       f"the hold reports {row['hold_writers']}")
            rows.append(row)
            time.sleep(0.05)
    win = {w["name"]: w for w in app.stop()["windows"]} if app else {}
    for r in rows:
        w = win.get(r.pop("window"))
        r["app_stall_ms"] = w["max_ns"] / 1e6 if w else None
        r["app_writes"] = w["count"] if w else None
        log(f"writers {r['writers']:3} rep {r['rep']:2}: Freeze {r['freeze_ms']:7.2f} ms, "
            + (f"application's longest write {r['app_stall_ms']:7.2f} ms ({r['app_writes']} writes), " if w else "")
            + f"load {r['load1']:.2f}"
            + (f", writers' lock {r['locked_max_ms']:.2f} ms" if r["writers"] else ""))
    qd.stop()
    b.daemons.remove(qd)
    return rows


def rss_part(b, paths, args, fs):
    qd = bl.Daemon(b, paths["quiesced"], b.tmp / "quiesced-r.sock", b.tmp / "quiesced-r.log",
                   ["--max-frozen", "30s"])
    one_freeze(b, qd, fs, 0)
    time.sleep(0.2)
    n = args.writers_idle
    rows = []
    for rep in range(args.rss_reps):
        rss0, mem0 = bl.vm_rss_kib(qd.pid), bl.memory_kib(qd.pid)
        sw = Swarm(b, paths["wswarm"], qd.sock, n, [fs.mnt])
        try:
            time.sleep(0.3)
            rss1, mem1 = bl.vm_rss_kib(qd.pid), bl.memory_kib(qd.pid)
        finally:
            sw.stop()
        time.sleep(0.3)
        rss2 = bl.vm_rss_kib(qd.pid)
        rows.append({"rep": rep + 1, "writers": n, "rss0_kib": rss0, "rss_kib": rss1,
                     "after_kib": rss2, "smaps0_kib": mem0, "smaps_kib": mem1})
        log(f"rss rep {rep + 1}: quiesced {rss0} KiB with 0 writers, {rss1} KiB with {n} idle writers, "
            f"{rss2} KiB once they left")
    qd.stop()
    b.daemons.remove(qd)
    return rows


def scenario(b, paths, args, res):
    fs = b.make_fs("ext4", "256M", name="wfs")
    out = {"hold_ms": args.writers_hold_ms, "rate_mibs": args.writers_rate}
    out["stall"] = stall_part(b, paths, args, fs, res)
    out["rss"] = rss_part(b, paths, args, fs)
    (res / "writers.json").write_text(json.dumps(out, indent=1))
    return out


def fmt(x):
    return "–" if x is None or x != x else f"{x:.2f}"


def tables(out, table):
    rows = []
    st = out["stall"]
    counts = sorted({r["writers"] for r in st})
    base = {k: [r[k] for r in st if r["writers"] == 0 and r[k] is not None] for k in ("freeze_ms", "app_stall_ms")}
    for n in counts:
        rs = [r for r in st if r["writers"] == n]
        fz, ap = [r["freeze_ms"] for r in rs], [r["app_stall_ms"] for r in rs if r["app_stall_ms"] is not None]
        lk = [r["locked_max_ms"] for r in rs if r.get("locked_max_ms") is not None]
        # the Freeze less the filesystem's own freeze (pre-flush + FIFREEZE, quiesced's stall_ms, whole ms):
        # the daemon's time around it, phases included, without the flush's noise
        ov = [r["freeze_ms"] - r["fifreeze_ms"] for r in rs if r.get("fifreeze_ms") is not None]
        ov0 = [r["freeze_ms"] - r["fifreeze_ms"] for r in st if r["writers"] == 0 and r.get("fifreeze_ms") is not None]
        lf = [r["last_freeze_answer_ms"] for r in rs if r.get("last_freeze_answer_ms") is not None]
        d_fz = pct(fz, 50) - pct(base["freeze_ms"], 50) if base["freeze_ms"] else float("nan")
        d_ap = pct(ap, 50) - pct(base["app_stall_ms"], 50) if base["app_stall_ms"] else float("nan")
        rows.append([n, len(rs), f"{fmt(pct(fz, 50))} / {fmt(pct(fz, 90))}", f"{d_fz:+.2f}",
                     f"{pct(fz, 50) / pct(base['freeze_ms'], 50):.2f}×" if base["freeze_ms"] else "–",
                     f"{fmt(pct(ov, 50))} / {fmt(pct(ov, 90))}" if ov else "–",
                     f"{pct(ov, 50) - pct(ov0, 50):+.2f}" if ov and ov0 else "–",
                     f"{fmt(pct(ap, 50))} / {fmt(pct(ap, 90))}" if ap else "–", f"{d_ap:+.2f}" if ap else "–",
                     f"{pct(ap, 50) / pct(base['app_stall_ms'], 50):.2f}×" if ap and base["app_stall_ms"] else "–",
                     f"{fmt(pct(lf, 50))}" if lf else "–",
                     f"{fmt(pct(lk, 50))} / {fmt(pct(lk, 90))}" if lk else "–",
                     f"{pct([r['load1'] for r in rs], 50):.2f}"])
    t1 = (f"A freeze with N registered writers answering every phase at once (bench/wswarm, one process, one "
          f"connection per writer) against none, alternated rep by rep (a 256 MiB ext4 loop filesystem; a "
          f"non-detached hold kept {out['hold_ms']} ms; "
          + (f"an unregistered application writing 4 KiB buffered at {out['rate_mibs']} MiB/s" if out["rate_mibs"]
             else "no application: the filesystem idle") + "). ms, median / p90 of the reps; Δ = median − the 0-writer median. Freeze: "
          "the request, sent to answered (prepare and freeze phases, pre-flush, FIFREEZE, probe); Freeze − fs "
          "freeze: less the filesystem's stall_ms in the reply (pre-flush + FIFREEZE, whole ms), per rep; "
          f"application stall: its longest write overlapping Freeze sent .. Thaw answered; writers' lock: "
          f"from a writer's freeze answer to its thaw event (the longest of the swarm in each rep)\n\n" + table(
              ["writers", "reps", "Freeze ms", "Δ ms", "×", "Freeze − fs freeze ms", "Δ ms", "application stall ms", "Δ ms", "×",
               "last freeze answer at ms", "writers' lock ms", "load1"], rows))
    rows = []
    for r in out["rss"]:
        d = r["rss_kib"] - r["rss0_kib"]
        da = r["smaps_kib"]["anonymous"] - r["smaps0_kib"]["anonymous"]
        rows.append([r["rep"], f"{r['rss0_kib'] / 1024:.2f}", r["writers"], f"{r['rss_kib'] / 1024:.2f}",
                     f"{r['rss_kib'] / r['rss0_kib']:.3f}×", f"{d}", f"{d / 1024:.2f}×",
                     f"{d * 1024 / r['writers']:.0f}", f"{da}", f"{r['after_kib'] / 1024:.2f}"])
    t2 = ("quiesced's resident memory (VmRSS) with 0 and with N idle registered writers (one connection each), "
          "alternated; anon: smaps_rollup's Anonymous; target: N = 100 adds < 1 MiB\n\n" + table(
              ["rep", "0 writers MiB", "writers", "with them MiB", "×", "added KiB", "× target 1 MiB",
               "bytes per writer", "anon added KiB", "after they left MiB"], rows))
    return t1 + "\n\n" + t2
