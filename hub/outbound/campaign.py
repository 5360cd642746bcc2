"""The campaign file: what a campaign dials, how, when it may, and what its calls can end as.

A YAML document (docs/outbound.md has every key and a sample)::

    name: survey-after-delivery
    mode: predictive                 # preview | progressive | predictive | agentless
    timezone: Asia/Shanghai          # the contacts' zone unless their row names another
    window:                          # when numbers may be called, in each contact's local time
      mon-fri: ["09:00-20:00"]       # the IVR's schedule format (hub.ivr.schedule)
      sat: ["10:00-18:00"]
      calendar: holidays-2026.yaml   # holidays: no calls at all
    agents: [a1, a2, a3]
    max_attempts: 3                  # per number, over the campaign
    min_spacing_min: 60              # between two attempts to one number
    ring_timeout_s: 25
    wrapup_s: 10
    pacing: {abandon_cap: 0.03, window_h: 24, connect_within_s: 2, max_ratio: 3.0}
    abandon_message: prompts/abandon-notice.wav    # played on every abandoned call
    recycle: {no-answer: 60, busy: 10, machine: 240, abandoned: 30}   # minutes until tried again
    dispositions:
      - {code: done, final: true}
      - {code: callback, callback: true}
      - {code: refused, final: true, dnc: true}
    default_disposition: done        # a live call the agent hung up without giving a code
    amd: {enabled: true, on_machine: hangup}       # or leave-message
    survey:
      low_score: 2
      questions:
        - {id: satisfied, kind: score, prompt: "press 1 to 5"}
        - {id: again, kind: yesno, prompt: "press 1 for yes, 2 for no"}
    flow: notice-flow.yaml           # agentless: the IVR flow that talks to the answered call
    list: {source: csv, path: list.csv}

``load_campaign`` reads and checks it and raises :class:`CampaignError` listing every problem
with its place.
"""
from __future__ import annotations

import os
import zoneinfo
from dataclasses import dataclass, field

import yaml

from hub.ivr.schedule import Schedule, check_schedule
from hub.outbound.errors import CampaignError

MODES = ("preview", "progressive", "predictive", "agentless")
#: call outcomes the dialer itself gives (before or instead of an agent's disposition)
SYSTEM_OUTCOMES = ("no-answer", "busy", "failed", "machine", "abandoned", "dropped", "completed")
DEFAULT_RECYCLE_MIN = {"no-answer": 60, "busy": 10, "failed": 120, "machine": 240, "abandoned": 30, "dropped": 30}
KEYS = {"name", "mode", "timezone", "window", "agents", "max_attempts", "min_spacing_min", "ring_timeout_s",
        "wrapup_s", "pacing", "abandon_message", "recycle", "dispositions", "amd", "survey", "flow", "list",
        "lines", "description", "order_rules", "caller_id", "default_disposition"}
PACING_KEYS = {"abandon_cap", "window_h", "connect_within_s", "max_ratio", "backoff_at", "min_samples"}
QUESTION_KINDS = ("score", "yesno")


@dataclass(frozen=True)
class Disposition:
    code: str
    final: bool = False           # the number is done with
    callback: bool = False        # the agent gives a time (and whether only they take it)
    dnc: bool = False             # the customer asked not to be called: on the internal DNC list
    recycle_min: int | None = None


@dataclass(frozen=True)
class Pacing:
    abandon_cap: float = 0.03     # the US (FCC/TCPA) and UK (Ofcom) limit
    window_h: float = 24.0        # the rolling window the rate is measured over
    connect_within_s: float = 2.0  # answered and not with an agent this long after the greeting: abandoned
    max_ratio: float = 3.0        # at most this many lines per free agent
    backoff_at: float = 0.5       # slow down once the rate reaches this share of the cap
    min_samples: int = 20         # answered calls before live rates replace the priors


@dataclass(frozen=True)
class Question:
    id: str
    kind: str                     # score (1-5) | yesno (1 yes, 2 no)
    prompt: str = ""


@dataclass
class Campaign:
    name: str
    mode: str = "progressive"
    timezone: str = "Asia/Shanghai"
    window: Schedule | None = None
    agents: list[str] = field(default_factory=list)
    max_attempts: int = 3
    min_spacing_min: float = 60
    ring_timeout_s: float = 25
    wrapup_s: float = 5
    lines: int = 10               # agentless: calls at once
    pacing: Pacing = field(default_factory=Pacing)
    abandon_message: str = ""
    recycle_min: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RECYCLE_MIN))
    dispositions: dict[str, Disposition] = field(default_factory=dict)
    default_disposition: str = ""  # a live call's code when the agent gave none ("": answered)
    amd: dict = field(default_factory=lambda: {"enabled": False, "on_machine": "hangup"})
    questions: list[Question] = field(default_factory=list)
    low_score: int = 2
    flow: str = ""
    list_spec: dict = field(default_factory=dict)
    order_rules: dict = field(default_factory=dict)
    caller_id: str = ""
    source: str = "campaign"

    def outcomes(self) -> list[str]:
        return list(SYSTEM_OUTCOMES) + list(self.dispositions)


def _num(raw, key, where, problems, lo, hi, default, integer=False):
    v = raw.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi or (integer and int(v) != v):
        problems.append(f"{where}: {key} must be {'a whole number' if integer else 'a number'} from {lo} to {hi}, "
                        f"not {v!r}")
        return default
    return int(v) if integer else float(v)


def check_campaign(raw, source: str = "campaign", base_dir: str = ".") -> Campaign:
    """A campaign from a parsed document; :class:`CampaignError` with every problem."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise CampaignError(source, ["a campaign file is a mapping (name, mode, window, …)"])
    for k in sorted(set(raw) - KEYS, key=str):
        problems.append(f"{source}: unknown key {k!r} (known: {', '.join(sorted(KEYS))})")
    name = str(raw.get("name") or "").strip()
    if not name or len(name) > 64 or any(c.isspace() for c in name):
        problems.append(f"{source}: name must be one word of at most 64 characters, not {raw.get('name')!r}")
    c = Campaign(name=name or "?", source=source)
    c.mode = str(raw.get("mode", "progressive"))
    if c.mode not in MODES:
        problems.append(f"{source}: mode {c.mode!r} is not one of {', '.join(MODES)}")
    c.timezone = str(raw.get("timezone", c.timezone))
    try:
        zoneinfo.ZoneInfo(c.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.append(f"{source}: timezone {c.timezone!r} is not a zone like Asia/Shanghai")
    if "window" not in raw:
        problems.append(f"{source}: window is required (when numbers may be called, e.g. mon-fri: [\"09:00-20:00\"])")
    else:
        c.window = check_schedule("window", raw["window"], source, base_dir, problems)
    agents = raw.get("agents", [])
    if not isinstance(agents, list) or not all(isinstance(a, (str, int)) for a in agents):
        problems.append(f"{source}: agents must be a list of agent ids")
    else:
        c.agents = [str(a) for a in agents]
        if len(set(c.agents)) != len(c.agents):
            problems.append(f"{source}: agents lists an agent twice")
    if c.mode in ("preview", "progressive", "predictive") and not c.agents and isinstance(agents, list):
        problems.append(f"{source}: mode {c.mode} needs agents")
    c.max_attempts = _num(raw, "max_attempts", source, problems, 1, 100, 3, integer=True)
    c.min_spacing_min = _num(raw, "min_spacing_min", source, problems, 0, 60 * 24 * 30, 60)
    c.ring_timeout_s = _num(raw, "ring_timeout_s", source, problems, 5, 120, 25)
    c.wrapup_s = _num(raw, "wrapup_s", source, problems, 0, 3600, 5)
    c.lines = _num(raw, "lines", source, problems, 1, 1000, 10, integer=True)
    p = raw.get("pacing", {}) or {}
    if not isinstance(p, dict):
        problems.append(f"{source}: pacing must be a mapping ({', '.join(sorted(PACING_KEYS))})")
        p = {}
    for k in sorted(set(p) - PACING_KEYS, key=str):
        problems.append(f"{source}: pacing: unknown key {k!r} (known: {', '.join(sorted(PACING_KEYS))})")
    where = f"{source}: pacing"
    c.pacing = Pacing(abandon_cap=_num(p, "abandon_cap", where, problems, 0.0, 0.5, 0.03),
                      window_h=_num(p, "window_h", where, problems, 0.1, 24 * 31, 24.0),
                      connect_within_s=_num(p, "connect_within_s", where, problems, 0.5, 10, 2.0),
                      max_ratio=_num(p, "max_ratio", where, problems, 1.0, 10, 3.0),
                      backoff_at=_num(p, "backoff_at", where, problems, 0.1, 1.0, 0.5),
                      min_samples=_num(p, "min_samples", where, problems, 1, 10000, 20, integer=True))
    c.abandon_message = str(raw.get("abandon_message", "") or "")
    if c.mode == "predictive" and not c.abandon_message:
        problems.append(f"{source}: predictive mode needs abandon_message (played on every abandoned call, "
                        "saying who called and how to call back)")
    rec = raw.get("recycle", {}) or {}
    if not isinstance(rec, dict):
        problems.append(f"{source}: recycle maps an outcome to minutes until it is tried again")
        rec = {}
    disp = raw.get("dispositions", []) or []
    if not isinstance(disp, list):
        problems.append(f"{source}: dispositions must be a list of {{code, final, callback, dnc}}")
        disp = []
    for i, d in enumerate(disp):
        place = f"{source}: dispositions[{i}]"
        if not isinstance(d, dict) or not str(d.get("code") or "").strip():
            problems.append(f"{place}: needs a code")
            continue
        unknown = set(d) - {"code", "final", "callback", "dnc", "recycle_min"}
        if unknown:
            problems.append(f"{place}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        code = str(d["code"]).strip()
        if code in SYSTEM_OUTCOMES or code in c.dispositions:
            problems.append(f"{place}: code {code!r} is already an outcome")
            continue
        rm = d.get("recycle_min")
        if rm is not None and (isinstance(rm, bool) or not isinstance(rm, (int, float)) or rm < 0):
            problems.append(f"{place}: recycle_min must be minutes (a number >= 0)")
            rm = None
        c.dispositions[code] = Disposition(code, bool(d.get("final", False)), bool(d.get("callback", False)),
                                           bool(d.get("dnc", False)), rm)
    dd = raw.get("default_disposition")
    if dd is not None:
        c.default_disposition = str(dd).strip()
        if c.default_disposition not in c.dispositions:
            problems.append(f"{source}: default_disposition {dd!r} is not one of the dispositions' codes "
                            f"({', '.join(c.dispositions) or 'none given'})")
    for k, v in rec.items():
        if k not in SYSTEM_OUTCOMES:
            problems.append(f"{source}: recycle: {k!r} is not a dialer outcome ({', '.join(SYSTEM_OUTCOMES)}); "
                            "an agent's disposition takes recycle_min")
        elif isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            problems.append(f"{source}: recycle: {k}: minutes must be a number >= 0, not {v!r}")
        else:
            c.recycle_min[k] = float(v)
    amd = raw.get("amd", {}) or {}
    from hub.outbound.amd import DEFAULTS as AMD_DEFAULTS
    if not isinstance(amd, dict) or set(amd) - {"enabled", "on_machine", *AMD_DEFAULTS}:
        problems.append(f"{source}: amd takes enabled, on_machine (hangup | leave-message), "
                        + ", ".join(AMD_DEFAULTS))
    else:
        c.amd = {"enabled": bool(amd.get("enabled", False)), "on_machine": amd.get("on_machine", "hangup"),
                 **{k: v for k, v in amd.items() if k not in ("enabled", "on_machine")}}
        if c.amd["on_machine"] not in ("hangup", "leave-message"):
            problems.append(f"{source}: amd: on_machine must be hangup or leave-message")
    sv = raw.get("survey")
    if sv is not None:
        if not isinstance(sv, dict) or not isinstance(sv.get("questions"), list) or not sv["questions"]:
            problems.append(f"{source}: survey needs questions: a list of {{id, kind: score | yesno, prompt}}")
        else:
            c.low_score = _num(sv, "low_score", f"{source}: survey", problems, 1, 5, 2, integer=True)
            for i, q in enumerate(sv["questions"]):
                place = f"{source}: survey: questions[{i}]"
                if not isinstance(q, dict) or not str(q.get("id") or "").strip():
                    problems.append(f"{place}: needs an id")
                    continue
                if q.get("kind") not in QUESTION_KINDS:
                    problems.append(f"{place}: kind must be score (1-5) or yesno, not {q.get('kind')!r}")
                    continue
                if any(x.id == str(q["id"]) for x in c.questions):
                    problems.append(f"{place}: id {q['id']!r} given twice")
                c.questions.append(Question(str(q["id"]), q["kind"], str(q.get("prompt", ""))))
    c.flow = str(raw.get("flow", "") or "")
    if c.mode == "agentless" and not c.flow and not c.questions:
        problems.append(f"{source}: agentless mode needs a flow (a notice) or a survey")
    ls = raw.get("list", {}) or {}
    if not isinstance(ls, dict):
        problems.append(f"{source}: list must be a mapping with a source (csv, …)")
    else:
        c.list_spec = dict(ls)
        if ls:
            from hub.outbound.lists import check_spec
            problems.extend(f"{source}: list: {p}" for p in check_spec(ls, base_dir))
    orules = raw.get("order_rules", {}) or {}
    if orules:
        from hub.outbound.ordering import check_rules
        problems.extend(f"{source}: order_rules: {p}" for p in check_rules(orules))
    c.order_rules = orules if isinstance(orules, dict) else {}
    c.caller_id = str(raw.get("caller_id", "") or "")
    if problems:
        raise CampaignError(source, problems)
    return c


def load_campaign(path: str) -> Campaign:
    if not os.path.exists(path):
        raise CampaignError(path, ["no such file"])
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f)
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise CampaignError(path, [f"not readable YAML: {str(e).splitlines()[0]}"]) from None
    return check_campaign(raw, path, os.path.dirname(os.path.abspath(path)))
