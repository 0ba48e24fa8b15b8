"""Core value types shared by every layer.

Times inside the tool are FILETIME ticks: 100 ns intervals since 1601-01-01 UTC, as plain ``int``.
That keeps full NTFS/registry/EVTX precision and costs nothing in hot loops; ``timeutil`` turns
them into aware datetimes or text only at the edges.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ParseWarning:
    """A problem met while reading evidence. Parsing goes on after it."""

    artifact: str
    source: str
    offset: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class Record:
    """One row of an artefact table. ``table`` names the case-store table it belongs to."""

    table: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RowBatch:
    """Many rows of one table, by column: ``columns[name][i]`` is row ``i``'s cell (plain Python values).

    Parsers of artefacts with millions of uniform records decode them in bulk and yield these from
    ``parse_batches()`` instead of a ``Record`` per row: the store inserts the columns with one ``executemany``
    and a CSV shape with a ``batch`` renderer formats whole columns at once. Columns the table does not declare
    are ignored by the store (they may carry CSV-only cells, e.g. ``source_file``)."""

    table: str
    columns: dict[str, list[Any]]

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()), ()))

    def records(self) -> Iterator[Record]:
        names = list(self.columns)
        table = self.table
        for row in zip(*self.columns.values(), strict=True):
            yield Record(table, dict(zip(names, row, strict=True)))


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One point on the unified timeline (one per record and distinct timestamp)."""

    ts: int  # FILETIME ticks, UTC
    ts_desc: str  # which timestamp(s): e.g. "SI MACB", "Last Run", "Visit"
    path: str
    summary: str
    user: str = ""


@dataclass(frozen=True, slots=True)
class EvidenceRef:
    """A pointer from a finding to the row that proves it."""

    table: str
    row_id: int
    note: str = ""


@dataclass(frozen=True, slots=True)
class Finding:
    analyzer: str
    title: str
    severity: str  # info | low | medium | high | critical
    ts: int | None
    description: str
    evidence: tuple[EvidenceRef, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
