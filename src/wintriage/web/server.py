"""``wintriage serve``: a local web timeline explorer over a case (Timeline Explorer / Glossy in the browser).

The case database is opened read-only. Tags and notes go to ``tags.sqlite`` beside it, never into the
evidence tables. Every filter value is a bound parameter; column names and operators are checked against
the schema and a fixed list (unknown ones: HTTP 400). There is no endpoint that reads files: static assets
come from the package, the data from the two databases.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..analyzers import answers as answers_mod
from ..store.case import ident
from ..timeutil import fmt, parse_tz, tz_label
from . import query as q

STATIC = Path(__file__).parent / "static"
TAGS_SCHEMA = """
CREATE TABLE IF NOT EXISTS tags (id INTEGER PRIMARY KEY, ref_table TEXT NOT NULL, ref_id INTEGER NOT NULL,
  tag TEXT NOT NULL, note TEXT, created TEXT, UNIQUE(ref_table, ref_id, tag));
"""
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class Case:
    def __init__(self, case_dir: Path) -> None:
        self.dir = Path(case_dir)
        self.db_path = self.dir / "case.sqlite" if self.dir.is_dir() else self.dir
        if not self.db_path.exists():
            raise FileNotFoundError(f"no case database at {self.db_path}")
        self.tags_path = self.db_path.with_name("tags.sqlite")
        w = sqlite3.connect(self.tags_path)
        w.executescript(TAGS_SCHEMA)
        w.close()
        self._local = threading.local()
        con = self.con()
        self.tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'timeline_fts%' AND name NOT LIKE 'sqlite_%'")}
        self.columns = {t: [r[1] for r in con.execute(f"PRAGMA table_info({ident(t)})")] for t in self.tables}
        self.tags_lock = threading.Lock()

    def con(self) -> sqlite3.Connection:
        c = getattr(self._local, "con", None)
        if c is None:
            c = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, check_same_thread=False)
            c.execute("PRAGMA query_only = 1")
            c.execute("ATTACH DATABASE ? AS tagsdb", (f"file:{self.tags_path}?mode=ro",))
            c.create_function("REGEXP", 2, q.regexp, deterministic=True)
            self._local.con = c
        return c

    def table(self, name: str | None) -> str:
        t = name or "timeline"
        if t not in self.tables:
            raise q.BadRequest(f"unknown table: {t!r}")
        return t


def _json(obj: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(obj, status_code=status, headers=SECURITY_HEADERS)


def create_app(case_dir: Path) -> Starlette:
    case = Case(case_dir)

    def params(req: Request) -> dict[str, str]:
        return dict(req.query_params)

    async def index(_req: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)

    async def meta(_req: Request) -> Response:
        con = case.con()
        m = {k: v for k, v in con.execute("SELECT key, value FROM meta WHERE key != 'answers'")}
        rng = con.execute("SELECT MIN(ts), MAX(ts), COUNT(*) FROM timeline").fetchone() if "timeline" in case.tables else (None, None, 0)
        tz = None
        try:
            bias = answers_mod.system_overview(con).get("timezone_bias_minutes")
            tz = -int(bias) if bias is not None else None
        except (ValueError, TypeError, sqlite3.Error):
            tz = None
        return _json({
            "tables": sorted(case.tables - {"meta", "tags"}),
            "columns": case.columns,
            "meta": m,
            "timeline": {"min": rng[0], "max": rng[1], "count": rng[2]},
            "case_offset_minutes": tz,
        })

    async def rows(req: Request) -> Response:
        p = params(req)
        t = case.table(p.get("table"))
        cols = case.columns[t]
        filters = q.parse_filters(p.get("filters"), set(cols))
        res = q.page(case.con(), t, cols, filters=filters, sort=p.get("sort") or ("ts" if t == "timeline" else "id"),
                     desc=p.get("dir") == "desc", after=p.get("after"), limit=int(p.get("limit") or 200),
                     fts=p.get("q") or None, tagged_only=p.get("tagged") == "1")
        if res["rows"]:
            ids = [r["id"] for r in res["rows"]]
            tags: dict[int, list[str]] = {}
            for rid, tag in case.con().execute(
                f"SELECT ref_id, tag FROM tagsdb.tags WHERE ref_table = ? AND ref_id IN ({','.join('?' * len(ids))})", [t, *ids]
            ):
                tags.setdefault(rid, []).append(tag)
            for r in res["rows"]:
                r["_tags"] = tags.get(r["id"], [])
        return _json(res)

    def _filtered(p: dict[str, str]) -> tuple[str, str, list[Any]]:
        t = case.table(p.get("table"))
        filters = q.parse_filters(p.get("filters"), set(case.columns[t]))
        where, args = q.where_sql(filters)
        conds = [where] if where else []
        if p.get("q"):
            conds.append("t.id IN (SELECT rowid FROM timeline_fts WHERE timeline_fts MATCH ?)")
            args.append(q.fts_query(p["q"]))
        if p.get("tagged") == "1":
            conds.append("EXISTS (SELECT 1 FROM tagsdb.tags g WHERE g.ref_table = ? AND g.ref_id = t.id)")
            args.append(t)
        return t, (" WHERE " + " AND ".join(f"({c})" for c in conds)) if conds else "", args

    async def count(req: Request) -> Response:
        t, where, args = _filtered(params(req))
        n = case.con().execute(f"SELECT COUNT(*) FROM {ident(t)} t{where}", args).fetchone()[0]
        return _json({"count": n})

    async def group(req: Request) -> Response:
        p = params(req)
        t, where, args = _filtered(p)
        col = p.get("column") or ""
        if col not in case.columns[t]:
            raise q.BadRequest(f"unknown column: {col!r}")
        rs = case.con().execute(
            f"SELECT t.{ident(col)} AS v, COUNT(*) AS n FROM {ident(t)} t{where} GROUP BY v ORDER BY n DESC LIMIT 500", args
        ).fetchall()
        return _json({"column": col, "groups": [{"value": v, "count": n} for v, n in rs]})

    async def histogram(req: Request) -> Response:
        p = params(req)
        t, where, args = _filtered(p)
        if "ts" not in case.columns[t]:
            raise q.BadRequest("this table has no ts column")
        bins = max(10, min(int(p.get("bins") or 120), 1000))
        con = case.con()
        lo, hi = con.execute(f"SELECT MIN(ts), MAX(ts) FROM {ident(t)} t{where}", args).fetchone()
        if lo is None:
            return _json({"bins": [], "lo": None, "hi": None, "width": 0})
        width = max(1, (hi - lo) // bins + 1)
        rs = con.execute(f"SELECT (t.ts - ?) / ? AS b, COUNT(*) FROM {ident(t)} t{where} GROUP BY b", [lo, width, *args]).fetchall()
        counts = [0] * bins
        for b, n in rs:
            counts[min(int(b), bins - 1)] += n
        return _json({"bins": counts, "lo": lo, "hi": hi, "width": width})

    async def row(req: Request) -> Response:
        p = params(req)
        t = case.table(p.get("table"))
        try:
            rid = int(p.get("id", ""))
        except ValueError:
            raise q.BadRequest("id must be an integer") from None
        con = case.con()
        cols = case.columns[t]
        r = con.execute(f"SELECT {', '.join(ident(c) for c in cols)} FROM {ident(t)} WHERE id = ?", (rid,)).fetchone()
        if r is None:
            raise HTTPException(404, "no such row")
        d = dict(zip(cols, r, strict=True))
        out: dict[str, Any] = {"table": t, "row": d, "ref": None, "related": []}
        if t == "timeline" and d.get("ref_table") in case.tables:
            rt = d["ref_table"]
            rc = case.columns[rt]
            rr = con.execute(f"SELECT {', '.join(ident(c) for c in rc)} FROM {ident(rt)} WHERE id = ?", (d["ref_id"],)).fetchone()
            if rr:
                out["ref"] = {"table": rt, "row": dict(zip(rc, rr, strict=True))}
        out["related"] = related(d, out["ref"])
        out["tags"] = [dict(zip(("tag", "note", "created"), x, strict=True)) for x in con.execute(
            "SELECT tag, note, created FROM tagsdb.tags WHERE ref_table = ? AND ref_id = ?", (t, rid))]
        return _json(out)

    def related(d: dict[str, Any], ref: dict[str, Any] | None) -> list[dict[str, Any]]:
        """Filters that open related rows: same path, same MFT entry, same executable."""
        rel = []
        if d.get("path"):
            rel.append({"label": "same path", "table": "timeline", "filters": [{"col": "path", "op": "equals", "value": d["path"]}]})
        src = ref["row"] if ref else d
        for k in ("entry", "mft_entry", "entry_number"):
            if src.get(k) is not None and ref:
                rel.append({"label": f"same MFT entry {src[k]}", "table": ref["table"],
                            "filters": [{"col": k, "op": "equals", "value": src[k]}]})
                break
        for k in ("executable_name", "executable_path", "executable_info"):
            if src.get(k):
                rel.append({"label": "same executable", "table": "timeline",
                            "filters": [{"col": "path", "op": "contains", "value": str(src[k]).split("\\")[-1]}]})
                break
        return rel

    async def findings(_req: Request) -> Response:
        con = case.con()
        fs = []
        for fid, a, title, sev, ts, desc in con.execute("SELECT id, analyzer, title, severity, ts, description FROM findings ORDER BY ts"):
            ev = [{"table": t, "id": i, "note": n} for t, i, n in con.execute(
                "SELECT ref_table, ref_id, note FROM finding_evidence WHERE finding_id = ?", (fid,))]
            fs.append({"id": fid, "analyzer": a, "title": title, "severity": sev, "ts": ts, "description": desc, "evidence": ev})
        try:
            ans = answers_mod.render(answers_mod.load(case.dir), UTC)
        except (sqlite3.Error, ValueError, KeyError):
            ans = {}
        return _json({"findings": fs, "answers": ans})

    async def tags_post(req: Request) -> Response:
        try:
            body = await req.json()
        except ValueError:
            raise q.BadRequest("JSON body expected") from None
        t = case.table(body.get("table"))
        try:
            rid = int(body.get("id"))
        except (TypeError, ValueError):
            raise q.BadRequest("id must be an integer") from None
        tag = str(body.get("tag") or "bookmark")[:100]
        note = str(body.get("note") or "")[:4000]
        with case.tags_lock:
            w = sqlite3.connect(case.tags_path)
            try:
                w.execute("INSERT OR REPLACE INTO tags (ref_table, ref_id, tag, note, created) VALUES (?,?,?,?,?)",
                          (t, rid, tag, note, datetime.now(UTC).isoformat()))
                w.commit()
            finally:
                w.close()
        return _json({"ok": True})

    async def tags_delete(req: Request) -> Response:
        p = params(req)
        t = case.table(p.get("table"))
        with case.tags_lock:
            w = sqlite3.connect(case.tags_path)
            try:
                w.execute("DELETE FROM tags WHERE ref_table = ? AND ref_id = ? AND tag = ?", (t, int(p.get("id", "0")), p.get("tag", "")))
                w.commit()
            finally:
                w.close()
        return _json({"ok": True})

    async def tags_get(_req: Request) -> Response:
        rs = case.con().execute("SELECT ref_table, ref_id, tag, note, created FROM tagsdb.tags ORDER BY id").fetchall()
        return _json({"tags": [dict(zip(("table", "id", "tag", "note", "created"), r, strict=True)) for r in rs]})

    async def export(req: Request) -> Response:
        p = params(req)
        t, where, args = _filtered(p)
        tz = parse_tz(p.get("tz") or "UTC")
        cols = case.columns[t]
        sort = p.get("sort") or ("ts" if "ts" in cols else "id")
        if sort not in cols:
            raise q.BadRequest(f"unknown sort column: {sort!r}")
        con = case.con()
        sql = f"SELECT {', '.join('t.' + ident(c) for c in cols)} FROM {ident(t)} t{where} ORDER BY t.{ident(sort)}, t.id LIMIT 2000000"
        time_cols = {c for c in cols if c == "ts" or c.endswith("_time") or c in ("timestamp", "time_created", "last_run")}

        def gen() -> Any:
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\r\n")
            buf.write("\ufeff")
            if t == "timeline":
                w.writerow([f"Time({tz_label(tz)})", "TimeDesc", "Artifact", "Category", "Host", "User", "Path", "Summary",
                            "SourceTable", "SourceId", "Tags"])
            else:
                w.writerow(cols)
            for r in con.execute(sql, args):
                d = dict(zip(cols, r, strict=True))
                if t == "timeline":
                    tg = ",".join(x[0] for x in con.execute("SELECT tag FROM tagsdb.tags WHERE ref_table='timeline' AND ref_id=?", (d["id"],)))
                    w.writerow([fmt(d["ts"], tz), d["ts_desc"], d["artifact"], d["category"], d["host"], d["user"], d["path"],
                                d["summary"], d["ref_table"], d["ref_id"], tg])
                else:
                    w.writerow([fmt(d[c], tz) if c in time_cols and isinstance(d[c], int) else d[c] for c in cols])
                if buf.tell() > 1 << 16:
                    yield buf.getvalue()
                    buf.seek(0)
                    buf.truncate()
            yield buf.getvalue()

        name = "wintriage_tagged.csv" if p.get("tagged") == "1" else f"wintriage_{t}.csv"
        return StreamingResponse(gen(), media_type="text/csv; charset=utf-8",
                                 headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'})

    async def bad_request(_req: Request, exc: Exception) -> Response:
        return _json({"error": str(exc)}, 400)

    async def http_error(_req: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _json({"error": exc.detail}, exc.status_code)

    async def db_error(_req: Request, exc: Exception) -> Response:
        return _json({"error": f"query rejected: {exc}"}, 400)

    routes = [
        Route("/", index),
        Route("/api/meta", meta),
        Route("/api/rows", rows),
        Route("/api/count", count),
        Route("/api/group", group),
        Route("/api/histogram", histogram),
        Route("/api/row", row),
        Route("/api/findings", findings),
        Route("/api/tags", tags_get, methods=["GET"]),
        Route("/api/tags", tags_post, methods=["POST"]),
        Route("/api/tags", tags_delete, methods=["DELETE"]),
        Route("/api/export.csv", export),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={
        q.BadRequest: bad_request, HTTPException: http_error, sqlite3.OperationalError: db_error,
        json.JSONDecodeError: bad_request,
    })
    app.state.case = case
    return app


def run(case_dir: Path, host: str = "127.0.0.1", port: int = 8765) -> None:
    import uvicorn

    app = create_app(case_dir)
    print(f"wintriage: serving {case_dir} on http://{host}:{port}/ (Ctrl-C to stop)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
