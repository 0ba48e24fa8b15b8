"""Network profiles (SOFTWARE ``NetworkList``): networks the machine joined, with first/last connect.

``Profiles\\{GUID}``: ProfileName, Description, Category (0 public, 1 private, 2 domain), NameType
(6 wired, 23 VPN, 71 wireless, 243 mobile broadband), DateCreated / DateLastConnected (SYSTEMTIME,
local time of the system as written by Windows). ``Signatures\\(Un)Managed\\*`` add the gateway MAC
and DNS suffix, joined by ProfileGuid.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ....model import Record, TimelineEvent
from ....timeutil import fmt
from ...base import CsvShape, ParseContext, col, group_times, tcol
from . import _util as u

NAME = "networkprofiles"
HIVE_TYPES = {"SOFTWARE"}
TABLE = "reg_networkprofiles"
TABLES = {
    TABLE: u.table(
        ("profile_guid", "TEXT"),
        ("profile_name", "TEXT"),
        ("description", "TEXT"),
        ("category", "TEXT"),
        ("name_type", "TEXT"),
        ("managed", "INTEGER"),
        ("first_connected", "INTEGER"),  # SYSTEMTIME as stored (system local time)
        ("last_connected", "INTEGER"),
        ("gateway_mac", "TEXT"),
        ("dns_suffix", "TEXT"),
    )
}
CSV = {
    TABLE: CsvShape(
        "RECmd_NetworkProfiles.csv",
        [
            col("ProfileName", "profile_name"),
            col("Description", "description"),
            col("Category", "category"),
            col("NameType", "name_type"),
            col("GatewayMac", "gateway_mac"),
            col("DnsSuffix", "dns_suffix"),
            tcol("FirstConnectLOCAL", "first_connected"),
            tcol("LastConnectLOCAL", "last_connected"),
            col("ProfileGuid", "profile_guid"),
        ],
    )
}
KEY = "Microsoft\\Windows NT\\CurrentVersion\\NetworkList"
CATEGORY = {0: "Public", 1: "Private", 2: "Domain"}
NAME_TYPE = {6: "Wired", 23: "VPN", 71: "Wireless", 243: "Mobile Broadband"}


def run(root: Any, hive: u.HiveLike, ctx: ParseContext) -> Iterator[Record]:
    sigs: dict[str, tuple[int | None, str | None, str | None]] = {}
    for managed, sub in ((1, "Managed"), (0, "Unmanaged")):
        for sk in u.subkeys(u.subkey(root, f"{KEY}\\Signatures\\{sub}"), ctx):
            g = (u.read_str(sk, "ProfileGuid") or "").upper()
            raw_mac = u.read_bytes(sk, "DefaultGatewayMac")
            sigs[g] = (
                managed,
                ":".join(f"{b:02X}" for b in raw_mac[:6]) if raw_mac else None,
                u.read_str(sk, "DnsSuffix"),
            )
    for pk in u.subkeys(u.subkey(root, f"{KEY}\\Profiles"), ctx):
        g = u.key_name(pk)
        cat, nt = u.read_int(pk, "Category"), u.read_int(pk, "NameType")
        is_managed, mac, dns = sigs.get(g.upper(), (None, None, None))
        yield Record(
            TABLE,
            u.common(
                hive, f"{KEY}\\Profiles\\{g}", pk, profile_guid=g, profile_name=u.read_str(pk, "ProfileName"),
                description=u.read_str(pk, "Description"),
                category=CATEGORY.get(cat, str(cat)) if cat is not None else None,
                name_type=NAME_TYPE.get(nt, str(nt)) if nt is not None else None, managed=is_managed,
                first_connected=u.systemtime_at(u.read_bytes(pk, "DateCreated") or b""),
                last_connected=u.systemtime_at(u.read_bytes(pk, "DateLastConnected") or b""),
                gateway_mac=mac, dns_suffix=dns,
            ),
        )  # fmt: skip


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    for ts, desc in group_times([("First Connected (local)", d.get("first_connected")),
                                 ("Last Connected (local)", d.get("last_connected"))]):  # fmt: skip
        yield TimelineEvent(ts, desc, d.get("profile_name") or "", f"Network {d.get('profile_name')}: {desc}")


def batch_row(rec: Record) -> tuple[str, str, str, str]:
    d = rec.data
    return (d.get("profile_guid") or "", d.get("profile_name") or "",
            f"First connected (local): {fmt(d.get('first_connected'))} | Last: {fmt(d.get('last_connected'))}",
            f"{d.get('category') or ''} {d.get('name_type') or ''}".strip())  # fmt: skip
