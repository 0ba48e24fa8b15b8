"""Which files feed which parser: the one declarative table.

Patterns are ``/``-separated, relative to a volume root (or to a triage folder, which mirrors it),
matched case-insensitively; ``*`` stays inside one path segment, ``**`` spans any number of them.
``$Extend/$UsnJrnl:$J`` is an alternate data stream; a triage folder stores it KAPE-style as
``$Extend/$J``, so both spellings are listed. The order of the table is the order of parsing:
``mft`` first, because later parsers resolve paths through it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_PROFILE = "Users/*"
_APPDATA_LOCAL = _PROFILE + "/AppData/Local"
_APPDATA_ROAMING = _PROFILE + "/AppData/Roaming"


@dataclass(frozen=True)
class Source:
    artifact: str
    patterns: tuple[str, ...]
    companions: tuple[str, ...] = ()  # suffixes collected next to a match (hive logs, SQLite WAL)


SOURCES: tuple[Source, ...] = (
    Source("mft", ("$MFT",)),
    Source("usnjrnl", ("$Extend/$UsnJrnl:$J", "$Extend/$J", "$J")),
    Source("logfile", ("$LogFile",)),
    Source(
        "registry",
        (
            "Windows/System32/config/SYSTEM",
            "Windows/System32/config/SOFTWARE",
            "Windows/System32/config/SAM",
            "Windows/System32/config/SECURITY",
            "Windows/System32/config/DEFAULT",
            "Windows/AppCompat/Programs/Amcache.hve",
            _PROFILE + "/NTUSER.DAT",
            _APPDATA_LOCAL + "/Microsoft/Windows/UsrClass.dat",
        ),
        companions=(".LOG", ".LOG1", ".LOG2"),
    ),
    Source("evtx", ("Windows/System32/winevt/Logs/*.evtx", "**/*.evtx")),  # any other .evtx too (exported logs)
    Source("prefetch", ("Windows/Prefetch/*.pf",)),
    Source(
        "lnk",
        (
            _APPDATA_ROAMING + "/Microsoft/Windows/Recent/*.lnk",
            _APPDATA_ROAMING + "/Microsoft/Office/Recent/*.lnk",
            _PROFILE + "/Desktop/*.lnk",
            _APPDATA_ROAMING + "/Microsoft/Windows/Start Menu/**/*.lnk",
            _PROFILE + "/**/*.lnk",  # every other shortcut in a user profile
            "ProgramData/Microsoft/Windows/Start Menu/**/*.lnk",
        ),
    ),
    Source(
        "jumplist",
        (
            _APPDATA_ROAMING + "/Microsoft/Windows/Recent/AutomaticDestinations/*.automaticDestinations-ms",
            _APPDATA_ROAMING + "/Microsoft/Windows/Recent/CustomDestinations/*.customDestinations-ms",
        ),
    ),
    Source("recyclebin", ("$Recycle.Bin/*/$I*",)),
    Source(
        "browser",
        (
            _APPDATA_LOCAL + "/Google/Chrome/User Data/*/History",
            _APPDATA_LOCAL + "/Microsoft/Edge/User Data/*/History",
            _APPDATA_LOCAL + "/Chromium/User Data/*/History",
            _APPDATA_LOCAL + "/BraveSoftware/Brave-Browser/User Data/*/History",
            _APPDATA_ROAMING + "/Mozilla/Firefox/Profiles/*/places.sqlite",
            _APPDATA_ROAMING + "/Mozilla/Firefox/Profiles/*/downloads.sqlite",
        ),
        companions=("-wal", "-journal"),
    ),
)

# Extra files a triage collection keeps for the analyst although no parser reads them yet.
TRIAGE_EXTRA: tuple[str, ...] = (
    "$Extend/$UsnJrnl:$Max",
    "$Boot",
    "$Secure:$SDS",
    "Windows/System32/config/RegBack/*",
    "Windows/System32/sru/SRUDB.dat",
    "Windows/System32/Tasks/**/*",
    "Windows/Tasks/*",
    "Windows/appcompat/pca/*",
    _APPDATA_LOCAL + "/Google/Chrome/User Data/*/Cookies",
    _APPDATA_LOCAL + "/Google/Chrome/User Data/*/Network/Cookies",
    _APPDATA_LOCAL + "/Google/Chrome/User Data/*/Login Data",
    _APPDATA_LOCAL + "/Google/Chrome/User Data/*/Web Data",
    _APPDATA_LOCAL + "/Microsoft/Edge/User Data/*/Cookies",
    _APPDATA_LOCAL + "/Microsoft/Edge/User Data/*/Network/Cookies",
    _APPDATA_LOCAL + "/Microsoft/Edge/User Data/*/Login Data",
    _APPDATA_ROAMING + "/Mozilla/Firefox/Profiles/*/cookies.sqlite",
    _APPDATA_ROAMING + "/Mozilla/Firefox/Profiles/*/formhistory.sqlite",
    _APPDATA_ROAMING + "/Microsoft/Windows/PowerShell/PSReadLine/ConsoleHost_history.txt",
)


@lru_cache(maxsize=512)
def glob_regex(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:[^/]+/)*")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        out.append("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def match(rel_path: str, pattern: str) -> bool:
    return glob_regex(pattern).fullmatch(rel_path.replace("\\", "/").strip("/")) is not None


def artifact_for(rel_path: str) -> str | None:
    """The artefact whose table lists this path, or None."""
    for src in SOURCES:
        if any(match(rel_path, p) for p in src.patterns):
            return src.artifact
    return None


def triage_patterns() -> list[tuple[str, tuple[str, ...]]]:
    """Every pattern a triage collection extracts, with the companion suffixes to take alongside."""
    out = [(p, s.companions) for s in SOURCES for p in s.patterns]
    out += [(p, ()) for p in TRIAGE_EXTRA]
    return out
