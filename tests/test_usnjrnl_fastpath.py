"""$J fast paths: the vectorised walk of page-padded journals and the byte-matrix CSV renderer give exactly what
the record-by-record walk and the per-cell renderer give (records, warnings, batches, CSV bytes)."""

from __future__ import annotations

import mmap
import struct
from collections.abc import Callable, Iterator
from datetime import UTC, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from wintriage.artifacts import usnjrnl
from wintriage.artifacts.base import ParseContext
from wintriage.model import RowBatch

TD = Callable[[str], Path]
PAGE = usnjrnl.PAGE


@pytest.fixture(scope="module")
def v2(td: TD) -> list[bytes]:
    """The real V2 records of usnjrnlj.bin (a Windows 10 journal)."""
    data = td("usnjrnl/usnjrnlj.bin").read_bytes()
    ctx = ParseContext("usnjrnl", "j")
    return [data[r.data["offset"]:r.data["offset"] + r.data["record_length"]]
            for r in usnjrnl.parse(td("usnjrnl/usnjrnlj.bin"), ctx) if r.data["major_version"] == 2]


@pytest.fixture(scope="module")
def v4(td: TD) -> bytes:
    return td("usnjrnl/usn_1170989584.bin").read_bytes()


def patched(rec: bytes, name: str | None = None, **fields: int) -> bytes:
    """A V2 record with some fields replaced (usn, ts, fref, pref, reason, attrs) and maybe another name."""
    r = bytearray(rec)
    if name is not None:
        raw = name.encode("utf-16-le")
        ln = (60 + len(raw) + 7) & ~7
        r = r[:60] + bytearray(raw) + bytes(ln - 60 - len(raw))
        struct.pack_into("<IHH", r, 0, ln, 2, 0)
        struct.pack_into("<HH", r, 56, len(raw), 60)
    at = {"fref": (8, "<Q"), "pref": (16, "<Q"), "usn": (24, "<Q"), "ts": (32, "<q"), "reason": (40, "<I"),
          "attrs": (52, "<I")}
    for k, v in fields.items():
        off, fmt = at[k]
        struct.pack_into(fmt, r, off, v)
    return bytes(r)


def v3_of(rec: bytes) -> bytes:
    """The same change as a V3 record (128-bit references)."""
    (_l, _ma, _mi, fref, pref, usn, ts, reason, src, sec, attrs, nlen, noff) = usnjrnl._V2.unpack_from(rec)
    name = rec[noff:noff + nlen]
    ln = (76 + nlen + 7) & ~7
    out = bytearray(ln)
    usnjrnl._V3.pack_into(out, 0, ln, 3, 0, fref.to_bytes(16, "little"), pref.to_bytes(16, "little"), usn, ts,
                          reason, src, sec, attrs, nlen, 76)
    out[76:76 + nlen] = name
    return bytes(out)


def pages_of(records: list[bytes]) -> list[bytearray]:
    """Records packed into 4 KiB pages with zero padding, as Windows writes them."""
    pages: list[bytearray] = []
    page = bytearray()
    for r in records:
        if len(page) + len(r) > PAGE:
            pages.append(bytearray(page.ljust(PAGE, b"\x00")))
            page = bytearray()
        page += r
    pages.append(bytearray(page.ljust(PAGE, b"\x00")))
    return pages


def chain_end(page: bytes | bytearray) -> int:
    pos = 0
    while pos + 8 <= PAGE:
        ln = int.from_bytes(page[pos:pos + 4], "little")
        if not ln:
            break
        pos += ln
    return pos


def walk(path: Path, vectorised: bool, monkeypatch: pytest.MonkeyPatch, batch: int = usnjrnl.BATCH,
         **options: Any) -> tuple[list[int], list[tuple[Any, ...]], list[tuple[int | None, str]], int]:
    """Batch sizes, rows (all columns), warnings and skips of ``parse_batches``, with or without clean pages."""
    with monkeypatch.context() as m:
        m.setattr(usnjrnl, "BATCH", batch)
        if not vectorised:
            m.setattr(usnjrnl, "_clean_pages", lambda words, base, n: (np.zeros(n, bool),) + (np.zeros(n + 1, np.int64),) * 3)
        ctx = ParseContext("usnjrnl", str(path), options=options)
        sizes: list[int] = []
        rows: list[tuple[Any, ...]] = []
        for item in usnjrnl.parse_batches(path, ctx):
            if isinstance(item, RowBatch):
                sizes.append(len(item))
                rows += [tuple(sorted(r.data.items())) for r in item.records()]
            else:
                sizes.append(-1)
                rows.append(tuple(sorted(item.data.items())))
    return sizes, rows, [(w.offset, w.reason) for w in ctx.warnings], ctx.skipped


def same_walks(path: Path, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> tuple[list[int], list[tuple[Any, ...]],
                                                                                 list[tuple[int | None, str]], int]:
    fast = walk(path, True, monkeypatch, **kw)
    assert fast == walk(path, False, monkeypatch, **kw)
    return fast


def clean_flags(path: Path, base: int, npages: int) -> list[bool]:
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        words = np.frombuffer(mm, dtype="<u8", count=len(mm) // 8)
        clean = usnjrnl._clean_pages(words, base, npages)[0].tolist()
        del words
    return clean


def test_clean_journal_takes_every_page_at_once(v2: list[bytes], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    recs = [patched(v2[i % len(v2)], usn=i) for i in range(1000)]
    pages = pages_of(recs)
    j = tmp_path / "J"
    j.write_bytes(bytes(2 * PAGE) + b"".join(pages))  # a zero head, as an exported $J has
    assert clean_flags(j, 0, len(pages) + 2) == [True] * (len(pages) + 2)
    calls: list[int] = []
    real = usnjrnl._clean_pages

    def spy(words: Any, base: int, n: int) -> Any:
        calls.append(n)
        return real(words, base, n)

    monkeypatch.setattr(usnjrnl, "_clean_pages", spy)
    sizes, rows, warnings, skipped = walk(j, True, monkeypatch)
    assert calls == [len(pages) + 2]  # one look at all pages; no record walked one by one
    monkeypatch.undo()
    assert (sizes, warnings, skipped) == ([1000], [], 0)
    assert [dict(r)["usn"] for r in rows] == list(range(1000))
    assert same_walks(j, monkeypatch)[0] == [1000]
    assert same_walks(j, monkeypatch, batch=7)[0] == [7] * 142 + [6]  # batches cut where the scalar walk cuts


def test_pages_that_are_not_clean_are_walked_record_by_record(v2: list[bytes], v4: bytes, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    recs = [patched(v2[i % len(v2)], usn=i) for i in range(1200)]
    pages = pages_of(recs)
    n = len(pages)
    assert n >= 30
    # 3: junk after the chain; 5: a stray byte far after it; 8: a V3 and a V4 record inside; 11: a bad record
    # mid-page; 14: all zero; 17-18: a record crossing into the next page; 21: the chain ends exactly at the end
    for k, at in ((3, 8), (5, 900)):
        end = chain_end(pages[k])
        pages[k][min(end + at, PAGE - 1)] = 0x41
    p8 = b"".join((v2[0], v3_of(v2[1]), v4, v2[2]))
    pages[8] = bytearray(p8.ljust(PAGE, b"\x00"))
    mid = len(v2[0]) + len(v2[1])
    pages[11] = bytearray((v2[0] + v2[1] + v2[2] + v2[3]).ljust(PAGE, b"\x00"))
    pages[11][mid:mid + 4] = b"\xff\xff\x00\x07"
    pages[14] = bytearray(PAGE)
    tail = bytearray(pages[17][:chain_end(pages[17])])
    cross = v2[5]
    room = PAGE - len(tail)
    pages[17] = tail + bytearray(cross[:room])
    pages[18] = bytearray((cross[room:] + bytes(-len(cross[room:]) % 8) + v2[6]).ljust(PAGE, b"\x00"))
    fill = bytearray()
    while len(fill) + 2 * len(v2[7]) <= PAGE:
        fill += v2[7]
    pages[21] = bytearray(fill + patched(v2[7], name="x" * ((PAGE - len(fill) - 60) // 2)))
    assert len(pages[21]) == PAGE and chain_end(pages[21]) == PAGE
    j = tmp_path / "J"
    j.write_bytes(b"".join(pages))
    clean = clean_flags(j, 0, n)
    assert [i for i in range(n) if not clean[i]] == [3, 5, 8, 11, 17, 18]
    assert clean[14] and clean[21]
    sizes, rows, warnings, skipped = same_walks(j, monkeypatch)
    kinds = [dict(r)["major_version"] for r in rows]
    assert kinds.count(3) == 1 and kinds.count(4) == 1
    assert warnings and skipped == len(warnings)
    assert any(o == 11 * PAGE + mid for o, _ in warnings)  # the bad record mid-page, at its own offset
    assert same_walks(j, monkeypatch, batch=5)[1:] == (rows, warnings, skipped)
    carved = same_walks(j, monkeypatch, carve=True)
    assert carved[1] and carved[3] == skipped


def test_walks_that_stop_and_start_at_a_page_join(v2: list[bytes], tmp_path: Path) -> None:
    """``_scan(stop=m)`` then ``_scan(start=m)`` is the whole walk, with clean pages on both sides of ``m``."""
    recs = [patched(v2[i % len(v2)], usn=i) for i in range(800)]
    pages = pages_of(recs)
    pages[4] = bytearray(PAGE)
    j = tmp_path / "J"
    j.write_bytes(b"".join(pages))

    def offsets(items: Iterator[Any]) -> list[int]:
        out: list[int] = []
        for it in items:
            out += [r.data["offset"] for r in it.records()] if isinstance(it, RowBatch) else [it.data["offset"]]
        return out

    with open(j, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        whole = offsets(usnjrnl._scan(mm, len(mm), ParseContext("usnjrnl", "j")))
        for m in (4 * PAGE, 5 * PAGE, 9 * PAGE):
            stopped: list[int] = []
            first = offsets(usnjrnl._scan(mm, len(mm), ParseContext("usnjrnl", "j"), 0, m, stopped))
            assert stopped[0] >= m
            rest = offsets(usnjrnl._scan(mm, len(mm), ParseContext("usnjrnl", "j"), stopped[0]))
            assert first + rest == whole
            assert all(o < m for o in first)


def _csv_both(offsets: np.ndarray, path: Path, tz: timezone, resolver: Any = None) -> tuple[bytes | None, bytes]:
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        ctx = ParseContext("usnjrnl", "C:\\cases\\a,b\\$J", resources={"mft": resolver} if resolver else {})
        bulk = usnjrnl._Bulk(mm, len(mm), ctx)
        try:
            fast = bulk.csv_text(offsets, tz)
            slow = usnjrnl._j_csv_batch(bulk._shown(offsets)[0], tz)
        finally:
            bulk.close()
    assert isinstance(slow, str)
    return fast, slow.encode()


@pytest.mark.parametrize("tz", [UTC, timezone(timedelta(hours=9)), timezone(-timedelta(hours=5, minutes=30))])
def test_csv_matrix_is_the_per_cell_csv(v2: list[bytes], tmp_path: Path, tz: timezone) -> None:
    """Quoted names and extensions, non-ASCII and non-BMP names, names without or with a trailing dot, times
    missing, before 1601 in the zone or past 9999, 64-bit USNs and 48-bit entries: byte for byte."""
    names = ["plain.txt", "a,b.txt", 'q"uote".d"oc', "line\r\nbreak", "한글 파일.hwp", "emoji\U0001F600.png",
             "noext", "trail.", ".hidden", "x.a,b", "", "ÿ.ÿ"]
    specials: list[dict[str, int]] = [
        {"ts": 0}, {"ts": -5}, {"ts": 1}, {"ts": 2650467743999999999}, {"ts": 2650467743999999999 + 10**12},
        {"ts": 2**63 - 1}, {"usn": 2**32 + 7}, {"usn": 10**18 + 123}, {"usn": 2**64 - 1},
        {"fref": (0xFFFF << 48) | 0xFFFFFFFFFFFF}, {"pref": (3 << 48) | 5}, {"reason": 0xFFFFFFFF},
        {"attrs": 0}, {"attrs": 0xFFFFFFFF}, {"usn": 0},
    ]
    recs = []
    for i in range(600):
        fields = dict(specials[i % len(specials)]) if i % 3 == 0 else {}
        recs.append(patched(v2[i % len(v2)], name=names[i // 2 % len(names)] if i % 2 else None, **fields))
    j = tmp_path / "J"
    data = b"".join(pages_of(recs))
    j.write_bytes(data)
    ctx = ParseContext("usnjrnl", str(j))
    offs = np.array([r.data["offset"] for r in usnjrnl.parse(j, ctx)], dtype=np.int64)
    assert len(offs) == 600
    fast, slow = _csv_both(offs, j, tz)
    assert fast == slow
    rows = [r.data for r in usnjrnl.parse(j, ParseContext("usnjrnl", str(j)))]
    assert [r["extension"] for r in rows] == [usnjrnl._ext(r["name"]) for r in rows]  # bulk extensions
    assert {r["extension"] for r in rows} >= {".txt", '.d"oc', ".hwp", ".png", "", ".hidden", ".a,b", ".ÿ"}
    for part in (offs[:1], offs[1:2], offs[5:9], offs[::7]):  # single rows, small batches
        fast, slow = _csv_both(part, j, tz)
        assert fast == slow


def test_csv_matrix_with_parent_paths(td: TD) -> None:
    from wintriage.artifacts import mft

    res = mft.build_resolver(td("mft/derived/ntfs20h1_MFT.bin"))
    j = td("usnjrnl/derived/ntfs20h1_UsnJrnl_J.bin")
    offs = np.array([r.data["offset"] for r in usnjrnl.parse(j, ParseContext("usnjrnl", "j"))], dtype=np.int64)
    for tz in (UTC, timezone(timedelta(hours=9))):
        fast, slow = _csv_both(offs, j, tz, res)
        assert fast == slow and b".\\System Volume Information" in fast


def test_csv_matrix_declines_names_it_cannot_lay_out(v2: list[bytes], tmp_path: Path) -> None:
    """A NUL inside a name, or an odd name length: the batch goes to the per-cell renderer."""
    nul = patched(v2[0], name="a\x00b.txt")
    odd = bytearray(patched(v2[1], name="abc"))
    struct.pack_into("<H", odd, 56, 5)
    j = tmp_path / "J"
    for bad in (nul, bytes(odd)):
        j.write_bytes(b"".join(pages_of([v2[2], bad, v2[3]])))
        offs = np.array([0, len(v2[2]), len(v2[2]) + len(bad)], dtype=np.int64)
        fast, _slow = _csv_both(offs, j, UTC)
        assert fast is None


def test_join_takes_the_workers_output_from_where_this_walk_stopped() -> None:
    parts = [(1, 10, 100), (1, 11, 180), (1, 12, 260), (5000, 13, 340)]
    log: list[tuple[int | None, str, bool]] = [(90, "bad at 90", True), (300, "bad at 300", True)]
    assert usnjrnl._join(100, 100, parts, log) == (0, [(1, 10), (1, 11), (1, 12), (5000, 13)], log[1:])
    assert usnjrnl._join(180, 100, parts, log) == (10, [(1, 11), (1, 12), (5000, 13)], log[1:])
    assert usnjrnl._join(300, 100, parts, log) == (33, [(5000, 13)], log[1:])  # a bad record where it stopped
    assert usnjrnl._join(200, 100, parts, log) is None  # the worker never was at 200
    assert usnjrnl._join(400, 100, parts, log) is None
    assert usnjrnl._join(4096, 4096, [], []) == (0, [], [])  # the worker started there and found nothing


@pytest.mark.parametrize("paged", [True, False])
@pytest.mark.parametrize("damage_at", [0, 8, 40, 200, 5000])
def test_split_csv_with_damage_around_the_middle(v2: list[bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 paged: bool, damage_at: int) -> None:
    """Whatever the worker meets where it starts (a bad record, a record's middle, a clean page), the two-process
    CSV and its warnings are the one-process ones."""
    from wintriage.pipeline import run_file
    from wintriage.sinks import CsvSink

    recs = [patched(v2[i % len(v2)], usn=i) for i in range(3000)]
    data = bytearray(bytes(PAGE) + (b"".join(pages_of(recs)) if paged else b"".join(recs)))
    mid = (len(data) * usnjrnl._PARENT_SHARE // 100) & ~4095
    data[mid + damage_at:mid + damage_at + 4] = b"\xff\xff\x00\x07"
    j = tmp_path / "J"
    j.write_bytes(bytes(data))
    out = {}
    for split in (False, True):
        monkeypatch.setattr(usnjrnl, "_SPLIT_MIN", 0 if split else 1 << 60)
        sink = CsvSink(tmp_path / str(split))
        res = run_file(usnjrnl, j, sink, options={"csv_workers": 2, "csv_tz": UTC}, hash_input=False)
        sink.close()
        out[split] = ((tmp_path / str(split) / "MFTECmd_$J_Output.csv").read_bytes(),
                      [(w.offset, w.reason) for w in sink.warnings], res.records, res.skipped)
    assert out[True] == out[False]
    if paged and damage_at == 0:  # a record header at the page start
        assert out[False][1][0][0] == mid
