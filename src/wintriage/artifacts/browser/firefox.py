"""Firefox ``places.sqlite`` (visits, bookmarks, bookmark annotations, moz_annos download annotations)
and the old ``downloads.sqlite`` (moz_downloads). PRTime = µs since 1970."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...model import Record
from ...timeutil import from_unix_us
from ..base import ParseContext
from . import base_fields, columns, open_copy, pick, tables
from .chromium import _rows

VISIT_TYPES = {
    1: "LINK", 2: "TYPED", 3: "BOOKMARK", 4: "EMBED", 5: "REDIRECT_PERMANENT", 6: "REDIRECT_TEMPORARY",
    7: "DOWNLOAD", 8: "FRAMED_LINK", 9: "RELOAD",
}
DOWNLOAD_STATES = {
    -1: "Not Started", 0: "Downloading", 1: "Complete", 2: "Failed", 3: "Cancelled", 4: "Paused", 5: "Queued",
    6: "Blocked (Parental)", 7: "Scanning", 8: "Blocked (Policy)", 9: "Dirty",
}


def prtime(v: Any) -> int | None:
    if not isinstance(v, int) or v <= 0:
        return None
    t = from_unix_us(v)
    return t if t is not None and t < 2650467743999999999 else None


def _host(rev_host: str | None) -> str:
    return rev_host[::-1].lstrip(".") if rev_host else ""


def parse_db(con: sqlite3.Connection, have: set[str], label: str, ctx: ParseContext) -> Iterator[Record]:
    base = base_fields(label, "firefox")
    sections = [_visits, _bookmarks, _anno_downloads] if "moz_places" in have else []
    for section in sections:  # one broken table does not stop the others
        try:
            yield from section(con, have, base, ctx)
        except (sqlite3.Error, ValueError) as e:
            ctx.warn(None, f"{section.__name__.strip('_')}: unreadable: {e}")
    if "moz_downloads" in have:
        try:
            yield from _old_downloads(con, base, ctx)
        except (sqlite3.Error, ValueError) as e:
            ctx.warn(None, f"moz_downloads: unreadable: {e}")


def _visits(con: sqlite3.Connection, have: set[str], base: dict[str, Any], ctx: ParseContext) -> Iterator[Record]:
    if "moz_historyvisits" not in have:
        return
    pc, hc = columns(con, "moz_places"), columns(con, "moz_historyvisits")
    sql = (
        f"SELECT v.id, v.place_id, v.visit_date, p.url, p.{pick(pc, 'title')}, p.{pick(pc, 'rev_host')},"
        f" p.{pick(pc, 'visit_count')}, p.{pick(pc, 'typed')}, p.{pick(pc, 'last_visit_date')}, p.{pick(pc, 'hidden')},"
        f" v.{pick(hc, 'from_visit')}, v.{pick(hc, 'visit_type')}"
        " FROM moz_historyvisits v LEFT JOIN moz_places p ON p.id = v.place_id ORDER BY v.id"
    ).replace("p.NULL", "NULL").replace("v.NULL", "NULL")
    for vid, pid, vt, url, title, rev, vcount, typed, last, hidden, frm, vtype in _rows(con, sql, ctx, "visits"):
        d = dict(base)
        d.update(
            visit_id=vid, url_id=pid, visit_time=prtime(vt), url=url, title=title, host=_host(rev),
            visit_count=vcount, typed_count=typed, last_visit_time=prtime(last), hidden=hidden, from_visit=frm,
            transition=vtype, transition_core=VISIT_TYPES.get(vtype, "" if vtype is None else str(vtype)),
            transition_qualifiers="", visit_duration_us=None, visit_source="",
        )
        yield Record("browser_visits", d)


def _bookmarks(con: sqlite3.Connection, have: set[str], base: dict[str, Any], ctx: ParseContext) -> Iterator[Record]:
    if "moz_bookmarks" not in have:
        return
    bc = columns(con, "moz_bookmarks")
    sql = (
        f"SELECT b.type, b.title, p.url, f.title, b.{pick(bc, 'dateAdded')}, b.{pick(bc, 'lastModified')}"
        " FROM moz_bookmarks b LEFT JOIN moz_places p ON p.id = b.fk LEFT JOIN moz_bookmarks f ON f.id = b.parent"
        " WHERE b.type IN (1, 2) ORDER BY b.id"
    ).replace("b.NULL", "NULL")
    for btype, title, url, folder, added, modified in _rows(con, sql, ctx, "bookmarks"):
        d = dict(base)
        d.update(kind="bookmark" if btype == 1 else "folder", title=title, url=url if btype == 1 else None,
                 folder=folder, content=None, added=prtime(added), modified=prtime(modified))
        yield Record("browser_bookmarks", d)
    if "moz_items_annos" in have:
        ac = columns(con, "moz_items_annos")
        attr = "LEFT JOIN moz_anno_attributes a ON a.id = n.anno_attribute_id" if "moz_anno_attributes" in have else ""
        sql = (
            f"SELECT {'a.name' if attr else 'NULL'}, n.{pick(ac, 'content')}, n.{pick(ac, 'dateAdded')},"
            f" n.{pick(ac, 'lastModified')}, b.title, p.url"
            f" FROM moz_items_annos n JOIN moz_bookmarks b ON b.id = n.item_id JOIN moz_places p ON p.id = b.fk {attr}"
            " ORDER BY n.id"
        ).replace("n.NULL", "NULL")
        for name, content, added, modified, title, url in _rows(con, sql, ctx, "bookmark annotations"):
            d = dict(base)
            d.update(kind="annotation", title=title, url=url, folder=name, content=content, added=prtime(added),
                     modified=prtime(modified))
            yield Record("browser_bookmarks", d)


def _empty_download(base: dict[str, Any]) -> dict[str, Any]:
    d = dict(base)
    for k in ("guid", "current_path", "danger_type", "danger_name", "interrupt_reason", "interrupt_name", "opened",
              "last_access_time", "site_url", "tab_url", "tab_referrer_url", "original_mime_type", "hash",
              "by_ext_name", "total_bytes", "received_bytes", "end_time", "referrer", "mime_type"):
        d[k] = None
    return d


def _anno_downloads(con: sqlite3.Connection, have: set[str], base: dict[str, Any], ctx: ParseContext) -> Iterator[Record]:
    """Firefox >= 26: a download is a moz_places row with downloads/* annotations in moz_annos."""
    if "moz_annos" not in have or "moz_anno_attributes" not in have:
        return
    ac = columns(con, "moz_annos")
    sql = (
        f"SELECT n.place_id, a.name, n.content, n.{pick(ac, 'dateAdded')}, n.{pick(ac, 'lastModified')}, p.url"
        " FROM moz_annos n JOIN moz_anno_attributes a ON a.id = n.anno_attribute_id"
        " LEFT JOIN moz_places p ON p.id = n.place_id WHERE a.name LIKE 'downloads/%' ORDER BY n.place_id, n.id"
    ).replace("n.NULL", "NULL")
    per: dict[int, dict[str, Any]] = {}
    for pid, name, content, added, _mod, url in _rows(con, sql, ctx, "download annotations"):
        e = per.setdefault(pid, {"url": url})
        if name == "downloads/destinationFileURI":
            e["target"] = content
            e["start"] = prtime(added)
        elif name == "downloads/destinationFileName":
            e.setdefault("target_name", content)
        elif name == "downloads/metaData":
            try:
                meta = json.loads(content) if isinstance(content, str) else {}
            except ValueError:
                ctx.warn(None, f"place {pid}: downloads/metaData is not JSON", skipped=False)
                meta = {}
            e["meta"] = meta if isinstance(meta, dict) else {}
    for pid, e in per.items():
        meta = e.get("meta", {})
        d = _empty_download(base)
        end_ms = meta.get("endTime")
        state = meta.get("state")
        d.update(
            download_id=pid, url=e.get("url"), final_url=e.get("url"), url_chain=json.dumps([e.get("url")]),
            target_path=e.get("target") or e.get("target_name"), start_time=e.get("start"),
            end_time=prtime(int(end_ms) * 1000) if isinstance(end_ms, (int, float)) else None,
            total_bytes=meta.get("fileSize"), received_bytes=meta.get("fileSize"), state=state,
            state_name=DOWNLOAD_STATES.get(state, "" if state is None else str(state)),
        )
        yield Record("browser_downloads", d)


def _old_downloads(con: sqlite3.Connection, base: dict[str, Any], ctx: ParseContext) -> Iterator[Record]:
    dc = columns(con, "moz_downloads")
    want = ["id", "name", "source", "target", "tempPath", "startTime", "endTime", "state", "referrer", "currBytes",
            "maxBytes", "mimeType"]
    sql = "SELECT " + ", ".join(c if c in dc else "NULL" for c in want) + " FROM moz_downloads ORDER BY id"
    for row in _rows(con, sql, ctx, "moz_downloads"):
        r = dict(zip(want, row, strict=True))
        d = _empty_download(base)
        d.update(
            download_id=r["id"], url=r["source"], final_url=r["source"], url_chain=json.dumps([r["source"]]),
            target_path=r["target"], current_path=r["tempPath"], start_time=prtime(r["startTime"]),
            end_time=prtime(r["endTime"]), received_bytes=r["currBytes"], total_bytes=r["maxBytes"], state=r["state"],
            state_name=DOWNLOAD_STATES.get(r["state"], "" if r["state"] is None else str(r["state"])),
            referrer=r["referrer"], mime_type=r["mimeType"],
        )
        yield Record("browser_downloads", d)


def parse_cookies(con: sqlite3.Connection, label: str, ctx: ParseContext) -> Iterator[Record]:
    """moz_cookies metadata (no values): creationTime/lastAccessed in µs, expiry in seconds (ms in 2023+)."""
    base = base_fields(label, "firefox")
    cc = columns(con, "moz_cookies")
    sql = (f"SELECT {pick(cc, 'host')}, {pick(cc, 'name')}, {pick(cc, 'path')}, {pick(cc, 'creationTime')},"
           f" {pick(cc, 'lastAccessed')}, {pick(cc, 'expiry')}, {pick(cc, 'isSecure')}, {pick(cc, 'isHttpOnly')}"
           " FROM moz_cookies")
    for host, name, path, created, accessed, expiry, secure, httponly in _rows(con, sql, ctx, "moz_cookies"):
        exp = None
        if isinstance(expiry, int) and expiry > 0:
            secs = expiry / 1000 if expiry > 100_000_000_000 else expiry  # Firefox 115+ stores milliseconds
            exp = prtime(int(secs * 1_000_000))
        d = dict(base)
        d.update(host=host, name=name, path=path, created=prtime(created), last_access=prtime(accessed), expires=exp,
                 last_update=None, secure=secure, httponly=httponly, persistent=None)
        yield Record("browser_cookies", d)


def parse_cookies_beside(places: Path, label: str, ctx: ParseContext) -> Iterator[Record]:
    p = places.parent / "cookies.sqlite"
    if not p.is_file():
        return
    lab_dir = label.replace("\\", "/").rsplit("/", 1)[0] if "/" in label.replace("\\", "/") else ""
    try:
        with open_copy(p, ctx) as con:
            if "moz_cookies" in tables(con):
                yield from parse_cookies(con, f"{lab_dir}/cookies.sqlite" if lab_dir else "cookies.sqlite", ctx)
    except (sqlite3.Error, OSError, ValueError) as e:
        ctx.warn(None, f"cookies.sqlite: unreadable: {e}", skipped=False)
