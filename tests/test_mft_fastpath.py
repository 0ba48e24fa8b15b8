"""The vectorised $MFT path gives exactly what the per-record decoder gives: records and warnings, on every
sample and on damaged copies (the fast path must hand every odd record to the per-record decoder)."""

from __future__ import annotations

import os
import random
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from wintriage.artifacts import mft
from wintriage.artifacts.base import ParseContext

TD = Callable[[str], Path]
SAMPLES = ["mft/4k-large.mft", "mft/unicode.mft", "mft/orphan.mft", "mft/deleted.mft", "mft/compressed_sparse.mft",
           "mft/boot.mftmirr", "mft/entry_102130_fixup_issue", "mft/derived/ntfs20h1_MFT.bin"]


def _run(path: Path, **options: Any) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[int | None, str]], int]:
    ctx = ParseContext("mft", str(path), options=options)
    recs = [(r.table, r.data) for r in mft.parse(path, ctx)]
    return recs, [(w.offset, w.reason) for w in ctx.warnings], ctx.skipped


def _slow_only(monkeypatch: pytest.MonkeyPatch) -> None:
    walk_names, walk_attrs = mft._walk_names, mft._walk_attrs

    def names(c: Any, which: np.ndarray) -> Any:
        fast, vs, cnt = walk_names(c, which)
        return np.zeros_like(fast), vs, cnt

    def attrs(c: Any, fast: np.ndarray, *a: Any) -> Any:
        fast[:] = False
        return walk_attrs(c, fast, *a)

    monkeypatch.setattr(mft, "_walk_names", names)
    monkeypatch.setattr(mft, "_walk_attrs", attrs)


def _variants(data: bytes, seed: int) -> list[bytes]:
    rnd = random.Random(seed)
    out = [data[: len(data) // 2 + 3]]
    for flips in (5, 50, 500):
        b = bytearray(data)
        for _ in range(flips):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        out.append(bytes(b))
    return out


@pytest.mark.parametrize("rel", SAMPLES)
def test_fast_path_equals_per_record_decoder(td: TD, rel: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = td(rel)
    inputs = [src]
    for i, v in enumerate(_variants(src.read_bytes(), zlib.crc32(rel.encode()))):
        p = tmp_path / f"v{i}"
        p.write_bytes(v)
        inputs.append(p)
    fast = [(_run(p), _run(p, include_short=True)) for p in inputs]
    _slow_only(monkeypatch)
    slow = [(_run(p), _run(p, include_short=True)) for p in inputs]
    assert fast == slow
    assert any(w for (_r, w, _s), _ in fast)  # the damaged copies did warn


@pytest.mark.parametrize("rel", ["mft/derived/ntfs20h1_MFT.bin", "mft/unicode.mft", "mft/4k-large.mft"])
def test_lazy_names_equal_pass1(td: TD, rel: str, tmp_path: Path) -> None:
    """Pass 1 of a file leaves the records that are not directories for later (``_LAZY``); asked for, each gives
    the name, parent, sequence and paths a pass 1 decoding every record gives, on the sample and damaged copies."""
    src = td(rel)
    for i, v in enumerate([src.read_bytes(), *_variants(src.read_bytes(), zlib.crc32(rel.encode()))]):
        p = tmp_path / f"v{i}"
        p.write_bytes(v)
        lazy = mft.build_resolver(p)
        rs = lazy.rs
        eager = mft.PathResolver(len(v) // rs)  # no file: every record decoded in pass 1
        mft._pass1_finish(eager, mft._pass1_range(p, rs, eager, 0, eager.count)[1])
        assert mft._LAZY in lazy.names or len(v) // rs < 2
        n = eager.count
        assert [lazy.name(e) for e in range(n)] == [eager.name(e) for e in range(n)]
        assert [lazy.path(e) for e in range(n) if lazy.exists(e)] == [eager.path(e) for e in range(n) if eager.exists(e)]
        assert (lazy.parent, lazy.seq) == (eager.parent, eager.seq)
        assert all(lazy.valid_ref(e, s) == eager.valid_ref(e, s) for e in range(n) for s in (0, 1, 2, 5))


@pytest.mark.parametrize("rel", ["mft/derived/ntfs20h1_MFT.bin", "mft/unicode.mft", "mft/orphan.mft"])
def test_csv_on_two_processes_is_byte_identical(td: TD, rel: str, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """``parse mft --csv`` runs pass 1 half in a forked worker, half here, and renders the worker's share of the
    chunks there: same files, same row count, same warnings in the same order (a damaged copy warns in chunks of
    both processes), in UTC and UTC+9."""
    from datetime import UTC

    from wintriage.pipeline import run_file
    from wintriage.sinks import CsvSink
    from wintriage.timeutil import parse_tz

    monkeypatch.setattr(mft, "_SPLIT_MIN", 16)
    monkeypatch.setattr(mft, "_CHUNK_BYTES", 32 * 1024)  # 32 records a chunk: 16 chunks
    data = td(rel).read_bytes() * 2  # 512 records, FILE records in both halves
    twice = tmp_path / "twice.mft"
    twice.write_bytes(data)
    b = bytearray(data)
    used = [i for i in range(len(data) // 1024) if data[i * 1024:i * 1024 + 4] == b"FILE"]
    hit = sorted({i // 32: i for i in used}.values())  # the last record of each chunk that has some
    for i in hit:
        b[i * 1024 + 510] ^= 0x5A  # a fixup mismatch: a warning from that record
    damaged = tmp_path / "damaged.mft"
    damaged.write_bytes(bytes(b))
    calls: list[int] = []
    chunk = mft._Pass2.chunk
    main = os.getpid()

    def spy(self: Any, start: int, *a: Any) -> Any:
        if os.getpid() == main:  # this process: each chunk slowly, so that the worker surely takes some
            calls.append(start)
            time.sleep(0.02)
        return chunk(self, start, *a)

    monkeypatch.setattr(mft._Pass2, "chunk", spy)
    for src in (twice, damaged):
        for tz in (UTC, parse_tz("+09:00")):
            out = []
            for k, opts in enumerate(({}, {"csv_workers": 2, "csv_tz": tz})):
                calls.clear()
                d = tmp_path / f"{src.name}-{tz.utcoffset(None)}-{k}"
                d.mkdir()
                sink = CsvSink(d, tz)
                r = run_file(mft, src, sink, options=opts, hash_input=False)
                sink.close()
                files = {p.name: p.read_bytes() for p in sorted(d.iterdir())}
                out.append((r.records, r.warnings, r.skipped, r.status, files,
                            [(w.offset, w.reason) for w in sink.warnings]))
                assert calls == sorted(set(calls)) and (len(calls) < 12 if k else len(calls) == 16)  # the worker's share
            assert out[0] == out[1]
            assert out[0][0] > 50 and out[0][4]
    assert out[0][1] == len(hit) >= 2  # the damaged copy warned, once per damaged record


class _Quits:
    """The worker's end of the pipe, closed after ``n`` messages (a worker that goes away half-way)."""

    def __init__(self, conn: Any, n: int) -> None:
        self.conn, self.n = conn, n

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)

    def send(self, obj: Any) -> None:
        if self.n <= 0:
            raise OSError("gone")
        self.n -= 1
        self.conn.send(obj)


_REAL_PART = mft._csv_part


def _part_quits_at_once(state: tuple[Any, ...], tz: Any, tmp: str) -> bool:
    state[4].close()
    return False


def _part_quits_later(state: tuple[Any, ...], tz: Any, tmp: str) -> bool:
    return _REAL_PART((*state[:4], _Quits(state[4], 2), *state[5:]), tz, tmp)


@pytest.mark.parametrize("part", [_part_quits_at_once, _part_quits_later])
def test_csv_split_survives_a_worker_that_goes_away(td: TD, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     part: Any) -> None:
    """A worker gone before the pass-1 swap, or after two of its chunks: this process does the rest, same files."""
    from datetime import UTC

    from wintriage.pipeline import run_file
    from wintriage.sinks import CsvSink

    monkeypatch.setattr(mft, "_SPLIT_MIN", 16)
    monkeypatch.setattr(mft, "_CHUNK_BYTES", 32 * 1024)
    src = tmp_path / "twice.mft"
    src.write_bytes(td("mft/derived/ntfs20h1_MFT.bin").read_bytes() * 2)
    out = []
    for k, opts in enumerate(({}, {"csv_workers": 2, "csv_tz": UTC})):
        if k:
            monkeypatch.setattr(mft, "_csv_part", part)
        d = tmp_path / f"o{k}"
        d.mkdir()
        sink = CsvSink(d, UTC)
        r = run_file(mft, src, sink, options=opts, hash_input=False)
        sink.close()
        out.append((r.records, r.warnings, r.status, {p.name: p.read_bytes() for p in sorted(d.iterdir())}))
    assert out[0] == out[1] and out[0][0] > 50


def test_csv_quotes_names_on_every_path(td: TD, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Names with a comma, a quote and a non-ASCII letter: quoted alike by the CSV-only renderer (UTF-8 cells, both
    processes), the batch renderer of full rows and the row-by-row shape."""
    from datetime import UTC

    from wintriage.pipeline import run_file
    from wintriage.sinks import CsvSink
    from wintriage.store.export import CsvWriter

    monkeypatch.setattr(mft, "_SPLIT_MIN", 16)
    monkeypatch.setattr(mft, "_CHUNK_BYTES", 32 * 1024)
    data = td("mft/derived/ntfs20h1_MFT.bin").read_bytes()
    for old, new in (("file_1.txt", 'fi"e,1.txt'), ("file_11.txt", "fíle,11.txt"), ("test_dir", "tes,_dir")):
        data = data.replace(old.encode("utf-16-le"), new.encode("utf-16-le"))
    src = tmp_path / "names.mft"
    src.write_bytes(data * 2)
    out = []
    for k, opts in enumerate(({}, {"csv_workers": 2, "csv_tz": UTC})):
        d = tmp_path / f"o{k}"
        d.mkdir()
        sink = CsvSink(d, UTC)
        run_file(mft, src, sink, options=opts, hash_input=False)
        sink.close()
        out.append((d / mft.CSV["mft"].filename).read_bytes())
    rows = [r.data | {"source_file": str(src)} for r in mft.parse(src, ParseContext("mft", str(src)))
            if r.table == "mft"]
    lines: list[str] = []
    CsvWriter(type("F", (), {"write": lines.append})()).writerows(mft.CSV["mft"].row(r) for r in rows)
    body = out[0].split(b"\r\n", 1)[1]
    assert out[0] == out[1] and body == "".join(lines).encode("utf-8")
    assert b'"fi""e,1.txt"' in body and '"fíle,11.txt"'.encode() in body and b'.,"tes,_dir",' in body
    assert b'".\\tes,_dir","fi""e,1.txt",.txt,' in body


@pytest.mark.parametrize("tz", ["UTC", "+09:00"])
def test_csv_batch_line_ends_with_and_without_one_text_tail(td: TD, tz: str) -> None:
    """The batch renderer makes trailing cells that are one text for the whole batch part of the line end: the
    lines are those of ``csv_line(row)`` whether the last cells are one text, vary, or need quoting."""
    from wintriage.store.export import csv_line
    from wintriage.timeutil import parse_tz

    zone = parse_tz(tz)
    rows = [r.data for r in mft.parse(td("mft/derived/ntfs20h1_MFT.bin"), ParseContext("mft", "x")) if r.table == "mft"]
    assert len(rows) > 50
    shape = mft.CSV["mft"]
    for tail in ("same", "varied", "quoted", "last-varies"):
        batch = [dict(r) for r in rows]
        for i, d in enumerate(batch):
            d["source_file"] = {"same": "C:\\$MFT", "varied": f"src{i % 3}", "quoted": 'a,"b"',
                                "last-varies": "" if i % 2 else "z"}[tail]
            if tail == "same":
                d["object_id"] = d["logged_util_stream"] = d["zone_id_contents"] = ""
        cols = {k: [d.get(k) for d in batch] for k in mft._COL_ORDER}
        got = mft._csv_batch(cols, zone)
        assert isinstance(got, bytes)
        want = "".join(csv_line(shape.row(d, zone)) + "\r\n" for d in batch).encode("utf-8")
        assert got == want, tail


def test_fixups_in_place_equal_a_copy(td: TD) -> None:
    """``_Chunk`` fixes a writable chunk up in place: same bytes and statuses as fixing up a copy of a read-only
    one, ``raw`` gives the bytes as read; also when the update sequence array overlaps a stride end (it is read
    whole before any stride end is written)."""
    data = bytearray(td("mft/derived/ntfs20h1_MFT.bin").read_bytes()[:64 * 1024])
    rs = 1024
    for k, usa in ((3, 506), (5, 508), (9, 500)):  # records 3, 5, 9: an update sequence array at 506..511...
        rec = k * rs
        data[rec + 4:rec + 6] = usa.to_bytes(2, "little")
        data[rec + 6:rec + 8] = (3).to_bytes(2, "little")
        data[rec + usa:rec + usa + 2] = data[rec + 510:rec + 512]  # the sequence number each stride ends with
        data[rec + usa + 2:rec + usa + 4] = b"\xab\xcd"  # stride 1's value, which its end then holds
    data[7 * rs + 1022] ^= 0xFF  # a fixup mismatch
    n = len(data) // rs
    ro = mft._Chunk(bytes(data), n, rs)
    rw = mft._Chunk(memoryview(bytearray(data)), n, rs)
    assert np.array_equal(ro.fixed, rw.fixed) and np.array_equal(ro.fix_ok, rw.fix_ok)
    assert not rw.fix_ok[7] and rw.fix_ok[3]
    assert all(rw.raw(i) == bytes(data[i * rs:(i + 1) * rs]) for i in range(n))
    for i in range(n):
        if data[i * rs:i * rs + 4] == b"FILE":
            fixed, _st, _pb = mft.apply_fixups(bytes(data[i * rs:(i + 1) * rs]), *struct.unpack_from("<HH", data, i * rs + 4))
            assert fixed == rw.fixed[i].tobytes()


def test_lazy_names_without_pread(td: TD, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where ``os.pread`` is missing (Windows), names left for later are read through the resolver's own handle."""
    p = td("mft/unicode.mft")
    want = [mft.build_resolver(p).name(e) for e in range(len(p.read_bytes()) // 1024)]
    monkeypatch.delattr(os, "pread")
    res = mft.build_resolver(p)
    assert [res.name(e) for e in range(res.count)] == want and "привет.txt" in want
