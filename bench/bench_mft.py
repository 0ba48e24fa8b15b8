"""$MFT -> CSV: wintriage's decoder (now and at a baseline git revision) vs the `mft` wheel, in one run.

Usage: python bench/bench_mft.py [--baseline REV] [MFT ...]
       (default: /tmp/pub.mft and a synthetic 131,072-entry MFT; baseline 0815280 = before vectorisation)

Export the scenario $MFT first, e.g. ``wintriage cat scenario/public-1.E01 '/$MFT' > /tmp/pub.mft``.
The synthetic MFT replicates the real records of the first input until it holds 131,072 entries, patching
the record number (header offset 0x2C) of each copy; parent references keep pointing into the first copy, so
paths resolve like the real ones. Rates are MFT *records* (file slots) per CPU second. Every measurement runs
in its own child process, so the peak RSS column is that tool's own.
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


def _module(which: str, rev: str):  # type: ignore[no-untyped-def]
    if which == "base":
        sys.path.insert(0, str(HERE))
        import _baseline

        return _baseline.load(rev, "mft")
    from wintriage.artifacts import mft

    return mft


def one(tool: str, path: Path, rev: str) -> dict[str, float]:
    """Run one measurement in this (child) process."""
    import resource

    from wintriage.artifacts.base import ParseContext
    from wintriage.pipeline import run_file
    from wintriage.sinks import CsvSink

    kind, _, which = tool.partition(":")
    mod = None if which == "wheel" else _module(which, rev)
    import mft as mft_wheel

    t0, c0 = time.perf_counter(), time.process_time()
    rows = 0
    if kind == "rows" and mod is not None:
        rows = sum(1 for _ in mod.parse(path, ParseContext("mft", str(path))))
    elif kind == "csv" and mod is not None:
        with tempfile.TemporaryDirectory() as d:
            sink = CsvSink(Path(d))
            rows = run_file(mod, path, sink, hash_input=False).records
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
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"wall": wall, "cpu": cpu, "rows": rows, "rss": rss}


TOOLS = (
    ("rows:base", "wintriage @baseline parse() (rows)"),
    ("rows:new", "wintriage parse() (rows)"),
    ("rows:wheel", "mft wheel entries()+full_path"),
    ("csv:base", "wintriage @baseline -> CSV"),
    ("csv:new", "wintriage -> CSV"),
    ("csv:wheel", "mft wheel entries_csv()"),
)


def main() -> None:
    argv = sys.argv[1:]
    rev = "0815280"
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
    print(f"baseline = git {rev}")
    print(f"{'input':20} {'records':>8} {'tool':34} {'wall s':>7} {'cpu s':>7} {'rec/s cpu':>10} {'rows':>7} "
          f"{'RSS MB':>7} {'vs wheel':>8}")
    for p in inputs:
        records = os.path.getsize(p) // 1024
        got = {}
        for tool, _label in TOOLS:
            out = subprocess.run([sys.executable, __file__, "--baseline", rev, "--one", tool, str(p)],
                                 check=True, capture_output=True, text=True).stdout
            got[tool] = json.loads(out.strip().splitlines()[-1])
        for tool, label in TOOLS:
            r = got[tool]
            peer = got[tool.split(":")[0] + ":wheel"]
            print(f"{p.name:20} {records:8d} {label:34} {r['wall']:7.2f} {r['cpu']:7.2f} {records / r['cpu']:10,.0f} "
                  f"{int(r['rows']):7d} {r['rss']:7.0f} {peer['cpu'] / r['cpu']:7.2f}x")


if __name__ == "__main__":
    main()
