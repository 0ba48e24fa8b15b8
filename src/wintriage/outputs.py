"""After parsing and analysis: the CSV shapes, the merged timeline, JSONL and the HTML report.

Every output only reads the finished case database, so they are independent jobs: they run in worker
processes (one per core) and the slowest single export sets the time, not their sum.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, timezone
from pathlib import Path
from typing import Any

from . import artifacts
from .store.case import CaseReader
from .store.export import export_table, write_jsonl, write_timeline

# (kind, module name, table) jobs; kinds: "csv" (module.CSV), "extra" (module.EXTRA_CSV), "timeline", "jsonl", "report"
Job = tuple[str, str, str]


def _shape(kind: str, module_name: str, table: str) -> Any:
    mod = artifacts.load(module_name)
    return (mod.CSV if kind == "csv" else mod.EXTRA_CSV)[table]


def jobs(case: CaseReader, jsonl: bool = False) -> list[Job]:
    out: list[tuple[int, Job]] = []
    for name in artifacts.MODULES:
        try:
            module = artifacts.load(name)
        except ImportError:
            continue
        for kind, attr in (("csv", "CSV"), ("extra", "EXTRA_CSV")):
            for table in getattr(module, attr, {}):
                if case.has_table(table):
                    out.append((case.count(table), (kind, name, table)))
    n = case.count("timeline")
    out += [(n, ("timeline", "", "timeline")), (n // 4, ("report", "", ""))]
    if jsonl:
        out.append((n, ("jsonl", "", "timeline")))
    out.sort(key=lambda x: -x[0])  # biggest first: better packing on few workers
    return [j for _n, j in out]


def run_job(out: Path, job: Job, tz: timezone, encoding: str) -> tuple[str, int]:
    kind, module_name, table = job
    if kind == "report":
        from .report.html import build

        return build(out, tz).name, 1
    case = CaseReader(out / "case.sqlite")
    try:
        if kind == "timeline":
            return "timeline.csv", write_timeline(case, out / "csv" / "timeline.csv", tz, encoding)
        if kind == "jsonl":
            return "timeline.jsonl", write_jsonl(case, out / "timeline.jsonl")
        res = export_table(case, table, _shape(kind, module_name, table), out / "csv", tz, encoding)
        return (res[0].name, res[1]) if res else (table, 0)
    finally:
        case.close()


def write_outputs(out: Path, *, tz: timezone = UTC, encoding: str = "utf-8-sig", progress: Callable[[str, str], None] | None = None,
                  summary: Any = None, workers: int | None = None, jsonl: bool = False) -> dict[str, int]:
    case = CaseReader(out / "case.sqlite")
    try:
        todo = jobs(case, jsonl)
    finally:
        case.close()
    (out / "csv").mkdir(parents=True, exist_ok=True)
    if progress:
        progress("export", f"{len(todo)} outputs")
    workers = workers if workers is not None else min(len(todo), os.cpu_count() or 1, 4)
    counts: dict[str, int] = {}
    if workers <= 1:
        for j in todo:
            name, n = run_job(out, j, tz, encoding)
            counts[name] = n
        return counts
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for name, n in pool.map(run_job, [out] * len(todo), todo, [tz] * len(todo), [encoding] * len(todo)):
            counts[name] = n
    return counts


def write_csvs(case: CaseReader, out_dir: Path, tz: timezone = UTC, encoding: str = "utf-8-sig") -> dict[str, int]:
    """Every CSV shape (tool-shaped per artefact, plus the merged timeline) for an open case, in this process."""
    counts: dict[str, int] = {}
    for kind, name, table in jobs(case):
        if kind in ("csv", "extra"):
            res = export_table(case, table, _shape(kind, name, table), out_dir, tz, encoding)
            if res:
                counts[res[0].name] = res[1]
    counts["timeline.csv"] = write_timeline(case, out_dir / "timeline.csv", tz, encoding)
    return counts


def write_extra_csvs(case: CaseReader, out_dir: Path, tz: timezone = UTC, encoding: str = "utf-8-sig") -> dict[str, int]:
    """Shapes a module offers for another module's table (``EXTRA_CSV``), e.g. NLT_UsnJrnl.csv over ``usnjrnl``."""
    counts: dict[str, int] = {}
    for kind, name, table in jobs(case):
        if kind == "extra":
            res = export_table(case, table, _shape(kind, name, table), out_dir, tz, encoding)
            if res:
                counts[res[0].name] = res[1]
    return counts
