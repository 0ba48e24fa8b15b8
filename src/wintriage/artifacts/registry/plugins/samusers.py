"""Local user accounts (SAM ``SAM\\Domains\\Account\\Users``): names, RIDs, logon statistics, flags.

The ``F`` value (80 bytes): last logon (0x08), password last set (0x18), account expires (0x20),
last failed logon (0x28), RID (0x30), account control flags (0x38), failed logon count (0x40),
logon count (0x42). The ``V`` value: a table of (offset, length, unknown) triples (offsets relative to
0xCC) pointing at the user name (entry 1), full name (2), comment (3) and home directory (6).
``Users\\Names\\<name>`` keys give name -> RID through their default value's type (and their
last-write time is the account creation time).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import Any

from ....model import Record, TimelineEvent
from ....timeutil import fmt
from ...base import CsvShape, ParseContext, col, group_times, tcol
from . import _util as u

NAME = "samusers"
HIVE_TYPES = {"SAM"}
TABLE = "reg_samusers"
TABLES = {
    TABLE: u.table(
        ("rid", "INTEGER"),
        ("user_name", "TEXT"),
        ("full_name", "TEXT"),
        ("comment", "TEXT"),
        ("home_dir", "TEXT"),
        ("account_flags", "INTEGER"),
        ("account_flags_text", "TEXT"),
        ("last_login", "INTEGER"),
        ("password_last_set", "INTEGER"),
        ("account_expires", "INTEGER"),
        ("last_failed_login", "INTEGER"),
        ("login_count", "INTEGER"),
        ("failed_login_count", "INTEGER"),
        ("created", "INTEGER"),  # last write of Users\Names\<name>
    )
}
CSV = {
    TABLE: CsvShape(
        "RECmd_SAM.csv",
        [
            col("UserId", "rid"),
            col("UserName", "user_name"),
            col("FullName", "full_name"),
            col("Comment", "comment"),
            col("AccountFlags", "account_flags_text"),
            tcol("CreatedOn", "created"),
            tcol("LastLoginTime", "last_login"),
            tcol("LastPasswordChange", "password_last_set"),
            tcol("LastIncorrectPassword", "last_failed_login"),
            tcol("ExpiresOn", "account_expires"),
            col("TotalLoginCount", "login_count"),
            col("InvalidLoginCount", "failed_login_count"),
        ],
    )
}
KEY = "SAM\\Domains\\Account\\Users"
ACB = [
    (0x0001, "Account Disabled"), (0x0002, "Home Directory Required"), (0x0004, "Password Not Required"),
    (0x0008, "Temporary Duplicate Account"), (0x0010, "Normal User Account"), (0x0020, "MNS Logon Account"),
    (0x0040, "Interdomain Trust Account"), (0x0080, "Workstation Trust Account"),
    (0x0100, "Server Trust Account"), (0x0200, "Password Does Not Expire"), (0x0400, "Account Auto Locked"),
    (0x0800, "Encrypted Text Password Allowed"), (0x1000, "Smartcard Required"),
    (0x2000, "Trusted For Delegation"), (0x4000, "Not Delegated"), (0x8000, "Use DES Key Only"),
    (0x10000, "Dont Require Preauth"), (0x20000, "Password Expired"),
]  # fmt: skip


def flags_text(flags: int) -> str:
    return ", ".join(n for bit, n in ACB if flags & bit)


def _never(t: int | None) -> int | None:
    return None if t is None or t >= 0x7FFFFFFFFFFFFFFF else t


def parse_f(data: bytes) -> dict[str, Any]:
    if len(data) < 0x44:
        raise ValueError(f"F value needs 68 bytes, {len(data)} available")
    return {
        "last_login": u.filetime_at(data, 0x08),
        "password_last_set": u.filetime_at(data, 0x18),
        "account_expires": _never(u.filetime_at(data, 0x20)),
        "last_failed_login": u.filetime_at(data, 0x28),
        "rid": struct.unpack_from("<I", data, 0x30)[0],
        "account_flags": struct.unpack_from("<H", data, 0x38)[0],
        "failed_login_count": struct.unpack_from("<H", data, 0x40)[0],
        "login_count": struct.unpack_from("<H", data, 0x42)[0],
    }


def parse_v(data: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for idx, field in ((1, "user_name"), (2, "full_name"), (3, "comment"), (6, "home_dir")):
        if len(data) < idx * 12 + 8:
            break
        off, ln = struct.unpack_from("<II", data, idx * 12)
        start = off + 0xCC
        if ln == 0:
            out[field] = ""
        elif ln < 0x10000 and start + ln <= len(data):
            out[field] = data[start : start + ln].decode("utf-16-le", "replace")
        else:
            raise ValueError(f"V entry {idx}: {ln} bytes at {start} outside the {len(data)}-byte value")
    return out


def run(root: Any, hive: u.HiveLike, ctx: ParseContext) -> Iterator[Record]:
    users = u.subkey(root, KEY)
    if users is None:
        return
    created: dict[int, tuple[str, int | None]] = {}
    for nk in u.subkeys(u.subkey(users, "Names"), ctx):
        dv = u.value(nk, "")
        if dv is not None:
            created[u.vtype(dv)] = (u.key_name(nk), u.key_time(nk))
    for uk in u.subkeys(users, ctx):
        name = u.key_name(uk)
        if name.lower() == "names":
            continue
        kp = f"{KEY}\\{name}"
        rec = u.common(hive, kp, uk)
        f = u.read_bytes(uk, "F")
        try:
            if f is None:
                raise ValueError("no F value")
            rec.update(parse_f(f))
        except (ValueError, struct.error) as e:
            ctx.warn(u.key_offset(uk), f"{kp}: F value: {e}", skipped=False)
        try:  # the key name is the RID (authoritative; F repeats it)
            rec["rid"] = int(name, 16)
        except ValueError:
            rec.setdefault("rid", None)
        v = u.read_bytes(uk, "V")
        try:
            if v:
                rec.update(parse_v(v))
        except (ValueError, struct.error) as e:
            ctx.warn(u.key_offset(uk), f"{kp}: V value: {e}", skipped=False)
        if rec.get("account_flags") is not None:
            rec["account_flags_text"] = flags_text(rec["account_flags"])
        nm = created.get(rec.get("rid") or -1)
        if nm:
            if not rec.get("user_name"):
                rec["user_name"] = nm[0]
            rec["created"] = nm[1]
        yield Record(TABLE, rec)


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    name = d.get("user_name") or str(d.get("rid"))
    for ts, desc in group_times([
        ("Account Created", d.get("created")), ("Last Login", d.get("last_login")),
        ("Password Last Set", d.get("password_last_set")), ("Last Failed Login", d.get("last_failed_login")),
    ]):  # fmt: skip
        yield TimelineEvent(
            ts, desc, d.get("key_path") or "", f"Local account {name} (RID {d.get('rid')}): {desc}", name
        )


def batch_row(rec: Record) -> tuple[str, str, str, str]:
    d = rec.data
    return (str(d.get("rid")), d.get("user_name") or "",
            f"Last login: {fmt(d.get('last_login'))} | Logins: {d.get('login_count')} | Password set: {fmt(d.get('password_last_set'))}",
            d.get("account_flags_text") or "")  # fmt: skip
