"""Registry hives: transaction-log replay, RECmd batch files and artefact plugins (work in progress)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ...model import Record
from ..base import ParseContext

NAME = "registry"
CATEGORY = "registry"
TABLES: dict[str, list[tuple[str, str]]] = {}


def parse(path: Path, ctx: ParseContext) -> Iterator[Record]:
    return iter(())
