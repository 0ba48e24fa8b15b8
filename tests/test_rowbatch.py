"""Rows given in bulk (``RowBatch`` from ``parse_batches``) land exactly as the same rows given one by one."""

from __future__ import annotations

import sqlite3
import types
from collections.abc import Iterator
from datetime import UTC, timedelta, timezone
from pathlib import Path
from typing import Any

from wintriage.artifacts.base import CsvShape, ParseContext, col, flatten, tcol
from wintriage.model import Record, RowBatch, TimelineEvent
from wintriage.pipeline import run_file
from wintriage.sinks import CsvSink, MultiSink, StoreSink
from wintriage.store.case import CaseWriter

ROWS = [
    {"name": f"file{i},x.txt" if i % 7 == 0 else f"f{i}", "ts": 133_000_000_000_000_000 + i * 12_345_678 if i % 5 else None,
     "size": i * 3, "note": 'say "hi"' if i == 3 else "", "csv_only": "src"}
    for i in range(1, 40)
]


def _module(batched: bool, batch_shape: bool) -> types.ModuleType:
    m = types.ModuleType(f"fake_{batched}_{batch_shape}")
    m.NAME, m.CATEGORY = "fake", "file"  # type: ignore[attr-defined]
    m.TABLES = {"fake": [("name", "TEXT"), ("ts", "INTEGER"), ("size", "INTEGER"), ("note", "TEXT")]}  # type: ignore[attr-defined]

    def batches(path: Path, ctx: ParseContext) -> Iterator[Record | RowBatch]:
        for lo in range(0, len(ROWS), 10):
            chunk = ROWS[lo:lo + 10]
            yield RowBatch("fake", {k: [r[k] for r in chunk] for k in chunk[0]})
            yield Record("fake", dict(ROWS[0], name="single"))

    def parse(path: Path, ctx: ParseContext) -> Iterator[Record]:
        return flatten(batches(path, ctx))

    def timeline(rec: Record) -> list[TimelineEvent]:
        d = rec.data
        return [TimelineEvent(d["ts"], "T", d["name"], f"saw {d['name']}")] if d["ts"] else []

    def batch(cols: dict[str, list[Any]], tz: timezone) -> list[list[str]]:
        shape = m.CSV["fake"]  # type: ignore[attr-defined]
        rows = [shape.row(dict(zip(cols, r, strict=True)), tz) for r in zip(*cols.values(), strict=True)]
        return [[str(c) for c in column] for column in zip(*rows, strict=True)]

    m.parse, m.timeline = parse, timeline  # type: ignore[attr-defined]
    if batched:
        m.parse_batches = batches  # type: ignore[attr-defined]
    m.CSV = {"fake": CsvShape("Fake.csv", [col("Name", "name"), tcol("Time", "ts"), col("Size", "size"),  # type: ignore[attr-defined]
                                           col("Note", "note"), col("Src", "csv_only")],
                              batch=batch if batch_shape else None)}
    return m


def _store(tmp: Path, module: types.ModuleType) -> tuple[list[Any], list[Any]]:
    store = CaseWriter(tmp / f"{module.__name__}.sqlite")
    res = run_file(module, tmp / "in.bin", StoreSink(store), hash_input=False)
    assert res.records == 39 + 4
    store.close()
    con = sqlite3.connect(str(store.path))
    rows = con.execute("SELECT * FROM fake ORDER BY id").fetchall()
    tl = con.execute("SELECT ts, ts_desc, path, summary, ref_table, ref_id FROM timeline ORDER BY id").fetchall()
    con.close()
    return rows, tl


def test_store_rows_and_events_equal(tmp_path: Path) -> None:
    (tmp_path / "in.bin").write_bytes(b"x")
    one = _store(tmp_path, _module(False, False))
    many = _store(tmp_path, _module(True, False))
    assert one == many
    assert [r[0] for r in many[0]] == list(range(1, 44))  # ids run on across batches and single records
    assert len(many[1]) == 32 + 4


def test_csv_equal_with_and_without_batch_renderer(tmp_path: Path) -> None:
    (tmp_path / "in.bin").write_bytes(b"x")
    out = {}
    for i, (batched, shape) in enumerate(((False, False), (True, False), (True, True))):
        for tz in (UTC, timezone(timedelta(hours=9))):
            d = tmp_path / f"csv{i}{tz.utcoffset(None)}"
            sink = CsvSink(d, tz)
            store = CaseWriter(d / "c.sqlite")
            run_file(_module(batched, shape), tmp_path / "in.bin", MultiSink(sink, StoreSink(store)), hash_input=False)
            sink.close()
            store.close()
            out[(i, tz)] = (d / "Fake.csv").read_bytes()
    for tz in (UTC, timezone(timedelta(hours=9))):
        assert out[(0, tz)] == out[(1, tz)] == out[(2, tz)]
    assert b'"file7,x.txt"' in out[(2, UTC)] and b'"say ""hi"""' in out[(2, UTC)]


def test_fmt_many_equals_fmt() -> None:
    import random

    from wintriage.timecols import fmt_many
    from wintriage.timeutil import FMT_MAX, fmt

    rng = random.Random(5)
    vals: list[int | None] = [None, 0, -1, 1, FMT_MAX, FMT_MAX + 1, 2**63 - 1, -(2**63), 133_000_000_000_000_000]
    vals += [rng.randrange(-10**12, FMT_MAX + 10**12) for _ in range(3000)]
    vals += [rng.randrange(120_000_000_000_000_000, 140_000_000_000_000_000) for _ in range(3000)]
    for tz in (UTC, timezone(timedelta(hours=9)), timezone(-timedelta(hours=5, minutes=30))):
        for digits in (7, 3, 0):
            assert fmt_many(vals, tz, digits) == [fmt(v, tz, digits) for v in vals]
    assert fmt_many([2**64 + 5, 1], UTC) == [fmt(2**64 + 5), fmt(1)]  # past 64 bits: one by one


def test_usn_bulk_names_decode_like_one_by_one(tmp_path: Path) -> None:
    """Names are decoded in one UTF-16 pass per batch; odd bytes, NULs and lone surrogates give what decoding
    each name alone gives."""
    import struct

    from wintriage.artifacts import usnjrnl
    from wintriage.artifacts.base import ParseContext

    names = [b"a\x00.\x00t\x00", b"x\x00\x00\x00y\x00", b"\x00\xd8b\x00", b"c\x00\x00\xd8", b"o\x00d\x00d", b",\x00\"\x00"]
    for variant in range(len(names)):
        recs = b""
        for i, nm in enumerate([names[0], names[variant], names[0]]):
            ln = (60 + len(nm) + 7) & ~7
            hdr = struct.pack("<IHHQQQqIIIIHH", ln, 2, 0, (1 << 48) | (40 + i), (1 << 48) | 5, len(recs),
                              133_000_000_000_000_000 + i, 0x100, 0, 0, 0x20, len(nm), 60)
            recs += (hdr + nm).ljust(ln, b"\x00")
        p = tmp_path / f"J{variant}"
        p.write_bytes(recs)
        got = [r.data["name"] for r in usnjrnl.parse(p, ParseContext("usnjrnl", str(p)))]
        assert got == [n.decode("utf-16-le", "replace") for n in (names[0], names[variant], names[0])]
