"""Web API latency on a synthetic case with N timeline rows (default 5M), real schema.

    python bench/bench_web.py [--rows 5000000] [--db /tmp/web5m/case.sqlite] [--runs 30]

Builds the case once (rows made by SQLite itself: varied artefacts, paths, summaries and timestamps; then the
same indexes and FTS5 index that `analyze` creates), then times the API endpoints in-process through Starlette's
TestClient (the HTTP stack without a socket) and prints p50/p95 per query.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from wintriage.store.case import CaseWriter


def build(db: Path, rows: int) -> None:
    if db.exists():
        return
    t0 = time.perf_counter()
    w = CaseWriter(db)
    w.ensure_table("things", [("name", "TEXT")])
    w.db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        "INSERT INTO timeline (id, ts, ts_desc, artifact, category, host, user, path, summary, ref_table, ref_id, source_id) "
        "SELECT i, 133000000000000000 + (i * 7919 % ?) * 1000000, "
        "CASE i % 4 WHEN 0 THEN 'SI MACB' WHEN 1 THEN 'FileCreate' WHEN 2 THEN 'Last Run' ELSE 'Visited' END, "
        "CASE i % 6 WHEN 0 THEN 'mft' WHEN 1 THEN 'usnjrnl' WHEN 2 THEN 'evtx' WHEN 3 THEN 'registry' WHEN 4 THEN 'browser' ELSE 'prefetch' END, "
        "CASE i % 3 WHEN 0 THEN 'file' WHEN 1 THEN 'event' ELSE 'web' END, 'HOST', CASE i % 5 WHEN 0 THEN 'minji' ELSE '' END, "
        "'/Users/minji/Documents/dir' || (i % 997) || '/file_' || i || CASE i % 50 WHEN 0 THEN '.pdf.kraken' ELSE '.docx' END, "
        "'USN FileCreate: file_' || i || ' in dir' || (i % 997), 'things', i, 1 FROM n",
        (rows, rows * 50),
    )
    w._tl_id = rows
    w.close()
    print(f"built {rows:,} rows in {time.perf_counter() - t0:.1f} s ({db.stat().st_size / 1e6:.0f} MB)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--db", type=Path, default=Path("/tmp/web5m/case.sqlite"))
    ap.add_argument("--runs", type=int, default=30)
    a = ap.parse_args()
    a.db.parent.mkdir(parents=True, exist_ok=True)
    build(a.db, a.rows)
    from starlette.testclient import TestClient

    from wintriage.web.server import create_app

    c = TestClient(create_app(a.db.parent))
    kraken = json.dumps([{"col": "path", "op": "contains", "value": ".kraken"}])
    artifact = json.dumps([{"col": "artifact", "op": "equals", "value": "usnjrnl"}])
    queries = {
        "first page (ts)": {"table": "timeline"},
        "sorted page (artifact desc)": {"table": "timeline", "sort": "artifact", "dir": "desc"},
        "sorted page (path)": {"table": "timeline", "sort": "path"},
        "filtered page (contains .kraken)": {"table": "timeline", "filters": kraken},
        "filtered page (artifact = usnjrnl)": {"table": "timeline", "filters": artifact},
        "FTS search (file_4242)": {"table": "timeline", "q": "file_4242"},
    }
    print(f"{'query':38} {'p50 ms':>8} {'p95 ms':>8} rows")
    for name, params in queries.items():
        times = []
        n = 0
        after = None
        for i in range(a.runs):
            p = dict(params, limit="200")
            if after and i % 3:  # also page forward (keyset) on two runs out of three
                p["after"] = after
            t = time.perf_counter()
            r = c.get("/api/rows", params=p)
            times.append((time.perf_counter() - t) * 1000)
            body = r.json()
            n = len(body.get("rows", []))
            after = body.get("next")
        times.sort()
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
        print(f"{name:38} {statistics.median(times):8.1f} {p95:8.1f} {n}")


if __name__ == "__main__":
    main()
