"""Core pieces: time conversions, the source table, the case store, CSV shapes."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from wintriage import timeutil as tu
from wintriage.artifacts.base import CsvShape, ParseContext, col, group_times, tcol, user_from_path
from wintriage.artifacts.sources import SOURCES, artifact_for, match, triage_patterns
from wintriage.model import Record, TimelineEvent
from wintriage.store.case import CaseReader, CaseWriter, ident
from wintriage.store.export import write_shape, write_timeline


def test_filetime_roundtrip_and_format() -> None:
    # 2024-12-12T06:02:19.848000Z, the scenario's first encrypted file
    t = tu.from_iso("2024-12-12T06:02:19.848000Z")
    assert tu.fmt(t) == "2024-12-12 06:02:19.8480000"
    assert tu.iso(t, tu.parse_tz("+09:00"), 0) == "2024-12-12T15:02:19+09:00"
    assert tu.to_datetime(t) == datetime(2024, 12, 12, 6, 2, 19, 848000, tzinfo=UTC)
    assert tu.from_datetime(datetime(1970, 1, 1, tzinfo=UTC)) == tu.EPOCH_AS_FILETIME
    assert tu.from_unix(0) is None and tu.from_filetime(0) is None
    assert tu.from_webkit(13378451512318000) == tu.from_iso("2024-12-12T04:31:52.318Z")
    assert tu.from_unix_us(1_000_000) == tu.EPOCH_AS_FILETIME + 10_000_000
    # 7-digit precision survives
    assert tu.fmt(tu.from_iso("2020-07-25T12:25:52.3989631Z")) == "2020-07-25 12:25:52.3989631"
    assert tu.from_iso("2024-12-12T15:02:19+09:00") == tu.from_iso("2024-12-12T06:02:19Z")
    with pytest.raises(ValueError):
        tu.from_iso("yesterday")
    with pytest.raises(ValueError):
        tu.from_datetime(datetime(2020, 1, 1))


@pytest.mark.parametrize(
    ("text", "minutes", "label"),
    [("+09:00", 540, "UTC+9"), ("UTC+9", 540, "UTC+9"), ("KST", 540, "UTC+9"), ("-05:30", -330, "UTC-5:30"),
     ("UTC", 0, "UTC"), (None, 0, "UTC"), ("+0930", 570, "UTC+9:30")],
)
def test_parse_tz(text: str | None, minutes: int, label: str) -> None:
    tz = tu.parse_tz(text)
    assert tz.utcoffset(None) == timedelta(minutes=minutes)
    assert tu.tz_label(tz) == label


def test_parse_tz_rejects_garbage() -> None:
    for bad in ("Mars/Olympus", "+99:00", "9am"):
        with pytest.raises(ValueError):
            tu.parse_tz(bad)


def test_fmt_in_zone_crosses_midnight() -> None:
    t = tu.from_iso("2024-12-31T20:00:00Z")
    assert tu.fmt(t, timezone(timedelta(hours=9)), 0) == "2025-01-01 05:00:00"


def test_source_table_routes_paths() -> None:
    assert SOURCES[0].artifact == "mft"
    assert artifact_for("$MFT") == "mft"
    assert artifact_for("$Extend/$J") == "usnjrnl"
    assert artifact_for("Windows/System32/config/SYSTEM") == "registry"
    assert artifact_for("windows/system32/CONFIG/software") == "registry"  # case-insensitive
    assert artifact_for("Users/민지 김/NTUSER.DAT") == "registry"
    assert artifact_for("Users/a/AppData/Local/Google/Chrome/User Data/Profile 1/History") == "browser"
    assert artifact_for("Windows/System32/winevt/Logs/Security.evtx") == "evtx"
    assert artifact_for("Windows/Prefetch/CMD.EXE-4A81B364.pf") == "prefetch"
    assert artifact_for("$Recycle.Bin/S-1-5-21-1-2-3-1001/$IABC123.pdf") == "recyclebin"
    assert artifact_for("Users/a/AppData/Roaming/Microsoft/Windows/Start Menu/Programs/x/y.lnk") == "lnk"
    assert artifact_for("Users/a/Documents/report.docx") is None
    assert artifact_for("Windows/System32/config/SYSTEM.LOG1") is None  # companions are not parsed alone
    assert not match("Users/a/b/NTUSER.DAT", "Users/*/NTUSER.DAT")  # * stays in one segment
    assert any(p == "$Extend/$UsnJrnl:$J" for p, _ in triage_patterns())


def test_user_from_path() -> None:
    assert user_from_path("Users/minji/NTUSER.DAT") == "minji"
    assert user_from_path("Windows/System32/config/SAM") == ""


def test_group_times_collapses_equal_values() -> None:
    assert sorted(group_times([("M", 5), ("A", 5), ("C", 7), ("B", None)])) == [(5, "MA"), (7, "C")]


def test_parse_context_counts_warnings() -> None:
    ctx = ParseContext("mft", "x", keep_warnings=2)
    for i in range(5):
        ctx.warn(i * 1024, "bad")
    ctx.warn(None, "note", skipped=False)
    assert ctx.warning_count == 6 and ctx.skipped == 5 and len(ctx.warnings) == 2
    assert ctx.warnings[1].offset == 1024


def test_store_roundtrip_timeline_fts(tmp_path: Path) -> None:
    w = CaseWriter(tmp_path / "case.sqlite")
    w.ensure_table("things", [("name", "TEXT"), ("t", "INTEGER"), ("extra", "TEXT")])
    sid = w.add_source("things", "a/b")
    t = tu.from_iso("2024-01-02T03:04:05Z")
    for i in range(12000):  # crosses the batch size
        rid = w.add(Record("things", {"name": f"n{i}.kraken", "t": t + i, "extra": ["x", i]}), sid)
        w.add_event(TimelineEvent(t + i, "Created", f"C:/x/n{i}.kraken", f"file n{i}"), artifact="things",
                    category="file", host="h", ref_table="things", ref_id=rid, source_id=sid)
    w.finish_source(sid, records=12000)
    with pytest.raises(KeyError):
        w.add(Record("undeclared", {}), sid)
    w.close()
    r = CaseReader(tmp_path / "case.sqlite")
    assert r.count("things") == 12000 and r.count("timeline") == 12000
    row = next(r.rows("things", "id = ?", (5,)))
    assert row["name"] == "n4.kraken" and row["extra"] == '["x",4]'.replace(",", ", ")
    hits = r.db.execute("SELECT rowid FROM timeline_fts WHERE timeline_fts MATCH ?", ('"n11999"',)).fetchall()
    assert len(hits) == 1
    assert r.db.execute("SELECT ts_iso FROM timeline WHERE id=1").fetchone()[0] == "2024-01-02T03:04:05.0000000Z"
    out = tmp_path / "timeline.csv"
    assert write_timeline(r, out, tu.parse_tz("+09:00")) == 12000
    with open(out, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][0] == "Time(UTC+9)" and rows[1][0] == "2024-01-02 12:04:05.0000000"
    # read-only: writes fail
    with pytest.raises(Exception, match="readonly"):
        r.db.execute("DELETE FROM things")
    r.close()


def test_ident_rejects_injection() -> None:
    assert ident("mft") == '"mft"'
    for bad in ('x"; DROP TABLE t; --', "a b", "1abc", ""):
        with pytest.raises(ValueError):
            ident(bad)


def test_csv_shape_quoting_bom_and_zone_headers(tmp_path: Path) -> None:
    shape = CsvShape("X.csv", [col("Name", "name"), tcol("Created0x10", "t"), tcol("EventTime({tz})", "t")])
    rows = [{"name": 'a,"b"\nc 한글', "t": tu.from_iso("2024-01-01T00:00:00Z")}]
    p, n = write_shape(shape, rows, tmp_path, tu.parse_tz("+09:00"))
    raw = p.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and n == 1
    with open(p, encoding="utf-8-sig", newline="") as fh:
        got = list(csv.reader(fh))
    assert got[0] == ["Name", "Created0x10 (UTC+9)", "EventTime(UTC+9)"]
    assert got[1] == ['a,"b"\nc 한글', "2024-01-01 09:00:00.0000000", "2024-01-01 09:00:00.0000000"]
    assert shape.headers(UTC) == ["Name", "Created0x10", "EventTime(UTC)"]
    p2, _ = write_shape(CsvShape("Y.csv", shape.columns), rows, tmp_path, UTC, encoding="cp949")
    assert "한글" in p2.read_text(encoding="cp949")


def test_timeline_sql_equals_python_timeline(td, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A module's TIMELINE_SQL must give exactly the events its timeline() gives."""
    import sqlite3

    from wintriage.artifacts import mft, usnjrnl
    from wintriage.pipeline import run_file
    from wintriage.sinks import StoreSink

    j, m = td("usnjrnl/derived/ntfs20h1_UsnJrnl_J.bin"), td("mft/derived/ntfs20h1_MFT.bin")
    res = {"mft": mft.build_resolver(m)}
    w = CaseWriter(tmp_path / "c.sqlite")
    run_file(usnjrnl, j, StoreSink(w), resources=res)
    w.close()
    got = sqlite3.connect(tmp_path / "c.sqlite").execute(
        "SELECT ts, ts_desc, user, path, summary, ref_id FROM timeline ORDER BY ref_id").fetchall()
    ctx = ParseContext("usnjrnl", "x", resources=res)
    want = [(ev.ts, ev.ts_desc, ev.user, ev.path, ev.summary, i)
            for i, rec in enumerate(usnjrnl.parse(j, ctx), 1) for ev in usnjrnl.timeline(rec)]
    assert len(got) == 188 and got == want


def test_fmt_never_fails_on_corrupt_times() -> None:
    assert tu.fmt(2650467743999999999) == "9999-12-31 23:59:59.9999999"
    assert tu.fmt(2650467744000000000) == "2650467744000000000"  # past year 9999: the raw value
    assert tu.fmt(0x7FFFFFFFFFFFFFFF, tu.parse_tz("+09:00")) == str(0x7FFFFFFFFFFFFFFF + 9 * 3600 * 10_000_000)
    assert tu.iso(2650467744000000000).startswith("2650467744000000000")


def test_open_csv_bom_fast_path(tmp_path: Path) -> None:
    from wintriage.store.export import open_csv

    with open_csv(tmp_path / "a.csv") as fh:
        fh.write("한글,x\r\n")
    assert (tmp_path / "a.csv").read_bytes() == "\ufeff한글,x\r\n".encode()
