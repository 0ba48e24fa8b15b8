"""Sigma rules as SQL over the case store's ``evtx`` table (the Zircolite approach).

1. The ``evtx`` rows are flattened into a ``logs`` table whose columns carry Sigma's field names: the
   System fields (``EventID``, ``Channel``, ``Provider_Name``, ``Computer``, ``Level``...) and every key
   of the EventData/UserData JSON (``Image``, ``CommandLine``, ``TargetFilename``...), text columns
   ``COLLATE NOCASE`` like Zircolite's. It lives in a temporary database, never in the case file.
2. Rules are loaded with pySigma and converted by pySigma-backend-sqlite with the stock Windows
   pipelines: ``sysmon`` + ``windows-logsource`` (Channel/EventID conditions per logsource), and for
   generic categories (process_creation, registry_*) also ``windows-audit`` (Security 4688/4657 field
   names). Each variant's query runs; matches are united.
3. A rule that cannot be converted (unsupported modifier, other product, ...) is skipped and counted;
   a query naming a field no event has simply matches nothing.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..model import EvidenceRef, Finding
from ..timeutil import fmt

BUNDLED = Path(__file__).resolve().parent.parent / "data" / "sigma"
SEVERITY = {"informational": "info", "low": "low", "medium": "medium", "high": "high", "critical": "critical"}
MAX_REFS = 1000
SYSTEM_FIELDS = {
    "EventID": "event_id",
    "Channel": "channel",
    "Provider_Name": "provider",
    "Computer": "computer",
    "Level": "level",
    "EventRecordID": "event_record_id",
    "Task": "task",
    "Opcode": "opcode",
    "Keywords": "keywords",
    "ProcessID": "process_id",
    "ThreadID": "thread_id",
    "SecurityUserID": "user_id",
    "Provider_Guid": "provider_guid",
}
AUDIT_CATEGORIES = {"process_creation", "registry_set", "registry_add", "registry_delete", "registry_event"}


@dataclass
class LoadedRules:
    rules: list[Any] = field(default_factory=list)
    skipped: int = 0
    errors: list[str] = field(default_factory=list)


def _rule_files(dirs: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for d in dirs:
        d = Path(d)
        if d.is_file():
            out.append(d)
        elif d.is_dir():
            out += sorted(p for p in d.rglob("*") if p.suffix.lower() in (".yml", ".yaml") and p.is_file())
    return out


def load_rules(dirs: Iterable[Path]) -> tuple[list[Any], int, list[str]]:
    """Parse every ``.yml``/``.yaml`` under ``dirs``: (rules, skipped count, error texts). Never raises."""
    from sigma.collection import SigmaCollection
    from sigma.exceptions import SigmaError

    res = LoadedRules()
    seen: set[str] = set()
    texts: list[str] = []
    for p in _rule_files(dirs):
        try:
            t = p.read_text(encoding="utf-8-sig")
            SigmaCollection.from_yaml(t)  # validate this file on its own first
            texts.append(t)
        except (SigmaError, OSError, UnicodeDecodeError, ValueError, TypeError, KeyError, AttributeError) as e:
            res.skipped += 1
            res.errors.append(f"{p}: {type(e).__name__}: {e}")
        except Exception as e:  # noqa: BLE001 - pySigma raises assorted errors on odd YAML; a bad rule is skipped
            res.skipped += 1
            res.errors.append(f"{p}: {type(e).__name__}: {e}")
    if texts:
        try:
            col = SigmaCollection.from_yaml("\n---\n".join(texts), collect_errors=True)
            col.resolve_rule_references()
        except (SigmaError, ValueError) as e:
            res.errors.append(f"rule references: {e}")
            col = SigmaCollection.from_yaml("\n---\n".join(texts), collect_errors=True)
        for r in col.rules:
            if getattr(r, "errors", None):
                res.skipped += 1
                res.errors.append(f"{getattr(r, 'title', '?')}: {r.errors[0]}")
                continue
            ls = getattr(r, "logsource", None)
            if ls is not None and ls.product not in (None, "windows"):
                res.skipped += 1
                continue
            rid = str(getattr(r, "id", "") or "")
            if rid and rid in seen:
                continue
            seen.add(rid)
            res.rules.append(r)
    return res.rules, res.skipped, res.errors


# --- compiled rules ---------------------------------------------------------------------------------
@dataclass
class Compiled:
    """A rule as ``run_sigma`` needs it: its metadata and its SQL (one query per pipeline variant)."""

    meta: dict[str, Any]
    description: str
    correlation: bool
    output: bool  # False: a correlation's base rule (not reported on its own)
    queries: list[str]


COMPILED = BUNDLED / "compiled.json"  # the bundled rules, converted ahead (tools/gen_sigma.py; a test checks it)
_SIGMA_DISTS = ("pySigma", "pySigma-backend-sqlite", "pySigma-pipeline-windows", "pySigma-pipeline-sysmon")


def fingerprint(files: list[Path]) -> str:
    """The rule files a compiled set was made from: their names and bytes."""
    import hashlib

    h = hashlib.sha256(b"wintriage-sigma-1\0")
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def sigma_versions() -> dict[str, str]:
    """The installed pySigma packages' versions (a compiled set is used only with the ones it was made with)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for d in _SIGMA_DISTS:
        try:
            out[d] = version(d)
        except PackageNotFoundError:
            out[d] = "?"
    return out


def compile_rules(dirs: list[Path]) -> tuple[list[Compiled], int, list[str]]:
    """Load and convert every rule under ``dirs``: (rules, skipped count, error texts). Never raises."""
    rules, skipped, errors = load_rules(dirs)
    out = []
    for r in rules:
        corr = _is_correlation(r)
        out.append(Compiled(_rule_meta(r), str(getattr(r, "description", "") or "").strip(), corr,
                            getattr(r, "_output", True) is not False, convert_correlation(r) if corr else convert(r)))
    return out, skipped, errors


def compiled_document(files: list[Path], rules: list[Compiled], skipped: int, errors: list[str]) -> dict[str, Any]:
    return {"fingerprint": fingerprint(files), "versions": sigma_versions(), "skipped": skipped, "errors": errors,
            "rules": [r.__dict__ for r in rules]}


@functools.lru_cache(maxsize=1)
def bundled_rules() -> tuple[list[Compiled], int, list[str]]:
    """The bundled rules from ``compiled.json`` when it matches the rule files and the installed pySigma (no pySigma
    import, no YAML); else converted now. Once per process (``analyze`` loads them while the evidence is read)."""
    files = _rule_files([BUNDLED])
    try:
        doc = json.loads(COMPILED.read_text(encoding="utf-8"))
        if doc.get("fingerprint") == fingerprint(files) and doc.get("versions") == sigma_versions():
            return [Compiled(**r) for r in doc["rules"]], int(doc["skipped"]), list(doc["errors"])
    except (OSError, ValueError, TypeError, KeyError):
        pass
    return compile_rules([BUNDLED])


# --- the flattened view -----------------------------------------------------------------------------
def _flatten(d: Any, out: dict[str, Any], depth: int = 0) -> None:
    if not isinstance(d, dict) or depth > 4:
        return
    for k, v in d.items():
        if k.endswith("_attributes") or k.startswith("#"):
            continue
        if isinstance(v, dict):
            if "#text" in v:
                out.setdefault(k, v["#text"])
            else:
                _flatten(v, out, depth + 1)
        elif isinstance(v, list):
            out.setdefault(k, ", ".join("" if x is None else str(x) for x in v))
        else:
            out.setdefault(k, v)


_COL_OK = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _rows(src: sqlite3.Connection) -> Iterator[tuple[int, dict[str, Any]]]:
    cols = ", ".join(SYSTEM_FIELDS.values())
    for row in src.execute(f"SELECT id, {cols}, time_created, event_data FROM evtx"):
        flat: dict[str, Any] = {}
        if row[-1]:
            try:
                _flatten(orjson.loads(row[-1]), flat)
            except ValueError:  # orjson.JSONDecodeError is one
                pass
        for name, v in zip(SYSTEM_FIELDS, row[1:-2], strict=True):
            flat[name] = v
        flat["_ts"] = row[-2]
        yield row[0], flat


_SCALARS = (int, float, str)
_NAN = float("nan")


def _scalar(v: Any) -> Any:
    if v is None or isinstance(v, (int, float, str)):
        return v
    if isinstance(v, list):
        return ", ".join("" if x is None else str(x) for x in v)
    return json.dumps(v, ensure_ascii=False, default=str)


def build_logs(src: sqlite3.Connection, dst: sqlite3.Connection, fields: set[str] | None = None) -> int:
    """Create ``logs`` in ``dst`` from ``src``'s ``evtx`` table. Returns the row count.

    ``fields`` (lower-case names) limits the columns to those the rules' queries can mention: the events of a
    case carry hundreds of distinct fields, the rules a few dozen, and every column costs a cell per event.
    ``None`` keeps every field (one extra pass to discover them)."""
    names: dict[str, str] = {}  # lower -> spelling
    if fields is None:
        for _rid, flat in _rows(src):
            for k in flat:
                if _COL_OK.match(k) and k != "_ts" and k.lower() not in names:
                    names[k.lower()] = k
    else:
        for f in sorted(fields):
            if _COL_OK.match(f) and f != "_ts":
                names[f] = f
    for reserved in ("timestamp", "row_id", "rowid", "oid", "_rowid_"):  # ours, or SQLite's row id aliases
        names.pop(reserved, None)
    want = list(names)
    cols = ["row_id", "timestamp", *names.values()]
    defs = ", ".join(
        '"row_id" INTEGER PRIMARY KEY' if c == "row_id" else f'"{c}" INTEGER' if c.lower() == "eventid"
        else f'"{c}" TEXT COLLATE NOCASE' for c in cols
    )
    dst.execute("DROP TABLE IF EXISTS logs")
    dst.execute(f"CREATE TABLE logs ({defs})")
    sql = f"INSERT INTO logs ({', '.join(chr(34) + c + chr(34) for c in cols)}) VALUES ({', '.join('?' * len(cols))})"
    batch: list[list[Any]] = []
    n = 0
    pos = {c: i for i, c in enumerate(want, 2)}
    slot: dict[str, int] = {}  # a field's spelling -> its column (-1: not a column); later spellings win, as before
    width = len(cols)
    # an empty cell is bound as NaN, which SQLite stores as NULL: binding None goes through sqlite3's adapter
    # lookup (~0.5 us a cell), and most of a row's cells are empty
    empty: list[Any] = [_NAN] * width
    for rid, flat in _rows(src):
        row = empty.copy()
        row[0] = rid
        for k, v in flat.items():
            i = slot.get(k)
            if i is None:
                i = slot[k] = pos.get(k.lower(), -1)
            if i >= 0:
                row[i] = _NAN if v is None else v if type(v) in _SCALARS else _scalar(v)
        ts = flat.get("_ts")
        row[1] = fmt(ts) if ts else _NAN
        batch.append(row)
        if len(batch) >= 5000:
            dst.executemany(sql, batch)
            n += len(batch)
            batch.clear()
    if batch:
        dst.executemany(sql, batch)
        n += len(batch)
    dst.commit()
    return n


_SQL_STRING = re.compile(r"'(?:[^']|'')*'")
_SQL_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def query_fields(queries: list[str]) -> set[str]:
    """Lower-case identifiers a set of SQL queries can refer to (string literals removed)."""
    out: set[str] = set()
    for q in queries:
        out.update(w.lower() for w in _SQL_WORD.findall(_SQL_STRING.sub(" ", q)))
    return out


def _regexp(pattern: str, value: Any) -> bool:
    if value is None:
        return False
    try:
        return re.search(pattern, str(value)) is not None
    except re.error:
        return False


# --- conversion ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _backends() -> tuple[Any, Any]:
    from sigma.backends.sqlite import sqliteBackend
    from sigma.pipelines.sysmon import sysmon_pipeline
    from sigma.pipelines.windows import windows_audit_pipeline, windows_logsource_pipeline

    return (
        sqliteBackend(sysmon_pipeline() + windows_logsource_pipeline(), collect_errors=False),
        sqliteBackend(windows_audit_pipeline(), collect_errors=False),
    )


def convert(rule: Any) -> list[str]:
    """SQL queries for one rule (one per pipeline variant that can express it); [] if none can."""
    from sigma.exceptions import SigmaError

    main, audit = _backends()
    variants = [main]
    cat = getattr(getattr(rule, "logsource", None), "category", None)
    if cat in AUDIT_CATEGORIES:
        variants.append(audit)
    out: list[str] = []
    for b in variants:
        try:
            qs = b.convert_rule(copy.deepcopy(rule))  # pipelines transform the rule in place
        except (SigmaError, NotImplementedError, ValueError, TypeError, KeyError, AttributeError):
            continue
        for q in qs:
            if isinstance(q, str) and q not in out:
                out.append(q)
    return out


def _is_correlation(rule: Any) -> bool:
    return type(rule).__name__ == "SigmaCorrelationRule"


def convert_correlation(rule: Any) -> list[str]:
    """SQL for a correlation rule (with the rules it references), from the sysmon/windows-logsource variant."""
    from sigma.collection import SigmaCollection
    from sigma.exceptions import SigmaError

    main, _audit = _backends()
    try:
        base = [copy.deepcopy(ref.rule) for ref in rule.rules if getattr(ref, "rule", None) is not None]
        col = SigmaCollection([*base, copy.deepcopy(rule)])
        col.resolve_rule_references()
        qs = main.convert(col)
    except (SigmaError, NotImplementedError, ValueError, TypeError, KeyError, AttributeError):
        return []
    return [q for q in qs if isinstance(q, str) and "event_ids" in q]


def _rule_meta(rule: Any) -> dict[str, Any]:
    tags = [str(t) for t in getattr(rule, "tags", []) or []]
    level = getattr(rule, "level", None)
    ls = getattr(rule, "logsource", None)
    return {
        "rule_id": str(getattr(rule, "id", "") or ""),
        "rule_title": str(getattr(rule, "title", "")),
        "level": str(level.name).lower() if level is not None and hasattr(level, "name") else str(level or ""),
        "tags": tags,
        "mitre": [t.split(".", 1)[1] for t in tags if t.startswith("attack.")],
        "logsource": {k: getattr(ls, k, None) for k in ("product", "service", "category")} if ls else {},
    }


def run_sigma(
    db: Path | str | sqlite3.Connection,
    rule_dirs: list[Path] | None = None,
    *,
    include_bundled: bool = True,
    stats: dict[str, Any] | None = None,
) -> list[Finding]:
    """Run Sigma rules over the ``evtx`` table of a case database; one Finding per rule that matched.

    ``rule_dirs`` None: our bundled rules only. Otherwise the given folders, plus ours unless
    ``include_bundled`` is False. ``stats`` (if given) receives rules/skipped/errors/queries counts."""
    dirs: list[Path] = []
    for d in ([BUNDLED] if include_bundled or rule_dirs is None else []) + [Path(d) for d in rule_dirs or []]:
        if d.resolve() not in [x.resolve() for x in dirs]:
            dirs.append(d)
    st: dict[str, Any] = {"rules": 0, "skipped": 0, "errors": [], "matched_rules": 0, "failed_queries": 0}
    own = False
    if isinstance(db, sqlite3.Connection):
        src = db
    else:
        src = sqlite3.connect(f"file:{Path(db)}?mode=ro", uri=True)
        own = True
    findings: list[Finding] = []
    try:
        if src.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='evtx'").fetchone() is None:
            if stats is not None:
                stats.update(st)
            return []  # no event logs in this case: nothing to load or run
        bundled_only = [d.resolve() for d in dirs] == [BUNDLED.resolve()]
        rules, skipped, errors = bundled_rules() if bundled_only else compile_rules(dirs)
        st.update({"rules": len(rules), "skipped": skipped, "errors": list(errors)})
        with tempfile.TemporaryDirectory(prefix="wintriage-sigma-") as tmp:
            dst = sqlite3.connect(str(Path(tmp) / "logs.sqlite"))
            # a scratch database, deleted with its folder: no fsync, the rollback journal in memory
            dst.execute("PRAGMA synchronous = OFF")
            dst.execute("PRAGMA journal_mode = MEMORY")
            try:
                dst.create_function("REGEXP", 2, _regexp, deterministic=True)
                st["events"] = build_logs(src, dst, query_fields([q for r in rules for q in r.queries]))
                dst.execute("CREATE TABLE hits (row_id INTEGER PRIMARY KEY)")
                for rule in rules:
                    corr, queries = rule.correlation, rule.queries
                    if not queries:
                        if rule.output:  # a correlation's base rule is no skip
                            st["skipped"] += 1
                        continue
                    # the matching event ids go to a table in the scratch database, not a Python set: a noisy
                    # rule over a large case matches a large share of its events
                    dst.execute("DELETE FROM hits")
                    alerts = 0
                    for q in queries:
                        try:
                            if corr:
                                cur = dst.execute(q)
                                names = [d[0] for d in cur.description]
                                k = names.index("event_ids") if "event_ids" in names else -1
                                for r in cur:
                                    alerts += 1
                                    if k >= 0 and r[k]:
                                        dst.executemany("INSERT OR IGNORE INTO hits VALUES (?)",
                                                        [(int(str(e).rsplit(":", 1)[-1]),) for e in json.loads(r[k])])
                            else:
                                sql = q.replace("SELECT * FROM logs", "SELECT row_id FROM logs", 1)
                                dst.execute(f"INSERT OR IGNORE INTO hits {sql}")
                        except sqlite3.OperationalError as e:
                            if "no such column" not in str(e):
                                st["failed_queries"] += 1
                                st["errors"].append(f"{rule.meta['rule_title']}: {e}")
                    (n_ids,) = dst.execute("SELECT COUNT(*) FROM hits").fetchone()
                    if not n_ids and not alerts:
                        continue
                    first = [r[0] for r in dst.execute("SELECT row_id FROM hits ORDER BY row_id LIMIT ?", (MAX_REFS,))]
                    f = _finding(rule, first, n_ids, src, queries)
                    if corr:
                        f.details["correlation_alerts"] = alerts
                    findings.append(f)
            finally:
                dst.close()
    finally:
        if own:
            src.close()
    st["matched_rules"] = len(findings)
    if stats is not None:
        stats.update(st)
    return findings


def _finding(rule: Compiled, ids: list[int], matches: int, src: sqlite3.Connection, queries: list[str]) -> Finding:
    """``ids``: the first (lowest) matching event ids, at most ``MAX_REFS``; ``matches``: how many matched."""
    meta = copy.deepcopy(rule.meta)
    refs = []
    first_ts: int | None = None
    for i in range(0, min(len(ids), MAX_REFS), 500):
        part = ids[i : i + 500]
        q = f"SELECT id, time_created, event_id, channel, computer FROM evtx WHERE id IN ({','.join('?' * len(part))})"
        for rid, ts, eid, ch, comp in src.execute(q, part):
            refs.append(EvidenceRef("evtx", int(rid), f"Event {eid} {ch} on {comp}"))
            if ts is not None and (first_ts is None or ts < first_ts):
                first_ts = ts
    refs.sort(key=lambda r: r.row_id)
    desc = rule.description
    meta.update({"matches": matches, "queries": queries})
    return Finding(
        analyzer="sigma",
        title=meta["rule_title"],
        severity=SEVERITY.get(meta["level"], "medium"),
        ts=first_ts,
        description=(desc + " " if desc else "") + f"({matches} matching events)",
        evidence=tuple(refs),
        details=meta,
    )


def sigma_into_case(db: Path, rule_dirs: list[Path], *, echo: bool = False) -> dict[str, Any]:
    """Run Sigma over a closed case database and store the findings in it (``parse evtx --sigma DIR``)."""
    from ..store.case import CaseWriter

    st: dict[str, Any] = {}
    findings = run_sigma(db, rule_dirs, stats=st)
    w = CaseWriter(Path(db), fresh=False)
    try:
        for f in findings:
            w.add_finding(f)
    finally:
        w.close(index=False)
    out = {
        "rules": st.get("rules", 0),
        "skipped": st.get("skipped", 0),
        "errors": len(st.get("errors", [])),
        "findings": [
            {"title": f.title, "severity": f.severity, "matches": f.details.get("matches"),
             "mitre": f.details.get("mitre"), "rule_id": f.details.get("rule_id")}
            for f in findings
        ],
    }
    if echo:
        import click

        click.echo(f"sigma: {out['rules']} rules run, {out['skipped']} skipped, {len(findings)} matched")
        for f in findings:
            click.echo(f"  [{f.severity}] {f.title}: {f.details.get('matches')} events "
                       f"{' '.join(f.details.get('mitre') or [])}")
    return out
