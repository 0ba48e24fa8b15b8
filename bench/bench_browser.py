"""Browser rows/s: wintriage's browser parser vs bare sqlite3 queries on a generated Chrome History
with >= 100k visits, created with the real Chrome schema copied from a shared sample (Chrome 60).

Run by hand:  python bench/bench_browser.py [--visits 100000]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from wintriage.artifacts import browser as B
from wintriage.artifacts.base import ParseContext

SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "browser" / "hindsight" / "60" / "History"
WEBKIT_2024 = 13350000000000000


def build(n_visits: int, dest: Path) -> dict[str, int]:
    src = sqlite3.connect(f"file:{SAMPLE}?mode=ro&immutable=1", uri=True)
    schema = [r[0] for r in src.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'")]
    meta = src.execute("SELECT key, value FROM meta").fetchall()
    src.close()
    con = sqlite3.connect(dest)
    for s in schema:
        con.execute(s)
    con.executemany("INSERT INTO meta VALUES (?, ?)", meta)
    rnd = random.Random(7)
    n_urls = max(1, n_visits // 5)
    con.executemany(
        "INSERT INTO urls (id, url, title, visit_count, typed_count, last_visit_time, hidden) VALUES (?,?,?,?,?,?,0)",
        ((i, f"https://site{i % 997}.example/page/{i}?q={rnd.random():.6f}", f"Page {i} 페이지", 5, i % 3,
          WEBKIT_2024 + i * 1000) for i in range(1, n_urls + 1)))
    con.executemany(
        "INSERT INTO visits (id, url, visit_time, from_visit, transition, segment_id, visit_duration)"
        " VALUES (?,?,?,?,?,0,?)",
        ((i, rnd.randint(1, n_urls), WEBKIT_2024 + i * 7919, max(0, i - 1), rnd.choice([805306368, 838860801, 1]),
          rnd.randint(0, 10**8)) for i in range(1, n_visits + 1)))
    n_dl = max(1, n_visits // 100)
    dcols = [r[1] for r in con.execute("PRAGMA table_info(downloads)")]
    for i in range(1, n_dl + 1):
        vals = {c: None for c in dcols}
        vals.update(id=i, guid=f"G{i}", current_path=f"C:\\Users\\u\\Downloads\\f{i}.exe",
                    target_path=f"C:\\Users\\u\\Downloads\\f{i}.exe", start_time=WEBKIT_2024 + i * 10**7,
                    end_time=WEBKIT_2024 + i * 10**7 + 5 * 10**6, received_bytes=1000 + i, total_bytes=1000 + i,
                    state=1, danger_type=0, interrupt_reason=0, opened=0, last_access_time=0, transient=0,
                    referrer="https://ref.example/", site_url="", tab_url="https://tab.example/",
                    tab_referrer_url="", http_method="GET", by_ext_id="", by_ext_name="", etag="",
                    last_modified="", mime_type="application/x-msdownload", original_mime_type="", hash=b"")
        con.execute(f"INSERT INTO downloads ({', '.join(dcols)}) VALUES ({', '.join('?' * len(dcols))})",
                    [vals[c] for c in dcols])
        con.executemany("INSERT INTO downloads_url_chains VALUES (?,?,?)",
                        [(i, 0, f"https://dl.example/r/{i}"), (i, 1, f"https://cdn.example/f{i}.exe")])
    n_kw = max(1, n_visits // 20)
    con.executemany("INSERT INTO keyword_search_terms (keyword_id, url_id, lower_term, term) VALUES (2,?,?,?)",
                    ((i, f"term {i}", f"Term {i}") for i in range(1, n_kw + 1)))
    con.commit()
    con.close()
    return {"visits": n_visits, "urls": n_urls, "downloads": n_dl, "searches": n_kw}


def ours(db: Path) -> int:
    ctx = ParseContext("browser", "Users/u/AppData/Local/Google/Chrome/User Data/Default/History")
    n = 0
    for rec in B.parse(db, ctx):
        n += 1
        for _ in B.timeline(rec):
            pass
    assert ctx.warning_count == 0, ctx.warnings[:3]
    return n


def bare_sqlite(db: Path) -> int:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    n = 0
    for q in ("SELECT v.id, v.visit_time, u.url, u.title, u.visit_count, u.typed_count, v.transition, v.visit_duration"
              " FROM visits v LEFT JOIN urls u ON u.id = v.url",
              "SELECT * FROM downloads", "SELECT * FROM downloads_url_chains ORDER BY id, chain_index",
              "SELECT k.term, u.url, u.last_visit_time FROM keyword_search_terms k LEFT JOIN urls u ON u.id = k.url_id"):
        for _ in con.execute(q):
            n += 1
    con.close()
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--visits", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix="hist-bench-"))
    try:
        db = d / "History"
        t0 = time.perf_counter()
        counts = build(a.visits, db)
        print(f"generated {db.stat().st_size / 1e6:.1f} MB History {counts} in {time.perf_counter() - t0:.1f}s")
        results = []
        for name, fn in (("wintriage browser.parse", ours), ("bare sqlite3 SELECTs", bare_sqlite)):
            best, rows = float("inf"), 0
            for _ in range(a.rounds):
                t0 = time.perf_counter()
                rows = fn(db)
                best = min(best, time.perf_counter() - t0)
            results.append((name, best, rows))
        base = results[1][1]
        print(f"{'parser':26} {'seconds':>8} {'rows':>8} {'rows/s':>9} {'time vs bare':>12}")
        for name, secs, rows in results:
            print(f"{name:26} {secs:8.3f} {rows:8d} {rows / secs:9.0f} {secs / base:11.2f}x")
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
