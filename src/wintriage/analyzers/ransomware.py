"""Ransomware: find encryption bursts in the USN journal, tell them from legitimate bulk activity,
name the first encrypted file and attribute the burst to an executable.

How a burst is recognised (nothing here knows a particular family or image):
- *transformations*: a file renamed (RENAME_OLD_NAME -> RENAME_NEW_NAME of one file reference) or replaced
  (a new file created next to an original that is then deleted) so that its extension changes: an appended
  extension (``a.pdf -> a.pdf.kraken``), a replaced one (``a.pdf -> a.locked``) or a random name;
  renames that keep the extension (a photo import renaming ``IMG_1.jpg -> Jeju_1.jpg``) are not transformations;
- transformations that share the new extension are clustered in time (a gap of more than ``GAP`` splits);
- a cluster is ransomware when it is large, touches user files of several types, the contents were overwritten
  or the originals deleted, and/or the same note file appeared in many folders. Backups (no overwrite, no delete),
  unzips (creates only) and Windows updates (system folders, .tmp names) fail those tests.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from ..store.case import ident
from .common import (
    MINUTE,
    TICKS_PER_SECOND,
    USN_FILE_CREATE,
    USN_FILE_DELETE,
    USN_RENAME_NEW,
    USN_RENAME_OLD,
    USN_WRITE,
    columns,
    ext_of,
    norm_path,
    pick,
    tables,
    win_path,
)

GAP = 10 * MINUTE  # a pause longer than this ends a burst
MIN_FILES = 10
FILE_LOOKBACK = 60 * TICKS_PER_SECOND  # how far before its rename a file's first burst record may lie
BENIGN_NEW_EXTS = {".tmp", ".bak", ".old", ".orig", ".backup", ".log", ".etl", ".part", ".partial", ".crdownload",
                   ".download", ".dat", ".db", ".sqlite", ".json", ".xml", ".ini", ".cache", ".lock", ".lnk",
                   ".pf", ".evtx", ".regtrans-ms", ".blf", ".cab", ".msi", ".msp", ".manifest", ".mum", ".cat"}
NOTE_EXTS = {".txt", ".html", ".htm", ".hta", ".url", ".rtf", ".png", ".jpg", ".bmp", ".lnk", ""}


@dataclass
class JCols:
    table: str
    usn: str
    ts: str
    name: str
    entry: str
    seq: str
    parent_entry: str
    parent_path: str | None
    reason: str

    @classmethod
    def detect(cls, con: sqlite3.Connection) -> JCols | None:
        if "usnjrnl" not in tables(con):
            return None
        c = columns(con, "usnjrnl")
        got = dict(
            usn=pick(c, "usn"), ts=pick(c, "timestamp", "update_timestamp", "ts"), name=pick(c, "name", "file_name"),
            entry=pick(c, "entry", "entry_number"), seq=pick(c, "sequence", "sequence_number"),
            parent_entry=pick(c, "parent_entry", "parent_entry_number"),
            parent_path=pick(c, "parent_path"), reason=pick(c, "reason_flags", "reasons_flags", "reason"),
        )
        if any(v is None for k, v in got.items() if k != "parent_path"):
            return None
        return cls("usnjrnl", **got)  # type: ignore[arg-type]

    def select(self) -> str:
        pp = ident(self.parent_path) if self.parent_path else "''"
        return (f"SELECT id, {ident(self.usn)}, {ident(self.ts)}, {ident(self.name)}, {ident(self.entry)}, "
                f"{ident(self.seq)}, {ident(self.parent_entry)}, {pp}, {ident(self.reason)} FROM usnjrnl")


@dataclass
class Transformation:
    old_name: str
    new_name: str
    entry: int
    seq: int
    parent_entry: int
    parent_path: str
    ts: int  # time of the new name (rename) or of the create (copy style)
    usn: int
    style: str  # append | replace | random
    new_ext: str
    suffix: str
    row_id: int
    new_entry: int | None = None  # copy style: the new file's reference
    new_seq: int | None = None

    @property
    def original_path(self) -> str:
        return win_path(join(self.parent_path, self.old_name))

    @property
    def encrypted_path(self) -> str:
        return win_path(join(self.parent_path, self.new_name))


@dataclass
class Burst:
    new_ext: str
    style: str
    items: list[Transformation]
    start: int = 0
    end: int = 0
    features: dict[str, Any] = field(default_factory=dict)
    score: float = 0.0
    verdict: str = ""
    reasons: list[str] = field(default_factory=list)
    first: dict[str, Any] | None = None
    notes: dict[str, Any] = field(default_factory=dict)


def join(parent: str | None, name: str) -> str:
    p = (parent or "").replace("/", "\\").rstrip("\\")
    if p in (".", ""):
        return "\\" + name
    return p + "\\" + name


def classify(old: str, new: str) -> tuple[str, str, str] | None:
    """(style, new extension, appended suffix) for a name change that changes the extension."""
    if not old or not new or old == new:
        return None
    eo, en = ext_of(old), ext_of(new)
    if new.lower().startswith(old.lower()) and len(new) > len(old):
        suffix = new[len(old):]
        return "append", (en or suffix.lower()), suffix
    if eo == en:
        return None  # same extension: a plain rename (photo import, "Copy of", versioning)
    so, sn = old[: len(old) - len(eo)] if eo else old, new[: len(new) - len(en)] if en else new
    if so.lower() == sn.lower():
        return "replace", en, ""
    return "random", en or "<none>", ""


def transformations(con: sqlite3.Connection, j: JCols) -> list[Transformation]:
    out: list[Transformation] = []
    pending_old: dict[tuple[int, int], tuple[str, int]] = {}
    q = j.select() + f" WHERE ({ident(j.reason)} & {USN_RENAME_OLD | USN_RENAME_NEW}) != 0 ORDER BY {ident(j.usn)}"
    for rid, usn, ts, name, entry, seq, pentry, ppath, reason in con.execute(q):
        key = (entry, seq)
        if reason & USN_RENAME_OLD:
            pending_old[key] = (name, usn)
            continue
        prev = pending_old.pop(key, None)
        if prev is None:
            continue
        c = classify(prev[0], name)
        if c:
            out.append(Transformation(prev[0], name, entry, seq, pentry, ppath or "", ts, usn, c[0], c[1], c[2], rid))
    # copy-then-delete: a created file next to an original deleted soon after
    # the first delete record of each file, in folders where files were also created (SQLite groups them)
    deletes: dict[int, list[tuple[int, int, str, int, int]]] = defaultdict(list)
    _folders(con, j)
    try:
        q = _first_per_file(j, USN_FILE_DELETE, USN_FILE_CREATE)
        for _rid, usn, ts, name, entry, seq, pentry, _pp, _r in con.execute(q):
            deletes[pentry].append((ts, usn, name, entry, seq))
        if deletes:
            out += _copy_pairs(con, j, deletes)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_FOLDERS}")
    return out


_FOLDERS = "temp.wt_rw_folders"


def _folders(con: sqlite3.Connection, j: JCols) -> None:
    """The folders (parent entries) with file creations and those with deletions, from one pass over the journal:
    a temporary table of the distinct (folder, create/delete bits) pairs (untyped: values kept as they are)."""
    r, pe, cd = ident(j.reason), ident(j.parent_entry), USN_FILE_CREATE | USN_FILE_DELETE
    con.execute(f"DROP TABLE IF EXISTS {_FOLDERS}")
    con.execute(f"CREATE TABLE {_FOLDERS} (pe, bits)")
    con.execute(f"INSERT INTO {_FOLDERS} SELECT DISTINCT {pe}, {r} & {cd} FROM usnjrnl WHERE ({r} & {cd}) != 0")


def _first_per_file(j: JCols, bit: int, other: int) -> str:
    """The first record (lowest USN) with reason ``bit`` of each file (entry, sequence), in journal order,
    only in folders that also have a record with reason ``other`` (``other`` is one of the bits in
    :func:`_folders`' table, which must exist)."""
    r, pe, u = ident(j.reason), ident(j.parent_entry), ident(j.usn)
    pp = ident(j.parent_path) if j.parent_path else "''"
    cols = [u, ident(j.ts), ident(j.name), ident(j.entry), ident(j.seq), pe, pp, r]
    inner = (f"SELECT MIN({u}) AS c1, id AS c0, " + ", ".join(f"{c} AS c{i}" for i, c in enumerate(cols[1:], 2))
             + f" FROM usnjrnl WHERE ({r} & {bit}) != 0 AND {pe} IN (SELECT pe FROM {_FOLDERS} WHERE (bits & {other}) != 0)"
             f" GROUP BY {ident(j.entry)}, {ident(j.seq)}")
    return f"SELECT c0, c1, c2, c3, c4, c5, c6, c7, c8 FROM ({inner}) ORDER BY c1, c0"


def _copy_pairs(con: sqlite3.Connection, j: JCols, deletes: dict[int, list[tuple[int, int, str, int, int]]]) -> list[Transformation]:
    """Copy-then-delete: a new file created next to an original that is deleted within a minute.

    Pass 1 pairs by name (``a.pdf`` + ``a.pdf.x`` or ``a.x``). Pass 2 pairs random new names, but only for a new
    extension shared by many such creations, and never a name created in several folders (a ransom note)."""
    creates = [row for row in con.execute(_first_per_file(j, USN_FILE_CREATE, USN_FILE_DELETE)) if row[6] in deletes]
    used: set[tuple[int, int]] = set()
    out: list[Transformation] = []

    def following(row: tuple[Any, ...]) -> list[tuple[int, int, str, int, int]]:
        _rid, usn, ts, name = row[:4]
        return [d for d in deletes[row[6]] if (d[3], d[4]) not in used and d[1] >= usn and d[0] - ts <= MINUTE and d[2] != name]

    def emit(row: tuple[Any, ...], d: tuple[int, int, str, int, int], c: tuple[str, str, str]) -> None:
        rid, usn, ts, name, entry, seq, pentry, ppath, _r = row
        used.add((d[3], d[4]))
        out.append(Transformation(d[2], name, d[3], d[4], pentry, ppath or "", ts, usn, c[0], c[1], c[2], rid,
                                  new_entry=entry, new_seq=seq))

    rest = []
    for row in creates:
        for d in following(row):
            c = classify(d[2], row[3])
            if c and c[0] != "random":
                emit(row, d, c)
                break
        else:
            rest.append(row)
    # pass 2: random names
    folders_per_name: dict[str, set[int]] = defaultdict(set)
    for row in rest:
        folders_per_name[row[3].lower()].add(row[6])
    cand = [row for row in rest if len(folders_per_name[row[3].lower()]) == 1 and following(row)]
    ext_count = Counter(ext_of(row[3]) for row in cand)
    for row in cand:
        if ext_count[ext_of(row[3])] < MIN_FILES:
            continue
        nxt = following(row)
        if nxt:
            c = classify(nxt[0][2], row[3])
            if c:
                emit(row, nxt[0], c)
    return out


def cluster(items: list[Transformation]) -> list[Burst]:
    groups: dict[str, list[Transformation]] = defaultdict(list)
    for t in items:
        groups[t.new_ext].append(t)
    bursts: list[Burst] = []
    for ext, ts in groups.items():
        ts.sort(key=lambda t: t.usn)
        cur: list[Transformation] = []
        for t in ts:
            if cur and t.ts - cur[-1].ts > GAP:
                bursts.append(Burst(ext, "", cur))
                cur = []
            cur.append(t)
        if cur:
            bursts.append(Burst(ext, "", cur))
    for b in bursts:
        b.start = min(t.ts for t in b.items)
        b.end = max(t.ts for t in b.items)
        b.style = Counter(t.style for t in b.items).most_common(1)[0][0]
    return [b for b in bursts if len({(t.entry, t.seq) for t in b.items}) >= MIN_FILES]


def _entry_records(con: sqlite3.Connection, j: JCols, entries: set[int], lo: int, hi: int) -> dict[int, list[tuple[Any, ...]]]:
    """The records of these files in [lo, hi]: one pass over the journal whatever the number of files (the entry
    list goes in as one JSON array; chunks of bound parameters would scan the journal once per chunk)."""
    out: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    q = (j.select() + f" WHERE {ident(j.ts)} BETWEEN ? AND ? AND {ident(j.entry)} IN (SELECT value FROM json_each(?))"
         f" ORDER BY {ident(j.usn)}")
    for row in con.execute(q, (lo, hi, json.dumps(sorted(entries)))):
        out[row[4]].append(row)
    return out


def assess(con: sqlite3.Connection, j: JCols, b: Burst) -> None:
    files = {(t.entry, t.seq): t for t in b.items}
    n = len(files)
    recs = _entry_records(con, j, {t.entry for t in b.items} | {t.new_entry for t in b.items if t.new_entry},
                          b.start - FILE_LOOKBACK, b.end + MINUTE)
    overwritten = deleted = 0
    firsts: list[tuple[int, int, Transformation, tuple[Any, ...]]] = []
    for t in files.values():
        mine = [r for r in recs.get(t.entry, []) if r[5] == t.seq and t.ts - FILE_LOOKBACK <= r[2] <= t.ts + MINUTE]
        if t.new_entry is not None:
            mine += [r for r in recs.get(t.new_entry, []) if r[5] == t.new_seq and t.ts - FILE_LOOKBACK <= r[2]]
        if any(r[8] & USN_WRITE for r in mine):
            overwritten += 1
        if t.new_entry is not None or any(r[8] & USN_FILE_DELETE for r in mine):
            deleted += 1
        before = [r for r in mine if r[1] <= t.usn] or mine
        if before:
            r0 = min(before, key=lambda r: r[1])
            firsts.append((r0[1], r0[2], t, r0))
    user = sum(1 for t in files.values() if norm_path(t.parent_path).startswith("\\users\\"))
    orig_exts = Counter(ext_of(t.old_name) for t in files.values())
    dirs = {t.parent_entry for t in files.values()}
    b.notes = ransom_notes(con, j, b, {t.new_name.lower() for t in files.values()})
    f = {
        "files": n,
        "directories": len(dirs),
        "original_extensions": len(orig_exts),
        "top_original_extensions": dict(orig_exts.most_common(8)),
        "overwritten_fraction": round(overwritten / n, 3),
        "originals_deleted_fraction": round(deleted / n, 3),
        "user_folder_fraction": round(user / n, 3),
        "seconds": round((b.end - b.start) / TICKS_PER_SECOND, 3),
        "files_per_second": round(n / max((b.end - b.start) / TICKS_PER_SECOND, 1.0), 2),
        "note_folders": b.notes.get("folders", 0),
    }
    b.features = f
    rules = [  # (holds, points, why)
        (n >= 50, 2, f"{n} files changed to {b.new_ext}"),
        (MIN_FILES <= n < 50, 1, f"{n} files changed to {b.new_ext}"),
        (f["overwritten_fraction"] >= 0.5, 2, f"contents overwritten for {f['overwritten_fraction']:.0%} of them"),
        (f["originals_deleted_fraction"] >= 0.5, 2, f"originals deleted for {f['originals_deleted_fraction']:.0%}"),
        (f["original_extensions"] >= 3, 1, f"{f['original_extensions']} different original file types"),
        (f["note_folders"] >= 3, 2, f"note {b.notes.get('name')!r} created in {f['note_folders']} folders"),
        (f["user_folder_fraction"] >= 0.5, 1, ""),
        (f["user_folder_fraction"] < 0.5, -2, "mostly outside user folders"),
        (b.new_ext in BENIGN_NEW_EXTS, -4, f"{b.new_ext} is an ordinary temporary/backup extension"),
        (f["files_per_second"] < 0.01 and f["note_folders"] < 3, -1, ""),
    ]
    score = float(sum(points for holds, points, _ in rules if holds))
    reasons = [why for holds, _, why in rules if holds and why]
    b.score = score
    destructive = f["overwritten_fraction"] >= 0.5 or f["originals_deleted_fraction"] >= 0.5 or f["note_folders"] >= 3
    b.verdict = "ransomware" if score >= 5 and destructive else "bulk-activity"
    b.reasons = reasons
    if firsts:
        usn, ts, t, r0 = min(firsts, key=lambda x: x[0])
        b.first = {
            "original_path": t.original_path,
            "original_name": t.old_name,
            "encrypted_name": t.new_name,
            "encrypted_path": t.encrypted_path,
            "time": ts,
            "usn": usn,
            "mft_entry": t.entry,
            "mft_sequence": t.seq,
            "row_id": r0[0],
            "rename_row_id": t.row_id,
        }
        b.start = min(b.start, ts)


def ransom_notes(con: sqlite3.Connection, j: JCols, b: Burst, encrypted_names: set[str]) -> dict[str, Any]:
    """The same file name created in many folders around the burst (not one of the encrypted files)."""
    q = j.select() + f" WHERE ({ident(j.reason)} & {USN_FILE_CREATE}) != 0 AND {ident(j.ts)} BETWEEN ? AND ?"
    by_name: dict[str, dict[int, tuple[Any, ...]]] = defaultdict(dict)
    for row in con.execute(q, (b.start - 5 * MINUTE, b.end + 5 * MINUTE)):
        name = row[3]
        if name.lower() in encrypted_names or ext_of(name) not in NOTE_EXTS:
            continue
        by_name[name.lower()].setdefault(row[6], row)
    if not by_name:
        return {}
    name, where = max(by_name.items(), key=lambda kv: len(kv[1]))
    if len(where) < 2:
        return {}
    rows = sorted(where.values(), key=lambda r: r[1])
    return {
        "name": rows[0][3],
        "folders": len(where),
        "paths": [win_path(join(r[7], r[3])) for r in rows],
        "first_time": rows[0][2],
        "row_ids": [r[0] for r in rows],
    }


def find_bursts(con: sqlite3.Connection) -> list[Burst]:
    j = JCols.detect(con)
    if j is None:
        return []
    bursts = cluster(transformations(con, j))
    for b in bursts:
        assess(con, j, b)
    bursts.sort(key=lambda b: (b.verdict != "ransomware", -b.score, b.start))
    return bursts
