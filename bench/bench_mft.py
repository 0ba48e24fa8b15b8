"""$MFT -> CSV: wintriage's decoder (now and at a baseline git revision) vs the `mft` wheel, in one run.

Usage: python bench/bench_mft.py [--baseline REV] [--no-baseline] [MFT ...]
       (default: /tmp/pub.mft and a synthetic 131,072-entry MFT; baseline 744a600 = before RowBatch/TIMELINE_SQL)

Export the scenario $MFT first, e.g. ``wintriage cat scenario/public-1.E01 '/$MFT' > /tmp/pub.mft``.
The synthetic MFT replicates the real records of the first input until it holds 131,072 entries, patching
the record number (header offset 0x2C) of each copy; parent references keep pointing into the first copy, so
paths resolve like the real ones. Every measurement runs in its own child process: wall seconds, CPU seconds
(user+sys of the process and of the worker it forks), peak RSS (the larger of the process and its worker).
Rates are MFT records (file slots: file size / 1024) per wall second and per CPU second; ``vs wheel`` is the
wheel's time over ours (>1: we are faster), by wall and by CPU. ``-> CSV, 2 processes`` is what
``wintriage parse mft X --csv DIR`` does (a forked worker renders the second half of the records).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def synth(src: Path, dst: Path, entries: int = 131072) -> Path:
    data = src.read_bytes()
    rs = 1024
    recs = [data[i:i + rs] for i in range(0, len(data) - len(data) % rs, rs)]
    with open(dst, "wb") as fo:
        for n in range(entries):
            r = bytearray(recs[n % len(recs)])
            if r[:4] == b"FILE":
                r[0x2C:0x30] = n.to_bytes(4, "little")
            fo.write(r)
    return dst


def one(tool: str, path: Path, rev: str) -> dict[str, float]:
    """Run one measurement in this (child) process."""
    sys.path.insert(0, str(HERE))
    from _baseline import artifact, cpu_seconds, peak_rss_mb

    from wintriage.artifacts.base import ParseContext
    from wintriage.pipeline import run_file
    from wintriage.sinks import CsvSink

    kind, _, which = tool.partition(":")
    mod = None if which == "wheel" else artifact("mft", which, rev)
    from datetime import UTC

    import mft as mft_wheel

    t0, c0 = time.perf_counter(), cpu_seconds()  # the forked CSV worker counts once joined
    rows = 0
    if kind == "rows" and mod is not None:
        rows = sum(1 for _ in mod.parse(path, ParseContext("mft", str(path))))
    elif kind in ("csv", "csv2") and mod is not None:
        opts = {"csv_workers": 2, "csv_tz": UTC} if kind == "csv2" else {}
        with tempfile.TemporaryDirectory() as d:
            sink = CsvSink(Path(d))
            rows = run_file(mod, path, sink, hash_input=False, options=opts).records
            sink.close()
    elif kind == "rows":
        for e in mft_wheel.PyMftParser(str(path)).entries():
            if not isinstance(e, RuntimeError):
                _ = e.full_path
            rows += 1
    else:
        with tempfile.TemporaryDirectory() as d, open(Path(d) / "w.csv", "wb") as fo:
            for line in mft_wheel.PyMftParser(str(path)).entries_csv():
                if isinstance(line, bytes):
                    fo.write(line)
                rows += 1
    return {"wall": time.perf_counter() - t0, "cpu": cpu_seconds() - c0, "rows": rows, "rss": peak_rss_mb()}


TOOLS = (
    ("rows:base", "wintriage @baseline parse() (rows)"),
    ("rows:new", "wintriage parse() (rows)"),
    ("rows:wheel", "mft wheel entries()+full_path"),
    ("csv:base", "wintriage @baseline -> CSV"),
    ("csv:new", "wintriage -> CSV, 1 process"),
    ("csv2:new", "wintriage -> CSV, 2 processes"),
    ("csv:wheel", "mft wheel entries_csv()"),
)


def main() -> None:
    argv = sys.argv[1:]
    rev = "744a600"
    tools = TOOLS
    if "--no-baseline" in argv:
        argv.remove("--no-baseline")
        tools = tuple(t for t in TOOLS if not t[0].endswith(":base"))
    if "--baseline" in argv:
        i = argv.index("--baseline")
        rev = argv[i + 1]
        del argv[i:i + 2]
    if argv and argv[0] == "--one":
        print(json.dumps(one(argv[1], Path(argv[2]), rev)))
        return
    inputs = [Path(a) for a in argv] or [Path("/tmp/pub.mft")]
    if not argv:
        inputs.append(synth(inputs[0], Path("/tmp/synth_131072.mft")))
    print(f"baseline = git {rev}; {os.cpu_count()} CPUs; load average at start "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'input':20} {'records':>8} {'tool':34} {'wall s':>7} {'cpu s':>7} {'rec/s wall':>10} {'rec/s cpu':>10} "
          f"{'rows':>7} {'RSS MB':>7} {'vs wheel wall':>13} {'cpu':>6}")
    for p in inputs:
        records = os.path.getsize(p) // 1024
        got = {}
        for tool, _label in tools:
            out = subprocess.run([sys.executable, __file__, "--baseline", rev, "--one", tool, str(p)],
                                 check=True, capture_output=True, text=True).stdout
            got[tool] = json.loads(out.strip().splitlines()[-1])
        for tool, label in tools:
            r = got[tool]
            peer = got[("rows" if tool.startswith("rows") else "csv") + ":wheel"]
            print(f"{p.name:20} {records:8d} {label:34} {r['wall']:7.2f} {r['cpu']:7.2f} {records / r['wall']:10,.0f} "
                  f"{records / r['cpu']:10,.0f} {int(r['rows']):7d} {r['rss']:7.0f} {peer['wall'] / r['wall']:12.2f}x "
                  f"{peer['cpu'] / r['cpu']:5.2f}x")
    print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
