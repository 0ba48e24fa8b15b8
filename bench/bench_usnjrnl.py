"""$J -> CSV records/s on a synthetic >= 1M-record journal made from real records, now vs a baseline revision.

Usage: python bench/bench_usnjrnl.py [J] [--records N] [--baseline REV]
       (default: /tmp/pub.J, 1,048,576 records; baseline c6f4291 = before column batches)

Export the scenario journal first (``wintriage cat scenario/public-1.E01 '/$Extend/$UsnJrnl:$J' > /tmp/pub.J``).
The synthetic file keeps a 1 MiB sparse-like zero head, then repeats the real records packed into 4 KiB pages
with zero padding at each page's end, as Windows writes them (no record crosses a page), each record's USN
patched to its new offset, until N records. There is no peer $J parser in Python to run side by side (the `mft`
wheel does not read $J); the table gives parse-only rates, CSV through ``parse_batches`` in one process, the
``wintriage parse usnjrnl --csv`` path (second half in a forked worker; CPU includes the worker), and rows into a
case store with the timeline (the ``analyze`` path, before indexes), each measured in its own child process
(peak RSS is that measurement's own largest process).
"""

from __future__ import annotations

import json
import subprocess
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


def synth(src: Path, dst: Path, n: int) -> Path:
    recs = real_records(src)
    head = 1 << 20
    with open(dst, "wb") as fo:
        fo.write(bytes(head))
        pos = head
        buf = bytearray()
        page = bytearray()
        for i in range(n):
            r = bytearray(recs[i % len(recs)])
            if len(page) + len(r) > 4096:
                buf += page.ljust(4096, b"\x00")
                pos += 4096
                page.clear()
            r[24:32] = (pos + len(page)).to_bytes(8, "little")  # USN = offset, as Windows writes it
            page += r
            if len(buf) > 1 << 22:
                fo.write(buf)
                buf.clear()
        buf += page.ljust(4096, b"\x00")
        fo.write(buf)
    return dst


def one(tool: str, path: Path, rev: str) -> dict[str, float]:
    sys.path.insert(0, str(HERE))
    from _baseline import artifact, cpu_seconds, peak_rss_mb

    from wintriage.artifacts.base import ParseContext
    from wintriage.pipeline import run_file
    from wintriage.sinks import CsvSink

    kind, _, which = tool.partition(":")
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
    elif kind == "cli":
        from wintriage.parsecmd import run_parse

        with tempfile.TemporaryDirectory() as d:
            rows = run_parse("usnjrnl", [path], csv_dir=Path(d), db=None, options={}, quiet=True)["records"]
    else:
        with tempfile.TemporaryDirectory() as d:
            sink = CsvSink(Path(d))
            rows = run_file(mod, path, sink, hash_input=False).records
            sink.close()
    return {"wall": time.perf_counter() - t0, "cpu": cpu_seconds() - c0, "rows": rows, "rss": peak_rss_mb()}


TOOLS = (("rows:base", "@baseline parse() (rows)"), ("rows:new", "parse() (rows)"),
         ("csv:base", "@baseline -> CSV"), ("csv:new", "-> CSV, 1 process"),
         ("cli:new", "parse usnjrnl --csv (2 proc)"),
         ("store:base", "@baseline -> case store"), ("store:new", "-> case store"))


def main() -> None:
    argv = sys.argv[1:]
    n = 1 << 20
    rev = "c6f4291"
    if "--records" in argv:
        i = argv.index("--records")
        n = int(argv[i + 1])
        del argv[i:i + 2]
    if "--baseline" in argv:
        i = argv.index("--baseline")
        rev = argv[i + 1]
        del argv[i:i + 2]
    if argv and argv[0] == "--one":
        print(json.dumps(one(argv[1], Path(argv[2]), rev)))
        return
    src = Path(argv[0]) if argv else Path("/tmp/pub.J")
    dst = synth(src, Path(f"/tmp/paged_{n}.J"), n)
    print(f"synthetic $J: {dst} ({dst.stat().st_size:,} bytes, {n:,} records from {src.name}); baseline = git {rev}")
    print(f"load average before: {open('/proc/loadavg').read().split()[:3]}")
    print(f"{'step':30} {'records':>10} {'wall s':>8} {'cpu s':>8} {'rec/s wall':>10} {'rec/s cpu':>10} {'RSS MB':>7} "
          f"{'cpu vs base':>11}")
    got = {}
    for tool, _label in TOOLS:
        out = subprocess.run([sys.executable, __file__, "--baseline", rev, "--one", tool, str(dst)],
                             check=True, capture_output=True, text=True).stdout
        got[tool] = json.loads(out.strip().splitlines()[-1])
    for tool, label in TOOLS:
        r = got[tool]
        base = got[{"cli": "csv"}.get(tool.split(":")[0], tool.split(":")[0]) + ":base"]
        print(f"{label:30} {int(r['rows']):10,d} {r['wall']:8.2f} {r['cpu']:8.2f} {r['rows'] / r['wall']:10,.0f} "
              f"{r['rows'] / r['cpu']:10,.0f} {r['rss']:7.0f} {base['cpu'] / r['cpu']:10.2f}x")
    print(f"load average after: {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
