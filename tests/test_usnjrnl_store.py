"""$J CSVs exported from the case store (``analyze``): SQLite hands over whole columns of a chunk of rows and the
lines are laid out in numpy (``usnjrnl.store_batches``). Same bytes as ``parse usnjrnl --csv`` and as the
row-by-row rendering, whatever the values (odd ones send their chunk through the batch renderer)."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from wintriage.artifacts import logfile, mft, usnjrnl
from wintriage.pipeline import run_file
from wintriage.sinks import StoreSink
from wintriage.store.case import CaseReader, CaseWriter
from wintriage.store.export import export_table
from wintriage.timeutil import parse_tz

TD = Callable[[str], Path]
J20H1, MFT20H1 = "usnjrnl/derived/ntfs20h1_UsnJrnl_J.bin", "mft/derived/ntfs20h1_MFT.bin"


def _spy(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts the chunks the store renderers laid out themselves ("fast") and those they declined ("rows")."""
    seen = {"fast": 0, "rows": 0}
    for name in ("_j_store_text", "_nlt_store_text"):
        real = getattr(usnjrnl, name)

        def spy(*a: Any, _real: Any = real) -> Any:
            out = _real(*a)
            seen["fast" if out is not None else "rows"] += 1
            return out

        monkeypatch.setattr(usnjrnl, name, spy)
    return seen


@pytest.mark.parametrize("tz", ["UTC", "+09:00", "-05:30"])
def test_store_export_is_the_parse_csv(td: TD, tmp_path: Path, tz: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same journal (with its $MFT): ``parse usnjrnl --csv`` and the export of its case store give the same
    lines, SourceFile included (the input's path; the store's source label is that path)."""
    from wintriage.cli import main

    seen = _spy(monkeypatch)
    r = CliRunner().invoke(main, ["parse", "usnjrnl", str(td(J20H1)), "--mft", str(td(MFT20H1)), "--csv",
                                  str(tmp_path / "p"), "--tz", tz])
    assert r.exit_code == 0, r.output
    w = CaseWriter(tmp_path / "c.sqlite")
    run_file(usnjrnl, td(J20H1), StoreSink(w), resources={"mft": mft.build_resolver(td(MFT20H1))})
    w.close()
    case = CaseReader(tmp_path / "c.sqlite")
    got = export_table(case, "usnjrnl", usnjrnl.CSV["usnjrnl"], tmp_path / "s", parse_tz(tz))
    assert got is not None and got[1] == 188
    assert seen == {"fast": 1, "rows": 0}
    parsed = (tmp_path / "p" / "MFTECmd_$J_Output.csv").read_bytes().split(b"\r\n")
    stored = got[0].read_bytes().split(b"\r\n")
    assert len(parsed) == len(stored) == 190
    assert parsed[1].endswith(b"," + str(td(J20H1)).encode())  # SourceFile: the input (its label in the store)
    assert parsed == stored


@pytest.mark.parametrize("chunk", [50, 100_000])
def test_store_export_with_source_file(td: TD, tmp_path: Path, chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A $J shape that reads ``source_file`` gets the sources table's path of each row's source (two journals, one
    with a comma in its name): the row-by-row bytes, and the ``parse --csv`` lines of the same journal."""
    import shutil

    from wintriage.cli import main

    monkeypatch.setattr(usnjrnl, "STORE_CHUNK", chunk)
    seen = _spy(monkeypatch)
    odd = tmp_path / "a,b.J"
    shutil.copy(td("usnjrnl/usnjrnlj.bin"), odd)
    w = CaseWriter(tmp_path / "c.sqlite")
    run_file(usnjrnl, td(J20H1), StoreSink(w), resources={"mft": mft.build_resolver(td(MFT20H1))})
    run_file(usnjrnl, odd, StoreSink(w))
    w.close()
    case = CaseReader(tmp_path / "c.sqlite")
    shape = usnjrnl.CSV["usnjrnl"]
    assert "source_file" in shape.batch_reads
    with_source = shape
    fast = export_table(case, "usnjrnl", with_source, tmp_path / "f", parse_tz("UTC"))
    slow = export_table(case, "usnjrnl", dataclasses.replace(with_source, sql=None, batch=None), tmp_path / "s",
                        parse_tz("UTC"))
    assert fast is not None and slow is not None and fast[1] == slow[1] == case.count("usnjrnl")
    assert fast[0].read_bytes() == slow[0].read_bytes()
    assert seen["fast"] > 0 and seen["rows"] == 0
    r = CliRunner().invoke(main, ["parse", "usnjrnl", str(td(J20H1)), "--mft", str(td(MFT20H1)), "--csv",
                                  str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    parsed = (tmp_path / "p" / "MFTECmd_$J_Output.csv").read_bytes().split(b"\r\n")
    assert fast[0].read_bytes().split(b"\r\n")[:len(parsed) - 1] == parsed[:-1]
    assert b'"' + str(odd).encode() + b'"\r\n' in fast[0].read_bytes()


def _odd_case(td: TD, path: Path) -> CaseReader:
    """Two journals in one table and the values a store may hold: names and paths to quote, unknown, root and
    NULL parents, NULL, zero, negative and out-of-range times, NULL flags, carved rows, a NUL in a name, big and
    negative USNs."""
    w = CaseWriter(path)
    run_file(usnjrnl, td(J20H1), StoreSink(w), resources={"mft": mft.build_resolver(td(MFT20H1))})
    run_file(usnjrnl, td("usnjrnl/usnjrnlj.bin"), StoreSink(w))  # no $MFT: empty parent paths
    for sql in (
        "UPDATE usnjrnl SET name = 'a,b', extension = '.x,y' WHERE id = 3",
        "UPDATE usnjrnl SET name = 'say \"hi\".txt', parent_path = '/Users/x,y' WHERE id = 20",
        "UPDATE usnjrnl SET parent_path = '<Unknown>' WHERE id = 30",
        "UPDATE usnjrnl SET parent_path = '/' WHERE id = 31",
        "UPDATE usnjrnl SET timestamp = NULL WHERE id = 40",
        "UPDATE usnjrnl SET timestamp = 2650467744000000123 WHERE id = 41",
        "UPDATE usnjrnl SET usn = 9223372036854775807, carved = 1 WHERE id = 50",
        "UPDATE usnjrnl SET name = 'caf\u00e9 \U0001f600.doc', extension = '.doc' WHERE id = 60",
        "UPDATE usnjrnl SET timestamp = 0 WHERE id = 100",
        "UPDATE usnjrnl SET timestamp = -5 WHERE id = 140",
        "UPDATE usnjrnl SET parent_path = NULL WHERE id = 160",
        "UPDATE usnjrnl SET reason_flags = NULL WHERE id = 180",
        "UPDATE usnjrnl SET attr_flags = NULL, usn = -1 WHERE id = 200",
        "UPDATE usnjrnl SET name = 'nul' || char(0) || 'x' WHERE id = 220",
    ):
        w.db.execute(sql)
    w.close()
    return CaseReader(path)


@pytest.mark.parametrize("tz", ["UTC", "+09:00", "-05:30"])
@pytest.mark.parametrize("chunk", [20, 7, 100_000])
def test_store_export_equals_rows(td: TD, tmp_path: Path, tz: str, chunk: int,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Both $J shapes from the store: the row-by-row bytes, chunks laid out in numpy where they can be, through
    the batch renderer where a value asks for it; UTF-8 and cp949."""
    case = _odd_case(td, tmp_path / "c.sqlite")
    monkeypatch.setattr(usnjrnl, "STORE_CHUNK", chunk)
    zone = parse_tz(tz)
    for shape, encodings in ((usnjrnl.CSV["usnjrnl"], ("utf-8-sig",)), (logfile.NLT_USNJRNL_CSV, ("utf-8-sig", "cp949"))):
        if shape is logfile.NLT_USNJRNL_CSV:  # a NULL reference (the $J shape's batch renderer fails on it)
            with sqlite3.connect(tmp_path / "c.sqlite") as db:
                db.execute("UPDATE usnjrnl SET entry = NULL WHERE id = 240")
            db.close()
        for enc in encodings:
            seen = _spy(monkeypatch)
            plain = dataclasses.replace(shape, sql=None, batch=None)
            fast = export_table(case, "usnjrnl", shape, tmp_path / f"f{enc}", zone, enc)
            slow = export_table(case, "usnjrnl", plain, tmp_path / f"s{enc}", zone, enc)
            assert fast is not None and slow is not None and fast[1] == slow[1] == case.count("usnjrnl") > 400
            assert fast[0].read_bytes() == slow[0].read_bytes()
            if chunk < 1000:
                assert seen["fast"] > 0 and seen["rows"] > 0, seen
            else:  # one chunk, with odd values
                assert seen == {"fast": 0, "rows": 1}


def test_store_export_of_other_tables_reads_rows(td: TD, tmp_path: Path) -> None:
    """The NLT shape over ``logfile_usn`` (another table) and a case without rows: no store renderer."""
    case = _odd_case(td, tmp_path / "c.sqlite")
    assert usnjrnl.store_batches(logfile.CSV["logfile_usn"], case.db, "logfile_usn", parse_tz("UTC")) is None
    assert usnjrnl.store_batches(dataclasses.replace(usnjrnl.CSV["usnjrnl"], batch=None), case.db, "usnjrnl",
                                 parse_tz("UTC")) is None

    case.db.close()
    w = CaseWriter(tmp_path / "e.sqlite")
    run_file(usnjrnl, tmp_path / "missing", StoreSink(w))
    w.close()
    empty = CaseReader(tmp_path / "e.sqlite")
    if empty.has_table("usnjrnl"):
        got = export_table(empty, "usnjrnl", usnjrnl.CSV["usnjrnl"], tmp_path / "o", parse_tz("UTC"))
        assert got is not None and got[0].read_bytes().count(b"\r\n") == 1


@pytest.mark.parametrize(("tz", "enc"), [("UTC", "utf-8-sig"), ("+09:00", "cp949")])
def test_early_csv_equals_the_store_export(td: TD, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tz: str,
                                          enc: str) -> None:
    """``analyze`` of a volume folder whose journal is large enough: a forked process renders MFTECmd's $J and NLT's
    UsnJrnl CSVs beside the parse, and the export joins them; the bytes are the store export's. When that process
    fails, or is still at it well after the parse, the store export writes them, the same bytes again."""
    import shutil

    from wintriage import outputs
    from wintriage.pipeline import analyze

    vol = tmp_path / "vol"
    (vol / "$Extend").mkdir(parents=True)
    shutil.copyfile(td(MFT20H1), vol / "$MFT")
    shutil.copyfile(td(J20H1), vol / "$Extend" / "$J")
    names = ("MFTECmd_$J_Output.csv", "NLT_UsnJrnl.csv")

    def run(name: str) -> dict[str, bytes]:
        analyze(vol, tmp_path / name, tz=parse_tz(tz), encoding=enc)
        assert not (tmp_path / name / ".early-csv").exists()
        return {n: (tmp_path / name / "csv" / n).read_bytes() for n in names}

    joined: list[list[int]] = []  # per run: the part files of each shape the export joins (the exports are forked)
    real_parts = outputs.EarlyCsv.parts

    def parts(self: Any, case: Any) -> Any:
        got = real_parts(self, case)
        joined.append(sorted(len(v) for v in got.values()))
        return got

    monkeypatch.setattr(outputs.EarlyCsv, "parts", parts)
    store = run("store")  # 188 records: under the size that starts the process
    monkeypatch.setattr(outputs, "_EARLY_MIN_BYTES", 0)
    early = run("early")
    assert early == store and store[names[0]].count(b"\r\n") == 189

    def broken(*a: Any) -> None:
        raise RuntimeError("the helper fails")

    monkeypatch.setattr(outputs, "_early_render", broken)
    assert run("fallback") == store

    def stuck(*a: Any) -> None:
        import time

        time.sleep(60)

    monkeypatch.setattr(outputs, "_early_render", stuck)
    monkeypatch.setattr(outputs, "_EARLY_GRACE_S", 0.5)
    assert run("stuck") == store  # killed after the grace: the store export writes the CSVs
    assert joined == [[], [1, 1], [], []]
