"""ShellBags (UsrClass and NTUSER ``...\\Shell\\BagMRU``): folders the user browsed, with full paths.

Each numbered value of a BagMRU key is one shell item (a folder, volume, network share, ...); the
subkey with the same number holds its children, so paths are rebuilt by walking the tree. Extension
block 0xbeef0004 (file entries) gives created/accessed times and the NTFS MFT entry/sequence; the
item's own FAT time is the folder's modified time. Rows are SBECmd-like, one per BagMRU value.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ....model import Record, TimelineEvent
from ....timeutil import fmt
from ...base import CsvShape, ParseContext, col, group_times, tcol
from . import _util as u

NAME = "shellbags"
HIVE_TYPES = {"USRCLASS", "NTUSER"}
TABLE = "reg_shellbags"
TABLES = {
    TABLE: u.table(
        ("value_name", "TEXT"),  # slot
        ("node_slot", "INTEGER"),
        ("mru_position", "INTEGER"),
        ("mru_order", "TEXT"),  # the parent's MRUListEx, e.g. 4-8-7-6-9-0-1-5-3-2
        ("shell_type", "TEXT"),
        ("name", "TEXT"),
        ("path", "TEXT"),
        ("child_bags", "INTEGER"),
        ("child_last_write", "INTEGER"),  # last write of the item's own BagMRU subkey
        ("created", "INTEGER"),
        ("modified", "INTEGER"),
        ("accessed", "INTEGER"),
        ("mft_entry", "INTEGER"),
        ("mft_seq", "INTEGER"),
        ("item_hex", "TEXT"),  # raw bytes of items we could not decode
    )
}
CSV = {
    TABLE: CsvShape(
        "SBECmd_Output.csv",
        [
            col("BagPath", "key_path"),
            col("Slot", "value_name"),
            col("NodeSlot", "node_slot"),
            col("MRUPosition", "mru_position"),
            col("AbsolutePath", "path"),
            col("ShellType", "shell_type"),
            col("Value", "name"),
            col("ChildBags", "child_bags"),
            tcol("CreatedOn", "created"),
            tcol("ModifiedOn", "modified"),
            tcol("AccessedOn", "accessed"),
            tcol("LastWriteTime", "last_write"),
            col("MFTEntry", "mft_entry"),
            col("MFTSequenceNumber", "mft_seq"),
            tcol("FirstExplored", "child_last_write"),
        ],
    )
}
ROOTS = (
    "Local Settings\\Software\\Microsoft\\Windows\\Shell\\BagMRU",
    "Software\\Microsoft\\Windows\\Shell\\BagMRU",
    "Software\\Microsoft\\Windows\\ShellNoRoam\\BagMRU",
    "Wow6432Node\\Local Settings\\Software\\Microsoft\\Windows\\Shell\\BagMRU",
)
MAX_DEPTH = 64


def run(root: Any, hive: u.HiveLike, ctx: ParseContext) -> Iterator[Record]:
    for rel in ROOTS:
        k = u.subkey(root, rel)
        if k is not None:
            yield from _walk(k, rel, "", hive, ctx, 0)


def _walk(
    key: Any, kp: str, parent_path: str, hive: u.HiveLike, ctx: ParseContext, depth: int
) -> Iterator[Record]:
    if depth > MAX_DEPTH:
        ctx.warn(u.key_offset(key), f"{kp}: BagMRU deeper than {MAX_DEPTH} levels, not followed")
        return
    entries = [(n, p, v) for n, p, v in u.mru_entries(key, ctx) if n.isdigit()]
    order = [n for n, p, _ in sorted(((n, p, v) for n, p, v in entries if p is not None), key=lambda e: e[1])]
    mru_order = "-".join(order)
    subs = {u.key_name(s): s for s in u.subkeys(key, ctx)}
    for name, pos, v in entries:
        data = u.vdata(v)
        rec = u.common(hive, kp, key, value_name=name, mru_position=pos, mru_order=mru_order)
        try:
            item = u.decode_shell_item(data)
            rec.update(shell_type=item.kind, name=item.name, created=item.created, modified=item.modified,
                       accessed=item.accessed, mft_entry=item.mft_entry, mft_seq=item.mft_seq)  # fmt: skip
            if not item.name:  # an item type we cannot name: keep its bytes, show a placeholder
                rec["item_hex"] = data[:256].hex()
                rec["name"] = f"[{item.kind} {name}]"
        except (ValueError, IndexError) as e:
            ctx.warn(u.key_offset(key), f"{kp} value {name}: shell item: {e}", skipped=False)
            rec.update(shell_type="Corrupt", name=f"?{name}", item_hex=data[:256].hex())
        path = u.join_name(parent_path, rec["name"] or "")
        rec["path"] = path
        child = subs.get(name)
        if child is not None:
            rec["node_slot"] = u.read_int(child, "NodeSlot")
            rec["child_bags"] = sum(1 for _ in u.subkeys(child))
            rec["child_last_write"] = u.key_time(child)
        else:
            rec["child_bags"] = 0
        yield Record(TABLE, rec)
        if child is not None:
            yield from _walk(child, f"{kp}\\{name}", path, hive, ctx, depth + 1)


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    path = d.get("path") or ""
    times = [("Folder Created", d.get("created")), ("Folder Modified", d.get("modified")),
             ("Folder Accessed", d.get("accessed"))]  # fmt: skip
    if d.get("mru_position") == 0:
        times.append(("ShellBag Last Interacted", d.get("last_write")))
    for ts, desc in group_times(times):
        yield TimelineEvent(ts, desc, path, f"ShellBag: {path} ({desc})", d.get("user") or "")


def batch_row(rec: Record) -> tuple[str, str, str, str]:
    d = rec.data
    times = " | ".join(f"{n}: {fmt(d[k])}" for n, k in (("Created", "created"), ("Modified", "modified"),
                                                       ("Accessed", "accessed")) if d.get(k))  # fmt: skip
    mft = f"MFT {d['mft_entry']}-{d['mft_seq']}" if d.get("mft_entry") else ""
    return (d.get("value_name") or "", d.get("path") or "", f"{d.get('shell_type')} {mft}".strip(), times)
