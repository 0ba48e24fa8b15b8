"""CSV shapes rendered by SQLite (``CsvShape.sql``) are byte-identical to the Python rendering."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from wintriage.artifacts import mft, usnjrnl
from wintriage.pipeline import run_file
from wintriage.sinks import StoreSink
from wintriage.store.case import CaseReader, CaseWriter
from wintriage.store.export import export_table
from wintriage.timeutil import parse_tz


@pytest.mark.parametrize("tz", ["UTC", "+09:00", "-05:30"])
def test_usnjrnl_csv_sql_equals_python(td, tmp_path: Path, tz: str) -> None:  # type: ignore[no-untyped-def]
    j, m = td("usnjrnl/derived/ntfs20h1_UsnJrnl_J.bin"), td("mft/derived/ntfs20h1_MFT.bin")
    w = CaseWriter(tmp_path / "c.sqlite")
    run_file(usnjrnl, j, StoreSink(w), resources={"mft": mft.build_resolver(m)})
    run_file(usnjrnl, td("usnjrnl/usnjrnlj.bin"), StoreSink(w))  # no $MFT: empty parent paths
    # the odd cases: unknown and root parents, no time, a corrupt time past year 9999
    w.db.execute("UPDATE usnjrnl SET parent_path = '<Unknown>' WHERE id = 3")
    w.db.execute("UPDATE usnjrnl SET parent_path = '/' WHERE id = 4")
    w.db.execute("UPDATE usnjrnl SET timestamp = NULL WHERE id = 5")
    w.db.execute("UPDATE usnjrnl SET timestamp = 2650467744000000123 WHERE id = 6")
    w.close()
    case = CaseReader(tmp_path / "c.sqlite")
    shape = usnjrnl.CSV["usnjrnl"]
    assert shape.sql is not None
    zone = parse_tz(tz)
    assert shape.batch is not None
    bulk = export_table(case, "usnjrnl", shape, tmp_path / "batch", zone)
    fast = export_table(case, "usnjrnl", dataclasses.replace(shape, batch=None), tmp_path / "sql", zone)
    slow = export_table(case, "usnjrnl", dataclasses.replace(shape, sql=None, batch=None), tmp_path / "py", zone)
    assert bulk is not None and fast is not None and slow is not None
    assert bulk[1] == fast[1] == slow[1] == case.count("usnjrnl") > 400
    assert bulk[0].read_bytes() == fast[0].read_bytes() == slow[0].read_bytes()


@pytest.mark.parametrize("tz", ["UTC", "+09:00"])
@pytest.mark.parametrize("sample", ["mft/derived/ntfs20h1_MFT.bin", "mft/orphan.mft", "mft/4k-large.mft", "mft/unicode.mft"])
def test_mft_csv_batch_from_store_equals_rows(td, tmp_path: Path, tz: str, sample: str) -> None:  # type: ignore[no-untyped-def]
    """The export reads the case store in column chunks through the shape's batch renderer: same bytes as the
    row-by-row rendering."""
    w = CaseWriter(tmp_path / "c.sqlite")
    run_file(mft, td(sample), StoreSink(w))
    w.close()
    case = CaseReader(tmp_path / "c.sqlite")
    zone = parse_tz(tz)
    for table, shape in mft.CSV.items():
        if not case.has_table(table) or shape.batch is None:
            continue
        bulk = export_table(case, table, shape, tmp_path / "batch", zone)
        slow = export_table(case, table, dataclasses.replace(shape, sql=None, batch=None), tmp_path / "py", zone)
        assert bulk is not None and slow is not None and bulk[1] == slow[1] > 0
        assert bulk[0].read_bytes() == slow[0].read_bytes()
        if table == "mft":  # MFTECmd's SourceFile: the input the rows came from, as the sources table names it
            lines = bulk[0].read_text(encoding="utf-8-sig").splitlines()
            assert lines[0].endswith(",SourceFile") and all(x.endswith("," + str(td(sample))) for x in lines[1:])


@pytest.mark.parametrize("sample", ["evtx/evtx-rs/sysmon.evtx", "evtx/evtx-rs/sample_with_a_bad_chunk_magic.evtx",
                                    "evtx/plaso/System.evtx", "evtx/python-evtx/security.evtx"])
def test_evtx_csv_batch_from_store_equals_rows(td, tmp_path: Path, sample: str) -> None:  # type: ignore[no-untyped-def]
    from wintriage.artifacts import evtx

    w = CaseWriter(tmp_path / "c.sqlite")
    run_file(evtx, td(sample), StoreSink(w))
    w.close()
    case = CaseReader(tmp_path / "c.sqlite")
    shape = evtx.CSV["evtx"]
    assert shape.batch is not None
    for tz in ("UTC", "+09:00"):
        zone = parse_tz(tz)
        bulk = export_table(case, "evtx", shape, tmp_path / f"batch{tz}", zone)
        slow = export_table(case, "evtx", dataclasses.replace(shape, sql=None, batch=None), tmp_path / f"py{tz}", zone)
        assert bulk is not None and slow is not None and bulk[1] == slow[1] > 0
        assert bulk[0].read_bytes() == slow[0].read_bytes()


@pytest.mark.parametrize("tz", ["UTC", "+09:00"])
def test_nlt_usn_csv_batch_equals_rows(td, tmp_path: Path, tz: str) -> None:  # type: ignore[no-untyped-def]
    """NLT's $J shapes over the ``usnjrnl`` table and over ``logfile_usn`` (USN records recovered from $LogFile):
    the batch renderer gives the row-by-row bytes."""
    from wintriage.artifacts import logfile

    w = CaseWriter(tmp_path / "c.sqlite")
    res = {"mft": mft.build_resolver(td("mft/derived/ntfs20h1_MFT.bin"))}
    run_file(usnjrnl, td("usnjrnl/derived/ntfs20h1_UsnJrnl_J.bin"), StoreSink(w), resources=res)
    run_file(usnjrnl, td("usnjrnl/usnjrnlj.bin"), StoreSink(w))
    lf = tmp_path / "LogFile"
    import gzip

    lf.write_bytes(gzip.decompress(td("logfile/derived/ntfs20h1_LogFile.bin.gz").read_bytes()))
    run_file(logfile, lf, StoreSink(w), resources=res)
    w.db.execute("UPDATE usnjrnl SET carved = 1, parent_path = '/' WHERE id = 3")
    w.db.execute("UPDATE usnjrnl SET timestamp = NULL, parent_path = NULL WHERE id = 4")
    w.close()
    case = CaseReader(tmp_path / "c.sqlite")
    zone = parse_tz(tz)
    for table, shape in (("usnjrnl", logfile.NLT_USNJRNL_CSV), ("logfile_usn", logfile.CSV["logfile_usn"])):
        assert case.count(table) > 100
        assert shape.batch is usnjrnl.nlt_csv_batch
        plain = dataclasses.replace(shape, sql=None, batch=None)
        bulk = export_table(case, table, shape, tmp_path / "b", zone)
        slow = export_table(case, table, plain, tmp_path / "p", zone)
        assert bulk is not None and slow is not None and bulk[1] == slow[1]
        assert bulk[0].read_bytes() == slow[0].read_bytes()
