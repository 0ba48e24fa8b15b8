"""LNK: plaso's facts for NeroInfoTool.lnk and unpaired_surrogate.lnk, example.lnk smoke, corruption, CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from wintriage.artifacts import lnk as L
from wintriage.artifacts.base import ParseContext
from wintriage.cli import main
from wintriage.timeutil import from_iso


def one(path: Path) -> tuple[dict, ParseContext]:
    ctx = ParseContext("lnk", str(path))
    recs = list(L.parse(path, ctx))
    assert len(recs) == 1
    return recs[0].data, ctx


def test_nero_infotool(td) -> None:
    d, ctx = one(td("lnk/NeroInfoTool.lnk"))
    assert ctx.warning_count == 0
    assert d["local_path"] == "C:\\Program Files (x86)\\Nero\\Nero 9\\Nero InfoTool\\InfoTool.exe"
    assert d["working_directory"] == "C:\\Program Files (x86)\\Nero\\Nero 9\\Nero InfoTool"
    assert d["relative_path"] == (
        "..\\..\\..\\..\\..\\..\\..\\..\\Program Files (x86)\\Nero\\Nero 9\\Nero InfoTool\\InfoTool.exe")
    assert d["volume_serial"] == "70ECFA33"
    assert d["drive_type"] == "Fixed storage media (Hard drive)"
    assert d["volume_label"] == "OS"
    assert d["file_size"] == 4635160
    assert d["file_attribute_flags"] == 0x20 and d["file_attributes"] == "FILE_ATTRIBUTE_ARCHIVE"
    assert d["target_created"] == from_iso("2009-06-05T20:13:20Z")
    assert (d["target_mft_entry"], d["target_mft_sequence"]) == (81349, 1)
    last = d["shell_items"][-1]
    assert last["name"] == "InfoTool.exe" and last["accessed"] == from_iso("2010-01-29T21:30:12Z")
    assert d["target_idlist_path"] == d["local_path"]
    assert d["mac_address"] == "70:5a:b6:16:a5:f3"
    assert d["droid_file"] == "958705b5-0d19-11df-9fe4-705ab616a5f3"
    assert d["tracker_created"] == from_iso("2010-01-29T21:02:17.8401717Z")
    assert d["machine_id"] == "win-3qmdjgkf3g9"
    assert d["arguments"] == "-ScParameter=30002  "


def test_unpaired_surrogate(td) -> None:
    d, ctx = one(td("lnk/unpaired_surrogate.lnk"))
    assert ctx.warning_count == 0
    assert d["local_path"] == "C:\\test\\unicode_U+0000d800_\\U0000d800.exe"
    assert d["volume_serial"] == "2CA3D1AE"
    assert d["file_size"] == 11264
    assert d["target_created"] == from_iso("2023-07-10T04:01:20.7971076Z")
    assert d["shell_items"][-1]["extra"]["short_name"] == "UNICOD~1.EXE"  # 8.3 name; "name" is the long name
    assert d["shell_items"][-1]["name"] == "unicode_U+0000d800_\\U0000d800.exe"
    assert (d["target_mft_entry"], d["target_mft_sequence"]) == (386618, 63)
    d["local_path"].encode("utf-8")  # writable as UTF-8: no lone surrogate left


def test_example_smoke(td) -> None:
    d, ctx = one(td("lnk/example.lnk"))
    assert ctx.warning_count == 0
    assert d["env_location"] == "%windir%\\system32\\migwiz\\migwiz.exe" == d["target_path"]
    assert d["mac_address"] == "00:1d:09:fa:5a:1c"


@pytest.mark.parametrize("name", ["NeroInfoTool.lnk", "unpaired_surrogate.lnk", "example.lnk"])
def test_corruption_sweep(td, tmp_path: Path, name: str) -> None:
    raw = td(f"lnk/{name}").read_bytes()
    n = len(raw)
    blobs = [raw[:c] for c in (0, 4, 20, 75, 76, 100, n // 2, n - 10)]
    for off in (0, 4, 20, 60, 76, 78, 100, 200, n // 2, n - 40):
        b = bytearray(raw)
        for i in range(off, min(off + 8, n)):
            b[i] ^= 0xFF
        blobs.append(bytes(b))
    warned = 0
    for i, blob in enumerate(blobs):
        p = tmp_path / f"{i}.lnk"
        p.write_bytes(blob)
        ctx = ParseContext("lnk", str(p))
        recs = list(L.parse(p, ctx))
        for r in recs:
            json.dumps(r.data, default=str).encode("utf-8")
            list(L.timeline(r))
        if not recs:
            assert ctx.warning_count > 0 and ctx.warnings[0].offset is not None
        warned += ctx.warning_count > 0
    assert warned >= 3


def test_cli_csv(td, tmp_path: Path) -> None:
    out = tmp_path / "csv"
    files = [str(td(f"lnk/{n}")) for n in ("NeroInfoTool.lnk", "unpaired_surrogate.lnk", "example.lnk")]
    res = CliRunner().invoke(main, ["parse", "lnk", *files, "--csv", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["records"] == 3
    with open(out / "LECmd_Output.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:8] == ["SourceFile", "SourceCreated", "SourceModified", "SourceAccessed", "TargetCreated",
                                 "TargetModified", "TargetAccessed", "FileSize"]
    nero = rows[0]
    assert nero["LocalPath"].endswith("InfoTool.exe") and nero["VolumeSerialNumber"] == "70ECFA33"
    assert nero["TargetMFTEntryNumber"] == "81349" and nero["TargetMFTSequenceNumber"] == "1"
    assert nero["TargetCreated"] == "2009-06-05 20:13:20.0000000"
    assert nero["MachineMACAddress"] == "70:5a:b6:16:a5:f3"
    assert rows[1]["LocalPath"] == "C:\\test\\unicode_U+0000d800_\\U0000d800.exe"


def test_source_times_only_when_restored(td, tmp_path: Path) -> None:
    """Times of a fresh copy are our own activity (empty); times restored with utime are reported."""
    import os
    import shutil

    p = tmp_path / "a.lnk"
    shutil.copyfile(td("lnk/NeroInfoTool.lnk"), p)
    d, _ = one(p)
    assert d["source_modified"] is None and d["source_accessed"] is None
    os.utime(p, (1_700_000_000, 1_600_000_000))
    d, _ = one(p)
    assert d["source_modified"] == from_iso("2020-09-13T12:26:40Z")
    assert d["source_accessed"] == from_iso("2023-11-14T22:13:20Z")
    evs = list(L.timeline(L.Record("lnk", d)))
    assert [e.ts_desc for e in evs] == ["Target MB", "Target A", "Shortcut Modified"]
    assert evs[-1].ts == d["source_modified"] and evs[-1].path == d["local_path"]
