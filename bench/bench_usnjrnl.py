"""$J -> CSV records/s on a synthetic >= 1M-record journal made from real records, now vs a baseline revision.

Usage: python bench/bench_usnjrnl.py [J] [--records N] [--baseline REV]
       (default: /tmp/pub.J, 1,048,576 records; baseline 0815280 = before the bulk V2 decode)

Export the scenario journal first (``wintriage cat scenario/public-1.E01 '/$Extend/$UsnJrnl:$J' > /tmp/pub.J``).
The synthetic file keeps a 1 MiB sparse-like zero head, then repeats the real records (zero padding dropped)
with each record's USN patched to its new offset, until N records. There is no peer $J parser in Python to
run side by side (the `mft` wheel does not read $J); the table gives parse-only and full CSV rates, each
measured in its own child process (peak RSS is that measurement's own).
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
        for i in range(n):
            r = bytearray(recs[i % len(recs)])
            r[24:32] = pos.to_bytes(8, "little")  # USN = offset, as Windows writes it
            buf += r
            pos += len(r)
            if len(buf) > 1 << 22:
                fo.write(buf)
                buf.clear()
        fo.write(buf)
    return dst


def one(tool: str, path: Path, rev: str) -> dict[str, float]:
    import resource

    from wintriage.artifacts.base import ParseContext
    from wintriage.pipeline import run_file
    from wintriage.sinks import CsvSink

    kind, _, which = tool.partition(":")
    if which == "base":
        sys.path.insert(0, str(HERE))
        import _baseline

        mod = _baseline.load(rev, "usnjrnl")
    else:
        from wintriage.artifacts import usnjrnl as mod
    t0, c0 = time.perf_counter(), time.process_time()
    if kind == "rows":
        rows = sum(1 for _ in mod.parse(path, ParseContext("usnjrnl", str(path))))
    else:
        with tempfile.TemporaryDirectory() as d:
            sink = CsvSink(Path(d))
            rows = run_file(mod, path, sink, hash_input=False).records
            sink.close()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"wall": wall, "cpu": cpu, "rows": rows, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


TOOLS = (("rows:base", "@baseline parse() (rows)"), ("rows:new", "parse() (rows)"),
         ("csv:base", "@baseline -> CSV"), ("csv:new", "-> CSV"))


def main() -> None:
    argv = sys.argv[1:]
    n = 1 << 20
    rev = "0815280"
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
    dst = synth(src, Path(f"/tmp/synth_{n}.J"), n)
    print(f"synthetic $J: {dst} ({dst.stat().st_size:,} bytes, {n:,} records from {src.name}); baseline = git {rev}")
    print(f"{'step':28} {'records':>10} {'wall s':>8} {'cpu s':>8} {'rec/s cpu':>10} {'RSS MB':>7} {'vs baseline':>11}")
    got = {}
    for tool, _label in TOOLS:
        out = subprocess.run([sys.executable, __file__, "--baseline", rev, "--one", tool, str(dst)],
                             check=True, capture_output=True, text=True).stdout
        got[tool] = json.loads(out.strip().splitlines()[-1])
    for tool, label in TOOLS:
        r = got[tool]
        base = got[tool.split(":")[0] + ":base"]
        print(f"{label:28} {int(r['rows']):10,d} {r['wall']:8.2f} {r['cpu']:8.2f} {r['rows'] / r['cpu']:10,.0f} "
              f"{r['rss']:7.0f} {base['cpu'] / r['cpu']:10.2f}x")


if __name__ == "__main__":
    main()
