"""YAML read with a safe loader: libyaml's (C, several times faster) when PyYAML was built with it, else PyYAML's
pure-Python one; both give the same documents. Errors are ``yaml.YAMLError``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str) -> Any:
    return yaml.load(text, Loader=LOADER)  # noqa: S506 - a safe loader


def load_all(text: str) -> Iterator[Any]:
    return yaml.load_all(text, Loader=LOADER)  # noqa: S506 - a safe loader
