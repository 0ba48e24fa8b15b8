"""$J -> CSV records/s on a synthetic >= 1M-record journal made from real records, now vs a baseline revision.

Usage: python bench/bench_usnjrnl.py [J] [--records N] [--baseline REV] [--store]
       (default: /tmp/pub.J, 1,048,576 records; baseline f9e32da = before the vectorised walk and the
       byte-matrix CSV; --store adds the slow case-store rows)
       python bench/bench_usnjrnl.py --export CASE_DIR [--baseline REV]
       (the two $J CSVs ``analyze`` writes from a finished case's store, MFTECmd's and NLT's, each as one
       ``outputs.run_job`` in its own child, UTC and +09:00; baseline 10fe6d3 = rows read from SQLite)

Export the scenario journal first (``wintriage cat scenario/public-1.E01 '/$Extend/$UsnJrnl:$J' > /tmp/pub.J``).
The synthetic file keeps a 1 MiB sparse-like zero head, then repeats the real records packed into 4 KiB pages
with zero padding at each page's end, as Windows writes them (no record crosses a page), each record's USN
patched to its new offset, until N records; a second file packs the same records back to back (records cross
pages: the record-by-record walk). There is no peer $J parser in Python to run side by side (the `mft` wheel does
not read $J); the table gives, for both files, the whole ``wintriage parse usnjrnl J --csv OUT`` command
(interpreter start included; its forked worker's CPU included) of this checkout and of the baseline revision
(``git archive`` of its ``src`` into a temporary folder), CSV through ``parse_batches`` in one process, parse-only
rates, and with --store rows into a case store with the timeline (the ``analyze`` path, before indexes), each
measured in its own child process (peak RSS is that measurement's own largest process).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def real_records(src: Path) -> list[bytes]:
    from wintriage.artifacts import usnjrnl
    from wintriage.artifacts.base import ParseContext

    ctx = ParseContext("usnjrnl", str(src))
    data = src.read_bytes()
    return [data[r.data["offset"]:r.data["offset"] + r.data["record_length"]] for r in usnjrnl.parse(src, ctx)]


def synth(src: Path, dst: Path, n: int, paged: bool = True) -> Path:
    recs = real_records(src)
    head = 1 << 20
    with open(dst, "wb") as fo:
        fo.write(bytes(head))
        pos = head
        buf = bytearray()
        page = bytearray()
        for i in range(n):
            r = bytearray(recs[i % len(recs)])
            if paged and len(page) + len(r) > 4096:
                buf += page.ljust(4096, b"\x00")
                pos += 4096
                page.clear()
            r[24:32] = (pos + len(page)).to_bytes(8, "little")  # USN = offset, as Windows writes it
            page += r
            if len(buf) > 1 << 22:
                fo.write(buf)
                buf.clear()
        buf += page.ljust(4096, b"\x00") if paged else page
        fo.write(buf)
    return dst


def cli(path: Path, src: Path) -> dict[str, float]:
    """``wintriage parse usnjrnl path --csv`` with the package in ``src``, timed from outside (CPU of the child and
    its worker, peak RSS of the largest)."""
    sys.path.insert(0, str(HERE))
    from _baseline import timed

    with tempfile.TemporaryDirectory() as d:
        wall, cpu, rss, out = timed([sys.executable, "-m", "wintriage.cli", "parse", "usnjrnl", str(path), "--csv", d,
                                     "--json"], env={**os.environ, "PYTHONPATH": str(src)})
    return {"wall": wall, "cpu": cpu, "rows": json.loads(out)["records"], "rss": rss}


def one(tool: str, path: Path, rev: str) -> dict[str, float]:
    sys.path.insert(0, str(HERE))
    from _baseline import artifact, cpu_seconds, peak_rss_mb

    from wintriage.artifacts.base import ParseContext
    from wintriage.pipeline import run_file
    from wintriage.sinks import CsvSink

    kind, _, which = tool.partition(":")
    if kind == "cli":  # the command as a user runs it, of this checkout or of the baseline's extracted src
        return cli(path, Path(os.environ["BENCH_BASE_SRC"]) if which == "base" else HERE.parent / "src")
    mod = artifact("usnjrnl", which, rev)
    t0, c0 = time.perf_counter(), cpu_seconds()
    if kind == "rows":
        rows = sum(1 for _ in mod.parse(path, ParseContext("usnjrnl", str(path))))
    elif kind == "store":
        from wintriage.sinks import StoreSink
        from wintriage.store.case import CaseWriter

        with tempfile.TemporaryDirectory() as d:
            store = CaseWriter(Path(d) / "case.sqlite")
            rows = run_file(mod, path, StoreSink(store), hash_input=False).records
            store.close(index=False)
    else:  # CSV only, one process (``csv_tz`` as ``parse --csv`` sets it, no worker)
        from datetime import UTC

        with tempfile.TemporaryDirectory() as d:
            sink = CsvSink(Path(d))
            rows = run_file(mod, path, sink, options={"csv_tz": UTC}, hash_input=False).records
            sink.close()
    return {"wall": time.perf_counter() - t0, "cpu": cpu_seconds() - c0, "rows": rows, "rss": peak_rss_mb()}


TOOLS = (("cli:base", "@baseline parse usnjrnl --csv"), ("cli:new", "parse usnjrnl --csv (2 proc)"),
         ("csv:base", "@baseline -> CSV, 1 process"), ("csv:new", "-> CSV, 1 process"),
         ("rows:base", "@baseline parse() (rows)"), ("rows:new", "parse() (rows)"))
STORE = (("store:base", "@baseline -> case store"), ("store:new", "-> case store"))


EXPORTS = (("csv", "usnjrnl", "MFTECmd_$J_Output.csv"), ("extra", "logfile", "NLT_UsnJrnl.csv"))


def export(case_dir: Path, rev: str) -> None:
    """The case-store exports of a case's ``usnjrnl`` table, this checkout vs ``rev`` (same bytes checked)."""
    sys.path.insert(0, str(HERE))
    from _baseline import git_src, timed

    code = ("import resource, sys; from pathlib import Path; from wintriage.outputs import run_job; "
            "from wintriage.timeutil import parse_tz; "
            "run_job(Path(sys.argv[1]), (sys.argv[2], sys.argv[3], 'usnjrnl'), parse_tz(sys.argv[4]), 'utf-8-sig'); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")  # its own peak RSS (KiB)
    print(f"case: {case_dir}; baseline = git {rev}; load average before: {open('/proc/loadavg').read().split()[:3]}")
    print(f"{'CSV':24} {'tz':6} {'wall s':>7} {'cpu s':>7} {'RSS MB':>7} {'base wall':>9} {'base cpu':>8} "
          f"{'base RSS':>8} {'cpu vs base':>11} same")
    with tempfile.TemporaryDirectory() as d:
        base_src = git_src(rev, Path(d))
        for kind, module, name in EXPORTS:
            for tz in ("UTC", "+09:00"):
                got = {}
                for which, src in (("base", base_src), ("new", HERE.parent / "src")):
                    out = Path(d) / which
                    out.mkdir(exist_ok=True)
                    (out / "case.sqlite").unlink(missing_ok=True)
                    (out / "case.sqlite").symlink_to(case_dir.resolve() / "case.sqlite")
                    wall, cpu, _rss, printed = timed([sys.executable, "-c", code, str(out), kind, module, tz],
                                               env={**os.environ, "PYTHONPATH": str(src)})
                    with open(out / "csv" / name, "rb") as fh:  # a digest: this process stays small (a child
                        digest = hashlib.file_digest(fh, "sha256").hexdigest()  # starts with its peak RSS)
                    got[which] = (wall, cpu, int(printed.split()[-1]) / 1024, digest)
                (bw, bc, br, bb), (nw, nc, nr, nb) = got["base"], got["new"]
                print(f"{name:24} {tz:6} {nw:7.2f} {nc:7.2f} {nr:7.0f} {bw:9.2f} {bc:8.2f} {br:8.0f} {bc / nc:10.2f}x "
                      f"{'yes' if bb == nb else 'NO'}")
    print(f"load average after: {open('/proc/loadavg').read().split()[:3]}")


def main() -> None:
    argv = sys.argv[1:]
    if "--export" in argv:
        i = argv.index("--export")
        j = argv.index("--baseline") if "--baseline" in argv else -1
        export(Path(argv[i + 1]), argv[j + 1] if j >= 0 else "10fe6d3")
        return
    n = 1 << 20
    rev = "f9e32da"
    tools: tuple[tuple[str, str], ...] = TOOLS
    if "--records" in argv:
        i = argv.index("--records")
        n = int(argv[i + 1])
        del argv[i:i + 2]
    if "--baseline" in argv:
        i = argv.index("--baseline")
        rev = argv[i + 1]
        del argv[i:i + 2]
    if "--store" in argv:
        argv.remove("--store")
        tools = TOOLS + STORE
    if argv and argv[0] == "--one":
        print(json.dumps(one(argv[1], Path(argv[2]), rev)))
        return
    src = Path(argv[0]) if argv else Path("/tmp/pub.J")
    files = {"paged": synth(src, Path(f"/tmp/paged_{n}.J"), n),
             "crossing": synth(src, Path(f"/tmp/crossing_{n}.J"), n, paged=False)}
    for kind, dst in files.items():
        print(f"{kind} $J: {dst} ({dst.stat().st_size:,} bytes, {n:,} records from {src.name})")
    print(f"baseline = git {rev}; load average before: {open('/proc/loadavg').read().split()[:3]}")
    print(f"{'input':9} {'step':32} {'records':>10} {'wall s':>7} {'cpu s':>7} {'rec/s wall':>10} {'rec/s cpu':>10} "
          f"{'RSS MB':>7} {'cpu vs base':>11}")
    sys.path.insert(0, str(HERE))
    from _baseline import git_src, one_child

    with tempfile.TemporaryDirectory() as d:
        base_src = git_src(rev, Path(d))  # byte-compiled, as is this checkout's
        for kind, dst in files.items():
            got = {}
            for tool, _label in tools:
                got[tool] = one_child(__file__, ["--baseline", rev, "--one", tool, str(dst)],
                                      {**os.environ, "BENCH_BASE_SRC": str(base_src)})
            for tool, label in tools:
                r = got[tool]
                base = got[tool.split(":")[0] + ":base"]
                print(f"{kind:9} {label:32} {int(r['rows']):10,d} {r['wall']:7.2f} {r['cpu']:7.2f} "
                      f"{r['rows'] / r['wall']:10,.0f} {r['rows'] / r['cpu']:10,.0f} {r['rss']:7.0f} "
                      f"{base['cpu'] / r['cpu']:10.2f}x")
    print(f"load average after: {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
