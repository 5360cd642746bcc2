"""The software version a station and the hub report: the installed ``scanhub`` package's.

A station puts it in its status (``software_version``, docs/protocol.md) so the hub admin sees
which stations run which release (``scanhub hub stations``); ``scanhub hub run`` logs its own.
"""
from __future__ import annotations

from importlib import metadata


def software_version() -> str:
    """``0.1.0`` for an installed scanhub (a source checkout run without installing: ``unknown``)."""
    try:
        return metadata.version("scanhub")
    except metadata.PackageNotFoundError:
        return "unknown"


SOFTWARE_VERSION = software_version()
