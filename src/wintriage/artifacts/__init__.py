"""Artefact parsers, one module per artefact. ``load(name)`` imports one by its CLI token."""

from __future__ import annotations

import importlib
from types import ModuleType

# CLI token -> module path (relative to this package)
MODULES: dict[str, str] = {
    "mft": ".mft",
    "usnjrnl": ".usnjrnl",
    "logfile": ".logfile",
    "registry": ".registry",
    "evtx": ".evtx",
    "prefetch": ".prefetch",
    "lnk": ".lnk",
    "jumplist": ".jumplist",
    "recyclebin": ".recyclebin",
    "browser": ".browser",
}


def load(name: str) -> ModuleType:
    try:
        return importlib.import_module(MODULES[name], __name__)
    except KeyError:
        raise KeyError(f"unknown artefact {name!r}; known: {', '.join(sorted(MODULES))}") from None
