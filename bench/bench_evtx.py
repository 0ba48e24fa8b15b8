"""EVTX throughput: wintriage's full path (parse + maps + store + timeline) vs the bare ``evtx`` wheel,
libevtx-python and python-evtx, in one run. Each stage runs in its own process so peak RSS is its own.

    python bench/bench_evtx.py                      # largest sample, one large log, a 1 GB copy workload
    python bench/bench_evtx.py --gb 0.1 --workers 2 # smaller workloads
    python bench/bench_evtx.py --baseline d4dd63a   # also wintriage as it was at a revision, in the same run

Workloads: the largest sample (plaso System.evtx, 5009 records); one large clean log built from its chunks
(``--big-mb``, record numbers shifted per copy, checksums rewritten), which wintriage splits over worker processes
by chunk ranges (``wintriage``) or parses in one process (``wintriage-1proc``); and ``--gb`` of copies of the
sample (symlinks), which ``evtx.parse_many`` spreads over ``--workers`` processes, one file per job run.

python-evtx is slow: it runs on the first ``--pyevtx-records`` records of the sample and is extrapolated.
It is a bench-only dependency (``pip install python-evtx``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from evtx_synth import big_log  # noqa: E402 - the same builder the EVTX tests use

TESTDATA = Path(os.environ.get("WINTRIAGE_TESTDATA", Path(__file__).resolve().parents[2] / "shared" / "testdata"))
SAMPLE = TESTDATA / "evtx" / "plaso" / "System.evtx"  # the largest sample by record count (5009)


def _rss_mb() -> float:
    """Peak RSS of this process plus that of its largest worker (ru_maxrss of children is their maximum)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 + resource.getrusage(
        resource.RUSAGE_CHILDREN
    ).ru_maxrss / 1024


def _rss_split() -> tuple[float, float]:
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def _cpu() -> float:
    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def stage(name: str, files: list[Path], workers: int, limit: int) -> dict[str, Any]:
    import importlib

    name = name.split("@")[0]  # "wintriage@REV": the same stage, run on that revision's source (PYTHONPATH)

    for mod in {"wheel": ["evtx"], "libevtx": ["pyevtx"], "python-evtx": ["Evtx.Evtx"]}.get(
            name, ["wintriage.artifacts.evtx", "wintriage.pipeline", "wintriage.sinks"]):
        importlib.import_module(mod)  # imports are not part of the measured work
    c0 = _cpu()
    t0 = time.perf_counter()
    n = 0
    if name == "wheel":
        import evtx

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for f in files:
                for _r in evtx.PyEvtxParser(str(f), skip_errors=True, separate_json_attributes=True,
                                                   indent=False).records_json():
                    n += 1
    elif name == "libevtx":
        import pyevtx

        for f in files:
            fh = pyevtx.file()
            fh.open(str(f))
            for i in range(fh.number_of_records):
                try:
                    r = fh.get_record(i)
                    _x = r.xml_string
                    n += 1
                except OSError:
                    pass
            fh.close()
    elif name == "python-evtx":
        from Evtx.Evtx import Evtx

        with Evtx(str(files[0])) as log:
            for r in log.records():
                r.xml()
                n += 1
                if n >= limit:
                    break
    elif name in ("wintriage", "wintriage-1proc"):
        from wintriage.artifacts import evtx as ev

        db = Path(tempfile.mkdtemp(prefix="bench-evtx-")) / "case.sqlite"
        opts = {"evtx_workers": 1} if name == "wintriage-1proc" else {}
        res = ev.parse_many(files, db, workers=workers, options=opts)
        n = res["records"]
        shutil.rmtree(db.parent, ignore_errors=True)
    dt = time.perf_counter() - t0
    cpu = _cpu() - c0  # all threads and worker processes: independent of how busy the machine is
    return {"stage": name, "records": n, "seconds": dt, "rate": n / dt if dt else 0.0, "cpu": cpu,
            "per_cpu_s": n / cpu if cpu else 0.0, "rss_mb": _rss_mb(), "rss_main_worker": _rss_split()}


BASE_SRC: dict[str, Path] = {}  # revision -> its extracted, byte-compiled src folder


def run_stage(name: str, files: list[Path], workers: int, limit: int) -> dict[str, Any]:
    listing = Path(tempfile.mkstemp(prefix="bench-evtx-files-")[1])
    listing.write_text("\n".join(str(f) for f in files))
    env = None
    if "@" in name:
        env = {**os.environ, "PYTHONPATH": str(BASE_SRC[name.split("@")[1]])}
    out = subprocess.run(
        [sys.executable, __file__, "--stage", name, "--files", str(listing), "--workers", str(workers),
         "--pyevtx-records", str(limit)],
        capture_output=True, text=True, check=False, env=env,
    )
    listing.unlink()
    if out.returncode != 0:
        raise SystemExit(f"stage {name} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def workload(gb: float) -> tuple[Path, list[Path]]:
    d = Path(tempfile.mkdtemp(prefix="bench-evtx-copies-"))
    size = SAMPLE.stat().st_size
    n = max(1, int(gb * (1 << 30) // size) + 1)
    files = []
    for i in range(n):
        p = d / f"copy{i:05d}.evtx"
        p.symlink_to(SAMPLE)  # page-cached copies: measures the parser, not the disk
        files.append(p)
    return d, files


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--big-mb", type=float, default=256.0, help="size of the one large log (0: skip)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--pyevtx-records", type=int, default=300)
    ap.add_argument("--no-libevtx-workload", action="store_true",
                    help="skip libevtx on the copy workload (its rate is flat: take it from the sample)")
    ap.add_argument("--baseline", metavar="REV", help="also run wintriage as it was at REV (git archive), alternately")
    ap.add_argument("--runs", type=int, default=1, help="wintriage stages per workload (alternating with --baseline)")
    ap.add_argument("--stage")
    ap.add_argument("--files")
    a = ap.parse_args()
    if a.stage:
        files = [Path(x) for x in Path(a.files).read_text().splitlines()]
        print(json.dumps(stage(a.stage, files, a.workers, a.pyevtx_records)))
        return
    ours = ["wintriage"]
    if a.baseline:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _baseline import git_src

        BASE_SRC[a.baseline] = git_src(a.baseline, Path(tempfile.mkdtemp(prefix="bench-evtx-base-")))
        ours.append(f"wintriage@{a.baseline}")

    def mine(kinds: tuple[str, ...]) -> list[str]:
        """Our stages, each ``--runs`` times, the revisions alternating (same machine state for both)."""
        return [f"{k}{o[len('wintriage'):]}" for _ in range(a.runs) for k in kinds for o in ours]

    rows = []
    one = [SAMPLE]
    for name in ("wheel", "libevtx", "python-evtx", *mine(("wintriage", "wintriage-1proc"))):
        rows.append(("sample", name, run_stage(name, one, 1 if name.startswith("wintriage") else a.workers,
                                               a.pyevtx_records)))
    if a.big_mb:
        d = Path(tempfile.mkdtemp(prefix="bench-evtx-big-"))
        try:
            big = d / "big.evtx"
            chunks = big_log(SAMPLE, big, max(1, int(a.big_mb * (1 << 20) // (27 * 65536))))
            w = f"1 log {big.stat().st_size / (1 << 20):.0f} MB ({chunks} chunks)"
            for name in ("wheel", "libevtx", *mine(("wintriage", "wintriage-1proc"))):
                if name == "libevtx" and a.no_libevtx_workload:
                    continue
                rows.append((w, name, run_stage(name, [big], 1, 0)))
        finally:
            shutil.rmtree(d, ignore_errors=True)
    d, files = workload(a.gb)
    try:
        gb = len(files) * SAMPLE.stat().st_size / (1 << 30)
        for name in ("wheel", "libevtx", *mine(("wintriage",))):
            if name == "libevtx" and a.no_libevtx_workload:
                continue
            rows.append((f"{gb:.2f} GB ({len(files)} files)", name, run_stage(name, files, a.workers, 0)))
    finally:
        shutil.rmtree(d, ignore_errors=True)
    ceiling = {w: r["rate"] for w, n, r in rows if n == "wheel"}
    cpu_ceiling = {w: r["per_cpu_s"] for w, n, r in rows if n == "wheel"}
    print(f"{'workload':<28} {'parser':<25} {'records':>9} {'seconds':>8} {'records/s':>10} {'vs wheel':>8} "
          f"{'CPU s':>7} {'rec/CPU-s':>10} {'vs wheel':>8} {'peak RSS MB':>11}")
    for w, name, r in rows:
        ratio = r["rate"] / ceiling[w] if ceiling.get(w) else 0.0
        cratio = r["per_cpu_s"] / cpu_ceiling[w] if cpu_ceiling.get(w) else 0.0
        note = " (extrapolated from a prefix)" if name == "python-evtx" else ""
        print(f"{w:<28} {name:<25} {r['records']:>9} {r['seconds']:>8.2f} {r['rate']:>10.0f} {ratio:>8.2f} "
              f"{r['cpu']:>7.2f} {r['per_cpu_s']:>10.0f} {cratio:>8.2f} {r['rss_mb']:>11.0f}{note}")
    if a.baseline:  # the best of the runs of each, CPU per record and wall rate, now vs the revision
        print(f"now vs {a.baseline} (best of {a.runs}): CPU us/record, records/s")
        best: dict[tuple[str, str], tuple[float, float]] = {}
        for w, name, r in rows:
            if name.startswith("wintriage"):
                cur = (1e6 * r["cpu"] / max(1, r["records"]), r["rate"])
                old = best.get((w, name), (1e30, 0.0))
                best[(w, name)] = (min(old[0], cur[0]), max(old[1], cur[1]))
        for (w, name), (us, rate) in best.items():
            if "@" in name:
                continue
            bus, brate = best[(w, f"{name}@{a.baseline}")]
            print(f"  {w:<28} {name:<16} {us:6.1f} vs {bus:6.1f} us ({us / bus:.2f}x)   {rate:8.0f} vs {brate:8.0f}/s "
                  f"({rate / brate:.2f}x)")
    for w, name, r in rows:
        if name.startswith("wintriage"):
            m, c = r.get("rss_main_worker", (0, 0))
            print(f"  {w}: wintriage peak RSS main process {m:.0f} MB, largest worker {c:.0f} MB")
    print(f"(wintriage = parse + EvtxECmd maps + case store + timeline + indexes/FTS; on a large clean log, worker "
          f"processes over chunk ranges (wintriage-1proc: one process); {a.workers} worker processes on the copy "
          f"workload; load average {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
