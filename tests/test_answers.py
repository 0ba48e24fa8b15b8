"""End-to-end: `analyze` + `answer` on scenario/public-1.E01 agree with its answers.json; clean images
raise no incident."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import need
from wintriage import pipeline
from wintriage.analyzers.answers import answer_case
from wintriage.cli import main
from wintriage.timeutil import from_iso, parse_tz

KST = parse_tz("+09:00")


@pytest.fixture(scope="module")
def truth() -> dict:
    return json.loads(need("scenario/public-1.answers.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def ans(public1_case: Path) -> dict:
    return answer_case(public1_case, KST)


def _same_ms(ours: str, theirs: str) -> bool:
    return abs(from_iso(ours) - from_iso(theirs)) < 10_000  # 1 ms: the journal keeps 100 ns, answers.json ms


def test_flags(ans: dict, truth: dict) -> None:
    assert ans["flags"]["IR1"] == truth["flags"]["IR1"]
    assert ans["flags"]["IR2"] == truth["flags"]["IR2"]


def test_ransomware(ans: dict, truth: dict) -> None:
    rw, t = ans["ransomware"], truth["ransomware"]
    assert rw["detected"] is True
    fe, tf = rw["first_encrypted"], t["first_encrypted"]
    assert fe["original_path"] == tf["original_path"]
    assert fe["original_name"] == tf["original_name"]
    assert fe["encrypted_name"] == tf["encrypted_name"]
    assert _same_ms(fe["time_utc"], tf["time_utc"])
    assert fe["time_local"].startswith(tf["time_kst"][:19])
    assert (fe["mft_entry"], fe["mft_sequence"]) == (tf["mft_entry"], tf["mft_sequence"])
    assert rw["encrypted_count"] == t["encrypted_count"] == 647
    assert rw["new_extension"] == t["new_extension"]
    assert rw["note_name"] == t["note_name"]
    assert sorted(rw["note_paths"]) == sorted(t["note_paths"])
    ex = rw["executable"]
    assert ex["path"] == t["payload_path"]
    assert _same_ms(ex["first_exec_utc"], t["payload_first_exec_utc"])
    assert {p["source"] for p in ex["proofs"]} >= {"prefetch", "bam"}
    assert any("WindowsUpdateService" in p["text"] or "WinUpdateSvc" in p["text"] for p in ex["persistence"])
    # the decoy (a photo import renaming 96 .jpg files) is bulk activity, not ransomware
    assert all(b["verdict"] != "ransomware" for b in ans["bulk_activity"] if b["new_extension"] != ".kraken")


def test_initial_access(ans: dict, truth: dict) -> None:
    ia, t = ans["initial_access"], truth["malicious_download"]
    assert ia["found"] is True
    assert ia["download_url"] == t["download_url"]
    assert ia["referrer"] == t["referrer"]
    assert ia["tab_url"] == t["tab_url"]
    assert ia["url_chain"] == t["url_chain"]
    assert ia["file_name"] == t["file_name"]
    assert ia["file_path"] == t["file_path"]
    assert _same_ms(ia["downloaded_utc"], t["download_start_utc"])
    assert _same_ms(ia["executed_utc"], t["first_exec_utc"])
    assert ia["zone_host_url"] == t["download_url"] and ia["zone_id"] == "3"
    assert any(d["path"].lower() == truth["ransomware"]["payload_path"].lower() for d in ia["dropped"])


def test_system_overview(ans: dict, truth: dict) -> None:
    s = ans["system"]
    assert s["hostname"] == truth["system"]["hostname"]
    sids = {u["sid"] for u in s["users"]}
    assert {u["sid"] for u in truth["system"]["users"]} <= sids


def test_answer_cli_json_and_keeper(public1_case: Path, truth: dict) -> None:
    r = CliRunner().invoke(main, ["answer", str(public1_case), "--tz", "+09:00", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["schema"] == "wintriage.answers/1"
    assert data["ransomware"]["first_encrypted"]["original_name"] == truth["ransomware"]["first_encrypted"]["original_name"]
    r = CliRunner().invoke(main, ["answer", str(public1_case), "--tz", "+09:00", "--flag-format", "keeper"])
    assert r.output.split() == [truth["flags"]["IR1"], truth["flags"]["IR2"]]
    r = CliRunner().invoke(main, ["answer", str(public1_case), "--tz", "+09:00"])
    assert r.exit_code == 0 and "README_RESTORE_FILES.txt" in r.output


def test_case_counts_match_parse_of_extracted_files(public1_case: Path, tmp_path: Path) -> None:
    """analyze's $MFT and $J row counts equal `parse` on the extracted files, with no unexplained warnings."""
    import sqlite3

    con = sqlite3.connect(public1_case / "case.sqlite")
    files = public1_case / "files" / "C"
    for art, rel, table in (("mft", "$MFT", "mft"), ("usnjrnl", "$Extend/$J", "usnjrnl")):
        r = CliRunner().invoke(main, ["parse", art, str(files / rel), "--db", str(tmp_path / f"{art}.sqlite"), "--json"])
        assert r.exit_code == 0, r.output
        sid, records = con.execute("SELECT id, records FROM sources WHERE path = ?", (rel,)).fetchone()
        rows = con.execute(f"SELECT COUNT(*) FROM {table} WHERE source_id = ?", (sid,)).fetchone()[0]
        parsed = json.loads(r.output)
        assert parsed["records"] == records > 0  # every record of the source (mft also yields zone_identifier rows)
        other = sqlite3.connect(tmp_path / f"{art}.sqlite").execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        assert other == rows > 0
        w = con.execute("SELECT COUNT(*) FROM warnings w JOIN sources s ON s.id = w.source_id WHERE s.path = ?", (rel,)).fetchone()[0]
        assert w == 0


@pytest.mark.parametrize("image", ["ewf/derived/ntfs-ptrn.E01"])
def test_no_incident_on_clean_image(image: str, tmp_path: Path) -> None:
    out = tmp_path / "case"
    pipeline.analyze(need(image), out)
    a = answer_case(out)
    assert a["ransomware"]["detected"] is False
    assert a["initial_access"]["found"] is False
    assert a["flags"] == {"IR1": None, "IR2": None}
    r = CliRunner().invoke(main, ["answer", str(out)])
    assert "No encryption burst found" in r.output and "No executed download" in r.output


def test_no_incident_on_ntfs20h1(unpacked, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    raw = unpacked("ntfs/ntfs20h1.tgz") / "ntfs.raw"
    out = tmp_path / "case"
    pipeline.analyze(raw, out)
    a = answer_case(out)
    assert a["ransomware"]["detected"] is False and a["initial_access"]["found"] is False


def test_context(ans: dict, truth: dict) -> None:
    """Defender tampering (policy + Defender Control runs), persistence and shadow-copy tooling around the incident."""
    ctx = ans["context"]
    titles = [x["title"] for x in ctx["defender"]]
    assert "Windows Defender protection switched off in the registry" in titles
    tool = next(x for x in ctx["defender"] if x["title"].startswith("Defender tampering tool executed: dControl.exe"))
    first_run = next(t for t in truth["timeline"] if t["what"].startswith("dControl.exe executed"))
    assert tool["time_utc"][:19] == first_run["utc"][:19]  # 2024-10-28T05:15:52
    assert any("WindowsUpdateService" in x["title"] and x["severity"] == "high" for x in ctx["persistence"])
    assert any(x.get("program", "").lower().endswith("\\vssadmin.exe") for x in ctx["shadow_copy_deletion"])
