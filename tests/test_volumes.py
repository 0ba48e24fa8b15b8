"""Volumes: MBR + extended partitions, GPT, whole-disk file systems; checked against TSK mmls outputs."""

from __future__ import annotations

import random
import re
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from wintriage.evidence.image import open_image
from wintriage.evidence.volumes import Volume, identify_fs, list_volumes, primary_ntfs

TD = Callable[[str], Path]


def _rows(vols: list[Volume]) -> list[tuple[object, ...]]:
    return [(v.index, v.start_sector, v.end_sector, v.sectors, v.description, v.fs) for v in vols]


def _mmls_partitions(text: str) -> list[tuple[int, int, int, str]]:
    """Allocated rows of mmls output (slot like 000:000, or Meta rows that are not tables)."""
    out = []
    for line in text.splitlines():
        m = re.match(r"\d+:\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(.*)$", line)
        if m and m.group(1) != "-------" and "Table (#" not in m.group(5):
            out.append((int(m.group(2)), int(m.group(3)), int(m.group(4)), m.group(5).strip()))
    return out


def test_ntfs20h1_matches_mmls(td: TD, unpacked: Callable[[str], Path]) -> None:
    raw = unpacked("ntfs/ntfs20h1.tgz") / "ntfs.raw"
    expected = _mmls_partitions(td("ntfs/derived/ntfs20h1.tsk_mmls.txt").read_text())
    assert expected == [(2048, 134213631, 134211584, "NTFS / exFAT (0x07)")]
    with open_image(raw) as img:
        vols = list_volumes(img)
    assert [(v.start_sector, v.end_sector, v.sectors, v.description) for v in vols] == expected
    v = vols[0]
    assert (v.index, v.offset, v.fs, v.label, v.serial) == (1, 1048576, "NTFS", "Test volume", "DC2694B5269491DE")
    assert v.slot == "000:000" and v.scheme == "DOS"
    assert primary_ntfs(vols) is v


def test_image_split_extended(td: TD) -> None:
    with open_image(td("ewf/image-split.E01")) as img:
        warnings: list[str] = []
        vols = list_volumes(img, warnings)
    assert warnings == []
    # mmls: 000:000 Linux 1-350; Meta 351-2879 DOS Extended (0x05); 001:000 Linux 352-2879
    assert _rows(vols) == [
        (1, 1, 350, 350, "Linux (0x83)", "unknown"),
        (None, 351, 2879, 2529, "DOS Extended (0x05)", None),
        (2, 352, 2879, 2528, "Linux (0x83)", "ext2"),
    ]
    assert [v.slot for v in vols] == ["000:000", "Meta", "001:000"]
    assert vols[2].offset == 180224  # plaso: partition /p2 start_offset == 180224
    assert vols[1].container and primary_ntfs(vols) is None


def test_scenario_two_ntfs(td: TD) -> None:
    with open_image(td("scenario/public-1.E01")) as img:
        vols = list_volumes(img)
    assert _rows(vols) == [
        (1, 2048, 206847, 204800, "NTFS / exFAT (0x07)", "NTFS"),
        (2, 206848, 2095103, 1888256, "NTFS / exFAT (0x07)", "NTFS"),
    ]
    assert vols[0].label == "System Reserved"
    p = primary_ntfs(vols)
    assert p is vols[1] and p.offset == 206848 * 512
    d = p.as_dict()
    for k in ("index", "start_sector", "sectors", "offset", "size", "type", "description", "fs", "label"):
        assert k in d
    assert d["type"] == "0x07" and d["size"] == 1888256 * 512


def test_whole_disk_ntfs(td: TD) -> None:
    with open_image(td("ewf/test.ntfs.dd.E01")) as img:
        vols = list_volumes(img)
    assert len(vols) == 1
    v = vols[0]
    assert (v.index, v.offset, v.sectors, v.fs, v.label, v.serial) == \
        (1, 0, 20480, "NTFS", "Test Volume", "5696A7BD96A79C4D")
    assert v.scheme == "none" and primary_ntfs(vols) is v


def test_ntfs_ptrn_and_ext_whole_disk(td: TD) -> None:
    with open_image(td("ewf/derived/ntfs-ptrn.E01")) as img:
        vols = list_volumes(img)
    assert [(v.start_sector, v.offset, v.fs, v.label) for v in vols] == [(128, 65536, "NTFS", "Slack")]
    with open_image(td("ewf/image.E01")) as img:
        vols = list_volumes(img)
    assert [(v.start_sector, v.sectors, v.fs) for v in vols] == [(0, 200, "ext2")]
    assert primary_ntfs(vols) is None


# --- synthetic tables ---------------------------------------------------------------------------
def _entry(t: int, lba: int, count: int, boot: int = 0) -> bytes:
    return struct.pack("<B3sB3sII", boot, b"\0\0\0", t, b"\0\0\0", lba, count)


def _table(entries: list[bytes]) -> bytes:
    sec = bytearray(512)
    for i, e in enumerate(entries):
        sec[446 + 16 * i: 462 + 16 * i] = e
    sec[510:512] = b"\x55\xaa"
    return bytes(sec)


def _fat32_boot(label: bytes) -> bytes:
    b = bytearray(512)
    b[0:3] = b"\xeb\x58\x90"
    b[3:11] = b"MSDOS5.0"
    struct.pack_into("<HB", b, 11, 512, 8)
    struct.pack_into("<I", b, 67, 0x1234ABCD)
    b[71:82] = label.ljust(11)
    b[82:90] = b"FAT32   "
    b[510:512] = b"\x55\xaa"
    return bytes(b)


def _mbr_disk(path: Path) -> None:
    """MBR: FAT32 at 64 (100 sectors), extended 0x0F at 200 (800 sectors) holding two logicals (EBR chain)."""
    disk = bytearray(1000 * 512)
    disk[0:512] = _table([_entry(0x0C, 64, 100, 0x80), _entry(0x0F, 200, 800)])
    disk[64 * 512: 65 * 512] = _fat32_boot(b"MYFAT")
    # EBR 1 at 200: logical at +2 (202..401), link to next EBR at ext+300 = 500
    disk[200 * 512: 201 * 512] = _table([_entry(0x07, 2, 200), _entry(0x05, 300, 400)])
    # EBR 2 at 500: logical at +8 (508..807), no further link
    disk[500 * 512: 501 * 512] = _table([_entry(0x83, 8, 300)])
    nt = bytearray(512)
    nt[3:11] = b"NTFS    "
    struct.pack_into("<Q", nt, 72, 0xAABBCCDD11223344)
    disk[202 * 512: 203 * 512] = nt
    path.write_bytes(bytes(disk))


def test_mbr_ebr_chain_synthetic(tmp_path: Path) -> None:
    _mbr_disk(tmp_path / "mbr.dd")
    with open_image(tmp_path / "mbr.dd") as img:
        w: list[str] = []
        vols = list_volumes(img, w)
    assert w == []
    assert [(v.index, v.slot, v.start_sector, v.sectors, v.description, v.fs) for v in vols] == [
        (1, "000:000", 64, 100, "Win95 FAT32 (0x0c)", "FAT32"),
        (None, "Meta", 200, 800, "Win95 Extended (0x0f)", None),
        (2, "001:000", 202, 200, "NTFS / exFAT (0x07)", "NTFS"),
        (None, "Meta", 500, 400, "DOS Extended (0x05)", None),
        (3, "002:000", 508, 300, "Linux (0x83)", "unknown"),
    ]
    # the same rows as TSK 4.11 `mmls` prints for this disk (000:000 64-163 Win95 FAT32 (0x0c); Meta 200-999
    # Win95 Extended (0x0f); 001:000 202-401 NTFS / exFAT (0x07); Meta 500-899 DOS Extended (0x05);
    # 002:000 508-807 Linux (0x83))
    assert vols[0].label == "MYFAT" and vols[0].serial == "1234ABCD"
    assert vols[2].serial == "AABBCCDD11223344" and vols[2].label is None  # no readable $MFT: no label
    assert primary_ntfs(vols) is vols[2]
    import shutil
    import subprocess

    if shutil.which("mmls"):
        out = subprocess.run(["mmls", str(tmp_path / "mbr.dd")], capture_output=True, text=True, check=True).stdout
        assert [(v.start_sector, v.end_sector, v.sectors, v.description) for v in vols] == _mmls_partitions(out)


def test_ebr_loop_is_stopped(tmp_path: Path) -> None:
    disk = bytearray(400 * 512)
    disk[0:512] = _table([_entry(0x05, 100, 300)])
    disk[100 * 512: 101 * 512] = _table([_entry(0x83, 1, 10), _entry(0x05, 0, 300)])  # links to itself
    (tmp_path / "loop.dd").write_bytes(bytes(disk))
    with open_image(tmp_path / "loop.dd") as img:
        w: list[str] = []
        vols = list_volumes(img, w)
    assert [v.start_sector for v in vols if not v.container] == [101]
    assert any("revisits sector 100" in m for m in w)


def _gpt_disk(path: Path, sectors: int = 2048) -> None:
    disk = bytearray(sectors * 512)
    disk[0:512] = _table([_entry(0xEE, 1, sectors - 1)])
    ents = bytearray(128 * 128)
    parts = [
        ("c12a7328-f81f-11d2-ba4b-00a0c93ec93b", 34, 99, "EFI system partition"),
        ("ebd0a0a2-b9e5-4433-87c0-68b6b72699c7", 100, 1999, "Basic data partition"),
    ]
    import uuid

    for i, (tg, first, last, name) in enumerate(parts):
        e = uuid.UUID(tg).bytes_le + uuid.UUID(int=i + 1).bytes_le + struct.pack("<QQQ", first, last, 0)
        e += name.encode("utf-16-le").ljust(72, b"\0")
        ents[i * 128:(i + 1) * 128] = e
    disk[2 * 512: 2 * 512 + len(ents)] = ents
    disk[(sectors - 33) * 512: (sectors - 33) * 512 + len(ents)] = ents
    for my, alt, elba in ((1, sectors - 1, 2), (sectors - 1, 1, sectors - 33)):  # primary and backup header
        hdr = bytearray(92)
        hdr[0:8] = b"EFI PART"
        struct.pack_into("<IIIIQQQQ16sQIII", hdr, 8, 0x10000, 92, 0, 0, my, alt, 34, sectors - 34,
                         b"\x11" * 16, elba, 128, 128, zlib.crc32(bytes(ents)))
        struct.pack_into("<I", hdr, 16, zlib.crc32(bytes(hdr)))
        disk[my * 512: my * 512 + 92] = hdr
    nt = bytearray(512)
    nt[3:11] = b"NTFS    "
    disk[100 * 512: 101 * 512] = nt
    path.write_bytes(bytes(disk))


def test_gpt_synthetic(tmp_path: Path) -> None:
    _gpt_disk(tmp_path / "gpt.dd")
    with open_image(tmp_path / "gpt.dd") as img:
        w: list[str] = []
        vols = list_volumes(img, w)
    assert w == []
    assert [(v.index, v.start_sector, v.end_sector, v.description, v.fs, v.scheme) for v in vols] == [
        (1, 34, 99, "EFI system partition", "unknown", "GPT"),
        (2, 100, 1999, "Basic data partition", "NTFS", "GPT"),
    ]
    assert vols[1].type == "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7"
    # cross-check with libvsgpt
    pyvsgpt = pytest.importorskip("pyvsgpt")
    vg = pyvsgpt.volume()
    vg.open(str(tmp_path / "gpt.dd"))
    got = [(vg.get_partition(i).volume_offset // 512, vg.get_partition(i).size // 512)
           for i in range(vg.number_of_partitions)]
    vg.close()
    assert got == [(v.start_sector, v.sectors) for v in vols]


def test_gpt_bad_crc_warns(tmp_path: Path) -> None:
    _gpt_disk(tmp_path / "gpt.dd")
    b = bytearray((tmp_path / "gpt.dd").read_bytes())
    b[2 * 512 + 60] ^= 0xFF  # inside entry 0's name
    (tmp_path / "gpt.dd").write_bytes(bytes(b))
    with open_image(tmp_path / "gpt.dd") as img:
        w: list[str] = []
        vols = list_volumes(img, w)
    assert len(vols) == 2 and any("CRC32 mismatch" in m and "offset 1024" in m for m in w)


def test_volume_table_corruption_sweep(tmp_path: Path) -> None:
    _mbr_disk(tmp_path / "mbr.dd")
    _gpt_disk(tmp_path / "gpt.dd")
    rng = random.Random(3)
    for name in ("mbr.dd", "gpt.dd"):
        base = (tmp_path / name).read_bytes()
        offsets = [*range(440, 512, 3), *range(512, 700, 7), *range(1024, 1400, 11), 200 * 512 + 450,
                   500 * 512 + 460]
        for off in offsets:
            b = bytearray(base)
            b[off] ^= 1 << rng.randrange(8)
            p = tmp_path / f"x{off}.dd"
            p.write_bytes(bytes(b))
            with open_image(p) as img:
                vols = list_volumes(img)  # no exception, whatever the damage
            for v in vols:
                assert v.sectors >= 0 and v.start_sector >= 0
            p.unlink()
        for cut in (0, 100, 511, 512, 1000, 1100, 30000):
            p = tmp_path / f"c{cut}.dd"
            p.write_bytes(base[:cut])
            with open_image(p) as img:
                list_volumes(img)
            p.unlink()


def test_identify_fs_unknown_and_short(tmp_path: Path) -> None:
    (tmp_path / "z.dd").write_bytes(bytes(4096))
    with open_image(tmp_path / "z.dd") as img:
        assert identify_fs(img, 0) == ("unknown", None, None)
        assert identify_fs(img, 4000) == ("unknown", None, None)
        vols = list_volumes(img)
    assert [(v.index, v.sectors, v.fs, v.description) for v in vols] == \
        [(1, 8, "unknown", "whole disk (no partition table)")]


@pytest.mark.parametrize("rel", ["ewf/image-split.E01", "scenario/public-1.E01", "ewf/derived/ntfs-ptrn.E01"])
def test_same_rows_as_live_mmls(td: TD, rel: str) -> None:
    """When TSK is installed: our rows (data volumes and extended containers) == mmls's, in order."""
    import shutil
    import subprocess

    from wintriage.evidence.image import ewf_segments

    if shutil.which("mmls") is None:
        pytest.skip("TSK mmls not installed")
    segs = [str(p) for p in ewf_segments(td(rel))]
    p = subprocess.run(["mmls", "-i", "ewf", *segs], capture_output=True, text=True, check=False, timeout=60)
    if p.returncode != 0:
        pytest.skip(f"mmls cannot read EWF here: {p.stderr.strip()[:100]}")
    with open_image(td(rel)) as img:
        vols = list_volumes(img)
    assert [(v.start_sector, v.end_sector, v.sectors, v.description) for v in vols] == _mmls_partitions(p.stdout)
