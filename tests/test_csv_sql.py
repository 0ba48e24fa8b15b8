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
    fast = export_table(case, "usnjrnl", shape, tmp_path / "sql", zone)
    slow = export_table(case, "usnjrnl", dataclasses.replace(shape, sql=None), tmp_path / "py", zone)
    assert fast is not None and slow is not None and fast[1] == slow[1] == case.count("usnjrnl") > 400
    assert fast[0].read_bytes() == slow[0].read_bytes()
