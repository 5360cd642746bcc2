"""When a message may go, pure: quiet hours in the network's zone and per-number rate limits.

:func:`next_allowed` is the earliest time at or after ``now_ms`` at which a message to a number
may be sent, given the times earlier messages to that number went out: never inside the quiet
hours (local time, ``start``–``end``, wrapping midnight when ``start`` > ``end``), never more
than ``per_hour`` in any rolling hour or ``per_day`` in any rolling 24 hours.  A message that
may not go now waits (it is never dropped for it).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

HOUR_MS, DAY_MS, MINUTE_MS = 3_600_000, 86_400_000, 60_000


@dataclass(frozen=True)
class Policy:
    quiet_start: str = "21:00"        # local time; equal start and end = no quiet hours
    quiet_end: str = "08:00"
    per_hour: int = 3                 # per number; 0 = no limit
    per_day: int = 10
    retries: int = 3                  # sends tried again after the first failure
    retry_s: int = 60                 # first retry after this, doubling
    arrival_notices: bool = True      # arrival at the destination site texts the receiver
    extra: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def minutes(hhmm: str) -> int:
    """``"21:30"`` → 1290; ``ValueError`` for anything else."""
    h, _, m = hhmm.partition(":")
    if not (h.isdigit() and m.isdigit() and len(m) == 2 and 0 <= int(h) <= 23 and 0 <= int(m) <= 59):
        raise ValueError(f"not a time of day (HH:MM): {hhmm!r}")
    return int(h) * 60 + int(m)


def quiet_until(t_ms: int, policy: Policy, tz_offset_min: int) -> int:
    """``t_ms`` when it is outside the quiet hours, else the end of the quiet period it is in."""
    start, end = minutes(policy.quiet_start), minutes(policy.quiet_end)
    if start == end:
        return t_ms
    local = t_ms + tz_offset_min * MINUTE_MS
    day0 = local - local % DAY_MS
    m = (local - day0) // MINUTE_MS
    inside = start <= m < end if start < end else (m >= start or m < end)
    if not inside:
        return t_ms
    end_local = day0 + end * MINUTE_MS
    if end_local <= local:
        end_local += DAY_MS
    return end_local - tz_offset_min * MINUTE_MS


def rate_until(t_ms: int, sent_ms: list[int], limit: int, window_ms: int) -> int:
    """The earliest time ≥ ``t_ms`` with fewer than ``limit`` sends in the window before it."""
    if limit <= 0:
        return t_ms
    recent = sorted(s for s in sent_ms if t_ms - window_ms < s <= t_ms)
    if len(recent) < limit:
        return t_ms
    return recent[len(recent) - limit] + window_ms


def next_allowed(now_ms: int, sent_ms: list[int], policy: Policy, tz_offset_min: int) -> int:
    t = now_ms
    while True:
        nt = quiet_until(t, policy, tz_offset_min)
        nt = rate_until(nt, sent_ms, policy.per_hour, HOUR_MS)
        nt = rate_until(nt, sent_ms, policy.per_day, DAY_MS)
        if nt == t:
            return t
        t = nt
