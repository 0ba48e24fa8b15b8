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


def run_job(out: Path, job: Job, tz: timezone, encoding: str, parts: list[str] | None = None) -> tuple[str, int]:
    """One output. ``parts``: the table's CSV was written while it was parsed (``EarlyCsv``), one file per source:
    their lines follow the header."""
    kind, module_name, table = job
    if parts is not None:
        return _join_parts(out, _shape(kind, module_name, table), parts, tz, encoding, table)
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


def _join_parts(out: Path, shape: Any, parts: list[str], tz: timezone, encoding: str, table: str) -> tuple[str, int]:
    import shutil

    from .store.export import CsvWriter, open_csv

    path = out / "csv" / shape.filename
    with open_csv(path, encoding) as fh:
        CsvWriter(fh).writerow(shape.headers(tz))
        fh.flush()
        for part in parts:
            if not os.path.exists(part):  # a source without rows
                continue
            with open(part, "rb") as src:
                src.readline()  # its own BOM and header
                shutil.copyfileobj(src, fh.buffer, 1 << 20)
    case = CaseReader(out / "case.sqlite")
    try:
        return path.name, case.count(table)
    finally:
        case.close()


# --- CSVs written while the case is parsed ----------------------------------------------------------------
_EARLY_MIN_BYTES = 16 << 20  # a journal this large (~170k records) is worth a process of its own
_EARLY_GRACE_S = 120.0  # how long the export waits for them once the parse is done (they usually finish before)


class EarlyCsv:
    """The journal's two tool CSVs (MFTECmd's ``$J`` and NLT's ``UsnJrnl``) of a large ``$J``, rendered by a forked
    process from the journal itself while this one parses it into the case store: ``analyze``'s main parse lane is
    the long one on a large case and leaves the other core idle for most of it, and rendering the parsed batches
    costs a few µs a record where exporting them from the store again afterwards costs ~12. The output is the
    store export's byte for byte (same rows, same renderers); a source without such a file (small, or its process
    failed) sends the whole table back to the store export."""

    TABLE = "usnjrnl"
    SHAPES = (("csv", "usnjrnl"), ("extra", "logfile"))

    def __init__(self, out: Path, tz: timezone, encoding: str) -> None:
        self.dir = out / ".early-csv"
        self.tz, self.encoding = tz, encoding
        self.jobs: list[tuple[str, Any, Path]] = []  # (source label, process, its folder)

    def start(self, artifact: str, path: Path, *, label: str, user: str, host: str, options: dict[str, Any] | None,
              resources: dict[str, Any]) -> None:
        """Called before the parse of each source of the main lane: a process for a large journal."""
        import multiprocessing as mp

        if artifact != self.TABLE or "fork" not in mp.get_all_start_methods():
            return
        try:
            if path.stat().st_size < _EARLY_MIN_BYTES:
                return
        except OSError:
            return
        d = self.dir / f"{len(self.jobs):04d}"
        d.mkdir(parents=True, exist_ok=True)
        proc = mp.get_context("fork").Process(  # fork: the $MFT resolver in ``resources`` is inherited, not pickled
            target=_early_job, args=(str(path), label, user, host, dict(options or {}), resources, str(d), self.tz,
                                     self.encoding),
            name="wintriage-early-csv", daemon=True)
        proc.start()
        self.jobs.append((label, proc, d))

    def parts(self, case: CaseReader) -> dict[Job, list[str]]:
        """Wait for the processes; the part files of each shape, in the order of the table's sources, when every
        source of the table has them (else nothing: the store export writes the table)."""
        import time

        deadline = time.monotonic() + _EARLY_GRACE_S
        for _label, proc, _d in self.jobs:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():  # far slower than the parse it runs beside: the store export writes the table
                proc.kill()
                proc.join()
        if not self.jobs or not case.has_table(self.TABLE):
            return {}
        labels = [r[0] for r in case.db.execute("SELECT path FROM sources WHERE artifact = ? ORDER BY id", (self.TABLE,))]
        others = case.db.execute(
            "SELECT COUNT(*) FROM usnjrnl WHERE source_id NOT IN (SELECT id FROM sources WHERE artifact = ?)",
            (self.TABLE,)).fetchone()[0]
        done = [(label, d) for label, proc, d in self.jobs if proc.exitcode == 0 and (d / "ok").exists()]
        if others or labels != [label for label, _d in done]:
            return {}
        out: dict[Job, list[str]] = {}
        for kind, module_name in self.SHAPES:
            shape = _shape(kind, module_name, self.TABLE)
            out[(kind, module_name, self.TABLE)] = [str(d / shape.filename) for _label, d in done]
        return out

    def cleanup(self) -> None:
        import shutil

        for _label, proc, _d in self.jobs:
            if proc.is_alive():
                proc.kill()
            proc.join()
        shutil.rmtree(self.dir, ignore_errors=True)


def _early_job(*args: Any) -> None:
    """The forked process's target: a failure ends it quietly with exit code 1 (the store export then writes
    the CSVs; the main process's own parse reports what is wrong with the journal)."""
    import sys

    try:
        _early_render(*args)
    except Exception:  # noqa: BLE001 - reported by the main parse; this only decides who writes the CSVs
        sys.exit(1)


def _early_render(path: str, label: str, user: str, host: str, options: dict[str, Any], resources: dict[str, Any],
                  d: str, tz: timezone, encoding: str) -> None:
    """The journal parsed as in the main process, its rows through both CSV shapes, then the ``ok`` mark."""
    from types import ModuleType

    from .artifacts.base import ParseContext
    from .model import RowBatch
    from .sinks import CsvSink

    module = artifacts.load(EarlyCsv.TABLE)
    ctx = ParseContext(module.NAME, label, user=user, host=host, options=options, resources=resources)
    writers = []
    for kind, module_name in EarlyCsv.SHAPES:
        shape = _shape(kind, module_name, EarlyCsv.TABLE)
        view = ModuleType(f"{module.__name__}.{kind}")  # the parser's tables, with this one shape as its CSV
        view.NAME, view.TABLES, view.CSV = module.NAME, module.TABLES, {EarlyCsv.TABLE: shape}  # type: ignore[attr-defined]
        writers.append((view, CsvSink(Path(d), tz, encoding)))
    for rec in module.parse_batches(Path(path), ctx):
        if rec.table != EarlyCsv.TABLE:
            continue
        for ns, sink in writers:
            if type(rec) is RowBatch:
                sink.add_batch(ns, rec, None)
            else:
                sink.add(ns, rec, None)
    for _ns, sink in writers:
        sink.close()
    (Path(d) / "ok").touch()


class OutputRun:
    """The outputs of a case as jobs in worker processes. ``start()`` submits the exports that only read parsed
    rows (tool CSVs, timeline, JSONL), so they can run while the analyzers write findings into the same (WAL)
    database; ``start_report()`` adds the report, which reads the findings; ``finish()`` waits for every job."""

    def __init__(self, out: Path, *, tz: timezone = UTC, encoding: str = "utf-8-sig", workers: int | None = None,
                 jsonl: bool = False, progress: Callable[[str, str], None] | None = None,
                 early: EarlyCsv | None = None) -> None:
        self.out, self.tz, self.encoding = out, tz, encoding
        case = CaseReader(out / "case.sqlite")
        try:
            todo = jobs(case, jsonl)
            self.parts = early.parts(case) if early is not None else {}
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
                name, n = run_job(self.out, j, self.tz, self.encoding, self.parts.get(j))
                self.counts[name] = n
            else:
                self.futures.append(self.pool.submit(run_job, self.out, j, self.tz, self.encoding, self.parts.get(j)))

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
