"""May this number be dialled now?  The check the dialer makes on every number, at the instant it
would dial it, pure.

``refusal(contact, now_ms, campaign, dnc)`` is ``None`` when the call may go, else a
:class:`Refusal` with its reason and the earliest time worth asking again (``None``: never):

* ``dnc:<list>``: the number is on a do-not-call list (``dnc(number)`` names it: ``internal``,
  the campaign's own, ``sms-optout``, ``ivr-optout``);
* ``max-attempts``: the campaign's ``max_attempts`` calls were made to it;
* ``spacing``: the last attempt was less than ``min_spacing_min`` ago;
* ``holiday``, ``closed``, ``break``: the campaign's window (``hub.ivr.schedule``), read in the
  contact's own time zone (its row's ``tz``, else the campaign's), says no.

The order is that of the list above: a DNC number is refused as DNC whatever the hour.
"""
from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass

RECHECK_MS = 5 * 60_000          # a closed window is asked again after this


@dataclass(frozen=True)
class Refusal:
    reason: str
    retry_ms: int | None


@functools.lru_cache(maxsize=256)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def offset_min(tz: str, ms: int) -> int:
    """The UTC offset in minutes of zone ``tz`` at UTC epoch ``ms``."""
    when = dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc)
    off = when.astimezone(_zone(tz)).utcoffset()
    return int(off.total_seconds() // 60) if off is not None else 0


def window_state(campaign, tz: str, ms: int) -> str:
    """``open``, ``closed``, ``break`` or ``holiday`` for a contact in ``tz`` at ``ms``."""
    if campaign.window is None:
        return "open"
    return campaign.window.state(ms, offset_min(tz or campaign.timezone, ms))


def refusal(contact, now_ms: int, campaign, dnc: Callable[[str], str | None] | None = None) -> Refusal | None:
    listed = dnc(contact.number) if dnc is not None else None
    if listed:
        return Refusal(f"dnc:{listed}", None)
    if contact.attempts >= campaign.max_attempts:
        return Refusal("max-attempts", None)
    if contact.last_ms is not None:
        ready = contact.last_ms + int(campaign.min_spacing_min * 60_000)
        if now_ms < ready:
            return Refusal("spacing", ready)
    state = window_state(campaign, contact.tz, now_ms)
    if state != "open":
        return Refusal(state, now_ms + RECHECK_MS)
    return None
