"""Downloads: browser downloads (with their redirect chains), Zone.Identifier streams and the file system,
joined to execution evidence, so every file that arrived from the internet has its origin and its runs."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from ..store.case import ident
from .common import ARCHIVE_EXTS, EXEC_EXTS, basename, columns, ext_of, norm_path, pick, tables, win_path
from .execution import Run


@dataclass
class Download:
    file_path: str
    file_name: str
    url: str = ""  # final URL (end of the redirect chain) = Zone.Identifier HostUrl
    url_chain: list[str] = field(default_factory=list)
    referrer: str = ""
    tab_url: str = ""
    start: int | None = None
    end: int | None = None
    size: int | None = None
    browser: str = ""
    user: str = ""
    zone_id: str = ""
    zone_host_url: str = ""
    zone_referrer: str = ""
    refs: list[tuple[str, int, str]] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)  # executions of the file (or of what it unpacked to)
    executed_path: str = ""

    @property
    def key(self) -> str:
        return norm_path(self.file_path)

    @property
    def first_exec(self) -> int | None:
        return min((r.ts for r in self.runs), default=None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "file_path": win_path(self.file_path),
            "file_name": self.file_name,
            "download_url": self.url,
            "url_chain": self.url_chain,
            "referrer": self.referrer,
            "tab_url": self.tab_url,
            "downloaded": self.start,
            "download_end": self.end,
            "size": self.size,
            "browser": self.browser,
            "user": self.user,
            "zone_id": self.zone_id,
            "zone_host_url": self.zone_host_url,
            "zone_referrer_url": self.zone_referrer,
            "executed": self.first_exec,
            "executed_path": win_path(self.executed_path) if self.executed_path else "",
            "runs": len(self.runs),
        }


def _json_list(v: Any) -> list[str]:
    if not v:
        return []
    if isinstance(v, list):
        return [str(x) for x in v]
    try:
        x = json.loads(v)
        return [str(i) for i in x] if isinstance(x, list) else [str(x)]
    except (ValueError, TypeError):
        return [s for s in str(v).replace("\r", "\n").split("\n") if s]


def collect(con: sqlite3.Connection) -> list[Download]:
    have = tables(con)
    out: dict[str, Download] = {}
    if "browser_downloads" in have:
        c = columns(con, "browser_downloads")
        col = {k: pick(c, *v) for k, v in {
            "path": ("target_path", "current_path", "path"), "url": ("final_url", "url", "download_url"),
            "chain": ("url_chain", "chain"), "ref": ("referrer", "referrer_url"), "tab": ("tab_url",),
            "start": ("start_time", "start"), "end": ("end_time", "end"),
            "size": ("total_bytes", "received_bytes", "size"), "browser": ("browser",), "user": ("user",),
        }.items()}
        if col["path"]:
            sel = ", ".join(ident(v) if v else "NULL" for v in col.values())
            for row in con.execute(f"SELECT id, {sel} FROM browser_downloads ORDER BY id"):
                rid, path, url, chain, ref, tab, start, end, size, browser, user = row
                if not path:
                    continue
                chain_l = _json_list(chain)
                d = Download(path, basename(path), url=(chain_l[-1] if chain_l else url) or "", url_chain=chain_l or ([url] if url else []),
                             referrer=ref or "", tab_url=tab or "", start=start, end=end, size=size,
                             browser=browser or "", user=user or "")
                d.refs.append(("browser_downloads", rid, "browser download record"))
                prev = out.get(d.key)
                if prev is None or (d.start or 0) > (prev.start or 0):
                    out[d.key] = d
    if "zone_identifier" in have:
        c = columns(con, "zone_identifier")
        col = {k: pick(c, *v) for k, v in {
            "path": ("path", "full_path", "file_path"), "zone": ("zone_id", "zoneid"),
            "host": ("host_url", "hosturl"), "ref": ("referrer_url", "referrerurl"),
        }.items()}
        if col["path"]:
            sel = ", ".join(ident(v) if v else "NULL" for v in col.values())
            for rid, path, zone, host, ref in con.execute(f"SELECT id, {sel} FROM zone_identifier"):
                p = (path or "").split(":Zone.Identifier")[0]
                k = norm_path(p)
                z = out.get(k)
                if z is None:
                    z = Download(p, basename(p), url=host or "", url_chain=[host] if host else [], referrer=ref or "")
                    out[k] = z
                z.zone_id = str(zone or "")
                z.zone_host_url = host or ""
                z.zone_referrer = ref or ""
                if not z.url and host:
                    z.url = host
                z.refs.append(("zone_identifier", rid, "Zone.Identifier stream"))
    return list(out.values())


def attach_runs(downloads: list[Download], runs: list[Run]) -> None:
    """Executions of each downloaded file; for an archive, executions of programs unpacked next to it."""
    by_key: dict[str, list[Run]] = {}
    for r in runs:
        by_key.setdefault(r.key, []).append(r)
    for d in downloads:
        ext = ext_of(d.file_name)
        if d.key in by_key:
            d.runs = by_key[d.key]
            d.executed_path = d.file_path
        elif ext in ARCHIVE_EXTS:
            folder = d.key[: d.key.rfind("\\") + 1]
            stem = d.file_name[: len(d.file_name) - len(ext)].lower()
            cands = [r for k, rs in by_key.items() for r in rs
                     if k.startswith(folder + stem + "\\") or (k.startswith(folder) and stem in k[len(folder):])]
            cands = [r for r in cands if d.start is None or r.ts >= d.start]
            if cands:
                d.runs = sorted(cands, key=lambda r: r.ts)
                d.executed_path = d.runs[0].path


def is_executable(d: Download) -> bool:
    return ext_of(d.file_name) in EXEC_EXTS or bool(d.runs)
