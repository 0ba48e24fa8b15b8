"""Volumes of a disk image: MBR (with extended/logical partitions), GPT, or a whole-disk file system.

Results follow TSK ``mmls``: start/length in sectors, DOS type descriptions like ``NTFS / exFAT (0x07)``;
extended-partition containers are listed (``container=True``, no index) like mmls's ``Meta`` rows. Data volumes
are numbered from 1 in table order (``index``), the number ``--partition`` takes. Each volume's file system is
identified from its first sectors: NTFS (+ serial and label), FAT12/16/32, exFAT, ext2/3/4, BitLocker.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import asdict, dataclass
from typing import Any

from .image import EvidenceError, Image

SECTOR = 512

# mmls wording for the common types (checked against TSK 4.11 mmls); others print as "Unknown Type (0xNN)"
DOS_TYPES = {
    0x01: "DOS FAT12", 0x04: "DOS FAT16", 0x05: "DOS Extended", 0x06: "DOS FAT16", 0x07: "NTFS / exFAT",
    0x0B: "Win95 FAT32", 0x0C: "Win95 FAT32", 0x0E: "Win95 FAT16", 0x0F: "Win95 Extended",
    0x11: "DOS FAT12 Hidden", 0x12: "Hibernation", 0x14: "DOS FAT16 Hidden", 0x16: "DOS FAT16 Hidden",
    0x17: "Hidden IFS/HPFS", 0x1B: "Win95 FAT32 Hidden", 0x1C: "Win95 FAT32 Hidden", 0x1E: "Win95 FAT16 Hidden",
    0x42: "Win LVM / Secure FS", 0x82: "Linux Swap / Solaris x86", 0x83: "Linux", 0x84: "Hibernation",
    0x85: "Linux Extended", 0x86: "NTFS Volume Set", 0x87: "NTFS Volume Set", 0x8E: "Linux Logical Volume Manager",
    0xA5: "BSD/386, 386BSD, NetBSD, FreeBSD", 0xA6: "OpenBSD", 0xA8: "Mac OS X", 0xA9: "NetBSD",
    0xAB: "Mac OS X Boot Partition", 0xAF: "Mac OS X HFS", 0xEE: "GPT Safety Partition", 0xEF: "EFI File System",
    0xFB: "VMWare File System", 0xFC: "VMWare Swap", 0xFD: "Linux RAID",
}
EXTENDED = (0x05, 0x0F, 0x85)

GPT_TYPES = {
    "c12a7328-f81f-11d2-ba4b-00a0c93ec93b": "EFI System Partition",
    "e3c9e316-0b5c-4db8-817d-f92df00215ae": "Microsoft Reserved Partition",
    "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7": "Basic Data Partition",
    "de94bba4-06d1-4d40-a16a-bfd50179d6ac": "Windows Recovery Environment",
    "5808c8aa-7e8f-42e0-85d2-e1e90434cfb3": "LDM Metadata Partition",
    "af9b60a0-1431-4f62-bc68-3311714a69ad": "LDM Data Partition",
    "e75caf8f-f680-4cee-afa3-b001e56efc2d": "Storage Spaces Partition",
    "0fc63daf-8483-4772-8e79-3d69d8477de4": "Linux Filesystem Data",
    "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f": "Linux Swap",
    "e6d6d379-f507-44c2-a23c-238f2a3df928": "Linux LVM",
    "21686148-6449-6e6f-744e-656564454649": "BIOS Boot Partition",
}


@dataclass
class Volume:
    index: int | None          # 1.. for data volumes (what --partition takes); None for containers
    start_sector: int
    sectors: int
    sector_size: int = SECTOR
    type: str = ""             # "0x07", a GPT type GUID, or "none" (whole disk)
    description: str = ""      # mmls-style
    fs: str | None = None      # NTFS, FAT12/16/32, exFAT, ext2/3/4, BitLocker, unknown; None for containers
    label: str | None = None
    serial: str | None = None  # NTFS volume serial (hex, as fsstat prints it)
    slot: str = ""             # mmls slot "table:entry", "Meta" for containers
    scheme: str = ""           # DOS, GPT, none
    container: bool = False
    name: str | None = None    # GPT partition name

    @property
    def offset(self) -> int:
        return self.start_sector * self.sector_size

    @property
    def size(self) -> int:
        return self.sectors * self.sector_size

    @property
    def end_sector(self) -> int:
        return self.start_sector + self.sectors - 1

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(offset=self.offset, size=self.size, end_sector=self.end_sector)
        return d


def _read(img: Image, off: int, n: int) -> bytes:
    if off < 0 or off >= img.size:
        return b""
    try:
        return img.read(off, n)
    except (EvidenceError, OSError):
        return b""


# --- file-system identification ------------------------------------------------------------------
def _ntfs_label(img: Image, off: int, boot: bytes) -> str | None:
    """Volume name from $Volume (MFT record 3): boot sector -> $MFT cluster -> record 3 -> attribute 0x60."""
    try:
        bps, spc = struct.unpack_from("<HB", boot, 11)
        (mft_lcn,) = struct.unpack_from("<Q", boot, 48)
        (rec_code,) = struct.unpack_from("<b", boot, 64)
    except struct.error:
        return None
    if bps not in (256, 512, 1024, 2048, 4096) or spc == 0:
        return None
    spc_n = spc if spc <= 128 else 1 << (256 - spc)
    cluster = bps * spc_n
    rec_size = cluster * rec_code if rec_code > 0 else 1 << (-rec_code)
    if not 256 <= rec_size <= 65536:
        return None
    rec = bytearray(_read(img, off + mft_lcn * cluster + 3 * rec_size, rec_size))
    if len(rec) < rec_size or rec[:4] != b"FILE":
        return None
    usa_off, usa_n = struct.unpack_from("<HH", rec, 4)
    if usa_off + 2 * usa_n > rec_size:
        return None
    usn = rec[usa_off:usa_off + 2]
    for i in range(1, usa_n):  # fixups: the last 2 bytes of every 512-byte stride
        end = i * 512 - 2
        if end + 2 > rec_size or rec[end:end + 2] != usn:
            return None
        rec[end:end + 2] = rec[usa_off + 2 * i: usa_off + 2 * i + 2]
    (a,) = struct.unpack_from("<H", rec, 20)
    while a + 16 <= rec_size:
        atype, alen = struct.unpack_from("<II", rec, a)
        if atype == 0xFFFFFFFF or alen < 16 or a + alen > rec_size:
            break
        if atype == 0x60 and rec[a + 8] == 0:  # $VOLUME_NAME, resident
            vlen, voff = struct.unpack_from("<IH", rec, a + 16)
            return bytes(rec[a + voff: a + voff + vlen]).decode("utf-16-le", "replace")
        a += alen
    return None


def identify_fs(img: Image, off: int) -> tuple[str, str | None, str | None]:
    """(fs, label, serial) of the volume starting at byte ``off``."""
    boot = _read(img, off, 4096)
    if len(boot) < 512:
        return "unknown", None, None
    if boot[3:11] == b"NTFS    ":
        serial = f"{struct.unpack_from('<Q', boot, 72)[0]:016X}"
        return "NTFS", _ntfs_label(img, off, boot), serial
    if boot[3:11] == b"EXFAT   ":
        return "exFAT", None, f"{struct.unpack_from('<I', boot, 100)[0]:08X}"
    if boot[3:11] == b"-FVE-FS-":
        return "BitLocker", None, None
    if boot[510:512] == b"\x55\xaa":
        bps = struct.unpack_from("<H", boot, 11)[0]
        if bps in (512, 1024, 2048, 4096) and boot[13] != 0:
            if boot[82:87] == b"FAT32":
                return "FAT32", boot[71:82].decode("latin-1").rstrip() or None, f"{struct.unpack_from('<I', boot, 67)[0]:08X}"
            if boot[54:59] == b"FAT12" or boot[54:59] == b"FAT16":
                return (boot[54:59].decode(), boot[43:54].decode("latin-1").rstrip() or None,
                        f"{struct.unpack_from('<I', boot, 39)[0]:08X}")
            if boot[54:57] == b"FAT":
                return "FAT", boot[43:54].decode("latin-1").rstrip() or None, None
    sb = boot[1024:2048] if len(boot) >= 2048 else _read(img, off + 1024, 1024)
    if len(sb) >= 1024 and sb[56:58] == b"\x53\xef":
        compat, incompat = struct.unpack_from("<II", sb, 92)
        fs = "ext4" if incompat & 0x2C0 else ("ext3" if compat & 0x4 else "ext2")  # extents/64bit/flex_bg; journal
        label = sb[120:136].split(b"\0", 1)[0].decode("utf-8", "replace") or None
        return fs, label, sb[104:120].hex()
    return "unknown", None, None


# --- partition tables ----------------------------------------------------------------------------
def _dos_desc(t: int) -> str:
    return f"{DOS_TYPES.get(t, 'Unknown Type')} (0x{t:02x})"


def _entries(sector: bytes) -> list[tuple[int, int, int, int]]:
    """(slot, type, lba, count) of the 4 entries of an MBR/EBR sector."""
    out = []
    for i in range(4):
        e = sector[446 + 16 * i: 462 + 16 * i]
        lba, count = struct.unpack_from("<II", e, 8)
        out.append((i, e[4], lba, count))
    return out


def _plausible_mbr(sector: bytes, total_sectors: int) -> bool:
    if len(sector) < 512 or sector[510:512] != b"\x55\xaa":
        return False
    used = 0
    for _slot, t, lba, count in _entries(sector):
        boot_flag = sector[446 + 16 * _slot]
        if boot_flag not in (0x00, 0x80):
            return False
        if t == 0:
            continue
        if count == 0 or lba == 0:
            return False
        used += 1
    return used > 0


def _dos_volumes(img: Image, mbr: bytes, ss: int, total: int, warnings: list[str]) -> list[Volume]:
    vols: list[Volume] = []
    for slot, t, lba, count in _entries(mbr):
        if t == 0 or count == 0:
            continue
        if t in EXTENDED:
            vols.append(Volume(None, lba, count, ss, f"0x{t:02x}", _dos_desc(t), None, slot="Meta",
                               scheme="DOS", container=True))
            vols.extend(_logical(img, lba, count, ss, warnings))
        else:
            vols.append(Volume(0, lba, count, ss, f"0x{t:02x}", _dos_desc(t), slot=f"000:{slot:03d}", scheme="DOS"))
        if lba + count > total:
            warnings.append(f"partition table slot {slot}: sectors {lba}-{lba + count - 1} run past the end of the "
                            f"media ({total} sectors)")
    return vols


def _logical(img: Image, ext_start: int, ext_count: int, ss: int, warnings: list[str]) -> list[Volume]:
    """Walk the EBR chain: data entries are relative to their EBR, link entries to the extended partition."""
    out: list[Volume] = []
    seen: set[int] = set()
    ebr: int | None = ext_start
    table = 1
    while ebr is not None:
        if ebr in seen or len(seen) >= 256:
            warnings.append(f"extended partition chain revisits sector {ebr} (or is too long); stopped")
            break
        seen.add(ebr)
        sec = _read(img, ebr * ss, 512)
        if len(sec) < 512 or sec[510:512] != b"\x55\xaa":
            warnings.append(f"extended partition table at sector {ebr} (offset {ebr * ss}): no 0x55AA signature")
            break
        nxt: int | None = None
        for slot, t, lba, count in _entries(sec):
            if t == 0 or count == 0:
                continue
            if t in EXTENDED:
                if nxt is None:
                    nxt = ext_start + lba
                    out.append(Volume(None, nxt, count, ss, f"0x{t:02x}", _dos_desc(t), None, slot="Meta",
                                      scheme="DOS", container=True))
            else:
                start = ebr + lba
                if start + count > ext_start + ext_count:
                    warnings.append(f"logical partition at sector {start} ({count} sectors) runs past its "
                                    f"extended partition (ends at {ext_start + ext_count - 1})")
                out.append(Volume(0, start, count, ss, f"0x{t:02x}", _dos_desc(t), slot=f"{table:03d}:{slot:03d}",
                                  scheme="DOS"))
        ebr = nxt
        table += 1
    return out


def _gpt_volumes(img: Image, warnings: list[str]) -> list[Volume] | None:
    for ss in (512, 4096):
        hdr = _read(img, ss, 512)
        if len(hdr) < 92 or hdr[:8] != b"EFI PART":
            continue
        (hsize,) = struct.unpack_from("<I", hdr, 12)
        hsize = min(max(hsize, 92), 512)
        (hcrc,) = struct.unpack_from("<I", hdr, 16)
        if zlib.crc32(hdr[:16] + b"\0\0\0\0" + hdr[20:hsize]) != hcrc:
            warnings.append(f"GPT header at offset {ss}: CRC32 mismatch; entries used anyway")
        entries_lba, n, esize, ecrc = struct.unpack_from("<QIII", hdr, 72)
        if not (128 <= esize <= 4096) or n > 4096:
            warnings.append(f"GPT header at offset {ss}: implausible entry array ({n} x {esize} bytes)")
            return []
        arr = _read(img, entries_lba * ss, n * esize)
        if zlib.crc32(arr) != ecrc:
            warnings.append(f"GPT entry array at offset {entries_lba * ss}: CRC32 mismatch")
        vols: list[Volume] = []
        for i in range(len(arr) // esize):
            e = arr[i * esize:(i + 1) * esize]
            tguid = e[:16]
            if not any(tguid):
                continue
            first, last = struct.unpack_from("<QQ", e, 32)
            name = e[56:128].decode("utf-16-le", "replace").split("\0", 1)[0]
            tg = _guid(tguid)
            if last < first:
                warnings.append(f"GPT entry {i}: last LBA {last} before first LBA {first}")
                continue
            vols.append(Volume(0, first, last - first + 1, ss, tg, name or GPT_TYPES.get(tg, tg),
                               slot=f"{i:03d}", scheme="GPT", name=name or None))
        return vols
    return None


def _guid(b: bytes) -> str:
    d1, d2, d3 = struct.unpack_from("<IHH", b, 0)
    return f"{d1:08x}-{d2:04x}-{d3:04x}-{b[8:10].hex()}-{b[10:16].hex()}"


def list_volumes(img: Image, warnings: list[str] | None = None) -> list[Volume]:
    """Volumes of ``img`` in table order: data volumes numbered 1.. and, for DOS tables, extended containers."""
    warns = warnings if warnings is not None else []
    ss = int(getattr(img, "bytes_per_sector", 0) or SECTOR)
    total = img.size // ss
    s0 = _read(img, 0, 512)
    vols: list[Volume] | None = None
    fs0 = identify_fs(img, 0)[0] if s0 else "unknown"
    if fs0 in ("NTFS", "exFAT", "BitLocker", "FAT12", "FAT16", "FAT32", "FAT"):
        vols = None  # a boot sector, not an MBR: whole-disk file system
    elif _plausible_mbr(s0, total):
        if any(t == 0xEE for _s, t, _l, _c in _entries(s0)):
            vols = _gpt_volumes(img, warns)
            if vols is None:
                warns.append("protective MBR (0xEE) but no GPT header found; DOS entries used")
                vols = _dos_volumes(img, s0, ss, total, warns)
        else:
            vols = _dos_volumes(img, s0, ss, total, warns)
    if vols is None:
        gpt = _gpt_volumes(img, warns) if fs0 == "unknown" else None
        vols = gpt if gpt else [Volume(0, 0, total, ss, "none", "whole disk (no partition table)", scheme="none")]
    n = 0
    for v in vols:
        if v.container:
            continue
        n += 1
        v.index = n
        v.fs, v.label, v.serial = identify_fs(img, v.offset)
    return vols


def primary_ntfs(volumes: list[Volume]) -> Volume | None:
    """The largest NTFS volume (the C: drive, as the seed workflow picks it), or None."""
    ntfs = [v for v in volumes if v.fs == "NTFS" and not v.container]
    return max(ntfs, key=lambda v: v.size) if ntfs else None
