"""Suspicious-behaviour rules (NLT categories) over a synthetic case store, and the YAML schema."""

from __future__ import annotations

import copy
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from wintriage.analyzers import suspicious as sus
from wintriage.artifacts import logfile
from wintriage.model import Record
from wintriage.store.case import CaseWriter
from wintriage.timeutil import from_iso

T0 = from_iso("2024-03-05T10:00:00Z")
SEC = 10_000_000

USN_COLS = [("usn", "INTEGER"), ("timestamp", "INTEGER"), ("name", "TEXT"), ("entry", "INTEGER"),
            ("sequence", "INTEGER"), ("parent_entry", "INTEGER"), ("parent_path", "TEXT"), ("reasons", "TEXT"),
            ("reason_flags", "INTEGER")]
MFT_COLS = [("entry", "INTEGER"), ("name", "TEXT"), ("full_path", "TEXT"), ("si_created", "INTEGER"),
            ("fn_created", "INTEGER")]
EVTX_COLS = [("time_created", "INTEGER"), ("event_id", "INTEGER"), ("channel", "TEXT"), ("provider", "TEXT")]


def _case(tmp_path: Path) -> sqlite3.Connection:
    w = CaseWriter(tmp_path / "case.sqlite")
    w.ensure_table("usnjrnl", USN_COLS)
    w.ensure_table("mft", MFT_COLS)
    w.ensure_table("evtx", EVTX_COLS)
    w.ensure_tables(logfile.TABLES)
    usn = 0

    def j(ts: int, name: str, reasons: int, entry: int, parent: str = "/Users/minji/Documents") -> None:
        nonlocal usn
        usn += 96
        w.add(Record("usnjrnl", {"usn": usn, "timestamp": ts, "name": name, "entry": entry, "sequence": 1,
                                 "parent_entry": 100, "parent_path": parent, "reasons": "", "reason_flags": reasons}),
              None)

    t = T0
    # benign activity
    for i in range(5):
        j(t + i * SEC, f"report{i}.docx", 0x100, 200 + i)
    # 1) the clock is set back by two hours
    j(t - 7200 * SEC, "after_rollback.txt", 0x100, 300)
    t = T0 + 3600 * SEC
    # 2) a hacking tool dropped, then run (prefetch written)
    j(t, "mimikatz.exe", 0x100, 400, "/Users/minji/Downloads")
    j(t + 60 * SEC, "MIMIKATZ.EXE-5F2C1A3B.pf", 0x100, 401, "/Windows/Prefetch")
    # 3) a wiper: dropped, run, and its AAAA/BBBB/CCCC renames
    j(t + 120 * SEC, "sdelete64.exe", 0x100, 410, "/Users/minji/Downloads")
    j(t + 130 * SEC, "SDELETE64.EXE-0A1B2C3D.pf", 0x100, 411, "/Windows/Prefetch")
    for k, letter in enumerate("ABCD"):
        j(t + (140 + k) * SEC, f"{letter * 8}.{letter * 3}", 0x2000, 420)
    # 4) mass deletion of 25 documents within a minute
    for i in range(25):
        j(t + (200 + 2 * i) * SEC, f"doc{i}.docx", 0x200, 500 + i)
    # 5) ransomware: 30 files renamed to .kraken
    for i in range(30):
        j(t + (400 + i) * SEC, f"photo{i}.jpg", 0x1000, 600 + i)
        j(t + (400 + i) * SEC, f"photo{i}.jpg.kraken", 0x2000, 600 + i)
    # 6) timestomped file in $MFT
    w.add(Record("mft", {"entry": 700, "name": "evil.dll", "full_path": "/Users/minji/AppData/evil.dll",
                         "si_created": from_iso("2015-01-01T00:00:00Z"), "fn_created": t}), None)
    w.add(Record("mft", {"entry": 701, "name": "ok.txt", "full_path": "/Users/minji/ok.txt", "si_created": t,
                         "fn_created": t}), None)
    # 7) $LogFile: $SI created set back by years
    old, new = t + 500 * SEC, from_iso("2010-06-01T00:00:00Z")
    w.add(Record("logfile_records", {"lsn": 5000, "redo_op": "UpdateResidentValue", "mft_entry": 700,
                                     "detail": json.dumps({"si_changes": {"created": [old, new]}})}), None)
    w.add(Record("logfile_events", {"lsn": 5000, "event_time": new, "event": "Time Change",
                                    "detail": "created: ... (UTC); reversal: created", "name": "evil.dll",
                                    "full_path": "\\Users\\minji\\AppData\\evil.dll", "mft_entry": 700,
                                    "created": new, "old_created": old}), None)
    # 8) Security 4616
    w.add(Record("evtx", {"time_created": t + 900 * SEC, "event_id": 4616, "channel": "Security",
                          "provider": "Microsoft-Windows-Security-Auditing"}), None)
    w.close()
    return sqlite3.connect(tmp_path / "case.sqlite")


def _by_rule(found: list[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for f in found:
        out.setdefault(f.details["rule"], []).append(f)
    return out


def test_bundled_rules_valid() -> None:
    rules = sus.load_rules()
    assert len(rules) == 11
    assert {r["category"] for r in rules} == set(sus.CATEGORIES)
    assert {r["detector"] for r in rules} == set(sus.DETECTORS)


def test_all_categories(tmp_path: Path) -> None:
    con = _case(tmp_path)
    found = sus.run(con)
    by = _by_rule(found)
    assert set(by) == {r["id"] for r in sus.load_rules()}
    assert {f.details["category"] for f in found} == set(sus.CATEGORIES)

    (rb,) = by["system_time_rollback_journal"]
    assert rb.details["seconds_back"] == 7204  # 2 h back from the 5th benign record (+4 s)
    assert rb.ts == T0 - 7200 * SEC
    assert [e.table for e in rb.evidence] == ["usnjrnl", "usnjrnl"]
    assert len(by["system_time_change_event"]) == 1 and by["system_time_change_event"][0].evidence[0].table == "evtx"

    assert [f.details["name"] for f in by["suspicious_program_install"]] == ["mimikatz.exe"]
    assert [f.details["executable"] for f in by["suspicious_program_execution"]] == ["MIMIKATZ.EXE"]
    assert [f.details["name"] for f in by["anti_forensic_tool"]] == ["sdelete64.exe"]
    assert [f.details["executable"] for f in by["anti_forensic_execution"]] == ["SDELETE64.EXE"]
    (sd,) = by["sdelete_rename_pattern"]
    assert sd.details["count"] == 4

    (md,) = by["mass_document_deletion"]
    assert md.details["count"] == 25 and md.ts == T0 + 3800 * SEC and len(md.evidence) == 25

    (rw,) = by["mass_rename_new_extension"]
    assert rw.details["extension"] == ".kraken" and rw.details["count"] == 30 and rw.severity == "critical"

    (ts,) = by["si_fn_time_reversal"]
    assert ts.details["path"] == "/Users/minji/AppData/evil.dll" and ts.evidence[0].table == "mft"
    (lf,) = by["si_time_set_back_logfile"]
    assert {e.table for e in lf.evidence} == {"logfile_events", "logfile_records"}
    for f in found:
        assert f.analyzer == "suspicious" and f.evidence and f.severity in sus.SEVERITIES



def test_temporary_tables_dropped_and_detectors_alone_agree(tmp_path: Path) -> None:
    """The distinct names (one temporary table per source for a whole run) and a burst detector's events (one
    temporary table per detector) are dropped when done; a detector called alone gathers its own and finds what
    it finds within ``run``; the ransomware pass's temporary folder table is dropped too."""
    from wintriage.analyzers import ransomware

    con = _case(tmp_path)
    temp = "SELECT name FROM sqlite_temp_master"
    found = sus.run(con)
    assert con.execute(temp).fetchall() == []
    for rule in sus.load_rules():
        alone = sus.DETECTORS[rule["detector"]](con, rule)
        assert alone == [f for f in found if f.details["rule"] == rule["id"]], rule["id"]
        assert con.execute(temp).fetchall() == [], rule["id"]
    assert ransomware.find_bursts(con) and con.execute(temp).fetchall() == []


def test_missing_tables_and_columns(tmp_path: Path) -> None:
    assert sus.run(sqlite3.connect(":memory:")) == []
    con = sqlite3.connect(tmp_path / "odd.sqlite")
    con.execute("CREATE TABLE usnjrnl (id INTEGER PRIMARY KEY, name TEXT)")
    con.execute("CREATE TABLE mft (id INTEGER PRIMARY KEY, entry INTEGER)")
    con.execute("CREATE TABLE evtx (id INTEGER PRIMARY KEY, event_id INTEGER)")
    con.execute("CREATE TABLE logfile_events (id INTEGER PRIMARY KEY)")
    con.execute("INSERT INTO usnjrnl (name) VALUES ('mimikatz.exe')")
    assert sus.run(con) == []


def test_logfile_events_feed_rules(tmp_path: Path) -> None:
    """Creations seen only in $LogFile (no $J) still trigger the name rules."""
    w = CaseWriter(tmp_path / "c.sqlite")
    w.ensure_tables(logfile.TABLES)
    w.add(Record("logfile_events", {"lsn": 1, "event_time": T0, "event": "File Creation", "name": "PsExec64.exe",
                                    "full_path": "\\Tools\\PsExec64.exe", "mft_entry": 70}), None)
    w.close()
    found = sus.run(sqlite3.connect(tmp_path / "c.sqlite"))
    assert [(f.details["rule"], f.details["name"]) for f in found] == [("suspicious_program_install", "PsExec64.exe")]
    assert found[0].evidence[0].table == "logfile_events"


BASE = {"version": 1, "rules": [{"id": "x", "category": "anti_forensics", "title": "t", "severity": "high",
                                 "detector": "rename_pattern",
                                 "params": {"patterns": ["^A+$"], "min_count": 3, "window_seconds": 60}}]}


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d.update(version=2), "version must be 1"),
    (lambda d: d["rules"][0].update(detector="nope"), "detector must be one of"),
    (lambda d: d["rules"][0].update(category="misc"), "category must be one of"),
    (lambda d: d["rules"][0].update(severity="urgent"), "severity must be one of"),
    (lambda d: d["rules"][0]["params"].pop("min_count"), "param 'min_count' is required"),
    (lambda d: d["rules"][0]["params"].update(patterns=["("]), "bad regex"),
    (lambda d: d["rules"][0]["params"].update(min_count=0), "must be > 0"),
    (lambda d: d["rules"][0]["params"].update(extra=1), "unknown param 'extra'"),
    (lambda d: d["rules"].append(copy.deepcopy(d["rules"][0])), "duplicate id 'x'"),
    (lambda d: d["rules"][0].update(colour="red"), "unknown keys"),
])
def test_schema_errors(mutate: Any, message: str) -> None:
    doc = copy.deepcopy(BASE)
    assert sus.validate(doc) == []
    mutate(doc)
    errs = sus.validate(doc)
    assert any(message in e for e in errs), errs


def test_user_rule_file(tmp_path: Path) -> None:
    p = tmp_path / "mine.yaml"
    p.write_text(yaml.safe_dump(BASE), encoding="utf-8")
    assert [r["id"] for r in sus.load_rules(p)] == ["x"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nrules: []\n", encoding="utf-8")
    with pytest.raises(sus.RuleError, match="non-empty list"):
        sus.load_rules(bad)


def test_clock_change_events_filtered(tmp_path: Path) -> None:
    w = CaseWriter(tmp_path / "e.sqlite")
    w.ensure_table("evtx", EVTX_COLS + [("event_data", "TEXT")])

    def ev(prev: str, new: str, proc: str) -> None:
        w.add(Record("evtx", {"time_created": T0, "event_id": 4616, "channel": "Security",
                              "event_data": json.dumps({"PreviousTime": prev, "NewTime": new, "ProcessName": proc})}),
              None)

    ev("2024-03-05T10:00:00.1234567Z", "2024-03-05T10:00:01.000000Z", "C:\\Windows\\System32\\svchost.exe")
    ev("2024-03-05T12:00:00Z", "2023-01-01T00:00:00.123456789Z", "C:\\Windows\\System32\\rundll32.exe")
    w.close()
    found = [f for f in sus.run(sqlite3.connect(tmp_path / "e.sqlite")) if f.details["rule"] == "system_time_change_event"]
    assert len(found) == 1
    assert found[0].details["seconds"] == pytest.approx(-37108800 + 0.1234567, abs=1e-6)  # 429 days + 12 h back
    assert "rundll32.exe" in found[0].description


def _journal(path: Path, rows: list[tuple[int, int, str, int, int]]) -> sqlite3.Connection:
    """A bare usnjrnl table: rows of (usn, timestamp, name, entry, reason_flags), stored in the given order."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE usnjrnl (id INTEGER PRIMARY KEY, usn INTEGER, timestamp INTEGER, name TEXT, "
                "entry INTEGER, parent_path TEXT, reason_flags INTEGER)")
    con.executemany("INSERT INTO usnjrnl (usn, timestamp, name, entry, parent_path, reason_flags) "
                    "VALUES (?, ?, ?, ?, '\\Users\\minji\\Documents', ?)", rows)
    con.commit()
    return con


def _rule(rid: str) -> dict[str, Any]:
    return next(r for r in sus.load_rules() if r["id"] == rid)


def test_time_rollback_rows_out_of_usn_order(tmp_path: Path) -> None:
    """Rows stored out of USN order (two journals appended, say): the records are compared in USN order."""
    rows = [(96 * (i + 1), T0 + i * SEC, f"f{i}.txt", 10 + i, 0x100) for i in range(6)]
    rows[3] = (rows[3][0], T0 - 3600 * SEC, "back.txt", 13, 0x100)
    con = _journal(tmp_path / "a.sqlite", rows[3:] + rows[:3])
    (f,) = sus.d_time_rollback(con, _rule("system_time_rollback_journal"))
    assert f.details["seconds_back"] == 3602 and f.ts == T0 - 3600 * SEC
    assert [e.row_id for e in f.evidence] == [6, 1]  # f2.txt (stored 6th), then back.txt (stored 1st)


def test_mass_delete_bursts_distinct_files_and_evidence_cap(tmp_path: Path) -> None:
    """Each deletion has two records (delete, delete+close): files are counted once. Two bursts an hour apart
    are two findings; evidence is the first record of each file, capped at MAX_EVIDENCE."""
    rows, usn = [], 0
    for burst, n in ((0, 60), (3600, 22)):
        for i in range(n):
            for flags in (0x200, 0x80000200):
                usn += 96
                rows.append((usn, T0 + (burst + i) * SEC, f"doc{burst}_{i}.pdf", 1000 + burst + i, flags))
    rows.append((usn + 96, T0 + 7200 * SEC, "other.exe", 5, 0x200))
    con = _journal(tmp_path / "d.sqlite", rows)
    a, b = sus.d_mass_delete(con, _rule("mass_document_deletion"))
    assert (a.details["count"], a.ts, len(a.evidence)) == (60, T0, sus.MAX_EVIDENCE)
    assert [e.row_id for e in a.evidence[:3]] == [1, 3, 5]  # the delete record of each file, not its close
    assert "60 documents deleted" in a.description and "(.pdf: 60)" in a.description
    assert (b.details["count"], b.ts, len(b.evidence)) == (22, T0 + 3600 * SEC, 22)


def test_mass_rename_old_name_is_the_preceding_one(tmp_path: Path) -> None:
    """The old name of a rename is the RENAME_OLD_NAME record just before it for that entry: a file renamed
    twice (a.jpg -> a.jpg.kraken, later a.jpg.kraken -> a.jpg.kraken.bak by a backup) is one change each time."""
    rows, usn = [], 0

    def rec(ts: int, name: str, entry: int, flags: int) -> None:
        nonlocal usn
        usn += 96
        rows.append((usn, ts, name, entry, flags))

    for i in range(25):
        rec(T0 + i * SEC, f"photo{i}.jpg", 600 + i, 0x1000)
        rec(T0 + i * SEC, f"photo{i}.jpg.kraken", 600 + i, 0x2000)
        rec(T0 + i * SEC, f"photo{i}.jpg.kraken", 600 + i, 0x80002000)
    for i in range(25):  # a day later the same files get a .bak name
        rec(T0 + (86400 + i) * SEC, f"photo{i}.jpg.kraken", 600 + i, 0x1000)
        rec(T0 + (86400 + i) * SEC, f"photo{i}.jpg.kraken.bak", 600 + i, 0x2000)
    con = _journal(tmp_path / "r.sqlite", rows)
    found = sus.d_mass_rename_ext(con, _rule("mass_rename_new_extension"))
    assert [(f.details["extension"], f.details["count"], len(f.evidence)) for f in found] == \
        [(".bak", 25, 25), (".kraken", 25, 25)]
    kr = found[1]
    assert kr.evidence[0].row_id == 2 and kr.evidence[0].note == "rename_new \\Users\\minji\\Documents\\photo0.jpg.kraken"


def test_memory_flat_in_journal_size(tmp_path: Path) -> None:
    """Python-side memory of the whole rule set does not grow with the journal: 100k records (creates, deletes,
    renames of ordinary files) stay under 2 MB of Python allocations (a per-record event list would be ~30 MB)."""
    import tracemalloc

    def rows(n: int) -> Any:
        for i in range(n):
            yield (96 * (i + 1), T0 + i * 10_000, f"file{i:07d}.docx", i, (0x100, 0x200, 0x1000, 0x2000)[i % 4])

    peaks = []
    for n in (10_000, 100_000):
        con = _journal(tmp_path / f"m{n}.sqlite", list(rows(n)))
        tracemalloc.start()
        sus.run(con)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        con.close()
    assert peaks[1] < 2_000_000, peaks  # measured ~0.3 MB for both sizes
    assert peaks[1] < 2 * peaks[0] + 500_000, peaks


@pytest.mark.parametrize(("names", "expected"), [
    (["MIMI*"], ["mimikatz.exe"]),  # case-insensitive, through the SQL prefix filter
    (["*katz.exe"], ["mimikatz.exe"]),  # a leading wildcard: no prefix filter
    (["도구*"], ["도구.exe"]),  # a non-ASCII prefix: no prefix filter
    (["nothing*"], []),
])
def test_file_name_globs(tmp_path: Path, names: list[str], expected: list[str]) -> None:
    con = _journal(tmp_path / "g.sqlite", [(96, T0, "mimikatz.exe", 1, 0x100), (192, T0, "도구.exe", 2, 0x100),
                                           (288, T0, "notes.txt", 3, 0x100)])
    rule = {"id": "x", "category": "suspicious_install", "title": "t", "severity": "high", "detector": "file_name",
            "params": {"names": names}}
    assert [f.details["name"] for f in sus.d_file_name(con, rule)] == expected
