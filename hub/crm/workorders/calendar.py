"""Business calendars: working time from a schedule (hours per weekday, breaks, holidays and
make-up days: ``hub.ivr.schedule``, the same format and reader as the IVR's), and deadlines
counted in working time.

* ``add(start_ms, duration_ms)`` — the instant when ``duration_ms`` of working time has passed
  since ``start_ms``.  It lands inside working hours or at the very end of a working period (the
  close of the day's last range), never in a break, on a holiday or in closed hours; a deadline
  lands at midnight only on a calendar whose hours run to 24:00.
* ``end_of_days(start_ms, days)`` — the close of the ``days``-th working day after the day of the
  first working moment at or after ``start_ms``.
* ``working_ms(a, b)`` — working time between two instants.

Pure: no clock, no store.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hub.errors import HubError
from hub.ivr.schedule import DAYS, Schedule

DAY_MS = 86_400_000
MINUTE_MS = 60_000
HORIZON_DAYS = 800            # a deadline further away than this: the calendar has (nearly) no hours


class CalendarError(HubError, ValueError):
    """A calendar with no working time where a deadline needs some."""


def _subtract(ranges: list[tuple[int, int]], cuts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    for a, b in sorted(ranges):
        pieces = [(a, b)]
        for c, d in cuts:
            pieces = [p for x, y in pieces for p in ((x, min(y, c)), (max(x, d), y)) if p[0] < p[1]]
        out += pieces
    merged: list[tuple[int, int]] = []
    for a, b in sorted(out):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


@dataclass
class BusinessCalendar:
    schedule: Schedule
    tz_offset_min: int = 480

    def ranges(self, day: int) -> list[tuple[int, int]]:
        """Working ranges of local day ``day`` (days since 1970-01-01) in ms of the day."""
        date = dt.date(1970, 1, 1) + dt.timedelta(days=day)
        cal = self.schedule.calendar
        if date in cal.holidays:
            return []
        weekday = cal.workdays.get(date, DAYS[date.weekday()])
        mins = _subtract(self.schedule.hours.get(weekday, []), self.schedule.breaks)
        return [(a * MINUTE_MS, b * MINUTE_MS) for a, b in mins]

    def _periods(self, start_ms: int):
        """Working periods ``(a, b)`` in UTC ms that end after ``start_ms``, in order."""
        off = self.tz_offset_min * MINUTE_MS
        day0 = (start_ms + off) // DAY_MS
        for day in range(day0, day0 + HORIZON_DAYS):
            for a, b in self.ranges(day):
                a_utc, b_utc = day * DAY_MS + a - off, day * DAY_MS + b - off
                if b_utc > start_ms:
                    yield max(a_utc, start_ms), b_utc, day
        raise CalendarError(f"calendar {self.schedule.name} has no working time within {HORIZON_DAYS} days "
                            f"of {dt.datetime.fromtimestamp(start_ms / 1000, dt.timezone.utc):%Y-%m-%d}")

    def add(self, start_ms: int, duration_ms: int) -> int:
        left = max(0, int(duration_ms))
        for a, b, _ in self._periods(start_ms):
            if left <= b - a and (left > 0 or a < b):
                return a + left
            left -= b - a
        raise AssertionError("unreachable")      # _periods raises when it runs out

    def end_of_days(self, start_ms: int, days: int) -> int:
        seen: list[int] = []
        last = start_ms
        for _, b, day in self._periods(start_ms):
            if not seen or seen[-1] != day:
                if len(seen) == days + 1:
                    return last
                seen.append(day)
            last = b
        raise AssertionError("unreachable")

    def is_open(self, ms: int) -> bool:
        return self.schedule.state(ms, self.tz_offset_min) == "open"

    def working_ms(self, a_ms: int, b_ms: int) -> int:
        if b_ms <= a_ms:
            return 0
        total = 0
        for a, b, _ in self._periods(a_ms):
            if a >= b_ms:
                break
            total += min(b, b_ms) - a
        return total
