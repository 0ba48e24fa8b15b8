"""Pipeline: the two-lane parallel parse gives exactly the sequential result."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from wintriage.pipeline import parse_folder
from wintriage.sinks import StoreSink
from wintriage.store.case import CaseWriter


def _dump(db: Path) -> tuple[dict[str, int], list[tuple[object, ...]], list[tuple[object, ...]]]:
    con = sqlite3.connect(db)
    tabs = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'timeline_fts%'")]
    counts = {t: con.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tabs}
    tl = sorted(con.execute("SELECT ts, ts_desc, artifact, category, user, path, summary, ref_table FROM timeline"))
    # every timeline row still points at its own record after the merge: compare the referenced rows' source paths
    refs = sorted(con.execute("SELECT t.ref_table, s.path FROM timeline t JOIN sources s ON s.id = t.source_id"))
    return counts, tl, refs


def test_parallel_lanes_equal_sequential(public1_case: Path, tmp_path: Path) -> None:
    root = public1_case / "files" / "C"
    got = []
    for par in (False, True):
        w = CaseWriter(tmp_path / f"{par}.sqlite")
        res = parse_folder(root, StoreSink(w), parallel=par)
        w.close()
        got.append((sorted((r.artifact, r.path, r.records, r.warnings, r.status) for r in res), _dump(tmp_path / f"{par}.sqlite")))
    assert got[0] == got[1]
    counts = got[1][1][0]
    assert counts["reg_bam"] > 0 and counts["usnjrnl"] == 12187 and counts["timeline"] > 20_000
    con = sqlite3.connect(tmp_path / "True.sqlite")
    dangling = con.execute(
        "SELECT COUNT(*) FROM timeline t WHERE t.ref_table = 'reg_userassist' AND NOT EXISTS "
        "(SELECT 1 FROM reg_userassist u WHERE u.id = t.ref_id AND u.source_id = t.source_id)").fetchone()[0]
    assert dangling == 0


def test_lane_split_depends_only_on_the_input(tmp_path: Path) -> None:
    """$MFT-bound sources stay in the main lane, the small parsers in the second; logs and hives, largest first,
    go to the lane with less estimated work. The split is a function of names and sizes only."""
    from wintriage.pipeline import split_lanes

    def f(name: str, size: int) -> Path:
        p = tmp_path / name
        p.write_bytes(b"\0" * size)
        return p

    mib = 1 << 20
    items = [("mft", "$MFT", f("MFT", 20 * mib)), ("usnjrnl", "$J", f("J", 10 * mib)),
             ("registry", "SYSTEM", f("SYSTEM", 12 * mib)), ("registry", "NTUSER.DAT", f("NTUSER.DAT", mib)),
             ("evtx", "System.evtx", f("System.evtx", 20 * mib)), ("evtx", "Security.evtx", f("Security.evtx", 2 * mib)),
             ("prefetch", "A.pf", f("A.pf", 1000))]
    f("NTUSER.DAT.LOG1", 4 * mib)  # a hive's logs count: 1 MiB hive + 4 MiB of logs
    main, side = split_lanes(items)
    # estimates: main 1.0 + 1.5; second lane 0.02; then System.evtx 2.0 -> second, NTUSER 0.86 (its log) -> second,
    # SYSTEM 0.72 -> main (2.5 < 2.88), Security.evtx 0.2 -> second (2.88 < 3.22); each lane in discovery order
    assert [i[1] for i in main] == ["$MFT", "$J", "SYSTEM"]
    assert [i[1] for i in side] == ["NTUSER.DAT", "System.evtx", "Security.evtx", "A.pf"]
    assert split_lanes(list(items)) == (main, side)


def test_collection_in_a_forked_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From an image, ``analyze`` reads the evidence in a forked process while it imports the parsers: the result
    comes back as it is; an exception comes back as itself, or as its text when it does not pickle; a process that
    dies without an answer is an error, not a hang."""
    import multiprocessing as mp
    import os

    from wintriage import pipeline
    from wintriage.evidence import collect
    from wintriage.evidence.image import EvidenceError

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork on this platform: the collection runs in this process")
    image = tmp_path / "case.E01"
    image.write_bytes(b"x")
    parent = os.getpid()

    def ok(ev: Path, out: Path, progress: object = None) -> list[collect.CollectedVolume]:
        return [collect.CollectedVolume(out / "C", {"name": "C", "pid": os.getpid()})]

    monkeypatch.setattr(collect, "collect_evidence", ok)
    (vol,) = pipeline._collect(image, tmp_path / "files", pipeline._quiet, {})
    assert vol.root == tmp_path / "files" / "C" and vol.info["pid"] != parent

    def bad(ev: Path, out: Path, progress: object = None) -> None:
        raise EvidenceError(f"{ev}: no NTFS volume found")

    monkeypatch.setattr(collect, "collect_evidence", bad)
    with pytest.raises(EvidenceError, match="no NTFS volume found"):
        pipeline._collect(image, tmp_path / "files", pipeline._quiet, {})

    class Local(Exception):  # a class defined here does not pickle
        pass

    def odd(ev: Path, out: Path, progress: object = None) -> None:
        raise Local("odd failure")

    monkeypatch.setattr(collect, "collect_evidence", odd)
    with pytest.raises(RuntimeError, match="Local: odd failure"):
        pipeline._collect(image, tmp_path / "files", pipeline._quiet, {})

    def dies(ev: Path, out: Path, progress: object = None) -> None:
        os._exit(3)

    monkeypatch.setattr(collect, "collect_evidence", dies)
    with pytest.raises(RuntimeError, match=r"without a result \(exit code 3\)"):
        pipeline._collect(image, tmp_path / "files", pipeline._quiet, {})
