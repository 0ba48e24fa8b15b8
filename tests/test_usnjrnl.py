"""$UsnJrnl:$J parser: exact MANIFEST facts, Windows' own fsutil oracle, TSK usnjls, invariance, corruption."""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from wintriage.artifacts import mft, usnjrnl
from wintriage.artifacts.base import ParseContext
from wintriage.timeutil import from_datetime, iso

TD = Callable[[str], Path]


def run(path: Path, **options: Any) -> tuple[list[dict[str, Any]], ParseContext]:
    res = options.pop("resolver", None)
    ctx = ParseContext("usnjrnl", str(path), options=options)
    if res is not None:
        ctx.resources["mft"] = res
    rows = [r.data for r in usnjrnl.parse(path, ctx)]
    return rows, ctx


def parse_fsutil(text: str) -> list[dict[str, str]]:
    """fsutil usn readjournal output: one block per record, each starting with ``Usn :``."""
    out: list[dict[str, str]] = []
    for line in text.splitlines():
        k, sep, v = line.partition(":")
        if not sep:
            continue
        k = k.strip()
        if k == "Usn":
            out.append({})
        if out:
            out[-1].setdefault(k, v.strip())
    return out


def test_usnjrnlj_matches_fsutil(td: TD) -> None:
    rows, ctx = run(td("usnjrnl/usnjrnlj.bin"))
    assert len(rows) == 271
    assert ctx.warning_count == 0
    oracle = parse_fsutil(td("usnjrnl/usnjrnlj.fsutil.txt").read_text(encoding="utf-8", errors="replace"))
    assert len(oracle) == 268
    by_usn = {r["usn"]: r for r in rows}
    assert len(by_usn) == 271
    for o in oracle:
        r = by_usn[int(o["Usn"])]
        assert int(o["Reason"].split(":")[0], 16) == r["reason_flags"]
        assert o["File ID"] == r["file_ref"]
        assert o["Parent file ID"] == r["parent_ref"]
        assert int(o["Major version"]) == (3 if r["major_version"] == 2 else r["major_version"])
        assert int(o["Record length"]) >= 0
        if r["major_version"] == 4:
            assert r["name"] == "" and r["timestamp"] is None
            continue
        assert o["File name"] == r["name"]
        dt = datetime.strptime(o["Time stamp"], "%m/%d/%Y %H:%M:%S").replace(tzinfo=UTC)
        assert r["timestamp"] // 10_000_000 == from_datetime(dt) // 10_000_000
        assert int(o["File attributes"].split(":")[0], 16) == r["attr_flags"]
        assert int(o["Security ID"]) == r["security_id"]
    remaining = sorted(set(by_usn) - {int(o["Usn"]) for o in oracle})
    assert remaining == [29792, 29880, 29968]
    first, last = rows[0], rows[-1]
    assert (first["usn"], first["name"], first["reason_flags"]) == (0, "New folder", 0x100)
    assert iso(first["timestamp"], digits=6) == "2019-01-22T21:36:10.924361Z"
    assert (last["usn"], last["name"], last["reason_flags"]) == (29968, "$TxfLog.blf", 0x80000001)
    assert first["reasons"] == "FileCreate" and last["reasons"] == "DataOverwrite|Close"
    assert first["attributes"] == "Directory"


@pytest.mark.parametrize("n", [8, 16, 4096, 8192, 4096008])
def test_zero_prefix_invariance(td: TD, tmp_path: Path, n: int) -> None:
    data = td("usnjrnl/usnjrnlj.bin").read_bytes()
    p = tmp_path / "j"
    p.write_bytes(b"\x00" * n + data)
    rows, ctx = run(p)
    assert len(rows) == 271 and ctx.warning_count == 0
    assert rows[0]["offset"] == n


def test_huge_sparse_prefix(td: TD, tmp_path: Path) -> None:
    data = td("usnjrnl/usnjrnlj.bin").read_bytes()
    p = tmp_path / "sparse_j"
    with open(p, "wb") as fh:  # 100,000,000 zero bytes as a sparse hole
        fh.seek(100_000_000)
        fh.write(data)
    rows, ctx = run(p)
    assert len(rows) == 271 and ctx.warning_count == 0


@pytest.mark.parametrize("head,gap", [(0, 512), (512, 1024), (4096, 4096), (4096, 8192), (4096, 8200)])
def test_two_copies_with_gaps(td: TD, tmp_path: Path, head: int, gap: int) -> None:
    data = td("usnjrnl/usnjrnlj.bin").read_bytes()
    p = tmp_path / "j2"
    p.write_bytes(b"\x00" * head + data + b"\x00" * gap + data)
    rows, ctx = run(p)
    assert len(rows) == 2 * 271 and ctx.warning_count == 0


def test_single_records(td: TD) -> None:
    (r,), _ = run(td("usnjrnl/usn_1170953448.bin"))
    assert r["major_version"] == 2 and r["name"] == "large_file.txt" and r["usn"] == 1170953448
    assert r["attr_flags"] == 0x20 and r["attributes"] == "Archive"
    assert r["reason_flags"] == 0x80000001 and r["reasons"] == "DataOverwrite|Close"
    assert r["file_ref"] == "0000000000000000000d000000013252"
    assert r["parent_ref"] == "000000000000000000060000000009eb"
    assert (r["entry"], r["sequence"]) == (0x13252, 0xD)
    assert r["source_info"] == 0 and r["security_id"] == 0
    assert iso(r["timestamp"], digits=0) == "2019-01-21T22:36:05Z" and r["timestamp"] % 10_000_000 // 10 != 0

    (r,), _ = run(td("usnjrnl/usn_1170990440.bin"))
    assert r["major_version"] == 2 and r["name"] == "mpasbase.vdm" and r["usn"] == 1170990440
    assert r["attr_flags"] == 0x20 and r["reason_flags"] == 0x80010800
    assert r["reasons"] == "SecurityChange|HardLinkChange|Close"
    assert r["file_ref"] == "00000000000000000002000000013424"
    assert r["parent_ref"] == "000000000000000000010000000006b7"
    assert iso(r["timestamp"], digits=0) == "2019-01-21T22:41:17Z"

    (r,), _ = run(td("usnjrnl/usn_1170989584.bin"))
    assert r["major_version"] == 4 and r["usn"] == 1170989584 and r["reason_flags"] == 0x80000102
    assert r["reasons"] == "DataExtend|FileCreate|Close"
    assert r["file_ref"] == "00000000000000000004000000013de8"
    assert r["parent_ref"] == "00000000000000000004000000001076"
    assert r["remaining_extents"] == 0 and r["extents"] == "0:2162688"

    (r,), _ = run(td("usnjrnl/usn_1170955904.bin"))
    assert r["major_version"] == 4 and r["usn"] == 1170955904 and r["reason_flags"] == 0x80000001
    assert r["file_ref"] == "000000000000000000020000000051c0"
    assert r["parent_ref"] == "00000000000000000004000000001066"
    assert r["extents"] == "0:16384,6242304:32768"


def test_plaso_usnjrnl_raw(td: TD) -> None:
    rows, ctx = run(td("usnjrnl/UsnJrnl.raw"))
    assert len(rows) == 19 and ctx.warning_count == 0
    f = rows[0]
    assert (f["usn"], f["name"], f["reason_flags"], f["entry"], f["sequence"], f["parent_entry"]) == (
        0, "Nieuw - Tekstdocument.txt", 0x100, 30, 1, 5)
    assert iso(f["timestamp"]) == "2015-11-30T21:15:27.2031250Z"
    names = [r["name"] for r in rows]
    assert "first.txt" in names and "Kopie van first.txt" in names and "second.txt" in names
    assert any(r["name"] == "Kopie van first.txt" and r["entry"] == 31 for r in rows)
    assert (rows[-1]["usn"], rows[-1]["name"], rows[-1]["reason_flags"]) == (1664, ".", 0x80080000)


_TSK_REASONS = {
    "DATA_OVERWRITE": 0x1, "DATA_EXTEND": 0x2, "DATA_TRUNCATION": 0x4, "NAMED_DATA_OVERWRITE": 0x10,
    "NAMED_DATA_EXTEND": 0x20, "NAMED_DATA_TRUNCATION": 0x40, "FILE_CREATE": 0x100, "FILE_DELETE": 0x200,
    "EA_CHANGE": 0x400, "SECURITY_CHANGE": 0x800, "RENAME_OLD_NAME": 0x1000, "RENAME_NEW_NAME": 0x2000,
    "INDEXABLE_CHANGE": 0x4000, "BASIC_INFO_CHANGE": 0x8000, "HARD_LINK_CHANGE": 0x10000,
    "COMPRESSION_CHANGE": 0x20000, "ENCRYPTION_CHANGE": 0x40000, "OBJECT_ID_CHANGE": 0x80000,
    "REPARSE_POINT_CHANGE": 0x100000, "STREAM_CHANGE": 0x200000, "CLOSE": 0x80000000,
}


def test_ntfs20h1_against_usnjls_and_mft(td: TD) -> None:
    res = mft.build_resolver(td("mft/derived/ntfs20h1_MFT.bin"))
    rows, ctx = run(td("usnjrnl/derived/ntfs20h1_UsnJrnl_J.bin"), resolver=res)
    assert len(rows) == 188 and ctx.warning_count == 0
    f, last = rows[0], rows[-1]
    assert (f["usn"], f["name"], f["reason_flags"], f["entry"], f["sequence"], f["parent_entry"],
            f["parent_sequence"]) == (0, "SPP", 0x100, 43, 1, 36, 1)
    assert iso(f["timestamp"], digits=6) == "2020-07-25T12:25:52.398963Z"
    assert f["parent_path"] == "/System Volume Information"
    assert (last["usn"], last["name"], last["reason_flags"]) == (20224, "$TxfLog.blf", 0x80000001)
    assert iso(last["timestamp"], digits=6) == "2020-07-25T12:49:42.497756Z"
    assert last["parent_path"] == "/$Extend/$RmMetadata/$TxfLog"
    lines = td("usnjrnl/derived/ntfs20h1_UsnJrnl_J.tsk_usnjls.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 188
    for line, r in zip(lines, rows, strict=True):
        ref, pref, t, reasons, name = line.split("\t")
        assert ref == f"{r['entry']}-{r['sequence']}" and pref == f"{r['parent_entry']}-{r['parent_sequence']}"
        secs, frac = t.split(".")
        assert (r["timestamp"] - 116444736000000000) // 10_000_000 == int(secs)
        if len(frac) == 9:  # usnjls prints the nanoseconds without zero padding: compare when unambiguous
            assert r["timestamp"] % 10_000_000 == int(frac) // 100
        flags = 0
        for word in reasons.split():
            flags |= _TSK_REASONS[word]
        assert flags == r["reason_flags"]
        assert name == r["name"]
    # every parent reference is resolved (this $MFT is the same volume) or explicitly unknown
    assert all(r["parent_path"] for r in rows)
    assert all(r["parent_path"] != usnjrnl.UNKNOWN for r in rows if r["parent_entry"] in (5, 36))


def test_reused_parent_gives_unknown(td: TD) -> None:
    res = mft.build_resolver(td("mft/derived/ntfs20h1_MFT.bin"))
    seq = res.sequence(36)
    assert seq is not None and res.resolve(36, seq) == "/System Volume Information"
    assert res.resolve(36, seq + 5) is None  # the slot was reused: never a wrong path
    assert res.resolve(10**9, 1) is None


def test_without_mft_parent_path_empty(td: TD) -> None:
    rows, _ = run(td("usnjrnl/UsnJrnl.raw"))
    assert all(r["parent_path"] == "" for r in rows)


def test_garbage_resync_and_carve(td: TD, tmp_path: Path) -> None:
    data = td("usnjrnl/UsnJrnl.raw").read_bytes()
    junk = bytes(random.Random(5).randrange(1, 256) for _ in range(800))
    p = tmp_path / "j"
    p.write_bytes(data + junk + data)
    rows, ctx = run(p)
    assert len(rows) == 38
    assert ctx.warning_count >= 1 and all(w.offset is not None and w.offset >= len(data) for w in ctx.warnings)
    assert not any(r["carved"] for r in rows)
    rows, ctx = run(p, carve=True)
    assert len(rows) == 38 and ctx.warning_count == 0
    assert [r["carved"] for r in rows].count(True) == 19


def test_corruption_sweep(td: TD, tmp_path: Path) -> None:
    data = td("usnjrnl/usnjrnlj.bin").read_bytes()
    rng = random.Random(1234)
    p = tmp_path / "c"
    variants: list[bytes] = [data[:n] for n in (0, 5, 60, 100, 4095, 15000, len(data) - 3)]
    for _ in range(25):
        b = bytearray(data)
        for _k in range(rng.randint(1, 20)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        variants.append(bytes(b))
    variants.append(bytes(rng.randrange(256) for _ in range(20000)))
    for v in variants:
        p.write_bytes(v)
        rows, ctx = run(p)
        assert len(rows) <= 271 + 40
        for w in ctx.warnings:
            assert w.offset is not None and 0 <= w.offset <= len(v)
    # truncation inside a record is reported with its offset
    p.write_bytes(data[:100])
    rows, ctx = run(p)
    assert len(rows) == 1 and ctx.warning_count == 1 and ctx.warnings[0].offset == rows[0]["record_length"] == 80


def test_timeline(td: TD) -> None:
    res = mft.build_resolver(td("mft/derived/ntfs20h1_MFT.bin"))
    ctx = ParseContext("usnjrnl", "j", resources={"mft": res})
    rec = next(iter(usnjrnl.parse(td("usnjrnl/derived/ntfs20h1_UsnJrnl_J.bin"), ctx)))
    (ev,) = list(usnjrnl.timeline(rec))
    assert ev.ts_desc == "FileCreate" and ev.path == "/System Volume Information/SPP"
    assert "FileCreate" in ev.summary


def test_cli_csv(td: TD, tmp_path: Path) -> None:
    from wintriage.cli import main

    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["parse", "usnjrnl", str(td("usnjrnl/derived/ntfs20h1_UsnJrnl_J.bin")),
                                  "--mft", str(td("mft/derived/ntfs20h1_MFT.bin")), "--csv", str(out)])
    assert r.exit_code == 0, r.output
    f = out / "MFTECmd_$J_Output.csv"
    raw = f.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert rows[0] == ["Name", "Extension", "EntryNumber", "SequenceNumber", "ParentEntryNumber",
                       "ParentSequenceNumber", "ParentPath", "UpdateSequenceNumber", "UpdateTimestamp",
                       "UpdateReasons", "FileAttributes", "OffsetToData", "SourceFile"]
    assert len(rows) == 1 + 188
    assert rows[1][:10] == ["SPP", "", "43", "1", "36", "1", ".\\System Volume Information", "0",
                            "2020-07-25 12:25:52.3989637", "FileCreate"]


def test_reused_parent_in_journal_gives_unknown(td: TD, tmp_path: Path) -> None:
    """A record whose parent directory slot was reused since (sequence differs) never gets a wrong path."""
    res = mft.build_resolver(td("mft/derived/ntfs20h1_MFT.bin"))
    data = bytearray(td("usnjrnl/derived/ntfs20h1_UsnJrnl_J.bin").read_bytes())
    pref = int.from_bytes(data[16:24], "little")
    data[16:24] = (pref + (7 << 48)).to_bytes(8, "little")  # same parent entry (36), sequence 1 -> 8
    p = tmp_path / "j"
    p.write_bytes(bytes(data))
    rows, ctx = run(p, resolver=res)
    assert len(rows) == 188 and ctx.warning_count == 0
    assert (rows[0]["parent_entry"], rows[0]["parent_sequence"], rows[0]["parent_path"]) == (36, 8, "<Unknown>")
    assert rows[1]["parent_path"] == "/System Volume Information"


def _journal(records: list[bytes], copies: int, paged: bool, damage: tuple[int, ...] = ()) -> bytes:
    """``copies`` of the records, each copy's USN patched to its offset; ``paged``: packed into 4 KiB pages with
    zero padding as Windows writes them (no record crosses a page), else back to back."""
    out = bytearray(bytes(4096))
    page = bytearray()
    for i in range(copies * len(records)):
        r = bytearray(records[i % len(records)])
        if paged and len(page) + len(r) > 4096:
            out += page.ljust(4096, b"\x00")
            page = bytearray()
        r[24:32] = (len(out) + len(page)).to_bytes(8, "little")
        page += r
    out += page.ljust(4096, b"\x00") if paged else page
    for d in damage:
        out[d:d + 4] = b"\xff\xff\x00\x07"
    return bytes(out)


@pytest.mark.parametrize("paged", [True, False])
def test_csv_split_over_two_processes_is_the_sequential_csv(td: TD, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             paged: bool) -> None:
    """``parse usnjrnl --csv`` walks the second half in a forked worker: same CSV bytes and warnings as one walk,
    whether the walks join at the page boundary (paged journal) or at the first record after it."""
    from wintriage.parsecmd import run_parse
    from wintriage.pipeline import run_file
    from wintriage.sinks import CsvSink

    rows, _ = run(td("usnjrnl/usnjrnlj.bin"))
    data = td("usnjrnl/usnjrnlj.bin").read_bytes()
    recs = [data[r["offset"]:r["offset"] + r["record_length"]] for r in rows if r["major_version"] == 2]
    j = tmp_path / "J"
    j.write_bytes(_journal(recs, 40, paged))
    size = j.stat().st_size
    offs = [r["offset"] for r in run(j)[0]]
    j.write_bytes(_journal(recs, 40, paged, damage=(offs[len(offs) // 4], offs[len(offs) * 3 // 4])))
    seq = CsvSink(tmp_path / "seq")
    res = run_file(usnjrnl, j, seq, hash_input=False)
    seq.close()
    assert res.warnings >= 2
    calls: list[tuple[int, int | None]] = []
    scan = usnjrnl._scan

    def spy(mm: Any, end: int, ctx: ParseContext, start: int = 0, stop: int | None = None,
            stopped: list[int] | None = None, csv_tz: Any = None, head: int = 0) -> Any:
        calls.append((start, stop))
        return scan(mm, end, ctx, start, stop, stopped, csv_tz, head)

    monkeypatch.setattr(usnjrnl, "_SPLIT_MIN", 0)
    monkeypatch.setattr(usnjrnl, "_scan", spy)
    out = run_parse("usnjrnl", [j], csv_dir=tmp_path / "split", db=None, options={}, quiet=True)
    name = "MFTECmd_$J_Output.csv"
    assert (tmp_path / "split" / name).read_bytes() == (tmp_path / "seq" / name).read_bytes()
    assert (out["records"], out["warnings"], out["skipped"]) == (res.records, res.warnings, res.skipped)
    mid = (size * usnjrnl._PARENT_SHARE // 100) & ~4095
    assert calls[0] == (0, mid)
    # joined: the worker's half is used (records back to back: the worker starts inside one, resynchronises on
    # the next, which is where this process's walk stopped, so the worker's output from there on is used)
    assert len(calls) == 1
