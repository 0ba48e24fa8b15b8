"""wintriage: Windows incident-response triage from a disk image to answers."""

__version__ = "0.1.0"
