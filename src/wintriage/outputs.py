"""After parsing and analysis: the CSV shapes, the merged timeline, JSONL and the HTML report.

Every output only reads the finished case database, so they are independent jobs: they run in worker
processes (one per core) and the slowest single export sets the time, not their sum.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
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


def _lower_priority() -> None:
    nice = getattr(os, "nice", None)  # POSIX only
    if nice is not None:
        try:
            nice(5)
        except OSError:
            pass


class OutputRun:
    """The outputs of a case as jobs in worker processes. ``start()`` submits the exports that only read parsed
    rows (tool CSVs, timeline, JSONL), so they can run while the analyzers write findings into the same (WAL)
    database; ``start_report()`` adds the report, which reads the findings; ``finish()`` waits for every job."""

    def __init__(self, out: Path, *, tz: timezone = UTC, encoding: str = "utf-8-sig", workers: int | None = None,
                 jsonl: bool = False, progress: Callable[[str, str], None] | None = None) -> None:
        self.out, self.tz, self.encoding = out, tz, encoding
        case = CaseReader(out / "case.sqlite")
        try:
            todo = jobs(case, jsonl)
        finally:
            case.close()
        (out / "csv").mkdir(parents=True, exist_ok=True)
        if progress:
            progress("export", f"{len(todo)} outputs")
        self.now = [j for j in todo if j[0] != "report"]
        self.later = [j for j in todo if j[0] == "report"]
        workers = workers if workers is not None else min(len(todo), os.cpu_count() or 1, 4)
        # the exports run at a lower priority: this process's analyzers (and then the report and the indexes) are
        # the longer path, and the exports fill the core they leave
        self.pool = ProcessPoolExecutor(max_workers=workers, initializer=_lower_priority) if workers > 1 else None
        self.futures: list[Future[tuple[str, int]]] = []
        self.counts: dict[str, int] = {}

    def _run(self, todo: list[Job]) -> None:
        for j in todo:
            if self.pool is None:
                name, n = run_job(self.out, j, self.tz, self.encoding)
                self.counts[name] = n
            else:
                self.futures.append(self.pool.submit(run_job, self.out, j, self.tz, self.encoding))

    def start(self) -> OutputRun:
        self._run(self.now)
        return self

    def start_report(self) -> None:
        """Submit the jobs that read the findings (once the analyzers have committed them)."""
        self._run(self.later)
        self.later = []

    def finish(self) -> dict[str, int]:
        try:
            self.start_report()
            for f in self.futures:
                name, n = f.result()
                self.counts[name] = n
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True)
        return self.counts


def write_extra_csvs(case: CaseReader, out_dir: Path, tz: timezone = UTC, encoding: str = "utf-8-sig") -> dict[str, int]:
    """Shapes a module offers for another module's table (``EXTRA_CSV``), e.g. NLT_UsnJrnl.csv over ``usnjrnl``."""
    counts: dict[str, int] = {}
    for kind, name, table in jobs(case):
        if kind == "extra":
            res = export_table(case, table, _shape(kind, name, table), out_dir, tz, encoding)
            if res:
                counts[res[0].name] = res[1]
    return counts
