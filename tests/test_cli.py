"""CLI behaviour that spans commands: one-line errors, exit codes, --json, folder evidence, docs kept current."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from conftest import REPO, need
from wintriage.cli import main


def test_unreadable_input_is_a_one_line_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.E01"
    junk.write_bytes(b"EVF\x09\x0d\x0a\xff\x00" + b"\x00" * 100)
    for args in (["ls", str(junk)], ["info", str(junk)], ["analyze", str(junk), "-o", str(tmp_path / "c")]):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 2, (args, r.output)
        assert "Traceback" not in r.output
        assert len([ln for ln in r.output.splitlines() if ln.strip()]) <= 3, r.output
    r = CliRunner().invoke(main, ["--debug", "ls", str(junk)])
    assert r.exit_code != 0 and r.exception is not None  # --debug lets the exception through


def test_bad_tz_and_unknown_artifact(tmp_path: Path) -> None:
    f = tmp_path / "x.bin"
    f.write_bytes(b"x")
    r = CliRunner().invoke(main, ["parse", "mft", str(f), "--tz", "Mars"])
    assert r.exit_code == 2 and "time zone" in r.output
    r = CliRunner().invoke(main, ["parse", "nosuch", str(f)])
    assert r.exit_code == 2 and "unknown artefact" in r.output


def test_garbage_input_still_parses_with_warnings(tmp_path: Path) -> None:
    f = tmp_path / "$MFT"
    f.write_bytes(b"FILE" + b"\xff" * 5000)
    r = CliRunner().invoke(main, ["parse", "mft", str(f), "--json"])
    assert r.exit_code in (0, 2)
    data = json.loads(r.output)
    assert data["warnings"] >= 1 and data["sources"][0]["status"] in ("warnings", "failed")


def test_analyze_folder_of_loose_files(tmp_path: Path) -> None:
    """A folder an analyst exported (NLT's three files) is evidence too."""
    d = tmp_path / "export"
    d.mkdir()
    shutil.copy(need("mft/derived/ntfs20h1_MFT.bin"), d / "$MFT")
    shutil.copy(need("usnjrnl/derived/ntfs20h1_UsnJrnl_J.bin"), d / "$J")
    r = CliRunner().invoke(main, ["analyze", str(d), "-o", str(tmp_path / "case"), "--json", "--tz", "+09:00", "--jsonl"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["artifacts"]["usnjrnl"]["records"] == 188
    assert data["artifacts"]["mft"]["records"] > 0
    assert (tmp_path / "case" / "csv" / "MFTECmd_$J_Output.csv").exists()
    hdr = (tmp_path / "case" / "csv" / "timeline.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert hdr.startswith("Time(UTC+9),")
    assert (tmp_path / "case" / "report.html").exists()
    first = json.loads((tmp_path / "case" / "timeline.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert {"message", "datetime", "timestamp", "timestamp_desc"} <= set(first)  # Timesketch's required fields
    r = CliRunner().invoke(main, ["analyze", str(d), "-o", str(tmp_path / "case2")])
    assert r.exit_code == 0 and not (tmp_path / "case2" / "timeline.jsonl").exists()  # JSONL only when asked
    # the folder was read, never written
    assert sorted(p.name for p in d.iterdir()) == ["$J", "$MFT"]


def test_docs_are_current() -> None:
    r = subprocess.run([sys.executable, str(REPO / "tools" / "gen_docs.py"), "--check"], capture_output=True, text=True,
                       env={"COLUMNS": "100", "PATH": "/usr/bin:/bin"}, cwd=REPO)
    assert r.returncode == 0, r.stdout + r.stderr


def test_program_entry_exit_codes_and_output(td: Callable[[str], Path], tmp_path: Path) -> None:
    """The ``wintriage`` program (``cli.entry``) ends without tearing the interpreter down: its exit codes are
    those of ``main`` and everything it printed or wrote is there (streams flushed, files closed)."""
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "wintriage.cli", *args], capture_output=True, text=True,
                              timeout=120, check=False)

    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("wintriage, version")
    r = run("parse", "mft", str(tmp_path / "absent"))
    assert r.returncode == 2 and "does not exist" in r.stderr
    r = run("parse", "mft", str(td("mft/unicode.mft")), "--csv", str(tmp_path / "out"), "--json")
    rows = json.loads(r.stdout)["records"]
    assert r.returncode == 0 and rows > 0
    text = (tmp_path / "out" / "MFTECmd_$MFT_Output.csv").read_bytes()
    assert text.startswith(b"\xef\xbb\xbfEntryNumber,") and text.count(b"\r\n") == rows + 1
