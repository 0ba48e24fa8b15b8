"""Windows Defender settings (SOFTWARE): protection switched off, exclusions, tamper protection.

Reads ``Microsoft\\Windows Defender`` and ``Policies\\Microsoft\\Windows Defender`` (group policy wins):
DisableAntiSpyware, DisableAntiVirus, ``Real-Time Protection`` switches, ``Features\\TamperProtection``,
and every exclusion under ``Exclusions\\Paths|Extensions|Processes|IpAddresses``. One row per setting.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ....model import Record, TimelineEvent
from ...base import CsvShape, ParseContext, col, tcol
from . import _util as u

NAME = "defender"
HIVE_TYPES = {"SOFTWARE"}
TABLE = "reg_defender"
TABLES = {
    TABLE: u.table(
        ("source", "TEXT"),  # Policy | Local
        ("kind", "TEXT"),  # setting | exclusion
        ("name", "TEXT"),  # setting name, or the exclusion category (Paths/Extensions/Processes/...)
        ("value", "TEXT"),  # setting value, or the excluded item
        ("weakens_protection", "INTEGER"),
    )
}
CSV = {
    TABLE: CsvShape(
        "RECmd_WindowsDefender.csv",
        [
            col("Source", "source"),
            col("Kind", "kind"),
            col("Name", "name"),
            col("Value", "value"),
            col("WeakensProtection", "weakens_protection"),
            col("KeyPath", "key_path"),
            tcol("LastWriteTimestamp", "last_write"),
        ],
    )
}
BASES = (("Policy", "Policies\\Microsoft\\Windows Defender"), ("Local", "Microsoft\\Windows Defender"))
# setting -> value that weakens protection
SETTINGS: dict[str, dict[str, int]] = {
    "": {"DisableAntiSpyware": 1, "DisableAntiVirus": 1, "DisableRoutinelyTakingAction": 1,
         "ServiceStartStates": 0, "PUAProtection": 0},
    "Real-Time Protection": {"DisableRealtimeMonitoring": 1, "DisableBehaviorMonitoring": 1,
                             "DisableOnAccessProtection": 1, "DisableScanOnRealtimeEnable": 1,
                             "DisableIOAVProtection": 1, "DisableIntrusionPreventionSystem": 1},
    "Features": {"TamperProtection": 4},
    "Spynet": {"SpynetReporting": 0, "SubmitSamplesConsent": 2, "DisableBlockAtFirstSeen": 1},
    "Windows Defender Exploit Guard\\Controlled Folder Access": {"EnableControlledFolderAccess": 0},
}  # fmt: skip
EXCLUSIONS = ("Paths", "Extensions", "Processes", "IpAddresses", "TemporaryPaths")


def run(root: Any, hive: u.HiveLike, ctx: ParseContext) -> Iterator[Record]:
    for source, base in BASES:
        bk = u.subkey(root, base)
        if bk is None:
            continue
        for sub, settings in SETTINGS.items():
            k = bk if not sub else u.subkey(bk, sub)
            kp = base if not sub else f"{base}\\{sub}"
            for name, bad in settings.items():
                v = u.value(k, name)
                if v is None:
                    continue
                val = u.as_int(v)
                weak = 1 if val is not None and val == bad else 0
                yield Record(TABLE, u.common(hive, kp, k, source=source, kind="setting", name=name,
                                             value=u.as_str(v), weakens_protection=weak))  # fmt: skip
        for cat in EXCLUSIONS:
            k = u.subkey(bk, f"Exclusions\\{cat}")
            for v in u.values(k, ctx):
                yield Record(TABLE, u.common(hive, f"{base}\\Exclusions\\{cat}", k, source=source,
                                             kind="exclusion", name=cat, value=u.vname(v),
                                             weakens_protection=1))  # fmt: skip


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    if d.get("last_write") and d.get("weakens_protection"):
        yield TimelineEvent(d["last_write"], "Defender Setting Key Last Write", d.get("key_path") or "",
                            f"Defender {d.get('source')} {d.get('kind')} {d.get('name')}={d.get('value')}")  # fmt: skip


def batch_row(rec: Record) -> tuple[str, str, str, str]:
    d = rec.data
    return (
        d.get("name") or "",
        d.get("value") or "",
        f"{d.get('source')} {d.get('kind')}",
        "Weakens protection" if d.get("weakens_protection") else "",
    )
