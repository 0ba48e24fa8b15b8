"""After parsing: analyzers, then the CSV shapes, the merged timeline, JSONL and the HTML report."""

from __future__ import annotations

from datetime import UTC, timezone
from pathlib import Path
from typing import Any

from . import artifacts
from .store.case import CaseReader
from .store.export import export_table, write_jsonl, write_timeline


def write_csvs(case: CaseReader, out_dir: Path, tz: timezone = UTC, encoding: str = "utf-8-sig") -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in artifacts.MODULES:
        try:
            module = artifacts.load(name)
        except ImportError:
            continue
        for table, shape in getattr(module, "CSV", {}).items():
            res = export_table(case, table, shape, out_dir, tz, encoding)
            if res:
                counts[res[0].name] = res[1]
    counts.update(write_extra_csvs(case, out_dir, tz, encoding))
    counts["timeline.csv"] = write_timeline(case, out_dir / "timeline.csv", tz, encoding)
    return counts


def write_extra_csvs(case: CaseReader, out_dir: Path, tz: timezone = UTC, encoding: str = "utf-8-sig") -> dict[str, int]:
    """Shapes a module offers for another module's table (``EXTRA_CSV``), e.g. NLT_UsnJrnl.csv over ``usnjrnl``."""
    counts: dict[str, int] = {}
    for name in artifacts.MODULES:
        try:
            module = artifacts.load(name)
        except ImportError:
            continue
        for table, shape in getattr(module, "EXTRA_CSV", {}).items():
            res = export_table(case, table, shape, out_dir, tz, encoding)
            if res:
                counts[res[0].name] = res[1]
    return counts


def write_outputs(out: Path, *, tz: timezone = UTC, encoding: str = "utf-8-sig", progress: Any = None,
                  summary: Any = None) -> None:
    case = CaseReader(out / "case.sqlite")
    try:
        if progress:
            progress("export", "CSV")
        write_csvs(case, out / "csv", tz, encoding)
        write_jsonl(case, out / "timeline.jsonl")
    finally:
        case.close()
    if progress:
        progress("report", "report.html")
    from .report.html import build

    build(out, tz)
