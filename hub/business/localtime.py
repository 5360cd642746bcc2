"""Local network time: parsing and formatting times for people (reports, the CLI).

Shift departures and report windows are local times of the network (China standard time by
default, ``Meta['tz_offset_min']``); the store keeps UTC epoch milliseconds.
"""
from __future__ import annotations

import datetime as dt

from hub.errors import HubError

DEFAULT_TZ_OFFSET_MIN = 480


class TimeFormatError(HubError, ValueError):
    """A time a user typed that cannot be read."""


def parse_time(text: str, tz_offset_min: int = DEFAULT_TZ_OFFSET_MIN) -> int:
    """``YYYY-MM-DD``, ``YYYY-MM-DDTHH:MM[:SS]`` (local network time) or epoch ms -> UTC ms."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    tz = dt.timezone(dt.timedelta(minutes=tz_offset_min))
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
        try:
            return int(dt.datetime.strptime(text, fmt).replace(tzinfo=tz).timestamp() * 1000)
        except ValueError:
            continue
    raise TimeFormatError(f"bad time {text!r}: use YYYY-MM-DD, YYYY-MM-DDTHH:MM or epoch milliseconds")


def format_ms(ms: int | None, tz_offset_min: int = DEFAULT_TZ_OFFSET_MIN) -> str:
    """Local network time ``YYYY-MM-DD HH:MM:SS`` of ``ms`` ("" for None)."""
    if ms is None:
        return ""
    tz = dt.timezone(dt.timedelta(minutes=tz_offset_min))
    return dt.datetime.fromtimestamp(ms / 1000, tz).strftime("%Y-%m-%d %H:%M:%S")
