"""Recycle Bin $I v1 (Vista-8.1) and v2 (Win10+), built here byte-for-byte in the documented layouts
(no real $I sample exists in testdata): values, $R linking, SID, corruption sweep, CLI."""

from __future__ import annotations

import csv
import json
import struct
from pathlib import Path

from click.testing import CliRunner

from wintriage.artifacts import recyclebin as R
from wintriage.artifacts.base import ParseContext
from wintriage.cli import main
from wintriage.timeutil import from_iso

SID = "S-1-5-21-1760460187-1592185332-161725925-1001"
DEL1 = from_iso("2024-12-12T06:05:01.1234567Z")
DEL2 = from_iso("2015-03-01T10:00:00Z")
P2 = "C:\\Users\\minji\\Documents\\업무\\보고서 초안.docx"
P1 = "C:\\Users\\bob\\Desktop\\old.txt"


def i_v2(path: str, size: int, ts: int) -> bytes:
    s = path.encode("utf-16-le") + b"\x00\x00"
    return struct.pack("<QqQI", 2, size, ts, len(s) // 2) + s


def i_v1(path: str, size: int, ts: int) -> bytes:
    s = path.encode("utf-16-le")
    return struct.pack("<QqQ", 1, size, ts) + s + b"\x00" * (520 - len(s))


def make_bin(root: Path) -> Path:
    d = root / "$Recycle.Bin" / SID
    d.mkdir(parents=True)
    (d / "$IAB12CD.docx").write_bytes(i_v2(P2, 48213, DEL1))
    (d / "$RAB12CD.docx").write_bytes(b"x" * 10)
    (d / "$IZZ9.txt").write_bytes(i_v1(P1, 12, DEL2))  # no $R twin (emptied or never collected)
    (d / "desktop.ini").write_text("[.ShellClassInfo]")
    return d


def run(p: Path, label: str | None = None) -> tuple[list[dict], ParseContext]:
    ctx = ParseContext("recyclebin", label or str(p))
    return [r.data for r in R.parse(p, ctx)], ctx


def test_v1_v2(tmp_path: Path) -> None:
    d = make_bin(tmp_path)
    (r2,), ctx = run(d / "$IAB12CD.docx", f"$Recycle.Bin/{SID}/$IAB12CD.docx")
    assert ctx.warning_count == 0
    assert (r2["version"], r2["original_path"], r2["file_size"], r2["deleted_on"]) == (2, P2, 48213, DEL1)
    assert (r2["sid"], r2["r_name"], r2["r_present"], r2["r_is_directory"]) == (SID, "$RAB12CD.docx", 1, 0)
    (r1,), ctx = run(d / "$IZZ9.txt")
    assert ctx.warning_count == 0
    assert (r1["version"], r1["original_path"], r1["file_size"], r1["deleted_on"]) == (1, P1, 12, DEL2)
    assert (r1["sid"], r1["r_present"]) == (SID, 0)
    ev = list(R.timeline(next(iter([R.Record("recyclebin", r2)]))))
    assert ev[0].ts == DEL1 and ev[0].ts_desc == "Deleted" and ev[0].path == P2
    assert run(d / "$RAB12CD.docx")[0] == [] and run(d / "desktop.ini")[0] == []


def test_corruption_sweep(tmp_path: Path) -> None:
    good = {"v2": i_v2(P2, 1, DEL1), "v1": i_v1(P1, 1, DEL2)}
    for name, raw in good.items():
        blobs = [raw[:c] for c in (0, 8, 23, 24, 26, 27, 30, len(raw) - 2)]
        for off in (0, 7, 24, 25, 27):
            b = bytearray(raw)
            b[off] ^= 0xFF
            blobs.append(bytes(b))
        for i, blob in enumerate(blobs):
            p = tmp_path / f"{name}_{i}" / "$IX.bin"
            p.parent.mkdir()
            p.write_bytes(blob)
            recs, ctx = run(p)
            if not recs:
                assert ctx.warning_count == 1 and ctx.warnings[0].offset is not None
            for r in recs:
                json.dumps(r, ensure_ascii=False).encode("utf-8")


def test_cli_csv(tmp_path: Path) -> None:
    d = make_bin(tmp_path)
    out = tmp_path / "csv"
    res = CliRunner().invoke(main, ["parse", "recyclebin", str(d), "--csv", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["records"] == 2
    with open(out / "RBCmd_Output.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:5] == ["SourceName", "FileType", "FileName", "FileSize", "DeletedOn"]
    by = {r["FileName"]: r for r in rows}
    assert by[P2]["DeletedOn"] == "2024-12-12 06:05:01.1234567" and by[P2]["FileSize"] == "48213"
    assert by[P2]["SID"] == SID and by[P1]["RFilePresent"] == "0"
