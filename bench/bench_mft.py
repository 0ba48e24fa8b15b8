"""$MFT -> CSV: wintriage (this checkout and a baseline git revision) vs the `mft` wheel, in one run.

Usage: python bench/bench_mft.py [--baseline REV] [--no-baseline] [--rows] [--runs N] [MFT ...]
       (default: /tmp/pub.mft and synthetic 131,072- and 524,288-entry MFTs; baseline d4dd63a = before the
       session-4 work; ``--runs N``: the tools in turn N times, each tool's fastest run reported)

Export the scenario $MFT first, e.g. ``wintriage cat scenario/public-1.E01 '/$MFT' > /tmp/pub.mft``.
The synthetic MFTs replicate the real records of the first input until they hold 131,072 (524,288) entries, patching
the record number (header offset 0x2C) of each copy; parent references keep pointing into the first copy, so
paths resolve like the real ones. Every measurement runs in its own child process: wall seconds, CPU seconds
(user+sys of the process and of the worker it forks), peak RSS (the larger of the process and its worker).
Two kinds of figures:
- end to end (``cmd``): the whole command as a user runs it, timed from outside, from process start to exit
  (interpreter start, imports, the input's SHA-256, both passes, the CSV files): ``wintriage parse mft X --csv D``
  of this checkout and of the baseline (``git archive`` of its ``src``), and ``python -c`` of the wheel writing
  ``entries_csv()`` to a file;
- steady state (``csv``): inside the process, from the parser's start to the last CSV byte (no imports, no hash):
  ``run_file`` with the CSV sink as ``parse --csv`` runs it (two processes), and the wheel's ``entries_csv()``.
Rates are MFT records (file slots: file size / 1024) per wall second and per CPU second; ``vs wheel`` is the
wheel's time over ours in the same kind of figure (>1: we are faster), by wall and by CPU.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def synth(src: Path, dst: Path, entries: int = 131072) -> Path:
    rs = 1024
    if dst.exists() and dst.stat().st_size == entries * rs:  # made by an earlier run
        return dst
    data = src.read_bytes()
    recs = [data[i:i + rs] for i in range(0, len(data) - len(data) % rs, rs)]
    with open(dst, "wb") as fo:
        for n in range(entries):
            r = bytearray(recs[n % len(recs)])
            if r[:4] == b"FILE":
                r[0x2C:0x30] = n.to_bytes(4, "little")
            fo.write(r)
    return dst


WHEEL_CSV = """
import sys
import mft
with open(sys.argv[2], "wb") as fo:
    for line in mft.PyMftParser(sys.argv[1]).entries_csv():
        if isinstance(line, bytes):
            fo.write(line)
"""


def cmd(path: Path, src: Path | None) -> dict[str, float]:
    """The whole command, timed from outside: ``wintriage parse mft`` with the package in ``src``, or the wheel's
    CSV (``src`` None). CPU of the child and its worker, peak RSS of the largest."""
    from _baseline import timed

    with tempfile.TemporaryDirectory() as d:
        if src is None:
            wall, cpu, rss, _ = timed([sys.executable, "-c", WHEEL_CSV, str(path), str(Path(d) / "w.csv")])
            with open(Path(d) / "w.csv", "rb") as fh:
                rows = sum(1 for _ in fh) - 1
        else:
            wall, cpu, rss, out = timed(
                [sys.executable, "-m", "wintriage.cli", "parse", "mft", str(path), "--csv", d, "--json"],
                {**os.environ, "PYTHONPATH": str(src)})
            rows = json.loads(out)["records"]
    return {"wall": wall, "cpu": cpu, "rows": rows, "rss": rss}


def one(tool: str, path: Path) -> dict[str, float]:
    """Run one measurement in this (child) process (a baseline's child imports the baseline's package)."""
    sys.path.insert(0, str(HERE))
    from _baseline import cpu_seconds, peak_rss_mb

    kind, _, which = tool.partition(":")
    if kind == "cmd":
        return cmd(path, None if which == "wheel" else (Path(os.environ["BENCH_BASE_SRC"]) if which == "base"
                                                        else HERE.parent / "src"))
    from datetime import UTC

    import mft as mft_wheel

    from wintriage.artifacts import mft as mod
    from wintriage.artifacts.base import ParseContext
    from wintriage.pipeline import run_file
    from wintriage.sinks import CsvSink

    t0, c0 = time.perf_counter(), cpu_seconds()  # the forked CSV worker counts once joined
    rows = 0
    if kind == "rows" and which != "wheel":
        rows = sum(1 for _ in mod.parse(path, ParseContext("mft", str(path))))
    elif kind == "csv" and which != "wheel":
        with tempfile.TemporaryDirectory() as d:
            sink = CsvSink(Path(d))
            rows = run_file(mod, path, sink, hash_input=False, options={"csv_workers": 2, "csv_tz": UTC}).records
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
    ("cmd:base", "end to end: @baseline parse mft --csv"),
    ("cmd:new", "end to end: parse mft --csv"),
    ("cmd:wheel", "end to end: mft wheel -> CSV"),
    ("csv:base", "steady: @baseline -> CSV, 2 proc"),
    ("csv:new", "steady: -> CSV, 2 processes"),
    ("csv:wheel", "steady: mft wheel entries_csv()"),
)
ROWS = (
    ("rows:base", "@baseline parse() (rows)"),
    ("rows:new", "parse() (rows)"),
    ("rows:wheel", "mft wheel entries()+full_path"),
)


def main() -> None:
    argv = sys.argv[1:]
    rev = "d4dd63a"
    runs = 1
    tools = TOOLS
    if "--rows" in argv:
        argv.remove("--rows")
        tools = TOOLS + ROWS
    if "--no-baseline" in argv:
        argv.remove("--no-baseline")
        tools = tuple(t for t in tools if not t[0].endswith(":base"))
    if "--baseline" in argv:
        i = argv.index("--baseline")
        rev = argv[i + 1]
        del argv[i:i + 2]
    if "--runs" in argv:
        i = argv.index("--runs")
        runs = int(argv[i + 1])
        del argv[i:i + 2]
    if argv and argv[0] == "--one":
        print(json.dumps(one(argv[1], Path(argv[2]))))
        return
    inputs = [Path(a) for a in argv] or [Path("/tmp/pub.mft")]
    if not argv:
        inputs += [synth(inputs[0], Path(f"/tmp/synth_{n}.mft"), n) for n in (131072, 524288)]
    print(f"baseline = git {rev}; {os.cpu_count()} CPUs; load average at start "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'input':20} {'records':>8} {'tool':40} {'wall s':>7} {'cpu s':>7} {'rec/s wall':>10} {'rec/s cpu':>10} "
          f"{'rows':>7} {'RSS MB':>7} {'vs wheel wall':>13} {'cpu':>6}")
    sys.path.insert(0, str(HERE))
    from _baseline import git_src, one_child

    with tempfile.TemporaryDirectory() as tmp:
        base_src = git_src(rev, Path(tmp))  # byte-compiled, as is this checkout's
        for p in inputs:
            records = os.path.getsize(p) // 1024
            got: dict[str, dict[str, float]] = {}
            for _ in range(runs):  # the tools in turn, ``runs`` times; each tool's fastest run
                for tool, _label in tools:
                    env = {**os.environ, "BENCH_BASE_SRC": str(base_src)}
                    if tool.endswith(":base"):  # the baseline's whole package, in the child
                        env["PYTHONPATH"] = str(base_src)
                    r = one_child(__file__, ["--one", tool, str(p)], env)
                    if tool not in got or r["wall"] < got[tool]["wall"]:
                        got[tool] = r
            for tool, label in tools:
                r = got[tool]
                peer = got[tool.split(":")[0] + ":wheel"]
                print(f"{p.name:20} {records:8d} {label:40} {r['wall']:7.2f} {r['cpu']:7.2f} "
                      f"{records / r['wall']:10,.0f} {records / r['cpu']:10,.0f} {int(r['rows']):7d} {r['rss']:7.0f} "
                      f"{peer['wall'] / r['wall']:12.2f}x {peer['cpu'] / r['cpu']:5.2f}x")
    print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
