"""TCP/IP interfaces (SYSTEM): addresses, gateways, DNS and DHCP state per interface and control set."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ....model import Record, TimelineEvent
from ...base import CsvShape, ParseContext, col, tcol
from . import _util as u

NAME = "netinterfaces"
HIVE_TYPES = {"SYSTEM"}
TABLE = "reg_netinterfaces"
TABLES = {
    TABLE: u.table(
        ("control_set", "TEXT"),
        ("interface", "TEXT"),
        ("dhcp_enabled", "INTEGER"),
        ("ip_address", "TEXT"),
        ("subnet_mask", "TEXT"),
        ("default_gateway", "TEXT"),
        ("name_server", "TEXT"),
        ("domain", "TEXT"),
        ("dhcp_ip_address", "TEXT"),
        ("dhcp_server", "TEXT"),
        ("dhcp_name_server", "TEXT"),
        ("dhcp_domain", "TEXT"),
        ("lease_obtained", "INTEGER"),
        ("lease_expires", "INTEGER"),
    )
}
CSV = {
    TABLE: CsvShape(
        "RECmd_NetworkInterfaces.csv",
        [col(h, k) for h, k in (
            ("ControlSet", "control_set"), ("Interface", "interface"), ("DhcpEnabled", "dhcp_enabled"),
            ("IPAddress", "ip_address"), ("SubnetMask", "subnet_mask"), ("DefaultGateway", "default_gateway"),
            ("NameServer", "name_server"), ("Domain", "domain"), ("DhcpIPAddress", "dhcp_ip_address"),
            ("DhcpServer", "dhcp_server"),
        )] + [tcol("LeaseObtained", "lease_obtained"), tcol("LastWriteTimestamp", "last_write")],
    )
}  # fmt: skip


def _multi(k: Any, name: str) -> str | None:
    m = u.read_multi(k, name)
    return None if m is None else ",".join(x for x in m if x)


def run(root: Any, hive: u.HiveLike, ctx: ParseContext) -> Iterator[Record]:
    for cs_name, cs in u.control_sets(root, hive, ctx):
        rel = "Services\\Tcpip\\Parameters\\Interfaces"
        for ik in u.subkeys(u.subkey(cs, rel), ctx):
            name = u.key_name(ik)
            yield Record(
                TABLE,
                u.common(
                    hive, f"{cs_name}\\{rel}\\{name}", ik, control_set=cs_name, interface=name,
                    dhcp_enabled=u.read_int(ik, "EnableDHCP"), ip_address=_multi(ik, "IPAddress"),
                    subnet_mask=_multi(ik, "SubnetMask"), default_gateway=_multi(ik, "DefaultGateway"),
                    name_server=u.read_str(ik, "NameServer"), domain=u.read_str(ik, "Domain"),
                    dhcp_ip_address=u.read_str(ik, "DhcpIPAddress"), dhcp_server=u.read_str(ik, "DhcpServer"),
                    dhcp_name_server=u.read_str(ik, "DhcpNameServer"), dhcp_domain=u.read_str(ik, "DhcpDomain"),
                    lease_obtained=u.unix_to_ticks(u.read_int(ik, "LeaseObtainedTime")),
                    lease_expires=u.unix_to_ticks(u.read_int(ik, "LeaseTerminatesTime")),
                ),
            )  # fmt: skip


def timeline(rec: Record) -> Iterator[TimelineEvent]:
    d = rec.data
    if d.get("lease_obtained"):
        yield TimelineEvent(d["lease_obtained"], "DHCP Lease Obtained", d.get("interface") or "",
                            f"DHCP lease {d.get('dhcp_ip_address')} from {d.get('dhcp_server')} ({d.get('interface')})")  # fmt: skip


def batch_row(rec: Record) -> tuple[str, str, str, str]:
    d = rec.data
    ip = d.get("ip_address") or d.get("dhcp_ip_address") or ""
    return (d.get("interface") or "", ip, f"Gateway: {d.get('default_gateway') or ''} | DNS: {d.get('name_server') or d.get('dhcp_name_server') or ''}",
            f"DHCP: {d.get('dhcp_enabled')}")  # fmt: skip
