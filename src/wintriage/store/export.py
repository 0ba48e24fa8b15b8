"""CSV and JSONL exports in the shapes analysts already load (EZ tools, NLT, Timeline Explorer)."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, timezone
from pathlib import Path
from typing import Any

from ..artifacts.base import CsvShape
from ..timeutil import FMT_MAX, iso, tz_label, tz_offset_ticks
from .case import CaseReader, ident


def open_csv(path: Path, encoding: str = "utf-8-sig") -> Any:
    """UTF-8 with BOM by default (Excel shows non-ASCII names); ``cp949`` for NLT-style output.

    The BOM is written by hand and the file opened as plain UTF-8: Python's ``utf-8-sig`` codec encodes every
    write in Python, plain UTF-8 in C (same bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if encoding.lower().replace("_", "-") in ("utf-8-sig", "utf8-sig"):
        fh = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - returned to the caller
        fh.write("\ufeff")
        return fh
    errors = "strict" if encoding.lower().startswith("utf") else "replace"
    return open(path, "w", newline="", encoding=encoding, errors=errors)  # noqa: SIM115


EXPORT_BATCH = 8192  # rows per chunk: wider chunks cost memory (a wide $MFT chunk ~6 KB a row) and gain nothing
_NEEDS_QUOTES = re.compile('[,"\r\n]').search


def csv_line(row: Iterable[Any]) -> str:
    """One CSV line (no terminator), exactly as ``csv.writer(fh, lineterminator="\\r\\n")`` writes it
    (``QUOTE_MINIMAL``; ``None`` is empty, other values ``str()``; a lone empty field is written ``""``)."""
    cells = [c if type(c) is str else ("" if c is None else str(c)) for c in row]
    line = ",".join(cells)
    if line.count(",") == len(cells) - 1 and '"' not in line and "\n" not in line and "\r" not in line:
        return '""' if len(cells) == 1 and not line else line
    return ",".join([f'"{c.replace(chr(34), chr(34) * 2)}"' if _NEEDS_QUOTES(c) else c for c in cells])


def quote_column(cells: list[str]) -> list[str]:
    """A column of ``str`` cells as CSV cells: one scan of the whole column, and only when it holds a delimiter,
    quote or line break are its cells quoted one by one (``QUOTE_MINIMAL``, as ``csv_line``)."""
    joined = "\x00".join(cells)
    if "," in joined or '"' in joined or "\n" in joined or "\r" in joined:
        return [f'"{x.replace(chr(34), chr(34) * 2)}"' if _NEEDS_QUOTES(x) else x for x in cells]
    return cells


class CsvWriter:
    """``csv.writer`` with ``\\r\\n`` line ends, byte for byte, but without the csv module's loop over every
    character (CPython's writer costs ~20 ns per character: 8x this on timestamp- and path-heavy rows)."""

    __slots__ = ("_write",)

    def __init__(self, fh: Any) -> None:
        self._write = fh.write

    def writerow(self, row: Iterable[Any]) -> None:
        self._write(csv_line(row) + "\r\n")

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        buf: list[str] = []
        for row in rows:
            buf.append(csv_line(row))
            if len(buf) >= 2048:
                buf.append("")
                self._write("\r\n".join(buf))
                buf.clear()
        if buf:
            buf.append("")
            self._write("\r\n".join(buf))

    def write_columns(self, columns: list[list[str]]) -> None:
        """Rows given by column, every cell a ``str``: a column is scanned once for quote-worthy characters and
        only such a column is quoted cell by cell; the lines are joined in C."""
        if not columns or not columns[0]:
            return
        cols = [quote_column(c) for c in columns]
        if len(cols) == 1:  # csv.writer quotes a lone empty field
            cols[0] = [x or '""' for x in cols[0]]
        out = list(map(",".join, zip(*cols, strict=True)))
        out.append("")
        self._write("\r\n".join(out))


def write_shape(
    shape: CsvShape, rows: Iterable[dict[str, Any]], out_dir: Path, tz: timezone = UTC, encoding: str = "utf-8-sig"
) -> tuple[Path, int]:
    path = Path(out_dir) / shape.filename
    n = 0
    with open_csv(path, encoding) as fh:
        w = CsvWriter(fh)
        w.writerow(shape.headers(tz))
        for r in rows:
            w.writerow(shape.row(r, tz))
            n += 1
    return path, n


TIMELINE_HEADERS = ["Time{tz}", "TimeDesc", "Artifact", "Category", "Host", "User", "Path", "Summary", "SourceTable", "SourceId"]


def write_timeline(case: CaseReader, out: Path, tz: timezone = UTC, encoding: str = "utf-8-sig") -> int:
    label = tz_label(tz)
    headers = [h.replace("{tz}", f"({label})") for h in TIMELINE_HEADERS]
    with open_csv(out, encoding) as fh:
        w = CsvWriter(fh)
        w.writerow(headers)
        cur = case.db.execute(
            f"SELECT {sql_time('ts', tz)}, ts_desc, artifact, category, host, user, path, summary, ref_table, ref_id "
            "FROM timeline ORDER BY ts, id"
        )
        w.writerows(cur)
    return case.count("timeline")


def sql_time(col: str, tz: timezone = UTC) -> str:
    """SQL for ``timeutil.fmt(col, tz)`` (``yyyy-MM-dd HH:mm:ss.fffffff``), evaluated by SQLite; '' for NULL.

    ``col`` is a column name of ours, never text from evidence."""
    off = tz_offset_ticks(tz)
    t = f"({col} + {off})" if off else col
    return (f"CASE WHEN {col} IS NULL THEN '' WHEN {t} < 0 OR {t} > {FMT_MAX} THEN CAST({t} AS TEXT) "
            f"ELSE strftime('%Y-%m-%d %H:%M:%S', ({t} - {t} % 10000000 - "
            f"116444736000000000) / 10000000, 'unixepoch') || '.' || printf('%07d', {t} % 10000000) END")


def write_jsonl(case: CaseReader, out: Path) -> int:
    """Timesketch-compatible JSONL: message, datetime, timestamp (µs), timestamp_desc + our fields."""
    n = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        for r in case.db.execute(
            "SELECT id, ts, ts_desc, artifact, category, host, user, path, summary, ref_table, ref_id FROM timeline ORDER BY ts, id"
        ):
            obj = {
                "message": r[8] or r[7] or "",
                "datetime": iso(r[1], UTC, 6),
                "timestamp": (r[1] - 116444736000000000) // 10,
                "timestamp_desc": r[2],
                "artifact": r[3],
                "category": r[4],
                "host": r[5],
                "user": r[6],
                "path": r[7],
                "ref": f"{r[9]}:{r[10]}",
            }
            fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
            n += 1
    return n


_ASCII_SUPERSETS = ("cp949", "euc_kr")  # encodings that write ASCII text as it is


def read_sql(db: Any, table: str, col: str) -> str:
    """SQL for a column a renderer reads: the table's own, or ``source_file`` (the tools' SourceFile: the input a
    row was parsed from, as the sources table names it) for tables that do not keep it per row."""
    if col == "source_file" and col not in [r[1] for r in db.execute(f"PRAGMA table_info({ident(table)})")]:
        return f"(SELECT path FROM sources WHERE sources.id = {ident(table)}.source_id) AS source_file"
    return ident(col)


def _batches(case: CaseReader, table: str, shape: CsvShape, tz: timezone) -> Iterator[Any]:
    """``shape.batch`` over the table's columns (``batch_reads``), read in chunks."""
    assert shape.batch is not None
    cols = ", ".join(read_sql(case.db, table, c) for c in shape.batch_reads) or "*"
    cur = case.db.execute(f"SELECT {cols} FROM {ident(table)} ORDER BY id")
    names = [d[0] for d in cur.description]
    while rows := cur.fetchmany(EXPORT_BATCH):
        yield shape.batch(dict(zip(names, map(list, zip(*rows, strict=True)), strict=True)), tz)


def export_table(
    case: CaseReader, table: str, shape: CsvShape, out_dir: Path, tz: timezone = UTC, encoding: str = "utf-8-sig"
) -> tuple[Path, int] | None:
    if not case.has_table(table):
        return None
    if shape.batch is not None:  # a batch renderer (the one ``parse --csv`` uses): columns read in chunks
        path = Path(out_dir) / shape.filename
        store = getattr(shape, "store_batches", None)  # a shape that renders chunks of the table itself
        batches = store(case.db, table, tz) if store is not None else None
        with open_csv(path, encoding) as fh:
            ascii_ok = codecs.lookup(fh.encoding).name in _ASCII_SUPERSETS
            w = CsvWriter(fh)
            w.writerow(shape.headers(tz))
            for cells in _batches(case, table, shape, tz) if batches is None else batches:
                if isinstance(cells, bytes):
                    if fh.encoding == "utf-8" or (ascii_ok and cells.isascii()):  # as they are
                        fh.flush()
                        fh.buffer.write(cells)
                        continue
                    cells = cells.decode("utf-8")
                if isinstance(cells, str):
                    fh.write(cells)
                else:
                    w.write_columns(cells)
        return path, case.count(table)
    if shape.sql is not None:  # the shape can be rendered by SQLite: rows go straight to the csv module
        path = Path(out_dir) / shape.filename
        with open_csv(path, encoding) as fh:
            w = CsvWriter(fh)
            w.writerow(shape.headers(tz))
            w.writerows(case.db.execute(shape.sql(tz)))
        return path, case.count(table)
    extra = ", " + read_sql(case.db, table, "source_file") if "source_file" in shape.batch_reads else ""
    return write_shape(shape, (dict(r) for r in case.db.execute(f"SELECT *{extra} FROM {ident(table)} ORDER BY id")),
                       out_dir, tz, encoding)
