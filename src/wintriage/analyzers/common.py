"""Helpers shared by analyzers: table/column discovery, path normalisation, execution evidence."""

from __future__ import annotations

import ntpath
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..store.case import ident

TICKS_PER_SECOND = 10_000_000
MINUTE = 60 * TICKS_PER_SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

# USN reason flags
USN_DATA_OVERWRITE = 0x1
USN_DATA_EXTEND = 0x2
USN_DATA_TRUNCATION = 0x4
USN_FILE_CREATE = 0x100
USN_FILE_DELETE = 0x200
USN_RENAME_OLD = 0x1000
USN_RENAME_NEW = 0x2000
USN_BASIC_INFO = 0x8000
USN_CLOSE = 0x80000000
USN_WRITE = USN_DATA_OVERWRITE | USN_DATA_EXTEND | USN_DATA_TRUNCATION

EXEC_EXTS = {".exe", ".dll", ".scr", ".com", ".bat", ".cmd", ".ps1", ".vbs", ".js", ".jse", ".hta", ".msi",
             ".pif", ".cpl", ".jar", ".lnk", ".wsf"}
ARCHIVE_EXTS = {".zip", ".rar", ".7z", ".iso", ".img", ".cab", ".gz", ".tar"}
SYSTEM_DIRS = ("\\windows\\", "\\program files\\", "\\program files (x86)\\", "\\programdata\\microsoft\\")
USER_WRITABLE = ("\\users\\", "\\programdata\\", "\\temp\\", "\\appdata\\", "\\$recycle.bin\\", "\\perflogs\\",
                 "\\windows\\temp\\")
LOLBINS = {"cmd.exe", "powershell.exe", "pwsh.exe", "vssadmin.exe", "wmic.exe", "wbadmin.exe", "bcdedit.exe",
           "conhost.exe", "rundll32.exe", "regsvr32.exe", "mshta.exe", "cscript.exe", "wscript.exe", "schtasks.exe",
           "net.exe", "net1.exe", "taskkill.exe", "icacls.exe", "attrib.exe", "reg.exe", "sc.exe", "explorer.exe",
           "svchost.exe", "dllhost.exe", "taskhostw.exe", "wevtutil.exe", "fsutil.exe", "cipher.exe"}


def tables(con: sqlite3.Connection) -> set[str]:
    return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type IN ('table','view')")}


def columns(con: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in con.execute(f"PRAGMA table_info({ident(table)})")]


def pick(cols: Iterable[str], *candidates: str) -> str | None:
    """First candidate column present (case-insensitive)."""
    low = {c.lower(): c for c in cols}
    for c in candidates:
        if c.lower() in low:
            return low[c.lower()]
    return None


_PREFIXES = re.compile(
    r"^(?:\.(?=\\))?(?:\\\\\?\\|\\\?\?\\)?(?:\\device\\harddiskvolume\d+|\\?volume\{[0-9a-f-]+\})?", re.IGNORECASE
)


def _strip(p: str) -> str:
    r"""Quotes, ``/``, and the prefixes that name a volume rather than a folder: ``.\``, ``\\?\``, ``\??\``,
    ``\Device\HarddiskVolumeN``, ``\VOLUME{guid}``."""
    return _PREFIXES.sub("", p.strip().strip('"').replace("/", "\\"), count=1)


def norm_path(p: str | None) -> str:
    """Windows-style, no drive, no device prefix, lower-case: the join key across artefacts.

    ``\\Device\\HarddiskVolume2\\Users\\a.exe``, ``C:\\Users\\a.exe``, ``/Users/a.exe``,
    ``\\??\\C:\\Users\\a.exe``, ``\\\\?\\C:\\...`` and ``Users/a.exe`` all become ``\\users\\a.exe``.
    """
    if not p:
        return ""
    s = re.sub(r"^[a-zA-Z]:", "", _strip(p))
    return (s if s.startswith("\\") else "\\" + s).lower()


def win_path(p: str | None, drive: str = "C:") -> str:
    """Display form ``C:\\Users\\...`` (original case kept)."""
    if not p:
        return ""
    s = _strip(p)
    if re.match(r"^[a-zA-Z]:", s):
        return s
    return drive + (s if s.startswith("\\") else "\\" + s)


def basename(p: str | None) -> str:
    return ntpath.basename((p or "").replace("/", "\\"))


def ext_of(name: str) -> str:
    i = name.rfind(".")
    return name[i:].lower() if i > 0 else ""


def is_user_writable(p: str) -> bool:
    n = norm_path(p)
    return any(d in n for d in USER_WRITABLE) and not n.startswith("\\windows\\system32")


def is_system_path(p: str) -> bool:
    n = norm_path(p)
    return n.startswith(SYSTEM_DIRS) or any(n.startswith(d) for d in SYSTEM_DIRS)


@dataclass
class Execution:
    """One piece of execution evidence."""

    path: str  # as the source gives it
    name: str  # lower-case file name
    ts: int | None
    source: str  # prefetch | userassist | bam | amcache | shimcache | evtx-4688 | sysmon-1 | lnk | jumplist
    kind: str  # "run" (this time is a run), "last_run", "first_seen", "modified"
    ref_table: str
    ref_id: int
    count: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return norm_path(self.path) or self.name

# Which source spells a path best (original case, no device prefix): lower index wins.
PATH_QUALITY = ("bam", "userassist", "evtx-4688", "sysmon-1", "amcache", "shimcache", "prefetch")


def best_path(paths: list[tuple[str, str]]) -> str:
    """From (source, path) pairs, the path as the most faithful source spells it."""
    full = [(PATH_QUALITY.index(src) if src in PATH_QUALITY else 99, p) for src, p in paths if p and ("\\" in p or "/" in p)]
    if not full:
        return next((p for _s, p in paths if p), "")
    return min(full)[1]
