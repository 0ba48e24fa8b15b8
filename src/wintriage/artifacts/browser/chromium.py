"""Chromium ``History`` (Chrome, Edge, Brave...): visits, downloads (+ url chains), keyword searches;
``Cookies`` and ``Login Data`` metadata. Every query is built from the columns that exist."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from ...model import Record
from ...timeutil import from_unix
from ..base import ParseContext
from . import base_fields, columns, open_copy, pick, tables

CORE_TRANSITIONS = {
    0: "LINK", 1: "TYPED", 2: "AUTO_BOOKMARK", 3: "AUTO_SUBFRAME", 4: "MANUAL_SUBFRAME", 5: "GENERATED",
    6: "AUTO_TOPLEVEL", 7: "FORM_SUBMIT", 8: "RELOAD", 9: "KEYWORD", 10: "KEYWORD_GENERATED",
}
QUALIFIERS = [
    (0x00400000, "FROM_API_2"), (0x00800000, "BLOCKED"), (0x01000000, "FORWARD_BACK"),
    (0x02000000, "FROM_ADDRESS_BAR"), (0x04000000, "HOME_PAGE"), (0x08000000, "FROM_API"),
    (0x10000000, "CHAIN_START"), (0x20000000, "CHAIN_END"), (0x40000000, "CLIENT_REDIRECT"),
    (0x80000000, "SERVER_REDIRECT"),
]
DOWNLOAD_STATES = {0: "In Progress", 1: "Complete", 2: "Cancelled", 3: "Interrupted", 4: "Interrupted"}
DANGER_TYPES = {
    0: "Not Dangerous", 1: "Dangerous File", 2: "Dangerous URL", 3: "Dangerous Content", 4: "Maybe Dangerous Content",
    5: "Uncommon Content", 6: "User Validated", 7: "Dangerous Host", 8: "Potentially Unwanted",
    9: "Allowlisted By Policy", 10: "Async Scanning", 11: "Blocked Password Protected", 12: "Blocked Too Large",
    13: "Sensitive Content Warning", 14: "Sensitive Content Block", 15: "Deep Scanned Safe",
    16: "Deep Scanned Opened Dangerous", 17: "Prompt For Scanning", 18: "Blocked Unsupported Filetype",
    19: "Dangerous Account Compromise",
}
INTERRUPT_REASONS = {
    0: "", 1: "File Failed", 2: "File Access Denied", 3: "File No Space", 5: "File Name Too Long",
    6: "File Too Large", 7: "File Virus Infected", 10: "File Transient Error", 11: "File Blocked",
    12: "File Security Check Failed", 13: "File Too Short", 14: "File Hash Mismatch", 15: "File Same As Source",
    20: "Network Failed", 21: "Network Timeout", 22: "Network Disconnected", 23: "Network Server Down",
    24: "Network Invalid Request", 30: "Server Failed", 31: "Server No Range", 33: "Server Bad Content",
    34: "Server Unauthorized", 35: "Server Cert Problem", 36: "Server Forbidden", 37: "Server Unreachable",
    38: "Server Content Length Mismatch", 39: "Server Cross Origin Redirect", 40: "User Canceled",
    41: "User Shutdown", 50: "Crash",
}
VISIT_SOURCES = {0: "Synced", 1: "Local", 2: "Extension", 3: "Firefox Imported", 4: "IE Imported", 5: "Safari Imported"}


@lru_cache(maxsize=4096)
def transition(t: int | None) -> tuple[str, str]:
    if t is None:
        return "", ""
    t &= 0xFFFFFFFF
    core = CORE_TRANSITIONS.get(t & 0xFF, f"UNKNOWN_{t & 0xFF}")
    quals = "|".join(n for bit, n in QUALIFIERS if t & bit)
    return core, quals


def chrome_time(v: Any) -> int | None:
    """WebKit µs since 1601 -> FILETIME ticks (0, negative, past year 9999: None)."""
    if v.__class__ is not int or v <= 0 or v >= 265046774399999999:
        return None
    return int(v) * 10


def unix_time(v: Any) -> int | None:
    """Unix seconds: download times of the old ``downloads`` layout (``full_path``, no ``target_path``)."""
    if v.__class__ is not int or v <= 0 or v >= 253402300800:
        return None
    return from_unix(v)


def _host(url: str | None) -> str:
    if not url:
        return ""
    i = url.find("://")
    if i < 0:
        return ""
    j = url.find("/", i + 3)
    host = url[i + 3:] if j < 0 else url[i + 3: j]
    return host.rpartition("@")[2]


def _rows(con: sqlite3.Connection, sql: str, ctx: ParseContext, what: str) -> Iterator[tuple[Any, ...]]:
    n = 0
    try:
        cur = con.execute(sql)
        for row in cur:
            n += 1
            yield row
    except (sqlite3.Error, ValueError) as e:
        ctx.warn(None, f"{what}: query stopped after {n} rows: {e}")


def parse_history(con: sqlite3.Connection, have: set[str], label: str, ctx: ParseContext) -> Iterator[Record]:
    base = base_fields(label, "chromium")
    for section in (_visits, _downloads, _searches):  # one broken table does not stop the others
        try:
            yield from section(con, have, base, ctx)
        except (sqlite3.Error, ValueError) as e:
            ctx.warn(None, f"{section.__name__.strip('_')}: unreadable: {e}")


def _visits(con: sqlite3.Connection, have: set[str], base: dict[str, Any], ctx: ParseContext) -> Iterator[Record]:
    if "visits" not in have or "urls" not in have:
        return
    vc, uc = columns(con, "visits"), columns(con, "urls")
    src_join = "LEFT JOIN visit_source s ON s.id = v.id" if "visit_source" in have else ""
    src_col = "s.source" if src_join else "NULL"
    sql = (
        f"SELECT v.id, v.url, v.visit_time, u.url, u.title, {pick(uc, 'visit_count')}, {pick(uc, 'typed_count')},"
        f" {pick(uc, 'last_visit_time')}, {pick(uc, 'hidden')}, v.{pick(vc, 'from_visit')}, v.{pick(vc, 'transition')},"
        f" {'v.visit_duration' if 'visit_duration' in vc else 'NULL'}, {src_col}"
        f" FROM visits v LEFT JOIN urls u ON u.id = v.url {src_join} ORDER BY v.id"
    ).replace("v.NULL", "NULL")
    for vid, uid, vt, url, title, vcount, typed, last, hidden, frm, tr, dur, src in _rows(con, sql, ctx, "visits"):
        core, quals = transition(tr if isinstance(tr, int) else None)
        yield Record("browser_visits", {
            **base, "visit_id": vid, "url_id": uid, "visit_time": chrome_time(vt), "url": url, "title": title,
            "host": _host(url), "visit_count": vcount, "typed_count": typed, "last_visit_time": chrome_time(last),
            "hidden": hidden, "from_visit": frm, "transition": tr, "transition_core": core,
            "transition_qualifiers": quals, "visit_duration_us": dur,
            "visit_source": "Local" if src is None else VISIT_SOURCES.get(src, str(src)),
        })


def _downloads(con: sqlite3.Connection, have: set[str], base: dict[str, Any], ctx: ParseContext) -> Iterator[Record]:
    if "downloads" not in have:
        return
    dc = columns(con, "downloads")
    chains: dict[int, list[str]] = {}
    if "downloads_url_chains" in have:
        for did, _idx, url in _rows(con, "SELECT id, chain_index, url FROM downloads_url_chains ORDER BY id, chain_index",
                                    ctx, "downloads_url_chains"):
            chains.setdefault(did, []).append(url)
    want = ["id", "guid", "url", "target_path", "full_path", "current_path", "start_time", "end_time",
            "received_bytes", "total_bytes", "state", "danger_type", "interrupt_reason", "opened", "last_access_time",
            "referrer", "site_url", "tab_url", "tab_referrer_url", "mime_type", "original_mime_type", "hash",
            "by_ext_name"]
    sql = "SELECT " + ", ".join(c if c in dc else "NULL" for c in want) + " FROM downloads ORDER BY id"
    # feature detection: the pre-2012 layout (full_path, no target_path) stored Unix seconds
    dtime = unix_time if "full_path" in dc and "target_path" not in dc else chrome_time
    for row in _rows(con, sql, ctx, "downloads"):
        r = dict(zip(want, row, strict=True))
        chain = chains.get(r["id"], [])
        if not chain and r["url"]:
            chain = [r["url"]]
        first = chain[0] if chain else r["url"]
        h = r["hash"]
        d = dict(base)
        d.update(
            download_id=r["id"], guid=r["guid"], url=r["url"] or first, final_url=chain[-1] if chain else r["url"],
            url_chain=json.dumps(chain, ensure_ascii=False), target_path=r["target_path"] or r["full_path"],
            current_path=r["current_path"] or r["full_path"], start_time=dtime(r["start_time"]),
            end_time=dtime(r["end_time"]), received_bytes=r["received_bytes"], total_bytes=r["total_bytes"],
            state=r["state"], state_name=DOWNLOAD_STATES.get(r["state"], str(r["state"])),
            danger_type=r["danger_type"],
            danger_name=DANGER_TYPES.get(r["danger_type"], "" if r["danger_type"] is None else str(r["danger_type"])),
            interrupt_reason=r["interrupt_reason"],
            interrupt_name=INTERRUPT_REASONS.get(r["interrupt_reason"],
                                                 "" if r["interrupt_reason"] is None else str(r["interrupt_reason"])),
            opened=r["opened"], last_access_time=chrome_time(r["last_access_time"]), referrer=r["referrer"],
            site_url=r["site_url"], tab_url=r["tab_url"], tab_referrer_url=r["tab_referrer_url"],
            mime_type=r["mime_type"], original_mime_type=r["original_mime_type"],
            hash=h.hex() if isinstance(h, bytes) else h, by_ext_name=r["by_ext_name"],
        )
        yield Record("browser_downloads", d)


def _searches(con: sqlite3.Connection, have: set[str], base: dict[str, Any], ctx: ParseContext) -> Iterator[Record]:
    if "keyword_search_terms" not in have:
        return
    kc = columns(con, "keyword_search_terms")
    join = "LEFT JOIN urls u ON u.id = k.url_id" if "urls" in have else ""
    ucols = "u.url, u.title, u.last_visit_time" if join else "NULL, NULL, NULL"
    sql = f"SELECT k.{pick(kc, 'term', 'lower_term')}, k.{pick(kc, 'keyword_id')}, {ucols} FROM keyword_search_terms k {join}"
    for term, kid, url, title, last in _rows(con, sql.replace("k.NULL", "NULL"), ctx, "keyword_search_terms"):
        d = dict(base)
        d.update(search_time=chrome_time(last), term=term, url=url, title=title, keyword_id=kid)
        yield Record("browser_searches", d)


def parse_other(con: sqlite3.Connection, have: set[str], label: str, ctx: ParseContext) -> Iterator[Record]:
    """A ``Cookies`` or ``Login Data`` database: metadata only."""
    base = base_fields(label, "chromium")
    if "cookies" in have:
        cc = columns(con, "cookies")
        sql = (f"SELECT {pick(cc, 'host_key')}, {pick(cc, 'name')}, {pick(cc, 'path')}, {pick(cc, 'creation_utc')},"
               f" {pick(cc, 'last_access_utc')}, {pick(cc, 'expires_utc')}, {pick(cc, 'last_update_utc')},"
               f" {pick(cc, 'is_secure', 'secure')}, {pick(cc, 'is_httponly', 'httponly')},"
               f" {pick(cc, 'is_persistent', 'persistent')} FROM cookies")
        for host, name, path, cr, la, ex, lu, sec, http, pers in _rows(con, sql, ctx, "cookies"):
            d = dict(base)
            d.update(host=host, name=name, path=path, created=chrome_time(cr), last_access=chrome_time(la),
                     expires=chrome_time(ex), last_update=chrome_time(lu), secure=sec, httponly=http, persistent=pers)
            yield Record("browser_cookies", d)
    if "logins" in have:
        lc = columns(con, "logins")
        sql = (f"SELECT {pick(lc, 'origin_url')}, {pick(lc, 'action_url')}, {pick(lc, 'signon_realm')},"
               f" {pick(lc, 'username_value')}, {pick(lc, 'date_created')}, {pick(lc, 'date_last_used')},"
               f" {pick(lc, 'date_password_modified')}, {pick(lc, 'times_used')} FROM logins")
        for origin, action, realm, user, cr, lu, pm, used in _rows(con, sql, ctx, "logins"):
            d = dict(base)
            d.update(origin_url=origin, action_url=action, signon_realm=realm, username=user, created=chrome_time(cr),
                     last_used=chrome_time(lu), password_modified=chrome_time(pm), times_used=used)
            yield Record("browser_logins", d)


def parse_siblings(history: Path, label: str, ctx: ParseContext) -> Iterator[Record]:
    """``Cookies`` / ``Network/Cookies`` / ``Login Data`` next to a History file."""
    folder = history.parent
    lab_dir = label.replace("\\", "/").rsplit("/", 1)[0] if "/" in label.replace("\\", "/") else ""
    for rel in ("Cookies", "Network/Cookies", "Login Data"):
        p = folder / rel
        if not p.is_file():
            continue
        sub_label = f"{lab_dir}/{rel}" if lab_dir else rel
        try:
            with open_copy(p, ctx) as con:
                yield from parse_other(con, tables(con), sub_label, ctx)
        except (sqlite3.Error, OSError, ValueError) as e:
            ctx.warn(None, f"{rel}: unreadable: {e}", skipped=False)
