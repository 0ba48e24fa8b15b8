"""Benchmark: ``wintriage analyze`` + ``wintriage answer`` end to end, with peers, in one run.

    python bench/bench_analyze.py [--runs 3] [--case NAME=EVIDENCE ...] [--peers] [--tmp DIR]

For every case (default: ``public-1=<testdata>/scenario/public-1.E01``; add scale cases built by
``bench/make_scale_case.py`` with ``--case scale-1M=/tmp/scale-1M``), ``--runs`` times:
``wintriage analyze EVIDENCE -o OUT`` then ``wintriage answer OUT --json --tz +09:00``, each a subprocess under
``/usr/bin/time -v`` (wall, user+system CPU, peak RSS), with ``/proc/loadavg`` before and after. Reported: the
median run (by analyze+answer wall time), the per-stage breakdown read from the median run's ``case.sqlite``
(``meta.volumes[].seconds_collect``, ``meta.run.seconds_parse``, ``sources.seconds`` per artefact,
``meta.analyzer_seconds``; "outputs+startup" is the rest of the analyze wall time), and whether
``answer --json``'s ``flags.IR1``/``IR2`` equal ``scenario/public-1.answers.json`` (or a listed alternative).

``--peers`` adds, in the same run, on the first case, dissect (``target-query`` from the separate venv
``/work/benchvenv``) and plaso (``log2timeline`` + ``psort`` from ``/work/benchvenv-plaso``), when installed; neither
is a project dependency.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTDATA = Path(os.environ.get("WINTRIAGE_TESTDATA", HERE.parent.parent / "shared" / "testdata"))
PUBLIC = TESTDATA / "scenario" / "public-1.E01"
ANSWERS = TESTDATA / "scenario" / "public-1.answers.json"
BENCHVENV = Path(os.environ.get("BENCHVENV", "/work/benchvenv"))  # dissect.target (wheels)
PLASOVENV = Path(os.environ.get("PLASOVENV", "/work/benchvenv-plaso"))  # plaso (its own venv: pins differ)
DISSECT_FUNCS = ("mft.records,usnjrnl,evtx,prefetch,userassist,bam,shimcache,runkeys,"
                 "chrome.history,chrome.downloads")


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[0]


@dataclass
class Timed:
    wall: float
    cpu: float
    rss_mb: float
    rc: int
    load_before: str
    load_after: str
    tree_mb: float = 0.0


def tree_rss_kb(root: int) -> int:
    """Sum of VmRSS over ``root`` and all its descendants (the output stage runs worker processes)."""
    kids: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            st = Path(f"/proc/{d}/stat").read_text()
            ppid = int(st.rsplit(")", 1)[1].split()[1])
            m = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{d}/status").read_text())
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d))
        rss[int(d)] = int(m.group(1)) if m else 0
    total, todo = 0, [root]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += kids.get(p, [])
    return total


def timed(cmd: list[str], *, stdout_file: Path | None = None, cwd: Path | None = None) -> Timed:
    """Run ``cmd`` under /usr/bin/time -v; wall, CPU (user+sys, children included), peak RSS of the largest
    process (``time``), and the peak of the whole process tree's RSS (sampled every 0.2 s)."""
    lb = loadavg()
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        out = open(stdout_file, "wb") if stdout_file else subprocess.DEVNULL
        peak = 0
        try:
            pr = subprocess.Popen(["/usr/bin/time", "-v", "-o", tf.name, *cmd], stdout=out,
                                  stderr=subprocess.DEVNULL, cwd=cwd)
            while True:
                try:
                    rc = pr.wait(timeout=0.2)
                    break
                except subprocess.TimeoutExpired:
                    peak = max(peak, tree_rss_kb(pr.pid))
        finally:
            if stdout_file:
                out.close()  # type: ignore[union-attr]
        txt = Path(tf.name).read_text()

    def grab(key: str) -> str:
        m = re.search(rf"{re.escape(key)}: (.*)", txt)
        return m.group(1).strip() if m else "0"

    el = grab("Elapsed (wall clock) time (h:mm:ss or m:ss)")
    parts = [float(p) for p in el.split(":")]
    wall = parts[-1] + 60 * parts[-2] + (3600 * parts[-3] if len(parts) > 2 else 0)
    cpu = float(grab("User time (seconds)")) + float(grab("System time (seconds)"))
    rss = int(grab("Maximum resident set size (kbytes)")) / 1024
    return Timed(wall, cpu, rss, rc, lb, loadavg(), tree_mb=peak / 1024)


@dataclass
class Run:
    analyze: Timed
    answer: Timed
    stages: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    flags_ok: str = ""
    db_mb: float = 0.0

    @property
    def wall(self) -> float:
        return self.analyze.wall + self.answer.wall


def stages(case: Path, analyze_wall: float) -> tuple[dict[str, float], dict[str, int]]:
    con = sqlite3.connect(f"file:{case / 'case.sqlite'}?mode=ro", uri=True)
    meta = {k: v for k, v in con.execute("SELECT key, value FROM meta")}
    out: dict[str, float] = {}
    vols = json.loads(meta.get("volumes", "[]"))
    collect = sum(float(v.get("seconds_collect") or 0) for v in vols)
    out["collect"] = collect
    for art, secs in con.execute("SELECT artifact, SUM(seconds) FROM sources GROUP BY artifact ORDER BY 2 DESC"):
        out[f"parse {art}"] = float(secs or 0)
    parse_total = float(json.loads(meta.get("run", "{}")).get("seconds_parse", 0))
    out["parse total (incl. collect, store)"] = parse_total
    an = json.loads(meta.get("analyzer_seconds", "{}"))
    for k, v in an.items():
        out[f"analyzer {k}"] = float(v)
    out["outputs+startup"] = analyze_wall - parse_total - sum(float(v) for v in an.values())
    counts = {}
    for t in ("mft", "usnjrnl", "timeline"):
        try:
            counts[t] = con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]  # noqa: S608 - fixed names
        except sqlite3.Error:
            counts[t] = -1
    con.close()
    return out, counts


def check_flags(answer_json: Path) -> str:
    try:
        got = json.loads(answer_json.read_text()).get("flags", {})
    except (OSError, ValueError) as e:
        return f"no answer ({e})"
    want = json.loads(ANSWERS.read_text())["flags"]
    res = []
    for k in ("IR1", "IR2"):
        ok = got.get(k) == want[k] or got.get(k) in want.get(f"{k}_alternatives", [])
        res.append(f"{k} {'ok' if ok else 'WRONG: ' + str(got.get(k))}")
    return ", ".join(res)


def bench_case(name: str, evidence: Path, runs: int, tmp: Path) -> list[Run]:
    out: list[Run] = []
    for i in range(runs):
        case = tmp / f"{name}.{i}.case"
        if case.exists():
            shutil.rmtree(case)
        an = timed([sys.executable, "-m", "wintriage.cli", "analyze", str(evidence), "-o", str(case)])
        ans_file = tmp / f"{name}.{i}.answer.json"
        aw = timed([sys.executable, "-m", "wintriage.cli", "answer", str(case), "--json", "--tz", "+09:00"],
                   stdout_file=ans_file)
        r = Run(an, aw)
        if an.rc == 0:
            r.stages, r.counts = stages(case, an.wall)
            r.db_mb = (case / "case.sqlite").stat().st_size / 1e6
        r.flags_ok = check_flags(ans_file)
        print(f"  {name} run {i + 1}: analyze {an.wall:.1f}s (cpu {an.cpu:.1f}s, {an.rss_mb:.0f} MB, tree "
              f"{an.tree_mb:.0f} MB, load "
              f"{an.load_before}->{an.load_after}), answer {aw.wall:.1f}s ({aw.rss_mb:.0f} MB); {r.flags_ok}",
              flush=True)
        out.append(r)
        if i < runs - 1:
            shutil.rmtree(case, ignore_errors=True)
    return out


def bench_peers(evidence: Path, tmp: Path) -> list[tuple[str, Timed | None, str]]:
    rows: list[tuple[str, Timed | None, str]] = []
    tq = BENCHVENV / "bin" / "target-query"
    if tq.exists():  # records go to a file (binary record stream), like our case store
        t = timed([str(tq), "-f", DISSECT_FUNCS, "-q", str(evidence)], stdout_file=tmp / "dissect.records")
        rows.append((f"dissect target-query -f {DISSECT_FUNCS}", t,
                     f"{(tmp / 'dissect.records').stat().st_size / 1e6:.1f} MB of records"))
    else:
        rows.append(("dissect target-query", None, f"not installed ({tq})"))
    l2t = PLASOVENV / "bin" / "log2timeline"
    ps = PLASOVENV / "bin" / "psort"
    if l2t.exists() and ps.exists():
        store = tmp / "public.plaso"
        a = timed([str(l2t), "--status_view", "none", "--unattended", "--partitions", "all", "--vss_stores", "none",
                   "--storage-file", str(store), str(evidence)])
        b = timed([str(ps), "--status_view", "none", "-w", str(tmp / "plaso.csv"), str(store)])
        lines = sum(1 for _ in open(tmp / "plaso.csv", "rb")) - 1 if (tmp / "plaso.csv").exists() else 0
        rows.append(("plaso log2timeline (all parsers)", a, ""))
        rows.append(("plaso psort -w csv", b, f"{lines:,} events"))
        rows.append(("plaso total", Timed(a.wall + b.wall, a.cpu + b.cpu, max(a.rss_mb, b.rss_mb), a.rc or b.rc,
                                          a.load_before, b.load_after, max(a.tree_mb, b.tree_mb)), ""))
    else:
        rows.append(("plaso log2timeline + psort", None, f"not installed ({l2t})"))
    return rows


def med(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.wall)[len(runs) // 2]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--case", action="append", default=[], help="NAME=EVIDENCE (E01, raw or folder)")
    ap.add_argument("--peers", action="store_true")
    ap.add_argument("--tmp", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the last case folder of each case")
    a = ap.parse_args()
    cases = [c.split("=", 1) for c in a.case] or [["public-1", str(PUBLIC)]]
    tmp = Path(tempfile.mkdtemp(prefix="bench_analyze_", dir=a.tmp))
    rev = subprocess.run(["git", "-C", str(HERE.parent), "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True, check=False).stdout.strip()
    print(f"work dir {tmp}; commit {rev}; load {Path('/proc/loadavg').read_text().strip()}", flush=True)
    results: dict[str, list[Run]] = {}
    for name, ev in cases:
        results[name] = bench_case(name, Path(ev), a.runs, tmp)
    peers = bench_peers(Path(cases[0][1]), tmp) if a.peers else []

    print(f"\n| case | analyze s (median of {a.runs}) | CPU s | peak RSS MB (largest process / all processes) | "
          "answer s | answer RSS MB | end to end s | range s | load avg | case.sqlite MB | "
          "rows mft / usnjrnl / timeline | flags |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---|---:|---|---|")
    for name, runs in results.items():
        m = med(runs)
        walls = [r.wall for r in runs]
        loads = sorted({r.analyze.load_before for r in runs} | {r.analyze.load_after for r in runs})
        c = m.counts
        print(f"| {name} | {m.analyze.wall:.1f} | {m.analyze.cpu:.1f} | {m.analyze.rss_mb:.0f} / {m.analyze.tree_mb:.0f} | {m.answer.wall:.2f} | "
              f"{m.answer.rss_mb:.0f} | {m.wall:.1f} | {min(walls):.1f}–{max(walls):.1f} | "
              f"{loads[0]}–{loads[-1]} | {m.db_mb:.0f} | {c.get('mft', 0):,} / {c.get('usnjrnl', 0):,} / "
              f"{c.get('timeline', 0):,} | {m.flags_ok} |")
    for name, runs in results.items():
        m = med(runs)
        print(f"\nStages, {name} (median run; seconds):\n\n| stage | s |\n|---|---:|")
        for k, v in m.stages.items():
            print(f"| {k} | {v:.2f} |")
    if peers:
        ours = med(results[cases[0][0]])
        print(f"\nPeers on {cases[0][0]} (same run; ours = analyze+answer {ours.wall:.1f}s wall, "
              f"{ours.analyze.cpu + ours.answer.cpu:.1f} CPU s):\n")
        print("| tool | wall s | CPU s | peak RSS MB (largest / all processes) | load | wall vs ours | note |\n|---|---:|---:|---:|---|---:|---|")
        for label, t, note in peers:
            if t is None:
                print(f"| {label} | - | - | - | - | - | {note} |")
            else:
                print(f"| {label} | {t.wall:.1f} | {t.cpu:.1f} | {t.rss_mb:.0f} / {t.tree_mb:.0f} | {t.load_before}->{t.load_after} | "
                      f"{t.wall / ours.wall:.2f}x | rc {t.rc} {note} |")
    if not a.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"kept {tmp}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
