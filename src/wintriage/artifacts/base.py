"""The contract every artefact module follows.

An artefact module (``artifacts/<name>.py`` or a package) defines:

``NAME``        CLI token and artefact name, e.g. ``"mft"``.
``CATEGORY``    timeline category: ``file``, ``execution``, ``registry``, ``event``, ``web``, ``user``...
``TABLES``      ``{table: [(column, sqltype), ...]}``: every table it fills, full fidelity.
                Times are FILETIME ticks (INTEGER), see ``timeutil``.
``parse(path, ctx)``      yields ``Record(table, data)``; problems go to ``ctx.warn``; never raises
                          for bad input (the pipeline still isolates it with ``except Exception``).
``timeline(rec)``         optional: yields ``TimelineEvent`` for a record.
``CSV``                   optional: ``{table: CsvShape}``, the column shape analysts know (EZ tools, NLT).

Adding an artefact = its module + its test + one line in ``artifacts/sources.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, timezone
from pathlib import Path
from typing import Any, Protocol

from ..model import ParseWarning, Record, RowBatch, TimelineEvent
from ..timeutil import fmt, tz_label


class ParseContext:
    """What a parser gets besides its input: where warnings go, options, shared resources."""

    def __init__(
        self,
        artifact: str,
        source: str,
        *,
        user: str = "",
        host: str = "",
        options: dict[str, Any] | None = None,
        resources: dict[str, Any] | None = None,
        keep_warnings: int = 10_000,
    ) -> None:
        self.artifact = artifact
        self.source = source
        self.user = user
        self.host = host
        self.options = options or {}
        self.resources = resources if resources is not None else {}
        self.warnings: list[ParseWarning] = []
        self.warning_count = 0
        self.skipped = 0  # records the parser knows it could not decode
        self._keep = keep_warnings

    def warn(self, offset: int | None, reason: str, *, skipped: bool = True) -> None:
        """Record a problem at ``offset`` of the current source. ``skipped``: a record was lost."""
        self.warning_count += 1
        if skipped:
            self.skipped += 1
        if len(self.warnings) < self._keep:
            self.warnings.append(ParseWarning(self.artifact, self.source, offset, reason))

    def child(self, source: str) -> ParseContext:
        """Same artefact/options/resources, another source file (shares nothing mutable but resources)."""
        return ParseContext(
            self.artifact, source, user=self.user, host=self.host, options=self.options, resources=self.resources
        )


class ArtifactModule(Protocol):
    NAME: str
    CATEGORY: str
    TABLES: dict[str, list[tuple[str, str]]]

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Record]: ...


@dataclass(frozen=True, slots=True)
class CsvColumn:
    header: str  # may contain "{tz}" (replaced by e.g. "UTC+9"); time columns get " ({tz})" when tz != UTC
    get: Callable[[dict[str, Any], timezone], Any]


@dataclass(frozen=True)
class CsvShape:
    filename: str  # e.g. "MFTECmd_$MFT_Output.csv"
    columns: list[CsvColumn] = field(default_factory=list)
    # optional: tz -> a SELECT over the case table giving exactly ``row()``'s cells, in table order; exports from
    # the case store then run in SQLite (the columns still serve ``parse --csv`` and the headers)
    sql: Callable[[timezone], str] | None = None
    # optional: (columns of a RowBatch, tz) -> the CSV's columns, every cell a str (``parse --csv`` of batches);
    # or a str: the batch's lines already rendered and quoted, "\r\n"-terminated (or those lines as UTF-8 bytes,
    # or a ``_csvpart.FileRange`` of them: UTF-8 lines a worker process wrote to a file)
    batch: Callable[[dict[str, list[Any]], timezone], Any] | None = None
    # the table columns ``batch`` reads, when it reads only some (an export from the case store selects just these)
    batch_reads: tuple[str, ...] = ()

    def headers(self, tz: timezone = UTC) -> list[str]:
        label = tz_label(tz)
        out = []
        for c in self.columns:
            h = c.header
            if h.endswith("\x00"):  # a tcol without an explicit {tz}: name the zone only when not UTC
                h = h[:-1] if label == "UTC" else f"{h[:-1]} ({label})"
            out.append(h.replace("{tz}", label))
        return out

    def row(self, data: dict[str, Any], tz: timezone = UTC) -> list[Any]:
        return [c.get(data, tz) for c in self.columns]


def col(header: str, key: str | None = None, default: Any = "") -> CsvColumn:
    k = key or header

    def get(d: dict[str, Any], _tz: timezone) -> Any:
        v = d.get(k)
        return default if v is None else v

    return CsvColumn(header, get)


def tcol(header: str, key: str, digits: int = 7) -> CsvColumn:
    """A time column: FILETIME ticks -> ``yyyy-MM-dd HH:mm:ss.fffffff`` in the export zone.

    When the zone is not UTC the header says so, e.g. ``Created0x10 (UTC+9)``; ``{tz}`` in the header
    places the label explicitly (NLT: ``EventTime({tz})``).
    """
    h = header if "{tz}" in header else header + "\x00"

    def get(d: dict[str, Any], tz: timezone) -> Any:
        return fmt(d.get(key), tz, digits)

    return CsvColumn(h, get)


def bool_str(v: Any) -> str:
    """EZ tools write booleans as True/False."""
    if v is None or v == "":
        return ""
    return "True" if v else "False"


def to_json(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"), default=str)


def user_from_path(rel: str) -> str:
    """``Users/<name>/...`` -> ``<name>`` (case-insensitive), else ''."""
    parts = rel.replace("\\", "/").strip("/").split("/")
    if len(parts) >= 2 and parts[0].lower() in ("users", "documents and settings"):
        return parts[1]
    return ""


def flatten(items: Iterable[Record | RowBatch]) -> Iterator[Record]:
    """``parse_batches()``'s output as ``parse()`` gives it: one ``Record`` per row, in order."""
    for it in items:
        if type(it) is RowBatch:
            yield from it.records()
        else:
            yield it  # type: ignore[misc]


def iter_events(module: Any, rec: Record) -> Iterable[TimelineEvent]:
    fn = getattr(module, "timeline", None)
    return fn(rec) if fn is not None else ()


def group_times(times: Iterable[tuple[str, int | None]]) -> list[tuple[int, str]]:
    """Collapse named timestamps with equal values into one event each, mactime-style.

    ``[("M", t1), ("A", t1), ("C", t2)]`` -> ``[(t1, "MA"), (t2, "C")]`` (letters joined in given order).
    """
    seen: dict[int, list[str]] = {}
    for name, t in times:
        if t:
            seen.setdefault(t, []).append(name)
    return [(t, "".join(n) if all(len(x) == 1 for x in n) else ",".join(n)) for t, n in seen.items()]
