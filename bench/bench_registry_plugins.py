"""Registry plugins: ours (libregf) vs regipy's plugins (pure Python) on the same hives, one run.

    python bench/bench_registry_plugins.py [TESTDATA_DIR]

Prints, per plugin: entries (ours / regipy), seconds (ours / regipy, best of 3, hive open included for
both: each side opens its own parser once per run), and the speed ratio regipy/ours.
"""

from __future__ import annotations

import functools
import importlib
import logging
import lzma
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pyregf

from wintriage.artifacts.base import ParseContext
from wintriage.artifacts.registry.hive import HiveInfo

TD = Path(
    sys.argv[1]
    if len(sys.argv) > 1
    else os.environ.get("WINTRIAGE_TESTDATA", Path(__file__).resolve().parents[2] / "shared" / "testdata")
)

CASES = [  # (hive file, hive type, our plugin, regipy module, regipy class)
    ("registry/regipy/SYSTEM.xz", "SYSTEM", "shimcache", "regipy.plugins.system.shimcache", "ShimCachePlugin"),
    ("registry/regipy/SYSTEM.xz", "SYSTEM", "computername", "regipy.plugins.system.computer_name", "ComputerNamePlugin"),
    ("registry/regipy/SYSTEM.xz", "SYSTEM", "usb", "regipy.plugins.system.usb_devices", "USBDevicesPlugin"),
    ("registry/regipy/SYSTEM.xz", "SYSTEM", "mounteddevices", "regipy.plugins.system.mountdev", "MountedDevicesPlugin"),
    ("registry/regipy/SYSTEM.xz", "SYSTEM", "timezone", "regipy.plugins.system.timezone_data", "TimezoneDataPlugin"),
    ("registry/regipy/SYSTEM.xz", "SYSTEM", "services", "regipy.plugins.system.services", "ServicesPlugin"),
    ("registry/regipy/SYSTEM.xz", "SYSTEM", "netinterfaces", "regipy.plugins.system.network_data", "NetworkDataPlugin"),
    ("registry/regipy/NTUSER.DAT.xz", "NTUSER", "userassist", "regipy.plugins.ntuser.user_assist", "UserAssistPlugin"),
    ("registry/regipy/NTUSER.DAT.xz", "NTUSER", "wordwheelquery", "regipy.plugins.ntuser.word_wheel_query", "WordWheelQueryPlugin"),
    ("registry/regipy/UsrClass.dat.xz", "USRCLASS", "shellbags", "regipy.plugins.usrclass.shellbags_usrclass", "ShellBagUsrclassPlugin"),
    ("registry/regipy/amcache.hve.xz", "AMCACHE", "amcache", "regipy.plugins.amcache.amcache", "AmCachePlugin"),
    ("registry/regipy/SAM.xz", "SAM", "samusers", "regipy.plugins.sam.samparse", "SAMParsePlugin"),
]  # fmt: skip


def best(fn: Callable[[], int], n: int = 3) -> tuple[int, float]:
    out, times = 0, []
    for _ in range(n):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return out, min(times)


def run_ours(mod: ModuleType, path: Path, ht: str) -> int:
    f = pyregf.file()
    f.open(str(path))
    ctx = ParseContext(mod.NAME, str(path))
    n = sum(1 for _ in mod.run(f.root_key, HiveInfo(str(path), ht), ctx))
    f.close()
    return n


def run_regipy(cls: Any, path: Path) -> int:
    from regipy.registry import RegistryHive

    p = cls(RegistryHive(str(path)), as_json=True)
    p.run()
    e = p.entries
    return len(e) if isinstance(e, list | dict) else 0


def main() -> None:
    logging.disable(logging.CRITICAL)  # regipy logs every undecodable value
    tmp = Path(tempfile.mkdtemp(prefix="bench_regplug_"))
    files: dict[str, Path] = {}
    print(
        f"{'plugin':16s} {'hive':10s} {'ours':>7s} {'regipy':>7s} {'ours s':>8s} {'regipy s':>9s} {'ratio':>7s}"
    )
    for rel, ht, ours, rmod, rcls in CASES:
        if rel not in files:
            p = tmp / Path(rel).name.removesuffix(".xz")
            p.write_bytes(lzma.decompress((TD / rel).read_bytes()))
            files[rel] = p
        path = files[rel]
        mod = importlib.import_module(f"wintriage.artifacts.registry.plugins.{ours}")

        cls: Any = getattr(importlib.import_module(rmod), rcls)
        run_o = functools.partial(run_ours, mod, path, ht)
        run_r = functools.partial(run_regipy, cls, path)

        n1, t1 = best(run_o)
        try:
            n2, t2 = best(run_r)
        except Exception as e:  # noqa: BLE001 - a peer failure is a result, printed
            print(f"{ours:16s} {ht:10s} {n1:7d} {'error':>7s} {t1:8.3f} {type(e).__name__:>9s}")
            continue
        print(f"{ours:16s} {ht:10s} {n1:7d} {n2:7d} {t1:8.3f} {t2:9.3f} {t2 / t1 if t1 else 0:6.1f}x")


if __name__ == "__main__":
    main()
