"""Safe query building for the web API: column names are checked against the schema, operators against a
fixed list, and every value is bound as a parameter. Paging is keyset (``WHERE (sort, id) > (?, ?)``), never
OFFSET, so a page costs the same at row 10 and at row 5,000,000."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
from dataclasses import dataclass
from typing import Any

from ..store.case import ident

OPS = {"contains", "not_contains", "equals", "not_equals", "regex", "gt", "ge", "lt", "le", "between", "in", "empty", "not_empty"}
MAX_LIMIT = 1000
MAX_REGEX = 200


class BadRequest(ValueError):
    """Rejected input: answered with HTTP 400."""


@dataclass(frozen=True)
class Filter:
    col: str
    op: str
    value: Any = None


def parse_filters(raw: str | None, cols: set[str]) -> list[Filter]:
    if not raw:
        return []
    try:
        items = json.loads(raw)
    except ValueError:
        raise BadRequest("filters must be JSON") from None
    if not isinstance(items, list) or len(items) > 50:
        raise BadRequest("filters must be a list (at most 50)")
    out = []
    for it in items:
        if not isinstance(it, dict):
            raise BadRequest("each filter is an object {col, op, value}")
        col, op = it.get("col"), it.get("op")
        if col not in cols:
            raise BadRequest(f"unknown column: {col!r}")
        if op not in OPS:
            raise BadRequest(f"unknown operator: {op!r}")
        v = it.get("value")
        if op == "regex":
            if not isinstance(v, str) or len(v) > MAX_REGEX:
                raise BadRequest("regex must be a string of at most 200 characters")
            try:
                re.compile(v)
            except re.error as e:
                raise BadRequest(f"bad regex: {e}") from None
        if op == "between" and not (isinstance(v, list) and len(v) == 2):
            raise BadRequest("between takes [low, high]")
        if op == "in" and not (isinstance(v, list) and len(v) <= 500):
            raise BadRequest("in takes a list (at most 500)")
        out.append(Filter(col, op, v))
    return out


def where_sql(filters: list[Filter], alias: str = "t") -> tuple[str, list[Any]]:
    parts: list[str] = []
    params: list[Any] = []
    for f in filters:
        c = f"{alias}.{ident(f.col)}"
        if f.op == "contains":
            parts.append(f"{c} LIKE ? ESCAPE '\\'")
            params.append("%" + _like(str(f.value)) + "%")
        elif f.op == "not_contains":
            parts.append(f"({c} IS NULL OR {c} NOT LIKE ? ESCAPE '\\')")
            params.append("%" + _like(str(f.value)) + "%")
        elif f.op == "equals":
            parts.append(f"{c} = ?")
            params.append(f.value)
        elif f.op == "not_equals":
            parts.append(f"({c} IS NULL OR {c} != ?)")
            params.append(f.value)
        elif f.op == "regex":
            parts.append(f"{c} REGEXP ?")
            params.append(f.value)
        elif f.op in ("gt", "ge", "lt", "le"):
            parts.append(f"{c} {dict(gt='>', ge='>=', lt='<', le='<=')[f.op]} ?")
            params.append(f.value)
        elif f.op == "between":
            parts.append(f"{c} BETWEEN ? AND ?")
            params += list(f.value)
        elif f.op == "in":
            parts.append(f"{c} IN ({','.join('?' * len(f.value))})" if f.value else "0")
            params += list(f.value)
        elif f.op == "empty":
            parts.append(f"({c} IS NULL OR {c} = '')")
        elif f.op == "not_empty":
            parts.append(f"({c} IS NOT NULL AND {c} != '')")
    return " AND ".join(parts), params


def _like(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def encode_cursor(value: Any, rid: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([value, rid]).encode()).decode()


def decode_cursor(c: str | None) -> tuple[Any, int] | None:
    if not c:
        return None
    try:
        v, rid = json.loads(base64.urlsafe_b64decode(c.encode()))
        return v, int(rid)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise BadRequest("bad cursor") from None


def regexp(pattern: str, value: Any) -> bool:
    if value is None:
        return False
    return _compiled(pattern).search(str(value)) is not None


_RX: dict[str, re.Pattern[str]] = {}


def _compiled(p: str) -> re.Pattern[str]:
    rx = _RX.get(p)
    if rx is None:
        if len(_RX) > 256:
            _RX.clear()
        rx = _RX[p] = re.compile(p, re.IGNORECASE)
    return rx


def page(
    con: sqlite3.Connection,
    table: str,
    cols: list[str],
    *,
    filters: list[Filter],
    sort: str = "id",
    desc: bool = False,
    after: str | None = None,
    limit: int = 200,
    fts: str | None = None,
    tagged_only: bool = False,
) -> dict[str, Any]:
    if sort not in cols:
        raise BadRequest(f"unknown sort column: {sort!r}")
    limit = max(1, min(int(limit), MAX_LIMIT))
    where, params = where_sql(filters)
    conds = [where] if where else []
    if fts:
        if table != "timeline":
            raise BadRequest("full-text search is over the timeline")
        conds.append("t.id IN (SELECT rowid FROM timeline_fts WHERE timeline_fts MATCH ?)")
        params.append(fts_query(fts))
    if tagged_only:
        conds.append("EXISTS (SELECT 1 FROM tagsdb.tags g WHERE g.ref_table = ? AND g.ref_id = t.id)")
        params.append(table)
    cur = decode_cursor(after)
    s = f"t.{ident(sort)}"
    cmp = "<" if desc else ">"
    if cur is not None:
        v, rid = cur
        if sort == "id":
            conds.append(f"t.id {cmp} ?")
            params.append(rid)
        elif v is None:
            # NULLs sort first ascending: after a NULL come the other NULLs with a larger id, then all non-NULLs
            conds.append(f"(({s} IS NULL AND t.id {cmp} ?) OR {s} IS NOT NULL)" if not desc else f"({s} IS NULL AND t.id < ?)")
            params.append(rid)
        else:
            # row values let SQLite seek the (column, rowid) index instead of scanning from the start
            if desc:
                conds.append(f"(({s}, t.id) < (?, ?) OR {s} IS NULL)")
            else:
                conds.append(f"({s}, t.id) > (?, ?)")
            params += [v, rid]
    order = f"{s} {'DESC' if desc else 'ASC'}" + ("" if sort == "id" else f", t.id {'DESC' if desc else 'ASC'}")
    sql = (f"SELECT {', '.join('t.' + ident(c) for c in cols)} FROM {ident(table)} t"
           + (" WHERE " + " AND ".join(f"({c})" for c in conds) if conds else "") + f" ORDER BY {order} LIMIT ?")
    rows = con.execute(sql, [*params, limit + 1]).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    out_rows = [dict(zip(cols, r, strict=True)) for r in rows]
    nxt = encode_cursor(out_rows[-1][sort], out_rows[-1]["id"]) if more and out_rows else None
    return {"rows": out_rows, "next": nxt}


def fts_query(q: str) -> str:
    """User text -> an FTS5 query of quoted terms (no FTS syntax injection; prefix match on the last term)."""
    terms = [t for t in re.split(r"\s+", q.strip()) if t][:20]
    if not terms:
        raise BadRequest("empty search")
    quoted = ['"' + t.replace('"', '""') + '"' for t in terms]
    return " ".join(quoted)
