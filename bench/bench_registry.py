"""Registry: full walk of every key and value + the default batch on regipy's SYSTEM hive, side by side with
a plain libregf walk and with regipy (pure Python); transaction-log replay time per dirty hive.

Run by hand:  python bench/bench_registry.py [--no-regipy] [--repeat 3]
regipy is a benchmark peer only (``pip install regipy``); it is not a wintriage dependency.
Times are CPU seconds (process_time) because the bench machine is shared; wall seconds are shown too.
"""

from __future__ import annotations

import argparse
import io
import lzma
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyregf

from wintriage.artifacts import registry as R
from wintriage.artifacts.base import ParseContext
from wintriage.artifacts.registry.batch import DEFAULT_BATCH, load_batch, run_batch
from wintriage.artifacts.registry.hive import iter_values, open_hive
from wintriage.artifacts.registry.replay import replay

TD = Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "registry"


def unxz(src: Path, dst_dir: Path, name: str | None = None) -> Path:
    out = dst_dir / (name or src.name[:-3])
    if not out.exists():
        with lzma.open(src) as fi:
            out.write_bytes(fi.read())
    return out


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    best_cpu = best_wall = float("inf")
    res: Any = None
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        res = fn()
        best_cpu = min(best_cpu, time.process_time() - c0)
        best_wall = min(best_wall, time.perf_counter() - w0)
    return best_cpu, best_wall, res


def plain_libregf(path: Path) -> tuple[int, int]:
    f = pyregf.file()
    f.open_file_object(io.BytesIO(path.read_bytes()))
    nk = nv = 0
    stack = [f.get_root_key()]
    while stack:
        k = stack.pop()
        nk += 1
        for v in k.values:
            nv += 1
            _ = v.data
        stack.extend(k.sub_keys)
    return nk, nv


def ours_walk_and_batch(path: Path) -> tuple[int, int, int]:
    ctx = ParseContext("registry", str(path))
    h = open_hive(path, ctx, logs=[])
    assert h is not None
    nk = nv = 0
    for _p, k in h.walk():
        nk += 1
        for _v in iter_values(k, ctx):
            nv += 1
    rows = sum(1 for _ in run_batch(load_batch(DEFAULT_BATCH), h, ctx))
    return nk, nv, rows


def ours_parse(path: Path) -> int:
    ctx = ParseContext("registry", str(path))
    return sum(1 for _ in R.parse(path, ctx))


def regipy_walk(path: Path) -> tuple[int, int]:
    from regipy.registry import RegistryHive

    h = RegistryHive(str(path))
    nk = nv = 0
    for sk in h.recurse_subkeys(as_json=False):
        nk += 1
        nv += len(sk.values or [])
    return nk, nv


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-regipy", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="reg-bench-"))
    system = unxz(TD / "regipy" / "SYSTEM.xz", tmp)

    print(f"SYSTEM hive: {system.stat().st_size:,} bytes")
    rows: list[tuple[str, float, float, str]] = []
    c, w, r = timed(lambda: plain_libregf(system), a.repeat)
    base = c
    rows.append(("plain libregf walk (keys + value data)", c, w, f"{r[0]:,} keys / {r[1]:,} values"))
    c, w, r = timed(lambda: ours_walk_and_batch(system), a.repeat)
    rows.append(("wintriage walk + default batch", c, w, f"{r[0]:,} keys / {r[1]:,} values, {r[2]:,} batch rows"))
    c, w, r = timed(lambda: ours_parse(system), a.repeat)
    rows.append(("wintriage parse() (walk, deleted cells, plugins, batch)", c, w, f"{r:,} records"))
    if not a.no_regipy:
        try:
            c, w, r = timed(lambda: regipy_walk(system), 1)
            rows.append(("regipy recurse_subkeys", c, w, f"{r[0]:,} keys / {r[1]:,} values"))
        except ImportError:
            print("regipy not installed: pip install regipy (bench peer only)")
    print(f"\n{'tool':58} {'cpu s':>8} {'wall s':>8} {'x libregf':>10}  result")
    for name, c, w, note in rows:
        print(f"{name:58} {c:8.3f} {w:8.3f} {c / base:10.2f}  {note}")

    print("\nReplay (in memory, Marvin32-checked) per dirty hive:")
    rg = TD / "regipy"
    cases = [
        ("regipy SYSTEM_B", unxz(rg / "SYSTEM_B.xz", tmp), [unxz(rg / f"SYSTEM_B.{n}.xz", tmp) for n in ("LOG1", "LOG2")]),
        ("regipy transactions_NTUSER", unxz(rg / "transactions_NTUSER.DAT.xz", tmp),
         [unxz(rg / f"transactions_ntuser.dat.{n}.xz", tmp) for n in ("log1", "log2")]),
        ("regipy UsrClass", unxz(rg / "UsrClass.dat.xz", tmp), [unxz(rg / f"UsrClass.dat.{n}.xz", tmp) for n in ("LOG1", "LOG2")]),
        ("yarp NewDirtyHive1", TD / "yarp/NewDirtyHive1/NewDirtyHive",
         [TD / "yarp/NewDirtyHive1" / f"NewDirtyHive.{n}" for n in ("LOG1", "LOG2")]),
        ("yarp OldDirtyHive", TD / "yarp/OldDirtyHive/OldDirtyHive",
         [TD / "yarp/OldDirtyHive" / f"OldDirtyHive.{n}" for n in ("LOG1", "LOG2")]),
    ]  # fmt: skip
    print(f"{'hive':30} {'log bytes':>10} {'entries':>8} {'pages':>6} {'final seq':>9} {'cpu s':>7} {'wall s':>7} {'MB/s':>6}")
    for name, hive, logs in cases:
        raw = hive.read_bytes()
        lg = [(p.name, p.read_bytes()) for p in logs]
        size = sum(len(d) for _n, d in lg)
        c, w, res = timed(lambda raw=raw, lg=lg: replay(raw, lg), a.repeat)  # type: ignore[misc]
        print(f"{name:30} {size:10,} {res.entries:8} {res.pages:6} {res.final_seq:9} {c:7.3f} {w:7.3f} "
              f"{size / 1e6 / c if c else 0:6.1f}")


if __name__ == "__main__":
    main()
