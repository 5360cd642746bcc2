"""Time as the contract counts it: UTC epoch milliseconds.

``CLOCK_SANE_MS`` is the one clock-sanity threshold: a station whose wall clock reads earlier
than this never had it set (a Raspberry Pi without a real-time clock boots in 1970), so its
scans are stamped from the hub-measured offset instead (``clock: corrected``), and the hub
refuses an ``event_ms`` earlier than this (docs/protocol.md).
"""
from __future__ import annotations

import datetime as dt
import re
import time

from contract.errors import ContractError

CLOCK_SANE_MS = 1_704_067_200_000      # 2024-01-01T00:00:00Z
MAX_MS = 253_402_300_799_999           # 9999-12-31T23:59:59.999Z: the last time ``iso`` can write


def is_ms(v) -> bool:
    """An ``int`` that is a writable UTC epoch millisecond time (0 … ``MAX_MS``), not a bool."""
    return type(v) is int and 0 <= v <= MAX_MS


def now_ms() -> int:
    """The wall clock, UTC epoch milliseconds."""
    return int(time.time() * 1000)


def iso(ms: int) -> str:
    """``2026-11-25T08:00:00Z`` for a UTC epoch millisecond time."""
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*(?:([+-])([0-9]{1,2})(?::?([0-9]{2}))?)?$", re.IGNORECASE)


class ZoneError(ContractError):
    """A time zone that is not a UTC offset."""


def parse_utc_offset(text) -> int:
    """``+08:00``, ``UTC+8``, ``+0530``, ``-03:00``, ``UTC`` -> minutes east of UTC (``ZoneError``
    for anything else, and for offsets beyond ±14:00)."""
    t = str(text).strip()
    m = _OFFSET.match(t)
    if not t or not m:
        raise ZoneError(f"bad time zone {text!r}: use a UTC offset like +08:00 (or UTC)")
    if m.group(1) is None:
        return 0
    hours, minutes = int(m.group(2)), int(m.group(3) or 0)
    if minutes >= 60 or hours * 60 + minutes > 14 * 60:
        raise ZoneError(f"bad time zone {text!r}: offsets run from -14:00 to +14:00")
    total = hours * 60 + minutes
    return -total if m.group(1) == "-" else total


def zone_label(tz_offset_min: int) -> str:
    """``UTC`` or ``UTC+08:00``: how a zone is named next to a printed time."""
    if tz_offset_min == 0:
        return "UTC"
    sign = "+" if tz_offset_min > 0 else "-"
    return f"UTC{sign}{abs(tz_offset_min) // 60:02d}:{abs(tz_offset_min) % 60:02d}"
