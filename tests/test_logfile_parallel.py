"""$LogFile: the two-process record walk gives exactly what the single-process walk gives."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wintriage.artifacts import logfile, logfile_lfs
from wintriage.artifacts.base import ParseContext
from wintriage.artifacts.logfile_lfs import LogFile

TD = Callable[[str], Path]


def _walk(data: bytes, workers: int, unused: bool = True) -> tuple[list[tuple[Any, ...]], list[tuple[int | None, str]]]:
    warns: list[tuple[int | None, str]] = []
    lf = LogFile(data, lambda o, r: warns.append((o, r)))
    return [tuple(r) for r in lf.records(include_unused=unused, workers=workers)], warns


@pytest.fixture()
def small_split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logfile_lfs, "PARALLEL_MIN_PAGES", 1)


@pytest.mark.parametrize("name", ["LogFile_7.bin", "LogFile_10.bin", "LogFile_10_large.bin"])
def test_parallel_walk_identical(td: TD, small_split: None, name: str) -> None:
    data = td(f"logfile/{name}").read_bytes()
    seq, seq_w = _walk(data, 1)
    par, par_w = _walk(data, 2)
    assert seq and par == seq and par_w == seq_w


def test_parallel_walk_real_log(unpacked: Callable[[str], Path], small_split: None) -> None:
    data = unpacked("logfile/derived/ntfs20h1_LogFile.bin.gz").read_bytes()
    seq, _ = _walk(data, 1, unused=False)
    par, _ = _walk(data, 2, unused=False)
    assert len(seq) == 5605 and par == seq


def test_parallel_walk_corrupt(td: TD, small_split: None) -> None:
    """Fixup failures and truncated spans in either half: same records, same warnings in the same order."""
    base = td("logfile/LogFile_7.bin").read_bytes()
    n_pages = len(base) // 4096
    for page in (5, n_pages // 2, n_pages // 2 + 1, n_pages - 2):
        bad = bytearray(base)
        bad[page * 4096 + 510] ^= 0xFF  # breaks the first sector's update sequence
        seq, seq_w = _walk(bytes(bad), 1)
        par, par_w = _walk(bytes(bad), 2)
        assert seq_w and par == seq and par_w == seq_w, page
    for cut in (len(base) // 2 + 1000, len(base) - 3000):
        seq, seq_w = _walk(base[:cut], 1)
        par, par_w = _walk(base[:cut], 2)
        assert par == seq and par_w == seq_w, cut


def test_parallel_walk_spawn(td: TD, small_split: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logfile_lfs, "START_METHOD", "spawn")
    data = td("logfile/LogFile_10.bin").read_bytes()
    assert _walk(data, 2) == _walk(data, 1)


def test_parallel_parse_identical(td: TD, small_split: None) -> None:
    path = td("logfile/LogFile_10.bin")
    out = []
    for workers in (1, 2):
        ctx = ParseContext("logfile", str(path), options={"logfile_workers": workers})
        out.append(([(r.table, r.data) for r in logfile.parse(path, ctx)], [w.reason for w in ctx.warnings]))
    assert out[0][0] and out[0] == out[1]
