"""Hive access: open a registry hive (after transaction-log replay) with libregf, detect its type
from content, and describe it to the plugins.

``HiveInfo`` is the contract between the registry artefact and its plugins (``registry/plugins``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class HiveInfo:
    """What a plugin knows about the hive it runs on.

    ``path``                 source label (path in the image or the local file)
    ``hive_type``            SYSTEM, SOFTWARE, SAM, SECURITY, NTUSER, USRCLASS, AMCACHE, DEFAULT, BCD or ""
    ``user``                 profile name for NTUSER/USRCLASS (REGA ``<user>.NTUSER.DAT`` or ``Users/<user>/``)
    ``sid``                  the user's SID when known, else ""
    ``control_sets``         SYSTEM: ``ControlSet00N`` names, the current one first
    ``current_control_set``  SYSTEM: the current ``ControlSet00N`` name, else ""
    """

    path: str
    hive_type: str
    user: str = ""
    sid: str = ""
    control_sets: list[str] = field(default_factory=list)
    current_control_set: str = ""
