"""Extraction: files and streams out of an NTFS volume, safely named, hashed and recorded; the triage collection.

Output names. Every path component from the evidence goes through ``safe_name``, so nothing can land outside
the output folder whatever the image holds. The scheme is percent-encoding, reversible with ``unsafe_name``:
- the characters Windows or POSIX refuse in a name (``/ \\ : * ? " < > |``, NUL and other control characters)
  become ``%XX`` (so the stream ``a.txt:Zone.Identifier`` is saved as ``a.txt%3AZone.Identifier``), and so does
  a ``%`` that would otherwise read as an escape (``%41``, ``%u0041``); a ``%`` that cannot
  (``Defender%4Operational.evtx``) stays as it is, so common names keep their usual spelling;
- unpaired UTF-16 surrogates (NTFS allows them) become ``%uXXXX``;
- ``.``/``..``, trailing dots and spaces, and reserved device names (``CON``, ``PRN``, ``AUX``, ``NUL``,
  ``COM0-9``, ``LPT0-9``, ``CONIN$``, ``CONOUT$``, also with an extension) get the offending character encoded
  (``CON.txt`` -> ``%43ON.txt``, ``a.`` -> ``a%2E``).
Two cases are not reversible from the name alone (the manifest keeps the original path for both): a name longer
than 240 UTF-8 bytes is cut and suffixed with ``~`` and 8 hex digits of its SHA-1; and a file whose output path
differs only in case from one already written (NTFS POSIX-namespace names can) is saved as ``stem~N.ext``, so
nothing is overwritten on a case-insensitive output disk.
A triage tree keeps the KAPE names for the metafile streams: ``$Extend/$J``, ``$Extend/$Max``, ``$Secure_$SDS``.

Every written file is hashed (MD5 + SHA-256) while it is written, made read-only, given the $SI modified and
accessed times, and listed in ``extract_manifest.csv`` (UTF-8 with BOM) with its original path, entry and
sequence, sizes, hashes and the 4 $SI + 4 $FN times (``yyyy-MM-dd HH:mm:ss.fffffff`` UTC). Executables keep
their bytes: nothing is renamed or defanged, so treat the output folder as live malware.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from ..artifacts.sources import glob_regex, triage_patterns
from ..timeutil import EPOCH_AS_FILETIME, fmt
from .image import EvidenceError, open_image
from .ntfs import FileInfo, NtfsError, NtfsFS, is_usn_j, norm_path, ntfs_volumes
from .volumes import primary_ntfs

Progress = Callable[[str, str], None]
MANIFEST = "extract_manifest.csv"
MAX_NAME_BYTES = 240

_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} | {f"{p}{i}" for p in ("COM", "LPT") for i in range(10)}
_RESERVED |= {f"{p}{d}" for p in ("COM", "LPT") for d in "\u00b9\u00b2\u00b3"}
_UNSAFE = set('/\\:*?"<>|') | {chr(i) for i in range(32)} | {"\x7f"}

# KAPE-style names for metafile streams in a triage tree (volume path, lower case -> output parts)
_KAPE_NAMES = {
    "$extend/$usnjrnl:$j": ["$Extend", "$J"],
    "$extend/$usnjrnl:$max": ["$Extend", "$Max"],
    "$secure:$sds": ["$Secure_$SDS"],
}


# never copied by ``extract PATH``: the bad-cluster map is a sparse stream as large as the volume itself
SKIP_EXTRACT = {"/$badclus:$bad": "bad-cluster map (sparse, as large as the volume)"}


def _quiet(stage: str, detail: str) -> None:
    return None


# --- names ------------------------------------------------------------------------------------------
_ESCAPE_LIKE = re.compile(r"%(?:u[0-9A-Fa-f]{4}|[0-9A-Fa-f]{2})")


def _enc(c: str) -> str:
    o = ord(c)
    if 0xD800 <= o <= 0xDFFF:
        return f"%u{o:04X}"
    return f"%{o:02X}"


_NEEDS_WORK = re.compile('[/\\\\:*?"<>|\x00-\x1f\x7f\ud800-\udfff%]|[. ]$')


@lru_cache(maxsize=1 << 16)
def safe_name(name: str) -> str:
    """One path component from the evidence, made safe to create on Windows, macOS and Linux (see above)."""
    if (name and not _NEEDS_WORK.search(name) and len(name) <= MAX_NAME_BYTES // 4
            and name.split(".", 1)[0].rstrip(" ").upper() not in _RESERVED):
        return name  # the common case: nothing to encode
    if name == "":
        return "%00"  # NTFS cannot hold an empty name; keep the row visible anyway
    out = [(_enc(c) if (c in _UNSAFE or 0xD800 <= ord(c) <= 0xDFFF) else c) for c in name]
    for m in _ESCAPE_LIKE.finditer(name):  # a literal "%" that an escape reader would misread
        out[m.start()] = "%25"
    # trailing dots and spaces (also covers "." and "..")
    i = len(out) - 1
    while i >= 0 and out[i] in (".", " "):
        out[i] = _enc(out[i])
        i -= 1
    s = "".join(out)
    stem = s.split(".", 1)[0].rstrip(" ").upper()
    if stem in _RESERVED:
        s = _enc(s[0]) + s[1:]
    if len(s.encode("utf-8")) > MAX_NAME_BYTES:
        digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        cut = s
        while len(cut.encode("utf-8")) > MAX_NAME_BYTES - 9:
            cut = cut[:-1]
        tail = re.search(r"%(u[0-9A-F]{0,3}|[0-9A-F]?)$", cut)  # never split an escape
        if tail:
            cut = cut[: tail.start()]
        while cut and cut[-1] in ". ":
            cut = cut[:-1]
        s = f"{cut}~{digest}"
    return s


def unsafe_name(safe: str) -> str:
    """Inverse of ``safe_name`` (except for cut over-long names)."""

    def rep(m: re.Match[str]) -> str:
        t = m.group(0)
        return chr(int(t[2:], 16)) if t[1] == "u" else chr(int(t[1:], 16))

    return _ESCAPE_LIKE.sub(rep, safe)


def safe_join(root: Path | str, parts: Iterable[str]) -> Path:
    """``root`` joined with sanitised components; raises ValueError if the result could leave ``root``."""
    return Path(_safe_join(os.path.abspath(root), parts))


def _safe_join(root_abs: str, parts: Iterable[str]) -> str:
    names = [safe_name(x) for x in parts]
    for n in names:  # safe_name guarantees this; checked again because it is the one thing that must hold
        if n in ("", ".", "..") or "/" in n or "\\" in n or (os.altsep and os.altsep in n) or ":" in n:
            raise ValueError(f"refusing a path component {n!r} under {root_abs}")
    return os.path.join(root_abs, *names)


# --- manifest ----------------------------------------------------------------------------------------
_MANIFEST_COLUMNS = [
    "Volume", "OriginalPath", "ExtractedPath", "EntryNumber", "SequenceNumber", "ParentEntryNumber",
    "ParentSequenceNumber", "InUse", "Stream", "FileSize", "BytesWritten", "SparseSkipped", "MD5", "SHA256",
    "Created0x10", "LastModified0x10", "LastRecordChange0x10", "LastAccess0x10",
    "Created0x30", "LastModified0x30", "LastRecordChange0x30", "LastAccess0x30", "Status",
]


class Manifest:
    """The sidecar CSV: one row per written file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            os.chmod(self.path, stat.S_IWUSR | stat.S_IRUSR)
        self._fh: IO[str] = open(self.path, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed in close()
        self._w = csv.writer(self._fh)
        self._w.writerow(_MANIFEST_COLUMNS)
        self.rows = 0

    def add(self, volume: str, info: FileInfo, extracted: str, written: int, skipped: int, md5: str, sha256: str,
            status: str) -> None:
        self._w.writerow([
            volume, info.path, extracted, info.entry, info.sequence, info.parent_entry, info.parent_sequence,
            not info.deleted, info.stream or "", info.size, written, skipped, md5, sha256,
            fmt(info.si_created), fmt(info.si_modified), fmt(info.si_mft_modified), fmt(info.si_accessed),
            fmt(info.fn_created), fmt(info.fn_modified), fmt(info.fn_mft_modified), fmt(info.fn_accessed), status,
        ])
        self.rows += 1

    def close(self) -> None:
        self._fh.close()


# --- writing files -------------------------------------------------------------------------------------
def _ticks_to_ns(t: int | None) -> int | None:
    return (t - EPOCH_AS_FILETIME) * 100 if t else None


def _open_new(dest: str, made: set[str] | None = None) -> int:
    """A fresh file at ``dest`` (an older copy is replaced; symlinks are never followed).

    ``made`` remembers the folders already created, to skip one mkdir per file."""
    parent = os.path.dirname(dest)
    if made is None or parent not in made:
        os.makedirs(parent, exist_ok=True)
        if made is not None:
            made.add(parent)
    if os.path.lexists(dest):
        if os.path.isdir(dest) and not os.path.islink(dest):
            raise OSError(f"{dest} is a directory")
        try:
            os.chmod(dest, stat.S_IWUSR | stat.S_IRUSR, follow_symlinks=False)
        except (NotImplementedError, OSError):
            pass
        os.unlink(dest)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    return os.open(dest, flags, 0o644)


def _finish(dest: str, info: FileInfo) -> None:
    m, a = _ticks_to_ns(info.si_modified), _ticks_to_ns(info.si_accessed)
    try:
        if m is not None:
            os.utime(dest, ns=(a if a is not None else m, m))
    except (OSError, OverflowError, ValueError):
        pass
    os.chmod(dest, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


_PARALLEL_MIN = 256 << 10
_POOL: tuple[int, ThreadPoolExecutor] | None = None  # (the process that made it, the pool)


def _hash_pool() -> ThreadPoolExecutor:
    """The hashing thread, one per process: a process forked from one that had it (``analyze`` collects in a
    forked process) inherits the pool object but not its thread, so it makes its own."""
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():
        _POOL = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="wintriage-md5"))
    return _POOL[1]


@dataclass
class _Written:
    dest: str
    written: int
    md5: str
    sha256: str


@dataclass
class Extractor:
    """Writes files of one volume below ``out_root`` and records them in ``manifest``."""

    fs: NtfsFS
    out_root: Path
    manifest: Manifest
    volume: str = ""
    files: int = 0
    bytes: int = 0
    warnings: list[str] = field(default_factory=list)
    done: dict[str, _Written] = field(default_factory=dict)
    made: set[str] = field(default_factory=set)
    copied: set[str] = field(default_factory=set)
    claimed: dict[str, str] = field(default_factory=dict)  # case-folded output path -> what was written there

    def _claim(self, dest: str, owner: str) -> str:
        """``dest``, or ``stem~N.ext`` when another file already took a name that differs only in case (NTFS
        POSIX-namespace names can; Windows and macOS output folders cannot hold both)."""
        folded = dest.casefold()
        if self.claimed.setdefault(folded, owner) == owner:
            return dest
        stem, ext = os.path.splitext(dest)
        n = 2
        while f"{stem}~{n}{ext}".casefold() in self.claimed:
            n += 1
        dest = f"{stem}~{n}{ext}"
        self.claimed[dest.casefold()] = owner
        self.warn(f"{owner.split(':', 1)[1]}: name differs only in case from another file; saved as {dest}")
        return dest

    def __post_init__(self) -> None:
        self.root_abs = os.path.abspath(self.out_root)
        self.base = os.path.abspath(self.manifest.path.parent)

    def warn(self, msg: str) -> None:
        self.warnings.append(msg)

    def rel(self, p: str) -> str:
        """``p`` relative to the manifest's folder, with ``/`` separators."""
        r = p[len(self.base) + 1:] if p.startswith(self.base + os.sep) else os.path.relpath(p, self.base)
        return r.replace(os.sep, "/")

    def write(self, info: FileInfo, parts: list[str], skip_sparse: bool | None = None) -> _Written | None:
        try:
            dest = _safe_join(self.root_abs, parts)
        except ValueError as e:
            self.warn(str(e))
            return None
        key = f"{info.entry}-{info.sequence}:{info.path}"
        if key in self.done:
            return self.done[key]
        dest = self._claim(dest, key)
        skip = is_usn_j(info.path) if skip_sparse is None else skip_sparse
        md5, sha = hashlib.md5(), hashlib.sha256()
        n = 0
        status = "ok"
        nwarn = len(self.fs.warnings)
        try:
            fd = _open_new(dest, self.made)
        except OSError as e:
            self.warn(f"{info.path}: cannot create {dest}: {e}")
            return None
        try:
            with os.fdopen(fd, "wb") as fo:
                for chunk in self.fs.read_chunks(info, skip_sparse=skip):
                    if len(chunk) >= _PARALLEL_MIN:  # MD5 on a helper thread while SHA-256 runs here
                        fut = _hash_pool().submit(md5.update, chunk)
                        sha.update(chunk)
                        fo.write(chunk)
                        fut.result()
                    else:
                        fo.write(chunk)
                        md5.update(chunk)
                        sha.update(chunk)
                    n += len(chunk)
        except (OSError, NtfsError) as e:
            self.warn(f"{info.path}: copy stopped after {n} bytes: {e}")
            status = "partial"
        if len(self.fs.warnings) > nwarn:
            self.warnings.extend(self.fs.warnings[nwarn:])
            status = "partial"
        skipped = info.size - n if skip and status == "ok" else 0
        if not skip and n != info.size and status == "ok":
            status = "partial"
            self.warn(f"{info.path}: {n} of {info.size} bytes read")
        _finish(dest, info)
        w = _Written(dest, n, md5.hexdigest(), sha.hexdigest())
        self.done[key] = w
        self.manifest.add(self.volume, info, self.rel(dest), n, skipped, w.md5, w.sha256, status)
        self.files += 1
        self.bytes += n
        return w

    def copy(self, src: _Written, info: FileInfo, parts: list[str]) -> None:
        """A second name for an already extracted file (REGA's ``<user>.NTUSER.DAT``)."""
        try:
            dest = self._claim(_safe_join(self.root_abs, parts), f"{info.entry}-{info.sequence}:{info.path}")
            if dest in self.copied:
                return
            fd = _open_new(dest, self.made)
            with os.fdopen(fd, "wb") as fo, open(src.dest, "rb") as fi:
                shutil.copyfileobj(fi, fo, 1 << 20)
        except (OSError, ValueError) as e:
            self.warn(f"{info.path}: cannot copy to {parts}: {e}")
            return
        _finish(dest, info)
        self.copied.add(dest)
        self.manifest.add(self.volume, info, self.rel(dest), src.written, 0, src.md5, src.sha256, "ok")
        self.files += 1
        self.bytes += src.written


def _result(ex: Extractor, manifest: Manifest, **extra: Any) -> dict[str, Any]:
    return {"files": ex.files, "bytes": ex.bytes, "manifest": str(manifest.path), "warnings": ex.warnings, **extra}


def _vol_parts(info: FileInfo) -> list[str]:
    """Output components of a listed file: its names from the root, the stream joined to the last one
    (``a/b.txt:s`` -> ["a", "b.txt:s"]; safe_name then encodes the colon and anything else unsafe)."""
    parts = list(info.parts) or norm_path(info.path)[0]
    if info.stream is not None and parts:
        parts[-1] = f"{parts[-1]}:{info.stream}"
    return parts


# --- extract PATH... -------------------------------------------------------------------------------------
def extract_paths(fs: NtfsFS, paths: list[str], out_dir: Path, deleted: bool = False) -> dict[str, Any]:
    """Files, directories (recursively) and streams, mirrored below ``out_dir`` by their volume path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(out_dir / MANIFEST)
    ex = Extractor(fs, out_dir, manifest, volume=str(fs.info.get("name", "")))
    skipped: list[str] = []
    try:
        for p in paths:
            try:
                rows: Iterable[FileInfo] = list(fs.walk(p, deleted=deleted))
            except NtfsError as e:
                ex.warn(str(e))
                continue
            for r in rows:
                if r.is_dir and r.stream is None:
                    try:
                        safe_join(out_dir, _vol_parts(r)).mkdir(parents=True, exist_ok=True)
                    except (OSError, ValueError) as e:
                        ex.warn(f"{r.path}: cannot create folder: {e}")
                    continue
                why = SKIP_EXTRACT.get(r.path.lower())
                if why:
                    skipped.append(f"{r.path}: {why}")
                    continue
                ex.write(r, _vol_parts(r))
    finally:
        manifest.close()
    return _result(ex, manifest, skipped=skipped)


# --- triage ------------------------------------------------------------------------------------------
def _has_glob(seg: str) -> bool:
    return any(c in seg for c in "*?[")


def resolve(fs: NtfsFS, pattern: str, max_depth: int = 32) -> Iterator[tuple[FileInfo, FileInfo]]:
    """(parent directory, match) for a triage pattern, listing only the directories the pattern needs."""
    parts, stream = norm_path(pattern)

    def descend(d: FileInfo, rest: list[str], depth: int) -> Iterator[tuple[FileInfo, FileInfo]]:
        if not rest or depth > max_depth:
            return
        seg, tail = rest[0], rest[1:]
        if seg == "**":
            yield from descend(d, tail, depth)
            for c in fs._children_of(d, False):
                if c.is_dir and c.stream is None:
                    yield from descend(c, rest, depth + 1)
            return
        if _has_glob(seg):
            rx = glob_regex(seg)
            kids = [c for c in fs._children_of(d, False) if rx.fullmatch(c.name)]
        else:
            c1 = fs.child(d, seg)
            kids = [c1] if c1 is not None else []
        for c in kids:
            if tail:
                if c.is_dir:
                    yield from descend(c, tail, depth + 1)
            elif stream is not None:
                for s in fs._streams(c):
                    if (s.stream or "").lower() == stream.lower():
                        yield d, s
            elif not c.is_dir:
                yield d, c

    yield from descend(fs.root(), parts, 0)


_USER_HIVES = {
    "ntuser.dat": "NTUSER.DAT",
    "usrclass.dat": "USRCLASS.DAT",
}


def _user_of(info: FileInfo) -> str | None:
    parts = info.parts or tuple(info.path.strip("/").split("/"))
    return parts[1] if len(parts) >= 3 and parts[0].lower() == "users" else None


def extract_triage(fs: NtfsFS, out_dir: Path, *, tag: str | None = None, manifest: Manifest | None = None,
                   progress: Progress = _quiet) -> dict[str, Any]:
    """The standard incident-response set as a KAPE-like tree ``<out_dir>/<tag>/<volume path>``.

    ``tag`` defaults to ``C`` for the primary (largest NTFS) volume and ``vol<N>`` for others."""
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    tag = tag or str(fs.info.get("name") or "C")
    own = manifest is None
    man = manifest or Manifest(out_dir / MANIFEST)
    ex = Extractor(fs, out_dir, man, volume=tag)
    root = out_dir / safe_name(tag)
    root.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    try:
        for pattern, companions in triage_patterns():
            for parent, info in resolve(fs, pattern):
                if info.path in taken:
                    continue
                progress("collect", f"{tag}: {info.path}")
                kape = _KAPE_NAMES.get(info.path.strip("/").lower())
                parts = [tag, *(kape or _vol_parts(info))]
                w = ex.write(info, parts)
                taken.add(info.path)
                comps: list[tuple[str, FileInfo, _Written | None]] = [("", info, w)]
                for suffix in companions:
                    ci = fs.child(parent, info.name + suffix)
                    if ci is None or ci.is_dir or ci.path in taken:
                        continue
                    cw = ex.write(ci, [tag, *_vol_parts(ci)])
                    taken.add(ci.path)
                    comps.append((suffix, ci, cw))
                user = _user_of(info)
                hive = _USER_HIVES.get(info.name.lower())
                if user and hive:
                    for suffix, ci, cw in comps:
                        if cw is not None:
                            ex.copy(cw, ci, [tag, "REGA", f"{user}.{hive}{suffix}"])
    finally:
        if own:
            man.close()
    return _result(ex, man, root=str(root), seconds=round(time.perf_counter() - t0, 3))


# --- analyze: every NTFS volume of the evidence -------------------------------------------------------------
@dataclass
class CollectedVolume:
    root: Path
    info: dict[str, Any]


def collect_evidence(evidence: Path, out_dir: Path, progress: Progress = _quiet) -> list[CollectedVolume]:
    """A folder is used in place; an image has every NTFS volume triage-collected into ``out_dir/<tag>``.

    The primary volume (largest NTFS) is tagged ``C`` with an empty label prefix; others ``vol<N>`` with the
    prefix ``vol<N>/`` (N = volume index as ``info`` shows it)."""
    evidence = Path(evidence)
    if evidence.is_dir():
        return [CollectedVolume(evidence, {"name": evidence.name, "prefix": "", "index": None, "offset": None,
                                           "size": None, "label": "", "serial": "", "primary": True,
                                           "source": "folder"})]
    out_dir = Path(out_dir)
    out: list[CollectedVolume] = []
    with open_image(evidence) as img:
        vols = ntfs_volumes(img)
        if not vols:
            raise EvidenceError(f"{evidence}: no NTFS volume found")
        primary = primary_ntfs(vols) or vols[0]
        out_dir.mkdir(parents=True, exist_ok=True)
        man = Manifest(out_dir / MANIFEST)
        try:
            for v in vols:
                is_primary = v is primary
                tag = "C" if is_primary else f"vol{v.index}"
                progress("collect", f"volume {v.index} ({tag}) at byte {v.offset}")
                info: dict[str, Any] = {"name": tag, "prefix": "" if is_primary else f"{tag}/", "index": v.index,
                                        "offset": v.offset, "size": v.size, "primary": is_primary}
                try:
                    fs = NtfsFS(img, v.offset, v.size, volume_info=info)
                except NtfsError as e:
                    progress("warning", str(e))
                    continue
                with fs:
                    res = extract_triage(fs, out_dir, tag=tag, manifest=man, progress=progress)
                info.update(label=fs.label, serial=fs.serial, files=res["files"], bytes=res["bytes"],
                            collect_warnings=res["warnings"][:50], seconds_collect=res["seconds"])
                out.append(CollectedVolume(Path(res["root"]), info))
        finally:
            man.close()
    out.sort(key=lambda c: not c.info["primary"])
    return out
