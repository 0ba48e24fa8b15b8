"""Registry artefact plugins: one module per artefact.

Each module defines ``NAME``, ``HIVE_TYPES`` (the hive types it reads), ``TABLES`` (``reg_*`` tables),
``run(root_key, hive_info, ctx) -> Iterator[Record]``, ``timeline(rec)`` and ``CSV``.
The registry artefact (``registry/__init__.py``) runs every plugin whose ``HIVE_TYPES`` contain the
hive's detected type. Shared decoding lives in ``_util``.
"""

from __future__ import annotations

from types import ModuleType

from . import (
    amcache,
    bam,
    computername,
    defender,
    mounteddevices,
    netinterfaces,
    networkprofiles,
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
    typedpaths,
    typedurls,
    usb,
    userassist,
    wordwheelquery,
)

PLUGINS: list[ModuleType] = [
    # system (SYSTEM / SOFTWARE / SAM / AMCACHE)
    computername, timezone, profilelist, osinfo, samusers, services, runkeys, shimcache, amcache, bam,
    usb, mounteddevices, netinterfaces, networkprofiles, defender,
    # user activity (NTUSER / USRCLASS)
    userassist, recentdocs, runmru, typedpaths, typedurls, wordwheelquery, opensavemru, shellbags,
]  # fmt: skip

BY_NAME: dict[str, ModuleType] = {m.NAME: m for m in PLUGINS}


def for_hive(hive_type: str) -> list[ModuleType]:
    """The plugins that read a hive of this type (``SYSTEM``, ``NTUSER``...)."""
    t = hive_type.upper()
    return [m for m in PLUGINS if t in m.HIVE_TYPES]


def all_tables() -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for m in PLUGINS:
        out.update(m.TABLES)
    return out
