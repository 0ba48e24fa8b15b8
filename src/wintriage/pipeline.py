"""The pipeline, end to end:

evidence (E01 / raw / split raw / a folder of extracted files)
  -> volumes -> NTFS -> triage collection (artifacts/sources.py decides which files)
  -> parsers (one module per artefact, each isolated) -> case store (tables + timeline)
  -> analyzers (findings, answers) -> outputs (CSV shapes, JSONL, HTML report)
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

from . import artifacts
from .artifacts.base import ParseContext, iter_events, user_from_path
from .artifacts.sources import SOURCES, match
from .model import ParseWarning, RowBatch
from .sinks import Sink, StoreSink
from .store.case import CaseWriter

Progress = Callable[[str, str], None]


def _quiet(stage: str, detail: str) -> None:
    return None


@dataclass
class SourceResult:
    artifact: str
    path: str
    records: int = 0
    warnings: int = 0
    skipped: int = 0
    seconds: float = 0.0
    status: str = "ok"
    error: str = ""


@dataclass
class RunSummary:
    sources: list[SourceResult] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    case_db: str = ""
    warnings: list[ParseWarning] = field(default_factory=list)

    def by_artifact(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for s in self.sources:
            a = out.setdefault(s.artifact, {"files": 0, "records": 0, "warnings": 0, "skipped": 0, "seconds": 0.0, "failed": 0})
            a["files"] += 1
            a["records"] += s.records
            a["warnings"] += s.warnings
            a["skipped"] += s.skipped
            a["seconds"] += s.seconds
            a["failed"] += s.status == "failed"
        return out


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def run_file(
    module: ModuleType,
    path: Path,
    sink: Sink,
    *,
    label: str | None = None,
    user: str = "",
    host: str = "",
    volume: str = "",
    options: dict[str, Any] | None = None,
    resources: dict[str, Any] | None = None,
    hash_input: bool = True,
    sha256: str | None = None,
) -> SourceResult:
    """Parse one file into ``sink``. This is the isolation boundary: nothing escapes it."""
    label = label or str(path)
    ctx = ParseContext(module.NAME, label, user=user, host=host, options=options, resources=resources)
    res = SourceResult(module.NAME, label)
    t0 = time.perf_counter()
    try:
        size = path.stat().st_size
        digest = sha256 or (sha256_file(path) if hash_input else None)
    except OSError as e:
        size, digest = None, None
        ctx.warn(None, f"cannot stat/read input: {e}")
    sid = sink.begin_source(
        module, label, local_path=str(path), volume=volume, user=user, size=size, sha256=digest,
        parser=module.__name__,
    )
    n = 0
    # events are built in Python only where the sink keeps them and the module has no TIMELINE_SQL for the table
    events = sink.wants_events
    # (a MultiSink's StoreSink runs TIMELINE_SQL too: Python events would add the same rows twice)
    leaves = getattr(sink, "sinks", (sink,))
    by_sql = set(getattr(module, "TIMELINE_SQL", {})) if all(
        isinstance(s, StoreSink) for s in leaves if s.wants_events) else set()
    # a module may name the only tables its timeline() makes events for: no Record per row of the others' batches
    py_tables = getattr(module, "TIMELINE_TABLES", None)
    try:
        parse_batches = getattr(module, "parse_batches", None)
        for rec in (module.parse(path, ctx) if parse_batches is None else parse_batches(path, ctx)):
            if type(rec) is RowBatch:  # many rows at once; Python events only for tables without TIMELINE_SQL
                first = sink.add_batch(module, rec, sid)
                n += len(rec)
                if events and rec.table not in by_sql and (py_tables is None or rec.table in py_tables):
                    for rid, r in enumerate(rec.records(), first):
                        for ev in iter_events(module, r):
                            sink.event(module, ev, r.table, rid, sid, host)
                continue
            rid = sink.add(module, rec, sid)
            n += 1
            if events and rec.table not in by_sql:
                for ev in iter_events(module, rec):
                    sink.event(module, ev, rec.table, rid, sid, host)
    except Exception as e:  # noqa: BLE001 - the per-parser isolation boundary; recorded as a warning
        res.status = "failed"
        res.error = f"{type(e).__name__}: {e}"
        ctx.warn(None, f"parser stopped: {res.error}")
    res.records = n
    res.warnings = ctx.warning_count
    res.skipped = ctx.skipped
    res.seconds = time.perf_counter() - t0
    if res.status == "ok" and res.warnings:
        res.status = "warnings"
    sink.end_source(
        sid, ctx.warnings, records=n, warnings=res.warnings, skipped=res.skipped, seconds=round(res.seconds, 4),
        status=res.status,
    )
    return res


def discover(root: Path) -> Iterator[tuple[str, str, Path]]:
    """(artifact, volume-relative path, local path) for every file under ``root`` that a parser takes,
    in source-table order (so ``mft`` comes first)."""
    root = Path(root)
    rels: list[tuple[str, Path]] = []
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            rels.append((p.relative_to(root).as_posix(), p))
    rels.sort()
    taken: set[str] = set()
    for src in SOURCES:
        for rel, p in rels:
            if rel in taken:
                continue
            if any(match(rel, pat) for pat in src.patterns):
                taken.add(rel)
                yield src.artifact, rel, p


# Parsers that need the volume's $MFT resolver stay in the main process; the rest form a second lane that a
# worker process parses into its own database, merged afterwards (2 cores, ~2x). Event logs and hives need
# nothing from the $MFT: each goes to the lane with less estimated work so far, largest first (on a large journal
# the main lane is the long one, on a small case the hives). The split depends only on the input's sizes, so the
# same evidence always gives the same row ids. A module's ``warm(options)`` loads what every lane would load
# (the registry batch file) once, before the fork.
MAIN_LANE = frozenset({"mft", "usnjrnl", "logfile"})
EITHER_LANE = frozenset({"evtx", "registry"})
# rough CPU seconds per MiB of input on this kind of machine (only their ratios matter); a hive's transaction
# logs cost more per byte than the hive (their pages are hashed and replayed)
_COST_PER_MIB = {"usnjrnl": 0.15, "mft": 0.05, "logfile": 0.01, "registry": 0.06, "evtx": 0.1}
_HIVE_LOG_COST_PER_MIB = 0.2
_SMALL_SOURCE_COST = 0.02  # anything else: a few KB to a few MB of SQLite, prefetch, LNK...


def _cost(item: tuple[str, str, Path]) -> float:
    artifact, _rel, local = item
    mib = _size(local) / (1 << 20)
    cost = mib * _COST_PER_MIB.get(artifact, 0.0) + (0.0 if artifact in _COST_PER_MIB else _SMALL_SOURCE_COST)
    if artifact == "registry":
        for ext in (".LOG1", ".LOG2", ".log1", ".log2"):
            cost += _size(local.with_name(local.name + ext)) / (1 << 20) * _HIVE_LOG_COST_PER_MIB
    return cost


def split_lanes(items: list[tuple[str, str, Path]]) -> tuple[list[tuple[str, str, Path]], list[tuple[str, str, Path]]]:
    """(main lane, second lane), each in discovery order: the main lane has the $MFT-bound sources, the second the
    others, and each log or hive goes, largest first, to the lane with less estimated work at that point."""
    cost = [_cost(it) for it in items]
    main = {i for i, it in enumerate(items) if it[0] in MAIN_LANE}
    side = {i for i, it in enumerate(items) if it[0] not in MAIN_LANE and it[0] not in EITHER_LANE}
    load = [sum(cost[i] for i in main), sum(cost[i] for i in side)]
    either = sorted((i for i, it in enumerate(items) if it[0] in EITHER_LANE), key=lambda i: (-cost[i], i))
    for i in either:
        lane = 0 if load[0] <= load[1] else 1
        (main if lane == 0 else side).add(i)
        load[lane] += cost[i]
    return [items[i] for i in sorted(main)], [items[i] for i in sorted(side)]


def _parse_items(
    items: Iterable[tuple[str, str, Path]], sink: Sink, *, host: str, volume: str, options: dict[str, Any] | None,
    progress: Progress, label_prefix: str, hashes: dict[str, str] | None, early: Any = None,
) -> list[SourceResult]:
    resources: dict[str, Any] = {}
    results = []
    for artifact, rel, local in items:
        try:
            module = artifacts.load(artifact)
        except ImportError as e:  # a parser that cannot load is a failed source, not a failed run
            results.append(SourceResult(artifact, label_prefix + rel, status="failed", error=f"parser unavailable: {e}"))
            continue
        progress("parse", f"{artifact}: {rel}")
        if early is not None:  # ``outputs.EarlyCsv``: a large journal's CSVs rendered beside its parse
            early.start(artifact, local, label=label_prefix + rel, user=user_from_path(rel), host=host, options=options,
                        resources=resources)
        results.append(
            run_file(
                module, local, sink, label=label_prefix + rel, user=user_from_path(rel), host=host, volume=volume,
                options=options, resources=resources, sha256=(hashes or {}).get(os.path.abspath(local)),
            )
        )
    return results


def _worker_lane(args: tuple[Any, ...]) -> list[SourceResult]:
    """A worker process: parse one lane into its own case database (no indexes: it is merged)."""
    items, part, host, volume, options, label_prefix, hashes = args
    store = CaseWriter(Path(part))
    try:
        return _parse_items(items, StoreSink(store), host=host, volume=volume, options=options, progress=_quiet,
                            label_prefix=label_prefix, hashes=hashes)
    finally:
        store.close(index=False)


def parse_folder(
    root: Path,
    sink: Sink,
    *,
    host: str = "",
    volume: str = "",
    only: set[str] | None = None,
    options: dict[str, Any] | None = None,
    progress: Progress = _quiet,
    label_prefix: str = "",
    hashes: dict[str, str] | None = None,
    parallel: bool = False,
    early: Any = None,
) -> list[SourceResult]:
    """Parse a folder that mirrors a volume (a triage collection, or files an analyst exported).

    ``parallel`` (a case store sink only): the artefacts outside ``MAIN_LANE`` are parsed by a worker process
    at the same time and merged into the store; results and rows are the same as a sequential run. ``early``
    (``outputs.EarlyCsv``): told of every source of the main lane before its parse."""
    items = [(a, rel, local) for a, rel, local in discover(root) if not only or a in only]
    kw: dict[str, Any] = dict(host=host, volume=volume, options=options, label_prefix=label_prefix, hashes=hashes)
    main, side = split_lanes(items)
    if not (parallel and isinstance(sink, StoreSink) and side and main):
        return _parse_items(items, sink, progress=progress, early=early, **kw)
    import multiprocessing as mp
    import tempfile
    from concurrent.futures import ProcessPoolExecutor

    for artifact in sorted({a for a, _rel, _local in items}):  # what both lanes would load: once, before the fork
        warm = getattr(artifacts.load(artifact), "warm", None)
        if warm is not None:
            warm(options or {})
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with tempfile.TemporaryDirectory(prefix="wintriage-lane-") as tmp:
        part = Path(tmp) / "lane.sqlite"
        with ProcessPoolExecutor(1, mp_context=ctx) as pool:
            fut = pool.submit(_worker_lane, (side, str(part), host, volume, options, label_prefix, hashes))
            results = _parse_items(main, sink, progress=progress, early=early, **kw)
            progress("parse", f"waiting for {len(side)} sources in the second lane")
            side_results = fut.result()
        sink.store.merge(part)
    return results + side_results


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return 0


def manifest_hashes(files_dir: Path) -> dict[str, str]:
    """SHA-256 of every collected file, from the collection manifest (so inputs are not hashed twice)."""
    import csv

    from .evidence.collect import MANIFEST

    out: dict[str, str] = {}
    p = Path(files_dir) / MANIFEST
    if p.exists():
        with open(p, encoding="utf-8-sig", newline="") as fh:
            for row in csv.DictReader(fh):
                if row.get("ExtractedPath") and row.get("SHA256"):
                    out[os.path.abspath(Path(files_dir) / row["ExtractedPath"])] = row["SHA256"]
    return out


def _preload(options: dict[str, Any]) -> None:
    """Import what the parse stage and the analyzers will import (every parser module, with its ``warm``, and the
    analyzers), so that it is done while the evidence is being read. Errors are left to the stages that use
    them."""
    for name in artifacts.MODULES:
        try:
            warm = getattr(artifacts.load(name), "warm", None)
            if warm is not None:
                warm(options)
        except Exception:  # noqa: BLE001, S112 - reported when the parse stage loads the module itself
            continue
    import importlib

    from . import analyzers

    for mod in (*(m for m, _fn in analyzers.FINDING_ANALYZERS), ".answers", "..outputs"):
        try:
            importlib.import_module(mod, analyzers.__name__)
        except Exception:  # noqa: BLE001, S112 - reported when the analyzers run
            continue
    if not options.get("sigma"):
        try:
            from .analyzers.sigma import bundled_rules

            bundled_rules()
        except Exception:  # noqa: BLE001, S110 - the sigma analyzer reports it
            pass


def _collect_child(evidence: Path, out_dir: Path, conn: Any) -> None:
    """The collection in a forked process: its result (or its exception) goes back through ``conn``."""
    from .evidence.collect import collect_evidence

    try:
        res: tuple[str, Any] = ("ok", collect_evidence(evidence, out_dir))
    except BaseException as e:  # noqa: BLE001 - handed to the parent, which raises it
        res = ("err", e)
    try:
        conn.send(res)
    except Exception:  # noqa: BLE001 - an exception that does not pickle: its text
        conn.send(("err", RuntimeError(f"{type(res[1]).__name__}: {res[1]}")))
    conn.close()


def _collect(evidence: Path, out_dir: Path, progress: Progress, options: dict[str, Any]) -> list[Any]:
    """``collect_evidence``. From an image, where it reads for a while (inflating, NTFS, hashing, writing), it runs
    in a forked process while this one imports the parsers and analyzers (two cores: their ~0.3 s are hidden
    behind the reading). A folder is used in place: nothing to overlap."""
    import multiprocessing as mp

    from .evidence.collect import collect_evidence

    if evidence.is_dir() or "fork" not in mp.get_all_start_methods():
        return collect_evidence(evidence, out_dir, progress=progress)
    progress("collect", f"reading {evidence.name}")
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_collect_child, args=(evidence, out_dir, send), name="wintriage-collect", daemon=True)
    child.start()
    send.close()
    try:
        _preload(options)
        try:
            status, value = recv.recv()
        except EOFError:
            child.join()
            raise RuntimeError(f"evidence collection stopped without a result (exit code {child.exitcode})") from None
    finally:
        recv.close()
        child.join()
    if status != "ok":
        raise value
    return list(value)


def analyze(
    evidence: Path,
    out: Path,
    *,
    tz: timezone = UTC,
    options: dict[str, Any] | None = None,
    progress: Progress = _quiet,
    encoding: str = "utf-8-sig",
    jsonl: bool = False,
) -> RunSummary:
    """``wintriage analyze``: evidence -> case/case.sqlite, case/csv/*, case/report.html (+ timeline.jsonl)."""
    from .outputs import EarlyCsv, OutputRun

    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = RunSummary(case_db=str(out / "case.sqlite"))
    collected = _collect(Path(evidence), out / "files", progress, options or {})
    store = CaseWriter(out / "case.sqlite")  # after the collection: no database connection crosses its fork
    sink = StoreSink(store)
    summary.volumes = [c.info for c in collected]
    store.set_meta("evidence", str(evidence))
    store.set_meta("volumes", summary.volumes)
    hashes = manifest_hashes(out / "files")
    early = EarlyCsv(out, tz, encoding)
    try:
        for vol in collected:
            summary.sources += parse_folder(
                vol.root, sink, host=vol.info.get("host", ""), volume=vol.info.get("name", ""), options=options,
                progress=progress, label_prefix=vol.info.get("prefix", ""), hashes=hashes, parallel=True, early=early,
            )
            store.commit()
        store.set_meta("run", {"seconds_parse": round(time.perf_counter() - t0, 3)})
        # the exports read only parsed rows: they run in worker processes while this process runs the analyzers
        # (findings go into the same WAL database), then submits the report (it reads the findings) and builds the
        # explorer's indexes and full-text index; the journal mode goes back to DELETE once every reader is done
        store.index_timeline_time()
        outputs = OutputRun(out, tz=tz, encoding=encoding, progress=progress, jsonl=jsonl, early=early).start()
    except BaseException:
        early.cleanup()
        raise
    try:
        progress("analyze", "findings and answers")
        from .analyzers import run_all

        run_all(store, options)
        store.commit()
        outputs.start_report()
        store.build_indexes()
    finally:
        try:
            outputs.finish()
        finally:
            early.cleanup()
    store.close(index=False)
    summary.seconds = time.perf_counter() - t0
    return summary
