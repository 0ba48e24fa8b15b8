"""The case store: one SQLite file, written in batches, read by analyzers, exports, report and web UI."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from ..model import Finding, ParseWarning, Record, RowBatch, TimelineEvent

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
BATCH = 5000


def ident(name: str) -> str:
    """A table or column name, checked: names never come from evidence, but we make sure."""
    if not _IDENT.match(name):
        raise ValueError(f"bad identifier {name!r}")
    return '"' + name + '"'


_NAN = float("nan")  # bound as NULL by SQLite


def _json_cell(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, default=str)


# Values that SQLite cannot store natively are adapted by the sqlite3 module itself (in C, only when met),
# so batching a row costs no per-cell Python check.
for _t in (list, tuple, dict):
    sqlite3.register_adapter(_t, _json_cell)


def _cell(v: Any) -> Any:
    if isinstance(v, bool):
        return int(v)
    if v is None or isinstance(v, (int, float, str, bytes)):
        return v
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v, ensure_ascii=False, default=str)
    return str(v)


class CaseWriter:
    """Batched writer. Row ids are assigned here, so timeline refs need no round trip."""

    def __init__(self, path: Path, *, fresh: bool = True) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                p = Path(str(path) + suffix)
                if p.exists():
                    p.unlink()
        self.path = path
        self.db = sqlite3.connect(str(path), isolation_level=None)
        self.db.execute("PRAGMA cache_size = -65536")
        self.db.executescript(resources.files("wintriage.store").joinpath("schema.sql").read_text())
        self.db.execute("BEGIN")
        self._columns: dict[str, list[str]] = {}
        self._insert_sql: dict[str, str] = {}
        self._pending: dict[str, list[Sequence[Any]]] = {}
        self._next_id: dict[str, int] = {}
        self._timeline: list[tuple[Any, ...]] = []
        self._tl_id = self._max_id("timeline")

    def _max_id(self, table: str) -> int:
        row = self.db.execute(f"SELECT COALESCE(MAX(id), 0) FROM {ident(table)}").fetchone()
        return int(row[0])

    # --- schema -------------------------------------------------------------------------------
    def ensure_table(self, table: str, columns: list[tuple[str, str]]) -> None:
        if table in self._columns:
            return
        names = [c for c, _ in columns]
        cols = ", ".join(f"{ident(c)} {t}" for c, t in columns)
        self.db.execute(
            f"CREATE TABLE IF NOT EXISTS {ident(table)} (id INTEGER PRIMARY KEY, source_id INTEGER, {cols})"
        )
        self._columns[table] = names
        ph = ", ".join("?" * (len(names) + 2))
        self._insert_sql[table] = (
            f"INSERT INTO {ident(table)} (id, source_id, {', '.join(ident(c) for c in names)}) VALUES ({ph})"
        )
        self._pending[table] = []
        self._next_id[table] = self._max_id(table)

    def ensure_tables(self, tables: dict[str, list[tuple[str, str]]]) -> None:
        for t, cols in tables.items():
            self.ensure_table(t, cols)

    # --- rows ---------------------------------------------------------------------------------
    def add(self, rec: Record, source_id: int | None) -> int:
        names = self._columns.get(rec.table)
        if names is None:
            raise KeyError(f"table {rec.table!r} was not declared by its artefact module")
        d = rec.data
        rid = self._next_id[rec.table] + 1
        self._next_id[rec.table] = rid
        pend = self._pending[rec.table]
        pend.append((rid, source_id, *map(d.get, names)))  # lists/dicts become JSON via the adapters below
        if len(pend) >= BATCH:
            self._flush_table(rec.table)
        return rid

    def add_batch(self, batch: RowBatch, source_id: int | None) -> int:
        """Insert a batch of rows with one ``executemany`` over its columns; returns the first row's id (the
        rest follow). Columns the table does not declare are ignored, missing ones are NULL."""
        names = self._columns.get(batch.table)
        if names is None:
            raise KeyError(f"table {batch.table!r} was not declared by its artefact module")
        self._flush_table(batch.table)
        first = self._next_id[batch.table] + 1
        n = len(batch)
        # sqlite3 binds None through a slow adapter lookup (~0.5 us a cell); a column of None is left out (NULL),
        # and None in a mixed column is bound as NaN, which SQLite stores as NULL (bound in C, ~10x cheaper)
        cols, data = [], []
        for c, v in batch.columns.items():
            if c not in names:
                continue
            if None in v:
                if v.count(None) == n:
                    continue
                v = [_NAN if x is None else x for x in v]
            cols.append(c)
            data.append(v)
        sid = "NULL" if source_id is None else str(int(source_id))
        # ids are ours: the pending rows are flushed, so SQLite's next rowid is exactly ``first``
        self.db.executemany(
            f"INSERT INTO {ident(batch.table)} ({', '.join(['id', 'source_id', *map(ident, cols)])}) "
            f"VALUES ({', '.join(['?', sid, *('?' * len(cols))])})",
            zip(range(first, first + n), *data, strict=True),
        )
        self._next_id[batch.table] = first + n - 1
        return first

    def add_event(
        self,
        ev: TimelineEvent,
        *,
        artifact: str,
        category: str,
        host: str,
        ref_table: str,
        ref_id: int,
        source_id: int | None,
    ) -> None:
        self._tl_id += 1
        self._timeline.append(
            (
                self._tl_id,
                ev.ts,
                ev.ts_desc,
                artifact,
                category,
                host,
                ev.user,
                ev.path,
                ev.summary,
                ref_table,
                ref_id,
                source_id,
            )
        )
        if len(self._timeline) >= BATCH:
            self._flush_timeline()

    def timeline_from_sql(self, select: str, *, artifact: str, category: str, ref_table: str, source_id: int) -> int:
        """Timeline rows derived by SQL from an artefact table (one ``INSERT ... SELECT``, no Python per row).

        ``select`` yields ``ts, ts_desc, user, path, summary, id`` and may use ``:source_id``; the SQL is the
        module's own constant, never built from evidence."""
        self.flush()
        cur = self.db.execute(
            "INSERT INTO timeline (ts, ts_desc, artifact, category, host, user, path, summary, ref_table, ref_id,"
            " source_id) SELECT s.ts, s.ts_desc, :artifact, :category, '', s.user, s.path, s.summary, :ref_table,"
            f" s.id, :source_id FROM ({select}) s WHERE s.ts IS NOT NULL AND s.ts > 0",
            {"artifact": artifact, "category": category, "ref_table": ref_table, "source_id": source_id},
        )
        self._tl_id = self._max_id("timeline")
        return cur.rowcount

    FIXED_TABLES = frozenset({"meta", "sources", "warnings", "timeline", "findings", "finding_evidence", "tags"})

    def merge(self, part: Path) -> None:
        """Append another case database (a parallel worker's) with every id shifted past ours: artefact rows,
        their sources and warnings, and timeline rows (whose ``ref_id`` follow their table's shift)."""
        self.flush()
        self.db.execute("COMMIT")
        self.db.execute("ATTACH DATABASE ? AS part", (str(part),))
        try:
            self.db.execute("BEGIN")
            names = [r[0] for r in self.db.execute("SELECT name FROM part.sqlite_master WHERE type = 'table'")]
            src_off = self._max_id("sources")
            shift: dict[str, int] = {}
            for t in names:
                if t in self.FIXED_TABLES or t.startswith(("timeline_fts", "sqlite_")):
                    continue
                cols = [(r[1], r[2]) for r in self.db.execute(f"PRAGMA part.table_info({ident(t)})")
                        if r[1] not in ("id", "source_id")]
                self.ensure_table(t, cols)
                off = shift[t] = self._next_id[t]
                names_sql = ", ".join(ident(c) for c, _ in cols)
                self.db.execute(f"INSERT INTO {ident(t)} (id, source_id, {names_sql}) SELECT id + ?, source_id + ?, "
                                f"{names_sql} FROM part.{ident(t)}", (off, src_off))
                self._next_id[t] = self._max_id(t)
            scols = [r[1] for r in self.db.execute("PRAGMA part.table_info(sources)") if r[1] != "id"]
            sc = ", ".join(ident(c) for c in scols)
            self.db.execute(f"INSERT INTO sources (id, {sc}) SELECT id + ?, {sc} FROM part.sources", (src_off,))
            self.db.execute("INSERT INTO warnings (source_id, artifact, source, offset, reason) "
                            "SELECT source_id + ?, artifact, source, offset, reason FROM part.warnings", (src_off,))
            case = " ".join("WHEN ? THEN ?" for _ in shift)
            args: list[Any] = [x for t, off in shift.items() for x in (t, off)]
            self.db.execute(
                "INSERT INTO timeline (id, ts, ts_desc, artifact, category, host, user, path, summary, ref_table, ref_id,"
                " source_id) SELECT id + ?, ts, ts_desc, artifact, category, host, user, path, summary, ref_table,"
                f" ref_id + {'CASE ref_table ' + case + ' ELSE 0 END' if shift else '0'}, source_id + ? FROM part.timeline",
                [self._tl_id, *args, src_off],
            )
            self._tl_id = self._max_id("timeline")
            self.db.execute("INSERT OR IGNORE INTO meta (key, value) SELECT key, value FROM part.meta")
            self.db.execute("COMMIT")
        finally:
            self.db.execute("DETACH DATABASE part")
            self.db.execute("BEGIN")

    def _flush_table(self, table: str) -> None:
        rows = self._pending[table]
        if rows:
            self.db.executemany(self._insert_sql[table], rows)
            rows.clear()

    def _flush_timeline(self) -> None:
        if self._timeline:
            self.db.executemany(
                "INSERT INTO timeline (id, ts, ts_desc, artifact, category, host, user, path, summary,"
                " ref_table, ref_id, source_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                self._timeline,
            )
            self._timeline.clear()

    def flush(self) -> None:
        for t in self._pending:
            self._flush_table(t)
        self._flush_timeline()

    # --- bookkeeping --------------------------------------------------------------------------
    def add_source(self, artifact: str, path: str, **fields: Any) -> int:
        keys = ["artifact", "path", *fields]
        cur = self.db.execute(
            f"INSERT INTO sources ({', '.join(ident(k) for k in keys)}) VALUES ({', '.join('?' * len(keys))})",
            [artifact, path, *[_cell(v) for v in fields.values()]],
        )
        return int(cur.lastrowid or 0)

    def finish_source(self, source_id: int, **fields: Any) -> None:
        sets = ", ".join(f"{ident(k)} = ?" for k in fields)
        self.db.execute(f"UPDATE sources SET {sets} WHERE id = ?", [*map(_cell, fields.values()), source_id])

    def add_warnings(self, warnings: list[ParseWarning], source_id: int | None) -> None:
        self.db.executemany(
            "INSERT INTO warnings (source_id, artifact, source, offset, reason) VALUES (?,?,?,?,?)",
            [(source_id, w.artifact, w.source, w.offset, w.reason) for w in warnings],
        )

    def add_finding(self, f: Finding) -> int:
        self.flush()
        cur = self.db.execute(
            "INSERT INTO findings (analyzer, title, severity, ts, description, details) VALUES (?,?,?,?,?,?)",
            (f.analyzer, f.title, f.severity, f.ts, f.description, json.dumps(f.details, ensure_ascii=False, default=str)),
        )
        fid = int(cur.lastrowid or 0)
        self.db.executemany(
            "INSERT INTO finding_evidence (finding_id, ref_table, ref_id, note) VALUES (?,?,?,?)",
            [(fid, e.table, e.row_id, e.note) for e in f.evidence],
        )
        return fid

    def set_meta(self, key: str, value: Any) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            (key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)),
        )

    def commit(self) -> None:
        self.flush()
        self.db.execute("COMMIT")
        self.db.execute("BEGIN")

    def index_timeline_time(self) -> None:
        """The timeline's time index alone (what the timeline export and the analyzers read by), committed."""
        self.flush()
        self.db.execute("CREATE INDEX IF NOT EXISTS timeline_ts ON timeline (ts)")
        self.commit()

    def close(self, *, index: bool = True) -> None:
        if index:
            self.build_indexes()
        self.flush()
        self.db.execute("COMMIT")
        self.db.execute("PRAGMA journal_mode = DELETE")  # needs no other connection open
        self.db.close()

    def build_indexes(self) -> None:
        """The timeline's indexes and full-text index, committed (readers in other processes may go on)."""
        self.flush()
        self.db.execute("CREATE INDEX IF NOT EXISTS timeline_ts ON timeline (ts)")
        self.db.execute("CREATE INDEX IF NOT EXISTS timeline_ref ON timeline (ref_table, ref_id)")
        # the explorer's usual sort / group / equals columns; (x, ts) serves "x = ? ORDER BY ts, id" (its entries
        # are in rowid order within equal ts) without sorting every matching row
        for name, cols in (("artifact", "artifact"), ("path", "path"), ("artifact_ts", "artifact, ts"),
                           ("category_ts", "category, ts")):
            self.db.execute(f"CREATE INDEX IF NOT EXISTS timeline_{name} ON timeline ({cols})")
        self.db.execute("CREATE INDEX IF NOT EXISTS warnings_source ON warnings (source_id)")
        # columnsize=0: no per-row size table (only ranking functions read it, and they re-tokenize without it;
        # the readers only MATCH), a third less work for the rebuild
        self.db.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS timeline_fts USING fts5("
            "path, summary, content='timeline', content_rowid='id', columnsize=0)"
        )
        self.db.execute("INSERT INTO timeline_fts(timeline_fts) VALUES ('rebuild')")
        self.commit()


class CaseReader:
    """Read-only access (``mode=ro``): analyzers' reads, exports, report and web UI."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"no case database at {self.path}")
        self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        self.db.row_factory = sqlite3.Row

    def tables(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]

    def has_table(self, name: str) -> bool:
        return self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)
        ).fetchone() is not None

    def rows(self, table: str, where: str = "", params: Sequence[Any] = (), order: str = "id") -> Iterator[dict[str, Any]]:
        if not self.has_table(table):
            return iter(())
        sql = f"SELECT * FROM {ident(table)}"
        if where:
            sql += f" WHERE {where}"
        if order:
            sql += f" ORDER BY {order}"
        return (dict(r) for r in self.db.execute(sql, params))

    def count(self, table: str) -> int:
        if not self.has_table(table):
            return 0
        return int(self.db.execute(f"SELECT COUNT(*) FROM {ident(table)}").fetchone()[0])

    def meta(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in self.db.execute("SELECT key, value FROM meta"):
            try:
                out[k] = json.loads(v)
            except (ValueError, TypeError):
                out[k] = v
        return out

    def close(self) -> None:
        self.db.close()
