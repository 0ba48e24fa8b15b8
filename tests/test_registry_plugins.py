"""Registry artefact plugins (``artifacts/registry/plugins``) on real hives, with exact MANIFEST values.

Hives are opened with plain ``pyregf.file()`` and the plugin gets ``root_key`` plus a ``HiveInfo``, as the
registry artefact does after replay. Counts that differ from regipy's are explained where asserted.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pyregf
import pytest

from wintriage.artifacts.base import ParseContext
from wintriage.artifacts.registry.hive import HiveInfo
from wintriage.artifacts.registry.plugins import (
    PLUGINS,
    _util,
    amcache,
    bam,
    computername,
    defender,
    mounteddevices,
    netinterfaces,
    opensavemru,
    osinfo,
    profilelist,
    recentdocs,
    runkeys,
    runmru,
    samusers,
    services,
    shellbags,
    shimcache,
    timezone,
    typedurls,
    usb,
    userassist,
    wordwheelquery,
)
from wintriage.model import Record
from wintriage.timeutil import from_iso

COMMON = {"hive_path", "key_path", "last_write", "user", "sid"}


def T(s: str) -> int:
    return from_iso(s)


# ---------------------------------------------------------------- helpers

_OPEN: list[Any] = []


def _root(path: Path) -> Any:
    f = pyregf.file()
    f.open(str(path))
    _OPEN.append(f)  # keep the file object alive while its keys are used
    return f.root_key


def run(
    mod: ModuleType, path: Path, hive_type: str, user: str = "", sid: str = ""
) -> tuple[list[Record], ParseContext]:
    ctx = ParseContext(mod.NAME, str(path))
    info = HiveInfo(str(path), hive_type, user=user, sid=sid)
    recs = list(mod.run(_root(path), info, ctx))
    check_records(mod, recs)
    return recs, ctx


def check_records(mod: ModuleType, recs: list[Record]) -> None:
    """Every record fits its declared table, and timeline() works on it."""
    for r in recs:
        assert r.table in mod.TABLES, r.table
        cols = {c for c, _ in mod.TABLES[r.table]}
        extra = set(r.data) - cols
        assert not extra, f"{mod.NAME}: {r.table} lacks columns {extra}"
        assert isinstance(r.data.get("key_path"), str)
        row = mod.batch_row(r)  # RECmd (plugin) columns: ValueName, ValueData, ValueData2, ValueData3
        assert len(row) == 4 and all(isinstance(x, str) for x in row), row
        for ev in getattr(mod, "timeline", lambda _r: ())(r):
            assert isinstance(ev.ts, int) and ev.ts > 0 and ev.summary
        for shape in getattr(mod, "CSV", {}).values():
            if r.table in mod.CSV and mod.CSV[r.table] is shape:
                assert len(shape.row(r.data)) == len(shape.headers())


def one(recs: list[Record], **match: Any) -> dict[str, Any]:
    hits = [r.data for r in recs if all(r.data.get(k) == v for k, v in match.items())]
    assert len(hits) == 1, f"{len(hits)} records match {match}"
    return hits[0]


# ---------------------------------------------------------------- the plugin contract


def test_contract() -> None:
    names = set()
    tables: set[str] = set()
    valid = {"SYSTEM", "SOFTWARE", "SAM", "SECURITY", "NTUSER", "USRCLASS", "AMCACHE", "DEFAULT"}
    for m in PLUGINS:
        assert isinstance(m.NAME, str) and m.NAME not in names
        names.add(m.NAME)
        assert m.HIVE_TYPES and set(m.HIVE_TYPES) <= valid, m.NAME
        assert callable(m.run) and callable(m.timeline) and callable(m.batch_row)
        for t, cols in m.TABLES.items():
            assert t.startswith("reg_") and t not in tables
            tables.add(t)
            cnames = [c for c, _ in cols]
            assert len(cnames) == len(set(cnames)) and COMMON <= set(cnames), t
            assert all(ty in ("TEXT", "INTEGER", "REAL", "BLOB") for _, ty in cols)
        for t in getattr(m, "CSV", {}):
            assert t in m.TABLES
    assert len(PLUGINS) == 23


# ---------------------------------------------------------------- UserAssist


def test_userassist_xp(td: Callable[[str], Path]) -> None:
    recs, ctx = run(userassist, td("registry/plaso/NTUSER.DAT"), "NTUSER", user="xp")
    # plaso: 14 event_data. The {75048700...}\Count key holds 15 values and {5E6AB780...}\Count 1: the two
    # UEME_CTLSESSION values are session records, not programs, so 14 entries (as plaso).
    assert len(recs) == 14 and ctx.warning_count == 0
    d = recs[0].data
    assert d["value_name"] == "UEME_RUNPIDL:%csidl2%\\MSN.lnk"
    assert d["run_count"] == 14  # stored 19, XP counts from 5
    assert d["last_run"] == T("2009-08-04T15:11:22.8110676Z")
    assert d["format_version"] == 3 and d["session_id"] == 1
    assert d["key_path"].endswith("UserAssist\\{75048700-EF1F-11D0-9888-006097DEACF9}\\Count")
    assert d["user"] == "xp"


def test_userassist_win7(unpacked: Callable[[str], Path]) -> None:
    recs, ctx = run(userassist, unpacked("registry/regipy/NTUSER.DAT.xz"), "NTUSER")
    # regipy reports 62: its GUID list names the two Windows 7 GUIDs twice (as "Windows 7" and "Windows 8"),
    # so every entry is counted twice. The hive holds 18 + 13 entries (plus 2 UEME_CTLSESSION) = 31.
    assert len(recs) == 31 and ctx.warning_count == 0
    excel = one(
        recs, value_name="{7C5A40EF-A0FB-4BFC-874A-C0F2E0B9FA8E}\\Microsoft Office\\Office14\\EXCEL.EXE"
    )
    assert excel["program_name"] == "C:\\Program Files (x86)\\Microsoft Office\\Office14\\EXCEL.EXE"
    assert (excel["run_count"], excel["focus_count"], excel["focus_time_ms"], excel["session_id"]) == (
        4,
        1,
        47673,
        0,
    )
    assert excel["last_run"] == T("2012-04-04T15:43:14.785Z")
    rd = one(recs, value_name="Microsoft.Windows.RemoteDesktop")
    assert (rd["run_count"], rd["focus_count"], rd["focus_time_ms"]) == (8, 9, 180000)
    assert rd["last_run"] == T("2012-04-03T22:06:58.1242823Z")  # regipy: 22:06:58.124282
    exp = one(recs, value_name="{F38BF404-1D43-42F2-9305-67DE0B28FC23}\\explorer.exe")
    assert exp["program_name"] == "C:\\Windows\\explorer.exe"


# ---------------------------------------------------------------- ShimCache


def test_shimcache_regipy_system(unpacked: Callable[[str], Path]) -> None:
    recs, ctx = run(shimcache, unpacked("registry/regipy/SYSTEM.xz"), "SYSTEM")
    assert len(recs) == 660 and ctx.warning_count == 0  # regipy: 660 (330 in each of the two control sets)
    assert Counter(r.data["control_set"] for r in recs) == {"ControlSet001": 330, "ControlSet002": 330}
    d = recs[0].data
    assert d["control_set"] == "ControlSet001" and d["position"] == 0
    assert d["path"] == "\\??\\C:\\Program Files\\McAfee\\VirusScan Enterprise\\mfeann.exe"
    assert d["last_modified"] == T("2011-01-12T12:08:00Z")
    assert d["executed"] == 1 and d["format"] == "Windows 7 32-bit"
    assert d["key_path"] == "ControlSet001\\Control\\Session Manager\\AppCompatCache"
    assert shimcache.CSV[shimcache.TABLE].headers()[:5] == [
        "ControlSet", "CacheEntryPosition", "Path", "LastModifiedTimeUTC", "Executed"
    ]  # fmt: skip


def _u16(s: str) -> bytes:
    return s.encode("utf-16-le")


FT1 = T("2020-01-02T03:04:05.1234567Z")


def _win10(paths: list[str], header: int = 0x34) -> bytes:
    out = struct.pack("<I", header) + b"\0" * (header - 4)
    for p in paths:
        body = struct.pack("<H", len(_u16(p))) + _u16(p) + struct.pack("<QI", FT1, 4) + b"DATA"
        out += b"10ts" + b"\0\0\0\0" + struct.pack("<I", len(body)) + body
    return out


def _win81(paths: list[str]) -> bytes:
    out = struct.pack("<I", 0x80) + b"\0" * 124
    for p in paths:
        pkg = _u16("pkg")
        body = (struct.pack("<H", len(_u16(p))) + _u16(p) + struct.pack("<H", len(pkg)) + pkg
                + struct.pack("<IIQI", 2, 0, FT1, 0))  # fmt: skip
        out += b"10ts" + b"\0\0\0\0" + struct.pack("<I", len(body)) + body
    return out


def _win7_64(paths: list[str]) -> bytes:
    hdr = struct.pack("<II", 0xBADC0FEE, len(paths)) + b"\0" * 120
    esz = 48
    strings_at = 128 + esz * len(paths)
    entries, strings = b"", b""
    for i, p in enumerate(paths):
        b = _u16(p)
        off = strings_at + len(strings)
        entries += struct.pack("<HHIQQIIQQ", len(b), len(b) + 2, 0, off, FT1, 2 if i == 0 else 0, 0, 0, 0)
        strings += b + b"\0\0"
    return hdr + entries + strings


def _vista32(paths: list[str]) -> bytes:
    hdr = struct.pack("<II", 0xBADC0FEE, len(paths))
    strings_at = 8 + 24 * len(paths)
    entries, strings = b"", b""
    for p in paths:
        b = _u16(p)
        entries += struct.pack("<HHIQII", len(b), len(b) + 2, strings_at + len(strings), FT1, 2, 0)
        strings += b + b"\0\0"
    return hdr + entries + strings


def _win80(paths: list[str]) -> bytes:
    out = struct.pack("<I", 0x80) + b"\0" * 124
    for p in paths:
        body = struct.pack("<H", len(_u16(p))) + _u16(p) + struct.pack("<IIQI", 0, 0, FT1, 0)
        out += b"00ts" + b"\0\0\0\0" + struct.pack("<I", len(body)) + body
    return out


def _win7_32(paths: list[str]) -> bytes:
    hdr = struct.pack("<II", 0xBADC0FEE, len(paths)) + b"\x01" * 120  # the Win7 header holds a lookup table
    strings_at = 128 + 32 * len(paths)
    entries, strings = b"", b""
    for i, p in enumerate(paths):
        b = _u16(p)
        entries += struct.pack(
            "<HHIQIIII", len(b), len(b) + 2, strings_at + len(strings), FT1, 2 if i == 0 else 0, 0, 0, 0
        )
        strings += b + b"\0\0"
    return hdr + entries + strings


def _xp(paths: list[str]) -> bytes:
    out = struct.pack("<II", 0xDEADBEEF, len(paths)) + b"\0" * 392
    for p in paths:
        out += _u16(p).ljust(528, b"\0") + struct.pack("<QQQ", FT1, 1234, FT1 + 1)
    return out


@pytest.mark.parametrize(
    "blob,fmt_name,executed",
    [
        (_win10(["C:\\a.exe", "C:\\b.exe"]), "Windows 10/11", None),
        (_win10(["C:\\a.exe", "C:\\b.exe"], 0x30), "Windows 10", None),
        (_win81(["C:\\a.exe", "C:\\b.exe"]), "Windows 8.1", 1),
        (_win80(["C:\\a.exe", "C:\\b.exe"]), "Windows 8.0", 0),
        (_win7_64(["C:\\a.exe", "C:\\b.exe"]), "Windows 7 64-bit", 1),
        (_win7_32(["C:\\a.exe", "C:\\b.exe"]), "Windows 7 32-bit", 1),
        (_vista32(["C:\\a.exe", "C:\\b.exe"]), "Windows Vista/2003 32-bit", 1),
        (_xp(["C:\\a.exe", "C:\\b.exe"]), "Windows XP", None),
    ],
)
def test_shimcache_formats(blob: bytes, fmt_name: str, executed: int | None) -> None:
    name, entries = shimcache.parse_cache(blob)
    got = list(entries)
    assert name == fmt_name
    assert [e["path"] for e in got] == ["C:\\a.exe", "C:\\b.exe"]
    assert got[0]["last_modified"] == FT1
    assert got[0].get("executed") == executed
    # truncation anywhere: a ValueError (turned into a warning by run()), never anything else
    for cut in (9, len(blob) // 2, len(blob) - 3):
        try:
            n2, it = shimcache.parse_cache(blob[:cut])
            list(it)
        except (ValueError, struct.error):
            pass


# ---------------------------------------------------------------- Amcache


def test_amcache_regipy(unpacked: Callable[[str], Path]) -> None:
    recs, ctx = run(amcache, unpacked("registry/regipy/amcache.hve.xz"), "AMCACHE")
    files = [r for r in recs if r.table == amcache.FILES]
    # regipy: 1367 = 1120 Root\File entries + 247 InventoryApplicationFile entries (both layouts in this hive)
    assert len(files) == 1367 and ctx.warning_count == 0
    assert Counter(r.data["layout"] for r in files) == {"File": 1120, "InventoryApplicationFile": 247}
    assert sum(r.table == amcache.APPS for r in recs) == 74
    d = one(files, full_path="C:\\Windows\\system32\\TPVMMondeu.dll")
    assert d["sha1"] == "056f4b9d9ec9b5dc548e1b460da889e44089d76f"
    assert d["program_id"] == "0000" + "75a010066bb612ca7357ce31df8e9f0300000904"  # regipy strips the 0000
    assert d["last_modified2"] == T("2017-03-17T05:06:04.0027224Z")  # regipy: .002722
    assert d["last_write"] == T("2017-08-03T11:34:02.2634189Z")  # regipy "timestamp": .263418
    assert d["file_id"] == "100001639b" and (d["mft_entry"], d["mft_seq"]) == (0x1639B, 0x10)
    assert d["application_name"] == "VMware Tools"  # Root\\Programs\\<program id> value 0


def test_amcache_win10(td: Callable[[str], Path]) -> None:
    recs, ctx = run(amcache, td("registry/plaso/win10-Amcache.hve"), "AMCACHE")
    assert ctx.warning_count == 0
    d = one(recs, full_path="c:\\windows\\system32\\svchost.exe")
    assert d["name"] == "svchost.exe" and d["layout"] == "InventoryApplicationFile"
    assert d["file_id"] == "000075c5a97f521f760e32a4a9639a653eed862e9c61"
    assert d["sha1"] == "75c5a97f521f760e32a4a9639a653eed862e9c61"
    assert d["link_time"] == T("1997-01-10T22:26:24Z")
    assert d["last_write"] == T("2019-12-17T05:30:28.2416496Z")
    assert d["is_os_component"] == 1 and d["size"] == 53744
    assert d.get("application_name") is None  # no InventoryApplication entry: AmcacheParser's "Unassociated"
    assert one(recs, name="7z.exe")["application_name"] == "7-Zip 19.00 (x64)"
    # plaso's 236 event_data also count devices and driver entries; we report the 30 files and 75 programs
    assert Counter(r.table for r in recs) == {amcache.FILES: 30, amcache.APPS: 75}


# ---------------------------------------------------------------- SYSTEM hive facts (regipy validations)


@pytest.fixture(scope="module")
def system(unpacked: Callable[[str], Path]) -> Path:
    return unpacked("registry/regipy/SYSTEM.xz")


def test_computername(system: Path) -> None:
    recs, _ = run(computername, system, "SYSTEM")
    names = [(r.data["name"], r.data["last_write"]) for r in recs if r.data["source"] == "ComputerName"]
    assert names == [("WKS-WIN732BITA", T("2010-11-10T17:18:08.71875Z")),
                     ("WIN-V5T3CSP8U4H", T("2010-11-10T18:17:36.96875Z"))]  # fmt: skip
    tcp = [r.data for r in recs if r.data["source"] == "Tcpip"]
    assert [(d["name"], d["domain"]) for d in tcp] == [("WKS-WIN732BITA", "shieldbase.local")] * 2
    assert tcp[0]["last_write"] == T("2011-09-17T13:43:23.7700774Z")  # regipy: .770078 (rounded)


def test_timezone(system: Path) -> None:
    recs, _ = run(timezone, system, "SYSTEM")
    assert len(recs) == 2  # regipy TimezoneDataPlugin: 2 (one per control set)
    d = recs[0].data
    assert d["time_zone_key_name"] == "Eastern Standard Time"  # regipy shows the raw bytes after the NUL too
    assert (d["bias"], d["active_time_bias"], d["daylight_bias"], d["standard_bias"]) == (300, 240, -60, 0)
    assert (d["standard_name"], d["daylight_name"]) == ("@tzres.dll,-112", "@tzres.dll,-111")
    assert d["dynamic_dst_disabled"] == 0
    assert timezone.display_offset_minutes(recs[0]) == -240 == d["offset_minutes"]
    assert timezone.display_offset_minutes({"bias": -540}) == 540


def test_usb(system: Path) -> None:
    recs, ctx = run(usb, system, "SYSTEM")
    assert ctx.warning_count == 0
    by_bus = Counter(r.data["bus"] for r in recs)
    assert by_bus == {"USB": 14, "USBSTOR": 2}  # regipy USBDevicesPlugin (Enum\USB): 14, 7 per control set
    first = next(r.data for r in recs if r.data["bus"] == "USB")
    assert first["key_path"] == "ControlSet001\\Enum\\USB\\ROOT_HUB\\5&391b2433&0"
    assert first["serial"] == "5&391b2433&0" and first["vid"] is None and first["pid"] is None
    assert first["last_write"] == T("2012-04-07T10:31:37.6252465Z")
    assert (
        first["hardware_id"]
        == "USB\\ROOT_HUB&VID8086&PID7112&REV0000|USB\\ROOT_HUB&VID8086&PID7112|USB\\ROOT_HUB"
    )
    assert first["container_id"] == "{00000000-0000-0000-ffff-ffffffffffff}"
    assert (first["service"], first["class"], first["class_guid"]) == (
        "usbhub", "USB", "{36fc9e60-c465-11cf-8056-444553540000}")  # fmt: skip
    assert first["driver"] == "{36fc9e60-c465-11cf-8056-444553540000}\\0002"
    assert (first["manufacturer"], first["device_desc"]) == ("(Standard USB Host Controller)", "USB Root Hub")
    # 0065 is DEVPKEY_Device_FirstInstallDate, 0064 DEVPKEY_Device_InstallDate (the latest (re)install):
    # the root hub was first installed with the system and re-installed later
    assert first["first_install"] == T("2010-11-10T18:22:59.015Z")
    assert first["last_install"] == T("2011-09-17T13:42:21.87Z")
    stor = next(r.data for r in recs if r.data["bus"] == "USBSTOR")
    assert (stor["vendor"], stor["product"], stor["revision"]) == ("HP", "v100w", "1024")
    assert stor["serial"] == "AA951D0000007252&0" and stor["friendly_name"] == "HP v100w USB Device"
    assert stor["container_id"] == "{198d50c0-8236-5bd2-a6d0-1064a25ce769}"
    assert stor["mounted_as"] == "E:, Volume{eba74da6-5bb2-11e0-95d1-000c2971073c}"  # from MountedDevices
    assert stor["first_install"] == T("2011-04-01T04:52:38.686Z") == stor["last_install"]
    hp = one(recs, bus="USB", device_key="VID_03F0&PID_3207", control_set="ControlSet001")
    assert (hp["vid"], hp["pid"]) == ("03F0", "3207")


def test_mounteddevices(system: Path) -> None:
    recs, _ = run(mounteddevices, system, "SYSTEM")
    assert len(recs) == 11  # regipy: 11
    d = recs[0].data
    assert (d["value_name"], d["mount_point"], d["mount_type"]) == ("\\DosDevices\\C:", "C:", "drive_letter")
    assert d["last_write"] == T("2011-07-05T19:33:28.328125Z")
    assert (d["data_kind"], d["disk_signature"], d["partition_offset"]) == ("mbr", "5CBEA03E", 1048576)
    e = one(recs, value_name="\\DosDevices\\E:")
    assert e["data_kind"] == "device" and e["device_path"].startswith("_??_USBSTOR#Disk&Ven_HP&Prod_v100w")


def test_netinterfaces(system: Path) -> None:
    recs, _ = run(netinterfaces, system, "SYSTEM")
    assert len(recs) == 6  # regipy NetworkDataPlugin: 3 interfaces in each of 2 control sets
    a = one(recs, interface="{698E50A9-4F58-4D86-B61D-F42E58DCACF6}", control_set="ControlSet001")
    assert (a["ip_address"], a["subnet_mask"], a["default_gateway"], a["name_server"], a["dhcp_enabled"]) == (
        "10.3.58.5", "255.255.255.0", "10.3.58.1", "10.3.58.4", 0)  # fmt: skip
    b = one(recs, interface="{6AAFC9A9-0542-4DB2-8760-CCFFA953737C}", control_set="ControlSet002")
    assert (b["ip_address"], b["default_gateway"], b["name_server"]) == (
        "192.168.1.123",
        "192.168.1.1",
        "192.168.1.112",
    )
    c = one(recs, interface="{e29ac6c2-7037-11de-816d-806e6f6e6963}", control_set="ControlSet001")
    assert c["ip_address"] is None and c["dhcp_enabled"] is None
    assert a["last_write"] == T("2011-09-17T13:43:23.7700774Z")


def test_services_and_bam_absent(system: Path) -> None:
    recs, ctx = run(services, system, "SYSTEM")
    assert ctx.warning_count == 0
    per_cs = Counter(r.data["control_set"] for r in recs)
    assert per_cs["ControlSet001"] > 400
    tcpip = one(recs, name="Tcpip", control_set="ControlSet001")
    assert tcpip["image_path"] == "System32\\drivers\\tcpip.sys"
    assert (tcpip["start"], tcpip["start_name"], tcpip["type"], tcpip["type_name"]) == (
        0,
        "Boot",
        1,
        "Kernel driver",
    )
    assert not any(r.data["user_writable_path"] for r in recs)
    assert services.user_writable("C:\\Users\\minji\\AppData\\Local\\Temp\\x.exe")
    assert not services.user_writable("%SystemRoot%\\System32\\svchost.exe -k netsvcs")
    # Windows 7: no bam service (BAM appeared in Windows 10 1709)
    recs, ctx = run(bam, system, "SYSTEM")
    assert recs == [] and ctx.warning_count == 0


def test_windows10_system(unpacked: Callable[[str], Path]) -> None:
    """SYSTEM_B after log replay (yarp's result): Windows 10 ShimCache, BAM (1709 layout) and device times."""
    sysb = unpacked("registry/derived/SYSTEM_B.recovered_by_yarp.xz")
    recs, ctx = run(shimcache, sysb, "SYSTEM")
    assert len(recs) == 406 and ctx.warning_count == 0
    d = recs[0].data
    assert (d["format"], d["position"], d["path"]) == (
        "Windows 10/11",
        0,
        "C:\\Windows\\system32\\MusNotificationUX.exe",
    )
    assert d["last_modified"] == T("2018-03-01T05:53:41.3556379Z") and d.get("executed") is None
    recs, ctx = run(bam, sysb, "SYSTEM")
    assert len(recs) == 31 and ctx.warning_count == 0
    d = recs[0].data
    assert d["key_path"] == "ControlSet001\\Services\\bam\\UserSettings\\S-1-5-18"
    assert (d["program"], d["sid"]) == ("\\Device\\HarddiskVolume4\\Windows\\System32\\csrss.exe", "S-1-5-18")
    assert d["last_run"] == T("2018-04-06T12:40:38.8104203Z")
    recs, _ = run(usb, sysb, "SYSTEM")
    d = one(recs, serial="AA010215170355310594&0", control_set="ControlSet001")
    assert (d["vendor"], d["product"], d["friendly_name"]) == (
        "SanDisk",
        "Extreme",
        "SanDisk Extreme USB Device",
    )
    assert d["first_install"] == d["last_install"] == T("2018-03-27T12:11:32.0212035Z")
    assert d["last_connected"] == T("2018-03-27T12:13:16.3653296Z")
    assert d["last_removed"] == T("2018-03-27T09:22:13.0888871Z")
    v = one(recs, serial="AA010215170355310594", control_set="ControlSet001")
    assert (v["vid"], v["pid"], v["container_id"]) == ("0781", "5580", d["container_id"])


# ---------------------------------------------------------------- SAM


def test_samusers(unpacked: Callable[[str], Path]) -> None:
    recs, ctx = run(samusers, unpacked("registry/regipy/SAM.xz"), "SAM")
    assert len(recs) == 3 and ctx.warning_count == 0  # regipy: 3
    a = one(recs, rid=500)
    assert a["key_path"] == "SAM\\Domains\\Account\\Users\\000001F4" and a["user_name"] == "Administrator"
    assert a["last_write"] == T("2014-09-24T06:32:50.3780424Z")
    assert a["last_login"] == T("2010-11-20T21:48:12.569244Z")
    assert a["password_last_set"] == T("2010-11-20T21:56:34.743687Z")
    assert a["account_expires"] is None and a["last_failed_login"] is None
    assert (a["account_flags"], a["login_count"], a["failed_login_count"]) == (529, 6, 0)
    assert a["account_flags_text"] == "Account Disabled, Normal User Account, Password Does Not Expire"
    p = one(recs, rid=1000)
    assert p["user_name"] == "Preston"
    assert p["last_login"] == T("2014-09-30T02:59:34.3166928Z")  # regipy: .316693
    assert p["password_last_set"] == T("2014-09-24T03:35:45.8448014Z")  # regipy: .844801
    assert (p["account_flags"], p["login_count"], p["failed_login_count"]) == (16, 4, 0)
    assert p["created"] == T("2014-09-24T03:35:45.1272001Z")  # Users\Names\Preston last write
    assert one(recs, rid=501)["user_name"] == "Guest"


# ---------------------------------------------------------------- NTUSER activity


def test_ntuser_mrus(unpacked: Callable[[str], Path]) -> None:
    nt = unpacked("registry/regipy/NTUSER.DAT.xz")
    recs, _ = run(wordwheelquery, nt, "NTUSER")
    assert len(recs) == 6  # regipy: 6
    d = recs[0].data
    assert (d["value_name"], d["mru_position"], d["value"]) == ("1", 0, "alloy")
    assert d["last_write"] == T("2012-04-04T15:45:18.5513397Z")  # regipy .551340
    recs, _ = run(typedurls, nt, "NTUSER")
    assert [(r.data["value_name"], r.data["value"]) for r in recs] == [
        ("url1", "http://199.73.28.114:53/"), ("url2", "http://go.microsoft.com/fwlink/?LinkId=69157")]  # fmt: skip
    assert recs[0].data["last_write"] == T("2012-04-03T22:37:55.4115006Z")
    recs, _ = run(runkeys, nt, "NTUSER")
    assert len(recs) == 1  # regipy NTUserPersistencePlugin: 1
    d = recs[0].data
    assert (d["key_path"], d["value_name"], d["command"]) == (
        "Software\\Microsoft\\Windows\\CurrentVersion\\Run", "Sidebar",
        "%ProgramFiles%\\Windows Sidebar\\Sidebar.exe /autoRun")  # fmt: skip
    assert d["last_write"] == 129779615948377168
    recs, ctx = run(recentdocs, nt, "NTUSER")
    assert ctx.warning_count == 0 and len(recs) == 22
    top = recs[0].data
    assert (top["extension"], top["value_name"], top["mru_position"]) == ("", "9", 0)
    assert top["target_name"] == "Agents-List-CLASSIFIED-TOP-SECRET"
    assert top["lnk_name"] == "Agents-List-CLASSIFIED-TOP-SECRET.lnk"
    assert top["opened"] == top["last_write"] == T("2012-04-04T15:43:17.1607147Z")


# ---------------------------------------------------------------- ShellBags


def test_shellbags_usrclass(unpacked: Callable[[str], Path]) -> None:
    # UsrClass.dat is dirty; used as-is (as regipy's validation does) it gives regipy's 29 entries.
    recs, ctx = run(shellbags, unpacked("registry/regipy/UsrClass.dat.xz"), "USRCLASS")
    assert len(recs) == 29 and ctx.warning_count == 0
    d = one(recs, path="Dropbox")
    assert d["key_path"] == "Local Settings\\Software\\Microsoft\\Windows\\Shell\\BagMRU"
    assert (d["value_name"], d["shell_type"], d["name"]) == ("9", "Root Folder", "Dropbox")
    # regipy's node_slot 20 is the NodeSlot of the key holding the value (BagMRU itself); ours is the NodeSlot
    # of the item's own subkey BagMRU\9 (18), the one naming its Bags\18 view settings, as SBECmd reports it.
    assert d["node_slot"] == 18
    bag = _root(unpacked("registry/regipy/UsrClass.dat.xz")).get_sub_key_by_path(d["key_path"])
    assert _util.read_int(bag, "NodeSlot") == 20
    assert (d["mru_order"], d["mru_position"]) == ("4-8-7-6-9-0-1-5-3-2", 4)
    assert d["last_write"] == T("2018-04-05T02:13:26.843024Z")
    # regipy leaves the times empty; the item carries a 0xbeef0026 extension block with three FILETIMEs
    assert d["created"] == T("2018-03-28T00:06:27.7691532Z")
    assert d["modified"] == d["accessed"] == T("2018-03-28T00:06:33.2397399Z")
    desk = one(recs, path="My Computer\\C:\\Users\\jcloudy\\Desktop")
    assert (desk["shell_type"], desk["mft_entry"], desk["mft_seq"]) == ("Directory", 93001, 1)
    assert desk["created"] == T("2018-03-27T09:19:00Z") and desk["modified"] == T("2018-03-30T02:24:24Z")
    assert one(recs, path="Users Files\\Dropbox")["mft_entry"] == 139472  # delegate (CFSF) item
    assert one(recs, path="D:\\")["shell_type"] == "Volume"
    assert one(recs, path="Control Panel\\System and Security")["shell_type"] == "Control Panel Category"


def test_shellbags_usrclass_replayed(unpacked: Callable[[str], Path]) -> None:
    # After LOG1+LOG2 replay (yarp's result, the oracle for the hive layer) the BagMRU holds 9 more values:
    # the F:\ volume and its FTK Imager folders, and a Control Panel "Hardware and Sound" branch (38 in all);
    # the root MRU list gains slot 10, so Dropbox moves to MRU position 7.
    recs, ctx = run(shellbags, unpacked("registry/derived/UsrClass.recovered_by_yarp.xz"), "USRCLASS")
    assert len(recs) == 38 and ctx.warning_count == 0
    d = one(recs, path="Dropbox")
    assert (d["mru_order"], d["mru_position"]) == ("4-10-0-5-8-7-6-9-1-3-2", 7)
    assert (
        one(recs, path="F:\\CFRS 780 Lone Wolf Scenario\\FTK_Imager_4_2_0\\FTK Imager")["shell_type"]
        == "Directory"
    )


def test_xp_and_transactions_ntuser(td: Callable[[str], Path], unpacked: Callable[[str], Path]) -> None:
    xp = td("registry/plaso/NTUSER.DAT")
    recs, ctx = run(shellbags, xp, "NTUSER")  # XP keeps its ShellBags in ShellNoRoam\BagMRU
    assert ctx.warning_count == 0
    assert [r.data["path"] for r in recs] == [
        "My Computer", "My Computer\\C:\\", "My Computer\\C:\\Documents and Settings",
        "My Computer\\C:\\Documents and Settings\\Administrator",
        "My Computer\\C:\\Documents and Settings\\Administrator\\My Documents",
    ]  # fmt: skip
    d = recs[-1].data
    assert d["key_path"] == "Software\\Microsoft\\Windows\\ShellNoRoam\\BagMRU\\0\\0\\0\\0"
    assert (d["created"], d["modified"], d["accessed"]) == (
        T("2007-10-11T12:48:36Z"), T("2009-07-31T20:23:38Z"), T("2009-08-04T15:10:30Z"))  # fmt: skip
    recs, _ = run(recentdocs, xp, "NTUSER")
    d = one(recs, value_name="2", extension="")
    assert (d["target_name"], d["lnk_name"], d["mru_position"]) == (
        "Not to be seen document.txt", "Not to be seen document.lnk", 1)  # fmt: skip
    # legacy MRUList (letters): RunMRU of the replayed transactions NTUSER, most recent first, "\\1" stripped
    recs, _ = run(runmru, unpacked("registry/derived/NTUSER.recovered_by_yarp.xz"), "NTUSER")
    assert [(r.data["value_name"], r.data["mru_position"], r.data["value"]) for r in recs] == [
        ("b", 0, "c:\\Windows\\System32\\config"), ("a", 1, "...")]  # fmt: skip
    assert recs[0].data["last_write"] == T("2019-02-13T21:01:20.5750143Z")


# ---------------------------------------------------------------- scenario hives (Windows 10, SOFTWARE, BAM)


@pytest.fixture(scope="module")
def scenario(td: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from wintriage.evidence.ntfs import open_fs

    e01 = td("scenario/public-1.E01")
    out = tmp_path_factory.mktemp("scenario_hives")
    files = {
        "SYSTEM": "Windows/System32/config/SYSTEM",
        "SOFTWARE": "Windows/System32/config/SOFTWARE",
        "NTUSER": "Users/minji/NTUSER.DAT",
    }
    got = {}
    fs = open_fs(e01)
    try:
        for k, p in files.items():
            dst = out / k
            with open(dst, "wb") as fo:
                for chunk in fs.read_chunks(p):
                    fo.write(chunk)
            got[k] = dst
    finally:
        fs.close()
    return got


MINJI = "S-1-5-21-1760460187-1592185332-161725925-1001"


def test_scenario_software(scenario: dict[str, Path]) -> None:
    recs, _ = run(profilelist, scenario["SOFTWARE"], "SOFTWARE")
    assert len(recs) == 5  # validation.json: regipy reads SOFTWARE (profilelist): 5
    m = one(recs, profile_sid=MINJI)
    assert (m["profile_path"], m["user_name"]) == ("C:\\Users\\minji", "minji")
    assert profilelist.user_map(recs)[MINJI] == "minji"
    recs, _ = run(defender, scenario["SOFTWARE"], "SOFTWARE")
    das = one(recs, source="Policy", name="DisableAntiSpyware")
    assert das["value"] == "1" and das["weakens_protection"] == 1
    assert one(recs, source="Policy", name="DisableRealtimeMonitoring")["weakens_protection"] == 1
    assert len(recs) == 11 and all(r.data["weakens_protection"] == 1 for r in recs)  # dControl's work
    assert one(recs, source="Local", name="DisableAntiSpyware")["value"] == "1"
    recs, _ = run(osinfo, scenario["SOFTWARE"], "SOFTWARE")
    d = recs[0].data
    assert (d["product_name"], d["display_version"], d["current_build"]) == (
        "Windows 10 Pro",
        "22H2",
        "19045",
    )


def test_scenario_system(scenario: dict[str, Path]) -> None:
    recs, _ = run(timezone, scenario["SYSTEM"], "SYSTEM")
    assert recs[0].data["time_zone_key_name"] == "Korea Standard Time" and recs[0].data["bias"] == -540
    assert timezone.display_offset_minutes(recs[0]) == 540
    recs, _ = run(computername, scenario["SYSTEM"], "SYSTEM")
    assert recs[0].data["name"] == "DESKTOP-MJ7Q2KD"
    ctx = ParseContext("bam", "SYSTEM", resources={"sid_users": {MINJI: "minji"}})
    bam_recs = list(bam.run(_root(scenario["SYSTEM"]), HiveInfo("SYSTEM", "SYSTEM"), ctx))
    check_records(bam, bam_recs)
    assert len(bam_recs) == 12  # validation.json: regipy BAM plugin: 12
    k = one(bam_recs, program="\\Device\\HarddiskVolume2\\Users\\minji\\Downloads\\KMSPico_v11.2_Setup.exe")
    assert k["last_run"] == T("2024-12-12T04:33:27.432Z") and k["sid"] == MINJI and k["user"] == "minji"
    ctx = ParseContext("bam", "SYSTEM", resources={"registry_profile_sids": {"minji": MINJI}})
    again = list(bam.run(_root(scenario["SYSTEM"]), HiveInfo("SYSTEM", "SYSTEM"), ctx))
    assert {r.data["user"] for r in again if r.data["sid"] == MINJI} == {"minji"}


def test_scenario_ntuser(scenario: dict[str, Path]) -> None:
    recs, _ = run(userassist, scenario["NTUSER"], "NTUSER", user="minji", sid=MINJI)
    k = one(recs, value_name="C:\\Users\\minji\\Downloads\\KMSPico_v11.2_Setup.exe")
    assert k["run_count"] == 1 and k["last_run"] == T("2024-12-12T04:33:27.412Z")
    assert k["user"] == "minji" and k["sid"] == MINJI
    c = one(
        recs, value_name="{6D809377-6AF0-444B-8957-A3773F02200E}\\Google\\Chrome\\Application\\chrome.exe"
    )
    assert c["program_name"] == "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe"
    assert c["run_count"] == 181 and c["last_run"] == T("2024-12-12T04:29:47.318Z")
    recs, _ = run(runkeys, scenario["NTUSER"], "NTUSER", user="minji")
    d = one(recs, value_name="WindowsUpdateService")
    assert d["command"] == '"C:\\Users\\minji\\AppData\\Local\\Temp\\WinUpdateSvc.exe"'
    assert d["location"] == "Run"


# ---------------------------------------------------------------- shell items and helpers


def _file_entry(name: str, mft: int, seq: int, directory: bool = True) -> bytes:
    short = name.upper()[:8].encode() + b"\0"
    if len(short) % 2:
        short += b"\0"
    long_name = _u16(name) + b"\0\0"
    ext = struct.pack("<HHIHHHHH", 0, 9, 0xBEEF0004, 0x4C7C, 0x00CE, 0x4C7D, 0x00CE, 0x2E)
    ext += (
        struct.pack("<HQQ", 0, mft | (seq << 48), 0) + struct.pack("<HII", 0, 0, 0) + long_name + b"\x14\x00"
    )
    ext = struct.pack("<H", len(ext)) + ext[2:]
    body = (
        bytes([0x31 if directory else 0x32, 0]) + struct.pack("<IHHH", 0, 0x4C7C, 0x00CE, 0x10) + short + ext
    )
    return struct.pack("<H", len(body) + 2) + body


def _pidl(*items: bytes) -> bytes:
    return b"".join(items) + b"\0\0"


MYCOMP = struct.pack("<HBB", 20, 0x1F, 0x50) + bytes.fromhex("e04fd020ea3a6910a2d808002b30309d")
VOL_C = struct.pack("<HB", 25, 0x2F) + b"C:\\".ljust(22, b"\0")


def test_shell_items() -> None:
    path, items = _util.idlist_path(
        _pidl(MYCOMP, VOL_C, _file_entry("Users", 1417, 1), _file_entry("Secret Stuff", 93001, 2))
    )
    assert path == "My Computer\\C:\\Users\\Secret Stuff"
    last = items[-1]
    assert (last.kind, last.mft_entry, last.mft_seq, last.long_name) == (
        "Directory",
        93001,
        2,
        "Secret Stuff",
    )
    assert last.modified == T("2018-03-28T00:06:28Z") and last.accessed == T("2018-03-29T00:06:28Z")
    assert (
        _util.resolve_known_folder("{F38BF404-1D43-42F2-9305-67DE0B28FC23}\\explorer.exe")
        == "C:\\Windows\\explorer.exe"
    )
    assert _util.rot13("HRZR_PGYFRFFVBA") == "UEME_CTLSESSION"
    assert _util.mru_listex(struct.pack("<4I", 2, 0, 1, 0xFFFFFFFF)) == [2, 0, 1]
    assert _util.systemtime_at(struct.pack("<8H", 2024, 12, 4, 12, 13, 33, 27, 412)) == T(
        "2024-12-12T13:33:27.412Z"
    )
    uri = bytes([0x61, 0x80, 0, 0]) + b"\0" * 10 + _u16("https://example.com/a b") + b"\0\0"
    item = _util.decode_shell_item(struct.pack("<H", len(uri) + 2) + uri)
    assert (item.kind, item.name) == ("URI", "https://example.com/a b")
    # corrupt lists: a clear ValueError, never IndexError/struct.error
    with pytest.raises(ValueError):
        _util.idlist_path(b"\x50\x00\x1f")
    for cut in range(0, len(MYCOMP) + 10):
        try:
            _util.idlist_path(_pidl(MYCOMP, _file_entry("Users", 5, 1))[:cut])
        except ValueError:
            pass


# ---------------------------------------------------------------- fake keys: formats without samples, bad data


class FV:
    def __init__(self, name: str | None, vtype: int, data: bytes) -> None:
        self.name, self.type, self.data, self.offset = name, vtype, data, 4096
        self.data_size = len(data)


class FK:
    """A pyregf.key look-alike (the subset the plugins use)."""

    def __init__(
        self, name: str, values: list[FV] | None = None, subs: list[FK] | None = None, lw: int = FT1
    ) -> None:
        self.name, self._values, self._subs, self._lw, self.offset = name, values or [], subs or [], lw, 8192

    @property
    def number_of_sub_keys(self) -> int:
        return len(self._subs)

    @property
    def number_of_values(self) -> int:
        return len(self._values)

    def get_sub_key(self, i: int) -> FK:
        return self._subs[i]

    def get_value(self, i: int) -> FV:
        return self._values[i]

    def get_last_written_time_as_integer(self) -> int:
        return self._lw

    def get_sub_key_by_name(self, name: str) -> FK | None:
        return next((s for s in self._subs if s.name.lower() == name.lower()), None)

    def get_sub_key_by_path(self, path: str) -> FK | None:
        k: FK | None = self
        for part in path.split("\\"):
            k = k.get_sub_key_by_name(part) if k is not None else None
        return k

    def get_value_by_name(self, name: str) -> FV | None:
        want = name.lower()
        return next((v for v in self._values if (v.name or "").lower() == want), None)


def tree(path: str, leaf: FK) -> FK:
    parts = path.split("\\")
    k = leaf
    for p in reversed(parts[:-1]):
        k = FK(p, subs=[k])
    return FK("ROOT", subs=[k])


def frun(mod: ModuleType, root: FK, hive_type: str) -> tuple[list[Record], ParseContext]:
    ctx = ParseContext(mod.NAME, "fake")
    recs = list(mod.run(root, HiveInfo("fake", hive_type, user="u"), ctx))
    check_records(mod, recs)
    return recs, ctx


def test_opensave_and_lastvisited_fake() -> None:
    pidl = _pidl(MYCOMP, VOL_C, _file_entry("report.docx", 777, 3, directory=False))
    osm = FK(
        "docx",
        [FV("0", 3, pidl), FV("1", 3, b"\x05\x00"), FV("MRUListEx", 3, struct.pack("<3I", 1, 0, 0xFFFFFFFF))],
    )
    lv = FK("LastVisitedPidlMRU", [FV("0", 3, _u16("WINWORD.EXE") + b"\0\0" + _pidl(MYCOMP, VOL_C)),
                                   FV("MRUListEx", 3, struct.pack("<2I", 0, 0xFFFFFFFF))])  # fmt: skip
    base = "Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\ComDlg32"
    com = FK("ComDlg32", subs=[FK("OpenSavePidlMRU", subs=[osm]), lv])
    root = tree(base, com)
    recs, ctx = frun(opensavemru, root, "NTUSER")
    good = one(recs, value_name="0", mru_type="OpenSavePidlMRU")
    assert good["path"] == "My Computer\\C:\\report.docx" and (good["mft_entry"], good["mft_seq"]) == (777, 3)
    assert good["mru_position"] == 1 and good["opened"] is None
    bad = one(recs, value_name="1", mru_type="OpenSavePidlMRU")
    assert bad["mru_position"] == 0 and bad["path"] == ""
    assert ctx.warning_count == 1 and ctx.warnings[0].offset == 8192
    last = one(recs, mru_type="LastVisitedPidlMRU")
    assert (last["program"], last["path"], last["opened"]) == ("WINWORD.EXE", "My Computer\\C:\\", FT1)


def test_legacy_opensave_fake() -> None:
    """XP: OpenSaveMRU\\<ext> strings and LastVisitedMRU "program\\0folder" (MRUList letters)."""
    osm = FK(
        "txt",
        [
            FV("a", 1, _u16("C:\\notes.txt\0")),
            FV("b", 1, _u16("D:\\x.txt\0")),
            FV("MRUList", 1, _u16("ba\0")),
        ],
    )
    lv = FK("LastVisitedMRU", [FV("a", 3, _u16("notepad.exe\0C:\\Docs\0")), FV("MRUList", 1, _u16("a\0"))])
    com = FK("ComDlg32", subs=[FK("OpenSaveMRU", subs=[osm]), lv])
    recs, ctx = frun(
        opensavemru, tree("Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\ComDlg32", com), "NTUSER"
    )
    assert ctx.warning_count == 0
    assert [(r.data["value_name"], r.data["mru_position"], r.data["path"]) for r in recs if r.data["mru_type"] == "OpenSaveMRU"] == [
        ("b", 0, "D:\\x.txt"), ("a", 1, "C:\\notes.txt")]  # fmt: skip
    d = one(recs, mru_type="LastVisitedMRU")
    assert (d["program"], d["path"], d["opened"]) == ("notepad.exe", "C:\\Docs", FT1)


def test_defender_exclusions_and_typedurlstime_fake() -> None:
    wd = FK("Windows Defender", [FV("DisableAntiSpyware", 4, b"\0\0\0\0")], subs=[
        FK("Features", [FV("TamperProtection", 4, struct.pack("<I", 4))]),
        FK("Exclusions", subs=[FK("Paths", [FV("C:\\Users\\Public\\x", 4, b"\0\0\0\0")]),
                               FK("Extensions", [FV(".kraken", 4, b"\0\0\0\0")])])])  # fmt: skip
    recs, ctx = frun(defender, tree("Microsoft\\Windows Defender", wd), "SOFTWARE")
    assert ctx.warning_count == 0
    assert one(recs, name="DisableAntiSpyware")["weakens_protection"] == 0
    assert one(recs, name="TamperProtection")["weakens_protection"] == 1  # 4 = off
    exc = [(r.data["name"], r.data["value"]) for r in recs if r.data["kind"] == "exclusion"]
    assert exc == [("Paths", "C:\\Users\\Public\\x"), ("Extensions", ".kraken")]
    ie = FK("Internet Explorer", subs=[FK("TypedURLs", [FV("url1", 1, _u16("http://a.example/\0"))]),
                                       FK("TypedURLsTime", [FV("url1", 3, struct.pack("<Q", FT1))])])  # fmt: skip
    recs, _ = frun(typedurls, tree("Software\\Microsoft\\Internet Explorer", ie), "NTUSER")
    assert (recs[0].data["value"], recs[0].data["typed_time"]) == ("http://a.example/", FT1)


def test_bam_fake_and_bad_values() -> None:
    sid = "S-1-5-21-1-2-3-1001"
    u_key = FK(sid, [FV("\\Device\\HarddiskVolume2\\x.exe", 3, struct.pack("<Q", FT1) + b"\0" * 16),
                     FV("SequenceNumber", 4, b"\x01\0\0\0"), FV("Version", 4, b"\x01\0\0\0"),
                     FV("\\Device\\HarddiskVolume2\\short.exe", 3, b"\x01\x02")])  # fmt: skip
    root = tree("ControlSet001\\Services\\bam\\State\\UserSettings\\x", u_key)
    root._subs.append(FK("Select", [FV("Current", 4, b"\x01\0\0\0")]))
    recs, ctx = frun(bam, root, "SYSTEM")
    assert len(recs) == 1 and recs[0].data["last_run"] == FT1 and recs[0].data["sid"] == sid
    assert ctx.warning_count == 1 and "need 8" in ctx.warnings[0].reason and ctx.warnings[0].offset == 8192


def test_networkprofiles_fake() -> None:
    from wintriage.artifacts.registry.plugins import networkprofiles

    st = struct.pack("<8H", 2024, 12, 4, 12, 9, 30, 0, 0)
    prof = FK("{AAAA}", [FV("ProfileName", 1, _u16("CafeWiFi\0")), FV("Category", 4, b"\0\0\0\0"),
                         FV("NameType", 4, struct.pack("<I", 71)), FV("DateCreated", 3, st),
                         FV("DateLastConnected", 3, b"\x01")])  # fmt: skip
    sig = FK("0101", [FV("ProfileGuid", 1, _u16("{aaaa}\0")), FV("DefaultGatewayMac", 3, bytes(range(1, 7)))])
    nl = FK(
        "NetworkList",
        subs=[FK("Profiles", subs=[prof]), FK("Signatures", subs=[FK("Unmanaged", subs=[sig])])],
    )
    recs, ctx = frun(
        networkprofiles, tree("Microsoft\\Windows NT\\CurrentVersion\\NetworkList", nl), "SOFTWARE"
    )
    d = recs[0].data
    assert (d["profile_name"], d["category"], d["name_type"], d["managed"]) == (
        "CafeWiFi",
        "Public",
        "Wireless",
        0,
    )
    assert d["first_connected"] == T("2024-12-12T09:30:00Z") and d["last_connected"] is None
    assert d["gateway_mac"] == "01:02:03:04:05:06"


WRONG = [FV("F", 1, _u16("not binary")), FV("V", 4, b"\x01\0\0\0"), FV("Version", 3, b""), FV("Count", 11, b"\xff" * 3),
         FV("AppCompatCache", 3, b"\xee\x0f\xdc\xba\x05\0\0\0" + b"\xff" * 40), FV("Start", 1, _u16("two")),
         FV("Bias", 3, b"\x01"), FV("TimeZoneKeyName", 3, b"\xff\xfe\xfd"), FV("MRUListEx", 3, b"\x01\x00"),
         FV("0", 3, b"\x14\x00\x1f"), FV("1", 4, b"\x02\0\0\0"), FV(None, 0, b""), FV("NodeSlot", 1, _u16("x"))]  # fmt: skip


def _wrong_tree() -> FK:
    """Every key any plugin reads, all filled with wrongly typed / short / garbage values."""
    paths = [
        "Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\UserAssist\\{GUID}\\Count",
        "Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\RecentDocs\\.txt",
        "Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\RunMRU",
        "Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\WordWheelQuery",
        "Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\ComDlg32\\OpenSavePidlMRU\\*",
        "Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\ComDlg32\\LastVisitedPidlMRU",
        "Software\\Microsoft\\Windows\\Shell\\BagMRU\\0\\0",
        "Software\\Microsoft\\Windows\\CurrentVersion\\Run",
        "Software\\Microsoft\\Internet Explorer\\TypedURLs",
        "ControlSet001\\Control\\Session Manager\\AppCompatCache",
        "ControlSet001\\Control\\TimeZoneInformation",
        "ControlSet001\\Control\\ComputerName\\ComputerName",
        "ControlSet001\\Services\\bam\\State\\UserSettings\\S-1-5-18",
        "ControlSet001\\Services\\svc\\Parameters",
        "ControlSet001\\Enum\\USBSTOR\\Disk&Ven_X\\123&0\\Properties\\{83da6326-97a6-4088-9453-a1923f573b29}\\0064",
        "MountedDevices",
        "SAM\\Domains\\Account\\Users\\000001F4",
        "SAM\\Domains\\Account\\Users\\Names\\bob",
        "Root\\File\\{vol}\\zz",
        "Root\\InventoryApplicationFile\\a|b",
        "Microsoft\\Windows NT\\CurrentVersion\\ProfileList\\S-1-5-21-1",
        "Policies\\Microsoft\\Windows Defender\\Real-Time Protection",
        "Microsoft\\Windows Defender\\Exclusions\\Paths",
        "Microsoft\\Windows NT\\CurrentVersion\\NetworkList\\Profiles\\{X}",
    ]
    root = FK("ROOT", WRONG)
    for p in paths:
        k = root
        for part in p.split("\\"):
            nxt = k.get_sub_key_by_name(part)
            if nxt is None:
                nxt = FK(part, list(WRONG))
                k._subs.append(nxt)
            k = nxt
    return root


@pytest.mark.parametrize("mod", PLUGINS, ids=lambda m: m.NAME)
def test_wrong_types_no_crash(mod: ModuleType) -> None:
    ctx = ParseContext(mod.NAME, "fake")
    for ht in sorted(mod.HIVE_TYPES):
        recs = list(mod.run(_wrong_tree(), HiveInfo("fake", ht), ctx))
        check_records(mod, recs)
    for w in ctx.warnings:
        assert w.reason


def test_wrong_types_warn() -> None:
    """The plugins that decode binaries say what was wrong, with the key offset."""
    for mod in (userassist, samusers, shimcache, opensavemru, shellbags):
        ctx = ParseContext(mod.NAME, "fake")
        list(mod.run(_wrong_tree(), HiveInfo("fake", sorted(mod.HIVE_TYPES)[0]), ctx))
        assert ctx.warning_count >= 1, mod.NAME
        assert any(w.offset == 8192 or w.offset is None for w in ctx.warnings)
    ctx = ParseContext("shimcache", "fake")
    list(shimcache.run(_wrong_tree(), HiveInfo("fake", "SYSTEM"), ctx))
    assert "AppCompatCache" in ctx.warnings[0].reason


# ---------------------------------------------------------------- corruption sweep over real hives


def _mutations(raw: bytes) -> Iterator[tuple[str, bytes]]:
    n = len(raw)
    for frac in (0.3, 0.6, 0.9):
        yield f"truncate@{int(n * frac)}", raw[: int(n * frac)]
    for off in range(4096 + 32, n, max(4096, n // 6)):
        b = bytearray(raw)
        for i in range(off, min(off + 64, n)):
            b[i] ^= 0xA5
        yield f"flip@{off}", bytes(b)


@pytest.mark.parametrize(
    "rel,hive_type",
    [
        ("registry/regipy/SAM.xz", "SAM"),
        ("registry/regipy/UsrClass.dat.xz", "USRCLASS"),
        ("registry/regipy/NTUSER.DAT.xz", "NTUSER"),
        ("registry/regipy/amcache.hve.xz", "AMCACHE"),
    ],  # fmt: skip
)
def test_corruption_sweep(unpacked: Callable[[str], Path], tmp_path: Path, rel: str, hive_type: str) -> None:
    raw = unpacked(rel).read_bytes()
    opened = 0
    for label, data in _mutations(raw):
        p = tmp_path / "h"
        p.write_bytes(data)
        f = pyregf.file()
        try:
            f.open(str(p))
            root = f.root_key
        except OSError:
            continue  # libregf refuses it outright: the hive layer reports that, plugins never see it
        opened += 1
        for mod in PLUGINS:
            if hive_type not in mod.HIVE_TYPES:
                continue
            ctx = ParseContext(mod.NAME, label)
            recs = list(mod.run(root, HiveInfo(label, hive_type), ctx))
            check_records(mod, recs[:100])
        f.close()
    assert opened >= 3


def test_through_registry_artefact(unpacked: Callable[[str], Path]) -> None:
    """The registry artefact runs the plugins for the detected hive type and dispatches their timeline."""
    from wintriage.artifacts import registry

    assert not registry.PLUGIN_LOAD_ERRORS
    assert set(PLUGINS) <= set(registry.PLUGINS)
    sam = unpacked("registry/regipy/SAM.xz")
    ctx = ParseContext("registry", "SAM")
    recs = [r for r in registry.parse(sam, ctx) if r.table == samusers.TABLE]
    assert sorted(r.data["rid"] for r in recs) == [500, 501, 1000]
    events = [e for r in recs for e in registry.timeline(r)]
    assert any(e.ts_desc.startswith("Last Login") and "Administrator" in e.summary for e in events)


def test_shell_item_fuzz() -> None:
    """Random and mutated shell items: decoded or a ValueError, nothing else."""
    import random

    rnd = random.Random(1234)
    fe = _file_entry("Dropbox", 139472, 3)
    body = bytes([0x74, 0]) + struct.pack("<H", 0x1C) + b"CFSF" + fe + b"\x11" * 32
    delegate = struct.pack("<H", len(body) + 2) + body
    item = _util.decode_shell_item(delegate)
    assert (item.kind, item.name, item.mft_entry, item.mft_seq) == ("Directory", "Dropbox", 139472, 3)
    seeds = [MYCOMP, VOL_C, fe, _file_entry("x.txt", 5, 2, directory=False), delegate]
    for i in range(3000):
        if i % 2:
            b = bytearray(rnd.choice(seeds))
            for _ in range(rnd.randint(1, 6)):
                b[rnd.randrange(len(b))] = rnd.randrange(256)
            data = bytes(b[: rnd.randint(0, len(b))])
        else:
            n = rnd.randint(0, 80)
            data = struct.pack("<H", n) + bytes(
                [rnd.choice([0x1F, 0x2F, 0x31, 0x32, 0x41, 0x61, 0x71, 0x74, 0x00, 0x01])]
            )
            data += bytes(rnd.randrange(256) for _ in range(max(0, n - 3)))
        try:
            _util.idlist_path(data + b"\0\0")
        except ValueError:
            pass
