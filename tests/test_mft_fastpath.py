"""The vectorised $MFT path gives exactly what the per-record decoder gives: records and warnings, on every
sample and on damaged copies (the fast path must hand every odd record to the per-record decoder)."""

from __future__ import annotations

import random
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

    def names(c: Any) -> Any:
        fast, vs, cnt = walk_names(c)
        return np.zeros_like(fast), vs, cnt

    def attrs(c: Any, fast: np.ndarray) -> Any:
        fast[:] = False
        return walk_attrs(c, fast)

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


@pytest.mark.parametrize("rel", ["mft/derived/ntfs20h1_MFT.bin", "mft/unicode.mft", "mft/orphan.mft"])
def test_csv_on_two_processes_is_byte_identical(td: TD, rel: str, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """``parse mft --csv`` renders the second half of the records in a forked worker: same files, same row
    count, same warnings in the same order (a damaged copy warns in both halves), in UTC and UTC+9."""
    from datetime import UTC

    from wintriage.pipeline import run_file
    from wintriage.sinks import CsvSink
    from wintriage.timeutil import parse_tz

    monkeypatch.setattr(mft, "_SPLIT_MIN", 16)
    monkeypatch.setattr(mft, "_CHUNK_BYTES", 32 * 1024)  # 32 records a chunk: the parts meet at record 192
    data = td(rel).read_bytes() * 2  # 512 records, FILE records in both halves
    twice = tmp_path / "twice.mft"
    twice.write_bytes(data)
    b = bytearray(data)
    used = [i for i in range(len(data) // 1024) if data[i * 1024:i * 1024 + 4] == b"FILE"]
    hit = [i for i in used if i < 192][-1:] + [i for i in used if i >= 192][-2:]  # one here, two in the worker
    for i in hit:
        b[i * 1024 + 510] ^= 0x5A  # a fixup mismatch: a warning from that record
    damaged = tmp_path / "damaged.mft"
    damaged.write_bytes(bytes(b))
    calls: list[tuple[int, int | None]] = []
    pass2 = mft._pass2_batches

    def spy(*a: Any, **kw: Any) -> Any:
        calls.append((a[5], a[6]) if len(a) > 5 else (0, None))
        return pass2(*a, **kw)

    monkeypatch.setattr(mft, "_pass2_batches", spy)
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
                assert calls == ([(0, 192)] if k else [(0, None)])  # the worker did the rest
            assert out[0] == out[1]
            assert out[0][0] > 50 and out[0][4]
    assert out[0][1] == len(hit) == 3  # the damaged copy warned, once per damaged record
