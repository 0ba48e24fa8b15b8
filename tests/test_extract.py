"""Extraction and triage collection (evidence/collect.py): safe names, manifest, hashes, KAPE tree, REGA copies."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from wintriage.cli import main
from wintriage.evidence.collect import (
    MANIFEST,
    collect_evidence,
    extract_paths,
    extract_triage,
    safe_join,
    safe_name,
    unsafe_name,
)
from wintriage.evidence.image import open_image
from wintriage.evidence.ntfs import open_fs
from wintriage.timeutil import EPOCH_AS_FILETIME, fmt

TD = Callable[[str], Path]
VELO = "ewf/test.ntfs.dd.E01"
PUBLIC = "scenario/public-1.E01"

HOSTILE = [
    "..", ".", "../../etc/passwd", "..\\..\\windows\\system32", "/abs", "\\abs", "C:\\x", "a:b", "a:$DATA",
    "nul\0byte", "CON", "con", "Con.txt", "PRN", "AUX", "NUL.tar.gz", "COM1", "com9.log", "LPT1", "lpt9",
    "CONIN$", "trailing.", "trailing ", "dots...", "  ", "a|b<c>d\"e?f*g", "tab\tnew\nline", "%41", "%u0041",
    "%", "100%", "x" * 300, "é" * 200, "\udc80bad-surrogate", "..%2F..%2F", "",
]


def _read_manifest(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _md5(p: Path) -> str:
    return hashlib.md5(p.read_bytes()).hexdigest()


# --- names -------------------------------------------------------------------------------------------------
def test_safe_name_examples() -> None:
    assert safe_name("a.txt:Zone.Identifier") == "a.txt%3AZone.Identifier"
    assert safe_name("..") == "%2E%2E" and safe_name(".") == "%2E"
    assert safe_name("CON") == "%43ON" and safe_name("con.txt") == "%63on.txt" and safe_name("COM10") == "COM10"
    assert safe_name("a. ") == "a%2E%20"
    assert safe_name("../x") == "..%2Fx" and safe_name("a\\b") == "a%5Cb"
    assert safe_name("Microsoft-Windows-Windows Defender%4Operational.evtx") == \
        "Microsoft-Windows-Windows Defender%4Operational.evtx"
    assert safe_name("%41") == "%2541" and unsafe_name("%2541") == "%41"
    assert safe_name("evil.exe") == "evil.exe"  # executables keep their names and bytes


def test_safe_join_hostile_names(tmp_path: Path) -> None:
    root = tmp_path / "out"
    root.mkdir()
    outs = set()
    for name in HOSTILE:
        s = safe_name(name)
        assert "/" not in s and "\\" not in s and ":" not in s and "\0" not in s
        assert s not in ("", ".", "..") and not s.endswith((".", " "))
        assert len(s.encode("utf-8")) <= 240
        if len(name.encode("utf-8", "surrogatepass")) <= 200 and name:
            assert unsafe_name(s) == name
        p = safe_join(root, ["dir", name, name])
        assert os.path.commonpath([str(root), str(p)]) == str(root)
        assert p.parent.parent == root / "dir"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
        outs.add(p)
    assert len(outs) == len(HOSTILE)  # collision-free
    # nothing was written outside the root
    assert sorted(x.name for x in tmp_path.iterdir()) == ["out"]
    assert sum(1 for _ in root.rglob("*") if _.is_file()) == len(HOSTILE)


# --- extract PATH ------------------------------------------------------------------------------------------
def test_extract_velo(td: TD, tmp_path: Path) -> None:
    out = tmp_path / "x"
    with open_fs(td(VELO)) as fs:
        res = extract_paths(fs, ["/Folder A", "/another_file.txt", "/just_a_file.txt", "/nope"], out)
        si = fs.stat("/another_file.txt")
    assert res["files"] == 4 and res["bytes"] == 14 + 12 + 12 + 20
    assert any("/nope" in w for w in res["warnings"])
    ads = out / "Folder A" / "Folder B" / "Hello world text document.txt%3Agoodbye.txt"
    assert ads.stat().st_size == 20
    f = out / "another_file.txt"
    assert f.stat().st_size == 14 and not f.stat().st_mode & stat.S_IWUSR
    assert f.stat().st_mtime_ns == (si.si_modified - EPOCH_AS_FILETIME) * 100  # type: ignore[operator]
    rows = {r["OriginalPath"]: r for r in _read_manifest(out / MANIFEST)}
    assert set(rows) == {"/another_file.txt", "/just_a_file.txt", "/Folder A/Folder B/Hello world text document.txt",
                         "/Folder A/Folder B/Hello world text document.txt:goodbye.txt"}
    r = rows["/another_file.txt"]
    assert r["MD5"] == _md5(f) and r["SHA256"] == hashlib.sha256(f.read_bytes()).hexdigest()
    assert r["FileSize"] == "14" and r["ExtractedPath"] == "another_file.txt" and r["InUse"] == "True"
    assert r["LastModified0x10"] == fmt(si.si_modified) and len(r["Created0x30"]) == 27
    assert rows["/Folder A/Folder B/Hello world text document.txt:goodbye.txt"]["Stream"] == "goodbye.txt"
    # a second run into the same folder replaces the read-only copies
    with open_fs(td(VELO)) as fs:
        assert extract_paths(fs, ["/another_file.txt"], out)["files"] == 1


def test_case_only_collision(td: TD, tmp_path: Path) -> None:
    """Two names that differ only in case (possible in the NTFS POSIX namespace) never overwrite each other."""
    import dataclasses

    from wintriage.evidence.collect import Extractor, Manifest

    with open_fs(td(VELO)) as fs:
        a = fs.stat("/just_a_file.txt")
        b = dataclasses.replace(fs.stat("/another_file.txt"), name="JUST_A_FILE.txt", path="/JUST_A_FILE.txt",
                                parts=("JUST_A_FILE.txt",))
        man = Manifest(tmp_path / MANIFEST)
        ex = Extractor(fs, tmp_path, man)
        wa, wb = ex.write(a, list(a.parts)), ex.write(b, list(b.parts))
        assert ex.write(a, list(a.parts)) is wa  # the same file twice is written once
        man.close()
    assert wa is not None and wb is not None
    assert Path(wa.dest).name == "just_a_file.txt" and Path(wb.dest).name == "JUST_A_FILE~2.txt"
    assert (Path(wa.dest).stat().st_size, Path(wb.dest).stat().st_size) == (12, 14)
    assert ex.files == 2 and any("differs only in case" in w for w in ex.warnings)


def test_cli_extract_paths(td: TD, tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["extract", str(td(VELO)), "/ones.bin", "-o", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["files"] == 1 and Path(res["manifest"]).name == MANIFEST
    assert (tmp_path / "ones.bin").exists()
    r = CliRunner().invoke(main, ["extract", str(td(VELO)), "-o", str(tmp_path)])
    assert r.exit_code != 0  # neither PATH nor --triage


def _hostile_image(td: TD, tmp: Path) -> Path:
    """test.ntfs.dd with two names rewritten (MFT $FILE_NAME and $I30 entries) to path-traversal names."""
    with open_image(td(VELO)) as img:
        data = img.read(0, img.size)
    subs = {"just_a_file.txt": "../../../../CON", "another_file.txt": "\\..\\..\\..\\AUX.. "}
    for old, new in subs.items():
        assert len(old) == len(new)
        a, b = old.encode("utf-16-le"), new.encode("utf-16-le")
        assert data.count(a) >= 2
        data = data.replace(a, b)
    p = tmp / "hostile.raw"
    p.write_bytes(data)
    return p


def test_extract_hostile_image(td: TD, tmp_path: Path) -> None:
    img = _hostile_image(td, tmp_path)
    out = tmp_path / "sub" / "out"
    r = CliRunner().invoke(main, ["ls", str(img), "/", "--json"])
    assert r.exit_code == 0, r.output
    names = {x["name"] for x in json.loads(r.output)}
    assert {"../../../../CON", "\\..\\..\\..\\AUX.. "} <= names
    r = CliRunner().invoke(main, ["extract", str(img), "/", "-o", str(out), "--json"])
    assert r.exit_code == 0, r.output
    written = {p.name for p in out.iterdir()}
    assert {"..%2F..%2F..%2F..%2FCON", "%5C..%5C..%5C..%5CAUX%2E%2E%20"} <= written
    for p in out.rglob("*"):
        assert os.path.commonpath([str(out), str(p.resolve())]) == str(out)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["hostile.raw", "sub"]
    assert [x.name for x in (tmp_path / "sub").iterdir()] == ["out"]
    rows = {r["OriginalPath"]: r for r in _read_manifest(out / MANIFEST)}
    assert rows["/../../../../CON"]["ExtractedPath"] == "..%2F..%2F..%2F..%2FCON"
    assert rows["/../../../../CON"]["FileSize"] == "12"
    assert "/$BadClus:$Bad" not in rows and "/$MFT" in rows


def test_extract_whole_public1_matches_oracle(td: TD, tmp_path: Path) -> None:
    oracle = json.loads(td("scenario/public-1.files.json").read_text(encoding="utf-8"))["entries"]
    with open_fs(td(PUBLIC)) as fs:
        res = extract_paths(fs, ["/"], tmp_path)
    assert res["skipped"] == ["/$BadClus:$Bad: bad-cluster map (sparse, as large as the volume)"]
    rows = {r["OriginalPath"].replace("/", "\\"): r for r in _read_manifest(tmp_path / MANIFEST)}
    matched = 0
    for path, want in oracle.items():
        r = rows[path]
        assert (r["MD5"], int(r["BytesWritten"])) == (want["md5"], want["size"]), path
        matched += 1
    assert matched == 1590
    assert all(r["Status"] == "ok" for r in rows.values())
    j = rows["\\$Extend\\$UsnJrnl:$J"]
    assert (j["FileSize"], j["BytesWritten"], j["SparseSkipped"]) == ("18603320", "1203512", "17399808")
    assert (tmp_path / "$Extend" / "$UsnJrnl%3A$J").stat().st_size == 1203512


def test_extract_deleted(td: TD, tmp_path: Path) -> None:
    with open_fs(td(PUBLIC)) as fs:
        res = extract_paths(fs, ["/Users/minji/AppData/Local/Temp"], tmp_path, deleted=True)
        live = extract_paths(fs, ["/Users/minji/AppData/Local/Temp"], tmp_path / "live")
    rows = {r["OriginalPath"]: r for r in _read_manifest(tmp_path / MANIFEST)}
    d = rows["/Users/minji/AppData/Local/Temp/tmp400C.tmp"]
    assert (d["InUse"], d["EntryNumber"], d["SequenceNumber"], d["BytesWritten"]) == ("False", "1850", "2", "262")
    assert (tmp_path / "Users/minji/AppData/Local/Temp/~DFB738.tmp").stat().st_size == 529
    assert res["files"] == live["files"] + 2


# --- triage ----------------------------------------------------------------------------------------------------
def test_cli_triage_ntfs20h1(td: TD, unpacked: TD, tmp_path: Path) -> None:
    raw = unpacked("ntfs/ntfs20h1.tgz") / "ntfs.raw"
    r = CliRunner().invoke(main, ["extract", str(raw), "--triage", "-o", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    c = tmp_path / "C"
    assert res["root"] == str(c)
    assert (c / "$MFT").read_bytes() == td("mft/derived/ntfs20h1_MFT.bin").read_bytes()
    assert (c / "$Extend" / "$J").read_bytes() == td("usnjrnl/derived/ntfs20h1_UsnJrnl_J.bin").read_bytes()
    assert (c / "$Extend" / "$Max").stat().st_size == 32
    assert (c / "$LogFile").stat().st_size == 67108864
    assert (c / "$Secure_$SDS").stat().st_size == 264568
    assert (c / "$Boot").stat().st_size == 8192
    files = sorted(p.relative_to(c).as_posix() for p in c.rglob("*") if p.is_file())
    assert files == ["$Boot", "$Extend/$J", "$Extend/$Max", "$LogFile", "$MFT", "$Secure_$SDS"]
    assert res["files"] == 6 and res["bytes"] == 8192 + 20312 + 32 + 67108864 + 262144 + 264568


def test_collect_public1(td: TD, tmp_path: Path) -> None:
    oracle = json.loads(td("scenario/public-1.files.json").read_text(encoding="utf-8"))["entries"]
    vols = collect_evidence(td(PUBLIC), tmp_path)
    assert [(v.info["name"], v.info["prefix"], v.info["index"], v.info["offset"], v.info["primary"]) for v in vols] == \
        [("C", "", 2, 105906176, True), ("vol1", "vol1/", 1, 1048576, False)]
    assert vols[0].info["serial"] == "C2B9546E0F0220F3" and vols[1].info["label"] == "System Reserved"
    c = vols[0].root
    assert c == tmp_path / "C"
    assert (c / "$Extend" / "$J").stat().st_size == 18603320 - 17399808
    rega = sorted(p.name for p in (c / "REGA").iterdir())
    for user in ("minji", "jiwoo"):
        for hive in ("NTUSER.DAT", "USRCLASS.DAT"):
            assert {f"{user}.{hive}", f"{user}.{hive}.LOG1", f"{user}.{hive}.LOG2"} <= set(rega)
    assert _md5(c / "REGA" / "minji.NTUSER.DAT") == oracle["\\Users\\minji\\NTUSER.DAT"]["md5"]
    assert _md5(c / "REGA" / "minji.USRCLASS.DAT") == \
        oracle["\\Users\\minji\\AppData\\Local\\Microsoft\\Windows\\UsrClass.dat"]["md5"]
    checked = 0
    for p in c.rglob("*"):
        rel = "\\" + p.relative_to(c).as_posix().replace("/", "\\")
        if p.is_file() and rel in oracle:
            assert _md5(p) == oracle[rel]["md5"], rel
            checked += 1
    assert checked >= 40
    expect = ["Windows/System32/config/SYSTEM", "Windows/System32/config/SYSTEM.LOG1",
              "Windows/System32/config/SOFTWARE", "Windows/System32/config/SAM", "Windows/System32/config/SECURITY",
              "Windows/System32/winevt/Logs/Security.evtx", "Users/minji/AppData/Local/Google/Chrome/User Data/Default/History",
              "$MFT", "$LogFile", "$Extend/$Max"]
    for e in expect:
        assert (c / e).is_file(), e
    assert len(list((c / "Windows" / "Prefetch").glob("*.pf"))) == 12
    assert (vols[1].root / "$MFT").is_file()
    rows = _read_manifest(tmp_path / MANIFEST)
    assert {r["Volume"] for r in rows} == {"C", "vol1"}
    assert all(r["Status"] == "ok" for r in rows)
    # the tree feeds the pipeline's source table; the REGA copies are not parsed a second time
    from collections import Counter

    from wintriage.pipeline import discover

    found = list(discover(c))
    assert Counter(a for a, _r, _p in found) == Counter(
        {"mft": 1, "usnjrnl": 1, "logfile": 1, "registry": 10, "evtx": 6, "prefetch": 12, "browser": 1})
    assert ("usnjrnl", "$Extend/$J") in {(a, r) for a, r, _p in found}
    assert not any(r.startswith("REGA/") for _a, r, _p in found)


def test_collect_folder_in_place(tmp_path: Path) -> None:
    (tmp_path / "ev").mkdir()
    vols = collect_evidence(tmp_path / "ev", tmp_path / "files")
    assert len(vols) == 1 and vols[0].root == tmp_path / "ev" and vols[0].info["primary"] is True
    assert not (tmp_path / "files").exists()


def test_triage_tag_for_secondary_volume(td: TD, tmp_path: Path) -> None:
    with open_fs(td(PUBLIC), 1) as fs:
        res = extract_triage(fs, tmp_path)
    assert res["root"] == str(tmp_path / "vol1") and res["files"] == 4


VELO_MFT = 3494912  # byte offset of $MFT in test.ntfs.dd (boot sector: LCN x 8 x 512)


@pytest.mark.parametrize("flip", [0x30, VELO_MFT + 5 * 1024 + 0x38, VELO_MFT + 5 * 1024 + 0x1FE,
                                  VELO_MFT + 11 * 1024 + 0x100, VELO_MFT + 0x180])
def test_triage_on_damaged_volume(td: TD, tmp_path: Path, flip: int) -> None:
    with open_image(td(VELO)) as img:
        data = bytearray(img.read(0, img.size))
    data[flip] ^= 0xFF
    p = tmp_path / "d.raw"
    p.write_bytes(data)
    r = CliRunner().invoke(main, ["extract", str(p), "--triage", "-o", str(tmp_path / "o"), "--json"])
    assert r.exit_code in (0, 2) and "Traceback" not in r.output


def test_forked_collection_after_one_in_this_process(td: TD, tmp_path: Path) -> None:
    """``analyze`` collects an image in a forked process. A process that already collected here has a hashing
    thread pool, whose thread the fork does not copy: the child makes its own pool instead of waiting forever on
    the inherited one, and collects the same files."""
    import threading

    from wintriage import pipeline

    here = collect_evidence(td(PUBLIC), tmp_path / "here")  # this process now has its hashing pool
    got: list[object] = []
    t = threading.Thread(target=lambda: got.append(pipeline._collect(td(PUBLIC), tmp_path / "forked",
                                                                      pipeline._quiet, {})), daemon=True)
    t.start()
    t.join(120)
    assert not t.is_alive(), "the forked collection hangs"
    (forked,) = got
    assert [v.info["files"] for v in forked] == [v.info["files"] for v in here]  # type: ignore[attr-defined]
    manifest = "extract_manifest.csv"  # every file with its MD5 and SHA-256 (and relative paths)
    assert (tmp_path / "forked" / manifest).read_bytes() == (tmp_path / "here" / manifest).read_bytes()
