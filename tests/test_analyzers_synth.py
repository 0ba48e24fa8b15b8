"""The analyzers on synthetic incidents: every variant the issue names, and clean cases with decoys."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from synth import MIN, Variant, build
from wintriage.analyzers import answers

VARIANTS = {
    "append-rename": Variant(),
    "replace-rename": Variant(ext_style="replace", new_ext=".locked"),
    "random-rename": Variant(ext_style="random", new_ext=".crypt"),
    "append-copy-delete": Variant(enc_style="copy"),
    "replace-copy-delete": Variant(enc_style="copy", ext_style="replace", new_ext=".enc"),
    "random-copy-delete": Variant(enc_style="copy", ext_style="random", new_ext=".xyz"),
    "self-deleting-payload": Variant(payload_self_delete=True),
    "timestomped-payload": Variant(payload_timestomp=True),
    "edge-multi-hop": Variant(browser="Edge", chain_hops=3),
    "korean-user-with-space": Variant(user="김 민지", payload_dir="AppData\\Roaming\\Microsoft", dropper_name="설치 파일.exe"),
    "long-dwell": Variant(dwell=20 * 60 * MIN),
    "short-dwell": Variant(dwell=2 * MIN),
    "no-decoys": Variant(decoys=()),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant(name: str, tmp_path: Path) -> None:
    v = VARIANTS[name]
    truth = build(tmp_path / "case.sqlite", v)
    con = sqlite3.connect(tmp_path / "case.sqlite")
    a = answers.compute(con)
    rw = a["ransomware"]
    assert rw["detected"], a["bulk_activity"]
    fe = rw["first_encrypted"]
    assert fe["original_path"] == truth.first_original_path
    assert fe["original_name"] == truth.first_original_name
    assert fe["encrypted_name"] == truth.first_encrypted_name
    assert fe["time"] == truth.first_time
    assert rw["encrypted_count"] == truth.encrypted_count
    assert rw["new_extension"] == truth.new_extension
    assert rw["note_name"] == truth.note_name
    assert rw["executable"]["path"].lower() == truth.payload_path.lower()
    assert rw["executable"]["first_exec"] == truth.payload_first_exec
    ia = a["initial_access"]
    assert ia["found"]
    assert ia["download_url"] == truth.download_url and ia["url_chain"] == truth.url_chain
    assert ia["referrer"] == truth.referrer
    assert ia["file_path"] == truth.file_path and ia["file_name"] == truth.file_name
    assert ia["downloaded"] == truth.downloaded and ia["executed"] == truth.executed
    assert [b["verdict"] for b in a["bulk_activity"]].count("ransomware") == 1


def test_decoys_alone_are_not_ransomware(tmp_path: Path) -> None:
    build(tmp_path / "case.sqlite", Variant(with_incident=False))
    a = answers.compute(sqlite3.connect(tmp_path / "case.sqlite"))
    assert not a["ransomware"]["detected"]
    assert not a["initial_access"]["found"]
    kinds = {b["new_extension"]: b["verdict"] for b in a["bulk_activity"]}
    assert kinds.get(".jpg") == "bulk-activity"  # .jpeg -> .jpg conversion: many renames, nothing destroyed
    assert all(v != "ransomware" for v in kinds.values())


def test_empty_case_has_no_answers(tmp_path: Path) -> None:
    from wintriage.store.case import CaseWriter

    CaseWriter(tmp_path / "case.sqlite").close()
    a = answers.compute(sqlite3.connect(tmp_path / "case.sqlite"))
    assert a["ransomware"] == {"detected": False} and a["initial_access"] == {"found": False}
    r = answers.render(a, answers.UTC)
    assert r["flags"] == {"IR1": None, "IR2": None}
