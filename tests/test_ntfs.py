"""NTFS access (evidence/ntfs.py) on real images: listings, times, streams, metafiles, deleted entries, corruption."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from wintriage.cli import main
from wintriage.evidence.image import open_image
from wintriage.evidence.ntfs import FileInfo, NtfsError, NtfsFS, open_fs
from wintriage.timeutil import EPOCH_AS_FILETIME

TD = Callable[[str], Path]

VELO = "ewf/test.ntfs.dd.E01"
PTRN = "ewf/derived/ntfs-ptrn.E01"
PUBLIC = "scenario/public-1.E01"


@pytest.fixture(scope="module")
def ntfs20h1(unpacked: TD) -> Path:
    return unpacked("ntfs/ntfs20h1.tgz") / "ntfs.raw"


def _unix(ticks: int | None) -> int:
    return 0 if not ticks else (ticks - EPOCH_AS_FILETIME) // 10_000_000


# --- ewf/test.ntfs.dd.E01 (velociraptor fact) ---------------------------------------------------------
def test_velociraptor_root_txt_files(td: TD) -> None:
    with open_fs(td(VELO)) as fs:
        assert fs.label == "Test Volume"
        assert fs.serial == "5696A7BD96A79C4D"
        assert fs.offset == 0
        rows = fs.listdir("/")
        txt = sorted((r.name, r.size) for r in rows if r.name.endswith(".txt"))
        assert txt == [("another_file.txt", 14), ("just_a_file.txt", 12)]
        names = {r.name for r in rows}
        assert {"ones.bin", "Folder A", "$RECYCLE.BIN", "System Volume Information"} <= names
        assert "$UsnJrnl" not in {r.name for r in fs.listdir("/$Extend")}


def test_velociraptor_ads(td: TD) -> None:
    with open_fs(td(VELO)) as fs:
        rows = fs.listdir("/Folder A/Folder B")
        paths = [r.path for r in rows]
        assert paths == ["/Folder A/Folder B/Hello world text document.txt",
                         "/Folder A/Folder B/Hello world text document.txt:goodbye.txt"]
        ads = rows[1]
        assert ads.stream == "goodbye.txt" and ads.name == "Hello world text document.txt:goodbye.txt"
        assert ads.entry == rows[0].entry and not ads.is_dir
        data = b"".join(fs.read_chunks("/folder a/FOLDER B/hello world text document.txt:GOODBYE.TXT"))
        assert len(data) == ads.size == 20
        assert b"".join(fs.read_chunks("/another_file.txt")) == b"".join(fs.read_chunks("\\ANOTHER_FILE.TXT"))
        with pytest.raises(NtfsError):
            fs.stat("/nope.txt")
        with pytest.raises(NtfsError):
            fs.stat("/another_file.txt:nostream")


def test_cli_ls_json(td: TD) -> None:
    r = CliRunner().invoke(main, ["ls", str(td(VELO)), "/", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    keys = {"path", "name", "entry", "sequence", "parent_entry", "parent_sequence", "is_dir", "size", "allocated",
            "deleted", "stream", "si_created", "si_modified", "si_mft_modified", "si_accessed", "fn_created",
            "fn_modified", "fn_mft_modified", "fn_accessed", "attributes"}
    assert all(set(x) == keys for x in rows)
    by = {x["path"]: x for x in rows}
    assert by["/just_a_file.txt"]["size"] == 12 and by["/another_file.txt"]["size"] == 14
    assert by["/Folder A"]["is_dir"] is True and by["/$MFT"]["entry"] == 0
    r = CliRunner().invoke(main, ["ls", str(td(VELO)), "/Folder A", "-r", "--json"])
    assert [x["path"] for x in json.loads(r.output)][-1] == \
        "/Folder A/Folder B/Hello world text document.txt:goodbye.txt"
    r = CliRunner().invoke(main, ["ls", str(td(VELO)), "/Folder A", "-r"])  # the table renderer
    assert r.exit_code == 0, r.output


def test_cli_errors(td: TD, tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["ls", str(tmp_path)])
    assert r.exit_code == 2 and "folder, not a disk image" in r.output
    r = CliRunner().invoke(main, ["ls", str(td(VELO)), "/no/such"])
    assert r.exit_code == 2 and "no such file" in r.output
    r = CliRunner().invoke(main, ["ls", str(td(VELO)), "-p", "7"])
    assert r.exit_code == 2 and "no NTFS volume with index 7" in r.output
    r = CliRunner().invoke(main, ["ls", str(td("ewf/image.E01"))])
    assert r.exit_code == 2 and "no NTFS volume" in r.output
    r = CliRunner().invoke(main, ["cat", str(td(VELO)), "/Folder A"])
    assert r.exit_code == 2 and "is a directory" in r.output


# --- ntfs20h1 (Windows 10 20H1): bodyfile oracle, metafiles, $I30 slack ---------------------------------
def _bodyfile(td: TD) -> list[list[str]]:
    rows = []
    for line in td("ntfs/derived/ntfs20h1.tsk_fls_bodyfile.txt").read_text(encoding="utf-8").splitlines():
        f = line.split("|")
        if len(f) == 11 and "(deleted" not in f[1] and "$OrphanFiles" not in f[1]:
            rows.append(f)
    return rows


def test_ntfs20h1_bodyfile(td: TD, ntfs20h1: Path) -> None:
    with open_fs(ntfs20h1) as fs:
        assert fs.offset == 1048576 and fs.label == "Test volume" and fs.serial == "DC2694B5269491DE"
        by: dict[str, FileInfo] = {r.path: r for r in fs.walk("/")}
    checked_si = checked_fn = checked_streams = 0
    for _md5, name, inode, mode, _u, _g, size, atime, mtime, ctime, crtime in _bodyfile(td):
        entry = int(inode.split("-")[0])
        atype = int(inode.split("-")[1])
        times = (int(atime), int(mtime), int(ctime), int(crtime))
        if name.endswith(" ($FILE_NAME)"):
            r = by[name[: -len(" ($FILE_NAME)")]]
            assert r.entry == entry
            assert (_unix(r.fn_accessed), _unix(r.fn_modified), _unix(r.fn_mft_modified), _unix(r.fn_created)) == times
            checked_fn += 1
            continue
        base, _, stream = name.partition(":") if name.count(":") else (name, "", "")
        if stream and atype == 144:  # a named index ($O, $Q, $SDH...), not a data stream
            assert by[base].entry == entry
            continue
        r = by[name]
        assert r.entry == entry, name
        assert r.is_dir == mode.startswith("d/"), name
        assert (_unix(r.si_accessed), _unix(r.si_modified), _unix(r.si_mft_modified), _unix(r.si_created)) == times
        if atype == 128:
            assert r.size == int(size), name
        checked_si += 1
        checked_streams += bool(stream)
    assert (checked_si, checked_fn, checked_streams) == (57, 53, 9)
    # and nothing more is listed than TSK's rows, except files that have no unnamed $DATA at all
    body = {f[1] for f in _bodyfile(td)}
    assert sorted(p for p in by if p not in body) == \
        ["/$Extend/$ObjId", "/$Extend/$Quota", "/$Extend/$Reparse", "/$Extend/$UsnJrnl", "/$Secure"]  # every allocated bodyfile row (117 = 57 + 53 + 7 named indexes)


def test_ntfs20h1_no_slack_names(ntfs20h1: Path) -> None:
    with open_fs(ntfs20h1) as fs:
        names = [r.name for r in fs.listdir("/test_dir")]
        assert "file_hidden.txt" not in names
        assert "file_hidden.txt" not in {r.name for r in fs.walk("/", deleted=True)}
        assert {f"file_{i}.txt" for i in range(1, 12)} <= set(names)
        assert [r.name for r in fs.listdir("/test_dir_2")] == ["file_2_1.txt"]
        long = [n for n in names if n.startswith("file_long_name_")]
        assert len(long) == 1 and len(long[0]) == 238


def test_ntfs20h1_metafiles_cat(td: TD, ntfs20h1: Path) -> None:
    j = td("usnjrnl/derived/ntfs20h1_UsnJrnl_J.bin").read_bytes()
    mft = td("mft/derived/ntfs20h1_MFT.bin").read_bytes()
    runner = CliRunner()
    r = runner.invoke(main, ["cat", str(ntfs20h1), "/$Extend/$UsnJrnl:$J"])
    assert r.exit_code == 0 and r.stdout_bytes == j and len(j) == 20312
    r = runner.invoke(main, ["cat", str(ntfs20h1), "/$MFT"])
    assert r.exit_code == 0 and r.stdout_bytes == mft
    with open_fs(ntfs20h1) as fs:
        assert b"".join(fs.read_chunks("/$Extend/$UsnJrnl:$J", skip_sparse=False)) == j
        assert fs.sparse_head("/$Extend/$UsnJrnl:$J") == 0
        h = hashlib.md5()
        n = 0
        for c in fs.read_chunks("/$LogFile"):
            assert len(c) <= 1 << 20
            h.update(c)
            n += len(c)
        assert n == 67108864
        assert len(b"".join(fs.read_chunks("/$Extend/$UsnJrnl:$Max"))) == 32


# --- segmented E01 ------------------------------------------------------------------------------------
def test_ptrn_segmented(td: TD) -> None:
    td("ewf/derived/ntfs-ptrn.E03")
    with open_fs(td(PTRN)) as fs:
        assert fs.offset == 65536 and fs.label == "Slack"
        assert b"".join(fs.read_chunks("/1.txt")) == b"TEST"
        assert b"".join(fs.read_chunks("/os_version.txt")).strip() == b"Microsoft Windows [Version 10.0.18348.1]"
        assert {"1.txt", "2.txt", "os_version.txt"} <= {r.name for r in fs.listdir("/")}


# --- scenario: every live file and stream against the ntfs-3g oracle, deleted entries -------------------
def test_public1_every_md5(td: TD) -> None:
    oracle = json.loads(td("scenario/public-1.files.json").read_text(encoding="utf-8"))["entries"]
    assert len(oracle) == 1590
    with open_fs(td(PUBLIC)) as fs:
        assert fs.offset == 105906176 and fs.info["primary"] is True
        rows = {r.path.replace("/", "\\"): r for r in fs.walk("/") if not r.is_dir or r.stream}
        matched = 0
        for path, want in oracle.items():
            r = rows[path]
            assert r.size == want["size"], path
            h = hashlib.md5()
            for c in fs.read_chunks(r):
                h.update(c)
            assert h.hexdigest() == want["md5"], path
            matched += 1
    assert matched == 1590


def test_public1_usn_sparse_head(td: TD) -> None:
    with open_fs(td(PUBLIC)) as fs:
        j = fs.stat("/$Extend/$UsnJrnl:$J")
        assert j.size == 18603320
        assert fs.sparse_head("/$Extend/$UsnJrnl:$J") == 17399808
        tail = b"".join(fs.read_chunks("/$Extend/$UsnJrnl:$J"))
        assert len(tail) == 18603320 - 17399808
        assert tail[4:8] == struct.pack("<HH", 2, 0)  # a USN_RECORD_V2 right at the start of the tail
        assert struct.unpack_from("<q", tail, 0x18)[0] == 17399808  # USN = logical offset
        # the full logical view keeps the offsets: zeros, then the same tail
        full = fs.read_chunks("/$Extend/$UsnJrnl:$J", skip_sparse=False)
        first = next(full)
        assert first == b"\0" * len(first)


def test_public1_deleted_and_volumes(td: TD) -> None:
    with open_fs(td(PUBLIC)) as fs:
        live = {r.name for r in fs.listdir("/Users/minji/AppData/Local/Temp")}
        rows = fs.listdir("/Users/minji/AppData/Local/Temp", deleted=True)
        dele = {(r.name, r.entry, r.sequence, r.size) for r in rows if r.deleted}
        assert ("tmp400C.tmp", 1850, 2, 262) in dele and ("~DFB738.tmp", 1849, 3, 529) in dele
        assert not ({n for n, *_ in dele} & live)
        d = fs.stat("/Users/minji/AppData/Local/Temp/tmp400C.tmp", deleted=True)
        assert d.deleted and not d.allocated and d.fn_created
        assert len(b"".join(fs.read_chunks(d))) == 262
        with pytest.raises(NtfsError):
            fs.stat("/Users/minji/AppData/Local/Temp/tmp400C.tmp")
    with open_fs(td(PUBLIC), 1) as fs:
        assert fs.label == "System Reserved" and fs.offset == 1048576 and fs.info["primary"] is False


# --- corruption -----------------------------------------------------------------------------------------
def _raw_copy(td: TD, tmp: Path) -> Path:
    out = tmp / "velo.raw"
    with open_image(td(VELO)) as img, open(out, "wb") as fo:
        fo.write(img.read(0, img.size))
    return out


def test_corrupt_mft_records(td: TD, tmp_path: Path) -> None:
    raw = _raw_copy(td, tmp_path)
    data = bytearray(raw.read_bytes())
    spc, cl = data[13], struct.unpack_from("<H", data, 11)[0]
    mft_off = struct.unpack_from("<q", data, 0x30)[0] * spc * cl
    with open_fs(raw) as fs:
        victims = {r.entry: r.name for r in fs.walk("/") if r.entry >= 16 and r.stream is None}
    runner = CliRunner()
    for entry in sorted(victims)[:4]:
        for delta in (0x30, 0x1FE, 0x2F0):  # header, fixup slot, attribute bytes
            bad = bytearray(data)
            bad[mft_off + entry * 1024 + delta] ^= 0xFF
            p = tmp_path / "bad.raw"
            p.write_bytes(bad)
            r = runner.invoke(main, ["ls", str(p), "/", "-r", "-d", "--json"])
            assert r.exit_code == 0, (entry, delta, r.output)
            names = {x["name"] for x in json.loads(r.output)}
            assert "just_a_file.txt" in names or victims[entry] == "just_a_file.txt"
    # the root directory's record damaged: a one-line error, no traceback
    bad = bytearray(data)
    bad[mft_off + 5 * 1024 : mft_off + 5 * 1024 + 4] = b"BAAD"
    p = tmp_path / "badroot.raw"
    p.write_bytes(bad)
    r = runner.invoke(main, ["ls", str(p), "/"])
    assert r.exit_code in (0, 2) and "Traceback" not in r.output


def test_truncated_image(td: TD, tmp_path: Path) -> None:
    raw = _raw_copy(td, tmp_path)
    for cut in (0, 512, 4096, 1 << 20, 5 << 20):
        p = tmp_path / f"cut{cut}.raw"
        with open(raw, "rb") as fi, open(p, "wb") as fo:
            fo.write(fi.read(cut))
        r = CliRunner().invoke(main, ["ls", str(p), "/", "-r"])
        assert r.exit_code in (0, 2), (cut, r.output)
        assert "Traceback" not in r.output


def test_ntfsfs_on_image_object(td: TD) -> None:
    with open_image(td(VELO)) as img, NtfsFS(img, 0) as fs:
        assert [r.name for r in fs.listdir("/Folder A")] == ["Folder B"]


def test_folder_is_not_an_image(tmp_path: Path) -> None:
    shutil.copy(__file__, tmp_path / "x.py")
    with pytest.raises(NtfsError, match="folder"):
        open_fs(tmp_path)


def _free_record(data: bytearray, rec: int, parent_ref: int) -> None:
    """Clear a record's in-use flag and point its $FILE_NAME parent reference elsewhere."""
    flags = struct.unpack_from("<H", data, rec + 0x16)[0]
    struct.pack_into("<H", data, rec + 0x16, flags & ~1)
    off = struct.unpack_from("<H", data, rec + 0x14)[0]
    while off < 1024 - 8:
        t, n = struct.unpack_from("<II", data, rec + off)
        if t == 0xFFFFFFFF or n == 0:
            break
        if t == 0x30:
            struct.pack_into("<Q", data, rec + off + struct.unpack_from("<H", data, rec + off + 0x14)[0], parent_ref)
        off += n


def test_orphan_from_patched_image(td: TD, tmp_path: Path) -> None:
    """A freed record whose parent directory is gone is listed under <Orphan> with --deleted."""
    data = bytearray(_raw_copy(td, tmp_path).read_bytes())
    mft_off = struct.unpack_from("<q", data, 0x30)[0] * data[13] * struct.unpack_from("<H", data, 11)[0]
    with open_fs(tmp_path / "velo.raw") as fs:
        entry = fs.stat("/ones.bin").entry
    _free_record(data, mft_off + entry * 1024, (7 << 48) | 200)  # parent: entry 200, sequence 7 (not there)
    p = tmp_path / "orphan.raw"
    p.write_bytes(data)
    r = CliRunner().invoke(main, ["ls", str(p), "/", "-r", "--deleted", "--json"])
    assert r.exit_code == 0, r.output
    rows = [x for x in json.loads(r.output) if x["deleted"]]
    assert [(x["path"], x["entry"], x["size"], x["is_dir"]) for x in rows] == \
        [("/<Orphan>", -1, 0, True), ("/<Orphan>/ones.bin", entry, 2949120, False)]
    assert rows[1]["parent_entry"] == 200 and rows[1]["parent_sequence"] == 7
    with open_fs(p) as fs:
        assert "<Orphan>" not in {x.name for x in fs.listdir("/")}
        assert len(b"".join(fs.read_chunks("/<Orphan>/ones.bin", deleted=True))) == 2949120


def test_ntfs_index_listing(unpacked: TD) -> None:
    """dfir_ntfs facts: /test_dir lists exactly its 9 index entries (slack names such as BBBBBBBBBBBBB-del.txt
    are not live), and the root holds the 17 ``AAAA...A`` files."""
    with open_fs(unpacked("ntfs/ntfs_index.raw.gz")) as fs:
        assert fs.label == "Test index" and fs.offset == 128 * 512
        assert [r.name for r in fs.listdir("/test_dir")] == [
            "111111111111111.txt", "222222222222222.txt", "333333333333333.txt", "444444444444444.txt",
            "555555555555555.txt", "666666666666666.txt", "777777777777777.txt", "999999999999999.txt",
            "AAAAAAAAAAA.txt"]
        root = [r.name for r in fs.listdir("/")]
        aaa = [n for n in root if n.startswith("A" * 120)]
        assert len(aaa) == 17 and "A" * 120 + ".txt" in aaa and "A" * 120 + " - Copy (16).txt" in aaa
        assert {"$AttrDef", "$Volume", "test_dir", "System Volume Information"} <= set(root)
        assert "BBBBBBBBBBBBB-del.txt" not in {r.name for r in fs.walk("/", deleted=True)}


def test_random_damage_sweep(td: TD, tmp_path: Path) -> None:
    """Seeded random byte damage in the boot sector and the first MFT records: every run either works
    (walk with deleted entries, read every stream) or stops with a one-line NtfsError; nothing else escapes."""
    import random

    data = _raw_copy(td, tmp_path).read_bytes()
    mft_off = struct.unpack_from("<q", data, 0x30)[0] * data[13] * struct.unpack_from("<H", data, 11)[0]
    rnd = random.Random(7)
    outcome = {"ok": 0, "error": 0}
    for _ in range(16):
        b = bytearray(data)
        for _ in range(rnd.choice([1, 4, 16])):
            off = rnd.randrange(512) if rnd.random() < 0.2 else mft_off + rnd.randrange(64 * 1024)
            b[off] = rnd.randrange(256)
        p = tmp_path / "fz.raw"
        p.write_bytes(b)
        try:
            with open_fs(p) as fs:
                for r in list(fs.walk("/", deleted=True)):
                    if not r.is_dir or r.stream:
                        try:
                            for _c in fs.read_chunks(r):
                                pass
                        except NtfsError:
                            pass
            outcome["ok"] += 1
        except NtfsError:
            outcome["error"] += 1
    assert outcome["ok"] + outcome["error"] == 16 and outcome["ok"] >= 8
