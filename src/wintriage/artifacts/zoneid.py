"""Zone.Identifier (Mark of the Web) text: ``[ZoneTransfer]`` with ``ZoneId``, ``ReferrerUrl``, ``HostUrl``...

Not an artefact module of its own: the $MFT parser reads resident ``:Zone.Identifier`` streams and other
parsers (or ``extract``) can hand the bytes of a stream to :func:`parse_zone_identifier`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ZONE_NAMES = {0: "Local", 1: "Intranet", 2: "Trusted", 3: "Internet", 4: "Restricted"}

# lower-case key -> attribute name
_KEYS = {
    "zoneid": "zone_id",
    "referrerurl": "referrer_url",
    "hosturl": "host_url",
    "lastwriterpackagefamilyname": "last_writer_package_family_name",
    "appzoneid": "app_zone_id",
    "hostipaddress": "host_ip_address",
}


@dataclass
class ZoneIdentifier:
    zone_id: int | None = None
    referrer_url: str = ""
    host_url: str = ""
    last_writer_package_family_name: str = ""
    app_zone_id: str = ""
    host_ip_address: str = ""
    other: dict[str, str] = field(default_factory=dict)  # any other key=value line, keys as written
    raw: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def zone_name(self) -> str:
        return ZONE_NAMES.get(self.zone_id, "") if self.zone_id is not None else ""


def decode_text(data: bytes) -> str:
    """Zone.Identifier bytes -> text (UTF-16 with BOM, UTF-8 with/without BOM, else cp1252)."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", "replace")
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def parse_zone_identifier(data: bytes | str) -> ZoneIdentifier:
    """Parse the INI-like text. Never raises: odd lines go to ``problems``."""
    text = decode_text(data) if isinstance(data, bytes) else data
    z = ZoneIdentifier(raw=text)
    section = ""
    for line in text.replace("\x00", "").splitlines():
        s = line.strip()
        if not s or s.startswith(";"):
            continue
        if s.startswith("[") and s.endswith("]"):
            section = s[1:-1].strip()
            continue
        key, sep, value = s.partition("=")
        if not sep:
            z.problems.append(f"line without '=': {s[:80]!r}")
            continue
        key, value = key.strip(), value.strip()
        attr = _KEYS.get(key.lower())
        if attr == "zone_id":
            try:
                z.zone_id = int(value)
            except ValueError:
                z.problems.append(f"ZoneId is not a number: {value[:40]!r}")
        elif attr:
            setattr(z, attr, value)
        else:
            z.other[key if not section or section == "ZoneTransfer" else f"{section}.{key}"] = value
    return z
