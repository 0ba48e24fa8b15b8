"""Sigma over the case store: bundled rules load, 1102 and Sysmon process-creation rules fire exactly where the
events are, unsupported rules are skipped and counted."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from wintriage.analyzers import sigma
from wintriage.parsecmd import run_parse

TD = Callable[[str], Path]
SAMPLES = [
    "evtx/plaso/System.evtx",
    "evtx/plaso/System2.evtx",
    "evtx/python-evtx/system.evtx",
    "evtx/python-evtx/security.evtx",
    "evtx/python-evtx/issue_39.evtx",
    "evtx/evtx-rs/sysmon.evtx",
    "evtx/evtx-rs/new-user-security.evtx",
    "evtx/evtx-rs/post-Security.evtx",
    "evtx/evtx-rs/2-vss_7-System.evtx",
    "evtx/evtx-rs/sample-with-irregular-bool-values.evtx",
]
LOG_CLEARED = "Security Event Log Cleared"
SYSMON_PROC = "Process Created (Sysmon)"


def case(paths: list[Path], tmp: Path) -> Path:
    db = tmp / "case.sqlite"
    run_parse("evtx", paths, csv_dir=None, db=db, options={})
    return db


def test_bundled_rules_load() -> None:
    rules, skipped, errors = sigma.load_rules([sigma.BUNDLED])
    assert skipped == 0 and errors == []
    assert len(rules) == 15
    titles = {r.title for r in rules}
    assert {LOG_CLEARED, SYSMON_PROC, "Service Installed", "Shadow Copies Deleted Or Backups Disabled",
            "Microsoft Defender Real-Time Protection Disabled", "Suspicious PowerShell Encoded Command"} <= titles
    for r in rules:
        assert sigma.convert(r), r.title  # every bundled rule converts


def test_rules_fire_only_on_their_events(td: TD, tmp_path: Path) -> None:
    fired: dict[str, set[str]] = {}
    for s in SAMPLES:
        d = tmp_path / Path(s).stem
        d.mkdir()
        db = case([td(s)], d)
        for f in sigma.run_sigma(db):
            fired.setdefault(f.title, set()).add(s)
            if f.title == SYSMON_PROC:
                assert f.details["matches"] == 227
                assert len(f.evidence) == 227 and all(e.table == "evtx" for e in f.evidence)
                assert f.severity == "info" and "execution" in f.details["mitre"]
    assert fired[SYSMON_PROC] == {"evtx/evtx-rs/sysmon.evtx"}
    assert LOG_CLEARED not in fired  # no sample holds a Security 1102
    assert fired["Service Installed"] == {"evtx/plaso/System.evtx", "evtx/python-evtx/system.evtx",
                                          "evtx/evtx-rs/2-vss_7-System.evtx"}


def test_log_cleared_fires_on_a_1102(td: TD, tmp_path: Path) -> None:
    db = case([td("evtx/evtx-rs/new-user-security.evtx")], tmp_path)
    con = sqlite3.connect(db)
    data = {"LogFileCleared": {"SubjectUserSid": "S-1-5-21-1-2-3-500", "SubjectUserName": "eve",
                               "SubjectDomainName": "CORP", "SubjectLogonId": "0x3e7"}}
    cur = con.execute(
        "INSERT INTO evtx (record_number, event_record_id, time_created, event_id, level, provider, channel,"
        " computer, event_data, recovered) VALUES (99, 99, 133000000000000000, 1102, 4,"
        " 'Microsoft-Windows-Eventlog', 'Security', 'WS1', ?, 0)",
        (json.dumps(data),),
    )
    rid = cur.lastrowid
    # the same event id in another channel must not match
    con.execute("INSERT INTO evtx (event_id, provider, channel, event_data) VALUES (1102, 'Other', 'Application', '{}')")
    con.commit()
    con.close()
    st: dict[str, object] = {}
    found = {f.title: f for f in sigma.run_sigma(db, stats=st)}
    f = found[LOG_CLEARED]
    assert [e.row_id for e in f.evidence] == [rid]
    assert f.severity == "high" and f.ts == 133000000000000000
    assert "t1070.001" in f.details["mitre"]
    assert st["events"] == 6


def test_unsupported_rules_are_skipped(tmp_path: Path, td: TD) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "broken.yml").write_text("title: x\n detection: [\n")
    (rules / "linux.yml").write_text(
        "title: Linux thing\nid: 11111111-2222-3333-4444-555555555555\nlogsource: {product: linux, service: auth}\n"
        "detection: {sel: {foo: bar}, condition: sel}\nlevel: low\n"
    )
    (rules / "nofield.yml").write_text(
        "title: Unknown field\nid: 11111111-2222-3333-4444-666666666666\nlogsource: {product: windows, service: system}\n"
        "detection: {sel: {NoSuchField: bar}, condition: sel}\nlevel: low\n"
    )
    (rules / "notarule.yml").write_text("just: a yaml file\n")
    db = case([td("evtx/evtx-rs/new-user-security.evtx")], tmp_path)
    st: dict[str, object] = {}
    out = sigma.run_sigma(db, [rules], include_bundled=False, stats=st)
    assert out == []
    assert st["skipped"] == 3  # broken YAML, linux logsource, not a rule
    assert st["rules"] == 1 and st["failed_queries"] == 0


@pytest.mark.skipif(not sigma.BUNDLED.is_dir(), reason="bundled rules missing")
def test_run_on_connection_without_evtx(tmp_path: Path) -> None:
    con = sqlite3.connect(tmp_path / "empty.sqlite")
    assert sigma.run_sigma(con) == []
    con.close()


def test_correlation_rule(td: TD, tmp_path: Path) -> None:
    db = case([td("evtx/evtx-rs/new-user-security.evtx")], tmp_path)
    con = sqlite3.connect(db)
    ids = []
    for i, user in enumerate(["bob", "bob", "bob", "alice"]):
        cur = con.execute(
            "INSERT INTO evtx (event_id, provider, channel, time_created, event_data) VALUES "
            "(4625, 'Microsoft-Windows-Security-Auditing', 'Security', ?, ?)",
            (133000000000000000 + i * 600_000_000, json.dumps({"TargetUserName": user, "LogonType": 3})),
        )
        ids.append(cur.lastrowid)
    con.commit()
    con.close()
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "corr.yml").write_text(
        "title: Failed logon\nid: 33333333-1111-1111-1111-111111111111\nname: failed_logon\n"
        "logsource: {product: windows, service: security}\ndetection: {selection: {EventID: 4625}, condition: selection}\n"
        "level: low\n---\n"
        "title: Many failed logons for one user\nid: 44444444-1111-1111-1111-111111111111\n"
        "correlation: {type: event_count, rules: [failed_logon], group-by: [TargetUserName], timespan: 5m,"
        " condition: {gte: 3}}\nlevel: high\n"
    )
    st: dict[str, object] = {}
    found = {f.title: f for f in sigma.run_sigma(db, [rules], include_bundled=False, stats=st)}
    f = found["Many failed logons for one user"]
    assert [e.row_id for e in f.evidence] == ids[:3]  # bob's three within 5 minutes; alice's one is not enough
    assert f.details["correlation_alerts"] >= 1 and f.severity == "high"
    assert st["skipped"] == 0


def test_regex_and_keywords_modifiers(td: TD, tmp_path: Path) -> None:
    db = case([td("evtx/evtx-rs/new-user-security.evtx")], tmp_path)
    con = sqlite3.connect(db)
    rid = con.execute(
        "INSERT INTO evtx (event_id, provider, channel, event_data) VALUES (7045, 'Service Control Manager', 'System', ?)",
        (json.dumps({"ServiceName": "x", "ImagePath": "C:\\Users\\Public\\evil.exe -k run"}),),
    ).lastrowid
    con.commit()
    con.close()
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "re.yml").write_text(
        "title: Regex service path\nid: 55555555-2222-3333-4444-555555555555\nlogsource: {product: windows, service: system}\n"
        "detection: {sel: {EventID: 7045, ImagePath|re: '(?i)\\\\users\\\\public\\\\.*\\.EXE'}, condition: sel}\nlevel: medium\n"
    )
    found = sigma.run_sigma(db, [rules], include_bundled=False)
    assert [(f.title, [e.row_id for e in f.evidence]) for f in found] == [("Regex service path", [rid])]


def test_matches_counted_in_sqlite_evidence_capped(td: TD, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The matching event ids are collected in the scratch database: the count is every match, the evidence the
    lowest ``MAX_REFS`` ids."""
    monkeypatch.setattr(sigma, "MAX_REFS", 100)
    db = case([td("evtx/evtx-rs/sysmon.evtx")], tmp_path)
    (f,) = [f for f in sigma.run_sigma(db) if f.title == SYSMON_PROC]
    assert f.details["matches"] == 227 and "(227 matching events)" in f.description
    con = sqlite3.connect(db)
    lowest = [r[0] for r in con.execute("SELECT id FROM evtx WHERE event_id = 1 AND channel LIKE '%Sysmon%' "
                                        "ORDER BY id LIMIT 100")]
    assert [e.row_id for e in f.evidence] == lowest


def test_bundled_rules_compiled_ahead_are_current() -> None:
    """data/sigma/compiled.json is what converting the bundled rules with the installed pySigma gives, and
    loading it imports neither pySigma nor YAML."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, str(repo / "tools" / "gen_sigma.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    code = ("import json, sys; from wintriage.analyzers import sigma; rules, skipped, errors = sigma.bundled_rules(); "
            "assert len(rules) == 15 and all(r.queries for r in rules), len(rules); "
            "same = json.loads(sigma.COMPILED.read_text())['versions'] == sigma.sigma_versions(); "
            "assert not same or not any(m == 'sigma' or m.startswith('sigma.') or m == 'yaml' for m in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_bundled_rules_convert_at_run_time_with_other_pysigma(monkeypatch: pytest.MonkeyPatch) -> None:
    """With pySigma versions other than the ones compiled.json records, the rules are converted at run time:
    the same rules as the file holds (when the installed versions made it)."""
    from wintriage.analyzers import sigma

    doc = json.loads(sigma.COMPILED.read_text(encoding="utf-8"))
    monkeypatch.setattr(sigma, "sigma_versions", lambda: {"pySigma": "0.0"})
    sigma.bundled_rules.cache_clear()  # loaded once per process: here, loaded again with the other versions
    try:
        rules, skipped, _errors = sigma.bundled_rules()
    finally:
        sigma.bundled_rules.cache_clear()
    assert len(rules) == len(doc["rules"]) == 15 and skipped == doc["skipped"]
    assert [r.meta["rule_id"] for r in rules] == [r["meta"]["rule_id"] for r in doc["rules"]]
