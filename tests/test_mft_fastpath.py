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
