"""RECmd batch files: every shipped .reb loads and runs; Kroll_Batch over the regipy hives gives a
RECmd-shaped CSV; semantics of wildcards, Recursive, ValueName, IncludeBinary, BinaryConvert, deleted keys."""

from __future__ import annotations

import csv
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from wintriage.artifacts import registry
from wintriage.artifacts.base import ParseContext
from wintriage.artifacts.registry.batch import (
    DEFAULT_BATCH,
    BatchError,
    convert,
    load_batch,
    run_batch,
)
from wintriage.artifacts.registry.hive import Hive, open_hive
from wintriage.artifacts.registry.recover import recover_deleted
from wintriage.cli import main

R = "registry/regipy/"
RECMD_HEADER = ["HivePath", "HiveType", "Description", "Category", "KeyPath", "ValueName", "ValueType", "ValueData",
                "ValueData2", "ValueData3", "Comment", "Recursive", "Deleted", "LastWriteTimestamp", "PluginDetailFile"]
KEYS_PER_FILE = {
    "AllRegExecutablesFoundOrRun.reb": 18, "BCDBootVolume.reb": 1, "BasicSystemInfo.reb": 107, "BatchExample.reb": 10,
    "BatchExampleServices.reb": 2, "BatchExampleSysCache.reb": 1, "BatchExampleUserAssist.reb": 1,
    "BatchExampleWildCard.reb": 1, "BinaryIncludeDemo.reb": 1, "DFIRBatch.reb": 504, "InstalledSoftware.reb": 15,
    "Kroll_Batch.reb": 327, "RECmd_Batch_MC.reb": 44, "RegistryASEPs.reb": 492, "SoftwareASEPs.reb": 132,
    "SoftwareClassesASEPs.reb": 48, "SoftwareWoW6432ASEPs.reb": 51, "SystemASEPs.reb": 23, "UserActivity.reb": 60,
    "UserClassesASEPs.reb": 48,
}  # fmt: skip


@pytest.fixture(scope="module")
def hives(unpacked: Callable[[str], Path]) -> dict[str, Hive]:
    out = {}
    for n in ("NTUSER.DAT", "SYSTEM", "SAM", "SECURITY", "amcache.hve"):
        p = unpacked(R + n + ".xz")
        h = open_hive(p, ParseContext("registry", str(p)), logs=[])
        assert h is not None
        out[n] = h
    return out


def write_reb(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "t.reb"
    p.write_text("Description: t\nAuthor: me\nVersion: 1\nId: 1-2\nKeys:\n" + body, encoding="utf-8")
    return p


def test_all_shipped_batches_load(td: Callable[[str], Path]) -> None:
    d = td("config/recmd_batch")
    files = sorted(d.glob("*.reb"))
    assert len(files) == 20
    for f in files:
        b = load_batch(f)
        assert len(b.keys) == KEYS_PER_FILE[f.name], f.name
    default = load_batch(DEFAULT_BATCH)
    assert len(default.keys) == 327  # Kroll_Batch coverage


def test_all_batches_run_over_regipy_hives(td: Callable[[str], Path], hives: dict[str, Hive]) -> None:
    for f in sorted(td("config/recmd_batch").glob("*.reb")):
        b = load_batch(f)
        for name, h in hives.items():
            ctx = ParseContext("registry", name)
            for row in run_batch(b, h, ctx):
                assert row["key_path"].startswith("ROOT")
            assert ctx.warnings == [], (f.name, name, ctx.warnings[:3])


def test_kroll_rows_and_conversions(td: Callable[[str], Path], hives: dict[str, Hive]) -> None:
    b = load_batch(td("config/recmd_batch/Kroll_Batch.reb"))
    ctx = ParseContext("registry", "SYSTEM")
    rows = list(run_batch(b, hives["SYSTEM"], ctx))
    assert len(rows) == 2032 and ctx.warnings == []
    by = {(r["key_path"], r["value_name"]): r for r in rows}
    cn1 = by[("ROOT\\ControlSet001\\Control\\ComputerName\\ComputerName", "ComputerName")]
    cn2 = by[("ROOT\\ControlSet002\\Control\\ComputerName\\ComputerName", "ComputerName")]
    assert (cn1["value_type"], cn1["value_data"], cn2["value_data"]) == ("RegSz", "WKS-WIN732BITA", "WIN-V5T3CSP8U4H")
    assert cn1["hive_type"] == "System" and cn1["recursive"] is False and cn1["deleted"] is False
    # ShutdownTime is REG_BINARY with IncludeBinary + BinaryConvert: FILETIME (regipy: 2012-04-04 01:58:40)
    sd = by[("ROOT\\ControlSet001\\Control\\Windows", "ShutdownTime")]
    assert (sd["value_type"], sd["value_data"]) == ("RegBinary", "2012-04-04 01:58:40.8392499")
    tz = by[("ROOT\\ControlSet001\\Control\\TimeZoneInformation", "TimeZoneKeyName")]
    assert tz["value_data"] == "Eastern Standard Time"
    nt = list(run_batch(b, hives["NTUSER.DAT"], ParseContext("registry", "NTUSER")))
    assert any(r["value_name"] == "ComputerName" and r["value_data"] == "WKS-WIN732BITA" for r in nt)


def test_semantics_valuename_wildcard_recursive_binary(tmp_path: Path, hives: dict[str, Hive]) -> None:
    reb = write_reb(tmp_path, r"""
    -
        Description: run
        HiveType: ntuser
        Category: Autoruns
        KeyPath: Software\Microsoft\Windows\CurrentVersion\Run
        ValueName: SIDEBAR
        Recursive: false
        Comment: "c, with comma"
    -
        Description: cn
        HiveType: SYSTEM
        Category: System Info
        KeyPath: ControlSet00?\Control\ComputerName\*
        ValueName: ComputerName
        Recursive: false
    -
        Description: mp2
        HiveType: NtUser
        Category: Devices
        KeyPath: Software\Microsoft\Windows\CurrentVersion\Explorer\MountPoints2
        Recursive: true
    -
        Description: rooted
        HiveType: SYSTEM
        Category: x
        KeyPath: ROOT\Select
        ValueName: Current
        Recursive: false
    -
        Description: bin
        HiveType: SYSTEM
        Category: x
        KeyPath: ControlSet001\Control\Windows
        ValueName: ShutdownTime
        Recursive: false
    -
        Description: binraw
        HiveType: SYSTEM
        Category: x
        KeyPath: ControlSet001\Control\Windows
        ValueName: ShutdownTime
        IncludeBinary: true
        Recursive: false
""")
    b = load_batch(reb)
    nt = list(run_batch(b, hives["NTUSER.DAT"], ParseContext("registry", "n")))
    run = [r for r in nt if r["description"] == "run"]
    assert len(run) == 1
    assert (run[0]["value_name"], run[0]["value_type"], run[0]["value_data"]) == (
        "Sidebar", "RegExpandSz", "%ProgramFiles%\\Windows Sidebar\\Sidebar.exe /autoRun")
    assert run[0]["last_write"] == 129779615948377168 and run[0]["comment"] == "c, with comma"
    mp2 = [r for r in nt if r["description"] == "mp2"]
    assert mp2[0]["key_path"].endswith("MountPoints2") and mp2[0]["value_name"] == ""  # key without values
    assert all(r["recursive"] for r in mp2) and len({r["key_path"] for r in mp2}) > 1
    sy = list(run_batch(b, hives["SYSTEM"], ParseContext("registry", "s")))
    cn = sorted((r["key_path"], r["value_data"]) for r in sy if r["description"] == "cn")
    assert [v for _k, v in cn] == ["WKS-WIN732BITA", "WIN-V5T3CSP8U4H"]  # ComputerName key, both control sets
    assert [r["value_data"] for r in sy if r["description"] == "bin"] == ["(Binary data)"]
    assert [(r["key_path"], r["value_data"]) for r in sy if r["description"] == "rooted"] == [("ROOT\\Select", "1")]
    raw = [r["value_data"] for r in sy if r["description"] == "binraw"][0]
    assert len(raw) == 8 * 3 - 1 and raw.count("-") == 7  # dashed hex like .NET's BitConverter


def test_binary_conversions() -> None:
    assert convert("FILETIME", 3, struct.pack("<Q", 129779615948377168)) == "2012-04-03 21:19:54.8377168"
    assert convert("EPOCH", 4, struct.pack("<I", 1333487935)) == "2012-04-03 21:18:55.0000000"
    assert convert("IP", 3, bytes([192, 168, 1, 123])) == "192.168.1.123"
    sid = bytes([1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0]) + struct.pack("<4I", 1, 2, 3, 1001)
    assert convert("SID", 3, sid) == "S-1-5-21-1-2-3-1001"
    st = struct.pack("<8H", 2021, 11, 4, 18, 13, 59, 4, 888)
    assert convert("SYSTEMTIME", 3, st) == "2021-11-18 13:59:04.8880000"
    for conv in ("FILETIME", "EPOCH", "IP", "SID", "SYSTEMTIME"):
        with pytest.raises(ValueError):
            convert(conv, 3, b"\x01")


def test_bad_batches(tmp_path: Path) -> None:
    cases = {
        "Keys: [": "YAML syntax",
        "Description: d\nAuthor: a\nVersion: 1\nId: x\n": "missing required field 'Keys'",
        "Description: d\nAuthor: a\nVersion: 1\nId: x\nKeys:\n  - {Description: d, HiveType: NOPE, Category: c, KeyPath: k}":
            "unknown HiveType",
        "Description: d\nAuthor: a\nVersion: 1\nId: x\nKeys:\n  - {Description: d, HiveType: SAM, Category: c}":
            "missing required field 'KeyPath'",
        "Description: d\nAuthor: a\nVersion: 1\nId: x\nKeys:\n  - {Description: d, HiveType: SAM, Category: c, "
        "KeyPath: k, BinaryConvert: ROT13}": "unknown BinaryConvert",
    }  # fmt: skip
    for text, why in cases.items():
        p = tmp_path / "bad.reb"
        p.write_text(text, encoding="utf-8")
        with pytest.raises(BatchError, match=why):
            load_batch(p)


def test_deleted_keys_flagged(unpacked: Callable[[str], Path], tmp_path: Path) -> None:
    d = tmp_path / "u"
    d.mkdir()
    for n in ("UsrClass.dat", "UsrClass.dat.LOG1", "UsrClass.dat.LOG2"):
        shutil.copy(unpacked(R + n + ".xz"), d / n)
    ctx = ParseContext("registry", "UsrClass.dat")
    h = open_hive(d / "UsrClass.dat", ctx)
    assert h is not None
    live = {}
    for p, k in h.walk():
        live[k.offset] = p
    rec = recover_deleted(h.data, live, lambda o, m: None)
    assert len(rec.keys) == 5
    reb = write_reb(tmp_path, r"""
    -
        Description: share targets
        HiveType: UsrClass
        Category: x
        KeyPath: Extensions\ContractId\Windows.ShareTarget\PackageId\*\ActivatableClassId
        Recursive: true
""")
    rows = list(run_batch(load_batch(reb), h, ctx, deleted=rec))
    dele = [r for r in rows if r["deleted"]]
    assert len(dele) == 1
    assert dele[0]["key_path"].endswith("\\ActivatableClassId\\App.AppXhqern91xdfs9nhcd85e2vgmtzqt3xcbq.mca")
    assert dele[0]["last_write"]


def test_cli_batch_option(unpacked: Callable[[str], Path], td: Callable[[str], Path], tmp_path: Path) -> None:
    d = tmp_path / "h"
    d.mkdir()
    shutil.copy(unpacked(R + "NTUSER.DAT.xz"), d / "vibranium.NTUSER.DAT")
    shutil.copy(unpacked(R + "SAM.xz"), d / "SAM")
    out = tmp_path / "o"
    reb = td("config/recmd_batch/BatchExampleUserAssist.reb")
    res = CliRunner().invoke(main, ["parse", "registry", str(d), "--batch", str(reb), "--csv", str(out)])
    assert res.exit_code == 0, res.output
    with open(out / "RECmd_Batch_Output.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == RECMD_HEADER
    body = rows[1:]
    assert body and all(r[0].endswith("vibranium.NTUSER.DAT") and r[1] == "NtUser" for r in body)
    assert all("UserAssist" in r[4] for r in body)
    with open(out / "registry_hives.csv", encoding="utf-8-sig", newline="") as fh:
        hv = {r["hive_type"]: r for r in csv.DictReader(fh)}
    assert hv["NTUSER"]["user"] == "vibranium" and hv["NTUSER"]["batch"] == "BatchExampleUserAssist.reb"


def test_kroll_csv_over_regipy_hives(unpacked: Callable[[str], Path], td: Callable[[str], Path], tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "PLUGINS", [])  # the batch alone (plugins have their own tests)
    d = tmp_path / "all"
    d.mkdir()
    for n in ("NTUSER.DAT", "SAM", "SECURITY", "amcache.hve", "UsrClass.dat", "UsrClass.dat.LOG1", "UsrClass.dat.LOG2"):
        shutil.copy(unpacked(R + n + ".xz"), d / n)
    out = tmp_path / "csv"
    ctx_opts = {"batch": td("config/recmd_batch/Kroll_Batch.reb")}
    from wintriage.parsecmd import run_parse

    res = run_parse("registry", [d], csv_dir=out, db=None, options=ctx_opts)
    assert res["failed"] == 0
    # the only warnings: SECURITY and amcache.hve are dirty and come without their logs
    assert res["warnings"] == 2
    with open(out / "RECmd_Batch_Output.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == RECMD_HEADER and all(len(r) == 15 for r in rows)
    types = {r[1] for r in rows[1:]}
    assert types >= {"NtUser", "Sam", "Security", "UsrClass"}
    assert {r[11] for r in rows[1:]} <= {"True", "False"} and {r[12] for r in rows[1:]} <= {"True", "False"}
    assert registry.CSV["registry_batch"].filename == "RECmd_Batch_Output.csv"


def test_batch_timeline(unpacked: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from wintriage.timeutil import fmt

    monkeypatch.setattr(registry, "PLUGINS", [])
    p = unpacked(R + "SYSTEM.xz")
    recs = list(registry.parse(p, ParseContext("registry", str(p))))
    evs = [e for r in recs if r.table == "registry_batch" for e in registry.timeline(r)]
    shut = [e for e in evs if e.ts_desc == "Shutdown Time"]
    assert [fmt(e.ts) for e in shut] == ["2012-04-04 01:58:40.8392499"] * 2  # ControlSet001 and 002
    keys = [e.path.lower() for e in evs if e.ts_desc == "Key Last Write"]
    assert len(keys) == len(set(keys)) > 100  # one event per key, not one per batch row
