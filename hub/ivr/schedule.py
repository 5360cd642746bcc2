"""Work hours per weekday, breaks, holidays and make-up working days: when a flow is open.

A schedule (a mapping in the flow's ``schedules:``)::

    office:
      mon-fri: ["08:30-18:00"]           # ranges per weekday: mon tue wed thu fri sat sun,
      sat: ["09:00-12:00"]               # or spans of them (mon-fri); a day not named is closed
      breaks: ["12:00-13:00"]            # closed every day inside these, even in work hours
      calendar: holidays-2026.yaml       # optional, a file next to the flow

A calendar file::

    holidays:
      - {date: 2026-01-01, name: New Year}
      - {from: 2026-10-01, to: 2026-10-07, name: National Day}
    workdays:                             # make-up working days: worked with another day's hours
      - {date: 2026-10-10, as: mon}

``Schedule.state(ms, tz_offset_min)`` is ``open``, ``break``, ``closed`` or ``holiday`` at that
instant, in the flow's zone.  Pure: no clock of its own.
"""
from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field

import yaml

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])$")


def parse_range(text) -> tuple[int, int] | None:
    """``"08:30-12:00"`` -> minutes of the day ``(510, 720)``; None when malformed or empty."""
    m = _RANGE.match(str(text).strip())
    if not m:
        return None
    a, b = int(m.group(1)) * 60 + int(m.group(2)), int(m.group(3)) * 60 + int(m.group(4))
    if b > 24 * 60 or a >= b:
        return None
    return a, b


def parse_days(key: str) -> list[str] | None:
    """``mon``, ``mon-fri`` (or ``fri-mon``, wrapping) -> the weekdays; None when unknown."""
    parts = str(key).strip().lower().split("-")
    if len(parts) == 1 and parts[0] in DAYS:
        return [parts[0]]
    if len(parts) == 2 and all(p in DAYS for p in parts):
        i, j = DAYS.index(parts[0]), DAYS.index(parts[1])
        return [DAYS[(i + k) % 7] for k in range((j - i) % 7 + 1)]
    return None


@dataclass
class Calendar:
    holidays: dict[dt.date, str] = field(default_factory=dict)      # date -> name
    workdays: dict[dt.date, str] = field(default_factory=dict)      # date -> weekday it is worked as


def _date(v) -> dt.date | None:
    if isinstance(v, dt.date):
        return v
    try:
        return dt.date.fromisoformat(str(v).strip())
    except ValueError:
        return None


def check_calendar(raw, where: str, problems: list[str]) -> Calendar:
    """A parsed calendar file; every problem appended to ``problems`` with ``where``."""
    cal = Calendar()
    if raw is None:
        return cal
    if not isinstance(raw, dict):
        problems.append(f"{where}: a calendar is a mapping with holidays and workdays lists")
        return cal
    for key in sorted(set(raw) - {"holidays", "workdays"}):
        problems.append(f"{where}: unknown section {key!r} (known: holidays, workdays)")
    for i, h in enumerate(raw.get("holidays") or []):
        place = f"{where}: holidays[{i}]"
        if not isinstance(h, dict):
            problems.append(f"{place}: must be a mapping with date (or from and to) and name")
            continue
        name = str(h.get("name") or "holiday")
        if "date" in h:
            d = _date(h["date"])
            if d is None:
                problems.append(f"{place}: date {h['date']!r} is not a date like 2026-10-01")
                continue
            cal.holidays[d] = name
        else:
            a, b = _date(h.get("from")), _date(h.get("to"))
            if a is None or b is None or a > b:
                problems.append(f"{place}: needs date, or from and to (dates, from <= to)")
                continue
            if (b - a).days > 366:
                problems.append(f"{place}: a holiday longer than a year")
                continue
            for k in range((b - a).days + 1):
                cal.holidays[a + dt.timedelta(days=k)] = name
    for i, w in enumerate(raw.get("workdays") or []):
        place = f"{where}: workdays[{i}]"
        d = _date(w.get("date")) if isinstance(w, dict) else None
        as_ = str(w.get("as", "")).strip().lower() if isinstance(w, dict) else ""
        if d is None or as_ not in DAYS:
            problems.append(f"{place}: needs date and as (the weekday whose hours it works: mon … sun)")
            continue
        if d in cal.holidays:
            problems.append(f"{place}: {d} is also a holiday")
        cal.workdays[d] = as_
    return cal


def load_calendar(path: str, problems: list[str]) -> Calendar:
    if not os.path.exists(path):
        problems.append(f"{path}: calendar file not found")
        return Calendar()
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f)
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        problems.append(f"{path}: not a readable YAML calendar: {str(e).splitlines()[0]}")
        return Calendar()
    return check_calendar(raw, path, problems)


@dataclass
class Schedule:
    name: str
    hours: dict[str, list[tuple[int, int]]]          # weekday -> ranges (minutes of the day)
    breaks: list[tuple[int, int]]
    calendar: Calendar

    def state(self, ms: int, tz_offset_min: int) -> str:
        """``open``, ``break``, ``closed`` or ``holiday`` at UTC epoch ``ms`` in the zone."""
        local = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms, minutes=tz_offset_min)
        day = local.date()
        if day in self.calendar.holidays:
            return "holiday"
        weekday = self.calendar.workdays.get(day, DAYS[local.weekday()])
        minute = local.hour * 60 + local.minute
        if not any(a <= minute < b for a, b in self.hours.get(weekday, [])):
            return "closed"
        if any(a <= minute < b for a, b in self.breaks):
            return "break"
        return "open"


def check_schedule(name: str, raw, where: str, base_dir: str, problems: list[str]) -> Schedule:
    hours: dict[str, list[tuple[int, int]]] = {}
    breaks: list[tuple[int, int]] = []
    cal = Calendar()
    if not isinstance(raw, dict):
        problems.append(f"{where}: schedule {name}: must be a mapping of weekdays to hour ranges")
        return Schedule(name, hours, breaks, cal)
    for key, ranges in raw.items():
        key = str(key)
        if key == "calendar":
            cal = load_calendar(os.path.join(base_dir, str(ranges)), problems)
            continue
        if not isinstance(ranges, list):
            problems.append(f"{where}: schedule {name}: {key} must be a list of ranges like \"08:30-12:00\"")
            continue
        parsed = []
        for r in ranges:
            p = parse_range(r)
            if p is None:
                problems.append(f"{where}: schedule {name}: {key}: {r!r} is not a range like \"08:30-12:00\"")
            else:
                parsed.append(p)
        if key == "breaks":
            breaks = parsed
            continue
        days = parse_days(key)
        if days is None:
            problems.append(f"{where}: schedule {name}: {key!r} is not a weekday or span "
                            f"({', '.join(DAYS)}, e.g. mon-fri), breaks or calendar")
            continue
        for d in days:
            if d in hours:
                problems.append(f"{where}: schedule {name}: {d} is given twice")
            hours[d] = sorted(parsed)
    return Schedule(name, hours, breaks, cal)
