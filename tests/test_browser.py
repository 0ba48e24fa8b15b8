"""Browser artefact: Chrome 8 / 30 / 59 / 60 History, Firefox places + downloads, the scenario's Chrome,
WAL handling on a copy, Cookies/Login Data metadata, corruption sweep and CLI."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from wintriage.artifacts import browser as B
from wintriage.artifacts.base import ParseContext
from wintriage.cli import main
from wintriage.model import Record
from wintriage.timeutil import from_iso


def T(s: str) -> int:
    return from_iso(s)


def run(path: Path, label: str | None = None) -> tuple[list[Record], ParseContext]:
    ctx = ParseContext("browser", label or str(path))
    return list(B.parse(path, ctx)), ctx


def rows(recs: list[Record], table: str) -> list[dict]:
    return [r.data for r in recs if r.table == table]


def test_chrome8_history(td) -> None:
    recs, ctx = run(td("browser/plaso/chrome/History"))
    assert ctx.warning_count == 0
    visits, downloads = rows(recs, "browser_visits"), rows(recs, "browser_downloads")
    assert len(visits) + len(downloads) == 71  # plaso: 71 event_data (69 visits + 2 downloads)
    v = visits[0]
    assert v["url"] == "http://start.ubuntu.com/10.04/Google/"
    assert v["title"] == "Ubuntu Start Page"
    assert v["visit_count"] == 4 and v["typed_count"] == 0
    assert v["last_visit_time"] == T("2011-04-07T12:03:11Z")
    assert v["transition_core"] == "LINK" and v["transition_qualifiers"] == "CHAIN_START|CHAIN_END"
    d = downloads[0]
    assert d["url"] == d["final_url"] == "http://fatloss4idiotsx.com/download/funcats/funcats_scr.exe"
    assert d["target_path"] == "/home/john/Downloads/funcats_scr.exe"
    assert d["received_bytes"] == d["total_bytes"] == 1132155
    assert d["start_time"] == T("2011-05-23T08:35:30Z")  # old schema: Unix seconds
    assert d["end_time"] is None
    assert d["state_name"] == "Complete"
    assert [s["term"] for s in rows(recs, "browser_searches")] == ["funny cats", "really really funny cats",
                                                                   "funnycats.exe"]
    assert {(r["browser"], r["profile"]) for r in visits} == {("Chromium", "")}


def test_chrome59_download(td) -> None:
    recs, ctx = run(td("browser/plaso/chrome/History-59.0.3071.86"))
    assert ctx.warning_count == 0
    (v,) = rows(recs, "browser_visits")
    assert v["url"] == "https://raw.githubusercontent.com/dfirlabs/chrome-specimens/master/generate-specimens.sh"
    assert v["visit_time"] == T("2018-01-21T14:08:52.037692Z")
    (d,) = rows(recs, "browser_downloads")
    url = "https://raw.githubusercontent.com/log2timeline/l2tbinaries/master/win32/plaso-20171231.1.win32.msi"
    assert d["url"] == d["final_url"] == url
    assert json.loads(d["url_chain"]) == [url]
    assert d["target_path"] == "/home/ubuntu/Downloads/plaso-20171231.1.win32.msi"
    assert d["received_bytes"] == d["total_bytes"] == 3080192
    assert d["start_time"] == T("2018-01-21T14:08:51.811123Z")
    assert d["end_time"] == T("2018-01-21T14:08:52.662377Z")
    assert d["danger_name"] == "Maybe Dangerous Content" and d["mime_type"] == "application/octet-stream"


@pytest.mark.parametrize(
    "ver,nvisits,host,visit_iso,dl_iso,target",
    [
        # Hindsight's asserted datetimes come from float maths and differ from the stored µs by at most 1 µs:
        # 60: visit 22:06:56.507864 (stored ...507863), download 22:06:52.088356 (stored ...088355).
        ("60", 61, "https", "2017-08-05T22:06:56.507863Z", "2017-08-05T22:06:52.088355Z",
         "C:\\Users\\IEUser\\Downloads\\Hard_disk.jpg"),
        ("30", 46, "http", "2013-10-02T23:15:13.326712Z", "2013-10-02T23:17:29.397160Z",
         "C:\\Users\\Ryan\\Downloads\\Hard_disk.jpg"),
    ],
)
def test_hindsight_history(td, ver: str, nvisits: int, host: str, visit_iso: str, dl_iso: str, target: str) -> None:
    recs, ctx = run(td(f"browser/hindsight/{ver}/History"))
    assert ctx.warning_count == 0
    visits, downloads = rows(recs, "browser_visits"), rows(recs, "browser_downloads")
    assert len(visits) == nvisits
    assert len(downloads) == 2
    wiki = [v for v in visits if v["url"] == f"{host}://en.wikipedia.org/wiki/Computer_forensics"]
    assert T(visit_iso) in [v["visit_time"] for v in wiki]
    d = downloads[0]
    assert d["url"] == f"{host}://upload.wikimedia.org/wikipedia/commons/7/7a/Hard_disk.jpg"
    assert d["received_bytes"] == 1387537
    assert d["target_path"] == target
    assert d["start_time"] == T(dl_iso)


def test_firefox_places(td) -> None:
    recs, ctx = run(td("browser/plaso/firefox/places.sqlite"))
    assert ctx.warning_count == 0
    visits, marks = rows(recs, "browser_visits"), rows(recs, "browser_bookmarks")
    assert len(visits) + len(marks) == 103  # plaso: 103 event_data
    v = visits[0]
    assert (v["url"], v["title"], v["host"]) == ("http://news.google.com/", "Google News", "news.google.com")
    assert v["visit_time"] == T("2011-07-01T11:16:21.371935Z")
    assert v["visit_count"] == 1 and v["transition"] == 2 and v["transition_core"] == "TYPED"
    assert v["browser"] == "Firefox"
    kinds = Counter(m["kind"] for m in marks)
    assert kinds == {"bookmark": 91, "folder": 8, "annotation": 3}
    assert any(m["title"] == "Recently Bookmarked" and m["added"] == T("2011-07-01T11:13:59.266344Z") for m in marks)
    assert any(m["kind"] == "folder" and m["title"] == "Latest Headlines" and m["added"] == T("2011-03-21T10:05:01.553774Z")
               for m in marks)


def test_firefox_downloads(td) -> None:
    recs, ctx = run(td("browser/plaso/firefox/downloads.sqlite"))
    assert ctx.warning_count == 0
    (d,) = rows(recs, "browser_downloads")
    assert d["url"] == "https://plaso.googlecode.com/files/plaso-static-1.0.1-win32-vs2008.zip"
    assert d["target_path"] == "file:///D:/plaso-static-1.0.1-win32-vs2008.zip"
    assert d["total_bytes"] == d["received_bytes"] == 15974599
    assert d["start_time"] == T("2013-07-18T18:59:59.312Z")
    assert d["end_time"] == T("2013-07-18T19:01:18.578Z")


def test_firefox_moz_annos_downloads(tmp_path: Path) -> None:
    """Firefox >= 26 keeps downloads as moz_annos on moz_places (built here with the real table layout)."""
    db = tmp_path / "Users/kim/AppData/Roaming/Mozilla/Firefox/Profiles/ab12.default-release/places.sqlite"
    db.parent.mkdir(parents=True)
    con = sqlite3.connect(db)
    con.executescript(
        "CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url LONGVARCHAR, title LONGVARCHAR, rev_host LONGVARCHAR,"
        " visit_count INTEGER DEFAULT 0, hidden INTEGER DEFAULT 0, typed INTEGER DEFAULT 0, frecency INTEGER,"
        " last_visit_date INTEGER, guid TEXT);"
        "CREATE TABLE moz_historyvisits (id INTEGER PRIMARY KEY, from_visit INTEGER, place_id INTEGER,"
        " visit_date INTEGER, visit_type INTEGER, session INTEGER);"
        "CREATE TABLE moz_anno_attributes (id INTEGER PRIMARY KEY, name VARCHAR(32) UNIQUE NOT NULL);"
        "CREATE TABLE moz_annos (id INTEGER PRIMARY KEY, place_id INTEGER NOT NULL, anno_attribute_id INTEGER,"
        " content LONGVARCHAR, flags INTEGER DEFAULT 0, expiration INTEGER DEFAULT 0, type INTEGER DEFAULT 0,"
        " dateAdded INTEGER DEFAULT 0, lastModified INTEGER DEFAULT 0);"
        "INSERT INTO moz_places VALUES (1, 'https://evil.example/a.exe', 'a.exe', 'elpmaxe.live.', 1, 0, 0, 0,"
        " 1700000000000000, 'g');"
        "INSERT INTO moz_historyvisits VALUES (1, 0, 1, 1700000000000000, 7, 0);"
        "INSERT INTO moz_anno_attributes VALUES (1, 'downloads/destinationFileURI'), (2, 'downloads/metaData');"
        "INSERT INTO moz_annos VALUES (1, 1, 1, 'file:///C:/Users/kim/Downloads/a.exe', 0, 4, 3,"
        " 1700000000500000, 1700000000500000);"
        "INSERT INTO moz_annos VALUES (2, 1, 2, '{\"state\":1,\"endTime\":1700000002000,\"fileSize\":1234}', 0, 4, 3,"
        " 1700000002000000, 1700000002000000);"
    )
    con.commit()
    con.close()
    c = sqlite3.connect(db.parent / "cookies.sqlite")
    c.executescript(
        "CREATE TABLE moz_cookies (id INTEGER PRIMARY KEY, originAttributes TEXT NOT NULL DEFAULT '', name TEXT,"
        " value TEXT, host TEXT, path TEXT, expiry INTEGER, lastAccessed INTEGER, creationTime INTEGER,"
        " isSecure INTEGER, isHttpOnly INTEGER, inBrowserElement INTEGER DEFAULT 0, sameSite INTEGER DEFAULT 0,"
        " rawSameSite INTEGER DEFAULT 0, schemeMap INTEGER DEFAULT 0);"
        "INSERT INTO moz_cookies (name, value, host, path, expiry, lastAccessed, creationTime, isSecure, isHttpOnly)"
        " VALUES ('sid', 'SECRET', '.evil.example', '/', 1800000000, 1700000001000000, 1700000000000000, 1, 0);")
    c.commit()
    c.close()
    recs, ctx = run(db, "Users/kim/AppData/Roaming/Mozilla/Firefox/Profiles/ab12.default-release/places.sqlite")
    assert ctx.warning_count == 0
    (ck,) = rows(recs, "browser_cookies")
    assert (ck["host"], ck["name"], ck["browser"], ck["user"]) == (".evil.example", "sid", "Firefox", "kim")
    assert ck["created"] == T("2023-11-14T22:13:20Z") and ck["expires"] == T("2027-01-15T08:00:00Z")
    assert "SECRET" not in json.dumps(ck) and ck["source_path"].endswith("/cookies.sqlite")
    (d,) = rows(recs, "browser_downloads")
    assert d["target_path"] == "file:///C:/Users/kim/Downloads/a.exe"
    assert d["start_time"] == T("2023-11-14T22:13:20.5Z") and d["end_time"] == T("2023-11-14T22:13:22Z")
    assert d["total_bytes"] == 1234 and d["state_name"] == "Complete"
    assert (d["browser"], d["profile"], d["user"]) == ("Firefox", "ab12.default-release", "kim")
    (v,) = rows(recs, "browser_visits")
    assert v["transition_core"] == "DOWNLOAD" and v["host"] == "evil.example"


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_wal_applied_on_copy_and_evidence_untouched(td, tmp_path: Path) -> None:
    """A History whose newest rows live only in History-wal: they are read; the evidence files do not change."""
    work = tmp_path / "live"
    work.mkdir()
    shutil.copy(td("browser/plaso/chrome/History-59.0.3071.86"), work / "History")
    con = sqlite3.connect(work / "History")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA wal_autocheckpoint=0")
    con.execute("INSERT INTO urls (id, url, title, visit_count, typed_count, last_visit_time, hidden)"
                " VALUES (99, 'https://wal.example/', 'only in wal', 1, 0, 13300000000000000, 0)")
    con.execute("INSERT INTO visits (id, url, visit_time, from_visit, transition, segment_id, visit_duration)"
                " VALUES (99, 99, 13300000000000000, 0, 1, 0, 0)")
    con.commit()
    ev = tmp_path / "Users/lee/AppData/Local/Microsoft/Edge/User Data/Profile 1"
    ev.mkdir(parents=True)
    shutil.copy(work / "History", ev / "History")
    shutil.copy(work / "History-wal", ev / "History-wal")
    con.close()
    before = {p.name: _sha(p) for p in ev.iterdir()}
    label = "Users/lee/AppData/Local/Microsoft/Edge/User Data/Profile 1/History"
    recs, ctx = run(ev / "History", label)
    assert ctx.warning_count == 0
    visits = rows(recs, "browser_visits")
    assert [v["url"] for v in visits] == [
        "https://raw.githubusercontent.com/dfirlabs/chrome-specimens/master/generate-specimens.sh",
        "https://wal.example/"]
    assert visits[1]["transition_core"] == "TYPED"
    assert (visits[1]["browser"], visits[1]["profile"], visits[1]["user"]) == ("Edge", "Profile 1", "lee")
    assert {p.name: _sha(p) for p in ev.iterdir()} == before  # no -shm, no checkpoint, nothing changed
    # the -wal file on its own is a companion, not an input
    assert run(ev / "History-wal")[0] == []


def test_hot_journal_rolled_back_on_copy(td, tmp_path: Path) -> None:
    """A History with a hot -journal (browser killed mid-transaction): read as rolled back, evidence untouched."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(td("browser/plaso/chrome/History-59.0.3071.86"), work / "History")
    con = sqlite3.connect(work / "History", isolation_level=None)
    con.execute("PRAGMA cache_size=1")
    con.execute("BEGIN")
    con.execute("UPDATE urls SET title = 'uncommitted'")
    con.execute("CREATE TABLE filler (b)")
    con.execute("INSERT INTO filler VALUES (randomblob(500000))")
    ev = tmp_path / "ev"
    ev.mkdir()
    shutil.copy(work / "History", ev / "History")
    shutil.copy(work / "History-journal", ev / "History-journal")
    con.execute("ROLLBACK")
    con.close()
    before = {p.name: _sha(p) for p in ev.iterdir()}
    recs, ctx = run(ev / "History")
    (v,) = rows(recs, "browser_visits")
    assert v["title"] == ""  # the committed state (empty title), not 'uncommitted'
    assert len(rows(recs, "browser_downloads")) == 1
    assert [w.reason for w in ctx.warnings] == ["hot rollback journal: rolled back on the working copy"]
    assert {p.name: _sha(p) for p in ev.iterdir()} == before


def test_cookies_and_logins_metadata(td, tmp_path: Path) -> None:
    prof = tmp_path / "Users/minji/AppData/Local/Google/Chrome/User Data/Default"
    (prof / "Network").mkdir(parents=True)
    shutil.copy(td("browser/plaso/chrome/History-59.0.3071.86"), prof / "History")
    c = sqlite3.connect(prof / "Network" / "Cookies")
    c.executescript(
        "CREATE TABLE cookies(creation_utc INTEGER NOT NULL, host_key TEXT NOT NULL, top_frame_site_key TEXT NOT NULL,"
        " name TEXT NOT NULL, value TEXT NOT NULL, encrypted_value BLOB NOT NULL, path TEXT NOT NULL,"
        " expires_utc INTEGER NOT NULL, is_secure INTEGER NOT NULL, is_httponly INTEGER NOT NULL,"
        " last_access_utc INTEGER NOT NULL, has_expires INTEGER NOT NULL, is_persistent INTEGER NOT NULL,"
        " priority INTEGER NOT NULL, samesite INTEGER NOT NULL, source_scheme INTEGER NOT NULL,"
        " source_port INTEGER NOT NULL, last_update_utc INTEGER NOT NULL);"
        "INSERT INTO cookies VALUES (13379000000000000, '.kmspico-official.net', '', 'sid', 'SECRET', x'00', '/',"
        " 13400000000000000, 1, 1, 13379000100000000, 1, 1, 1, 0, 2, 443, 13379000000000000);")
    c.commit()
    c.close()
    c = sqlite3.connect(prof / "Login Data")
    c.executescript(
        "CREATE TABLE logins (origin_url VARCHAR NOT NULL, action_url VARCHAR, username_element VARCHAR,"
        " username_value VARCHAR, password_element VARCHAR, password_value BLOB, signon_realm VARCHAR NOT NULL,"
        " date_created INTEGER NOT NULL, blacklisted_by_user INTEGER NOT NULL, scheme INTEGER NOT NULL,"
        " times_used INTEGER, date_last_used INTEGER NOT NULL DEFAULT 0, date_password_modified INTEGER NOT NULL DEFAULT 0);"
        "INSERT INTO logins VALUES ('https://mail.example/login', 'https://mail.example/post', 'u', 'minji@example.com',"
        " 'p', x'DEADBEEF', 'https://mail.example/', 13379000000000000, 0, 0, 3, 13379000200000000, 13379000000000000);")
    c.commit()
    c.close()
    recs, ctx = run(prof / "History", "Users/minji/AppData/Local/Google/Chrome/User Data/Default/History")
    assert ctx.warning_count == 0
    (ck,) = rows(recs, "browser_cookies")
    assert (ck["host"], ck["name"], ck["path"]) == (".kmspico-official.net", "sid", "/")
    assert ck["created"] == 13379000000000000 * 10 and ck["expires"] == 13400000000000000 * 10
    assert "SECRET" not in json.dumps(ck)
    (lg,) = rows(recs, "browser_logins")
    assert (lg["origin_url"], lg["username"], lg["times_used"]) == ("https://mail.example/login", "minji@example.com", 3)
    assert lg["last_used"] == 13379000200000000 * 10
    assert "password_value" not in lg and "DEADBEEF" not in json.dumps(lg).upper()
    assert ck["user"] == lg["user"] == "minji"
    # a Cookies file given alone (no History beside it) is read on its own; beside a History it is not repeated
    assert run(prof / "Network" / "Cookies")[0] == []
    solo = tmp_path / "solo"
    solo.mkdir()
    shutil.copy(prof / "Network" / "Cookies", solo / "Cookies")
    assert len(rows(run(solo / "Cookies")[0], "browser_cookies")) == 1


# --- the scenario image ------------------------------------------------------------------------
HIST = "\\Users\\minji\\AppData\\Local\\Google\\Chrome\\User Data\\Default\\History"


def test_scenario_download(td, tmp_path: Path) -> None:
    from _scenario_files import extract

    answers = json.loads(td("scenario/public-1.answers.json").read_text())
    md, dt = answers["malicious_download"], answers["defender_tool"]
    assert md["history_path"].endswith(HIST)
    local = extract(td("scenario/public-1.E01"), [HIST], tmp_path)[HIST]
    recs, ctx = run(local, HIST.strip("\\").replace("\\", "/"))
    assert ctx.warning_count == 0
    downloads = {d["target_path"]: d for d in rows(recs, "browser_downloads")}
    d = downloads[md["file_path"]]
    assert (d["browser"], d["profile"], d["user"]) == ("Chrome", "Default", "minji")
    assert d["start_time"] == T(md["download_start_utc"]) == T("2024-12-12T04:31:52.318000Z")
    assert d["end_time"] == T(md["download_end_utc"])
    assert json.loads(d["url_chain"]) == md["url_chain"]
    assert d["final_url"] == md["download_url"] and d["url"] == md["request_url"]
    assert d["referrer"] == md["referrer"] and d["tab_url"] == md["tab_url"]
    assert d["received_bytes"] == d["total_bytes"] == md["size"]
    assert d["state_name"] == "Complete"
    d2 = downloads[dt["downloaded_file"]]
    assert json.loads(d2["url_chain"]) == dt["download_chain"] and d2["final_url"] == dt["download_url"]
    assert d2["start_time"] == T(dt["download_time_utc"]) and d2["tab_url"] == dt["download_page"]
    visits = rows(recs, "browser_visits")
    assert md["page_url"] in {v["url"] for v in visits} and md["search_url"] in {v["url"] for v in visits}
    assert "kmspico windows 10 activator free download" in {s["term"] for s in rows(recs, "browser_searches")}
    evs = [e for r in recs if r.table == "browser_downloads" for e in B.timeline(r)]
    assert ("Download Start", T(md["download_start_utc"]), md["file_path"]) in [(e.ts_desc, e.ts, e.path) for e in evs]
    assert all(e.user == "minji" for e in evs)


# --- robustness --------------------------------------------------------------------------------
SAMPLES = ["browser/plaso/chrome/History", "browser/plaso/chrome/History-59.0.3071.86",
           "browser/hindsight/60/History", "browser/hindsight/30/History", "browser/plaso/firefox/places.sqlite",
           "browser/plaso/firefox/downloads.sqlite"]


@pytest.mark.parametrize("rel", SAMPLES)
def test_corruption_sweep(td, tmp_path: Path, rel: str) -> None:
    raw = td(rel).read_bytes()
    n = len(raw)
    blobs = [raw[:c] for c in (0, 10, 100, 1024, n // 3, n // 2, n - 1000)]
    for off in (0, 18, 28, 100, 1024 + 8, 2048 + 100, n // 3, n // 2, n - 600):
        b = bytearray(raw)
        for i in range(off, min(off + 64, n)):
            b[i] ^= 0xA5
        blobs.append(bytes(b))
    warned = 0
    for i, blob in enumerate(blobs):
        p = tmp_path / f"c{i}" / "History"
        p.parent.mkdir()
        p.write_bytes(blob)
        recs, ctx = run(p)
        warned += ctx.warning_count > 0
        for r in recs:
            list(B.timeline(r))
    assert warned > 0


def test_cli_csv(td, tmp_path: Path) -> None:
    inp = tmp_path / "in"
    inp.mkdir()
    shutil.copy(td("browser/plaso/chrome/History-59.0.3071.86"), inp / "History")
    shutil.copy(td("browser/plaso/firefox/downloads.sqlite"), inp / "downloads.sqlite")
    (inp / "README.txt").write_text("not a database")
    out = tmp_path / "csv"
    res = CliRunner().invoke(main, ["parse", "browser", str(inp), "--csv", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["records"] == 3 and summary["failed"] == 0
    with open(out / "browser_downloads.csv", encoding="utf-8-sig", newline="") as fh:
        dl = list(csv.DictReader(fh))
    assert [d["Target Path"] for d in dl] == ["/home/ubuntu/Downloads/plaso-20171231.1.win32.msi",
                                              "file:///D:/plaso-static-1.0.1-win32-vs2008.zip"]
    assert dl[0]["Start Time"] == "2018-01-21 14:08:51.8111230" and dl[0]["Total Bytes"] == "3080192"
    with open(out / "browser_history.csv", encoding="utf-8-sig", newline="") as fh:
        hist = list(csv.DictReader(fh))
    assert hist[0]["Timestamp"] == "2018-01-21 14:08:52.0376920" and hist[0]["Transition"] == "AUTO_TOPLEVEL"


def test_pipeline_store_timeline(td, tmp_path: Path) -> None:
    """Scenario prefetch + History through the pipeline into a case store: timeline rows an analyzer uses."""
    from _scenario_files import extract
    from wintriage.pipeline import parse_folder
    from wintriage.sinks import StoreSink
    from wintriage.store.case import CaseReader, CaseWriter

    answers = json.loads(td("scenario/public-1.answers.json").read_text())
    md = answers["malicious_download"]
    root = tmp_path / "C"
    extract(td("scenario/public-1.E01"), [HIST, "\\Windows\\Prefetch\\" + md["prefetch"]], root)
    store = CaseWriter(tmp_path / "case.sqlite")
    results = parse_folder(root, StoreSink(store))
    store.close()
    assert sorted(r.artifact for r in results) == ["browser", "prefetch"]
    assert all(r.status == "ok" for r in results)
    case = CaseReader(tmp_path / "case.sqlite")
    tl = list(case.rows("timeline"))
    run = [r for r in tl if r["artifact"] == "prefetch" and r["ts_desc"] == "Last Run"]
    assert len(run) == 1 and run[0]["ts"] == T(md["first_exec_utc"])
    assert run[0]["path"].endswith("\\USERS\\MINJI\\DOWNLOADS\\KMSPICO_V11.2_SETUP.EXE") and run[0]["user"] == "minji"
    dl = [r for r in tl if r["ts_desc"] == "Download Start" and r["path"] == md["file_path"]]
    assert len(dl) == 1 and dl[0]["ts"] == T(md["download_start_utc"]) and dl[0]["user"] == "minji"
    assert dl[0]["category"] == "web" and dl[0]["ref_table"] == "browser_downloads"
    row = next(case.rows("browser_downloads", "id = ?", (dl[0]["ref_id"],)))
    assert row["final_url"] == md["download_url"] and row["tab_url"] == md["tab_url"]
    assert case.count("prefetch_files") > 0 and case.count("browser_visits") == 1327
    case.close()
