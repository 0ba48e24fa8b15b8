"""Where parsed records go: the case store, or straight to CSV (``wintriage parse ... --csv``)."""

from __future__ import annotations

from datetime import UTC, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from .model import ParseWarning, Record, RowBatch, TimelineEvent
from .store.case import CaseWriter
from .store.export import CsvWriter, open_csv


class Sink(Protocol):
    wants_events: bool  # False: the sink drops timeline events, so the pipeline does not build them

    def begin_source(self, module: ModuleType, path: str, **fields: Any) -> int | None: ...
    def add(self, module: ModuleType, rec: Record, source_id: int | None) -> int: ...
    def add_batch(self, module: ModuleType, batch: RowBatch, source_id: int | None) -> int: ...
    def event(self, module: ModuleType, ev: TimelineEvent, table: str, row_id: int, source_id: int | None, host: str) -> None: ...
    def end_source(self, source_id: int | None, warnings: list[ParseWarning], /, **fields: Any) -> None: ...


class StoreSink:
    wants_events = True

    def __init__(self, store: CaseWriter) -> None:
        self.store = store
        self._modules: dict[int, ModuleType] = {}

    def begin_source(self, module: ModuleType, path: str, **fields: Any) -> int | None:
        self.store.ensure_tables(module.TABLES)
        sid = self.store.add_source(module.NAME, path, **fields)
        self._modules[sid] = module
        return sid

    def add(self, module: ModuleType, rec: Record, source_id: int | None) -> int:
        return self.store.add(rec, source_id)

    def add_batch(self, module: ModuleType, batch: RowBatch, source_id: int | None) -> int:
        return self.store.add_batch(batch, source_id)

    def event(self, module: ModuleType, ev: TimelineEvent, table: str, row_id: int, source_id: int | None, host: str) -> None:
        self.store.add_event(
            ev, artifact=module.NAME, category=module.CATEGORY, host=host, ref_table=table, ref_id=row_id,
            source_id=source_id,
        )

    def end_source(self, source_id: int | None, warnings: list[ParseWarning], /, **fields: Any) -> None:
        if source_id is not None:
            module = self._modules.pop(source_id, None)
            if module is not None:
                for table, select in getattr(module, "TIMELINE_SQL", {}).items():
                    self.store.timeline_from_sql(select, artifact=module.NAME, category=module.CATEGORY,
                                                 ref_table=table, source_id=source_id)
            self.store.add_warnings(warnings, source_id)
            self.store.finish_source(source_id, **fields)


class CsvSink:
    """Streams each table through its module's CSV shape; tables without a shape get all columns."""

    wants_events = False

    def __init__(self, out_dir: Path, tz: timezone = UTC, encoding: str = "utf-8-sig", timeline: bool = True) -> None:
        self.out_dir = Path(out_dir)
        self.tz = tz
        self.encoding = encoding
        self._utf8 = encoding.lower().replace("_", "-") in ("utf-8-sig", "utf8-sig", "utf-8", "utf8")
        self._writers: dict[str, tuple[Any, Any, Any]] = {}
        self._row_ids: dict[str, int] = {}
        self._timeline = timeline
        self.warnings: list[ParseWarning] = []
        self.counts: dict[str, int] = {}

    def _writer(self, module: ModuleType, table: str) -> tuple[Any, Any, Any]:
        w = self._writers.get(table)
        if w is None:
            shape = getattr(module, "CSV", {}).get(table)
            name = shape.filename if shape else f"{table}.csv"
            fh = open_csv(self.out_dir / name, self.encoding)
            cw = CsvWriter(fh)
            if shape:
                cw.writerow(shape.headers(self.tz))
            else:
                cw.writerow([c for c, _ in module.TABLES[table]])
            w = (fh, cw, shape)
            self._writers[table] = w
        return w

    def begin_source(self, module: ModuleType, path: str, **fields: Any) -> int | None:
        return None

    def add(self, module: ModuleType, rec: Record, source_id: int | None) -> int:
        _fh, cw, shape = self._writer(module, rec.table)
        if shape:
            cw.writerow(shape.row(rec.data, self.tz))
        else:
            cw.writerow([rec.data.get(c) for c, _ in module.TABLES[rec.table]])
        n = self._row_ids.get(rec.table, 0) + 1
        self._row_ids[rec.table] = n
        self.counts[rec.table] = n
        return n

    def add_batch(self, module: ModuleType, batch: RowBatch, source_id: int | None) -> int:
        _fh, cw, shape = self._writer(module, batch.table)
        n = len(batch)
        if shape is not None and shape.batch is not None:
            cells = shape.batch(batch.columns, self.tz)
            if isinstance(cells, str):  # lines a worker process already rendered (parse mft --csv on 2 cores)
                _fh.write(cells)
            elif isinstance(cells, bytes):  # rendered lines as UTF-8 (parse usnjrnl --csv)
                if self._utf8:
                    _fh.flush()
                    _fh.buffer.write(cells)
                else:
                    _fh.write(cells.decode("utf-8"))
            elif hasattr(cells, "copy_to"):  # rendered UTF-8 lines in a worker's file (parse mft --csv)
                if self._utf8:
                    _fh.flush()
                    cells.copy_to(_fh.fileno())
                else:
                    _fh.write(cells.read().decode("utf-8"))
            else:
                cw.write_columns(cells)
        elif shape is not None:
            tz = self.tz
            cw.writerows(shape.row(r.data, tz) for r in batch.records())
        else:
            cols = batch.columns
            cw.writerows(zip(*(cols.get(c) or [None] * n for c, _ in module.TABLES[batch.table]), strict=True))
        first = self._row_ids.get(batch.table, 0) + 1
        self._row_ids[batch.table] = self.counts[batch.table] = first + n - 1
        return first

    def event(self, module: ModuleType, ev: TimelineEvent, table: str, row_id: int, source_id: int | None, host: str) -> None:
        return None

    def end_source(self, source_id: int | None, warnings: list[ParseWarning], /, **fields: Any) -> None:
        self.warnings.extend(warnings)

    def close(self) -> None:
        for fh, _cw, _shape in self._writers.values():
            fh.close()
        self._writers.clear()


class MultiSink:
    def __init__(self, *sinks: Any) -> None:
        self.sinks = sinks
        self.wants_events = any(s.wants_events for s in sinks)

    def begin_source(self, module: ModuleType, path: str, **fields: Any) -> int | None:
        ids = [s.begin_source(module, path, **fields) for s in self.sinks]
        return next((i for i in ids if i is not None), None)

    def add(self, module: ModuleType, rec: Record, source_id: int | None) -> int:
        ids = [s.add(module, rec, source_id) for s in self.sinks]
        return ids[0]

    def add_batch(self, module: ModuleType, batch: RowBatch, source_id: int | None) -> int:
        ids = [s.add_batch(module, batch, source_id) for s in self.sinks]
        return ids[0]

    def event(self, module: ModuleType, ev: TimelineEvent, table: str, row_id: int, source_id: int | None, host: str) -> None:
        for s in self.sinks:
            s.event(module, ev, table, row_id, source_id, host)

    def end_source(self, source_id: int | None, warnings: list[ParseWarning], /, **fields: Any) -> None:
        for s in self.sinks:
            s.end_source(source_id, warnings, **fields)
