"""Work-order flows as data: a YAML file of steps, deadlines, calendars, notices and the
responsibility rules, checked with every problem and its place (``file:line: what``), like the
IVR's flows (``hub.ivr.flow``).  The format, with an example, is in docs/crm.md ("Work orders");
the sample is ``hub/crm/workorders/flows/standard.yaml``.

``load_flow(path)`` reads and checks a file; ``check_flow(raw, …)`` checks one already parsed;
``default_flow()`` is the sample.  Both raise ``WorkOrderFlowError`` listing every problem.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from contract.clock import ZoneError, parse_utc_offset
from hub.crm.workorders.calendar import MINUTE_MS, BusinessCalendar
from hub.errors import HubError
from hub.ivr.flow import LineDict, read_marked
from hub.ivr.schedule import check_schedule

STEPS = ("accept", "assign", "handle", "reply", "verify", "close")
STEP_NAMES = {"accept": "受理", "assign": "派单", "handle": "处理", "reply": "回复", "verify": "回访",
              "close": "结案"}
KINDS = ("complaint", "inquiry", "suggestion", "praise", "exception", "pickup")
SUBKINDS = {"exception": ("lost", "damaged", "delayed", "wrong_delivery"), "pickup": ("missed", "late", "other")}
TARGETS = ("holder", "route", "origin", "destination")      # besides site:CODE and department:NAME
STEP_FIELDS = ("deadline", "calendar", "remind_before", "escalate_to")
RULE_FIELDS = ("kinds", "subkinds", "sources", "to")
SAMPLE = os.path.join(os.path.dirname(__file__), "flows", "standard.yaml")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")


class WorkOrderFlowError(HubError, ValueError):
    def __init__(self, source: str, problems: list[str]):
        self.source, self.problems = source, problems
        super().__init__(f"{source}: {len(problems)} problem(s):\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class Duration:
    """Working time (``ms``) or whole working days (``days``: to the close of the day)."""
    ms: int = 0
    days: int = 0

    def after(self, cal: BusinessCalendar, start_ms: int) -> int:
        return cal.end_of_days(start_ms, self.days - 1) if self.days else cal.add(start_ms, self.ms)


def parse_duration(text) -> Duration | None:
    """``90m``, ``4h``, ``1h30m`` (working time) or ``2d`` (working days); None when malformed."""
    m = _DURATION.match(str(text).strip().lower())
    if not m or not any(m.groups()):
        return None
    d, h, mi = (int(g) if g else 0 for g in m.groups())
    if d and (h or mi):
        return None
    if d:
        return Duration(days=d) if d <= 365 else None
    ms = (h * 60 + mi) * MINUTE_MS
    return Duration(ms=ms) if 0 < ms <= 365 * 24 * 60 * MINUTE_MS else None


def target_ok(t: str) -> bool:
    kind, sep, name = str(t).partition(":")
    return t in TARGETS or (sep and kind in ("site", "department") and 0 < len(name) <= 40)


@dataclass
class Step:
    name: str
    deadline: Duration | None
    calendar: str
    remind_before: int | None              # ms before the deadline
    escalate_to: str                       # department:NAME / site:CODE, "" for none


@dataclass
class Rule:
    kinds: tuple[str, ...]
    subkinds: tuple[str, ...]
    sources: tuple[str, ...]
    to: tuple[str, ...]                    # tried in order: the first that names somebody wins
    line: int = 0

    def matches(self, kind: str, subkind: str, source: str) -> bool:
        return ((not self.kinds or kind in self.kinds) and (not self.subkinds or subkind in self.subkinds)
                and (not self.sources or source.split(":")[0] in self.sources))


@dataclass
class Flow:
    name: str
    steps: dict[str, Step]                 # in order, accept first, close last
    calendars: dict[str, BusinessCalendar]
    rules: list[Rule]
    notify: tuple[str, ...]
    first_response: Duration | None = None
    resolution: Duration | None = None
    sla_calendar: str = ""
    tz_offset_min: int = 480
    source: str = "flow"
    lines: dict[str, int] = field(default_factory=dict)

    def next_step(self, step: str) -> str | None:
        names = list(self.steps)
        i = names.index(step)
        return names[i + 1] if i + 1 < len(names) else None

    def deadline(self, step: str, start_ms: int) -> int | None:
        s = self.steps[step]
        return s.deadline.after(self.calendars[s.calendar], start_ms) if s.deadline else None

    def sla_deadline(self, which: str, start_ms: int) -> int | None:
        d = self.first_response if which == "first_response" else self.resolution
        return d.after(self.calendars[self.sla_calendar], start_ms) if d else None


def load_flow(path: str, tz_offset_min: int = 480) -> Flow:
    raw, problem = read_marked(path)
    if problem:
        raise WorkOrderFlowError(path, [problem])
    return check_flow(raw, path, os.path.dirname(os.path.abspath(path)), tz_offset_min)


def default_flow(tz_offset_min: int = 480) -> Flow:
    return load_flow(SAMPLE, tz_offset_min)


def _list(v) -> list:
    return v if isinstance(v, list) else [v]


def check_flow(raw, source: str = "flow", base_dir: str = ".", tz_offset_min: int = 480) -> Flow:
    """Check a parsed flow; ``tz_offset_min`` is the zone when the flow names none (the network's)."""
    problems: list[str] = []

    def at(d, key=None) -> str:
        n = d.line_of(key) if isinstance(d, LineDict) else 0
        return f"{source}:{n}" if n else source

    if not isinstance(raw, dict):
        raise WorkOrderFlowError(source, ["a flow is a mapping with name, calendars, steps and rules"])
    known = {"name", "timezone", "calendars", "steps", "rules", "notify", "sla"}
    for k in sorted(set(map(str, raw)) - known):
        problems.append(f"{at(raw, k)}: unknown section {k!r} (known: {', '.join(sorted(known))})")
    name = str(raw.get("name") or "flow")
    tz = tz_offset_min
    if raw.get("timezone") is not None:
        try:
            tz = parse_utc_offset(str(raw["timezone"]))
        except (ZoneError, ValueError) as e:
            problems.append(f"{at(raw, 'timezone')}: {e}")
    calendars: dict[str, BusinessCalendar] = {}
    cals = raw.get("calendars")
    if not isinstance(cals, dict) or not cals:
        problems.append(f"{at(raw, 'calendars')}: calendars: a mapping of names to work hours is required")
        cals = {}
    for cname, craw in cals.items():
        sched = check_schedule(str(cname), craw, at(cals, cname), base_dir, problems)
        if not any(sched.hours.values()):
            problems.append(f"{at(cals, cname)}: calendar {cname}: no working hours on any day")
        calendars[str(cname)] = BusinessCalendar(sched, tz)

    steps: dict[str, Step] = {}
    sraw = raw.get("steps")
    if not isinstance(sraw, dict) or not sraw:
        problems.append(f"{at(raw, 'steps')}: steps: a mapping of the steps ({' → '.join(STEPS)}) is required")
        sraw = {}
    order = [str(s) for s in sraw]
    for s in order:
        if s not in STEPS:
            problems.append(f"{at(sraw, s)}: unknown step {s!r} (steps: {', '.join(STEPS)})")
    valid = [s for s in order if s in STEPS]
    if valid and (valid[0] != "accept" or valid[-1] != "close"):
        problems.append(f"{at(raw, 'steps')}: the steps begin with accept and end with close")
    if valid != sorted(valid, key=STEPS.index):
        problems.append(f"{at(raw, 'steps')}: steps out of order (the order is {' → '.join(STEPS)})")
    for s in valid:
        body = sraw[s] if sraw[s] is not None else {}
        where = at(sraw, s)
        if not isinstance(body, dict):
            problems.append(f"{where}: step {s}: a mapping of {', '.join(STEP_FIELDS)}")
            continue
        for k in sorted(set(map(str, body)) - set(STEP_FIELDS)):
            problems.append(f"{at(body, k)}: step {s}: unknown field {k!r} (fields: {', '.join(STEP_FIELDS)})")
        deadline = None
        if body.get("deadline") is not None:
            deadline = parse_duration(body["deadline"])
            if deadline is None:
                problems.append(f"{at(body, 'deadline')}: step {s}: deadline {body['deadline']!r} is not like 4h, 90m, 1h30m or 2d")
        if s == "close" and body.get("deadline") is not None:
            problems.append(f"{at(body, 'deadline')}: step close ends the order: it has no deadline")
        cal = str(body.get("calendar") or (next(iter(calendars)) if calendars else ""))
        if (deadline or body.get("calendar")) and cal not in calendars:
            problems.append(f"{at(body, 'calendar')}: step {s}: no calendar {cal!r} (calendars: {', '.join(calendars)})")
        remind = None
        if body.get("remind_before") is not None:
            r = parse_duration(body["remind_before"])
            if r is None or r.days:
                problems.append(f"{at(body, 'remind_before')}: step {s}: remind_before is like 30m or 2h")
            elif deadline is None:
                problems.append(f"{at(body, 'remind_before')}: step {s}: remind_before without a deadline")
            else:
                remind = r.ms
        esc = str(body.get("escalate_to") or "")
        if esc and not (esc.startswith(("site:", "department:")) and target_ok(esc)):
            problems.append(f"{at(body, 'escalate_to')}: step {s}: escalate_to is site:CODE or department:NAME, not {esc!r}")
        if esc and deadline is None:
            problems.append(f"{at(body, 'escalate_to')}: step {s}: escalate_to without a deadline")
        steps[s] = Step(s, deadline, cal, remind, esc)

    rules: list[Rule] = []
    rraw = raw.get("rules")
    if not isinstance(rraw, list) or not rraw:
        problems.append(f"{at(raw, 'rules')}: rules: a list of who gets which kind is required")
        rraw = []
    for i, r in enumerate(rraw):
        where = f"{at(r) if isinstance(r, LineDict) else at(raw, 'rules')}: rules[{i}]"
        if not isinstance(r, dict):
            problems.append(f"{where}: a mapping of {', '.join(RULE_FIELDS)}")
            continue
        for k in sorted(set(map(str, r)) - set(RULE_FIELDS)):
            problems.append(f"{where}: unknown field {k!r} (fields: {', '.join(RULE_FIELDS)})")
        kinds = tuple(str(k) for k in _list(r.get("kinds") or []))
        for k in kinds:
            if k not in KINDS:
                problems.append(f"{where}: unknown kind {k!r} (kinds: {', '.join(KINDS)})")
        subs = tuple(str(k) for k in _list(r.get("subkinds") or []))
        allowed = {x for v in SUBKINDS.values() for x in v}
        for k in subs:
            if k not in allowed:
                problems.append(f"{where}: unknown subkind {k!r} (subkinds: {', '.join(sorted(allowed))})")
        to = tuple(str(t) for t in _list(r.get("to") or []))
        if not to:
            problems.append(f"{where}: to: who gets it (holder, route, origin, destination, site:CODE, department:NAME)")
        for t in to:
            if not target_ok(t):
                problems.append(f"{where}: {t!r} is not holder, route, origin, destination, site:CODE or department:NAME")
        rules.append(Rule(kinds, subs, tuple(str(x) for x in _list(r.get("sources") or [])), to,
                          r.line if isinstance(r, LineDict) else 0))
    if rules and not any(not r.kinds and not r.subkinds and not r.sources and
                         any(t.startswith(("site:", "department:")) for t in r.to) for r in rules):
        problems.append(f"{at(raw, 'rules')}: the last resort is missing: a rule without kinds that names a "
                        f"department or site, so every order finds somebody")

    notify = tuple(str(s) for s in _list(raw.get("notify") or []))
    for s in notify:
        if s not in steps:
            problems.append(f"{at(raw, 'notify')}: notify: {s!r} is not a step of this flow")
    sla = raw.get("sla") or {}
    fr = res = None
    sla_cal = next(iter(calendars), "")
    if not isinstance(sla, dict):
        problems.append(f"{at(raw, 'sla')}: sla: a mapping of first_response, resolution and calendar")
        sla = {}
    for k in sorted(set(map(str, sla)) - {"first_response", "resolution", "calendar"}):
        problems.append(f"{at(sla, k)}: sla: unknown field {k!r}")
    for k in ("first_response", "resolution"):
        if sla.get(k) is not None:
            d = parse_duration(sla[k])
            if d is None:
                problems.append(f"{at(sla, k)}: sla: {k} {sla[k]!r} is not like 4h, 90m or 2d")
            fr, res = (d, res) if k == "first_response" else (fr, d)
    if sla.get("calendar") is not None:
        sla_cal = str(sla["calendar"])
        if sla_cal not in calendars:
            problems.append(f"{at(sla, 'calendar')}: sla: no calendar {sla_cal!r}")
    if problems:
        raise WorkOrderFlowError(source, problems)
    return Flow(name, steps, calendars, rules, notify, fr, res, sla_cal, tz, source)
