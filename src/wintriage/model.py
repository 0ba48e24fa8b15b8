"""Core value types shared by every layer.

Times inside the tool are FILETIME ticks: 100 ns intervals since 1601-01-01 UTC, as plain ``int``.
That keeps full NTFS/registry/EVTX precision and costs nothing in hot loops; ``timeutil`` turns
them into aware datetimes or text only at the edges.
"""

from __future__ import annotations

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
