"""$MFT parser: exact MANIFEST facts (dfir_ntfs / omerbenamram mft samples, fls oracles), CSV, corruption."""

from __future__ import annotations

import csv
import hashlib
import random
from collections.abc import Callable
from datetime import UTC, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from wintriage.artifacts import mft
from wintriage.artifacts.base import ParseContext
from wintriage.artifacts.zoneid import parse_zone_identifier
from wintriage.timeutil import fmt

TD = Callable[[str], Path]


def run(path: Path, **options: Any) -> tuple[list[dict[str, Any]], ParseContext]:
    ctx = ParseContext("mft", str(path), options=options)
    rows = [r.data for r in mft.parse(path, ctx) if r.table == "mft"]
    return rows, ctx


def test_orphans(td: TD) -> None:
    rows, ctx = run(td("mft/orphan.mft"))
    assert ctx.warning_count == 0
    orphans = sorted({r["full_path"] for r in rows if r["full_path"].startswith("<Orphan>")})
    assert orphans == ["<Orphan>/2.txt", "<Orphan>/3.txt", "<Orphan>/4.txt", "<Orphan>/5.txt"]
    assert all(r["parent_path"] == "<Orphan>" for r in rows if r["full_path"] in orphans)


def test_deleted_path(td: TD) -> None:
    rows, _ = run(td("mft/deleted.mft"))
    hits = [r for r in rows if r["full_path"] == "/1/2/3/4/file.txt"]
    assert len(hits) == 1 and hits[0]["in_use"] is False and hits[0]["parent_path"] == "/1/2/3/4"


def test_unicode_paths(td: TD) -> None:
    rows, _ = run(td("mft/unicode.mft"))
    paths = sorted(r["full_path"] for r in rows if "ривет" in r["full_path"])
    assert paths == ["/Привет", "/Привет/привет.txt"]
    per_entry: dict[int, set[str]] = {}
    for r in rows:
        if not r["is_ads"]:
            per_entry.setdefault(r["entry"], set()).add(r["full_path"])
    assert all(len(v) <= 1 for v in per_entry.values())


def test_mftmirr_names(td: TD) -> None:
    rows, _ = run(td("mft/boot.mftmirr"))
    assert [r["name"] for r in rows] == ["$MFT", "$MFTMirr", "$LogFile", "$Volume"]
    assert [r["entry"] for r in rows] == [0, 1, 2, 3]


def test_4k_records_resident_data(td: TD) -> None:
    rows, _ = run(td("mft/4k-large.mft"))
    files = {r["full_path"]: r for r in rows if r["full_path"] in ("/1.txt", "/2.txt")}
    assert set(files) == {"/1.txt", "/2.txt"}
    assert files["/1.txt"]["resident"] is True and files["/1.txt"]["resident_data_len"] == files["/1.txt"]["file_size"]
    md5 = {}
    for e in mft.read_entries(td("mft/4k-large.mft")):
        assert e.alloc_size == 4096
        names = [f.name for f in e.file_names()]
        for n in ("1.txt", "2.txt"):
            if n in names:
                (data,) = [a for a in e.find(0x80) if not a.name]
                assert data.resident
                md5[n] = hashlib.md5(data.value).hexdigest()
                if n == "1.txt":
                    assert data.value == b"ABC" * (len(data.value) // 3)
    assert md5 == {"1.txt": "a75a25c964f50df4ea9398d8ccf6afbd", "2.txt": "d6fbed685c98416fb7388dad7503811c"}


def test_compressed_sparse(td: TD) -> None:
    found = {}
    for e in mft.read_entries(td("mft/compressed_sparse.mft")):
        for fn in e.file_names():
            if fn.name in ("compressed.txt", "sparse"):
                nonres = [a for a in e.attributes if not a.resident]
                assert len(nonres) == 1
                a = nonres[0]
                found[fn.name] = (a.type, a.name, a.real_size)
    assert found == {"compressed.txt": (0x80, "", 22308), "sparse": (0x80, "", 1048582)}
    rows, _ = run(td("mft/compressed_sparse.mft"))
    sizes = {r["name"]: r["file_size"] for r in rows}
    assert sizes["compressed.txt"] == 22308 and sizes["sparse"] == 1048582


def _fls(path: Path) -> dict[str, tuple[str, str, list[str]]]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        a = line.split("\t")
        typ, inode = a[0].split(" ", 1)
        out[a[1]] = (typ, inode.rstrip(":"), a[2:6])
    return out


_ZONES = {"MSK": timezone(timedelta(hours=3)), "UTC": UTC}


@pytest.mark.parametrize("name", ["orphan", "unicode", "4k-large"])
def test_allocated_match_fls(td: TD, name: str) -> None:
    """Every allocated path matches its fls line (type, inode, 4 SI times); only $OrphanFiles is left over."""
    fls = _fls(td(f"mft/{name}.fls"))
    rows, ctx = run(td(f"mft/{name}.mft"))
    assert ctx.warning_count == 0
    entries = {e.entry: e for e in mft.read_entries(td(f"mft/{name}.mft"))}
    left = dict(fls)
    checked = 0
    for r in rows:
        if not r["in_use"] or r["full_path"] == "/":
            continue
        p = r["full_path"].lstrip("/")
        if p not in fls:
            # records whose only streams are named indexes ($Secure, $Quota...): fls lists the streams
            e = entries[r["entry"]]
            assert not r["is_dir"] and not any(a.type == 0x80 and not a.name for a in e.attributes), p
            for a in e.find(0x90):
                left.pop(f"{p}:{a.name}")
            continue
        typ, inode, times = fls[p]
        zone = times[0].rsplit("(", 1)[1].rstrip(")")
        tz = _ZONES[zone]
        want = [f"{fmt(r[k], tz, 0)} ({zone})" for k in ("si_modified", "si_accessed", "si_record_changed", "si_created")]
        assert (typ == "d/d") == r["is_dir"], p
        assert inode.split("-")[0] == str(r["entry"]), p
        assert times == want, p
        left.pop(p, None)
        checked += 1
    assert list(left) == ["$OrphanFiles"]
    assert checked >= 30


def test_ntfs20h1_against_bodyfile(td: TD) -> None:
    """Every allocated $MFT file of ntfs20h1 is in TSK's bodyfile with the same SI times (seconds)."""
    body = {}
    for line in td("ntfs/derived/ntfs20h1.tsk_fls_bodyfile.txt").read_text(encoding="utf-8").splitlines():
        f = line.split("|")
        if f[1].endswith(" ($FILE_NAME)") or f[1].endswith(" (deleted)"):
            continue
        body[f[1]] = (f[2], [int(x) for x in f[7:11]])
    rows, ctx = run(td("mft/derived/ntfs20h1_MFT.bin"))
    assert ctx.warning_count == 0
    checked = 0
    for r in rows:
        if not r["in_use"] or r["full_path"] == "/" or r["full_path"] not in body:
            continue
        inode, (a, m, c, b) = body[r["full_path"]]
        assert inode.split("-")[0] == str(r["entry"])
        to_unix = [(r[k] - 116444736000000000) // 10_000_000 for k in
                   ("si_accessed", "si_modified", "si_record_changed", "si_created")]
        assert to_unix == [a, m, c, b], r["full_path"]
        checked += 1
    assert checked >= 50
    paths = {r["full_path"] for r in rows if r["in_use"]}
    assert "/test_dir/file_1.txt" in paths and "/test_dir_2/file_2_1.txt" in paths
    assert not any("file_hidden.txt" in p for p in paths)
    for p in body:
        if ":" not in p and "$OrphanFiles" not in p and p != "/":
            assert p in paths, p


def test_fixup_mismatch_reported(td: TD) -> None:
    raw = td("mft/entry_102130_fixup_issue").read_bytes()
    e = mft.decode_record(raw)
    assert e is not None and e.entry == 102130 and e.fixup_ok is False and e.problems
    rows, ctx = run(td("mft/entry_102130_fixup_issue"))
    assert rows and all(r["entry"] == 102130 and r["fixup_ok"] is False for r in rows)
    assert ctx.warning_count == 1 and ctx.warnings[0].offset == 0 and "fixup mismatch" in ctx.warnings[0].reason
    assert ctx.skipped == 0


def test_data_runs_at_offset(td: TD) -> None:
    e = mft.decode_record(td("mft/entry_data_run_at_offset").read_bytes())
    assert e is not None
    (data,) = e.find(0x80)
    runs = data.data_runs()
    assert len(runs) == 53
    assert runs[0] == (None, 517248)  # sparse run: lcn offset 0, length 517248


def test_index_root_entries(td: TD) -> None:
    e = mft.decode_record(td("mft/entry_multiple_index_root_entries").read_bytes())
    assert e is not None
    (ira,) = e.find(0x90)
    ir = mft.decode_index_root(ira.value)
    assert ir is not None and ir.collation_rule == 1  # CollationFilename
    assert len(ir.entries) == 4
    x = ir.entries[3]
    assert (x.file_entry, x.file_sequence, x.length, x.key_length) == (26399, 1, 136, 110)
    assert x.flags & 1  # INDEX_ENTRY_NODE
    fn = x.file_name
    assert fn is not None
    assert (fn.parent_entry, fn.parent_sequence, fn.real_size, fn.allocated_size) == (26359, 1, 1484, 4096)
    assert fn.flags == 0x20 and fn.namespace == 1 and fn.name == "test_returnfuncptrs.py"
    t1 = int.from_bytes(bytes.fromhex("0000C103DB6AC601"), "little")
    t2 = int.from_bytes(bytes.fromhex("7686F68C0464CA01"), "little")
    assert (fn.created, fn.modified, fn.record_changed, fn.accessed) == (t1, t1, t2, t2)


def test_single_entry_smoke(td: TD) -> None:
    rows, ctx = run(td("mft/entry_single_file"))
    assert [r["name"] for r in rows] == ["test_cfuncs.py"] and ctx.warning_count == 0
    assert rows[0]["full_path"] == "<Orphan>/test_cfuncs.py"


def test_resolver(td: TD) -> None:
    res = mft.build_resolver(td("mft/deleted.mft"))
    assert res.path(5) == "/"
    (e,) = [i for i in range(len(res)) if res.name(i) == "file.txt"]
    assert not res.in_use(e)
    seq = res.sequence(e)
    assert seq is not None
    assert res.resolve(e, seq - 1) == "/1/2/3/4/file.txt"  # freed: sequence bumped by one
    assert res.resolve(e, seq + 3) is None


def test_rows_fields_and_flags(td: TD) -> None:
    rows, _ = run(td("mft/derived/ntfs20h1_MFT.bin"))
    by = {r["full_path"]: r for r in rows}
    r = by["/$MFT"]
    assert r["entry"] == 0 and r["is_dir"] is False and r["file_size"] == 262144 and r["name_type"]
    root = by["/"]
    assert root["entry"] == 5 and root["is_dir"] and root["name"] == "."
    bad = by["/$BadClus:$Bad"]
    assert bad["is_ads"] and bad["stream_name"] == "$Bad" and by["/$BadClus"]["has_ads"]
    for x in rows:
        assert x["copied"] == bool(x["si_modified"] and x["si_created"] and x["si_modified"] < x["si_created"])
        assert x["si_lt_fn"] == bool(x["si_created"] and x["fn_created"] and x["si_created"] < x["fn_created"])
    # DOS names are not rows by default but the short name is kept
    assert not any(x["name_type"] == "Dos" for x in rows)
    rows_sn, _ = run(td("mft/derived/ntfs20h1_MFT.bin"), include_short=True)
    assert len(rows_sn) >= len(rows)


def test_zone_identifier_text() -> None:
    z = parse_zone_identifier(b"[ZoneTransfer]\r\nZoneId=3\r\nReferrerUrl=https://a.example/\r\n"
                              b"HostUrl=https://a.example/x.exe\r\nLastWriterPackageFamilyName=Microsoft.Edge\r\n")
    assert (z.zone_id, z.referrer_url, z.host_url, z.last_writer_package_family_name, z.zone_name) == (
        3, "https://a.example/", "https://a.example/x.exe", "Microsoft.Edge", "Internet")
    z = parse_zone_identifier("\ufeff[ZoneTransfer]\nZoneId=x\n".encode("utf-16"))
    assert z.zone_id is None and z.problems


def _patched_zone_mft(td: TD, tmp_path: Path) -> Path:
    """ntfs20h1 with a resident Zone.Identifier stream patched into /test_dir/file_1.txt's $DATA name."""
    data = bytearray(td("mft/derived/ntfs20h1_MFT.bin").read_bytes())
    # find file_1.txt's record and rewrite it: append a named resident $DATA attribute
    for e in mft.read_entries(td("mft/derived/ntfs20h1_MFT.bin")):
        if any(f.name == "file_1.txt" for f in e.file_names()):
            off = e.offset
            break
    rec = bytearray(mft.apply_fixups(bytes(data[off:off + 1024]), 0x30, 3)[0])
    used = int.from_bytes(rec[0x18:0x1C], "little")
    end = used - 8  # the 0xFFFFFFFF end marker
    text = b"[ZoneTransfer]\r\nZoneId=3\r\nHostUrl=https://evil.example/p.exe\r\n"
    name = "Zone.Identifier".encode("utf-16-le")
    voff = 0x18 + len(name)
    voff += (-voff) % 8
    alen = voff + len(text)
    alen += (-alen) % 8
    attr = bytearray(alen)
    attr[0:4] = (0x80).to_bytes(4, "little")
    attr[4:8] = alen.to_bytes(4, "little")
    attr[9] = len(name) // 2
    attr[10:12] = (0x18).to_bytes(2, "little")
    attr[14:16] = (9).to_bytes(2, "little")
    attr[16:20] = len(text).to_bytes(4, "little")
    attr[20:22] = voff.to_bytes(2, "little")
    attr[0x18:0x18 + len(name)] = name
    attr[voff:voff + len(text)] = text
    rec[end:end + alen] = attr
    rec[end + alen:end + alen + 8] = b"\xff\xff\xff\xff\x00\x00\x00\x00"
    rec[0x18:0x1C] = (end + alen + 8).to_bytes(4, "little")
    usn = rec[0x30:0x32]
    for i in (1, 2):  # re-protect the two strides
        rec[0x30 + 2 * i:0x32 + 2 * i] = rec[i * 512 - 2:i * 512]
        rec[i * 512 - 2:i * 512] = usn
    data[off:off + 1024] = rec
    p = tmp_path / "zone.mft"
    p.write_bytes(bytes(data))
    return p


def test_zone_identifier_stream(td: TD, tmp_path: Path) -> None:
    p = _patched_zone_mft(td, tmp_path)
    ctx = ParseContext("mft", str(p))
    recs = list(mft.parse(p, ctx))
    assert ctx.warning_count == 0
    zones = [r.data for r in recs if r.table == "zone_identifier"]
    assert len(zones) == 1
    z = zones[0]
    assert z["path"] == "/test_dir/file_1.txt:Zone.Identifier" and z["zone_id"] == 3
    assert z["host_url"] == "https://evil.example/p.exe" and z["resident"] is True
    (ads,) = [r.data for r in recs if r.table == "mft" and r.data["is_ads"] and r.data["stream_name"] == "Zone.Identifier"]
    assert ads["zone_id_contents"].startswith("[ZoneTransfer]") and ads["file_size"] == len(z["raw"].encode())
    assert ads["name"] == "file_1.txt:Zone.Identifier" and ads["extension"] == ".Identifier"
    assert isinstance(ctx.resources["mft"], mft.PathResolver)


def test_timeline(td: TD) -> None:
    ctx = ParseContext("mft", "m")
    recs = [r for r in mft.parse(td("mft/unicode.mft"), ctx) if r.data.get("name") == "привет.txt"]
    evs = list(mft.timeline(recs[0]))
    assert {e.ts_desc.split()[0] for e in evs} == {"SI", "FN"}
    assert all(e.path == "/Привет/привет.txt" for e in evs)
    assert any("created" in e.summary and "\\Привет\\привет.txt" in e.summary for e in evs)


def test_corruption_sweep(td: TD, tmp_path: Path) -> None:
    data = td("mft/orphan.mft").read_bytes()[: 64 * 1024]
    rng = random.Random(99)
    p = tmp_path / "c.mft"
    variants = [data[:n] for n in (0, 10, 47, 48, 600, 1023, 1024, 5000, 40000)]
    for _ in range(30):
        b = bytearray(data)
        for _k in range(rng.randint(1, 40)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        variants.append(bytes(b))
    variants.append(bytes(rng.randrange(256) for _ in range(8192)))
    warned = 0
    for v in variants:
        p.write_bytes(v)
        rows, ctx = run(p)
        for w in ctx.warnings:
            assert w.offset is None or 0 <= w.offset <= max(len(v), 1)
        warned += ctx.warning_count > 0
    assert warned >= 20
    # a flipped byte in a record's second stride -> fixup mismatch with the record's offset
    b = bytearray(data)
    b[40 * 1024 + 1022] ^= 0xFF
    p.write_bytes(bytes(b))
    rows, ctx = run(p)
    assert any(w.offset == 40 * 1024 and "fixup" in w.reason for w in ctx.warnings)
    assert any(r["offset"] == 40 * 1024 and r["fixup_ok"] is False for r in rows)


HEADERS = ["EntryNumber", "SequenceNumber", "InUse", "ParentEntryNumber", "ParentSequenceNumber", "ParentPath",
           "FileName", "Extension", "FileSize", "ReferenceCount", "ReparseTarget", "IsDirectory", "HasAds", "IsAds",
           "SI<FN", "uSecZeros", "Copied", "SiFlags", "NameType", "Created0x10", "Created0x30", "LastModified0x10",
           "LastModified0x30", "LastRecordChange0x10", "LastRecordChange0x30", "LastAccess0x10", "LastAccess0x30",
           "UpdateSequenceNumber", "LogfileSequenceNumber", "SecurityId", "ObjectIdFileDroid", "LoggedUtilStream",
           "ZoneIdContents", "SourceFile"]


def test_cli_csv(td: TD, tmp_path: Path) -> None:
    from wintriage.cli import main

    src = td("mft/derived/ntfs20h1_MFT.bin")
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["parse", "mft", str(src), "--csv", str(out)])
    assert r.exit_code == 0, r.output
    raw = (out / "MFTECmd_$MFT_Output.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert rows[0] == HEADERS
    expected, _ = run(src)
    assert len(rows) == 1 + len(expected)
    mftrow = next(x for x in rows if x[6] == "$MFT")
    assert mftrow[:9] == ["0", "1", "True", "5", "5", ".", "$MFT", "", "262144"]
    assert mftrow[17] == "Hidden|System"
    file1 = next(x for x in rows if x[6] == "file_1.txt")
    assert file1[5] == ".\\test_dir"
    # the generic (non-UTC) path gives the same cells as the fast UTC path, times aside
    shape = mft.CSV["mft"]
    d = expected[10]
    from wintriage.artifacts.base import CsvShape
    slow = CsvShape.row(shape, d)
    assert [str(x) for x in slow] == [str(x) for x in shape.row(d)]


def _attr_resident(atype: int, value: bytes, name: str = "", attr_id: int = 1) -> bytes:
    nm = name.encode("utf-16-le")
    voff = 0x18 + len(nm)
    voff += (-voff) % 8
    alen = voff + len(value)
    alen += (-alen) % 8
    a = bytearray(alen)
    a[0:4] = atype.to_bytes(4, "little")
    a[4:8] = alen.to_bytes(4, "little")
    a[9] = len(nm) // 2
    a[10:12] = (0x18).to_bytes(2, "little")
    a[14:16] = attr_id.to_bytes(2, "little")
    a[16:20] = len(value).to_bytes(4, "little")
    a[20:22] = voff.to_bytes(2, "little")
    a[0x18:0x18 + len(nm)] = nm
    a[voff:voff + len(value)] = value
    return bytes(a)


def make_record(entry: int, seq: int, flags: int, base_ref: int, attrs: bytes, size: int = 1024) -> bytes:
    """A protected FILE record (update sequence applied) holding ``attrs``."""
    r = bytearray(size)
    used = 0x38 + len(attrs) + 8
    r[0:4] = b"FILE"
    r[4:6] = (0x30).to_bytes(2, "little")
    r[6:8] = (size // 512 + 1).to_bytes(2, "little")
    r[0x10:0x12] = seq.to_bytes(2, "little")
    r[0x14:0x16] = (0x38).to_bytes(2, "little")
    r[0x16:0x18] = flags.to_bytes(2, "little")
    r[0x18:0x1C] = used.to_bytes(4, "little")
    r[0x1C:0x20] = size.to_bytes(4, "little")
    r[0x20:0x28] = base_ref.to_bytes(8, "little")
    r[0x2C:0x30] = entry.to_bytes(4, "little")
    r[0x38:0x38 + len(attrs)] = attrs
    r[0x38 + len(attrs):0x38 + len(attrs) + 4] = b"\xff\xff\xff\xff"
    usn = b"\x07\x00"
    r[0x30:0x32] = usn
    for i in range(1, size // 512 + 1):
        r[0x30 + 2 * i:0x32 + 2 * i] = r[i * 512 - 2:i * 512]
        r[i * 512 - 2:i * 512] = usn
    return bytes(r)


def test_extension_record_merged(td: TD, tmp_path: Path) -> None:
    """A named $DATA held by an extension record shows up as an ADS of its base record."""
    src = td("mft/derived/ntfs20h1_MFT.bin")
    data = bytearray(src.read_bytes())
    base = next(e for e in mft.read_entries(src) if any(f.name == "file_1.txt" for f in e.file_names()))
    slot = len(data) // 1024 - 1
    ext = make_record(slot, 1, 1, (base.sequence << 48) | base.entry,
                      _attr_resident(0x80, b"hello from an extension record", "ext_stream", 4))
    data[slot * 1024:(slot + 1) * 1024] = ext
    p = tmp_path / "ext.mft"
    p.write_bytes(bytes(data))
    rows, ctx = run(p)
    assert ctx.warning_count == 0
    mine = [r for r in rows if r["entry"] == base.entry]
    assert {r["name"] for r in mine} == {"file_1.txt", "file_1.txt:ext_stream"}
    assert all(r["has_ads"] and r["extension_entries"] == str(slot) for r in mine)
    (ads,) = [r for r in mine if r["is_ads"]]
    assert ads["file_size"] == 30 and ads["resident"] is True
    assert not any(r["entry"] == slot for r in rows)  # the extension record has no rows of its own
    # the extension slot does not disturb the name table
    res = mft.build_resolver(p)
    assert res.path(base.entry) == "/test_dir/file_1.txt"


def test_non_resident_zone_identifier_warns(tmp_path: Path) -> None:
    root_fn = bytearray(66 + 2)
    root_fn[0:8] = ((5 << 48) | 5).to_bytes(8, "little")
    root_fn[64] = 1
    root_fn[65] = 3
    root_fn[66:68] = ".".encode("utf-16-le")
    fn = bytearray(66 + 10)
    fn[0:8] = ((5 << 48) | 5).to_bytes(8, "little")
    fn[64] = 5
    fn[65] = 1
    fn[66:76] = "a.exe".encode("utf-16-le")
    nm = "Zone.Identifier".encode("utf-16-le")
    nonres = bytearray(0x40 + len(nm) + 8)
    nonres[0:4] = (0x80).to_bytes(4, "little")
    nonres[4:8] = len(nonres).to_bytes(4, "little")
    nonres[8] = 1
    nonres[9] = len(nm) // 2
    nonres[10:12] = (0x40).to_bytes(2, "little")
    nonres[0x20:0x22] = (0x40 + len(nm)).to_bytes(2, "little")
    nonres[0x30:0x38] = (5000).to_bytes(8, "little")
    nonres[0x40:0x40 + len(nm)] = nm
    nonres[0x40 + len(nm)] = 0x11  # one run: 1 cluster at lcn 1
    nonres[0x40 + len(nm) + 1] = 1
    nonres[0x40 + len(nm) + 2] = 1
    recs = bytearray(7 * 1024)
    recs[5 * 1024:6 * 1024] = make_record(5, 5, 3, 0, _attr_resident(0x30, bytes(root_fn)))
    recs[6 * 1024:7 * 1024] = make_record(6, 1, 1, 0, _attr_resident(0x30, bytes(fn)) + bytes(nonres))
    p = tmp_path / "z.mft"
    p.write_bytes(bytes(recs))
    ctx = ParseContext("mft", str(p))
    out = list(mft.parse(p, ctx))
    zones = [r.data for r in out if r.table == "zone_identifier"]
    assert len(zones) == 1 and zones[0]["resident"] is False and zones[0]["path"] == "/a.exe:Zone.Identifier"
    assert zones[0]["size"] == 5000
    assert ctx.warning_count == 1 and ctx.warnings[0].offset == 6 * 1024 and "non-resident" in ctx.warnings[0].reason
    assert ctx.skipped == 0


def _fn_value(name: str, parent: int, parent_seq: int, ns: int = 1) -> bytes:
    v = bytearray(66 + 2 * len(name))
    v[0:8] = ((parent_seq << 48) | parent).to_bytes(8, "little")
    v[64] = len(name)
    v[65] = ns
    v[66:] = name.encode("utf-16-le")
    return bytes(v)


def test_parent_loop_is_orphaned_not_hung(tmp_path: Path) -> None:
    recs = bytearray(8 * 1024)
    recs[5 * 1024:6 * 1024] = make_record(5, 5, 3, 0, _attr_resident(0x30, _fn_value(".", 5, 5, 3)))
    recs[6 * 1024:7 * 1024] = make_record(6, 1, 3, 0, _attr_resident(0x30, _fn_value("a", 7, 1)))
    recs[7 * 1024:8 * 1024] = make_record(7, 1, 3, 0, _attr_resident(0x30, _fn_value("b", 6, 1)))
    p = tmp_path / "loop.mft"
    p.write_bytes(bytes(recs))
    rows, ctx = run(p)
    paths = {r["entry"]: r["full_path"] for r in rows}
    assert paths[5] == "/" and paths[6].startswith("<Orphan>/") and paths[7].startswith("<Orphan>/")
    assert paths[6].endswith("/a") and paths[7].endswith("/b")


def _sql_vs_python_timeline(recs: list[Any], tmp_path: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    import sqlite3

    from wintriage.sinks import StoreSink
    from wintriage.store.case import CaseWriter

    w = CaseWriter(tmp_path / "t.sqlite")
    sink = StoreSink(w)
    sid = sink.begin_source(mft, "x")
    ids = [sink.add(mft, r, sid) for r in recs]
    sink.end_source(sid, [], records=len(recs))
    w.close()
    got = sqlite3.connect(tmp_path / "t.sqlite").execute(
        "SELECT ts, ts_desc, user, path, summary, ref_table, ref_id FROM timeline ORDER BY id").fetchall()
    want = [(ev.ts, ev.ts_desc, ev.user, ev.path, ev.summary, r.table, i)
            for i, r in zip(ids, recs, strict=True) for ev in mft.timeline(r)]
    return got, want


def test_timeline_sql_equals_python_timeline_on_samples(td: TD, tmp_path: Path) -> None:
    """TIMELINE_SQL gives exactly the events of timeline(), in the same order, on every sample (ADS and zone rows
    included: they add none)."""
    recs = []
    for rel in ("mft/derived/ntfs20h1_MFT.bin", "mft/unicode.mft", "mft/orphan.mft", "mft/deleted.mft",
                "mft/4k-large.mft", "mft/entry_102130_fixup_issue"):
        recs += [r for r in mft.parse(td(rel), ParseContext("mft", rel)) if r.table == "mft"]
    got, want = _sql_vs_python_timeline(recs, tmp_path)
    assert got == want and len(got) == 491


def test_timeline_sql_every_time_pattern(tmp_path: Path) -> None:
    """Every pattern of equal / missing SI and FN times (5^4 x 5^4 would be large: all SI patterns against three
    FN patterns and the reverse), for files, directories, deleted entries and ADS rows."""
    import itertools

    vals = (None, 130000000000000000, 130000000000000001, 130000000000000002, 130000000000000003)
    pats = list(itertools.product(vals, repeat=4))
    base = mft._row_template("src")
    recs = []
    for i, (si, fn) in enumerate([(p, pats[7]) for p in pats] + [(pats[300], p) for p in pats]):
        d = dict(base)
        d.update(entry=i, full_path=f"/d/f{i}.txt", in_use=bool(i & 1), is_dir=bool(i & 2), is_ads=i % 7 == 0)
        for k, v in zip(("si_modified", "si_accessed", "si_record_changed", "si_created"), si, strict=True):
            d[k] = v
        for k, v in zip(("fn_modified", "fn_accessed", "fn_record_changed", "fn_created"), fn, strict=True):
            d[k] = v
        recs.append(mft.Record("mft", d))
    got, want = _sql_vs_python_timeline(recs, tmp_path)
    assert len(want) > 3000 and got == want


@pytest.mark.parametrize("tz", ["UTC", "+09:00"])
def test_store_export_nulls_and_missing_columns(td: TD, tmp_path: Path, tz: str) -> None:
    """The case-store export builds the renderer's arrays column by column from the selected columns only: NULL
    times, flags, USN, security id and parent path render as the row-by-row shape renders them."""
    import dataclasses

    from wintriage.pipeline import run_file
    from wintriage.sinks import StoreSink
    from wintriage.store.case import CaseReader, CaseWriter
    from wintriage.store.export import export_table
    from wintriage.timeutil import parse_tz

    w = CaseWriter(tmp_path / "c.sqlite")
    run_file(mft, td("mft/derived/ntfs20h1_MFT.bin"), StoreSink(w))
    w.db.execute("UPDATE mft SET si_created = NULL, fn_modified = NULL, si_flags = NULL WHERE id % 3 = 0")
    w.db.execute("UPDATE mft SET usn = NULL, security_id = NULL, parent_path = NULL WHERE id % 5 = 1")
    w.db.execute("UPDATE mft SET full_path = NULL, short_name = NULL, offset = NULL WHERE id % 2 = 0")  # not read
    w.close()
    case = CaseReader(tmp_path / "c.sqlite")
    shape = mft.CSV["mft"]
    assert shape.batch is not None and "full_path" not in shape.batch_reads
    zone = parse_tz(tz)
    bulk = export_table(case, "mft", shape, tmp_path / "b", zone)
    slow = export_table(case, "mft", dataclasses.replace(shape, batch=None), tmp_path / "p", zone)
    assert bulk is not None and slow is not None and bulk[1] == slow[1] == case.count("mft") > 50
    text = bulk[0].read_bytes()
    assert text == slow[0].read_bytes()
    assert b"\r\n0,1,True,5,5,.,$MFT," in text
