"""Browser history: Chromium (Chrome, Edge, Brave, Chromium) and Firefox, from their SQLite databases.

One artefact, ``browser``, dispatching by what the database holds (so renamed copies still parse):
Chromium ``History`` (urls/visits), ``Cookies``, ``Login Data``; Firefox ``places.sqlite``
(moz_places), ``cookies.sqlite`` (moz_cookies) and the old ``downloads.sqlite`` (moz_downloads).

Evidence is never opened in place: the database and its ``-wal``/``-journal`` companions are copied
into a temporary folder and opened there with ``mode=ro`` (so a WAL is applied to the copy).
Schema differences are handled by looking at which columns exist (``PRAGMA table_info``).
When a ``History`` file is parsed, the ``Cookies`` (also ``Network/Cookies``) and ``Login Data``
beside it are read too, and ``cookies.sqlite`` beside a ``places.sqlite`` (metadata only: no cookie values,
no passwords).
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ...model import Record, TimelineEvent
from ..base import CsvShape, ParseContext, col, tcol

NAME = "browser"
CATEGORY = "web"

_COMMON = [("browser", "TEXT"), ("profile", "TEXT"), ("user", "TEXT"), ("source_path", "TEXT")]

TABLES: dict[str, list[tuple[str, str]]] = {
    "browser_visits": [
        *_COMMON,
        ("visit_id", "INTEGER"),
        ("url_id", "INTEGER"),
        ("visit_time", "INTEGER"),
        ("url", "TEXT"),
        ("title", "TEXT"),
        ("host", "TEXT"),
        ("visit_count", "INTEGER"),
        ("typed_count", "INTEGER"),
        ("last_visit_time", "INTEGER"),
        ("hidden", "INTEGER"),
        ("from_visit", "INTEGER"),
        ("transition", "INTEGER"),
        ("transition_core", "TEXT"),
        ("transition_qualifiers", "TEXT"),
        ("visit_duration_us", "INTEGER"),
        ("visit_source", "TEXT"),
    ],
    "browser_downloads": [
        *_COMMON,
        ("download_id", "INTEGER"),
        ("guid", "TEXT"),
        ("url", "TEXT"),
        ("final_url", "TEXT"),
        ("url_chain", "TEXT"),
        ("target_path", "TEXT"),
        ("current_path", "TEXT"),
        ("start_time", "INTEGER"),
        ("end_time", "INTEGER"),
        ("received_bytes", "INTEGER"),
        ("total_bytes", "INTEGER"),
        ("state", "INTEGER"),
        ("state_name", "TEXT"),
        ("danger_type", "INTEGER"),
        ("danger_name", "TEXT"),
        ("interrupt_reason", "INTEGER"),
        ("interrupt_name", "TEXT"),
        ("opened", "INTEGER"),
        ("last_access_time", "INTEGER"),
        ("referrer", "TEXT"),
        ("site_url", "TEXT"),
        ("tab_url", "TEXT"),
        ("tab_referrer_url", "TEXT"),
        ("mime_type", "TEXT"),
        ("original_mime_type", "TEXT"),
        ("hash", "TEXT"),
        ("by_ext_name", "TEXT"),
    ],
    "browser_searches": [
        *_COMMON,
        ("search_time", "INTEGER"),
        ("term", "TEXT"),
        ("url", "TEXT"),
        ("title", "TEXT"),
        ("keyword_id", "INTEGER"),
    ],
    "browser_cookies": [
        *_COMMON,
        ("host", "TEXT"),
        ("name", "TEXT"),
        ("path", "TEXT"),
        ("created", "INTEGER"),
        ("last_access", "INTEGER"),
        ("expires", "INTEGER"),
        ("last_update", "INTEGER"),
        ("secure", "INTEGER"),
        ("httponly", "INTEGER"),
        ("persistent", "INTEGER"),
    ],
    "browser_logins": [
        *_COMMON,
        ("origin_url", "TEXT"),
        ("action_url", "TEXT"),
        ("signon_realm", "TEXT"),
        ("username", "TEXT"),
        ("created", "INTEGER"),
        ("last_used", "INTEGER"),
        ("password_modified", "INTEGER"),
        ("times_used", "INTEGER"),
    ],
    "browser_bookmarks": [
        *_COMMON,
        ("kind", "TEXT"),  # bookmark | folder | annotation
        ("title", "TEXT"),
        ("url", "TEXT"),
        ("folder", "TEXT"),
        ("content", "TEXT"),
        ("added", "INTEGER"),
        ("modified", "INTEGER"),
    ],
}

_TAIL = [col("Browser", "browser"), col("Profile", "profile"), col("User", "user"), col("Source", "source_path")]

CSV = {
    "browser_visits": CsvShape(
        "browser_history.csv",
        [
            col("Type", default="url"),
            tcol("Timestamp", "visit_time"),
            col("URL", "url"),
            col("Title", "title"),
            col("Visit Count", "visit_count"),
            col("Typed Count", "typed_count"),
            tcol("Last Visit Time", "last_visit_time"),
            col("URL Hidden", "hidden"),
            col("Transition", "transition_core"),
            col("Transition Qualifiers", "transition_qualifiers"),
            col("Visit Duration (us)", "visit_duration_us"),
            col("Visit Source", "visit_source"),
            *_TAIL,
        ],
    ),
    "browser_downloads": CsvShape(
        "browser_downloads.csv",
        [
            col("Type", default="download"),
            tcol("Start Time", "start_time"),
            tcol("End Time", "end_time"),
            col("URL", "url"),
            col("Final URL", "final_url"),
            col("URL Chain", "url_chain"),
            col("Target Path", "target_path"),
            col("Received Bytes", "received_bytes"),
            col("Total Bytes", "total_bytes"),
            col("State", "state_name"),
            col("Danger Type", "danger_name"),
            col("Interrupt Reason", "interrupt_name"),
            col("Opened", "opened"),
            col("Referrer", "referrer"),
            col("Tab URL", "tab_url"),
            col("Tab Referrer URL", "tab_referrer_url"),
            col("Site URL", "site_url"),
            col("MIME Type", "mime_type"),
            *_TAIL,
        ],
    ),
}

SQLITE_MAGIC = b"SQLite format 3\x00"
COMPANIONS = ("-wal", "-journal", "-shm")


# --- shared helpers -----------------------------------------------------------------------------
def browser_info(path: str, kind: str) -> tuple[str, str, str]:
    """(browser, profile, user) from a path like ``Users/u/AppData/Local/Google/Chrome/User Data/Profile 1/History``."""
    parts = path.replace("\\", "/").split("/")
    low = [p.lower() for p in parts]
    user = ""
    for i, p in enumerate(low[:-1]):
        if p in ("users", "documents and settings", "home"):
            user = parts[i + 1]
            break
    browser, profile = "", ""
    joined = "/".join(low)
    for needle, name in (("/google/chrome/", "Chrome"), ("/microsoft/edge/", "Edge"), ("/bravesoftware/", "Brave"),
                         ("/chromium/", "Chromium"), ("/opera software/", "Opera"), ("/vivaldi/", "Vivaldi"),
                         ("/mozilla/firefox/", "Firefox")):
        if needle in "/" + joined:
            browser = name
            break
    if "user data" in low:
        i = low.index("user data")
        if i + 2 < len(parts):
            profile = parts[i + 1]
    elif "profiles" in low and browser == "Firefox":
        i = low.index("profiles")
        if i + 2 < len(parts):
            profile = parts[i + 1]
    if not browser:
        browser = "Firefox" if kind == "firefox" else "Chromium"
    return browser, profile, user


@contextlib.contextmanager
def open_copy(path: Path, ctx: ParseContext | None = None) -> Iterator[sqlite3.Connection]:
    """Copy ``path`` and its -wal/-journal into a temp dir and open the copy read-only (WAL applied).

    A hot rollback journal cannot be applied by a read-only connection ("attempt to write a readonly
    database"); then the COPY is opened read-write so SQLite rolls the unfinished transaction back, which is
    the state the browser itself would see. The evidence files are never opened by SQLite.
    """
    tmp = Path(tempfile.mkdtemp(prefix="wintriage-db-"))
    try:
        dst = tmp / "db.sqlite"
        shutil.copyfile(path, dst)
        for suf in ("-wal", "-journal"):
            comp = Path(str(path) + suf)
            if comp.is_file():
                shutil.copyfile(comp, Path(str(dst) + suf))
        con = sqlite3.connect(f"file:{dst}?mode=ro", uri=True)
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError as e:
            if "readonly" not in str(e) or not Path(str(dst) + "-journal").exists():
                raise
            con.close()
            if ctx is not None:
                ctx.warn(None, "hot rollback journal: rolled back on the working copy", skipped=False)
            con = sqlite3.connect(f"file:{dst}?mode=rw", uri=True)
        con.text_factory = lambda b: b.decode("utf-8", "replace")
        try:
            yield con
        finally:
            con.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def tables(con: sqlite3.Connection) -> set[str]:
    return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def columns(con: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in con.execute(f"PRAGMA table_info(\"{table}\")")}


def pick(cols: set[str], *names: str) -> str:
    """The first existing column of ``names``, else ``NULL`` (so one SELECT fits every schema)."""
    for n in names:
        if n in cols:
            return n
    return "NULL"


def is_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(16) == SQLITE_MAGIC
    except OSError:
        return False


# --- dispatch --------------------------------------------------------------------------------
def parse(path: Path, ctx: ParseContext) -> Iterator[Record]:
    name = path.name.lower()
    if name.endswith(COMPANIONS):
        return  # read together with its database
    if not is_sqlite(path):
        ctx.warn(0, "not an SQLite database (no 'SQLite format 3' header)")
        return
    from . import chromium, firefox

    label = ctx.source or str(path)
    try:
        with open_copy(path, ctx) as con:
            have = tables(con)
            if "moz_places" in have or "moz_downloads" in have:
                yield from firefox.parse_db(con, have, label, ctx)
                if "moz_places" in have:
                    yield from firefox.parse_cookies_beside(path, label, ctx)
            elif "moz_cookies" in have:
                if not (path.parent / "places.sqlite").exists():
                    yield from firefox.parse_cookies(con, label, ctx)
            elif "urls" in have or "downloads" in have:
                yield from chromium.parse_history(con, have, label, ctx)
                yield from chromium.parse_siblings(path, label, ctx)
            elif "cookies" in have or "logins" in have:
                if not (path.parent / "History").exists() and not (path.parent.parent / "History").exists():
                    yield from chromium.parse_other(con, have, label, ctx)
            else:
                ctx.warn(None, f"SQLite database without known browser tables ({', '.join(sorted(have)[:8])})")
    except (sqlite3.Error, ValueError) as e:  # ValueError: text that is not UTF-8 in the schema or messages
        ctx.warn(None, f"database unreadable: {e}")
    except OSError as e:
        ctx.warn(None, f"cannot copy/open database: {e}")


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    t = rec.table
    who = d.get("user") or ""
    b = d.get("browser") or ""
    if t == "browser_visits" and d.get("visit_time"):
        title = d.get("title") or ""
        return (TimelineEvent(d["visit_time"], "Visited", d.get("url") or "",
                              f"{b} visit: {d.get('url')}" + (f" ({title})" if title else ""), who),)
    if t == "browser_downloads":
        target = d.get("target_path") or d.get("current_path") or ""
        src = d.get("final_url") or d.get("url") or ""
        out = []
        if d.get("start_time"):
            out.append(TimelineEvent(d["start_time"], "Download Start", target, f"{b} download started: {src} -> {target}", who))
        if d.get("end_time"):
            out.append(TimelineEvent(d["end_time"], "Download End", target,
                                     f"{b} download {d.get('state_name') or 'ended'}: {src} -> {target}"
                                     f" ({d.get('received_bytes')} bytes)", who))
        return out
    if t == "browser_searches" and d.get("search_time"):
        return (TimelineEvent(d["search_time"], "Searched", d.get("url") or "", f"{b} search: {d.get('term')}", who),)
    if t == "browser_bookmarks" and d.get("added") and d.get("kind") == "bookmark":
        return (TimelineEvent(d["added"], "Bookmark Added", d.get("url") or "", f"{b} bookmark: {d.get('title')}", who),)
    return ()


def base_fields(label: str, kind: str) -> dict[str, Any]:
    browser, profile, user = browser_info(label, kind)
    return {"browser": browser, "profile": profile, "user": user, "source_path": label}
