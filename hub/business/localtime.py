"""Local network time: parsing and formatting times for people (reports, the CLI).

Shift departures and report windows are local times of the network; the network's zone is a
fixed UTC offset given by ``timezone:`` in the network file (``+08:00``, China standard time,
when the file names none) and kept in ``Meta['tz_offset_min']``.  The store keeps UTC epoch
milliseconds.  Every time printed for people carries its zone: ``2024-06-01 08:00:00 UTC+08:00``.

The CLI chooses the zone times are printed in once per command (``set_display_offset``: the
network's, or UTC with ``--utc``); ``format_ms`` uses it unless given an offset.
"""
from __future__ import annotations

import datetime as dt

from contract.clock import ZoneError, parse_utc_offset, zone_label

from hub.errors import HubError

DEFAULT_TZ_OFFSET_MIN = 480

_display_offset_min: int | None = None


class TimeFormatError(HubError, ValueError):
    """A time (or a zone) a user typed that cannot be read."""


def parse_offset(text) -> int:
    """``+08:00``, ``UTC+8``, ``+0530``, ``-03:00``, ``UTC`` -> minutes east of UTC."""
    try:
        return parse_utc_offset(text)
    except ZoneError as e:
        raise TimeFormatError(str(e)) from None


def network_offset() -> int:
    """The bound store's network zone (minutes east of UTC)."""
    from hub.store.meta import get_meta
    return int(get_meta("tz_offset_min", str(DEFAULT_TZ_OFFSET_MIN)))


def set_display_offset(tz_offset_min: int | None) -> None:
    """The zone ``format_ms`` prints in when not told (None: the default, UTC+08:00)."""
    global _display_offset_min
    _display_offset_min = tz_offset_min


def display_offset() -> int:
    return DEFAULT_TZ_OFFSET_MIN if _display_offset_min is None else _display_offset_min


def parse_time(text: str, tz_offset_min: int | None = None) -> int:
    """``YYYY-MM-DD``, ``YYYY-MM-DDTHH:MM[:SS]`` (local network time) or epoch ms -> UTC ms."""
    text = text.strip()
    if text.isascii() and text.isdigit():      # not "²", which isdigit() but int() refuses
        return int(text)
    tz = dt.timezone(dt.timedelta(minutes=display_offset() if tz_offset_min is None else tz_offset_min))
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
        try:
            return int(dt.datetime.strptime(text, fmt).replace(tzinfo=tz).timestamp() * 1000)
        except ValueError:
            continue
    raise TimeFormatError(f"bad time {text!r}: use YYYY-MM-DD, YYYY-MM-DDTHH:MM or epoch milliseconds")


def format_ms(ms: int | None, tz_offset_min: int | None = None) -> str:
    """``YYYY-MM-DD HH:MM:SS UTC+08:00`` of ``ms`` in the given (or the display) zone; "" for None."""
    if ms is None:
        return ""
    off = display_offset() if tz_offset_min is None else tz_offset_min
    tz = dt.timezone(dt.timedelta(minutes=off))
    return dt.datetime.fromtimestamp(ms / 1000, tz).strftime("%Y-%m-%d %H:%M:%S") + " " + zone_label(off)
