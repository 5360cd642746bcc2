"""Time as the contract counts it: UTC epoch milliseconds.

``CLOCK_SANE_MS`` is the one clock-sanity threshold: a station whose wall clock reads earlier
than this never had it set (a Raspberry Pi without a real-time clock boots in 1970), so its
scans are stamped from the hub-measured offset instead (``clock: corrected``), and the hub
refuses an ``event_ms`` earlier than this (docs/protocol.md).
"""
from __future__ import annotations

import datetime as dt
import time

CLOCK_SANE_MS = 1_704_067_200_000      # 2024-01-01T00:00:00Z


def now_ms() -> int:
    """The wall clock, UTC epoch milliseconds."""
    return int(time.time() * 1000)


def iso(ms: int) -> str:
    """``2026-11-25T08:00:00Z`` for a UTC epoch millisecond time."""
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
