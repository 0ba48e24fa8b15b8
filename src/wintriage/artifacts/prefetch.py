"""Windows Prefetch (``Windows/Prefetch/*.pf``): versions 17, 23, 26, 30 (both variants) and 31.

Windows 10/11 files are MAM containers (LZXPRESS Huffman); they are decompressed with libfwnt and
then read with libscca. The volume directory strings are not exposed by libscca, so they come from
our own decoder of the volume section. When libscca cannot open a file at all, our own decoder
reads all of it instead of dropping it (``decoder`` column says which one did the work).

Tables: ``prefetch`` (one row per file, PECmd's main columns), ``prefetch_files`` (referenced
files with their MFT reference) and ``prefetch_runs`` (one row per run time: PECmd's timeline CSV).
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..model import Record, TimelineEvent
from ..timeutil import fmt
from ._shellitems import clean_text, safe_ft, source_times
from .base import CsvShape, ParseContext, col, tcol, to_json, user_from_path

NAME = "prefetch"
CATEGORY = "execution"

MAX_PF = 64 << 20  # a prefetch file is small; refuse to read absurd inputs fully

_RUN_COLS = [(f"previous_run{i}", "INTEGER") for i in range(7)]
_VOL_COLS = [c for i in range(2) for c in ((f"volume{i}_name", "TEXT"), (f"volume{i}_serial", "TEXT"),
                                          (f"volume{i}_created", "INTEGER"))]

TABLES: dict[str, list[tuple[str, str]]] = {
    "prefetch": [
        ("source_filename", "TEXT"),
        ("source_created", "INTEGER"),
        ("source_modified", "INTEGER"),
        ("source_accessed", "INTEGER"),
        ("executable_name", "TEXT"),
        ("header_name", "TEXT"),
        ("hash", "TEXT"),
        ("size", "INTEGER"),
        ("version", "INTEGER"),
        ("version_name", "TEXT"),
        ("compressed", "INTEGER"),
        ("run_count", "INTEGER"),
        ("last_run", "INTEGER"),
        *_RUN_COLS,
        ("run_times", "TEXT"),
        ("volume_count", "INTEGER"),
        *_VOL_COLS,
        ("volumes", "TEXT"),
        ("directories", "TEXT"),
        ("directory_count", "INTEGER"),
        ("files_loaded", "TEXT"),
        ("file_count", "INTEGER"),
        ("executable_path", "TEXT"),
        ("executable_rel_path", "TEXT"),  # executable_path without its VOLUME{..} or DEVICE prefix
        ("decoder", "TEXT"),
        ("parsing_error", "TEXT"),
    ],
    "prefetch_files": [
        ("source_filename", "TEXT"),
        ("executable_name", "TEXT"),
        ("hash", "TEXT"),
        ("idx", "INTEGER"),
        ("filename", "TEXT"),
        ("mft_entry", "INTEGER"),
        ("mft_sequence", "INTEGER"),
    ],
    "prefetch_runs": [
        ("run_time", "INTEGER"),
        ("executable_name", "TEXT"),
        ("executable_path", "TEXT"),
        ("executable_rel_path", "TEXT"),
        ("source_filename", "TEXT"),
        ("is_last_run", "INTEGER"),
    ],
}

VERSION_NAMES = {
    17: "Windows XP or Windows Server 2003",
    23: "Windows Vista or Windows 7",
    26: "Windows 8.0, Windows 8.1, or Windows Server 2012(R2)",
    30: "Windows 10 or Windows 11",
    31: "Windows 11",
}

CSV = {
    "prefetch": CsvShape(
        "PECmd_Output.csv",
        [
            col("SourceFilename", "source_filename"),
            tcol("SourceCreated", "source_created"),
            tcol("SourceModified", "source_modified"),
            tcol("SourceAccessed", "source_accessed"),
            col("ExecutableName", "executable_name"),
            col("Hash", "hash"),
            col("Size", "size"),
            col("Version", "version_name"),
            col("RunCount", "run_count"),
            tcol("LastRun", "last_run"),
            *[tcol(f"PreviousRun{i}", f"previous_run{i}") for i in range(7)],
            *[c for i in range(2) for c in (col(f"Volume{i}Name", f"volume{i}_name"),
                                            col(f"Volume{i}Serial", f"volume{i}_serial"),
                                            tcol(f"Volume{i}Created", f"volume{i}_created"))],
            col("Directories", "directories"),
            col("FilesLoaded", "files_loaded"),
            col("ParsingError", "parsing_error"),
        ],
    ),
    "prefetch_runs": CsvShape(
        "PECmd_Output_Timeline.csv",
        [tcol("RunTime", "run_time"), col("ExecutableName", "executable_path")],
    ),
}


class PrefetchError(ValueError):
    """The file is not a readable prefetch file; ``offset`` says where decoding failed."""

    def __init__(self, offset: int | None, reason: str) -> None:
        super().__init__(reason)
        self.offset = offset


@dataclass
class Volume:
    device_path: str
    serial: int
    created: int | None
    directories: list[str] = field(default_factory=list)
    file_references: int = 0


@dataclass
class PrefetchInfo:
    version: int
    header_name: str
    hash: int
    size: int
    run_count: int
    run_times: list[int]
    volumes: list[Volume]
    files: list[tuple[str, int]]  # (filename, raw 64-bit file reference or 0)
    compressed: bool = False
    decoder: str = "libscca"


# --- MAM container ----------------------------------------------------------------------------
def decompress(data: bytes) -> tuple[bytes, bool]:
    """Return (uncompressed SCCA bytes, was_compressed). Raises PrefetchError."""
    if data[:3] != b"MAM":
        return data, False
    if len(data) < 8:
        raise PrefetchError(0, f"MAM header needs 8 bytes, {len(data)} available")
    algo = data[3] & 0x0F
    start = 12 if data[3] & 0x80 else 8
    (usize,) = struct.unpack_from("<I", data, 4)
    if algo != 4:
        raise PrefetchError(3, f"MAM compression algorithm {algo} not supported (only 4: Xpress Huffman)")
    if usize < 84 or usize > MAX_PF:
        raise PrefetchError(4, f"MAM uncompressed size {usize} out of range")
    import pyfwnt

    try:
        out = pyfwnt.lzxpress_huffman_decompress(data[start:], usize)
    except (OSError, ValueError, MemoryError) as e:
        raise PrefetchError(start, f"MAM decompression failed ({len(data) - start} compressed bytes): {e}") from None
    if len(out) < 84:
        raise PrefetchError(start, f"MAM decompressed to {len(out)} bytes, header needs 84")
    return bytes(out), True


# --- our own decoder (also used for directory strings) -----------------------------------------
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


def _u32(d: bytes, off: int, what: str) -> int:
    try:
        return int(_U32.unpack_from(d, off)[0])
    except struct.error:
        raise PrefetchError(off, f"{what}: needs 4 bytes at {off}, file has {len(d)}") from None


def _u64(d: bytes, off: int, what: str) -> int:
    try:
        return int(_U64.unpack_from(d, off)[0])
    except struct.error:
        raise PrefetchError(off, f"{what}: needs 8 bytes at {off}, file has {len(d)}") from None


def _utf16z(d: bytes, off: int, max_bytes: int) -> str:
    raw = d[off: off + max_bytes]
    end = 0
    while end + 1 < len(raw):
        if raw[end] == 0 and raw[end + 1] == 0:
            break
        end += 2
    return clean_text(raw[:end].decode("utf-16-le", "surrogatepass"))


def _layout(version: int, d: bytes) -> tuple[int, int, int, int]:
    """(file-info size, run-count offset, number of run times, metrics entry size) for this version."""
    if version == 17:
        return 68, 84 + 60, 1, 20
    if version == 23:
        return 156, 84 + 68, 1, 32
    if version == 26:
        return 224, 84 + 124, 8, 32
    if version in (30, 31):
        metrics = _u32(d, 84, "metrics array offset")
        if metrics == 0x128:  # variant 2 (and version 31): run count right after the 8 run times + 8
            return 212, 84 + 116, 8, 32
        return 224, 84 + 124, 8, 32
    raise PrefetchError(0, f"unknown prefetch format version {version}")


def volumes_own(d: bytes, version: int, ctx: ParseContext | None = None) -> list[Volume]:
    vol_off = _u32(d, 84 + 24, "volumes information offset")
    nvol = _u32(d, 84 + 28, "number of volumes")
    vol_size = _u32(d, 84 + 32, "volumes information size")
    esize = 40 if version == 17 else 96 if version >= 30 else 104
    if vol_off > len(d) or nvol * esize > len(d) - vol_off:
        raise PrefetchError(84 + 24, f"volumes information at {vol_off} ({nvol} x {esize} bytes) beyond end {len(d)}")
    end = min(len(d), vol_off + vol_size) if vol_size else len(d)
    out = []
    for i in range(nvol):
        e = vol_off + i * esize
        p_off, p_chars = struct.unpack_from("<II", d, e)
        created = safe_ft(_u64(d, e + 8, "volume creation time"))
        serial = _u32(d, e + 16, "volume serial")
        fr_off, fr_n, ds_off, ds_n = struct.unpack_from("<IIII", d, e + 20)
        path = _utf16z(d, vol_off + p_off, min(p_chars, 32768) * 2 + 2) if p_off else ""
        dirs: list[str] = []
        pos = vol_off + ds_off
        for _ in range(min(ds_n, 65536)):
            if pos + 2 > end:
                if ctx:
                    ctx.warn(pos, f"volume {i}: directory string {len(dirs)} needs 2 bytes, section ends at {end}")
                break
            n = d[pos] | (d[pos + 1] << 8)
            if pos + 2 + n * 2 > end:
                if ctx:
                    ctx.warn(pos, f"volume {i}: directory string of {n} chars runs past section end {end}")
                break
            dirs.append(clean_text(d[pos + 2: pos + 2 + n * 2].decode("utf-16-le", "surrogatepass")))
            pos += 2 + n * 2 + 2
        out.append(Volume(path, serial, created, dirs, fr_n))
    return out


def decode_own(d: bytes, ctx: ParseContext | None = None) -> PrefetchInfo:
    """Decode uncompressed SCCA bytes without libscca."""
    if len(d) < 84:
        raise PrefetchError(0, f"prefetch header needs 84 bytes, {len(d)} available")
    if d[4:8] != b"SCCA":
        raise PrefetchError(4, f"no SCCA signature (found {d[4:8]!r})")
    version = _u32(d, 0, "format version")
    info_size, rc_off, nruns, msize = _layout(version, d)
    if len(d) < 84 + info_size:
        raise PrefetchError(84, f"file information needs {info_size} bytes at 84, file has {len(d)}")
    size = _u32(d, 12, "file size")
    name = _utf16z(d, 16, 60)
    phash = _u32(d, 76, "prefetch hash")
    m_off, m_n = struct.unpack_from("<II", d, 84)
    fs_off, fs_size = struct.unpack_from("<II", d, 84 + 16)
    first_run = 84 + 36 if version == 17 else 84 + 44
    runs = []
    for i in range(nruns):
        t = safe_ft(_u64(d, first_run + 8 * i, "run time"))
        if t:
            runs.append(t)
    run_count = _u32(d, rc_off, "run count")
    files: list[tuple[str, int]] = []
    if m_off > len(d) or m_n * msize > len(d) - m_off:
        raise PrefetchError(84, f"metrics array at {m_off} ({m_n} x {msize} bytes) beyond end {len(d)}")
    fs_end = min(len(d), fs_off + fs_size)
    for i in range(m_n):
        e = m_off + i * msize
        if version == 17:
            s_off, s_n = struct.unpack_from("<II", d, e + 8)
            ref = 0
        else:
            s_off, s_n = struct.unpack_from("<II", d, e + 12)
            ref = _u64(d, e + 24, "file reference")
        start = fs_off + s_off
        if start + s_n * 2 > fs_end:
            if ctx:
                ctx.warn(e, f"metrics entry {i}: filename ({s_n} chars at {start}) beyond strings end {fs_end}")
            continue
        files.append((clean_text(d[start: start + s_n * 2].decode("utf-16-le", "surrogatepass")), ref))
    vols = volumes_own(d, version, ctx)
    return PrefetchInfo(version, name, phash, size, run_count, runs, vols, files, decoder="own")


# --- libscca ----------------------------------------------------------------------------------
def decode_libscca(d: bytes, ctx: ParseContext) -> PrefetchInfo:
    import pyscca

    f = pyscca.file()
    f.open_file_object(io.BytesIO(d))
    try:
        version = int(f.format_version)
        nruns = 1 if version < 26 else 8
        runs = []
        for i in range(nruns):
            t = safe_ft(f.get_last_run_time_as_integer(i))
            if t:
                runs.append(t)
        files = []
        for i in range(f.number_of_file_metrics_entries):
            m = f.get_file_metrics_entry(i)
            files.append((clean_text(m.filename or ""), int(m.file_reference or 0)))
        vols = []
        for i in range(f.number_of_volumes):
            v = f.get_volume_information(i)
            vols.append(Volume(clean_text(v.device_path or ""), int(v.serial_number),
                               safe_ft(v.get_creation_time_as_integer())))
        info = PrefetchInfo(version, clean_text(f.executable_filename or ""), int(f.prefetch_hash), _u32(d, 12, "size"),
                            int(f.run_count), runs, vols, files)
    finally:
        f.close()
    try:  # directory strings: libscca does not expose them
        own = volumes_own(d, info.version, ctx)
        if len(own) == len(info.volumes):
            for v, o in zip(info.volumes, own, strict=True):
                v.directories = o.directories
                v.file_references = o.file_references
    except (PrefetchError, struct.error) as e:
        ctx.warn(getattr(e, "offset", None), f"directory strings unreadable: {e}", skipped=False)
    return info


def read_prefetch(data: bytes, ctx: ParseContext, *, force_own: bool = False) -> PrefetchInfo:
    d, compressed = decompress(data)
    info: PrefetchInfo | None = None
    if not force_own:
        try:
            info = decode_libscca(d, ctx)
        except (OSError, ValueError, struct.error) as e:
            ctx.warn(0, f"libscca could not read the file ({e}); using own decoder", skipped=False)
    if info is None:
        info = decode_own(d, ctx)
    info.compressed = compressed
    return info


# --- records ----------------------------------------------------------------------------------
def _base(p: str) -> str:
    return p.rsplit("\\", 1)[-1]


def resolve_executable(header_name: str, files: Iterable[str]) -> tuple[str, str]:
    """(full executable name, full path) from the referenced files: exact basename first, then a name
    the header truncated to 29 characters (version 31 and long names)."""
    hn = header_name.upper()
    files = list(files)
    for f in files:
        if _base(f).upper() == hn:
            return _base(f), f
    if hn:
        cands = [f for f in files if _base(f).upper().startswith(hn) and "." in _base(f)]
        exe = [f for f in cands if _base(f).upper().endswith((".EXE", ".COM", ".SCR", ".DLL"))]
        pick = exe or cands
        if pick:
            return _base(pick[0]), pick[0]
    return header_name, ""


def strip_volume(p: str) -> str:
    """``\\VOLUME{..}\\USERS\\X`` or ``\\DEVICE\\HARDDISKVOLUME2\\USERS\\X`` -> ``\\USERS\\X``."""
    parts = p.split("\\")
    if len(parts) > 2 and parts[1].upper().startswith("VOLUME{"):
        return "\\" + "\\".join(parts[2:])
    if len(parts) > 3 and parts[1].upper() == "DEVICE":
        return "\\" + "\\".join(parts[3:])
    return p


def parse(path: Path, ctx: ParseContext) -> Iterator[Record]:
    try:
        st = os.stat(path)
        if st.st_size > MAX_PF:
            ctx.warn(0, f"{st.st_size} bytes is too large for a prefetch file (limit {MAX_PF})")
            return
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as e:
        ctx.warn(None, f"cannot read: {e}")
        return
    src_mod, src_acc = source_times(st)
    yield from records_from_bytes(data, path.name, ctx, modified=src_mod, accessed=src_acc,
                                  force_own=bool(ctx.options.get("prefetch_own_decoder")))


def records_from_bytes(
    data: bytes, filename: str, ctx: ParseContext, *, created: int | None = None, modified: int | None = None,
    accessed: int | None = None, force_own: bool = False,
) -> Iterator[Record]:
    try:
        info = read_prefetch(data, ctx, force_own=force_own)
    except PrefetchError as e:
        ctx.warn(e.offset, f"not decodable: {e}")
        return
    except struct.error as e:
        ctx.warn(None, f"not decodable: {e}")
        return
    names = [f for f, _ in info.files]
    exe_name, exe_path = resolve_executable(info.header_name, names)
    hash_hex = f"{info.hash:08X}"
    runs = sorted(set(info.run_times), reverse=True)
    row: dict[str, Any] = {
        "source_filename": filename,
        "source_created": created,
        "source_modified": modified,
        "source_accessed": accessed,
        "executable_name": exe_name,
        "header_name": info.header_name,
        "hash": hash_hex,
        "size": info.size,
        "version": info.version,
        "version_name": VERSION_NAMES.get(info.version, str(info.version)),
        "compressed": int(info.compressed),
        "run_count": info.run_count,
        "last_run": runs[0] if runs else None,
        "run_times": to_json([fmt(t) for t in runs]),
        "volume_count": len(info.volumes),
        "volumes": to_json([
            {"device_path": v.device_path, "serial": f"{v.serial:08X}", "created": fmt(v.created),
             "directories": len(v.directories), "file_references": v.file_references}
            for v in info.volumes
        ]),
        "directories": ", ".join(d for v in info.volumes for d in v.directories),
        "directory_count": sum(len(v.directories) for v in info.volumes),
        "files_loaded": ", ".join(names),
        "file_count": len(names),
        "executable_path": exe_path,
        "executable_rel_path": strip_volume(exe_path) if exe_path else "",
        "decoder": info.decoder,
        "parsing_error": "",
    }
    for i in range(7):
        row[f"previous_run{i}"] = runs[i + 1] if i + 1 < len(runs) else None
    for i in range(2):
        v = info.volumes[i] if i < len(info.volumes) else None
        row[f"volume{i}_name"] = v.device_path if v else None
        row[f"volume{i}_serial"] = f"{v.serial:08X}" if v else None
        row[f"volume{i}_created"] = v.created if v else None
    yield Record("prefetch", row)
    for i, (fname, ref) in enumerate(info.files):
        yield Record("prefetch_files", {
            "source_filename": filename, "executable_name": exe_name, "hash": hash_hex, "idx": i,
            "filename": fname, "mft_entry": (ref & 0xFFFFFFFFFFFF) if ref else None,
            "mft_sequence": (ref >> 48) if ref else None,
        })
    for j, t in enumerate(runs):
        yield Record("prefetch_runs", {"run_time": t, "executable_name": exe_name,
                                       "executable_path": exe_path or exe_name,
                                       "executable_rel_path": strip_volume(exe_path) if exe_path else "",
                                       "source_filename": filename,
                                       "is_last_run": int(j == 0)})


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    if rec.table != "prefetch_runs":
        return ()
    d = rec.data
    path = d.get("executable_path") or d.get("executable_name") or ""
    last = bool(d.get("is_last_run"))
    return (TimelineEvent(
        d["run_time"], "Last Run" if last else "Run", path,
        f"{d.get('executable_name')} executed ({'last run' if last else 'previous run'}; prefetch {d.get('source_filename')})",
        user_from_path(strip_volume(path).lstrip("\\")).lower(),  # prefetch paths are upper-case
    ),)
