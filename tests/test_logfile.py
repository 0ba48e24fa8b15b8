"""$LogFile: LFS layer, NTFS operations, NLT events, CSV shapes and CLI, against MANIFEST facts."""

from __future__ import annotations

import csv
import json
import sqlite3
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from wintriage.artifacts import logfile
from wintriage.artifacts.base import ParseContext
from wintriage.artifacts.logfile_lfs import FixupError, LogFile, RecordTable, apply_fixup
from wintriage.artifacts.logfile_ntfs import parse_usn_records
from wintriage.cli import main

NEEDLE = "find_me.txt".encode("utf-16le")
TD = Callable[[str], Path]


def _lf(path: Path) -> LogFile:
    return LogFile(path.read_bytes())


def _parse(path: Path, **resources: Any) -> tuple[dict[str, list[dict[str, Any]]], ParseContext]:
    ctx = ParseContext("logfile", str(path), resources=resources)
    out: dict[str, list[dict[str, Any]]] = {}
    for rec in logfile.parse(path, ctx):
        out.setdefault(rec.table, []).append(rec.data)
    return out, ctx


def _hits(path: Path) -> list[dict[str, Any]]:
    """logfile_records rows whose redo or undo data holds ``find_me.txt`` (UTF-16LE)."""
    lf = _lf(path)
    hit_lsns = {r.lsn for r in lf.records() if NEEDLE in r.data}
    tables, _ = _parse(path)
    return [r for r in tables["logfile_records"] if r["lsn"] in hit_lsns]


def _ntfs_restart(path: Path) -> dict[str, Any]:
    tables, _ = _parse(path)
    rows = [json.loads(r["detail"]) for r in tables["logfile_records"] if r.get("redo_op") == "ClientRestart"]
    return rows[-1]


def _unused_split(path: Path) -> tuple[LogFile, set[int], set[int]]:
    lf = _lf(path)
    in_use = {r.lsn for r in lf.records(include_unused=False)}
    everything = {r.lsn for r in lf.records(include_unused=True)}
    return lf, in_use, everything


# --- LogFile_7 (Windows 7, log version 1.1) ----------------------------------------------------------
def test_logfile7_restart_pages(td: TD) -> None:
    lf = _lf(td("logfile/LogFile_7.bin"))
    assert len(lf.restart_pages) == 2
    assert lf.restart_pages_identical()
    for rp in lf.restart_pages:
        assert rp.version == "1.1"
        assert [c.name for c in rp.clients] == ["NTFS"]
        assert rp.clients[0].client_restart_lsn > 0
    ra = _ntfs_restart(td("logfile/LogFile_7.bin"))
    assert ra["version"] == "0.0"
    assert ra["bytes_per_cluster"] == 4096


def test_logfile7_client_restart_only_in_unused(td: TD) -> None:
    lf, in_use, everything = _unused_split(td("logfile/LogFile_7.bin"))
    crl = lf.current.clients[0].client_restart_lsn if lf.current else 0
    assert crl == 0x80541D
    assert crl not in in_use
    assert crl in everything
    extra = everything - in_use
    assert extra and all(x > max(in_use) for x in extra)


def test_logfile7_find_me(td: TD) -> None:
    hits = _hits(td("logfile/LogFile_7.bin"))
    assert len(hits) == 4
    assert sorted(h["target"] for h in hits) == [
        "$INDEX_ALLOCATION:$I30 of 5", "$INDEX_ALLOCATION:$I30 of 5", "MFT record 40", "MFT record 40"]
    assert sorted((h["redo_op"], h["undo_op"]) for h in hits) == [
        ("AddIndexEntryAllocation", "DeleteIndexEntryAllocation"),
        ("DeleteAttribute", "CreateAttribute"),
        ("DeleteIndexEntryAllocation", "AddIndexEntryAllocation"),
        ("InitializeFileRecordSegment", "Noop"),
    ]


def test_logfile7_events(td: TD) -> None:
    tables, ctx = _parse(td("logfile/LogFile_7.bin"))
    ev = tables["logfile_events"]
    created = [e for e in ev if e["event"] == "File Creation" and e["name"] == "find_me.txt"]
    assert len(created) == 1 and created[0]["full_path"] == "\\find_me.txt" and created[0]["mft_entry"] == 40
    renamed = [e for e in ev if e["event"] == "File Renaming" and e["name"] == "got_renamed.txt"]
    assert len(renamed) == 1
    assert renamed[0]["old_name"] == "find_me.txt" and renamed[0]["detail"] == "find_me.txt -> got_renamed.txt"
    assert any(e["event"] == "File Renaming" and e["detail"] == "tracking.log.tmp -> tracking.log"
               and e["full_path"] == "\\System Volume Information\\tracking.log" for e in ev)
    assert any(e["event"] == "Time Change" and e["mft_entry"] == 40 for e in ev)
    # LSNs unique, the table in LSN order
    lsns = [r["lsn"] for r in tables["logfile_records"]]
    assert lsns == sorted(set(lsns))


# --- LogFile_10 family (Windows 10, log version 2.0) ---------------------------------------------------
def test_logfile10(td: TD) -> None:
    path = td("logfile/LogFile_10.bin")
    lf, in_use, everything = _unused_split(path)
    assert len(lf.restart_pages) == 2 and not lf.restart_pages_identical()
    assert [rp.version for rp in lf.restart_pages] == ["2.0", "2.0"]
    assert all([c.name for c in rp.clients] == ["NTFS"] for rp in lf.restart_pages)
    ra = _ntfs_restart(path)
    assert (ra["version"], ra["bytes_per_cluster"]) == ("1.0", 4096)
    assert lf.current is not None
    crl = lf.current.clients[0].client_restart_lsn
    assert crl not in in_use and crl in everything
    extra = everything - in_use
    top = max(in_use)
    newer = {x for x in extra if x > top}
    assert crl in newer
    # the buffer pages also keep older-generation leftovers: their sequence number is lower
    seq = lf.current.current_lsn >> (64 - lf.seq_bits)
    assert all(x >> (64 - lf.seq_bits) < seq for x in extra - newer)
    hits = _hits(path)
    assert len(hits) == 4
    assert sorted(h["target"] for h in hits) == [
        "$INDEX_ALLOCATION:$I30 of 5", "$INDEX_ALLOCATION:$I30 of 5", "MFT record 43", "MFT record 43"]


def test_logfile10_downgraded(td: TD) -> None:
    path = td("logfile/LogFile_10_downgraded.bin")
    lf, in_use, everything = _unused_split(path)
    assert {rp.version for rp in lf.restart_pages} == {"1.1"}
    assert lf.current is not None
    assert lf.current.clients[0].client_restart_lsn in in_use
    assert everything == in_use  # no extra LSNs from unused pages
    hits = _hits(path)
    assert sorted(h["target"] for h in hits) == [
        "$INDEX_ALLOCATION:$I30 of 5", "$INDEX_ALLOCATION:$I30 of 5", "MFT record 43", "MFT record 43"]


def test_logfile10_large(td: TD) -> None:
    path = td("logfile/LogFile_10_large.bin")
    lf = _lf(path)
    assert [rp.version for rp in lf.restart_pages] == ["2.0", "2.0"] and not lf.restart_pages_identical()
    ra = _ntfs_restart(path)
    assert (ra["version"], ra["bytes_per_cluster"]) == ("1.0", 4096)
    hits = _hits(path)
    assert len(hits) == 4
    assert all(h["target_block_size"] == 8 for h in hits)
    root = [h for h in hits if "AddIndexEntryRoot" in (h["redo_op"], h["undo_op"])]
    assert len(root) == 2 and all(h["mft_entry"] == 5 for h in root)
    rec39 = [h for h in hits if h["mft_entry"] == 39]
    assert len(rec39) == 2
    assert sorted(h["redo_op"] for h in rec39) == ["DeleteAttribute", "InitializeFileRecordSegment"]
    assert any(h["undo_op"] == "CreateAttribute" for h in rec39)


def test_logfile_empty(td: TD) -> None:
    path = td("logfile/LogFile_empty.bin")
    assert _lf(path).empty
    tables, ctx = _parse(path)
    assert tables == {"logfile_restart": [{"empty": 1, "file_size": 32768}]}
    assert ctx.warning_count == 1 and ctx.skipped == 0
    assert "empty" in ctx.warnings[0].reason and ctx.warnings[0].offset == 0


def test_rcrd_dax_fixup(td: TD) -> None:
    raw = td("logfile/rcrd_dax.bin").read_bytes()
    assert len(raw) == 448
    page = raw + bytes(4096 - len(raw))
    fixed = apply_fixup(page)
    assert fixed[:4] == b"RCRD"
    bad = bytearray(page)
    bad[520] = 0xFF
    with pytest.raises(FixupError, match="CRC32 mismatch"):
        apply_fixup(bytes(bad), 8192)


def test_fixup_mismatch_names_offset() -> None:
    page = bytearray(1024)
    page[:4] = b"RCRD"
    struct.pack_into("<HH", page, 4, 0x28, 3)
    page[0x28:0x2A] = b"\x07\x00"
    page[510:512] = b"\x07\x00"
    page[1022:1024] = b"\x08\x00"  # wrong
    with pytest.raises(FixupError, match="offset 5118"):
        apply_fixup(bytes(page), 4096)


# --- ntfs20h1: a real 64 MiB log, checked against the same volume's $J ---------------------------------
@pytest.fixture(scope="module")
def h1(unpacked: Callable[[str], Path]) -> Path:
    return unpacked("logfile/derived/ntfs20h1_LogFile.bin.gz")


def test_ntfs20h1_lsns(h1: Path) -> None:
    lf = _lf(h1)
    assert lf.current is not None and lf.current.version == "1.1" and lf.current.log_page_size == 4096
    recs = list(lf.records(include_unused=False))
    assert len(recs) == 5605
    lsns = [r.lsn for r in recs]
    assert len(set(lsns)) == len(lsns)
    by_offset = sorted(recs, key=lambda r: r.offset)
    drops = [(a.lsn, b.lsn) for a, b in zip(by_offset, by_offset[1:], strict=False) if b.lsn <= a.lsn]
    # increasing across pages, except once: where the newest generation meets the older one (the wrap point)
    assert len(drops) == 1
    assert drops[0][0] == lf.current.current_lsn


def test_ntfs20h1_events_match_usnjrnl(h1: Path, td: TD) -> None:
    jrnl = parse_usn_records(td("usnjrnl/derived/ntfs20h1_UsnJrnl_J.bin").read_bytes())
    assert len(jrnl) == 188
    lo, hi = min(u["timestamp"] for u in jrnl), max(u["timestamp"] for u in jrnl)
    tables, ctx = _parse(h1, usn_path=td("usnjrnl/derived/ntfs20h1_UsnJrnl_J.bin"))
    ev = [e for e in tables["logfile_events"] if (e["full_path"] or "").startswith("\\test_dir\\")]
    renames = [e for e in ev if e["event"] == "File Renaming"]
    assert sorted(e["name"] for e in renames if e["name"].startswith("file_") and len(e["name"]) < 20) == sorted(
        ["file_hidden.txt"] + [f"file_{i}.txt" for i in range(1, 12)])
    creates = [e for e in ev if e["event"] == "File Creation"]
    assert len(creates) == 12 and {e["name"] for e in creates} == {"New Text Document.txt"}
    for e in renames + creates:
        want = 0x2000 if e["event"] == "File Renaming" else 0x100
        match = [u for u in jrnl if u["entry"] == e["mft_entry"] and u["name"] == e["name"] and u["reasons"] & want]
        assert match, e
        assert lo <= e["event_time"] <= hi
        assert e["event_time"] == match[0]["timestamp"]
    hidden = [e for e in renames if e["name"] == "file_8.txt"]
    assert hidden and hidden[0]["old_name"] == "file_hidden.txt"
    assert len(tables["logfile_usn"]) == 169
    assert {u["usn"] for u in tables["logfile_usn"]} <= {u["usn"] for u in jrnl}


def test_mft_resolver_stub(td: TD) -> None:
    class Stub:
        def resolve(self, entry: int, seq: int) -> str | None:
            return "/$Extend" if entry == 11 else None

    path = td("logfile/LogFile_10.bin")
    plain, _ = _parse(path)
    resolved, _ = _parse(path, mft=Stub())
    before = {e["full_path"] for e in plain["logfile_events"]}
    after = {e["full_path"] for e in resolved["logfile_events"]}
    assert "\\<11>\\$Deleted" in before and "\\$Extend\\$Deleted" in after


# --- corruption sweep ---------------------------------------------------------------------------------
def test_corruption_sweep(td: TD, tmp_path: Path) -> None:
    base = td("logfile/LogFile_7.bin").read_bytes()
    cases: list[tuple[str, bytes]] = []
    for cut in (0, 3, 100, 4096, 8192 + 17, 20000, 50000, len(base) - 1000):
        cases.append((f"trunc{cut}", base[:cut]))
    for off in (0x18, 0x30, 0x40, 4096 + 0x30, 8192 + 0x40, 16384 + 0x44, 16384 + 0x70, 30000, 100000, 171000):
        b = bytearray(base)
        b[off] ^= 0xFF
        cases.append((f"flip{off}", bytes(b)))
    b = bytearray(base)
    for off in range(16384 + 0x40, len(b), 997):
        b[off] = (b[off] + 0x55) & 0xFF
    cases.append(("spray", bytes(b)))
    for page in (16384, 24576, 40960):  # a torn sector: the update sequence no longer matches
        b = bytearray(base)
        b[page + 1022] ^= 0xFF
        cases.append((f"torn{page}", bytes(b)))
    for name, data in cases:
        p = tmp_path / name
        p.write_bytes(data)
        t0 = time.perf_counter()
        tables, ctx = _parse(p)
        assert time.perf_counter() - t0 < 10, name
        assert all(w.offset is not None for w in ctx.warnings), name
        if name.startswith("torn"):
            page = int(name[4:])
            assert any(w.offset == page and "update sequence mismatch" in w.reason
                       and f"offset {page + 1022}" in w.reason for w in ctx.warnings), name
            assert tables["logfile_records"]  # the other pages still parse


# --- CSV shapes and CLI ---------------------------------------------------------------------------------
NLT_LOGFILE_HEADERS = ["LSN", "EventTime(UTC+9)", "Event", "Detail", "File/Directory Name", "Full Path",
                       "Create Time", "Modified Time", "MFT_Modified Time", "Access Time", "Redo", "Target VCN",
                       "Cluster Index"]
NLT_USN_HEADERS = ["Time Stamp(UTC+9)", "USN", "File/Directory Name", "Full Path", "Event Info", "Source Info",
                   "File Attribute", "Carving Flag", "File Reference Number", "Parent File Reference Number"]


def test_cli_parse_logfile(td: TD, tmp_path: Path) -> None:
    out = tmp_path / "csv"
    res = CliRunner().invoke(main, ["parse", "logfile", str(td("logfile/LogFile_7.bin")), "--csv", str(out),
                                    "--tz", "+09:00", "--encoding", "cp949", "--json"])
    assert res.exit_code == 0, res.output
    with open(out / "NLT_LogFile.csv", encoding="cp949", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == NLT_LOGFILE_HEADERS
    row = next(r for r in rows[1:] if r[2] == "File Creation" and r[4] == "find_me.txt")
    assert row[5] == "\\find_me.txt" and row[10] == "AddIndexEntryAllocation"
    assert row[1].startswith("2019-02-11 07:55:30")  # 22:55:30 UTC in UTC+9


def test_cli_parse_ntfs_folder(td: TD, h1: Path, tmp_path: Path) -> None:
    pytest.importorskip("wintriage.artifacts.usnjrnl")
    pytest.importorskip("wintriage.artifacts.mft")
    folder = tmp_path / "vol"
    (folder / "$Extend").mkdir(parents=True)
    (folder / "$MFT").write_bytes(td("mft/derived/ntfs20h1_MFT.bin").read_bytes())
    (folder / "$LogFile").write_bytes(h1.read_bytes())
    (folder / "$Extend" / "$J").write_bytes(td("usnjrnl/derived/ntfs20h1_UsnJrnl_J.bin").read_bytes())
    out = tmp_path / "out"
    db = tmp_path / "case.sqlite"
    res = CliRunner().invoke(main, ["parse", "ntfs", str(folder), "--csv", str(out), "--db", str(db),
                                    "--tz", "+09:00", "--json"])
    assert res.exit_code == 0, res.output
    for name, headers in (("NLT_LogFile.csv", NLT_LOGFILE_HEADERS), ("NLT_UsnJrnl.csv", NLT_USN_HEADERS)):
        with open(out / name, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
        assert rows[0] == headers, name
    with open(out / "NLT_UsnJrnl.csv", encoding="utf-8-sig", newline="") as fh:
        usn = list(csv.reader(fh))[1:]
    assert len(usn) == 188
    assert usn[0][:5] == ["2020-07-25 21:25:52.3989637", "0", "SPP", "\\System Volume Information\\SPP",
                          "File_Created"]
    assert usn[0][8:] == ["0x000100000000002B", "0x0001000000000024"]
    assert any(name.startswith("MFTECmd_$MFT") for name in (p.name for p in out.iterdir()))
    con = sqlite3.connect(db)
    try:
        n_ev = con.execute("SELECT COUNT(*) FROM logfile_events").fetchone()[0]
        full = {r[0] for r in con.execute("SELECT full_path FROM logfile_events WHERE event='File Renaming'")}
    finally:
        con.close()
    assert n_ev > 100
    assert "\\test_dir\\file_1.txt" in full


def test_events_only_mode_and_timeline(td: TD) -> None:
    path = td("logfile/LogFile_7.bin")
    full, _ = _parse(path)
    ctx = ParseContext("logfile", str(path), options={"logfile_records": False})
    lean = [r for r in logfile.parse(path, ctx)]
    assert {r.table for r in lean} == {"logfile_restart", "logfile_events"}
    assert [r.data for r in lean if r.table == "logfile_events"] == full["logfile_events"]
    from wintriage.model import Record

    evs = [ev for e in full["logfile_events"] for ev in logfile.timeline(Record("logfile_events", e))]
    assert len(evs) == sum(1 for e in full["logfile_events"] if e["event_time"])
    created = [ev for ev in evs if ev.ts_desc == "$LogFile File Creation" and ev.path == "\\find_me.txt"]
    assert len(created) == 1 and created[0].summary.startswith("File Creation: find_me.txt")
    assert all(len(ev.summary) <= 300 for ev in evs)


def test_records_spanning_pages_and_tables(td: TD) -> None:
    path = td("logfile/LogFile_7.bin")
    lf = _lf(path)
    spans = [r for r in lf.records(include_unused=False) if r.continues_to >= 0]
    assert len(spans) == 28
    rec = next(r for r in spans if r.lsn == 0x801FE5)
    assert (rec.offset, rec.continues_to, len(rec.data), rec.truncated) == (65320, 65536, 312, False)
    tables, _ = _parse(path)
    row = next(r for r in tables["logfile_records"] if r["lsn"] == 0x801FE5)
    detail = json.loads(row["detail"])
    assert row["redo_op"] == "InitializeFileRecordSegment"
    assert detail["attributes"] == ["$STANDARD_INFORMATION", "$FILE_NAME"] and detail["names"] == ["$RmMetadata"]
    dumps = {r["redo_op"]: json.loads(r["detail"]) for r in tables["logfile_records"]
             if r["redo_op"] in ("OpenAttributeTableDump", "DirtyPageTableDump", "AttributeNamesDump")}
    assert dumps["OpenAttributeTableDump"]["open_attribute_table"]["entry_size"] == 44  # NTFS restart 0.0 layout
    assert dumps["DirtyPageTableDump"]["dirty_pages"] > 0
    assert "$I30" in dumps["AttributeNamesDump"]["attribute_names"].values()
    opened = [json.loads(r["detail"])["open_attribute"] for r in tables["logfile_records"]
              if r["redo_op"] == "OpenNonresidentAttribute"]
    assert {"entry": 5, "attr_type": 0xA0, "name": "$I30"}.items() <= opened[1].items()


def _fn_entry(entry: int, parent: int, name: str, t: int) -> bytes:
    raw = name.encode("utf-16le")
    key = struct.pack("<QqqqqqqIIBB", (1 << 48) | parent, t, t, t, t, 0, 0, 0x20, 0, len(name), 1) + raw
    body = struct.pack("<QHHI", (1 << 48) | entry, (16 + len(key) + 7) & ~7, len(key), 0) + key
    return body + bytes((-len(body)) % 8)


def _op(redo_op: int, undo_op: int, redo: bytes, undo: bytes, vcn: int = 0, cbo: int = 0) -> bytes:
    hdr = struct.pack("<HHHHHHHHHHHHq", redo_op, undo_op, 40, len(redo), 40 + len(redo), len(undo), 24, 1, 0x98, 0,
                      cbo, 2, vcn)
    return hdr + struct.pack("<q", 1000) + redo + undo


def test_move_and_delete_pairing() -> None:
    """Synthetic records through the event builder: a move (delete in dir 5, add in dir 64) and a deletion."""
    from wintriage.artifacts.logfile import _Builder
    from wintriage.artifacts.logfile_lfs import _record

    class _LF:
        current = None

    b = _Builder(ParseContext("logfile", "synthetic"), _LF())
    t = 133000000000000000
    ops = [
        _op(0x0C, 0x0D, _fn_entry(64, 5, "dir", t), b""),  # add 'dir' (entry 64) to the root (record 5)
        _op(0x0D, 0x0C, b"", _fn_entry(70, 5, "a.txt", t)),  # remove a.txt from the root ...
        _op(0x0C, 0x0D, _fn_entry(70, 64, "a.txt", t + 1), b""),  # ... and add it to \dir: a move
        _op(0x0D, 0x0C, b"", _fn_entry(71, 64, "b.txt", t)),  # remove b.txt from \dir ...
        _op(0x03, 0x02, b"", b"", vcn=71 // 4, cbo=(71 % 4) * 2),  # ... and free record 71: a deletion
    ]
    for i, data in enumerate(ops):
        rec = _record((1000 + i, 0, 0, len(data), 0, 0, 1, 24, 0), 4096 + 64 * i, "log", data)
        b.row(rec, i)
    b._flush_pending(len(ops), final=True)
    got = [(e["event"], e["full_path"], e["detail"]) for e in b.events]
    assert ("File Moving", "\\dir\\a.txt", "\\a.txt -> \\dir\\a.txt") in got
    assert any(ev == "File Deletion" and path == "\\dir\\b.txt" for ev, path, _d in got)
    assert ("Index Entry Added", "\\dir", "directory 5") in got


def test_ntfs20h1_cluster_runs_within_volume(h1: Path) -> None:
    """Mapping-pairs updates are replayed onto the run list seen earlier in the log: absolute LCNs, on the volume
    (134211584 sectors of 512 bytes = 16776448 clusters of 4096 bytes; TSK mmls/fsstat)."""
    tables, _ = _parse(h1)
    writes = [e for e in tables["logfile_events"] if e["event"] == "Non-resident Data Write"]
    assert len(writes) == 645
    import re

    lcns = [int(x) for e in writes for x in re.findall(r"\d+@(-?\d+)", e["detail"])]
    assert lcns and all(0 <= x < 16776448 for x in lcns)
    partial = [json.loads(r["detail"]) for r in tables["logfile_records"] if r.get("redo_op") == "UpdateMappingPairs"]
    assert {p["runs_known"] for p in partial} <= {"full", "from the first run", "partial update"}


# --- column batches: the same cells as the record-by-record path ------------------------------------------
def _by_rows(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[tuple[int | None, str]]]:
    """The records table and events as ``_Builder.row()`` gives them one record at a time (the path before
    column batches), with the warnings."""
    from wintriage.artifacts.logfile import _Builder, _Heads

    ctx = ParseContext("logfile", str(path))
    lf = LogFile(path.read_bytes(), ctx.warn)
    recs = list(lf.records())
    b = _Builder(ctx, lf)
    b.prescan([recs[i] for i in _Heads(RecordTable.of_records(recs)).prescan_index()])
    rows = []
    for i, r in enumerate(recs):
        if not i & 63:
            b._flush_pending(i)
        rows.append(b.row(r, i))
    b._flush_pending(len(recs), final=True)
    return rows, b.events, [(w.offset, w.reason) for w in ctx.warnings]


@pytest.mark.parametrize("name", ["LogFile_7.bin", "LogFile_10.bin", "LogFile_10_large.bin", "h1", "spray"])
def test_column_batch_equals_rows(td: TD, h1: Path, tmp_path: Path, name: str) -> None:
    from wintriage.artifacts.logfile import _Builder, _Heads
    from wintriage.model import RowBatch

    if name == "h1":
        path = h1
    elif name == "spray":  # bytes sprayed over the record pages (a record number past 64 bits among them)
        b = bytearray(td("logfile/LogFile_7.bin").read_bytes())
        for off in range(16384 + 0x40, len(b), 997):
            b[off] = (b[off] + 0x55) & 0xFF
        path = tmp_path / "spray"
        path.write_bytes(bytes(b))
    else:
        path = td(f"logfile/{name}")
    rows, events, warns = _by_rows(path)
    ctx = ParseContext("logfile", str(path))
    lf = LogFile(path.read_bytes(), ctx.warn)
    recs = lf.record_table()
    bld = _Builder(ctx, lf)
    heads = _Heads(recs)
    bld.prescan(recs.records(heads.prescan_index()))
    cols = bld.columns(recs, heads)
    bld._flush_pending(len(recs), final=True)
    names = [c for c, _ in logfile.TABLES["logfile_records"]]
    assert list(cols) == names
    got = [dict(zip(names, row, strict=True)) for row in zip(*cols.values(), strict=True)]
    want = [{c: r.get(c) for c in names} for r in rows]
    assert got == want
    if name == "spray":  # no 64-bit column holds that record number: kept in the target text, warned about
        odd = [r for r in got if r["target"] == "MFT record 24499581972895498448"]
        assert len(odd) == 1 and odd[0]["mft_entry"] is None
        assert any("out of range (corrupt target VCN)" in w for _o, w in warns)
    assert bld.events == events
    assert [(w.offset, w.reason) for w in ctx.warnings] == warns
    # parse_batches(): the records table comes as one batch; parse() gives its rows one by one
    items = list(logfile.parse_batches(path, ParseContext("logfile", str(path))))
    batches = [it for it in items if isinstance(it, RowBatch)]
    assert [b.table for b in batches] == ["logfile_records"] and len(batches[0]) == len(recs)


def test_spray_into_case_store(td: TD, tmp_path: Path) -> None:
    """A record number past 64 bits used to stop the case store (OverflowError at the insert); now it is a
    warning with the record's offset, and the rest is stored."""
    from wintriage.pipeline import run_file
    from wintriage.sinks import StoreSink
    from wintriage.store.case import CaseWriter

    b = bytearray(td("logfile/LogFile_7.bin").read_bytes())
    for off in range(16384 + 0x40, len(b), 997):
        b[off] = (b[off] + 0x55) & 0xFF
    path = tmp_path / "spray"
    path.write_bytes(bytes(b))
    case = CaseWriter(tmp_path / "case.sqlite")
    res = run_file(logfile, path, StoreSink(case))
    case.close()
    assert res.status == "warnings" and res.records == 687
    db = sqlite3.connect(tmp_path / "case.sqlite")
    assert sum(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in logfile.TABLES) == 687
    hits = db.execute("SELECT offset, reason FROM warnings WHERE reason LIKE '%out of range%'").fetchall()
    assert hits == [(51264, "log record LSN 0x801908: MFT record number 24499581972895498448 out of range "
                             "(corrupt target VCN)")]
    n_tl = db.execute("SELECT COUNT(*) FROM timeline").fetchone()[0]
    n_ev = db.execute("SELECT COUNT(*) FROM logfile_events WHERE event_time > 0").fetchone()[0]
    n_usn = db.execute("SELECT COUNT(*) FROM logfile_usn WHERE timestamp > 0").fetchone()[0]
    assert n_tl == n_ev + n_usn  # Python events for the events and USN tables only (TIMELINE_TABLES)


def _walk_variants(data: bytes) -> Iterator[bytes]:
    """The log as it is, and damaged: truncated, bytes flipped, sprayed, zeroed runs and a record page's header
    moved (so pages start with a carried position the bulk chains do not know)."""
    yield data
    for cut in (12289, 40000, len(data) - 3000):
        yield data[:cut]
    for k, o in enumerate(range(16384 + 24, len(data), max(4999, len(data) // 8))):
        b = bytearray(data)
        b[o] ^= 0xFF if k % 2 else 0x10
        yield bytes(b)
    b = bytearray(data)
    for o in range(16384 + 0x40, min(len(b), 1 << 20), 997):
        b[o] = (b[o] + 0x55) & 0xFF
    yield bytes(b)
    b = bytearray(data)
    for o in range(16384 + 1000, min(len(b), 1 << 20), 4096 * 3):
        b[o:o + 120] = bytes(120)
    yield bytes(b)


@pytest.mark.parametrize("name", ["LogFile_7.bin", "LogFile_10.bin", "LogFile_10_large.bin",
                                  "LogFile_10_downgraded.bin", "h1"])
def test_record_table_equals_records(td: TD, h1: Path, name: str) -> None:
    """The walk with the headers found in bulk (records built per page, or on demand from the table) gives
    exactly the page-by-page walk: the same records in the same order, the same warnings, with and without the
    unused pages."""
    data = (h1 if name == "h1" else td(f"logfile/{name}")).read_bytes()
    for v in list(_walk_variants(data))[:5 if name == "h1" else None]:
        for unused in (True, False):
            w1: list[tuple[int | None, str]] = []
            w2: list[tuple[int | None, str]] = []
            plain = LogFile(v, lambda o, r, w=w1: w.append((o, r)))
            plain._chained = True  # no headers found in bulk: every page read record by record
            want = [tuple(r) for r in plain.records(unused)]
            w3: list[tuple[int | None, str]] = []
            assert [tuple(r) for r in LogFile(v, lambda o, r, w=w3: w.append((o, r))).records(unused)] == want
            assert w3 == w1
            t = LogFile(v, lambda o, r, w=w2: w.append((o, r))).record_table(unused)
            got = [tuple(r) for r in t.records(list(range(len(t))))]
            assert got == want and w2 == w1
            assert t.lsn.tolist() == [r[0] for r in want] and t.kinds == [r[10] for r in want]
            assert t.lens.tolist() == [len(r[11]) for r in want] and t.offset.tolist() == [r[9] for r in want]
            assert [t.data(i) for i in range(len(t))] == [r[11] for r in want]
            heads = t.heads(40)
            assert [bytes(heads[i]) for i in range(len(t))] == [(r[11] + bytes(40))[:40] for r in want]


def test_detail_json_is_to_json() -> None:
    """Operation details go through orjson (``_detail_json``): the same text as ``to_json`` for what the decoders
    put there, and ``to_json``'s own text where orjson refuses a value."""
    import random

    from wintriage.artifacts.base import to_json
    from wintriage.artifacts.logfile import _detail_json

    rng = random.Random(5)
    alphabet = [chr(c) for c in (*range(0, 0x80), 0x7F, 0x80, 0xA0, 0xE9, 0x2028, 0x2029, 0xAC00, 0xFEFF, 0xFFFD,
                                 0x1F600, 0x10FFFF)]
    for _ in range(2000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
        d = {"name": s, s: [rng.randrange(-(1 << 63), 1 << 63), None, True, False, {"k": s}],
             "n": rng.choice([0, -1, (1 << 64) - 1, 1 << 64, -(1 << 63) - 1]), "b": s.encode("utf-8", "replace")}
        assert _detail_json(d) == to_json(d)
    assert _detail_json({1: "x"}) == to_json({1: "x"})  # a non-str key
    assert _detail_json({"s": "\ud800"}) == to_json({"s": "\ud800"})  # a lone surrogate
